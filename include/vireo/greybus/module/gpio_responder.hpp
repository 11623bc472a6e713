// SPDX-License-Identifier: Apache-2.0
// The module side of the Greybus GPIO protocol (greybus digest §6.1; spec bridged_phy.rst;
// Linux drivers/staging/greybus/gpio.c is the requester) over a host GPIO chip
// (gpio/host_chip.hpp): the same chip object a virtio-gpio device model can drive. Only the
// host lines the caller lists are visible: Greybus line i is host line lines[i].
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/irq_state.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/responder.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::module {

// Greybus and virtio-gpio number the IRQ types alike (§6.1; virtio §5.18.6.6), so a value
// checked against the Greybus set converts to the host chip's type by value.
static_assert(static_cast<std::uint8_t>(gpio::irq_type::edge_rising) ==
                  static_cast<std::uint8_t>(::vireo::gpio::irq_type::edge_rising) &&
              static_cast<std::uint8_t>(gpio::irq_type::edge_falling) ==
                  static_cast<std::uint8_t>(::vireo::gpio::irq_type::edge_falling) &&
              static_cast<std::uint8_t>(gpio::irq_type::edge_both) ==
                  static_cast<std::uint8_t>(::vireo::gpio::irq_type::edge_both) &&
              static_cast<std::uint8_t>(gpio::irq_type::level_high) ==
                  static_cast<std::uint8_t>(::vireo::gpio::irq_type::level_high) &&
              static_cast<std::uint8_t>(gpio::irq_type::level_low) ==
                  static_cast<std::uint8_t>(::vireo::gpio::irq_type::level_low));

/// Whether `t` is one of the IRQ Type values of §6.1 (0x00..0x04, 0x08); others are reserved.
[[nodiscard]] constexpr bool valid_irq_type(std::uint8_t t) noexcept {
  return t <= 0x04 || t == 0x08;
}

/// GPIO responder over `Chip`, exposing up to MaxLines host lines (Greybus allows 256).
///
/// Per line it keeps what the protocol needs and the chip does not: active (Activate /
/// Deactivate), the direction last set (Get Direction), the IRQ type, the mask, an edge latched
/// while masked, and the debounce time. Answers (bad `which`, bad values, malformed payloads and
/// unknown types: GB_OP_INVALID, the -EINVAL of Linux protocol handlers; a host chip failure:
/// GB_OP_UNKNOWN_ERROR, which is what Linux sends for -EIO):
///  - Line Count: lines - 1 (§6.1);
///  - Activate: marks the line claimed. Deactivate: releases it on the host (direction none,
///    interrupt off) and forgets its state. Linux calls them from gpio_chip request/free;
///    other operations do not require Activate (gpiolib reads directions before any request);
///  - Get Direction: 0 out, 1 in (§6.1; not virtio-gpio's values); a line never configured
///    reads as input (released lines are high impedance);
///  - Direction Output on a line with an IRQ type set: GB_OP_INVALID (gpiolib refuses outputs on
///    IRQ lines; the host chip refuses to watch outputs). Value bytes other than 0 / 1 and Set
///    on a line that is not an output: GB_OP_INVALID;
///  - Set Debounce: recorded (debounce_usec()); host_chip has no debounce call, and a simulated
///    line does not bounce;
///  - IRQ Type: a reserved value or a type on an output: GB_OP_INVALID. A type other than none
///    makes a never-configured line an input and watches it on the chip; none stops watching;
///  - IRQ Mask / Unmask: lines start masked (Linux irq_startup unmasks).
///
/// IRQ Event (module -> AP, unidirectional, id 0), built by next_outgoing() from the chip's
/// next_event() feed, oldest first. The module masks the line before sending (spec: the AP
/// unmasks it again; greybus gbsim does the same):
///  - edge types: a matching edge on an unmasked line is sent (and masks the line); on a masked
///    line it is latched, several collapsing into one, and sent when the AP unmasks;
///  - level types: a change on an unmasked line re-reads the level; an active level is sent.
///    Unmask re-reads it too, so a level still active after the AP's handler fires again;
///  - lines without an IRQ type, host lines not exposed, and edges of the other kind are dropped.
/// Note: Linux's gpio.c sends Mask / Unmask only from irq_bus_sync_unlock (request_irq,
/// enable_irq...), not from the level flow handler, so against a Linux AP a line reports once
/// until the AP re-enables it. That is the protocol as Linux runs it.
///
/// One consumer of the chip's events at a time: a chip shared with a virtio-gpio device model is
/// driven by one of them at a time (the event FIFO is the chip's).
template <::vireo::gpio::host_chip Chip, std::size_t MaxLines = 32>
class gpio_responder {
  static_assert(MaxLines >= 1 && MaxLines <= 256, "greybus §6.1: which is a u8");

 public:
  static constexpr protocol_id protocol = protocol_id::gpio;
  /// Bytes of an IRQ Event message.
  static constexpr std::size_t irq_event_size = header_size + sizeof(gpio::which_request);

  /// A responder for `chip` (referenced: it must outlive the responder) exposing `lines`
  /// (host line numbers; Greybus line i = lines[i]).
  /// Errors: invalid_argument (no line, more than MaxLines, a host line listed twice),
  /// gpio_line_out_of_range (a host line the chip does not have).
  [[nodiscard]] static result<gpio_responder> create(Chip& chip,
                                                     std::span<const std::uint16_t> lines) noexcept {
    if (lines.empty() || lines.size() > MaxLines) return errc::invalid_argument;
    gpio_responder r{chip};
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i] >= chip.line_count()) return errc::gpio_line_out_of_range;
      for (std::size_t j = 0; j < i; ++j)
        if (lines[j] == lines[i]) return errc::invalid_argument;
      r.lines_[i].host = lines[i];
    }
    r.count_ = lines.size();
    return r;
  }

  // ---- responder ----------------------------------------------------------------------------

  [[nodiscard]] result<std::size_t> handle(const message& m, bytes out) noexcept {
    switch (m.type()) {
      case gpio::cport_shutdown::type: return answer_cport_shutdown<protocol>(m, out);
      case gpio::line_count::type: {
        const auto req = decode_request<gpio::line_count>(m);
        if (!req) return reply_refused(m, req.error(), out);
        return reply<gpio::line_count>(m, max_line(), out);
      }
      case gpio::activate::type: return on_line<gpio::activate>(m, out, [&](line& l) {
          l.active = true;
          return ok();
        });
      case gpio::deactivate::type: return on_line<gpio::deactivate>(m, out, [&](line& l) {
          return release(l);
        });
      case gpio::get_direction::type: {
        const auto req = decode_request<gpio::get_direction>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line())) return reply_error(m, status::invalid, out);
        const gpio::get_direction_response r{
            static_cast<std::uint8_t>(lines_[req->which].dir)};
        return reply<gpio::get_direction>(m, r, out);
      }
      case gpio::direction_in::type: return on_line<gpio::direction_in>(m, out, [&](line& l) {
          return make_input(l);
        });
      case gpio::direction_out::type: {
        const auto req = decode_request<gpio::direction_out>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line()) || req->value > 1)
          return reply_error(m, status::invalid, out);
        line& l = lines_[req->which];
        if (l.irq != irq_none) return reply_error(m, status::invalid, out);
        const auto v = req->value != 0 ? ::vireo::gpio::level::high : ::vireo::gpio::level::low;
        if (const auto r = chip_->set_direction(l.host, ::vireo::gpio::direction::out, v); !r)
          return reply_error(m, host_status(r.error()), out);
        l.dir = gpio::direction::out;
        l.configured = true;
        return reply<gpio::direction_out>(m, empty{}, out);
      }
      case gpio::get_value::type: {
        const auto req = decode_request<gpio::get_value>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line())) return reply_error(m, status::invalid, out);
        const auto v = chip_->get_value(lines_[req->which].host);
        if (!v) return reply_error(m, host_status(v.error()), out);
        const gpio::get_value_response r{static_cast<std::uint8_t>(*v)};
        return reply<gpio::get_value>(m, r, out);
      }
      case gpio::set_value::type: {
        const auto req = decode_request<gpio::set_value>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line()) || req->value > 1)
          return reply_error(m, status::invalid, out);
        const line& l = lines_[req->which];
        if (l.dir != gpio::direction::out) return reply_error(m, status::invalid, out);
        const auto v = req->value != 0 ? ::vireo::gpio::level::high : ::vireo::gpio::level::low;
        if (const auto r = chip_->set_value(l.host, v); !r)
          return reply_error(m, host_status(r.error()), out);
        return reply<gpio::set_value>(m, empty{}, out);
      }
      case gpio::set_debounce::type: {
        const auto req = decode_request<gpio::set_debounce>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line())) return reply_error(m, status::invalid, out);
        lines_[req->which].debounce_usec = req->usec.get();
        return reply<gpio::set_debounce>(m, empty{}, out);
      }
      case gpio::irq_type_op::type: {
        const auto req = decode_request<gpio::irq_type_op>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (!gpio::check_line(req->which, max_line()) || !valid_irq_type(req->type))
          return reply_error(m, status::invalid, out);
        return finish<gpio::irq_type_op>(m, out, set_irq_type(lines_[req->which], req->type));
      }
      case gpio::irq_mask::type: return on_line<gpio::irq_mask>(m, out, [&](line& l) {
          l.masked = true;
          return ok();
        });
      case gpio::irq_unmask::type: return on_line<gpio::irq_unmask>(m, out, [&](line& l) {
          unmask(l);
          return ok();
        });
      default: return reply_error(m, status::invalid, out);
    }
  }

  /// The next IRQ Event, if one is due; nothing is consumed when `out` is below irq_event_size.
  [[nodiscard]] std::optional<std::size_t> next_outgoing(bytes out) noexcept {
    if (out.size() < irq_event_size) return std::nullopt;
    while (queued_ == 0) {
      const auto e = chip_->next_event();
      if (!e) return std::nullopt;
      on_host_event(*e);
    }
    const std::uint8_t which = fifo_[head_];
    head_ = (head_ + 1) % MaxLines;
    --queued_;
    lines_[which].queued = false;
    const auto n = encode_unidirectional<gpio::irq_event>(gpio::which_request{which}, out);
    VIREO_ASSERT(n.has_value());  // out holds irq_event_size bytes
    ++events_sent_;
    return *n;
  }

  /// A new connection starts from a clean protocol state.
  void connected() noexcept { reset_all(); }
  /// The connection closed: every line is released on the host (Linux frees its lines before
  /// disabling the connection; a hostile or crashed AP may not have).
  void disconnected() noexcept {
    for (std::size_t i = 0; i < count_; ++i) (void)release(lines_[i]);
    reset_all();
  }

  // ---- observers ----------------------------------------------------------------------------

  [[nodiscard]] std::size_t line_count() const noexcept { return count_; }
  /// Precondition for the per-line observers: which < line_count().
  [[nodiscard]] std::uint16_t host_line(std::uint8_t which) const noexcept {
    return at(which).host;
  }
  [[nodiscard]] bool active(std::uint8_t which) const noexcept { return at(which).active; }
  [[nodiscard]] gpio::direction direction(std::uint8_t which) const noexcept {
    return at(which).dir;
  }
  /// The IRQ type as a Greybus value (0 = none).
  [[nodiscard]] std::uint8_t irq_type(std::uint8_t which) const noexcept { return at(which).irq; }
  [[nodiscard]] bool masked(std::uint8_t which) const noexcept { return at(which).masked; }
  [[nodiscard]] std::uint16_t debounce_usec(std::uint8_t which) const noexcept {
    return at(which).debounce_usec;
  }
  /// IRQ Events sent, and host events that led to none (not exposed, no type, other edge).
  [[nodiscard]] std::uint64_t events_sent() const noexcept { return events_sent_; }
  [[nodiscard]] std::uint64_t events_ignored() const noexcept { return events_ignored_; }

 private:
  static constexpr std::uint8_t irq_none = 0;

  struct line {
    std::uint16_t host = 0;
    std::uint16_t debounce_usec = 0;
    gpio::direction dir = gpio::direction::in;
    std::uint8_t irq = irq_none;
    bool active = false;
    bool configured = false;  ///< set_direction was called on the host
    bool masked = true;
    bool latched = false;  ///< an edge arrived while masked
    bool queued = false;   ///< an IRQ Event for the line waits in fifo_
  };

  explicit gpio_responder(Chip& chip) noexcept : chip_(&chip) {}

  [[nodiscard]] const line& at(std::uint8_t which) const noexcept {
    VIREO_ASSERT(which < count_);
    return lines_[which];
  }
  [[nodiscard]] gpio::line_count_response max_line() const noexcept {
    return {static_cast<std::uint8_t>(count_ - 1)};
  }

  /// The status for a host chip failure: a refused value is the request's fault (-EINVAL),
  /// anything else the host's (-EIO -> GB_OP_UNKNOWN_ERROR, Linux gb_operation_errno_map).
  [[nodiscard]] static constexpr status host_status(errc e) noexcept {
    return e == errc::invalid_argument || e == errc::gpio_bad_irq_type ? status::invalid
                                                                        : status::unknown_error;
  }

  template <typename Op>
  [[nodiscard]] result<std::size_t> finish(const message& m, bytes out, result<void> r) noexcept {
    if (!r) return reply_error(m, host_status(r.error()), out);
    return reply<Op>(m, empty{}, out);
  }

  /// Decode Op's {which} request, check the line, run `f` on it (result<void>), answer empty.
  template <typename Op, typename F>
  [[nodiscard]] result<std::size_t> on_line(const message& m, bytes out, F&& f) noexcept {
    const auto req = decode_request<Op>(m);
    if (!req) return reply_refused(m, req.error(), out);
    if (!gpio::check_line(req->which, max_line())) return reply_error(m, status::invalid, out);
    return finish<Op>(m, out, f(lines_[req->which]));
  }

  [[nodiscard]] result<void> make_input(line& l) noexcept {
    VIREO_TRY(chip_->set_direction(l.host, ::vireo::gpio::direction::in,
                                   ::vireo::gpio::level::low));
    l.dir = gpio::direction::in;
    l.configured = true;
    return ok();
  }

  [[nodiscard]] result<void> set_irq_type(line& l, std::uint8_t t) noexcept {
    if (t != irq_none && l.dir == gpio::direction::out) return errc::invalid_argument;
    if (t != irq_none && !l.configured) VIREO_TRY(make_input(l));
    VIREO_TRY(chip_->watch(l.host, static_cast<::vireo::gpio::irq_type>(t)));
    l.irq = t;
    l.latched = false;
    return ok();
  }

  /// Deactivate: interrupt off, line released on the host, protocol state forgotten. Both host
  /// calls are made even if the first fails; the first failure is reported.
  [[nodiscard]] result<void> release(line& l) noexcept {
    result<void> r = ok();
    if (l.irq != irq_none) r = chip_->watch(l.host, ::vireo::gpio::irq_type::none);
    if (l.configured) {
      const auto d = chip_->set_direction(l.host, ::vireo::gpio::direction::none,
                                          ::vireo::gpio::level::low);
      if (r && !d) r = d;
    }
    const std::uint16_t host = l.host;
    const bool queued = l.queued;
    l = line{};
    l.host = host;
    l.queued = queued;  // an event already due is still sent (the AP discards it if unwanted)
    return r;
  }

  void reset_all() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      const std::uint16_t host = lines_[i].host;
      lines_[i] = line{};
      lines_[i].host = host;
    }
    head_ = queued_ = 0;
  }

  [[nodiscard]] ::vireo::gpio::irq_type host_type(const line& l) const noexcept {
    return static_cast<::vireo::gpio::irq_type>(l.irq);
  }

  /// Queue an IRQ Event for `l` and mask it (the module masks before sending, §6.1).
  void fire(line& l, std::uint8_t which) noexcept {
    l.masked = true;
    if (l.queued) return;  // one pending event already covers this one
    l.queued = true;
    fifo_[(head_ + queued_) % MaxLines] = which;
    ++queued_;
  }

  /// A level type: fire if the line's level is the active one now.
  void check_level(line& l, std::uint8_t which) noexcept {
    const auto v = chip_->get_value(l.host);
    if (v && ::vireo::gpio::level_active(host_type(l), *v)) fire(l, which);
  }

  void unmask(line& l) noexcept {
    l.masked = false;
    const auto which = static_cast<std::uint8_t>(&l - lines_.data());
    if (::vireo::gpio::is_level_trigger(host_type(l))) {
      check_level(l, which);
    } else if (l.latched) {
      l.latched = false;
      fire(l, which);
    }
  }

  void on_host_event(const ::vireo::gpio::line_event& e) noexcept {
    std::size_t i = 0;
    while (i < count_ && lines_[i].host != e.line) ++i;
    if (i == count_ || lines_[i].irq == irq_none) {
      ++events_ignored_;
      return;
    }
    line& l = lines_[i];
    const auto which = static_cast<std::uint8_t>(i);
    const auto t = host_type(l);
    if (::vireo::gpio::is_level_trigger(t)) {
      if (l.masked) return;  // re-read on unmask
      check_level(l, which);
      return;
    }
    if (!::vireo::gpio::edge_triggers(t, e.kind)) {
      ++events_ignored_;
      return;
    }
    if (l.masked) {
      l.latched = true;
      return;
    }
    fire(l, which);
  }

  Chip* chip_;
  std::array<line, MaxLines> lines_{};
  std::size_t count_ = 0;
  std::array<std::uint8_t, MaxLines> fifo_{};  ///< Greybus lines with an IRQ Event due
  std::size_t head_ = 0;
  std::size_t queued_ = 0;
  std::uint64_t events_sent_ = 0;
  std::uint64_t events_ignored_ = 0;
};

}  // namespace greybus::module
VIREO_NAMESPACE_END
