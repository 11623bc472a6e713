// SPDX-License-Identifier: Apache-2.0
// The Greybus host end to end: host::ap enumerates Vireo's module (greybus::module::interface
// with a gpio_responder over a simulated chip and an i2c_responder over a simulated bus with a
// 24C02 EEPROM) through the virtio binding, over split and packed rings in one guest memory,
// with a fake clock. GPIO and I2C clients, IRQ events, timeouts, late and reordered responses,
// a hostile module, and teardown.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "greybus/virtio_rig.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/greybus/host/ap.hpp"
#include "vireo/greybus/host/gpio_client.hpp"
#include "vireo/greybus/host/i2c_client.hpp"
#include "vireo/greybus/manifest_builder.hpp"
#include "vireo/greybus/module/gpio_responder.hpp"
#include "vireo/greybus/module/i2c_responder.hpp"
#include "vireo/greybus/module/module.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"

namespace {

using namespace greybus_virtio_test;
namespace host = gb::host;
namespace vgpio = vireo::gpio;
namespace vi2c = vireo::i2c;

constexpr std::uint16_t gpio_cport = 1;
constexpr std::uint16_t i2c_cport = 2;
constexpr std::uint16_t eeprom_addr = 0x50;
constexpr std::array<std::uint16_t, 4> exposed_lines = {1, 2, 4, 7};  // Greybus line i -> host line

using chip_type = vgpio::sim::chip<16, 16>;
using bus_type = vi2c::sim::bus<4>;
using interface_type = gb::module::interface<>;

/// The simulated board and the module that serves it (not movable: the module references it).
struct board {
  chip_type chip{8};
  bus_type bus;
  vi2c::sim::eeprom_24c02 eeprom;
  std::array<std::byte, 256> manifest{};
  std::size_t manifest_size = 0;
  std::optional<gb::module::gpio_responder<chip_type>> gpio;
  std::optional<gb::module::i2c_responder<bus_type>> i2c;
  std::optional<interface_type> iface;

  board() {
    gb::manifest_builder b{manifest};
    REQUIRE(b.add_interface(1, 2).has_value());
    REQUIRE(b.add_string(1, "Vireo").has_value());
    REQUIRE(b.add_string(2, "sim board").has_value());
    REQUIRE(b.add_bundle(1, 0x0a).has_value());  // Bridged PHY
    REQUIRE(b.add_cport(gpio_cport, 1, 0x02).has_value());
    REQUIRE(b.add_bundle(2, 0x0a).has_value());
    REQUIRE(b.add_cport(i2c_cport, 2, 0x03).has_value());
    auto n = b.finish();
    REQUIRE(n.has_value());
    manifest_size = *n;
    REQUIRE(bus.attach(*vi2c::address::seven_bit(eeprom_addr), eeprom).has_value());
    auto g = gb::module::gpio_responder<chip_type>::create(chip, exposed_lines);
    REQUIRE(g.has_value());
    gpio.emplace(std::move(*g));
    const std::uint16_t allowed[] = {eeprom_addr, 0x51};
    auto i = gb::module::i2c_responder<bus_type>::create(bus, allowed);
    REQUIRE(i.has_value());
    i2c.emplace(std::move(*i));
    auto f = interface_type::create(const_bytes{manifest}.first(manifest_size));
    REQUIRE(f.has_value());
    iface.emplace(std::move(*f));
    REQUIRE(iface->attach(gpio_cport, *gpio).has_value());
    REQUIRE(iface->attach(i2c_cport, *i2c).has_value());
  }
  board(const board&) = delete;
};

/// A module that can misbehave: forwards to the real one, then tampers with what it answers.
struct tampering_module {
  struct outgoing {
    std::uint16_t cport;
    std::size_t size;
  };
  enum class mode { pass, drop, wrong_type, wrong_id, duplicate, long_payload, newer_version };
  interface_type* inner;
  mode tamper = mode::pass;
  std::deque<std::pair<std::uint16_t, std::vector<std::byte>>> extra;

  vireo::result<std::size_t> handle(std::uint16_t cport, const_bytes msg, bytes out) noexcept {
    auto n = inner->handle(cport, msg, out);
    if (!n || *n == 0 || tamper == mode::pass) return n;
    switch (tamper) {
      case mode::drop: return std::size_t{0};
      case mode::wrong_type: out[4] ^= std::byte{0x01}; break;
      case mode::wrong_id: out[3] ^= std::byte{0x40}; break;
      case mode::duplicate: extra.emplace_back(cport, std::vector<std::byte>(out.begin(), out.begin() + *n)); break;
      case mode::long_payload: {
        out[*n] = std::byte{0};
        const vireo::le16 s = vireo::le16::from(static_cast<std::uint16_t>(*n + 1));
        std::memcpy(out.data(), &s, 2);
        return *n + 1;
      }
      case mode::newer_version:
        if (cport == 0 && static_cast<std::uint8_t>(out[4]) == (0x01 | gb::response_bit))
          out[gb::header_size] = std::byte{1};
        break;
      case mode::pass: break;
    }
    return n;
  }
  std::optional<outgoing> next_outgoing(bytes out) noexcept {
    if (!extra.empty()) {
      auto [cport, m] = std::move(extra.front());
      extra.pop_front();
      std::memcpy(out.data(), m.data(), m.size());
      return outgoing{cport, m.size()};
    }
    auto o = inner->next_outgoing(out);
    if (!o) return std::nullopt;
    return outgoing{o->cport, o->size};
  }
  [[nodiscard]] std::uint16_t cport_count() const noexcept { return inner->cport_count(); }
};

struct fake_clock {
  std::uint64_t* ms;
  std::uint64_t operator()() const noexcept { return *ms; }
};

/// Board, module, binding and host together. progress() runs the device and lets 1 ms pass;
/// stall() only lets time pass (the module is not running).
template <typename L>
struct board_rig {
  using rig_type = rig<L, tampering_module>;
  using ap_driver_type = typename rig_type::ap_type;
  using host_type = host::ap<ap_driver_type, fake_clock>;

  board b;
  tampering_module mod{&*b.iface, tampering_module::mode::pass, {}};
  rig_type r{mod};
  std::uint64_t now = 0;
  host_type h{*r.ap, fake_clock{&now}};

  void progress() {
    REQUIRE(r.device.process().has_value());
    ++now;
  }
  auto runner() {
    return [this] { progress(); };
  }
  auto staller() {
    return [this] { now += 10; };
  }
};

/// A module that never answers and floods the AP instead: every poll() brings a stray response
/// on Control, and 1 ms passes with each (up to `limit` polls, then nothing comes any more).
struct flooding_transport {
  std::uint64_t* now;
  std::size_t limit;
  std::size_t polls = 0;
  // Transport header {cport 0}, then a response (type 0x81) to id 0x7777, which nobody sent.
  std::array<std::byte, 12> stray{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                  std::byte{8}, std::byte{0}, std::byte{0x77}, std::byte{0x77},
                                  std::byte{0x81}, std::byte{0}, std::byte{0}, std::byte{0}};

  vireo::result<void> send(std::uint16_t, vireo::const_bytes) noexcept { return vireo::ok(); }
  vireo::result<std::optional<gbv::frame>> poll() noexcept {
    if (polls == limit) return std::optional<gbv::frame>{};
    ++polls;
    ++*now;
    auto f = gbv::parse_frame(stray, gbv::default_max_message_size, 4);
    if (!f) return f.error();
    return std::optional<gbv::frame>{*f};
  }
  [[nodiscard]] std::uint16_t cport_count() const noexcept { return 4; }
  [[nodiscard]] std::uint16_t max_message_size() const noexcept {
    return gbv::default_max_message_size;
  }
};

}  // namespace

TEST_CASE_TEMPLATE("greybus host: enumeration reads the manifest and connects every CPort", L,
                   split_layout, packed_layout) {
  board_rig<L> s;
  CHECK(s.h.manifest() == nullptr);
  CHECK(s.r.device.config().cport_count.get() == 3);
  REQUIRE(s.h.enumerate(s.runner()).has_value());
  const auto* m = s.h.manifest();
  REQUIRE(m != nullptr);
  CHECK(m->vendor_string() == "Vireo");
  CHECK(m->product_string() == "sim board");
  REQUIRE(m->bundles().size() == 2);
  CHECK(m->bundles()[0].id == 1);
  CHECK(m->bundles()[0].bundle_class == 0x0a);
  REQUIRE(m->cports().size() == 2);
  CHECK(s.h.protocol_of(gpio_cport) == std::optional<std::uint8_t>{0x02});
  CHECK(s.h.protocol_of(i2c_cport) == std::optional<std::uint8_t>{0x03});
  CHECK(s.h.control_version().major == 0);
  CHECK(s.h.control_version().minor == 1);
  CHECK(s.h.state(gpio_cport) == gb::connection_state::enabled);
  CHECK(s.h.state(i2c_cport) == gb::connection_state::enabled);
  CHECK(s.b.iface->state(gpio_cport) == gb::module::cport_state::connected);
  CHECK(s.b.iface->state(i2c_cport) == gb::module::cport_state::connected);
  CHECK(s.h.stats().stray_responses == 0);
  CHECK(s.r.device.stats().bad_frames == 0);
  CHECK(s.r.ap->stats().bad_frames == 0);
  // Clients bind only to a CPort of their protocol.
  CHECK(host::gpio_client<typename board_rig<L>::host_type>::bind(s.h, i2c_cport).error() ==
        errc::greybus_protocol_mismatch);
  CHECK(host::i2c_client<typename board_rig<L>::host_type>::bind(s.h, 7).error() ==
        errc::greybus_protocol_mismatch);
}

TEST_CASE_TEMPLATE("greybus host: the GPIO client drives the simulated chip", L, split_layout,
                   packed_layout) {
  board_rig<L> s;
  auto run = s.runner();
  REQUIRE(s.h.enumerate(run).has_value());
  auto g = host::gpio_client<typename board_rig<L>::host_type>::bind(s.h, gpio_cport);
  REQUIRE(g.has_value());
  auto lines = g->line_count(run);
  REQUIRE(lines.has_value());
  CHECK(*lines == exposed_lines.size());

  // Greybus line 1 is host line 2: an output toggled through Set.
  REQUIRE(g->activate(1, run).has_value());
  REQUIRE(g->direction_out(1, true, run).has_value());
  CHECK(s.b.chip.line_direction(2) == vgpio::direction::out);
  CHECK(s.b.chip.driven(2) == vgpio::level::high);
  for (bool high : {false, true, false}) {
    REQUIRE(g->set_value(1, high, run).has_value());
    CHECK(s.b.chip.driven(2) == (high ? vgpio::level::high : vgpio::level::low));
  }
  auto dir = g->get_direction(1, run);
  REQUIRE(dir.has_value());
  CHECK(*dir == gb::gpio::direction::out);

  // Greybus line 3 is host line 7: an input the outside drives.
  REQUIRE(g->direction_in(3, run).has_value());
  s.b.chip.set_input(7, vgpio::level::high);
  auto v = g->get_value(3, run);
  REQUIRE(v.has_value());
  CHECK(*v);
  s.b.chip.set_input(7, vgpio::level::low);
  v = g->get_value(3, run);
  REQUIRE(v.has_value());
  CHECK(!*v);

  // A line beyond Line Count is refused before anything is sent (Linux keeps line_max).
  const auto calls = s.h.stats().calls;
  CHECK(g->set_value(4, true, run).error() == errc::greybus_index_out_of_range);
  CHECK(s.h.stats().calls == calls);
  // Set on an input: the module answers GB_OP_INVALID.
  CHECK(g->set_value(3, true, run).error() == errc::greybus_error_response);
  CHECK(s.h.last_status() == static_cast<std::uint8_t>(gb::status::invalid));

  // Interrupts: rising edge on line 3, unmasked; the module sends IRQ Event and masks.
  REQUIRE(g->set_irq_type(3, gb::gpio::irq_type::edge_rising, run).has_value());
  REQUIRE(g->irq_unmask(3, run).has_value());
  auto irq = g->next_irq();
  REQUIRE(irq.has_value());
  CHECK(!irq->pending);
  s.b.chip.set_input(7, vgpio::level::high);
  s.progress();
  irq = g->next_irq();
  REQUIRE(irq.has_value());
  CHECK(*irq == host::gpio_irq{true, 3});
  s.b.chip.set_input(7, vgpio::level::low);  // falling: not asked for
  s.b.chip.set_input(7, vgpio::level::high);  // rising while masked: latched
  s.progress();
  irq = g->next_irq();
  REQUIRE(irq.has_value());
  CHECK(!irq->pending);
  REQUIRE(g->irq_unmask(3, run).has_value());  // the latched edge comes now
  s.progress();
  irq = g->next_irq();
  REQUIRE(irq.has_value());
  CHECK(*irq == host::gpio_irq{true, 3});
  CHECK(g->bad_events() == 0);
}

TEST_CASE_TEMPLATE("greybus host: the I2C client writes and reads the 24C02 through Transfer", L,
                   split_layout, packed_layout) {
  board_rig<L> s;
  auto run = s.runner();
  REQUIRE(s.h.enumerate(run).has_value());
  auto c = host::i2c_client<typename board_rig<L>::host_type>::bind(s.h, i2c_cport);
  REQUIRE(c.has_value());
  auto f = c->functionality(run);
  REQUIRE(f.has_value());
  CHECK((*f & 0x1u) != 0);  // I2C_FUNC_I2C

  // Page write of 8 bytes at word address 0x10, then a random read of 12 bytes from 0x0e.
  const std::array<std::byte, 9> page = {std::byte{0x10}, std::byte{1}, std::byte{2}, std::byte{3},
                                         std::byte{4},    std::byte{5}, std::byte{6}, std::byte{7},
                                         std::byte{8}};
  REQUIRE(c->write(eeprom_addr, page, run).has_value());
  CHECK(s.b.eeprom.contents()[0x10] == std::byte{1});
  CHECK(s.b.eeprom.contents()[0x17] == std::byte{8});
  const std::array<std::byte, 1> at = {std::byte{0x0e}};
  std::array<std::byte, 12> got{};
  REQUIRE(c->write_read(eeprom_addr, at, got, run).has_value());
  const std::array<std::byte, 12> want = {std::byte{0xff}, std::byte{0xff}, std::byte{1}, std::byte{2},
                                          std::byte{3},    std::byte{4},    std::byte{5}, std::byte{6},
                                          std::byte{7},    std::byte{8},    std::byte{0xff},
                                          std::byte{0xff}};
  CHECK(got == want);

  // 0x51 is allowed but nobody answers: NACK -> GB_OP_NONEXISTENT. 0x52 is not allowed: same.
  CHECK(c->write_read(0x51, at, got, run).error() == errc::greybus_error_response);
  CHECK(s.h.last_status() == static_cast<std::uint8_t>(gb::status::nonexistent));
  CHECK(c->write(0x52, at, run).error() == errc::greybus_error_response);
  CHECK(s.h.last_status() == static_cast<std::uint8_t>(gb::status::nonexistent));
  const host::i2c_message none[] = {{}};
  CHECK(c->transfer(std::span<const host::i2c_message>{none, 0}, run).error() ==
        errc::invalid_argument);
}

TEST_CASE_TEMPLATE("greybus host: a module that does not answer times the call out; late "
                   "responses are strays", L, split_layout, packed_layout) {
  board_rig<L> s;
  REQUIRE(s.h.enumerate(s.runner()).has_value());
  auto g = host::gpio_client<typename board_rig<L>::host_type>::bind(s.h, gpio_cport);
  REQUIRE(g.has_value());
  const auto start = s.now;
  CHECK(g->set_value(0, true, s.staller(), 250).error() == errc::greybus_timeout);
  CHECK(s.now - start >= 250);
  CHECK(s.now - start < 270);
  CHECK(s.h.stats().timeouts == 1);
  CHECK(s.h.tracker(gpio_cport)->in_flight() == 0);
  // The module wakes up: it answers the old request first (with an error: the line is no
  // output), then the new one. The late response matches nothing and is counted.
  REQUIRE(g->direction_out(0, true, s.runner()).has_value());
  CHECK(s.h.stats().stray_responses == 1);
  CHECK(s.h.stats().last_error == errc::greybus_unexpected_response);
  CHECK(s.b.chip.driven(1) == vgpio::level::high);
  // Calls go on normally afterwards.
  REQUIRE(g->set_value(0, false, s.runner()).has_value());
  CHECK(s.b.chip.driven(1) == vgpio::level::low);
}

TEST_CASE_TEMPLATE("greybus host: a hostile module's responses are refused, the host survives",
                   L, split_layout, packed_layout) {
  using mode = tampering_module::mode;
  board_rig<L> s;
  auto run = s.runner();
  REQUIRE(s.h.enumerate(run).has_value());
  auto g = host::gpio_client<typename board_rig<L>::host_type>::bind(s.h, gpio_cport);
  REQUIRE(g.has_value());
  REQUIRE(g->line_count(run).has_value());

  s.mod.tamper = mode::wrong_type;  // id matches, type does not: stays in flight, times out
  CHECK(g->activate(0, run, 50).error() == errc::greybus_timeout);
  CHECK(s.h.stats().last_error == errc::greybus_timeout);
  CHECK(s.h.stats().stray_responses == 1);
  s.mod.tamper = mode::wrong_id;
  CHECK(g->activate(0, run, 50).error() == errc::greybus_timeout);
  CHECK(s.h.stats().stray_responses == 2);
  s.mod.tamper = mode::drop;
  CHECK(g->activate(0, run, 50).error() == errc::greybus_timeout);
  s.mod.tamper = mode::long_payload;  // a successful response one byte too long
  CHECK(g->line_count(run).error() == errc::greybus_payload_too_long);
  s.mod.tamper = mode::duplicate;  // the second copy is a stray
  REQUIRE(g->activate(0, run).has_value());
  REQUIRE(s.h.pump().has_value());
  s.progress();
  REQUIRE(s.h.pump().has_value());
  CHECK(s.h.stats().stray_responses == 3);
  CHECK(s.h.stats().timeouts == 3);

  s.mod.tamper = mode::pass;
  REQUIRE(g->direction_out(0, true, run).has_value());
  CHECK(s.b.chip.driven(1) == vgpio::level::high);
  CHECK(s.r.ap->stats().bad_frames == 0);  // everything above was well-framed
}

TEST_CASE_TEMPLATE("greybus host: enumeration refuses a newer Control version", L, split_layout,
                   packed_layout) {
  board_rig<L> s;
  s.mod.tamper = tampering_module::mode::newer_version;
  CHECK(s.h.enumerate(s.runner()).error() == errc::greybus_version_unsupported);
  CHECK(s.h.manifest() == nullptr);
}

TEST_CASE_TEMPLATE("greybus host: disconnect closes the connection on both sides", L,
                   split_layout, packed_layout) {
  board_rig<L> s;
  auto run = s.runner();
  REQUIRE(s.h.enumerate(run).has_value());
  auto g = host::gpio_client<typename board_rig<L>::host_type>::bind(s.h, gpio_cport);
  REQUIRE(g.has_value());
  REQUIRE(g->direction_out(2, true, run).has_value());
  CHECK(s.b.chip.line_direction(4) == vgpio::direction::out);
  REQUIRE(s.h.disconnect(gpio_cport, run).has_value());
  CHECK(s.h.state(gpio_cport) == gb::connection_state::disabled);
  CHECK(s.b.iface->state(gpio_cport) == gb::module::cport_state::disconnected);
  CHECK(s.b.chip.line_direction(4) == vgpio::direction::none);  // the module released it
  CHECK(g->set_value(2, false, run).error() == errc::greybus_connection_not_ready);
  CHECK(s.h.disconnect(0, run).error() == errc::greybus_cport_out_of_range);
  // Reconnect: the connection works again.
  REQUIRE(s.h.connect(gpio_cport, run).has_value());
  REQUIRE(g->direction_out(2, false, run).has_value());
  CHECK(s.b.chip.line_direction(4) == vgpio::direction::out);
}

TEST_CASE("greybus host: a module flooding the AP with other frames cannot hold a call past "
          "its deadline") {
  std::uint64_t now = 0;
  flooding_transport t{&now, 100000};
  host::ap<flooding_transport, fake_clock> h{t, fake_clock{&now}};
  h.tracker(0)->set_state(gb::connection_state::enabled);
  int progress_calls = 0;
  auto r = h.call<gb::control::version>(0, gb::control::version_supported,
                                        [&] { ++progress_calls; }, 50);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::greybus_timeout);
  CHECK(t.polls >= 50);
  CHECK(t.polls <= 51);  // the deadline is checked after every frame, not only when idle
  CHECK(progress_calls == 0);
  CHECK(h.stats().stray_responses == t.polls);
  CHECK(h.tracker(0)->in_flight() == 0);
}

TEST_CASE("greybus host: pump() takes at most its limit of frames from a module that keeps "
          "sending") {
  std::uint64_t now = 0;
  flooding_transport t{&now, 100000};
  host::ap<flooding_transport, fake_clock> h{t, fake_clock{&now}};
  h.tracker(0)->set_state(gb::connection_state::enabled);
  auto n = h.pump(10);
  REQUIRE(n.has_value());
  CHECK(*n == 10);
  CHECK(t.polls == 10);
  n = h.pump();
  REQUIRE(n.has_value());
  CHECK(*n == host::default_pump_limit);
  CHECK(h.stats().stray_responses == 10 + host::default_pump_limit);
  flooding_transport quiet{&now, 3};
  host::ap<flooding_transport, fake_clock> h2{quiet, fake_clock{&now}};
  h2.tracker(0)->set_state(gb::connection_state::enabled);
  n = h2.pump();
  REQUIRE(n.has_value());
  CHECK(*n == 3);  // and then it stops: nothing more came
}
