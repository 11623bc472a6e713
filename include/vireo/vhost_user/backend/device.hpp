// SPDX-License-Identifier: Apache-2.0
// The contract between the vhost-user back-end session and a device model: what the device
// offers (features, queues, config space) and what the session tells it (start/stop/enable of a
// vring, config writes). The session calls these synchronously while it handles a message.
#pragma once

#include <concepts>
#include <cstdint>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// A device model behind a vhost-user back-end.
///  - device_features(): the virtio feature bits offered (the session adds bit 30 itself);
///  - num_queues(): vrings exposed (1..the session's MaxQueues), answered by GET_QUEUE_NUM;
///  - max_queue_size(): largest SET_VRING_NUM accepted (at most 32768);
///  - config_size(): bytes of config space (0: CONFIG is not offered);
///  - read_config(offset, out) / write_config(offset, data, migration): the range was checked
///    against the 256-byte space by the codec and against config_size() by the session; the
///    device refuses writes to read-only fields unless `migration` (rule B19);
///  - start_vring(i, cfg, base): begin processing vring i laid out as `cfg` (guest-physical
///    addresses in the session's region_table) from position `base`. An error leaves it stopped;
///  - stop_vring(i): stop processing and return the position to hand back in GET_VRING_BASE
///    (split: next_avail; packed: slot | wrap << 15 per cursor). The device must not touch the
///    ring afterwards (rule B10);
///  - enable_vring(i, on): SET_VRING_ENABLE and the "no bit 30" implicit enable (rule B11);
///  - memory_changed(): the region table was updated; started queues remap() (pitfall 10).
template <typename D>
concept device_model = requires(D& d, const D& cd, std::uint32_t i, std::uint32_t offset,
                                bytes out, const_bytes in, bool flag,
                                const ring::queue_config& cfg, ring::queue_state base) {
  { cd.device_features() } -> std::same_as<std::uint64_t>;
  { cd.num_queues() } -> std::same_as<std::uint32_t>;
  { cd.max_queue_size() } -> std::same_as<std::uint32_t>;
  { cd.config_size() } -> std::same_as<std::uint32_t>;
  { d.read_config(offset, out) } -> std::same_as<result<void>>;
  { d.write_config(offset, in, flag) } -> std::same_as<result<void>>;
  { d.start_vring(i, cfg, base) } -> std::same_as<result<void>>;
  { d.stop_vring(i) } -> std::same_as<ring::queue_state>;
  { d.enable_vring(i, flag) } -> std::same_as<void>;
  { d.memory_changed() } -> std::same_as<void>;
};

/// Optional hook: a device that tracks inflight I/O (inflight_queue.hpp) starts its vrings with
/// their part of the inflight region: start_vring(i, cfg, base, area), `area` empty when the
/// front-end set no region. The session calls this overload instead of the 3-argument one and
/// offers INFLIGHT_SHMFD only to such devices (and only with an inflight_allocator).
template <typename D>
concept inflight_device = requires(D& d, std::uint32_t i, const ring::queue_config& cfg,
                                   ring::queue_state base, inflight_area area) {
  { d.start_vring(i, cfg, base, area) } -> std::same_as<result<void>>;
};

/// Optional hook: logs_dirty_pages() true means every guest write of the device goes through
/// the session's logged memory and its queues are logged_queue (dirty_log.hpp,
/// logged_queue.hpp). Only then does the session offer VHOST_F_LOG_ALL and LOG_SHMFD: a device
/// that writes unlogged would corrupt a migration.
template <typename D>
concept logging_device = requires(const D& d) {
  { d.logs_dirty_pages() } -> std::same_as<bool>;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
