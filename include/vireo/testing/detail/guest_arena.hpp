// SPDX-License-Identifier: Apache-2.0
// The guest memory a mock driver owns: one 64-byte-aligned block seen at a guest address, ring
// areas at offsets the mock chooses, then a bump-allocated data arena. Test code: allocates.
#pragma once

#include <cstring>
#include <memory>
#include <new>

#include "vireo/core/memory/flat_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace testing::detail {

/// Shared by mock_split_driver and mock_packed_driver, whose public arena calls these are.
class guest_arena {
 public:
  [[nodiscard]] flat_memory& memory() noexcept { return mem_; }

  /// Reserve `len` bytes of guest memory for buffers (bump allocator; reset_arena() frees all).
  [[nodiscard]] gpa alloc(std::size_t len, std::size_t align = 8) {
    cursor_ = align_up(cursor_, align);
    VIREO_ASSERT(cursor_ + len <= arena_off_ + arena_bytes_);
    const gpa g = addr(cursor_);
    cursor_ += len;
    return g;
  }
  /// Copy `data` into fresh guest memory.
  [[nodiscard]] gpa put(const_bytes data) {
    const gpa g = alloc(data.size());
    if (!data.empty()) std::memcpy(host(g, data.size()).data(), data.data(), data.size());
    return g;
  }
  void reset_arena() noexcept { cursor_ = arena_off_; }
  /// Host view of guest range (asserts it is inside the mock's memory).
  [[nodiscard]] bytes host(gpa g, std::size_t len) {
    auto v = mem_.map(g, len, access::read_write);
    VIREO_ASSERT(v.has_value());
    return *v;
  }

 protected:
  /// Allocate [0, arena_off) for the rings plus `arena_bytes` of arena, zeroed, at `base`.
  void allocate(std::size_t arena_off, std::size_t arena_bytes, gpa base) {
    arena_off_ = arena_off;
    arena_bytes_ = arena_bytes;
    base_ = base;
    storage_.reset(new (std::align_val_t{64}) std::byte[arena_off + arena_bytes]());
    mem_ = flat_memory{bytes{storage_.get(), arena_off + arena_bytes}, base};
    cursor_ = arena_off;
  }
  static constexpr std::size_t align_up(std::size_t v, std::size_t a) noexcept {
    return (v + a - 1) & ~(a - 1);
  }
  [[nodiscard]] gpa addr(std::size_t off) const noexcept { return base_.offset(off); }
  /// Host byte at offset `off` of the block (ring fields the mock reads and writes raw).
  [[nodiscard]] std::byte* raw(std::size_t off) const noexcept { return storage_.get() + off; }

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
  };
  std::unique_ptr<std::byte[], aligned_delete> storage_;
  flat_memory mem_{};
  gpa base_{};
  std::size_t arena_off_ = 0, arena_bytes_ = 0, cursor_ = 0;
};

}  // namespace testing::detail
VIREO_NAMESPACE_END
