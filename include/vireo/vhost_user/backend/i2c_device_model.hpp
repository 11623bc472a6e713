// SPDX-License-Identifier: Apache-2.0
// virtio-i2c behind a vhost-user back-end: i2c::device over one requestq that lives in the
// session's guest memory, with the session's start/stop/enable calls mapped onto it; its guest
// writes are dirty-logged for migration. Freestanding.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/core/result.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/device.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/dirty_log.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"
#include "vireo/vhost_user/backend/logged_queue.hpp"
#include "vireo/vhost_user/backend/served_device.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// The transport features a vhost-user device model of Vireo offers: the ring layouts and
/// notification features the queues implement. QEMU 7.2 passes INDIRECT_DESC and EVENT_IDX to
/// the guest whatever the back-end offers (interop notes), so they must be implemented anyway.
[[nodiscard]] constexpr std::uint64_t vireo_transport_features() noexcept {
  return feature_set{transport_feature::version_1, transport_feature::indirect_desc,
                     transport_feature::event_idx, transport_feature::ring_packed}
      .word(0);
}

/// What a device model binds to in attach_session(): the session's logged guest memory (whose
/// dirty_log is the session's) and its vrings' state (the F_LOG flag and log_guest_addr of
/// SET_VRING_ADDR). backend::session satisfies it; the runner calls attach_session(session).
template <typename S, typename Memory>
concept logging_session = requires(S& s, std::uint32_t i) {
  { s.logged_guest_memory() } -> std::same_as<Memory&>;
  { s.vring(i) } -> std::same_as<const vring_state&>;
};

/// How long an unterminated FAIL_NEXT group may stay open before it runs (i2c::device::flush):
/// Linux queues a whole group before one kick, so a few milliseconds is plenty.
inline constexpr int i2c_tail_deadline_ms = 2;

/// virtio-i2c (device 34) as a vhost-user device model: one requestq (§5.16.2), no config space
/// (QEMU 7.2 asks none), VIRTIO_I2C_F_ZERO_LENGTH_REQUEST offered and required. `Bus` is the host
/// side (i2c::host_bus: a simulation, or linux_host::i2c_dev_bus). Call attach_session() (or
/// attach()) with the session before the session may start the vring.
///
/// Dirty-page logging (a logging_device): the requestq is a logged_queue over the session's
/// logged guest memory, so with LOG_ALL and a log (SET_LOG_BASE) every page the device writes is
/// marked: the read buffers and status byte of each request, and with the vring's F_LOG flag
/// the used ring (spec "Migration"). The session therefore offers VHOST_F_LOG_ALL and LOG_SHMFD.
///
/// Inflight I/O tracking (an inflight_device): the requestq is an inflight_queue, so with a
/// region from the front-end (INFLIGHT_SHMFD, offered when the session has an allocator) every
/// request taken from a split ring is recorded until its used entry is published, and a
/// restarted daemon completes the requests its predecessor took before it reads the ring again
/// (each exactly once: the bus runs them again, which the front-end must accept for an i2c
/// transfer that was cut off). Packed rings are not tracked (the session lays the region out for
/// split rings only), nor IN_ORDER ones (not offered).
template <i2c::host_bus Bus, std::size_t MaxSlots = 32, std::size_t Segments = 8>
class i2c_device_model {
 public:
  /// Every guest access goes through the session's logged memory (writes marked while logging).
  using memory_type = logged_memory<region_table<MaxSlots>>;
  using queue_type = inflight_queue<logged_queue<ring::any_device_queue<memory_type, Segments>>>;
  using device_type = i2c::device<queue_type, Bus>;

  explicit i2c_device_model(Bus& bus, std::uint32_t max_queue_size = 1024,
                            const i2c::device_options& opt = {}) noexcept
      : bus_(&bus), max_size_(max_queue_size), opt_(opt) {}
  i2c_device_model(const i2c_device_model&) = delete;  // the device points at the queue
  i2c_device_model& operator=(const i2c_device_model&) = delete;

  /// Bind to a session's logged guest memory and vring 0's state (both must outlive this).
  template <typename Session>
    requires logging_session<Session, memory_type>
  void attach_session(Session& s) noexcept {
    attach(s.logged_guest_memory(), s.vring(0));
  }
  /// Bind to the logged guest memory `memory` (its dirty_log is the one marked) with the
  /// requestq's vring state `ring` (F_LOG, log_guest_addr); both must outlive this.
  void attach(memory_type& memory, const vring_state& ring) noexcept {
    dev_.reset();
    queue_.reset();
    queue_.emplace(memory, memory.log(), ring);
    dev_.emplace(*queue_, *bus_, opt_);
    started_ = enabled_ = broken_ = false;
  }

  // ---- device_model ----------------------------------------------------------------------------
  [[nodiscard]] std::uint64_t device_features() const noexcept {
    return vireo_transport_features() | i2c::device_features().word(0);
  }
  [[nodiscard]] std::uint32_t num_queues() const noexcept { return 1; }
  /// logging_device: every guest write goes through the logged memory and queue.
  [[nodiscard]] bool logs_dirty_pages() const noexcept { return true; }
  [[nodiscard]] std::uint32_t max_queue_size() const noexcept { return max_size_; }
  [[nodiscard]] std::uint32_t config_size() const noexcept { return 0; }
  [[nodiscard]] result<void> read_config(std::uint32_t, bytes) noexcept {
    return errc::vhost_config_range;  // no config space (§5.16.4)
  }
  [[nodiscard]] result<void> write_config(std::uint32_t, const_bytes, bool) noexcept {
    return errc::vhost_config_range;
  }

  /// Refused without VIRTIO_I2C_F_ZERO_LENGTH_REQUEST (§5.16.6.4: the device MUST reject such a
  /// driver; vhost-user has no FEATURES_OK, so the ring does not start).
  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg,
                                         ring::queue_state base) noexcept {
    return start_vring(i, cfg, base, inflight_area{});
  }
  /// The same, tracking in `area` (the vring's part of the inflight region; empty: untracked).
  /// A region the previous daemon left is checked and its heads resubmitted first
  /// (inflight_queue::configure; vhost_inflight_invalid when it does not fit the ring).
  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg,
                                         ring::queue_state base, inflight_area area) noexcept {
    if (i != 0 || !queue_) return errc::invalid_argument;
    VIREO_TRY(i2c::check_driver_features(cfg.features));
    queue_->attach(area);
    VIREO_TRY(queue_->configure(cfg));
    queue_->restore(base.next_avail, base.used_idx);
    i2c::device_options o = opt_;
    o.features = cfg.features;
    dev_->set_options(o);
    dev_->reset();
    started_ = true;
    broken_ = false;
    return ok();
  }

  /// Runs a held group first, so that nothing is in flight at the position handed back (the
  /// front-end resumes from it, rule B10).
  [[nodiscard]] ring::queue_state stop_vring(std::uint32_t) noexcept {
    if (!started_) return {};
    if (!broken_ && dev_->tail_held()) (void)dev_->flush();
    const auto s = queue_->state();
    queue_->reset();
    dev_->reset();
    started_ = false;
    return {s.next_avail, s.used_idx};
  }
  void enable_vring(std::uint32_t, bool on) noexcept { enabled_ = on; }
  void memory_changed() noexcept {
    if (started_ && !queue_->remap()) broken_ = true;  // the session checked the ring still fits
  }

  // ---- served_device ---------------------------------------------------------------------------
  [[nodiscard]] result<notify_mask> on_kick(std::uint32_t i) noexcept {
    if (i != 0 || !serving()) return notify_mask{0};
    // A ring's worth per call (device_with_backlog): a driver that keeps adding cannot hold
    // the runner.
    return finish(dev_->process(queue_->size()));
  }
  /// The requestq when the last on_kick() stopped at its budget (device_with_backlog).
  [[nodiscard]] notify_mask backlog() const noexcept {
    return serving() && dev_ && dev_->requests_left() ? notify_bit(0) : notify_mask{0};
  }
  [[nodiscard]] int deadline_ms() const noexcept {
    return serving() && dev_->tail_held() ? i2c_tail_deadline_ms : -1;
  }
  [[nodiscard]] result<notify_mask> on_deadline() noexcept {
    if (!serving()) return notify_mask{0};
    return finish(dev_->flush());
  }

  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  /// The device's counters (requests, errors, groups, tails closed); attach() first.
  [[nodiscard]] const i2c::device_stats& stats() const noexcept { return dev_->stats(); }
  /// The requestq is tracked in an inflight region (started, a region attached, not IN_ORDER).
  [[nodiscard]] bool tracking_inflight() const noexcept { return queue_ && queue_->tracking(); }

 private:
  [[nodiscard]] bool serving() const noexcept { return started_ && enabled_ && !broken_; }

  [[nodiscard]] result<notify_mask> finish(result<bool> r) noexcept {
    if (!r) {
      broken_ = true;  // ring corruption: ignored until the front-end restarts the vring
      dev_->reset();
      return r.error();
    }
    return *r ? notify_bit(0) : notify_mask{0};
  }

  Bus* bus_;
  std::uint32_t max_size_;
  i2c::device_options opt_;
  std::optional<queue_type> queue_;
  std::optional<device_type> dev_;
  bool started_ = false, enabled_ = false, broken_ = false;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
