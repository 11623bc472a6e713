// SPDX-License-Identifier: Apache-2.0
// A driver queue whose layout (split or packed) is chosen at run time from the features.
#pragma once

#include <optional>
#include <span>

#include "vireo/ring/detail/layout_union.hpp"
#include "vireo/ring/queue_api.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// The driver-side counterpart of any_device_queue: configure() picks split_driver or
/// packed_driver from VIRTIO_F_RING_PACKED. Same API as both, no virtual calls, no heap.
template <guest_memory Memory, std::size_t MaxQueueSize = 256>
class any_driver_queue {
 public:
  using memory_type = Memory;
  using split_type = split_driver<Memory, MaxQueueSize>;
  using packed_type = packed_driver<Memory, MaxQueueSize>;

  explicit any_driver_queue(Memory& mem) noexcept : mem_(&mem), q_(mem) {}

  /// Switch to the layout cfg.features asks for, then configure that queue.
  [[nodiscard]] result<void> configure(const queue_config& cfg, indirect_pool pool = {}) noexcept {
    q_.select(layout_of(cfg.features) == queue_layout::packed, *mem_);
    return q_.visit([&](auto& q) { return q.configure(cfg, pool); });
  }
  [[nodiscard]] queue_layout layout() const noexcept {
    return q_.packed() ? queue_layout::packed : queue_layout::split;
  }

  void reset() noexcept { q_.visit([](auto& q) { q.reset(); }); }
  [[nodiscard]] std::optional<std::uint64_t> detach_unused() noexcept {
    return q_.visit([](auto& q) { return q.detach_unused(); });
  }
  [[nodiscard]] bool ready() const noexcept { return q_.visit([](auto& q) { return q.ready(); }); }
  [[nodiscard]] bool broken() const noexcept { return q_.visit([](auto& q) { return q.broken(); }); }
  [[nodiscard]] errc broken_reason() const noexcept {
    return q_.visit([](auto& q) { return q.broken_reason(); });
  }
  [[nodiscard]] std::uint16_t size() const noexcept { return q_.visit([](auto& q) { return q.size(); }); }
  [[nodiscard]] std::uint16_t free_descriptors() const noexcept {
    return q_.visit([](auto& q) { return q.free_descriptors(); });
  }
  [[nodiscard]] std::uint16_t in_flight() const noexcept {
    return q_.visit([](auto& q) { return q.in_flight(); });
  }
  [[nodiscard]] result<std::uint16_t> add(std::span<const buffer> readable,
                                          std::span<const buffer> writable,
                                          std::uint64_t user_data = 0,
                                          add_mode mode = add_mode::automatic) noexcept {
    return q_.visit([&](auto& q) { return q.add(readable, writable, user_data, mode); });
  }
  [[nodiscard]] bool needs_kick() noexcept { return q_.visit([](auto& q) { return q.needs_kick(); }); }
  [[nodiscard]] result<std::optional<used_buffer>> reclaim() noexcept {
    return q_.visit([](auto& q) { return q.reclaim(); });
  }
  void disable_interrupts() noexcept { q_.visit([](auto& q) { q.disable_interrupts(); }); }
  void set_used_len_mode(used_len_mode m) noexcept {
    q_.visit([m](auto& q) { q.set_used_len_mode(m); });
  }
  [[nodiscard]] used_len_mode used_len_handling() const noexcept {
    return q_.visit([](auto& q) { return q.used_len_handling(); });
  }
  [[nodiscard]] std::uint64_t clamped_used_lens() const noexcept {
    return q_.visit([](auto& q) { return q.clamped_used_lens(); });
  }
  [[nodiscard]] bool enable_interrupts() noexcept {
    return q_.visit([](auto& q) { return q.enable_interrupts(); });
  }
  /// What VIRTIO_F_NOTIFICATION_DATA carries in bits 16-31 for this queue (see notification_data).
  [[nodiscard]] std::uint16_t avail_index() const noexcept {
    return q_.visit([](auto& q) { return q.avail_index(); });
  }

 private:
  Memory* mem_;
  detail::layout_union<split_type, packed_type> q_;
};

}  // namespace ring
VIREO_NAMESPACE_END
