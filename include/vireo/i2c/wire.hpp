// SPDX-License-Identifier: Apache-2.0
// Wire facts of the virtio I2C adapter (virtio spec §5.16, the merged Oct 2021 form that Linux's
// i2c-virtio speaks): ids, the feature bit, request flags, status values and the two headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/endian.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

/// Virtio device ID of an I2C adapter (§5.16.1; Linux VIRTIO_ID_I2C_ADAPTER).
inline constexpr std::uint32_t device_id = 34;

/// The only virtqueue: 0 = requestq (§5.16.2).
inline constexpr std::uint16_t requestq = 0;
inline constexpr std::uint16_t num_queues = 1;

/// Bytes of device configuration space: none is defined (§5.16.4).
inline constexpr std::size_t config_size = 0;

/// Device feature bits (§5.16.3). VIRTIO_I2C_F_ZERO_LENGTH_REQUEST also announces the M_RD flag,
/// and is mandatory for both sides (§5.16.6.3, §5.16.6.4): see codec.hpp's negotiation helpers.
enum class feature : std::uint8_t {
  zero_length_request = 0,  ///< VIRTIO_I2C_F_ZERO_LENGTH_REQUEST
};

/// Bits of virtio_i2c_out_hdr.flags (VIRTIO_I2C_FLAGS_*; §5.16.6.1).
namespace flag {
/// FAIL_NEXT: this request is grouped with the next one; if it fails, the next one fails too.
inline constexpr std::uint32_t fail_next = 1u << 0;
/// M_RD: a read request (buf device-writable); clear: a write request (buf device-readable).
inline constexpr std::uint32_t m_rd = 1u << 1;
/// Every bit the merged spec defines.
inline constexpr std::uint32_t known = fail_next | m_rd;
/// Bits 2-31: "reserved as zero for future feature extensibility"; the driver MUST write 0
/// (§5.16.6.3) and the device MUST NOT change them (§5.16.6.4).
inline constexpr std::uint32_t reserved = ~known;
}  // namespace flag

/// virtio_i2c_in_hdr.status values (VIRTIO_I2C_MSG_*; §5.16.6.1). Any other byte is undefined.
enum class status : std::uint8_t {
  ok = 0,   ///< VIRTIO_I2C_MSG_OK
  err = 1,  ///< VIRTIO_I2C_MSG_ERR
};

/// Direction of a request's buf, from the M_RD flag.
enum class direction : std::uint8_t {
  write = 0,  ///< M_RD clear: the driver sends buf to the target (buf device-readable)
  read = 1,   ///< M_RD set: the target's bytes land in buf (buf device-writable)
};

/// struct virtio_i2c_out_hdr (§5.16.6.1): the device-readable head of every request. `addr` is
/// encoded per the §5.16.6.1 table (address.hpp); `padding` only pads to a full dword.
struct out_hdr {
  le16 addr;
  le16 padding;
  le32 flags;
};
static_assert(sizeof(out_hdr) == 8, "virtio §5.16.6.1: virtio_i2c_out_hdr is 8 bytes");
static_assert(alignof(out_hdr) == 1);
static_assert(offsetof(out_hdr, addr) == 0 && offsetof(out_hdr, padding) == 2 &&
                  offsetof(out_hdr, flags) == 4,
              "virtio §5.16.6.1: virtio_i2c_out_hdr field offsets");
static_assert(std::is_trivially_copyable_v<out_hdr> && std::is_standard_layout_v<out_hdr>);

/// struct virtio_i2c_in_hdr (§5.16.6.1): the device-writable tail of every request.
struct in_hdr {
  std::uint8_t status;
};
static_assert(sizeof(in_hdr) == 1, "virtio §5.16.6.1: virtio_i2c_in_hdr is 1 byte");
static_assert(alignof(in_hdr) == 1);
static_assert(offsetof(in_hdr, status) == 0, "virtio §5.16.6.1: virtio_i2c_in_hdr.status");
static_assert(std::is_trivially_copyable_v<in_hdr> && std::is_standard_layout_v<in_hdr>);

}  // namespace i2c
VIREO_NAMESPACE_END
