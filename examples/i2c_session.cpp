// SPDX-License-Identifier: Apache-2.0
// i2c_session: a virtio-i2c adapter end to end in one process. The front-end (i2c::driver, the
// guest's side) and the device model (i2c::device over a simulated bus holding a 24C02 EEPROM at
// 0x50 and a register-map chip at 0x20) share one guest memory region holding the requestq, split
// (default) or packed (--packed). The session negotiates features, scans the bus like
// `i2cdetect -q`, writes an EEPROM page and reads it back, reads and writes registers, shows a
// transfer to an absent target failing as a group, and one hand-made malformed request that the
// device rejects and survives. Every step checks its result; the run ends with PASS or FAIL.
#include <vireo/vireo.hpp>

#include <vireo/i2c/device.hpp>
#include <vireo/i2c/driver.hpp>
#include <vireo/i2c/sim/bus.hpp>
#include <vireo/i2c/sim/eeprom_24c02.hpp>
#include <vireo/i2c/sim/register_map.hpp>
#include <vireo/ring/driver_env.hpp>
#include <vireo/ring/driver_region.hpp>

#include <fmt/format.h>

#include "guest_ram_plan.hpp"
#include "session_report.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace ring = vireo::ring;
namespace i2c = vireo::i2c;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo::transport_feature;
using ring::queue_layout;

// ---- Guest memory: one buffer; the ring, the indirect tables, the front-end's region ---------

constexpr std::uint16_t split_size = 16;   // split: a power of two (virtio 1.3 §2.7)
constexpr std::uint16_t packed_size = 12;  // packed: any size (§2.8); the bus scan wraps it often
constexpr std::uint16_t indirect_entries = 3;  // per table: out_hdr, buf, in_hdr (§5.16.6.1)
constexpr gpa ram_base{0x8000'0000};           // guest addresses are not host offsets
alignas(64) std::array<std::byte, 8192> guest_ram{};

using example::errc_text;
using example::fail;
using example::plan_queue;
using example::ram_planner;
using example::verdict;

/// The guest's own view of its RAM (for the hand-made request).
std::span<std::byte> ram_at(gpa g, std::size_t len) {
  return std::span(guest_ram).subspan(static_cast<std::size_t>(g.raw() - ram_base.raw()), len);
}

// ---- The two sides' types -------------------------------------------------------------------

using memory = vireo::flat_memory;
using driver_queue = ring::any_driver_queue<memory, split_size>;  // split or packed at run time
using device_queue = ring::any_device_queue<memory, 8>;  // a request has at most 3 segments
using bus_type = i2c::sim::bus<4>;
using eeprom_type = i2c::sim::eeprom_24c02;
using regmap_type = i2c::sim::register_map<16>;
constexpr std::size_t max_messages = 8;  // per transfer; the device runs groups this long
using front_end = i2c::driver<memory, driver_queue, 4, max_messages>;
using adapter = i2c::device<device_queue, bus_type, max_messages, 1024>;

constexpr std::uint16_t eeprom_addr = 0x50;
constexpr std::uint16_t regmap_addr = 0x20;
constexpr std::uint16_t absent_addr = 0x33;

i2c::address a7(std::uint16_t a) { return *i2c::address::seven_bit(a); }  // a <= 0x7F here

// ---- Output helpers -------------------------------------------------------------------------

std::string hex(std::span<const std::byte> b) {
  std::string s;
  for (const std::byte x : b)
    s += fmt::format("{}{:02x}", s.empty() ? "" : " ", std::to_integer<unsigned>(x));
  return s;
}
/// "2/2 ok", or which message failed and why.
std::string outcome(const vireo::result<i2c::completion>& c) {
  if (!c) return errc_text(c.error());
  std::string s = fmt::format("{}/{} ok", c->succeeded, c->messages);
  if (!c->ok()) s += fmt::format(", message {} failed: {}", c->succeeded, errc_text(c->failure));
  return s;
}
std::string feature_names(const feature_set& f) {
  const bool zlr = f.has(i2c::feature::zero_length_request);
  return example::transport_feature_names(f, zlr ? "ZERO_LENGTH_REQUEST" : "");
}


int usage(std::FILE* to, int rc) {
  fmt::print(to,
             "usage: i2c_session [--packed] [--event-idx] [--indirect] [--help]\n"
             "  --packed     negotiate VIRTIO_F_RING_PACKED: a packed requestq of {} slots\n"
             "               (default: a split requestq of {} descriptors)\n"
             "  --event-idx  negotiate VIRTIO_F_EVENT_IDX (notification suppression by ring\n"
             "               position)\n"
             "  --indirect   negotiate VIRTIO_F_INDIRECT_DESC: each request is one indirect\n"
             "               descriptor\n",
             packed_size, split_size);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool packed = false, event_idx = false, indirect = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help") return usage(stdout, 0);
    if (a == "--packed") packed = true;
    else if (a == "--event-idx") event_idx = true;
    else if (a == "--indirect") indirect = true;
    else return usage(stderr, 2);
  }
  verdict v;

  // ---- Feature negotiation (virtio 1.3 §3.1.1) ----------------------------------------------
  // The device offers VERSION_1, the ring features and VIRTIO_I2C_F_ZERO_LENGTH_REQUEST, which it
  // MUST offer (§5.16.6.4); the driver MUST accept that bit or abort (§5.16.6.3), and the device
  // refuses FEATURES_OK without it.
  const feature_set offered =
      i2c::device_features() |
      feature_set{transport_feature::version_1, transport_feature::ring_packed,
                  transport_feature::event_idx, transport_feature::indirect_desc};
  feature_set wanted{transport_feature::version_1};
  if (packed) wanted.set(transport_feature::ring_packed);
  if (event_idx) wanted.set(transport_feature::event_idx);
  if (indirect) wanted.set(transport_feature::indirect_desc);
  auto i2c_bits = i2c::accept_features(offered);
  if (!i2c_bits) return fail("driver: negotiation aborted", i2c_bits.error());
  const feature_set accepted =
      vireo::negotiate(offered, wanted | *i2c_bits, vireo::transport_dependencies);
  if (auto ok = vireo::validate_driver_features(offered, accepted, vireo::transport_dependencies);
      !ok)
    return fail("device: FEATURES_OK refused", ok.error());
  if (auto ok = i2c::check_driver_features(accepted); !ok)
    return fail("device: FEATURES_OK refused", ok.error());
  const feature_set ring_features = accepted - i2c::device_features();  // what the queue uses

  // ---- Guest memory, the requestq (both sides), the front-end's region ---------------------
  const std::uint16_t qsize = packed ? packed_size : split_size;
  ram_planner plan{ram_base, guest_ram.size()};
  const ring::queue_config cfg = plan_queue(plan, qsize, ring_features);
  const ring::indirect_pool pool{
      plan.take(indirect ? std::size_t{qsize} * indirect_entries * 16 : 0, 16),
      indirect ? indirect_entries : std::uint16_t{0}};
  const std::uint64_t region_bytes = front_end::region_size(256);  // 4 transfers of 256 bytes
  const ring::driver_region region{plan.take(region_bytes, 64), region_bytes};
  const gpa scratch = plan.take(64, 64);  // guest buffers for the hand-made malformed request
  if (!plan.fits()) return fail("i2c_session: guest RAM", errc::no_space);

  memory mem{guest_ram, ram_base};
  driver_queue drvq{mem};
  device_queue devq{mem};
  if (auto r = drvq.configure(cfg, pool); !r) return fail("driver: configure", r.error());
  if (auto r = devq.configure(cfg); !r) return fail("device: configure", r.error());

  // The host's side of the bus: a 24C02 EEPROM and a small sensor-like chip whose first four
  // registers the host fills in (id, status, a 16-bit temperature).
  eeprom_type eeprom;
  regmap_type regs;
  const std::array<std::uint8_t, 4> sensor{0x5A, 0x01, 0x19, 0x80};
  for (std::size_t r = 0; r < sensor.size(); ++r) regs.set(r, sensor[r]);
  bus_type bus;
  if (auto r = bus.attach(a7(eeprom_addr), eeprom); !r) return fail("bus: attach", r.error());
  if (auto r = bus.attach(a7(regmap_addr), regs); !r) return fail("bus: attach", r.error());

  i2c::device_options dopt;
  dopt.features = accepted;
  adapter dev{devq, bus, dopt};
  i2c::driver_options fopt;
  fopt.mode = indirect ? ring::add_mode::indirect : ring::add_mode::direct;
  auto made = front_end::create(mem, drvq, region, accepted, fopt);
  if (!made) return fail("front-end: create", made.error());
  front_end& fe = *made;

  // The front-end's surroundings (ring::driver_env). A kick is a direct call into the device
  // model, which runs in this process. A wait is where a guest would sleep until the used-buffer
  // notification (the front-end re-armed it when it found the queue drained: with EVENT_IDX, a
  // sleep without re-arming could last forever); here: let the device run.
  unsigned kicks = 0, waits = 0, notified = 0;
  std::optional<errc> device_broke;
  auto run_device = [&] {
    auto r = dev.process();
    if (!r) device_broke = r.error();
    else if (*r) ++notified;  // the device would raise the used-buffer notification now
  };
  ring::env_callbacks env{[&](std::uint16_t) {
                            ++kicks;
                            run_device();
                          },
                          [&] {
                            ++waits;
                            run_device();
                          }};

  fmt::print("i2c_session: {} requestq of {} {}; 24C02 EEPROM at {:#04x}, {}-register chip at"
             " {:#04x}\n",
             packed ? "packed" : "split", drvq.size(), packed ? "slots" : "descriptors",
             eeprom_addr, regmap_type::count, regmap_addr);
  fmt::print("features: device offers {}\n", feature_names(offered));
  fmt::print("          driver accepts {}: FEATURES_OK\n", feature_names(accepted));
  v.check(accepted.has(i2c::feature::zero_length_request), "ZERO_LENGTH_REQUEST negotiated");

  // ---- 1. Detect: a zero-length write to every address, as `i2cdetect -q` ------------------
  fmt::print("detect: zero-length write (SMBus quick) to 0x08-0x77, as i2cdetect -q:\n");
  fmt::print("     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f\n");
  unsigned found = 0, probes = 0;
  bool scan_right = true;
  for (std::uint16_t row = 0; row < 0x80; row += 0x10) {
    std::string line = fmt::format("{:02x}:", row);
    for (std::uint16_t a = row; a < row + 0x10; ++a) {
      if (a < 0x08 || a > 0x77) {  // reserved addresses (UM10204 table 4): not probed
        line += "   ";
        continue;
      }
      ++probes;
      auto present = fe.probe(a7(a), env);
      if (!present) {
        line += " EE";
        scan_right =
            v.check(false, fmt::format("probe {:#04x}: {}", a, errc_text(present.error())));
        continue;
      }
      found += *present ? 1 : 0;
      scan_right = scan_right && *present == bus.present(a7(a));
      line += *present ? fmt::format(" {:02x}", a) : std::string(" --");
    }
    while (line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  }
  fmt::print("  {} probes, {} answered{}\n", probes, found,
             scan_right ? ": exactly the targets on the bus" : "");
  v.check(scan_right && found == 2 && probes == 0x70, "the scan finds exactly 0x20 and 0x50");

  // ---- 2. EEPROM: page write, then a random read (write word address + read, one group) ----
  constexpr std::uint8_t word = 0x10;  // page-aligned: the 8 bytes fill one page
  constexpr std::string_view text = "i2c@0x50";
  std::array<std::byte, 1 + eeprom_type::page_size> page_msg{std::byte{word}};
  std::memcpy(page_msg.data() + 1, text.data(), text.size());
  const auto page = std::span<const std::byte>(page_msg).subspan(1);
  auto got = fe.transfer(i2c::transfer_msg::write(a7(eeprom_addr), page_msg), env);
  const bool programmed = std::ranges::equal(page, eeprom.contents().subspan(word, page.size()));
  fmt::print("eeprom: write \"{}\" at {:#04x} (word address + 8 bytes): {}; programmed at STOP:"
             " {}\n",
             text, word, outcome(got), programmed ? "yes" : "no");
  v.check(got && got->ok() && programmed, "EEPROM page write");

  std::array<std::byte, eeprom_type::page_size> back{};
  const std::byte word_byte{word};
  const std::array random_read{i2c::transfer_msg::write(a7(eeprom_addr), {&word_byte, 1}),
                               i2c::transfer_msg::read(a7(eeprom_addr), back)};
  got = fe.transfer(random_read, env);
  const bool same = std::ranges::equal(back, page);
  fmt::print("eeprom: write {:#04x} + read 8, one FAIL_NEXT group ({} messages in one bus"
             " transaction): {}\n        {}: {}\n",
             word, bus.last_transfer_size(), outcome(got), hex(back),
             same ? "the bytes written" : "NOT the bytes written");
  v.check(got && got->ok() && same && bus.last_transfer_size() == 2, "EEPROM random read");

  // ---- 3. Register map: read four registers, write one, read it back ----------------------
  std::array<std::byte, sensor.size()> reg_vals{};
  const std::byte reg0{0x00};
  const std::array read_regs{i2c::transfer_msg::write(a7(regmap_addr), {&reg0, 1}),
                             i2c::transfer_msg::read(a7(regmap_addr), reg_vals)};
  got = fe.transfer(read_regs, env);
  bool regs_right = true;
  for (std::size_t r = 0; r < sensor.size(); ++r)
    regs_right = regs_right && std::to_integer<std::uint8_t>(reg_vals[r]) == sensor[r];
  fmt::print("regmap: write 0x00 + read 4: {}: {}{}\n", outcome(got), hex(reg_vals),
             regs_right ? " (id, status, temperature: as the host set them)" : "");
  v.check(got && got->ok() && regs_right, "register read");

  const std::array<std::byte, 2> set_reg{std::byte{0x08}, std::byte{0x3C}};
  got = fe.transfer(i2c::transfer_msg::write(a7(regmap_addr), set_reg), env);
  std::byte reg8{};
  const std::array read_reg8{i2c::transfer_msg::write(a7(regmap_addr), {&set_reg[0], 1}),
                             i2c::transfer_msg::read(a7(regmap_addr), {&reg8, 1})};
  auto got8 = fe.transfer(read_reg8, env);
  fmt::print("regmap: write 0x3c to register 0x08: {}; read it back: {}: {:#04x}\n",
             outcome(got), outcome(got8), std::to_integer<unsigned>(reg8));
  v.check(got && got->ok() && got8 && got8->ok() && reg8 == std::byte{0x3C} && regs.get(8) == 0x3C,
          "register write and read back");

  // ---- 4. A failing transfer: its first message names an absent target --------------------
  // Nobody ACKs the address and the bus ends the transaction; the device answers that request
  // ERR and every later one of its group too (§5.16.6.4), so the EEPROM read never happens, and
  // the front-end copies nothing into the read buffer (a driver MUST NOT use buf after ERR).
  std::array<std::byte, 4> untouched{};
  untouched.fill(std::byte{0xEE});
  const std::uint8_t pointer_before = eeprom.pointer();
  const std::uint64_t failed_before = bus.failed_transfers();
  const std::array doomed{i2c::transfer_msg::write(a7(absent_addr), {&reg0, 1}),
                          i2c::transfer_msg::read(a7(eeprom_addr), untouched)};
  got = fe.transfer(doomed, env);
  const bool group_failed = got && got->messages == 2 && got->succeeded == 0 &&
                            got->failure == errc::i2c_message_failed;
  const bool not_read =
      eeprom.pointer() == pointer_before &&
      std::ranges::all_of(untouched, [](std::byte b) { return b == std::byte{0xEE}; });
  fmt::print("fail: write {:#04x} (absent) + read {:#04x}, one group: {}\n      {}\n",
             absent_addr, eeprom_addr, outcome(got),
             not_read ? "the read of its group failed too: EEPROM not read, buffer untouched"
                      : "the read ran or its buffer was written");
  v.check(group_failed && not_read && bus.failed_transfers() == failed_before + 1,
          "a NACKed first message fails its whole group");

  // ---- 5. A hostile request, made by hand on the front-end's queue -------------------------
  // A read (M_RD) of 4 bytes from the EEPROM whose buf is device-READABLE: a read's buf MUST be
  // device-writable (§5.16.6.3), so honouring it would mean writing into memory the guest gave
  // as read-only. The front-end has nothing in flight, so this completion is ours to take.
  v.check(fe.in_flight() == 0 && drvq.in_flight() == 0,
          "the queue is idle before the hostile request");
  auto hdr = i2c::make_out_hdr(a7(eeprom_addr), i2c::direction::read, false);
  if (!hdr) return fail("make_out_hdr", hdr.error());
  const gpa buf_at = scratch.offset(sizeof(i2c::out_hdr));
  const gpa status_at = scratch.offset(32);
  std::memcpy(ram_at(scratch, sizeof *hdr).data(), &*hdr, sizeof *hdr);
  std::ranges::fill(ram_at(buf_at, 4), std::byte{0xA5});
  ram_at(status_at, 1)[0] = std::byte{0xFF};  // not a status: the device must write one
  const ring::buffer readable[] = {{scratch, sizeof(i2c::out_hdr)}, {buf_at, 4}};
  const ring::buffer writable[] = {{status_at, 1}};
  constexpr std::uint64_t hostile_tag = 0xBAD;
  const std::uint64_t transfers_before = bus.transfers();
  auto id = drvq.add(readable, writable, hostile_tag, ring::add_mode::direct);
  if (!id) return fail("driver: add", id.error());
  if (drvq.needs_kick()) env.kick(i2c::requestq);
  env.wait();
  auto used = drvq.reclaim();
  const bool came_back = used && *used && (*used)->user_data == hostile_tag;
  const std::uint32_t used_len = came_back ? (*used)->len : 0;
  const auto st = std::to_integer<std::uint8_t>(ram_at(status_at, 1)[0]);
  const bool buf_kept =
      std::ranges::all_of(ram_at(buf_at, 4), [](std::byte b) { return b == std::byte{0xA5}; });
  fmt::print("hostile: a read request whose buf is device-readable, added by hand\n"
             "      device: {}\n"
             "      completed with status {}{}, used length {}; bus not used: {}; buf unchanged:"
             " {}\n",
             errc_text(dev.stats().last_error), st, st == 1 ? " (ERR)" : "", used_len,
             bus.transfers() == transfers_before ? "yes" : "no", buf_kept ? "yes" : "no");
  v.check(came_back && used_len == 1 && st == static_cast<std::uint8_t>(i2c::status::err) &&
              dev.stats().last_error == errc::i2c_read_buffer_readable &&
              dev.stats().malformed == 1 && bus.transfers() == transfers_before && buf_kept,
          "the malformed request is rejected with ERR");

  // The device keeps working: the front-end probes the EEPROM again.
  auto again = fe.probe(a7(eeprom_addr), env);
  fmt::print("      then: probe {:#04x}: {}\n", eeprom_addr,
             again ? (*again ? "present" : "absent") : errc_text(again.error()));
  v.check(again && *again, "the device survives the hostile request");

  if (device_broke) v.check(false, fmt::format("device queue broke: {}", errc_text(*device_broke)));
  const auto& s = dev.stats();
  const bool pass = v.failed == 0 && fe.in_flight() == 0 && !drvq.broken() && !devq.broken();
  fmt::print("summary ({} ring): {} requests OK, {} ERR ({} malformed), {} bus transactions;"
             " kicks {}, waits {}, used-buffer notifications {}; {}/{} checks: {}\n",
             packed ? "packed" : "split", s.requests_ok, s.requests_err, s.malformed,
             bus.transfers(), kicks, waits, notified, v.passed, v.passed + v.failed,
             pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
