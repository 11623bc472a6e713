// SPDX-License-Identifier: Apache-2.0
// Proves the "first lines" snippet of docs/first-lines.md (and README) compiles and runs: the
// lines between the SNIPPET markers are the doc's lines, verbatim, with a mock driver as guest.
// The snippet uses any_device_queue, so the same lines are run against a split and a packed ring.
#include <vireo/vireo.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <vireo/testing/mock_packed_driver.hpp>
#include <vireo/testing/mock_split_driver.hpp>

namespace {

using vireo::bytes;
using vireo::errc;
using vireo::gpa;

/// The user's device model as the snippet sees it: handle() echoes the readable bytes into the
/// writable part and returns the used length; fail() is where DEVICE_NEEDS_RESET would be set.
struct echo_device {
  int handled = 0;
  errc failed_with{};
  bool failed = false;

  std::uint32_t handle(vireo::chain::reader<vireo::flat_memory> in,
                       vireo::chain::writer<vireo::flat_memory> out) {
    ++handled;
    std::array<std::byte, 64> buf;
    while (in.remaining() > 0 && out.remaining() > 0) {
      const std::size_t n = std::min({buf.size(), in.remaining(), out.remaining()});
      if (!in.read({buf.data(), n}) || !out.write({buf.data(), n})) break;
    }
    return out.written();
  }
  bool fail(errc e) {
    failed = true;
    failed_with = e;
    return false;
  }
};

/// One pass of a device's queue handler, as a user writes it. Returns false after dev.fail().
template <typename NotifyDriver>
bool serve_queue(bytes guest_ram, gpa guest_base, const vireo::ring::queue_config& queue_config,
                 echo_device& dev, NotifyDriver notify_driver) {
  // ---- SNIPPET BEGIN (docs/first-lines.md) ----
  vireo::flat_memory mem{guest_ram, guest_base};         // or the hypervisor's own memory model
  vireo::ring::any_device_queue q{mem};                   // split or packed: configure() picks
  if (auto r = q.configure(queue_config); !r) return dev.fail(r.error());  // size, gpas, features
  while (true) {
    auto chain = q.pop();                                 // result<chain>; empty ring: empty chain
    if (!chain) {                                         // hostile guest: a typed error, no UB
      if (auto bad = q.rejected(); bad && q.push_used(*bad, 0)) continue;  // one bad chain: skip
      return dev.fail(chain.error());                     // ring corrupt: the queue is broken
    }
    if (chain->empty()) break;
    auto len = dev.handle(chain->reader(), chain->writer());  // your protocol; bytes written
    if (auto r = q.push_used(*chain, len); !r) return dev.fail(r.error());
  }
  if (q.needs_notification()) notify_driver();
  // ---- SNIPPET END ----
  return true;
}

vireo::const_bytes text(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("first lines, split ring: serve good chains, skip a malformed one, notify once") {
  vireo::testing::mock_split_driver guest{{.size = 16}};
  auto& drv = guest.driver();

  auto a = guest.add({text("hello")}, {8});
  // A malformed chain between two good ones: its head descriptor is rewritten to loop on itself.
  auto bad = guest.add({text("loop")}, {4});
  REQUIRE(a);
  REQUIRE(bad);
  guest.write_desc(*bad, guest.alloc(4).raw(), 4, vireo::ring::desc_flag::next, *bad);
  auto b = guest.add({text("vir"), text("tio")}, {2, 4});
  REQUIRE(b);

  echo_device dev;
  int notifications = 0;
  const bool served = serve_queue(guest.memory().host(), guest.memory().base(), guest.config(), dev,
                                  [&] { ++notifications; });
  CHECK(served);
  CHECK_FALSE(dev.failed);
  CHECK(dev.handled == 2);
  CHECK(notifications == 1);
  CHECK(guest.used_idx() == 3);

  // The driver gets all three back: the two replies with their lengths, the bad chain with 0.
  std::array<std::uint32_t, 16> len_of{};
  len_of.fill(UINT32_MAX);
  for (int i = 0; i < 3; ++i) {
    auto u = drv.reclaim();
    REQUIRE(u);
    REQUIRE(u->has_value());
    len_of[(*u)->id] = (*u)->len;
  }
  CHECK(len_of[*a] == 5);
  CHECK(len_of[*bad] == 0);
  CHECK(len_of[*b] == 6);
}

TEST_CASE("first lines, split ring: a corrupt ring ends in dev.fail with a typed error") {
  vireo::testing::mock_split_driver guest{{.size = 16}};
  guest.publish_raw(999);  // an available-ring entry naming a descriptor past the table

  echo_device dev;
  int notifications = 0;
  const bool served = serve_queue(guest.memory().host(), guest.memory().base(), guest.config(), dev,
                                  [&] { ++notifications; });
  CHECK_FALSE(served);
  CHECK(dev.failed);
  CHECK(dev.failed_with == errc::head_out_of_range);
  CHECK(dev.handled == 0);
  CHECK(notifications == 0);
}

TEST_CASE("first lines, packed ring: serve good chains, skip a malformed one, notify once") {
  // 25 slots: packed sizes need not be powers of two. INDIRECT_DESC is negotiated, so the bad
  // list below is refused for its shape (indirect_in_chain), not for a missing feature.
  vireo::feature_set features;
  features.set(vireo::transport_feature::indirect_desc);
  vireo::testing::mock_packed_driver guest{{.size = 25, .features = features}};
  auto& drv = guest.driver();

  auto a = guest.add({text("hello")}, {8});
  // A malformed list between two good ones: its second descriptor is rewritten to carry
  // INDIRECT, which virtio 1.3 §2.8.7 allows only on a list's single descriptor.
  const std::uint16_t bad_slot = vireo::ring::off_of(drv.avail_index());
  auto bad = guest.add({text("loop")}, {4});
  REQUIRE(a);
  REQUIRE(bad);
  const auto second = guest.read_desc(static_cast<std::uint16_t>(bad_slot + 1));
  guest.write_desc(static_cast<std::uint16_t>(bad_slot + 1), second.addr, second.len, second.id,
                   static_cast<std::uint16_t>(second.flags | vireo::ring::desc_flag::indirect));
  auto b = guest.add({text("vir"), text("tio")}, {2, 4});
  REQUIRE(b);

  echo_device dev;
  int notifications = 0;
  const bool served = serve_queue(guest.memory().host(), guest.memory().base(), guest.config(), dev,
                                  [&] { ++notifications; });
  CHECK(served);
  CHECK_FALSE(dev.failed);
  CHECK(dev.handled == 2);
  CHECK(notifications == 1);

  // The driver gets all three back: the two replies with their lengths, the bad list with 0.
  std::array<std::uint32_t, 25> len_of{};
  len_of.fill(UINT32_MAX);
  for (int i = 0; i < 3; ++i) {
    auto u = drv.reclaim();
    REQUIRE(u);
    REQUIRE(u->has_value());
    len_of[(*u)->id] = (*u)->len;
  }
  CHECK(len_of[*a] == 5);
  CHECK(len_of[*bad] == 0);
  CHECK(len_of[*b] == 6);
  CHECK(drv.in_flight() == 0);
}

TEST_CASE("first lines, packed ring: a corrupt ring ends in dev.fail with a typed error") {
  vireo::testing::mock_packed_driver guest{{.size = 25}};
  // A head that says NEXT, followed by a slot the driver never made available: the list's end
  // cannot be found, so the ring cannot be parsed past it.
  const vireo::gpa buf = guest.alloc(4);
  guest.publish_chain(0, true, {{buf.raw(), 4, 0, vireo::ring::desc_flag::next}});

  echo_device dev;
  int notifications = 0;
  const bool served = serve_queue(guest.memory().host(), guest.memory().base(), guest.config(), dev,
                                  [&] { ++notifications; });
  CHECK_FALSE(served);
  CHECK(dev.failed);
  CHECK(dev.failed_with == errc::desc_not_available);
  CHECK(dev.handled == 0);
  CHECK(notifications == 0);
}
