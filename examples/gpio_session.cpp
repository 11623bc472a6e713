// SPDX-License-Identifier: Apache-2.0
// gpio_session: a virtio-gpio controller end to end in one process. The front-end (gpio::driver,
// the guest's side) and the device model (gpio::device over a simulated chip of 8 named lines,
// with output "loop-out" wired to input "loop-in") share one guest memory region holding the
// requestq and the eventq, split (default) or packed (--packed). The session negotiates
// VIRTIO_GPIO_F_IRQ, reads the config and the line names, sets and reads directions and values,
// then follows an edge interrupt from the wire to the guest: enable, toggle the output, the host
// event reaches the device, the eventq buffer comes back, unmask, a second edge, and disable
// (the held buffer returns INVALID). Every step checks its result; the run ends with PASS or FAIL.
#include <vireo/vireo.hpp>

#include <vireo/gpio/device.hpp>
#include <vireo/gpio/driver.hpp>
#include <vireo/gpio/sim/chip.hpp>
#include <vireo/ring/driver_env.hpp>
#include <vireo/ring/driver_region.hpp>

#include <fmt/format.h>

#include "guest_ram_plan.hpp"
#include "session_report.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace ring = vireo::ring;
namespace gpio = vireo::gpio;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo::transport_feature;
using gpio::direction;
using gpio::irq_type;
using gpio::level;
using ring::queue_layout;

// ---- Guest memory: one buffer; two virtqueues, then the front-end's region -----------------

constexpr std::uint16_t split_size = 16;   // split: a power of two (virtio 1.3 §2.7)
constexpr std::uint16_t packed_size = 12;  // packed: any size (§2.8)
constexpr gpa ram_base{0x8000'0000};       // guest addresses are not host offsets
alignas(64) std::array<std::byte, 4096> guest_ram{};

using example::errc_text;
using example::fail;
using example::plan_queue;
using example::ram_planner;
using example::verdict;

// ---- The chip and the two sides' types ------------------------------------------------------

constexpr std::uint16_t line_count = 8;
constexpr std::array<std::string_view, line_count> line_names{
    "led-green", "led-red", "reset-n", "sd-detect", "pwr-good", "spare", "loop-out", "loop-in"};
constexpr std::uint16_t led = 0, sd_detect = 3, loop_out = 6, loop_in = 7;

using memory = vireo::flat_memory;
using driver_queue = ring::any_driver_queue<memory, split_size>;  // split or packed at run time
using device_queue = ring::any_device_queue<memory, 4>;  // a message or a pair: 2 segments
using chip_type = gpio::sim::chip<line_count, 16>;
using front_end = gpio::driver<memory, driver_queue, line_count>;
using controller = gpio::device<device_queue, chip_type, line_count>;
constexpr auto eventq = static_cast<std::uint16_t>(gpio::queue::eventq);  // requestq is 0

// ---- Output helpers -------------------------------------------------------------------------

std::string_view name_of(direction d) {
  return d == direction::out ? "out" : d == direction::in ? "in" : "none";
}
std::string_view name_of(level l) { return l == level::high ? "high" : "low"; }
template <typename T>
std::string shown(const vireo::result<T>& r) {
  return r ? std::string(name_of(*r)) : errc_text(r.error());
}
std::string done(const vireo::result<void>& r) { return r ? "ok" : errc_text(r.error()); }
std::string feature_names(const feature_set& f) {
  return example::transport_feature_names(f, f.has(gpio::feature::irq) ? "IRQ" : "");
}


int usage(std::FILE* to, int rc) {
  fmt::print(to,
             "usage: gpio_session [--packed] [--event-idx] [--help]\n"
             "  --packed     negotiate VIRTIO_F_RING_PACKED: packed queues of {} slots\n"
             "               (default: split queues of {} descriptors)\n"
             "  --event-idx  negotiate VIRTIO_F_EVENT_IDX (notification suppression by ring\n"
             "               position)\n",
             packed_size, split_size);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool packed = false, event_idx = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help") return usage(stdout, 0);
    if (a == "--packed") packed = true;
    else if (a == "--event-idx") event_idx = true;
    else return usage(stderr, 2);
  }
  verdict v;

  // ---- The host's chip: 8 named lines, loop-out wired to loop-in ---------------------------
  chip_type chip{line_count};
  for (std::uint16_t l = 0; l < line_count; ++l) chip.set_name(l, line_names[l]);
  if (auto r = chip.connect(loop_out, loop_in); !r) return fail("chip: connect", r.error());

  // ---- Guest memory and the two queues (both sides) -----------------------------------------
  const feature_set offered_ring{transport_feature::version_1, transport_feature::ring_packed,
                                 transport_feature::event_idx};
  feature_set wanted = feature_set{gpio::feature::irq} | feature_set{transport_feature::version_1};
  if (packed) wanted.set(transport_feature::ring_packed);
  if (event_idx) wanted.set(transport_feature::event_idx);
  // The ring features must be known before the queues are laid out; the device-type bit is
  // negotiated just below, once the device exists.
  const feature_set ring_features = offered_ring & wanted;
  const std::uint16_t qsize = packed ? packed_size : split_size;
  ram_planner plan{ram_base, guest_ram.size()};
  const ring::queue_config rq_cfg = plan_queue(plan, qsize, ring_features);
  const ring::queue_config eq_cfg = plan_queue(plan, qsize, ring_features);

  memory mem{guest_ram, ram_base};
  driver_queue drv_rq{mem}, drv_eq{mem};
  device_queue dev_rq{mem}, dev_eq{mem};
  if (auto r = drv_rq.configure(rq_cfg); !r) return fail("driver: configure requestq", r.error());
  if (auto r = drv_eq.configure(eq_cfg); !r) return fail("driver: configure eventq", r.error());
  if (auto r = dev_rq.configure(rq_cfg); !r) return fail("device: configure requestq", r.error());
  if (auto r = dev_eq.configure(eq_cfg); !r) return fail("device: configure eventq", r.error());

  // ---- The device, feature negotiation (virtio 1.3 §3.1.1), the front-end -------------------
  auto made_dev = controller::create(chip, dev_rq, dev_eq);
  if (!made_dev) return fail("device: create", made_dev.error());
  controller& dev = *made_dev;
  const feature_set offered = dev.offered_features() | offered_ring;
  const feature_set accepted = vireo::negotiate(offered, wanted, vireo::transport_dependencies);
  if (auto ok = vireo::validate_driver_features(offered, accepted, vireo::transport_dependencies);
      !ok)
    return fail("device: FEATURES_OK refused", ok.error());
  if (auto ok = dev.set_driver_features(accepted); !ok)
    return fail("device: FEATURES_OK refused", ok.error());

  const gpio::wire::config config = dev.config();  // what the driver reads from config space
  const std::uint64_t region_bytes = front_end::region_size(dev.params());
  const ring::driver_region region{plan.take(region_bytes, 64), region_bytes};
  if (!plan.fits()) return fail("gpio_session: guest RAM", errc::no_space);
  auto made_fe = front_end::create(mem, drv_rq, &drv_eq, region, config, accepted);
  if (!made_fe) return fail("front-end: create", made_fe.error());
  front_end& fe = *made_fe;

  // The front-end's surroundings (ring::driver_env). A kick is a direct call into the device
  // model, which runs in this process, for the queue kicked. A wait is where a guest would sleep
  // until a used-buffer notification (the front-end re-armed it when it found the queue
  // drained), here: let the device run. Host events (the chip's) reach the device on their own
  // path: poll_host(), called below where the host's event loop would.
  unsigned kicks = 0, waits = 0, notified = 0;
  std::optional<errc> device_broke;
  auto note = [&](const vireo::result<gpio::notifications>& n) {
    if (!n) device_broke = n.error();
    else notified += (n->requestq ? 1u : 0u) + (n->eventq ? 1u : 0u);
  };
  ring::env_callbacks env{[&](std::uint16_t q) {
                            ++kicks;
                            note(q == eventq ? dev.process_events() : dev.process_requests());
                          },
                          [&] {
                            ++waits;
                            note(dev.process_requests());
                            note(dev.process_events());
                          }};

  fmt::print("gpio_session: {} requestq and eventq of {} {}; a simulated chip, line {} \"{}\""
             " wired to line {} \"{}\"\n",
             packed ? "packed" : "split", drv_rq.size(), packed ? "slots" : "descriptors",
             loop_out, line_names[loop_out], loop_in, line_names[loop_in]);
  fmt::print("features: device offers {}\n          driver accepts {}: FEATURES_OK\n",
             feature_names(offered), feature_names(accepted));
  v.check(fe.params().irq && dev.params().irq, "VIRTIO_GPIO_F_IRQ negotiated on both sides");

  // ---- 1. Config space and line names -------------------------------------------------------
  fmt::print("config: ngpio {}, gpio_names_size {}\n", config.ngpio.get(),
             config.gpio_names_size.get());
  v.check(fe.params().ngpio == line_count, "ngpio");
  std::array<std::byte, 128> names_buf{};
  auto names = fe.get_line_names(names_buf, env);
  if (!names) return fail("GET_LINE_NAMES", names.error());
  std::string listed;
  bool names_right = names->size() == line_count;
  for (auto it = names->begin(); it != names->end(); ++it) {
    listed += fmt::format("{}{}={}", it.line() % 4 == 0 ? "\n  " : "  ", it.line(), *it);
    names_right = names_right && *it == line_names[it.line()];
  }
  fmt::print("GET_LINE_NAMES: {} names, {} bytes:{}\n", names->size(), names->size_bytes(),
             listed);
  v.check(names_right && names->size_bytes() == config.gpio_names_size.get(),
          "the names are the chip's");

  // ---- 2. Directions and values -------------------------------------------------------------
  auto r = fe.direction_output(led, level::high, env);  // SET_VALUE, then SET_DIRECTION(OUT)
  auto dir = fe.get_direction(led, env);
  fmt::print("line {} {}: output high: {}; GET_DIRECTION: {}; the chip drives {}\n", led,
             line_names[led], done(r), shown(dir), name_of(chip.driven(led)));
  v.check(r && dir && *dir == direction::out && chip.line_direction(led) == direction::out &&
              chip.driven(led) == level::high,
          "an output line");

  r = fe.set_direction(sd_detect, direction::in, env);
  chip.set_input(sd_detect, level::high);  // the host side: a card is inserted
  auto val = fe.get_value(sd_detect, env);
  fmt::print("line {} {}: input: {}; the host drives it high; GET_VALUE: {}\n", sd_detect,
             line_names[sd_detect], done(r), shown(val));
  v.check(r && val && *val == level::high, "an input line");

  auto r_out = fe.direction_output(loop_out, level::low, env);
  auto r_in = fe.set_direction(loop_in, direction::in, env);
  auto before = fe.get_value(loop_in, env);
  auto r_set = fe.set_value(loop_out, level::high, env);
  auto after = fe.get_value(loop_in, env);
  auto r_back = fe.set_value(loop_out, level::low, env);
  auto back = fe.get_value(loop_in, env);
  fmt::print("wire: line {} output low: {}; line {} input: {}; line {} reads {}, then {} after"
             " line {} goes high ({}), {} after it goes low ({})\n",
             loop_out, done(r_out), loop_in, done(r_in), loop_in, shown(before), shown(after),
             loop_out, done(r_set), shown(back), done(r_back));
  v.check(r_out && r_in && r_set && r_back && before && after && back && *before == level::low &&
              *after == level::high && *back == level::low,
          "the wire carries the output to the input");

  // ---- 3. An edge interrupt, from the wire to the guest ------------------------------------
  r = fe.enable_irq(loop_in, irq_type::edge_rising, env);  // SET_IRQ_TYPE, then queue the pair
  fmt::print("irq: enable rising edge on line {}: {}; device: enabled {}, buffer held (unmasked)"
             " {}\n",
             loop_in, done(r), dev.line_irq(loop_in).enabled() ? "yes" : "no",
             dev.line_irq(loop_in).unmasked() ? "yes" : "no");
  v.check(r && dev.line_irq(loop_in).unmasked() && fe.irq_unmasked(loop_in) &&
              chip.watched(loop_in) == irq_type::edge_rising,
          "the interrupt is enabled and unmasked");

  // The guest's eventq interrupt handler: take every event. When poll_events() finds the eventq
  // drained it re-arms the used-buffer notification and looks once more (one may have slipped in
  // meanwhile), as virtio drivers do; without that, EVENT_IDX would silence every notification
  // after the first.
  struct handled {
    unsigned events = 0;
    std::optional<gpio::irq_event> last;
    std::optional<errc> error;
  };
  auto irq_handler = [&] {
    handled h;
    for (;;) {
      auto e = fe.poll_events(env);
      if (!e) {
        h.error = e.error();
        return h;
      }
      if (*e) {
        ++h.events;
        h.last = **e;
      } else {
        return h;  // drained; poll_events() re-armed the eventq's notifications
      }
    }
  };
  auto handled_text = [](const handled& h) {
    if (h.error) return errc_text(*h.error);
    if (h.events == 0) return std::string("no interrupt");
    const gpio::irq_event& e = *h.last;
    const std::string what = e.ok() ? fmt::format("interrupt on line {}", e.gpio)
                                    : fmt::format("bad event on line {}: {}", e.gpio,
                                                  errc_text(e.error));
    return h.events == 1 ? what : fmt::format("{} events, the last: {}", h.events, what);
  };

  // One edge: the guest drives the output high; the host sees the edge on the input and hands
  // it to the device, which returns the held eventq buffer VALID and notifies the guest; the
  // front-end takes the buffer back, and the line stays masked until unmask(). Then the output
  // goes low again: a falling edge, which a rising-edge interrupt does not report.
  auto edge_round = [&](std::string_view label) {
    auto up = fe.set_value(loop_out, level::high, env);
    const std::size_t pending = chip.pending_events();
    const std::uint64_t fired_before = dev.stats().interrupts;
    auto host = dev.poll_host();  // the host's event loop: the chip has news
    note(host);
    const bool fired = dev.stats().interrupts == fired_before + 1;
    const bool notify = host && host->eventq;
    const handled h = irq_handler();
    const bool one = !h.error && h.events == 1 && h.last->ok() && h.last->gpio == loop_in;
    fmt::print("irq: {}: line {} high: {}; chip events {}; device poll_host: fired {}, notify"
               " eventq {}\n     front-end: {}; line masked {}\n",
               label, loop_out, done(up), pending, fired ? "yes" : "no", notify ? "yes" : "no",
               handled_text(h), fe.irq_unmasked(loop_in) ? "no" : "yes");
    v.check(up && pending == 1 && fired && notify && one && !fe.irq_unmasked(loop_in) &&
                !dev.line_irq(loop_in).unmasked(),
            "one edge, one notification, one interrupt, the line masked");
    auto down = fe.set_value(loop_out, level::low, env);
    v.check(down && chip.pending_events() == 0, "the falling edge is not reported");
  };
  edge_round("first edge");

  r = fe.unmask(loop_in, env);  // re-arm: queue the pair again (§5.18.7.1)
  fmt::print("irq: unmask line {}: {}; the device holds the buffer again: {}\n", loop_in, done(r),
             dev.line_irq(loop_in).unmasked() ? "yes" : "no");
  v.check(r && dev.line_irq(loop_in).unmasked(), "unmask re-arms the line");
  edge_round("second edge");

  // ---- 4. Disable: the held buffer comes back INVALID (§5.18.7.3) --------------------------
  r = fe.unmask(loop_in, env);
  const std::uint64_t invalid_before = dev.stats().pairs_disabled;
  auto off = fe.disable_irq(loop_in, env);  // SET_IRQ_TYPE(NONE)
  const bool returned_invalid = dev.stats().pairs_disabled == invalid_before + 1;
  const handled h_off = irq_handler();  // takes the INVALID buffer back: not an interrupt
  fmt::print("irq: unmask: {}; disable line {}: {}; the device returned its buffer INVALID: {}\n"
             "     front-end: {}; eventq buffers in flight {}\n",
             done(r), loop_in, done(off), returned_invalid ? "yes" : "no", handled_text(h_off),
             drv_eq.in_flight());
  v.check(r && off && returned_invalid && !h_off.error && h_off.events == 0 &&
              !fe.irq_unmasked(loop_in) && drv_eq.in_flight() == 0 &&
              chip.watched(loop_in) == irq_type::none,
          "disable returns the buffer INVALID");

  auto up = fe.set_value(loop_out, level::high, env);
  note(dev.poll_host());
  const handled h_quiet = irq_handler();
  fmt::print("irq: line {} high with the interrupt disabled: {}; chip events {}; front-end: {}\n",
             loop_out, done(up), chip.pending_events(), handled_text(h_quiet));
  v.check(up && !h_quiet.error && h_quiet.events == 0, "no interrupt once disabled");

  if (device_broke) v.check(false, fmt::format("device queue broke: {}", errc_text(*device_broke)));
  const auto& s = dev.stats();
  const bool pass = v.failed == 0 && !fe.broken();
  fmt::print("summary ({} rings): {} requests ({} ERR), {} eventq buffers taken, {} interrupts,"
             " {} returned INVALID, {} host events; kicks {}, waits {}, used-buffer notifications"
             " {}; {}/{} checks: {}\n",
             packed ? "packed" : "split", s.requests, s.request_errors, s.pairs_received,
             s.interrupts, s.pairs_disabled + s.pairs_bounced, s.host_events, kicks, waits,
             notified, v.passed, v.passed + v.failed, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
