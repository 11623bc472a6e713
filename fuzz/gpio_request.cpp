// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the virtio-gpio codec on both queues. A hostile driver's request bytes, split over
// arbitrary readable segments (mapped or reached through the memory model, optionally faulted),
// are decoded by the device and answered into arbitrary writable segments; the driver side then
// decodes what was written. Every outcome is compared with a small independent model of the
// spec's rules. Input format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/chain/cursor.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/gpio/codec.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace chain = vireo::chain;
namespace gpio = vireo::gpio;

using vireo_fuzz::byte_source;

constexpr std::uint64_t kBase = 0x10000;
constexpr std::size_t kMemSize = 0x4000;
constexpr std::size_t kWritableAt = 0x1000;  // readable segments below, writable ones from here
constexpr std::size_t kMaxSegs = 7;

using mem_t = vireo::faulty_memory<vireo::flat_memory>;

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 13 + 5); });
}

struct placed {
  std::array<chain::segment, kMaxSegs> segs{};
  std::size_t n = 0;
  std::size_t total = 0;
  std::span<const chain::segment> span() const { return {segs.data(), n}; }
};

// --- The model: the spec's rules written out plainly, independent of the codec. ---------------

std::uint32_t le(const std::uint8_t* p, std::size_t n) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint32_t{p[i]} << (8 * i);
  return v;
}

bool model_irq_type(std::uint32_t v) {
  return v == 0 || v == 1 || v == 2 || v == 3 || v == 4 || v == 8;
}

/// errc{} for a request the device must accept.
errc model_request(const std::vector<std::uint8_t>& s, const gpio::device_params& p) {
  if (s.size() != 8) return errc::gpio_request_size;
  const std::uint32_t type = le(&s[0], 2), line = le(&s[2], 2), value = le(&s[4], 4);
  switch (type) {
    case 1:
      if (line != 0 || value != 0) return errc::gpio_reserved_nonzero;
      return p.gpio_names_size == 0 ? errc::gpio_names_unsupported : errc{};
    case 2:
    case 4:
      if (value != 0) return errc::gpio_reserved_nonzero;
      break;
    case 3:
      if (value > 2) return errc::gpio_bad_direction;
      break;
    case 5:
      if (value > 1) return errc::gpio_bad_value;
      break;
    case 6:
      if (!model_irq_type(value)) return errc::gpio_bad_irq_type;
      if (!p.irq) return errc::gpio_irq_not_negotiated;
      break;
    default:
      return errc::gpio_unknown_type;
  }
  return line < p.ngpio ? errc{} : errc::gpio_line_out_of_range;
}

/// The driver's check of a 2-byte reply to `type` (not GET_LINE_NAMES): status, length, value.
errc model_reply(std::uint16_t type, std::span<const std::uint8_t> used) {
  if (used.empty()) return errc::gpio_response_size;
  if (used[0] == 1) return errc::gpio_status_err;
  if (used[0] != 0) return errc::gpio_bad_status;
  if (used.size() != 2) return errc::gpio_response_size;
  const unsigned v = used[1];
  if (type == 2 ? v > 2 : type == 4 ? v > 1 : v != 0) return errc::gpio_bad_response_value;
  return errc{};
}

vireo::const_bytes as_const_bytes(const std::vector<std::uint8_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size),
        ram_(static_cast<std::byte*>(::operator new[](kMemSize, std::align_val_t{64}))),
        flat_(vireo::bytes{ram_.get(), kMemSize}, gpa{kBase}),
        mem_(flat_) {}

  void run() {
    const std::uint8_t ctl = in_.u8();
    eventq_ = (ctl & 1u) != 0;
    params_.irq = (ctl & 2u) != 0;
    const std::size_t nr = (ctl >> 2) & 7u;
    const std::size_t nw = ctl >> 5;
    params_.ngpio = in_.u16();
    params_.gpio_names_size = in_.u16() % 1024;
    const std::uint8_t reply = in_.u8();
    faulted_ = (reply >> 3) != 0;

    std::memcpy(ram_.get(), pattern(), kMemSize);
    std::size_t at = 0;
    for (std::size_t i = 0; i < nr; ++i) {
      const std::uint8_t r = in_.u8();
      add(rd_, at, 1 + (r & 0x0fu), (r & 0x80u) != 0);
    }
    at = kWritableAt;
    for (std::size_t i = 0; i < nw; ++i) {
      const std::uint16_t w = in_.u16();
      add(wr_, at, 1 + (w & 0x1ffu), (w & 0x8000u) != 0);
    }
    stream_.resize(rd_.total);
    for (std::uint8_t& b : stream_) b = in_.u8();
    std::size_t k = 0;
    for (const chain::segment& s : rd_.span())
      for (std::uint32_t i = 0; i < s.len; ++i)
        ram_[s.addr.raw() - kBase + i] = std::byte{stream_[k++]};
    std::memcpy(before_.data(), ram_.get(), kMemSize);
    if (faulted_) mem_.fail_after(static_cast<std::uint64_t>((reply >> 3) - 1));

    if (eventq_) run_eventq(reply);
    else run_requestq(reply);
    check_memory();
  }

 private:
  /// A segment of `len` bytes at offset `at`, with a host view unless `unmapped` (then the
  /// cursor copies through the memory model, where faults can be injected).
  void add(placed& p, std::size_t& at, std::size_t len, bool unmapped) {
    FUZZ_CHECK(p.n < kMaxSegs);
    p.segs[p.n++] = chain::segment{unmapped ? nullptr : ram_.get() + at, gpa{kBase + at},
                                   static_cast<std::uint32_t>(len)};
    p.total += len;
    at += len + 1;  // a gap, so neighbouring segments are not one range
  }

  chain::reader<mem_t> reader() { return {mem_, rd_.span(), rd_.total}; }
  chain::writer<mem_t> writer() { return {mem_, wr_.span(), wr_.total}; }

  /// Does any segment of `p` go through the memory model (and so can fault)?
  static bool has_unmapped(const placed& p) {
    for (const chain::segment& s : p.span())
      if (s.host == nullptr) return true;
    return false;
  }

  /// The writable part's bytes now.
  std::vector<std::uint8_t> written() const {
    std::vector<std::uint8_t> out;
    for (const chain::segment& s : wr_.span())
      for (std::uint32_t i = 0; i < s.len; ++i)
        out.push_back(static_cast<std::uint8_t>(ram_[s.addr.raw() - kBase + i]));
    return out;
  }
  std::vector<std::uint8_t> written_before() const {
    std::vector<std::uint8_t> out;
    for (const chain::segment& s : wr_.span())
      for (std::uint32_t i = 0; i < s.len; ++i)
        out.push_back(static_cast<std::uint8_t>(before_[s.addr.raw() - kBase + i]));
    return out;
  }

  /// Check a response write: `expect` is what must lie at the front of the writable part.
  void check_response(const vireo::result<std::uint32_t>& n,
                      const std::vector<std::uint8_t>& expect, errc want) {
    const auto now = written();
    const auto old = written_before();
    if (faulted_ && !n && n.error() == errc::injected_fault) {
      FUZZ_CHECK(has_unmapped(wr_));
      for (std::size_t i = expect.size(); i < now.size(); ++i) FUZZ_CHECK(now[i] == old[i]);
      return;
    }
    FUZZ_CHECK(code(n) == want);
    if (!n) {
      FUZZ_CHECK(now == old);  // a refused response writes nothing
      return;
    }
    FUZZ_CHECK(*n == expect.size());
    FUZZ_CHECK(expect.empty() || std::memcmp(now.data(), expect.data(), expect.size()) == 0);
    for (std::size_t i = expect.size(); i < now.size(); ++i) FUZZ_CHECK(now[i] == old[i]);
  }

  void run_requestq(std::uint8_t reply) {
    const errc want = model_request(stream_, params_);
    auto req = gpio::decode_request(reader(), params_);
    if (faulted_ && !req && req.error() == errc::injected_fault) {
      FUZZ_CHECK(stream_.size() == 8 && has_unmapped(rd_));
      return;
    }
    FUZZ_CHECK(code(req) == want);
    // The same bytes from one host buffer decode the same way.
    const vireo::const_bytes flat = as_const_bytes(stream_);
    FUZZ_CHECK(code(gpio::decode_request(flat, params_)) == want);

    const std::uint16_t raw_type =
        stream_.size() == 8 ? static_cast<std::uint16_t>(le(&stream_[0], 2)) : std::uint16_t{0};
    if (req) {
      // Strict decoding is one-to-one: the driver's encoding of the result is the input.
      const gpio::wire::request w = gpio::to_wire(*req);
      FUZZ_CHECK(std::memcmp(&w, stream_.data(), 8) == 0);
      auto enc = gpio::encode_request(*req, params_);
      FUZZ_CHECK(enc.has_value() && std::memcmp(&*enc, stream_.data(), 8) == 0);
      FUZZ_CHECK(static_cast<std::uint16_t>(req->type()) == raw_type);
      FUZZ_CHECK(req->gpio() == le(&stream_[2], 2));
    }

    if (req && (reply & 4u) == 0) {
      answer(*req, reply);
    } else {
      const std::uint64_t size =
          stream_.size() == 8 ? gpio::error_response_size(raw_type, params_.gpio_names_size) : 2;
      const std::size_t n = size < wr_.total ? static_cast<std::size_t>(size) : wr_.total;
      std::vector<std::uint8_t> expect(n, 0);
      if (n > 0) expect[0] = 1;
      check_response(gpio::encode_error(writer(), size), expect, errc{});
      if (!faulted_ && n > 0) {
        const auto now = written();
        FUZZ_CHECK(code(gpio::decode_response(gpio::msg_type::set_value,
                                              as_const_bytes(now).first(n))) ==
                   errc::gpio_status_err);
      }
    }

    // The driver side on the hostile bytes themselves, as if a device had written them.
    for (std::size_t len = 0; len <= stream_.size() && len <= 3; ++len) {
      const vireo::const_bytes used = flat.first(len);
      const std::span<const std::uint8_t> u{stream_.data(), len};
      for (std::uint16_t t = 2; t <= 6; ++t) {
        auto r = gpio::decode_response(static_cast<gpio::msg_type>(t), used);
        FUZZ_CHECK(code(r) == model_reply(t, u));
        if (r) FUZZ_CHECK(*r == u[1]);
      }
    }
    if (params_.gpio_names_size != 0) {
      auto v = gpio::decode_names_response(flat, params_);
      errc w = errc{};
      if (stream_.empty()) w = errc::gpio_response_size;
      else if (stream_[0] == 1) w = errc::gpio_status_err;
      else if (stream_[0] != 0) w = errc::gpio_bad_status;
      else if (stream_.size() != 1 + std::size_t{params_.gpio_names_size})
        w = errc::gpio_response_size;
      else w = code(gpio::parse_names(flat.subspan(1), params_.ngpio));
      FUZZ_CHECK(code(v) == w);
    }
  }

  /// The device's success reply to `req`, checked, then decoded by the driver side.
  void answer(const gpio::request& req, std::uint8_t reply) {
    const std::uint64_t size = gpio::response_size(req.type(), params_.gpio_names_size);
    std::vector<std::uint8_t> expect;
    vireo::result<std::uint32_t> n = 0u;
    if (req.holds<gpio::get_line_names>()) {
      // Any bytes: the blob's content is the device's business; the framing is checked here.
      std::vector<std::byte> blob(params_.gpio_names_size);
      for (std::size_t i = 0; i < blob.size(); ++i)
        blob[i] = std::byte(i % 7 == 6 ? 0 : 'a' + i % 26);
      expect.push_back(0);
      for (std::byte b : blob) expect.push_back(static_cast<std::uint8_t>(b));
      n = gpio::encode_names_response(writer(), blob);
    } else if (req.holds<gpio::get_direction>()) {
      const auto d = static_cast<gpio::direction>(reply % 3);
      expect = {0, static_cast<std::uint8_t>(d)};
      n = gpio::encode_ok(writer(), d);
    } else if (req.holds<gpio::get_value>()) {
      const auto v = static_cast<gpio::level>(reply & 1u);
      expect = {0, static_cast<std::uint8_t>(v)};
      n = gpio::encode_ok(writer(), v);
    } else {
      expect = {0, 0};
      n = gpio::encode_ok(writer());
    }
    FUZZ_CHECK(expect.size() == size);
    const errc want = wr_.total < size ? errc::gpio_response_too_short : errc{};
    check_response(n, expect, want);
    if (!n) return;

    // What the driver makes of it.
    const auto now = written();
    const vireo::const_bytes used = as_const_bytes(now).first(*n);
    if (req.holds<gpio::get_line_names>()) {
      auto v = gpio::decode_names_response(used, params_);
      FUZZ_CHECK(code(v) == code(gpio::parse_names(used.subspan(1), params_.ngpio)));
    } else if (req.holds<gpio::get_direction>()) {
      FUZZ_CHECK(gpio::decode_response<gpio::get_direction>(used).value() ==
                 static_cast<gpio::direction>(reply % 3));
      chain::reader<mem_t> back{mem_, wr_.span(), *n};
      mem_.clear_faults();
      FUZZ_CHECK(gpio::decode_response<gpio::get_direction>(back).value() ==
                 static_cast<gpio::direction>(reply % 3));
    } else if (req.holds<gpio::get_value>()) {
      FUZZ_CHECK(gpio::decode_response<gpio::get_value>(used).value() ==
                 static_cast<gpio::level>(reply & 1u));
    } else {
      FUZZ_CHECK(gpio::decode_response(req.type(), used).value() == 0);
    }
  }

  void run_eventq(std::uint8_t reply) {
    errc want = errc{};
    std::uint16_t line = 0;
    if (stream_.size() != 2) {
      want = errc::gpio_request_size;
    } else {
      line = static_cast<std::uint16_t>(le(&stream_[0], 2));
      if (!params_.irq) want = errc::gpio_irq_not_negotiated;
      else if (line >= params_.ngpio) want = errc::gpio_line_out_of_range;
    }
    auto req = gpio::decode_irq_request(reader(), params_);
    if (faulted_ && !req && req.error() == errc::injected_fault) {
      FUZZ_CHECK(stream_.size() == 2 && has_unmapped(rd_));
      return;
    }
    FUZZ_CHECK(code(req) == want);
    if (req) {
      FUZZ_CHECK(req->gpio == line);
      auto enc = gpio::encode_irq_request(line, params_);
      FUZZ_CHECK(enc.has_value() && std::memcmp(&*enc, stream_.data(), 2) == 0);
    }
    // VALID for an accepted pair when the input says an interrupt fired; INVALID otherwise.
    const auto st = req && (reply & 1u) ? gpio::irq_status::valid : gpio::irq_status::invalid;
    auto n = gpio::encode_irq_response(writer(), st);
    check_response(n, {static_cast<std::uint8_t>(st)},
                   wr_.total == 0 ? errc::gpio_response_too_short : errc{});
    if (n) {
      const auto now = written();
      FUZZ_CHECK(gpio::decode_irq_response(as_const_bytes(now).first(1)).value() == st);
    }
    // The driver side on the hostile bytes.
    const vireo::const_bytes flat = as_const_bytes(stream_);
    auto r = gpio::decode_irq_response(flat);
    if (stream_.size() != 1) FUZZ_CHECK(code(r) == errc::gpio_response_size);
    else if (stream_[0] > 1) FUZZ_CHECK(code(r) == errc::gpio_bad_status);
    else FUZZ_CHECK(r.has_value() && static_cast<std::uint8_t>(*r) == stream_[0]);
  }

  /// Nothing but the writable part may change, and the readable part never does.
  void check_memory() const {
    std::size_t from = 0;
    for (const chain::segment& s : wr_.span()) {
      const std::size_t off = s.addr.raw() - kBase;
      FUZZ_CHECK(std::memcmp(ram_.get() + from, before_.data() + from, off - from) == 0);
      from = off + s.len;
    }
    FUZZ_CHECK(std::memcmp(ram_.get() + from, before_.data() + from, kMemSize - from) == 0);
  }

  byte_source in_;
  std::unique_ptr<std::byte[], vireo_fuzz::free_aligned> ram_;
  vireo::flat_memory flat_;
  mem_t mem_;
  gpio::device_params params_{};
  bool eventq_ = false;
  bool faulted_ = false;
  placed rd_, wr_;
  std::vector<std::uint8_t> stream_;
  std::array<std::byte, kMemSize> before_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto h = std::make_unique<harness>(data, size);
  h->run();
  return 0;
}
