// SPDX-License-Identifier: Apache-2.0
// The virtio-gpio device model on the requestq: config space and names (GV2-GV4), answers with
// all fields set (GV1, GV14), per-line order (GV5), line state (§5.18.6.2-5), malformed
// requests, chip faults, memory faults, feature negotiation (GD5), reset. Both ring layouts.
#include "gpio_device_support.hpp"

using namespace vireo_gpio_dev_test;

namespace {

constexpr std::uint16_t t_names = 1, t_get_dir = 2, t_set_dir = 3, t_get_val = 4, t_set_val = 5,
                        t_irq = 6;

// The spec's example (§5.18.6.1), as listed there: 10 lines, names on 0, 5 and 7.
const std::vector<std::string_view> spec_names = {"MMC-CD", "", "", "", "", "Red LED Vdd", "",
                                                  "Ethernet reset", "", ""};

}  // namespace

TEST_CASE_TEMPLATE("GV2 GV3 device: the config space comes from the chip, names size 0 without names",
                   L, split_flat, packed_flat) {
  rig<L> r{rig_options{.lines = 12}};
  const auto c = r.dev->config();
  CHECK(c.ngpio.get() == 12);
  CHECK(c.padding[0] == 0);
  CHECK(c.padding[1] == 0);
  CHECK(c.gpio_names_size.get() == 0);  // GV3: no line has a name
  CHECK(r.dev->params().gpio_names_size == 0);
  // GET_LINE_NAMES is then refused: ERR, sized 1 + gpio_names_size = 1.
  const reply n = r.request(t_names, 0, 0, 1);
  CHECK(n.status() == st_err);
  CHECK(n.len == 1);
  CHECK(r.dev->last_request_error() == errc::gpio_names_unsupported);
}

TEST_CASE_TEMPLATE("GV4 device: the names blob is written from the chip and passes Linux's checks",
                   L, split_flat, packed_flat) {
  rig<L> r{rig_options{.lines = 10, .names = spec_names}};
  const std::uint32_t size = r.dev->config().gpio_names_size.get();
  // "MMC-CD\0" + 4 x "\0" + "Red LED Vdd\0" + "\0" + "Ethernet reset\0" + 2 x "\0"
  CHECK(size == 7 + 4 + 12 + 1 + 15 + 2);
  const reply n = r.request(t_names, 0, 0, 1 + size);
  REQUIRE(n.len == 1 + size);  // Linux: used length exactly 1 + gpio_names_size
  std::vector<std::byte> used(n.len);
  for (std::size_t i = 0; i < used.size(); ++i) used[i] = std::byte{n.bytes[i]};
  auto view = gpio::decode_names_response(used, r.dev->params());
  REQUIRE(view.has_value());
  CHECK(view->size() == 10);
  std::size_t i = 0;
  for (std::string_view name : *view) CHECK(name == spec_names[i++]);
  // Linux's own walk: force a NUL into the last byte, then ngpio strlen() hops stay inside.
  std::size_t at = 1;
  for (int line = 0; line < 10; ++line) {
    while (n.bytes[at] != 0) ++at;
    ++at;
    CHECK(at <= 1 + size);
  }
  CHECK(at == 1 + size);
  // A longer writable buffer is accepted: the used length still says 1 + size.
  const reply longer = r.request(t_names, 0, 0, 1 + size + 16);
  CHECK(longer.len == 1 + size);
  CHECK(longer.bytes[1 + size] == untouched);
  // A shorter one gets ERR, as much of it as fits, status first.
  const reply shorter = r.request(t_names, 0, 0, size);
  CHECK(shorter.status() == st_err);
  CHECK(shorter.len == size);
  CHECK(r.dev->last_request_error() == errc::gpio_response_too_short);
}

TEST_CASE("GV4 device: the chip's names are checked at creation") {
  using Q = ring::split_device<vireo::flat_memory>;
  vireo::testing::mock_split_driver m;
  Q q{m.memory()};
  auto make = [&](chip_t& c) { return err(gpio::device<Q, chip_t, 64>::create(c, q, q)); };
  {
    chip_t c{4};
    c.set_name(1, "same");
    c.set_name(3, "same");
    CHECK(make(c) == errc::gpio_name_duplicate);
    c.set_name(3, "other");
    CHECK(make(c) == errc{});
  }
  {
    chip_t c{3};
    c.set_name(0, "caf\xc3\xa9");  // not 7-bit ASCII (§5.18.6.1)
    CHECK(make(c) == errc::gpio_name_invalid);
  }
  {
    chip_t c{3};
    c.set_name(2, std::string_view{"a\0b", 3});  // a NUL would split the name in two
    CHECK(make(c) == errc::gpio_name_invalid);
  }
  {
    chip_t c{0};
    CHECK(make(c) == errc::gpio_no_lines);  // Linux refuses ngpio 0
  }
  {
    gpio::sim::chip<300> big{300};
    CHECK(err(gpio::device<Q, gpio::sim::chip<300>, 256>::create(big, q, q)) ==
          errc::gpio_too_many_lines);
    gpio::sim::chip<300> fits{256};
    CHECK(err(gpio::device<Q, gpio::sim::chip<300>, 256>::create(fits, q, q)) == errc{});
  }
  {
    chip_t c{5};  // every line unnamed: GV3, size 0
    c.set_name(4, "");
    auto d = gpio::device<Q, chip_t, 64>::create(c, q, q);
    REQUIRE(d.has_value());
    CHECK(d->config().gpio_names_size.get() == 0);
  }
}

TEST_CASE_TEMPLATE("device: names that change size after creation give ERR, not a wrong blob", L,
                   split_flat, packed_flat) {
  rig<L> r{rig_options{.lines = 3, .names = {"a", "bb", ""}}};
  const std::uint32_t size = r.dev->params().gpio_names_size;
  CHECK(size == 2 + 3 + 1);
  r.chip.set_name(2, "ccc");
  const reply n = r.request(t_names, 0, 0, 1 + size);
  CHECK(n.status() == st_err);
  CHECK(n.len == 1 + size);
  CHECK(r.dev->last_request_error() == errc::gpio_names_changed);
  for (std::size_t i = 1; i < n.len; ++i) CHECK(n.bytes[i] == 0);  // GV1: every byte set
}

TEST_CASE_TEMPLATE("GV1 GV14 device: malformed requests of every kind get ERR, all fields set, and "
                   "the device keeps working",
                   L, split_flat, packed_flat) {
  rig<L> r{rig_options{.lines = 4, .names = {"x", "y"}}};
  const std::uint32_t names = r.dev->params().gpio_names_size;
  struct bad {
    const char* what;
    std::vector<std::vector<std::uint8_t>> readable;
    std::vector<std::uint32_t> writable;
    std::uint32_t len;  ///< expected used length (status ERR in the first byte when > 0)
    errc why;
  };
  using R = rig<L>;
  const std::vector<bad> cases = {
      {"unknown type 7", {R::request_bytes(7, 0, 0)}, {2}, 2, errc::gpio_unknown_type},
      {"type 0", {R::request_bytes(0, 0, 0)}, {2}, 2, errc::gpio_unknown_type},
      {"direction 3", {R::request_bytes(t_set_dir, 1, 3)}, {2}, 2, errc::gpio_bad_direction},
      {"value 2", {R::request_bytes(t_set_val, 1, 2)}, {2}, 2, errc::gpio_bad_value},
      {"irq type 5", {R::request_bytes(t_irq, 1, 5)}, {2}, 2, errc::gpio_bad_irq_type},
      {"irq type 16", {R::request_bytes(t_irq, 1, 16)}, {2}, 2, errc::gpio_bad_irq_type},
      {"GET_VALUE value 1", {R::request_bytes(t_get_val, 1, 1)}, {2}, 2,
       errc::gpio_reserved_nonzero},
      {"GET_DIRECTION value 9", {R::request_bytes(t_get_dir, 1, 9)}, {2}, 2,
       errc::gpio_reserved_nonzero},
      {"GET_LINE_NAMES gpio 1", {R::request_bytes(t_names, 1, 0)}, {1 + names}, 1 + names,
       errc::gpio_reserved_nonzero},
      {"line = ngpio", {R::request_bytes(t_get_val, 4, 0)}, {2}, 2, errc::gpio_line_out_of_range},
      {"line 0xffff", {R::request_bytes(t_set_dir, 0xffff, 1)}, {2}, 2,
       errc::gpio_line_out_of_range},
      {"request 7 bytes", {{4, 0, 1, 0, 0, 0, 0}}, {2}, 2, errc::gpio_request_size},
      {"request 9 bytes", {{4, 0, 1, 0, 0, 0, 0, 0, 0}}, {2}, 2, errc::gpio_request_size},
      {"June 2021 draft, 5 bytes", {{6, 0, 1, 0, 0}}, {2}, 2, errc::gpio_request_size},
      {"no readable part", {}, {2}, 2, errc::gpio_request_size},
      {"writable 1 byte", {R::request_bytes(t_get_val, 1, 0)}, {1}, 1,
       errc::gpio_response_too_short},
      {"no writable part", {R::request_bytes(t_set_val, 1, 1)}, {}, 0,
       errc::gpio_response_too_short},
  };
  for (const bad& b : cases) {
    INFO(b.what);
    r.post_raw(b.readable, b.writable);
    r.serve_requests();
    auto got = r.take_replies();
    REQUIRE(got.size() == 1);
    CHECK(got[0].len == b.len);
    if (b.len > 0) CHECK(got[0].status() == st_err);
    for (std::size_t i = 1; i < b.len; ++i) CHECK(got[0].bytes[i] == 0);  // GV1
    CHECK(r.dev->last_request_error() == b.why);
    // Side effects never happen for a refused message: line 1 is still released and low.
    CHECK(r.dev->line_direction(1) == direction::none);
    CHECK(r.dev->line_value(1) == level::low);
    // And the device goes on working.
    const reply ok = r.request(t_get_dir, 1, 0);
    CHECK(ok.len == 2);
    CHECK(ok.status() == st_ok);
    CHECK(ok.value() == 0);
  }
  CHECK(r.dev->stats().request_errors == cases.size());
}

TEST_CASE_TEMPLATE("GV14 device: well-formed requests in unusual framing get OK", L, split_flat,
                   packed_flat) {
  rig<L> r;
  r.chip.set_input(2, level::high);
  using R = rig<L>;
  const auto req = R::request_bytes(t_get_val, 2, 0);
  // Request split 3 + 5, response split 1 + 1: framing carries no meaning.
  r.post_raw({{req.begin(), req.begin() + 3}, {req.begin() + 3, req.end()}}, {1, 1});
  // Writable part longer than the response: only 2 bytes written, used length 2.
  r.post_raw({req}, {8});
  r.serve_requests();
  auto got = r.take_replies();
  REQUIRE(got.size() == 2);
  for (const reply& g : got) {
    CHECK(g.len == 2);
    CHECK(g.status() == st_ok);
    CHECK(g.value() == 1);
  }
  CHECK(got[1].bytes[2] == untouched);
}

TEST_CASE_TEMPLATE("GV5 device: messages for one line are executed and answered in arrival order",
                   L, split_flat, packed_flat) {
  rig<L> r;
  const std::uint16_t line = 5;
  r.post(msg_type::set_value, line, 1);
  r.post(msg_type::set_direction, line, 1);
  r.post(msg_type::get_value, line, 0);
  r.post(msg_type::get_direction, 2, 0);  // another line in between
  r.post(msg_type::set_value, line, 0);
  r.post(msg_type::get_value, line, 0);
  r.post(msg_type::set_direction, line, 0);
  r.post(msg_type::get_direction, line, 0);
  r.serve_requests();
  auto got = r.take_replies();
  REQUIRE(got.size() == 8);
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].tag == i + 1);  // GV5 (and GV6 unused: other lines keep arrival order too)
    CHECK(got[i].status() == st_ok);
    CHECK(got[i].len == 2);
  }
  CHECK(got[2].value() == 1);  // read after the first SET_VALUE and SET_DIRECTION(OUT)
  CHECK(got[5].value() == 0);  // read after the second SET_VALUE
  CHECK(got[7].value() == 0);  // none after SET_DIRECTION(NONE)
}

TEST_CASE_TEMPLATE("device: directions and values (§5.18.6.2-5), a value set before OUT is driven "
                   "from the start",
                   L, split_flat, packed_flat) {
  rig<L> r;
  // GET_DIRECTION reports the model's record, none at first.
  CHECK(r.request(t_get_dir, 3, 0).value() == 0);
  // §5.18.6.5: SET_VALUE on a line that is not an output is kept, not driven.
  r.ok(msg_type::set_value, 3, 1);
  CHECK(r.chip.line_direction(3) == direction::none);
  CHECK(r.dev->line_value(3) == level::high);
  // SET_DIRECTION(OUT) then drives it from the first moment (no glitch through low).
  r.chip.set_input(4, level::low);
  REQUIRE(r.chip.connect(3, 4).has_value());
  r.chip.set_input(4, level::low);
  REQUIRE(r.chip.watch(4, irq_type::edge_both).has_value());
  r.set_dir(3, direction::out);
  CHECK(r.chip.line_direction(3) == direction::out);
  CHECK(r.chip.driven(3) == level::high);
  CHECK(r.chip.pending_events() == 1);  // exactly one edge on the wired input: no glitch
  r.chip.clear_events();
  REQUIRE(r.chip.watch(4, irq_type::none).has_value());
  CHECK(r.request(t_get_dir, 3, 0).value() == 1);
  CHECK(r.get(3) == level::high);  // an output reads back what it drives
  r.ok(msg_type::set_value, 3, 0);
  CHECK(r.chip.driven(3) == level::low);
  CHECK(r.get(4) == level::low);   // through the wire
  // Input: GET_VALUE is the sensed level.
  r.set_dir(4, direction::in);
  CHECK(r.request(t_get_dir, 4, 0).value() == 2);
  r.chip.set_input(4, level::high);
  CHECK(r.get(4) == level::high);
  // Output back to input keeps the remembered value for the next OUT.
  r.set_dir(3, direction::in);
  CHECK(r.dev->line_value(3) == level::low);
  r.ok(msg_type::set_value, 3, 1);
  CHECK(r.chip.driven(3) == level::low);  // not an output: not driven
  r.set_dir(3, direction::out);
  CHECK(r.chip.driven(3) == level::high);
  // NONE releases the line and forgets the value (GV7).
  r.set_dir(3, direction::none);
  CHECK(r.chip.line_direction(3) == direction::none);
  CHECK(r.dev->line_value(3) == level::low);
  CHECK(r.request(t_get_dir, 3, 0).value() == 0);
}

TEST_CASE_TEMPLATE("GD6 device: interrupt messages for an output line get ERR; an interrupt line "
                   "cannot become an output",
                   L, split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(2, direction::out);
  for (std::uint32_t t : {1u, 2u, 3u, 4u, 8u, 0u}) {
    const reply x = r.request(t_irq, 2, t);
    CHECK(x.status() == st_err);
    CHECK(x.len == 2);
    CHECK(x.value() == 0);
    CHECK(r.dev->last_request_error() == errc::gpio_irq_on_output);
  }
  CHECK(r.chip.watched(2) == irq_type::none);
  r.set_dir(3, direction::in);
  r.enable(3, irq_type::edge_rising);
  const reply o = r.request(t_set_dir, 3, 1);
  CHECK(o.status() == st_err);
  CHECK(r.dev->last_request_error() == errc::gpio_line_irq_enabled);
  CHECK(r.dev->line_direction(3) == direction::in);
  CHECK(r.chip.line_direction(3) == direction::in);
  // Disabled first, it may.
  r.enable(3, irq_type::none);
  r.set_dir(3, direction::out);
}

TEST_CASE_TEMPLATE("device: chip failures answer ERR and the device keeps working", L, split_flat,
                   packed_flat) {
  rig<L> r;
  r.chip.inject_fault(6);
  for (auto [t, v] : {std::pair{t_get_val, 0u}, std::pair{t_set_dir, 2u}, std::pair{t_set_dir, 1u},
                      std::pair{t_irq, 1u}}) {
    const reply x = r.request(t, 6, v);
    CHECK(x.status() == st_err);
    CHECK(x.len == 2);
    CHECK(r.dev->last_request_error() == errc::gpio_line_fault);
  }
  // A failed SET_DIRECTION changed nothing, a failed enable left the interrupt off.
  CHECK(r.dev->line_direction(6) == direction::none);
  CHECK(!r.dev->line_irq(6).enabled());
  // SET_VALUE on a line that is not an output does not reach the chip: OK.
  r.ok(msg_type::set_value, 6, 1);
  // SET_DIRECTION(NONE) drops the model's state even though the chip fails (reported ERR).
  r.chip.inject_fault(6, false);
  r.set_dir(6, direction::in);
  r.enable(6, irq_type::edge_both);
  r.chip.inject_fault(6);
  CHECK(r.request(t_set_dir, 6, 0).status() == st_err);
  CHECK(r.dev->line_direction(6) == direction::none);
  CHECK(!r.dev->line_irq(6).enabled());
  // Other lines never noticed.
  r.set_dir(1, direction::out);
  CHECK(r.get(1) == level::low);
  CHECK(r.dev->stats().chip_errors >= 5);
}

TEST_CASE_TEMPLATE("device: memory faults on the request or the response give used length 0, then "
                   "the device recovers",
                   L, split_faulty, packed_faulty) {
  rig<L> r;
  // No host views: every payload byte goes through the memory model, where faults apply.
  r.req_mem.deny_map(true);
  // Calibrate: how many memory accesses one GET_VALUE costs on this layout.
  const std::uint64_t a0 = r.req_mem.accesses();
  CHECK(r.get(0) == level::low);
  const std::uint64_t per_message = r.req_mem.accesses() - a0;
  REQUIRE(per_message >= 2);  // at least the request read and the response write

  SUBCASE("the response write fails") {
    r.req_mem.fail_after(per_message - 1);  // the last access: the response write
    const reply x = r.request(t_set_val, 0, 1);
    CHECK(x.len == 0);
    CHECK(r.dev->stats().memory_errors == 1);
  }
  SUBCASE("the request read fails") {
    r.req_mem.fail_after(per_message - 2);  // the read and everything after
    const reply x = r.request(t_get_val, 0, 0);
    CHECK(x.len == 0);
    CHECK(r.dev->last_request_error() == errc::injected_fault);
  }
  SUBCASE("the chain itself cannot be mapped: rejected at pop, completed with length 0") {
    r.req_mem.deny_map(false);
    const std::uint64_t tag = r.post(msg_type::get_value, 0, 0);
    r.req_mem.fail_range(r.req_out.back().writable[0].addr, 2);
    r.serve_requests();
    auto got = r.take_replies();
    REQUIRE(got.size() == 1);
    CHECK(got[0].tag == tag);
    CHECK(got[0].len == 0);
    CHECK(r.dev->stats().rejected_chains == 1);
  }
  r.req_mem.clear_faults();
  r.req_mem.deny_map(true);
  CHECK(r.get(0) == r.chip.sensed(0));
  r.set_dir(0, direction::out);
}

TEST_CASE_TEMPLATE("GD5 device: without VIRTIO_GPIO_F_IRQ the eventq is refused and SET_IRQ_TYPE "
                   "gets ERR",
                   L, split_flat, packed_flat) {
  SUBCASE("offered, not accepted") {
    rig<L> r{rig_options{.accept_irq = false}};
    CHECK(r.dev->offered_features().has(gpio::feature::irq));
    CHECK(!r.dev->params().irq);
    const reply x = r.request(t_irq, 1, 1);
    CHECK(x.status() == st_err);
    CHECK(r.dev->last_request_error() == errc::gpio_irq_not_negotiated);
    CHECK(!r.dev->line_irq(1).enabled());
    r.queue_pair(1);
    CHECK(err(r.dev->process_events()) == errc::gpio_irq_not_negotiated);
    CHECK(r.take_irqs().empty());  // the queue was not touched
    CHECK(r.dev->held_pairs() == 0);
    r.chip.set_input(1, level::high);
    CHECK(r.poll() == gpio::notifications{});
  }
  SUBCASE("not offered") {
    rig<L> r{rig_options{.offer_irq = false, .accept_irq = false}};
    CHECK(!r.dev->offered_features().has(gpio::feature::irq));
    feature_set want;
    want.set(gpio::feature::irq);
    CHECK(err(r.dev->set_driver_features(want)) == errc::feature_not_offered);
    CHECK(!r.dev->params().irq);
  }
}

TEST_CASE_TEMPLATE("device: feature negotiation looks at device-type bits only", L, split_flat,
                   packed_flat) {
  rig<L> r{rig_options{.accept_irq = false}};
  feature_set accepted{vireo::transport_feature::version_1, vireo::transport_feature::event_idx};
  accepted.set(gpio::feature::irq);
  REQUIRE(r.dev->set_driver_features(accepted).has_value());
  CHECK(r.dev->negotiated_features() == feature_set{gpio::feature::irq});
  CHECK(r.dev->params().irq);
  feature_set unknown;
  unknown.set(1u);  // a gpio bit nobody offered
  CHECK(err(r.dev->set_driver_features(unknown)) == errc::feature_not_offered);
  CHECK(r.dev->params().irq);  // unchanged on error
  // Eventq pairs complete in the order lines fire: VIRTIO_F_IN_ORDER cannot go with F_IRQ, but
  // can without it.
  feature_set in_order = accepted;
  in_order.set(vireo::transport_feature::in_order);
  CHECK(err(r.dev->set_driver_features(in_order)) == errc::feature_not_offered);
  CHECK(r.dev->params().irq);
  in_order.clear(gpio::feature::irq);
  REQUIRE(r.dev->set_driver_features(in_order).has_value());
  CHECK(!r.dev->params().irq);
  REQUIRE(r.dev->set_driver_features(accepted).has_value());
  unknown = feature_set{};
  unknown.set(60u);  // device-type range 50-127
  CHECK(err(r.dev->set_driver_features(unknown)) == errc::feature_not_offered);
}

TEST_CASE_TEMPLATE("device: reset releases the chip's lines, forgets pairs, clears features", L,
                   split_flat, packed_flat) {
  rig<L> r;
  r.set_dir(0, direction::out);
  r.ok(msg_type::set_value, 0, 1);
  r.set_dir(1, direction::in);
  r.enable(1, irq_type::level_high);
  r.queue_pair(1);
  r.serve_events();
  CHECK(r.dev->held_pairs() == 1);
  r.chip.set_input(1, level::high);  // queued in the chip, not yet polled
  REQUIRE(r.chip.pending_events() == 1);
  r.dev->reset();
  CHECK(r.dev->held_pairs() == 0);
  CHECK(r.chip.line_direction(0) == direction::none);
  CHECK(r.chip.line_direction(1) == direction::none);
  CHECK(r.chip.watched(1) == irq_type::none);
  CHECK(r.chip.pending_events() == 0);
  CHECK(!r.dev->params().irq);
  CHECK(r.dev->line_direction(0) == direction::none);
  CHECK(r.dev->line_value(0) == level::low);
  CHECK(!r.dev->line_irq(1).enabled());
  // Nothing was written to the eventq by the reset.
  CHECK(r.take_irqs().empty());
}

TEST_CASE_TEMPLATE("device: notifications follow the driver's suppression", L, split_flat,
                   packed_flat) {
  rig<L> r;
  r.post(msg_type::get_value, 0, 0);
  CHECK(r.serve_requests().requestq);
  CHECK(!r.serve_requests().requestq);  // nothing new answered
  r.take_replies();
  r.reqm.driver().disable_interrupts();
  r.post(msg_type::get_value, 0, 0);
  CHECK(!r.serve_requests().requestq);
  CHECK(r.take_replies().size() == 1);
}

TEST_CASE_TEMPLATE("device: any_device_queue serves both layouts", L, any_split, any_packed) {
  rig<L> r;
  r.set_dir(2, direction::in);
  r.enable(2, irq_type::edge_falling);
  r.queue_pair(2);
  r.serve_events();
  r.chip.set_input(2, level::high);
  CHECK(!r.poll().eventq);
  r.chip.set_input(2, level::low);
  CHECK(r.poll().eventq);
  check_one_valid(r.take_irqs(), 2);
}
