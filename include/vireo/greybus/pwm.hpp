// SPDX-License-Identifier: Apache-2.0
// Greybus PWM protocol (greybus digest §6.5; Linux greybus_protocols.h "PWM" and
// drivers/staging/greybus/pwm.c; spec bridged_phy.rst): protocol 0x09, instances 0..count.
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
namespace pwm {

inline constexpr protocol_id protocol = protocol_id::pwm;

enum class polarity : std::uint8_t { normal = 0, inverted = 1 };

/// gb_pwm_count_response: the highest instance number (instances - 1).
struct count_response {
  std::uint8_t count;
};
/// Activate, Deactivate, Enable, Disable.
struct which_request {
  std::uint8_t which;
};
struct config_request {
  std::uint8_t which;
  le32 duty;    ///< ns
  le32 period;  ///< ns
};
struct polarity_request {
  std::uint8_t which;
  std::uint8_t polarity;  ///< enum polarity; not while enabled (spec)
};

static_assert(sizeof(count_response) == 1 && offsetof(count_response, count) == 0,
              "greybus §6.5: pwm count response is u8 count");
static_assert(sizeof(which_request) == 1 && offsetof(which_request, which) == 0,
              "greybus §6.5: u8 which");
static_assert(sizeof(config_request) == 9 && alignof(config_request) == 1 &&
                  offsetof(config_request, which) == 0 && offsetof(config_request, duty) == 1 &&
                  offsetof(config_request, period) == 5,
              "greybus §6.5: config is u8 which, le32 duty, le32 period");
static_assert(sizeof(polarity_request) == 2 && offsetof(polarity_request, which) == 0 &&
                  offsetof(polarity_request, polarity) == 1,
              "greybus §6.5: polarity is u8 which, u8 polarity");
static_assert(std::is_trivially_copyable_v<config_request> &&
              std::is_standard_layout_v<config_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;

struct pwm_count : operation<protocol, 0x02, empty, count_response> {
  static constexpr std::string_view name = "pwm_count";
};
struct activate : operation<protocol, 0x03, which_request, empty> {
  static constexpr std::string_view name = "activate";
};
struct deactivate : operation<protocol, 0x04, which_request, empty> {
  static constexpr std::string_view name = "deactivate";
};
struct config : operation<protocol, 0x05, config_request, empty> {
  static constexpr std::string_view name = "config";
};
struct set_polarity : operation<protocol, 0x06, polarity_request, empty> {
  static constexpr std::string_view name = "polarity";
};
struct enable : operation<protocol, 0x07, which_request, empty> {
  static constexpr std::string_view name = "enable";
};
struct disable : operation<protocol, 0x08, which_request, empty> {
  static constexpr std::string_view name = "disable";
};

using operations = operation_list<cport_shutdown, pwm_count, activate, deactivate, config,
                                  set_polarity, enable, disable>;

/// Whether `which` names an instance of a controller whose PWM Count answer was `count`.
/// Errors: greybus_index_out_of_range.
[[nodiscard]] constexpr result<void> check_instance(std::uint8_t which,
                                                    count_response count) noexcept {
  if (which > count.count) return errc::greybus_index_out_of_range;
  return ok();
}

}  // namespace pwm
}  // namespace greybus
VIREO_NAMESPACE_END
