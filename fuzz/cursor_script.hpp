// SPDX-License-Identifier: Apache-2.0
// The cursor half of the device fuzz targets: up to Slots popped chains, each with Cursors
// readers and writers that input bytes drive (read, read_obj, view, skip, split; fresh cursors),
// every result checked against guest memory and a model of each cursor's position. The split and
// packed device targets share it; how a write must show in guest memory is theirs to say (the
// observer of write_op). Input format: docs/fuzzing.md, "Cursor ops" under `split_device` input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_input.hpp"
#include "vireo/chain/cursor.hpp"
#include "vireo/chain/segment.hpp"
#include "vireo/core/result.hpp"

namespace vireo_fuzz {

/// A cursor and where it stands in its chain's readable (or writable) stream.
template <typename Cursor>
struct tracked_cursor {
  Cursor c;
  std::size_t base = 0, pos = 0, rem = 0;  // stream offset of c's start, consumed, remaining
  bool live = false;
};

/// Call f(guest address, offset within the range, length) for each piece of the stream range
/// [at, at + n) of `segs`, in stream order; the pieces must cover the range.
template <typename F>
void for_each_piece(std::span<const vireo::chain::segment> segs, std::size_t at, std::size_t n,
                    F f) {
  std::size_t start = 0, done = 0;
  for (const auto& s : segs) {
    if (done == n) return;
    const std::size_t end = start + s.len;
    if (at < end) {
      const std::size_t off = at - start;
      const std::size_t piece = s.len - off < n - done ? s.len - off : n - done;
      f(s.addr.raw() + off, done, piece);
      at += piece;
      done += piece;
    }
    start = end;
  }
  FUZZ_CHECK(done == n);
}

/// Where a view of n > 0 bytes at stream offset `at` must point, or nullptr when it cannot be one
/// (it crosses a segment boundary, or its segment has no host view).
inline std::byte* expected_view(std::span<const vireo::chain::segment> segs, std::size_t at,
                                std::size_t n) {
  std::size_t start = 0;
  for (const auto& s : segs) {
    const std::size_t end = start + s.len;
    if (at < end) {
      if (s.host == nullptr || at + n > end) return nullptr;
      return s.host + (at - start);
    }
    start = end;
  }
  return nullptr;
}

/// Errors a copy may report once its bounds check passed: only injected faults can fail it.
struct fault_state {
  bool deny = false;   // deny_map: no host views, every copy through the memory model
  bool after = false;  // fail_after: some later access fails
  bool range = false;  // fail_range over some guest range
  [[nodiscard]] bool copy_may_fail(vireo::errc e) const noexcept {
    return (after || range) && e == vireo::errc::injected_fault;
  }
  /// Without after/range faults every outcome is determined by guest memory alone.
  [[nodiscard]] bool exact() const noexcept { return !after && !range; }
};

/// Observer of write_op (the target decides what a write means for its guest-memory model):
///   void before_write(segs)                  a write op on these writable segments starts
///   void wrote(segs, at, n, const std::byte*) a copy of n bytes at stream offset `at` succeeded
///   void write_failed(segs, at, n)           a copy passed its bounds check and then failed
///   void wrote_view(std::byte*, fill, n)     the device filled a writer view
///   void after_write(segs)                   the op is over
template <typename Chain, typename Memory, std::size_t Slots, std::size_t Cursors,
          std::size_t Scratch>
class cursor_script {
 public:
  using reader_t = vireo::chain::reader<Memory>;
  using writer_t = vireo::chain::writer<Memory>;
  using segments = std::span<const vireo::chain::segment>;

  struct slot {
    Chain chain;
    bool live = false;
    std::array<tracked_cursor<reader_t>, Cursors> rd{};
    std::array<tracked_cursor<writer_t>, Cursors> wr{};
  };

  /// Guest memory is `host` from guest address `base` on.
  cursor_script(byte_source& in, const std::byte* host, std::uint64_t base) noexcept
      : in_(in), host_(host), base_(base) {}

  /// The slot a pop selector names.
  [[nodiscard]] slot& slot_for(std::uint8_t sel) noexcept { return slots_[sel % Slots]; }

  /// `s.chain` was just popped: one reader and one writer over all of it, the others dead.
  void open(slot& s) {
    s.live = true;
    for (auto& r : s.rd) r.live = false;
    for (auto& w : s.wr) w.live = false;
    s.rd[0] = {s.chain.reader(), 0, 0, s.chain.readable_len(), true};
    s.wr[0] = {s.chain.writer(), 0, 0, s.chain.writable_len(), true};
    FUZZ_CHECK(s.rd[0].c.remaining() == s.chain.readable_len() && s.rd[0].c.consumed() == 0);
    FUZZ_CHECK(s.wr[0].c.remaining() == s.chain.writable_len() && s.wr[0].c.written() == 0);
  }

  /// u8 selector: bits 0-1 slot, 2-3 cursor, 4-6 sub-operation (read, read_obj, view, skip,
  /// split); then pick_n's length (none for read_obj), split's destination cursor.
  void read_op(const fault_state& faults) {
    const std::uint8_t sel = in_.u8();
    slot& s = slots_[sel % Slots];
    auto& c = s.rd[((sel >> 2) & 3u) % Cursors];
    const unsigned sub = ((sel >> 4) & 7u) % 5u;
    if (!s.live || !c.live) return;
    const segments segs = s.chain.readable();
    const std::size_t n = sub == 1 ? 16 : pick_n(c.rem);
    const std::size_t at = c.base + c.pos;
    bool advanced = false;
    switch (sub) {
      case 0:
      case 1: {
        if (n >= Scratch) break;
        vireo::errc e{};
        bool ok;
        if (sub == 1) {
          auto r = c.c.template read_obj<obj16>();
          ok = r.has_value();
          if (ok) std::memcpy(scratch_, &*r, 16);
          else e = r.error();
        } else {
          auto r = c.c.read(vireo::bytes{scratch_, n});
          ok = r.has_value();
          if (!ok) e = r.error();
        }
        if (n > c.rem) {
          FUZZ_CHECK(!ok && e == vireo::errc::end_of_data);
        } else if (!ok) {
          FUZZ_CHECK(faults.copy_may_fail(e));
        } else {
          for_each_piece(segs, at, n, [&](std::uint64_t addr, std::size_t done, std::size_t piece) {
            FUZZ_CHECK(std::memcmp(scratch_ + done, host_ + (addr - base_), piece) == 0);
          });
          advanced = true;
        }
        break;
      }
      case 2: advanced = view(c, segs, at, n) != nullptr; break;
      case 3: advanced = skip(c, n); break;
      default: advanced = split(s.rd, c, at, n); break;
    }
    finish(c, n, advanced);
  }

  /// u8 selector as for read_op, u8 fill byte, then as read_op.
  template <typename Observer>
  void write_op(const fault_state& faults, Observer& obs) {
    const std::uint8_t sel = in_.u8();
    slot& s = slots_[sel % Slots];
    auto& c = s.wr[((sel >> 2) & 3u) % Cursors];
    const unsigned sub = ((sel >> 4) & 7u) % 5u;
    const std::uint8_t fill = in_.u8();
    if (!s.live || !c.live) return;
    const segments segs = s.chain.writable();
    const std::size_t n = sub == 1 ? 16 : pick_n(c.rem);
    const std::size_t at = c.base + c.pos;
    obs.before_write(segs);
    bool advanced = false;
    switch (sub) {
      case 0:
      case 1: {
        if (n >= Scratch) break;
        for (std::size_t i = 0; i < n; ++i) scratch_[i] = std::byte(fill + i * 13);
        vireo::result<void> r;
        if (sub == 1) {
          obj16 o;
          std::memcpy(&o, scratch_, 16);
          r = c.c.write_obj(o);
        } else {
          r = c.c.write(vireo::const_bytes{scratch_, n});
        }
        if (n > c.rem) {
          FUZZ_CHECK(!r && r.error() == vireo::errc::no_space);  // and nothing written
        } else if (!r) {
          FUZZ_CHECK(faults.copy_may_fail(r.error()));
          obs.write_failed(segs, at, n);
        } else {
          obs.wrote(segs, at, n, static_cast<const std::byte*>(scratch_));
          advanced = true;
        }
        break;
      }
      case 2:
        if (std::byte* p = view(c, segs, at, n)) {
          std::memset(p, fill, n);  // the device's own write through the view
          obs.wrote_view(p, fill, n);
          advanced = true;
        }
        break;
      case 3: advanced = skip(c, n); break;
      default: advanced = split(s.wr, c, at, n); break;
    }
    finish(c, n, advanced);
    obs.after_write(segs);
  }

  /// u8 selector: bits 0-1 slot, 2-3 cursor, bit 7 writer (else reader) over the whole chain.
  void fresh_op() {
    const std::uint8_t sel = in_.u8();
    slot& s = slots_[sel % Slots];
    if (!s.live) return;
    const std::size_t i = ((sel >> 2) & 3u) % Cursors;
    if (sel & 0x80u) s.wr[i] = {s.chain.writer(), 0, 0, s.chain.writable_len(), true};
    else s.rd[i] = {s.chain.reader(), 0, 0, s.chain.readable_len(), true};
  }

 private:
  struct obj16 {  // a 16-byte wire struct for read_obj / write_obj
    std::uint8_t b[16];
  };

  /// u8 mode: & 3 = 0 (mode >> 2) bytes, 1 all that is left, 2 one more, 3 a raw u16.
  std::size_t pick_n(std::size_t rem) {
    const std::uint8_t mode = in_.u8();
    switch (mode & 3u) {
      case 0: return mode >> 2;
      case 1: return rem;
      case 2: return rem + 1;
      default: return in_.u16();
    }
  }

  // What a cursor reports when it runs short, and how far it went, per direction.
  static vireo::errc short_error(const reader_t&) noexcept { return vireo::errc::end_of_data; }
  static vireo::errc short_error(const writer_t&) noexcept { return vireo::errc::no_space; }
  static std::size_t moved(const reader_t& c) noexcept { return c.consumed(); }
  static std::size_t moved(const writer_t& c) noexcept { return c.written(); }

  /// view(n): the view it must give (returned, the cursor then moves on), or nullptr.
  template <typename Cursor>
  static std::byte* view(tracked_cursor<Cursor>& c, segments segs, std::size_t at, std::size_t n) {
    auto r = c.c.view(n);
    if (n > c.rem) {
      FUZZ_CHECK(!r && r.error() == short_error(c.c));
      return nullptr;
    }
    if (n == 0) {
      FUZZ_CHECK(r && r->empty());
      return nullptr;
    }
    std::byte* want = expected_view(segs, at, n);
    if (want == nullptr) {
      FUZZ_CHECK(!r && r.error() == vireo::errc::not_contiguous);
      return nullptr;
    }
    FUZZ_CHECK(r && r->data() == want && r->size() == n);
    return want;
  }

  template <typename Cursor>
  static bool skip(tracked_cursor<Cursor>& c, std::size_t n) {
    auto r = c.c.skip(n);
    FUZZ_CHECK(r.has_value() == (n <= c.rem));
    if (!r) FUZZ_CHECK(r.error() == short_error(c.c));
    return r.has_value();
  }

  /// split(n) after a u8 naming the cursor that takes the part split off.
  template <typename Cursor>
  bool split(std::array<tracked_cursor<Cursor>, Cursors>& all, tracked_cursor<Cursor>& c,
             std::size_t at, std::size_t n) {
    tracked_cursor<Cursor>& dst = all[in_.u8() % Cursors];
    auto r = c.c.split(n);
    FUZZ_CHECK(r.has_value() == (n <= c.rem));
    if (!r) {
      FUZZ_CHECK(r.error() == short_error(c.c));
      return false;
    }
    if (&dst != &c) dst = {*r, at, 0, n, true};
    FUZZ_CHECK(r->remaining() == n && moved(*r) == 0);
    return true;
  }

  template <typename Cursor>
  static void finish(tracked_cursor<Cursor>& c, std::size_t n, bool advanced) {
    if (advanced) {
      c.pos += n;
      c.rem -= n;
    }
    FUZZ_CHECK(moved(c.c) == c.pos && c.c.remaining() == c.rem);
  }

  byte_source& in_;
  const std::byte* host_;
  std::uint64_t base_;
  std::array<slot, Slots> slots_{};
  static inline std::byte scratch_[Scratch];
};

}  // namespace vireo_fuzz
