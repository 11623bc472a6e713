// SPDX-License-Identifier: Apache-2.0
// For the examples: lay virtqueues and buffers out in one guest RAM buffer, front to back, the
// way a VMM (or a guest driver) places them.
#pragma once

#include <vireo/core/features.hpp>
#include <vireo/core/guest_memory.hpp>
#include <vireo/ring/layout.hpp>
#include <vireo/ring/queue_api.hpp>
#include <vireo/ring/queue_config.hpp>

#include <cstddef>
#include <cstdint>

namespace example {

/// Hands out aligned pieces of a guest RAM of `size` bytes at `base`, front to back.
class ram_planner {
 public:
  ram_planner(vireo::gpa base, std::size_t size) : base_(base), size_(size) {}
  vireo::gpa take(std::size_t bytes, std::size_t align) {
    at_ = (at_ + align - 1) / align * align;
    const vireo::gpa g = base_.offset(at_);
    at_ += bytes;
    return g;
  }
  [[nodiscard]] bool fits() const { return at_ <= size_; }

 private:
  vireo::gpa base_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// Lay one virtqueue out: §2.7.1 (split: descriptor table, available ring, used ring) or
/// §2.8.10.1 (packed: descriptor ring, driver and device event suppression structures).
inline vireo::ring::queue_config plan_queue(ram_planner& ram, std::uint16_t size,
                                            const vireo::feature_set& f) {
  namespace ring = vireo::ring;
  if (ring::layout_of(f) == ring::queue_layout::packed) {
    namespace L = ring::packed_layout;
    const vireo::gpa desc = ram.take(L::desc_ring_bytes(size), L::desc_align);
    const vireo::gpa drv = ram.take(L::event_bytes, L::event_align);
    const vireo::gpa dev = ram.take(L::event_bytes, L::event_align);
    return {size, desc, drv, dev, f};
  }
  namespace L = ring::split_layout;
  const vireo::gpa desc = ram.take(L::desc_table_bytes(size), L::desc_align);
  const vireo::gpa avail = ram.take(L::avail_bytes(size), L::avail_align);
  const vireo::gpa used = ram.take(L::used_bytes(size), L::used_align);
  return {size, desc, avail, used, f};
}

}  // namespace example
