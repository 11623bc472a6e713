// SPDX-License-Identifier: Apache-2.0
// AF_UNIX stream sockets by path, for the vhost-user transport: listen (optionally replacing a
// stale socket file), accept, connect with bounded retries, and connected pairs. Every descriptor
// is created close-on-exec and handed out in an owner.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <string_view>
#include <utility>

#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/linux/unique_fd.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// How listen_unix() sets the listening socket up.
struct listen_options {
  /// Remove a socket file left behind at the path by a dead server before binding. Only a socket
  /// nobody listens on is removed; a live listener or a file that is not a socket is left alone
  /// (host_address_in_use). Without this, any existing file makes bind fail (EADDRINUSE).
  bool unlink_stale = false;
  int backlog = 16;
  /// The listener is non-blocking: accept_unix() then returns an empty owner instead of waiting.
  bool nonblocking = false;
};

/// How accept_unix() sets the accepted connection up.
struct accept_options {
  bool nonblocking = false;  ///< O_NONBLOCK on the connection (for an epoll loop)
};

/// How connect_unix() connects.
struct connect_options {
  /// Tries before giving up (at least 1): a front-end may start its socket after the back-end
  /// (or the other way round), so ENOENT, ECONNREFUSED and a full backlog are retried.
  unsigned attempts = 1;
  int retry_delay_ms = 100;  ///< pause between tries
  bool nonblocking = false;  ///< leave O_NONBLOCK set on the connected socket
};

/// Both ends of a connected AF_UNIX stream socket pair.
template <typename Sys = real_sys>
struct socket_pair {
  basic_unique_fd<Sys> first;
  basic_unique_fd<Sys> second;
};

namespace detail {

/// A sockaddr_un for `path` and its length (terminator included). Abstract-namespace addresses
/// (a leading NUL) are not supported: to_c_path refuses NULs.
/// Errors: host_name_too_long (sun_path holds 107 characters), invalid_argument (empty or NUL).
[[nodiscard]] inline result<socklen_t> unix_address(std::string_view path,
                                                    sockaddr_un& out) noexcept {
  out = sockaddr_un{};
  out.sun_family = AF_UNIX;
  VIREO_TRY(to_c_path(path, out.sun_path));
  // Cannot overflow: path.size() < sizeof(sun_path) (108), checked by to_c_path.
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

[[nodiscard]] inline const sockaddr* as_sockaddr(const sockaddr_un& a) noexcept {
  return reinterpret_cast<const sockaddr*>(&a);
}

/// connect()'s failures that a later try may not see: no socket file yet (ENOENT), a file but no
/// listener yet (ECONNREFUSED), the listener's backlog is full (EAGAIN on a non-blocking
/// AF_UNIX connect), a signal (EINTR).
[[nodiscard]] constexpr bool connect_retryable(int e) noexcept {
  return e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

[[nodiscard]] constexpr errc errc_from_connect_errno(int e) noexcept {
  if (e == ENOENT || e == ECONNREFUSED) return errc::host_no_listener;
  if (e == EAGAIN || e == EWOULDBLOCK) return errc::host_busy;
  return errc_from_errno(e);
}

/// One connect() of a fresh non-blocking socket to `addr`. A non-blocking AF_UNIX connect
/// completes or fails at once (EAGAIN when the backlog is full), so it never hangs on a server
/// that does not accept. Returns the connected socket, or -errno of the connect (or of socket()).
template <typename Sys>
[[nodiscard]] basic_unique_fd<Sys> connect_once(Sys& sys, const sockaddr_un& addr, socklen_t len,
                                                int& err) noexcept {
  const int s = sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    err = -s;
    return basic_unique_fd<Sys>{-1, sys};
  }
  basic_unique_fd<Sys> fd{s, sys};
  const int r = sys.connect(fd.get(), as_sockaddr(addr), len);
  if (r < 0) {
    err = -r;
    return basic_unique_fd<Sys>{-1, sys};  // `fd` closes the socket
  }
  err = 0;
  return fd;
}

/// Remove the socket file at `addr` if nobody listens on it (listen_options::unlink_stale). A
/// connect() probe tells a live listener (it connects, or its backlog is full) from a stale file
/// (ECONNREFUSED). The probe's connection reaches a live server as one that closes at once.
/// Between this check and bind another server may take the path: bind then fails, in use.
/// Errors: host_address_in_use (live listener, or not a socket), the errno of lstat/unlink.
template <typename Sys>
[[nodiscard]] result<void> remove_stale_socket(Sys& sys, const sockaddr_un& addr,
                                               socklen_t len) noexcept {
  struct stat st {};
  const int s = sys.lstat(addr.sun_path, &st);
  if (s == -ENOENT) return ok();
  if (s < 0) return errc_from_errno(-s);
  if (!S_ISSOCK(st.st_mode)) return errc::host_address_in_use;  // never delete other files
  int err = 0;
  basic_unique_fd<Sys> probe = connect_once(sys, addr, len, err);
  if (probe.valid() || err == EAGAIN || err == EWOULDBLOCK) return errc::host_address_in_use;
  if (err == ENOENT) return ok();  // removed meanwhile
  if (err != ECONNREFUSED) return errc_from_errno(err);
  const int u = sys.unlink(addr.sun_path);
  if (u < 0 && u != -ENOENT) return errc_from_errno(-u);
  return ok();
}

/// Clear O_NONBLOCK on `fd`.
template <typename Sys>
[[nodiscard]] result<void> make_blocking(Sys& sys, int fd) noexcept {
  const int flags = sys.fcntl(fd, F_GETFL, 0);
  if (flags < 0) return errc_from_errno(-flags);
  const int r = sys.fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (r < 0) return errc_from_errno(-r);
  return ok();
}

}  // namespace detail

/// A listening AF_UNIX stream socket bound to `path` (close-on-exec). The socket file stays
/// behind when the listener is closed; unlink it, or pass unlink_stale next time.
/// Errors: host_name_too_long / invalid_argument (path), host_address_in_use (EADDRINUSE, or see
/// listen_options::unlink_stale), the errno of socket/bind/listen (errc_from_errno: a missing
/// directory is host_no_device, EACCES host_permission_denied).
template <typename Sys = real_sys>
  requires socket_sys_api<Sys>
[[nodiscard]] result<basic_unique_fd<Sys>> listen_unix(std::string_view path,
                                                       listen_options opts = {},
                                                       Sys sys = Sys{}) noexcept {
  sockaddr_un addr;
  const result<socklen_t> len = detail::unix_address(path, addr);
  if (!len) return len.error();
  if (opts.unlink_stale) VIREO_TRY(detail::remove_stale_socket(sys, addr, *len));
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (opts.nonblocking ? SOCK_NONBLOCK : 0);
  const int s = sys.socket(AF_UNIX, type, 0);
  if (s < 0) return errc_from_errno(-s);
  basic_unique_fd<Sys> fd{s, sys};
  const int b = sys.bind(fd.get(), detail::as_sockaddr(addr), *len);
  if (b == -EADDRINUSE) return errc::host_address_in_use;
  if (b < 0) return errc_from_errno(-b);
  const int l = sys.listen(fd.get(), opts.backlog);
  if (l < 0) return errc_from_errno(-l);
  return fd;
}

/// Accept one connection on `listener` (close-on-exec; non-blocking when asked). A signal and a
/// connection aborted before it was accepted (ECONNABORTED) are retried. On a non-blocking
/// listener with nothing pending, returns an empty owner (valid() false): not an error.
/// Errors: host_closed (no listener), the errno of accept4 (EMFILE: host_io_error).
template <typename Sys>
  requires socket_sys_api<Sys>
[[nodiscard]] result<basic_unique_fd<Sys>> accept_unix(basic_unique_fd<Sys>& listener,
                                                       accept_options opts = {}) noexcept {
  if (!listener.valid()) return errc::host_closed;
  Sys& sys = listener.sys();
  const int flags = SOCK_CLOEXEC | (opts.nonblocking ? SOCK_NONBLOCK : 0);
  for (;;) {
    const int r = sys.accept4(listener.get(), nullptr, nullptr, flags);
    if (r >= 0) return basic_unique_fd<Sys>{r, sys};
    if (r == -EINTR || r == -ECONNABORTED) continue;
    if (r == -EAGAIN || r == -EWOULDBLOCK) return basic_unique_fd<Sys>{-1, sys};
    return errc_from_errno(-r);
  }
}

/// Connect to the AF_UNIX stream socket at `path` (close-on-exec), trying up to
/// `opts.attempts` times with `opts.retry_delay_ms` between tries while the failure may pass
/// (no socket file yet, no listener yet, full backlog). Never blocks in connect() itself.
/// Errors: host_no_listener (ENOENT / ECONNREFUSED on the last try), host_busy (backlog still
/// full), host_name_too_long / invalid_argument (path), invalid_argument (attempts 0), the errno
/// of socket/connect/fcntl otherwise (EACCES: host_permission_denied).
template <typename Sys = real_sys>
  requires socket_sys_api<Sys>
[[nodiscard]] result<basic_unique_fd<Sys>> connect_unix(std::string_view path,
                                                        connect_options opts = {},
                                                        Sys sys = Sys{}) noexcept {
  if (opts.attempts == 0) return errc::invalid_argument;
  sockaddr_un addr;
  const result<socklen_t> len = detail::unix_address(path, addr);
  if (!len) return len.error();
  int err = 0;
  for (unsigned attempt = 1;; ++attempt) {
    basic_unique_fd<Sys> fd = detail::connect_once(sys, addr, *len, err);
    if (fd.valid()) {
      if (!opts.nonblocking) VIREO_TRY(detail::make_blocking(sys, fd.get()));
      return fd;
    }
    if (!detail::connect_retryable(err) || attempt >= opts.attempts) break;
    // poll() with no descriptors is a sleep the fake system can script; a signal ends it early.
    (void)sys.poll(nullptr, 0, opts.retry_delay_ms);
  }
  return detail::errc_from_connect_errno(err);
}

/// A connected AF_UNIX stream socket pair (close-on-exec; both ends non-blocking when asked):
/// a transport without a path, e.g. for SET_BACKEND_REQ_FD or tests.
/// Errors: the errno of socketpair (EMFILE: host_io_error).
template <typename Sys = real_sys>
  requires socket_sys_api<Sys>
[[nodiscard]] result<socket_pair<Sys>> make_socket_pair(bool nonblocking = false,
                                                        Sys sys = Sys{}) noexcept {
  int fds[2] = {-1, -1};
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  const int r = sys.socketpair(AF_UNIX, type, 0, fds);
  if (r < 0) return errc_from_errno(-r);
  return socket_pair<Sys>{basic_unique_fd<Sys>{fds[0], sys}, basic_unique_fd<Sys>{fds[1], sys}};
}

}  // namespace linux_host
VIREO_NAMESPACE_END
