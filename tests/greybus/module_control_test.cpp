// SPDX-License-Identifier: Apache-2.0
// The module side's router and Control responder (greybus/module/module.hpp,
// control_responder.hpp) at message level: every Control operation with its exact response
// bytes, the CPort connection state machine, the bundle PM state machine, and every message the
// module must refuse or drop.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "greybus/module_test_support.hpp"
#include "test_support.hpp"
#include "vireo/greybus/manifest_builder.hpp"
#include "vireo/greybus/module/module.hpp"

namespace {

namespace gb = vireo::greybus;
namespace gbm = vireo::greybus::module;
using vireo::errc;
using vireo_test::err;
using namespace greybus_module_test;


/// A responder that records what reaches it (protocol GPIO, so it can sit on a GPIO CPort).
struct probe {
  static constexpr gb::protocol_id protocol = gb::protocol_id::gpio;
  int connects = 0;
  int disconnects = 0;
  int requests = 0;
  std::uint8_t last_type = 0xff;
  vireo::result<std::size_t> handle(const gb::message& m, vireo::bytes out) noexcept {
    ++requests;
    last_type = m.type();
    if (m.type() == gb::type_cport_shutdown)
      return gbm::answer_cport_shutdown<protocol>(m, out);
    return gbm::reply_error(m, gb::status::retry, out);  // a status nobody else uses
  }
  std::optional<std::size_t> next_outgoing(vireo::bytes) noexcept { return std::nullopt; }
  void connected() noexcept { ++connects; }
  void disconnected() noexcept { ++disconnects; }
};
static_assert(gbm::responder<probe>);
struct uart_probe : probe {
  static constexpr gb::protocol_id protocol = gb::protocol_id::uart;
};

/// Bundle 1 (bridged PHY): CPort 1 GPIO, CPort 3 SPI; bundle 2: CPort 2 I2C.
struct two_bundles {
  std::array<std::byte, 256> storage{};
  vireo::const_bytes bytes{};
  two_bundles() {
    gb::manifest_builder b{storage};
    REQUIRE(b.add_interface(1, 2).has_value());
    REQUIRE(b.add_string(1, "Vireo").has_value());
    REQUIRE(b.add_string(2, "Test board").has_value());
    REQUIRE(b.add_bundle(1, 0x0a).has_value());
    REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    REQUIRE(b.add_cport(3, 1, 0x0b).has_value());
    REQUIRE(b.add_bundle(2, 0x0a).has_value());
    REQUIRE(b.add_cport(2, 2, 0x03).has_value());
    const auto n = b.finish();
    REQUIRE(n.has_value());
    bytes = {storage.data(), *n};
  }
};

using iface_t = gbm::interface<4>;

struct fixture {
  two_bundles manifest;
  probe gpio_probe;
  iface_t iface = make();
  std::array<std::byte, 512> out{};

  iface_t make() {
    auto i = iface_t::create(manifest.bytes);
    REQUIRE(i.has_value());
    REQUIRE(i->attach(1, gpio_probe).has_value());
    return *i;
  }
  /// handle() and the bytes it wrote; an errc as a failed result.
  vireo::result<bytes_vec> send(std::uint16_t cport, const bytes_vec& msg) {
    const auto n = iface.handle(cport, {msg.data(), msg.size()}, out);
    if (!n) return n.error();
    return bytes_vec(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  bytes_vec ok(std::uint16_t cport, const bytes_vec& msg) {
    auto r = send(cport, msg);
    REQUIRE(r.has_value());
    return *r;
  }
  void connect(std::uint16_t cport, std::uint16_t id = 0x77) {
    REQUIRE(ok(0, request(id, 0x05, {cport, 0})) == response(id, 0x05));
  }
};

}  // namespace

TEST_CASE("module control: Version answers the AP's offer when supported, else 0.1") {
  fixture f;
  CHECK(f.ok(0, request(1, 0x01, {0, 1})) == raw({0x0a, 0, 1, 0, 0x81, 0, 0, 0, 0, 1}));
  CHECK(f.ok(0, request(2, 0x01, {0, 0})) == response(2, 0x01, {0, 0}));
  CHECK(f.ok(0, request(3, 0x01, {0, 7})) == response(3, 0x01, {0, 1}));
  CHECK(f.ok(0, request(0xffff, 0x01, {1, 0})) == response(0xffff, 0x01, {0, 1}));
}

TEST_CASE("module control: Get Manifest Size and Get Manifest serve the caller's manifest") {
  fixture f;
  const std::size_t size = f.manifest.bytes.size();
  CHECK(f.ok(0, request(4, 0x03)) ==
        response(4, 0x03, {unsigned(size & 0xff), unsigned(size >> 8)}));
  const bytes_vec m = f.ok(0, request(5, 0x04));
  REQUIRE(m.size() == 8 + size);
  CHECK(bytes_vec(m.begin(), m.begin() + 8) ==
        raw({unsigned((8 + size) & 0xff), unsigned((8 + size) >> 8), 5, 0, 0x84, 0, 0, 0}));
  CHECK(bytes_vec(m.begin() + 8, m.end()) == bytes_vec(f.manifest.bytes.begin(), f.manifest.bytes.end()));
  // What the AP makes of it: the manifest parses to the bundles it was built from.
  const auto parsed = gb::parse_manifest(vireo::const_bytes{m.data() + 8, size});
  REQUIRE(parsed.has_value());
  CHECK(parsed->bundles().size() == 2);
  CHECK(f.iface.cport_count() == 4);
}

TEST_CASE("module control: a real manifest vector is served byte for byte, cport_count from it") {
  const auto& v = greybus_manifest_test::v_manifests_vm_bridged_phy_mnfb;
  const vireo::const_bytes bytes = std::as_bytes(std::span{v});
  auto i = gbm::interface<4>::create(bytes);
  REQUIRE(i.has_value());
  CHECK(i->cport_count() == 6);  // CPorts 1..5
  std::array<std::byte, 256> out{};
  const bytes_vec req = request(9, 0x04);
  const auto n = i->handle(0, {req.data(), req.size()}, out);
  REQUIRE(n.has_value());
  REQUIRE(*n == 8 + sizeof v);
  CHECK(std::equal(out.begin() + 8, out.begin() + static_cast<std::ptrdiff_t>(*n), bytes.begin()));
  CHECK(i->control().manifest().vendor_string() == "Example Vendor");
}

TEST_CASE("module control: Connected / Disconnecting / Disconnected drive the CPort state") {
  fixture f;
  CHECK(f.iface.state(1) == gbm::cport_state::disconnected);
  CHECK(f.iface.state(0) == gbm::cport_state::connected);  // implicit control connection
  f.connect(1);
  CHECK(f.iface.state(1) == gbm::cport_state::connected);
  CHECK(f.gpio_probe.connects == 1);
  CHECK(f.ok(0, request(10, 0x0c, {1, 0})) == response(10, 0x0c));
  CHECK(f.iface.state(1) == gbm::cport_state::disconnecting);
  CHECK(f.gpio_probe.disconnects == 0);
  CHECK(f.ok(0, request(11, 0x06, {1, 0})) == response(11, 0x06));
  CHECK(f.iface.state(1) == gbm::cport_state::disconnected);
  CHECK(f.gpio_probe.disconnects == 1);

  // Disconnected straight from connected, and Connected again on a connected CPort (an AP that
  // restarted): the old connection is closed first.
  f.connect(1);
  f.connect(1);
  CHECK(f.gpio_probe.connects == 3);
  CHECK(f.gpio_probe.disconnects == 2);
  CHECK(f.ok(0, request(12, 0x06, {1, 0})) == response(12, 0x06));
  CHECK(f.gpio_probe.disconnects == 3);

  // A CPort without a responder has a state too.
  f.connect(3);
  CHECK(f.iface.state(3) == gbm::cport_state::connected);
}

TEST_CASE("module control: (dis)connect requests that fit no CPort state answer GB_OP_INVALID") {
  fixture f;
  using gb::status;
  CHECK(f.ok(0, request(1, 0x05, {9, 0})) == error_response(1, 0x05, status::invalid));
  CHECK(f.ok(0, request(2, 0x05, {1, 1})) == error_response(2, 0x05, status::invalid));  // 257
  CHECK(f.ok(0, request(3, 0x0c, {1, 0})) == error_response(3, 0x0c, status::invalid));
  CHECK(f.ok(0, request(4, 0x06, {1, 0})) == error_response(4, 0x06, status::invalid));
  f.connect(1);
  CHECK(f.ok(0, request(5, 0x0c, {1, 0})) == response(5, 0x0c));
  CHECK(f.ok(0, request(6, 0x0c, {1, 0})) == error_response(6, 0x0c, status::invalid));
  CHECK(f.gpio_probe.connects == 1);
  CHECK(f.gpio_probe.disconnects == 0);
  // CPort 0: Linux sends Disconnecting(0) when it closes the control connection; the control
  // connection is implicit, so all three succeed and change nothing.
  CHECK(f.ok(0, request(7, 0x0c, {0, 0})) == response(7, 0x0c));
  CHECK(f.ok(0, request(8, 0x05, {0, 0})) == response(8, 0x05));
  CHECK(f.ok(0, request(9, 0x06, {0, 0})) == response(9, 0x06));
  CHECK(f.iface.state(0) == gbm::cport_state::connected);
  CHECK(f.ok(0, request(10, 0x01, {0, 1})) == response(10, 0x01, {0, 1}));
}

TEST_CASE("module control: Bundle PM follows control.rst's bundle state machine") {
  fixture f;
  const auto pm = [&](std::uint16_t id, std::uint8_t type, unsigned bundle, unsigned status) {
    CHECK(f.ok(0, request(id, type, {bundle})) == response(id, type, {status}));
  };
  constexpr std::uint8_t suspend = 0x0f, resume = 0x10, deactivate = 0x11, activate = 0x12;
  constexpr unsigned ok = 0, inval = 1, busy = 2, na = 4;
  REQUIRE(f.iface.control().bundle(1) == gbm::bundle_state::active);
  pm(1, activate, 1, ok);    // already active: OK
  pm(2, resume, 1, ok);      // already active: OK
  pm(3, suspend, 1, ok);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::suspended);
  pm(4, suspend, 1, ok);     // already suspended: OK
  pm(5, activate, 1, na);    // suspended -> activate: NA
  pm(6, deactivate, 1, na);  // suspended -> deactivate: NA
  pm(7, resume, 1, ok);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::active);
  pm(8, deactivate, 1, ok);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::off);
  pm(9, deactivate, 1, ok);  // already off: OK
  pm(10, suspend, 1, na);    // off -> suspend: NA
  pm(11, resume, 1, na);     // off -> resume: NA
  pm(12, activate, 1, ok);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::active);
  // Unknown bundles (0 is the control bundle, never a bundle here): INVAL.
  for (std::uint8_t t : {suspend, resume, deactivate, activate}) {
    pm(13, t, 7, inval);
    pm(14, t, 0, inval);
  }
  // A bundle with an open connection cannot leave BUNDLE_ACTIVE; bundle 2 is not affected.
  f.connect(1);
  pm(15, suspend, 1, busy);
  pm(16, deactivate, 1, busy);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::active);
  pm(17, suspend, 2, ok);
  CHECK(f.ok(0, request(18, 0x0c, {1, 0})) == response(18, 0x0c));
  pm(19, suspend, 1, busy);  // disconnecting is still open
  CHECK(f.ok(0, request(20, 0x06, {1, 0})) == response(20, 0x06));
  pm(21, suspend, 1, ok);
}

TEST_CASE("module control: Bundle Version, Interface PM, Hibernate Abort, Mode Switch") {
  fixture f;
  CHECK(f.ok(0, request(1, 0x0b, {1})) == response(1, 0x0b, {0, 1}));
  CHECK(f.ok(0, request(2, 0x0b, {2})) == response(2, 0x0b, {0, 1}));
  CHECK(f.ok(0, request(3, 0x0b, {5})) == error_response(3, 0x0b, gb::status::invalid));
  CHECK(f.ok(0, request(4, 0x13)) == response(4, 0x13, {0}));
  CHECK(f.ok(0, request(5, 0x14)) == response(5, 0x14, {0}));
  CHECK(f.ok(0, request(6, 0x15)) == response(6, 0x15));
  // Mode Switch is unidirectional: no response, even if the AP gave it an id.
  CHECK(f.ok(0, request(0, 0x0e)).empty());
  CHECK(f.ok(0, request(7, 0x0e)).empty());
  CHECK(f.iface.control().mode_switches() == 2);
  CHECK(f.ok(0, request(0, 0x0e, {1})).empty());  // malformed: not counted, still no response
  CHECK(f.iface.control().mode_switches() == 2);
}

TEST_CASE("module control: unsupported and unknown types answer GB_OP_INVALID") {
  fixture f;
  using gb::status;
  // Probe AP (Linux-only, unused), TimeSync (not implemented), reserved, Invalid.
  CHECK(f.ok(0, request(1, 0x02)) == error_response(1, 0x02, status::invalid));
  CHECK(f.ok(0, request(2, 0x07, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) ==
        error_response(2, 0x07, status::invalid));
  CHECK(f.ok(0, request(3, 0x08)) == error_response(3, 0x08, status::invalid));
  CHECK(f.ok(0, request(4, 0x0a)) == error_response(4, 0x0a, status::invalid));
  CHECK(f.ok(0, request(5, 0x0d)) == error_response(5, 0x0d, status::invalid));
  CHECK(f.ok(0, request(6, 0x16)) == error_response(6, 0x16, status::invalid));
  CHECK(f.ok(0, request(7, 0x7e)) == error_response(7, 0x7e, status::invalid));
  CHECK(f.ok(0, request(8, 0x7f)) == error_response(8, 0x7f, status::invalid));
  // Unidirectional unknown request: nothing is sent back.
  CHECK(f.ok(0, request(0, 0x16)).empty());
}

TEST_CASE("module control: malformed payloads answer GB_OP_INVALID") {
  fixture f;
  using gb::status;
  struct bad {
    std::uint8_t type;
    std::initializer_list<unsigned> payload;
  };
  const bad cases[] = {
      {0x00, {}},           {0x00, {1, 0}},    {0x01, {0}},     {0x01, {0, 1, 0}},
      {0x03, {0}},          {0x04, {0}},       {0x05, {1}},     {0x05, {1, 0, 0}},
      {0x06, {}},           {0x0c, {1, 0, 0}}, {0x0b, {}},      {0x0b, {1, 0}},
      {0x0f, {}},           {0x10, {1, 1}},    {0x11, {}},      {0x12, {1, 2}},
      {0x13, {0}},          {0x14, {0}},       {0x15, {0}},
  };
  std::uint16_t id = 100;
  for (const bad& b : cases) {
    CAPTURE(b.type);
    CHECK(f.ok(0, request(id, b.type, b.payload)) == error_response(id, b.type, status::invalid));
    ++id;
  }
  CHECK(f.iface.state(1) == gbm::cport_state::disconnected);
  CHECK(f.iface.control().bundle(1) == gbm::bundle_state::active);
}

TEST_CASE("module: messages that cannot be answered are dropped with a typed errc") {
  fixture f;
  f.connect(1);
  CHECK(err(f.send(0, raw({8, 0, 1, 0, 0x01}))) == errc::greybus_short_message);
  CHECK(err(f.send(0, raw({7, 0, 1, 0, 0x01, 0, 0, 0}))) == errc::greybus_size_below_header);
  CHECK(err(f.send(0, raw({12, 0, 1, 0, 0x01, 0, 0, 0, 0, 1}))) == errc::greybus_incomplete_message);
  CHECK(err(f.send(0, raw({8, 0, 0, 0, 0x81, 0, 0, 0}))) == errc::greybus_response_id_zero);
  // Responses arriving at the module: it sent no request that wants one.
  CHECK(err(f.send(0, response(3, 0x01, {0, 1}))) == errc::greybus_not_a_request);
  CHECK(err(f.send(1, response(3, 0x09))) == errc::greybus_not_a_request);
  CHECK(err(f.send(1, frame(3, 0x89, 0x06, {}))) == errc::greybus_not_a_request);
  // CPorts the manifest does not list: no connection exists, nothing to answer on.
  CHECK(err(f.send(4, request(3, 0x02))) == errc::greybus_cport_unknown);
  CHECK(err(f.send(0xffff, request(3, 0x02))) == errc::greybus_cport_unknown);
  CHECK(f.iface.dropped() == 9);
  CHECK(f.gpio_probe.requests == 0);
  // Too small an output buffer for even an error response.
  std::array<std::byte, 7> tiny{};
  const bytes_vec v = request(3, 0x01, {0, 1});
  CHECK(err(f.iface.handle(0, {v.data(), v.size()}, tiny)) == errc::no_space);
  // The module still works.
  CHECK(f.ok(0, request(4, 0x01, {0, 1})) == response(4, 0x01, {0, 1}));
}

TEST_CASE("module: bytes after header.size are ignored, as Linux does") {
  fixture f;
  bytes_vec v = request(2, 0x01, {0, 1});
  v.push_back(std::byte{0xee});
  v.push_back(std::byte{0xee});
  CHECK(f.ok(0, v) == response(2, 0x01, {0, 1}));
  // The pad bytes are not looked at (transports use them for CPort ids).
  bytes_vec p = request(3, 0x01, {0, 1});
  p[6] = std::byte{0x12};
  p[7] = std::byte{0x34};
  CHECK(f.ok(0, p) == response(3, 0x01, {0, 1}));
}

TEST_CASE("module: a CPort not connected refuses requests; disconnecting takes only CPort Shutdown") {
  fixture f;
  using gb::status;
  CHECK(f.ok(1, request(1, 0x09, {0, 1})) == error_response(1, 0x09, gbm::not_connected_status));
  CHECK(gbm::not_connected_status == status::invalid_state);
  CHECK(err(f.send(1, request(0, 0x09, {0, 1}))) == errc::greybus_connection_not_ready);
  CHECK(f.ok(1, request(2, 0x00, {1})) == error_response(2, 0x00, gbm::not_connected_status));
  CHECK(f.gpio_probe.requests == 0);
  CHECK(f.iface.refused() == 3);

  f.connect(1);
  CHECK(f.ok(1, request(3, 0x09, {0, 1})) == error_response(3, 0x09, status::retry));  // the probe
  CHECK(f.gpio_probe.requests == 1);
  CHECK(f.ok(0, request(4, 0x0c, {1, 0})) == response(4, 0x0c));
  CHECK(f.ok(1, request(5, 0x09, {0, 1})) == error_response(5, 0x09, gbm::not_connected_status));
  CHECK(f.ok(1, request(6, 0x00, {1})) == response(6, 0x00));
  CHECK(f.ok(1, request(7, 0x00, {2})) == response(7, 0x00));
  CHECK(f.gpio_probe.requests == 3);
  CHECK(f.ok(0, request(8, 0x06, {1, 0})) == response(8, 0x06));
  CHECK(f.ok(1, request(9, 0x00, {1})) == error_response(9, 0x00, gbm::not_connected_status));
  CHECK(f.gpio_probe.requests == 3);
}

TEST_CASE("module: a connected CPort without a responder answers GB_OP_PROTOCOL_BAD") {
  fixture f;
  f.connect(3);  // SPI: in the manifest, nothing attached
  CHECK(f.ok(3, request(1, 0x02)) == error_response(1, 0x02, gb::status::protocol_bad));
  CHECK(f.ok(3, request(2, 0x00, {1})) == response(2, 0x00));  // CPort Shutdown still works
  CHECK(f.ok(3, request(3, 0x00, {3})) == error_response(3, 0x00, gb::status::invalid));
  CHECK(f.iface.refused() == 1);
}

TEST_CASE("module: CPort Shutdown takes Linux's phases 1 and 2 on every connection") {
  fixture f;
  CHECK(f.ok(0, request(1, 0x00, {1})) == raw({8, 0, 1, 0, 0x80, 0, 0, 0}));
  CHECK(f.ok(0, request(2, 0x00, {2})) == response(2, 0x00));
  CHECK(f.ok(0, request(3, 0x00, {0})) == error_response(3, 0x00, gb::status::invalid));
  CHECK(f.ok(0, request(4, 0x00, {3})) == error_response(4, 0x00, gb::status::invalid));
}

TEST_CASE("module: a response too large for the output buffer becomes GB_OP_OVERFLOW") {
  fixture f;
  std::array<std::byte, 16> small{};
  const bytes_vec v = request(5, 0x04);
  const auto n = f.iface.handle(0, {v.data(), v.size()}, small);
  REQUIRE(n.has_value());
  CHECK(bytes_vec(small.begin(), small.begin() + static_cast<std::ptrdiff_t>(*n)) ==
        error_response(5, 0x04, gb::status::overflow));
}

TEST_CASE("module: unidirectional requests are carried out and answered with nothing") {
  fixture f;
  CHECK(f.ok(0, request(0, 0x05, {1, 0})).empty());
  CHECK(f.iface.state(1) == gbm::cport_state::connected);
  CHECK(f.gpio_probe.connects == 1);
  CHECK(f.ok(0, request(0, 0x01, {0, 1})).empty());
  CHECK(f.ok(0, request(0, 0x05, {9, 0})).empty());  // refused, silently
  CHECK(f.ok(1, request(0, 0x09, {0, 1})).empty());
  CHECK(f.gpio_probe.requests == 1);
}

TEST_CASE("module: attach checks the CPort against the manifest") {
  two_bundles m;
  auto i = gbm::interface<1>::create(m.bytes);
  REQUIRE(i.has_value());
  probe p1, p2;
  CHECK(err(i->attach(0, p1)) == errc::greybus_cport_unknown);
  CHECK(err(i->attach(4, p1)) == errc::greybus_cport_unknown);
  CHECK(err(i->attach(2, p1)) == errc::greybus_protocol_mismatch);  // I2C CPort
  CHECK(err(i->attach(3, p1)) == errc::greybus_protocol_mismatch);  // SPI CPort
  CHECK(i->attach(1, p1).has_value());
  CHECK(err(i->attach(1, p2)) == errc::greybus_cport_in_use);

  // Attached to an already connected CPort: told at once.
  auto j = gbm::interface<1>::create(m.bytes);
  REQUIRE(j.has_value());
  std::array<std::byte, 64> out{};
  const bytes_vec c = request(1, 0x05, {1, 0});
  REQUIRE(j->handle(0, {c.data(), c.size()}, out).has_value());
  CHECK(j->attach(1, p2).has_value());
  CHECK(p2.connects == 1);
}

TEST_CASE("module: a route table that is full refuses more responders") {
  const auto& v = greybus_manifest_test::v_manifests_vm_bridged_phy_mnfb;
  auto i = gbm::interface<1>::create(std::as_bytes(std::span{v}));
  REQUIRE(i.has_value());
  probe p;
  CHECK(i->attach(1, p).has_value());
  uart_probe u;
  CHECK(err(i->attach(4, u)) == errc::table_full);
}

TEST_CASE("module: create refuses a manifest the Linux AP would refuse, or one too large") {
  const auto bad = raw({8, 0, 0, 1, 8, 0, 1, 0});  // size 8 but a 4-byte descriptor header only
  CHECK(!gbm::interface<4>::create({bad.data(), bad.size()}).has_value());
  const auto no_bundle = raw({12, 0, 0, 1, 8, 0, 1, 0, 0, 0, 0, 0});  // interface only
  CHECK(err(gbm::interface<4>::create({no_bundle.data(), no_bundle.size()})) ==
        errc::greybus_manifest_no_bundles);
  two_bundles m;
  CHECK(err(gbm::interface<4, 1, 8>::create(m.bytes)) == errc::greybus_manifest_capacity);
  CHECK(err(gbm::interface<4, 8, 2>::create(m.bytes)) == errc::greybus_manifest_capacity);
}

TEST_CASE("module: disconnect_all closes every connection and tells the responders") {
  fixture f;
  f.connect(1);
  f.connect(3);
  f.iface.disconnect_all();
  CHECK(f.iface.state(1) == gbm::cport_state::disconnected);
  CHECK(f.iface.state(3) == gbm::cport_state::disconnected);
  CHECK(f.gpio_probe.disconnects == 1);
  CHECK(f.ok(1, request(1, 0x09, {0, 1})) == error_response(1, 0x09, gbm::not_connected_status));
}
