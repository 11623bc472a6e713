// SPDX-License-Identifier: Apache-2.0
// Packed-ring positions for the packed fuzz targets (device and driver side): a slot and its wrap
// phase, moved forward and back around a ring of any size, the event suppression values a hostile
// peer writes, and an independent answer to "is a notification due" (§2.8.10, §2.8.14).
#pragma once

#include <cstdint>

#include "fuzz_input.hpp"
#include "vireo/ring/packed_wire.hpp"

namespace vireo_fuzz {

/// Bits 3-6 and 8-14 of a descriptor's flags: reserved.
constexpr std::uint16_t packed_reserved_flags = 0x7f78;

/// A slot and its wrap phase; both wrap counters start at 1 (§2.8.1).
struct pos {
  std::uint16_t slot = 0;
  bool wrap = true;
};
inline void advance(pos& p, std::uint32_t by, std::uint32_t n) noexcept {  // by <= n
  std::uint32_t s = p.slot + by;
  if (s >= n) {
    s -= n;
    p.wrap = !p.wrap;
  }
  p.slot = static_cast<std::uint16_t>(s);
}
inline void retreat(pos& p, std::uint32_t by, std::uint32_t n) noexcept {  // by <= n
  if (p.slot >= by) {
    p.slot = static_cast<std::uint16_t>(p.slot - by);
  } else {
    p.slot = static_cast<std::uint16_t>(p.slot + n - by);
    p.wrap = !p.wrap;
  }
}
[[nodiscard]] inline std::uint16_t enc(pos p) noexcept {
  return vireo::ring::make_off_wrap(p.slot, p.wrap);
}
/// How many slots `to` is ahead of `from` on a ring of n, reading a differing phase as one lap
/// apart: 0..n-1 ahead in the same phase, otherwise n - 1 down to -(n - 1) (crossed).
[[nodiscard]] inline std::int32_t slots_ahead(pos from, pos to, std::uint32_t n) noexcept {
  return std::int32_t{to.slot} - std::int32_t{from.slot} +
         (to.wrap != from.wrap ? static_cast<std::int32_t>(n) : 0);
}

/// A hostile side moves its own cursor on a ring of n: u8 mode & 3 = 0 back `home`, 1 ahead by
/// (mode >> 2) % (n + 1), 2 the phase flipped, 3 back by (mode >> 2) % (n + 1).
inline void steer(pos& p, std::uint8_t mode, std::uint32_t n, pos home) noexcept {
  switch (mode & 3u) {
    case 0: p = home; break;
    case 1: advance(p, (mode >> 2) % (n + 1u), n); break;
    case 2: p.wrap = !p.wrap; break;
    default: retreat(p, (mode >> 2) % (n + 1u), n); break;
  }
}

/// Event suppression values a hostile peer writes (§2.8.14): u8 fm, u16 v. Flags fm & 3 (0
/// ENABLE, 1 DISABLE, 2 DESC, 3 reserved; fm bits 2, 3 add reserved high bits); off_wrap by
/// (fm >> 4) & 3: v raw, ahead of or behind `around` by v % (n + 1), or slot v % n in phase
/// v bit 15.
struct event_suppression {
  std::uint16_t off_wrap = 0;
  std::uint16_t flags = 0;
};
[[nodiscard]] inline event_suppression decode_event_suppression(byte_source& in, pos around,
                                                                std::uint32_t n) {
  const std::uint8_t fm = in.u8();
  const std::uint16_t v = in.u16();
  event_suppression e;
  e.flags = static_cast<std::uint16_t>(fm & 3u);
  if (fm & 4u) e.flags |= 0x8000u;
  if (fm & 8u) e.flags |= 0x0010u;
  switch ((fm >> 4) & 3u) {
    case 0: e.off_wrap = v; break;
    case 1:
      advance(around, v % (n + 1), n);
      e.off_wrap = enc(around);
      break;
    case 2:
      retreat(around, v % (n + 1), n);
      e.off_wrap = enc(around);
      break;
    default:
      e.off_wrap = vireo::ring::make_off_wrap(static_cast<std::uint16_t>(v % n), v & 0x8000u);
      break;
  }
  return e;
}

/// Whether the other side is to be notified after `count` slots (<= size) passed since the last
/// decision, `now` being the position after them, under its event suppression `flags` and
/// `off_wrap`. Only bits 0-1 of the flags count (§2.8.14: the rest are reserved); the reserved
/// value 3 notifies, since a spurious notification is harmless and a missed one stalls. `first`:
/// no decision since configure or restore, so DESC cannot tell what was passed and notifies.
[[nodiscard]] inline bool packed_notify_due(std::uint16_t flags, std::uint16_t off_wrap,
                                            bool event_idx, bool first, std::uint32_t count,
                                            std::uint16_t size, pos now) noexcept {
  flags &= 3u;
  if (flags == vireo::ring::event_flag::disable) return false;
  if (flags != vireo::ring::event_flag::desc || !event_idx) return true;  // ENABLE, 3, or no EVENT_IDX
  if (first || count >= size) return true;  // a whole lap passed every slot
  // Brute force over the slots passed, as linear positions: this phase's slots are 0..size-1,
  // the previous phase's -size..-1.
  const std::int32_t event = std::int32_t{vireo::ring::off_of(off_wrap)} -
                             (vireo::ring::wrap_of(off_wrap) != now.wrap ? std::int32_t{size} : 0);
  for (std::int32_t k = now.slot - static_cast<std::int32_t>(count); k < now.slot; ++k)
    if (k == event) return true;
  return false;
}

}  // namespace vireo_fuzz
