// SPDX-License-Identifier: Apache-2.0
// vhost-user message decode throughput: vhost_user::decode (every rule of the codec: framing,
// per-request payload size and layout checks, fd counts, region and range checks) against a
// naive decoder in the style of C back-ends (copy the header and payload into one big union,
// check the size the handler needs, copy the fds), on the messages QEMU sends most at start-up
// and the largest fixed one (SET_MEM_TABLE with 8 regions). Same binary, same run: the summary
// prints the ratio Vireo / naive per message.
//
//   bench_vhost_user_decode [--benchmark_filter=...] [--benchmark_repetitions=N]

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench_report.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/message.hpp"

namespace {

namespace vu = vireo::vhost_user;
using fr = vu::frontend_request;

/// One encoded request and the fds that come with it (fake numbers: nothing is opened).
struct sample {
  std::vector<std::byte> bytes;
  std::vector<int> fds;
};

sample make(fr r) {
  sample s;
  s.bytes.resize(512);
  std::array<int, 8> fake{};
  for (std::size_t i = 0; i < fake.size(); ++i) fake[i] = 100 + static_cast<int>(i);
  vireo::result<std::size_t> n = vireo::errc::invalid_argument;
  switch (r) {
    case fr::get_features: n = vu::encode(r, 0, s.bytes); break;
    case fr::set_vring_addr: {
      vu::vring_addr a{};
      a.index.set(0);
      a.desc_user_addr.set(0x7f00'0000'0000);
      a.avail_user_addr.set(0x7f00'0000'1000);
      a.used_user_addr.set(0x7f00'0000'2000);
      n = vu::encode(r, a, 0, s.bytes);
      break;
    }
    case fr::set_vring_kick:
      n = vu::encode_vring_fd(r, 0, true, s.bytes);
      s.fds.assign(fake.begin(), fake.begin() + 1);
      break;
    case fr::set_mem_table: {
      std::array<vu::memory_region, 8> regions{};
      for (std::size_t i = 0; i < regions.size(); ++i) {
        regions[i].guest_phys_addr.set(i << 32);
        regions[i].memory_size.set(std::uint64_t{1} << 30);
        regions[i].userspace_addr.set(0x7f00'0000'0000 + (i << 32));
        regions[i].mmap_offset.set(0);
      }
      n = vu::encode_set_mem_table(std::span<const vu::memory_region>{regions}, s.bytes);
      s.fds.assign(fake.begin(), fake.end());
      break;
    }
    default: break;
  }
  if (!n) {
    std::fprintf(stderr, "bench: cannot encode request %u\n", static_cast<unsigned>(r));
    std::abort();
  }
  s.bytes.resize(*n);
  return s;
}

// ---- The naive decoder: libvhost-user's shape (VhostUserMsg: header + a payload union) ---------

struct naive_region {
  std::uint64_t gpa, size, uaddr, offset;
};
struct naive_msg {
  std::uint32_t request, flags, size;
  union {
    std::uint64_t u64;
    struct {
      std::uint32_t index, num;
    } state;
    struct {
      std::uint32_t index, flags;
      std::uint64_t desc, used, avail, log;
    } addr;
    struct {
      std::uint32_t nregions, padding;
      naive_region regions[8];
    } memory;
    std::uint8_t raw[4096];
  } payload;
  int fds[8];
  int fd_num;
};

/// Header, size cap, whole-payload copy, the size check the request's handler would make.
[[gnu::noinline]] bool naive_decode(std::span<const std::byte> frame, std::span<const int> fds,
                                    naive_msg& m) {
  if (frame.size() < 12) return false;
  std::memcpy(&m, frame.data(), 12);
  if ((m.flags & 3) != 1 || m.size > sizeof m.payload || frame.size() != 12 + m.size) return false;
  std::memcpy(&m.payload, frame.data() + 12, m.size);
  if (fds.size() > 8) return false;
  m.fd_num = static_cast<int>(fds.size());
  std::memcpy(m.fds, fds.data(), fds.size() * sizeof(int));
  switch (m.request) {
    case 1: case 3: case 15: case 17: return m.size == 0;  // GET_* without payload
    case 2: case 12: case 13: case 14: return m.size == 8;  // u64 (+ fd for KICK/CALL/ERR)
    case 8: case 10: case 11: case 18: return m.size == 8;  // vring_state
    case 9: return m.size == 40;                              // vring_addr
    case 5:                                                   // SET_MEM_TABLE
      return m.size >= 8 && m.payload.memory.nregions <= 8 &&
             m.size == 8 + 32 * m.payload.memory.nregions &&
             m.fd_num == static_cast<int>(m.payload.memory.nregions);
    default: return true;
  }
}

// ---- Rows ----------------------------------------------------------------------------------------

constexpr std::array kMessages{fr::get_features, fr::set_vring_addr, fr::set_vring_kick,
                               fr::set_mem_table};

template <fr R>
void bm_vireo(benchmark::State& state) {
  const sample s = make(R);
  const vu::codec_options opts{};
  for (auto _ : state) {
    auto m = vu::decode(s.bytes, s.fds, vu::channel::main, opts);
    benchmark::DoNotOptimize(m);
    if (!m) state.SkipWithError("decode refused a valid message");
  }
  bench::report_per_item(state, 1, "ns_per_msg");
}

template <fr R>
void bm_naive(benchmark::State& state) {
  const sample s = make(R);
  naive_msg m{};
  for (auto _ : state) {
    const bool ok = naive_decode(s.bytes, s.fds, m);
    benchmark::DoNotOptimize(m);
    if (!ok) state.SkipWithError("naive decode refused a valid message");
  }
  bench::report_per_item(state, 1, "ns_per_msg");
}

std::string row(fr r, const char* impl) {
  return std::string("decode/") + std::string(vu::name(r)) + "/" + impl;
}

template <std::size_t... I>
void register_all(std::index_sequence<I...>) {
  (benchmark::RegisterBenchmark(row(kMessages[I], "vireo").c_str(), bm_vireo<kMessages[I]>), ...);
  (benchmark::RegisterBenchmark(row(kMessages[I], "naive").c_str(), bm_naive<kMessages[I]>), ...);
}

/// The collecting reporter for this binary's counter.
struct msg_reporter : bench::collecting_reporter {
  explicit msg_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : collecting_reporter(std::move(inner), "ns_per_msg") {}
};

}  // namespace

int main(int argc, char** argv) {
  register_all(std::make_index_sequence<kMessages.size()>{});
  return bench::run_benchmarks<msg_reporter>(
      argc, argv, [](const msg_reporter& rep, std::FILE* out) {
        std::fprintf(out, "\nvhost-user decode, ns per message (ratio < 1: Vireo faster)\n");
        std::fprintf(out, "%-26s %10s %10s %8s\n", "message", "vireo", "naive", "ratio");
        for (const fr r : kMessages) {
          const auto v = rep.ns_per_item(row(r, "vireo"));
          const auto n = rep.ns_per_item(row(r, "naive"));
          std::fprintf(out, "%-26s %10s %10s %8s\n", std::string(vu::name(r)).c_str(),
                       bench::fmt_ns(v).c_str(), bench::fmt_ns(n).c_str(),
                       bench::fmt_ratio(v, n).c_str());
        }
      });
}
