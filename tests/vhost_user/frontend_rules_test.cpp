// SPDX-License-Identifier: Apache-2.0
// The vhost-user front-end's rules F1-F12 (digest §9) against a scripted peer: its replies are
// queued in the socket before the request they answer, and every request the front-end sent is
// read back and checked afterwards (code, flags, payload, fds). Malformed replies, a silent peer
// and a vanished peer must end the connection without leaking a descriptor.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "frontend_test_support.hpp"

namespace {

using namespace vireo_fe_test;
using vireo_socket_test::open_descriptors;

constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint32_t v1 = vu::flag::version;                       // 0x1
constexpr std::uint32_t v1_need = vu::flag::version | vu::flag::need_reply;  // 0x9
constexpr std::uint64_t implemented = lh::frontend_protocol_features;

/// A front-end on one end of a socket pair and the scripted peer on the other.
struct rig {
  socket_ends ends = make_ends();
  frontend_t fe;
  scripted_peer peer;
  explicit rig(lh::frontend_options o = {})
      : fe(open_frontend(std::move(ends.frontend), o)), peer(std::move(ends.peer)) {}

  /// Queue the replies negotiate() will read: GET_FEATURES, and with bit 30 GET_PROTOCOL_FEATURES,
  /// GET_QUEUE_NUM (MQ), GET_MAX_MEM_SLOTS (slots) and SET_OWNER's ack (REPLY_ACK).
  void script_negotiation(std::uint64_t features, std::uint64_t protocol = 0,
                          std::uint64_t queues = 1, std::uint64_t slots = 32) {
    peer.reply_u64(fr::get_features, features);
    if ((features & bit30) == 0) return;
    peer.reply_u64(fr::get_protocol_features, protocol);
    const std::uint64_t acked = protocol & fe.options().protocol_features & implemented;
    if ((acked & vu::bit(pf::mq)) != 0) peer.reply_u64(fr::get_queue_num, queues);
    if ((acked & vu::bit(pf::configure_mem_slots)) != 0)
      peer.reply_u64(fr::get_max_mem_slots, slots);
    if ((acked & vu::bit(pf::reply_ack)) != 0) peer.ack(fr::set_owner);
  }
};

/// Queue an ack for each of `rs` (the requests a REPLY_ACK session sends next).
void acks(scripted_peer& p, std::initializer_list<fr> rs) {
  for (fr r : rs) p.ack(r);
}

void check_flags(const std::vector<seen_request>& seen, std::size_t from, std::size_t to,
                 std::uint32_t flags) {
  for (std::size_t i = from; i < to && i < seen.size(); ++i) {
    INFO("request #", i, " code ", seen[i].code);
    CHECK(seen[i].flags == flags);
  }
}

}  // namespace

TEST_CASE("frontend: F1 GET_FEATURES first; no protocol features when bit 30 is not offered") {
  rig r;
  r.script_negotiation(version_1);
  REQUIRE(r.fe.negotiate());
  CHECK(r.fe.offered_features() == version_1);
  CHECK(r.fe.offered_protocol_features() == 0);
  CHECK(r.fe.protocol_features() == 0);
  CHECK(r.fe.owner());
  const auto seen = r.peer.requests();
  CHECK(codes(seen) == codes({fr::get_features, fr::set_owner}));
  check_flags(seen, 0, seen.size(), v1);  // F4: no NEED_REPLY without REPLY_ACK
  for (const auto& s : seen) CHECK(s.fds == 0);
}

TEST_CASE("frontend: F1 F11 only implemented protocol features are acked, never BACKEND_REQ") {
  SUBCASE("everything offered") {
    rig r;
    r.script_negotiation(version_1 | bit30, vu::known_protocol_features, 4, 64);
    REQUIRE(r.fe.negotiate());
    CHECK(r.fe.protocol_features() == implemented);
    CHECK_FALSE(r.fe.negotiated(pf::backend_req));      // F11: no back-end channel to serve
    CHECK_FALSE(r.fe.negotiated(pf::inband_notifications));
    CHECK(r.fe.negotiated(pf::log_shmfd));  // set_log_base()
    CHECK(r.fe.queue_num() == 4u);
    CHECK(r.fe.max_mem_slots() == 64u);
    const auto seen = r.peer.requests();
    REQUIRE(codes(seen) == codes({fr::get_features, fr::get_protocol_features,
                                  fr::set_protocol_features, fr::get_queue_num,
                                  fr::get_max_mem_slots, fr::set_owner}));
    CHECK(seen[2].u64() == implemented);
    CHECK(seen[2].flags == v1);  // REPLY_ACK is not negotiated before this message is
    CHECK(seen[5].flags == v1_need);
  }
  SUBCASE("the caller narrows them further") {
    lh::frontend_options o;
    o.protocol_features = vu::bit(pf::status) | vu::bit(pf::backend_req);
    rig r{o};
    r.script_negotiation(bit30, vu::known_protocol_features);
    REQUIRE(r.fe.negotiate());
    CHECK(r.fe.protocol_features() == vu::bit(pf::status));
    const auto seen = r.peer.requests();
    REQUIRE(seen.size() == 4);
    CHECK(seen[2].u64() == vu::bit(pf::status));
  }
  SUBCASE("only what is offered") {
    rig r;
    r.script_negotiation(bit30, vu::bit(pf::config) | vu::bit(pf::rarp));
    REQUIRE(r.fe.negotiate());
    CHECK(r.fe.protocol_features() == vu::bit(pf::config));
  }
}

TEST_CASE("frontend: F2 nothing configures memory or rings before SET_OWNER") {
  rig r;
  ram_t ram = make_ram();
  const ring::queue_config cfg = plan_queue(0, 16, version_1);
  std::array<std::byte, 8> cfgbuf{};
  CHECK(err(r.fe.set_features(version_1)) == errc::vhost_not_owner);
  CHECK(err(r.fe.set_mem_table(ram.regions())) == errc::vhost_not_owner);
  CHECK(err(r.fe.start_vring(0, cfg)) == errc::vhost_not_owner);
  CHECK(err(r.fe.stop_vring(0)) == errc::vhost_not_owner);
  CHECK(err(r.fe.enable_vring(0, true)) == errc::vhost_not_owner);
  CHECK(err(r.fe.get_config(0, cfgbuf)) == errc::vhost_not_owner);
  CHECK(err(r.fe.set_status(1)) == errc::vhost_not_owner);
  CHECK(r.peer.requests().empty());
  CHECK(r.fe.connected());
}

TEST_CASE("frontend: F3 a gated request is refused locally without its feature") {
  ram_t ram = make_ram();
  std::array<std::byte, 8> cfgbuf{};
  SUBCASE("bit 30 offered, no protocol feature") {
    rig r;
    r.script_negotiation(version_1 | bit30, 0);
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    CHECK(err(r.fe.get_config(0, cfgbuf)) == errc::vhost_not_negotiated);        // CONFIG
    CHECK(err(r.fe.set_config(0, cfgbuf)) == errc::vhost_not_negotiated);
    CHECK(err(r.fe.set_status(1)) == errc::vhost_not_negotiated);                // STATUS
    CHECK(err(r.fe.get_status()) == errc::vhost_not_negotiated);
    CHECK(err(r.fe.add_mem_region(ram.regions()[0])) == errc::vhost_not_negotiated);  // SLOTS
    CHECK(err(r.fe.remove_mem_region(ram.regions()[0])) == errc::vhost_not_negotiated);
    CHECK_FALSE(r.fe.queue_num());  // GET_QUEUE_NUM needs MQ: never asked
    CHECK(codes(r.peer.requests()) ==
          codes({fr::get_features, fr::get_protocol_features, fr::set_protocol_features,
                 fr::set_owner, fr::set_features}));
    CHECK(r.fe.connected());
  }
  SUBCASE("bit 30 not offered: no SET_VRING_ENABLE") {
    rig r;
    r.script_negotiation(version_1);
    REQUIRE(r.fe.negotiate());
    auto acked = r.fe.set_features(version_1 | bit30);  // bit 30 only when offered
    REQUIRE(acked);
    CHECK(*acked == version_1);
    CHECK(err(r.fe.enable_vring(0, true)) == errc::vhost_not_negotiated);
    CHECK(codes(r.peer.requests()) == codes({fr::get_features, fr::set_owner, fr::set_features}));
  }
}

TEST_CASE("frontend: F4 F6 F7 F10 the QEMU 7.2 order of messages, flags and fds") {
  // An i2c-like session as QEMU 7.2 runs it (digest §7.1-§7.3) with REPLY_ACK: every request
  // without a reply of its own carries NEED_REPLY and gets an ack.
  rig r;
  ram_t ram = make_ram();
  r.script_negotiation(version_1 | bit30 | layout_bit(true), vu::qemu_7_2_protocol_features, 1, 32);
  acks(r.peer, {fr::set_features, fr::set_status, fr::add_mem_reg, fr::add_mem_reg,
                fr::set_vring_num, fr::set_vring_base, fr::set_vring_addr, fr::set_vring_call,
                fr::set_vring_err, fr::set_vring_kick, fr::set_vring_enable, fr::set_status,
                fr::set_status, fr::set_vring_enable});
  r.peer.reply_state(fr::get_vring_base, 0, 0x8003'8003);
  acks(r.peer, {fr::set_vring_num, fr::set_vring_base, fr::set_vring_addr, fr::set_vring_call,
                fr::set_vring_err, fr::set_vring_kick, fr::set_vring_enable});

  REQUIRE(r.fe.negotiate());
  auto acked = r.fe.set_features(version_1 | layout_bit(true));
  REQUIRE(acked);
  CHECK(*acked == (version_1 | layout_bit(true) | bit30));
  REQUIRE(r.fe.set_status(0x0B));  // ACKNOWLEDGE | DRIVER | FEATURES_OK
  REQUIRE(r.fe.set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, 12, *acked);
  REQUIRE(r.fe.start_vring(0, cfg));
  REQUIRE(r.fe.set_status(0x0F));  // | DRIVER_OK
  // Stop (digest §7.3, i2c): SET_STATUS(0), SET_VRING_ENABLE(0), GET_VRING_BASE.
  REQUIRE(r.fe.set_status(0));
  REQUIRE(r.fe.enable_vring(0, false));
  auto base = r.fe.stop_vring(0);
  REQUIRE(base);
  CHECK(*base == 0x8003'8003u);
  REQUIRE(r.fe.start_vring(0));  // F8: resumes from the answer

  const auto seen = r.peer.requests();
  const auto expected =
      codes({fr::get_features, fr::get_protocol_features, fr::set_protocol_features,
             fr::get_queue_num, fr::get_max_mem_slots, fr::set_owner, fr::set_features,
             fr::set_status, fr::add_mem_reg, fr::add_mem_reg, fr::set_vring_num,
             fr::set_vring_base, fr::set_vring_addr, fr::set_vring_call, fr::set_vring_err,
             fr::set_vring_kick, fr::set_vring_enable, fr::set_status, fr::set_status,
             fr::set_vring_enable, fr::get_vring_base, fr::set_vring_num, fr::set_vring_base,
             fr::set_vring_addr, fr::set_vring_call, fr::set_vring_err, fr::set_vring_kick,
             fr::set_vring_enable});
  REQUIRE(codes(seen) == expected);
  // F4: version 1 everywhere; NEED_REPLY exactly on the requests without a reply of their own,
  // once REPLY_ACK is negotiated.
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("request #", i, " code ", seen[i].code);
    const bool inherent = vu::info(vu::channel::main, seen[i].code).reply == vu::reply_rule::always;
    const bool before_ack = i <= 2;  // GET_FEATURES .. SET_PROTOCOL_FEATURES
    CHECK(seen[i].flags == (inherent || before_ack ? v1 : v1_need));
  }
  // F7: one fd per ADD_MEM_REG and per KICK/CALL/ERR (the no-fd bit clear), none elsewhere.
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("request #", i, " code ", seen[i].code);
    const auto c = static_cast<fr>(seen[i].code);
    const bool with_fd = c == fr::add_mem_reg || c == fr::set_vring_kick ||
                         c == fr::set_vring_call || c == fr::set_vring_err;
    CHECK(seen[i].fds == (with_fd ? 1u : 0u));
    if (c == fr::set_vring_kick || c == fr::set_vring_call || c == fr::set_vring_err)
      CHECK(seen[i].u64() == 0);  // vring 0, bit 8 (no fd) clear, bits 9-63 clear
  }
  // The payloads: the regions as the RAM describes them, the ring at user addresses, the bases.
  for (std::size_t k = 0; k < 2; ++k) {
    const seen_request& add = seen[8 + k];
    const lh::shared_ram_region& reg = ram.regions()[k];
    REQUIRE(add.payload.size() == 40);
    std::uint64_t f[5];
    std::memcpy(f, add.payload.data(), 40);
    CHECK(f[1] == reg.guest_addr);
    CHECK(f[2] == reg.size);
    CHECK(f[3] == reg.user_addr);
    CHECK(f[4] == reg.mmap_offset);
  }
  CHECK(seen[10].word(4) == 12);            // SET_VRING_NUM
  CHECK(seen[11].word(4) == 0x8000'8000u);  // a fresh packed ring: both wrap counters 1
  REQUIRE(seen[12].payload.size() == 40);
  std::uint64_t a[5];
  std::memcpy(a, seen[12].payload.data(), 40);
  CHECK(a[1] == *ram.user_address(cfg.desc_table));
  CHECK(a[2] == *ram.user_address(cfg.device_area));  // used
  CHECK(a[3] == *ram.user_address(cfg.driver_area));  // avail
  CHECK(a[4] == 0);                                    // no log
  CHECK(seen[16].word(4) == 1);                        // ENABLE 1 after KICK (F10)
  CHECK(seen[17].u64() == 0x0F);
  CHECK(seen[19].word(4) == 0);                        // ENABLE 0
  CHECK(seen[20].word(4) == 0);                        // GET_VRING_BASE: num reserved, 0
  CHECK(seen[22].word(4) == 0x8003'8003u);             // the saved base (F8)
}

TEST_CASE("frontend: F5 F12 a malformed reply is refused and ends the connection") {
  struct bad_case {
    std::string what;
    errc expected;
  };
  const auto before = open_descriptors();
  auto run = [&](const bad_case& c, auto&& script) {
    INFO(c.what);
    lh::frontend_options o;
    o.reply_timeout_ms = 100;
    rig r{o};
    script(r.peer);
    CHECK(err(r.fe.negotiate()) == c.expected);
    CHECK_FALSE(r.fe.connected());
    CHECK(err(r.fe.negotiate()) == errc::host_closed);
  };
  const std::array<std::byte, 8> value{std::byte{1}};
  run({"no REPLY bit", errc::vhost_bad_reply_flags},
      [&](scripted_peer& p) { p.reply(fr::get_features, value, v1); });
  run({"NEED_REPLY echoed (QEMU 7.2 wants exactly 0x5)", errc::vhost_bad_reply_flags},
      [&](scripted_peer& p) { p.reply(fr::get_features, value, 0xD); });
  run({"another request's reply", errc::vhost_reply_mismatch},
      [&](scripted_peer& p) { p.reply(fr::get_protocol_features, value); });
  run({"a u64 reply of 4 bytes", errc::vhost_payload_size}, [&](scripted_peer& p) {
    p.reply(fr::get_features, std::span{value}.first(4));
  });
  run({"a u64 reply of 16 bytes", errc::vhost_payload_size}, [&](scripted_peer& p) {
    const std::array<std::byte, 16> big{};
    p.reply(fr::get_features, big);
  });
  run({"an fd with a reply that takes none", errc::vhost_unexpected_fd}, [&](scripted_peer& p) {
    const int memfd = vireo_socket_test::make_memfd("x");
    p.raw(vireo_socket_test::frame(code(fr::get_features), vu::flag::reply_flags, value),
          std::array{memfd});
    ::close(memfd);
  });
  run({"version 0", errc::vhost_bad_version},
      [&](scripted_peer& p) { p.reply(fr::get_features, value, vu::flag::reply); });
  run({"reserved flag bits", errc::vhost_reserved_flags},
      [&](scripted_peer& p) { p.reply(fr::get_features, value, vu::flag::reply_flags | 0x10); });
  run({"a size above the cap", errc::vhost_payload_too_large}, [&](scripted_peer& p) {
    p.raw(vireo_socket_test::header_only(code(fr::get_features), vu::flag::reply_flags, 0x10000));
  });
  // shutdown(SHUT_WR): the peer still takes the request, then its side of the stream ends.
  run({"the peer stops inside the reply", errc::host_truncated}, [&](scripted_peer& p) {
    p.raw(vireo_socket_test::header_only(code(fr::get_features), vu::flag::reply_flags, 8));
    REQUIRE(::shutdown(p.fd(), SHUT_WR) == 0);
  });
  run({"the peer ends the stream instead of replying", errc::host_disconnected},
      [&](scripted_peer& p) { REQUIRE(::shutdown(p.fd(), SHUT_WR) == 0); });
  run({"the peer never answers (digest §10.30)", errc::host_timeout}, [](scripted_peer&) {});
  run({"the peer is gone", errc::host_disconnected}, [](scripted_peer& p) { p.close(); });
  CHECK(open_descriptors() == before);
}

TEST_CASE("frontend: F5 replies that decode but answer something else are refused") {
  ram_t ram = make_ram();
  const auto before = open_descriptors();
  /// A session without bit 30 up to a started split vring 0 (no acks to queue).
  auto started = [&](rig& r) {
    r.script_negotiation(version_1);
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    REQUIRE(r.fe.set_mem_table(ram.regions()));
    REQUIRE(r.fe.start_vring(0, plan_queue(0, 16, version_1)));
  };
  SUBCASE("GET_VRING_BASE for another vring") {
    lh::frontend_options two;
    two.num_queues = 2;
    rig r{two};
    started(r);
    r.peer.reply_state(fr::get_vring_base, 1, 7);
    CHECK(err(r.fe.stop_vring(0)) == errc::vhost_reply_mismatch);
    CHECK_FALSE(r.fe.connected());
  }
  SUBCASE("GET_VRING_BASE beyond the queue count") {
    rig r;
    started(r);
    r.peer.reply_state(fr::get_vring_base, 9, 7);
    CHECK(err(r.fe.stop_vring(0)) == errc::vhost_vring_index);
    CHECK_FALSE(r.fe.connected());
  }
  SUBCASE("a split GET_VRING_BASE above 16 bits (§2)") {
    rig r;
    started(r);
    r.peer.reply_state(fr::get_vring_base, 0, 0x1'0007);
    CHECK(err(r.fe.stop_vring(0)) == errc::vhost_bad_value);
    CHECK_FALSE(r.fe.connected());
    CHECK_FALSE(r.fe.resume_base(0));
  }
  SUBCASE("an unsolicited message while idle") {
    rig r;
    started(r);
    r.peer.reply_u64(fr::get_features, 0);
    CHECK(err(r.fe.check_connection()) == errc::vhost_reply_not_expected);
    CHECK_FALSE(r.fe.connected());
  }
  SUBCASE("GET_CONFIG: wrong size, wrong offset, the size-0 error reply") {
    std::array<std::byte, 8> buf{};
    const std::array<std::byte, 4> four{};
    const std::array<std::byte, 8> eight{std::byte{0x11}};
    auto config_session = [&](rig& r) {
      r.script_negotiation(bit30, vu::bit(pf::config));
      REQUIRE(r.fe.negotiate());
    };
    {
      rig r;
      config_session(r);
      r.peer.reply_config(0, four);
      CHECK(err(r.fe.get_config(0, buf)) == errc::vhost_payload_size);
      CHECK_FALSE(r.fe.connected());
    }
    {
      rig r;
      config_session(r);
      r.peer.reply_config(4, eight);
      CHECK(err(r.fe.get_config(0, buf)) == errc::vhost_reply_mismatch);
      CHECK_FALSE(r.fe.connected());
    }
    {
      rig r;
      config_session(r);
      r.peer.reply(fr::get_config, {});  // "zero length of payload to indicate an error"
      r.peer.reply_config(0, eight);
      CHECK(err(r.fe.get_config(0, buf)) == errc::host_request_failed);
      CHECK(r.fe.connected());
      REQUIRE(r.fe.get_config(0, buf));
      CHECK(buf[0] == std::byte{0x11});
    }
  }
  SUBCASE("GET_STATUS above one byte, GET_MAX_MEM_SLOTS 0, GET_QUEUE_NUM too small") {
    {
      rig r;
      r.script_negotiation(bit30, vu::bit(pf::status));
      REQUIRE(r.fe.negotiate());
      r.peer.reply_u64(fr::get_status, 0x100);
      CHECK(err(r.fe.get_status()) == errc::vhost_bad_value);
      CHECK_FALSE(r.fe.connected());
    }
    {
      rig r;
      r.script_negotiation(bit30, vu::bit(pf::configure_mem_slots), 1, 0);
      CHECK(err(r.fe.negotiate()) == errc::vhost_bad_value);
      CHECK_FALSE(r.fe.connected());
    }
    {
      lh::frontend_options o;
      o.num_queues = 2;
      rig r{o};
      r.script_negotiation(bit30, vu::bit(pf::mq), 1);
      CHECK(err(r.fe.negotiate()) == errc::vhost_vring_index);
      CHECK_FALSE(r.fe.owner());
    }
  }
  SUBCASE("an ack for another request") {
    rig r;
    r.script_negotiation(bit30, vu::bit(pf::reply_ack));
    REQUIRE(r.fe.negotiate());
    r.peer.ack(fr::set_owner);
    CHECK(err(r.fe.set_features(version_1)) == errc::vhost_reply_mismatch);
    CHECK_FALSE(r.fe.connected());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("frontend: F5 a REPLY_ACK failure status is an error, not a broken connection") {
  rig r;
  r.script_negotiation(bit30, vu::bit(pf::reply_ack) | vu::bit(pf::status));
  REQUIRE(r.fe.negotiate());
  r.peer.ack(fr::set_status, 1);
  r.peer.ack(fr::set_status, 0);
  CHECK(err(r.fe.set_status(3)) == errc::host_request_failed);
  CHECK(r.fe.connected());
  REQUIRE(r.fe.set_status(3));
}

TEST_CASE("frontend: F6 the memory table comes before rings; rings lie inside it") {
  rig r;
  ram_t ram = make_ram();
  r.script_negotiation(version_1);
  REQUIRE(r.fe.negotiate());
  const ring::queue_config cfg = plan_queue(0, 16, version_1);
  CHECK(err(r.fe.start_vring(0, cfg)) == errc::vhost_out_of_order);  // no SET_FEATURES
  REQUIRE(r.fe.set_features(version_1));
  CHECK(err(r.fe.start_vring(0, cfg)) == errc::vhost_out_of_order);  // no memory table
  REQUIRE(r.fe.set_mem_table(ram.regions()));
  ring::queue_config outside = cfg;
  outside.device_area = gpa{0x1000};  // not guest RAM
  CHECK(err(r.fe.start_vring(0, outside)) == errc::ring_not_mapped);
  ring::queue_config straddling = cfg;  // used ring runs past the end of region 0
  straddling.device_area = ring_base.offset(ring_bytes - 64);
  CHECK(err(r.fe.start_vring(0, straddling)) == errc::ring_not_mapped);
  ring::queue_config odd = cfg;
  odd.size = 12;  // a split ring's size is a power of two (§2.7)
  CHECK(err(r.fe.start_vring(0, odd)) == errc::bad_queue_size);
  ring::queue_config wrong_layout = cfg;
  wrong_layout.features.set(transport_feature::ring_packed);
  CHECK(err(r.fe.start_vring(0, wrong_layout)) == errc::invalid_argument);
  CHECK(err(r.fe.start_vring(1, cfg)) == errc::vhost_vring_index);  // num_queues is 1
  CHECK(err(r.fe.start_vring(0, cfg, 0x1'0000)) == errc::invalid_argument);  // split base
  CHECK(codes(r.peer.requests()) ==
        codes({fr::get_features, fr::set_owner, fr::set_features, fr::set_mem_table}));
  REQUIRE(r.fe.start_vring(0, cfg));
  CHECK(err(r.fe.start_vring(0, cfg)) == errc::vhost_out_of_order);  // already started
  // A new table must keep the running ring where it is.
  const std::array<lh::shared_ram_region, 1> only_data{ram.regions()[1]};
  CHECK(err(r.fe.set_mem_table(only_data)) == errc::ring_not_mapped);
  const auto seen = r.peer.requests();
  CHECK(codes(seen) == codes({fr::set_vring_num, fr::set_vring_base, fr::set_vring_addr,
                              fr::set_vring_call, fr::set_vring_err, fr::set_vring_kick}));
  CHECK(r.fe.vring_enabled(0));  // without bit 30 the back-end enables rings itself
}

TEST_CASE("frontend: F7 F9 SET_MEM_TABLE carries one fd per region, at most 8 regions") {
  rig r;
  r.script_negotiation(version_1);
  REQUIRE(r.fe.negotiate());
  std::array<lh::ram_layout, 9> nine{};
  for (std::size_t i = 0; i < nine.size(); ++i)
    nine[i] = {gpa{0x1'0000'0000 + i * 0x10'0000}, 4096};
  auto big = lh::memfd_guest_ram<16>::create(nine);
  REQUIRE(big);
  using fe16_t = lh::frontend<1, 16>;
  socket_ends ends = make_ends();
  auto fe16 = fe16_t::open(std::move(ends.frontend));
  REQUIRE(fe16);
  scripted_peer peer16{std::move(ends.peer)};
  peer16.reply_u64(fr::get_features, version_1);
  REQUIRE(fe16->negotiate());
  CHECK(err(fe16->set_mem_table(big->regions())) == errc::vhost_region_count);  // 9 > 8
  REQUIRE(fe16->set_mem_table(big->regions().first(8)));
  auto seen = peer16.requests();
  REQUIRE(codes(seen) == codes({fr::get_features, fr::set_owner, fr::set_mem_table}));
  CHECK(seen[2].fds == 8);
  CHECK(seen[2].word(0) == 8);  // nregions
  CHECK(seen[2].payload.size() == 8 + 8 * 32);

  // Bad tables never leave: empty, overlapping, zero-sized, wrapping.
  ram_t ram = make_ram();
  lh::shared_ram_region copy = ram.regions()[0];
  const std::array<lh::shared_ram_region, 2> twice{copy, copy};
  CHECK(err(r.fe.set_mem_table(twice)) == errc::region_overlap);
  lh::shared_ram_region empty = copy;
  empty.size = 0;
  CHECK(err(r.fe.set_mem_table(std::span{&empty, 1})) == errc::vhost_zero_size);
  lh::shared_ram_region wraps = copy;
  wraps.guest_addr = ~std::uint64_t{0} - 10;
  CHECK(err(r.fe.set_mem_table(std::span{&wraps, 1})) == errc::vhost_range_overflow);
  CHECK(err(r.fe.set_mem_table({})) == errc::invalid_argument);
  CHECK(codes(r.peer.requests()) == codes({fr::get_features, fr::set_owner}));
}

TEST_CASE("frontend: F9 with CONFIGURE_MEM_SLOTS: REM/ADD_MEM_REG within GET_MAX_MEM_SLOTS") {
  rig r;
  const std::array<lh::ram_layout, 3> layout{lh::ram_layout{gpa{0x1000'0000}, 0x1'0000},
                                             lh::ram_layout{gpa{0x2000'0000}, 0x1'0000},
                                             lh::ram_layout{gpa{0x3000'0000}, 0x1'0000}};
  auto ram = lh::memfd_guest_ram<8>::create(layout);
  REQUIRE(ram);
  const auto regs = ram->regions();
  r.script_negotiation(bit30, vu::bit(pf::configure_mem_slots) | vu::bit(pf::reply_ack), 1, 2);
  REQUIRE(r.fe.negotiate());
  CHECK(r.fe.max_mem_slots() == 2u);
  CHECK(err(r.fe.set_mem_table(regs)) == errc::vhost_region_count);  // 3 > 2 slots
  acks(r.peer, {fr::add_mem_reg, fr::add_mem_reg});
  REQUIRE(r.fe.set_mem_table(regs.first(2)));
  CHECK(err(r.fe.add_mem_region(regs[2])) == errc::vhost_region_count);
  // The diff: region 0 goes (REM), region 2 comes (ADD), region 1 stays untouched.
  acks(r.peer, {fr::rem_mem_reg, fr::add_mem_reg});
  REQUIRE(r.fe.set_mem_table(regs.last(2)));
  REQUIRE(r.fe.mem_table().size() == 2);
  CHECK(r.fe.mem_table()[0].guest_addr == regs[1].guest_addr);
  CHECK(r.fe.mem_table()[1].guest_addr == regs[2].guest_addr);
  CHECK(err(r.fe.remove_mem_region(regs[0])) == errc::not_found);
  const auto seen = r.peer.requests();
  REQUIRE(codes(seen) == codes({fr::get_features, fr::get_protocol_features,
                                fr::set_protocol_features, fr::get_max_mem_slots, fr::set_owner,
                                fr::add_mem_reg, fr::add_mem_reg, fr::rem_mem_reg,
                                fr::add_mem_reg}));
  const seen_request& rem = seen[7];
  CHECK(rem.fds == 0);  // QEMU sends none; rust-vmm refuses one
  std::uint64_t f[5];
  REQUIRE(rem.payload.size() == 40);
  std::memcpy(f, rem.payload.data(), 40);
  CHECK(f[1] == regs[0].guest_addr);
  CHECK(f[2] == regs[0].size);
  CHECK(f[3] == regs[0].user_addr);
  CHECK(f[4] == 0);  // mmap_offset "ignored": sent as 0, as QEMU does
  CHECK(seen[8].fds == 1);
}

TEST_CASE("frontend: F10 SET_VRING_ENABLE follows KICK only when bit 30 was acked") {
  ram_t ram = make_ram();
  SUBCASE("enable_on_start off: the caller enables (QEMU 7.2 gpio order)") {
    lh::frontend_options o;
    o.enable_on_start = false;
    rig r{o};
    r.script_negotiation(version_1 | bit30, 0);
    REQUIRE(r.fe.negotiate());
    REQUIRE(r.fe.set_features(version_1));
    REQUIRE(r.fe.set_mem_table(ram.regions()));
    REQUIRE(r.fe.start_vring(0, plan_queue(0, 16, version_1)));
    CHECK_FALSE(r.fe.vring_enabled(0));  // bit 30 acked: rings start disabled
    REQUIRE(r.fe.enable_vring(0, true));
    CHECK(r.fe.vring_enabled(0));
    const auto seen = r.peer.requests();
    REQUIRE(seen.size() >= 2);
    CHECK(seen[seen.size() - 2].code == code(fr::set_vring_kick));
    CHECK(seen.back().code == code(fr::set_vring_enable));
  }
}

TEST_CASE("frontend: F12 a failed send closes the connection") {
  rig r;
  r.script_negotiation(version_1);
  REQUIRE(r.fe.negotiate());
  r.peer.close();
  CHECK(err(r.fe.set_features(version_1)) == errc::host_disconnected);
  CHECK_FALSE(r.fe.connected());
  CHECK(err(r.fe.set_features(version_1)) == errc::host_closed);
  CHECK(r.fe.socket_fd() == -1);
}

TEST_CASE("frontend: kick and call eventfds; notifications without a back-end") {
  rig r;
  ram_t ram = make_ram();
  r.script_negotiation(version_1);
  REQUIRE(r.fe.negotiate());
  CHECK(err(r.fe.kick(0)) == errc::vhost_out_of_order);  // no eventfd before the first start
  CHECK(err(r.fe.kick(3)) == errc::vhost_vring_index);
  REQUIRE(r.fe.set_features(version_1));
  REQUIRE(r.fe.set_mem_table(ram.regions()));
  REQUIRE(r.fe.start_vring(0, plan_queue(0, 16, version_1)));
  REQUIRE(r.fe.kick(0));
  REQUIRE(r.fe.kick(0));
  std::uint64_t count = 0;
  REQUIRE(::read(r.fe.kick_fd(0), &count, 8) == 8);
  CHECK(count == 2);
  auto quiet = r.fe.wait_call(0, 10);
  REQUIRE(quiet);
  CHECK_FALSE(*quiet);  // the time ran out
  const std::uint64_t one = 1;
  REQUIRE(::write(r.fe.call_fd(0), &one, 8) == 8);
  auto called = r.fe.wait_calls(1000);
  REQUIRE(called);
  CHECK(*called == 1);
  auto again = r.fe.wait_call(0, 0);  // consumed
  REQUIRE(again);
  CHECK_FALSE(*again);
  REQUIRE(::write(r.fe.err_fd(0), &one, 8) == 8);
  auto e = r.fe.take_error(0);
  REQUIRE(e);
  CHECK(*e);
  // The eventfds went to the peer with SET_VRING_CALL/ERR/KICK and are distinct.
  CHECK(r.fe.kick_fd(0) != r.fe.call_fd(0));
  CHECK(r.fe.call_fd(0) != r.fe.err_fd(0));
}

TEST_CASE("frontend: options, connect and reconnect arguments are checked first") {
  const auto before = open_descriptors();
  {
    lh::frontend_options none;
    none.num_queues = 0;
    CHECK(err(frontend_t::open(make_ends().frontend, none)) == errc::invalid_argument);
    lh::frontend_options many;
    many.num_queues = 9;  // above MaxQueues (8)
    CHECK(err(frontend_t::open(make_ends().frontend, many)) == errc::invalid_argument);
    lh::frontend_options no_wait;
    no_wait.reply_timeout_ms = 0;
    CHECK(err(frontend_t::open(make_ends().frontend, no_wait)) == errc::invalid_argument);
    CHECK(err(frontend_t::open(lh::basic_unique_fd<lh::real_frontend_sys>{})) ==
          errc::invalid_argument);
    vireo_socket_test::temp_dir dir;
    CHECK(err(frontend_t::connect(dir.file("nobody.sock"))) == errc::host_no_listener);

    rig r;
    r.script_negotiation(version_1);
    REQUIRE(r.fe.negotiate());
    CHECK(err(r.fe.reconnect(lh::basic_unique_fd<lh::real_frontend_sys>{})) ==
          errc::invalid_argument);
    CHECK(err(r.fe.set_resume_base(1, 0)) == errc::vhost_vring_index);
    REQUIRE(r.fe.set_features(version_1));
    CHECK(err(r.fe.set_resume_base(0, 0x1'0000)) == errc::invalid_argument);  // split: 16 bits
    REQUIRE(r.fe.set_resume_base(0, 5));
    CHECK(r.fe.resume_base(0) == 5u);
    ram_t ram = make_ram();
    REQUIRE(r.fe.set_mem_table(ram.regions()));
    CHECK(err(r.fe.start_vring(0)) == errc::vhost_out_of_order);  // no layout to restart with
    REQUIRE(r.fe.start_vring(0, plan_queue(0, 16, version_1)));
    const auto seen = r.peer.requests();
    REQUIRE(seen.size() == 10);  // GET_FEATURES, SET_OWNER, SET_FEATURES, SET_MEM_TABLE, ring
    CHECK(seen[5].code == code(fr::set_vring_base));
    CHECK(seen[5].word(4) == 5);  // the base set by hand
  }
  CHECK(open_descriptors() == before);
}
