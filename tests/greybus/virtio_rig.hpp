// SPDX-License-Identifier: Apache-2.0
// Test rig for the Greybus-over-virtio binding: one flat guest memory holding both queues
// (split or packed) and the AP's frame region; the real driver queues on the AP side and the
// real device queues on the module side; a module_device and an ap_driver on top. Also a raw
// way in for hostile frames and buffers. Test code: allocates.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <vector>

#include "vireo/core/features.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/virtio/ap_driver.hpp"
#include "vireo/greybus/virtio/binding.hpp"
#include "vireo/greybus/virtio/module_device.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/layout.hpp"

namespace greybus_virtio_test {

namespace gbv = vireo::greybus::virtio;
namespace gb = vireo::greybus;
namespace ring = vireo::ring;
using vireo::bytes;
using vireo::const_bytes;
using vireo::errc;
using vireo::gpa;

/// The two layouts as types, for TEST_CASE_TEMPLATE.
struct split_layout {
  static constexpr bool packed = false;
  static constexpr bool event_idx = false;
  static constexpr std::uint16_t queue_size = 16;
};
struct packed_layout {
  static constexpr bool packed = true;
  static constexpr bool event_idx = false;
  static constexpr std::uint16_t queue_size = 13;  // not a power of two: wraps mid-test
};
/// The same with VIRTIO_F_EVENT_IDX negotiated (notification suppression by ring position).
struct split_event_idx_layout : split_layout {
  static constexpr bool event_idx = true;
};
struct packed_event_idx_layout : packed_layout {
  static constexpr bool event_idx = true;
};

using memory = vireo::flat_memory;
using driver_queue = ring::any_driver_queue<memory, 64>;
using device_queue = ring::any_device_queue<memory, 8>;

/// Front to back: ap_to_module areas, module_to_ap areas, a scratch arena, the AP's frames.
class guest_ram {
 public:
  explicit guest_ram(std::size_t bytes) : ram_(bytes), mem_(bytes_view(), base) {}
  static constexpr gpa base{0x8000'0000};

  [[nodiscard]] memory& mem() { return mem_; }
  gpa take(std::size_t n, std::size_t align) {
    at_ = (at_ + align - 1) / align * align;
    REQUIRE(at_ + n <= ram_.size());
    const gpa g = base.offset(at_);
    at_ += n;
    return g;
  }
  ring::queue_config plan_queue(std::uint16_t size, bool packed, bool event_idx = false) {
    vireo::feature_set f{vireo::transport_feature::version_1};
    if (event_idx) f.set(vireo::transport_feature::event_idx);
    if (packed) {
      f.set(vireo::transport_feature::ring_packed);
      namespace L = ring::packed_layout;
      const gpa d = take(L::desc_ring_bytes(size), L::desc_align);
      const gpa drv = take(L::event_bytes, L::event_align);
      const gpa dev = take(L::event_bytes, L::event_align);
      return {size, d, drv, dev, f};
    }
    namespace L = ring::split_layout;
    const gpa d = take(L::desc_table_bytes(size), L::desc_align);
    const gpa a = take(L::avail_bytes(size), L::avail_align);
    const gpa u = take(L::used_bytes(size), L::used_align);
    return {size, d, a, u, f};
  }
  /// Copy bytes into fresh guest memory (hostile frames).
  gpa put(const_bytes data) {
    const gpa g = take(data.size() == 0 ? 1 : data.size(), 8);
    if (!data.empty()) std::memcpy(host(g, data.size()).data(), data.data(), data.size());
    return g;
  }
  bytes host(gpa g, std::size_t n) {
    auto v = mem_.map(g, n, vireo::access::read_write);
    REQUIRE(v.has_value());
    return *v;
  }

 private:
  bytes bytes_view() { return {ram_.data(), ram_.size()}; }
  std::vector<std::byte> ram_;
  memory mem_;
  std::size_t at_ = 0;
};

/// Both ends over both queues. Module: any module_endpoint. Tx/Rx: the AP's pool sizes.
template <typename Layout, typename Module, std::size_t TxFrames = 8, std::size_t RxBuffers = 8,
          std::size_t Outbox = 4>
struct rig {
  using ap_type = gbv::ap_driver<memory, driver_queue, TxFrames, RxBuffers>;
  using device_type = gbv::module_device<Module, device_queue, gbv::default_max_message_size, Outbox>;

  guest_ram ram{std::size_t{1} << 20};
  driver_queue ap_tx{ram.mem()}, ap_rx{ram.mem()};
  device_queue dev_rx{ram.mem()}, dev_tx{ram.mem()};
  Module& module;
  device_type device;
  std::optional<ap_type> ap;
  ring::queue_config to_module_cfg{}, to_ap_cfg{};

  explicit rig(Module& m, std::uint16_t queue_size = Layout::queue_size)
      : module(m), device(m, dev_rx, dev_tx) {
    const auto to_module = ram.plan_queue(queue_size, Layout::packed, Layout::event_idx);
    const auto to_ap = ram.plan_queue(queue_size, Layout::packed, Layout::event_idx);
    to_module_cfg = to_module;
    to_ap_cfg = to_ap;
    REQUIRE(ap_tx.configure(to_module).has_value());
    REQUIRE(ap_rx.configure(to_ap).has_value());
    REQUIRE(dev_rx.configure(to_module).has_value());
    REQUIRE(dev_tx.configure(to_ap).has_value());
    const gbv::device_config cfg = device.config();  // what the AP reads from config space
    const std::uint64_t need = ap_type::region_size(cfg);
    const gpa region = ram.take(need, 64);
    auto d = ap_type::create(ram.mem(), ap_tx, ap_rx, ring::driver_region{region, need}, cfg);
    REQUIRE(d.has_value());
    ap.emplace(std::move(*d));
  }

  /// Run the device once; must not fail.
  gbv::notifications run() {
    auto n = device.process();
    REQUIRE(n.has_value());
    return *n;
  }
  /// Everything the AP has received right now.
  std::vector<std::pair<std::uint16_t, std::vector<std::byte>>> drain() {
    std::vector<std::pair<std::uint16_t, std::vector<std::byte>>> out;
    for (;;) {
      auto f = ap->poll();
      REQUIRE(f.has_value());
      if (!*f) break;
      const auto& m = (*f)->msg;
      std::vector<std::byte> whole(gb::header_size + m.payload.size());
      std::memcpy(whole.data(), &m.hdr, gb::header_size);
      if (!m.payload.empty()) std::memcpy(whole.data() + gb::header_size, m.payload.data(), m.payload.size());
      out.emplace_back((*f)->cport, std::move(whole));
    }
    return out;
  }
  /// Overwrite the used length the device last wrote on module_to_ap for `token` (a hostile
  /// device, beyond what the device queue lets a device model do). Single-descriptor buffers,
  /// completed in order.
  void forge_used_len(const vireo::chain::used_token& token, std::uint32_t len) {
    const vireo::le32 v = vireo::le32::from(len);
    gpa at;
    if (Layout::packed) {
      at = to_ap_cfg.desc_table.offset(ring::packed_layout::desc_offset(ring::off_of(token.seq)) + 8);
    } else {
      auto idx = ram.mem().load_u16(to_ap_cfg.device_area.offset(ring::split_layout::used_idx),
                                    std::memory_order_acquire);
      REQUIRE(idx.has_value());
      const std::uint16_t pos = static_cast<std::uint16_t>((*idx - 1u) % to_ap_cfg.size);
      at = to_ap_cfg.device_area.offset(ring::split_layout::used_ring(pos) + 4);
    }
    std::memcpy(ram.host(at, 4).data(), &v, 4);
  }
  /// Add a raw chain on ap_to_module: readable pieces, then writable sizes (hostile AP).
  void add_raw_frame(std::initializer_list<const_bytes> readable,
                     std::initializer_list<std::uint32_t> writable = {}) {
    std::vector<ring::buffer> r, w;
    for (const_bytes b : readable) r.push_back({ram.put(b), static_cast<std::uint32_t>(b.size())});
    for (std::uint32_t s : writable) w.push_back({ram.take(s, 8), s});
    REQUIRE(ap_tx.add(r, w, 0xdead).has_value());
  }
};

/// A Greybus request message as bytes.
inline std::vector<std::byte> request(std::uint16_t id, std::uint8_t type,
                                      std::initializer_list<std::uint8_t> payload = {}) {
  std::vector<std::byte> m(gb::header_size + payload.size());
  const gb::header h = gb::make_request_header(id, type, payload.size());
  std::memcpy(m.data(), &h, sizeof h);
  std::size_t i = gb::header_size;
  for (std::uint8_t b : payload) m[i++] = std::byte{b};
  return m;
}
/// A frame: transport header + message.
inline std::vector<std::byte> frame_bytes(std::uint16_t cport, const std::vector<std::byte>& msg) {
  std::vector<std::byte> f(gbv::transport_header_size + msg.size());
  auto n = gbv::write_frame(cport, msg, f);
  REQUIRE(n.has_value());
  return f;
}
inline const_bytes view(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

}  // namespace greybus_virtio_test
