// SPDX-License-Identifier: Apache-2.0
// The front-end's inflight support (INFLIGHT_SHMFD, digest §6.4) against a scripted peer:
// GET_INFLIGHT_FD's region is kept (its fd duplicated), SET_INFLIGHT_FD sends it back, and a
// reconnect sends it to the new back-end before the memory table and the rings (QEMU's
// vhost-user-blk order); refusals and a back-end without the feature.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "frontend_test_support.hpp"

namespace {

using namespace vireo_fe_test;

constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t inflight_offer =
    vu::bit(pf::inflight_shmfd) | vu::bit(pf::reply_ack) | vu::bit(pf::mq);

struct rig {
  socket_ends ends = make_ends();
  frontend_t fe;
  scripted_peer peer;
  explicit rig(lh::frontend_options o = {})
      : fe(open_frontend(std::move(ends.frontend), o)), peer(std::move(ends.peer)) {}

  /// negotiate() with INFLIGHT_SHMFD, REPLY_ACK and MQ offered, then SET_FEATURES.
  void negotiate(scripted_peer& p, std::uint64_t protocol = inflight_offer) {
    p.reply_u64(fr::get_features, version_1 | bit30);
    p.reply_u64(fr::get_protocol_features, protocol);
    if ((protocol & vu::bit(pf::mq)) != 0) p.reply_u64(fr::get_queue_num, 1);
    p.ack(fr::set_owner);
    p.ack(fr::set_features);
  }
};

/// GET_INFLIGHT_FD's reply: the 24-byte description and, when mmap_size != 0, the fd.
void reply_inflight(scripted_peer& p, std::uint64_t size, std::uint64_t offset,
                    std::uint16_t queues, std::uint16_t queue_size, int fd) {
  vu::inflight r{};
  r.mmap_size.set(size);
  r.mmap_offset.set(offset);
  r.num_queues.set(queues);
  r.queue_size.set(queue_size);
  const auto bytes = vireo_socket_test::frame(code(fr::get_inflight_fd), vu::flag::reply_flags,
                                              vireo::as_bytes_of(r));
  if (fd >= 0) p.raw(bytes, std::span{&fd, 1});
  else p.raw(bytes);
}

vu::inflight payload_of(const seen_request& s) {
  vu::inflight r{};
  REQUIRE(s.payload.size() == sizeof r);
  std::memcpy(&r, s.payload.data(), sizeof r);
  return r;
}

/// The acks of one ring start with REPLY_ACK: NUM, BASE, ADDR, CALL, ERR, KICK, ENABLE.
void ring_acks(scripted_peer& p) {
  for (fr x : {fr::set_vring_num, fr::set_vring_base, fr::set_vring_addr, fr::set_vring_call,
               fr::set_vring_err, fr::set_vring_kick, fr::set_vring_enable})
    p.ack(x);
}

lh::unique_fd region_file(std::uint64_t size) {
  lh::unique_fd fd{::memfd_create("inflight", MFD_CLOEXEC)};
  REQUIRE(fd.valid());
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  return fd;
}

}  // namespace

TEST_CASE("frontend: GET_INFLIGHT_FD keeps the region, SET_INFLIGHT_FD sends it back") {
  rig r;
  r.negotiate(r.peer);
  REQUIRE(r.fe.negotiate());
  CHECK(r.fe.negotiated(pf::inflight_shmfd));
  REQUIRE(r.fe.set_features(version_1));
  CHECK_FALSE(r.fe.inflight());
  CHECK(err(r.fe.set_inflight_fd()) == errc::vhost_out_of_order);  // nothing to send yet

  const lh::unique_fd region = region_file(4096);
  reply_inflight(r.peer, 4096, 64, 1, 128, region.get());
  r.peer.ack(fr::set_inflight_fd);
  REQUIRE(r.fe.get_inflight_fd(128));
  REQUIRE(r.fe.inflight());
  const lh::inflight_region kept = *r.fe.inflight();
  CHECK(kept.size == 4096);
  CHECK(kept.mmap_offset == 64);
  CHECK(kept.num_queues == 1);
  CHECK(kept.queue_size == 128);
  // The front-end's own duplicate of the same file.
  CHECK(kept.fd >= 0);
  CHECK(kept.fd != region.get());
  struct stat a {}, b {};
  REQUIRE(::fstat(kept.fd, &a) == 0);
  REQUIRE(::fstat(region.get(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  REQUIRE(r.fe.set_inflight_fd());

  const auto seen = r.peer.requests();
  REQUIRE(seen.size() >= 2);
  const seen_request& get = seen[seen.size() - 2];
  const seen_request& set = seen[seen.size() - 1];
  CHECK(get.code == code(fr::get_inflight_fd));
  CHECK(get.fds == 0);
  CHECK(get.flags == vu::flag::version);  // an inherent reply: no NEED_REPLY
  CHECK(payload_of(get).num_queues.get() == 1);
  CHECK(payload_of(get).queue_size.get() == 128);
  CHECK(payload_of(get).mmap_size.get() == 0);
  CHECK(set.code == code(fr::set_inflight_fd));
  CHECK(set.fds == 1);
  CHECK(set.flags == (vu::flag::version | vu::flag::need_reply));
  CHECK(payload_of(set).mmap_size.get() == 4096);
  CHECK(payload_of(set).mmap_offset.get() == 64);
  CHECK(payload_of(set).num_queues.get() == 1);
  CHECK(payload_of(set).queue_size.get() == 128);

  r.fe.drop_inflight();
  CHECK_FALSE(r.fe.inflight());
}

TEST_CASE("frontend: GET_INFLIGHT_FD refusals: not negotiated, queue size 0, no region") {
  SUBCASE("not offered: refused locally, nothing sent") {
    rig r;
    r.negotiate(r.peer, vu::bit(pf::reply_ack) | vu::bit(pf::mq));
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    const std::size_t before = r.peer.requests().size();
    CHECK(before > 0);
    CHECK(err(r.fe.get_inflight_fd(64)) == errc::vhost_not_negotiated);
    CHECK(r.peer.requests().empty());
    CHECK(r.fe.connected());
  }
  SUBCASE("the caller leaves it out") {
    lh::frontend_options o;
    o.protocol_features = lh::frontend_protocol_features & ~vu::bit(pf::inflight_shmfd);
    rig r{o};
    r.negotiate(r.peer);
    REQUIRE(r.fe.negotiate());
    CHECK_FALSE(r.fe.negotiated(pf::inflight_shmfd));
  }
  SUBCASE("queue size 0, before SET_OWNER") {
    rig r;
    CHECK(err(r.fe.get_inflight_fd(64)) == errc::vhost_not_owner);
    r.negotiate(r.peer);
    REQUIRE(r.fe.negotiate());
    CHECK(err(r.fe.get_inflight_fd(0)) == errc::vhost_zero_size);
  }
  SUBCASE("mmap_size 0: the back-end has no region; nothing kept, the connection stays") {
    rig r;
    r.negotiate(r.peer);
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    reply_inflight(r.peer, 0, 0, 1, 64, -1);
    CHECK(err(r.fe.get_inflight_fd(64)) == errc::host_request_failed);
    CHECK_FALSE(r.fe.inflight());
    CHECK(r.fe.connected());
  }
  SUBCASE("a region without its fd is a malformed reply (F5): the connection closes") {
    rig r;
    r.negotiate(r.peer);
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    reply_inflight(r.peer, 4096, 0, 1, 64, -1);
    CHECK(err(r.fe.get_inflight_fd(64)) == errc::vhost_missing_fd);
    CHECK_FALSE(r.fe.inflight());
    CHECK_FALSE(r.fe.connected());
  }
}

TEST_CASE("frontend: reconnect sends SET_INFLIGHT_FD after the features, before memory and rings") {
  rig r;
  ram_t ram = make_ram();
  r.negotiate(r.peer);
  REQUIRE(r.fe.negotiate());
  REQUIRE(r.fe.set_features(version_1));
  const lh::unique_fd region = region_file(8192);
  reply_inflight(r.peer, 8192, 0, 1, 16, region.get());
  r.peer.ack(fr::set_inflight_fd);
  REQUIRE(r.fe.get_inflight_fd(16));
  REQUIRE(r.fe.set_inflight_fd());
  r.peer.ack(fr::set_mem_table);
  REQUIRE(r.fe.set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, 16, version_1);
  ring_acks(r.peer);
  REQUIRE(r.fe.start_vring(0, cfg));
  (void)r.peer.requests();
  // The back-end dies without GET_VRING_BASE: the caller supplies the base.
  r.peer.close();
  REQUIRE(r.fe.set_resume_base(0, 0));

  auto ends = make_ends();
  scripted_peer next{std::move(ends.peer)};
  r.negotiate(next);
  next.ack(fr::set_inflight_fd);
  next.ack(fr::set_mem_table);
  ring_acks(next);
  REQUIRE(r.fe.reconnect(std::move(ends.frontend)));
  const auto seen = next.requests();
  REQUIRE(seen.size() >= 9);
  CHECK(codes(seen) ==
        codes({fr::get_features, fr::get_protocol_features, fr::set_protocol_features,
               fr::get_queue_num, fr::set_owner, fr::set_features, fr::set_inflight_fd,
               fr::set_mem_table, fr::set_vring_num, fr::set_vring_base, fr::set_vring_addr,
               fr::set_vring_call, fr::set_vring_err, fr::set_vring_kick,
               fr::set_vring_enable}));
  const seen_request& set = seen[6];
  CHECK(set.fds == 1);
  CHECK(payload_of(set).mmap_size.get() == 8192);
  CHECK(payload_of(set).queue_size.get() == 16);

  SUBCASE("a new back-end without INFLIGHT_SHMFD gets none (QEMU skips it too)") {
    r.fe.disconnect();
    REQUIRE(r.fe.set_resume_base(0, 0));
    auto e3 = make_ends();
    scripted_peer third{std::move(e3.peer)};
    r.negotiate(third, vu::bit(pf::reply_ack) | vu::bit(pf::mq));
    third.ack(fr::set_mem_table);
    ring_acks(third);
    REQUIRE(r.fe.reconnect(std::move(e3.frontend)));
    for (const auto& s : third.requests()) CHECK(s.code != code(fr::set_inflight_fd));
    CHECK(r.fe.inflight());  // kept for a later back-end
  }
}
