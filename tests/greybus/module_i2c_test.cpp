// SPDX-License-Identifier: Apache-2.0
// The module side's I2C responder (greybus/module/i2c_responder.hpp) at message level, routed by
// module::interface over the vm-bridged-phy manifest vector (CPort 2 = I2C): Functionality,
// Transfer against a simulated 24C02 with exact response bytes, the allow-list, NACKs, every
// malformed request, and one simulated bus reached through Greybus and through virtio-i2c.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "greybus/module_test_support.hpp"
#include "i2c/device_test_support.hpp"
#include "test_support.hpp"
#include "vireo/greybus/module/i2c_responder.hpp"
#include "vireo/greybus/module/module.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbm = vireo::greybus::module;
namespace hi = vireo::i2c;  // the host side
using vireo::errc;
using vireo_test::err;
using namespace greybus_module_test;


constexpr std::uint8_t functionality = 0x02, transfer = 0x05;
constexpr unsigned rd = 0x0001;

/// One transfer op {le16 addr, le16 flags, le16 size}.
struct op {
  unsigned addr;
  unsigned flags;
  unsigned size;
};
/// A Transfer payload laid out by hand: le16 count, the ops, then `data`.
bytes_vec transfer_payload(std::initializer_list<op> ops, const bytes_vec& data = {},
                           int count = -1) {
  const unsigned n = count < 0 ? unsigned(ops.size()) : unsigned(count);
  bytes_vec p = raw({n & 0xff, n >> 8});
  for (const op& o : ops) {
    const bytes_vec b = raw({o.addr & 0xff, o.addr >> 8, o.flags & 0xff, o.flags >> 8,
                             o.size & 0xff, o.size >> 8});
    p.insert(p.end(), b.begin(), b.end());
  }
  p.insert(p.end(), data.begin(), data.end());
  return p;
}

constexpr std::uint16_t i2c_cport = 2;


template <typename Bus>
struct board {
  using responder_t = gbm::i2c_responder<Bus, 4, 4>;
  Bus& bus;
  responder_t i2c;
  gbm::interface<4> iface;
  std::array<std::byte, 64> out{};

  board(Bus& b, std::initializer_list<std::uint16_t> allowed)
      : bus(b), i2c(make_i2c(b, allowed)), iface(make_iface()) {
    REQUIRE(send(0, request(0x42, 0x05, raw({i2c_cport, 0}))).value() == response(0x42, 0x05));
  }
  static responder_t make_i2c(Bus& b, std::initializer_list<std::uint16_t> allowed) {
    const std::vector<std::uint16_t> v(allowed);
    auto r = responder_t::create(b, v);
    REQUIRE(r.has_value());
    return *r;
  }
  gbm::interface<4> make_iface() {
    auto i = gbm::interface<4>::create(bridged_phy_manifest());
    REQUIRE(i.has_value());
    REQUIRE(i->attach(i2c_cport, i2c).has_value());
    return *i;
  }
  vireo::result<bytes_vec> send(std::uint16_t cport, const bytes_vec& msg) {
    const auto n = iface.handle(cport, {msg.data(), msg.size()}, out);
    if (!n) return n.error();
    return bytes_vec(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  bytes_vec ok(const bytes_vec& msg) {
    auto r = send(i2c_cport, msg);
    REQUIRE(r.has_value());
    return *r;
  }
};

using bus_t = hi::sim::bus<4>;

/// A 24C02 at 0x50 (allowed) and another at 0x51 (attached, not allowed); 0x52 allowed, absent.
struct fixture {
  bus_t bus;
  hi::sim::eeprom_24c02 eeprom;
  hi::sim::eeprom_24c02 hidden;
  board<bus_t> b{bus, {0x50, 0x52}};
  fixture() {
    REQUIRE(bus.attach(hi::address::seven_bit(0x50).value(), eeprom).has_value());
    REQUIRE(bus.attach(hi::address::seven_bit(0x51).value(), hidden).has_value());
    for (std::size_t i = 0; i < eeprom.size; ++i) {
      eeprom.contents()[i] = std::byte(i);
      hidden.contents()[i] = std::byte(0x80 | i);
    }
  }
};

}  // namespace

TEST_CASE("module i2c: Functionality reports plain I2C and Linux's SMBus emulation") {
  fixture f;
  CHECK(f.b.ok(request(1, functionality)) == raw({12, 0, 1, 0, 0x82, 0, 0, 0, 0x09, 0x00, 0xff, 0x0e}));
  CHECK(gbm::default_i2c_functionality == 0x0eff0009u);
  bus_t bus;
  auto custom = gbm::i2c_responder<bus_t>::create(bus, {}, 0x1);
  REQUIRE(custom.has_value());
  std::array<std::byte, 32> out{};
  const bytes_vec q = request(2, functionality);
  const auto m = gb::decode({q.data(), q.size()});
  REQUIRE(m.has_value());
  const auto n = custom->handle(*m, out);
  REQUIRE(n.has_value());
  CHECK(bytes_vec(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)) ==
        response(2, functionality, raw({1, 0, 0, 0})));
}

TEST_CASE("module i2c: Transfer writes, then reads back, a 24C02 page") {
  fixture f;
  // Write 3 bytes at word address 0x10: one write op carrying {0x10, 0xAA, 0xBB}.
  CHECK(f.b.ok(request(1, transfer, transfer_payload({{0x50, 0, 3}}, raw({0x10, 0xaa, 0xbb})))) ==
        raw({8, 0, 1, 0, 0x85, 0, 0, 0}));
  CHECK(f.eeprom.contents()[0x10] == std::byte{0xaa});
  CHECK(f.eeprom.contents()[0x11] == std::byte{0xbb});
  CHECK(f.eeprom.contents()[0x12] == std::byte{0x12});
  // Random read: write the word address, repeated START, read 3.
  CHECK(f.b.ok(request(2, transfer, transfer_payload({{0x50, 0, 1}, {0x50, rd, 3}}, raw({0x10})))) ==
        raw({11, 0, 2, 0, 0x85, 0, 0, 0, 0xaa, 0xbb, 0x12}));
  CHECK(f.bus.transfers() == 2);
  CHECK(f.bus.last_transfer_size() == 2);
}

TEST_CASE("module i2c: the read data of several read ops comes back concatenated in op order") {
  fixture f;
  const bytes_vec got = f.b.ok(request(
      3, transfer,
      transfer_payload({{0x50, 0, 1}, {0x50, rd, 2}, {0x50, 0, 1}, {0x50, rd, 3}}, raw({0x20, 0x40}))));
  CHECK(got == response(3, transfer, raw({0x20, 0x21, 0x40, 0x41, 0x42})));
  CHECK(f.bus.transfers() == 1);  // one combined transaction
  CHECK(f.bus.last_transfer_size() == 4);
  // A read on its own: current address read from where the pointer was left (0x43).
  CHECK(f.b.ok(request(4, transfer, transfer_payload({{0x50, rd, 1}}))) ==
        response(4, transfer, raw({0x43})));
}

TEST_CASE("module i2c: an address off the allow-list answers GB_OP_NONEXISTENT, bus untouched") {
  fixture f;
  const auto before = f.bus.transfers();
  CHECK(f.b.ok(request(1, transfer, transfer_payload({{0x51, rd, 2}}))) ==
        error_response(1, transfer, gb::status::nonexistent));
  // Even behind an allowed op, and even for a write.
  CHECK(f.b.ok(request(2, transfer, transfer_payload({{0x50, 0, 1}, {0x51, 0, 2}}, raw({0, 1, 2})))) ==
        error_response(2, transfer, gb::status::nonexistent));
  CHECK(f.b.ok(request(3, transfer, transfer_payload({{0x00, 0, 0}}))) ==  // general call
        error_response(3, transfer, gb::status::nonexistent));
  CHECK(f.bus.transfers() == before);
  CHECK(f.b.i2c.refused_transfers() == 3);
  CHECK(f.hidden.contents()[0] == std::byte{0x80});
  CHECK(f.b.i2c.allowed(0x50));
  CHECK(!f.b.i2c.allowed(0x51));
}

TEST_CASE("module i2c: a NACK answers GB_OP_NONEXISTENT (Linux: an expected -ENODEV)") {
  fixture f;
  CHECK(f.b.ok(request(1, transfer, transfer_payload({{0x52, rd, 1}}))) ==
        error_response(1, transfer, gb::status::nonexistent));
  CHECK(f.b.ok(request(2, transfer, transfer_payload({{0x52, 0, 0}}))) ==  // probe
        error_response(2, transfer, gb::status::nonexistent));
  CHECK(f.b.ok(request(3, transfer, transfer_payload({{0x50, 0, 0}}))) == response(3, transfer));
  f.bus.nack_once(hi::address::seven_bit(0x50).value());
  CHECK(f.b.ok(request(4, transfer, transfer_payload({{0x50, 0, 1}, {0x50, rd, 1}}, raw({0})))) ==
        error_response(4, transfer, gb::status::nonexistent));
  CHECK(f.b.i2c.failed_transfers() == 3);
  CHECK(f.b.ok(request(5, transfer, transfer_payload({{0x50, 0, 1}, {0x50, rd, 1}}, raw({7})))) ==
        response(5, transfer, raw({7})));
}

TEST_CASE("module i2c: malformed Transfers answer GB_OP_INVALID without touching the bus") {
  fixture f;
  using gb::status;
  const bytes_vec bad[] = {
      raw({1}),                                                      // no op_count
      transfer_payload({{0x50, 0, 1}}, raw({0}), 2),                 // op array overruns
      transfer_payload({{0x50, 0, 2}}, raw({0})),                    // write data short
      transfer_payload({{0x50, 0, 1}}, raw({0, 0})),                 // write data long
      transfer_payload({{0x50, rd, 1}}, raw({0})),                   // data for a read op
      transfer_payload({}),                                          // no op at all
      transfer_payload({{0x50, rd, 1}, {0x50, rd, 1}, {0x50, rd, 1}, {0x50, rd, 1}, {0x50, rd, 1}}),
      transfer_payload({{0x80, rd, 1}}),                             // not a 7-bit address
      transfer_payload({{0x50, rd | 0x0010, 1}}),                    // I2C_M_TEN
      transfer_payload({{0x50, rd | 0x0400, 1}}),                    // I2C_M_RECV_LEN
      transfer_payload({{0x50, 0x4000, 0}}),                         // I2C_M_NOSTART
      transfer_payload({{0x50, rd | 0x8000, 1}}),                    // I2C_M_STOP
      transfer_payload({{0x50, rd | 0x1000, 1}}),                    // I2C_M_IGNORE_NAK
  };
  std::uint16_t id = 10;
  for (const bytes_vec& p : bad) {
    CAPTURE(id);
    CHECK(f.b.ok(request(id, transfer, p)) == error_response(id, transfer, status::invalid));
    ++id;
  }
  CHECK(f.b.ok(request(50, functionality, raw({0}))) == error_response(50, functionality, status::invalid));
  for (std::uint8_t t : {0x01, 0x03, 0x04, 0x06, 0x7f}) {
    CAPTURE(int(t));
    CHECK(f.b.ok(request(51, t)) == error_response(51, t, status::invalid));
  }
  CHECK(f.bus.transfers() == 0);
  // I2C_M_DMA_SAFE is a kernel-internal hint Linux passes through: accepted.
  CHECK(f.b.ok(request(60, transfer, transfer_payload({{0x50, 0, 1}, {0x50, rd | 0x0200, 1}}, raw({5})))) ==
        response(60, transfer, raw({5})));
}

TEST_CASE("module i2c: read data beyond the response buffer answers GB_OP_OVERFLOW, bus untouched") {
  fixture f;  // board's out buffer: 64 bytes = 8 + 56
  CHECK(f.b.ok(request(1, transfer, transfer_payload({{0x50, rd, 57}}))) ==
        error_response(1, transfer, gb::status::overflow));
  CHECK(f.bus.transfers() == 0);
  const bytes_vec r = f.b.ok(request(2, transfer, transfer_payload({{0x50, rd, 56}})));
  REQUIRE(r.size() == 64);
  CHECK(r[8] == std::byte{0});
  CHECK(r[63] == std::byte{55});
}

TEST_CASE("module i2c: CPort Shutdown; a unidirectional Transfer runs and answers nothing") {
  fixture f;
  CHECK(f.b.ok(request(1, 0x00, raw({1}))) == response(1, 0x00));
  CHECK(f.b.ok(request(0, transfer, transfer_payload({{0x50, 0, 2}}, raw({0x30, 0x99})))).empty());
  CHECK(f.eeprom.contents()[0x30] == std::byte{0x99});
  CHECK(f.b.ok(request(0, transfer, transfer_payload({{0x51, 0, 2}}, raw({0x30, 0x99})))).empty());
  CHECK(f.hidden.contents()[0x30] == std::byte{0xb0});
}

TEST_CASE("module i2c: create checks the allow-list") {
  bus_t bus;
  using r = gbm::i2c_responder<bus_t, 4, 2>;
  const std::vector<std::uint16_t> three{1, 2, 3}, ten_bit{0x50, 0x80};
  CHECK(err(r::create(bus, three)) == errc::invalid_argument);
  CHECK(err(r::create(bus, ten_bit)) == errc::invalid_argument);
  const std::vector<std::uint16_t> two{0x50, 0x7f};
  auto ok = r::create(bus, two);
  REQUIRE(ok.has_value());
  CHECK(ok->allowed(0x7f));
  CHECK(!ok->allowed(0x51));
  CHECK(!ok->next_outgoing(vireo::bytes{}).has_value());
}

TEST_CASE_TEMPLATE("module i2c: one sim bus, reached through Greybus and through virtio-i2c", L,
                   vireo_i2c_test::split_layout, vireo_i2c_test::packed_layout) {
  namespace vt = vireo_i2c_test;
  auto r = vt::make_rig<L>();  // virtio-i2c device over r->bus: 24C02 at 0x50, registers at 0x20
  board<vt::sim_bus> b{r->bus, {0x50}};
  // Greybus programs 4 bytes at 0x80 ...
  CHECK(b.ok(request(1, transfer, transfer_payload({{0x50, 0, 5}}, raw({0x80, 1, 2, 3, 4})))) ==
        response(1, transfer));
  CHECK(r->eeprom.contents()[0x83] == std::byte{4});
  // ... and the virtio-i2c driver reads them back through the device model.
  const vireo::gpa reg = r->put(vt::bytes_of({0x80}));
  const vireo::gpa buf = r->fresh(4);
  r->transfer({{vt::a7(0x50), hi::direction::write, reg, 1}, {vt::a7(0x50), hi::direction::read, buf, 4}});
  r->process();
  (void)vt::reclaim_n(r->m, 2);
  CHECK(r->bytes_at(buf, 4) == vt::bytes_of({1, 2, 3, 4}));
  // The virtio-i2c driver writes; Greybus reads.
  const vireo::gpa w = r->put(vt::bytes_of({0x90, 0xde, 0xad}));
  r->transfer({{vt::a7(0x50), hi::direction::write, w, 3}});
  r->process();
  (void)vt::reclaim_n(r->m, 1);
  CHECK(b.ok(request(2, transfer, transfer_payload({{0x50, 0, 1}, {0x50, rd, 2}}, raw({0x90})))) ==
        response(2, transfer, raw({0xde, 0xad})));
  // The register chip at 0x20 is on the bus, but not on Greybus's allow-list.
  CHECK(b.ok(request(3, transfer, transfer_payload({{0x20, rd, 1}}))) ==
        error_response(3, transfer, gb::status::nonexistent));
}
