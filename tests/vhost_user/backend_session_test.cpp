// SPDX-License-Identifier: Apache-2.0
// Back-end session rules (vhost-user digest §9 B7-B20, §10 malformed cases): negotiation, reply
// discipline, vring state machine, fd replacement, config, RESET_OWNER and disconnect. Every test
// runs through the harness, which checks after each message that no fd leaked.
#include "backend_test_support.hpp"

using namespace vireo_vu_test;
using be::action_kind;

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t ring_packed = std::uint64_t{1} << 34;
constexpr std::uint64_t uaddr = 0x5555'0000'0000;
// MQ, REPLY_ACK, BACKEND_REQ, CONFIG, CONFIGURE_MEM_SLOTS, STATUS
constexpr std::uint64_t all_protocol = 0x18229;

fake_device two_queues() {
  fake_device d;
  d.features = version_1 | ring_packed;
  d.queues = 2;
  d.max_size = 256;
  d.config = {1, 2, 3, 4, 5, 6, 7, 8};
  d.read_only = {true, true, false, false, false, false, false, false};
  return d;
}

/// Owned, protocol features acked (MQ, REPLY_ACK, BACKEND_REQ, CONFIG, STATUS; memory through
/// SET_MEM_TABLE),
/// one 1 MiB region at guest 0 / user `uaddr`.
void setup(harness& h, std::uint64_t features = version_1 | bit30) {
  h.send(u64_req(fr::set_protocol_features, all_protocol & ~0x8000u));
  REQUIRE(h.last.status.has_value());
  h.send(req(fr::set_owner));
  h.send(u64_req(fr::set_features, features));
  REQUIRE(h.last.status.has_value());
  h.send(mem_table({{0, 0x100000, uaddr, 0}}, need), {h.new_file(0x100000)});
  REQUIRE(h.reply_u64(code(fr::set_mem_table)) == 0);
}

/// NUM, BASE, ADDR for vring i (rings at guest 0x1000·(16 i + 1)).
void configure(harness& h, std::uint32_t i, std::uint32_t num = 64) {
  const std::uint64_t r = 0x10000 * (i + 1);
  h.send(state_req(fr::set_vring_num, i, num));
  REQUIRE(h.last.status.has_value());
  h.send(state_req(fr::set_vring_base, i, 0));
  REQUIRE(h.last.status.has_value());
  h.send(addr_req(i, uaddr + r, uaddr + r + 0x2000, uaddr + r + 0x1000));
  REQUIRE(h.last.status.has_value());
}

errc ack_error(harness& h) {
  REQUIRE(h.replied());
  CHECK(h.last.reply().size() == 20);
  return vireo_test::err(h.last.status);
}

}  // namespace

TEST_CASE("B7 GET_FEATURES and GET_PROTOCOL_FEATURES are answered before SET_OWNER") {
  harness h(two_queues());
  h.send(req(fr::get_features));
  CHECK(h.reply_u64(code(fr::get_features)) == (version_1 | ring_packed | bit30));
  h.send(req(fr::get_protocol_features));
  CHECK(h.reply_u64(code(fr::get_protocol_features)) == all_protocol);
  // No config space: CONFIG is not offered, and cannot be acked.
  fake_device nocfg = two_queues();
  nocfg.config.clear();
  harness h2(nocfg);
  h2.send(req(fr::get_protocol_features));
  CHECK(h2.reply_u64(code(fr::get_protocol_features)) == (all_protocol & ~0x200u));
  h2.send(u64_req(fr::set_protocol_features, 0x200, need));
  CHECK(ack_error(h2) == errc::feature_not_offered);
  CHECK(h2.reply_u64(code(fr::set_protocol_features)) == 1);
}

TEST_CASE("B8 reply iff inherent or NEED_REPLY: flags 0x5, code echoed, one reply") {
  harness h(two_queues());
  h.send(req(fr::set_owner));
  CHECK_FALSE(h.replied());
  CHECK_FALSE(h.last.close_connection);
  h.send(req(fr::set_owner, need));
  CHECK(h.reply_u64(code(fr::set_owner)) == 0);
  // An inherent reply is the only reply, NEED_REPLY or not.
  h.send(req(fr::get_features, need));
  CHECK(h.reply_u64(code(fr::get_features)) == (version_1 | ring_packed | bit30));
  // NEED_REPLY works before REPLY_ACK was negotiated (digest §4 practical rule).
  CHECK(h.s->protocol_features() == 0);
  h.send(u64_req(fr::set_features, version_1, need));
  CHECK(h.reply_u64(code(fr::set_features)) == 0);
}

TEST_CASE("B9 semantic failures with NEED_REPLY are a non-zero u64; without it, close") {
  harness h(two_queues());
  h.send(u64_req(fr::set_features, std::uint64_t{1} << 40, need));  // never offered (§10.10)
  CHECK(ack_error(h) == errc::feature_not_offered);
  CHECK(h.reply_u64(code(fr::set_features)) == 1);
  CHECK_FALSE(h.last.close_connection);
  CHECK_FALSE(h.s->features_set());
  h.send(u64_req(fr::set_features, std::uint64_t{1} << 40));
  CHECK_FALSE(h.replied());
  CHECK(h.last.close_connection);
}

TEST_CASE("protocol features: subset, INBAND dependency (B17), gated requests (§10.7-9)") {
  harness h(two_queues());
  h.send(u64_req(fr::set_protocol_features, 0x2, need));  // LOG_SHMFD: not implemented
  CHECK(ack_error(h) == errc::feature_not_offered);
  // B17: INBAND_NOTIFICATIONS (with or without BACKEND_REQ + REPLY_ACK) is never accepted.
  h.send(u64_req(fr::set_protocol_features, 0x4000 | 0x20 | 0x8, need));
  CHECK(ack_error(h) == errc::feature_not_offered);
  h.send(u64_req(fr::set_protocol_features, 0x4000));
  CHECK(h.last.close_connection);
  CHECK(h.s->protocol_features() == 0);
  h.send(req(fr::get_queue_num));  // MQ not acked yet
  CHECK(h.last.status.error() == errc::vhost_not_negotiated);
  CHECK_FALSE(h.replied());
  CHECK(h.last.close_connection);
  h.send(req(fr::get_max_mem_slots));
  CHECK(h.last.status.error() == errc::vhost_not_negotiated);
  h.send(u64_req(fr::set_protocol_features, 0x1 | 0x8 | 0x8000));
  CHECK(h.last.status.has_value());
  CHECK(h.s->codec().protocol_features == (0x1 | 0x8 | 0x8000));
  h.send(req(fr::get_queue_num));
  CHECK(h.reply_u64(code(fr::get_queue_num)) == 2);
  h.send(req(fr::get_max_mem_slots));
  CHECK(h.reply_u64(code(fr::get_max_mem_slots)) == session_t::max_slots);
  h.send(req(fr::set_owner));
  h.send(req(fr::get_config, need, builder{}.u32(0).u32(4).u32(0).zeros(4)));  // CONFIG not acked
  CHECK(h.last.status.error() == errc::vhost_not_negotiated);
  REQUIRE(h.last.reply().size() == 12);  // GET_CONFIG failure: size 0 (B18)
  CHECK(h.reply_word(8) == 0);
  h.send(req(fr::get_status));  // STATUS not acked
  CHECK(h.last.status.error() == errc::vhost_not_negotiated);
  h.send(state_req(fr::set_vring_enable, 0, 1, need));  // no SET_FEATURES with bit 30 yet
  CHECK(ack_error(h) == errc::vhost_not_negotiated);
}

TEST_CASE("ring and memory requests before SET_OWNER are refused (§10.11)") {
  harness h(two_queues());
  h.send(state_req(fr::set_vring_num, 0, 64, need));
  CHECK(ack_error(h) == errc::vhost_not_owner);
  const int fd = h.new_fd();
  h.send(u64_req(fr::set_vring_call, 0, need), {fd});
  CHECK(ack_error(h) == errc::vhost_not_owner);
  CHECK(h.closed() == std::vector{fd});  // the fd of a refused request is reported closed
  h.send(mem_table({{0, 0x1000, uaddr, 0}}, need), {h.new_file(0x1000)});
  CHECK(ack_error(h) == errc::vhost_not_owner);
  CHECK(h.mapper.maps == 0);
}

TEST_CASE("SET_VRING_ADDR before the memory table, outside it, with F_LOG (§10.11, §10.15)") {
  harness h(two_queues());
  h.send(req(fr::set_owner));
  h.send(addr_req(0, uaddr, uaddr + 0x2000, uaddr + 0x1000, 0, need));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
  h.send(addr_req(0, uaddr - 0x1000, uaddr + 0x2000, uaddr + 0x1000, 0, need));
  CHECK(ack_error(h) == errc::ring_not_mapped);
  h.send(addr_req(0, uaddr, uaddr + 0x2000, uaddr + 0x100000, 0, need));
  CHECK(ack_error(h) == errc::ring_not_mapped);
  h.send(addr_req(0, uaddr, uaddr + 0x2000, uaddr + 0x1000, 1, need));  // F_LOG: no logging
  CHECK(ack_error(h) == errc::vhost_not_negotiated);
  h.send(addr_req(0, uaddr + 8, uaddr + 0x2000, uaddr + 0x1000, 0, need));
  CHECK(h.decode_error == errc::ring_misaligned);  // the codec's alignment check
  CHECK_FALSE(h.s->vring(0).addr_set);
  h.disconnect();
}

TEST_CASE("B14 vring index at or above the queue count") {
  harness h(two_queues());
  setup(h);
  h.send(state_req(fr::set_vring_num, 2, 64, need));
  CHECK(h.decode_error == errc::vhost_vring_index);
  h.send(u64_req(fr::set_vring_kick, 255), {h.new_fd()});
  CHECK(h.decode_error == errc::vhost_vring_index);
  h.send(u64_req(fr::set_vring_kick, 256), {h.new_fd()});  // bit 8: no-fd with an fd attached
  CHECK(h.decode_error == errc::vhost_unexpected_fd);
  h.disconnect();
}

TEST_CASE("B15 queue size: non-zero, at most the device maximum, power of two for split") {
  harness h(two_queues());
  setup(h);
  // The codec refuses 0 and anything above the device maximum (256 here) from codec().
  CHECK(h.s->codec().max_queue_size == 256);
  for (std::uint32_t n : {0u, 257u, 512u, 32769u}) {
    h.send(state_req(fr::set_vring_num, 0, n, need));
    CHECK(h.decode_error == errc::bad_queue_size);
  }
  for (std::uint32_t n : {3u, 6u, 255u}) {
    h.send(state_req(fr::set_vring_num, 0, n, need));
    CHECK(ack_error(h) == errc::bad_queue_size);
  }
  for (std::uint32_t n : {1u, 4u, 256u}) {
    h.send(state_req(fr::set_vring_num, 0, n, need));
    CHECK(ack_error(h) == errc{});
  }
  // Packed rings take any size.
  harness p(two_queues());
  setup(p, version_1 | ring_packed | bit30);
  p.send(state_req(fr::set_vring_num, 0, 100, need));
  CHECK(ack_error(p) == errc{});
  h.disconnect();
  p.disconnect();
}

TEST_CASE("B16 a ring whose areas leave the memory table does not start") {
  harness h(two_queues());
  setup(h);
  h.send(state_req(fr::set_vring_num, 0, 256));
  h.send(state_req(fr::set_vring_base, 0, 0));
  // The used ring (6 + 8·256 bytes) runs past the end of the 1 MiB region.
  h.send(addr_req(0, uaddr, uaddr + 0x100000 - 0x100, uaddr + 0x1000));
  CHECK(h.last.status.has_value());
  const int kick = h.new_fd();
  h.send(u64_req(fr::set_vring_kick, 0, need), {kick});
  CHECK(ack_error(h) == errc::ring_not_mapped);
  CHECK(h.dev.running.empty());
  CHECK(h.closed() == std::vector{kick});  // the kick is dropped: a new KICK retries
  CHECK_FALSE(h.s->vring(0).kick_set);
  h.disconnect();
}

TEST_CASE("B10 GET_VRING_BASE stops the ring and returns the device's position") {
  harness h(two_queues());
  setup(h);
  configure(h, 0);
  h.send(state_req(fr::get_vring_base, 0, 0));  // never started: the stored base
  CHECK(h.reply_word(16) == 0);
  CHECK(h.events().empty());
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  CHECK(h.events() == std::vector{act(action_kind::start_vring, 0)});
  h.dev.position[0] = {42, 42};
  h.send(state_req(fr::get_vring_base, 0, 0));
  CHECK(h.reply_word(16) == 42);
  CHECK(h.events() == std::vector{act(action_kind::stop_vring, 0)});
  h.send(state_req(fr::get_vring_base, 0, 0));  // double GET_VRING_BASE (§10.16)
  CHECK(h.reply_word(16) == 42);
  CHECK(h.events().empty());
  CHECK(h.dev.stops == std::vector<std::uint32_t>{0});
  h.disconnect();
}

TEST_CASE("SET_VRING_NUM / BASE / ADDR on a started ring are refused (§10.16)") {
  harness h(two_queues());
  setup(h);
  configure(h, 0);
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  REQUIRE(h.s->vring(0).started);
  h.send(state_req(fr::set_vring_num, 0, 64, need));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(state_req(fr::set_vring_base, 0, 5, need));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(addr_req(0, uaddr, uaddr + 0x2000, uaddr + 0x1000, 0, need));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(u64_req(fr::set_features, version_1, need));  // features change while started
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(u64_req(fr::set_features, version_1 | bit30, need));  // unchanged: fine
  CHECK(ack_error(h) == errc{});
  h.disconnect();
  CHECK(h.dev.running.empty());
}

TEST_CASE("split SET_VRING_BASE with bits 16-31 set is refused") {
  harness h(two_queues());
  setup(h);
  h.send(state_req(fr::set_vring_base, 0, 0x10000, need));
  CHECK(ack_error(h) == errc::vhost_bad_value);
  h.disconnect();
}

TEST_CASE("B11 rings start disabled with bit 30, all enabled without it; ENABLE 0/1 only") {
  harness h(two_queues());
  setup(h);
  CHECK(h.dev.enabled.empty());
  h.send(state_req(fr::set_vring_enable, 1, 1));
  CHECK(h.events() == std::vector{act(action_kind::enable_vring, 1)});
  h.send(state_req(fr::set_vring_enable, 1, 2, need));
  CHECK(h.decode_error == errc::vhost_bad_value);
  h.send(state_req(fr::set_vring_enable, 1, 0));
  CHECK(h.events() == std::vector{act(action_kind::disable_vring, 1)});
  CHECK_FALSE(h.s->vring(1).enabled);

  harness n(two_queues());
  n.send(req(fr::set_owner));
  n.send(u64_req(fr::set_features, version_1));
  CHECK(n.events() ==
        std::vector{act(action_kind::enable_vring, 0), act(action_kind::enable_vring, 1)});
  CHECK(n.dev.enabled.at(0));
  CHECK(n.dev.enabled.at(1));
  h.disconnect();
  n.disconnect();
}

TEST_CASE("B12 kick/call/err fds are replaced and the old one closed; the no-fd bit") {
  harness h(two_queues());
  setup(h);
  const int c1 = h.new_fd(), c2 = h.new_fd();
  h.send(u64_req(fr::set_vring_call, 1), {c1});
  CHECK(h.actions().empty());
  h.send(u64_req(fr::set_vring_call, 1), {c2});
  CHECK(h.actions() == std::vector{act(action_kind::close_fd, 0, c1)});
  h.send(u64_req(fr::set_vring_call, 1 | 0x100));  // no fd: no signalling
  CHECK(h.actions() == std::vector{act(action_kind::close_fd, 0, c2)});
  CHECK(h.s->vring(1).call_fd == be::no_fd);
  const int e = h.new_fd();
  h.send(u64_req(fr::set_vring_err, 1), {e});
  CHECK(h.s->vring(1).err_fd == e);
  // Polling kick: the no-fd bit starts the ring without an fd.
  configure(h, 1);
  h.send(u64_req(fr::set_vring_kick, 1 | 0x100));
  CHECK(h.events() == std::vector{act(action_kind::start_vring, 1)});
  CHECK(h.s->vring(1).kick_polled);
  CHECK(h.s->vring(1).kick_fd == be::no_fd);
  const int k = h.new_fd();
  h.send(u64_req(fr::set_vring_kick, 1), {k});  // switch to an eventfd while running
  CHECK(h.events() == std::vector{act(action_kind::vring_fds_changed, 1)});
  CHECK_FALSE(h.s->vring(1).kick_polled);
  // Malformed: bit 8 clear without an fd, reserved bits (§10.13).
  h.send(u64_req(fr::set_vring_call, 0));
  CHECK(h.decode_error == errc::vhost_missing_fd);
  h.send(u64_req(fr::set_vring_call, 0x200 | 0x100));
  CHECK(h.decode_error == errc::vhost_reserved_nonzero);
  h.disconnect();
}

TEST_CASE("B18/B19 GET_CONFIG answers the requested range; SET_CONFIG read-only fields") {
  harness h(two_queues());
  setup(h);
  h.send(req(fr::get_config, plain, builder{}.u32(2).u32(3).u32(0).zeros(3)));
  REQUIRE(h.last.reply().size() == 12 + 12 + 3);
  CHECK(h.reply_word(8) == 15);
  CHECK(std::to_integer<int>(h.last.reply()[24]) == 3);
  CHECK(std::to_integer<int>(h.last.reply()[26]) == 5);
  // Beyond the device's 8 bytes (but inside the 256-byte space): size-0 error reply.
  h.send(req(fr::get_config, plain, builder{}.u32(4).u32(8).u32(0).zeros(8)));
  CHECK(h.last.status.error() == errc::vhost_config_range);
  REQUIRE(h.last.reply().size() == 12);
  CHECK(h.reply_word(8) == 0);
  CHECK_FALSE(h.last.close_connection);
  // Writes: byte 0-1 read-only unless flags = 1 (migration).
  h.send(req(fr::set_config, need, builder{}.u32(0).u32(2).u32(0).u8(9).u8(9)));
  CHECK(ack_error(h) == errc::access_denied);
  CHECK(h.dev.config[0] == 1);
  h.send(req(fr::set_config, need, builder{}.u32(0).u32(2).u32(1).u8(9).u8(9)));
  CHECK(ack_error(h) == errc{});
  CHECK(h.dev.config[0] == 9);
  h.send(req(fr::set_config, need, builder{}.u32(2).u32(1).u32(0).u8(7)));
  CHECK(ack_error(h) == errc{});
  CHECK(h.dev.config[2] == 7);
  h.send(req(fr::set_config, need, builder{}.u32(7).u32(2).u32(0).u8(7).u8(7)));
  CHECK(ack_error(h) == errc::vhost_config_range);
  h.disconnect();
}

TEST_CASE("STATUS: SET_STATUS / GET_STATUS round trip; status 0 keeps the session") {
  harness h(two_queues());
  setup(h);
  h.send(u64_req(fr::set_status, 0xF));
  h.send(req(fr::get_status));
  CHECK(h.reply_u64(code(fr::get_status)) == 0xF);
  h.send(u64_req(fr::set_status, 0));
  CHECK(h.s->owned());
  CHECK(h.s->regions().size() == 1);
  h.disconnect();
}

TEST_CASE("unsupported requests are refused and their fds closed") {
  harness h(two_queues());
  setup(h);
  const int fd = h.new_fd();
  h.send(req(fr::gpu_set_socket, need), {fd});
  CHECK(ack_error(h) == errc::vhost_not_negotiated);
  CHECK(h.closed() == std::vector{fd});
  h.send(req(fr::set_log_fd, plain), {h.new_fd()});
  CHECK(h.last.close_connection);
  h.disconnect();
}

TEST_CASE("RESET_OWNER returns to the initial state, reporting every fd") {
  harness h(two_queues());
  setup(h);
  configure(h, 0);
  h.send(u64_req(fr::set_vring_call, 0), {h.new_fd()});
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  h.send(state_req(fr::set_vring_enable, 0, 1));
  h.send(req(fr::reset_owner, need));
  CHECK(h.reply_u64(code(fr::reset_owner)) == 0);
  CHECK(h.events() == std::vector{act(action_kind::stop_vring, 0),
                                  act(action_kind::disable_vring, 0),
                                  act(action_kind::memory_changed)});
  CHECK(h.open_fds.empty());
  CHECK(h.mapper.live() == 0);
  CHECK_FALSE(h.s->owned());
  CHECK_FALSE(h.s->features_set());
  CHECK(h.s->codec().protocol_features == 0);
  h.send(state_req(fr::set_vring_num, 0, 64, need));
  CHECK(ack_error(h) == errc::vhost_not_owner);
}

TEST_CASE("B20 disconnect stops rings, closes every fd, unmaps, resets negotiation") {
  harness h(two_queues());
  setup(h);
  for (std::uint32_t i = 0; i < 2; ++i) {
    configure(h, i);
    h.send(u64_req(fr::set_vring_call, i), {h.new_fd()});
    h.send(u64_req(fr::set_vring_err, i), {h.new_fd()});
    h.send(u64_req(fr::set_vring_kick, i), {h.new_fd()});
  }
  CHECK(h.dev.running.size() == 2);
  CHECK(h.open_fds.size() == 6);
  h.disconnect();
  CHECK(h.closed().size() == 6);
  CHECK(h.dev.running.empty());
  CHECK(h.dev.stops.size() == 2);
  CHECK(h.s->protocol_features() == 0);
  CHECK_FALSE(h.s->owned());
  // A new connection runs the whole negotiation again on the same session object.
  h.send(req(fr::get_features));
  CHECK(h.reply_u64(code(fr::get_features)) == (version_1 | ring_packed | bit30));
}

TEST_CASE("a device that refuses to start leaves the ring stopped") {
  harness h(two_queues());
  setup(h);
  configure(h, 0);
  h.dev.refuse_start = true;
  h.send(u64_req(fr::set_vring_kick, 0, need), {h.new_fd()});
  CHECK(ack_error(h) == errc::queue_not_ready);
  CHECK_FALSE(h.s->vring(0).started);
  h.dev.refuse_start = false;
  h.send(u64_req(fr::set_vring_kick, 0, need), {h.new_fd()});
  CHECK(ack_error(h) == errc{});
  CHECK(h.s->vring(0).started);
  h.disconnect();
}
