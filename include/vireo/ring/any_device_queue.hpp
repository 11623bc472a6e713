// SPDX-License-Identifier: Apache-2.0
// A device queue whose layout (split or packed) is chosen at run time from the features.
#pragma once

#include <optional>
#include <span>
#include <type_traits>

#include "vireo/ring/detail/layout_union.hpp"
#include "vireo/ring/queue_api.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// For back-ends that learn the layout only at negotiation (a vhost-user daemon serving both
/// kinds of front-end): configure() picks split_device or packed_device from
/// VIRTIO_F_RING_PACKED in the queue's features. Same API as both, one predictable branch per
/// call, no virtual calls, no heap. Chains and tokens are the shared chain:: types.
template <guest_memory Memory, std::size_t MaxSegments = 64>
class any_device_queue {
 public:
  using memory_type = Memory;
  using split_type = split_device<Memory, MaxSegments>;
  using packed_type = packed_device<Memory, MaxSegments>;
  using chain_type = typename split_type::chain_type;
  using saved_state = queue_state;
  static_assert(std::is_same_v<chain_type, typename packed_type::chain_type>);

  explicit any_device_queue(Memory& mem) noexcept : mem_(&mem), q_(mem) {}

  /// Switch to the layout cfg.features asks for, then configure that queue.
  [[nodiscard]] result<void> configure(const queue_config& cfg) noexcept {
    q_.select(layout_of(cfg.features) == queue_layout::packed, *mem_);
    return q_.visit([&](auto& q) { return q.configure(cfg); });
  }
  [[nodiscard]] queue_layout layout() const noexcept {
    return q_.packed() ? queue_layout::packed : queue_layout::split;
  }

  [[nodiscard]] result<void> remap() noexcept { return q_.visit([](auto& q) { return q.remap(); }); }
  void reset() noexcept { q_.visit([](auto& q) { q.reset(); }); }
  [[nodiscard]] bool ready() const noexcept { return q_.visit([](auto& q) { return q.ready(); }); }
  [[nodiscard]] bool broken() const noexcept { return q_.visit([](auto& q) { return q.broken(); }); }
  [[nodiscard]] errc broken_reason() const noexcept {
    return q_.visit([](auto& q) { return q.broken_reason(); });
  }
  [[nodiscard]] std::uint16_t size() const noexcept { return q_.visit([](auto& q) { return q.size(); }); }
  [[nodiscard]] const queue_config& config() const noexcept {
    return q_.visit([](auto& q) -> const queue_config& { return q.config(); });
  }
  /// The guest memory this queue reads and writes (a device model writes held buffers through it).
  [[nodiscard]] Memory& memory() const noexcept { return *mem_; }
  [[nodiscard]] saved_state state() const noexcept { return q_.visit([](auto& q) { return q.state(); }); }
  void restore(std::uint16_t next_avail, std::uint16_t used_idx) noexcept {
    q_.visit([&](auto& q) { q.restore(next_avail, used_idx); });
  }

  [[nodiscard]] VIREO_ALWAYS_INLINE result<bool> pop_into(chain_type& out) noexcept {
    return q_.visit([&](auto& q) { return q.pop_into(out); });
  }
  [[nodiscard]] result<chain_type> pop() noexcept {
    result<chain_type> r{chain_type{}};
    if (auto got = pop_into(*r); VIREO_UNLIKELY(!got)) r = got.error();
    return r;
  }
  [[nodiscard]] std::optional<chain::used_token> rejected() const noexcept {
    return q_.visit([](auto& q) { return q.rejected(); });
  }
  /// split_device::resubmit_into for a split queue (vhost-user inflight resubmission). A packed
  /// queue has no descriptor table to walk from a head: invalid_argument.
  [[nodiscard]] result<void> resubmit_into(std::uint16_t head, std::uint16_t seq,
                                           chain_type& out) noexcept {
    if (q_.packed()) return errc::invalid_argument;
    return q_.visit([&](auto& q) -> result<void> {
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(q)>, split_type>)
        return q.resubmit_into(head, seq, out);
      else
        return errc::invalid_argument;
    });
  }
  /// split_device::walk_into for a split queue; invalid_argument for a packed one.
  [[nodiscard]] result<void> walk_into(std::uint16_t head, std::uint16_t seq,
                                       chain_type& out) const noexcept {
    if (q_.packed()) return errc::invalid_argument;
    return q_.visit([&](const auto& q) -> result<void> {
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(q)>, split_type>)
        return q.walk_into(head, seq, out);
      else
        return errc::invalid_argument;
    });
  }
  [[nodiscard]] result<void> push_used(const chain::used_token& t, std::uint32_t len) noexcept {
    return q_.visit([&](auto& q) { return q.push_used(t, len); });
  }
  [[nodiscard]] result<void> push_used(const chain_type& c, std::uint32_t len) noexcept {
    return push_used(c.token(), len);
  }
  [[nodiscard]] result<void> push_used(std::span<const used_entry> batch) noexcept {
    return q_.visit([&](auto& q) { return q.push_used(batch); });
  }
  [[nodiscard]] bool needs_notification() noexcept {
    return q_.visit([](auto& q) { return q.needs_notification(); });
  }
  void disable_notifications() noexcept { q_.visit([](auto& q) { q.disable_notifications(); }); }
  [[nodiscard]] result<bool> enable_notifications() noexcept {
    return q_.visit([](auto& q) { return q.enable_notifications(); });
  }
  [[nodiscard]] result<std::uint16_t> available() noexcept {
    return q_.visit([](auto& q) { return q.available(); });
  }

 private:
  Memory* mem_;
  detail::layout_union<split_type, packed_type> q_;
};

}  // namespace ring
VIREO_NAMESPACE_END
