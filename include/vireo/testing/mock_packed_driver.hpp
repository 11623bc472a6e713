// SPDX-License-Identifier: Apache-2.0
// A mock driver for packed-ring tests: lays out a packed queue in flat_memory it owns, adds lists
// through the real packed_driver, and also writes raw (even hostile) ring contents, from the
// driver's side or the device's. Part of the public API. Allocates (test code).
#pragma once

#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/testing/detail/guest_arena.hpp"
#include "vireo/ring/packed_driver.hpp"

VIREO_NAMESPACE_BEGIN
namespace testing {

/// Guest memory for one packed queue: [descriptor ring][driver event][device event][indirect
/// pool][data arena], starting at guest address `base` (non-zero by default so no code may
/// assume address 0).
class mock_packed_driver : public detail::guest_arena {
 public:
  struct options {
    std::uint16_t size = 256;  ///< 1..32768, any value (packed sizes need not be powers of two)
    feature_set features{};    ///< config() adds RING_PACKED
    std::uint16_t indirect_entries = 0;  ///< per-buffer-id indirect table length (0: no pool)
    std::size_t data_bytes = std::size_t{1} << 20;
    gpa base{0x10000};
  };
  using driver_type = ring::packed_driver<flat_memory, ring::max_queue_size>;

  /// A decoded descriptor (ring slot or indirect table entry).
  struct desc_fields {
    std::uint64_t addr = 0;
    std::uint32_t len = 0;
    std::uint16_t id = 0;
    std::uint16_t flags = 0;  ///< raw, AVAIL/USED bits included
  };
  /// A decoded event suppression structure.
  struct event_fields {
    std::uint16_t off_wrap = 0;
    std::uint16_t flags = 0;
  };

  explicit mock_packed_driver(const options& o) : opt_(o) {
    const std::uint32_t n = o.size;
    std::size_t at = 0;
    desc_off_ = at;
    at += ring::packed_layout::desc_ring_bytes(n);
    driver_event_off_ = at;
    at += ring::packed_layout::event_bytes;
    device_event_off_ = at;
    at = align_up(at + ring::packed_layout::event_bytes, 16);
    pool_off_ = at;
    at += std::size_t{n} * o.indirect_entries * sizeof(ring::packed_desc);
    data_off_ = align_up(at, 64);
    allocate(data_off_, o.data_bytes, o.base);
    driver_ = std::make_unique<driver_type>(memory());
    auto r = driver_->configure(config(), pool());
    VIREO_ASSERT(r.has_value());
  }
  mock_packed_driver() : mock_packed_driver(options{}) {}

  [[nodiscard]] driver_type& driver() noexcept { return *driver_; }
  [[nodiscard]] const options& opts() const noexcept { return opt_; }

  /// The queue_config a device side should be configured with (RING_PACKED always set).
  [[nodiscard]] ring::queue_config config() const noexcept {
    feature_set f = opt_.features;
    f.set(transport_feature::ring_packed);
    return {opt_.size, addr(desc_off_), addr(driver_event_off_), addr(device_event_off_), f};
  }
  [[nodiscard]] ring::indirect_pool pool() const noexcept {
    return {addr(pool_off_), opt_.indirect_entries};
  }

  /// Add a list through the real driver: readable buffers holding `readable` bytes, writable
  /// buffers of the given sizes. Returns the buffer id.
  [[nodiscard]] result<std::uint16_t> add(std::initializer_list<const_bytes> readable,
                                          std::initializer_list<std::uint32_t> writable_sizes,
                                          ring::add_mode mode = ring::add_mode::automatic,
                                          std::uint64_t user_data = 0) {
    std::vector<ring::buffer> r, w;
    for (const_bytes b : readable) r.push_back({put(b), static_cast<std::uint32_t>(b.size())});
    for (std::uint32_t s : writable_sizes) w.push_back({alloc(s), s});
    return driver_->add(r, w, user_data, mode);
  }

  // ---- raw descriptor access (hostile-driver and hostile-device scenarios) ------------------

  /// Write ring slot `slot` raw: addr, len and id first, then `flags` (release), as a driver
  /// publishing a head or a device marking a slot used would.
  void write_desc(std::uint16_t slot, std::uint64_t addr_, std::uint32_t len, std::uint16_t id,
                  std::uint16_t flags) {
    write_desc_at(slot_addr(slot), addr_, len, id, flags);
  }
  /// Write a descriptor anywhere (e.g. into an indirect table in the data arena), flags last.
  void write_desc_at(gpa where, std::uint64_t addr_, std::uint32_t len, std::uint16_t id,
                     std::uint16_t flags) {
    ring::packed_desc d;
    d.addr.set(addr_);
    d.len.set(len);
    d.id.set(id);
    std::byte* p = host(where, sizeof d).data();
    std::memcpy(p, &d, ring::packed_layout::desc_flags);
    vireo::detail::atomic_store_le16(p + ring::packed_layout::desc_flags, flags,
                                     std::memory_order_release);
  }
  [[nodiscard]] desc_fields read_desc(std::uint16_t slot) { return read_desc_at(slot_addr(slot)); }
  /// Read a descriptor anywhere: flags first (acquire), then the other fields.
  [[nodiscard]] desc_fields read_desc_at(gpa where) {
    std::byte* p = host(where, sizeof(ring::packed_desc)).data();
    const std::uint16_t flags = vireo::detail::atomic_load_le16(p + ring::packed_layout::desc_flags,
                                                                std::memory_order_acquire);
    ring::packed_desc d;
    std::memcpy(&d, p, sizeof d);
    return {d.addr.get(), d.len.get(), d.id.get(), flags};
  }
  [[nodiscard]] std::uint16_t desc_flags(std::uint16_t slot) { return read_desc(slot).flags; }

  /// Publish a list raw at consecutive slots from `slot`, in wrap phase `wrap`: each entry's
  /// flags get the AVAIL/USED marks of its slot's phase (flipped after slot size-1), the other
  /// slots are written first and the head's flags last. Entries' flags are taken as given
  /// otherwise (NEXT, WRITE, INDIRECT: nothing is added or checked). Returns the slot and phase
  /// after the list.
  std::pair<std::uint16_t, bool> publish_chain(std::uint16_t slot, bool wrap,
                                               std::span<const desc_fields> list) {
    VIREO_ASSERT(slot < opt_.size);
    std::uint16_t s = slot;
    bool w = wrap;
    std::uint16_t head_flags = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const desc_fields& d = list[i];
      const auto flags = static_cast<std::uint16_t>(
          (d.flags & ~(ring::packed_flag::avail | ring::packed_flag::used)) |
          ring::packed_flag::avail_marks(w));
      if (i == 0) {
        ring::packed_desc h;
        h.addr.set(d.addr);
        h.len.set(d.len);
        h.id.set(d.id);
        std::memcpy(host(slot_addr(s), sizeof h).data(), &h, ring::packed_layout::desc_flags);
        head_flags = flags;
      } else {
        write_desc(s, d.addr, d.len, d.id, flags);
      }
      if (++s == opt_.size) {
        s = 0;
        w = !w;
      }
    }
    if (!list.empty())
      vireo::detail::atomic_store_le16(host(slot_addr(slot), 16).data() + ring::packed_layout::desc_flags,
                                       head_flags, std::memory_order_release);
    return {s, w};
  }
  std::pair<std::uint16_t, bool> publish_chain(std::uint16_t slot, bool wrap,
                                               std::initializer_list<desc_fields> list) {
    return publish_chain(slot, wrap, std::span<const desc_fields>{list.begin(), list.size()});
  }

  /// Device side, raw: write a used descriptor at `slot` with exactly these id, len and flags
  /// (id and len first, flags last with release).
  void write_used(std::uint16_t slot, std::uint16_t id, std::uint32_t len, std::uint16_t flags) {
    write_desc(slot, 0, len, id, flags);
  }
  /// Device side: mark `slot` used in wrap phase `wrap` (AVAIL = USED = wrap), with WRITE when
  /// `len` > 0 as the spec asks (§2.8.4).
  void mark_used(std::uint16_t slot, std::uint16_t id, std::uint32_t len, bool wrap) {
    write_used(slot, id, len,
               static_cast<std::uint16_t>(ring::packed_flag::used_marks(wrap) |
                                          (len > 0 ? ring::desc_flag::write : 0)));
  }

  // ---- event suppression areas ---------------------------------------------------------------

  /// Driver Event Suppression (the driver writes it; controls used-buffer notifications).
  [[nodiscard]] event_fields driver_event() { return load_event(driver_event_off_); }
  void set_driver_event(std::uint16_t off_wrap, std::uint16_t flags) {
    store_event(driver_event_off_, off_wrap, flags);
  }
  /// Device Event Suppression (the device writes it; controls available-buffer notifications).
  [[nodiscard]] event_fields device_event() { return load_event(device_event_off_); }
  void set_device_event(std::uint16_t off_wrap, std::uint16_t flags) {
    store_event(device_event_off_, off_wrap, flags);
  }

 private:
  [[nodiscard]] gpa slot_addr(std::uint16_t slot) const noexcept {
    VIREO_ASSERT(slot < opt_.size);
    return addr(desc_off_ + ring::packed_layout::desc_offset(slot));
  }
  /// off_wrap first, then flags (release): the order §2.8.10 asks of the writer.
  void store_event(std::size_t off, std::uint16_t off_wrap, std::uint16_t flags) {
    vireo::detail::atomic_store_le16(raw(off + ring::packed_layout::event_off_wrap),
                                     off_wrap, std::memory_order_relaxed);
    vireo::detail::atomic_store_le16(raw(off + ring::packed_layout::event_flags), flags,
                                     std::memory_order_release);
  }
  event_fields load_event(std::size_t off) {
    const std::uint16_t flags = vireo::detail::atomic_load_le16(
        raw(off + ring::packed_layout::event_flags), std::memory_order_acquire);
    const std::uint16_t off_wrap = vireo::detail::atomic_load_le16(
        raw(off + ring::packed_layout::event_off_wrap), std::memory_order_relaxed);
    return {off_wrap, flags};
  }

  options opt_;
  std::size_t desc_off_ = 0, driver_event_off_ = 0, device_event_off_ = 0, pool_off_ = 0,
              data_off_ = 0;
  std::unique_ptr<driver_type> driver_;
};

}  // namespace testing
VIREO_NAMESPACE_END
