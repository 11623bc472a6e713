// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/gpio/names.hpp: building, parsing and walking the GET_LINE_NAMES blob
// (virtio §5.18.6.1), and the uniqueness check.
#include "test_support.hpp"
#include "vireo/gpio/names.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

using vireo::errc;
using vireo_test::err;
namespace gpio = vireo::gpio;

// The spec's example (§5.18.6.1): 10 lines, names on 0, 5 and 7. (The listing spells line 7
// "Ethernet reset"; its prose says "ethernet reset". The listing is the bytes.)
constexpr std::array<std::string_view, 10> spec_names = {
    "MMC-CD", "", "", "", "", "Red LED Vdd", "", "Ethernet reset", "", ""};
constexpr std::string_view spec_blob =
    "MMC-CD\0\0\0\0\0Red LED Vdd\0\0Ethernet reset\0\0\0"sv;

static_assert(gpio::names_size(spec_names).value() == spec_blob.size());
static_assert(spec_blob.size() == 7 + 4 + 12 + 1 + 15 + 2);

constexpr bool built_equals_spec() {
  std::array<std::byte, spec_blob.size()> out{};
  auto n = gpio::build_names(spec_names, out);
  if (!n || *n != spec_blob.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] != static_cast<std::byte>(spec_blob[i])) return false;
  return true;
}
static_assert(built_equals_spec());
static_assert(gpio::parse_names(spec_blob, 10).has_value());
static_assert(gpio::parse_names(spec_blob, 10)->name(7).value() == "Ethernet reset");
static_assert(std::forward_iterator<gpio::names_view::iterator>);
static_assert(std::ranges::forward_range<gpio::names_view>);

std::vector<std::string_view> collect(const gpio::names_view& v) {
  return {v.begin(), v.end()};
}

std::vector<std::byte> build(std::span<const std::string_view> names) {
  auto size = gpio::names_size(names);
  REQUIRE(size.has_value());
  std::vector<std::byte> out(*size);
  auto n = gpio::build_names(names, out);
  REQUIRE(n.has_value());
  CHECK(*n == *size);
  return out;
}

}  // namespace

TEST_CASE("GV4 names: the spec example builds byte for byte and parses back") {
  const auto blob = build(spec_names);
  REQUIRE(blob.size() == spec_blob.size());
  CHECK(std::equal(blob.begin(), blob.end(), spec_blob.begin(),
                   [](std::byte a, char b) { return a == static_cast<std::byte>(b); }));

  auto v = gpio::parse_names(vireo::const_bytes{blob}, 10);
  REQUIRE(v.has_value());
  CHECK(v->size() == 10);
  CHECK(v->size_bytes() == spec_blob.size());
  CHECK(collect(*v) == std::vector<std::string_view>(spec_names.begin(), spec_names.end()));
  CHECK(v->name(0).value() == "MMC-CD");
  CHECK(v->name(1).value().empty());
  CHECK(v->name(9).value().empty());
  CHECK(err(v->name(10)) == errc::gpio_line_out_of_range);
  CHECK(v->find("Red LED Vdd").value() == 5);
  CHECK(err(v->find("GPIO0")) == errc::not_found);
  CHECK(err(v->find("")) == errc::not_found);  // unnamed lines have no name to find

  std::array<std::uint32_t, 10> scratch{};
  CHECK(gpio::check_unique(*v, scratch).has_value());
}

TEST_CASE("GV4 names: iterator positions, lines and offsets") {
  auto v = gpio::parse_names("a\0\0bc\0"sv, 3);
  REQUIRE(v.has_value());
  auto it = v->begin();
  CHECK(it.line() == 0);
  CHECK(it.offset() == 0);
  CHECK(*it == "a");
  auto old = it++;
  CHECK(*old == "a");
  CHECK(it.line() == 1);
  CHECK(it.offset() == 2);
  CHECK((*it).empty());
  ++it;
  CHECK(*it == "bc");
  CHECK(it.offset() == 3);
  ++it;
  CHECK(it == v->end());
  CHECK(std::ranges::distance(*v) == 3);
}

TEST_CASE("GV4 names: every line unnamed is a blob of ngpio NUL bytes") {
  const std::vector<std::string_view> none(5);
  const auto blob = build(none);
  CHECK(blob == std::vector<std::byte>(5, std::byte{0}));
  auto v = gpio::parse_names(vireo::const_bytes{blob}, 5);
  REQUIRE(v.has_value());
  for (std::string_view n : *v) CHECK(n.empty());
  std::array<std::uint32_t, 5> scratch{};
  CHECK(gpio::check_unique(*v, scratch).has_value());  // empty names may repeat
}

TEST_CASE("names: zero lines is an empty blob, which also means no names (size 0)") {
  CHECK(gpio::names_size({}).value() == 0);
  std::array<std::byte, 1> out{std::byte{0x5a}};
  CHECK(gpio::build_names({}, out).value() == 0);
  CHECK(out[0] == std::byte{0x5a});
  auto v = gpio::parse_names(""sv, 0);
  REQUIRE(v.has_value());
  CHECK(v->empty());
  CHECK(v->begin() == v->end());
}

TEST_CASE("names parse: truncated blobs (missing names or terminators)") {
  CHECK(err(gpio::parse_names(""sv, 1)) == errc::gpio_names_truncated);
  CHECK(err(gpio::parse_names("abc"sv, 1)) == errc::gpio_names_truncated);     // no NUL
  CHECK(err(gpio::parse_names("a\0b"sv, 2)) == errc::gpio_names_truncated);    // last unended
  CHECK(err(gpio::parse_names("a\0b\0"sv, 3)) == errc::gpio_names_truncated);  // one short
  CHECK(err(gpio::parse_names("\0\0"sv, 3)) == errc::gpio_names_truncated);
  CHECK(err(gpio::parse_names(spec_blob.substr(0, spec_blob.size() - 1), 10)) ==
        errc::gpio_names_truncated);
}

TEST_CASE("names parse: bytes after the last name are refused (blob size = gpio_names_size)") {
  CHECK(err(gpio::parse_names("\0"sv, 0)) == errc::gpio_names_trailing);
  CHECK(err(gpio::parse_names("a\0"sv, 0)) == errc::gpio_names_trailing);
  CHECK(err(gpio::parse_names("a\0b\0"sv, 1)) == errc::gpio_names_trailing);  // one too many
  CHECK(err(gpio::parse_names("a\0\0"sv, 1)) == errc::gpio_names_trailing);   // NUL padding
  CHECK(err(gpio::parse_names("a\0xyz"sv, 1)) == errc::gpio_names_trailing);  // junk
  std::string padded{spec_blob};
  padded += '\0';
  CHECK(err(gpio::parse_names(padded, 10)) == errc::gpio_names_trailing);
}

TEST_CASE("names parse: names are 7-bit ASCII; the first fault from the front wins") {
  CHECK(err(gpio::parse_names("\x80\0"sv, 1)) == errc::gpio_name_invalid);
  CHECK(err(gpio::parse_names("ok\0caf\xc3\xa9\0"sv, 2)) == errc::gpio_name_invalid);
  CHECK(err(gpio::parse_names("\xff"sv, 1)) == errc::gpio_name_invalid);  // before truncation
  CHECK(err(gpio::parse_names("a\0\x80"sv, 1)) == errc::gpio_names_trailing);  // past the end
  auto v = gpio::parse_names("\x01\x7f ~\0"sv, 1);  // control characters are 7-bit ASCII
  REQUIRE(v.has_value());
  CHECK(v->name(0).value() == "\x01\x7f ~"sv);
}

TEST_CASE("names parse: ngpio 65535, the most a le16 can count") {
  const std::string blob(65535, '\0');
  auto v = gpio::parse_names(blob, 65535);
  REQUIRE(v.has_value());
  CHECK(v->size() == 65535);
  CHECK(std::ranges::distance(*v) == 65535);
  CHECK(err(gpio::parse_names(blob.substr(1), 65535)) == errc::gpio_names_truncated);
}

TEST_CASE("names build: invalid names, size limits, and a buffer that is too small") {
  const std::array<std::string_view, 2> with_nul = {"a", "b\0c"sv};
  CHECK(err(gpio::names_size(with_nul)) == errc::gpio_name_invalid);
  const std::array<std::string_view, 1> high = {"caf\xc3\xa9"};
  CHECK(err(gpio::names_size(high)) == errc::gpio_name_invalid);

  const std::vector<std::string_view> too_many(65536);
  CHECK(err(gpio::names_size(too_many)) == errc::gpio_names_too_large);
  const std::vector<std::string_view> most(65535);
  CHECK(gpio::names_size(most).value() == 65535);

  const std::array<std::string_view, 3> names = {"reset", "", "irq"};
  CHECK(gpio::names_size(names).value() == 6 + 1 + 4);
  std::array<std::byte, 11> exact{};
  CHECK(gpio::build_names(names, exact).value() == 11);
  std::array<std::byte, 16> larger{};
  larger.fill(std::byte{0xee});
  CHECK(gpio::build_names(names, larger).value() == 11);
  CHECK(larger[11] == std::byte{0xee});  // nothing past the blob
  std::array<std::byte, 10> small{};
  small.fill(std::byte{0xee});
  CHECK(err(gpio::build_names(names, small)) == errc::no_space);
  CHECK(std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xee}; }));
  CHECK(err(gpio::build_names(with_nul, larger)) == errc::gpio_name_invalid);
}

TEST_CASE("GV4 names: check_unique finds a repeated non-empty name anywhere") {
  std::array<std::uint32_t, 8> scratch{};
  auto dup = gpio::parse_names("led\0\0btn\0led\0"sv, 4);
  REQUIRE(dup.has_value());
  CHECK(err(gpio::check_unique(*dup, scratch)) == errc::gpio_name_duplicate);
  // A name that is a prefix of another is a different name.
  auto prefix = gpio::parse_names("led\0led2\0le\0"sv, 3);
  REQUIRE(prefix.has_value());
  CHECK(gpio::check_unique(*prefix, scratch).has_value());
  // Scratch must hold ngpio entries.
  CHECK(err(gpio::check_unique(*dup, std::span<std::uint32_t>{scratch}.first(3))) ==
        errc::invalid_argument);
}

TEST_CASE("GV4 names: check_unique over many names agrees with a set") {
  // 2000 names from a small alphabet, so that some repeat; then the same list de-duplicated.
  std::vector<std::string> owned;
  std::uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    const std::size_t len = (x >> 16) % 4;
    std::string s;
    for (std::size_t k = 0; k < len; ++k) s += static_cast<char>('a' + ((x >> (4 + 3 * k)) % 6));
    owned.push_back(s);
  }
  for (bool dedup : {false, true}) {
    CAPTURE(dedup);
    std::vector<std::string_view> names;
    std::set<std::string_view> seen;
    bool has_dup = false;
    for (const std::string& s : owned) {
      const bool fresh = s.empty() || seen.insert(s).second;
      if (!fresh && dedup) continue;
      has_dup = has_dup || !fresh;
      names.push_back(s);
    }
    const auto blob = build(names);
    auto v = gpio::parse_names(vireo::const_bytes{blob}, static_cast<std::uint16_t>(names.size()));
    REQUIRE(v.has_value());
    CHECK(collect(*v) == names);
    std::vector<std::uint32_t> scratch(names.size());
    CHECK(gpio::check_unique(*v, scratch).has_value() == !has_dup);
    CHECK(has_dup == !dedup);
  }
}

TEST_CASE("names: a blob that changes after parsing never makes the view read outside it") {
  std::string blob = "ab\0c\0\0"s;  // three lines
  const std::string_view view_of{blob};
  auto v = gpio::parse_names(view_of, 3);
  REQUIRE(v.has_value());
  for (char& c : blob) c = 'x';  // shared memory rewritten: no terminator left
  std::size_t total = 0;
  for (std::string_view n : *v) {
    CHECK(n.data() >= blob.data());
    CHECK(n.data() + n.size() <= blob.data() + blob.size());
    total += n.size();
  }
  CHECK(total == blob.size());  // the first name now runs to the end; the rest are empty
  std::array<std::uint32_t, 3> scratch{};
  CHECK(gpio::check_unique(*v, scratch).has_value());
  CHECK(v->name(2).has_value());
}

TEST_CASE("names: build then parse round trip over generated lists") {
  std::uint32_t x = 7;
  for (int round = 0; round < 200; ++round) {
    x = x * 1664525u + 1013904223u;
    const std::size_t count = 1 + (x >> 20) % 40;
    std::vector<std::string> owned;
    for (std::size_t i = 0; i < count; ++i) {
      x = x * 1664525u + 1013904223u;
      std::string s;
      for (std::size_t k = 0; k < (x >> 24) % 9; ++k)
        s += static_cast<char>(0x20 + (x >> k) % 0x5f);
      owned.push_back(std::to_string(i) + ":" + s);  // unique: the first ':' ends the index
      if ((x & 3) == 0) owned.back().clear();
    }
    const std::vector<std::string_view> names(owned.begin(), owned.end());
    const auto blob = build(names);
    auto v = gpio::parse_names(vireo::const_bytes{blob}, static_cast<std::uint16_t>(count));
    REQUIRE(v.has_value());
    CHECK(collect(*v) == names);
    std::vector<std::uint32_t> scratch(count);
    CHECK(gpio::check_unique(*v, scratch).has_value());
    for (std::size_t i = 0; i < count; ++i) {
      if (names[i].empty()) continue;
      CHECK(v->find(names[i]).value() == i);
    }
  }
}
