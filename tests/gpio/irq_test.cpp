// SPDX-License-Identifier: Apache-2.0
// Interrupts of the virtio-gpio device model (§5.18.6.6, §5.18.7): the per-line state machine on
// its own, then end to end over real eventq rings of both layouts (GV7-GV13), IRQ sequences,
// hostile pairs, memory faults on the status byte, and a wired output driving an input.
#include "gpio_device_support.hpp"

using namespace vireo_gpio_dev_test;
using gpio::edge;
using gpio::held_pair;
using gpio::irq_action;
using gpio::irq_state;

namespace {

held_pair pair_at(std::uint16_t id) {
  held_pair p;
  p.token.id = id;
  p.status = gpa{0x1000u + id};
  return p;
}

}  // namespace

// --- The state machine alone --------------------------------------------------------------------

TEST_CASE("irq_state: trigger helpers match the bit-like type values") {
  CHECK(gpio::edge_triggers(irq_type::edge_rising, edge::rising));
  CHECK(!gpio::edge_triggers(irq_type::edge_rising, edge::falling));
  CHECK(gpio::edge_triggers(irq_type::edge_falling, edge::falling));
  CHECK(!gpio::edge_triggers(irq_type::edge_falling, edge::rising));
  CHECK(gpio::edge_triggers(irq_type::edge_both, edge::rising));
  CHECK(gpio::edge_triggers(irq_type::edge_both, edge::falling));
  CHECK(!gpio::edge_triggers(irq_type::level_high, edge::rising));
  CHECK(!gpio::edge_triggers(irq_type::none, edge::rising));
  CHECK(gpio::level_active(irq_type::level_high, level::high));
  CHECK(!gpio::level_active(irq_type::level_high, level::low));
  CHECK(gpio::level_active(irq_type::level_low, level::low));
  CHECK(!gpio::level_active(irq_type::edge_both, level::high));
  CHECK(!gpio::level_active(irq_type::none, level::low));
}

TEST_CASE("irq_state: edge type latches while masked and fires on unmask, once") {
  irq_state s;
  CHECK(!s.enabled());
  CHECK(s.on_edge(edge::rising) == irq_action::none);  // disabled: nothing latched
  CHECK(!s.latched());
  s.enable(irq_type::edge_rising);
  CHECK(s.on_edge(edge::falling) == irq_action::none);  // not a rising edge
  CHECK(!s.latched());
  for (int i = 0; i < 5; ++i) CHECK(s.on_edge(edge::rising) == irq_action::none);
  CHECK(s.latched());  // five edges, one pending flag
  CHECK(s.unmask(pair_at(7)) == irq_action::fire);
  CHECK(!s.latched());
  CHECK(s.take_pair().token.id == 7);
  CHECK(!s.unmasked());
  CHECK(s.unmask(pair_at(8)) == irq_action::none);  // the latch was consumed
  CHECK(s.on_edge(edge::rising) == irq_action::fire);
  CHECK(s.take_pair().status == gpa{0x1008});
}

TEST_CASE("irq_state: level type never latches and asks for a level check when unmasked") {
  irq_state s;
  s.enable(irq_type::level_low);
  CHECK(s.on_edge(edge::falling) == irq_action::none);
  CHECK(!s.latched());
  CHECK(s.unmask(pair_at(1)) == irq_action::check_level);
  CHECK(s.on_edge(edge::rising) == irq_action::check_level);
  CHECK(s.on_edge(edge::falling) == irq_action::check_level);
  CHECK(!s.latched());
}

TEST_CASE("irq_state: disable drops the latch and hands back a held pair exactly once") {
  irq_state s;
  s.enable(irq_type::edge_both);
  (void)s.on_edge(edge::rising);
  CHECK(s.latched());
  auto p = s.disable();
  CHECK(!p.has_value());
  CHECK(!s.latched());
  CHECK(!s.enabled());
  s.enable(irq_type::edge_both);
  CHECK(s.unmask(pair_at(3)) == irq_action::none);
  p = s.disable();
  REQUIRE(p.has_value());
  CHECK(p->token.id == 3);
  CHECK(!s.disable().has_value());
  CHECK(!s.unmasked());
}

// --- End to end -----------------------------------------------------------------------------

TEST_CASE_TEMPLATE("GV8 irq: an edge while masked is latched and delivered as soon as the pair is "
                   "queued",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(4, direction::in);
  r.enable(4, irq_type::edge_rising);
  r.chip.set_input(4, level::high);
  r.poll();
  CHECK(r.dev->line_irq(4).latched());
  CHECK(r.take_irqs().empty());
  r.queue_pair(4);
  CHECK(r.serve_events().eventq);
  check_one_valid(r.take_irqs(), 4);
  CHECK(!r.dev->line_irq(4).latched());
  CHECK(r.dev->held_pairs() == 0);  // masked again
  // Re-queued with nothing latched: held, silent.
  r.queue_pair(4);
  r.serve_events();
  CHECK(r.take_irqs().empty());
  CHECK(r.dev->held_pairs() == 1);
}

TEST_CASE_TEMPLATE("GV8 irq: buffer starvation - many edges while masked give one delivery", L,
                   split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::edge_both);
  for (int i = 0; i < 40; ++i) {
    r.chip.set_input(1, i % 2 == 0 ? level::high : level::low);
    if (i % 7 == 0) r.poll();
  }
  r.poll();
  CHECK(r.chip.overflows() == 0);
  CHECK(r.dev->stats().edges_latched == 1);
  r.queue_pair(1);
  r.serve_events();
  check_one_valid(r.take_irqs(), 1);
  r.queue_pair(1);
  r.serve_events();
  CHECK(r.take_irqs().empty());  // nothing more pending: nothing was counted twice
}

TEST_CASE_TEMPLATE("GV9 irq: a level change while masked is not latched; unmask re-reads the level",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(2, direction::in);
  r.enable(2, irq_type::level_high);
  r.chip.set_input(2, level::high);
  r.chip.set_input(2, level::low);  // pulse while masked
  r.poll();
  CHECK(!r.dev->line_irq(2).latched());
  r.queue_pair(2);
  r.serve_events();
  CHECK(r.take_irqs().empty());  // the level is low now: nothing to report
  r.chip.set_input(2, level::high);
  CHECK(r.poll().eventq);
  check_one_valid(r.take_irqs(), 2);
}

TEST_CASE_TEMPLATE("irq: a level interrupt fires again on re-queue while still active, not after "
                   "the source cleared",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(3, direction::in);
  r.enable(3, irq_type::level_low);
  r.chip.set_input(3, level::high);
  r.poll();
  r.chip.set_input(3, level::low);  // active while masked: not latched
  r.poll();
  r.queue_pair(3);
  r.serve_events();  // unmask: still low, so it fires at once
  check_one_valid(r.take_irqs(), 3);
  r.queue_pair(3);  // the handler did not clear the source: fires again (§5.18.7.1)
  r.serve_events();
  check_one_valid(r.take_irqs(), 3);
  r.chip.set_input(3, level::high);  // the source is cleared while masked
  r.poll();
  r.queue_pair(3);
  r.serve_events();
  CHECK(r.take_irqs().empty());
  CHECK(r.dev->held_pairs() == 1);
  r.chip.set_input(3, level::low);
  r.poll();
  check_one_valid(r.take_irqs(), 3);
}

TEST_CASE_TEMPLATE("GV10 irq: disabling discards a latched edge", L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(5, direction::in);
  r.enable(5, irq_type::edge_falling);
  r.chip.set_input(5, level::high);
  r.chip.set_input(5, level::low);
  r.poll();
  CHECK(r.dev->line_irq(5).latched());
  r.enable(5, irq_type::none);
  CHECK(!r.dev->line_irq(5).latched());
  CHECK(r.chip.watched(5) == irq_type::none);
  r.enable(5, irq_type::edge_falling);
  r.queue_pair(5);
  r.serve_events();
  CHECK(r.take_irqs().empty());  // the old edge is gone
  CHECK(r.dev->held_pairs() == 1);
}

TEST_CASE_TEMPLATE("GV11 irq: nothing is reported for a line that is not both enabled and unmasked",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(0, direction::in);
  r.set_dir(1, direction::in);
  // Not enabled: the chip does not even watch it; force events anyway (a chip may report late).
  REQUIRE(r.chip.watch(0, irq_type::edge_both).has_value());
  r.chip.set_input(0, level::high);
  r.chip.set_input(0, level::low);
  r.poll();
  CHECK(r.dev->stats().events_ignored == 2);
  // Enabled, masked: latched, not reported.
  r.enable(1, irq_type::edge_both);
  r.chip.set_input(1, level::high);
  r.poll();
  CHECK(r.take_irqs().empty());
  // Unmasked but no longer enabled: ignored again.
  r.queue_pair(1);
  r.serve_events();
  check_one_valid(r.take_irqs(), 1);  // the latched edge (GV8)
  r.queue_pair(1);
  r.serve_events();
  r.enable(1, irq_type::none);
  check_one_invalid(r.take_irqs(), 1);
  r.chip.set_input(1, level::low);
  r.chip.set_input(0, level::high);
  r.poll();
  CHECK(r.take_irqs().empty());
  CHECK(r.dev->stats().interrupts == 1);
  CHECK(r.dev->stats().events_ignored == 3);  // two on line 0 before, one on line 0 now
}

TEST_CASE_TEMPLATE("GV12 irq: SET_IRQ_TYPE(NONE) returns the queued pair INVALID and masks", L,
                   split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(6, direction::in);
  r.enable(6, irq_type::edge_both);
  r.queue_pair(6);
  r.serve_events();
  CHECK(r.dev->held_pairs() == 1);
  r.post(msg_type::set_irq_type, 6, 0);
  const auto n = r.serve_requests();
  CHECK(n.requestq);
  CHECK(n.eventq);  // the pair came back on the other queue
  check_one_invalid(r.take_irqs(), 6);
  CHECK(r.take_replies()[0].status() == st_ok);
  CHECK(r.dev->held_pairs() == 0);
  // Nothing further for this line: edges now are ignored.
  r.chip.set_input(6, level::high);
  r.poll();
  CHECK(r.take_irqs().empty());
  CHECK(r.dev->stats().pairs_disabled == 1);
}

TEST_CASE_TEMPLATE("GV13 irq: a pair for a line whose interrupt is not enabled comes back INVALID "
                   "at once",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.queue_pair(2);  // never enabled (Linux never does this; §5.18.7.1 allows the order)
  CHECK(r.serve_events().eventq);
  check_one_invalid(r.take_irqs(), 2);
  CHECK(r.dev->held_pairs() == 0);
  // Enabled, then disabled: same.
  r.enable(2, irq_type::level_high);
  r.enable(2, irq_type::none);
  r.queue_pair(2);
  r.serve_events();
  check_one_invalid(r.take_irqs(), 2);
}

TEST_CASE_TEMPLATE("GV7 irq: SET_DIRECTION(NONE) drops direction, value, interrupt type, latch and "
                   "the queued pair",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(1, direction::in);
  r.ok(msg_type::set_value, 1, 1);
  r.enable(1, irq_type::edge_rising);
  r.chip.set_input(1, level::high);
  r.poll();
  CHECK(r.dev->line_irq(1).latched());
  r.set_dir(2, direction::in);
  r.enable(2, irq_type::edge_both);
  r.queue_pair(2);
  r.serve_events();

  r.set_dir(1, direction::none);
  CHECK(r.dev->line_direction(1) == direction::none);
  CHECK(r.dev->line_value(1) == level::low);
  CHECK(!r.dev->line_irq(1).enabled());
  CHECK(!r.dev->line_irq(1).latched());
  CHECK(r.chip.watched(1) == irq_type::none);
  CHECK(r.chip.line_direction(1) == direction::none);
  CHECK(r.take_irqs().empty());  // line 1 held no pair

  r.set_dir(2, direction::none);
  check_one_invalid(r.take_irqs(), 2);
  CHECK(r.dev->held_pairs() == 0);
  // Re-activated later, nothing of the old state is left.
  r.set_dir(1, direction::out);
  CHECK(r.chip.driven(1) == level::low);
  r.set_dir(1, direction::in);
  r.queue_pair(1);
  r.serve_events();
  check_one_invalid(r.take_irqs(), 1);  // interrupt not enabled any more
}

TEST_CASE_TEMPLATE("irq: a second pair for a line is returned INVALID and the first stays held", L,
                   split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(3, direction::in);
  r.enable(3, irq_type::edge_rising);
  const std::uint64_t first = r.queue_pair(3);
  const std::uint64_t second = r.queue_pair(3);
  r.serve_events();
  auto got = r.take_irqs();
  REQUIRE(got.size() == 1);
  CHECK(got[0].tag == second);
  CHECK(got[0].status == irq_invalid);
  CHECK(r.dev->held_pairs() == 1);
  r.chip.set_input(3, level::high);
  r.poll();
  got = r.take_irqs();
  REQUIRE(got.size() == 1);
  CHECK(got[0].tag == first);
  CHECK(got[0].status == irq_valid);
}

TEST_CASE_TEMPLATE("irq: pairs are matched by line, not by queue order", L, split_flat,
                   packed_flat) {
  rig<L> r;
  for (std::uint16_t l : {3, 1, 2}) {
    r.set_dir(l, direction::in);
    r.enable(l, irq_type::edge_rising);
  }
  const std::uint64_t t3 = r.queue_pair(3), t1 = r.queue_pair(1), t2 = r.queue_pair(2);
  r.serve_events();
  r.chip.set_input(2, level::high);
  r.chip.set_input(1, level::high);
  r.poll();
  auto got = r.take_irqs();
  REQUIRE(got.size() == 2);
  CHECK(got[0].tag == t2);  // in the host's order of events
  CHECK(got[1].tag == t1);
  r.chip.set_input(3, level::high);
  r.poll();
  got = r.take_irqs();
  REQUIRE(got.size() == 1);
  CHECK(got[0].tag == t3);
}

TEST_CASE_TEMPLATE("irq: malformed pairs are returned at once, INVALID when a status byte can be "
                   "written",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::edge_rising);
  struct bad {
    const char* what;
    std::vector<std::uint8_t> readable;
    std::vector<std::uint32_t> writable;
    std::uint32_t len;
  };
  const std::vector<bad> cases = {
      {"request 1 byte", {1}, {1}, 1},
      {"request 3 bytes", {1, 0, 0}, {1}, 1},
      {"no request", {}, {1}, 1},
      {"line = ngpio", {8, 0}, {1}, 1},
      {"line 0xffff", {0xff, 0xff}, {1}, 1},
      {"no writable byte", {1, 0}, {}, 0},
      {"status split over two buffers is fine as a bounce too", {9, 0}, {1, 1}, 1},
  };
  for (const bad& b : cases) {
    INFO(b.what);
    r.queue_raw_pair(1, b.readable, b.writable);
    r.serve_events();
    auto got = r.take_irqs();
    REQUIRE(got.size() == 1);
    CHECK(got[0].len == b.len);
    if (b.len > 0) CHECK(got[0].status == irq_invalid);
    CHECK(r.dev->held_pairs() == 0);
  }
  // A good pair with a longer writable part is held, and answered with used length 1.
  r.queue_raw_pair(1, {1, 0}, {4});
  r.serve_events();
  CHECK(r.dev->held_pairs() == 1);
  r.chip.set_input(1, level::high);
  r.poll();
  check_one_valid(r.take_irqs(), 1);
  CHECK(r.dev->stats().pairs_bounced == cases.size());
}

TEST_CASE_TEMPLATE("irq: changing the type without disabling first acts as disable + enable", L,
                   split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(4, direction::in);
  r.enable(4, irq_type::edge_rising);
  r.queue_pair(4);
  r.serve_events();
  r.enable(4, irq_type::edge_rising);  // the same type again changes nothing
  CHECK(r.take_irqs().empty());
  CHECK(r.dev->held_pairs() == 1);
  r.enable(4, irq_type::level_high);  // a driver MUST disable first (§5.18.6.6)
  check_one_invalid(r.take_irqs(), 4);
  CHECK(r.dev->line_irq(4).trigger() == irq_type::level_high);
  CHECK(r.chip.watched(4) == irq_type::level_high);
  r.chip.set_input(4, level::high);
  r.poll();
  r.queue_pair(4);  // Linux re-queues after an INVALID when the line is enabled again
  r.serve_events();
  check_one_valid(r.take_irqs(), 4);
}

TEST_CASE_TEMPLATE("irq: events before an interrupt change are judged by the state they happened in",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(2, direction::in);
  r.enable(2, irq_type::edge_both);
  r.queue_pair(2);
  r.serve_events();
  r.chip.set_input(2, level::high);  // happened while unmasked, not polled yet
  r.post(msg_type::set_irq_type, 2, 0);
  r.serve_requests();
  check_one_valid(r.take_irqs(), 2);  // delivered before the disable, not bounced by it
  CHECK(r.dev->stats().pairs_disabled == 0);
}

TEST_CASE_TEMPLATE("irq: an interrupt may be enabled on a line that was never given a direction",
                   L, split_flat, packed_flat) {
  // Linux's gpiolib may request an interrupt without SET_DIRECTION(IN) (can_sleep chips).
  // The model makes the line an input on the chip for as long as the interrupt is enabled.
  rig<L> r;
  r.enable(7, irq_type::edge_falling);
  CHECK(r.chip.line_direction(7) == direction::in);
  CHECK(r.request(msg_type::get_direction, 7, 0).value() == 0);  // the driver's record: none
  r.queue_pair(7);
  r.serve_events();
  r.chip.set_input(7, level::high);
  r.chip.set_input(7, level::low);
  r.poll();
  check_one_valid(r.take_irqs(), 7);
  r.enable(7, irq_type::none);
  CHECK(r.chip.line_direction(7) == direction::none);  // released again
  // A line the driver made an input stays one when its interrupt goes.
  r.set_dir(6, direction::in);
  r.enable(6, irq_type::level_low);
  r.enable(6, irq_type::none);
  CHECK(r.chip.line_direction(6) == direction::in);
  // If the chip fails, the line is not left as an input either.
  r.chip.inject_fault(5);
  CHECK(r.request(msg_type::set_irq_type, 5, 1).status() == st_err);
  r.chip.inject_fault(5, false);
  CHECK(r.chip.line_direction(5) == direction::none);
  CHECK(!r.dev->line_irq(5).enabled());
}

TEST_CASE_TEMPLATE("irq: a wired output drives an input and raises its edge interrupt end to end",
                   L, split_flat, packed_flat) {
  rig<L> r;
  REQUIRE(r.chip.connect(0, 1).has_value());
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::edge_rising);
  r.queue_pair(1);
  r.serve_events();
  r.ok(msg_type::set_value, 0, 1);  // not yet an output: remembered only
  CHECK(r.chip.pending_events() == 0);
  r.set_dir(0, direction::out);  // drives high from the start: one rising edge on line 1
  CHECK(r.chip.pending_events() == 1);
  CHECK(r.poll().eventq);
  check_one_valid(r.take_irqs(), 1);
  CHECK(r.get(1) == level::high);
  r.queue_pair(1);
  r.serve_events();
  r.ok(msg_type::set_value, 0, 0);  // falling: not reported for EDGE_RISING
  r.ok(msg_type::set_value, 0, 1);  // rising again
  r.poll();
  check_one_valid(r.take_irqs(), 1);
}

TEST_CASE_TEMPLATE("irq: a status byte that cannot be written completes the pair with length 0",
                   L, split_faulty, packed_faulty) {
  rig<L> r;
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::edge_rising);
  r.queue_pair(1);
  r.serve_events();
  REQUIRE(r.dev->held_pairs() == 1);
  r.evt_mem.fail_range(r.evt_out.back().writable[0].addr, 1);
  r.chip.set_input(1, level::high);
  r.poll();
  auto got = r.take_irqs();
  REQUIRE(got.size() == 1);
  CHECK(got[0].len == 0);  // Linux: "irq with incorrect length", ignored
  CHECK(got[0].status == untouched);
  CHECK(r.dev->stats().memory_errors == 1);
  r.evt_mem.clear_faults();
  r.queue_pair(1);
  r.serve_events();
  r.chip.set_input(1, level::low);
  r.chip.set_input(1, level::high);
  r.poll();
  check_one_valid(r.take_irqs(), 1);
}

TEST_CASE_TEMPLATE("irq: reset forgets held pairs without writing them; drop_pairs keeps the enable",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::edge_both);
  r.queue_pair(1);
  r.serve_events();
  r.dev->drop_pairs();
  CHECK(r.dev->held_pairs() == 0);
  CHECK(r.dev->line_irq(1).enabled());
  r.chip.set_input(1, level::high);
  r.poll();
  CHECK(r.take_irqs().empty());  // masked: latched instead
  CHECK(r.dev->line_irq(1).latched());
  r.dev->reset();
  CHECK(r.take_irqs().empty());
  CHECK(!r.dev->line_irq(1).enabled());
}
