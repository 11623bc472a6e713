// SPDX-License-Identifier: Apache-2.0
// Typed feature-bit sets (virtio has at least 128 feature bits) and the negotiation helper.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <type_traits>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN

/// Feature bits defined by the virtio core for every device type (virtio 1.3 §6).
enum class transport_feature : std::uint8_t {
  notify_on_empty = 24,   ///< legacy only
  any_layout = 27,        ///< legacy only
  indirect_desc = 28,
  event_idx = 29,
  version_1 = 32,
  access_platform = 33,
  ring_packed = 34,
  in_order = 35,
  order_platform = 36,
  sr_iov = 37,
  notification_data = 38,
  notif_config_data = 39,
  ring_reset = 40,
  admin_vq = 41,
  suspend = 43,
};

/// A feature-bit enum: transport_feature or a device type's own (e.g. gpio::feature).
template <typename E>
concept feature_enum = std::is_enum_v<E> && sizeof(E) <= 2;

/// A set of feature bits 0..127. Typed access takes any feature enum; raw 64-bit words are for
/// transports that move features in words (PCI select registers, vhost-user u64).
class feature_set {
 public:
  static constexpr unsigned capacity = 128;

  constexpr feature_set() noexcept = default;
  template <feature_enum E>
  constexpr feature_set(std::initializer_list<E> bits) noexcept {
    for (E b : bits) set(b);
  }
  /// Bits 0..63 from `low`, 64..127 from `high`.
  [[nodiscard]] static constexpr feature_set from_words(std::uint64_t low,
                                                        std::uint64_t high = 0) noexcept {
    feature_set f;
    f.words_ = {low, high};
    return f;
  }
  [[nodiscard]] constexpr std::uint64_t word(unsigned i) const noexcept {
    return i < 2 ? words_[i] : 0;
  }

  [[nodiscard]] constexpr bool test(unsigned bit) const noexcept {
    return bit < capacity && ((words_[bit / 64] >> (bit % 64)) & 1u) != 0;
  }
  constexpr feature_set& set(unsigned bit, bool on = true) noexcept {
    VIREO_ASSERT(bit < capacity);
    const std::uint64_t m = std::uint64_t{1} << (bit % 64);
    words_[bit / 64] = on ? (words_[bit / 64] | m) : (words_[bit / 64] & ~m);
    return *this;
  }
  template <feature_enum E>
  [[nodiscard]] constexpr bool has(E b) const noexcept {
    return test(static_cast<unsigned>(b));
  }
  template <feature_enum E>
  constexpr feature_set& set(E b, bool on = true) noexcept {
    return set(static_cast<unsigned>(b), on);
  }
  template <feature_enum E>
  constexpr feature_set& clear(E b) noexcept {
    return set(static_cast<unsigned>(b), false);
  }

  [[nodiscard]] constexpr bool empty() const noexcept { return (words_[0] | words_[1]) == 0; }
  [[nodiscard]] constexpr bool contains(const feature_set& o) const noexcept {
    return (o.words_[0] & ~words_[0]) == 0 && (o.words_[1] & ~words_[1]) == 0;
  }

  friend constexpr feature_set operator&(feature_set a, const feature_set& b) noexcept {
    a.words_[0] &= b.words_[0];
    a.words_[1] &= b.words_[1];
    return a;
  }
  friend constexpr feature_set operator|(feature_set a, const feature_set& b) noexcept {
    a.words_[0] |= b.words_[0];
    a.words_[1] |= b.words_[1];
    return a;
  }
  /// Bits of `a` not in `b`.
  friend constexpr feature_set operator-(feature_set a, const feature_set& b) noexcept {
    a.words_[0] &= ~b.words_[0];
    a.words_[1] &= ~b.words_[1];
    return a;
  }
  friend constexpr bool operator==(const feature_set&, const feature_set&) noexcept = default;

 private:
  std::array<std::uint64_t, 2> words_{};
};

/// "Bit `feature` may only be set together with bit `requires_bit`" (virtio 1.3 §2.2).
struct feature_dependency {
  std::uint8_t feature;
  std::uint8_t requires_bit;
};

/// Transport-level dependencies. NOTIF_CONFIG_DATA only changes how NOTIFICATION_DATA-style
/// notifications are addressed, and every non-legacy feature needs VERSION_1.
inline constexpr feature_dependency transport_dependencies[] = {
    {static_cast<std::uint8_t>(transport_feature::ring_packed),
     static_cast<std::uint8_t>(transport_feature::version_1)},
    {static_cast<std::uint8_t>(transport_feature::in_order),
     static_cast<std::uint8_t>(transport_feature::version_1)},
    {static_cast<std::uint8_t>(transport_feature::notification_data),
     static_cast<std::uint8_t>(transport_feature::version_1)},
    {static_cast<std::uint8_t>(transport_feature::ring_reset),
     static_cast<std::uint8_t>(transport_feature::version_1)},
};

/// Check that every set bit's prerequisites are set. Errors: feature_dependency.
[[nodiscard]] constexpr result<void> check_dependencies(
    const feature_set& f, std::span<const feature_dependency> deps) noexcept {
  for (const auto& d : deps)
    if (f.test(d.feature) && !f.test(d.requires_bit)) return errc::feature_dependency;
  return ok();
}

/// Driver side of negotiation (virtio 1.3 §2.2.1): accept the offered bits the driver knows and
/// wants, then drop, until nothing changes, any bit whose prerequisite did not survive.
/// Unknown offered bits never fail negotiation; they are simply not accepted.
[[nodiscard]] constexpr feature_set negotiate(const feature_set& offered,
                                              const feature_set& wanted,
                                              std::span<const feature_dependency> deps) noexcept {
  feature_set accepted = offered & wanted;
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& d : deps) {
      if (accepted.test(d.feature) && !accepted.test(d.requires_bit)) {
        accepted.set(d.feature, false);
        changed = true;
      }
    }
  }
  return accepted;
}

/// Device side (virtio 1.3 §2.2.2): validate the subset a driver wrote before FEATURES_OK.
/// Errors: feature_not_offered (a bit outside the offer), feature_dependency.
[[nodiscard]] constexpr result<void> validate_driver_features(
    const feature_set& offered, const feature_set& accepted,
    std::span<const feature_dependency> deps) noexcept {
  if (!offered.contains(accepted)) return errc::feature_not_offered;
  return check_dependencies(accepted, deps);
}

VIREO_NAMESPACE_END
