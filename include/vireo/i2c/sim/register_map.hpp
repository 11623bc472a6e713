// SPDX-License-Identifier: Apache-2.0
// A simulated register-based I2C chip (sensors, PMICs, GPIO expanders): N 8-bit registers behind
// the common "register address, then data" protocol, with auto-increment: a sim::target.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "vireo/core/bytes.hpp"
#include "vireo/i2c/sim/target.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c::sim {

/// N registers (1..256), numbered 0..N-1:
///  - A write message's first byte selects the register (a number >= N is NACKed: the message
///    fails); each byte after it is stored in the selected register, and the selection moves to
///    the next one. A byte for a read-only register is NACKed: the message fails there, and the
///    bytes before it stay stored (as on a real chip, which ACKs byte by byte).
///  - A read returns registers from the selection on, moving on after each byte.
///  - Auto-increment wraps from register N-1 to register 0, in both directions.
///  - The selection survives STOP and repeated START: write(register) + read (one transaction)
///    and write(register), STOP, read (two) both read from that register, as SMBus "read byte"
///    and i2cget do.
/// Writes take effect immediately (no commit at STOP). Every register starts at 0, writable.
template <std::size_t N = 256>
class register_map {
  static_assert(N >= 1 && N <= 256, "8-bit register numbers: 1 to 256 registers");

 public:
  static constexpr std::size_t count = N;

  /// Host side: read or set a register whatever its access (a sensor updating its reading).
  /// Precondition: reg < N.
  [[nodiscard]] std::uint8_t get(std::size_t reg) const noexcept {
    VIREO_ASSERT(reg < N);
    return regs_[reg];
  }
  void set(std::size_t reg, std::uint8_t value) noexcept {
    VIREO_ASSERT(reg < N);
    regs_[reg] = value;
  }
  /// Make a register read-only for the bus (its writes are NACKed). Precondition: reg < N.
  void set_read_only(std::size_t reg, bool read_only = true) noexcept {
    VIREO_ASSERT(reg < N);
    read_only_[reg] = read_only;
  }
  [[nodiscard]] bool read_only(std::size_t reg) const noexcept {
    VIREO_ASSERT(reg < N);
    return read_only_[reg];
  }
  /// The selected register: where the next data byte goes or comes from.
  [[nodiscard]] std::size_t selected() const noexcept { return selected_; }

  // ---- sim::target --------------------------------------------------------------------------

  bool start(direction dir) noexcept {
    expect_register_ = dir == direction::write;
    return true;
  }
  bool write(const_bytes data) noexcept {
    for (const std::byte b : data) {
      const std::uint8_t v = std::to_integer<std::uint8_t>(b);
      if (expect_register_) {
        if (std::size_t{v} >= N) return false;  // no such register: NACK
        selected_ = v;
        expect_register_ = false;
        continue;
      }
      if (read_only_[selected_]) return false;
      regs_[selected_] = v;
      advance();
    }
    return true;
  }
  bool read(bytes out) noexcept {
    for (std::byte& b : out) {
      b = std::byte{regs_[selected_]};
      advance();
    }
    return true;
  }
  void stop() noexcept { expect_register_ = false; }

 private:
  void advance() noexcept { selected_ = selected_ + 1 == N ? 0 : selected_ + 1; }

  std::array<std::uint8_t, N> regs_{};
  std::array<bool, N> read_only_{};
  std::size_t selected_ = 0;
  bool expect_register_ = false;
};

static_assert(target<register_map<>>);

}  // namespace i2c::sim
VIREO_NAMESPACE_END
