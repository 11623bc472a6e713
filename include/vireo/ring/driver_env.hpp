// SPDX-License-Identifier: Apache-2.0
// What a front-end's synchronous calls need from their surroundings: a way to notify the device,
// a way to let it answer, and a bound on how long they wait for it.
#pragma once

#include <cstdint>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// The surroundings of a synchronous front-end call:
///  - kick(queue_index): notify the device that the queue with that index (virtio's queue
///    numbering: requestq 0, eventq 1) has new buffers: a doorbell write, an eventfd, or a
///    direct call into a device model running in the same process;
///  - wait(): let time pass until the device may have answered: run an in-process device model,
///    or block until the used-buffer notification or a short timer fires. It must return.
/// Neither may throw (the front-end calls them from noexcept functions).
template <typename E>
concept driver_env = requires(E& e, std::uint16_t queue_index) {
  e.kick(queue_index);
  e.wait();
};

/// How many times a synchronous front-end call waits for its answer before it gives up with a
/// timeout error (the device still owns the buffers then; see the front-ends' abandon rules).
inline constexpr std::uint32_t default_max_waits = 1000;

/// A driver_env made of two callables: `env_callbacks env{kick, wait};`.
template <typename Kick, typename Wait>
struct env_callbacks {
  Kick on_kick;
  Wait on_wait;
  void kick(std::uint16_t queue_index) { on_kick(queue_index); }
  void wait() { on_wait(); }
};
template <typename Kick, typename Wait>
env_callbacks(Kick, Wait) -> env_callbacks<Kick, Wait>;

}  // namespace ring
VIREO_NAMESPACE_END
