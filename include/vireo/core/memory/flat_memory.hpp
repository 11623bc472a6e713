// SPDX-License-Identifier: Apache-2.0
// flat_memory: guest memory that is one host buffer at one guest address (tests, fuzzers, benches,
// co-processors with a single shared window).
#pragma once

#include <cstring>

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN

class flat_memory {
 public:
  constexpr flat_memory() noexcept = default;
  /// Guest addresses [base, base + host.size()) map to `host`.
  constexpr explicit flat_memory(bytes host, gpa base = gpa{0}) noexcept
      : host_(host), base_(base.raw()) {}

  [[nodiscard]] constexpr gpa base() const noexcept { return gpa{base_}; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return host_.size(); }
  [[nodiscard]] constexpr bytes host() const noexcept { return host_; }

  [[nodiscard]] result<bytes> map(gpa a, std::size_t len, access) noexcept {
    auto off = offset_of(a, len);
    if (VIREO_UNLIKELY(!off)) return off.error();
    return host_.subspan(*off, len);
  }
  [[nodiscard]] result<void> read(gpa a, bytes out) noexcept {
    auto off = offset_of(a, out.size());
    if (VIREO_UNLIKELY(!off)) return off.error();
    if (!out.empty()) std::memcpy(out.data(), host_.data() + *off, out.size());
    return ok();
  }
  [[nodiscard]] result<void> write(gpa a, const_bytes in) noexcept {
    auto off = offset_of(a, in.size());
    if (VIREO_UNLIKELY(!off)) return off.error();
    if (!in.empty()) std::memcpy(host_.data() + *off, in.data(), in.size());
    return ok();
  }
  [[nodiscard]] result<std::uint16_t> load_u16(gpa a, std::memory_order order) noexcept {
    if (VIREO_UNLIKELY((a.raw() & 1) != 0)) return errc::misaligned;
    auto off = offset_of(a, 2);
    if (VIREO_UNLIKELY(!off)) return off.error();
    if (VIREO_UNLIKELY(!detail::is_aligned(host_.data() + *off, 2))) return errc::misaligned;
    return detail::atomic_load_le16(host_.data() + *off, order);
  }
  [[nodiscard]] result<void> store_u16(gpa a, std::uint16_t v, std::memory_order order) noexcept {
    if (VIREO_UNLIKELY((a.raw() & 1) != 0)) return errc::misaligned;
    auto off = offset_of(a, 2);
    if (VIREO_UNLIKELY(!off)) return off.error();
    if (VIREO_UNLIKELY(!detail::is_aligned(host_.data() + *off, 2))) return errc::misaligned;
    detail::atomic_store_le16(host_.data() + *off, v, order);
    return ok();
  }

 private:
  [[nodiscard]] VIREO_ALWAYS_INLINE result<std::size_t> offset_of(gpa a, std::size_t len) const noexcept {
    // One wrapping subtraction covers "below base" too (it wraps to a huge offset), and a range
    // that fits inside the buffer cannot overflow: the common case costs two compares.
    const std::uint64_t off = a.raw() - base_;
    if (VIREO_LIKELY(range_fits(off, len, host_.size()))) return static_cast<std::size_t>(off);
    return range_error(a, len);
  }
  /// Out of line, so that the hot path keeps nothing alive for it.
  [[nodiscard]] static VIREO_NOINLINE errc range_error(gpa a, std::size_t len) noexcept {
    // The last byte (a + len - 1) must exist: a range may end exactly at 2^64.
    if (len != 0 && len - 1 > UINT64_MAX - a.raw()) return errc::address_overflow;
    return errc::out_of_bounds;
  }

  bytes host_{};
  std::uint64_t base_ = 0;
};

static_assert(guest_memory<flat_memory>);

VIREO_NAMESPACE_END
