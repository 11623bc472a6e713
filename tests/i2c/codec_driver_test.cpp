// SPDX-License-Identifier: Apache-2.0
// Tests for the driver side of vireo/i2c/codec.hpp: negotiation helpers, make_out_hdr,
// encode_request, decode_completion, count_ok_prefix.
#include "i2c_test_support.hpp"

#include <array>
#include <cstring>

using namespace vireo_i2c_test;
using i2c::direction;
using i2c::status;

namespace {

/// Guest memory owned by a driver: 4 KiB at 0x8000.
struct driver_ram {
  std::vector<std::byte> store = std::vector<std::byte>(4096, std::byte{0x77});
  vireo::flat_memory mem{bytes{store.data(), store.size()}, gpa{0x8000}};
  std::byte* at(gpa g) { return store.data() + (g.raw() - 0x8000); }
};

const feature_set negotiated = i2c::device_features();

}  // namespace

TEST_CASE("driver: negotiation helpers for the mandatory ZERO_LENGTH_REQUEST") {
  CHECK(i2c::device_features() == feature_set{i2c::feature::zero_length_request});
  CHECK(i2c::check_driver_features(i2c::device_features()).has_value());
  CHECK(err(i2c::check_driver_features(feature_set{})) == errc::i2c_feature_required);
  auto acc = i2c::accept_features(feature_set::from_words(0xFFFFFFFFFFFFFFFFull));
  REQUIRE(acc.has_value());
  CHECK(*acc == i2c::device_features());  // only the i2c bit it knows
  CHECK(err(i2c::accept_features(feature_set::from_words(0xFFFFFFFFFFFFFFFEull))) ==
        errc::i2c_feature_required);
}

TEST_CASE("driver: make_out_hdr sets addr, FAIL_NEXT and M_RD, and nothing else") {
  for (const bool fail_next : {false, true}) {
    for (const direction d : {direction::write, direction::read}) {
      auto h = i2c::make_out_hdr(a7(0x50), d, fail_next);
      REQUIRE(h.has_value());
      CHECK(h->addr.get() == 0x00A0);
      CHECK(h->padding.get() == 0);
      CHECK(h->flags.get() == ((fail_next ? flag::fail_next : 0u) |
                               (d == direction::read ? flag::m_rd : 0u)));
      CHECK((h->flags.get() & flag::reserved) == 0);
    }
  }
  CHECK(i2c::make_out_hdr(a10(0x2A5), direction::read, false)->addr.get() == 0xA5F4);
  CHECK(err(i2c::make_out_hdr(a7(0x79), direction::write, false)) == errc::i2c_address_reserved);
  static_assert(i2c::make_out_hdr(i2c::address::seven_bit(0x50).value(), direction::read, true)
                    .value()
                    .flags.get() == 3u);
}

TEST_CASE("driver: transfer_fail_next sets FAIL_NEXT on all but the last message") {
  CHECK_FALSE(i2c::transfer_fail_next(0, 1));
  CHECK(i2c::transfer_fail_next(0, 2));
  CHECK_FALSE(i2c::transfer_fail_next(1, 2));
  CHECK(i2c::transfer_fail_next(3, 5));
  CHECK_FALSE(i2c::transfer_fail_next(4, 5));
}

TEST_CASE("driver: encode_request lays out write, read and zero-length requests") {
  driver_ram r;
  const i2c::header_slots slots{gpa{0x8000}, gpa{0x8010}};
  SUBCASE("write") {
    auto b = i2c::encode_request(r.mem, {a7(0x50), direction::write, gpa{0x8100}, 3}, true,
                                 slots, negotiated);
    REQUIRE(b.has_value());
    REQUIRE(b->readable().size() == 2);
    REQUIRE(b->writable().size() == 1);
    CHECK(b->readable()[0].addr == slots.out);
    CHECK(b->readable()[0].len == 8);
    CHECK(b->readable()[1].addr == gpa{0x8100});
    CHECK(b->readable()[1].len == 3);
    CHECK(b->writable()[0].addr == slots.in);
    CHECK(b->writable()[0].len == 1);
    CHECK(b->writable_len == 1);
    CHECK(b->len == 3);
    CHECK(b->dir == direction::write);
    CHECK(b->status_at == slots.in);
    const auto want = header(0x00A0, flag::fail_next);
    CHECK(std::memcmp(r.at(slots.out), want.data(), 8) == 0);
  }
  SUBCASE("read") {
    auto b = i2c::encode_request(r.mem, {a7(0x50), direction::read, gpa{0x8100}, 16}, false,
                                 slots, negotiated);
    REQUIRE(b.has_value());
    REQUIRE(b->readable().size() == 1);
    REQUIRE(b->writable().size() == 2);
    CHECK(b->writable()[0].addr == gpa{0x8100});
    CHECK(b->writable()[0].len == 16);
    CHECK(b->writable()[1].addr == slots.in);
    CHECK(b->writable_len == 17);
    const auto want = header(0x00A0, flag::m_rd);
    CHECK(std::memcmp(r.at(slots.out), want.data(), 8) == 0);
  }
  SUBCASE("zero-length, both directions: no buf at all") {
    for (const direction d : {direction::write, direction::read}) {
      auto b = i2c::encode_request(r.mem, {a7(0x48), d, gpa{0x8100}, 0}, false, slots,
                                   negotiated);
      REQUIRE(b.has_value());
      CHECK(b->readable().size() == 1);
      CHECK(b->writable().size() == 1);
      CHECK(b->writable_len == 1);
    }
  }
  // The status byte is preset to ERR.
  CHECK(*r.at(slots.in) == std::byte{1});
}

TEST_CASE("driver: encode_request errors") {
  driver_ram r;
  const i2c::header_slots slots{gpa{0x8000}, gpa{0x8010}};
  const i2c::message m{a7(0x50), direction::write, gpa{0x8100}, 3};
  CHECK(err(i2c::encode_request(r.mem, m, false, slots, feature_set{})) ==
        errc::i2c_feature_required);
  CHECK(err(i2c::encode_request(r.mem, {a7(0x7A), direction::write, gpa{0x8100}, 3}, false, slots,
                                negotiated)) == errc::i2c_address_reserved);
  CHECK(err(i2c::encode_request(r.mem, {a7(0x50), direction::read, gpa{0x8100}, 0xFFFFFFF7u},
                                false, slots, negotiated)) == errc::total_len_overflow);
  CHECK(i2c::encode_request(r.mem, {a7(0x50), direction::read, gpa{0x8100}, 0xFFFFFFF6u}, false,
                            slots, negotiated)
            .has_value());  // 8 + len + 1 = 2^32 - 1
  CHECK(err(i2c::encode_request(r.mem, m, false, {gpa{0x100}, gpa{0x8010}}, negotiated)) ==
        errc::out_of_bounds);
  CHECK(err(i2c::encode_request(r.mem, m, false, {gpa{0x8000}, gpa{0x9000}}, negotiated)) ==
        errc::out_of_bounds);
}

TEST_CASE("driver: decode_completion reads OK/ERR, refuses other bytes and short used lengths") {
  driver_ram r;
  const i2c::header_slots slots{gpa{0x8000}, gpa{0x8010}};
  auto b = i2c::encode_request(r.mem, {a7(0x50), direction::read, gpa{0x8100}, 4}, false, slots,
                               negotiated);
  REQUIRE(b.has_value());
  *r.at(slots.in) = std::byte{0};
  CHECK(*i2c::decode_completion(r.mem, *b, 5) == status::ok);
  *r.at(slots.in) = std::byte{1};
  CHECK(*i2c::decode_completion(r.mem, *b, 5) == status::err);
  for (const unsigned v : {2u, 3u, 0x80u, 0xFFu}) {
    *r.at(slots.in) = std::byte(v);
    CHECK(err(i2c::decode_completion(r.mem, *b, 5)) == errc::i2c_bad_status);
  }
  *r.at(slots.in) = std::byte{0};
  for (const std::uint32_t used : {0u, 1u, 4u})
    CHECK(err(i2c::decode_completion(r.mem, *b, used)) == errc::i2c_status_not_written);
  // Linux's behaviour: the status byte is read whatever the used length says.
  CHECK(*i2c::decode_completion(r.mem, *b, 0, i2c::used_len_policy::ignore) == status::ok);
  b->status_at = gpa{0x100};
  CHECK(err(i2c::decode_completion(r.mem, *b, 5)) == errc::out_of_bounds);
}

TEST_CASE("driver: count_ok_prefix counts leading OKs only") {
  using S = status;
  CHECK(i2c::count_ok_prefix(std::array<S, 0>{}) == 0);
  CHECK(i2c::count_ok_prefix(std::array{S::ok, S::ok, S::ok}) == 3);
  CHECK(i2c::count_ok_prefix(std::array{S::ok, S::err, S::ok}) == 1);
  CHECK(i2c::count_ok_prefix(std::array{S::err, S::ok}) == 0);
}
