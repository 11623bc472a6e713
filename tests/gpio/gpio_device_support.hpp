// SPDX-License-Identifier: Apache-2.0
// A test rig for the virtio-gpio device model: two mock drivers (requestq, eventq) over real
// rings of either layout, device queues (optionally over faulty_memory), a simulated chip, the
// device, and driver-side helpers to send messages, queue eventq pairs and read what came back.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

namespace vireo_gpio_dev_test {

namespace gpio = vireo::gpio;
namespace ring = vireo::ring;
using vireo::byte_writer;
using vireo::const_bytes;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo_test::err;
using gpio::direction;
using gpio::irq_type;
using gpio::level;
using gpio::msg_type;

using chip_t = gpio::sim::chip<64, 64>;
using faulty = vireo::faulty_memory<vireo::flat_memory>;

/// Layout tags for TEST_CASE_TEMPLATE: the mock driver and the device queue type.
struct split_flat {
  using mock = vireo::testing::mock_split_driver;
  using queue = ring::split_device<vireo::flat_memory>;
};
struct packed_flat {
  using mock = vireo::testing::mock_packed_driver;
  using queue = ring::packed_device<vireo::flat_memory>;
};
struct split_faulty {
  using mock = vireo::testing::mock_split_driver;
  using queue = ring::split_device<faulty>;
};
struct packed_faulty {
  using mock = vireo::testing::mock_packed_driver;
  using queue = ring::packed_device<faulty>;
};
struct any_split {
  using mock = vireo::testing::mock_split_driver;
  using queue = ring::any_device_queue<vireo::flat_memory>;
};
struct any_packed {
  using mock = vireo::testing::mock_packed_driver;
  using queue = ring::any_device_queue<vireo::flat_memory>;
};

/// What the driver got back for one requestq message.
struct reply {
  std::uint64_t tag = 0;
  std::uint32_t len = 0;                 ///< used length
  std::vector<std::uint8_t> bytes;       ///< the whole writable buffer after completion
  [[nodiscard]] std::uint8_t status() const { return bytes.empty() ? 0xff : bytes[0]; }
  [[nodiscard]] std::uint8_t value() const { return bytes.size() < 2 ? 0xff : bytes[1]; }
};

/// What the driver got back for one eventq pair.
struct irq_reply {
  std::uint64_t tag = 0;
  std::uint16_t line = 0;  ///< the line the driver queued the pair for (its own bookkeeping)
  std::uint32_t len = 0;
  std::uint8_t status = 0xee;  ///< the status byte (0xee: untouched)
};

struct rig_options {
  std::uint16_t lines = 8;
  std::vector<std::string_view> names{};
  bool offer_irq = true;
  bool accept_irq = true;
  std::uint16_t queue_size = 64;
};

inline constexpr std::uint8_t untouched = 0xee;  // prefill of every writable buffer
inline constexpr std::uint8_t st_ok = 0, st_err = 1;
inline constexpr std::uint8_t irq_invalid = 0, irq_valid = 1;

template <typename Layout>
struct rig {
  using mock_t = typename Layout::mock;
  using queue_t = typename Layout::queue;
  using memory_t = typename queue_t::memory_type;
  using device_t = gpio::device<queue_t, chip_t, 64>;

  explicit rig(const rig_options& o = {})
      : reqm(mock_opts(o.queue_size)), evtm(mock_opts(o.queue_size)),
        req_mem(reqm.memory()), evt_mem(evtm.memory()), reqq(req_mem), evtq(evt_mem),
        chip(o.lines) {
    for (std::size_t i = 0; i < o.names.size(); ++i)
      chip.set_name(static_cast<std::uint16_t>(i), o.names[i]);
    REQUIRE(reqq.configure(reqm.config()).has_value());
    REQUIRE(evtq.configure(evtm.config()).has_value());
    auto d = device_t::create(chip, reqq, evtq, gpio::device_options{o.offer_irq});
    REQUIRE(d.has_value());
    dev.emplace(std::move(*d));
    feature_set accepted;
    if (o.accept_irq) accepted.set(gpio::feature::irq);
    REQUIRE(dev->set_driver_features(accepted).has_value());
  }

  static typename mock_t::options mock_opts(std::uint16_t size) {
    typename mock_t::options m;
    m.size = size;
    m.features = feature_set{vireo::transport_feature::version_1};
    m.data_bytes = std::size_t{1} << 18;
    return m;
  }

  // --- requestq, driver side ---

  /// Queue an arbitrary requestq chain: readable buffers with these bytes, writable buffers of
  /// these sizes (prefilled with `untouched`). Returns the tag used as user_data.
  std::uint64_t post_raw(std::vector<std::vector<std::uint8_t>> readable,
                         std::vector<std::uint32_t> writable_sizes) {
    std::vector<ring::buffer> r, w;
    for (auto& b : readable)
      r.push_back({reqm.put(const_bytes{reinterpret_cast<const std::byte*>(b.data()), b.size()}),
                   static_cast<std::uint32_t>(b.size())});
    for (std::uint32_t s : writable_sizes) {
      const gpa g = reqm.alloc(s == 0 ? 1 : s);
      std::memset(reqm.host(g, s == 0 ? 1 : s).data(), untouched, s == 0 ? 1 : s);
      w.push_back({g, s});
    }
    const std::uint64_t tag = next_tag++;
    auto id = reqm.driver().add(r, w, tag);
    REQUIRE(id.has_value());
    req_out.push_back({tag, w});
    return tag;
  }

  static std::vector<std::uint8_t> request_bytes(std::uint16_t type, std::uint16_t line,
                                                 std::uint32_t value) {
    return {static_cast<std::uint8_t>(type), static_cast<std::uint8_t>(type >> 8),
            static_cast<std::uint8_t>(line), static_cast<std::uint8_t>(line >> 8),
            static_cast<std::uint8_t>(value), static_cast<std::uint8_t>(value >> 8),
            static_cast<std::uint8_t>(value >> 16), static_cast<std::uint8_t>(value >> 24)};
  }

  /// Queue one well-framed message (8 readable bytes, `wlen` writable bytes).
  std::uint64_t post(std::uint16_t type, std::uint16_t line, std::uint32_t value,
                     std::uint32_t wlen = 2) {
    return post_raw({request_bytes(type, line, value)}, {wlen});
  }
  std::uint64_t post(msg_type t, std::uint16_t line, std::uint32_t value, std::uint32_t wlen = 2) {
    return post(static_cast<std::uint16_t>(t), line, value, wlen);
  }

  gpio::notifications serve_requests() {
    auto n = dev->process_requests();
    REQUIRE(n.has_value());
    return *n;
  }

  /// Every completed requestq chain, in used-ring order.
  std::vector<reply> take_replies() {
    std::vector<reply> out;
    while (true) {
      auto u = reqm.driver().reclaim();
      REQUIRE(u.has_value());
      if (!u->has_value()) break;
      reply r;
      r.tag = (*u)->user_data;
      r.len = (*u)->len;
      for (auto& p : req_out) {
        if (p.tag != r.tag) continue;
        for (const ring::buffer& b : p.writable)
          for (std::uint32_t i = 0; i < b.len; ++i)
            r.bytes.push_back(static_cast<std::uint8_t>(reqm.host(b.addr, b.len)[i]));
      }
      out.push_back(r);
    }
    return out;
  }

  /// Send one message, serve it, and return the one reply.
  reply request(std::uint16_t type, std::uint16_t line, std::uint32_t value,
                std::uint32_t wlen = 2) {
    post(type, line, value, wlen);
    serve_requests();
    auto r = take_replies();
    REQUIRE(r.size() == 1);
    return r[0];
  }
  reply request(msg_type t, std::uint16_t line, std::uint32_t value, std::uint32_t wlen = 2) {
    return request(static_cast<std::uint16_t>(t), line, value, wlen);
  }

  /// A successful SET_* (status OK, value 0, used length 2).
  void ok(msg_type t, std::uint16_t line, std::uint32_t value) {
    const reply r = request(t, line, value);
    INFO("type " << static_cast<int>(t) << " line " << line << " value " << value);
    CHECK(r.len == 2);
    CHECK(r.status() == st_ok);
    CHECK(r.value() == 0);
  }
  void enable(std::uint16_t line, irq_type t) {
    ok(msg_type::set_irq_type, line, static_cast<std::uint32_t>(t));
  }
  void set_dir(std::uint16_t line, direction d) {
    ok(msg_type::set_direction, line, static_cast<std::uint32_t>(d));
  }
  level get(std::uint16_t line) {
    const reply r = request(msg_type::get_value, line, 0);
    REQUIRE(r.len == 2);
    REQUIRE(r.status() == st_ok);
    return static_cast<level>(r.value());
  }

  // --- eventq, driver side ---

  /// Queue an arbitrary eventq chain; `line` is only the driver's bookkeeping.
  std::uint64_t queue_raw_pair(std::uint16_t line, std::vector<std::uint8_t> readable,
                               std::vector<std::uint32_t> writable_sizes) {
    std::vector<ring::buffer> r, w;
    if (!readable.empty())
      r.push_back({evtm.put(const_bytes{reinterpret_cast<const std::byte*>(readable.data()),
                                        readable.size()}),
                   static_cast<std::uint32_t>(readable.size())});
    for (std::uint32_t s : writable_sizes) {
      const gpa g = evtm.alloc(s == 0 ? 1 : s);
      std::memset(evtm.host(g, s == 0 ? 1 : s).data(), untouched, s == 0 ? 1 : s);
      w.push_back({g, s});
    }
    const std::uint64_t tag = next_tag++;
    auto id = evtm.driver().add(r, w, tag);
    REQUIRE(id.has_value());
    evt_out.push_back({tag, line, w});
    return tag;
  }
  /// Queue the well-formed pair for `line` (2 + 1 bytes), as Linux does.
  std::uint64_t queue_pair(std::uint16_t line) {
    return queue_raw_pair(line,
                          {static_cast<std::uint8_t>(line), static_cast<std::uint8_t>(line >> 8)},
                          {1});
  }

  gpio::notifications serve_events() {
    auto n = dev->process_events();
    REQUIRE(n.has_value());
    return *n;
  }
  gpio::notifications poll() {
    auto n = dev->poll_host();
    REQUIRE(n.has_value());
    return *n;
  }

  /// Every returned eventq pair, in used-ring order.
  std::vector<irq_reply> take_irqs() {
    std::vector<irq_reply> out;
    while (true) {
      auto u = evtm.driver().reclaim();
      REQUIRE(u.has_value());
      if (!u->has_value()) break;
      irq_reply r;
      r.tag = (*u)->user_data;
      r.len = (*u)->len;
      for (auto& p : evt_out) {
        if (p.tag != r.tag) continue;
        r.line = p.line;
        if (!p.writable.empty() && p.writable[0].len > 0)
          r.status = static_cast<std::uint8_t>(evtm.host(p.writable[0].addr, 1)[0]);
      }
      out.push_back(r);
    }
    return out;
  }

  struct posted {
    std::uint64_t tag;
    std::vector<ring::buffer> writable;
  };
  struct pair_posted {
    std::uint64_t tag;
    std::uint16_t line;
    std::vector<ring::buffer> writable;
  };

  mock_t reqm, evtm;
  memory_t req_mem, evt_mem;
  queue_t reqq, evtq;
  chip_t chip;
  std::optional<device_t> dev;
  std::vector<posted> req_out;
  std::vector<pair_posted> evt_out;
  std::uint64_t next_tag = 1;
};

/// One VALID delivery for `line` and nothing else.
inline void check_one_valid(const std::vector<irq_reply>& got, std::uint16_t line) {
  REQUIRE(got.size() == 1);
  CHECK(got[0].line == line);
  CHECK(got[0].len == 1);
  CHECK(got[0].status == irq_valid);
}
/// One INVALID return for `line` and nothing else.
inline void check_one_invalid(const std::vector<irq_reply>& got, std::uint16_t line) {
  REQUIRE(got.size() == 1);
  CHECK(got[0].line == line);
  CHECK(got[0].len == 1);
  CHECK(got[0].status == irq_invalid);
}

}  // namespace vireo_gpio_dev_test
