// SPDX-License-Identifier: Apache-2.0
// Two threads over one split ring: the driver (test thread) and the device (second thread)
// share only the mock's guest memory and two notification counters. EVENT_IDX and INDIRECT are
// negotiated; each side busy-polls a counter while it waits for the other's notification, so a
// lost kick or interrupt (a missing fence, a wrong need_event window) stalls the run, which a
// deadline turns into a failure instead of a hang.
#include "split_test_support.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

using namespace vireo_ring_test;

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::uint16_t qsize = 64;
constexpr std::uint64_t total_chains = 100000;
constexpr std::size_t slot_bytes = 4 * 128;
constexpr std::byte sentinel{0xee};

/// Errors seen off the test thread: counted, the first one kept (doctest asserts stay on the
/// test thread).
struct error_sink {
  std::atomic<std::uint64_t> count{0};
  std::mutex mu;
  std::string first;
  void report(const std::string& what) {
    if (count.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock{mu};
      first = what;
    }
  }
};

std::uint32_t reply_len(std::uint64_t seq, std::uint32_t writable) {
  return static_cast<std::uint32_t>((seq * 2654435761u) % (std::uint64_t{writable} + 1));
}
std::uint32_t reply_seed(std::uint64_t seq) { return static_cast<std::uint32_t>(seq ^ 0xabcdefu); }

struct shared_state {
  std::atomic<std::uint64_t> kicks{0};  // driver -> device notifications
  std::atomic<std::uint64_t> irqs{0};   // device -> driver notifications
  std::atomic<bool> stop{false};
  clock_type::time_point deadline;
  error_sink errors;
  [[nodiscard]] bool give_up() {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (clock_type::now() > deadline) {
      errors.report("deadline passed (a lost notification?)");
      stop.store(true);
      return true;
    }
    return false;
  }
};

/// The device thread: pop, check the request, write a reply, push, notify when asked; sleep
/// (spin on the kick counter) only after enable_notifications() found nothing.
void device_thread(device& d, shared_state& sh, std::uint64_t& processed) {
  std::uint64_t expect_seq = 0;
  std::vector<std::byte> in;
  while (processed < total_chains && !sh.give_up()) {
    d.disable_notifications();
    bool pushed = false;
    for (int k = 0; k < 16; ++k) {
      auto c = d.pop();
      if (!c) {
        sh.errors.report("device pop error " + std::to_string(static_cast<int>(c.error())));
        sh.stop = true;
        return;
      }
      if (c->empty()) break;
      in.resize(c->readable_len());
      auto rd = c->reader();
      if (in.size() < 8 || !rd.read(in)) {
        sh.errors.report("device: short or unreadable request");
        sh.stop = true;
        return;
      }
      std::uint64_t seq = 0;
      for (int i = 7; i >= 0; --i) seq = (seq << 8) | std::to_integer<std::uint64_t>(in[static_cast<std::size_t>(i)]);
      const auto body = pattern(in.size() - 8, static_cast<std::uint32_t>(seq));
      if (seq != expect_seq || !std::equal(body.begin(), body.end(), in.begin() + 8)) {
        sh.errors.report("device: request " + std::to_string(seq) + " (expected " +
                         std::to_string(expect_seq) + ") has wrong bytes");
        sh.stop = true;
        return;
      }
      ++expect_seq;
      const std::uint32_t len = reply_len(seq, c->writable_len());
      auto w = c->writer();
      if (!w.write(pattern(len, reply_seed(seq))) || !d.push_used(*c, len)) {
        sh.errors.report("device: write or push failed");
        sh.stop = true;
        return;
      }
      pushed = true;
      ++processed;
    }
    if (pushed && d.needs_notification()) sh.irqs.fetch_add(1, std::memory_order_release);
    // Read the counter before re-enabling: a kick that lands after this load wakes us below.
    const std::uint64_t seen = sh.kicks.load(std::memory_order_acquire);
    auto more = d.enable_notifications();
    if (!more) {
      sh.errors.report("device: enable_notifications failed");
      sh.stop = true;
      return;
    }
    if (*more || processed == total_chains) continue;
    for (std::uint32_t spins = 0; sh.kicks.load(std::memory_order_acquire) == seen; ++spins) {
      if ((spins & 1023) == 0 && sh.give_up()) return;
      std::this_thread::yield();
    }
  }
}

}  // namespace

TEST_CASE("two threads: 100k chains driver thread vs device thread, EVENT_IDX, busy polling, all data arrives") {
  mock m{opts(qsize, features(true, true, false), 4, std::size_t{qsize} * slot_bytes + 4096)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);

  struct slot_state {
    gpa base{};
    std::uint64_t seq = 0;
    std::vector<buffer> rd, wr;
    std::uint32_t writable_len = 0;
  };
  std::vector<slot_state> slots(qsize);
  std::vector<std::uint16_t> free_slots;
  for (std::uint16_t s = 0; s < qsize; ++s) {
    slots[s].base = m.alloc(slot_bytes, 64);
    free_slots.push_back(s);
  }

  shared_state sh;
  sh.deadline = clock_type::now() + std::chrono::seconds(60);
  std::uint64_t processed = 0;
  std::thread dev{[&] { device_thread(d, sh, processed); }};

  std::uint64_t next_seq = 0, reclaimed = 0, driver_waits = 0;
  std::uint32_t rng = 12345;
  auto rnd = [&](std::uint32_t n) {
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) % n;
  };
  while (reclaimed < total_chains && !sh.give_up()) {
    // Add as much as fits.
    bool added = false;
    while (next_seq < total_chains && !free_slots.empty()) {
      const std::uint16_t s = free_slots.back();
      slot_state& st = slots[s];
      st.seq = next_seq;
      st.rd.clear();
      st.wr.clear();
      st.writable_len = 0;
      // Readable: 8-byte sequence number, then a pattern; split over 1 or 2 descriptors.
      const std::uint32_t rlen = 8 + rnd(120);
      std::vector<std::byte> req(rlen);
      for (int i = 0; i < 8; ++i) req[static_cast<std::size_t>(i)] = static_cast<std::byte>(next_seq >> (8 * i));
      const auto body = pattern(rlen - 8, static_cast<std::uint32_t>(next_seq));
      std::copy(body.begin(), body.end(), req.begin() + 8);
      const std::uint32_t cut = rnd(2) ? rnd(rlen + 1) : rlen;
      std::memcpy(m.host(st.base, rlen).data(), req.data(), rlen);
      if (cut > 0) st.rd.push_back({st.base, cut});
      if (rlen > cut) st.rd.push_back({st.base.offset(cut), rlen - cut});
      // Writable: 0..2 buffers of 0..100 bytes, pre-filled with a sentinel.
      const std::uint32_t nw = rnd(3);
      for (std::uint32_t j = 0; j < nw; ++j) {
        const std::uint32_t len = rnd(101);
        const buffer b{st.base.offset(128 + 128 * j), len};
        std::memset(m.host(b.addr, len).data(), 0xee, len);
        st.wr.push_back(b);
        st.writable_len += len;
      }
      auto head = drv.add(st.rd, st.wr, s);
      if (!head) {
        if (head.error() != errc::ring_full) sh.errors.report("add failed");
        break;
      }
      free_slots.pop_back();
      ++next_seq;
      added = true;
    }
    if (added && drv.needs_kick()) sh.kicks.fetch_add(1, std::memory_order_release);

    // Reclaim everything used, checking lengths and bytes.
    drv.disable_interrupts();
    bool got = false;
    for (;;) {
      auto u = drv.reclaim();
      if (!u) {
        sh.errors.report("reclaim error " + std::to_string(static_cast<int>(u.error())));
        sh.stop = true;
        break;
      }
      if (!*u) break;
      got = true;
      const auto s = static_cast<std::uint16_t>((*u)->user_data);
      const slot_state& st = slots[s];
      const std::uint32_t want_len = reply_len(st.seq, st.writable_len);
      bool ok = (*u)->len == want_len;
      const auto reply = pattern(want_len, reply_seed(st.seq));
      std::size_t at = 0;
      for (const auto& b : st.wr) {
        auto h = m.host(b.addr, b.len);
        for (std::size_t i = 0; i < b.len; ++i, ++at) ok = ok && h[i] == (at < want_len ? reply[at] : sentinel);
      }
      if (!ok) sh.errors.report("driver: reply for seq " + std::to_string(st.seq) + " is wrong");
      free_slots.push_back(s);
      ++reclaimed;
    }
    if (got) continue;
    // Nothing to do until the device notifies: re-enable, re-check, then spin on the counter.
    const std::uint64_t seen = sh.irqs.load(std::memory_order_acquire);
    if (drv.enable_interrupts()) continue;
    if (reclaimed == total_chains) break;
    ++driver_waits;
    for (std::uint32_t spins = 0; sh.irqs.load(std::memory_order_acquire) == seen; ++spins) {
      if ((spins & 1023) == 0 && sh.give_up()) break;
      std::this_thread::yield();
    }
  }
  sh.stop = true;
  dev.join();
  {
    std::lock_guard<std::mutex> lock{sh.errors.mu};
    CHECK_MESSAGE(sh.errors.count.load() == 0, sh.errors.first);
  }
  CHECK(reclaimed == total_chains);
  CHECK(processed == total_chains);
  CHECK(drv.in_flight() == 0);
  CHECK(m.used_idx() == static_cast<std::uint16_t>(total_chains));
  MESSAGE("kicks " << sh.kicks.load() << ", interrupts " << sh.irqs.load() << ", driver waits "
                   << driver_waits);
}
