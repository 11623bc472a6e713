// SPDX-License-Identifier: Apache-2.0
// Two threads over one ring, either layout (split_threaded_test.cpp, packed_threaded_test.cpp):
// the driver (the test thread) and the device (a second thread) share only the mock's guest
// memory and two notification counters. Each side suppresses notifications while it works
// (disable_*), re-enables them when it runs dry and re-checks the ring (enable_*), and then waits,
// spinning on the other side's counter, for a kick or an interrupt. A lost wake-up (a missing
// fence, a wrong need_event window or DESC window) therefore stalls the run, which a deadline
// turns into a failure instead of a hang. Every request carries its sequence number and a
// pattern; every reply is checked byte by byte.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ring/ring_test_support.hpp"

namespace vireo_two_threads {

using namespace vireo_ring_common;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t req_bytes = 4 * 128;  // guest memory of one request's buffers

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

inline std::uint32_t reply_len(std::uint64_t seq, std::uint32_t writable) {
  return static_cast<std::uint32_t>((seq * 2654435761u) % (std::uint64_t{writable} + 1));
}
inline std::uint32_t reply_seed(std::uint64_t seq) { return static_cast<std::uint32_t>(seq ^ 0xabcdefu); }

struct shared_state {
  std::atomic<std::uint64_t> kicks{0};  // driver -> device notifications
  std::atomic<std::uint64_t> irqs{0};   // device -> driver notifications
  std::atomic<bool> stop{false};
  clock_type::time_point deadline;
  error_sink errors;
  void fail(const std::string& what) {
    errors.report(what);
    stop.store(true);
  }
  [[nodiscard]] bool give_up() {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (clock_type::now() > deadline) {
      fail("deadline passed (a lost notification?)");
      return true;
    }
    return false;
  }
};

/// Spin (yielding) until `counter` moves past `seen`; false when the run gives up first.
inline bool wait_for(std::atomic<std::uint64_t>& counter, std::uint64_t seen, shared_state& sh) {
  for (std::uint32_t spins = 0; counter.load(std::memory_order_acquire) == seen; ++spins) {
    if ((spins & 1023) == 0 && sh.give_up()) return false;
    std::this_thread::yield();
  }
  return true;
}

/// How the device completes what it popped in one round.
enum class push_style {
  each_at_once,       ///< push_used() right after writing each reply
  alternate_batches,  ///< after the round: one push_used(span), or one push_used() per chain,
                      ///< alternately (a batch publishes its first used entry last)
};

/// The device thread: pop, check the request, write a reply, push, notify when the driver asked
/// for it; wait for a kick only after enable_notifications() found the ring empty.
template <typename Device>
void device_thread(Device& d, shared_state& sh, std::uint64_t total, push_style style,
                   std::uint64_t& processed) {
  std::uint64_t expect_seq = 0;
  std::vector<std::byte> in;
  std::vector<typename Device::chain_type> done;
  std::vector<used_entry> batch;
  while (processed < total && !sh.give_up()) {
    d.disable_notifications();
    done.clear();
    batch.clear();
    for (int k = 0; k < 16; ++k) {
      auto c = d.pop();
      if (!c) return sh.fail("device pop error " + std::to_string(static_cast<int>(c.error())));
      if (c->empty()) break;
      in.resize(c->readable_len());
      auto rd = c->reader();
      if (in.size() < 8 || !rd.read(in)) return sh.fail("device: short or unreadable request");
      std::uint64_t seq = 0;
      for (int i = 7; i >= 0; --i) seq = (seq << 8) | std::to_integer<std::uint64_t>(in[static_cast<std::size_t>(i)]);
      const auto body = pattern(in.size() - 8, static_cast<std::uint32_t>(seq));
      if (seq != expect_seq || !std::equal(body.begin(), body.end(), in.begin() + 8))
        return sh.fail("device: request " + std::to_string(seq) + " (expected " + std::to_string(expect_seq) +
                       ") has wrong bytes");
      ++expect_seq;
      const std::uint32_t len = reply_len(seq, c->writable_len());
      auto w = c->writer();
      if (!w.write(pattern(len, reply_seed(seq)))) return sh.fail("device: write failed");
      if (style == push_style::each_at_once) {
        if (!d.push_used(*c, len)) return sh.fail("device: push failed");
        ++processed;
      }
      batch.push_back({c->token(), len});
      done.push_back(*c);
    }
    if (!batch.empty()) {
      if (style == push_style::alternate_batches) {
        if (expect_seq % 2 == 0) {
          if (!d.push_used(batch)) return sh.fail("device: batch push failed");
        } else {
          for (const auto& e : batch)
            if (!d.push_used(e.token, e.len)) return sh.fail("device: push failed");
        }
        processed += batch.size();
      }
      if (d.needs_notification()) sh.irqs.fetch_add(1, std::memory_order_release);
    }
    // Read the counter before re-enabling: a kick that lands after this load wakes us below.
    const std::uint64_t seen = sh.kicks.load(std::memory_order_acquire);
    auto more = d.enable_notifications();
    if (!more) return sh.fail("device: enable_notifications failed");
    if (*more || processed == total) continue;
    if (!wait_for(sh.kicks, seen, sh)) return;
  }
}

struct run_result {
  std::uint64_t reclaimed = 0, processed = 0, kicks = 0, irqs = 0, driver_waits = 0;
  std::uint16_t in_flight = 0;
  bool positions_agree = false;  // the device popped and completed all the driver published
  std::uint64_t errors = 0;
  std::string first_error;
};

/// `total` requests through a queue of `qsize` with INDIRECT_DESC (and EVENT_IDX when
/// `event_idx`): 8 bytes of sequence number and a pattern in 1 or 2 readable buffers, 0..2
/// writable buffers of 0..100 bytes pre-filled with a sentinel.
template <typename Mock, typename Device>
run_result run_two_threads(std::uint16_t qsize, bool event_idx, std::uint64_t total, push_style style) {
  constexpr std::byte sentinel{0xee};
  Mock m{mock_options<Mock>(qsize, ring_features(/*packed=*/false, true, event_idx, false), 4,
                            std::size_t{qsize} * req_bytes + 4096)};
  auto& drv = m.driver();
  Device d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());

  struct req_state {
    gpa base{};
    std::uint64_t seq = 0;
    std::vector<buffer> rd, wr;
    std::uint32_t writable_len = 0;
  };
  std::vector<req_state> reqs(qsize);
  std::vector<std::uint16_t> free_reqs;
  for (std::uint16_t s = 0; s < qsize; ++s) {
    reqs[s].base = m.alloc(req_bytes, 64);
    free_reqs.push_back(s);
  }

  shared_state sh;
  sh.deadline = clock_type::now() + std::chrono::seconds(60);
  run_result res;
  std::thread dev{[&] { device_thread(d, sh, total, style, res.processed); }};

  std::uint64_t next_seq = 0;
  std::uint32_t rng = 12345;
  auto rnd = [&](std::uint32_t n) {
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) % n;
  };
  while (res.reclaimed < total && !sh.give_up()) {
    // Add as much as fits.
    bool added = false;
    while (next_seq < total && !free_reqs.empty()) {
      const std::uint16_t s = free_reqs.back();
      req_state& st = reqs[s];
      st.seq = next_seq;
      st.rd.clear();
      st.wr.clear();
      st.writable_len = 0;
      const std::uint32_t rlen = 8 + rnd(120);
      std::vector<std::byte> req(rlen);
      for (int i = 0; i < 8; ++i) req[static_cast<std::size_t>(i)] = static_cast<std::byte>(next_seq >> (8 * i));
      const auto body = pattern(rlen - 8, static_cast<std::uint32_t>(next_seq));
      std::copy(body.begin(), body.end(), req.begin() + 8);
      const std::uint32_t cut = rnd(2) ? rnd(rlen + 1) : rlen;
      std::memcpy(m.host(st.base, rlen).data(), req.data(), rlen);
      if (cut > 0) st.rd.push_back({st.base, cut});
      if (rlen > cut) st.rd.push_back({st.base.offset(cut), rlen - cut});
      const std::uint32_t nw = rnd(3);
      for (std::uint32_t j = 0; j < nw; ++j) {
        const std::uint32_t len = rnd(101);
        const buffer b{st.base.offset(128 + 128 * j), len};
        std::memset(m.host(b.addr, len).data(), 0xee, len);
        st.wr.push_back(b);
        st.writable_len += len;
      }
      auto id = drv.add(st.rd, st.wr, s);
      if (!id) {
        if (id.error() != errc::ring_full) sh.fail("add failed");
        break;
      }
      free_reqs.pop_back();
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
        sh.fail("reclaim error " + std::to_string(static_cast<int>(u.error())));
        break;
      }
      if (!*u) break;
      got = true;
      const auto s = static_cast<std::uint16_t>((*u)->user_data);
      const req_state& st = reqs[s];
      const std::uint32_t want_len = reply_len(st.seq, st.writable_len);
      bool ok = (*u)->len == want_len;
      const auto reply = pattern(want_len, reply_seed(st.seq));
      std::size_t at = 0;
      for (const auto& b : st.wr) {
        auto h = m.host(b.addr, b.len);
        for (std::size_t i = 0; i < b.len; ++i, ++at) ok = ok && h[i] == (at < want_len ? reply[at] : sentinel);
      }
      if (!ok) sh.fail("driver: reply for seq " + std::to_string(st.seq) + " is wrong");
      free_reqs.push_back(s);
      ++res.reclaimed;
    }
    if (got) continue;
    // Nothing to do until the device notifies: re-enable, re-check, then wait for the counter.
    const std::uint64_t seen = sh.irqs.load(std::memory_order_acquire);
    if (drv.enable_interrupts()) continue;
    if (res.reclaimed == total) break;
    ++res.driver_waits;
    if (!wait_for(sh.irqs, seen, sh)) break;
  }
  sh.stop = true;
  dev.join();
  res.kicks = sh.kicks.load();
  res.irqs = sh.irqs.load();
  res.in_flight = drv.in_flight();
  res.positions_agree = d.state().next_avail == drv.avail_index() && d.state().used_idx == drv.avail_index();
  res.errors = sh.errors.count.load();
  {
    std::lock_guard<std::mutex> lock{sh.errors.mu};
    res.first_error = sh.errors.first;
  }
  return res;
}

inline void expect_clean(const run_result& r, std::uint64_t total) {
  CHECK_MESSAGE(r.errors == 0, r.first_error);
  CHECK(r.reclaimed == total);
  CHECK(r.processed == total);
  CHECK(r.in_flight == 0);
  CHECK(r.positions_agree);
  MESSAGE("kicks " << r.kicks << ", interrupts " << r.irqs << ", driver waits " << r.driver_waits);
}

}  // namespace vireo_two_threads
