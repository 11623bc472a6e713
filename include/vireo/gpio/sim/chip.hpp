// SPDX-License-Identifier: Apache-2.0
// A simulated GPIO chip that models gpio::host_chip: named lines, input levels a test sets,
// output-to-input wires, watched edges in a bounded FIFO, and per-line fault injection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vireo/core/result.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/names.hpp"
#include "vireo/gpio/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio::sim {

/// A chip of up to MaxLines lines with an event FIFO of EventCapacity entries. Per line it keeps
/// the direction, the level it drives, the level outside drives on it (set_input(), or a wire
/// from an output), what watch() asked for, and whether its operations fail.
///
/// The level a line senses (get_value) is the level it drives when it is an output and the
/// outside level otherwise. Whenever the sensed level of a watched line changes, the edge is
/// queued if the watch wants it: the requested edges for an edge type, both edges for a level
/// type (host_chip contract). A full FIFO drops the new event and counts it in overflows(), as a
/// kernel event FIFO does. Freestanding: fixed arrays, no heap; one thread at a time.
template <std::size_t MaxLines = 64, std::size_t EventCapacity = 64>
class chip {
  static_assert(MaxLines <= max_lines, "ngpio is a le16 (§5.18.4)");
  static_assert(EventCapacity > 0);

 public:
  static constexpr std::uint16_t no_line = 0xffff;

  /// `count` lines (0 is allowed, so a test can build a device the model refuses), unnamed,
  /// released (direction none), driving and sensing low. Precondition: count <= MaxLines.
  constexpr explicit chip(std::uint16_t count) noexcept : count_(count) {
    VIREO_ASSERT(count <= MaxLines);
  }

  // --- host_chip ------------------------------------------------------------------------------

  [[nodiscard]] constexpr std::uint16_t line_count() const noexcept { return count_; }
  /// The line's name ("" when unnamed or out of range).
  [[nodiscard]] constexpr std::string_view line_name(std::uint16_t line) const noexcept {
    return line < count_ ? lines_[line].name : std::string_view{};
  }

  /// Release the line (none), make it an input (in), or drive `initial` from the start (out).
  /// Errors: gpio_line_out_of_range, gpio_line_fault (injected), invalid_argument (d outside the
  /// enum).
  [[nodiscard]] constexpr result<void> set_direction(std::uint16_t line, direction d,
                                                     level initial) noexcept {
    VIREO_TRY(check(line));
    if (d != direction::none && d != direction::in && d != direction::out)
      return errc::invalid_argument;
    line_state& l = lines_[line];
    const level before = sensed(l);
    l.dir = d;
    if (d == direction::out) l.driven = initial;
    changed(line, before);
    if (d == direction::out) drive_wire(line);
    return ok();
  }

  /// Drive an output. Errors: gpio_line_out_of_range, gpio_line_fault, invalid_argument (the
  /// line is not an output: the device model keeps such values itself, §5.18.6.5).
  [[nodiscard]] constexpr result<void> set_value(std::uint16_t line, level v) noexcept {
    VIREO_TRY(check(line));
    line_state& l = lines_[line];
    if (l.dir != direction::out) return errc::invalid_argument;
    const level before = sensed(l);
    l.driven = v;
    changed(line, before);
    drive_wire(line);
    return ok();
  }

  /// The level the line senses now. Errors: gpio_line_out_of_range, gpio_line_fault.
  [[nodiscard]] constexpr result<level> get_value(std::uint16_t line) noexcept {
    VIREO_TRY(check(line));
    return sensed(lines_[line]);
  }

  /// Report the line's edges from now on (t an edge or level type) or stop (none). Events
  /// already queued stay queued. Errors: gpio_line_out_of_range, gpio_line_fault,
  /// gpio_bad_irq_type (t outside the enum), invalid_argument (watching an output).
  [[nodiscard]] constexpr result<void> watch(std::uint16_t line, irq_type t) noexcept {
    VIREO_TRY(check(line));
    switch (t) {
      case irq_type::none:
      case irq_type::edge_rising:
      case irq_type::edge_falling:
      case irq_type::edge_both:
      case irq_type::level_high:
      case irq_type::level_low:
        break;
      default:
        return errc::gpio_bad_irq_type;
    }
    if (t != irq_type::none && lines_[line].dir == direction::out) return errc::invalid_argument;
    lines_[line].watch = t;
    return ok();
  }

  /// The oldest queued event, if any.
  [[nodiscard]] constexpr std::optional<line_event> next_event() noexcept {
    if (queued_ == 0) return std::nullopt;
    const line_event e = fifo_[head_];
    head_ = (head_ + 1) % EventCapacity;
    --queued_;
    return e;
  }

  // --- Test side ------------------------------------------------------------------------------

  /// Name line `line`; the view must outlive the chip. Precondition: line < line_count().
  constexpr void set_name(std::uint16_t line, std::string_view name) noexcept {
    VIREO_ASSERT(line < count_);
    lines_[line].name = name;
  }

  /// Set the level the outside drives on `line`. Sensed at once unless the line is an output;
  /// a change of a watched line queues an edge. Precondition: line < line_count().
  constexpr void set_input(std::uint16_t line, level v) noexcept {
    VIREO_ASSERT(line < count_);
    line_state& l = lines_[line];
    const level before = sensed(l);
    l.input = v;
    changed(line, before);
  }

  /// Wire output `from` to `to`: from now on the level `from` drives (while it is an output) is
  /// the outside level of `to`. A line drives at most one wire; connecting again replaces it.
  /// If `from` is already an output, `to` follows it at once.
  /// Errors: gpio_line_out_of_range, invalid_argument (from == to).
  [[nodiscard]] constexpr result<void> connect(std::uint16_t from, std::uint16_t to) noexcept {
    if (from >= count_ || to >= count_) return errc::gpio_line_out_of_range;
    if (from == to) return errc::invalid_argument;
    lines_[from].wire = to;
    if (lines_[from].dir == direction::out) drive_wire(from);
    return ok();
  }
  /// Remove the wire from `from` (the other line keeps its last level).
  constexpr void disconnect(std::uint16_t from) noexcept {
    if (from < count_) lines_[from].wire = no_line;
  }

  /// Make every operation on `line` fail with gpio_line_fault (on = false heals it).
  constexpr void inject_fault(std::uint16_t line, bool on = true) noexcept {
    if (line < count_) lines_[line].faulty = on;
  }

  /// The line's state as the chip sees it. Precondition: line < line_count().
  [[nodiscard]] constexpr direction line_direction(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < count_);
    return lines_[line].dir;
  }
  [[nodiscard]] constexpr level driven(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < count_);
    return lines_[line].driven;
  }
  [[nodiscard]] constexpr level input(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < count_);
    return lines_[line].input;
  }
  [[nodiscard]] constexpr level sensed(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < count_);
    return sensed(lines_[line]);
  }
  [[nodiscard]] constexpr irq_type watched(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < count_);
    return lines_[line].watch;
  }

  /// Events queued and not yet taken.
  [[nodiscard]] constexpr std::size_t pending_events() const noexcept { return queued_; }
  /// Events dropped because the FIFO was full.
  [[nodiscard]] constexpr std::uint64_t overflows() const noexcept { return overflows_; }
  /// Drop every queued event.
  constexpr void clear_events() noexcept { head_ = queued_ = 0; }

 private:
  struct line_state {
    std::string_view name{};
    direction dir = direction::none;
    level driven = level::low;
    level input = level::low;
    irq_type watch = irq_type::none;
    std::uint16_t wire = no_line;
    bool faulty = false;
  };

  [[nodiscard]] constexpr result<void> check(std::uint16_t line) const noexcept {
    if (line >= count_) return errc::gpio_line_out_of_range;
    if (lines_[line].faulty) return errc::gpio_line_fault;
    return ok();
  }
  [[nodiscard]] static constexpr level sensed(const line_state& l) noexcept {
    return l.dir == direction::out ? l.driven : l.input;
  }

  /// Queue the edge from `before` to the line's sensed level, if there is one and it is watched.
  constexpr void changed(std::uint16_t line, level before) noexcept {
    const line_state& l = lines_[line];
    const level now = sensed(l);
    if (now == before || l.watch == irq_type::none) return;
    const edge e = now == level::high ? edge::rising : edge::falling;
    const bool wanted = l.watch == irq_type::edge_both || l.watch == irq_type::level_high ||
                        l.watch == irq_type::level_low ||
                        (l.watch == irq_type::edge_rising && e == edge::rising) ||
                        (l.watch == irq_type::edge_falling && e == edge::falling);
    if (wanted) push(line_event{line, e});
  }

  /// Carry an output's level down its wire. One hop: an input does not drive anything, so wires
  /// cannot form a loop.
  constexpr void drive_wire(std::uint16_t from) noexcept {
    const std::uint16_t to = lines_[from].wire;
    if (to == no_line) return;
    line_state& t = lines_[to];
    const level before = sensed(t);
    t.input = lines_[from].driven;
    changed(to, before);
  }

  constexpr void push(const line_event& e) noexcept {
    if (queued_ == EventCapacity) {
      ++overflows_;
      return;
    }
    fifo_[(head_ + queued_) % EventCapacity] = e;
    ++queued_;
  }

  std::array<line_state, MaxLines> lines_{};
  std::array<line_event, EventCapacity> fifo_{};
  std::size_t head_ = 0;
  std::size_t queued_ = 0;
  std::uint64_t overflows_ = 0;
  std::uint16_t count_ = 0;
};

static_assert(host_chip<chip<>>);

}  // namespace gpio::sim
VIREO_NAMESPACE_END
