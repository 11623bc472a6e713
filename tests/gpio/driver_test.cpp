// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/gpio/driver.hpp, the virtio-gpio front-end: end to end through the real device
// model (gpio::device over a wired sim::chip), the driver checklist GD1-GD12, and hostile devices
// (hand-written from the device queues). Every case runs over split and packed rings.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "ring/two_sided.hpp"
#include "test_support.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/driver.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/ring/driver_env.hpp"

namespace {

namespace gpio = vireo::gpio;
using gpio::direction;
using gpio::irq_type;
using gpio::level;
using gpio::msg_type;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo_test::err;
using vireo_two_sided::packed_tag;
using vireo_two_sided::split_tag;
using vireo_two_sided::two_sided;

constexpr std::uint16_t requestq = 0, eventq = 1;

feature_set irq_features(bool irq) {
  feature_set f;
  if (irq) f.set(gpio::feature::irq);
  return f;
}

/// A front-end and a device sharing one guest memory with two queues: the real device model over
/// a simulated chip by default, or the test's own hand on the device queues.
template <typename Tag>
struct rig {
  using ram_t = two_sided<Tag>;
  using fe_t = gpio::driver<vireo::flat_memory, typename ram_t::driver_queue, 16>;
  using chip_t = gpio::sim::chip<16, 64>;
  using dev_t = gpio::device<typename ram_t::device_queue, chip_t, 16>;

  struct options {
    std::uint16_t lines = 8;
    std::vector<std::string_view> names{};
    bool irq = true;
    bool real_device = true;  ///< false: no device model; the test answers by hand
  };

  explicit rig(options o = {}) : ram({.queues = 2, .size = 32}), chip(o.lines) {
    for (std::size_t i = 0; i < o.names.size(); ++i)
      chip.set_name(static_cast<std::uint16_t>(i), o.names[i]);
    const feature_set negotiated = irq_features(o.irq);
    gpio::wire::config cfg{};
    if (o.real_device) {
      auto d = dev_t::create(chip, ram.device(requestq), ram.device(eventq),
                             gpio::device_options{o.irq});
      REQUIRE(d.has_value());
      dev.emplace(std::move(*d));
      REQUIRE(dev->set_driver_features(negotiated).has_value());
      cfg = dev->config();
    } else {
      // One NUL-terminated name per line; lines past the given names are unnamed.
      std::uint32_t names_size = 0;
      for (auto n : o.names) names_size += static_cast<std::uint32_t>(n.size() + 1);
      if (!o.names.empty()) names_size += static_cast<std::uint32_t>(o.lines - o.names.size());
      cfg = gpio::encode_config({o.lines, names_size, o.irq}).value();
    }
    auto f = fe_t::create(ram.memory(), ram.driver(requestq), o.irq ? &ram.driver(eventq) : nullptr,
                          ram.region(), cfg, negotiated);
    REQUIRE(f.has_value());
    fe.emplace(*f);
  }

  /// Let the device run once: the real model (requests, eventq pairs, chip events), or `hand`.
  void run() {
    if (hand) {
      hand();
      return;
    }
    REQUIRE(dev->process_requests().has_value());
    if (dev->negotiated_features().has(gpio::feature::irq)) {
      REQUIRE(dev->process_events().has_value());
      REQUIRE(dev->poll_host().has_value());
    }
  }
  auto env() {
    return vireo::ring::env_callbacks{[this](std::uint16_t q) {
                                        REQUIRE(q <= eventq);
                                        ++kicks[q];
                                      },
                                      [this] {
                                        ++waits;
                                        run();
                                      }};
  }

  ram_t ram;
  chip_t chip;
  std::optional<dev_t> dev;
  std::optional<fe_t> fe;
  std::function<void()> hand;
  std::array<int, 2> kicks{};
  int waits = 0;
};

// ---- A hand-written device -----------------------------------------------------------------

/// A requestq chain as a hand-written device sees it.
template <typename Chain>
struct popped_request {
  Chain chain;
  gpio::wire::request raw{};
  std::size_t readable = 0;
  std::uint32_t writable = 0;
  [[nodiscard]] msg_type type() const { return static_cast<msg_type>(raw.type.get()); }
};

template <typename DeviceQueue>
std::vector<popped_request<typename DeviceQueue::chain_type>> pop_requests(DeviceQueue& d) {
  std::vector<popped_request<typename DeviceQueue::chain_type>> out;
  for (;;) {
    auto c = d.pop();
    REQUIRE(c.has_value());
    if (c->empty()) return out;
    popped_request<typename DeviceQueue::chain_type> p{*c, {}, 0, 0};
    auto r = p.chain.reader();
    p.readable = r.remaining();
    REQUIRE(p.readable == sizeof(gpio::wire::request));
    REQUIRE(r.read(vireo::as_writable_bytes_of(p.raw)).has_value());
    p.writable = p.chain.writable_len();
    out.push_back(std::move(p));
  }
}

/// Write `bytes` into the chain's writable part and complete it with `used`.
template <typename DeviceQueue, typename Chain>
void answer(DeviceQueue& d, const Chain& c, std::vector<std::uint8_t> bytes, std::uint32_t used) {
  auto w = c.writer();
  REQUIRE(w.write(vireo::const_bytes{reinterpret_cast<const std::byte*>(bytes.data()),
                                     bytes.size()})
              .has_value());
  REQUIRE(d.push_used(c, used).has_value());
}

/// Answer every SET_* request OK and record the (type, value) sequence.
template <typename DeviceQueue>
void answer_all_ok(DeviceQueue& d, std::vector<std::pair<msg_type, std::uint32_t>>& log) {
  for (auto& p : pop_requests(d)) {
    log.emplace_back(p.type(), p.raw.value.get());
    answer(d, p.chain, {0, 0}, 2);
  }
}

/// An eventq pair as a hand-written device sees it.
template <typename Chain>
struct popped_pair {
  Chain chain;
  std::uint16_t gpio = 0;  ///< what the request says (the front-end wrote it)
  std::uint32_t writable = 0;
};

template <typename DeviceQueue>
std::vector<popped_pair<typename DeviceQueue::chain_type>> pop_pairs(DeviceQueue& d) {
  std::vector<popped_pair<typename DeviceQueue::chain_type>> out;
  for (;;) {
    auto c = d.pop();
    REQUIRE(c.has_value());
    if (c->empty()) return out;
    popped_pair<typename DeviceQueue::chain_type> p{*c, 0, 0};
    gpio::wire::irq_request raw{};
    auto r = p.chain.reader();
    REQUIRE(r.remaining() == sizeof raw);
    REQUIRE(r.read(vireo::as_writable_bytes_of(raw)).has_value());
    p.gpio = raw.gpio.get();
    p.writable = p.chain.writable_len();
    out.push_back(std::move(p));
  }
}

/// Answer every request on requestq with the same bytes and used length.
template <typename Rig>
void answer_requests(Rig& r, const std::vector<std::uint8_t>& bytes, std::uint32_t used) {
  for (auto& p : pop_requests(r.ram.device(requestq)))
    answer(r.ram.device(requestq), p.chain, bytes, used);
}

template <typename Rig>
std::optional<gpio::irq_event> event(Rig& r) {
  auto e = r.fe->poll_events(r.env());
  REQUIRE(e.has_value());
  return *e;
}

}  // namespace

TEST_CASE_TEMPLATE("front-end: create() checks the config, the queues and the region", Tag,
                   split_tag, packed_tag) {
  two_sided<Tag> ram({.queues = 2, .size = 32});
  using fe_t = gpio::driver<vireo::flat_memory, typename two_sided<Tag>::driver_queue, 16>;
  auto cfg = [](std::uint16_t n, std::uint32_t names) {
    gpio::wire::config c{};
    c.ngpio.set(n);
    c.gpio_names_size.set(names);
    return c;
  };
  auto& rq = ram.driver(requestq);
  auto* eq = &ram.driver(eventq);
  const feature_set irq = irq_features(true);
  CHECK(err(fe_t::create(ram.memory(), rq, eq, ram.region(), cfg(0, 0), irq)) ==
        errc::gpio_no_lines);
  CHECK(err(fe_t::create(ram.memory(), rq, eq, ram.region(), cfg(17, 0), irq)) ==
        errc::gpio_lines_exceed_driver);
  CHECK(err(fe_t::create(ram.memory(), rq, nullptr, ram.region(), cfg(8, 0), irq)) ==
        errc::invalid_argument);
  CHECK(fe_t::create(ram.memory(), rq, nullptr, ram.region(), cfg(8, 0), feature_set{})
            .has_value());  // no F_IRQ: no eventq
  CHECK(fe_t::lines_region_size(8) == 9 * 16);
  CHECK(fe_t::region_size({8, 100, true}) == 9 * 16 + 101);
  const vireo::ring::driver_region small{ram.region().base(), fe_t::lines_region_size(8) - 1};
  CHECK(err(fe_t::create(ram.memory(), rq, eq, small, cfg(8, 0), irq)) == errc::no_space);
  // A region for the lines only: everything but the names works.
  const vireo::ring::driver_region lines_only{ram.region().base(), fe_t::lines_region_size(8)};
  auto f = fe_t::create(ram.memory(), rq, eq, lines_only, cfg(8, 16), irq);
  REQUIRE(f.has_value());
  std::array<std::byte, 17> buf{};
  CHECK(err(f->get_line_names(buf, vireo::ring::env_callbacks{[](std::uint16_t) {}, [] {}})) ==
        errc::no_space);
  ram.driver(eventq).reset();
  CHECK(err(fe_t::create(ram.memory(), rq, eq, ram.region(), cfg(8, 0), irq)) ==
        errc::queue_not_ready);
}

TEST_CASE_TEMPLATE("GD1 GD2 GD3 front-end: each message is an 8-byte device-readable request "
                   "and a device-writable response on requestq",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.lines = 8, .names = {"a", "", "c"}, .real_device = false});
  REQUIRE(r.fe->submit(gpio::request{gpio::get_value{3}}).has_value());
  REQUIRE(r.fe->submit(gpio::request{gpio::set_direction{4, direction::in}}).has_value());
  r.fe->flush(r.env());
  CHECK(r.kicks[requestq] == 1);
  CHECK(r.kicks[eventq] == 0);
  auto got = pop_requests(r.ram.device(requestq));
  REQUIRE(got.size() == 2);
  CHECK(got[0].type() == msg_type::get_value);
  CHECK(got[0].raw.gpio.get() == 3);
  CHECK(got[0].raw.value.get() == 0);
  CHECK(got[0].writable == 2);
  CHECK(got[1].type() == msg_type::set_direction);
  CHECK(got[1].raw.gpio.get() == 4);
  CHECK(got[1].raw.value.get() == 2);
  answer(r.ram.device(requestq), got[0].chain, {0, 1}, 2);
  answer(r.ram.device(requestq), got[1].chain, {0, 0}, 2);
  std::array<bool, 2> seen{};
  for (int k = 0; k < 2; ++k) {
    auto rep = r.fe->poll();
    REQUIRE(rep.has_value());
    REQUIRE(rep->has_value());
    if ((*rep)->gpio == 3) {
      seen[0] = true;
      CHECK((*rep)->type == msg_type::get_value);
      CHECK((*rep)->template as<gpio::get_value>().value() == level::high);
    } else {
      seen[1] = true;
      CHECK((*rep)->gpio == 4);
      CHECK((*rep)->template as<gpio::set_direction>().has_value());
    }
  }
  CHECK(seen == std::array{true, true});
  CHECK(r.fe->known_direction(4) == direction::in);

  // The names request: 8 bytes readable, 1 + gpio_names_size writable ("a", "", "c" and five
  // unnamed lines: 10 bytes of blob).
  r.hand = [&] {
    for (auto& p : pop_requests(r.ram.device(requestq))) {
      CHECK(p.type() == msg_type::get_line_names);
      CHECK(p.raw.gpio.get() == 0);
      CHECK(p.raw.value.get() == 0);
      CHECK(p.writable == 1 + 10);
      answer(r.ram.device(requestq), p.chain, {0, 'a', 0, 0, 'c', 0, 0, 0, 0, 0, 0}, 11);
    }
  };
  std::array<std::byte, 11> buf{};
  auto names = r.fe->get_line_names(buf, r.env());
  REQUIRE(names.has_value());
  CHECK(names->size() == 8);
  CHECK(*names->name(2) == "c");
}

TEST_CASE_TEMPLATE("front-end: names, values and directions through the real device", Tag,
                   split_tag, packed_tag) {
  rig<Tag> r({.lines = 6, .names = {"MMC-CD", "", "LED", "", "", "reset"}});
  std::array<std::byte, 32> buf{};
  CHECK(r.fe->names_buffer_size() == 1 + 7 + 1 + 4 + 1 + 1 + 6);
  auto names = r.fe->get_line_names(buf, r.env());
  REQUIRE(names.has_value());
  CHECK(names->size() == 6);
  CHECK(*names->name(0) == "MMC-CD");
  CHECK(*names->name(1) == "");
  CHECK(*names->name(5) == "reset");
  CHECK(*names->find("LED") == 2);
  CHECK(err(r.fe->get_line_names(std::span(buf).first(20), r.env())) == errc::no_space);

  REQUIRE(r.fe->direction_output(2, level::high, r.env()).has_value());
  CHECK(r.chip.line_direction(2) == direction::out);
  CHECK(r.chip.driven(2) == level::high);
  CHECK(r.fe->known_direction(2) == direction::out);

  REQUIRE(r.fe->set_direction(4, direction::in, r.env()).has_value());
  r.chip.set_input(4, level::high);
  CHECK(*r.fe->get_value(4, r.env()) == level::high);
  r.chip.set_input(4, level::low);
  CHECK(*r.fe->get_value(4, r.env()) == level::low);
  CHECK(*r.fe->get_direction(4, r.env()) == direction::in);
  CHECK(*r.fe->get_direction(2, r.env()) == direction::out);
  REQUIRE(r.fe->set_value(2, level::low, r.env()).has_value());
  CHECK(r.chip.driven(2) == level::low);
  REQUIRE(r.fe->set_direction(2, direction::none, r.env()).has_value());
  CHECK(r.chip.line_direction(2) == direction::none);
  CHECK(r.dev->stats().requests == 10);
  CHECK(r.kicks[requestq] == 10);  // one per request: nothing else suppresses them

  // Refusals checked before anything is sent.
  CHECK(err(r.fe->get_value(6, r.env())) == errc::gpio_line_out_of_range);
  CHECK(err(r.fe->submit(gpio::request{gpio::set_value{1, static_cast<level>(2)}})) ==
        errc::gpio_bad_value);
  CHECK(err(r.fe->submit(gpio::request{gpio::get_line_names{}})) == errc::invalid_argument);
  CHECK(err(r.fe->submit(gpio::request{gpio::set_irq_type{1, irq_type::edge_both}})) ==
        errc::invalid_argument);  // interrupts go through enable_irq()/disable_irq()
  CHECK(r.dev->stats().request_errors == 0);
}

TEST_CASE_TEMPLATE("front-end: no names: GET_LINE_NAMES is never sent", Tag, split_tag,
                   packed_tag) {
  rig<Tag> r({.lines = 4});
  std::array<std::byte, 8> buf{};
  CHECK(r.fe->names_buffer_size() == 0);
  CHECK(err(r.fe->get_line_names(buf, r.env())) == errc::gpio_names_unsupported);
  CHECK(r.dev->stats().requests == 0);
}

TEST_CASE_TEMPLATE("front-end: direction_output() sends SET_VALUE before SET_DIRECTION(OUT)", Tag,
                   split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::pair<msg_type, std::uint32_t>> log;
  r.hand = [&] { answer_all_ok(r.ram.device(requestq), log); };
  REQUIRE(r.fe->direction_output(5, level::high, r.env()).has_value());
  REQUIRE(log.size() == 2);
  CHECK(log[0] == std::pair{msg_type::set_value, std::uint32_t{1}});
  CHECK(log[1] == std::pair{msg_type::set_direction, std::uint32_t{1}});
}

TEST_CASE_TEMPLATE("GD4 front-end: requests for different lines in flight together, one per line",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  for (std::uint16_t l : {0, 1, 2})
    REQUIRE(r.fe->submit(gpio::request{gpio::get_value{l}}).has_value());
  CHECK(err(r.fe->submit(gpio::request{gpio::get_direction{1}})) == errc::gpio_line_busy);
  CHECK(err(r.fe->get_value(1, r.env())) == errc::gpio_line_busy);
  CHECK(r.ram.driver(requestq).in_flight() == 3);
  r.fe->flush(r.env());
  r.run();
  std::array<int, 3> seen{};
  for (int k = 0; k < 3; ++k) {
    auto rep = r.fe->poll();
    REQUIRE(rep.has_value());
    REQUIRE(rep->has_value());
    REQUIRE((*rep)->gpio < 3);
    ++seen[(*rep)->gpio];
    CHECK((*rep)->value.has_value());
  }
  CHECK(seen == std::array{1, 1, 1});
  auto none = r.fe->poll();
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  // Line 1 is free again.
  CHECK(r.fe->submit(gpio::request{gpio::get_direction{1}}).has_value());
}

TEST_CASE_TEMPLATE("GD5 front-end: no interrupt messages and no eventq without VIRTIO_GPIO_F_IRQ",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.irq = false});
  CHECK_FALSE(r.fe->params().irq);
  CHECK(err(r.fe->enable_irq(1, irq_type::edge_rising, r.env())) ==
        errc::gpio_irq_not_negotiated);
  CHECK(err(r.fe->disable_irq(1, r.env())) == errc::gpio_irq_not_negotiated);
  CHECK(err(r.fe->unmask(1, r.env())) == errc::gpio_irq_not_negotiated);
  CHECK(err(r.fe->poll_events(r.env())) == errc::gpio_irq_not_negotiated);
  CHECK(r.dev->stats().requests == 0);
  CHECK(r.ram.driver(eventq).in_flight() == 0);
  CHECK(r.kicks == std::array{0, 0});
  CHECK(*r.fe->get_direction(1, r.env()) == direction::none);  // requests still work
}

TEST_CASE_TEMPLATE("GD6 front-end: no interrupt on an output line, no output with an enabled "
                   "interrupt",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  REQUIRE(r.fe->direction_output(1, level::low, r.env()).has_value());
  const auto sent = r.dev->stats().requests;
  CHECK(err(r.fe->enable_irq(1, irq_type::edge_rising, r.env())) == errc::gpio_irq_on_output);
  CHECK(r.dev->stats().requests == sent);  // refused before anything was sent

  REQUIRE(r.fe->set_direction(2, direction::in, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(2, irq_type::edge_both, r.env()).has_value());
  const auto sent2 = r.dev->stats().requests;
  CHECK(err(r.fe->direction_output(2, level::high, r.env())) == errc::gpio_line_irq_enabled);
  CHECK(err(r.fe->set_direction(2, direction::out, r.env())) == errc::gpio_line_irq_enabled);
  CHECK(err(r.fe->set_direction(2, direction::none, r.env())) == errc::gpio_line_irq_enabled);
  CHECK(r.dev->stats().requests == sent2);
  CHECK(r.chip.line_direction(2) == direction::in);
  REQUIRE(r.fe->set_direction(2, direction::in, r.env()).has_value());  // in stays allowed

  REQUIRE(r.fe->disable_irq(2, r.env()).has_value());
  REQUIRE(r.fe->direction_output(2, level::high, r.env()).has_value());
}

TEST_CASE_TEMPLATE("GD6 front-end: a direction read back with GET_DIRECTION counts too", Tag,
                   split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  r.hand = [&] {
    for (auto& p : pop_requests(r.ram.device(requestq)))
      answer(r.ram.device(requestq), p.chain, {0, 1}, 2);  // OUT
  };
  CHECK_FALSE(r.fe->known_direction(3).has_value());
  CHECK(*r.fe->get_direction(3, r.env()) == direction::out);
  CHECK(r.fe->known_direction(3) == direction::out);
  CHECK(err(r.fe->enable_irq(3, irq_type::level_high, r.env())) == errc::gpio_irq_on_output);
}

TEST_CASE_TEMPLATE("GD9 GD10 GD11 front-end: an edge interrupt through a wired chip: enable, "
                   "then unmask; the event names the line; re-arm by unmask",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  REQUIRE(r.chip.connect(0, 1).has_value());  // output 0 drives input 1
  REQUIRE(r.fe->direction_output(0, level::low, r.env()).has_value());
  REQUIRE(r.fe->set_direction(1, direction::in, r.env()).has_value());

  REQUIRE(r.fe->enable_irq(1, irq_type::edge_rising, r.env()).has_value());
  CHECK(r.fe->irq_trigger(1) == irq_type::edge_rising);
  CHECK(r.fe->irq_unmasked(1));
  CHECK(r.kicks[eventq] == 1);
  r.run();  // the device takes the pair
  CHECK(r.dev->line_irq(1).enabled());
  CHECK(r.dev->line_irq(1).unmasked());  // GD9: enabled and unmasked
  CHECK(r.dev->stats().pairs_bounced == 0);  // GD10: it was enabled before the pair came
  CHECK(r.ram.driver(eventq).in_flight() == 1);  // GD11: one pair for the line

  CHECK_FALSE(event(r).has_value());
  REQUIRE(r.fe->set_value(0, level::high, r.env()).has_value());  // rising edge on line 1
  r.run();
  auto e = event(r);
  REQUIRE(e.has_value());
  CHECK(*e == gpio::irq_event{1, errc{}});
  CHECK_FALSE(r.fe->irq_unmasked(1));  // the pair came back: masked
  CHECK_FALSE(event(r).has_value());

  // An edge while masked is latched by the device and fires at the unmask.
  REQUIRE(r.fe->set_value(0, level::low, r.env()).has_value());
  REQUIRE(r.fe->set_value(0, level::high, r.env()).has_value());
  r.run();
  CHECK_FALSE(event(r).has_value());
  REQUIRE(r.fe->unmask(1, r.env()).has_value());
  CHECK(err(r.fe->unmask(1, r.env())) == errc::gpio_irq_unmasked);  // GD12
  r.run();
  e = event(r);
  REQUIRE(e.has_value());
  CHECK(e->gpio == 1);
  CHECK(e->ok());
}

TEST_CASE_TEMPLATE("GD7 GD10 front-end: disable_irq() sends NONE; the INVALID pair is dropped; "
                   "unmask needs an enabled interrupt",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  CHECK(err(r.fe->unmask(3, r.env())) == errc::gpio_irq_not_enabled);  // GD10
  CHECK(r.fe->disable_irq(3, r.env()).has_value());  // nothing enabled: nothing sent
  CHECK(r.dev->stats().requests == 0);

  REQUIRE(r.fe->enable_irq(3, irq_type::level_high, r.env()).has_value());
  r.run();
  CHECK(r.dev->line_irq(3).unmasked());
  REQUIRE(r.fe->disable_irq(3, r.env()).has_value());  // GD7
  CHECK(r.fe->irq_trigger(3) == irq_type::none);
  CHECK_FALSE(r.dev->line_irq(3).enabled());
  CHECK(r.dev->stats().pairs_disabled == 1);
  CHECK_FALSE(event(r).has_value());  // INVALID for a disabled line: dropped
  CHECK_FALSE(r.fe->irq_unmasked(3));
  CHECK(r.ram.driver(eventq).in_flight() == 0);
  CHECK(err(r.fe->unmask(3, r.env())) == errc::gpio_irq_not_enabled);
  CHECK(r.chip.watched(3) == irq_type::none);
}

TEST_CASE_TEMPLATE("GD8 GD12 front-end: a new type for an enabled interrupt is NONE first, "
                   "then the type; the line keeps one pair",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::pair<msg_type, std::uint32_t>> log;
  r.hand = [&] { answer_all_ok(r.ram.device(requestq), log); };
  REQUIRE(r.fe->enable_irq(2, irq_type::edge_rising, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(2, irq_type::level_low, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(2, irq_type::level_low, r.env()).has_value());  // no change: no message
  using P = std::pair<msg_type, std::uint32_t>;
  CHECK(log == std::vector<P>{{msg_type::set_irq_type, 1},
                              {msg_type::set_irq_type, 0},
                              {msg_type::set_irq_type, 8}});
  CHECK(r.ram.driver(eventq).in_flight() == 1);  // GD12: still one pair
  auto pairs = pop_pairs(r.ram.device(eventq));
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].gpio == 2);
  CHECK(pairs[0].writable == 1);
  REQUIRE(r.fe->disable_irq(2, r.env()).has_value());
  CHECK(log.back() == P{msg_type::set_irq_type, 0});
  CHECK(err(r.fe->enable_irq(2, irq_type::none, r.env())) == errc::invalid_argument);
  CHECK(err(r.fe->enable_irq(2, static_cast<irq_type>(5), r.env())) == errc::gpio_bad_irq_type);
  CHECK(err(r.fe->enable_irq(16, irq_type::edge_both, r.env())) == errc::gpio_line_out_of_range);
}

TEST_CASE_TEMPLATE("front-end: a pair returned INVALID while the interrupt was re-enabled is "
                   "queued again (Linux's rule), never twice",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  REQUIRE(r.chip.connect(0, 4).has_value());
  REQUIRE(r.fe->direction_output(0, level::low, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(4, irq_type::edge_rising, r.env()).has_value());
  r.run();
  REQUIRE(r.fe->disable_irq(4, r.env()).has_value());    // the pair comes back INVALID ...
  REQUIRE(r.fe->enable_irq(4, irq_type::edge_rising, r.env()).has_value());  // ... not yet taken
  CHECK(r.fe->irq_unmasked(4));
  CHECK(r.ram.driver(eventq).in_flight() == 1);  // no second pair (GD12)
  CHECK_FALSE(event(r).has_value());             // INVALID + enabled: re-queued, not reported
  CHECK(r.fe->irq_unmasked(4));
  r.run();
  CHECK(r.dev->line_irq(4).unmasked());
  REQUIRE(r.fe->set_value(0, level::high, r.env()).has_value());
  r.run();
  auto e = event(r);
  REQUIRE(e.has_value());
  CHECK(e->gpio == 4);
}

TEST_CASE_TEMPLATE("front-end: hostile device on requestq: wrong used length, bad status, value "
                   "out of range, ERR; each fails its request and the line stays usable",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::uint8_t> resp;
  std::uint32_t used = 2;
  errc want{};
  SUBCASE("used length 1") {
    resp = {0, 1};
    used = 1;
    want = errc::gpio_response_size;
  }
  SUBCASE("used length 0") {
    resp = {0, 1};
    used = 0;
    want = errc::gpio_response_size;
  }
  SUBCASE("status 7") {
    resp = {7, 1};
    want = errc::gpio_bad_status;
  }
  SUBCASE("status ERR") {
    resp = {1, 0};
    want = errc::gpio_status_err;
  }
  SUBCASE("direction 3") {
    resp = {0, 3};
    want = errc::gpio_bad_response_value;
  }
  r.hand = [&] { answer_requests(r, resp, used); };
  CHECK(err(r.fe->get_direction(1, r.env())) == want);
  CHECK_FALSE(r.fe->known_direction(1).has_value());
  CHECK_FALSE(r.fe->broken());
  r.hand = [&] { answer_requests(r, {0, 2}, 2); };
  CHECK(*r.fe->get_direction(1, r.env()) == direction::in);
}

TEST_CASE_TEMPLATE("front-end: hostile device: a names blob that is truncated, too short or has "
                   "trailing bytes is refused",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.lines = 3, .names = {"ab", "", "c"}, .real_device = false});  // 3 + 1 + 2 = 6
  std::vector<std::uint8_t> resp;
  std::uint32_t used = 7;
  errc want{};
  SUBCASE("the last name has no terminator") {
    resp = {0, 'a', 'b', 0, 0, 'c', 'd'};
    want = errc::gpio_names_truncated;
  }
  SUBCASE("too few names") {
    resp = {0, 'a', 'b', 'x', 0, 'c', 0};
    want = errc::gpio_names_truncated;
  }
  SUBCASE("a short used length") {
    resp = {0, 'a', 'b', 0, 0, 'c', 0};
    used = 6;
    want = errc::gpio_response_size;
  }
  SUBCASE("trailing bytes") {
    resp = {0, 'a', 0, 0, 'c', 0, 0};
    want = errc::gpio_names_trailing;
  }
  SUBCASE("a byte above 0x7f") {
    resp = {0, 'a', 0x80, 0, 0, 'c', 0};
    want = errc::gpio_name_invalid;
  }
  r.hand = [&] { answer_requests(r, resp, used); };
  std::array<std::byte, 7> buf{};
  CHECK(err(r.fe->get_line_names(buf, r.env())) == want);
  r.hand = [&] {
    for (auto& p : pop_requests(r.ram.device(requestq)))
      answer(r.ram.device(requestq), p.chain, {0, 'a', 'b', 0, 0, 'c', 0}, 7);
  };
  auto names = r.fe->get_line_names(buf, r.env());
  REQUIRE(names.has_value());
  CHECK(*names->name(2) == "c");
}

TEST_CASE_TEMPLATE("front-end: hostile device on eventq: a wrong used length or status is an "
                   "error event; the line is masked and can be unmasked again",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::pair<msg_type, std::uint32_t>> log;
  r.hand = [&] { answer_all_ok(r.ram.device(requestq), log); };
  REQUIRE(r.fe->enable_irq(6, irq_type::edge_both, r.env()).has_value());
  std::vector<std::uint8_t> resp;
  std::uint32_t used = 1;
  errc want{};
  SUBCASE("used length 0") {
    resp = {1};
    used = 0;
    want = errc::gpio_response_size;
  }
  SUBCASE("status 2") {
    resp = {2};
    want = errc::gpio_bad_status;
  }
  SUBCASE("nothing written, used length 1 (the preset byte)") {
    resp = {};
    want = errc::gpio_bad_status;
  }
  auto pairs = pop_pairs(r.ram.device(eventq));
  REQUIRE(pairs.size() == 1);
  answer(r.ram.device(eventq), pairs[0].chain, resp, used);
  auto e = event(r);
  REQUIRE(e.has_value());
  CHECK(*e == gpio::irq_event{6, want});
  CHECK_FALSE(r.fe->irq_unmasked(6));
  CHECK_FALSE(r.fe->broken());
  REQUIRE(r.fe->unmask(6, r.env()).has_value());
  CHECK(pop_pairs(r.ram.device(eventq)).size() == 1);
}

TEST_CASE_TEMPLATE("front-end: hostile device on eventq: the line is the buffer's, not what the "
                   "device wrote; VALID for a disabled line is dropped",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::pair<msg_type, std::uint32_t>> log;
  r.hand = [&] { answer_all_ok(r.ram.device(requestq), log); };
  REQUIRE(r.fe->enable_irq(1, irq_type::edge_rising, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(2, irq_type::edge_rising, r.env()).has_value());
  auto pairs = pop_pairs(r.ram.device(eventq));
  REQUIRE(pairs.size() == 2);
  // Line 1's pair: the device scribbles another line number over the request, then fires it.
  auto& p1 = pairs[0].gpio == 1 ? pairs[0] : pairs[1];
  auto& p2 = pairs[0].gpio == 1 ? pairs[1] : pairs[0];
  const auto req_at = p1.chain.readable()[0].addr;
  std::byte* req = r.ram.host(req_at);
  req[0] = std::byte{5};
  req[1] = std::byte{0};
  answer(r.ram.device(eventq), p1.chain, {1}, 1);
  auto e = event(r);
  REQUIRE(e.has_value());
  CHECK(*e == gpio::irq_event{1, errc{}});

  // Line 2: disabled, then the device fires its pair anyway (GV11 broken): nothing reported.
  REQUIRE(r.fe->disable_irq(2, r.env()).has_value());
  answer(r.ram.device(eventq), p2.chain, {1}, 1);
  CHECK_FALSE(event(r).has_value());
  CHECK_FALSE(r.fe->irq_unmasked(2));
  CHECK(r.ram.driver(eventq).in_flight() == 0);
}

TEST_CASE_TEMPLATE("front-end: hostile device: a used length above the buffer, or a pair returned "
                   "twice, breaks the queue; reset() recovers",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  std::vector<std::pair<msg_type, std::uint32_t>> log;
  r.hand = [&] { answer_all_ok(r.ram.device(requestq), log); };
  REQUIRE(r.fe->enable_irq(1, irq_type::edge_rising, r.env()).has_value());
  REQUIRE(r.fe->enable_irq(2, irq_type::edge_rising, r.env()).has_value());
  auto pairs = pop_pairs(r.ram.device(eventq));
  REQUIRE(pairs.size() == 2);
  REQUIRE(pairs[0].gpio == 1);
  errc want{};
  SUBCASE("used length 2") {
    answer(r.ram.device(eventq), pairs[0].chain, {1}, 1);
    // Forge the completion: the device queue would not write a used length above the buffer.
    auto t = pairs[1].chain.token();
    t.writable_len = 2;
    REQUIRE(r.ram.device(eventq).push_used(t, 2).has_value());
    CHECK(event(r).has_value());  // line 1's event comes first
    want = errc::used_len_too_large;
  }
  SUBCASE("the same pair twice: the second time it is not in flight") {
    answer(r.ram.device(eventq), pairs[0].chain, {1}, 1);
    REQUIRE(r.ram.device(eventq).push_used(pairs[0].chain, 1).has_value());
    auto e = event(r);
    REQUIRE(e.has_value());
    CHECK(e->gpio == 1);
    want = errc::used_id_not_in_flight;
  }
  CHECK(err(r.fe->poll_events(r.env())) == want);
  CHECK(r.fe->broken());
  r.fe->reset();
  CHECK_FALSE(r.fe->broken());
  CHECK(r.fe->irq_trigger(1) == irq_type::none);
  r.ram.reconfigure(requestq);
  r.ram.reconfigure(eventq);
  log.clear();
  REQUIRE(r.fe->enable_irq(1, irq_type::edge_falling, r.env()).has_value());
  CHECK(log.size() == 1);
  CHECK(pop_pairs(r.ram.device(eventq)).size() == 1);
}

TEST_CASE_TEMPLATE("front-end: a device that never answers: the call times out, the line stays "
                   "busy until the buffers come back, and the late reply is dropped",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.real_device = false});
  r.hand = [] {};
  CHECK(err(r.fe->get_value(3, r.env(), 4)) == errc::gpio_timeout);
  CHECK(r.waits == 4);
  CHECK(err(r.fe->get_value(3, r.env(), 4)) == errc::gpio_line_busy);
  auto got = pop_requests(r.ram.device(requestq));
  REQUIRE(got.size() == 1);
  answer(r.ram.device(requestq), got[0].chain, {0, 1}, 2);
  auto rep = r.fe->poll();
  REQUIRE(rep.has_value());
  CHECK_FALSE(rep->has_value());
  r.hand = [&] { answer_requests(r, {0, 0}, 2); };
  CHECK(*r.fe->get_value(3, r.env()) == level::low);
}
