// SPDX-License-Identifier: Apache-2.0
// Reclaim that keeps used-buffer notifications coming: what a front-end calls when it drains a
// driver queue and may then sleep until the device notifies it.
#pragma once

#include <optional>

#include "vireo/core/result.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/queue_api.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// reclaim(); when nothing is left, ask for the next used-buffer notification
/// (enable_interrupts(): with EVENT_IDX it moves used_event / the off_wrap to the driver's
/// position, without it it clears the "no interrupt" flag) and look once more, so that a buffer
/// the device completed in between is returned now instead of waiting for a notification that
/// will not come (§2.7.10, §2.8.10). Without this, under EVENT_IDX the device stops notifying
/// after the first notification: used_event would stay where it was. Linux does the same when
/// it drains a queue (virtqueue_get_buf keeps used_event at last_used; virtqueue_enable_cb).
/// Errors: those of reclaim().
template <driver_queue_api Q>
[[nodiscard]] result<std::optional<used_buffer>> reclaim_rearmed(Q& q) noexcept {
  auto u = q.reclaim();
  if (!u || *u) return u;
  if (!q.enable_interrupts()) return u;
  return q.reclaim();
}

}  // namespace ring
VIREO_NAMESPACE_END
