// SPDX-License-Identifier: Apache-2.0
// Greybus I2C protocol (greybus digest §6.2; Linux greybus_protocols.h "I2C" and
// drivers/staging/greybus/i2c.c; spec bridged_phy.rst): protocol 0x03. Transfer carries an op
// array and the write data of every write op; its response is the read data of every read op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {
namespace i2c {

inline constexpr protocol_id protocol = protocol_id::i2c;

/// Transfer op flags: Linux i2c_msg flags, passed through unchanged (§6.2).
namespace op_flag {
inline constexpr std::uint16_t rd = 0x0001;        ///< I2C_M_RD: a read op
inline constexpr std::uint16_t ten = 0x0010;       ///< I2C_M_TEN: 10-bit address
inline constexpr std::uint16_t recv_len = 0x0400;  ///< I2C_M_RECV_LEN
inline constexpr std::uint16_t nostart = 0x4000;   ///< I2C_M_NOSTART
}  // namespace op_flag

/// gb_i2c_functionality_response: Linux I2C_FUNC_* bits, passed through unchanged.
struct functionality_response {
  le32 functionality;
};
/// struct gb_i2c_transfer_op.
struct transfer_op {
  le16 addr;
  le16 flags;
  le16 size;
};
static_assert(sizeof(functionality_response) == 4 && alignof(functionality_response) == 1 &&
                  offsetof(functionality_response, functionality) == 0,
              "greybus §6.2: functionality response is le32");
static_assert(sizeof(transfer_op) == 6 && alignof(transfer_op) == 1 &&
                  offsetof(transfer_op, addr) == 0 && offsetof(transfer_op, flags) == 2 &&
                  offsetof(transfer_op, size) == 4,
              "greybus §6.2: transfer op is le16 addr, le16 flags, le16 size");
static_assert(std::is_trivially_copyable_v<transfer_op> && std::is_standard_layout_v<transfer_op>);

[[nodiscard]] constexpr bool is_read(const transfer_op& op) noexcept {
  return (op.flags.get() & op_flag::rd) != 0;
}

/// A Transfer request (§6.2): le16 op_count, op_count × transfer_op, then the write data of
/// every non-read op concatenated in op order, nothing else. A checked view of the received
/// bytes: decode() validates the whole layout once.
class transfer_request {
 public:
  constexpr transfer_request() noexcept = default;

  /// Errors: greybus_payload_too_short (no op_count), greybus_count_overrun (the op array does
  /// not fit), greybus_data_length (write data differs from the sum of write-op sizes: short
  /// or long; Linux's layout leaves no room for anything else).
  [[nodiscard]] static result<transfer_request> decode(const_bytes in) noexcept {
    if (in.size() < sizeof(le16)) return errc::greybus_payload_too_short;
    le16 count;
    std::memcpy(&count, in.data(), sizeof count);
    const std::size_t n = count.get();
    const std::size_t rest = in.size() - sizeof(le16);
    if (n > rest / sizeof(transfer_op)) return errc::greybus_count_overrun;
    return make(in.subspan(sizeof(le16), n * sizeof(transfer_op)),
                in.subspan(sizeof(le16) + n * sizeof(transfer_op)));
  }

  /// A request to send: `ops` and the write data they need. Both are viewed, not copied.
  /// Errors: greybus_count_overrun (more than 65535 ops), greybus_data_length.
  [[nodiscard]] static result<transfer_request> build(std::span<const transfer_op> ops,
                                                      const_bytes write_data) noexcept {
    if (ops.size() > 0xffff) return errc::greybus_count_overrun;
    return make(std::as_bytes(ops), write_data);
  }

  [[nodiscard]] std::size_t op_count() const noexcept { return ops_.size() / sizeof(transfer_op); }
  /// Op `i` (copied out). Precondition: i < op_count().
  [[nodiscard]] transfer_op op(std::size_t i) const noexcept {
    VIREO_ASSERT(i < op_count());
    transfer_op o;
    std::memcpy(&o, ops_.data() + i * sizeof(transfer_op), sizeof o);
    return o;
  }
  /// The write data of all write ops, in op order.
  [[nodiscard]] const_bytes write_data() const noexcept { return write_; }
  /// Bytes the response must carry: the sum of the read-op sizes.
  [[nodiscard]] std::size_t read_length() const noexcept { return read_total_; }

  [[nodiscard]] std::size_t size() const noexcept {
    return sizeof(le16) + ops_.size() + write_.size();
  }
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (out.size() != size()) return errc::no_space;
    const le16 count = le16::from(static_cast<std::uint16_t>(op_count()));
    std::memcpy(out.data(), &count, sizeof count);
    if (!ops_.empty()) std::memcpy(out.data() + sizeof count, ops_.data(), ops_.size());
    if (!write_.empty())
      std::memcpy(out.data() + sizeof count + ops_.size(), write_.data(), write_.size());
    return ok();
  }

 private:
  [[nodiscard]] static result<transfer_request> make(const_bytes ops, const_bytes write) noexcept {
    transfer_request r;
    r.ops_ = ops;
    r.write_ = write;
    std::size_t wr = 0;
    for (std::size_t i = 0; i < r.op_count(); ++i) {
      const transfer_op o = r.op(i);
      (is_read(o) ? r.read_total_ : wr) += o.size.get();
    }
    if (wr != write.size()) return errc::greybus_data_length;
    return r;
  }

  const_bytes ops_{};
  const_bytes write_{};
  std::size_t read_total_ = 0;
};
static_assert(variable_payload<transfer_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;

struct functionality : operation<protocol, 0x02, empty, functionality_response> {
  static constexpr std::string_view name = "functionality";
};
/// Response: the read data (check its length against the request: check_transfer_response).
struct transfer : operation<protocol, 0x05, transfer_request, byte_payload> {
  static constexpr std::string_view name = "transfer";
};

using operations = operation_list<cport_shutdown, functionality, transfer>;

/// A successful Transfer response carries exactly the read data the request asked for: short
/// reads fail the whole transfer (§6.2, Linux gb_i2c_decode_response copies that many bytes).
/// Errors: greybus_payload_too_short, greybus_payload_too_long.
[[nodiscard]] inline result<void> check_transfer_response(const transfer_request& request,
                                                          const byte_payload& response) noexcept {
  if (response.data.size() < request.read_length()) return errc::greybus_payload_too_short;
  if (response.data.size() > request.read_length()) return errc::greybus_payload_too_long;
  return ok();
}

}  // namespace i2c
}  // namespace greybus
VIREO_NAMESPACE_END
