// SPDX-License-Identifier: Apache-2.0
// bench_devices, virtio-gpio: the simulated chip, the measured operations, Vireo's device model
// (gpio::device) over the bench feeds, and the naive baseline device.
//
// Ops (per op: from available chain to used entry, device side; docs/benchmarks.md):
//   get_value      GET_VALUE of an input line (the chip is asked)
//   set_value      SET_VALUE of an output line, alternating low and high (the chip drives it)
//   get_direction  GET_DIRECTION (answered from the device's own line state)
//   irq            one interrupt delivery: the eventq pair for a line with an edge-both
//                  interrupt is taken and held (process_events), the chip sees an edge on the
//                  line, and the pair comes back VALID (poll_host); 128 lines per round
// Requests have the buffers Linux's gpio-virtio gives them, as direct descriptors: 8-byte
// request (R) + 2-byte response (W); eventq pairs 2-byte irq_request (R) + 1-byte irq_response
// (W). The interrupt set-up (SET_IRQ_TYPE) and SET_DIRECTION(out) for the set/get rows go
// through the requestq before the timed loop.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "devices_common.hpp"
#include "devices_feed.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/irq_state.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/gpio/wire.hpp"

// Internal linkage: this header belongs to the one translation unit bench/devices.cpp.
namespace {
namespace devbench::gpiob {

namespace gpio = vireo::gpio;

inline constexpr std::uint16_t kLines = 128;  ///< one eventq round: a pair per line
using chip_type = gpio::sim::chip<kLines, kLines>;

inline constexpr std::uint16_t kInputLine = 3;   ///< GET_VALUE: an input the outside drives high
inline constexpr std::uint16_t kOutputLine = 1;  ///< SET_VALUE, GET_DIRECTION: made an output

inline gpio::device_params params() { return {kLines, 0, true}; }

/// The request bytes of `r`, as the driver codec encodes them.
inline std::vector<std::byte> request_bytes(const gpio::request& r) {
  const auto w = gpio::encode_request(r, params());
  const auto b = vireo::as_bytes_of(*w);
  return {b.begin(), b.end()};
}
inline chain_shape message(const gpio::request& r, std::uint8_t value) {
  return {{request_bytes(r)}, {2}, {std::byte{0}, std::byte{value}}};
}

/// requestq ops: 128 messages of 2 descriptors fill the 256-entry ring; split rounds are 256.
struct requestq_sizes {
  template <typename Feed>
  static constexpr std::uint16_t size() {
    return 256;
  }
  template <typename Feed>
  static constexpr std::size_t round() {
    return 256;
  }
  static constexpr std::size_t chains_per_op = 1;
};

struct get_value : requestq_sizes {
  static std::vector<chain_shape> setup() { return {}; }
  static std::vector<chain_shape> body(std::uint16_t size) {
    return std::vector<chain_shape>(size / 2u, message(gpio::get_value{kInputLine}, 1));
  }
};
struct set_value : requestq_sizes {
  static std::vector<chain_shape> setup() {
    return {message(gpio::set_direction{kOutputLine, gpio::direction::out}, 0)};
  }
  static std::vector<chain_shape> body(std::uint16_t size) {
    std::vector<chain_shape> out;
    for (std::size_t i = 0; i < size / 2u; ++i)
      out.push_back(message(gpio::set_value{kOutputLine, gpio::level{static_cast<std::uint8_t>(i & 1)}}, 0));
    return out;
  }
};
struct get_direction : requestq_sizes {
  static std::vector<chain_shape> setup() { return set_value::setup(); }
  static std::vector<chain_shape> body(std::uint16_t size) {
    return std::vector<chain_shape>(
        size / 2u,
        message(gpio::get_direction{kOutputLine}, static_cast<std::uint8_t>(gpio::direction::out)));
  }
};

/// The eventq: one pair per line, 128 lines, 256 descriptors; a round is the 128 pairs (a line
/// holds one pair at a time). The requestq set-up enables an edge-both interrupt on each line.
struct irq {
  template <typename Feed>
  static constexpr std::uint16_t size() {
    return 256;
  }
  template <typename Feed>
  static constexpr std::size_t round() {
    return kLines;
  }
  static constexpr std::size_t chains_per_op = 1;
  static std::vector<chain_shape> setup() {
    std::vector<chain_shape> out;
    for (std::uint16_t l = 0; l < kLines; ++l)
      out.push_back(message(gpio::set_irq_type{l, gpio::irq_type::edge_both}, 0));
    return out;
  }
  static std::vector<chain_shape> body(std::uint16_t /*size*/) {
    std::vector<chain_shape> out;
    for (std::uint16_t l = 0; l < kLines; ++l) {
      const auto w = gpio::encode_irq_request(l, params());
      const auto b = vireo::as_bytes_of(*w);
      out.push_back({{{b.begin(), b.end()}},
                     {1},
                     {std::byte{static_cast<std::uint8_t>(gpio::irq_status::valid)}}});
    }
    return out;
  }
};

/// The chip of every gpio row: kLines lines, the GET_VALUE line driven high from outside.
inline chip_type make_chip() {
  chip_type c{kLines};
  c.set_input(kInputLine, gpio::level::high);
  return c;
}

/// The edges of one round: every line's outside level flips, which the chip queues as an edge
/// (every line watches both edges once the set-up ran).
inline void toggle_all(chip_type& chip, std::array<gpio::level, kLines>& levels) noexcept {
  for (std::uint16_t l = 0; l < kLines; ++l) {
    levels[l] = levels[l] == gpio::level::low ? gpio::level::high : gpio::level::low;
    chip.set_input(l, levels[l]);
  }
}

// ---- Vireo --------------------------------------------------------------------------------------

/// requestq and eventq feeds, queues, chip and gpio::device with VIRTIO_GPIO_F_IRQ negotiated,
/// and the op's set-up requests answered.
template <typename Feed, typename Op>
struct vireo_rig {
  using queue_type = typename Feed::queue_type;
  using device_type = gpio::device<queue_type, chip_type, kLines>;

  Feed reqf{Op::template size<Feed>()};
  Feed evtf{Op::template size<Feed>()};
  queue_type reqq{reqf.memory()};
  queue_type evtq{evtf.memory()};
  chip_type chip = make_chip();
  std::optional<device_type> dev;
  std::size_t setup_requests = 0;
  bool ok = false;

  vireo_rig() {
    if (!reqq.configure(reqf.config()) || !evtq.configure(evtf.config())) return;
    auto d = device_type::create(chip, reqq, evtq);
    if (!d || !d->set_driver_features(vireo::feature_set{gpio::feature::irq})) return;
    dev.emplace(std::move(*d));
    const auto setup = Op::setup();
    setup_requests = setup.size();
    if (!reqf.add_setup(setup) || !dev->process_requests() ||
        dev->stats().request_errors != 0 || !reqf.finish_setup())
      return;
    ok = true;
  }
  vireo_rig(const vireo_rig&) = delete;
  vireo_rig& operator=(const vireo_rig&) = delete;
};

/// GET_VALUE, SET_VALUE, GET_DIRECTION: per iteration the feed publishes a round and one
/// process_requests() call answers all of it (a used publish per message, one notification
/// check per queue per call).
template <typename Feed, typename Op>
void bm_vireo_requests(benchmark::State& state) {
  vireo_rig<Feed, Op> rig;
  if (!rig.ok || !rig.reqf.lay_out(Op::body(rig.reqf.size()), Op::template round<Feed>())) {
    fail(state, "set-up failed");
    return;
  }
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    rig.reqf.publish_round();
    const auto n = rig.dev->process_requests();
    if (VIREO_UNLIKELY(!n)) {
      fail(state, "process_requests() failed");
      stopped = true;
      break;
    }
    notifications += n->requestq;
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  const auto& st = rig.dev->stats();
  if (st.request_errors != 0 ||
      st.requests != rig.setup_requests + state.iterations() * rig.reqf.chains_per_round() ||
      !rig.reqf.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, rig.reqf.chains_per_round());
}

/// Interrupt delivery: per iteration the eventq feed publishes one pair per line,
/// process_events() takes and holds them all, every line sees an edge, and poll_host() returns
/// every pair VALID. The edges (toggle_all) are in the timed loop; bm_edges_only times them
/// alone and the summary subtracts them.
template <typename Feed>
void bm_vireo_irq(benchmark::State& state) {
  vireo_rig<Feed, irq> rig;
  if (!rig.ok || !rig.evtf.lay_out(irq::body(0), irq::round<Feed>())) {
    fail(state, "set-up failed");
    return;
  }
  std::array<gpio::level, kLines> levels{};
  levels[kInputLine] = gpio::level::high;
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    rig.evtf.publish_round();
    const auto held = rig.dev->process_events();
    toggle_all(rig.chip, levels);
    const auto fired = rig.dev->poll_host();
    if (VIREO_UNLIKELY(!held || !fired)) {
      fail(state, "eventq processing failed");
      stopped = true;
      break;
    }
    notifications += held->eventq + fired->eventq;
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  const auto& st = rig.dev->stats();
  const std::uint64_t ops = state.iterations() * rig.evtf.chains_per_round();
  if (st.interrupts != ops || st.unmasks != ops || st.pairs_bounced != 0 ||
      st.events_ignored != 0 || rig.chip.overflows() != 0 || !rig.evtf.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, rig.evtf.chains_per_round());
}

/// The edges of bm_vireo_irq alone: the same chip set-up (every line an input watching both
/// edges), the same toggles, the events dropped with clear_events() (two stores) instead of
/// taken by the device.
inline void bm_edges_only(benchmark::State& state) {
  chip_type chip = make_chip();
  for (std::uint16_t l = 0; l < kLines; ++l) {
    if (!chip.set_direction(l, gpio::direction::in, gpio::level::low) ||
        !chip.watch(l, gpio::irq_type::edge_both)) {
      fail(state, "set-up failed");
      return;
    }
  }
  std::array<gpio::level, kLines> levels{};
  levels[kInputLine] = gpio::level::high;
  for (auto _ : state) {
    toggle_all(chip, levels);
    chip.clear_events();
    benchmark::ClobberMemory();
  }
  if (chip.overflows() != 0) {
    fail(state, "event FIFO overflowed");
    return;
  }
  report_ops(state, kLines);
}

// ---- The naive baseline ----------------------------------------------------------------------

/// The same device written the obvious way, on two naive split devices (naive_split.hpp): each
/// message's readable part is copied into a std::vector and parsed with memcpy, checked as
/// gpio::decode_request() and validate_request() check it, executed against the same chip with
/// the same line rules (the value kept while a line is not an output, no output with an
/// interrupt, an interrupt line made an input), and the 2-byte answer is built in a std::vector
/// and copied into the chain's writable part, then pushed used. An unmasked line keeps its whole
/// popped chain (the std::vector of segments) until it fires. Names are not offered
/// (gpio_names_size 0, as for Vireo here), so GET_LINE_NAMES gets ERR in both.
class naive_device {
 public:
  naive_device(flat_memory& reqmem, const ring::queue_config& reqcfg, flat_memory& evtmem,
               const ring::queue_config& evtcfg, chip_type& chip)
      : req_(reqmem, reqcfg), evt_(evtmem, evtcfg), chip_(chip), lines_(chip.line_count()) {}

  /// 1 or 0: whether to notify the requestq; -1: a ring error.
  int process_requests() {
    while (true) {
      naive_chain c;
      const int got = req_.pop(c);
      if (got < 0) return -1;
      if (got == 0) break;
      std::vector<std::byte> out = answer(c);
      if (!req_.write(c, out) || !req_.push_used(c, static_cast<std::uint32_t>(out.size())))
        return -1;
    }
    return req_.needs_notification() ? 1 : 0;
  }

  /// Take every eventq pair: hold it for its line, or give it back INVALID at once.
  int process_events() {
    while (true) {
      naive_chain c;
      const int got = evt_.pop(c);
      if (got < 0) return -1;
      if (got == 0) break;
      std::vector<std::byte> in;
      const bool copied = copy_in(evt_, c, in);
      std::uint16_t l = 0;
      if (copied && in.size() == 2) std::memcpy(&l, in.data(), 2);
      if (!copied || in.size() != 2 || writable_len(c) == 0 || l >= lines_.size() ||
          lines_[l].trigger == gpio::irq_type::none || lines_[l].held) {
        if (!give_back(c, gpio::irq_status::invalid)) return -1;
        ++bounced;
        continue;
      }
      line& s = lines_[l];
      s.held = std::move(c);
      if (gpio::is_level_trigger(s.trigger)) {
        const auto v = chip_.get_value(l);
        if (v && gpio::level_active(s.trigger, *v) && !fire(s)) return -1;
      } else if (s.latched) {
        s.latched = false;
        if (!fire(s)) return -1;
      }
    }
    return evt_.needs_notification() ? 1 : 0;
  }

  /// Take every chip event and fire or latch its line.
  int poll_host() {
    while (const auto e = chip_.next_event()) {
      if (e->line >= lines_.size()) continue;
      line& s = lines_[e->line];
      if (gpio::is_level_trigger(s.trigger)) {
        if (!s.held) continue;
        const auto v = chip_.get_value(e->line);
        if (v && gpio::level_active(s.trigger, *v) && !fire(s)) return -1;
      } else if (gpio::edge_triggers(s.trigger, e->kind)) {
        if (!s.held) s.latched = true;
        else if (!fire(s)) return -1;
      }
    }
    return evt_.needs_notification() ? 1 : 0;
  }

  std::uint64_t answered = 0, errors = 0, interrupts = 0, bounced = 0;

 private:
  struct line {
    gpio::direction dir = gpio::direction::none;
    gpio::level value = gpio::level::low;
    gpio::irq_type trigger = gpio::irq_type::none;
    bool irq_input = false;
    bool latched = false;
    std::optional<naive_chain> held;
  };

  std::vector<std::byte> answer(const naive_chain& c) {
    ++answered;
    std::vector<std::byte> in;
    const bool copied = copy_in(req_, c, in);
    std::optional<std::uint8_t> value;
    if (copied && in.size() == 8) {
      std::uint16_t type = 0, l = 0;
      std::uint32_t v = 0;
      std::memcpy(&type, in.data(), 2);  // little-endian host assumed, as the naive do
      std::memcpy(&l, in.data() + 2, 2);
      std::memcpy(&v, in.data() + 4, 4);
      if (writable_len(c) >= 2) value = execute(type, l, v);
    }
    std::vector<std::byte> out{std::byte{0}, std::byte{value.value_or(0)}};
    if (!value) {
      ++errors;
      out[0] = std::byte{static_cast<std::uint8_t>(gpio::status::err)};
      out.resize(std::min<std::size_t>(2, writable_len(c)));  // as much as fits
    }
    return out;
  }

  /// The reply's value byte, or nothing for ERR.
  std::optional<std::uint8_t> execute(std::uint16_t type, std::uint16_t l, std::uint32_t v) {
    if (!gpio::is_msg_type(type) || type == static_cast<std::uint16_t>(gpio::msg_type::get_line_names))
      return std::nullopt;  // unknown, or no names offered
    if (l >= lines_.size()) return std::nullopt;
    line& s = lines_[l];
    switch (static_cast<gpio::msg_type>(type)) {
      case gpio::msg_type::get_direction:
        if (v != 0) return std::nullopt;
        return static_cast<std::uint8_t>(s.dir);
      case gpio::msg_type::set_direction: {
        if (!gpio::is_direction(v)) return std::nullopt;
        const auto d = static_cast<gpio::direction>(v);
        if (d == gpio::direction::none) {
          const bool off = disable_irq(l);
          s.dir = gpio::direction::none;
          s.value = gpio::level::low;
          s.irq_input = false;
          if (!chip_.set_direction(l, d, gpio::level::low) || !off) return std::nullopt;
          return 0;
        }
        if (d == gpio::direction::out && s.trigger != gpio::irq_type::none) return std::nullopt;
        if (!chip_.set_direction(l, d, s.value)) return std::nullopt;
        s.dir = d;
        s.irq_input = false;
        return 0;
      }
      case gpio::msg_type::get_value: {
        if (v != 0) return std::nullopt;
        const auto level = chip_.get_value(l);
        if (!level) return std::nullopt;
        return static_cast<std::uint8_t>(*level);
      }
      case gpio::msg_type::set_value: {
        if (!gpio::is_level(v)) return std::nullopt;
        const auto level = static_cast<gpio::level>(v);
        if (s.dir == gpio::direction::out && !chip_.set_value(l, level)) return std::nullopt;
        s.value = level;
        return 0;
      }
      case gpio::msg_type::set_irq_type: {
        if (!gpio::is_irq_type(v) || s.dir == gpio::direction::out) return std::nullopt;
        const auto t = static_cast<gpio::irq_type>(v);
        if (t == s.trigger) return 0;
        if (s.trigger != gpio::irq_type::none && !disable_irq(l)) return std::nullopt;
        if (t == gpio::irq_type::none) return 0;
        if (s.dir == gpio::direction::none && !s.irq_input) {
          if (!chip_.set_direction(l, gpio::direction::in, s.value)) return std::nullopt;
          s.irq_input = true;
        }
        if (!chip_.watch(l, t)) return std::nullopt;
        s.trigger = t;
        s.latched = false;
        return 0;
      }
      case gpio::msg_type::get_line_names:
        break;
    }
    return std::nullopt;
  }

  bool disable_irq(std::uint16_t l) {
    line& s = lines_[l];
    if (s.trigger == gpio::irq_type::none) return true;
    s.trigger = gpio::irq_type::none;
    s.latched = false;
    bool good = true;
    if (s.held) {
      good = give_back(*s.held, gpio::irq_status::invalid);
      s.held.reset();
    }
    good = chip_.watch(l, gpio::irq_type::none).has_value() && good;
    if (s.irq_input) {
      s.irq_input = false;
      good = chip_.set_direction(l, gpio::direction::none, gpio::level::low).has_value() && good;
    }
    return good;
  }

  bool fire(line& s) {
    const bool good = give_back(*s.held, gpio::irq_status::valid);
    s.held.reset();
    ++interrupts;
    return good;
  }
  /// Write the status into the pair's first writable byte (if any) and push it used.
  bool give_back(const naive_chain& c, gpio::irq_status st) {
    std::vector<std::byte> out;
    if (writable_len(c) > 0) out.push_back(std::byte{static_cast<std::uint8_t>(st)});
    return evt_.write(c, out) && evt_.push_used(c, static_cast<std::uint32_t>(out.size()));
  }

  naive_ring req_;
  naive_ring evt_;
  chip_type& chip_;
  std::vector<line> lines_;
};

/// The naive device on split rings laid out as for the Vireo rows, with the op's set-up answered.
template <typename Op>
struct naive_rig {
  split_replay_feed reqf{Op::template size<split_replay_feed>()};
  split_replay_feed evtf{Op::template size<split_replay_feed>()};
  chip_type chip = make_chip();
  naive_device dev{reqf.memory(), reqf.config(), evtf.memory(), evtf.config(), chip};
  bool ok = false;

  naive_rig() {
    const auto setup = Op::setup();
    if (!reqf.add_setup(setup) || dev.process_requests() < 0 || dev.errors != 0 ||
        !reqf.finish_setup())
      return;
    dev.answered = 0;
    ok = true;
  }
  naive_rig(const naive_rig&) = delete;
  naive_rig& operator=(const naive_rig&) = delete;
};

template <typename Op>
[[gnu::flatten]] void bm_naive_requests(benchmark::State& state) {
  naive_rig<Op> rig;
  if (!rig.ok ||
      !rig.reqf.lay_out(Op::body(rig.reqf.size()), Op::template round<split_replay_feed>())) {
    fail(state, "set-up failed");
    return;
  }
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    rig.reqf.publish_round();
    const int r = rig.dev.process_requests();
    if (VIREO_UNLIKELY(r < 0)) {
      fail(state, "naive process_requests() failed");
      stopped = true;
      break;
    }
    notifications += static_cast<unsigned>(r);
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  if (rig.dev.errors != 0 ||
      rig.dev.answered != state.iterations() * rig.reqf.chains_per_round() ||
      !rig.reqf.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, rig.reqf.chains_per_round());
}

[[gnu::flatten]] inline void bm_naive_irq(benchmark::State& state) {
  naive_rig<irq> rig;
  if (!rig.ok || !rig.evtf.lay_out(irq::body(0), irq::round<split_replay_feed>())) {
    fail(state, "set-up failed");
    return;
  }
  std::array<gpio::level, kLines> levels{};
  levels[kInputLine] = gpio::level::high;
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    rig.evtf.publish_round();
    const int held = rig.dev.process_events();
    toggle_all(rig.chip, levels);
    const int fired = rig.dev.poll_host();
    if (VIREO_UNLIKELY(held < 0 || fired < 0)) {
      fail(state, "naive eventq processing failed");
      stopped = true;
      break;
    }
    notifications += static_cast<unsigned>(held + fired);
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  const std::uint64_t ops = state.iterations() * rig.evtf.chains_per_round();
  if (rig.dev.interrupts != ops || rig.dev.bounced != 0 || rig.chip.overflows() != 0 ||
      !rig.evtf.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, rig.evtf.chains_per_round());
}

}  // namespace devbench::gpiob
}  // namespace
