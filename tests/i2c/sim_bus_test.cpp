// SPDX-License-Identifier: Apache-2.0
// i2c::sim::bus on its own: attaching targets, transactions (START per message, STOP to every
// addressed target, the count of completed messages), probes, 10-bit addresses, fault injection,
// and a target written by a user against the sim::target concept.
#include "device_test_support.hpp"

using namespace vireo_i2c_test;
using i2c::host_message;

namespace {

host_message msg(i2c::address a, direction d, std::vector<std::byte>& data) {
  return {a, d, {data.data(), data.size()}};
}
host_message probe(i2c::address a, direction d = direction::write) { return {a, d, {}}; }

}  // namespace

TEST_CASE("sim bus: attach, detach, present; an address holds one target") {
  i2c::sim::bus<2> bus;
  recorder a, b, c;
  CHECK(!bus.present(a7(0x10)));
  REQUIRE(bus.attach(a7(0x10), a).has_value());
  CHECK(err(bus.attach(a7(0x10), b)) == errc::i2c_address_in_use);
  REQUIRE(bus.attach(a10(0x010), b).has_value());  // 10-bit 0x010 is another address
  CHECK(err(bus.attach(a7(0x11), c)) == errc::i2c_bus_full);
  CHECK(bus.present(a7(0x10)));
  CHECK(bus.present(a10(0x010)));
  CHECK(err(bus.detach(a7(0x11))) == errc::not_found);
  REQUIRE(bus.detach(a7(0x10)).has_value());
  CHECK(!bus.present(a7(0x10)));
  REQUIRE(bus.attach(a7(0x11), c).has_value());  // the freed entry is reused
  CHECK(bus.present(a7(0x11)));
}

TEST_CASE("sim bus: a transaction stops at the first NACK; every addressed target sees STOP") {
  i2c::sim::bus<4> bus;
  recorder a, b;
  REQUIRE(bus.attach(a7(0x10), a).has_value());
  REQUIRE(bus.attach(a7(0x11), b).has_value());
  std::vector<std::byte> w{std::byte{1}, std::byte{2}}, r(3);
  const std::vector<host_message> ok{msg(a7(0x10), direction::write, w),
                                     msg(a7(0x11), direction::read, r), probe(a7(0x10))};
  CHECK(bus.transfer(ok) == 3);
  CHECK(a.kinds() == "SWSP");  // one STOP at the end, after the repeated START
  CHECK(b.kinds() == "sRP");
  CHECK(r == std::vector<std::byte>(3, std::byte{0x42}));
  // Absent target in the middle: two complete, the third NACKs, the fourth is never started.
  a.log.clear();
  b.log.clear();
  const std::vector<host_message> mid{probe(a7(0x10)), probe(a7(0x11)), probe(a7(0x12)),
                                      probe(a7(0x10))};
  CHECK(bus.transfer(mid) == 2);
  CHECK(a.kinds() == "SP");
  CHECK(b.kinds() == "SP");
  // A target that NACKs its address: it still sees the STOP.
  a.log.clear();
  b.log.clear();
  b.ack = false;
  const std::vector<host_message> nack{probe(a7(0x10)), probe(a7(0x11))};
  CHECK(bus.transfer(nack) == 1);
  CHECK(a.kinds() == "SP");
  CHECK(b.kinds() == "SP");
  CHECK(bus.transfers() == 3);
  CHECK(bus.failed_transfers() == 2);
  CHECK(bus.messages() == 3 + 2 + 1);
  CHECK(bus.transfer({}) == 0);  // an empty transfer completes (nothing)
}

TEST_CASE("sim bus: probes tell present from absent, in both directions and address modes") {
  i2c::sim::bus<4> bus;
  i2c::sim::eeprom_24c02 e;
  i2c::sim::register_map<4> chip;
  REQUIRE(bus.attach(a7(0x50), e).has_value());
  REQUIRE(bus.attach(a10(0x350), chip).has_value());
  for (std::uint16_t a = 0; a <= 0x7F; ++a) {
    CAPTURE(a);
    const std::vector<host_message> p{probe(a7(a))};
    CHECK(bus.transfer(p) == (a == 0x50 ? 1u : 0u));
    const std::vector<host_message> q{probe(a7(a), direction::read)};
    CHECK(bus.transfer(q) == (a == 0x50 ? 1u : 0u));
  }
  const std::vector<host_message> ten{probe(a10(0x350))}, ten_absent{probe(a10(0x050))};
  CHECK(bus.transfer(ten) == 1);
  CHECK(bus.transfer(ten_absent) == 0);
  CHECK(e.pointer() == 0);  // probes move no pointer
}

TEST_CASE("sim bus: nack_once and fail_after inject faults, clear_faults removes them") {
  i2c::sim::bus<2> bus;
  recorder a;
  REQUIRE(bus.attach(a7(0x10), a).has_value());
  const std::vector<host_message> two{probe(a7(0x10)), probe(a7(0x10))};
  bus.nack_once(a7(0x10));
  CHECK(bus.transfer(two) == 0);
  CHECK(bus.transfer(two) == 2);  // once only
  bus.fail_after(3);
  CHECK(bus.transfer(two) == 2);
  CHECK(bus.transfer(two) == 1);
  CHECK(bus.transfer(two) == 0);  // and it stays failed
  bus.clear_faults();
  CHECK(bus.transfer(two) == 2);
  bus.nack_once(a7(0x10));
  bus.clear_faults();
  CHECK(bus.transfer(two) == 2);
}

namespace {

/// A user's own target: a one-byte latch that NACKs writes of 0xFF and counts its STOPs.
struct latch {
  std::uint8_t value = 0;
  int stops = 0;
  bool start(direction) noexcept { return true; }
  bool write(vireo::const_bytes data) noexcept {
    for (std::byte b : data) {
      if (b == std::byte{0xFF}) return false;
      value = std::to_integer<std::uint8_t>(b);
    }
    return true;
  }
  bool read(vireo::bytes out) noexcept {
    for (std::byte& b : out) b = std::byte{value};
    return true;
  }
  void stop() noexcept { ++stops; }
};
static_assert(i2c::sim::target<latch>);
static_assert(!i2c::sim::target<int>);

}  // namespace

TEST_CASE("sim bus: a user-defined target plugs in through the target concept") {
  i2c::sim::bus<1> bus;
  latch l;
  REQUIRE(bus.attach(a7(0x3C), l).has_value());
  std::vector<std::byte> w{std::byte{0x12}, std::byte{0x34}}, r(2), bad{std::byte{0xFF}};
  const std::vector<host_message> rw{msg(a7(0x3C), direction::write, w),
                                     msg(a7(0x3C), direction::read, r)};
  CHECK(bus.transfer(rw) == 2);
  CHECK(r == std::vector<std::byte>{std::byte{0x34}, std::byte{0x34}});
  const std::vector<host_message> nack{msg(a7(0x3C), direction::write, bad)};
  CHECK(bus.transfer(nack) == 0);
  CHECK(l.value == 0x34);
  CHECK(l.stops == 2);
  i2c::sim::target_ref ref{l};
  CHECK(!ref.empty());
  CHECK(i2c::sim::target_ref{}.empty());
}
