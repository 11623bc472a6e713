// SPDX-License-Identifier: Apache-2.0
// A typed client of one Greybus I2C connection (greybus digest §6.2; Linux
// drivers/staging/greybus/i2c.c is the AP-side model): Functionality, and Transfer with the op
// list built from the caller's messages and the read data copied back and length-checked.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/operation.hpp"
#include "vireo/greybus/operation_tracker.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::host {

/// One message of a transfer: a read fills `data`, a write sends it.
struct i2c_message {
  std::uint16_t addr = 0;
  std::uint16_t flags = 0;  ///< i2c::op_flag bits (rd for a read), Linux i2c_msg flags
  bytes data{};
};

/// The I2C adapter on `cport` of a host (host::ap). Up to MaxOps messages per transfer (Linux
/// limits a transfer by the message size only; this bound keeps the op table on the stack).
template <typename Host, std::size_t MaxOps = 16>
class i2c_client {
 public:
  /// Errors: greybus_protocol_mismatch (not enumerated, CPort absent or of another protocol).
  [[nodiscard]] static result<i2c_client> bind(Host& host, std::uint16_t cport) noexcept {
    const auto p = host.protocol_of(cport);
    if (!p || *p != static_cast<std::uint8_t>(protocol_id::i2c)) return errc::greybus_protocol_mismatch;
    return i2c_client{host, cport};
  }

  [[nodiscard]] std::uint16_t cport() const noexcept { return cport_; }

  /// Functionality: the adapter's I2C_FUNC_* bits.
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<std::uint32_t> functionality(Progress&& progress,
                                                    std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    auto r = host_->template call<i2c::functionality>(cport_, empty{}, progress, timeout_ms);
    VIREO_TRY(r);
    return r->functionality.get();
  }

  /// Transfer `msgs` as one Greybus Transfer (one combined I2C transaction, repeated starts
  /// between messages). Write data is sent from the messages; the response's read data (exactly
  /// the sum of the read sizes, §6.2: short reads fail the transfer) is copied into the read
  /// messages in order.
  /// Errors: invalid_argument (no message, more than MaxOps, or one longer than 65535 bytes),
  /// greybus_message_too_large (the request does not fit a message), greybus_error_response
  /// (the module refused: a NACK comes back as GB_OP_NONEXISTENT in Linux terms, see
  /// host.last_status()), greybus_payload_too_short / _too_long (the read data has the wrong
  /// length), and those of ap::call().
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> transfer(std::span<const i2c_message> msgs, Progress&& progress,
                                      std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    if (msgs.empty() || msgs.size() > MaxOps) return errc::invalid_argument;
    std::array<i2c::transfer_op, MaxOps> ops{};
    std::size_t write_total = 0;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      if (msgs[i].data.size() > 0xffff) return errc::invalid_argument;
      ops[i] = {le16::from(msgs[i].addr), le16::from(msgs[i].flags),
                le16::from(static_cast<std::uint16_t>(msgs[i].data.size()))};
      if (!i2c::is_read(ops[i])) write_total += msgs[i].data.size();
    }
    // The write data goes out concatenated: gather it where the request is built.
    if (write_total > write_buf_.size()) return errc::greybus_message_too_large;
    std::size_t at = 0;
    for (const i2c_message& m : msgs) {
      if ((m.flags & i2c::op_flag::rd) != 0 || m.data.empty()) continue;
      std::memcpy(write_buf_.data() + at, m.data.data(), m.data.size());
      at += m.data.size();
    }
    auto req = i2c::transfer_request::build(std::span<const i2c::transfer_op>{ops.data(), msgs.size()},
                                            const_bytes{write_buf_}.first(write_total));
    VIREO_TRY(req);
    auto r = host_->template call<i2c::transfer>(cport_, *req, progress, timeout_ms);
    VIREO_TRY(r);
    VIREO_TRY(i2c::check_transfer_response(*req, *r));
    at = 0;
    for (const i2c_message& m : msgs) {
      if ((m.flags & i2c::op_flag::rd) == 0 || m.data.empty()) continue;
      std::memcpy(m.data.data(), r->data.data() + at, m.data.size());
      at += m.data.size();
    }
    return ok();
  }

  /// A plain write of `data` to `addr`.
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> write(std::uint16_t addr, const_bytes data, Progress&& progress,
                                   std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    // A write op's data is only read: the cast never leads to a write.
    const i2c_message m[] = {{addr, 0, bytes{const_cast<std::byte*>(data.data()), data.size()}}};
    return transfer(m, progress, timeout_ms);
  }
  /// Write `out` then read `in` with a repeated start (a register or EEPROM read).
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> write_read(std::uint16_t addr, const_bytes out, bytes in,
                                        Progress&& progress,
                                        std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    const i2c_message m[] = {{addr, 0, bytes{const_cast<std::byte*>(out.data()), out.size()}},
                             {addr, i2c::op_flag::rd, in}};
    return transfer(m, progress, timeout_ms);
  }

 private:
  i2c_client(Host& h, std::uint16_t cport) noexcept : host_(&h), cport_(cport) {}

  Host* host_;
  std::uint16_t cport_;
  /// Gathered write data: at most a whole message's worth.
  std::array<std::byte, 2048> write_buf_{};
};

}  // namespace greybus::host
VIREO_NAMESPACE_END
