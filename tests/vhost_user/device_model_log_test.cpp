// SPDX-License-Identifier: Apache-2.0
// Dirty-page logging by the library's device models (i2c_device_model, gpio_device_model) served
// by the real runner, seen from Vireo's front-end as a migrating QEMU sees it (spec "Migration",
// digest §6.3, rule B22): LOG_ALL and LOG_SHMFD offered, SET_LOG_BASE with a memfd the test maps,
// vrings started with F_LOG. Requests are built by hand at chosen guest addresses (buffers that
// straddle a page boundary, headers on pages of their own) so the exact set of dirty pages is
// known: the used ring's page(s) and the pages of the device-writable buffers, nothing else, and
// nothing at all without LOG_ALL. Both ring layouts.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "frontend_backend_support.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/i2c/wire.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/layout.hpp"
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

constexpr std::uint64_t page = 4096;
constexpr std::uint64_t zero_length_request = 1;  // VIRTIO_I2C_F_ZERO_LENGTH_REQUEST, bit 0
constexpr std::uint16_t eeprom_at = 0x50;

struct split_layout {
  static constexpr bool packed = false;
  static constexpr std::uint16_t size = 16;
};
struct packed_layout {
  static constexpr bool packed = true;
  static constexpr std::uint16_t size = 12;
};

/// The front-end's dirty log: a memfd it maps and hands to the back-end with SET_LOG_BASE, one
/// bit per guest page up to the end of the test RAM.
class log_file {
 public:
  static constexpr std::uint64_t size =
      ((data_base.raw() + data_bytes) / page / 8 + page) & ~(page - 1);

  log_file() : fd_(::memfd_create("vireo-dirty-log", MFD_CLOEXEC)) {
    REQUIRE(fd_.valid());
    REQUIRE(::ftruncate(fd_.get(), static_cast<off_t>(size)) == 0);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    REQUIRE(p != MAP_FAILED);
    bits_ = static_cast<std::uint8_t*>(p);
  }
  log_file(const log_file&) = delete;
  log_file& operator=(const log_file&) = delete;
  ~log_file() { ::munmap(bits_, size); }

  [[nodiscard]] int fd() const { return fd_.get(); }
  /// The pages marked (their guest addresses / 4096).
  [[nodiscard]] std::set<std::uint64_t> dirty() const {
    std::set<std::uint64_t> s;
    for (std::uint64_t i = 0; i < size; ++i)
      for (unsigned b = 0; b < 8; ++b)
        if ((bits_[i] >> b) & 1u) s.insert(i * 8 + b);
    return s;
  }
  /// What a front-end does when it syncs the log.
  void clear() { std::memset(bits_, 0, size); }

 private:
  lh::unique_fd fd_;
  std::uint8_t* bits_ = nullptr;
};

void add_pages(std::set<std::uint64_t>& s, std::uint64_t addr, std::uint64_t len) {
  for (std::uint64_t p = addr / page; p <= (addr + len - 1) / page; ++p) s.insert(p);
}

/// The pages a device's used-ring writes touch: split, the used ring (with avail_event);
/// packed, the descriptor ring and the device event area.
std::set<std::uint64_t> ring_pages(const ring::queue_config& cfg) {
  std::set<std::uint64_t> s;
  if (cfg.features.has(transport_feature::ring_packed)) {
    add_pages(s, cfg.desc_table.raw(), ring::packed_layout::desc_ring_bytes(cfg.size));
    add_pages(s, cfg.device_area.raw(), ring::packed_layout::event_bytes);
  } else {
    add_pages(s, cfg.device_area.raw(), ring::split_layout::used_bytes(cfg.size));
  }
  return s;
}

/// Connect, negotiate (checking LOG_ALL and LOG_SHMFD are offered and LOG_SHMFD acked), set the
/// features without LOG_ALL, the memory table and the log, then start the vrings given.
frontend_t connect_logging(const std::string& path, std::uint32_t queues, std::uint64_t wanted,
                           const log_file& log) {
  lh::frontend_options o;
  o.num_queues = queues;
  o.log_vrings = true;  // F_LOG, log_guest_addr = the used ring (QEMU while migrating)
  lh::connect_options co;
  co.attempts = 20;
  co.retry_delay_ms = 10;
  auto fe = frontend_t::connect(path, o, co);
  REQUIRE(fe);
  REQUIRE(fe->negotiate());
  CHECK((fe->offered_features() & vu::f_log_all) != 0);
  CHECK((fe->offered_protocol_features() & vu::bit(pf::log_shmfd)) != 0);
  REQUIRE(fe->negotiated(pf::log_shmfd));
  auto acked = fe->set_features(wanted);
  REQUIRE(acked);
  CHECK((*acked & vu::f_log_all) == 0);
  REQUIRE(fe->set_log_base(log.fd(), log_file::size));
  return std::move(*fe);
}

/// Add one chain, kick, and wait for its used entry.
ring::used_buffer run_chain(frontend_t& fe, drvq_t& q, std::uint32_t vring,
                            std::span<const ring::buffer> readable,
                            std::span<const ring::buffer> writable) {
  REQUIRE(q.add(readable, writable));
  REQUIRE(fe.kick(vring));
  for (int i = 0; i < 40; ++i) {
    auto got = q.reclaim();
    REQUIRE(got);
    if (*got) return **got;
    REQUIRE(fe.wait_call(vring, 100));
  }
  FAIL("no used entry");
  return {};
}

template <typename T>
void put(ram_t& ram, gpa at, const T& v) {
  REQUIRE(ram.memory().write(at, vireo::as_bytes_of(v)));
}

}  // namespace

TEST_CASE_TEMPLATE("B22 i2c_device_model logs an i2c read's data, status byte and used ring", L,
                   split_layout, packed_layout) {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("i2c.sock");
  bus_t bus;
  i2c::sim::eeprom_24c02 eeprom;
  REQUIRE(bus.attach(*i2c::address::seven_bit(eeprom_at), eeprom));
  i2c_model model{bus, 256};
  served_backend<i2c_model> backend{model, path};
  ram_t ram = make_ram();
  log_file log;

  const std::uint64_t wanted = version_1 | event_idx | zero_length_request | layout_bit(L::packed);
  frontend_t fe = connect_logging(path, 1, wanted, log);
  REQUIRE(fe.set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, L::size, wanted);
  drvq_t q{ram.memory()};
  REQUIRE(q.configure(cfg));
  REQUIRE(fe.start_vring(0, cfg));

  // A read of 8 bytes at EEPROM word 0: out_hdr on page 0 of the data region, the buffer
  // straddling pages 2 and 3, the status byte alone on page 5.
  i2c::out_hdr hdr{};
  hdr.addr.set(i2c::encode_address(*i2c::address::seven_bit(eeprom_at))->raw());
  hdr.flags.set(i2c::flag::m_rd);
  const gpa hdr_at = data_base, buf_at = data_base.offset(3 * page - 4),
            status_at = data_base.offset(5 * page + 100);
  put(ram, hdr_at, hdr);
  const std::array readable{ring::buffer{hdr_at, sizeof hdr}};
  const std::array writable{ring::buffer{buf_at, 8}, ring::buffer{status_at, 1}};

  // Without LOG_ALL nothing is marked, though a log is mapped and the vring has F_LOG.
  put(ram, status_at, std::uint8_t{0xAA});
  auto first = run_chain(fe, q, 0, readable, writable);
  CHECK(first.len == 9);
  std::uint8_t status = 0xAA;
  REQUIRE(ram.memory().read(status_at, vireo::bytes{reinterpret_cast<std::byte*>(&status), 1}));
  CHECK(status == 0);  // VIRTIO_I2C_MSG_OK: the device did write
  CHECK(log.dirty().empty());

  // LOG_ALL on while the ring runs (QEMU's migration start): exactly the used ring's page(s),
  // both pages of the read buffer and the status byte's page. Not the request header's page.
  auto acked = fe.set_features(wanted | vu::f_log_all);
  REQUIRE(acked);
  CHECK((*acked & vu::f_log_all) != 0);
  auto second = run_chain(fe, q, 0, readable, writable);
  CHECK(second.len == 9);
  std::set<std::uint64_t> expected = ring_pages(cfg);
  add_pages(expected, buf_at.raw(), 8);
  add_pages(expected, status_at.raw(), 1);
  CHECK(expected.size() == ring_pages(cfg).size() + 3);
  CHECK(log.dirty() == expected);
  CHECK(log.dirty().count(hdr_at.raw() / page) == 0);

  // After a sync (the front-end clears the log) the next request marks the same pages again.
  log.clear();
  (void)run_chain(fe, q, 0, readable, writable);
  CHECK(log.dirty() == expected);

  // LOG_ALL off again: nothing more.
  log.clear();
  REQUIRE(fe.set_features(wanted));
  (void)run_chain(fe, q, 0, readable, writable);
  CHECK(log.dirty().empty());
  CHECK(fe.check_connection());
  backend.pause();
  CHECK_FALSE(model.broken());
}

TEST_CASE_TEMPLATE("B22 gpio_device_model logs a response and the requestq's used ring", L,
                   split_layout, packed_layout) {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("gpio.sock");
  chip_t chip{4};
  gpio_model model{chip};
  served_backend<gpio_model> backend{model, path};
  ram_t ram = make_ram();
  log_file log;

  const std::uint64_t wanted = version_1 | event_idx | layout_bit(L::packed);  // no F_IRQ
  frontend_t fe = connect_logging(path, 2, wanted, log);
  REQUIRE(fe.set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, L::size, wanted);
  drvq_t q{ram.memory()};
  REQUIRE(q.configure(cfg));
  REQUIRE(fe.start_vring(0, cfg));

  // GET_DIRECTION of line 1: the request on page 1, the 2-byte response straddling pages 7/8.
  gpio::wire::request req{};
  req.type.set(static_cast<std::uint16_t>(gpio::msg_type::get_direction));
  req.gpio.set(1);
  const gpa req_at = data_base.offset(page), resp_at = data_base.offset(8 * page - 1);
  put(ram, req_at, req);
  const std::array readable{ring::buffer{req_at, sizeof req}};
  const std::array writable{ring::buffer{resp_at, 2}};

  put(ram, resp_at, std::uint8_t{0xAA});
  auto first = run_chain(fe, q, 0, readable, writable);
  CHECK(first.len == 2);
  std::uint8_t status = 0xAA;
  REQUIRE(ram.memory().read(resp_at, vireo::bytes{reinterpret_cast<std::byte*>(&status), 1}));
  CHECK(status == 0);  // VIRTIO_GPIO_STATUS_OK
  CHECK(log.dirty().empty());

  REQUIRE(fe.set_features(wanted | vu::f_log_all));
  (void)run_chain(fe, q, 0, readable, writable);
  std::set<std::uint64_t> expected = ring_pages(cfg);
  add_pages(expected, resp_at.raw(), 2);
  CHECK(expected.size() == ring_pages(cfg).size() + 2);
  CHECK(log.dirty() == expected);

  log.clear();
  REQUIRE(fe.set_features(wanted));
  (void)run_chain(fe, q, 0, readable, writable);
  CHECK(log.dirty().empty());
  CHECK(fe.check_connection());
  backend.pause();
  CHECK_FALSE(model.broken(0));
}

TEST_CASE_TEMPLATE("B22 gpio_device_model logs an eventq status byte and the eventq's used ring", L,
                   split_layout, packed_layout) {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("gpio.sock");
  chip_t chip{4};
  REQUIRE(chip.connect(0, 1));  // driving line 0 drives line 1's input
  gpio_model model{chip};
  served_backend<gpio_model> backend{model, path};
  ram_t ram = make_ram();
  log_file log;

  constexpr std::uint64_t gpio_f_irq = 1;  // VIRTIO_GPIO_F_IRQ, bit 0
  const std::uint64_t wanted = version_1 | event_idx | gpio_f_irq | layout_bit(L::packed);
  frontend_t fe = connect_logging(path, 2, wanted, log);
  REQUIRE(fe.set_mem_table(ram.regions()));
  const ring::queue_config rcfg = plan_queue(0, L::size, wanted);
  const ring::queue_config ecfg = plan_queue(1, L::size, wanted);
  drvq_t rq{ram.memory()}, eq{ram.memory()};
  REQUIRE(rq.configure(rcfg));
  REQUIRE(eq.configure(ecfg));
  REQUIRE(fe.start_vring(0, rcfg));
  REQUIRE(fe.start_vring(1, ecfg));

  const gpa req_at = data_base.offset(page), resp_at = data_base.offset(2 * page),
            irq_req_at = data_base.offset(4 * page), irq_resp_at = data_base.offset(9 * page + 7);
  const std::array readable{ring::buffer{req_at, sizeof(gpio::wire::request)}};
  const std::array writable{ring::buffer{resp_at, 2}};
  auto request = [&](gpio::msg_type t, std::uint16_t line, std::uint32_t value) {
    gpio::wire::request req{};
    req.type.set(static_cast<std::uint16_t>(t));
    req.gpio.set(line);
    req.value.set(value);
    put(ram, req_at, req);
    put(ram, resp_at, std::uint8_t{0xAA});
    CHECK(run_chain(fe, rq, 0, readable, writable).len == 2);
    std::uint8_t status = 0xAA;
    REQUIRE(ram.memory().read(resp_at, vireo::bytes{reinterpret_cast<std::byte*>(&status), 1}));
    CHECK(status == 0);
  };
  // Line 1: input, rising-edge interrupt; line 0: output, low. Then an eventq pair for line 1,
  // which the device holds.
  request(gpio::msg_type::set_direction, 1, static_cast<std::uint8_t>(gpio::direction::in));
  request(gpio::msg_type::set_irq_type, 1, static_cast<std::uint8_t>(gpio::irq_type::edge_rising));
  request(gpio::msg_type::set_direction, 0, static_cast<std::uint8_t>(gpio::direction::out));
  gpio::wire::irq_request irq{};
  irq.gpio.set(1);
  put(ram, irq_req_at, irq);
  put(ram, irq_resp_at, std::uint8_t{0xAA});
  const std::array irq_readable{ring::buffer{irq_req_at, sizeof irq}};
  const std::array irq_writable{ring::buffer{irq_resp_at, 1}};
  REQUIRE(eq.add(irq_readable, irq_writable));
  REQUIRE(fe.kick(1));
  CHECK(log.dirty().empty());  // no LOG_ALL yet

  // LOG_ALL on; line 0 goes high: the request completes and the held pair with it.
  REQUIRE(fe.set_features(wanted | vu::f_log_all));
  request(gpio::msg_type::set_value, 0, 1);
  std::optional<ring::used_buffer> event;
  for (int i = 0; i < 40 && !event; ++i) {
    auto got = eq.reclaim();
    REQUIRE(got);
    if (*got) event = **got;
    else REQUIRE(fe.wait_call(1, 100));
  }
  REQUIRE(event);
  CHECK(event->len == 1);
  std::uint8_t irq_status = 0xAA;
  REQUIRE(ram.memory().read(irq_resp_at,
                            vireo::bytes{reinterpret_cast<std::byte*>(&irq_status), 1}));
  CHECK(irq_status == 1);  // VIRTIO_GPIO_IRQ_STATUS_VALID

  std::set<std::uint64_t> expected = ring_pages(rcfg);
  for (std::uint64_t p : ring_pages(ecfg)) expected.insert(p);
  add_pages(expected, resp_at.raw(), 2);
  add_pages(expected, irq_resp_at.raw(), 1);
  CHECK(log.dirty() == expected);
  CHECK(log.dirty().count(req_at.raw() / page) == 0);
  CHECK(log.dirty().count(irq_req_at.raw() / page) == 0);
  CHECK(fe.check_connection());
  backend.pause();
  CHECK_FALSE(model.broken(0));
  CHECK_FALSE(model.broken(1));
}
