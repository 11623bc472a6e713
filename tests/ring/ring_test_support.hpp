// SPDX-License-Identifier: Apache-2.0
// What the ring tests of both layouts share: the usual names, feature sets and mock options,
// byte patterns, whole-chain reads and writes, pops and reclaims that must succeed, memory
// snapshots, and the checks every device must pass whatever its layout (a broken queue stays
// broken; pop_into() empties the chain it is given when nothing is left). The layout-specific
// support headers (split_test_support.hpp, packed_test_support.hpp, conformance/harness.hpp)
// build on it. Test code: allocates freely.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "test_support.hpp"
#include "vireo/vireo.hpp"

namespace vireo_ring_common {

using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::feature_set;
using vireo::flat_memory;
using vireo::gpa;
using vireo::transport_feature;
using vireo::chain::used_token;
using vireo::ring::add_mode;
using vireo::ring::buffer;
using vireo::ring::queue_config;
using vireo::ring::used_buffer;
using vireo::ring::used_entry;
namespace desc_flag = vireo::ring::desc_flag;
namespace packed_flag = vireo::ring::packed_flag;
namespace event_flag = vireo::ring::event_flag;

using vireo_test::err;

/// VERSION_1, RING_PACKED when `packed`, and the chosen ring features.
[[nodiscard]] inline feature_set ring_features(bool packed, bool indirect, bool event_idx,
                                               bool in_order) {
  feature_set f;
  f.set(transport_feature::version_1);
  if (packed) f.set(transport_feature::ring_packed);
  if (indirect) f.set(transport_feature::indirect_desc);
  if (event_idx) f.set(transport_feature::event_idx);
  if (in_order) f.set(transport_feature::in_order);
  return f;
}

/// Options for a mock driver (mock_split_driver or mock_packed_driver).
template <typename Mock>
[[nodiscard]] typename Mock::options mock_options(std::uint16_t size, feature_set f = {},
                                                  std::uint16_t indirect_entries = 0,
                                                  std::size_t data_bytes = std::size_t{1} << 16) {
  typename Mock::options o;
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
  REQUIRE(r.read(out).has_value());
  CHECK(r.remaining() == 0);
  return out;
}
/// Write `data` into the chain's writable part; returns the writer's written().
template <typename Chain>
std::uint32_t write_all(const Chain& c, const_bytes data) {
  auto w = c.writer();
  REQUIRE(w.write(data).has_value());
  return w.written();
}

/// Pop one chain and require success (non-empty).
template <typename Device>
[[nodiscard]] typename Device::chain_type pop_ok(Device& d) {
  auto r = d.pop();
  REQUIRE(r.has_value());
  REQUIRE(!r->empty());
  return *r;
}

/// reclaim() through the mock's driver must give a buffer.
template <typename Mock>
[[nodiscard]] used_buffer reclaim_ok(Mock& m) {
  auto r = m.driver().reclaim();
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  return **r;
}
/// reclaim() through the mock's driver must succeed with nothing used.
template <typename Mock>
void expect_nothing_used(Mock& m) {
  auto r = m.driver().reclaim();
  REQUIRE(r.has_value());
  CHECK(!r->has_value());
}

/// `count` buffers of `len` bytes each at fresh addresses of the mock's data arena.
template <typename Mock>
[[nodiscard]] std::vector<buffer> bufs(Mock& m, std::size_t count, std::uint32_t len) {
  std::vector<buffer> v;
  for (std::size_t i = 0; i < count; ++i) v.push_back({m.alloc(len), len});
  return v;
}

/// A copy of all guest memory of a mock (or anything with memory().host()).
template <typename Owner>
[[nodiscard]] std::vector<std::byte> snapshot(Owner& o) {
  const bytes h = o.memory().host();
  return {h.begin(), h.end()};
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

/// pop() must fail with `want` as a per-chain error: the chain is consumed, the queue stays
/// ready, and rejected() names chain `id`, with nothing writable. Returns its token.
template <typename Device>
used_token expect_pop_rejects(Device& d, errc want, std::uint16_t id) {
  CHECK(err(d.pop()) == want);
  CHECK(!d.broken());
  CHECK(d.ready());
  const auto t = d.rejected();
  REQUIRE(t.has_value());
  CHECK(t->id == id);
  CHECK(t->writable_len == 0);
  return *t;
}

/// The next pop() serves the well-formed chain `id` whose readable bytes are `want` (and clears
/// rejected()); completing it with length 0 works. Returns the chain.
template <typename Device>
typename Device::chain_type expect_served(Device& d, std::uint16_t id, const std::vector<std::byte>& want) {
  const auto c = pop_ok(d);
  CHECK(!d.rejected().has_value());
  CHECK(c.id() == id);
  CHECK(read_all(c) == want);
  CHECK(d.push_used(c, 0).has_value());
  return c;
}

/// pop() must fail with `want` and break the queue: no rejected token, and every later call
/// reports queue_broken (sticky) until reset() and configure().
template <typename Device>
void expect_pop_breaks_queue(Device& d, errc want) {
  CHECK(err(d.pop()) == want);
  CHECK(d.broken());
  CHECK(!d.ready());
  CHECK(d.broken_reason() == want);
  CHECK(!d.rejected().has_value());
  CHECK(err(d.pop()) == errc::queue_broken);
  CHECK(err(d.available()) == errc::queue_broken);
  CHECK(err(d.enable_notifications()) == errc::queue_broken);
  CHECK(err(d.push_used(used_token{0, 1, 0, 0}, 0)) == errc::queue_broken);
  CHECK(err(d.remap()) == errc::queue_broken);
  CHECK(!d.needs_notification());
  CHECK(err(d.pop()) == errc::queue_broken);
}

/// With exactly one chain published: pop_into() fills the chain it is given, and the next
/// pop_into() reports nothing and leaves that chain empty (no stale segments).
template <typename Device>
void expect_pop_into_then_empty(Device& d) {
  typename Device::chain_type c;
  auto got = d.pop_into(c);
  REQUIRE(got.has_value());
  CHECK(*got);
  CHECK(!c.empty());
  got = d.pop_into(c);
  REQUIRE(got.has_value());
  CHECK(!*got);
  CHECK(c.empty());
  CHECK(c.readable().empty());
  CHECK(c.writable().empty());
}

}  // namespace vireo_ring_common
