// SPDX-License-Identifier: Apache-2.0
// Every vhost-user payload layout (spec "Payload"; digest §2) as a wire struct of native-endian
// byte-array integers: alignment 1, no padding the compiler adds, decoded and encoded by copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/endian.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

/// The layout of a payload, as the codec classifies it (message.hpp sets it on every message).
enum class payload_type : std::uint8_t {
  empty,             ///< no payload
  u64,               ///< u64_payload: a value, a feature word, or a REPLY_ACK status
  vring_state,       ///< vring_state (index, num)
  vring_fd,          ///< u64_payload holding a vring index and the no-fd bit (KICK/CALL/ERR)
  vring_addr,        ///< vring_addr
  memory_table,      ///< memory_table_header + nregions × memory_region(_xen)
  single_region,     ///< single_memory_region(_xen) (ADD/REM_MEM_REG)
  log,               ///< log_description (SET_LOG_BASE)
  iotlb,             ///< iotlb_msg
  config,            ///< config_header + size bytes
  vring_area,        ///< vring_area (HOST_NOTIFIER)
  inflight,          ///< inflight
  shared_object,     ///< shared_object (UUID)
  device_state,      ///< device_state_transfer
  crypto_session,    ///< opaque: session_id (i64) + a QEMU-internal struct
  shmem_config,      ///< shmem_config_header + sizes (GET_SHMEM_CONFIG reply)
  shmem_map,         ///< shmem_map (BACKEND_SHMEM_MAP/UNMAP)
};

// ---- Single values -------------------------------------------------------------------------------

/// "A single 64-bit integer".
struct u64_payload {
  ne64 value;
};
static_assert(sizeof(u64_payload) == 8, "vhost-user §2: u64 payload is 8 bytes");
static_assert(alignof(u64_payload) == 1 && offsetof(u64_payload, value) == 0);
static_assert(std::is_trivially_copyable_v<u64_payload> && std::is_standard_layout_v<u64_payload>);

/// The u64 of SET_VRING_KICK/CALL/ERR and the vring area's u64: bits 0-7 vring index, bit 8 "no
/// fd" (poll instead of an eventfd; for HOST_NOTIFIER: remove the notifier), bits 9-63 reserved.
namespace vring_fd_bits {
inline constexpr std::uint64_t index_mask = 0xFF;
inline constexpr std::uint64_t no_fd = 0x100;
inline constexpr std::uint64_t reserved = ~(index_mask | no_fd);
}  // namespace vring_fd_bits

/// The SET_DEVICE_STATE_FD reply u64: bits 0-7 0 = success, else error; bit 8 "no fd returned".
namespace device_state_reply_bits {
inline constexpr std::uint64_t error_mask = 0xFF;
inline constexpr std::uint64_t no_fd = 0x100;
inline constexpr std::uint64_t reserved = ~(error_mask | no_fd);
}  // namespace device_state_reply_bits

/// "A vring state description" (struct vhost_vring_state). For SET/GET_VRING_BASE, `num` holds
/// the split form (bits 0-15 next avail index, 16-31 zero) or the packed form (bits 0-14 avail
/// index, 15 avail wrap counter, 16-30 used index, 31 used wrap counter).
struct vring_state {
  ne32 index;
  ne32 num;
};
static_assert(sizeof(vring_state) == 8, "vhost-user §2: vring state is 8 bytes");
static_assert(alignof(vring_state) == 1);
static_assert(offsetof(vring_state, index) == 0 && offsetof(vring_state, num) == 4,
              "vhost-user §2: vring state field offsets");
static_assert(std::is_trivially_copyable_v<vring_state> && std::is_standard_layout_v<vring_state>);

/// "A vring address description" (Linux struct vhost_vring_addr). The spec's table shows a "size"
/// column between flags and descriptor; there is no such field (QEMU, libvhost-user and
/// rust-vmm all send these 40 bytes). Ring addresses are front-end user addresses (IOVAs with
/// ACCESS_PLATFORM); `log_guest_addr` is a guest physical address.
struct vring_addr {
  ne32 index;
  ne32 flags;             ///< vring_addr_flag bits
  ne64 desc_user_addr;
  ne64 used_user_addr;
  ne64 avail_user_addr;
  ne64 log_guest_addr;
};
static_assert(sizeof(vring_addr) == 40, "vhost-user §2: vring address is 40 bytes");
static_assert(alignof(vring_addr) == 1);
static_assert(offsetof(vring_addr, index) == 0 && offsetof(vring_addr, flags) == 4 &&
                  offsetof(vring_addr, desc_user_addr) == 8 &&
                  offsetof(vring_addr, used_user_addr) == 16 &&
                  offsetof(vring_addr, avail_user_addr) == 24 &&
                  offsetof(vring_addr, log_guest_addr) == 32,
              "vhost-user §2: vring address field offsets (desc, used, avail, log)");
static_assert(std::is_trivially_copyable_v<vring_addr> && std::is_standard_layout_v<vring_addr>);

/// vring_addr.flags: bit 0 VHOST_VRING_F_LOG (log used-ring writes); the rest are undefined.
namespace vring_addr_flag {
inline constexpr std::uint32_t log = 0x1;
inline constexpr std::uint32_t known = log;
}  // namespace vring_addr_flag

// ---- Memory ----------------------------------------------------------------------------------------

/// Regions one SET_MEM_TABLE carries (VHOST_MEMORY_BASELINE_NREGIONS).
inline constexpr std::size_t max_memory_regions = 8;

/// "Memory region description".
struct memory_region {
  ne64 guest_phys_addr;
  ne64 memory_size;
  ne64 userspace_addr;
  ne64 mmap_offset;
};
static_assert(sizeof(memory_region) == 32, "vhost-user §2: memory region is 32 bytes");
static_assert(alignof(memory_region) == 1);
static_assert(offsetof(memory_region, guest_phys_addr) == 0 &&
                  offsetof(memory_region, memory_size) == 8 &&
                  offsetof(memory_region, userspace_addr) == 16 &&
                  offsetof(memory_region, mmap_offset) == 24,
              "vhost-user §2: memory region field offsets");
static_assert(std::is_trivially_copyable_v<memory_region> &&
              std::is_standard_layout_v<memory_region>);

/// The memory region once XEN_MMAP is negotiated: two more fields at the end.
struct memory_region_xen {
  memory_region region;
  ne32 xen_mmap_flags;  ///< xen_mmap_flag bits
  ne32 domid;
};
static_assert(sizeof(memory_region_xen) == 40, "vhost-user §2: XEN_MMAP region is 40 bytes");
static_assert(alignof(memory_region_xen) == 1);
static_assert(offsetof(memory_region_xen, region) == 0 &&
                  offsetof(memory_region_xen, xen_mmap_flags) == 32 &&
                  offsetof(memory_region_xen, domid) == 36,
              "vhost-user §2: XEN_MMAP region field offsets");
static_assert(std::is_trivially_copyable_v<memory_region_xen> &&
              std::is_standard_layout_v<memory_region_xen>);

/// memory_region_xen.xen_mmap_flags (spec "Memory region description"): exactly one of
/// foreign/grant; map_on_demand may be added.
namespace xen_mmap_flag {
inline constexpr std::uint32_t foreign = 0x1;
inline constexpr std::uint32_t grant = 0x2;
inline constexpr std::uint32_t map_on_demand = 0x100;
inline constexpr std::uint32_t known = foreign | grant | map_on_demand;
}  // namespace xen_mmap_flag

/// Head of "Multiple Memory regions description" (SET_MEM_TABLE): `nregions` regions follow
/// (QEMU sends only the used entries: size = 8 + 32·nregions).
struct memory_table_header {
  ne32 nregions;
  ne32 padding;
};
static_assert(sizeof(memory_table_header) == 8, "vhost-user §2: memory table head is 8 bytes");
static_assert(alignof(memory_table_header) == 1);
static_assert(offsetof(memory_table_header, nregions) == 0 &&
                  offsetof(memory_table_header, padding) == 4,
              "vhost-user §2: memory table head field offsets");
static_assert(std::is_trivially_copyable_v<memory_table_header> &&
              std::is_standard_layout_v<memory_table_header>);

/// "Single memory region description" (ADD_MEM_REG, REM_MEM_REG).
struct single_memory_region {
  ne64 padding;
  memory_region region;
};
static_assert(sizeof(single_memory_region) == 40, "vhost-user §2: single region is 40 bytes");
static_assert(alignof(single_memory_region) == 1);
static_assert(offsetof(single_memory_region, padding) == 0 &&
                  offsetof(single_memory_region, region) == 8,
              "vhost-user §2: single region field offsets");
static_assert(std::is_trivially_copyable_v<single_memory_region> &&
              std::is_standard_layout_v<single_memory_region>);

/// The single region once XEN_MMAP is negotiated.
struct single_memory_region_xen {
  ne64 padding;
  memory_region_xen region;
};
static_assert(sizeof(single_memory_region_xen) == 48,
              "vhost-user §2: XEN_MMAP single region is 48 bytes");
static_assert(alignof(single_memory_region_xen) == 1);
static_assert(offsetof(single_memory_region_xen, padding) == 0 &&
                  offsetof(single_memory_region_xen, region) == 8,
              "vhost-user §2: XEN_MMAP single region field offsets");
static_assert(std::is_trivially_copyable_v<single_memory_region_xen> &&
              std::is_standard_layout_v<single_memory_region_xen>);

/// "Log description" (SET_LOG_BASE). The spec's request table says "u64"; QEMU, libvhost-user
/// and rust-vmm send these 16 bytes.
struct log_description {
  ne64 mmap_size;
  ne64 mmap_offset;
};
static_assert(sizeof(log_description) == 16, "vhost-user §2: log description is 16 bytes");
static_assert(alignof(log_description) == 1);
static_assert(offsetof(log_description, mmap_size) == 0 &&
                  offsetof(log_description, mmap_offset) == 8,
              "vhost-user §2: log description field offsets");
static_assert(std::is_trivially_copyable_v<log_description> &&
              std::is_standard_layout_v<log_description>);

// ---- IOTLB ------------------------------------------------------------------------------------------

/// "An IOTLB message" (Linux struct vhost_iotlb_msg: 30 bytes of fields, 32 with its tail padding,
/// which QEMU sends).
struct iotlb_msg {
  ne64 iova;
  ne64 size;
  ne64 uaddr;
  std::uint8_t perm;  ///< iotlb_perm
  std::uint8_t type;  ///< iotlb_type
  std::uint8_t padding[6];
};
static_assert(sizeof(iotlb_msg) == 32, "vhost-user §2: IOTLB message is 32 bytes");
static_assert(alignof(iotlb_msg) == 1);
static_assert(offsetof(iotlb_msg, iova) == 0 && offsetof(iotlb_msg, size) == 8 &&
                  offsetof(iotlb_msg, uaddr) == 16 && offsetof(iotlb_msg, perm) == 24 &&
                  offsetof(iotlb_msg, type) == 25 && offsetof(iotlb_msg, padding) == 26,
              "vhost-user §2: IOTLB message field offsets");
static_assert(std::is_trivially_copyable_v<iotlb_msg> && std::is_standard_layout_v<iotlb_msg>);

enum class iotlb_perm : std::uint8_t { none = 0, ro = 1, wo = 2, rw = 3 };
enum class iotlb_type : std::uint8_t { miss = 1, update = 2, invalidate = 3, access_fail = 4 };

// ---- Config space ----------------------------------------------------------------------------------

/// Bytes of config space a GET/SET_CONFIG may address (QEMU VHOST_USER_MAX_CONFIG_SIZE).
inline constexpr std::size_t max_config_size = 256;

/// Head of "Virtio device config space"; `size` bytes of config data follow.
struct config_header {
  ne32 offset;
  ne32 size;
  ne32 flags;  ///< config_flags
};
static_assert(sizeof(config_header) == 12, "vhost-user §2: config head is 12 bytes");
static_assert(alignof(config_header) == 1);
static_assert(offsetof(config_header, offset) == 0 && offsetof(config_header, size) == 4 &&
                  offsetof(config_header, flags) == 8,
              "vhost-user §2: config head field offsets");
static_assert(std::is_trivially_copyable_v<config_header> &&
              std::is_standard_layout_v<config_header>);

/// config_header.flags values (spec, QEMU VHOST_SET_CONFIG_TYPE_*). Not bits: rust-vmm's
/// WRITABLE = 1 / LIVE_MIGRATION = 2 differ, and the spec's values win.
enum class config_flags : std::uint32_t {
  frontend = 0,   ///< a write to the front-end-writable fields
  migration = 1,  ///< live migration: read-only fields may be written too
};

// ---- Back-end channel, inflight, shared objects, device state --------------------------------------

/// "Vring area description" (BACKEND_VRING_HOST_NOTIFIER_MSG). `u64` has the vring_fd_bits
/// layout; `size` and `offset` describe the mmap of the attached fd.
struct vring_area {
  ne64 u64;
  ne64 size;
  ne64 offset;
};
static_assert(sizeof(vring_area) == 24, "vhost-user §2: vring area is 24 bytes");
static_assert(alignof(vring_area) == 1);
static_assert(offsetof(vring_area, u64) == 0 && offsetof(vring_area, size) == 8 &&
                  offsetof(vring_area, offset) == 16,
              "vhost-user §2: vring area field offsets");
static_assert(std::is_trivially_copyable_v<vring_area> && std::is_standard_layout_v<vring_area>);

/// "Inflight description". The C struct is not packed: 20 bytes of fields and 4 of tail padding,
/// and QEMU and rust-vmm both send 24.
struct inflight {
  ne64 mmap_size;
  ne64 mmap_offset;
  ne16 num_queues;
  ne16 queue_size;
  std::uint8_t padding[4];
};
static_assert(sizeof(inflight) == 24, "vhost-user §2: inflight description is 24 bytes");
static_assert(alignof(inflight) == 1);
static_assert(offsetof(inflight, mmap_size) == 0 && offsetof(inflight, mmap_offset) == 8 &&
                  offsetof(inflight, num_queues) == 16 && offsetof(inflight, queue_size) == 18 &&
                  offsetof(inflight, padding) == 20,
              "vhost-user §2: inflight field offsets");
static_assert(std::is_trivially_copyable_v<inflight> && std::is_standard_layout_v<inflight>);

/// "VhostUserShared": a 16-byte UUID whose first three fields are big-endian (kept as bytes).
struct shared_object {
  std::uint8_t uuid[16];
};
static_assert(sizeof(shared_object) == 16, "vhost-user §2: shared object is 16 bytes");
static_assert(alignof(shared_object) == 1 && offsetof(shared_object, uuid) == 0);
static_assert(std::is_trivially_copyable_v<shared_object> &&
              std::is_standard_layout_v<shared_object>);

/// "Device state transfer parameters" (SET_DEVICE_STATE_FD).
struct device_state_transfer {
  ne32 direction;  ///< transfer_direction
  ne32 phase;      ///< migration_phase
};
static_assert(sizeof(device_state_transfer) == 8, "vhost-user §2: device state is 8 bytes");
static_assert(alignof(device_state_transfer) == 1);
static_assert(offsetof(device_state_transfer, direction) == 0 &&
                  offsetof(device_state_transfer, phase) == 4,
              "vhost-user §2: device state field offsets");
static_assert(std::is_trivially_copyable_v<device_state_transfer> &&
              std::is_standard_layout_v<device_state_transfer>);

enum class transfer_direction : std::uint32_t { save = 0, load = 1 };
enum class migration_phase : std::uint32_t { stopped = 0 };

/// CREATE_CRYPTO_SESSION payload head: an i64 session id (≥ 0 success in the reply); the rest is a
/// QEMU-internal struct whose layout changed after 7.2, so the codec keeps it opaque.
inline constexpr std::size_t crypto_session_min_size = 8;

// ---- Shared memory (QEMU 11.x / rust-vmm) ----------------------------------------------------------

/// Entries of the GET_SHMEM_CONFIG reply (rust-vmm and merged QEMU: 256; early QEMU drafts: 8).
inline constexpr std::size_t max_shmem_regions = 256;
inline constexpr std::size_t draft_shmem_regions = 8;

/// Head of the GET_SHMEM_CONFIG reply; `max_shmem_regions` u64 sizes follow.
struct shmem_config_header {
  ne32 nregions;
  ne32 padding;
};
static_assert(sizeof(shmem_config_header) == 8, "vhost-user: shmem config head is 8 bytes");
static_assert(alignof(shmem_config_header) == 1);
static_assert(offsetof(shmem_config_header, nregions) == 0 &&
                  offsetof(shmem_config_header, padding) == 4,
              "vhost-user: shmem config head field offsets");
static_assert(std::is_trivially_copyable_v<shmem_config_header> &&
              std::is_standard_layout_v<shmem_config_header>);

/// BACKEND_SHMEM_MAP / BACKEND_SHMEM_UNMAP payload (VhostUserMMap).
struct shmem_map {
  std::uint8_t shmid;
  std::uint8_t padding[7];
  ne64 fd_offset;
  ne64 shm_offset;
  ne64 len;
  ne64 flags;  ///< shmem_map_flag bits
};
static_assert(sizeof(shmem_map) == 40, "vhost-user: shmem map is 40 bytes");
static_assert(alignof(shmem_map) == 1);
static_assert(offsetof(shmem_map, shmid) == 0 && offsetof(shmem_map, padding) == 1 &&
                  offsetof(shmem_map, fd_offset) == 8 && offsetof(shmem_map, shm_offset) == 16 &&
                  offsetof(shmem_map, len) == 24 && offsetof(shmem_map, flags) == 32,
              "vhost-user: shmem map field offsets");
static_assert(std::is_trivially_copyable_v<shmem_map> && std::is_standard_layout_v<shmem_map>);

namespace shmem_map_flag {
inline constexpr std::uint64_t writable = 0x1;
inline constexpr std::uint64_t known = writable;
}  // namespace shmem_map_flag

}  // namespace vhost_user
VIREO_NAMESPACE_END
