// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/chain/cursor.hpp: reader and writer cursors over hand-built segment lists.
#include "test_support.hpp"
#include "vireo/chain/cursor.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "vireo/core/endian.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"

namespace {

using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::faulty_memory;
using vireo::flat_memory;
using vireo::gpa;
using vireo::chain::segment;

using vireo_test::err;

constexpr std::uint64_t base = 0x10000;

// A 16-byte wire struct, the size of a split descriptor.
struct wire16 {
  vireo::le64 addr;
  vireo::le32 len;
  vireo::le16 flags;
  vireo::le16 next;
};
static_assert(sizeof(wire16) == 16 && alignof(wire16) == 1);

struct guest {
  alignas(16) std::array<std::byte, 0x400> ram{};
  flat_memory mem{ram, gpa{base}};
  guest() {
    for (std::size_t i = 0; i < ram.size(); ++i)
      ram[i] = std::byte(static_cast<unsigned char>((i * 7 + 3) & 0xFF));
  }
  // A segment with a zero-copy host view.
  segment mapped(std::uint64_t off, std::uint32_t len) {
    return segment{ram.data() + off, gpa{base + off}, len};
  }
  // A segment without one: the cursor must copy through the memory model.
  static segment unmapped(std::uint64_t off, std::uint32_t len) {
    return segment{nullptr, gpa{base + off}, len};
  }
  // The stream the segments describe, from the guest's current bytes.
  std::vector<std::byte> stream(std::span<const segment> segs) const {
    std::vector<std::byte> out;
    for (const segment& s : segs)
      for (std::uint32_t i = 0; i < s.len; ++i) out.push_back(ram[s.addr.raw() - base + i]);
    return out;
  }
  std::byte at(std::uint64_t off) const { return ram[off]; }
};

std::size_t total_of(std::span<const segment> segs) {
  std::size_t t = 0;
  for (const segment& s : segs) t += s.len;
  return t;
}

template <std::size_t N>
std::array<std::byte, N> filled(unsigned char v) {
  std::array<std::byte, N> a{};
  a.fill(std::byte{v});
  return a;
}

std::vector<std::byte> as_vec(const_bytes b) { return {b.begin(), b.end()}; }

using reader_t = vireo::chain::reader<flat_memory>;
using writer_t = vireo::chain::writer<flat_memory>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// reader

TEST_CASE("chain::reader: one read straddling three segments (mapped, copied, mapped)") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8)};
  reader_t r{g.mem, segs, total_of(segs)};
  CHECK(r.remaining() == 16);
  CHECK(r.consumed() == 0);
  std::array<std::byte, 16> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(as_vec(out) == g.stream(segs));
  CHECK(out[0] == g.at(0x000));
  CHECK(out[5] == g.at(0x100));
  CHECK(out[7] == g.at(0x102));
  CHECK(out[8] == g.at(0x200));
  CHECK(out[15] == g.at(0x207));
  CHECK(r.remaining() == 0);
  CHECK(r.consumed() == 16);
}

TEST_CASE("chain::reader: piecewise reads cross segment boundaries at every split point") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8),
                          guest::unmapped(0x300, 4)};
  const auto want = g.stream(segs);
  // For every first-read size k, read k then the rest; the two must join to the whole stream.
  for (std::size_t k = 0; k <= want.size(); ++k) {
    CAPTURE(k);
    reader_t r{g.mem, segs, want.size()};
    std::vector<std::byte> a(k), b(want.size() - k);
    REQUIRE(r.read(a).has_value());
    CHECK(r.consumed() == k);
    REQUIRE(r.read(b).has_value());
    a.insert(a.end(), b.begin(), b.end());
    CHECK(a == want);
    CHECK(r.remaining() == 0);
  }
  // One byte at a time.
  reader_t r{g.mem, segs, want.size()};
  std::vector<std::byte> got;
  for (std::size_t i = 0; i < want.size(); ++i) {
    std::array<std::byte, 1> one{};
    REQUIRE(r.read(one).has_value());
    got.push_back(one[0]);
  }
  CHECK(got == want);
}

TEST_CASE("chain::reader: read_obj of a 16-byte wire struct straddling segments") {
  guest g;
  // Lay the struct's bytes out across three segments: 3 + 7 + 6.
  wire16 w{};
  w.addr.set(0x1122334455667788ull);
  w.len.set(0x99AABBCCu);
  w.flags.set(0x0003);
  w.next.set(0xDDEE);
  const auto* wb = reinterpret_cast<const std::byte*>(&w);
  std::memcpy(g.ram.data() + 0x010, wb, 3);
  std::memcpy(g.ram.data() + 0x150, wb + 3, 7);
  std::memcpy(g.ram.data() + 0x2F0, wb + 10, 6);
  const segment segs[] = {g.mapped(0x010, 3), guest::unmapped(0x150, 7), g.mapped(0x2F0, 6),
                          g.mapped(0x380, 2)};
  reader_t r{g.mem, segs, total_of(segs)};
  auto got = r.read_obj<wire16>();
  REQUIRE(got.has_value());
  CHECK(got->addr.get() == 0x1122334455667788ull);
  CHECK(got->len.get() == 0x99AABBCCu);
  CHECK(got->flags.get() == 0x0003);
  CHECK(got->next.get() == 0xDDEE);
  CHECK(r.consumed() == 16);
  // Two bytes left: another struct does not fit, a le16 does.
  CHECK(err(r.read_obj<wire16>()) == errc::end_of_data);
  CHECK(r.consumed() == 16);
  auto tail = r.read_obj<vireo::le16>();
  REQUIRE(tail.has_value());
  CHECK(tail->bytes[0] == static_cast<unsigned char>(g.at(0x380)));
  CHECK(tail->bytes[1] == static_cast<unsigned char>(g.at(0x381)));
}

TEST_CASE("chain::reader: view is zero-copy inside a mapped segment") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), g.mapped(0x100, 8)};
  reader_t r{g.mem, segs, 13};
  auto v = r.view(3);
  REQUIRE(v.has_value());
  CHECK(v->data() == g.ram.data());
  CHECK(v->size() == 3);
  CHECK(r.consumed() == 3);
  auto v2 = r.view(2);  // the rest of the first segment exactly
  REQUIRE(v2.has_value());
  CHECK(v2->data() == g.ram.data() + 3);
  auto v3 = r.view(8);  // the whole second segment
  REQUIRE(v3.has_value());
  CHECK(v3->data() == g.ram.data() + 0x100);
  CHECK(v3->size() == 8);
  CHECK(r.remaining() == 0);
  auto z = r.view(0);
  REQUIRE(z.has_value());
  CHECK(z->empty());
}

TEST_CASE("chain::reader: view across segments is not_contiguous, cursor unchanged") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), g.mapped(0x005, 8)};  // adjacent in memory, too
  reader_t r{g.mem, segs, 13};
  REQUIRE(r.skip(3).has_value());
  CHECK(err(r.view(3)) == errc::not_contiguous);
  CHECK(r.consumed() == 3);
  CHECK(r.remaining() == 10);
  CHECK(err(r.view(11)) == errc::end_of_data);
  CHECK(r.consumed() == 3);
  // The same bytes can still be read (copied).
  std::array<std::byte, 3> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(out[0] == g.at(3));
  CHECK(out[2] == g.at(5));
  // A view that starts exactly at the next segment works.
  guest h;
  const segment hs[] = {h.mapped(0x000, 4), h.mapped(0x100, 4)};
  reader_t q{h.mem, hs, 8};
  REQUIRE(q.skip(4).has_value());
  auto v = q.view(4);
  REQUIRE(v.has_value());
  CHECK(v->data() == h.ram.data() + 0x100);
}

TEST_CASE("chain::reader: view of a segment without a host view is not_contiguous") {
  guest g;
  const segment segs[] = {guest::unmapped(0x040, 8)};
  reader_t r{g.mem, segs, 8};
  CHECK(err(r.view(1)) == errc::not_contiguous);
  CHECK(r.consumed() == 0);
  std::array<std::byte, 8> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(out[0] == g.at(0x40));
}

TEST_CASE("chain::reader: skip moves across segments and is bounded") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8)};
  reader_t r{g.mem, segs, 16};
  REQUIRE(r.skip(6).has_value());  // into the middle of the second segment
  CHECK(r.consumed() == 6);
  std::array<std::byte, 4> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(out[0] == g.at(0x101));
  CHECK(out[1] == g.at(0x102));
  CHECK(out[2] == g.at(0x200));
  CHECK(out[3] == g.at(0x201));
  CHECK(err(r.skip(7)) == errc::end_of_data);  // 6 left
  CHECK(r.consumed() == 10);
  REQUIRE(r.skip(0).has_value());
  REQUIRE(r.skip(6).has_value());
  CHECK(r.remaining() == 0);
  CHECK(err(r.skip(1)) == errc::end_of_data);
}

TEST_CASE("chain::reader: split gives a sub-reader of exactly n bytes; the parent moves past") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8)};
  const auto want = g.stream(segs);
  reader_t r{g.mem, segs, 16};
  REQUIRE(r.skip(2).has_value());
  auto sub = r.split(7);  // bytes [2, 9): straddles all three segments
  REQUIRE(sub.has_value());
  CHECK(sub->remaining() == 7);
  CHECK(sub->consumed() == 0);
  CHECK(r.consumed() == 9);
  CHECK(r.remaining() == 7);
  std::array<std::byte, 7> part{};
  REQUIRE(sub->read(part).has_value());
  CHECK(as_vec(part) == std::vector<std::byte>(want.begin() + 2, want.begin() + 9));
  std::array<std::byte, 1> one{};
  CHECK(err(sub->read(one)) == errc::end_of_data);  // the sub-reader ends at n
  std::array<std::byte, 7> rest{};
  REQUIRE(r.read(rest).has_value());
  CHECK(as_vec(rest) == std::vector<std::byte>(want.begin() + 9, want.end()));
  // Splitting more than is left: end_of_data, nothing moves.
  reader_t r2{g.mem, segs, 16};
  REQUIRE(r2.skip(10).has_value());
  CHECK(err(r2.split(7)) == errc::end_of_data);
  CHECK(r2.consumed() == 10);
  auto all = r2.split(6);
  REQUIRE(all.has_value());
  CHECK(r2.remaining() == 0);
  auto none = r2.split(0);
  REQUIRE(none.has_value());
  CHECK(none->remaining() == 0);
}

TEST_CASE("chain::reader: reading past the end is end_of_data, all-or-nothing") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3)};
  reader_t r{g.mem, segs, 8};
  auto out = filled<9>(0xEE);
  CHECK(err(r.read(out)) == errc::end_of_data);
  CHECK(out == filled<9>(0xEE));  // bounds are checked before anything is copied
  CHECK(r.consumed() == 0);
  CHECK(r.remaining() == 8);
  std::array<std::byte, 8> ok{};
  REQUIRE(r.read(ok).has_value());
  CHECK(err(r.read_obj<vireo::le16>()) == errc::end_of_data);
  REQUIRE(r.read(bytes{}).has_value());
}

TEST_CASE("chain::reader: a total smaller than the segments caps the stream") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), g.mapped(0x100, 8)};
  reader_t r{g.mem, segs, 7};
  std::array<std::byte, 8> out{};
  CHECK(err(r.read(out)) == errc::end_of_data);
  std::array<std::byte, 7> seven{};
  REQUIRE(r.read(seven).has_value());
  CHECK(seven[6] == g.at(0x101));
}

TEST_CASE("chain::reader: a default reader is empty") {
  reader_t r;
  CHECK(r.remaining() == 0);
  CHECK(r.consumed() == 0);
  REQUIRE(r.read(bytes{}).has_value());
  std::array<std::byte, 1> one{};
  CHECK(err(r.read(one)) == errc::end_of_data);
  CHECK(err(r.view(1)) == errc::end_of_data);
  CHECK(err(r.skip(1)) == errc::end_of_data);
}

TEST_CASE("chain::reader: a failing copy through the memory model does not advance") {
  guest g;
  faulty_memory<flat_memory> fm{g.mem};
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8)};
  vireo::chain::reader<faulty_memory<flat_memory>> r{fm, segs, 16};
  fm.fail_range(gpa{base + 0x101}, 1);
  std::array<std::byte, 10> out{};
  CHECK(err(r.read(out)) == errc::injected_fault);
  CHECK(r.consumed() == 0);
  CHECK(r.remaining() == 16);
  CHECK(err(r.read_obj<wire16>()) == errc::injected_fault);
  CHECK(r.consumed() == 0);
  CHECK(fm.faults() == 2);
  // Reads that stay inside mapped segments never touch the model.
  const auto before = fm.accesses();
  std::array<std::byte, 5> head{};
  REQUIRE(r.read(head).has_value());
  CHECK(fm.accesses() == before);
  CHECK(r.consumed() == 5);
  // Once the fault is gone the same read succeeds from where the cursor stood.
  fm.clear_faults();
  std::array<std::byte, 11> rest{};
  REQUIRE(r.read(rest).has_value());
  CHECK(fm.accesses() == before + 1);  // one model read for the whole unmapped segment
  const auto want = g.stream(segs);
  CHECK(as_vec(rest) == std::vector<std::byte>(want.begin() + 5, want.end()));
}

TEST_CASE("chain::reader: an unmapped segment outside memory reports the model's error") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 2), segment{nullptr, gpa{base + 0x400}, 4}};
  reader_t r{g.mem, segs, 6};
  std::array<std::byte, 6> out{};
  CHECK(err(r.read(out)) == errc::out_of_bounds);
  CHECK(r.consumed() == 0);
  std::array<std::byte, 2> two{};
  REQUIRE(r.read(two).has_value());
}

// ---------------------------------------------------------------------------------------------
// writer

TEST_CASE("chain::writer: one write straddling three segments lands in guest memory") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3), g.mapped(0x200, 8)};
  writer_t w{g.mem, segs, 16};
  CHECK(w.remaining() == 16);
  CHECK(w.written() == 0);
  std::array<std::byte, 16> in{};
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = std::byte(static_cast<unsigned char>(0xC0 + i));
  const auto before_gap = g.at(0x005);
  REQUIRE(w.write(in).has_value());
  CHECK(w.written() == 16);
  CHECK(w.remaining() == 0);
  CHECK(as_vec(in) == g.stream(segs));
  CHECK(g.at(0x000) == std::byte{0xC0});
  CHECK(g.at(0x100) == std::byte{0xC5});
  CHECK(g.at(0x102) == std::byte{0xC7});
  CHECK(g.at(0x200) == std::byte{0xC8});
  CHECK(g.at(0x207) == std::byte{0xCF});
  CHECK(g.at(0x005) == before_gap);  // nothing written between segments
}

TEST_CASE("chain::writer: write_obj of a 16-byte struct straddling segments") {
  guest g;
  const segment segs[] = {guest::unmapped(0x010, 9), g.mapped(0x300, 7)};
  writer_t w{g.mem, segs, 16};
  wire16 v{};
  v.addr.set(0x0102030405060708ull);
  v.len.set(0x0A0B0C0Du);
  v.flags.set(0x0E0F);
  v.next.set(0x1011);
  REQUIRE(w.write_obj(v).has_value());
  CHECK(w.written() == 16);
  // Read it back through a reader over the same segments.
  reader_t r{g.mem, segs, 16};
  auto back = r.read_obj<wire16>();
  REQUIRE(back.has_value());
  CHECK(back->addr.get() == 0x0102030405060708ull);
  CHECK(back->len.get() == 0x0A0B0C0Du);
  CHECK(back->flags.get() == 0x0E0F);
  CHECK(back->next.get() == 0x1011);
  CHECK(g.at(0x010) == std::byte{0x08});
  CHECK(g.at(0x018) == std::byte{0x0D});  // byte 8 is len's low byte, last of segment 1
  CHECK(g.at(0x300) == std::byte{0x0C});
}

TEST_CASE("chain::writer: written() counts writes, views and skips") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 4), guest::unmapped(0x100, 4), g.mapped(0x200, 8)};
  writer_t w{g.mem, segs, 16};
  const auto skipped_byte = g.at(0x002);
  const std::array<std::byte, 2> two{std::byte{0xA1}, std::byte{0xA2}};
  REQUIRE(w.write(two).has_value());
  CHECK(w.written() == 2);
  REQUIRE(w.skip(3).has_value());  // [2, 5): across a boundary
  CHECK(w.written() == 5);
  CHECK(g.at(0x002) == skipped_byte);
  REQUIRE(w.write(two).has_value());  // [5, 7) in the unmapped segment
  CHECK(g.at(0x101) == std::byte{0xA1});
  CHECK(g.at(0x102) == std::byte{0xA2});
  REQUIRE(w.skip(1).has_value());
  auto v = w.view(8);  // the whole mapped third segment
  REQUIRE(v.has_value());
  CHECK(v->data() == g.ram.data() + 0x200);
  (*v)[7] = std::byte{0x77};
  CHECK(g.at(0x207) == std::byte{0x77});
  CHECK(w.written() == 16);
  CHECK(w.remaining() == 0);
}

TEST_CASE("chain::writer: writing past the end is no_space, nothing written") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 5), guest::unmapped(0x100, 3)};
  const auto before = g.stream(segs);
  writer_t w{g.mem, segs, 8};
  const auto in = filled<9>(0x99);
  CHECK(err(w.write(in)) == errc::no_space);
  CHECK(w.written() == 0);
  CHECK(g.stream(segs) == before);
  REQUIRE(w.skip(6).has_value());
  CHECK(err(w.write_obj(vireo::le32::from(0xFFFFFFFFu))) == errc::no_space);
  CHECK(err(w.skip(3)) == errc::no_space);
  CHECK(err(w.view(3)) == errc::no_space);
  CHECK(err(w.split(3)) == errc::no_space);
  CHECK(w.written() == 6);
  CHECK(g.stream(segs) == before);
  REQUIRE(w.write_obj(vireo::le16::from(0x1234)).has_value());
  CHECK(g.at(0x101) == std::byte{0x34});
  CHECK(g.at(0x102) == std::byte{0x12});
}

TEST_CASE("chain::writer: view across segments is not_contiguous, cursor unchanged") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 4), g.mapped(0x100, 4), guest::unmapped(0x200, 4)};
  writer_t w{g.mem, segs, 12};
  REQUIRE(w.skip(2).has_value());
  CHECK(err(w.view(3)) == errc::not_contiguous);
  CHECK(w.written() == 2);
  REQUIRE(w.skip(2).has_value());
  auto v = w.view(4);
  REQUIRE(v.has_value());
  CHECK(v->data() == g.ram.data() + 0x100);
  CHECK(err(w.view(1)) == errc::not_contiguous);  // the next segment has no host view
  CHECK(w.written() == 8);
}

TEST_CASE("chain::writer: split reserves a header to fill in last") {
  guest g;
  const segment segs[] = {g.mapped(0x000, 3), guest::unmapped(0x100, 3), g.mapped(0x200, 6)};
  writer_t w{g.mem, segs, 12};
  auto hdr = w.split(4);  // straddles the first two segments
  REQUIRE(hdr.has_value());
  CHECK(hdr->remaining() == 4);
  CHECK(hdr->written() == 0);
  CHECK(w.written() == 4);  // the reserved bytes count for the parent
  const auto payload = filled<8>(0x55);
  REQUIRE(w.write(payload).has_value());
  CHECK(w.written() == 12);
  REQUIRE(hdr->write_obj(vireo::le32::from(0xA1B2C3D4u)).has_value());
  CHECK(hdr->written() == 4);
  CHECK(err(hdr->write(filled<1>(0))) == errc::no_space);  // the header ends at 4
  CHECK(g.at(0x000) == std::byte{0xD4});
  CHECK(g.at(0x002) == std::byte{0xB2});
  CHECK(g.at(0x100) == std::byte{0xA1});
  CHECK(g.at(0x101) == std::byte{0x55});
  CHECK(g.at(0x205) == std::byte{0x55});
}

TEST_CASE("chain::writer: a failing copy through the memory model does not advance") {
  guest g;
  faulty_memory<flat_memory> fm{g.mem};
  const segment segs[] = {g.mapped(0x000, 4), guest::unmapped(0x100, 4), g.mapped(0x200, 8)};
  vireo::chain::writer<faulty_memory<flat_memory>> w{fm, segs, 16};
  fm.fail_after(0);
  const auto in = filled<6>(0x66);
  CHECK(err(w.write(in)) == errc::injected_fault);
  CHECK(w.written() == 0);
  CHECK(w.remaining() == 16);
  CHECK(g.at(0x100) != std::byte{0x66});  // the unmapped part was not written
  // Mapped-only writes do not go through the model, so they still work.
  REQUIRE(w.write(filled<4>(0x44)).has_value());
  CHECK(w.written() == 4);
  CHECK(err(w.write(filled<1>(0x11))) == errc::injected_fault);
  CHECK(w.written() == 4);
  fm.clear_faults();
  REQUIRE(w.write(filled<12>(0x22)).has_value());
  CHECK(w.written() == 16);
  CHECK(g.at(0x103) == std::byte{0x22});
  CHECK(g.at(0x207) == std::byte{0x22});
}
