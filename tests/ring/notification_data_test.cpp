// SPDX-License-Identifier: Apache-2.0
// VIRTIO_F_NOTIFICATION_DATA encoding (virtio 1.3 §2.9) for both layouts.
#include <doctest/doctest.h>

#include <cstdint>

#include "test_support.hpp"
#include "vireo/ring/notification_data.hpp"

namespace {
using vireo::errc;
using vireo::ring::decode_notification;
using vireo::ring::encode_notification;
using vireo::ring::notification_data;
using vireo::ring::validate_notification;
using vireo_test::err;
}  // namespace

TEST_CASE("notification_data: bit layout is queue 0-15, next_off 16-30, next_wrap 31 (§2.9)") {
  const notification_data n{0x1234, static_cast<std::uint16_t>(0x8000u | 0x0042u)};
  const std::uint32_t raw = encode_notification(n);
  CHECK((raw & 0xffffu) == 0x1234u);
  CHECK(((raw >> 16) & 0x7fffu) == 0x42u);
  CHECK((raw >> 31) == 1u);
  CHECK(decode_notification(raw) == n);
  CHECK(decode_notification(raw).next_off() == 0x42);
  CHECK(decode_notification(raw).next_wrap());
}

TEST_CASE("notification_data: split carries the whole 16-bit avail idx (as QEMU decodes it)") {
  for (std::uint32_t idx : {0u, 1u, 0x7fffu, 0x8000u, 0xfffeu, 0xffffu}) {
    const auto n = decode_notification(encode_notification({7, static_cast<std::uint16_t>(idx)}));
    CHECK(n.queue == 7);
    CHECK(n.next == idx);
    CHECK(n.next_off() == (idx & 0x7fffu));
    CHECK(n.next_wrap() == ((idx & 0x8000u) != 0));
  }
}

TEST_CASE("notification_data: every 32-bit value round-trips through decode and encode") {
  std::uint32_t x = 0x9e3779b9u;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1664525u + 1013904223u;
    CHECK(encode_notification(decode_notification(x)) == x);
  }
}

TEST_CASE("notification_data: validation rejects unknown queues and packed offsets past the ring") {
  CHECK(validate_notification({1, 0}, 2, 8, false).has_value());
  CHECK(err(validate_notification({2, 0}, 2, 8, false)) == errc::notification_data_invalid);
  // split: any idx is well formed
  CHECK(validate_notification({0, 0xffff}, 1, 8, false).has_value());
  // packed: next_off must be a slot; the wrap bit is free
  CHECK(validate_notification({0, 7}, 1, 8, true).has_value());
  CHECK(validate_notification({0, 0x8007}, 1, 8, true).has_value());
  CHECK(err(validate_notification({0, 8}, 1, 8, true)) == errc::notification_data_invalid);
  CHECK(err(validate_notification({0, 0x8008}, 1, 8, true)) == errc::notification_data_invalid);
}
