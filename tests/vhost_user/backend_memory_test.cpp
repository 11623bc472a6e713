// SPDX-License-Identifier: Apache-2.0
// Back-end session memory handling (rule B13, B16; digest §6.2, §10.19-23): SET_MEM_TABLE
// replaced atomically, ADD/REM_MEM_REG with the slot limit, the region_table the queues use, and
// the user-address -> guest-physical translation of ring addresses.
#include "backend_test_support.hpp"

using namespace vireo_vu_test;
using be::action_kind;

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t ua = 0x7000'0000'0000;
constexpr std::uint64_t reply_ack = 0x8, mem_slots = 0x8000;

fake_device dev1() {
  fake_device d;
  d.features = version_1;
  d.queues = 1;
  d.max_size = 256;
  return d;
}

void own(harness& h, std::uint64_t protocol) {
  h.send(u64_req(fr::set_protocol_features, protocol));
  REQUIRE(h.last.status.has_value());
  h.send(req(fr::set_owner));
  h.send(u64_req(fr::set_features, version_1 | bit30));
}

errc ack_error(harness& h) {
  REQUIRE(h.replied());
  CHECK(h.last.reply().size() == 20);
  return vireo_test::err(h.last.status);
}

/// Start vring 0 (64 entries) with its rings in the first 0x3000 bytes at user address `u`.
void start_ring(harness& h, std::uint64_t u) {
  h.send(state_req(fr::set_vring_num, 0, 64));
  h.send(state_req(fr::set_vring_base, 0, 0));
  h.send(addr_req(0, u, u + 0x2000, u + 0x1000));
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  REQUIRE(h.s->vring(0).started);
}

}  // namespace

TEST_CASE("B13 SET_MEM_TABLE maps every region into the region_table; fds closed after mapping") {
  harness h(dev1());
  own(h, reply_ack);
  const int a = h.new_file(0x20000), b = h.new_file(0x11000);
  // Region b starts 0x1000 into its file (mmap_offset).
  h.send(mem_table({{0, 0x20000, ua, 0}, {0x100000, 0x10000, ua + 0x40000, 0x1000}}, need),
         {a, b});
  CHECK(h.reply_u64(code(fr::set_mem_table)) == 0);
  CHECK(h.actions() == std::vector{act(action_kind::memory_changed),
                                   act(action_kind::close_fd, 0, a),
                                   act(action_kind::close_fd, 0, b)});
  REQUIRE(h.s->regions().size() == 2);
  CHECK(h.dev.memory_changes == 1);
  auto& mem = h.s->memory();
  const auto p = mem.map(vireo::gpa{0x100010}, 4, vireo::access::read);
  REQUIRE(p.has_value());
  CHECK(p->data() == h.mapper.file(b) + 0x1000 + 0x10);
  CHECK(vireo_test::err(mem.map(vireo::gpa{0x20000}, 1, vireo::access::read)) ==
        errc::out_of_bounds);
  h.disconnect();
}

TEST_CASE("B13 SET_MEM_TABLE replaces the whole table: new regions mapped, then old ones dropped") {
  harness h(dev1());
  own(h, reply_ack);
  h.send(mem_table({{0, 0x10000, ua, 0}}), {h.new_file(0x10000)});
  h.send(mem_table({{0x200000, 0x10000, ua + 0x800000, 0}}, need), {h.new_file(0x10000)});
  CHECK(h.reply_u64(code(fr::set_mem_table)) == 0);
  REQUIRE(h.s->regions().size() == 1);
  CHECK(h.s->regions()[0].guest_addr == 0x200000);
  CHECK(h.mapper.maps == 2);
  CHECK(h.mapper.unmaps == 1);
  CHECK(h.s->memory().find(vireo::gpa{0}) == nullptr);
  h.disconnect();
}

TEST_CASE("SET_MEM_TABLE failure atomicity: the old table stays, what was mapped is unmapped") {
  harness h(dev1());
  own(h, reply_ack);
  h.send(mem_table({{0, 0x10000, ua, 0}}), {h.new_file(0x10000)});
  const auto* before = h.s->memory().find(vireo::gpa{0});
  REQUIRE(before != nullptr);
  const std::byte* host = before->host;

  SUBCASE("the second region cannot be mapped") {
    const int good = h.new_file(0x10000), bad = h.new_file(0x10000);
    h.mapper.fail_fd(bad);
    h.send(mem_table({{0x100000, 0x10000, ua + 0x100000, 0}, {0x200000, 0x10000, ua + 0x200000, 0}},
                     need),
           {good, bad});
    CHECK(ack_error(h) == errc::host_rejected);
    CHECK(h.closed() == std::vector{good, bad});
  }
  SUBCASE("mmap_offset + size beyond the file (§10.20)") {
    h.send(mem_table({{0x100000, 0x10000, ua + 0x100000, 0x1000}}, need), {h.new_file(0x10000)});
    CHECK(ack_error(h) == errc::host_rejected);
  }
  SUBCASE("regions overlapping in guest-physical space (§10.21)") {
    h.send(mem_table({{0x100000, 0x10000, ua + 0x100000, 0}, {0x10f000, 0x10000, ua + 0x200000, 0}},
                     need),
           {h.new_file(0x10000), h.new_file(0x10000)});
    CHECK(ack_error(h) == errc::region_overlap);
  }
  SUBCASE("regions overlapping in user address space (§10.21)") {
    h.send(mem_table({{0x100000, 0x10000, ua + 0x100000, 0}, {0x200000, 0x10000, ua + 0x10ff00, 0}},
                     need),
           {h.new_file(0x10000), h.new_file(0x10000)});
    CHECK(ack_error(h) == errc::region_overlap);
  }
  SUBCASE("duplicate regions (§10.21)") {
    h.send(mem_table({{0x100000, 0x10000, ua + 0x100000, 0}, {0x100000, 0x10000, ua + 0x100000, 0}},
                     need),
           {h.new_file(0x10000), h.new_file(0x10000)});
    CHECK(ack_error(h) == errc::region_overlap);
  }
  // The old table is intact and nothing of the refused one stays mapped.
  REQUIRE(h.s->regions().size() == 1);
  CHECK(h.s->memory().find(vireo::gpa{0})->host == host);
  CHECK(h.mapper.live() == 1);
  CHECK(h.dev.memory_changes == 1);
  h.disconnect();
}

TEST_CASE("malformed memory tables are refused by the codec before the session (§10.19-20)") {
  harness h(dev1());
  own(h, reply_ack);
  h.send(mem_table({{0, 0, ua, 0}}), {h.new_file(0x1000)});  // zero size
  CHECK(h.decode_error == errc::vhost_zero_size);
  h.send(mem_table({{0, 0x1000, ua, ~std::uint64_t{0} - 0x10}}), {h.new_file(0x1000)});
  CHECK(h.decode_error == errc::vhost_range_overflow);  // mmap_offset overflow
  h.send(mem_table({{0, 0x1000, ua, 0}}));  // fewer fds than regions
  CHECK(h.decode_error == errc::vhost_missing_fd);
  CHECK(h.mapper.maps == 0);
  h.disconnect();
}

TEST_CASE("B16 a memory table that no longer holds a started ring is refused (§10.23)") {
  harness h(dev1());
  own(h, reply_ack);
  h.send(mem_table({{0, 0x100000, ua, 0}}), {h.new_file(0x100000)});
  start_ring(h, ua);
  // Same rings at the same guest addresses, another host mapping: accepted.
  h.send(mem_table({{0, 0x100000, ua, 0}, {0x100000, 0x1000, ua + 0x100000, 0}}, need),
         {h.new_file(0x100000), h.new_file(0x1000)});
  CHECK(ack_error(h) == errc{});
  CHECK(h.dev.memory_changes == 2);
  // The rings' region vanishes: refused, old table kept.
  h.send(mem_table({{0x100000, 0x1000, ua + 0x100000, 0}}, need), {h.new_file(0x1000)});
  CHECK(ack_error(h) == errc::ring_not_mapped);
  CHECK(h.s->regions().size() == 2);
  // Same user addresses now mapping other guest addresses: the queue would move. Refused.
  h.send(mem_table({{0x400000, 0x100000, ua, 0}}, need), {h.new_file(0x100000)});
  CHECK(ack_error(h) == errc::ring_not_mapped);
  CHECK(h.s->vring(0).started);
  h.disconnect();
}

TEST_CASE("B13 ADD_MEM_REG / REM_MEM_REG with CONFIGURE_MEM_SLOTS and the slot limit (§10.22)") {
  harness h(dev1());
  SUBCASE("not negotiated") {
    own(h, reply_ack);
    h.send(mem_reg(fr::add_mem_reg, {0, 0x1000, ua, 0}, need), {h.new_file(0x1000)});
    CHECK(ack_error(h) == errc::vhost_not_negotiated);
    CHECK(h.mapper.maps == 0);
  }
  SUBCASE("negotiated") {
    own(h, reply_ack | mem_slots);
    // SET_MEM_TABLE is not used once CONFIGURE_MEM_SLOTS is on.
    h.send(mem_table({{0, 0x1000, ua, 0}}, need), {h.new_file(0x1000)});
    CHECK(ack_error(h) == errc::vhost_out_of_order);
    for (std::uint64_t i = 0; i < session_t::max_slots; ++i) {
      h.send(mem_reg(fr::add_mem_reg, {i * 0x10000, 0x1000, ua + i * 0x10000, 0}, need),
             {h.new_file(0x1000)});
      REQUIRE(ack_error(h) == errc{});
    }
    CHECK(h.s->regions().size() == session_t::max_slots);
    const std::uint64_t past = session_t::max_slots * 0x10000;
    h.send(mem_reg(fr::add_mem_reg, {past, 0x1000, ua + past, 0}, need), {h.new_file(0x1000)});
    CHECK(ack_error(h) == errc::table_full);
    h.send(mem_reg(fr::add_mem_reg, {0x10000, 0x1000, ua + 0x90000000, 0}, need),
           {h.new_file(0x1000)});  // duplicate guest range
    CHECK(ack_error(h) == errc::region_overlap);
    // REM matches gpa + size + user address; mmap_offset is ignored.
    h.send(mem_reg(fr::rem_mem_reg, {0x10000, 0x1000, ua + 0x10000, 0x777}, need));
    CHECK(ack_error(h) == errc{});
    CHECK(h.s->regions().size() == session_t::max_slots - 1);
    CHECK(h.s->memory().find(vireo::gpa{0x10000}) == nullptr);
    h.send(mem_reg(fr::rem_mem_reg, {0x10000, 0x1000, ua + 0x10000, 0}, need));
    CHECK(ack_error(h) == errc::not_found);
    // REM with an fd: the codec leaves it unconsumed, so its owner (the caller) closes it.
    const int stray = h.new_fd();
    h.send(mem_reg(fr::rem_mem_reg, {0x20000, 0x1000, ua + 0x20000, 0}, need), {stray});
    CHECK(ack_error(h) == errc{});
    CHECK(h.closed().empty());  // not the session's to close
  }
  h.disconnect();
}

TEST_CASE("REM_MEM_REG of the region a started ring lives in is refused (§10.22)") {
  harness h(dev1());
  own(h, reply_ack | mem_slots);
  h.send(mem_reg(fr::add_mem_reg, {0, 0x10000, ua, 0}, need), {h.new_file(0x10000)});
  h.send(mem_reg(fr::add_mem_reg, {0x10000, 0x10000, ua + 0x10000, 0}, need),
         {h.new_file(0x10000)});
  start_ring(h, ua);
  h.send(mem_reg(fr::rem_mem_reg, {0, 0x10000, ua, 0}, need));
  CHECK(ack_error(h) == errc::ring_not_mapped);
  CHECK(h.s->regions().size() == 2);
  h.send(mem_reg(fr::rem_mem_reg, {0x10000, 0x10000, ua + 0x10000, 0}, need));
  CHECK(ack_error(h) == errc{});
  CHECK(h.mapper.live() == 1);
  // Once stopped, the region may go.
  h.send(state_req(fr::get_vring_base, 0, 0));
  h.send(mem_reg(fr::rem_mem_reg, {0, 0x10000, ua, 0}, need));
  CHECK(ack_error(h) == errc{});
  CHECK(h.mapper.live() == 0);
  h.disconnect();
}

TEST_CASE("ring addresses are translated from user addresses to guest-physical ones") {
  harness h(dev1());
  own(h, reply_ack);
  // Guest 0x4000_0000 is user ua + 0x80_0000.
  h.send(mem_table({{0, 0x10000, ua, 0}, {0x4000'0000, 0x10000, ua + 0x80'0000, 0}}),
         {h.new_file(0x10000), h.new_file(0x10000)});
  start_ring(h, ua + 0x80'0000);
  const auto& cfg = h.dev.running.at(0);
  CHECK(cfg.desc_table.raw() == 0x4000'0000);
  CHECK(cfg.driver_area.raw() == 0x4000'1000);
  CHECK(cfg.device_area.raw() == 0x4000'2000);
  CHECK(h.s->vring(0).config.desc_table == cfg.desc_table);
  h.disconnect();
}
