// SPDX-License-Identifier: Apache-2.0
// memfd guest RAM: regions at chosen guest addresses in one shared memfd, the region_table the
// driver queues use, what SET_MEM_TABLE sends (fd, guest address, size, user address, mmap
// offset), a second mapping of the fd seeing the same bytes (as a back-end's does), failures
// through a scripted system-call layer, and no descriptor or mapping left behind.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "socket_support.hpp"
#include "test_support.hpp"
#include "vireo/linux/memfd_guest_ram.hpp"

namespace {

namespace lh = vireo::linux_host;
using vireo::errc;
using vireo::gpa;
using vireo_socket_test::open_descriptors;
using vireo_test::err;

constexpr std::uint64_t kib = 1024;

/// The real calls, with failures scripted per call (static: the RAM holds its Sys by value).
struct scripted_memory_sys : lh::real_memory_sys {
  static inline int fail_memfd = 0, fail_truncate = 0, fail_mmap = 0;
  static inline int munmaps = 0;
  static int memfd_create(const char* name, unsigned flags) noexcept {
    return fail_memfd != 0 ? -fail_memfd : lh::real_memory_sys::memfd_create(name, flags);
  }
  static int ftruncate(int fd, off_t length) noexcept {
    return fail_truncate != 0 ? -fail_truncate : lh::real_memory_sys::ftruncate(fd, length);
  }
  static int mmap(std::size_t len, int prot, int flags, int fd, off_t off, void** out) noexcept {
    return fail_mmap != 0 ? -fail_mmap : lh::real_memory_sys::mmap(len, prot, flags, fd, off, out);
  }
  static int munmap(void* addr, std::size_t len) noexcept {
    ++munmaps;
    return lh::real_memory_sys::munmap(addr, len);
  }
  static void clear() { fail_memfd = fail_truncate = fail_mmap = munmaps = 0; }
};
static_assert(lh::memory_sys_api<scripted_memory_sys>);

}  // namespace

TEST_CASE("memfd guest RAM: regions at guest addresses in one shared file") {
  const auto before = open_descriptors();
  {
    const std::array<lh::ram_layout, 2> layout{lh::ram_layout{gpa{0x4000'0000}, 100 * kib},
                                               lh::ram_layout{gpa{0x1000}, 4 * kib}};
    auto ram = lh::memfd_guest_ram<4>::create(layout);
    REQUIRE(ram);
    REQUIRE(ram->regions().size() == 2);
    const lh::shared_ram_region& a = ram->regions()[0];
    const lh::shared_ram_region& b = ram->regions()[1];
    CHECK(a.fd == ram->fd());
    CHECK(b.fd == ram->fd());
    CHECK(a.guest_addr == 0x4000'0000);
    CHECK(a.size == 100 * kib);
    CHECK(a.mmap_offset == 0);
    CHECK(b.guest_addr == 0x1000);
    CHECK(b.size == 4 * kib);
    CHECK(b.mmap_offset == 128 * kib);  // 100 KiB rounded up to the 64 KiB alignment
    CHECK(ram->file_size() == 192 * kib);
    CHECK(b.user_addr == a.user_addr + 128 * kib);  // one mapping of the whole file
    CHECK(vireo_socket_test::has_cloexec(ram->fd()));

    // The driver side's view: a region_table over the mapping.
    auto& mem = ram->memory();
    const std::array<std::byte, 4> word{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    REQUIRE(mem.write(gpa{0x4000'0000 + 4096}, word));
    REQUIRE(mem.write(gpa{0x1000 + 8}, word));
    CHECK(std::memcmp(reinterpret_cast<const void*>(a.user_addr + 4096), word.data(), 4) == 0);
    std::array<std::byte, 4> four{};
    CHECK(err(mem.read(gpa{0x4000'0000 + 100 * kib - 2}, four)) ==
          errc::out_of_bounds);  // past the region: the padding is not guest memory

    // A back-end's mapping of the fd at mmap_offset sees the same bytes (MAP_SHARED).
    void* other =
        ::mmap(nullptr, ram->file_size(), PROT_READ | PROT_WRITE, MAP_SHARED, ram->fd(), 0);
    REQUIRE(other != MAP_FAILED);
    auto* o = static_cast<std::byte*>(other);
    CHECK(std::memcmp(o + a.mmap_offset + 4096, word.data(), 4) == 0);
    CHECK(std::memcmp(o + b.mmap_offset + 8, word.data(), 4) == 0);
    o[b.mmap_offset + 100] = std::byte{0x5A};  // the back-end writes: the guest sees it
    std::array<std::byte, 1> seen{};
    REQUIRE(mem.read(gpa{0x1000 + 100}, seen));
    CHECK(seen[0] == std::byte{0x5A});
    REQUIRE(::munmap(other, ram->file_size()) == 0);

    // A back-end may seal the file against shrinking (what mmap_region_mapper tries).
    REQUIRE(::fcntl(ram->fd(), F_ADD_SEALS, F_SEAL_SHRINK) == 0);
    CHECK(::ftruncate(ram->fd(), 4096) == -1);

    // User addresses for SET_VRING_ADDR.
    auto u = ram->user_address(gpa{0x4000'0000 + 64}, 16);
    REQUIRE(u);
    CHECK(*u == a.user_addr + 64);
    CHECK(err(ram->user_address(gpa{0x4000'0000 + 100 * kib - 8}, 16)) == errc::out_of_bounds);
    CHECK(err(ram->user_address(gpa{0x2000})) == errc::out_of_bounds);
    CHECK(err(ram->user_address(gpa{~std::uint64_t{0} - 2}, 8)) == errc::address_overflow);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("memfd guest RAM: bad layouts are refused, nothing is left open") {
  const auto before = open_descriptors();
  CHECK(err(lh::memfd_guest_ram<2>::create({})) == errc::invalid_argument);
  const std::array<lh::ram_layout, 3> three{lh::ram_layout{gpa{0}, 4096},
                                            lh::ram_layout{gpa{0x10000}, 4096},
                                            lh::ram_layout{gpa{0x20000}, 4096}};
  CHECK(err(lh::memfd_guest_ram<2>::create(three)) == errc::invalid_argument);
  const std::array<lh::ram_layout, 1> empty{lh::ram_layout{gpa{0x1000}, 0}};
  CHECK(err(lh::memfd_guest_ram<2>::create(empty)) == errc::invalid_argument);
  const std::array<lh::ram_layout, 1> wraps{lh::ram_layout{gpa{~std::uint64_t{0} - 4095}, 8192}};
  CHECK(err(lh::memfd_guest_ram<2>::create(wraps)) == errc::address_overflow);
  const std::array<lh::ram_layout, 1> huge{lh::ram_layout{gpa{0}, std::uint64_t{1} << 63}};
  CHECK(err(lh::memfd_guest_ram<2>::create(huge)) == errc::address_overflow);
  const std::array<lh::ram_layout, 2> overlap{lh::ram_layout{gpa{0x1000}, 0x2000},
                                              lh::ram_layout{gpa{0x2000}, 0x1000}};
  CHECK(err(lh::memfd_guest_ram<2>::create(overlap)) == errc::region_overlap);
  CHECK(open_descriptors() == before);
}

TEST_CASE("memfd guest RAM: a system call that fails leaves no fd and no mapping") {
  using ram_t = lh::basic_memfd_guest_ram<scripted_memory_sys, 2>;
  const std::array<lh::ram_layout, 1> one{lh::ram_layout{gpa{0x1000}, 4096}};
  const auto before = open_descriptors();
  scripted_memory_sys::clear();
  scripted_memory_sys::fail_memfd = EMFILE;
  CHECK(err(ram_t::create(one)) == errc::host_io_error);
  scripted_memory_sys::clear();
  scripted_memory_sys::fail_truncate = EPERM;
  CHECK(err(ram_t::create(one)) == errc::host_permission_denied);
  CHECK(open_descriptors() == before);
  scripted_memory_sys::clear();
  scripted_memory_sys::fail_mmap = ENOMEM;
  CHECK(err(ram_t::create(one)) == errc::host_io_error);
  CHECK(scripted_memory_sys::munmaps == 0);  // nothing was mapped
  CHECK(open_descriptors() == before);
  scripted_memory_sys::clear();
  {
    auto ram = ram_t::create(one);
    REQUIRE(ram);
  }
  CHECK(scripted_memory_sys::munmaps == 1);
  CHECK(open_descriptors() == before);
}

TEST_CASE("memfd guest RAM: moves keep the mapping; the moved-from object holds nothing") {
  const auto before = open_descriptors();
  {
    const std::array<lh::ram_layout, 1> one{lh::ram_layout{gpa{0x1000}, 8192}};
    auto made = lh::memfd_guest_ram<2>::create(one);
    REQUIRE(made);
    lh::memfd_guest_ram<2> ram = std::move(*made);
    CHECK(made->regions().empty());
    CHECK(made->fd() == -1);
    CHECK(made->memory().size() == 0);
    const std::array<std::byte, 2> v{std::byte{7}, std::byte{8}};
    REQUIRE(ram.memory().write(gpa{0x1000}, v));
    auto second = lh::memfd_guest_ram<2>::create(one);
    REQUIRE(second);
    *second = std::move(ram);  // the second RAM's own file and mapping go away here
    std::array<std::byte, 2> back{};
    REQUIRE(second->memory().read(gpa{0x1000}, back));
    CHECK(back == v);
    CHECK(open_descriptors() == before + 1);
  }
  CHECK(open_descriptors() == before);
}
