// SPDX-License-Identifier: Apache-2.0
// Writes the hand-made seeds of fuzz/corpus/<target>/ (see docs/fuzzing.md for the formats).
// Not part of the build; run it once after changing an input format:
//   g++ -std=c++20 -O1 fuzz/seeds/make_seeds.cpp -o /tmp/make_seeds && /tmp/make_seeds fuzz/corpus
// Each seed spells out one scenario with the encoders below, which mirror the decoders of
// fuzz/split_device.cpp, fuzz/split_driver.cpp, fuzz/chain_cursor.cpp, fuzz/packed_device.cpp and
// fuzz/packed_driver.cpp.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

/// pick_n's length byte, as fuzz/cursor_script.hpp and fuzz/chain_cursor.cpp read it: n < 64
/// bytes, all that is left, or one byte past the end.
struct amount {
  unsigned code;
};
constexpr amount take(unsigned n) { return {n << 2}; }
constexpr amount all_left{1};
constexpr amount past_end{2};

class seed {
 public:
  seed& u8(unsigned v) {
    bytes_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  seed& u8(amount n) { return u8(n.code); }
  seed& u16(unsigned v) { return u8(v & 0xff).u8((v >> 8) & 0xff); }
  seed& u32(std::uint32_t v) { return u16(v & 0xffff).u16(v >> 16); }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

bool g_ok = true;

void save(const fs::path& dir, const std::string& name, const seed& s) {
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (f == nullptr || std::fwrite(s.bytes().data(), 1, s.bytes().size(), f) != s.bytes().size()) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", p.c_str());
    g_ok = false;
  }
  if (f != nullptr) std::fclose(f);
}

// ---- what several targets share ---------------------------------------------------------------

/// The feature byte of the ring targets.
constexpr unsigned EVENT_IDX = 1, INDIRECT = 2, IN_ORDER = 4;

// A hostile descriptor of the device targets (fuzz/ring_fuzz_common.hpp, decode_hostile): its
// NEXT / WRITE / INDIRECT bits, address mode and length mode.
constexpr unsigned F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
enum addr_mode : unsigned { data = 0, table = 2, wild = 3 };
enum len_mode : unsigned { small = 0, medium = 4, table_len = 5, raw = 6, huge = 7 };

/// Cursor operations on popped chains (fuzz/cursor_script.hpp), with the opcodes of one device
/// target: a selector (bits 0-1 chain slot, 2-3 cursor, 4-6 sub-operation), a fill byte for
/// writers, then the length byte, and for a split the cursor that takes the part split off.
class cursor_ops {
 public:
  struct opcodes {
    unsigned reader, writer, fresh_cursor;
  };
  cursor_ops(seed& s, opcodes op) : s_(s), op_(op) {}

  cursor_ops& read(unsigned slot, unsigned cursor, amount n) { return rd(slot, cursor, c_read).u8(n), *this; }
  cursor_ops& read_obj(unsigned slot, unsigned cursor) { return rd(slot, cursor, c_obj), *this; }
  cursor_ops& view(unsigned slot, unsigned cursor, amount n) { return rd(slot, cursor, c_view).u8(n), *this; }
  cursor_ops& skip(unsigned slot, unsigned cursor, amount n) { return rd(slot, cursor, c_skip).u8(n), *this; }
  cursor_ops& split(unsigned slot, unsigned cursor, amount n, unsigned into) {
    return rd(slot, cursor, c_split).u8(n).u8(into), *this;
  }
  cursor_ops& write(unsigned slot, unsigned cursor, unsigned fill, amount n) {
    return wr(slot, cursor, c_read, fill).u8(n), *this;
  }
  cursor_ops& write_obj(unsigned slot, unsigned cursor, unsigned fill) {
    return wr(slot, cursor, c_obj, fill), *this;
  }
  cursor_ops& write_view(unsigned slot, unsigned cursor, unsigned fill, amount n) {
    return wr(slot, cursor, c_view, fill).u8(n), *this;
  }
  cursor_ops& write_skip(unsigned slot, unsigned cursor, unsigned fill, amount n) {
    return wr(slot, cursor, c_skip, fill).u8(n), *this;
  }
  cursor_ops& write_split(unsigned slot, unsigned cursor, unsigned fill, amount n, unsigned into) {
    return wr(slot, cursor, c_split, fill).u8(n).u8(into), *this;
  }
  /// A fresh writer over the whole chain in `slot`, as cursor `cursor`.
  cursor_ops& fresh_writer(unsigned slot, unsigned cursor) {
    return s_.u8(op_.fresh_cursor).u8(slot | (cursor << 2) | 0x80), *this;
  }

 private:
  enum sub : unsigned { c_read = 0, c_obj = 1, c_view = 2, c_skip = 3, c_split = 4 };
  seed& rd(unsigned slot, unsigned cursor, sub what) {
    return s_.u8(op_.reader).u8(slot | (cursor << 2) | (what << 4));
  }
  seed& wr(unsigned slot, unsigned cursor, sub what, unsigned fill) {
    return s_.u8(op_.writer).u8(slot | (cursor << 2) | (what << 4)).u8(fill);
  }
  seed& s_;
  opcodes op_;
};

/// The chain in slot 0 holds 7 + 9 + 0 readable and 13 + 5 + 100 writable bytes: views inside
/// and across pieces, a split into reader 1 and one into writer 2, skips past the end, a write
/// through an object and a view, a fresh writer. `copy_rests`: also read all that reader 0 has
/// left and write all that writer 2 has.
void views_skips_splits(cursor_ops c, bool copy_rests) {
  c.view(0, 0, take(7)).view(0, 0, take(4)).split(0, 0, take(3), 1).read(0, 1, all_left);
  c.skip(0, 0, past_end);
  if (copy_rests) c.read(0, 0, all_left);
  c.write_split(0, 0, 0, take(4), 2).write(0, 0, 0x11, take(20)).write_obj(0, 2, 0x22);
  if (copy_rests) c.write(0, 2, 0x33, all_left);
  c.write_view(0, 0, 0x44, all_left).fresh_writer(0, 1).write_skip(0, 1, 0, all_left);
}

// Event suppression values of the packed targets (packed_positions.hpp,
// decode_event_suppression): flags, and off_wrap modes (bits 4-5).
constexpr unsigned EV_ENABLE = 0, EV_DISABLE = 1, EV_DESC = 2, EV_RESERVED = 3;
constexpr unsigned OW_RAW = 0x00, OW_AHEAD = 0x10, OW_BEHIND = 0x20;

// Both driver targets: add() is opcode 0, a device completion opcode 2.
enum add_mode : unsigned { automatic = 0, direct = 1, indirect = 2 };
/// add(): nr readable then nw writable data-area buffers of `len` (< 32) bytes each.
void add_bufs(seed& s, unsigned nr, unsigned nw, unsigned len = 16, add_mode m = automatic) {
  s.u8(0).u8(nr + 5 * nw + 25 * m);
  for (unsigned i = 0; i < nr + nw; ++i) s.u8(len << 2).u16(i * 64).u32(0);
}
/// The device completes the k-th oldest buffer in flight with its whole length (pick_len mode 0);
/// `ctl` is the target's: how its used index moves, and (packed) the used descriptor's flags.
void complete_kth(seed& s, unsigned k, unsigned ctl) { s.u8(2).u8(k).u8(ctl).u8(0); }

/// What the driver-side scenarios both targets run need of a target.
struct driver_ops {
  unsigned reclaim, needs_kick, enable, disable;
  unsigned complete_ctl;  // a conforming completion
};
/// Two chains in, completed out of order, reclaimed (twice each time), interrupts on and off.
void basic_round(seed& s, const driver_ops& op) {
  add_bufs(s, 1, 1);
  add_bufs(s, 2, 0);
  s.u8(op.needs_kick).u8(op.needs_kick);
  complete_kth(s, 1, op.complete_ctl);
  s.u8(op.reclaim).u8(op.reclaim);
  complete_kth(s, 0, op.complete_ctl);
  s.u8(op.reclaim).u8(op.reclaim).u8(op.enable).u8(op.disable);
}
/// Under IN_ORDER, one used entry for a batch of three (§2.7.9, §2.8.8), drained one per
/// reclaim; then a chain of four buffers.
void in_order_batch(seed& s, const driver_ops& op) {
  add_bufs(s, 1, 1);
  add_bufs(s, 0, 2);
  add_bufs(s, 1, 0);
  complete_kth(s, 2, op.complete_ctl);
  s.u8(op.enable).u8(op.reclaim).u8(op.enable).u8(op.reclaim).u8(op.reclaim).u8(op.reclaim);
  add_bufs(s, 2, 2);
  complete_kth(s, 0, op.complete_ctl);
  s.u8(op.reclaim);
}
/// With a pool of 4-entry tables and a ring of 2 (split) or 4 (packed): explicit indirect,
/// direct, automatic going indirect when the ring is short, ring_full, more buffers than the
/// ring.
void indirect_pool(seed& s, const driver_ops& op) {
  add_bufs(s, 2, 2, 8, indirect);
  add_bufs(s, 1, 1, 8, direct);
  add_bufs(s, 1, 2, 8, automatic);  // 3 > 1 free: goes indirect
  add_bufs(s, 1, 0, 8, indirect);   // ring_full
  complete_kth(s, 0, op.complete_ctl);
  complete_kth(s, 1, op.complete_ctl);
  s.u8(op.reclaim).u8(op.reclaim);
  add_bufs(s, 3, 2, 8, indirect);  // more buffers than the ring
  add_bufs(s, 2, 2, 8, indirect);
}

// ---- split_device ---------------------------------------------------------------------------

namespace dev {

/// One 8-byte descriptor record. `a`: data-area offset, indirect-table index or wild selector;
/// `l`: length (its meaning depends on the length mode).
void desc(seed& s, unsigned flags, addr_mode am, unsigned a, len_mode lm, std::uint32_t l,
          unsigned next = 0) {
  s.u8(flags | (am << 3) | (lm << 5)).u8(next).u16(a).u32(l);
}
/// Header: size = 1 << size_log2, features, then the descriptor table records.
seed header(unsigned size_log2, unsigned features) { return seed{}.u8(size_log2).u8(features); }

enum op : unsigned {
  publish = 0, publish_many, set_avail_idx, avail_flags, used_event, write_desc, write_ind, pop,
  push, push_batch, needs_notification, enable, disable, available, reset, configure, remap,
  restore, reader, writer, fresh_cursor, fault
};
cursor_ops cursors(seed& s) { return {s, {reader, writer, fresh_cursor}}; }
/// push_used of remembered token `tok` with its whole writable length (mode 0) or one too many (2).
inline void push_tok(seed& s, unsigned tok, unsigned len_mode = 0) {
  s.u8(push).u8(tok).u8(len_mode);
}

/// A readable 16-byte descriptor 0 chained to a writable 32-byte descriptor 1.
seed simple_table(unsigned size_log2, unsigned features) {
  seed s = header(size_log2, features);
  s.u8(2);
  desc(s, F_NEXT, data, 0x000, small, 16, 1);
  desc(s, F_WRITE, data, 0x100, small, 32);
  s.u8(0);  // no indirect entries
  return s;
}

void make(const fs::path& dir) {
  {  // pop a two-descriptor chain, read it, write it, complete it, notify
    seed s = simple_table(3, 0);
    s.u8(publish).u8(0).u8(needs_notification).u8(pop).u8(0);
    cursors(s)
        .read(0, 0, take(10))
        .read_obj(0, 0)
        .write(0, 0, 0xa5, all_left);
    push_tok(s, 0);
    s.u8(needs_notification).u8(pop).u8(1).u8(available);
    save(dir, "simple_pop_push", s);
  }
  {  // views, skips and splits over a chain of several readable and writable pieces
    seed s = header(4, 0);
    s.u8(6);
    desc(s, F_NEXT, data, 0x000, small, 7, 1);
    desc(s, F_NEXT, data, 0x040, small, 9, 2);
    desc(s, F_NEXT, data, 0x080, small, 0, 3);  // zero-length: takes no segment
    desc(s, F_NEXT | F_WRITE, data, 0x100, small, 13, 4);
    desc(s, F_NEXT | F_WRITE, data, 0x200, small, 5, 5);
    desc(s, F_WRITE, data, 0x300, medium, 100);
    s.u8(0);
    s.u8(publish).u8(0).u8(pop).u8(0);
    views_skips_splits(cursors(s), /*copy_rests=*/true);
    push_tok(s, 0);
    save(dir, "cursor_views_splits", s);
  }
  {  // an indirect table of three entries (two readable, one writable)
    seed s = header(3, INDIRECT);
    s.u8(1);
    desc(s, F_INDIRECT, table, 0, table_len, 3);
    s.u8(3);
    s.u8(0);
    desc(s, F_NEXT, data, 0x000, small, 12, 1);
    s.u8(1);
    desc(s, F_NEXT, data, 0x020, small, 20, 2);
    s.u8(2);
    desc(s, F_WRITE, data, 0x100, small, 40);
    s.u8(publish).u8(0).u8(pop).u8(0);
    cursors(s)
        .read(0, 0, all_left)
        .write(0, 0, 7, all_left);
    push_tok(s, 0);
    save(dir, "indirect_table", s);
  }
  {  // direct, direct, then INDIRECT (§2.7.5.3.2 S14), and an indirect without the feature
    seed s = header(3, INDIRECT);
    s.u8(3);
    desc(s, F_NEXT, data, 0x000, small, 8, 1);
    desc(s, F_NEXT, data, 0x010, small, 8, 2);
    desc(s, F_INDIRECT | F_WRITE, table, 4, table_len, 2);  // WRITE on it is ignored
    s.u8(2);
    s.u8(4);
    desc(s, F_NEXT | F_WRITE, data, 0x100, small, 30, 1);
    s.u8(5);
    desc(s, F_WRITE, data, 0x200, small, 30);
    s.u8(publish).u8(0).u8(pop).u8(0);
    s.u8(configure).u8(3).u8(0).u8(0);  // again without INDIRECT_DESC
    s.u8(publish).u8(0).u8(pop).u8(1);
    push_tok(s, 1);
    save(dir, "direct_then_indirect", s);
  }
  {  // malformed indirect tables: bad length, nested INDIRECT, INDIRECT with NEXT, bad next
    seed s = header(3, INDIRECT);
    s.u8(4);
    desc(s, F_INDIRECT, table, 8, small, 17);  // len % 16 != 0
    desc(s, F_INDIRECT, table, 8, table_len, 2);
    desc(s, F_INDIRECT | F_NEXT, table, 8, table_len, 1, 3);
    desc(s, F_INDIRECT, table, 10, table_len, 1);
    s.u8(3);
    s.u8(8);
    desc(s, F_NEXT, data, 0, small, 8, 1);
    s.u8(9);
    desc(s, F_INDIRECT, table, 8, table_len, 1);  // INDIRECT inside a table
    s.u8(10);
    desc(s, F_NEXT, data, 0, small, 8, 5);  // next beyond a one-entry table
    s.u8(publish_many).u8(4).u8(0);
    for (unsigned i = 0; i < 4; ++i) s.u8(pop).u8(i);
    s.u8(push_batch).u8(4).u8(0).u8(0).u8(1).u8(0).u8(2).u8(0).u8(3).u8(0);
    save(dir, "indirect_malformed", s);
  }
  {  // a descriptor loop, next out of range, readable after writable, total length overflow
    seed s = header(3, 0);
    s.u8(8);
    desc(s, F_NEXT, data, 0, small, 4, 1);
    desc(s, F_NEXT, data, 0, small, 4, 0);  // 0 -> 1 -> 0
    desc(s, F_NEXT, data, 0, small, 4, 200);
    desc(s, F_NEXT | F_WRITE, data, 0, small, 4, 4);
    desc(s, 0, data, 0, small, 4);  // readable after writable
    desc(s, F_NEXT, data, 0, huge, 3, 6);
    desc(s, 0, data, 0, huge, 3);  // together past 2^32 - 1
    desc(s, 0, wild, 0x8000, small, 40);  // addr + len wraps
    s.u8(0);
    for (unsigned h : {0u, 2u, 3u, 5u, 7u}) s.u8(publish).u8(h).u8(pop).u8(0);
    s.u8(push).u8(0).u8(0).u8(push).u8(1).u8(2);  // the rejected tokens, with len 0 and 1
    save(dir, "malformed_chains", s);
  }
  {  // more non-empty descriptors than split_device<M, 8> holds: segment_limit
    seed s = header(4, 0);
    s.u8(10);
    for (unsigned i = 0; i < 10; ++i) desc(s, i < 9 ? F_NEXT : 0, data, i * 16, small, 16, i + 1);
    s.u8(0);
    s.u8(publish).u8(0).u8(pop).u8(0).u8(push).u8(0).u8(0);
    s.u8(write_desc).u8(8);
    desc(s, 0, data, 0x80, small, 0);  // now the chain has 9 descriptors, 8 non-empty
    s.u8(publish).u8(0).u8(pop).u8(1);
    cursors(s).read(1, 0, all_left);
    save(dir, "segment_limit", s);
  }
  {  // descriptors outside guest memory and over the rings themselves
    seed s = header(3, 0);
    s.u8(5);
    desc(s, 0, wild, 0x0100, small, 8);                   // below guest memory
    desc(s, 0, wild, 0x4008, small, 40);                  // straddles the end
    desc(s, F_NEXT, wild, 0xc000 + 0x1000, small, 8, 3);  // readable over the avail ring
    desc(s, F_WRITE, wild, 0xc000 + 0x0000, small, 32);   // writable over the descriptor table
    desc(s, F_WRITE, wild, 0xc000 + 0x2000, small, 16);   // writable over the used ring
    s.u8(0);
    s.u8(publish).u8(0).u8(pop).u8(0).u8(publish).u8(1).u8(pop).u8(0);
    s.u8(publish).u8(2).u8(pop).u8(0);
    cursors(s)
        .read(0, 0, all_left)
        .write(0, 0, 0x5a, all_left);
    push_tok(s, 2);
    s.u8(publish).u8(3).u8(pop).u8(1).u8(publish).u8(4).u8(pop).u8(2);
    cursors(s).write(2, 0, 0x77, all_left);
    save(dir, "ring_overlap", s);
  }
  {  // avail ring names a head beyond the queue: the queue breaks until reset
    seed s = simple_table(3, 0);
    s.u8(publish).u8(0xf3).u8(pop).u8(0).u8(pop).u8(0).u8(available).u8(enable).u8(remap);
    s.u8(push_batch).u8(0).u8(push).u8(0xf0).u8(1).u16(0).u8(0).u8(0);
    s.u8(needs_notification).u8(reset).u8(pop).u8(0);
    s.u8(configure).u8(3).u8(0).u8(0).u8(publish).u8(0).u8(pop).u8(0);
    save(dir, "head_out_of_range", s);
  }
  {  // avail.idx jumps by more than the queue size; backwards; wraps
    seed s = simple_table(2, 0);
    s.u8(set_avail_idx).u8(1 | (9 << 2)).u8(available).u8(pop).u8(0);
    s.u8(reset).u8(configure).u8(2).u8(0).u8(0);
    s.u8(set_avail_idx).u8(0).u16(0xfffe).u8(enable);
    s.u8(configure).u8(2).u8(0).u8(0).u8(restore).u16(0xfffe).u16(0xfffe);
    s.u8(publish_many).u8(4).u8(0).u8(pop).u8(0).u8(pop).u8(1).u8(pop).u8(2);
    s.u8(push).u8(0).u8(0).u8(push).u8(1).u8(0).u8(needs_notification);
    s.u8(set_avail_idx).u8(2 | (1 << 2)).u8(pop).u8(3);
    save(dir, "avail_idx_jump_and_wrap", s);
  }
  {  // EVENT_IDX: avail_event on pop, used_event windows, batches, enable/disable
    seed s = header(2, EVENT_IDX);
    s.u8(4);
    for (unsigned i = 0; i < 4; ++i) desc(s, F_WRITE, data, i * 64, small, 32);
    s.u8(0);
    s.u8(publish_many).u8(4).u8(0);
    for (unsigned i = 0; i < 4; ++i) s.u8(pop).u8(i);
    s.u8(used_event).u16(0).u8(push).u8(0).u8(0).u8(needs_notification);
    s.u8(used_event).u16(5).u8(push).u8(1).u8(0).u8(needs_notification);
    s.u8(push_batch).u8(2).u8(2).u8(0).u8(3).u8(0).u8(needs_notification);
    s.u8(disable).u8(publish).u8(0).u8(pop).u8(0).u8(enable).u8(pop).u8(0).u8(needs_notification);
    save(dir, "event_idx", s);
  }
  {  // no EVENT_IDX: avail.flags NO_INTERRUPT, used.flags NO_NOTIFY
    seed s = simple_table(1, 0);
    s.u8(avail_flags).u8(1).u8(publish).u8(0).u8(pop).u8(0).u8(push).u8(0).u8(0);
    s.u8(needs_notification).u8(disable).u8(avail_flags).u8(0).u8(publish).u8(0).u8(pop).u8(0);
    s.u8(push).u8(1).u8(0).u8(needs_notification).u8(enable).u8(needs_notification);
    save(dir, "notification_flags", s);
  }
  {  // IN_ORDER: completions out of order are refused; a full-length batch collapses
    seed s = header(3, IN_ORDER | EVENT_IDX);
    s.u8(4);
    for (unsigned i = 0; i < 4; ++i) desc(s, F_WRITE, data, i * 64, small, 16);
    s.u8(0);
    s.u8(publish_many).u8(4).u8(0);
    for (unsigned i = 0; i < 4; ++i) s.u8(pop).u8(i);
    s.u8(push).u8(1).u8(0);                                    // not the oldest
    s.u8(push_batch).u8(3).u8(0).u8(0).u8(1).u8(0).u8(2).u8(0);  // collapses to one element
    s.u8(push).u8(3).u8(2);                                    // too long
    s.u8(push).u8(3).u8(0).u8(needs_notification);
    save(dir, "in_order_batch", s);
  }
  {  // copy paths: deny_map (no host views), fail_after and fail_range on the data area
    seed s = simple_table(3, 0);
    s.u8(fault).u8(0).u8(publish).u8(0).u8(pop).u8(0);
    cursors(s)
        .view(0, 0, take(4))
        .read(0, 0, all_left)
        .write(0, 0, 1, take(12));
    s.u8(configure).u8(3).u8(0).u8(0);                         // refused: nothing maps
    s.u8(fault).u8(1).u8(configure).u8(3).u8(0).u8(0);
    s.u8(fault).u8(3).u16(0x100).u8(4).u8(publish).u8(0).u8(pop).u8(0);  // the writable range
    s.u8(fault).u8(0).u8(publish).u8(0).u8(pop).u8(1);
    cursors(s).write(1, 0, 2, all_left);
    s.u8(fault).u8(4).u8(fault).u8(0).u8(fault).u8(2).u8(3).u8(publish).u8(0).u8(pop).u8(2);
    cursors(s).read(1, 0, all_left);
    s.u8(remap).u8(fault).u8(4);
    save(dir, "memory_faults", s);
  }
  {  // reconfiguration: bad sizes, misaligned and unmapped areas, create(), remap, restore
    seed s = simple_table(3, 0);
    s.u8(publish).u8(0).u8(pop).u8(0).u8(push).u8(0).u8(0).u8(remap).u8(needs_notification);
    s.u8(configure).u8(0xf8).u8(0).u8(0).u8(configure).u8(0xf9).u8(0).u8(0);
    for (unsigned v : {0xc1u, 0xc2u, 0xc3u, 0xc4u, 0xc5u}) s.u8(configure).u8(3).u8(0).u8(v);
    s.u8(configure).u8(8).u8(7).u8(0x20);  // size 256 through create()
    s.u8(publish).u8(0).u8(pop).u8(0).u8(restore).u16(0x10).u16(0x20);
    s.u8(set_avail_idx).u8(0).u16(0x11).u8(available).u8(pop).u8(1);
    save(dir, "reconfigure", s);
  }
  {  // IN_ORDER with a chain popped before remap(): the sequence must survive the remap
    seed s = header(3, IN_ORDER);
    s.u8(2);
    desc(s, F_WRITE, data, 0, small, 16);
    desc(s, F_WRITE, data, 64, small, 16);
    s.u8(0);
    s.u8(publish_many).u8(2).u8(0).u8(pop).u8(0).u8(push).u8(0).u8(0).u8(pop).u8(1);
    s.u8(disable).u8(remap).u8(push).u8(1).u8(0).u8(needs_notification);
    save(dir, "remap_keeps_state", s);
  }
}

}  // namespace dev

// ---- split_driver ---------------------------------------------------------------------------

namespace drv {

enum op : unsigned {
  add = 0, complete = 2, write_elem = 4, set_used_idx = 5, used_flags = 6, avail_event = 7,
  reclaim = 8, needs_kick = 10, enable = 11, disable = 12, configure = 13
};
/// adv 0: a conforming used.idx step (a batch under IN_ORDER).
constexpr driver_ops ops{reclaim, needs_kick, enable, disable, 0};

seed header(unsigned size_log2, unsigned features, unsigned pool) {
  return seed{}.u8(size_log2).u8(features).u8(pool);
}
/// The device completes the k-th oldest buffer in flight with its whole length; `adv` 0 is a
/// conforming used.idx step (a batch under IN_ORDER), 1 always steps by one.
void complete_k(seed& s, unsigned k, unsigned adv = 0) { complete_kth(s, k, adv); }

void make(const fs::path& dir) {
  {
    seed s = header(3, 0, 0);
    basic_round(s, ops);
    save(dir, "basic", s);
  }
  {  // out-of-order completions and descriptor reuse through the free list
    seed s = header(2, 0, 0);
    add_bufs(s, 1, 0);
    add_bufs(s, 1, 1);
    add_bufs(s, 0, 1);
    complete_k(s, 1);
    complete_k(s, 0);
    s.u8(reclaim).u8(reclaim);
    add_bufs(s, 2, 1);
    add_bufs(s, 1, 0);  // ring_full
    complete_k(s, 1);
    s.u8(reclaim);
    add_bufs(s, 1, 1);
    save(dir, "out_of_order_reuse", s);
  }
  {  // argument errors: empty chain, ring full, more buffers than the queue, total overflow
    seed s = header(1, 0, 0);
    s.u8(add).u8(0);
    add_bufs(s, 3, 0);
    s.u8(add).u8(2).u8(3).u16(0).u32(0xffffffffu).u8(2).u16(0).u32(0x10);  // > 2^32 - 1
    add_bufs(s, 1, 1);
    add_bufs(s, 1, 0);
    save(dir, "add_errors", s);
  }
  {  // indirect pool: explicit, automatic when the ring is full, too long for a table
    seed s = header(2, INDIRECT, 4);
    indirect_pool(s, ops);
    save(dir, "indirect_pool", s);
  }
  {  // EVENT_IDX: avail_event windows for kicks, used_event on enable
    seed s = header(3, EVENT_IDX, 0);
    s.u8(avail_event).u16(1);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    add_bufs(s, 1, 0);
    add_bufs(s, 1, 0);
    s.u8(needs_kick).u8(avail_event).u16(9);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    complete_k(s, 0);
    s.u8(enable).u8(reclaim).u8(enable).u8(disable);
    save(dir, "event_idx", s);
  }
  {  // used.flags NO_NOTIFY suppresses kicks without EVENT_IDX
    seed s = header(3, 0, 0);
    s.u8(used_flags).u8(1);
    add_bufs(s, 1, 0);
    s.u8(needs_kick).u8(used_flags).u8(0);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    save(dir, "no_notify", s);
  }
  {  // IN_ORDER: one used element for a batch of three (§2.7.9)
    seed s = header(3, IN_ORDER, 0);
    in_order_batch(s, ops);
    save(dir, "in_order_batch", s);
  }
  {  // IN_ORDER: a batch element whose used.idx step is too short must break the queue
    seed s = header(3, IN_ORDER | EVENT_IDX | INDIRECT, 3);
    add_bufs(s, 1, 1);
    add_bufs(s, 1, 1);
    add_bufs(s, 1, 1);
    complete_k(s, 1, 1);
    s.u8(reclaim).u8(reclaim).u8(reclaim);
    add_bufs(s, 1, 0);
    save(dir, "in_order_short_batch", s);
  }
  {  // hostile device: id out of range, then reconfigure; id not in flight; len too large; jump
    seed s = header(2, 0, 0);
    add_bufs(s, 0, 1);
    s.u8(write_elem).u8(0).u8(2 | (3 << 2)).u32(4).u8(set_used_idx).u8(0 | (1 << 2));
    s.u8(reclaim).u8(reclaim);
    add_bufs(s, 0, 1);
    s.u8(needs_kick).u8(enable).u8(disable);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_bufs(s, 0, 1);
    s.u8(write_elem).u8(0).u8(1 | (3 << 2)).u32(0).u8(set_used_idx).u8(1 << 2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_bufs(s, 0, 1);
    s.u8(write_elem).u8(0).u8(0).u32(17).u8(set_used_idx).u8(1 << 2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_bufs(s, 0, 1);
    s.u8(set_used_idx).u8(2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_bufs(s, 0, 1);
    s.u8(set_used_idx).u8(3).u8(reclaim);  // backwards
    save(dir, "hostile_device", s);
  }
  {  // configure refusals: bad sizes, misaligned areas, a pool without INDIRECT_DESC
    seed s = header(3, 0, 0);
    s.u8(configure).u8(0xf8).u8(0).u8(0).u8(configure).u8(0xf9).u8(0).u8(0);
    s.u8(configure).u8(3).u8(0).u8(0xf0).u8(configure).u8(3).u8(0).u8(0xf1);
    s.u8(configure).u8(3).u8(0).u8(2);  // pool of 2 without the feature
    add_bufs(s, 1, 0);
    s.u8(reclaim).u8(configure).u8(8).u8(7).u8(4);  // 256 entries, everything
    add_bufs(s, 2, 3, 31, indirect);  // more than the pool's 4 entries
    add_bufs(s, 2, 2, 31, indirect);
    complete_k(s, 0);
    s.u8(reclaim);
    save(dir, "reconfigure", s);
  }
}

}  // namespace drv

// ---- chain_cursor ---------------------------------------------------------------------------

namespace cur {

enum op : unsigned {
  read = 0, read_obj, view, skip, split, write, write_obj, wview, wskip, wsplit, fresh, copy, fault
};
constexpr unsigned unmapped = 1;

/// Header with the given segments: (mapped?, gap before it, length 1..256).
struct seg {
  bool mapped;
  unsigned gap;
  unsigned len;
};
seed header(std::initializer_list<seg> segs, bool reversed = false, unsigned fill = 0x3c) {
  seed s;
  s.u8(static_cast<unsigned>(segs.size())).u8(reversed ? 1 : 0).u8(fill);
  for (const seg& g : segs) s.u8((g.mapped ? 0 : unmapped) | (g.gap << 1)).u8(g.len - 1);
  return s;
}
inline unsigned sel(unsigned cursor, unsigned dst = 0, bool writer = false) {
  return cursor | (dst << 2) | (writer ? 0x80 : 0);
}

void make(const fs::path& dir) {
  {  // reads across mapped and unmapped segments, read_obj straddling a boundary
    seed s = header({{true, 0, 10}, {false, 3, 9}, {true, 5, 30}});
    s.u8(read).u8(sel(0));
    s.u8(take(4));
    s.u8(read_obj).u8(sel(0)).u8(read).u8(sel(0));
    s.u8(all_left);
    s.u8(read).u8(sel(0));
    s.u8(take(1));
    s.u8(fresh).u8(sel(0, 1)).u8(read).u8(sel(1));
    s.u8(past_end);
    save(dir, "read_mixed", s);
  }
  {  // views: inside a mapped segment, across a boundary, in an unmapped segment
    seed s = header({{true, 0, 8}, {true, 0, 8}, {false, 0, 8}, {true, 1, 64}});
    s.u8(view).u8(sel(0));
    s.u8(take(8));
    s.u8(view).u8(sel(0));
    s.u8(take(9));
    s.u8(skip).u8(sel(0));
    s.u8(take(8));
    s.u8(view).u8(sel(0));
    s.u8(take(1));
    s.u8(skip).u8(sel(0));
    s.u8(take(8));
    s.u8(view).u8(sel(0));
    s.u8(all_left);
    s.u8(view).u8(sel(0));
    s.u8(take(0));
    save(dir, "views", s);
  }
  {  // splits: a child over the next bytes, the parent skips them; copies are independent
    seed s = header({{true, 2, 5}, {false, 0, 7}, {true, 0, 11}, {false, 4, 3}}, true);
    s.u8(split).u8(sel(0, 1));
    s.u8(take(9));
    s.u8(read).u8(sel(1));
    s.u8(all_left);
    s.u8(read).u8(sel(1));
    s.u8(take(1));
    s.u8(copy).u8(sel(0, 2)).u8(read).u8(sel(0));
    s.u8(all_left);
    s.u8(read).u8(sel(2));
    s.u8(take(6));
    s.u8(split).u8(sel(2, 3));
    s.u8(past_end);
    s.u8(wsplit).u8(sel(0, 1));
    s.u8(take(12));
    s.u8(write).u8(sel(1));
    s.u8(all_left);
    s.u8(0x41).u8(write_obj).u8(sel(0)).u8(0x42).u8(wskip).u8(sel(0));
    s.u8(all_left);
    s.u8(write).u8(sel(0));
    s.u8(take(1));
    s.u8(0x43);
    save(dir, "split_copy", s);
  }
  {  // writes and writer views, then reads of what was written
    seed s = header({{false, 0, 16}, {true, 8, 16}, {false, 1, 1}, {true, 0, 200}});
    s.u8(write).u8(sel(0));
    s.u8(take(20));
    s.u8(0x10).u8(wview).u8(sel(0));
    s.u8(take(12));
    s.u8(0x20).u8(wview).u8(sel(0));
    s.u8(take(2));
    s.u8(0x30).u8(write).u8(sel(0));
    s.u8(all_left);
    s.u8(0x40).u8(read).u8(sel(0));
    s.u8(all_left);
    s.u8(write).u8(sel(0));
    s.u8(take(1));
    s.u8(0x50);
    save(dir, "write_then_read", s);
  }
  {  // injected faults: a range over an unmapped segment, then fail_after, then cleared
    seed s = header({{true, 0, 20}, {false, 0, 20}, {false, 0, 20}, {true, 0, 20}});
    s.u8(fault).u8(0).u16(25).u8(3);
    s.u8(read).u8(sel(0));
    s.u8(take(15));
    s.u8(read).u8(sel(0));
    s.u8(take(30));
    s.u8(write).u8(sel(0));
    s.u8(all_left);
    s.u8(0x66).u8(write).u8(sel(0));
    s.u8(take(24));
    s.u8(0x67).u8(fault).u8(2).u8(fault).u8(1).u8(1);
    s.u8(read).u8(sel(0));
    s.u8(all_left);
    s.u8(write).u8(sel(0));
    s.u8(all_left);
    s.u8(0x68).u8(fault).u8(2).u8(read).u8(sel(0));
    s.u8(all_left);
    save(dir, "faults", s);
  }
  {  // no segments at all, and default-constructed cursors
    seed s = header({});
    s.u8(read).u8(sel(0));
    s.u8(take(0));
    s.u8(read).u8(sel(0));
    s.u8(take(1));
    s.u8(view).u8(sel(1));
    s.u8(take(0));
    s.u8(skip).u8(sel(2));
    s.u8(take(0));
    s.u8(split).u8(sel(3, 0));
    s.u8(take(0));
    s.u8(write).u8(sel(1));
    s.u8(take(0));
    s.u8(0).u8(wview).u8(sel(2));
    s.u8(past_end);
    s.u8(0).u8(read_obj).u8(sel(3)).u8(write_obj).u8(sel(3)).u8(0);
    save(dir, "empty", s);
  }
  {  // eight segments, the largest ones, all unmapped, read in odd-sized pieces
    seed s;
    s.u8(8).u8(0).u8(0x99);
    for (unsigned i = 0; i < 8; ++i) s.u8(unmapped | 0x40 | ((i & 1) << 7)).u8(0xff);
    for (unsigned i = 0; i < 6; ++i) {
      s.u8(read).u8(sel(0)).u8(3).u16(333 + i);
      s.u8(write).u8(sel(0)).u8(3).u16(517).u8(i);
    }
    save(dir, "large_unmapped", s);
  }
}

}  // namespace cur

// ---- packed_device --------------------------------------------------------------------------

namespace pdev {

/// One 7-byte buffer record: NEXT/WRITE/INDIRECT, address mode and `a`, length mode and `l`.
struct rec {
  unsigned flags;
  addr_mode am;
  unsigned a;
  len_mode lm;
  std::uint32_t l;
};
void put(seed& s, const rec& r) { s.u8(r.flags | (r.am << 3) | (r.lm << 5)).u16(r.a).u32(r.l); }
/// Readable / writable data-area buffers of `len` (< 64) bytes at data offset `at`.
rec rd(unsigned at, unsigned len) { return {0, data, at, small, len}; }
rec wr(unsigned at, unsigned len) { return {F_WRITE, data, at, small, len}; }

enum op : unsigned {
  publish = 0, publish_indirect, write_desc, write_flags, write_ind, release_head, driver_cursor,
  driver_event, pop, push, push_batch, needs_notification, enable, disable, available, reset,
  configure, remap, restore, reader, writer, fresh_cursor, fault, push_rejected
};
// publish ctl bits
constexpr unsigned P_RAW_NEXT = 0x08, P_HOLD = 0x10, P_ID_LAST_ONLY = 0x40, P_RESERVED = 0x80;
// publish_indirect ctl bits
constexpr unsigned I_WRITE = 1, I_NEXT = 2, I_RAGGED = 4, I_HOLD = 8, I_HUGE = 0x10,
                   I_AT_END = 0x20, I_RESERVED = 0x80;
cursor_ops cursors(seed& s) { return {s, {reader, writer, fresh_cursor}}; }

/// Header without raw descriptors or indirect entries: a zeroed ring of `size` slots.
seed header(unsigned size, unsigned features) {
  return seed{}.u8(size - 1).u8(features).u8(0).u8(0);
}
/// A list at the driver's cursor (NEXT set on all but the last unless P_RAW_NEXT); `bad` >= 0
/// makes that descriptor available in the wrong phase.
void publish_list(seed& s, unsigned id, std::initializer_list<rec> list, unsigned extra = 0,
                  int bad = -1) {
  s.u8(publish).u8((static_cast<unsigned>(list.size()) - 1) | extra | (bad >= 0 ? 0x20 : 0)).u8(id);
  if (bad >= 0) s.u8(static_cast<unsigned>(bad));
  for (const rec& r : list) put(s, r);
}
void publish_ind(seed& s, unsigned ctl, unsigned id, unsigned tslot, std::initializer_list<rec> t) {
  s.u8(publish_indirect).u8(ctl).u8(id).u8(tslot).u8(static_cast<unsigned>(t.size()));
  for (const rec& r : t) put(s, r);
}
void pop_to(seed& s, unsigned slot) { s.u8(pop).u8(slot); }
/// push_used of remembered token `tok`: len mode 0 = its whole writable length, 2 = one more.
void push_tok(seed& s, unsigned tok, unsigned len_mode = 0) { s.u8(push).u8(tok).u8(len_mode); }
void event(seed& s, unsigned flags_and_mode, unsigned v) {
  s.u8(driver_event).u8(flags_and_mode).u16(v);
}

void make(const fs::path& dir) {
  {  // pop a readable + writable list, read it, write it, complete it, notify
    seed s = header(8, 0);
    publish_list(s, 7, {rd(0x000, 16), wr(0x100, 32)});
    s.u8(needs_notification);
    pop_to(s, 0);
    cursors(s)
        .read(0, 0, take(10))
        .read_obj(0, 0)
        .write(0, 0, 0xa5, all_left);
    push_tok(s, 0);
    s.u8(needs_notification);
    pop_to(s, 1);
    s.u8(available);
    save(dir, "simple_pop_push", s);
  }
  {  // N = 5: lists of three, the second wraps mid-list (slots 3, 4, 0 with the phase flipped)
    seed s = header(5, 0);
    publish_list(s, 1, {rd(0x000, 8), rd(0x040, 8), wr(0x100, 16)});
    pop_to(s, 0);
    push_tok(s, 0);
    publish_list(s, 2, {rd(0x200, 12), wr(0x300, 20), wr(0x340, 4)}, P_ID_LAST_ONLY);
    s.u8(available);
    pop_to(s, 0x81);  // pop() by value
    cursors(s)
        .read(1, 0, all_left)
        .write(1, 0, 0x3c, all_left);
    push_tok(s, 1);
    publish_list(s, 3, {rd(0x400, 8), wr(0x500, 8)});  // slots 1, 2 in phase 0
    pop_to(s, 2);
    push_tok(s, 2);
    s.u8(needs_notification).u8(available);
    save(dir, "mid_list_wrap_n5", s);
  }
  {  // lists of 1, 2 and 2 slots completed out of order: the used cursor moves by each one's slots
    seed s = header(5, 0);
    publish_list(s, 10, {wr(0x000, 8)});
    publish_list(s, 11, {rd(0x040, 8), wr(0x080, 8)});
    publish_list(s, 12, {rd(0x0c0, 8), wr(0x100, 8)});  // slots 3, 4
    for (unsigned i = 0; i < 3; ++i) pop_to(s, i);
    push_tok(s, 1);
    push_tok(s, 0);
    push_tok(s, 2);
    publish_list(s, 13, {rd(0x140, 8), rd(0x180, 8), wr(0x1c0, 8), wr(0x200, 8)});  // 0..3, phase 0
    pop_to(s, 3);
    s.u8(push).u8(3).u8(1).u32(5);  // a partial length
    s.u8(needs_notification);
    save(dir, "out_of_order_completion", s);
  }
  {  // an indirect table of three entries (WRITE on the ring descriptor is ignored, §2.8.7)
    seed s = header(4, INDIRECT);
    publish_ind(s, I_WRITE, 9, 0, {rd(0x000, 12), rd(0x020, 20), wr(0x100, 40)});
    pop_to(s, 0);
    cursors(s)
        .read(0, 0, all_left)
        .write(0, 0, 7, all_left);
    push_tok(s, 0);
    publish_ind(s, I_RESERVED, 10, 8, {wr(0x200, 16)});  // AVAIL and reserved bits in the table
    pop_to(s, 1);
    push_tok(s, 1);
    save(dir, "indirect_table", s);
  }
  {  // malformed indirect lists: each is rejected, completed with 0, and the queue carries on
    seed s = header(8, INDIRECT);
    publish_ind(s, I_RAGGED, 1, 0, {rd(0, 8)});                          // len 24
    publish_ind(s, 0, 2, 4, {});                                         // len 0
    publish_ind(s, 0, 3, 8, {rd(0, 8), {F_INDIRECT, table, 8, table_len, 1}});  // nested
    publish_ind(s, I_HUGE, 4, 12, {rd(0, 8)});                           // 65537 entries
    publish_ind(s, I_AT_END, 5, 16, {rd(0, 8), rd(8, 8)});               // past memory's end
    publish_list(s, 6, {rd(0, 8), {F_INDIRECT, table, 0, table_len, 1}}); // INDIRECT in a list
    for (unsigned i = 0; i < 6; ++i) {
      pop_to(s, 0);
      s.u8(push_rejected);
    }
    publish_ind(s, I_NEXT | I_HOLD, 7, 20, {rd(0, 8)});  // INDIRECT with NEXT: a 2-slot list
    publish_list(s, 8, {wr(0x100, 8)});
    s.u8(release_head);
    pop_to(s, 0);
    s.u8(push_rejected);
    s.u8(configure).u8(7).u8(0).u8(0);  // again without INDIRECT_DESC
    publish_ind(s, 0, 9, 0, {rd(0, 8)});
    pop_to(s, 0);
    s.u8(push_rejected);
    publish_list(s, 10, {rd(0, 8)});
    pop_to(s, 1);
    push_tok(s, 8);
    save(dir, "indirect_malformed", s);
  }
  {  // readable after writable, total over 2^32 - 1, addr + len wrapping, outside memory
    seed s = header(8, 0);
    publish_list(s, 1, {wr(0, 4), rd(0, 4)});
    publish_list(s, 2, {rd(0, 8), {0, data, 0, huge, 3}});  // 8 + 2^32 - 4
    publish_list(s, 3, {{0, wild, 0x8000, small, 40}});
    publish_list(s, 4, {{0, wild, 0x0100, small, 8}});
    publish_list(s, 5, {{F_WRITE, wild, 0x4008, small, 40}});
    for (unsigned i = 0; i < 5; ++i) {
      pop_to(s, 0);
      push_tok(s, i, 2);  // one byte more than the rejected list's 0 writable bytes: refused
      s.u8(push_rejected);
    }
    publish_list(s, 6, {rd(0, 8), wr(0x100, 8)});
    pop_to(s, 0);
    push_tok(s, 5);
    save(dir, "malformed_lists", s);
  }
  {  // a later descriptor not available in its phase: the list's end is unknown, the queue breaks
    seed s = header(4, 0);
    publish_list(s, 1, {rd(0, 8), rd(0x40, 8), wr(0x100, 8)}, 0, 1);
    pop_to(s, 0);
    pop_to(s, 0);
    s.u8(push).u8(0xf0).u16(0).u8(1).u16(0x8000).u8(0).u8(0);
    s.u8(available).u8(enable).u8(remap).u8(needs_notification).u8(disable).u8(push_batch).u8(0);
    s.u8(restore).u8(0).u8(reset).u8(pop).u8(0);
    s.u8(configure).u8(3).u8(0).u8(0);  // size 4, ring zeroed, driver back at slot 0
    publish_list(s, 2, {rd(0, 8), wr(0x100, 8)});
    pop_to(s, 0);
    push_tok(s, 0);
    save(dir, "desc_not_available", s);
  }
  {  // a list of more descriptors than the ring has: chain_too_long breaks the queue
    seed s = header(3, 0);
    publish_list(s, 1, {{F_NEXT, data, 0, small, 8}, {F_NEXT, data, 0, small, 8},
                        {F_NEXT, data, 0, small, 8}}, P_RAW_NEXT);
    s.u8(available);
    pop_to(s, 0);
    s.u8(reset).u8(configure).u8(2).u8(0).u8(0);
    publish_list(s, 2, {rd(0, 8), rd(0, 8), wr(0x100, 8)});  // exactly the ring: fine
    pop_to(s, 0);
    push_tok(s, 0);
    save(dir, "chain_too_long", s);
  }
  {  // EVENT_IDX: off_wrap around the used cursor, DISABLE, reserved values, enable/disable
    seed s = header(4, EVENT_IDX);
    for (unsigned i = 0; i < 4; ++i) publish_list(s, i, {wr(i * 64, 32)});
    for (unsigned i = 0; i < 4; ++i) pop_to(s, i);
    event(s, EV_DESC | OW_AHEAD, 1);
    push_tok(s, 0);
    s.u8(needs_notification);  // the first decision always notifies
    push_tok(s, 1);
    s.u8(needs_notification);  // passed slot 1
    push_tok(s, 2);
    s.u8(needs_notification);  // did not
    event(s, EV_DESC | OW_AHEAD, 0);  // the next used slot, 3: the push wraps past it
    s.u8(push_batch).u8(1).u8(3).u8(0).u8(needs_notification);
    event(s, EV_DISABLE | 0x04, 0);  // reserved high bit
    for (unsigned i = 0; i < 2; ++i) publish_list(s, 4 + i, {wr(i * 64, 8)});
    pop_to(s, 0);
    push_tok(s, 4);
    s.u8(needs_notification);
    event(s, EV_RESERVED, 0);
    s.u8(disable);
    pop_to(s, 1);
    s.u8(enable);
    push_tok(s, 5);
    s.u8(needs_notification);
    for (unsigned i = 0; i < 2; ++i) publish_list(s, 6 + i, {wr(i * 64, 8)});
    pop_to(s, 2);
    pop_to(s, 3);
    event(s, EV_DESC | OW_RAW, 0x7fff);  // an offset past the ring: never passed
    push_tok(s, 6);
    s.u8(needs_notification);
    event(s, EV_DESC | OW_BEHIND, 1);  // a slot used before the last decision: no notification
    push_tok(s, 7);
    s.u8(needs_notification);
    save(dir, "event_suppression", s);
  }
  {  // no EVENT_IDX: DESC counts as ENABLE, DISABLE suppresses, enable/disable write ENABLE/DISABLE
    seed s = header(2, 0);
    event(s, EV_DISABLE, 0);
    publish_list(s, 1, {wr(0, 8)});
    pop_to(s, 0);
    push_tok(s, 0);
    s.u8(needs_notification);
    event(s, EV_DESC | OW_AHEAD, 1);
    s.u8(disable);
    publish_list(s, 2, {wr(0, 8)});
    pop_to(s, 0);
    push_tok(s, 1);
    s.u8(needs_notification).u8(enable).u8(needs_notification);
    save(dir, "notification_flags", s);
  }
  {  // IN_ORDER: out-of-order completion refused; a whole-length batch collapses into one used
     // descriptor naming its last buffer; a partial one does not
    seed s = header(6, IN_ORDER | EVENT_IDX);
    publish_list(s, 1, {wr(0x000, 16)});
    publish_list(s, 2, {rd(0x040, 8), wr(0x080, 16)});
    publish_list(s, 3, {wr(0x100, 16)});
    publish_list(s, 4, {rd(0x140, 8), wr(0x180, 16)});  // slots 4, 5
    for (unsigned i = 0; i < 4; ++i) pop_to(s, i);
    push_tok(s, 1);                                              // not the oldest
    s.u8(push_batch).u8(3).u8(0).u8(0).u8(1).u8(0).u8(2).u8(0);  // collapses
    push_tok(s, 3, 2);                                           // too long
    push_tok(s, 3);
    s.u8(needs_notification);
    publish_list(s, 5, {wr(0x200, 16)});
    publish_list(s, 6, {wr(0x240, 16)});
    pop_to(s, 0);
    pop_to(s, 1);
    s.u8(push_batch).u8(2).u8(4).u8(1).u32(3).u8(5).u8(0);  // first one partial: two descriptors
    s.u8(needs_notification);
    save(dir, "in_order_batch", s);
  }
  {  // deny_map (copies, no views), fail_range over buffers and tables, fail_after, remap
    seed s = header(8, INDIRECT);
    s.u8(fault).u8(0);
    publish_list(s, 1, {rd(0x000, 16), wr(0x100, 32)});
    pop_to(s, 0);
    cursors(s)
        .view(0, 0, take(4))
        .read(0, 0, all_left)
        .write(0, 0, 1, take(12));
    push_tok(s, 0);
    publish_ind(s, 0, 1, 0, {rd(0x000, 8), wr(0x100, 8)});  // the table is read, not mapped
    pop_to(s, 0x82);
    cursors(s).read(2, 0, all_left);
    push_tok(s, 1);
    s.u8(configure).u8(7).u8(2).u8(0);  // refused: nothing maps
    s.u8(fault).u8(1).u8(configure).u8(7).u8(2).u8(0);
    s.u8(fault).u8(3).u16(0x100).u8(4);  // over the writable buffer
    publish_list(s, 2, {rd(0x000, 16), wr(0x100, 32)});
    pop_to(s, 0);
    s.u8(push_rejected);
    s.u8(fault).u8(3).u16(0x8000).u8(15);  // over indirect slot 0
    publish_ind(s, 0, 3, 0, {rd(0x000, 8)});
    pop_to(s, 1);
    s.u8(push_rejected).u8(fault).u8(4).u8(fault).u8(0);  // no views: copies go through memory
    publish_list(s, 4, {rd(0x000, 16), wr(0x100, 32)});
    pop_to(s, 1);
    s.u8(fault).u8(2).u8(0);  // every access from now on fails
    cursors(s)
        .write(1, 0, 2, all_left)
        .read(1, 0, all_left);
    s.u8(remap).u8(fault).u8(4);
    save(dir, "memory_faults", s);
  }
  {  // configure refusals: bad sizes, misaligned and unmapped areas; create(), remap
    seed s = header(8, 0);
    publish_list(s, 1, {wr(0, 8)});
    pop_to(s, 0);
    push_tok(s, 0);
    s.u8(remap).u8(needs_notification);
    s.u8(write_desc).u8(5).u8(0).u8(0x55);  // slot 5 of 8 is slot 0 of a 3-slot ring
    put(s, wr(0x80, 8));
    s.u8(configure).u8(2).u8(0x08).u8(0);  // size 3, ring not zeroed: the stale descriptor
    pop_to(s, 0);
    push_tok(s, 1);
    for (unsigned v : {0xe0u, 0xe1u, 0xe2u, 0xe3u}) s.u8(configure).u8(7).u8(0).u8(v);
    for (unsigned v : {0xf1u, 0xf2u, 0xf3u, 0xf4u, 0xf5u, 0xf6u}) s.u8(configure).u8(7).u8(0).u8(v);
    s.u8(configure).u8(255).u8(7).u8(0x08);  // size 256 through create()
    publish_list(s, 2, {rd(0, 8), wr(0x100, 8)});
    pop_to(s, 0);
    s.u8(remap);
    push_tok(s, 2);
    s.u8(available);
    save(dir, "reconfigure", s);
  }
  {  // state() / restore(): a round trip, raw values, a slot past the size, the cursors swapped
    seed s = header(5, 0);
    publish_list(s, 1, {wr(0, 8), wr(0x40, 8)});
    publish_list(s, 2, {wr(0x80, 8)});
    pop_to(s, 0);
    pop_to(s, 1);
    push_tok(s, 0);
    s.u8(restore).u8(0);
    push_tok(s, 1);
    s.u8(restore).u8(1).u16(0x7fff).u16(0x8003);
    push_tok(s, 1);  // seq/slots no longer match the positions
    s.u8(restore).u8(2 | (3 << 2) | 0x80);
    pop_to(s, 2);
    s.u8(restore).u8(3);
    s.u8(push).u8(0xf0).u16(5).u8(5).u16(0).u8(0).u8(0);  // a made-up token of 5 slots
    s.u8(driver_cursor).u8(0);
    publish_list(s, 3, {wr(0, 8)});
    pop_to(s, 3);
    s.u8(needs_notification).u8(available);
    save(dir, "state_restore", s);
  }
  {  // a list written but for its head's flags is not available; releasing the head publishes it
    seed s = header(4, EVENT_IDX);
    publish_list(s, 1, {rd(0, 8), wr(0x100, 8)}, P_HOLD);
    pop_to(s, 0);
    s.u8(available).u8(enable);
    s.u8(release_head).u8(available).u8(enable);
    pop_to(s, 0);
    push_tok(s, 0);
    publish_list(s, 2, {wr(0x200, 8)});
    s.u8(write_flags).u8(2).u16(0x8000);  // the driver takes it back: wrong phase for slot 2
    pop_to(s, 1);
    s.u8(write_desc).u8(2).u8(1).u8(3);  // in the phase the device expects there
    put(s, wr(0x200, 8));
    pop_to(s, 1);
    push_tok(s, 1);
    s.u8(needs_notification);
    save(dir, "held_head", s);
  }
  {  // nine non-empty descriptors in one list: packed_device<M, 8> answers segment_limit
    seed s = header(16, 0);
    publish_list(s, 1, {{F_NEXT, data, 0x00, small, 8}, {F_NEXT, data, 0x10, small, 8},
                        {F_NEXT, data, 0x20, small, 8}, {F_NEXT, data, 0x30, small, 8},
                        {F_NEXT, data, 0x40, small, 8}, {F_NEXT, data, 0x50, small, 8},
                        {F_NEXT, data, 0x60, small, 8}, {F_NEXT, data, 0x70, small, 8}},
                 P_RAW_NEXT | P_HOLD);
    publish_list(s, 1, {rd(0x80, 8)});
    s.u8(release_head);
    pop_to(s, 0);
    s.u8(push_rejected);
    publish_list(s, 2, {rd(0x00, 8), rd(0x10, 8), rd(0x20, 0), rd(0x30, 8), rd(0x40, 8),
                        rd(0x50, 8), rd(0x60, 8), rd(0x70, 8)});  // eight, one of them empty
    pop_to(s, 1);
    cursors(s).read(1, 0, all_left);
    push_tok(s, 1);
    save(dir, "segment_limit", s);
  }
  {  // views, skips and splits over a list of several readable and writable pieces
    seed s = header(8, 0);
    publish_list(s, 3, {rd(0x000, 7), rd(0x040, 9), rd(0x080, 0), wr(0x100, 13), wr(0x200, 5),
                        {F_WRITE, data, 0x300, medium, 100}});
    pop_to(s, 0);
    views_skips_splits(cursors(s), /*copy_rests=*/false);
    push_tok(s, 0);
    save(dir, "cursor_views_splits", s);
  }
  {  // reserved flag bits everywhere, raw descriptors in the header, a used-looking head
    seed s = seed{}.u8(4 - 1).u8(INDIRECT);
    s.u8(3);  // three raw descriptors: slot 0 used-looking, slots 1 and 2 one list
    s.u8(2 | 4).u8(0x20);
    put(s, wr(0, 8));
    s.u8(0x10).u8(0x21);
    put(s, {F_NEXT, data, 0x40, small, 8});
    s.u8(0x10).u8(0x22);
    put(s, wr(0x80, 8));
    s.u8(1).u8(5).u8(0x30);  // one indirect entry, slot 5
    put(s, {F_NEXT | F_WRITE, data, 0x100, small, 16});
    pop_to(s, 0);  // slot 0 is not available: nothing
    s.u8(restore).u8(1).u16(0x8001).u16(0x8001);
    pop_to(s, 0);
    push_tok(s, 0);
    s.u8(driver_cursor).u8(0);
    publish_list(s, 1, {rd(0x200, 8), wr(0x240, 8)}, P_RESERVED);  // slots 3, 0
    pop_to(s, 1);
    push_tok(s, 1);
    s.u8(driver_cursor).u8(0);
    publish_ind(s, I_WRITE | I_RESERVED, 2, 5, {{F_NEXT | F_WRITE, data, 0x100, small, 16}});
    pop_to(s, 2);
    push_tok(s, 2);
    s.u8(write_desc).u8(2).u8(1).u8(3);  // phase 1 at slot 2: not available in phase 0
    put(s, wr(0x200, 8));
    pop_to(s, 3);
    s.u8(write_flags).u8(2).u16(0xff7c);  // INDIRECT, phase 0, reserved bits: an 8-byte table
    pop_to(s, 3);
    s.u8(push_rejected);
    save(dir, "reserved_flag_bits", s);
  }
}

}  // namespace pdev

// ---- packed_driver --------------------------------------------------------------------------

namespace pdrv {

constexpr unsigned BAD_SIZE = 0x80;
enum op : unsigned {
  add = 0, complete = 2, dev_write = 4, dev_cursor = 5, dev_event = 6, reclaim = 7,
  needs_kick = 9, enable = 10, disable = 11, reset = 12, detach = 13, configure = 14
};
// complete ctl: WRITE, NEXT, and how far the device's cursor moves (bits 2-3)
constexpr unsigned C_WRITE = 1, C_NEXT = 2, C_BY_BUFFER = 4, C_BY_ONE = 8, C_STAY = 12;
// dev_write id selectors and flag modes
constexpr unsigned ID_IN_FLIGHT = 0, ID_RAW = 1, ID_OUT_OF_RANGE = 2, ID_LAST_RECLAIMED = 3;
constexpr unsigned FL_USED = 0, FL_OTHER_PHASE = 1, FL_AVAIL = 2, FL_RAW = 3, FL_WRITE = 0x10,
                   FL_RESERVED = 0x20;
constexpr driver_ops ops{reclaim, needs_kick, enable, disable, C_WRITE};

seed header(unsigned size, unsigned features, unsigned pool) {
  return seed{}.u8(size - 1).u8(features).u8(pool);
}
/// The device completes the k-th oldest buffer in flight with its whole length.
void complete_k(seed& s, unsigned k, unsigned ctl = C_WRITE) { complete_kth(s, k, ctl); }
void write_used(seed& s, unsigned at, unsigned idsel, unsigned fl, std::uint32_t len) {
  s.u8(dev_write).u8(at).u8(idsel).u8(fl).u32(len);
}
void event(seed& s, unsigned flags_and_mode, unsigned v) {
  s.u8(dev_event).u8(flags_and_mode).u16(v);
}

void make(const fs::path& dir) {
  {
    seed s = header(8, 0, 0);
    basic_round(s, ops);
    save(dir, "basic", s);
  }
  {  // N = 5: a list of three wraps mid-list (slots 3, 4, 0 with the phase flipped)
    seed s = header(5, 0, 0);
    add_bufs(s, 0, 3);
    complete_k(s, 0);
    s.u8(reclaim);
    add_bufs(s, 1, 2);
    add_bufs(s, 1, 0);  // slot 1, phase 0
    s.u8(needs_kick);
    complete_k(s, 0);
    complete_k(s, 1);
    s.u8(reclaim).u8(reclaim).u8(enable);
    add_bufs(s, 2, 2);  // slots 2..0 again
    complete_k(s, 0);
    s.u8(reclaim).u8(needs_kick);
    save(dir, "mid_list_wrap_n5", s);
  }
  {  // completions out of order, lists of different lengths; ids reused through the free list
    seed s = header(6, 0, 0);
    add_bufs(s, 1, 0);
    add_bufs(s, 1, 2);
    add_bufs(s, 0, 2);
    complete_k(s, 2);
    complete_k(s, 0);
    complete_k(s, 1);
    s.u8(reclaim).u8(reclaim).u8(reclaim).u8(reclaim);
    add_bufs(s, 2, 2);
    add_bufs(s, 1, 1);
    complete_k(s, 1);
    complete_k(s, 0);
    s.u8(reclaim).u8(reclaim);
    save(dir, "out_of_order", s);
  }
  {  // argument errors: empty list, longer than the ring, total over 2^32 - 1, ring full, no pool
    seed s = header(2, 0, 0);
    s.u8(add).u8(0);
    add_bufs(s, 3, 0);
    s.u8(add).u8(2).u8(2).u16(0).u32(0xffffffffu).u8(2).u16(0).u32(0x10);
    add_bufs(s, 1, 1);
    add_bufs(s, 1, 0);
    add_bufs(s, 1, 0, 8, indirect);
    save(dir, "add_errors", s);
  }
  {  // indirect pool: explicit, automatic when the ring is short, too long for a table
    seed s = header(4, INDIRECT, 4);
    indirect_pool(s, ops);
    complete_k(s, 1);
    s.u8(reclaim);
    save(dir, "indirect_pool", s);
  }
  {  // EVENT_IDX kicks: off_wrap inside a multi-slot list, behind, DISABLE, reserved values
    seed s = header(16, EVENT_IDX, 0);
    event(s, EV_DESC | OW_AHEAD, 1);
    add_bufs(s, 1, 2);
    s.u8(needs_kick);  // slot 1 is inside the list just published
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    event(s, EV_DESC | OW_BEHIND, 2);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    event(s, EV_DISABLE, 0);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    event(s, EV_DISABLE | 0x04, 0);  // a reserved high bit: kicks
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    event(s, EV_RESERVED, 0);
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    event(s, EV_DESC | OW_RAW, 0x0001);  // slot 1 in the other phase: taken as the last lap
    add_bufs(s, 1, 0);
    s.u8(needs_kick);
    save(dir, "event_idx_kick", s);
  }
  {  // IN_ORDER: one used descriptor for a batch of three (§2.8.8), drained one per reclaim
    seed s = header(6, IN_ORDER, 0);
    in_order_batch(s, ops);  // the list of four wraps
    save(dir, "in_order_batch", s);
  }
  {  // hostile ids: out of range, not in flight, too long, completed twice; each breaks the queue
    seed s = header(4, 0, 0);
    add_bufs(s, 0, 1);
    write_used(s, 0, ID_OUT_OF_RANGE, FL_USED, 4);
    s.u8(reclaim).u8(reclaim);
    add_bufs(s, 0, 1);
    s.u8(needs_kick).u8(enable).u8(disable);
    s.u8(configure).u8(3).u8(0).u8(0);
    add_bufs(s, 0, 1);
    write_used(s, 0, ID_RAW | (3 << 2), FL_USED, 0);
    s.u8(reclaim);
    s.u8(configure).u8(3).u8(0).u8(0);
    add_bufs(s, 0, 1);
    write_used(s, 0, ID_IN_FLIGHT, FL_USED | FL_WRITE, 17);
    s.u8(reclaim);
    s.u8(configure).u8(3).u8(0).u8(0);
    add_bufs(s, 0, 1);
    add_bufs(s, 0, 1);
    complete_k(s, 0);
    s.u8(reclaim);
    write_used(s, 0, ID_LAST_RECLAIMED, FL_USED, 0);
    s.u8(reclaim);
    save(dir, "hostile_ids", s);
  }
  {  // used descriptors in the wrong phase or available-looking are not used; WRITE is optional
    seed s = header(4, 0, 0);
    add_bufs(s, 0, 1);
    write_used(s, 0, ID_IN_FLIGHT, FL_OTHER_PHASE, 4);
    s.u8(reclaim).u8(enable);
    write_used(s, 0, ID_IN_FLIGHT, FL_AVAIL, 4);
    s.u8(reclaim);
    write_used(s, 0, ID_IN_FLIGHT, FL_RAW | 4, 4);  // AVAIL without USED
    s.u8(reclaim);
    write_used(s, 0, ID_IN_FLIGHT, FL_USED | FL_RESERVED, 16);  // len without WRITE (QEMU)
    s.u8(enable).u8(reclaim);
    save(dir, "wrong_phase", s);
  }
  {  // reset, then detach_unused() hands back every buffer still in flight, once
    seed s = header(8, 0, 0);
    add_bufs(s, 1, 1);
    add_bufs(s, 0, 1);
    add_bufs(s, 2, 0);
    complete_k(s, 0);
    s.u8(reclaim).u8(detach).u8(reset).u8(detach).u8(detach).u8(detach);
    add_bufs(s, 1, 0);
    s.u8(reclaim).u8(needs_kick).u8(enable);
    s.u8(configure).u8(7).u8(0).u8(0);
    add_bufs(s, 1, 0);
    s.u8(reclaim).u8(detach);
    save(dir, "reset_detach", s);
  }
  {  // a broken queue keeps its books: detach_unused() hands them back; refused configures too
    seed s = header(4, IN_ORDER, 0);
    add_bufs(s, 0, 1);
    add_bufs(s, 0, 1);
    write_used(s, 0, ID_IN_FLIGHT, FL_USED, 1000);
    s.u8(reclaim).u8(detach);
    s.u8(configure).u8(0).u8(BAD_SIZE).u8(0);  // refused: broken no more, books kept
    s.u8(detach).u8(reset).u8(detach).u8(detach);
    s.u8(configure).u8(3).u8(IN_ORDER).u8(0);
    add_bufs(s, 1, 0);
    complete_k(s, 0);
    s.u8(reclaim);
    save(dir, "broken_detach", s);
  }
  {  // configure refusals: bad sizes, misaligned and unmapped areas, pools
    seed s = header(8, 0, 0);
    add_bufs(s, 1, 0);
    for (unsigned k = 0; k < 4; ++k) s.u8(configure).u8(k).u8(BAD_SIZE).u8(0);
    for (unsigned v = 0xe0; v <= 0xe6; ++v) s.u8(configure).u8(7).u8(INDIRECT).u8(v);
    s.u8(configure).u8(7).u8(0).u8(2);  // a pool without INDIRECT_DESC
    s.u8(detach);
    s.u8(configure).u8(255).u8(EVENT_IDX | INDIRECT | IN_ORDER).u8(4);  // 256 slots, everything
    add_bufs(s, 2, 3, 31, indirect);  // more than the pool's 4 entries
    add_bufs(s, 2, 2, 31, indirect);
    complete_k(s, 0);
    s.u8(reclaim);
    save(dir, "reconfigure", s);
  }
  {  // interrupts: enable reports waiting used descriptors; with and without EVENT_IDX
    seed s = header(4, EVENT_IDX, 0);
    s.u8(enable);
    add_bufs(s, 0, 1);
    complete_k(s, 0, C_WRITE | C_STAY);
    s.u8(enable).u8(reclaim).u8(enable).u8(disable);
    s.u8(dev_cursor).u8(0);
    add_bufs(s, 0, 2);
    complete_k(s, 0, C_NEXT);  // NEXT (reserved in used descriptors) is ignored
    s.u8(enable).u8(reclaim);
    s.u8(configure).u8(3).u8(0).u8(0);
    s.u8(enable).u8(disable);
    add_bufs(s, 0, 1);
    s.u8(complete).u8(0).u8(0).u8(1).u32(7);  // a partial length, WRITE off
    s.u8(enable).u8(reclaim);
    save(dir, "interrupts", s);
  }
}

}  // namespace pdrv

}  // namespace

int main(int argc, char** argv) {
  const fs::path root = argc > 1 ? fs::path{argv[1]} : fs::path{"fuzz/corpus"};
  dev::make(root / "split_device");
  drv::make(root / "split_driver");
  cur::make(root / "chain_cursor");
  pdev::make(root / "packed_device");
  pdrv::make(root / "packed_driver");
  return g_ok ? 0 : 1;
}
