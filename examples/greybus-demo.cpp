// SPDX-License-Identifier: Apache-2.0
// greybus-demo: Greybus carried over virtqueues (docs/greybus-virtio.md), both ends in one
// process. The module side is a simulated board (a GPIO chip of 8 named lines, "loop-out" wired
// to "loop-in", and an I2C bus with a 24C02 EEPROM at 0x50) served by Vireo's Greybus module
// through the binding's virtio device; the AP side (the virtio driver and the Greybus host)
// enumerates it over the two virtqueues, split (default) or packed (--packed): it reads the
// manifest through the Control protocol and prints its bundles, CPorts and protocols, then
// toggles GPIOs, follows an interrupt from the wire to the host, and writes and reads the
// EEPROM through Greybus I2C Transfers. Every step is checked; the run ends with PASS or FAIL.
#include <vireo/vireo.hpp>

#include <vireo/gpio/sim/chip.hpp>
#include <vireo/greybus/host/ap.hpp>
#include <vireo/greybus/host/gpio_client.hpp>
#include <vireo/greybus/host/i2c_client.hpp>
#include <vireo/greybus/manifest.hpp>
#include <vireo/greybus/manifest_builder.hpp>
#include <vireo/greybus/module/gpio_responder.hpp>
#include <vireo/greybus/module/i2c_responder.hpp>
#include <vireo/greybus/module/module.hpp>
#include <vireo/greybus/virtio/ap_driver.hpp>
#include <vireo/greybus/virtio/module_device.hpp>
#include <vireo/i2c/address.hpp>
#include <vireo/i2c/sim/bus.hpp>
#include <vireo/i2c/sim/eeprom_24c02.hpp>
#include <vireo/ring/driver_region.hpp>

#include <fmt/format.h>

#include "guest_ram_plan.hpp"
#include "session_report.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace ring = vireo::ring;
namespace gb = vireo::greybus;
namespace gbv = vireo::greybus::virtio;
namespace gpio = vireo::gpio;
namespace i2c = vireo::i2c;
using vireo::const_bytes;
using vireo::gpa;
using example::errc_text;
using example::fail;
using example::verdict;

// ---- The board ------------------------------------------------------------------------------

constexpr std::uint16_t chip_lines = 8;
constexpr std::array<std::string_view, chip_lines> line_names{
    "led-green", "led-red", "reset-n", "sd-detect", "pwr-good", "spare", "loop-out", "loop-in"};
constexpr std::uint16_t loop_out = 6, loop_in = 7;
/// The host lines the GPIO bundle exposes: Greybus line i is host line exposed[i].
constexpr std::array<std::uint16_t, 4> exposed{0, 1, loop_out, loop_in};
constexpr std::uint8_t gb_led_green = 0, gb_led_red = 1, gb_loop_out = 2, gb_loop_in = 3;
constexpr std::uint16_t eeprom_addr = 0x50;

constexpr std::uint16_t gpio_cport = 1, i2c_cport = 2;
constexpr std::uint8_t class_bridged_phy = 0x0a;

using chip_type = gpio::sim::chip<chip_lines, 16>;
using bus_type = i2c::sim::bus<4>;
using interface_type = gb::module::interface<>;

// ---- Guest memory and the two sides' types --------------------------------------------------

constexpr std::uint16_t split_size = 16;   // split: a power of two (virtio 1.3 §2.7)
constexpr std::uint16_t packed_size = 11;  // packed: any size (§2.8)
constexpr gpa ram_base{0x4000'0000};       // guest addresses are not host offsets
alignas(64) std::array<std::byte, 64 * 1024> guest_ram{};

using memory = vireo::flat_memory;
using driver_queue = ring::any_driver_queue<memory, split_size>;
using device_queue = ring::any_device_queue<memory, 8>;
using device_type = gbv::module_device<interface_type, device_queue>;
using ap_driver_type = gbv::ap_driver<memory, driver_queue, 4, 4>;

/// Milliseconds on the steady clock: the host's timeouts run on it.
struct steady_ms {
  std::uint64_t operator()() const noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }
};
using host_type = gb::host::ap<ap_driver_type, steady_ms>;

std::string done(const vireo::result<void>& r) { return r ? "ok" : errc_text(r.error()); }
std::string_view level_name(gpio::level l) { return l == gpio::level::high ? "high" : "low"; }

std::string hex(const_bytes b) {
  std::string s;
  for (std::byte x : b) s += fmt::format("{:02x} ", std::to_integer<unsigned>(x));
  if (!s.empty()) s.pop_back();
  return s;
}

/// The manifest the module presents: interface + strings, one GPIO bundle, one I2C bundle.
vireo::result<std::size_t> build_manifest(vireo::bytes out) {
  gb::manifest_builder b{out};
  VIREO_TRY(b.add_interface(1, 2));
  VIREO_TRY(b.add_string(1, "Vireo"));
  VIREO_TRY(b.add_string(2, "greybus-demo board"));
  VIREO_TRY(b.add_bundle(1, class_bridged_phy));
  VIREO_TRY(b.add_cport(gpio_cport, 1, static_cast<std::uint8_t>(gb::protocol_id::gpio)));
  VIREO_TRY(b.add_bundle(2, class_bridged_phy));
  VIREO_TRY(b.add_cport(i2c_cport, 2, static_cast<std::uint8_t>(gb::protocol_id::i2c)));
  return b.finish();
}

int usage(std::FILE* to, int rc) {
  fmt::print(to,
             "usage: greybus-demo [--packed] [--help]\n"
             "  --packed  negotiate VIRTIO_F_RING_PACKED: packed queues of {} slots\n"
             "            (default: split queues of {} descriptors)\n",
             packed_size, split_size);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool packed = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help") return usage(stdout, 0);
    if (a == "--packed") packed = true;
    else return usage(stderr, 2);
  }
  verdict v;

  // ---- The module side: the board, the manifest, the Greybus module ----------------------------
  chip_type chip{chip_lines};
  for (std::uint16_t l = 0; l < chip_lines; ++l) chip.set_name(l, line_names[l]);
  if (auto r = chip.connect(loop_out, loop_in); !r) return fail("chip: connect", r.error());
  bus_type bus;
  i2c::sim::eeprom_24c02 eeprom;
  if (auto r = bus.attach(*i2c::address::seven_bit(eeprom_addr), eeprom); !r)
    return fail("bus: attach EEPROM", r.error());

  std::array<std::byte, 256> manifest_bytes{};
  const auto manifest_size = build_manifest(manifest_bytes);
  if (!manifest_size) return fail("module: build manifest", manifest_size.error());
  auto gpio_r = gb::module::gpio_responder<chip_type>::create(chip, exposed);
  if (!gpio_r) return fail("module: gpio responder", gpio_r.error());
  const std::uint16_t allowed[] = {eeprom_addr};
  auto i2c_r = gb::module::i2c_responder<bus_type>::create(bus, allowed);
  if (!i2c_r) return fail("module: i2c responder", i2c_r.error());
  auto iface = interface_type::create(const_bytes{manifest_bytes}.first(*manifest_size));
  if (!iface) return fail("module: interface", iface.error());
  if (auto r = iface->attach(gpio_cport, *gpio_r); !r) return fail("module: attach gpio", r.error());
  if (auto r = iface->attach(i2c_cport, *i2c_r); !r) return fail("module: attach i2c", r.error());

  // ---- Guest memory: ap_to_module, module_to_ap, the AP's frame buffers ----------------------
  vireo::feature_set features{vireo::transport_feature::version_1};
  if (packed) features.set(vireo::transport_feature::ring_packed);
  const std::uint16_t qsize = packed ? packed_size : split_size;
  example::ram_planner plan{ram_base, guest_ram.size()};
  const ring::queue_config to_module = example::plan_queue(plan, qsize, features);
  const ring::queue_config to_ap = example::plan_queue(plan, qsize, features);

  memory mem{guest_ram, ram_base};
  driver_queue ap_tx{mem}, ap_rx{mem};
  device_queue dev_rx{mem}, dev_tx{mem};
  if (auto r = ap_tx.configure(to_module); !r) return fail("driver: configure ap_to_module", r.error());
  if (auto r = ap_rx.configure(to_ap); !r) return fail("driver: configure module_to_ap", r.error());
  if (auto r = dev_rx.configure(to_module); !r) return fail("device: configure ap_to_module", r.error());
  if (auto r = dev_tx.configure(to_ap); !r) return fail("device: configure module_to_ap", r.error());

  device_type device{*iface, dev_rx, dev_tx};
  const gbv::device_config cfg = device.config();  // what the AP reads from config space
  const std::uint64_t region_bytes = ap_driver_type::region_size(cfg);
  const gpa region = plan.take(region_bytes, 64);
  if (!plan.fits()) {
    fmt::print("guest RAM too small\n");
    return 1;
  }
  auto ap_drv = ap_driver_type::create(mem, ap_tx, ap_rx, ring::driver_region{region, region_bytes}, cfg);
  if (!ap_drv) return fail("driver: create", ap_drv.error());
  fmt::print("greybus-demo: {} virtqueues of {}, config max_message_size {}, cport_count {}\n",
             packed ? "packed" : "split", qsize, cfg.max_message_size.get(), cfg.cport_count.get());

  // The AP's `progress`: the module side runs in this process, so "waiting" is serving it.
  unsigned notifications = 0;
  bool device_ok = true;
  auto progress = [&] {
    auto n = device.process();
    if (!n) {
      device_ok = false;
      return;
    }
    notifications += (n->ap_to_module ? 1u : 0u) + (n->module_to_ap ? 1u : 0u);
  };

  // ---- Enumeration -----------------------------------------------------------------------------
  host_type host{*ap_drv, steady_ms{}};
  if (auto r = host.enumerate(progress); !r) return fail("host: enumerate", r.error());
  const auto& m = *host.manifest();
  fmt::print("enumerated: Control protocol {}.{}, manifest {} bytes, interface \"{}\" / \"{}\"\n",
             host.control_version().major, host.control_version().minor, *manifest_size,
             m.vendor_string(), m.product_string());
  for (const gb::manifest_bundle& b : m.bundles()) {
    fmt::print("  bundle {}: class {:#04x} ({})\n", b.id, b.bundle_class,
               gb::bundle_class_name(b.bundle_class));
    for (const gb::manifest_cport& c : m.cports(b))
      fmt::print("    cport {}: protocol {:#04x} ({}), connection {}\n", c.id, c.protocol,
                 gb::cport_protocol_name(c.protocol),
                 host.state(c.id) == gb::connection_state::enabled ? "enabled" : "not enabled");
  }
  v.check(m.bundles().size() == 2 && m.cports().size() == 2, "two bundles, two CPorts");

  // ---- GPIO ------------------------------------------------------------------------------------
  auto gpio_c = gb::host::gpio_client<host_type>::bind(host, gpio_cport);
  if (!gpio_c) return fail("host: bind gpio", gpio_c.error());
  const auto lines = gpio_c->line_count(progress);
  if (!lines) return fail("gpio: line count", lines.error());
  fmt::print("gpio (cport {}): {} lines\n", gpio_cport, *lines);
  v.check(*lines == exposed.size(), "line count");
  for (std::uint8_t l = 0; l < *lines; ++l) {
    const auto r = gpio_c->activate(l, progress);
    v.check(r.has_value(), "activate");
  }
  fmt::print("  direction out (low) on led-green, led-red, loop-out: {}, {}, {}\n",
             done(gpio_c->direction_out(gb_led_green, false, progress)),
             done(gpio_c->direction_out(gb_led_red, false, progress)),
             done(gpio_c->direction_out(gb_loop_out, false, progress)));
  for (int step = 0; step < 4; ++step) {
    const bool green = step % 2 == 0, red = step % 2 == 1;
    const auto a = gpio_c->set_value(gb_led_green, green, progress);
    const auto b = gpio_c->set_value(gb_led_red, red, progress);
    const bool ok = a && b && (chip.driven(exposed[gb_led_green]) == gpio::level::high) == green &&
                    (chip.driven(exposed[gb_led_red]) == gpio::level::high) == red;
    fmt::print("  toggle {}: led-green {}, led-red {} (chip drives {} / {}): {}\n", step,
               green ? "on" : "off", red ? "on" : "off",
               level_name(chip.driven(exposed[gb_led_green])),
               level_name(chip.driven(exposed[gb_led_red])), ok ? "ok" : "WRONG");
    v.check(ok, "toggle");
  }

  // An interrupt: loop-in (input) watches rising edges; loop-out drives the wire.
  v.check(gpio_c->direction_in(gb_loop_in, progress).has_value(), "loop-in as input");
  v.check(gpio_c->set_irq_type(gb_loop_in, gb::gpio::irq_type::edge_rising, progress).has_value(),
          "irq type");
  v.check(gpio_c->irq_unmask(gb_loop_in, progress).has_value(), "irq unmask");
  v.check(gpio_c->set_value(gb_loop_out, true, progress).has_value(), "loop-out high");
  progress();  // the module turns the chip's edge into an IRQ Event
  const auto irq = gpio_c->next_irq();
  const bool irq_ok = irq && irq->pending && irq->which == gb_loop_in;
  fmt::print("  loop-out high -> IRQ Event from the module for line {}: {}\n",
             irq && irq->pending ? std::to_string(irq->which) : std::string("none"),
             irq_ok ? "ok" : "WRONG");
  v.check(irq_ok, "irq event");
  const auto in = gpio_c->get_value(gb_loop_in, progress);
  v.check(in && *in, "loop-in reads high");

  // ---- I2C: the EEPROM --------------------------------------------------------------------------
  auto i2c_c = gb::host::i2c_client<host_type>::bind(host, i2c_cport);
  if (!i2c_c) return fail("host: bind i2c", i2c_c.error());
  const auto func = i2c_c->functionality(progress);
  if (!func) return fail("i2c: functionality", func.error());
  fmt::print("i2c (cport {}): functionality {:#010x}\n", i2c_cport, *func);
  // A page write: word address 0x20, then 8 bytes (one 24C02 page).
  const std::array<std::byte, 9> page{std::byte{0x20}, std::byte{'G'}, std::byte{'r'},
                                      std::byte{'e'},  std::byte{'y'}, std::byte{'b'},
                                      std::byte{'u'},  std::byte{'s'}, std::byte{'!'}};
  const auto w = i2c_c->write(eeprom_addr, page, progress);
  fmt::print("  write 8 bytes at 0x20: {}\n", done(w));
  v.check(w.has_value(), "eeprom write");
  const std::array<std::byte, 1> at{std::byte{0x1e}};
  std::array<std::byte, 12> got{};
  const auto r = i2c_c->write_read(eeprom_addr, at, got, progress);
  fmt::print("  read 12 bytes at 0x1e: {} [{}]\n", done(r), hex(got));
  bool same = r.has_value() && got[0] == std::byte{0xff} && got[1] == std::byte{0xff} &&
              got[10] == std::byte{0xff};
  for (std::size_t i = 0; i < 8; ++i) same = same && got[2 + i] == page[1 + i];
  v.check(same, "eeprom read back");
  const auto absent = i2c_c->write_read(0x51, at, got, progress);
  fmt::print("  read from 0x51 (not allowed): {}, status {}\n", done(absent),
             gb::status_name(host.last_status()));
  v.check(!absent && absent.error() == vireo::errc::greybus_error_response &&
              host.last_status() == static_cast<std::uint8_t>(gb::status::nonexistent),
          "absent address refused");

  // ---- Teardown ---------------------------------------------------------------------------------
  v.check(host.disconnect(gpio_cport, progress).has_value(), "disconnect gpio");
  v.check(host.disconnect(i2c_cport, progress).has_value(), "disconnect i2c");
  v.check(device_ok, "device kept running");
  const auto& ds = device.stats();
  const auto& as = ap_drv->stats();
  const auto& hs = host.stats();
  fmt::print("device: {} frames in, {} out, {} bad frames, {} bad buffers, {} held; AP: {} sent, "
             "{} received, {} bad; host: {} calls, {} timeouts, {} strays; {} notifications\n",
             ds.frames_received, ds.frames_sent, ds.bad_frames, ds.bad_buffers, device.held(),
             as.frames_sent, as.frames_received, as.bad_frames, hs.calls, hs.timeouts,
             hs.stray_responses, notifications);
  v.check(ds.bad_frames == 0 && as.bad_frames == 0 && hs.timeouts == 0, "no errors on the way");
  const bool pass = v.failed == 0;
  fmt::print("summary ({}): {} checks passed, {} failed: {}\n", packed ? "packed" : "split",
             v.passed, v.failed, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
