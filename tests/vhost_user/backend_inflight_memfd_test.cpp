// SPDX-License-Identifier: Apache-2.0
// Inflight tracking with a real memfd (vireo/linux/inflight_memfd.hpp): the region the first
// back-end allocates for GET_INFLIGHT_FD is kept alive only by the fd the "front-end" holds; the
// first back-end dies with requests in flight, a second one maps the same memfd through
// SET_INFLIGHT_FD (mmap, as a real back-end does) and finishes exactly those requests first.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <vector>

#include "backend_inflight_support.hpp"
#include "vireo/linux/inflight_memfd.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"

using namespace vireo_vu_test;

namespace {

namespace il = be::inflight_layout;
using mock = vireo::testing::mock_split_driver;
using table_t = vireo::region_table<32>;
using device_t = tracking_device_t<table_t>;
constexpr std::uint16_t qsize = 8;
constexpr std::uint64_t uaddr = 0x7000'0000'0000;
constexpr std::uint64_t inflight_shmfd = 0x1000, reply_ack = 0x8;
constexpr int ram_fd = -100;  // the mock driver's RAM is not an fd: this mapper knows it by name

/// Maps real fds as libvhost-user does (mmap of offset + size from file offset 0, shared), and
/// the mock driver's RAM behind ram_fd.
class mmap_mapper {
 public:
  std::span<std::byte> ram;
  int live = 0;

  vireo::result<std::byte*> map(int fd, std::uint64_t size, std::uint64_t offset) {
    if (fd == ram_fd) {
      if (offset > ram.size() || size > ram.size() - offset) return errc::host_rejected;
      return ram.data() + offset;
    }
    void* p = ::mmap(nullptr, offset + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return errc::host_rejected;
    ++live;
    return static_cast<std::byte*>(p) + offset;
  }
  void unmap(std::byte* host, std::uint64_t size, std::uint64_t offset) {
    if (host >= ram.data() && host < ram.data() + ram.size()) return;
    REQUIRE(::munmap(host - offset, offset + size) == 0);
    --live;
  }
};
static_assert(be::region_mapper<mmap_mapper>);

using session_t2 = be::session<device_t, mmap_mapper, 8, 32, vireo::linux_host::memfd_inflight_allocator>;

struct process {
  mmap_mapper mapper;
  vireo::linux_host::memfd_inflight_allocator alloc;
  device_t dev;
  session_t2 s{dev, mapper, alloc};
  explicit process(std::span<std::byte> ram) {
    mapper.ram = ram;
    dev.attach(s.memory());
  }

  /// Send one request; close the real fds the session reports closed; return the reply fds.
  std::vector<int> send(const std::vector<std::byte>& f, std::vector<int> fds = {}) {
    const auto msg = vu::decode(f, fds, vu::channel::main, s.codec());
    REQUIRE(msg.has_value());
    const auto out = s.handle(*msg);
    REQUIRE(out.status.has_value());
    for (const be::action& a : out.actions())
      if (a.kind == be::action_kind::close_fd && a.fd >= 0) CHECK(::close(a.fd) == 0);
    return {out.reply_fds().begin(), out.reply_fds().end()};
  }
};

/// vhost-user-blk's start as QEMU sends it; `qemu_fd` is the inflight memfd QEMU keeps (-1: ask
/// for one with GET_INFLIGHT_FD, as at the first start).
void qemu_start(process& p, const mock& m, int& qemu_fd, std::uint16_t base) {
  p.send(u64_req(fr::set_protocol_features, inflight_shmfd | reply_ack));
  p.send(req(fr::set_owner));
  const std::uint64_t size = il::region_bytes(1, qsize);
  if (qemu_fd < 0) {
    const auto fds = p.send(inflight_req(fr::get_inflight_fd, 0, 0, 1, qsize));
    REQUIRE(fds.size() == 1);
    qemu_fd = ::fcntl(fds[0], F_DUPFD_CLOEXEC, 0);  // what SCM_RIGHTS gives QEMU
    REQUIRE(qemu_fd >= 0);
  }
  const int copy = ::fcntl(qemu_fd, F_DUPFD_CLOEXEC, 0);  // QEMU sends its fd again
  REQUIRE(copy >= 0);
  p.send(inflight_req(fr::set_inflight_fd, size, 0, 1, qsize), {copy});
  p.send(u64_req(fr::set_features, std::uint64_t{1} << 32 | vu::f_protocol_features));
  const auto cfg = m.config();
  const std::uint64_t gpa0 = cfg.desc_table.raw();
  p.send(mem_table({{gpa0, p.mapper.ram.size(), uaddr, 0}}), {ram_fd});
  auto user = [&](vireo::gpa g) { return uaddr + (g.raw() - gpa0); };
  p.send(state_req(fr::set_vring_num, 0, qsize));
  p.send(state_req(fr::set_vring_base, 0, base));
  p.send(addr_req(0, user(cfg.desc_table), user(cfg.device_area), user(cfg.driver_area)));
  p.send(u64_req(fr::set_vring_kick, 0x100));
  REQUIRE(p.s.vring(0).started);
}

}  // namespace

TEST_CASE("memfd inflight region: a sealed, zero-filled memfd that outlives the back-end") {
  vireo::linux_host::memfd_inflight_allocator alloc;
  const auto b = alloc.allocate(il::region_bytes(2, 256));
  REQUIRE(b.has_value());
  CHECK(alloc.live() == 1);
  struct stat st {};
  REQUIRE(::fstat(b->fd, &st) == 0);
  CHECK(static_cast<std::uint64_t>(st.st_size) == il::region_bytes(2, 256));
  const int seals = ::fcntl(b->fd, F_GET_SEALS);
  CHECK((seals & (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) ==
        (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL));
  CHECK(::ftruncate(b->fd, 4096) != 0);  // a peer cannot shrink it under our mapping
  CHECK(b->host[0] == std::byte{0});
  b->host[100] = std::byte{42};
  const int kept = ::fcntl(b->fd, F_DUPFD_CLOEXEC, 0);
  alloc.release(*b);
  CHECK(alloc.live() == 0);
  void* again = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, kept, 0);
  REQUIRE(again != MAP_FAILED);
  CHECK(static_cast<std::byte*>(again)[100] == std::byte{42});
  ::munmap(again, 4096);
  ::close(kept);
  CHECK(err(alloc.allocate(0)) == errc::invalid_argument);
}

TEST_CASE("memfd inflight region: a restarted back-end finishes what the crashed one left") {
  mock::options o;
  o.size = qsize;
  o.data_bytes = 1 << 16;
  mock m(o);
  const std::span<std::byte> ram = m.memory().host();
  int qemu_fd = -1;

  {
    auto p = std::make_unique<process>(ram);
    qemu_start(*p, m, qemu_fd, 0);
    for (std::uint8_t k = 0; k < 3; ++k) add(m, static_cast<std::uint8_t>(20 + k));
    auto a = p->dev.q->pop(), b = p->dev.q->pop(), c = p->dev.q->pop();
    REQUIRE(c.has_value());
    REQUIRE_FALSE(c->empty());
    REQUIRE(p->dev.q->push_used(a->token(), 1).has_value());
    // The process dies: the kernel drops its mappings and fds; nothing is completed, no
    // GET_VRING_BASE, no disconnect(). (SET_INFLIGHT_FD already released the allocated copy.)
    CHECK(p->alloc.live() == 0);
    const auto& inf = p->s.inflight();
    REQUIRE(inf.host != nullptr);
    p->mapper.unmap(inf.host, inf.size, inf.mmap_offset);
  }
  // QEMU restarts the vring at used.idx (GET_VRING_BASE failed).
  REQUIRE(m.used_idx() == 1);
  process p(ram);
  qemu_start(p, m, qemu_fd, 1);
  CHECK(p.alloc.live() == 0);
  REQUIRE(p.dev.q->tracking());
  CHECK(p.dev.q->pending_resubmits() == 2);
  std::vector<std::uint8_t> order;
  for (;;) {
    auto ch = p.dev.q->pop();
    REQUIRE(ch.has_value());
    if (ch->empty()) break;
    order.push_back(tag_of(*ch));
    REQUIRE(p.dev.q->push_used(ch->token(), 1).has_value());
  }
  CHECK(order == std::vector<std::uint8_t>{21, 22});
  CHECK(m.used_idx() == 3);
  const auto out = p.s.disconnect();
  for (const be::action& a : out.actions())
    if (a.kind == be::action_kind::close_fd && a.fd >= 0) ::close(a.fd);
  CHECK(p.mapper.live == 0);
  ::close(qemu_fd);
}

// ---- packed rings: the same restart over the packed region ------------------------------------

namespace {

using pmock = vireo::testing::mock_packed_driver;
using pdevice_t = tracking_device_t<table_t, vireo::ring::packed_device<table_t>>;
using psession_t =
    be::session<pdevice_t, mmap_mapper, 8, 32, vireo::linux_host::memfd_inflight_allocator>;
constexpr std::uint64_t ring_packed = std::uint64_t{1} << 34;

struct pprocess {
  mmap_mapper mapper;
  vireo::linux_host::memfd_inflight_allocator alloc;
  pdevice_t dev;
  psession_t s{dev, mapper, alloc};
  explicit pprocess(std::span<std::byte> ram) {
    mapper.ram = ram;
    dev.features |= ring_packed;
    dev.attach(s.memory());
  }
  std::vector<int> send(const std::vector<std::byte>& f, std::vector<int> fds = {}) {
    const auto msg = vu::decode(f, fds, vu::channel::main, s.codec());
    REQUIRE(msg.has_value());
    const auto out = s.handle(*msg);
    REQUIRE(out.status.has_value());
    for (const be::action& a : out.actions())
      if (a.kind == be::action_kind::close_fd && a.fd >= 0) CHECK(::close(a.fd) == 0);
    return {out.reply_fds().begin(), out.reply_fds().end()};
  }
};

/// vhost-user-blk's start in QEMU's order (SET_FEATURES, then GET/SET_INFLIGHT_FD), packed.
/// `base` is the packed vring base: next_avail | used << 16 (each slot | wrap << 15).
void qemu_start_packed(pprocess& p, const pmock& m, int& qemu_fd, std::uint32_t base) {
  p.send(u64_req(fr::set_protocol_features, inflight_shmfd | reply_ack));
  p.send(req(fr::set_owner));
  p.send(u64_req(fr::set_features, std::uint64_t{1} << 32 | ring_packed | vu::f_protocol_features));
  const std::uint64_t size = be::packed_inflight_layout::region_bytes(1, qsize);
  if (qemu_fd < 0) {
    const auto fds = p.send(inflight_req(fr::get_inflight_fd, 0, 0, 1, qsize));
    REQUIRE(fds.size() == 1);
    struct stat st {};
    REQUIRE(::fstat(fds[0], &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_size) == size);
    qemu_fd = ::fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
    REQUIRE(qemu_fd >= 0);
  }
  const int copy = ::fcntl(qemu_fd, F_DUPFD_CLOEXEC, 0);
  REQUIRE(copy >= 0);
  p.send(inflight_req(fr::set_inflight_fd, size, 0, 1, qsize), {copy});
  const auto cfg = m.config();
  const std::uint64_t gpa0 = cfg.desc_table.raw();
  p.send(mem_table({{gpa0, p.mapper.ram.size(), uaddr, 0}}), {ram_fd});
  auto user = [&](vireo::gpa g) { return uaddr + (g.raw() - gpa0); };
  p.send(state_req(fr::set_vring_num, 0, qsize));
  p.send(state_req(fr::set_vring_base, 0, base));
  p.send(addr_req(0, user(cfg.desc_table), user(cfg.device_area), user(cfg.driver_area)));
  p.send(u64_req(fr::set_vring_kick, 0x100));
  REQUIRE(p.s.vring(0).started);
}

}  // namespace

TEST_CASE("memfd inflight region, packed ring: a restarted back-end finishes what was in flight") {
  pmock::options o;
  o.size = qsize;
  o.data_bytes = 1 << 16;
  pmock m(o);
  const std::span<std::byte> ram = m.memory().host();
  int qemu_fd = -1;
  constexpr std::uint32_t wrap1 = 1u << 15;
  {
    auto p = std::make_unique<pprocess>(ram);
    qemu_start_packed(*p, m, qemu_fd, wrap1 | wrap1 << 16);
    REQUIRE(p->dev.q->tracking());
    for (std::uint8_t k = 0; k < 3; ++k) {
      const std::byte b{static_cast<std::uint8_t>(20 + k)};
      REQUIRE(m.add({vireo::const_bytes{&b, 1}}, {1}).has_value());
    }
    auto a = p->dev.q->pop(), b = p->dev.q->pop(), c = p->dev.q->pop();
    REQUIRE(c.has_value());
    REQUIRE_FALSE(c->empty());
    REQUIRE(p->dev.q->push_used(a->token(), 1).has_value());
    const auto& inf = p->s.inflight();
    REQUIRE(inf.host != nullptr);
    p->mapper.unmap(inf.host, inf.size, inf.mmap_offset);  // the process dies
  }
  // QEMU restarts the vring at the used position (slot 2, wrap 1) for both indices.
  constexpr std::uint32_t used_pos = 2 | wrap1;
  pprocess p(ram);
  qemu_start_packed(p, m, qemu_fd, used_pos | used_pos << 16);
  REQUIRE(p.dev.q->tracking());
  CHECK(p.dev.q->pending_resubmits() == 2);
  {  // a new request after the restart comes after the resubmitted ones
    const std::byte b{30};
    REQUIRE(m.add({vireo::const_bytes{&b, 1}}, {1}).has_value());
  }
  std::vector<std::uint8_t> order;
  for (;;) {
    auto ch = p.dev.q->pop();
    REQUIRE(ch.has_value());
    if (ch->empty()) break;
    order.push_back(tag_of(*ch));
    REQUIRE(p.dev.q->push_used(ch->token(), 1).has_value());
  }
  CHECK(order == std::vector<std::uint8_t>{21, 22, 30});
  for (int k = 0; k < 4; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
  }
  const auto out = p.s.disconnect();
  for (const be::action& a : out.actions())
    if (a.kind == be::action_kind::close_fd && a.fd >= 0) ::close(a.fd);
  CHECK(p.mapper.live == 0);
  ::close(qemu_fd);
}
