// SPDX-License-Identifier: Apache-2.0
// Dirty-page logging (VHOST_F_LOG_ALL, LOG_SHMFD, SET_LOG_BASE, vring F_LOG; spec "Migration",
// digest §6.3, rule B22): the log bitmap, the logged guest memory and queue decorators (a device
// write marks exactly its pages; used-ring writes are logged at log_guest_addr), and what the
// session does with SET_LOG_BASE, LOG_ALL and F_LOG.
#include <vector>

#include "backend_test_support.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "vireo/vhost_user/backend/dirty_log.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"
#include "vireo/vhost_user/backend/logged_queue.hpp"

using namespace vireo_vu_test;
using vireo::access;
using vireo::gpa;

namespace {

constexpr std::uint64_t page = 4096;

/// A log of `n` bytes (8·n pages), logging on.
struct log_buffer {
  std::vector<std::byte> bytes;
  be::dirty_log log;
  explicit log_buffer(std::size_t n, std::byte fill = std::byte{0}) : bytes(n, fill) {
    log.attach(bytes.data(), bytes.size());
    log.set_logging(true);
  }
  /// The dirty pages, in order.
  [[nodiscard]] std::vector<std::uint64_t> pages() const {
    std::vector<std::uint64_t> v;
    for (std::uint64_t p = 0; p < 8 * bytes.size(); ++p)
      if (log.dirty(p * page)) v.push_back(p);
    return v;
  }
  void clear() { std::fill(bytes.begin(), bytes.end(), std::byte{0}); }
};

using pages_t = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("B22 dirty_log: bit gpa/4096 of byte page/8, atomic OR, bounded by the log size") {
  log_buffer l(4, std::byte{0});
  l.bytes[0] = std::byte{0x80};  // the front-end's bit for page 7 stays
  REQUIRE(l.log.mark(0x1000, 1).has_value());
  CHECK(l.bytes[0] == std::byte{0x82});
  REQUIRE(l.log.mark(0x2FFF, 2).has_value());  // straddles pages 2 and 3
  CHECK(l.bytes[0] == std::byte{0x8E});
  REQUIRE(l.log.mark(0x1F000, page).has_value());  // page 31: the last bit of the log
  CHECK(l.bytes[3] == std::byte{0x80});
  CHECK(l.pages() == pages_t{1, 2, 3, 7, 31});
  // Beyond the log, or a range that wraps: refused, nothing marked.
  CHECK(err(l.log.mark(0x20000, 1)) == errc::vhost_log_range);
  CHECK(err(l.log.mark(0x1F000, page + 1)) == errc::vhost_log_range);
  CHECK(err(l.log.mark(~std::uint64_t{0}, 2)) == errc::vhost_log_range);
  CHECK(l.pages() == pages_t{1, 2, 3, 7, 31});
  CHECK(l.log.mark(0x5000, 0).has_value());  // nothing written, nothing marked
  // LOG_ALL off, or no log: marking does nothing.
  l.log.set_logging(false);
  CHECK(l.log.mark(0x4000, 1).has_value());
  l.log.set_logging(true);
  l.log.detach();
  CHECK_FALSE(l.log.active());
  CHECK(l.log.mark(0x4000, 1).has_value());
  CHECK(l.bytes[0] == std::byte{0x8E});
}

TEST_CASE("B22 logged_memory: writes, u16 stores and writable maps mark exactly their pages") {
  std::vector<std::byte> ram(24 * page);
  vireo::flat_memory flat{ram, gpa{0}};
  log_buffer l(2);  // 16 pages: the last 8 of the RAM are beyond the log
  be::logged_memory<vireo::flat_memory> mem{flat, l.log};
  static_assert(vireo::guest_memory<decltype(mem)>);

  const std::byte data[10]{std::byte{1}};
  REQUIRE(mem.write(gpa{0x1FFC}, data).has_value());  // pages 1 and 2
  CHECK(l.pages() == pages_t{1, 2});
  std::byte out[10];
  REQUIRE(mem.read(gpa{0x3000}, out).has_value());
  REQUIRE(mem.map(gpa{0x4000}, 16, access::read).has_value());
  REQUIRE(mem.load_u16(gpa{0x4000}, std::memory_order_relaxed).has_value());
  CHECK(l.pages() == pages_t{1, 2});  // reads mark nothing
  REQUIRE(mem.map(gpa{0x5000}, page + 1, access::write).has_value());  // pages 5 and 6
  REQUIRE(mem.map(gpa{0x9000}, 8, access::read_write).has_value());
  REQUIRE(mem.store_u16(gpa{0xA002}, 7, std::memory_order_relaxed).has_value());
  CHECK(l.pages() == pages_t{1, 2, 5, 6, 9, 10});
  // A write the log cannot record is refused before anything is written (rule B22).
  CHECK(err(mem.write(gpa{16 * page}, data)) == errc::vhost_log_range);
  CHECK(ram[16 * page] == std::byte{0});
  CHECK(err(mem.map(gpa{15 * page}, page + 1, access::write)) == errc::vhost_log_range);
  CHECK(err(mem.store_u16(gpa{20 * page}, 1, std::memory_order_relaxed)) == errc::vhost_log_range);
  // Reads there are fine; with logging off so are writes.
  REQUIRE(mem.read(gpa{20 * page}, out).has_value());
  l.log.set_logging(false);
  REQUIRE(mem.write(gpa{16 * page}, data).has_value());
  REQUIRE(mem.write(gpa{0xC000}, data).has_value());
  CHECK(l.pages() == pages_t{1, 2, 5, 6, 9, 10});
}

namespace {

using split_mock = vireo::testing::mock_split_driver;
using mem_t = be::logged_memory<vireo::flat_memory>;

/// One chain with a page-aligned writable buffer of `len` bytes at the returned address.
template <typename Mock>
std::uint64_t add_writable(Mock& m, std::uint32_t len) {
  const gpa buf = m.alloc(len, page);
  const vireo::ring::buffer w{buf, len};
  REQUIRE(m.driver().add({}, {&w, 1}, 1, vireo::ring::add_mode::automatic).has_value());
  return buf.raw();
}

}  // namespace

TEST_CASE("B22 a device write through a logged split queue marks its buffer and the used ring") {
  split_mock::options o;
  o.size = 8;
  o.features = vireo::feature_set{vireo::transport_feature::event_idx};
  o.data_bytes = 8 * page;
  split_mock m(o);  // rings in page 16 (0x10000), the arena after them
  log_buffer l(16);   // pages 0-127
  mem_t mem{m.memory(), l.log};
  be::vring_state ring;
  ring.addr_flags = vu::vring_addr_flag::log;
  // log_guest_addr need not be the used ring's address (spec): page 100 shows it is used.
  ring.log_addr = 100 * page;
  be::logged_queue<vireo::ring::split_device<mem_t>> q{mem, l.log, ring};
  REQUIRE(q.configure(m.config()).has_value());
  q.restore(0, 0);
  l.clear();

  const std::uint64_t buf = add_writable(m, 3 * page);
  auto c = q.pop();
  REQUIRE(c.has_value());
  REQUIRE_FALSE(c->empty());
  // The writable segment was mapped for writing when popped: all its pages are marked, and
  // EVENT_IDX's avail_event (in the used ring) is logged at log_guest_addr.
  const std::uint64_t p0 = buf / page;
  CHECK(l.pages() == pages_t{p0, p0 + 1, p0 + 2, 100});
  // The front-end syncs (reads and clears) the log while the request is held; then the device
  // writes 1.5 pages and completes by token: exactly those pages, the used element and idx.
  l.clear();
  std::vector<std::byte> data(page + page / 2, std::byte{0x3C});
  auto w = c->writer();
  REQUIRE(w.write(data).has_value());
  REQUIRE(q.push_used(c->token(), static_cast<std::uint32_t>(data.size())).has_value());
  CHECK(l.pages() == pages_t{p0, p0 + 1, 100});
  CHECK(m.used_idx() == 1);

  // Without F_LOG the used ring is not logged (the data still is).
  ring.addr_flags = 0;
  l.clear();
  add_writable(m, 16);
  auto c2 = q.pop();
  REQUIRE(c2.has_value());
  l.clear();
  REQUIRE(q.push_used(*c2, 16).has_value());  // the chain overload marks its own segments
  CHECK(l.pages().size() == 1);
  CHECK(l.pages()[0] != 100);
  // LOG_ALL off: nothing at all.
  l.log.set_logging(false);
  l.clear();
  ring.addr_flags = vu::vring_addr_flag::log;
  add_writable(m, 16);
  auto c3 = q.pop();
  REQUIRE(c3.has_value());
  REQUIRE(q.push_used(c3->token(), 16).has_value());
  CHECK(l.pages().empty());
}

TEST_CASE("B22 a packed queue logs its used descriptors at the descriptor ring's pages") {
  vireo::testing::mock_packed_driver::options o;
  o.size = 8;
  o.features = vireo::feature_set{vireo::transport_feature::ring_packed};
  o.data_bytes = 8 * page;
  vireo::testing::mock_packed_driver m(o);
  log_buffer l(16);
  mem_t mem{m.memory(), l.log};
  be::vring_state ring;
  ring.addr_flags = vu::vring_addr_flag::log;
  be::logged_queue<vireo::ring::packed_device<mem_t>> q{mem, l.log, ring};
  REQUIRE(q.configure(m.config()).has_value());
  l.clear();
  const std::uint64_t buf = add_writable(m, 2 * page);
  auto c = q.pop();
  REQUIRE(c.has_value());
  REQUIRE_FALSE(c->empty());
  CHECK(l.pages() == pages_t{buf / page, buf / page + 1});  // marked when popped
  l.clear();
  std::vector<std::byte> data(10, std::byte{1});
  auto w = c->writer();
  REQUIRE(w.write(data).has_value());
  REQUIRE(q.push_used(*c, 10).has_value());
  // The written bytes (first page of the buffer) and the used descriptor in the ring (page 16).
  const std::uint64_t ring_page = m.config().desc_table.raw() / page;
  CHECK(l.pages() == pages_t{ring_page, buf / page});
}

// ---- the session --------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t uaddr = 0x6000'0000'0000;
constexpr std::uint64_t log_shmfd = 0x2, reply_ack = 0x8;

fake_device logging_device() {
  fake_device d;
  d.features = version_1;
  d.queues = 1;
  d.max_size = 256;
  d.logs = true;
  return d;
}

std::vector<std::byte> log_base(std::uint64_t size, std::uint64_t off, std::uint32_t flags = plain) {
  return req(fr::set_log_base, flags, builder{}.u64(size).u64(off));
}

/// Owned with LOG_SHMFD and REPLY_ACK, features (LOG_ALL as given), 1 MiB at guest 0.
void setup(harness& h, std::uint64_t features) {
  h.send(u64_req(fr::set_protocol_features, log_shmfd | reply_ack));
  REQUIRE(h.last.status.has_value());
  h.send(req(fr::set_owner));
  h.send(u64_req(fr::set_features, features));
  REQUIRE(h.last.status.has_value());
  h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
}

/// Vring 0 (64 entries) at guest 0x10000, used ring at 0x12000, started.
void start_ring(harness& h, std::uint32_t addr_flags = 0, std::uint64_t log_addr = 0x12000) {
  h.send(state_req(fr::set_vring_num, 0, 64));
  h.send(state_req(fr::set_vring_base, 0, 0));
  h.send(req(fr::set_vring_addr, plain,
             builder{}.u32(0).u32(addr_flags).u64(uaddr + 0x10000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(log_addr)));
  REQUIRE(h.last.status.has_value());
  h.send(u64_req(fr::set_vring_kick, 0 | 0x100));
}

errc ack_error(harness& h) {
  REQUIRE(h.replied());
  CHECK(h.last.reply().size() == 20);
  return vireo_test::err(h.last.status);
}

}  // namespace

TEST_CASE("LOG_ALL and LOG_SHMFD are offered only to a device that logs its writes") {
  fake_device plain_dev = logging_device();
  plain_dev.logs = false;
  harness p(plain_dev);
  p.send(req(fr::get_features));
  CHECK((p.reply_u64(code(fr::get_features)) & vu::f_log_all) == 0);
  p.send(req(fr::get_protocol_features));
  CHECK((p.reply_u64(code(fr::get_protocol_features)) & log_shmfd) == 0);
  p.send(u64_req(fr::set_features, version_1 | vu::f_log_all, need));
  CHECK(ack_error(p) == errc::feature_not_offered);

  harness h(logging_device());
  h.send(req(fr::get_features));
  CHECK((h.reply_u64(code(fr::get_features)) & vu::f_log_all) != 0);
  h.send(req(fr::get_protocol_features));
  CHECK((h.reply_u64(code(fr::get_protocol_features)) & log_shmfd) != 0);
  h.disconnect();
}

TEST_CASE("SET_LOG_BASE maps the log through the mapper, replies u64 0, closes the fd") {
  harness h(logging_device());
  setup(h, version_1 | bit30 | vu::f_log_all);
  CHECK(h.s->log().logging());
  CHECK_FALSE(h.s->log().active());  // no log yet
  const int fd = h.new_file(0x3000);
  h.send(log_base(0x1000, 0x2000), {fd});  // no NEED_REPLY: the reply is inherent with LOG_SHMFD
  CHECK(h.reply_u64(code(fr::set_log_base)) == 0);
  CHECK(h.closed() == std::vector{fd});
  CHECK(h.s->log().active());
  CHECK(h.s->log().size() == 0x1000);
  CHECK(h.s->log().base() == h.mapper.file(fd) + 0x2000);
  // Writes through the session's logged memory land in that mapping.
  const std::byte b{1};
  REQUIRE(h.s->logged_guest_memory().write(gpa{0x9000}, {&b, 1}).has_value());
  CHECK(h.mapper.file(fd)[0x2000 + 1] == std::byte{0x02});  // page 9: byte 1, bit 1
  // A new log replaces the old one (QEMU resizes it); the old mapping goes.
  h.send(log_base(0x2000, 0), {h.new_file(0x2000)});
  CHECK(h.reply_u64(code(fr::set_log_base)) == 0);
  CHECK(h.s->log().size() == 0x2000);
  CHECK(h.mapper.live() == 2);  // the region and the new log
  // The mapper refuses (beyond the file): reply 1, the old log stays.
  const int bad = h.new_file(0x1000);
  h.send(log_base(0x1000, 0x1000), {bad});
  CHECK(h.reply_u64(code(fr::set_log_base)) == 1);
  CHECK(h.closed() == std::vector{bad});
  CHECK(h.s->log().size() == 0x2000);
  // The codec: with LOG_SHMFD the fd is required.
  h.send(log_base(0x1000, 0));
  CHECK(h.decode_error == errc::vhost_missing_fd);
  // LOG_ALL off keeps the log but stops logging.
  h.send(u64_req(fr::set_features, version_1 | bit30));
  CHECK_FALSE(h.s->log().active());
  CHECK(h.s->log().mapped());
  h.disconnect();
  CHECK_FALSE(h.s->log().logging());
}

TEST_CASE("SET_LOG_BASE without LOG_SHMFD is refused") {
  harness h(logging_device());
  h.send(u64_req(fr::set_protocol_features, reply_ack));
  h.send(req(fr::set_owner));
  h.send(log_base(0x1000, 0), {h.new_fd()});  // the codec wants no fd without LOG_SHMFD
  CHECK(h.decode_error == errc::vhost_unexpected_fd);
  h.send(log_base(0x1000, 0, need));
  CHECK(ack_error(h) == errc::vhost_not_negotiated);
  h.send(log_base(0x1000, 0));  // no reply asked for and none inherent: close
  CHECK(h.last.close_connection);
  h.disconnect();
}

TEST_CASE("migration start on a running ring: LOG_ALL and F_LOG toggle, nothing else changes") {
  harness h(logging_device());
  setup(h, version_1 | bit30);
  start_ring(h);
  REQUIRE(h.s->vring(0).started);
  // QEMU vhost_dev_set_log(true): the log, LOG_ALL (SET_FEATURES), F_LOG (SET_VRING_ADDR).
  h.send(log_base(0x100, 0), {h.new_file(0x100)});
  CHECK(h.reply_u64(code(fr::set_log_base)) == 0);
  h.send(u64_req(fr::set_features, version_1 | bit30 | vu::f_log_all, need));
  CHECK(ack_error(h) == errc{});
  CHECK(h.s->log().active());
  h.send(req(fr::set_vring_addr, need,
             builder{}.u32(0).u32(1).u64(uaddr + 0x10000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(0x12000)));
  CHECK(ack_error(h) == errc{});
  CHECK(h.s->vring(0).addr_flags == vu::vring_addr_flag::log);
  CHECK(h.s->vring(0).log_addr == 0x12000);
  CHECK(h.s->vring(0).started);
  // Other features, or other ring addresses, still cannot change under a started ring.
  h.send(u64_req(fr::set_features, version_1 | vu::f_log_all, need));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  h.send(req(fr::set_vring_addr, need,
             builder{}.u32(0).u32(1).u64(uaddr + 0x20000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(0x12000)));
  CHECK(ack_error(h) == errc::vhost_out_of_order);
  // A log_guest_addr whose used ring the log does not cover (0x100 bytes = 2048 pages = 8 MiB).
  h.send(req(fr::set_vring_addr, need,
             builder{}.u32(0).u32(1).u64(uaddr + 0x10000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(0x800000 - 8)));
  CHECK(ack_error(h) == errc::vhost_log_range);
  CHECK(h.s->vring(0).log_addr == 0x12000);
  // A new log too small for the logged ring is refused; the old one stays.
  h.send(log_base(1, 0), {h.new_file(1)});  // 8 pages: 0x12000 is page 18
  CHECK(h.reply_u64(code(fr::set_log_base)) == 1);
  CHECK(h.s->log().size() == 0x100);
  // Migration over: F_LOG and LOG_ALL off.
  h.send(req(fr::set_vring_addr, need,
             builder{}.u32(0).u32(0).u64(uaddr + 0x10000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(0)));
  CHECK(ack_error(h) == errc{});
  h.send(u64_req(fr::set_features, version_1 | bit30, need));
  CHECK(ack_error(h) == errc{});
  CHECK_FALSE(h.s->log().active());
  h.disconnect();
}

TEST_CASE("a ring with F_LOG does not start when the log cannot hold its used ring") {
  harness h(logging_device());
  setup(h, version_1 | bit30 | vu::f_log_all);
  h.send(log_base(1, 0), {h.new_file(1)});  // pages 0-7
  start_ring(h, vu::vring_addr_flag::log, 0x12000);
  CHECK(err(h.last.status) == errc::vhost_log_range);
  CHECK_FALSE(h.s->vring(0).started);
  h.send(log_base(0x10, 0), {h.new_file(0x10)});  // pages 0-127
  h.send(u64_req(fr::set_vring_kick, 0 | 0x100));
  CHECK(h.s->vring(0).started);
  h.disconnect();
  CHECK(h.mapper.live() == 0);
}

TEST_CASE("F_LOG is refused for a device that does not log") {
  fake_device d = logging_device();
  d.logs = false;
  harness h(d);
  h.send(req(fr::set_owner));
  h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
  h.send(req(fr::set_vring_addr, need,
             builder{}.u32(0).u32(1).u64(uaddr + 0x10000).u64(uaddr + 0x12000)
                 .u64(uaddr + 0x11000).u64(0x12000)));
  CHECK(ack_error(h) == errc::vhost_not_negotiated);
  h.disconnect();
}

TEST_CASE("inflight tracking and dirty logging compose: inflight_queue<logged_queue<split>>") {
  split_mock::options o;
  o.size = 8;
  o.data_bytes = 8 * page;
  split_mock m(o);
  log_buffer l(16);
  mem_t mem{m.memory(), l.log};
  be::vring_state ring;
  ring.addr_flags = vu::vring_addr_flag::log;
  ring.log_addr = m.config().device_area.raw();
  std::vector<std::byte> region(be::inflight_layout::queue_bytes(8));
  using stack = be::inflight_queue<be::logged_queue<vireo::ring::split_device<mem_t>>>;
  static_assert(vireo::ring::device_queue_api<stack>);
  stack q{mem, l.log, ring};
  q.attach({region, 8});
  REQUIRE(q.configure(m.config()).has_value());
  q.restore(0, 0);
  CHECK(q.tracking());
  const std::uint64_t buf = add_writable(m, 2 * page);
  auto c = q.pop();
  REQUIRE(c.has_value());
  REQUIRE_FALSE(c->empty());
  be::split_inflight_region reg{region};
  CHECK(reg.inflight(c->id()));
  l.clear();
  REQUIRE(q.push_used(c->token(), 100).has_value());
  CHECK_FALSE(reg.inflight(c->id()));
  CHECK(reg.used_idx() == 1);
  // The written bytes (re-walked through the layers) and the used ring's page.
  CHECK(l.pages() == pages_t{m.config().device_area.raw() / page, buf / page});
}
