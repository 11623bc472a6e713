// SPDX-License-Identifier: Apache-2.0
// The driver side (front-end) of virtio-gpio (virtio §5.18.6, §5.18.7): typed line requests, line
// names and interrupt subscription over a requestq and an eventq driver queue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/names.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/ring/driver_env.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/reclaim_rearmed.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// The answer to a request submitted with driver::submit().
struct reply {
  std::uint16_t gpio = 0;
  msg_type type = msg_type::get_direction;
  /// The checked value byte (a direction for GET_DIRECTION, a level for GET_VALUE, 0 for the SET_*
  /// messages), or why there is none: gpio_status_err (the device answered ERR), or the
  /// device's protocol fault (gpio_response_size, gpio_bad_status, gpio_bad_response_value).
  result<std::uint8_t> value{std::uint8_t{0}};

  /// The value typed by message. Precondition: type == M::type.
  template <short_reply_message M>
  [[nodiscard]] result<typename M::reply> as() const noexcept {
    VIREO_ASSERT(type == M::type);
    return detail::typed_reply<M>(value);
  }
};

/// What poll_events() reports: an interrupt on line `gpio` (error == errc{}), or an eventq pair
/// the device returned in breach of the protocol (error: gpio_response_size for a used length
/// other than 1, gpio_bad_status, or a memory error). Either way the pair is back with the
/// driver, so the line is masked: unmask() it once the interrupt is handled (§5.18.7.1).
struct irq_event {
  std::uint16_t gpio = 0;
  errc error{};
  [[nodiscard]] constexpr bool ok() const noexcept { return error == errc{}; }
  friend constexpr bool operator==(irq_event, irq_event) noexcept = default;
};

/// The front-end of one virtio-gpio device: owns `Queue` requestq (and the eventq with
/// VIRTIO_GPIO_F_IRQ), both configured and used by nobody else, and a region of guest memory for
/// the per-line request, response and eventq buffers and the names response. One request per line
/// is in flight at a time (as Linux does, with its per-line buffers); requests for different
/// lines may be in flight together (GD4). Up to MaxLines lines. No heap, no blocking: the
/// synchronous calls wait through the caller's driver_env, a bounded number of times.
/// What the front-end knows of a line (the direction it set or read, the interrupt it enabled,
/// whether its eventq pair is queued) keeps it from breaking the driver rules: no interrupt on
/// an output line (GD6), enable before unmask (GD10), disable before a type change (GD8), one pair
/// per line (GD11, GD12).
/// A device that misbehaves gets typed errors: a bad response fails its request, a bad eventq
/// response is an irq_event with an error (the front-end stays usable); a corrupt used ring
/// breaks the queue (broken(); then reset()).
template <guest_memory Memory, ring::driver_queue_api Queue, std::size_t MaxLines = 64>
class driver {
  static_assert(MaxLines >= 1 && MaxLines <= max_lines);

  /// Per line: request (8) at 0, response (2) at 8, eventq request (2) at 10 and response (1) at
  /// 12. Slot ngpio holds the GET_LINE_NAMES request; its response follows all the slots.
  static constexpr std::uint64_t slot_bytes = 16;
  static constexpr std::uint64_t response_at = 8;
  static constexpr std::uint64_t irq_request_at = 10;
  static constexpr std::uint64_t irq_response_at = 12;

 public:
  using memory_type = Memory;
  using queue_type = Queue;

  /// Guest memory for the per-line buffers of `ngpio` lines (plus the names request).
  [[nodiscard]] static constexpr std::uint64_t lines_region_size(std::uint16_t ngpio) noexcept {
    return (std::uint64_t{ngpio} + 1) * slot_bytes;
  }
  /// Guest memory for everything, the names response (1 + gpio_names_size bytes) included. A
  /// region of only lines_region_size() works too; get_line_names() then returns no_space.
  [[nodiscard]] static constexpr std::uint64_t region_size(const device_params& p) noexcept {
    return lines_region_size(p.ngpio) +
           (p.gpio_names_size != 0 ? 1 + std::uint64_t{p.gpio_names_size} : 0);
  }

  /// A front-end for the device whose config space is `cfg`, with `negotiated` the features of
  /// FEATURES_OK. `eventq` may be null without VIRTIO_GPIO_F_IRQ (the queue does not exist then,
  /// §5.18.2). Errors: gpio_no_lines (ngpio 0, as Linux refuses), gpio_lines_exceed_driver
  /// (ngpio above MaxLines), invalid_argument (F_IRQ negotiated but no eventq), queue_not_ready /
  /// queue_broken, and those of driver_region::check() (no_space: the region is smaller than
  /// lines_region_size()).
  [[nodiscard]] static result<driver> create(Memory& mem, Queue& requestq, Queue* eventq,
                                             ring::driver_region region, const wire::config& cfg,
                                             const feature_set& negotiated) noexcept {
    auto p = decode_config(cfg, negotiated);
    if (!p) return p.error();
    if (p->ngpio > MaxLines) return errc::gpio_lines_exceed_driver;
    if (p->irq && eventq == nullptr) return errc::invalid_argument;
    VIREO_TRY(check_ready(requestq));
    if (p->irq) VIREO_TRY(check_ready(*eventq));
    VIREO_TRY(region.check(mem, lines_region_size(p->ngpio)));
    return driver{mem, requestq, p->irq ? eventq : nullptr, region, *p};
  }

  /// The device as configured: ngpio, gpio_names_size, and whether interrupts were negotiated.
  [[nodiscard]] const device_params& params() const noexcept { return p_; }

  // ---- Requests, asynchronous -----------------------------------------------------------------

  /// Queue one request: GET_DIRECTION, SET_DIRECTION, GET_VALUE or SET_VALUE (SET_IRQ_TYPE goes
  /// through enable_irq() and disable_irq(), GET_LINE_NAMES through get_line_names(), which keep
  /// the front-end's state right). The request is checked as a device would (line in range,
  /// values valid), written into the line's buffers and added as an 8-byte device-readable
  /// buffer and a 2-byte device-writable one (GD1, GD2, GD3). Call flush() afterwards; poll()
  /// returns the reply.
  /// Errors: invalid_argument (SET_IRQ_TYPE, GET_LINE_NAMES), those of encode_request(),
  /// gpio_line_busy (the line's previous request is in flight or its reply not yet taken),
  /// gpio_line_irq_enabled (SET_DIRECTION to OUT or NONE while the line's interrupt is enabled:
  /// disable_irq() first, GD6, GD7), ring_full, queue_not_ready / queue_broken, memory errors.
  [[nodiscard]] result<void> submit(const request& r) noexcept {
    if (r.type() == msg_type::set_irq_type || r.type() == msg_type::get_line_names)
      return errc::invalid_argument;
    if (auto raw = encode_request(r, p_); !raw) return raw.error();  // range and value checks
    const line_state& l = lines_[r.gpio()];
    if (r.holds<set_direction_msg>() && r.as<set_direction_msg>().dir != direction::in &&
        l.trigger != irq_type::none)
      return errc::gpio_line_irq_enabled;
    return send(r.gpio(), r);
  }

  /// Should the device be notified of what was queued since the last call (§2.7.10)? For
  /// requestq (`queue` 0) or eventq (1).
  [[nodiscard]] bool needs_kick(queue which) noexcept {
    if (which == queue::eventq) return eq_ != nullptr && eq_->needs_kick();
    return rq_->needs_kick();
  }
  /// Notify the device through `env` of each queue that needs it.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  void flush(Env&& env) noexcept {
    if (rq_->needs_kick()) env.kick(static_cast<std::uint16_t>(queue::requestq));
    if (eq_ != nullptr && eq_->needs_kick()) env.kick(static_cast<std::uint16_t>(queue::eventq));
  }

  /// Take back what the device answered on requestq and return one reply of a submit()ted
  /// request, or nullopt when none is waiting.
  /// Errors: what the queue's reclaim() reports (a corrupt used ring: the queue is broken, see
  /// reset()), used_id_not_in_flight (a buffer this front-end did not queue came back).
  [[nodiscard]] result<std::optional<reply>> poll() noexcept {
    if (auto r = take_any()) return r;
    VIREO_TRY(collect());
    return take_any();
  }

  // ---- Requests, synchronous ------------------------------------------------------------------
  // Each sends one request, notifies the device and waits for the line's reply through `env`
  // (up to max_waits calls of env.wait()). Errors: those of submit() and poll(), the reply's
  // error (gpio_status_err when the device answered ERR), gpio_timeout (the request stays with
  // the device; the line is busy until its buffers come back, and the reply is then dropped).

  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<direction> get_direction(std::uint16_t gpio, Env&& env,
                                                std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    return typed<get_direction_msg>(get_direction_msg{gpio}, env, max_waits);
  }
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> set_direction(std::uint16_t gpio, direction dir, Env&& env,
                                           std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    return typed<set_direction_msg>(set_direction_msg{gpio, dir}, env, max_waits);
  }
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<level> get_value(std::uint16_t gpio, Env&& env,
                                        std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    return typed<get_value_msg>(get_value_msg{gpio}, env, max_waits);
  }
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> set_value(std::uint16_t gpio, level v, Env&& env,
                                       std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    return typed<set_value_msg>(set_value_msg{gpio, v}, env, max_waits);
  }

  /// Make line `gpio` an output driving `v`: SET_VALUE, then SET_DIRECTION(OUT), so the line
  /// never drives a stale level (§5.18.6.3: the driver should set the value first; Linux's
  /// direction_output does the same). Errors: as set_value(); gpio_line_irq_enabled before
  /// anything is sent when the line's interrupt is enabled (GD6).
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> direction_output(std::uint16_t gpio, level v, Env&& env,
                                              std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    if (gpio < p_.ngpio && lines_[gpio].trigger != irq_type::none)
      return errc::gpio_line_irq_enabled;
    VIREO_TRY(set_value(gpio, v, env, max_waits));
    return set_direction(gpio, direction::out, env, max_waits);
  }

  /// Read the line names (GET_LINE_NAMES, §5.18.6.1) into `out`, which must hold
  /// names_buffer_size() bytes, and view them: `out` holds the response (status byte, then the
  /// blob), and the names_view points into it. The blob is checked (exactly ngpio NUL-terminated
  /// 7-bit ASCII names; see parse_names()); uniqueness is left to check_unique().
  /// Errors: gpio_names_unsupported (gpio_names_size 0), gpio_names_too_large (1 +
  /// gpio_names_size does not fit a descriptor), no_space (`out` or the region too small for
  /// the response), gpio_line_busy (a names request is still with the device), those of
  /// decode_names_response() (gpio_response_size, gpio_status_err, gpio_bad_status,
  /// gpio_names_truncated, gpio_names_trailing, gpio_name_invalid), gpio_timeout, and queue
  /// and memory errors.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<names_view> get_line_names(bytes out, Env&& env,
                                                  std::uint32_t max_waits =
                                                      ring::default_max_waits) noexcept {
    if (p_.gpio_names_size == 0) return errc::gpio_names_unsupported;
    const std::uint64_t need = names_buffer_size();
    if (need > UINT32_MAX) return errc::gpio_names_too_large;
    if (out.size() < need || region_.size() < region_size(p_)) return errc::no_space;
    VIREO_TRY(send(p_.ngpio, request{get_line_names_msg{}}));
    flush(env);
    VIREO_TRY(wait_for(p_.ngpio, env, max_waits));
    // The used length is at most the buffer's length (the queue checked it): it fits `out`.
    const std::size_t used = lines_[p_.ngpio].used_len;
    VIREO_TRY(mem_->read(names_at(), out.first(used)));
    return decode_names_response(out.first(used), p_);
  }
  /// Bytes get_line_names() needs: 1 + gpio_names_size (0 when the device has no names).
  [[nodiscard]] std::uint64_t names_buffer_size() const noexcept {
    return p_.gpio_names_size != 0 ? 1 + std::uint64_t{p_.gpio_names_size} : 0;
  }

  // ---- Interrupts (§5.18.6.6, §5.18.7) --------------------------------------------------------

  /// Enable line `gpio`'s interrupt with trigger `t`, then unmask it by queuing the line's eventq
  /// pair (GD9, GD10: enable first). An interrupt enabled with another type is disabled first
  /// (GD8); enabling it again with the same type does nothing. Synchronous: waits for the
  /// SET_IRQ_TYPE reply(ies) through `env`, then notifies eventq.
  /// Errors: gpio_irq_not_negotiated (GD5), gpio_line_out_of_range, invalid_argument (t is none:
  /// use disable_irq()), gpio_bad_irq_type, gpio_irq_on_output (the front-end set or read the
  /// line as an output, GD6), gpio_line_busy, the SET_IRQ_TYPE reply's error (the interrupt is
  /// then left disabled), gpio_timeout, ring_full (enabled but not unmasked: unmask() later),
  /// queue and memory errors.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> enable_irq(std::uint16_t gpio, irq_type t, Env&& env,
                                        std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    VIREO_TRY(check_irq_line(gpio));
    if (t == irq_type::none) return errc::invalid_argument;
    if (!is_irq_type(static_cast<std::uint8_t>(t))) return errc::gpio_bad_irq_type;
    line_state& l = lines_[gpio];
    if (l.dir_known && l.dir == direction::out) return errc::gpio_irq_on_output;
    if (l.rq != phase::idle) return errc::gpio_line_busy;
    if (l.trigger == t) return ok();
    if (l.trigger != irq_type::none) {
      l.trigger = irq_type::none;  // events that race with the change are dropped
      VIREO_TRY(irq_type_sync(gpio, irq_type::none, env, max_waits));
    }
    VIREO_TRY(irq_type_sync(gpio, t, env, max_waits));
    l.trigger = t;
    // A pair still with the device (returned INVALID by the disable above, not yet reclaimed)
    // is re-queued by poll_events() when it comes back: never a second pair (GD12).
    if (l.queued) return ok();
    VIREO_TRY(queue_pair(gpio));
    flush(env);
    return ok();
  }

  /// Disable line `gpio`'s interrupt: SET_IRQ_TYPE(NONE) (GD7: the driver MUST when it is done
  /// with the line's interrupt). Events already on their way are dropped from now on; the
  /// device returns the line's pair INVALID (§5.18.7.3), and poll_events() takes it back.
  /// Nothing is sent when the interrupt is not enabled. Errors: gpio_irq_not_negotiated,
  /// gpio_line_out_of_range, gpio_line_busy, the reply's error, gpio_timeout, queue and memory
  /// errors (the front-end treats the interrupt as disabled in every case).
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> disable_irq(std::uint16_t gpio, Env&& env,
                                         std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    VIREO_TRY(check_irq_line(gpio));
    line_state& l = lines_[gpio];
    if (l.trigger == irq_type::none) return ok();
    if (l.rq != phase::idle) return errc::gpio_line_busy;
    l.trigger = irq_type::none;
    return irq_type_sync(gpio, irq_type::none, env, max_waits);
  }

  /// Unmask line `gpio` again after handling its interrupt: re-queue its eventq pair (§5.18.7.1:
  /// re-arm; for a level interrupt clear its source first, or it fires again at once) and notify
  /// eventq. Errors: gpio_irq_not_negotiated, gpio_line_out_of_range, gpio_irq_not_enabled
  /// (GD10: enable first), gpio_irq_unmasked (its pair is already queued: GD12), ring_full,
  /// queue and memory errors.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<void> unmask(std::uint16_t gpio, Env&& env) noexcept {
    VIREO_TRY(check_irq_line(gpio));
    const line_state& l = lines_[gpio];
    if (l.trigger == irq_type::none) return errc::gpio_irq_not_enabled;
    if (l.queued) return errc::gpio_irq_unmasked;
    VIREO_TRY(queue_pair(gpio));
    flush(env);
    return ok();
  }

  /// Take back eventq pairs and return the next event, or nullopt when none is waiting. The
  /// line is the one whose buffers came back, never what the device wrote (as Linux does); the
  /// used length must be exactly 1. A pair returned for a line whose interrupt is disabled is
  /// dropped; one returned INVALID while the interrupt is enabled (it was re-enabled meanwhile)
  /// is re-queued and the device notified through `env` (Linux's rules). At most ngpio pairs
  /// are taken per call, so a device that bounces pairs cannot keep it busy: call again later.
  /// Errors: gpio_irq_not_negotiated, what the eventq's reclaim() reports (a corrupt used
  /// ring), used_id_not_in_flight, and ring or memory errors re-queuing a pair.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<std::optional<irq_event>> poll_events(Env&& env) noexcept {
    if (eq_ == nullptr) return errc::gpio_irq_not_negotiated;
    auto e = next_event();
    flush(env);
    return e;
  }

  /// Whether line `gpio`'s interrupt is enabled, and with which type (none: disabled).
  [[nodiscard]] irq_type irq_trigger(std::uint16_t gpio) const noexcept {
    return gpio < p_.ngpio ? lines_[gpio].trigger : irq_type::none;
  }
  /// Whether line `gpio`'s eventq pair is with the device (the line is unmasked).
  [[nodiscard]] bool irq_unmasked(std::uint16_t gpio) const noexcept {
    return gpio < p_.ngpio && lines_[gpio].queued;
  }
  /// The direction the front-end last set or read for line `gpio`, if any.
  [[nodiscard]] std::optional<direction> known_direction(std::uint16_t gpio) const noexcept {
    if (gpio >= p_.ngpio || !lines_[gpio].dir_known) return std::nullopt;
    return lines_[gpio].dir;
  }

  /// A queue broke on a corrupt used ring; nothing completes any more until reset().
  [[nodiscard]] bool broken() const noexcept {
    return rq_->broken() || (eq_ != nullptr && eq_->broken());
  }
  /// After a device reset, or once a queue broke: reset both queues and forget every request,
  /// every queued pair and what the front-end knew of the lines (the device forgot them too).
  /// Configure the queues again (as part of the device's re-initialisation) before using it.
  void reset() noexcept {
    reset_queue(*rq_);
    if (eq_ != nullptr) reset_queue(*eq_);
    for (line_state& l : lines_) l = line_state{};
  }

 private:
  // The message types, renamed where the driver's own member functions take their names.
  using get_direction_msg = gpio::get_direction;
  using set_direction_msg = gpio::set_direction;
  using get_value_msg = gpio::get_value;
  using set_value_msg = gpio::set_value;
  using get_line_names_msg = gpio::get_line_names;

  enum class phase : std::uint8_t { idle, in_flight, answered };
  struct line_state {
    phase rq = phase::idle;
    bool abandoned = false;          ///< its synchronous caller gave up: drop the reply
    request sent{get_line_names_msg{}};  ///< the request in flight or answered
    std::uint32_t used_len = 0;
    result<std::uint8_t> value{std::uint8_t{0}};
    direction dir = direction::none;
    bool dir_known = false;
    irq_type trigger = irq_type::none;  ///< the enabled type; none: disabled
    bool queued = false;                ///< the eventq pair is with the device (unmasked)
  };

  driver(Memory& mem, Queue& rq, Queue* eq, ring::driver_region region,
         const device_params& p) noexcept
      : mem_(&mem), rq_(&rq), eq_(eq), region_(region), p_(p) {}

  [[nodiscard]] static result<void> check_ready(const Queue& q) noexcept {
    if (!q.ready()) return q.broken() ? errc::queue_broken : errc::queue_not_ready;
    return ok();
  }
  static void reset_queue(Queue& q) noexcept {
    q.reset();
    while (q.detach_unused()) {
    }  // each in-flight buffer once: bounded by the queue size
  }
  [[nodiscard]] result<void> check_irq_line(std::uint16_t gpio) const noexcept {
    if (eq_ == nullptr) return errc::gpio_irq_not_negotiated;  // GD5
    if (gpio >= p_.ngpio) return errc::gpio_line_out_of_range;
    return ok();
  }

  [[nodiscard]] gpa slot_at(std::size_t slot, std::uint64_t offset) const noexcept {
    return region_.at(slot * slot_bytes + offset);  // slot <= ngpio: inside lines_region_size
  }
  [[nodiscard]] gpa names_at() const noexcept {
    return region_.at(lines_region_size(p_.ngpio));
  }

  /// Write request `r` into slot `slot` and queue it with its response buffer.
  [[nodiscard]] result<void> send(std::size_t slot, const request& r) noexcept {
    line_state& l = lines_[slot];
    if (l.rq != phase::idle) return errc::gpio_line_busy;
    if (!rq_->ready()) return rq_->broken() ? errc::queue_broken : errc::queue_not_ready;
    auto raw = encode_request(r, p_);
    if (!raw) return raw.error();
    const bool names = r.type() == msg_type::get_line_names;
    const gpa req = slot_at(slot, 0);
    const gpa resp = names ? names_at() : slot_at(slot, response_at);
    // The response length is below 2^32: get_line_names() checked 1 + gpio_names_size.
    const auto resp_len = static_cast<std::uint32_t>(response_size(r.type(), p_.gpio_names_size));
    VIREO_TRY(mem_->write(req, as_bytes_of(*raw)));
    // A status of ERR until the device writes one, so a device that writes nothing cannot pass.
    const std::byte err{static_cast<std::uint8_t>(status::err)};
    VIREO_TRY(mem_->write(resp, const_bytes{&err, 1}));
    const ring::buffer readable[] = {{req, sizeof(wire::request)}};
    const ring::buffer writable[] = {{resp, resp_len}};
    auto id = rq_->add(readable, writable, slot, ring::add_mode::automatic);
    if (!id) return id.error();
    l.rq = phase::in_flight;
    l.abandoned = false;
    l.sent = r;
    return ok();
  }

  [[nodiscard]] result<void> collect() noexcept {
    for (;;) {  // each reclaim retires one of this front-end's buffers: bounded
      auto u = ring::reclaim_rearmed(*rq_);
      if (!u) return u.error();
      if (!*u) return ok();
      VIREO_TRY(on_reply(**u));
    }
  }

  [[nodiscard]] result<void> on_reply(const ring::used_buffer& u) noexcept {
    if (u.user_data > p_.ngpio) return errc::used_id_not_in_flight;
    const auto slot = static_cast<std::size_t>(u.user_data);
    line_state& l = lines_[slot];
    if (l.rq != phase::in_flight) return errc::used_id_not_in_flight;
    l.used_len = u.len;  // at most the response buffer's length: the queue checked it
    if (l.sent.type() != msg_type::get_line_names) {
      // Read what the device wrote, once (at most the 2 response bytes), then decode the copy.
      std::array<std::byte, sizeof(wire::response)> resp{};
      const std::size_t n = u.len < resp.size() ? u.len : resp.size();
      auto got = mem_->read(slot_at(slot, response_at), bytes{resp.data(), n});
      l.value = got ? decode_response(l.sent.type(), const_bytes{resp.data(), n})
                    : result<std::uint8_t>{got.error()};
      track(l);
    }
    l.rq = l.abandoned ? phase::idle : phase::answered;
    return ok();
  }

  /// What a successful reply tells about the line's direction (for GD6).
  static void track(line_state& l) noexcept {
    if (!l.value) return;
    if (l.sent.template holds<set_direction_msg>()) {
      l.dir = l.sent.template as<set_direction_msg>().dir;
      l.dir_known = true;
    } else if (l.sent.template holds<get_direction_msg>()) {
      l.dir = static_cast<direction>(*l.value);  // checked by decode_response: 0..2
      l.dir_known = true;
    }
  }

  [[nodiscard]] std::optional<reply> take_any() noexcept {
    for (std::size_t k = 0; k < p_.ngpio; ++k) {
      const std::size_t i = (next_ + k) % p_.ngpio;  // round robin: no line starves
      line_state& l = lines_[i];
      if (l.rq != phase::answered) continue;
      l.rq = phase::idle;
      next_ = (i + 1) % p_.ngpio;
      return reply{static_cast<std::uint16_t>(i), l.sent.type(), l.value};
    }
    return std::nullopt;
  }

  /// Wait until slot `slot` is answered; it is idle again afterwards.
  template <typename Env>
  [[nodiscard]] result<void> wait_for(std::size_t slot, Env& env,
                                      std::uint32_t max_waits) noexcept {
    line_state& l = lines_[slot];
    for (std::uint32_t waited = 0;; ++waited) {
      if (auto c = collect(); !c) {
        l.abandoned = true;
        return c.error();
      }
      if (l.rq == phase::answered) {
        l.rq = phase::idle;
        return ok();
      }
      if (waited == max_waits) {
        l.abandoned = true;  // the device still owns the buffers; the reply will be dropped
        return errc::gpio_timeout;
      }
      env.wait();
    }
  }

  template <typename M, typename Env>
  [[nodiscard]] result<typename M::reply> typed(M m, Env& env, std::uint32_t max_waits) noexcept {
    VIREO_TRY(submit(request{m}));
    flush(env);
    VIREO_TRY(wait_for(m.gpio, env, max_waits));
    return detail::typed_reply<M>(lines_[m.gpio].value);
  }

  template <typename Env>
  [[nodiscard]] result<void> irq_type_sync(std::uint16_t gpio, irq_type t, Env& env,
                                           std::uint32_t max_waits) noexcept {
    const set_irq_type m{gpio, t};
    VIREO_TRY(send(gpio, request{m}));
    flush(env);
    VIREO_TRY(wait_for(gpio, env, max_waits));
    return detail::typed_reply<set_irq_type>(lines_[gpio].value);
  }

  /// Queue line `gpio`'s eventq pair (§5.18.7.1): a 2-byte device-readable request naming the
  /// line, a 1-byte device-writable response preset to a value no device may write.
  [[nodiscard]] result<void> queue_pair(std::uint16_t gpio) noexcept {
    auto raw = encode_irq_request(gpio, p_);
    if (!raw) return raw.error();
    const gpa req = slot_at(gpio, irq_request_at);
    const gpa resp = slot_at(gpio, irq_response_at);
    VIREO_TRY(mem_->write(req, as_bytes_of(*raw)));
    const std::byte unset{0xFF};
    VIREO_TRY(mem_->write(resp, const_bytes{&unset, 1}));
    const ring::buffer readable[] = {{req, sizeof(wire::irq_request)}};
    const ring::buffer writable[] = {{resp, sizeof(wire::irq_response)}};
    auto id = eq_->add(readable, writable, gpio, ring::add_mode::automatic);
    if (!id) return id.error();
    lines_[gpio].queued = true;
    return ok();
  }

  [[nodiscard]] result<std::optional<irq_event>> next_event() noexcept {
    for (std::uint32_t budget = p_.ngpio; budget > 0; --budget) {
      auto u = ring::reclaim_rearmed(*eq_);
      if (!u) return u.error();
      if (!*u) return std::optional<irq_event>{};
      // The line is the buffer's, as this front-end queued it: nothing the device wrote.
      if ((*u)->user_data >= p_.ngpio || !lines_[(*u)->user_data].queued)
        return errc::used_id_not_in_flight;
      const auto gpio = static_cast<std::uint16_t>((*u)->user_data);
      line_state& l = lines_[gpio];
      l.queued = false;  // the pair is back: the line is masked
      if ((*u)->len != sizeof(wire::irq_response)) return irq_event{gpio, errc::gpio_response_size};
      std::byte b{};
      if (auto r = mem_->read(slot_at(gpio, irq_response_at), bytes{&b, 1}); !r)
        return irq_event{gpio, r.error()};
      auto st = decode_irq_response(const_bytes{&b, 1});
      if (!st) return irq_event{gpio, st.error()};
      if (l.trigger == irq_type::none) continue;  // disabled meanwhile: nothing to report
      if (*st == irq_status::invalid) {
        // Returned because of an earlier disable, but enabled again since: re-arm.
        VIREO_TRY(queue_pair(gpio));
        continue;
      }
      return irq_event{gpio, errc{}};
    }
    return std::optional<irq_event>{};
  }

  Memory* mem_;
  Queue* rq_;
  Queue* eq_;
  ring::driver_region region_;
  device_params p_;
  std::size_t next_ = 0;
  std::array<line_state, MaxLines + 1> lines_{};
};

}  // namespace gpio
VIREO_NAMESPACE_END
