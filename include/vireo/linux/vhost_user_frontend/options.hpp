// SPDX-License-Identifier: Apache-2.0
// How a vhost-user front-end is set up, the protocol features it implements, and the vring base
// values it starts and resumes rings from (digest §2 "Vring base", §3 "Feature words").
#pragma once

#include <cstdint>

#include "vireo/core/config.hpp"
#include "vireo/vhost_user/features.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// The protocol features the front-end implements, and so the most it acks (rule F1): MQ
/// (GET_QUEUE_NUM), REPLY_ACK (NEED_REPLY on every request without a reply of its own), CONFIG
/// (GET/SET_CONFIG), CONFIGURE_MEM_SLOTS (ADD/REM_MEM_REG instead of SET_MEM_TABLE), STATUS
/// (GET/SET_STATUS), INFLIGHT_SHMFD (GET/SET_INFLIGHT_FD, the region kept for a restarted
/// back-end) and LOG_SHMFD (set_log_base(): a dirty log the caller maps and reads). Never
/// BACKEND_REQ (no back-end channel is served, rule F11), INBAND_NOTIFICATIONS, ...
inline constexpr std::uint64_t frontend_protocol_features =
    vhost_user::bit(vhost_user::protocol_feature::mq) |
    vhost_user::bit(vhost_user::protocol_feature::reply_ack) |
    vhost_user::bit(vhost_user::protocol_feature::config) |
    vhost_user::bit(vhost_user::protocol_feature::configure_mem_slots) |
    vhost_user::bit(vhost_user::protocol_feature::status) |
    vhost_user::bit(vhost_user::protocol_feature::inflight_shmfd) |
    vhost_user::bit(vhost_user::protocol_feature::log_shmfd);

/// How a front-end negotiates and waits.
struct frontend_options {
  /// Vrings the front-end uses, indices 0..num_queues-1 (at most the front-end's MaxQueues; with
  /// MQ, at most what GET_QUEUE_NUM answers).
  std::uint32_t num_queues = 1;
  /// Protocol features the caller allows; the front-end acks offered & this &
  /// frontend_protocol_features.
  std::uint64_t protocol_features = frontend_protocol_features;
  /// Bound on each wait for a reply (ms, > 0).
  int reply_timeout_ms = 1000;
  /// start_vring() sends SET_VRING_ADDR with F_LOG and log_guest_addr = the used ring's guest
  /// address (QEMU while it migrates, with VHOST_F_LOG_ALL acked): the back-end logs its used
  /// ring writes.
  bool log_vrings = false;
  /// start_vring() ends with SET_VRING_ENABLE(1) when bit 30 was acked (rule F10; QEMU 7.2's
  /// i2c start). false: the caller enables rings itself (QEMU 7.2's gpio order).
  bool enable_on_start = true;
};

/// The vring base of a ring that has never run (SET_VRING_BASE payload, digest §2): split 0;
/// packed avail and used index 0 with both wrap counters 1 (virtio §2.8.1), as QEMU sends it.
[[nodiscard]] constexpr std::uint32_t initial_vring_base(bool packed) noexcept {
  return packed ? 0x8000'8000u : 0u;
}

/// The vring base of a ring whose driver has nothing in flight, from the driver queue's
/// avail_index() (split: the free-running avail index; packed: next slot | wrap counter << 15).
/// With nothing in flight the device has used everything made available, so its next avail and
/// (packed) used positions are both the driver's: what a front-end hands a restarted back-end
/// when the old one went away without a GET_VRING_BASE (set_resume_base()).
[[nodiscard]] constexpr std::uint32_t quiescent_vring_base(std::uint16_t avail_index,
                                                           bool packed) noexcept {
  return packed ? std::uint32_t{avail_index} | (std::uint32_t{avail_index} << 16)
                : std::uint32_t{avail_index};
}

}  // namespace linux_host
VIREO_NAMESPACE_END
