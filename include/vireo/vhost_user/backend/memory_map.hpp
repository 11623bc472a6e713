// SPDX-License-Identifier: Apache-2.0
// The back-end's view of guest memory: the regions SET_MEM_TABLE / ADD_MEM_REG describe, mapped
// through a caller-supplied region_mapper (mmap in a real back-end, host buffers in tests), kept
// as a region_table for the queues plus the front-end user addresses that SET_VRING_ADDR uses
// (digest §6.2, pitfall 9). No heap, no OS: fds are ints.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "vireo/core/guest_memory.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// What maps a region's fd into the back-end. `map(fd, size, mmap_offset)` returns the host address
/// of the region's first byte (the byte at `mmap_offset` of the file; a real mapper maps
/// `mmap_offset + size` bytes from file offset 0, as libvhost-user does, so the offset need not be
/// page aligned). `unmap(host, size, mmap_offset)` undoes exactly one successful map. The mapper
/// never closes `fd`: the session reports it for closing once the map call returned.
template <typename M>
concept region_mapper =
    requires(M& m, int fd, std::uint64_t size, std::uint64_t offset, std::byte* host) {
      { m.map(fd, size, offset) } -> std::same_as<result<std::byte*>>;
      { m.unmap(host, size, offset) } -> std::same_as<void>;
    };

/// One mapped region as the front-end described it.
struct mapped_region {
  std::uint64_t guest_addr = 0;
  std::uint64_t size = 0;
  std::uint64_t user_addr = 0;    ///< front-end (QEMU) virtual address of the first byte
  std::uint64_t mmap_offset = 0;
  std::byte* host = nullptr;

  [[nodiscard]] constexpr bool holds_user(std::uint64_t u) const noexcept {
    return u >= user_addr && u - user_addr < size;
  }
  [[nodiscard]] constexpr bool overlaps(const mapped_region& o) const noexcept {
    const bool gpa = guest_addr <= o.guest_addr + (o.size - 1) &&
                     o.guest_addr <= guest_addr + (size - 1);
    const bool user = user_addr <= o.user_addr + (o.size - 1) &&
                      o.user_addr <= user_addr + (size - 1);
    return gpa || user;
  }
};

/// Up to `MaxSlots` mapped regions, non-overlapping in guest-physical and in user address space.
/// Sizes and ranges were checked by the codec (non-zero, no wrap), so the sums above cannot wrap.
template <std::size_t MaxSlots>
class guest_map {
 public:
  static constexpr std::size_t capacity = MaxSlots;

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] const mapped_region& operator[](std::size_t i) const noexcept {
    VIREO_ASSERT(i < count_);
    return regions_[i];
  }
  /// The guest memory the queues read and write.
  [[nodiscard]] region_table<MaxSlots>& table() noexcept { return table_; }
  [[nodiscard]] const region_table<MaxSlots>& table() const noexcept { return table_; }

  /// Errors: region_overlap (guest or user range meets an existing region), table_full.
  [[nodiscard]] result<void> add(const mapped_region& r) noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (regions_[i].overlaps(r)) return errc::region_overlap;
    if (count_ == MaxSlots) return errc::table_full;
    VIREO_TRY(table_.add(
        ::vireo::memory_region{gpa{r.guest_addr}, r.size, r.host, access::read_write}));
    regions_[count_++] = r;
    return ok();
  }

  /// The index of the region with this guest address, size and user address (REM_MEM_REG
  /// matches on these three; the spec says mmap_offset is ignored), or `size()`.
  [[nodiscard]] std::size_t find(std::uint64_t guest_addr, std::uint64_t size,
                                 std::uint64_t user_addr) const noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (regions_[i].guest_addr == guest_addr && regions_[i].size == size &&
          regions_[i].user_addr == user_addr)
        return i;
    return count_;
  }

  /// Drop entry `i` from the table (the caller unmaps it).
  void erase(std::size_t i) noexcept {
    VIREO_ASSERT(i < count_);
    (void)table_.remove(gpa{regions_[i].guest_addr}, regions_[i].size);
    for (std::size_t j = i; j + 1 < count_; ++j) regions_[j] = regions_[j + 1];
    --count_;
  }

  /// The guest-physical address of front-end user address `u`. Errors: ring_not_mapped.
  [[nodiscard]] result<gpa> to_guest(std::uint64_t u) const noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (regions_[i].holds_user(u))
        return gpa{regions_[i].guest_addr + (u - regions_[i].user_addr)};
    return errc::ring_not_mapped;
  }

  /// Unmap every region through `m` and empty the map.
  template <region_mapper M>
  void unmap_all(M& m) noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      m.unmap(regions_[i].host, regions_[i].size, regions_[i].mmap_offset);
    count_ = 0;
    table_.clear();
  }

 private:
  std::array<mapped_region, MaxSlots> regions_{};
  std::size_t count_ = 0;
  region_table<MaxSlots> table_{};
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
