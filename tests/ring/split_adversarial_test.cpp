// SPDX-License-Identifier: Apache-2.0
// Hostile peers on a split virtqueue. A hostile driver writes raw rings (mock_split_driver's
// write_desc / write_desc_at / publish_raw / set_avail_idx) and the device must answer with the
// exact errc, then keep serving good chains where the spec lets it (chain errors are per chain;
// avail_idx_jump and head_out_of_range break the queue until reset + configure). A hostile device
// writes the used ring and the driver must refuse it (each such error breaks the driver queue).
#include "split_test_support.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <set>

#if defined(__linux__)
#include <sys/mman.h>
#endif

using namespace vireo_ring_test;

namespace {

constexpr std::uint16_t good_index = 7;  // descriptor the follow-up good chain uses (size 8)

/// Pop must fail with `want` as a per-chain error: the head is consumed, rejected() names it, the
/// queue is not broken, completing the token with length 0 works, and a good chain still flows.
template <typename Device>
void expect_chain_error(Device& d, mock& m, errc want, std::uint16_t head, std::uint32_t seed = 1) {
  const used_token t = expect_pop_rejects(d, want, head);
  const std::uint16_t before = m.used_idx();
  REQUIRE(d.push_used(t, 0).has_value());
  CHECK(m.used_idx() == static_cast<std::uint16_t>(before + 1));
  CHECK(m.used_elem(before) == std::pair<std::uint32_t, std::uint32_t>{head, 0});
  CHECK(err(d.push_used(t, 1)) == errc::used_len_too_large);  // nothing was writable
  (void)expect_served(d, good_index, publish_good_raw(m, good_index, seed));
}

/// Pop must fail with `want` and break the queue: every later call reports queue_broken, until
/// the driver re-initialises the rings and the device is reset and configured again.
void expect_queue_broken(device& d, mock& m, errc want) {
  expect_pop_breaks_queue(d, want);
  // Recovery: queue reset on both sides.
  REQUIRE(m.driver().configure(m.config(), m.pool()).has_value());
  d.reset();
  CHECK(!d.broken());
  configure(d, m);
  const auto good = publish_good_raw(m, good_index, 99);
  expect_good_chain(d, good_index, good);
}

struct fixture {
  explicit fixture(bool indirect = true, std::uint16_t size = 8)
      : m(opts(size, features(indirect, false, false))), d(m.memory()) {
    configure(d, m);
  }
  mock m;
  device d;
};

}  // namespace

// ---- malformed chains: per-chain errors -------------------------------------------------------

TEST_CASE("S24 device: descriptor loop -> chain_too_long; the queue keeps serving") {
  fixture f;
  const gpa buf = f.m.alloc(16);
  // 0 -> 1 -> 2 -> 0 ...
  f.m.write_desc(0, buf.raw(), 16, desc_flag::next, 1);
  f.m.write_desc(1, buf.raw(), 16, desc_flag::next, 2);
  f.m.write_desc(2, buf.raw(), 16, desc_flag::next, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::chain_too_long, 0);
  // A descriptor that names itself.
  f.m.write_desc(3, buf.raw(), 0, desc_flag::next, 3);
  f.m.publish_raw(3);
  expect_chain_error(f.d, f.m, errc::chain_too_long, 3, 2);
}

TEST_CASE("S24 device: next index >= queue size -> desc_index_out_of_range") {
  fixture f;
  const gpa buf = f.m.alloc(16);
  for (const std::uint16_t bad_next : {std::uint16_t{8}, std::uint16_t{9}, std::uint16_t{0xffff}}) {
    CAPTURE(bad_next);
    f.m.write_desc(0, buf.raw(), 16, desc_flag::next, 1);
    f.m.write_desc(1, buf.raw(), 16, desc_flag::next, bad_next);
    f.m.publish_raw(0);
    expect_chain_error(f.d, f.m, errc::desc_index_out_of_range, 0);
  }
  // Without NEXT, `next` is not looked at.
  f.m.write_desc(2, buf.raw(), 16, 0, 0xffff);
  f.m.publish_raw(2);
  auto c = pop_ok(f.d);
  CHECK(c.readable_len() == 16);
}

TEST_CASE("S24 device: addr + len past 2^64 -> desc_addr_overflow") {
  fixture f;
  struct bad {
    std::uint64_t addr;
    std::uint32_t len;
  };
  for (const bad b : {bad{UINT64_MAX - 10, 100}, bad{UINT64_MAX, 2}, bad{UINT64_MAX - 0xfffffffdu, 0xffffffffu}}) {
    CAPTURE(b.addr);
    f.m.write_desc(0, b.addr, b.len, 0, 0);
    f.m.publish_raw(0);
    expect_chain_error(f.d, f.m, errc::desc_addr_overflow, 0);
    f.m.write_desc(1, b.addr, b.len, desc_flag::write, 0);
    f.m.publish_raw(1);
    expect_chain_error(f.d, f.m, errc::desc_addr_overflow, 1);
  }
  // The last byte exactly at 2^64 - 1 does not overflow: it is just not guest memory.
  f.m.write_desc(0, UINT64_MAX - 99, 100, 0, 0);
  f.m.publish_raw(0);
  auto r = f.d.pop();
  CHECK((err(r) == errc::out_of_bounds || err(r) == errc::address_overflow));
  REQUIRE(f.d.rejected().has_value());
  REQUIRE(f.d.push_used(*f.d.rejected(), 0).has_value());
  // An indirect table whose range wraps is refused the same way.
  f.m.write_desc(2, UINT64_MAX - 15, 32, desc_flag::indirect, 0);
  f.m.publish_raw(2);
  expect_chain_error(f.d, f.m, errc::desc_addr_overflow, 2);
}

TEST_CASE("S24 device: a buffer outside guest memory -> out_of_bounds") {
  fixture f;
  const std::uint64_t base = f.m.memory().base().raw();
  const std::uint64_t end = base + f.m.memory().size();
  struct bad {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
  };
  for (const bad b : {bad{0, 16, 0}, bad{base - 8, 16, 0}, bad{end, 1, 0}, bad{end - 8, 16, desc_flag::write},
                      bad{base, static_cast<std::uint32_t>(f.m.memory().size() + 1), 0}}) {
    CAPTURE(b.addr);
    f.m.write_desc(0, b.addr, b.len, b.flags, 0);
    f.m.publish_raw(0);
    expect_chain_error(f.d, f.m, errc::out_of_bounds, 0);
  }
  // The indirect table itself outside memory.
  f.m.write_desc(1, end, 32, desc_flag::indirect, 0);
  f.m.publish_raw(1);
  expect_chain_error(f.d, f.m, errc::out_of_bounds, 1);
}

TEST_CASE("S24 device: INDIRECT inside an indirect table -> indirect_in_indirect") {
  fixture f;
  const gpa buf = f.m.alloc(16);
  const gpa inner = f.m.alloc(16, 16), table = f.m.alloc(32, 16);
  f.m.write_desc_at(inner, buf.raw(), 16, 0, 0);
  f.m.write_desc_at(table, buf.raw(), 16, desc_flag::next, 1);
  f.m.write_desc_at(table.offset(16), inner.raw(), 16, desc_flag::indirect, 0);
  f.m.write_desc(0, table.raw(), 32, desc_flag::indirect, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::indirect_in_indirect, 0);
}

TEST_CASE("S24 device: INDIRECT together with NEXT -> indirect_with_next") {
  fixture f;
  const gpa buf = f.m.alloc(16), table = f.m.alloc(16, 16);
  f.m.write_desc_at(table, buf.raw(), 16, 0, 0);
  f.m.write_desc(0, table.raw(), 16, desc_flag::indirect | desc_flag::next, 1);
  f.m.write_desc(1, buf.raw(), 16, 0, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::indirect_with_next, 0);
  // Also when the INDIRECT descriptor is not the head.
  f.m.write_desc(2, buf.raw(), 16, desc_flag::next, 3);
  f.m.write_desc(3, table.raw(), 16, desc_flag::indirect | desc_flag::next, 1);
  f.m.publish_raw(2);
  expect_chain_error(f.d, f.m, errc::indirect_with_next, 2);
}

TEST_CASE("S24 device (S8): INDIRECT without VIRTIO_F_INDIRECT_DESC -> indirect_not_negotiated") {
  fixture f{false};
  const gpa buf = f.m.alloc(16), table = f.m.alloc(16, 16);
  f.m.write_desc_at(table, buf.raw(), 16, 0, 0);
  f.m.write_desc(0, table.raw(), 16, desc_flag::indirect, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::indirect_not_negotiated, 0);
  f.m.write_desc(1, buf.raw(), 16, desc_flag::next, 2);
  f.m.write_desc(2, table.raw(), 16, desc_flag::indirect, 0);
  f.m.publish_raw(1);
  expect_chain_error(f.d, f.m, errc::indirect_not_negotiated, 1);
}

TEST_CASE("S24 device: indirect table length 0 or not a multiple of 16 -> indirect_table_size") {
  fixture f;
  const gpa buf = f.m.alloc(16), table = f.m.alloc(64, 16);
  f.m.write_desc_at(table, buf.raw(), 16, 0, 0);
  for (const std::uint32_t len : {0u, 1u, 8u, 15u, 17u, 24u, 40u}) {
    CAPTURE(len);
    f.m.write_desc(0, table.raw(), len, desc_flag::indirect, 0);
    f.m.publish_raw(0);
    expect_chain_error(f.d, f.m, errc::indirect_table_size, 0);
  }
  f.m.write_desc(0, table.raw(), 16, desc_flag::indirect, 0);
  f.m.publish_raw(0);
  CHECK(pop_ok(f.d).readable_len() == 16);
}

TEST_CASE("S24 device: loop or bad next inside an indirect table -> chain_too_long / desc_index_out_of_range") {
  fixture f;
  const gpa buf = f.m.alloc(16), table = f.m.alloc(48, 16);
  f.m.write_desc_at(table, buf.raw(), 16, desc_flag::next, 1);
  f.m.write_desc_at(table.offset(16), buf.raw(), 16, desc_flag::next, 2);
  f.m.write_desc_at(table.offset(32), buf.raw(), 16, desc_flag::next, 0);
  f.m.write_desc(0, table.raw(), 48, desc_flag::indirect, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::chain_too_long, 0);
  // next indexes the table (3 entries), not the queue (8 entries).
  f.m.write_desc_at(table.offset(32), buf.raw(), 16, desc_flag::next, 3);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::desc_index_out_of_range, 0);
}

TEST_CASE("S24 device (S10): the walk is bounded by the queue size; indirect tables by their length") {
  fixture f{true, 4};
  const gpa buf = f.m.alloc(16);
  // A direct chain through all 4 descriptors is the longest legal one.
  for (std::uint16_t i = 0; i < 4; ++i)
    f.m.write_desc(i, buf.raw(), 4, i < 3 ? desc_flag::next : 0, static_cast<std::uint16_t>(i + 1));
  f.m.publish_raw(0);
  CHECK(pop_ok(f.d).readable_len() == 16);
  // One hop more can only be a loop: refused.
  f.m.write_desc(3, buf.raw(), 4, desc_flag::next, 1);
  f.m.publish_raw(0);
  auto r = f.d.pop();
  CHECK(err(r) == errc::chain_too_long);
  REQUIRE(f.d.push_used(*f.d.rejected(), 0).has_value());
  // Indirect tables are bounded by their own length, not the queue size (Linux builds tables
  // longer than the queue; the digest §5.5 asks devices to accept them): 3 direct + a table of
  // 16 entries on a queue of 4.
  const gpa table = f.m.alloc(16 * 16, 16);
  for (std::uint16_t i = 0; i < 16; ++i)
    f.m.write_desc_at(table.offset(16u * i), buf.raw(), 1, i < 15 ? desc_flag::next : 0,
                      static_cast<std::uint16_t>(i + 1));
  f.m.write_desc(0, buf.raw(), 4, desc_flag::next, 1);
  f.m.write_desc(1, buf.raw(), 4, desc_flag::next, 2);
  f.m.write_desc(2, table.raw(), 16 * 16, desc_flag::indirect, 0);
  f.m.publish_raw(0);
  auto c = pop_ok(f.d);
  CHECK(c.readable_len() == 8 + 16);
  CHECK(c.readable().size() == 18);
  REQUIRE(f.d.push_used(c, 0).has_value());
  // ... but a loop inside that table is still caught.
  f.m.write_desc_at(table.offset(16u * 15), buf.raw(), 1, desc_flag::next, 0);
  f.m.publish_raw(0);
  CHECK(err(f.d.pop()) == errc::chain_too_long);
}

TEST_CASE("S24 device (S4): a readable descriptor after a writable one -> writable_before_readable") {
  fixture f;
  const gpa buf = f.m.alloc(16);
  f.m.write_desc(0, buf.raw(), 16, desc_flag::write | desc_flag::next, 1);
  f.m.write_desc(1, buf.raw(), 16, 0, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::writable_before_readable, 0);
  // Inside an indirect table.
  const gpa table = f.m.alloc(32, 16);
  f.m.write_desc_at(table, buf.raw(), 16, desc_flag::write | desc_flag::next, 1);
  f.m.write_desc_at(table.offset(16), buf.raw(), 16, 0, 0);
  f.m.write_desc(2, table.raw(), 32, desc_flag::indirect, 0);
  f.m.publish_raw(2);
  expect_chain_error(f.d, f.m, errc::writable_before_readable, 2);
  // Across the boundary: a writable direct descriptor, then a table that starts readable.
  f.m.write_desc_at(table, buf.raw(), 16, 0, 0);
  f.m.write_desc(3, buf.raw(), 16, desc_flag::write | desc_flag::next, 4);
  f.m.write_desc(4, table.raw(), 16, desc_flag::indirect, 0);
  f.m.publish_raw(3);
  expect_chain_error(f.d, f.m, errc::writable_before_readable, 3);
  // A zero-length readable descriptor after a writable one is still out of order.
  f.m.write_desc(5, buf.raw(), 16, desc_flag::write | desc_flag::next, 6);
  f.m.write_desc(6, buf.raw(), 0, 0, 0);
  f.m.publish_raw(5);
  expect_chain_error(f.d, f.m, errc::writable_before_readable, 5);
}

TEST_CASE("S24 device (S6): a chain totalling 2^32 bytes -> total_len_overflow, checked before mapping") {
  fixture f;
  const gpa buf = f.m.alloc(4096);
  const std::uint64_t outside = f.m.memory().base().raw() + f.m.memory().size() + 0x100000;
  // 4096 mapped bytes plus 2^32 - 4096 bytes at an address that is not guest memory: the length
  // check fires first, so the error is total_len_overflow, not out_of_bounds.
  f.m.write_desc(0, buf.raw(), 4096, desc_flag::next, 1);
  f.m.write_desc(1, outside, 0xfffff000u, desc_flag::write, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::total_len_overflow, 0);
  // One byte less is a length the walker accepts (then the address is judged).
  f.m.write_desc(1, outside, 0xffffefffu, desc_flag::write, 0);
  f.m.publish_raw(0);
  expect_chain_error(f.d, f.m, errc::out_of_bounds, 0);
  // Across an indirect table.
  const gpa table = f.m.alloc(32, 16);
  f.m.write_desc_at(table, outside, 0xfffff000u, desc_flag::write, 0);
  f.m.write_desc(2, buf.raw(), 4096, desc_flag::next, 3);
  f.m.write_desc(3, table.raw(), 16, desc_flag::indirect, 0);
  f.m.publish_raw(2);
  expect_chain_error(f.d, f.m, errc::total_len_overflow, 2);
}

#if defined(__linux__)
TEST_CASE("S24 device (S6): two mapped descriptors of 0x80000000 bytes each -> total_len_overflow") {
  // 2 GiB + 64 KiB of address space, reserved but never touched beyond the first pages.
  const std::size_t n = (std::size_t{1} << 31) + 0x10000;
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    MESSAGE("cannot reserve 2 GiB of address space here; the 4096 + 0xfffff000 variant covers it");
    return;
  }
  auto* host = static_cast<std::byte*>(p);
  constexpr std::uint64_t base = 0x100000;
  flat_memory mem{bytes{host, n}, gpa{base}};
  // Size-4 queue: desc at +0, avail at +0x100, used at +0x200, data from +0x1000.
  auto put_desc = [&](std::size_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
                      std::uint16_t next) {
    vireo::ring::split_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.flags.set(flags);
    d.next.set(next);
    std::memcpy(host + 16 * i, &d, sizeof d);
  };
  put_desc(0, base + 0x1000, 0x80000000u, desc_flag::next, 1);
  put_desc(1, base + 0x1000, 0x80000000u, desc_flag::write, 0);
  put_desc(2, base + 0x1000, 0x80000000u, 0, 0);  // one alone is fine
  host[0x100 + 4] = std::byte{0};                   // avail.ring[0] = 0
  host[0x100 + 6] = std::byte{2};                   // avail.ring[1] = 2
  host[0x100 + 2] = std::byte{2};                   // avail.idx = 2
  device d{mem};
  REQUIRE(d.configure(queue_config{4, gpa{base}, gpa{base + 0x100}, gpa{base + 0x200}, {}}).has_value());
  CHECK(err(d.pop()) == errc::total_len_overflow);
  REQUIRE(d.rejected().has_value());
  CHECK(d.rejected()->id == 0);
  auto c = d.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  CHECK(c->readable_len() == 0x80000000u);
  CHECK(c->readable()[0].host == host + 0x1000);  // zero-copy view, nothing copied
  ::munmap(p, n);
}
#endif

TEST_CASE("S24 device: more non-empty descriptors than MaxSegments -> segment_limit") {
  mock m{opts(8, features(true, false, false))};
  vireo::ring::split_device<flat_memory, 4> d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  const gpa buf = m.alloc(16);
  for (std::uint16_t i = 0; i < 5; ++i)
    m.write_desc(i, buf.raw(), 16, i < 4 ? desc_flag::next : 0, static_cast<std::uint16_t>(i + 1));
  m.publish_raw(0);
  expect_chain_error(d, m, errc::segment_limit, 0);
  // Zero-length descriptors take no segment: 4 non-empty + 2 empty fit.
  m.write_desc(0, buf.raw(), 16, desc_flag::next, 1);
  m.write_desc(1, buf.raw(), 0, desc_flag::next, 2);
  m.write_desc(2, buf.raw(), 16, desc_flag::next, 3);
  m.write_desc(3, buf.raw(), 16, desc_flag::next, 4);
  m.write_desc(4, buf.raw(), 0, desc_flag::next, 5);
  m.write_desc(5, buf.raw(), 16, 0, 0);
  m.publish_raw(0);
  {
    auto c = d.pop();
    REQUIRE(c.has_value());
    REQUIRE(!c->empty());
    CHECK(c->readable().size() == 4);
    CHECK(c->readable_len() == 64);
    REQUIRE(d.push_used(*c, 0).has_value());
  }
  // A loop longer than MaxSegments still reports the loop, not the segment limit.
  for (std::uint16_t i = 0; i < 6; ++i)
    m.write_desc(i, buf.raw(), 16, desc_flag::next, static_cast<std::uint16_t>((i + 1) % 6));
  m.publish_raw(0);
  CHECK(err(d.pop()) == errc::chain_too_long);
  REQUIRE(d.push_used(*d.rejected(), 0).has_value());
  // segment_limit through an indirect table too.
  const gpa table = m.alloc(16 * 5, 16);
  for (std::uint16_t i = 0; i < 5; ++i)
    m.write_desc_at(table.offset(16u * i), buf.raw(), 16, i < 4 ? desc_flag::next : 0,
                    static_cast<std::uint16_t>(i + 1));
  m.write_desc(0, table.raw(), 16 * 5, desc_flag::indirect, 0);
  m.publish_raw(0);
  expect_chain_error(d, m, errc::segment_limit, 0, 5);
}

TEST_CASE("S24 device: memory faults while walking are per-chain errors") {
  mock m{opts(8, features(true, false, false))};
  vireo::faulty_memory<flat_memory> fm{m.memory()};
  vireo::ring::split_device<vireo::faulty_memory<flat_memory>> d{fm};
  REQUIRE(d.configure(m.config()).has_value());
  const placed data = put_pattern(m, 32, 5);
  // A data buffer the memory model refuses.
  fm.fail_range(data.addr, 32);
  m.write_desc(0, data.addr.raw(), 32, 0, 0);
  m.publish_raw(0);
  expect_chain_error(d, m, errc::injected_fault, 0);
  // An indirect table the memory model refuses (both map and read fail).
  const gpa table = m.alloc(16, 16);
  m.write_desc_at(table, m.alloc(8).raw(), 8, 0, 0);
  fm.fail_range(table, 16);
  m.write_desc(1, table.raw(), 16, desc_flag::indirect, 0);
  m.publish_raw(1);
  expect_chain_error(d, m, errc::injected_fault, 1);
  // A fault that only appears at copy time is reported by the cursor, which does not move.
  fm.clear_faults();
  fm.deny_map(true);
  m.write_desc(2, data.addr.raw(), 32, 0, 0);
  m.publish_raw(2);
  auto c = d.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  fm.fail_range(data.addr.offset(20), 4);
  auto rd = c->reader();
  std::vector<std::byte> out(32);
  CHECK(err(rd.read(out)) == errc::injected_fault);
  CHECK(rd.remaining() == 32);
  fm.clear_faults();
  fm.deny_map(true);
  REQUIRE(rd.read(out).has_value());
  CHECK(out == data.data);
}

TEST_CASE("S3 device: buffers on the copy path (faulty_memory::deny_map) still deliver every byte") {
  mock m{opts(8, features(true, false, false), 8)};
  vireo::faulty_memory<flat_memory> fm{m.memory()};
  vireo::ring::split_device<vireo::faulty_memory<flat_memory>> d{fm};
  REQUIRE(d.configure(m.config()).has_value());  // ring areas are mapped once, here
  fm.deny_map(true);
  for (const add_mode mode : {add_mode::direct, add_mode::indirect}) {
    const placed a = put_pattern(m, 13, 1), b = put_pattern(m, 29, 2);
    const std::vector<buffer> rd{{a.addr, 13}, {b.addr, 29}};
    const std::vector<buffer> wr{{m.alloc(10), 10}, {m.alloc(22), 22}};
    auto head = m.driver().add(rd, wr, 7, mode);
    REQUIRE(head.has_value());
    auto c = d.pop();
    REQUIRE(c.has_value());
    REQUIRE(!c->empty());
    for (const auto& s : c->readable()) CHECK(s.host == nullptr);
    std::vector<std::byte> want = a.data;
    want.insert(want.end(), b.data.begin(), b.data.end());
    CHECK(read_all(*c) == want);
    auto rdr = c->reader();
    CHECK(err(rdr.view(4)) == errc::not_contiguous);  // no zero-copy view on this path
    const auto reply = pattern(32, 3);
    CHECK(write_all(*c, reply) == 32);
    REQUIRE(d.push_used(*c, 32).has_value());
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->len == 32);
    auto h0 = m.host(wr[0].addr, 10), h1 = m.host(wr[1].addr, 22);
    CHECK(std::equal(h0.begin(), h0.end(), reply.begin()));
    CHECK(std::equal(h1.begin(), h1.end(), reply.begin() + 10));
  }
}

TEST_CASE("S3 device: buffers and indirect tables straddling two memory regions arrive intact") {
  using rt_memory = vireo::region_table<>;
  ram ring_ram(0x4000), ram_a(0x1000), ram_b(0x1000);
  rt_memory rt;
  REQUIRE(rt.add({gpa{0x10000}, 0x4000, ring_ram.view().data(), vireo::access::read_write}).has_value());
  REQUIRE(rt.add({gpa{0x20000}, 0x1000, ram_a.view().data(), vireo::access::read_write}).has_value());
  REQUIRE(rt.add({gpa{0x21000}, 0x1000, ram_b.view().data(), vireo::access::read_write}).has_value());
  const queue_config cfg{8, gpa{0x10000}, gpa{0x11000}, gpa{0x12000}, features(true, false, false)};
  vireo::ring::split_driver<rt_memory, 8> drv{rt};
  REQUIRE(drv.configure(cfg).has_value());
  vireo::ring::split_device<rt_memory> dev{rt};
  REQUIRE(dev.configure(cfg).has_value());

  // Direct: a readable buffer across the a/b boundary, and a writable one across it too.
  const auto payload = pattern(0x200, 8);
  REQUIRE(rt.write(gpa{0x20f00}, payload).has_value());
  const buffer rd{gpa{0x20f00}, 0x200}, wr{gpa{0x20fe0}, 0x40};
  REQUIRE(drv.add(std::span{&rd, 1}, std::span{&wr, 1}, 1).has_value());
  auto c = dev.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  CHECK(c->readable()[0].host == nullptr);
  CHECK(read_all(*c) == payload);
  const auto reply = pattern(0x40, 9);
  CHECK(write_all(*c, reply) == 0x40);
  REQUIRE(dev.push_used(*c, 0x40).has_value());
  std::vector<std::byte> back(0x40);
  REQUIRE(rt.read(gpa{0x20fe0}, back).has_value());
  CHECK(back == reply);
  auto u = drv.reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->len == 0x40);

  // Raw: an indirect table whose two entries lie in different regions (read through copies).
  auto put_desc = [&](gpa at, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next) {
    vireo::ring::split_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.flags.set(flags);
    d.next.set(next);
    REQUIRE(rt.write(at, vireo::as_bytes_of(d)).has_value());
  };
  put_desc(gpa{0x20ff0}, 0x20f00, 0x100, desc_flag::next, 1);  // entry 0 in region a
  put_desc(gpa{0x21000}, 0x21000, 0x100, 0, 0);                // entry 1 in region b
  put_desc(gpa{0x10000 + 16 * 5}, 0x20ff0, 32, desc_flag::indirect, 0);
  REQUIRE(rt.store_u16(gpa{0x11000 + 4 + 2 * 1}, 5, std::memory_order_relaxed).has_value());
  REQUIRE(rt.store_u16(gpa{0x11002}, 2, std::memory_order_release).has_value());
  auto c2 = dev.pop();
  REQUIRE(c2.has_value());
  REQUIRE(!c2->empty());
  CHECK(c2->id() == 5);
  CHECK(c2->readable_len() == 0x200);
  std::vector<std::byte> want(0x200);
  REQUIRE(rt.read(gpa{0x20f00}, std::span{want}.first(0x100)).has_value());
  REQUIRE(rt.read(gpa{0x21000}, std::span{want}.subspan(0x100)).has_value());
  CHECK(read_all(*c2) == want);
}

// ---- ring corruption: the queue breaks --------------------------------------------------------

TEST_CASE("S24 device: avail.idx more than the queue size ahead -> avail_idx_jump, broken until reset") {
  SUBCASE("jump forward") {
    fixture f;
    f.m.set_avail_idx(9);
    expect_queue_broken(f.d, f.m, errc::avail_idx_jump);
  }
  SUBCASE("jump far") {
    fixture f;
    f.m.set_avail_idx(0x8000);
    expect_queue_broken(f.d, f.m, errc::avail_idx_jump);
  }
  SUBCASE("index moved backwards") {
    fixture f;
    for (int k = 0; k < 3; ++k) (void)publish_good_raw(f.m, static_cast<std::uint16_t>(k), k);
    for (int k = 0; k < 3; ++k) REQUIRE(f.d.push_used(pop_ok(f.d), 0).has_value());
    f.m.set_avail_idx(1);  // the device already consumed up to 3
    expect_queue_broken(f.d, f.m, errc::avail_idx_jump);
  }
  SUBCASE("seen by available() and enable_notifications() too") {
    fixture f;
    f.m.set_avail_idx(100);
    CHECK(err(f.d.available()) == errc::avail_idx_jump);
    CHECK(err(f.d.enable_notifications()) == errc::queue_broken);
    CHECK(f.d.broken_reason() == errc::avail_idx_jump);
  }
  SUBCASE("exactly the queue size is legal") {
    fixture f;
    for (std::uint16_t k = 0; k < 8; ++k) (void)publish_good_raw(f.m, k, k);
    CHECK(*f.d.available() == 8);
    for (int k = 0; k < 8; ++k) REQUIRE(f.d.push_used(pop_ok(f.d), 0).has_value());
    CHECK(!f.d.broken());
  }
}

TEST_CASE("S24 device: avail ring head >= queue size -> head_out_of_range, broken until reset") {
  for (const std::uint16_t head : {std::uint16_t{8}, std::uint16_t{100}, std::uint16_t{0xffff}}) {
    CAPTURE(head);
    fixture f;
    const auto good = publish_good_raw(f.m, 2, 1);
    f.m.publish_raw(head);
    expect_good_chain(f.d, 2, good);  // the good one before it is served normally
    expect_queue_broken(f.d, f.m, errc::head_out_of_range);
  }
}

TEST_CASE("S24 device: random garbage rings never crash; every outcome is a chain or a typed error") {
  const std::set<errc> chain_errors{
      errc::desc_index_out_of_range, errc::chain_too_long,      errc::indirect_in_indirect,
      errc::indirect_with_next,      errc::indirect_not_negotiated, errc::indirect_table_size,
      errc::writable_before_readable, errc::total_len_overflow, errc::desc_addr_overflow,
      errc::segment_limit,           errc::out_of_bounds,       errc::address_overflow};
  std::mt19937_64 rng{0x5eed};
  std::size_t good = 0, chain_bad = 0, broken = 0;
  for (int round = 0; round < 400; ++round) {
    const bool indirect = rng() % 2;
    mock m{opts(8, features(indirect, false, false), 0, 4096)};
    vireo::ring::split_device<flat_memory, 8> d{m.memory()};
    REQUIRE(d.configure(m.config()).has_value());
    const std::uint64_t base = m.memory().base().raw(), size = m.memory().size();
    const gpa arena = m.alloc(1024, 16);
    auto rand_addr = [&]() -> std::uint64_t {
      switch (rng() % 6) {
        case 0: return arena.raw() + rng() % 1024;
        case 1: return arena.raw() + 16 * (rng() % 64);
        case 2: return rng();
        case 3: return UINT64_MAX - rng() % 64;
        case 4: return base + size - rng() % 64;
        default: return rng() % 2 ? 0 : base;
      }
    };
    auto rand_len = [&]() -> std::uint32_t {
      switch (rng() % 5) {
        case 0: return 0;
        case 1: return static_cast<std::uint32_t>(rng() % 64);
        case 2: return static_cast<std::uint32_t>(16 * (rng() % 6));
        case 3: return static_cast<std::uint32_t>(rng());
        default: return 0xffffffffu - static_cast<std::uint32_t>(rng() % 4);
      }
    };
    auto rand_desc = [&](auto write) {
      // One draw per statement, so every compiler sees the same sequence for a seed.
      const std::uint64_t a = rand_addr();
      const std::uint32_t l = rand_len();
      std::uint16_t fl = static_cast<std::uint16_t>(rng() % 8);
      if (rng() % 8 == 0) fl = static_cast<std::uint16_t>(fl | rng());  // stray high bits
      const std::uint16_t nx = static_cast<std::uint16_t>(rng() % 4 == 0 ? rng() : rng() % 10);
      write(a, l, fl, nx);
    };
    for (std::uint16_t i = 0; i < 8; ++i)
      rand_desc([&](std::uint64_t a, std::uint32_t l, std::uint16_t fl, std::uint16_t nx) { m.write_desc(i, a, l, fl, nx); });
    for (std::uint64_t k = 0; k < 64; ++k)  // the arena holds plausible indirect tables
      rand_desc([&](std::uint64_t a, std::uint32_t l, std::uint16_t fl, std::uint16_t nx) {
        m.write_desc_at(arena.offset(16 * k), a, l, fl, nx);
      });
    const int published = 1 + static_cast<int>(rng() % 10);
    for (int k = 0; k < published; ++k)
      m.publish_raw(static_cast<std::uint16_t>(rng() % 6 == 0 ? rng() : rng() % 8));
    for (int k = 0; k < 12; ++k) {
      auto r = d.pop();
      if (r.has_value()) {
        if (r->empty()) break;
        ++good;
        CHECK(std::uint64_t{r->readable_len()} + r->writable_len() <= UINT32_MAX);
        for (const auto& s : r->readable()) CHECK(vireo::range_fits(s.addr.raw() - base, s.len, size));
        for (const auto& s : r->writable()) CHECK(vireo::range_fits(s.addr.raw() - base, s.len, size));
        (void)read_all(*r);
        REQUIRE(d.push_used(*r, 0).has_value());
      } else if (r.error() == errc::avail_idx_jump || r.error() == errc::head_out_of_range) {
        ++broken;
        CHECK(d.broken());
        CHECK(err(d.pop()) == errc::queue_broken);
        break;
      } else {
        ++chain_bad;
        CHECK(chain_errors.count(r.error()) == 1);
        REQUIRE(d.rejected().has_value());
        REQUIRE(d.push_used(*d.rejected(), 0).has_value());
      }
    }
  }
  // The generator reaches every kind of outcome.
  CHECK(good > 0);
  CHECK(chain_bad > 0);
  CHECK(broken > 0);
}

// ---- hostile device against the driver --------------------------------------------------------

namespace {

/// The driver queue must now be broken with `want`: every later call reports queue_broken (or does
/// nothing), until configure() again, after which a full cycle works.
void expect_driver_broken(mock& m, errc want) {
  auto& drv = m.driver();
  CHECK(err(drv.reclaim()) == want);
  CHECK(drv.broken());
  CHECK(!drv.ready());
  CHECK(drv.broken_reason() == want);
  CHECK(err(drv.reclaim()) == errc::queue_broken);
  const buffer b{m.alloc(4), 4};
  CHECK(err(drv.add({}, std::span{&b, 1})) == errc::queue_broken);
  CHECK(!drv.needs_kick());
  CHECK(!drv.enable_interrupts());
  CHECK(err(drv.reclaim()) == errc::queue_broken);
  // Recovery.
  REQUIRE(drv.configure(m.config(), m.pool()).has_value());
  CHECK(!drv.broken());
  device d{m.memory()};
  configure(d, m);
  auto head = drv.add({}, std::span{&b, 1}, 42);
  REQUIRE(head.has_value());
  auto c = pop_ok(d);
  REQUIRE(d.push_used(c, 4).has_value());
  auto u = drv.reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->user_data == 42);
}

/// Make three chains available (heads 0, 2, 4: two descriptors each) with 16 writable bytes.
std::array<std::uint16_t, 3> three_chains(mock& m) {
  std::array<std::uint16_t, 3> heads{};
  for (auto& h : heads) {
    auto r = m.add({pattern(4, 1)}, {16});
    REQUIRE(r.has_value());
    h = *r;
  }
  return heads;
}

/// Device-side tampering: one used element at the next slot, used.idx moved by `advance`.
void hostile_used(mock& m, std::uint32_t id, std::uint32_t len, std::uint16_t advance = 1) {
  const std::uint16_t idx = m.used_idx();
  m.write_used_elem(idx, id, len);
  m.set_used_idx(static_cast<std::uint16_t>(idx + advance));
}

}  // namespace

TEST_CASE("hostile device: used id >= queue size -> used_id_out_of_range, driver broken until configure") {
  for (const std::uint32_t id : {8u, 9u, 0xffffu, 0x10000u, 0xffffffffu}) {
    CAPTURE(id);
    mock m{opts(8)};
    (void)three_chains(m);
    hostile_used(m, id, 0);
    expect_driver_broken(m, errc::used_id_out_of_range);
  }
}

TEST_CASE("hostile device: used id not in flight -> used_id_not_in_flight") {
  SUBCASE("a free descriptor") {
    mock m{opts(8)};
    (void)three_chains(m);
    hostile_used(m, 7, 0);
    expect_driver_broken(m, errc::used_id_not_in_flight);
  }
  SUBCASE("a descriptor in the middle of an in-flight chain") {
    mock m{opts(8)};
    const auto heads = three_chains(m);
    hostile_used(m, static_cast<std::uint32_t>(heads[1] + 1), 0);
    expect_driver_broken(m, errc::used_id_not_in_flight);
  }
  SUBCASE("the same head completed twice") {
    mock m{opts(8)};
    const auto heads = three_chains(m);
    hostile_used(m, heads[0], 0);
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    hostile_used(m, heads[0], 0);
    expect_driver_broken(m, errc::used_id_not_in_flight);
  }
}

TEST_CASE("hostile device: used len above the writable bytes -> used_len_too_large") {
  mock m{opts(8)};
  const auto heads = three_chains(m);
  hostile_used(m, heads[0], 16);  // exactly the writable size: fine
  auto u = m.driver().reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->len == 16);
  hostile_used(m, heads[1], 17);  // readable bytes do not count (§2.7.8)
  expect_driver_broken(m, errc::used_len_too_large);
}

TEST_CASE("hostile device: used.idx moving past the buffers in flight -> used_idx_jump") {
  SUBCASE("forward") {
    mock m{opts(8)};
    (void)three_chains(m);
    hostile_used(m, 0, 0, 4);  // 4 used, 3 in flight
    expect_driver_broken(m, errc::used_idx_jump);
  }
  SUBCASE("backwards") {
    mock m{opts(8)};
    const auto heads = three_chains(m);
    hostile_used(m, heads[0], 0);
    REQUIRE(m.driver().reclaim().has_value());
    m.set_used_idx(0);  // last_used is 1
    expect_driver_broken(m, errc::used_idx_jump);
  }
  SUBCASE("exactly the buffers in flight is legal") {
    mock m{opts(8)};
    const auto heads = three_chains(m);
    for (auto h : heads) hostile_used(m, h, 0);
    for (int k = 0; k < 3; ++k) {
      auto u = m.driver().reclaim();
      REQUIRE(u.has_value());
      CHECK(u->has_value());
    }
    CHECK(!m.driver().broken());
  }
}

TEST_CASE("hostile device: an IN_ORDER batch naming a buffer beyond used.idx -> used_idx_jump") {
  mock m{opts(8, features(false, false, true))};
  const auto heads = three_chains(m);
  // One used element naming the third buffer, but used.idx moved by 1: the batch would retire
  // two buffers the device never published as used.
  hostile_used(m, heads[2], 0, 1);
  expect_driver_broken(m, errc::used_idx_jump);
  // A batch that stays inside the published index is fine.
  mock m2{opts(8, features(false, false, true))};
  const auto h2 = three_chains(m2);
  hostile_used(m2, h2[1], 3, 2);
  for (const std::uint32_t want : {16u, 3u}) {
    auto u = m2.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->len == want);
  }
  auto none = m2.driver().reclaim();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
  CHECK(m2.driver().in_flight() == 1);
}
