// SPDX-License-Identifier: Apache-2.0
// A fixed bounce area for the i2c device model: host bytes for the bufs of one group that cannot
// be handed to the bus as one view of guest memory (split across segments, or not mappable).
#pragma once

#include <array>
#include <cstddef>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

/// A bump allocator over Bytes bytes held inline (no heap). take() hands out disjoint pieces
/// until release() starts over; one group's messages share it, so they never alias each other.
template <std::size_t Bytes>
class bounce_area {
 public:
  static constexpr std::size_t capacity = Bytes;

  /// The next `n` bytes. Errors: i2c_bounce_exhausted when fewer than `n` are left (nothing is
  /// taken then).
  [[nodiscard]] result<bytes> take(std::size_t n) noexcept {
    if (n > Bytes - used_) return errc::i2c_bounce_exhausted;  // used_ <= Bytes: no wrap
    bytes piece{storage_.data() + used_, n};
    used_ += n;
    return piece;
  }
  /// Give every piece back (the group they served is complete).
  void release() noexcept { used_ = 0; }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }

 private:
  std::array<std::byte, Bytes> storage_{};
  std::size_t used_ = 0;
};

}  // namespace i2c
VIREO_NAMESPACE_END
