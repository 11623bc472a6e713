// SPDX-License-Identifier: Apache-2.0
// A hostile AP against the module side (greybus/module/*.hpp): valid requests of every protocol,
// mutated byte by byte, truncated, extended, sent to any CPort, with host events in between.
// Whatever comes in, every answer is one well-formed response to that very request, a request
// with an id is always answered, a unidirectional one never, and the module keeps working.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "greybus/module_test_support.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/gpio_responder.hpp"
#include "vireo/greybus/module/i2c_responder.hpp"
#include "vireo/greybus/module/module.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbm = vireo::greybus::module;
using namespace greybus_module_test;

/// xorshift64*: deterministic, so a failure replays.
struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1DULL;
  }
  unsigned below(unsigned n) { return static_cast<unsigned>(next() % n); }
};

struct seed {
  std::uint16_t cport;
  bytes_vec msg;
};

/// One valid request of every operation the module answers (CPort 1 GPIO, 2 I2C, 0 Control).
std::vector<seed> seeds() {
  std::vector<seed> s;
  for (std::uint8_t t : {0x01, 0x03, 0x04, 0x13, 0x14, 0x15}) s.push_back({0, request(1, t, {})});
  s.back().msg = request(1, 0x01, {0, 1});
  for (std::uint8_t t : {0x05, 0x06, 0x0c}) {
    s.push_back({0, request(2, t, {1, 0})});
    s.push_back({0, request(2, t, {2, 0})});
  }
  for (std::uint8_t t : {0x0b, 0x0f, 0x10, 0x11, 0x12}) s.push_back({0, request(3, t, {1})});
  s.push_back({0, request(0, 0x0e, {})});
  s.push_back({1, request(4, 0x00, {1})});
  s.push_back({1, request(4, 0x02, {})});
  for (std::uint8_t t : {0x03, 0x04, 0x05, 0x06, 0x08, 0x0c, 0x0d}) s.push_back({1, request(5, t, {1})});
  s.push_back({1, request(6, 0x07, {0, 1})});
  s.push_back({1, request(6, 0x09, {0, 0})});
  s.push_back({1, request(6, 0x0a, {1, 0x10, 0})});
  for (unsigned t : {0u, 1u, 2u, 3u, 4u, 8u}) s.push_back({1, request(6, 0x0b, {1, t})});
  s.push_back({2, request(7, 0x02, {})});
  s.push_back({2, request(7, 0x05, {1, 0, 0x50, 0, 0, 0, 2, 0, 0x10, 0x42})});
  s.push_back({2, request(7, 0x05, {2, 0, 0x50, 0, 0, 0, 1, 0, 0x50, 0, 1, 0, 4, 0, 0x10})});
  s.push_back({2, request(7, 0x05, {1, 0, 0x51, 0, 1, 0, 1, 0})});
  return s;
}

bytes_vec mutate(rng& r, bytes_vec m) {
  switch (r.below(8)) {
    case 0: break;  // as is
    case 1: m[r.below(static_cast<unsigned>(m.size()))] = std::byte(r.below(256)); break;
    case 2: m.resize(r.below(static_cast<unsigned>(m.size()) + 1)); break;  // truncated
    case 3:
      for (unsigned k = r.below(4) + 1; k > 0; --k) m.push_back(std::byte(r.below(256)));
      break;
    case 4: m[4] = std::byte(r.below(256)); break;  // any type, response bit included
    case 5:  // a payload byte, size field kept consistent
      if (m.size() > 8) m[8 + r.below(static_cast<unsigned>(m.size() - 8))] = std::byte(r.below(256));
      break;
    case 6: m[2] = m[3] = std::byte{0}; break;  // unidirectional
    default:
      for (unsigned k = r.below(6) + 1; k > 0; --k)
        m[r.below(static_cast<unsigned>(m.size()))] = std::byte(r.below(256));
  }
  return m;
}

}  // namespace

TEST_CASE("module hostile: mutated requests on any CPort always get a well-formed answer or none") {
  vireo::gpio::sim::chip<8, 8> chip{8};
  vireo::i2c::sim::bus<2> bus;
  vireo::i2c::sim::eeprom_24c02 eeprom;
  REQUIRE(bus.attach(vireo::i2c::address::seven_bit(0x50).value(), eeprom).has_value());
  const std::vector<std::uint16_t> lines{1, 3, 4}, allowed{0x50};
  auto g = gbm::gpio_responder<decltype(chip), 4>::create(chip, lines);
  auto i = gbm::i2c_responder<decltype(bus), 4, 2>::create(bus, allowed);
  REQUIRE(g.has_value());
  REQUIRE(i.has_value());
  const auto& v = greybus_manifest_test::v_manifests_vm_bridged_phy_mnfb;
  auto iface = gbm::interface<4>::create(std::as_bytes(std::span{v}));
  REQUIRE(iface.has_value());
  REQUIRE(iface->attach(1, *g).has_value());
  REQUIRE(iface->attach(2, *i).has_value());

  const std::vector<seed> pool = seeds();
  rng r{0x9e3779b97f4a7c15ULL};
  std::array<std::byte, 512> out{};
  std::size_t answered = 0, events = 0;
  for (int round = 0; round < 30000; ++round) {
    const seed& s = pool[r.below(static_cast<unsigned>(pool.size()))];
    const bytes_vec m = mutate(r, s.msg);
    const std::uint16_t cport = r.below(10) == 0 ? static_cast<std::uint16_t>(r.below(8)) : s.cport;
    const std::size_t room = r.below(20) == 0 ? r.below(24) : out.size();
    const auto n = iface->handle(cport, {m.data(), m.size()}, {out.data(), room});
    const auto req = gb::decode({m.data(), m.size()});
    const bool known_cport = cport <= 5;
    if (req && !req->response() && known_cport && room >= 8) {
      INFO("round " << round << " cport " << cport << " room " << room << " type " << int(req->type())
                     << " id " << req->id() << " error " << (n ? 0 : int(n.error())));
      // Mode Switch is unidirectional by definition, whatever id the AP gave it.
      if (req->unidirectional() || (cport == 0 && req->type() == 0x0e)) {
        // Nothing to send; on a closed CPort the refusal is told to the caller instead.
        if (n) CHECK(*n == 0);
        else CHECK(n.error() == vireo::errc::greybus_connection_not_ready);
      } else {
        REQUIRE(n.has_value());  // a request with an id on a listed CPort is always answered
        REQUIRE(*n >= 8);
        REQUIRE(*n <= room);
        const auto rsp = gb::decode({out.data(), *n}, gb::decode_options{true});
        REQUIRE(rsp.has_value());
        CHECK(rsp->response());
        CHECK(rsp->id() == req->id());
        CHECK(rsp->type() == req->type());
        ++answered;
      }
    } else if (n) {
      CHECK(*n == 0);  // a unidirectional request on a closed CPort, never bytes
    }
    if (r.below(4) == 0) chip.set_input(static_cast<std::uint16_t>(r.below(8)),
                                        r.below(2) ? vireo::gpio::level::high : vireo::gpio::level::low);
    std::array<std::byte, 16> ev{};
    while (const auto o = iface->next_outgoing(ev)) {
      REQUIRE(o->cport == 1);
      const auto e = gb::decode({ev.data(), o->size}, gb::decode_options{true});
      REQUIRE(e.has_value());
      CHECK(e->unidirectional());
      CHECK(e->type() == 0x0e);
      REQUIRE(e->payload.size() == 1);
      CHECK(std::to_integer<unsigned>(e->payload[0]) < lines.size());
      ++events;
    }
  }
  CHECK(answered > 10000);
  CHECK(events > 0);
  // Still a working module: enumerate and drive a line.
  const bytes_vec ver = request(0x1234, 0x01, {0, 1});
  const auto n = iface->handle(0, {ver.data(), ver.size()}, out);
  REQUIRE(n.has_value());
  CHECK(*n == 10);
}
