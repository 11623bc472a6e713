// SPDX-License-Identifier: Apache-2.0
// A mock driver for device tests: lays out a split queue in flat_memory it owns, adds chains
// through the real split_driver, and also writes raw (even hostile) ring contents.
// Part of the public API so users can test their own device models. Allocates (test code).
#pragma once

#include <cstring>
#include <initializer_list>
#include <memory>
#include <vector>

#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/testing/detail/guest_arena.hpp"
#include "vireo/ring/split_driver.hpp"

VIREO_NAMESPACE_BEGIN
namespace testing {

/// Guest memory for one split queue: [desc table][avail][used][indirect pool][data arena],
/// starting at guest address `base` (non-zero by default so no code may assume address 0).
class mock_split_driver : public detail::guest_arena {
 public:
  struct options {
    std::uint16_t size = 256;
    feature_set features{};
    std::uint16_t indirect_entries = 0;  ///< per-head indirect table length (0: no pool)
    std::size_t data_bytes = std::size_t{1} << 20;
    gpa base{0x10000};
  };
  using driver_type = ring::split_driver<flat_memory, ring::max_queue_size>;

  explicit mock_split_driver(const options& o) : opt_(o) {
    const std::uint32_t n = o.size;
    std::size_t at = 0;
    desc_off_ = at;
    at += ring::split_layout::desc_table_bytes(n);
    avail_off_ = at;
    at = align_up(at + ring::split_layout::avail_bytes(n), 4);
    used_off_ = at;
    at = align_up(at + ring::split_layout::used_bytes(n), 16);
    pool_off_ = at;
    at += std::size_t{n} * o.indirect_entries * sizeof(ring::split_desc);
    data_off_ = align_up(at, 64);
    allocate(data_off_, o.data_bytes, o.base);
    driver_ = std::make_unique<driver_type>(memory());
    auto r = driver_->configure(config(), pool());
    VIREO_ASSERT(r.has_value());
  }
  mock_split_driver() : mock_split_driver(options{}) {}

  [[nodiscard]] driver_type& driver() noexcept { return *driver_; }
  [[nodiscard]] const options& opts() const noexcept { return opt_; }

  /// The queue_config a device side should be configured with.
  [[nodiscard]] ring::queue_config config() const noexcept {
    return {opt_.size, addr(desc_off_), addr(avail_off_), addr(used_off_), opt_.features};
  }
  [[nodiscard]] ring::indirect_pool pool() const noexcept {
    return {addr(pool_off_), opt_.indirect_entries};
  }

  /// Add a chain through the real driver: readable buffers holding `readable` bytes, writable
  /// buffers of the given sizes. Returns the head.
  [[nodiscard]] result<std::uint16_t> add(std::initializer_list<const_bytes> readable,
                                          std::initializer_list<std::uint32_t> writable_sizes,
                                          ring::add_mode mode = ring::add_mode::automatic,
                                          std::uint64_t user_data = 0) {
    std::vector<ring::buffer> r, w;
    for (const_bytes b : readable) r.push_back({put(b), static_cast<std::uint32_t>(b.size())});
    for (std::uint32_t s : writable_sizes) w.push_back({alloc(s), s});
    return driver_->add(r, w, user_data, mode);
  }

  // ---- raw ring access (hostile-driver scenarios) -------------------------------------------

  void write_desc(std::uint16_t index, std::uint64_t addr_, std::uint32_t len, std::uint16_t flags,
                  std::uint16_t next) {
    write_desc_at(addr(desc_off_ + std::size_t{index} * 16), addr_, len, flags, next);
  }
  /// Write a descriptor anywhere (e.g. into an indirect table in the data arena).
  void write_desc_at(gpa where, std::uint64_t addr_, std::uint32_t len, std::uint16_t flags,
                     std::uint16_t next) {
    ring::split_desc d;
    d.addr.set(addr_);
    d.len.set(len);
    d.flags.set(flags);
    d.next.set(next);
    std::memcpy(host(where, sizeof d).data(), &d, sizeof d);
  }
  void set_avail_ring(std::uint16_t pos, std::uint16_t head) {
    store(avail_off_ + ring::split_layout::avail_ring(pos % opt_.size), head);
  }
  void set_avail_idx(std::uint16_t idx) { store(avail_off_ + ring::split_layout::avail_idx, idx); }
  void set_avail_flags(std::uint16_t f) { store(avail_off_ + ring::split_layout::avail_flags, f); }
  void set_used_event(std::uint16_t v) {
    store(avail_off_ + ring::split_layout::used_event(opt_.size), v);
  }
  /// Publish `head` at the next avail position (raw: no descriptor bookkeeping).
  void publish_raw(std::uint16_t head) {
    const std::uint16_t idx = avail_idx();
    set_avail_ring(idx, head);
    set_avail_idx(static_cast<std::uint16_t>(idx + 1));
  }

  [[nodiscard]] std::uint16_t avail_idx() { return load(avail_off_ + ring::split_layout::avail_idx); }
  [[nodiscard]] std::uint16_t used_idx() { return load(used_off_ + ring::split_layout::used_idx); }
  [[nodiscard]] std::uint16_t used_flags() { return load(used_off_ + ring::split_layout::used_flags); }
  [[nodiscard]] std::uint16_t avail_event() {
    return load(used_off_ + ring::split_layout::avail_event(opt_.size));
  }
  /// The used element at ring position `pos` (mod size): {id, len}.
  [[nodiscard]] std::pair<std::uint32_t, std::uint32_t> used_elem(std::uint16_t pos) {
    ring::split_used_elem e;
    std::memcpy(&e, raw(used_off_ + ring::split_layout::used_ring(pos % opt_.size)), sizeof e);
    return {e.id.get(), e.len.get()};
  }
  /// Device-side tampering with the used ring (hostile-device scenarios for the driver).
  void write_used_elem(std::uint16_t pos, std::uint32_t id, std::uint32_t len) {
    ring::split_used_elem e;
    e.id.set(id);
    e.len.set(len);
    std::memcpy(raw(used_off_ + ring::split_layout::used_ring(pos % opt_.size)), &e, sizeof e);
  }
  void set_used_idx(std::uint16_t v) { store(used_off_ + ring::split_layout::used_idx, v); }
  void set_used_flags(std::uint16_t v) { store(used_off_ + ring::split_layout::used_flags, v); }
  void set_avail_event(std::uint16_t v) {
    store(used_off_ + ring::split_layout::avail_event(opt_.size), v);
  }

 private:
  void store(std::size_t off, std::uint16_t v) {
    vireo::detail::atomic_store_le16(raw(off), v, std::memory_order_release);
  }
  std::uint16_t load(std::size_t off) {
    return vireo::detail::atomic_load_le16(raw(off), std::memory_order_acquire);
  }

  options opt_;
  std::size_t desc_off_ = 0, avail_off_ = 0, used_off_ = 0, pool_off_ = 0, data_off_ = 0;
  std::unique_ptr<driver_type> driver_;
};

}  // namespace testing
VIREO_NAMESPACE_END
