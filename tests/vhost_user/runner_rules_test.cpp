// SPDX-License-Identifier: Apache-2.0
// Back-end rules that only show with the runner, a device model and a front-end together:
// B21 (call fds only for started, enabled rings; a disabled ring is not served) and B10 (a
// stopped ring is neither served nor signalled), through Vireo's front-end over a real socket.
#include <doctest/doctest.h>

#include <array>
#include <optional>

#include "frontend_backend_support.hpp"
#include "vireo/i2c/driver.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"

namespace {

using namespace vireo_fe_test;
namespace i2c = vireo::i2c;

using bus_t = i2c::sim::bus<4>;
using i2c_model = be::i2c_device_model<bus_t>;
using memory_t = ram_t::memory_type;
using drvq_t = ring::any_driver_queue<memory_t, 256>;
using i2c_front = i2c::driver<memory_t, drvq_t, 4, 8>;

constexpr std::uint64_t zero_length_request = 1;

/// Has the front-end got a completion within `ms`? (Waits on the call fd, then polls the ring.)
std::optional<i2c::completion> completion_within(frontend_t& fe, i2c_front& front, int ms) {
  for (int i = 0; i < 4; ++i) {
    auto got = front.poll();
    REQUIRE(got);
    if (*got) return **got;
    auto called = fe.wait_call(0, ms / 4);
    REQUIRE(called);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("runner: B21 B11 a started ring that is not enabled is neither served nor signalled") {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("i2c.sock");
  bus_t bus;
  i2c::sim::register_map<16> regs;
  regs.set(3, 0x42);
  REQUIRE(bus.attach(*i2c::address::seven_bit(0x20), regs));
  i2c_model model{bus, 64};
  served_backend<i2c_model> backend{model, path};
  ram_t ram = make_ram();

  lh::frontend_options o;
  o.enable_on_start = false;  // bit 30 acked: the ring starts disabled (rule B11)
  auto fe = frontend_t::connect(path, o);
  REQUIRE(fe);
  REQUIRE(fe->negotiate());
  auto acked = fe->set_features(version_1 | zero_length_request);
  REQUIRE(acked);
  REQUIRE(fe->set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, 16, *acked);
  drvq_t q{ram.memory()};
  REQUIRE(q.configure(cfg));
  REQUIRE(fe->start_vring(0, cfg));
  CHECK_FALSE(fe->vring_enabled(0));
  auto made = i2c_front::create(ram.memory(), q, ring::driver_region{data_base, 4096},
                                feature_set::from_words(*acked));
  REQUIRE(made);
  i2c_front& front = *made;
  lh::frontend_env<frontend_t> env{*fe, 50};

  std::array<std::byte, 1> value{};
  const std::byte reg{3};
  const std::array msgs{i2c::transfer_msg::write(*i2c::address::seven_bit(0x20), {&reg, 1}),
                        i2c::transfer_msg::read(*i2c::address::seven_bit(0x20), value)};
  REQUIRE(front.submit(msgs));
  front.flush(env);  // the kick arrives; the ring is disabled
  CHECK_FALSE(completion_within(*fe, front, 200));
  CHECK(model.stats().requests_ok + model.stats().requests_err == 0);

  REQUIRE(fe->enable_vring(0, true));  // enabling serves what waits, and signals the call fd
  auto done = completion_within(*fe, front, 2000);
  REQUIRE(done);
  CHECK(done->ok());
  CHECK(value[0] == std::byte{0x42});

  // B10: once GET_VRING_BASE stopped the ring, a kick is not served and nothing is signalled.
  REQUIRE(fe->stop_vring(0));
  REQUIRE(front.submit(msgs));
  front.flush(env);
  CHECK_FALSE(completion_within(*fe, front, 200));
}
