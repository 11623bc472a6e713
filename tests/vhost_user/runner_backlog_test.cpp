// SPDX-License-Identifier: Apache-2.0
// Fairness of the runner against a driver that keeps adding: a device model serves at most a
// budget of chains per on_kick() (device_with_backlog) and the runner comes back for the rest at
// its next turn, without another kick. Here the gpio model's budget is 1 chain, so one kick
// for three queued requests must still complete all three.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "frontend_backend_support.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/vhost_user/backend/gpio_device_model.hpp"

namespace {

using namespace vireo_fe_test;
namespace gpio = vireo::gpio;

using chip_t = gpio::sim::chip<8, 16>;
using model_t = be::gpio_device_model<chip_t>;
static_assert(be::device_with_backlog<model_t>);
using drvq_t = ring::any_driver_queue<ram_t::memory_type, 256>;

constexpr std::uint16_t page = 4096;

}  // namespace

TEST_CASE("runner: a device that stops at its kick budget is served again without a kick") {
  for (const bool packed : {false, true}) {
    CAPTURE(packed);
    vireo_socket_test::temp_dir dir;
    const std::string path = dir.file("gpio.sock");
    chip_t chip{4};
    be::gpio_model_options opt;
    opt.kick_budget = 1;
    model_t model{chip, opt};
    served_backend<model_t> backend{model, path};
    ram_t ram = make_ram();

    lh::frontend_options o;
    o.num_queues = 2;
    auto fe = frontend_t::connect(path, o, patient());
    REQUIRE(fe);
    REQUIRE(fe->negotiate());
    const std::uint64_t wanted = version_1 | layout_bit(packed);  // no EVENT_IDX, no F_IRQ
    auto acked = fe->set_features(wanted);
    REQUIRE(acked);
    REQUIRE(fe->set_mem_table(ram.regions()));
    const ring::queue_config cfg = plan_queue(0, 16, *acked);
    drvq_t q{ram.memory()};
    REQUIRE(q.configure(cfg));
    REQUIRE(fe->start_vring(0, cfg));

    // Three GET_DIRECTION requests (lines 0, 1, 2), each with its own buffers, then one kick.
    for (std::uint16_t line = 0; line < 3; ++line) {
      const gpa req_at = data_base.offset(page * (1 + 2u * line));
      const gpa resp_at = data_base.offset(page * (2 + 2u * line));
      gpio::wire::request req{};
      req.type.set(static_cast<std::uint16_t>(gpio::msg_type::get_direction));
      req.gpio.set(line);
      REQUIRE(ram.memory().write(req_at, vireo::as_bytes_of(req)));
      const std::array readable{ring::buffer{req_at, sizeof req}};
      const std::array writable{ring::buffer{resp_at, 2}};
      REQUIRE(q.add(readable, writable));
    }
    REQUIRE(fe->kick(0));

    int completed = 0;
    for (int i = 0; i < 40 && completed < 3; ++i) {
      auto got = q.reclaim();
      REQUIRE(got);
      if (*got) {
        CHECK((*got)->len == 2);
        ++completed;
      } else {
        (void)fe->wait_call(0, 50);
      }
    }
    CHECK(completed == 3);
    backend.pause();
    CHECK(model.stats().requests == 3);
    CHECK(model.backlog() == 0);
    CHECK_FALSE(model.broken(0));
  }
}
