// SPDX-License-Identifier: Apache-2.0
// How a Greybus operation is described to the codec: protocol ids (greybus digest §5.2), the
// payload kinds (none, a fixed wire struct, a bounds-checked view of a variable layout), the
// operation descriptor each protocol header defines, and the two operations every connection
// protocol shares (§2: CPort Shutdown; Protocol Version for Control and SVC).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// CPort protocol numbers (§5.2; Linux enum greybus_protocol) of the protocols with codecs here.
enum class protocol_id : std::uint8_t {
  control = 0x00,
  gpio = 0x02,
  i2c = 0x03,
  uart = 0x04,
  pwm = 0x09,
  spi = 0x0b,
  svc = 0x14,
};

/// The payload of an operation message that carries none.
struct empty {
  friend constexpr bool operator==(empty, empty) noexcept { return true; }
};

/// A payload with a variable layout, held as a checked view of the received bytes (zero-copy).
/// `decode` checks the whole layout once; `size` and `encode_to` write it back.
template <typename P>
concept variable_payload = requires(const P& p, const_bytes in, bytes out) {
  { P::decode(in) } -> std::same_as<result<P>>;
  { p.size() } -> std::same_as<std::size_t>;
  { p.encode_to(out) } -> std::same_as<result<void>>;
};

/// A payload with one fixed layout: a wire struct whose sizeof is the exact payload length.
template <typename P>
concept fixed_payload = wire_type<P> && !variable_payload<P> && !std::is_same_v<P, empty>;

template <typename P>
concept payload = std::is_same_v<P, empty> || fixed_payload<P> || variable_payload<P>;

/// Decode a payload of kind P from exactly `in`. Fixed layouts and `empty` need the exact size
/// (Linux: a larger or smaller successful response is -EMSGSIZE, §1).
/// Errors: greybus_payload_too_short, greybus_payload_too_long, and those of P::decode.
template <payload P>
[[nodiscard]] inline result<P> decode_payload(const_bytes in) noexcept {
  if constexpr (std::is_same_v<P, empty>) {
    if (!in.empty()) return errc::greybus_payload_too_long;
    return empty{};
  } else if constexpr (variable_payload<P>) {
    return P::decode(in);
  } else {
    if (in.size() < sizeof(P)) return errc::greybus_payload_too_short;
    if (in.size() > sizeof(P)) return errc::greybus_payload_too_long;
    P v;
    std::memcpy(&v, in.data(), sizeof(P));
    return v;
  }
}

/// Bytes `p` takes on the wire.
template <payload P>
[[nodiscard]] constexpr std::size_t payload_size(const P& p) noexcept {
  if constexpr (std::is_same_v<P, empty>) {
    (void)p;
    return 0;
  } else if constexpr (variable_payload<P>) {
    return p.size();
  } else {
    (void)p;
    return sizeof(P);
  }
}

/// Write `p` into `out`, which must hold exactly payload_size(p) bytes. Errors: no_space.
template <payload P>
[[nodiscard]] inline result<void> encode_payload(const P& p, bytes out) noexcept {
  if (out.size() != payload_size(p)) return errc::no_space;
  if constexpr (std::is_same_v<P, empty>) {
    return ok();
  } else if constexpr (variable_payload<P>) {
    return p.encode_to(out);
  } else {
    std::memcpy(out.data(), &p, sizeof(P));
    return ok();
  }
}

/// Any number of bytes, kept as a view: Get Manifest, I2C and SPI Transfer responses. Which
/// length is right depends on the request (see the protocol headers).
struct byte_payload {
  const_bytes data{};

  [[nodiscard]] static result<byte_payload> decode(const_bytes in) noexcept {
    return byte_payload{in};
  }
  [[nodiscard]] std::size_t size() const noexcept { return data.size(); }
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (out.size() != data.size()) return errc::no_space;
    if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
    return ok();
  }
};
static_assert(variable_payload<byte_payload>);

/// An operation: its protocol, its type (0x00..0x7e) and its request and response payloads.
/// Each protocol header derives one struct per operation from this and adds `name`.
template <protocol_id Protocol, std::uint8_t Type, payload Request, payload Response>
struct operation {
  static_assert(Type < 0x7f, "greybus §1: 0x7f is Invalid, 0x80 the response bit");
  static constexpr protocol_id protocol = Protocol;
  static constexpr std::uint8_t type = Type;
  /// A unidirectional operation is sent with id 0 and never gets a response (§1).
  static constexpr bool unidirectional = false;
  using request = Request;
  using response = Response;
};

/// An operation without a response (GPIO IRQ Event, UART Receive Data, Control Mode Switch...).
/// `response` is `empty` only so generic code compiles; decode_response refuses it.
template <protocol_id Protocol, std::uint8_t Type, payload Request>
struct unidirectional_operation {
  static_assert(Type < 0x7f, "greybus §1: 0x7f is Invalid, 0x80 the response bit");
  static constexpr protocol_id protocol = Protocol;
  static constexpr std::uint8_t type = Type;
  static constexpr bool unidirectional = true;
  using request = Request;
  using response = empty;
};

/// The operations of one protocol, for dispatch over a type number (registry.hpp).
template <typename... Ops>
struct operation_list {};

// ---- Common operations (§2) ---------------------------------------------------------------------

/// struct gb_cport_shutdown_request (§2): the teardown phase (the spec says 1).
struct cport_shutdown_request {
  std::uint8_t phase;
};
static_assert(sizeof(cport_shutdown_request) == 1 && alignof(cport_shutdown_request) == 1,
              "greybus §2: cport shutdown request is u8 phase");
static_assert(offsetof(cport_shutdown_request, phase) == 0);

/// Protocol Version request and response (§2): {u8 major, u8 minor}. Control, SVC (and Bootrom)
/// only; the requester offers its highest version, the responder answers the one to use.
struct version_payload {
  std::uint8_t major;
  std::uint8_t minor;
};
static_assert(sizeof(version_payload) == 2 && alignof(version_payload) == 1,
              "greybus §2: version payload is u8 major, u8 minor");
static_assert(offsetof(version_payload, major) == 0 && offsetof(version_payload, minor) == 1);

/// CPort Shutdown, type 0x00 in every connection protocol (§2). AP only; empty response.
template <protocol_id P>
struct cport_shutdown : operation<P, 0x00, cport_shutdown_request, empty> {
  static constexpr std::string_view name = "cport_shutdown";
};

/// Protocol Version, type 0x01 (§2). Only Control and SVC list it; in the bridged-PHY protocols
/// 0x01 is reserved.
template <protocol_id P>
struct protocol_version : operation<P, 0x01, version_payload, version_payload> {
  static_assert(P == protocol_id::control || P == protocol_id::svc,
                "greybus §2: only Control and SVC keep the Version operation");
  static constexpr std::string_view name = "version";
};

}  // namespace greybus
VIREO_NAMESPACE_END
