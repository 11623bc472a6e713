// SPDX-License-Identifier: Apache-2.0
// A validated descriptor chain (what pop returns) and the builder walkers fill it through.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vireo/chain/cursor.hpp"
#include "vireo/chain/segment.hpp"

VIREO_NAMESPACE_BEGIN
namespace chain {

template <guest_memory Memory, std::size_t MaxSegments>
class chain_builder;

/// A chain taken from a queue: its readable segments, then its writable ones, each checked and
/// resolved once. Holds at most MaxSegments non-empty segments inline (no heap). An empty()
/// chain means "the ring had nothing available". Copying copies only the used segments.
template <guest_memory Memory, std::size_t MaxSegments = 64>
class descriptor_chain {
  static_assert(MaxSegments > 0 && MaxSegments <= 65535);

 public:
  static constexpr std::size_t max_segments = MaxSegments;

  descriptor_chain() noexcept {}  // segs_ stays uninitialised: only [0, count_) is ever read
  descriptor_chain(const descriptor_chain& o) noexcept { *this = o; }
  descriptor_chain& operator=(const descriptor_chain& o) noexcept {
    mem_ = o.mem_;
    token_ = o.token_;
    count_ = o.count_;
    readable_count_ = o.readable_count_;
    readable_len_ = o.readable_len_;
    for (std::size_t i = 0; i < count_; ++i) segs_[i] = o.segs_[i];
    return *this;
  }

  /// True when this holds no chain (the queue had nothing available).
  [[nodiscard]] bool empty() const noexcept { return mem_ == nullptr; }

  /// What push_used needs to complete this chain.
  [[nodiscard]] used_token token() const noexcept { return token_; }
  /// Split: the head descriptor index; packed: the buffer id.
  [[nodiscard]] std::uint16_t id() const noexcept { return token_.id; }

  [[nodiscard]] std::span<const segment> readable() const noexcept {
    return {segs_.data(), readable_count_};
  }
  [[nodiscard]] std::span<const segment> writable() const noexcept {
    return {segs_.data() + readable_count_, static_cast<std::size_t>(count_ - readable_count_)};
  }
  [[nodiscard]] std::uint32_t readable_len() const noexcept { return empty() ? 0 : readable_len_; }
  [[nodiscard]] std::uint32_t writable_len() const noexcept {
    return empty() ? 0 : token_.writable_len;
  }

  /// A cursor over the readable bytes. Precondition: !empty().
  [[nodiscard]] chain::reader<Memory> reader() const noexcept {
    VIREO_ASSERT(mem_ != nullptr);
    return {*mem_, readable(), readable_len_};
  }
  /// A cursor over the writable bytes. Precondition: !empty().
  [[nodiscard]] chain::writer<Memory> writer() const noexcept {
    VIREO_ASSERT(mem_ != nullptr);
    return {*mem_, writable(), token_.writable_len};
  }

 private:
  friend class chain_builder<Memory, MaxSegments>;

  Memory* mem_ = nullptr;
  used_token token_{};
  std::uint16_t count_ = 0;
  std::uint16_t readable_count_ = 0;
  std::uint32_t readable_len_ = 0;
  std::array<segment, MaxSegments> segs_;
};

/// Appends descriptors to a chain while enforcing the rules every layout shares:
/// readable before writable (§2.7.4.2), total length below 2^32 (§2.7.5.2), no address
/// overflow, ranges inside guest memory, at most MaxSegments non-empty segments.
/// Zero-length descriptors are legal and take no segment.
///
/// The running totals live in the builder, not in the chain, and are stored once by finish().
/// Copyable, so that a walker can hand a copy to an out-of-line slow path (an indirect table)
/// without taking the hot-path builder's address.
template <guest_memory Memory, std::size_t MaxSegments>
class chain_builder {
 public:
  using chain_type = descriptor_chain<Memory, MaxSegments>;

  /// Starts an empty chain in `out`: until finish() succeeds, `out` reads as empty().
  VIREO_ALWAYS_INLINE chain_builder(chain_type& out, Memory& mem) noexcept
      : out_(&out), mem_(&mem) {
    out.mem_ = nullptr;
    out.count_ = 0;
    out.readable_count_ = 0;
  }

  /// Add one data descriptor. Errors: writable_before_readable, total_len_overflow,
  /// desc_addr_overflow, and the memory model's out_of_bounds/access_denied.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<void> add(gpa addr, std::uint32_t len,
                                                     bool writable) noexcept {
    if (writable) {
      flags_ |= seen_writable;
    } else if (VIREO_UNLIKELY(flags_ & seen_writable)) {
      return errc::writable_before_readable;
    }
    total_ += len;  // u64 sum of u32 lengths: at most 65536 * 2^32 hops, cannot wrap
    if (VIREO_UNLIKELY(total_ > UINT32_MAX)) return errc::total_len_overflow;
    if (len == 0) return ok();
    if (VIREO_UNLIKELY(count_ == MaxSegments)) {
      if (overflows(addr, len)) return errc::desc_addr_overflow;
      flags_ |= overflowed;  // keep walking so a loop still reports chain_too_long
      return ok();
    }
    // A successful map() means the range lies inside guest memory, so it cannot wrap past 2^64;
    // the overflow test is needed only when map() fails (kept off the hot path on purpose).
    auto host = mem_->map(addr, len, writable ? access::write : access::read);
    std::byte* p;
    if (VIREO_LIKELY(host.has_value())) {
      p = host->data();
    } else {
      if (overflows(addr, len)) return errc::desc_addr_overflow;
      if (host.error() != errc::not_contiguous) return host.error();
      p = nullptr;  // spans regions: cursors copy through the memory model
    }
    out_->segs_[count_++] = segment{p, addr, len};
    if (!writable) {  // writable bytes are total_ - readable_len_ (fewer live registers)
      ++readable_count_;
      readable_len_ += len;
    }
    return ok();
  }

  /// Seal the chain. Errors: segment_limit when more non-empty descriptors came than fit.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<void> finish(std::uint16_t id, std::uint16_t slots,
                                                        std::uint16_t seq) noexcept {
    if (VIREO_UNLIKELY(flags_ & overflowed)) return errc::segment_limit;
    chain_type& c = *out_;
    c.token_.id = id;  // field by field: a whole-struct assignment goes through the stack
    c.token_.slots = slots;
    c.token_.seq = seq;
    c.token_.writable_len = static_cast<std::uint32_t>(total_ - readable_len_);  // < 2^32
    c.count_ = count_;
    c.readable_count_ = readable_count_;
    c.readable_len_ = readable_len_;
    c.mem_ = mem_;
    return ok();
  }

 private:
  chain_type* out_;
  Memory* mem_;
  /// The last byte of [addr, addr + len) lies past 2^64 - 1. Precondition: len > 0.
  [[nodiscard]] static bool overflows(gpa addr, std::uint32_t len) noexcept {
    return len - 1 > UINT64_MAX - addr.raw();
  }

  static constexpr std::uint8_t seen_writable = 1;
  static constexpr std::uint8_t overflowed = 2;

  std::uint64_t total_ = 0;
  std::uint32_t readable_len_ = 0;
  std::uint16_t count_ = 0;
  std::uint16_t readable_count_ = 0;
  std::uint8_t flags_ = 0;
};

}  // namespace chain
VIREO_NAMESPACE_END
