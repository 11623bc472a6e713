// SPDX-License-Identifier: Apache-2.0
// Walks a split-ring descriptor chain (direct, then optionally one indirect table) into a chain.
#pragma once

#include <cstddef>
#include <cstring>

#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/ring/split_wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace chain {
namespace detail {

struct decoded_desc {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};
/// Copy one descriptor out of shared memory exactly once, then decode the private copy (on a
/// little-endian host each get() is a plain load).
[[nodiscard]] VIREO_ALWAYS_INLINE decoded_desc decode_split_desc(const std::byte* p) noexcept {
  ring::split_desc d;
  std::memcpy(&d, p, sizeof d);
  return {d.addr.get(), d.len.get(), d.flags.get(), d.next.get()};
}

/// Walk the indirect table at [table, table + len) (virtio 1.3 §2.7.5.3). The hop budget is the
/// table length; only the first 65536 entries are reachable because `next` is 16 bits.
template <guest_memory Memory, std::size_t Max>
[[nodiscard]] VIREO_NOINLINE result<void> walk_split_indirect(Memory& mem, std::uint64_t table, std::uint32_t len,
                                               chain_builder<Memory, Max>& b) noexcept {
  if (len == 0 || len % sizeof(ring::split_desc) != 0) return errc::indirect_table_size;
  if (len - 1 > UINT64_MAX - table) return errc::desc_addr_overflow;
  const std::uint32_t entries = len / sizeof(ring::split_desc);
  std::uint32_t budget = entries < 65536u ? entries : 65536u;
  auto mapped = mem.map(gpa{table}, len, access::read);
  if (!mapped && mapped.error() != errc::not_contiguous) return mapped.error();
  const std::byte* host = mapped ? mapped->data() : nullptr;

  std::uint32_t i = 0;
  for (;;) {
    if (budget-- == 0) return errc::chain_too_long;
    decoded_desc d;
    if (host != nullptr) {
      d = decode_split_desc(host + std::size_t{i} * sizeof(ring::split_desc));
    } else {
      std::byte raw[sizeof(ring::split_desc)]{};
      VIREO_TRY(mem.read(gpa{table + std::uint64_t{i} * sizeof(ring::split_desc)}, raw));
      d = decode_split_desc(raw);
    }
    // §2.7.5.3.1: the driver MUST NOT set INDIRECT inside an indirect table.
    if (d.flags & ring::desc_flag::indirect) return errc::indirect_in_indirect;
    VIREO_TRY(b.add(gpa{d.addr}, d.len, (d.flags & ring::desc_flag::write) != 0));
    if (!(d.flags & ring::desc_flag::next)) return ok();
    if (d.next >= entries) return errc::desc_index_out_of_range;
    i = d.next;
  }
}

}  // namespace detail

/// Walk the chain that starts at descriptor `head` of a split descriptor table of `queue_size`
/// entries mapped at `table`. Precondition: head < queue_size. The hop budget is the queue size
/// (§2.7.5.3.1: no chain longer than the queue), so a loop ends in chain_too_long. A chain may
/// end in one INDIRECT descriptor (§2.7.5.3.2); its WRITE flag is ignored.
/// Errors: desc_index_out_of_range, chain_too_long, indirect_not_negotiated, indirect_with_next,
/// indirect_in_indirect, indirect_table_size, and those of chain_builder::add.
template <guest_memory Memory, std::size_t Max>
[[nodiscard]] VIREO_ALWAYS_INLINE result<void> walk_split_chain(Memory& mem, const std::byte* table,
                                            std::uint32_t queue_size, std::uint16_t head,
                                            bool indirect_negotiated,
                                            chain_builder<Memory, Max>& b) noexcept {
  std::uint32_t budget = queue_size;
  std::uint16_t i = head;
  for (;;) {
    if (VIREO_UNLIKELY(budget-- == 0)) return errc::chain_too_long;
    const detail::decoded_desc d =
        detail::decode_split_desc(table + std::size_t{i} * sizeof(ring::split_desc));
    if (VIREO_UNLIKELY(d.flags & ring::desc_flag::indirect)) {
      if (!indirect_negotiated) return errc::indirect_not_negotiated;
      if (d.flags & ring::desc_flag::next) return errc::indirect_with_next;
      // The table walk is out of line and takes a copy, so that `b` never has its address
      // taken here and stays in registers on the direct path.
      chain_builder<Memory, Max> in_table = b;
      auto r = detail::walk_split_indirect(mem, d.addr, d.len, in_table);
      b = in_table;
      return r;
    }
    VIREO_TRY(b.add(gpa{d.addr}, d.len, (d.flags & ring::desc_flag::write) != 0));
    if (!(d.flags & ring::desc_flag::next)) return ok();
    if (VIREO_UNLIKELY(d.next >= queue_size)) return errc::desc_index_out_of_range;
    i = d.next;
  }
}

}  // namespace chain
VIREO_NAMESPACE_END
