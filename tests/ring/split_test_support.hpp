// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the split-ring tests in tests/ring: a mock driver plus device, raw
// descriptor access, hostile raw publishing; the layout-neutral ones (patterns, whole-chain
// reads, snapshots) come from ring_test_support.hpp. Test code: allocates freely.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ring/ring_test_support.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "vireo/vireo.hpp"

namespace vireo_ring_test {

using namespace vireo_ring_common;
namespace layout = vireo::ring::split_layout;

using mock = vireo::testing::mock_split_driver;
using device = vireo::ring::split_device<flat_memory>;
using chain = device::chain_type;

[[nodiscard]] inline feature_set features(bool indirect, bool event_idx, bool in_order) {
  return ring_features(/*packed=*/false, indirect, event_idx, in_order);
}

[[nodiscard]] inline mock::options opts(std::uint16_t size, feature_set f = {},
                                        std::uint16_t indirect_entries = 0,
                                        std::size_t data_bytes = std::size_t{1} << 16) {
  return mock_options<mock>(size, f, indirect_entries, data_bytes);
}

[[nodiscard]] inline std::uint16_t get16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8));
}

/// A decoded split descriptor.
struct desc_view {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};
[[nodiscard]] inline desc_view read_desc_at(mock& m, gpa where) {
  vireo::ring::split_desc d;
  std::memcpy(&d, m.host(where, sizeof d).data(), sizeof d);
  return {d.addr.get(), d.len.get(), d.flags.get(), d.next.get()};
}
[[nodiscard]] inline desc_view read_desc(mock& m, std::uint16_t index) {
  return read_desc_at(m, m.config().desc_table.offset(std::uint64_t{index} * 16));
}
[[nodiscard]] inline std::uint16_t avail_flags(mock& m) {
  return get16(m.host(m.config().driver_area.offset(layout::avail_flags), 2).data());
}
[[nodiscard]] inline std::uint16_t avail_ring_entry(mock& m, std::uint16_t pos) {
  return get16(
      m.host(m.config().driver_area.offset(layout::avail_ring(pos % m.opts().size)), 2).data());
}
[[nodiscard]] inline std::uint16_t used_event(mock& m) {
  return get16(m.host(m.config().driver_area.offset(layout::used_event(m.opts().size)), 2).data());
}

/// A configured device over the mock's memory and config.
inline void configure(device& d, mock& m) { REQUIRE(d.configure(m.config()).has_value()); }

/// Put `n` pattern bytes into fresh guest memory; returns the address and the bytes.
struct placed {
  gpa addr;
  std::vector<std::byte> data;
};
[[nodiscard]] inline placed put_pattern(mock& m, std::size_t n, std::uint32_t seed) {
  placed p{gpa{0}, pattern(n, seed)};
  p.addr = m.put(p.data);
  return p;
}

/// Hostile-driver helper: write a well-formed single-descriptor readable chain at descriptor
/// `index` by raw writes, publish it raw, and return its bytes (to check the device still serves
/// good chains after an error).
[[nodiscard]] inline std::vector<std::byte> publish_good_raw(mock& m, std::uint16_t index,
                                                             std::uint32_t seed) {
  placed p = put_pattern(m, 40, seed);
  m.write_desc(index, p.addr.raw(), 40, 0, 0);
  m.publish_raw(index);
  return p.data;
}

/// Pop the good chain publish_good_raw() made and check its bytes.
inline void expect_good_chain(device& d, std::uint16_t index, const std::vector<std::byte>& want) {
  (void)expect_served(d, index, want);
}

}  // namespace vireo_ring_test
