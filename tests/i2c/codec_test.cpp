// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/i2c/codec.hpp, device side: parse_request / decode_request / complete /
// reject_request on chains of any segmentation built with the real chain builder.
#include "i2c_test_support.hpp"

#include <algorithm>
#include <vector>

using namespace vireo_i2c_test;
using i2c::direction;
using i2c::group_link;
using i2c::status;

namespace {

/// Parse a chain and require success.
request_t parse_ok(const chain_t& c, const i2c::decode_options& o = opts()) {
  auto p = i2c::parse_request(c, o);
  REQUIRE(p.req.has_value());
  return *p.req;
}

errc parse_err(const chain_t& c, const i2c::decode_options& o = opts()) {
  return err(i2c::parse_request(c, o).req);
}

constexpr std::byte ok_byte{0};
constexpr std::byte err_byte{1};

}  // namespace

TEST_CASE("codec: a write request as Linux lays it out: [out_hdr](R) [buf](R) [in_hdr](W)") {
  arena a;
  const auto data = pattern(5, 1);
  auto c = a.build({rd(header(0x00A0, 0)), rd(data), wr(1)});
  const auto before = a.outside_writable();
  auto req = parse_ok(c);
  CHECK(req.target() == a7(0x50));
  CHECK(req.encoded().raw() == 0x00A0);
  CHECK(req.dir() == direction::write);
  CHECK_FALSE(req.is_read());
  CHECK(req.len() == 5);
  CHECK_FALSE(req.zero_length());
  CHECK_FALSE(req.fail_next());
  CHECK(req.link() == group_link::ends_group);
  CHECK(req.flags() == 0);
  CHECK(req.padding() == 0);
  CHECK(drain(req.write_data()) == data);
  auto used = req.complete(status::ok);
  REQUIRE(used.has_value());
  CHECK(*used == 1);
  CHECK(a.writable_bytes() == std::vector<std::byte>{ok_byte});
  CHECK(a.outside_writable() == before);  // header and buf untouched
}

TEST_CASE("codec: a read request as Linux lays it out: [out_hdr](R) + [buf](W) [in_hdr](W)") {
  arena a;
  auto c = a.build({rd(header(0x00A0, flag::m_rd | flag::fail_next)), wr(4), wr(1)});
  auto req = parse_ok(c);
  CHECK(req.dir() == direction::read);
  CHECK(req.is_read());
  CHECK(req.len() == 4);
  CHECK(req.fail_next());
  CHECK(req.link() == group_link::fail_next);
  const auto data = pattern(4, 2);
  REQUIRE(req.read_data().write(data).has_value());
  auto used = req.complete(status::ok);
  REQUIRE(used.has_value());
  CHECK(*used == 5);
  CHECK(a.writable_bytes() == concat({data, {ok_byte}}));
}

TEST_CASE("codec: zero-length requests (SMBus Quick): no buf, M_RD still gives the direction") {
  for (const bool read : {false, true}) {
    CAPTURE(read);
    arena a;
    auto c = a.build({rd(header(0x0090, read ? flag::m_rd : 0u)), wr(1)});
    auto req = parse_ok(c);
    CHECK(req.zero_length());
    CHECK(req.len() == 0);
    CHECK(req.is_read() == read);
    CHECK(req.target() == a7(0x48));
    if (read) CHECK(req.read_data().remaining() == 0);
    else CHECK(req.write_data().remaining() == 0);
    auto used = req.complete(status::ok);
    REQUIRE(used.has_value());
    CHECK(*used == 1);
    CHECK(a.writable_bytes() == std::vector<std::byte>{ok_byte});
  }
}

TEST_CASE("codec: zero-length only when VIRTIO_I2C_F_ZERO_LENGTH_REQUEST is negotiated") {
  i2c::decode_options none = opts();
  none.features = feature_set{};
  for (const std::uint32_t f : {0u, flag::m_rd}) {
    arena a;
    auto zero = a.build({rd(header(0x0090, f)), wr(1)});
    CHECK(parse_err(zero, none) == errc::i2c_zero_length_not_negotiated);
    CHECK(i2c::parse_request(zero, opts()).req.has_value());
  }
  // Requests with a buf do not depend on the feature (the device refuses FEATURES_OK without
  // it anyway; see check_driver_features).
  arena a;
  auto w = a.build({rd(concat({header(0x0090, 0), pattern(3, 1)})), wr(1)});
  CHECK(i2c::parse_request(w, none).req.has_value());
  auto r = a.build({rd(header(0x0090, flag::m_rd)), wr(3)});
  CHECK(i2c::parse_request(r, none).req.has_value());
}

TEST_CASE("codec: every readable length below 8 is i2c_header_too_short, link unknown") {
  const auto hdr = header(0x00A0, 0);
  for (std::size_t n = 0; n < 8; ++n) {
    CAPTURE(n);
    arena a;
    std::vector<piece> ps;
    if (n > 0) ps.push_back(rd({hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(n)}));
    ps.push_back(wr(1));
    auto c = a.build(ps);
    auto p = i2c::parse_request(c, opts());
    CHECK(err(p.req) == errc::i2c_header_too_short);
    CHECK(p.link == group_link::unknown);
    auto used = i2c::reject_request(c, opts());
    REQUIRE(used.has_value());
    CHECK(*used == 1);
    CHECK(a.writable_bytes() == std::vector<std::byte>{err_byte});
  }
}

TEST_CASE("codec: no writable byte is i2c_no_status; reject writes nothing and uses 0") {
  arena a;
  auto c = a.build({rd(header(0x00A0, flag::fail_next)), rd(pattern(2, 1))});
  const auto before = a.snapshot();
  auto p = i2c::parse_request(c, opts());
  CHECK(err(p.req) == errc::i2c_no_status);
  CHECK(p.link == group_link::fail_next);  // the header was read: its link is known
  auto used = i2c::reject_request(c, opts());
  REQUIRE(used.has_value());
  CHECK(*used == 0);
  CHECK(a.snapshot() == before);
  // No descriptor at all.
  arena b;
  auto empty = b.build({});
  CHECK(parse_err(empty) == errc::i2c_header_too_short);
  CHECK(*i2c::reject_request(empty, opts()) == 0);
}

TEST_CASE("codec: each reserved flag bit 2..31 is i2c_reserved_flags, with its link kept") {
  for (unsigned bit = 2; bit < 32; ++bit) {
    CAPTURE(bit);
    for (const std::uint32_t base : {0u, flag::fail_next, flag::m_rd | flag::fail_next}) {
      arena a;
      auto c = a.build({rd(header(0x00A0, base | (1u << bit))), wr(1)});
      auto p = i2c::parse_request(c, opts());
      CHECK(err(p.req) == errc::i2c_reserved_flags);
      CHECK(p.link == ((base & flag::fail_next) ? group_link::fail_next : group_link::ends_group));
    }
  }
}

TEST_CASE("codec: M_RD must match the direction of buf") {
  arena a;
  // A read request with readable bytes after its header (the 2021 draft's write+read shape).
  auto r1 = a.build({rd(concat({header(0x00A0, flag::m_rd), pattern(1, 1)})), wr(3)});
  CHECK(parse_err(r1) == errc::i2c_read_buffer_readable);
  auto r2 = a.build({rd(header(0x00A0, flag::m_rd)), rd(pattern(4, 1)), wr(1)});
  CHECK(parse_err(r2) == errc::i2c_read_buffer_readable);
  // A write request with a writable buffer before its status.
  auto w1 = a.build({rd(header(0x00A0, 0)), wr(2)});
  CHECK(parse_err(w1) == errc::i2c_write_buffer_writable);
  auto w2 = a.build({rd(concat({header(0x00A0, 0), pattern(3, 1)})), wr(4), wr(1)});
  CHECK(parse_err(w2) == errc::i2c_write_buffer_writable);
}

TEST_CASE("codec: buf length limit: max_len accepted, max_len + 1 refused, both directions") {
  for (const std::uint32_t max : {0u, 1u, 16u, 300u}) {
    CAPTURE(max);
    arena a;
    auto w_ok = a.build({rd(header(0x00A0, 0)), rd(pattern(max, 1)), wr(1)});
    if (max == 0) w_ok = a.build({rd(header(0x00A0, 0)), wr(1)});
    CHECK(i2c::parse_request(w_ok, opts(max)).req.has_value());
    auto w_long = a.build({rd(header(0x00A0, 0)), rd(pattern(max + 1, 1)), wr(1)});
    CHECK(parse_err(w_long, opts(max)) == errc::i2c_buffer_too_long);
    auto r_ok = a.build({rd(header(0x00A0, flag::m_rd)), wr(max + 1)});
    CHECK(i2c::parse_request(r_ok, opts(max)).req.has_value());
    auto r_long = a.build({rd(header(0x00A0, flag::m_rd)), wr(max + 2)});
    CHECK(parse_err(r_long, opts(max)) == errc::i2c_buffer_too_long);
  }
  // The default is 65535, the longest Linux i2c_msg.
  arena a;
  auto big = a.build({rd(header(0x00A0, flag::m_rd)), wr(65536)});
  CHECK(i2c::parse_request(big, opts()).req->len() == 65535);
  arena b;
  auto bigger = b.build({rd(header(0x00A0, flag::m_rd)), wr(65537)});
  CHECK(parse_err(bigger) == errc::i2c_buffer_too_long);
}

TEST_CASE("codec: addresses: invalid encodings refused, reserved ones unless allowed, 10-bit") {
  arena a;
  auto bad = a.build({rd(header(0x00A1, 0)), wr(1)});
  CHECK(parse_err(bad) == errc::i2c_address_invalid);
  auto stray = a.build({rd(header(0x07FE, 0)), wr(1)});
  CHECK(parse_err(stray) == errc::i2c_address_invalid);
  auto general_call = a.build({rd(header(0x0000, 0)), wr(1)});
  CHECK(parse_err(general_call) == errc::i2c_address_reserved);
  auto gc = i2c::parse_request(general_call, opts(65535, true));
  REQUIRE(gc.req.has_value());
  CHECK(gc.req->target() == a7(0x00));
  CHECK(gc.req->target().reserved() == i2c::reserved_kind::general_call);
  auto device_id = a.build({rd(header(0x00F8, flag::m_rd)), wr(4)});
  CHECK(parse_err(device_id) == errc::i2c_address_reserved);
  auto ten = a.build({rd(header(0xA5F4, 0)), wr(1)});
  CHECK(parse_ok(ten).target() == a10(0x2A5));
  auto ten_zero = a.build({rd(header(0x00F0, 0)), wr(1)});  // 10-bit 0x000, not 7-bit 0x78
  CHECK(parse_ok(ten_zero).target() == a10(0x000));
  auto hi = a.build({rd(header(0x00EE, 0)), wr(1)});
  CHECK(parse_ok(hi).target() == a7(0x77));
  auto lo = a.build({rd(header(0x0010, 0)), wr(1)});
  CHECK(parse_ok(lo).target() == a7(0x08));
}

TEST_CASE("codec: the padding field is not checked, and is reported") {
  arena a;
  auto c = a.build({rd(header(0x00A0, 0, 0xBEEF)), wr(1)});
  CHECK(parse_ok(c).padding() == 0xBEEF);
}

TEST_CASE("codec: checks run in the documented order (the first failure is reported)") {
  arena a;
  // No status beats reserved flags, direction and address.
  auto c1 = a.build({rd(header(0x0001, 0xFFFFFFFFu))});
  CHECK(parse_err(c1) == errc::i2c_no_status);
  // Reserved flags beat direction and address.
  auto c2 = a.build({rd(concat({header(0x0001, 0xFFFFFFFFu), pattern(2, 1)})), wr(5)});
  CHECK(parse_err(c2) == errc::i2c_reserved_flags);
  // Direction beats length and address.
  auto c3 = a.build({rd(concat({header(0x0001, flag::m_rd), pattern(20, 1)})), wr(40)});
  CHECK(parse_err(c3, opts(4)) == errc::i2c_read_buffer_readable);
  // Zero-length (not negotiated) beats the address.
  i2c::decode_options none = opts();
  none.features = feature_set{};
  auto c4 = a.build({rd(header(0x0001, 0)), wr(1)});
  CHECK(parse_err(c4, none) == errc::i2c_zero_length_not_negotiated);
  // Length beats the address; invalid beats reserved.
  auto c5 = a.build({rd(header(0x0001, flag::m_rd)), wr(10)});
  CHECK(parse_err(c5, opts(4)) == errc::i2c_buffer_too_long);
  CHECK(parse_err(c5) == errc::i2c_address_invalid);
}

TEST_CASE("codec: any segmentation parses the same: header, buf and status split anywhere") {
  const auto data = pattern(6, 3);
  const auto write_stream = concat({header(0x00A0, flag::fail_next), data});
  // Every single cut and every pair of cuts of the readable stream, mapped or copied.
  for (std::size_t i = 0; i <= write_stream.size(); ++i) {
    for (std::size_t j = i; j <= write_stream.size(); ++j) {
      for (const bool unmapped : {false, true}) {
        CAPTURE(i);
        CAPTURE(j);
        arena a;
        auto ps = cut_readable(write_stream, {i, j}, unmapped);
        ps.push_back(wr(1, unmapped));
        auto c = a.build(ps);
        auto req = parse_ok(c);
        CHECK(req.len() == 6);
        CHECK(req.fail_next());
        CHECK(drain(req.write_data()) == data);
        CHECK(*req.complete(status::ok) == 1);
        CHECK(a.writable_bytes() == std::vector<std::byte>{ok_byte});
      }
    }
  }
  // Read: buf and status in one writable descriptor, or buf split, or the status shared.
  const auto hdr = header(0x00A0, flag::m_rd);
  const auto reply = pattern(7, 4);
  for (std::size_t i = 0; i <= 8; ++i) {
    for (std::size_t w1 = 0; w1 <= 8; ++w1) {
      CAPTURE(i);
      CAPTURE(w1);
      arena a;
      auto ps = cut_readable(hdr, {i}, (i % 2) == 1);
      if (w1 > 0) ps.push_back(wr(w1, (w1 % 3) == 0));
      if (w1 < 8) ps.push_back(wr(8 - w1));
      auto c = a.build(ps);
      auto req = parse_ok(c);
      REQUIRE(req.len() == 7);
      REQUIRE(req.read_data().write(reply).has_value());
      CHECK(*req.complete(status::ok) == 8);
      CHECK(a.writable_bytes() == concat({reply, {ok_byte}}));
    }
  }
}

TEST_CASE("codec: zero-length descriptors anywhere change nothing") {
  arena a;
  auto c = a.build({rd({}), rd(header(0x00A0, 0)), rd({}), rd(pattern(3, 1)), rd({}), wr(0),
                    wr(1), wr(0)});
  auto req = parse_ok(c);
  CHECK(req.len() == 3);
  CHECK(*req.complete(status::ok) == 1);
}

TEST_CASE("codec: complete(): ERR on a read zeroes what was not written, keeps len + 1") {
  arena a;
  auto c = a.build({rd(header(0x00A0, flag::m_rd)), wr(6), wr(1)});
  auto req = parse_ok(c);
  const auto part = pattern(2, 9);
  REQUIRE(req.read_data().write(part).has_value());
  auto used = req.complete(status::err);
  REQUIRE(used.has_value());
  CHECK(*used == 7);
  CHECK(a.writable_bytes() == concat({part, std::vector<std::byte>(4), {err_byte}}));
}

TEST_CASE("codec: complete(): OK on a read before buf is full is refused, nothing written") {
  arena a;
  auto c = a.build({rd(header(0x00A0, flag::m_rd)), wr(4)});
  auto req = parse_ok(c);
  REQUIRE(req.read_data().write(pattern(2, 1)).has_value());
  CHECK(err(req.complete(status::ok)) == errc::i2c_read_incomplete);
  CHECK(a.writable_bytes().back() == arena::unwritten);
  // The device can still fail it.
  CHECK(*req.complete(status::err) == 4);
  CHECK(a.writable_bytes().back() == err_byte);
  // A second completion is a caller error.
  CHECK(err(req.complete(status::ok)) == errc::invalid_argument);
  CHECK(err(req.complete(status::err)) == errc::invalid_argument);
}

TEST_CASE("codec: complete(): ERR on a write or zero-length request writes only the status") {
  arena a;
  auto c = a.build({rd(concat({header(0x00A0, 0), pattern(9, 1)})), wr(1)});
  auto req = parse_ok(c);
  CHECK(*req.complete(status::err) == 1);
  CHECK(a.writable_bytes() == std::vector<std::byte>{err_byte});
}

TEST_CASE("codec: reject_request(): ERR in the last writable byte, bytes before it zeroed") {
  SUBCASE("status only") {
    arena a;
    auto c = a.build({rd(header(0x00A0, 0xFF00u)), wr(1)});
    CHECK(*i2c::reject_request(c, opts()) == 1);
    CHECK(a.writable_bytes() == std::vector<std::byte>{err_byte});
  }
  SUBCASE("a malformed write with a writable buffer: zeroed, then ERR, used = all") {
    arena a;
    auto c = a.build({rd(header(0x00A0, 0)), wr(3, true), wr(2)});
    REQUIRE(parse_err(c) == errc::i2c_write_buffer_writable);
    const auto before = a.outside_writable();
    CHECK(*i2c::reject_request(c, opts()) == 5);
    CHECK(a.writable_bytes() == concat({std::vector<std::byte>(4), {err_byte}}));
    CHECK(a.outside_writable() == before);
  }
  SUBCASE("more bytes before the status than max_len: skipped, ERR still written, used 0") {
    arena a;
    auto c = a.build({rd(header(0x00A0, flag::m_rd)), wr(17)});
    REQUIRE(parse_err(c, opts(15)) == errc::i2c_buffer_too_long);
    CHECK(*i2c::reject_request(c, opts(15)) == 0);
    auto w = a.writable_bytes();
    CHECK(w.back() == err_byte);
    CHECK(std::count(w.begin(), w.end() - 1, arena::unwritten) == 16);
    // At the limit exactly, the bytes are zeroed.
    arena b;
    auto d = b.build({rd(header(0x00A0, flag::m_rd)), wr(17)});
    CHECK(*i2c::reject_request(d, opts(16)) == 17);
    CHECK(b.writable_bytes() == concat({std::vector<std::byte>(16), {err_byte}}));
  }
}

TEST_CASE("codec: memory errors surface as the memory model's error, never as a parse result") {
  arena a;
  auto c = a.build({rd(header(0x00A0, 0), true), wr(1, true)});
  a.memory().fail_range(a.at(0).offset(5), 1);
  auto p = i2c::parse_request(c, opts());
  CHECK(err(p.req) == errc::injected_fault);
  CHECK(p.link == group_link::unknown);
  // The status byte is elsewhere: the rejection still reaches it.
  CHECK(*i2c::reject_request(c, opts()) == 1);
  CHECK(a.writable_bytes() == std::vector<std::byte>{err_byte});
  // A status byte that cannot be written: the error comes back (complete the chain with 0).
  a.memory().fail_range(a.at(1), 1);
  CHECK(err(i2c::reject_request(c, opts())) == errc::injected_fault);
  a.memory().clear_faults();
  auto req = parse_ok(c);
  a.memory().fail_range(a.at(1), 1);
  CHECK(err(req.complete(status::ok)) == errc::injected_fault);
}

TEST_CASE("codec: read_out_header() + decode_request() is what parse_request() does") {
  arena a;
  auto c = a.build({rd(concat({header(0xA5F4, flag::fail_next), pattern(3, 5)})), wr(1)});
  auto rd_ = c.reader();
  auto h = i2c::read_out_header(rd_);
  REQUIRE(h.has_value());
  CHECK(rd_.remaining() == 3);
  CHECK(i2c::link_of(*h) == group_link::fail_next);
  auto req = i2c::decode_request(*h, rd_, c.writer(), opts());
  REQUIRE(req.has_value());
  CHECK(req->target() == a10(0x2A5));
  CHECK(drain(req->write_data()) == pattern(3, 5));
  // Too short: the reader does not move.
  arena b;
  auto s = b.build({rd(pattern(7, 1)), wr(1)});
  auto r2 = s.reader();
  CHECK(err(i2c::read_out_header(r2)) == errc::i2c_header_too_short);
  CHECK(r2.remaining() == 7);
}

TEST_CASE("codec: the request's data cursors are zero-copy views when segments are mapped") {
  arena a;
  auto c = a.build({rd(header(0x00A0, 0)), rd(pattern(16, 1)), wr(1)});
  auto req = parse_ok(c);
  auto v = req.write_data().view(16);
  REQUIRE(v.has_value());
  CHECK(v->data() == c.readable()[1].host);
  arena b;
  auto d = b.build({rd(header(0x00A0, flag::m_rd)), wr(16), wr(1)});
  auto rq = parse_ok(d);
  auto w = rq.read_data().view(16);
  REQUIRE(w.has_value());
  CHECK(w->data() == d.writable()[0].host);
}
