// SPDX-License-Identifier: Apache-2.0
// The .mnfs text form of a Greybus manifest (projectara/manifesto's INI-like source format) ->
// .mnfb bytes, byte-identical to manifesto's output: descriptors in the order their sections
// appear, strings kept exactly as written (double quotes included), same checks. Freestanding:
// no heap, the caller's output buffer is the only storage. Differences from manifesto (on
// purpose): string lengths are counted in UTF-8 bytes, not characters; an interface string id
// of 0 means "no string" (spec and Linux) where manifesto refuses it; [DEFAULT], "%(name)s"
// interpolation and the later mikrobus/property/device sections (descriptor types 5..7, which
// Linux rejects) are refused with greybus_mnfs_unsupported.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/manifest/frame.hpp"
#include "vireo/greybus/manifest/mnfs_lexer.hpp"
#include "vireo/greybus/manifest/wire.hpp"
#include "vireo/greybus/manifest_builder.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// Where compile_mnfs() stopped: the 1-based line of the section or option at fault (0 when
/// the fault is not tied to one line, such as a missing [interface-descriptor]).
struct mnfs_diagnostic {
  std::size_t line = 0;
};

namespace mnfs {

/// Python int(s, 0) for ASCII: surrounding whitespace, an optional sign, 0x/0o/0b prefixes,
/// single underscores between digits, no leading zeros on a non-zero decimal. Returns the
/// value if it is in [0, max]. Errors: greybus_mnfs_bad_number.
[[nodiscard]] constexpr result<std::uint32_t> parse_int(std::string_view s, std::uint32_t max) noexcept {
  s = strip(s);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  unsigned base = 10;
  bool zero_decimal = false;
  if (s.size() >= 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    if (p == 'x') base = 16;
    else if (p == 'o') base = 8;
    else if (p == 'b') base = 2;
    else zero_decimal = true;
    if (base != 10) {
      s.remove_prefix(2);
      if (!s.empty() && s.front() == '_') s.remove_prefix(1);  // "0x_1f" is valid
    }
  }
  if (s.empty()) return errc::greybus_mnfs_bad_number;
  std::uint64_t v = 0;
  bool prev_digit = false;
  for (char c : s) {
    if (c == '_') {
      if (!prev_digit) return errc::greybus_mnfs_bad_number;
      prev_digit = false;
      continue;
    }
    unsigned d = 99;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    if (d >= base) return errc::greybus_mnfs_bad_number;
    if (zero_decimal && d != 0) return errc::greybus_mnfs_bad_number;  // "01" is refused
    v = v * base + d;
    if (v > 0xffff'ffffu) return errc::greybus_mnfs_bad_number;
    prev_digit = true;
  }
  if (!prev_digit) return errc::greybus_mnfs_bad_number;  // trailing '_'
  if ((negative && v != 0) || v > max) return errc::greybus_mnfs_bad_number;
  return static_cast<std::uint32_t>(v);
}

enum class section_kind : std::uint8_t { none, header, interface, string, bundle, cport };
enum key : std::uint8_t {
  key_version_major,
  key_version_minor,
  key_vendor_string_id,
  key_product_string_id,
  key_string,
  key_class,
  key_bundle,
  key_protocol,
  key_count
};
inline constexpr std::string_view key_names[key_count] = {
    "version-major", "version-minor", "vendor-string-id", "product-string-id",
    "string",        "class",         "bundle",           "protocol"};

/// The section being read: its kind, id and where its known keys' values are.
struct section_state {
  section_kind kind = section_kind::none;
  std::uint32_t id = 0;
  std::size_t line = 0;
  std::size_t body = 0;  ///< offset of the line after the header
  std::size_t body_line = 0;
  std::array<bool, key_count> has{};
  std::array<value_ref, key_count> values{};
};

/// Kind and id of a section name, as manifesto's parse_file reads them.
[[nodiscard]] constexpr result<void> classify_section(std::string_view name, section_state& s) noexcept {
  if (name != strip(name)) return errc::greybus_mnfs_syntax;  // "invalid spaces in '[...]'"
  if (name == "DEFAULT") return errc::greybus_mnfs_unsupported;  // configparser's defaults
  if (name == "manifest-header") {
    s.kind = section_kind::header;
    return ok();
  }
  if (name == "interface-descriptor") {
    s.kind = section_kind::interface;
    return ok();
  }
  if (name == "mikrobus-descriptor") return errc::greybus_mnfs_unsupported;
  // "<kind> <id>": split at whitespace; further words are ignored, as section.split()[1] does.
  std::size_t e = 0;
  while (e < name.size() && !is_space(name[e])) ++e;
  const std::string_view word = sub(name, 0, e);
  std::uint32_t max = 0xff;
  if (word == "string-descriptor") s.kind = section_kind::string;
  else if (word == "bundle-descriptor") s.kind = section_kind::bundle;
  else if (word == "cport-descriptor") {
    s.kind = section_kind::cport;
    max = 0xffff;
  } else if (word == "property-descriptor" || word == "device-descriptor") {
    return errc::greybus_mnfs_unsupported;
  } else {
    return errc::greybus_mnfs_unknown_section;
  }
  std::size_t b = e;
  while (b < name.size() && is_space(name[b])) ++b;
  e = b;
  while (e < name.size() && !is_space(name[e])) ++e;
  std::string_view id = sub(name, b, e - b);  // .strip('"')
  while (!id.empty() && id.front() == '"') id.remove_prefix(1);
  while (!id.empty() && id.back() == '"') id.remove_suffix(1);
  if (b == e) return errc::greybus_mnfs_bad_number;  // "missing id value"
  auto v = parse_int(id, max);
  if (!v) return v.error();
  s.id = *v;
  return ok();
}

/// Everything compile_mnfs() carries from section to section.
struct compiler {
  std::string_view text;
  manifest_builder out;
  bool have_header = false;
  bool have_interface = false;
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  std::size_t error_line = 0;

  [[nodiscard]] constexpr result<std::uint32_t> int_value(const section_state& s, key k,
                                                          std::uint32_t max) noexcept {
    if (!s.has[k]) return errc::greybus_mnfs_missing_key;
    std::array<char, 256> buf{};
    auto n = decode_value(text, s.values[k], buf.data(), buf.size());
    if (!n) return n.error() == errc::no_space ? errc::greybus_mnfs_bad_number : n.error();
    return parse_int({buf.data(), *n}, max);
  }

  /// Whether a descriptor of `type` with `id` was already written.
  [[nodiscard]] constexpr bool written(descriptor_type type, std::uint32_t id) const noexcept {
    const const_bytes w = out.written();
    for (descriptor_iterator it{w, manifest_header_size}, end{w, w.size()}; it != end; ++it) {
      const descriptor_view d = *it;
      if (!d.is(type)) continue;
      if (type == descriptor_type::string && d.string_id() == id) return true;
      if (type == descriptor_type::bundle && d.bundle().id == id) return true;
      if (type == descriptor_type::cport && d.cport().id == id) return true;
    }
    return false;
  }

  /// Emit the descriptor of a finished section (manifesto packs them in section order).
  [[nodiscard]] constexpr result<void> finish(const section_state& s) noexcept {
    switch (s.kind) {
      case section_kind::none: return ok();
      case section_kind::header: {
        if (have_header) return errc::greybus_mnfs_duplicate;
        auto vmaj = int_value(s, key_version_major, 0xff);
        if (!vmaj) return vmaj.error();
        auto vmin = int_value(s, key_version_minor, 0xff);
        if (!vmin) return vmin.error();
        // manifesto accepts exactly the version it writes.
        if (*vmaj != manifest_version_major || *vmin != manifest_version_minor)
          return errc::greybus_mnfs_bad_header;
        have_header = true;
        major = static_cast<std::uint8_t>(*vmaj);
        minor = static_cast<std::uint8_t>(*vmin);
        return ok();
      }
      case section_kind::interface: {
        if (have_interface) return errc::greybus_mnfs_duplicate;
        auto v = int_value(s, key_vendor_string_id, 0xff);
        if (!v) return v.error();
        auto p = int_value(s, key_product_string_id, 0xff);
        if (!p) return p.error();
        have_interface = true;
        return out.add_interface(static_cast<std::uint8_t>(*v), static_cast<std::uint8_t>(*p));
      }
      case section_kind::string: {
        if (!s.has[key_string]) return errc::greybus_mnfs_missing_key;
        std::array<char, max_string_length> buf{};
        auto n = decode_value(text, s.values[key_string], buf.data(), buf.size());
        if (!n) return n.error() == errc::no_space ? errc::greybus_manifest_string_too_long : n.error();
        if (s.id == 0) return errc::greybus_mnfs_bad_number;  // "cannot be 0"
        if (written(descriptor_type::string, s.id)) return errc::greybus_mnfs_duplicate_id;
        return out.add_string(static_cast<std::uint8_t>(s.id), {buf.data(), *n});
      }
      case section_kind::bundle: {
        auto c = int_value(s, key_class, 0xff);
        if (!c) return c.error();
        if (s.id == control_bundle_id && *c != class_control) return errc::greybus_mnfs_control_mismatch;
        if (written(descriptor_type::bundle, s.id)) return errc::greybus_mnfs_duplicate_id;
        return out.add_bundle(static_cast<std::uint8_t>(s.id), static_cast<std::uint8_t>(*c));
      }
      case section_kind::cport: {
        auto b = int_value(s, key_bundle, 0xff);
        if (!b) return b.error();
        auto p = int_value(s, key_protocol, 0xff);
        if (!p) return p.error();
        if (s.id == control_cport_id && *p != protocol_control) return errc::greybus_mnfs_control_mismatch;
        if (written(descriptor_type::cport, s.id)) return errc::greybus_mnfs_duplicate_id;
        return out.add_cport(static_cast<std::uint16_t>(s.id), static_cast<std::uint8_t>(*b),
                             static_cast<std::uint8_t>(*p));
      }
    }
    return ok();
  }

  /// configparser refuses a key given twice in one section (any key, known or not).
  [[nodiscard]] constexpr result<void> check_unique_key(const section_state& s, const event& e) const noexcept {
    lexer again{text, s.body, s.body_line, true};
    for (;;) {
      auto prev = again.next();
      if (!prev || prev->what != event::kind::option || prev->begin >= e.begin) return ok();
      if (equal_lower(prev->name, e.name)) return errc::greybus_mnfs_duplicate;
    }
  }

  /// manifesto's auto_check, on the descriptors written.
  [[nodiscard]] constexpr result<void> check_references() const noexcept {
    if (!have_header || !have_interface) return errc::greybus_mnfs_bad_header;
    const const_bytes w = out.written();
    interface_fields iface{};
    for (descriptor_iterator it{w, manifest_header_size}, end{w, w.size()}; it != end; ++it)
      if ((*it).is(descriptor_type::interface)) iface = (*it).interface();
    for (std::uint8_t sid : {iface.vendor_string_id, iface.product_string_id})
      if (sid != 0 && !written(descriptor_type::string, sid)) return errc::greybus_mnfs_bad_reference;
    if (iface.vendor_string_id != 0 && iface.vendor_string_id == iface.product_string_id)
      return errc::greybus_mnfs_bad_reference;  // "multiple references"
    for (descriptor_iterator it{w, manifest_header_size}, end{w, w.size()}; it != end; ++it)
      if ((*it).is(descriptor_type::cport) && !written(descriptor_type::bundle, (*it).cport().bundle))
        return errc::greybus_mnfs_bad_reference;
    return ok();
  }
};

}  // namespace mnfs

/// Compile .mnfs `text` into `out` and return the manifest's size. The bytes are manifesto's
/// (see the file comment for the deliberate differences). Errors: greybus_mnfs_syntax (bad
/// UTF-8, a line that is no section/option/comment, spaces inside the brackets),
/// greybus_mnfs_unknown_section, greybus_mnfs_unsupported, greybus_mnfs_duplicate (section or
/// key twice), greybus_mnfs_missing_key, greybus_mnfs_bad_number (not an integer, out of range,
/// missing or zero string id), greybus_mnfs_duplicate_id, greybus_mnfs_control_mismatch,
/// greybus_mnfs_bad_header (no header or interface, version not 0.1),
/// greybus_mnfs_bad_reference, greybus_manifest_string_too_long, greybus_manifest_too_large,
/// no_space. `diag`, when given, receives the line at fault.
[[nodiscard]] constexpr result<std::size_t> compile_mnfs(std::string_view text, bytes out,
                                                         mnfs_diagnostic* diag = nullptr) noexcept {
  using namespace mnfs;
  compiler c{text, manifest_builder{out}};
  section_state s;
  auto fail = [&](errc e, std::size_t line) -> result<std::size_t> {
    if (diag != nullptr) diag->line = line;
    return e;
  };
  if (!valid_utf8(text)) return fail(errc::greybus_mnfs_syntax, 0);
  lexer lex{text};
  for (;;) {
    auto e = lex.next();
    if (!e) return fail(e.error(), lex.line_number() - 1);
    if (e->what == event::kind::option) {
      if (auto u = c.check_unique_key(s, *e); !u) return fail(u.error(), e->line);
      for (std::size_t k = 0; k < key_count; ++k)
        if (equal_lower(e->name, key_names[k])) {
          s.has[k] = true;
          s.values[k] = e->value;
        }
      continue;
    }
    if (auto f = c.finish(s); !f) return fail(f.error(), s.line);
    if (e->what == event::kind::end) break;
    s = section_state{};
    s.line = e->line;
    s.body = line_at(text, e->begin, 0).next;
    s.body_line = e->line + 1;
    if (auto k = classify_section(e->name, s); !k) return fail(k.error(), e->line);
  }
  if (auto r = c.check_references(); !r) return fail(r.error(), 0);
  auto size = c.out.finish();  // the header last: its size is known only now
  if (!size) return fail(size.error(), 0);
  // The version written is the one read (always 0.1: manifesto accepts nothing else).
  out[2] = std::byte{c.major};
  out[3] = std::byte{c.minor};
  return *size;
}

}  // namespace greybus
VIREO_NAMESPACE_END
