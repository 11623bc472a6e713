// SPDX-License-Identifier: Apache-2.0
// Randomised round trips over the packed ring (roundtrip.hpp): Vireo's packed_driver (through
// mock_packed_driver) against packed_device, in one thread, driven by notifications, every
// combination of INDIRECT_DESC / EVENT_IDX / IN_ORDER, ring sizes that are not powers of two.
// Here: the descriptors add() wrote (P10, P11, P15, the wrap marks of every slot, the buffer id
// in every descriptor), the slots and free count a refused or accepted add() leaves (P12), that
// the device took each list where and as it was written (P2, P8), the first used descriptor of a
// batch (P20, §2.8.8) and how far the used cursor moves.
#include "ring/conformance/harness.hpp"
#include "ring/roundtrip.hpp"

using namespace vireo_roundtrip;

namespace {

using vireo::ring::off_of;
using vireo::ring::wrap_of;

[[nodiscard]] std::uint16_t adv(std::uint16_t p, std::int64_t k, std::uint16_t n) {
  return vireo_conformance::packed_harness::advance_in(p, k, n);
}

class packed_roundtrip
    : public roundtrip_base<packed_roundtrip, vireo::testing::mock_packed_driver,
                            vireo::ring::packed_device<flat_memory>> {
  using base = roundtrip_base<packed_roundtrip, vireo::testing::mock_packed_driver,
                              vireo::ring::packed_device<flat_memory>>;
  friend base;

 public:
  using base::base;
  [[nodiscard]] std::uint64_t laps() const { return slots_published_ / p_.size; }

 private:
  void check_refused_add(pos at, std::uint16_t free_before) {
    auto& drv = m_.driver();
    RT_CHECK(drv.avail_index() == at, "P12 a refused add() moved the avail position");
    RT_CHECK(drv.free_descriptors() == free_before, "P12 a refused add() took slots");
  }
  void check_added(request&, pos at, std::uint16_t free_before, std::size_t need) {
    auto& drv = m_.driver();
    RT_CHECK(drv.free_descriptors() == free_before - need, "slots taken");
    RT_CHECK(drv.avail_index() == adv(at, static_cast<std::int64_t>(need), p_.size), "avail position");
    slots_published_ += need;
  }

  /// What add() wrote: P10 (n <= size), P11 (WRITE on exactly the writable ones, after the
  /// readable ones), P15 (INDIRECT alone in its slot, table entries with only WRITE), the
  /// AVAIL/USED marks of each slot's phase (§2.8.1, flipping mid-list), NEXT on all but the last,
  /// the buffer id in every descriptor. Kept: its ring slots until the pop (P8), its table while
  /// in flight (G10).
  void check_written(request& st, std::size_t nr, std::size_t n, bool indirect) {
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
      const gpa table{top.addr};
      RT_CHECK(top.addr == m_.pool().base.raw() + std::uint64_t{st.id} * max_bufs * 16, "table at the id");
      for (std::size_t i = 0; i < n; ++i) {
        const auto e = read(table.offset(16 * i));
        RT_CHECK(e.addr == buf_at(i).addr.raw() && e.len == buf_at(i).len, "table entry buffer");
        RT_CHECK(e.flags == (i >= nr ? desc_flag::write : 0), "P15 P11 table entry flags " << e.flags);
      }
      st.kept_until_reclaim.push_back(keep(table, 16 * n));
    } else {
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
    for (std::uint16_t k = 0; k < st.slots; ++k)
      st.kept_until_pop.push_back(keep(ring.offset(16u * off_of(adv(st.at, k, p_.size))), 16));
  }

  void check_popped_position(const chain& c, const request& st) {
    RT_CHECK(c.token().seq == st.at, "P2 the list starts where it was published");
    RT_CHECK(c.token().slots == st.slots, "slot count");
  }

  pos used_position() { return d_.state().used_idx; }
  /// The first used descriptor of the batch (§2.8.8 when collapsed: the last buffer's id).
  void check_span_pushed(const std::vector<used_entry>& batch, pos used_before, bool collapsed) {
    const auto u = m_.read_desc(off_of(used_before));
    RT_CHECK(packed_flag::is_used(u.flags, wrap_of(used_before)), "first used descriptor not marked used");
    RT_CHECK(u.id == (collapsed ? batch.back().token.id : batch.front().token.id), "used descriptor id");
    RT_CHECK(u.len == (collapsed ? batch.back().len : batch.front().len), "used descriptor len");
    RT_CHECK(u.flags == (packed_flag::used_marks(wrap_of(used_before)) | (u.len > 0 ? desc_flag::write : 0)),
             "P20 used descriptor flags " << u.flags);
  }
  void check_used_moved(const std::vector<used_entry>& batch, pos used_before) {
    std::uint32_t slots = 0;
    for (const auto& e : batch) slots += e.token.slots;
    RT_CHECK(d_.state().used_idx == adv(used_before, slots, p_.size), "used cursor moves by the lists' slots");
  }
  void check_final_positions() {
    CHECK(d_.state().next_avail == m_.driver().avail_index());
    CHECK(d_.state().used_idx == m_.driver().avail_index());
  }

  std::uint64_t slots_published_ = 0;
};

/// Returns the laps of the ring the runs made, summed.
std::uint64_t run_all(std::initializer_list<std::uint16_t> sizes, std::uint32_t chains, std::uint32_t seed) {
  std::uint64_t laps = 0;
  run_all_combinations<packed_roundtrip>(sizes, chains, seed,
                                         [&](const packed_roundtrip& rt) { laps += rt.laps(); });
  return laps;
}

}  // namespace

TEST_CASE("packed round trip: random lists through driver and device, all 8 feature combinations, sizes not powers of two") {
  const std::uint64_t laps = run_all({2, 5, 13, 64}, 600, 1);
  MESSAGE("ring laps: " << laps);
  CHECK(laps > 500);
}

TEST_CASE("packed round trip: tiny queues (size 1 and 3), all 8 feature combinations") {
  run_all({1, 3}, 400, 77);
}

TEST_CASE("packed round trip: a long run on a ring of 7 wraps it thousands of times (EVENT_IDX, INDIRECT)") {
  const rt_params p{7, true, true, false, 6000, 4242};
  packed_roundtrip rt{p};
  rt.run();
  CHECK(rt.laps() > 1500);
}

TEST_SUITE("soak") {
  TEST_CASE("soak: packed round trip, all 8 combinations, many sizes and seeds") {
    for (std::uint32_t seed : {101u, 202u, 303u}) (void)run_all({1, 2, 3, 5, 16, 100, 128, 255, 256}, 20000, seed);
  }
}
