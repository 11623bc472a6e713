// SPDX-License-Identifier: Apache-2.0
// Encoding replies (spec "REPLY_ACK"; digest §4): flags exactly 0x5 (version 1 | REPLY, never
// NEED_REPLY), the request code echoed, and only when a reply is due: inherent replies always,
// everything else only with NEED_REPLY, as a u64 status (rule B8). Each encoder runs the
// requester's reply checks (decode_reply) on what it wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

namespace detail {
/// After POSTCOPY_LISTEN, SET_MEM_TABLE and ADD_MEM_REG are answered with the back-end's mapping
/// bases (same layout as the request) whatever NEED_REPLY says (spec SET_MEM_TABLE, ADD_MEM_REG).
/// QEMU's u64 acknowledgement of that reply is itself a SET_MEM_TABLE and gets no reply.
[[nodiscard]] constexpr bool postcopy_reply(const message& request,
                                            const codec_options& o) noexcept {
  return o.postcopy_listening && request.ch == channel::main &&
         ((request.request() == static_cast<std::uint32_t>(frontend_request::set_mem_table) &&
           request.type == payload_type::memory_table) ||
          request.request() == static_cast<std::uint32_t>(frontend_request::add_mem_reg));
}
}  // namespace detail

/// Whether `request` gets a reply (rule B8): an inherent reply, or NEED_REPLY set.
[[nodiscard]] constexpr bool reply_expected(const message& request,
                                            const codec_options& o = {}) noexcept {
  return !request.is_reply &&
         (detail::postcopy_reply(request, o) ||
          reply_expected(request.ch, request.request(), request.need_reply(),
                         o.protocol_features));
}

/// The payload layout of the reply `request` gets: its inherent reply, or a u64 status for a
/// REPLY_ACK ack.
[[nodiscard]] constexpr payload_type reply_payload_type(const message& request,
                                                        const codec_options& o = {}) noexcept {
  if (detail::postcopy_reply(request, o)) return request.type;
  const request_info& ri = info(request.ch, request.request());
  const bool inherent =
      ri.reply == reply_rule::always ||
      (ri.reply == reply_rule::if_log_shmfd && has(o.protocol_features, protocol_feature::log_shmfd));
  return inherent ? ri.reply_payload : payload_type::u64;
}

/// Encode the reply to `request` with any payload and `fd_count` fds. Returns the bytes written.
/// Errors: vhost_reply_not_expected (no reply is due: rule B8); invalid_argument (`request` is
/// itself a reply); no_space; every error decode_reply() would report for the same bytes.
[[nodiscard]] inline result<std::size_t> encode_reply(const message& request, const_bytes payload,
                                                      std::size_t fd_count, bytes out,
                                                      const codec_options& o = {}) noexcept {
  if (request.is_reply) return errc::invalid_argument;
  if (!reply_expected(request, o)) return errc::vhost_reply_not_expected;
  VIREO_TRY(detail::room(out, payload.size()));
  if (!payload.empty()) std::memcpy(out.data() + header_size, payload.data(), payload.size());
  return detail::finish(request.ch, true, request.request(), flag::reply_flags, payload.size(),
                        fd_count, out, o);
}

/// Encode a fixed-layout reply (vring_state for GET_VRING_BASE, inflight for GET_INFLIGHT_FD, ...).
/// Errors: as encode_reply, plus invalid_argument when T is not the layout of this reply.
template <wire_type T>
[[nodiscard]] inline result<std::size_t> encode_reply(const message& request, const T& payload,
                                                      std::size_t fd_count, bytes out,
                                                      const codec_options& o = {}) noexcept {
  return encode_reply(request, as_bytes_of(payload), fd_count, out, o);
}

/// Encode a u64 reply: the value of an inherent u64 reply (GET_FEATURES, GET_QUEUE_NUM, ...) or
/// the REPLY_ACK status (0 = success, rule B9). `fd_count` is 1 only where the reply carries an
/// fd (SET_DEVICE_STATE_FD without the no-fd bit, BACKEND_SHARED_OBJECT_LOOKUP success).
/// Errors: as encode_reply; invalid_argument if this request's reply is not a u64.
[[nodiscard]] inline result<std::size_t> encode_u64_reply(const message& request,
                                                          std::uint64_t value, bytes out,
                                                          std::size_t fd_count = 0,
                                                          const codec_options& o = {}) noexcept {
  if (reply_expected(request, o) && reply_payload_type(request, o) != payload_type::u64)
    return errc::invalid_argument;
  u64_payload p{};
  p.value.set(value);
  return encode_reply(request, as_bytes_of(p), fd_count, out, o);
}

/// The REPLY_ACK answer to a request that has no reply of its own but came with NEED_REPLY:
/// u64 0 on success, 1 on failure (rule B9). Errors: vhost_reply_not_expected if NEED_REPLY is
/// clear; invalid_argument if the request has an inherent reply (answer that instead: the spec
/// allows one reply only).
[[nodiscard]] inline result<std::size_t> encode_ack(const message& request, bool success,
                                                    bytes out,
                                                    const codec_options& o = {}) noexcept {
  if (!reply_expected(request, o)) return errc::vhost_reply_not_expected;
  const reply_rule rule = info(request.ch, request.request()).reply;
  if (rule == reply_rule::always || detail::postcopy_reply(request, o) ||
      (rule == reply_rule::if_log_shmfd && has(o.protocol_features, protocol_feature::log_shmfd)))
    return errc::invalid_argument;
  return encode_u64_reply(request, success ? 0 : 1, out, 0, o);
}

/// The GET_CONFIG reply: `data` for the requested range, echoing its offset, size and flags
/// (spec: the reply size MUST match the request; rule B18). Errors: invalid_argument when
/// `request` is not a GET_CONFIG or `data.size()` differs from the requested size; as
/// encode_reply otherwise.
[[nodiscard]] inline result<std::size_t> encode_config_reply(const message& request,
                                                             const_bytes data, bytes out,
                                                             const codec_options& o = {}) noexcept {
  if (request.ch != channel::main || request.is_reply ||
      request.request() != static_cast<std::uint32_t>(frontend_request::get_config) ||
      request.type != payload_type::config)
    return errc::invalid_argument;
  const config_header asked = request.as<config_header>();
  if (data.size() != asked.size.get()) return errc::invalid_argument;
  const std::size_t size = sizeof(config_header) + data.size();
  VIREO_TRY(detail::room(out, size));
  std::memcpy(out.data() + header_size, &asked, sizeof(asked));
  if (!data.empty()) std::memcpy(out.data() + header_size + sizeof(asked), data.data(), data.size());
  return detail::finish(channel::main, true, request.request(), flag::reply_flags, size, 0, out, o);
}

/// The GET_CONFIG failure reply: an empty payload ("vhost-user back-end uses zero length of
/// payload to indicate an error"; QEMU 7.2 treats it as a protocol error and fails the device).
[[nodiscard]] inline result<std::size_t> encode_config_error_reply(
    const message& request, bytes out, const codec_options& o = {}) noexcept {
  if (request.request() != static_cast<std::uint32_t>(frontend_request::get_config) ||
      request.ch != channel::main)
    return errc::invalid_argument;
  return encode_reply(request, const_bytes{}, 0, out, o);
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
