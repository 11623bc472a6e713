// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the module side of Greybus over virtio, fed by a hostile AP. Frames go through
// the binding's parser (vireo/greybus/virtio/binding.hpp parse_frame) and, when it accepts
// them, into a module interface (vireo/greybus/module/*.hpp) with a GPIO responder over a
// simulated chip and an I2C responder over a simulated bus with a 24C02 EEPROM. Host events
// (input levels, chip and bus faults, a transport reset) come in between.
//
// Input (docs/fuzzing.md, "`greybus_module` input"):
//   u16 max_message_size  the binding's limit given to parse_frame (any value)
//   u16 cport_count       the CPort bound given to parse_frame (any value)
//   u8  event_room        size of the buffer next_outgoing() writes into: event_room % 32
//   then at most 128 records, each starting with u8 ctl:
//   ctl bit 7 set: a host event. Bits 4-6: 0-3 chip.set_input(ctl & 7, level bit 3);
//                  4 chip.inject_fault(ctl & 7, bit 3); 5 bus.nack_once(0x50 | bit 3);
//                  6 bus.fail_after(ctl & 7), or clear_faults() with bit 3; 7 disconnect_all()
//   ctl bit 7 clear: a frame. Bits 0-1 the response room: 0 max_message_size, 1 2048,
//                  2 a following u8, 3 (ctl >> 2) & 7 (too small for any answer);
//                  bit 6 raw: the message goes to the module even when parse_frame refuses
//                  the frame (a transport that checks nothing; CPort from the first 2 bytes);
//                  then u16 n and the frame's n bytes (fewer if the input ends).
// Invariants: parse_frame's result agrees with the frame (cport < cport_count, size field =
// bytes after the transport header, frame within 4 + max_message_size); every answer fits the
// room, decodes strictly as a response with the request's id and type, and is a frame the AP
// side parses; a request with id 0 (and Control Mode Switch) gets none; a request with an id on
// a CPort of the manifest gets one whenever 8 bytes of room exist; errors are typed; outgoing
// messages fit their buffer and are GPIO IRQ Events (unidirectional, line < exposed lines) on
// a connected CPort; the drain ends; and the module still answers Control Version at the end.
// Every frame, answer and event sits in a heap buffer of its exact size (ASan: overreads and
// overwrites are reported).
//
// Seeds: build this file with -DVIREO_FUZZ_WRITE_SEEDS (see the end) and run it with the
// corpus directory.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

#include "fuzz_input.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/manifest_builder.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/gpio_responder.hpp"
#include "vireo/greybus/module/i2c_responder.hpp"
#include "vireo/greybus/module/module.hpp"
#include "vireo/greybus/virtio/binding.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbm = vireo::greybus::module;
namespace gbv = vireo::greybus::virtio;
using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo_fuzz::byte_source;
using vireo_fuzz::exact_buffer;

constexpr std::size_t kMaxRecords = 128;
constexpr std::size_t kMaxDrain = 1024;  // a drain longer than this never ends: a bug

// The board: CPort 1 GPIO (bundle 1), CPort 2 I2C (bundle 2), CPort 3 GPIO (bundle 1) with no
// responder attached (answers PROTOCOL_BAD once connected).
constexpr std::uint16_t kGpioCport = 1;
constexpr std::uint16_t kI2cCport = 2;
constexpr std::uint16_t kBareCport = 3;
constexpr std::array<std::uint16_t, 4> kExposedLines = {1, 3, 4, 6};  // Greybus line i -> host
constexpr std::array<std::uint16_t, 2> kAllowed = {0x50, 0x51};        // 0x51: nobody there
constexpr std::uint16_t kEepromAddr = 0x50;

using chip_type = vireo::gpio::sim::chip<8, 16>;
using bus_type = vireo::i2c::sim::bus<2>;
using gpio_type = gbm::gpio_responder<chip_type, 4>;
using i2c_type = gbm::i2c_responder<bus_type, 8, 2>;
using interface_type = gbm::interface<4, 4, 8>;

const_bytes board_manifest() {
  static std::array<std::byte, 128> m{};
  static const std::size_t n = [] {
    gb::manifest_builder b{m};
    bool ok = b.add_interface(1, 2).has_value();
    ok = ok && b.add_string(1, "Vireo").has_value();
    ok = ok && b.add_string(2, "fuzz board").has_value();
    ok = ok && b.add_bundle(1, 0x0a).has_value();
    ok = ok && b.add_cport(kGpioCport, 1, 0x02).has_value();
    ok = ok && b.add_cport(kBareCport, 1, 0x02).has_value();
    ok = ok && b.add_bundle(2, 0x0a).has_value();
    ok = ok && b.add_cport(kI2cCport, 2, 0x03).has_value();
    const auto size = b.finish();
    FUZZ_CHECK(ok && size.has_value());
    return *size;
  }();
  return const_bytes{m}.first(n);
}

bool manifest_cport(std::uint16_t c) {
  return c == 0 || c == kGpioCport || c == kI2cCport || c == kBareCport;
}

struct board {
  chip_type chip{8};
  bus_type bus;
  vireo::i2c::sim::eeprom_24c02 eeprom;
  std::optional<gpio_type> gpio;
  std::optional<i2c_type> i2c;
  std::optional<interface_type> iface;

  board() {
    FUZZ_CHECK(bus.attach(*vireo::i2c::address::seven_bit(kEepromAddr), eeprom).has_value());
    auto g = gpio_type::create(chip, kExposedLines);
    auto i = i2c_type::create(bus, kAllowed);
    auto f = interface_type::create(board_manifest());
    FUZZ_CHECK(g.has_value() && i.has_value() && f.has_value());
    gpio.emplace(*g);
    i2c.emplace(*i);
    iface.emplace(*f);
    FUZZ_CHECK(iface->attach(kGpioCport, *gpio).has_value());
    FUZZ_CHECK(iface->attach(kI2cCport, *i2c).has_value());
  }
  board(const board&) = delete;
  board& operator=(const board&) = delete;
};

struct limits {
  std::uint16_t max_message_size;
  std::uint16_t cport_count;
};

/// What the AP side of the binding would make of `message` sent on `cport`: when it fits a
/// frame of this config, parse_frame must give back the CPort and the message.
void check_as_frame(std::uint16_t cport, const_bytes message, const limits& lim) {
  if (cport >= lim.cport_count) return;
  if (message.size() > lim.max_message_size) return;
  exact_buffer f(gbv::transport_header_size + message.size());
  const auto n = gbv::write_frame(cport, message, f.view());
  FUZZ_CHECK(n.has_value() && *n == f.size);
  const auto back = gbv::parse_frame(f.view(), lim.max_message_size, lim.cport_count);
  FUZZ_CHECK(back.has_value() && back->cport == cport);
  FUZZ_CHECK(back->msg.hdr.size.get() == message.size());
}

/// Send every waiting module-initiated message; each must be a GPIO IRQ Event.
void drain(board& b, std::size_t event_room, const limits& lim) {
  exact_buffer ev(event_room);
  for (std::size_t k = 0;; ++k) {
    FUZZ_CHECK(k < kMaxDrain);
    const auto o = b.iface->next_outgoing(ev.view());
    if (!o) return;
    FUZZ_CHECK(o->size >= gb::header_size && o->size <= ev.size);
    FUZZ_CHECK(o->cport == kGpioCport);
    FUZZ_CHECK(b.iface->state(o->cport) == gbm::cport_state::connected);
    const const_bytes msg{ev.p.get(), o->size};
    const auto m = gb::decode(msg, gb::decode_options{true});
    FUZZ_CHECK(m.has_value() && !m->response() && m->unidirectional());
    FUZZ_CHECK(m->type() == gb::gpio::irq_event::type);
    FUZZ_CHECK(m->payload.size() == 1);
    FUZZ_CHECK(std::to_integer<std::size_t>(m->payload[0]) < kExposedLines.size());
    check_as_frame(o->cport, msg, lim);
  }
}

void host_event(board& b, std::uint8_t ctl) {
  const std::uint16_t line = ctl & 7;
  const bool bit3 = (ctl & 8) != 0;
  switch ((ctl >> 4) & 7) {
    case 4: b.chip.inject_fault(line, bit3); break;
    case 5: b.bus.nack_once(*vireo::i2c::address::seven_bit(bit3 ? 0x51 : 0x50)); break;
    case 6:
      if (bit3) b.bus.clear_faults();
      else b.bus.fail_after(line);
      break;
    case 7: b.iface->disconnect_all(); break;
    default:
      b.chip.set_input(line, bit3 ? vireo::gpio::level::high : vireo::gpio::level::low);
  }
}

/// One message to the module on `cport`, answered into `room` bytes; checks the answer.
void deliver(board& b, std::uint16_t cport, const_bytes message, std::size_t room,
             const limits& lim) {
  exact_buffer out(room);
  const auto n = b.iface->handle(cport, message, out.view());
  const auto req = gb::decode(message);  // the module's own rules: lenient (Linux)
  const bool request = req.has_value() && !req->response();
  // Control Mode Switch is unidirectional by definition, whatever id it carries.
  const bool silent = request && (req->unidirectional() ||
                                  (cport == 0 && req->type() == gb::control::mode_switch::type));
  if (!n) {
    FUZZ_CHECK(vireo::error_message(n.error()) != "unknown error");
    // A request with an id on a CPort the manifest lists is answered whenever 8 bytes fit.
    FUZZ_CHECK(!(request && !silent && manifest_cport(cport) && room >= gb::header_size));
    if (request && silent && manifest_cport(cport))
      FUZZ_CHECK(n.error() == errc::greybus_connection_not_ready);
    return;
  }
  FUZZ_CHECK(*n <= room);
  if (*n == 0) {
    FUZZ_CHECK(silent);
    return;
  }
  FUZZ_CHECK(request && !silent);
  FUZZ_CHECK(*n >= gb::header_size);
  const const_bytes answer{out.p.get(), *n};
  const auto rsp = gb::decode(answer, gb::decode_options{true});
  FUZZ_CHECK(rsp.has_value());
  FUZZ_CHECK(rsp->response() && rsp->id() == req->id() && rsp->type() == req->type());
  // An error response carries no payload (§1).
  if (rsp->failed()) FUZZ_CHECK(rsp->payload.empty());
  check_as_frame(cport, answer, lim);
}

void frame_record(board& b, std::uint8_t ctl, byte_source& in, const limits& lim) {
  std::size_t room = 0;
  switch (ctl & 3) {
    case 0: room = lim.max_message_size; break;
    case 1: room = gbv::default_max_message_size; break;
    case 2: room = in.u8(); break;
    default: room = (ctl >> 2) & 7;
  }
  const bool raw = (ctl & 0x40) != 0;
  const std::uint16_t want = in.u16();
  const auto src = in.take(want);
  exact_buffer frame(src.size());
  if (!src.empty()) std::memcpy(frame.p.get(), src.data(), src.size());
  const const_bytes whole{frame.p.get(), frame.size};

  const auto f = gbv::parse_frame(whole, lim.max_message_size, lim.cport_count);
  if (f) {
    FUZZ_CHECK(whole.size() >= gbv::min_frame_size);
    FUZZ_CHECK(whole.size() <= gbv::frame_capacity(lim.max_message_size));
    FUZZ_CHECK(f->cport < lim.cport_count);
    FUZZ_CHECK(f->msg.hdr.size.get() == whole.size() - gbv::transport_header_size);
    FUZZ_CHECK(f->msg.trailing == 0);
    FUZZ_CHECK(f->msg.payload.size() == whole.size() - gbv::min_frame_size);
    FUZZ_CHECK(f->msg.payload.empty() ||
               f->msg.payload.data() == frame.p.get() + gbv::min_frame_size);
    FUZZ_CHECK(f->cport == (std::to_integer<unsigned>(whole[0]) |
                            std::to_integer<unsigned>(whole[1]) << 8));
    deliver(b, f->cport, whole.subspan(gbv::transport_header_size), room, lim);
  } else {
    FUZZ_CHECK(vireo::error_message(f.error()) != "unknown error");
    if (!raw || whole.size() < gbv::transport_header_size) return;
    const auto cport = static_cast<std::uint16_t>(std::to_integer<unsigned>(whole[0]) |
                                                  std::to_integer<unsigned>(whole[1]) << 8);
    deliver(b, cport, whole.subspan(gbv::transport_header_size), room, lim);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_source in{data, size};
  limits lim{};
  lim.max_message_size = in.u16();
  lim.cport_count = in.u16();
  const std::size_t event_room = in.u8() % 32;

  board b;
  for (std::size_t k = 0; k < kMaxRecords && !in.empty(); ++k) {
    const std::uint8_t ctl = in.u8();
    if (ctl & 0x80) host_event(b, ctl);
    else frame_record(b, ctl, in, lim);
    drain(b, event_room, lim);
  }

  // Whatever came before, the module still answers Control Version on CPort 0.
  const gb::header h = gb::make_request_header(0x1234, gb::control::version::type, 2);
  std::array<std::byte, gb::header_size + 2> ver{};
  std::memcpy(ver.data(), &h, sizeof h);
  ver[gb::header_size] = std::byte{0};
  ver[gb::header_size + 1] = std::byte{1};
  exact_buffer out(64);
  const auto n = b.iface->handle(0, ver, out.view());
  FUZZ_CHECK(n.has_value() && *n == gb::header_size + 2);
  const auto rsp = gb::decode({out.p.get(), *n}, gb::decode_options{true});
  FUZZ_CHECK(rsp.has_value() && rsp->id() == 0x1234 && !rsp->failed());
  return 0;
}

#ifdef VIREO_FUZZ_WRITE_SEEDS
// Seed writer: g++ -std=c++20 -Iinclude -Ifuzz -DVIREO_FUZZ_WRITE_SEEDS fuzz/greybus_module.cpp
//              -o /tmp/seeds && /tmp/seeds fuzz/corpus/greybus_module
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

struct seed {
  std::vector<std::uint8_t> b;
  void u8(unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void u16(unsigned v) {
    u8(v & 0xff);
    u8((v >> 8) & 0xff);
  }
  /// A frame record: room selector `room_sel` (+ a u8 room for selector 2), raw flag.
  void frame(std::uint16_t cport, std::vector<std::uint8_t> msg, unsigned ctl = 0,
             unsigned room = 0) {
    u8(ctl);
    if ((ctl & 3) == 2) u8(room);
    u16(static_cast<unsigned>(4 + msg.size()));
    u16(cport);
    u16(0);
    b.insert(b.end(), msg.begin(), msg.end());
  }
  void request(std::uint16_t cport, std::uint16_t id, std::uint8_t type,
               std::initializer_list<std::uint8_t> payload, unsigned ctl = 0, unsigned room = 0) {
    std::vector<std::uint8_t> m{static_cast<std::uint8_t>((8 + payload.size()) & 0xff),
                                static_cast<std::uint8_t>((8 + payload.size()) >> 8),
                                static_cast<std::uint8_t>(id & 0xff),
                                static_cast<std::uint8_t>(id >> 8),
                                type, 0, 0, 0};
    m.insert(m.end(), payload.begin(), payload.end());
    frame(cport, m, ctl, room);
  }
  void event(unsigned ctl) { u8(0x80 | ctl); }
};

seed header(std::uint16_t mms = 2048, std::uint16_t cports = 4, unsigned event_room = 16) {
  seed s;
  s.u16(mms);
  s.u16(cports);
  s.u8(event_room);
  return s;
}

void connect(seed& s, std::uint16_t id, std::uint16_t cport) {
  s.request(0, id, 0x05, {static_cast<std::uint8_t>(cport), 0});
}

void write(const std::string& dir, const char* name, const seed& s) {
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(s.b.data(), 1, s.b.size(), f) != s.b.size()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  {  // Linux's enumeration: Version, Manifest Size, Manifest, Bundle Activate, Connected.
    seed s = header();
    s.request(0, 1, 0x01, {0, 1});
    s.request(0, 2, 0x03, {});
    s.request(0, 3, 0x04, {});
    s.request(0, 4, 0x12, {1});
    s.request(0, 5, 0x12, {2});
    connect(s, 6, kGpioCport);
    connect(s, 7, kI2cCport);
    connect(s, 8, kBareCport);
    s.request(0, 9, 0x0b, {1});
    s.request(kBareCport, 10, 0x02, {});  // no responder: PROTOCOL_BAD
    write(dir, "enumerate", s);
  }
  {  // GPIO: every operation, an output, an edge IRQ on line 0 (host line 1) and level IRQs.
    seed s = header();
    connect(s, 1, kGpioCport);
    s.request(kGpioCport, 2, 0x02, {});
    s.request(kGpioCport, 3, 0x03, {0});
    s.request(kGpioCport, 4, 0x07, {1, 1});
    s.request(kGpioCport, 5, 0x09, {1, 0});
    s.request(kGpioCport, 6, 0x08, {1});
    s.request(kGpioCport, 7, 0x05, {1});
    s.request(kGpioCport, 8, 0x06, {0});
    s.request(kGpioCport, 9, 0x0a, {0, 0x10, 0});
    s.request(kGpioCport, 10, 0x0b, {0, 0x01});  // edge rising
    s.request(kGpioCport, 11, 0x0d, {0});        // unmask
    s.event(0x08 | 1);                          // host line 1 high: IRQ Event line 0
    s.event(0x00 | 1);
    s.request(kGpioCport, 12, 0x0d, {0});
    s.event(0x08 | 1);
    s.request(kGpioCport, 13, 0x0b, {2, 0x04});  // level high on host line 4
    s.request(kGpioCport, 14, 0x0d, {2});
    s.event(0x08 | 4);
    s.request(kGpioCport, 15, 0x0c, {2});
    s.request(kGpioCport, 16, 0x0d, {2});
    s.request(kGpioCport, 17, 0x0b, {3, 0x08});  // level low on host line 6
    s.request(kGpioCport, 18, 0x0d, {3});
    s.event(0x00 | 6);
    s.request(kGpioCport, 19, 0x04, {0});
    s.request(kGpioCport, 20, 0x00, {1});        // CPort Shutdown phase 1
    write(dir, "gpio_operations_and_irqs", s);
  }
  {  // I2C: functionality, EEPROM write then write+read, a refused address, a NACK, a bus fault.
    seed s = header();
    connect(s, 1, kI2cCport);
    s.request(kI2cCport, 2, 0x02, {});
    s.request(kI2cCport, 3, 0x05, {1, 0, 0x50, 0, 0, 0, 3, 0, 0x10, 0xaa, 0xbb});
    s.request(kI2cCport, 4, 0x05, {2, 0, 0x50, 0, 0, 0, 1, 0, 0x50, 0, 1, 0, 2, 0, 0x10});
    s.request(kI2cCport, 5, 0x05, {1, 0, 0x52, 0, 1, 0, 1, 0});  // not on the allow-list
    s.request(kI2cCport, 6, 0x05, {1, 0, 0x51, 0, 1, 0, 1, 0});  // allowed, nobody there
    s.event(0x50);                                               // NACK 0x50 once
    s.request(kI2cCport, 7, 0x05, {1, 0, 0x50, 0, 1, 0, 4, 0});
    s.event(0x60);                                               // fail_after(0)
    s.request(kI2cCport, 8, 0x05, {1, 0, 0x50, 0, 1, 0, 4, 0});
    s.event(0x68);                                               // clear faults
    s.request(kI2cCport, 9, 0x05, {1, 0, 0x50, 0, 1, 0, 0xff, 0}, 2, 40);  // read too big: OVERFLOW
    write(dir, "i2c_transfers", s);
  }
  {  // Teardown as Linux does it, then requests on the closed CPort, then a transport reset.
    seed s = header();
    connect(s, 1, kGpioCport);
    s.request(kGpioCport, 2, 0x0b, {0, 0x03});
    s.request(kGpioCport, 3, 0x0d, {0});
    s.request(0, 4, 0x0c, {1, 0});          // Disconnecting
    s.event(0x08 | 1);                      // an edge while disconnecting: no event goes out
    s.request(kGpioCport, 5, 0x02, {});     // refused: INVALID_STATE
    s.request(kGpioCport, 6, 0x00, {1});    // CPort Shutdown phases 1 and 2
    s.request(kGpioCport, 7, 0x00, {2});
    s.request(0, 8, 0x06, {1, 0});          // Disconnected
    s.request(kGpioCport, 9, 0x02, {});
    s.request(kGpioCport, 0, 0x09, {0, 1}); // unidirectional on a closed CPort
    connect(s, 10, kGpioCport);
    connect(s, 11, kI2cCport);
    s.event(0x70);                          // disconnect_all
    s.request(kI2cCport, 12, 0x02, {});
    s.request(0, 13, 0x0f, {1});            // Bundle Suspend, Resume, Deactivate
    s.request(0, 14, 0x10, {1});
    s.request(0, 15, 0x11, {2});
    s.request(0, 16, 0x13, {});
    s.request(0, 17, 0x14, {});
    s.request(0, 18, 0x15, {});
    s.request(0, 19, 0x0e, {});             // Mode Switch: never answered
    write(dir, "teardown_and_pm", s);
  }
  {  // Malformed frames: short, too large, bad CPort, size mismatch, responses, trailing bytes.
    seed s = header(64, 3, 9);
    s.u8(0);
    s.u16(3);
    s.u8(1), s.u8(0), s.u8(0);                                  // shorter than a transport header
    s.request(7, 1, 0x02, {});                                  // CPort >= cport_count
    s.request(0, 2, 0x04, {});                                  // Get Manifest: does not fit 64
    s.request(0, 3, 0x81, {0, 1});                              // a response: dropped
    s.frame(0, {12, 0, 4, 0, 0x01, 0, 0, 0, 0, 1});             // size field beyond the frame
    s.frame(0, {8, 0, 5, 0, 0x01, 0, 0, 0, 0, 1}, 0x40);        // trailing bytes, raw mode
    s.frame(1, {8, 0, 6, 0, 0x02, 0, 0, 0, 0xee}, 0x40);        // raw on a closed CPort
    s.request(0, 7, 0x01, {0}, 3 | (5 << 2));                   // room 5: nothing fits
    s.request(0, 8, 0x01, {0, 1}, 2, 8);                        // room 8: OVERFLOW
    s.request(0, 9, 0x7f, {});                                  // type Invalid
    s.request(0, 10, 0x05, {9, 0});                             // Connected on an unknown CPort
    s.request(0, 0, 0x05, {1, 0});                              // unidirectional Connected
    write(dir, "malformed_frames", s);
  }
  {  // A small transport: 16-byte messages, events into a buffer too small, then room again.
    seed s = header(16, 4, 5);
    connect(s, 1, kGpioCport);
    s.request(kGpioCport, 2, 0x0b, {1, 0x03});
    s.request(kGpioCport, 3, 0x0d, {1});
    s.event(0x08 | 3);
    s.request(0, 4, 0x03, {});
    write(dir, "small_transport", s);
  }
  return 0;
}
#endif  // VIREO_FUZZ_WRITE_SEEDS
