// SPDX-License-Identifier: Apache-2.0
// Validation of a framed Greybus manifest in two strictness modes (greybus digest §5.4;
// shared/vectors/greybus/INDEX.md "Verdict columns"), with the resulting bundles and CPorts in
// a bounded view (fixed capacity, no heap).
//  - kernel: what Linux drivers/greybus/manifest.c + bundle.c accept, silent drops included.
//  - strict: the spec rules of intf_info.rst on top (a strict accept is always a kernel accept).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/manifest/frame.hpp"
#include "vireo/greybus/manifest/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

enum class manifest_mode : std::uint8_t {
  kernel,  ///< Linux gb_manifest_parse (the verdict a Linux AP gives your manifest)
  strict,  ///< kernel, and no spec rule broken (§5.4)
};

/// What a kernel-mode accept tolerated (Linux logs these and carries on). Bit flags.
enum class manifest_warning : std::uint8_t {
  oversized_descriptor = 0x01,    ///< a descriptor longer than its type needs
  control_bundle_ignored = 0x02,  ///< bundle 0 ignored as the legacy control bundle, with its cports
  bundle_dropped = 0x04,          ///< a bundle with a bad/duplicate cport id or no cport was dropped
  excess_descriptors = 0x08,      ///< strings or cports no surviving part used
  shared_cport = 0x10,  ///< one cport id in two bundles: Linux parses it, the 2nd connection fails
};

/// A bundle that survived validation; its cports are cports()[first_cport, +cport_count).
struct manifest_bundle {
  std::uint8_t id;
  std::uint8_t bundle_class;
  std::uint16_t first_cport;
  std::uint16_t cport_count;
};
struct manifest_cport {
  std::uint16_t id;
  std::uint8_t bundle;
  std::uint8_t protocol;
};

template <std::size_t MaxBundles, std::size_t MaxCPorts>
class basic_manifest;

template <std::size_t MaxBundles, std::size_t MaxCPorts>
[[nodiscard]] constexpr result<basic_manifest<MaxBundles, MaxCPorts>> validate_manifest(
    const manifest_frame& frame, manifest_mode mode) noexcept;

/// A validated manifest: the interface, its strings (views into the manifest) and the bundles
/// and cports that survived, in manifest order (Linux creates them in that order).
template <std::size_t MaxBundles, std::size_t MaxCPorts>
class basic_manifest {
  static_assert(MaxBundles >= 1 && MaxBundles <= 255, "bundle ids are 8-bit, 0xff excluded");
  static_assert(MaxCPorts >= 1 && MaxCPorts <= 0xffff);

 public:
  static constexpr std::size_t max_bundles = MaxBundles;
  static constexpr std::size_t max_cports = MaxCPorts;

  [[nodiscard]] constexpr const manifest_frame& frame() const noexcept { return frame_; }
  [[nodiscard]] constexpr manifest_mode mode() const noexcept { return mode_; }
  [[nodiscard]] constexpr const interface_fields& interface() const noexcept { return iface_; }
  /// Empty when the interface names no string (id 0).
  [[nodiscard]] constexpr std::string_view vendor_string() const noexcept { return vendor_; }
  [[nodiscard]] constexpr std::string_view product_string() const noexcept { return product_; }

  [[nodiscard]] constexpr std::span<const manifest_bundle> bundles() const noexcept {
    return {bundles_.data(), nbundles_};
  }
  /// Every surviving cport, bundle after bundle.
  [[nodiscard]] constexpr std::span<const manifest_cport> cports() const noexcept {
    return {cports_.data(), ncports_};
  }
  [[nodiscard]] constexpr std::span<const manifest_cport> cports(const manifest_bundle& b) const noexcept {
    return cports().subspan(b.first_cport, b.cport_count);
  }
  [[nodiscard]] constexpr const manifest_bundle* find_bundle(std::uint8_t id) const noexcept {
    for (const manifest_bundle& b : bundles())
      if (b.id == id) return &b;
    return nullptr;
  }
  /// The first surviving cport with `id` (ids may repeat across bundles in kernel mode).
  [[nodiscard]] constexpr const manifest_cport* find_cport(std::uint16_t id) const noexcept {
    for (const manifest_cport& c : cports())
      if (c.id == id) return &c;
    return nullptr;
  }
  [[nodiscard]] constexpr std::uint8_t warnings() const noexcept { return warnings_; }
  [[nodiscard]] constexpr bool has(manifest_warning w) const noexcept {
    return (warnings_ & static_cast<std::uint8_t>(w)) != 0;
  }

 private:
  friend constexpr result<basic_manifest> validate_manifest<MaxBundles, MaxCPorts>(
      const manifest_frame&, manifest_mode) noexcept;
  constexpr void warn(manifest_warning w) noexcept { warnings_ |= static_cast<std::uint8_t>(w); }

  manifest_frame frame_{};
  interface_fields iface_{};
  std::string_view vendor_{};
  std::string_view product_{};
  std::array<manifest_bundle, MaxBundles> bundles_{};
  std::array<manifest_cport, MaxCPorts> cports_{};
  std::size_t nbundles_ = 0;
  std::size_t ncports_ = 0;
  manifest_mode mode_ = manifest_mode::kernel;
  std::uint8_t warnings_ = 0;
};

/// Default capacity: more than any real module (greybus-for-zephyr caps at 32 cports).
using manifest = basic_manifest<32, 128>;

namespace detail {

/// A fixed bit set (ids are 8-bit for strings and bundles, 12-bit for checked cports).
template <std::size_t N>
struct id_bits {
  std::array<std::uint64_t, (N + 63) / 64> w{};
  [[nodiscard]] constexpr bool test(std::size_t i) const noexcept {
    return (w[i / 64] >> (i % 64)) & 1u;
  }
  constexpr void set(std::size_t i) noexcept { w[i / 64] |= std::uint64_t{1} << (i % 64); }
  /// Set bit i and say whether it was set before.
  constexpr bool test_set(std::size_t i) noexcept {
    const bool was = test(i);
    set(i);
    return was;
  }
};

/// The spec rules (digest §5.4, INDEX.md spec-strict), in the order the vector set lists them,
/// so the first broken rule names the error.
[[nodiscard]] constexpr result<void> check_spec_rules(const manifest_frame& f) noexcept {
  for (descriptor_view d : f)
    if (d.size() % 4 != 0) return errc::greybus_manifest_size_alignment;
  if (f.counts().interfaces != 1) return errc::greybus_manifest_interface_count;
  id_bits<256> sids;
  for (descriptor_view d : f)
    if (d.is(descriptor_type::string) && d.string_id() == 0) return errc::greybus_manifest_string_id_zero;
  for (descriptor_view d : f)
    if (d.is(descriptor_type::string) && sids.test_set(d.string_id()))
      return errc::greybus_manifest_string_duplicate;
  interface_fields iface{};
  id_bits<256> bids;
  for (descriptor_view d : f) {
    if (d.is(descriptor_type::interface)) iface = d.interface();
  }
  for (std::uint8_t sid : {iface.vendor_string_id, iface.product_string_id})
    if (sid != 0 && !sids.test(sid)) return errc::greybus_manifest_string_missing;
  // "A string descriptor shall be referenced only once".
  if (iface.vendor_string_id != 0 && iface.vendor_string_id == iface.product_string_id)
    return errc::greybus_manifest_string_reused;
  for (descriptor_view d : f)
    if (d.is(descriptor_type::bundle) && bids.test_set(d.bundle().id))
      return errc::greybus_manifest_bundle_duplicate;
  if (bids.test(bundle_id_none)) return errc::greybus_manifest_bundle_invalid_id;
  for (descriptor_view d : f) {
    if (!d.is(descriptor_type::bundle)) continue;
    const bundle_fields b = d.bundle();
    // The control CPort/bundle are implicit: not even bundle 0 may claim the Control class.
    if (b.bundle_class == class_control) return errc::greybus_manifest_control_class;
    bool has_cport = false;
    for (descriptor_view c : f)
      if (c.is(descriptor_type::cport) && c.cport().bundle == b.id) has_cport = true;
    if (!has_cport) return errc::greybus_manifest_bundle_empty;
  }
  for (descriptor_view d : f) {
    if (!d.is(descriptor_type::cport)) continue;
    const cport_fields c = d.cport();
    if (c.id == control_cport_id) return errc::greybus_manifest_cport_control;
    if (c.id > cport_id_max) return errc::greybus_manifest_cport_id_range;
    if (!bids.test(c.bundle)) return errc::greybus_manifest_cport_orphan;
  }
  id_bits<cport_id_max + 1> cids;
  for (descriptor_view d : f)
    if (d.is(descriptor_type::cport) && cids.test_set(d.cport().id))
      return errc::greybus_manifest_cport_duplicate;
  return ok();
}

/// Linux gb_manifest_parse_cports for the first bundle descriptor with id `bid`: its cports in
/// manifest order; the bundle is dropped (false) at the first id > 4095, id 0 or duplicate.
[[nodiscard]] constexpr bool bundle_cports_ok(const manifest_frame& f, std::uint8_t bid,
                                              std::size_t& count) noexcept {
  id_bits<cport_id_max + 1> ids;
  count = 0;
  for (descriptor_view d : f) {
    if (!d.is(descriptor_type::cport)) continue;
    const cport_fields c = d.cport();
    if (c.bundle != bid) continue;
    if (c.id > cport_id_max || c.id == control_cport_id || ids.test_set(c.id)) return false;
    ++count;
  }
  return count != 0;
}

}  // namespace detail

/// Validate a framed manifest (frame_manifest()) in `mode`.
///
/// kernel, as Linux (digest §5.4 steps 3-6): exactly one interface descriptor
/// (greybus_manifest_interface_count); its non-zero string ids must name string descriptors,
/// and Linux consumes a string when it reads it, so vendor and product naming the same single
/// string fail (greybus_manifest_string_missing, greybus_manifest_string_reused). Then bundles
/// in manifest order: bundle 0 is ignored with its cports; a non-zero bundle of class Control
/// (greybus_manifest_control_class), bundle id 0xff (greybus_manifest_bundle_invalid_id) or an id
/// of a bundle that already survived (greybus_manifest_bundle_duplicate) fail the manifest. A
/// bundle whose cports include id 0, an id > 4095 or a repeated id, or that has no cport, is
/// dropped; a later bundle descriptor reusing a dropped id finds its cports gone and is dropped
/// too. No surviving bundle: greybus_manifest_no_bundles.
///
/// strict: first the spec rules (greybus_manifest_size_alignment, _interface_count,
/// _string_id_zero, _string_duplicate, _string_missing, _string_reused, _bundle_duplicate,
/// _bundle_invalid_id, _control_class, _bundle_empty, _cport_control, _cport_id_range,
/// _cport_orphan, _cport_duplicate, in that order), then the kernel rules.
///
/// More surviving bundles or cports than the view holds: greybus_manifest_capacity.
template <std::size_t MaxBundles, std::size_t MaxCPorts>
[[nodiscard]] constexpr result<basic_manifest<MaxBundles, MaxCPorts>> validate_manifest(
    const manifest_frame& f, manifest_mode mode) noexcept {
  using namespace detail;
  if (mode == manifest_mode::strict) VIREO_TRY(check_spec_rules(f));
  if (f.counts().interfaces != 1) return errc::greybus_manifest_interface_count;

  basic_manifest<MaxBundles, MaxCPorts> m;
  m.frame_ = f;
  m.mode_ = mode;
  if (f.counts().oversized) m.warn(manifest_warning::oversized_descriptor);
  for (descriptor_view d : f)
    if (d.is(descriptor_type::interface)) m.iface_ = d.interface();

  // gb_string_get: id 0 is "no string"; a found string is released, so a second lookup of the
  // same id finds the next descriptor with that id, if any.
  std::size_t strings_used = 0;
  descriptor_view s;
  const std::uint8_t vsid = m.iface_.vendor_string_id;
  const std::uint8_t psid = m.iface_.product_string_id;
  if (vsid != 0) {
    if (f.find_string(vsid, 0, s) == nullptr) return errc::greybus_manifest_string_missing;
    m.vendor_ = s.string_text();
    ++strings_used;
  }
  if (psid != 0) {
    const std::size_t nth = psid == vsid ? 1 : 0;
    if (f.find_string(psid, nth, s) == nullptr)
      return nth == 0 ? errc::greybus_manifest_string_missing : errc::greybus_manifest_string_reused;
    m.product_ = s.string_text();
    ++strings_used;
  }

  // gb_manifest_parse_bundles.
  id_bits<256> seen;      // bundle ids met so far (their cports are consumed)
  id_bits<256> survived;  // bundle ids that became bundles
  for (descriptor_view d : f) {
    if (!d.is(descriptor_type::bundle)) continue;
    const bundle_fields b = d.bundle();
    if (b.id == control_bundle_id) {
      seen.set(b.id);
      m.warn(manifest_warning::control_bundle_ignored);
      continue;
    }
    if (b.bundle_class == class_control) return errc::greybus_manifest_control_class;
    if (b.id == bundle_id_none) return errc::greybus_manifest_bundle_invalid_id;
    if (survived.test(b.id)) return errc::greybus_manifest_bundle_duplicate;
    if (seen.test_set(b.id)) {  // an earlier descriptor with this id was dropped
      m.warn(manifest_warning::bundle_dropped);
      continue;
    }
    std::size_t count = 0;
    if (!bundle_cports_ok(f, b.id, count)) {
      m.warn(manifest_warning::bundle_dropped);
      continue;
    }
    if (m.nbundles_ == MaxBundles || MaxCPorts - m.ncports_ < count)
      return errc::greybus_manifest_capacity;
    survived.set(b.id);
    m.bundles_[m.nbundles_++] = {b.id, b.bundle_class, static_cast<std::uint16_t>(m.ncports_),
                                 static_cast<std::uint16_t>(count)};
    for (descriptor_view c : f)
      if (c.is(descriptor_type::cport) && c.cport().bundle == b.id) {
        const cport_fields cf = c.cport();
        m.cports_[m.ncports_++] = {cf.id, cf.bundle, cf.protocol};
      }
  }
  if (m.nbundles_ == 0) return errc::greybus_manifest_no_bundles;

  bool excess = strings_used != f.counts().strings;
  for (descriptor_view d : f)
    if (d.is(descriptor_type::cport) && !seen.test(d.cport().bundle)) excess = true;
  if (excess) m.warn(manifest_warning::excess_descriptors);
  id_bits<cport_id_max + 1> ids;
  for (const manifest_cport& c : m.cports())
    if (ids.test_set(c.id)) m.warn(manifest_warning::shared_cport);
  return m;
}

/// Frame and validate `bytes` in `mode` (frame_manifest() then validate_manifest()).
template <std::size_t MaxBundles = 32, std::size_t MaxCPorts = 128>
[[nodiscard]] constexpr result<basic_manifest<MaxBundles, MaxCPorts>> parse_manifest(
    const_bytes bytes, manifest_mode mode = manifest_mode::kernel) noexcept {
  auto f = frame_manifest(bytes);
  if (!f) return f.error();
  return validate_manifest<MaxBundles, MaxCPorts>(*f, mode);
}

}  // namespace greybus
VIREO_NAMESPACE_END
