// SPDX-License-Identifier: Apache-2.0
// vhost-user-frontend-check: Vireo's own front-end (a VMM's side: memfd guest RAM, driver-side
// rings, eventfd kicks and calls) against running vhost-user-gpio and vhost-user-i2c daemons
// with their simulated devices, over their real sockets. It covers what QEMU 7.2 cannot:
// VIRTIO_GPIO_F_IRQ with the eventq, on split and on packed rings, and packed rings for gpio.
// Each check prints "VIREO-CHECK <name> PASS|FAIL ..."; the exit code is 0 only when all pass.
//
//   vhost-user-frontend-check --gpio-socket PATH [--i2c-socket PATH]
#include <vireo/gpio/driver.hpp>
#include <vireo/i2c/driver.hpp>
#include <vireo/linux/memfd_guest_ram.hpp>
#include <vireo/linux/vhost_user_frontend.hpp>
#include <vireo/ring/any_driver_queue.hpp>
#include <vireo/ring/driver_region.hpp>

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest_ram_plan.hpp"
#include "session_report.hpp"

namespace {

namespace lh = vireo::linux_host;
namespace ring = vireo::ring;
namespace gpio = vireo::gpio;
namespace i2c = vireo::i2c;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo::transport_feature;

using frontend_t = lh::frontend<2, 2>;
using ram_t = lh::memfd_guest_ram<2>;
using memory_t = ram_t::memory_type;
using drvq_t = ring::any_driver_queue<memory_t, 256>;
using env_t = lh::frontend_env<frontend_t>;

constexpr gpa ring_base{0x4000'0000};
constexpr gpa data_base{0x8000'0000};
constexpr std::size_t ring_bytes = 256 * 1024;
constexpr int wait_ms = 1000;
constexpr std::uint32_t max_waits = 20;

constexpr std::uint64_t bit(transport_feature f) {
  return std::uint64_t{1} << static_cast<unsigned>(f);
}

/// Prints and counts the checks.
struct report {
  unsigned passed = 0, failed = 0;
  bool check(bool ok, std::string_view name, const std::string& detail = {}) {
    if (ok) {
      ++passed;
      fmt::print("VIREO-CHECK {} PASS\n", name);
    } else {
      ++failed;
      fmt::print("VIREO-CHECK {} FAIL {}\n", name, detail);
    }
    std::fflush(stdout);
    return ok;
  }
};

template <typename T>
std::string why(const vireo::result<T>& r) {
  return r ? std::string("unexpected value") : example::errc_text(r.error());
}

/// The transport bits of `features` (device bits 0-23 are the device's business, §6).
feature_set transport_bits(std::uint64_t features) {
  return feature_set::from_words(features & ~std::uint64_t{0xFF'FFFF});
}

std::optional<ram_t> make_ram() {
  const std::array<lh::ram_layout, 2> layout{lh::ram_layout{ring_base, ring_bytes},
                                             lh::ram_layout{data_base, 64 * 1024}};
  auto r = ram_t::create(layout);
  if (!r) return std::nullopt;
  return std::move(*r);
}

std::optional<frontend_t> connect(const std::string& path, std::uint32_t queues, report& rep,
                                  std::string_view tag) {
  lh::frontend_options o;
  o.num_queues = queues;
  lh::connect_options co;
  co.attempts = 50;
  co.retry_delay_ms = 20;  // the daemon may still be tearing the previous connection down
  auto fe = frontend_t::connect(path, o, co);
  if (!rep.check(fe.has_value(), fmt::format("{}-connect", tag), why(fe))) return std::nullopt;
  auto n = fe->negotiate();
  if (!rep.check(n.has_value(), fmt::format("{}-negotiate", tag), why(n))) return std::nullopt;
  return std::move(*fe);
}

// ---- gpio with interrupts ------------------------------------------------------------------

constexpr std::uint16_t sd_detect = 3, loop_out = 6, loop_in = 7;
constexpr std::array<std::string_view, 8> sim_names{
    "led-green", "led-red", "reset-n", "sd-detect", "pwr-good", "spare", "loop-out", "loop-in"};

void check_gpio(const std::string& path, bool packed, report& rep) {
  const std::string tag = fmt::format("gpio-{}", packed ? "packed" : "split");
  using front_t = gpio::driver<memory_t, drvq_t, 8>;
  auto ram = make_ram();
  if (!rep.check(ram.has_value(), tag + "-ram")) return;
  auto fe = connect(path, 2, rep, tag);
  if (!fe) return;

  std::array<std::byte, sizeof(gpio::wire::config)> raw{};
  auto c = fe->get_config(0, raw);
  if (!rep.check(c.has_value(), tag + "-config", why(c))) return;
  gpio::wire::config cfg;
  std::memcpy(&cfg, raw.data(), sizeof cfg);

  const std::uint64_t want = bit(transport_feature::version_1) |
                             bit(transport_feature::event_idx) | 1 /* VIRTIO_GPIO_F_IRQ */ |
                             (packed ? bit(transport_feature::ring_packed) : 0);
  auto acked = fe->set_features(want);
  if (!rep.check(acked && (*acked & want) == want, tag + "-features", why(acked))) return;
  auto m = fe->set_mem_table(ram->regions());
  if (!rep.check(m.has_value(), tag + "-mem-table", why(m))) return;
  const std::uint16_t size = packed ? 24 : 32;  // packed: not a power of two
  drvq_t rq{ram->memory()}, eq{ram->memory()};
  example::ram_planner rings{ring_base, ring_bytes};
  const ring::queue_config rq_cfg = example::plan_queue(rings, size, transport_bits(*acked));
  const ring::queue_config eq_cfg = example::plan_queue(rings, size, transport_bits(*acked));
  auto s0 = rq.configure(rq_cfg);
  auto s1 = eq.configure(eq_cfg);
  auto v0 = fe->start_vring(0, rq_cfg);
  auto v1 = fe->start_vring(1, eq_cfg);
  if (!rep.check(s0 && s1 && v0 && v1, tag + "-start", why(v0 ? v1 : v0))) return;
  auto made = front_t::create(ram->memory(), rq, &eq, ring::driver_region{data_base, 16 * 1024},
                              cfg, feature_set::from_words(*acked));
  if (!rep.check(made.has_value(), tag + "-driver", why(made))) return;
  front_t& front = *made;
  env_t env{*fe, wait_ms};

  std::array<std::byte, 256> names_buf{};
  auto names = front.get_line_names(names_buf, env, max_waits);
  bool names_ok = names.has_value();
  std::string got;
  if (names) {
    std::size_t i = 0;
    for (std::string_view n : *names) {
      got += fmt::format("{}{}", i ? "," : "", n);
      names_ok = names_ok && i < sim_names.size() && n == sim_names[i];
      ++i;
    }
    names_ok = names_ok && i == sim_names.size();
  }
  rep.check(names_ok, tag + "-names", names ? got : why(names));

  auto sd = front.get_value(sd_detect, env, max_waits);
  rep.check(sd && *sd == gpio::level::high, tag + "-input", why(sd));

  // Loop-out low, loop-in an input with a rising-edge interrupt, then the edge.
  auto out = front.direction_output(loop_out, gpio::level::low, env, max_waits);
  auto irq = front.enable_irq(loop_in, gpio::irq_type::edge_rising, env, max_waits);
  if (!rep.check(out && irq, tag + "-irq-enable", why(out ? irq : out))) return;
  auto up = front.set_value(loop_out, gpio::level::high, env, max_waits);
  std::optional<gpio::irq_event> event;
  for (int i = 0; i < 20 && !event && up; ++i) {
    auto e = front.poll_events(env);
    if (!e) break;
    if (*e) event = **e;
    else (void)fe->wait_call(1, 100);  // the back-end completes the eventq pair on its own
  }
  rep.check(up && event && event->ok() && event->gpio == loop_in, tag + "-irq-edge",
            event ? fmt::format("event on line {}", event->gpio) : std::string("no event"));

  // Masked after the event: a second edge stays latched until unmask (virtio §5.18.7.1).
  auto down = front.set_value(loop_out, gpio::level::low, env, max_waits);
  auto up2 = front.set_value(loop_out, gpio::level::high, env, max_waits);
  auto early = front.poll_events(env);
  const bool none_yet = early && !*early;
  auto unmask = front.unmask(loop_in, env);
  std::optional<gpio::irq_event> latched;
  for (int i = 0; i < 20 && !latched && unmask; ++i) {
    auto e = front.poll_events(env);
    if (!e) break;
    if (*e) latched = **e;
    else (void)fe->wait_call(1, 100);
  }
  rep.check(down && up2 && none_yet && unmask && latched && latched->ok() &&
                latched->gpio == loop_in,
            tag + "-irq-latched-until-unmask",
            latched ? std::string("late event") : std::string("no event after unmask"));

  // Disable: a held pair comes back INVALID, which the front-end takes without an interrupt.
  auto re = front.unmask(loop_in, env);
  auto off = front.disable_irq(loop_in, env, max_waits);
  auto after = front.poll_events(env);
  rep.check(re && off && after && !*after, tag + "-irq-disable", why(off));

  auto stop0 = fe->stop_vring(0);
  auto stop1 = fe->stop_vring(1);
  rep.check(stop0 && stop1, tag + "-stop", why(stop0 ? stop1 : stop0));
  fe->disconnect();
}

// ---- i2c on packed rings ---------------------------------------------------------------------

void check_i2c(const std::string& path, bool packed, report& rep) {
  const std::string tag = fmt::format("i2c-{}", packed ? "packed" : "split");
  using front_t = i2c::driver<memory_t, drvq_t, 4, 8>;
  auto ram = make_ram();
  if (!rep.check(ram.has_value(), tag + "-ram")) return;
  auto fe = connect(path, 1, rep, tag);
  if (!fe) return;
  const std::uint64_t want = bit(transport_feature::version_1) |
                             bit(transport_feature::event_idx) |
                             bit(transport_feature::indirect_desc) | 1 /* ZERO_LENGTH */ |
                             (packed ? bit(transport_feature::ring_packed) : 0);
  auto acked = fe->set_features(want);
  if (!rep.check(acked && (*acked & want) == want, tag + "-features", why(acked))) return;
  auto m = fe->set_mem_table(ram->regions());
  const std::uint16_t size = packed ? 6 : 8;
  drvq_t q{ram->memory()};
  example::ram_planner rings{ring_base, ring_bytes};
  const ring::queue_config cfg = example::plan_queue(rings, size, transport_bits(*acked));
  auto s = q.configure(cfg);
  auto v = fe->start_vring(0, cfg);
  if (!rep.check(m && s && v, tag + "-start", why(v))) return;
  auto made = front_t::create(ram->memory(), q, ring::driver_region{data_base, 8 * 1024},
                              feature_set::from_words(*acked));
  if (!rep.check(made.has_value(), tag + "-driver", why(made))) return;
  front_t& front = *made;
  env_t env{*fe, wait_ms};
  const i2c::address eeprom = *i2c::address::seven_bit(0x50);

  // Word address 0x40, then 8 bytes back in one FAIL_NEXT group: cell i holds i.
  std::array<std::byte, 8> back{};
  const std::byte at{0x40};
  const std::array msgs{i2c::transfer_msg::write(eeprom, {&at, 1}),
                        i2c::transfer_msg::read(eeprom, back)};
  auto r = front.transfer(msgs, env, max_waits);
  bool ok = r && r->ok();
  for (std::size_t i = 0; ok && i < back.size(); ++i)
    ok = back[i] == static_cast<std::byte>(0x40 + i);
  rep.check(ok, tag + "-eeprom-read", r ? std::string("wrong data") : why(r));

  const i2c::address absent = *i2c::address::seven_bit(0x33);
  const std::byte poke{0};
  auto nack = front.transfer(i2c::transfer_msg::write(absent, {&poke, 1}), env, max_waits);
  rep.check(nack && !nack->ok(), tag + "-absent-fails", why(nack));
  fe->disconnect();
}

}  // namespace

int main(int argc, char** argv) {
  std::string gpio_path, i2c_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if ((a == "--gpio-socket" || a == "--i2c-socket") && i + 1 < argc) {
      (a == "--gpio-socket" ? gpio_path : i2c_path) = argv[++i];
    } else {
      fmt::print(a == "--help" ? stdout : stderr,
                 "usage: vhost-user-frontend-check --gpio-socket PATH [--i2c-socket PATH]\n"
                 "Drives running vhost-user-gpio / vhost-user-i2c daemons (simulated devices)\n"
                 "with Vireo's front-end: gpio interrupts and both ring layouts.\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (gpio_path.empty() && i2c_path.empty()) {
    fmt::print(stderr, "vhost-user-frontend-check: give --gpio-socket and/or --i2c-socket\n");
    return 2;
  }
  report rep;
  for (const bool packed : {false, true}) {
    if (!gpio_path.empty()) check_gpio(gpio_path, packed, rep);
    if (!i2c_path.empty()) check_i2c(i2c_path, packed, rep);
  }
  fmt::print("vhost-user-frontend-check: {} passed, {} failed\n", rep.passed, rep.failed);
  return rep.failed == 0 ? 0 : 1;
}
