// SPDX-License-Identifier: Apache-2.0
// The hand-written "floor" for the W1 device step: the smallest C-style validated device loop
// we could write, with everything inlined into the benchmark loop and every piece of state in
// locals. It is not a library (one queue, flat memory only, no indirect tables, at most 8
// segments per direction, no API checks on push), but it validates every guest-controlled
// value that Vireo validates for W1, so vireo / floor shows what the layers cost over what
// this hardware allows.
//
// Per chain, both layouts: descriptor copied out of shared memory once; indirect refused;
// readable before writable; 64-bit running total below 2^32; each non-empty range bounds-checked
// against the flat memory window (one wrapping subtraction and two compares, as flat_memory);
// 16 header bytes copied (gathered across segments if the first is short); 1 status byte
// written; used entry written.
//   split:  avail.idx acquire-loaded only when the shadow copy is exhausted, with the index-jump
//           check; head < size; next < size; hop budget = size; used elem, then used.idx
//           release-stored.
//   packed: head flags acquire-loaded and checked for the expected phase; each later slot
//           checked available in its own phase (flips at the end of the ring); hop budget =
//           size; used descriptor: len, id, then flags (release).
// Single (the (a) shape): used index/flags published per chain, then the full fence and the
// driver's suppression flags read per chain. Batch32 (the (c) shape): used entries written per
// chain, published once per 32 (packed: the first entry's flags last), one fence and flags read
// per 32. The feeds are the ones the Vireo rows use (w1_split.hpp, w1_packed.hpp), so the packed
// floor pays the same refill, which the summary subtracts in the same way.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/atomic_le.hpp"
#include "w1_common.hpp"
#include "w1_packed.hpp"
#include "w1_split.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1::hand {

/// Guest memory as the floor sees it: one host window at one guest address.
struct window {
  std::byte* host;
  std::uint64_t base;
  std::uint64_t size;
};

/// Host address of [addr, addr + len), or nullptr when it is not inside the window.
[[nodiscard]] VIREO_ALWAYS_INLINE std::byte* map(const window& m, std::uint64_t addr,
                                                 std::uint64_t len) noexcept {
  const std::uint64_t off = addr - m.base;  // below base wraps to a huge offset
  if (VIREO_UNLIKELY(off > m.size || len > m.size - off)) return nullptr;
  return m.host + off;
}

inline window window_of(vireo::flat_memory& mem) noexcept {
  return {mem.host().data(), mem.base().raw(), mem.size()};
}

constexpr unsigned kMaxSegs = 8;  ///< per direction

/// The segments of one chain, with chain_builder::add's checks written out.
struct segs {
  struct seg {
    std::byte* p;
    std::uint32_t len;
  };
  seg rd[kMaxSegs];  // only [0, nr) and [0, nw) are ever read
  seg wr[kMaxSegs];
  unsigned nr = 0, nw = 0;
  std::uint64_t total = 0;
  bool seen_w = false;

  [[nodiscard]] VIREO_ALWAYS_INLINE bool add(const window& m, std::uint64_t addr,
                                             std::uint32_t len, bool w) noexcept {
    if (w) seen_w = true;
    else if (VIREO_UNLIKELY(seen_w)) return false;  // readable after writable
    total += len;
    if (VIREO_UNLIKELY(total > UINT32_MAX)) return false;
    if (len == 0) return true;
    std::byte* p = map(m, addr, len);
    if (VIREO_UNLIKELY(p == nullptr)) return false;
    if (w) {
      if (VIREO_UNLIKELY(nw == kMaxSegs)) return false;
      wr[nw++] = {p, len};
    } else {
      if (VIREO_UNLIKELY(nr == kMaxSegs)) return false;
      rd[nr++] = {p, len};
    }
    return true;
  }
};

/// The W1 step: read the 16 header bytes, write 1 status byte. False if the chain is too short.
[[nodiscard]] VIREO_ALWAYS_INLINE bool serve(const segs& s) noexcept {
  std::byte hdr[kHeaderLen];
  if (VIREO_LIKELY(s.nr != 0 && s.rd[0].len >= kHeaderLen)) {
    std::memcpy(hdr, s.rd[0].p, kHeaderLen);
  } else {
    std::uint32_t done = 0;
    for (unsigned i = 0; i < s.nr && done < kHeaderLen; ++i) {
      const std::uint32_t n = s.rd[i].len < kHeaderLen - done ? s.rd[i].len : kHeaderLen - done;
      std::memcpy(hdr + done, s.rd[i].p, n);
      done += n;
    }
    if (done < kHeaderLen) return false;
  }
  if (VIREO_UNLIKELY(s.nw == 0)) return false;  // recorded segments are never empty
  *s.wr[0].p = hdr[0] ^ hdr[kHeaderLen - 1];
  return true;
}

inline std::uint16_t load16(const std::byte* p, std::memory_order o) noexcept {
  return vireo::detail::atomic_load_le16(p, o);
}
inline void store16(std::byte* p, std::uint16_t v, std::memory_order o) noexcept {
  vireo::detail::atomic_store_le16(p, v, o);
}

/// Floor for split (a) (Batched false) and split (c) (Batched true), no EVENT_IDX.
template <bool Batched>
void bm_floor_split(benchmark::State& state) {
  namespace sl = vireo::ring::split_layout;
  using feed_type = split_feed<false>;
  constexpr std::uint16_t size = kQueueSize;
  constexpr std::uint16_t mask = size - 1;
  feed_type feed{false};
  const vireo::ring::queue_config cfg = feed.config();
  const window m = window_of(feed.memory());
  const std::byte* const desc = map(m, cfg.desc_table.raw(), sl::desc_table_bytes(size));
  const std::byte* const avail = map(m, cfg.driver_area.raw(), sl::avail_bytes(size));
  std::byte* const used = map(m, cfg.device_area.raw(), sl::used_bytes(size));
  if (!feed.ok() || desc == nullptr || avail == nullptr || used == nullptr) {
    state.SkipWithError("W1 set-up failed");
    return;
  }
  std::uint16_t last_avail = 0, shadow = 0, used_idx = 0;
  std::uint64_t notifications = 0;

  for (auto _ : state) {
    feed.publish_round();
    bool failed = false;
    for (std::size_t k = 0; k < feed_type::kChains; ++k) {
      if (VIREO_UNLIKELY(last_avail == shadow)) {
        const std::uint16_t idx = load16(avail + sl::avail_idx, std::memory_order_acquire);
        const auto pending = static_cast<std::uint16_t>(idx - last_avail);
        if (VIREO_UNLIKELY(pending == 0 || pending > size)) {
          failed = true;
          break;
        }
        shadow = idx;
      }
      const std::uint16_t head =
          load16(avail + sl::avail_ring(last_avail & mask), std::memory_order_relaxed);
      ++last_avail;
      if (VIREO_UNLIKELY(head >= size)) {
        failed = true;
        break;
      }
      segs s;
      bool ok = true;
      std::uint32_t budget = size;
      std::uint16_t i = head;
      for (;;) {
        if (VIREO_UNLIKELY(budget-- == 0)) {
          ok = false;
          break;
        }
        vireo::ring::split_desc d;
        std::memcpy(&d, desc + std::size_t{i} * sizeof d, sizeof d);
        const std::uint16_t flags = d.flags.get();
        if (VIREO_UNLIKELY((flags & vireo::ring::desc_flag::indirect) != 0 ||
                           !s.add(m, d.addr.get(), d.len.get(),
                                  (flags & vireo::ring::desc_flag::write) != 0))) {
          ok = false;
          break;
        }
        if ((flags & vireo::ring::desc_flag::next) == 0) break;
        i = d.next.get();
        if (VIREO_UNLIKELY(i >= size)) {
          ok = false;
          break;
        }
      }
      if (VIREO_UNLIKELY(!ok || !serve(s))) {
        failed = true;
        break;
      }
      vireo::ring::split_used_elem e;
      e.id.set(head);
      e.len.set(1);
      std::memcpy(used + sl::used_ring(used_idx & mask), &e, sizeof e);
      ++used_idx;
      if (!Batched || (k + 1) % kBatch == 0) {
        store16(used + sl::used_idx, used_idx, std::memory_order_release);
        vireo::detail::full_fence();
        notifications += (load16(avail + sl::avail_flags, std::memory_order_relaxed) &
                          vireo::ring::avail_flag::no_interrupt) == 0;
      }
    }
    if (VIREO_UNLIKELY(failed)) {
      state.SkipWithError("floor device step failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(notifications);
  report_chains(state, feed_type::kChains);
  state.counters["notify_per_chain"] = per_chain(state, feed_type::kChains, notifications);
}

/// Floor for packed (a) (Batched false) and packed (c) (Batched true), no EVENT_IDX.
template <bool Batched>
void bm_floor_packed(benchmark::State& state) {
  namespace pl = vireo::ring::packed_layout;
  namespace pf = vireo::ring::packed_flag;
  using feed_type = packed_feed<false>;
  constexpr std::uint32_t size = kQueueSize;
  feed_type feed{false};
  const vireo::ring::queue_config cfg = feed.config();
  const window m = window_of(feed.memory());
  std::byte* const ring_base = map(m, cfg.desc_table.raw(), pl::desc_ring_bytes(size));
  const std::byte* const driver_event = map(m, cfg.driver_area.raw(), pl::event_bytes);
  if (!feed.ok() || ring_base == nullptr || driver_event == nullptr) {
    state.SkipWithError("W1 set-up failed");
    return;
  }
  auto advance = [](std::uint16_t& slot, bool& wrap, std::uint32_t by) {
    std::uint32_t s = slot + by;
    if (s >= size) {
      s -= size;
      wrap = !wrap;
    }
    slot = static_cast<std::uint16_t>(s);
  };
  auto write_used = [&](std::uint16_t slot, bool wrap, std::uint16_t id, std::memory_order o) {
    std::byte* p = ring_base + pl::desc_offset(slot);
    const vireo::le32 len = vireo::le32::from(1);
    const vireo::le16 le_id = vireo::le16::from(id);
    std::memcpy(p + offsetof(vireo::ring::packed_desc, len), &len, sizeof len);
    std::memcpy(p + pl::desc_id, &le_id, sizeof le_id);
    store16(p + pl::desc_flags,
            static_cast<std::uint16_t>(pf::used_marks(wrap) | vireo::ring::desc_flag::write), o);
  };
  std::uint16_t avail_slot = 0, used_slot = 0;
  bool avail_wrap = true, used_wrap = true;
  struct completion {
    std::uint16_t id;
    std::uint16_t slots;
  };
  std::array<completion, kBatch> batch{};
  std::size_t nb = 0;
  std::uint64_t notifications = 0;

  for (auto _ : state) {
    feed.publish_round();
    bool failed = false;
    for (std::size_t k = 0; k < feed_type::kChains; ++k) {
      const std::byte* p = ring_base + pl::desc_offset(avail_slot);
      std::uint16_t flags = load16(p + pl::desc_flags, std::memory_order_acquire);
      if (VIREO_UNLIKELY(!pf::is_avail(flags, avail_wrap))) {
        failed = true;
        break;
      }
      vireo::le64 le_addr;
      vireo::le32 le_len;
      vireo::le16 le_id;
      std::memcpy(&le_addr, p + offsetof(vireo::ring::packed_desc, addr), sizeof le_addr);
      std::memcpy(&le_len, p + offsetof(vireo::ring::packed_desc, len), sizeof le_len);
      std::memcpy(&le_id, p + pl::desc_id, sizeof le_id);
      std::uint64_t addr = le_addr.get();
      std::uint32_t len = le_len.get();
      std::uint16_t id = le_id.get();
      segs s;
      bool ok = true;
      std::uint32_t hops = 1;
      std::uint32_t i = avail_slot;
      bool wrap = avail_wrap;
      for (;;) {
        if (VIREO_UNLIKELY((flags & vireo::ring::desc_flag::indirect) != 0 ||
                           !s.add(m, addr, len, (flags & vireo::ring::desc_flag::write) != 0))) {
          ok = false;
          break;
        }
        if ((flags & vireo::ring::desc_flag::next) == 0) break;
        if (VIREO_UNLIKELY(hops == size)) {
          ok = false;
          break;
        }
        ++hops;
        if (++i == size) {
          i = 0;
          wrap = !wrap;
        }
        vireo::ring::packed_desc d;
        std::memcpy(&d, ring_base + pl::desc_offset(i), sizeof d);
        flags = d.flags.get();
        if (VIREO_UNLIKELY(!pf::is_avail(flags, wrap))) {
          ok = false;
          break;
        }
        addr = d.addr.get();
        len = d.len.get();
        id = d.id.get();
      }
      if (VIREO_UNLIKELY(!ok || !serve(s))) {
        failed = true;
        break;
      }
      advance(avail_slot, avail_wrap, hops);
      if constexpr (!Batched) {
        write_used(used_slot, used_wrap, id, std::memory_order_release);
        advance(used_slot, used_wrap, hops);
        vireo::detail::full_fence();
        notifications += (load16(driver_event + pl::event_flags, std::memory_order_acquire) & 3u) !=
                         vireo::ring::event_flag::disable;
      } else {
        batch[nb++] = {id, static_cast<std::uint16_t>(hops)};
        if (nb == kBatch) {
          std::uint16_t slot = used_slot;
          bool w = used_wrap;
          advance(slot, w, batch[0].slots);
          for (std::size_t j = 1; j < kBatch; ++j) {
            write_used(slot, w, batch[j].id, std::memory_order_relaxed);
            advance(slot, w, batch[j].slots);
          }
          write_used(used_slot, used_wrap, batch[0].id, std::memory_order_release);
          used_slot = slot;
          used_wrap = w;
          nb = 0;
          vireo::detail::full_fence();
          notifications += (load16(driver_event + pl::event_flags, std::memory_order_acquire) &
                            3u) != vireo::ring::event_flag::disable;
        }
      }
    }
    if (VIREO_UNLIKELY(failed)) {
      state.SkipWithError("floor device step failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(notifications);
  report_chains(state, feed_type::kChains);
  state.counters["notify_per_chain"] = per_chain(state, feed_type::kChains, notifications);
}

}  // namespace w1::hand
}  // namespace
