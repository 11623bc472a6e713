// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the Greybus host (vireo/greybus/host/{ap,gpio_client,i2c_client}.hpp) against a
// hostile module. A fake frame transport hands the AP whatever the input says, whenever the AP
// polls: answers to the requests it sent (right id and type, or tampered), raw frames, module
// requests and IRQ Events, duplicates, transport failures, and time passing on a fake clock.
// The AP enumerates (the input may serve any manifest) and then runs a script of client calls.
//
// Input (docs/fuzzing.md, "`greybus_ap` input"):
//   u16 max_message_size  the transport's limit (any value)
//   u8  cport_count       the transport's CPort count (any value; the AP holds 8)
//   u8  timeout           every call's timeout: 1 + timeout ms
//   then one stream read by two readers in turn: enumerate() first, then at most 48 calls
//   (u8 sel: call sel & 15, CPort = the manifest's CPort number (sel >> 4) % count, or sel >> 4
//   without a manifest; then the call's arguments); whenever the AP polls, one module record:
//   u8 op, kind op & 7, a = op >> 3:
//     0 nothing received, clock += a ms
//     1 answer the (a % 8)-th latest request sent: u8 result, u16 n, n payload bytes
//     2 tampered answer to the latest request: u16 id xor, u8 type xor, u8 result, u16 n, n bytes
//     3 raw frame: u16 n, n bytes
//     4 module request: u8 cport, u8 type (& 0x7f), u16 id, u8 n, n payload bytes
//     5 a odd: the next send() fails; a even: this poll() fails
//     6 the previous frame again
//     7 clock += u16 ms, nothing received
//   Built frames go through parse_frame (the AP driver's checks): refused ones are not
//   delivered. When the input ends nothing more arrives and each progress step is 97 ms.
// Invariants: no crash, UB or hang (every wait ends: the fake clock moves at every progress
// step; a step counter traps past a bound); every call returns a value or an errc with a
// message; at most one operation is in flight during a call and none between calls, never
// more than a tracker's capacity; what the AP sends fits the transport, decodes strictly, is a
// request with an id on a CPort below cport_count, or the PROTOCOL_BAD answer to the module
// request just delivered; a call that succeeds was answered by the last frame delivered (its
// CPort, id and type, status 0) and returns that frame's value; greybus_error_response comes
// with that frame's status in last_status(). At the end a well-behaved module answers Control
// Version and the AP must accept it (when the limits allow a Version exchange at all).
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
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/host/ap.hpp"
#include "vireo/greybus/host/gpio_client.hpp"
#include "vireo/greybus/host/i2c_client.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/virtio/binding.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbh = vireo::greybus::host;
namespace gbv = vireo::greybus::virtio;
using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo_fuzz::byte_source;
using vireo_fuzz::exact_buffer;

constexpr std::size_t kMaxCPorts = 8;
constexpr std::size_t kMaxPending = 4;
constexpr std::size_t kMaxCalls = 48;
constexpr std::uint64_t kMaxSteps = 200000;  // progress steps per input: far above any real run
constexpr std::size_t kHistory = 8;

struct sent_request {
  std::uint16_t cport = 0;
  std::uint16_t id = 0;
  std::uint8_t type = 0;
  bool answered = false;  // by the well-behaved module at the end
};

/// What the last delivered frame said, kept for the checks after a call.
struct delivered {
  bool valid = false;
  std::uint16_t cport = 0;
  gb::header hdr{};
  std::vector<std::byte> payload;
};

/// The hostile module behind a frame transport (host::frame_transport).
class fake_transport {
 public:
  fake_transport(byte_source& in, std::uint64_t& clock, std::uint16_t mms, std::uint16_t cports)
      : in_(&in), clock_(&clock), mms_(mms), cports_(cports) {}

  [[nodiscard]] std::uint16_t cport_count() const noexcept { return cports_; }
  [[nodiscard]] std::uint16_t max_message_size() const noexcept { return mms_; }

  vireo::result<void> send(std::uint16_t cport, const_bytes msg) noexcept {
    FUZZ_CHECK(cport < cports_ && cport < kMaxCPorts);
    FUZZ_CHECK(msg.size() <= mms_ && msg.size() <= gbv::default_max_message_size);
    // A copy of exactly its size: the AP's message must be readable as it claims.
    std::unique_ptr<std::byte[]> copy(new std::byte[msg.size() == 0 ? 1 : msg.size()]);
    if (!msg.empty()) std::memcpy(copy.get(), msg.data(), msg.size());
    const auto m = gb::decode({copy.get(), msg.size()}, gb::decode_options{true});
    FUZZ_CHECK(m.has_value());
    if (m->response()) {
      // Only ever the AP's refusal of a module request that wants an answer (no handlers).
      FUZZ_CHECK(last_.valid && last_.cport == cport && !gb::is_response(last_.hdr));
      FUZZ_CHECK(last_.hdr.operation_id.get() == m->id() && m->id() != 0);
      FUZZ_CHECK(gb::operation_type(last_.hdr) == m->type());
      FUZZ_CHECK(m->result_byte() == static_cast<std::uint8_t>(gb::status::protocol_bad));
      FUZZ_CHECK(m->payload.empty());
    } else {
      FUZZ_CHECK(!m->unidirectional());  // the script sends no unidirectional request
      sent_[nsent_++ % kHistory] = sent_request{cport, m->id(), m->type(), false};
      last_request_ = sent_[(nsent_ - 1) % kHistory];
    }
    if (fail_next_send_) {
      fail_next_send_ = false;
      return errc::greybus_no_free_frame;
    }
    return vireo::ok();
  }

  vireo::result<std::optional<gbv::frame>> poll() noexcept {
    rx_.reset();  // the previous frame's bytes are gone: a stale view is a use after free
    if (auto_answer_) return answer_correctly();
    if (in_->empty()) return std::optional<gbv::frame>{};
    const std::uint8_t op = in_->u8();
    const unsigned a = op >> 3;
    switch (op & 7) {
      case 0: *clock_ += a; return std::optional<gbv::frame>{};
      case 1: {
        if (nsent_ == 0) return std::optional<gbv::frame>{};
        const std::size_t back = a % kHistory < nsent_ ? a % kHistory : nsent_ - 1;
        const sent_request& r = sent_[(nsent_ - 1 - back) % kHistory];
        const std::uint8_t result = in_->u8();
        return answer(r.cport, r.id, r.type, result, in_->take(in_->u16()));
      }
      case 2: {
        const std::uint16_t id_xor = in_->u16();
        const std::uint8_t type_xor = in_->u8();
        const std::uint8_t result = in_->u8();
        const auto payload = in_->take(in_->u16());
        if (nsent_ == 0) return std::optional<gbv::frame>{};
        return answer(last_request_.cport, static_cast<std::uint16_t>(last_request_.id ^ id_xor),
                      static_cast<std::uint8_t>(last_request_.type ^ type_xor), result, payload);
      }
      case 3: {
        const auto raw = std::as_bytes(in_->take(in_->u16()));
        return deliver(std::vector<std::byte>(raw.begin(), raw.end()));
      }
      case 4: {
        const std::uint16_t cport = in_->u8();
        const auto type = static_cast<std::uint8_t>(in_->u8() & 0x7f);
        const std::uint16_t id = in_->u16();
        const auto payload = in_->take(in_->u8());
        return build(cport, gb::make_request_header(id, type, payload.size()), payload);
      }
      case 5:
        if (a & 1) {
          fail_next_send_ = true;
          return std::optional<gbv::frame>{};
        }
        return errc::queue_broken;
      case 6: return deliver(std::vector<std::byte>(previous_));
      default: *clock_ += in_->u16(); return std::optional<gbv::frame>{};
    }
  }

  /// From now on the module behaves: each request gets its success answer, once.
  void behave() noexcept {
    auto_answer_ = true;
    fail_next_send_ = false;
  }
  [[nodiscard]] const delivered& last() const noexcept { return last_; }
  [[nodiscard]] const sent_request& last_request() const noexcept { return last_request_; }
  [[nodiscard]] std::size_t requests_sent() const noexcept { return nsent_; }

 private:
  vireo::result<std::optional<gbv::frame>> answer(std::uint16_t cport, std::uint16_t id,
                                                  std::uint8_t type, std::uint8_t result,
                                                  std::span<const std::uint8_t> payload) {
    if (payload.size() > gb::max_payload_size) payload = payload.first(gb::max_payload_size);
    return build(cport, gb::make_response_header(id, static_cast<std::uint8_t>(type & 0x7f), result,
                                                 payload.size()),
                 payload);
  }

  vireo::result<std::optional<gbv::frame>> build(std::uint16_t cport, const gb::header& h,
                                                 std::span<const std::uint8_t> payload) {
    std::vector<std::byte> f(gbv::transport_header_size + gb::header_size + payload.size());
    f[0] = std::byte(cport & 0xff);
    f[1] = std::byte(cport >> 8);
    std::memcpy(f.data() + gbv::transport_header_size, &h, sizeof h);
    if (!payload.empty())
      std::memcpy(f.data() + gbv::min_frame_size, payload.data(), payload.size());
    return deliver(std::move(f));
  }

  /// Check a frame as the AP driver would, and hand it over from a buffer of its exact size.
  vireo::result<std::optional<gbv::frame>> deliver(std::vector<std::byte> bytes_in) {
    previous_ = bytes_in;
    const std::size_t n = bytes_in.size();
    rx_.reset(new std::byte[n == 0 ? 1 : n]);
    if (n != 0) std::memcpy(rx_.get(), bytes_in.data(), n);
    const auto f = gbv::parse_frame({rx_.get(), n}, mms_, cports_);
    if (!f) return std::optional<gbv::frame>{};  // counted as a bad frame and skipped
    last_.valid = true;
    last_.cport = f->cport;
    last_.hdr = f->msg.hdr;
    last_.payload.assign(f->msg.payload.begin(), f->msg.payload.end());
    return std::optional<gbv::frame>{*f};
  }

  vireo::result<std::optional<gbv::frame>> answer_correctly() {
    if (nsent_ == 0) return std::optional<gbv::frame>{};
    sent_request& r = sent_[(nsent_ - 1) % kHistory];
    if (r.answered) return std::optional<gbv::frame>{};
    r.answered = true;
    static constexpr std::uint8_t version[] = {0, 1};
    std::span<const std::uint8_t> payload{};
    if (r.cport == 0 && r.type == gb::control::version::type) payload = version;
    return build(r.cport, gb::make_response_header(r.id, r.type, 0, payload.size()), payload);
  }

  byte_source* in_;
  std::uint64_t* clock_;
  std::uint16_t mms_;
  std::uint16_t cports_;
  std::array<sent_request, kHistory> sent_{};
  std::size_t nsent_ = 0;
  sent_request last_request_{};
  std::unique_ptr<std::byte[]> rx_;
  std::vector<std::byte> previous_;
  delivered last_;
  bool fail_next_send_ = false;
  bool auto_answer_ = false;
};
static_assert(gbh::frame_transport<fake_transport>);

struct fake_clock {
  std::uint64_t* ms;
  std::uint64_t operator()() const noexcept { return *ms; }
};

using host_type = gbh::ap<fake_transport, fake_clock, kMaxCPorts, kMaxPending, 2040, 16, 8>;
using gpio_type = gbh::gpio_client<host_type>;
using i2c_type = gbh::i2c_client<host_type, 4>;

/// Operations in flight over the CPorts the AP may use.
std::size_t in_flight(host_type& h, const fake_transport& t) {
  std::size_t total = 0;
  const std::size_t n = t.cport_count() < kMaxCPorts ? t.cport_count() : kMaxCPorts;
  for (std::size_t c = 0; c < n; ++c) {
    const auto* tr = h.tracker(static_cast<std::uint16_t>(c));
    FUZZ_CHECK(tr != nullptr);
    FUZZ_CHECK(tr->in_flight() <= host_type::tracker_type::capacity());
    total += tr->in_flight();
  }
  return total;
}

template <typename T>
void check_errc(const vireo::result<T>& r) {
  if (!r) FUZZ_CHECK(vireo::error_message(r.error()) != "unknown error");
}

struct session {
  byte_source in;
  std::uint64_t now = 0;
  std::uint64_t steps = 0;
  std::uint32_t timeout_ms;
  fake_transport t;
  host_type h;
  std::array<std::optional<gpio_type>, kMaxCPorts> gpio{};
  std::array<std::optional<i2c_type>, kMaxCPorts> i2c{};

  session(const std::uint8_t* data, std::size_t size, std::uint16_t mms, std::uint16_t cports,
          std::uint32_t timeout)
      : in(data, size), timeout_ms(timeout), t(in, now, mms, cports), h(t, fake_clock{&now}) {}

  void progress() {
    FUZZ_CHECK(++steps < kMaxSteps);
    FUZZ_CHECK(in_flight(h, t) <= 1);  // synchronous calls: one operation at a time
    now += in.empty() ? 97 : 1;
  }
  auto runner() {
    return [this] { progress(); };
  }

  /// After a single-operation call that succeeded: the last frame delivered was its answer.
  const delivered& answered_by(std::uint16_t cport) {
    const delivered& d = t.last();
    FUZZ_CHECK(d.valid && d.cport == cport && gb::is_response(d.hdr) && d.hdr.result == 0);
    const sent_request& r = t.last_request();
    FUZZ_CHECK(r.cport == cport && d.hdr.operation_id.get() == r.id &&
               gb::operation_type(d.hdr) == r.type);
    return d;
  }
  /// After a single-operation call: success means answered; an error response means its status.
  template <typename T>
  void single(std::uint16_t cport, const vireo::result<T>& r) {
    check_errc(r);
    if (r) {
      (void)answered_by(cport);
    } else if (r.error() == errc::greybus_error_response) {
      const delivered& d = t.last();
      FUZZ_CHECK(d.valid && d.cport == cport && d.hdr.result != 0);
      FUZZ_CHECK(h.last_status() == d.hdr.result);
    }
  }

  gpio_type* gpio_at(std::uint16_t cport) {
    if (cport >= kMaxCPorts) return nullptr;
    if (!gpio[cport]) {
      auto c = gpio_type::bind(h, cport);
      if (!c) {
        FUZZ_CHECK(c.error() == errc::greybus_protocol_mismatch);
        return nullptr;
      }
      gpio[cport].emplace(*c);
    }
    return &*gpio[cport];
  }
  i2c_type* i2c_at(std::uint16_t cport) {
    if (cport >= kMaxCPorts) return nullptr;
    if (!i2c[cport]) {
      auto c = i2c_type::bind(h, cport);
      if (!c) {
        FUZZ_CHECK(c.error() == errc::greybus_protocol_mismatch);
        return nullptr;
      }
      i2c[cport].emplace(*c);
    }
    return &*i2c[cport];
  }

  void enumerate() {
    gpio = {};
    i2c = {};
    const auto r = h.enumerate(runner(), timeout_ms);
    check_errc(r);
    if (r) {
      FUZZ_CHECK(h.manifest() != nullptr);
      for (const auto& c : h.manifest()->cports()) {
        FUZZ_CHECK(c.id < t.cport_count());
        FUZZ_CHECK(h.state(c.id) == gb::connection_state::enabled);
      }
    }
  }

  void call() {
    const std::uint8_t sel = in.u8();
    const std::uint8_t arg = in.u8();
    std::uint16_t cport = sel >> 4;
    if (const auto* m = h.manifest(); m != nullptr && !m->cports().empty())
      cport = m->cports()[cport % m->cports().size()].id;
    auto p = runner();
    const std::uint32_t to = timeout_ms;
    switch (sel & 15) {
      case 0:
        if (auto* g = gpio_at(cport)) {
          const auto r = g->line_count(p, to);
          single(cport, r);
          if (r) {
            const delivered& d = t.last();
            FUZZ_CHECK(d.payload.size() == 1 && *r == std::to_integer<unsigned>(d.payload[0]) + 1);
          }
        }
        break;
      case 1:
        if (auto* g = gpio_at(cport)) single(cport, g->activate(arg, p, to));
        break;
      case 2:
        if (auto* g = gpio_at(cport)) single(cport, g->direction_out(arg, in.u8() & 1, p, to));
        break;
      case 3:
        if (auto* g = gpio_at(cport)) {
          const auto r = g->get_value(arg, p, to);
          single(cport, r);
          if (r) {
            const delivered& d = t.last();
            FUZZ_CHECK(d.payload.size() == 1 &&
                       *r == (std::to_integer<unsigned>(d.payload[0]) != 0));
          }
        }
        break;
      case 4:
        if (auto* g = gpio_at(cport)) single(cport, g->set_value(arg, in.u8() & 1, p, to));
        break;
      case 5:
        if (auto* g = gpio_at(cport)) {
          const auto r = g->get_direction(arg, p, to);
          single(cport, r);
          if (r) {
            const delivered& d = t.last();
            FUZZ_CHECK(d.payload.size() == 1 &&
                       static_cast<unsigned>(*r) == std::to_integer<unsigned>(d.payload[0]));
          }
        }
        break;
      case 6: {
        static constexpr gb::gpio::irq_type types[] = {
            gb::gpio::irq_type::none,      gb::gpio::irq_type::edge_rising,
            gb::gpio::irq_type::edge_falling, gb::gpio::irq_type::edge_both,
            gb::gpio::irq_type::level_high, gb::gpio::irq_type::level_low};
        const auto type = types[in.u8() % 6];
        if (auto* g = gpio_at(cport)) single(cport, g->set_irq_type(arg, type, p, to));
        break;
      }
      case 7: {
        const bool unmask = (in.u8() & 1) != 0;
        if (auto* g = gpio_at(cport))
          single(cport, unmask ? g->irq_unmask(arg, p, to) : g->irq_mask(arg, p, to));
        break;
      }
      case 8:
        if (auto* g = gpio_at(cport)) {
          const auto r = g->next_irq();
          check_errc(r);
          FUZZ_CHECK(in_flight(h, t) == 0);
        }
        break;
      case 9:
        if (auto* c = i2c_at(cport)) {
          const auto r = c->functionality(p, to);
          single(cport, r);
          if (r) {
            const delivered& d = t.last();
            FUZZ_CHECK(d.payload.size() == 4);
            std::uint32_t v = 0;
            for (std::size_t i = 0; i < 4; ++i)
              v |= std::to_integer<std::uint32_t>(d.payload[i]) << (8 * i);
            FUZZ_CHECK(*r == v);
          }
        }
        break;
      case 10: {
        const std::array<std::byte, 1> out{std::byte{in.u8()}};
        const std::size_t n = in.u8() % 17;
        if (auto* c = i2c_at(cport)) {
          std::unique_ptr<std::byte[]> rd(new std::byte[n == 0 ? 1 : n]);
          const auto r = c->write_read(arg, out, {rd.get(), n}, p, to);
          check_errc(r);
          if (r) {
            // The read data is the whole payload, copied into exactly the caller's buffer.
            const delivered& d = answered_by(cport);
            FUZZ_CHECK(d.payload.size() == n);
            FUZZ_CHECK(n == 0 || std::memcmp(rd.get(), d.payload.data(), n) == 0);
          }
        }
        break;
      }
      case 11: {
        const std::size_t n = in.u8() % 9;
        const auto data = in.take(n);
        if (auto* c = i2c_at(cport)) {
          const auto r = c->write(arg, std::as_bytes(data), p, to);
          check_errc(r);
          if (r) FUZZ_CHECK(answered_by(cport).payload.empty());
        }
        break;
      }
      case 12: {
        const auto r = h.call<gb::control::version>(0, gb::control::version_supported, p, to);
        single(0, r);
        if (r) {
          const delivered& d = t.last();
          FUZZ_CHECK(d.payload.size() == 2 && r->major == std::to_integer<unsigned>(d.payload[0]) &&
                     r->minor == std::to_integer<unsigned>(d.payload[1]));
        }
        break;
      }
      case 13: check_errc(h.connect(cport, p, to)); break;
      case 14: {
        const auto r = h.disconnect(cport, p, to);
        check_errc(r);
        if (cport != 0 && cport < kMaxCPorts && cport < t.cport_count())
          FUZZ_CHECK(h.state(cport) == gb::connection_state::disabled);
        break;
      }
      default: enumerate(); break;
    }
    FUZZ_CHECK(in_flight(h, t) == 0);  // every call ends its own operation, whatever happened
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_source head{data, size};
  const std::uint16_t mms = head.u16();
  const std::uint16_t cports = head.u8();
  const std::uint32_t timeout = 1u + head.u8();
  const std::size_t used = size < 4 ? size : 4;
  // The session is large (the AP holds its buffers): keep it off the fuzzer's stack.
  const auto s = std::make_unique<session>(data + used, size - used, mms, cports, timeout);

  s->enumerate();
  FUZZ_CHECK(in_flight(s->h, s->t) == 0);
  for (std::size_t k = 0; k < kMaxCalls && !s->in.empty(); ++k) s->call();

  // The module behaves from now on: a fresh call must go through, whatever came before.
  s->t.behave();
  const std::size_t before = s->t.requests_sent();
  const auto v = s->h.call<gb::control::version>(0, gb::control::version_supported, s->runner(),
                                                 1000);
  check_errc(v);
  const bool can = cports >= 1 && mms >= gb::header_size + 2;
  if (can) {
    FUZZ_CHECK(s->t.requests_sent() == before + 1);
    FUZZ_CHECK(v.has_value() && v->major == 0 && v->minor == 1);
  }
  FUZZ_CHECK(in_flight(s->h, s->t) == 0);
  return 0;
}

#ifdef VIREO_FUZZ_WRITE_SEEDS
// Seed writer: g++ -std=c++20 -Iinclude -Ifuzz -DVIREO_FUZZ_WRITE_SEEDS fuzz/greybus_ap.cpp
//              -o /tmp/seeds && /tmp/seeds fuzz/corpus/greybus_ap
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "vireo/greybus/manifest_builder.hpp"

namespace {

struct seed {
  std::vector<std::uint8_t> b;
  void u8(unsigned v) { b.push_back(static_cast<std::uint8_t>(v)); }
  void u16(unsigned v) {
    u8(v & 0xff);
    u8((v >> 8) & 0xff);
  }
  void bytes(std::span<const std::uint8_t> p) { b.insert(b.end(), p.begin(), p.end()); }
  /// Module record 1: answer the back-th latest request with `result` and `payload`.
  void answer(std::initializer_list<std::uint8_t> payload, unsigned result = 0, unsigned back = 0) {
    u8(1 | (back << 3));
    u8(result);
    u16(static_cast<unsigned>(payload.size()));
    for (std::uint8_t x : payload) u8(x);
  }
  void answer_bytes(std::span<const std::uint8_t> payload) {
    u8(1);
    u8(0);
    u16(static_cast<unsigned>(payload.size()));
    bytes(payload);
  }
  void tampered(unsigned id_xor, unsigned type_xor, std::initializer_list<std::uint8_t> payload,
                unsigned result = 0) {
    u8(2);
    u16(id_xor);
    u8(type_xor);
    u8(result);
    u16(static_cast<unsigned>(payload.size()));
    for (std::uint8_t x : payload) u8(x);
  }
  void module_request(unsigned cport, unsigned type, unsigned id,
                      std::initializer_list<std::uint8_t> payload) {
    u8(4);
    u8(cport);
    u8(type);
    u16(id);
    u8(static_cast<unsigned>(payload.size()));
    for (std::uint8_t x : payload) u8(x);
  }
  /// Module record 3: a raw frame.
  void raw(std::initializer_list<std::uint8_t> frame) {
    u8(3);
    u16(static_cast<unsigned>(frame.size()));
    for (std::uint8_t x : frame) u8(x);
  }
  void idle(unsigned ms) { u8(0 | (ms << 3)); }
  void jump(unsigned ms) {
    u8(7);
    u16(ms);
  }
  /// A script call: call number, manifest CPort index, argument, extra bytes.
  void call(unsigned number, unsigned cport_index, unsigned arg,
            std::initializer_list<std::uint8_t> extra = {}) {
    u8(number | (cport_index << 4));
    u8(arg);
    for (std::uint8_t x : extra) u8(x);
  }
};

/// The board's manifest: bundle 1 with GPIO CPort 1, bundle 2 with I2C CPort 2.
std::vector<std::uint8_t> board_manifest() {
  std::array<std::byte, 128> m{};
  gb::manifest_builder b{m};
  bool ok = b.add_interface(1, 2).has_value();
  ok = ok && b.add_string(1, "Vireo").has_value();
  ok = ok && b.add_string(2, "fuzz board").has_value();
  ok = ok && b.add_bundle(1, 0x0a).has_value();
  ok = ok && b.add_cport(1, 1, 0x02).has_value();
  ok = ok && b.add_bundle(2, 0x0a).has_value();
  ok = ok && b.add_cport(2, 2, 0x03).has_value();
  const auto n = b.finish();
  if (!ok || !n) std::exit(1);
  std::vector<std::uint8_t> out(*n);
  std::memcpy(out.data(), m.data(), *n);
  return out;
}

seed header(unsigned mms = 2048, unsigned cports = 3, unsigned timeout = 99) {
  seed s;
  s.u16(mms);
  s.u8(cports);
  s.u8(timeout);
  return s;
}

/// The answers of a good enumeration of board_manifest().
void enumeration(seed& s) {
  const auto m = board_manifest();
  s.answer({0, 1});
  s.answer({static_cast<std::uint8_t>(m.size() & 0xff), static_cast<std::uint8_t>(m.size() >> 8)});
  s.answer_bytes(m);
  s.answer({0});  // Bundle Activate 1
  s.answer({});   // Connected 1
  s.answer({0});  // Bundle Activate 2
  s.answer({});   // Connected 2
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
  // Manifest CPort index 0 is GPIO CPort 1, index 1 is I2C CPort 2.
  {  // Enumeration, then every GPIO call answered well, and IRQ Events.
    seed s = header();
    enumeration(s);
    s.call(0, 0, 0), s.answer({3});                 // Line Count: 4 lines
    s.call(1, 0, 0), s.answer({});                  // Activate 0
    s.call(2, 0, 0, {1}), s.answer({});             // Direction Out 0 high
    s.call(4, 0, 0, {0}), s.answer({});             // Set Value 0 low
    s.call(3, 0, 0), s.answer({1});                 // Get Value: high
    s.call(5, 0, 1), s.answer({1});                 // Get Direction: in
    s.call(6, 0, 1, {1}), s.answer({});             // IRQ Type edge rising
    s.call(7, 0, 1, {1}), s.answer({});             // IRQ Unmask
    // next_irq() takes in every frame until nothing comes: each ends with an idle record.
    s.call(8, 0, 0), s.module_request(1, 0x0e, 0, {1}), s.idle(0);  // an IRQ Event on line 1
    s.call(8, 0, 0), s.module_request(1, 0x0e, 0, {9}), s.idle(0);  // line 9: beyond Line Count
    s.call(3, 0, 9);                                // refused before sending
    write(dir, "gpio_session", s);
  }
  {  // Enumeration, I2C Functionality, an EEPROM write and a write + read.
    seed s = header();
    enumeration(s);
    s.call(9, 1, 0), s.answer({0x09, 0x00, 0xff, 0x0e});
    s.call(11, 1, 0x50, {3, 0x10, 0xaa, 0xbb}), s.answer({});
    s.call(10, 1, 0x50, {0x10, 2}), s.answer({0xaa, 0xbb});
    s.call(10, 1, 0x50, {0x10, 2}), s.answer({0xaa});          // short read
    s.call(10, 1, 0x51, {0x00, 1}), s.answer({}, 0x08);        // NACK: GB_OP_NONEXISTENT
    write(dir, "i2c_session", s);
  }
  {  // Timeouts, late answers, answers to old requests, and a retry.
    seed s = header(2048, 3, 9);
    enumeration(s);
    s.call(0, 0, 0), s.jump(500);                    // Line Count times out
    s.call(0, 0, 0), s.answer({3}, 0, 1), s.idle(3), s.answer({3});  // late one first
    s.call(3, 0, 0), s.idle(4), s.idle(4), s.answer({0});
    s.call(12, 0, 0), s.idle(2), s.jump(1), s.answer({0, 1});
    write(dir, "timeouts_and_late_answers", s);
  }
  {  // A hostile module: wrong ids and types, duplicates, requests, errors, broken transport.
    seed s = header();
    enumeration(s);
    s.call(0, 0, 0), s.tampered(0x40, 0, {3}), s.tampered(0, 1, {3}), s.u8(6), s.answer({3});
    s.call(1, 0, 0), s.u8(6), s.module_request(1, 0x02, 77, {}), s.module_request(2, 0x0e, 0, {0}),
        s.answer({}, 0x06);                          // a late duplicate, module requests, INVALID
    s.call(3, 0, 0), s.answer({0, 0});               // payload too long
    s.call(3, 0, 0), s.u8(5);                        // poll fails
    s.call(3, 0, 0), s.u8(5 | 8), s.answer({1});     // the next send fails
    s.call(3, 0, 0);                                 // so this one does, before any poll
    s.call(9, 0, 0);                                 // I2C client on a GPIO CPort: refused
    // Raw frames: a Version response with an id nobody used, one with a short size field.
    s.call(12, 0, 0), s.raw({0, 0, 0, 0, 10, 0, 0x77, 0x77, 0x81, 0, 0, 0, 0, 1}),
        s.raw({0, 0, 0, 0, 9, 0, 0x77, 0x77, 0x81, 0, 0, 0, 0, 1}),
        s.answer({1, 0});                            // Version 1.0 on a plain call
    s.call(8, 0, 0);
    for (int i = 0; i < 10; ++i) s.module_request(1, 0x0e, 0, {0});  // event queue overflows
    write(dir, "hostile_module", s);
  }
  {  // Hostile enumerations: newer version, manifest too large, wrong length, bad manifest.
    seed s = header();
    s.answer({1, 0});                                // Version 1.0: refused
    s.call(15, 0, 0), s.answer({0, 1}), s.answer({0xff, 0x0f});  // manifest size 4095
    s.call(15, 0, 0), s.answer({0, 1}), s.answer({8, 0}), s.answer({8, 0, 0, 1});  // short
    s.call(15, 0, 0), s.answer({0, 1}), s.answer({8, 0}),
        s.answer({8, 0, 0, 1, 4, 0, 4, 0});          // a truncated descriptor
    s.call(15, 0, 0);
    enumeration(s);
    write(dir, "hostile_enumeration", s);
  }
  {  // Connection teardown and reconnection, then bundle activation failing.
    seed s = header();
    enumeration(s);
    s.call(14, 0, 0), s.answer({}), s.answer({}), s.answer({}), s.answer({});
    s.call(0, 0, 0);                                 // the connection is closed: refused
    s.call(13, 0, 0), s.answer({});
    s.call(0, 0, 0), s.answer({3});
    s.call(14, 1, 0), s.answer({}, 0x06), s.jump(200), s.answer({}), s.answer({});
    s.call(15, 0, 0), s.answer({0, 1});
    {
      const auto m = board_manifest();
      s.answer({static_cast<std::uint8_t>(m.size()), 0});
      s.answer_bytes(m);
    }
    s.answer({3});                                   // Bundle Activate: BUSY-like status
    write(dir, "teardown_and_reconnect", s);
  }
  {  // Tiny limits: 10-byte messages, one CPort, 1 ms timeouts.
    seed s = header(10, 1, 0);
    s.answer({0, 1});
    s.answer({8, 0});
    s.call(12, 0, 0), s.answer({0, 1});
    write(dir, "tiny_transport", s);
  }
  return 0;
}
#endif  // VIREO_FUZZ_WRITE_SEEDS
