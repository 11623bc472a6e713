// SPDX-License-Identifier: Apache-2.0
// Randomised round trips over the packed ring: Vireo's packed_driver (through mock_packed_driver)
// against packed_device, in one thread, driven by notifications. Random lists (readable/writable
// counts and sizes, direct or indirect), random batches, out-of-order completion unless
// IN_ORDER, every combination of INDIRECT_DESC / EVENT_IDX / IN_ORDER, ring sizes that are not
// powers of two. Each side only runs when the other notified it (or when it chose to keep
// polling), so a lost notification shows up as a stall. The driver checks every used length,
// every byte written, the descriptors it wrote (P10, P11, P15, the wrap marks of every slot, the
// buffer id in every descriptor), that the device took each list exactly as written (P8), that
// readable buffers and indirect tables came back untouched (P4, G10) and that each user_data
// comes back exactly once.
#include <algorithm>
#include <array>
#include <deque>
#include <random>
#include <sstream>
#include <string>

#include "ring/conformance/harness.hpp"

using namespace vireo_conformance;

/// A cheap check for hot loops: doctest's FAIL only when the condition is false.
#define RT_CHECK(cond, what)                               \
  do {                                                     \
    if (!(cond)) FAIL(what << " [" #cond "] " << where()); \
  } while (0)

namespace {

using mock = vireo::testing::mock_packed_driver;
using device = vireo::ring::packed_device<flat_memory>;
using chain = device::chain_type;
using vireo::ring::off_of;
using vireo::ring::wrap_of;

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
constexpr std::size_t req_bytes = max_bufs * 64;
constexpr std::byte sentinel{0xee};

[[nodiscard]] std::uint16_t adv(std::uint16_t p, std::int64_t k, std::uint16_t n) {
  return packed_harness::advance_in(p, k, n);
}

class roundtrip {
 public:
  explicit roundtrip(const rt_params& p)
      : p_(p), m_(make_options(p)), d_(m_.memory()), rng_(p.seed), reqs_(p.size), req_of_id_(p.size, -1) {
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
    CHECK(d_.state().next_avail == drv.avail_index());
    CHECK(d_.state().used_idx == drv.avail_index());
    auto avail = d_.available();
    REQUIRE(avail.has_value());
    CHECK(*avail == 0);
    CHECK(kicks_ > 0);
    CHECK(irqs_ > 0);
  }
  [[nodiscard]] std::uint64_t laps() const { return slots_published_ / p_.size; }

 private:
  struct req_state {
    gpa base{};
    bool in_flight = false;
    bool popped = false;
    bool completed = false;
    std::uint32_t gen = 0;
    std::uint16_t id = 0;
    std::uint16_t at = 0;     // where the list was published (slot | wrap << 15)
    std::uint16_t slots = 0;  // ring slots it took
    std::vector<buffer> rd, wr;
    std::vector<std::byte> rd_bytes;
    std::uint32_t writable_len = 0;
    std::uint32_t dev_len = 0;
    std::vector<std::byte> ring_bytes;   // its ring slots as add() wrote them
    std::vector<std::byte> table_bytes;  // its indirect table, if any
    gpa table{};
  };
  struct held_chain {
    chain c;
    std::uint16_t req;
  };

  static mock::options make_options(const rt_params& p) {
    mock::options o;
    o.size = p.size;
    o.features = features(p.indirect, p.event_idx, p.in_order);
    o.indirect_entries = p.indirect ? static_cast<std::uint16_t>(max_bufs) : 0;
    o.data_bytes = std::size_t{p.size} * req_bytes + 4096;
    return o;
  }

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
  std::vector<std::byte> ring_bytes(std::uint16_t at, std::uint16_t slots) {
    std::vector<std::byte> out;
    for (std::uint16_t k = 0; k < slots; ++k) {
      const auto b = bytes_at(m_.config().desc_table.offset(16u * off_of(adv(at, k, p_.size))), 16);
      out.insert(out.end(), b.begin(), b.end());
    }
    return out;
  }

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
      req_state& st = reqs_[s];
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
      const std::uint16_t at = drv.avail_index();
      const std::uint64_t user = (std::uint64_t{st.gen} << 16) | s;
      auto id = drv.add(st.rd, st.wr, user, mode);
      if (need > free_before) {
        RT_CHECK(!id && id.error() == errc::ring_full, "add() with too few free slots");
        RT_CHECK(drv.avail_index() == at, "P12 a refused add() moved the avail position");
        RT_CHECK(drv.free_descriptors() == free_before, "P12 a refused add() took slots");
        break;
      }
      RT_CHECK(id.has_value(), "add() failed: " << static_cast<int>(err(id)));
      RT_CHECK(*id < p_.size, "buffer id out of range");
      RT_CHECK(req_of_id_[*id] == -1, "buffer id reused while in flight");
      RT_CHECK(drv.free_descriptors() == free_before - need, "slots taken");
      RT_CHECK(drv.avail_index() == adv(at, static_cast<std::int64_t>(need), p_.size), "avail position");
      free_reqs_.pop_back();
      st.in_flight = true;
      st.popped = st.completed = false;
      st.id = *id;
      st.at = at;
      st.slots = static_cast<std::uint16_t>(need);
      req_of_id_[*id] = s;
      if (p_.in_order) order_.push_back(s);
      check_written_list(st, nr, n, indirect);
      slots_published_ += need;
      ++added_;
    }
    if (done > 0 && drv.needs_kick()) {
      kick_ = true;
      ++kicks_;
    }
  }

  /// What add() wrote: P10 (n <= size), P11 (WRITE on exactly the writable ones, after the
  /// readable ones), P15 (INDIRECT alone in its slot, table entries with only WRITE), the
  /// AVAIL/USED marks of each slot's phase (§2.8.1, flipping mid-list), NEXT on all but the last,
  /// the buffer id in every descriptor. Snapshots for P8 and G10.
  void check_written_list(req_state& st, std::size_t nr, std::size_t n, bool indirect) {
    auto buf_at = [&](std::size_t i) -> const buffer& { return i < nr ? st.rd[i] : st.wr[i - nr]; };
    RT_CHECK(n <= p_.size, "P10 list longer than the queue");
    const auto read = [&](gpa g) { return m_.read_desc_at(g); };
    const gpa ring = m_.config().desc_table;
    if (indirect) {
      const auto top = read(ring.offset(16u * off_of(st.at)));
      RT_CHECK(top.flags == (desc_flag::indirect | packed_flag::avail_marks(wrap_of(st.at))),
               "P15 INDIRECT slot flags " << top.flags);
      RT_CHECK(top.id == st.id, "indirect slot id");
      RT_CHECK(top.len == 16 * n, "indirect table length");
      st.table = gpa{top.addr};
      RT_CHECK(top.addr == m_.pool().base.raw() + std::uint64_t{st.id} * max_bufs * 16, "table at the id");
      for (std::size_t i = 0; i < n; ++i) {
        const auto e = read(st.table.offset(16 * i));
        RT_CHECK(e.addr == buf_at(i).addr.raw() && e.len == buf_at(i).len, "table entry buffer");
        RT_CHECK(e.flags == (i >= nr ? desc_flag::write : 0), "P15 P11 table entry flags " << e.flags);
      }
      st.table_bytes = bytes_at(st.table, 16 * n);
    } else {
      st.table_bytes.clear();
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t p = adv(st.at, static_cast<std::int64_t>(i), p_.size);
        const auto d = read(ring.offset(16u * off_of(p)));
        const auto want = static_cast<std::uint16_t>(packed_flag::avail_marks(wrap_of(p)) |
                                                     (i >= nr ? desc_flag::write : 0) |
                                                     (i + 1 < n ? desc_flag::next : 0));
        RT_CHECK(d.flags == want, "P11 slot flags " << d.flags << " want " << want);
        RT_CHECK(d.addr == buf_at(i).addr.raw() && d.len == buf_at(i).len, "slot buffer");
        RT_CHECK(d.id == st.id, "the buffer id in every descriptor");
      }
    }
    st.ring_bytes = ring_bytes(st.at, st.slots);
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
    req_state& st = reqs_[s];
    RT_CHECK(st.in_flight && st.gen == (u.user_data >> 16), "user_data returned twice or stale");
    RT_CHECK(st.completed, "reclaimed before the device completed it");
    RT_CHECK(u.id == st.id, "used id is not the id add() returned");
    if (p_.in_order) {
      RT_CHECK(order_.front() == s, "IN_ORDER: buffers must come back in order");
      order_.pop_front();
    }
    RT_CHECK(u.len == st.dev_len, "used len " << u.len << " != device len " << st.dev_len);
    const auto want = pattern(st.dev_len, st.gen * 977u + s);
    std::size_t at = 0;
    for (const auto& b : st.wr) {
      auto h = m_.host(b.addr, b.len);
      for (std::size_t i = 0; i < b.len; ++i, ++at)
        RT_CHECK(h[i] == (at < want.size() ? want[at] : sentinel), "writable byte " << at);
    }
    // Readable buffers and the indirect table are as the driver left them (P4, G10).
    std::size_t r = 0;
    for (const auto& b : st.rd) {
      auto h = m_.host(b.addr, b.len);
      RT_CHECK(std::equal(h.begin(), h.end(), st.rd_bytes.begin() + static_cast<std::ptrdiff_t>(r)),
               "P4 readable buffer changed");
      r += b.len;
    }
    if (!st.table_bytes.empty())
      RT_CHECK(bytes_at(st.table, st.table_bytes.size()) == st.table_bytes, "G10 indirect table changed in flight");
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
    RT_CHECK(c.id() < p_.size && req_of_id_[c.id()] >= 0, "popped an unknown id");
    const auto s = static_cast<std::uint16_t>(req_of_id_[c.id()]);
    req_state& st = reqs_[s];
    RT_CHECK(st.in_flight && !st.popped, "popped twice");
    RT_CHECK(c.token().seq == st.at, "P2 the list starts where it was published");
    RT_CHECK(c.token().slots == st.slots, "slot count");
    // P8: until the device took it, nobody changed a byte of the list's slots.
    RT_CHECK(ring_bytes(st.at, st.slots) == st.ring_bytes, "P8 the list's slots changed before the pop");
    RT_CHECK(c.readable_len() == st.rd_bytes.size(), "readable_len");
    RT_CHECK(c.writable_len() == st.writable_len, "writable_len");
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
    req_state& st = reqs_[h.req];
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
    std::uint32_t slots = 0;
    for (std::size_t i = 0; i < pick.size(); ++i) {
      const std::uint32_t wl = pick[i].c.writable_len();
      std::uint32_t len = wl == 0 ? 0 : rnd(wl + 1);
      if (style == 2 && i + 1 < pick.size()) len = wl;  // IN_ORDER: collapses into one descriptor
      write_reply(pick[i], len);
      batch.push_back({pick[i].c.token(), len});
      slots += pick[i].c.token().slots;
    }
    const std::uint16_t used_before = d_.state().used_idx;
    if (style == 0) {
      for (const auto& e : batch) RT_CHECK(d_.push_used(e.token, e.len).has_value(), "push_used");
    } else {
      RT_CHECK(d_.push_used(batch).has_value(), "push_used(span)");
      // The first used descriptor of the batch (§2.8.8 when collapsed: the last buffer's id).
      const bool collapsed =
          p_.in_order && std::all_of(batch.begin(), batch.end() - 1, [](const used_entry& e) {
            return e.len == e.token.writable_len;
          });
      if (p_.in_order && style == 2) RT_CHECK(collapsed, "style 2 must collapse");
      const auto u = m_.read_desc(off_of(used_before));
      RT_CHECK(packed_flag::is_used(u.flags, wrap_of(used_before)), "first used descriptor not marked used");
      RT_CHECK(u.id == (collapsed ? batch.back().token.id : batch.front().token.id), "used descriptor id");
      RT_CHECK(u.len == (collapsed ? batch.back().len : batch.front().len), "used descriptor len");
      RT_CHECK(u.flags == (packed_flag::used_marks(wrap_of(used_before)) | (u.len > 0 ? desc_flag::write : 0)),
               "P20 used descriptor flags " << u.flags);
    }
    RT_CHECK(d_.state().used_idx == adv(used_before, slots, p_.size), "used cursor moves by the lists' slots");
    for (const auto& h : pick) reqs_[h.req].completed = true;
    completed_ += pick.size();
  }

  rt_params p_;
  mock m_;
  device d_;
  std::mt19937 rng_;
  std::vector<req_state> reqs_;
  std::vector<std::uint16_t> free_reqs_;
  std::vector<int> req_of_id_;
  std::deque<std::uint16_t> order_;
  std::vector<held_chain> held_;
  bool kick_ = false, irq_ = false, dev_polling_ = false, drv_polling_ = false;
  std::uint64_t step_ = 0, added_ = 0, popped_ = 0, completed_ = 0, reclaimed_ = 0;
  std::uint64_t kicks_ = 0, irqs_ = 0, slots_published_ = 0;
};

/// Returns the laps of the ring the runs made, summed.
std::uint64_t run_all_combinations(std::initializer_list<std::uint16_t> sizes, std::uint32_t chains,
                                   std::uint32_t seed) {
  std::uint64_t laps = 0;
  for (int combo = 0; combo < 8; ++combo) {
    for (const std::uint16_t size : sizes) {
      const rt_params p{size, (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, chains,
                        seed + static_cast<std::uint32_t>(combo * 1000 + size)};
      CAPTURE(describe(p));
      roundtrip rt{p};
      rt.run();
      laps += rt.laps();
    }
  }
  return laps;
}

}  // namespace

TEST_CASE("packed round trip: random lists through driver and device, all 8 feature combinations, sizes not powers of two") {
  const std::uint64_t laps = run_all_combinations({2, 5, 13, 64}, 600, 1);
  MESSAGE("ring laps: " << laps);
  CHECK(laps > 500);
}

TEST_CASE("packed round trip: tiny queues (size 1 and 3), all 8 feature combinations") {
  run_all_combinations({1, 3}, 400, 77);
}

TEST_CASE("packed round trip: a long run on a ring of 7 wraps it thousands of times (EVENT_IDX, INDIRECT)") {
  const rt_params p{7, true, true, false, 6000, 4242};
  roundtrip rt{p};
  rt.run();
  CHECK(rt.laps() > 1500);
}

TEST_SUITE("soak") {
  TEST_CASE("soak: packed round trip, all 8 combinations, many sizes and seeds") {
    for (std::uint32_t seed : {101u, 202u, 303u})
      (void)run_all_combinations({1, 2, 3, 5, 16, 100, 128, 255, 256}, 20000, seed);
  }
}
