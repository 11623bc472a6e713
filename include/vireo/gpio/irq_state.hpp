// SPDX-License-Identifier: Apache-2.0
// The interrupt state of one GPIO line, device side (virtio §5.18.6.6, §5.18.7): enabled or not
// (SET_IRQ_TYPE), masked or not (an eventq pair held), and the edge latch. Pure logic: the device
// model does the queue and chip work each returned action asks for.
#pragma once

#include <cstdint>
#include <optional>

#include "vireo/chain/segment.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// What the device keeps of an eventq pair it holds (an unmasked line): the token that completes
/// it and the guest address of its status byte (the first device-writable byte, where
/// virtio_gpio_irq_response goes). Not the chain: 24 bytes per line instead of a segment list.
struct held_pair {
  chain::used_token token{};
  gpa status{};
};

/// An edge trigger type (rising, falling or both).
[[nodiscard]] constexpr bool is_edge_trigger(irq_type t) noexcept {
  return t == irq_type::edge_rising || t == irq_type::edge_falling || t == irq_type::edge_both;
}
/// A level trigger type (high or low).
[[nodiscard]] constexpr bool is_level_trigger(irq_type t) noexcept {
  return t == irq_type::level_high || t == irq_type::level_low;
}
/// Whether an edge of kind `e` is one that trigger type `t` reports (false for non-edge types).
[[nodiscard]] constexpr bool edge_triggers(irq_type t, edge e) noexcept {
  switch (t) {
    case irq_type::edge_rising: return e == edge::rising;
    case irq_type::edge_falling: return e == edge::falling;
    case irq_type::edge_both: return true;
    default: return false;
  }
}
/// Whether level `v` is the active level of trigger type `t` (false for non-level types).
[[nodiscard]] constexpr bool level_active(irq_type t, level v) noexcept {
  return (t == irq_type::level_high && v == level::high) ||
         (t == irq_type::level_low && v == level::low);
}

/// What the device must do after feeding the state machine.
enum class irq_action : std::uint8_t {
  none,         ///< nothing to report now
  fire,         ///< take_pair() and return it with VIRTIO_GPIO_IRQ_STATUS_VALID
  check_level,  ///< level type, unmasked: read the line; if level_active(), fire
};

/// One line's interrupt state machine (docs/gpio.md, "Interrupt state machine"):
///
///   disabled ──enable(t)──▶ enabled+masked ──unmask(pair)──▶ enabled+unmasked
///       ▲                        ▲    │ edge (edge type): latch      │ fire: take_pair()
///       └──────disable()─────────┴────┴──────────────────────────────┘ (back to masked)
///
/// disable() from any state discards the latch (GV10) and hands back a held pair, which the
/// caller returns INVALID (GV12). Only an enabled and unmasked line ever asks to fire (GV11).
/// Edges are latched while masked (GV8), several collapsing into one pending flag; level changes
/// are never latched (GV9): the level is re-read on unmask and on each change instead.
class irq_state {
 public:
  [[nodiscard]] constexpr irq_type trigger() const noexcept { return trigger_; }
  [[nodiscard]] constexpr bool enabled() const noexcept { return trigger_ != irq_type::none; }
  /// A pair is held: the driver unmasked the line.
  [[nodiscard]] constexpr bool unmasked() const noexcept { return held_; }
  /// An edge arrived while masked and waits for the next unmask.
  [[nodiscard]] constexpr bool latched() const noexcept { return latched_; }
  /// The held pair. Precondition: unmasked().
  [[nodiscard]] constexpr const held_pair& pair() const noexcept {
    VIREO_ASSERT(held_);
    return pair_;
  }

  /// SET_IRQ_TYPE(t), t not NONE, on a disabled line: enabled and masked, nothing latched
  /// (§5.18.6.6: enabling does not unmask; edges latch "from this point onward").
  /// Precondition: !enabled() and t is an edge or level type.
  constexpr void enable(irq_type t) noexcept {
    VIREO_ASSERT(!enabled() && (is_edge_trigger(t) || is_level_trigger(t)));
    trigger_ = t;
    latched_ = false;
  }

  /// Disable (SET_IRQ_TYPE(NONE), SET_DIRECTION(NONE), reset): the latch is discarded (GV10)
  /// and a held pair is handed back for the caller to return INVALID (GV12), which masks it.
  [[nodiscard]] constexpr std::optional<held_pair> disable() noexcept {
    trigger_ = irq_type::none;
    latched_ = false;
    return take_if_held();
  }

  /// The driver queued this line's pair (§5.18.7.1: a queued pair unmasks). Edge type: fire at
  /// once if an edge was latched (the latch is consumed). Level type: check_level, because the
  /// spec asks for a new report when the level is still active after the unmask.
  /// Precondition: enabled() && !unmasked() (the device bounces other pairs, GV13).
  [[nodiscard]] constexpr irq_action unmask(const held_pair& p) noexcept {
    VIREO_ASSERT(enabled() && !held_);
    pair_ = p;
    held_ = true;
    if (is_level_trigger(trigger_)) return irq_action::check_level;
    if (!latched_) return irq_action::none;
    latched_ = false;
    return irq_action::fire;
  }

  /// The host saw an edge of kind `e` on the line. Disabled: ignored (GV11). Edge type: a
  /// matching edge fires when unmasked and latches when masked (GV8). Level type: check_level
  /// when unmasked, nothing when masked (GV9).
  [[nodiscard]] constexpr irq_action on_edge(edge e) noexcept {
    if (is_level_trigger(trigger_)) return held_ ? irq_action::check_level : irq_action::none;
    if (!edge_triggers(trigger_, e)) return irq_action::none;
    if (held_) return irq_action::fire;
    latched_ = true;
    return irq_action::none;
  }

  /// Take the pair to return it VALID; the line is masked again until the driver re-queues.
  /// Precondition: unmasked().
  [[nodiscard]] constexpr held_pair take_pair() noexcept {
    VIREO_ASSERT(held_);
    held_ = false;
    return pair_;
  }

  /// Forget a held pair without returning it (its queue was reset). The rest is kept.
  constexpr void drop_pair() noexcept { held_ = false; }

 private:
  [[nodiscard]] constexpr std::optional<held_pair> take_if_held() noexcept {
    if (!held_) return std::nullopt;
    held_ = false;
    return pair_;
  }

  held_pair pair_{};
  irq_type trigger_ = irq_type::none;
  bool held_ = false;
  bool latched_ = false;
};

}  // namespace gpio
VIREO_NAMESPACE_END
