// SPDX-License-Identifier: Apache-2.0
// The contract between the virtio-gpio device model and a host GPIO back-end (simulated chip,
// Linux gpiochip character device, a bare-metal port): per-line calls and an ordered event feed.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vireo/core/result.hpp"
#include "vireo/gpio/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// Which way a line's level changed.
enum class edge : std::uint8_t {
  rising,
  falling,
};

/// One level change the host saw on a line whose interrupt is being watched.
struct line_event {
  std::uint16_t line = 0;
  edge kind = edge::rising;
  friend constexpr bool operator==(const line_event&, const line_event&) noexcept = default;
};

/// A host GPIO chip as the device model sees it: lines 0 .. line_count() - 1, each exported
/// under a name ("" = unnamed). The device model keeps the protocol state (direction, the value
/// remembered while a line is not an output, interrupt type, masking, latches); the chip only
/// does what the hardware does:
///  - set_direction(line, d, initial): in, out (driving `initial` from the start, so there is
///    no glitch) or none (release the line);
///  - set_value(line, v): drive an output line;
///  - get_value(line): the level sensed now (an output reads back what it drives);
///  - watch(line, t): start or stop (irq_type::none) reporting level changes of the line: the
///    requested edges for an edge type, both edges for a level type (the model re-reads the
///    level itself);
///  - next_event(): the oldest change not yet taken, in the order the host saw them.
/// Every call is noexcept, bounded and reports failure as an errc.
template <typename C>
concept host_chip = requires(C& chip, const C& cchip, std::uint16_t line, direction d, level v,
                             irq_type t) {
  { cchip.line_count() } noexcept -> std::same_as<std::uint16_t>;
  { cchip.line_name(line) } noexcept -> std::same_as<std::string_view>;
  { chip.set_direction(line, d, v) } noexcept -> std::same_as<result<void>>;
  { chip.set_value(line, v) } noexcept -> std::same_as<result<void>>;
  { chip.get_value(line) } noexcept -> std::same_as<result<level>>;
  { chip.watch(line, t) } noexcept -> std::same_as<result<void>>;
  { chip.next_event() } noexcept -> std::same_as<std::optional<line_event>>;
};

}  // namespace gpio
VIREO_NAMESPACE_END
