// SPDX-License-Identifier: Apache-2.0
// Storage for "a split or a packed queue, chosen at run time" without virtual calls.
#pragma once

#include <new>
#include <type_traits>
#include <utility>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring::detail {

/// Holds exactly one of Split or Packed (both constructed from a Memory&) and dispatches with
/// one predictable branch. Queue objects hold host pointers into mapped rings, so this is
/// neither copied nor moved: it lives where the device or driver object lives.
template <typename Split, typename Packed>
class layout_union {
  static_assert(std::is_trivially_destructible_v<Split> && std::is_trivially_destructible_v<Packed>,
                "queue types own no resources; switching layouts just overwrites the storage");

 public:
  template <typename Memory>
  explicit layout_union(Memory& mem) noexcept : split_(mem) {}
  layout_union(const layout_union&) = delete;
  layout_union& operator=(const layout_union&) = delete;

  [[nodiscard]] bool packed() const noexcept { return packed_; }

  /// Replace the held queue with a fresh, unconfigured one of the requested layout.
  template <typename Memory>
  void select(bool packed, Memory& mem) noexcept {
    if (packed) ::new (static_cast<void*>(&packed_q_)) Packed(mem);
    else ::new (static_cast<void*>(&split_)) Split(mem);
    packed_ = packed;
  }

  template <typename F>
  VIREO_ALWAYS_INLINE decltype(auto) visit(F&& f) {
    return packed_ ? std::forward<F>(f)(packed_q_) : std::forward<F>(f)(split_);
  }
  template <typename F>
  VIREO_ALWAYS_INLINE decltype(auto) visit(F&& f) const {
    return packed_ ? std::forward<F>(f)(packed_q_) : std::forward<F>(f)(split_);
  }

 private:
  union {
    Split split_;
    Packed packed_q_;
  };
  bool packed_ = false;
};

}  // namespace ring::detail
VIREO_NAMESPACE_END
