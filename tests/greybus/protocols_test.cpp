// SPDX-License-Identifier: Apache-2.0
// Every well-formed Greybus vector built from scratch with the typed encoders (fields taken from
// the vector's '# meaning' line) and compared byte for byte, and its decoded fields read back.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "greybus/message_vectors.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/pwm.hpp"
#include "vireo/greybus/spi.hpp"
#include "vireo/greybus/svc.hpp"
#include "vireo/greybus/uart.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::const_bytes;
using vireo::errc;
using vireo::le16;
using vireo::le32;
using vireo::le64;

/// `out` cut to the `n` bytes an encoder wrote (call it after the encoder: arguments are not
/// sequenced, so never encode inside the call).
std::vector<std::byte> fit(std::vector<std::byte> out, vireo::result<std::size_t> n) {
  REQUIRE(n.has_value());
  out.resize(*n);
  return out;
}
template <typename Op>
std::vector<std::byte> req(std::uint16_t id, const typename Op::request& p) {
  std::vector<std::byte> out(gb::header_size + gb::payload_size(p));
  const auto n = gb::encode_request<Op>(id, p, {out.data(), out.size()});
  return fit(std::move(out), n);
}
template <typename Op>
std::vector<std::byte> rsp(std::uint16_t id, const typename Op::response& p) {
  std::vector<std::byte> out(gb::header_size + gb::payload_size(p));
  const auto n = gb::encode_response<Op>(id, p, {out.data(), out.size()});
  return fit(std::move(out), n);
}
template <typename Op>
std::vector<std::byte> uni(const typename Op::request& p) {
  std::vector<std::byte> out(gb::header_size + gb::payload_size(p));
  const auto n = gb::encode_unidirectional<Op>(p, {out.data(), out.size()});
  return fit(std::move(out), n);
}
/// The error response to the request vector `req_name`, as a module sends it.
std::vector<std::byte> err(std::string_view proto, std::string_view req_name, gb::status s) {
  const auto in = greybus_test::vector_bytes(proto, req_name);
  const auto m = gb::decode({in.data(), in.size()});
  REQUIRE(m.has_value());
  std::vector<std::byte> out(gb::header_size);
  const auto n = gb::encode_error_response(m->hdr, s, {out.data(), out.size()});
  return fit(std::move(out), n);
}

std::vector<std::byte> V(std::string_view proto, std::string_view name) {
  auto v = greybus_test::vector_bytes(proto, name);
  REQUIRE_FALSE(v.empty());
  return v;
}
/// The vector's message, decoded (kept alive with its bytes).
struct decoded {
  std::vector<std::byte> bytes;
  gb::message m;
};
decoded D(std::string_view proto, std::string_view name) {
  decoded d{V(proto, name), {}};
  const auto m = gb::decode({d.bytes.data(), d.bytes.size()});
  REQUIRE(m.has_value());
  d.m = *m;
  return d;
}
const_bytes B(std::string_view s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }
std::vector<std::byte> bytes_of(std::initializer_list<unsigned> l) {
  std::vector<std::byte> v;
  for (unsigned b : l) v.push_back(static_cast<std::byte>(b));
  return v;
}

}  // namespace

TEST_CASE("greybus control vectors: built by the encoders, fields read back") {
  namespace c = gb::control;
  CHECK(req<c::cport_shutdown>(1, {1}) == V("control", "cport_shutdown.req"));
  CHECK(rsp<c::cport_shutdown>(1, {}) == V("control", "cport_shutdown.rsp"));
  CHECK(req<c::version>(2, c::version_supported) == V("control", "version.req"));
  CHECK(rsp<c::version>(2, {0, 1}) == V("control", "version.rsp"));
  CHECK(err("control", "version.req", gb::status::protocol_bad) ==
        V("control", "version.rsp_error"));
  CHECK(req<c::get_manifest_size>(3, {}) == V("control", "get_manifest_size.req"));
  CHECK(rsp<c::get_manifest_size>(3, {le16::from(92)}) == V("control", "get_manifest_size.rsp"));
  CHECK(req<c::get_manifest>(4, {}) == V("control", "get_manifest.req"));
  {
    const auto d = D("control", "get_manifest.rsp");
    const auto blob = gb::decode_response<c::get_manifest>(d.m);
    REQUIRE(blob.has_value());
    CHECK(blob->data.size() == 92);
    CHECK(c::check_manifest_length(*blob, 92).has_value());
    CHECK(c::check_manifest_length(*blob, 93).error() == errc::greybus_payload_too_short);
    CHECK(c::check_manifest_length(*blob, 91).error() == errc::greybus_payload_too_long);
    CHECK(blob->data[0] == std::byte{0x5c});  // the manifest's own le16 size
    CHECK(rsp<c::get_manifest>(4, *blob) == d.bytes);
  }
  CHECK(req<c::connected>(5, {le16::from(1)}) == V("control", "connected.req"));
  CHECK(rsp<c::connected>(5, {}) == V("control", "connected.rsp"));
  CHECK(req<c::disconnecting>(6, {le16::from(1)}) == V("control", "disconnecting.req"));
  CHECK(rsp<c::disconnecting>(6, {}) == V("control", "disconnecting.rsp"));
  CHECK(req<c::disconnected>(7, {le16::from(1)}) == V("control", "disconnected.req"));
  CHECK(rsp<c::disconnected>(7, {}) == V("control", "disconnected.rsp"));
  CHECK(req<c::bundle_version>(8, {1}) == V("control", "bundle_version.req"));
  CHECK(rsp<c::bundle_version>(8, {0, 1}) == V("control", "bundle_version.rsp"));
  const auto pm = [](c::bundle_pm_status s) {
    return c::pm_response{static_cast<std::uint8_t>(s)};
  };
  CHECK(req<c::bundle_suspend>(9, {1}) == V("control", "bundle_suspend.req"));
  CHECK(rsp<c::bundle_suspend>(9, pm(c::bundle_pm_status::ok)) == V("control", "bundle_suspend.rsp"));
  CHECK(req<c::bundle_resume>(10, {1}) == V("control", "bundle_resume.req"));
  CHECK(rsp<c::bundle_resume>(10, pm(c::bundle_pm_status::ok)) == V("control", "bundle_resume.rsp"));
  CHECK(req<c::bundle_deactivate>(11, {1}) == V("control", "bundle_deactivate.req"));
  CHECK(rsp<c::bundle_deactivate>(11, pm(c::bundle_pm_status::na)) ==
        V("control", "bundle_deactivate.rsp"));
  CHECK(req<c::bundle_activate>(12, {1}) == V("control", "bundle_activate.req"));
  CHECK(rsp<c::bundle_activate>(12, pm(c::bundle_pm_status::ok)) ==
        V("control", "bundle_activate.rsp"));
  CHECK(req<c::intf_suspend_prepare>(13, {}) == V("control", "intf_suspend_prepare.req"));
  CHECK(rsp<c::intf_suspend_prepare>(13, {0}) == V("control", "intf_suspend_prepare.rsp"));
  CHECK(req<c::intf_deactivate_prepare>(14, {}) == V("control", "intf_deactivate_prepare.req"));
  CHECK(rsp<c::intf_deactivate_prepare>(
            14, {static_cast<std::uint8_t>(c::intf_pm_status::busy)}) ==
        V("control", "intf_deactivate_prepare.rsp"));
  CHECK(req<c::intf_hibernate_abort>(15, {}) == V("control", "intf_hibernate_abort.req"));
  CHECK(rsp<c::intf_hibernate_abort>(15, {}) == V("control", "intf_hibernate_abort.rsp"));
  CHECK(uni<c::mode_switch>({}) == V("control", "mode_switch.req"));
  CHECK(req<c::timesync_enable>(16, {4, le64::from(std::uint64_t{1} << 32), le32::from(20),
                                     le32::from(19200000)}) ==
        V("control", "timesync_enable.req"));
  CHECK(rsp<c::timesync_enable>(16, {}) == V("control", "timesync_enable.rsp"));
  CHECK(req<c::timesync_get_last_event>(17, {}) == V("control", "timesync_get_last_event.req"));
  CHECK(rsp<c::timesync_get_last_event>(17, {le64::from(123456789)}) ==
        V("control", "timesync_get_last_event.rsp"));

  const auto te = D("control", "timesync_enable.req");
  const auto t = gb::decode_request<c::timesync_enable>(te.m);
  REQUIRE(t.has_value());
  CHECK(t->count == 4);
  CHECK(t->frame_time.get() == std::uint64_t{1} << 32);
  CHECK(t->strobe_delay.get() == 20);
  CHECK(t->refclk.get() == 19200000);
  const auto e = D("control", "version.rsp_error");
  CHECK(gb::status_name(e.m.result_byte()) == "GB_OP_PROTOCOL_BAD");
}

TEST_CASE("greybus svc vectors: built by the encoders, fields read back") {
  namespace s = gb::svc;
  CHECK(req<s::version>(1, s::version_supported) == V("svc", "version.req"));
  CHECK(rsp<s::version>(1, {0, 1}) == V("svc", "version.rsp"));
  CHECK(req<s::hello>(2, {le16::from(0x4755), 0}) == V("svc", "hello.req"));
  CHECK(rsp<s::hello>(2, {}) == V("svc", "hello.rsp"));
  CHECK(req<s::module_inserted>(3, {2, 1, le16::from(0)}) == V("svc", "module_inserted.req"));
  CHECK(rsp<s::module_inserted>(3, {}) == V("svc", "module_inserted.rsp"));
  CHECK(req<s::intf_activate>(4, {2}) == V("svc", "intf_activate.req"));
  CHECK(rsp<s::intf_activate>(4, {static_cast<std::uint8_t>(s::op_status::success),
                                  static_cast<std::uint8_t>(s::intf_type::greybus)}) ==
        V("svc", "intf_activate.rsp"));
  CHECK(req<s::conn_create>(5, {1, le16::from(4), 2, le16::from(1), 0, 7}) ==
        V("svc", "conn_create.req"));
  CHECK(rsp<s::conn_create>(5, {}) == V("svc", "conn_create.rsp"));
  CHECK(req<s::ping>(6, {}) == V("svc", "ping.req"));
  CHECK(rsp<s::ping>(6, {}) == V("svc", "ping.rsp"));

  const auto h = D("svc", "hello.req");
  const auto hello = gb::decode_request<s::hello>(h.m);
  REQUIRE(hello.has_value());
  CHECK(hello->endo_id.get() == 0x4755);
  CHECK(hello->interface_id == 0);
  const auto cc = D("svc", "conn_create.req");
  const auto conn = gb::decode_request<s::conn_create>(cc.m);
  REQUIRE(conn.has_value());
  CHECK(conn->cport1_id.get() == 4);
  CHECK(conn->intf2_id == 2);
  CHECK(conn->cport2_id.get() == 1);
  CHECK(conn->flags == 7);
}

TEST_CASE("greybus svc: rail names are whole 32-byte entries") {
  std::array<std::byte, 1 + 64> good{};
  good[1] = std::byte{'v'};
  const auto r = gb::svc::rail_names_response::decode(good);
  REQUIRE(r.has_value());
  CHECK(r->rail_count() == 2);
  CHECK(r->name(0)[0] == std::byte{'v'});
  CHECK(gb::svc::rail_names_response::decode({good.data(), 40}).error() ==
        errc::greybus_data_length);
  CHECK(gb::svc::rail_names_response::decode({}).error() == errc::greybus_payload_too_short);
  std::vector<std::byte> many(1 + 255 * 32);
  CHECK(gb::svc::rail_names_response::decode({many.data(), many.size()}).error() ==
        errc::greybus_count_overrun);
}

TEST_CASE("greybus gpio vectors: built by the encoders, fields read back") {
  namespace g = gb::gpio;
  CHECK(req<g::line_count>(1, {}) == V("gpio", "line_count.req"));
  CHECK(rsp<g::line_count>(1, {7}) == V("gpio", "line_count.rsp"));
  CHECK(req<g::activate>(2, {3}) == V("gpio", "activate.req"));
  CHECK(rsp<g::activate>(2, {}) == V("gpio", "activate.rsp"));
  CHECK(req<g::deactivate>(3, {3}) == V("gpio", "deactivate.req"));
  CHECK(rsp<g::deactivate>(3, {}) == V("gpio", "deactivate.rsp"));
  CHECK(req<g::get_direction>(4, {3}) == V("gpio", "get_direction.req"));
  CHECK(rsp<g::get_direction>(4, {static_cast<std::uint8_t>(g::direction::in)}) ==
        V("gpio", "get_direction.rsp"));
  CHECK(req<g::direction_in>(5, {3}) == V("gpio", "direction_in.req"));
  CHECK(rsp<g::direction_in>(5, {}) == V("gpio", "direction_in.rsp"));
  CHECK(req<g::direction_out>(6, {5, 1}) == V("gpio", "direction_out.req"));
  CHECK(rsp<g::direction_out>(6, {}) == V("gpio", "direction_out.rsp"));
  CHECK(req<g::get_value>(7, {3}) == V("gpio", "get_value.req"));
  CHECK(rsp<g::get_value>(7, {0}) == V("gpio", "get_value.rsp"));
  CHECK(req<g::set_value>(8, {5, 0}) == V("gpio", "set_value.req"));
  CHECK(rsp<g::set_value>(8, {}) == V("gpio", "set_value.rsp"));
  CHECK(err("gpio", "set_value.req", gb::status::invalid) == V("gpio", "set_value.rsp_invalid"));
  CHECK(req<g::set_debounce>(9, {2, le16::from(5000)}) == V("gpio", "set_debounce.req"));
  CHECK(rsp<g::set_debounce>(9, {}) == V("gpio", "set_debounce.rsp"));
  CHECK(req<g::irq_type_op>(10, {4, static_cast<std::uint8_t>(g::irq_type::edge_both)}) ==
        V("gpio", "irq_type.req"));
  CHECK(rsp<g::irq_type_op>(10, {}) == V("gpio", "irq_type.rsp"));
  CHECK(req<g::irq_mask>(11, {4}) == V("gpio", "irq_mask.req"));
  CHECK(rsp<g::irq_mask>(11, {}) == V("gpio", "irq_mask.rsp"));
  CHECK(req<g::irq_unmask>(12, {4}) == V("gpio", "irq_unmask.req"));
  CHECK(rsp<g::irq_unmask>(12, {}) == V("gpio", "irq_unmask.rsp"));
  CHECK(uni<g::irq_event>({4}) == V("gpio", "irq_event.req"));

  const auto d = D("gpio", "set_debounce.req");
  const auto deb = gb::decode_request<g::set_debounce>(d.m);
  REQUIRE(deb.has_value());
  CHECK(deb->which == 2);
  CHECK(deb->usec.get() == 5000);
  const auto ev = D("gpio", "irq_event.req");
  CHECK(ev.m.unidirectional());
  // A unidirectional operation never has a response: one is refused, none can be encoded.
  CHECK(gb::encode_error_response(ev.m.hdr, gb::status::invalid, {}).error() ==
        errc::greybus_no_response);
  auto fake = ev.bytes;
  fake[2] = std::byte{1};
  fake[4] = std::byte{0x8e};
  const auto fm = gb::decode({fake.data(), fake.size()});
  REQUIRE(fm.has_value());
  CHECK(gb::decode_response<g::irq_event>(*fm).error() == errc::greybus_no_response);
  CHECK(gb::decode_request<g::irq_event>(*fm).error() == errc::greybus_not_a_request);
  CHECK(gb::decode_request<g::irq_mask>(ev.m).error() == errc::greybus_unknown_operation);
}

TEST_CASE("greybus i2c vectors: transfers built from op arrays, read lengths checked") {
  namespace i = gb::i2c;
  const auto op = [](std::uint16_t addr, std::uint16_t flags, std::uint16_t size) {
    return i::transfer_op{le16::from(addr), le16::from(flags), le16::from(size)};
  };
  CHECK(req<i::functionality>(1, {}) == V("i2c", "functionality.req"));
  CHECK(rsp<i::functionality>(1, {le32::from(0x0eff0001)}) == V("i2c", "functionality.rsp"));

  const std::array wr_rd{op(0x50, 0, 1), op(0x50, i::op_flag::rd, 4)};
  const auto w1 = bytes_of({0x10});
  const auto t1 = i::transfer_request::build(wr_rd, {w1.data(), w1.size()});
  REQUIRE(t1.has_value());
  CHECK(t1->read_length() == 4);
  CHECK(req<i::transfer>(2, *t1) == V("i2c", "transfer_wr_rd.req"));
  const auto r1 = bytes_of({0xde, 0xad, 0xbe, 0xef});
  CHECK(rsp<i::transfer>(2, {{r1.data(), r1.size()}}) == V("i2c", "transfer_wr_rd.rsp"));

  const std::array write3{op(0x50, 0, 3)};
  const auto w3 = bytes_of({0, 1, 2});
  const auto t3 = i::transfer_request::build(write3, {w3.data(), w3.size()});
  REQUIRE(t3.has_value());
  CHECK(req<i::transfer>(3, *t3) == V("i2c", "transfer_write3.req"));
  CHECK(rsp<i::transfer>(3, {}) == V("i2c", "transfer_write3.rsp"));
  // The write data must be exactly what the write ops declare.
  CHECK(i::transfer_request::build(write3, {w3.data(), 2}).error() == errc::greybus_data_length);

  const std::array ten{op(0x123, i::op_flag::ten | i::op_flag::rd, 2)};
  const auto t10 = i::transfer_request::build(ten, {});
  REQUIRE(t10.has_value());
  CHECK(req<i::transfer>(4, *t10) == V("i2c", "transfer_10bit_read.req"));
  const auto r10 = bytes_of({0x55, 0xaa});
  CHECK(rsp<i::transfer>(4, {{r10.data(), r10.size()}}) == V("i2c", "transfer_10bit_read.rsp"));

  // Decoded fields and the response check, from the vectors.
  const auto q = D("i2c", "transfer_wr_rd.req");
  const auto tq = gb::decode_request<i::transfer>(q.m);
  REQUIRE(tq.has_value());
  REQUIRE(tq->op_count() == 2);
  CHECK(tq->op(0).addr.get() == 0x50);
  CHECK_FALSE(i::is_read(tq->op(0)));
  CHECK(tq->op(1).size.get() == 4);
  CHECK(i::is_read(tq->op(1)));
  CHECK(tq->write_data().size() == 1);
  CHECK(tq->write_data()[0] == std::byte{0x10});
  const auto a = D("i2c", "transfer_wr_rd.rsp");
  const auto ta = gb::decode_response<i::transfer>(a.m);
  REQUIRE(ta.has_value());
  CHECK(i::check_transfer_response(*tq, *ta).has_value());
  const auto t10d = D("i2c", "transfer_10bit_read.req");
  const auto t10q = gb::decode_request<i::transfer>(t10d.m);
  REQUIRE(t10q.has_value());
  CHECK(t10q->op(0).addr.get() == 0x123);
  CHECK(t10q->op(0).flags.get() == 0x0011);
  // Too many read bytes are refused as well.
  const auto long_rsp = bytes_of({1, 2, 3, 4, 5});
  CHECK(i::check_transfer_response(*tq, {{long_rsp.data(), long_rsp.size()}}).error() ==
        errc::greybus_payload_too_long);

  CHECK(err("i2c", "transfer_wr_rd.req", gb::status::nonexistent) == V("i2c", "transfer.rsp_nack"));
  CHECK(err("i2c", "transfer_wr_rd.req", gb::status::retry) == V("i2c", "transfer.rsp_retry"));
}

TEST_CASE("greybus spi vectors: configs and transfers built by the encoders") {
  namespace s = gb::spi;
  CHECK(req<s::master_config>(1, {}) == V("spi", "master_config.req"));
  CHECK(rsp<s::master_config>(1, {le32::from(0x80), le32::from(10000), le32::from(8000000),
                                  le16::from(s::mode_bit::cpha | s::mode_bit::cpol),
                                  le16::from(0), 2}) == V("spi", "master_config.rsp"));
  CHECK(req<s::device_config>(2, {0}) == V("spi", "device_config.req"));
  s::device_config_response dc{le16::from(0), 8, le32::from(1000000),
                               static_cast<std::uint8_t>(s::device_type::modalias), {}};
  std::memcpy(dc.name, "spidev", 6);
  CHECK(rsp<s::device_config>(2, dc) == V("spi", "device_config.rsp"));

  const auto desc = [](std::uint32_t hz, std::uint32_t len, std::uint16_t delay, std::uint8_t cs,
                       std::uint8_t bpw, std::uint8_t flags) {
    return s::transfer_desc{le32::from(hz), le32::from(len), le16::from(delay), cs, bpw, flags};
  };
  const std::array wr_rd{desc(1000000, 1, 0, 0, 8, s::xfer_flag::write),
                         desc(1000000, 3, 0, 0, 8, s::xfer_flag::read)};
  const auto w = bytes_of({0x9f});
  const auto t = s::transfer_request::build(0, 0, wr_rd, {w.data(), w.size()});
  REQUIRE(t.has_value());
  CHECK(t->read_length() == 3);
  CHECK(req<s::transfer>(3, *t) == V("spi", "transfer_wr_rd.req"));
  const auto r = bytes_of({0xef, 0x40, 0x18});
  CHECK(rsp<s::transfer>(3, {{r.data(), r.size()}}) == V("spi", "transfer_wr_rd.rsp"));

  const std::array duplex{desc(0, 2, 10, 1, 0, s::xfer_flag::read | s::xfer_flag::write)};
  const auto w2 = bytes_of({0xa5, 0x5a});
  const auto t2 = s::transfer_request::build(1, s::mode_bit::cpha | s::mode_bit::cpol, duplex,
                                             {w2.data(), w2.size()});
  REQUIRE(t2.has_value());
  CHECK(t2->read_length() == 2);  // READ|WRITE: n bytes out and n bytes in
  CHECK(req<s::transfer>(4, *t2) == V("spi", "transfer_full_duplex.req"));
  const auto r2 = bytes_of({0x11, 0x22});
  CHECK(rsp<s::transfer>(4, {{r2.data(), r2.size()}}) == V("spi", "transfer_full_duplex.rsp"));

  const auto mc = D("spi", "master_config.rsp");
  const auto m = gb::decode_response<s::master_config>(mc.m);
  REQUIRE(m.has_value());
  CHECK(m->max_speed_hz.get() == 8000000);
  CHECK(m->mode.get() == 3);
  CHECK(m->num_chipselect == 2);
  CHECK(s::check_chip_select(1, *m).has_value());
  CHECK(s::check_chip_select(2, *m).error() == errc::greybus_index_out_of_range);
  const auto dd = D("spi", "device_config.rsp");
  const auto d = gb::decode_response<s::device_config>(dd.m);
  REQUIRE(d.has_value());
  CHECK(d->max_speed_hz.get() == 1000000);
  CHECK(std::string_view(reinterpret_cast<const char*>(d->name)) == "spidev");
  const auto fd = D("spi", "transfer_full_duplex.req");
  const auto fq = gb::decode_request<s::transfer>(fd.m);
  REQUIRE(fq.has_value());
  CHECK(fq->chip_select() == 1);
  CHECK(fq->mode() == 3);
  REQUIRE(fq->count() == 1);
  CHECK(fq->desc(0).delay_usecs.get() == 10);
  CHECK(fq->desc(0).cs_change == 1);
  const auto fr = D("spi", "transfer_full_duplex.rsp");
  const auto fa = gb::decode_response<s::transfer>(fr.m);
  REQUIRE(fa.has_value());
  CHECK(s::check_transfer_response(*fq, *fa).has_value());
  CHECK(s::check_transfer_response(*fq, {}).error() == errc::greybus_payload_too_short);
}

TEST_CASE("greybus uart vectors: data views built and read back") {
  namespace u = gb::uart;
  CHECK(req<u::send_data>(1, {B("hello")}) == V("uart", "send_data.req"));
  CHECK(rsp<u::send_data>(1, {}) == V("uart", "send_data.rsp"));
  CHECK(uni<u::receive_data>({0, B("abc")}) == V("uart", "receive_data.req"));
  const auto nul = bytes_of({0});
  CHECK(uni<u::receive_data>({u::recv_flag::brk, {nul.data(), nul.size()}}) ==
        V("uart", "receive_data_break.req"));
  CHECK(req<u::set_line_coding>(2, {le32::from(115200),
                                     static_cast<std::uint8_t>(u::stop_bits::one),
                                     static_cast<std::uint8_t>(u::parity::none), 8, 0}) ==
        V("uart", "set_line_coding.req"));
  CHECK(rsp<u::set_line_coding>(2, {}) == V("uart", "set_line_coding.rsp"));
  CHECK(req<u::set_control_line_state>(3, {u::ctrl::dtr | u::ctrl::rts}) ==
        V("uart", "set_control_line_state.req"));
  CHECK(rsp<u::set_control_line_state>(3, {}) == V("uart", "set_control_line_state.rsp"));
  CHECK(req<u::send_break>(4, {1}) == V("uart", "send_break.req"));
  CHECK(rsp<u::send_break>(4, {}) == V("uart", "send_break.rsp"));
  CHECK(uni<u::serial_state>({u::ctrl::dcd | u::ctrl::dsr}) == V("uart", "serial_state.req"));
  CHECK(uni<u::receive_credits>({le16::from(64)}) == V("uart", "receive_credits.req"));
  CHECK(req<u::flush_fifos>(5, {u::flush_flag::transmitter | u::flush_flag::receiver}) ==
        V("uart", "flush_fifos.req"));
  CHECK(rsp<u::flush_fifos>(5, {}) == V("uart", "flush_fifos.rsp"));

  const auto s = D("uart", "send_data.req");
  const auto sd = gb::decode_request<u::send_data>(s.m);
  REQUIRE(sd.has_value());
  CHECK(std::string_view(reinterpret_cast<const char*>(sd->data.data()), sd->data.size()) ==
        "hello");
  CHECK(sd->data.data() == s.bytes.data() + 10);  // a view of the received bytes, no copy
  const auto rb = D("uart", "receive_data_break.req");
  const auto rd = gb::decode_request<u::receive_data>(rb.m);
  REQUIRE(rd.has_value());
  CHECK(rd->flags == u::recv_flag::brk);
  REQUIRE(rd->data.size() == 1);
  CHECK(rd->data[0] == std::byte{0});
  // Receive Data may not be empty, on either side.
  std::array<std::byte, 16> out{};
  CHECK(gb::encode_unidirectional<u::receive_data>({0, {}}, out).error() ==
        errc::greybus_empty_data);
  // Send Data: size field and data must agree.
  const auto bad = bytes_of({3, 0, 'a', 'b'});
  CHECK(u::send_data_request::decode({bad.data(), bad.size()}).error() ==
        errc::greybus_data_length);
  CHECK(u::send_data_request::decode({bad.data(), 1}).error() == errc::greybus_payload_too_short);
}

TEST_CASE("greybus pwm vectors: built by the encoders, fields read back") {
  namespace p = gb::pwm;
  CHECK(req<p::pwm_count>(1, {}) == V("pwm", "pwm_count.req"));
  CHECK(rsp<p::pwm_count>(1, {1}) == V("pwm", "pwm_count.rsp"));
  CHECK(req<p::activate>(2, {0}) == V("pwm", "activate.req"));
  CHECK(rsp<p::activate>(2, {}) == V("pwm", "activate.rsp"));
  CHECK(req<p::config>(3, {0, le32::from(500000), le32::from(1000000)}) == V("pwm", "config.req"));
  CHECK(rsp<p::config>(3, {}) == V("pwm", "config.rsp"));
  CHECK(req<p::set_polarity>(4, {0, static_cast<std::uint8_t>(p::polarity::inverted)}) ==
        V("pwm", "polarity.req"));
  CHECK(rsp<p::set_polarity>(4, {}) == V("pwm", "polarity.rsp"));
  CHECK(req<p::enable>(5, {0}) == V("pwm", "enable.req"));
  CHECK(rsp<p::enable>(5, {}) == V("pwm", "enable.rsp"));
  CHECK(req<p::disable>(6, {0}) == V("pwm", "disable.req"));
  CHECK(rsp<p::disable>(6, {}) == V("pwm", "disable.rsp"));
  CHECK(req<p::deactivate>(7, {0}) == V("pwm", "deactivate.req"));
  CHECK(rsp<p::deactivate>(7, {}) == V("pwm", "deactivate.rsp"));

  const auto c = D("pwm", "config.req");
  const auto cfg = gb::decode_request<p::config>(c.m);
  REQUIRE(cfg.has_value());
  CHECK(cfg->duty.get() == 500000);
  CHECK(cfg->period.get() == 1000000);
  CHECK(p::check_instance(1, {1}).has_value());
  CHECK(p::check_instance(2, {1}).error() == errc::greybus_index_out_of_range);
}
