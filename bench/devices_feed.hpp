// SPDX-License-Identifier: Apache-2.0
// The rings of bench_devices: any request shape laid out once through the real driver (via the
// testing mock drivers), then re-published round after round without the driver, so that the
// timed loop holds the device side and (almost) nothing else. The W1 feeds (w1_split.hpp,
// w1_packed.hpp) do the same for W1's one fixed 2-descriptor shape; these take any list of
// shapes, optional set-up requests answered before the replay starts, and (packed) lists of any
// length at any place in the ring, including across its end.
//
//   split_replay_feed  avail.idx += round per round: one 16-bit store (W1's split replay).
//   packed_lap_feed    the body is exactly one lap of the ring; each round re-publishes it in the
//                      next wrap phase (W1's packed refill, generalised), timed on its own and
//                      subtracted in the summary.
//
// Use: add_setup(shapes), let the device (or the naive baseline) serve them, finish_setup()
// (the driver reclaims them, so every descriptor is free again), lay_out(body), then call
// publish_round() before each serving round.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/packed_wire.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

// Internal linkage: this header belongs to the one translation unit bench/devices.cpp.
namespace {
namespace devbench {

namespace ring = vireo::ring;
using vireo::bytes;
using vireo::const_bytes;
using vireo::flat_memory;

/// One request as the driver adds it: readable buffers holding these bytes, then writable
/// buffers of these sizes (prefilled with kUntouched, so that a check can tell what was written).
struct chain_shape {
  std::vector<std::vector<std::byte>> readable;
  std::vector<std::uint32_t> writable;
  /// What the writable buffers, one after the other, hold after a correct answer (empty: not
  /// checked). A benchmark checks this after its timed loop, so that a run that measured an
  /// error path instead fails.
  std::vector<std::byte> expect{};
};

inline constexpr std::byte kUntouched{0xCC};

/// What the feed keeps of each body chain for the checks after a run.
struct laid_chain {
  std::vector<ring::buffer> writable;
  std::vector<std::byte> expect;
};

/// What both feeds share: the mock driver, adding shapes through the real driver (direct
/// descriptors), the set-up requests, and the checks of the body's answers.
template <typename Mock>
class feed_base {
 public:
  using mock_type = Mock;

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] flat_memory& memory() noexcept { return mock_.memory(); }
  [[nodiscard]] ring::queue_config config() const noexcept { return mock_.config(); }
  [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
  /// The host bytes of a buffer the feed laid out.
  [[nodiscard]] bytes host(const ring::buffer& b) { return mock_.host(b.addr, b.len); }

  /// Every body chain with an expectation holds exactly it in its writable buffers.
  [[nodiscard]] bool check_body() {
    for (const laid_chain& c : body_) {
      if (c.expect.empty()) continue;
      std::vector<std::byte> got;
      for (const ring::buffer& b : c.writable) {
        const bytes h = host(b);
        got.insert(got.end(), h.begin(), h.end());
      }
      if (got != c.expect) return false;
    }
    return true;
  }
  /// Add the set-up requests (published at once, as a driver would).
  bool add_setup(std::span<const chain_shape> shapes) {
    for (const chain_shape& s : shapes) {
      if (!add(s, nullptr)) return ok_ = false;
      ++setup_pending_;
    }
    return ok_;
  }
  /// After the device served the set-up requests: the driver reclaims every one of them (false
  /// if any is missing), so the body starts with every descriptor free.
  bool finish_setup() {
    while (setup_pending_ > 0) {
      auto u = mock_.driver().reclaim();
      if (!u || !*u) return ok_ = false;
      --setup_pending_;
    }
    return ok_;
  }

 protected:
  explicit feed_base(const typename Mock::options& o) : mock_(o), size_(o.size) {}

  /// Add one shape as direct descriptors; record its writable buffers in `record` if given.
  /// Returns the descriptors it took.
  std::size_t add(const chain_shape& s, std::vector<laid_chain>* record) {
    std::vector<ring::buffer> r, w;
    for (const auto& b : s.readable)
      r.push_back({mock_.put(const_bytes{b}), static_cast<std::uint32_t>(b.size())});
    for (const std::uint32_t len : s.writable) {
      const vireo::gpa g = mock_.alloc(len);
      std::memset(mock_.host(g, len).data(), std::to_integer<int>(kUntouched), len);
      w.push_back({g, len});
    }
    if (!mock_.driver().add(r, w, 0, ring::add_mode::direct)) return 0;
    if (record != nullptr) record->push_back({w, s.expect});
    return r.size() + w.size();
  }

  Mock mock_;
  std::uint16_t size_;
  bool ok_ = true;
  std::size_t setup_pending_ = 0;
  std::vector<laid_chain> body_;
};

inline vireo::testing::mock_split_driver::options split_options(std::uint16_t size) {
  vireo::testing::mock_split_driver::options o;
  o.size = size;
  o.data_bytes = std::size_t{256} << 10;
  return o;
}
inline vireo::testing::mock_packed_driver::options packed_options(std::uint16_t size) {
  vireo::testing::mock_packed_driver::options o;
  o.size = size;
  o.data_bytes = std::size_t{256} << 10;
  return o;
}

/// Split: the body is laid out once, every avail ring slot is filled with its chains in turn,
/// and a round is published by avail.idx += round (positions p and p + size are one slot, so the
/// ring never needs rewriting). A chain may appear more than once per round when the body is
/// shorter than the round: the device side does not track heads in flight. The order a device
/// sees repeats with period `size`, and within a period the body runs in order from its first
/// chain, so multi-chain groups stay whole when the body's length and `size` are multiples of
/// the group.
class split_replay_feed : public feed_base<vireo::testing::mock_split_driver> {
 public:
  using queue_type = ring::split_device<flat_memory>;
  static constexpr bool is_packed = false;

  explicit split_replay_feed(std::uint16_t size) : feed_base(split_options(size)) {}

  /// Lay the body out and fill the avail ring with it; `round` chains per publish_round()
  /// (at most the queue size). Each set of `group` consecutive chains must stay together: the
  /// body's length and the round must be multiples of it.
  bool lay_out(std::span<const chain_shape> shapes, std::size_t round, std::size_t group = 1) {
    if (!ok_ || shapes.empty() || round == 0 || round > size_ || shapes.size() % group != 0 ||
        round % group != 0 || size_ % group != 0)
      return ok_ = false;
    const std::uint16_t base = mock_.avail_idx();  // the set-up chains came before
    for (const chain_shape& s : shapes)
      if (add(s, &body_) == 0) return ok_ = false;
    // The driver published chain i at avail position base + i: read which head that is.
    std::vector<std::uint16_t> heads;
    for (std::size_t i = 0; i < shapes.size(); ++i)
      heads.push_back(avail_entry(static_cast<std::uint16_t>(base + i)));
    // Every slot of the ring gets the body in order from `base` on: since size % group == 0
    // and the body's length is a multiple of group, each period of `size` positions holds
    // whole groups only.
    for (std::size_t k = 0; k < size_; ++k)
      mock_.set_avail_ring(static_cast<std::uint16_t>(base + k), heads[k % heads.size()]);
    avail_idx_ = base;
    mock_.set_avail_idx(base);  // nothing published until the first round
    round_ = round;
    return ok_;
  }

  [[nodiscard]] std::size_t chains_per_round() const noexcept { return round_; }

  /// Publish the next round: one 16-bit store.
  void publish_round() noexcept {
    avail_idx_ = static_cast<std::uint16_t>(avail_idx_ + round_);
    mock_.set_avail_idx(avail_idx_);
  }

 private:
  [[nodiscard]] std::uint16_t avail_entry(std::uint16_t pos) {
    const ring::queue_config cfg = mock_.config();
    const std::byte* avail =
        mock_.host(cfg.driver_area, ring::split_layout::avail_bytes(size_)).data();
    return vireo::detail::atomic_load_le16(avail + ring::split_layout::avail_ring(pos % size_),
                                           std::memory_order_relaxed);
  }

  std::uint16_t avail_idx_ = 0;
  std::size_t round_ = 0;
};

/// Packed: the body must fill exactly one lap of the ring (its descriptors add up to the queue
/// size; packed sizes need not be powers of two), starting wherever the set-up requests left the
/// driver. The device writes each used descriptor into the head slot of the list it completes
/// (completions in order: id, len, flags) and expects the next wrap phase on the next lap. So
/// each round rewrites, per list: the flags of its other slots in their new phase, then the
/// head's len and id as the driver laid them out, then, last and with release, the head's flags
/// (§2.8.21.1: the head's flags publish the list). A slot's phase flips every round; slots after
/// the end of the ring were laid out in the other phase and stay one phase apart. The first round
/// rewrites what the driver wrote, so every round does the same work. W1's packed refill is the
/// same for its 2-slot lists.
class packed_lap_feed : public feed_base<vireo::testing::mock_packed_driver> {
 public:
  using queue_type = ring::packed_device<flat_memory>;
  static constexpr bool is_packed = true;

  explicit packed_lap_feed(std::uint16_t size) : feed_base(packed_options(size)) {}

  /// feed_base::add_setup(), counting the slots the set-up lists take (the body starts after).
  bool add_setup(std::span<const chain_shape> shapes) {
    for (const chain_shape& s : shapes)
      setup_slots_ += s.readable.size() + s.writable.size();
    return feed_base::add_setup(shapes);
  }

  /// As split_replay_feed::lay_out(), but a round is always the whole body (one lap): `round`
  /// is not used, and `group` is only checked against the body.
  bool lay_out(std::span<const chain_shape> shapes, std::size_t /*round*/, std::size_t group = 1) {
    if (!ok_ || shapes.empty() || shapes.size() % group != 0) return ok_ = false;
    const ring::queue_config cfg = mock_.config();
    ring_ = mock_.host(cfg.desc_table, ring::packed_layout::desc_ring_bytes(size_)).data();
    // Where the driver's avail cursor is: after the set-up lists, phase 1 flipped per lap.
    std::uint32_t slot = static_cast<std::uint32_t>(setup_slots_ % size_);
    bool phase = (setup_slots_ / size_) % 2 == 0;
    std::size_t total = 0;
    for (const chain_shape& s : shapes) {
      const std::size_t n = add(s, &body_);
      if (n == 0) return ok_ = false;
      total += n;
      list_rec l{};
      l.head = slot_ptr(slot);
      std::memcpy(&l.head_len, l.head + offsetof(ring::packed_desc, len), sizeof l.head_len);
      std::memcpy(&l.head_id, l.head + ring::packed_layout::desc_id, sizeof l.head_id);
      if (!record(l.head, phase, n > 1, l.head_bits)) return ok_ = false;
      l.head_phase = phase;
      l.first_tail = tails_.size();
      for (std::size_t i = 1; i < n; ++i) {
        advance(slot, phase);
        tail_rec t{slot_ptr(slot), 0, phase};
        if (!record(t.p, phase, i + 1 < n, t.bits)) return ok_ = false;
        tails_.push_back(t);
      }
      l.tail_count = n - 1;
      advance(slot, phase);
      lists_.push_back(l);
    }
    if (total != size_) return ok_ = false;  // exactly one lap, so a round is one phase flip
    return ok_;
  }

  [[nodiscard]] std::size_t chains_per_round() const noexcept { return lists_.size(); }

  /// Re-publish the lap in the next phase (see the class comment).
  void publish_round() noexcept {
    for (const list_rec& l : lists_) {
      for (std::size_t i = 0; i < l.tail_count; ++i) {
        const tail_rec& t = tails_[l.first_tail + i];
        vireo::detail::atomic_store_le16(
            t.p + ring::packed_layout::desc_flags,
            static_cast<std::uint16_t>(t.bits | ring::packed_flag::avail_marks(t.phase != flip_)),
            std::memory_order_relaxed);
      }
      std::memcpy(l.head + offsetof(ring::packed_desc, len), &l.head_len, sizeof l.head_len);
      std::memcpy(l.head + ring::packed_layout::desc_id, &l.head_id, sizeof l.head_id);
      vireo::detail::atomic_store_le16(
          l.head + ring::packed_layout::desc_flags,
          static_cast<std::uint16_t>(l.head_bits |
                                     ring::packed_flag::avail_marks(l.head_phase != flip_)),
          std::memory_order_release);
    }
    flip_ = !flip_;
  }

 private:
  struct list_rec {
    std::byte* head;
    std::uint32_t head_len;  ///< little-endian bytes of the head's len, as laid out
    std::uint16_t head_id;   ///< little-endian bytes of the head's id, as laid out
    std::uint16_t head_bits; ///< head flags without AVAIL/USED
    bool head_phase;
    std::size_t first_tail, tail_count;
  };
  struct tail_rec {
    std::byte* p;
    std::uint16_t bits;  ///< flags without AVAIL/USED
    bool phase;          ///< the phase the driver laid it out in
  };

  [[nodiscard]] std::byte* slot_ptr(std::uint32_t slot) noexcept {
    return ring_ + ring::packed_layout::desc_offset(slot);
  }
  void advance(std::uint32_t& slot, bool& phase) const noexcept {
    if (++slot == size_) {
      slot = 0;
      phase = !phase;
    }
  }
  /// Check that the driver laid out an available slot here in `phase` with NEXT as expected,
  /// and keep its flags without the AVAIL/USED marks.
  [[nodiscard]] static bool record(const std::byte* desc, bool phase, bool next,
                                   std::uint16_t& bits) noexcept {
    constexpr std::uint16_t kMarks = ring::packed_flag::avail | ring::packed_flag::used;
    const std::uint16_t flags = vireo::detail::atomic_load_le16(
        desc + ring::packed_layout::desc_flags, std::memory_order_relaxed);
    if (!ring::packed_flag::is_avail(flags, phase)) return false;
    if (((flags & ring::desc_flag::next) != 0) != next) return false;
    bits = static_cast<std::uint16_t>(flags & ~kMarks);
    return true;
  }

  std::size_t setup_slots_ = 0;  ///< descriptors the set-up lists took: where the body starts
  std::byte* ring_ = nullptr;
  bool flip_ = false;  ///< rounds so far, mod 2: each slot's phase is its laid-out phase xor this
  std::vector<list_rec> lists_;
  std::vector<tail_rec> tails_;
};

}  // namespace devbench
}  // namespace
