// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the GET_LINE_NAMES blob (virtio §5.18.6.1). Parse arbitrary blobs for any ngpio,
// or build a blob from arbitrary names into a buffer of arbitrary size and parse it back. Each
// result is compared with a plain reference (splitting at NUL bytes, a std::set for
// uniqueness). Input format: docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/gpio/names.hpp"

namespace {

using vireo::errc;
namespace gpio = vireo::gpio;

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

/// The reference parse: errc{} and the names, or the first fault from the front.
errc model_parse(std::string_view blob, std::size_t ngpio, std::vector<std::string_view>& names) {
  names.clear();
  std::size_t pos = 0;
  for (std::size_t line = 0; line < ngpio; ++line) {
    std::size_t end = pos;
    while (end < blob.size() && blob[end] != '\0') {
      if (static_cast<unsigned char>(blob[end]) > 0x7f) return errc::gpio_name_invalid;
      ++end;
    }
    if (end == blob.size()) return errc::gpio_names_truncated;
    names.push_back(blob.substr(pos, end - pos));
    pos = end + 1;
  }
  return pos == blob.size() ? errc{} : errc::gpio_names_trailing;
}

bool model_unique(const std::vector<std::string_view>& names) {
  std::set<std::string_view> seen;
  for (std::string_view n : names)
    if (!n.empty() && !seen.insert(n).second) return false;
  return true;
}

/// Everything a view of `names` must show, and the uniqueness check.
void check_view(const gpio::names_view& v, std::string_view blob,
                const std::vector<std::string_view>& names) {
  FUZZ_CHECK(v.size() == names.size());
  FUZZ_CHECK(v.size_bytes() == blob.size());
  std::size_t i = 0;
  std::string joined;
  for (auto it = v.begin(); it != v.end(); ++it, ++i) {
    FUZZ_CHECK(i < names.size());
    FUZZ_CHECK(it.line() == i);
    FUZZ_CHECK(*it == names[i]);
    FUZZ_CHECK((*it).data() == blob.data() + it.offset());  // zero-copy, in place
    joined.append(*it);
    joined.push_back('\0');
  }
  FUZZ_CHECK(i == names.size());
  FUZZ_CHECK(joined == blob);
  // Random access and lookup on a few lines.
  for (std::size_t k : {std::size_t{0}, names.size() / 2, names.size() - 1, names.size()}) {
    auto n = v.name(static_cast<std::uint32_t>(k));
    if (k < names.size()) FUZZ_CHECK(n.has_value() && *n == names[k]);
    else FUZZ_CHECK(code(n) == errc::gpio_line_out_of_range);
    if (k < names.size() && !names[k].empty()) {
      auto line = v.find(names[k]);
      FUZZ_CHECK(line.has_value() && *line <= k && names[*line] == names[k]);
    }
  }
  std::vector<std::uint32_t> scratch(names.size());
  FUZZ_CHECK(gpio::check_unique(v, scratch).has_value() == model_unique(names));
  if (!names.empty()) {
    scratch.pop_back();
    FUZZ_CHECK(code(gpio::check_unique(v, scratch)) == errc::invalid_argument);
  }
}

void run_parse(vireo_fuzz::byte_source& in, const std::uint8_t* rest, std::size_t n) {
  const std::uint16_t ngpio = in.u16();
  // Past the 3-byte header; a copy of exactly the blob, so ASan sees any overread.
  const std::string blob(reinterpret_cast<const char*>(rest), n);
  std::vector<std::string_view> names;
  const errc want = model_parse(blob, ngpio, names);
  auto v = gpio::parse_names(vireo::const_bytes{reinterpret_cast<const std::byte*>(blob.data()),
                                                blob.size()},
                             ngpio);
  FUZZ_CHECK(code(v) == want);
  if (!v) return;
  check_view(*v, blob, names);
  // parse -> build gives the same bytes.
  auto size = gpio::names_size(names);
  FUZZ_CHECK(size.has_value() && *size == blob.size());
  std::vector<std::byte> out(blob.size());
  FUZZ_CHECK(gpio::build_names(names, out).value() == blob.size());
  FUZZ_CHECK(out.empty() || std::memcmp(out.data(), blob.data(), out.size()) == 0);
}

void run_build(vireo_fuzz::byte_source& in, std::uint8_t mode, const std::uint8_t* rest,
               std::size_t n) {
  const std::size_t cap = in.u16() % 2048;
  // The names: the rest of the input split at 0xff bytes (so NUL and other bytes >= 0x80 land
  // inside names), or none at all.
  const std::string text(reinterpret_cast<const char*>(rest), n);
  std::vector<std::string_view> names;
  if ((mode & 2u) == 0) {
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      if (i == text.size() || static_cast<unsigned char>(text[i]) == 0xff) {
        names.push_back(std::string_view{text}.substr(start, i - start));
        start = i + 1;
      }
    }
  }
  errc want = names.size() > gpio::max_lines ? errc::gpio_names_too_large : errc{};
  std::size_t need = 0;
  for (std::string_view s : names) {
    for (char c : s)
      if (want == errc{} && (c == '\0' || static_cast<unsigned char>(c) > 0x7f))
        want = errc::gpio_name_invalid;
    need += s.size() + 1;
  }
  FUZZ_CHECK(code(gpio::names_size(names)) == want);
  if (want == errc{}) FUZZ_CHECK(gpio::names_size(names).value() == need);

  std::vector<std::byte> out(cap + 16, std::byte{0xee});
  auto built = gpio::build_names(names, vireo::bytes{out.data(), cap});
  if (want == errc{} && cap < need) want = errc::no_space;
  FUZZ_CHECK(code(built) == want);
  const std::size_t wrote = built ? need : 0;
  for (std::size_t i = wrote; i < out.size(); ++i) FUZZ_CHECK(out[i] == std::byte{0xee});
  if (!built) return;
  FUZZ_CHECK(*built == need);

  // build -> parse gives the names back.
  const std::string_view blob{reinterpret_cast<const char*>(out.data()), need};
  auto v = gpio::parse_names(blob, static_cast<std::uint16_t>(names.size()));
  FUZZ_CHECK(v.has_value());
  check_view(*v, blob, names);
  // One line more or fewer does not match the blob.
  if (names.size() < gpio::max_lines)
    FUZZ_CHECK(code(gpio::parse_names(blob, static_cast<std::uint16_t>(names.size() + 1))) ==
               errc::gpio_names_truncated);
  if (!names.empty())
    FUZZ_CHECK(code(gpio::parse_names(blob, static_cast<std::uint16_t>(names.size() - 1))) ==
               errc::gpio_names_trailing);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vireo_fuzz::byte_source in{data, size};
  const std::uint8_t mode = in.u8();
  const std::size_t header = 3;  // mode, then a u16 (ngpio or the buffer size)
  const std::uint8_t* rest = size > header ? data + header : data;
  const std::size_t n = size > header ? size - header : 0;
  if (mode & 1u) run_build(in, mode, rest, n);
  else run_parse(in, rest, n);
  return 0;
}
