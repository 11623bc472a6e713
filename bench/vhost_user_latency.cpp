// SPDX-License-Identifier: Apache-2.0
// vhost-user round-trip latency: one virtio-i2c register read (write the register number, 1
// byte, then read 1 byte: one FAIL_NEXT group of 2 requests, as i2cget / SMBus "read byte") per
// iteration, timed from the driver's submit to its completion, in wall time.
//
//   inproc/<layout>       i2c::driver and i2c::device in one thread over flat memory: the
//                         driver's kick calls the device's process() directly (as in
//                         examples/i2c_session.cpp). The queue latency alone.
//   vhost_user/<layout>   the same driver in the benchmark thread, the device in a vhost-user
//                         back-end (backend_server<i2c_device_model<sim bus>> + backend_loop) on
//                         another thread, over memfd guest RAM shared through a real Unix socket:
//                         kick = eventfd write, the loop wakes in epoll_wait, serves the ring and
//                         writes the call eventfd, the driver wakes in poll().
//   floor/eventfd_round_trip  the same two threads and the same calls (eventfd write, epoll_wait,
//                         read, eventfd write, poll, read) with no ring and no vhost-user at all:
//                         what the wake-ups alone cost on this machine.
// Layouts split and packed, each with EVENT_IDX off and on (`/event_idx`). By default the
// benchmark thread runs on the first CPU of the process's mask and the loop thread on the second
// (`--pin=separate`); `--pin=same` puts both on the first, `--pin=none` pins nothing. Each row's
// label says what was pinned. Same binary, same run: the summary prints, per layout, the
// vhost-user and in-process figures, their ratio and difference, and the difference less the
// floor (what the back-end's work adds beyond the two wake-ups).
//
//   bench_vhost_user_latency [--pin=separate|same|none] [--benchmark_filter=...]
//                            [--benchmark_repetitions=N]

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "bench_report.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/device.hpp"
#include "vireo/i2c/driver.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/linux/epoll.hpp"
#include "vireo/linux/memfd_guest_ram.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/linux/vhost_user_backend_runner.hpp"
#include "vireo/linux/vhost_user_frontend/env.hpp"
#include "vireo/linux/vhost_user_frontend/frontend.hpp"
#include "vireo/linux/vhost_user_frontend/notifier.hpp"
#include "vireo/linux/vhost_user_frontend/sys.hpp"
#include "vireo/ring/driver_env.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/packed_driver.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/ring/split_driver.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"

namespace {

namespace i2c = vireo::i2c;
namespace ring = vireo::ring;
namespace lh = vireo::linux_host;
namespace be = vireo::vhost_user::backend;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo::transport_feature;

// ---- The request and the simulated target ------------------------------------------------------

using bus_type = i2c::sim::bus<4>;
using regs_type = i2c::sim::register_map<16>;
constexpr std::uint16_t kRegsAt = 0x20;
constexpr std::uint8_t kRegister = 0x03;
constexpr std::uint8_t kValue = 0x80;
constexpr std::uint16_t kQueueSize = 64;         // split: a power of two; packed: the same
constexpr std::uint32_t kTransferBytes = 256;    // i2c::driver_options' default
constexpr int kWarmup = 64;                      // untimed transfers before each run
constexpr int kWaitMs = 200;                     // per wait for the call eventfd
constexpr std::uint32_t kMaxWaits = 10;          // a dead back-end ends a run within 2 s
constexpr gpa kRingBase{0x4000'0000};            // guest RAM: the ring ...
constexpr gpa kDataBase{0x8000'0000};            // ... the driver's region (vhost-user rows)
constexpr std::uint64_t kRingBytes = 64 * 1024;
constexpr std::uint64_t kDataBytes = 64 * 1024;

/// The bus with a register map at 0x20, register 3 set. Not movable: the bus refers to it.
struct target {
  bus_type bus;
  regs_type regs;
  bool ok = false;
  target() {
    regs.set(kRegister, kValue);
    ok = bus.attach(*i2c::address::seven_bit(kRegsAt), regs).has_value();
  }
  target(const target&) = delete;
  target& operator=(const target&) = delete;
};

/// write(register) + read(1 byte) to the register map: what each iteration transfers.
struct register_read {
  const std::byte reg{kRegister};
  std::byte value{};
  std::array<i2c::transfer_msg, 2> msgs{
      i2c::transfer_msg::write(*i2c::address::seven_bit(kRegsAt), {&reg, 1}),
      i2c::transfer_msg::read(*i2c::address::seven_bit(kRegsAt), {&value, 1})};
  register_read() = default;
  register_read(const register_read&) = delete;  // msgs point into this object
  register_read& operator=(const register_read&) = delete;
};

/// One register read through `front`. False (after SkipWithError) when it failed or read a
/// wrong value; the caller leaves the loop.
template <typename Front, typename Env>
bool read_register(benchmark::State& state, Front& front, Env& env, register_read& rq) {
  rq.value = std::byte{0};
  auto c = front.transfer(rq.msgs, env, kMaxWaits);
  if (c && c->ok() && rq.value == std::byte{kValue}) return true;
  std::string why = "register read failed: ";
  if (!c) why += vireo::error_message(c.error());
  else if (!c->ok()) why += vireo::error_message(c->failure);
  else why += "wrong value";
  state.SkipWithError(why.c_str());
  return false;
}

void skip(benchmark::State& state, const char* what, errc e) {
  const std::string why = std::string(what) + ": " + std::string(vireo::error_message(e));
  state.SkipWithError(why.c_str());
}

// ---- Layouts -----------------------------------------------------------------------------------

struct split_layout {
  static constexpr bool packed = false;
  template <typename M>
  using driver_queue = ring::split_driver<M, kQueueSize>;
  template <typename M>
  using device_queue = ring::split_device<M, 8>;
};
struct packed_layout {
  static constexpr bool packed = true;
  template <typename M>
  using driver_queue = ring::packed_driver<M, kQueueSize>;
  template <typename M>
  using device_queue = ring::packed_device<M, 8>;
};

/// The transport features a run negotiates (the i2c bit comes on top).
feature_set transport(bool packed, bool event_idx) {
  feature_set f{transport_feature::version_1};
  if (packed) f.set(transport_feature::ring_packed);
  if (event_idx) f.set(transport_feature::event_idx);
  return f;
}

/// The requestq at kRingBase (the transport bits of `features` decide the layout).
ring::queue_config plan_queue(const feature_set& features) {
  if (features.has(transport_feature::ring_packed)) {
    namespace L = ring::packed_layout;
    const std::uint64_t desc = L::desc_ring_bytes(kQueueSize);
    return {kQueueSize, kRingBase, kRingBase.offset(desc), kRingBase.offset(desc + 64), features};
  }
  namespace L = ring::split_layout;
  const std::uint64_t avail_at = L::desc_table_bytes(kQueueSize);
  const std::uint64_t used_at = (avail_at + L::avail_bytes(kQueueSize) + 63) / 64 * 64;
  return {kQueueSize, kRingBase, kRingBase.offset(avail_at), kRingBase.offset(used_at), features};
}

// ---- CPUs --------------------------------------------------------------------------------------

/// Pins the calling thread to one CPU and restores its previous mask on destruction.
class cpu_pin {
 public:
  explicit cpu_pin(int cpu) noexcept {
    if (cpu < 0 || pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
  }
  ~cpu_pin() {
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
  }
  cpu_pin(const cpu_pin&) = delete;
  cpu_pin& operator=(const cpu_pin&) = delete;
  [[nodiscard]] bool pinned() const noexcept { return pinned_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

/// Where the two threads run (--pin), decided once from the process's mask as main() found it
/// (-1: not pinned), and what the last two-thread run reported, for the summary.
enum class pin_mode { separate, same, none };
struct cpu_plan {
  pin_mode mode = pin_mode::separate;
  int bench = -1, loop = -1;
  std::string last_label = "no two-thread row ran";
};
cpu_plan g_cpus;

void plan_cpus(pin_mode mode) {
  g_cpus.mode = mode;
  if (mode == pin_mode::none) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  int first = -1, second = -1;
  for (int c = 0; c < CPU_SETSIZE && second < 0; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    if (first < 0) first = c;
    else second = c;
  }
  if (first < 0) return;
  if (mode == pin_mode::same) {
    g_cpus.bench = g_cpus.loop = first;
  } else if (second >= 0) {  // separate: only with two CPUs; one CPU runs everything anyway
    g_cpus.bench = first;
    g_cpus.loop = second;
  }
}

/// "bench thread on CPU 0, loop thread on CPU 1", or what could not be pinned.
void label(benchmark::State& state, bool bench_pinned, std::optional<bool> loop_pinned) {
  const auto on = [](const char* who, bool pinned, int cpu) {
    return std::string(who) + (pinned ? " on CPU " + std::to_string(cpu) : " not pinned");
  };
  std::string l = on("bench thread", bench_pinned, g_cpus.bench);
  if (loop_pinned) l += ", " + on("loop thread", *loop_pinned, g_cpus.loop);
  state.SetLabel(l);
  if (loop_pinned) g_cpus.last_label = l;
}

void report(benchmark::State& state, std::uint64_t kicks, std::uint64_t waits) {
  bench::report_per_item(state, 1, "ns_per_read");
  state.counters["kicks_per_read"] =
      benchmark::Counter(static_cast<double>(kicks), benchmark::Counter::kAvgIterations);
  state.counters["waits_per_read"] =
      benchmark::Counter(static_cast<double>(waits), benchmark::Counter::kAvgIterations);
}

// ---- In process --------------------------------------------------------------------------------

/// Guest RAM for the in-process rows: the ring and the driver's region.
struct flat_ram {
  alignas(4096) std::array<std::byte, kRingBytes + kDataBytes> bytes{};
};

template <typename L, bool EventIdx>
void bm_inproc(benchmark::State& state) {
  using memory = vireo::flat_memory;
  using drvq_type = typename L::template driver_queue<memory>;
  using devq_type = typename L::template device_queue<memory>;
  using front_type = i2c::driver<memory, drvq_type, 4, 8>;
  using device_type = i2c::device<devq_type, bus_type>;
  // One host buffer, one window: the ring at kRingBase, the driver's region right after it.
  const auto ram = std::make_unique<flat_ram>();
  memory mem{ram->bytes, kRingBase};
  constexpr gpa data_at = kRingBase.offset(kRingBytes);

  target t;
  if (!t.ok) {
    state.SkipWithError("bus: attach failed");
    return;
  }
  const feature_set ring_features = transport(L::packed, EventIdx);
  const feature_set accepted = ring_features | i2c::device_features();
  const ring::queue_config cfg = plan_queue(ring_features);
  drvq_type drvq{mem};
  devq_type devq{mem};
  if (auto r = drvq.configure(cfg); !r) return skip(state, "driver queue", r.error());
  if (auto r = devq.configure(cfg); !r) return skip(state, "device queue", r.error());
  i2c::device_options dopt;
  dopt.features = accepted;
  device_type dev{devq, t.bus, dopt};
  auto made = front_type::create(mem, drvq,
                                 ring::driver_region{data_at, front_type::region_size(kTransferBytes)},
                                 accepted);
  if (!made) return skip(state, "i2c driver", made.error());
  front_type& front = *made;

  // The driver's surroundings: a kick runs the device model right here, and so does a wait.
  std::uint64_t kicks = 0, waits = 0;
  std::optional<errc> broke;
  auto run_device = [&] {
    auto r = dev.process();
    if (!r && !broke) broke = r.error();
  };
  ring::env_callbacks env{[&](std::uint16_t) {
                            ++kicks;
                            run_device();
                          },
                          [&] {
                            ++waits;
                            run_device();
                          }};

  register_read rq;
  for (int i = 0; i < kWarmup; ++i)
    if (!read_register(state, front, env, rq)) return;
  const cpu_pin pin{g_cpus.bench};
  kicks = waits = 0;
  for (auto _ : state) {
    if (!read_register(state, front, env, rq)) break;
  }
  if (broke) skip(state, "device", *broke);
  report(state, kicks, waits);
  label(state, pin.pinned(), std::nullopt);
}

// ---- Through a vhost-user back-end -------------------------------------------------------------

using model_type = be::i2c_device_model<bus_type>;
using server_type = lh::backend_server<model_type>;
using ram_type = lh::memfd_guest_ram<8>;
using memory_type = ram_type::memory_type;
using frontend_type = lh::frontend<1, 8>;
using env_type = lh::frontend_env<frontend_type>;

/// The back-end (server + loop on its own thread) and the front-end's side (memfd RAM, the
/// front-end, the requestq's driver queue, the i2c driver). Not movable; start() sets it up and
/// says which step failed.
template <typename L>
class vhost_rig {
 public:
  using drvq_type = typename L::template driver_queue<memory_type>;
  using front_type = i2c::driver<memory_type, drvq_type, 4, 8>;

  vhost_rig() = default;
  vhost_rig(const vhost_rig&) = delete;
  vhost_rig& operator=(const vhost_rig&) = delete;
  ~vhost_rig() {
    stop_loop();
    env.reset();
    front.reset();
    drvq.reset();
    fe.reset();  // closes the socket
    server.reset();
    if (!path_.empty()) (void)::unlink(path_.c_str());
    if (!dir_.empty()) (void)::rmdir(dir_.c_str());
  }

  /// Set everything up; on failure `failed_step` names the step.
  [[nodiscard]] vireo::result<void> start(bool event_idx) {
    failed_step = "bus";
    if (!t.ok) return errc::invalid_argument;
    failed_step = "temporary directory";
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/vireo-bench-XXXXXX";
    if (::mkdtemp(dir_.data()) == nullptr) {
      dir_.clear();
      return errc::host_io_error;
    }
    path_ = dir_ + "/i2c.sock";

    failed_step = "epoll";
    auto e = lh::epoll_set::create();
    if (!e) return e.error();
    ep.emplace(std::move(*e));
    failed_step = "back-end listen";
    server.emplace(model);
    VIREO_TRY(server->start(path_, *ep, 0));
    failed_step = "stop eventfd";
    stop_fd = lh::unique_fd{::eventfd(0, EFD_CLOEXEC)};
    if (!stop_fd.valid()) return errc::host_io_error;
    loop.emplace(*ep);
    VIREO_TRY(loop->add_stop_fd(stop_fd.get()));
    // Started before the benchmark thread pins itself, so that it inherits the whole mask.
    thread_ = std::thread([this] {
      const cpu_pin pin{g_cpus.loop};
      loop_pinned.store(pin.pinned());
      const std::array<lh::loop_endpoint*, 1> endpoints{&*server};
      loop_result = loop->run(endpoints);
    });

    failed_step = "guest RAM";
    const std::array<lh::ram_layout, 2> layout{lh::ram_layout{kRingBase, kRingBytes},
                                               lh::ram_layout{kDataBase, kDataBytes}};
    auto r = ram_type::create(layout);
    if (!r) return r.error();
    ram.emplace(std::move(*r));

    failed_step = "connect";
    lh::connect_options co;
    co.attempts = 20;
    co.retry_delay_ms = 10;
    auto f = frontend_type::connect(path_, {}, co);
    if (!f) return f.error();
    fe.emplace(std::move(*f));
    failed_step = "negotiate";
    VIREO_TRY(fe->negotiate());
    failed_step = "SET_FEATURES";
    const feature_set wanted = transport(L::packed, event_idx) | i2c::device_features();
    auto acked = fe->set_features(wanted.word(0));
    if (!acked) return acked.error();
    if ((*acked & wanted.word(0)) != wanted.word(0)) return errc::feature_not_negotiated;
    failed_step = "SET_MEM_TABLE";
    VIREO_TRY(fe->set_mem_table(ram->regions()));
    failed_step = "driver queue";
    const feature_set ring_features = transport(L::packed, event_idx);
    const ring::queue_config cfg = plan_queue(ring_features);
    drvq.emplace(ram->memory());
    VIREO_TRY(drvq->configure(cfg));
    failed_step = "start vring";
    VIREO_TRY(fe->start_vring(0, cfg));
    failed_step = "i2c driver";
    auto made = front_type::create(
        ram->memory(), *drvq, ring::driver_region{kDataBase, front_type::region_size(kTransferBytes)},
        feature_set::from_words(*acked));
    if (!made) return made.error();
    front.emplace(std::move(*made));
    env.emplace(*fe, kWaitMs);
    failed_step = nullptr;
    return vireo::ok();
  }

  /// The loop's own failure, once it stopped (stop_loop()).
  [[nodiscard]] std::optional<errc> loop_error() {
    stop_loop();
    return loop_result ? std::nullopt : std::optional<errc>{loop_result.error()};
  }

  target t;
  model_type model{t.bus, 256};
  std::optional<lh::epoll_set> ep;
  std::optional<server_type> server;
  std::optional<lh::backend_loop> loop;
  lh::unique_fd stop_fd;
  std::atomic<bool> loop_pinned{false};
  vireo::result<void> loop_result = vireo::ok();
  std::optional<ram_type> ram;
  std::optional<frontend_type> fe;
  std::optional<drvq_type> drvq;
  std::optional<front_type> front;
  std::optional<env_type> env;
  const char* failed_step = nullptr;

 private:
  void stop_loop() {
    if (!thread_.joinable()) return;
    (void)lh::signal_eventfd(stop_fd.get());  // only EBADF could fail, and the fd is ours
    thread_.join();
  }

  std::string dir_, path_;
  std::thread thread_;
};

template <typename L, bool EventIdx>
void bm_vhost_user(benchmark::State& state) {
  const auto rig = std::make_unique<vhost_rig<L>>();
  if (auto r = rig->start(EventIdx); !r) return skip(state, rig->failed_step, r.error());

  register_read rq;
  for (int i = 0; i < kWarmup; ++i)
    if (!read_register(state, *rig->front, *rig->env, rq)) return;
  const cpu_pin pin{g_cpus.bench};
  const std::uint64_t kicks0 = rig->env->kicks(), waits0 = rig->env->waits();
  for (auto _ : state) {
    if (!read_register(state, *rig->front, *rig->env, rq)) break;
  }
  const std::uint64_t kicks = rig->env->kicks() - kicks0, waits = rig->env->waits() - waits0;
  if (auto e = rig->env->error()) skip(state, "kick or wait", *e);
  if (auto e = rig->loop_error()) skip(state, "back-end loop", *e);
  report(state, kicks, waits);
  label(state, pin.pinned(), rig->loop_pinned.load());
}

// ---- The floor: the two wake-ups alone -----------------------------------------------------------

/// The back-end loop's part of a round trip without the back-end: a thread waits in epoll_wait
/// on a kick eventfd, drains it and writes a call eventfd (as backend_server does with a kick
/// fd and a call fd); the benchmark thread does what frontend_env does (signal_notifier, then
/// wait_notifiers: poll and read). Not movable.
class eventfd_echo {
 public:
  eventfd_echo() = default;
  eventfd_echo(const eventfd_echo&) = delete;
  eventfd_echo& operator=(const eventfd_echo&) = delete;
  ~eventfd_echo() { (void)stop(); }

  [[nodiscard]] vireo::result<void> start() {
    auto e = lh::epoll_set::create();
    if (!e) return e.error();
    ep_.emplace(std::move(*e));
    for (lh::unique_fd* fd : {&kick_, &call_, &stop_}) {
      *fd = lh::unique_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
      if (!fd->valid()) return errc::host_io_error;
    }
    VIREO_TRY(ep_->add(kick_.get(), EPOLLIN, kKick));
    VIREO_TRY(ep_->add(stop_.get(), EPOLLIN, kStop));
    thread_ = std::thread([this] {
      const cpu_pin pin{g_cpus.loop};
      loop_pinned.store(pin.pinned());
      std::array<epoll_event, 8> events{};
      for (;;) {
        auto got = ep_->wait(events, -1);
        if (!got) {
          result_ = got.error();
          return;
        }
        for (const epoll_event& ev : *got) {
          if (ev.data.u64 == kStop) return;
          lh::drain_eventfd(kick_.get());
          if (auto r = lh::signal_eventfd(call_.get()); !r) {
            result_ = r.error();
            return;
          }
        }
      }
    });
    return vireo::ok();
  }

  /// One round trip: kick, wait for the call. Errors: the notifiers', host_timeout.
  [[nodiscard]] vireo::result<void> round_trip() noexcept {
    VIREO_TRY(lh::signal_notifier(sys_, kick_.get()));
    ++kicks;
    for (std::uint32_t w = 0; w < kMaxWaits; ++w) {
      ++waits;
      const int fd = call_.get();
      auto n = lh::wait_notifiers<1>(sys_, {&fd, 1}, kWaitMs);
      if (!n) return n.error();
      if (*n != 0) return vireo::ok();
    }
    return errc::host_timeout;
  }

  /// Stop and join the thread; its own failure, if any.
  [[nodiscard]] vireo::result<void> stop() {
    if (thread_.joinable()) {
      (void)lh::signal_eventfd(stop_.get());  // only EBADF could fail, and the fd is ours
      thread_.join();
    }
    return result_;
  }

  std::atomic<bool> loop_pinned{false};
  std::uint64_t kicks = 0, waits = 0;  ///< by round_trip()

 private:
  static constexpr std::uint64_t kKick = 1, kStop = 2;
  lh::real_frontend_sys sys_;
  std::optional<lh::epoll_set> ep_;
  lh::unique_fd kick_, call_, stop_;
  std::thread thread_;
  vireo::result<void> result_ = vireo::ok();
};

void bm_floor(benchmark::State& state) {
  eventfd_echo echo;
  if (auto r = echo.start(); !r) return skip(state, "eventfd echo", r.error());
  for (int i = 0; i < kWarmup; ++i)
    if (auto r = echo.round_trip(); !r) return skip(state, "round trip", r.error());
  const cpu_pin pin{g_cpus.bench};
  echo.kicks = echo.waits = 0;
  for (auto _ : state) {
    if (auto r = echo.round_trip(); !r) {
      skip(state, "round trip", r.error());
      break;
    }
  }
  if (auto r = echo.stop(); !r) skip(state, "echo thread", r.error());
  report(state, echo.kicks, echo.waits);
  label(state, pin.pinned(), echo.loop_pinned.load());
}

// ---- Rows and summary ----------------------------------------------------------------------------

struct variant {
  const char* layout;
  bool event_idx;
};
constexpr std::array kVariants{variant{"split", false}, variant{"split", true},
                               variant{"packed", false}, variant{"packed", true}};
constexpr const char* kFloorRow = "floor/eventfd_round_trip";

std::string row(const char* transport_name, const variant& v) {
  return std::string(transport_name) + "/" + v.layout + (v.event_idx ? "/event_idx" : "");
}

void register_all() {
  const auto add = [](const std::string& name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime();
  };
  add(row("inproc", kVariants[0]), bm_inproc<split_layout, false>);
  add(row("inproc", kVariants[1]), bm_inproc<split_layout, true>);
  add(row("inproc", kVariants[2]), bm_inproc<packed_layout, false>);
  add(row("inproc", kVariants[3]), bm_inproc<packed_layout, true>);
  add(kFloorRow, bm_floor);
  add(row("vhost_user", kVariants[0]), bm_vhost_user<split_layout, false>);
  add(row("vhost_user", kVariants[1]), bm_vhost_user<split_layout, true>);
  add(row("vhost_user", kVariants[2]), bm_vhost_user<packed_layout, false>);
  add(row("vhost_user", kVariants[3]), bm_vhost_user<packed_layout, true>);
}

/// The collecting reporter for this binary's counter.
struct read_reporter : bench::collecting_reporter {
  explicit read_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : collecting_reporter(std::move(inner), "ns_per_read") {}
};

/// "1234" (top - bottom [- less]), or "-" when a figure is missing.
std::string fmt_diff(std::optional<double> top, std::optional<double> bottom,
                     std::optional<double> less = 0.0) {
  if (!top || !bottom || !less) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", *top - *bottom - *less);
  return buf;
}

/// Takes --pin=separate|same|none out of argv (Google Benchmark refuses flags it does not know).
/// Returns false on a bad value.
bool take_pin_flag(int& argc, char** argv, pin_mode& mode) {
  int kept = 1;
  bool good = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a{argv[i]};
    if (!a.starts_with("--pin=")) {
      argv[kept++] = argv[i];
      continue;
    }
    const std::string_view v = a.substr(6);
    if (v == "separate") mode = pin_mode::separate;
    else if (v == "same") mode = pin_mode::same;
    else if (v == "none") mode = pin_mode::none;
    else good = false;
  }
  argc = kept;
  argv[argc] = nullptr;
  return good;
}

const char* pin_name(pin_mode m) {
  return m == pin_mode::separate ? "separate" : m == pin_mode::same ? "same" : "none";
}

}  // namespace

int main(int argc, char** argv) {
  pin_mode mode = pin_mode::separate;
  if (!take_pin_flag(argc, argv, mode)) {
    std::fprintf(stderr, "bench_vhost_user_latency: --pin takes separate, same or none\n");
    return 2;
  }
  plan_cpus(mode);
  register_all();
  return bench::run_benchmarks<read_reporter>(
      argc, argv, [](const read_reporter& rep, std::FILE* out) {
        const auto floor = rep.ns_per_item(kFloorRow);
        std::fprintf(out,
                     "\nvhost-user round trip of one i2c register read (wr 1 + rd 1: one kick, 2 "
                     "requests, one call),\nns per read, wall time; --pin=%s: %s\n",
                     pin_name(g_cpus.mode), g_cpus.last_label.c_str());
        std::fprintf(out, "%-18s %12s %10s %10s %12s %12s\n", "layout", "vhost_user", "inproc",
                     "ratio", "difference", "diff-floor");
        for (const variant& v : kVariants) {
          const auto vu = rep.ns_per_item(row("vhost_user", v));
          const auto ip = rep.ns_per_item(row("inproc", v));
          const std::string name = std::string(v.layout) + (v.event_idx ? "/event_idx" : "");
          std::fprintf(out, "%-18s %12s %10s %10s %12s %12s\n", name.c_str(),
                       bench::fmt_ns(vu).c_str(), bench::fmt_ns(ip).c_str(),
                       bench::fmt_ratio(vu, ip).c_str(), fmt_diff(vu, ip).c_str(),
                       fmt_diff(vu, ip, floor).c_str());
        }
        std::fprintf(out,
                     "floor (eventfd kick + call between the same threads, no ring): %s ns\n",
                     bench::fmt_ns(floor).c_str());
      });
}
