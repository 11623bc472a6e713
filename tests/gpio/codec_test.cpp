// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/gpio/codec.hpp: request decode and validation, response encode (device side),
// request encode and response decode (driver side), config space and the eventq pair, over host
// buffers and over descriptor chains split every possible way.
#include "test_support.hpp"
#include "vireo/gpio/codec.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "vireo/chain/cursor.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"

namespace {

using namespace std::string_view_literals;

using vireo::byte_reader;
using vireo::byte_writer;
using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::gpa;
using vireo::chain::segment;
using vireo_test::err;

namespace gpio = vireo::gpio;
namespace wire = vireo::gpio::wire;
using gpio::device_params;
using gpio::direction;
using gpio::irq_type;
using gpio::level;
using gpio::msg_type;
using gpio::request;

using bvec = std::vector<std::byte>;

bvec bv(std::initializer_list<unsigned> l) {
  bvec v;
  for (unsigned x : l) v.push_back(static_cast<std::byte>(x));
  return v;
}

bvec raw_bytes(std::uint16_t type, std::uint16_t gpio, std::uint32_t value) {
  return bv({type & 0xffu, (type >> 8u) & 0xffu, gpio & 0xffu, (gpio >> 8u) & 0xffu, value & 0xffu,
             (value >> 8) & 0xffu, (value >> 16) & 0xffu, value >> 24});
}

constexpr wire::request raw(std::uint16_t type, std::uint16_t gpio, std::uint32_t value) {
  wire::request r{};
  r.type.set(type);
  r.gpio.set(gpio);
  r.value.set(value);
  return r;
}

bvec bytes_of(const wire::request& r) {
  const auto b = vireo::as_bytes_of(r);
  return {b.begin(), b.end()};
}

constexpr std::uint16_t T_NAMES = 1, T_GET_DIR = 2, T_SET_DIR = 3, T_GET_VAL = 4, T_SET_VAL = 5,
                        T_IRQ = 6;

// A device with 8 lines, a 32-byte names blob and interrupts.
constexpr device_params dev{8, 32, true};
constexpr device_params no_irq{8, 32, false};
constexpr device_params no_names{8, 0, true};

// Every well-formed request for a device of 8 lines with names and interrupts.
std::vector<request> all_valid_requests() {
  std::vector<request> out{gpio::get_line_names{}};
  for (std::uint16_t g : {0, 1, 7}) {
    out.push_back(gpio::get_direction{g});
    out.push_back(gpio::get_value{g});
    for (auto d : {direction::none, direction::out, direction::in})
      out.push_back(gpio::set_direction{g, d});
    for (auto v : {level::low, level::high}) out.push_back(gpio::set_value{g, v});
    for (auto t : {irq_type::none, irq_type::edge_rising, irq_type::edge_falling,
                   irq_type::edge_both, irq_type::level_high, irq_type::level_low})
      out.push_back(gpio::set_irq_type{g, t});
  }
  return out;
}

// Guest memory with helpers to lay a byte stream over a list of segments.
struct guest {
  static constexpr std::uint64_t base = 0x40000;
  alignas(16) std::array<std::byte, 0x2000> ram{};
  vireo::flat_memory flat{ram, gpa{base}};
  vireo::faulty_memory<vireo::flat_memory> mem{flat};

  // Segments of the given lengths, from `at` on with a 3-byte gap between them; segment i has
  // no host view (the cursor copies through the memory model) when bit i of `unmapped` is set.
  std::vector<segment> place(std::size_t at, std::span<const std::size_t> lens,
                             unsigned unmapped = 0) {
    std::vector<segment> segs;
    for (std::size_t i = 0; i < lens.size(); ++i) {
      const bool um = ((unmapped >> i) & 1u) != 0;
      segs.push_back(segment{um ? nullptr : ram.data() + at, gpa{base + at},
                             static_cast<std::uint32_t>(lens[i])});
      at += lens[i] + 3;
    }
    return segs;
  }
  void fill(std::span<const segment> segs, const_bytes data) {
    std::size_t k = 0;
    for (const segment& s : segs)
      for (std::uint32_t i = 0; i < s.len && k < data.size(); ++i)
        ram[s.addr.raw() - base + i] = data[k++];
  }
  bvec gather(std::span<const segment> segs) const {
    bvec out;
    for (const segment& s : segs)
      for (std::uint32_t i = 0; i < s.len; ++i) out.push_back(ram[s.addr.raw() - base + i]);
    return out;
  }
  static std::size_t total(std::span<const segment> segs) {
    std::size_t t = 0;
    for (const segment& s : segs) t += s.len;
    return t;
  }
  auto reader(std::span<const segment> segs) {
    return vireo::chain::reader<decltype(mem)>{mem, segs, total(segs)};
  }
  auto writer(std::span<const segment> segs) {
    return vireo::chain::writer<decltype(mem)>{mem, segs, total(segs)};
  }
};

// The lengths of the pieces that cut `n` bytes at the positions set in `mask` (bit i: a cut
// after byte i): every way of splitting a message into descriptors.
std::vector<std::size_t> cuts(std::size_t n, unsigned mask) {
  std::vector<std::size_t> lens;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if ((mask >> i) & 1u) {
      lens.push_back(i + 1 - start);
      start = i + 1;
    }
  }
  lens.push_back(n - start);
  return lens;
}

static_assert(gpio::byte_input<byte_reader> && gpio::byte_input<byte_reader&>);
static_assert(gpio::byte_output<byte_writer> && gpio::byte_output<byte_writer&>);
static_assert(gpio::byte_input<vireo::chain::reader<vireo::flat_memory>>);
static_assert(gpio::byte_output<vireo::chain::writer<vireo::flat_memory>>);
static_assert(!gpio::byte_input<const_bytes> && !gpio::byte_output<bytes>);

// The codec is usable at compile time.
static_assert(gpio::decode_request(raw(T_SET_DIR, 3, 2), dev).value() ==
              request{gpio::set_direction{3, direction::in}});
static_assert(gpio::encode_request(request{gpio::get_value{7}}, dev).has_value());
static_assert(gpio::response_size(msg_type::get_line_names, 32) == 33);
static_assert(gpio::response_size(msg_type::get_line_names, 0xffffffffu) == 0x100000000u);
static_assert(sizeof(request) <= 6);

}  // namespace

// --- requests: syntax -------------------------------------------------------------------------

TEST_CASE("codec: every valid request decodes to its message and encodes back to its bytes") {
  for (const request& r : all_valid_requests()) {
    CAPTURE(static_cast<unsigned>(r.type()));
    CAPTURE(r.gpio());
    const wire::request w = gpio::to_wire(r);
    auto back = gpio::decode_request(w, dev);
    REQUIRE(back.has_value());
    CHECK(*back == r);
    auto enc = gpio::encode_request(r, dev);
    REQUIRE(enc.has_value());
    CHECK(bytes_of(*enc) == bytes_of(w));
    // And through a byte buffer, the driver's way.
    std::array<std::byte, 8> buf{};
    CHECK(gpio::encode_request(byte_writer{buf}, r, dev).value() == 8);
    CHECK(gpio::decode_request(const_bytes{buf}, dev).value() == r);
  }
}

TEST_CASE("codec: request bytes are exactly what Linux's _virtio_gpio_req writes") {
  CHECK(bytes_of(gpio::encode_request(gpio::get_line_names{}, dev).value()) ==
        raw_bytes(T_NAMES, 0, 0));
  CHECK(bytes_of(gpio::encode_request(gpio::set_direction{5, direction::out}, dev).value()) ==
        bv({3, 0, 5, 0, 1, 0, 0, 0}));
  CHECK(bytes_of(gpio::encode_request(gpio::set_value{7, level::high}, dev).value()) ==
        bv({5, 0, 7, 0, 1, 0, 0, 0}));
  CHECK(bytes_of(gpio::encode_request(gpio::set_irq_type{1, irq_type::level_low}, dev).value()) ==
        bv({6, 0, 1, 0, 8, 0, 0, 0}));
}

TEST_CASE("codec: request accessors, holds/as and visit") {
  const request r = gpio::set_irq_type{4, irq_type::edge_both};
  CHECK(r.type() == msg_type::set_irq_type);
  CHECK(r.gpio() == 4);
  CHECK(r.holds<gpio::set_irq_type>());
  CHECK_FALSE(r.holds<gpio::set_value>());
  CHECK(r.as<gpio::set_irq_type>().trigger == irq_type::edge_both);
  const int which = r.visit([](auto m) -> int { return static_cast<int>(decltype(m)::type); });
  CHECK(which == 6);
  const request n = gpio::get_line_names{};
  CHECK(n.gpio() == 0);
  CHECK(n.visit([](auto m) { return std::is_same_v<decltype(m), gpio::get_line_names>; }));
}

TEST_CASE("codec: unknown message types are refused, whatever the other fields hold") {
  for (std::uint32_t t : {0u, 7u, 8u, 0x100u, 0x8001u, 0xffffu}) {
    CAPTURE(t);
    CHECK(err(gpio::decode_request(raw(static_cast<std::uint16_t>(t), 0, 0))) ==
          errc::gpio_unknown_type);
    CHECK(err(gpio::decode_request(raw(static_cast<std::uint16_t>(t), 0xffff, 0xffffffff))) ==
          errc::gpio_unknown_type);
  }
  // The June 2021 draft's ACTIVATE (1) looks like GET_LINE_NAMES but carries a line: refused.
  CHECK(err(gpio::decode_request(raw(T_NAMES, 3, 0))) == errc::gpio_reserved_nonzero);
}

TEST_CASE("codec: value ranges per message (every 32-bit pattern class)") {
  for (std::uint32_t v : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 9u, 0x100u, 0x101u, 0x10000u, 0x80000000u,
                          0xffffffffu}) {
    CAPTURE(v);
    CHECK(gpio::decode_request(raw(T_SET_DIR, 0, v)).has_value() == (v <= 2));
    if (v > 2) CHECK(err(gpio::decode_request(raw(T_SET_DIR, 0, v))) == errc::gpio_bad_direction);
    CHECK(gpio::decode_request(raw(T_SET_VAL, 0, v)).has_value() == (v <= 1));
    if (v > 1) CHECK(err(gpio::decode_request(raw(T_SET_VAL, 0, v))) == errc::gpio_bad_value);
    for (std::uint16_t t : {T_NAMES, T_GET_DIR, T_GET_VAL}) {
      CHECK(gpio::decode_request(raw(t, 0, v)).has_value() == (v == 0));
      if (v != 0) CHECK(err(gpio::decode_request(raw(t, 0, v))) == errc::gpio_reserved_nonzero);
    }
  }
}

TEST_CASE("codec: IRQ types are 0, 1, 2, 3, 4 and 8 only (bit-like, not 0..5)") {
  for (std::uint32_t v = 0; v < 0x200; ++v) {
    CAPTURE(v);
    const bool valid = v == 0 || v == 1 || v == 2 || v == 3 || v == 4 || v == 8;
    auto r = gpio::decode_request(raw(T_IRQ, 2, v));
    CHECK(r.has_value() == valid);
    if (valid) CHECK(static_cast<std::uint32_t>(r->as<gpio::set_irq_type>().trigger) == v);
    else CHECK(err(r) == errc::gpio_bad_irq_type);
  }
  CHECK(err(gpio::decode_request(raw(T_IRQ, 2, 0x108))) == errc::gpio_bad_irq_type);
}

TEST_CASE("codec: GET_LINE_NAMES takes gpio 0 and value 0 (§5.18.6.1 table)") {
  CHECK(gpio::decode_request(raw(T_NAMES, 0, 0), dev).has_value());
  CHECK(err(gpio::decode_request(raw(T_NAMES, 1, 0), dev)) == errc::gpio_reserved_nonzero);
  CHECK(err(gpio::decode_request(raw(T_NAMES, 0, 1), dev)) == errc::gpio_reserved_nonzero);
}

// --- requests: semantics ----------------------------------------------------------------------

TEST_CASE("codec: lines must be below ngpio (§5.18.6)") {
  for (std::uint16_t t : {T_GET_DIR, T_SET_DIR, T_GET_VAL, T_SET_VAL, T_IRQ}) {
    CAPTURE(t);
    CHECK(gpio::decode_request(raw(t, 7, 0), dev).has_value());
    CHECK(err(gpio::decode_request(raw(t, 8, 0), dev)) == errc::gpio_line_out_of_range);
    CHECK(err(gpio::decode_request(raw(t, 0xffff, 0), dev)) == errc::gpio_line_out_of_range);
    CHECK(gpio::decode_request(raw(t, 0xfffe, 0), device_params{0xffff, 0, true}).has_value());
  }
  // Syntax errors come before the line check.
  CHECK(err(gpio::decode_request(raw(T_SET_DIR, 99, 3), dev)) == errc::gpio_bad_direction);
  // Without ngpio (decode_request(raw) alone) any line is well formed.
  CHECK(gpio::decode_request(raw(T_GET_VAL, 0xffff, 0)).has_value());
}

TEST_CASE("GD5 codec: no interrupt messages without VIRTIO_GPIO_F_IRQ") {
  // Device side: SET_IRQ_TYPE is refused, whatever the type (also NONE), before the line check.
  for (std::uint32_t t : {0u, 1u, 8u}) {
    CHECK(err(gpio::decode_request(raw(T_IRQ, 0, t), no_irq)) == errc::gpio_irq_not_negotiated);
  }
  CHECK(err(gpio::decode_request(raw(T_IRQ, 100, 1), no_irq)) == errc::gpio_irq_not_negotiated);
  // Driver side: the encoder will not produce one.
  CHECK(err(gpio::encode_request(gpio::set_irq_type{0, irq_type::edge_rising}, no_irq)) ==
        errc::gpio_irq_not_negotiated);
  std::array<std::byte, 8> buf{};
  CHECK(err(gpio::encode_request(byte_writer{buf}, gpio::set_irq_type{0, irq_type::none},
                                 no_irq)) == errc::gpio_irq_not_negotiated);
  // eventq: neither side uses it.
  CHECK(err(gpio::encode_irq_request(0, no_irq)) == errc::gpio_irq_not_negotiated);
  CHECK(err(gpio::decode_irq_request(bv({0, 0}), no_irq)) == errc::gpio_irq_not_negotiated);
  // Other messages are unaffected.
  CHECK(gpio::decode_request(raw(T_SET_VAL, 0, 1), no_irq).has_value());
  CHECK(gpio::queue_count(no_irq) == 1);
  CHECK(gpio::queue_count(dev) == 2);
}

TEST_CASE("GV3 codec: gpio_names_size 0 means no names, and GET_LINE_NAMES is refused") {
  auto cfg = gpio::encode_config(no_names);
  REQUIRE(cfg.has_value());
  CHECK(cfg->gpio_names_size.get() == 0);
  CHECK(err(gpio::decode_request(raw(T_NAMES, 0, 0), no_names)) == errc::gpio_names_unsupported);
  CHECK(err(gpio::encode_request(gpio::get_line_names{}, no_names)) ==
        errc::gpio_names_unsupported);
  CHECK(err(gpio::decode_names_response(bv({0}), no_names)) == errc::gpio_names_unsupported);
  // Its error response is 1 + 0 bytes: the status alone.
  CHECK(gpio::error_response_size(T_NAMES, 0) == 1);
}

TEST_CASE("codec: encode_request refuses what the device would refuse") {
  CHECK(err(gpio::encode_request(gpio::get_value{8}, dev)) == errc::gpio_line_out_of_range);
  CHECK(err(gpio::encode_request(gpio::set_direction{0, static_cast<direction>(3)}, dev)) ==
        errc::gpio_bad_direction);
  CHECK(err(gpio::encode_request(gpio::set_value{0, static_cast<level>(2)}, dev)) ==
        errc::gpio_bad_value);
  CHECK(err(gpio::encode_request(gpio::set_irq_type{0, static_cast<irq_type>(5)}, dev)) ==
        errc::gpio_bad_irq_type);
  std::array<std::byte, 7> small{};
  CHECK(err(gpio::encode_request(byte_writer{small}, gpio::get_value{0}, dev)) == errc::no_space);
}

// --- requests: framing ------------------------------------------------------------------------

TEST_CASE("GD2 GD3 codec: the readable part is exactly the 8-byte request") {
  for (std::size_t n : {0u, 1u, 5u, 7u, 9u, 12u, 16u}) {
    CAPTURE(n);
    bvec buf = raw_bytes(T_GET_VAL, 1, 0);
    buf.resize(n);
    CHECK(err(gpio::decode_request(const_bytes{buf}, dev)) == errc::gpio_request_size);
    byte_reader rd{buf};
    CHECK(err(gpio::read_request(rd)) == errc::gpio_request_size);
    CHECK(rd.consumed() == 0);  // nothing is read from a wrong-sized request
  }
  const bvec exact = raw_bytes(T_GET_VAL, 1, 0);
  byte_reader rd{exact};
  CHECK(gpio::decode_request(rd, dev).value() == request{gpio::get_value{1}});
  CHECK(rd.remaining() == 0);
  // The response buffer a driver queues next to it.
  CHECK(gpio::response_size(msg_type::get_value, dev.gpio_names_size) == 2);
  CHECK(gpio::response_size(msg_type::get_line_names, dev.gpio_names_size) == 33);
}

TEST_CASE("codec: a request decodes the same however the chain splits it (§2.7.4.1)") {
  guest g;
  for (const request& r :
       {request{gpio::set_irq_type{7, irq_type::level_high}}, request{gpio::get_line_names{}},
        request{gpio::set_value{3, level::high}}}) {
    const bvec want = bytes_of(gpio::to_wire(r));
    for (unsigned mask = 0; mask < 128; ++mask) {      // every split of 8 bytes
      for (unsigned unmapped : {0u, 0x55u, 0xffu}) {   // host views, memory-model copies, both
        CAPTURE(mask);
        CAPTURE(unmapped);
        const auto lens = cuts(8, mask);
        const auto segs = g.place(0x100, lens, unmapped);
        g.fill(segs, want);
        CHECK(gpio::decode_request(g.reader(segs), dev).value() == r);
      }
    }
  }
  // 9 bytes over three segments: refused like 9 contiguous bytes.
  const std::array<std::size_t, 3> nine{4, 4, 1};
  const auto segs = g.place(0x100, nine);
  CHECK(err(gpio::decode_request(g.reader(segs), dev)) == errc::gpio_request_size);
  // An empty readable part.
  CHECK(err(gpio::decode_request(g.reader({}), dev)) == errc::gpio_request_size);
}

TEST_CASE("codec: a memory fault while copying the request comes back as is") {
  guest g;
  const std::array<std::size_t, 2> lens{3, 5};
  const auto segs = g.place(0x200, lens, 0x2);  // the second segment goes through the model
  g.fill(segs, raw_bytes(T_GET_VAL, 0, 0));
  g.mem.fail_range(segs[1].addr, 1);
  CHECK(err(gpio::decode_request(g.reader(segs), dev)) == errc::injected_fault);
  g.mem.clear_faults();
  CHECK(gpio::decode_request(g.reader(segs), dev).has_value());
}

// --- responses: device side -------------------------------------------------------------------

TEST_CASE("GV1 GV14 codec: responses set both fields; OK is 0 on success, ERR 1 on failure") {
  std::array<std::byte, 2> buf{};
  auto put = [&](auto&& f) {
    buf.fill(std::byte{0xaa});  // whatever the driver left in its buffer
    byte_writer w{buf};
    auto n = f(w);
    REQUIRE(n.has_value());
    CHECK(*n == 2);
    return bvec(buf.begin(), buf.end());
  };
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w); }) == bv({0, 0}));
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w, direction::none); }) == bv({0, 0}));
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w, direction::out); }) == bv({0, 1}));
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w, direction::in); }) == bv({0, 2}));
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w, level::low); }) == bv({0, 0}));
  CHECK(put([](byte_writer& w) { return gpio::encode_ok(w, level::high); }) == bv({0, 1}));
  CHECK(put([](byte_writer& w) { return gpio::encode_error(w, 2); }) == bv({1, 0}));
  CHECK(put([](byte_writer& w) { return gpio::encode_response(w, gpio::status::err, 0); }) ==
        bv({1, 0}));
}

TEST_CASE("codec: a 2-byte response into writable parts of every length") {
  for (std::size_t room = 0; room < 6; ++room) {
    CAPTURE(room);
    bvec buf(room, std::byte{0xaa});
    auto n = gpio::encode_ok(byte_writer{buf}, direction::in);
    if (room < 2) {
      CHECK(err(n) == errc::gpio_response_too_short);
      CHECK(buf == bvec(room, std::byte{0xaa}));  // nothing written
    } else {
      CHECK(n.value() == 2);  // the used length is the response, not the buffer
      CHECK(buf[0] == std::byte{0});
      CHECK(buf[1] == std::byte{2});
      for (std::size_t i = 2; i < room; ++i) CHECK(buf[i] == std::byte{0xaa});
    }
  }
}

TEST_CASE("GV1 codec: error responses are sized by the request and zero-filled") {
  const auto is_zero = [](std::byte b) { return b == std::byte{0}; };
  CHECK(gpio::error_response_size(T_GET_DIR, 32) == 2);
  CHECK(gpio::error_response_size(T_NAMES, 32) == 33);
  CHECK(gpio::error_response_size(0, 32) == 2);       // unknown type: virtio_gpio_response
  CHECK(gpio::error_response_size(0xffff, 32) == 2);

  bvec big(40, std::byte{0xaa});
  CHECK(gpio::encode_error(byte_writer{big}, 33).value() == 33);
  CHECK(big[0] == std::byte{1});
  CHECK(std::all_of(big.begin() + 1, big.begin() + 33, is_zero));
  CHECK(std::all_of(big.begin() + 33, big.end(), [](std::byte b) { return b == std::byte{0xaa}; }));
  // Short of room: as much as fits, status first. Linux checks the status before the length.
  bvec one(1, std::byte{0xaa});
  CHECK(gpio::encode_error(byte_writer{one}, 2).value() == 1);
  CHECK(one[0] == std::byte{1});
  bvec none;
  CHECK(gpio::encode_error(byte_writer{none}, 2).value() == 0);
  bvec ten(10, std::byte{0xaa});
  CHECK(gpio::encode_error(byte_writer{ten}, 33).value() == 10);
  CHECK(ten[0] == std::byte{1});
  CHECK(gpio::encode_error(byte_writer{ten}, 0).value() == 0);
  // Larger than the zero block it copies from.
  bvec large(300, std::byte{0xaa});
  CHECK(gpio::encode_error(byte_writer{large}, 257).value() == 257);
  CHECK(std::all_of(large.begin() + 1, large.begin() + 257, is_zero));
  CHECK(large[257] == std::byte{0xaa});
}

TEST_CASE("codec: the GET_LINE_NAMES response is the status and the whole blob") {
  const auto blob = bv({'a', 0, 0, 'b', 'c', 0});
  const device_params p{3, 6, false};
  for (std::size_t room = 0; room < 10; ++room) {
    CAPTURE(room);
    bvec buf(room, std::byte{0xaa});
    auto n = gpio::encode_names_response(byte_writer{buf}, blob);
    if (room < 7) {
      CHECK(err(n) == errc::gpio_response_too_short);
      CHECK(buf == bvec(room, std::byte{0xaa}));
      continue;
    }
    CHECK(n.value() == 7);
    CHECK(buf[0] == std::byte{0});
    CHECK(std::equal(blob.begin(), blob.end(), buf.begin() + 1));
    // The driver's side of the same bytes.
    auto names = gpio::decode_names_response(const_bytes{buf}.first(*n), p);
    REQUIRE(names.has_value());
    CHECK(names->name(2).value() == "bc");
  }
}

TEST_CASE("codec: invalid enum values given to an encoder are caller errors, not bytes") {
  std::array<std::byte, 4> buf{};
  CHECK(err(gpio::encode_response(byte_writer{buf}, static_cast<gpio::status>(2), 0)) ==
        errc::invalid_argument);
  CHECK(err(gpio::encode_ok(byte_writer{buf}, static_cast<direction>(3))) ==
        errc::invalid_argument);
  CHECK(err(gpio::encode_ok(byte_writer{buf}, static_cast<level>(2))) == errc::invalid_argument);
  CHECK(err(gpio::encode_irq_response(byte_writer{buf}, static_cast<gpio::irq_status>(2))) ==
        errc::invalid_argument);
  CHECK(buf == std::array<std::byte, 4>{});
}

TEST_CASE("codec: responses through a chain writer, split across segments") {
  guest g;
  for (unsigned mask = 0; mask < 16; ++mask) {
    CAPTURE(mask);
    const auto blob = bv({'x', 0, 'y', 'z', 0});
    const auto lens = cuts(6, mask);
    const auto segs = g.place(0x400, lens, mask);
    auto n = gpio::encode_names_response(g.writer(segs), blob);
    REQUIRE(n.has_value());
    CHECK(*n == 6);
    bvec want = bv({0});
    want.insert(want.end(), blob.begin(), blob.end());
    CHECK(g.gather(segs) == want);
  }
  const std::array<std::size_t, 2> one_one{1, 1};
  const auto segs = g.place(0x600, one_one, 0x1);
  CHECK(gpio::encode_ok(g.writer(segs), level::high).value() == 2);
  CHECK(g.gather(segs) == bv({0, 1}));
  // A fault on the second byte: the memory error, not a length.
  g.mem.fail_range(segs[1].addr, 1);
  const auto segs2 = g.place(0x600, one_one, 0x2);
  CHECK(err(gpio::encode_ok(g.writer(segs2), level::high)) == errc::injected_fault);
}

// --- responses: driver side -------------------------------------------------------------------

TEST_CASE("codec: typed response decode of every short-reply message") {
  CHECK(gpio::decode_response<gpio::get_direction>(bv({0, 0})).value() == direction::none);
  CHECK(gpio::decode_response<gpio::get_direction>(bv({0, 1})).value() == direction::out);
  CHECK(gpio::decode_response<gpio::get_direction>(bv({0, 2})).value() == direction::in);
  CHECK(err(gpio::decode_response<gpio::get_direction>(bv({0, 3}))) ==
        errc::gpio_bad_response_value);
  CHECK(gpio::decode_response<gpio::get_value>(bv({0, 0})).value() == level::low);
  CHECK(gpio::decode_response<gpio::get_value>(bv({0, 1})).value() == level::high);
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({0, 2}))) == errc::gpio_bad_response_value);
  CHECK(gpio::decode_response<gpio::set_direction>(bv({0, 0})).has_value());
  CHECK(gpio::decode_response<gpio::set_value>(bv({0, 0})).has_value());
  CHECK(gpio::decode_response<gpio::set_irq_type>(bv({0, 0})).has_value());
  CHECK(err(gpio::decode_response<gpio::set_value>(bv({0, 1}))) == errc::gpio_bad_response_value);
  CHECK(gpio::decode_response(msg_type::get_direction, bv({0, 2})).value() == 2);
  CHECK(err(gpio::decode_response(msg_type::get_line_names, bv({0, 0}))) == errc::invalid_argument);
}

TEST_CASE("codec: response status and length are checked in Linux's order") {
  // Status first: an ERR of any length is reported as ERR.
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({1, 0}))) == errc::gpio_status_err);
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({1}))) == errc::gpio_status_err);
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({1, 0, 0}))) == errc::gpio_status_err);
  for (unsigned s : {2u, 0x80u, 0xffu})
    CHECK(err(gpio::decode_response<gpio::get_value>(bv({s, 0}))) == errc::gpio_bad_status);
  // Then the length: exactly 2.
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({}))) == errc::gpio_response_size);
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({0}))) == errc::gpio_response_size);
  CHECK(err(gpio::decode_response<gpio::get_value>(bv({0, 1, 0}))) == errc::gpio_response_size);
}

TEST_CASE("codec: response decode from a chain reader reads at most 2 bytes") {
  guest g;
  const std::array<std::size_t, 2> one_one{1, 1};
  const auto segs = g.place(0x800, one_one, 0x2);
  g.fill(segs, bv({0, 2}));
  CHECK(gpio::decode_response<gpio::get_direction>(g.reader(segs)).value() == direction::in);
  const std::array<std::size_t, 1> three{3};
  const auto segs3 = g.place(0x900, three);
  g.fill(segs3, bv({1, 0, 0}));
  CHECK(err(gpio::decode_response<gpio::get_direction>(g.reader(segs3))) == errc::gpio_status_err);
  g.fill(segs3, bv({0, 0, 0}));
  CHECK(err(gpio::decode_response<gpio::set_value>(g.reader(segs3))) == errc::gpio_response_size);
  CHECK(err(gpio::decode_response<gpio::set_value>(g.reader({}))) == errc::gpio_response_size);
}

TEST_CASE("codec: GET_LINE_NAMES response checks on the driver side") {
  constexpr std::string_view blob = "MMC-CD\0\0\0"sv;  // 3 lines, 9 bytes
  const device_params p{3, 9, false};
  bvec resp = bv({0});
  for (char c : blob) resp.push_back(static_cast<std::byte>(c));
  auto v = gpio::decode_names_response(resp, p);
  REQUIRE(v.has_value());
  CHECK(v->name(0).value() == "MMC-CD");
  CHECK(v->blob().data() == reinterpret_cast<const char*>(resp.data() + 1));  // zero-copy

  CHECK(err(gpio::decode_names_response(const_bytes{resp}.first(9), p)) ==
        errc::gpio_response_size);
  bvec longer = resp;
  longer.push_back(std::byte{0});
  CHECK(err(gpio::decode_names_response(longer, p)) == errc::gpio_response_size);
  CHECK(err(gpio::decode_names_response(bv({}), p)) == errc::gpio_response_size);
  resp[0] = std::byte{1};
  CHECK(err(gpio::decode_names_response(resp, p)) == errc::gpio_status_err);
  CHECK(err(gpio::decode_names_response(bv({1}), p)) == errc::gpio_status_err);
  resp[0] = std::byte{7};
  CHECK(err(gpio::decode_names_response(resp, p)) == errc::gpio_bad_status);
  resp[0] = std::byte{0};
  resp.back() = std::byte{'x'};  // the last name has lost its terminator
  CHECK(err(gpio::decode_names_response(resp, p)) == errc::gpio_names_truncated);
}

TEST_CASE("codec: device encode then driver decode round trip for every message") {
  guest g;
  const std::array<std::size_t, 1> two{2};
  const auto segs = g.place(0xa00, two);
  for (direction d : {direction::none, direction::out, direction::in}) {
    REQUIRE(gpio::encode_ok(g.writer(segs), d).value() == 2);
    CHECK(gpio::decode_response<gpio::get_direction>(g.gather(segs)).value() == d);
  }
  for (level v : {level::low, level::high}) {
    REQUIRE(gpio::encode_ok(g.writer(segs), v).value() == 2);
    CHECK(gpio::decode_response<gpio::get_value>(g.reader(segs)).value() == v);
  }
  REQUIRE(gpio::encode_ok(g.writer(segs)).value() == 2);
  CHECK(gpio::decode_response<gpio::set_irq_type>(g.gather(segs)).has_value());
  REQUIRE(gpio::encode_error(g.writer(segs), 2).value() == 2);
  CHECK(err(gpio::decode_response<gpio::set_value>(g.gather(segs))) == errc::gpio_status_err);
}

// --- config space -----------------------------------------------------------------------------

TEST_CASE("GV2 codec: the config space has every field set and padding zero") {
  auto c = gpio::encode_config(device_params{0x1234, 0x89abcdef, true});
  REQUIRE(c.has_value());
  CHECK(bytes_of(gpio::to_wire(gpio::get_line_names{})).size() == 8);
  const auto b = vireo::as_bytes_of(*c);
  CHECK(bvec(b.begin(), b.end()) == bv({0x34, 0x12, 0, 0, 0xef, 0xcd, 0xab, 0x89}));
  CHECK(err(gpio::encode_config(device_params{0, 10, false})) == errc::gpio_no_lines);
}

TEST_CASE("codec: decode_config (driver side) refuses ngpio 0 and ignores the padding") {
  wire::config c{};
  c.ngpio.set(10);
  c.padding[0] = 0xaa;  // reserved: a later revision may use it
  c.gpio_names_size.set(63);
  auto p = gpio::decode_config(c, vireo::feature_set{gpio::feature::irq});
  REQUIRE(p.has_value());
  CHECK(*p == device_params{10, 63, true});
  CHECK(gpio::decode_config(c, vireo::feature_set{})->irq == false);
  c.ngpio.set(0);
  CHECK(err(gpio::decode_config(c, vireo::feature_set{})) == errc::gpio_no_lines);
}

// --- eventq -----------------------------------------------------------------------------------

TEST_CASE("GD11 codec: one eventq pair per line is a 2-byte request and a 1-byte response") {
  auto rq = gpio::encode_irq_request(5, dev);
  REQUIRE(rq.has_value());
  const auto b = vireo::as_bytes_of(*rq);
  CHECK(bvec(b.begin(), b.end()) == bv({5, 0}));
  CHECK(err(gpio::encode_irq_request(8, dev)) == errc::gpio_line_out_of_range);
  std::array<std::byte, 3> buf{};
  CHECK(gpio::encode_irq_request(byte_writer{buf}, 7, dev).value() == 2);
  CHECK(err(gpio::encode_irq_request(byte_writer{std::span{buf}.first(1)}, 7, dev)) ==
        errc::no_space);
  // Device side.
  CHECK(gpio::decode_irq_request(bv({7, 0}), dev).value() == gpio::irq_request{7});
  CHECK(err(gpio::decode_irq_request(bv({8, 0}), dev)) == errc::gpio_line_out_of_range);
  CHECK(err(gpio::decode_irq_request(bv({0xff, 0xff}), dev)) == errc::gpio_line_out_of_range);
  for (std::size_t n : {0u, 1u, 3u, 8u}) {
    bvec in(n, std::byte{0});
    CHECK(err(gpio::decode_irq_request(in, dev)) == errc::gpio_request_size);
  }
  guest g;
  const std::array<std::size_t, 2> one_one{1, 1};
  const auto segs = g.place(0xb00, one_one, 0x1);
  g.fill(segs, bv({3, 0}));
  CHECK(gpio::decode_irq_request(g.reader(segs), dev).value() == gpio::irq_request{3});
}

TEST_CASE("GV11 GV12 GV13 codec: eventq responses are one status byte, VALID or INVALID") {
  for (auto s : {gpio::irq_status::valid, gpio::irq_status::invalid}) {
    bvec buf(3, std::byte{0xaa});
    CHECK(gpio::encode_irq_response(byte_writer{buf}, s).value() == 1);  // used length 1
    CHECK(buf[0] == static_cast<std::byte>(s));
    CHECK(buf[1] == std::byte{0xaa});
    CHECK(gpio::decode_irq_response(const_bytes{buf}.first(1)).value() == s);
  }
  bvec none;
  CHECK(err(gpio::encode_irq_response(byte_writer{none}, gpio::irq_status::valid)) ==
        errc::gpio_response_too_short);
  // Driver side: exactly 1 byte (Linux: "irq with incorrect length"), status 0 or 1.
  CHECK(err(gpio::decode_irq_response(bv({}))) == errc::gpio_response_size);
  CHECK(err(gpio::decode_irq_response(bv({1, 0}))) == errc::gpio_response_size);
  CHECK(err(gpio::decode_irq_response(bv({2}))) == errc::gpio_bad_status);
  CHECK(err(gpio::decode_irq_response(bv({0xff}))) == errc::gpio_bad_status);
}
