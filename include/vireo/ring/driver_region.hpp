// SPDX-License-Identifier: Apache-2.0
// Guest memory a front-end owns for its request headers, status bytes and bounce buffers: one
// range, checked once, then addressed by offsets the front-end computes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "vireo/core/config.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// A range [base, base + size) of guest memory that one front-end owns. The device reaches it
/// only through the buffers the front-end queues; nothing else may use it, and it must not
/// overlap the rings or another front-end's region (not checkable here: the owner lays it out).
class driver_region {
 public:
  constexpr driver_region() noexcept = default;
  constexpr driver_region(gpa base, std::uint64_t size) noexcept : base_(base), size_(size) {}

  [[nodiscard]] constexpr gpa base() const noexcept { return base_; }
  [[nodiscard]] constexpr std::uint64_t size() const noexcept { return size_; }

  /// Check that the range holds at least `needed` bytes and is guest memory that `mem` lets the
  /// driver read and write. A range that spans several memory regions is fine: front-ends copy
  /// through read() and write(), never through a mapping.
  /// Errors: no_space (size below needed), out_of_bounds (wider than the host's address space),
  /// and what mem.map() reports for a range outside guest memory, wrapping past 2^64 or without
  /// read-write access.
  template <guest_memory Memory>
  [[nodiscard]] result<void> check(Memory& mem, std::uint64_t needed) const noexcept {
    if (size_ < needed) return errc::no_space;
    if (size_ == 0) return ok();
    if (size_ > std::numeric_limits<std::size_t>::max()) return errc::out_of_bounds;
    auto m = mem.map(base_, static_cast<std::size_t>(size_), access::read_write);
    if (!m && m.error() != errc::not_contiguous) return m.error();
    return ok();
  }

  /// The address `offset` bytes in. Precondition: offset < size() (the front-end computes
  /// offsets from the layout that check() proved fits).
  [[nodiscard]] constexpr gpa at(std::uint64_t offset) const noexcept {
    VIREO_ASSERT(offset < size_);
    return base_.offset(offset);  // offset < size_, and check() proved base + size fits
  }

 private:
  gpa base_{0};
  std::uint64_t size_ = 0;
};

}  // namespace ring
VIREO_NAMESPACE_END
