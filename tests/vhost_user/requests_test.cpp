// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/vhost_user/requests.hpp and features.hpp: request codes and names, the per-request
// facts (payload, fds, reply, gate), feature bits and the dependency rule (B17).
#include "vhost_user_test_support.hpp"

#include <set>
#include <string_view>

using namespace vireo_vu_test;
using vu::backend_request;
using vu::channel;
using vu::fd_rule;
using vu::frontend_request;
using vu::payload_type;
using vu::protocol_feature;
using vu::reply_rule;

TEST_CASE("requests: codes and names follow the spec (front-end 1-44, back-end 1-10)") {
  CHECK(code(frontend_request::get_features) == 1);
  CHECK(code(frontend_request::set_backend_req_fd) == 21);
  CHECK(code(frontend_request::vring_kick) == 35);
  CHECK(code(frontend_request::get_status) == 40);
  CHECK(code(frontend_request::check_device_state) == 43);
  CHECK(code(frontend_request::get_shmem_config) == 44);
  CHECK(code(backend_request::vring_host_notifier_msg) == 3);
  CHECK(code(backend_request::shared_object_lookup) == 8);
  CHECK(code(backend_request::shmem_unmap) == 10);
  CHECK(vu::name(frontend_request::set_mem_table) == "SET_MEM_TABLE");
  CHECK(vu::name(frontend_request::set_backend_req_fd) == "SET_BACKEND_REQ_FD");
  CHECK(vu::name(backend_request::config_change_msg) == "BACKEND_CONFIG_CHANGE_MSG");
  CHECK(vu::name(channel::main, 0) == "UNKNOWN");
  CHECK(vu::name(channel::main, 45) == "UNKNOWN");
  CHECK(vu::name(channel::backend, 11) == "UNKNOWN");
  CHECK(vu::name(channel::backend, 1) == "BACKEND_IOTLB_MSG");
  CHECK(vu::name(channel::main, 1) == "GET_FEATURES");  // same number, other channel
  // Every defined code has its own, non-placeholder name.
  for (channel ch : {channel::main, channel::backend}) {
    std::set<std::string_view> seen;
    const std::uint32_t last = ch == channel::main ? 44 : 10;
    for (std::uint32_t c = 1; c <= last; ++c) {
      CAPTURE(c);
      CHECK(vu::is_known_request(ch, c));
      CHECK(vu::name(ch, c) != "UNKNOWN");
      CHECK(seen.insert(vu::name(ch, c)).second);
    }
    CHECK_FALSE(vu::is_known_request(ch, 0));
    CHECK_FALSE(vu::is_known_request(ch, last + 1));
    CHECK_FALSE(vu::is_known_request(ch, 0x7FFFFFFF));
  }
}

TEST_CASE("requests: fd rules of §1.3") {
  CHECK(vu::info(frontend_request::set_mem_table).fds == fd_rule::one_per_region);
  CHECK(vu::info(frontend_request::set_log_base).fds == fd_rule::if_log_shmfd);
  for (auto r : {frontend_request::set_log_fd, frontend_request::set_backend_req_fd,
                 frontend_request::set_inflight_fd, frontend_request::gpu_set_socket,
                 frontend_request::add_mem_reg, frontend_request::set_device_state_fd})
    CHECK(vu::info(r).fds == fd_rule::one);
  for (auto r : {frontend_request::set_vring_kick, frontend_request::set_vring_call,
                 frontend_request::set_vring_err})
    CHECK(vu::info(r).fds == fd_rule::unless_no_fd_bit);
  CHECK(vu::info(frontend_request::rem_mem_reg).fds == fd_rule::ignored_if_present);
  CHECK(vu::info(backend_request::vring_host_notifier_msg).fds == fd_rule::unless_no_fd_bit);
  CHECK(vu::info(backend_request::shmem_map).fds == fd_rule::one);
  // Replies with fds.
  CHECK(vu::info(frontend_request::postcopy_advise).reply_fds == fd_rule::one);
  CHECK(vu::info(frontend_request::get_inflight_fd).reply_fds == fd_rule::if_mmap_size);
  CHECK(vu::info(frontend_request::get_shared_object).reply_fds == fd_rule::zero_or_one);
  CHECK(vu::info(frontend_request::set_device_state_fd).reply_fds == fd_rule::unless_no_fd_bit);
  CHECK(vu::info(backend_request::shared_object_lookup).reply_fds == fd_rule::on_success);
  // Every other request takes none.
  std::size_t with_fds = 0;
  for (std::uint32_t c = 1; c <= 44; ++c) with_fds += vu::info(channel::main, c).fds != fd_rule::none;
  CHECK(with_fds == 12);
}

TEST_CASE("B8 reply_expected: inherent replies always, everything else only with NEED_REPLY") {
  const std::set<std::uint32_t> inherent = {1, 11, 15, 17, 22, 24, 26, 28, 30, 31, 36, 40, 41, 42, 43, 44};
  for (std::uint32_t c = 1; c <= 44; ++c) {
    CAPTURE(c);
    const bool always = inherent.count(c) != 0;
    CHECK((vu::info(channel::main, c).reply == reply_rule::always) == always);
    if (c == code(frontend_request::set_log_base)) continue;
    CHECK(vu::reply_expected(channel::main, c, false, 0) == always);
    CHECK(vu::reply_expected(channel::main, c, true, 0));
  }
  // SET_LOG_BASE: inherent only with LOG_SHMFD (spec "Communication").
  const auto log_base = code(frontend_request::set_log_base);
  CHECK_FALSE(vu::reply_expected(channel::main, log_base, false, 0));
  CHECK(vu::reply_expected(channel::main, log_base, false, vu::bit(protocol_feature::log_shmfd)));
  // Back-end channel: LOOKUP and SHMEM_MAP/UNMAP always, the rest with NEED_REPLY only.
  for (std::uint32_t c = 1; c <= 10; ++c) {
    CAPTURE(c);
    CHECK(vu::reply_expected(channel::backend, c, false, 0) == (c >= 8));
    CHECK(vu::reply_expected(channel::backend, c, true, 0));
  }
  CHECK(vu::info(frontend_request::get_vring_base).reply_payload == payload_type::vring_state);
  CHECK(vu::info(frontend_request::get_config).reply_payload == payload_type::config);
}

TEST_CASE("requests: gates (rule F3) and QEMU 7.2 coverage (§11)") {
  CHECK(vu::info(frontend_request::get_queue_num).gate == protocol_feature::mq);
  CHECK(vu::info(frontend_request::get_config).gate == protocol_feature::config);
  CHECK(vu::info(frontend_request::add_mem_reg).gate == protocol_feature::configure_mem_slots);
  CHECK(vu::info(frontend_request::set_status).gate == protocol_feature::status);
  CHECK_FALSE(vu::info(frontend_request::get_features).gate.has_value());
  for (std::uint32_t c = 1; c <= 44; ++c) {
    CAPTURE(c);
    CHECK(vu::info(channel::main, c).qemu_7_2 == (c <= 40 && c != 35));
  }
  for (std::uint32_t c = 1; c <= 10; ++c) CHECK(vu::info(channel::backend, c).qemu_7_2 == (c <= 3));
}

TEST_CASE("features: bit 30, LOG_ALL, protocol bits 0-22 and their names") {
  CHECK(vu::f_protocol_features == 0x40000000ull);
  CHECK(vu::f_log_all == 0x04000000ull);
  CHECK(vu::bit(protocol_feature::reply_ack) == 0x8);
  CHECK(vu::bit(protocol_feature::config) == 0x200);
  CHECK(vu::bit(protocol_feature::inband_notifications) == 0x4000);
  CHECK(vu::bit(protocol_feature::status) == 0x10000);
  CHECK(vu::bit(protocol_feature::device_state) == 0x80000);
  CHECK(vu::bit(protocol_feature::gpa_addresses) == 0x200000);
  CHECK(vu::bit(protocol_feature::shmem) == 0x400000);  // not bit 21 (rust-vmm vhost <= 0.16)
  CHECK(vu::qemu_7_2_protocol_features == 0x1FFFF);
  CHECK(vu::known_protocol_features == 0x7FFFFF);
  std::set<std::string_view> names;
  for (unsigned b = 0; b <= vu::last_protocol_feature; ++b) {
    const auto n = vu::name(static_cast<protocol_feature>(b));
    CAPTURE(b);
    CHECK(n != "UNKNOWN");
    CHECK(names.insert(n).second);
  }
  CHECK(vu::name(static_cast<protocol_feature>(23)) == "UNKNOWN");
  CHECK(vu::has(0x208, protocol_feature::config));
  CHECK_FALSE(vu::has(0x208, protocol_feature::mq));
}

TEST_CASE("B17 INBAND_NOTIFICATIONS needs BACKEND_REQ and REPLY_ACK") {
  const auto inband = vu::bit(protocol_feature::inband_notifications);
  const auto chan = vu::bit(protocol_feature::backend_req);
  const auto ack = vu::bit(protocol_feature::reply_ack);
  CHECK(err(vu::check_protocol_dependencies(inband)) == errc::feature_dependency);
  CHECK(err(vu::check_protocol_dependencies(inband | chan)) == errc::feature_dependency);
  CHECK(err(vu::check_protocol_dependencies(inband | ack)) == errc::feature_dependency);
  CHECK(vu::check_protocol_dependencies(inband | chan | ack).has_value());
  CHECK(vu::check_protocol_dependencies(vu::qemu_7_2_protocol_features).has_value());
  CHECK(vu::check_protocol_dependencies(0).has_value());
}
