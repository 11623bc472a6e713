// SPDX-License-Identifier: Apache-2.0
// What the back-end session knows about one vring (digest §5): size, addresses, base, the
// started x enabled flags and the kick/call/err fds with the "no fd" bit.
#pragma once

#include <cstdint>

#include "vireo/core/config.hpp"
#include "vireo/ring/queue_config.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// An fd slot: -1 when the session holds no fd for it.
inline constexpr int no_fd = -1;

/// One vring as the front-end configured it. Ring addresses are kept as front-end user addresses
/// and translated to guest-physical ones whenever the ring starts or the memory table changes
/// (pitfall 10: never keep raw pointers across table updates).
struct vring_state {
  std::uint32_t num = 0;          ///< SET_VRING_NUM; 0 until set
  bool addr_set = false;          ///< SET_VRING_ADDR seen
  std::uint32_t addr_flags = 0;   ///< vring_addr_flag bits: LOG = log used-ring writes (§6.3)
  std::uint64_t log_addr = 0;     ///< log_guest_addr: where used-ring writes are logged (F_LOG)
  std::uint64_t desc_user = 0, avail_user = 0, used_user = 0;
  bool base_set = false;          ///< SET_VRING_BASE seen
  std::uint32_t base = 0;         ///< split: next avail idx; packed: avail | used << 16 (§2)
  bool started = false;
  bool enabled = false;
  int kick_fd = no_fd;
  int call_fd = no_fd;
  int err_fd = no_fd;
  bool kick_set = false;          ///< SET_VRING_KICK seen (an fd, or the no-fd bit)
  bool kick_polled = false;       ///< the no-fd bit: the device polls instead of waiting on kick
  ring::queue_config config{};    ///< valid while `started`
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
