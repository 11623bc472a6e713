// SPDX-License-Identifier: Apache-2.0
// Inflight resume of virtio-gpio's eventq (vhost-user digest §6.4) over a real socket: the
// interrupt pair the device holds is the request a gpio back-end has in flight for a long time.
// The first back-end holds it and is torn down without completing it (the connection drops, as
// after a crash); a second back-end on the same path gets the inflight region back with
// SET_INFLIGHT_FD, resubmits the pair from it and completes it exactly once (INVALID: the new
// device has no interrupt set up on the line); a re-armed pair then fires once.
// Both ring layouts; each in its region layout.
#include <doctest/doctest.h>
#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "frontend_backend_support.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/linux/inflight_memfd.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/vhost_user/backend/gpio_device_model.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"

namespace {

using namespace vireo_fe_test;
namespace gpio = vireo::gpio;

using chip_t = gpio::sim::chip<8, 16>;
using model_t = be::gpio_device_model<chip_t>;
static_assert(be::inflight_device<model_t>);
using memory_t = ram_t::memory_type;
using drvq_t = ring::any_driver_queue<memory_t, 256>;
using backend_t = served_backend<model_t, lh::memfd_inflight_allocator>;

constexpr std::uint64_t gpio_f_irq = 1;  // VIRTIO_GPIO_F_IRQ, bit 0
constexpr std::uint16_t queue_size = 16;
constexpr std::uint16_t page = 4096;

struct split_layout {
  static constexpr bool packed = false;
};
struct packed_layout {
  static constexpr bool packed = true;
};

template <typename T>
void put(ram_t& ram, gpa at, const T& v) {
  REQUIRE(ram.memory().write(at, vireo::as_bytes_of(v)));
}

std::uint8_t byte_at(ram_t& ram, gpa at) {
  std::uint8_t b = 0;
  REQUIRE(ram.memory().read(at, vireo::bytes{reinterpret_cast<std::byte*>(&b), 1}));
  return b;
}

/// The next used entry of `q` within `tries` x 100 ms (waits on vring `i`'s call fd), or none.
std::optional<ring::used_buffer> used_within(frontend_t& fe, drvq_t& q, std::uint32_t i,
                                             int tries = 10) {
  for (int n = 0; n < tries; ++n) {
    auto got = q.reclaim();
    REQUIRE(got);
    if (*got) return **got;
    REQUIRE(fe.wait_call(i, 100));
  }
  return std::nullopt;
}

/// One requestq request at fixed guest addresses; checks it completes with VIRTIO_GPIO_STATUS_OK.
void request(frontend_t& fe, ram_t& ram, drvq_t& rq, gpio::msg_type t, std::uint16_t line,
             std::uint32_t value) {
  const gpa req_at = data_base.offset(page), resp_at = data_base.offset(2 * page);
  gpio::wire::request req{};
  req.type.set(static_cast<std::uint16_t>(t));
  req.gpio.set(line);
  req.value.set(value);
  put(ram, req_at, req);
  put(ram, resp_at, std::uint8_t{0xAA});
  const std::array readable{ring::buffer{req_at, sizeof req}};
  const std::array writable{ring::buffer{resp_at, 2}};
  REQUIRE(rq.add(readable, writable));
  REQUIRE(fe.kick(0));
  const auto done = used_within(fe, rq, 0);
  REQUIRE(done);
  CHECK(done->len == 2);
  CHECK(byte_at(ram, resp_at) == 0);  // VIRTIO_GPIO_STATUS_OK
}

/// Line 1: input with a rising-edge interrupt (driven by output line 0, low).
void arm_line_1(frontend_t& fe, ram_t& ram, drvq_t& rq) {
  request(fe, ram, rq, gpio::msg_type::set_direction, 1,
          static_cast<std::uint8_t>(gpio::direction::in));
  request(fe, ram, rq, gpio::msg_type::set_irq_type, 1,
          static_cast<std::uint8_t>(gpio::irq_type::edge_rising));
  request(fe, ram, rq, gpio::msg_type::set_direction, 0,
          static_cast<std::uint8_t>(gpio::direction::out));
}

/// How many eventq heads vring 1's part of the inflight region marks as in flight.
int marked_eventq_heads(const lh::inflight_region& r, bool packed) {
  const std::size_t size = static_cast<std::size_t>(r.size);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, r.fd,
                      static_cast<off_t>(r.mmap_offset));
  REQUIRE(base != MAP_FAILED);
  auto* bytes = static_cast<std::byte*>(base);
  int n = 0;
  if (packed) {
    const std::size_t stride = be::packed_inflight_layout::queue_bytes(queue_size);
    const be::packed_inflight_region reg{std::span{bytes + stride, stride}};
    for (std::uint16_t i = 0; i < queue_size; ++i) n += reg.inflight(i) ? 1 : 0;
  } else {
    const std::size_t stride = be::inflight_layout::queue_bytes(queue_size);
    const be::split_inflight_region reg{std::span{bytes + stride, stride}};
    for (std::uint16_t i = 0; i < queue_size; ++i) n += reg.inflight(i) ? 1 : 0;
  }
  ::munmap(base, size);
  return n;
}

}  // namespace

TEST_CASE_TEMPLATE("gpio eventq inflight resume: the held interrupt pair completes exactly once", L,
                   split_layout, packed_layout) {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("gpio.sock");
  chip_t chip{4};  // the hardware: it outlives both back-ends
  REQUIRE(chip.connect(0, 1));
  const std::uint64_t wanted = version_1 | event_idx | gpio_f_irq | layout_bit(L::packed);

  ram_t ram = make_ram();
  lh::frontend_options o;
  o.num_queues = 2;
  drvq_t rq{ram.memory()}, eq{ram.memory()};
  const ring::queue_config rcfg = plan_queue(0, queue_size, wanted);
  const ring::queue_config ecfg = plan_queue(1, queue_size, wanted);
  const gpa irq_req_at = data_base.offset(4 * page), irq_resp_at = data_base.offset(5 * page);
  gpio::wire::irq_request irq{};
  irq.gpio.set(1);

  std::optional<frontend_t> fe;
  {
    model_t first{chip};
    backend_t backend{first, path};
    auto c = frontend_t::connect(path, o, patient());
    REQUIRE(c);
    fe.emplace(std::move(*c));
    REQUIRE(fe->negotiate());
    REQUIRE(fe->negotiated(pf::inflight_shmfd));
    auto acked = fe->set_features(wanted);
    REQUIRE(acked);
    REQUIRE((*acked & wanted) == wanted);
    REQUIRE(fe->get_inflight_fd(queue_size));
    REQUIRE(fe->set_inflight_fd());
    REQUIRE(fe->set_mem_table(ram.regions()));
    REQUIRE(rq.configure(rcfg));
    REQUIRE(eq.configure(ecfg));
    REQUIRE(fe->start_vring(0, rcfg));
    REQUIRE(fe->start_vring(1, ecfg));
    arm_line_1(*fe, ram, rq);

    // The interrupt pair for line 1: the device holds it until the line rises.
    put(ram, irq_req_at, irq);
    put(ram, irq_resp_at, std::uint8_t{0xAA});
    const std::array irq_readable{ring::buffer{irq_req_at, sizeof irq}};
    const std::array irq_writable{ring::buffer{irq_resp_at, 1}};
    REQUIRE(eq.add(irq_readable, irq_writable));
    REQUIRE(fe->kick(1));
    for (int i = 0; i < 100 && marked_eventq_heads(*fe->inflight(), L::packed) == 0; ++i)
      (void)fe->wait_call(1, 10);
    CHECK(marked_eventq_heads(*fe->inflight(), L::packed) == 1);
    CHECK_FALSE(used_within(*fe, eq, 1, 2));
  }  // the back-end goes away with the pair held: nothing completed it

  CHECK(err(fe->check_connection()) == errc::host_disconnected);
  CHECK(marked_eventq_heads(*fe->inflight(), L::packed) == 1);
  CHECK(byte_at(ram, irq_resp_at) == 0xAA);
  // No GET_VRING_BASE answer came: resume each vring where its used entries stop (QEMU's choice
  // after a crash). The region decides what is still owed.
  REQUIRE(fe->set_resume_base(0, lh::quiescent_vring_base(rq.avail_index(), L::packed)));
  REQUIRE(fe->set_resume_base(1, L::packed ? 0x80008000u : 0u));  // eventq: nothing used yet

  model_t second{chip};
  backend_t backend{second, path};
  REQUIRE(fe->reconnect(path, patient()));
  // The region gives the held pair back and the new back-end serves it at the start. Its device
  // knows nothing of line 1's interrupt (that state is not in the region), so the pair comes
  // back once, VIRTIO_GPIO_IRQ_STATUS_INVALID (§5.18.6.6), as for any line without an irq type.
  const auto returned = used_within(*fe, eq, 1);
  REQUIRE(returned);
  CHECK(returned->len == 1);
  CHECK(byte_at(ram, irq_resp_at) == 0);   // VIRTIO_GPIO_IRQ_STATUS_INVALID
  CHECK_FALSE(used_within(*fe, eq, 1, 2));  // exactly once
  CHECK(marked_eventq_heads(*fe->inflight(), L::packed) == 0);

  // The guest re-arms the line, as the Linux driver does, and queues the pair again: the new
  // back-end tracks it and completes it when the line fires.
  arm_line_1(*fe, ram, rq);
  put(ram, irq_resp_at, std::uint8_t{0xAA});
  const std::array irq_readable{ring::buffer{irq_req_at, sizeof irq}};
  const std::array irq_writable{ring::buffer{irq_resp_at, 1}};
  REQUIRE(eq.add(irq_readable, irq_writable));
  REQUIRE(fe->kick(1));
  for (int i = 0; i < 100 && marked_eventq_heads(*fe->inflight(), L::packed) == 0; ++i)
    (void)fe->wait_call(1, 10);
  CHECK(marked_eventq_heads(*fe->inflight(), L::packed) == 1);
  request(*fe, ram, rq, gpio::msg_type::set_value, 0, 1);
  const auto fired = used_within(*fe, eq, 1);
  REQUIRE(fired);
  CHECK(fired->len == 1);
  CHECK(byte_at(ram, irq_resp_at) == 1);  // VIRTIO_GPIO_IRQ_STATUS_VALID
  CHECK_FALSE(used_within(*fe, eq, 1, 2));
  CHECK(marked_eventq_heads(*fe->inflight(), L::packed) == 0);
  CHECK(fe->check_connection());
  backend.pause();
  CHECK(second.tracking_inflight(1));
  CHECK_FALSE(second.broken(1));
}
