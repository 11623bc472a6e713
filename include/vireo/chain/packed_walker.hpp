// SPDX-License-Identifier: Apache-2.0
// Walks one packed-ring descriptor list (consecutive slots, or one indirect table) into a chain.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>

#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/core/atomic_le.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/packed_wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace chain {

/// Where a packed list ended: what the device needs to complete it and to move its avail cursor.
struct packed_list {
  std::uint16_t slots = 0;  ///< ring slots the list occupies; 0 when its end is unknown
  std::uint16_t id = 0;     ///< buffer id, read from the list's last descriptor (§2.8.6)
};

namespace detail {

struct decoded_packed_desc {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t id;
  std::uint16_t flags;
};
/// Copy one descriptor out of shared memory exactly once, then decode the private copy.
[[nodiscard]] VIREO_ALWAYS_INLINE decoded_packed_desc decode_packed_desc(const std::byte* p) noexcept {
  ring::packed_desc d;
  std::memcpy(&d, p, sizeof d);
  return {d.addr.get(), d.len.get(), d.id.get(), d.flags.get()};
}
/// The head of a list: its flags were already loaded (with acquire), so copy only the other
/// fields, each once. Field by field, so that each is one plain load (a 14-byte copy goes
/// through the stack and stalls store-to-load forwarding).
[[nodiscard]] VIREO_ALWAYS_INLINE decoded_packed_desc decode_packed_head(const std::byte* p,
                                                                  std::uint16_t flags) noexcept {
  le64 addr;
  le32 len;
  le16 id;
  std::memcpy(&addr, p + offsetof(ring::packed_desc, addr), sizeof addr);
  std::memcpy(&len, p + offsetof(ring::packed_desc, len), sizeof len);
  std::memcpy(&id, p + offsetof(ring::packed_desc, id), sizeof id);
  return {addr.get(), len.get(), id.get(), flags};
}

/// Largest indirect table walked: 65536 entries (1 MiB), the most a split table can reach. A
/// packed table has no `next` field, so without a cap a 4 GiB `len` would mean 2^28 entries.
inline constexpr std::uint32_t max_packed_indirect_entries = 65536;

/// Walk the indirect table at [table, table + len): len/16 consecutive descriptors (virtio 1.3
/// §2.8.7). Only WRITE is meaningful in them; NEXT, id, AVAIL and USED are ignored.
/// Errors: indirect_table_size, desc_addr_overflow, chain_too_long (more than
/// max_packed_indirect_entries), indirect_in_indirect, the memory model's errors for the table,
/// and those of chain_builder::add.
template <guest_memory Memory, std::size_t Max>
[[nodiscard]] VIREO_NOINLINE result<void> walk_packed_indirect(Memory& mem, std::uint64_t table,
                                                               std::uint32_t len,
                                                               chain_builder<Memory, Max>& b) noexcept {
  // §2.8.7: the table holds len/16 descriptors; a zero or ragged length is refused (as QEMU does).
  if (len == 0 || len % sizeof(ring::packed_desc) != 0) return errc::indirect_table_size;
  if (len - 1 > UINT64_MAX - table) return errc::desc_addr_overflow;
  const std::uint32_t entries = len / sizeof(ring::packed_desc);
  if (entries > max_packed_indirect_entries) return errc::chain_too_long;
  auto mapped = mem.map(gpa{table}, len, access::read);
  if (!mapped && mapped.error() != errc::not_contiguous) return mapped.error();
  const std::byte* host = mapped ? mapped->data() : nullptr;

  for (std::uint32_t i = 0; i < entries; ++i) {
    decoded_packed_desc d;
    if (host != nullptr) {
      d = decode_packed_desc(host + std::size_t{i} * sizeof(ring::packed_desc));
    } else {
      std::byte raw[sizeof(ring::packed_desc)]{};
      // i < 65536 and the whole table was checked against overflow above.
      VIREO_TRY(mem.read(gpa{table + std::uint64_t{i} * sizeof(ring::packed_desc)}, raw));
      d = decode_packed_desc(raw);
    }
    // §2.8.19: only WRITE may be set inside an indirect table; one level of indirection.
    if (d.flags & ring::desc_flag::indirect) return errc::indirect_in_indirect;
    VIREO_TRY(b.add(gpa{d.addr}, d.len, (d.flags & ring::desc_flag::write) != 0));
  }
  return ok();
}

/// How skip_packed_list() ended: `error` and the list's extent (slots 0: its end is unknown).
struct packed_skip {
  errc error;
  std::uint16_t slots;
  std::uint16_t id;
};

/// A list went wrong at descriptor number `hops` (at `slot`, phase `wrap`, with `flags` and
/// `id`) but its end may still be found: follow NEXT to it, reading each later descriptor once
/// and building nothing, so that the device can complete the list. Returns `e` with the list's
/// extent, or desc_not_available / chain_too_long with slots 0 when the end cannot be found.
[[nodiscard]] VIREO_NOINLINE inline packed_skip skip_packed_list(
    const std::byte* desc_ring, std::uint32_t queue_size, std::uint32_t slot, bool wrap,
    std::uint32_t hops, std::uint16_t flags, std::uint16_t id, errc e) noexcept {
  while (flags & ring::desc_flag::next) {
    if (hops == queue_size) return {errc::chain_too_long, 0, 0};
    ++hops;
    if (++slot == queue_size) {
      slot = 0;
      wrap = !wrap;
    }
    const decoded_packed_desc d =
        decode_packed_desc(desc_ring + std::size_t{slot} * sizeof(ring::packed_desc));
    if (!ring::packed_flag::is_avail(d.flags, wrap)) return {errc::desc_not_available, 0, 0};
    flags = d.flags;
    id = d.id;
  }
  return {e, static_cast<std::uint16_t>(hops), id};  // hops <= queue_size <= 32768
}

}  // namespace detail

/// Walk the packed list whose head is at `slot` of a descriptor ring of `queue_size` (1..32768)
/// descriptors mapped at `desc_ring`, expected to be available in wrap phase `wrap`.
/// Precondition: slot < queue_size.
///
/// Returns false when the head is not available (nothing to pop), true when the list was walked
/// into `b` and `out` names its slot count and buffer id. The head's flags are loaded with
/// acquire before anything else of the list is read (pairs with the driver's release store of
/// the head flags, §2.8.21.1); every descriptor is then copied once and decoded from the copy.
/// The list follows NEXT through consecutive slots, wrapping to slot 0 with the expected phase
/// flipped (§2.8.1, §2.8.6). The buffer id is the last descriptor's (§2.8.6; Linux writes it in
/// every descriptor, so this also works with it).
///
/// Errors with `out.slots == 0` leave the list's end unknown, so the ring cannot be parsed past
/// it: desc_not_available (a later descriptor is not available in its phase) and chain_too_long
/// (more than `queue_size` descriptors, §2.8.17). Any other error concerns this list only: the
/// walk still follows the list to its end, so `out` names its slots and id and the device can
/// complete it with length 0. Those are indirect_not_negotiated, indirect_with_next,
/// indirect_in_chain (§2.8.7: an INDIRECT descriptor is the only one of its list), the errors of
/// the indirect table (see detail::walk_packed_indirect) and those of chain_builder::add.
template <guest_memory Memory, std::size_t Max>
[[nodiscard]] VIREO_ALWAYS_INLINE result<bool> walk_packed_chain(
    Memory& mem, const std::byte* desc_ring, std::uint32_t queue_size, std::uint16_t slot,
    bool wrap, bool indirect_negotiated, chain_builder<Memory, Max>& b,
    packed_list& out) noexcept {
  out.slots = 0;
  const std::byte* p = desc_ring + std::size_t{slot} * sizeof(ring::packed_desc);
  const std::uint16_t head_flags = vireo::detail::atomic_load_le16(
      p + ring::packed_layout::desc_flags, std::memory_order_acquire);
  if (!ring::packed_flag::is_avail(head_flags, wrap)) return false;
  detail::decoded_packed_desc d = detail::decode_packed_head(p, head_flags);

  std::uint32_t hops = 1;
  std::uint32_t i = slot;
  for (;;) {
    errc bad;
    if (VIREO_UNLIKELY(d.flags & ring::desc_flag::indirect)) {
      if (!indirect_negotiated) {
        bad = errc::indirect_not_negotiated;
      } else if (hops != 1) {
        bad = errc::indirect_in_chain;  // §2.8.7: not part of a NEXT-linked list
      } else if (d.flags & ring::desc_flag::next) {
        bad = errc::indirect_with_next;
      } else {
        // §2.8.7: the list is this one slot; WRITE on it is ignored. The table walk is out of
        // line and takes a copy, so that `b` stays in registers on the direct path.
        chain_builder<Memory, Max> in_table = b;
        const auto r = detail::walk_packed_indirect(mem, d.addr, d.len, in_table);
        b = in_table;
        out.slots = 1;
        out.id = d.id;
        if (VIREO_UNLIKELY(!r)) return r.error();
        return true;
      }
    } else {
      const auto r = b.add(gpa{d.addr}, d.len, (d.flags & ring::desc_flag::write) != 0);
      if (VIREO_LIKELY(r.has_value())) {
        if (!(d.flags & ring::desc_flag::next)) break;
        // §2.8.17: no list is longer than the queue; past that its end is unknown.
        if (VIREO_UNLIKELY(hops == queue_size)) return errc::chain_too_long;
        ++hops;
        if (++i == queue_size) {  // the list wraps: later descriptors carry the flipped phase
          i = 0;
          wrap = !wrap;
        }
        // Made visible by the head's acquire: the driver writes the whole list before its
        // head flags (§2.8.21.1). A slot that is not available cannot belong to the list.
        d = detail::decode_packed_desc(desc_ring + std::size_t{i} * sizeof(ring::packed_desc));
        if (VIREO_UNLIKELY(!ring::packed_flag::is_avail(d.flags, wrap)))
          return errc::desc_not_available;
        continue;
      }
      bad = r.error();
    }
    // This list is malformed, but its end can still be found: consume it to the end.
    const detail::packed_skip end =
        detail::skip_packed_list(desc_ring, queue_size, i, wrap, hops, d.flags, d.id, bad);
    out.slots = end.slots;
    out.id = end.id;
    return end.error;
  }
  out.slots = static_cast<std::uint16_t>(hops);  // hops <= queue_size <= 32768
  out.id = d.id;
  return true;
}

}  // namespace chain
VIREO_NAMESPACE_END
