// SPDX-License-Identifier: Apache-2.0
// Workload W1, the parts every layout shares: the workload's constants, the chain counters,
// busy-wait backoff, CPU pinning, the header pattern, the device step (serve_w1) and the
// driver's buffers. Included by bench/w1.cpp only (one translation unit, one binary).
//
// W1: queue size 256; each chain is 2 descriptors (a 16-byte readable header, a 4-byte writable
// status); the device pops, reads the 16 header bytes, writes 1 status byte and pushes the chain
// used; the driver reclaims it.
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include "bench_report.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/config.hpp"
#include "vireo/ring/driver_types.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1 {

using vireo::const_bytes;

constexpr std::uint16_t kQueueSize = 256;
constexpr std::uint32_t kHeaderLen = 16;
constexpr std::uint32_t kStatusLen = 4;
constexpr std::size_t kBatch = 32;                     ///< push_used(span) and driver add batch
constexpr std::size_t kDirectChains = kQueueSize / 2;  ///< 2-descriptor chains that fit at once
constexpr std::size_t kTwoThreadChains = std::size_t{1} << 14;  ///< per two-thread iteration

/// Report chains: items/s in the table, and ns_per_chain as an inverted rate (seconds per chain,
/// printed with an SI suffix: "5.1n" is 5.1 ns).
inline void report_chains(benchmark::State& state, std::size_t chains_per_iteration) {
  bench::report_per_item(state, chains_per_iteration, "ns_per_chain");
}

/// `count` events over the chains of the run, as a plain per-chain ratio.
inline double per_chain(const benchmark::State& state, std::size_t chains_per_iteration,
                        std::uint64_t count) {
  const double chains = static_cast<double>(state.iterations()) *
                        static_cast<double>(chains_per_iteration);
  return static_cast<double>(count) / (chains > 1.0 ? chains : 1.0);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/// Busy-wait politely: pause for a while, then yield, so that two polling threads that end up
/// on one CPU (a loaded or single-CPU machine) still hand over within microseconds instead of a
/// scheduler time slice.
class backoff {
 public:
  void idle() noexcept {
    if (spins_ < kSpinsBeforeYield) {
      ++spins_;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { spins_ = 0; }

 private:
  static constexpr unsigned kSpinsBeforeYield = 4096;
  unsigned spins_ = 0;
};

/// Pins the calling thread to one CPU for the two-thread runs and restores its previous mask on
/// destruction (Linux; elsewhere a no-op). pinned() is false when that did not work.
class cpu_pin {
 public:
  explicit cpu_pin(int cpu) noexcept {
#if defined(__linux__)
    if (cpu < 0 || pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
#else
    (void)cpu;
#endif
  }
  ~cpu_pin() {
#if defined(__linux__)
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_);
#endif
  }
  cpu_pin(const cpu_pin&) = delete;
  cpu_pin& operator=(const cpu_pin&) = delete;
  [[nodiscard]] bool pinned() const noexcept { return pinned_; }

 private:
#if defined(__linux__)
  cpu_set_t saved_{};
#endif
  bool pinned_ = false;
};

/// Two distinct CPUs this process may run on, or {-1, -1}.
inline std::pair<int, int> two_cpus() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {-1, -1};
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    if (first < 0) first = c;
    else return {first, c};
  }
#endif
  return {-1, -1};
}

/// The header bytes of chain i (any pattern; the device folds two of them into its status).
inline std::array<std::byte, kHeaderLen> header_of(std::size_t i) {
  std::array<std::byte, kHeaderLen> h{};
  for (std::size_t b = 0; b < kHeaderLen; ++b) h[b] = static_cast<std::byte>(i * 31 + b);
  return h;
}

/// The W1 device step on a popped chain: read the 16-byte header, write 1 status byte.
/// Returns the used length (1), or nullopt on a cursor error (never happens on these rings).
/// Always inlined into its caller: the "_inline" device rows and the floor's comparison use it.
template <typename Chain>
VIREO_ALWAYS_INLINE std::optional<std::uint32_t> serve_w1_inline(const Chain& c) noexcept {
  auto rd = c.reader();
  std::array<std::byte, kHeaderLen> hdr;
  if (!rd.read(hdr)) return std::nullopt;
  const std::byte status = hdr[0] ^ hdr[kHeaderLen - 1];
  auto wr = c.writer();
  if (!wr.write(const_bytes{&status, 1})) return std::nullopt;
  return wr.written();
}

/// The same step, never inlined: the device's handler as a separate function, which is what
/// GCC 12 -O2 chose for the old bench/split_ring.cpp (it was plain `inline` there). Pinned, and
/// flattened (the old one had the cursors' multi-segment copy inlined; in this larger
/// translation unit GCC would call it instead), so that the historical rows keep the old
/// code whatever else this translation unit holds. With GCC 12 the call costs about 4 ns per
/// chain: compare (a) with (ai).
template <typename Chain>
[[gnu::flatten]] VIREO_NOINLINE std::optional<std::uint32_t> serve_w1(const Chain& c) noexcept {
  return serve_w1_inline(c);
}

/// The driver's W1 buffers: 128 header/status pairs, used round-robin (at most 127 chains are
/// in flight when one is added, so a pair is never offered twice at once). Works with either
/// mock driver (split or packed): only its data arena is used.
template <typename Mock>
struct driver_buffers {
  std::array<vireo::ring::buffer, kDirectChains> header{};
  std::array<vireo::ring::buffer, kDirectChains> status{};
  std::array<const std::byte*, kDirectChains> status_host{};

  explicit driver_buffers(Mock& mock) {
    for (std::size_t i = 0; i < kDirectChains; ++i) {
      const auto hdr = header_of(i);
      header[i] = {mock.put(const_bytes{hdr}), kHeaderLen};
      status[i] = {mock.alloc(kStatusLen), kStatusLen};
      status_host[i] = mock.host(status[i].addr, kStatusLen).data();
    }
  }
};

}  // namespace w1
}  // namespace
