// SPDX-License-Identifier: Apache-2.0
// Decoding one vhost-user message (header + payload + the fds that came with it) into a checked,
// typed view. The per-message syntax validator runs here, before any handling (rules B2-B6, B14;
// digest §10): everything a message can get wrong on its own is refused with a typed errc.
// Semantic checks (feature gates, ring state, region overlap, queue-size power of two) are the
// session's job. No heap, no OS: fds are plain ints and the codec never closes one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/config.hpp"
#include "vireo/core/result.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user {

/// Limits and negotiated state the syntax checks depend on. Both sides keep one per connection
/// and update `protocol_features` once SET_PROTOCOL_FEATURES is through.
struct codec_options {
  /// Largest `header.size` accepted (rule B3); checked before anything else is looked at.
  std::uint32_t max_payload = default_max_payload;
  /// Vring indices must be below this (rule B14). The 8-bit index of KICK/CALL/ERR reaches 255.
  std::uint32_t num_queues = 256;
  /// SET_VRING_NUM must lie in 1..max_queue_size (virtio: at most 32768). Whether it must be a
  /// power of two depends on the ring layout, which the session checks.
  std::uint32_t max_queue_size = 32768;
  /// Negotiated protocol features: XEN_MMAP widens memory regions to 40 bytes, LOG_SHMFD makes
  /// SET_LOG_BASE carry an fd and get a reply.
  std::uint64_t protocol_features = 0;
  /// After POSTCOPY_LISTEN, QEMU acknowledges the back-end's SET_MEM_TABLE reply with a
  /// SET_MEM_TABLE request holding a u64 and no fd (spec, SET_MEM_TABLE note). Accept that form.
  bool postcopy_listening = false;
  /// REM_MEM_REG with one fd: the spec says a back-end MAY accept it and MUST close the fd unused.
  /// true: accepted (the fd is not consumed, so its owner closes it); false: vhost_unexpected_fd.
  bool accept_rem_mem_reg_fd = true;
};

/// A decoded, checked message. `payload` views the caller's buffer: keep that buffer alive and
/// unchanged while the message is used.
///
/// fd contract: on success the first `fd_count` fds given to decode() belong to the message (and
/// are copied into `fds`); every fd after them was not consumed and its owner must close it
/// (e.g. the fd of a REM_MEM_REG). On failure nothing was consumed: close every fd. The codec
/// itself never closes, duplicates or validates an fd.
struct message {
  header hdr{};
  channel ch = channel::main;
  bool is_reply = false;
  payload_type type = payload_type::empty;
  const_bytes payload{};
  std::array<int, max_fds_per_message> fds{};
  std::uint8_t fd_count = 0;

  [[nodiscard]] constexpr std::uint32_t request() const noexcept { return hdr.request.get(); }
  [[nodiscard]] constexpr bool need_reply() const noexcept { return needs_reply(hdr); }
  [[nodiscard]] constexpr std::span<const int> message_fds() const noexcept {
    return {fds.data(), fd_count};
  }
  /// The payload read as `T` (one copy). Precondition: the payload holds at least sizeof(T)
  /// bytes, which every fixed layout of `type` does.
  template <wire_type T>
  [[nodiscard]] T as() const noexcept {
    VIREO_ASSERT(payload.size() >= sizeof(T));
    T v;
    std::memcpy(&v, payload.data(), sizeof(T));
    return v;
  }
};

namespace detail {

template <wire_type T>
[[nodiscard]] inline T load(const_bytes p, std::size_t at = 0) noexcept {
  T v;
  std::memcpy(&v, p.data() + at, sizeof(T));
  return v;
}

/// `start + size` does not wrap past 2^64 (rust-vmm checked_add).
[[nodiscard]] constexpr bool fits(std::uint64_t start, std::uint64_t size) noexcept {
  return size <= ~std::uint64_t{0} - start;
}

[[nodiscard]] constexpr result<void> exact_size(const_bytes p, std::size_t n) noexcept {
  if (p.size() != n) return errc::vhost_payload_size;
  return ok();
}

[[nodiscard]] constexpr result<void> vring_index_ok(std::uint64_t index,
                                                    const codec_options& o) noexcept {
  if (index >= o.num_queues) return errc::vhost_vring_index;
  return ok();
}

/// The fds a message consumes, given how many arrived (rule B6).
[[nodiscard]] constexpr result<std::uint8_t> count_fds(std::size_t arrived,
                                                       std::size_t wanted) noexcept {
  if (arrived < wanted) return errc::vhost_missing_fd;
  if (arrived > wanted) return errc::vhost_unexpected_fd;
  return static_cast<std::uint8_t>(wanted);
}

/// What a payload check found: the layout and the fds the message consumes.
struct checked {
  payload_type type;
  std::uint8_t fds;
};

[[nodiscard]] inline std::size_t region_stride(const codec_options& o) noexcept {
  return has(o.protocol_features, protocol_feature::xen_mmap) ? sizeof(memory_region_xen)
                                                              : sizeof(memory_region);
}

/// One memory region (digest §10.20; rust-vmm is_valid_common): non-empty, and no address range
/// wraps. REM_MEM_REG ignores mmap_offset (spec), so it is not checked there.
[[nodiscard]] inline result<void> check_region(const_bytes p, std::size_t at, bool xen,
                                               bool check_mmap_offset) noexcept {
  const auto r = load<memory_region>(p, at);
  const std::uint64_t size = r.memory_size.get();
  if (size == 0) return errc::vhost_zero_size;
  if (!fits(r.guest_phys_addr.get(), size) || !fits(r.userspace_addr.get(), size))
    return errc::vhost_range_overflow;
  if (check_mmap_offset && !fits(r.mmap_offset.get(), size)) return errc::vhost_range_overflow;
  if (xen) {
    const std::uint32_t f = load<memory_region_xen>(p, at).xen_mmap_flags.get();
    if ((f & ~xen_mmap_flag::known) != 0) return errc::vhost_reserved_nonzero;
    // Exactly one of foreign/grant mapping (spec "Memory region description").
    const std::uint32_t kind = f & (xen_mmap_flag::foreign | xen_mmap_flag::grant);
    if (kind != xen_mmap_flag::foreign && kind != xen_mmap_flag::grant)
      return errc::vhost_bad_value;
  }
  return ok();
}

/// "Multiple Memory regions description": 1..8 regions, padding 0 (digest §10.19, as rust-vmm
/// checks; QEMU zeroes it), size 8 + stride·n.
[[nodiscard]] inline result<std::uint32_t> check_memory_table(const_bytes p,
                                                              const codec_options& o) noexcept {
  if (p.size() < sizeof(memory_table_header)) return errc::vhost_payload_size;
  const auto h = load<memory_table_header>(p);
  const std::uint32_t n = h.nregions.get();
  if (n == 0 || n > max_memory_regions) return errc::vhost_region_count;
  if (h.padding.get() != 0) return errc::vhost_reserved_nonzero;
  const std::size_t stride = region_stride(o);
  VIREO_TRY(exact_size(p, sizeof(memory_table_header) + stride * n));
  const bool xen = has(o.protocol_features, protocol_feature::xen_mmap);
  for (std::uint32_t i = 0; i < n; ++i)
    VIREO_TRY(check_region(p, sizeof(memory_table_header) + stride * i, xen, true));
  return n;
}

/// "Single memory region description": size 40 (48 with XEN_MMAP). Its 64-bit padding is not
/// required to be zero by the spec (QEMU zeroes it, rust-vmm ignores it), so it is not checked;
/// it is kept as received, so a re-encoded message is byte-identical.
[[nodiscard]] inline result<void> check_single_region(const_bytes p, const codec_options& o,
                                                      bool check_mmap_offset) noexcept {
  const bool xen = has(o.protocol_features, protocol_feature::xen_mmap);
  VIREO_TRY(exact_size(p, xen ? sizeof(single_memory_region_xen) : sizeof(single_memory_region)));
  return check_region(p, sizeof(ne64), xen, check_mmap_offset);
}

/// "Virtio device config space": offset + size within the 256-byte space, size bytes follow.
/// A reply may carry size 0 (the back-end's error indication, spec GET_CONFIG).
[[nodiscard]] inline result<void> check_config(const_bytes p, bool allow_zero) noexcept {
  if (p.size() < sizeof(config_header)) return errc::vhost_payload_size;
  const auto c = load<config_header>(p);
  const std::uint32_t size = c.size.get(), offset = c.offset.get();
  if (size == 0 && !allow_zero) return errc::vhost_zero_size;
  // Compared as offset <= max - size so that neither side wraps.
  if (size > max_config_size || offset > max_config_size - size) return errc::vhost_config_range;
  VIREO_TRY(exact_size(p, sizeof(config_header) + size));
  const std::uint32_t flags = c.flags.get();
  if (flags != static_cast<std::uint32_t>(config_flags::frontend) &&
      flags != static_cast<std::uint32_t>(config_flags::migration))
    return errc::vhost_bad_value;
  return ok();
}

/// The u64 of KICK/CALL/ERR and HOST_NOTIFIER: reserved bits 9-63 clear, index in range; the fd
/// count follows the no-fd bit (spec SET_VRING_KICK; digest §10.13).
[[nodiscard]] inline result<std::uint8_t> check_vring_fd_word(std::uint64_t v, std::size_t nfds,
                                                              const codec_options& o) noexcept {
  if ((v & vring_fd_bits::reserved) != 0) return errc::vhost_reserved_nonzero;
  VIREO_TRY(vring_index_ok(v & vring_fd_bits::index_mask, o));
  return count_fds(nfds, (v & vring_fd_bits::no_fd) != 0 ? 0 : 1);
}

[[nodiscard]] inline result<void> check_iotlb(const_bytes p, channel ch) noexcept {
  VIREO_TRY(exact_size(p, sizeof(iotlb_msg)));
  const auto m = load<iotlb_msg>(p);
  if (m.perm > static_cast<std::uint8_t>(iotlb_perm::rw)) return errc::vhost_bad_value;
  const auto type = m.type;
  if (ch == channel::main) {
    // The front-end only updates and invalidates entries (spec "IOMMU support").
    if (type != static_cast<std::uint8_t>(iotlb_type::update) &&
        type != static_cast<std::uint8_t>(iotlb_type::invalidate))
      return errc::vhost_bad_value;
    const std::uint64_t size = m.size.get();
    if (size == 0) return errc::vhost_zero_size;
    if (!fits(m.iova.get(), size)) return errc::vhost_range_overflow;
    if (type == static_cast<std::uint8_t>(iotlb_type::update) && !fits(m.uaddr.get(), size))
      return errc::vhost_range_overflow;
  } else if (type != static_cast<std::uint8_t>(iotlb_type::miss) &&
             type != static_cast<std::uint8_t>(iotlb_type::access_fail)) {
    // The back-end only reports misses and access failures.
    return errc::vhost_bad_value;
  }
  return ok();
}

[[nodiscard]] inline result<void> check_vring_addr(const_bytes p, const codec_options& o) noexcept {
  VIREO_TRY(exact_size(p, sizeof(vring_addr)));
  const auto a = load<vring_addr>(p);
  VIREO_TRY(vring_index_ok(a.index.get(), o));
  if ((a.flags.get() & ~vring_addr_flag::known) != 0) return errc::vhost_reserved_nonzero;
  // virtio §2.7: descriptor table 16-, available ring 2-, used ring 4-byte aligned.
  if ((a.desc_user_addr.get() & 15) != 0 || (a.avail_user_addr.get() & 1) != 0 ||
      (a.used_user_addr.get() & 3) != 0)
    return errc::ring_misaligned;
  return ok();
}

[[nodiscard]] inline result<void> check_inflight(const_bytes p, bool with_buffer) noexcept {
  VIREO_TRY(exact_size(p, sizeof(inflight)));
  const auto f = load<inflight>(p);
  if (f.num_queues.get() == 0 || f.queue_size.get() == 0) return errc::vhost_zero_size;
  if (with_buffer) {
    if (f.mmap_size.get() == 0) return errc::vhost_zero_size;
    if (!fits(f.mmap_offset.get(), f.mmap_size.get())) return errc::vhost_range_overflow;
  }
  return ok();
}

[[nodiscard]] inline result<void> check_shared_object(const_bytes p) noexcept {
  VIREO_TRY(exact_size(p, sizeof(shared_object)));
  const auto s = load<shared_object>(p);
  // The nil and the max UUID name no object (rust-vmm VhostUserSharedMsg::is_valid).
  bool all_zero = true, all_ones = true;
  for (const std::uint8_t b : s.uuid) {
    all_zero = all_zero && b == 0;
    all_ones = all_ones && b == 0xFF;
  }
  if (all_zero || all_ones) return errc::vhost_bad_value;
  return ok();
}

[[nodiscard]] inline result<void> check_shmem_map(const_bytes p, bool map) noexcept {
  VIREO_TRY(exact_size(p, sizeof(shmem_map)));
  const auto m = load<shmem_map>(p);
  const std::uint64_t len = m.len.get();
  if ((m.flags.get() & ~shmem_map_flag::known) != 0) return errc::vhost_reserved_nonzero;
  if (len == 0) return errc::vhost_zero_size;
  if (!fits(m.shm_offset.get(), len) || (map && !fits(m.fd_offset.get(), len)))
    return errc::vhost_range_overflow;
  return ok();
}

/// Checks of a vring_state request that depend on the request (digest §10.14, §10.17).
[[nodiscard]] inline result<void> check_vring_state(const_bytes p, channel ch, std::uint32_t code,
                                                    const codec_options& o) noexcept {
  VIREO_TRY(exact_size(p, sizeof(vring_state)));
  const auto s = load<vring_state>(p);
  VIREO_TRY(vring_index_ok(s.index.get(), o));
  const std::uint32_t num = s.num.get();
  if (ch == channel::backend) {
    // BACKEND_VRING_CALL / _ERR: "The state.num field is currently reserved and must be set to 0".
    if (num != 0) return errc::vhost_reserved_nonzero;
    return ok();
  }
  switch (static_cast<frontend_request>(code)) {
    case frontend_request::set_vring_num:
      if (num == 0 || num > o.max_queue_size) return errc::bad_queue_size;
      break;
    case frontend_request::get_vring_base:  // num "reserved and must be set to 0"
    case frontend_request::vring_kick:      // likewise
      if (num != 0) return errc::vhost_reserved_nonzero;
      break;
    case frontend_request::set_vring_enable:  // 0 disable, 1 enable (rule B11)
    case frontend_request::set_vring_endian:  // 0 little, 1 big; "other values are invalid"
      if (num > 1) return errc::vhost_bad_value;
      break;
    default: break;  // SET_VRING_BASE: the split/packed encoding is the session's to check
  }
  return ok();
}

/// The syntax check of a request payload and its fds.
[[nodiscard]] inline result<checked> check_request(channel ch, std::uint32_t code, const_bytes p,
                                                   std::size_t nfds,
                                                   const codec_options& o) noexcept {
  const request_info& ri = info(ch, code);
  const payload_type type = ri.payload;
  if (ch == channel::main && code == static_cast<std::uint32_t>(frontend_request::set_mem_table) &&
      o.postcopy_listening && p.size() == sizeof(u64_payload)) {
    const auto n_r = count_fds(nfds, 0);
    if (!n_r) return n_r.error();
    const auto n = *n_r;
    return checked{payload_type::u64, n};
  }
  switch (type) {
    case payload_type::empty: VIREO_TRY(exact_size(p, 0)); break;
    case payload_type::u64:
      VIREO_TRY(exact_size(p, sizeof(u64_payload)));
      // The virtio device status is one byte (virtio §2.1).
      if (code == static_cast<std::uint32_t>(frontend_request::set_status) &&
          load<u64_payload>(p).value.get() > 0xFF)
        return errc::vhost_bad_value;
      break;
    case payload_type::vring_fd: {
      VIREO_TRY(exact_size(p, sizeof(u64_payload)));
      const auto n_r = check_vring_fd_word(load<u64_payload>(p).value.get(), nfds, o);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{type, n};
    }
    case payload_type::vring_state: VIREO_TRY(check_vring_state(p, ch, code, o)); break;
    case payload_type::vring_addr: VIREO_TRY(check_vring_addr(p, o)); break;
    case payload_type::memory_table: {
      const auto regions_r = check_memory_table(p, o);
      if (!regions_r) return regions_r.error();
      const auto regions = *regions_r;
      // One fd per region, in region order (spec SET_MEM_TABLE).
      const auto n_r = count_fds(nfds, regions);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{type, n};
    }
    case payload_type::single_region: {
      const bool add = code == static_cast<std::uint32_t>(frontend_request::add_mem_reg);
      VIREO_TRY(check_single_region(p, o, add));
      break;
    }
    case payload_type::log: {
      VIREO_TRY(exact_size(p, sizeof(log_description)));
      const auto l = load<log_description>(p);
      if (l.mmap_size.get() == 0) return errc::vhost_zero_size;
      if (!fits(l.mmap_offset.get(), l.mmap_size.get())) return errc::vhost_range_overflow;
      break;
    }
    case payload_type::iotlb: VIREO_TRY(check_iotlb(p, ch)); break;
    case payload_type::config: VIREO_TRY(check_config(p, false)); break;
    case payload_type::vring_area: {
      VIREO_TRY(exact_size(p, sizeof(vring_area)));
      const auto a = load<vring_area>(p);
      const std::uint64_t u = a.u64.get();
      const auto n_r = check_vring_fd_word(u, nfds, o);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      if ((u & vring_fd_bits::no_fd) == 0) {  // registering: the mmap window must make sense
        if (a.size.get() == 0) return errc::vhost_zero_size;
        if (!fits(a.offset.get(), a.size.get())) return errc::vhost_range_overflow;
      }
      return checked{type, n};
    }
    case payload_type::inflight:
      VIREO_TRY(check_inflight(
          p, code == static_cast<std::uint32_t>(frontend_request::set_inflight_fd)));
      break;
    case payload_type::shared_object: VIREO_TRY(check_shared_object(p)); break;
    case payload_type::device_state: {
      VIREO_TRY(exact_size(p, sizeof(device_state_transfer)));
      const auto d = load<device_state_transfer>(p);
      if (d.direction.get() > static_cast<std::uint32_t>(transfer_direction::load) ||
          d.phase.get() != static_cast<std::uint32_t>(migration_phase::stopped))
        return errc::vhost_bad_value;
      break;
    }
    case payload_type::crypto_session:
      if (p.size() < crypto_session_min_size) return errc::vhost_payload_size;
      break;
    case payload_type::shmem_map:
      VIREO_TRY(check_shmem_map(
          p, code == static_cast<std::uint32_t>(backend_request::shmem_map)));
      break;
    case payload_type::shmem_config: return errc::vhost_unknown_request;  // never a request
  }
  switch (ri.fds) {
    case fd_rule::one: {
      const auto n_r = count_fds(nfds, 1);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{type, n};
    }
    case fd_rule::if_log_shmfd: {
      const auto n_r = count_fds(nfds, has(o.protocol_features, protocol_feature::log_shmfd));
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{type, n};
    }
    case fd_rule::ignored_if_present:
      if (nfds == 0 || (nfds == 1 && o.accept_rem_mem_reg_fd)) return checked{type, 0};
      return errc::vhost_unexpected_fd;
    default: {
      const auto n_r = count_fds(nfds, 0);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{type, n};
    }
  }
}

/// The syntax check of a reply to request `code` on `ch`.
[[nodiscard]] inline result<checked> check_reply(channel ch, std::uint32_t code, const_bytes p,
                                                 std::size_t nfds,
                                                 const codec_options& o) noexcept {
  auto plain = [&](payload_type t, std::size_t size) -> result<checked> {
    VIREO_TRY(exact_size(p, size));
    const auto n_r = count_fds(nfds, 0);
    if (!n_r) return n_r.error();
    const auto n = *n_r;
    return checked{t, n};
  };
  if (ch == channel::backend) {
    VIREO_TRY(exact_size(p, sizeof(u64_payload)));
    if (code == static_cast<std::uint32_t>(backend_request::shared_object_lookup)) {
      // "Frontend will reply passing the fd and a zero when the operation is successful".
      const auto n_r = count_fds(nfds, load<u64_payload>(p).value.get() == 0 ? 1 : 0);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{payload_type::u64, n};
    }
    return plain(payload_type::u64, sizeof(u64_payload));
  }
  switch (static_cast<frontend_request>(code)) {
    case frontend_request::set_mem_table:  // REPLY_ACK, or the postcopy table of mapping bases
      if (p.size() == sizeof(u64_payload)) return plain(payload_type::u64, sizeof(u64_payload));
      VIREO_TRY(check_memory_table(p, o));
      return plain(payload_type::memory_table, p.size());
    case frontend_request::add_mem_reg:  // REPLY_ACK, or the postcopy region
      if (p.size() == sizeof(u64_payload)) return plain(payload_type::u64, sizeof(u64_payload));
      VIREO_TRY(check_single_region(p, o, true));
      return plain(payload_type::single_region, p.size());
    case frontend_request::get_vring_base:
      VIREO_TRY(exact_size(p, sizeof(vring_state)));
      VIREO_TRY(vring_index_ok(load<vring_state>(p).index.get(), o));
      return plain(payload_type::vring_state, sizeof(vring_state));
    case frontend_request::get_config:
      if (p.empty()) return plain(payload_type::empty, 0);  // "zero length ... an error"
      VIREO_TRY(check_config(p, true));
      return plain(payload_type::config, p.size());
    case frontend_request::create_crypto_session:
      if (p.size() < crypto_session_min_size) return errc::vhost_payload_size;
      return plain(payload_type::crypto_session, p.size());
    case frontend_request::postcopy_advise: {  // the userfaultfd
      VIREO_TRY(exact_size(p, 0));
      const auto n_r = count_fds(nfds, 1);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{payload_type::empty, n};
    }
    case frontend_request::get_inflight_fd: {
      VIREO_TRY(exact_size(p, sizeof(inflight)));
      const auto f = load<inflight>(p);
      const std::uint64_t size = f.mmap_size.get();
      if (!fits(f.mmap_offset.get(), size)) return errc::vhost_range_overflow;
      // QEMU reads the fd only when mmap_size != 0.
      const auto n_r = count_fds(nfds, size != 0 ? 1 : 0);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{payload_type::inflight, n};
    }
    case frontend_request::get_shared_object: {
      // Spec: the reply is the dmabuf fd (none on failure). libvhost-user echoes the 16-byte
      // request payload; QEMU reads any size. Accept nothing or the echo.
      if (!p.empty()) VIREO_TRY(exact_size(p, sizeof(shared_object)));
      const auto n_r = count_fds(nfds, nfds > 0 ? 1 : 0);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{p.empty() ? payload_type::empty : payload_type::shared_object, n};
    }
    case frontend_request::set_device_state_fd: {
      VIREO_TRY(exact_size(p, sizeof(u64_payload)));
      const std::uint64_t v = load<u64_payload>(p).value.get();
      if ((v & device_state_reply_bits::reserved) != 0) return errc::vhost_reserved_nonzero;
      const bool no_fd = (v & device_state_reply_bits::no_fd) != 0;
      // "The back-end must not both indicate an error and return a file descriptor."
      if ((v & device_state_reply_bits::error_mask) != 0 && !no_fd) return errc::vhost_bad_value;
      const auto n_r = count_fds(nfds, no_fd ? 0 : 1);
      if (!n_r) return n_r.error();
      const auto n = *n_r;
      return checked{payload_type::u64, n};
    }
    case frontend_request::get_shmem_config: {
      if (p.size() < sizeof(shmem_config_header)) return errc::vhost_payload_size;
      const auto h = load<shmem_config_header>(p);
      const std::size_t entries = (p.size() - sizeof(shmem_config_header)) / sizeof(ne64);
      if (p.size() != sizeof(shmem_config_header) + entries * sizeof(ne64) ||
          (entries != max_shmem_regions && entries != draft_shmem_regions))
        return errc::vhost_payload_size;
      if (h.nregions.get() > entries) return errc::vhost_region_count;
      return plain(payload_type::shmem_config, p.size());
    }
    default:
      // Every other reply is a u64: the inherent value or the REPLY_ACK status.
      return plain(payload_type::u64, sizeof(u64_payload));
  }
}

/// The checks common to decode() and the encoders: framing flags, the request code, the payload.
[[nodiscard]] inline result<checked> check_message(const header& h, const_bytes p,
                                                   std::size_t nfds, channel ch, bool reply,
                                                   std::uint32_t awaited,
                                                   const codec_options& o) noexcept {
  VIREO_TRY(validate_header(h, o.max_payload));
  if (p.size() != h.size.get()) return errc::vhost_frame_length;
  if (nfds > max_fds_per_message) return errc::vhost_unexpected_fd;
  const std::uint32_t code = h.request.get();
  if (reply) {
    // QEMU 7.2 rejects any reply whose flags are not exactly 0x5 (§1.1, rule F5).
    if (h.flags.get() != flag::reply_flags) return errc::vhost_bad_reply_flags;
    if (code != awaited) return errc::vhost_reply_mismatch;
    if (!is_known_request(ch, code)) return errc::vhost_unknown_request;
    return check_reply(ch, code, p, nfds, o);
  }
  if (is_reply(h)) return errc::vhost_reply_flag_on_request;  // rule B2
  if (!is_known_request(ch, code)) return errc::vhost_unknown_request;  // rule B5
  return check_request(ch, code, p, nfds, o);
}

[[nodiscard]] inline result<message> decode_frame(const_bytes frame, std::span<const int> fds,
                                                  channel ch, bool reply, std::uint32_t awaited,
                                                  const codec_options& o) noexcept {
  const auto h_r = load_header(frame);
  if (!h_r) return h_r.error();
  const auto h = *h_r;
  // Framing first (rules B1, B3): the size is checked against the cap before the length.
  VIREO_TRY(validate_header(h, o.max_payload));
  if (frame.size() - header_size != h.size.get()) return errc::vhost_frame_length;
  const const_bytes p = frame.subspan(header_size);
  const auto c_r = check_message(h, p, fds.size(), ch, reply, awaited, o);
  if (!c_r) return c_r.error();
  const auto c = *c_r;
  message m;
  m.hdr = h;
  m.ch = ch;
  m.is_reply = reply;
  m.type = c.type;
  m.payload = p;
  m.fd_count = c.fds;
  for (std::size_t i = 0; i < c.fds; ++i) m.fds[i] = fds[i];
  return m;
}

}  // namespace detail

/// Decode and check one request: `frame` is exactly the 12-byte header and its payload, `fds` the
/// descriptors that arrived with it (in order), `ch` the socket it came from.
/// Errors (checked in this order):
///  - vhost_header_truncated: fewer than 12 bytes;
///  - vhost_bad_version, vhost_reserved_flags, vhost_payload_too_large (rules B2, B3);
///  - vhost_frame_length: `frame` is not 12 + header.size bytes;
///  - vhost_unexpected_fd: more than max_fds_per_message fds;
///  - vhost_reply_flag_on_request (B2), vhost_unknown_request (B5);
///  - payload: vhost_payload_size (B4), vhost_reserved_nonzero, vhost_region_count,
///    vhost_zero_size, vhost_range_overflow, vhost_vring_index (B14), vhost_bad_value,
///    vhost_config_range, bad_queue_size (SET_VRING_NUM), ring_misaligned (SET_VRING_ADDR);
///  - vhost_missing_fd / vhost_unexpected_fd: fd count wrong for the message (B6).
/// On error no fd is consumed (the caller closes them all); see `message` for the success case.
[[nodiscard]] inline result<message> decode(const_bytes frame, std::span<const int> fds,
                                            channel ch, const codec_options& o = {}) noexcept {
  return detail::decode_frame(frame, fds, ch, false, 0, o);
}

/// Decode and check the reply to request `awaited` (the side that sent the request calls this).
/// Besides decode()'s framing checks: flags must be exactly 0x5 (vhost_bad_reply_flags), the code
/// must be `awaited` (vhost_reply_mismatch) and the payload and fds those of that request's reply
/// (a u64 for REPLY_ACK acks; digest §7.4, rule F5).
[[nodiscard]] inline result<message> decode_reply(const_bytes frame, std::span<const int> fds,
                                                  channel ch, std::uint32_t awaited,
                                                  const codec_options& o = {}) noexcept {
  return detail::decode_frame(frame, fds, ch, true, awaited, o);
}

// ---- Typed views of the variable payloads ---------------------------------------------------------

/// The regions of a memory_table message (SET_MEM_TABLE, or its postcopy reply).
struct memory_table_view {
  const_bytes regions{};  ///< nregions entries of `stride` bytes
  std::uint32_t count = 0;
  bool xen = false;

  [[nodiscard]] std::size_t stride() const noexcept {
    return xen ? sizeof(memory_region_xen) : sizeof(memory_region);
  }
  /// Region `i` (precondition: i < count).
  [[nodiscard]] memory_region region(std::size_t i) const noexcept {
    VIREO_ASSERT(i < count);
    return detail::load<memory_region>(regions, i * stride());
  }
  /// Region `i` with its Xen fields (precondition: xen and i < count).
  [[nodiscard]] memory_region_xen region_xen(std::size_t i) const noexcept {
    VIREO_ASSERT(xen && i < count);
    return detail::load<memory_region_xen>(regions, i * stride());
  }
};

/// The regions of a memory_table message. Precondition: m.type == payload_type::memory_table.
[[nodiscard]] inline memory_table_view memory_table_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::memory_table);
  memory_table_view v;
  v.count = m.as<memory_table_header>().nregions.get();
  v.regions = m.payload.subspan(sizeof(memory_table_header));
  v.xen = v.regions.size() == std::size_t{v.count} * sizeof(memory_region_xen);
  return v;
}

/// The region of an ADD/REM_MEM_REG (or its postcopy reply); the Xen fields when XEN_MMAP was on.
/// Precondition: m.type == payload_type::single_region.
[[nodiscard]] inline memory_region single_region_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::single_region);
  return detail::load<memory_region>(m.payload, sizeof(ne64));
}
[[nodiscard]] inline memory_region_xen single_region_xen_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::single_region &&
               m.payload.size() == sizeof(single_memory_region_xen));
  return detail::load<memory_region_xen>(m.payload, sizeof(ne64));
}

/// A config message: its head and its `head.size` data bytes.
struct config_view {
  config_header head{};
  const_bytes data{};
};
/// Precondition: m.type == payload_type::config.
[[nodiscard]] inline config_view config_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::config);
  return {m.as<config_header>(), m.payload.subspan(sizeof(config_header))};
}

/// The GET_SHMEM_CONFIG reply: `nregions` sizes, indexed by shmid.
struct shmem_config_view {
  std::uint32_t nregions = 0;
  const_bytes sizes{};
  /// Size of region `i` (precondition: i < nregions).
  [[nodiscard]] std::uint64_t size(std::size_t i) const noexcept {
    VIREO_ASSERT(i < nregions);
    return detail::load<ne64>(sizes, i * sizeof(ne64)).get();
  }
};
/// Precondition: m.type == payload_type::shmem_config.
[[nodiscard]] inline shmem_config_view shmem_config_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::shmem_config);
  return {m.as<shmem_config_header>().nregions.get(),
          m.payload.subspan(sizeof(shmem_config_header))};
}

/// The u64 of a u64 or vring_fd message. Precondition: one of those types.
[[nodiscard]] inline std::uint64_t u64_of(const message& m) noexcept {
  VIREO_ASSERT(m.type == payload_type::u64 || m.type == payload_type::vring_fd);
  return m.as<u64_payload>().value.get();
}

/// The vring index a per-ring message addresses (vring_fd, vring_state, vring_addr, vring_area).
/// Precondition: one of those types.
[[nodiscard]] inline std::uint32_t vring_index_of(const message& m) noexcept {
  switch (m.type) {
    case payload_type::vring_fd:
      return static_cast<std::uint32_t>(u64_of(m) & vring_fd_bits::index_mask);
    case payload_type::vring_area:
      return static_cast<std::uint32_t>(m.as<vring_area>().u64.get() & vring_fd_bits::index_mask);
    case payload_type::vring_state: return m.as<vring_state>().index.get();
    case payload_type::vring_addr: return m.as<vring_addr>().index.get();
    default: VIREO_ASSERT(false); return 0;
  }
}

}  // namespace vhost_user
VIREO_NAMESPACE_END
