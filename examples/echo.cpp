// SPDX-License-Identifier: Apache-2.0
// echo: a driver queue and a device queue share one guest memory region and exchange real
// requests with a tiny echo/CRC-32 device, over a split ring (default) or a packed ring
// (--packed). The device and driver code is written once: any_device_queue / any_driver_queue
// pick the layout from VIRTIO_F_RING_PACKED. One malformed chain shows the device surviving it,
// and every kick shows the 32-bit VIRTIO_F_NOTIFICATION_DATA value the driver would write.
#include <vireo/vireo.hpp>

#include <fmt/format.h>

#include "session_report.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace {

using example::fail;

namespace ring = vireo::ring;
using vireo::gpa;
using ring::queue_layout;

// ---- The demo device's protocol: a 16-byte header, then the payload ----------------------

/// Request header at the start of the readable part; `payload_len` bytes of payload follow.
struct request_header {
  vireo::le32 op;           ///< an `op` value
  vireo::le32 seq;          ///< the driver's sequence number (for the log only)
  vireo::le64 payload_len;  ///< must equal the readable bytes after this header
};
static_assert(sizeof(request_header) == 16, "echo protocol: the header is 16 bytes");
static_assert(alignof(request_header) == 1, "echo protocol: wire structs are unaligned");
static_assert(offsetof(request_header, op) == 0 && offsetof(request_header, seq) == 4 &&
                  offsetof(request_header, payload_len) == 8,
              "echo protocol: header field offsets");
static_assert(std::is_trivially_copyable_v<request_header> &&
              std::is_standard_layout_v<request_header>);

enum class op : std::uint32_t { echo = 1, crc32 = 2 };  // ECHO: copy back; CRC32: le32 of it
constexpr std::string_view op_name(op o) { return o == op::echo ? "ECHO" : "CRC32"; }

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table built at compile time.
constexpr std::array<std::uint32_t, 256> crc_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}();
/// Continue a CRC over `data` (start from 0): feeding pieces gives the CRC of the whole.
constexpr std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> data) {
  crc = ~crc;
  for (std::byte b : data)
    crc = crc_table[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}
static_assert([] {
  std::array<std::byte, 9> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::byte>('1' + i);
  return crc32_update(0, s);
}() == 0xCBF43926u, "the CRC-32 check value of \"123456789\"");

// ---- Guest memory: one buffer, laid out by hand with the ring/layout.hpp constants --------

constexpr std::uint16_t split_size = 32;   // split: a power of two (virtio 1.3 §2.7)
constexpr std::uint16_t packed_size = 25;  // packed: any size 1..32768 (§2.8). Small and odd on
                                           // purpose: the default run wraps the ring mid-list.
constexpr std::uint16_t max_size = std::max(split_size, packed_size);
constexpr std::uint16_t indirect_entries = 4;  // per table: header, payload, two reply halves
constexpr std::size_t per_round = 4;           // requests per round; round 0 adds the bad chain
constexpr std::size_t data_slots = per_round + 1;
constexpr std::size_t slot_bytes = 256;  // per request: header @0, payload @16, reply @128
constexpr std::uint32_t max_payload = 64;
constexpr std::uint16_t queue_index = 0;  // the demo device has one queue
constexpr std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

/// Where one queue's three areas, the driver's indirect tables and the request slots sit, as
/// offsets into guest RAM.
struct ram_plan {
  std::uint16_t size = 0;
  std::size_t desc = 0, driver = 0, device = 0, pool = 0, data = 0, end = 0;
};

/// The indirect tables (one per split head or packed buffer id, 16-aligned), then the data.
constexpr ram_plan with_pool_and_data(ram_plan p, std::size_t areas_end) {
  p.pool = align_up(areas_end, 16);
  p.data = align_up(p.pool + std::size_t{p.size} * indirect_entries * 16, 64);
  p.end = p.data + data_slots * slot_bytes;
  return p;
}

// §2.7.1: descriptor table 16-aligned, available ring (driver area) 2, used ring (device area) 4.
constexpr ram_plan split_plan = [] {
  namespace L = ring::split_layout;
  ram_plan p{.size = split_size};
  p.driver = align_up(p.desc + L::desc_table_bytes(p.size), L::avail_align);
  p.device = align_up(p.driver + L::avail_bytes(p.size), L::used_align);
  return with_pool_and_data(p, p.device + L::used_bytes(p.size));
}();

// §2.8.10.1, §2.8.11: descriptor ring 16-aligned, then the driver and device event suppression
// structures (4 bytes each, 4-aligned). No separate used ring: the device writes used
// descriptors back into the descriptor ring.
constexpr ram_plan packed_plan = [] {
  namespace L = ring::packed_layout;
  ram_plan p{.size = packed_size};
  p.driver = align_up(p.desc + L::desc_ring_bytes(p.size), L::event_align);
  p.device = align_up(p.driver + L::event_bytes, L::event_align);
  return with_pool_and_data(p, p.device + L::event_bytes);
}();

constexpr std::size_t ram_bytes = std::max(split_plan.end, packed_plan.end);

// Guest addresses are not host offsets: the region sits at a guest address of its own.
constexpr gpa ram_base{0x4000'0000};
alignas(64) std::array<std::byte, ram_bytes> guest_ram{};

/// The driver's own view of its RAM (a guest writes its buffers directly).
std::span<std::byte> ram_at(gpa g, std::size_t len) {
  return std::span(guest_ram).subspan(static_cast<std::size_t>(g.raw() - ram_base.raw()), len);
}

// Both sides are written once, against the run-time wrappers: configure() picks split_* or
// packed_* from RING_PACKED in the queue's features, and each call is one predictable branch
// (no virtual calls, no heap). They model the same concepts as split_device / packed_device
// and their drivers (ring/queue_api.hpp); only the log lines below ask which layout is in use.
using memory = vireo::flat_memory;
using driver_queue = ring::any_driver_queue<memory, max_size>;
using device_queue = ring::any_device_queue<memory, 8>;  // accept at most 8 segments per chain
static_assert(ring::driver_queue_api<driver_queue> && ring::device_queue_api<device_queue>);

constexpr std::string_view layout_name(queue_layout l) {
  return l == queue_layout::packed ? "packed" : "split";
}
/// What a chain's id is: split names a chain by its head descriptor, packed by a buffer id.
constexpr std::string_view id_word(queue_layout l) {
  return l == queue_layout::packed ? "id" : "head";
}

struct stats {
  unsigned ok = 0, wrong = 0, rejected = 0, kicks = 0, kicks_suppressed = 0;
  unsigned notifications = 0, notifications_suppressed = 0;
};

/// What the driver expects back for one chain it made available.
struct pending {
  std::uint32_t seq = 0, payload_len = 0;
  op kind = op::echo;
  gpa payload{}, reply{};
  bool malformed = false;
};

// ---- Device side ---------------------------------------------------------------------------

/// Serve one request; returns the used length (bytes written). A request this device cannot
/// parse is completed with length 0, which the driver reads as "no reply".
std::uint32_t handle(const device_queue::chain_type& chain) {
  auto in = chain.reader();
  auto out = chain.writer();
  // Copy the header out of guest memory once, then decide only on that private copy.
  auto hdr = in.read_obj<request_header>();
  if (!hdr || hdr->payload_len.get() != in.remaining()) return 0;
  const std::uint32_t code = hdr->op.get();  // range-checked before it is trusted as an `op`
  const bool echo = code == static_cast<std::uint32_t>(op::echo);
  if (!echo && code != static_cast<std::uint32_t>(op::crc32)) return 0;
  if (out.remaining() < (echo ? in.remaining() : sizeof(vireo::le32))) return 0;

  // Stream the payload through a small bounce buffer: the cursors hide descriptor boundaries.
  std::array<std::byte, 32> bounce;
  std::uint32_t crc = 0;
  while (in.remaining() > 0) {
    const auto piece = std::span(bounce).first(std::min(bounce.size(), in.remaining()));
    if (!in.read(piece)) return 0;
    if (echo && !out.write(piece)) return 0;
    crc = crc32_update(crc, piece);
  }
  if (!echo && !out.write_obj(vireo::le32::from(crc))) return 0;
  return out.written();
}

/// Where a chain sat in a packed ring (its token's seq is `slot | wrap << 15`); nothing for split.
std::string ring_slots(const device_queue& dev, const vireo::chain::used_token& t) {
  if (dev.layout() != queue_layout::packed) return {};
  const unsigned first = ring::off_of(t.seq);
  const unsigned last = (first + t.slots - 1u) % dev.size();
  if (t.slots == 1) return fmt::format(" [slot {}]", first);
  return fmt::format(" [slots {}-{}{}]", first, last, last < first ? ", ring wrapped" : "");
}

/// The device's side of a kick. With VIRTIO_F_NOTIFICATION_DATA the driver writes 32 bits, not
/// just the queue index (§2.9): the queue, and where its next buffer will be made available.
/// Decode them and check them against the queue before using them even as a hint.
bool kicked(device_queue& dev, std::uint32_t raw) {
  const bool packed = dev.layout() == queue_layout::packed;
  const auto n = ring::validate_notification(ring::decode_notification(raw), 1, dev.size(), packed);
  if (!n) {
    fmt::print("  device: notification {:#010x}: {} (errc {})\n", raw,
               vireo::error_message(n.error()), static_cast<unsigned>(n.error()));
    return false;
  }
  const std::string next = packed ? fmt::format("next_off {}, next_wrap {}", n->next_off(),
                                                n->next_wrap() ? 1 : 0)
                                  : fmt::format("avail idx {}", n->next);
  fmt::print("  device: notification {:#010x} = queue {}, {}: valid; kicks off while busy\n", raw,
             n->queue, next);
  // Awake now: ask for no more kicks while it works (§2.7.10, §2.8.10).
  dev.disable_notifications();
  return true;
}

/// Pop until the ring is empty, then decide once on notifying. False on a ring-fatal error.
bool serve(device_queue& dev, stats& st) {
  const std::string_view id = id_word(dev.layout());
  for (;;) {
    auto chain = dev.pop();
    if (!chain) {
      fmt::print("  device: pop failed: {} (errc {})\n", vireo::error_message(chain.error()),
                 static_cast<unsigned>(chain.error()));
      const auto bad = dev.rejected();
      if (!bad) return false;  // the ring itself is corrupt: the queue is broken until reset
      // Only this chain was malformed: give it back with nothing written, carry on.
      const auto done = dev.push_used(*bad, 0);
      fmt::print("  device: completed rejected {} {}{} with length 0 ({})\n", id, bad->id,
                 ring_slots(dev, *bad), done ? "ok" : vireo::error_message(done.error()));
      if (!done) return false;
      ++st.rejected;
      continue;
    }
    if (chain->empty()) break;  // nothing more available
    const std::uint32_t len = handle(*chain);
    const auto pushed = dev.push_used(*chain, len);
    fmt::print("  device: {} {:2}{}: {} segments ({} readable, {} B; {} writable, {} B)"
               " -> used {}{}\n",
               id, chain->id(), ring_slots(dev, chain->token()),
               chain->readable().size() + chain->writable().size(), chain->readable().size(),
               chain->readable_len(), chain->writable().size(), chain->writable_len(), len,
               pushed ? "" : " (push_used failed)");
    if (!pushed) return false;
  }
  const bool notify = dev.needs_notification();  // one decision for the whole batch
  ++(notify ? st.notifications : st.notifications_suppressed);
  fmt::print("  device: needs_notification: {}\n", notify ? "yes (interrupt the driver)" : "no");
  return true;
}

// ---- Driver side ---------------------------------------------------------------------------

/// Lay one request out in its slot and make it available. Returns the chain's id.
vireo::result<std::uint16_t> submit(driver_queue& drv, const pending& p, std::size_t slot,
                                    const ram_plan& plan, ring::add_mode mode) {
  const gpa at = ram_base.offset(plan.data + slot * slot_bytes);
  request_header h{};
  h.op.set(static_cast<std::uint32_t>(p.kind));
  h.seq.set(p.seq);
  h.payload_len.set(p.payload_len);
  std::memcpy(ram_at(at, sizeof h).data(), &h, sizeof h);
  auto payload = ram_at(p.payload, p.payload_len);
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<std::byte>(p.seq * 31 + i * 7);

  const ring::buffer readable[] = {{at, sizeof h}, {p.payload, p.payload_len}};
  // ECHO answers into two writable buffers, so the device's writer crosses a descriptor edge.
  const std::uint32_t half = p.payload_len / 2;
  const ring::buffer echo_reply[] = {{p.reply, half},
                                     {p.reply.offset(half), p.payload_len - half}};
  const ring::buffer crc_reply[] = {{p.reply, sizeof(vireo::le32)}};
  const auto writable = p.kind == op::echo ? std::span<const ring::buffer>(echo_reply)
                                           : std::span<const ring::buffer>(crc_reply);
  return drv.add(readable, writable, slot, mode);  // user_data = slot, returned by reclaim()
}

/// A hostile (or buggy) driver: add a small chain normally, then overwrite ring bytes so that it
/// is malformed. The driver's own bookkeeping stays valid.
///  - split: the head descriptor links to itself; only the walker's hop budget ends the chain;
///  - packed: descriptors have no `next` field, so no loop is possible; instead the list's second
///    descriptor gets INDIRECT, which §2.8.7 allows only on a list's single descriptor.
vireo::result<std::uint16_t> submit_malformed(driver_queue& drv, const pending& p,
                                              std::size_t slot, const ram_plan& plan) {
  const std::uint16_t next = drv.avail_index();  // packed: the slot the list starts at
  const ring::buffer readable[] = {{p.payload, 16}};
  const ring::buffer writable[] = {{p.reply, 4}};
  auto id = drv.add(readable, writable, slot, ring::add_mode::direct);
  if (!id) return id;
  if (drv.layout() == queue_layout::split) {
    ring::split_desc loop{};
    loop.addr.set(p.payload.raw());
    loop.len.set(16);
    loop.flags.set(ring::desc_flag::next);
    loop.next.set(*id);  // next = itself
    const gpa in_table = ram_base.offset(plan.desc + std::size_t{*id} * ring::split_layout::desc_size);
    std::memcpy(ram_at(in_table, sizeof loop).data(), &loop, sizeof loop);
  } else {
    const std::size_t second = (ring::off_of(next) + 1u) % plan.size;
    const auto where = ram_at(ram_base.offset(plan.desc + ring::packed_layout::desc_offset(second)),
                              sizeof(ring::packed_desc));
    ring::packed_desc d;
    std::memcpy(&d, where.data(), sizeof d);
    d.flags.set(static_cast<std::uint16_t>(d.flags.get() | ring::desc_flag::indirect));
    std::memcpy(where.data(), &d, sizeof d);
  }
  return id;
}

/// Check one completion against what was asked (only the first `len` bytes count: §2.7.8,
/// §2.8.4).
bool verify(const pending& p, std::uint32_t len) {
  if (p.malformed) return len == 0;
  const auto payload = ram_at(p.payload, p.payload_len);
  if (p.kind == op::echo)
    return len == p.payload_len && std::ranges::equal(ram_at(p.reply, len), payload);
  vireo::le32 crc{};
  std::memcpy(&crc, ram_at(p.reply, sizeof crc).data(), sizeof crc);
  return len == sizeof crc && crc.get() == crc32_update(0, payload);
}

/// A request count in 1..100000, nothing else.
bool parse_count(std::string_view s, unsigned& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && out >= 1 && out <= 100000;
}

int usage(std::FILE* to, int rc) {
  fmt::print(to,
             "usage: echo [--packed] [--event-idx] [--indirect] [--requests N] [--help]\n"
             "  --packed      negotiate VIRTIO_F_RING_PACKED: a packed ring of {} slots\n"
             "                (default: a split ring of {} descriptors)\n"
             "  --event-idx   negotiate VIRTIO_F_EVENT_IDX (suppression by ring position)\n"
             "  --indirect    negotiate VIRTIO_F_INDIRECT_DESC, send requests indirect\n"
             "  --requests N  number of requests, 1..100000 (default 8)\n"
             "VIRTIO_F_NOTIFICATION_DATA is always negotiated; each kick shows its value.\n",
             packed_size, split_size);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool packed = false, event_idx = false, indirect = false;
  unsigned requests = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help") return usage(stdout, 0);
    if (a == "--packed") packed = true;
    else if (a == "--event-idx") event_idx = true;
    else if (a == "--indirect") indirect = true;
    else if (a != "--requests" || ++i == argc || !parse_count(argv[i], requests))
      return usage(stderr, 2);
  }

  // Both sides get the same queue_config: size, the three area addresses, negotiated features.
  // RING_PACKED is what selects the layout, in the driver and in the device alike.
  const ram_plan& plan = packed ? packed_plan : split_plan;
  vireo::feature_set features;
  features.set(vireo::transport_feature::notification_data);
  if (packed) features.set(vireo::transport_feature::ring_packed);
  if (event_idx) features.set(vireo::transport_feature::event_idx);
  if (indirect) features.set(vireo::transport_feature::indirect_desc);
  const ring::queue_config cfg{plan.size, ram_base.offset(plan.desc), ram_base.offset(plan.driver),
                               ram_base.offset(plan.device), features};
  const ring::indirect_pool pool{ram_base.offset(plan.pool),
                                 indirect ? indirect_entries : std::uint16_t{0}};
  const auto mode = indirect ? ring::add_mode::indirect : ring::add_mode::direct;

  memory mem{guest_ram, ram_base};  // one region, seen by both sides (two threads could share it)
  driver_queue drv{mem};
  device_queue dev{mem};
  if (auto r = drv.configure(cfg, pool); !r) return fail("driver: configure", r.error());
  if (auto r = dev.configure(cfg); !r) return fail("device: configure", r.error());
  if (drv.layout() != ring::layout_of(features) || dev.layout() != drv.layout()) {
    fmt::print("echo: driver and device disagree on the layout\n");
    return 1;
  }
  const queue_layout layout = dev.layout();
  fmt::print("echo: {} ring, queue size {}{}, event_idx {}, indirect {}, notification_data on,"
             " {} requests\n",
             layout_name(layout), dev.size(),
             layout == queue_layout::packed ? " (not a power of two)" : "", event_idx ? "on" : "off",
             indirect ? "on" : "off", requests);

  stats st;
  unsigned seq = 0;
  for (unsigned round = 0; seq < requests; ++round) {
    fmt::print("round {}\n", round);
    const std::size_t items = std::min<std::size_t>(per_round, requests - seq) + (round == 0);
    std::array<pending, data_slots> inflight{};
    for (std::size_t k = 0; k < items; ++k) {
      pending& p = inflight[k];
      const gpa at = ram_base.offset(plan.data + k * slot_bytes);
      p.payload = at.offset(sizeof(request_header));
      p.reply = at.offset(128);
      p.malformed = round == 0 && k == 1;
      vireo::result<std::uint16_t> id{std::uint16_t{0}};
      if (p.malformed) {
        id = submit_malformed(drv, p, k, plan);
        fmt::print("  driver: malformed chain ({}) -> {} {}",
                   layout == queue_layout::packed ? "INDIRECT inside a list" : "descriptor loop",
                   id_word(layout), id.value_or(0));
      } else {
        p.seq = seq++;
        p.kind = p.seq % 2 == 0 ? op::echo : op::crc32;
        p.payload_len = 2 + (p.seq * 23) % (max_payload - 1);
        id = submit(drv, p, k, plan, mode);
        fmt::print("  driver: #{} {} {} B -> {} {}", p.seq, op_name(p.kind), p.payload_len,
                   id_word(layout), id.value_or(0));
      }
      if (!id) return fail("\ndriver: add", id.error());
      const bool kick = drv.needs_kick();
      ++(kick ? st.kicks : st.kicks_suppressed);
      if (!kick) {
        fmt::print("; needs_kick: no (device is polling)\n");
        continue;
      }
      // The kick: with NOTIFICATION_DATA, the queue index and the driver's next avail position
      // (split: avail idx; packed: next slot | wrap counter << 15) in one 32-bit write.
      const std::uint32_t raw = ring::encode_notification({queue_index, drv.avail_index()});
      fmt::print("; needs_kick: yes, notify {:#010x}\n", raw);
      if (!kicked(dev, raw)) return 1;
    }

    if (!serve(dev, st)) return fail("device: queue broken", dev.broken_reason());
    // Idle again: ask for kicks, then re-check the ring to close the race with the driver.
    if (auto more = dev.enable_notifications(); !more)
      return fail("device: enable_notifications", more.error());
    else if (*more)
      fmt::print("  device: more work arrived while re-enabling kicks\n");

    // Driver: take completions back (an interrupt handler's job) and check every reply.
    for (;;) {
      auto used = drv.reclaim();
      if (!used) return fail("driver: reclaim", used.error());
      if (!*used) break;
      const pending& p = inflight[(*used)->user_data];
      const bool good = verify(p, (*used)->len);
      if (!good) ++st.wrong;
      else if (!p.malformed) ++st.ok;
      fmt::print("  driver: {} {:2} back, used len {:3}: {}\n", id_word(layout), (*used)->id,
                 (*used)->len, good ? "ok" : "WRONG");
    }
    // Re-arm interrupts before sleeping; true means completions slipped in meanwhile.
    if (drv.enable_interrupts()) fmt::print("  driver: completions pending after re-arm\n");
  }

  const bool pass = st.wrong == 0 && st.ok == requests && st.rejected == 1 && drv.in_flight() == 0;
  fmt::print("summary ({} ring): {} ok, {} wrong, {} malformed rejected, {} in flight; kicks {}"
             " sent / {} suppressed; notifications {} sent / {} suppressed: {}\n",
             layout_name(layout), st.ok, st.wrong, st.rejected, drv.in_flight(), st.kicks,
             st.kicks_suppressed, st.notifications, st.notifications_suppressed,
             pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
