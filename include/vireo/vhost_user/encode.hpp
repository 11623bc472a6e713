// SPDX-License-Identifier: Apache-2.0
// Encoding vhost-user requests into a caller's buffer (front-end requests on the main socket,
// back-end requests on the back-end channel). Every encoder runs the receiver's syntax checks
// (message.hpp) on what it wrote, so a request that encodes also decodes (rules F4, F7, F9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

namespace detail {

/// Write a header for `payload_size` bytes already placed at out[12..], then check the whole
/// message as its receiver will. Returns the byte count 12 + payload_size.
[[nodiscard]] inline result<std::size_t> finish(channel ch, bool reply, std::uint32_t code,
                                                std::uint32_t flags, std::size_t payload_size,
                                                std::size_t fd_count, bytes out,
                                                const codec_options& o) noexcept {
  if (payload_size > o.max_payload) return errc::vhost_payload_too_large;
  const header h = make_header(code, flags, static_cast<std::uint32_t>(payload_size));
  VIREO_TRY(store_header(h, out));
  const const_bytes p = out.subspan(header_size, payload_size);
  const auto c = check_message(h, p, fd_count, ch, reply, code, o);
  if (!c) return c.error();
  // An fd the receiver would not consume (REM_MEM_REG's tolerated fd) is not ours to send.
  if (c->fds != fd_count) return errc::vhost_unexpected_fd;
  return header_size + payload_size;
}

/// Room for the header and `payload_size` bytes in `out`. Errors: no_space.
[[nodiscard]] constexpr result<void> room(bytes out, std::size_t payload_size) noexcept {
  if (out.size() < header_size || out.size() - header_size < payload_size) return errc::no_space;
  return ok();
}

[[nodiscard]] constexpr std::uint32_t request_flags(bool need_reply) noexcept {
  return flag::version | (need_reply ? flag::need_reply : 0);
}

}  // namespace detail

/// Encode a request with any payload: header (version 1, NEED_REPLY if asked) + `payload`, into
/// `out`, to be sent with `fd_count` fds. Returns the bytes written (12 + payload size).
/// Errors: no_space; vhost_payload_too_large; every error decode() would report for the same
/// bytes and fd count (so a wrong payload size or fd count is refused before it is sent).
[[nodiscard]] inline result<std::size_t> encode_request(channel ch, std::uint32_t code,
                                                        const_bytes payload, std::size_t fd_count,
                                                        bytes out, bool need_reply = false,
                                                        const codec_options& o = {}) noexcept {
  VIREO_TRY(detail::room(out, payload.size()));
  if (!payload.empty()) std::memcpy(out.data() + header_size, payload.data(), payload.size());
  return detail::finish(ch, false, code, detail::request_flags(need_reply), payload.size(),
                        fd_count, out, o);
}

/// Encode a decoded message again (to forward or log it): the same header and payload bytes,
/// checked as when it was decoded (`o` should be the options it was decoded with), for
/// `m.fd_count` fds. Errors: no_space; as decode() / decode_reply().
[[nodiscard]] inline result<std::size_t> encode_message(const message& m, bytes out,
                                                        const codec_options& o = {}) noexcept {
  VIREO_TRY(detail::room(out, m.payload.size()));
  if (!m.payload.empty()) std::memcpy(out.data() + header_size, m.payload.data(), m.payload.size());
  return detail::finish(m.ch, m.is_reply, m.request(), m.hdr.flags.get(), m.payload.size(),
                        m.fd_count, out, o);
}

/// A front-end request without payload (GET_FEATURES, SET_OWNER, SET_LOG_FD + 1 fd, ...).
[[nodiscard]] inline result<std::size_t> encode(frontend_request r, std::size_t fd_count,
                                                bytes out, bool need_reply = false,
                                                const codec_options& o = {}) noexcept {
  return encode_request(channel::main, static_cast<std::uint32_t>(r), {}, fd_count, out,
                        need_reply, o);
}

/// A front-end request with a fixed-layout payload (u64_payload, vring_state, vring_addr, ...).
template <wire_type T>
[[nodiscard]] inline result<std::size_t> encode(frontend_request r, const T& payload,
                                                std::size_t fd_count, bytes out,
                                                bool need_reply = false,
                                                const codec_options& o = {}) noexcept {
  return encode_request(channel::main, static_cast<std::uint32_t>(r), as_bytes_of(payload),
                        fd_count, out, need_reply, o);
}

/// A back-end request without payload (BACKEND_CONFIG_CHANGE_MSG).
[[nodiscard]] inline result<std::size_t> encode(backend_request r, std::size_t fd_count,
                                                bytes out, bool need_reply = false,
                                                const codec_options& o = {}) noexcept {
  return encode_request(channel::backend, static_cast<std::uint32_t>(r), {}, fd_count, out,
                        need_reply, o);
}

/// A back-end request with a fixed-layout payload (iotlb_msg, vring_area, shared_object, ...).
template <wire_type T>
[[nodiscard]] inline result<std::size_t> encode(backend_request r, const T& payload,
                                                std::size_t fd_count, bytes out,
                                                bool need_reply = false,
                                                const codec_options& o = {}) noexcept {
  return encode_request(channel::backend, static_cast<std::uint32_t>(r), as_bytes_of(payload),
                        fd_count, out, need_reply, o);
}

/// SET_VRING_KICK / CALL / ERR for ring `index`, sent with one fd, or with the no-fd bit and none
/// (rule F7: the bit is set iff no fd is attached). Errors: as encode_request; invalid_argument
/// for another request.
[[nodiscard]] inline result<std::size_t> encode_vring_fd(frontend_request r, std::uint8_t index,
                                                         bool with_fd, bytes out,
                                                         bool need_reply = false,
                                                         const codec_options& o = {}) noexcept {
  if (info(r).payload != payload_type::vring_fd) return errc::invalid_argument;
  u64_payload p{};
  p.value.set(std::uint64_t{index} | (with_fd ? 0 : vring_fd_bits::no_fd));
  return encode(r, p, with_fd ? 1 : 0, out, need_reply, o);
}

namespace detail {
template <typename Region>
[[nodiscard]] inline result<std::size_t> encode_mem_table(std::span<const Region> regions,
                                                          bytes out, bool need_reply,
                                                          const codec_options& o) noexcept {
  // 1..8 regions (rule F9); the count check comes first so the size below cannot overflow.
  if (regions.empty() || regions.size() > max_memory_regions) return errc::vhost_region_count;
  const std::size_t size = sizeof(memory_table_header) + regions.size() * sizeof(Region);
  VIREO_TRY(room(out, size));
  memory_table_header h{};
  h.nregions.set(static_cast<std::uint32_t>(regions.size()));
  std::memcpy(out.data() + header_size, &h, sizeof(h));
  std::memcpy(out.data() + header_size + sizeof(h), regions.data(), regions.size_bytes());
  return finish(channel::main, false, static_cast<std::uint32_t>(frontend_request::set_mem_table),
                request_flags(need_reply), size, regions.size(), out, o);
}
}  // namespace detail

/// SET_MEM_TABLE with `regions` (one fd each, in order). With XEN_MMAP negotiated use the
/// memory_region_xen overload; the other layout fails with vhost_payload_size.
/// Errors: vhost_region_count (0 or more than 8), as encode_request otherwise.
[[nodiscard]] inline result<std::size_t> encode_set_mem_table(std::span<const memory_region> regions,
                                                              bytes out, bool need_reply = false,
                                                              const codec_options& o = {}) noexcept {
  return detail::encode_mem_table(regions, out, need_reply, o);
}
[[nodiscard]] inline result<std::size_t> encode_set_mem_table(
    std::span<const memory_region_xen> regions, bytes out, bool need_reply = false,
    const codec_options& o = {}) noexcept {
  return detail::encode_mem_table(regions, out, need_reply, o);
}

/// GET_CONFIG or SET_CONFIG for `data.size()` bytes at `offset` (GET_CONFIG: `data` is what QEMU
/// sends, normally zeros). Errors: invalid_argument for another request; vhost_zero_size,
/// vhost_config_range (beyond 256 bytes), as encode_request otherwise.
[[nodiscard]] inline result<std::size_t> encode_config_request(
    frontend_request r, std::uint32_t offset, config_flags flags, const_bytes data, bytes out,
    bool need_reply = false, const codec_options& o = {}) noexcept {
  if (info(r).payload != payload_type::config) return errc::invalid_argument;
  if (data.size() > max_config_size) return errc::vhost_config_range;
  const std::size_t size = sizeof(config_header) + data.size();
  VIREO_TRY(detail::room(out, size));
  config_header c{};
  c.offset.set(offset);
  c.size.set(static_cast<std::uint32_t>(data.size()));
  c.flags.set(static_cast<std::uint32_t>(flags));
  std::memcpy(out.data() + header_size, &c, sizeof(c));
  if (!data.empty()) std::memcpy(out.data() + header_size + sizeof(c), data.data(), data.size());
  return detail::finish(channel::main, false, static_cast<std::uint32_t>(r),
                        detail::request_flags(need_reply), size, 0, out, o);
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
