// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/vhost_user/payloads.hpp: every payload struct has the exact bytes of its spec
// layout (digest §2), compared with an independent field-by-field spelling in host order.
#include "vhost_user_test_support.hpp"

#include <algorithm>

using namespace vireo_vu_test;

namespace {

template <typename T>
bool same_bytes(const T& obj, const builder& b) {
  const auto view = vireo::as_bytes_of(obj);
  return view.size() == b.size() && std::equal(view.begin(), view.end(), b.bytes().begin());
}

}  // namespace

TEST_CASE("payloads: u64, vring state and vring address") {
  vu::u64_payload u{};
  u.value.set(0x0102030405060708ull);
  CHECK(same_bytes(u, builder{}.u64(0x0102030405060708ull)));

  vu::vring_state s{};
  s.index.set(3);
  s.num.set(0x80008000u);
  CHECK(same_bytes(s, builder{}.u32(3).u32(0x80008000u)));

  // No "size" field between flags and the descriptor address (the spec table shows one).
  vu::vring_addr a{};
  a.index.set(1);
  a.flags.set(vu::vring_addr_flag::log);
  a.desc_user_addr.set(0x1000);
  a.used_user_addr.set(0x2000);
  a.avail_user_addr.set(0x3000);
  a.log_guest_addr.set(0x4000);
  CHECK(same_bytes(a, builder{}.u32(1).u32(1).u64(0x1000).u64(0x2000).u64(0x3000).u64(0x4000)));
}

TEST_CASE("payloads: memory regions, table head, single region, Xen variants") {
  vu::memory_region r{};
  r.guest_phys_addr.set(0x100000);
  r.memory_size.set(0x40000);
  r.userspace_addr.set(0x7f0000000000);
  r.mmap_offset.set(0x1000);
  CHECK(same_bytes(r, builder{}.region(0x100000, 0x40000, 0x7f0000000000, 0x1000)));

  vu::memory_region_xen x{};
  x.region = r;
  x.xen_mmap_flags.set(vu::xen_mmap_flag::grant | vu::xen_mmap_flag::map_on_demand);
  x.domid.set(7);
  CHECK(same_bytes(x, builder{}.region(0x100000, 0x40000, 0x7f0000000000, 0x1000).u32(0x102).u32(7)));

  vu::memory_table_header h{};
  h.nregions.set(2);
  CHECK(same_bytes(h, builder{}.u32(2).u32(0)));

  vu::single_memory_region s{};
  s.region = r;
  CHECK(same_bytes(s, builder{}.u64(0).region(0x100000, 0x40000, 0x7f0000000000, 0x1000)));
  static_assert(sizeof(vu::single_memory_region_xen) == 48);
}

TEST_CASE("payloads: log, IOTLB, config head, vring area, inflight") {
  vu::log_description l{};
  l.mmap_size.set(0x2000);
  l.mmap_offset.set(0x10);
  CHECK(same_bytes(l, builder{}.u64(0x2000).u64(0x10)));

  vu::iotlb_msg m{};
  m.iova.set(0x1000);
  m.size.set(0x200);
  m.uaddr.set(0x7000);
  m.perm = static_cast<std::uint8_t>(vu::iotlb_perm::rw);
  m.type = static_cast<std::uint8_t>(vu::iotlb_type::update);
  CHECK(same_bytes(m, builder{}.u64(0x1000).u64(0x200).u64(0x7000).u8(3).u8(2).zeros(6)));

  vu::config_header c{};
  c.offset.set(4);
  c.size.set(8);
  c.flags.set(static_cast<std::uint32_t>(vu::config_flags::migration));
  CHECK(same_bytes(c, builder{}.u32(4).u32(8).u32(1)));

  vu::vring_area a{};
  a.u64.set(2 | vu::vring_fd_bits::no_fd);
  a.size.set(4096);
  a.offset.set(0);
  CHECK(same_bytes(a, builder{}.u64(0x102).u64(4096).u64(0)));

  // 20 bytes of fields, 24 on the wire: the C struct's tail padding is sent.
  vu::inflight f{};
  f.mmap_size.set(0x3000);
  f.mmap_offset.set(0);
  f.num_queues.set(2);
  f.queue_size.set(256);
  CHECK(same_bytes(f, builder{}.u64(0x3000).u64(0).u16(2).u16(256).zeros(4)));
}

TEST_CASE("payloads: shared object, device state, shmem map, shmem config head") {
  vu::shared_object o{};
  for (std::uint8_t i = 0; i < 16; ++i) o.uuid[i] = static_cast<std::uint8_t>(0xA0 + i);
  builder ob;
  for (std::uint8_t i = 0; i < 16; ++i) ob.u8(static_cast<std::uint8_t>(0xA0 + i));
  CHECK(same_bytes(o, ob));

  vu::device_state_transfer d{};
  d.direction.set(static_cast<std::uint32_t>(vu::transfer_direction::load));
  d.phase.set(static_cast<std::uint32_t>(vu::migration_phase::stopped));
  CHECK(same_bytes(d, builder{}.u32(1).u32(0)));

  vu::shmem_map s{};
  s.shmid = 3;
  s.fd_offset.set(0x10);
  s.shm_offset.set(0x20);
  s.len.set(0x30);
  s.flags.set(vu::shmem_map_flag::writable);
  CHECK(same_bytes(s, builder{}.u8(3).zeros(7).u64(0x10).u64(0x20).u64(0x30).u64(1)));

  vu::shmem_config_header h{};
  h.nregions.set(5);
  CHECK(same_bytes(h, builder{}.u32(5).u32(0)));
  CHECK(sizeof(vu::shmem_config_header) + vu::max_shmem_regions * 8 == 2056);
}
