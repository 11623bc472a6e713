// SPDX-License-Identifier: Apache-2.0
// Helpers for the i2c device-model tests: a rig of mock driver + device queue (split or packed,
// over faulty_memory so faults can be injected) + simulated bus with a 24C02 at 0x50 and a
// 16-register chip at 0x20 + i2c::device, and driver-side shorthands. Test code.
#pragma once

#include "i2c_ring_support.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vireo/i2c/device.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"

namespace vireo_i2c_test {

using sim_bus = i2c::sim::bus<8>;

/// The two ring layouts, as doctest template parameters.
struct split_layout {
  using mock = split_mock;
  using queue = vireo::ring::split_device<mem_t>;
  static constexpr const char* name = "split";
};
struct packed_layout {
  using mock = packed_mock;
  using queue = vireo::ring::packed_device<mem_t>;
  static constexpr const char* name = "packed";
};

/// Bounce bytes of the rig's device: small, so that overflowing it is easy to arrange.
inline constexpr std::size_t rig_bounce = 64;

struct rig_options {
  std::uint16_t size = 32;
  bool indirect = false;
  bool in_order = false;
  i2c::device_options dev{};
};

/// One driver, one device, one bus. Allocate with make_rig(): the device holds 43 chains inline.
template <typename Layout>
struct rig {
  using mock_t = typename Layout::mock;
  using queue_t = typename Layout::queue;
  using device_t = i2c::device<queue_t, sim_bus, i2c::default_max_group, rig_bounce>;

  mock_t m;
  mem_t fm{m.memory()};  ///< what the device sees: the mock's memory, faults on demand
  queue_t q{fm};
  sim_bus bus;
  i2c::sim::eeprom_24c02 eeprom;
  i2c::sim::register_map<16> regs;
  device_t dev{q, bus};

  explicit rig(const rig_options& o) : m(opts_of(o)) {
    REQUIRE(q.configure(m.config()).has_value());
    REQUIRE(bus.attach(a7(0x50), eeprom).has_value());
    REQUIRE(bus.attach(a7(0x20), regs).has_value());
    dev.set_options(o.dev);
    for (std::size_t i = 0; i < eeprom.size; ++i)
      eeprom.contents()[i] = static_cast<std::byte>(i ^ 0x5A);
  }

  static typename mock_t::options opts_of(const rig_options& o) {
    auto mo = mock_opts<mock_t>(o.size, o.indirect);
    if (o.in_order) mo.features.set(vireo::transport_feature::in_order);
    return mo;
  }

  /// process(), which must succeed.
  bool process() {
    auto r = dev.process();
    REQUIRE(r.has_value());
    return *r;
  }
  void flush() { REQUIRE(dev.flush().has_value()); }

  /// Add one transfer (one group) through the real driver.
  std::vector<pending> transfer(const std::vector<i2c::message>& msgs,
                                add_mode mode = add_mode::automatic) {
    return add_transfer(m, msgs, mode);
  }
  /// Nothing completed is waiting for the driver.
  bool nothing_completed() {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    return !u->has_value();
  }
  /// Write `data` into fresh guest memory (a write's buf).
  gpa put(const std::vector<std::byte>& data) { return m.put(data); }
  /// `n` bytes of fresh guest memory filled with 0xCC (a read's buf).
  gpa fresh(std::size_t n) {
    const gpa g = m.alloc(n);
    std::memset(m.host(g, n).data(), 0xCC, n);
    return g;
  }
  std::vector<std::byte> bytes_at(gpa g, std::size_t n) {
    auto h = m.host(g, n);
    return {h.begin(), h.end()};
  }
};

template <typename Layout>
std::unique_ptr<rig<Layout>> make_rig(const rig_options& o = {}) {
  return std::make_unique<rig<Layout>>(o);
}

/// A request laid out by hand (hostile or unusual shapes). Each inner vector of `out` is one
/// readable buffer after the header; each entry of `in` one writable buffer before the status.
struct raw {
  std::vector<std::byte> hdr;                ///< usually header(addr, flags); any bytes allowed
  std::vector<std::vector<std::byte>> out{};  ///< a write's buf, split as given
  std::vector<std::uint32_t> in{};            ///< a read's buf, split as given
  bool status = true;                         ///< add the 1-byte in_hdr buffer
  gpa at{};                                   ///< nonzero: put the header here instead (hostile)
};

/// Add raw requests through the real driver, in order; user_data = index. pending::data is the
/// first writable buffer (a read's buf), bufs.readable() the header's buffer and the first buffer
/// after it (a write's buf), bufs.status_at the status byte (gpa{0} without one).
template <typename Mock>
std::vector<pending> add_raw(Mock& m, const std::vector<raw>& reqs,
                             add_mode mode = add_mode::automatic) {
  std::vector<pending> out;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const raw& q = reqs[i];
    std::vector<buffer> r, w;
    const auto hlen = static_cast<std::uint32_t>(q.hdr.size());
    r.push_back({q.at != gpa{} ? q.at : m.put(q.hdr), hlen});
    for (const auto& o : q.out) r.push_back({m.put(o), static_cast<std::uint32_t>(o.size())});
    pending p;
    // The header's buffer (for checks that it never changes) and the first data buffer.
    p.bufs.readable_count = r.size() > 1 ? 2 : 1;
    for (std::uint8_t k = 0; k < p.bufs.readable_count; ++k) p.bufs.readable_bufs[k] = r[k];
    std::uint32_t wlen = 0;
    for (std::uint32_t n : q.in) {
      const gpa g = m.alloc(n);
      std::memset(m.host(g, n).data(), 0xCC, n);
      if (p.data == gpa{}) p.data = g;
      w.push_back({g, n});
      wlen += n;
    }
    if (q.status) {
      const gpa st = m.alloc(1);
      m.host(st, 1)[0] = std::byte{0xEE};
      w.push_back({st, 1});
      p.bufs.status_at = st;
      wlen += 1;
    }
    p.bufs.writable_len = wlen;
    auto id = m.driver().add(r, w, i, mode);
    REQUIRE(id.has_value());
    p.id = *id;
    out.push_back(p);
  }
  return out;
}

/// Reclaim `n` completions and return them in the order the driver got them.
template <typename Mock>
std::vector<vireo::ring::used_buffer> reclaim_n(Mock& m, std::size_t n) {
  std::vector<vireo::ring::used_buffer> got;
  for (std::size_t k = 0; k < n; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    got.push_back(**u);
  }
  return got;
}

inline std::vector<std::byte> bytes_of(std::initializer_list<unsigned> l) {
  std::vector<std::byte> v;
  for (unsigned x : l) v.push_back(static_cast<std::byte>(x));
  return v;
}

/// A target that records what the bus did to it, for checking transactions.
struct recorder {
  struct event {
    char kind;  ///< 'S' start write, 's' start read, 'W' write, 'R' read, 'P' stop
    std::size_t len;
  };
  std::vector<event> log;
  bool ack = true;
  bool start(i2c::direction d) noexcept {
    log.push_back({d == i2c::direction::write ? 'S' : 's', 0});
    return ack;
  }
  bool write(vireo::const_bytes b) noexcept {
    log.push_back({'W', b.size()});
    return true;
  }
  bool read(vireo::bytes b) noexcept {
    for (auto& x : b) x = std::byte{0x42};
    log.push_back({'R', b.size()});
    return true;
  }
  void stop() noexcept { log.push_back({'P', 0}); }
  std::string kinds() const {
    std::string s;
    for (const auto& e : log) s += e.kind;
    return s;
  }
};

}  // namespace vireo_i2c_test
