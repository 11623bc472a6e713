// SPDX-License-Identifier: Apache-2.0
// virtio-gpio behind a vhost-user back-end: gpio::device over the requestq (vring 0) and the
// eventq (vring 1) in the session's guest memory, with the 8-byte config space GET_CONFIG reads;
// its guest writes are dirty-logged and its split rings tracked in the inflight region.
// Freestanding.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/dirty_log.hpp"
#include "vireo/vhost_user/backend/i2c_device_model.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"
#include "vireo/vhost_user/backend/logged_queue.hpp"
#include "vireo/vhost_user/backend/served_device.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

struct gpio_model_options {
  gpio::device_options device{};
  std::uint32_t max_queue_size = 256;  ///< QEMU 7.2 asks 256 for both queues
  /// Poll the chip for line events this often while an interrupt is enabled (0: never; the
  /// device still polls after every request). A simulated chip raises events only inside
  /// requests; a host chip (linux_host::gpio_cdev_chip) raises them any time.
  int host_poll_ms = 0;
  /// Chains served per on_kick() before the runner turns to other work and comes back
  /// (device_with_backlog). 0: the ring's size.
  std::size_t kick_budget = 0;
};

/// virtio-gpio (device 41) as a vhost-user device model. `Chip` is the host side
/// (gpio::host_chip: a simulation, or linux_host::gpio_cdev_chip). Line state survives a stop of
/// the vrings (QEMU stops them for a VM pause too); a start with newly negotiated features resets
/// it, as FEATURES_OK does on a virtio transport.
///
/// Dirty-page logging (a logging_device): both queues are logged_queue over the session's logged
/// guest memory, so with LOG_ALL and a log every page the device writes is marked (request
/// responses, eventq status bytes, and with F_LOG the used rings; spec "Migration").
///
/// Inflight I/O tracking (an inflight_device): both queues are inflight_queue, tracked when the
/// front-end set a region, on the layouts inflight_queue tracks (as i2c_device_model).
/// The eventq is tracked too: a pair the device holds until a line event is, by libvhost-user's
/// semantics, in flight until its used entry is published. A restarted daemon therefore gets the
/// held pairs back (resubmitted before the ring is read again) and holds them anew instead of
/// losing them; a stop_vring() that drops held pairs leaves them marked, so the next start from
/// the same region hands them back too (and the position stays consistent with the base).
template <gpio::host_chip Chip, std::size_t MaxSlots = 32, std::size_t MaxLines = 256,
          std::size_t Segments = 4>
class gpio_device_model {
 public:
  /// Every guest access goes through the session's logged memory (writes marked while logging).
  using memory_type = logged_memory<region_table<MaxSlots>>;
  using queue_type = inflight_queue<logged_queue<ring::any_device_queue<memory_type, Segments>>>;
  using device_type = gpio::device<queue_type, Chip, MaxLines>;
  static constexpr std::uint32_t requestq = 0, eventq = 1;

  explicit gpio_device_model(Chip& chip, const gpio_model_options& opt = {}) noexcept
      : chip_(&chip), opt_(opt) {}
  gpio_device_model(const gpio_device_model&) = delete;  // the device points at the queues
  gpio_device_model& operator=(const gpio_device_model&) = delete;

  /// Bind to a session's logged guest memory and vrings' state (they must outlive this).
  template <typename Session>
    requires logging_session<Session, memory_type>
  [[nodiscard]] result<void> attach_session(Session& s) noexcept {
    return attach(s.logged_guest_memory(), s.vring(requestq), s.vring(eventq));
  }
  /// Bind to the logged guest memory `memory` (its dirty_log is the one marked) with the vring
  /// states of the requestq and the eventq, and build the device (reads the chip's names).
  /// Errors: gpio::device::create's (no lines, too many, invalid or duplicate names).
  [[nodiscard]] result<void> attach(memory_type& memory, const vring_state& request_ring,
                                    const vring_state& event_ring) noexcept {
    dev_.reset();
    queues_[0].reset();
    queues_[1].reset();
    queues_[0].emplace(memory, memory.log(), request_ring);
    queues_[1].emplace(memory, memory.log(), event_ring);
    auto d = device_type::create(*chip_, *queues_[0], *queues_[1], opt_.device);
    if (!d) return d.error();
    dev_.emplace(std::move(*d));
    vrings_ = {};
    negotiated_.reset();
    return ok();
  }

  // ---- device_model ----------------------------------------------------------------------------
  [[nodiscard]] std::uint64_t device_features() const noexcept {
    return vireo_transport_features() | dev_->offered_features().word(0);
  }
  [[nodiscard]] std::uint32_t num_queues() const noexcept { return 2; }
  /// logging_device: every guest write goes through the logged memory and queues.
  [[nodiscard]] bool logs_dirty_pages() const noexcept { return true; }
  [[nodiscard]] std::uint32_t max_queue_size() const noexcept { return opt_.max_queue_size; }
  [[nodiscard]] std::uint32_t config_size() const noexcept { return sizeof(gpio::wire::config); }
  [[nodiscard]] result<void> read_config(std::uint32_t offset, bytes out) noexcept {
    const gpio::wire::config c = dev_->config();
    std::array<std::byte, sizeof c> raw{};
    std::memcpy(raw.data(), &c, sizeof c);
    if (offset > raw.size() || out.size() > raw.size() - offset) return errc::vhost_config_range;
    std::memcpy(out.data(), raw.data() + offset, out.size());
    return ok();
  }
  /// Every config field is read-only (§5.18.4); a migration write must match what is there.
  [[nodiscard]] result<void> write_config(std::uint32_t offset, const_bytes in,
                                          bool migration) noexcept {
    std::array<std::byte, sizeof(gpio::wire::config)> now{};
    VIREO_TRY(read_config(offset, bytes{now.data(), in.size()}));
    if (migration && std::memcmp(now.data(), in.data(), in.size()) == 0) return ok();
    return errc::access_denied;
  }

  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg,
                                         ring::queue_state base) noexcept {
    return start_vring(i, cfg, base, inflight_area{});
  }
  /// The same, tracking in `area` (the vring's part of the inflight region; empty: untracked).
  /// A region a previous daemon left is checked and its heads resubmitted first
  /// (inflight_queue::configure; vhost_inflight_invalid when it does not fit the ring).
  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg,
                                         ring::queue_state base, inflight_area area) noexcept {
    if (i > eventq || !dev_) return errc::invalid_argument;
    if (!negotiated_ || negotiated_->word(0) != cfg.features.word(0) ||
        negotiated_->word(1) != cfg.features.word(1)) {
      VIREO_TRY(dev_->set_driver_features(cfg.features));
      negotiated_ = cfg.features;
    }
    queues_[i]->attach(area);
    VIREO_TRY(queues_[i]->configure(cfg));
    queues_[i]->restore(base.next_avail, base.used_idx);
    vrings_[i].started = true;
    vrings_[i].broken = false;
    return ok();
  }
  /// Held eventq pairs are dropped without completion: the front-end owns those buffers again
  /// once the vring stopped, and re-queues them at the next start (§2.6.1). With an inflight
  /// region they stay marked there and the next start resubmits them (class comment).
  [[nodiscard]] ring::queue_state stop_vring(std::uint32_t i) noexcept {
    if (i > eventq || !vrings_[i].started) return {};
    if (i == eventq) dev_->drop_pairs();
    const auto s = queues_[i]->state();
    queues_[i]->reset();
    vrings_[i].started = false;
    return {s.next_avail, s.used_idx};
  }
  void enable_vring(std::uint32_t i, bool on) noexcept {
    if (i <= eventq) vrings_[i].enabled = on;
  }
  void memory_changed() noexcept {
    for (std::uint32_t i = 0; i <= eventq; ++i)
      if (vrings_[i].started && !queues_[i]->remap()) vrings_[i].broken = true;
  }

  // ---- served_device ---------------------------------------------------------------------------
  [[nodiscard]] result<notify_mask> on_kick(std::uint32_t i) noexcept {
    if (i > eventq || !serving(i)) return notify_mask{0};
    // A ring's worth per call (device_with_backlog): a driver that keeps adding cannot hold
    // the runner.
    const std::size_t budget = opt_.kick_budget != 0 ? opt_.kick_budget : queues_[i]->size();
    auto r = i == requestq ? dev_->process_requests(budget) : dev_->process_events(budget);
    if (!r) {
      vrings_[i].broken = true;
      return r.error();
    }
    return mask(*r) | poll_chip();
  }
  /// Vrings whose last on_kick() stopped at its budget (device_with_backlog).
  [[nodiscard]] notify_mask backlog() const noexcept {
    if (!dev_) return 0;
    return (serving(requestq) && dev_->requests_left() ? notify_bit(requestq) : 0) |
           (serving(eventq) && dev_->events_left() ? notify_bit(eventq) : 0);
  }
  /// While an interrupt can fire and host_poll_ms is set, poll the chip on that period.
  [[nodiscard]] int deadline_ms() const noexcept {
    return opt_.host_poll_ms > 0 && serving(eventq) && dev_->held_pairs() > 0 ? opt_.host_poll_ms
                                                                              : -1;
  }
  [[nodiscard]] result<notify_mask> on_deadline() noexcept { return poll_chip(); }

  [[nodiscard]] bool started(std::uint32_t i) const noexcept {
    return i <= eventq && vrings_[i].started;
  }
  [[nodiscard]] bool broken(std::uint32_t i) const noexcept {
    return i <= eventq && vrings_[i].broken;
  }
  [[nodiscard]] const gpio::device_stats& stats() const noexcept { return dev_->stats(); }
  [[nodiscard]] const device_type& device() const noexcept { return *dev_; }
  /// Vring i is tracked in an inflight region (started, a region attached, not IN_ORDER).
  [[nodiscard]] bool tracking_inflight(std::uint32_t i) const noexcept {
    return i <= eventq && queues_[i] && queues_[i]->tracking();
  }

 private:
  struct vring_flags {
    bool started = false, enabled = false, broken = false;
  };

  [[nodiscard]] bool serving(std::uint32_t i) const noexcept {
    return vrings_[i].started && vrings_[i].enabled && !vrings_[i].broken;
  }
  /// Only started, enabled, sound vrings are notified (rule B21).
  [[nodiscard]] notify_mask mask(const gpio::notifications& n) const noexcept {
    notify_mask m = 0;
    if (n.requestq && serving(requestq)) m |= notify_bit(requestq);
    if (n.eventq && serving(eventq)) m |= notify_bit(eventq);
    return m;
  }
  /// Host events complete held eventq pairs; an eventq failure there is the device's to count.
  [[nodiscard]] notify_mask poll_chip() noexcept {
    if (!serving(eventq)) return 0;
    auto r = dev_->poll_host();
    return r ? mask(*r) : notify_mask{0};
  }

  Chip* chip_;
  gpio_model_options opt_;
  std::array<std::optional<queue_type>, 2> queues_{};
  std::optional<device_type> dev_;
  std::array<vring_flags, 2> vrings_{};
  std::optional<feature_set> negotiated_;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
