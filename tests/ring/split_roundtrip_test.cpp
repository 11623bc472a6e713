// SPDX-License-Identifier: Apache-2.0
// Randomised round trips: Vireo's split_driver (through mock_split_driver) against split_device,
// in one thread, driven by notifications. Random chains (readable/writable counts and sizes,
// direct or indirect), random batches, out-of-order completion unless IN_ORDER, every
// combination of INDIRECT_DESC / EVENT_IDX / IN_ORDER. Each side only runs when the other
// notified it (or when it chose to keep polling), so a lost notification shows up as a stall.
// The driver checks every used length, every byte written, the descriptors it wrote (S4, S6,
// S7, S9-S12, G10) and that each user_data comes back exactly once.
#include "split_test_support.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <random>
#include <sstream>
#include <string>

using namespace vireo_ring_test;

/// A cheap check for hot loops: doctest's FAIL only when the condition is false.
#define RT_CHECK(cond, what)                                   \
  do {                                                         \
    if (!(cond)) FAIL(what << " [" #cond "] " << where());     \
  } while (0)

namespace {

struct rt_params {
  std::uint16_t size;
  bool indirect;
  bool event_idx;
  bool in_order;
  std::uint32_t chains;
  std::uint32_t seed;
};

std::string describe(const rt_params& p) {
  std::ostringstream s;
  s << "size " << p.size << (p.indirect ? " +INDIRECT" : "") << (p.event_idx ? " +EVENT_IDX" : "")
    << (p.in_order ? " +IN_ORDER" : "") << " seed " << p.seed;
  return s.str();
}

constexpr std::size_t max_bufs = 6;
constexpr std::uint32_t max_buf_len = 48;
constexpr std::size_t slot_bytes = max_bufs * 64;
constexpr std::byte sentinel{0xee};

class roundtrip {
 public:
  explicit roundtrip(const rt_params& p)
      : p_(p),
        m_(opts(p.size, features(p.indirect, p.event_idx, p.in_order),
                p.indirect ? static_cast<std::uint16_t>(max_bufs) : 0,
                std::size_t{p.size} * slot_bytes + 4096)),
        d_(m_.memory()),
        rng_(p.seed),
        slots_(p.size),
        slot_of_head_(p.size, -1) {
    configure(d_, m_);
    for (std::uint16_t s = 0; s < p.size; ++s) {
      slots_[s].base = m_.alloc(slot_bytes, 64);
      free_slots_.push_back(s);
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
    // Everything came back; both sides agree on the indices.
    CHECK(added_ == p_.chains);
    CHECK(held_.empty());
    CHECK(free_slots_.size() == p_.size);
    CHECK(m_.driver().in_flight() == 0);
    CHECK(m_.driver().free_descriptors() == p_.size);
    CHECK(m_.avail_idx() == static_cast<std::uint16_t>(p_.chains));
    CHECK(m_.used_idx() == static_cast<std::uint16_t>(p_.chains));
    auto avail = d_.available();
    REQUIRE(avail.has_value());
    CHECK(*avail == 0);
    CHECK(kicks_ > 0);
    CHECK(irqs_ > 0);
  }

 private:
  struct slot_state {
    gpa base{};
    bool in_flight = false;
    bool popped = false;
    bool completed = false;
    std::uint32_t gen = 0;
    std::uint16_t head = 0;
    std::vector<buffer> rd, wr;
    std::vector<std::byte> rd_bytes;
    std::uint32_t writable_len = 0;
    std::uint32_t dev_len = 0;
    std::vector<std::pair<gpa, std::array<std::byte, 16>>> descs;  // as written by add()
  };
  struct held_chain {
    chain c;
    std::uint16_t slot;
  };

  std::string where() const {
    std::ostringstream s;
    s << "(" << describe(p_) << ", step " << step_ << ", added " << added_ << ", popped " << popped_
      << ", completed " << completed_ << ", reclaimed " << reclaimed_ << ")";
    return s.str();
  }

  std::uint32_t rnd(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }

  // ---- driver ---------------------------------------------------------------------------------

  void driver_add() {
    if (added_ == p_.chains || rnd(3) == 0) return;
    auto& drv = m_.driver();
    const std::uint32_t batch = 1 + rnd(4);
    std::uint32_t done = 0;
    for (; done < batch && added_ < p_.chains && !free_slots_.empty(); ++done) {
      std::size_t nr = rnd(4), nw = rnd(4);
      if (nr + nw == 0) (rnd(2) ? nr : nw) = 1;
      while (nr + nw > p_.size) (nr > 0 ? nr : nw) -= 1;
      const std::size_t n = nr + nw;
      add_mode mode = add_mode::automatic;
      if (rnd(3) == 0) mode = add_mode::direct;
      else if (p_.indirect && rnd(2) == 0) mode = add_mode::indirect;
      std::size_t need = n;
      if (mode == add_mode::indirect || (mode == add_mode::automatic && n > drv.free_descriptors() && p_.indirect))
        need = 1;

      const std::uint16_t s = free_slots_.back();
      slot_state& st = slots_[s];
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
      const std::uint16_t idx_before = m_.avail_idx();
      const std::size_t free_before = drv.free_descriptors();
      const std::uint64_t user = (std::uint64_t{st.gen} << 16) | s;
      auto head = drv.add(st.rd, st.wr, user, mode);
      if (need > free_before) {
        RT_CHECK(!head && head.error() == errc::ring_full, "add() with too few descriptors");
        RT_CHECK(m_.avail_idx() == idx_before, "a refused add() moved avail.idx");
        break;
      }
      RT_CHECK(head.has_value(), "add() failed: " << static_cast<int>(err(head)));
      RT_CHECK(m_.avail_idx() == static_cast<std::uint16_t>(idx_before + 1), "S15 avail.idx");
      RT_CHECK(*head < p_.size, "head out of range");
      RT_CHECK(slot_of_head_[*head] == -1, "head reused while in flight");
      free_slots_.pop_back();
      st.in_flight = true;
      st.popped = st.completed = false;
      st.head = *head;
      slot_of_head_[*head] = s;
      if (p_.in_order) order_.push_back(s);
      check_written_chain(st, nr, n);
      ++added_;
    }
    if (done > 0 && drv.needs_kick()) {
      kick_ = true;
      ++kicks_;
    }
  }

  /// What add() wrote: S4 (readable first), S6 (terminates), S7/S12 (IN_ORDER and table
  /// linking), S9/S11 (INDIRECT alone, never in a table), S10 (n <= size); snapshot for G10.
  void check_written_chain(slot_state& st, std::size_t nr, std::size_t n) {
    st.descs.clear();
    auto snap = [&](gpa at) {
      std::array<std::byte, 16> raw{};
      auto h = m_.host(at, 16);
      std::copy(h.begin(), h.end(), raw.begin());
      st.descs.emplace_back(at, raw);
    };
    auto buf_at = [&](std::size_t i) -> const buffer& { return i < nr ? st.rd[i] : st.wr[i - nr]; };
    RT_CHECK(n <= p_.size, "S10 chain longer than the queue");
    const gpa table = m_.config().desc_table;
    const desc_view top = read_desc(m_, st.head);
    if (top.flags & desc_flag::indirect) {
      RT_CHECK(p_.indirect, "S8 INDIRECT without the feature");
      RT_CHECK(top.flags == desc_flag::indirect, "S11 INDIRECT with other flags");
      RT_CHECK(top.len == 16 * n, "indirect table length");
      snap(table.offset(16u * st.head));
      for (std::size_t i = 0; i < n; ++i) {
        const gpa at{top.addr + 16 * i};
        const desc_view dv = read_desc_at(m_, at);
        RT_CHECK((dv.flags & desc_flag::indirect) == 0, "S9 INDIRECT inside a table");
        RT_CHECK(dv.addr == buf_at(i).addr.raw() && dv.len == buf_at(i).len, "table entry buffer");
        RT_CHECK(((dv.flags & desc_flag::write) != 0) == (i >= nr), "S4 order in table");
        RT_CHECK(((dv.flags & desc_flag::next) != 0) == (i + 1 < n), "table NEXT");
        if (i + 1 < n) RT_CHECK(dv.next == i + 1, "S12 table next = i + 1");
        snap(at);
      }
    } else {
      std::uint16_t x = st.head;
      for (std::size_t i = 0; i < n; ++i) {
        const desc_view dv = read_desc(m_, x);
        RT_CHECK((dv.flags & desc_flag::indirect) == 0, "stray INDIRECT");
        RT_CHECK(dv.addr == buf_at(i).addr.raw() && dv.len == buf_at(i).len, "descriptor buffer");
        RT_CHECK(((dv.flags & desc_flag::write) != 0) == (i >= nr), "S4 order");
        RT_CHECK(((dv.flags & desc_flag::next) != 0) == (i + 1 < n), "S6 chain must end");
        if (p_.in_order && i + 1 < n)
          RT_CHECK(dv.next == static_cast<std::uint16_t>((x + 1) % p_.size), "S7 next = x + 1");
        snap(table.offset(16u * x));
        x = dv.next;
      }
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

  void check_reclaimed(const vireo::ring::used_buffer& u) {
    const std::uint16_t s = static_cast<std::uint16_t>(u.user_data & 0xffff);
    RT_CHECK(s < slots_.size(), "user_data slot");
    slot_state& st = slots_[s];
    RT_CHECK(st.in_flight && st.gen == (u.user_data >> 16), "user_data returned twice or stale");
    RT_CHECK(st.completed, "reclaimed before the device completed it");
    RT_CHECK(u.id == st.head, "used id is not the head add() returned");
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
    // Readable buffers and the descriptors of the chain are as the driver left them (S5, G10).
    std::size_t r = 0;
    for (const auto& b : st.rd) {
      auto h = m_.host(b.addr, b.len);
      RT_CHECK(std::equal(h.begin(), h.end(), st.rd_bytes.begin() + static_cast<std::ptrdiff_t>(r)),
               "S5 readable buffer changed");
      r += b.len;
    }
    for (const auto& [at, raw] : st.descs) {
      auto h = m_.host(at, 16);
      RT_CHECK(std::equal(h.begin(), h.end(), raw.begin()), "G10 descriptor changed while in flight");
    }
    st.in_flight = false;
    ++st.gen;
    slot_of_head_[st.head] = -1;
    free_slots_.push_back(s);
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
    RT_CHECK(c.id() < p_.size && slot_of_head_[c.id()] >= 0, "popped an unknown head");
    const auto s = static_cast<std::uint16_t>(slot_of_head_[c.id()]);
    slot_state& st = slots_[s];
    RT_CHECK(st.in_flight && !st.popped, "popped twice");
    RT_CHECK(c.token().seq == static_cast<std::uint16_t>(popped_), "pop sequence");
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
    slot_state& st = slots_[h.slot];
    const auto data = pattern(len, st.gen * 977u + h.slot);
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
      if (style == 2 && i + 1 < pick.size()) len = wl;  // IN_ORDER: collapses into one element
      write_reply(pick[i], len);
      batch.push_back({pick[i].c.token(), len});
    }
    const std::uint16_t used_before = m_.used_idx();
    if (style == 0) {
      for (const auto& e : batch) RT_CHECK(d_.push_used(e.token, e.len).has_value(), "push_used");
    } else {
      RT_CHECK(d_.push_used(batch).has_value(), "push_used(span)");
      // S18 + §2.7.9: the element for the batch is in place once used.idx covers it.
      // Under IN_ORDER a span collapses whenever every entry but the last reports its full
      // writable length (style 2 forces that; style 1 can hit it by chance, e.g. len 0 of 0).
      const bool collapsed =
          p_.in_order && std::all_of(batch.begin(), batch.end() - 1, [](const used_entry& e) {
            return e.len == e.token.writable_len;
          });
      if (p_.in_order && style == 2) RT_CHECK(collapsed, "style 2 must collapse");
      const auto [id, len] = m_.used_elem(used_before);
      RT_CHECK(id == (collapsed ? batch.back().token.id : batch.front().token.id), "used element id");
      RT_CHECK(len == (collapsed ? batch.back().len : batch.front().len), "used element len");
    }
    RT_CHECK(m_.used_idx() == static_cast<std::uint16_t>(used_before + batch.size()), "used.idx");
    for (const auto& h : pick) slots_[h.slot].completed = true;
    completed_ += pick.size();
  }

  rt_params p_;
  mock m_;
  device d_;
  std::mt19937 rng_;
  std::vector<slot_state> slots_;
  std::vector<std::uint16_t> free_slots_;
  std::vector<int> slot_of_head_;
  std::deque<std::uint16_t> order_;
  std::vector<held_chain> held_;
  bool kick_ = false, irq_ = false, dev_polling_ = false, drv_polling_ = false;
  std::uint64_t step_ = 0, added_ = 0, popped_ = 0, completed_ = 0, reclaimed_ = 0;
  std::uint64_t kicks_ = 0, irqs_ = 0;
};

void run_all_combinations(std::initializer_list<std::uint16_t> sizes, std::uint32_t chains,
                          std::uint32_t seed) {
  for (int combo = 0; combo < 8; ++combo) {
    for (const std::uint16_t size : sizes) {
      const rt_params p{size, (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, chains,
                        seed + static_cast<std::uint32_t>(combo * 1000 + size)};
      CAPTURE(describe(p));
      roundtrip rt{p};
      rt.run();
    }
  }
}

}  // namespace

TEST_CASE("round trip: random chains through driver and device, all 8 feature combinations") {
  run_all_combinations({2, 8, 64}, 1500, 1);
}

TEST_CASE("round trip: tiny queues (size 1 and 4), all 8 feature combinations") {
  run_all_combinations({1, 4}, 1000, 77);
}

TEST_SUITE("soak") {
  TEST_CASE("soak: round trip, all 8 combinations, many sizes and seeds") {
    for (std::uint32_t seed : {101u, 202u, 303u})
      run_all_combinations({1, 2, 4, 16, 128, 256}, 20000, seed);
  }
}
