// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the split-ring tests in tests/ring: a mock driver plus device, byte
// patterns, raw descriptor access and memory snapshots. Test code: allocates freely.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "vireo/vireo.hpp"
#include "vireo/testing/mock_split_driver.hpp"

namespace vireo_ring_test {

using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::feature_set;
using vireo::flat_memory;
using vireo::gpa;
using vireo::transport_feature;
using vireo::ring::add_mode;
using vireo::ring::buffer;
using vireo::ring::queue_config;
using vireo::ring::used_entry;
namespace desc_flag = vireo::ring::desc_flag;
namespace layout = vireo::ring::split_layout;

using mock = vireo::testing::mock_split_driver;
using device = vireo::ring::split_device<flat_memory>;
using chain = device::chain_type;

using vireo_test::err;

[[nodiscard]] inline feature_set features(bool indirect, bool event_idx, bool in_order) {
  feature_set f;
  f.set(transport_feature::version_1);
  if (indirect) f.set(transport_feature::indirect_desc);
  if (event_idx) f.set(transport_feature::event_idx);
  if (in_order) f.set(transport_feature::in_order);
  return f;
}

[[nodiscard]] inline mock::options opts(std::uint16_t size, feature_set f = {},
                                        std::uint16_t indirect_entries = 0,
                                        std::size_t data_bytes = std::size_t{1} << 16) {
  mock::options o;
  o.size = size;
  o.features = f;
  o.indirect_entries = indirect_entries;
  o.data_bytes = data_bytes;
  return o;
}

/// A deterministic, seed-dependent byte pattern (never all one value).
[[nodiscard]] inline std::byte pattern_byte(std::uint32_t seed, std::size_t i) {
  const std::uint32_t x = seed * 2654435761u + static_cast<std::uint32_t>(i) * 40503u;
  return static_cast<std::byte>((x >> 13) ^ (x >> 5) ^ i);
}
[[nodiscard]] inline std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = pattern_byte(seed, i);
  return v;
}

/// Every readable byte of a chain, through its reader (the copy or zero-copy path alike).
template <typename Chain>
[[nodiscard]] std::vector<std::byte> read_all(const Chain& c) {
  auto r = c.reader();
  std::vector<std::byte> out(r.remaining());
  auto ok = r.read(out);
  REQUIRE(ok.has_value());
  CHECK(r.remaining() == 0);
  return out;
}

/// Write `data` into the chain's writable part; returns the writer's written().
template <typename Chain>
std::uint32_t write_all(const Chain& c, const_bytes data) {
  auto w = c.writer();
  auto ok = w.write(data);
  REQUIRE(ok.has_value());
  return w.written();
}

/// Copy of the mock's whole guest memory.
[[nodiscard]] inline std::vector<std::byte> snapshot(mock& m) {
  const bytes h = m.memory().host();
  return {h.begin(), h.end()};
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
inline void configure(device& d, mock& m) {
  auto r = d.configure(m.config());
  REQUIRE(r.has_value());
}

/// Pop one chain and require success (non-empty).
[[nodiscard]] inline chain pop_ok(device& d) {
  auto r = d.pop();
  REQUIRE(r.has_value());
  REQUIRE(!r->empty());
  return *r;
}

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
  auto c = d.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  CHECK(c->id() == index);
  CHECK(read_all(*c) == want);
  CHECK(d.push_used(*c, 0).has_value());
}

/// Guest RAM for tests that lay out rings by hand: 16-aligned, zero-filled.
class ram {
 public:
  explicit ram(std::size_t n) : store_((n + 15) / 16) {}
  [[nodiscard]] bytes view() {
    return {reinterpret_cast<std::byte*>(store_.data()), store_.size() * sizeof(chunk)};
  }

 private:
  struct alignas(16) chunk {
    std::byte b[16];
  };
  std::vector<chunk> store_;
};

}  // namespace vireo_ring_test
