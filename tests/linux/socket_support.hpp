// SPDX-License-Identifier: Apache-2.0
// Helpers for the UNIX socket and vhost-user channel tests on real descriptors: descriptor
// counting (leak checks), a scratch directory for socket paths, raw sends that bypass the
// channel (to play a hostile or sloppy peer), memfds whose identity survives fd passing.
// Test code: heap is fine here.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <span>
#include <string>
#include <vector>

namespace vireo_socket_test {

/// Descriptors open in this process right now.
inline std::ptrdiff_t open_descriptors() {
  return std::distance(std::filesystem::directory_iterator{"/proc/self/fd"},
                       std::filesystem::directory_iterator{});
}

/// Whether `fd` is an open descriptor.
inline bool is_open(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) >= 0; }

inline bool has_cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
inline bool has_nonblock(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

/// The inode of `fd`: two descriptors with the same (dev, ino) refer to the same file.
inline std::pair<dev_t, ino_t> identity(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return {st.st_dev, st.st_ino};
}

/// A scratch directory, removed with everything in it at scope end.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = "/tmp/vireo-vusock-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A memfd holding `content` (close-on-exec): a file whose identity and content can be checked
/// through any descriptor that refers to it.
inline int make_memfd(const std::string& content) {
  const int fd = ::memfd_create("vireo-vusock", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  return fd;
}

/// The whole content of the file behind `fd`, read with pread (the offset is shared by all
/// descriptors of one open file, so it is left alone).
inline std::string content_of(int fd) {
  std::string out(256, '\0');
  const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  REQUIRE(n >= 0);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

/// A vhost-user message in bytes: header (native order) + payload.
inline std::vector<std::byte> frame(std::uint32_t request, std::uint32_t flags,
                                    std::span<const std::byte> payload) {
  std::vector<std::byte> out(12 + payload.size());
  const std::uint32_t size = static_cast<std::uint32_t>(payload.size());
  std::memcpy(out.data(), &request, 4);
  std::memcpy(out.data() + 4, &flags, 4);
  std::memcpy(out.data() + 8, &size, 4);
  if (!payload.empty()) std::memcpy(out.data() + 12, payload.data(), payload.size());
  return out;
}
/// A header claiming `size` payload bytes, without the payload.
inline std::vector<std::byte> header_only(std::uint32_t request, std::uint32_t flags,
                                          std::uint32_t size) {
  std::vector<std::byte> out = frame(request, flags, {});
  std::memcpy(out.data() + 8, &size, 4);
  return out;
}
inline std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed = 1) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
  return out;
}

/// One raw sendmsg of `data` with `fds` attached (as a peer would, bypassing the channel).
/// Returns what sendmsg returned.
inline ssize_t raw_send(int sock, std::span<const std::byte> data, std::span<const int> fds = {}) {
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  std::vector<std::byte> control(CMSG_SPACE(fds.size() * sizeof(int)) + sizeof(cmsghdr));
  if (!fds.empty()) {
    m.msg_control = control.data();
    m.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  return ::sendmsg(sock, &m, MSG_NOSIGNAL);
}

/// Bytes waiting in `sock`'s receive queue (read with MSG_PEEK, nothing consumed).
inline std::size_t pending_bytes(int sock) {
  std::vector<std::byte> buf(65536);
  const ssize_t n = ::recv(sock, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

}  // namespace vireo_socket_test
