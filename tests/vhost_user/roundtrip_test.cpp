// SPDX-License-Identifier: Apache-2.0
// Every vhost-user request of both channels, and a reply to every front-end request, spelled out
// byte by byte: decode() accepts it with the right layout and fds, the encoders produce exactly
// those bytes, and decoding what was encoded gives the same message back.
#include "vhost_user_test_support.hpp"

#include <algorithm>
#include <set>
#include <string>

using namespace vireo_vu_test;
using vu::backend_request;
using vu::channel;
using vu::frontend_request;
using vu::payload_type;

namespace {

struct canonical {
  channel ch;
  std::uint32_t code;
  builder payload;
  std::size_t nfds;
  payload_type type;
};

builder region_a() { return builder{}.region(0x0, 0x80000000, 0x7f1200000000, 0); }
builder region_b() { return builder{}.region(0x100000000, 0x40000000, 0x7f2200000000, 0x1000); }
builder uuid() {
  builder b;
  for (std::uint8_t i = 1; i <= 16; ++i) b.u8(i);
  return b;
}

/// One valid instance of every request (front-end 1-44, back-end 1-10).
std::vector<canonical> all_requests() {
  using pt = payload_type;
  const auto m = channel::main;
  const auto b = channel::backend;
  std::vector<canonical> v = {
      {m, 1, {}, 0, pt::empty},
      {m, 2, builder{}.u64(0x140000000ull), 0, pt::u64},
      {m, 3, {}, 0, pt::empty},
      {m, 4, {}, 0, pt::empty},
      {m, 5, builder{}.u32(2).u32(0).raw(region_a().bytes()).raw(region_b().bytes()), 2,
       pt::memory_table},
      {m, 6, builder{}.u64(0x1000).u64(0), 0, pt::log},
      {m, 7, {}, 1, pt::empty},
      {m, 8, builder{}.u32(0).u32(256), 0, pt::vring_state},
      {m, 9, builder{}.u32(1).u32(1).u64(0x7f1200001000).u64(0x7f1200003000).u64(0x7f1200002000).u64(0x4000),
       0, pt::vring_addr},
      {m, 10, builder{}.u32(0).u32(5), 0, pt::vring_state},
      {m, 11, builder{}.u32(1).u32(0), 0, pt::vring_state},
      {m, 12, builder{}.u64(1), 1, pt::vring_fd},
      {m, 13, builder{}.u64(0x100), 0, pt::vring_fd},
      {m, 14, builder{}.u64(0), 1, pt::vring_fd},
      {m, 15, {}, 0, pt::empty},
      {m, 16, builder{}.u64(0x8209), 0, pt::u64},
      {m, 17, {}, 0, pt::empty},
      {m, 18, builder{}.u32(0).u32(1), 0, pt::vring_state},
      {m, 19, builder{}.u8(0x52).u8(0x54).u8(0).u8(0x12).u8(0x34).u8(0x56).zeros(2), 0, pt::u64},
      {m, 20, builder{}.u64(1500), 0, pt::u64},
      {m, 21, {}, 1, pt::empty},
      {m, 22, builder{}.u64(0x1000).u64(0x1000).u64(0x7f0000000000).u8(3).u8(2).zeros(6), 0,
       pt::iotlb},
      {m, 23, builder{}.u32(0).u32(1), 0, pt::vring_state},
      {m, 24, builder{}.u32(0).u32(8).u32(0).zeros(8), 0, pt::config},
      {m, 25, builder{}.u32(4).u32(2).u32(0).u8(0xAB).u8(0xCD), 0, pt::config},
      {m, 26, builder{}.u64(~std::uint64_t{0}).fill(24, 0x5A), 0, pt::crypto_session},
      {m, 27, builder{}.u64(7), 0, pt::u64},
      {m, 28, {}, 0, pt::empty},
      {m, 29, {}, 0, pt::empty},
      {m, 30, {}, 0, pt::empty},
      {m, 31, builder{}.u64(0).u64(0).u16(1).u16(4).zeros(4), 0, pt::inflight},
      {m, 32, builder{}.u64(0x2000).u64(0).u16(1).u16(4).zeros(4), 1, pt::inflight},
      {m, 33, {}, 1, pt::empty},
      {m, 34, {}, 0, pt::empty},
      {m, 35, builder{}.u32(0).u32(0), 0, pt::vring_state},
      {m, 36, {}, 0, pt::empty},
      {m, 37, builder{}.u64(0).raw(region_b().bytes()), 1, pt::single_region},
      {m, 38, builder{}.u64(0).raw(region_b().bytes()), 0, pt::single_region},
      {m, 39, builder{}.u64(0x0F), 0, pt::u64},
      {m, 40, {}, 0, pt::empty},
      {m, 41, uuid(), 0, pt::shared_object},
      {m, 42, builder{}.u32(0).u32(0), 1, pt::device_state},
      {m, 43, {}, 0, pt::empty},
      {m, 44, {}, 0, pt::empty},
      {b, 1, builder{}.u64(0x1000).u64(0).u64(0).u8(1).u8(1).zeros(6), 0, pt::iotlb},
      {b, 2, {}, 0, pt::empty},
      {b, 3, builder{}.u64(1).u64(4096).u64(0), 1, pt::vring_area},
      {b, 4, builder{}.u32(0).u32(0), 0, pt::vring_state},
      {b, 5, builder{}.u32(1).u32(0), 0, pt::vring_state},
      {b, 6, uuid(), 0, pt::shared_object},
      {b, 7, uuid(), 0, pt::shared_object},
      {b, 8, uuid(), 0, pt::shared_object},
      {b, 9, builder{}.u8(0).zeros(7).u64(0).u64(0x1000).u64(0x1000).u64(1), 1, pt::shmem_map},
      {b, 10, builder{}.u8(0).zeros(7).u64(0).u64(0x1000).u64(0x1000).u64(0), 0, pt::shmem_map},
  };
  return v;
}

}  // namespace

TEST_CASE("round trip: the table holds every request code of both channels once") {
  std::set<std::pair<int, std::uint32_t>> seen;
  for (const auto& c : all_requests()) CHECK(seen.insert({static_cast<int>(c.ch), c.code}).second);
  CHECK(seen.size() == 44 + 10);
}

TEST_CASE("round trip: every request decodes, and encode_request writes exactly its bytes") {
  std::array<std::byte, 4200> buf{};
  for (const auto& c : all_requests()) {
    CAPTURE(vu::name(c.ch, c.code));
    for (bool need_reply : {false, true}) {
      CAPTURE(need_reply);
      const auto bytes = frame(c.code, need_reply ? req_need_reply : req_flags, c.payload);
      const auto m = dec(bytes, c.nfds, c.ch);
      REQUIRE(m.has_value());
      CHECK(m->request() == c.code);
      CHECK(m->ch == c.ch);
      CHECK_FALSE(m->is_reply);
      CHECK(m->need_reply() == need_reply);
      CHECK(m->type == c.type);
      CHECK(m->hdr.size.get() == c.payload.size());
      CHECK(m->payload.size() == c.payload.size());
      CHECK(m->payload.data() == bytes.data() + vu::header_size);  // a view, not a copy
      REQUIRE(m->fd_count == c.nfds);
      for (std::size_t i = 0; i < c.nfds; ++i) CHECK(m->fds[i] == fake_fds[i]);
      // Encode from the payload: the same bytes; and again from the decoded message.
      const auto n = vu::encode_request(c.ch, c.code, c.payload.bytes(), c.nfds, buf, need_reply);
      REQUIRE(n.has_value());
      CHECK(written(buf, *n) == bytes);
      const auto n2 = vu::encode_request(m->ch, m->request(), m->payload, m->fd_count, buf,
                                         m->need_reply());
      REQUIRE(n2.has_value());
      CHECK(written(buf, *n2) == bytes);
    }
  }
}

TEST_CASE("round trip: typed request encoders") {
  std::array<std::byte, 4200> buf{};
  SUBCASE("empty payload with and without fd") {
    auto n = vu::encode(frontend_request::get_features, 0, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(1, req_flags));
    n = vu::encode(frontend_request::set_backend_req_fd, 1, buf, true);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(21, req_need_reply));
    n = vu::encode(backend_request::config_change_msg, 0, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(2, req_flags));
  }
  SUBCASE("fixed layouts") {
    vu::vring_state s{};
    s.index.set(0);
    s.num.set(4);
    auto n = vu::encode(frontend_request::set_vring_num, s, 0, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(8, req_flags, builder{}.u32(0).u32(4)));
    vu::u64_payload f{};
    f.value.set(vu::f_protocol_features);
    n = vu::encode(frontend_request::set_features, f, 0, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(2, req_flags, builder{}.u64(0x40000000)));
    vu::vring_area a{};
    a.u64.set(vu::vring_fd_bits::no_fd | 1);
    n = vu::encode(backend_request::vring_host_notifier_msg, a, 0, buf, true);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(3, req_need_reply, builder{}.u64(0x101).u64(0).u64(0)));
    // A layout of the wrong size is refused as the receiver would refuse it.
    CHECK(err(vu::encode(frontend_request::set_vring_addr, s, 0, buf)) == errc::vhost_payload_size);
  }
  SUBCASE("F7 encode_vring_fd: the no-fd bit is set iff no fd is attached") {
    auto n = vu::encode_vring_fd(frontend_request::set_vring_call, 1, true, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(13, req_flags, builder{}.u64(1)));
    n = vu::encode_vring_fd(frontend_request::set_vring_kick, 0, false, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(12, req_flags, builder{}.u64(0x100)));
    CHECK(err(vu::encode_vring_fd(frontend_request::set_vring_num, 0, true, buf)) ==
          errc::invalid_argument);
    vu::codec_options two;
    two.num_queues = 2;
    CHECK(err(vu::encode_vring_fd(frontend_request::set_vring_err, 2, true, buf, false, two)) ==
          errc::vhost_vring_index);
  }
  SUBCASE("F9 encode_set_mem_table: 1..8 regions, one fd each") {
    std::array<vu::memory_region, 9> regions{};
    for (std::size_t i = 0; i < regions.size(); ++i) {
      regions[i].guest_phys_addr.set(i * 0x100000);
      regions[i].memory_size.set(0x100000);
      regions[i].userspace_addr.set(0x7f0000000000 + i * 0x100000);
    }
    auto n = vu::encode_set_mem_table(std::span(regions).first(2), buf, true);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(5, req_need_reply,
                                    builder{}.u32(2).u32(0).region(0, 0x100000, 0x7f0000000000, 0)
                                        .region(0x100000, 0x100000, 0x7f0000100000, 0)));
    CHECK(vu::encode_set_mem_table(std::span(regions).first(8), buf).has_value());
    CHECK(err(vu::encode_set_mem_table(std::span(regions), buf)) == errc::vhost_region_count);
    CHECK(err(vu::encode_set_mem_table(std::span(regions).first(0), buf)) ==
          errc::vhost_region_count);
    regions[1].memory_size.set(0);
    CHECK(err(vu::encode_set_mem_table(std::span(regions).first(2), buf)) == errc::vhost_zero_size);
  }
  SUBCASE("XEN_MMAP memory table: 40-byte regions") {
    vu::codec_options xen;
    xen.protocol_features = vu::bit(vu::protocol_feature::xen_mmap);
    std::array<vu::memory_region_xen, 1> regions{};
    regions[0].region.memory_size.set(0x1000);
    regions[0].xen_mmap_flags.set(vu::xen_mmap_flag::foreign);
    regions[0].domid.set(3);
    const auto n = vu::encode_set_mem_table(std::span(regions), buf, false, xen);
    REQUIRE(n.has_value());
    const auto expect = frame(5, req_flags, builder{}.u32(1).u32(0).region(0, 0x1000, 0, 0).u32(1).u32(3));
    CHECK(written(buf, *n) == expect);
    const auto m = dec(expect, 1, channel::main, xen);
    REQUIRE(m.has_value());
    const auto t = vu::memory_table_of(*m);
    CHECK(t.xen);
    CHECK(t.region_xen(0).domid.get() == 3);
    // The plain layout is wrong once XEN_MMAP is on, and the Xen one without it.
    CHECK(err(vu::encode_set_mem_table(std::span(regions), buf)) == errc::vhost_payload_size);
  }
  SUBCASE("encode_config_request") {
    const std::array<std::byte, 8> zeros{};
    auto n = vu::encode_config_request(frontend_request::get_config, 0, vu::config_flags::frontend,
                                       zeros, buf);
    REQUIRE(n.has_value());
    // QEMU 7.2 vhost-user-gpio at realize: hdr.size 20 (digest §7.1 step 10).
    CHECK(written(buf, *n) == frame(24, req_flags, builder{}.u32(0).u32(8).u32(0).zeros(8)));
    CHECK(*n == vu::header_size + 20);
    CHECK(err(vu::encode_config_request(frontend_request::set_vring_num, 0,
                                        vu::config_flags::frontend, zeros, buf)) ==
          errc::invalid_argument);
    CHECK(err(vu::encode_config_request(frontend_request::set_config, 250,
                                        vu::config_flags::frontend, zeros, buf)) ==
          errc::vhost_config_range);
  }
  SUBCASE("no_space: nothing fits in a short buffer") {
    std::array<std::byte, 19> small{};
    vu::vring_state s{};
    s.num.set(4);
    CHECK(err(vu::encode(frontend_request::set_vring_num, s, 0, std::span(small))) == errc::no_space);
    CHECK(err(vu::encode(frontend_request::get_features, 0, std::span(small).first(11))) ==
          errc::no_space);
  }
}

TEST_CASE("round trip: typed views of decoded payloads") {
  const auto mt = frame(5, req_flags, builder{}.u32(2).u32(0).raw(region_a().bytes()).raw(region_b().bytes()));
  const auto m = dec(mt, 2);
  REQUIRE(m.has_value());
  const auto t = vu::memory_table_of(*m);
  CHECK(t.count == 2);
  CHECK_FALSE(t.xen);
  CHECK(t.region(1).guest_phys_addr.get() == 0x100000000);
  CHECK(t.region(1).mmap_offset.get() == 0x1000);

  // Each message views its frame: the frames are kept alive while the views are read.
  const auto sr_bytes = frame(37, req_flags, builder{}.u64(0).raw(region_b().bytes()));
  const auto sr = dec(sr_bytes, 1);
  REQUIRE(sr.has_value());
  CHECK(vu::single_region_of(*sr).userspace_addr.get() == 0x7f2200000000);

  const auto cfg_bytes = frame(25, req_flags, builder{}.u32(4).u32(2).u32(1).u8(0xAB).u8(0xCD));
  const auto cfg = dec(cfg_bytes);
  REQUIRE(cfg.has_value());
  const auto cv = vu::config_of(*cfg);
  CHECK(cv.head.offset.get() == 4);
  CHECK(cv.head.flags.get() == 1);
  REQUIRE(cv.data.size() == 2);
  CHECK(cv.data[1] == std::byte{0xCD});

  const auto kick_bytes = frame(12, req_flags, builder{}.u64(7));
  const auto kick = dec(kick_bytes, 1);
  REQUIRE(kick.has_value());
  CHECK(vu::vring_index_of(*kick) == 7);
  CHECK(vu::u64_of(*kick) == 7);
  const auto addr_bytes = frame(9, req_flags, builder{}.u32(3).u32(0).u64(0).u64(0).u64(0).u64(0));
  const auto addr = dec(addr_bytes);
  REQUIRE(addr.has_value());
  CHECK(vu::vring_index_of(*addr) == 3);
  const auto area_bytes = frame(3, req_flags, builder{}.u64(0x105).u64(0).u64(0));
  const auto area = dec(area_bytes, 0, channel::backend);
  REQUIRE(area.has_value());
  CHECK(vu::vring_index_of(*area) == 5);
}

namespace {

struct canonical_reply {
  std::uint32_t code;
  builder payload;
  std::size_t nfds;
  payload_type type;
};

/// A valid reply to every front-end request (inherent layouts; u64 status for acks).
std::vector<canonical_reply> all_replies() {
  using pt = payload_type;
  std::vector<canonical_reply> v;
  for (std::uint32_t c = 1; c <= 44; ++c) v.push_back({c, builder{}.u64(0), 0, pt::u64});
  auto set = [&](std::uint32_t c, builder p, std::size_t n, pt t) { v[c - 1] = {c, std::move(p), n, t}; };
  set(1, builder{}.u64(0x140000000ull), 0, pt::u64);
  set(11, builder{}.u32(1).u32(0x10), 0, pt::vring_state);
  set(24, builder{}.u32(0).u32(8).u32(0).u16(8).zeros(6), 0, pt::config);
  set(26, builder{}.u64(1).fill(24, 0x5A), 0, pt::crypto_session);
  set(28, {}, 1, pt::empty);
  set(31, builder{}.u64(0x1000).u64(0).u16(1).u16(4).zeros(4), 1, pt::inflight);
  set(41, {}, 1, pt::empty);
  set(42, builder{}.u64(0x100), 0, pt::u64);
  builder shmem;
  shmem.u32(2).u32(0).u64(0x100000).u64(0x200000).zeros(254 * 8);
  set(44, shmem, 0, pt::shmem_config);
  return v;
}

}  // namespace

TEST_CASE("round trip: a reply to every front-end request decodes and re-encodes exactly") {
  std::array<std::byte, 4200> buf{};
  for (const auto& r : all_replies()) {
    CAPTURE(vu::name(channel::main, r.code));
    const auto bytes = frame(r.code, rep_flags, r.payload);
    const auto m = dec_reply(bytes, r.code, r.nfds);
    REQUIRE(m.has_value());
    CHECK(m->is_reply);
    CHECK(m->type == r.type);
    CHECK(m->fd_count == r.nfds);
    // The side that answers: decode the request with NEED_REPLY, encode this reply for it.
    builder req_payload;
    std::size_t req_fds = 0;
    for (const auto& c : all_requests())
      if (c.ch == channel::main && c.code == r.code) {
        req_payload = c.payload;
        req_fds = c.nfds;
      }
    const auto req_bytes = frame(r.code, req_need_reply, req_payload);
    const auto req = dec(req_bytes, req_fds);
    REQUIRE(req.has_value());
    const auto n = vu::encode_reply(*req, r.payload.bytes(), r.nfds, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == bytes);
  }
}

TEST_CASE("round trip: back-end channel replies (front-end → back-end)") {
  std::array<std::byte, 4200> buf{};
  for (std::uint32_t c = 1; c <= 10; ++c) {
    CAPTURE(c);
    const bool lookup = c == code(backend_request::shared_object_lookup);
    const auto bytes = frame(c, rep_flags, builder{}.u64(0));
    const auto m = dec_reply(bytes, c, lookup ? 1 : 0, channel::backend);
    REQUIRE(m.has_value());
    CHECK(m->type == payload_type::u64);
    // Lookup: the fd comes with success only.
    if (lookup) {
      CHECK(err(dec_reply(bytes, c, 0, channel::backend)) == errc::vhost_missing_fd);
      const auto failed = frame(c, rep_flags, builder{}.u64(1));
      CHECK(dec_reply(failed, c, 0, channel::backend).has_value());
      CHECK(err(dec_reply(failed, c, 1, channel::backend)) == errc::vhost_unexpected_fd);
    }
    for (const auto& r : all_requests()) {
      if (r.ch != channel::backend || r.code != c) continue;
      const auto req_bytes = frame(c, req_need_reply, r.payload);
      const auto req = dec(req_bytes, r.nfds, channel::backend);
      REQUIRE(req.has_value());
      const auto n = vu::encode_u64_reply(*req, 0, buf, lookup ? 1 : 0);
      REQUIRE(n.has_value());
      CHECK(written(buf, *n) == bytes);
    }
  }
}
