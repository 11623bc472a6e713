// SPDX-License-Identifier: Apache-2.0
// The line grammar of projectara/manifesto's .mnfs files, which are read by Python's
// configparser (defaults: '#'/';' full-line comments only, '=' or ':' delimiters, keys
// lower-cased, indented lines continue the previous value, universal newlines). A zero-copy
// lexer: sections and options as views into the text; option values decoded on demand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::mnfs {

/// Python's str.strip()/\s for ASCII: space, \t \n \v \f \r and the separators 0x1c..0x1f.
/// (Non-ASCII whitespace such as U+00A0 is not stripped here; Python would strip it.)
[[nodiscard]] constexpr bool is_space(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  return b == ' ' || (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x1f);
}
[[nodiscard]] constexpr std::string_view strip(std::string_view s) noexcept {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return {s.data() + b, e - b};
}
/// s[pos, pos + n) for in-range arguments; unlike substr() it pulls in no throwing helper.
[[nodiscard]] constexpr std::string_view sub(std::string_view s, std::size_t pos, std::size_t n) noexcept {
  return {s.data() + pos, n};
}
[[nodiscard]] constexpr bool equal_lower(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

/// Whether `text` is valid UTF-8 (Python refuses to read the file otherwise): no overlong
/// forms, no surrogates, nothing above U+10FFFF.
[[nodiscard]] constexpr bool valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    std::size_t n = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b == 0xe0) { n = 2; lo = 0xa0; }
    else if (b == 0xed) { n = 2; hi = 0x9f; }
    else if (b >= 0xe1 && b <= 0xef) n = 2;
    else if (b == 0xf0) { n = 3; lo = 0x90; }
    else if (b >= 0xf1 && b <= 0xf3) n = 3;
    else if (b == 0xf4) { n = 3; hi = 0x8f; }
    else return false;
    if (text.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if (c < (k == 1 ? lo : 0x80u) || c > (k == 1 ? hi : 0xbfu)) return false;
    }
    i += n + 1;
  }
  return true;
}

/// One physical line: its text without terminator, where the next line starts, its number.
struct line {
  std::string_view raw;
  std::size_t begin = 0;
  std::size_t next = 0;
  std::size_t number = 0;
};

/// The line starting at `pos`: ends at "\n", "\r\n" or "\r" (Python's universal newlines).
[[nodiscard]] constexpr line line_at(std::string_view text, std::size_t pos, std::size_t number) noexcept {
  std::size_t e = pos;
  while (e < text.size() && text[e] != '\n' && text[e] != '\r') ++e;
  std::size_t next = e;
  if (next < text.size()) {
    if (text[next] == '\r' && next + 1 < text.size() && text[next + 1] == '\n') next += 2;
    else next += 1;
  }
  return {sub(text, pos, e - pos), pos, next, number};
}

enum class line_kind : std::uint8_t { blank, comment, content };
[[nodiscard]] constexpr line_kind classify(std::string_view raw) noexcept {
  const std::string_view s = strip(raw);
  if (s.empty()) return line_kind::blank;
  if (s.front() == '#' || s.front() == ';') return line_kind::comment;
  return line_kind::content;
}
[[nodiscard]] constexpr std::size_t indent_of(std::string_view raw) noexcept {
  std::size_t i = 0;
  while (i < raw.size() && is_space(raw[i])) ++i;
  return i;
}

/// An option value: its first line's text, then continuation lines up to `cont_end`.
struct value_ref {
  std::string_view first;
  std::size_t cont_begin = 0;
  std::size_t cont_end = 0;
};

/// Decode `v` as configparser + BasicInterpolation hand it out: lines joined by '\n' (blank
/// lines inside kept empty, comment lines skipped), then "%%" -> "%". Returns the length
/// written to `out`. Errors: greybus_mnfs_unsupported ("%(name)s" interpolation),
/// greybus_mnfs_syntax (another '%'), no_space (longer than `out`).
[[nodiscard]] constexpr result<std::size_t> decode_value(std::string_view text, const value_ref& v,
                                                         char* out, std::size_t cap) noexcept {
  std::size_t n = 0;
  bool percent = false;
  auto emit = [&](char c) -> result<void> {
    if (percent) {
      percent = false;
      if (c == '%') {
        if (n == cap) return errc::no_space;
        out[n++] = '%';
        return ok();
      }
      return c == '(' ? errc::greybus_mnfs_unsupported : errc::greybus_mnfs_syntax;
    }
    if (c == '%') {
      percent = true;
      return ok();
    }
    if (n == cap) return errc::no_space;
    out[n++] = c;
    return ok();
  };
  for (char c : v.first) VIREO_TRY(emit(c));
  std::size_t pos = v.cont_begin;
  while (pos < v.cont_end) {
    const line l = line_at(text, pos, 0);
    pos = l.next;
    const line_kind k = classify(l.raw);
    if (k == line_kind::comment) continue;
    VIREO_TRY(emit('\n'));
    for (char c : strip(l.raw)) VIREO_TRY(emit(c));
  }
  if (percent) return errc::greybus_mnfs_syntax;
  return n;
}

/// What the lexer found: a section header or an option.
struct event {
  enum class kind : std::uint8_t { section, option, end } what = kind::end;
  std::size_t line = 0;        ///< 1-based
  std::size_t begin = 0;       ///< offset of the line in the text
  std::string_view name;       ///< section name (between '[' and the last ']'), or key as written
  value_ref value;             ///< options only
};

/// Walks a .mnfs text event by event. Errors: greybus_mnfs_syntax for a content line that is
/// neither a section header nor "key = value"/"key: value", an empty key, or an option before
/// the first section.
class lexer {
 public:
  constexpr explicit lexer(std::string_view text, std::size_t pos = 0, std::size_t line = 1,
                           bool in_section = false) noexcept
      : text_(text), pos_(pos), line_(line), in_section_(in_section) {}

  [[nodiscard]] constexpr std::size_t line_number() const noexcept { return line_; }

  [[nodiscard]] constexpr result<event> next() noexcept {
    while (pos_ < text_.size()) {
      const line l = line_at(text_, pos_, line_);
      pos_ = l.next;
      ++line_;
      if (classify(l.raw) != line_kind::content) continue;
      const std::string_view s = strip(l.raw);
      indent_ = indent_of(l.raw);
      // A section header: '[', at least one character, and the last ']' of the line (the
      // pattern `\[(?P<header>.+)\]` is greedy and not anchored at the end).
      const std::size_t close = s.rfind(']');
      if (s.front() == '[' && close != std::string_view::npos && close >= 2) {
        in_section_ = true;
        return event{event::kind::section, l.number, l.begin, sub(s, 1, close - 1), {}};
      }
      if (!in_section_) return errc::greybus_mnfs_syntax;
      std::size_t d = 0;
      while (d < s.size() && s[d] != '=' && s[d] != ':') ++d;
      if (d == s.size()) return errc::greybus_mnfs_syntax;
      const std::string_view key = strip(sub(s, 0, d));
      if (key.empty()) return errc::greybus_mnfs_syntax;
      event e{event::kind::option, l.number, l.begin, key, {strip(sub(s, d + 1, s.size() - d - 1)), pos_, pos_}};
      // Continuation lines: more indented than the option line; blank and comment lines in
      // between belong to the value only if a continuation follows them.
      std::size_t p = pos_;
      std::size_t ln = line_;
      while (p < text_.size()) {
        const line c = line_at(text_, p, ln);
        const line_kind k = classify(c.raw);
        if (k == line_kind::content) {
          if (indent_of(c.raw) <= indent_) break;
          e.value.cont_end = c.next;
          pos_ = c.next;
          line_ = ln + 1;
        }
        p = c.next;
        ++ln;
      }
      // The value ends with its last continuation line; drop a terminator the region kept.
      return e;
    }
    return event{};
  }

 private:
  std::string_view text_;
  std::size_t pos_;
  std::size_t line_;
  bool in_section_;
  std::size_t indent_ = 0;
};

}  // namespace greybus::mnfs
VIREO_NAMESPACE_END
