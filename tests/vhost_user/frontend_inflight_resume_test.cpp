// SPDX-License-Identifier: Apache-2.0
// Inflight resume after killing the daemon (issue 5, vhost-user digest §6.4), end to end over
// a real socket: the i2c device model tracks its split requestq in the inflight region that
// Vireo's front-end got with GET_INFLIGHT_FD; a back-end in a child process takes a transfer
// and never finishes it (its bus blocks); the test SIGKILLs it, starts a new back-end on the
// same socket path, and the front-end reconnects with the same guest RAM and SET_INFLIGHT_FD:
// the transfer completes exactly once and new ones work. Also: what the model tracks while it
// runs (split and packed requestqs, each in its region layout).
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <optional>
#include <span>

#include "frontend_backend_support.hpp"
#include "vireo/i2c/driver.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/linux/inflight_memfd.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"

namespace {

using namespace vireo_fe_test;
namespace i2c = vireo::i2c;

using sim_bus = i2c::sim::bus<4>;
using memory_t = ram_t::memory_type;
using drvq_t = ring::any_driver_queue<memory_t, 256>;
using i2c_front = i2c::driver<memory_t, drvq_t, 4, 8>;
using env_t = lh::frontend_env<frontend_t>;

constexpr std::uint64_t zero_length_request = 1;  // VIRTIO_I2C_F_ZERO_LENGTH_REQUEST
constexpr std::uint16_t plain_target = 0x20;      // answers at once
constexpr std::uint16_t held_target = 0x33;       // the first daemon never finishes it
constexpr std::uint16_t queue_size = 16;

i2c::address a7(std::uint16_t a) { return *i2c::address::seven_bit(a); }

/// The simulated bus, counting the transfers to held_target. With `hold_fd` set, a transfer to
/// held_target writes 'h' there and never returns (the daemon is SIGKILLed inside it).
struct counting_bus {
  sim_bus* inner = nullptr;
  int hold_fd = -1;
  std::atomic<int> held_transfers{0};

  std::size_t transfer(std::span<const i2c::host_message> msgs) noexcept {
    if (!msgs.empty() && msgs[0].target == a7(held_target)) {
      ++held_transfers;
      if (hold_fd >= 0) {
        const char h = 'h';
        if (::write(hold_fd, &h, 1) != 1) ::_exit(5);
        for (;;) ::pause();
      }
    }
    return inner->transfer(msgs);
  }
};
static_assert(i2c::host_bus<counting_bus>);
using model_t = be::i2c_device_model<counting_bus>;
static_assert(be::inflight_device<model_t>);

/// A bus with a register chip at both targets (register 3 of the plain one holds 0x42, register
/// 1 of the held one `held_value`).
struct bus_parts {
  sim_bus bus;
  i2c::sim::register_map<16> plain, held;
  counting_bus counting;
  explicit bus_parts(std::uint8_t held_value, int hold_fd = -1) {
    plain.set(3, 0x42);
    held.set(1, held_value);
    REQUIRE(bus.attach(a7(plain_target), plain));
    REQUIRE(bus.attach(a7(held_target), held));
    counting.inner = &bus;
    counting.hold_fd = hold_fd;
  }
};

/// The child: a daemon whose bus holds every transfer to held_target. Never returns.
[[noreturn]] void run_holding_daemon(const std::string& path, int pipe_fd) {
  sim_bus bus;
  i2c::sim::register_map<16> plain, held;
  plain.set(3, 0x42);
  if (!bus.attach(a7(plain_target), plain) || !bus.attach(a7(held_target), held)) ::_exit(2);
  counting_bus counting;
  counting.inner = &bus;
  counting.hold_fd = pipe_fd;
  model_t model{counting, 64};
  auto ep = lh::epoll_set::create();
  if (!ep) ::_exit(3);
  lh::backend_server<model_t, 1, 32, lh::memfd_inflight_allocator> server{model};
  if (!server.start(path, *ep, 0)) ::_exit(4);
  const char ready = 'r';
  if (::write(pipe_fd, &ready, 1) != 1) ::_exit(5);
  lh::backend_loop loop{*ep};
  lh::loop_endpoint* endpoints[] = {&server};
  (void)loop.run(endpoints);
  ::_exit(6);
}

/// Kills and reaps the child whatever happens to the test.
struct child_guard {
  pid_t pid = -1;
  ~child_guard() { kill(); }
  bool kill() {
    if (pid <= 0) return false;
    ::kill(pid, SIGKILL);
    int status = 0;
    const bool reaped = ::waitpid(pid, &status, 0) == pid;
    pid = -1;
    return reaped && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
};

/// The next byte from `fd` within `ms` (0 when none came).
char next_byte(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return 0;
  char c = 0;
  return ::read(fd, &c, 1) == 1 ? c : 0;
}

/// A completion within `ms` (waits on the call fd, polls the ring).
std::optional<i2c::completion> completion_within(frontend_t& fe, i2c_front& front, int ms) {
  for (int i = 0; i < 8; ++i) {
    auto got = front.poll();
    REQUIRE(got);
    if (*got) return **got;
    auto called = fe.wait_call(0, ms / 8);
    REQUIRE(called);
  }
  return std::nullopt;
}

/// The front-end's view of vring 0's part of the inflight region (a read-only mapping of its fd).
struct region_view {
  void* base = MAP_FAILED;
  std::size_t size = 0;
  explicit region_view(const lh::inflight_region& r) : size(static_cast<std::size_t>(r.size)) {
    base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd,
                  static_cast<off_t>(r.mmap_offset));
    REQUIRE(base != MAP_FAILED);
  }
  ~region_view() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
  region_view(const region_view&) = delete;
  region_view& operator=(const region_view&) = delete;
  [[nodiscard]] be::split_inflight_region queue0() const {
    return be::split_inflight_region{
        std::span{static_cast<std::byte*>(base),
                  static_cast<std::size_t>(be::inflight_layout::queue_bytes(queue_size))}};
  }
  [[nodiscard]] be::packed_inflight_region packed_queue0() const {
    return be::packed_inflight_region{std::span{
        static_cast<std::byte*>(base),
        static_cast<std::size_t>(be::packed_inflight_layout::queue_bytes(queue_size))}};
  }
  [[nodiscard]] int marked() const {
    int n = 0;
    for (std::uint16_t i = 0; i < queue_size; ++i) n += queue0().inflight(i) ? 1 : 0;
    return n;
  }
};

/// write(reg) + read(1 byte) at `target`: one transfer of two requests (FAIL_NEXT group).
struct reg_read {
  std::byte reg;
  std::array<std::byte, 1> value{};
  std::array<i2c::transfer_msg, 2> msgs;
  reg_read(std::uint16_t target, std::uint8_t r)
      : reg(std::byte{r}),
        msgs{i2c::transfer_msg::write(a7(target), {&reg, 1}),
             i2c::transfer_msg::read(a7(target), value)} {}
  reg_read(const reg_read&) = delete;
  reg_read& operator=(const reg_read&) = delete;
};

/// Negotiate (INFLIGHT_SHMFD included), GET + SET_INFLIGHT_FD before the ring (QEMU's order),
/// memory, the requestq started; returns the acked features.
std::uint64_t set_up(frontend_t& fe, ram_t& ram, drvq_t& q, std::uint64_t layout) {
  REQUIRE(fe.negotiate());
  REQUIRE(fe.negotiated(pf::inflight_shmfd));
  auto acked = fe.set_features(version_1 | zero_length_request | layout);
  REQUIRE(acked);
  REQUIRE(fe.get_inflight_fd(queue_size));
  REQUIRE(fe.set_inflight_fd());
  REQUIRE(fe.set_mem_table(ram.regions()));
  const ring::queue_config cfg = plan_queue(0, queue_size, *acked);
  REQUIRE(q.configure(cfg));
  REQUIRE(fe.start_vring(0, cfg));
  return *acked;
}

}  // namespace

TEST_CASE("i2c model: a split or packed requestq is tracked in its inflight region layout") {
  for (const bool packed : {false, true}) {
    CAPTURE(packed);
    vireo_socket_test::temp_dir dir;
    const std::string path = dir.file("i2c.sock");
    bus_parts parts{0x77};
    model_t model{parts.counting, 64};
    served_backend<model_t, lh::memfd_inflight_allocator> backend{model, path};
    ram_t ram = make_ram();
    auto fe = frontend_t::connect(path, {}, patient());
    REQUIRE(fe);
    drvq_t q{ram.memory()};
    const std::uint64_t acked = set_up(*fe, ram, q, layout_bit(packed));
    auto made = i2c_front::create(ram.memory(), q, ring::driver_region{data_base, 4096},
                                  feature_set::from_words(acked));
    REQUIRE(made);
    i2c_front& front = *made;
    env_t env{*fe, 50};
    for (int round = 0; round < 2; ++round) {
      reg_read t{plain_target, 3};
      REQUIRE(front.submit(t.msgs));
      front.flush(env);
      auto done = completion_within(*fe, front, 2000);
      REQUIRE(done);
      CHECK(done->ok());
      CHECK(t.value[0] == std::byte{0x42});
    }
    backend.pause();  // the loop stopped: the model and the region hold still
    CHECK(model.tracking_inflight());
    REQUIRE(fe->inflight());
    const region_view view{*fe->inflight()};
    if (!packed) {
      CHECK(view.queue0().version() == 1);
      CHECK(view.queue0().desc_num() == queue_size);
      CHECK(view.queue0().used_idx() == 4);  // two transfers of two requests
      CHECK(view.marked() == 0);
    } else {
      const be::packed_inflight_region reg = view.packed_queue0();
      CHECK(reg.version() == 1);
      CHECK(reg.desc_num() == queue_size);
      CHECK(reg.used_idx() == reg.old_used_idx());  // every completion committed
      CHECK(reg.free_head() == reg.old_free_head());
      for (std::uint16_t i = 0; i < queue_size; ++i) CHECK_FALSE(reg.inflight(i));
    }
  }
}

TEST_CASE("inflight resume after killing the daemon: the held transfer completes exactly once") {
  vireo_socket_test::temp_dir dir;
  const std::string path = dir.file("i2c.sock");
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const lh::unique_fd from_child{pipe_fds[0]};
  lh::unique_fd to_parent{pipe_fds[1]};
  child_guard child;
  child.pid = ::fork();
  REQUIRE(child.pid >= 0);
  if (child.pid == 0) run_holding_daemon(path, to_parent.get());
  to_parent.reset();
  REQUIRE(next_byte(from_child.get(), 2000) == 'r');

  // The front-end: guest RAM in a memfd, the inflight region, the split requestq.
  ram_t ram = make_ram();
  auto fe = frontend_t::connect(path, {}, patient());
  REQUIRE(fe);
  drvq_t q{ram.memory()};
  const std::uint64_t acked = set_up(*fe, ram, q, 0);
  auto made = i2c_front::create(ram.memory(), q, ring::driver_region{data_base, 4096},
                                feature_set::from_words(acked));
  REQUIRE(made);
  i2c_front& front = *made;
  env_t env{*fe, 50};

  // A transfer the first daemon completes, then one it takes and never finishes.
  reg_read first{plain_target, 3};
  REQUIRE(front.submit(first.msgs));
  front.flush(env);
  auto done = completion_within(*fe, front, 2000);
  REQUIRE(done);
  CHECK(done->ok());
  reg_read held{held_target, 1};
  auto held_id = front.submit(held.msgs, 7);
  REQUIRE(held_id);
  front.flush(env);
  REQUIRE(next_byte(from_child.get(), 2000) == 'h');  // inside the bus transfer
  {
    const region_view view{*fe->inflight()};
    CHECK(view.queue0().version() == 1);
    CHECK(view.queue0().used_idx() == 2);
    CHECK(view.marked() == 2);  // both requests of the group were taken
  }

  // Kill it: the connection ends, nothing was completed.
  REQUIRE(child.kill());
  CHECK(err(fe->check_connection()) == errc::host_disconnected);
  auto nothing = front.poll();
  REQUIRE(nothing);
  CHECK_FALSE(*nothing);
  // Its GET_VRING_BASE never came, so the front-end picks the base. Either way the region
  // decides: the heads it holds are resubmitted first and the ring goes on after them.
  std::uint32_t base = 0;
  SUBCASE("resumed at used.idx, as QEMU does after a failed GET_VRING_BASE") { base = 2; }
  SUBCASE("resumed where the dead daemon was: without the region the transfer would be lost") {
    base = lh::quiescent_vring_base(q.avail_index(), false);
    CHECK(base == 4);
  }
  REQUIRE(fe->set_resume_base(0, base));

  // A new daemon on the same path (the stale socket file is replaced); the same guest RAM.
  bus_parts parts{0x77};
  model_t model{parts.counting, 64};
  served_backend<model_t, lh::memfd_inflight_allocator> backend{model, path};
  REQUIRE(fe->reconnect(path, patient()));
  auto resumed = completion_within(*fe, front, 2000);
  REQUIRE(resumed);
  CHECK(resumed->id == *held_id);
  CHECK(resumed->cookie == 7);
  CHECK(resumed->ok());
  CHECK(held.value[0] == std::byte{0x77});
  // Exactly once: no second completion, one bus transfer.
  auto again = front.poll();
  REQUIRE(again);
  CHECK_FALSE(*again);
  CHECK(parts.counting.held_transfers == 1);

  // New transfers work, at the right ring positions.
  reg_read next{held_target, 1};
  REQUIRE(front.submit(next.msgs));
  front.flush(env);
  auto later = completion_within(*fe, front, 2000);
  REQUIRE(later);
  CHECK(later->ok());
  CHECK(next.value[0] == std::byte{0x77});
  CHECK(parts.counting.held_transfers == 2);
  backend.pause();
  const region_view view{*fe->inflight()};
  CHECK(view.queue0().used_idx() == 6);
  CHECK(view.marked() == 0);
  REQUIRE(!backend.rec.starts.empty());
  CHECK(model.tracking_inflight());
}
