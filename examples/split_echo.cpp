// SPDX-License-Identifier: Apache-2.0
// split_echo: a driver queue and a device queue share one guest memory region and exchange real
// requests with a tiny echo/CRC-32 device; one malformed chain shows the device surviving it.
#include <vireo/vireo.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

namespace {

namespace ring = vireo::ring;
namespace layout = vireo::ring::split_layout;
using vireo::gpa;

// ---- The demo device's protocol: a 16-byte header, then the payload ----------------------

/// Request header at the start of the readable part; `payload_len` bytes of payload follow.
struct request_header {
  vireo::le32 op;           ///< an `op` value
  vireo::le32 seq;          ///< the driver's sequence number (for the log only)
  vireo::le64 payload_len;  ///< must equal the readable bytes after this header
};
static_assert(sizeof(request_header) == 16, "split_echo protocol: the header is 16 bytes");
static_assert(alignof(request_header) == 1, "split_echo protocol: wire structs are unaligned");
static_assert(offsetof(request_header, op) == 0 && offsetof(request_header, seq) == 4 &&
                  offsetof(request_header, payload_len) == 8,
              "split_echo protocol: header field offsets");
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

// ---- Guest memory: one buffer, laid out with the ring/layout.hpp constants ----------------

constexpr std::uint16_t queue_size = 32;
constexpr std::uint16_t indirect_entries = 4;  // per head: header, payload, two reply halves
constexpr std::size_t slot_bytes = 256;        // per request: header @0, payload @16, reply @128
constexpr std::uint32_t max_payload = 64;
constexpr std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

// virtio 1.3 §2.7.1: descriptor table 16-aligned, available ring 2-aligned, used ring 4-aligned.
constexpr std::size_t desc_off = 0;
constexpr std::size_t avail_off =
    align_up(desc_off + layout::desc_table_bytes(queue_size), layout::avail_align);
constexpr std::size_t used_off =
    align_up(avail_off + layout::avail_bytes(queue_size), layout::used_align);
constexpr std::size_t pool_off =  // the driver's indirect tables: one per head
    align_up(used_off + layout::used_bytes(queue_size), layout::desc_align);
constexpr std::size_t data_off =
    align_up(pool_off + std::size_t{queue_size} * indirect_entries * layout::desc_size, 64);
constexpr std::size_t ram_bytes = data_off + std::size_t{queue_size} * slot_bytes;

// Guest addresses are not host offsets: the region sits at a guest address of its own.
constexpr gpa ram_base{0x4000'0000};
alignas(64) std::array<std::byte, ram_bytes> guest_ram{};

/// The driver's own view of its RAM (a guest writes its buffers directly).
std::span<std::byte> ram_at(gpa g, std::size_t len) {
  return std::span(guest_ram).subspan(static_cast<std::size_t>(g.raw() - ram_base.raw()), len);
}

using memory = vireo::flat_memory;
using driver_queue = ring::split_driver<memory, queue_size>;
using device_queue = ring::split_device<memory, 8>;  // accept at most 8 segments per chain

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

/// Pop until the ring is empty, then decide once on notifying. False on a ring-fatal error.
bool serve(device_queue& dev, stats& st) {
  for (;;) {
    auto chain = dev.pop();
    if (!chain) {
      fmt::print("  device: pop failed: {} (errc {})\n", vireo::error_message(chain.error()),
                 static_cast<unsigned>(chain.error()));
      const auto bad = dev.rejected();
      if (!bad) return false;  // the ring itself is corrupt: the queue is broken until reset
      // Only this chain was malformed: give its head back with nothing written, carry on.
      const auto done = dev.push_used(*bad, 0);
      fmt::print("  device: completed rejected head {} with length 0 ({})\n", bad->id,
                 done ? "ok" : vireo::error_message(done.error()));
      ++st.rejected;
      continue;
    }
    if (chain->empty()) break;  // nothing more available
    const std::uint32_t len = handle(*chain);
    const auto pushed = dev.push_used(*chain, len);
    fmt::print("  device: head {:2}: {} segments ({} readable, {} B; {} writable, {} B)"
               " -> used {}{}\n",
               chain->id(), chain->readable().size() + chain->writable().size(),
               chain->readable().size(), chain->readable_len(), chain->writable().size(),
               chain->writable_len(), len, pushed ? "" : " (push_used failed)");
  }
  const bool notify = dev.needs_notification();  // one decision for the whole batch
  ++(notify ? st.notifications : st.notifications_suppressed);
  fmt::print("  device: needs_notification: {}\n", notify ? "yes (interrupt the driver)" : "no");
  return true;
}

// ---- Driver side ---------------------------------------------------------------------------

/// Lay one request out in its slot and make it available. Returns the head.
vireo::result<std::uint16_t> submit(driver_queue& drv, const pending& p, std::size_t slot,
                                    ring::add_mode mode) {
  const gpa at = ram_base.offset(data_off + slot * slot_bytes);
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

/// A hostile (or buggy) driver: add a small chain normally, then overwrite its head descriptor
/// with raw bytes so that it links to itself. The driver's own bookkeeping stays valid.
vireo::result<std::uint16_t> submit_loop(driver_queue& drv, const pending& p, std::size_t slot) {
  const ring::buffer readable[] = {{p.payload, 16}};
  const ring::buffer writable[] = {{p.reply, 4}};
  auto head = drv.add(readable, writable, slot, ring::add_mode::direct);
  if (!head) return head;
  ring::split_desc loop{};
  loop.addr.set(p.payload.raw());
  loop.len.set(16);
  loop.flags.set(ring::desc_flag::next);
  loop.next.set(*head);  // next = itself: only the walker's hop budget ends this chain
  const gpa slot_in_table = ram_base.offset(desc_off + std::size_t{*head} * layout::desc_size);
  std::memcpy(ram_at(slot_in_table, sizeof loop).data(), &loop, sizeof loop);
  return head;
}

/// Check one completion against what was asked (only the first `len` bytes count: §2.7.8).
bool verify(const pending& p, std::uint32_t len) {
  if (p.malformed) return len == 0;
  const auto payload = ram_at(p.payload, p.payload_len);
  if (p.kind == op::echo)
    return len == p.payload_len && std::ranges::equal(ram_at(p.reply, len), payload);
  vireo::le32 crc{};
  std::memcpy(&crc, ram_at(p.reply, sizeof crc).data(), sizeof crc);
  return len == sizeof crc && crc.get() == crc32_update(0, payload);
}

int fail(std::string_view what, vireo::errc e) {
  fmt::print("{}: {} (errc {})\n", what, vireo::error_message(e), static_cast<unsigned>(e));
  return 1;
}

/// A request count in 1..100000, nothing else.
bool parse_count(std::string_view s, unsigned& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size() && out >= 1 && out <= 100000;
}

int usage(std::FILE* to, int rc) {
  fmt::print(to, "usage: split_echo [--event-idx] [--indirect] [--requests N] [--help]\n"
                 "  --event-idx   negotiate VIRTIO_F_EVENT_IDX (suppression by ring index)\n"
                 "  --indirect    negotiate VIRTIO_F_INDIRECT_DESC, send requests indirect\n"
                 "  --requests N  number of requests, 1..100000 (default 8)\n");
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  bool event_idx = false, indirect = false;
  unsigned requests = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help") return usage(stdout, 0);
    if (a == "--event-idx") event_idx = true;
    else if (a == "--indirect") indirect = true;
    else if (a != "--requests" || ++i == argc || !parse_count(argv[i], requests))
      return usage(stderr, 2);
  }

  // Both sides get the same queue_config: size, the three area addresses, negotiated features.
  vireo::feature_set features;
  if (event_idx) features.set(vireo::transport_feature::event_idx);
  if (indirect) features.set(vireo::transport_feature::indirect_desc);
  const ring::queue_config cfg{queue_size, ram_base.offset(desc_off), ram_base.offset(avail_off),
                               ram_base.offset(used_off), features};
  const ring::indirect_pool pool{ram_base.offset(pool_off),
                                 indirect ? indirect_entries : std::uint16_t{0}};
  const auto mode = indirect ? ring::add_mode::indirect : ring::add_mode::direct;

  memory mem{guest_ram, ram_base};  // one region, seen by both sides (two threads could share it)
  driver_queue drv{mem};
  device_queue dev{mem};
  if (auto r = drv.configure(cfg, pool); !r) return fail("driver: configure", r.error());
  if (auto r = dev.configure(cfg); !r) return fail("device: configure", r.error());
  fmt::print("split_echo: queue size {}, event_idx {}, indirect {}, {} requests\n", queue_size,
             event_idx ? "on" : "off", indirect ? "on" : "off", requests);

  stats st;
  constexpr std::size_t per_round = 4;  // requests per round; round 0 also carries the bad chain
  unsigned seq = 0;
  for (unsigned round = 0; seq < requests; ++round) {
    fmt::print("round {}\n", round);
    const std::size_t items = std::min<std::size_t>(per_round, requests - seq) + (round == 0);
    std::array<pending, per_round + 1> inflight{};
    for (std::size_t k = 0; k < items; ++k) {
      pending& p = inflight[k];
      const gpa at = ram_base.offset(data_off + k * slot_bytes);
      p.payload = at.offset(sizeof(request_header));
      p.reply = at.offset(128);
      p.malformed = round == 0 && k == 1;
      vireo::result<std::uint16_t> head{std::uint16_t{0}};
      if (p.malformed) {
        head = submit_loop(drv, p, k);
        fmt::print("  driver: malformed chain (descriptor loop) -> head {}", head.value_or(0));
      } else {
        p.seq = seq++;
        p.kind = p.seq % 2 == 0 ? op::echo : op::crc32;
        p.payload_len = 2 + (p.seq * 23) % (max_payload - 1);
        head = submit(drv, p, k, mode);
        fmt::print("  driver: #{} {} {} B -> head {}", p.seq, op_name(p.kind), p.payload_len,
                   head.value_or(0));
      }
      if (!head) return fail("\ndriver: add", head.error());
      const bool kick = drv.needs_kick();
      ++(kick ? st.kicks : st.kicks_suppressed);
      fmt::print("; needs_kick: {}\n", kick ? "yes" : "no (device is polling)");
      // The kick wakes the device, which asks for no more kicks while it works (§2.7.10).
      if (kick) dev.disable_notifications();
    }

    if (!serve(dev, st)) return fail("device: queue broken", dev.broken_reason());
    // Idle again: ask for kicks, then re-check the ring to close the race with the driver.
    if (auto more = dev.enable_notifications(); more && *more)
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
      fmt::print("  driver: head {:2} back, used len {:3}: {}\n", (*used)->id, (*used)->len,
                 good ? "ok" : "WRONG");
    }
    // Re-arm interrupts before sleeping; true means completions slipped in meanwhile.
    if (drv.enable_interrupts()) fmt::print("  driver: completions pending after re-arm\n");
  }

  const bool pass = st.wrong == 0 && st.ok == requests && st.rejected == 1;
  fmt::print("summary: {} ok, {} wrong, {} malformed rejected; kicks {} sent / {} suppressed; "
             "notifications {} sent / {} suppressed: {}\n",
             st.ok, st.wrong, st.rejected, st.kicks, st.kicks_suppressed, st.notifications,
             st.notifications_suppressed, pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
