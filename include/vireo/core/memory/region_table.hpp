// SPDX-License-Identifier: Apache-2.0
// region_table: guest memory as a sorted table of host-mapped regions (what vhost-user
// SET_MEM_TABLE / ADD_MEM_REG describe). Fixed capacity, no heap.
#pragma once

#include <array>
#include <cstring>

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN

/// One guest-physical range backed by host memory.
struct memory_region {
  gpa guest_addr{};
  std::uint64_t size = 0;
  std::byte* host = nullptr;        ///< host view of the first byte
  access allowed = access::read_write;
};

/// Up to `MaxRegions` non-overlapping regions, kept sorted by guest address. Lookups are a short
/// linear scan for small tables and a binary search for large ones.
/// Not thread-safe against itself: change the table only while no queue uses it, then remap.
template <std::size_t MaxRegions = 64>
class region_table {
  static_assert(MaxRegions > 0);

 public:
  static constexpr std::size_t capacity = MaxRegions;

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] const memory_region& operator[](std::size_t i) const noexcept {
    VIREO_ASSERT(i < count_);
    return regions_[i];
  }

  /// Add a region. Errors: invalid_argument (size 0 or null host), address_overflow (guest range
  /// wraps), region_overlap, table_full.
  [[nodiscard]] result<void> add(const memory_region& r) noexcept {
    if (r.size == 0 || r.host == nullptr) return errc::invalid_argument;
    if (r.size - 1 > UINT64_MAX - r.guest_addr.raw()) return errc::address_overflow;
    if (count_ == MaxRegions) return errc::table_full;
    std::size_t pos = 0;
    while (pos < count_ && regions_[pos].guest_addr < r.guest_addr) ++pos;
    if (pos > 0 && last_byte(regions_[pos - 1]) >= r.guest_addr.raw()) return errc::region_overlap;
    if (pos < count_ && last_byte(r) >= regions_[pos].guest_addr.raw()) return errc::region_overlap;
    for (std::size_t i = count_; i > pos; --i) regions_[i] = regions_[i - 1];
    regions_[pos] = r;
    ++count_;
    return ok();
  }

  /// Remove the region that starts at `guest_addr` with exactly `size` bytes.
  /// Errors: not_found.
  [[nodiscard]] result<void> remove(gpa guest_addr, std::uint64_t size) noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      if (regions_[i].guest_addr == guest_addr && regions_[i].size == size) {
        for (std::size_t j = i; j + 1 < count_; ++j) regions_[j] = regions_[j + 1];
        --count_;
        return ok();
      }
    }
    return errc::not_found;
  }

  void clear() noexcept { count_ = 0; }

  /// The region holding `a`, or nullptr.
  [[nodiscard]] const memory_region* find(gpa a) const noexcept {
    if (count_ <= 8) {
      for (std::size_t i = 0; i < count_; ++i)
        if (contains(regions_[i], a.raw())) return &regions_[i];
      return nullptr;
    }
    std::size_t lo = 0, hi = count_;  // first region whose start is > a
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (regions_[mid].guest_addr.raw() <= a.raw()) lo = mid + 1;
      else hi = mid;
    }
    if (lo == 0) return nullptr;
    return contains(regions_[lo - 1], a.raw()) ? &regions_[lo - 1] : nullptr;
  }

  [[nodiscard]] result<bytes> map(gpa a, std::size_t len, access acc) noexcept {
    if (len != 0 && len - 1 > UINT64_MAX - a.raw()) return errc::address_overflow;
    const memory_region* r = find(a);
    if (r == nullptr) return len == 0 ? result<bytes>{bytes{}} : result<bytes>{errc::out_of_bounds};
    if (!allows(r->allowed, acc)) return errc::access_denied;
    const std::uint64_t off = a.raw() - r->guest_addr.raw();
    if (len <= r->size - off) return bytes{r->host + off, len};
    // Valid but split across regions, or running off the end of memory?
    VIREO_TRY(walk(a, len, acc, [](const memory_region&, std::uint64_t, std::uint64_t, std::size_t) {}));
    return errc::not_contiguous;
  }

  [[nodiscard]] result<void> read(gpa a, bytes out) noexcept {
    return walk(a, out.size(), access::read,
                [&](const memory_region& r, std::uint64_t off, std::uint64_t n, std::size_t done) {
                  std::memcpy(out.data() + done, r.host + off, static_cast<std::size_t>(n));
                });
  }
  [[nodiscard]] result<void> write(gpa a, const_bytes in) noexcept {
    return walk(a, in.size(), access::write,
                [&](const memory_region& r, std::uint64_t off, std::uint64_t n, std::size_t done) {
                  std::memcpy(r.host + off, in.data() + done, static_cast<std::size_t>(n));
                });
  }
  [[nodiscard]] result<std::uint16_t> load_u16(gpa a, std::memory_order order) noexcept {
    auto p = word(a, access::read);
    if (!p) return p.error();
    return detail::atomic_load_le16(*p, order);
  }
  [[nodiscard]] result<void> store_u16(gpa a, std::uint16_t v, std::memory_order order) noexcept {
    auto p = word(a, access::write);
    if (!p) return p.error();
    detail::atomic_store_le16(*p, v, order);
    return ok();
  }

 private:
  static constexpr std::uint64_t last_byte(const memory_region& r) noexcept {
    return r.guest_addr.raw() + (r.size - 1);  // cannot wrap: add() rejected such regions
  }
  static constexpr bool contains(const memory_region& r, std::uint64_t a) noexcept {
    return a >= r.guest_addr.raw() && a - r.guest_addr.raw() < r.size;
  }

  result<std::byte*> word(gpa a, access acc) noexcept {
    if ((a.raw() & 1) != 0) return errc::misaligned;
    auto s = map(a, 2, acc);
    if (!s) return s.error();  // not_contiguous if a region ends at an odd address
    if (!detail::is_aligned(s->data(), 2)) return errc::misaligned;
    return s->data();
  }

  /// Visit the pieces of [a, a + len) region by region; checks the whole range before copying
  /// anything, so a failed access has no partial effect.
  template <typename Visit>
  result<void> walk(gpa a, std::uint64_t len, access acc, Visit&& visit) noexcept {
    if (len != 0 && len - 1 > UINT64_MAX - a.raw()) return errc::address_overflow;
    for (int pass = 0; pass < 2; ++pass) {
      std::uint64_t cur = a.raw(), left = len;
      std::size_t done = 0;
      while (left > 0) {
        const memory_region* r = find(gpa{cur});
        if (r == nullptr) return errc::out_of_bounds;
        if (!allows(r->allowed, acc)) return errc::access_denied;
        const std::uint64_t off = cur - r->guest_addr.raw();
        const std::uint64_t n = left < r->size - off ? left : r->size - off;
        if (pass == 1) visit(*r, off, n, done);
        cur += n;  // wraps to 0 only after the last piece of a range ending at 2^64
        left -= n;
        done += static_cast<std::size_t>(n);
      }
    }
    return ok();
  }

  std::array<memory_region, MaxRegions> regions_{};
  std::size_t count_ = 0;
};

static_assert(guest_memory<region_table<>>);

VIREO_NAMESPACE_END
