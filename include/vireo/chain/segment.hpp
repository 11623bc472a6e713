// SPDX-License-Identifier: Apache-2.0
// One resolved piece of a descriptor chain: guest range, host view (if mappable), direction.
#pragma once

#include <cstdint>
#include <type_traits>

#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace chain {

/// A descriptor's buffer after validation. `host` is a zero-copy view when the range lies in one
/// memory region, nullptr when it spans regions (cursors then copy through the memory model).
/// Trivially constructible on purpose: a chain holds an array of these and fills only a prefix.
struct segment {
  std::byte* host;
  gpa addr;
  std::uint32_t len;
};
static_assert(std::is_trivially_default_constructible_v<segment>);

/// What the device hands back to complete a chain: enough to write the used entry on either
/// layout and to check IN_ORDER, without keeping the chain itself.
struct used_token {
  std::uint16_t id = 0;            ///< split: head index; packed: buffer id
  std::uint16_t slots = 0;         ///< ring slots the chain occupied (packed used-cursor advance)
  std::uint16_t seq = 0;           ///< position in pop order (IN_ORDER check)
  std::uint32_t writable_len = 0;  ///< bytes the driver offered for writing
  /// Made by the queue's rejected(): the chain's length is unknown, so it is completed with
  /// length 0 and never hidden inside an IN_ORDER batch (which would tell the driver that the
  /// device wrote all of its writable bytes).
  bool rejected = false;
};

}  // namespace chain
VIREO_NAMESPACE_END
