// SPDX-License-Identifier: Apache-2.0
// The GET_LINE_NAMES blob (virtio §5.18.6.1): one NUL-terminated 7-bit ASCII name per line, in
// line order. Build one into a caller's buffer, or check one and walk its names zero-copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// ngpio is a le16 (§5.18.4), so a device has at most this many lines and names.
inline constexpr std::size_t max_lines = 0xffff;
/// gpio_names_size is a le32 (§5.18.4): a blob is below 2^32 bytes.
inline constexpr std::uint64_t max_names_size = 0xffff'ffff;

namespace detail {

/// §5.18.6.1: names are 7-bit ASCII, and NUL is the terminator, so it cannot occur inside one.
[[nodiscard]] constexpr bool valid_name_byte(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  return b != 0 && b < 0x80;
}

/// The name starting at `pos`: up to the next NUL, or to the end of the blob if there is none.
/// Bounded by the blob whatever its bytes are now, so a blob in shared memory that changed after
/// it was checked gives wrong names, never an access outside it.
[[nodiscard]] constexpr std::string_view name_at(std::string_view blob, std::size_t pos) noexcept {
  // Views built by hand, not with substr(): its range check would pull in a throwing helper.
  if (pos >= blob.size()) return {blob.data() + blob.size(), 0};  // empty, at the blob's end
  const std::size_t nul = blob.find('\0', pos);
  const std::size_t end = nul == std::string_view::npos ? blob.size() : nul;
  return {blob.data() + pos, end - pos};
}

}  // namespace detail

/// Size in bytes of the blob holding `names`, one per line in line order (an empty name stands
/// for an unnamed line): the sum of each name's length plus its terminator. This is the value
/// of gpio_names_size. No names give 0, which the config reports as "names not supported".
/// Errors: gpio_name_invalid (a byte that is NUL or not 7-bit ASCII, §5.18.6.1),
/// gpio_names_too_large (more than 65535 names, or 2^32 bytes or more).
/// Does not check that non-empty names are unique (§5.18.6.9); check_unique() does.
[[nodiscard]] constexpr result<std::uint32_t> names_size(
    std::span<const std::string_view> names) noexcept {
  if (names.size() > max_lines) return errc::gpio_names_too_large;
  std::uint64_t total = 0;
  for (std::string_view n : names) {
    for (char c : n)
      if (!detail::valid_name_byte(c)) return errc::gpio_name_invalid;
    // n.size() is below 2^63 and total stays <= 2^32 here: the sum cannot wrap.
    total += n.size() + 1;
    if (total > max_names_size) return errc::gpio_names_too_large;
  }
  return static_cast<std::uint32_t>(total);
}

/// Write the blob for `names` to the front of `out` and return its size (names_size()).
/// Errors: those of names_size(), and no_space when `out` is smaller than that size. Nothing is
/// written on error. No heap; the caller sizes `out` with names_size().
[[nodiscard]] constexpr result<std::uint32_t> build_names(std::span<const std::string_view> names,
                                                          bytes out) noexcept {
  const auto size = names_size(names);
  if (!size) return size.error();
  if (out.size() < *size) return errc::no_space;
  std::size_t at = 0;
  for (std::string_view n : names) {
    for (char c : n) out[at++] = static_cast<std::byte>(static_cast<unsigned char>(c));
    out[at++] = std::byte{0};
  }
  return *size;
}

/// A checked names blob: `size()` names, walked front to back as std::string_view without
/// copying. It points into the blob it was parsed from, which must outlive it.
class names_view {
 public:
  /// Forward iteration over the names in line order; line() is the current line number.
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;  // operator* returns a value
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using reference = std::string_view;
    using pointer = void;

    constexpr iterator() noexcept = default;
    [[nodiscard]] constexpr std::string_view operator*() const noexcept {
      return detail::name_at(blob_, pos_);
    }
    constexpr iterator& operator++() noexcept {
      // Past this name and its terminator, clamped to the end of the blob.
      const std::size_t len = detail::name_at(blob_, pos_).size();
      pos_ = len + 1 <= blob_.size() - pos_ ? pos_ + len + 1 : blob_.size();
      ++line_;
      return *this;
    }
    constexpr iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    /// Iterators of one view are equal when they stand at the same line.
    friend constexpr bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.line_ == b.line_;
    }
    [[nodiscard]] constexpr std::uint32_t line() const noexcept { return line_; }
    /// Byte offset of the current name in the blob.
    [[nodiscard]] constexpr std::size_t offset() const noexcept { return pos_; }

   private:
    friend class names_view;
    constexpr iterator(std::string_view blob, std::size_t pos, std::uint32_t line) noexcept
        : blob_(blob), pos_(pos), line_(line) {}
    std::string_view blob_{};
    std::size_t pos_ = 0;
    std::uint32_t line_ = 0;
  };

  constexpr names_view() noexcept = default;

  /// Number of names (= ngpio).
  [[nodiscard]] constexpr std::size_t size() const noexcept { return count_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return count_ == 0; }
  /// Size of the blob in bytes (= gpio_names_size).
  [[nodiscard]] constexpr std::size_t size_bytes() const noexcept { return blob_.size(); }
  [[nodiscard]] constexpr std::string_view blob() const noexcept { return blob_; }

  [[nodiscard]] constexpr iterator begin() const noexcept { return {blob_, 0, 0}; }
  [[nodiscard]] constexpr iterator end() const noexcept {
    return {blob_, blob_.size(), static_cast<std::uint32_t>(count_)};
  }

  /// The name of line `gpio` (empty: unnamed). Walks the blob: O(size_bytes()).
  /// Errors: gpio_line_out_of_range when gpio >= size().
  [[nodiscard]] constexpr result<std::string_view> name(std::uint32_t gpio) const noexcept {
    if (gpio >= count_) return errc::gpio_line_out_of_range;
    auto it = begin();
    while (it.line() != gpio) ++it;
    return *it;
  }

  /// The line named `n`. Errors: not_found (also for an empty `n`: unnamed lines have no name).
  [[nodiscard]] constexpr result<std::uint16_t> find(std::string_view n) const noexcept {
    if (n.empty()) return errc::not_found;
    for (auto it = begin(); it != end(); ++it)
      if (*it == n) return static_cast<std::uint16_t>(it.line());
    return errc::not_found;
  }

 private:
  friend constexpr result<names_view> parse_names(std::string_view, std::uint16_t) noexcept;
  constexpr names_view(std::string_view blob, std::size_t count) noexcept
      : blob_(blob), count_(count) {}
  std::string_view blob_{};
  std::size_t count_ = 0;
};

/// Check a names blob for `ngpio` lines (§5.18.6.1) and view it: exactly `ngpio` names, each
/// NUL-terminated, in 7-bit ASCII, and no byte after the last terminator, so the blob's size is
/// exactly gpio_names_size. One pass, O(blob.size()); no heap.
/// Errors, for the first fault from the front: gpio_name_invalid (a byte of 0x80 or more),
/// gpio_names_truncated (the blob ends before the ngpio-th terminator), gpio_names_trailing
/// (bytes after it), gpio_names_too_large (a blob of 2^32 bytes or more).
/// Does not check uniqueness; see check_unique(). Linux (virtio_gpio_get_names) is laxer: it
/// overwrites the last byte with NUL and ignores trailing bytes; this parser rejects both.
[[nodiscard]] constexpr result<names_view> parse_names(std::string_view blob,
                                                       std::uint16_t ngpio) noexcept {
  if (blob.size() > max_names_size) return errc::gpio_names_too_large;
  std::size_t pos = 0;
  for (std::uint32_t line = 0; line < ngpio; ++line) {
    while (pos < blob.size() && blob[pos] != '\0') {
      if (static_cast<unsigned char>(blob[pos]) >= 0x80) return errc::gpio_name_invalid;
      ++pos;
    }
    if (pos == blob.size()) return errc::gpio_names_truncated;
    ++pos;  // the terminator
  }
  if (pos != blob.size()) return errc::gpio_names_trailing;
  return names_view{blob, ngpio};
}

/// parse_names() over raw bytes, e.g. the value[] of a GET_LINE_NAMES response.
[[nodiscard]] inline result<names_view> parse_names(const_bytes blob,
                                                    std::uint16_t ngpio) noexcept {
  return parse_names(std::string_view{reinterpret_cast<const char*>(blob.data()), blob.size()},
                     ngpio);
}

namespace detail {

/// Heapsort of name offsets. Every index stays inside `v` whatever `less` answers, so a blob
/// that changes while it is sorted (shared memory) cannot push it out of bounds. No heap.
template <typename Less>
constexpr void heap_sort(std::span<std::uint32_t> v, Less less) noexcept {
  const std::size_t n = v.size();
  auto sift_down = [&](std::size_t root, std::size_t end) {
    while (true) {
      std::size_t child = 2 * root + 1;  // root < end <= 65535: no overflow
      if (child >= end) return;
      if (child + 1 < end && less(v[child], v[child + 1])) ++child;
      if (!less(v[root], v[child])) return;
      const std::uint32_t t = v[root];
      v[root] = v[child];
      v[child] = t;
      root = child;
    }
  };
  for (std::size_t i = n / 2; i-- > 0;) sift_down(i, n);
  for (std::size_t end = n; end > 1;) {
    --end;
    const std::uint32_t t = v[0];
    v[0] = v[end];
    v[end] = t;
    sift_down(0, end);
  }
}

}  // namespace detail

/// Check that no two lines share a non-empty name (§5.18.6.1 and §5.18.6.9: names MUST be
/// unique where present; any number of lines may be unnamed). `scratch` must hold at least
/// names.size() entries; its contents are overwritten. O(n log n) comparisons; no heap.
/// Errors: gpio_name_duplicate, invalid_argument (scratch too small).
[[nodiscard]] constexpr result<void> check_unique(const names_view& names,
                                                  std::span<std::uint32_t> scratch) noexcept {
  if (scratch.size() < names.size()) return errc::invalid_argument;
  const std::string_view blob = names.blob();
  std::size_t named = 0;
  for (auto it = names.begin(); it != names.end(); ++it) {
    // Offsets stay within the blob, which is below 2^32 bytes (parse_names): they fit 32 bits.
    if (!(*it).empty()) scratch[named++] = static_cast<std::uint32_t>(it.offset());
  }
  const std::span<std::uint32_t> offs = scratch.first(named);
  const auto at = [blob](std::uint32_t off) { return detail::name_at(blob, off); };
  detail::heap_sort(offs, [&](std::uint32_t a, std::uint32_t b) { return at(a) < at(b); });
  for (std::size_t i = 1; i < offs.size(); ++i)
    if (at(offs[i - 1]) == at(offs[i])) return errc::gpio_name_duplicate;
  return ok();
}

}  // namespace gpio
VIREO_NAMESPACE_END
