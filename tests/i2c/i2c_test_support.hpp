// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the virtio-i2c tests: request bytes, hand-built chains of any segmentation
// over guest memory (mapped or reached through the memory model), snapshots. Test code.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "test_support.hpp"
#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/wire.hpp"

namespace vireo_i2c_test {

using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo_test::err;
namespace i2c = vireo::i2c;
namespace flag = vireo::i2c::flag;

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using chain_t = vireo::chain::descriptor_chain<mem_t, 32>;
using request_t = i2c::request<mem_t>;

/// A deterministic byte pattern.
[[nodiscard]] inline std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::byte>((seed * 131u + i * 29u + (i >> 7)) ^ 0x5Au);
  return v;
}

/// The 8 bytes of a virtio_i2c_out_hdr.
[[nodiscard]] inline std::vector<std::byte> header(std::uint16_t addr, std::uint32_t flags,
                                                   std::uint16_t padding = 0) {
  i2c::out_hdr h{};
  h.addr.set(addr);
  h.padding.set(padding);
  h.flags.set(flags);
  std::vector<std::byte> v(sizeof h);
  std::memcpy(v.data(), &h, sizeof h);
  return v;
}

[[nodiscard]] inline std::vector<std::byte> concat(
    std::initializer_list<std::vector<std::byte>> l) {
  std::vector<std::byte> out;
  for (const auto& v : l) out.insert(out.end(), v.begin(), v.end());
  return out;
}

/// One descriptor of a hand-built chain.
struct piece {
  std::vector<std::byte> data;  ///< readable: its contents; writable: its size (contents ignored)
  bool writable = false;
  bool unmapped = false;  ///< no host view: the cursors copy through the memory model
};
[[nodiscard]] inline piece rd(std::vector<std::byte> d, bool unmapped = false) {
  return {std::move(d), false, unmapped};
}
[[nodiscard]] inline piece wr(std::size_t n, bool unmapped = false) {
  return {std::vector<std::byte>(n), true, unmapped};
}

/// Cut `stream` at the given offsets (ascending, each in [0, size]) into readable pieces.
[[nodiscard]] inline std::vector<piece> cut_readable(const std::vector<std::byte>& stream,
                                                     std::initializer_list<std::size_t> cuts,
                                                     bool unmapped_odd = false) {
  std::vector<piece> out;
  std::size_t from = 0, k = 0;
  auto emit = [&](std::size_t to) {
    out.push_back(rd({stream.begin() + static_cast<std::ptrdiff_t>(from),
                      stream.begin() + static_cast<std::ptrdiff_t>(to)},
                     unmapped_odd && (k++ % 2 == 1)));
    from = to;
  };
  for (std::size_t c : cuts) emit(c);
  emit(stream.size());
  return out;
}

/// Guest memory for hand-built chains: 256 KiB at 0x40000 behind faulty_memory. Pieces are
/// placed with guard gaps, and writable pieces start out filled with 0xCC, so that any write
/// outside them, or any byte the device did not write, shows up.
class arena {
 public:
  static constexpr std::uint64_t base = 0x40000;
  static constexpr std::size_t size = 1u << 18;
  static constexpr std::byte guard{0xEE};
  static constexpr std::byte unwritten{0xCC};

  arena() : store_(size, guard), flat_(bytes{store_.data(), store_.size()}, gpa{base}),
            mem_(flat_) {}
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  [[nodiscard]] mem_t& memory() noexcept { return mem_; }

  /// Place the pieces and build a chain over them through the real chain builder (readable
  /// before writable, totals, mapping). Requires the build to succeed.
  [[nodiscard]] chain_t build(const std::vector<piece>& pieces) {
    chain_t c;
    vireo::chain::chain_builder<mem_t, 32> b{c, mem_};
    last_.clear();
    for (const piece& p : pieces) {
      const gpa at = place(p);
      mem_.deny_map(p.unmapped);
      auto r = b.add(at, static_cast<std::uint32_t>(p.data.size()), p.writable);
      REQUIRE(r.has_value());
      last_.push_back({at, p.data.size(), p.writable});
    }
    mem_.deny_map(false);
    REQUIRE(b.finish(0, 1, 0).has_value());
    return c;
  }

  /// Guest address of the i-th piece of the last build().
  [[nodiscard]] gpa at(std::size_t i) const { return last_.at(i).addr; }
  /// The bytes of the writable part of the last build(), concatenated.
  [[nodiscard]] std::vector<std::byte> writable_bytes() const {
    std::vector<std::byte> out;
    for (const auto& s : last_) {
      if (!s.writable) continue;
      const std::byte* p = host(s.addr);
      out.insert(out.end(), p, p + s.len);
    }
    return out;
  }
  /// Every byte of guest memory.
  [[nodiscard]] std::vector<std::byte> snapshot() const { return store_; }
  /// Every byte outside the writable pieces of the last build() (guards, readable pieces).
  [[nodiscard]] std::vector<std::byte> outside_writable() const {
    std::vector<std::byte> out = store_;
    for (const auto& s : last_)
      if (s.writable) std::memset(out.data() + (s.addr.raw() - base), 0, s.len);
    return out;
  }

 private:
  struct placed {
    gpa addr;
    std::size_t len;
    bool writable;
  };
  [[nodiscard]] const std::byte* host(gpa a) const { return store_.data() + (a.raw() - base); }
  gpa place(const piece& p) {
    cursor_ += 3;  // guard gap, and odd alignment on purpose
    REQUIRE(cursor_ + p.data.size() + 3 <= size);
    std::byte* dst = store_.data() + cursor_;
    if (p.writable) std::memset(dst, static_cast<int>(unwritten), p.data.size());
    else if (!p.data.empty()) std::memcpy(dst, p.data.data(), p.data.size());
    const gpa g{base + cursor_};
    cursor_ += p.data.size();
    return g;
  }

  std::vector<std::byte> store_;
  vireo::flat_memory flat_;
  mem_t mem_;
  std::size_t cursor_ = 0;
  std::vector<placed> last_;
};

/// Options with the mandatory feature negotiated and the default limits.
[[nodiscard]] inline i2c::decode_options opts(std::uint32_t max_len = 65535,
                                              bool allow_reserved = false) {
  i2c::decode_options o;
  o.max_len = max_len;
  o.allow_reserved = allow_reserved;
  return o;
}

/// A 7-bit address known to be valid (test shorthand).
[[nodiscard]] inline i2c::address a7(std::uint16_t v) { return i2c::address::seven_bit(v).value(); }
[[nodiscard]] inline i2c::address a10(std::uint16_t v) { return i2c::address::ten_bit(v).value(); }

/// Read every remaining byte of a reader.
template <typename Reader>
[[nodiscard]] std::vector<std::byte> drain(Reader& r) {
  std::vector<std::byte> out(r.remaining());
  REQUIRE(r.read(out).has_value());
  return out;
}

}  // namespace vireo_i2c_test
