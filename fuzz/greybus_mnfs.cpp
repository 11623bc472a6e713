// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the .mnfs text front-end (include/vireo/greybus/mnfs.hpp). The input is .mnfs
// text. Invariants: compiling never crashes and is deterministic; an accepted text gives a
// manifest that frames (header size = bytes, version 0.1, exact descriptor sizes, 4-byte
// multiples) and whose parse verdicts are consistent (strict accept => kernel accept); exactly
// enough room works, one byte less gives no_space; and the manifest written back as .mnfs text
// (a plain writer here) compiles to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/mnfs.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::errc;

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

/// A string value as .mnfs text: '%' doubled, each '\n' a new indented continuation line (an
/// empty piece a blank line). The front-end's values are stripped pieces, so this is exact.
std::string value_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += "%%";
    else if (c == '\n') out += "\n ";
    else out += c;
  }
  // Blank continuation pieces: "\n \n x" must be "\n\n x" (a line of spaces is blank anyway).
  return out;
}

std::string write_mnfs(const gb::manifest_frame& f) {
  std::string t = "[manifest-header]\nversion-major = 0\nversion-minor = 1\n";
  for (gb::descriptor_view d : f) {
    if (d.is(gb::descriptor_type::interface)) {
      const auto i = d.interface();
      t += "[interface-descriptor]\nvendor-string-id = " + std::to_string(i.vendor_string_id) +
           "\nproduct-string-id = " + std::to_string(i.product_string_id) + "\n";
    } else if (d.is(gb::descriptor_type::string)) {
      t += "[string-descriptor " + std::to_string(d.string_id()) + "]\nstring = " +
           value_text(d.string_text()) + "\n";
    } else if (d.is(gb::descriptor_type::bundle)) {
      const auto b = d.bundle();
      t += "[bundle-descriptor " + std::to_string(b.id) + "]\nclass = " + std::to_string(b.bundle_class) + "\n";
    } else if (d.is(gb::descriptor_type::cport)) {
      const auto c = d.cport();
      t += "[cport-descriptor " + std::to_string(c.id) + "]\nbundle = " + std::to_string(c.bundle) +
           "\nprotocol = " + std::to_string(c.protocol) + "\n";
    }
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A copy of exactly the input, so ASan sees any read past the text.
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::byte> out(gb::max_manifest_size + 1, std::byte{0xee});
  gb::mnfs_diagnostic diag;
  auto n = gb::compile_mnfs(text, out, &diag);
  if (!n) {
    FUZZ_CHECK(diag.line <= size + 1);
    return 0;
  }
  FUZZ_CHECK(*n >= 4 && *n <= gb::max_manifest_size && *n % 4 == 0);
  for (std::size_t i = *n; i < out.size(); ++i) FUZZ_CHECK(out[i] == std::byte{0xee});
  const vireo::const_bytes bytes{out.data(), *n};
  auto f = gb::frame_manifest(bytes);
  FUZZ_CHECK(f.has_value());
  FUZZ_CHECK(f->version_major() == 0 && f->version_minor() == 1);
  FUZZ_CHECK(!f->counts().oversized);
  FUZZ_CHECK(f->counts().interfaces == 1);

  auto kernel = gb::parse_manifest<255, 8192>(bytes, gb::manifest_mode::kernel);
  auto strict = gb::parse_manifest<255, 8192>(bytes, gb::manifest_mode::strict);
  if (strict) FUZZ_CHECK(kernel.has_value());
  (void)kernel;

  // Deterministic, exact room, one byte short.
  std::vector<std::byte> exact(*n);
  FUZZ_CHECK(gb::compile_mnfs(text, exact).value() == *n);
  FUZZ_CHECK(std::memcmp(exact.data(), out.data(), *n) == 0);
  std::vector<std::byte> short_buf(*n - 1);
  FUZZ_CHECK(code(gb::compile_mnfs(text, short_buf)) == errc::no_space);

  // Written back as text, the manifest compiles to the same bytes.
  const std::string again_text = write_mnfs(*f);
  std::vector<std::byte> again(gb::max_manifest_size);
  auto m = gb::compile_mnfs(again_text, again);
  FUZZ_CHECK(m.has_value());
  FUZZ_CHECK(*m == *n);
  FUZZ_CHECK(std::memcmp(again.data(), out.data(), *n) == 0);
  return 0;
}
