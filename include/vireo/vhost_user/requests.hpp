// SPDX-License-Identifier: Apache-2.0
// vhost-user request codes of both channels with what the codec knows about each one: its name,
// payload layout, reply rule, fd rule and gating protocol feature (spec "Front-end message
// types", "Back-end message types"; digest §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "vireo/core/config.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/payloads.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

/// Which socket a message travels on. Request codes of the two are separate number spaces.
enum class channel : std::uint8_t {
  main,     ///< front-end requests, back-end replies (the socket QEMU connects)
  backend,  ///< back-end requests, front-end replies (the SET_BACKEND_REQ_FD socket)
};

/// Front-end → back-end requests (VHOST_USER_*). Names follow the current spec; QEMU 7.2 calls
/// 21 SET_SLAVE_REQ_FD. 35 is defined but QEMU 7.2 never sends it; 41-44 are newer than 7.2.
enum class frontend_request : std::uint32_t {
  get_features = 1,
  set_features = 2,
  set_owner = 3,
  reset_owner = 4,
  set_mem_table = 5,
  set_log_base = 6,
  set_log_fd = 7,
  set_vring_num = 8,
  set_vring_addr = 9,
  set_vring_base = 10,
  get_vring_base = 11,
  set_vring_kick = 12,
  set_vring_call = 13,
  set_vring_err = 14,
  get_protocol_features = 15,
  set_protocol_features = 16,
  get_queue_num = 17,
  set_vring_enable = 18,
  send_rarp = 19,
  net_set_mtu = 20,
  set_backend_req_fd = 21,
  iotlb_msg = 22,
  set_vring_endian = 23,
  get_config = 24,
  set_config = 25,
  create_crypto_session = 26,
  close_crypto_session = 27,
  postcopy_advise = 28,
  postcopy_listen = 29,
  postcopy_end = 30,
  get_inflight_fd = 31,
  set_inflight_fd = 32,
  gpu_set_socket = 33,
  reset_device = 34,
  vring_kick = 35,
  get_max_mem_slots = 36,
  add_mem_reg = 37,
  rem_mem_reg = 38,
  set_status = 39,
  get_status = 40,
  get_shared_object = 41,
  set_device_state_fd = 42,
  check_device_state = 43,
  get_shmem_config = 44,
};
inline constexpr std::uint32_t last_frontend_request = 44;

/// Back-end → front-end requests (VHOST_USER_BACKEND_*; QEMU 7.2: VHOST_USER_SLAVE_*, 1-3 only).
enum class backend_request : std::uint32_t {
  iotlb_msg = 1,
  config_change_msg = 2,
  vring_host_notifier_msg = 3,
  vring_call = 4,
  vring_err = 5,
  shared_object_add = 6,
  shared_object_remove = 7,
  shared_object_lookup = 8,
  shmem_map = 9,
  shmem_unmap = 10,
};
inline constexpr std::uint32_t last_backend_request = 10;

/// When the receiver of a request answers it (spec "Communication", "REPLY_ACK"; rule B8).
enum class reply_rule : std::uint8_t {
  ack_only,      ///< only with NEED_REPLY: a u64 status (0 = success)
  always,        ///< an inherent reply (NEED_REPLY changes nothing: still exactly one reply)
  if_log_shmfd,  ///< SET_LOG_BASE: a u64 reply iff LOG_SHMFD is negotiated, else ack_only
};

/// How many fds travel with a message (digest §1.3; rule B6).
enum class fd_rule : std::uint8_t {
  none,               ///< 0
  one,                ///< exactly 1
  one_per_region,     ///< SET_MEM_TABLE: exactly nregions
  unless_no_fd_bit,   ///< 1, or 0 when bit 8 of the u64 is set (KICK/CALL/ERR, HOST_NOTIFIER,
                      ///< SET_DEVICE_STATE_FD reply)
  if_log_shmfd,       ///< SET_LOG_BASE: 1 iff LOG_SHMFD is negotiated, else 0
  ignored_if_present, ///< REM_MEM_REG: 0 (SHOULD); 1 is accepted but not used: the owner closes it
  if_mmap_size,       ///< GET_INFLIGHT_FD reply: 1 iff mmap_size != 0
  zero_or_one,        ///< GET_SHARED_OBJECT reply: 1 on success, 0 on failure
  on_success,         ///< BACKEND_SHARED_OBJECT_LOOKUP reply: 1 iff the u64 is 0
};

/// What the codec knows about one request code.
struct request_info {
  std::string_view name;        ///< spec name without the VHOST_USER_ (or _BACKEND_) prefix
  payload_type payload;         ///< request payload layout
  fd_rule fds;                  ///< fds with the request
  reply_rule reply;             ///< when a reply is sent
  payload_type reply_payload;   ///< inherent reply layout (u64 for ack_only: the status)
  fd_rule reply_fds;            ///< fds with the reply
  std::optional<protocol_feature> gate;  ///< protocol feature the request needs (F3), if any
  bool qemu_7_2;                ///< QEMU 7.2 sends (front-end) or handles (back-end) it
};

namespace detail {
using pt = payload_type;
using fr = fd_rule;
using rr = reply_rule;
using pf = protocol_feature;
inline constexpr std::optional<protocol_feature> no_gate{};

// Indexed by code; entry 0 is a placeholder for "unknown".
inline constexpr request_info frontend_table[last_frontend_request + 1] = {
    {"UNKNOWN", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, false},
    {"GET_FEATURES", pt::empty, fr::none, rr::always, pt::u64, fr::none, no_gate, true},
    {"SET_FEATURES", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"SET_OWNER", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"RESET_OWNER", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"SET_MEM_TABLE", pt::memory_table, fr::one_per_region, rr::ack_only, pt::u64, fr::none,
     no_gate, true},
    {"SET_LOG_BASE", pt::log, fr::if_log_shmfd, rr::if_log_shmfd, pt::u64, fr::none, no_gate,
     true},
    {"SET_LOG_FD", pt::empty, fr::one, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"SET_VRING_NUM", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"SET_VRING_ADDR", pt::vring_addr, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"SET_VRING_BASE", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"GET_VRING_BASE", pt::vring_state, fr::none, rr::always, pt::vring_state, fr::none, no_gate,
     true},
    {"SET_VRING_KICK", pt::vring_fd, fr::unless_no_fd_bit, rr::ack_only, pt::u64, fr::none,
     no_gate, true},
    {"SET_VRING_CALL", pt::vring_fd, fr::unless_no_fd_bit, rr::ack_only, pt::u64, fr::none,
     no_gate, true},
    {"SET_VRING_ERR", pt::vring_fd, fr::unless_no_fd_bit, rr::ack_only, pt::u64, fr::none,
     no_gate, true},
    {"GET_PROTOCOL_FEATURES", pt::empty, fr::none, rr::always, pt::u64, fr::none, no_gate, true},
    {"SET_PROTOCOL_FEATURES", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"GET_QUEUE_NUM", pt::empty, fr::none, rr::always, pt::u64, fr::none, pf::mq, true},
    {"SET_VRING_ENABLE", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none, no_gate,
     true},
    {"SEND_RARP", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none, pf::rarp, true},
    {"NET_SET_MTU", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none, pf::net_mtu, true},
    {"SET_BACKEND_REQ_FD", pt::empty, fr::one, rr::ack_only, pt::u64, fr::none, pf::backend_req,
     true},
    {"IOTLB_MSG", pt::iotlb, fr::none, rr::always, pt::u64, fr::none, no_gate, true},
    {"SET_VRING_ENDIAN", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::cross_endian, true},
    {"GET_CONFIG", pt::config, fr::none, rr::always, pt::config, fr::none, pf::config, true},
    {"SET_CONFIG", pt::config, fr::none, rr::ack_only, pt::u64, fr::none, pf::config, true},
    {"CREATE_CRYPTO_SESSION", pt::crypto_session, fr::none, rr::always, pt::crypto_session,
     fr::none, pf::crypto_session, true},
    {"CLOSE_CRYPTO_SESSION", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::crypto_session, true},
    {"POSTCOPY_ADVISE", pt::empty, fr::none, rr::always, pt::empty, fr::one, pf::pagefault, true},
    {"POSTCOPY_LISTEN", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, pf::pagefault,
     true},
    {"POSTCOPY_END", pt::empty, fr::none, rr::always, pt::u64, fr::none, pf::pagefault, true},
    {"GET_INFLIGHT_FD", pt::inflight, fr::none, rr::always, pt::inflight, fr::if_mmap_size,
     pf::inflight_shmfd, true},
    {"SET_INFLIGHT_FD", pt::inflight, fr::one, rr::ack_only, pt::u64, fr::none,
     pf::inflight_shmfd, true},
    {"GPU_SET_SOCKET", pt::empty, fr::one, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"RESET_DEVICE", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, pf::reset_device,
     true},
    {"VRING_KICK", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::inband_notifications, false},
    {"GET_MAX_MEM_SLOTS", pt::empty, fr::none, rr::always, pt::u64, fr::none,
     pf::configure_mem_slots, true},
    {"ADD_MEM_REG", pt::single_region, fr::one, rr::ack_only, pt::u64, fr::none,
     pf::configure_mem_slots, true},
    {"REM_MEM_REG", pt::single_region, fr::ignored_if_present, rr::ack_only, pt::u64, fr::none,
     pf::configure_mem_slots, true},
    {"SET_STATUS", pt::u64, fr::none, rr::ack_only, pt::u64, fr::none, pf::status, true},
    {"GET_STATUS", pt::empty, fr::none, rr::always, pt::u64, fr::none, pf::status, true},
    {"GET_SHARED_OBJECT", pt::shared_object, fr::none, rr::always, pt::empty, fr::zero_or_one,
     pf::shared_object, false},
    {"SET_DEVICE_STATE_FD", pt::device_state, fr::one, rr::always, pt::u64, fr::unless_no_fd_bit,
     pf::device_state, false},
    {"CHECK_DEVICE_STATE", pt::empty, fr::none, rr::always, pt::u64, fr::none, pf::device_state,
     false},
    {"GET_SHMEM_CONFIG", pt::empty, fr::none, rr::always, pt::shmem_config, fr::none, pf::shmem,
     false},
};

inline constexpr request_info backend_table[last_backend_request + 1] = {
    {"UNKNOWN", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, false},
    {"BACKEND_IOTLB_MSG", pt::iotlb, fr::none, rr::ack_only, pt::u64, fr::none, no_gate, true},
    {"BACKEND_CONFIG_CHANGE_MSG", pt::empty, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::config, true},
    {"BACKEND_VRING_HOST_NOTIFIER_MSG", pt::vring_area, fr::unless_no_fd_bit, rr::ack_only,
     pt::u64, fr::none, pf::host_notifier, true},
    {"BACKEND_VRING_CALL", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::inband_notifications, false},
    {"BACKEND_VRING_ERR", pt::vring_state, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::inband_notifications, false},
    {"BACKEND_SHARED_OBJECT_ADD", pt::shared_object, fr::none, rr::ack_only, pt::u64, fr::none,
     pf::shared_object, false},
    {"BACKEND_SHARED_OBJECT_REMOVE", pt::shared_object, fr::none, rr::ack_only, pt::u64,
     fr::none, pf::shared_object, false},
    {"BACKEND_SHARED_OBJECT_LOOKUP", pt::shared_object, fr::none, rr::always, pt::u64,
     fr::on_success, pf::shared_object, false},
    {"BACKEND_SHMEM_MAP", pt::shmem_map, fr::one, rr::always, pt::u64, fr::none, pf::shmem,
     false},
    {"BACKEND_SHMEM_UNMAP", pt::shmem_map, fr::none, rr::always, pt::u64, fr::none, pf::shmem,
     false},
};
}  // namespace detail

/// The request code `code` on `ch`, if it is defined there (rule B5: anything else is unknown).
[[nodiscard]] constexpr bool is_known_request(channel ch, std::uint32_t code) noexcept {
  const std::uint32_t last = ch == channel::main ? last_frontend_request : last_backend_request;
  return code >= 1 && code <= last;
}

/// What the codec knows about `code` on `ch`; the "UNKNOWN" entry (qemu_7_2 false) if undefined.
[[nodiscard]] constexpr const request_info& info(channel ch, std::uint32_t code) noexcept {
  if (!is_known_request(ch, code))
    return ch == channel::main ? detail::frontend_table[0] : detail::backend_table[0];
  return ch == channel::main ? detail::frontend_table[code] : detail::backend_table[code];
}
[[nodiscard]] constexpr const request_info& info(frontend_request r) noexcept {
  return info(channel::main, static_cast<std::uint32_t>(r));
}
[[nodiscard]] constexpr const request_info& info(backend_request r) noexcept {
  return info(channel::backend, static_cast<std::uint32_t>(r));
}

/// Names for logging: the spec name, or "UNKNOWN" for a code not defined on that channel.
[[nodiscard]] constexpr std::string_view name(channel ch, std::uint32_t code) noexcept {
  return info(ch, code).name;
}
[[nodiscard]] constexpr std::string_view name(frontend_request r) noexcept {
  return info(r).name;
}
[[nodiscard]] constexpr std::string_view name(backend_request r) noexcept {
  return info(r).name;
}

/// Whether a request gets a reply (rule B8, spec "REPLY_ACK"): always when it has an inherent
/// reply, otherwise only when NEED_REPLY is set. SET_LOG_BASE has an inherent reply only when
/// LOG_SHMFD is negotiated. Unknown codes get a reply only with NEED_REPLY (QEMU 7.2 answers
/// `!!ret` for any back-end request with NEED_REPLY), though a back-end closes on them (B5).
[[nodiscard]] constexpr bool reply_expected(channel ch, std::uint32_t code, bool need_reply,
                                            std::uint64_t protocol_features) noexcept {
  switch (info(ch, code).reply) {
    case reply_rule::always: return true;
    case reply_rule::if_log_shmfd:
      return need_reply || has(protocol_features, protocol_feature::log_shmfd);
    case reply_rule::ack_only: return need_reply;
  }
  return need_reply;
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
