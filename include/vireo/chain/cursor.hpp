// SPDX-License-Identifier: Apache-2.0
// Reader and writer cursors that walk a chain's segments as one byte stream.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>

#include "vireo/chain/segment.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace chain {
namespace detail {

/// Position in a list of non-empty segments, shared by reader and writer. Copying a guest range
/// goes through the host view when the segment has one, through the memory model otherwise.
template <guest_memory Memory>
class segment_cursor {
 public:
  segment_cursor() noexcept = default;
  segment_cursor(Memory& mem, std::span<const segment> segs, std::size_t total) noexcept
      : mem_(&mem), seg_(segs.data()), end_(segs.data() + segs.size()), remaining_(total),
        total_(total) {}

  [[nodiscard]] std::size_t remaining() const noexcept { return remaining_; }
  [[nodiscard]] std::size_t position() const noexcept { return total_ - remaining_; }

  /// Copy the next `n` bytes between the stream and `host` (Dir: true = stream -> host).
  /// All or nothing on bounds: end_of_data/no_space leave the cursor where it was.
  /// The fast path is inlined so that a constant `n` becomes a fixed-size move; the general
  /// path takes and returns the position by value, so that the cursor's address never escapes
  /// and the cursor can live in registers.
  template <bool ToHost>
  VIREO_ALWAYS_INLINE result<void> copy(std::byte* host, std::size_t n, errc short_error) noexcept {
    if (VIREO_UNLIKELY(n > remaining_)) return short_error;
    if (VIREO_LIKELY(n != 0 && seg_->host != nullptr && seg_->len - off_ >= n)) {
      // The whole piece lies in the current mapped segment.
      if constexpr (ToHost) std::memcpy(host, seg_->host + off_, n);
      else std::memcpy(seg_->host + off_, host, n);
      advance_within(n);
      return ok();
    }
    const copy_end e = copy_across<ToHost>(mem_, seg_, off_, host, n);
    if (VIREO_UNLIKELY(e.error != errc{})) return e.error;
    seg_ = e.seg;
    off_ = e.off;
    remaining_ -= n;
    return ok();
  }

  /// The next `n` bytes as a host view when they lie in one mapped segment.
  result<bytes> view(std::size_t n, errc short_error) noexcept {
    if (n > remaining_) return short_error;
    if (n == 0) return bytes{};
    normalize();
    if (seg_->host == nullptr || seg_->len - off_ < n) return errc::not_contiguous;
    bytes v{seg_->host + off_, n};
    advance_within(n);
    return v;
  }

  result<void> skip(std::size_t n, errc short_error) noexcept {
    if (n > remaining_) return short_error;
    std::size_t left = n;
    while (left > 0) {
      normalize();
      const std::size_t piece = seg_->len - off_ < left ? seg_->len - off_ : left;
      off_ += static_cast<std::uint32_t>(piece);
      left -= piece;
    }
    remaining_ -= n;
    return ok();
  }

  /// A cursor over the next `n` bytes; this one moves past them.
  result<segment_cursor> split(std::size_t n, errc short_error) noexcept {
    if (n > remaining_) return short_error;
    segment_cursor part = *this;
    part.remaining_ = n;
    part.total_ = n;
    VIREO_TRY(skip(n, short_error));
    return part;
  }

 private:
  /// Where copy_across() ended, or its error (errc{} = success).
  struct copy_end {
    const segment* seg;
    std::uint32_t off;
    errc error;
  };

  /// copy() across segment boundaries or through the memory model, from (seg, off).
  /// Precondition: n does not exceed the bytes left in the stream.
  template <bool ToHost>
  static copy_end copy_across(Memory* mem, const segment* seg, std::uint32_t off, std::byte* host,
                              std::size_t n) noexcept {
    std::size_t done = 0;
    while (done < n) {
      if (off == seg->len) {
        ++seg;
        off = 0;
        continue;
      }
      const std::size_t piece = seg->len - off < n - done ? seg->len - off : n - done;
      if (seg->host != nullptr) {
        if constexpr (ToHost) std::memcpy(host + done, seg->host + off, piece);
        else std::memcpy(seg->host + off, host + done, piece);
      } else {
        // off < len <= 2^32 and addr + len was checked when the chain was built: cannot wrap.
        const gpa at = seg->addr.offset(off);
        result<void> r;
        if constexpr (ToHost) r = mem->read(at, bytes{host + done, piece});
        else r = mem->write(at, const_bytes{host + done, piece});
        if (VIREO_UNLIKELY(!r)) return {seg, off, r.error()};
      }
      done += piece;
      off += static_cast<std::uint32_t>(piece);
    }
    return {seg, off, errc{}};
  }
  void normalize() noexcept {
    while (off_ == seg_->len) {  // segments are non-empty, remaining_ > 0 keeps seg_ < end_
      ++seg_;
      off_ = 0;
    }
  }
  void advance_within(std::size_t n) noexcept {
    off_ += static_cast<std::uint32_t>(n);
    remaining_ -= n;
  }

  Memory* mem_ = nullptr;
  const segment* seg_ = nullptr;
  const segment* end_ = nullptr;
  std::uint32_t off_ = 0;
  std::size_t remaining_ = 0;
  std::size_t total_ = 0;  ///< bytes this cursor covers; position() = total_ - remaining_
};

}  // namespace detail

/// Reads the device-readable part of a chain as one byte stream, whatever the descriptor
/// boundaries (virtio 1.3 §2.7.4.1: framing carries no meaning). Each read copies guest bytes
/// once into host memory; decode from the copy.
template <guest_memory Memory>
class reader {
 public:
  reader() noexcept = default;
  reader(Memory& mem, std::span<const segment> segs, std::size_t total) noexcept
      : cur_(mem, segs, total) {}

  [[nodiscard]] std::size_t remaining() const noexcept { return cur_.remaining(); }
  [[nodiscard]] std::size_t consumed() const noexcept { return cur_.position(); }

  /// Copy the next out.size() bytes. Errors: end_of_data (nothing consumed), or the memory
  /// model's error for a segment that is not mapped.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<void> read(bytes out) noexcept {
    return cur_.template copy<true>(out.data(), out.size(), errc::end_of_data);
  }
  /// Copy the next sizeof(T) bytes into a T, straddling segments if needed.
  template <wire_type T>
  [[nodiscard]] VIREO_ALWAYS_INLINE result<T> read_obj() noexcept {
    T v;
    VIREO_TRY(cur_.template copy<true>(reinterpret_cast<std::byte*>(&v), sizeof(T),
                                       errc::end_of_data));
    return v;
  }
  /// Zero-copy view of the next n bytes. Errors: end_of_data, not_contiguous (the bytes span
  /// segments or regions: read() them instead). The guest can change viewed bytes at any time.
  [[nodiscard]] result<const_bytes> view(std::size_t n) noexcept {
    auto v = cur_.view(n, errc::end_of_data);
    if (!v) return v.error();
    return const_bytes{*v};
  }
  [[nodiscard]] result<void> skip(std::size_t n) noexcept { return cur_.skip(n, errc::end_of_data); }
  /// A reader over the next n bytes; this reader moves past them.
  [[nodiscard]] result<reader> split(std::size_t n) noexcept {
    auto c = cur_.split(n, errc::end_of_data);
    if (!c) return c.error();
    return reader{*c};
  }

 private:
  explicit reader(const detail::segment_cursor<Memory>& c) noexcept : cur_(c) {}
  detail::segment_cursor<Memory> cur_;
};

/// Writes the device-writable part of a chain as one byte stream. written() is the number of
/// bytes covered so far (writes and skips): report it as the used length (§2.7.8.2).
template <guest_memory Memory>
class writer {
 public:
  writer() noexcept = default;
  writer(Memory& mem, std::span<const segment> segs, std::size_t total) noexcept
      : cur_(mem, segs, total) {}

  [[nodiscard]] std::size_t remaining() const noexcept { return cur_.remaining(); }
  [[nodiscard]] std::uint32_t written() const noexcept {
    return static_cast<std::uint32_t>(cur_.position());  // a chain's total is below 2^32
  }

  /// Copy `in` into the stream. Errors: no_space (nothing written), or the memory model's error.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<void> write(const_bytes in) noexcept {
    return cur_.template copy<false>(const_cast<std::byte*>(in.data()), in.size(), errc::no_space);
  }
  template <wire_type T>
  [[nodiscard]] VIREO_ALWAYS_INLINE result<void> write_obj(const T& v) noexcept {
    return write(as_bytes_of(v));
  }
  /// Zero-copy writable view of the next n bytes. Errors: no_space, not_contiguous.
  [[nodiscard]] result<bytes> view(std::size_t n) noexcept { return cur_.view(n, errc::no_space); }
  [[nodiscard]] result<void> skip(std::size_t n) noexcept { return cur_.skip(n, errc::no_space); }
  /// A writer over the next n bytes (e.g. a header filled in last); this one moves past them.
  [[nodiscard]] result<writer> split(std::size_t n) noexcept {
    auto c = cur_.split(n, errc::no_space);
    if (!c) return c.error();
    return writer{*c};
  }

 private:
  explicit writer(const detail::segment_cursor<Memory>& c) noexcept : cur_(c) {}
  detail::segment_cursor<Memory> cur_;
};

}  // namespace chain
VIREO_NAMESPACE_END
