// SPDX-License-Identifier: Apache-2.0
// Framing of a Greybus manifest (greybus digest §5.1, §5.4 steps 1-2; Linux gb_manifest_parse
// and identify_descriptor): the header checks and the descriptor walk, zero-copy. What is left
// after framing (which descriptors make sense together) is validate.hpp's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/manifest/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

struct interface_fields {
  std::uint8_t vendor_string_id;   ///< 0 = no vendor string
  std::uint8_t product_string_id;  ///< 0 = no product string
  std::uint8_t features;           ///< bit 0: TimeSync
};
struct string_fields {
  std::uint8_t id;
  std::string_view text;  ///< `length` bytes, in place (UTF-8 per the spec; not checked)
};
struct bundle_fields {
  std::uint8_t id;
  std::uint8_t bundle_class;
};
struct cport_fields {
  std::uint16_t id;
  std::uint8_t bundle;
  std::uint8_t protocol;
};

namespace detail {
[[nodiscard]] constexpr std::uint8_t u8_at(const_bytes b, std::size_t at) noexcept {
  return at < b.size() ? static_cast<std::uint8_t>(b[at]) : std::uint8_t{0};
}
[[nodiscard]] constexpr std::uint16_t le16_at(const_bytes b, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(u8_at(b, at) | (unsigned{u8_at(b, at + 1)} << 8));
}
}  // namespace detail

/// One descriptor of a framed manifest: a view of its bytes (header included). The typed
/// accessors read fields at fixed offsets; framing guaranteed those bytes exist.
class descriptor_view {
 public:
  constexpr descriptor_view() noexcept = default;
  constexpr descriptor_view(const_bytes bytes, std::size_t offset) noexcept
      : bytes_(bytes), offset_(offset) {}

  [[nodiscard]] constexpr const_bytes bytes() const noexcept { return bytes_; }
  /// Offset from the start of the manifest.
  [[nodiscard]] constexpr std::size_t offset() const noexcept { return offset_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] constexpr std::uint8_t raw_type() const noexcept { return detail::u8_at(bytes_, 2); }
  [[nodiscard]] constexpr bool is(descriptor_type t) const noexcept {
    return raw_type() == static_cast<std::uint8_t>(t);
  }

  [[nodiscard]] constexpr interface_fields interface() const noexcept {
    return {detail::u8_at(bytes_, 4), detail::u8_at(bytes_, 5), detail::u8_at(bytes_, 6)};
  }
  [[nodiscard]] std::string_view string_text() const noexcept {
    const std::size_t len = detail::u8_at(bytes_, 4);
    if (bytes_.size() < string_descriptor_base_size + len) return {};
    return {reinterpret_cast<const char*>(bytes_.data()) + string_descriptor_base_size, len};
  }
  [[nodiscard]] string_fields string() const noexcept {
    return {detail::u8_at(bytes_, 5), string_text()};
  }
  [[nodiscard]] constexpr std::uint8_t string_id() const noexcept { return detail::u8_at(bytes_, 5); }
  [[nodiscard]] constexpr bundle_fields bundle() const noexcept {
    return {detail::u8_at(bytes_, 4), detail::u8_at(bytes_, 5)};
  }
  [[nodiscard]] constexpr cport_fields cport() const noexcept {
    return {detail::le16_at(bytes_, 4), detail::u8_at(bytes_, 6), detail::u8_at(bytes_, 7)};
  }

 private:
  const_bytes bytes_{};
  std::size_t offset_ = 0;
};

/// Walks the descriptors of a framed manifest front to back. Bounded by the buffer whatever
/// its bytes are now: a buffer changed after framing ends the walk early, never overreads.
class descriptor_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = descriptor_view;
  using difference_type = std::ptrdiff_t;

  constexpr descriptor_iterator() noexcept = default;
  constexpr descriptor_iterator(const_bytes manifest, std::size_t at) noexcept
      : m_(manifest), at_(at) { settle(); }

  [[nodiscard]] constexpr descriptor_view operator*() const noexcept {
    return {m_.subspan(at_, size_), at_};
  }
  constexpr descriptor_iterator& operator++() noexcept {
    at_ += size_;
    settle();
    return *this;
  }
  constexpr void operator++(int) noexcept { ++*this; }
  [[nodiscard]] constexpr bool operator==(const descriptor_iterator& o) const noexcept {
    return at_ == o.at_;
  }

 private:
  constexpr void settle() noexcept {
    size_ = 0;
    if (at_ >= m_.size()) {
      at_ = m_.size();
      return;
    }
    const std::size_t left = m_.size() - at_;
    const std::size_t size = detail::le16_at(m_, at_);
    if (left < descriptor_header_size || size < descriptor_header_size || size > left) {
      at_ = m_.size();
      return;
    }
    size_ = size;
  }

  const_bytes m_{};
  std::size_t at_ = 0;
  std::size_t size_ = 0;
};

/// Descriptor counts by type, and whether any descriptor is longer than its type needs.
struct descriptor_counts {
  std::size_t interfaces = 0;
  std::size_t strings = 0;
  std::size_t bundles = 0;
  std::size_t cports = 0;
  bool oversized = false;  ///< Linux only warns ("descriptor bigger than expected")
};

/// A manifest whose header and descriptor framing passed (frame_manifest()).
class manifest_frame {
 public:
  constexpr manifest_frame() noexcept = default;

  [[nodiscard]] constexpr const_bytes bytes() const noexcept { return m_; }
  [[nodiscard]] constexpr std::uint16_t size() const noexcept { return detail::le16_at(m_, 0); }
  [[nodiscard]] constexpr std::uint8_t version_major() const noexcept { return detail::u8_at(m_, 2); }
  [[nodiscard]] constexpr std::uint8_t version_minor() const noexcept { return detail::u8_at(m_, 3); }
  [[nodiscard]] constexpr const descriptor_counts& counts() const noexcept { return counts_; }

  [[nodiscard]] constexpr descriptor_iterator begin() const noexcept {
    return {m_, manifest_header_size};
  }
  [[nodiscard]] constexpr descriptor_iterator end() const noexcept { return {m_, m_.size()}; }

  /// The `nth` (0-based) string descriptor with `id`, in manifest order.
  [[nodiscard]] constexpr const descriptor_view* find_string(std::uint8_t id, std::size_t nth,
                                                             descriptor_view& out) const noexcept {
    for (descriptor_view d : *this) {
      if (d.is(descriptor_type::string) && d.string_id() == id) {
        if (nth == 0) {
          out = d;
          return &out;
        }
        --nth;
      }
    }
    return nullptr;
  }

 private:
  friend constexpr result<manifest_frame> frame_manifest(const_bytes) noexcept;
  const_bytes m_{};
  descriptor_counts counts_{};
};

/// Check the header and frame every descriptor, in Linux's order (digest §5.4 steps 1-2).
/// Errors: greybus_manifest_too_short (< 4 bytes), greybus_manifest_size_mismatch (header size
/// != buffer length), greybus_manifest_version (major > 0), greybus_manifest_trailing_bytes
/// (1..3 bytes left: no room for a descriptor header), greybus_manifest_descriptor_overrun
/// (size beyond the bytes left), greybus_manifest_descriptor_type (type 0 or 5..255),
/// greybus_manifest_descriptor_too_small (below 8, or a string's 6 + length rounded up to 4).
/// A larger size than needed is accepted and counted in counts().oversized.
/// The views keep pointing into `manifest`: frame a private copy, not guest-shared memory.
[[nodiscard]] constexpr result<manifest_frame> frame_manifest(const_bytes manifest) noexcept {
  if (manifest.size() < manifest_header_size) return errc::greybus_manifest_too_short;
  if (detail::le16_at(manifest, 0) != manifest.size()) return errc::greybus_manifest_size_mismatch;
  if (detail::u8_at(manifest, 2) > manifest_version_major) return errc::greybus_manifest_version;
  manifest_frame f;
  f.m_ = manifest;
  std::size_t at = manifest_header_size;
  while (at < manifest.size()) {
    const std::size_t left = manifest.size() - at;
    if (left < descriptor_header_size) return errc::greybus_manifest_trailing_bytes;
    const std::size_t size = detail::le16_at(manifest, at);
    if (size > left) return errc::greybus_manifest_descriptor_overrun;
    const std::uint8_t type = detail::u8_at(manifest, at + 2);
    // A string's length byte is read only when the descriptor holds it (Linux reads it
    // before comparing the sizes; a size below 6 is too small for a string either way).
    const std::uint8_t length = size > 4 ? detail::u8_at(manifest, at + 4) : std::uint8_t{0};
    const std::size_t need = minimum_descriptor_size(type, length);
    if (need == 0) return errc::greybus_manifest_descriptor_type;
    if (size < need || (type == 0x02 && size < string_descriptor_base_size))
      return errc::greybus_manifest_descriptor_too_small;
    if (size > need) f.counts_.oversized = true;
    switch (type) {
      case 0x01: ++f.counts_.interfaces; break;
      case 0x02: ++f.counts_.strings; break;
      case 0x03: ++f.counts_.bundles; break;
      default: ++f.counts_.cports; break;
    }
    at += size;
  }
  return f;
}

}  // namespace greybus
VIREO_NAMESPACE_END
