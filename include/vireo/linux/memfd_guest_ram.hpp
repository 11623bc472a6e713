// SPDX-License-Identifier: Apache-2.0
// Guest RAM a vhost-user front-end can share: one memfd, mapped MAP_SHARED once, split into
// regions at chosen guest-physical addresses. The driver queues reach it through a region_table;
// a back-end maps the same file from the (fd, guest address, size, user address, mmap offset) of
// each region that SET_MEM_TABLE / ADD_MEM_REG carry (vhost-user digest §2, §6.2, pitfall 15).
#pragma once

#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "vireo/core/guest_memory.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/core/result.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/linux/unique_fd.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// What shared guest RAM needs from the kernel on top of sys_api (same conventions: the result
/// of the call on success, -errno on failure). mmap() writes the mapping's address to `*out`.
template <typename S>
concept memory_sys_api =
    sys_api<S> && requires(S& sys, const char* name, unsigned flags, int fd, off_t length,
                           std::size_t len, int prot, int map_flags, void* addr, void** out) {
      { sys.memfd_create(name, flags) } noexcept -> std::same_as<int>;
      { sys.ftruncate(fd, length) } noexcept -> std::same_as<int>;
      { sys.mmap(len, prot, map_flags, fd, length, out) } noexcept -> std::same_as<int>;
      { sys.munmap(addr, len) } noexcept -> std::same_as<int>;
    };

/// The real calls (glibc wrappers), errno turned into a negative return value.
struct real_memory_sys : real_sys {
  static int memfd_create(const char* name, unsigned flags) noexcept {
    const int r = ::memfd_create(name, flags);
    return r < 0 ? -errno : r;
  }
  static int ftruncate(int fd, off_t length) noexcept {
    return ::ftruncate(fd, length) < 0 ? -errno : 0;
  }
  static int mmap(std::size_t len, int prot, int flags, int fd, off_t offset, void** out) noexcept {
    void* p = ::mmap(nullptr, len, prot, flags, fd, offset);
    if (p == MAP_FAILED) return -errno;
    *out = p;
    return 0;
  }
  static int munmap(void* addr, std::size_t len) noexcept {
    return ::munmap(addr, len) < 0 ? -errno : 0;
  }
};
static_assert(memory_sys_api<real_memory_sys>);

/// One region of guest RAM as the front-end describes it to a back-end: the fields of a
/// vhost-user memory region (digest §2) and the fd to send with it. `user_addr` is the
/// front-end's own virtual address of the region's first byte (what SET_VRING_ADDR addresses are
/// translated through); the fd is still owned by the RAM object.
struct shared_ram_region {
  int fd = -1;
  std::uint64_t guest_addr = 0;
  std::uint64_t size = 0;
  std::uint64_t user_addr = 0;
  std::uint64_t mmap_offset = 0;
  friend constexpr bool operator==(const shared_ram_region&, const shared_ram_region&) noexcept =
      default;
};

/// Where one region goes: its guest-physical address and size (non-zero).
struct ram_layout {
  gpa guest_addr{0};
  std::uint64_t size = 0;
};

/// Regions start at multiples of this in the file: the largest common page size (arm64 64 KiB),
/// so that a back-end that maps each region at its mmap_offset (rust-vmm) can, and the one that
/// maps from offset 0 (libvhost-user, Vireo's) does not care.
inline constexpr std::uint64_t ram_region_alignment = 64 * 1024;

/// Guest RAM in one memfd (close-on-exec, sealing allowed, no seal set), mapped once
/// MAP_SHARED | PROT_READ | PROT_WRITE, holding up to MaxRegions regions laid out one after the
/// other in the file (each at a multiple of ram_region_alignment).
/// memory() is the guest-memory model for driver queues and front-ends; regions() is what
/// SET_MEM_TABLE / ADD_MEM_REG send. Move-only; the mapping and the fd go with the object, and a
/// move keeps the mapping where it is, but memory() moves with the object: build queues over it
/// only once it has its final place. No heap.
template <memory_sys_api Sys = real_memory_sys, std::size_t MaxRegions = 8>
class basic_memfd_guest_ram {
  static_assert(MaxRegions >= 1);

 public:
  using memory_type = region_table<MaxRegions>;
  static constexpr std::size_t max_regions = MaxRegions;

  /// Create the memfd, size it, map it and lay `layout` out in it. Regions must not overlap in
  /// guest-physical space. The file's size is the sum of the region sizes, each rounded up to
  /// ram_region_alignment; memfd pages are allocated only when touched.
  /// Errors: invalid_argument (no region, more than MaxRegions, a size of 0), address_overflow
  /// (a guest range wraps, or the file would exceed 2^63 bytes), region_overlap, and the errno
  /// of memfd_create / ftruncate / mmap (errc_from_errno; ENOMEM: host_io_error).
  [[nodiscard]] static result<basic_memfd_guest_ram> create(std::span<const ram_layout> layout,
                                                            Sys sys = Sys{}) noexcept {
    if (layout.empty() || layout.size() > MaxRegions) return errc::invalid_argument;
    std::array<std::uint64_t, MaxRegions> offsets{};
    std::uint64_t file_size = 0;
    constexpr std::uint64_t max_file = std::uint64_t{1} << 62;  // off_t is signed; keep headroom
    for (std::size_t i = 0; i < layout.size(); ++i) {
      const std::uint64_t size = layout[i].size;
      if (size == 0) return errc::invalid_argument;
      if (size - 1 > UINT64_MAX - layout[i].guest_addr.raw()) return errc::address_overflow;
      if (size > max_file - file_size) return errc::address_overflow;
      offsets[i] = file_size;
      // Cannot overflow: file_size + size <= 2^62, and the round-up adds less than 2^16.
      file_size = (file_size + size + ram_region_alignment - 1) / ram_region_alignment *
                  ram_region_alignment;
    }
    // Sealing allowed: a back-end may add F_SEAL_SHRINK so that the file cannot be cut under its
    // mapping (QEMU's memory-backend-memfd seals too); the front-end never resizes it.
    const int fd = sys.memfd_create("vireo-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return errc_from_errno(-fd);
    basic_memfd_guest_ram ram{basic_unique_fd<Sys>{fd, sys}};
    if (const int r = sys.ftruncate(fd, static_cast<off_t>(file_size)); r < 0)
      return errc_from_errno(-r);
    void* base = nullptr;
    if (const int r = sys.mmap(static_cast<std::size_t>(file_size), PROT_READ | PROT_WRITE,
                               MAP_SHARED, fd, 0, &base);
        r < 0)
      return errc_from_errno(-r);
    ram.base_ = static_cast<std::byte*>(base);
    ram.file_size_ = file_size;
    for (std::size_t i = 0; i < layout.size(); ++i) {
      std::byte* host = ram.base_ + offsets[i];
      VIREO_TRY(ram.table_.add(::vireo::memory_region{layout[i].guest_addr, layout[i].size, host,
                                                      access::read_write}));
      ram.regions_[i] = shared_ram_region{fd, layout[i].guest_addr.raw(), layout[i].size,
                                          reinterpret_cast<std::uintptr_t>(host), offsets[i]};
    }
    ram.count_ = layout.size();
    return ram;
  }

  basic_memfd_guest_ram(basic_memfd_guest_ram&& o) noexcept
      : fd_(std::move(o.fd_)), base_(std::exchange(o.base_, nullptr)),
        file_size_(std::exchange(o.file_size_, 0)), table_(o.table_), regions_(o.regions_),
        count_(std::exchange(o.count_, 0)) {
    o.table_.clear();
  }
  basic_memfd_guest_ram& operator=(basic_memfd_guest_ram&& o) noexcept {
    if (this != &o) {
      unmap();
      fd_ = std::move(o.fd_);
      base_ = std::exchange(o.base_, nullptr);
      file_size_ = std::exchange(o.file_size_, 0);
      table_ = o.table_;
      o.table_.clear();
      regions_ = o.regions_;
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  basic_memfd_guest_ram(const basic_memfd_guest_ram&) = delete;
  basic_memfd_guest_ram& operator=(const basic_memfd_guest_ram&) = delete;
  ~basic_memfd_guest_ram() { unmap(); }

  /// The guest memory model over the mapping (guest_memory: read/write/map/load_u16/store_u16).
  [[nodiscard]] memory_type& memory() noexcept { return table_; }
  [[nodiscard]] const memory_type& memory() const noexcept { return table_; }

  /// Every region, in the order create() was given them, as a front-end sends them.
  [[nodiscard]] std::span<const shared_ram_region> regions() const noexcept {
    return {regions_.data(), count_};
  }
  /// The memfd (still owned) and its size in bytes.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] std::uint64_t file_size() const noexcept { return file_size_; }

  /// The front-end user address of guest address `a` (for a range of `len` bytes that lies in
  /// one region). Errors: out_of_bounds (not inside one region), address_overflow.
  [[nodiscard]] result<std::uint64_t> user_address(gpa a, std::uint64_t len = 1) const noexcept {
    if (len != 0 && len - 1 > UINT64_MAX - a.raw()) return errc::address_overflow;
    for (std::size_t i = 0; i < count_; ++i) {
      const shared_ram_region& r = regions_[i];
      if (a.raw() >= r.guest_addr && range_fits(a.raw() - r.guest_addr, len, r.size))
        return r.user_addr + (a.raw() - r.guest_addr);
    }
    return errc::out_of_bounds;
  }

 private:
  explicit basic_memfd_guest_ram(basic_unique_fd<Sys> fd) noexcept : fd_(std::move(fd)) {}

  void unmap() noexcept {
    if (base_ != nullptr) (void)fd_.sys().munmap(base_, static_cast<std::size_t>(file_size_));
    base_ = nullptr;
    file_size_ = 0;
    count_ = 0;
    table_.clear();
    fd_.reset();
  }

  basic_unique_fd<Sys> fd_;
  std::byte* base_ = nullptr;
  std::uint64_t file_size_ = 0;
  memory_type table_{};
  std::array<shared_ram_region, MaxRegions> regions_{};
  std::size_t count_ = 0;
};

/// Guest RAM over the real system calls.
template <std::size_t MaxRegions = 8>
using memfd_guest_ram = basic_memfd_guest_ram<real_memory_sys, MaxRegions>;

}  // namespace linux_host
VIREO_NAMESPACE_END
