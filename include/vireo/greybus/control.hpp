// SPDX-License-Identifier: Apache-2.0
// Greybus Control protocol (greybus digest §3; Linux greybus_protocols.h "Control Protocol";
// spec special/control.rst): protocol 0x00 on the implicit CPort 0. Only the AP sends
// requests; the interface answers. Every operation of the digest's table, typed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {
namespace control {

inline constexpr protocol_id protocol = protocol_id::control;
/// The control CPort and bundle (Linux GB_CONTROL_CPORT_ID, GB_CONTROL_BUNDLE_ID).
inline constexpr std::uint16_t cport_id = 0;
inline constexpr std::uint8_t bundle_id = 0;
/// Control protocol version this codec speaks (Linux GB_CONTROL_VERSION_MAJOR/MINOR).
inline constexpr version_payload version_supported{0, 1};
/// 0x02 is Linux GB_CONTROL_TYPE_PROBE_AP, "Reserved" in the spec and used by no current kernel
/// code (§3 [DIFF]): it has no layout, so it decodes as an unknown operation.
inline constexpr std::uint8_t type_probe_ap = 0x02;

/// Bundle PM status byte (§3; Linux GB_CONTROL_BUNDLE_PM_*).
enum class bundle_pm_status : std::uint8_t { ok = 0, inval = 1, busy = 2, fail = 3, na = 4 };
/// Interface PM status byte (§3; Linux GB_CONTROL_INTF_PM_*).
enum class intf_pm_status : std::uint8_t { ok = 0, busy = 1, na = 2 };

/// gb_control_get_manifest_size_response.
struct get_manifest_size_response {
  le16 size;
};
/// gb_control_connected/disconnecting/disconnected_request.
struct cport_request {
  le16 cport_id;
};
/// gb_control_bundle_version_request and gb_control_bundle_pm_request.
struct bundle_request {
  std::uint8_t bundle_id;
};
/// gb_control_bundle_pm_response and gb_control_intf_pm_response.
struct pm_response {
  std::uint8_t status;
};
/// TimeSync Enable request: layout from the spec only, Linux removed the struct (§3 [DIFF]).
struct timesync_enable_request {
  std::uint8_t count;
  le64 frame_time;
  le32 strobe_delay;  ///< ms
  le32 refclk;        ///< Hz
};
/// TimeSync Authoritative request (spec only): TIME_SYNC0..3 frame times.
struct timesync_authoritative_request {
  le64 frame_time[4];
};
/// TimeSync Get Last Event response (spec only).
struct timesync_get_last_event_response {
  le64 frame_time;
};

static_assert(sizeof(get_manifest_size_response) == 2 && alignof(get_manifest_size_response) == 1,
              "greybus §3: get manifest size response is le16 size");
static_assert(offsetof(get_manifest_size_response, size) == 0);
static_assert(sizeof(cport_request) == 2 && alignof(cport_request) == 1 &&
                  offsetof(cport_request, cport_id) == 0,
              "greybus §3: (dis)connect(ed/ing) request is le16 cport_id");
static_assert(sizeof(bundle_request) == 1 && offsetof(bundle_request, bundle_id) == 0,
              "greybus §3: bundle requests are u8 bundle_id");
static_assert(sizeof(pm_response) == 1 && offsetof(pm_response, status) == 0,
              "greybus §3: PM responses are u8 status");
static_assert(sizeof(timesync_enable_request) == 17 && alignof(timesync_enable_request) == 1,
              "greybus §3: TimeSync Enable request is 17 bytes (spec)");
static_assert(offsetof(timesync_enable_request, count) == 0 &&
                  offsetof(timesync_enable_request, frame_time) == 1 &&
                  offsetof(timesync_enable_request, strobe_delay) == 9 &&
                  offsetof(timesync_enable_request, refclk) == 13,
              "greybus §3: TimeSync Enable field offsets (spec)");
static_assert(sizeof(timesync_authoritative_request) == 32 &&
                  offsetof(timesync_authoritative_request, frame_time) == 0,
              "greybus §3: TimeSync Authoritative request is 4 x le64 (spec)");
static_assert(sizeof(timesync_get_last_event_response) == 8 &&
                  offsetof(timesync_get_last_event_response, frame_time) == 0,
              "greybus §3: TimeSync Get Last Event response is le64 frame_time (spec)");
static_assert(std::is_trivially_copyable_v<timesync_enable_request> &&
              std::is_standard_layout_v<timesync_enable_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;
using version = protocol_version<protocol>;

struct get_manifest_size : operation<protocol, 0x03, empty, get_manifest_size_response> {
  static constexpr std::string_view name = "get_manifest_size";
};
/// The response is the manifest (its length is the size Get Manifest Size returned; compare
/// with check_manifest_length()). The manifest parser lives in manifest*.hpp.
struct get_manifest : operation<protocol, 0x04, empty, byte_payload> {
  static constexpr std::string_view name = "get_manifest";
};
struct connected : operation<protocol, 0x05, cport_request, empty> {
  static constexpr std::string_view name = "connected";
};
struct disconnected : operation<protocol, 0x06, cport_request, empty> {
  static constexpr std::string_view name = "disconnected";
};
struct timesync_enable : operation<protocol, 0x07, timesync_enable_request, empty> {
  static constexpr std::string_view name = "timesync_enable";
};
struct timesync_disable : operation<protocol, 0x08, empty, empty> {
  static constexpr std::string_view name = "timesync_disable";
};
struct timesync_authoritative : operation<protocol, 0x09, timesync_authoritative_request, empty> {
  static constexpr std::string_view name = "timesync_authoritative";
};
struct bundle_version : operation<protocol, 0x0b, bundle_request, version_payload> {
  static constexpr std::string_view name = "bundle_version";
};
struct disconnecting : operation<protocol, 0x0c, cport_request, empty> {
  static constexpr std::string_view name = "disconnecting";
};
struct timesync_get_last_event
    : operation<protocol, 0x0d, empty, timesync_get_last_event_response> {
  static constexpr std::string_view name = "timesync_get_last_event";
};
/// Unidirectional (spec table: response N/A; Linux sends it with the unidirectional flag).
struct mode_switch : unidirectional_operation<protocol, 0x0e, empty> {
  static constexpr std::string_view name = "mode_switch";
};
struct bundle_suspend : operation<protocol, 0x0f, bundle_request, pm_response> {
  static constexpr std::string_view name = "bundle_suspend";
};
struct bundle_resume : operation<protocol, 0x10, bundle_request, pm_response> {
  static constexpr std::string_view name = "bundle_resume";
};
struct bundle_deactivate : operation<protocol, 0x11, bundle_request, pm_response> {
  static constexpr std::string_view name = "bundle_deactivate";
};
struct bundle_activate : operation<protocol, 0x12, bundle_request, pm_response> {
  static constexpr std::string_view name = "bundle_activate";
};
struct intf_suspend_prepare : operation<protocol, 0x13, empty, pm_response> {
  static constexpr std::string_view name = "intf_suspend_prepare";
};
struct intf_deactivate_prepare : operation<protocol, 0x14, empty, pm_response> {
  static constexpr std::string_view name = "intf_deactivate_prepare";
};
/// The spec lists a 0x95 response; Linux sends it synchronously and expects no payload.
struct intf_hibernate_abort : operation<protocol, 0x15, empty, empty> {
  static constexpr std::string_view name = "intf_hibernate_abort";
};

using operations =
    operation_list<cport_shutdown, version, get_manifest_size, get_manifest, connected,
                   disconnected, timesync_enable, timesync_disable, timesync_authoritative,
                   bundle_version, disconnecting, timesync_get_last_event, mode_switch,
                   bundle_suspend, bundle_resume, bundle_deactivate, bundle_activate,
                   intf_suspend_prepare, intf_deactivate_prepare, intf_hibernate_abort>;

/// A Get Manifest response must be exactly as long as the size announced before (Linux reads
/// exactly that many bytes). Errors: greybus_payload_too_short, greybus_payload_too_long.
[[nodiscard]] constexpr result<void> check_manifest_length(const byte_payload& manifest,
                                                           std::uint16_t announced) noexcept {
  if (manifest.data.size() < announced) return errc::greybus_payload_too_short;
  if (manifest.data.size() > announced) return errc::greybus_payload_too_long;
  return ok();
}

}  // namespace control
}  // namespace greybus
VIREO_NAMESPACE_END
