// SPDX-License-Identifier: Apache-2.0
// IN_ORDER batching never hides a rejected chain: a collapsed used element tells the driver that
// every earlier chain of the batch was wholly written, which for a chain the device refused (its
// token knows no writable length) would hand the driver bytes the device never wrote.
#include <doctest/doctest.h>

#include <array>

#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_split_driver.hpp"

using vireo::feature_set;
using vireo::transport_feature;
using vireo::ring::used_entry;

TEST_CASE("split_device: an IN_ORDER batch holding a rejected() chain is written element by element") {
  vireo::testing::mock_split_driver::options o;
  o.size = 16;
  o.features = feature_set{transport_feature::version_1, transport_feature::in_order};
  vireo::testing::mock_split_driver m{o};
  vireo::ring::split_device<vireo::flat_memory> dev{m.memory()};
  REQUIRE(dev.configure(m.config()).has_value());

  REQUIRE(m.add({}, {4}).value() == 0);  // A: head 0
  // B: head 15, a writable descriptor whose NEXT points outside the table: popped, refused.
  m.write_desc(15, o.base.raw(), 4, vireo::ring::desc_flag::write | vireo::ring::desc_flag::next,
               200);
  m.publish_raw(15);
  // C: head 1, a good writable buffer, published raw too (the real driver's avail index no
  // longer matches the ring's).
  m.write_desc(1, o.base.raw() + 64, 4, vireo::ring::desc_flag::write, 0);
  m.publish_raw(1);

  auto a = dev.pop();
  REQUIRE(a.has_value());
  auto b = dev.pop();
  REQUIRE(!b.has_value());
  const auto refused = dev.rejected();
  REQUIRE(refused.has_value());
  CHECK(refused->rejected);
  CHECK(refused->writable_len == 0);
  auto c = dev.pop();
  REQUIRE(c.has_value());
  CHECK(!a->token().rejected);

  // Every entry but the last reports its whole writable length (A: 4 of 4, B: 0 of the 0 its
  // token knows), which alone would allow one collapsed element naming C.
  const std::array<used_entry, 3> batch{used_entry{a->token(), 4}, used_entry{*refused, 0},
                                        used_entry{c->token(), 2}};
  REQUIRE(dev.push_used(batch).has_value());
  CHECK(m.used_idx() == 3);
  CHECK(m.used_elem(0) == std::pair<std::uint32_t, std::uint32_t>{0, 4});
  CHECK(m.used_elem(1) == std::pair<std::uint32_t, std::uint32_t>{15, 0});
  CHECK(m.used_elem(2) == std::pair<std::uint32_t, std::uint32_t>{1, 2});
}
