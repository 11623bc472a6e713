// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the vhost-user back-end session (vireo/vhost_user/backend/session.hpp) driven by a
// hostile front-end: a sequence of requests (mostly well-formed templates, some raw frames) with
// fake fds, decoded by the real codec with session.codec(), disconnects, and the back-end's own
// calls (back-end channel requests and replies, logged guest writes). A fake mapper backs
// regions, logs and inflight regions with buffers it owns (bounded, can be told to fail), a fake
// inflight allocator hands out buffers behind fresh fds, and a fake device records calls.
//
// Input (docs/fuzzing.md, "vhost_user_backend input"):
//   byte 0  options: bits 0-1 device (0 i2c: 1 queue; 1 gpio: 2 queues, 8-byte config;
//           2 gpio + RING_PACKED; 3 4 queues of at most 256, 16-byte config), bit 2 the device
//           refuses starts, bit 3 an unaligned position from stop_vring, bit 4 the device logs
//           its writes (LOG_ALL, LOG_SHMFD offered), bit 5 an inflight allocator (INFLIGHT_SHMFD)
//   then records: ctl byte. bit 7 set: disconnect() (nothing else). Otherwise bits 0-3 fd count
//           (0-15, fresh fake fds), bit 4 raw frame (else template), bit 5 NEED_REPLY (template),
//           bit 6 the mapper (and allocator) fails every map of this step.
//     template: code byte c = byte % 48: c < 44 request c + 1 with its arguments (see
//           build_template); 44 config_changed() and a front-end reply; 45 a back-end request;
//           46 a write through the logged guest memory; 47 an unsolicited back-end reply
//     raw: 12 header bytes, then min(header.size, what is left) payload bytes.
// Invariants after every step: the fd ledger (each fd handed in is held in a vring slot or as the
// back-end channel, or closed exactly once); live mappings == the session's regions + its log +
// a mapped inflight region, and live allocations == an allocated inflight region; a reply decodes
// (with its fds) as the reply to its request with flags 0x5 and appears only when due; started
// vrings lie in guest memory with a valid size; start/stop alternate per vring and agree with the
// device; inflight areas lie inside the region; back-end messages decode as back-end requests;
// logged writes mark their pages; disconnect leaves nothing.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/session.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/reply.hpp"

namespace {

namespace vu = vireo::vhost_user;
namespace be = vireo::vhost_user::backend;
using vireo::errc;

constexpr std::size_t kMaxSteps = 96;
constexpr std::uint64_t kUserBase = 0x7f12'0000'0000;  // front-end addresses of region "0"
constexpr std::uint64_t kMaxMapping = 512 * 1024;      // larger regions: the mapper refuses
constexpr std::uint64_t kMaxLive = 4 * 1024 * 1024;    // total bytes mapped at once

/// Host buffers behind fake fds: every map allocates a fresh buffer of the region's size.
class fake_mapper {
 public:
  bool fail = false;

  vireo::result<std::byte*> map(int fd, std::uint64_t size, std::uint64_t offset) {
    FUZZ_CHECK(fd >= 1000);  // a fake fd of this input, not no_fd or garbage
    if (fail || size > kMaxMapping || offset > kMaxMapping || live_bytes_ + size > kMaxLive)
      return errc::host_rejected;
    auto buf = std::make_unique<std::byte[]>(static_cast<std::size_t>(size));
    std::byte* p = buf.get();
    live_.push_back({std::move(buf), size, offset});
    live_bytes_ += size;
    return p;
  }
  void unmap(std::byte* host, std::uint64_t size, std::uint64_t offset) {
    const auto it = std::find_if(live_.begin(), live_.end(), [&](const mapping& m) {
      return m.buf.get() == host && m.size == size && m.offset == offset;
    });
    FUZZ_CHECK(it != live_.end() && "unmap of something not mapped");
    live_bytes_ -= size;
    live_.erase(it);
  }
  [[nodiscard]] std::size_t live() const { return live_.size(); }
  [[nodiscard]] bool is_live(std::byte* host, std::uint64_t size, std::uint64_t offset) const {
    return std::any_of(live_.begin(), live_.end(), [&](const mapping& m) {
      return m.buf.get() == host && m.size == size && m.offset == offset;
    });
  }

 private:
  struct mapping {
    std::unique_ptr<std::byte[]> buf;
    std::uint64_t size, offset;
  };
  std::vector<mapping> live_;
  std::uint64_t live_bytes_ = 0;
};
static_assert(be::region_mapper<fake_mapper>);

/// Inflight regions behind fake fds from 500000 up (never handed to the session as message fds).
class fake_allocator {
 public:
  bool fail = false;

  vireo::result<be::inflight_buffer> allocate(std::uint64_t size) {
    FUZZ_CHECK(size != 0);
    if (fail || size > kMaxMapping) return errc::host_io_error;
    auto buf = std::make_unique<std::byte[]>(static_cast<std::size_t>(size));
    std::memset(buf.get(), 0x5A, static_cast<std::size_t>(size));  // the session zero-fills
    const be::inflight_buffer b{next_fd_++, buf.get(), size};
    live_.push_back({std::move(buf), b});
    return b;
  }
  void release(const be::inflight_buffer& b) {
    const auto it = std::find_if(live_.begin(), live_.end(), [&](const entry& e) {
      return e.b.fd == b.fd && e.b.host == b.host && e.b.size == b.size;
    });
    FUZZ_CHECK(it != live_.end() && "release of something not allocated");
    live_.erase(it);
  }
  [[nodiscard]] std::size_t live() const { return live_.size(); }

 private:
  struct entry {
    std::unique_ptr<std::byte[]> buf;
    be::inflight_buffer b;
  };
  std::vector<entry> live_;
  int next_fd_ = 500000;
};
static_assert(be::inflight_allocator<fake_allocator>);

/// A device model that records what the session told it and traps on a protocol misuse.
struct fake_device {
  std::uint64_t features = 0;
  std::uint32_t queues = 1;
  std::uint32_t max_size = 1024;
  std::uint32_t cfg_size = 0;
  std::array<std::byte, 256> config{};
  bool refuse_start = false;
  bool odd_positions = false;
  bool logs = false;
  std::array<bool, 8> running{};
  std::array<bool, 8> enabled{};
  std::array<vireo::ring::queue_state, 8> position{};
  std::uint32_t stops = 0;

  [[nodiscard]] std::uint64_t device_features() const { return features; }
  [[nodiscard]] std::uint32_t num_queues() const { return queues; }
  [[nodiscard]] std::uint32_t max_queue_size() const { return max_size; }
  [[nodiscard]] std::uint32_t config_size() const { return cfg_size; }
  vireo::result<void> read_config(std::uint32_t off, vireo::bytes out) {
    FUZZ_CHECK(off <= cfg_size && out.size() <= cfg_size - off);
    std::memcpy(out.data(), config.data() + off, out.size());
    return vireo::ok();
  }
  vireo::result<void> write_config(std::uint32_t off, vireo::const_bytes in, bool migration) {
    FUZZ_CHECK(off <= cfg_size && in.size() <= cfg_size - off);
    if (!migration && off < 4) return errc::access_denied;  // the first word is read-only
    std::memcpy(config.data() + off, in.data(), in.size());
    return vireo::ok();
  }
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config&,
                                  vireo::ring::queue_state base) {
    FUZZ_CHECK(i < queues && !running[i] && "start of a running vring");
    if (refuse_start) return errc::queue_not_ready;
    running[i] = true;
    position[i] = base;
    return vireo::ok();
  }
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config& cfg,
                                  vireo::ring::queue_state base, be::inflight_area area) {
    if (!area.empty()) FUZZ_CHECK(area.bytes.size() == be::inflight_layout::queue_bytes(area.queue_size));
    return start_vring(i, cfg, base);
  }
  [[nodiscard]] bool logs_dirty_pages() const { return logs; }
  vireo::ring::queue_state stop_vring(std::uint32_t i) {
    FUZZ_CHECK(i < queues && running[i] && "stop of a vring that is not running");
    running[i] = false;
    ++stops;
    // Plausible progress since the start (wrapping like a real index).
    auto& p = position[i];
    p.next_avail = static_cast<std::uint16_t>(p.next_avail + (odd_positions ? 0x8001 : stops));
    p.used_idx = p.next_avail;
    return p;
  }
  void enable_vring(std::uint32_t i, bool on) {
    FUZZ_CHECK(i < queues);
    enabled[i] = on;
  }
  void memory_changed() {}
};
static_assert(be::device_model<fake_device>);
static_assert(be::inflight_device<fake_device> && be::logging_device<fake_device>);

using session_t = be::session<fake_device, fake_mapper, 8, 32, fake_allocator>;
using outcome_t = session_t::outcome_type;
using fr = vu::frontend_request;

constexpr std::uint64_t kVersion1 = std::uint64_t{1} << 32;
constexpr std::uint64_t kIndirect = std::uint64_t{1} << 28;
constexpr std::uint64_t kEventIdx = std::uint64_t{1} << 29;
constexpr std::uint64_t kPacked = std::uint64_t{1} << 34;

fake_device device_from(std::uint8_t b) {
  fake_device d;
  d.features = kVersion1 | kIndirect | kEventIdx | 1;
  switch (b & 3) {
    case 0: break;  // i2c
    case 1: d.queues = 2; d.cfg_size = 8; break;  // gpio
    case 2: d.queues = 2; d.cfg_size = 8; d.features |= kPacked; break;
    default: d.queues = 4; d.max_size = 256; d.cfg_size = 16; break;
  }
  d.config[0] = std::byte{8};
  d.config[4] = std::byte{0x40};
  d.refuse_start = (b & 4) != 0;
  d.odd_positions = (b & 8) != 0;
  d.logs = (b & 16) != 0;
  return d;
}

/// Little-endian frame writer.
struct frame_writer {
  std::vector<std::byte> bytes;
  void u8(std::uint8_t v) { bytes.push_back(std::byte{v}); }
  void u32(std::uint32_t v) {
    for (int k = 0; k < 4; ++k) u8(static_cast<std::uint8_t>(v >> (8 * k)));
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v));
    u32(static_cast<std::uint32_t>(v >> 32));
  }
  /// A region from 6 input bytes: page-granular guest address, size (4 KiB..1 MiB; the mapper
  /// refuses more than 512 KiB), user address and mmap offset.
  void region(vireo_fuzz::byte_source& in) {
    const std::uint64_t gpa = std::uint64_t{in.u16()} << 12;
    const std::uint64_t size = (std::uint64_t{in.u8()} + 1) << 12;
    const std::uint64_t user = kUserBase + (std::uint64_t{in.u16()} << 12);
    const std::uint64_t off = std::uint64_t{in.u8()} << 12;
    u64(gpa);
    u64(size);
    u64(user);
    u64(off);
  }
};

/// A well-formed-looking request `code` with arguments from the input.
std::vector<std::byte> build_template(std::uint32_t code, bool need, vireo_fuzz::byte_source& in) {
  frame_writer w;
  w.u32(code);
  w.u32(vu::flag::version | (need ? vu::flag::need_reply : 0));
  w.u32(0);  // size, patched below
  switch (static_cast<fr>(code)) {
    case fr::set_features:
    case fr::set_protocol_features:
    case fr::set_status:
    case fr::set_vring_kick:
    case fr::set_vring_call:
    case fr::set_vring_err: w.u64(std::uint64_t{in.u32()} | (std::uint64_t{in.u32()} << 32)); break;
    case fr::set_vring_num:
    case fr::set_vring_base:
    case fr::get_vring_base:
    case fr::set_vring_enable:
      w.u32(in.u8());
      w.u32(in.u32());
      break;
    case fr::set_vring_addr: {
      w.u32(in.u8());
      w.u32(in.u8());  // flags: bit 0 LOG
      for (int k = 0; k < 3; ++k) w.u64(kUserBase + in.u32());  // desc, used, avail
      w.u64(std::uint64_t{in.u16()} << 8);  // log_guest_addr
      break;
    }
    case fr::set_log_base:
      w.u64(in.u16());       // mmap_size (the log of 8·size pages)
      w.u64(in.u16());       // mmap_offset
      break;
    case fr::get_inflight_fd:
    case fr::set_inflight_fd: {
      const std::uint8_t sel = in.u8();
      const std::uint16_t nq = in.u8() % 10, qs = in.u16() % 1100;
      // mmap_size: 0 (GET), exactly what the queues need, or a raw value.
      const std::uint64_t need = be::inflight_layout::region_bytes(nq, qs);
      const unsigned mode = (sel & 0x7Fu) % 3;
      w.u64(mode == 0 ? 0 : mode == 1 ? need : in.u32());
      w.u64(sel & 0x80 ? std::uint64_t{in.u8()} << 12 : 0);  // mmap_offset
      w.bytes.push_back(std::byte{static_cast<std::uint8_t>(nq)});
      w.bytes.push_back(std::byte{0});
      w.bytes.push_back(std::byte{static_cast<std::uint8_t>(qs)});
      w.bytes.push_back(std::byte{static_cast<std::uint8_t>(qs >> 8)});
      for (int k = 0; k < 4; ++k) w.u8(0);
      break;
    }
    case fr::set_mem_table: {
      const std::uint32_t n = in.u8() % 9;
      w.u32(n);
      w.u32(0);
      for (std::uint32_t k = 0; k < n; ++k) w.region(in);
      break;
    }
    case fr::add_mem_reg:
    case fr::rem_mem_reg:
      w.u64(0);
      w.region(in);
      break;
    case fr::get_config:
    case fr::set_config: {
      const std::uint32_t off = in.u8(), size = in.u8() % 33;
      w.u32(off);
      w.u32(size);
      w.u32(in.u8() & 1);  // flags: 1 = migration
      for (std::uint32_t k = 0; k < size; ++k) w.u8(in.u8());
      break;
    }
    default: break;  // no payload
  }
  const auto size = static_cast<std::uint32_t>(w.bytes.size() - vu::header_size);
  std::memcpy(w.bytes.data() + 8, &size, sizeof(size));
  return std::move(w.bytes);
}

struct world {
  fake_device dev;
  fake_mapper mapper;
  fake_allocator allocator;
  std::unique_ptr<session_t> s;
  std::set<int> held;                 ///< handed to the session, not reported closed
  std::set<int> closed;               ///< reported closed (fds are never reused)
  std::array<bool, 8> started{};      ///< from start/stop actions
  int next_fd = 1000;

  world(fake_device d, bool with_allocator) : dev(d) {
    if (with_allocator) s = std::make_unique<session_t>(dev, mapper, allocator);
    else s = std::make_unique<session_t>(dev, mapper);
  }

  void apply(const outcome_t& o) {
    for (const be::action& a : o.actions()) {
      switch (a.kind) {
        case be::action_kind::close_fd:
          FUZZ_CHECK(held.erase(a.fd) == 1 && "close_fd of an fd the session does not hold");
          FUZZ_CHECK(closed.insert(a.fd).second);
          break;
        case be::action_kind::start_vring:
          FUZZ_CHECK(a.index < dev.queues && !started[a.index] && "double start");
          started[a.index] = true;
          break;
        case be::action_kind::stop_vring:
          FUZZ_CHECK(a.index < dev.queues && started[a.index] && "stop without start");
          started[a.index] = false;
          break;
        case be::action_kind::enable_vring:
        case be::action_kind::disable_vring:
        case be::action_kind::vring_fds_changed:
          FUZZ_CHECK(a.index < dev.queues);
          FUZZ_CHECK(a.fd == be::no_fd);
          break;
        case be::action_kind::memory_changed: break;
      }
    }
  }

  void check_state() {
    // fds: exactly the held ones sit in vring slots, each once.
    std::set<int> in_slots;
    for (std::uint32_t i = 0; i < dev.queues; ++i) {
      const be::vring_state& v = s->vring(i);
      for (int fd : {v.kick_fd, v.call_fd, v.err_fd})
        if (fd != be::no_fd) FUZZ_CHECK(in_slots.insert(fd).second && "fd in two slots");
    }
    if (s->backend_fd() != be::no_fd)
      FUZZ_CHECK(in_slots.insert(s->backend_fd()).second && "channel fd also in a slot");
    FUZZ_CHECK(in_slots == held && "fd leaked or slot holds a closed fd");
    // mappings: the mapper's live ones are the session's regions, its log and a mapped
    // inflight region; the allocator's live one an allocated inflight region.
    const auto& regions = s->regions();
    const auto& inf = s->inflight();
    const bool inf_mapped = inf.host != nullptr && !inf.allocated;
    FUZZ_CHECK(mapper.live() == regions.size() + (s->log().mapped() ? 1 : 0) + (inf_mapped ? 1 : 0));
    for (std::size_t k = 0; k < regions.size(); ++k)
      FUZZ_CHECK(mapper.is_live(regions[k].host, regions[k].size, regions[k].mmap_offset));
    FUZZ_CHECK(allocator.live() == (inf.host != nullptr && inf.allocated ? 1u : 0u));
    if (inf.host != nullptr) {
      FUZZ_CHECK(inf.num_queues >= 1 && inf.num_queues <= dev.queues && inf.queue_size >= 1);
      FUZZ_CHECK(inf.size >= be::inflight_layout::region_bytes(inf.num_queues, inf.queue_size));
      for (std::uint32_t i = 0; i < 8; ++i) {
        const be::inflight_area a = s->inflight_area_of(i);
        FUZZ_CHECK(a.empty() == (i >= inf.num_queues));
        if (a.empty()) continue;
        FUZZ_CHECK(a.bytes.data() >= inf.host &&
                   a.bytes.data() + a.bytes.size() <= inf.host + inf.size);
      }
    }
    FUZZ_CHECK(!s->log().mapped() || s->log().size() != 0);
    // vrings: started ones lie in guest memory with a valid size, and agree with the device.
    const bool packed = (s->features() & kPacked) != 0;
    for (std::uint32_t i = 0; i < dev.queues; ++i) {
      const be::vring_state& v = s->vring(i);
      FUZZ_CHECK(v.started == started[i] && v.started == dev.running[i]);
      FUZZ_CHECK(v.enabled == dev.enabled[i]);
      if (!v.started) continue;
      const std::size_t n = v.config.size;
      FUZZ_CHECK(n != 0 && n <= dev.max_size && n == v.num);
      FUZZ_CHECK(packed || (n & (n - 1)) == 0);
      auto& t = s->memory();
      FUZZ_CHECK(t.map(v.config.desc_table, 16 * n, vireo::access::read).has_value());
      FUZZ_CHECK(t.map(v.config.driver_area, packed ? 4 : 6 + 2 * n, vireo::access::read)
                     .has_value());
      FUZZ_CHECK(t.map(v.config.device_area, packed ? 4 : 6 + 8 * n, vireo::access::write)
                     .has_value());
    }
  }

  void send(const std::vector<std::byte>& frame, std::size_t nfds) {
    std::array<int, 15> fds{};
    for (std::size_t k = 0; k < nfds; ++k) fds[k] = next_fd++;
    const auto m = vu::decode(frame, std::span<const int>(fds.data(), nfds), vu::channel::main,
                              s->codec());
    if (!m) return;  // the caller closes every fd
    for (std::size_t k = 0; k < m->fd_count; ++k) {
      FUZZ_CHECK(m->fds[k] == fds[k]);
      FUZZ_CHECK(held.insert(m->fds[k]).second);
    }
    const outcome_t out = s->handle(*m);
    apply(out);
    check_reply(*m, out);
    check_state();
  }

  /// config_changed(), then a front-end answer picked by `how` when one is awaited.
  void config_change(std::uint8_t how) {
    const auto msg = s->config_changed();
    if (!msg) {
      FUZZ_CHECK(msg.error() == errc::vhost_no_backend_channel ||
                 msg.error() == errc::vhost_not_negotiated ||
                 msg.error() == errc::vhost_out_of_order);
      return;
    }
    check_backend_message(*msg, vu::backend_request::config_change_msg);
    if (msg->awaits_reply) answer(vu::backend_request::config_change_msg, how);
  }

  /// encode_backend_request() of request 1 + code % 10 with `payload`.
  void backend_request(std::uint8_t code, const std::vector<std::byte>& payload, std::uint8_t how) {
    const auto r = static_cast<vu::backend_request>(1 + code % 10);
    const bool pending = s->backend_reply_pending();
    const auto msg = s->encode_backend_request(r, payload, 0);
    if (!msg) {
      FUZZ_CHECK(s->backend_reply_pending() == pending);
      return;
    }
    FUZZ_CHECK(!pending);
    check_backend_message(*msg, r);
    if (msg->awaits_reply) answer(r, how);
  }

  void check_backend_message(const be::backend_message& msg, vu::backend_request r) {
    FUZZ_CHECK(msg.size >= vu::header_size && msg.size <= msg.buffer.size());
    const std::vector<std::byte> copy(msg.bytes().begin(), msg.bytes().end());
    const auto back = vu::decode(copy, {}, vu::channel::backend, s->codec());
    FUZZ_CHECK(back.has_value() && "a back-end message that does not decode");
    FUZZ_CHECK(back->request() == static_cast<std::uint32_t>(r));
    FUZZ_CHECK(back->need_reply() == msg.awaits_reply);
    FUZZ_CHECK(s->backend_reply_pending() == msg.awaits_reply);
  }

  /// The front-end's reply to `r`: 0 ok, 1 failure, 2 another code, 3 NEED_REPLY echoed.
  void answer(vu::backend_request r, std::uint8_t how) {
    frame_writer w;
    const std::uint32_t code = static_cast<std::uint32_t>(r);
    w.u32((how & 3) == 2 ? (code % 10) + 1 : code);
    w.u32(vu::flag::reply_flags | ((how & 3) == 3 ? vu::flag::need_reply : 0));
    w.u32(8);
    w.u64((how & 3) == 1 ? 1 : 0);
    const auto got = s->backend_reply(w.bytes, {});
    FUZZ_CHECK(!s->backend_reply_pending() && "a reply leaves the request answered");
    switch (how & 3) {
      case 0: FUZZ_CHECK(got.has_value()); break;
      case 1: FUZZ_CHECK(!got && got.error() == errc::vhost_backend_request_failed); break;
      case 2: FUZZ_CHECK(!got && got.error() == errc::vhost_reply_mismatch); break;
      default: FUZZ_CHECK(!got && got.error() == errc::vhost_bad_reply_flags); break;
    }
  }

  /// An unsolicited reply on the back-end channel.
  void stray_reply(const std::vector<std::byte>& frame) {
    const bool pending = s->backend_reply_pending();
    const auto got = s->backend_reply(frame, {});
    if (!pending) FUZZ_CHECK(!got && got.error() == errc::vhost_reply_not_expected);
    FUZZ_CHECK(!s->backend_reply_pending());
  }

  /// A device write of `len` bytes at `addr` through the logged memory: it succeeds only inside
  /// guest memory and, with logging on, only where the log reaches, and then marks its pages.
  void logged_write(std::uint64_t addr, std::size_t len) {
    std::array<std::byte, 300> data{};
    const vireo::const_bytes in{data.data(), len};
    be::dirty_log& log = s->log();
    const auto r = s->logged_guest_memory().write(vireo::gpa{addr}, in);
    if (!r) {
      FUZZ_CHECK(r.error() == errc::vhost_log_range || r.error() == errc::out_of_bounds ||
                 r.error() == errc::address_overflow || r.error() == errc::not_contiguous ||
                 r.error() == errc::access_denied);
      if (r.error() == errc::vhost_log_range) FUZZ_CHECK(log.active() && !log.covers(addr, len));
      return;
    }
    if (log.active() && len != 0) {
      FUZZ_CHECK(log.dirty(addr) && log.dirty(addr + len - 1) && "a logged write left a page clean");
    }
  }

  void check_reply(const vu::message& m, const outcome_t& out) {
    const vireo::const_bytes r = out.reply();
    // Reply fds: only the GET_INFLIGHT_FD region's, which the session then holds.
    if (!out.reply_fds().empty()) {
      FUZZ_CHECK(out.reply_fds().size() == 1 && !r.empty());
      FUZZ_CHECK(m.request() == static_cast<std::uint32_t>(fr::get_inflight_fd));
      FUZZ_CHECK(s->inflight().allocated && s->inflight().fd == out.reply_fds()[0]);
      FUZZ_CHECK(out.status.has_value());
    }
    // The options the session answered with (a SET_PROTOCOL_FEATURES may just have changed them).
    const vu::codec_options& o = s->codec();
    const bool due = vu::reply_expected(m, o);
    if (r.empty()) {
      FUZZ_CHECK((!due || out.close_connection) && "a due reply is missing");
      return;
    }
    FUZZ_CHECK(due && "a reply that is not due");
    FUZZ_CHECK(r.size() <= be::max_reply_size);
    std::uint32_t flags = 0;
    std::memcpy(&flags, r.data() + 4, sizeof(flags));
    FUZZ_CHECK(flags == vu::flag::reply_flags);
    // In a buffer of its exact size so that the decoder cannot read past it unnoticed.
    const std::vector<std::byte> copy(r.begin(), r.end());
    const auto back = vu::decode_reply(copy, out.reply_fds(), vu::channel::main, m.request(), o);
    FUZZ_CHECK(back.has_value() && "the reply does not decode as the reply to its request");
    FUZZ_CHECK(back->request() == m.request());
    if (!out.status && vu::info(vu::channel::main, m.request()).reply == vu::reply_rule::ack_only &&
        back->type == vu::payload_type::u64)
      FUZZ_CHECK(vu::u64_of(*back) != 0 && "a failure acknowledged as success");
  }

  void disconnect() {
    const outcome_t out = s->disconnect();
    apply(out);
    check_state();
    FUZZ_CHECK(held.empty() && "fd leaked by disconnect");
    FUZZ_CHECK(mapper.live() == 0 && "mapping leaked by disconnect");
    FUZZ_CHECK(allocator.live() == 0 && "inflight region leaked by disconnect");
    FUZZ_CHECK(s->backend_fd() == be::no_fd && !s->backend_reply_pending());
    FUZZ_CHECK(!s->log().mapped() && !s->log().logging());
    FUZZ_CHECK(!s->owned() && !s->features_set());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  vireo_fuzz::byte_source in(data + 1, size - 1);
  world w(device_from(data[0]), (data[0] & 32) != 0);
  for (std::size_t step = 0; step < kMaxSteps && !in.empty(); ++step) {
    const std::uint8_t ctl = in.u8();
    if ((ctl & 0x80) != 0) {
      w.disconnect();
      continue;
    }
    w.mapper.fail = (ctl & 0x40) != 0;
    w.allocator.fail = (ctl & 0x40) != 0;
    std::vector<std::byte> frame;
    if ((ctl & 0x10) == 0) {
      const std::uint8_t c = in.u8() % 48;
      switch (c) {
        case 44: w.config_change(in.u8()); continue;
        case 45: {
          const std::uint8_t code = in.u8(), how = in.u8();
          std::vector<std::byte> payload(in.u8() % 48);
          for (auto& b : payload) b = std::byte{in.u8()};
          w.backend_request(code, payload, how);
          continue;
        }
        case 46: {
          const std::uint64_t addr = std::uint64_t{in.u32()} << (in.u8() % 13);
          w.logged_write(addr, in.u16() % 301);
          continue;
        }
        case 47: {
          std::vector<std::byte> reply(vu::header_size + 8);
          for (auto& b : reply) b = std::byte{in.u8()};
          w.stray_reply(reply);
          continue;
        }
        default: break;
      }
      frame = build_template(1 + c, (ctl & 0x20) != 0, in);
    } else {
      for (std::size_t k = 0; k < vu::header_size && !in.empty(); ++k)
        frame.push_back(std::byte{in.u8()});
      if (frame.size() == vu::header_size) {
        std::uint32_t declared = 0;
        std::memcpy(&declared, frame.data() + 8, sizeof(declared));
        for (std::uint32_t k = 0; k < declared && !in.empty(); ++k)
          frame.push_back(std::byte{in.u8()});
      }
    }
    w.send(frame, ctl & 0x0F);
  }
  w.disconnect();
  return 0;
}
