// SPDX-License-Identifier: Apache-2.0
// The vhost-user front-end against the real back-end: the epoll runner and session over a real
// Unix socket, the i2c and gpio device models behind it, the driver-side front-ends (i2c::driver,
// gpio::driver) over memfd guest RAM on the front-end's side, kicks and calls through eventfds.
// Both ring layouts. Also: a REPLY_ACK failure, GET_CONFIG, stop and resume, and reconnection to
// a restarted back-end.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "frontend_backend_support.hpp"
#include "vireo/gpio/driver.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/i2c/driver.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/vhost_user/backend/gpio_device_model.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"

namespace {

using namespace vireo_fe_test;
namespace i2c = vireo::i2c;
namespace gpio = vireo::gpio;

using bus_t = i2c::sim::bus<4>;
using i2c_model = be::i2c_device_model<bus_t>;
using chip_t = gpio::sim::chip<8, 16>;
using gpio_model = be::gpio_device_model<chip_t>;
using memory_t = ram_t::memory_type;
using drvq_t = ring::any_driver_queue<memory_t, 256>;
using i2c_front = i2c::driver<memory_t, drvq_t, 4, 8>;
using gpio_front = gpio::driver<memory_t, drvq_t, 8>;
using env_t = lh::frontend_env<frontend_t>;

constexpr std::uint16_t eeprom_at = 0x50;
constexpr std::uint64_t zero_length_request = 1;  // VIRTIO_I2C_F_ZERO_LENGTH_REQUEST, bit 0
constexpr int wait_ms = 500;                      // per env.wait(); a call normally ends it at once
constexpr std::uint32_t max_waits = 20;

i2c::address a7(std::uint16_t a) { return *i2c::address::seven_bit(a); }

struct split_layout {
  static constexpr bool packed = false;
  static constexpr std::uint16_t size = 16;
};
struct packed_layout {
  static constexpr bool packed = true;
  static constexpr std::uint16_t size = 12;  // not a power of two: the transfers wrap it
};

/// A virtio-i2c adapter behind a vhost-user back-end (the runner on its own thread) with a
/// 24C02 EEPROM at 0x50, and the front-end's side: guest RAM, the requestq's driver queue.
struct i2c_rig {
  vireo_socket_test::temp_dir dir;
  std::string path = dir.file("i2c.sock");
  bus_t bus;
  i2c::sim::eeprom_24c02 eeprom;
  std::unique_ptr<i2c_model> model = std::make_unique<i2c_model>(bus, 256);
  std::unique_ptr<served_backend<i2c_model>> backend =
      std::make_unique<served_backend<i2c_model>>(*model, path);
  ram_t ram = make_ram();
  drvq_t drvq{ram.memory()};
  std::optional<i2c_front> front;

  i2c_rig() { REQUIRE(bus.attach(a7(eeprom_at), eeprom)); }

  /// Connect and set the front-end up the QEMU way: negotiate, SET_FEATURES, status, memory
  /// table, start the requestq.
  frontend_t connect(bool packed, std::uint16_t size, lh::frontend_options o = {}) {
    lh::connect_options co;
    co.attempts = 20;
    co.retry_delay_ms = 10;
    auto fe = frontend_t::connect(path, o, co);
    REQUIRE(fe);
    REQUIRE(fe->negotiate());
    auto acked = fe->set_features(version_1 | event_idx | zero_length_request | layout_bit(packed));
    REQUIRE(acked);
    REQUIRE(fe->set_mem_table(ram.regions()));
    const ring::queue_config cfg = plan_queue(0, size, *acked);
    REQUIRE(drvq.configure(cfg));
    REQUIRE(fe->start_vring(0, cfg));
    auto f = i2c_front::create(ram.memory(), drvq,
                               ring::driver_region{data_base, i2c_front::region_size(256)},
                               feature_set::from_words(*acked));
    REQUIRE(f);
    front.emplace(std::move(*f));
    return std::move(*fe);
  }

  /// Write `text` at EEPROM word `word` (one page), then read it back in one FAIL_NEXT group.
  void write_and_read(frontend_t& fe, std::uint8_t word, std::string_view text) {
    env_t env{fe, wait_ms};
    std::array<std::byte, 9> page{std::byte{word}};
    REQUIRE(text.size() == 8);
    std::memcpy(page.data() + 1, text.data(), 8);
    auto w = front->transfer(i2c::transfer_msg::write(a7(eeprom_at), page), env, max_waits);
    REQUIRE(w);
    CHECK(w->ok());
    std::array<std::byte, 8> back{};
    const std::byte at{word};
    const std::array msgs{i2c::transfer_msg::write(a7(eeprom_at), {&at, 1}),
                          i2c::transfer_msg::read(a7(eeprom_at), back)};
    auto r = front->transfer(msgs, env, max_waits);
    REQUIRE(r);
    CHECK(r->ok());
    CHECK(std::equal(back.begin(), back.end(), page.begin() + 1));
    CHECK(env.kicks() >= 1);
    CHECK_FALSE(env.error());
    // The back-end signalled the call eventfd: the driver waited on it, or it is still pending
    // (the completion came before the driver looked; the first one always notifies, §2.7.10).
    auto pending = fe.wait_call(0, 0);
    REQUIRE(pending);
    CHECK(env.calls() + (*pending ? 1 : 0) >= 1);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("frontend: an i2c transfer end to end through the real back-end", L,
                   split_layout, packed_layout) {
  i2c_rig rig;
  frontend_t fe = rig.connect(L::packed, L::size);
  CHECK(fe.protocol_features() ==
        (vu::bit(pf::mq) | vu::bit(pf::reply_ack) | vu::bit(pf::configure_mem_slots) |
         vu::bit(pf::status) | vu::bit(pf::log_shmfd)));  // no CONFIG: i2c has none
  CHECK(fe.queue_num() == 1u);
  CHECK(fe.max_mem_slots() == 32u);
  CHECK(fe.vring_started(0));
  CHECK(fe.vring_enabled(0));
  CHECK(fe.mem_table().size() == 2);

  rig.write_and_read(fe, 0x20, "vhost-fe");
  rig.write_and_read(fe, 0x28, "2nd page");
  CHECK(fe.check_connection());

  rig.backend->pause();
  const auto& starts = rig.backend->rec.starts;
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].index == 0);
  // A fresh ring: split 0, packed avail/used 0 with both wrap counters 1 (§2.8.1).
  const std::uint16_t fresh = L::packed ? 0x8000 : 0;
  CHECK(starts[0].state == ring::queue_state{fresh, fresh});
  const auto e = rig.eeprom.contents();
  CHECK(std::memcmp(e.data() + 0x20, "vhost-fe2nd page", 16) == 0);
}

TEST_CASE_TEMPLATE("frontend: F8 GET_VRING_BASE stops the ring, its base resumes it", L,
                   split_layout, packed_layout) {
  i2c_rig rig;
  frontend_t fe = rig.connect(L::packed, L::size);
  rig.write_and_read(fe, 0x00, "before..");

  auto base = fe.stop_vring(0);
  REQUIRE(base);
  CHECK_FALSE(fe.vring_started(0));
  // Nothing is in flight: the device's positions are the driver's.
  CHECK(*base == lh::quiescent_vring_base(rig.drvq.avail_index(), L::packed));
  CHECK(*base != lh::initial_vring_base(L::packed));
  CHECK(fe.resume_base(0) == *base);

  // Stopped means stopped: a kick now is not served (the request waits in the ring).
  env_t env{fe, 50};
  const std::array<std::byte, 2> poke{std::byte{0x10}, std::byte{0x5A}};
  auto id = rig.front->submit(std::array{i2c::transfer_msg::write(a7(eeprom_at), poke)});
  REQUIRE(id);
  rig.front->flush(env);
  auto nothing = fe.wait_call(0, 50);
  REQUIRE(nothing);
  CHECK_FALSE(*nothing);
  auto none = rig.front->poll();
  REQUIRE(none);
  CHECK_FALSE(none->has_value());

  // Restart from the saved base: the queued request is served, then new ones.
  REQUIRE(fe.start_vring(0));
  CHECK(fe.vring_started(0));
  CHECK_FALSE(fe.resume_base(0));
  std::optional<i2c::completion> done;
  for (int i = 0; i < 40 && !done; ++i) {
    auto got = rig.front->poll();
    REQUIRE(got);
    if (*got) done = **got;
    else REQUIRE(fe.wait_calls(wait_ms));
  }
  REQUIRE(done);
  CHECK(done->ok());
  rig.write_and_read(fe, 0x08, "after...");

  rig.backend->pause();
  const auto& rec = rig.backend->rec;
  REQUIRE(rec.starts.size() == 2);
  REQUIRE(rec.stops.size() == 1);
  // The base travelled: the stop position, SET_VRING_BASE's value, the restart position.
  const auto lo = static_cast<std::uint16_t>(*base & 0xFFFF);
  const auto hi = static_cast<std::uint16_t>(L::packed ? *base >> 16 : *base & 0xFFFF);
  CHECK(rec.stops[0].state == ring::queue_state{lo, hi});
  CHECK(rec.starts[1].state == ring::queue_state{lo, hi});
  CHECK(rig.eeprom.contents()[0x10] == std::byte{0x5A});
}

TEST_CASE("frontend: a REPLY_ACK failure surfaces as host_request_failed; the session goes on") {
  i2c_rig rig;
  lh::connect_options co;
  co.attempts = 20;
  co.retry_delay_ms = 10;
  auto fe = frontend_t::connect(rig.path, {}, co);
  REQUIRE(fe);
  REQUIRE(fe->negotiate());
  REQUIRE(fe->negotiated(pf::reply_ack));
  auto acked = fe->set_features(version_1);  // without VIRTIO_I2C_F_ZERO_LENGTH_REQUEST
  REQUIRE(acked);
  REQUIRE(fe->set_mem_table(rig.ram.regions()));

  // A region the back-end cannot map (a pipe is not a file): ADD_MEM_REG's ack is a failure,
  // and the table stays as it was.
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  lh::unique_fd rd{pipe_fds[0]}, wr{pipe_fds[1]};
  const lh::shared_ram_region bogus{rd.get(), 0x9000'0000, 4096, 0x7000'0000'0000, 0};
  CHECK(err(fe->add_mem_region(bogus)) == errc::host_request_failed);
  CHECK(fe->mem_table().size() == 2);
  CHECK(fe->connected());

  // The device refuses to start without ZERO_LENGTH_REQUEST (§5.16.6.4): the KICK that would
  // start the ring is acked with a failure.
  const ring::queue_config cfg = plan_queue(0, 16, *acked);
  CHECK(err(fe->start_vring(0, cfg)) == errc::host_request_failed);
  CHECK(fe->connected());
  CHECK_FALSE(fe->vring_started(0));

  // Features may change while no ring runs; then everything works.
  acked = fe->set_features(version_1 | zero_length_request);
  REQUIRE(acked);
  REQUIRE(rig.drvq.configure(cfg));
  REQUIRE(fe->start_vring(0, cfg));
  auto f = i2c_front::create(rig.ram.memory(), rig.drvq,
                             ring::driver_region{data_base, i2c_front::region_size(256)},
                             feature_set::from_words(*acked));
  REQUIRE(f);
  rig.front.emplace(std::move(*f));
  rig.write_and_read(*fe, 0x40, "acked ok");
}

TEST_CASE("frontend: without REPLY_ACK a refused request ends the connection instead") {
  i2c_rig rig;
  lh::frontend_options o;
  o.protocol_features = lh::frontend_protocol_features & ~vu::bit(pf::reply_ack);
  lh::connect_options co;
  co.attempts = 20;
  co.retry_delay_ms = 10;
  auto fe = frontend_t::connect(rig.path, o, co);
  REQUIRE(fe);
  REQUIRE(fe->negotiate());
  CHECK_FALSE(fe->negotiated(pf::reply_ack));
  auto acked = fe->set_features(version_1);  // the device will refuse to start
  REQUIRE(acked);
  REQUIRE(fe->set_mem_table(rig.ram.regions()));
  // Nothing tells the front-end that KICK failed, so the back-end drops the connection
  // (session close_connection); the front-end learns it at its next exchange: the
  // SET_VRING_ENABLE that follows KICK (if the close came first), or the GET_STATUS after it.
  const auto started = fe->start_vring(0, plan_queue(0, 16, *acked));
  const auto status = fe->get_status();
  CHECK((started ? err(status) : started.error()) == errc::host_disconnected);
  CHECK_FALSE(fe->connected());
}

TEST_CASE_TEMPLATE("frontend: GET_CONFIG reads a gpio back-end's config space; gpio end to end",
                   L, split_layout, packed_layout) {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("gpio.sock");
  chip_t chip{4};
  chip.set_name(0, "led");
  chip.set_name(2, "button");
  gpio_model model{chip};
  served_backend<gpio_model> backend{model, path};
  ram_t ram = make_ram();

  lh::frontend_options o;
  o.num_queues = 2;
  auto fe = frontend_t::connect(path, o);
  REQUIRE(fe);
  REQUIRE(fe->negotiate());
  REQUIRE(fe->negotiated(pf::config));
  CHECK(fe->queue_num() == 2u);

  std::array<std::byte, sizeof(gpio::wire::config)> raw{};
  REQUIRE(fe->get_config(0, raw));
  gpio::wire::config cfg_space;
  std::memcpy(&cfg_space, raw.data(), sizeof cfg_space);
  CHECK(cfg_space.ngpio.get() == 4);
  CHECK(cfg_space.gpio_names_size.get() == 4 + 1 + 7 + 1);  // "led\0" "\0" "button\0" "\0"
  std::array<std::byte, 4> names_size{};
  REQUIRE(fe->get_config(4, names_size));  // a part of it, at an offset
  CHECK(std::memcmp(names_size.data(), raw.data() + 4, 4) == 0);
  // Out of the 8-byte space: the back-end's size-0 error reply (rule B18).
  std::array<std::byte, 16> beyond{};
  CHECK(err(fe->get_config(0, beyond)) == errc::host_request_failed);
  CHECK(fe->connected());
  // Read-only fields (§5.18.4): SET_CONFIG is refused through REPLY_ACK.
  const std::array<std::byte, 2> ngpio{std::byte{9}, std::byte{0}};
  CHECK(err(fe->set_config(0, ngpio)) == errc::host_request_failed);
  CHECK(fe->connected());

  auto acked = fe->set_features(version_1 | layout_bit(L::packed));  // no VIRTIO_GPIO_F_IRQ
  REQUIRE(acked);
  CHECK((*acked & 1) == 0);
  REQUIRE(fe->set_mem_table(ram.regions()));
  const ring::queue_config rq = plan_queue(0, L::size, *acked);
  drvq_t drvq{ram.memory()};
  REQUIRE(drvq.configure(rq));
  REQUIRE(fe->start_vring(0, rq));  // the eventq exists only with F_IRQ (§5.18.2)
  auto made = gpio_front::create(ram.memory(), drvq, nullptr,
                                 ring::driver_region{data_base, 4096}, cfg_space,
                                 feature_set::from_words(*acked));
  REQUIRE(made);
  gpio_front& front = *made;
  env_t env{*fe, wait_ms};
  REQUIRE(front.direction_output(2, gpio::level::high, env, max_waits));
  auto v = front.get_value(2, env, max_waits);
  REQUIRE(v);
  CHECK(*v == gpio::level::high);
  REQUIRE(front.set_value(2, gpio::level::low, env, max_waits));
  v = front.get_value(2, env, max_waits);
  REQUIRE(v);
  CHECK(*v == gpio::level::low);
  auto pending = fe->wait_call(0, 0);  // a call the driver did not need to wait for
  REQUIRE(pending);
  CHECK(env.calls() + (*pending ? 1 : 0) >= 1);

  backend.pause();
  CHECK(chip.line_direction(2) == gpio::direction::out);
  CHECK(chip.driven(2) == gpio::level::low);
}

TEST_CASE_TEMPLATE("frontend: reconnect to a restarted back-end resends the whole setup", L,
                   split_layout, packed_layout) {
  i2c_rig rig;
  frontend_t fe = rig.connect(L::packed, L::size);
  REQUIRE(fe.set_status(0x0F));  // ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
  rig.write_and_read(fe, 0x30, "session1");
  const auto kick_fd = fe.kick_fd(0);

  // The back-end exits: its side of the connection closes.
  rig.backend.reset();
  CHECK(err(fe.check_connection()) == errc::host_disconnected);
  CHECK_FALSE(fe.connected());
  CHECK(fe.vring_started(0));  // as far as the setup goes: it runs again after a reconnect

  // A restarted back-end (a fresh device model and session) at the same path.
  rig.model = std::make_unique<i2c_model>(rig.bus, 256);
  rig.backend = std::make_unique<served_backend<i2c_model>>(*rig.model, rig.path);

  // The old back-end went away without GET_VRING_BASE: where the ring stands is unknown.
  CHECK(err(fe.reconnect(rig.path)) == errc::vhost_out_of_order);
  // The driver has nothing in flight, so its positions are the device's.
  const std::uint32_t base = lh::quiescent_vring_base(rig.drvq.avail_index(), L::packed);
  REQUIRE(fe.set_resume_base(0, base));
  lh::connect_options co;
  co.attempts = 20;
  co.retry_delay_ms = 10;
  REQUIRE(fe.reconnect(rig.path, co));
  CHECK(fe.connected());
  CHECK(fe.vring_started(0));
  CHECK(fe.vring_enabled(0));
  CHECK(fe.kick_fd(0) == kick_fd);  // the same eventfds, passed again
  auto status = fe.get_status();
  REQUIRE(status);
  CHECK(*status == 0x0F);

  rig.write_and_read(fe, 0x38, "session2");

  rig.backend->pause();
  const auto& starts = rig.backend->rec.starts;
  REQUIRE(starts.size() == 1);
  const auto lo = static_cast<std::uint16_t>(base & 0xFFFF);
  const auto hi = static_cast<std::uint16_t>(L::packed ? base >> 16 : base & 0xFFFF);
  CHECK(starts[0].state == ring::queue_state{lo, hi});
  CHECK(rig.backend->server().connections() == 1);
  CHECK(std::memcmp(rig.eeprom.contents().data() + 0x30, "session1session2", 16) == 0);
}

TEST_CASE("frontend: the memory table is sent again region by region after a reconnect") {
  // Without CONFIGURE_MEM_SLOTS: SET_MEM_TABLE, on both connections.
  i2c_rig rig;
  lh::frontend_options o;
  o.protocol_features = lh::frontend_protocol_features & ~vu::bit(pf::configure_mem_slots);
  frontend_t fe = rig.connect(false, 16, o);
  CHECK_FALSE(fe.negotiated(pf::configure_mem_slots));
  CHECK_FALSE(fe.max_mem_slots());
  rig.write_and_read(fe, 0x50, "tableone");
  auto base = fe.stop_vring(0);  // a clean stop: the base is known
  REQUIRE(base);
  rig.backend.reset();
  rig.model = std::make_unique<i2c_model>(rig.bus, 256);
  rig.backend = std::make_unique<served_backend<i2c_model>>(*rig.model, rig.path);
  lh::connect_options co;
  co.attempts = 20;
  co.retry_delay_ms = 10;
  REQUIRE(fe.reconnect(rig.path, co));
  CHECK_FALSE(fe.vring_started(0));  // it was stopped: it stays stopped
  REQUIRE(fe.start_vring(0));        // from the GET_VRING_BASE answer
  rig.write_and_read(fe, 0x58, "tabletwo");
  rig.backend->pause();
  CHECK(rig.backend->server().session().regions().size() == 2);
}
