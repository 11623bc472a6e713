// SPDX-License-Identifier: Apache-2.0
// The epoll runner's parts that go beyond request → reply: the fd that travels with a reply
// (GET_INFLIGHT_FD's region, from the server's memfd_inflight_allocator) and the back-end
// request channel (backend_server::config_changed(): BACKEND_CONFIG_CHANGE_MSG out, the
// REPLY_ACK answer in, bounded by a timeout). The loop is driven on the test thread with
// run_once(); the front-end is a raw peer whose requests are queued in the socket ahead.
#include <doctest/doctest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "socket_support.hpp"
#include "test_support.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/linux/inflight_memfd.hpp"
#include "vireo/linux/vhost_user_backend_runner.hpp"
#include "vireo/vhost_user/backend/gpio_device_model.hpp"
#include "vireo/vhost_user/encode.hpp"

namespace {

namespace lh = vireo::linux_host;
namespace vu = vireo::vhost_user;
namespace be = vireo::vhost_user::backend;
using vireo::errc;
using vireo_test::err;
using fr = vu::frontend_request;
using pf = vu::protocol_feature;

using gpio_chip = vireo::gpio::sim::chip<4, 16>;
using gpio_model = be::gpio_device_model<gpio_chip, 32, 4>;

/// The gpio model with the inflight hook (the area is not used: these tests are about the
/// runner, not the tracking), so that INFLIGHT_SHMFD is offered with an allocator.
struct inflight_gpio : gpio_model {
  using gpio_model::gpio_model;
  using gpio_model::start_vring;
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config& cfg,
                                  vireo::ring::queue_state base, be::inflight_area) noexcept {
    return gpio_model::start_vring(i, cfg, base);
  }
};
static_assert(be::inflight_device<inflight_gpio>);

using plain_server = lh::backend_server<gpio_model, 2>;
using inflight_server = lh::backend_server<inflight_gpio, 2, 32, lh::memfd_inflight_allocator>;

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t user_base = 0x7000'0000'0000;
constexpr std::uint64_t ram_size = 1 << 20;

struct counting_observer : lh::backend_observer {
  int disconnects = 0;
  errc last = errc::invalid_argument;
  void disconnected(errc e) noexcept override {
    ++disconnects;
    last = e;
  }
};

/// A server with its epoll set, pumped on the test thread.
template <typename Server, typename Model>
struct rig {
  vireo_socket_test::temp_dir dir;
  std::string path = dir.file("gpio.sock");
  gpio_chip chip{4};
  Model model{chip};
  counting_observer obs;
  lh::epoll_set ep = [] {
    auto e = lh::epoll_set::create();
    REQUIRE(e);
    return std::move(*e);
  }();
  Server server{model, &obs};
  lh::backend_loop loop{ep};

  rig() { REQUIRE(server.start(path, ep, 0)); }

  /// Run the loop until `done()` (bounded: 2 s).
  template <typename Pred>
  bool pump_until(Pred done) {
    std::array<epoll_event, 8> events{};
    lh::loop_endpoint* eps[] = {&server};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      REQUIRE(loop.run_once(eps, events, 10));
    }
    return true;
  }
  /// Run the loop until `fd` has something to read (a reply).
  bool pump_until_readable(int fd) {
    return pump_until([fd] {
      pollfd p{fd, POLLIN, 0};
      return ::poll(&p, 1, 0) == 1;
    });
  }
};

/// The front-end side: raw requests (never NEED_REPLY, so nothing has to be read in between).
struct peer {
  lh::channel ch;

  static peer connect(const std::string& path) {
    lh::connect_options co;
    co.attempts = 20;
    co.retry_delay_ms = 10;
    auto fd = lh::connect_unix(path, co);
    REQUIRE(fd);
    return peer{lh::channel{std::move(*fd)}};
  }
  void send(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
    REQUIRE(ch.send(bytes, fds));
  }
  void request(fr r, std::span<const int> fds = {}) {
    std::array<std::byte, 64> buf{};
    auto n = vu::encode(r, fds.size(), buf);
    REQUIRE(n);
    send(std::span{buf}.first(*n), fds);
  }
  template <typename T>
  void request(fr r, const T& payload, std::span<const int> fds = {}, vu::codec_options o = {}) {
    std::array<std::byte, 128> buf{};
    auto n = vu::encode(r, payload, fds.size(), buf, false, o);
    REQUIRE(n);
    send(std::span{buf}.first(*n), fds);
  }
  void u64(fr r, std::uint64_t v) {
    vu::u64_payload p{};
    p.value.set(v);
    request(r, p);
  }
  void state(fr r, std::uint32_t index, std::uint32_t num) {
    vu::vring_state s{};
    s.index.set(index);
    s.num.set(num);
    request(r, s);
  }
};

/// Both ends of the back-end channel and guest RAM (a memfd).
struct fixture_fds {
  lh::unique_fd backend_end, frontend_end, ram, kick;
  fixture_fds() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    backend_end = lh::unique_fd{sv[0]};
    frontend_end = lh::unique_fd{sv[1]};
    ram = lh::unique_fd{::memfd_create("ram", MFD_CLOEXEC)};
    REQUIRE(ram.valid());
    REQUIRE(::ftruncate(ram.get(), ram_size) == 0);
    kick = lh::unique_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    REQUIRE(kick.valid());
  }
};

/// QEMU's order: protocol features, the back-end channel, SET_OWNER, features, memory, and
/// vring 0 (the requestq) up to its KICK.
void set_up(peer& p, fixture_fds& f, std::uint64_t protocol, bool channel = true) {
  p.u64(fr::set_protocol_features, protocol);
  const int be_fd = f.backend_end.get();
  if (channel) p.request(fr::set_backend_req_fd, std::span{&be_fd, 1});
  p.request(fr::set_owner);
  p.u64(fr::set_features, version_1 | vu::f_protocol_features);
  vu::memory_region r{};
  r.guest_phys_addr.set(0);
  r.memory_size.set(ram_size);
  r.userspace_addr.set(user_base);
  std::array<std::byte, 128> buf{};
  auto n = vu::encode_set_mem_table(std::span{&r, 1}, buf);
  REQUIRE(n);
  const int ram = f.ram.get();
  p.send(std::span{buf}.first(*n), std::span{&ram, 1});
  p.state(fr::set_vring_num, 0, 16);
  p.state(fr::set_vring_base, 0, 0);
  vu::vring_addr a{};
  a.desc_user_addr.set(user_base);
  a.avail_user_addr.set(user_base + 0x1000);
  a.used_user_addr.set(user_base + 0x2000);
  p.request(fr::set_vring_addr, a);
  const int kick = f.kick.get();
  p.request(fr::set_vring_kick, vu::u64_payload{}, std::span{&kick, 1});
}

/// Queue the front-end's answer to CONFIG_CHANGE_MSG in the back-end channel ahead.
void queue_answer(int fd, std::uint64_t status, std::uint32_t code) {
  const auto bytes = vireo_socket_test::frame(
      code, vu::flag::reply_flags,
      std::span{reinterpret_cast<const std::byte*>(&status), sizeof status});
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
}

/// One back-end request read from the front-end's end (header fields), without waiting long.
struct seen {
  std::uint32_t code = 0, flags = 0, size = 0;
};
seen read_request(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  REQUIRE(::poll(&pfd, 1, 1000) == 1);
  std::array<std::uint32_t, 3> h{};
  REQUIRE(::recv(fd, h.data(), sizeof h, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof h));
  return {h[0], h[1], h[2]};
}

constexpr std::uint32_t config_change =
    static_cast<std::uint32_t>(vu::backend_request::config_change_msg);

}  // namespace

TEST_CASE("runner: GET_INFLIGHT_FD's region fd travels with the reply (memfd allocator)") {
  rig<inflight_server, inflight_gpio> r;
  const auto fds_before = vireo_socket_test::open_descriptors();
  {
    peer p = peer::connect(r.path);
    p.request(fr::get_protocol_features);
    REQUIRE(r.pump_until_readable(p.ch.fd()));
    auto m = p.ch.receive();
    REQUIRE(m);
    const auto proto = vu::decode_reply(m->bytes(), {}, vu::channel::main,
                                        static_cast<std::uint32_t>(fr::get_protocol_features));
    REQUIRE(proto);
    const std::uint64_t offered = vu::u64_of(*proto);
    CHECK(vu::has(offered, pf::inflight_shmfd));
    CHECK(vu::has(offered, pf::backend_req));

    const std::uint64_t acked = vu::bit(pf::inflight_shmfd) | vu::bit(pf::reply_ack);
    p.u64(fr::set_protocol_features, acked);
    p.request(fr::set_owner);
    p.u64(fr::set_features, version_1 | vu::f_protocol_features);
    vu::inflight req{};
    req.num_queues.set(2);
    req.queue_size.set(64);
    p.request(fr::get_inflight_fd, req);
    REQUIRE(r.pump_until_readable(p.ch.fd()));
    m = p.ch.receive();
    REQUIRE(m);
    vu::codec_options o;
    o.protocol_features = acked;
    o.num_queues = 2;
    const auto reply = vu::decode_reply(m->bytes(), m->fds().view(), vu::channel::main,
                                        static_cast<std::uint32_t>(fr::get_inflight_fd), o);
    REQUIRE(reply);
    const auto got = reply->as<vu::inflight>();
    const std::uint64_t size = be::inflight_layout::region_bytes(2, 64);
    CHECK(got.mmap_size.get() == size);
    CHECK(got.mmap_offset.get() == 0);
    REQUIRE(m->fds().size() == 1);
    // The front-end's copy is the same memfd: the right size, sealed, and shared with the
    // back-end's mapping (what the back-end writes there survives it).
    struct stat st {};
    REQUIRE(::fstat(m->fds().peek(0), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_size) == size);
    CHECK(r.server.inflight_allocator().live() == 1);
    const auto& info = r.server.session().inflight();
    REQUIRE(info.host != nullptr);
    info.host[0] = std::byte{0x5A};
    void* view = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, m->fds().peek(0), 0);
    REQUIRE(view != MAP_FAILED);
    CHECK(static_cast<const std::byte*>(view)[0] == std::byte{0x5A});
    ::munmap(view, size);

    p.ch.close();
    REQUIRE(r.pump_until([&] { return r.obs.disconnects == 1; }));
    CHECK(r.server.inflight_allocator().live() == 0);  // the session released its region
  }
  CHECK(vireo_socket_test::open_descriptors() == fds_before);
}

TEST_CASE("runner: without an allocator INFLIGHT_SHMFD is not offered") {
  rig<lh::backend_server<inflight_gpio, 2>, inflight_gpio> r;
  peer p = peer::connect(r.path);
  p.request(fr::get_protocol_features);
  REQUIRE(r.pump_until_readable(p.ch.fd()));
  auto m = p.ch.receive();
  REQUIRE(m);
  const auto proto = vu::decode_reply(m->bytes(), {}, vu::channel::main,
                                      static_cast<std::uint32_t>(fr::get_protocol_features));
  REQUIRE(proto);
  CHECK_FALSE(vu::has(vu::u64_of(*proto), pf::inflight_shmfd));
}

TEST_CASE("runner: config_changed sends CONFIG_CHANGE_MSG on the back-end channel, takes the ack") {
  rig<plain_server, gpio_model> r;
  fixture_fds f;
  peer p = peer::connect(r.path);
  const std::uint64_t acked =
      vu::bit(pf::backend_req) | vu::bit(pf::reply_ack) | vu::bit(pf::config);
  set_up(p, f, acked);
  REQUIRE(r.pump_until([&] { return r.server.session().vring(0).started; }));
  CHECK(r.server.session().backend_fd() >= 0);

  // Success: the message arrives with NEED_REPLY, the queued ack 0 is taken.
  queue_answer(f.frontend_end.get(), 0, config_change);
  CHECK(r.server.config_changed());
  seen s = read_request(f.frontend_end.get());
  CHECK(s.code == config_change);
  CHECK(s.flags == (1u | vu::flag::need_reply));
  CHECK(s.size == 0);
  CHECK_FALSE(r.server.session().backend_reply_pending());

  // A refusal (status 1) is reported and keeps the connection.
  queue_answer(f.frontend_end.get(), 1, config_change);
  CHECK(err(r.server.config_changed()) == errc::vhost_backend_request_failed);
  (void)read_request(f.frontend_end.get());
  CHECK(r.server.connected());

  // An answer for another request is malformed: the connection is dropped.
  queue_answer(f.frontend_end.get(), 0, config_change + 1);
  CHECK(err(r.server.config_changed()) == errc::vhost_reply_mismatch);
  CHECK_FALSE(r.server.connected());
  CHECK(r.obs.disconnects == 1);
}

TEST_CASE("runner: config_changed gives host_timeout for a front-end that never answers") {
  rig<plain_server, gpio_model> r;
  r.server.set_backend_reply_timeout(100);
  fixture_fds f;
  peer p = peer::connect(r.path);
  set_up(p, f, vu::bit(pf::backend_req) | vu::bit(pf::reply_ack) | vu::bit(pf::config));
  REQUIRE(r.pump_until([&] { return r.server.session().vring(0).started; }));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(err(r.server.config_changed()) == errc::host_timeout);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= std::chrono::milliseconds(90));
  CHECK(took < std::chrono::milliseconds(1000));
  CHECK(read_request(f.frontend_end.get()).code == config_change);  // it was sent
  // The channel cannot be trusted any more (a late answer would be taken for the next one).
  CHECK_FALSE(r.server.connected());
  CHECK(r.obs.last == errc::host_timeout);
  // The loop goes on: a new front-end is served.
  peer q = peer::connect(r.path);
  q.request(fr::get_features);
  REQUIRE(r.pump_until_readable(q.ch.fd()));
  CHECK(q.ch.receive());
}

TEST_CASE("runner: config_changed: no wait without REPLY_ACK; refused without CONFIG or channel") {
  rig<plain_server, gpio_model> r;
  CHECK(err(r.server.config_changed()) == errc::host_closed);  // nobody connected
  fixture_fds f;
  peer p = peer::connect(r.path);
  set_up(p, f, vu::bit(pf::backend_req) | vu::bit(pf::config));
  REQUIRE(r.pump_until([&] { return r.server.session().vring(0).started; }));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(r.server.config_changed());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50));
  const seen s = read_request(f.frontend_end.get());
  CHECK(s.code == config_change);
  CHECK(s.flags == 1u);  // no NEED_REPLY
  CHECK(r.server.connected());

  // Without CONFIG: not negotiated, nothing sent, the connection kept.
  rig<plain_server, gpio_model> r2;
  fixture_fds f2;
  peer p2 = peer::connect(r2.path);
  set_up(p2, f2, vu::bit(pf::backend_req) | vu::bit(pf::reply_ack));
  REQUIRE(r2.pump_until([&] { return r2.server.session().vring(0).started; }));
  CHECK(err(r2.server.config_changed()) == errc::vhost_not_negotiated);
  CHECK(r2.server.connected());

  // BACKEND_REQ acked but no SET_BACKEND_REQ_FD: no channel.
  rig<plain_server, gpio_model> r3;
  fixture_fds f3;
  peer p3 = peer::connect(r3.path);
  set_up(p3, f3, vu::bit(pf::backend_req) | vu::bit(pf::reply_ack) | vu::bit(pf::config), false);
  REQUIRE(r3.pump_until([&] { return r3.server.session().vring(0).started; }));
  CHECK(err(r3.server.config_changed()) == errc::vhost_no_backend_channel);
  CHECK(r3.server.connected());
}
