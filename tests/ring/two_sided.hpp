// SPDX-License-Identifier: Apache-2.0
// Guest RAM seen from both sides, for front-end tests: one flat memory holding N virtqueues of
// one layout (each with a real driver queue and a real device queue over it), then a region the
// driver owns for its buffers. Also raw access for hostile-device scenarios. Test code.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_api.hpp"

namespace vireo_two_sided {

using vireo::feature_set;
using vireo::gpa;
using vireo::ring::queue_layout;

/// Layout tags for TEST_CASE_TEMPLATE.
struct split_tag {
  static constexpr queue_layout layout = queue_layout::split;
};
struct packed_tag {
  static constexpr queue_layout layout = queue_layout::packed;
};

struct options {
  std::uint16_t queues = 1;
  std::uint16_t size = 16;        ///< split: a power of two
  std::uint16_t indirect = 0;     ///< entries per indirect table (0: no pool, no INDIRECT_DESC)
  bool event_idx = false;         ///< negotiate VIRTIO_F_EVENT_IDX
  std::size_t region_bytes = 1 << 16;
};

template <typename Tag>
class two_sided {
 public:
  static constexpr queue_layout layout = Tag::layout;
  using memory_type = vireo::flat_memory;
  using driver_queue = vireo::ring::driver_queue<layout, memory_type>;
  using device_queue = vireo::ring::device_queue<layout, memory_type>;
  static constexpr std::uint64_t base = 0x200000;  // not 0: nothing may assume address 0

  explicit two_sided(const options& o = {}) : opt_(o) {
    std::size_t at = 0;
    std::vector<std::size_t> offs;
    for (std::uint16_t q = 0; q < o.queues; ++q) {
      offs.push_back(at);
      at += queue_bytes(o.size, o.indirect);
    }
    region_off_ = align(at, 64);
    store_.resize(region_off_ + o.region_bytes + 64);
    mem_ = memory_type{vireo::bytes{store_.data(), store_.size()}, gpa{base}};
    for (std::uint16_t q = 0; q < o.queues; ++q) {
      const auto cfg = config_at(offs[q]);
      cfgs_.push_back(cfg);
      const vireo::ring::indirect_pool pool{
          gpa{base + offs[q] + rings_bytes(o.size)}, o.indirect};
      pools_.push_back(pool);
      drivers_.push_back(std::make_unique<driver_queue>(mem_));
      devices_.push_back(std::make_unique<device_queue>(mem_));
      REQUIRE(drivers_.back()->configure(cfg, pool).has_value());
      REQUIRE(devices_.back()->configure(cfg).has_value());
    }
  }

  [[nodiscard]] memory_type& memory() { return mem_; }
  [[nodiscard]] driver_queue& driver(std::uint16_t q = 0) { return *drivers_.at(q); }
  [[nodiscard]] device_queue& device(std::uint16_t q = 0) { return *devices_.at(q); }
  /// The guest memory the front-end owns.
  [[nodiscard]] vireo::ring::driver_region region() const {
    return {gpa{base + region_off_}, opt_.region_bytes};
  }
  /// Host view of guest bytes (asserting they exist).
  [[nodiscard]] std::byte* host(gpa g) { return store_.data() + (g.raw() - base); }
  /// Configure both sides of queue `q` again (after a front-end reset()).
  void reconfigure(std::uint16_t q = 0) {
    REQUIRE(drivers_.at(q)->configure(cfgs_.at(q), pools_.at(q)).has_value());
    REQUIRE(devices_.at(q)->configure(cfgs_.at(q)).has_value());
  }

 private:
  static constexpr std::size_t align(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }
  [[nodiscard]] static std::size_t rings_bytes(std::uint16_t n) {
    namespace L = vireo::ring;
    if constexpr (layout == queue_layout::split) {
      std::size_t at = L::split_layout::desc_table_bytes(n);
      at = align(at + L::split_layout::avail_bytes(n), 4);
      return align(at + L::split_layout::used_bytes(n), 16);
    } else {
      return align(L::packed_layout::desc_ring_bytes(n) + 2 * L::packed_layout::event_bytes, 16);
    }
  }
  [[nodiscard]] static std::size_t queue_bytes(std::uint16_t n, std::uint16_t indirect) {
    return align(rings_bytes(n) + std::size_t{n} * indirect * 16, 64);
  }
  [[nodiscard]] vireo::ring::queue_config config_at(std::size_t off) const {
    namespace L = vireo::ring;
    feature_set f{vireo::transport_feature::version_1};
    if (opt_.indirect != 0) f.set(vireo::transport_feature::indirect_desc);
    if (opt_.event_idx) f.set(vireo::transport_feature::event_idx);
    const std::uint16_t n = opt_.size;
    if constexpr (layout == queue_layout::split) {
      const std::size_t avail = off + L::split_layout::desc_table_bytes(n);
      const std::size_t used = align(avail + L::split_layout::avail_bytes(n), 4);
      return {n, gpa{base + off}, gpa{base + avail}, gpa{base + used}, f};
    } else {
      f.set(vireo::transport_feature::ring_packed);
      const std::size_t drv = off + L::packed_layout::desc_ring_bytes(n);
      return {n, gpa{base + off}, gpa{base + drv},
              gpa{base + drv + L::packed_layout::event_bytes}, f};
    }
  }

  options opt_;
  std::vector<std::byte> store_;
  memory_type mem_{};
  std::size_t region_off_ = 0;
  std::vector<vireo::ring::queue_config> cfgs_;
  std::vector<vireo::ring::indirect_pool> pools_;
  std::vector<std::unique_ptr<driver_queue>> drivers_;
  std::vector<std::unique_ptr<device_queue>> devices_;
};

}  // namespace vireo_two_sided
