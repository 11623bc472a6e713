// SPDX-License-Identifier: Apache-2.0
// The randomised round trip both layouts run (split_roundtrip_test.cpp, packed_roundtrip_test.cpp):
// Vireo's driver (through its mock) against Vireo's device, in one thread, driven by
// notifications. Random chains (readable/writable counts and sizes, direct or indirect), random
// batches, out-of-order completion unless IN_ORDER, every combination of INDIRECT_DESC /
// EVENT_IDX / IN_ORDER. Each side only runs when the other notified it (or when it chose to keep
// polling), so a lost notification shows up as a stall. The driver checks every used length,
// every byte written, that readable buffers and what add() wrote stay untouched while the chain is
// in flight (S5, P4, P8, G10), and that each user_data comes back exactly once.
//
// roundtrip_base<Layout> runs the traffic; Layout (the derived class) checks what only its ring
// shows: the descriptors add() wrote, the position a popped chain came from, the used entry a
// push wrote, where the cursors end.
#pragma once

#include <algorithm>
#include <array>
#include <deque>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ring/ring_test_support.hpp"

/// A cheap check for hot loops: doctest's FAIL only when the condition is false.
#define RT_CHECK(cond, what)                               \
  do {                                                     \
    if (!(cond)) FAIL(what << " [" #cond "] " << where()); \
  } while (0)

namespace vireo_roundtrip {

using namespace vireo_ring_common;

struct rt_params {
  std::uint16_t size;
  bool indirect;
  bool event_idx;
  bool in_order;
  std::uint32_t chains;
  std::uint32_t seed;
};

inline std::string describe(const rt_params& p) {
  std::ostringstream s;
  s << "size " << p.size << (p.indirect ? " +INDIRECT" : "") << (p.event_idx ? " +EVENT_IDX" : "")
    << (p.in_order ? " +IN_ORDER" : "") << " seed " << p.seed;
  return s.str();
}

constexpr std::size_t max_bufs = 6;
constexpr std::uint32_t max_buf_len = 48;
constexpr std::size_t req_bytes = max_bufs * 64;  // guest memory of one request's buffers
constexpr std::byte sentinel{0xee};

/// Guest bytes recorded when add() wrote them, to be found unchanged later.
struct kept_bytes {
  gpa at;
  std::vector<std::byte> bytes;
};

/// Layout: the derived class. It provides
///   void check_refused_add(pos at, std::uint16_t free_before)      add() said ring_full
///   void check_added(request&, pos at, std::uint16_t free_before, std::size_t need)
///   void check_written(request&, std::size_t nr, std::size_t n, bool indirect)
///       (and fills request::kept_until_pop / kept_until_reclaim)
///   void check_popped_position(const chain&, const request&)
///   pos used_position()                                             the device's next used entry
///   void check_span_pushed(const std::vector<used_entry>&, pos used_before, bool collapsed)
///   void check_used_moved(const std::vector<used_entry>&, pos used_before)
///   void check_final_positions()                                    two CHECKs
template <typename Layout, typename Mock, typename Device>
class roundtrip_base {
 public:
  using mock = Mock;
  using device = Device;
  using chain = typename Device::chain_type;
  using pos = std::uint16_t;  // a driver or device position (split: index, packed: off_wrap)

  explicit roundtrip_base(const rt_params& p)
      : p_(p),
        m_(mock_options<Mock>(p.size, ring_features(/*packed=*/false, p.indirect, p.event_idx, p.in_order),
                              p.indirect ? static_cast<std::uint16_t>(max_bufs) : 0,
                              std::size_t{p.size} * req_bytes + 4096)),
        d_(m_.memory()),
        rng_(p.seed),
        reqs_(p.size),
        req_of_id_(p.size, -1) {
    REQUIRE(d_.configure(m_.config()).has_value());
    for (std::uint16_t s = 0; s < p.size; ++s) {
      reqs_[s].base = m_.alloc(req_bytes, 64);
      free_reqs_.push_back(s);
    }
  }

  void run() {
    std::uint64_t last_progress = 0, idle = 0;
    while (reclaimed_ < p_.chains) {
      ++step_;
      driver_add();
      if (rng_() % 40 == 0) kick_ = true;  // spurious notifications (G17)
      if (rng_() % 40 == 0) irq_ = true;
      if (kick_ || dev_polling_ || !held_.empty()) device_run();
      if (irq_ || drv_polling_) driver_reclaim();
      const std::uint64_t progress = added_ + popped_ + completed_ + reclaimed_;
      if (progress != last_progress) {
        last_progress = progress;
        idle = 0;
      } else if (++idle > 200) {
        FAIL("stall (a lost notification?) " << where());
      }
    }
    // Everything came back; both sides agree on the positions.
    CHECK(added_ == p_.chains);
    CHECK(held_.empty());
    CHECK(free_reqs_.size() == p_.size);
    auto& drv = m_.driver();
    CHECK(drv.in_flight() == 0);
    CHECK(drv.free_descriptors() == p_.size);
    layout().check_final_positions();
    auto avail = d_.available();
    REQUIRE(avail.has_value());
    CHECK(*avail == 0);
    CHECK(kicks_ > 0);
    CHECK(irqs_ > 0);
  }

 protected:
  /// One request slot: its buffers, and what the driver and device did with it.
  struct request {
    gpa base{};
    bool in_flight = false;
    bool popped = false;
    bool completed = false;
    std::uint32_t gen = 0;
    std::uint16_t id = 0;     // add()'s result: the head (split) or the buffer id (packed)
    pos at = 0;               // the driver's avail position before add()
    std::uint16_t slots = 0;  // descriptors (split) or ring slots (packed) add() took
    std::vector<buffer> rd, wr;
    std::vector<std::byte> rd_bytes;
    std::uint32_t writable_len = 0;
    std::uint32_t dev_len = 0;
    std::vector<kept_bytes> kept_until_pop;      // the device may overwrite them once popped
    std::vector<kept_bytes> kept_until_reclaim;  // nobody may touch them while in flight
  };
  struct held_chain {
    chain c;
    std::uint16_t req;
  };

  std::string where() const {
    std::ostringstream s;
    s << "(" << describe(p_) << ", step " << step_ << ", added " << added_ << ", popped " << popped_
      << ", completed " << completed_ << ", reclaimed " << reclaimed_ << ")";
    return s.str();
  }

  std::uint32_t rnd(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }

  std::vector<std::byte> bytes_at(gpa g, std::size_t n) {
    const auto h = m_.host(g, n);
    return {h.begin(), h.end()};
  }
  kept_bytes keep(gpa g, std::size_t n) { return {g, bytes_at(g, n)}; }
  [[nodiscard]] bool unchanged(const std::vector<kept_bytes>& kept) {
    for (const kept_bytes& k : kept) {
      const auto h = m_.host(k.at, k.bytes.size());
      if (!std::equal(h.begin(), h.end(), k.bytes.begin(), k.bytes.end())) return false;
    }
    return true;
  }

  rt_params p_;
  Mock m_;
  Device d_;
  std::mt19937 rng_;
  std::vector<request> reqs_;

 private:
  Layout& layout() { return static_cast<Layout&>(*this); }

  // ---- driver ---------------------------------------------------------------------------------

  void driver_add() {
    if (added_ == p_.chains || rnd(3) == 0) return;
    auto& drv = m_.driver();
    const std::uint32_t batch = 1 + rnd(4);
    std::uint32_t done = 0;
    for (; done < batch && added_ < p_.chains && !free_reqs_.empty(); ++done) {
      std::size_t nr = rnd(4), nw = rnd(4);
      if (nr + nw == 0) (rnd(2) ? nr : nw) = 1;
      while (nr + nw > p_.size) (nr > 0 ? nr : nw) -= 1;
      const std::size_t n = nr + nw;
      add_mode mode = add_mode::automatic;
      if (rnd(3) == 0) mode = add_mode::direct;
      else if (p_.indirect && rnd(2) == 0) mode = add_mode::indirect;
      const std::uint16_t free_before = drv.free_descriptors();
      const bool indirect =
          mode == add_mode::indirect || (mode == add_mode::automatic && n > free_before && p_.indirect);
      const std::size_t need = indirect ? 1 : n;

      const std::uint16_t s = free_reqs_.back();
      request& st = reqs_[s];
      st.rd.clear();
      st.wr.clear();
      st.rd_bytes.clear();
      st.writable_len = 0;
      for (std::size_t j = 0; j < n; ++j) {
        const std::uint32_t len = rnd(10) == 0 ? 0 : 1 + rnd(max_buf_len);
        const buffer b{st.base.offset(64 * j), len};
        auto h = m_.host(b.addr, len);
        if (j < nr) {
          for (auto& x : h) x = static_cast<std::byte>(rng_());
          st.rd.push_back(b);
          st.rd_bytes.insert(st.rd_bytes.end(), h.begin(), h.end());
        } else {
          std::fill(h.begin(), h.end(), sentinel);
          st.wr.push_back(b);
          st.writable_len += len;
        }
      }
      const pos at = drv.avail_index();
      const std::uint64_t user = (std::uint64_t{st.gen} << 16) | s;
      auto id = drv.add(st.rd, st.wr, user, mode);
      if (need > free_before) {
        RT_CHECK(!id && id.error() == errc::ring_full, "add() with too few free descriptors");
        layout().check_refused_add(at, free_before);
        break;
      }
      RT_CHECK(id.has_value(), "add() failed: " << static_cast<int>(err(id)));
      RT_CHECK(*id < p_.size, "head or buffer id out of range");
      RT_CHECK(req_of_id_[*id] == -1, "head or buffer id reused while in flight");
      free_reqs_.pop_back();
      st.in_flight = true;
      st.popped = st.completed = false;
      st.id = *id;
      st.at = at;
      st.slots = static_cast<std::uint16_t>(need);
      req_of_id_[*id] = s;
      if (p_.in_order) order_.push_back(s);
      layout().check_added(st, at, free_before, need);
      st.kept_until_pop.clear();
      st.kept_until_reclaim.clear();
      layout().check_written(st, nr, n, indirect);
      ++added_;
    }
    if (done > 0 && drv.needs_kick()) {
      kick_ = true;
      ++kicks_;
    }
  }

  void driver_reclaim() {
    irq_ = false;
    auto& drv = m_.driver();
    drv.disable_interrupts();
    const std::uint32_t limit = rnd(4) == 0 ? rnd(3) : UINT32_MAX;  // sometimes stop early
    for (std::uint32_t k = 0; k < limit; ++k) {
      auto u = drv.reclaim();
      RT_CHECK(u.has_value(), "reclaim failed: " << static_cast<int>(err(u)));
      if (!*u) break;
      check_reclaimed(**u);
    }
    drv_polling_ = drv.enable_interrupts();
  }

  void check_reclaimed(const used_buffer& u) {
    const auto s = static_cast<std::uint16_t>(u.user_data & 0xffff);
    RT_CHECK(s < reqs_.size(), "user_data slot");
    request& st = reqs_[s];
    RT_CHECK(st.in_flight && st.gen == (u.user_data >> 16), "user_data returned twice or stale");
    RT_CHECK(st.completed, "reclaimed before the device completed it");
    RT_CHECK(u.id == st.id, "used id is not the one add() returned");
    if (p_.in_order) {
      RT_CHECK(order_.front() == s, "IN_ORDER: buffers must come back in order");
      order_.pop_front();
    }
    RT_CHECK(u.len == st.dev_len, "used len " << u.len << " != device len " << st.dev_len);
    // The bytes the device wrote, then untouched sentinel bytes.
    const auto want = pattern(st.dev_len, st.gen * 977u + s);
    std::size_t at = 0;
    for (const auto& b : st.wr) {
      auto h = m_.host(b.addr, b.len);
      for (std::size_t i = 0; i < b.len; ++i, ++at)
        RT_CHECK(h[i] == (at < want.size() ? want[at] : sentinel), "writable byte " << at);
    }
    // Readable buffers, and what add() wrote, are as the driver left them (S5, P4, G10).
    std::size_t r = 0;
    for (const auto& b : st.rd) {
      auto h = m_.host(b.addr, b.len);
      RT_CHECK(std::equal(h.begin(), h.end(), st.rd_bytes.begin() + static_cast<std::ptrdiff_t>(r)),
               "S5 P4 readable buffer changed");
      r += b.len;
    }
    RT_CHECK(unchanged(st.kept_until_reclaim), "G10 a descriptor or indirect table changed while in flight");
    st.in_flight = false;
    ++st.gen;
    req_of_id_[st.id] = -1;
    free_reqs_.push_back(s);
    ++reclaimed_;
  }

  // ---- device ---------------------------------------------------------------------------------

  void device_run() {
    kick_ = false;
    d_.disable_notifications();
    const std::uint32_t pops = rnd(6);
    for (std::uint32_t k = 0; k < pops; ++k) {
      auto c = d_.pop();
      RT_CHECK(c.has_value(), "pop failed: " << static_cast<int>(err(c)));
      if (c->empty()) break;
      check_popped(*c);
    }
    bool pushed = false;
    if (!held_.empty() && rnd(3) != 0) {
      complete_some();
      pushed = true;
    }
    if (pushed && d_.needs_notification()) {
      irq_ = true;
      ++irqs_;
    }
    auto more = d_.enable_notifications();
    RT_CHECK(more.has_value(), "enable_notifications failed");
    dev_polling_ = *more;
  }

  void check_popped(const chain& c) {
    RT_CHECK(c.id() < p_.size && req_of_id_[c.id()] >= 0, "popped an unknown head or id");
    const auto s = static_cast<std::uint16_t>(req_of_id_[c.id()]);
    request& st = reqs_[s];
    RT_CHECK(st.in_flight && !st.popped, "popped twice");
    layout().check_popped_position(c, st);
    // P8: until the device took it, nobody changed a byte of what add() wrote.
    RT_CHECK(unchanged(st.kept_until_pop), "P8 the list's slots changed before the pop");
    RT_CHECK(c.readable_len() == st.rd_bytes.size(), "readable_len");
    RT_CHECK(c.writable_len() == st.writable_len, "writable_len");
    // Read the readable part in random pieces; it equals what the driver wrote.
    auto rd = c.reader();
    std::vector<std::byte> got(st.rd_bytes.size());
    std::size_t at = 0;
    while (at < got.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rnd(20), got.size() - at);
      RT_CHECK(rd.read(bytes{got.data() + at, n}).has_value(), "reader.read");
      at += n;
    }
    RT_CHECK(rd.remaining() == 0, "reader has bytes left");
    RT_CHECK(got == st.rd_bytes, "readable bytes differ");
    st.popped = true;
    held_.push_back({c, s});
    ++popped_;
  }

  void write_reply(const held_chain& h, std::uint32_t len) {
    request& st = reqs_[h.req];
    const auto data = pattern(len, st.gen * 977u + h.req);
    auto w = h.c.writer();
    std::size_t at = 0;
    while (at < len) {
      const std::size_t n = std::min<std::size_t>(1 + rnd(17), len - at);
      RT_CHECK(w.write(const_bytes{data.data() + at, n}).has_value(), "writer.write");
      at += n;
    }
    RT_CHECK(w.written() == len, "writer.written");
    st.dev_len = len;
  }

  void complete_some() {
    std::vector<held_chain> pick;
    const std::size_t k = 1 + rnd(static_cast<std::uint32_t>(held_.size()));
    if (p_.in_order) {  // the oldest k, in pop order
      pick.assign(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(k));
      held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(k));
    } else {  // any k, in any order
      std::shuffle(held_.begin(), held_.end(), rng_);
      pick.assign(held_.end() - static_cast<std::ptrdiff_t>(k), held_.end());
      held_.resize(held_.size() - k);
    }
    const std::uint32_t style = rnd(3);  // 0: one by one, 1: one span, 2: span, full lengths first
    std::vector<used_entry> batch;
    for (std::size_t i = 0; i < pick.size(); ++i) {
      const std::uint32_t wl = pick[i].c.writable_len();
      std::uint32_t len = wl == 0 ? 0 : rnd(wl + 1);
      if (style == 2 && i + 1 < pick.size()) len = wl;  // IN_ORDER: collapses into one used entry
      write_reply(pick[i], len);
      batch.push_back({pick[i].c.token(), len});
    }
    const pos used_before = layout().used_position();
    if (style == 0) {
      for (const auto& e : batch) RT_CHECK(d_.push_used(e.token, e.len).has_value(), "push_used");
    } else {
      RT_CHECK(d_.push_used(batch).has_value(), "push_used(span)");
      // Under IN_ORDER a span collapses into one used entry naming the last buffer (§2.7.9,
      // §2.8.8) whenever every entry but the last reports its full writable length (style 2
      // forces that; style 1 can hit it by chance, e.g. len 0 of 0).
      const bool collapsed =
          p_.in_order && std::all_of(batch.begin(), batch.end() - 1, [](const used_entry& e) {
            return e.len == e.token.writable_len;
          });
      if (p_.in_order && style == 2) RT_CHECK(collapsed, "style 2 must collapse");
      layout().check_span_pushed(batch, used_before, collapsed);
    }
    layout().check_used_moved(batch, used_before);
    for (const auto& h : pick) reqs_[h.req].completed = true;
    completed_ += pick.size();
  }

  std::vector<std::uint16_t> free_reqs_;
  std::vector<int> req_of_id_;
  std::deque<std::uint16_t> order_;
  std::vector<held_chain> held_;
  bool kick_ = false, irq_ = false, dev_polling_ = false, drv_polling_ = false;
  std::uint64_t step_ = 0, added_ = 0, popped_ = 0, completed_ = 0, reclaimed_ = 0;
  std::uint64_t kicks_ = 0, irqs_ = 0;
};

/// Every combination of INDIRECT_DESC / EVENT_IDX / IN_ORDER at every size, each with its own
/// seed; after(rt) sees each finished run.
template <typename Roundtrip, typename After>
void run_all_combinations(std::initializer_list<std::uint16_t> sizes, std::uint32_t chains,
                          std::uint32_t seed, After after) {
  for (int combo = 0; combo < 8; ++combo) {
    for (const std::uint16_t size : sizes) {
      const rt_params p{size, (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, chains,
                        seed + static_cast<std::uint32_t>(combo * 1000 + size)};
      CAPTURE(describe(p));
      Roundtrip rt{p};
      rt.run();
      after(rt);
    }
  }
}

}  // namespace vireo_roundtrip
