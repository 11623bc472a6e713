// SPDX-License-Identifier: Apache-2.0
// The vhost-user transport: whole messages (12-byte header + payload) over a connected AF_UNIX
// stream socket, descriptors passed as SCM_RIGHTS (vhost-user digest §1). Built for a hostile
// peer: exact framing, the header checked before any payload byte is read, and every received
// descriptor owned by the message until the consumer takes it (the rest are closed).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/vhost_user/header.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// Descriptors one message may bring, all recvmsg calls of the message together (rust-vmm's
/// MAX_ATTACHED_FD_ENTRIES). The protocol needs at most vhost_user::max_fds_per_message (8); the
/// per-request count is the decoder's check (rule B6). The receive control buffer holds this
/// many, so a sender passing more in one sendmsg shows up as MSG_CTRUNC (digest §1.3).
inline constexpr std::size_t max_received_fds = 32;
static_assert(max_received_fds >= vhost_user::max_fds_per_message);

template <typename Sys, std::uint32_t MaxPayload>
  requires socket_sys_api<Sys>
class basic_channel;

/// The descriptors received with one message, in arrival order. Owns them: the ones the consumer
/// does not take() are closed when the set is destroyed, reassigned or close_all()'d. Move-only;
/// no heap.
template <typename Sys = real_sys>
  requires sys_api<Sys>
class basic_received_fds {
 public:
  static constexpr std::size_t capacity = max_received_fds;

  basic_received_fds() noexcept = default;
  explicit basic_received_fds(Sys sys) noexcept : sys_(std::move(sys)) {}
  basic_received_fds(basic_received_fds&& o) noexcept
      : sys_(std::move(o.sys_)), fds_(o.fds_), size_(std::exchange(o.size_, 0)) {}
  basic_received_fds& operator=(basic_received_fds&& o) noexcept {
    if (this != &o) {
      close_all();
      sys_ = std::move(o.sys_);
      fds_ = o.fds_;
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  basic_received_fds(const basic_received_fds&) = delete;
  basic_received_fds& operator=(const basic_received_fds&) = delete;
  ~basic_received_fds() { close_all(); }

  /// How many descriptors arrived (taken ones included).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Descriptor `i`, still owned by the set; -1 once taken or when `i >= size()`.
  [[nodiscard]] int peek(std::size_t i) const noexcept { return i < size_ ? fds_[i] : -1; }
  /// All of them, still owned (-1 in the slots already taken).
  [[nodiscard]] std::span<const int> view() const noexcept { return {fds_.data(), size_}; }

  /// Move descriptor `i` out to the caller; an empty owner when taken already or `i >= size()`.
  [[nodiscard]] basic_unique_fd<Sys> take(std::size_t i) noexcept {
    if (i >= size_) return basic_unique_fd<Sys>{-1, sys_};
    return basic_unique_fd<Sys>{std::exchange(fds_[i], -1), sys_};
  }

  /// Close every descriptor still owned; the set is then empty.
  void close_all() noexcept {
    for (std::size_t i = 0; i < size_; ++i)
      if (fds_[i] >= 0) (void)sys_.close(std::exchange(fds_[i], -1));
    size_ = 0;
  }

  /// Append `fd`, taking ownership. Returns false when the set is full, or `fd` is negative;
  /// the caller still owns `fd` then.
  [[nodiscard]] bool push(int fd) noexcept {
    if (fd < 0 || size_ == capacity) return false;
    fds_[size_++] = fd;
    return true;
  }

 private:
  [[no_unique_address]] Sys sys_{};
  std::array<int, capacity> fds_{};
  std::size_t size_ = 0;
};

/// One whole message as received: header + payload bytes in a fixed buffer (header_size +
/// MaxPayload), and the descriptors that came with it. Empty (no bytes) when try_receive() had
/// no complete message yet. Move-only (it owns descriptors); a move copies only the used bytes.
template <typename Sys = real_sys, std::uint32_t MaxPayload = vhost_user::default_max_payload>
  requires sys_api<Sys>
class basic_received_message {
 public:
  static constexpr std::size_t capacity = vhost_user::header_size + MaxPayload;

  basic_received_message() noexcept = default;
  explicit basic_received_message(Sys sys) noexcept : fds_(std::move(sys)) {}
  basic_received_message(basic_received_message&& o) noexcept
      : size_(std::exchange(o.size_, 0)), fds_(std::move(o.fds_)) {
    std::memcpy(buf_.data(), o.buf_.data(), size_);
  }
  basic_received_message& operator=(basic_received_message&& o) noexcept {
    if (this != &o) {
      size_ = std::exchange(o.size_, 0);
      std::memcpy(buf_.data(), o.buf_.data(), size_);
      fds_ = std::move(o.fds_);
    }
    return *this;
  }
  basic_received_message(const basic_received_message&) = delete;
  basic_received_message& operator=(const basic_received_message&) = delete;
  ~basic_received_message() = default;

  /// No message (try_receive(): none complete yet).
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// A copy of the header (already checked by the channel: version 1, no reserved flag bit,
  /// size <= MaxPayload). Precondition: !empty().
  [[nodiscard]] vhost_user::header header() const noexcept {
    VIREO_ASSERT(!empty());
    vhost_user::header h;
    std::memcpy(&h, buf_.data(), vhost_user::header_size);
    return h;
  }
  /// Header and payload: exactly header_size + header().size bytes (none when empty).
  [[nodiscard]] const_bytes bytes() const noexcept { return {buf_.data(), size_}; }
  /// The payload alone (none when empty).
  [[nodiscard]] const_bytes payload() const noexcept {
    return empty() ? const_bytes{} : bytes().subspan(vhost_user::header_size);
  }
  [[nodiscard]] basic_received_fds<Sys>& fds() noexcept { return fds_; }
  [[nodiscard]] const basic_received_fds<Sys>& fds() const noexcept { return fds_; }

 private:
  template <typename S, std::uint32_t M>
    requires socket_sys_api<S>
  friend class basic_channel;

  std::array<std::byte, capacity> buf_;  // only [0, size_) is ever read
  std::size_t size_ = 0;
  basic_received_fds<Sys> fds_;
};

/// A vhost-user connection: sends and receives whole messages on a connected AF_UNIX stream
/// socket that it owns (digest §1). One per connection: on host_disconnected (or any other
/// failure) destroy it and start a new session on the next connection (§6.5, rule B20).
///
/// Receiving reads exactly the 12 header bytes, checks the header (vhost_user::validate_header:
/// version 1, no reserved flag bit, size <= MaxPayload, rule B2/B3), then reads exactly `size`
/// payload bytes (rule B1). It never reads past the message, so descriptors of the next message
/// stay in the socket. Descriptors are accepted with any recvmsg of the message (QEMU attaches
/// them to the first byte, §1.3) and belong to the message; a sendmsg carrying the end of one
/// message and the start of the next gives its descriptors to the first. recvmsg gets
/// MSG_CMSG_CLOEXEC. Framing and descriptor failures are fatal and sticky: every descriptor of
/// the message is closed, and every later call returns the same errc (never reinterpret the
/// stream after a framing error, rule B1).
///
/// Blocking and non-blocking use: receive() waits for a whole message (a non-blocking socket is
/// waited on with poll); try_receive() never waits: it keeps a partial message in the channel and
/// returns an empty message until the rest arrives (for epoll; with edge-triggered epoll call it
/// until it returns an empty message). send() always finishes the message or fails (it waits
/// with poll for room on a non-blocking socket: a peer that never reads blocks it).
///
/// Not thread-safe. No heap; the channel holds one message buffer (header_size + MaxPayload).
template <typename Sys = real_sys, std::uint32_t MaxPayload = vhost_user::default_max_payload>
  requires socket_sys_api<Sys>
class basic_channel {
 public:
  using message = basic_received_message<Sys, MaxPayload>;
  static constexpr std::uint32_t max_payload = MaxPayload;

  /// Take over a connected socket (from accept_unix, connect_unix or make_socket_pair).
  explicit basic_channel(basic_unique_fd<Sys> socket) noexcept
      : sock_(std::move(socket)), in_(sock_.sys()) {}
  basic_channel(basic_channel&&) noexcept = default;
  basic_channel& operator=(basic_channel&&) noexcept = default;
  basic_channel(const basic_channel&) = delete;
  basic_channel& operator=(const basic_channel&) = delete;
  ~basic_channel() = default;

  /// The socket, still owned (for epoll registration); -1 after close().
  [[nodiscard]] int fd() const noexcept { return sock_.get(); }
  /// Part of a message (bytes or descriptors) is buffered, waiting for the rest.
  [[nodiscard]] bool mid_message() const noexcept { return filled_ > 0 || !in_.fds_.empty(); }
  /// The sticky failure, if any: the connection is unusable and should be closed.
  [[nodiscard]] std::optional<errc> failure() const noexcept { return failed_; }

  /// Close the socket and any descriptor of a partial message. Later calls: host_closed.
  void close() noexcept {
    in_.fds_.close_all();
    filled_ = 0;
    expected_ = vhost_user::header_size;
    sock_.reset();
  }

  /// Send one message: header `h`, then `payload`, with `fds` attached to its first byte as one
  /// SCM_RIGHTS control message (§1.3). Short writes are continued, EINTR is retried, MSG_NOSIGNAL
  /// keeps a closed peer from raising SIGPIPE. The caller keeps owning `fds` (the kernel dups
  /// them into the message).
  /// Errors, nothing sent and the channel still usable: vhost_frame_length (payload size is not
  /// h.size), vhost_payload_too_large (above MaxPayload), host_too_many_fds (more than
  /// max_received_fds), invalid_argument (a negative fd), an errno before the first byte left
  /// (EBADF for a closed fd in `fds`: host_closed). Fatal (sticky): host_disconnected (EPIPE,
  /// ECONNRESET), any failure after part of the message left. host_closed after close().
  [[nodiscard]] result<void> send(const vhost_user::header& h, const_bytes payload,
                                  std::span<const int> fds = {}) noexcept {
    if (!sock_.valid()) return errc::host_closed;
    if (failed_) return *failed_;
    if (payload.size() != h.size.get()) return errc::vhost_frame_length;
    if (payload.size() > MaxPayload) return errc::vhost_payload_too_large;
    if (fds.size() > max_received_fds) return errc::host_too_many_fds;
    for (const int fd : fds)
      if (fd < 0) return errc::invalid_argument;

    std::array<std::byte, vhost_user::header_size> head;
    std::memcpy(head.data(), &h, vhost_user::header_size);
    alignas(cmsghdr) std::array<std::byte, control_space> control{};
    const std::array<const_bytes, 2> parts{const_bytes{head}, payload};
    // Cannot overflow: payload.size() <= MaxPayload (a uint32_t).
    const std::size_t total = vhost_user::header_size + payload.size();
    std::size_t sent = 0;
    while (sent < total) {
      std::array<iovec, 2> iov{};
      msghdr m{};
      m.msg_iov = iov.data();
      m.msg_iovlen = remaining_iovecs(parts, sent, iov);
      // The descriptors ride on the first byte only: once any byte left, they went with it.
      if (sent == 0 && !fds.empty()) {
        m.msg_control = control.data();
        m.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
      }
      const ssize_t r = sock_.sys().sendmsg(sock_.get(), &m, MSG_NOSIGNAL);
      if (r < 0) {
        if (r == -EINTR) continue;
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
          const result<void> w = wait_for(POLLOUT);
          if (!w) return fail(w.error());
          continue;
        }
        if (r == -EPIPE || r == -ECONNRESET) return fail(errc::host_disconnected);
        const errc e = errc_from_errno(static_cast<int>(-r));
        return sent == 0 ? e : fail(e);  // nothing left yet: the stream is intact
      }
      // A stream sendmsg of a non-empty message never returns 0; refuse to spin on it.
      if (r == 0 || static_cast<std::size_t>(r) > total - sent) return fail(errc::host_io_error);
      sent += static_cast<std::size_t>(r);
    }
    return ok();
  }

  /// Send one message given as header + payload bytes (e.g. what the codec encoded).
  /// Errors: as above; vhost_header_truncated (fewer than 12 bytes), vhost_frame_length (the
  /// bytes are not exactly 12 + header.size).
  [[nodiscard]] result<void> send(const_bytes message_bytes,
                                  std::span<const int> fds = {}) noexcept {
    const result<vhost_user::header> h = vhost_user::load_header(message_bytes);
    if (!h) return h.error();
    if (message_bytes.size() - vhost_user::header_size != h->size.get())
      return errc::vhost_frame_length;
    return send(*h, message_bytes.subspan(vhost_user::header_size), fds);
  }

  /// Wait for and return the next whole message.
  /// Errors (all fatal and sticky, every descriptor of the message closed):
  /// host_disconnected (EOF or ECONNRESET between messages), host_truncated (inside a message),
  /// vhost_bad_version / vhost_reserved_flags / vhost_payload_too_large (header refused before
  /// the payload is read), host_too_many_fds (more than max_received_fds over the message),
  /// host_control_truncated (MSG_CTRUNC), other recvmsg/poll errnos (errc_from_errno).
  /// host_closed after close().
  [[nodiscard]] result<message> receive() noexcept { return receive_impl(true); }

  /// Like receive(), but never waits: an empty message means no whole message yet (the part
  /// read so far stays in the channel for the next call). Same errors.
  [[nodiscard]] result<message> try_receive() noexcept { return receive_impl(false); }

 private:
  static constexpr std::size_t control_space = CMSG_SPACE(sizeof(int) * max_received_fds);

  /// The iovecs for what is left of `parts` after `sent` bytes (empty parts dropped).
  static std::size_t remaining_iovecs(const std::array<const_bytes, 2>& parts, std::size_t sent,
                                      std::array<iovec, 2>& out) noexcept {
    std::size_t n = 0;
    for (const const_bytes part : parts) {
      if (sent >= part.size()) {
        sent -= part.size();
        continue;
      }
      // sendmsg only reads through iov_base; iovec has no const variant.
      out[n++] = iovec{const_cast<std::byte*>(part.data() + sent), part.size() - sent};
      sent = 0;
    }
    return n;
  }

  /// Drop the partial message (closing its descriptors) and make `e` sticky.
  [[nodiscard]] errc fail(errc e) noexcept {
    in_.fds_.close_all();
    filled_ = 0;
    expected_ = vhost_user::header_size;
    failed_ = e;
    return e;
  }

  /// Block until the socket is ready for `events` (EINTR retried).
  [[nodiscard]] result<void> wait_for(short events) noexcept {
    pollfd p{sock_.get(), events, 0};
    for (;;) {
      const int r = sock_.sys().poll(&p, 1, -1);
      if (r >= 0) return ok();
      if (r != -EINTR) return errc_from_errno(-r);
    }
  }

  /// Take every descriptor the kernel installed with one recvmsg into the message being read
  /// (closing those beyond the cap), then report MSG_CTRUNC or the overflow.
  [[nodiscard]] result<void> collect_fds(msghdr& m) noexcept {
    bool overflow = false;
    const auto* const control_end = static_cast<const std::byte*>(m.msg_control) + m.msg_controllen;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      if (c->cmsg_len < CMSG_LEN(0)) break;
      const auto* data = reinterpret_cast<const std::byte*>(CMSG_DATA(c));
      // The kernel never overstates cmsg_len; bound by the buffer anyway (a model might).
      std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const std::size_t room =
          data <= control_end ? static_cast<std::size_t>(control_end - data) / sizeof(int) : 0;
      if (n > room) n = room;
      for (std::size_t i = 0; i < n; ++i) {
        int fd = -1;
        std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
        if (fd < 0) continue;
        if (!in_.fds_.push(fd)) {
          (void)sock_.sys().close(fd);
          overflow = true;
        }
      }
    }
    // §1.3: truncation is fatal; the descriptors that did arrive are closed by fail().
    if ((m.msg_flags & MSG_CTRUNC) != 0) return errc::host_control_truncated;
    if (overflow) return errc::host_too_many_fds;
    return ok();
  }

  [[nodiscard]] result<message> receive_impl(bool wait) noexcept {
    if (!sock_.valid()) return errc::host_closed;
    if (failed_) return *failed_;
    const int flags = MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT);
    for (;;) {
      // Ask for exactly what is missing of this message (header first), never more (rule B1).
      const std::size_t want = expected_ - filled_;
      iovec iov{in_.buf_.data() + filled_, want};
      alignas(cmsghdr) std::array<std::byte, control_space> control;
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control.data();
      m.msg_controllen = control.size();
      const ssize_t r = sock_.sys().recvmsg(sock_.get(), &m, flags);
      if (r < 0) {
        if (r == -EINTR) continue;
        if (r == -EAGAIN || r == -EWOULDBLOCK) {
          if (!wait) return message{sock_.sys()};  // nothing more yet: keep the partial message
          const result<void> w = wait_for(POLLIN);
          if (!w) return fail(w.error());
          continue;
        }
        if (r == -ECONNRESET) return fail(end_of_stream());
        return fail(errc_from_errno(static_cast<int>(-r)));
      }
      // Descriptors first: whatever the kernel installed is ours to close from here on.
      const result<void> got = collect_fds(m);
      if (!got) return fail(got.error());
      if (r == 0) return fail(end_of_stream());
      if (static_cast<std::size_t>(r) > want) return fail(errc::host_io_error);
      filled_ += static_cast<std::size_t>(r);
      if (filled_ < expected_) continue;
      if (expected_ == vhost_user::header_size) {
        // Check the header before reading (or making room for) any payload (rules B2, B3).
        const result<vhost_user::header> h = vhost_user::load_header(
            const_bytes{in_.buf_.data(), vhost_user::header_size});
        if (!h) return fail(h.error());
        const result<void> valid = vhost_user::validate_header(*h, MaxPayload);
        if (!valid) return fail(valid.error());
        // Cannot overflow, and fits buf_: size <= MaxPayload was just checked.
        expected_ = vhost_user::header_size + h->size.get();
        if (filled_ < expected_) continue;
      }
      in_.size_ = filled_;
      message out{std::move(in_)};
      in_ = message{sock_.sys()};
      filled_ = 0;
      expected_ = vhost_user::header_size;
      return out;
    }
  }

  /// The stream ended (EOF or reset): a clean disconnect between messages, else truncation.
  [[nodiscard]] errc end_of_stream() const noexcept {
    return mid_message() ? errc::host_truncated : errc::host_disconnected;
  }

  basic_unique_fd<Sys> sock_;
  message in_;  ///< the message being read: bytes [0, filled_) and its descriptors so far
  std::size_t filled_ = 0;
  std::size_t expected_ = vhost_user::header_size;  ///< header, then header + payload
  std::optional<errc> failed_;
};

/// The received message and channel over real descriptors.
using received_fds = basic_received_fds<real_sys>;
using received_message = basic_received_message<real_sys>;
using channel = basic_channel<real_sys>;

}  // namespace linux_host
VIREO_NAMESPACE_END
