// SPDX-License-Identifier: Apache-2.0
// The QEMU 7.2 init, start and stop sequences of vhost-user digest §7.1-§7.3 replayed message by
// message against the back-end session for vhost-user-i2c (1 vring of 4) and vhost-user-gpio
// (2 vrings of 256, 8-byte config), with the exact replies and actions expected at each step.
#include "backend_test_support.hpp"

using namespace vireo_vu_test;
using be::action_kind;

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t indirect = std::uint64_t{1} << 28;
constexpr std::uint64_t event_idx = std::uint64_t{1} << 29;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t uaddr = 0x7f12'3400'0000;  // QEMU's mapping of guest RAM
constexpr std::uint64_t ram = 0x100000;

fake_device i2c_device() {
  fake_device d;
  d.features = version_1 | indirect | event_idx | 1;  // ZERO_LENGTH_REQUEST
  d.queues = 1;
  return d;
}
fake_device gpio_device() {
  fake_device d;
  d.features = version_1 | indirect | event_idx | 1;  // GPIO_F_IRQ
  d.queues = 2;
  d.config = {8, 0, 0, 0, 0x40, 0, 0, 0};  // ngpio 8, gpio_names_size 64
  return d;
}

void no_reply(const harness& h) {
  CHECK(h.last.status.has_value());
  CHECK_FALSE(h.replied());
  CHECK_FALSE(h.last.close_connection);
}

/// §7.1 steps 1-9 (step 10, GET_CONFIG, is gpio's and done by the caller).
void qemu_init(harness& h, std::uint64_t protocol_offer) {
  h.send(req(fr::get_features));
  CHECK(h.reply_u64(code(fr::get_features)) == (h.dev.features | bit30));
  h.send(req(fr::get_protocol_features));
  CHECK(h.reply_u64(code(fr::get_protocol_features)) == protocol_offer);
  h.send(u64_req(fr::set_protocol_features, protocol_offer & vu::qemu_7_2_protocol_features));
  no_reply(h);
  h.send(req(fr::get_queue_num));
  CHECK(h.reply_u64(code(fr::get_queue_num)) == h.dev.queues);
  h.send(req(fr::get_max_mem_slots));
  CHECK(h.reply_u64(code(fr::get_max_mem_slots)) == 32);
  // Step 6: BACKEND_REQ acked, so the back-end channel comes before SET_OWNER, with NEED_REPLY
  // (REPLY_ACK acked). The session keeps the socket.
  const int channel = h.new_fd();
  h.send(req(fr::set_backend_req_fd, need), {channel});
  CHECK(h.reply_u64(code(fr::set_backend_req_fd)) == 0);
  CHECK(h.actions().empty());
  CHECK(h.s->backend_fd() == channel);
  h.send(req(fr::set_owner));
  no_reply(h);
  h.send(req(fr::get_features));
  CHECK(h.reply_u64(code(fr::get_features)) == (h.dev.features | bit30));
  for (std::uint32_t i = 0; i < h.dev.queues; ++i) {
    h.send(u64_req(fr::set_vring_call, i), {h.new_fd()});
    no_reply(h);
    CHECK(h.actions().empty());
    h.send(u64_req(fr::set_vring_err, i), {h.new_fd()});
    no_reply(h);
    CHECK(h.actions().empty());
  }
  CHECK(h.open_fds.size() == 2 * h.dev.queues + 1);
}

/// §7.2 steps 2-5: features, status, memory (ADD_MEM_REG with NEED_REPLY), then per vring
/// NUM, BASE, ADDR, KICK: the KICK starts the ring.
void qemu_start(harness& h, std::uint64_t acked, std::uint32_t size, std::uint32_t base) {
  h.send(u64_req(fr::set_features, acked | bit30));
  no_reply(h);
  CHECK(h.actions().empty());  // bit 30 acked: rings stay disabled (B11)
  h.send(req(fr::get_status));
  const std::uint64_t st = h.reply_u64(code(fr::get_status));
  h.send(u64_req(fr::set_status, st | 8));  // FEATURES_OK
  no_reply(h);
  const int mem = h.new_file(ram);
  h.send(mem_reg(fr::add_mem_reg, {0, ram, uaddr, 0}, need), {mem});
  CHECK(h.reply_u64(code(fr::add_mem_reg)) == 0);
  CHECK(h.actions() ==
        std::vector{act(action_kind::memory_changed), act(action_kind::close_fd, 0, mem)});
  for (std::uint32_t i = 0; i < h.dev.queues; ++i) {
    const std::uint64_t ring = 0x10000 * (i + 1);
    h.send(state_req(fr::set_vring_num, i, size));
    no_reply(h);
    h.send(state_req(fr::set_vring_base, i, base));
    no_reply(h);
    h.send(addr_req(i, uaddr + ring, uaddr + ring + 0x8000, uaddr + ring + 0x4000));
    no_reply(h);
    CHECK(h.actions().empty());
    const int kick = h.new_fd();
    h.send(u64_req(fr::set_vring_kick, i), {kick});
    no_reply(h);
    CHECK(h.actions() == std::vector{act(action_kind::start_vring, i)});
    CHECK(h.s->vring(i).kick_fd == kick);
    const auto& cfg = h.dev.running.at(i);
    CHECK(cfg.size == size);
    CHECK(cfg.desc_table.raw() == ring);
    CHECK(cfg.driver_area.raw() == ring + 0x4000);
    CHECK(cfg.device_area.raw() == ring + 0x8000);
    CHECK(cfg.features.word(0) == (acked | bit30));
    CHECK(h.dev.started_at.at(i).next_avail == (base & 0xFFFF));
  }
}

void driver_ok(harness& h) {
  h.send(req(fr::get_status));
  const std::uint64_t st = h.reply_u64(code(fr::get_status));
  CHECK(st == 8);
  h.send(u64_req(fr::set_status, st | 1 | 2 | 4));
  no_reply(h);
  CHECK(h.s->status() == 0xF);
}

/// §7.2 step 9: the guest notifier replaces the init-time call fd, which is closed.
void unmask(harness& h) {
  for (std::uint32_t i = 0; i < h.dev.queues; ++i) {
    const int old = h.s->vring(i).call_fd;
    const int fresh = h.new_fd();
    h.send(u64_req(fr::set_vring_call, i), {fresh});
    no_reply(h);
    CHECK(h.actions() == std::vector{act(action_kind::close_fd, 0, old),
                                     act(action_kind::vring_fds_changed, i)});
    CHECK(h.s->vring(i).call_fd == fresh);
  }
}

void enable_all(harness& h) {
  for (std::uint32_t i = 0; i < h.dev.queues; ++i) {
    h.send(state_req(fr::set_vring_enable, i, 1));
    no_reply(h);
    CHECK(h.actions() == std::vector{act(action_kind::enable_vring, i)});
    CHECK(h.dev.enabled.at(i));
  }
}

/// §7.3 step 3: GET_VRING_BASE stops the ring and returns the device's position.
void get_base(harness& h, std::uint32_t i, std::uint16_t next_avail) {
  h.dev.position[i] = {next_avail, next_avail};
  const int kick = h.s->vring(i).kick_fd;
  h.send(state_req(fr::get_vring_base, i, 0));
  REQUIRE(h.last.reply().size() == 20);
  CHECK(h.reply_word(0) == code(fr::get_vring_base));
  CHECK(h.reply_word(4) == rep_flags);
  CHECK(h.reply_word(8) == 8);
  CHECK(h.reply_word(12) == i);
  CHECK(h.reply_word(16) == next_avail);
  CHECK(h.actions() ==
        std::vector{act(action_kind::stop_vring, i), act(action_kind::close_fd, 0, kick)});
  CHECK(h.dev.running.count(i) == 0);
  CHECK_FALSE(h.s->vring(i).started);
}

}  // namespace

TEST_CASE("QEMU 7.2 vhost-user-i2c: init, start, stop, restart, disconnect (§7.1-§7.3)") {
  harness h(i2c_device());
  // QEMU masks CONFIG for i2c; the session does not offer it for a device without config.
  qemu_init(h, 0x18029);
  CHECK(h.s->protocol_features() == 0x18029);
  qemu_start(h, version_1 | 1, 4, 0);
  enable_all(h);  // i2c: vhost_dev_start(vrings = true)
  driver_ok(h);
  unmask(h);
  // Stop: SET_STATUS(0) (not a teardown, pitfall 5), disable, GET_VRING_BASE.
  h.send(u64_req(fr::set_status, 0));
  no_reply(h);
  CHECK(h.s->owned());
  h.send(state_req(fr::set_vring_enable, 0, 0));
  no_reply(h);
  CHECK(h.actions() == std::vector{act(action_kind::disable_vring, 0)});
  get_base(h, 0, 7);
  // Restart from the returned base: QEMU re-sends NUM, BASE, ADDR, KICK (memory stays).
  h.send(u64_req(fr::set_features, version_1 | 1 | bit30));
  h.send(state_req(fr::set_vring_num, 0, 4));
  h.send(state_req(fr::set_vring_base, 0, 7));
  h.send(addr_req(0, uaddr + 0x10000, uaddr + 0x18000, uaddr + 0x14000));
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  CHECK(h.events() == std::vector{act(action_kind::start_vring, 0)});
  CHECK(h.dev.started_at.at(0).next_avail == 7);
  h.disconnect();
  CHECK(h.dev.running.empty());
  CHECK_FALSE(h.s->owned());
}

TEST_CASE("QEMU 7.2 vhost-user-gpio: init, GET_CONFIG, start, explicit enable, stop (§7.1-§7.3)") {
  harness h(gpio_device());
  qemu_init(h, 0x18229);
  // Step 10: GET_CONFIG {0, 8, 0} with 8 zero bytes; the reply must be exactly 12 + 8 (B18).
  h.send(req(fr::get_config, plain, builder{}.u32(0).u32(8).u32(0).zeros(8)));
  REQUIRE(h.last.reply().size() == 32);
  CHECK(h.reply_word(0) == code(fr::get_config));
  CHECK(h.reply_word(4) == rep_flags);
  CHECK(h.reply_word(8) == 20);
  CHECK(h.reply_word(12) == 0);  // offset
  CHECK(h.reply_word(16) == 8);  // size
  CHECK(h.reply_word(20) == 0);  // flags
  CHECK(h.reply_word(24) == 8);  // ngpio
  CHECK(h.reply_word(28) == 64); // gpio_names_size
  qemu_start(h, version_1 | 1, 256, 0);
  driver_ok(h);
  unmask(h);
  enable_all(h);  // gpio: vhost_dev_start(vrings = false), then enable after unmasking
  // Stop: SET_STATUS(0), then GET_VRING_BASE only (no disable).
  h.send(u64_req(fr::set_status, 0));
  no_reply(h);
  get_base(h, 0, 300);
  get_base(h, 1, 2);
  h.disconnect();
}

TEST_CASE("QEMU 7.2 vhost-user-gpio over a packed ring: the base carries both wrap counters") {
  constexpr std::uint64_t ring_packed = std::uint64_t{1} << 34;
  fake_device d = gpio_device();
  d.features |= ring_packed;
  harness h(d);
  qemu_init(h, 0x18229);
  // Packed: any size; base = avail | avail_wrap << 15 | (used | used_wrap << 15) << 16.
  qemu_start(h, version_1 | ring_packed, 100, 0x8005'8003);
  CHECK(h.dev.started_at.at(0).next_avail == 0x8003);
  CHECK(h.dev.started_at.at(0).used_idx == 0x8005);
  h.dev.position[0] = {0x0010, 0x800F};
  h.send(state_req(fr::get_vring_base, 0, 0));
  CHECK(h.reply_word(16) == 0x800F'0010u);
  h.disconnect();
}
