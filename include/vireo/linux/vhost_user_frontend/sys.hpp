// SPDX-License-Identifier: Apache-2.0
// The system calls a vhost-user front-end makes beyond the socket transport's: eventfds for the
// vring kick/call/err notifiers, write() to signal one, and a monotonic clock for reply timeouts.
#pragma once

#include <sys/eventfd.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "vireo/core/config.hpp"
#include "vireo/linux/sys.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// socket_sys_api plus eventfd(), write() and a monotonic millisecond clock (same conventions:
/// the result of the call, or -errno).
template <typename S>
concept frontend_sys_api =
    socket_sys_api<S> && requires(S& sys, unsigned initval, int flags, int fd, const void* buf,
                                  std::size_t len) {
      { sys.eventfd(initval, flags) } noexcept -> std::same_as<int>;
      { sys.write(fd, buf, len) } noexcept -> std::same_as<ssize_t>;
      { sys.monotonic_ms() } noexcept -> std::same_as<std::int64_t>;
    };

/// The real calls (glibc wrappers), errno turned into a negative return value.
struct real_frontend_sys : real_sys {
  static int eventfd(unsigned initval, int flags) noexcept {
    const int r = ::eventfd(initval, flags);
    return r < 0 ? -errno : r;
  }
  static ssize_t write(int fd, const void* buf, std::size_t len) noexcept {
    const ssize_t r = ::write(fd, buf, len);
    return r < 0 ? -static_cast<ssize_t>(errno) : r;
  }
  static std::int64_t monotonic_ms() noexcept {
    timespec ts{};
    (void)::clock_gettime(CLOCK_MONOTONIC, &ts);  // cannot fail for CLOCK_MONOTONIC
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
  }
};
static_assert(frontend_sys_api<real_frontend_sys>);

}  // namespace linux_host
VIREO_NAMESPACE_END
