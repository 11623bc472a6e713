// SPDX-License-Identifier: Apache-2.0
// Randomised round trips over the split ring (roundtrip.hpp): Vireo's split_driver (through
// mock_split_driver) against split_device, in one thread, driven by notifications, every
// combination of INDIRECT_DESC / EVENT_IDX / IN_ORDER. Here: the descriptors add() wrote (S4, S6,
// S7, S9-S12, kept for G10), avail.idx as published (S15), pop order, the used element a batch
// wrote (S18, §2.7.9) and used.idx.
#include "ring/roundtrip.hpp"
#include "split_test_support.hpp"

using namespace vireo_roundtrip;

namespace {

using vireo_ring_test::desc_view;

class split_roundtrip
    : public roundtrip_base<split_roundtrip, vireo::testing::mock_split_driver,
                            vireo::ring::split_device<flat_memory>> {
  using base = roundtrip_base<split_roundtrip, vireo::testing::mock_split_driver,
                              vireo::ring::split_device<flat_memory>>;
  friend base;

 public:
  using base::base;

 private:
  void check_refused_add(pos at, std::uint16_t) {
    RT_CHECK(m_.avail_idx() == at, "a refused add() moved avail.idx");
  }
  void check_added(request&, pos at, std::uint16_t, std::size_t) {
    RT_CHECK(m_.avail_idx() == static_cast<std::uint16_t>(at + 1), "S15 avail.idx");
  }

  /// What add() wrote: S4 (readable first), S6 (terminates), S7/S12 (IN_ORDER and table
  /// linking), S9/S11 (INDIRECT alone, never in a table), S10 (n <= size); kept for G10.
  void check_written(request& st, std::size_t nr, std::size_t n, bool) {
    auto buf_at = [&](std::size_t i) -> const buffer& { return i < nr ? st.rd[i] : st.wr[i - nr]; };
    RT_CHECK(n <= p_.size, "S10 chain longer than the queue");
    const gpa table = m_.config().desc_table;
    const desc_view top = vireo_ring_test::read_desc(m_, st.id);
    if (top.flags & desc_flag::indirect) {
      RT_CHECK(p_.indirect, "S8 INDIRECT without the feature");
      RT_CHECK(top.flags == desc_flag::indirect, "S11 INDIRECT with other flags");
      RT_CHECK(top.len == 16 * n, "indirect table length");
      st.kept_until_reclaim.push_back(keep(table.offset(16u * st.id), 16));
      for (std::size_t i = 0; i < n; ++i) {
        const gpa at{top.addr + 16 * i};
        const desc_view dv = vireo_ring_test::read_desc_at(m_, at);
        RT_CHECK((dv.flags & desc_flag::indirect) == 0, "S9 INDIRECT inside a table");
        RT_CHECK(dv.addr == buf_at(i).addr.raw() && dv.len == buf_at(i).len, "table entry buffer");
        RT_CHECK(((dv.flags & desc_flag::write) != 0) == (i >= nr), "S4 order in table");
        RT_CHECK(((dv.flags & desc_flag::next) != 0) == (i + 1 < n), "table NEXT");
        if (i + 1 < n) RT_CHECK(dv.next == i + 1, "S12 table next = i + 1");
        st.kept_until_reclaim.push_back(keep(at, 16));
      }
    } else {
      std::uint16_t x = st.id;
      for (std::size_t i = 0; i < n; ++i) {
        const desc_view dv = vireo_ring_test::read_desc(m_, x);
        RT_CHECK((dv.flags & desc_flag::indirect) == 0, "stray INDIRECT");
        RT_CHECK(dv.addr == buf_at(i).addr.raw() && dv.len == buf_at(i).len, "descriptor buffer");
        RT_CHECK(((dv.flags & desc_flag::write) != 0) == (i >= nr), "S4 order");
        RT_CHECK(((dv.flags & desc_flag::next) != 0) == (i + 1 < n), "S6 chain must end");
        if (p_.in_order && i + 1 < n)
          RT_CHECK(dv.next == static_cast<std::uint16_t>((x + 1) % p_.size), "S7 next = x + 1");
        st.kept_until_reclaim.push_back(keep(table.offset(16u * x), 16));
        x = dv.next;
      }
    }
  }

  /// Chains are popped in the order they were published: seq is the avail.idx add() used.
  void check_popped_position(const chain& c, const request& st) {
    RT_CHECK(c.token().seq == st.at, "pop sequence");
  }

  pos used_position() { return m_.used_idx(); }
  /// S18 + §2.7.9: the element for the batch is in place once used.idx covers it.
  void check_span_pushed(const std::vector<used_entry>& batch, pos used_before, bool collapsed) {
    const auto [id, len] = m_.used_elem(used_before);
    RT_CHECK(id == (collapsed ? batch.back().token.id : batch.front().token.id), "used element id");
    RT_CHECK(len == (collapsed ? batch.back().len : batch.front().len), "used element len");
  }
  void check_used_moved(const std::vector<used_entry>& batch, pos used_before) {
    RT_CHECK(m_.used_idx() == static_cast<std::uint16_t>(used_before + batch.size()), "used.idx");
  }
  void check_final_positions() {
    CHECK(m_.avail_idx() == static_cast<std::uint16_t>(p_.chains));
    CHECK(m_.used_idx() == static_cast<std::uint16_t>(p_.chains));
  }
};

void run_all(std::initializer_list<std::uint16_t> sizes, std::uint32_t chains, std::uint32_t seed) {
  run_all_combinations<split_roundtrip>(sizes, chains, seed, [](const split_roundtrip&) {});
}

}  // namespace

TEST_CASE("round trip: random chains through driver and device, all 8 feature combinations") {
  run_all({2, 8, 64}, 1500, 1);
}

TEST_CASE("round trip: tiny queues (size 1 and 4), all 8 feature combinations") {
  run_all({1, 4}, 1000, 77);
}

TEST_SUITE("soak") {
  TEST_CASE("soak: round trip, all 8 combinations, many sizes and seeds") {
    for (std::uint32_t seed : {101u, 202u, 303u}) run_all({1, 2, 4, 16, 128, 256}, 20000, seed);
  }
}
