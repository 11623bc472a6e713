// SPDX-License-Identifier: Apache-2.0
// The back-end request channel (protocol feature BACKEND_REQ; spec "Back-end communication",
// digest §3 back-end requests): SET_BACKEND_REQ_FD keeps the socket, config_changed() and
// encode_backend_request() produce what the runner sends on it, backend_reply() checks the
// front-end's answer.
#include "backend_test_support.hpp"

using namespace vireo_vu_test;
using be::action_kind;

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t uaddr = 0x5555'0000'0000;
constexpr std::uint64_t backend_req = 0x20, reply_ack = 0x8, config = 0x200;

fake_device gpio_like() {
  fake_device d;
  d.features = version_1;
  d.queues = 2;
  d.max_size = 256;
  d.config = {8, 0, 0, 0, 0x40, 0, 0, 0};
  return d;
}

/// Protocol features acked, the channel set (before SET_OWNER, as QEMU does), owned.
int connect(harness& h, std::uint64_t protocol) {
  h.send(u64_req(fr::set_protocol_features, protocol));
  REQUIRE(h.last.status.has_value());
  const int channel = h.new_fd();
  h.send(req(fr::set_backend_req_fd, need), {channel});
  REQUIRE(h.reply_u64(code(fr::set_backend_req_fd)) == 0);
  h.send(req(fr::set_owner));
  return channel;
}

/// Features, memory, and vring 0 started (so the device is not suspended).
void start_ring(harness& h) {
  h.send(u64_req(fr::set_features, version_1 | bit30));
  h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
  h.send(state_req(fr::set_vring_num, 0, 64));
  h.send(state_req(fr::set_vring_base, 0, 0));
  h.send(addr_req(0, uaddr + 0x10000, uaddr + 0x12000, uaddr + 0x11000));
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  REQUIRE(h.s->vring(0).started);
}

/// The front-end's u64 answer on the channel.
std::vector<std::byte> channel_reply(vu::backend_request r, std::uint64_t v,
                                     std::uint32_t flags = rep_flags) {
  return frame(code(r), flags, builder{}.u64(v));
}

}  // namespace

TEST_CASE("BACKEND_REQ is offered; SET_BACKEND_REQ_FD keeps the socket, replaces it, closes it") {
  harness h(gpio_like());
  h.send(req(fr::get_protocol_features));
  CHECK((h.reply_u64(code(fr::get_protocol_features)) & backend_req) != 0);
  // Not acked: refused (ack 1) and the fd reported closed.
  const int early = h.new_fd();
  h.send(req(fr::set_backend_req_fd, need), {early});
  CHECK(err(h.last.status) == errc::vhost_not_negotiated);
  CHECK(h.reply_u64(code(fr::set_backend_req_fd)) == 1);
  CHECK(h.closed() == std::vector{early});
  CHECK(h.s->backend_fd() == be::no_fd);
  // Acked: accepted before SET_OWNER, kept (not in any close action).
  const int first = connect(h, backend_req | reply_ack | config);
  CHECK(h.s->backend_fd() == first);
  CHECK(h.s->owned());
  // A new channel replaces the old one, which is closed.
  const int second = h.new_fd();
  h.send(req(fr::set_backend_req_fd), {second});
  CHECK(h.s->backend_fd() == second);
  CHECK(h.closed() == std::vector{first});
  // The codec refuses the request without its fd (rule B6).
  h.send(req(fr::set_backend_req_fd));
  CHECK(h.decode_error == errc::vhost_missing_fd);
  // RESET_OWNER drops it like every other fd.
  h.send(req(fr::reset_owner));
  CHECK(h.closed() == std::vector{second});
  CHECK(h.s->backend_fd() == be::no_fd);
  h.disconnect();
}

TEST_CASE("config_changed(): BACKEND_CONFIG_CHANGE_MSG with NEED_REPLY under REPLY_ACK") {
  harness h(gpio_like());
  connect(h, backend_req | reply_ack | config);
  // Suspended (no vring started): the spec forbids back-end messages.
  CHECK(err(h.s->config_changed()) == errc::vhost_out_of_order);
  start_ring(h);
  const auto msg = h.s->config_changed();
  REQUIRE(msg.has_value());
  CHECK(msg->awaits_reply);
  CHECK(h.s->backend_reply_pending());
  // The bytes are a back-end CONFIG_CHANGE_MSG request: empty payload, version 1 | NEED_REPLY.
  const std::vector<std::byte> bytes(msg->bytes().begin(), msg->bytes().end());
  CHECK(bytes == frame(code(vu::backend_request::config_change_msg), req_need_reply));
  const auto back = vu::decode(bytes, {}, vu::channel::backend);
  REQUIRE(back.has_value());
  CHECK(back->request() == code(vu::backend_request::config_change_msg));
  // One request in flight on the channel at a time.
  CHECK(err(h.s->config_changed()) == errc::vhost_out_of_order);
  // The front-end's ack (QEMU 7.2: u64 0) clears it; a second change can go.
  CHECK(h.s->backend_reply(channel_reply(vu::backend_request::config_change_msg, 0), {})
            .has_value());
  CHECK_FALSE(h.s->backend_reply_pending());
  REQUIRE(h.s->config_changed().has_value());
  // A failure status is reported, and the request is answered either way.
  CHECK(err(h.s->backend_reply(channel_reply(vu::backend_request::config_change_msg, 1), {})) ==
        errc::vhost_backend_request_failed);
  CHECK_FALSE(h.s->backend_reply_pending());
  // Nothing awaited.
  CHECK(err(h.s->backend_reply(channel_reply(vu::backend_request::config_change_msg, 0), {})) ==
        errc::vhost_reply_not_expected);
  // A reply for another request, or with NEED_REPLY echoed: refused (rule F5 on this channel).
  REQUIRE(h.s->config_changed().has_value());
  CHECK(err(h.s->backend_reply(channel_reply(vu::backend_request::iotlb_msg, 0), {})) ==
        errc::vhost_reply_mismatch);
  REQUIRE(h.s->config_changed().has_value());
  CHECK(err(h.s->backend_reply(channel_reply(vu::backend_request::config_change_msg, 0,
                                             rep_flags | vu::flag::need_reply),
                               {})) == errc::vhost_bad_reply_flags);
  h.disconnect();
  CHECK_FALSE(h.s->backend_reply_pending());
}

TEST_CASE("config_changed() without REPLY_ACK expects no answer; its gates and errors") {
  SUBCASE("no REPLY_ACK: no NEED_REPLY, nothing awaited") {
    harness h(gpio_like());
    connect(h, backend_req | config);
    start_ring(h);
    for (int k = 0; k < 2; ++k) {
      const auto msg = h.s->config_changed();
      REQUIRE(msg.has_value());
      CHECK_FALSE(msg->awaits_reply);
      const std::vector<std::byte> bytes(msg->bytes().begin(), msg->bytes().end());
      CHECK(bytes == frame(code(vu::backend_request::config_change_msg), req_flags));
    }
    CHECK_FALSE(h.s->backend_reply_pending());
    h.disconnect();
  }
  SUBCASE("no channel: BACKEND_REQ acked but no SET_BACKEND_REQ_FD") {
    harness h(gpio_like());
    h.send(u64_req(fr::set_protocol_features, backend_req | config));
    h.send(req(fr::set_owner));
    start_ring(h);
    CHECK(err(h.s->config_changed()) == errc::vhost_no_backend_channel);
    h.disconnect();
  }
  SUBCASE("no CONFIG: CONFIG_CHANGE_MSG is gated by it") {
    harness h(gpio_like());
    connect(h, backend_req | reply_ack);
    start_ring(h);
    CHECK(err(h.s->config_changed()) == errc::vhost_not_negotiated);
    h.disconnect();
  }
  SUBCASE("after disconnect the channel is gone") {
    harness h(gpio_like());
    connect(h, backend_req | config);
    start_ring(h);
    h.disconnect();
    CHECK(err(h.s->config_changed()) == errc::vhost_no_backend_channel);
  }
}

TEST_CASE("encode_backend_request: other back-end requests, their gates and payload checks") {
  harness h(gpio_like());
  connect(h, backend_req | reply_ack | config);
  start_ring(h);
  // HOST_NOTIFIER is never offered, so its message is refused.
  const vu::vring_area area{};
  CHECK(err(h.s->encode_backend_request(vu::backend_request::vring_host_notifier_msg,
                                        vireo::as_bytes_of(area))) == errc::vhost_not_negotiated);
  // An IOTLB miss (no protocol gate) is encoded as the codec checks it: a wrong type is refused.
  vu::iotlb_msg miss{};
  miss.iova.set(0x1000);
  miss.perm = static_cast<std::uint8_t>(vu::iotlb_perm::rw);
  miss.type = static_cast<std::uint8_t>(vu::iotlb_type::update);
  CHECK(err(h.s->encode_backend_request(vu::backend_request::iotlb_msg, vireo::as_bytes_of(miss))) ==
        errc::vhost_bad_value);
  CHECK_FALSE(h.s->backend_reply_pending());
  miss.type = static_cast<std::uint8_t>(vu::iotlb_type::miss);
  const auto msg = h.s->encode_backend_request(vu::backend_request::iotlb_msg, vireo::as_bytes_of(miss));
  REQUIRE(msg.has_value());
  CHECK(msg->size == 12 + 32);
  CHECK(msg->awaits_reply);
  const std::vector<std::byte> bytes(msg->bytes().begin(), msg->bytes().end());
  const auto back = vu::decode(bytes, {}, vu::channel::backend);
  REQUIRE(back.has_value());
  CHECK(back->as<vu::iotlb_msg>().iova.get() == 0x1000);
  CHECK(h.s->backend_reply(channel_reply(vu::backend_request::iotlb_msg, 0), {}).has_value());
  h.disconnect();
}
