// SPDX-License-Identifier: Apache-2.0
// The driver (ID*) and device (IV*) requirements of virtio §5.16.6.3 / §5.16.6.4 that concern
// the codec, one TEST_CASE per checklist item of ../shared/spec/virtio-i2c.md §7 (named by its
// id), exercised through real split rings where a ring is involved. docs/i2c.md has the table.
#include "i2c_ring_support.hpp"

using namespace vireo_i2c_test;

namespace {

struct ring_fixture {
  split_mock m{mock_opts<split_mock>(32, false)};
  split_dev d{m.memory()};
  bus b;
  ring_fixture() { REQUIRE(d.configure(m.config()).has_value()); }

  split_dev::chain_type pop() {
    auto c = d.pop();
    REQUIRE(c.has_value());
    REQUIRE(!c->empty());
    return *c;
  }
};

}  // namespace

TEST_CASE("ID1 codec: the driver accepts ZERO_LENGTH_REQUEST and aborts if it is not offered") {
  CHECK(i2c::accept_features(i2c::device_features())->has(i2c::feature::zero_length_request));
  CHECK(err(i2c::accept_features(feature_set{})) == errc::i2c_feature_required);
  ring_fixture f;
  const i2c::message msg{a7(0x50), direction::write, gpa{0}, 0};
  CHECK(err(i2c::encode_request(f.m.memory(), msg, false, {f.m.alloc(8), f.m.alloc(1)},
                                feature_set{})) == errc::i2c_feature_required);
}

TEST_CASE("ID2 codec: the driver sets addr and flags before the request is sent") {
  ring_fixture f;
  const gpa buf = f.m.alloc(3);
  for (const bool fail_next : {false, true}) {
    for (const direction d : {direction::write, direction::read}) {
      for (const i2c::address a : {a7(0x08), a7(0x77), a10(0x000), a10(0x3FF)}) {
        // The slots start out as garbage: encode_request must write every header byte.
        const i2c::header_slots slots{f.m.alloc(8), f.m.alloc(1)};
        std::memset(f.m.host(slots.out, 8).data(), 0xA5, 8);
        auto b = i2c::encode_request(f.m.memory(), {a, d, buf, 3}, fail_next, slots,
                                     i2c::device_features());
        REQUIRE(b.has_value());
        REQUIRE(f.m.driver().add(b->readable(), b->writable(), 0).has_value());
        auto c = f.pop();
        auto p = i2c::parse_request(c, opts());
        REQUIRE(p.req.has_value());
        CHECK(p.req->target() == a);
        CHECK(p.req->dir() == d);
        CHECK(p.req->fail_next() == fail_next);
        CHECK(p.req->padding() == 0);
        CHECK(p.req->encoded() == i2c::encode_address(a).value());
        if (p.req->is_read()) REQUIRE(p.req->read_data().write(pattern(3, 6)).has_value());
        auto used = p.req->complete(status::ok);
        REQUIRE(used.has_value());
        REQUIRE(f.d.push_used(c, *used).has_value());
        auto u = f.m.driver().reclaim();
        REQUIRE(u.has_value());
        CHECK(*i2c::decode_completion(f.m.memory(), *b, (*u)->len) == status::ok);
      }
    }
  }
}

TEST_CASE("ID3 codec: the driver writes the reserved flag bits as zero") {
  for (const bool fail_next : {false, true})
    for (const direction d : {direction::write, direction::read})
      for (const i2c::address a : {a7(0x50), a10(0x2A5)}) {
        auto h = i2c::make_out_hdr(a, d, fail_next);
        REQUIRE(h.has_value());
        CHECK((h->flags.get() & flag::reserved) == 0);
        CHECK(h->padding.get() == 0);
      }
}

TEST_CASE("ID4 codec: no buf for a zero-length request (no zero-byte descriptor either)") {
  ring_fixture f;
  for (const direction d : {direction::write, direction::read}) {
    auto reqs = add_transfer(f.m, {{a7(0x50), d, f.m.alloc(4), 0}});
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].bufs.readable().size() == 1);
    CHECK(reqs[0].bufs.writable().size() == 1);
    auto c = f.pop();
    CHECK(c.readable_len() == 8);
    CHECK(c.writable_len() == 1);
    CHECK(c.readable().size() == 1);
    CHECK(c.writable().size() == 1);
    auto p = i2c::parse_request(c, opts());
    REQUIRE(p.req.has_value());
    CHECK(p.req->zero_length());
    CHECK(p.req->is_read() == (d == direction::read));
    REQUIRE(f.d.push_used(c, *p.req->complete(status::ok)).has_value());
  }
}

TEST_CASE("ID5 codec: a read that returns ERR: its status says so, and buf holds no stale data") {
  ring_fixture f;
  const gpa out = f.m.alloc(8);
  std::memset(f.m.host(out, 8).data(), 0x77, 8);
  auto reqs = add_transfer(f.m, {{a7(0x51), direction::read, out, 8}});  // absent target
  serve(f.d, f.b);
  auto st = reclaim_all(f.m, reqs);
  CHECK(st == std::vector<status>{status::err});
  // The driver MUST NOT use buf; the device zeroed it, so nothing old could pass as data.
  for (std::byte x : f.m.host(out, 8)) CHECK(x == std::byte{0});
}

TEST_CASE("ID6 codec: a read sets M_RD and its buf is device-writable") {
  ring_fixture f;
  auto reqs = add_transfer(f.m, {{a7(0x50), direction::read, f.m.alloc(5), 5}});
  REQUIRE(reqs.size() == 1);
  auto c = f.pop();
  CHECK(c.readable_len() == 8);
  CHECK(c.writable_len() == 6);
  auto rd_ = c.reader();
  auto h = i2c::read_out_header(rd_);
  REQUIRE(h.has_value());
  CHECK((h->flags.get() & flag::m_rd) != 0);
  auto p = i2c::parse_request(c, opts());
  REQUIRE(p.req.has_value());
  CHECK(p.req->is_read());
  CHECK(p.req->len() == 5);
}

TEST_CASE("ID7 codec: a write clears M_RD and its buf is device-readable") {
  ring_fixture f;
  const auto data = pattern(5, 2);
  auto reqs = add_transfer(f.m, {{a7(0x50), direction::write, f.m.put(data), 5}});
  REQUIRE(reqs.size() == 1);
  auto c = f.pop();
  CHECK(c.readable_len() == 13);
  CHECK(c.writable_len() == 1);
  auto rd_ = c.reader();
  auto h = i2c::read_out_header(rd_);
  REQUIRE(h.has_value());
  CHECK((h->flags.get() & flag::m_rd) == 0);
  auto p = i2c::parse_request(c, opts());
  REQUIRE(p.req.has_value());
  CHECK_FALSE(p.req->is_read());
  CHECK(drain(p.req->write_data()) == data);
}

TEST_CASE("ID8 codec: a transfer's requests are queued in order, FAIL_NEXT on all but the last") {
  ring_fixture f;
  std::vector<i2c::message> msgs;
  for (std::uint16_t i = 0; i < 5; ++i)
    msgs.push_back({a7(static_cast<std::uint16_t>(0x20 + i)),
                    i % 2 ? direction::read : direction::write, f.m.alloc(4), i});
  auto reqs = add_transfer(f.m, msgs);
  REQUIRE(reqs.size() == 5);
  for (std::uint16_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    auto c = f.pop();
    auto p = i2c::parse_request(c, opts());
    REQUIRE(p.req.has_value());
    CHECK(p.req->target() == msgs[i].target);
    CHECK(p.req->len() == i);
    CHECK(p.req->fail_next() == (i < 4));
  }
}

TEST_CASE("ID9 codec: the first failed request and the rest of its group count as failed") {
  using S = status;
  // A later OK (a device that took the MAY and still executed) does not count.
  CHECK(i2c::count_ok_prefix(std::array{S::ok, S::err, S::ok, S::ok}) == 1);
  CHECK(i2c::count_ok_prefix(std::array{S::ok, S::ok}) == 2);
  CHECK(i2c::count_ok_prefix(std::array{S::err}) == 0);
  // An undecodable completion counts as ERR too: here, a status byte of 2.
  ring_fixture f;
  auto reqs = add_transfer(f.m, {{a7(0x50), direction::write, gpa{0}, 0},
                                 {a7(0x50), direction::write, gpa{0}, 0}});
  for (int i = 0; i < 2; ++i) {
    auto c = f.pop();
    auto w = c.writer();
    const std::byte v{static_cast<unsigned char>(i == 0 ? 2 : 0)};
    REQUIRE(w.write(const_bytes{&v, 1}).has_value());
    REQUIRE(f.d.push_used(c, 1).has_value());
  }
  std::vector<S> st;
  for (const auto& r : reqs) {
    auto u = f.m.driver().reclaim();
    REQUIRE(u.has_value());
    auto s = i2c::decode_completion(f.m.memory(), r.bufs, (*u)->len);
    CHECK((st.empty() ? err(s) == errc::i2c_bad_status : s.has_value()));
    st.push_back(s.value_or(S::err));
  }
  CHECK(i2c::count_ok_prefix(st) == 0);
}

TEST_CASE("IV1 codec: the device offers ZERO_LENGTH_REQUEST and rejects drivers without it") {
  CHECK(i2c::device_features().has(i2c::feature::zero_length_request));
  CHECK(i2c::check_driver_features(i2c::device_features()).has_value());
  CHECK(err(i2c::check_driver_features(feature_set{})) == errc::i2c_feature_required);
  // Other bits do not stand in for it.
  CHECK(err(i2c::check_driver_features(feature_set::from_words(~std::uint64_t{1}))) ==
        errc::i2c_feature_required);
}

TEST_CASE("IV2 codec: a request maps to exactly one I2C segment, like a real adapter") {
  // Direction from M_RD, length from framing, target per the address table; a reserved address
  // that would reach other targets (general call, device ID) is refused by default.
  ring_fixture f;
  const auto data = pattern(3, 1);
  auto reqs = add_transfer(f.m, {{a10(0x2A5), direction::write, f.m.put(data), 3}});
  auto c = f.pop();
  auto p = i2c::parse_request(c, opts());
  REQUIRE(p.req.has_value());
  CHECK(p.req->target() == a10(0x2A5));
  CHECK(p.req->len() == 3);
  CHECK_FALSE(p.req->is_read());
  REQUIRE(f.d.push_used(c, *p.req->complete(status::ok)).has_value());
  arena a;
  auto gc = a.build({rd(header(0x0000, 0)), rd(pattern(2, 1)), wr(1)});
  CHECK(err(i2c::parse_request(gc, opts()).req) == errc::i2c_address_reserved);
}

TEST_CASE("IV3 codec: the device never changes addr or the reserved flag bits") {
  // Accepted and rejected requests alike: everything outside the writable bytes is unchanged.
  for (const std::uint32_t flags : {0u, flag::m_rd, 0xFFFFFFFCu, 0x80000002u}) {
    CAPTURE(flags);
    arena a;
    auto c = a.build({rd(header(0xA5F4, flags)), wr(flags & flag::m_rd ? 4 : 1)});
    const auto before = a.outside_writable();
    auto p = i2c::parse_request(c, opts());
    if (p.req) {
      CHECK(p.req->encoded().raw() == 0xA5F4);
      CHECK(p.req->flags() == flags);
      if (p.req->is_read()) REQUIRE(p.req->read_data().write(pattern(3, 1)).has_value());
      REQUIRE(p.req->complete(status::ok).has_value());
    } else {
      REQUIRE(i2c::reject_request(c, opts()).has_value());
    }
    CHECK(a.outside_writable() == before);
  }
}

TEST_CASE("IV4 codec: the device does not change the buf of a write request") {
  for (const status s : {status::ok, status::err}) {
    arena a;
    const auto data = pattern(40, 3);
    auto c = a.build({rd(concat({header(0x00A0, 0), data})), wr(1)});
    const auto before = a.outside_writable();
    auto p = i2c::parse_request(c, opts());
    REQUIRE(p.req.has_value());
    CHECK(drain(p.req->write_data()) == data);
    REQUIRE(p.req->complete(s).has_value());
    CHECK(a.outside_writable() == before);
  }
}

TEST_CASE("IV5 codec: a read places exactly len() bytes, then the status, and nothing else") {
  arena a;
  auto c = a.build({rd(header(0x00A0, flag::m_rd)), wr(3), wr(4)});
  auto p = i2c::parse_request(c, opts());
  REQUIRE(p.req.has_value());
  REQUIRE(p.req->len() == 6);
  // Not one byte more than len() fits in read_data().
  CHECK(err(p.req->read_data().write(pattern(7, 1))) == errc::no_space);
  REQUIRE(p.req->read_data().write(pattern(5, 1)).has_value());
  CHECK(err(p.req->complete(status::ok)) == errc::i2c_read_incomplete);  // one byte short
  REQUIRE(p.req->read_data().write(pattern(1, 2)).has_value());
  const auto before = a.outside_writable();
  CHECK(*p.req->complete(status::ok) == 7);
  CHECK(a.writable_bytes() == concat({pattern(5, 1), pattern(1, 2), {std::byte{0}}}));
  CHECK(a.outside_writable() == before);
}

TEST_CASE("IV6 codec: requests are processed in queue order") {
  ring_fixture f;
  const gpa reg = f.m.put(std::vector<std::byte>{std::byte{0x30}, std::byte{1}, std::byte{2}});
  auto g1 = add_transfer(f.m, {{a7(0x50), direction::write, reg, 3},
                               {a7(0x50), direction::read, f.m.alloc(2), 2}});
  auto g2 = add_transfer(f.m, {{a7(0x50), direction::read, f.m.alloc(1), 1}});
  auto g3 = add_transfer(f.m, {{a7(0x50), direction::write, gpa{0}, 0}});
  serve(f.d, f.b);
  REQUIRE(f.b.log.size() == 4);
  CHECK((f.b.log[0].read == false && f.b.log[0].len == 3));
  CHECK((f.b.log[1].read == true && f.b.log[1].len == 2));
  CHECK((f.b.log[2].read == true && f.b.log[2].len == 1));
  CHECK((f.b.log[3].read == false && f.b.log[3].len == 0));
}

TEST_CASE("IV7 codec: ERR on the first failure; the rest of its group fails without executing") {
  // Streaming rule (group_tracker) over a real ring: group [ok, NACK, read, write] then [read].
  ring_fixture f;
  const gpa reg = f.m.put(std::vector<std::byte>{std::byte{0x00}});
  auto g1 = add_transfer(f.m, {{a7(0x50), direction::write, reg, 1},
                               {a7(0x51), direction::write, reg, 1},
                               {a7(0x50), direction::read, f.m.alloc(4), 4},
                               {a7(0x50), direction::write, reg, 1}});
  auto g2 = add_transfer(f.m, {{a7(0x50), direction::read, f.m.alloc(4), 4}});
  serve(f.d, f.b);
  CHECK(f.b.executed == 3);  // 0x50 write, the NACKed 0x51 write, then group 2's read
  CHECK(reclaim_all(f.m, g1) ==
        std::vector<status>{status::ok, status::err, status::err, status::err});
  CHECK(reclaim_all(f.m, g2) == std::vector<status>{status::ok});
  // Batched rule, same answer.
  for (std::size_t k = 0; k < 4; ++k)
    CHECK(i2c::group_status(k, 1) == (k < 1 ? status::ok : status::err));
}

TEST_CASE("IV7 codec: a malformed request fails the rest of its group too") {
  ring_fixture f;
  // Request 1 is malformed (reserved flag bit) but declares FAIL_NEXT; request 2 must not run.
  const auto bad = header(0x00A0, flag::fail_next | (1u << 9));
  const std::vector<buffer> r{{f.m.put(bad), 8}};
  const std::vector<buffer> w{{f.m.alloc(1), 1}};
  REQUIRE(f.m.driver().add(r, w, 0).has_value());
  auto good = add_transfer(f.m, {{a7(0x50), direction::write, gpa{0}, 0}});
  serve(f.d, f.b);
  CHECK(f.b.executed == 0);
  REQUIRE(f.m.driver().reclaim()->has_value());  // the malformed one
  auto u = f.m.driver().reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK(*i2c::decode_completion(f.m.memory(), good[0].bufs, (*u)->len) == status::err);
}
