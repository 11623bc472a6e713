// SPDX-License-Identifier: Apache-2.0
// The front-end's side of the main vhost-user socket: one request at a time, encoded and checked
// by the codec, with NEED_REPLY when REPLY_ACK is negotiated, and every reply read within a time
// limit and checked as untrusted input (digest §1, §4, §7.4; rules F3, F4, F5, F7, F12).
#pragma once

#include <poll.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/linux/vhost_user_channel.hpp"
#include "vireo/linux/vhost_user_frontend/sys.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// Largest request payload the front-end sends: a GET/SET_CONFIG of 256 bytes (12 + 256), above
/// an 8-region SET_MEM_TABLE (8 + 8 · 32).
inline constexpr std::size_t max_frontend_request_payload =
    sizeof(vhost_user::config_header) + vhost_user::max_config_size;

/// One front-end connection on the main socket. Requests go out one at a time; a request that
/// gets a reply is not followed by another before its reply has been read and checked, so a
/// reply always belongs to the request just sent (§4: QEMU reads the socket only when it expects
/// a reply, and so does this).
///
/// Every failure to send, to receive or to accept a reply closes the connection (rule F12: the
/// stream can no longer be trusted, and a late reply would be taken for the next one): a
/// refused reply (flags other than 0x5, another request code, a wrong size or layout, fds where
/// none belong: rule F5), the peer closing (host_disconnected), no reply within the time limit
/// (host_timeout). A REPLY_ACK failure status keeps the connection: the peer said no, framing
/// is intact (host_request_failed).
///
/// Not thread-safe; no heap. Sys models frontend_sys_api.
template <frontend_sys_api Sys>
class basic_request_channel {
 public:
  /// Not connected: every request fails with host_closed.
  basic_request_channel() noexcept : ch_(basic_unique_fd<Sys>{}) {}
  /// Take over a connected socket. `reply_timeout_ms` bounds each wait for a reply (> 0).
  basic_request_channel(basic_unique_fd<Sys> socket, int reply_timeout_ms) noexcept
      : sys_(socket.sys()), ch_(std::move(socket)), timeout_ms_(reply_timeout_ms) {
    VIREO_ASSERT(reply_timeout_ms > 0);
  }

  [[nodiscard]] bool connected() const noexcept { return ch_.fd() >= 0; }
  /// The socket (-1 once closed).
  [[nodiscard]] int fd() const noexcept { return ch_.fd(); }
  /// Close the connection (descriptors of a buffered reply too).
  void close() noexcept {
    ch_.close();
    last_ = typename channel_type::message{};
  }

  /// The options requests are encoded and replies decoded with: set protocol_features once
  /// SET_PROTOCOL_FEATURES went out, and num_queues to what the back-end has.
  [[nodiscard]] vhost_user::codec_options& codec() noexcept { return opts_; }
  [[nodiscard]] const vhost_user::codec_options& codec() const noexcept { return opts_; }
  [[nodiscard]] bool reply_ack() const noexcept {
    return vhost_user::has(opts_.protocol_features, vhost_user::protocol_feature::reply_ack);
  }

  /// Send request `r` (one without a reply of its own) with `payload` and `fds`. With REPLY_ACK
  /// negotiated it carries NEED_REPLY and its acknowledgement is awaited and checked; without,
  /// nothing comes back (rule F4). Errors, nothing sent, still connected: vhost_not_negotiated
  /// (the request's protocol feature was not negotiated: rule F3), invalid_argument (`r` has a
  /// reply of its own: use call()), every error the codec's encoder reports (the request would not
  /// decode: rules F4, F7, F9). Errors that close the connection: host_closed, what the transport
  /// reports, the reply checks above. Kept connection: host_request_failed (a non-zero ack).
  [[nodiscard]] result<void> send(vhost_user::frontend_request r, const_bytes payload,
                                  std::span<const int> fds = {}) noexcept {
    const vhost_user::request_info& ri = vhost_user::info(r);
    if (ri.reply == vhost_user::reply_rule::always || own_reply(ri)) return errc::invalid_argument;
    VIREO_TRY(gate(ri));
    const bool ack = reply_ack();
    VIREO_TRY(transmit(r, payload, fds, ack));
    if (!ack) return ok();
    const auto m = await_reply(r);
    if (!m) return m.error();
    // REPLY_ACK: "zero to indicate success, non-zero to indicate failure" (spec, REPLY_ACK).
    if (vhost_user::u64_of(*m) != 0) return errc::host_request_failed;
    return ok();
  }

  /// Send request `r`, which has a reply of its own (GET_FEATURES, GET_VRING_BASE, GET_CONFIG,
  /// ...), and return that reply once decode_reply() accepted it: flags exactly 0x5, the same
  /// request code, that request's reply layout and fds (rule F5). Never with NEED_REPLY: the
  /// spec allows one reply only. The message's payload views this channel's buffer: it is valid
  /// until the next request. SET_LOG_BASE has a reply of its own once LOG_SHMFD is negotiated,
  /// and comes here then (with its fd). Errors: as send(); invalid_argument for a request
  /// without a reply.
  [[nodiscard]] result<vhost_user::message> call(vhost_user::frontend_request r,
                                                 const_bytes payload = {},
                                                 std::span<const int> fds = {}) noexcept {
    const vhost_user::request_info& ri = vhost_user::info(r);
    if (ri.reply != vhost_user::reply_rule::always && !own_reply(ri))
      return errc::invalid_argument;
    VIREO_TRY(gate(ri));
    VIREO_TRY(transmit(r, payload, fds, false));
    return await_reply(r);
  }

  /// Nothing may arrive while no request waits for a reply: the back-end never speaks first on
  /// the main socket. Looks without waiting. Errors (the connection is closed): host_closed,
  /// host_disconnected (the back-end went away), vhost_reply_not_expected (it sent something
  /// nobody asked for), what the transport reports.
  [[nodiscard]] result<void> check_idle() noexcept {
    if (!connected()) return errc::host_closed;
    pollfd p{ch_.fd(), POLLIN, 0};
    const int r = sys_.poll(&p, 1, 0);
    if (r == 0 || r == -EINTR) return ok();
    if (r < 0) return fail(errc_from_errno(-r));
    auto m = ch_.try_receive();
    if (!m) return fail(m.error());
    return fail(errc::vhost_reply_not_expected);  // a whole message or the start of one
  }

 private:
  using channel_type = basic_channel<Sys>;

  /// Rule F3: a gated request is never sent without its protocol feature (digest §3).
  [[nodiscard]] result<void> gate(const vhost_user::request_info& ri) const noexcept {
    if (!connected()) return errc::host_closed;
    if (ri.gate && !vhost_user::has(opts_.protocol_features, *ri.gate))
      return errc::vhost_not_negotiated;
    return ok();
  }

  [[nodiscard]] errc fail(errc e) noexcept {
    close();
    return e;
  }

  /// SET_LOG_BASE with LOG_SHMFD negotiated: the back-end answers a u64 of its own.
  [[nodiscard]] bool own_reply(const vhost_user::request_info& ri) const noexcept {
    return ri.reply == vhost_user::reply_rule::if_log_shmfd &&
           vhost_user::has(opts_.protocol_features, vhost_user::protocol_feature::log_shmfd);
  }

  /// Encode (the codec refuses what a back-end would refuse) and send one request.
  [[nodiscard]] result<void> transmit(vhost_user::frontend_request r, const_bytes payload,
                                      std::span<const int> fds, bool need_reply) noexcept {
    const auto n = vhost_user::encode_request(vhost_user::channel::main,
                                              static_cast<std::uint32_t>(r), payload, fds.size(),
                                              out_, need_reply, opts_);
    if (!n) return n.error();  // nothing sent: the connection stays usable
    const result<void> sent = ch_.send(const_bytes{out_.data(), *n}, fds);
    if (!sent) return fail(sent.error());  // rule F12, whether or not part of it left
    return ok();
  }

  /// Wait (up to the time limit) for the reply to `r` and check it.
  [[nodiscard]] result<vhost_user::message> await_reply(vhost_user::frontend_request r) noexcept {
    const std::int64_t deadline = sys_.monotonic_ms() + timeout_ms_;
    for (;;) {
      auto m = ch_.try_receive();
      if (!m) return fail(m.error());
      if (!m->empty()) {
        last_ = std::move(*m);
        break;
      }
      const std::int64_t left = deadline - sys_.monotonic_ms();
      if (left <= 0) return fail(errc::host_timeout);  // digest §10.30: peer never replies
      pollfd p{ch_.fd(), POLLIN, 0};
      const int w = sys_.poll(&p, 1, static_cast<int>(left));
      if (w < 0 && w != -EINTR) return fail(errc_from_errno(-w));
    }
    auto m = vhost_user::decode_reply(last_.bytes(), last_.fds().view(), vhost_user::channel::main,
                                      static_cast<std::uint32_t>(r), opts_);
    if (!m) return fail(m.error());  // rule F5
    return m;
  }

  [[no_unique_address]] Sys sys_{};
  channel_type ch_;
  int timeout_ms_ = 1000;
  vhost_user::codec_options opts_{};
  typename channel_type::message last_{};  ///< the latest reply (its payload backs call()'s view)
  std::array<std::byte, vhost_user::header_size + max_frontend_request_payload> out_{};
};

}  // namespace linux_host
VIREO_NAMESPACE_END
