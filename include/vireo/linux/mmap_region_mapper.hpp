// SPDX-License-Identifier: Apache-2.0
// The real region_mapper of a vhost-user back-end: mmap()s a memory region's fd shared and
// read-write (vhost-user digest §4), refusing what would fault later instead of failing now.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/vhost_user/backend/memory_map.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// Maps `mmap_offset + size` bytes from file offset 0 (as libvhost-user does, so the offset need
/// not be page aligned) and hands out the address of byte `mmap_offset`.
///
/// A hostile front-end could pass an fd whose file is shorter than the region, so that touching
/// the tail raises SIGBUS: map() refuses a file that is not a regular file (memfd, tmpfs,
/// hugetlbfs) or is shorter than the mapping, and adds F_SEAL_SHRINK where the memfd allows it so
/// that it cannot be shortened afterwards. A memfd without sealing that is shrunk later remains a
/// risk (QEMU's memory-backend-memfd seals by default).
class mmap_region_mapper {
 public:
  [[nodiscard]] result<std::byte*> map(int fd, std::uint64_t size, std::uint64_t offset) noexcept {
    if (size == 0) return errc::invalid_argument;
    if (offset > std::numeric_limits<std::uint64_t>::max() - size) return errc::address_overflow;
    const std::uint64_t total = offset + size;
    if (total > std::numeric_limits<std::size_t>::max() ||
        total > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
      return errc::address_overflow;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errc_from_errno(errno);
    if (!S_ISREG(st.st_mode)) return errc::host_rejected;  // a pipe, socket, device, ...
    if (static_cast<std::uint64_t>(st.st_size) < total) return errc::out_of_bounds;
    (void)::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);  // best effort: not every file takes seals
    void* p = ::mmap(nullptr, static_cast<std::size_t>(total), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) return errc_from_errno(errno);
    ++live_;
    return static_cast<std::byte*>(p) + offset;
  }

  void unmap(std::byte* host, std::uint64_t size, std::uint64_t offset) noexcept {
    (void)::munmap(host - offset, static_cast<std::size_t>(offset + size));
    --live_;
  }

  /// Mappings made and not yet unmapped (tests check that a session leaves none behind).
  [[nodiscard]] std::size_t live() const noexcept { return live_; }

 private:
  std::size_t live_ = 0;
};
static_assert(vhost_user::backend::region_mapper<mmap_region_mapper>);

}  // namespace linux_host
VIREO_NAMESPACE_END
