// SPDX-License-Identifier: Apache-2.0
// Build a Greybus manifest (greybus digest §5.1) into a caller's buffer, descriptor by
// descriptor in the order given, with exact sizes (strings: 6 + length in BYTES, zero-padded to
// a multiple of 4). The builder checks sizes only, not meaning: it can write manifests that
// validate_manifest() rejects (tests need those). rebuild_manifest() writes a validated
// manifest's surviving parts back out in spec-clean form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/manifest/validate.hpp"
#include "vireo/greybus/manifest/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// Size of a string descriptor holding `length` bytes: 6 + length rounded up to 4 (§5.1).
[[nodiscard]] constexpr std::size_t string_descriptor_size(std::size_t length) noexcept {
  return (string_descriptor_base_size + length + 3u) & ~std::size_t{3};
}

class manifest_builder {
 public:
  /// Writes into `out`; the header (whose size is only known at the end) is written by finish().
  constexpr explicit manifest_builder(bytes out,
                                      std::uint8_t version_major = manifest_version_major,
                                      std::uint8_t version_minor = manifest_version_minor) noexcept
      : out_(out), major_(version_major), minor_(version_minor) {}

  /// Errors (for every add_*): greybus_manifest_too_large when the manifest would pass 65535
  /// bytes, no_space when `out` is full; nothing is written then.
  [[nodiscard]] constexpr result<void> add_interface(std::uint8_t vendor_string_id,
                                                     std::uint8_t product_string_id,
                                                     std::uint8_t features = 0) noexcept {
    VIREO_TRY(reserve(fixed_descriptor_size));
    put_header(fixed_descriptor_size, descriptor_type::interface);
    put(vendor_string_id);
    put(product_string_id);
    put(features);
    put(0);
    return ok();
  }
  /// `text` is stored as its bytes (UTF-8 per the spec; counted in bytes, not characters).
  /// Errors: greybus_manifest_string_too_long (more than 255 bytes), and those above.
  [[nodiscard]] constexpr result<void> add_string(std::uint8_t id, std::string_view text) noexcept {
    if (text.size() > max_string_length) return errc::greybus_manifest_string_too_long;
    const std::size_t size = string_descriptor_size(text.size());
    VIREO_TRY(reserve(size));
    put_header(size, descriptor_type::string);
    put(static_cast<std::uint8_t>(text.size()));
    put(id);
    for (char c : text) put(static_cast<std::uint8_t>(c));
    for (std::size_t i = string_descriptor_base_size + text.size(); i < size; ++i) put(0);
    return ok();
  }
  [[nodiscard]] constexpr result<void> add_bundle(std::uint8_t id, std::uint8_t bundle_class) noexcept {
    VIREO_TRY(reserve(fixed_descriptor_size));
    put_header(fixed_descriptor_size, descriptor_type::bundle);
    put(id);
    put(bundle_class);
    put(0);
    put(0);
    return ok();
  }
  [[nodiscard]] constexpr result<void> add_cport(std::uint16_t id, std::uint8_t bundle,
                                                 std::uint8_t protocol) noexcept {
    VIREO_TRY(reserve(fixed_descriptor_size));
    put_header(fixed_descriptor_size, descriptor_type::cport);
    put(static_cast<std::uint8_t>(id & 0xff));
    put(static_cast<std::uint8_t>(id >> 8));
    put(bundle);
    put(protocol);
    return ok();
  }

  /// Bytes written so far, the header included.
  [[nodiscard]] constexpr std::size_t size() const noexcept { return at_; }
  /// The manifest so far (header not yet final before finish()).
  [[nodiscard]] constexpr const_bytes written() const noexcept { return {out_.data(), at_}; }

  /// Write the header and return the manifest's size. Errors: no_space (`out` below 4 bytes).
  [[nodiscard]] constexpr result<std::size_t> finish() noexcept {
    if (out_.size() < manifest_header_size) return errc::no_space;
    if (at_ < manifest_header_size) at_ = manifest_header_size;
    out_[0] = std::byte(at_ & 0xff);
    out_[1] = std::byte(at_ >> 8);
    out_[2] = std::byte{major_};
    out_[3] = std::byte{minor_};
    return at_;
  }

 private:
  constexpr result<void> reserve(std::size_t n) noexcept {
    if (out_.size() < manifest_header_size) return errc::no_space;
    if (at_ < manifest_header_size) at_ = manifest_header_size;
    if (at_ + n > max_manifest_size) return errc::greybus_manifest_too_large;
    if (at_ + n > out_.size()) return errc::no_space;
    return ok();
  }
  constexpr void put(std::uint8_t v) noexcept { out_[at_++] = std::byte{v}; }
  constexpr void put_header(std::size_t size, descriptor_type t) noexcept {
    put(static_cast<std::uint8_t>(size & 0xff));
    put(static_cast<std::uint8_t>(size >> 8));
    put(static_cast<std::uint8_t>(t));
    put(0);
  }

  bytes out_;
  std::size_t at_ = 0;
  std::uint8_t major_;
  std::uint8_t minor_;
};

/// Write `m`'s surviving parts as a new manifest into `out`: the interface (features kept),
/// vendor and product strings renumbered 1 and 2 (only those present), then each bundle
/// followed by its cports. Returns the size. The result validates in kernel mode to the same
/// bundles and cports, and in strict mode too unless a cport id is shared by two bundles.
/// Errors: those of manifest_builder.
template <std::size_t B, std::size_t C>
[[nodiscard]] constexpr result<std::size_t> rebuild_manifest(const basic_manifest<B, C>& m,
                                                             bytes out) noexcept {
  manifest_builder b{out};
  const bool has_vendor = m.interface().vendor_string_id != 0;
  const bool has_product = m.interface().product_string_id != 0;
  const std::uint8_t vendor_id = has_vendor ? 1 : 0;
  const std::uint8_t product_id = has_product ? (has_vendor ? 2 : 1) : 0;
  VIREO_TRY(b.add_interface(vendor_id, product_id, m.interface().features));
  if (has_vendor) VIREO_TRY(b.add_string(vendor_id, m.vendor_string()));
  if (has_product) VIREO_TRY(b.add_string(product_id, m.product_string()));
  for (const manifest_bundle& bundle : m.bundles()) {
    VIREO_TRY(b.add_bundle(bundle.id, bundle.bundle_class));
    for (const manifest_cport& c : m.cports(bundle)) VIREO_TRY(b.add_cport(c.id, c.bundle, c.protocol));
  }
  return b.finish();
}

}  // namespace greybus
VIREO_NAMESPACE_END
