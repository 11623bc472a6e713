// SPDX-License-Identifier: Apache-2.0
// A move-only owner of one file descriptor that closes it exactly once, through the system-call
// layer (so that a test's fake descriptors are "closed" by the fake, never by the real kernel).
#pragma once

#include <utility>

#include "vireo/core/config.hpp"
#include "vireo/linux/sys.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// Owns one descriptor (or none: -1). Closes it on destruction, on reset() and when assigned
/// over; release() gives it up without closing. Move-only; a moved-from owner holds none.
template <typename Sys = real_sys>
  requires sys_api<Sys>
class basic_unique_fd {
 public:
  basic_unique_fd() noexcept = default;
  /// Take ownership of `fd` (a negative value means "none").
  explicit basic_unique_fd(int fd, Sys sys = Sys{}) noexcept
      : sys_(std::move(sys)), fd_(fd < 0 ? -1 : fd) {}
  basic_unique_fd(basic_unique_fd&& o) noexcept
      : sys_(std::move(o.sys_)), fd_(std::exchange(o.fd_, -1)) {}
  basic_unique_fd& operator=(basic_unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = std::move(o.sys_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  basic_unique_fd(const basic_unique_fd&) = delete;
  basic_unique_fd& operator=(const basic_unique_fd&) = delete;
  ~basic_unique_fd() { reset(); }

  /// The descriptor, still owned (-1 when none).
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  /// Give the descriptor up without closing it; the caller now owns it.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  /// Close the owned descriptor (if any). Linux releases a descriptor even when close() fails,
  /// EINTR included, so the result is ignored and the close is never retried.
  void reset() noexcept {
    if (fd_ >= 0) (void)sys_.close(std::exchange(fd_, -1));
  }

  [[nodiscard]] Sys& sys() noexcept { return sys_; }
  [[nodiscard]] const Sys& sys() const noexcept { return sys_; }

 private:
  [[no_unique_address]] Sys sys_{};
  int fd_ = -1;
};

/// The owner for real descriptors.
using unique_fd = basic_unique_fd<real_sys>;
static_assert(sizeof(unique_fd) == sizeof(int), "real_sys is stateless: nothing but the fd");

}  // namespace linux_host
VIREO_NAMESPACE_END
