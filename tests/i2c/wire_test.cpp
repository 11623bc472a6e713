// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/i2c/wire.hpp: ids, feature bit, flag and status values, header layouts.
#include "i2c_test_support.hpp"

#include <cstring>
#include <type_traits>

using namespace vireo_i2c_test;

TEST_CASE("wire: identity (§5.16.1-§5.16.4): device id 34, one requestq, no config space") {
  CHECK(i2c::device_id == 34);
  CHECK(i2c::requestq == 0);
  CHECK(i2c::num_queues == 1);
  CHECK(i2c::config_size == 0);
}

TEST_CASE("wire: VIRTIO_I2C_F_ZERO_LENGTH_REQUEST is feature bit 0") {
  CHECK(static_cast<unsigned>(i2c::feature::zero_length_request) == 0);
  feature_set f{i2c::feature::zero_length_request};
  CHECK(f.word(0) == 1);
  CHECK(f.test(0));
}

TEST_CASE("wire: flag values FAIL_NEXT = bit 0, M_RD = bit 1, reserved = bits 2-31") {
  CHECK(flag::fail_next == 1u);
  CHECK(flag::m_rd == 2u);
  CHECK(flag::known == 3u);
  CHECK(flag::reserved == 0xFFFFFFFCu);
  CHECK((flag::reserved & flag::known) == 0);
}

TEST_CASE("wire: status values VIRTIO_I2C_MSG_OK = 0, VIRTIO_I2C_MSG_ERR = 1") {
  CHECK(static_cast<unsigned>(i2c::status::ok) == 0);
  CHECK(static_cast<unsigned>(i2c::status::err) == 1);
  CHECK(sizeof(i2c::status) == 1);
}

TEST_CASE("wire: virtio_i2c_out_hdr is le16 addr, le16 padding, le32 flags") {
  static_assert(std::is_trivially_copyable_v<i2c::out_hdr>);
  i2c::out_hdr h{};
  h.addr.set(0x1234);
  h.padding.set(0x5678);
  h.flags.set(0x9ABCDEF0u);
  unsigned char b[8];
  std::memcpy(b, &h, sizeof b);
  const unsigned char want[8] = {0x34, 0x12, 0x78, 0x56, 0xF0, 0xDE, 0xBC, 0x9A};
  CHECK(std::memcmp(b, want, 8) == 0);
  // The object is its bytes (no padding before the first field).
  CHECK(static_cast<const void*>(&h) == static_cast<const void*>(&h.addr));
  // header() in the test support builds the same bytes.
  const auto v = header(0x1234, 0x9ABCDEF0u, 0x5678);
  CHECK(std::memcmp(v.data(), want, 8) == 0);
}

TEST_CASE("wire: virtio_i2c_in_hdr is one status byte") {
  CHECK(sizeof(i2c::in_hdr) == 1);
  i2c::in_hdr h{static_cast<std::uint8_t>(i2c::status::err)};
  unsigned char b = 0;
  std::memcpy(&b, &h, 1);
  CHECK(b == 1);
}
