// SPDX-License-Identifier: Apache-2.0
// The Greybus operation header (greybus digest §1), status codes (§1.1), message encoding limits
// and the operation tables behind registry.hpp.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/registry.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::const_bytes;
using vireo::errc;

gb::header hdr(std::uint16_t size, std::uint16_t id, std::uint8_t type, std::uint8_t result = 0) {
  gb::header h{};
  h.size.set(size);
  h.operation_id.set(id);
  h.type = type;
  h.result = result;
  return h;
}

}  // namespace

TEST_CASE("greybus header: make_request_header / make_response_header lay out §1") {
  const gb::header q = gb::make_request_header(0x1234, 0x09, 2);
  std::array<std::byte, 8> out{};
  REQUIRE(gb::store_header(q, out).has_value());
  CHECK(out == std::array<std::byte, 8>{std::byte{0x0a}, std::byte{0}, std::byte{0x34},
                                        std::byte{0x12}, std::byte{0x09}, std::byte{0},
                                        std::byte{0}, std::byte{0}});
  const gb::header r = gb::make_response_header(0x1234, 0x09, 0x06, 0);
  CHECK(gb::is_response(r));
  CHECK(gb::operation_type(r) == 0x09);
  CHECK(r.type == 0x89);
  CHECK(r.size.get() == 8);
  CHECK(r.result == 0x06);
  CHECK_FALSE(gb::is_unidirectional(r));
  CHECK(gb::is_unidirectional(gb::make_request_header(0, 0x0e, 1)));
  CHECK(gb::store_header(q, {out.data(), 7}).error() == errc::no_space);
  CHECK(gb::load_header({out.data(), 7}).error() == errc::greybus_short_message);
}

TEST_CASE("greybus header: validate() applies the receive rules") {
  CHECK(gb::validate(hdr(8, 1, 0x02), 8).has_value());
  CHECK(gb::validate(hdr(7, 1, 0x02), 8).error() == errc::greybus_size_below_header);
  CHECK(gb::validate(hdr(0, 1, 0x02), 8).error() == errc::greybus_size_below_header);
  CHECK(gb::validate(hdr(9, 1, 0x02), 8).error() == errc::greybus_incomplete_message);
  CHECK(gb::validate(hdr(8, 1, 0x02), 10).has_value());
  CHECK(gb::validate(hdr(8, 1, 0x02), 10, {true}).error() == errc::greybus_trailing_bytes);
  CHECK(gb::validate(hdr(8, 0, 0x82), 8).error() == errc::greybus_response_id_zero);
  CHECK(gb::validate(hdr(8, 0, 0x0e), 8).has_value());  // unidirectional request
  CHECK(gb::validate(hdr(8, 1, 0x02, 1), 8).has_value());
  CHECK(gb::validate(hdr(8, 1, 0x02, 1), 8, {true}).error() ==
        errc::greybus_request_result_nonzero);
  CHECK(gb::validate(hdr(8, 1, 0x82, 1), 8, {true}).has_value());  // responses carry results
  // The largest size the field can hold, received in full.
  CHECK(gb::validate(hdr(0xffff, 1, 0x02), 0xffff).has_value());
}

TEST_CASE("greybus status: names of §1.1, reserved values, and the answer to a bad request") {
  CHECK(gb::status_name(gb::status::success) == "GB_OP_SUCCESS");
  CHECK(gb::status_name(gb::status::protocol_bad) == "GB_OP_PROTOCOL_BAD");
  CHECK(gb::status_name(gb::status::invalid) == "GB_OP_INVALID");
  CHECK(gb::status_name(gb::status::nonexistent) == "GB_OP_NONEXISTENT");
  CHECK(gb::status_name(gb::status::invalid_state) == "GB_OP_INVALID_STATE");
  CHECK(gb::status_name(gb::status::unknown_error) == "GB_OP_UNKNOWN_ERROR");
  CHECK(gb::status_name(gb::status::malfunction) == "GB_OP_MALFUNCTION");
  std::set<std::string_view> names;
  for (unsigned s = 0; s < 256; ++s) {
    const auto n = gb::status_name(static_cast<std::uint8_t>(s));
    CHECK_FALSE(n.empty());
    if (n != "reserved") CHECK(names.insert(n).second);
    CHECK((n == "reserved") == (s >= 0x0a && s <= 0xfd));
  }
  CHECK(names.size() == 12);
  CHECK(gb::status_for(errc::greybus_payload_too_short) == gb::status::invalid);
  CHECK(gb::status_for(errc::greybus_unknown_operation) == gb::status::invalid);
  CHECK(gb::status_for(errc::greybus_message_too_large) == gb::status::overflow);
}

TEST_CASE("greybus message: encoders refuse what does not fit") {
  std::vector<std::byte> big(gb::max_payload_size + 1);
  std::vector<std::byte> out(gb::max_message_size + 1);
  const gb::byte_payload too_big{{big.data(), big.size()}};
  CHECK(gb::encode_message(gb::make_request_header(1, 0x02, 0), too_big, {out.data(), out.size()})
            .error() == errc::greybus_message_too_large);
  const gb::byte_payload largest{{big.data(), gb::max_payload_size}};
  const auto n = gb::encode_message(gb::make_request_header(1, 0x02, 0), largest,
                                    {out.data(), out.size()});
  REQUIRE(n.has_value());
  CHECK(*n == gb::max_message_size);
  const auto m = gb::decode({out.data(), *n}, {true});
  REQUIRE(m.has_value());
  CHECK(m->payload.size() == gb::max_payload_size);
  std::array<std::byte, 9> small{};
  CHECK(gb::encode_request<gb::gpio::set_value>(1, {1, 1}, small).error() == errc::no_space);
  CHECK(gb::encode_request<gb::gpio::get_value>(1, {1}, small).value() == 9);
}

TEST_CASE("greybus registry: every protocol's operations have unique types and names") {
  struct expected {
    gb::protocol_id p;
    std::size_t ops;
  };
  // Control §3 (20 incl. 0x00, 0x01, mode_switch), SVC §4 subset (30), GPIO §6.1 (14),
  // I2C §6.2 (3), SPI §6.3 (4), UART §6.4 (9), PWM §6.5 (8).
  constexpr expected table[] = {{gb::protocol_id::control, 20}, {gb::protocol_id::svc, 30},
                                {gb::protocol_id::gpio, 14},    {gb::protocol_id::i2c, 3},
                                {gb::protocol_id::spi, 4},      {gb::protocol_id::uart, 9},
                                {gb::protocol_id::pwm, 8}};
  CHECK(std::size(table) == std::size(gb::typed_protocols));
  for (const auto& e : table) {
    CAPTURE(gb::protocol_name(e.p));
    std::set<std::string_view> names;
    std::size_t known = 0;
    for (unsigned t = 0; t < 0x80; ++t) {
      const auto type = static_cast<std::uint8_t>(t);
      if (!gb::is_known_operation(e.p, type)) continue;
      ++known;
      CHECK(names.insert(gb::operation_name(e.p, type)).second);
      gb::visit_operation(e.p, type, [&]<typename Op>() {
        CHECK(Op::protocol == e.p);
        CHECK(Op::type == type);
      });
    }
    CHECK(known == e.ops);
    CHECK(gb::operation_name(e.p, 0x00) == "cport_shutdown");
    CHECK_FALSE(gb::is_known_operation(e.p, gb::type_invalid));
  }
  // 0x01 is Version only in Control and SVC; PROBE_AP (0x02) has no layout.
  CHECK(gb::operation_name(gb::protocol_id::control, 0x01) == "version");
  CHECK_FALSE(gb::is_known_operation(gb::protocol_id::gpio, 0x01));
  CHECK_FALSE(gb::is_known_operation(gb::protocol_id::control, gb::control::type_probe_ap));
}

TEST_CASE("greybus registry: check_payload judges exact lengths for requests and responses") {
  const std::array<std::byte, 2> two{};
  CHECK(gb::check_payload(gb::protocol_id::gpio, 0x09, false, two).has_value());
  CHECK(gb::check_payload(gb::protocol_id::gpio, 0x09, false, {two.data(), 1}).error() ==
        errc::greybus_payload_too_short);
  CHECK(gb::check_payload(gb::protocol_id::gpio, 0x09, true, two).error() ==
        errc::greybus_payload_too_long);
  CHECK(gb::check_payload(gb::protocol_id::gpio, 0x0e, true, {}).error() ==
        errc::greybus_no_response);
  CHECK(gb::check_payload(gb::protocol_id::pwm, 0x09, false, two).error() ==
        errc::greybus_unknown_operation);
  CHECK(gb::check_payload(gb::protocol_id::control, 0x04, true, two).has_value());  // manifest
}
