// SPDX-License-Identifier: Apache-2.0
// A simulated I2C bus for tests, examples and back-end-less devices: targets attached at 7- or
// 10-bit addresses, I2C_RDWR-style combined transfers, NACK for absent targets, fault injection.
// A model of i2c::host_bus (host_bus.hpp); freestanding (no heap, no OS).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/sim/target.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c::sim {

/// A bus with room for MaxTargets targets. transfer() runs the messages in order as one
/// transaction: each message is a START (repeated START after the first) with its target's
/// address, then its bytes; a message whose address nobody ACKs, or whose target NACKs a byte,
/// ends the transaction. Every target addressed in the transaction then sees STOP. So a
/// zero-length message is a presence probe (i2cdetect -q): ACK if a target answers the address.
/// There is no general call: a message to 0x00 reaches only a target attached at 0x00.
/// Not thread-safe; targets are referenced, not owned.
template <std::size_t MaxTargets = 8>
class bus {
  static_assert(MaxTargets > 0);

 public:
  static constexpr std::size_t max_targets = MaxTargets;

  /// Attach `t` at `a` (7-bit and 10-bit addresses are distinct: 7-bit 0x50 and 10-bit 0x050
  /// are two targets). Errors: i2c_address_in_use, i2c_bus_full.
  [[nodiscard]] result<void> attach(address a, target_ref t) noexcept {
    VIREO_ASSERT(!t.empty());
    if (index_of(a) != MaxTargets) return errc::i2c_address_in_use;
    for (entry& e : entries_) {
      if (e.ref.empty()) {
        e = entry{a.mode(), a.value(), t};
        return ok();
      }
    }
    return errc::i2c_bus_full;
  }
  template <target T>
  [[nodiscard]] result<void> attach(address a, T& t) noexcept {
    return attach(a, target_ref{t});
  }
  /// Remove the target at `a`. Errors: not_found.
  [[nodiscard]] result<void> detach(address a) noexcept {
    const std::size_t i = index_of(a);
    if (i == MaxTargets) return errc::not_found;
    entries_[i] = entry{};
    return ok();
  }
  /// Whether a target is attached at `a` (what a probe would find, faults aside).
  [[nodiscard]] bool present(address a) const noexcept {
    return index_of(a) != MaxTargets;
  }

  /// host_bus: run `msgs` as one combined transaction; returns how many leading messages
  /// completed (msgs.size(): all). A failed read may leave part of its data written.
  [[nodiscard]] std::size_t transfer(std::span<const host_message> msgs) noexcept {
    ++transfers_;
    last_size_ = msgs.size();
    std::array<bool, MaxTargets> addressed{};
    std::size_t done = 0;
    for (; done < msgs.size(); ++done) {
      const host_message& m = msgs[done];
      if (budget_ && completed_ >= *budget_) break;  // fail_after: the bus gives up
      const std::size_t i = index_of(m.target);
      if (i == MaxTargets) break;  // nobody ACKs the address
      if (nack_once_ && *nack_once_ == m.target) {
        nack_once_.reset();
        break;
      }
      const target_ref& t = entries_[i].ref;
      addressed[i] = true;
      if (!t.start(m.dir)) break;
      if (!m.data.empty()) {  // a zero-length message is the address phase alone
        const bool acked = m.dir == direction::write ? t.write(m.data) : t.read(m.data);
        if (!acked) break;
      }
      ++completed_;
    }
    for (std::size_t i = 0; i < MaxTargets; ++i)
      if (addressed[i]) entries_[i].ref.stop();
    if (done < msgs.size()) ++failed_;
    return done;
  }

  // ---- fault injection (tests) --------------------------------------------------------------

  /// The next address phase naming `a` is NACKed, once, even if a target is attached there.
  void nack_once(address a) noexcept { nack_once_ = a; }
  /// Complete `ok_messages` more messages, then fail every message until clear_faults().
  void fail_after(std::uint64_t ok_messages) noexcept { budget_ = completed_ + ok_messages; }
  void clear_faults() noexcept {
    nack_once_.reset();
    budget_.reset();
  }

  // ---- counters -----------------------------------------------------------------------------

  /// transfer() calls.
  [[nodiscard]] std::uint64_t transfers() const noexcept { return transfers_; }
  /// Messages completed, over all transfers.
  [[nodiscard]] std::uint64_t messages() const noexcept { return completed_; }
  /// Transfers that stopped before their last message (a NACK or an injected fault).
  [[nodiscard]] std::uint64_t failed_transfers() const noexcept { return failed_; }
  /// Messages in the latest transfer() call.
  [[nodiscard]] std::size_t last_transfer_size() const noexcept { return last_size_; }

 private:
  struct entry {
    address_mode mode = address_mode::seven_bit;
    std::uint16_t value = 0;
    target_ref ref{};  ///< empty(): a free entry
  };
  /// The entry holding `a`, or MaxTargets.
  [[nodiscard]] std::size_t index_of(address a) const noexcept {
    for (std::size_t i = 0; i < MaxTargets; ++i) {
      const entry& e = entries_[i];
      if (!e.ref.empty() && e.mode == a.mode() && e.value == a.value()) return i;
    }
    return MaxTargets;
  }

  std::array<entry, MaxTargets> entries_{};
  std::optional<address> nack_once_{};
  std::optional<std::uint64_t> budget_{};
  std::uint64_t transfers_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t failed_ = 0;
  std::size_t last_size_ = 0;
};

static_assert(host_bus<bus<1>>);

}  // namespace i2c::sim
VIREO_NAMESPACE_END
