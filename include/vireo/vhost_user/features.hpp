// SPDX-License-Identifier: Apache-2.0
// vhost-user feature words: the vhost-user bits of the virtio feature word (GET/SET_FEATURES) and
// the protocol feature bits (GET/SET_PROTOCOL_FEATURES), with names and dependency rules.
#pragma once

#include <cstdint>
#include <string_view>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

/// VHOST_USER_F_PROTOCOL_FEATURES: bit 30 of the virtio feature word. Offered in GET_FEATURES, it
/// announces GET/SET_PROTOCOL_FEATURES; acked in SET_FEATURES, rings start disabled and need
/// SET_VRING_ENABLE (spec "Ring states").
inline constexpr unsigned protocol_features_bit = 30;
inline constexpr std::uint64_t f_protocol_features = std::uint64_t{1} << protocol_features_bit;

/// VHOST_F_LOG_ALL: bit 26 of the virtio feature word: log every write to guest memory.
inline constexpr unsigned log_all_bit = 26;
inline constexpr std::uint64_t f_log_all = std::uint64_t{1} << log_all_bit;

/// Protocol feature bits (spec "Protocol features"; VHOST_USER_PROTOCOL_F_*). 0-16 exist in
/// QEMU 7.2; 17-19 in the 8.x spec; 20-22 were added by QEMU 11.x.
enum class protocol_feature : std::uint8_t {
  mq = 0,
  log_shmfd = 1,
  rarp = 2,
  reply_ack = 3,
  net_mtu = 4,                  ///< spec name VHOST_USER_PROTOCOL_F_MTU
  backend_req = 5,              ///< old name SLAVE_REQ
  cross_endian = 6,
  crypto_session = 7,
  pagefault = 8,
  config = 9,
  backend_send_fd = 10,         ///< old name SLAVE_SEND_FD
  host_notifier = 11,
  inflight_shmfd = 12,
  reset_device = 13,
  inband_notifications = 14,
  configure_mem_slots = 15,
  status = 16,
  xen_mmap = 17,
  shared_object = 18,
  device_state = 19,
  get_vring_base_inflight = 20,
  gpa_addresses = 21,
  shmem = 22,                   ///< spec name VHOST_USER_PROTOCOL_F_SHMEM_MAP in some drafts
};

/// The highest protocol feature bit defined.
inline constexpr unsigned last_protocol_feature = 22;

/// The mask of one protocol feature.
[[nodiscard]] constexpr std::uint64_t bit(protocol_feature f) noexcept {
  return std::uint64_t{1} << static_cast<unsigned>(f);
}

/// Whether `features` holds `f`.
[[nodiscard]] constexpr bool has(std::uint64_t features, protocol_feature f) noexcept {
  return (features & bit(f)) != 0;
}

/// Every protocol feature bit defined (0..22).
inline constexpr std::uint64_t known_protocol_features =
    (std::uint64_t{1} << (last_protocol_feature + 1)) - 1;

/// The protocol features QEMU 7.2 can ack (VHOST_USER_PROTOCOL_FEATURE_MASK = (1 << 17) - 1):
/// it sends SET_PROTOCOL_FEATURES = offered & this mask.
inline constexpr std::uint64_t qemu_7_2_protocol_features = (std::uint64_t{1} << 17) - 1;

/// The spec name of a protocol feature without the VHOST_USER_PROTOCOL_F_ prefix, or "UNKNOWN".
[[nodiscard]] constexpr std::string_view name(protocol_feature f) noexcept {
  switch (f) {
    case protocol_feature::mq: return "MQ";
    case protocol_feature::log_shmfd: return "LOG_SHMFD";
    case protocol_feature::rarp: return "RARP";
    case protocol_feature::reply_ack: return "REPLY_ACK";
    case protocol_feature::net_mtu: return "MTU";
    case protocol_feature::backend_req: return "BACKEND_REQ";
    case protocol_feature::cross_endian: return "CROSS_ENDIAN";
    case protocol_feature::crypto_session: return "CRYPTO_SESSION";
    case protocol_feature::pagefault: return "PAGEFAULT";
    case protocol_feature::config: return "CONFIG";
    case protocol_feature::backend_send_fd: return "BACKEND_SEND_FD";
    case protocol_feature::host_notifier: return "HOST_NOTIFIER";
    case protocol_feature::inflight_shmfd: return "INFLIGHT_SHMFD";
    case protocol_feature::reset_device: return "RESET_DEVICE";
    case protocol_feature::inband_notifications: return "INBAND_NOTIFICATIONS";
    case protocol_feature::configure_mem_slots: return "CONFIGURE_MEM_SLOTS";
    case protocol_feature::status: return "STATUS";
    case protocol_feature::xen_mmap: return "XEN_MMAP";
    case protocol_feature::shared_object: return "SHARED_OBJECT";
    case protocol_feature::device_state: return "DEVICE_STATE";
    case protocol_feature::get_vring_base_inflight: return "GET_VRING_BASE_INFLIGHT";
    case protocol_feature::gpa_addresses: return "GPA_ADDRESSES";
    case protocol_feature::shmem: return "SHMEM";
  }
  return "UNKNOWN";
}

/// Checks the dependency rule of a protocol feature word that is about to be acked (rule B17):
/// INBAND_NOTIFICATIONS needs BACKEND_REQ and REPLY_ACK (spec "In-band notifications": the
/// back-end should close the connection on a SET_PROTOCOL_FEATURES that breaks this).
/// HOST_NOTIFIER and BACKEND_SEND_FD also need the BACKEND_REQ channel in practice, but the spec
/// does not make that an error, so it is not checked here. Errors: feature_dependency.
[[nodiscard]] constexpr result<void> check_protocol_dependencies(std::uint64_t features) noexcept {
  if (has(features, protocol_feature::inband_notifications) &&
      !(has(features, protocol_feature::backend_req) &&
        has(features, protocol_feature::reply_ack)))
    return errc::feature_dependency;
  return ok();
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
