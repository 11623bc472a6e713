// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/vhost_user/reply.hpp: flags exactly 0x5 (never NEED_REPLY), the request code
// echoed, a reply only when one is due (B8), REPLY_ACK statuses (B9), GET_CONFIG sizes (B18).
#include "vhost_user_test_support.hpp"

#include <deque>

using namespace vireo_vu_test;
using vu::channel;
using vu::frontend_request;
using vu::payload_type;

namespace {

vu::message request(std::uint32_t c, std::uint32_t flags, const builder& payload = {},
                    std::size_t nfds = 0, channel ch = channel::main,
                    const vu::codec_options& o = {}) {
  // The frame must outlive the message: keep it in a per-call static pool.
  static std::deque<std::vector<std::byte>> pool;
  pool.push_back(frame(c, flags, payload));
  auto m = vu::decode(pool.back(), fds(nfds), ch, o);
  REQUIRE(m.has_value());
  return *m;
}

}  // namespace

TEST_CASE("B8 inherent replies: flags 0x5 even when the request had NEED_REPLY; code echoed") {
  std::array<std::byte, 4200> buf{};
  for (std::uint32_t flags : {req_flags, req_need_reply}) {
    CAPTURE(flags);
    const auto get_features = request(1, flags);
    CHECK(vu::reply_expected(get_features));
    CHECK(vu::reply_payload_type(get_features) == payload_type::u64);
    const auto n = vu::encode_u64_reply(get_features, 0x140000000ull, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(1, 0x5, builder{}.u64(0x140000000ull)));
    // Only the inherent reply: a REPLY_ACK ack on top is refused (one reply only).
    CHECK(err(vu::encode_ack(get_features, true, buf)) == errc::invalid_argument);
  }
  // GET_VRING_BASE answers with a vring state, not a u64.
  const auto gvb = request(11, req_flags, builder{}.u32(1).u32(0));
  CHECK(vu::reply_payload_type(gvb) == payload_type::vring_state);
  CHECK(err(vu::encode_u64_reply(gvb, 5, buf)) == errc::invalid_argument);
  vu::vring_state s{};
  s.index.set(1);
  s.num.set(42);
  const auto n = vu::encode_reply(gvb, s, 0, buf);
  REQUIRE(n.has_value());
  CHECK(written(buf, *n) == frame(11, 0x5, builder{}.u32(1).u32(42)));
}

TEST_CASE("B8 no reply without NEED_REPLY for messages that have none of their own") {
  std::array<std::byte, 4200> buf{};
  for (std::uint32_t c : {2u, 3u, 8u, 13u, 16u, 18u, 25u, 39u}) {
    CAPTURE(c);
    builder p;
    std::size_t nfds = 0;
    if (c == 2 || c == 16 || c == 39) p.u64(1);
    if (c == 8 || c == 18) p.u32(0).u32(1);
    if (c == 13) p.u64(0x100);
    if (c == 25) p.u32(0).u32(1).u32(0).u8(0);
    const auto quiet = request(c, req_flags, p, nfds);
    CHECK_FALSE(vu::reply_expected(quiet));
    CHECK(err(vu::encode_ack(quiet, true, buf)) == errc::vhost_reply_not_expected);
    CHECK(err(vu::encode_u64_reply(quiet, 0, buf)) == errc::vhost_reply_not_expected);
    CHECK(err(vu::encode_reply(quiet, vireo::const_bytes{}, 0, buf)) == errc::vhost_reply_not_expected);
    const auto asked = request(c, req_need_reply, p, nfds);
    CHECK(vu::reply_expected(asked));
    const auto n = vu::encode_ack(asked, true, buf);
    REQUIRE(n.has_value());
    CHECK(written(buf, *n) == frame(c, 0x5, builder{}.u64(0)));
  }
}

TEST_CASE("B9 REPLY_ACK failure is a non-zero u64, framing intact") {
  std::array<std::byte, 4200> buf{};
  const auto mtu = request(20, req_need_reply, builder{}.u64(70000));
  const auto n = vu::encode_ack(mtu, false, buf);
  REQUIRE(n.has_value());
  CHECK(written(buf, *n) == frame(20, 0x5, builder{}.u64(1)));
  const auto bytes = written(buf, *n);
  const auto back = dec_reply(bytes, 20);
  REQUIRE(back.has_value());
  CHECK(vu::u64_of(*back) == 1);
  // Any status value can be sent through encode_u64_reply.
  const auto n2 = vu::encode_u64_reply(mtu, 0x16, buf);
  REQUIRE(n2.has_value());
  CHECK(written(buf, *n2) == frame(20, 0x5, builder{}.u64(0x16)));
}

TEST_CASE("B8 SET_LOG_BASE: a u64 reply iff LOG_SHMFD; back-end channel replies") {
  std::array<std::byte, 4200> buf{};
  vu::codec_options shm;
  shm.protocol_features = vu::bit(vu::protocol_feature::log_shmfd);
  const auto log = builder{}.u64(0x1000).u64(0);
  const auto with_shm = request(6, req_flags, log, 1, channel::main, shm);
  CHECK(vu::reply_expected(with_shm, shm));
  const auto n = vu::encode_u64_reply(with_shm, 0, buf, 0, shm);
  REQUIRE(n.has_value());
  CHECK(written(buf, *n) == frame(6, 0x5, builder{}.u64(0)));
  CHECK(err(vu::encode_ack(with_shm, true, buf, shm)) == errc::invalid_argument);
  const auto plain = request(6, req_flags, log);
  CHECK_FALSE(vu::reply_expected(plain));
  // Back-end channel: CONFIG_CHANGE_MSG gets an ack only with NEED_REPLY; LOOKUP always, + fd.
  const auto change = request(2, req_flags, {}, 0, channel::backend);
  CHECK_FALSE(vu::reply_expected(change));
  const auto change_ack = request(2, req_need_reply, {}, 0, channel::backend);
  const auto n2 = vu::encode_ack(change_ack, true, buf);
  REQUIRE(n2.has_value());
  CHECK(written(buf, *n2) == frame(2, 0x5, builder{}.u64(0)));
  builder uuid;
  uuid.fill(16, 7);
  const auto lookup = request(8, req_flags, uuid, 0, channel::backend);
  CHECK(vu::reply_expected(lookup));
  CHECK(vu::encode_u64_reply(lookup, 0, buf, 1).has_value());
  CHECK(err(vu::encode_u64_reply(lookup, 0, buf, 0)) == errc::vhost_missing_fd);
  CHECK(err(vu::encode_u64_reply(lookup, 1, buf, 1)) == errc::vhost_unexpected_fd);
}

TEST_CASE("B18 GET_CONFIG reply: the requested size, offset and flags echoed; or empty on error") {
  std::array<std::byte, 4200> buf{};
  const auto get = request(24, req_flags, builder{}.u32(0).u32(8).u32(0).zeros(8));
  const std::array<std::byte, 8> cfg{std::byte{8}, std::byte{0}, std::byte{0}, std::byte{0},
                                     std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
  const auto n = vu::encode_config_reply(get, cfg, buf);
  REQUIRE(n.has_value());
  // hdr.size must be exactly 12 + 8 for QEMU 7.2 (digest §7.1 step 10).
  CHECK(written(buf, *n) == frame(24, 0x5, builder{}.u32(0).u32(8).u32(0).u16(8).zeros(6)));
  CHECK(*n == vu::header_size + 20);
  CHECK(err(vu::encode_config_reply(get, std::span(cfg).first(4), buf)) == errc::invalid_argument);
  const auto e = vu::encode_config_error_reply(get, buf);
  REQUIRE(e.has_value());
  CHECK(written(buf, *e) == frame(24, 0x5));
  const auto not_config = request(1, req_flags);
  CHECK(err(vu::encode_config_reply(not_config, cfg, buf)) == errc::invalid_argument);
  CHECK(err(vu::encode_config_error_reply(not_config, buf)) == errc::invalid_argument);
}

TEST_CASE("replies with fds and layouts: POSTCOPY_ADVISE, GET_INFLIGHT_FD, SET_DEVICE_STATE_FD") {
  std::array<std::byte, 4200> buf{};
  const auto advise = request(28, req_flags);
  CHECK(vu::encode_reply(advise, vireo::const_bytes{}, 1, buf).has_value());
  CHECK(err(vu::encode_reply(advise, vireo::const_bytes{}, 0, buf)) == errc::vhost_missing_fd);
  const auto get_inflight = request(31, req_flags, builder{}.u64(0).u64(0).u16(1).u16(4).zeros(4));
  CHECK(vu::reply_payload_type(get_inflight) == payload_type::inflight);
  vu::inflight f{};
  f.mmap_size.set(0x1000);
  f.num_queues.set(1);
  f.queue_size.set(4);
  CHECK(vu::encode_reply(get_inflight, f, 1, buf).has_value());
  CHECK(err(vu::encode_reply(get_inflight, f, 0, buf)) == errc::vhost_missing_fd);
  const auto dev_state = request(42, req_flags, builder{}.u32(0).u32(0), 1);
  CHECK(vu::encode_u64_reply(dev_state, 0, buf, 1).has_value());
  CHECK(vu::encode_u64_reply(dev_state, vu::device_state_reply_bits::no_fd, buf).has_value());
  CHECK(err(vu::encode_u64_reply(dev_state, 1, buf, 1)) == errc::vhost_bad_value);
}

TEST_CASE("postcopy replies: SET_MEM_TABLE answered with the mapping bases, no NEED_REPLY needed") {
  std::array<std::byte, 4200> buf{};
  vu::codec_options listening;
  listening.postcopy_listening = true;
  const builder table = builder{}.u32(1).u32(0).region(0, 0x1000, 0x7f0000000000, 0);
  const auto set = request(5, req_flags, table, 1, channel::main, listening);
  CHECK(vu::reply_expected(set, listening));
  CHECK_FALSE(vu::reply_expected(set));
  CHECK(vu::reply_payload_type(set, listening) == payload_type::memory_table);
  const builder bases = builder{}.u32(1).u32(0).region(0, 0x1000, 0x7fab00000000, 0);
  const auto n = vu::encode_reply(set, bases.bytes(), 0, buf, listening);
  REQUIRE(n.has_value());
  CHECK(written(buf, *n) == frame(5, 0x5, bases));
  CHECK(err(vu::encode_ack(set, true, buf, listening)) == errc::invalid_argument);
  // QEMU's acknowledgement of that reply gets nothing back.
  const auto ack = request(5, req_flags, builder{}.u64(0), 0, channel::main, listening);
  CHECK_FALSE(vu::reply_expected(ack, listening));
}

TEST_CASE("replies to replies are refused") {
  std::array<std::byte, 4200> buf{};
  const auto f = frame(1, 0x5, builder{}.u64(0));
  const auto reply = vu::decode_reply(f, {}, channel::main, 1);
  REQUIRE(reply.has_value());
  CHECK_FALSE(vu::reply_expected(*reply));
  CHECK(err(vu::encode_reply(*reply, vireo::const_bytes{}, 0, buf)) == errc::invalid_argument);
}
