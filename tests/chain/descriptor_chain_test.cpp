// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/chain/descriptor_chain.hpp: chain_builder's checks and descriptor_chain itself.
#include "test_support.hpp"
#include "vireo/chain/descriptor_chain.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>

#if defined(__unix__)
#include <sys/mman.h>
#endif

#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/core/memory/region_table.hpp"

namespace {

using vireo::access;
using vireo::errc;
using vireo::faulty_memory;
using vireo::flat_memory;
using vireo::gpa;
using vireo::chain::chain_builder;
using vireo::chain::descriptor_chain;

using vireo_test::err;

constexpr std::uint64_t base = 0x4000;

struct guest {
  alignas(16) std::array<std::byte, 0x400> ram{};
  flat_memory mem{ram, gpa{base}};
  guest() {
    for (std::size_t i = 0; i < ram.size(); ++i)
      ram[i] = std::byte(static_cast<unsigned char>(i & 0xFF));
  }
};

using flat_chain = descriptor_chain<flat_memory, 8>;
using flat_builder = chain_builder<flat_memory, 8>;
using faulty = faulty_memory<flat_memory>;

static_assert(descriptor_chain<flat_memory>::max_segments == 64);
static_assert(flat_chain::max_segments == 8);

}  // namespace

TEST_CASE("descriptor_chain: a default chain is empty") {
  flat_chain c;
  CHECK(c.empty());
  CHECK(c.readable().empty());
  CHECK(c.writable().empty());
  CHECK(c.readable_len() == 0);
  CHECK(c.writable_len() == 0);
  CHECK(c.id() == 0);
}

TEST_CASE("chain_builder: readable then writable descriptors make a chain") {
  guest g;
  flat_chain c;
  flat_builder b{c, g.mem};
  REQUIRE(b.add(gpa{base + 0x000}, 16, false).has_value());
  REQUIRE(b.add(gpa{base + 0x100}, 8, false).has_value());
  REQUIRE(b.add(gpa{base + 0x200}, 32, true).has_value());
  REQUIRE(b.add(gpa{base + 0x300}, 4, true).has_value());
  CHECK(c.empty());  // not sealed yet
  REQUIRE(b.finish(5, 4, 7).has_value());
  REQUIRE_FALSE(c.empty());
  CHECK(c.id() == 5);
  CHECK(c.token().id == 5);
  CHECK(c.token().slots == 4);
  CHECK(c.token().seq == 7);
  CHECK(c.token().writable_len == 36);
  CHECK(c.readable_len() == 24);
  CHECK(c.writable_len() == 36);
  REQUIRE(c.readable().size() == 2);
  REQUIRE(c.writable().size() == 2);
  CHECK(c.readable()[0].addr == gpa{base});
  CHECK(c.readable()[0].len == 16);
  CHECK(c.readable()[0].host == g.ram.data());  // mapped zero-copy
  CHECK(c.readable()[1].host == g.ram.data() + 0x100);
  CHECK(c.writable()[0].addr == gpa{base + 0x200});
  CHECK(c.writable()[0].len == 32);
  CHECK(c.writable()[0].host == g.ram.data() + 0x200);
  CHECK(c.writable()[1].host == g.ram.data() + 0x300);

  auto r = c.reader();
  CHECK(r.remaining() == 24);
  std::array<std::byte, 24> in{};
  REQUIRE(r.read(in).has_value());
  CHECK(in[0] == std::byte{0x00});
  CHECK(in[15] == std::byte{0x0F});
  CHECK(in[16] == std::byte{0x00});  // ram[0x100]
  CHECK(in[23] == std::byte{0x07});
  auto w = c.writer();
  CHECK(w.remaining() == 36);
  std::array<std::byte, 36> out{};
  out.fill(std::byte{0xEE});
  REQUIRE(w.write(out).has_value());
  CHECK(w.written() == 36);
  CHECK(g.ram[0x21F] == std::byte{0xEE});
  CHECK(g.ram[0x220] == std::byte{0x20});
  CHECK(g.ram[0x303] == std::byte{0xEE});
  CHECK(g.ram[0x304] == std::byte{0x04});
}

TEST_CASE("chain_builder: only readable, or only writable, descriptors") {
  guest g;
  flat_chain c;
  {
    flat_builder b{c, g.mem};
    REQUIRE(b.add(gpa{base}, 10, false).has_value());
    REQUIRE(b.finish(1, 1, 0).has_value());
    CHECK(c.readable().size() == 1);
    CHECK(c.writable().empty());
    CHECK(c.writable_len() == 0);
    CHECK(c.writer().remaining() == 0);
  }
  {
    flat_builder b{c, g.mem};
    REQUIRE(b.add(gpa{base}, 10, true).has_value());
    REQUIRE(b.finish(2, 1, 1).has_value());
    CHECK(c.readable().empty());
    CHECK(c.readable_len() == 0);
    CHECK(c.writable().size() == 1);
    CHECK(c.writable_len() == 10);
    CHECK(c.reader().remaining() == 0);
  }
}

TEST_CASE("chain_builder: a readable descriptor after a writable one is writable_before_readable") {
  guest g;
  flat_chain c;
  flat_builder b{c, g.mem};
  REQUIRE(b.add(gpa{base}, 4, false).has_value());
  REQUIRE(b.add(gpa{base + 0x10}, 4, true).has_value());
  CHECK(err(b.add(gpa{base + 0x20}, 4, false)) == errc::writable_before_readable);
  CHECK(c.empty());
}

TEST_CASE("chain_builder: a zero-length writable descriptor still orders the chain "
          "(virtio 1.3 §2.7.4.2)") {
  guest g;
  flat_chain c;
  flat_builder b{c, g.mem};
  REQUIRE(b.add(gpa{base}, 0, true).has_value());
  CHECK(err(b.add(gpa{base}, 4, false)) == errc::writable_before_readable);
}

// 4 GiB of address space reserved but never touched (MAP_NORESERVE: no memory is committed), so
// that descriptors totalling 2^32 bytes can lie inside guest memory and be mapped for real.
class huge_ram {
 public:
  static constexpr std::size_t size = std::size_t{1} << 32;
  huge_ram() noexcept {
#if defined(__unix__) && UINTPTR_MAX > 0xFFFFFFFFu
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) data_ = static_cast<std::byte*>(p);
#endif
  }
  ~huge_ram() {
#if defined(__unix__) && UINTPTR_MAX > 0xFFFFFFFFu
    if (data_ != nullptr) ::munmap(data_, size);
#endif
  }
  huge_ram(const huge_ram&) = delete;
  huge_ram& operator=(const huge_ram&) = delete;
  [[nodiscard]] std::byte* data() const noexcept { return data_; }

 private:
  std::byte* data_ = nullptr;
};

TEST_CASE("chain_builder: a total of 2^32 - 1 bytes is accepted, 2^32 is total_len_overflow "
          "(virtio 1.3 §2.7.5.2)") {
  huge_ram ram;
  if (ram.data() == nullptr) {
    MESSAGE("cannot reserve 4 GiB of address space here; test not run");
    return;
  }
  flat_memory mem{vireo::bytes{ram.data(), huge_ram::size}, gpa{0}};
  SUBCASE("0xFFFFFFFF alone, then + 0 bytes: accepted and mapped") {
    descriptor_chain<flat_memory, 4> c;
    chain_builder<flat_memory, 4> b{c, mem};
    REQUIRE(b.add(gpa{0}, 0xFFFFFFFFu, false).has_value());
    REQUIRE(b.add(gpa{0}, 0, true).has_value());
    REQUIRE(b.finish(0, 2, 0).has_value());
    CHECK(c.readable_len() == 0xFFFFFFFFu);
    REQUIRE(c.readable().size() == 1);
    CHECK(c.readable()[0].host == ram.data());
    CHECK(c.readable()[0].len == 0xFFFFFFFFu);
  }
  SUBCASE("0xFFFFFFFF + 1") {
    descriptor_chain<flat_memory, 4> c;
    chain_builder<flat_memory, 4> b{c, mem};
    REQUIRE(b.add(gpa{0}, 0xFFFFFFFFu, false).has_value());
    CHECK(err(b.add(gpa{0xFFFFFFFFu}, 1, true)) == errc::total_len_overflow);
    CHECK(c.empty());
  }
  SUBCASE("2^31 + 2^31, readable then writable, both inside memory") {
    descriptor_chain<flat_memory, 4> c;
    chain_builder<flat_memory, 4> b{c, mem};
    REQUIRE(b.add(gpa{0}, 0x80000000u, false).has_value());
    CHECK(err(b.add(gpa{0x80000000u}, 0x80000000u, true)) == errc::total_len_overflow);
  }
  SUBCASE("five descriptors summing to exactly 2^32") {
    descriptor_chain<flat_memory, 8> c;
    chain_builder<flat_memory, 8> b{c, mem};
    for (int i = 0; i < 4; ++i) REQUIRE(b.add(gpa{0}, 0x3FFFFFFFu, false).has_value());
    REQUIRE(b.add(gpa{0}, 3, false).has_value());  // 4 * (2^30 - 1) + 3 = 2^32 - 1
    CHECK(err(b.add(gpa{0}, 1, false)) == errc::total_len_overflow);
  }
}

TEST_CASE("chain_builder: total_len_overflow is checked before the memory is consulted") {
  guest g;  // 1 KiB: a 0xFFFFFFF0-byte descriptor can never be mapped
  faulty fm{g.mem};
  descriptor_chain<faulty, 4> c;
  SUBCASE("2^32 - 1 in total: the memory decides (out_of_bounds)") {
    chain_builder<faulty, 4> b{c, fm};
    REQUIRE(b.add(gpa{base}, 16, false).has_value());
    const auto accesses = fm.accesses();
    CHECK(err(b.add(gpa{base + 16}, 0xFFFFFFEFu, true)) == errc::out_of_bounds);
    CHECK(fm.accesses() == accesses + 1);
  }
  SUBCASE("2^32 in total: total_len_overflow, and map is never called") {
    chain_builder<faulty, 4> b{c, fm};
    REQUIRE(b.add(gpa{base}, 16, false).has_value());
    const auto accesses = fm.accesses();
    CHECK(err(b.add(gpa{base + 16}, 0xFFFFFFF0u, true)) == errc::total_len_overflow);
    CHECK(fm.accesses() == accesses);
  }
}

TEST_CASE("chain_builder: a descriptor outside guest memory is the model's out_of_bounds") {
  guest g;
  flat_chain c;
  flat_builder b{c, g.mem};
  CHECK(err(b.add(gpa{base}, 0xFFFFFFFFu, false)) == errc::out_of_bounds);
  flat_builder b2{c, g.mem};
  CHECK(err(b2.add(gpa{base + 0x3FF}, 2, false)) == errc::out_of_bounds);
  flat_builder b3{c, g.mem};
  CHECK(err(b3.add(gpa{base - 1}, 1, true)) == errc::out_of_bounds);
  CHECK(c.empty());
}

TEST_CASE("chain_builder: addr + len past 2^64 is desc_addr_overflow, whatever the memory says") {
  guest g;
  faulty fm{g.mem};
  descriptor_chain<faulty, 4> c;
  {
    chain_builder<faulty, 4> b{c, fm};
    CHECK(err(b.add(gpa{UINT64_MAX}, 2, false)) == errc::desc_addr_overflow);
  }
  {
    chain_builder<faulty, 4> b{c, fm};
    CHECK(err(b.add(gpa{UINT64_MAX - 15}, 17, true)) == errc::desc_addr_overflow);
  }
  {
    chain_builder<faulty, 4> b{c, fm};
    CHECK(err(b.add(gpa{UINT64_MAX - 0xFFFFFFFDull}, 0xFFFFFFFFu, false)) ==
          errc::desc_addr_overflow);
  }
  {
    // Even a model that would call the range "not contiguous" cannot make it a segment.
    fm.deny_map(true);
    chain_builder<faulty, 4> b{c, fm};
    CHECK(err(b.add(gpa{UINT64_MAX - 15}, 17, true)) == errc::desc_addr_overflow);
    fm.deny_map(false);
  }
  {
    // The last byte exactly at 2^64 - 1 is not an overflow; memory answers (out of bounds).
    chain_builder<faulty, 4> b{c, fm};
    CHECK(err(b.add(gpa{UINT64_MAX - 0xFFFFFFFEull}, 0xFFFFFFFFu, false)) == errc::out_of_bounds);
  }
  CHECK(c.empty());
}

// A range may end exactly at 2^64: only its last byte must exist.
TEST_CASE("chain_builder: a descriptor ending exactly at 2^64 inside memory is accepted") {
  alignas(16) std::array<std::byte, 32> top{};
  flat_memory mem{top, gpa{UINT64_MAX - 31}};
  descriptor_chain<flat_memory, 4> c;
  chain_builder<flat_memory, 4> b{c, mem};
  REQUIRE(b.add(gpa{UINT64_MAX - 15}, 16, false).has_value());
  REQUIRE(b.finish(0, 1, 0).has_value());
  REQUIRE(c.readable().size() == 1);
  CHECK(c.readable()[0].host == top.data() + 16);
}

TEST_CASE("chain_builder: zero-length descriptors take no segment and are not mapped") {
  guest g;
  faulty fm{g.mem};
  descriptor_chain<faulty, 4> c;
  chain_builder<faulty, 4> b{c, fm};
  REQUIRE(b.add(gpa{base}, 0, false).has_value());
  REQUIRE(b.add(gpa{base + 0x10}, 4, false).has_value());
  REQUIRE(b.add(gpa{UINT64_MAX}, 0, false).has_value());  // anywhere: no address is checked
  REQUIRE(b.add(gpa{0}, 0, true).has_value());
  REQUIRE(b.add(gpa{base + 0x20}, 6, true).has_value());
  REQUIRE(b.add(gpa{base + 0x9999}, 0, true).has_value());
  CHECK(fm.accesses() == 2);  // only the two non-empty descriptors were mapped
  REQUIRE(b.finish(3, 6, 0).has_value());
  REQUIRE(c.readable().size() == 1);
  REQUIRE(c.writable().size() == 1);
  CHECK(c.readable()[0].addr == gpa{base + 0x10});
  CHECK(c.writable()[0].addr == gpa{base + 0x20});
  CHECK(c.readable_len() == 4);
  CHECK(c.writable_len() == 6);
  CHECK(c.token().slots == 6);
}

TEST_CASE("chain_builder: more non-empty descriptors than MaxSegments is segment_limit") {
  guest g;
  descriptor_chain<flat_memory, 2> c;
  chain_builder<flat_memory, 2> b{c, g.mem};
  REQUIRE(b.add(gpa{base}, 4, false).has_value());
  REQUIRE(b.add(gpa{base + 0x10}, 4, false).has_value());
  // The third is accepted by add() so that the walk goes on (a loop must still be detected)...
  REQUIRE(b.add(gpa{base + 0x20}, 4, true).has_value());
  // ...and the other checks still apply after the overflow.
  CHECK(err(b.add(gpa{base + 0x30}, 4, false)) == errc::writable_before_readable);
  // ...but the chain cannot be sealed.
  CHECK(err(b.finish(0, 3, 0)) == errc::segment_limit);
  CHECK(c.empty());
}

TEST_CASE("chain_builder: MaxSegments non-empty plus any zero-length descriptors fit") {
  guest g;
  descriptor_chain<flat_memory, 2> c;
  chain_builder<flat_memory, 2> b{c, g.mem};
  REQUIRE(b.add(gpa{base}, 4, false).has_value());
  REQUIRE(b.add(gpa{base}, 0, false).has_value());
  REQUIRE(b.add(gpa{base + 0x10}, 4, true).has_value());
  REQUIRE(b.add(gpa{base}, 0, true).has_value());
  REQUIRE(b.finish(0, 4, 0).has_value());
  CHECK(c.readable().size() == 1);
  CHECK(c.writable().size() == 1);
}

TEST_CASE("chain_builder: total_len_overflow is still found after segment_limit overflow") {
  guest g;
  descriptor_chain<flat_memory, 1> c;
  chain_builder<flat_memory, 1> b{c, g.mem};
  REQUIRE(b.add(gpa{base}, 16, false).has_value());
  // Past the segment limit nothing is mapped, so the length alone decides.
  REQUIRE(b.add(gpa{base}, 0xFFFFFFFFu - 16, false).has_value());
  CHECK(err(b.add(gpa{base}, 1, false)) == errc::total_len_overflow);
}

TEST_CASE("chain_builder: starting a builder clears a chain that was built before") {
  guest g;
  flat_chain c;
  {
    flat_builder b{c, g.mem};
    REQUIRE(b.add(gpa{base}, 4, false).has_value());
    REQUIRE(b.finish(9, 1, 0).has_value());
  }
  REQUIRE_FALSE(c.empty());
  flat_builder b{c, g.mem};
  CHECK(c.empty());
  CHECK(c.readable().empty());
  CHECK(c.readable_len() == 0);
  CHECK(err(b.add(gpa{base + 0x1000}, 4, false)) == errc::out_of_bounds);
  CHECK(c.empty());  // a failed chain stays empty
}

TEST_CASE("chain_builder: over a region_table, a descriptor across two regions is copied") {
  alignas(16) std::array<std::byte, 0x100> host{};
  for (std::size_t i = 0; i < host.size(); ++i) host[i] = std::byte(static_cast<unsigned char>(i));
  vireo::region_table<4> table;
  // Guest-adjacent regions whose host memory is not adjacent.
  REQUIRE(table.add({gpa{0x1000}, 0x10, host.data() + 0x80, access::read_write}).has_value());
  REQUIRE(table.add({gpa{0x1010}, 0x10, host.data() + 0x20, access::read_write}).has_value());
  REQUIRE(table.add({gpa{0x2000}, 0x10, host.data() + 0x40, access::read}).has_value());
  descriptor_chain<vireo::region_table<4>, 4> c;
  chain_builder<vireo::region_table<4>, 4> b{c, table};
  REQUIRE(b.add(gpa{0x1008}, 0x10, false).has_value());  // spans both regions
  REQUIRE(b.add(gpa{0x2000}, 4, false).has_value());     // read-only region, readable: fine
  REQUIRE(b.finish(0, 2, 0).has_value());
  REQUIRE(c.readable().size() == 2);
  CHECK(c.readable()[0].host == nullptr);
  CHECK(c.readable()[1].host == host.data() + 0x40);
  auto r = c.reader();
  std::array<std::byte, 0x14> out{};
  REQUIRE(r.read(out).has_value());
  CHECK(out[0] == std::byte{0x88});
  CHECK(out[7] == std::byte{0x8F});
  CHECK(out[8] == std::byte{0x20});
  CHECK(out[15] == std::byte{0x27});
  CHECK(out[16] == std::byte{0x40});

  chain_builder<vireo::region_table<4>, 4> b2{c, table};
  CHECK(err(b2.add(gpa{0x2000}, 4, true)) == errc::access_denied);  // writable into read-only
  chain_builder<vireo::region_table<4>, 4> b3{c, table};
  CHECK(err(b3.add(gpa{0x1018}, 0x10, false)) == errc::out_of_bounds);  // runs into a gap
}

TEST_CASE("descriptor_chain: a copy has the same segments and token in its own storage") {
  guest g;
  flat_chain c;
  flat_builder b{c, g.mem};
  REQUIRE(b.add(gpa{base + 0x10}, 8, false).has_value());
  REQUIRE(b.add(gpa{base + 0x40}, 8, false).has_value());
  REQUIRE(b.add(gpa{base + 0x80}, 16, true).has_value());
  REQUIRE(b.finish(11, 3, 2).has_value());

  const flat_chain copy = c;  // copy construction
  REQUIRE_FALSE(copy.empty());
  CHECK(copy.id() == 11);
  CHECK(copy.token().slots == 3);
  CHECK(copy.token().seq == 2);
  CHECK(copy.token().writable_len == 16);
  CHECK(copy.readable_len() == 16);
  CHECK(copy.writable_len() == 16);
  REQUIRE(copy.readable().size() == 2);
  REQUIRE(copy.writable().size() == 1);
  CHECK(copy.readable().data() != c.readable().data());  // not aliasing the original's array
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(copy.readable()[i].addr == c.readable()[i].addr);
    CHECK(copy.readable()[i].len == c.readable()[i].len);
    CHECK(copy.readable()[i].host == c.readable()[i].host);
  }
  CHECK(copy.writable()[0].addr == gpa{base + 0x80});
  CHECK(copy.writable()[0].host == g.ram.data() + 0x80);

  // The copy reads the same bytes.
  auto r1 = c.reader();
  auto r2 = copy.reader();
  std::array<std::byte, 16> a{}, bb{};
  REQUIRE(r1.read(a).has_value());
  REQUIRE(r2.read(bb).has_value());
  CHECK(a == bb);
  CHECK(a[0] == std::byte{0x10});
  CHECK(a[8] == std::byte{0x40});

  // Copy assignment over a chain with a different shape.
  flat_chain other;
  {
    flat_builder ob{other, g.mem};
    for (int i = 0; i < 5; ++i)
      REQUIRE(ob.add(gpa{base + 0x100 + 0x10 * static_cast<unsigned>(i)}, 4, true).has_value());
    REQUIRE(ob.finish(1, 5, 0).has_value());
  }
  other = c;
  CHECK(other.id() == 11);
  CHECK(other.readable().size() == 2);
  CHECK(other.writable().size() == 1);
  CHECK(other.writable_len() == 16);
  CHECK(other.writable()[0].addr == gpa{base + 0x80});

  // Copying an empty chain gives an empty chain.
  flat_chain none;
  other = none;
  CHECK(other.empty());
  CHECK(other.readable().empty());
  CHECK(other.writable().empty());
}
