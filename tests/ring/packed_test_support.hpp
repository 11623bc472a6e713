// SPDX-License-Identifier: Apache-2.0
// A packed ring laid out by hand in flat_memory for the packed device tests: raw descriptors and
// lists at chosen slots and wrap phases (head flags last), used descriptors read back, both
// event suppression areas, and a minimal test driver. Test code: allocates freely.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "ring/ring_test_support.hpp"
#include "vireo/vireo.hpp"

namespace vireo_packed_test {

using namespace vireo_ring_common;
namespace layout = vireo::ring::packed_layout;

using device = vireo::ring::packed_device<flat_memory>;
using chain = device::chain_type;

[[nodiscard]] inline feature_set features(bool indirect, bool event_idx = false,
                                          bool in_order = false) {
  return ring_features(/*packed=*/true, indirect, event_idx, in_order);
}

/// A ring position: slot and wrap phase (both counters start at 1, §2.8.1).
struct position {
  std::uint16_t slot = 0;
  bool wrap = true;
  friend bool operator==(const position&, const position&) = default;
};
[[nodiscard]] inline position advanced(position p, std::uint32_t by, std::uint16_t n) {
  std::uint32_t s = p.slot + by % n;
  if (by >= n) p.wrap = ((by / n) % 2 == 0) == p.wrap;
  if (s >= n) {
    s -= n;
    p.wrap = !p.wrap;
  }
  p.slot = static_cast<std::uint16_t>(s);
  return p;
}
[[nodiscard]] inline std::uint16_t encode(position p) {
  return vireo::ring::make_off_wrap(p.slot, p.wrap);
}
[[nodiscard]] inline position decode(std::uint16_t off_wrap) {
  return {vireo::ring::off_of(off_wrap), vireo::ring::wrap_of(off_wrap)};
}

/// One descriptor as the test writes it. For write_list(), `flags` holds NEXT/WRITE/INDIRECT or
/// any raw bits; the fixture adds the AVAIL/USED marks of the slot's phase.
struct raw_desc {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  friend bool operator==(const raw_desc&, const raw_desc&) = default;
};

/// Guest memory holding one packed ring at `base`: the descriptor ring, the driver event
/// suppression area, the device event suppression area, then a data area (bump allocated).
class packed_ring {
 public:
  static constexpr std::uint64_t base = 0x10000;

  explicit packed_ring(std::uint16_t size, feature_set f = features(true),
                       std::size_t data_bytes = std::size_t{1} << 16)
      : size_(size), store_((data_bytes + 16u * size + 64 + 15) / 16) {
    mem_ = flat_memory{bytes{reinterpret_cast<std::byte*>(store_.data()), store_.size() * 16},
                       gpa{base}};
    cfg_.size = size;
    cfg_.desc_table = gpa{base};
    cfg_.driver_area = gpa{base + 16u * size};
    cfg_.device_area = gpa{base + 16u * size + 4};
    cfg_.features = f;
    next_data_ = base + 16u * size + 16;
  }
  packed_ring(const packed_ring&) = delete;
  packed_ring& operator=(const packed_ring&) = delete;

  [[nodiscard]] flat_memory& memory() { return mem_; }
  [[nodiscard]] const queue_config& config() const { return cfg_; }
  [[nodiscard]] std::uint16_t size() const { return size_; }

  /// A host view of guest range [a, a + n).
  [[nodiscard]] bytes host(gpa a, std::size_t n) {
    auto v = mem_.map(a, n, vireo::access::read_write);
    REQUIRE(v.has_value());
    return *v;
  }
  /// `n` zeroed bytes of data memory, 16-aligned.
  [[nodiscard]] gpa alloc(std::size_t n) {
    const gpa at{next_data_};
    next_data_ += (n + 15) / 16 * 16;
    REQUIRE(next_data_ <= base + mem_.size());
    return at;
  }
  gpa put(const_bytes data) {
    const gpa at = alloc(data.size());
    if (!data.empty()) std::memcpy(host(at, data.size()).data(), data.data(), data.size());
    return at;
  }
  /// An indirect table (entries written as given) in data memory.
  [[nodiscard]] gpa put_table(const std::vector<raw_desc>& entries) {
    const gpa at = alloc(16 * entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) encode_desc(host(at.offset(16 * i), 16).data(), entries[i]);
    return at;
  }

  /// The descriptor at `slot`, all 16 bytes as given (flags included, no marks added).
  void write_desc(std::uint16_t slot, const raw_desc& d) { encode_desc(slot_ptr(slot), d); }
  [[nodiscard]] raw_desc read_desc(std::uint16_t slot) {
    vireo::ring::packed_desc w;
    std::memcpy(&w, slot_ptr(slot), sizeof w);
    return {w.addr.get(), w.len.get(), w.id.get(), w.flags.get()};
  }
  /// Store a descriptor's flags alone, with release (how a driver publishes a head).
  void store_flags(std::uint16_t slot, std::uint16_t flags) {
    vireo::detail::atomic_store_le16(slot_ptr(slot) + layout::desc_flags, flags,
                                     std::memory_order_release);
  }

  /// Lay `list` out from `at` as a driver does (§2.8.21.1): descriptor k gets its flags, the
  /// AVAIL/USED marks of its slot's phase (flipped after slot N-1) and, with `auto_next`, NEXT
  /// on all but the last. The head's flags are stored last. Returns the position after the list.
  position write_list(position at, const std::vector<raw_desc>& list, bool auto_next = true) {
    REQUIRE(!list.empty());
    position p = at;
    std::uint16_t head_flags = 0;
    for (std::size_t k = 0; k < list.size(); ++k) {
      raw_desc d = list[k];
      if (auto_next && k + 1 < list.size()) d.flags |= desc_flag::next;
      d.flags = static_cast<std::uint16_t>(d.flags | packed_flag::avail_marks(p.wrap));
      if (k == 0) {
        head_flags = d.flags;
        d.flags = 0;  // not available in any phase until published
      }
      write_desc(p.slot, d);
      p = advanced(p, 1, size_);
    }
    store_flags(at.slot, head_flags);
    return p;
  }

  void set_driver_event(std::uint16_t off_wrap, std::uint16_t flags) {
    put16(cfg_.driver_area.offset(layout::event_off_wrap), off_wrap);
    put16(cfg_.driver_area.offset(layout::event_flags), flags);
  }
  [[nodiscard]] std::uint16_t device_event_off_wrap() {
    return get16(cfg_.device_area.offset(layout::event_off_wrap));
  }
  [[nodiscard]] std::uint16_t device_event_flags() {
    return get16(cfg_.device_area.offset(layout::event_flags));
  }
  void put16(gpa at, std::uint16_t v) {
    const vireo::le16 w = vireo::le16::from(v);
    std::memcpy(host(at, 2).data(), &w, 2);
  }
  [[nodiscard]] std::uint16_t get16(gpa at) {
    vireo::le16 w;
    std::memcpy(&w, host(at, 2).data(), 2);
    return w.get();
  }

  [[nodiscard]] std::vector<std::byte> snapshot() { return vireo_ring_common::snapshot(*this); }

  // --- A minimal driver: lists at its avail cursor, used descriptors at its used cursor. ------

  /// A used descriptor as the driver reads it.
  struct used_desc {
    std::uint16_t id;
    std::uint32_t len;
    std::uint16_t flags;
  };

  /// Make `list` available at the driver's cursor with `id` in every descriptor (as Linux does).
  void add(std::vector<raw_desc> list, std::uint16_t id) {
    REQUIRE(list.size() <= free_slots());
    REQUIRE(in_flight.count(id) == 0);
    for (auto& d : list) d.id = id;
    avail = write_list(avail, list);
    in_flight[id] = static_cast<std::uint16_t>(list.size());
  }
  [[nodiscard]] std::uint32_t free_slots() const {
    std::uint32_t used_slots = 0;
    for (const auto& [id, n] : in_flight) used_slots += n;
    return size_ - used_slots;
  }
  /// The used descriptor at the driver's used cursor, if it is used in the expected phase
  /// (§2.8.1); consumes it: the cursor moves by the slots recorded for its id (§2.8.6).
  [[nodiscard]] std::optional<used_desc> reap() {
    const std::uint16_t flags = vireo::detail::atomic_load_le16(
        slot_ptr(used.slot) + layout::desc_flags, std::memory_order_acquire);
    if (!packed_flag::is_used(flags, used.wrap)) return std::nullopt;
    const raw_desc d = read_desc(used.slot);
    const auto it = in_flight.find(d.id);
    REQUIRE(it != in_flight.end());
    used = advanced(used, it->second, size_);
    in_flight.erase(it);
    return used_desc{d.id, d.len, flags};
  }

  position avail{};                          ///< the driver's avail cursor
  position used{};                           ///< the driver's used cursor
  std::map<std::uint16_t, std::uint16_t> in_flight;  ///< id -> slots, for reap()

 private:
  static void encode_desc(std::byte* p, const raw_desc& d) {
    vireo::ring::packed_desc w;
    w.addr.set(d.addr);
    w.len.set(d.len);
    w.id.set(d.id);
    w.flags.set(d.flags);
    std::memcpy(p, &w, sizeof w);
  }
  [[nodiscard]] std::byte* slot_ptr(std::uint16_t slot) {
    REQUIRE(slot < size_);
    return host(cfg_.desc_table.offset(16u * slot), 16).data();
  }

  struct alignas(16) chunk {
    std::byte b[16];
  };
  std::uint16_t size_;
  std::vector<chunk> store_;
  flat_memory mem_{};
  queue_config cfg_{};
  std::uint64_t next_data_ = 0;
};

/// A configured device over the ring.
inline void configure(device& d, packed_ring& r) { REQUIRE(d.configure(r.config()).has_value()); }

}  // namespace vireo_packed_test
