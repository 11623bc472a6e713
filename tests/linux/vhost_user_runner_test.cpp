// SPDX-License-Identifier: Apache-2.0
// The epoll runner (linux/vhost_user_backend_runner.hpp) over real Unix sockets, with the i2c
// and gpio vhost-user device models over simulated hosts: requests answered, malformed input
// ends only that connection, a front-end can reconnect, a second front-end is refused, several
// servers share one loop, and nothing (fds, mappings) is left behind.
#include <doctest/doctest.h>
#include <sys/eventfd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "socket_support.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/linux/vhost_user_backend_runner.hpp"
#include "vireo/vhost_user/backend/gpio_device_model.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"
#include "vireo/vhost_user/encode.hpp"

namespace {

namespace lh = vireo::linux_host;
namespace vu = vireo::vhost_user;
namespace be = vireo::vhost_user::backend;
using vireo::errc;
using fr = vu::frontend_request;

using i2c_model = be::i2c_device_model<vireo::i2c::sim::bus<>>;
using gpio_chip = vireo::gpio::sim::chip<4, 16>;
using gpio_model = be::gpio_device_model<gpio_chip, 32, 4>;

struct counting_observer : lh::backend_observer {
  std::atomic<int> connects{0}, disconnects{0}, refused{0}, bad{0};
  void connected() noexcept override { ++connects; }
  void disconnected(errc) noexcept override { ++disconnects; }
  void refused_connection() noexcept override { ++refused; }
  void malformed(errc) noexcept override { ++bad; }
};

/// A loop on its own thread serving the given endpoints until the fixture is destroyed.
class loop_thread {
 public:
  explicit loop_thread(lh::epoll_set& ep) : loop_(ep), stop_(::eventfd(0, EFD_CLOEXEC)) {
    REQUIRE(loop_.add_stop_fd(stop_.get()));
  }
  void run(std::vector<lh::loop_endpoint*> eps) {
    eps_ = std::move(eps);
    thread_ = std::thread([this] { result_ = loop_.run(eps_); });
  }
  ~loop_thread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    REQUIRE(::write(stop_.get(), &one, sizeof one) == sizeof one);
    thread_.join();
    CHECK(result_.has_value());
  }

 private:
  lh::backend_loop loop_;
  lh::unique_fd stop_;
  std::vector<lh::loop_endpoint*> eps_;
  std::thread thread_;
  vireo::result<void> result_ = vireo::ok();
};

/// The front-end side of a test: a channel on a connected socket, raw requests and replies.
struct client {
  lh::channel ch;

  static client connect(const std::string& path) {
    lh::connect_options co;
    co.attempts = 20;
    co.retry_delay_ms = 10;
    auto fd = lh::connect_unix(path, co);
    REQUIRE(fd);
    return client{lh::channel{std::move(*fd)}};
  }
  void send_raw(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
    REQUIRE(ch.send(bytes, fds));
  }
  void request(fr r, bool need_reply = false) {
    std::array<std::byte, 64> buf{};
    auto n = vu::encode(r, 0, buf, need_reply);
    REQUIRE(n);
    send_raw(std::span{buf}.first(*n));
  }
  std::uint64_t u64_reply(fr r) {
    auto m = ch.receive();
    REQUIRE(m);
    auto d = vu::decode_reply(m->bytes(), {}, vu::channel::main, static_cast<std::uint32_t>(r));
    REQUIRE(d);
    return d->as<vu::u64_payload>().value.get();
  }
  /// The back-end closed the connection (EOF).
  bool closed_by_peer() {
    auto m = ch.receive();
    return !m && m.error() == errc::host_disconnected;
  }
};

/// An i2c server (a simulated bus without targets, queues up to 1024) at dir/i2c.sock, served
/// by a loop thread until the rig is destroyed.
struct i2c_served {
  vireo_socket_test::temp_dir dir;
  std::string path = dir.file("i2c.sock");
  vireo::i2c::sim::bus<> bus;
  i2c_model model{bus};
  counting_observer obs;
  lh::epoll_set ep = make_epoll();
  lh::backend_server<i2c_model, 1> server{model, &obs};
  std::optional<loop_thread> loop;  // last: stopped before the server goes

  i2c_served() {
    REQUIRE(server.start(path, ep, 0));
    loop.emplace(ep);
    loop->run({&server});
  }
  static lh::epoll_set make_epoll() {
    auto e = lh::epoll_set::create();
    REQUIRE(e);
    return std::move(*e);
  }
};

template <typename Pred>
bool eventually(Pred p) {
  for (int i = 0; i < 400; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

TEST_CASE("runner: an i2c server answers negotiation over a real socket") {
  i2c_served rig;

  client c = client::connect(rig.path);
  c.request(fr::get_features);
  const std::uint64_t features = c.u64_reply(fr::get_features);
  // VHOST_F_LOG_ALL: the i2c model logs its dirty pages (logging_device).
  CHECK(features == (rig.model.device_features() | vu::f_protocol_features | vu::f_log_all));
  CHECK((features & 1) == 1);                          // VIRTIO_I2C_F_ZERO_LENGTH_REQUEST
  CHECK((features >> 32 & 1) == 1);                    // VERSION_1
  c.request(fr::get_protocol_features);
  const std::uint64_t proto = c.u64_reply(fr::get_protocol_features);
  CHECK((proto & vu::bit(vu::protocol_feature::config)) == 0);  // i2c has no config space
  CHECK((proto & vu::bit(vu::protocol_feature::reply_ack)) != 0);
  rig.loop->stop();
  CHECK(rig.obs.connects == 1);
}

TEST_CASE("runner: a malformed message ends that connection only; the front-end reconnects") {
  i2c_served rig;

  SUBCASE("unknown request code (rule B5) with an fd attached") {
    client c = client::connect(rig.path);
    std::array<std::byte, 12> bad{};
    bad[0] = std::byte{45};  // request 45: not defined
    bad[4] = std::byte{1};   // version 1
    const int fd = ::eventfd(0, EFD_CLOEXEC);
    c.send_raw(bad, std::span{&fd, 1});
    ::close(fd);
    CHECK(c.closed_by_peer());
  }
  SUBCASE("a reply flag on a request (rule B2)") {
    client c = client::connect(rig.path);
    std::array<std::byte, 12> bad{};
    bad[0] = std::byte{1};     // GET_FEATURES
    bad[4] = std::byte{0x5};   // version 1 | REPLY
    c.send_raw(bad);
    CHECK(c.closed_by_peer());
  }
  SUBCASE("a payload size that does not fit the request (rule B4)") {
    client c = client::connect(rig.path);
    std::array<std::byte, 16> bad{};
    bad[0] = std::byte{2};     // SET_FEATURES takes 8 bytes
    bad[4] = std::byte{1};
    bad[8] = std::byte{4};
    c.send_raw(bad);
    CHECK(c.closed_by_peer());
  }
  CHECK(eventually([&] { return rig.obs.disconnects == 1 && !rig.server.connected(); }));
  CHECK(rig.obs.bad == 1);

  client again = client::connect(rig.path);  // the listener serves the next front-end
  again.request(fr::get_features);
  CHECK(again.u64_reply(fr::get_features) ==
        (rig.model.device_features() | vu::f_protocol_features | vu::f_log_all));
  CHECK(rig.obs.connects == 2);
}

TEST_CASE("runner: a second front-end on a busy socket is refused, the first keeps working") {
  i2c_served rig;

  client first = client::connect(rig.path);
  first.request(fr::get_features);
  (void)first.u64_reply(fr::get_features);
  client second = client::connect(rig.path);
  CHECK(second.closed_by_peer());
  CHECK(eventually([&] { return rig.obs.refused == 1; }));
  first.request(fr::get_protocol_features);
  CHECK(first.u64_reply(fr::get_protocol_features) != 0);
}

TEST_CASE("runner: one loop serves an i2c and a gpio server; gpio config through GET_CONFIG") {
  vireo_socket_test::temp_dir dir;
  vireo::i2c::sim::bus<> bus;
  i2c_model i2c{bus};
  gpio_chip chip{4};
  chip.set_name(0, "a");
  chip.set_name(1, "bb");
  gpio_model gpio{chip};
  auto ep = lh::epoll_set::create();
  REQUIRE(ep);
  lh::backend_server<i2c_model, 1> s0{i2c};
  lh::backend_server<gpio_model, 2> s1{gpio};
  REQUIRE(s0.start(dir.file("i2c.sock"), *ep, 0));
  REQUIRE(s1.start(dir.file("gpio.sock"), *ep, 1));
  loop_thread loop{*ep};
  loop.run({&s0, &s1});

  client g = client::connect(dir.file("gpio.sock"));
  client i = client::connect(dir.file("i2c.sock"));
  g.request(fr::get_features);
  CHECK((g.u64_reply(fr::get_features) & 1) == 1);  // VIRTIO_GPIO_F_IRQ
  i.request(fr::get_features);
  CHECK((i.u64_reply(fr::get_features) & 1) == 1);
  g.request(fr::get_protocol_features);
  const std::uint64_t proto = g.u64_reply(fr::get_protocol_features);
  REQUIRE((proto & vu::bit(vu::protocol_feature::config)) != 0);  // QEMU 7.2 needs it for gpio

  vu::u64_payload accept{};
  accept.value.set(vu::bit(vu::protocol_feature::config));
  std::array<std::byte, 64> buf{};
  auto n = vu::encode(fr::set_protocol_features, accept, 0, buf);
  REQUIRE(n);
  g.send_raw(std::span{buf}.first(*n));
  g.request(fr::set_owner);
  std::array<std::byte, 12 + 12 + 8> cfg_req{};
  const std::array<std::byte, 8> zeros{};
  auto cn = vu::encode_config_request(fr::get_config, 0, vu::config_flags::frontend, zeros, cfg_req);
  REQUIRE(cn);
  g.send_raw(std::span{cfg_req}.first(*cn));
  auto reply = g.ch.receive();
  REQUIRE(reply);
  REQUIRE(reply->payload().size() == 12 + 8);
  const auto cfg = reply->payload().subspan(12);
  CHECK(static_cast<unsigned>(cfg[0]) == 4);       // ngpio 4 (le16)
  CHECK(static_cast<unsigned>(cfg[1]) == 0);
  CHECK(static_cast<unsigned>(cfg[4]) == 2 + 3 + 1 + 1);  // "a\0bb\0\0\0": names blob size
}

TEST_CASE("runner: a session that mapped memory leaves no mapping and no fd after disconnect") {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("i2c.sock");
  vireo::i2c::sim::bus<> bus;
  i2c_model model{bus};
  counting_observer obs;
  auto ep = lh::epoll_set::create();
  REQUIRE(ep);
  lh::backend_server<i2c_model, 1> server{model, &obs};
  REQUIRE(server.start(path, *ep, 0));
  const auto fds_before = vireo_socket_test::open_descriptors();
  {
    loop_thread loop{*ep};
    loop.run({&server});
    client c = client::connect(path);
    c.request(fr::set_owner);
    const int mem = ::memfd_create("ram", MFD_CLOEXEC);
    REQUIRE(::ftruncate(mem, 1 << 20) == 0);
    vu::memory_region r{};
    r.guest_phys_addr.set(0);
    r.memory_size.set(1 << 20);
    r.userspace_addr.set(0x7000'0000);
    r.mmap_offset.set(0);
    std::array<std::byte, 128> buf{};
    auto n = vu::encode_set_mem_table(std::span{&r, 1}, buf, true);
    REQUIRE(n);
    c.send_raw(std::span{buf}.first(*n), std::span{&mem, 1});
    ::close(mem);
    CHECK(eventually([&] { return server.mapper().live() == 1; }));
    c.ch.close();
    CHECK(eventually([&] { return obs.disconnects == 1; }));
    CHECK(server.mapper().live() == 0);
  }
  CHECK(vireo_socket_test::open_descriptors() == fds_before);
}

TEST_CASE("runner: the memory mapper refuses what would fault later") {
  lh::mmap_region_mapper m;
  const int mem = ::memfd_create("small", MFD_CLOEXEC);
  REQUIRE(::ftruncate(mem, 4096) == 0);
  CHECK(m.map(mem, 8192, 0).error() == errc::out_of_bounds);      // beyond the file: SIGBUS
  CHECK(m.map(mem, 4096, 1).error() == errc::out_of_bounds);
  CHECK(m.map(mem, 0, 0).error() == errc::invalid_argument);
  CHECK(m.map(mem, 16, ~std::uint64_t{0}).error() == errc::address_overflow);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  CHECK(m.map(pipe_fds[0], 4096, 0).error() == errc::host_rejected);  // not a regular file
  auto ok = m.map(mem, 4000, 96);  // an unaligned offset is fine: mapped from file offset 0
  REQUIRE(ok);
  (*ok)[3999] = std::byte{7};
  CHECK(m.live() == 1);
  m.unmap(*ok, 4000, 96);
  CHECK(m.live() == 0);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(mem);
}

TEST_CASE("runner: B9 a value the decoder refuses gets a failure ack with NEED_REPLY, else a close") {
  i2c_served rig;

  client c = client::connect(rig.path);
  vu::u64_payload ack_feature{};
  ack_feature.value.set(vu::bit(vu::protocol_feature::reply_ack));
  std::array<std::byte, 64> buf{};
  auto n = vu::encode(fr::set_protocol_features, ack_feature, 0, buf);
  REQUIRE(n);
  c.send_raw(std::span{buf}.first(*n));
  c.request(fr::set_owner);

  vu::vring_state too_big{};
  too_big.index.set(0);
  too_big.num.set(4096);
  vu::codec_options acked;
  acked.protocol_features = vu::bit(vu::protocol_feature::reply_ack);
  n = vu::encode(fr::set_vring_num, too_big, 0, buf, true, acked);
  REQUIRE(n);
  c.send_raw(std::span{buf}.first(*n));
  CHECK(c.u64_reply(fr::set_vring_num) != 0);  // the failure, reported
  c.request(fr::get_features);                  // and the connection goes on
  CHECK(c.u64_reply(fr::get_features) ==
        (rig.model.device_features() | vu::f_protocol_features | vu::f_log_all));

  n = vu::encode(fr::set_vring_num, too_big, 0, buf, false, acked);  // no NEED_REPLY
  REQUIRE(n);
  c.send_raw(std::span{buf}.first(*n));
  CHECK(c.closed_by_peer());  // nothing could report the failure
  CHECK(eventually([&] { return rig.obs.disconnects == 1; }));
}
