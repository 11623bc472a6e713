// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the virtio-i2c device model (vireo/i2c/device.hpp) over a split or packed ring,
// fed by a hostile driver (arbitrary headers, flags, lengths, descriptor splits, buffers outside
// guest memory or aliasing each other, FAIL_NEXT groups left open, any kick pattern), with a
// simulated bus (24C02 EEPROM, register chips) that NACKs on demand and guest memory that faults
// on demand. Invariants: no crash, UB or hang; process() and flush() never fail on a sound ring;
// every chain the driver added comes back exactly once, with a used length of 0 or its whole
// writable length; OK only for a well-formed request to a present target; a read answered ERR
// has its buf zeroed; readable bytes never change; stats agree with what came back.
// Input format: docs/i2c.md ("Fuzzing the device model").
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/device.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace i2c = vireo::i2c;
namespace ring = vireo::ring;
using vireo_fuzz::byte_source;

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using bus_t = i2c::sim::bus<4>;

constexpr std::size_t kMaxGroup = 8;     // small, so that overflowing groups are reachable
constexpr std::size_t kBounce = 512;     // small, so that bounce exhaustion is reachable
constexpr std::size_t kSlotBytes = 1024; // guest memory of one in-flight request
constexpr std::size_t kSlots = 64;       // the largest queue: one slot per request in flight
constexpr int kMaxOps = 256;

/// Addresses the harness uses: present (EEPROM, register chip, 10-bit register chip) and absent.
constexpr std::uint16_t kAddrs[] = {0x00A0, 0x0040, 0x00A2, 0xA5F4 /* 10-bit 0x2A5 */, 0x0000};

struct record {
  std::uint64_t id = 0;
  bool in_flight = false;
  int slot = -1;
  std::vector<ring::buffer> readable, writable;
  std::vector<std::byte> readable_bytes;  ///< what the driver put there (never to change)
  std::uint32_t writable_len = 0;
};

class harness {
 public:
  explicit harness(const std::uint8_t* data, std::size_t size) : in_(data, size) {}

  void run() {
    const std::uint8_t cfg = in_.u8();
    const std::uint8_t o = in_.u8();
    packed_ = (cfg & 1u) != 0;
    vireo::feature_set f{vireo::transport_feature::version_1};
    if (cfg & 2u) f.set(vireo::transport_feature::indirect_desc);
    if (cfg & 4u) f.set(vireo::transport_feature::in_order);
    if (cfg & 8u) f.set(vireo::transport_feature::event_idx);
    static constexpr std::uint16_t sizes[] = {4, 8, 16, 64};
    size_ = sizes[(cfg >> 4) & 3u];
    opt_.allow_reserved = (cfg & 0x40u) != 0;
    if (cfg & 0x80u) opt_.features = vireo::feature_set{};  // ZERO_LENGTH_REQUEST not negotiated
    opt_.max_group = o & 7u;                               // 0: kMaxGroup
    static constexpr std::uint32_t lens[] = {65535, 16, 0, 200};
    opt_.max_len = lens[(o >> 3) & 3u];
    if (packed_) run_with<vireo::testing::mock_packed_driver, ring::packed_device<mem_t, 8>>(f);
    else run_with<vireo::testing::mock_split_driver, ring::split_device<mem_t, 8>>(f);
  }

 private:
  template <typename Mock, typename Queue>
  void run_with(const vireo::feature_set& f) {
    typename Mock::options mo;
    mo.size = size_;
    mo.features = f;
    mo.indirect_entries = f.has(vireo::transport_feature::indirect_desc) ? 8 : 0;
    mo.data_bytes = kSlots * kSlotBytes + 64;
    Mock m{mo};
    mem_t fm{m.memory()};
    Queue q{fm};
    FUZZ_CHECK(q.configure(m.config()).has_value());
    bus_t bus;
    i2c::sim::eeprom_24c02 eeprom;
    i2c::sim::register_map<16> regs;
    i2c::sim::register_map<4> far;
    FUZZ_CHECK(bus.attach(*i2c::address::seven_bit(0x50), eeprom).has_value());
    FUZZ_CHECK(bus.attach(*i2c::address::seven_bit(0x20), regs).has_value());
    FUZZ_CHECK(bus.attach(*i2c::address::ten_bit(0x2A5), far).has_value());
    regs.set_read_only(7);
    using device_t = i2c::device<Queue, bus_t, kMaxGroup, kBounce>;
    auto dev = std::make_unique<device_t>(q, bus, opt_);
    arena_ = m.alloc(kSlots * kSlotBytes, 64);
    slot_used_.fill(false);

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      switch (in_.u8() % 8u) {
        case 0: add_hostile(m); break;
        case 1: add_transfer(m); break;
        case 2: serve(fm, *dev, false); break;
        case 3: serve(fm, *dev, true); break;
        case 4: reclaim(m, in_.u8() % 8u + 1); break;
        case 5: bus_fault(bus); break;
        case 6: mem_mode_ = in_.u8(); break;
        default: {
          i2c::device_options o = dev->options();
          o.max_group = in_.u8() % 10u;
          dev->set_options(o);
          break;
        }
      }
    }
    // The end: nothing more comes. A quiet process() and a flush() answer everything.
    mem_mode_ = 0;
    bus.clear_faults();
    serve(fm, *dev, false);
    serve(fm, *dev, false);
    serve(fm, *dev, true);
    FUZZ_CHECK(!dev->tail_held());
    reclaim(m, SIZE_MAX);
    for (const record& r : records_) FUZZ_CHECK(!r.in_flight);
    const auto& s = dev->stats();
    FUZZ_CHECK(s.requests_ok + s.requests_err == records_.size());
    FUZZ_CHECK(ok_seen_ <= s.requests_ok);  // every OK the driver saw was counted
    FUZZ_CHECK(s.transfers == bus.transfers());
    FUZZ_CHECK(s.groups == s.transfers + s.groups_not_run);
  }

  // ---- the driver ----------------------------------------------------------------------------

  /// A free 1 KiB slot of the arena for one request, or -1.
  int take_slot() {
    for (std::size_t i = 0; i < kSlots; ++i) {
      if (!slot_used_[i]) {
        slot_used_[i] = true;
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  gpa slot_addr(int slot, std::size_t off) const {
    return arena_.offset(static_cast<std::size_t>(slot) * kSlotBytes + off);
  }

  /// Add one request laid out by the input: any header, any flags, any split.
  template <typename Mock>
  void add_hostile(Mock& m) {
    const std::uint8_t ctl = in_.u8();
    const std::uint8_t shape = in_.u8();
    const std::uint8_t len = in_.u8();
    const std::uint8_t extra = in_.u8();
    const int slot = take_slot();
    if (slot < 0) return;
    // The header bytes.
    std::array<std::byte, 8> hdr{};
    std::size_t hlen = 8;
    const unsigned kind = ctl & 3u;
    std::uint16_t addr = kAddrs[(ctl >> 2) % 5u];
    std::uint32_t flags = (ctl >> 5) & 3u;  // FAIL_NEXT, M_RD
    if (kind == 1) addr = in_.u16();
    if (kind == 2) flags |= 1u << (2 + in_.u8() % 30u);  // a reserved bit
    if (kind == 3) hlen = in_.u8() % 8u;                 // a short header
    i2c::out_hdr h{};
    h.addr.set(addr);
    h.padding.set(ctl & 0x80u ? 0x5A5Au : 0);
    h.flags.set(flags);
    std::memcpy(hdr.data(), &h, 8);
    // Readable: the header cut in two (or not), then `len` bytes in 0-3 pieces, or none.
    // Writable: `len` (or extra) bytes in 0-3 pieces, then a status byte (or not).
    const unsigned rpieces = shape & 3u, wpieces = (shape >> 2) & 3u;
    const bool status = (shape & 0x10u) == 0;
    const bool cut_header = (shape & 0x20u) != 0;
    const bool oob = (shape & 0x40u) != 0;
    const bool alias = (shape & 0x80u) != 0;
    const bool read = (flags & i2c::flag::m_rd) != 0;
    const std::size_t rlen = read ? (extra & 1u ? extra % 7u : 0) : len;
    const std::size_t wlen = read ? len : (extra & 1u ? extra % 7u : 0);

    record r;
    r.slot = slot;
    std::size_t off = 0;
    auto add_readable = [&](const std::byte* src, std::size_t n) {
      const gpa g = slot_addr(slot, off);
      if (n != 0) std::memcpy(m.host(g, n).data(), src, n);
      r.readable.push_back({g, static_cast<std::uint32_t>(n)});
      off += n + 1;  // one guard byte between buffers
    };
    if (cut_header && hlen > 1) {
      add_readable(hdr.data(), hlen / 2);
      add_readable(hdr.data() + hlen / 2, hlen - hlen / 2);
    } else {
      add_readable(hdr.data(), hlen);
    }
    std::array<std::byte, 256> payload{};
    for (std::size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<std::byte>(ctl + i * 7u);
    split(rlen, rpieces,
          [&](std::size_t at, std::size_t n) { add_readable(payload.data() + at, n); });
    auto add_writable = [&](std::size_t n) {
      gpa g = slot_addr(slot, off);
      if (alias && !r.writable.empty()) {
        // Point into any request's slot (maybe one in flight): device writes may land on
        // other requests' bytes, as a hostile driver can arrange.
        g = arena_.offset((std::size_t{in_.u16()} % (kSlots * kSlotBytes - n)));
        aliased_ = true;
      }
      if (n != 0) std::memset(m.host(g, n).data(), 0xCC, n);
      r.writable.push_back({g, static_cast<std::uint32_t>(n)});
      r.writable_len += static_cast<std::uint32_t>(n);
      off += n + 1;
    };
    split(wlen, wpieces, [&](std::size_t, std::size_t n) { add_writable(n); });
    if (status) add_writable(1);
    if (oob) r.readable[0].addr = gpa{0x100};  // below guest memory: the ring refuses the chain
    if (r.readable.size() + r.writable.size() == 0) r.readable.push_back({slot_addr(slot, 0), 0});
    for (const auto& b : r.readable) {
      if (b.addr == gpa{0x100} || b.len == 0) continue;
      const auto v = m.host(b.addr, b.len);
      r.readable_bytes.insert(r.readable_bytes.end(), v.begin(), v.end());
    }
    const auto mode = static_cast<ring::add_mode>(extra >> 6 < 3 ? extra >> 6 : 0);
    submit(m, std::move(r), mode);
  }

  /// Add a well-formed transfer of 1-6 messages through encode_request (Linux's shapes).
  template <typename Mock>
  void add_transfer(Mock& m) {
    const std::uint8_t ctl = in_.u8();
    const std::size_t n = (ctl & 7u) % 6u + 1;
    const bool terminated = (ctl & 0x80u) == 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t sel = in_.u8();
      const std::uint8_t len = in_.u8();
      const int slot = take_slot();
      if (slot < 0) return;
      const std::uint16_t raw = kAddrs[(sel & 7u) % 5u];
      auto a = i2c::decode_address(i2c::encoded_address{raw});
      FUZZ_CHECK(a.has_value());
      const bool read = (sel & 8u) != 0;
      const std::uint32_t blen = len;  // the buf fits its slot: 16 + 255 < kSlotBytes
      const gpa buf = slot_addr(slot, 16);
      const auto host = m.host(buf, blen + 1);
      for (std::size_t k = 0; k <= blen; ++k)  // a write starts with register/word address 0
        host[k] = read ? std::byte{0xCC} : static_cast<std::byte>(k);
      const i2c::message msg{*a, read ? i2c::direction::read : i2c::direction::write, buf, blen};
      const bool fail_next = !terminated || i2c::transfer_fail_next(i, n);
      const i2c::header_slots hs{slot_addr(slot, 0), slot_addr(slot, 8)};
      auto b = i2c::encode_request(m.memory(), msg, fail_next, hs, i2c::device_features());
      FUZZ_CHECK(b.has_value());
      record r;
      r.slot = slot;
      r.readable.assign(b->readable().begin(), b->readable().end());
      r.writable.assign(b->writable().begin(), b->writable().end());
      r.writable_len = b->writable_len;
      for (const auto& x : r.readable) {
        const auto v = m.host(x.addr, x.len);
        r.readable_bytes.insert(r.readable_bytes.end(), v.begin(), v.end());
      }
      if (!submit(m, std::move(r), ring::add_mode::automatic)) return;
    }
  }

  template <typename Mock>
  bool submit(Mock& m, record r, ring::add_mode mode) {
    r.id = records_.size();
    auto got = m.driver().add(r.readable, r.writable, r.id, mode);
    if (!got) {
      // ring_full, invalid_argument (too many buffers), total_len_overflow: nothing was added.
      FUZZ_CHECK(got.error() == errc::ring_full || got.error() == errc::invalid_argument);
      slot_used_[static_cast<std::size_t>(r.slot)] = false;
      return false;
    }
    r.in_flight = true;
    records_.push_back(std::move(r));
    return true;
  }

  /// Cut n bytes into `pieces` buffers (0: none at all when n is 0; else at least one).
  template <typename F>
  static void split(std::size_t n, unsigned pieces, F emit) {
    if (n == 0 && pieces == 0) return;
    if (pieces == 0) pieces = 1;
    std::size_t at = 0;
    for (unsigned p = 0; p < pieces; ++p) {
      const std::size_t len = p + 1 == pieces ? n - at : (n - at) / 2;
      emit(at, len);
      at += len;
    }
  }

  // ---- the device ----------------------------------------------------------------------------

  template <typename Device>
  void serve(mem_t& fm, Device& dev, bool flush) {
    // bits 0-1: 1 no host views (every buf through the bounce area), 2 two slots fault, 3 every
    // access after the next (mode >> 3) faults; bit 2: no host views as well. Chains held from
    // an earlier call keep the views they were built with, so faults also hit held requests.
    const unsigned mode = mem_mode_ & 3u;
    if (mode == 1 || (mem_mode_ & 4u) != 0) fm.deny_map(true);
    const std::size_t pick = mem_mode_ >> 3;
    if (mode == 2) fm.fail_range(arena_.offset(pick * 2 * kSlotBytes), 2 * kSlotBytes);
    if (mode == 3) fm.fail_after(pick);
    auto r = flush ? dev.flush() : dev.process();
    fm.clear_faults();
    FUZZ_CHECK(r.has_value());  // a sound ring never breaks, whatever the requests hold
  }

  void bus_fault(bus_t& bus) {
    const std::uint8_t b = in_.u8();
    switch (b & 3u) {
      case 0: bus.nack_once(*i2c::decode_address(i2c::encoded_address{kAddrs[(b >> 2) % 4u]}));
        break;
      case 1: bus.fail_after(b >> 2); break;
      default: bus.clear_faults(); break;
    }
  }

  // ---- what comes back -----------------------------------------------------------------------

  template <typename Mock>
  void reclaim(Mock& m, std::size_t max) {
    for (std::size_t k = 0; k < max; ++k) {
      auto u = m.driver().reclaim();
      FUZZ_CHECK(u.has_value());  // the driver never sees a bad id, a double completion, or len
      if (!u->has_value()) return;  // beyond the writable length (it would break on those)
      const ring::used_buffer ub = **u;
      FUZZ_CHECK(ub.user_data < records_.size());
      record& r = records_[ub.user_data];
      FUZZ_CHECK(r.in_flight);
      r.in_flight = false;
      slot_used_[static_cast<std::size_t>(r.slot)] = false;
      check_completion(m, r, ub.len);
    }
  }

  template <typename Mock>
  void check_completion(Mock& m, const record& r, std::uint32_t used) {
    // complete() and reject_request() report the whole writable length or nothing.
    FUZZ_CHECK(used == 0 || used == r.writable_len);
    if (!aliased_) {
      std::vector<std::byte> now;
      for (const auto& b : r.readable) {
        if (b.addr == gpa{0x100} || b.len == 0) continue;
        const auto v = m.host(b.addr, b.len);
        now.insert(now.end(), v.begin(), v.end());
      }
      FUZZ_CHECK(now == r.readable_bytes);  // §5.16.6.4: addr, flags and a write's buf unchanged
    }
    if (used == 0 || aliased_) return;
    std::vector<std::byte> w;
    for (const auto& b : r.writable) {
      const auto v = m.host(b.addr, b.len);
      w.insert(w.end(), v.begin(), v.end());
    }
    const std::byte st = w.back();
    FUZZ_CHECK(st == std::byte{0} || st == std::byte{1});
    if (st == std::byte{1}) {
      for (std::size_t i = 0; i + 1 < w.size(); ++i) FUZZ_CHECK(w[i] == std::byte{0});
      return;
    }
    ++ok_seen_;
    FUZZ_CHECK(well_formed(r));
  }

  /// OK is given only to a request the model accepts (§5.16.6.1 layout, flags, limits, a valid
  /// and allowed address of a target on the bus).
  bool well_formed(const record& r) const {
    const auto& rb = r.readable_bytes;
    if (rb.size() < 8 || r.writable_len == 0) return false;
    auto byte = [&](std::size_t i) { return std::to_integer<std::uint32_t>(rb[i]); };
    const auto addr = static_cast<std::uint16_t>(byte(0) | byte(1) << 8);
    const std::uint32_t flags = byte(4) | byte(5) << 8 | byte(6) << 16 | byte(7) << 24;
    if (flags & ~3u) return false;
    const bool read = (flags & 2u) != 0;
    if (read && rb.size() != 8) return false;
    if (!read && r.writable_len != 1) return false;
    const std::size_t len = read ? r.writable_len - 1 : rb.size() - 8;
    if (len == 0 && !opt_.features.has(i2c::feature::zero_length_request)) return false;
    if (len > opt_.max_len) return false;
    return addr == 0x00A0 || addr == 0x0040 || addr == 0xA5F4;
  }

  byte_source in_;
  bool packed_ = false;
  std::uint16_t size_ = 4;
  i2c::device_options opt_{};
  gpa arena_{};
  std::array<bool, kSlots> slot_used_{};
  std::vector<record> records_;
  std::uint64_t ok_seen_ = 0;
  std::uint8_t mem_mode_ = 0;
  bool aliased_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
