// SPDX-License-Identifier: Apache-2.0
// The AP end of the Greybus-over-virtio binding (binding.hpp, docs/greybus-virtio.md): the
// virtio driver. Sends frames on ap_to_module from a fixed pool of guest buffers, keeps
// module_to_ap stocked with buffers for whole frames, and hands back received frames checked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>

#include "vireo/core/bytes.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/virtio/binding.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/reclaim_rearmed.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::virtio {

/// What the AP driver saw of the module, for the operator.
struct ap_driver_stats {
  std::uint64_t frames_sent = 0;      ///< frames added to ap_to_module
  std::uint64_t frames_received = 0;  ///< good frames returned by poll()
  std::uint64_t bad_frames = 0;       ///< module_to_ap buffers whose contents were refused
  errc last_error{};                  ///< why the latest bad frame was refused
};

/// The driver end (the AP): `Queue` is a ring::driver_queue_api (ring::any_driver_queue for a
/// layout chosen at negotiation); ap_to_module and module_to_ap are configured by the caller
/// and used by nobody else. TxFrames frames can be in flight on ap_to_module, RxBuffers buffers
/// are kept posted on module_to_ap (each queue needs at least that many descriptors), and the
/// device's max_message_size may be at most MaxMessageSize.
///
/// Guest memory: one driver_region of region_size(cfg) bytes holds every frame buffer
/// (slot_size(cfg) bytes each: TxFrames sending slots, then RxBuffers receiving slots).
///
/// Hostile module: a used length is only a claim (create() sets module_to_ap to
/// ring::used_len_mode::clamp when the queue type has it, so that one beyond the buffer is a bad
/// frame, not a broken queue). A frame is copied out of its buffer once
/// (at most the buffer's size) and checked on the copy with parse_frame(); a bad one is counted
/// (stats()), its buffer posted again, and poll() moves on to the next. A corrupt used ring is
/// the queue's error (the queue is broken: reset the device).
/// Buffers someone else added to the queues (user_data not a slot of this driver) are taken
/// back and ignored. No heap; one receive buffer of MaxMessageSize + 4 bytes lives in the object.
template <guest_memory Memory, ring::driver_queue_api Queue, std::size_t TxFrames = 8,
          std::size_t RxBuffers = 8, std::uint16_t MaxMessageSize = default_max_message_size>
class ap_driver {
  static_assert(TxFrames >= 1 && RxBuffers >= 1);
  static_assert(TxFrames + RxBuffers <= 0xffff);
  static_assert(MaxMessageSize >= header_size);

 public:
  using memory_type = Memory;
  using queue_type = Queue;

  /// Bytes of one frame buffer: a whole frame, rounded up to 8 (keeps buffers aligned).
  [[nodiscard]] static constexpr std::uint64_t slot_size(const device_config& cfg) noexcept {
    return (frame_capacity(cfg.max_message_size.get()) + 7u) / 8u * 8u;
  }
  /// Bytes of guest memory the driver needs for a device with this configuration.
  [[nodiscard]] static constexpr std::uint64_t region_size(const device_config& cfg) noexcept {
    return slot_size(cfg) * (TxFrames + RxBuffers);
  }

  /// A driver for the device whose configuration space is `cfg`; posts RxBuffers buffers on
  /// module_to_ap (notify the device: needs_kick()).
  /// Errors: greybus_bad_config (max_message_size below 8 or above MaxMessageSize, cport_count
  /// 0), queue_not_ready / queue_broken, those of driver_region::check() (no_space: the region
  /// is smaller than region_size(cfg)), and those of the queue's add() (ring_full: module_to_ap
  /// has fewer than RxBuffers descriptors).
  [[nodiscard]] static result<ap_driver> create(Memory& mem, Queue& ap_to_module,
                                                Queue& module_to_ap, ring::driver_region region,
                                                const device_config& cfg) noexcept {
    const std::uint16_t max = cfg.max_message_size.get();
    if (max < header_size || max > MaxMessageSize || cfg.cport_count.get() == 0)
      return errc::greybus_bad_config;
    for (const Queue* q : {&ap_to_module, &module_to_ap}) {
      if (q->broken()) return errc::queue_broken;
      if (!q->ready()) return errc::queue_not_ready;
    }
    VIREO_TRY(region.check(mem, region_size(cfg)));
    // A used length beyond the buffer (§2.7.8.2, §2.8.4: a device MUST NOT) would break the
    // queue in strict mode; clamped, it is one more bad frame and the queue keeps working.
    if constexpr (requires { module_to_ap.set_used_len_mode(ring::used_len_mode::clamp); })
      module_to_ap.set_used_len_mode(ring::used_len_mode::clamp);
    ap_driver d{mem, ap_to_module, module_to_ap, region, cfg};
    VIREO_TRY(d.restock());
    return d;
  }

  [[nodiscard]] std::uint16_t max_message_size() const noexcept { return max_; }
  [[nodiscard]] std::uint16_t cport_count() const noexcept { return cports_; }
  [[nodiscard]] const ap_driver_stats& stats() const noexcept { return stats_; }

  /// Queue `message` (one whole Greybus message: its header's size field equals its length)
  /// for `cport` on ap_to_module. The bytes are copied into a frame buffer: `message` may be
  /// reused at once. Frame buffers the device has completed are taken back first when all are
  /// in flight. Notify the device afterwards (needs_kick(ap_to_module_queue)).
  /// Errors: greybus_cport_out_of_range, greybus_short_message / greybus_frame_too_large (the
  /// message is under 8 or over max_message_size bytes), invalid_argument (its size field is
  /// not its length), greybus_no_free_frame (TxFrames frames in flight), the queue's errors
  /// (ring_full...), memory errors.
  [[nodiscard]] result<void> send(std::uint16_t cport, const_bytes message) noexcept {
    if (cport >= cports_) return errc::greybus_cport_out_of_range;
    if (message.size() < header_size) return errc::greybus_short_message;
    if (message.size() > max_) return errc::greybus_frame_too_large;
    auto h = load_header(message);
    VIREO_TRY(h);
    if (h->size.get() != message.size()) return errc::invalid_argument;
    std::optional<std::size_t> free = free_tx();
    if (!free) {
      VIREO_TRY(collect_sent());
      free = free_tx();
      if (!free) return errc::greybus_no_free_frame;
    }
    const gpa at = region_.at(slot_size_ * *free);
    const transport_header th{le16::from(cport), le16::from(0)};
    VIREO_TRY(mem_->write(at, as_bytes_of(th)));
    VIREO_TRY(mem_->write(at.offset(transport_header_size), message));
    const ring::buffer frame{at, static_cast<std::uint32_t>(transport_header_size + message.size())};
    auto id = tx_->add({&frame, 1}, {}, *free);
    if (!id) return id.error();
    tx_busy_[*free] = true;
    ++stats_.frames_sent;
    return ok();
  }

  /// The next frame the module sent, checked, or nullopt when none is waiting (or when RxBuffers
  /// bad frames in a row were skipped: call again). The frame's payload views a buffer inside
  /// the driver: valid until the next poll(). Bad frames are counted and skipped; every buffer
  /// is posted again as soon as its frame is copied out.
  /// Errors: the queues' reclaim() errors (a corrupt used ring: the queue is broken), memory
  /// errors.
  [[nodiscard]] result<std::optional<frame>> poll() noexcept {
    VIREO_TRY(collect_sent());
    // Bounded: each posted buffer once per call, so a module that keeps filling reposted buffers
    // with bad frames cannot hold the caller (ap::call checks its deadline between polls).
    for (std::size_t taken = 0; taken < RxBuffers; ++taken) {
      auto u = ring::reclaim_rearmed(*rx_);
      if (!u) return u.error();
      if (!*u) return std::optional<frame>{};
      const std::size_t slot = static_cast<std::size_t>((*u)->user_data);  // ours, not the device's
      if (slot >= RxBuffers || !rx_posted_[slot]) continue;  // not a buffer post() added
      rx_posted_[slot] = false;
      const std::uint32_t len = (*u)->len;  // the module's claim
      const gpa at = region_.at(slot_size_ * (TxFrames + slot));
      errc bad{};
      result<void> copied = ok();
      if (len < min_frame_size) bad = errc::greybus_frame_too_short;
      else if (len > frame_capacity(max_)) bad = errc::greybus_frame_too_large;
      else copied = mem_->read(at, bytes{rx_buf_}.first(len));  // the one read of this frame
      VIREO_TRY(post(slot));
      if (!copied) return copied.error();
      result<frame> f = bad;
      if (bad == errc{}) f = parse_frame(const_bytes{rx_buf_}.first(len), max_, cports_);
      if (!f) {
        ++stats_.bad_frames;
        stats_.last_error = f.error();
        continue;
      }
      ++stats_.frames_received;
      return std::optional<frame>{*f};
    }
    return std::optional<frame>{};
  }

  /// Post receive buffers for every slot not posted (after a failed add). Errors: the queue's.
  [[nodiscard]] result<void> restock() noexcept {
    for (std::size_t i = 0; i < RxBuffers; ++i)
      if (!rx_posted_[i]) VIREO_TRY(post(i));
    return ok();
  }

  /// Should the device be notified of what was added to queue `index` (ap_to_module_queue or
  /// module_to_ap_queue)?
  [[nodiscard]] bool needs_kick(std::uint16_t index) noexcept {
    return index == ap_to_module_queue ? tx_->needs_kick() : rx_->needs_kick();
  }

  /// Frames on ap_to_module the device has not completed yet.
  [[nodiscard]] std::size_t frames_in_flight() const noexcept {
    std::size_t n = 0;
    for (bool b : tx_busy_) n += b ? 1 : 0;
    return n;
  }
  /// Receive buffers posted on module_to_ap.
  [[nodiscard]] std::size_t buffers_posted() const noexcept {
    std::size_t n = 0;
    for (bool b : rx_posted_) n += b ? 1 : 0;
    return n;
  }

 private:
  ap_driver(Memory& mem, Queue& tx, Queue& rx, ring::driver_region region,
            const device_config& cfg) noexcept
      : mem_(&mem), tx_(&tx), rx_(&rx), region_(region), max_(cfg.max_message_size.get()),
        cports_(cfg.cport_count.get()), slot_size_(slot_size(cfg)) {}

  [[nodiscard]] std::optional<std::size_t> free_tx() const noexcept {
    for (std::size_t i = 0; i < TxFrames; ++i)
      if (!tx_busy_[i]) return i;
    return std::nullopt;
  }

  /// Take back the frames the device has consumed (their used length carries nothing).
  [[nodiscard]] result<void> collect_sent() noexcept {
    for (;;) {
      auto u = tx_->reclaim();
      if (!u) return u.error();
      if (!*u) return ok();
      const std::size_t slot = static_cast<std::size_t>((*u)->user_data);
      if (slot < TxFrames) tx_busy_[slot] = false;  // else not a frame send() added
    }
  }

  [[nodiscard]] result<void> post(std::size_t slot) noexcept {
    // Never more than max_message_size + 4 bytes: slot_size() only rounds up for alignment.
    const ring::buffer b{region_.at(slot_size_ * (TxFrames + slot)),
                         static_cast<std::uint32_t>(frame_capacity(max_))};
    auto id = rx_->add({}, {&b, 1}, slot);
    if (!id) return id.error();
    rx_posted_[slot] = true;
    return ok();
  }

  Memory* mem_;
  Queue* tx_;
  Queue* rx_;
  ring::driver_region region_;
  std::uint16_t max_;
  std::uint16_t cports_;
  std::uint64_t slot_size_;
  std::array<bool, TxFrames> tx_busy_{};
  std::array<bool, RxBuffers> rx_posted_{};
  std::array<std::byte, frame_capacity(MaxMessageSize)> rx_buf_{};
  ap_driver_stats stats_{};
};

}  // namespace greybus::virtio
VIREO_NAMESPACE_END
