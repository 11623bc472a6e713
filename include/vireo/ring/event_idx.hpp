// SPDX-License-Identifier: Apache-2.0
// The EVENT_IDX "need event" test shared by both layouts and both sides (virtio 1.3 §2.7.7.2).
#pragma once

#include <cstdint>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// True when index `event` lies in the half-open window [old_idx, new_idx) modulo 2^16, i.e. one
/// of the entries just published sits at `event`. The subtractions wrap on purpose: indices are
/// free-running u16 counters, and the window test stays right across the wrap. An equality test
/// (new == event + 1) would miss events inside a batch.
[[nodiscard]] constexpr bool need_event(std::uint16_t event, std::uint16_t new_idx,
                                        std::uint16_t old_idx) noexcept {
  return static_cast<std::uint16_t>(new_idx - event - 1) <
         static_cast<std::uint16_t>(new_idx - old_idx);
}

static_assert(need_event(0, 1, 0));
static_assert(need_event(65535, 2, 65534));
static_assert(!need_event(5, 9, 6));

}  // namespace ring
VIREO_NAMESPACE_END
