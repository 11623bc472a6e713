// SPDX-License-Identifier: Apache-2.0
// Vring notifiers: the eventfds a front-end passes with SET_VRING_KICK / CALL / ERR (vhost-user
// digest §1.3, §5), signalled by writing a count of 1 and consumed by reading the 8-byte counter.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vireo/core/result.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/linux/vhost_user_frontend/sys.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// A fresh eventfd, close-on-exec and non-blocking (a read never waits: it is only made after a
/// poll, or to drain). Errors: the errno of eventfd() (EMFILE: host_io_error).
template <frontend_sys_api Sys>
[[nodiscard]] result<basic_unique_fd<Sys>> make_notifier(Sys sys = Sys{}) noexcept {
  const int fd = sys.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return errc_from_errno(-fd);
  return basic_unique_fd<Sys>{fd, sys};
}

/// Add 1 to the eventfd's counter (a kick, or a call in a test's device). A counter already at
/// its maximum (EAGAIN) is still signalled: not an error. Errors: the errno of write()
/// (EBADF: host_closed).
template <frontend_sys_api Sys>
[[nodiscard]] result<void> signal_notifier(Sys& sys, int fd) noexcept {
  const std::uint64_t one = 1;
  for (;;) {
    const ssize_t r = sys.write(fd, &one, sizeof one);
    if (r == static_cast<ssize_t>(sizeof one) || r == -EAGAIN) return ok();
    if (r == -EINTR) continue;
    return r < 0 ? errc_from_errno(static_cast<int>(-r)) : errc::host_io_error;
  }
}

/// Read (and so reset) the eventfd's counter without waiting. Returns whether it was signalled.
/// Errors: the errno of read().
template <frontend_sys_api Sys>
[[nodiscard]] result<bool> consume_notifier(Sys& sys, int fd) noexcept {
  std::uint64_t count = 0;
  for (;;) {
    const ssize_t r = sys.read(fd, &count, sizeof count);
    if (r == static_cast<ssize_t>(sizeof count)) return count != 0;
    if (r == -EAGAIN) return false;
    if (r == -EINTR) continue;
    return r < 0 ? errc_from_errno(static_cast<int>(-r)) : errc::host_io_error;
  }
}

/// Wait up to `timeout_ms` (0: just look) until one of `fds` is signalled, then consume every
/// signalled one. Returns how many were signalled (0: the time ran out). A signal interrupting
/// the wait ends it early, as a spurious wake-up the caller's loop tolerates.
/// Precondition: fds.size() <= Max. Errors: the errno of poll() or read().
template <std::size_t Max, frontend_sys_api Sys>
[[nodiscard]] result<std::size_t> wait_notifiers(Sys& sys, std::span<const int> fds,
                                                 int timeout_ms) noexcept {
  VIREO_ASSERT(fds.size() <= Max);
  std::array<pollfd, Max> p{};
  for (std::size_t i = 0; i < fds.size(); ++i) p[i] = pollfd{fds[i], POLLIN, 0};
  const int r = sys.poll(p.data(), static_cast<nfds_t>(fds.size()), timeout_ms);
  if (r == -EINTR || r == 0) return std::size_t{0};
  if (r < 0) return errc_from_errno(-r);
  std::size_t signalled = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if ((p[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) == 0) continue;
    if ((p[i].revents & POLLNVAL) != 0) return errc::host_closed;
    const auto got = consume_notifier(sys, fds[i]);
    if (!got) return got.error();
    signalled += *got ? 1 : 0;
  }
  return signalled;
}

}  // namespace linux_host
VIREO_NAMESPACE_END
