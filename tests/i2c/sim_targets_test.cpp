// SPDX-License-Identifier: Apache-2.0
// The simulated targets on a sim::bus: the 24C02 EEPROM (word address, page roll-over, program
// at STOP, sequential read roll-over, random and current-address reads) and the register map
// (register number then data, auto-increment and wrap, out-of-range and read-only NACKs).
#include "device_test_support.hpp"

using namespace vireo_i2c_test;
using i2c::host_message;

namespace {

struct eeprom_bus {
  i2c::sim::bus<2> bus;
  i2c::sim::eeprom_24c02 e;
  eeprom_bus() { REQUIRE(bus.attach(a7(0x50), e).has_value()); }

  std::size_t write(std::vector<std::byte> data) {
    const std::vector<host_message> m{{a7(0x50), direction::write, {data.data(), data.size()}}};
    return bus.transfer(m);
  }
  std::vector<std::byte> read_at(std::uint8_t addr, std::size_t n) {
    std::vector<std::byte> a{std::byte{addr}}, out(n);
    const std::vector<host_message> m{{a7(0x50), direction::write, {a.data(), 1}},
                                      {a7(0x50), direction::read, {out.data(), n}}};
    REQUIRE(bus.transfer(m) == 2);
    return out;
  }
  std::vector<std::byte> read_current(std::size_t n) {
    std::vector<std::byte> out(n);
    const std::vector<host_message> m{{a7(0x50), direction::read, {out.data(), n}}};
    REQUIRE(bus.transfer(m) == 1);
    return out;
  }
};

std::vector<std::byte> seq(std::uint8_t from, std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(from + i);
  return v;
}

}  // namespace

TEST_CASE("eeprom 24c02: a new chip is erased; a page write programs at STOP") {
  eeprom_bus t;
  for (std::byte b : t.e.contents()) CHECK(b == std::byte{0xFF});
  CHECK(t.write(bytes_of({0x10, 0xDE, 0xAD})) == 1);
  CHECK(t.e.pending() == 0);  // the transfer ended with STOP: programmed
  CHECK(t.e.contents()[0x10] == std::byte{0xDE});
  CHECK(t.e.contents()[0x11] == std::byte{0xAD});
  CHECK(t.e.pointer() == 0x12);
  CHECK(t.read_at(0x10, 3) == bytes_of({0xDE, 0xAD, 0xFF}));
}

TEST_CASE("eeprom 24c02: writing past the end of a page rolls over to the page's start") {
  eeprom_bus t;
  // Word address 0x1D (page 0x18-0x1F), 12 bytes A0..AB: A0-A2 land at 0x1D-0x1F, A3-AA roll
  // over to 0x18-0x1F, and AB overwrites 0x18 again.
  auto data = bytes_of({0x1D});
  const auto payload = seq(0xA0, 12);
  data.insert(data.end(), payload.begin(), payload.end());
  CHECK(t.write(data) == 1);
  const auto page = t.read_at(0x18, 8);
  CHECK(page == bytes_of({0xAB, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA}));
  CHECK(t.e.contents()[0x17] == std::byte{0xFF});  // neighbours untouched
  CHECK(t.e.contents()[0x20] == std::byte{0xFF});
}

TEST_CASE("eeprom 24c02: a repeated START before STOP aborts the page write") {
  eeprom_bus t;
  std::vector<std::byte> w = bytes_of({0x40, 0x11, 0x22}), out(2);
  const std::vector<host_message> m{{a7(0x50), direction::write, {w.data(), w.size()}},
                                    {a7(0x50), direction::read, {out.data(), 2}}};
  CHECK(t.bus.transfer(m) == 2);
  CHECK(t.e.contents()[0x40] == std::byte{0xFF});
  CHECK(t.e.pending() == 0);
  // The read started at the rolled-over pointer, 0x42, on the still-erased cells.
  CHECK(out == bytes_of({0xFF, 0xFF}));
}

TEST_CASE("eeprom 24c02: sequential reads roll over from 0xFF to 0x00; current-address read") {
  eeprom_bus t;
  for (std::size_t i = 0; i < 256; ++i) t.e.contents()[i] = static_cast<std::byte>(i);
  CHECK(t.read_at(0xFE, 4) == bytes_of({0xFE, 0xFF, 0x00, 0x01}));
  CHECK(t.e.pointer() == 0x02);
  CHECK(t.read_current(2) == bytes_of({0x02, 0x03}));
  // Setting the word address alone (write of one byte, STOP), then a current-address read.
  CHECK(t.write(bytes_of({0x80})) == 1);
  CHECK(t.e.contents()[0x80] == std::byte{0x80});  // nothing programmed
  CHECK(t.read_current(1) == bytes_of({0x80}));
  // A read of all 256 bytes and more.
  const auto all = t.read_at(0x00, 260);
  for (std::size_t i = 0; i < 260; ++i) CHECK(all[i] == static_cast<std::byte>(i & 0xFF));
}

TEST_CASE("register map: register number then data; auto-increment wraps at N") {
  i2c::sim::bus<1> bus;
  i2c::sim::register_map<8> chip;
  REQUIRE(bus.attach(a7(0x20), chip).has_value());
  auto w = bytes_of({0x06, 0x60, 0x70, 0x80});  // regs 6, 7, then 0
  const std::vector<host_message> wr{{a7(0x20), direction::write, {w.data(), w.size()}}};
  CHECK(bus.transfer(wr) == 1);
  CHECK(chip.get(6) == 0x60);
  CHECK(chip.get(7) == 0x70);
  CHECK(chip.get(0) == 0x80);
  CHECK(chip.selected() == 1);
  // Read from register 7 across the wrap, as one write(register) + read transaction.
  auto reg = bytes_of({0x07});
  std::vector<std::byte> out(3);
  const std::vector<host_message> rd{{a7(0x20), direction::write, {reg.data(), 1}},
                                     {a7(0x20), direction::read, {out.data(), 3}}};
  CHECK(bus.transfer(rd) == 2);
  CHECK(out == bytes_of({0x70, 0x80, 0x00}));
  // The selection survives STOP: a read alone continues from there.
  std::vector<std::byte> more(1);
  const std::vector<host_message> cont{{a7(0x20), direction::read, {more.data(), 1}}};
  chip.set(2, 0x22);
  CHECK(bus.transfer(cont) == 1);
  CHECK(more == bytes_of({0x22}));
}

TEST_CASE("register map: out-of-range register numbers and read-only registers NACK") {
  i2c::sim::bus<1> bus;
  i2c::sim::register_map<8> chip;
  REQUIRE(bus.attach(a7(0x20), chip).has_value());
  auto bad_reg = bytes_of({0x08, 0x01});
  const std::vector<host_message> m1{{a7(0x20), direction::write, {bad_reg.data(), 2}}};
  CHECK(bus.transfer(m1) == 0);
  chip.set_read_only(3);
  CHECK(chip.read_only(3));
  auto w = bytes_of({0x02, 0x21, 0x31, 0x41});  // reg 2 stored, reg 3 NACKs, 0x41 never sent
  const std::vector<host_message> m2{{a7(0x20), direction::write, {w.data(), w.size()}}};
  CHECK(bus.transfer(m2) == 0);
  CHECK(chip.get(2) == 0x21);
  CHECK(chip.get(3) == 0x00);
  CHECK(chip.get(4) == 0x00);
  chip.set(3, 0x99);  // the host side may still change it (a status register)
  std::vector<std::byte> out(1);
  auto reg = bytes_of({0x03});
  const std::vector<host_message> rd{{a7(0x20), direction::write, {reg.data(), 1}},
                                     {a7(0x20), direction::read, {out.data(), 1}}};
  CHECK(bus.transfer(rd) == 2);
  CHECK(out == bytes_of({0x99}));
  chip.set_read_only(3, false);
  CHECK(!chip.read_only(3));
}

TEST_CASE("register map: a single register and the full 256") {
  i2c::sim::register_map<1> one;
  i2c::sim::register_map<256> full;
  i2c::sim::bus<2> bus;
  REQUIRE(bus.attach(a7(0x21), one).has_value());
  REQUIRE(bus.attach(a7(0x22), full).has_value());
  auto w1 = bytes_of({0x00, 0x05, 0x06});  // the one register, written twice
  auto w2 = bytes_of({0xFF, 0x0A, 0x0B});  // register 255, then wrap to 0
  const std::vector<host_message> m{{a7(0x21), direction::write, {w1.data(), 3}},
                                    {a7(0x22), direction::write, {w2.data(), 3}}};
  CHECK(bus.transfer(m) == 2);
  CHECK(one.get(0) == 0x06);
  CHECK(full.get(255) == 0x0A);
  CHECK(full.get(0) == 0x0B);
}
