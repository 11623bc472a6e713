// SPDX-License-Identifier: Apache-2.0
// The W1 benchmark loops, written once for both layouts so that split and packed run exactly
// the same workload shape. A Feed (split_feed, packed_feed) supplies the rings of a
// device-alone run and republishes one round of chains per iteration; a Rig (split_rig,
// packed_rig) supplies the driver, device and minimal-device types of the driver-alone and
// two-thread runs. Nothing allocates inside a timed loop.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "vireo/ring/used_entry.hpp"
#include "w1_common.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1 {

// ---- (a) (b) (a") (a') (c) (c') (e): the device side alone --------------------------------------

/// PushBatch 1: push_used(token, len) per chain and needs_notification() every NotifyEvery
/// chains. PushBatch 32: push_used(span of 32) and one needs_notification() per batch.
/// UsePop: take each chain with pop() (a result<chain> by value, the docs' idiom) instead of
/// pop_into() on one reused chain. InlineServe: the W1 step (serve_w1_inline) is inlined into
/// the loop instead of called (serve_w1, as the historical rows do). Each iteration first
/// republishes one round with the feed's publish_round(), which is timed (split's is one store
/// per 256 chains; packed's is reported separately as refill_only and subtracted in the
/// summary), then serves Feed::kChains chains.
template <typename Feed, bool EventIdx, std::size_t PushBatch, std::size_t NotifyEvery,
          bool UsePop = false, bool InlineServe = false>
void bm_device(benchmark::State& state) {
  using device_type = typename Feed::device_type;
  constexpr std::size_t kRound = Feed::kChains;
  static_assert(kRound % PushBatch == 0 && kRound % NotifyEvery == 0);
  Feed feed{EventIdx};
  device_type dev{feed.memory()};
  if (!feed.ok() || !dev.configure(feed.config())) {
    state.SkipWithError("W1 set-up failed");
    return;
  }
  typename device_type::chain_type chain;
  std::array<vireo::ring::used_entry, PushBatch> pending{};
  std::uint64_t notifications = 0;

  for (auto _ : state) {
    feed.publish_round();
    bool failed = false;
    // Serve one popped chain: read, write, complete, maybe ask about notifying.
    using chain_type = typename device_type::chain_type;
    auto serve_and_complete = [&](const chain_type& c, std::size_t k) -> bool {
      const auto len = InlineServe ? serve_w1_inline(c) : serve_w1(c);
      if (VIREO_UNLIKELY(!len)) return false;
      if constexpr (PushBatch == 1) {
        if (VIREO_UNLIKELY(!dev.push_used(c.token(), *len))) return false;
        if ((k + 1) % NotifyEvery == 0) notifications += dev.needs_notification();
      } else {
        pending[k % PushBatch] = vireo::ring::used_entry{c.token(), *len};
        if ((k + 1) % PushBatch == 0) {
          if (VIREO_UNLIKELY(!dev.push_used(std::span<const vireo::ring::used_entry>{pending})))
            return false;
          notifications += dev.needs_notification();
        }
      }
      return true;
    };
    for (std::size_t k = 0; k < kRound; ++k) {
      if constexpr (UsePop) {
        const auto popped = dev.pop();
        if (VIREO_UNLIKELY(!popped || popped->empty() || !serve_and_complete(*popped, k))) {
          failed = true;
          break;
        }
      } else {
        const auto got = dev.pop_into(chain);
        if (VIREO_UNLIKELY(!got || !*got || !serve_and_complete(chain, k))) {
          failed = true;
          break;
        }
      }
    }
    if (VIREO_UNLIKELY(failed)) {
      state.SkipWithError("device step failed");
      break;
    }
    benchmark::ClobberMemory();  // the status bytes and used ring are observable
  }
  benchmark::DoNotOptimize(notifications);
  report_chains(state, kRound);
  state.counters["notify_per_chain"] = per_chain(state, kRound, notifications);
}

/// What the feed's refill costs on its own, per chain it publishes. Same rings as the
/// device-alone runs, no device: the refill keeps alternating phases exactly as there.
template <typename Feed>
void bm_refill_only(benchmark::State& state) {
  Feed feed{false};
  if (!feed.ok()) {
    state.SkipWithError("W1 set-up failed");
    return;
  }
  for (auto _ : state) {
    feed.publish_round();
    benchmark::ClobberMemory();
  }
  report_chains(state, Feed::kChains);
}

// ---- (d) (d'): the driver side alone ------------------------------------------------------------

/// add 32 chains + one needs_kick() per batch + reclaim, against the rig's minimal "device",
/// which completes everything published without building chains. Its cost (a few loads and
/// stores per chain) is included in the result.
template <typename Rig, bool EventIdx>
void bm_driver(benchmark::State& state) {
  typename Rig::mock_type mock{Rig::options(EventIdx)};
  driver_buffers<typename Rig::mock_type> buf{mock};
  typename Rig::driver_type drv{mock.memory()};
  const auto cfg = mock.config();
  if (!drv.configure(cfg)) {
    state.SkipWithError("driver configure failed");
    return;
  }
  Rig::driver_setup(drv);
  typename Rig::minimal_device device{mock, cfg, EventIdx};
  std::size_t slot = 0;
  std::uint64_t kicks = 0;
  unsigned sink = 0;

  for (auto _ : state) {
    bool failed = false;
    for (std::size_t k = 0; k < kBatch; ++k) {
      auto h = drv.add(std::span<const vireo::ring::buffer>{&buf.header[slot], 1},
                       std::span<const vireo::ring::buffer>{&buf.status[slot], 1}, slot,
                       vireo::ring::add_mode::direct);
      if (VIREO_UNLIKELY(!h)) {
        failed = true;
        break;
      }
      slot = (slot + 1) % kDirectChains;
    }
    kicks += drv.needs_kick();

    device.complete_all();

    for (;;) {
      auto r = drv.reclaim();
      if (VIREO_UNLIKELY(!r)) {
        failed = true;
        break;
      }
      if (!*r) break;
      sink += static_cast<unsigned>((*r)->len) +
              std::to_integer<unsigned>(*buf.status_host[(*r)->user_data]);
    }
    if (VIREO_UNLIKELY(failed)) {
      state.SkipWithError("driver step failed");
      break;
    }
  }
  benchmark::DoNotOptimize(sink);
  benchmark::DoNotOptimize(kicks);
  report_chains(state, kBatch);
  state.counters["kicks_per_chain"] = per_chain(state, kBatch, kicks);
}

// ---- (f): driver and device on two threads -----------------------------------------------------

/// Driver on the benchmark thread (adds and reclaims), device on its own thread (pops, reads,
/// writes, pushes used in batches of up to 32), both busy-polling, EVENT_IDX on, each pinned to
/// its own CPU when two are available. One iteration moves kTwoThreadChains chains end to end
/// and waits until all are reclaimed. Bounded: a device error or 5 s without progress ends the
/// run with an error instead of hanging.
template <typename Rig>
void bm_two_thread(benchmark::State& state) {
  using device_type = typename Rig::device_type;
  const std::pair<int, int> cpus = two_cpus();
  const int driver_cpu = cpus.first;
  const int device_cpu = cpus.second;
  typename Rig::mock_type mock{Rig::options(true)};
  driver_buffers<typename Rig::mock_type> buf{mock};
  typename Rig::driver_type drv{mock.memory()};
  const auto cfg = mock.config();
  if (!drv.configure(cfg)) {
    state.SkipWithError("driver configure failed");
    return;
  }
  Rig::driver_setup(drv);

  std::atomic<bool> stop{false};
  std::atomic<bool> device_failed{false};
  std::uint64_t notifications = 0;  // written by the device thread, read after join()
  std::atomic<bool> device_pinned{false};
  std::thread device_thread([&] {
    const cpu_pin pin{device_cpu};
    device_pinned.store(pin.pinned());
    backoff wait;
    device_type dev{mock.memory()};
    if (!dev.configure(cfg)) {
      device_failed.store(true);
      return;
    }
    Rig::device_setup(dev);
    typename device_type::chain_type chain;
    std::array<vireo::ring::used_entry, kBatch> pending{};
    std::size_t n = 0;
    auto flush = [&]() -> bool {
      if (!dev.push_used(std::span<const vireo::ring::used_entry>{pending.data(), n}))
        return false;
      notifications += dev.needs_notification();
      n = 0;
      return true;
    };
    while (!stop.load(std::memory_order_relaxed)) {
      auto got = dev.pop_into(chain);
      if (VIREO_UNLIKELY(!got)) break;
      if (*got) {
        wait.reset();
        const auto len = serve_w1(chain);
        if (VIREO_UNLIKELY(!len)) break;
        pending[n++] = vireo::ring::used_entry{chain.token(), *len};
        if (n == kBatch && VIREO_UNLIKELY(!flush())) break;
      } else if (n != 0) {
        if (VIREO_UNLIKELY(!flush())) break;
      } else {
        wait.idle();
      }
    }
    if (!stop.load(std::memory_order_relaxed)) device_failed.store(true);
  });

  const cpu_pin pin{driver_cpu};
  backoff wait;
  std::size_t slot = 0;
  std::uint64_t kicks = 0;
  unsigned sink = 0;
  const char* error = nullptr;
  for (auto _ : state) {
    std::size_t added = 0, reclaimed = 0;
    std::uint32_t idle = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (reclaimed < kTwoThreadChains) {
      bool progress = false;
      std::size_t batch = 0;
      while (added < kTwoThreadChains && drv.free_descriptors() >= 2) {
        auto h = drv.add(std::span<const vireo::ring::buffer>{&buf.header[slot], 1},
                         std::span<const vireo::ring::buffer>{&buf.status[slot], 1}, slot,
                         vireo::ring::add_mode::direct);
        if (VIREO_UNLIKELY(!h)) {
          error = "driver add failed";
          break;
        }
        slot = (slot + 1) % kDirectChains;
        ++added;
        ++batch;
      }
      if (error != nullptr) break;
      if (batch != 0) {
        kicks += drv.needs_kick();
        progress = true;
      }
      for (;;) {
        auto r = drv.reclaim();
        if (VIREO_UNLIKELY(!r)) {
          error = "driver reclaim failed";
          break;
        }
        if (!*r) break;
        sink += std::to_integer<unsigned>(*buf.status_host[(*r)->user_data]);
        ++reclaimed;
        progress = true;
      }
      if (error != nullptr) break;
      if (progress) {
        idle = 0;
        wait.reset();
        continue;
      }
      wait.idle();
      if ((++idle & 0xffffu) == 0) {
        if (device_failed.load(std::memory_order_relaxed)) {
          error = "device thread failed";
          break;
        }
        const auto now = std::chrono::steady_clock::now();
        if (idle == 0x10000u) last_progress = now;
        else if (now - last_progress > std::chrono::seconds(5)) {
          error = "two-thread run stalled";
          break;
        }
      }
    }
    if (error != nullptr) {
      state.SkipWithError(error);
      break;
    }
  }
  stop.store(true, std::memory_order_relaxed);
  device_thread.join();
  state.SetLabel(pin.pinned() && device_pinned.load()
                     ? "pinned to CPUs " + std::to_string(driver_cpu) + "," +
                           std::to_string(device_cpu)
                     : std::string{"not pinned"});
  benchmark::DoNotOptimize(sink);
  report_chains(state, kTwoThreadChains);
  state.counters["kicks_per_chain"] = per_chain(state, kTwoThreadChains, kicks);
  state.counters["notify_per_chain"] = per_chain(state, kTwoThreadChains, notifications);
}

}  // namespace w1
}  // namespace
