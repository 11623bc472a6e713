// SPDX-License-Identifier: Apache-2.0
// The Linux inflight_allocator of the vhost-user back-end session: GET_INFLIGHT_FD regions in
// sealed memfds, as libvhost-user allocates them (digest §6.4). The front-end keeps the fd it
// receives, so the region survives a back-end crash and comes back with SET_INFLIGHT_FD.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// allocate(size): memfd_create("vhost-inflight", close-on-exec, sealing allowed), sized to
/// `size` (zero-filled by the kernel), sealed against growing and shrinking (the front-end maps
/// it too: a peer that shrank it would make our accesses fault), and mapped shared read-write.
/// release(buffer): unmap and close. Errors: the errno of the failing call (errc_from_errno;
/// invalid_argument for a size of 0 or one that does not fit off_t / size_t).
class memfd_inflight_allocator {
 public:
  [[nodiscard]] result<vhost_user::backend::inflight_buffer> allocate(
      std::uint64_t size) noexcept {
    if (size == 0 || size > static_cast<std::uint64_t>(INT64_MAX) ||
        size > static_cast<std::uint64_t>(SIZE_MAX))
      return errc::invalid_argument;
    const int fd = ::memfd_create("vhost-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return errc_from_errno(errno);
    const auto fail = [fd](int e) noexcept {
      ::close(fd);
      return errc_from_errno(e);
    };
    if (::ftruncate(fd, static_cast<off_t>(size)) < 0) return fail(errno);
    if (::fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) return fail(errno);
    void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_SHARED,
                     fd, 0);
    if (p == MAP_FAILED) return fail(errno);
    ++live_;
    return vhost_user::backend::inflight_buffer{fd, static_cast<std::byte*>(p), size};
  }

  void release(const vhost_user::backend::inflight_buffer& b) noexcept {
    if (b.host != nullptr) ::munmap(b.host, static_cast<std::size_t>(b.size));
    if (b.fd >= 0) ::close(b.fd);
    if (live_ != 0) --live_;
  }

  /// Regions allocated and not released.
  [[nodiscard]] std::size_t live() const noexcept { return live_; }

 private:
  std::size_t live_ = 0;
};
static_assert(vhost_user::backend::inflight_allocator<memfd_inflight_allocator>);

}  // namespace linux_host
VIREO_NAMESPACE_END
