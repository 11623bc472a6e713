// SPDX-License-Identifier: Apache-2.0
// The shared region of vhost-user inflight I/O tracking (protocol feature INFLIGHT_SHMFD; spec
// "Inflight I/O tracking", digest §6.4): the split and packed queue region layouts, their sizes,
// how a back-end obtains one (inflight_allocator) and the per-queue view handed to a device. The
// tracking itself is inflight_queue.hpp. No heap, no OS: fds are ints.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vireo/core/config.hpp"
#include "vireo/core/result.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// The split-ring queue region (spec QueueRegionSplit / libvhost-user VuVirtqInflight), in host
/// byte order (it is shared with the front-end on the same host, never with the guest):
///   header (16 bytes): u64 features (0); u16 version (1; 0 = not initialised); u16 desc_num
///   (the queue size); u16 last_batch_head; u16 used_idx (the used ring's idx after the last
///   completion); then desc_num DescStateSplit (16 bytes each): u8 inflight; u8 padding[5];
///   u16 next (links the last completion batch); u64 counter (fetch order).
namespace inflight_layout {
inline constexpr std::uint16_t version = 1;
inline constexpr std::size_t alignment = 64;  ///< libvhost-user INFLIGHT_ALIGNMENT
inline constexpr std::size_t features_at = 0, version_at = 8, desc_num_at = 10,
                             last_batch_head_at = 12, used_idx_at = 14, desc_at = 16;
inline constexpr std::size_t desc_bytes = 16;
inline constexpr std::size_t inflight_at = 0, next_at = 6, counter_at = 8;

/// Bytes of one queue's region. libvhost-user: ALIGN_UP(16 * queue_size + 2, 64); DPDK:
/// ALIGN_UP(16 * queue_size + 16, 64). Both give the same value for every size (16 * n is a
/// multiple of 16, so either addition rounds up to the same multiple of 64), and the 16-byte
/// header always fits. A back-end that restarts must compute the same stride as the one that
/// allocated the region, so the common value matters.
[[nodiscard]] constexpr std::uint64_t queue_bytes(std::uint16_t queue_size) noexcept {
  const std::uint64_t raw = desc_bytes * std::uint64_t{queue_size} + 2;
  return (raw + alignment - 1) / alignment * alignment;
}
/// Bytes of a region for `num_queues` queues of `queue_size` (GET_INFLIGHT_FD mmap_size).
[[nodiscard]] constexpr std::uint64_t region_bytes(std::uint16_t num_queues,
                                                   std::uint16_t queue_size) noexcept {
  return std::uint64_t{num_queues} * queue_bytes(queue_size);
}
static_assert(queue_bytes(1) == 64 && queue_bytes(4) == 128 && queue_bytes(256) == 4160);
}  // namespace inflight_layout

/// The packed-ring queue region (spec QueueRegionPacked / DescStatePacked; DPDK
/// rte_vhost_inflight_info_packed / rte_vhost_inflight_desc_packed; libvhost-user has no packed
/// layout), host byte order:
///   header (32 bytes): u64 features; u16 version; u16 desc_num; u16 free_head; u16
///   old_free_head; u16 used_idx; u16 old_used_idx; u8 used_wrap_counter; u8
///   old_used_wrap_counter; u8 padding[7] (then 3 bytes of alignment: desc holds u64s);
///   then desc_num DescStatePacked (32 bytes each): u8 inflight; u8 padding; u16 next (the free
///   list, or the next descriptor of a chain); u16 last (a chain's last entry); u16 num
///   (descriptors in the chain); u64 counter; u16 id (buffer id); u16 flags; u32 len; u64 addr
///   (copies of the ring descriptors, so that a chain can be walked again after its ring slots
///   were overwritten by used descriptors). Entries are not indexed by ring slot or buffer id:
///   a chain takes as many as it has descriptors from the free list at free_head.
namespace packed_inflight_layout {
inline constexpr std::uint16_t version = 1;
inline constexpr std::size_t alignment = inflight_layout::alignment;
inline constexpr std::size_t features_at = 0, version_at = 8, desc_num_at = 10, free_head_at = 12,
                             old_free_head_at = 14, used_idx_at = 16, old_used_idx_at = 18,
                             used_wrap_counter_at = 20, old_used_wrap_counter_at = 21,
                             desc_at = 32;
/// The header as DPDK counts it for the size: u64 + 6 x u16 + 9 x u8 (the desc array's
/// alignment padding is not counted).
inline constexpr std::size_t header_bytes_counted = 8 + 6 * 2 + 9;
inline constexpr std::size_t desc_bytes = 32;
inline constexpr std::size_t inflight_at = 0, next_at = 2, last_at = 4, num_at = 6,
                             counter_at = 8, id_at = 16, flags_at = 18, len_at = 20,
                             addr_at = 24;

/// Bytes of one queue's region: DPDK get_pervq_shm_size_packed, ALIGN_UP(32 * queue_size + 29,
/// 64). 32 * n is a multiple of 32, so this equals ALIGN_UP(32 * n + 32, 64): the 32-byte header
/// (with its alignment padding) always fits.
[[nodiscard]] constexpr std::uint64_t queue_bytes(std::uint16_t queue_size) noexcept {
  const std::uint64_t raw = desc_bytes * std::uint64_t{queue_size} + header_bytes_counted;
  return (raw + alignment - 1) / alignment * alignment;
}
/// Bytes of a region for `num_queues` packed queues of `queue_size` (GET_INFLIGHT_FD mmap_size).
[[nodiscard]] constexpr std::uint64_t region_bytes(std::uint16_t num_queues,
                                                   std::uint16_t queue_size) noexcept {
  return std::uint64_t{num_queues} * queue_bytes(queue_size);
}
static_assert(queue_bytes(1) == 64 && queue_bytes(2) == 128 && queue_bytes(256) == 8256);
static_assert(desc_at + desc_bytes * 32768 <= queue_bytes(32768));
}  // namespace packed_inflight_layout

/// Bytes of one queue's region in the layout the ring format needs (split or packed).
[[nodiscard]] constexpr std::uint64_t inflight_queue_bytes(bool packed,
                                                           std::uint16_t queue_size) noexcept {
  return packed ? packed_inflight_layout::queue_bytes(queue_size)
                : inflight_layout::queue_bytes(queue_size);
}

/// A shared region obtained from an inflight_allocator: `fd` names it for the front-end (sent with
/// the GET_INFLIGHT_FD reply), `host` maps its `size` bytes into the back-end.
struct inflight_buffer {
  int fd = no_fd;
  std::byte* host = nullptr;
  std::uint64_t size = 0;
};

/// Where a back-end gets the GET_INFLIGHT_FD region (a memfd on Linux:
/// vireo/linux/inflight_memfd.hpp). allocate(size) returns `size` zero-filled bytes mapped shared
/// and an fd for them; release(buffer) undoes one successful allocate (unmap, close the fd). The
/// session calls release when the region is replaced, on RESET_OWNER and on disconnect. The
/// front-end keeps its own fd, so the memory outlives a back-end that crashes or restarts.
template <typename A>
concept inflight_allocator = requires(A& a, std::uint64_t size, const inflight_buffer& b) {
  { a.allocate(size) } -> std::same_as<result<inflight_buffer>>;
  { a.release(b) } -> std::same_as<void>;
};

/// The default: no allocator, so INFLIGHT_SHMFD is not offered.
struct no_inflight_allocator {
  [[nodiscard]] result<inflight_buffer> allocate(std::uint64_t) noexcept {
    return errc::host_not_supported;
  }
  void release(const inflight_buffer&) noexcept {}
};
static_assert(inflight_allocator<no_inflight_allocator>);

/// One queue's part of the region, as the session hands it to a device (empty: no tracking).
/// `queue_size` is the desc_num GET/SET_INFLIGHT_FD named; the vring's own size may be smaller
/// (the driver may shrink a queue), never larger.
struct inflight_area {
  std::span<std::byte> bytes{};
  std::uint16_t queue_size = 0;
  [[nodiscard]] bool empty() const noexcept { return bytes.empty(); }
};

/// Typed access to one split queue region. Every field is read and written by copy (the bytes
/// are shared with the front-end and with whoever mapped the region before); the caller checks
/// indices against desc_num and the area size before it calls desc accessors.
class split_inflight_region {
 public:
  /// Precondition: area.bytes holds queue_bytes(area.queue_size) bytes or more.
  explicit split_inflight_region(std::span<std::byte> bytes) noexcept : p_(bytes.data()) {}

  [[nodiscard]] std::uint16_t version() const noexcept {
    return get16(inflight_layout::version_at);
  }
  [[nodiscard]] std::uint16_t desc_num() const noexcept {
    return get16(inflight_layout::desc_num_at);
  }
  [[nodiscard]] std::uint16_t last_batch_head() const noexcept {
    return get16(inflight_layout::last_batch_head_at);
  }
  [[nodiscard]] std::uint16_t used_idx() const noexcept {
    return get16(inflight_layout::used_idx_at);
  }
  void set_version(std::uint16_t v) noexcept { put16(inflight_layout::version_at, v); }
  void set_desc_num(std::uint16_t v) noexcept { put16(inflight_layout::desc_num_at, v); }
  void set_last_batch_head(std::uint16_t v) noexcept {
    put16(inflight_layout::last_batch_head_at, v);
  }
  void set_used_idx(std::uint16_t v) noexcept { put16(inflight_layout::used_idx_at, v); }
  void set_features(std::uint64_t v) noexcept {
    std::memcpy(p_ + inflight_layout::features_at, &v, 8);
  }

  [[nodiscard]] bool inflight(std::uint16_t i) const noexcept {
    return std::to_integer<std::uint8_t>(p_[at(i) + inflight_layout::inflight_at]) != 0;
  }
  [[nodiscard]] std::uint16_t next(std::uint16_t i) const noexcept {
    return get16(at(i) + inflight_layout::next_at);
  }
  [[nodiscard]] std::uint64_t counter(std::uint16_t i) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, p_ + at(i) + inflight_layout::counter_at, 8);
    return v;
  }
  void set_inflight(std::uint16_t i, bool on) noexcept {
    p_[at(i) + inflight_layout::inflight_at] = std::byte{on ? std::uint8_t{1} : std::uint8_t{0}};
  }
  void set_next(std::uint16_t i, std::uint16_t v) noexcept {
    put16(at(i) + inflight_layout::next_at, v);
  }
  void set_counter(std::uint16_t i, std::uint64_t v) noexcept {
    std::memcpy(p_ + at(i) + inflight_layout::counter_at, &v, 8);
  }
  /// Zero the first `n` descriptor states.
  void clear_descs(std::uint16_t n) noexcept {
    std::memset(p_ + inflight_layout::desc_at, 0, inflight_layout::desc_bytes * std::size_t{n});
  }

  /// Orders the steps of the spec's algorithm as written. The region must make sense to the next
  /// back-end if this process dies between any two stores; every store the process executed
  /// reaches the shared mapping, so only the compiler's reordering has to be stopped
  /// (libvhost-user uses barrier() the same way).
  static void step() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

 private:
  [[nodiscard]] static constexpr std::size_t at(std::uint16_t i) noexcept {
    return inflight_layout::desc_at + inflight_layout::desc_bytes * std::size_t{i};
  }
  [[nodiscard]] std::uint16_t get16(std::size_t off) const noexcept {
    std::uint16_t v;
    std::memcpy(&v, p_ + off, 2);
    return v;
  }
  void put16(std::size_t off, std::uint16_t v) noexcept { std::memcpy(p_ + off, &v, 2); }

  std::byte* p_;
};

/// Typed access to one packed queue region (packed_inflight_layout). As for the split region,
/// every field is copied in and out; the caller checks entry indices against desc_num and the
/// area size before it calls the entry accessors.
class packed_inflight_region {
 public:
  /// Precondition: bytes holds packed_inflight_layout::queue_bytes(desc_num) bytes or more.
  explicit packed_inflight_region(std::span<std::byte> bytes) noexcept : p_(bytes.data()) {}

  /// One descriptor as copied into an entry (the ring's fields, flags as the driver wrote them).
  struct desc_copy {
    std::uint64_t addr = 0;
    std::uint32_t len = 0;
    std::uint16_t id = 0;
    std::uint16_t flags = 0;
  };

  [[nodiscard]] std::uint16_t version() const noexcept {
    return get16(packed_inflight_layout::version_at);
  }
  [[nodiscard]] std::uint16_t desc_num() const noexcept {
    return get16(packed_inflight_layout::desc_num_at);
  }
  [[nodiscard]] std::uint16_t free_head() const noexcept {
    return get16(packed_inflight_layout::free_head_at);
  }
  [[nodiscard]] std::uint16_t old_free_head() const noexcept {
    return get16(packed_inflight_layout::old_free_head_at);
  }
  [[nodiscard]] std::uint16_t used_idx() const noexcept {
    return get16(packed_inflight_layout::used_idx_at);
  }
  [[nodiscard]] std::uint16_t old_used_idx() const noexcept {
    return get16(packed_inflight_layout::old_used_idx_at);
  }
  [[nodiscard]] std::uint8_t used_wrap_counter() const noexcept {
    return get8(packed_inflight_layout::used_wrap_counter_at);
  }
  [[nodiscard]] std::uint8_t old_used_wrap_counter() const noexcept {
    return get8(packed_inflight_layout::old_used_wrap_counter_at);
  }
  void set_features(std::uint64_t v) noexcept {
    std::memcpy(p_ + packed_inflight_layout::features_at, &v, 8);
  }
  void set_version(std::uint16_t v) noexcept { put16(packed_inflight_layout::version_at, v); }
  void set_desc_num(std::uint16_t v) noexcept { put16(packed_inflight_layout::desc_num_at, v); }
  void set_free_head(std::uint16_t v) noexcept { put16(packed_inflight_layout::free_head_at, v); }
  void set_old_free_head(std::uint16_t v) noexcept {
    put16(packed_inflight_layout::old_free_head_at, v);
  }
  void set_used_idx(std::uint16_t v) noexcept { put16(packed_inflight_layout::used_idx_at, v); }
  void set_old_used_idx(std::uint16_t v) noexcept {
    put16(packed_inflight_layout::old_used_idx_at, v);
  }
  void set_used_wrap_counter(std::uint8_t v) noexcept {
    put8(packed_inflight_layout::used_wrap_counter_at, v);
  }
  void set_old_used_wrap_counter(std::uint8_t v) noexcept {
    put8(packed_inflight_layout::old_used_wrap_counter_at, v);
  }

  [[nodiscard]] bool inflight(std::uint16_t i) const noexcept {
    return get8(at(i) + packed_inflight_layout::inflight_at) != 0;
  }
  [[nodiscard]] std::uint16_t next(std::uint16_t i) const noexcept {
    return get16(at(i) + packed_inflight_layout::next_at);
  }
  [[nodiscard]] std::uint16_t last(std::uint16_t i) const noexcept {
    return get16(at(i) + packed_inflight_layout::last_at);
  }
  [[nodiscard]] std::uint16_t num(std::uint16_t i) const noexcept {
    return get16(at(i) + packed_inflight_layout::num_at);
  }
  [[nodiscard]] std::uint64_t counter(std::uint16_t i) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, p_ + at(i) + packed_inflight_layout::counter_at, 8);
    return v;
  }
  [[nodiscard]] desc_copy desc(std::uint16_t i) const noexcept {
    desc_copy d;
    std::memcpy(&d.addr, p_ + at(i) + packed_inflight_layout::addr_at, 8);
    std::memcpy(&d.len, p_ + at(i) + packed_inflight_layout::len_at, 4);
    d.id = get16(at(i) + packed_inflight_layout::id_at);
    d.flags = get16(at(i) + packed_inflight_layout::flags_at);
    return d;
  }
  void set_inflight(std::uint16_t i, bool on) noexcept {
    put8(at(i) + packed_inflight_layout::inflight_at, on ? std::uint8_t{1} : std::uint8_t{0});
  }
  void set_next(std::uint16_t i, std::uint16_t v) noexcept {
    put16(at(i) + packed_inflight_layout::next_at, v);
  }
  void set_last(std::uint16_t i, std::uint16_t v) noexcept {
    put16(at(i) + packed_inflight_layout::last_at, v);
  }
  void set_num(std::uint16_t i, std::uint16_t v) noexcept {
    put16(at(i) + packed_inflight_layout::num_at, v);
  }
  void set_counter(std::uint16_t i, std::uint64_t v) noexcept {
    std::memcpy(p_ + at(i) + packed_inflight_layout::counter_at, &v, 8);
  }
  void set_desc(std::uint16_t i, const desc_copy& d) noexcept {
    std::memcpy(p_ + at(i) + packed_inflight_layout::addr_at, &d.addr, 8);
    std::memcpy(p_ + at(i) + packed_inflight_layout::len_at, &d.len, 4);
    put16(at(i) + packed_inflight_layout::id_at, d.id);
    put16(at(i) + packed_inflight_layout::flags_at, d.flags);
  }

  /// Orders the steps of the spec's algorithm (see split_inflight_region::step).
  static void step() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

  /// A fresh region for `n` descriptors as DPDK's GET_INFLIGHT_FD leaves it (version 0, both
  /// wrap counters 1, every entry free and linked to the next one), plus desc_num: zero the
  /// header and the entries, then link entry i to i + 1 (the last one's next is n, the end).
  void format(std::uint16_t n) noexcept {
    std::memset(p_, 0, at(0) + packed_inflight_layout::desc_bytes * std::size_t{n});
    set_desc_num(n);
    set_used_wrap_counter(1);
    set_old_used_wrap_counter(1);
    for (std::uint32_t i = 0; i < n; ++i)
      set_next(static_cast<std::uint16_t>(i), static_cast<std::uint16_t>(i + 1));
  }

 private:
  [[nodiscard]] static constexpr std::size_t at(std::uint16_t i) noexcept {
    return packed_inflight_layout::desc_at + packed_inflight_layout::desc_bytes * std::size_t{i};
  }
  [[nodiscard]] std::uint8_t get8(std::size_t off) const noexcept {
    return std::to_integer<std::uint8_t>(p_[off]);
  }
  void put8(std::size_t off, std::uint8_t v) noexcept { p_[off] = std::byte{v}; }
  [[nodiscard]] std::uint16_t get16(std::size_t off) const noexcept {
    std::uint16_t v;
    std::memcpy(&v, p_ + off, 2);
    return v;
  }
  void put16(std::size_t off, std::uint16_t v) noexcept { std::memcpy(p_ + off, &v, 2); }

  std::byte* p_;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
