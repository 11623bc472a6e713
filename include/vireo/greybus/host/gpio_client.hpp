// SPDX-License-Identifier: Apache-2.0
// A typed client of one Greybus GPIO connection (greybus digest §6.1; Linux
// drivers/staging/greybus/gpio.c is the AP-side model): every AP-initiated operation as a
// synchronous call through the host, line numbers checked against Line Count the way Linux
// checks them, and IRQ Events taken from the host's queue and checked.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "vireo/core/result.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/operation.hpp"
#include "vireo/greybus/operation_tracker.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::host {

/// What gpio_client::next_irq() found: an IRQ Event for line `which`, or none (pending false).
struct gpio_irq {
  bool pending = false;
  std::uint8_t which = 0;
  friend constexpr bool operator==(gpio_irq, gpio_irq) noexcept = default;
};

/// The GPIO controller on `cport` of a host (host::ap). Calls take the host's `progress` and a
/// timeout like ap::call(); each returns that call's errors too.
template <typename Host>
class gpio_client {
 public:
  /// A client for `cport`, which the host's manifest must give the GPIO protocol.
  /// Errors: greybus_protocol_mismatch (not enumerated, CPort absent or of another protocol).
  [[nodiscard]] static result<gpio_client> bind(Host& host, std::uint16_t cport) noexcept {
    const auto p = host.protocol_of(cport);
    if (!p || *p != static_cast<std::uint8_t>(protocol_id::gpio))
      return errc::greybus_protocol_mismatch;
    return gpio_client{host, cport};
  }

  [[nodiscard]] std::uint16_t cport() const noexcept { return cport_; }

  /// Line Count: the number of lines (the module answers lines - 1). Remembered: later calls
  /// refuse a line above it (greybus_index_out_of_range), as Linux keeps line_max.
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<std::uint16_t> line_count(Progress&& progress,
                                                 std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    auto r = host_->template call<gpio::line_count>(cport_, empty{}, progress, timeout_ms);
    VIREO_TRY(r);
    count_ = *r;
    return static_cast<std::uint16_t>(r->count + 1u);
  }

  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> activate(std::uint8_t which, Progress&& progress,
                                      std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return which_op<gpio::activate>(which, progress, timeout_ms);
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> deactivate(std::uint8_t which, Progress&& progress,
                                        std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return which_op<gpio::deactivate>(which, progress, timeout_ms);
  }
  /// Errors also: invalid_argument for a direction byte that is neither 0 nor 1.
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<gpio::direction> get_direction(std::uint8_t which, Progress&& progress,
                                                      std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    VIREO_TRY(check(which));
    auto r = host_->template call<gpio::get_direction>(cport_, gpio::which_request{which}, progress,
                                                       timeout_ms);
    VIREO_TRY(r);
    if (r->direction > 1) return errc::invalid_argument;  // Linux: any non-zero is input; be strict
    return static_cast<gpio::direction>(r->direction);
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> direction_in(std::uint8_t which, Progress&& progress,
                                          std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return which_op<gpio::direction_in>(which, progress, timeout_ms);
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> direction_out(std::uint8_t which, bool high, Progress&& progress,
                                           std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return value_op<gpio::direction_out>(which, high, progress, timeout_ms);
  }
  /// The level of line `which` (Linux reads any non-zero byte as high; so does this).
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<bool> get_value(std::uint8_t which, Progress&& progress,
                                       std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    VIREO_TRY(check(which));
    auto r = host_->template call<gpio::get_value>(cport_, gpio::which_request{which}, progress,
                                                   timeout_ms);
    VIREO_TRY(r);
    return r->value != 0;
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> set_value(std::uint8_t which, bool high, Progress&& progress,
                                       std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return value_op<gpio::set_value>(which, high, progress, timeout_ms);
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> set_debounce(std::uint8_t which, std::uint16_t usec, Progress&& progress,
                                          std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    VIREO_TRY(check(which));
    return done(host_->template call<gpio::set_debounce>(
        cport_, gpio::set_debounce_request{which, le16::from(usec)}, progress, timeout_ms));
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> set_irq_type(std::uint8_t which, gpio::irq_type type, Progress&& progress,
                                          std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    VIREO_TRY(check(which));
    return done(host_->template call<gpio::irq_type_op>(
        cport_, gpio::irq_type_request{which, static_cast<std::uint8_t>(type)}, progress,
        timeout_ms));
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> irq_mask(std::uint8_t which, Progress&& progress,
                                      std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return which_op<gpio::irq_mask>(which, progress, timeout_ms);
  }
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> irq_unmask(std::uint8_t which, Progress&& progress,
                                        std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return which_op<gpio::irq_unmask>(which, progress, timeout_ms);
  }

  /// The next IRQ Event the module sent on this connection: its line. Takes in what the
  /// transport holds first (ap::pump()). An event Linux would reject (a payload other than one
  /// byte, a line above Line Count) is dropped and counted in bad_events().
  /// Errors: the transport's.
  [[nodiscard]] result<gpio_irq> next_irq() noexcept {
    VIREO_TRY(host_->pump());
    while (const auto e = host_->next_request(cport_, gpio::irq_event::type)) {
      if (e->size != sizeof(gpio::which_request)) {
        ++bad_events_;
        continue;
      }
      const std::uint8_t which = static_cast<std::uint8_t>(e->payload[0]);
      if (!check(which)) {
        ++bad_events_;
        continue;
      }
      return gpio_irq{true, which};
    }
    return gpio_irq{};
  }
  [[nodiscard]] std::uint64_t bad_events() const noexcept { return bad_events_; }

 private:
  gpio_client(Host& h, std::uint16_t cport) noexcept : host_(&h), cport_(cport) {}

  /// Linux refuses a line above line_max before sending anything; before Line Count every
  /// line is let through (the module checks).
  [[nodiscard]] result<void> check(std::uint8_t which) const noexcept {
    if (!count_) return ok();
    return gpio::check_line(which, *count_);
  }
  template <typename R>
  [[nodiscard]] static result<void> done(const R& r) noexcept {
    if (!r) return r.error();
    return ok();
  }
  template <typename Op, typename Progress>
  [[nodiscard]] result<void> which_op(std::uint8_t which, Progress& progress,
                                      std::uint32_t timeout_ms) noexcept {
    VIREO_TRY(check(which));
    return done(host_->template call<Op>(cport_, gpio::which_request{which}, progress, timeout_ms));
  }
  template <typename Op, typename Progress>
  [[nodiscard]] result<void> value_op(std::uint8_t which, bool high, Progress& progress,
                                      std::uint32_t timeout_ms) noexcept {
    VIREO_TRY(check(which));
    return done(host_->template call<Op>(
        cport_, gpio::which_value_request{which, static_cast<std::uint8_t>(high ? 1 : 0)}, progress,
        timeout_ms));
  }

  Host* host_;
  std::uint16_t cport_;
  std::optional<gpio::line_count_response> count_{};
  std::uint64_t bad_events_ = 0;
};

}  // namespace greybus::host
VIREO_NAMESPACE_END
