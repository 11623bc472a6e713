// SPDX-License-Identifier: Apache-2.0
// Writes the hand-made seeds of fuzz/corpus/<target>/ (see docs/fuzzing.md for the formats).
// Not part of the build; run it once after changing an input format:
//   g++ -std=c++20 -O1 fuzz/seeds/make_seeds.cpp -o /tmp/make_seeds && /tmp/make_seeds fuzz/corpus
// Each seed spells out one scenario with the encoders below, which mirror the decoders of
// fuzz/split_device.cpp, fuzz/split_driver.cpp and fuzz/chain_cursor.cpp.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

class seed {
 public:
  seed& u8(unsigned v) {
    bytes_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
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

// ---- split_device ---------------------------------------------------------------------------

namespace dev {

constexpr unsigned F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
constexpr unsigned EVENT_IDX = 1, INDIRECT = 2, IN_ORDER = 4;

enum addr_mode : unsigned { data = 0, table = 2, wild = 3 };
enum len_mode : unsigned { small = 0, medium = 4, table_len = 5, raw = 6, huge = 7 };

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
// cursor sub-operations (bits 4-6 of the selector)
enum sub : unsigned { c_read = 0, c_obj = 1, c_view = 2, c_skip = 3, c_split = 4 };
// pick_n modes
inline void n_small(seed& s, unsigned n) { s.u8(n << 2); }  // n < 64
inline void n_rest(seed& s) { s.u8(1); }
inline void n_over(seed& s) { s.u8(2); }

inline unsigned sel(unsigned slot, unsigned cursor, unsigned sub_op) {
  return slot | (cursor << 2) | (sub_op << 4);
}
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
    s.u8(reader).u8(sel(0, 0, c_read));
    n_small(s, 10);
    s.u8(reader).u8(sel(0, 0, c_obj));
    s.u8(writer).u8(sel(0, 0, c_read)).u8(0xa5);
    n_rest(s);
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
    s.u8(reader).u8(sel(0, 0, c_view));
    n_small(s, 7);
    s.u8(reader).u8(sel(0, 0, c_view));
    n_small(s, 4);
    s.u8(reader).u8(sel(0, 0, c_split));
    n_small(s, 3);
    s.u8(1);  // into reader 1
    s.u8(reader).u8(sel(0, 1, c_read));
    n_rest(s);
    s.u8(reader).u8(sel(0, 0, c_skip));
    n_over(s);
    s.u8(reader).u8(sel(0, 0, c_read));
    n_rest(s);
    s.u8(writer).u8(sel(0, 0, c_split)).u8(0);
    n_small(s, 4);
    s.u8(2);
    s.u8(writer).u8(sel(0, 0, c_read)).u8(0x11);
    n_small(s, 20);
    s.u8(writer).u8(sel(0, 2, c_obj)).u8(0x22);
    s.u8(writer).u8(sel(0, 2, c_read)).u8(0x33);
    n_rest(s);
    s.u8(writer).u8(sel(0, 0, c_view)).u8(0x44);
    n_rest(s);
    s.u8(fresh_cursor).u8(0x80 | (1 << 2));
    s.u8(writer).u8(sel(0, 1, c_skip)).u8(0);
    n_rest(s);
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
    s.u8(reader).u8(sel(0, 0, c_read));
    n_rest(s);
    s.u8(writer).u8(sel(0, 0, c_read)).u8(7);
    n_rest(s);
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
    s.u8(publish).u8(0).u8(pop).u8(1).u8(reader).u8(sel(1, 0, c_read));
    n_rest(s);
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
    s.u8(reader).u8(sel(0, 0, c_read));
    n_rest(s);
    s.u8(writer).u8(sel(0, 0, c_read)).u8(0x5a);
    n_rest(s);
    push_tok(s, 2);
    s.u8(publish).u8(3).u8(pop).u8(1).u8(publish).u8(4).u8(pop).u8(2);
    s.u8(writer).u8(sel(2, 0, c_read)).u8(0x77);
    n_rest(s);
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
    s.u8(reader).u8(sel(0, 0, c_view));
    n_small(s, 4);
    s.u8(reader).u8(sel(0, 0, c_read));
    n_rest(s);
    s.u8(writer).u8(sel(0, 0, c_read)).u8(1);
    n_small(s, 12);
    s.u8(configure).u8(3).u8(0).u8(0);                         // refused: nothing maps
    s.u8(fault).u8(1).u8(configure).u8(3).u8(0).u8(0);
    s.u8(fault).u8(3).u16(0x100).u8(4).u8(publish).u8(0).u8(pop).u8(0);  // the writable range
    s.u8(fault).u8(0).u8(publish).u8(0).u8(pop).u8(1);
    s.u8(writer).u8(sel(1, 0, c_read)).u8(2);
    n_rest(s);
    s.u8(fault).u8(4).u8(fault).u8(0).u8(fault).u8(2).u8(3).u8(publish).u8(0).u8(pop).u8(2);
    s.u8(reader).u8(sel(1, 0, c_read));
    n_rest(s);
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

constexpr unsigned EVENT_IDX = 1, INDIRECT = 2, IN_ORDER = 4;
enum op : unsigned {
  add = 0, complete = 2, write_elem = 4, set_used_idx = 5, used_flags = 6, avail_event = 7,
  reclaim = 8, needs_kick = 10, enable = 11, disable = 12, configure = 13
};
enum mode : unsigned { automatic = 0, direct = 1, indirect = 2 };

seed header(unsigned size_log2, unsigned features, unsigned pool) {
  return seed{}.u8(size_log2).u8(features).u8(pool);
}
/// add(): nr readable then nw writable data-area buffers of `len` bytes (< 32) each.
void add_chain(seed& s, unsigned nr, unsigned nw, unsigned len = 16, mode m = automatic) {
  s.u8(add).u8(nr + 5 * nw + 25 * m);
  for (unsigned i = 0; i < nr + nw; ++i) s.u8(len << 2).u16(i * 64).u32(0);
}
/// The device completes the k-th oldest buffer in flight with its whole length; `adv` 0 is a
/// conforming used.idx step (a batch under IN_ORDER), 1 always steps by one.
void complete_k(seed& s, unsigned k, unsigned adv = 0) { s.u8(complete).u8(k).u8(adv).u8(0); }

void make(const fs::path& dir) {
  {
    seed s = header(3, 0, 0);
    add_chain(s, 1, 1);
    add_chain(s, 2, 0);
    s.u8(needs_kick).u8(needs_kick);
    complete_k(s, 1);
    s.u8(reclaim).u8(reclaim);
    complete_k(s, 0);
    s.u8(reclaim).u8(reclaim).u8(enable).u8(disable);
    save(dir, "basic", s);
  }
  {  // out-of-order completions and descriptor reuse through the free list
    seed s = header(2, 0, 0);
    add_chain(s, 1, 0);
    add_chain(s, 1, 1);
    add_chain(s, 0, 1);
    complete_k(s, 1);
    complete_k(s, 0);
    s.u8(reclaim).u8(reclaim);
    add_chain(s, 2, 1);
    add_chain(s, 1, 0);  // ring_full
    complete_k(s, 1);
    s.u8(reclaim);
    add_chain(s, 1, 1);
    save(dir, "out_of_order_reuse", s);
  }
  {  // argument errors: empty chain, ring full, more buffers than the queue, total overflow
    seed s = header(1, 0, 0);
    s.u8(add).u8(0);
    add_chain(s, 3, 0);
    s.u8(add).u8(2).u8(3).u16(0).u32(0xffffffffu).u8(2).u16(0).u32(0x10);  // > 2^32 - 1
    add_chain(s, 1, 1);
    add_chain(s, 1, 0);
    save(dir, "add_errors", s);
  }
  {  // indirect pool: explicit, automatic when the ring is full, too long for a table
    seed s = header(2, INDIRECT, 4);
    add_chain(s, 2, 2, 8, indirect);
    add_chain(s, 1, 1, 8, direct);
    add_chain(s, 1, 2, 8, automatic);  // 3 > 1 free descriptor: goes indirect
    add_chain(s, 1, 0, 8, indirect);   // ring_full
    complete_k(s, 0);
    complete_k(s, 1);
    s.u8(reclaim).u8(reclaim);
    add_chain(s, 3, 2, 8, indirect);  // more buffers than the queue size
    add_chain(s, 2, 2, 8, indirect);
    save(dir, "indirect_pool", s);
  }
  {  // EVENT_IDX: avail_event windows for kicks, used_event on enable
    seed s = header(3, EVENT_IDX, 0);
    s.u8(avail_event).u16(1);
    add_chain(s, 1, 0);
    s.u8(needs_kick);
    add_chain(s, 1, 0);
    add_chain(s, 1, 0);
    s.u8(needs_kick).u8(avail_event).u16(9);
    add_chain(s, 1, 0);
    s.u8(needs_kick);
    complete_k(s, 0);
    s.u8(enable).u8(reclaim).u8(enable).u8(disable);
    save(dir, "event_idx", s);
  }
  {  // used.flags NO_NOTIFY suppresses kicks without EVENT_IDX
    seed s = header(3, 0, 0);
    s.u8(used_flags).u8(1);
    add_chain(s, 1, 0);
    s.u8(needs_kick).u8(used_flags).u8(0);
    add_chain(s, 1, 0);
    s.u8(needs_kick);
    save(dir, "no_notify", s);
  }
  {  // IN_ORDER: one used element for a batch of three (§2.7.9)
    seed s = header(3, IN_ORDER, 0);
    add_chain(s, 1, 1);
    add_chain(s, 0, 2);
    add_chain(s, 1, 0);
    complete_k(s, 2);
    s.u8(enable).u8(reclaim).u8(enable).u8(reclaim).u8(reclaim).u8(reclaim);
    add_chain(s, 2, 2);
    complete_k(s, 0);
    s.u8(reclaim);
    save(dir, "in_order_batch", s);
  }
  {  // IN_ORDER: a batch element whose used.idx step is too short must break the queue
    seed s = header(3, IN_ORDER | EVENT_IDX | INDIRECT, 3);
    add_chain(s, 1, 1);
    add_chain(s, 1, 1);
    add_chain(s, 1, 1);
    complete_k(s, 1, 1);
    s.u8(reclaim).u8(reclaim).u8(reclaim);
    add_chain(s, 1, 0);
    save(dir, "in_order_short_batch", s);
  }
  {  // hostile device: id out of range, then reconfigure; id not in flight; len too large; jump
    seed s = header(2, 0, 0);
    add_chain(s, 0, 1);
    s.u8(write_elem).u8(0).u8(2 | (3 << 2)).u32(4).u8(set_used_idx).u8(0 | (1 << 2));
    s.u8(reclaim).u8(reclaim);
    add_chain(s, 0, 1);
    s.u8(needs_kick).u8(enable).u8(disable);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_chain(s, 0, 1);
    s.u8(write_elem).u8(0).u8(1 | (3 << 2)).u32(0).u8(set_used_idx).u8(1 << 2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_chain(s, 0, 1);
    s.u8(write_elem).u8(0).u8(0).u32(17).u8(set_used_idx).u8(1 << 2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_chain(s, 0, 1);
    s.u8(set_used_idx).u8(2).u8(reclaim);
    s.u8(configure).u8(2).u8(0).u8(0);
    add_chain(s, 0, 1);
    s.u8(set_used_idx).u8(3).u8(reclaim);  // backwards
    save(dir, "hostile_device", s);
  }
  {  // configure refusals: bad sizes, misaligned areas, a pool without INDIRECT_DESC
    seed s = header(3, 0, 0);
    s.u8(configure).u8(0xf8).u8(0).u8(0).u8(configure).u8(0xf9).u8(0).u8(0);
    s.u8(configure).u8(3).u8(0).u8(0xf0).u8(configure).u8(3).u8(0).u8(0xf1);
    s.u8(configure).u8(3).u8(0).u8(2);  // pool of 2 without the feature
    add_chain(s, 1, 0);
    s.u8(reclaim).u8(configure).u8(8).u8(7).u8(4);  // 256 entries, everything
    add_chain(s, 2, 3, 31, indirect);  // more than the pool's 4 entries
    add_chain(s, 2, 2, 31, indirect);
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
inline void n_small(seed& s, unsigned n) { s.u8(n << 2); }
inline void n_rest(seed& s) { s.u8(1); }
inline void n_over(seed& s) { s.u8(2); }
inline unsigned sel(unsigned cursor, unsigned dst = 0, bool writer = false) {
  return cursor | (dst << 2) | (writer ? 0x80 : 0);
}

void make(const fs::path& dir) {
  {  // reads across mapped and unmapped segments, read_obj straddling a boundary
    seed s = header({{true, 0, 10}, {false, 3, 9}, {true, 5, 30}});
    s.u8(read).u8(sel(0));
    n_small(s, 4);
    s.u8(read_obj).u8(sel(0)).u8(read).u8(sel(0));
    n_rest(s);
    s.u8(read).u8(sel(0));
    n_small(s, 1);
    s.u8(fresh).u8(sel(0, 1)).u8(read).u8(sel(1));
    n_over(s);
    save(dir, "read_mixed", s);
  }
  {  // views: inside a mapped segment, across a boundary, in an unmapped segment
    seed s = header({{true, 0, 8}, {true, 0, 8}, {false, 0, 8}, {true, 1, 64}});
    s.u8(view).u8(sel(0));
    n_small(s, 8);
    s.u8(view).u8(sel(0));
    n_small(s, 9);
    s.u8(skip).u8(sel(0));
    n_small(s, 8);
    s.u8(view).u8(sel(0));
    n_small(s, 1);
    s.u8(skip).u8(sel(0));
    n_small(s, 8);
    s.u8(view).u8(sel(0));
    n_rest(s);
    s.u8(view).u8(sel(0));
    n_small(s, 0);
    save(dir, "views", s);
  }
  {  // splits: a child over the next bytes, the parent skips them; copies are independent
    seed s = header({{true, 2, 5}, {false, 0, 7}, {true, 0, 11}, {false, 4, 3}}, true);
    s.u8(split).u8(sel(0, 1));
    n_small(s, 9);
    s.u8(read).u8(sel(1));
    n_rest(s);
    s.u8(read).u8(sel(1));
    n_small(s, 1);
    s.u8(copy).u8(sel(0, 2)).u8(read).u8(sel(0));
    n_rest(s);
    s.u8(read).u8(sel(2));
    n_small(s, 6);
    s.u8(split).u8(sel(2, 3));
    n_over(s);
    s.u8(wsplit).u8(sel(0, 1));
    n_small(s, 12);
    s.u8(write).u8(sel(1));
    n_rest(s);
    s.u8(0x41).u8(write_obj).u8(sel(0)).u8(0x42).u8(wskip).u8(sel(0));
    n_rest(s);
    s.u8(write).u8(sel(0));
    n_small(s, 1);
    s.u8(0x43);
    save(dir, "split_copy", s);
  }
  {  // writes and writer views, then reads of what was written
    seed s = header({{false, 0, 16}, {true, 8, 16}, {false, 1, 1}, {true, 0, 200}});
    s.u8(write).u8(sel(0));
    n_small(s, 20);
    s.u8(0x10).u8(wview).u8(sel(0));
    n_small(s, 12);
    s.u8(0x20).u8(wview).u8(sel(0));
    n_small(s, 2);
    s.u8(0x30).u8(write).u8(sel(0));
    n_rest(s);
    s.u8(0x40).u8(read).u8(sel(0));
    n_rest(s);
    s.u8(write).u8(sel(0));
    n_small(s, 1);
    s.u8(0x50);
    save(dir, "write_then_read", s);
  }
  {  // injected faults: a range over an unmapped segment, then fail_after, then cleared
    seed s = header({{true, 0, 20}, {false, 0, 20}, {false, 0, 20}, {true, 0, 20}});
    s.u8(fault).u8(0).u16(25).u8(3);
    s.u8(read).u8(sel(0));
    n_small(s, 15);
    s.u8(read).u8(sel(0));
    n_small(s, 30);
    s.u8(write).u8(sel(0));
    n_rest(s);
    s.u8(0x66).u8(write).u8(sel(0));
    n_small(s, 24);
    s.u8(0x67).u8(fault).u8(2).u8(fault).u8(1).u8(1);
    s.u8(read).u8(sel(0));
    n_rest(s);
    s.u8(write).u8(sel(0));
    n_rest(s);
    s.u8(0x68).u8(fault).u8(2).u8(read).u8(sel(0));
    n_rest(s);
    save(dir, "faults", s);
  }
  {  // no segments at all, and default-constructed cursors
    seed s = header({});
    s.u8(read).u8(sel(0));
    n_small(s, 0);
    s.u8(read).u8(sel(0));
    n_small(s, 1);
    s.u8(view).u8(sel(1));
    n_small(s, 0);
    s.u8(skip).u8(sel(2));
    n_small(s, 0);
    s.u8(split).u8(sel(3, 0));
    n_small(s, 0);
    s.u8(write).u8(sel(1));
    n_small(s, 0);
    s.u8(0).u8(wview).u8(sel(2));
    n_over(s);
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

}  // namespace

int main(int argc, char** argv) {
  const fs::path root = argc > 1 ? fs::path{argv[1]} : fs::path{"fuzz/corpus"};
  dev::make(root / "split_device");
  drv::make(root / "split_driver");
  cur::make(root / "chain_cursor");
  return g_ok ? 0 : 1;
}
