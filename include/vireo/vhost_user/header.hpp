// SPDX-License-Identifier: Apache-2.0
// The 12-byte vhost-user message header (vhost-user spec "Message Specification" / digest §1.1),
// its flag bits, and the framing limits a transport needs before it reads a payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

/// Bytes of the header that starts every message; the payload follows at this offset, so 64-bit
/// payload fields are unaligned in the stream (decode by copy, never by cast).
inline constexpr std::size_t header_size = 12;

/// Default cap on `header.size` (rust-vmm's MAX_MSG_SIZE). The spec sets no maximum (§1.2); every
/// real message is far smaller (largest: GET_SHMEM_CONFIG reply, 2056 bytes). A transport checks
/// the cap (validate_header) BEFORE it reads or buffers the payload (rule B3).
inline constexpr std::uint32_t default_max_payload = 4096;

/// Most fds one message may legitimately carry: SET_MEM_TABLE takes one per region and has at
/// most 8 regions (VHOST_MEMORY_BASELINE_NREGIONS); back-end channel messages take at most 8
/// (QEMU VHOST_USER_SLAVE_MAX_FDS). A receive buffer of this many fds suffices; more fds arrive
/// as MSG_CTRUNC, which a transport treats as fatal (§1.3).
inline constexpr std::size_t max_fds_per_message = 8;

/// Bits of `header.flags` (§1.1). Bits 0-1 hold the protocol version, which must be 1.
namespace flag {
inline constexpr std::uint32_t version_mask = 0x3;
inline constexpr std::uint32_t version = 0x1;      ///< the only defined version
inline constexpr std::uint32_t reply = 0x4;        ///< this message is a reply
inline constexpr std::uint32_t need_reply = 0x8;   ///< the sender wants a REPLY_ACK u64 back
inline constexpr std::uint32_t known = version_mask | reply | need_reply;
/// Bits 4-31: reserved, must be 0 (rule B2).
inline constexpr std::uint32_t reserved = ~known;
/// Exactly what every reply carries: version 1 | REPLY. QEMU 7.2 rejects any reply whose flags
/// differ (vhost_user_read_header), so NEED_REPLY is never echoed.
inline constexpr std::uint32_t reply_flags = version | reply;
}  // namespace flag

/// The message header. Native byte order (both peers share the host); the fields are byte arrays
/// (`ne32`: alignment 1, get()/set() copy the bytes), so a header can sit at any address.
struct header {
  ne32 request;  ///< request code; front-end and back-end channels have separate code spaces
  ne32 flags;    ///< `flag::` bits
  ne32 size;     ///< payload bytes that follow the header
};
static_assert(sizeof(header) == header_size, "vhost-user §1.1: the header is 12 bytes, no padding");
static_assert(alignof(header) == 1);
static_assert(offsetof(header, request) == 0 && offsetof(header, flags) == 4 &&
                  offsetof(header, size) == 8,
              "vhost-user §1.1: header field offsets");
static_assert(std::is_trivially_copyable_v<header> && std::is_standard_layout_v<header>);

/// A header with the given fields.
[[nodiscard]] constexpr header make_header(std::uint32_t request, std::uint32_t flags,
                                           std::uint32_t size) noexcept {
  header h{};
  h.request.set(request);
  h.flags.set(flags);
  h.size.set(size);
  return h;
}

/// Copy the header out of the first `header_size` bytes of `in`.
/// Errors: vhost_header_truncated when `in` holds fewer than 12 bytes.
[[nodiscard]] inline result<header> load_header(const_bytes in) noexcept {
  return load_front<header>(in, errc::vhost_header_truncated);
}

/// Copy `h` into the first `header_size` bytes of `out`. Errors: no_space.
[[nodiscard]] inline result<void> store_header(const header& h, bytes out) noexcept {
  return store_front(h, out);
}

/// The version field (flags bits 0-1).
[[nodiscard]] constexpr std::uint32_t version_of(const header& h) noexcept {
  return h.flags.get() & flag::version_mask;
}
[[nodiscard]] constexpr bool is_reply(const header& h) noexcept {
  return (h.flags.get() & flag::reply) != 0;
}
[[nodiscard]] constexpr bool needs_reply(const header& h) noexcept {
  return (h.flags.get() & flag::need_reply) != 0;
}

/// The checks a transport makes on a header before it reads the payload, for requests and replies
/// alike (rules B2, B3): version 1, no reserved flag bit, `size <= max_payload`. Whether REPLY may
/// be set, the request code and the exact size are the decoder's business (message.hpp).
/// Errors: vhost_bad_version, vhost_reserved_flags, vhost_payload_too_large.
[[nodiscard]] constexpr result<void> validate_header(
    const header& h, std::uint32_t max_payload = default_max_payload) noexcept {
  if (version_of(h) != flag::version) return errc::vhost_bad_version;
  if ((h.flags.get() & flag::reserved) != 0) return errc::vhost_reserved_flags;
  if (h.size.get() > max_payload) return errc::vhost_payload_too_large;
  return ok();
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
