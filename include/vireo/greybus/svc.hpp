// SPDX-License-Identifier: Apache-2.0
// Greybus SVC protocol (greybus digest §4; Linux greybus_protocols.h SVC section; spec
// special/svc.rst): protocol 0x14 on the SVC CPort 0. The subset a host (AP) side needs, or an
// emulated SVC answers: every operation Linux defines a payload layout for. Spec-only operations
// (0x04/0x05 hotplug, 0x1d, 0x2b..0x2d) and the TimeSync operations (Linux keeps their numbers
// but no layouts) decode as unknown operations (§4 [DIFF]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {
namespace svc {

inline constexpr protocol_id protocol = protocol_id::svc;
inline constexpr std::uint16_t cport_id = 0;
inline constexpr version_payload version_supported{0, 1};

/// Switch-port device ids (Linux GB_SVC_DEVICE_ID_*): 0 SVC, 1 AP, 2..31 modules.
inline constexpr std::uint8_t device_id_svc = 0;
inline constexpr std::uint8_t device_id_ap = 1;
inline constexpr std::uint8_t device_id_min = 2;
inline constexpr std::uint8_t device_id_max = 31;

/// SVC status values carried in payloads (Linux GB_SVC_OP_SUCCESS .. PWRMON_OP_NOT_PRESENT).
enum class op_status : std::uint8_t {
  success = 0x00,
  unknown_error = 0x01,
  intf_not_detected = 0x02,
  intf_no_upro_link = 0x03,
  intf_upro_not_down = 0x04,
  intf_upro_not_hibernated = 0x05,
  intf_no_v_sys = 0x06,
  intf_v_chg = 0x07,
  intf_wake_busy = 0x08,
  intf_no_refclk = 0x09,
  intf_releasing = 0x0a,
  intf_no_order = 0x0b,
  intf_mbox_set = 0x0c,
  intf_bad_mbox = 0x0d,
  intf_op_timeout = 0x0e,
  pwrmon_op_not_present = 0x0f,
};
/// Interface Activate intf_type (Linux GB_SVC_INTF_TYPE_*).
enum class intf_type : std::uint8_t { unknown = 0, dummy = 1, unipro = 2, greybus = 3 };
inline constexpr std::uint16_t module_inserted_flag_no_primary = 0x0001;
inline constexpr std::size_t pwrmon_rail_name_size = 32;
inline constexpr std::size_t pwrmon_max_rail_count = 254;

struct hello_request {
  le16 endo_id;
  std::uint8_t interface_id;
};
struct intf_device_id_request {
  std::uint8_t intf_id;
  std::uint8_t device_id;
};
/// Reset, Eject, Activate, Resume, Module Removed, V_SYS/REFCLK/UNIPRO enable and disable.
struct intf_request {
  std::uint8_t intf_id;
};
/// The u8 result/status the V_SYS/REFCLK/UNIPRO/Resume/Set Power Mode responses carry.
struct result_code_response {
  std::uint8_t result_code;
};
struct conn_create_request {
  std::uint8_t intf1_id;
  le16 cport1_id;
  std::uint8_t intf2_id;
  le16 cport2_id;
  std::uint8_t tc;
  std::uint8_t flags;
};
struct conn_destroy_request {
  std::uint8_t intf1_id;
  le16 cport1_id;
  std::uint8_t intf2_id;
  le16 cport2_id;
};
struct dme_peer_get_request {
  std::uint8_t intf_id;
  le16 attr;
  le16 selector;
};
struct dme_peer_get_response {
  le16 result_code;
  le32 attr_value;
};
struct dme_peer_set_request {
  std::uint8_t intf_id;
  le16 attr;
  le16 selector;
  le32 value;
};
struct dme_peer_set_response {
  le16 result_code;
};
struct route_create_request {
  std::uint8_t intf1_id;
  std::uint8_t dev1_id;
  std::uint8_t intf2_id;
  std::uint8_t dev2_id;
};
struct route_destroy_request {
  std::uint8_t intf1_id;
  std::uint8_t intf2_id;
};
/// struct gb_svc_l2_timer_cfg.
struct l2_timer_cfg {
  le16 tsb_fc0_protection_timeout;
  le16 tsb_tc0_replay_timeout;
  le16 tsb_afc0_req_timeout;
  le16 tsb_fc1_protection_timeout;
  le16 tsb_tc1_replay_timeout;
  le16 tsb_afc1_req_timeout;
  le16 reserved_for_tc2[3];
  le16 reserved_for_tc3[3];
};
struct intf_set_pwrm_request {
  std::uint8_t intf_id;
  std::uint8_t hs_series;
  std::uint8_t tx_mode;
  std::uint8_t tx_gear;
  std::uint8_t tx_nlanes;
  std::uint8_t tx_amplitude;
  std::uint8_t tx_hs_equalizer;
  std::uint8_t rx_mode;
  std::uint8_t rx_gear;
  std::uint8_t rx_nlanes;
  std::uint8_t flags;
  le32 quirks;
  l2_timer_cfg local_l2timerdata;
  l2_timer_cfg remote_l2timerdata;
};
struct pwrmon_rail_count_response {
  std::uint8_t rail_count;
};
struct pwrmon_sample_request {
  std::uint8_t id;  ///< rail_id (Sample Get) or intf_id (Interface Sample Get)
  std::uint8_t measurement_type;
};
struct pwrmon_sample_response {
  std::uint8_t result;
  le32 measurement;
};
struct module_inserted_request {
  std::uint8_t primary_intf_id;
  std::uint8_t intf_count;
  le16 flags;
};
struct intf_activate_response {
  std::uint8_t status;     ///< enum op_status
  std::uint8_t intf_type;  ///< enum intf_type
};
struct intf_mailbox_event_request {
  std::uint8_t intf_id;
  le16 result_code;
  le32 mailbox;
};
struct intf_oops_request {
  std::uint8_t intf_id;
  std::uint8_t reason;
};

static_assert(sizeof(hello_request) == 3 && offsetof(hello_request, endo_id) == 0 &&
                  offsetof(hello_request, interface_id) == 2,
              "greybus §4: hello is le16 endo_id, u8 interface_id");
static_assert(sizeof(intf_device_id_request) == 2 &&
              offsetof(intf_device_id_request, device_id) == 1);
static_assert(sizeof(intf_request) == 1 && sizeof(result_code_response) == 1);
static_assert(sizeof(conn_create_request) == 8 && offsetof(conn_create_request, cport1_id) == 1 &&
                  offsetof(conn_create_request, intf2_id) == 3 &&
                  offsetof(conn_create_request, cport2_id) == 4 &&
                  offsetof(conn_create_request, tc) == 6 &&
                  offsetof(conn_create_request, flags) == 7,
              "greybus §4: connection create layout");
static_assert(sizeof(conn_destroy_request) == 6 && offsetof(conn_destroy_request, cport2_id) == 4,
              "greybus §4: connection destroy layout");
static_assert(sizeof(dme_peer_get_request) == 5 && offsetof(dme_peer_get_request, attr) == 1 &&
                  offsetof(dme_peer_get_request, selector) == 3,
              "greybus §4: DME peer get request layout");
static_assert(sizeof(dme_peer_get_response) == 6 &&
                  offsetof(dme_peer_get_response, attr_value) == 2,
              "greybus §4: DME peer get response layout");
static_assert(sizeof(dme_peer_set_request) == 9 && offsetof(dme_peer_set_request, value) == 5,
              "greybus §4: DME peer set request layout");
static_assert(sizeof(dme_peer_set_response) == 2);
static_assert(sizeof(route_create_request) == 4 && offsetof(route_create_request, dev2_id) == 3);
static_assert(sizeof(route_destroy_request) == 2 && offsetof(route_destroy_request, intf2_id) == 1);
static_assert(sizeof(l2_timer_cfg) == 24 && offsetof(l2_timer_cfg, reserved_for_tc3) == 18,
              "greybus §4: l2 timer cfg is 12 x le16");
static_assert(sizeof(intf_set_pwrm_request) == 63 && offsetof(intf_set_pwrm_request, flags) == 10 &&
                  offsetof(intf_set_pwrm_request, quirks) == 11 &&
                  offsetof(intf_set_pwrm_request, local_l2timerdata) == 15 &&
                  offsetof(intf_set_pwrm_request, remote_l2timerdata) == 39,
              "greybus §4: set power mode request layout (Linux)");
static_assert(sizeof(pwrmon_rail_count_response) == 1 && sizeof(pwrmon_sample_request) == 2);
static_assert(sizeof(pwrmon_sample_response) == 5 &&
                  offsetof(pwrmon_sample_response, measurement) == 1,
              "greybus §4: power monitor sample response is u8 result, le32 measurement");
static_assert(sizeof(module_inserted_request) == 4 &&
                  offsetof(module_inserted_request, intf_count) == 1 &&
                  offsetof(module_inserted_request, flags) == 2,
              "greybus §4: module inserted layout");
static_assert(sizeof(intf_activate_response) == 2 &&
              offsetof(intf_activate_response, intf_type) == 1);
static_assert(sizeof(intf_mailbox_event_request) == 7 &&
                  offsetof(intf_mailbox_event_request, result_code) == 1 &&
                  offsetof(intf_mailbox_event_request, mailbox) == 3,
              "greybus §4: mailbox event layout");
static_assert(sizeof(intf_oops_request) == 2 && offsetof(intf_oops_request, reason) == 1);
static_assert(alignof(intf_set_pwrm_request) == 1 && alignof(conn_create_request) == 1 &&
              std::is_trivially_copyable_v<intf_set_pwrm_request> &&
              std::is_standard_layout_v<intf_set_pwrm_request>);

/// Power Monitor Rail Names Get response: u8 status, then one 32-byte name per rail.
struct rail_names_response {
  std::uint8_t status = 0;
  const_bytes names{};  ///< rail_count() × 32 bytes

  /// Errors: greybus_payload_too_short (no status), greybus_data_length (names not a whole
  /// number of 32-byte entries), greybus_count_overrun (more than 254 rails).
  [[nodiscard]] static result<rail_names_response> decode(const_bytes in) noexcept {
    if (in.empty()) return errc::greybus_payload_too_short;
    const std::size_t n = in.size() - 1;
    if (n % pwrmon_rail_name_size != 0) return errc::greybus_data_length;
    if (n / pwrmon_rail_name_size > pwrmon_max_rail_count) return errc::greybus_count_overrun;
    return rail_names_response{static_cast<std::uint8_t>(in[0]), in.subspan(1)};
  }
  [[nodiscard]] std::size_t rail_count() const noexcept {
    return names.size() / pwrmon_rail_name_size;
  }
  /// Rail `i`'s 32 name bytes (NUL padded). Precondition: i < rail_count().
  [[nodiscard]] const_bytes name(std::size_t i) const noexcept {
    VIREO_ASSERT(i < rail_count());
    return names.subspan(i * pwrmon_rail_name_size, pwrmon_rail_name_size);
  }
  [[nodiscard]] std::size_t size() const noexcept { return 1 + names.size(); }
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (names.size() % pwrmon_rail_name_size != 0) return errc::greybus_data_length;
    if (out.size() != size()) return errc::no_space;
    out[0] = static_cast<std::byte>(status);
    if (!names.empty()) std::memcpy(out.data() + 1, names.data(), names.size());
    return ok();
  }
};
static_assert(variable_payload<rail_names_response>);

using cport_shutdown = greybus::cport_shutdown<protocol>;
/// Sent by the SVC to the AP (not the other way round, §2).
using version = protocol_version<protocol>;

/// SVC -> AP.
struct hello : operation<protocol, 0x02, hello_request, empty> {
  static constexpr std::string_view name = "hello";
};
struct intf_device_id : operation<protocol, 0x03, intf_device_id_request, empty> {
  static constexpr std::string_view name = "intf_device_id";
};
struct intf_reset : operation<protocol, 0x06, intf_request, empty> {
  static constexpr std::string_view name = "intf_reset";
};
struct conn_create : operation<protocol, 0x07, conn_create_request, empty> {
  static constexpr std::string_view name = "conn_create";
};
struct conn_destroy : operation<protocol, 0x08, conn_destroy_request, empty> {
  static constexpr std::string_view name = "conn_destroy";
};
struct dme_peer_get : operation<protocol, 0x09, dme_peer_get_request, dme_peer_get_response> {
  static constexpr std::string_view name = "dme_peer_get";
};
struct dme_peer_set : operation<protocol, 0x0a, dme_peer_set_request, dme_peer_set_response> {
  static constexpr std::string_view name = "dme_peer_set";
};
struct route_create : operation<protocol, 0x0b, route_create_request, empty> {
  static constexpr std::string_view name = "route_create";
};
struct route_destroy : operation<protocol, 0x0c, route_destroy_request, empty> {
  static constexpr std::string_view name = "route_destroy";
};
struct intf_set_pwrm : operation<protocol, 0x10, intf_set_pwrm_request, result_code_response> {
  static constexpr std::string_view name = "intf_set_pwrm";
};
struct intf_eject : operation<protocol, 0x11, intf_request, empty> {
  static constexpr std::string_view name = "intf_eject";
};
struct ping : operation<protocol, 0x13, empty, empty> {
  static constexpr std::string_view name = "ping";
};
struct pwrmon_rail_count_get : operation<protocol, 0x14, empty, pwrmon_rail_count_response> {
  static constexpr std::string_view name = "pwrmon_rail_count_get";
};
struct pwrmon_rail_names_get : operation<protocol, 0x15, empty, rail_names_response> {
  static constexpr std::string_view name = "pwrmon_rail_names_get";
};
struct pwrmon_sample_get : operation<protocol, 0x16, pwrmon_sample_request, pwrmon_sample_response> {
  static constexpr std::string_view name = "pwrmon_sample_get";
};
struct pwrmon_intf_sample_get
    : operation<protocol, 0x17, pwrmon_sample_request, pwrmon_sample_response> {
  static constexpr std::string_view name = "pwrmon_intf_sample_get";
};
/// SVC -> AP.
struct module_inserted : operation<protocol, 0x1f, module_inserted_request, empty> {
  static constexpr std::string_view name = "module_inserted";
};
/// SVC -> AP.
struct module_removed : operation<protocol, 0x20, intf_request, empty> {
  static constexpr std::string_view name = "module_removed";
};
struct intf_vsys_enable : operation<protocol, 0x21, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_vsys_enable";
};
struct intf_vsys_disable : operation<protocol, 0x22, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_vsys_disable";
};
struct intf_refclk_enable : operation<protocol, 0x23, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_refclk_enable";
};
struct intf_refclk_disable : operation<protocol, 0x24, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_refclk_disable";
};
struct intf_unipro_enable : operation<protocol, 0x25, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_unipro_enable";
};
struct intf_unipro_disable : operation<protocol, 0x26, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_unipro_disable";
};
struct intf_activate : operation<protocol, 0x27, intf_request, intf_activate_response> {
  static constexpr std::string_view name = "intf_activate";
};
struct intf_resume : operation<protocol, 0x28, intf_request, result_code_response> {
  static constexpr std::string_view name = "intf_resume";
};
/// SVC -> AP.
struct intf_mailbox_event : operation<protocol, 0x29, intf_mailbox_event_request, empty> {
  static constexpr std::string_view name = "intf_mailbox_event";
};
/// SVC -> AP.
struct intf_oops : operation<protocol, 0x2a, intf_oops_request, empty> {
  static constexpr std::string_view name = "intf_oops";
};

using operations =
    operation_list<cport_shutdown, version, hello, intf_device_id, intf_reset, conn_create,
                   conn_destroy, dme_peer_get, dme_peer_set, route_create, route_destroy,
                   intf_set_pwrm, intf_eject, ping, pwrmon_rail_count_get, pwrmon_rail_names_get,
                   pwrmon_sample_get, pwrmon_intf_sample_get, module_inserted, module_removed,
                   intf_vsys_enable, intf_vsys_disable, intf_refclk_enable, intf_refclk_disable,
                   intf_unipro_enable, intf_unipro_disable, intf_activate, intf_resume,
                   intf_mailbox_event, intf_oops>;

}  // namespace svc
}  // namespace greybus
VIREO_NAMESPACE_END
