// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/features.hpp: feature_set, negotiate(), validate_driver_features().
#include "test_support.hpp"
#include "vireo/core/features.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>

namespace {

using vireo_test::err;

using vireo::errc;
using vireo::feature_dependency;
using vireo::feature_set;
using vireo::transport_feature;

// A device type's own feature enum, as gpio::feature will be.
enum class toy_feature : std::uint8_t { a = 0, b = 1, c = 2, d = 3, high = 100 };

constexpr std::uint8_t bit(toy_feature f) { return static_cast<std::uint8_t>(f); }

constexpr std::span<const feature_dependency> transport_deps{vireo::transport_dependencies};

static_assert(vireo::feature_enum<transport_feature>);
static_assert(vireo::feature_enum<toy_feature>);
static_assert(!vireo::feature_enum<int>);
static_assert(feature_set::capacity == 128);

// Usable at compile time.
constexpr feature_set ct_set{transport_feature::version_1, transport_feature::event_idx};
static_assert(ct_set.has(transport_feature::version_1));
static_assert(ct_set.word(0) == ((std::uint64_t{1} << 32) | (std::uint64_t{1} << 29)));
static_assert(vireo::negotiate(ct_set, feature_set{transport_feature::ring_packed}, transport_deps)
                  .empty());
static_assert(vireo::validate_driver_features(ct_set, ct_set, transport_deps).has_value());

}  // namespace

TEST_CASE("transport_feature: bit numbers match virtio 1.3 §6 (spec digest §2 table)") {
  CHECK(static_cast<unsigned>(transport_feature::notify_on_empty) == 24);
  CHECK(static_cast<unsigned>(transport_feature::any_layout) == 27);
  CHECK(static_cast<unsigned>(transport_feature::indirect_desc) == 28);
  CHECK(static_cast<unsigned>(transport_feature::event_idx) == 29);
  CHECK(static_cast<unsigned>(transport_feature::version_1) == 32);
  CHECK(static_cast<unsigned>(transport_feature::access_platform) == 33);
  CHECK(static_cast<unsigned>(transport_feature::ring_packed) == 34);
  CHECK(static_cast<unsigned>(transport_feature::in_order) == 35);
  CHECK(static_cast<unsigned>(transport_feature::order_platform) == 36);
  CHECK(static_cast<unsigned>(transport_feature::sr_iov) == 37);
  CHECK(static_cast<unsigned>(transport_feature::notification_data) == 38);
  CHECK(static_cast<unsigned>(transport_feature::notif_config_data) == 39);
  CHECK(static_cast<unsigned>(transport_feature::ring_reset) == 40);
  CHECK(static_cast<unsigned>(transport_feature::admin_vq) == 41);
  CHECK(static_cast<unsigned>(transport_feature::suspend) == 43);
}

TEST_CASE("feature_set: default is empty, every bit clear") {
  feature_set f;
  CHECK(f.empty());
  CHECK(f.word(0) == 0);
  CHECK(f.word(1) == 0);
  for (unsigned b = 0; b < 128; ++b) CHECK_FALSE(f.test(b));
}

TEST_CASE("feature_set: set/test/clear each bit 0..127 alone, in the right word") {
  for (unsigned b = 0; b < 128; ++b) {
    CAPTURE(b);
    feature_set f;
    f.set(b);
    CHECK(f.test(b));
    CHECK_FALSE(f.empty());
    const std::uint64_t m = std::uint64_t{1} << (b % 64);
    CHECK(f.word(0) == (b < 64 ? m : 0));
    CHECK(f.word(1) == (b < 64 ? 0 : m));
    // No other bit is affected.
    for (unsigned o = 0; o < 128; ++o)
      if (o != b && f.test(o)) FAIL_CHECK("bit " << o << " set too");
    f.set(b, false);
    CHECK_FALSE(f.test(b));
    CHECK(f.empty());
  }
}

TEST_CASE("feature_set: clearing one bit keeps its neighbours") {
  feature_set f = feature_set::from_words(~std::uint64_t{0}, ~std::uint64_t{0});
  for (unsigned b = 0; b < 128; ++b) CHECK(f.test(b));
  f.set(63, false).set(64, false).set(0, false).set(127, false);
  CHECK(f.word(0) == (~std::uint64_t{0} & ~(std::uint64_t{1} << 63) & ~std::uint64_t{1}));
  CHECK(f.word(1) == (~std::uint64_t{0} & ~std::uint64_t{1} & ~(std::uint64_t{1} << 63)));
  CHECK(f.test(62));
  CHECK(f.test(65));
  CHECK(f.test(126));
}

TEST_CASE("feature_set: test() past capacity is false; word() past 1 is 0") {
  feature_set f = feature_set::from_words(~std::uint64_t{0}, ~std::uint64_t{0});
  CHECK_FALSE(f.test(128));
  CHECK_FALSE(f.test(1000));
  CHECK(f.word(2) == 0);
  CHECK(f.word(~0u) == 0);
}

TEST_CASE("feature_set: from_words maps low to 0..63 and high to 64..127") {
  feature_set f = feature_set::from_words(0x8000000000000001ull, 0x0000000000000002ull);
  CHECK(f.test(0));
  CHECK(f.test(63));
  CHECK(f.test(65));
  CHECK_FALSE(f.test(64));
  CHECK_FALSE(f.test(1));
  CHECK(f.word(0) == 0x8000000000000001ull);
  CHECK(f.word(1) == 0x0000000000000002ull);
  CHECK(feature_set::from_words(5) == feature_set::from_words(5, 0));
}

TEST_CASE("feature_set: typed set/has/clear with transport and device enums") {
  feature_set f{transport_feature::version_1, transport_feature::ring_packed};
  CHECK(f.has(transport_feature::version_1));
  CHECK(f.has(transport_feature::ring_packed));
  CHECK_FALSE(f.has(transport_feature::event_idx));
  CHECK(f.word(0) == ((std::uint64_t{1} << 32) | (std::uint64_t{1} << 34)));
  f.clear(transport_feature::ring_packed);
  CHECK_FALSE(f.has(transport_feature::ring_packed));
  f.set(transport_feature::event_idx).set(toy_feature::high);
  CHECK(f.test(29));
  CHECK(f.test(100));
  CHECK(f.has(toy_feature::high));
  CHECK(f.word(1) == (std::uint64_t{1} << 36));
  f.set(toy_feature::high, false);
  CHECK(f.word(1) == 0);
  feature_set g{toy_feature::a, toy_feature::d};
  CHECK(g.word(0) == 0b1001);
}

TEST_CASE("feature_set: &, |, -, ==, contains") {
  const feature_set a = feature_set::from_words(0b1100, 0b1010);
  const feature_set b = feature_set::from_words(0b1010, 0b0110);
  CHECK((a & b) == feature_set::from_words(0b1000, 0b0010));
  CHECK((a | b) == feature_set::from_words(0b1110, 0b1110));
  CHECK((a - b) == feature_set::from_words(0b0100, 0b1000));
  CHECK((b - a) == feature_set::from_words(0b0010, 0b0100));
  CHECK(a == a);
  CHECK_FALSE(a == b);
  CHECK(a != b);
  CHECK(a.contains(a & b));
  CHECK(a.contains(feature_set{}));
  CHECK_FALSE(a.contains(b));
  CHECK((a | b).contains(a));
  CHECK((a | b).contains(b));
  // contains() looks at the high word too.
  CHECK_FALSE(feature_set::from_words(~std::uint64_t{0}, 0).contains(feature_set::from_words(0, 1)));
  // Operators do not modify their operands.
  CHECK(a == feature_set::from_words(0b1100, 0b1010));
}

TEST_CASE("negotiate: accepts exactly offered ∩ wanted when no dependency breaks") {
  const feature_set offered{transport_feature::version_1, transport_feature::event_idx,
                            transport_feature::indirect_desc, transport_feature::ring_packed};
  const feature_set wanted{transport_feature::version_1, transport_feature::event_idx,
                           transport_feature::in_order};
  const feature_set got = vireo::negotiate(offered, wanted, transport_deps);
  CHECK(got == feature_set{transport_feature::version_1, transport_feature::event_idx});
}

TEST_CASE("negotiate: unknown offered bits are not accepted and never fail") {
  // Device offers everything, including reserved/unknown bits in both words.
  const feature_set offered = feature_set::from_words(~std::uint64_t{0}, ~std::uint64_t{0});
  const feature_set wanted{transport_feature::version_1, transport_feature::ring_reset};
  const feature_set got = vireo::negotiate(offered, wanted, transport_deps);
  CHECK(got == wanted);
  CHECK(vireo::validate_driver_features(offered, got, transport_deps).has_value());
  // Nothing wanted: nothing accepted.
  CHECK(vireo::negotiate(offered, feature_set{}, transport_deps).empty());
}

TEST_CASE("negotiate: drops a bit whose prerequisite was not offered") {
  // RING_PACKED and IN_ORDER need VERSION_1; the device did not offer VERSION_1.
  const feature_set offered{transport_feature::ring_packed, transport_feature::in_order,
                            transport_feature::event_idx};
  const feature_set wanted = offered | feature_set{transport_feature::version_1};
  const feature_set got = vireo::negotiate(offered, wanted, transport_deps);
  CHECK(got == feature_set{transport_feature::event_idx});
}

TEST_CASE("negotiate: drops a bit whose prerequisite the driver did not want") {
  const feature_set offered{transport_feature::version_1, transport_feature::notification_data};
  const feature_set wanted{transport_feature::notification_data};
  CHECK(vireo::negotiate(offered, wanted, transport_deps).empty());
}

TEST_CASE("negotiate: drops transitively, whatever the order of the dependency table") {
  // a needs b, b needs c; c is not offered. The table lists a->b first, so one pass is not enough.
  const feature_dependency chain_deps[] = {
      {bit(toy_feature::a), bit(toy_feature::b)},
      {bit(toy_feature::b), bit(toy_feature::c)},
  };
  const feature_set offered{toy_feature::a, toy_feature::b, toy_feature::d};
  const feature_set wanted{toy_feature::a, toy_feature::b, toy_feature::c, toy_feature::d};
  CHECK(vireo::negotiate(offered, wanted, chain_deps) == feature_set{toy_feature::d});

  // Reverse order of the table: same answer.
  const feature_dependency reversed[] = {chain_deps[1], chain_deps[0]};
  CHECK(vireo::negotiate(offered, wanted, reversed) == feature_set{toy_feature::d});

  // With c offered and wanted, the whole chain survives.
  const feature_set offered_c = offered | feature_set{toy_feature::c};
  CHECK(vireo::negotiate(offered_c, wanted, chain_deps) == wanted);

  // Dependencies reaching into the high word work too.
  const feature_dependency high_dep[] = {{bit(toy_feature::a), bit(toy_feature::high)}};
  CHECK(vireo::negotiate(offered, wanted, high_dep) ==
        feature_set{toy_feature::b, toy_feature::d});
  const feature_set with_high = feature_set{toy_feature::a, toy_feature::high};
  CHECK(vireo::negotiate(with_high, with_high, high_dep) == with_high);
}

TEST_CASE("negotiate: a four-link chain unravels completely") {
  // 3 -> 2 -> 1 -> 0, listed leaf-last, so every pass drops only one more bit.
  const feature_dependency deps[] = {{3, 2}, {2, 1}, {1, 0}};
  const feature_set f = feature_set::from_words(0b1110);
  CHECK(vireo::negotiate(f, f, deps).empty());
  const feature_set g = feature_set::from_words(0b1111);
  CHECK(vireo::negotiate(g, g, deps) == g);
}

TEST_CASE("validate_driver_features: accepts a subset that satisfies its dependencies") {
  const feature_set offered{transport_feature::version_1, transport_feature::ring_packed,
                            transport_feature::event_idx};
  CHECK(vireo::validate_driver_features(offered, offered, transport_deps).has_value());
  CHECK(vireo::validate_driver_features(offered, feature_set{}, transport_deps).has_value());
  CHECK(vireo::validate_driver_features(
            offered, feature_set{transport_feature::event_idx}, transport_deps)
            .has_value());
}

TEST_CASE("validate_driver_features: a bit outside the offer is feature_not_offered") {
  const feature_set offered{transport_feature::version_1};
  const feature_set accepted{transport_feature::version_1, transport_feature::event_idx};
  auto r = vireo::validate_driver_features(offered, accepted, transport_deps);
  REQUIRE_FALSE(r.has_value());
  CHECK(err(r) == errc::feature_not_offered);
  // High-word bit outside the offer.
  auto h = vireo::validate_driver_features(offered, offered | feature_set::from_words(0, 1),
                                           transport_deps);
  REQUIRE_FALSE(h.has_value());
  CHECK(err(h) == errc::feature_not_offered);
}

TEST_CASE("validate_driver_features: a bit without its prerequisite is feature_dependency") {
  const feature_set offered{transport_feature::version_1, transport_feature::in_order};
  auto r = vireo::validate_driver_features(offered, feature_set{transport_feature::in_order},
                                           transport_deps);
  REQUIRE_FALSE(r.has_value());
  CHECK(err(r) == errc::feature_dependency);
  // Not offered wins over dependency when both are wrong (the offer is checked first).
  auto both = vireo::validate_driver_features(
      offered, feature_set{transport_feature::ring_packed}, transport_deps);
  REQUIRE_FALSE(both.has_value());
  CHECK(err(both) == errc::feature_not_offered);
}

TEST_CASE("check_dependencies: each transport dependency names VERSION_1 as prerequisite") {
  for (const auto& d : vireo::transport_dependencies) {
    CAPTURE(unsigned{d.feature});
    CHECK(d.requires_bit == 32);
    feature_set alone;
    alone.set(d.feature);
    auto r = vireo::check_dependencies(alone, transport_deps);
    REQUIRE_FALSE(r.has_value());
    CHECK(err(r) == errc::feature_dependency);
    CHECK(vireo::check_dependencies(alone.set(32u), transport_deps).has_value());
  }
}
