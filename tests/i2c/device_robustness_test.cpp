// SPDX-License-Identifier: Apache-2.0
// i2c::device against a hostile driver and failing memory: every kind of malformed request gets
// ERR and the next request still works; bufs split across segments or unmappable go through the
// bounce area, and a group that does not fit it fails whole; guest memory faults while moving
// data or writing a status; a broken queue is reported. Split and packed rings.
#include "device_test_support.hpp"

using namespace vireo_i2c_test;

namespace {

constexpr status OK = status::ok;
constexpr status ERR = status::err;
using statuses = std::vector<status>;

}  // namespace

TEST_CASE_TEMPLATE("malformed: every kind of malformed request gets ERR and the next group works",
                   L, split_layout, packed_layout) {
  struct bad_case {
    const char* what;
    raw req;
    errc why;
    bool no_status = false;     ///< no status byte the device could write: used length 0
    bool unknown_link = false;  ///< header unreadable: it continues its group (fail closed)
  };
  const std::vector<bad_case> cases{
      {"5-byte header", {pattern(5, 1), {}, {}}, errc::i2c_header_too_short, false, true},
      {"no status byte", {header(0x00A0, 0), {}, {}, false}, errc::i2c_no_status, true},
      {"reserved flag bit 31", {header(0x00A0, 1u << 31), {}, {}}, errc::i2c_reserved_flags},
      {"read with a readable buf", {header(0x00A0, flag::m_rd), {pattern(2, 2)}, {2}},
       errc::i2c_read_buffer_readable},
      {"write with a writable buf", {header(0x00A0, 0), {pattern(2, 3)}, {3}},
       errc::i2c_write_buffer_writable},
      {"buf longer than max_len", {header(0x00A0, 0), {pattern(9, 4)}, {}},
       errc::i2c_buffer_too_long},
      {"address bit 0 set", {header(0x00A1, 0), {}, {}}, errc::i2c_address_invalid},
      {"high byte without the 10-bit pattern", {header(0x01A0, 0), {}, {}},
       errc::i2c_address_invalid},
      {"general call (reserved)", {header(0x0000, 0), {}, {}}, errc::i2c_address_reserved},
      {"header outside guest memory (the ring refuses the chain)",
       {header(0x00A0, 0), {}, {}, true, gpa{0x10}}, errc::out_of_bounds, true, true},
  };
  for (const bad_case& c : cases) {
    CAPTURE(c.what);
    rig_options o;
    o.dev.max_len = 8;
    auto r = make_rig<L>(o);
    auto bad = add_raw(r->m, {c.req});
    auto next = r->transfer({{a7(0x50), direction::write, gpa{0}, 0}});
    auto after = r->transfer({{a7(0x50), direction::write, gpa{0}, 0}});
    r->process();
    auto u = reclaim_n(r->m, 1);
    const pending& p = bad[0];
    if (c.no_status) {
      CHECK(u[0].len == 0);
    } else {
      CHECK(u[0].len == p.bufs.writable_len);  // reject_request(): zeroed, then ERR last
      CHECK(i2c::decode_completion(r->m.memory(), p.bufs, u[0].len).value() == ERR);
      if (p.data != gpa{})
        CHECK(r->bytes_at(p.data, p.bufs.writable_len - 1) ==
              std::vector<std::byte>(p.bufs.writable_len - 1, std::byte{0}));
    }
    // An unreadable header continues its group: the request after it fails with it.
    CHECK(reclaim_all(r->m, next) == statuses{c.unknown_link ? ERR : OK});
    CHECK(reclaim_all(r->m, after) == statuses{OK});
    CHECK(r->dev.stats().malformed == 1);
    CHECK(r->dev.stats().requests_err == (c.unknown_link ? 2u : 1u));
    CHECK(r->bus.transfers() == (c.unknown_link ? 1u : 2u));
    if (!c.unknown_link) CHECK(r->dev.stats().last_error == c.why);
    CHECK(!r->dev.tail_held());
  }
}

TEST_CASE_TEMPLATE("malformed: reserved addresses pass with allow_reserved, and NACK if absent", L,
                   split_layout, packed_layout) {
  rig_options o;
  o.dev.allow_reserved = true;
  auto r = make_rig<L>(o);
  auto gc = add_raw(r->m, {{header(0x0000, 0)}});  // general call: nobody attached at 0x00
  r->process();
  CHECK(reclaim_all(r->m, gc) == statuses{ERR});
  CHECK(r->dev.stats().malformed == 0);
  CHECK(r->dev.stats().last_error == errc::i2c_transfer_incomplete);
  CHECK(r->bus.transfers() == 1);
}

TEST_CASE_TEMPLATE("bounce: bufs split across segments reach the bus whole, reads land whole", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  // write(register 0x04 of the register chip, then 5 bytes), split 1+2+3 after the header.
  auto w = add_raw(r->m, {{header(0x0040, 0), {bytes_of({0x04}), bytes_of({1, 2}),
                                               bytes_of({3, 4, 5})}}});
  // write(word address 0x20) + read(7 bytes split 3+4), one group.
  auto g = add_raw(r->m, {{header(0x00A0, flag::fail_next), {bytes_of({0x20})}},
                          {header(0x00A0, flag::m_rd), {}, {3, 4}}});
  r->process();
  CHECK(reclaim_all(r->m, w) == statuses{OK});
  auto u = reclaim_n(r->m, 2);
  CHECK(u[1].len == 8);
  CHECK(i2c::decode_completion(r->m.memory(), g[1].bufs, u[1].len).value() == OK);
  for (std::uint8_t i = 0; i < 5; ++i) CHECK(r->regs.get(4u + i) == i + 1);
  const auto first = r->bytes_at(g[1].data, 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(first[i] == r->eeprom.contents()[0x20 + i]);
  CHECK(r->dev.stats().bounced == 2);  // the one-byte word address lies in one segment
  CHECK(r->dev.stats().transfers == 2);
}

TEST_CASE_TEMPLATE("bounce: a group whose split bufs overflow the bounce area fails whole; the "
                   "area is free again for the next group",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  REQUIRE(r->dev.bounce_bytes == 64);
  // Two split reads of 40 bytes: 80 > 64. The zero-length probe before them is not run either.
  auto big = add_raw(r->m, {{header(0x00A0, flag::fail_next)},
                            {header(0x00A0, flag::fail_next | flag::m_rd), {}, {20, 20}},
                            {header(0x00A0, flag::m_rd), {}, {20, 20}}});
  // Exactly 64 bytes split: fits.
  auto fits = add_raw(r->m, {{header(0x00A0, flag::m_rd), {}, {32, 32}}});
  r->process();
  CHECK(reclaim_all(r->m, big) == statuses{ERR, ERR, ERR});
  CHECK(reclaim_all(r->m, fits) == statuses{OK});
  CHECK(r->bus.transfers() == 1);
  CHECK(r->dev.stats().groups_not_run == 1);
  const auto got = r->bytes_at(fits[0].data, 32);
  for (std::size_t i = 0; i < 32; ++i) CHECK(got[i] == r->eeprom.contents()[i]);
  CHECK(r->bytes_at(big[1].data, 20) == std::vector<std::byte>(20, std::byte{0}));
}

TEST_CASE_TEMPLATE("bounce: a large buf in one segment needs no bounce area (zero-copy)", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  const gpa out = r->fresh(200);
  auto reqs = r->transfer({{a7(0x50), direction::read, out, 200}});
  r->process();
  CHECK(reclaim_all(r->m, reqs) == statuses{OK});
  CHECK(r->dev.stats().bounced == 0);
  const auto got = r->bytes_at(out, 200);
  for (std::size_t i = 0; i < 200; ++i) CHECK(got[i] == r->eeprom.contents()[i]);
}

TEST_CASE_TEMPLATE("memory faults: at pop, while copying a bounced write, while delivering a "
                   "bounced read, while writing a status: ERR, and the device carries on",
                   L, split_layout, packed_layout) {
  SUBCASE("a buf the memory model refuses when the chain is built: the ring refuses the chain") {
    auto r = make_rig<L>();
    const gpa w = r->put(bytes_of({0x01, 0x02}));
    auto bad = r->transfer({{a7(0x20), direction::write, w, 2}});
    r->fm.fail_range(w, 2);
    r->process();  // a refused chain's link is unknown: held as an open tail...
    r->fm.clear_faults();
    CHECK(r->dev.tail_held());
    r->process();  // ...until a process() brings nothing more
    CHECK(reclaim_n(r->m, 1)[0].len == 0);
    CHECK(r->dev.stats().last_error == errc::injected_fault);
    CHECK(r->regs.get(1) == 0);
    CHECK(bad.size() == 1);
    auto next = r->transfer({{a7(0x20), direction::write, gpa{0}, 0}});
    r->process();
    CHECK(reclaim_all(r->m, next) == statuses{OK});
  }
  SUBCASE("a bounced write whose bytes cannot be read: the group is not run") {
    auto r = make_rig<L>();
    auto held = add_raw(r->m, {{header(0x0040, flag::fail_next), {bytes_of({0x03, 0x77})}}});
    r->fm.deny_map(true);  // the chain is built without host views: its buf must bounce
    r->process();
    r->fm.deny_map(false);
    REQUIRE(r->dev.tail_held());
    r->fm.fail_range(held[0].bufs.readable()[1].addr, 2);
    REQUIRE(r->dev.flush().has_value());
    r->fm.clear_faults();
    CHECK(r->bus.transfers() == 0);  // not put on the bus
    CHECK(r->regs.get(3) == 0);
    auto u = reclaim_n(r->m, 1);
    CHECK(u[0].len == 1);
    CHECK(i2c::decode_completion(r->m.memory(), held[0].bufs, u[0].len).value() == ERR);
    CHECK(r->dev.stats().last_error == errc::injected_fault);
    CHECK(r->dev.stats().memory_errors == 1);
    CHECK(r->dev.stats().groups_not_run == 1);
    auto next = r->transfer({{a7(0x20), direction::write, gpa{0}, 0}});
    r->process();
    CHECK(reclaim_all(r->m, next) == statuses{OK});
  }
  SUBCASE("a bounced read whose bytes cannot be delivered: ERR from that request on") {
    auto r = make_rig<L>();
    auto reqs = add_raw(r->m, {{header(0x00A0, flag::fail_next | flag::m_rd), {}, {2}},
                               {header(0x00A0, flag::fail_next | flag::m_rd), {}, {3}}});
    r->fm.deny_map(true);
    r->process();
    r->fm.deny_map(false);
    REQUIRE(r->dev.held() == 2);
    r->fm.fail_range(reqs[1].data, 3);  // the second read's buf
    REQUIRE(r->dev.flush().has_value());
    r->fm.clear_faults();
    CHECK(r->bus.transfers() == 1);
    auto u = reclaim_n(r->m, 2);
    CHECK(u[0].len == 3);
    CHECK(i2c::decode_completion(r->m.memory(), reqs[0].bufs, u[0].len).value() == OK);
    CHECK(u[1].len == 0);  // ERR, but the zero fill of its buf faulted too: nothing claimed
    CHECK(r->dev.stats().memory_errors == 2);
    CHECK(r->dev.stats().requests_ok == 1);
    CHECK(r->dev.stats().requests_err == 1);
  }
  SUBCASE("a status byte that cannot be written: used length 0") {
    auto r = make_rig<L>();
    auto reqs = add_raw(r->m, {{header(0x00A0, flag::fail_next)}});
    r->fm.deny_map(true);  // no host view: the status byte is written through the memory model
    r->process();
    r->fm.deny_map(false);
    REQUIRE(r->dev.tail_held());
    r->fm.fail_range(reqs[0].bufs.status_at, 1);
    REQUIRE(r->dev.flush().has_value());
    r->fm.clear_faults();
    CHECK(reclaim_n(r->m, 1)[0].len == 0);
    CHECK(r->bus.transfers() == 1);  // the probe itself ran
    CHECK(r->dev.stats().memory_errors == 1);
  }
}

TEST_CASE_TEMPLATE("queue broken: process() reports the ring error; reset() drops held chains", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  auto held = add_raw(r->m, {{header(0x00A0, flag::fail_next)}});
  r->process();
  REQUIRE(r->dev.tail_held());
  if constexpr (std::is_same_v<L, split_layout>) {
    r->m.set_avail_idx(static_cast<std::uint16_t>(r->m.avail_idx() + 40));  // past the size
  } else {
    // A head at the device's next slot whose NEXT leads to a slot not made available.
    const auto at = r->q.state().next_avail;
    r->m.publish_chain(vireo::ring::off_of(at), vireo::ring::wrap_of(at),
                       {{r->m.alloc(8).raw(), 8, 7, vireo::ring::desc_flag::next}});
    (void)at;
  }
  auto e = r->dev.process();
  REQUIRE(!e.has_value());
  CHECK(r->q.broken());
  CHECK(err(r->dev.process()) == errc::queue_broken);
  CHECK(err(r->dev.flush()) == errc::queue_broken);  // the held tail cannot be completed
  r->dev.reset();
  CHECK(!r->dev.tail_held());
  CHECK(held.size() == 1);
}

TEST_CASE_TEMPLATE("stats: every popped chain is counted once as OK or ERR", L, split_layout,
                   packed_layout) {
  auto r = make_rig<L>();
  const gpa buf = r->fresh(4);
  auto a = r->transfer({{a7(0x50), direction::read, buf, 4}});
  auto b = r->transfer({{a7(0x52), direction::write, gpa{0}, 0},
                        {a7(0x50), direction::write, gpa{0}, 0}});
  auto c = add_raw(r->m, {{header(0x00A1, 0)}});
  r->process();
  const auto& s = r->dev.stats();
  CHECK(s.requests_ok + s.requests_err == 4);
  CHECK(s.requests_ok == 1);
  CHECK(s.groups == 3);
  CHECK(s.transfers == 2);
  CHECK(s.malformed == 1);
  r->dev.clear_stats();
  CHECK(r->dev.stats().groups == 0);
  CHECK(reclaim_n(r->m, 4).size() == 4);
  (void)a;
  (void)b;
  (void)c;
}

TEST_CASE_TEMPLATE("IN_ORDER: a refused chain inside a group comes back with length 0, never as "
                   "part of a collapsed batch",
                   L, split_layout, packed_layout) {
  // Under IN_ORDER a batch may be published as one used entry naming its last chain, and the
  // driver then takes every earlier one as wholly written. A chain the ring refused has a token
  // that says 0 writable bytes while the driver knows 4: it must end its piece of the batch.
  rig_options o;
  o.in_order = true;
  auto r = make_rig<L>(o);
  auto first = add_raw(r->m, {{header(0x00A0, flag::fail_next)}});
  auto refused = add_raw(r->m, {{header(0x00A0, 0), {}, {3}, true, gpa{0x10}}});
  auto last = add_raw(r->m, {{header(0x00A0, 0)}});
  r->process();
  auto u = reclaim_n(r->m, 3);
  CHECK(u[0].len == 1);
  CHECK(u[1].len == 0);
  CHECK(u[2].len == 1);
  CHECK(refused[0].bufs.writable_len == 4);
  CHECK(i2c::decode_completion(r->m.memory(), first[0].bufs, u[0].len).value() == ERR);
  CHECK(i2c::decode_completion(r->m.memory(), last[0].bufs, u[2].len).value() == ERR);
  CHECK(r->q.ready());
}
