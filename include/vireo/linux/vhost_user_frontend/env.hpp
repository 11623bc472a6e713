// SPDX-License-Identifier: Apache-2.0
// A ring::driver_env over a vhost-user front-end: the driver-side front-ends (i2c::driver,
// gpio::driver) kick through the vring's kick eventfd and wait on the call eventfds.
#pragma once

#include <cstdint>
#include <optional>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// The surroundings of a synchronous driver call (ring::driver_env) when the device is a
/// vhost-user back-end behind `Frontend` (basic_frontend): kick(q) signals vring q's kick eventfd;
/// wait() waits up to `wait_ms` for the call eventfd of any started vring. Neither can report an
/// error to the driver (driver_env's calls return nothing), so the first one is kept in error();
/// the driver's own bound on waits (max_waits) ends the call with its timeout error.
template <typename Frontend>
class frontend_env {
 public:
  explicit frontend_env(Frontend& fe, int wait_ms = 100) noexcept : fe_(&fe), wait_ms_(wait_ms) {}

  void kick(std::uint16_t queue_index) noexcept {
    ++kicks_;
    note(fe_->kick(queue_index));
  }
  void wait() noexcept {
    ++waits_;
    const auto n = fe_->wait_calls(wait_ms_);
    if (!n) note(result<void>{n.error()});
    else calls_ += *n;
  }

  /// The first failure of a kick or a wait, if any.
  [[nodiscard]] std::optional<errc> error() const noexcept { return error_; }
  [[nodiscard]] std::uint64_t kicks() const noexcept { return kicks_; }
  [[nodiscard]] std::uint64_t waits() const noexcept { return waits_; }
  /// Call eventfds found signalled by wait().
  [[nodiscard]] std::uint64_t calls() const noexcept { return calls_; }

 private:
  void note(const result<void>& r) noexcept {
    if (!r && !error_) error_ = r.error();
  }

  Frontend* fe_;
  int wait_ms_;
  std::optional<errc> error_;
  std::uint64_t kicks_ = 0, waits_ = 0, calls_ = 0;
};

}  // namespace linux_host
VIREO_NAMESPACE_END
