// SPDX-License-Identifier: Apache-2.0
// Workload W1 on split and packed virtqueues, every variant, a naive baseline device and a
// hand-written floor in one binary, so that the ratios printed at the end come from one run on
// one machine.
//
// W1: queue size 256; each chain is 2 descriptors (a 16-byte readable header, a 4-byte writable
// status); the device pops, reads the 16 header bytes, writes 1 status byte and pushes the chain
// used; the driver reclaims it.
//
//   w1_common.hpp  constants, counters, backoff, CPU pinning, header pattern, serve_w1, buffers
//   w1_split.hpp   split replay feed (avail.idx += 256 per round), split rig, naive device (g)
//   w1_packed.hpp  packed refill feed (per-lap re-publication in the next wrap phase), rig
//   w1_loops.hpp   the device-alone, refill, driver-alone and two-thread loops, shared by both
//   w1_floor.hpp   the hand-written validated device step (split and packed)
//   w1_report.hpp  the variant row type, the collecting reporter and main()
//
// Nothing allocates in the timed loops except the naive baseline, whose per-chain std::vector
// is part of what it demonstrates. docs/benchmarks.md explains the output.

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "w1_common.hpp"
#include "w1_floor.hpp"
#include "w1_loops.hpp"
#include "w1_packed.hpp"
#include "w1_report.hpp"
#include "w1_split.hpp"

namespace {

using namespace w1;
using hand::bm_floor_packed;
using hand::bm_floor_split;

using split_direct = split_feed<false>;
using split_indirect = split_feed<true>;
using packed_direct = packed_feed<false>;
using packed_indirect = packed_feed<true>;

constexpr const char* kPackedRefill = "W1/packed/refill_only";
constexpr const char* kPackedRefillIndirect = "W1/packed/refill_only/indirect";

// clang-format off
constexpr variant kVariants[] = {
    // Split: the names, keys and order of the former bench_split_ring, so history compares.
    {"a", impl::split, "W1/device/single/no_event_idx",
     "device alone, push_used + needs_notification per chain", bm_device<split_direct, false, 1, 1>, false},
    {"b", impl::split, "W1/device/single/event_idx", "(a) with EVENT_IDX",
     bm_device<split_direct, true, 1, 1>, false},
    {"a\"", impl::split, "W1/device/single_pop/no_event_idx", "(a) with pop() instead of pop_into()",
     bm_device<split_direct, false, 1, 1, true>, false},
    {"a'", impl::split, "W1/device/single_notify32/no_event_idx",
     "(a), needs_notification once per 32 chains", bm_device<split_direct, false, 1, kBatch>, false},
    {"c", impl::split, "W1/device/batch32/no_event_idx",
     "device alone, push_used(span of 32) + 1 needs_notification",
     bm_device<split_direct, false, kBatch, kBatch>, false},
    {"c'", impl::split, "W1/device/batch32/event_idx", "(c) with EVENT_IDX",
     bm_device<split_direct, true, kBatch, kBatch>, false},
    {"e", impl::split, "W1/device/indirect/no_event_idx", "(a) with the 2 descriptors in an indirect table",
     bm_device<split_indirect, false, 1, 1>, false},
    {"d", impl::split, "W1/driver/batch32/no_event_idx",
     "driver alone: 32 x add, needs_kick, reclaim (+ minimal device)", bm_driver<split_rig, false>, false},
    {"d'", impl::split, "W1/driver/batch32/event_idx", "(d) with EVENT_IDX", bm_driver<split_rig, true>, false},
    {"f", impl::split, "W1/two_thread/event_idx", "driver thread <-> device thread, busy-polling, wall time",
     bm_two_thread<split_rig>, true},
    {"g", impl::split, "W1/naive_device/no_event_idx", "naive baseline device, same step as (a)",
     bm_naive_device, false},
    {"r", impl::split, "W1/refill_only", "replay refill alone (avail.idx += 256 per round)",
     bm_refill_only<split_direct>, false},
    // New with bench_w1: (a) and (c) with the W1 step inlined into the loop, as in the floor.
    {"ai", impl::split, "W1/device/single_inline/no_event_idx", "(a) with the W1 step inlined",
     bm_device<split_direct, false, 1, 1, false, true>, false},
    {"ci", impl::split, "W1/device/batch32_inline/no_event_idx", "(c) with the W1 step inlined",
     bm_device<split_direct, false, kBatch, kBatch, false, true>, false},

    // Packed: the same shapes. Device-alone rows include the refill; the summary subtracts it.
    {"a", impl::packed, "W1/packed/device/single/no_event_idx", "packed (a)",
     bm_device<packed_direct, false, 1, 1>, false, kPackedRefill},
    {"b", impl::packed, "W1/packed/device/single/event_idx", "packed (b)",
     bm_device<packed_direct, true, 1, 1>, false, kPackedRefill},
    {"a\"", impl::packed, "W1/packed/device/single_pop/no_event_idx", "packed (a\")",
     bm_device<packed_direct, false, 1, 1, true>, false, kPackedRefill},
    {"a'", impl::packed, "W1/packed/device/single_notify32/no_event_idx", "packed (a')",
     bm_device<packed_direct, false, 1, kBatch>, false, kPackedRefill},
    {"c", impl::packed, "W1/packed/device/batch32/no_event_idx", "packed (c)",
     bm_device<packed_direct, false, kBatch, kBatch>, false, kPackedRefill},
    {"c'", impl::packed, "W1/packed/device/batch32/event_idx", "packed (c')",
     bm_device<packed_direct, true, kBatch, kBatch>, false, kPackedRefill},
    {"e", impl::packed, "W1/packed/device/indirect/no_event_idx", "packed (e)",
     bm_device<packed_indirect, false, 1, 1>, false, kPackedRefillIndirect},
    {"ai", impl::packed, "W1/packed/device/single_inline/no_event_idx", "packed (ai)",
     bm_device<packed_direct, false, 1, 1, false, true>, false, kPackedRefill},
    {"ci", impl::packed, "W1/packed/device/batch32_inline/no_event_idx", "packed (ci)",
     bm_device<packed_direct, false, kBatch, kBatch, false, true>, false, kPackedRefill},
    {"d", impl::packed, "W1/packed/driver/batch32/no_event_idx", "packed (d)",
     bm_driver<packed_rig, false>, false},
    {"d'", impl::packed, "W1/packed/driver/batch32/event_idx", "packed (d')",
     bm_driver<packed_rig, true>, false},
    {"f", impl::packed, "W1/packed/two_thread/event_idx", "packed (f)", bm_two_thread<packed_rig>, true},
    {"r", impl::packed, kPackedRefill, "refill alone: 128 direct lists re-published per lap",
     bm_refill_only<packed_direct>, false},
    {"re", impl::packed, kPackedRefillIndirect, "refill alone: 256 indirect lists per lap",
     bm_refill_only<packed_indirect>, false},

    // The hand-written floor (w1_floor.hpp), in the (a) and (c) shapes.
    {"a", impl::floor_split, "W1/floor/split/single/no_event_idx", "floor for split (a)",
     bm_floor_split<false>, false},
    {"c", impl::floor_split, "W1/floor/split/batch32/no_event_idx", "floor for split (c)",
     bm_floor_split<true>, false},
    {"a", impl::floor_packed, "W1/floor/packed/single/no_event_idx", "floor for packed (a)",
     bm_floor_packed<false>, false, kPackedRefill},
    {"c", impl::floor_packed, "W1/floor/packed/batch32/no_event_idx", "floor for packed (c)",
     bm_floor_packed<true>, false, kPackedRefill},
};
// clang-format on

/// The rows of the split-vs-packed table, with a short description of each shape.
struct shape {
  const char* key;
  const char* label;
};
constexpr shape kShapes[] = {
    {"a", "device: push + notify check per chain"},
    {"b", "(a) with EVENT_IDX"},
    {"a\"", "(a) through pop()"},
    {"a'", "(a), notify check per 32"},
    {"c", "device: push_used(span of 32)"},
    {"c'", "(c) with EVENT_IDX"},
    {"e", "(a) with an indirect table"},
    {"ai", "(a) with the W1 step inlined"},
    {"ci", "(c) with the W1 step inlined"},
    {"d", "driver alone, batch 32 (+ minimal dev)"},
    {"d'", "(d) with EVENT_IDX"},
    {"f", "two threads, EVENT_IDX (wall time)"},
    {"g", "naive baseline device"},
    {"r", "refill alone (direct lists)"},
    {"re", "refill alone (indirect lists)"},
};

const variant* find(impl where, std::string_view key) {
  for (const variant& v : kVariants)
    if (v.where == where && key == v.key) return &v;
  return nullptr;
}

struct figure {
  std::optional<double> ns;  ///< what the summary uses (net of the refill where there is one)
  std::optional<double> measured;
  bool net = false;          ///< a refill was subtracted
};

figure get(const collecting_reporter& rep, const variant* v) {
  figure f;
  if (v == nullptr) return f;
  f.measured = rep.ns_per_chain(v->name);
  f.ns = f.measured;
  if (f.ns && v->refill != nullptr) {
    if (const auto refill = rep.ns_per_chain(v->refill)) {
      f.ns = *f.ns - *refill;
      f.net = true;
    }
  }
  return f;
}
figure get(const collecting_reporter& rep, impl where, std::string_view key) {
  return get(rep, find(where, key));
}

std::string num(std::optional<double> v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *v);
  return buf;
}
std::string ratio(std::optional<double> top, std::optional<double> bottom) {
  if (!top || !bottom || *bottom <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", *top / *bottom);
  return buf;
}
const char* verdict(std::optional<double> v, double limit) {
  if (!v) return "n/a";
  return *v <= limit ? "PASS" : "MISS";
}

void print_summary(const collecting_reporter& rep, std::FILE* out) {
  const figure split_a = get(rep, impl::split, "a");
  bool any_gross = false;

  std::fprintf(out,
               "\nW1 summary: ns per chain (the median with --benchmark_repetitions, else the "
               "run)\n\nSplit vs packed. Packed device-alone rows are net of the packed refill: "
               "measured\nminus (r), or minus (re) for (e); the measured figure is in the last "
               "column.\n");
  std::fprintf(out, "%-3s %-40s %8s %8s %8s %13s %9s\n", "key", "shape", "split", "split/a",
               "packed", "packed/split", "measured");
  for (const shape& s : kShapes) {
    const figure sp = get(rep, impl::split, s.key);
    const figure pk = get(rep, impl::packed, s.key);
    if (!sp.ns && !pk.ns) {
      std::fprintf(out, "%-3s %-40s %8s\n", s.key, s.label, "n/a");
      continue;
    }
    const variant* pv = find(impl::packed, s.key);
    const bool gross = pk.ns && pv != nullptr && pv->refill != nullptr && !pk.net;
    any_gross = any_gross || gross;
    // The refill rows are feed overhead, not a shape: no ratios for them.
    const bool refill_row = s.key[0] == 'r';
    std::fprintf(out, "%-3s %-40s %8s %8s %8s%s %12s %9s\n", s.key, s.label, num(sp.ns).c_str(),
                 refill_row ? "-" : ratio(sp.ns, split_a.ns).c_str(), num(pk.ns).c_str(),
                 gross ? "*" : " ", refill_row ? "-" : ratio(pk.ns, sp.ns).c_str(),
                 pk.net ? num(pk.measured).c_str() : "");
  }
  if (any_gross)
    std::fprintf(out, "* the refill row did not run (filtered out): measured, refill included\n");

  std::fprintf(out,
               "\nVireo vs the hand-written floor (w1_floor.hpp; same rings; packed rows net of "
               "(r)).\n"
               "vireo/floor above 1: what the library's layers cost over the floor.\n");
  std::fprintf(out, "%-6s %-3s %-40s %8s %8s %12s\n", "layout", "key", "shape", "vireo", "floor",
               "vireo/floor");
  struct floor_row {
    const char* layout;
    impl vireo;
    const char* key;        ///< the Vireo row
    const char* floor_key;  ///< the floor row of the same shape
    const char* label;
  };
  constexpr floor_row kFloorRows[] = {
      {"split", impl::split, "a", "a", "per chain: used.idx, fence, flags"},
      {"split", impl::split, "ai", "a", "(a) with the W1 step inlined"},
      {"split", impl::split, "c", "c", "per 32: used.idx, fence, flags"},
      {"split", impl::split, "ci", "c", "(c) with the W1 step inlined"},
      {"packed", impl::packed, "a", "a", "per chain: used flags, fence, flags"},
      {"packed", impl::packed, "ai", "a", "(a) with the W1 step inlined"},
      {"packed", impl::packed, "c", "c", "per 32: first used flags, fence, flags"},
      {"packed", impl::packed, "ci", "c", "(c) with the W1 step inlined"},
  };
  for (const floor_row& r : kFloorRows) {
    const figure v = get(rep, r.vireo, r.key);
    const figure f =
        get(rep, r.vireo == impl::split ? impl::floor_split : impl::floor_packed, r.floor_key);
    std::fprintf(out, "%-6s %-3s %-40s %8s %8s %12s\n", r.layout, r.key, r.label, num(v.ns).c_str(),
                 num(f.ns).c_str(), ratio(v.ns, f.ns).c_str());
  }

  const figure naive = get(rep, impl::split, "g");
  std::fprintf(out, "\nnaive / vireo (g / split a): %s\n", ratio(naive.ns, split_a.ns).c_str());

  std::fprintf(out,
               "\nTargets from the issue (informational: PASS/MISS never changes the exit status)\n"
               "  device side <= 10 ns/chain (aim 5); packed also no slower than split:\n");
  std::fprintf(out, "    %-3s %8s %-6s %8s %-6s %s\n", "key", "split", "", "packed", "",
               "packed <= split");
  for (const char* key : {"a", "b", "c", "c'", "e", "ai", "ci"}) {
    const figure sp = get(rep, impl::split, key);
    const figure pk = get(rep, impl::packed, key);
    if (!sp.ns && !pk.ns) continue;
    const char* no_slower = (sp.ns && pk.ns) ? (*pk.ns <= *sp.ns ? "PASS" : "MISS") : "n/a";
    std::fprintf(out, "    %-3s %8s %-6s %8s %-6s %s%s\n", key, num(sp.ns).c_str(),
                 verdict(sp.ns, 10.0), num(pk.ns).c_str(), verdict(pk.ns, 10.0), no_slower,
                 (pk.ns && *pk.ns <= 5.0) ? "  (packed aim of 5 met)" : "");
  }
  const figure sf = get(rep, impl::split, "f");
  const figure pf = get(rep, impl::packed, "f");
  std::fprintf(out, "  two threads (f), wall time:\n");
  std::fprintf(out, "    split  <= 60 ns/chain: %8s  %s\n", num(sf.ns).c_str(),
               verdict(sf.ns, 60.0));
  std::fprintf(out, "    packed <= 40 ns/chain: %8s  %s\n", num(pf.ns).c_str(),
               verdict(pf.ns, 40.0));
}

}  // namespace

int main(int argc, char** argv) { return w1::run_main(argc, argv, kVariants, print_summary); }
