// SPDX-License-Identifier: Apache-2.0
// What a runner needs from a device model besides the session's device_model contract: a way to
// serve a kicked vring and, optionally, a timer and a host-event hook. Freestanding: the runner
// (linux/vhost_user_backend_runner.hpp) or an embedder's own loop calls these.
#pragma once

#include <concepts>
#include <cstdint>

#include "vireo/core/result.hpp"
#include "vireo/vhost_user/backend/device.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// Vrings that need a used-buffer notification now: bit i for vring i (the runner serves 64).
using notify_mask = std::uint64_t;

[[nodiscard]] constexpr notify_mask notify_bit(std::uint32_t vring) noexcept {
  return vring < 64 ? notify_mask{1} << vring : 0;
}

/// A device model a runner can serve.
///  - on_kick(i): vring i got an available-buffer notification (or is polled, or was just
///    enabled). Serve it and return the vrings to notify, already filtered by each queue's
///    suppression (EVENT_IDX / NO_INTERRUPT) and limited to started, enabled vrings (rule B21).
///    An error means vring i is broken (ring corruption by the driver): the runner signals the
///    vring's err fd and the device ignores the vring until it is started again.
template <typename D>
concept served_device = device_model<D> && requires(D& d, std::uint32_t i) {
  { d.on_kick(i) } -> std::same_as<result<notify_mask>>;
};

/// Optional: a deadline. deadline_ms() is how long until on_deadline() must run (-1: none);
/// e.g. an i2c device holding an unterminated FAIL_NEXT group closes it on a deadline.
template <typename D>
concept device_with_deadline = requires(D& d, const D& cd) {
  { cd.deadline_ms() } -> std::same_as<int>;
  { d.on_deadline() } -> std::same_as<result<notify_mask>>;
};

/// Optional: a backlog. A device serves at most a ring's worth of chains per on_kick(), so that
/// a driver that keeps adding cannot hold a runner that serves other vrings and devices too;
/// backlog() names the vrings whose last on_kick() stopped there. The runner calls on_kick()
/// for them again at its next turn, after the other work that is ready.
template <typename D>
concept device_with_backlog = requires(const D& cd) {
  { cd.backlog() } -> std::same_as<notify_mask>;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
