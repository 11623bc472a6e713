// SPDX-License-Identifier: Apache-2.0
// The module side of the Greybus I2C protocol (greybus digest §6.2; spec bridged_phy.rst; Linux
// drivers/staging/greybus/i2c.c is the requester) over a host I2C adapter (i2c/host_bus.hpp):
// the same bus object a virtio-i2c device model can drive, behind an allow-list of 7-bit
// target addresses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/responder.hpp"
#include "vireo/greybus/operation.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::module {

/// Linux I2C_FUNC_* bits (include/uapi/linux/i2c.h; the Greybus values are the same, §6.2).
namespace i2c_func {
inline constexpr std::uint32_t i2c = 0x00000001;
inline constexpr std::uint32_t ten_bit_addr = 0x00000002;
inline constexpr std::uint32_t smbus_pec = 0x00000008;
inline constexpr std::uint32_t nostart = 0x00000010;
inline constexpr std::uint32_t smbus_quick = 0x00010000;
inline constexpr std::uint32_t smbus_byte = 0x00060000;        ///< READ_BYTE | WRITE_BYTE
inline constexpr std::uint32_t smbus_byte_data = 0x00180000;   ///< READ/WRITE_BYTE_DATA
inline constexpr std::uint32_t smbus_word_data = 0x00600000;   ///< READ/WRITE_WORD_DATA
inline constexpr std::uint32_t smbus_proc_call = 0x00800000;
inline constexpr std::uint32_t smbus_write_block_data = 0x02000000;
inline constexpr std::uint32_t smbus_i2c_block = 0x0c000000;   ///< READ/WRITE_I2C_BLOCK
/// I2C_FUNC_SMBUS_EMUL: what the Linux I2C core emulates with plain I2C transfers, so what an
/// adapter with master_xfer and no smbus_xfer offers (no block read: it needs I2C_M_RECV_LEN).
inline constexpr std::uint32_t smbus_emul = smbus_quick | smbus_byte | smbus_byte_data |
                                            smbus_word_data | smbus_proc_call |
                                            smbus_write_block_data | smbus_i2c_block | smbus_pec;
}  // namespace i2c_func

/// What i2c_responder reports by default: plain I2C transfers with 7-bit addresses and the
/// SMBus commands the Linux core builds from them (= what i2c-dev reports for such an adapter,
/// 0x0eff0009). Not 10-bit (the allow-list is 7-bit), not NOSTART, not block reads.
inline constexpr std::uint32_t default_i2c_functionality = i2c_func::i2c | i2c_func::smbus_emul;

/// I2C responder over `Bus`: at most MaxOps ops per Transfer, at most MaxAllowed addresses.
///
/// Transfer (§6.2): the whole request is checked before the bus sees any of it, then it runs as
/// ONE combined host transaction (repeated START between ops), write ops straight from the
/// request bytes and read ops straight into the response (zero-copy). Answers:
///  - malformed layout, no op, more than MaxOps ops, an address above 0x7f, a flag other than
///    I2C_M_RD (I2C_M_DMA_SAFE, a kernel-internal hint Linux passes through, is ignored):
///    GB_OP_INVALID;
///  - an address not on the allow-list: GB_OP_NONEXISTENT without touching the bus, the answer
///    a NACK gets, so a refused target looks absent;
///  - the bus completes fewer ops than asked (NACK, fault): GB_OP_NONEXISTENT (-ENODEV), which
///    Linux's gb_i2c_expected_transfer_error() treats as an expected result (with -EAGAIN);
///  - read data that would not fit the response buffer: GB_OP_OVERFLOW, bus untouched;
///  - success: the read data of every read op, concatenated in op order.
/// Functionality answers the value given to create(). Unknown types: GB_OP_INVALID.
template <::vireo::i2c::host_bus Bus, std::size_t MaxOps = 16, std::size_t MaxAllowed = 8>
class i2c_responder {
  static_assert(MaxOps >= 1 && MaxAllowed >= 1);

 public:
  static constexpr protocol_id protocol = protocol_id::i2c;
  /// Op flags the responder accepts: I2C_M_RD, and I2C_M_DMA_SAFE (0x0200), ignored.
  static constexpr std::uint16_t dma_safe_flag = 0x0200;

  /// A responder for `bus` (referenced: it must outlive the responder) that lets the AP reach
  /// the 7-bit addresses `allowed` only, and reports `functionality`.
  /// Errors: invalid_argument (more than MaxAllowed addresses, or one above 0x7f).
  [[nodiscard]] static result<i2c_responder> create(
      Bus& bus, std::span<const std::uint16_t> allowed,
      std::uint32_t functionality = default_i2c_functionality) noexcept {
    if (allowed.size() > MaxAllowed) return errc::invalid_argument;
    i2c_responder r{bus, functionality};
    for (std::size_t i = 0; i < allowed.size(); ++i) {
      if (allowed[i] > ::vireo::i2c::address::max_7bit) return errc::invalid_argument;
      r.allowed_[i] = allowed[i];
    }
    r.nallowed_ = allowed.size();
    return r;
  }

  // ---- responder ----------------------------------------------------------------------------

  [[nodiscard]] result<std::size_t> handle(const message& m, bytes out) noexcept {
    switch (m.type()) {
      case i2c::cport_shutdown::type: return answer_cport_shutdown<protocol>(m, out);
      case i2c::functionality::type: {
        const auto req = decode_request<i2c::functionality>(m);
        if (!req) return reply_refused(m, req.error(), out);
        i2c::functionality_response r{};
        r.functionality.set(functionality_);
        return reply<i2c::functionality>(m, r, out);
      }
      case i2c::transfer::type: return answer_transfer(m, out);
      default: return reply_error(m, status::invalid, out);
    }
  }
  /// I2C has no module-initiated message.
  [[nodiscard]] std::optional<std::size_t> next_outgoing(bytes) noexcept { return std::nullopt; }
  void connected() noexcept {}
  void disconnected() noexcept {}

  // ---- observers ----------------------------------------------------------------------------

  [[nodiscard]] bool allowed(std::uint16_t addr) const noexcept {
    for (std::size_t i = 0; i < nallowed_; ++i)
      if (allowed_[i] == addr) return true;
    return false;
  }
  [[nodiscard]] std::uint32_t functionality() const noexcept { return functionality_; }
  /// Transfers refused for an address off the allow-list, and transfers the bus failed.
  [[nodiscard]] std::uint64_t refused_transfers() const noexcept { return refused_; }
  [[nodiscard]] std::uint64_t failed_transfers() const noexcept { return failed_; }

 private:
  i2c_responder(Bus& bus, std::uint32_t functionality) noexcept
      : bus_(&bus),
        functionality_(functionality),
        msgs_(blank_messages(std::make_index_sequence<MaxOps>{})) {}

  /// i2c::address has no default value: the message slots start as empty writes to 0x00.
  template <std::size_t... I>
  [[nodiscard]] static std::array<::vireo::i2c::host_message, MaxOps> blank_messages(
      std::index_sequence<I...>) noexcept {
    const ::vireo::i2c::address nobody = *::vireo::i2c::address::seven_bit(0);
    return {{((void)I, ::vireo::i2c::host_message{nobody, ::vireo::i2c::direction::write, {}})...}};
  }

  [[nodiscard]] result<std::size_t> answer_transfer(const message& m, bytes out) noexcept {
    const auto req = decode_request<i2c::transfer>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const std::size_t n = req->op_count();
    if (n == 0 || n > MaxOps) return reply_error(m, status::invalid, out);

    bool refused = false;
    for (std::size_t i = 0; i < n; ++i) {
      const i2c::transfer_op op = req->op(i);
      const std::uint16_t flags = op.flags.get();
      if ((flags & ~(i2c::op_flag::rd | dma_safe_flag)) != 0 ||
          op.addr.get() > ::vireo::i2c::address::max_7bit)
        return reply_error(m, status::invalid, out);
      if (!allowed(op.addr.get())) refused = true;
    }
    if (refused) {
      ++refused_;
      return reply_error(m, status::nonexistent, out);
    }
    const std::size_t read_len = req->read_length();
    if (read_len > max_payload_size || out.size() < header_size + read_len) {
      if (m.unidirectional()) return std::size_t{0};
      return reply_error(m, status::overflow, out);
    }

    // One host message per op; write data and read buffers are views (zero-copy). The write
    // views drop const only because host_message has one span type: the host_bus contract
    // forbids a back-end to change a write's bytes.
    const bytes read_area = out.subspan(header_size, read_len);
    const const_bytes write_data = req->write_data();
    std::size_t rd = 0;
    std::size_t wr = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const i2c::transfer_op op = req->op(i);
      const std::size_t len = op.size.get();
      const auto target = ::vireo::i2c::address::seven_bit(op.addr.get());
      VIREO_ASSERT(target.has_value());  // checked above
      if (i2c::is_read(op)) {
        msgs_[i] = {*target, ::vireo::i2c::direction::read, read_area.subspan(rd, len)};
        rd += len;
      } else {
        msgs_[i] = {*target, ::vireo::i2c::direction::write,
                    {const_cast<std::byte*>(write_data.data() + wr), len}};
        wr += len;
      }
    }
    const std::size_t done =
        bus_->transfer(std::span<const ::vireo::i2c::host_message>{msgs_.data(), n});
    if (done != n) {
      ++failed_;
      return reply_error(m, status::nonexistent, out);
    }
    if (m.unidirectional()) return std::size_t{0};
    // The read data is already in place after the header: write the header alone.
    VIREO_TRY(store_header(make_response_header(m.id(), i2c::transfer::type, 0, read_len), out));
    return header_size + read_len;
  }

  Bus* bus_;
  std::uint32_t functionality_;
  std::array<std::uint16_t, MaxAllowed> allowed_{};
  std::size_t nallowed_ = 0;
  std::array<::vireo::i2c::host_message, MaxOps> msgs_;
  std::uint64_t refused_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace greybus::module
VIREO_NAMESPACE_END
