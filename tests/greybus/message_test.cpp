// SPDX-License-Identifier: Apache-2.0
// Greybus operation messages against every vector of shared/vectors/greybus: each well-formed
// message decodes to its named operation and re-encodes byte for byte; each malformed one gets
// the outcome its '# expect:' line gives.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "greybus/message_vectors.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/pwm.hpp"
#include "vireo/greybus/registry.hpp"
#include "vireo/greybus/spi.hpp"
#include "vireo/greybus/uart.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::errc;
using vireo::const_bytes;
using greybus_test::from_hex;
using greybus_test::malformed_bytes;
using greybus_test::vector_bytes;

constexpr gb::decode_options strict{true};
constexpr gb::decode_options lenient{false};

const_bytes view(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

/// Re-encode a decoded message through its typed payload; the bytes written.
template <typename P>
std::vector<std::byte> reencode(const gb::header& h, const P& p) {
  std::vector<std::byte> out(gb::header_size + gb::payload_size(p));
  const auto n = gb::encode_message(h, p, {out.data(), out.size()});
  REQUIRE(n.has_value());
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("greybus vectors: the generated table holds every message of the shared files") {
  // Counts of '<name> <hex>' lines in messages-<protocol>.txt and malformed-messages.txt.
  CHECK(greybus_test::message_vector_count_control == 36);
  CHECK(greybus_test::message_vector_count_svc == 12);
  CHECK(greybus_test::message_vector_count_gpio == 26);
  CHECK(greybus_test::message_vector_count_i2c == 10);
  CHECK(greybus_test::message_vector_count_spi == 8);
  CHECK(greybus_test::message_vector_count_uart == 14);
  CHECK(greybus_test::message_vector_count_pwm == 14);
  CHECK(std::size(greybus_test::message_vectors) == 120);
  CHECK(std::size(greybus_test::malformed_vectors) == greybus_test::malformed_vector_count);
  CHECK(greybus_test::malformed_vector_count == 20);
}

TEST_CASE("greybus vectors: every well-formed message decodes to its named operation and "
          "re-encodes byte-identically") {
  std::size_t round_trips = 0;
  for (const auto& v : greybus_test::message_vectors) {
    CAPTURE(v.protocol);
    CAPTURE(v.name);
    const auto p = greybus_test::protocol_of(v.protocol);
    REQUIRE(p.has_value());
    const std::vector<std::byte> in = from_hex(v.hex);
    // Well-formed means well-formed under the spec's stricter words too.
    const auto m = gb::decode(view(in), strict);
    REQUIRE(m.has_value());
    CHECK(m->hdr.size.get() == in.size());
    CHECK(m->payload.size() == in.size() - gb::header_size);
    CHECK(m->trailing == 0);

    const std::string_view stem = v.name.substr(0, v.name.find('.'));
    const std::string_view kind = v.name.substr(v.name.find('.') + 1);
    const bool is_rsp = kind.substr(0, 3) == "rsp";
    CHECK(m->response() == is_rsp);
    CHECK(m->failed() == (is_rsp && kind != "rsp"));  // rsp_error, rsp_invalid, rsp_nack...

    // The named operation: "transfer_wr_rd" is a Transfer, "receive_data_break" Receive Data.
    const std::string_view op = gb::operation_name(*p, m->type());
    REQUIRE_FALSE(op.empty());
    CHECK((stem == op || (stem.size() > op.size() && stem.substr(0, op.size()) == op &&
                          stem[op.size()] == '_')));
    CHECK(gb::check_message(*p, *m).has_value());

    const bool visited = gb::visit_operation(*p, m->type(), [&]<typename Op>() {
      if (!m->response()) {
        // Unidirectional requests, and only those, carry id 0 (§1).
        CHECK(Op::unidirectional == (m->id() == 0));
        const auto req = gb::decode_request<Op>(*m);
        REQUIRE(req.has_value());
        CHECK(reencode(m->hdr, *req) == in);
        ++round_trips;
      } else if (m->failed()) {
        // The payload of an error response is void (§1); these vectors carry none.
        CHECK(gb::decode_response<Op>(*m).error() == errc::greybus_error_response);
        CHECK(m->payload.empty());
        CHECK(reencode(m->hdr, gb::empty{}) == in);
        ++round_trips;
      } else {
        CHECK(m->id() != 0);
        const auto rsp = gb::decode_response<Op>(*m);
        REQUIRE(rsp.has_value());
        CHECK(reencode(m->hdr, *rsp) == in);
        ++round_trips;
      }
    });
    CHECK(visited);
  }
  CHECK(round_trips == std::size(greybus_test::message_vectors));
}

TEST_CASE("greybus vectors: responses echo their request's id and type | 0x80") {
  std::size_t pairs = 0;
  for (const auto& rsp : greybus_test::message_vectors) {
    const std::string_view name = rsp.name;
    const auto dot = name.find('.');
    if (name.substr(dot + 1) != "rsp") continue;
    const std::string req_name = std::string(name.substr(0, dot)) + ".req";
    const auto req_bytes = vector_bytes(rsp.protocol, req_name);
    CAPTURE(rsp.name);
    REQUIRE_FALSE(req_bytes.empty());
    const auto q = gb::decode(view(req_bytes));
    const auto rsp_bytes = from_hex(rsp.hex);
    const auto r = gb::decode(view(rsp_bytes));
    REQUIRE((q && r));
    CHECK(r->hdr.operation_id.get() == q->hdr.operation_id.get());
    CHECK(r->hdr.type == (q->hdr.type | gb::response_bit));
    ++pairs;
  }
  CHECK(pairs == 55);
}

namespace {

/// The verdict word an '# expect:' line starts with for each malformed vector, as this codec
/// reaches it (checked against the file's text below, so a changed expectation fails here).
const std::map<std::string_view, std::string_view> verdicts = {
    {"size_gt_buffer", "reject"},
    {"size_lt_header", "reject"},
    {"short_buffer", "reject"},
    {"trailing_bytes", "lenient"},
    {"response_id_zero", "reject"},
    {"request_nonzero_result", "lenient"},
    {"nonzero_pad", "accept"},
    {"error_with_payload", "accept"},
    {"short_response", "reject"},
    {"long_response", "reject"},
    {"invalid_type_7f", "answer with an error response"},
    {"i2c_opcount_overrun", "reject"},
    {"i2c_write_data_short", "reject"},
    {"i2c_read_response_short", "reject"},
    {"spi_count_overrun", "reject"},
    {"uart_rx_size_mismatch", "reject"},
    {"uart_rx_size_zero", "reject"},
    {"gpio_which_out_of_range", "decode ok"},
    {"pwm_config_truncated", "reject"},
    {"type_response_bit_in_request_slot", "reject"},
};

errc decode_error(const std::vector<std::byte>& in, const gb::decode_options& o) {
  const auto m = gb::decode(view(in), o);
  REQUIRE_FALSE(m.has_value());
  return m.error();
}

}  // namespace

TEST_CASE("greybus malformed vectors: every vector is covered and its expect line agrees") {
  std::set<std::string_view> names;
  for (const auto& v : greybus_test::malformed_vectors) {
    CAPTURE(v.name);
    names.insert(v.name);
    const auto it = verdicts.find(v.name);
    REQUIRE(it != verdicts.end());
    CHECK(v.expect.substr(0, it->second.size()) == it->second);
  }
  CHECK(names.size() == verdicts.size());
}

TEST_CASE("greybus malformed vectors: framing errors are rejected with typed errors") {
  for (const auto* o : {&lenient, &strict}) {
    CHECK(decode_error(malformed_bytes("size_gt_buffer"), *o) == errc::greybus_incomplete_message);
    CHECK(decode_error(malformed_bytes("size_lt_header"), *o) == errc::greybus_size_below_header);
    CHECK(decode_error(malformed_bytes("short_buffer"), *o) == errc::greybus_short_message);
    CHECK(decode_error(malformed_bytes("response_id_zero"), *o) == errc::greybus_response_id_zero);
    CHECK(decode_error(malformed_bytes("type_response_bit_in_request_slot"), *o) ==
          errc::greybus_response_id_zero);
  }
  // Nothing at all: still a typed error, no read.
  CHECK(gb::decode(const_bytes{}).error() == errc::greybus_short_message);
}

TEST_CASE("greybus malformed vectors: lenient mode follows Linux, strict mode the spec") {
  SUBCASE("trailing_bytes") {
    const auto in = malformed_bytes("trailing_bytes");
    const auto m = gb::decode(view(in), lenient);
    REQUIRE(m.has_value());
    CHECK(m->trailing == 2);
    CHECK(m->payload.empty());
    CHECK(gb::decode_request<gb::gpio::line_count>(*m).has_value());
    CHECK(decode_error(in, strict) == errc::greybus_trailing_bytes);
  }
  SUBCASE("request_nonzero_result") {
    const auto in = malformed_bytes("request_nonzero_result");
    const auto m = gb::decode(view(in), lenient);
    REQUIRE(m.has_value());
    CHECK(m->result_byte() == 0x06);
    CHECK_FALSE(m->failed());  // a request's result is ignored
    CHECK(gb::decode_request<gb::gpio::line_count>(*m).has_value());
    CHECK(decode_error(in, strict) == errc::greybus_request_result_nonzero);
  }
  SUBCASE("nonzero_pad: accepted in both modes, kept on re-encode, zero in new headers") {
    const auto in = malformed_bytes("nonzero_pad");
    for (const auto* o : {&lenient, &strict}) {
      const auto m = gb::decode(view(in), *o);
      REQUIRE(m.has_value());
      CHECK(m->hdr.pad[0] == 5);
      const auto req = gb::decode_request<gb::gpio::line_count>(*m);
      REQUIRE(req.has_value());
      CHECK(reencode(m->hdr, *req) == in);
    }
    std::array<std::byte, 8> out{};
    REQUIRE(gb::encode_request<gb::gpio::line_count>(3, {}, out).has_value());
    CHECK(out[6] == std::byte{0});
    CHECK(out[7] == std::byte{0});
  }
}

TEST_CASE("greybus malformed vectors: error results and payload lengths") {
  SUBCASE("error_with_payload: an error result, its payload ignored") {
    const auto in = malformed_bytes("error_with_payload");
    const auto m = gb::decode(view(in), strict);
    REQUIRE(m.has_value());
    CHECK(m->failed());
    CHECK(m->result_byte() == static_cast<std::uint8_t>(gb::status::invalid));
    CHECK(gb::decode_response<gb::gpio::get_value>(*m).error() == errc::greybus_error_response);
    CHECK(gb::check_message(gb::protocol_id::gpio, *m).has_value());
  }
  SUBCASE("short_response and long_response: -EMSGSIZE in Linux") {
    const auto s_in = malformed_bytes("short_response");
    const auto l_in = malformed_bytes("long_response");
    const auto s = gb::decode(view(s_in));
    const auto l = gb::decode(view(l_in));
    REQUIRE((s && l));
    CHECK(gb::decode_response<gb::gpio::get_value>(*s).error() == errc::greybus_payload_too_short);
    CHECK(gb::decode_response<gb::gpio::get_value>(*l).error() == errc::greybus_payload_too_long);
    CHECK(gb::check_message(gb::protocol_id::gpio, *s).error() == errc::greybus_payload_too_short);
    CHECK(gb::check_message(gb::protocol_id::gpio, *l).error() == errc::greybus_payload_too_long);
  }
  SUBCASE("pwm_config_truncated") {
    const auto in = malformed_bytes("pwm_config_truncated");
    const auto m = gb::decode(view(in));
    REQUIRE(m.has_value());
    CHECK(gb::decode_request<gb::pwm::config>(*m).error() == errc::greybus_payload_too_short);
  }
}

TEST_CASE("greybus malformed vectors: type 0x7f is answered with GB_OP_INVALID, never success") {
  const auto in = malformed_bytes("invalid_type_7f");
  const auto m = gb::decode(view(in), strict);
  REQUIRE(m.has_value());
  for (const gb::protocol_id p : gb::typed_protocols) {
    CAPTURE(static_cast<int>(p));
    CHECK_FALSE(gb::is_known_operation(p, gb::type_invalid));
    const auto c = gb::check_message(p, *m);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error() == errc::greybus_unknown_operation);
    CHECK(gb::status_for(c.error()) == gb::status::invalid);
  }
  std::array<std::byte, 16> out{};
  const auto n = gb::encode_error_response(m->hdr, gb::status::invalid, out);
  REQUIRE(n.has_value());
  const auto r = gb::decode(const_bytes{out.data(), *n}, strict);
  REQUIRE(r.has_value());
  CHECK(r->response());
  CHECK(r->id() == 9);
  CHECK(r->hdr.type == 0xff);
  CHECK(r->result_byte() == 0x06);
  CHECK(r->payload.empty());
}

TEST_CASE("greybus malformed vectors: variable layouts are bounds-checked") {
  auto request_error = [](std::string_view name, auto op) {
    using Op = decltype(op);
    const auto in = malformed_bytes(name);  // the message views these bytes: keep them alive
    const auto m = gb::decode(view(in));
    REQUIRE(m.has_value());
    const auto r = gb::decode_request<Op>(*m);
    REQUIRE_FALSE(r.has_value());
    return r.error();
  };
  CHECK(request_error("i2c_opcount_overrun", gb::i2c::transfer{}) == errc::greybus_count_overrun);
  CHECK(request_error("i2c_write_data_short", gb::i2c::transfer{}) == errc::greybus_data_length);
  CHECK(request_error("spi_count_overrun", gb::spi::transfer{}) == errc::greybus_count_overrun);
  CHECK(request_error("uart_rx_size_mismatch", gb::uart::receive_data{}) ==
        errc::greybus_data_length);
  CHECK(request_error("uart_rx_size_zero", gb::uart::receive_data{}) == errc::greybus_empty_data);

  SUBCASE("i2c_read_response_short: judged against the request's read ops") {
    const auto req_in = vector_bytes("i2c", "transfer_wr_rd.req");
    const auto rsp_in = malformed_bytes("i2c_read_response_short");
    const auto req_m = gb::decode(view(req_in));
    const auto rsp_m = gb::decode(view(rsp_in));
    REQUIRE((req_m && rsp_m));
    const auto req = gb::decode_request<gb::i2c::transfer>(*req_m);
    const auto rsp = gb::decode_response<gb::i2c::transfer>(*rsp_m);
    REQUIRE((req && rsp));
    CHECK(req->read_length() == 4);
    CHECK(rsp->data.size() == 2);
    CHECK(gb::i2c::check_transfer_response(*req, *rsp).error() == errc::greybus_payload_too_short);
  }
}

TEST_CASE("greybus malformed vectors: gpio_which_out_of_range decodes; the line check fails") {
  const auto in = malformed_bytes("gpio_which_out_of_range");
  const auto m = gb::decode(view(in), strict);
  REQUIRE(m.has_value());
  const auto req = gb::decode_request<gb::gpio::set_value>(*m);
  REQUIRE(req.has_value());
  CHECK(req->which == 9);
  CHECK(req->value == 1);
  const auto count = gb::gpio::line_count_response{7};  // 8 lines, 0..7
  CHECK(gb::gpio::check_line(7, count).has_value());
  const auto bad = gb::gpio::check_line(req->which, count);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error() == errc::greybus_index_out_of_range);
  CHECK(gb::status_for(bad.error()) == gb::status::invalid);
  std::array<std::byte, 8> out{};
  REQUIRE(gb::encode_error_response(m->hdr, gb::status_for(bad.error()), out).has_value());
  CHECK(out == std::array<std::byte, 8>{std::byte{0x08}, std::byte{0}, std::byte{0x08},
                                        std::byte{0}, std::byte{0x89}, std::byte{0x06},
                                        std::byte{0}, std::byte{0}});
}
