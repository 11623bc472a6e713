// SPDX-License-Identifier: Apache-2.0
// One device model over both layouts: any_device_queue / any_driver_queue pick split or packed
// from VIRTIO_F_RING_PACKED, and the same code moves the same bytes through either.
#include "split_test_support.hpp"

#include <random>

#include "vireo/testing/mock_packed_driver.hpp"

using namespace vireo_ring_test;
using vireo::ring::any_device_queue;
using vireo::ring::any_driver_queue;
using vireo::ring::queue_layout;

namespace {

/// A device step written once: echo the readable bytes, reversed, into the writable ones.
template <typename DeviceQueue>
[[nodiscard]] std::size_t echo_all(DeviceQueue& dev) {
  std::size_t served = 0;
  typename DeviceQueue::chain_type c;
  for (;;) {
    auto got = dev.pop_into(c);
    REQUIRE(got.has_value());
    if (!*got) return served;
    auto in = read_all(c);
    std::vector<std::byte> out(in.rbegin(), in.rend());
    out.resize(std::min<std::size_t>(out.size(), c.writable_len()));
    auto w = c.writer();
    REQUIRE(w.write(out).has_value());
    REQUIRE(dev.push_used(c, w.written()).has_value());
    ++served;
  }
}

/// Drive `rounds` random requests through a driver queue and a device queue that share `mem`.
template <typename Mock>
void round_trip(Mock& m, feature_set f, queue_layout expect) {
  any_device_queue<flat_memory> dev{m.memory()};
  any_driver_queue<flat_memory> drv{m.memory()};
  auto cfg = m.config();
  cfg.features = f | cfg.features;
  REQUIRE(drv.configure(cfg, m.pool()).has_value());
  REQUIRE(dev.configure(cfg).has_value());
  CHECK(dev.layout() == expect);
  CHECK(drv.layout() == expect);
  std::mt19937 rng{7};
  for (int round = 0; round < 400; ++round) {
    m.reset_arena();
    const std::uint32_t n = 1 + rng() % 40;
    const auto req = pattern(n, static_cast<std::uint32_t>(round));
    const buffer rd{m.put(req), n};
    const buffer wr{m.alloc(64), 64};
    auto id = drv.add({&rd, 1}, {&wr, 1}, 1000 + static_cast<std::uint64_t>(round));
    REQUIRE(id.has_value());
    CHECK(drv.needs_kick());
    CHECK(echo_all(dev) == 1);
    CHECK(dev.needs_notification());
    auto used = drv.reclaim();
    REQUIRE(used.has_value());
    REQUIRE(used->has_value());
    CHECK((*used)->id == *id);
    CHECK((*used)->len == n);
    CHECK((*used)->user_data == 1000u + static_cast<std::uint64_t>(round));
    // Ask for the next interrupt, as a driver does once it has drained the queue.
    CHECK_FALSE(drv.enable_interrupts());
    const auto back = m.host(wr.addr, n);
    for (std::uint32_t i = 0; i < n; ++i) REQUIRE(back[i] == req[n - 1 - i]);
  }
}

}  // namespace

TEST_CASE("any queue: VIRTIO_F_RING_PACKED picks the layout, the same device code serves both") {
  SUBCASE("split") {
    mock m{opts(16, features(true, true, false), 4)};
    round_trip(m, features(true, true, false), queue_layout::split);
  }
  SUBCASE("packed") {
    vireo::testing::mock_packed_driver::options o;
    o.size = 13;  // packed sizes need not be powers of two
    o.features = features(true, true, false);
    o.indirect_entries = 4;
    o.data_bytes = std::size_t{1} << 16;
    vireo::testing::mock_packed_driver m{o};
    round_trip(m, features(true, true, false), queue_layout::packed);
  }
}

TEST_CASE("any queue: reconfiguring switches layout and starts from the initial state") {
  vireo::testing::mock_packed_driver::options o;
  o.size = 8;
  vireo::testing::mock_packed_driver pm{o};
  mock sm{opts(8)};
  any_device_queue<flat_memory> dev{pm.memory()};
  REQUIRE(dev.configure(pm.config()).has_value());
  CHECK(dev.layout() == queue_layout::packed);
  CHECK(dev.state() == vireo::ring::queue_state{0x8000, 0x8000});  // slot 0, wrap counter 1
  any_device_queue<flat_memory> dev2{sm.memory()};
  REQUIRE(dev2.configure(sm.config()).has_value());
  CHECK(dev2.layout() == queue_layout::split);
  CHECK(dev2.state() == vireo::ring::queue_state{0, 0});
  dev.reset();
  CHECK_FALSE(dev.ready());
  CHECK(err(dev.pop()) == errc::queue_not_ready);
}
