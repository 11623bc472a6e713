// SPDX-License-Identifier: Apache-2.0
// One API over both layouts: compile-time selection by layout, and the concepts both satisfy.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <type_traits>

#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/packed_driver.hpp"
#include "vireo/ring/queue_layout.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/ring/split_driver.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// What a device model may rely on, whatever the layout: pop chains, complete them, decide on
/// notifications, save and restore the position. split_device and packed_device both model it,
/// so a device written against it runs on either (see any_device_queue for run-time choice).
template <typename Q>
concept device_queue_api =
    requires(Q q, const Q cq, typename Q::chain_type& chain, const chain::used_token& token,
             std::span<const used_entry> batch, const queue_config& cfg, std::uint16_t u16) {
      typename Q::memory_type;
      typename Q::chain_type;
      { q.configure(cfg) } -> std::same_as<result<void>>;
      { q.remap() } -> std::same_as<result<void>>;
      { q.reset() } -> std::same_as<void>;
      { cq.ready() } -> std::same_as<bool>;
      { cq.broken() } -> std::same_as<bool>;
      { cq.broken_reason() } -> std::same_as<errc>;
      { cq.size() } -> std::same_as<std::uint16_t>;
      { cq.config() } -> std::same_as<const queue_config&>;
      { cq.state() } -> std::same_as<queue_state>;
      { q.restore(u16, u16) } -> std::same_as<void>;
      { q.pop_into(chain) } -> std::same_as<result<bool>>;
      { q.pop() } -> std::same_as<result<typename Q::chain_type>>;
      { cq.rejected() } -> std::same_as<std::optional<chain::used_token>>;
      { q.push_used(token, u16) } -> std::same_as<result<void>>;
      { q.push_used(batch) } -> std::same_as<result<void>>;
      { q.needs_notification() } -> std::same_as<bool>;
      { q.disable_notifications() } -> std::same_as<void>;
      { q.enable_notifications() } -> std::same_as<result<bool>>;
      { q.available() } -> std::same_as<result<std::uint16_t>>;
    };

/// What a driver may rely on, whatever the layout.
template <typename Q>
concept driver_queue_api =
    requires(Q q, const Q cq, std::span<const buffer> bufs, const queue_config& cfg,
             indirect_pool pool, std::uint64_t user_data) {
      { q.configure(cfg, pool) } -> std::same_as<result<void>>;
      { q.reset() } -> std::same_as<void>;
      { q.detach_unused() } -> std::same_as<std::optional<std::uint64_t>>;
      { cq.ready() } -> std::same_as<bool>;
      { cq.broken() } -> std::same_as<bool>;
      { cq.broken_reason() } -> std::same_as<errc>;
      { cq.size() } -> std::same_as<std::uint16_t>;
      { cq.free_descriptors() } -> std::same_as<std::uint16_t>;
      { cq.in_flight() } -> std::same_as<std::uint16_t>;
      { q.add(bufs, bufs, user_data, add_mode::automatic) } -> std::same_as<result<std::uint16_t>>;
      { q.needs_kick() } -> std::same_as<bool>;
      { q.reclaim() } -> std::same_as<result<std::optional<used_buffer>>>;
      { q.disable_interrupts() } -> std::same_as<void>;
      { q.enable_interrupts() } -> std::same_as<bool>;
      { cq.avail_index() } -> std::same_as<std::uint16_t>;
    };

namespace detail {
template <queue_layout L, typename Split, typename Packed>
using by_layout = std::conditional_t<L == queue_layout::split, Split, Packed>;
}

/// The device-side queue type for layout L: `device_queue<queue_layout::packed, my_memory>`.
template <queue_layout L, guest_memory Memory, std::size_t MaxSegments = 64>
using device_queue = detail::by_layout<L, split_device<Memory, MaxSegments>,
                                       packed_device<Memory, MaxSegments>>;

/// The driver-side queue type for layout L.
template <queue_layout L, guest_memory Memory, std::size_t MaxQueueSize = 256>
using driver_queue = detail::by_layout<L, split_driver<Memory, MaxQueueSize>,
                                       packed_driver<Memory, MaxQueueSize>>;

static_assert(device_queue_api<split_device<flat_memory>>);
static_assert(device_queue_api<packed_device<flat_memory>>);
static_assert(driver_queue_api<split_driver<flat_memory>>);
static_assert(driver_queue_api<packed_driver<flat_memory>>);

}  // namespace ring
VIREO_NAMESPACE_END
