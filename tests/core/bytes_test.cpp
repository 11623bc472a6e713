// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/bytes.hpp: byte_reader / byte_writer over one contiguous buffer.
#include "test_support.hpp"
#include "vireo/core/bytes.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "vireo/core/endian.hpp"

namespace {

using vireo_test::err;

using vireo::byte_reader;
using vireo::byte_writer;
using vireo::errc;

struct header {
  vireo::le16 type;
  vireo::le16 flags;
  vireo::le32 len;
};
static_assert(sizeof(header) == 8);
static_assert(vireo::wire_type<header>);
static_assert(!vireo::wire_type<int&>);

template <std::size_t N>
std::array<std::byte, N> iota_bytes(unsigned start = 0) {
  std::array<std::byte, N> a{};
  for (std::size_t i = 0; i < N; ++i) a[i] = std::byte(static_cast<unsigned char>(start + i));
  return a;
}

}  // namespace

TEST_CASE("as_bytes_of: views an object's own storage") {
  header h{};
  auto cb = vireo::as_bytes_of(h);
  auto wb = vireo::as_writable_bytes_of(h);
  CHECK(cb.size() == 8);
  CHECK(wb.size() == 8);
  CHECK(static_cast<const void*>(cb.data()) == static_cast<const void*>(&h));
  CHECK(static_cast<void*>(wb.data()) == static_cast<void*>(&h));
  wb[4] = std::byte{0x78};
  wb[7] = std::byte{0x12};
  CHECK(h.len.get() == 0x12000078u);
}

TEST_CASE("byte_reader: reads front to back and counts") {
  auto buf = iota_bytes<10>(1);
  byte_reader r{buf};
  CHECK(r.remaining() == 10);
  CHECK(r.consumed() == 0);
  std::array<std::byte, 3> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(out == std::array<std::byte, 3>{std::byte{1}, std::byte{2}, std::byte{3}});
  CHECK(r.remaining() == 7);
  CHECK(r.consumed() == 3);
  REQUIRE(r.read(vireo::bytes{}).has_value());  // zero bytes: fine, nothing moves
  CHECK(r.consumed() == 3);
  std::array<std::byte, 7> rest{};
  REQUIRE(r.read(rest).has_value());
  CHECK(rest[0] == std::byte{4});
  CHECK(rest[6] == std::byte{10});
  CHECK(r.remaining() == 0);
  REQUIRE(r.read(vireo::bytes{}).has_value());  // zero bytes at the end: still fine
}

TEST_CASE("byte_reader: read past the end is end_of_data, nothing consumed or copied") {
  auto buf = iota_bytes<5>(0x10);
  byte_reader r{buf};
  REQUIRE(r.skip(2).has_value());
  std::array<std::byte, 4> out{};
  out.fill(std::byte{0xEE});
  auto e = r.read(out);
  REQUIRE_FALSE(e.has_value());
  CHECK(err(e) == errc::end_of_data);
  CHECK(r.consumed() == 2);
  CHECK(r.remaining() == 3);
  for (auto b : out) CHECK(b == std::byte{0xEE});
  // Exactly what is left still works.
  std::array<std::byte, 3> ok{};
  REQUIRE(r.read(ok).has_value());
  CHECK(ok[0] == std::byte{0x12});
  CHECK(ok[2] == std::byte{0x14});
}

TEST_CASE("byte_reader: read_obj decodes a wire struct and is all-or-nothing") {
  const std::array<std::byte, 12> buf{std::byte{0x01}, std::byte{0x02}, std::byte{0x03},
                                      std::byte{0x04}, std::byte{0x05}, std::byte{0x06},
                                      std::byte{0x07}, std::byte{0x08}, std::byte{0xAA},
                                      std::byte{0xBB}, std::byte{0xCC}, std::byte{0xDD}};
  byte_reader r{buf};
  auto h = r.read_obj<header>();
  REQUIRE(h.has_value());
  CHECK(h->type.get() == 0x0201);
  CHECK(h->flags.get() == 0x0403);
  CHECK(h->len.get() == 0x08070605u);
  CHECK(r.consumed() == 8);
  auto h2 = r.read_obj<header>();  // only 4 bytes left
  REQUIRE_FALSE(h2.has_value());
  CHECK(err(h2) == errc::end_of_data);
  CHECK(r.consumed() == 8);
  auto tail = r.read_obj<vireo::be32>();
  REQUIRE(tail.has_value());
  CHECK(tail->get() == 0xAABBCCDDu);
}

TEST_CASE("byte_reader: take returns a view into the buffer itself") {
  auto buf = iota_bytes<8>();
  byte_reader r{buf};
  REQUIRE(r.skip(1).has_value());
  auto t = r.take(4);
  REQUIRE(t.has_value());
  CHECK(t->data() == buf.data() + 1);
  CHECK(t->size() == 4);
  CHECK(r.consumed() == 5);
  auto z = r.take(0);
  REQUIRE(z.has_value());
  CHECK(z->empty());
  CHECK(r.consumed() == 5);
  auto over = r.take(4);
  REQUIRE_FALSE(over.has_value());
  CHECK(err(over) == errc::end_of_data);
  CHECK(r.consumed() == 5);
  auto last = r.take(3);
  REQUIRE(last.has_value());
  CHECK(last->data() == buf.data() + 5);
  CHECK(r.remaining() == 0);
}

TEST_CASE("byte_reader: skip is bounded and all-or-nothing") {
  auto buf = iota_bytes<4>();
  byte_reader r{buf};
  auto e = r.skip(5);
  REQUIRE_FALSE(e.has_value());
  CHECK(err(e) == errc::end_of_data);
  CHECK(r.consumed() == 0);
  REQUIRE(r.skip(4).has_value());
  CHECK(r.remaining() == 0);
  CHECK(err(r.skip(1)) == errc::end_of_data);
  CHECK(r.skip(0).has_value());
}

TEST_CASE("byte_reader: a default reader is empty and refuses everything but zero") {
  byte_reader r;
  CHECK(r.remaining() == 0);
  std::array<std::byte, 1> one{};
  CHECK(err(r.read(one)) == errc::end_of_data);
  CHECK(err(r.read_obj<vireo::le16>()) == errc::end_of_data);
  CHECK(r.take(0).has_value());
}

TEST_CASE("byte_writer: writes front to back and counts") {
  std::array<std::byte, 6> buf{};
  byte_writer w{buf};
  CHECK(w.remaining() == 6);
  const std::array<std::byte, 2> a{std::byte{0xA1}, std::byte{0xA2}};
  REQUIRE(w.write(a).has_value());
  CHECK(w.written() == 2);
  REQUIRE(w.write(vireo::const_bytes{}).has_value());
  CHECK(w.written() == 2);
  REQUIRE(w.write_obj(vireo::le32::from(0x04030201u)).has_value());
  CHECK(w.written() == 6);
  CHECK(w.remaining() == 0);
  CHECK(buf == std::array<std::byte, 6>{std::byte{0xA1}, std::byte{0xA2}, std::byte{0x01},
                                        std::byte{0x02}, std::byte{0x03}, std::byte{0x04}});
}

TEST_CASE("byte_writer: write past the end is no_space, nothing written") {
  // The buffer is larger than the writer's 7-byte window, so that even the refused 8-byte write
  // would stay inside it (keeps GCC's -Warray-bounds quiet about the unreachable memcpy).
  std::array<std::byte, 16> buf{};
  buf.fill(std::byte{0x55});
  byte_writer w{vireo::bytes{buf}.first(7)};
  REQUIRE(w.write_obj(vireo::le32::from(0)).has_value());
  header h{};
  h.len.set(0xFFFFFFFFu);
  auto e = w.write_obj(h);  // 8 bytes into 3
  REQUIRE_FALSE(e.has_value());
  CHECK(err(e) == errc::no_space);
  CHECK(w.written() == 4);
  for (std::size_t i = 4; i < buf.size(); ++i) CHECK(buf[i] == std::byte{0x55});
  const std::array<std::byte, 4> four{};
  CHECK(err(w.write(four)) == errc::no_space);
  const std::array<std::byte, 3> three{std::byte{9}, std::byte{9}, std::byte{9}};
  REQUIRE(w.write(three).has_value());
  CHECK(buf[6] == std::byte{9});
  CHECK(buf[7] == std::byte{0x55});  // the writer's window ended at 7
}
