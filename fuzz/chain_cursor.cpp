// SPDX-License-Identifier: Apache-2.0
// Fuzz target: chain::reader and chain::writer over arbitrary segment lists (mapped host views and
// unmapped ranges reached through the memory model, some made to fail with faulty_memory). Every
// byte and every position is compared with a reference model: the plain concatenation of the
// segments. Input format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "cursor_script.hpp"
#include "fuzz_input.hpp"
#include "guest_memory.hpp"
#include "vireo/chain/cursor.hpp"
#include "vireo/core/memory/faulty_memory.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace chain = vireo::chain;

using vireo_fuzz::byte_source;

constexpr std::uint64_t kBase = 0x1000;
constexpr std::size_t kMemSize = 0x4000;
constexpr std::size_t kMaxSegs = 8;
constexpr std::size_t kCursors = 4;
constexpr int kMaxOps = 256;

using guest_t = vireo_fuzz::guest_memory<kBase, kMemSize>;
using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using reader_t = chain::reader<mem_t>;
using writer_t = chain::writer<mem_t>;

struct obj16 {  // a 16-byte wire struct for read_obj / write_obj
  std::uint8_t b[16];
};

/// kMemSize + 256 bytes: a fill may start up to 255 bytes into the pattern.
const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize + 256>(
      [](std::size_t i) { return std::byte(i * 31 + (i >> 8)); });
}

template <typename Cursor>
using tracked = vireo_fuzz::tracked_cursor<Cursor>;  // every cursor here is live

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size) : in_(data, size), faulty_(g_.flat()) {}

  void run() {
    const std::uint8_t nseg = in_.u8() % (kMaxSegs + 1);
    const std::uint8_t layout = in_.u8();
    const std::uint8_t fill = in_.u8();
    g_.load(pattern() + fill);  // the shadow keeps it: nothing outside the segments may change

    // Segments placed front to back with gaps; listed in memory order or reversed.
    std::size_t at = 0;
    for (std::size_t i = 0; i < nseg; ++i) {
      const std::uint8_t kind = in_.u8();
      const std::uint8_t l = in_.u8();
      const std::size_t len = (kind & 0x40u) ? 1 + ((std::size_t{l} << 1) | (kind >> 7)) : 1 + l;
      at += (kind >> 1) & 0x1fu;  // gap
      segs_[i] = chain::segment{(kind & 1u) ? nullptr : g_.host() + at, gpa{kBase + at},
                                static_cast<std::uint32_t>(len)};
      at += len;
    }
    const std::array<chain::segment, kMaxSegs> placed = segs_;  // in memory order
    FUZZ_CHECK(at <= kMemSize);
    nseg_ = nseg;
    if (layout & 1u)
      for (std::size_t i = 0; i < nseg_ / 2; ++i) std::swap(segs_[i], segs_[nseg_ - 1 - i]);
    total_ = 0;
    for (std::size_t i = 0; i < nseg_; ++i) total_ += segs_[i].len;
    stream_.resize(total_);
    load_stream(stream_.data());

    rd_[0] = fresh_reader();
    wr_[0] = fresh_writer();
    for (std::size_t i = 1; i < kCursors; ++i) {  // default-constructed: an empty stream
      rd_[i] = tracked<reader_t>{};
      wr_[i] = tracked<writer_t>{};
    }

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_stream();
    }
    // Nothing outside the segments was ever written.
    std::size_t from = 0;
    for (std::size_t i = 0; i <= nseg_; ++i) {
      const std::size_t to = i < nseg_ ? placed[i].addr.raw() - kBase : kMemSize;
      FUZZ_CHECK(g_.matches_shadow(from, to - from));
      if (i < nseg_) from = to + placed[i].len;
    }
  }

 private:
  std::span<const chain::segment> segs() const noexcept { return {segs_.data(), nseg_}; }
  tracked<reader_t> fresh_reader() { return {reader_t{faulty_, segs(), total_}, 0, 0, total_}; }
  tracked<writer_t> fresh_writer() { return {writer_t{faulty_, segs(), total_}, 0, 0, total_}; }

  /// The reference: the segments' bytes, concatenated, read straight from the buffer.
  void load_stream(std::byte* out) const {
    for (std::size_t i = 0; i < nseg_; ++i) {
      std::memcpy(out, g_.host() + guest_t::offset_of(segs_[i].addr.raw()), segs_[i].len);
      out += segs_[i].len;
    }
  }
  void check_stream() {
    scratch_.resize(total_);
    load_stream(scratch_.data());
    FUZZ_CHECK(total_ == 0 || std::memcmp(scratch_.data(), stream_.data(), total_) == 0);
  }

  /// Would copying stream bytes [at, at + n) touch a faulted range through the memory model?
  bool touches_fault(std::size_t at, std::size_t n) const noexcept {
    if (!range_) return false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < nseg_ && n > 0; ++i) {
      const chain::segment& s = segs_[i];
      const std::size_t end = start + s.len;
      if (at < end) {
        const std::size_t off = at - start;
        const std::size_t piece = s.len - off < n ? s.len - off : n;
        const std::uint64_t a = s.addr.raw() + off;
        if (s.host == nullptr && a < range_start_ + range_len_ && range_start_ < a + piece)
          return true;
        at += piece;
        n -= piece;
      }
      start = end;
    }
    return false;
  }
  std::byte* expected_view(std::size_t at, std::size_t n) const noexcept {
    return vireo_fuzz::expected_view(segs(), at, n);
  }

  std::size_t pick_n(std::size_t rem) {
    const std::uint8_t mode = in_.u8();
    switch (mode & 3u) {
      case 0: return mode >> 2;
      case 1: return rem;
      case 2: return rem + 1 + (mode >> 7);
      default: return in_.u16() % (total_ + 2);
    }
  }

  /// Outcome of a copy of n bytes at `at` with `rem` left: the expected error, if any.
  /// fail_after faults are not predicted: they may fail any copy through the memory model.
  bool copy_ok_or_allowed(const vireo::result<void>& r, std::size_t at, std::size_t n,
                          std::size_t rem, errc short_error) const {
    if (n > rem) {
      FUZZ_CHECK(!r && r.error() == short_error);
      return false;
    }
    if (!r) {
      FUZZ_CHECK(r.error() == errc::injected_fault);
      FUZZ_CHECK(after_ || touches_fault(at, n));
      return false;
    }
    FUZZ_CHECK(after_ || !touches_fault(at, n));
    return true;
  }

  template <typename T>
  static void advance(tracked<T>& t, std::size_t n) noexcept {
    t.pos += n;
    t.rem -= n;
  }

  void step(std::uint8_t opcode) {
    const std::uint8_t sel = in_.u8();
    tracked<reader_t>& r = rd_[sel % kCursors];
    tracked<writer_t>& w = wr_[sel % kCursors];
    const std::size_t dst = (sel >> 2) % kCursors;
    switch (opcode % 13) {
      case 0:
      case 1: {  // read / read_obj
        const bool obj = opcode % 13 == 1;
        const std::size_t n = obj ? sizeof(obj16) : pick_n(r.rem);
        const std::size_t at = r.base + r.pos;
        vireo::result<void> res;
        buf_.resize(n);
        if (obj) {
          auto o = r.c.read_obj<obj16>();
          if (o) std::memcpy(buf_.data(), &*o, sizeof(obj16));
          else res = o.error();
        } else {
          res = r.c.read(vireo::bytes{buf_.data(), n});
        }
        if (copy_ok_or_allowed(res, at, n, r.rem, errc::end_of_data)) {
          FUZZ_CHECK(n == 0 || std::memcmp(buf_.data(), stream_.data() + at, n) == 0);
          advance(r, n);
        }
        break;
      }
      case 2: {  // reader view
        const std::size_t n = pick_n(r.rem);
        const std::size_t at = r.base + r.pos;
        auto v = r.c.view(n);
        if (n > r.rem) {
          FUZZ_CHECK(!v && v.error() == errc::end_of_data);
        } else if (n == 0) {
          FUZZ_CHECK(v && v->empty());
        } else if (const std::byte* want = expected_view(at, n); want == nullptr) {
          FUZZ_CHECK(!v && v.error() == errc::not_contiguous);
        } else {
          FUZZ_CHECK(v && v->data() == want && v->size() == n);
          FUZZ_CHECK(std::memcmp(v->data(), stream_.data() + at, n) == 0);
          advance(r, n);
        }
        break;
      }
      case 3: {  // reader skip
        const std::size_t n = pick_n(r.rem);
        auto res = r.c.skip(n);
        FUZZ_CHECK(res.has_value() == (n <= r.rem));
        if (res) advance(r, n);
        else FUZZ_CHECK(res.error() == errc::end_of_data);
        break;
      }
      case 4: {  // reader split
        const std::size_t n = pick_n(r.rem);
        const std::size_t at = r.base + r.pos;
        auto part = r.c.split(n);
        FUZZ_CHECK(part.has_value() == (n <= r.rem));
        if (!part) {
          FUZZ_CHECK(part.error() == errc::end_of_data);
          break;
        }
        FUZZ_CHECK(part->remaining() == n && part->consumed() == 0);
        advance(r, n);
        if (&rd_[dst] != &r) rd_[dst] = tracked<reader_t>{*part, at, 0, n};
        break;
      }
      case 5:
      case 6: {  // write / write_obj
        const bool obj = opcode % 13 == 6;
        const std::size_t n = obj ? sizeof(obj16) : pick_n(w.rem);
        const std::size_t at = w.base + w.pos;
        const std::uint8_t seed = in_.u8();
        buf_.resize(n);
        for (std::size_t i = 0; i < n; ++i) buf_[i] = std::byte(seed ^ (i * 7));
        vireo::result<void> res;
        if (obj) {
          obj16 o;
          std::memcpy(&o, buf_.data(), sizeof o);
          res = w.c.write_obj(o);
        } else {
          res = w.c.write(vireo::const_bytes{buf_.data(), n});
        }
        if (copy_ok_or_allowed(res, at, n, w.rem, errc::no_space)) {
          if (n != 0) std::memcpy(stream_.data() + at, buf_.data(), n);
          advance(w, n);
        } else if (n <= w.rem) {
          // A failed copy may have written a prefix, but nothing outside [at, at + n), and only
          // the bytes it was given.
          scratch_.resize(total_);
          load_stream(scratch_.data());
          for (std::size_t i = 0; i < total_; ++i) {
            if (i >= at && i < at + n)
              FUZZ_CHECK(scratch_[i] == stream_[i] || scratch_[i] == buf_[i - at]);
            else
              FUZZ_CHECK(scratch_[i] == stream_[i]);
          }
          stream_ = scratch_;
        }
        break;
      }
      case 7: {  // writer view
        const std::size_t n = pick_n(w.rem);
        const std::size_t at = w.base + w.pos;
        const std::uint8_t seed = in_.u8();
        auto v = w.c.view(n);
        if (n > w.rem) {
          FUZZ_CHECK(!v && v.error() == errc::no_space);
        } else if (n == 0) {
          FUZZ_CHECK(v && v->empty());
        } else if (std::byte* want = expected_view(at, n); want == nullptr) {
          FUZZ_CHECK(!v && v.error() == errc::not_contiguous);
        } else {
          FUZZ_CHECK(v && v->data() == want && v->size() == n);
          std::memset(v->data(), seed, n);
          std::memset(stream_.data() + at, seed, n);
          advance(w, n);
        }
        break;
      }
      case 8: {  // writer skip
        const std::size_t n = pick_n(w.rem);
        auto res = w.c.skip(n);
        FUZZ_CHECK(res.has_value() == (n <= w.rem));
        if (res) advance(w, n);
        else FUZZ_CHECK(res.error() == errc::no_space);
        break;
      }
      case 9: {  // writer split
        const std::size_t n = pick_n(w.rem);
        const std::size_t at = w.base + w.pos;
        auto part = w.c.split(n);
        FUZZ_CHECK(part.has_value() == (n <= w.rem));
        if (!part) {
          FUZZ_CHECK(part.error() == errc::no_space);
          break;
        }
        FUZZ_CHECK(part->remaining() == n && part->written() == 0);
        advance(w, n);
        if (&wr_[dst] != &w) wr_[dst] = tracked<writer_t>{*part, at, 0, n};
        break;
      }
      case 10:  // fresh cursors over the whole stream
        if (sel & 0x80u) wr_[dst] = fresh_writer();
        else rd_[dst] = fresh_reader();
        break;
      case 11:  // copies are independent cursors
        if (sel & 0x80u) wr_[dst] = w;
        else rd_[dst] = r;
        break;
      default: op_fault(sel); break;
    }
    for (const auto& t : rd_) FUZZ_CHECK(t.c.consumed() == t.pos && t.c.remaining() == t.rem);
    for (const auto& t : wr_) FUZZ_CHECK(t.c.written() == t.pos && t.c.remaining() == t.rem);
  }

  void op_fault(std::uint8_t sel) {
    switch (sel % 3u) {
      case 0: {
        const std::uint16_t start = in_.u16();
        const std::uint8_t len = in_.u8();
        range_start_ = kBase + start % kMemSize;
        range_len_ = std::uint64_t{len} + 1;
        faulty_.fail_range(gpa{range_start_}, range_len_);
        range_ = true;
        break;
      }
      case 1:
        faulty_.fail_after(in_.u8() % 8u);
        after_ = true;
        break;
      default:
        faulty_.clear_faults();
        range_ = after_ = false;
        break;
    }
  }

  byte_source in_;
  guest_t g_;
  mem_t faulty_;
  std::array<chain::segment, kMaxSegs> segs_{};
  std::size_t nseg_ = 0;
  std::size_t total_ = 0;
  std::vector<std::byte> stream_, scratch_, buf_;
  std::array<tracked<reader_t>, kCursors> rd_{};
  std::array<tracked<writer_t>, kCursors> wr_{};
  bool range_ = false, after_ = false;
  std::uint64_t range_start_ = 0, range_len_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
