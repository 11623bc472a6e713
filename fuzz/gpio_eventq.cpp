// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the virtio-gpio device model (gpio/device.hpp) over real rings, split or packed,
// with a simulated chip. The input is a script of events: requestq messages (well framed or
// hostile), eventq pairs (Linux-like or hostile), host input changes, wires, chip faults, guest
// memory faults, and the device's process calls. A driver-side shadow of which interrupts are
// enabled checks GV11 on every VALID; after every call the pairs the driver has outstanding
// must be exactly the ones the device holds (one per line at most, only for enabled lines); at
// the end, disabling every line returns every pair exactly once. Input format: docs/gpio.md,
// "Fuzzing the device model".
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

namespace {

namespace gpio = vireo::gpio;
namespace ring = vireo::ring;
using vireo::const_bytes;
using vireo::gpa;
using vireo_fuzz::byte_source;

constexpr std::uint16_t kQueueSize = 16;
constexpr std::size_t kArena = std::size_t{1} << 16;
constexpr std::size_t kMaxAdds = 800;  // each add takes at most 64 arena bytes: 51 KiB < 64 KiB
constexpr int kMaxOps = 512;
constexpr std::uint16_t kMaxLines = 8;

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using chip_t = gpio::sim::chip<kMaxLines, 8>;  // a small FIFO: overflow is reachable

constexpr const char* kNames[kMaxLines] = {"A", "", "B", "", "C", "D", "", "E"};

struct posted_request {
  std::uint16_t type = 0, line = 0;
  std::uint32_t value = 0;
  bool framed = false;  ///< exactly 8 readable bytes and at least 2 writable ones
  std::uint32_t writable = 0;
  std::vector<ring::buffer> out;
};

struct posted_pair {
  std::uint16_t line = 0;
  bool well_formed = false;  ///< 2 readable bytes naming a line < ngpio, a writable byte
  bool popped = false;       ///< the device has taken it from the ring
  gpa status{};
};

template <typename Mock, template <typename, std::size_t> class Queue>
class harness {
  using queue_t = Queue<mem_t, 8>;
  using device_t = gpio::device<queue_t, chip_t, kMaxLines>;

 public:
  harness(const std::uint8_t* data, std::size_t size, std::uint8_t ctl)
      : in_(data, size), reqm_(fresh_mock(0)), evtm_(fresh_mock(1)), req_mem_(reqm_.memory()),
        evt_mem_(evtm_.memory()), reqq_(req_mem_), evtq_(evt_mem_),
        chip_(static_cast<std::uint16_t>(1 + ((ctl >> 2) & 7))) {
    irq_ = (ctl & 2u) != 0;
    if ((ctl & 0x20u) != 0)
      for (std::uint16_t l = 0; l < chip_.line_count(); ++l) chip_.set_name(l, kNames[l]);
  }

  void run() {
    FUZZ_CHECK(reqq_.configure(reqm_.config()).has_value());
    FUZZ_CHECK(evtq_.configure(evtm_.config()).has_value());
    auto d = device_t::create(chip_, reqq_, evtq_);
    FUZZ_CHECK(d.has_value());
    dev_.emplace(std::move(*d));
    vireo::feature_set f;
    if (irq_) f.set(gpio::feature::irq);
    FUZZ_CHECK(dev_->set_driver_features(f).has_value());
    n_ = dev_->params().ngpio;

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) step(in_.u8());
    finish();
  }

 private:
  /// The mock drivers are built once (each holds a driver sized for 32768 descriptors) and
  /// brought back to their initial state for every input: configure() zeroes the rings.
  static Mock& fresh_mock(int which) {
    static Mock mocks[2] = {Mock{opts()}, Mock{opts()}};
    Mock& m = mocks[which];
    m.reset_arena();
    m.driver().reset();
    while (m.driver().detach_unused()) {
    }
    FUZZ_CHECK(m.driver().configure(m.config(), m.pool()).has_value());
    return m;
  }

  static typename Mock::options opts() {
    typename Mock::options o;
    o.size = kQueueSize;
    o.features = vireo::feature_set{vireo::transport_feature::version_1};
    o.data_bytes = kArena;
    return o;
  }

  void step(std::uint8_t op) {
    switch (op % 12) {
      case 0: post_request(); break;
      case 1: call_requests(); break;
      case 2: queue_pair(static_cast<std::uint16_t>(in_.u8() % (kMaxLines + 2)), true); break;
      case 3: queue_pair(in_.u16(), false); break;
      case 4: call_events(); break;
      case 5: {
        const std::uint8_t b = in_.u8();
        chip_.set_input(static_cast<std::uint16_t>((b >> 1) % n_),
                        (b & 1u) != 0 ? gpio::level::high : gpio::level::low);
        break;
      }
      case 6: call_poll(in_.u8()); break;
      case 7: {
        const std::uint8_t b = in_.u8();
        const auto from = static_cast<std::uint16_t>((b & 7u) % n_);
        const auto to = static_cast<std::uint16_t>(((b >> 3) & 7u) % n_);
        if ((b & 0x80u) != 0) chip_.disconnect(from);
        else (void)chip_.connect(from, to);
        break;
      }
      case 8: {
        const std::uint8_t b = in_.u8();
        chip_.inject_fault(static_cast<std::uint16_t>((b >> 1) % n_), (b & 1u) != 0);
        break;
      }
      case 9: memory_fault(in_.u8()); break;
      case 10: linux_requeue(); break;
      default: send_linux_irq_setup(in_.u8()); break;
    }
  }

  // --- requestq ---

  /// Queue one message; `forced` ignores the add budget (the final disables: at most kMaxLines
  /// of them more, which the arena has room for).
  std::uint64_t add_request(posted_request p, const std::vector<std::uint8_t>& bytes,
                            std::uint8_t framing, std::uint8_t wmode, bool forced = false) {
    if (adds_ >= kMaxAdds && !forced) return 0;
    std::vector<ring::buffer> r, w;
    auto put = [&](std::size_t from, std::size_t len) {
      r.push_back({reqm_.put(const_bytes{reinterpret_cast<const std::byte*>(bytes.data()) + from,
                                         len}),
                   static_cast<std::uint32_t>(len)});
    };
    std::size_t readable = 8;
    switch (framing) {
      case 0: put(0, 8); break;
      case 1: put(0, 3); put(3, 5); break;
      case 2: put(0, 7); readable = 7; break;
      default: readable = bytes.size(); put(0, bytes.size()); break;
    }
    static constexpr std::uint32_t sizes[4][2] = {{2, 0}, {1, 0}, {1, 1}, {0, 0}};
    for (std::uint32_t s : sizes[wmode & 3u]) {
      if (s == 0) continue;
      const gpa g = reqm_.alloc(s);
      std::memset(reqm_.host(g, s).data(), 0xee, s);
      w.push_back({g, s});
      p.writable += s;
    }
    if ((wmode & 4u) != 0 && dev_->params().gpio_names_size > 0) {  // a whole names buffer
      const std::uint32_t s = 1 + dev_->params().gpio_names_size;
      const gpa g = reqm_.alloc(s);
      w.push_back({g, s});
      p.writable += s;
    }
    if (r.empty() && w.empty()) return 0;
    p.framed = readable == 8 && p.writable >= 2;
    p.out = w;
    const std::uint64_t tag = next_tag_++;
    ++adds_;
    if (!reqm_.driver().add(r, w, tag)) return 0;  // ring full
    requests_[tag] = p;
    return tag;
  }

  void post_request() {
    posted_request p;
    const std::uint8_t t = in_.u8();
    p.type = static_cast<std::uint16_t>(t & 7u);
    p.line = static_cast<std::uint16_t>(in_.u8() % (kMaxLines + 2));
    p.value = in_.u8() % 10u;
    if (p.type == 1) p.line = p.value = 0;  // GET_LINE_NAMES as Linux sends it
    const std::uint8_t f = in_.u8();
    std::vector<std::uint8_t> bytes = request_bytes(p);
    if ((f & 3u) == 3) bytes.push_back(0);  // 9 bytes
    (void)add_request(p, bytes, f & 3u, static_cast<std::uint8_t>(f >> 2));
  }

  static std::vector<std::uint8_t> request_bytes(const posted_request& p) {
    return {static_cast<std::uint8_t>(p.type), static_cast<std::uint8_t>(p.type >> 8),
            static_cast<std::uint8_t>(p.line), static_cast<std::uint8_t>(p.line >> 8),
            static_cast<std::uint8_t>(p.value), static_cast<std::uint8_t>(p.value >> 8),
            static_cast<std::uint8_t>(p.value >> 16), static_cast<std::uint8_t>(p.value >> 24)};
  }

  /// Linux's irq setup on line `b`: SET_DIRECTION(IN), SET_IRQ_TYPE(t), one message per call.
  void send_linux_irq_setup(std::uint8_t b) {
    posted_request p;
    p.line = static_cast<std::uint16_t>((b & 7u) % n_);
    p.type = 3;
    p.value = 2;
    (void)add_request(p, request_bytes(p), 0, 0);
    call_requests();
    static constexpr std::uint32_t types[8] = {0, 1, 2, 3, 4, 8, 0, 3};
    p.type = 6;
    p.value = types[(b >> 3) & 7u];
    (void)add_request(p, request_bytes(p), 0, 0);
    call_requests();
    if (p.value != 0) queue_pair(p.line, true);
  }

  void call_requests() {
    std::array<bool, kMaxLines> during = shadow_;
    auto n = dev_->process_requests();
    FUZZ_CHECK(n.has_value());
    take_replies(during);
    take_irqs(during);
    check_state();
  }

  void take_replies(std::array<bool, kMaxLines>& during) {
    while (true) {
      auto u = reqm_.driver().reclaim();
      FUZZ_CHECK(u.has_value());  // a hostile device would show here: never our own
      if (!u->has_value()) return;
      auto it = requests_.find((*u)->user_data);
      FUZZ_CHECK(it != requests_.end());
      const posted_request p = it->second;
      requests_.erase(it);
      const std::uint32_t len = (*u)->len;
      FUZZ_CHECK(len <= p.writable);
      std::vector<std::uint8_t> got;
      for (const ring::buffer& b : p.out)
        for (std::uint32_t i = 0; i < b.len && got.size() < len; ++i)
          got.push_back(static_cast<std::uint8_t>(reqm_.host(b.addr, b.len)[i]));
      if (len > 0) FUZZ_CHECK(got[0] == 0 || got[0] == 1);
      if (len > 0 && got[0] == 1)
        for (std::size_t i = 1; i < got.size(); ++i) FUZZ_CHECK(got[i] == 0);  // GV1
      const bool exact = p.framed && !faults_armed_;
      if (exact && p.type != 1) FUZZ_CHECK(len == 2);
      const bool unsure = update_shadow(p, len, got, exact);
      if (p.line < n_) during[p.line] = during[p.line] || shadow_[p.line] || unsure;
    }
  }

  /// Follow the interrupt state from the driver's side: exact where the reply tells, never
  /// looser than the device where a later message of the same batch may have changed it.
  /// Returns true when the outcome is unknown (a reply lost to an injected fault): the line
  /// may then have been enabled at some point of the call.
  bool update_shadow(const posted_request& p, std::uint32_t len,
                     const std::vector<std::uint8_t>& got, bool exact) {
    if (p.line >= n_ || (p.type != 3 && p.type != 6)) return false;
    const bool known = exact && len == 2;
    bool& s = shadow_[p.line];
    const bool device_now = dev_->line_irq(p.line).enabled();  // after the whole batch
    if (!known) {
      s = device_now;
      return true;
    }
    const bool ok = got[0] == 0;
    if (p.type == 6 && gpio::is_irq_type(p.value) && irq_) {
      // ERR: GD6 (no change) or a chip failure (disabled): only ever turns off.
      s = ok ? p.value != 0 : s && device_now;
    } else if (p.type == 3 && p.value == 0) {
      s = false;  // GV7: dropped even when the chip fails
    }
    return false;
  }

  // --- eventq ---

  void queue_pair(std::uint16_t line, bool linux_like) {
    if (adds_ >= kMaxAdds) return;
    posted_pair p;
    std::vector<ring::buffer> r, w;
    std::uint8_t shape = linux_like ? 0 : in_.u8();
    const std::uint8_t le[2] = {static_cast<std::uint8_t>(line),
                                static_cast<std::uint8_t>(line >> 8)};
    const std::size_t rlen = linux_like ? 2 : (shape & 3u);
    if (rlen > 0)
      r.push_back({evtm_.put(const_bytes{reinterpret_cast<const std::byte*>(le), rlen > 2 ? 2 : rlen}),
                   static_cast<std::uint32_t>(rlen > 2 ? 2 : rlen)});
    if (rlen == 3) r.push_back({evtm_.put(const_bytes{reinterpret_cast<const std::byte*>(le), 1}), 1});
    static constexpr std::uint32_t sizes[4][2] = {{1, 0}, {0, 0}, {2, 0}, {1, 1}};
    std::uint32_t wtotal = 0;
    for (std::uint32_t s : sizes[(shape >> 2) & 3u]) {
      if (s == 0) continue;
      const gpa g = evtm_.alloc(s);
      std::memset(evtm_.host(g, s).data(), 0xee, s);
      if (w.empty()) p.status = g;
      w.push_back({g, s});
      wtotal += s;
    }
    if (r.empty() && w.empty()) return;
    p.line = line;
    p.well_formed = rlen == 2 && line < n_ && wtotal >= 1;
    const std::uint64_t tag = next_tag_++;
    ++adds_;
    if (!evtm_.driver().add(r, w, tag)) return;
    pairs_[tag] = p;
  }

  /// What Linux does after handling an interrupt: queue the pair again for every enabled line
  /// that has none outstanding.
  void linux_requeue() {
    for (std::uint16_t l = 0; l < n_; ++l) {
      if (!shadow_[l]) continue;
      bool has = false;
      for (auto& [tag, p] : pairs_) has = has || (p.well_formed && p.line == l);
      if (!has) queue_pair(l, true);
    }
  }

  void call_events() {
    std::array<bool, kMaxLines> during = shadow_;
    auto n = dev_->process_events();
    if (!irq_) {
      FUZZ_CHECK(!n.has_value() && n.error() == vireo::errc::gpio_irq_not_negotiated);
    } else {
      FUZZ_CHECK(n.has_value());
      for (auto& [tag, p] : pairs_) p.popped = true;
    }
    take_irqs(during);
    check_state();
  }

  void call_poll(std::uint8_t b) {
    std::array<bool, kMaxLines> during = shadow_;
    auto n = dev_->poll_host((b & 0x80u) != 0 ? SIZE_MAX : std::size_t{b % 4u});
    FUZZ_CHECK(n.has_value());
    take_irqs(during);
    check_state();
  }

  void take_irqs(const std::array<bool, kMaxLines>& during) {
    while (true) {
      auto u = evtm_.driver().reclaim();
      FUZZ_CHECK(u.has_value());
      if (!u->has_value()) return;
      FUZZ_CHECK(irq_);  // no eventq traffic at all without VIRTIO_GPIO_F_IRQ (§5.18.2)
      auto it = pairs_.find((*u)->user_data);
      FUZZ_CHECK(it != pairs_.end());
      const posted_pair p = it->second;
      pairs_.erase(it);  // a second completion of this tag would not be found: exactly once
      const std::uint32_t len = (*u)->len;
      FUZZ_CHECK(len <= 1);  // Linux: used length 1, or nothing written
      if (len == 0) continue;
      const auto st = static_cast<std::uint8_t>(
          p.status == gpa{} ? 0xff : static_cast<std::uint8_t>(evtm_.host(p.status, 1)[0]));
      FUZZ_CHECK(st == 0 || st == 1);
      if (st == 1) {
        FUZZ_CHECK(p.well_formed);    // a bounced pair is never VALID
        FUZZ_CHECK(during[p.line]);  // GV11: enabled (and unmasked: it was held)
      }
    }
  }

  /// Outstanding popped pairs are exactly the held ones: at most one per line, only for lines
  /// whose interrupt is enabled (GV12, GV13, §5.18.7.2).
  void check_state() {
    std::array<int, kMaxLines> held{};
    std::size_t total = 0;
    for (auto& [tag, p] : pairs_) {
      if (!p.popped) continue;
      FUZZ_CHECK(p.well_formed);  // malformed pairs come back at once
      ++held[p.line];
      ++total;
    }
    FUZZ_CHECK(total == dev_->held_pairs());
    for (std::uint16_t l = 0; l < n_; ++l) {
      FUZZ_CHECK(held[l] <= 1);
      FUZZ_CHECK((held[l] == 1) == dev_->line_irq(l).unmasked());
      if (dev_->line_irq(l).unmasked()) FUZZ_CHECK(shadow_[l]);
      FUZZ_CHECK(dev_->line_irq(l).enabled() == shadow_[l]);
    }
  }

  void memory_fault(std::uint8_t b) {
    mem_t& m = (b & 1u) != 0 ? evt_mem_ : req_mem_;
    if ((b & 2u) != 0) {
      req_mem_.clear_faults();
      evt_mem_.clear_faults();
      faults_armed_ = false;
      return;
    }
    m.deny_map((b & 4u) != 0);
    m.fail_after(b >> 3);
    faults_armed_ = true;
  }

  /// Heal everything, take what is still in the eventq, then disable every line, half with
  /// SET_IRQ_TYPE(NONE) and half with SET_DIRECTION(NONE): every pair comes back exactly once.
  void finish() {
    req_mem_.clear_faults();
    evt_mem_.clear_faults();
    req_mem_.deny_map(false);
    evt_mem_.deny_map(false);
    faults_armed_ = false;
    for (std::uint16_t l = 0; l < n_; ++l) chip_.inject_fault(l, false);
    call_events();
    for (std::uint16_t l = 0; l < n_; ++l) {
      posted_request p;
      p.line = l;
      p.type = l % 2 == 0 ? 6 : 3;
      p.value = 0;
      if (add_request(p, request_bytes(p), 0, 0, true) == 0) {
        call_requests();  // ring full: make room, then try again
        FUZZ_CHECK(add_request(p, request_bytes(p), 0, 0, true) != 0);
      }
      call_requests();
    }
    FUZZ_CHECK(dev_->held_pairs() == 0);
    if (irq_) FUZZ_CHECK(pairs_.empty());  // every pair came back
    dev_->reset();
    for (std::uint16_t l = 0; l < n_; ++l) {
      FUZZ_CHECK(chip_.line_direction(l) == gpio::direction::none);
      FUZZ_CHECK(chip_.watched(l) == gpio::irq_type::none);
      FUZZ_CHECK(!dev_->line_irq(l).enabled());
    }
    FUZZ_CHECK(chip_.pending_events() == 0);
  }

  byte_source in_;
  Mock& reqm_;
  Mock& evtm_;
  mem_t req_mem_, evt_mem_;
  queue_t reqq_, evtq_;
  chip_t chip_;
  std::optional<device_t> dev_;
  bool irq_ = false;
  bool faults_armed_ = false;
  std::uint16_t n_ = 1;
  std::size_t adds_ = 0;
  std::uint64_t next_tag_ = 1;
  std::array<bool, kMaxLines> shadow_{};
  std::map<std::uint64_t, posted_request> requests_;
  std::map<std::uint64_t, posted_pair> pairs_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t ctl = data[0];
  if ((ctl & 1u) == 0)
    harness<vireo::testing::mock_split_driver, ring::split_device>{data + 1, size - 1, ctl}.run();
  else
    harness<vireo::testing::mock_packed_driver, ring::packed_device>{data + 1, size - 1, ctl}.run();
  return 0;
}
