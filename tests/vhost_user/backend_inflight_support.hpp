// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the inflight tracking tests: tagged chains on a mock split driver, the
// inflight request frames, and a device model whose one queue is an inflight_queue.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "backend_test_support.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"

namespace vireo_vu_test {

/// A chain whose one readable byte is `tag`, with one writable byte.
inline std::uint16_t add(vireo::testing::mock_split_driver& m, std::uint8_t tag) {
  const std::byte b{tag};
  const auto head = m.add({vireo::const_bytes{&b, 1}}, {1});
  REQUIRE(head.has_value());
  return *head;
}

template <typename Chain>
inline std::uint8_t tag_of(const Chain& c) {
  std::byte b{};
  auto r = c.reader();
  REQUIRE(r.read(vireo::bytes{&b, 1}).has_value());
  return std::to_integer<std::uint8_t>(b);
}

/// GET_INFLIGHT_FD / SET_INFLIGHT_FD: mmap_size, mmap_offset, num_queues, queue_size, padding.
inline std::vector<std::byte> inflight_req(fr r, std::uint64_t size, std::uint64_t off,
                                           std::uint16_t nq, std::uint16_t qs,
                                           std::uint32_t flags = plain) {
  return req(r, flags, builder{}.u64(size).u64(off).u16(nq).u16(qs).zeros(4));
}

/// A device model whose one queue is tracked, over the session's memory (attach() binds it); the
/// test pops and completes by hand. `features` are the device's (a packed queue adds RING_PACKED).
template <typename Table, typename Queue = vireo::ring::split_device<Table>>
struct tracking_device_t {
  std::optional<be::inflight_queue<Queue>> q;
  std::uint64_t features = std::uint64_t{1} << 32;  // VERSION_1
  void attach(Table& mem) { q.emplace(mem); }

  [[nodiscard]] std::uint64_t device_features() const { return features; }
  [[nodiscard]] std::uint32_t num_queues() const { return 1; }
  [[nodiscard]] std::uint32_t max_queue_size() const { return 256; }
  [[nodiscard]] std::uint32_t config_size() const { return 0; }
  vireo::result<void> read_config(std::uint32_t, vireo::bytes) { return errc::vhost_config_range; }
  vireo::result<void> write_config(std::uint32_t, vireo::const_bytes, bool) {
    return errc::vhost_config_range;
  }
  vireo::result<void> start_vring(std::uint32_t, const vireo::ring::queue_config& c,
                                  vireo::ring::queue_state base, be::inflight_area area) {
    q->attach(area);
    VIREO_TRY(q->configure(c));
    q->restore(base.next_avail, base.used_idx);
    return vireo::ok();
  }
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config& c,
                                  vireo::ring::queue_state base) {
    return start_vring(i, c, base, {});
  }
  vireo::ring::queue_state stop_vring(std::uint32_t) {
    const auto s = q->state();
    q->reset();
    return s;
  }
  void enable_vring(std::uint32_t, bool) {}
  void memory_changed() { (void)q->remap(); }
};
static_assert(be::inflight_device<tracking_device_t<vireo::region_table<32>>>);

}  // namespace vireo_vu_test
