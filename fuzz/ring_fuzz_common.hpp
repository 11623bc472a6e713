// SPDX-License-Identifier: Apache-2.0
// What the four ring fuzz targets (split and packed, device and driver side) share: feature and
// configuration decoding, hostile descriptor and buffer decoding, the device-side queue model
// (lifecycle, notifications, remembered tokens, injected faults), the checks every popped
// segment must pass, and add() expectations on the driver side. Input formats: docs/fuzzing.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "cursor_script.hpp"
#include "fuzz_input.hpp"
#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/used_entry.hpp"

namespace vireo_fuzz {

/// `r` failed with exactly `e`.
template <typename R>
[[nodiscard]] bool fails_with(const R& r, vireo::errc e) noexcept {
  return !r && r.error() == e;
}

/// `r` against the error it had to give (nullopt: it had to succeed). True when it succeeded: the
/// caller goes on to check what it did.
template <typename R>
[[nodiscard]] bool succeeded_as_expected(const R& r, const std::optional<vireo::errc>& expect) {
  if (expect) {
    FUZZ_CHECK(fails_with(r, *expect));
    return false;
  }
  FUZZ_CHECK(r.has_value());
  return true;
}

/// Feature byte: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 IN_ORDER.
inline void negotiate(vireo::ring::queue_config& c, std::uint8_t features) noexcept {
  if (features & 1u) c.features.set(vireo::transport_feature::event_idx);
  if (features & 2u) c.features.set(vireo::transport_feature::indirect_desc);
  if (features & 4u) c.features.set(vireo::transport_feature::in_order);
}

// ---- the device side ----------------------------------------------------------------------------

/// Where a target's hostile descriptors may point: its guest memory, indirect-table area and
/// data area (offsets from the start of guest memory).
struct hostile_areas {
  std::uint64_t base;
  std::size_t mem_size, ind_off, ind_size, data_off, data_size;
};

/// A descriptor's address from a 2-bit mode and a u16 `a`: modes 0-1 in the data area, 2 an
/// indirect table (a 16-byte slot, or with bit 15 anywhere in the area), 3 the edges by a >> 14:
/// below guest memory, straddling its end, addr + len wrapping 2^64, anywhere (rings included).
[[nodiscard]] inline std::uint64_t hostile_addr(const hostile_areas& g, unsigned mode,
                                                std::uint16_t a) noexcept {
  switch (mode) {
    case 0:
    case 1: return g.base + g.data_off + a % g.data_size;
    case 2: return g.base + g.ind_off + ((a & 0x8000u) ? a % g.ind_size : (a % 256u) * 16u);
    default:
      switch (a >> 14) {
        case 0: return a & 0x3fffu;                            // below guest memory
        case 1: return g.base + g.mem_size - (a & 0xffu);      // straddles the end
        case 2: return UINT64_MAX - (a & 0xfffu);              // addr + len wraps
        default: return g.base + (a & 0x3fffu) % g.mem_size;  // anywhere, rings included
      }
  }
}

/// A descriptor's length from a 3-bit mode and a u32 `l`: 0-3 below 64, 4 below 4096, 5 an
/// indirect table size (0..16 entries), 6 raw, 7 within 255 of UINT32_MAX.
[[nodiscard]] inline std::uint32_t hostile_len(unsigned mode, std::uint32_t l) noexcept {
  switch (mode) {
    case 0:
    case 1:
    case 2:
    case 3: return l % 64u;
    case 4: return l % 4096u;
    case 5: return (l % 17u) * 16u;  // indirect table sizes
    case 6: return l;
    default: return UINT32_MAX - (l & 0xffu);
  }
}

/// The address and length of a hostile descriptor from its control byte (bits 0-2 flags, 3-4
/// address mode, 5-7 length mode) and the u16 / u32 that follow it in the input.
struct hostile_buffer {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t flags = 0;  // NEXT / WRITE / INDIRECT
};
[[nodiscard]] inline hostile_buffer decode_hostile(const hostile_areas& g, std::uint8_t ctl,
                                                   std::uint16_t a, std::uint32_t l) noexcept {
  return {hostile_addr(g, (ctl >> 3) & 3u, a), hostile_len(ctl >> 5, l),
          static_cast<std::uint16_t>(ctl & 7u)};
}

/// A segment the reference walk of a device target accepted.
struct ref_seg {
  std::uint64_t addr;
  std::uint32_t len;
  bool writable;
};

/// What pop may report for a chain it consumed and rejected, on either layout; each layout adds
/// the rule of its own (split: next out of range, packed: INDIRECT inside a list).
[[nodiscard]] inline bool is_chain_error_of_both(vireo::errc e) noexcept {
  using vireo::errc;
  switch (e) {
    case errc::chain_too_long:
    case errc::indirect_in_indirect:
    case errc::indirect_with_next:
    case errc::indirect_not_negotiated:
    case errc::indirect_table_size:
    case errc::writable_before_readable:
    case errc::total_len_overflow:
    case errc::desc_addr_overflow:
    case errc::segment_limit:
    case errc::out_of_bounds:
    case errc::address_overflow:
    case errc::access_denied:
    case errc::injected_fault: return true;
    default: return false;
  }
}

/// The device-queue state both device targets track, independently of the device's internals.
struct device_model {
  bool ready = false;
  bool broken = false;
  std::uint16_t size = 0;
  bool event_idx = false, indirect = false, in_order = false;
  bool notify_enabled = true;
  bool signalled_valid = false;  // a notification decision was made since configure/restore

  /// configure() succeeded with `features` (the feature byte).
  void configured(std::uint16_t queue_size, std::uint8_t features) noexcept {
    ready = true;
    size = queue_size;
    event_idx = features & 1u;
    indirect = features & 2u;
    in_order = features & 4u;
  }
  /// Back to unconfigured (reset, or a configure that failed), as far as both layouts go.
  void unconfigure() noexcept {
    ready = broken = false;
    notify_enabled = true;
    signalled_valid = false;
  }
  void mark_broken() noexcept {
    ready = false;
    broken = true;
  }
  /// The error a not-ready queue must give: queue_broken until reset after a ring error.
  [[nodiscard]] vireo::errc not_ready_error() const noexcept {
    return broken ? vireo::errc::queue_broken : vireo::errc::queue_not_ready;
  }
  /// Not ready: `r` must be not_ready_error() (then true: nothing more to check).
  template <typename R>
  [[nodiscard]] bool refused(const R& r) const {
    if (ready) return false;
    FUZZ_CHECK(fails_with(r, not_ready_error()));
    return true;
  }
  /// ready(), broken() and why, size(): as modelled.
  template <typename Device, typename IsRingFatal>
  void check_lifecycle(const Device& dev, IsRingFatal is_ring_fatal) const {
    FUZZ_CHECK(dev.ready() == ready);
    FUZZ_CHECK(dev.broken() == broken);
    if (broken) FUZZ_CHECK(is_ring_fatal(dev.broken_reason()));
    if (ready) FUZZ_CHECK(dev.size() == size);
  }
};

/// A new queue through `Device::create()` (on failure the caller resets its old one, as a caller
/// without a queue would have none) or configure() on the existing one.
template <typename Device, typename Memory>
vireo::result<void> configure_or_create(Device& dev, Memory& mem, const vireo::ring::queue_config& cfg,
                                        bool create) {
  if (!create) return dev.configure(cfg);
  auto made = Device::create(mem, cfg);
  if (!made) {
    dev.reset();
    return made.error();
  }
  dev = *made;
  return vireo::ok();
}

/// remap() against the model: refused while not ready; it may fail to map again only when
/// `faults_may_unmap`, and then the queue is unconfigured (true: the caller resets its model).
/// Otherwise the same addresses and the same state: nothing in the model changes.
template <typename Device>
[[nodiscard]] bool remap_unconfigured(Device& dev, const device_model& m, const fault_state& f,
                                      bool faults_may_unmap) {
  const auto r = dev.remap();
  if (m.refused(r)) return false;
  if (!r) {
    FUZZ_CHECK(faults_may_unmap && r.error() == vireo::errc::ring_not_mapped);
    return true;
  }
  FUZZ_CHECK(!f.deny);
  return false;
}

/// push_used(batch) against the error the first bad entry must give, if any (an empty batch on a
/// queue that is not ready: not_ready_error()). True when entries were pushed: the caller checks
/// the used entries they became.
template <typename Device>
[[nodiscard]] bool push_batch_as_expected(Device& dev, const device_model& m,
                                          std::span<const vireo::ring::used_entry> batch,
                                          std::optional<vireo::errc> expect) {
  if (batch.empty() && !m.ready) expect = m.not_ready_error();
  return succeeded_as_expected(dev.push_used(batch), expect) && !batch.empty();
}

/// pop() by value when `by_value`, else pop_into(): whether a chain came (into `out`).
template <typename Device, typename Chain>
vireo::result<bool> pop_either_way(Device& dev, Chain& out, bool by_value) {
  if (!by_value) return dev.pop_into(out);
  auto r = dev.pop();
  if (!r) return r.error();
  out = *r;
  return !r->empty();
}

/// One fault op: u8 % 5 = 0 deny_map on, 1 off, 2 fail_after(u8 % 32), 3 fail_range at
/// range_at(u16) for u8 + 1 bytes, 4 clear every fault.
template <typename Memory, typename RangeAt>
void inject_fault(byte_source& in, vireo::faulty_memory<Memory>& mem, fault_state& f,
                  RangeAt range_at) {
  switch (in.u8() % 5u) {
    case 0:
      mem.deny_map(true);
      f.deny = true;
      break;
    case 1:
      mem.deny_map(false);
      f.deny = false;
      break;
    case 2:
      mem.fail_after(in.u8() % 32u);
      f.after = true;
      break;
    case 3: {
      const std::uint16_t start = in.u16();
      const std::uint8_t len = in.u8();
      mem.fail_range(vireo::gpa{range_at(start)}, std::uint64_t{len} + 1);
      f.range = true;
      break;
    }
    default:
      mem.clear_faults();
      f = fault_state{};
      break;
  }
}

/// Every segment of a popped chain: non-empty, inside guest memory, its host view (if any) the
/// right bytes of the block, and a host view exactly when maps are not denied.
template <typename Guest>
void check_segment(const vireo::chain::segment& s, const Guest& g, const fault_state& f) {
  FUZZ_CHECK(s.len > 0);
  FUZZ_CHECK(g.contains(s.addr.raw(), s.len));
  if (s.host != nullptr) FUZZ_CHECK(s.host == g.host() + g.offset_of(s.addr.raw()));
  FUZZ_CHECK((s.host == nullptr) == f.deny);
}

/// The last N tokens the device handed out (or rejected), for push operations to pick from.
template <std::size_t N>
class token_memory {
 public:
  void remember(const vireo::chain::used_token& t) noexcept { tokens_[count_++ % N] = t; }
  /// u8: below 0xf0 (once anything is remembered) a remembered token, else made_up(), a token a
  /// buggy device model made up.
  template <typename MadeUp>
  [[nodiscard]] vireo::chain::used_token pick(byte_source& in, MadeUp made_up) {
    const std::uint8_t sel = in.u8();
    if (sel < 0xf0 && count_ > 0) return tokens_[sel % (count_ < N ? count_ : N)];
    return made_up();
  }

 private:
  std::array<vireo::chain::used_token, N> tokens_{};
  std::size_t count_ = 0;
};

/// Whether a u16 event index was passed by the window [old, now) of free-running indices (split
/// EVENT_IDX, §2.7.10): brute force, independent of vring_need_event.
[[nodiscard]] inline bool split_event_passed(std::uint16_t old, std::uint16_t now,
                                             std::uint16_t event) noexcept {
  for (std::uint16_t k = old; k != now; ++k)
    if (k == event) return true;
  return false;
}

// ---- both sides ---------------------------------------------------------------------------------

/// A used length for a buffer of `wlen` writable bytes: u8 & 3 = 0 all of it, 1 a u32 reduced to
/// 0..wlen (the u32 is there only when wlen > 0, unless `u32_even_when_empty`), 2 one byte too
/// many (0 for UINT32_MAX), 3 a raw u32.
[[nodiscard]] inline std::uint32_t pick_used_len(byte_source& in, std::uint32_t wlen,
                                                 bool u32_even_when_empty = false) {
  switch (in.u8() & 3u) {
    case 0: return wlen;
    case 1:
      return wlen != 0 || u32_even_when_empty
                 ? static_cast<std::uint32_t>(in.u32() % (wlen + std::uint64_t{1}))
                 : 0;
    case 2: return wlen + 1;  // wraps to 0 for UINT32_MAX: then legal
    default: return in.u32();
  }
}

// ---- the driver side ----------------------------------------------------------------------------

/// One add() request: u8 ctl (readable count ctl % 5, writable count ctl / 5 % 5, add_mode
/// ctl / 25 % 3), then the buffers, readable first, each a u8 kind, u16 off, u32 raw: kind bit 7
/// anywhere ((raw << 32) | off: not our business), else `off` into the data area; kind & 3 the
/// length: (kind >> 2) & 31, raw % 4096, raw, UINT32_MAX - ((kind >> 2) & 31).
struct add_request {
  static constexpr std::size_t max_bufs = 4;  // per direction
  std::array<vireo::ring::buffer, max_bufs> rd{}, wr{};
  std::size_t nr = 0, nw = 0;
  vireo::ring::add_mode mode = vireo::ring::add_mode::automatic;
  std::uint64_t total = 0, wlen = 0;

  [[nodiscard]] static add_request decode(byte_source& in, std::uint64_t data_gpa,
                                          std::size_t data_size) {
    add_request q;
    const std::uint8_t ctl = in.u8();
    q.nr = ctl % (max_bufs + 1);
    q.nw = (ctl / (max_bufs + 1)) % (max_bufs + 1);
    q.mode = static_cast<vireo::ring::add_mode>((ctl / 25u) % 3u);
    for (std::size_t i = 0; i < q.nr; ++i) {
      q.rd[i] = decode_buffer(in, data_gpa, data_size);
      q.total += q.rd[i].len;
    }
    for (std::size_t i = 0; i < q.nw; ++i) {
      q.wr[i] = decode_buffer(in, data_gpa, data_size);
      q.wlen += q.wr[i].len;
    }
    q.total += q.wlen;
    return q;
  }

  [[nodiscard]] std::size_t count() const noexcept { return nr + nw; }
  [[nodiscard]] std::span<const vireo::ring::buffer> readable() const noexcept { return {rd.data(), nr}; }
  [[nodiscard]] std::span<const vireo::ring::buffer> writable() const noexcept { return {wr.data(), nw}; }
  /// Buffer i of the chain, readable ones first.
  [[nodiscard]] const vireo::ring::buffer& at(std::size_t i) const noexcept {
    return i < nr ? rd[i] : wr[i - nr];
  }
  [[nodiscard]] bool is_writable(std::size_t i) const noexcept { return i >= nr; }

  /// Whether add() uses an indirect table, with `free` descriptors (split) or slots (packed).
  [[nodiscard]] bool goes_indirect(std::size_t free, std::uint16_t pool_entries) const noexcept {
    if (mode == vireo::ring::add_mode::automatic) return count() > free && pool_entries != 0;
    return mode == vireo::ring::add_mode::indirect;
  }
  /// add()'s error, or nullopt: on a queue that is `ready` (else it gives `not_ready_error`) of
  /// `size`, with `free` descriptors or slots and tables of `pool_entries`.
  [[nodiscard]] std::optional<vireo::errc> expected_error(bool ready, vireo::errc not_ready_error,
                                                          std::uint16_t size, std::size_t free,
                                                          std::uint16_t pool_entries) const noexcept {
    using vireo::errc;
    const std::size_t n = count();
    const bool indirect = goes_indirect(free, pool_entries);
    if (!ready) return not_ready_error;
    if (n == 0) return errc::empty_chain;
    if (n > size) return errc::invalid_argument;  // packed: §2.8.17, §2.8.19
    if (total > UINT32_MAX) return errc::total_len_overflow;
    if (indirect && (pool_entries == 0 || n > pool_entries)) return errc::invalid_argument;
    if ((indirect ? 1u : n) > free) return errc::ring_full;  // packed: §2.8.17
    return std::nullopt;
  }

 private:
  static vireo::ring::buffer decode_buffer(byte_source& in, std::uint64_t data_gpa,
                                           std::size_t data_size) {
    const std::uint8_t kind = in.u8();
    const std::uint16_t off = in.u16();
    const std::uint32_t raw = in.u32();
    vireo::ring::buffer b;
    b.addr = (kind & 0x80u) ? vireo::gpa{(std::uint64_t{raw} << 32) | off}
                            : vireo::gpa{data_gpa + off % data_size};
    switch (kind & 3u) {
      case 0: b.len = (kind >> 2) & 0x1fu; break;
      case 1: b.len = raw % 4096u; break;
      case 2: b.len = raw; break;
      default: b.len = UINT32_MAX - ((kind >> 2) & 0x1fu); break;
    }
    return b;
  }
};

}  // namespace vireo_fuzz
