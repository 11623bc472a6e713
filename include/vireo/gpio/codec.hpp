// SPDX-License-Identifier: Apache-2.0
// Typed encode and decode of virtio GPIO messages (virtio §5.18.4, §5.18.6, §5.18.7) for both
// sides: the device decodes requests and encodes responses, the driver the other way round.
// The device's per-request calls (read_request, decode_request, validate_request,
// encode_response) are always inlined: GCC 12 keeps them out of line otherwise, and a GET_VALUE
// served by gpio::device then takes 2.4 times as long (bench_devices, docs/benchmarks.md).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/names.hpp"
#include "vireo/gpio/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

// --- Where bytes come from and go to ---------------------------------------------------------

/// Something a message is read from: byte_reader (one host buffer) or chain::reader (the
/// device-readable part of a descriptor chain, any segmentation).
template <typename R>
concept byte_input = requires(std::remove_reference_t<R>& r, bytes out) {
  { r.remaining() } -> std::convertible_to<std::size_t>;
  { r.read(out) } -> std::same_as<result<void>>;
};

/// Something a message is written to: byte_writer or chain::writer (the device-writable part).
template <typename W>
concept byte_output = requires(std::remove_reference_t<W>& w, const_bytes in) {
  { w.remaining() } -> std::convertible_to<std::size_t>;
  { w.write(in) } -> std::same_as<result<void>>;
};

// --- Value ranges (§5.18.6) -------------------------------------------------------------------
// Whether a raw wire value names a member of the enum of the same name.

[[nodiscard]] constexpr bool is_msg_type(std::uint32_t v) noexcept { return v >= 1 && v <= 6; }
[[nodiscard]] constexpr bool is_direction(std::uint32_t v) noexcept { return v <= 2; }
[[nodiscard]] constexpr bool is_level(std::uint32_t v) noexcept { return v <= 1; }
/// 0, 1, 2, 3 (= 1 | 2), 4 and 8: the values are bit-like, so 5, 6, 7 and 9 and up are invalid.
[[nodiscard]] constexpr bool is_irq_type(std::uint32_t v) noexcept { return v <= 4 || v == 8; }
[[nodiscard]] constexpr bool is_status(std::uint32_t v) noexcept { return v <= 1; }
[[nodiscard]] constexpr bool is_irq_status(std::uint32_t v) noexcept { return v <= 1; }

// --- Device parameters and config space (§5.18.4) --------------------------------------------

/// What both sides agreed on: the config space and whether VIRTIO_GPIO_F_IRQ was negotiated.
/// The checks that depend on the device (line range, names, interrupts) take one of these.
struct device_params {
  std::uint16_t ngpio = 0;            ///< lines 0 .. ngpio - 1
  std::uint32_t gpio_names_size = 0;  ///< 0: GET_LINE_NAMES not supported
  bool irq = false;                   ///< VIRTIO_GPIO_F_IRQ negotiated: eventq and SET_IRQ_TYPE
  friend constexpr bool operator==(const device_params&, const device_params&) noexcept = default;
};

/// Number of virtqueues (§5.18.2): requestq, plus eventq with VIRTIO_GPIO_F_IRQ.
[[nodiscard]] constexpr std::uint16_t queue_count(const device_params& p) noexcept {
  return p.irq ? 2 : 1;
}

/// The config space a device exposes (§5.18.4): every field set, padding zero (GV2), and
/// gpio_names_size 0 when it has no names (GV3). Errors: gpio_no_lines (ngpio 0; Linux refuses
/// such a device at probe).
[[nodiscard]] constexpr result<wire::config> encode_config(const device_params& p) noexcept {
  if (p.ngpio == 0) return errc::gpio_no_lines;
  wire::config c{};
  c.ngpio.set(p.ngpio);
  c.padding[0] = c.padding[1] = 0;
  c.gpio_names_size.set(p.gpio_names_size);
  return c;
}

/// Driver side: read a device's config space, with the negotiated features. The padding is
/// ignored, as Linux does: it is reserved for future use, and a later revision may give it a
/// meaning. Errors: gpio_no_lines (as Linux's probe, which returns -EINVAL).
[[nodiscard]] constexpr result<device_params> decode_config(
    const wire::config& c, const feature_set& negotiated) noexcept {
  device_params p;
  p.ngpio = c.ngpio.get();
  p.gpio_names_size = c.gpio_names_size.get();
  p.irq = negotiated.has(feature::irq);
  if (p.ngpio == 0) return errc::gpio_no_lines;
  return p;
}

// --- Requests (§5.18.6) -----------------------------------------------------------------------

/// The messages, one type each. `type` is the wire value; `reply` is what the response carries
/// (void: a status only).
struct get_line_names {
  static constexpr msg_type type = msg_type::get_line_names;
  friend constexpr bool operator==(get_line_names, get_line_names) noexcept = default;
};
struct get_direction {
  static constexpr msg_type type = msg_type::get_direction;
  using reply = direction;
  std::uint16_t gpio = 0;
  friend constexpr bool operator==(get_direction, get_direction) noexcept = default;
};
struct set_direction {
  static constexpr msg_type type = msg_type::set_direction;
  using reply = void;
  std::uint16_t gpio = 0;
  direction dir = direction::none;
  friend constexpr bool operator==(set_direction, set_direction) noexcept = default;
};
struct get_value {
  static constexpr msg_type type = msg_type::get_value;
  using reply = level;
  std::uint16_t gpio = 0;
  friend constexpr bool operator==(get_value, get_value) noexcept = default;
};
struct set_value {
  static constexpr msg_type type = msg_type::set_value;
  using reply = void;
  std::uint16_t gpio = 0;
  level value = level::low;
  friend constexpr bool operator==(set_value, set_value) noexcept = default;
};
struct set_irq_type {
  static constexpr msg_type type = msg_type::set_irq_type;
  using reply = void;
  std::uint16_t gpio = 0;
  irq_type trigger = irq_type::none;
  friend constexpr bool operator==(set_irq_type, set_irq_type) noexcept = default;
};

/// The messages whose response is the 2-byte virtio_gpio_response.
template <typename M>
concept short_reply_message =
    std::same_as<M, get_direction> || std::same_as<M, set_direction> ||
    std::same_as<M, get_value> || std::same_as<M, set_value> || std::same_as<M, set_irq_type>;

/// A decoded request: exactly one of the six messages, held in 6 bytes. Built only from a
/// message, so its type is always one of them; its fields are as the message was built (the
/// decoder and encode_request() check the ranges).
class request {
 public:
  constexpr request(get_line_names) noexcept : type_(msg_type::get_line_names) {}
  constexpr request(get_direction m) noexcept : type_(m.type), gpio_(m.gpio) {}
  constexpr request(set_direction m) noexcept
      : type_(m.type), gpio_(m.gpio), arg_(static_cast<std::uint8_t>(m.dir)) {}
  constexpr request(get_value m) noexcept : type_(m.type), gpio_(m.gpio) {}
  constexpr request(set_value m) noexcept
      : type_(m.type), gpio_(m.gpio), arg_(static_cast<std::uint8_t>(m.value)) {}
  constexpr request(set_irq_type m) noexcept
      : type_(m.type), gpio_(m.gpio), arg_(static_cast<std::uint8_t>(m.trigger)) {}

  [[nodiscard]] constexpr msg_type type() const noexcept { return type_; }
  /// The line (0 for get_line_names).
  [[nodiscard]] constexpr std::uint16_t gpio() const noexcept { return gpio_; }

  template <typename M>
  [[nodiscard]] constexpr bool holds() const noexcept {
    return type_ == M::type;
  }
  /// The message. Precondition: holds<M>().
  template <typename M>
  [[nodiscard]] constexpr M as() const noexcept {
    VIREO_ASSERT(holds<M>());
    if constexpr (std::is_same_v<M, get_line_names>) return M{};
    else if constexpr (std::is_same_v<M, set_direction>) return M{gpio_, direction{arg_}};
    else if constexpr (std::is_same_v<M, set_value>) return M{gpio_, level{arg_}};
    else if constexpr (std::is_same_v<M, set_irq_type>) return M{gpio_, irq_type{arg_}};
    else return M{gpio_};
  }
  /// Call `f` with the message (one of the six types) and return what it returns.
  template <typename F>
  constexpr decltype(auto) visit(F&& f) const {
    switch (type_) {
      case msg_type::get_line_names: return f(as<get_line_names>());
      case msg_type::get_direction: return f(as<get_direction>());
      case msg_type::set_direction: return f(as<set_direction>());
      case msg_type::get_value: return f(as<get_value>());
      case msg_type::set_value: return f(as<set_value>());
      case msg_type::set_irq_type: break;
    }
    return f(as<set_irq_type>());
  }

  friend constexpr bool operator==(const request&, const request&) noexcept = default;

 private:
  msg_type type_;
  std::uint16_t gpio_ = 0;
  std::uint8_t arg_ = 0;  ///< direction, level or irq_type, by type_
};
static_assert(sizeof(request) <= 6 && std::is_trivially_copyable_v<request>);

/// The wire form of `r`, field by field, without checks (see encode_request()).
[[nodiscard]] constexpr wire::request to_wire(const request& r) noexcept {
  wire::request w{};
  w.type.set(static_cast<std::uint16_t>(r.type()));
  w.gpio.set(r.gpio());
  std::uint32_t value = 0;
  r.visit([&value](auto m) {
    using M = decltype(m);
    if constexpr (std::is_same_v<M, set_direction>) value = static_cast<std::uint8_t>(m.dir);
    else if constexpr (std::is_same_v<M, set_value>) value = static_cast<std::uint8_t>(m.value);
    else if constexpr (std::is_same_v<M, set_irq_type>)
      value = static_cast<std::uint8_t>(m.trigger);
  });
  w.value.set(value);
  return w;
}

/// Syntax check of a request that was copied out of guest memory: a known type, and a value in
/// range for it. Fields that the spec's tables fix at 0 must be 0: `value` of GET_DIRECTION and
/// GET_VALUE, and `gpio` and `value` of GET_LINE_NAMES (Linux always sends 0 there).
/// Errors: gpio_unknown_type, gpio_bad_direction, gpio_bad_value, gpio_bad_irq_type
/// (§5.18.6.2-6), gpio_reserved_nonzero. The type is checked first, then the value.
[[nodiscard]] VIREO_ALWAYS_INLINE constexpr result<request>
decode_request(const wire::request& raw) noexcept {
  const std::uint16_t type = raw.type.get();
  const std::uint16_t gpio = raw.gpio.get();
  const std::uint32_t value = raw.value.get();
  if (!is_msg_type(type)) return errc::gpio_unknown_type;
  switch (static_cast<msg_type>(type)) {
    case msg_type::get_line_names:
      if (gpio != 0 || value != 0) return errc::gpio_reserved_nonzero;
      return request{get_line_names{}};
    case msg_type::get_direction:
      if (value != 0) return errc::gpio_reserved_nonzero;
      return request{get_direction{gpio}};
    case msg_type::set_direction:
      if (!is_direction(value)) return errc::gpio_bad_direction;
      return request{set_direction{gpio, static_cast<direction>(value)}};
    case msg_type::get_value:
      if (value != 0) return errc::gpio_reserved_nonzero;
      return request{get_value{gpio}};
    case msg_type::set_value:
      if (!is_level(value)) return errc::gpio_bad_value;
      return request{set_value{gpio, static_cast<level>(value)}};
    case msg_type::set_irq_type:
      break;
  }
  if (!is_irq_type(value)) return errc::gpio_bad_irq_type;
  return request{set_irq_type{gpio, static_cast<irq_type>(value)}};
}

/// Check a well-formed request against the device: the line exists (§5.18.6: 0 <= gpio <
/// ngpio), SET_IRQ_TYPE only with VIRTIO_GPIO_F_IRQ (§5.18.6.6, a driver MUST NOT otherwise:
/// GD5), GET_LINE_NAMES only when the device has names (gpio_names_size != 0, §5.18.6.1).
/// Errors: gpio_irq_not_negotiated, gpio_line_out_of_range, gpio_names_unsupported.
[[nodiscard]] VIREO_ALWAYS_INLINE constexpr result<void> validate_request(const request& r,
                                                      const device_params& p) noexcept {
  switch (r.type()) {
    case msg_type::get_line_names:
      if (p.gpio_names_size == 0) return errc::gpio_names_unsupported;
      return ok();
    case msg_type::set_irq_type:
      if (!p.irq) return errc::gpio_irq_not_negotiated;
      break;
    default:
      break;
  }
  if (r.gpio() >= p.ngpio) return errc::gpio_line_out_of_range;
  return ok();
}

/// decode_request() then validate_request().
[[nodiscard]] VIREO_ALWAYS_INLINE constexpr result<request> decode_request(const wire::request& raw,
                                                       const device_params& p) noexcept {
  auto r = decode_request(raw);
  if (!r) return r;
  if (auto v = validate_request(*r, p); !v) return v.error();
  return r;
}

/// Copy a request out of the device-readable part of a chain, once (STYLE §2: decode the copy,
/// never the guest's bytes). The readable part must be exactly the 8 bytes of
/// virtio_gpio_request, however it is split into descriptors (§2.7.4.1: framing carries no
/// meaning). Shorter cannot be decoded; longer is a driver that disagrees on the protocol (the
/// June 2021 draft sent 5 bytes), so both are refused.
/// Errors: gpio_request_size, or the reader's memory error. Nothing is read on gpio_request_size.
template <byte_input R>
[[nodiscard]] VIREO_ALWAYS_INLINE result<wire::request> read_request(R&& src) noexcept {
  if (src.remaining() != sizeof(wire::request)) return errc::gpio_request_size;
  wire::request raw;
  VIREO_TRY(src.read(as_writable_bytes_of(raw)));
  return raw;
}

/// The device's whole decode: read_request(), decode_request(), validate_request(). On error,
/// answer with encode_error() (and if the error is not gpio_request_size, size the answer with
/// error_response_size(); read_request() and decode_request(raw, p) give the raw type).
template <byte_input R>
[[nodiscard]] result<request> decode_request(R&& src, const device_params& p) noexcept {
  auto raw = read_request(src);
  if (!raw) return raw.error();
  return decode_request(*raw, p);
}

/// decode_request() from one contiguous host buffer holding exactly the request.
[[nodiscard]] inline result<request> decode_request(const_bytes in,
                                                    const device_params& p) noexcept {
  return decode_request(byte_reader{in}, p);
}

// --- Responses, device side (§5.18.6) ---------------------------------------------------------

/// Bytes of the response to a `t` message: 2 (virtio_gpio_response), or 1 + gpio_names_size for
/// GET_LINE_NAMES (virtio_gpio_response_N, §5.18.6.1). This is the used length to report, and
/// the size of the writable buffer a driver queues: Linux checks the used length against it
/// exactly. 64 bits because 1 + gpio_names_size can reach 2^32.
[[nodiscard]] constexpr std::uint64_t response_size(msg_type t,
                                                    std::uint32_t gpio_names_size) noexcept {
  return t == msg_type::get_line_names ? 1 + std::uint64_t{gpio_names_size}
                                       : sizeof(wire::response);
}

/// The size of the error response to a request whose raw type field is `raw_type`: as
/// response_size() for a known type, 2 for an unknown one.
[[nodiscard]] constexpr std::uint64_t error_response_size(std::uint16_t raw_type,
                                                          std::uint32_t gpio_names_size) noexcept {
  return is_msg_type(raw_type) ? response_size(static_cast<msg_type>(raw_type), gpio_names_size)
                               : sizeof(wire::response);
}

namespace detail {

inline constexpr std::byte zeros[64]{};

/// Write `n` zero bytes.
template <typename W>
[[nodiscard]] result<void> write_zeros(W& w, std::uint64_t n) noexcept {
  while (n > 0) {
    const std::size_t piece = n < sizeof zeros ? static_cast<std::size_t>(n) : sizeof zeros;
    VIREO_TRY(w.write(const_bytes{zeros, piece}));
    n -= piece;
  }
  return ok();
}

}  // namespace detail

/// Write a 2-byte response (status, value) and return its size, the used length to report.
/// A writable part longer than 2 bytes is accepted and only its first 2 bytes are written: the
/// used length says how much is valid (§2.7.8.2), and that is what Linux checks. A shorter one
/// gets nothing: gpio_response_too_short (answer with encode_error() instead).
/// Errors: gpio_response_too_short, invalid_argument (st is not ok or err), the writer's memory
/// error (the bytes written are then unknown: complete the chain with used length 0).
template <byte_output W>
[[nodiscard]] VIREO_ALWAYS_INLINE result<std::uint32_t>
encode_response(W&& w, status st, std::uint8_t value) noexcept {
  if (!is_status(static_cast<std::uint8_t>(st))) return errc::invalid_argument;
  if (w.remaining() < sizeof(wire::response)) return errc::gpio_response_too_short;
  const wire::response r{static_cast<std::uint8_t>(st), value};
  VIREO_TRY(w.write(as_bytes_of(r)));
  return std::uint32_t{sizeof(wire::response)};
}

/// STATUS_OK with value 0: the reply to SET_DIRECTION, SET_VALUE and SET_IRQ_TYPE.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_ok(W&& w) noexcept {
  return encode_response(w, status::ok, 0);
}
/// STATUS_OK with the line's direction: the reply to GET_DIRECTION. Errors: invalid_argument
/// for a value outside the enum, and those of encode_response().
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_ok(W&& w, direction d) noexcept {
  if (!is_direction(static_cast<std::uint8_t>(d))) return errc::invalid_argument;
  return encode_response(w, status::ok, static_cast<std::uint8_t>(d));
}
/// STATUS_OK with the sensed level: the reply to GET_VALUE.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_ok(W&& w, level v) noexcept {
  if (!is_level(static_cast<std::uint8_t>(v))) return errc::invalid_argument;
  return encode_response(w, status::ok, static_cast<std::uint8_t>(v));
}

/// STATUS_OK followed by the names blob: the reply to GET_LINE_NAMES (§5.18.6.1), 1 +
/// blob.size() bytes (the blob's size is the config's gpio_names_size). The writable part must
/// hold all of it (the driver sizes it as 1 + gpio_names_size); more room is left unwritten.
/// Errors: gpio_response_too_short, gpio_names_too_large (a blob of 2^32 - 1 bytes or more),
/// the writer's memory error.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_names_response(W&& w, const_bytes blob) noexcept {
  if (blob.size() >= max_names_size) return errc::gpio_names_too_large;
  const std::size_t size = 1 + blob.size();  // < 2^32 by the check above
  if (w.remaining() < size) return errc::gpio_response_too_short;
  const wire::names_response_header h{static_cast<std::uint8_t>(status::ok)};
  VIREO_TRY(w.write(as_bytes_of(h)));
  VIREO_TRY(w.write(blob));
  return static_cast<std::uint32_t>(size);
}

/// STATUS_ERR, every other byte zero (GV1: all fields set), for a response of `size` bytes
/// (response_size() or error_response_size(); 2 when the request could not be read). When the
/// writable part is shorter, as much as fits is written: the status byte comes first, and
/// Linux checks the status before the length, so it still sees the failure.
/// Returns the bytes written (0 when there is no writable byte), the used length to report.
/// Errors: only the writer's memory error.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_error(W&& w, std::uint64_t size) noexcept {
  const std::uint64_t room = w.remaining();
  std::uint64_t n = size < room ? size : room;
  // A chain holds less than 2^32 bytes (§2.7.5.2); a host buffer might not.
  if (n > max_names_size) n = max_names_size;
  if (n == 0) return std::uint32_t{0};
  const std::byte err{static_cast<std::uint8_t>(status::err)};
  VIREO_TRY(w.write(const_bytes{&err, 1}));
  VIREO_TRY(detail::write_zeros(w, n - 1));
  return static_cast<std::uint32_t>(n);
}

// --- Requests and responses, driver side ------------------------------------------------------

/// Encode a request as the driver must send it: the same checks a device makes
/// (decode_request() and validate_request() against `p`), so a strict device accepts it; GD5
/// (no SET_IRQ_TYPE without VIRTIO_GPIO_F_IRQ) is enforced here. Queue it as one
/// device-readable buffer of exactly 8 bytes, then a device-writable buffer of
/// response_size(type, p.gpio_names_size) bytes (GD2, GD3).
/// Errors: those of decode_request() and validate_request().
[[nodiscard]] constexpr result<wire::request> encode_request(const request& r,
                                                             const device_params& p) noexcept {
  const wire::request raw = to_wire(r);
  auto back = decode_request(raw, p);
  if (!back) return back.error();
  return raw;
}

/// encode_request() into a writer; returns 8. Errors: as encode_request(), and no_space when
/// fewer than 8 bytes are left (nothing written then).
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_request(W&& w, const request& r,
                                                   const device_params& p) noexcept {
  auto raw = encode_request(r, p);
  if (!raw) return raw.error();
  if (w.remaining() < sizeof(wire::request)) return errc::no_space;
  VIREO_TRY(w.write(as_bytes_of(*raw)));
  return std::uint32_t{sizeof(wire::request)};
}

namespace detail {

/// Linux's order (_virtio_gpio_req): the status first, then the length. `st` and `v` are the
/// first two bytes of `used` bytes (each read only if present).
[[nodiscard]] constexpr result<std::uint8_t> check_short_reply(msg_type t, std::size_t used,
                                                               std::uint8_t st,
                                                               std::uint8_t v) noexcept {
  if (used == 0) return errc::gpio_response_size;
  if (st == static_cast<std::uint8_t>(status::err)) return errc::gpio_status_err;
  if (st != static_cast<std::uint8_t>(status::ok)) return errc::gpio_bad_status;
  if (used != sizeof(wire::response)) return errc::gpio_response_size;
  switch (t) {
    case msg_type::get_direction:
      if (!is_direction(v)) return errc::gpio_bad_response_value;
      break;
    case msg_type::get_value:
      if (!is_level(v)) return errc::gpio_bad_response_value;
      break;
    default:  // §5.18.6.3, .5, .6: the value of a SET_* reply is 0
      if (v != 0) return errc::gpio_bad_response_value;
      break;
  }
  return v;
}

template <typename M>
[[nodiscard]] constexpr result<typename M::reply> typed_reply(result<std::uint8_t> v) noexcept {
  if (!v) return v.error();
  if constexpr (std::is_void_v<typename M::reply>) return ok();
  else return static_cast<typename M::reply>(*v);
}

}  // namespace detail

/// Driver side: check the response to a message of type `t` (not GET_LINE_NAMES) and return its
/// value byte (0 for the SET_* messages). `used` is exactly what the device wrote: the first
/// used-length bytes of the response buffer. Checked in Linux's order: the status, then the
/// length (exactly 2), then the value (GET_DIRECTION 0..2, GET_VALUE 0..1, else 0).
/// Errors: gpio_response_size, gpio_status_err, gpio_bad_status, gpio_bad_response_value,
/// invalid_argument (t is GET_LINE_NAMES: use decode_names_response()).
[[nodiscard]] constexpr result<std::uint8_t> decode_response(msg_type t,
                                                             const_bytes used) noexcept {
  if (t == msg_type::get_line_names) return errc::invalid_argument;
  const auto st = used.size() > 0 ? static_cast<std::uint8_t>(used[0]) : std::uint8_t{0};
  const auto v = used.size() > 1 ? static_cast<std::uint8_t>(used[1]) : std::uint8_t{0};
  return detail::check_short_reply(t, used.size(), st, v);
}

/// decode_response() typed by message: direction for get_direction, level for get_value,
/// void (success) for the SET_* messages.
template <short_reply_message M>
[[nodiscard]] constexpr result<typename M::reply> decode_response(const_bytes used) noexcept {
  return detail::typed_reply<M>(decode_response(M::type, used));
}

/// decode_response() from a reader whose remaining() bytes are the used length (for example a
/// chain::reader built over the used part of the response buffer). Reads at most 2 bytes.
template <short_reply_message M, byte_input R>
[[nodiscard]] result<typename M::reply> decode_response(R&& src) noexcept {
  const std::size_t used = src.remaining();
  wire::response r{};
  const std::size_t n = used < sizeof r ? used : sizeof r;
  VIREO_TRY(src.read(bytes{reinterpret_cast<std::byte*>(&r), n}));
  return detail::typed_reply<M>(detail::check_short_reply(M::type, used, r.status, r.value));
}

/// Driver side: check a GET_LINE_NAMES response and view its names (zero-copy into `used`).
/// `used` is exactly what the device wrote. Checked in Linux's order: the status, then the
/// length (exactly 1 + gpio_names_size), then the blob (parse_names() for p.ngpio lines).
/// Copy the response out of memory the device can still write before calling this: the view
/// stays in bounds if the bytes change, but the names would not be the checked ones.
/// Errors: gpio_names_unsupported (p.gpio_names_size is 0: the message must not be sent),
/// gpio_response_size, gpio_status_err, gpio_bad_status, and those of parse_names().
[[nodiscard]] inline result<names_view> decode_names_response(const_bytes used,
                                                              const device_params& p) noexcept {
  if (p.gpio_names_size == 0) return errc::gpio_names_unsupported;
  if (used.empty()) return errc::gpio_response_size;
  const auto st = static_cast<std::uint8_t>(used[0]);
  if (st == static_cast<std::uint8_t>(status::err)) return errc::gpio_status_err;
  if (st != static_cast<std::uint8_t>(status::ok)) return errc::gpio_bad_status;
  if (used.size() != response_size(msg_type::get_line_names, p.gpio_names_size))
    return errc::gpio_response_size;
  return parse_names(used.subspan(1), p.ngpio);
}

// --- eventq (§5.18.7) -------------------------------------------------------------------------

/// A decoded eventq request: the line whose interrupt the driver unmasks.
struct irq_request {
  std::uint16_t gpio = 0;
  friend constexpr bool operator==(irq_request, irq_request) noexcept = default;
};

/// Device side: check an eventq request copied out of the chain. The eventq exists only with
/// VIRTIO_GPIO_F_IRQ (§5.18.2). Errors: gpio_irq_not_negotiated, gpio_line_out_of_range.
[[nodiscard]] constexpr result<irq_request> decode_irq_request(const wire::irq_request& raw,
                                                               const device_params& p) noexcept {
  if (!p.irq) return errc::gpio_irq_not_negotiated;
  const std::uint16_t gpio = raw.gpio.get();
  if (gpio >= p.ngpio) return errc::gpio_line_out_of_range;
  return irq_request{gpio};
}

/// Copy an eventq request out of the device-readable part: exactly the 2 bytes of
/// virtio_gpio_irq_request, however split. Errors: gpio_request_size, the reader's memory error.
template <byte_input R>
[[nodiscard]] result<wire::irq_request> read_irq_request(R&& src) noexcept {
  if (src.remaining() != sizeof(wire::irq_request)) return errc::gpio_request_size;
  wire::irq_request raw;
  VIREO_TRY(src.read(as_writable_bytes_of(raw)));
  return raw;
}

/// read_irq_request() then decode_irq_request(). A device answers a refused pair at once with
/// encode_irq_response(irq_status::invalid) rather than holding it (digest §4).
template <byte_input R>
[[nodiscard]] result<irq_request> decode_irq_request(R&& src, const device_params& p) noexcept {
  auto raw = read_irq_request(src);
  if (!raw) return raw.error();
  return decode_irq_request(*raw, p);
}

[[nodiscard]] inline result<irq_request> decode_irq_request(const_bytes in,
                                                            const device_params& p) noexcept {
  return decode_irq_request(byte_reader{in}, p);
}

/// Device side: write the 1-byte eventq response and return 1, the used length (Linux checks it
/// is exactly 1). VALID reports an interrupt (GV11), INVALID returns the pair unused (GV12,
/// GV13). More room is left unwritten. Errors: gpio_response_too_short (no writable byte),
/// invalid_argument (s outside the enum), the writer's memory error.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_irq_response(W&& w, irq_status s) noexcept {
  if (!is_irq_status(static_cast<std::uint8_t>(s))) return errc::invalid_argument;
  if (w.remaining() < sizeof(wire::irq_response)) return errc::gpio_response_too_short;
  const wire::irq_response r{static_cast<std::uint8_t>(s)};
  VIREO_TRY(w.write(as_bytes_of(r)));
  return std::uint32_t{sizeof(wire::irq_response)};
}

/// Driver side: the eventq request that unmasks line `gpio`. Queue it as a 2-byte
/// device-readable buffer followed by a 1-byte device-writable one, one pair per line (GD11,
/// GD12: the caller keeps at most one pair per line in flight).
/// Errors: gpio_irq_not_negotiated (GD5), gpio_line_out_of_range.
[[nodiscard]] constexpr result<wire::irq_request> encode_irq_request(
    std::uint16_t gpio, const device_params& p) noexcept {
  if (!p.irq) return errc::gpio_irq_not_negotiated;
  if (gpio >= p.ngpio) return errc::gpio_line_out_of_range;
  wire::irq_request r{};
  r.gpio.set(gpio);
  return r;
}

/// encode_irq_request() into a writer; returns 2. Errors: as encode_irq_request(), no_space.
template <byte_output W>
[[nodiscard]] result<std::uint32_t> encode_irq_request(W&& w, std::uint16_t gpio,
                                                       const device_params& p) noexcept {
  auto raw = encode_irq_request(gpio, p);
  if (!raw) return raw.error();
  if (w.remaining() < sizeof(wire::irq_request)) return errc::no_space;
  VIREO_TRY(w.write(as_bytes_of(*raw)));
  return std::uint32_t{sizeof(wire::irq_request)};
}

/// Driver side: check an eventq response. `used` is exactly what the device wrote, which must
/// be 1 byte (Linux: "irq with incorrect length"). Identify the line by which of your buffers
/// came back, not by anything the device wrote (as Linux does).
/// Errors: gpio_response_size, gpio_bad_status.
[[nodiscard]] constexpr result<irq_status> decode_irq_response(const_bytes used) noexcept {
  if (used.size() != sizeof(wire::irq_response)) return errc::gpio_response_size;
  const auto s = static_cast<std::uint8_t>(used[0]);
  if (!is_irq_status(s)) return errc::gpio_bad_status;
  return static_cast<irq_status>(s);
}

}  // namespace gpio
VIREO_NAMESPACE_END
