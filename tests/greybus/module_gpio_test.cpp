// SPDX-License-Identifier: Apache-2.0
// The module side's GPIO responder (greybus/module/gpio_responder.hpp) at message level, routed
// by module::interface over the vm-bridged-phy manifest vector (CPort 1 = GPIO): every
// operation with its exact response bytes, every malformed request, IRQ Events (order, masking,
// edge and level types), and one simulated chip reached through Greybus and through the chip API
// and the virtio-gpio device model.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <vector>

#include "gpio/gpio_device_support.hpp"
#include "greybus/module_test_support.hpp"
#include "test_support.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/greybus/module/gpio_responder.hpp"
#include "vireo/greybus/module/module.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbm = vireo::greybus::module;
namespace hg = vireo::gpio;  // the host side
using vireo::errc;
using vireo_test::err;
using namespace greybus_module_test;

/// The IRQ Event a module sends for Greybus line `which`: unidirectional (id 0), type 0x0e.
bytes_vec irq_event(unsigned which) { return raw({9, 0, 0, 0, 0x0e, 0, 0, 0, which}); }

// GPIO operation types (§6.1).
constexpr std::uint8_t line_count = 0x02, activate = 0x03, deactivate = 0x04, get_direction = 0x05,
                       direction_in = 0x06, direction_out = 0x07, get_value = 0x08,
                       set_value = 0x09, set_debounce = 0x0a, irq_type = 0x0b, irq_mask = 0x0c,
                       irq_unmask = 0x0d;
constexpr unsigned edge_rising = 1, edge_falling = 2, edge_both = 3, level_high = 4, level_low = 8;

constexpr std::uint16_t gpio_cport = 1;


template <typename Chip>
struct board {
  using responder_t = gbm::gpio_responder<Chip, 8>;
  Chip& chip;
  responder_t gpio;
  gbm::interface<4> iface;
  std::array<std::byte, 256> out{};

  board(Chip& c, std::initializer_list<std::uint16_t> lines)
      : chip(c), gpio(make_gpio(c, lines)), iface(make_iface()) {}

  static responder_t make_gpio(Chip& c, std::initializer_list<std::uint16_t> lines) {
    const std::vector<std::uint16_t> v(lines);
    auto g = responder_t::create(c, v);
    REQUIRE(g.has_value());
    return *g;
  }
  gbm::interface<4> make_iface() {
    auto i = gbm::interface<4>::create(bridged_phy_manifest());
    REQUIRE(i.has_value());
    REQUIRE(i->attach(gpio_cport, gpio).has_value());
    return *i;
  }
  vireo::result<bytes_vec> send(std::uint16_t cport, const bytes_vec& msg) {
    const auto n = iface.handle(cport, {msg.data(), msg.size()}, out);
    if (!n) return n.error();
    return bytes_vec(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  bytes_vec ok(const bytes_vec& msg) {
    auto r = send(gpio_cport, msg);
    REQUIRE(r.has_value());
    return *r;
  }
  void connect() {
    REQUIRE(send(0, request(0x42, 0x05, {gpio_cport, 0})).value() == response(0x42, 0x05));
  }
  void disconnect() {
    REQUIRE(send(0, request(0x43, 0x0c, {gpio_cport, 0})).value() == response(0x43, 0x0c));
    REQUIRE(send(gpio_cport, request(0x44, 0x00, {1})).value() == response(0x44, 0x00));
    REQUIRE(send(0, request(0x45, 0x06, {gpio_cport, 0})).value() == response(0x45, 0x06));
  }
  /// A request that must succeed with an empty response.
  void done(std::uint16_t id, std::uint8_t type, std::initializer_list<unsigned> payload) {
    INFO("type " << int(type));
    CHECK(ok(request(id, type, payload)) == response(id, type));
  }
  /// Every module-initiated message now due, as (cport, bytes).
  std::vector<std::pair<std::uint16_t, bytes_vec>> drain() {
    std::vector<std::pair<std::uint16_t, bytes_vec>> got;
    std::array<std::byte, 64> buf{};
    while (const auto o = iface.next_outgoing(buf))
      got.emplace_back(o->cport, bytes_vec(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(o->size)));
    return got;
  }
  std::vector<bytes_vec> events() {
    std::vector<bytes_vec> e;
    for (auto& [cport, bytes] : drain()) {
      CHECK(cport == gpio_cport);
      e.push_back(bytes);
    }
    return e;
  }
};

using chip_t = hg::sim::chip<16, 16>;

/// Chip of 10 lines; Greybus lines 0, 1, 2 are host lines 5, 2, 7.
struct fixture {
  chip_t chip{10};
  board<chip_t> b{chip, {5, 2, 7}};
  fixture() { b.connect(); }
};

}  // namespace

TEST_CASE("module gpio: Line Count answers the highest visible line (lines - 1)") {
  fixture f;
  CHECK(f.b.ok(request(1, line_count)) == raw({9, 0, 1, 0, 0x82, 0, 0, 0, 2}));
  chip_t one{4};
  board<chip_t> b1{one, {3}};
  b1.connect();
  CHECK(b1.ok(request(2, line_count)) == response(2, line_count, {0}));
}

TEST_CASE("module gpio: create checks the line map against the chip") {
  chip_t chip{4};
  using r = gbm::gpio_responder<chip_t, 4>;
  const std::vector<std::uint16_t> none{}, too_many{0, 1, 2, 3, 0}, dup{1, 2, 1}, beyond{0, 4};
  CHECK(err(r::create(chip, none)) == errc::invalid_argument);
  CHECK(err(r::create(chip, too_many)) == errc::invalid_argument);
  CHECK(err(r::create(chip, dup)) == errc::invalid_argument);
  CHECK(err(r::create(chip, beyond)) == errc::gpio_line_out_of_range);
  const std::vector<std::uint16_t> good{3, 0};
  const auto g = r::create(chip, good);
  REQUIRE(g.has_value());
  CHECK(g->line_count() == 2);
  CHECK(g->host_line(0) == 3);
  CHECK(g->host_line(1) == 0);
}

TEST_CASE("module gpio: Activate claims a line, Deactivate releases it on the host") {
  fixture f;
  f.b.done(1, activate, {0});
  CHECK(f.b.gpio.active(0));
  CHECK(!f.b.gpio.active(1));
  f.b.done(2, direction_out, {0, 1});
  f.b.done(3, irq_type, {1, edge_both});
  f.b.done(4, set_debounce, {1, 0x10, 0x27});
  CHECK(f.chip.line_direction(5) == hg::direction::out);
  CHECK(f.chip.watched(2) == hg::irq_type::edge_both);
  f.b.done(5, deactivate, {0});
  f.b.done(6, deactivate, {1});
  CHECK(!f.b.gpio.active(0));
  CHECK(f.chip.line_direction(5) == hg::direction::none);
  CHECK(f.chip.line_direction(2) == hg::direction::none);
  CHECK(f.chip.watched(2) == hg::irq_type::none);
  CHECK(f.b.gpio.irq_type(1) == 0);
  CHECK(f.b.gpio.debounce_usec(1) == 0);
  CHECK(f.b.ok(request(7, get_direction, {0})) == response(7, get_direction, {1}));
  f.b.done(8, deactivate, {2});  // never used: nothing to release, still OK
  CHECK(f.chip.line_direction(7) == hg::direction::none);
}

TEST_CASE("module gpio: directions use Greybus's values (0 out, 1 in), not virtio-gpio's") {
  fixture f;
  CHECK(f.b.ok(request(1, get_direction, {2})) == raw({9, 0, 1, 0, 0x85, 0, 0, 0, 1}));
  f.b.done(2, direction_out, {2, 1});
  CHECK(f.chip.line_direction(7) == hg::direction::out);
  CHECK(f.chip.driven(7) == hg::level::high);
  CHECK(f.b.ok(request(3, get_direction, {2})) == raw({9, 0, 3, 0, 0x85, 0, 0, 0, 0}));
  f.b.done(4, direction_out, {2, 0});
  CHECK(f.chip.driven(7) == hg::level::low);
  f.b.done(5, direction_in, {2});
  CHECK(f.chip.line_direction(7) == hg::direction::in);
  CHECK(f.b.ok(request(6, get_direction, {2})) == response(6, get_direction, {1}));
  CHECK(f.b.gpio.direction(2) == gb::gpio::direction::in);
}

TEST_CASE("module gpio: Get reads the host level, Set drives an output") {
  fixture f;
  f.chip.set_input(2, hg::level::high);
  CHECK(f.b.ok(request(1, get_value, {1})) == raw({9, 0, 1, 0, 0x88, 0, 0, 0, 1}));
  f.chip.set_input(2, hg::level::low);
  CHECK(f.b.ok(request(2, get_value, {1})) == response(2, get_value, {0}));
  // Set on a line that is not an output: GB_OP_INVALID, nothing driven.
  CHECK(f.b.ok(request(3, set_value, {0, 1})) == error_response(3, set_value, gb::status::invalid));
  CHECK(f.chip.line_direction(5) == hg::direction::none);
  f.b.done(4, direction_out, {0, 0});
  f.b.done(5, set_value, {0, 1});
  CHECK(f.chip.driven(5) == hg::level::high);
  CHECK(f.b.ok(request(6, get_value, {0})) == response(6, get_value, {1}));
  f.b.done(7, set_value, {0, 0});
  CHECK(f.chip.driven(5) == hg::level::low);
  CHECK(f.b.ok(request(8, get_value, {0})) == response(8, get_value, {0}));
}

TEST_CASE("module gpio: Set Debounce is recorded per line") {
  fixture f;
  f.b.done(1, set_debounce, {2, 0xe8, 0x03});
  CHECK(f.b.gpio.debounce_usec(2) == 1000);
  CHECK(f.b.gpio.debounce_usec(0) == 0);
  f.b.done(2, set_debounce, {2, 0, 0});
  CHECK(f.b.gpio.debounce_usec(2) == 0);
}

TEST_CASE("module gpio: a line beyond Line Count answers GB_OP_INVALID for every operation") {
  fixture f;
  struct op {
    std::uint8_t type;
    std::initializer_list<unsigned> payload;
  };
  const op ops[] = {{activate, {3}},      {deactivate, {3}},     {get_direction, {3}},
                    {direction_in, {3}},  {direction_out, {3, 1}}, {get_value, {3}},
                    {set_value, {3, 1}},  {set_debounce, {3, 0, 0}}, {irq_type, {3, edge_both}},
                    {irq_mask, {255}},    {irq_unmask, {200}}};
  std::uint16_t id = 10;
  for (const op& o : ops) {
    CAPTURE(int(o.type));
    CHECK(f.b.ok(request(id, o.type, o.payload)) == error_response(id, o.type, gb::status::invalid));
    ++id;
  }
  for (std::uint16_t l = 0; l < 10; ++l) CHECK(f.chip.line_direction(l) == hg::direction::none);
}

TEST_CASE("module gpio: bad values, malformed payloads and unknown types answer GB_OP_INVALID") {
  fixture f;
  using gb::status;
  struct op {
    std::uint8_t type;
    std::initializer_list<unsigned> payload;
  };
  const op bad[] = {
      // values outside their sets
      {direction_out, {0, 2}}, {set_value, {0, 0xff}}, {irq_type, {1, 5}}, {irq_type, {1, 6}},
      {irq_type, {1, 7}}, {irq_type, {1, 9}}, {irq_type, {1, 0x0c}}, {irq_type, {1, 0x80}},
      // short and long payloads
      {line_count, {0}}, {activate, {}}, {activate, {0, 0}}, {deactivate, {}},
      {get_direction, {0, 1}}, {direction_in, {}}, {direction_out, {0}}, {direction_out, {0, 1, 0}},
      {get_value, {}}, {set_value, {0}}, {set_debounce, {0, 1}}, {set_debounce, {0, 1, 0, 0}},
      {irq_type, {1}}, {irq_mask, {}}, {irq_unmask, {1, 1}}, {0x00, {}}, {0x00, {1, 1}},
      // reserved and module-only types
      {0x01, {}}, {0x0e, {0}}, {0x0f, {}}, {0x7e, {}}, {0x7f, {}},
  };
  std::uint16_t id = 100;
  for (const op& o : bad) {
    CAPTURE(int(o.type));
    CHECK(f.b.ok(request(id, o.type, o.payload)) == error_response(id, o.type, status::invalid));
    ++id;
  }
  CHECK(f.chip.line_direction(5) == hg::direction::none);
  CHECK(f.chip.watched(2) == hg::irq_type::none);
  // Still serving.
  CHECK(f.b.ok(request(1, line_count)) == response(1, line_count, {2}));
}

TEST_CASE("module gpio: a host chip failure answers GB_OP_UNKNOWN_ERROR (Linux's -EIO)") {
  fixture f;
  f.chip.inject_fault(5);
  CHECK(f.b.ok(request(1, get_value, {0})) == error_response(1, get_value, gb::status::unknown_error));
  CHECK(f.b.ok(request(2, direction_out, {0, 1})) ==
        error_response(2, direction_out, gb::status::unknown_error));
  CHECK(f.b.gpio.direction(0) == gb::gpio::direction::in);  // unchanged by the failure
  CHECK(f.b.ok(request(3, irq_type, {0, edge_both})) ==
        error_response(3, irq_type, gb::status::unknown_error));
  CHECK(f.b.gpio.irq_type(0) == 0);
  f.chip.inject_fault(5, false);
  f.b.done(4, direction_out, {0, 1});
}

TEST_CASE("module gpio: IRQ Type watches the line, makes it an input, refuses outputs") {
  fixture f;
  f.b.done(1, irq_type, {1, level_high});
  CHECK(f.chip.line_direction(2) == hg::direction::in);
  CHECK(f.chip.watched(2) == hg::irq_type::level_high);
  CHECK(f.b.gpio.irq_type(1) == level_high);
  CHECK(f.b.gpio.masked(1));  // lines start masked
  f.b.done(2, irq_type, {1, edge_falling});
  CHECK(f.chip.watched(2) == hg::irq_type::edge_falling);
  f.b.done(3, irq_type, {1, 0});
  CHECK(f.chip.watched(2) == hg::irq_type::none);
  // Outputs take no interrupt, and IRQ lines do not become outputs.
  f.b.done(4, direction_out, {0, 1});
  CHECK(f.b.ok(request(5, irq_type, {0, edge_rising})) == error_response(5, irq_type, gb::status::invalid));
  CHECK(f.chip.watched(5) == hg::irq_type::none);
  f.b.done(6, irq_type, {2, edge_rising});
  CHECK(f.b.ok(request(7, direction_out, {2, 1})) ==
        error_response(7, direction_out, gb::status::invalid));
  CHECK(f.chip.line_direction(7) == hg::direction::in);
  f.b.done(8, irq_type, {0, 0});  // none on an output is fine
}

TEST_CASE("module gpio: an edge on an unmasked line sends IRQ Event and masks the line") {
  fixture f;
  f.b.done(1, irq_type, {1, edge_rising});
  f.b.done(2, irq_unmask, {1});
  CHECK(!f.b.gpio.masked(1));
  CHECK(f.b.drain().empty());
  f.chip.set_input(2, hg::level::high);
  const auto got = f.b.drain();
  REQUIRE(got.size() == 1);
  CHECK(got[0].first == gpio_cport);
  CHECK(got[0].second == raw({0x09, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01}));
  CHECK(f.b.gpio.masked(1));
  // Masked: the next edges latch (several collapse into one) and go out on Unmask.
  f.chip.set_input(2, hg::level::low);
  f.chip.set_input(2, hg::level::high);
  f.chip.set_input(2, hg::level::low);
  f.chip.set_input(2, hg::level::high);
  CHECK(f.b.events().empty());
  f.b.done(3, irq_unmask, {1});
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
  CHECK(f.b.events().empty());
  // Unmask with nothing latched sends nothing.
  f.b.done(4, irq_unmask, {1});
  CHECK(f.b.events().empty());
  CHECK(f.b.gpio.events_sent() == 2);
}

TEST_CASE("module gpio: IRQ Events keep the host's order across lines") {
  fixture f;
  for (unsigned l : {0u, 1u, 2u}) {
    f.b.done(std::uint16_t(10 + l), irq_type, {l, edge_both});
    f.b.done(std::uint16_t(20 + l), irq_unmask, {l});
  }
  f.chip.set_input(7, hg::level::high);  // Greybus 2
  f.chip.set_input(5, hg::level::high);  // Greybus 0
  f.chip.set_input(2, hg::level::high);  // Greybus 1
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(2), irq_event(0), irq_event(1)});
  // Unmask order decides the order of latched edges.
  f.chip.set_input(5, hg::level::low);
  f.chip.set_input(2, hg::level::low);
  f.chip.set_input(7, hg::level::low);
  CHECK(f.b.events().empty());  // all masked: latched
  f.b.done(30, irq_unmask, {1});
  f.b.done(31, irq_unmask, {2});
  f.b.done(32, irq_unmask, {0});
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1), irq_event(2), irq_event(0)});
}

TEST_CASE("module gpio: edge types send only their edges; IRQ Mask holds them back") {
  fixture f;
  f.b.done(1, irq_type, {0, edge_falling});
  f.b.done(2, irq_unmask, {0});
  f.chip.set_input(5, hg::level::high);  // rising: not wanted
  CHECK(f.b.events().empty());
  f.chip.set_input(5, hg::level::low);
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(0)});
  f.b.done(3, irq_unmask, {0});
  f.b.done(4, irq_mask, {0});
  f.chip.set_input(5, hg::level::high);
  f.chip.set_input(5, hg::level::low);
  CHECK(f.b.events().empty());
  f.b.done(5, irq_unmask, {0});
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(0)});
  // A type change forgets a latched edge.
  f.chip.set_input(5, hg::level::high);
  f.chip.set_input(5, hg::level::low);
  (void)f.b.events();  // the latch is taken from the chip here
  f.b.done(6, irq_type, {0, edge_rising});
  f.b.done(7, irq_unmask, {0});
  CHECK(f.b.events().empty());
  // IRQ type none: nothing at all.
  f.b.done(8, irq_type, {0, 0});
  f.chip.set_input(5, hg::level::high);
  CHECK(f.b.events().empty());
}

TEST_CASE("module gpio: level types send while the level is active, again after Unmask") {
  fixture f;
  f.b.done(1, irq_type, {1, level_high});
  f.chip.set_input(2, hg::level::high);  // masked: nothing yet, nothing latched
  CHECK(f.b.events().empty());
  f.b.done(2, irq_unmask, {1});  // still high: fires
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
  f.b.done(3, irq_unmask, {1});  // the AP's handler ran, level still high: fires again
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
  f.chip.set_input(2, hg::level::low);
  f.b.done(4, irq_unmask, {1});  // low now: quiet
  CHECK(f.b.events().empty());
  CHECK(!f.b.gpio.masked(1));
  f.chip.set_input(2, hg::level::high);  // becomes active while unmasked
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
  // Level low.
  f.b.done(5, irq_type, {2, level_low});
  f.b.done(6, irq_unmask, {2});  // host line 7 is low
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(2)});
  f.chip.set_input(7, hg::level::high);
  f.b.done(7, irq_unmask, {2});
  CHECK(f.b.events().empty());
}

TEST_CASE("module gpio: events of host lines not exposed, or without an IRQ type, are dropped") {
  fixture f;
  REQUIRE(f.chip.watch(3, hg::irq_type::edge_both).has_value());  // someone else's line
  f.chip.set_input(3, hg::level::high);
  f.b.done(1, irq_type, {0, edge_both});
  f.b.done(2, irq_unmask, {0});
  f.b.done(3, irq_type, {0, 0});
  f.chip.set_input(5, hg::level::high);  // not watched any more: the chip queues nothing
  REQUIRE(f.chip.watch(5, hg::irq_type::edge_both).has_value());  // watched behind our back
  f.chip.set_input(5, hg::level::low);
  CHECK(f.b.events().empty());
  CHECK(f.b.gpio.events_ignored() == 2);
  CHECK(f.chip.pending_events() == 0);
}

TEST_CASE("module gpio: next_outgoing with too small a buffer consumes nothing") {
  fixture f;
  f.b.done(1, irq_type, {1, edge_rising});
  f.b.done(2, irq_unmask, {1});
  f.chip.set_input(2, hg::level::high);
  std::array<std::byte, 8> small{};
  CHECK(!f.b.iface.next_outgoing(small).has_value());
  CHECK(f.chip.pending_events() == 1);
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
}

TEST_CASE("module gpio: no IRQ Event leaves a CPort that is not connected; Disconnected releases") {
  fixture f;
  f.b.done(1, direction_out, {0, 1});
  f.b.done(2, irq_type, {1, edge_rising});
  f.b.done(3, irq_unmask, {1});
  f.chip.set_input(2, hg::level::high);
  // Closing the connection: an event not yet taken is not sent, lines are released.
  f.b.disconnect();
  CHECK(f.b.drain().empty());
  CHECK(f.chip.line_direction(5) == hg::direction::none);
  CHECK(f.chip.line_direction(2) == hg::direction::none);
  CHECK(f.chip.watched(2) == hg::irq_type::none);
  CHECK(f.b.ok(request(4, get_value, {0})) == error_response(4, get_value, gbm::not_connected_status));
  // A new connection starts clean.
  f.b.connect();
  CHECK(f.b.gpio.masked(1));
  CHECK(f.b.gpio.irq_type(1) == 0);
  CHECK(f.b.events().empty());  // the stale chip event finds no IRQ type
  f.b.done(5, irq_type, {1, edge_falling});
  f.b.done(6, irq_unmask, {1});
  f.chip.set_input(2, hg::level::low);
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
}

TEST_CASE("module gpio: a wire from an output to an input line loops Greybus back to itself") {
  fixture f;
  REQUIRE(f.chip.connect(5, 2).has_value());  // Greybus 0 drives Greybus 1
  f.b.done(1, direction_out, {0, 0});
  f.b.done(2, irq_type, {1, edge_rising});
  f.b.done(3, irq_unmask, {1});
  f.b.done(4, set_value, {0, 1});
  CHECK(f.b.ok(request(5, get_value, {1})) == response(5, get_value, {1}));
  CHECK(f.b.events() == std::vector<bytes_vec>{irq_event(1)});
}

TEST_CASE_TEMPLATE("module gpio: one sim chip, driven through Greybus, seen through the chip API "
                   "and the virtio-gpio device model",
                   L, vireo_gpio_dev_test::split_flat, vireo_gpio_dev_test::packed_flat) {
  namespace vt = vireo_gpio_dev_test;
  vt::rig<L> r;  // virtio-gpio device over r.chip (8 lines)
  board<vt::chip_t> b{r.chip, {6, 1}};
  b.connect();
  // Greybus drives host line 6 high, then low.
  b.done(1, direction_out, {0, 1});
  CHECK(r.chip.line_direction(6) == hg::direction::out);
  CHECK(r.chip.sensed(6) == hg::level::high);
  CHECK(r.get(6) == hg::level::high);  // virtio-gpio GET_VALUE on the same chip
  b.done(2, set_value, {0, 0});
  CHECK(r.chip.driven(6) == hg::level::low);
  CHECK(r.get(6) == hg::level::low);
  // The other way: the virtio-gpio driver makes host line 1 an output; Greybus line 1 reads it.
  r.set_dir(1, hg::direction::out);
  r.ok(hg::msg_type::set_value, 1, 1);
  CHECK(b.ok(request(3, get_value, {1})) == response(3, get_value, {1}));
  r.ok(hg::msg_type::set_value, 1, 0);
  CHECK(b.ok(request(4, get_value, {1})) == response(4, get_value, {0}));
  // Greybus releasing its line leaves the virtio side's line alone.
  b.done(5, deactivate, {0});
  CHECK(r.chip.line_direction(6) == hg::direction::none);
  CHECK(r.chip.line_direction(1) == hg::direction::out);
}
