// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/vhost_user/header.hpp: the 12-byte header, its flag bits and the framing checks a
// transport makes before it reads a payload (rules B2, B3; digest §1, §10.1-10.4).
#include "vhost_user_test_support.hpp"

using namespace vireo_vu_test;

TEST_CASE("header: 12 bytes, native byte order, readable at any alignment") {
  static_assert(vu::header_size == 12);
  static_assert(sizeof(vu::header) == vu::header_size && alignof(vu::header) == 1);
  static_assert(vu::default_max_payload == 4096);
  static_assert(vu::max_fds_per_message == 8);
  const vu::header h = vu::make_header(24, 0x9, 20);
  const auto expect = builder{}.u32(24).u32(0x9).u32(20).bytes();
  std::array<std::byte, 13> buf{};
  // Store and load at an odd offset: the header has alignment 1 and goes through memcpy.
  REQUIRE(vu::store_header(h, std::span(buf).subspan(1)).has_value());
  CHECK(std::equal(expect.begin(), expect.end(), buf.begin() + 1));
  const auto back = vu::load_header(std::span<const std::byte>(buf).subspan(1));
  REQUIRE(back.has_value());
  CHECK(back->request.get() == 24);
  CHECK(back->flags.get() == 0x9);
  CHECK(back->size.get() == 20);
  CHECK(vu::version_of(*back) == 1);
  CHECK(vu::needs_reply(*back));
  CHECK_FALSE(vu::is_reply(*back));
}

TEST_CASE("header: flag constants (§1.1)") {
  CHECK(vu::flag::version == 0x1);
  CHECK(vu::flag::reply == 0x4);
  CHECK(vu::flag::need_reply == 0x8);
  CHECK(vu::flag::reply_flags == 0x5);
  CHECK(vu::flag::reserved == 0xFFFFFFF0u);
}

TEST_CASE("header: load and store refuse short buffers") {
  for (std::size_t n = 0; n < vu::header_size; ++n) {
    CAPTURE(n);
    std::vector<std::byte> b(n);
    CHECK(err(vu::load_header(b)) == errc::vhost_header_truncated);
    CHECK(err(vu::store_header(vu::make_header(1, 1, 0), b)) == errc::no_space);
  }
}

TEST_CASE("B2 validate_header: version must be 1, reserved flag bits clear") {
  for (std::uint32_t version : {0u, 2u, 3u}) {
    CAPTURE(version);
    CHECK(err(vu::validate_header(vu::make_header(1, version, 0))) == errc::vhost_bad_version);
  }
  for (unsigned bit = 4; bit < 32; ++bit) {
    CAPTURE(bit);
    CHECK(err(vu::validate_header(vu::make_header(1, 1u | (1u << bit), 0))) ==
          errc::vhost_reserved_flags);
  }
  CHECK(vu::validate_header(vu::make_header(1, 0x1, 0)).has_value());
  CHECK(vu::validate_header(vu::make_header(1, 0x5, 0)).has_value());  // replies pass here too
  CHECK(vu::validate_header(vu::make_header(1, 0x9, 0)).has_value());
}

TEST_CASE("B3 validate_header: size above the cap is refused before any payload is read") {
  CHECK(vu::validate_header(vu::make_header(26, 1, vu::default_max_payload)).has_value());
  CHECK(err(vu::validate_header(vu::make_header(26, 1, vu::default_max_payload + 1))) ==
        errc::vhost_payload_too_large);
  CHECK(err(vu::validate_header(vu::make_header(26, 1, 0xFFFFFFFFu))) ==
        errc::vhost_payload_too_large);
  CHECK(vu::validate_header(vu::make_header(26, 1, 300), 300).has_value());
  CHECK(err(vu::validate_header(vu::make_header(26, 1, 301), 300)) ==
        errc::vhost_payload_too_large);
}
