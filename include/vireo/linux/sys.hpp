// SPDX-License-Identifier: Apache-2.0
// The thin system-call layer under the Linux host back-ends: open/close/ioctl/read/poll/fcntl and
// the AF_UNIX socket calls as a substitutable type, so that tests run the back-ends against a
// recording fake (no devices, scripted partial reads and failures).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/// What a socket transport needs on top of sys_api (the vhost-user channel and the UNIX socket
/// helpers). A separate concept, so that the device back-ends' models need no socket calls.
template <typename S>
concept socket_sys_api =
    sys_api<S> && requires(S& sys, const char* path, int fd, int flags, int* pair,
                           const sockaddr* addr, sockaddr* addr_out, socklen_t addr_len,
                           socklen_t* addr_len_out, const msghdr* out, msghdr* in,
                           struct stat* st) {
      { sys.socket(flags, flags, flags) } noexcept -> std::same_as<int>;  ///< domain, type, protocol
      { sys.socketpair(flags, flags, flags, pair) } noexcept -> std::same_as<int>;  ///< int[2]
      { sys.bind(fd, addr, addr_len) } noexcept -> std::same_as<int>;
      { sys.listen(fd, flags) } noexcept -> std::same_as<int>;           ///< flags = backlog
      { sys.accept4(fd, addr_out, addr_len_out, flags) } noexcept -> std::same_as<int>;
      { sys.connect(fd, addr, addr_len) } noexcept -> std::same_as<int>;
      { sys.sendmsg(fd, out, flags) } noexcept -> std::same_as<ssize_t>;
      { sys.recvmsg(fd, in, flags) } noexcept -> std::same_as<ssize_t>;
      { sys.unlink(path) } noexcept -> std::same_as<int>;
      { sys.lstat(path, st) } noexcept -> std::same_as<int>;
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
  static int socket(int domain, int type, int protocol) noexcept {
    const int r = ::socket(domain, type, protocol);
    return r < 0 ? -errno : r;
  }
  static int socketpair(int domain, int type, int protocol, int* pair) noexcept {
    return ::socketpair(domain, type, protocol, pair) < 0 ? -errno : 0;
  }
  static int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    return ::bind(fd, addr, len) < 0 ? -errno : 0;
  }
  static int listen(int fd, int backlog) noexcept {
    return ::listen(fd, backlog) < 0 ? -errno : 0;
  }
  static int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
    const int r = ::accept4(fd, addr, len, flags);
    return r < 0 ? -errno : r;
  }
  static int connect(int fd, const sockaddr* addr, socklen_t len) noexcept {
    return ::connect(fd, addr, len) < 0 ? -errno : 0;
  }
  static ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
    const ssize_t r = ::sendmsg(fd, msg, flags);
    return r < 0 ? -static_cast<ssize_t>(errno) : r;
  }
  static ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept {
    const ssize_t r = ::recvmsg(fd, msg, flags);
    return r < 0 ? -static_cast<ssize_t>(errno) : r;
  }
  static int unlink(const char* path) noexcept { return ::unlink(path) < 0 ? -errno : 0; }
  static int lstat(const char* path, struct stat* st) noexcept {
    return ::lstat(path, st) < 0 ? -errno : 0;
  }
};
static_assert(sys_api<real_sys>);
static_assert(socket_sys_api<real_sys>);

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
