// SPDX-License-Identifier: Apache-2.0
// Greybus SPI protocol (greybus digest §6.3; Linux greybus_protocols.h "SPI" and
// drivers/staging/greybus/spilib.c; spec bridged_phy.rst): protocol 0x0b. Layouts follow Linux
// where the spec's tables are inconsistent (Master Config offsets, u8 chip_select / count).
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
namespace spi {

inline constexpr protocol_id protocol = protocol_id::spi;

/// Mode bits (Linux GB_SPI_MODE_*, = linux/spi/spi.h). Transfer carries them as u8, the
/// config responses as le16.
namespace mode_bit {
inline constexpr std::uint16_t cpha = 0x01;
inline constexpr std::uint16_t cpol = 0x02;
inline constexpr std::uint16_t cs_high = 0x04;
inline constexpr std::uint16_t lsb_first = 0x08;
inline constexpr std::uint16_t three_wire = 0x10;
inline constexpr std::uint16_t loop = 0x20;
inline constexpr std::uint16_t no_cs = 0x40;
inline constexpr std::uint16_t ready = 0x80;
}  // namespace mode_bit
/// Master flags (Linux GB_SPI_FLAG_*).
namespace master_flag {
inline constexpr std::uint16_t half_duplex = 0x1;
inline constexpr std::uint16_t no_rx = 0x2;
inline constexpr std::uint16_t no_tx = 0x4;
}  // namespace master_flag
/// Transfer descriptor xfer_flags (Linux GB_SPI_XFER_*).
namespace xfer_flag {
inline constexpr std::uint8_t read = 0x01;
inline constexpr std::uint8_t write = 0x02;
/// The Linux transfer continues in the next Transfer operation (a split spi_message).
inline constexpr std::uint8_t inprogress = 0x04;
}  // namespace xfer_flag
/// Device Config device_type (Linux GB_SPI_SPI_*).
enum class device_type : std::uint8_t { spidev = 0x00, spi_nor = 0x01, modalias = 0x02 };

/// gb_spi_master_config_response (Linux layout: mode at 12, flags at 14, num_chipselect at 16).
struct master_config_response {
  le32 bits_per_word_mask;  ///< bit n-1 set: n-bit words supported
  le32 min_speed_hz;
  le32 max_speed_hz;
  le16 mode;
  le16 flags;
  std::uint8_t num_chipselect;
};
struct device_config_request {
  std::uint8_t chip_select;
};
/// gb_spi_device_config_response; `name` is used only for device_type modalias.
struct device_config_response {
  le16 mode;
  std::uint8_t bits_per_word;
  le32 max_speed_hz;
  std::uint8_t device_type;
  std::uint8_t name[32];
};
/// struct gb_spi_transfer: one transfer descriptor.
struct transfer_desc {
  le32 speed_hz;  ///< 0 = device default
  le32 len;
  le16 delay_usecs;
  std::uint8_t cs_change;
  std::uint8_t bits_per_word;  ///< 0 = device default
  std::uint8_t xfer_flags;     ///< xfer_flag bits
};
/// The fixed head of gb_spi_transfer_request.
struct transfer_head {
  std::uint8_t chip_select;
  std::uint8_t mode;  ///< u8 here, le16 in the config responses (Linux: dev->mode truncated)
  le16 count;
};

static_assert(sizeof(master_config_response) == 17 && alignof(master_config_response) == 1,
              "greybus §6.3: master config response is 17 bytes (Linux layout)");
static_assert(offsetof(master_config_response, bits_per_word_mask) == 0 &&
                  offsetof(master_config_response, min_speed_hz) == 4 &&
                  offsetof(master_config_response, max_speed_hz) == 8 &&
                  offsetof(master_config_response, mode) == 12 &&
                  offsetof(master_config_response, flags) == 14 &&
                  offsetof(master_config_response, num_chipselect) == 16,
              "greybus §6.3 [DIFF]: master config offsets follow Linux, not the spec table");
static_assert(sizeof(device_config_request) == 1 &&
              offsetof(device_config_request, chip_select) == 0);
static_assert(sizeof(device_config_response) == 40 && alignof(device_config_response) == 1,
              "greybus §6.3: device config response is 40 bytes");
static_assert(offsetof(device_config_response, mode) == 0 &&
                  offsetof(device_config_response, bits_per_word) == 2 &&
                  offsetof(device_config_response, max_speed_hz) == 3 &&
                  offsetof(device_config_response, device_type) == 7 &&
                  offsetof(device_config_response, name) == 8,
              "greybus §6.3: device config response field offsets");
static_assert(sizeof(transfer_desc) == 13 && alignof(transfer_desc) == 1,
              "greybus §6.3: transfer descriptor is 13 bytes");
static_assert(offsetof(transfer_desc, speed_hz) == 0 && offsetof(transfer_desc, len) == 4 &&
                  offsetof(transfer_desc, delay_usecs) == 8 &&
                  offsetof(transfer_desc, cs_change) == 10 &&
                  offsetof(transfer_desc, bits_per_word) == 11 &&
                  offsetof(transfer_desc, xfer_flags) == 12,
              "greybus §6.3: transfer descriptor field offsets");
static_assert(sizeof(transfer_head) == 4 && offsetof(transfer_head, chip_select) == 0 &&
                  offsetof(transfer_head, mode) == 1 && offsetof(transfer_head, count) == 2,
              "greybus §6.3: transfer request is u8 chip_select, u8 mode, le16 count");
static_assert(std::is_trivially_copyable_v<transfer_desc> &&
              std::is_standard_layout_v<transfer_desc> &&
              std::is_trivially_copyable_v<master_config_response> &&
              std::is_standard_layout_v<device_config_response>);

/// A Transfer request (§6.3): head, count × transfer_desc, then the write data of every WRITE
/// descriptor concatenated. A READ|WRITE descriptor of length n consumes n write bytes and
/// produces n read bytes. A checked view of the received bytes.
class transfer_request {
 public:
  constexpr transfer_request() noexcept = default;

  /// Errors: greybus_payload_too_short (no head), greybus_count_overrun, greybus_data_length.
  [[nodiscard]] static result<transfer_request> decode(const_bytes in) noexcept {
    if (in.size() < sizeof(transfer_head)) return errc::greybus_payload_too_short;
    transfer_head h;
    std::memcpy(&h, in.data(), sizeof h);
    const std::size_t n = h.count.get();
    const std::size_t rest = in.size() - sizeof h;
    if (n > rest / sizeof(transfer_desc)) return errc::greybus_count_overrun;
    return make(h.chip_select, h.mode, in.subspan(sizeof h, n * sizeof(transfer_desc)),
                in.subspan(sizeof h + n * sizeof(transfer_desc)));
  }

  /// A request to send; `descs` and `write_data` are viewed, not copied.
  /// Errors: greybus_count_overrun (more than 65535 descriptors), greybus_data_length.
  [[nodiscard]] static result<transfer_request> build(std::uint8_t chip_select, std::uint8_t mode,
                                                      std::span<const transfer_desc> descs,
                                                      const_bytes write_data) noexcept {
    if (descs.size() > 0xffff) return errc::greybus_count_overrun;
    return make(chip_select, mode, std::as_bytes(descs), write_data);
  }

  [[nodiscard]] std::uint8_t chip_select() const noexcept { return chip_select_; }
  [[nodiscard]] std::uint8_t mode() const noexcept { return mode_; }
  [[nodiscard]] std::size_t count() const noexcept { return descs_.size() / sizeof(transfer_desc); }
  /// Descriptor `i` (copied out). Precondition: i < count().
  [[nodiscard]] transfer_desc desc(std::size_t i) const noexcept {
    VIREO_ASSERT(i < count());
    transfer_desc d;
    std::memcpy(&d, descs_.data() + i * sizeof(transfer_desc), sizeof d);
    return d;
  }
  [[nodiscard]] const_bytes write_data() const noexcept { return write_; }
  /// Bytes the response must carry: the sum of the READ descriptors' lengths.
  [[nodiscard]] std::uint64_t read_length() const noexcept { return read_total_; }

  [[nodiscard]] std::size_t size() const noexcept {
    return sizeof(transfer_head) + descs_.size() + write_.size();
  }
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (out.size() != size()) return errc::no_space;
    transfer_head h{chip_select_, mode_, le16::from(static_cast<std::uint16_t>(count()))};
    std::memcpy(out.data(), &h, sizeof h);
    if (!descs_.empty()) std::memcpy(out.data() + sizeof h, descs_.data(), descs_.size());
    if (!write_.empty())
      std::memcpy(out.data() + sizeof h + descs_.size(), write_.data(), write_.size());
    return ok();
  }

 private:
  [[nodiscard]] static result<transfer_request> make(std::uint8_t cs, std::uint8_t mode,
                                                     const_bytes descs,
                                                     const_bytes write) noexcept {
    transfer_request r;
    r.chip_select_ = cs;
    r.mode_ = mode;
    r.descs_ = descs;
    r.write_ = write;
    // 64-bit sums: 65535 lengths of up to 2^32 - 1 cannot wrap.
    std::uint64_t wr = 0;
    for (std::size_t i = 0; i < r.count(); ++i) {
      const transfer_desc d = r.desc(i);
      if ((d.xfer_flags & xfer_flag::write) != 0) wr += d.len.get();
      if ((d.xfer_flags & xfer_flag::read) != 0) r.read_total_ += d.len.get();
    }
    if (wr != write.size()) return errc::greybus_data_length;
    return r;
  }

  std::uint8_t chip_select_ = 0;
  std::uint8_t mode_ = 0;
  const_bytes descs_{};
  const_bytes write_{};
  std::uint64_t read_total_ = 0;
};
static_assert(variable_payload<transfer_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;

struct master_config : operation<protocol, 0x02, empty, master_config_response> {
  static constexpr std::string_view name = "master_config";
};
struct device_config : operation<protocol, 0x03, device_config_request, device_config_response> {
  static constexpr std::string_view name = "device_config";
};
/// Response: the read data (check_transfer_response).
struct transfer : operation<protocol, 0x04, transfer_request, byte_payload> {
  static constexpr std::string_view name = "transfer";
};

using operations = operation_list<cport_shutdown, master_config, device_config, transfer>;

/// A successful Transfer response is exactly the read data (Linux creates the operation with
/// response size rx_size). Errors: greybus_payload_too_short, greybus_payload_too_long.
[[nodiscard]] inline result<void> check_transfer_response(const transfer_request& request,
                                                          const byte_payload& response) noexcept {
  if (response.data.size() < request.read_length()) return errc::greybus_payload_too_short;
  if (response.data.size() > request.read_length()) return errc::greybus_payload_too_long;
  return ok();
}

/// Whether `chip_select` is below the controller's num_chipselect (Device Config must be asked
/// for each of 0..num_chipselect-1). Errors: greybus_index_out_of_range.
[[nodiscard]] constexpr result<void> check_chip_select(
    std::uint8_t chip_select, const master_config_response& master) noexcept {
  if (chip_select >= master.num_chipselect) return errc::greybus_index_out_of_range;
  return ok();
}

}  // namespace spi
}  // namespace greybus
VIREO_NAMESPACE_END
