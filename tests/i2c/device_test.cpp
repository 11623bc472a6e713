// SPDX-License-Identifier: Apache-2.0
// i2c::device over real split and packed rings and the simulated bus: the device items of
// virtio §5.16.6.4 (IV1-IV7 of ../shared/spec/virtio-i2c.md §7, one TEST_CASE each, named by
// id), FAIL_NEXT groups as one host transfer each, probes, EEPROM and register chips end to end,
// IN_ORDER and the run-time layout choice. Tails, overflow and hostile input: the other
// device_*_test.cpp files.
#include "device_test_support.hpp"

#include "vireo/ring/any_device_queue.hpp"

using namespace vireo_i2c_test;

namespace {

constexpr status OK = status::ok;
constexpr status ERR = status::err;
using statuses = std::vector<status>;

}  // namespace

TEST_CASE_TEMPLATE("IV1 device: requests follow the negotiated ZERO_LENGTH_REQUEST feature", L,
                   split_layout, packed_layout) {
  // The device offers the feature and refuses FEATURES_OK without it (the codec's helpers)...
  CHECK(i2c::device_features().has(i2c::feature::zero_length_request));
  CHECK(err(i2c::check_driver_features(feature_set{})) == errc::i2c_feature_required);
  // ...and a device model told that it was not negotiated serves no zero-length request.
  rig_options o;
  o.dev.features = feature_set{};
  auto r = make_rig<L>(o);
  auto probe = r->transfer({{a7(0x50), direction::write, gpa{0}, 0}});
  const gpa buf = r->fresh(2);
  auto read = r->transfer({{a7(0x50), direction::read, buf, 2}});
  r->process();
  CHECK(reclaim_all(r->m, probe) == statuses{ERR});
  CHECK(reclaim_all(r->m, read) == statuses{OK});
  CHECK(r->dev.stats().malformed == 1);
  CHECK(r->bus.transfers() == 1);
}

TEST_CASE_TEMPLATE("IV2 device: a FAIL_NEXT group is one combined transfer: repeated START, one "
                   "STOP",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  recorder rec;
  REQUIRE(r->bus.attach(a7(0x30), rec).has_value());
  const gpa w = r->put(bytes_of({0x01, 0x02}));
  const gpa rd = r->fresh(3);
  auto reqs = r->transfer({{a7(0x30), direction::write, w, 2},
                           {a7(0x30), direction::read, rd, 3},
                           {a7(0x30), direction::write, gpa{0}, 0}});
  REQUIRE(reqs.size() == 3);
  CHECK(r->process());  // the driver asked for interrupts: notify
  CHECK(r->bus.transfers() == 1);
  CHECK(r->bus.last_transfer_size() == 3);
  CHECK(rec.kinds() == "SWsRSP");  // START W, rSTART R, rSTART (zero-length), one STOP
  CHECK(reclaim_all(r->m, reqs) == statuses{OK, OK, OK});
  CHECK(r->bytes_at(rd, 3) == bytes_of({0x42, 0x42, 0x42}));
  CHECK(r->dev.stats().groups == 1);
  CHECK(r->dev.stats().transfers == 1);
  CHECK(r->dev.stats().requests_ok == 3);
  // A single request is a group of one: a transfer of its own.
  auto one = r->transfer({{a7(0x30), direction::write, w, 1}});
  r->process();
  CHECK(r->bus.transfers() == 2);
  CHECK(rec.kinds() == "SWsRSPSWP");
  CHECK(reclaim_all(r->m, one) == statuses{OK});
}

TEST_CASE_TEMPLATE("IV3 device: addr, padding and the flags are never changed", L, split_layout,
                   packed_layout) {
  for (const bool unmapped : {false, true}) {
    CAPTURE(unmapped);
    auto r = make_rig<L>();
    const gpa w = r->put(bytes_of({0x00}));
    const gpa rd = r->fresh(4);
    // A good group, a failing one (absent target), a malformed request (reserved flag bit 9,
    // padding set) and a request with padding set, which the spec gives no value to check.
    auto g = r->transfer({{a7(0x50), direction::write, w, 1}, {a7(0x50), direction::read, rd, 4}});
    auto bad = r->transfer({{a7(0x51), direction::read, rd, 4}});
    auto odd = add_raw(r->m, {{header(0x00A0, flag::m_rd | (1u << 9), 0xBEEF), {}, {4}},
                              {header(0x00A0, flag::m_rd, 0xBEEF), {}, {4}}});
    std::vector<std::vector<std::byte>> before;
    std::vector<gpa> where;
    for (const auto* set : {&g, &bad, &odd}) {
      for (const pending& p : *set) {
        where.push_back(p.bufs.readable()[0].addr);
        before.push_back(r->bytes_at(where.back(), 8));
      }
    }
    r->fm.deny_map(unmapped);
    r->process();
    r->fm.deny_map(false);
    CHECK(reclaim_all(r->m, g) == statuses{OK, OK});
    CHECK(reclaim_all(r->m, bad) == statuses{ERR});
    CHECK(reclaim_all(r->m, odd) == statuses{ERR, OK});
    REQUIRE(where.size() == 5);
    for (std::size_t i = 0; i < where.size(); ++i) CHECK(r->bytes_at(where[i], 8) == before[i]);
  }
}

TEST_CASE_TEMPLATE("IV4 device: a write's buf is never changed, zero-copy or bounced", L,
                   split_layout, packed_layout) {
  for (const bool unmapped : {false, true}) {
    CAPTURE(unmapped);
    auto r = make_rig<L>();
    const auto data = bytes_of({0x08, 0x11, 0x22, 0x33});
    const gpa w = r->put(data);
    const gpa w2 = r->put(bytes_of({0x05, 0x99}));  // register 5 is read-only: NACK
    r->regs.set_read_only(5);
    auto ok_group = r->transfer({{a7(0x20), direction::write, w, 4}});
    auto nack = r->transfer({{a7(0x20), direction::write, w2, 2}});
    auto absent = r->transfer({{a7(0x21), direction::write, w, 4}});
    r->fm.deny_map(unmapped);  // every segment unmapped: every buf goes through the bounce area
    r->process();
    r->fm.deny_map(false);
    CHECK(reclaim_all(r->m, ok_group) == statuses{OK});
    CHECK(reclaim_all(r->m, nack) == statuses{ERR});
    CHECK(reclaim_all(r->m, absent) == statuses{ERR});
    CHECK(r->bytes_at(w, 4) == data);
    CHECK(r->bytes_at(w2, 2) == bytes_of({0x05, 0x99}));
    CHECK(r->regs.get(8) == 0x11);
    CHECK(r->regs.get(10) == 0x33);
    CHECK(r->regs.get(5) == 0x00);
    CHECK(r->dev.stats().bounced == (unmapped ? 3u : 0u));
  }
}

TEST_CASE_TEMPLATE("IV5 device: a read places exactly len bytes in buf, then the status", L,
                   split_layout, packed_layout) {
  for (const bool unmapped : {false, true}) {
    CAPTURE(unmapped);
    auto r = make_rig<L>();
    const gpa reg = r->put(bytes_of({0x30}));
    const gpa area = r->fresh(7 + 2);  // guard byte, 7 bytes of buf, guard byte
    const gpa buf = area.offset(1);
    auto reqs = r->transfer({{a7(0x50), direction::write, reg, 1},
                             {a7(0x50), direction::read, buf, 7}});
    r->fm.deny_map(unmapped);
    r->process();
    r->fm.deny_map(false);
    auto got = reclaim_n(r->m, 2);
    CHECK(got[0].len == 1);      // a write: the status byte only
    CHECK(got[1].len == 7 + 1);  // a read: buf, then the status
    const auto all = r->bytes_at(area, 9);
    CHECK(all.front() == std::byte{0xCC});
    CHECK(all.back() == std::byte{0xCC});
    for (std::size_t i = 0; i < 7; ++i) CHECK(all[1 + i] == r->eeprom.contents()[0x30 + i]);
    CHECK(i2c::decode_completion(r->m.memory(), reqs[1].bufs, got[1].len).value() == OK);
  }
}

TEST_CASE_TEMPLATE("IV6 device: requests are executed and answered in queue order", L,
                   split_layout, packed_layout) {
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    rig_options o;
    o.in_order = in_order;
    auto r = make_rig<L>(o);
    recorder a, b;
    REQUIRE(r->bus.attach(a7(0x30), a).has_value());
    REQUIRE(r->bus.attach(a7(0x31), b).has_value());
    std::vector<std::uint16_t> ids;
    std::vector<std::vector<pending>> groups;
    for (int k = 0; k < 4; ++k) {
      const gpa buf = r->fresh(2);
      groups.push_back(r->transfer({{a7(k % 2 ? 0x31 : 0x30), direction::write, gpa{0}, 0},
                                    {a7(k % 2 ? 0x30 : 0x31), direction::read, buf, 2}}));
      for (const auto& p : groups.back()) ids.push_back(p.id);
    }
    r->process();
    CHECK(r->bus.transfers() == 4);
    CHECK(a.kinds() == "SPsRPSPsRP");  // group 0 starts at a, group 1 ends at a, ...
    CHECK(b.kinds() == "sRPSPsRPSP");
    std::vector<std::uint16_t> back;
    for (const auto& u : reclaim_n(r->m, ids.size())) back.push_back(u.id);
    CHECK(back == ids);
  }
}

TEST_CASE_TEMPLATE("IV7 device: ERR from the first failure on; the rest of the group is not run",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  const gpa reg = r->put(bytes_of({0x10}));
  const gpa r1 = r->fresh(2), r2 = r->fresh(2), r3 = r->fresh(2);
  // Group 1 fails at its third request (no target at 0x51); group 2 is independent.
  auto g1 = r->transfer({{a7(0x50), direction::write, reg, 1},
                         {a7(0x50), direction::read, r1, 2},
                         {a7(0x51), direction::write, gpa{0}, 0},
                         {a7(0x50), direction::read, r2, 2}});
  auto g2 = r->transfer({{a7(0x50), direction::read, r3, 2}});
  r->process();
  CHECK(reclaim_all(r->m, g1) == statuses{OK, OK, ERR, ERR});
  CHECK(reclaim_all(r->m, g2) == statuses{OK});
  CHECK(r->bus.transfers() == 2);
  CHECK(r->bus.messages() == 2 + 1);  // the fourth request never reached the target
  CHECK(r->bytes_at(r1, 2) == bytes_of({0x10 ^ 0x5A, 0x11 ^ 0x5A}));
  CHECK(r->bytes_at(r2, 2) == bytes_of({0, 0}));  // failed read: zeroed, no stale data
  CHECK(r->bytes_at(r3, 2) == bytes_of({0x12 ^ 0x5A, 0x13 ^ 0x5A}));  // pointer moved on
  CHECK(r->dev.stats().last_error == errc::i2c_transfer_incomplete);
  CHECK(r->dev.stats().requests_err == 2);
}

TEST_CASE_TEMPLATE("IV7 device: a malformed request fails its whole group, which never reaches "
                   "the bus",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  const auto fn = flag::fail_next;
  // write(register 0x10) | read with reserved flag bit 5 | read: one group, one bad member.
  auto g = add_raw(r->m, {{header(0x00A0, fn), {bytes_of({0x10})}},
                          {header(0x00A0, fn | flag::m_rd | (1u << 5)), {}, {2}},
                          {header(0x00A0, flag::m_rd), {}, {2}}});
  // A chain the ring refuses (buf outside guest memory) inside a group: its link is unknown,
  // so it continues the group, which fails whole as well.
  auto g2 = add_raw(r->m, {{header(0x00A0, fn), {bytes_of({0x20})}}});
  const std::vector<buffer> rdb{{gpa{0x8}, 8}};
  const std::vector<buffer> wrb{{r->m.alloc(1), 1}};
  REQUIRE(r->m.driver().add(rdb, wrb, 1).has_value());
  auto tail = add_raw(r->m, {{header(0x00A0, 0), {bytes_of({0x30})}}});
  auto after = r->transfer({{a7(0x50), direction::write, gpa{0}, 0}});
  r->process();
  CHECK(reclaim_all(r->m, g) == statuses{ERR, ERR, ERR});
  auto rest = reclaim_n(r->m, 3);
  CHECK(rest[0].len == 1);  // a well-formed write of a failed group: ERR, used length 1
  CHECK(rest[1].len == 0);  // the refused chain: no writable part the device could trust
  CHECK(rest[2].len == 1);
  CHECK(i2c::decode_completion(r->m.memory(), g2[0].bufs, rest[0].len).value() == ERR);
  CHECK(i2c::decode_completion(r->m.memory(), tail[0].bufs, rest[2].len).value() == ERR);
  CHECK(reclaim_all(r->m, after) == statuses{OK});
  CHECK(r->bus.transfers() == 1);  // only the probe
  CHECK(r->eeprom.pointer() == 0);
  CHECK(r->dev.stats().groups_not_run == 2);
  CHECK(r->dev.stats().malformed == 2);
}

TEST_CASE_TEMPLATE("groups: a failure never crosses a group boundary; each group one transfer", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  r->bus.nack_once(a7(0x20));
  const gpa b1 = r->fresh(1), b2 = r->fresh(1);
  auto g1 = r->transfer({{a7(0x20), direction::write, gpa{0}, 0},  // NACKed once
                         {a7(0x20), direction::read, b1, 1}});
  auto g2 = r->transfer({{a7(0x20), direction::write, gpa{0}, 0},
                         {a7(0x20), direction::read, b2, 1}});
  r->regs.set(0, 0x77);
  r->process();
  CHECK(reclaim_all(r->m, g1) == statuses{ERR, ERR});
  CHECK(reclaim_all(r->m, g2) == statuses{OK, OK});
  CHECK(r->bus.transfers() == 2);
  CHECK(r->bus.failed_transfers() == 1);
  CHECK(r->bytes_at(b2, 1) == bytes_of({0x77}));
  // fail_after: the bus completes one more message, then fails: OK, ERR, ERR.
  r->bus.fail_after(1);
  auto g3 = r->transfer({{a7(0x20), direction::write, gpa{0}, 0},
                         {a7(0x20), direction::write, gpa{0}, 0},
                         {a7(0x20), direction::write, gpa{0}, 0}});
  r->process();
  CHECK(reclaim_all(r->m, g3) == statuses{OK, ERR, ERR});
}

TEST_CASE_TEMPLATE("probes: zero-length requests find exactly the targets present (i2cdetect -q)",
                   L, split_layout, packed_layout) {
  rig_options o;
  o.size = 256;
  auto r = make_rig<L>(o);
  std::vector<std::vector<pending>> probes;
  for (std::uint16_t a = 0x08; a <= 0x77; ++a)
    probes.push_back(r->transfer({{a7(a), direction::write, gpa{0}, 0}}));
  auto quick_read = r->transfer({{a7(0x50), direction::read, gpa{0}, 0}});
  r->process();
  for (std::uint16_t a = 0x08; a <= 0x77; ++a) {
    CAPTURE(a);
    const status want = a == 0x20 || a == 0x50 ? OK : ERR;
    CHECK(reclaim_all(r->m, probes[a - 0x08]) == statuses{want});
  }
  CHECK(reclaim_all(r->m, quick_read) == statuses{OK});
  CHECK(r->bus.transfers() == 0x77 - 0x08 + 2);
  CHECK(r->eeprom.pointer() == 0);  // a probe moves nothing
}

TEST_CASE_TEMPLATE("probes: 10-bit targets are addressed by the full table", L, split_layout,
                   packed_layout) {
  auto r = make_rig<L>();
  i2c::sim::register_map<4> chip;
  chip.set(2, 0xA7);
  REQUIRE(r->bus.attach(a10(0x2F0), chip).has_value());
  const gpa reg = r->put(bytes_of({2}));
  const gpa out = r->fresh(1);
  auto g = r->transfer({{a10(0x2F0), direction::write, reg, 1},
                        {a10(0x2F0), direction::read, out, 1}});
  auto seven = r->transfer({{a7(0x70), direction::write, gpa{0}, 0}});  // nobody at 0x70
  r->process();
  CHECK(reclaim_all(r->m, g) == statuses{OK, OK});
  CHECK(reclaim_all(r->m, seven) == statuses{ERR});
  CHECK(r->bytes_at(out, 1) == bytes_of({0xA7}));
}

TEST_CASE_TEMPLATE("eeprom through the device: a page write wraps inside its page; read back", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  // Word address 0x0E, then 4 bytes: 0x0E, 0x0F, then roll over to 0x08, 0x09 (page 0x08-0x0F).
  const gpa w = r->put(bytes_of({0x0E, 0xA1, 0xA2, 0xA3, 0xA4}));
  auto wr = r->transfer({{a7(0x50), direction::write, w, 5}});
  r->process();
  CHECK(reclaim_all(r->m, wr) == statuses{OK});
  const auto c = r->eeprom.contents();
  CHECK(c[0x0E] == std::byte{0xA1});
  CHECK(c[0x0F] == std::byte{0xA2});
  CHECK(c[0x08] == std::byte{0xA3});
  CHECK(c[0x09] == std::byte{0xA4});
  CHECK(c[0x10] == std::byte{0x10 ^ 0x5A});  // the next page is untouched
  // Random read from 0x08: write(word address) + read(8), one transfer.
  const gpa addr = r->put(bytes_of({0x08}));
  const gpa out = r->fresh(8);
  auto rd = r->transfer({{a7(0x50), direction::write, addr, 1},
                         {a7(0x50), direction::read, out, 8}});
  r->process();
  CHECK(reclaim_all(r->m, rd) == statuses{OK, OK});
  CHECK(r->bytes_at(out, 8) == bytes_of({0xA3, 0xA4, 0x0A ^ 0x5A, 0x0B ^ 0x5A, 0x0C ^ 0x5A,
                                         0x0D ^ 0x5A, 0xA1, 0xA2}));
  // A sequential read across the end of the array wraps to 0x00.
  const gpa top = r->put(bytes_of({0xFE}));
  const gpa out2 = r->fresh(3);
  auto wrap = r->transfer({{a7(0x50), direction::write, top, 1},
                           {a7(0x50), direction::read, out2, 3}});
  r->process();
  CHECK(reclaim_all(r->m, wrap) == statuses{OK, OK});
  CHECK(r->bytes_at(out2, 3) == bytes_of({0xFE ^ 0x5A, 0xFF ^ 0x5A, 0x00 ^ 0x5A}));
}

TEST_CASE_TEMPLATE("register map through the device: auto-increment, read-only NACK, wrap", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  r->regs.set_read_only(6);
  const gpa w = r->put(bytes_of({0x03, 0x31, 0x41, 0x59}));
  auto wr = r->transfer({{a7(0x20), direction::write, w, 4}});
  const gpa ro = r->put(bytes_of({0x05, 0x26, 0x53}));  // 0x26 -> reg 5, 0x53 -> reg 6: NACK
  auto nack = r->transfer({{a7(0x20), direction::write, ro, 3}});
  const gpa from = r->put(bytes_of({0x03}));
  const gpa out = r->fresh(4);
  auto rd = r->transfer({{a7(0x20), direction::write, from, 1},
                         {a7(0x20), direction::read, out, 4}});
  const gpa last = r->put(bytes_of({0x0F}));
  const gpa out2 = r->fresh(2);
  auto wrap = r->transfer({{a7(0x20), direction::write, last, 1},
                           {a7(0x20), direction::read, out2, 2}});
  r->regs.set(0x0F, 0xF0);
  r->regs.set(0x00, 0x0F);
  r->process();
  CHECK(reclaim_all(r->m, wr) == statuses{OK});
  CHECK(reclaim_all(r->m, nack) == statuses{ERR});
  CHECK(reclaim_all(r->m, rd) == statuses{OK, OK});
  CHECK(reclaim_all(r->m, wrap) == statuses{OK, OK});
  CHECK(r->bytes_at(out, 4) == bytes_of({0x31, 0x41, 0x26, 0x00}));  // reg 6 kept its 0
  CHECK(r->bytes_at(out2, 2) == bytes_of({0xF0, 0x0F}));
}

TEST_CASE_TEMPLATE("IN_ORDER: groups, failures and malformed requests complete in ring order", L,
                   split_layout, packed_layout) {
  rig_options o;
  o.in_order = true;
  o.indirect = true;
  auto r = make_rig<L>(o);
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const gpa buf = r->fresh(3);
    auto g1 = r->transfer({{a7(0x50), direction::read, buf, 3}}, add_mode::indirect);
    auto g2 = r->transfer({{a7(0x50), direction::write, gpa{0}, 0},
                           {a7(0x55), direction::write, gpa{0}, 0}});
    auto bad = add_raw(r->m, {{header(0x00A1, 0), {}, {}}});
    auto g3 = r->transfer({{a7(0x20), direction::write, gpa{0}, 0}});
    r->process();
    CHECK(reclaim_all(r->m, g1) == statuses{OK});
    CHECK(reclaim_all(r->m, g2) == statuses{OK, ERR});
    CHECK(reclaim_all(r->m, bad) == statuses{ERR});
    CHECK(reclaim_all(r->m, g3) == statuses{OK});
  }
  CHECK(r->q.ready());
}

TEST_CASE("any_device_queue: the device runs on the layout chosen at configure()") {
  for (const bool packed : {false, true}) {
    CAPTURE(packed);
    using any_q = vireo::ring::any_device_queue<mem_t>;
    std::unique_ptr<split_mock> sm;
    std::unique_ptr<packed_mock> pm;
    if (packed) pm = std::make_unique<packed_mock>(mock_opts<packed_mock>(16, false));
    else sm = std::make_unique<split_mock>(mock_opts<split_mock>(16, false));
    vireo::flat_memory& flat = packed ? pm->memory() : sm->memory();
    mem_t fm{flat};
    any_q q{fm};
    REQUIRE(q.configure(packed ? pm->config() : sm->config()).has_value());
    sim_bus bus;
    i2c::sim::eeprom_24c02 eeprom;
    REQUIRE(bus.attach(a7(0x50), eeprom).has_value());
    auto dev = std::make_unique<i2c::device<any_q, sim_bus>>(q, bus);
    std::vector<pending> reqs;
    if (packed) reqs = add_transfer(*pm, {{a7(0x50), direction::read, pm->alloc(4), 4}});
    else reqs = add_transfer(*sm, {{a7(0x50), direction::read, sm->alloc(4), 4}});
    REQUIRE(dev->process().has_value());
    const statuses st = packed ? reclaim_all(*pm, reqs) : reclaim_all(*sm, reqs);
    CHECK(st == statuses{OK});
    CHECK(eeprom.pointer() == 4);
  }
}
