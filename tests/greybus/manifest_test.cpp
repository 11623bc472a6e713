// SPDX-License-Identifier: Apache-2.0
// Greybus manifests (greybus digest §5): every manifest and bad-manifest vector with both
// verdicts and the resulting bundles; the builder (exact bytes, limits) and builder -> parser
// round trips; the Linux behaviours the vector set does not cover.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "greybus/manifest_vectors.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/manifest_builder.hpp"

namespace {

namespace gb = vireo::greybus;
using namespace greybus_manifest_test;
using vireo::const_bytes;
using gb::manifest_mode;

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

/// A small manifest built from typed descriptors (`body` adds what follows the interface).
template <typename Body>
std::vector<std::byte> build(Body body, std::uint8_t vsid = 1, std::uint8_t psid = 2) {
  std::vector<std::byte> buf(1024);
  gb::manifest_builder b{buf};
  REQUIRE(b.add_interface(vsid, psid).has_value());
  body(b);
  auto n = b.finish();
  REQUIRE(n.has_value());
  buf.resize(*n);
  return buf;
}
void strings(gb::manifest_builder& b) {
  REQUIRE(b.add_string(1, "Acme").has_value());
  REQUIRE(b.add_string(2, "VM bridge").has_value());
}

TEST_CASE("manifest vectors: kernel and strict verdicts, errc and resulting bundles") {
  std::size_t accepted = 0;
  for (const manifest_vector& v : manifest_vectors) {
    CAPTURE(v.name);
    const const_bytes bytes = as_const_bytes(v.bytes);
    auto k = gb::parse_manifest(bytes, manifest_mode::kernel);
    CHECK(code(k) == v.kernel);
    if (k) {
      ++accepted;
      CHECK(bundles_text(*k) == v.bundles);
      CHECK(k->warnings() == v.kernel_warnings);
      CHECK(k->mode() == manifest_mode::kernel);
    } else {
      CHECK(v.bundles.empty());
    }
    auto s = gb::parse_manifest(bytes, manifest_mode::strict);
    CHECK(code(s) == v.strict);
    // INDEX.md: a strict accept is a kernel accept, with the same bundles.
    if (s) {
      REQUIRE(k.has_value());
      CHECK(bundles_text(*s) == v.bundles);
    }
  }
  CHECK(std::size(manifest_vectors) == 44);  // manifests/: 9 manifesto + 10 mine-*; bad/: 25
  CHECK(accepted == 25);  // 19 in manifests/, 6 in bad/ (INDEX.md)
}

TEST_CASE("manifest vectors: interface strings and descriptor counts") {
  for (const manifest_vector& v : manifest_vectors) {
    if (v.name.find("IID1-simple-gpio-module") == std::string_view::npos) continue;
    auto m = gb::parse_manifest(as_const_bytes(v.bytes));
    REQUIRE(m.has_value());
    CHECK(m->vendor_string() == "Project Ara");
    CHECK(m->product_string() == "Simple GPIO Interface");
    CHECK(m->frame().version_major() == 0);
    CHECK(m->frame().version_minor() == 1);
    CHECK(m->frame().size() == v.bytes.size());
    const gb::descriptor_counts& c = m->frame().counts();
    CHECK(c.interfaces == 1);
    CHECK(c.strings == 2);
    CHECK(c.bundles == 2);
    CHECK(c.cports == 2);
    CHECK_FALSE(c.oversized);
    // Iteration sees every descriptor in order, zero-copy.
    std::string types;
    for (gb::descriptor_view d : m->frame()) {
      types += gb::descriptor_type_name(d.raw_type());
      types += ' ';
      CHECK(d.bytes().data() == as_const_bytes(v.bytes).data() + d.offset());
    }
    CHECK(types == "interface string string cport bundle cport bundle ");
    REQUIRE(m->find_bundle(1) != nullptr);
    CHECK(m->find_bundle(0) == nullptr);  // the legacy control bundle is ignored
    REQUIRE(m->find_cport(1) != nullptr);
    CHECK(m->find_cport(1)->protocol == 0x02);
    CHECK(m->find_cport(0) == nullptr);
  }
  // The quoted strings manifesto keeps.
  for (const manifest_vector& v : manifest_vectors) {
    if (v.name != "manifests/IID1-dual-uart-module.mnfb") continue;
    auto m = gb::parse_manifest(as_const_bytes(v.bytes));
    REQUIRE(m.has_value());
    CHECK(m->vendor_string() == "\"Project Ara\"");
    CHECK(m->vendor_string().size() == 13);
  }
}

TEST_CASE("manifest vectors: mine-*.mnfb are byte-identical to manifesto's where both exist") {
  std::size_t pairs = 0;
  for (const manifest_vector& a : manifest_vectors) {
    const std::string_view prefix = "manifests/mine-";
    if (a.name.substr(0, prefix.size()) != prefix) continue;
    const std::string twin = "manifests/" + std::string{a.name.substr(prefix.size())};
    for (const manifest_vector& b : manifest_vectors)
      if (b.name == twin) {
        ++pairs;
        CAPTURE(twin);
        CHECK(a.bytes.size() == b.bytes.size());
        CHECK(std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0);
      }
  }
  CHECK(pairs == 9);  // vm-two-bundles has no manifesto build (manifesto refuses string id 0)
}

TEST_CASE("manifest builder: typed descriptors give the vectors' exact bytes") {
  // ok-25-reference-good: "Acme"/"VM bridge", bundle 1 Bridged PHY, cport 1 GPIO.
  const auto m = build([](gb::manifest_builder& b) {
    strings(b);
    REQUIRE(b.add_bundle(1, 0x0a).has_value());
    REQUIRE(b.add_cport(1, 1, 0x02).has_value());
  });
  bool found = false;
  for (const manifest_vector& v : manifest_vectors)
    if (v.name == "bad/ok-25-reference-good.mnfb") {
      found = true;
      REQUIRE(m.size() == v.bytes.size());
      CHECK(std::memcmp(m.data(), v.bytes.data(), m.size()) == 0);
    }
  CHECK(found);

  // vm-bridged-phy, descriptor by descriptor as manifesto wrote it.
  std::array<std::byte, 256> buf{};
  gb::manifest_builder b{buf};
  REQUIRE(b.add_interface(1, 2).has_value());
  REQUIRE(b.add_string(1, "Example Vendor").has_value());
  REQUIRE(b.add_string(2, "VM Bridged PHY").has_value());
  REQUIRE(b.add_bundle(1, 0x0a).has_value());
  std::uint16_t id = 1;
  for (std::uint8_t p : {0x02, 0x03, 0x0b, 0x04, 0x09}) REQUIRE(b.add_cport(id++, 1, p).has_value());
  auto n = b.finish();
  REQUIRE(n.has_value());
  for (const manifest_vector& v : manifest_vectors)
    if (v.name == "manifests/vm-bridged-phy.mnfb") {
      REQUIRE(*n == v.bytes.size());
      CHECK(std::memcmp(buf.data(), v.bytes.data(), *n) == 0);
    }
}

TEST_CASE("manifest builder: strings counted in bytes and zero-padded to 4") {
  for (std::size_t len = 0; len <= 9; ++len) {
    CAPTURE(len);
    const std::string text(len, 'x');
    const auto m = build([&](gb::manifest_builder& b) {
      REQUIRE(b.add_string(1, text).has_value());
      REQUIRE(b.add_string(2, "p").has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    });
    const std::size_t size = gb::string_descriptor_size(len);
    CHECK(size % 4 == 0);
    CHECK(size >= 6 + len);
    CHECK(size < 6 + len + 4);
    // The string descriptor follows the header (4) and the interface (8).
    CHECK(static_cast<std::size_t>(m[12]) == size);
    CHECK(static_cast<std::size_t>(m[16]) == len);
    for (std::size_t i = 12 + 6 + len; i < 12 + size; ++i) CHECK(m[i] == std::byte{0});
    auto p = gb::parse_manifest(m, manifest_mode::strict);
    REQUIRE(p.has_value());
    CHECK(p->vendor_string() == text);
  }
  // UTF-8: "Grüße" is 5 characters and 7 bytes; the length byte says 7 (manifesto would say 5).
  const std::string_view utf8 = "Gr\xc3\xbc\xc3\x9f" "e";
  const auto m = build([&](gb::manifest_builder& b) {
    REQUIRE(b.add_string(1, utf8).has_value());
    REQUIRE(b.add_string(2, "p").has_value());
    REQUIRE(b.add_bundle(1, 0x0a).has_value());
    REQUIRE(b.add_cport(1, 1, 0x02).has_value());
  });
  CHECK(m[16] == std::byte{7});
  CHECK(m[12] == std::byte{16});
  auto p = gb::parse_manifest(m, manifest_mode::strict);
  REQUIRE(p.has_value());
  CHECK(p->vendor_string() == utf8);
}

TEST_CASE("manifest builder: limits") {
  std::array<std::byte, 64> small{};
  gb::manifest_builder b{small};
  CHECK(code(b.add_string(1, std::string(256, 'a'))) == errc::greybus_manifest_string_too_long);
  CHECK(b.add_string(1, std::string(255, 'a')).has_value() == false);  // 264 bytes > 64
  CHECK(code(b.add_string(1, std::string(255, 'a'))) == vireo::errc::no_space);
  CHECK(b.size() == 4);  // nothing was written by the failed calls
  REQUIRE(b.add_interface(1, 2).has_value());
  CHECK(b.size() == 12);

  std::array<std::byte, 3> tiny{};
  gb::manifest_builder t{tiny};
  CHECK(code(t.add_bundle(1, 0x0a)) == vireo::errc::no_space);
  CHECK(code(t.finish()) == vireo::errc::no_space);

  // The le16 size field caps a manifest at 65535 bytes.
  std::vector<std::byte> big(70000);
  gb::manifest_builder l{big};
  std::size_t added = 0;
  for (;;) {
    auto r = l.add_cport(1, 1, 0x02);
    if (!r) {
      CHECK(r.error() == errc::greybus_manifest_too_large);
      break;
    }
    ++added;
  }
  CHECK(added == (65535 - 4) / 8);
  CHECK(l.finish().value() == 4 + added * 8);
}

TEST_CASE("manifest: rebuild_manifest of every kernel-accepted vector parses to the same bundles") {
  for (const manifest_vector& v : manifest_vectors) {
    auto k = gb::parse_manifest(as_const_bytes(v.bytes));
    if (!k) continue;
    CAPTURE(v.name);
    std::array<std::byte, 512> buf{};
    auto n = gb::rebuild_manifest(*k, buf);
    REQUIRE(n.has_value());
    const const_bytes rebuilt{buf.data(), *n};
    auto again = gb::parse_manifest(rebuilt);
    REQUIRE(again.has_value());
    CHECK(bundles_text(*again) == v.bundles);
    CHECK(again->vendor_string() == k->vendor_string());
    CHECK(again->product_string() == k->product_string());
    CHECK(again->interface().features == k->interface().features);
    // Spec-clean output: strict accepts it unless two bundles share a cport id.
    const bool shared = k->has(gb::manifest_warning::shared_cport);
    CHECK(gb::parse_manifest(rebuilt, manifest_mode::strict).has_value() == !shared);
    // And a rebuild of the rebuild is the same bytes.
    std::array<std::byte, 512> buf2{};
    auto n2 = gb::rebuild_manifest(*again, buf2);
    REQUIRE(n2.has_value());
    CHECK(*n2 == *n);
    CHECK(std::memcmp(buf.data(), buf2.data(), *n) == 0);
  }
}

TEST_CASE("manifest kernel mode: Linux behaviours outside the vector set") {
  SUBCASE("bundle id 0xff fails the manifest (gb_bundle_create)") {
    const auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(0xff, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 0xff, 0x02).has_value());
    });
    CHECK(code(gb::parse_manifest(m)) == errc::greybus_manifest_bundle_invalid_id);
    CHECK(code(gb::parse_manifest(m, manifest_mode::strict)) == errc::greybus_manifest_bundle_invalid_id);
  }
  SUBCASE("vendor and product naming one string: Linux consumes it on first use") {
    const auto one = build([](gb::manifest_builder& b) {
      REQUIRE(b.add_string(1, "Acme").has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    }, 1, 1);
    CHECK(code(gb::parse_manifest(one)) == errc::greybus_manifest_string_reused);
    CHECK(code(gb::parse_manifest(one, manifest_mode::strict)) == errc::greybus_manifest_string_reused);
    // With a second string of that id, Linux finds that one for the product.
    const auto two = build([](gb::manifest_builder& b) {
      REQUIRE(b.add_string(1, "Acme").has_value());
      REQUIRE(b.add_string(1, "Widget").has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    }, 1, 1);
    auto k = gb::parse_manifest(two);
    REQUIRE(k.has_value());
    CHECK(k->vendor_string() == "Acme");
    CHECK(k->product_string() == "Widget");
    CHECK(code(gb::parse_manifest(two, manifest_mode::strict)) == errc::greybus_manifest_string_duplicate);
  }
  SUBCASE("string id 0 in the interface means no string") {
    const auto m = build([](gb::manifest_builder& b) {
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    }, 0, 0);
    auto k = gb::parse_manifest(m, manifest_mode::strict);
    REQUIRE(k.has_value());
    CHECK(k->vendor_string().empty());
    CHECK(k->product_string().empty());
  }
  SUBCASE("a dropped bundle's id may come again: dropped too, not a duplicate") {
    const auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(0, 1, 0x02).has_value());  // id 0: bundle 1 dropped
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_bundle(2, 0x11).has_value());
      REQUIRE(b.add_cport(2, 2, 0x11).has_value());
    });
    auto k = gb::parse_manifest(m);
    REQUIRE(k.has_value());
    CHECK(bundles_text(*k) == "b2/class 0x11: c2:p0x11");
    CHECK(k->has(gb::manifest_warning::bundle_dropped));
    CHECK(code(gb::parse_manifest(m, manifest_mode::strict)) == errc::greybus_manifest_bundle_duplicate);
  }
  SUBCASE("a bundle survives: the same id again fails, wherever its cports are") {
    const auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    });
    CHECK(code(gb::parse_manifest(m)) == errc::greybus_manifest_bundle_duplicate);
  }
  SUBCASE("cports after their bundle's descriptor, across others, keep manifest order") {
    const auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_cport(7, 2, 0x03).has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(3, 1, 0x02).has_value());
      REQUIRE(b.add_bundle(2, 0x0a).has_value());
      REQUIRE(b.add_cport(2, 1, 0x0b).has_value());
    });
    auto k = gb::parse_manifest(m, manifest_mode::strict);
    REQUIRE(k.has_value());
    CHECK(bundles_text(*k) == "b1/class 0x0a: c3:p0x02,c2:p0x0b; b2/class 0x0a: c7:p0x03");
    CHECK(k->warnings() == 0);
  }
  SUBCASE("bundle 0 of another class: ignored by Linux; the strict rules let it pass") {
    const auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(0, 0x0a).has_value());
      REQUIRE(b.add_cport(5, 0, 0x02).has_value());
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    });
    auto k = gb::parse_manifest(m, manifest_mode::strict);
    REQUIRE(k.has_value());
    CHECK(bundles_text(*k) == "b1/class 0x0a: c1:p0x02");
    CHECK(k->has(gb::manifest_warning::control_bundle_ignored));
    // With nothing else, Linux has no bundle left.
    const auto only0 = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(0, 0x0a).has_value());
      REQUIRE(b.add_cport(5, 0, 0x02).has_value());
    });
    CHECK(code(gb::parse_manifest(only0)) == errc::greybus_manifest_no_bundles);
    CHECK(code(gb::parse_manifest(only0, manifest_mode::strict)) == errc::greybus_manifest_no_bundles);
  }
  SUBCASE("an oversized descriptor in a multiple of 4: a warning in both modes") {
    auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    });
    // Grow the bundle descriptor (after header, interface, "Acme", "VM bridge") to 12 bytes.
    const std::size_t at = 4 + 8 + 12 + 16;
    REQUIRE(m[at + 2] == std::byte{3});
    m.insert(m.begin() + static_cast<std::ptrdiff_t>(at + 8), 4, std::byte{0xaa});
    m[at] = std::byte{12};
    m[0] = std::byte(m.size());
    auto k = gb::parse_manifest(m, manifest_mode::strict);
    REQUIRE(k.has_value());
    CHECK(k->has(gb::manifest_warning::oversized_descriptor));
    CHECK(bundles_text(*k) == "b1/class 0x0a: c1:p0x02");
  }
  SUBCASE("a header with nothing after it has no interface") {
    const std::array<std::byte, 4> h{std::byte{4}, std::byte{0}, std::byte{0}, std::byte{1}};
    CHECK(code(gb::parse_manifest(h)) == errc::greybus_manifest_interface_count);
  }
  SUBCASE("minor versions and 0.0 are accepted") {
    auto m = build([](gb::manifest_builder& b) {
      strings(b);
      REQUIRE(b.add_bundle(1, 0x0a).has_value());
      REQUIRE(b.add_cport(1, 1, 0x02).has_value());
    });
    for (std::uint8_t minor : {0, 1, 2, 255}) {
      m[3] = std::byte{minor};
      CHECK(gb::parse_manifest(m, manifest_mode::strict).has_value());
    }
  }
  SUBCASE("string descriptor below 6 bytes: too small, its length byte is not read") {
    // interface, then a 4-byte "string" at the very end of the buffer.
    std::vector<std::byte> m(8 + 4 + 4);
    m[0] = std::byte(m.size());
    m[3] = std::byte{1};
    m[4] = std::byte{8};
    m[6] = std::byte{1};
    m[12] = std::byte{4};
    m[14] = std::byte{2};
    CHECK(code(gb::parse_manifest(m)) == errc::greybus_manifest_descriptor_too_small);
  }
}

TEST_CASE("manifest strict mode: one rule at a time") {
  auto base = [](gb::manifest_builder& b) {
    REQUIRE(b.add_bundle(1, 0x0a).has_value());
    REQUIRE(b.add_cport(1, 1, 0x02).has_value());
  };
  // Each case: kernel accepts, strict rejects with the rule's errc.
  const auto zero_string = build([&](gb::manifest_builder& b) {
    strings(b);
    REQUIRE(b.add_string(0, "zero").has_value());
    base(b);
  });
  CHECK(gb::parse_manifest(zero_string).has_value());
  CHECK(code(gb::parse_manifest(zero_string, manifest_mode::strict)) == errc::greybus_manifest_string_id_zero);

  const auto shared_cport = build([&](gb::manifest_builder& b) {
    strings(b);
    base(b);
    REQUIRE(b.add_bundle(2, 0x0a).has_value());
    REQUIRE(b.add_cport(1, 2, 0x03).has_value());
  });
  CHECK(gb::parse_manifest(shared_cport).has_value());
  CHECK(code(gb::parse_manifest(shared_cport, manifest_mode::strict)) ==
        errc::greybus_manifest_cport_duplicate);

  const auto unreferenced_string = build([&](gb::manifest_builder& b) {
    strings(b);
    REQUIRE(b.add_string(3, "spare").has_value());
    base(b);
  });
  auto k = gb::parse_manifest(unreferenced_string, manifest_mode::strict);
  REQUIRE(k.has_value());  // the vector set's strict rules do not ask for every string to be used
  CHECK(k->has(gb::manifest_warning::excess_descriptors));
}

TEST_CASE("manifest: capacity of the bounded view") {
  const auto m = build([](gb::manifest_builder& b) {
    strings(b);
    for (std::uint8_t id = 1; id <= 3; ++id) {
      REQUIRE(b.add_bundle(id, 0x0a).has_value());
      REQUIRE(b.add_cport(id, id, 0x02).has_value());
      REQUIRE(b.add_cport(static_cast<std::uint16_t>(10 + id), id, 0x03).has_value());
    }
  });
  CHECK(gb::parse_manifest<3, 6>(m).has_value());
  CHECK(code(gb::parse_manifest<2, 6>(m)) == errc::greybus_manifest_capacity);
  CHECK(code(gb::parse_manifest<3, 5>(m)) == errc::greybus_manifest_capacity);
  auto ok = gb::parse_manifest<3, 6>(m);
  REQUIRE(ok.has_value());
  CHECK(ok->cports().size() == 6);
  CHECK(ok->cports(ok->bundles()[2]).size() == 2);
  CHECK(ok->cports(ok->bundles()[2])[1].id == 13);
}

TEST_CASE("manifest names: protocols, classes, descriptor types (§5.2, §5.3)") {
  CHECK(gb::cport_protocol_name(0x00) == "Control");
  CHECK(gb::cport_protocol_name(0x02) == "GPIO");
  CHECK(gb::cport_protocol_name(0x0b) == "SPI");
  CHECK(gb::cport_protocol_name(0x1a) == "Log");
  CHECK(gb::cport_protocol_name(0x1b) == "reserved");
  CHECK(gb::cport_protocol_name(0xfe) == "Raw");
  CHECK(gb::cport_protocol_name(0xff) == "Vendor");
  CHECK(gb::bundle_class_name(0x0a) == "Bridged PHY");
  CHECK(gb::bundle_class_name(0x01) == "reserved");
  CHECK(gb::bundle_class_name(0x11) == "Loopback");
  CHECK(gb::descriptor_type_name(0x04) == "cport");
  CHECK(gb::descriptor_type_name(0x05) == "reserved");
  CHECK(gb::minimum_descriptor_size(0x02, 0) == 8);
  CHECK(gb::minimum_descriptor_size(0x02, 3) == 12);
  CHECK(gb::minimum_descriptor_size(0x05, 0) == 0);
}

}  // namespace
