// SPDX-License-Identifier: Apache-2.0
// The thin system-call layer under the Linux host back-ends: open/close/ioctl/read/poll/fcntl as
// a substitutable type, so that tests run the back-ends against a recording fake (no devices).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
// Not `linux`: GNU mode predefines it as a macro (= 1).
namespace linux_host {

/// What a back-end needs from the kernel, one call per system call. Every call returns what the
/// system call returns on success (a descriptor, a count, 0) and -errno on failure, so that no
/// call reads or writes the global errno and a fake can script failures without it. A model may
/// have static or member functions; back-ends hold one by value and call it as `sys.open(...)`.
template <typename S>
concept sys_api = requires(S& sys, const char* path, int fd, int flags, unsigned long request,
                           void* arg, unsigned long value, std::size_t len, pollfd* fds,
                           nfds_t nfds) {
  { sys.open(path, flags) } noexcept -> std::same_as<int>;
  { sys.close(fd) } noexcept -> std::same_as<int>;
  { sys.ioctl(fd, request, arg) } noexcept -> std::same_as<int>;         ///< pointer argument
  { sys.ioctl_value(fd, request, value) } noexcept -> std::same_as<int>; ///< integer argument
  { sys.read(fd, arg, len) } noexcept -> std::same_as<ssize_t>;
  { sys.poll(fds, nfds, flags) } noexcept -> std::same_as<int>;          ///< flags = timeout ms
  { sys.fcntl(fd, flags, flags) } noexcept -> std::same_as<int>;
};

/// The real system calls (glibc wrappers), errno turned into a negative return value.
struct real_sys {
  static int open(const char* path, int flags) noexcept {
    const int r = ::open(path, flags);  // never O_CREAT: no mode argument
    return r < 0 ? -errno : r;
  }
  /// Linux releases the descriptor even when close() fails (EINTR included): never retried.
  static int close(int fd) noexcept { return ::close(fd) < 0 ? -errno : 0; }
  static int ioctl(int fd, unsigned long request, void* arg) noexcept {
    const int r = ::ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
  }
  static int ioctl_value(int fd, unsigned long request, unsigned long value) noexcept {
    const int r = ::ioctl(fd, request, value);
    return r < 0 ? -errno : r;
  }
  static ssize_t read(int fd, void* buf, std::size_t len) noexcept {
    const ssize_t r = ::read(fd, buf, len);
    return r < 0 ? -static_cast<ssize_t>(errno) : r;
  }
  static int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept {
    const int r = ::poll(fds, nfds, timeout_ms);
    return r < 0 ? -errno : r;
  }
  static int fcntl(int fd, int cmd, int arg) noexcept {
    const int r = ::fcntl(fd, cmd, arg);
    return r < 0 ? -errno : r;
  }
};
static_assert(sys_api<real_sys>);

/// The errc for a failed system call's errno. The kernel's codes are coarse, and several calls
/// share them, so each back-end documents what a code means for its own calls.
[[nodiscard]] constexpr errc errc_from_errno(int e) noexcept {
  switch (e) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return errc::host_no_device;
    case EACCES:
    case EPERM:
      return errc::host_permission_denied;
    case EBUSY:
      return errc::host_busy;
    case ENOTTY:
    case EOPNOTSUPP:
    case ENOSYS:
      return errc::host_not_supported;
    case EINVAL:
      return errc::host_rejected;
    case EBADF:
      return errc::host_closed;
    default:
      return errc::host_io_error;
  }
}

/// Longest path the back-ends pass to open(), terminator included (PATH_MAX on Linux).
inline constexpr std::size_t path_capacity = PATH_MAX;

/// Copy `path` into `out` with a terminating NUL: open() needs a C string, a string_view need
/// not end in one. Errors: host_name_too_long (it does not fit), invalid_argument (it is empty
/// or holds a NUL, which would silently cut it short).
[[nodiscard]] constexpr result<void> to_c_path(std::string_view path,
                                               std::span<char> out) noexcept {
  if (path.empty()) return errc::invalid_argument;
  if (path.size() >= out.size()) return errc::host_name_too_long;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '\0') return errc::invalid_argument;
    out[i] = path[i];
  }
  out[path.size()] = '\0';
  return ok();
}

}  // namespace linux_host
VIREO_NAMESPACE_END
