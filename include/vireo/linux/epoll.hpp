// SPDX-License-Identifier: Apache-2.0
// The small pieces of Linux event handling a back-end loop needs: an epoll set with 64-bit
// tokens, and eventfd signalling (vhost-user kick, call and err fds are eventfds).
#pragma once

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <span>

#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/linux/unique_fd.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// An epoll instance (close-on-exec). Level-triggered: a handler that leaves work behind is
/// woken again, which is what a loop serving a hostile peer wants (no event is ever lost).
class epoll_set {
 public:
  [[nodiscard]] static result<epoll_set> create() noexcept {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errc_from_errno(errno);
    return epoll_set{unique_fd{fd}};
  }

  [[nodiscard]] int fd() const noexcept { return ep_.get(); }

  [[nodiscard]] result<void> add(int fd, std::uint32_t events, std::uint64_t token) noexcept {
    return control(EPOLL_CTL_ADD, fd, events, token);
  }
  [[nodiscard]] result<void> modify(int fd, std::uint32_t events, std::uint64_t token) noexcept {
    return control(EPOLL_CTL_MOD, fd, events, token);
  }
  /// Stop watching `fd`. Call it before closing `fd`: a descriptor passed to another process
  /// keeps its file open, and epoll forgets an fd only when the file itself is closed.
  void remove(int fd) noexcept {
    if (fd >= 0) (void)::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }

  /// Wait up to `timeout_ms` (-1: forever). Returns the events filled in; EINTR gives none.
  [[nodiscard]] result<std::span<epoll_event>> wait(std::span<epoll_event> out,
                                                    int timeout_ms) noexcept {
    const int n = ::epoll_wait(ep_.get(), out.data(), static_cast<int>(out.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return out.first(0);
      return errc_from_errno(errno);
    }
    return out.first(static_cast<std::size_t>(n));
  }

 private:
  explicit epoll_set(unique_fd fd) noexcept : ep_(std::move(fd)) {}

  [[nodiscard]] result<void> control(int op, int fd, std::uint32_t events,
                                     std::uint64_t token) noexcept {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (::epoll_ctl(ep_.get(), op, fd, &ev) != 0) return errc_from_errno(errno);
    return ok();
  }

  unique_fd ep_;
};

/// Add 1 to an eventfd (a call or err notification). A full counter (EAGAIN) already means
/// "signalled"; any other failure is reported.
[[nodiscard]] inline result<void> signal_eventfd(int fd) noexcept {
  const std::uint64_t one = 1;
  for (;;) {
    const ssize_t n = ::write(fd, &one, sizeof one);
    if (n == static_cast<ssize_t>(sizeof one)) return ok();
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return ok();
    return n < 0 ? errc_from_errno(errno) : errc::host_io_error;
  }
}

/// Consume a kick: read the eventfd's counter (non-blocking fd; nothing pending is fine). A kick
/// fd that is not an eventfd (a pipe, say) is drained of what one read gives.
inline void drain_eventfd(int fd) noexcept {
  std::uint64_t v = 0;
  while (::read(fd, &v, sizeof v) < 0 && errno == EINTR) {
  }
}

/// Set O_NONBLOCK on `fd` (a kick or call fd from the front-end: never let it block the loop).
[[nodiscard]] inline result<void> set_nonblocking(int fd) noexcept {
  const int fl = ::fcntl(fd, F_GETFL, 0);
  if (fl < 0) return errc_from_errno(errno);
  if ((fl & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
    return errc_from_errno(errno);
  return ok();
}

}  // namespace linux_host
VIREO_NAMESPACE_END
