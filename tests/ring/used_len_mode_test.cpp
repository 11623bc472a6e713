// SPDX-License-Identifier: Apache-2.0
// used_len_mode: a used length above the buffer's writable bytes breaks the queue (strict, the
// default) or is clamped to them and counted (clamp), on both layouts and through
// any_driver_queue.
#include <doctest/doctest.h>

#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

using vireo::errc;
using vireo::feature_set;
using vireo::transport_feature;
using vireo::ring::used_len_mode;

namespace {

/// One chain with 4 writable bytes, completed by a device that claims `len` bytes.
template <typename Mock>
auto complete_with(Mock& m, std::uint32_t len) {
  const auto id = m.add({}, {4});
  REQUIRE(id.has_value());
  if constexpr (std::is_same_v<Mock, vireo::testing::mock_split_driver>) {
    m.write_used_elem(0, *id, len);
    m.set_used_idx(1);
  } else {
    m.mark_used(0, *id, len, true);
  }
  return m.driver().reclaim();
}

template <typename Mock>
Mock make_mock() {
  typename Mock::options o;
  o.size = 8;
  o.features = feature_set{transport_feature::version_1};
  if constexpr (std::is_same_v<Mock, vireo::testing::mock_packed_driver>)
    o.features.set(transport_feature::ring_packed);
  return Mock{o};
}

}  // namespace

TEST_CASE_TEMPLATE("used_len_mode: strict breaks the queue on an over-long used length, clamp "
                   "takes the writable length",
                   Mock, vireo::testing::mock_split_driver, vireo::testing::mock_packed_driver) {
  SUBCASE("strict (default)") {
    Mock m = make_mock<Mock>();
    CHECK(m.driver().used_len_handling() == used_len_mode::strict);
    auto r = complete_with(m, 5);
    REQUIRE(!r.has_value());
    CHECK(r.error() == errc::used_len_too_large);
    CHECK(m.driver().broken());
  }
  SUBCASE("clamp") {
    Mock m = make_mock<Mock>();
    m.driver().set_used_len_mode(used_len_mode::clamp);
    auto r = complete_with(m, 5);
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK((*r)->len == 4);
    CHECK(m.driver().clamped_used_lens() == 1);
    CHECK(!m.driver().broken());
  }
  SUBCASE("clamp leaves honest lengths alone") {
    Mock m = make_mock<Mock>();
    m.driver().set_used_len_mode(used_len_mode::clamp);
    auto r = complete_with(m, 3);
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    CHECK((*r)->len == 3);
    CHECK(m.driver().clamped_used_lens() == 0);
  }
}

TEST_CASE("used_len_mode: any_driver_queue forwards the mode to the layout in use") {
  vireo::testing::mock_split_driver m = make_mock<vireo::testing::mock_split_driver>();
  vireo::ring::any_driver_queue<vireo::flat_memory> q{m.memory()};
  REQUIRE(q.configure(m.config(), m.pool()).has_value());
  q.set_used_len_mode(used_len_mode::clamp);
  CHECK(q.used_len_handling() == used_len_mode::clamp);
  CHECK(q.clamped_used_lens() == 0);
}
