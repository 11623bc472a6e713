// SPDX-License-Identifier: Apache-2.0
// Greybus manifest wire facts (greybus digest §5.1-§5.3; Linux greybus_manifest.h): the header
// and descriptor layouts, their sizes, descriptor types, and the names of protocol ids and
// bundle classes. Data and pure functions only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// The manifest header: le16 size (whole manifest), u8 version_major, u8 version_minor (§5.1).
inline constexpr std::size_t manifest_header_size = 4;
/// Every descriptor starts with le16 size (descriptor included), u8 type, u8 pad (§5.1).
inline constexpr std::size_t descriptor_header_size = 4;
/// Interface, bundle and CPort descriptors are 8 bytes; a string is 6 + length, padded to 4.
inline constexpr std::size_t fixed_descriptor_size = 8;
inline constexpr std::size_t string_descriptor_base_size = 6;
/// The size field is a le16: no manifest is longer.
inline constexpr std::size_t max_manifest_size = 0xffff;
/// The length field of a string descriptor is a u8 (§5.1).
inline constexpr std::size_t max_string_length = 255;
/// The versions this library writes, and the newest major it reads (§5.4: parsers need not
/// accept a higher major; Linux GREYBUS_VERSION_MAJOR/MINOR).
inline constexpr std::uint8_t manifest_version_major = 0;
inline constexpr std::uint8_t manifest_version_minor = 1;
/// UniPro CPort ids are 12 bits (Linux CPORT_ID_MAX).
inline constexpr std::uint16_t cport_id_max = 4095;
/// CPort 0 is the control CPort and bundle 0 the legacy control bundle (Linux
/// GB_CONTROL_CPORT_ID, GB_CONTROL_BUNDLE_ID); 0xff is "no bundle" (BUNDLE_ID_NONE).
inline constexpr std::uint16_t control_cport_id = 0;
inline constexpr std::uint8_t control_bundle_id = 0;
inline constexpr std::uint8_t bundle_id_none = 0xff;
/// Bundle class 0x00 and CPort protocol 0x00 are Control (§5.2, §5.3).
inline constexpr std::uint8_t class_control = 0x00;
inline constexpr std::uint8_t protocol_control = 0x00;
/// Interface descriptor `features` bit 0 (Linux GREYBUS_INTF_FEATURE_TIMESYNC).
inline constexpr std::uint8_t interface_feature_timesync = 0x01;

/// Descriptor types (§5.1). Everything else is reserved and rejected by Linux.
enum class descriptor_type : std::uint8_t {
  invalid = 0x00,
  interface = 0x01,
  string = 0x02,
  bundle = 0x03,
  cport = 0x04,
};

/// The size a descriptor of `type` needs at least (the string's `length` byte is needed for a
/// string), or 0 for an invalid or unknown type. Linux `identify_descriptor`.
[[nodiscard]] constexpr std::size_t minimum_descriptor_size(std::uint8_t type,
                                                            std::uint8_t string_length) noexcept {
  switch (type) {
    case 0x01:
    case 0x03:
    case 0x04: return fixed_descriptor_size;
    case 0x02: return (string_descriptor_base_size + string_length + 3u) & ~std::size_t{3};
    default: return 0;
  }
}

/// Name of a descriptor type, "reserved" for 0x05..0xff.
[[nodiscard]] constexpr std::string_view descriptor_type_name(std::uint8_t type) noexcept {
  switch (type) {
    case 0x00: return "invalid";
    case 0x01: return "interface";
    case 0x02: return "string";
    case 0x03: return "bundle";
    case 0x04: return "cport";
    default: return "reserved";
  }
}

/// Name of a CPort protocol id (§5.2, Linux enum greybus_protocol), "reserved" otherwise.
[[nodiscard]] constexpr std::string_view cport_protocol_name(std::uint8_t protocol) noexcept {
  constexpr std::string_view names[] = {
      "Control",          "unused",           "GPIO",          "I2C",
      "UART",             "HID",              "USB",           "SDIO",
      "Power Supply",     "PWM",              "unused",        "SPI",
      "Display",          "Camera Management", "Sensor",       "Lights",
      "Vibrator",         "Loopback",         "Audio Management", "Audio Data",
      "SVC",              "Bootrom",          "Camera Data",   "Firmware Download",
      "Firmware Management", "Component Authentication", "Log"};
  if (protocol < std::size(names)) return names[protocol];
  if (protocol == 0xfe) return "Raw";
  if (protocol == 0xff) return "Vendor";
  return "reserved";
}

/// Name of a bundle class (§5.3, Linux enum greybus_class_type), "reserved" otherwise.
[[nodiscard]] constexpr std::string_view bundle_class_name(std::uint8_t bundle_class) noexcept {
  switch (bundle_class) {
    case 0x00: return "Control";
    case 0x05: return "HID";
    case 0x08: return "Power Supply";
    case 0x0a: return "Bridged PHY";
    case 0x0c: return "Display";
    case 0x0d: return "Camera";
    case 0x0e: return "Sensor";
    case 0x0f: return "Lights";
    case 0x10: return "Vibrator";
    case 0x11: return "Loopback";
    case 0x12: return "Audio";
    case 0x15: return "Bootrom";
    case 0x16: return "Firmware Management";
    case 0x17: return "Log";
    case 0xfe: return "Raw";
    case 0xff: return "Vendor";
    default: return "reserved";
  }
}

}  // namespace greybus
VIREO_NAMESPACE_END
