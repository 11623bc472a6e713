// SPDX-License-Identifier: Apache-2.0
// Vireo's binding of Greybus to virtio (docs/greybus-virtio.md). No OASIS device or upstream
// driver carries Greybus over virtqueues (greybus digest §9), so this is Vireo's own, shaped
// after Linux's host-device interface (message_send(cport, msg) / greybus_data_rcvd(cport, msg)):
//  - the driver is the AP (Linux's side of Greybus); the device is the module;
//  - queue 0 (ap_to_module): one frame per chain, all device-readable;
//  - queue 1 (module_to_ap): buffers the AP posts, all device-writable; the module writes one
//    frame into each and returns it with the frame's length as the used length;
//  - a frame is a 4-byte transport header {le16 cport, le16 reserved} then one whole Greybus
//    message. The CPort travels in the transport header, never in the Greybus header's pad
//    bytes (which pass through untouched and are ignored).
// Data and pure functions only: the two ends are in ap_driver.hpp and module_device.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::virtio {

/// Virtqueue indices of the binding.
inline constexpr std::uint16_t ap_to_module_queue = 0;
inline constexpr std::uint16_t module_to_ap_queue = 1;
inline constexpr std::uint16_t queue_count = 2;

/// The header in front of every Greybus message on either queue.
struct transport_header {
  le16 cport;     ///< the module's CPort the message belongs to (0 = Control)
  le16 reserved;  ///< written as zero, ignored when read
};
static_assert(sizeof(transport_header) == 4 && alignof(transport_header) == 1,
              "greybus-virtio: the transport header is le16 cport, le16 reserved");
static_assert(offsetof(transport_header, cport) == 0 && offsetof(transport_header, reserved) == 2);
static_assert(std::is_trivially_copyable_v<transport_header> &&
              std::is_standard_layout_v<transport_header>);

inline constexpr std::size_t transport_header_size = sizeof(transport_header);

/// The device configuration space: read by the AP before it posts module_to_ap buffers.
struct device_config {
  le16 max_message_size;  ///< largest Greybus message (its header included) either side sends
  le16 cport_count;       ///< CPort ids are 0 .. cport_count - 1
};
static_assert(sizeof(device_config) == 4 && alignof(device_config) == 1,
              "greybus-virtio: config space is le16 max_message_size, le16 cport_count");
static_assert(offsetof(device_config, max_message_size) == 0 &&
              offsetof(device_config, cport_count) == 2);

/// The default message limit: ES2's 2048-byte buffers (greybus digest §9), which every Linux
/// bridged-PHY driver fits in.
inline constexpr std::uint16_t default_max_message_size = 2048;

/// Bytes a module_to_ap buffer needs to hold any frame of a device with this config.
[[nodiscard]] constexpr std::size_t frame_capacity(std::uint16_t max_message_size) noexcept {
  return transport_header_size + max_message_size;
}

/// The smallest frame: a transport header and a Greybus header without payload.
inline constexpr std::size_t min_frame_size = transport_header_size + header_size;

/// One received frame, checked: the CPort and the message (header copied, payload viewing the
/// caller's buffer).
struct frame {
  std::uint16_t cport = 0;
  message msg{};
};

/// Check a frame already copied out of guest memory (`in` is the whole frame: the used length
/// on module_to_ap, the readable length on ap_to_module). The binding's rules, for both ends:
/// at least min_frame_size bytes, at most frame_capacity(max_message_size); cport below
/// cport_count; the Greybus header passes validate() (§1 receive rules, lenient) and its size
/// field equals the bytes after the transport header exactly (one frame is one whole message).
/// `reserved` and the Greybus pad bytes are ignored.
/// Errors: greybus_frame_too_short, greybus_frame_too_large, greybus_cport_out_of_range,
/// greybus_trailing_bytes (size field below the frame), and those of greybus::decode().
[[nodiscard]] VIREO_ALWAYS_INLINE result<frame> parse_frame(const_bytes in,
                                                           std::uint16_t max_message_size,
                                                           std::uint16_t cport_count) noexcept {
  if (in.size() < min_frame_size) return errc::greybus_frame_too_short;
  if (in.size() > frame_capacity(max_message_size)) return errc::greybus_frame_too_large;
  transport_header th;
  std::memcpy(&th, in.data(), sizeof th);
  const std::uint16_t cport = th.cport.get();
  if (cport >= cport_count) return errc::greybus_cport_out_of_range;
  auto m = decode(in.subspan(transport_header_size));
  if (!m) return m.error();
  if (m->trailing != 0) return errc::greybus_trailing_bytes;
  return frame{cport, *m};
}

/// Write the frame for `message` on `cport` into `out` (reserved written as zero). Returns the
/// frame's length. Errors: no_space.
[[nodiscard]] inline result<std::size_t> write_frame(std::uint16_t cport, const_bytes message,
                                                     bytes out) noexcept {
  if (out.size() < transport_header_size || out.size() - transport_header_size < message.size())
    return errc::no_space;
  const transport_header th{le16::from(cport), le16::from(0)};
  std::memcpy(out.data(), &th, sizeof th);
  if (!message.empty()) std::memcpy(out.data() + sizeof th, message.data(), message.size());
  return transport_header_size + message.size();
}

}  // namespace greybus::virtio
VIREO_NAMESPACE_END
