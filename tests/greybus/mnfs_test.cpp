// SPDX-License-Identifier: Apache-2.0
// The .mnfs front-end: every manifests/*.mnfs of shared/vectors/greybus compiles to the
// reference .mnfb byte for byte; manifesto's (configparser's) syntax quirks; each error.
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
#include "vireo/greybus/mnfs.hpp"

namespace {

namespace gb = vireo::greybus;
using namespace greybus_manifest_test;

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

/// Compile `text`; the bytes, or empty with the error in `err`.
std::vector<std::byte> compile(std::string_view text, errc* err = nullptr, std::size_t* line = nullptr) {
  std::vector<std::byte> out(4096);
  gb::mnfs_diagnostic d;
  auto r = gb::compile_mnfs(text, out, &d);
  if (err != nullptr) *err = code(r);
  if (line != nullptr) *line = d.line;
  if (!r) return {};
  out.resize(*r);
  return out;
}
errc error_of(std::string_view text) {
  errc e{};
  (void)compile(text, &e);
  return e;
}

constexpr std::string_view head =
    "[manifest-header]\nversion-major = 0\nversion-minor = 1\n\n"
    "[interface-descriptor]\nvendor-string-id = 1\nproduct-string-id = 2\n\n";
constexpr std::string_view tail =
    "[string-descriptor 1]\nstring = Acme\n\n[string-descriptor 2]\nstring = VM bridge\n\n"
    "[bundle-descriptor 1]\nclass = 0x0a\n\n[cport-descriptor 1]\nbundle = 1\nprotocol = 0x02\n";

std::string with(std::string_view middle) { return std::string{head} + std::string{middle} + std::string{tail}; }

/// The reference manifest of head + tail (ok-25-reference-good.mnfb of the vector set).
std::vector<std::byte> reference() {
  for (const manifest_vector& v : manifest_vectors)
    if (v.name == "bad/ok-25-reference-good.mnfb") {
      const auto b = as_const_bytes(v.bytes);
      return {b.begin(), b.end()};
    }
  FAIL("no ok-25 vector");
  return {};
}

TEST_CASE("mnfs vectors: every .mnfs compiles byte-identical to its reference .mnfb") {
  std::size_t manifesto = 0;
  for (const mnfs_vector& v : mnfs_vectors) {
    CAPTURE(v.name);
    errc e{};
    std::size_t line = 0;
    const auto out = compile(as_text(v.text), &e, &line);
    CAPTURE(line);
    REQUIRE(e == errc{});
    REQUIRE(out.size() == v.mnfb.size());
    CHECK(std::memcmp(out.data(), v.mnfb.data(), out.size()) == 0);
    if (v.reference == "manifesto") ++manifesto;
    // Exactly enough room works; one byte less does not, and leaves no partial manifest.
    std::vector<std::byte> exact(out.size());
    CHECK(gb::compile_mnfs(as_text(v.text), exact).value() == out.size());
    std::vector<std::byte> short_buf(out.size() - 1);
    CHECK(code(gb::compile_mnfs(as_text(v.text), short_buf)) == vireo::errc::no_space);
  }
  CHECK(std::size(mnfs_vectors) == 10);
  CHECK(manifesto == 9);
}

TEST_CASE("mnfs: the reference text compiles to ok-25-reference-good.mnfb") {
  CHECK(compile(with("")) == reference());
}

TEST_CASE("mnfs: configparser syntax manifesto inherits") {
  const auto ref = reference();
  SUBCASE("':' delimiter, upper-case keys, spaces around the delimiter") {
    CHECK(compile(with("")) == ref);
    std::string t = with("");
    t.replace(t.find("class = 0x0a"), 12, "CLASS:0x0a");
    CHECK(compile(t) == ref);
    t.replace(t.find("bundle = 1"), 10, "Bundle\t=\t1   ");
    CHECK(compile(t) == ref);
  }
  SUBCASE("full-line comments anywhere, indented too; blank lines; unknown keys ignored") {
    std::string t = "# leading comment\n; another\n" + with("  ; indented comment\n\n");
    t.insert(t.find("[bundle-descriptor 1]"), "[bundle-descriptor 1]\nfoo = bar\n#x\n");
    t.erase(t.rfind("[bundle-descriptor 1]"), std::string_view{"[bundle-descriptor 1]\n"}.size());
    CHECK(compile(t) == ref);
  }
  SUBCASE("CRLF and CR line ends") {
    std::string crlf;
    std::string cr;
    for (char c : with("")) {
      if (c == '\n') {
        crlf += "\r\n";
        cr += '\r';
      } else {
        crlf += c;
        cr += c;
      }
    }
    CHECK(compile(crlf) == ref);
    CHECK(compile(cr) == ref);
  }
  SUBCASE("numbers as Python int(x, 0) reads them") {
    for (std::string_view n : {"10", "0xa", "0XA", "0x_a", "0o12", "0b1010", "+10", "1_0", " 0x0a "}) {
      CAPTURE(n);
      std::string t = with("");
      t.replace(t.find("0x0a"), 4, n);
      CHECK(compile(t) == ref);
    }
    for (std::string_view n : {"010", "0x", "1__0", "_10", "10_", "ten", "-10", "256", "0x100", "1.0", ""}) {
      CAPTURE(n);
      std::string t = with("");
      t.replace(t.find("0x0a"), 4, n);
      CHECK(error_of(t) == errc::greybus_mnfs_bad_number);
    }
    std::string t = with("");
    t.replace(t.find("version-major = 0"), 17, "version-major = -0");  // Python: -0 == 0
    CHECK(compile(t) == ref);
  }
  SUBCASE("section ids: quoted, hex, extra words ignored") {
    std::string t = with("");
    t.replace(t.find("[cport-descriptor 1]"), 20, "[cport-descriptor \"0x1\" extra]");
    CHECK(compile(t) == ref);
  }
  SUBCASE("text after the closing bracket is ignored (configparser's greedy header pattern)") {
    std::string t = with("");
    t.replace(t.find("[bundle-descriptor 1]"), 21, "[bundle-descriptor 1] ; bridged");
    CHECK(compile(t) == ref);
  }
}

TEST_CASE("mnfs: string values are kept as written") {
  auto vendor_of = [](std::string_view value_lines) {
    std::string t = with("");
    const std::string from = "string = Acme\n";
    t.replace(t.find(from), from.size(), std::string{value_lines});
    errc e{};
    const auto out = compile(t, &e);
    REQUIRE(e == errc{});
    auto m = gb::parse_manifest(out);
    REQUIRE(m.has_value());
    return std::string{m->vendor_string()};
  };
  CHECK(vendor_of("string = \"Project Ara\"\n") == "\"Project Ara\"");  // quotes kept (INDEX.md)
  CHECK(vendor_of("string =   spaced   out   \n") == "spaced   out");
  CHECK(vendor_of("string = a ; not a comment\n") == "a ; not a comment");
  CHECK(vendor_of("string = a=b:c\n") == "a=b:c");
  CHECK(vendor_of("string = 100%% sure\n") == "100% sure");  // BasicInterpolation
  CHECK(vendor_of("string = first\n  second\n\n  ; skipped\n\tthird\n") == "first\nsecond\n\nthird");
  CHECK(vendor_of("string =\n  below\n") == "\nbelow");
  CHECK(vendor_of("string =\n") == "");
  CHECK(vendor_of("string = Gr\xc3\xbc\xc3\x9f" "e\n") == "Gr\xc3\xbc\xc3\x9f" "e");  // bytes, not chars
  CHECK(vendor_of("string = " + std::string(255, 'x') + "\n") == std::string(255, 'x'));
}

TEST_CASE("mnfs: descriptor order is section order") {
  const std::string t = std::string{head} +
                        "[cport-descriptor 1]\nbundle = 1\nprotocol = 2\n"
                        "[string-descriptor 2]\nstring = VM bridge\n"
                        "[bundle-descriptor 1]\nclass = 10\n"
                        "[string-descriptor 1]\nstring = Acme\n";
  const auto out = compile(t);
  REQUIRE_FALSE(out.empty());
  auto f = gb::frame_manifest(out);
  REQUIRE(f.has_value());
  std::string types;
  for (gb::descriptor_view d : *f) types += std::string{gb::descriptor_type_name(d.raw_type())} + " ";
  CHECK(types == "interface cport string bundle string ");
  // The header may come last too: it is written last anyway.
  const std::string late = with("").substr(head.find("[interface")) + std::string{head.substr(0, head.find("[interface"))};
  CHECK(compile(late) == reference());
}

TEST_CASE("mnfs: errors") {
  struct bad {
    std::string text;
    errc want;
    std::size_t line;  ///< 0: not checked
  };
  const bad cases[] = {
      {"key = 1\n" + with(""), errc::greybus_mnfs_syntax, 1},
      {with("just words\n"), errc::greybus_mnfs_syntax, 9},
      {with("= value\n"), errc::greybus_mnfs_syntax, 9},
      {with("[ spaced]\nx = 1\n"), errc::greybus_mnfs_syntax, 9},
      {with("[]\n"), errc::greybus_mnfs_syntax, 9},
      {with("\xff\n"), errc::greybus_mnfs_syntax, 0},
      {with("[DEFAULT]\nclass = 1\n"), errc::greybus_mnfs_unsupported, 9},
      {with("[mikrobus-descriptor]\n"), errc::greybus_mnfs_unsupported, 9},
      {with("[device-descriptor 1]\n"), errc::greybus_mnfs_unsupported, 9},
      {with("[bundle-descriptor 2]\nclass = 0x0a\nnote = %(other)s\n"), errc{}, 0},  // unread key: fine
      {with("[string-descriptor 3]\nstring = %(other)s\n"), errc::greybus_mnfs_unsupported, 9},
      {with("[string-descriptor 3]\nstring = 100%\n"), errc::greybus_mnfs_syntax, 9},
      {with("[widget-descriptor 1]\n"), errc::greybus_mnfs_unknown_section, 9},
      {with("[interface-descriptor 1]\n"), errc::greybus_mnfs_unknown_section, 9},
      {with("[bundle-descriptor]\nclass = 1\n"), errc::greybus_mnfs_bad_number, 9},
      {with("[bundle-descriptor 256]\nclass = 1\n"), errc::greybus_mnfs_bad_number, 9},
      {with("[cport-descriptor 65536]\nbundle = 1\nprotocol = 2\n"), errc::greybus_mnfs_bad_number, 9},
      {with("[string-descriptor 0]\nstring = zero\n"), errc::greybus_mnfs_bad_number, 9},
      {with("[bundle-descriptor 2]\n"), errc::greybus_mnfs_missing_key, 9},
      {with("[bundle-descriptor 2]\nclass = 1\nclass = 2\n"), errc::greybus_mnfs_duplicate, 11},
      {with("[bundle-descriptor 2]\nfoo = 1\nFOO = 2\nclass = 1\n"), errc::greybus_mnfs_duplicate, 11},
      {with("[manifest-header]\nversion-major = 0\nversion-minor = 1\n"), errc::greybus_mnfs_duplicate, 9},
      {with("[string-descriptor 0x1]\nstring = again\n"), errc::greybus_mnfs_duplicate_id, 11},
      {with("[bundle-descriptor 0]\nclass = 0x0a\n"), errc::greybus_mnfs_control_mismatch, 9},
      {with("[cport-descriptor 0]\nbundle = 1\nprotocol = 2\n"), errc::greybus_mnfs_control_mismatch, 9},
      {with("[cport-descriptor 9]\nbundle = 7\nprotocol = 2\n"), errc::greybus_mnfs_bad_reference, 0},
      {with("[string-descriptor 3]\nstring = " + std::string(256, 'x') + "\n"),
       errc::greybus_manifest_string_too_long, 9},
      {std::string{tail}, errc::greybus_mnfs_bad_header, 0},
      {with("").substr(head.find("[interface")), errc::greybus_mnfs_bad_header, 0},
      {with("").substr(0, head.find("[interface")) + std::string{tail}, errc::greybus_mnfs_bad_header, 0},
  };
  for (const bad& c : cases) {
    CAPTURE(c.text);
    errc e{};
    std::size_t line = 0;
    (void)compile(c.text, &e, &line);
    CHECK(e == c.want);
    if (c.line != 0) CHECK(line == c.line);
  }
  // Version other than 0.1 (manifesto accepts only what it writes).
  std::string t = with("");
  t.replace(t.find("version-minor = 1"), 17, "version-minor = 2");
  CHECK(error_of(t) == errc::greybus_mnfs_bad_header);
  // References: a missing string, the same string twice (manifesto: "multiple references").
  t = with("");
  t.replace(t.find("product-string-id = 2"), 21, "product-string-id = 5");
  CHECK(error_of(t) == errc::greybus_mnfs_bad_reference);
  t = with("");
  t.replace(t.find("product-string-id = 2"), 21, "product-string-id = 1");
  CHECK(error_of(t) == errc::greybus_mnfs_bad_reference);
  // Deliberate difference: string id 0 = no string (manifesto refuses it).
  t = with("");
  t.replace(t.find("product-string-id = 2"), 21, "product-string-id = 0");
  CHECK(error_of(t) == errc{});
}

TEST_CASE("mnfs: compile output always frames, and validates as the vectors say") {
  for (const mnfs_vector& v : mnfs_vectors) {
    CAPTURE(v.name);
    const auto out = compile(as_text(v.text));
    REQUIRE_FALSE(out.empty());
    CHECK(gb::frame_manifest(out).has_value());
    CHECK(gb::parse_manifest(out).has_value());  // every source here is a kernel accept
  }
}

}  // namespace
