// SPDX-License-Identifier: Apache-2.0
// The simulated GPIO chip: host_chip contract, sensed levels, watched edges, wires, the bounded
// event FIFO and fault injection.
#include <doctest/doctest.h>

#include <string_view>

#include "test_support.hpp"
#include "vireo/gpio/sim/chip.hpp"

namespace {

namespace gpio = vireo::gpio;
using gpio::direction;
using gpio::edge;
using gpio::irq_type;
using gpio::level;
using gpio::line_event;
using vireo::errc;
using vireo_test::err;

using chip8 = gpio::sim::chip<8, 4>;

static_assert(gpio::host_chip<chip8>);
static_assert(gpio::host_chip<gpio::sim::chip<1, 1>>);

// Usable in constant expressions: a wire carries a level at compile time.
static_assert([] {
  gpio::sim::chip<4, 4> c{4};
  if (!c.connect(0, 1)) return false;
  if (!c.set_direction(0, direction::out, level::high)) return false;
  return c.get_value(1).value() == level::high;
}());

}  // namespace

TEST_CASE("sim chip: lines, names, and the initial state") {
  chip8 c{5};
  CHECK(c.line_count() == 5);
  c.set_name(0, "LED");
  CHECK(c.line_name(0) == "LED");
  CHECK(c.line_name(1).empty());
  CHECK(c.line_name(7).empty());  // out of range: unnamed
  for (std::uint16_t l = 0; l < 5; ++l) {
    CHECK(c.line_direction(l) == direction::none);
    CHECK(c.get_value(l).value() == level::low);
    CHECK(c.watched(l) == irq_type::none);
  }
  CHECK(!c.next_event().has_value());
  CHECK(err(c.get_value(5)) == errc::gpio_line_out_of_range);
  CHECK(err(c.set_direction(5, direction::in, level::low)) == errc::gpio_line_out_of_range);
  CHECK(err(c.set_value(9, level::low)) == errc::gpio_line_out_of_range);
  CHECK(err(c.watch(5, irq_type::edge_both)) == errc::gpio_line_out_of_range);
}

TEST_CASE("sim chip: outputs read back what they drive, inputs what outside drives") {
  chip8 c{4};
  c.set_input(1, level::high);
  CHECK(c.get_value(1).value() == level::high);  // released lines sense the outside too
  REQUIRE(c.set_direction(1, direction::out, level::low).has_value());
  CHECK(c.get_value(1).value() == level::low);
  CHECK(c.driven(1) == level::low);
  c.set_input(1, level::low);
  c.set_input(1, level::high);  // outside changes on an output are not sensed
  CHECK(c.get_value(1).value() == level::low);
  REQUIRE(c.set_value(1, level::high).has_value());
  CHECK(c.get_value(1).value() == level::high);
  REQUIRE(c.set_direction(1, direction::in, level::low).has_value());
  CHECK(c.get_value(1).value() == level::high);  // the outside level again
  CHECK(err(c.set_value(1, level::low)) == errc::invalid_argument);  // not an output
  CHECK(err(c.set_direction(1, static_cast<direction>(3), level::low)) == errc::invalid_argument);
}

TEST_CASE("sim chip: watch filters edges; level types report both") {
  chip8 c{4};
  REQUIRE(c.set_direction(0, direction::in, level::low).has_value());
  c.set_input(0, level::high);  // not watched: no event
  CHECK(c.pending_events() == 0);
  REQUIRE(c.watch(0, irq_type::edge_rising).has_value());
  c.set_input(0, level::low);
  c.set_input(0, level::high);
  c.set_input(0, level::high);  // no change, no edge
  CHECK(c.next_event() == line_event{0, edge::rising});
  CHECK(!c.next_event().has_value());
  REQUIRE(c.watch(0, irq_type::edge_falling).has_value());
  c.set_input(0, level::low);
  c.set_input(0, level::high);
  CHECK(c.next_event() == line_event{0, edge::falling});
  CHECK(!c.next_event().has_value());
  REQUIRE(c.watch(0, irq_type::level_low).has_value());
  c.set_input(0, level::low);
  c.set_input(0, level::high);
  CHECK(c.next_event() == line_event{0, edge::falling});
  CHECK(c.next_event() == line_event{0, edge::rising});
  // Stopping the watch keeps what is queued.
  c.set_input(0, level::low);
  REQUIRE(c.watch(0, irq_type::none).has_value());
  c.set_input(0, level::high);
  CHECK(c.next_event() == line_event{0, edge::falling});
  CHECK(!c.next_event().has_value());
  CHECK(err(c.watch(0, static_cast<irq_type>(5))) == errc::gpio_bad_irq_type);
  REQUIRE(c.set_direction(2, direction::out, level::low).has_value());
  CHECK(err(c.watch(2, irq_type::edge_both)) == errc::invalid_argument);  // an output
  CHECK(c.watch(2, irq_type::none).has_value());
}

TEST_CASE("sim chip: a wire carries an output's level and its edges to the input") {
  chip8 c{4};
  CHECK(err(c.connect(0, 0)) == errc::invalid_argument);
  CHECK(err(c.connect(0, 4)) == errc::gpio_line_out_of_range);
  REQUIRE(c.connect(0, 1).has_value());
  REQUIRE(c.watch(1, irq_type::edge_both).has_value());
  REQUIRE(c.set_direction(0, direction::out, level::high).has_value());  // drives from the start
  CHECK(c.get_value(1).value() == level::high);
  CHECK(c.next_event() == line_event{1, edge::rising});
  REQUIRE(c.set_value(0, level::low).has_value());
  CHECK(c.next_event() == line_event{1, edge::falling});
  REQUIRE(c.set_value(0, level::low).has_value());  // same level: no edge
  CHECK(!c.next_event().has_value());
  // Released, the output stops driving; the input keeps its last level.
  REQUIRE(c.set_value(0, level::high).has_value());
  (void)c.next_event();
  REQUIRE(c.set_direction(0, direction::none, level::low).has_value());
  CHECK(c.get_value(1).value() == level::high);
  // Connecting to a line that already drives updates the new input at once.
  REQUIRE(c.set_direction(0, direction::out, level::low).has_value());
  (void)c.next_event();
  REQUIRE(c.connect(0, 2).has_value());
  REQUIRE(c.watch(2, irq_type::edge_both).has_value());
  REQUIRE(c.set_value(0, level::high).has_value());
  CHECK(c.get_value(2).value() == level::high);
  CHECK(c.get_value(1).value() == level::low);  // no longer wired
  CHECK(c.next_event() == line_event{2, edge::rising});
  c.disconnect(0);
  REQUIRE(c.set_value(0, level::low).has_value());
  CHECK(c.get_value(2).value() == level::high);
}

TEST_CASE("sim chip: a full FIFO drops new events and counts them") {
  chip8 c{2};
  REQUIRE(c.watch(0, irq_type::edge_both).has_value());
  for (int i = 0; i < 7; ++i) c.set_input(0, i % 2 == 0 ? level::high : level::low);
  CHECK(c.pending_events() == 4);
  CHECK(c.overflows() == 3);
  // The oldest four survive, in order.
  CHECK(c.next_event() == line_event{0, edge::rising});
  CHECK(c.next_event() == line_event{0, edge::falling});
  CHECK(c.next_event() == line_event{0, edge::rising});
  CHECK(c.next_event() == line_event{0, edge::falling});
  CHECK(!c.next_event().has_value());
  // The ring wraps cleanly.
  for (int i = 0; i < 10; ++i) {  // the input is high now: low, high, ... ends high
    c.set_input(0, i % 2 == 0 ? level::low : level::high);
    REQUIRE(c.next_event().has_value());
  }
  c.set_input(0, level::high);  // no change: no edge
  CHECK(c.pending_events() == 0);
  c.set_input(0, level::low);
  CHECK(c.pending_events() == 1);
  c.clear_events();
  CHECK(!c.next_event().has_value());
}

TEST_CASE("sim chip: an injected fault fails every operation on that line only") {
  chip8 c{3};
  c.inject_fault(1);
  CHECK(err(c.get_value(1)) == errc::gpio_line_fault);
  CHECK(err(c.set_direction(1, direction::in, level::low)) == errc::gpio_line_fault);
  CHECK(err(c.set_value(1, level::low)) == errc::gpio_line_fault);
  CHECK(err(c.watch(1, irq_type::none)) == errc::gpio_line_fault);
  CHECK(c.get_value(0).has_value());
  CHECK(c.line_direction(1) == direction::none);  // a failed call changed nothing
  c.inject_fault(1, false);
  CHECK(c.set_direction(1, direction::out, level::high).has_value());
  c.inject_fault(7);  // out of range: ignored
}
