// SPDX-License-Identifier: Apache-2.0
// The vhost-user front-end (the VMM side) of one back-end: negotiation, guest memory, vrings with
// eventfd notifiers, config space, device status, and reconnection to a restarted back-end with
// the whole setup sent again (vhost-user digest §6.1, §7; rules F1-F12).
#pragma once

#include <fcntl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/linux/memfd_guest_ram.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/linux/unix_socket.hpp"
#include "vireo/linux/vhost_user_frontend/notifier.hpp"
#include "vireo/linux/vhost_user_frontend/options.hpp"
#include "vireo/linux/vhost_user_frontend/request_channel.hpp"
#include "vireo/linux/vhost_user_frontend/sys.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// The inflight region a back-end handed out with GET_INFLIGHT_FD, as the front-end keeps it:
/// `fd` is the front-end's own duplicate (owned by the front-end), the rest as in the reply.
struct inflight_region {
  int fd = -1;
  std::uint64_t size = 0;         ///< mmap_size
  std::uint64_t mmap_offset = 0;
  std::uint16_t num_queues = 0;
  std::uint16_t queue_size = 0;
};

/// The front-end of one vhost-user back-end. The order of use follows the spec's session (digest
/// §6.1) and QEMU's (§7):
///
///   auto fe = frontend<>::connect("/run/vhost-i2c.sock", {.num_queues = 1});
///   fe->negotiate();                    // GET_FEATURES, protocol features, MQ, slots, SET_OWNER
///   fe->set_features(wanted);           // SET_FEATURES with what both sides have
///   fe->set_mem_table(ram.regions());   // SET_MEM_TABLE, or REM/ADD_MEM_REG (slots)
///   fe->start_vring(0, queue_config);   // NUM, BASE, ADDR, CALL, ERR, KICK, then ENABLE
///   fe->kick(0); fe->wait_call(0, ms);  // eventfds
///   fe->stop_vring(0);                  // GET_VRING_BASE: the base to resume from
///
/// Every request follows the rules F1-F12: nothing before GET_FEATURES, protocol features only
/// when bit 30 is offered and only the implemented ones acked (F1); SET_OWNER before memory and
/// rings (F2); a gated request only with its feature (F3, refused locally with
/// vhost_not_negotiated); version 1, NEED_REPLY iff REPLY_ACK (F4); every reply checked (F5) and
/// the connection closed on a wrong one or a failed send (F12); the memory table before ring
/// addresses and KICK last (F6); the documented fds (F7); GET_VRING_BASE to stop (F8); at most 8
/// regions per SET_MEM_TABLE and GET_MAX_MEM_SLOTS with ADD_MEM_REG (F9); SET_VRING_ENABLE only
/// with bit 30 (F10). No back-end channel is served: BACKEND_REQ is never acked (F11).
/// Inflight tracking: get_inflight_fd() / set_inflight_fd() before the rings start; the region's
/// fd is kept and reconnect() hands it to the restarted back-end.
///
/// The front-end owns the kick, call and err eventfds of each vring (kept across reconnects)
/// and a duplicate of every memory region's fd (to send the table again after a reconnect).
/// The back-end is a peer, not trusted: replies are checked, waits are bounded. Move-only; not
/// thread-safe; no heap. MaxQueues bounds options().num_queues, MaxRegions the memory table.
template <frontend_sys_api Sys = real_frontend_sys, std::size_t MaxQueues = 8,
          std::size_t MaxRegions = 8>
class basic_frontend {
  static_assert(MaxQueues >= 1 && MaxQueues <= 256, "KICK/CALL/ERR carry an 8-bit vring index");
  static_assert(MaxRegions >= 1);

 public:
  static constexpr std::size_t max_queues = MaxQueues;
  static constexpr std::size_t max_regions = MaxRegions;

  /// Connect to the back-end listening at `path` (connect_unix, with its retries). Nothing is
  /// sent yet. Errors: invalid_argument (options: num_queues 0 or above MaxQueues, a timeout
  /// <= 0), those of connect_unix().
  [[nodiscard]] static result<basic_frontend> connect(std::string_view path,
                                                      const frontend_options& opts = {},
                                                      connect_options how = {},
                                                      Sys sys = Sys{}) noexcept {
    VIREO_TRY(check_options(opts));
    auto sock = connect_unix<Sys>(path, how, sys);
    if (!sock) return sock.error();
    return basic_frontend{std::move(*sock), opts, sys};
  }

  /// A front-end over an already connected socket (a socket pair, an accepted connection: the
  /// front-end may be the listening side). Nothing is sent yet. Errors: invalid_argument
  /// (options as above, or no socket).
  [[nodiscard]] static result<basic_frontend> open(basic_unique_fd<Sys> socket,
                                                   const frontend_options& opts = {}) noexcept {
    VIREO_TRY(check_options(opts));
    if (!socket.valid()) return errc::invalid_argument;
    Sys sys = socket.sys();
    return basic_frontend{std::move(socket), opts, sys};
  }

  basic_frontend(basic_frontend&&) noexcept = default;
  basic_frontend& operator=(basic_frontend&&) noexcept = default;
  basic_frontend(const basic_frontend&) = delete;
  basic_frontend& operator=(const basic_frontend&) = delete;
  ~basic_frontend() = default;

  // ---- State --------------------------------------------------------------------------------

  [[nodiscard]] const frontend_options& options() const noexcept { return opts_; }
  /// The connection is open (a failed send or a refused reply closes it: rule F12).
  [[nodiscard]] bool connected() const noexcept { return rc_.connected(); }
  [[nodiscard]] int socket_fd() const noexcept { return rc_.fd(); }
  /// The codec options requests go out with (negotiated protocol features, queue count).
  [[nodiscard]] const vhost_user::codec_options& codec() const noexcept { return rc_.codec(); }
  /// negotiate() finished on this connection (SET_OWNER sent).
  [[nodiscard]] bool owner() const noexcept { return owner_; }
  /// GET_FEATURES answer (bit 30 included when offered).
  [[nodiscard]] std::uint64_t offered_features() const noexcept { return offered_; }
  /// GET_PROTOCOL_FEATURES answer (0 when bit 30 was not offered).
  [[nodiscard]] std::uint64_t offered_protocol_features() const noexcept {
    return offered_protocol_;
  }
  /// The protocol features acked in SET_PROTOCOL_FEATURES.
  [[nodiscard]] std::uint64_t protocol_features() const noexcept {
    return rc_.codec().protocol_features;
  }
  [[nodiscard]] bool negotiated(vhost_user::protocol_feature f) const noexcept {
    return vhost_user::has(protocol_features(), f);
  }
  /// The features sent in SET_FEATURES (bit 30 included when it was offered), once set.
  [[nodiscard]] std::optional<std::uint64_t> features() const noexcept {
    return features_set_ ? std::optional<std::uint64_t>{features_} : std::nullopt;
  }
  /// GET_QUEUE_NUM answer (MQ), GET_MAX_MEM_SLOTS answer (CONFIGURE_MEM_SLOTS).
  [[nodiscard]] std::optional<std::uint64_t> queue_num() const noexcept { return queue_num_; }
  [[nodiscard]] std::optional<std::uint64_t> max_mem_slots() const noexcept { return max_slots_; }
  /// The memory table the back-end has (fds are the front-end's duplicates).
  [[nodiscard]] std::span<const shared_ram_region> mem_table() const noexcept {
    return {regions_.data(), region_count_};
  }

  [[nodiscard]] bool vring_started(std::uint32_t i) const noexcept {
    return i < MaxQueues && vrings_[i].started;
  }
  [[nodiscard]] bool vring_enabled(std::uint32_t i) const noexcept {
    return i < MaxQueues && vrings_[i].enabled;
  }
  /// The base the vring resumes from: the latest GET_VRING_BASE answer, or set_resume_base().
  /// Empty while the ring runs (its position moves) or before it ever stopped.
  [[nodiscard]] std::optional<std::uint32_t> resume_base(std::uint32_t i) const noexcept {
    return i < MaxQueues ? vrings_[i].resume : std::nullopt;
  }
  /// The vring's eventfds (-1 before its first start_vring()).
  [[nodiscard]] int kick_fd(std::uint32_t i) const noexcept { return fd_of(i, &vring::kick); }
  [[nodiscard]] int call_fd(std::uint32_t i) const noexcept { return fd_of(i, &vring::call); }
  [[nodiscard]] int err_fd(std::uint32_t i) const noexcept { return fd_of(i, &vring::err); }

  /// The inflight region GET_INFLIGHT_FD handed out (kept across reconnects), if any.
  [[nodiscard]] const std::optional<inflight_region>& inflight() const noexcept {
    return inflight_;
  }

  // ---- Negotiation (digest §6.1 steps 2-4, §7.1) --------------------------------------------

  /// GET_FEATURES; if bit 30 is offered, GET_PROTOCOL_FEATURES and SET_PROTOCOL_FEATURES with
  /// offered & options().protocol_features & frontend_protocol_features (F1); GET_QUEUE_NUM if
  /// MQ was acked (it must cover options().num_queues); GET_MAX_MEM_SLOTS if
  /// CONFIGURE_MEM_SLOTS was acked (non-zero); SET_OWNER (F2).
  /// Errors: vhost_vring_index (the back-end has fewer queues than num_queues), vhost_bad_value
  /// (0 memory slots; the connection is closed), and those of the requests.
  [[nodiscard]] result<void> negotiate() noexcept {
    owner_ = false;
    VIREO_TRY(negotiate_features());
    if (negotiated(vhost_user::protocol_feature::mq)) {
      const auto n = call_u64(vhost_user::frontend_request::get_queue_num);
      if (!n) return n.error();
      queue_num_ = *n;
      if (*n < opts_.num_queues) return errc::vhost_vring_index;
    }
    if (negotiated(vhost_user::protocol_feature::configure_mem_slots)) {
      const auto n = call_u64(vhost_user::frontend_request::get_max_mem_slots);
      if (!n) return n.error();
      if (*n == 0) return refuse_reply(errc::vhost_bad_value);  // a table needs one slot
      max_slots_ = *n;
    }
    VIREO_TRY(rc_.send(vhost_user::frontend_request::set_owner, {}));
    owner_ = true;
    return ok();
  }

  /// SET_FEATURES with `wanted` & offered, plus bit 30 when it was offered (then rings start
  /// disabled and need SET_VRING_ENABLE, spec "Ring states"). Returns what was sent.
  /// Errors: vhost_not_owner (before negotiate()), vhost_out_of_order (a vring is started and
  /// features other than VHOST_F_LOG_ALL would change), those of the request.
  [[nodiscard]] result<std::uint64_t> set_features(std::uint64_t wanted) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    const std::uint64_t acked = (wanted & offered_ & ~vhost_user::f_protocol_features) |
                                (offered_ & vhost_user::f_protocol_features);
    // VHOST_F_LOG_ALL alone may change while rings run (migration start and end).
    if (any_started() && features_set_ && ((acked ^ features_) & ~vhost_user::f_log_all) != 0)
      return errc::vhost_out_of_order;
    VIREO_TRY(send_u64(vhost_user::frontend_request::set_features, acked));
    features_ = acked;
    features_set_ = true;
    return acked;
  }

  // ---- Guest memory (digest §6.2) -----------------------------------------------------------

  /// Give the back-end `regions` as its memory table. Without CONFIGURE_MEM_SLOTS: one
  /// SET_MEM_TABLE with one fd per region (at most 8, F9). With it: REM_MEM_REG for each region
  /// no longer in the table, then ADD_MEM_REG for each new one (QEMU's diff), at most
  /// GET_MAX_MEM_SLOTS regions. The fds are duplicated and kept for reconnect().
  /// Errors: vhost_not_owner; invalid_argument (no region, or a negative fd); vhost_zero_size,
  /// vhost_range_overflow, region_overlap (a region is empty, wraps, or meets another);
  /// vhost_region_count (more than 8, MaxRegions or the slot limit); ring_not_mapped (a started
  /// vring would not lie at the same user addresses in the new table); the errno of the fd
  /// duplication; those of the requests (with slots, the table then holds what got through).
  [[nodiscard]] result<void> set_mem_table(std::span<const shared_ram_region> regions) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (regions.empty()) return errc::invalid_argument;
    VIREO_TRY(check_table(regions));
    if (!negotiated(vhost_user::protocol_feature::configure_mem_slots))
      return send_whole_table(regions);
    // REM first, so that the slots of the vanished regions are free for the new ones.
    for (std::size_t i = region_count_; i-- > 0;)
      if (!contains(regions, regions_[i])) VIREO_TRY(remove_region_at(i));
    for (const shared_ram_region& r : regions)
      if (!contains(mem_table(), r)) VIREO_TRY(add_mem_region(r));
    return ok();
  }

  /// ADD_MEM_REG of one region (CONFIGURE_MEM_SLOTS only, F3). Errors: vhost_not_negotiated, as
  /// set_mem_table() for one more region.
  [[nodiscard]] result<void> add_mem_region(const shared_ram_region& r) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (!negotiated(vhost_user::protocol_feature::configure_mem_slots))
      return errc::vhost_not_negotiated;
    VIREO_TRY(check_region(r));
    if (region_count_ == MaxRegions || (max_slots_ && region_count_ >= *max_slots_))
      return errc::vhost_region_count;  // F9: within GET_MAX_MEM_SLOTS
    for (std::size_t i = 0; i < region_count_; ++i)
      if (overlap(regions_[i], r)) return errc::region_overlap;
    auto dup = duplicate(r.fd);
    if (!dup) return dup.error();
    const vhost_user::single_memory_region p = single_region(r);
    const int fd = r.fd;
    VIREO_TRY(rc_.send(vhost_user::frontend_request::add_mem_reg, as_bytes_of(p), {&fd, 1}));
    regions_[region_count_] = r;
    regions_[region_count_].fd = dup->get();
    region_fds_[region_count_] = std::move(*dup);
    ++region_count_;
    return ok();
  }

  /// REM_MEM_REG of a region of the table (matched on guest address, size and user address; sent
  /// without fd and with mmap_offset 0, as QEMU does). Errors: vhost_not_negotiated, not_found,
  /// ring_not_mapped (a started vring lives in it), those of the request.
  [[nodiscard]] result<void> remove_mem_region(const shared_ram_region& r) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (!negotiated(vhost_user::protocol_feature::configure_mem_slots))
      return errc::vhost_not_negotiated;
    for (std::size_t i = 0; i < region_count_; ++i)
      if (same_region(regions_[i], r)) return remove_region_at(i);
    return errc::not_found;
  }

  // ---- Vrings (digest §5, §7.2, §7.3) -------------------------------------------------------

  /// Start vring `i` laid out as `cfg` (the guest addresses its driver queue was configured
  /// with) from its resume base (after a stop) or from the initial base:
  /// SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR (user addresses through the memory table),
  /// SET_VRING_CALL, SET_VRING_ERR, SET_VRING_KICK (last: it starts the ring, F6), then
  /// SET_VRING_ENABLE(1) when bit 30 was acked and options().enable_on_start (F10).
  /// Errors: vhost_not_owner; vhost_out_of_order (no SET_FEATURES or memory table yet, or the
  /// ring is started); vhost_vring_index (i >= num_queues); invalid_argument (cfg's layout is not
  /// the negotiated one); bad_queue_size; ring_not_mapped (an area is not inside one region of
  /// the table); ring_misaligned; the errno of eventfd(); those of the requests.
  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg) noexcept {
    VIREO_TRY(check_vring(i));
    const vring& v = vrings_[i];
    return start(i, cfg, v.resume ? *v.resume : initial_vring_base(packed()),
                 opts_.enable_on_start);
  }
  /// start_vring() again with the layout of the vring's previous start (after stop_vring()).
  /// Errors: as above; vhost_out_of_order (the vring was never started).
  [[nodiscard]] result<void> start_vring(std::uint32_t i) noexcept {
    VIREO_TRY(check_vring(i));
    const vring& v = vrings_[i];
    if (v.config.size == 0) return errc::vhost_out_of_order;
    return start(i, v.config, v.resume ? *v.resume : initial_vring_base(packed()),
                 opts_.enable_on_start);
  }
  /// start_vring() from an explicit `base` (SET_VRING_BASE encoding, digest §2).
  /// Errors: as above; invalid_argument (a split base above 16 bits).
  [[nodiscard]] result<void> start_vring(std::uint32_t i, const ring::queue_config& cfg,
                                         std::uint32_t base) noexcept {
    VIREO_TRY(check_vring(i));
    return start(i, cfg, base, opts_.enable_on_start);
  }

  /// SET_VRING_ENABLE(i, on). Needs bit 30 acked (F3, F10). Errors: vhost_not_owner,
  /// vhost_vring_index, vhost_not_negotiated, those of the request.
  [[nodiscard]] result<void> enable_vring(std::uint32_t i, bool on) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (!features_set_ || (features_ & vhost_user::f_protocol_features) == 0)
      return errc::vhost_not_negotiated;
    VIREO_TRY(send_state(vhost_user::frontend_request::set_vring_enable, i, on ? 1 : 0));
    vrings_[i].enabled = on;
    return ok();
  }

  /// GET_VRING_BASE(i): the back-end stops the ring and answers its position (F8), which is
  /// returned and kept as the ring's resume base. The reply must name ring `i` and, for a split
  /// ring, fit 16 bits. Errors: vhost_not_owner, vhost_vring_index, vhost_reply_mismatch /
  /// vhost_bad_value (a wrong answer; the connection is closed), those of the request.
  [[nodiscard]] result<std::uint32_t> stop_vring(std::uint32_t i) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    vhost_user::vring_state s{};
    s.index.set(i);
    const result<vhost_user::message> m =
        rc_.call(vhost_user::frontend_request::get_vring_base, as_bytes_of(s));
    if (!m) return m.error();
    const auto got = m->as<vhost_user::vring_state>();
    if (got.index.get() != i) return refuse_reply(errc::vhost_reply_mismatch);
    const std::uint32_t base = got.num.get();
    if (!packed() && (base >> 16) != 0) return refuse_reply(errc::vhost_bad_value);  // §2
    vrings_[i].started = false;
    vrings_[i].resume = base;
    return base;
  }

  /// The base vring `i` resumes from at the next start_vring() or reconnect(), when the caller
  /// knows it better than the front-end: after the back-end went away without a GET_VRING_BASE,
  /// quiescent_vring_base() of the driver queue. Errors: vhost_vring_index, invalid_argument (a
  /// split base above 16 bits).
  [[nodiscard]] result<void> set_resume_base(std::uint32_t i, std::uint32_t base) noexcept {
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (features_set_ && !packed() && (base >> 16) != 0) return errc::invalid_argument;
    vrings_[i].resume = base;
    return ok();
  }

  // ---- Notifications ------------------------------------------------------------------------

  /// Signal vring `i`'s kick eventfd (an available-buffer notification). Errors:
  /// vhost_vring_index, vhost_out_of_order (no eventfd yet: never started), the errno of write().
  [[nodiscard]] result<void> kick(std::uint32_t i) noexcept {
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (!vrings_[i].kick.valid()) return errc::vhost_out_of_order;
    return signal_notifier(sys_, vrings_[i].kick.get());
  }

  /// Wait up to `timeout_ms` for vring `i`'s call eventfd (a used-buffer notification) and reset
  /// it. Returns false when the time ran out. Errors: as kick(), the errno of poll()/read().
  [[nodiscard]] result<bool> wait_call(std::uint32_t i, int timeout_ms) noexcept {
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (!vrings_[i].call.valid()) return errc::vhost_out_of_order;
    const int fd = vrings_[i].call.get();
    const auto n = wait_notifiers<1>(sys_, {&fd, 1}, timeout_ms);
    if (!n) return n.error();
    return *n != 0;
  }

  /// Wait up to `timeout_ms` for the call eventfd of any started vring, and reset every one that
  /// was signalled. Returns how many were. Errors: the errno of poll()/read().
  [[nodiscard]] result<std::size_t> wait_calls(int timeout_ms) noexcept {
    std::array<int, MaxQueues> fds{};
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < opts_.num_queues; ++i)
      if (vrings_[i].started && vrings_[i].call.valid()) fds[n++] = vrings_[i].call.get();
    return wait_notifiers<MaxQueues>(sys_, {fds.data(), n}, timeout_ms);
  }

  /// Whether vring `i`'s err eventfd was signalled since the last look (and reset it).
  /// Errors: as kick().
  [[nodiscard]] result<bool> take_error(std::uint32_t i) noexcept {
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (!vrings_[i].err.valid()) return errc::vhost_out_of_order;
    return consume_notifier(sys_, vrings_[i].err.get());
  }

  // ---- Config space and status --------------------------------------------------------------

  /// GET_CONFIG of out.size() bytes at `offset` (CONFIG only, F3). The reply must echo offset,
  /// size and flags (QEMU 7.2: -EPROTO otherwise). Errors: vhost_not_owner, vhost_not_negotiated,
  /// vhost_zero_size / vhost_config_range (the range), host_request_failed (the back-end answered
  /// with the empty error reply: spec GET_CONFIG), vhost_payload_size / vhost_reply_mismatch (a
  /// reply for another range; the connection is closed), those of the request.
  [[nodiscard]] result<void> get_config(std::uint32_t offset, bytes out) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    std::array<std::byte, max_frontend_request_payload> p{};
    const auto n = config_payload(offset, vhost_user::config_flags::frontend, out.size(), {}, p);
    if (!n) return n.error();
    const result<vhost_user::message> m =
        rc_.call(vhost_user::frontend_request::get_config, const_bytes{p.data(), *n});
    if (!m) return m.error();
    if (m->type == vhost_user::payload_type::empty) return errc::host_request_failed;
    const vhost_user::config_view c = vhost_user::config_of(*m);
    if (c.head.size.get() != out.size()) return refuse_reply(errc::vhost_payload_size);
    if (c.head.offset.get() != offset || c.head.flags.get() != 0)
      return refuse_reply(errc::vhost_reply_mismatch);
    std::memcpy(out.data(), c.data.data(), out.size());
    return ok();
  }

  /// SET_CONFIG of `data` at `offset` (CONFIG only). Errors: as get_config's request checks,
  /// host_request_failed (the back-end refused, e.g. a read-only field: rule B19).
  [[nodiscard]] result<void> set_config(
      std::uint32_t offset, const_bytes data,
      vhost_user::config_flags flags = vhost_user::config_flags::frontend) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    std::array<std::byte, max_frontend_request_payload> p{};
    const auto n = config_payload(offset, flags, data.size(), data, p);
    if (!n) return n.error();
    return rc_.send(vhost_user::frontend_request::set_config, const_bytes{p.data(), *n});
  }

  /// SET_STATUS (STATUS only): the virtio device status byte. Kept for reconnect().
  [[nodiscard]] result<void> set_status(std::uint8_t status) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    VIREO_TRY(send_u64(vhost_user::frontend_request::set_status, status));
    status_ = status;
    return ok();
  }
  /// GET_STATUS (STATUS only). Errors: vhost_bad_value (above 0xFF; the connection is closed).
  [[nodiscard]] result<std::uint8_t> get_status() noexcept {
    if (!owner_) return errc::vhost_not_owner;
    const auto v = call_u64(vhost_user::frontend_request::get_status);
    if (!v) return v.error();
    if (*v > 0xFF) return refuse_reply(errc::vhost_bad_value);  // virtio §2.1: one byte
    return static_cast<std::uint8_t>(*v);
  }

  // ---- Inflight I/O tracking (INFLIGHT_SHMFD, digest §6.4) ----------------------------------

  /// GET_INFLIGHT_FD for options().num_queues rings of `queue_size` entries: the back-end
  /// allocates the shared region it records the requests it took in; the front-end keeps its fd
  /// (a duplicate), size and offset, replacing a region kept before. QEMU's order
  /// (vhost-user-blk): after SET_FEATURES and before the rings start, then SET_INFLIGHT_FD.
  /// Errors: vhost_not_owner; vhost_not_negotiated (INFLIGHT_SHMFD not acked: nothing sent);
  /// vhost_zero_size (queue_size 0); host_request_failed (the back-end answered mmap_size 0:
  /// no region, as QEMU then carries on without one); the errno of the fd duplication; those of
  /// the request (the codec checks the reply's layout and that an fd comes iff mmap_size != 0).
  [[nodiscard]] result<void> get_inflight_fd(std::uint16_t queue_size) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (queue_size == 0) return errc::vhost_zero_size;
    vhost_user::inflight req{};
    req.num_queues.set(static_cast<std::uint16_t>(opts_.num_queues));
    req.queue_size.set(queue_size);
    const result<vhost_user::message> m =
        rc_.call(vhost_user::frontend_request::get_inflight_fd, as_bytes_of(req));
    if (!m) return m.error();
    const auto got = m->as<vhost_user::inflight>();
    if (got.mmap_size.get() == 0 || m->fd_count != 1) return errc::host_request_failed;
    auto dup = duplicate(m->fds[0]);  // the received one closes with the next reply
    if (!dup) return dup.error();
    inflight_fd_ = std::move(*dup);
    inflight_ = inflight_region{inflight_fd_.get(), got.mmap_size.get(), got.mmap_offset.get(),
                                static_cast<std::uint16_t>(opts_.num_queues), queue_size};
    return ok();
  }

  /// SET_LOG_BASE: the back-end maps `size` bytes of `fd` at `offset` as its dirty log (one bit
  /// per 4 KiB guest page, spec "Migration") and answers 0 once it did. The caller keeps the fd
  /// and reads the log; VHOST_F_LOG_ALL (set_features) switches the logging on.
  /// Errors: vhost_not_owner; vhost_not_negotiated (LOG_SHMFD not acked: nothing sent);
  /// invalid_argument (a negative fd, or size 0); host_request_failed (a non-zero answer); those
  /// of the request.
  [[nodiscard]] result<void> set_log_base(int fd, std::uint64_t size,
                                          std::uint64_t offset = 0) noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (!negotiated(vhost_user::protocol_feature::log_shmfd)) return errc::vhost_not_negotiated;
    if (fd < 0 || size == 0) return errc::invalid_argument;
    vhost_user::log_description req{};
    req.mmap_size.set(size);
    req.mmap_offset.set(offset);
    const result<vhost_user::message> m =
        rc_.call(vhost_user::frontend_request::set_log_base, as_bytes_of(req), {&fd, 1});
    if (!m) return m.error();
    if (vhost_user::u64_of(*m) != 0) return errc::host_request_failed;
    return ok();
  }

  /// SET_INFLIGHT_FD with the kept region (its fd, size, offset, queue count and size): the
  /// back-end tracks in it from now on, and a restarted one resumes what it holds. reconnect()
  /// sends it by itself. Errors: vhost_not_owner; vhost_out_of_order (no region kept: call
  /// get_inflight_fd() first); vhost_not_negotiated; those of the request.
  [[nodiscard]] result<void> set_inflight_fd() noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (!inflight_) return errc::vhost_out_of_order;
    vhost_user::inflight req{};
    req.mmap_size.set(inflight_->size);
    req.mmap_offset.set(inflight_->mmap_offset);
    req.num_queues.set(inflight_->num_queues);
    req.queue_size.set(inflight_->queue_size);
    const int fd = inflight_fd_.get();
    return rc_.send(vhost_user::frontend_request::set_inflight_fd, as_bytes_of(req), {&fd, 1});
  }

  /// Forget the kept region (its fd is closed): a reconnect then sends none.
  void drop_inflight() noexcept {
    inflight_.reset();
    inflight_fd_.reset();
  }

  // ---- Connection ---------------------------------------------------------------------------

  /// Look for a back-end that went away (or spoke out of turn) without sending anything.
  /// Errors (the connection is closed): host_disconnected, vhost_reply_not_expected, host_closed.
  [[nodiscard]] result<void> check_connection() noexcept { return rc_.check_idle(); }

  /// Close the connection. The setup (features, memory table, vrings, eventfds) is kept for
  /// reconnect().
  void disconnect() noexcept { rc_.close(); }

  /// Continue on a new connection to a (restarted) back-end with the whole setup sent again
  /// (digest §6.5): negotiate(); SET_FEATURES with the features set before; SET_STATUS with the
  /// status set before (if STATUS is negotiated now); SET_INFLIGHT_FD with the kept inflight
  /// region (if INFLIGHT_SHMFD is negotiated now; QEMU skips it too otherwise), before the
  /// memory and the rings, so that the new back-end finds the requests its predecessor took;
  /// the memory table; and every vring that was started restarted from its resume base (F8: the
  /// GET_VRING_BASE answer, or set_resume_base()), enabled again if it was. The vring eventfds
  /// stay the same.
  /// Errors: vhost_out_of_order (a started vring has no resume base: its position is unknown;
  /// nothing is sent), feature_not_offered (the new back-end lacks a feature set before), those
  /// of the steps. On error the new connection is left as far as it got.
  [[nodiscard]] result<void> reconnect(basic_unique_fd<Sys> socket) noexcept {
    if (!socket.valid()) return errc::invalid_argument;
    VIREO_TRY(check_resumable());
    std::array<bool, MaxQueues> restart{}, enabled{};
    for (std::uint32_t i = 0; i < opts_.num_queues; ++i) {
      restart[i] = vrings_[i].started;
      enabled[i] = vrings_[i].enabled;
    }
    rc_ = request_channel{std::move(socket), opts_.reply_timeout_ms};
    rc_.codec().num_queues = opts_.num_queues;
    owner_ = false;
    const bool had_features = features_set_;
    features_set_ = false;
    for (vring& v : vrings_) {
      v.started = false;
      v.enabled = false;  // a new session starts with every ring disabled (bit 30) or none set up
    }
    VIREO_TRY(negotiate());
    if (had_features) {
      if ((features_ & ~offered_) != 0) return errc::feature_not_offered;
      VIREO_TRY(send_u64(vhost_user::frontend_request::set_features, features_));
      features_set_ = true;
    }
    if (status_ != 0 && negotiated(vhost_user::protocol_feature::status))
      VIREO_TRY(send_u64(vhost_user::frontend_request::set_status, status_));
    if (inflight_ && negotiated(vhost_user::protocol_feature::inflight_shmfd))
      VIREO_TRY(set_inflight_fd());
    if (region_count_ != 0) VIREO_TRY(resend_table());
    for (std::uint32_t i = 0; i < opts_.num_queues; ++i) {
      if (!restart[i]) continue;
      VIREO_TRY(start(i, vrings_[i].config, *vrings_[i].resume, enabled[i]));
    }
    return ok();
  }
  /// reconnect() to the back-end listening at `path` (connect_unix, with its retries).
  /// Nothing is connected when a vring's resume base is missing (vhost_out_of_order).
  [[nodiscard]] result<void> reconnect(std::string_view path, connect_options how = {}) noexcept {
    VIREO_TRY(check_resumable());
    auto sock = connect_unix<Sys>(path, how, sys_);
    if (!sock) return sock.error();
    return reconnect(std::move(*sock));
  }

 private:
  using request_channel = basic_request_channel<Sys>;

  struct vring {
    ring::queue_config config{};          ///< as the driver configured it (guest addresses)
    bool started = false;                 ///< KICK went out on this connection (or the last one)
    bool enabled = false;
    std::optional<std::uint32_t> resume;  ///< the base to start from next
    basic_unique_fd<Sys> kick, call, err;
  };

  basic_frontend(basic_unique_fd<Sys> socket, const frontend_options& opts, Sys sys) noexcept
      : sys_(sys), opts_(opts), rc_(std::move(socket), opts.reply_timeout_ms) {
    rc_.codec().num_queues = opts_.num_queues;
  }

  /// Every started vring knows the base to resume from (reconnect()).
  [[nodiscard]] result<void> check_resumable() const noexcept {
    for (std::uint32_t i = 0; i < opts_.num_queues; ++i)
      if (vrings_[i].started && !vrings_[i].resume) return errc::vhost_out_of_order;
    return ok();
  }

  [[nodiscard]] static result<void> check_options(const frontend_options& o) noexcept {
    if (o.num_queues == 0 || o.num_queues > MaxQueues || o.reply_timeout_ms <= 0)
      return errc::invalid_argument;
    return ok();
  }

  [[nodiscard]] int fd_of(std::uint32_t i, basic_unique_fd<Sys> vring::*which) const noexcept {
    return i < MaxQueues ? (vrings_[i].*which).get() : -1;
  }
  [[nodiscard]] bool packed() const noexcept {
    return features_set_ &&
           ((features_ >> static_cast<unsigned>(transport_feature::ring_packed)) & 1u) != 0;
  }
  [[nodiscard]] bool any_started() const noexcept {
    for (const vring& v : vrings_)
      if (v.started) return true;
    return false;
  }

  /// Close the connection over a reply the codec accepted but that answers something else (F5).
  [[nodiscard]] errc refuse_reply(errc e) noexcept {
    rc_.close();
    return e;
  }

  [[nodiscard]] result<std::uint64_t> call_u64(vhost_user::frontend_request r) noexcept {
    const result<vhost_user::message> m = rc_.call(r);
    if (!m) return m.error();
    return vhost_user::u64_of(*m);
  }
  [[nodiscard]] result<void> send_u64(vhost_user::frontend_request r, std::uint64_t v) noexcept {
    vhost_user::u64_payload p{};
    p.value.set(v);
    return rc_.send(r, as_bytes_of(p));
  }
  [[nodiscard]] result<void> send_state(vhost_user::frontend_request r, std::uint32_t i,
                                        std::uint32_t num) noexcept {
    vhost_user::vring_state s{};
    s.index.set(i);
    s.num.set(num);
    return rc_.send(r, as_bytes_of(s));
  }
  /// SET_VRING_KICK / CALL / ERR with the eventfd attached (never the no-fd bit: F7).
  [[nodiscard]] result<void> send_vring_fd(vhost_user::frontend_request r, std::uint32_t i,
                                           int fd) noexcept {
    vhost_user::u64_payload p{};
    p.value.set(i);  // i < 256: bits 9-63 clear, no-fd bit clear
    return rc_.send(r, as_bytes_of(p), {&fd, 1});
  }

  /// GET_FEATURES, then the protocol features when bit 30 is offered (F1).
  [[nodiscard]] result<void> negotiate_features() noexcept {
    rc_.codec().protocol_features = 0;
    offered_protocol_ = 0;
    queue_num_.reset();
    max_slots_.reset();
    const auto f = call_u64(vhost_user::frontend_request::get_features);
    if (!f) return f.error();
    offered_ = *f;
    if ((offered_ & vhost_user::f_protocol_features) == 0) return ok();
    const auto p = call_u64(vhost_user::frontend_request::get_protocol_features);
    if (!p) return p.error();
    offered_protocol_ = *p;
    const std::uint64_t ack = offered_protocol_ & opts_.protocol_features &
                              frontend_protocol_features;
    // No NEED_REPLY yet: REPLY_ACK is not negotiated before this message is (QEMU alike).
    VIREO_TRY(send_u64(vhost_user::frontend_request::set_protocol_features, ack));
    rc_.codec().protocol_features = ack;
    return ok();
  }

  // ---- memory helpers ---------------------------------------------------------------------

  [[nodiscard]] static bool same_region(const shared_ram_region& a,
                                        const shared_ram_region& b) noexcept {
    return a.guest_addr == b.guest_addr && a.size == b.size && a.user_addr == b.user_addr;
  }
  [[nodiscard]] static bool contains(std::span<const shared_ram_region> table,
                                     const shared_ram_region& r) noexcept {
    for (const shared_ram_region& t : table)
      if (same_region(t, r) && t.mmap_offset == r.mmap_offset) return true;
    return false;
  }
  [[nodiscard]] static bool overlap(const shared_ram_region& a,
                                    const shared_ram_region& b) noexcept {
    // Sizes are non-zero and the ranges do not wrap (check_region): the last bytes exist.
    const bool guest = a.guest_addr <= b.guest_addr + (b.size - 1) &&
                       b.guest_addr <= a.guest_addr + (a.size - 1);
    const bool user = a.user_addr <= b.user_addr + (b.size - 1) &&
                      b.user_addr <= a.user_addr + (a.size - 1);
    return guest || user;
  }
  /// The codec's region rules (digest §10.20), checked before anything is sent.
  [[nodiscard]] static result<void> check_region(const shared_ram_region& r) noexcept {
    if (r.fd < 0) return errc::invalid_argument;
    if (r.size == 0) return errc::vhost_zero_size;
    if (r.size - 1 > UINT64_MAX - r.guest_addr || r.size - 1 > UINT64_MAX - r.user_addr ||
        r.size - 1 > UINT64_MAX - r.mmap_offset)
      return errc::vhost_range_overflow;
    return ok();
  }

  /// A new whole table: every region valid, no two overlapping, within the limits (F9), and every
  /// started vring still at the same user addresses (the back-end refuses to move a running ring).
  [[nodiscard]] result<void> check_table(std::span<const shared_ram_region> t) const noexcept {
    const bool slots = negotiated(vhost_user::protocol_feature::configure_mem_slots);
    if (t.size() > MaxRegions || (!slots && t.size() > vhost_user::max_memory_regions) ||
        (slots && max_slots_ && t.size() > *max_slots_))
      return errc::vhost_region_count;
    for (std::size_t i = 0; i < t.size(); ++i) {
      VIREO_TRY(check_region(t[i]));
      for (std::size_t j = 0; j < i; ++j)
        if (overlap(t[i], t[j])) return errc::region_overlap;
    }
    for (std::uint32_t i = 0; i < opts_.num_queues; ++i) {
      if (!vrings_[i].started) continue;
      ring_areas now{}, then{};
      VIREO_TRY(translate(vrings_[i].config, mem_table(), now));
      const auto moved = translate(vrings_[i].config, t, then);
      if (!moved || then.desc != now.desc || then.driver != now.driver ||
          then.device != now.device)
        return errc::ring_not_mapped;
    }
    return ok();
  }

  [[nodiscard]] result<basic_unique_fd<Sys>> duplicate(int fd) noexcept {
    const int d = sys_.fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) return errc_from_errno(-d);
    return basic_unique_fd<Sys>{d, sys_};
  }

  [[nodiscard]] static vhost_user::memory_region wire_region(const shared_ram_region& r) noexcept {
    vhost_user::memory_region w{};
    w.guest_phys_addr.set(r.guest_addr);
    w.memory_size.set(r.size);
    w.userspace_addr.set(r.user_addr);
    w.mmap_offset.set(r.mmap_offset);
    return w;
  }
  [[nodiscard]] static vhost_user::single_memory_region single_region(
      const shared_ram_region& r) noexcept {
    vhost_user::single_memory_region s{};
    s.region = wire_region(r);
    return s;
  }

  /// SET_MEM_TABLE with `t` (at most 8 regions: check_table), then keep duplicates of its fds.
  [[nodiscard]] result<void> send_whole_table(std::span<const shared_ram_region> t) noexcept {
    std::array<basic_unique_fd<Sys>, MaxRegions> dups{};
    std::array<int, vhost_user::max_memory_regions> fds{};
    std::array<std::byte, sizeof(vhost_user::memory_table_header) +
                              vhost_user::max_memory_regions * sizeof(vhost_user::memory_region)>
        p{};
    vhost_user::memory_table_header h{};
    h.nregions.set(static_cast<std::uint32_t>(t.size()));
    std::memcpy(p.data(), &h, sizeof h);
    for (std::size_t i = 0; i < t.size(); ++i) {
      auto d = duplicate(t[i].fd);
      if (!d) return d.error();
      dups[i] = std::move(*d);
      fds[i] = t[i].fd;
      const vhost_user::memory_region w = wire_region(t[i]);
      std::memcpy(p.data() + sizeof h + i * sizeof w, &w, sizeof w);
    }
    const std::size_t size = sizeof h + t.size() * sizeof(vhost_user::memory_region);
    VIREO_TRY(rc_.send(vhost_user::frontend_request::set_mem_table, const_bytes{p.data(), size},
                       std::span<const int>{fds.data(), t.size()}));
    for (std::size_t i = 0; i < MaxRegions; ++i) {
      region_fds_[i] = std::move(dups[i]);  // the old duplicates close here
      if (i < t.size()) {
        regions_[i] = t[i];
        regions_[i].fd = region_fds_[i].get();
      }
    }
    region_count_ = t.size();
    return ok();
  }

  [[nodiscard]] result<void> remove_region_at(std::size_t i) noexcept {
    // Refuse to pull memory from under a started ring (the back-end refuses too).
    for (std::uint32_t q = 0; q < opts_.num_queues; ++q) {
      if (!vrings_[q].started) continue;
      ring_areas a{};
      VIREO_TRY(translate(vrings_[q].config, mem_table(), a));
      if (a.region[0] == i || a.region[1] == i || a.region[2] == i) return errc::ring_not_mapped;
    }
    shared_ram_region r = regions_[i];
    r.mmap_offset = 0;  // "mmap_offset ... ignored" for REM_MEM_REG; QEMU sends 0
    const vhost_user::single_memory_region p = single_region(r);
    VIREO_TRY(rc_.send(vhost_user::frontend_request::rem_mem_reg, as_bytes_of(p)));
    for (std::size_t j = i; j + 1 < region_count_; ++j) {
      regions_[j] = regions_[j + 1];
      region_fds_[j] = std::move(region_fds_[j + 1]);
    }
    --region_count_;
    region_fds_[region_count_].reset();
    return ok();
  }

  /// The table again, on a new connection: as SET_MEM_TABLE or region by region.
  [[nodiscard]] result<void> resend_table() noexcept {
    std::array<shared_ram_region, MaxRegions> t{};
    std::array<basic_unique_fd<Sys>, MaxRegions> keep{};
    const std::size_t n = region_count_;
    const std::span<const shared_ram_region> table{t.data(), n};
    for (std::size_t i = 0; i < n; ++i) t[i] = regions_[i];
    VIREO_TRY(check_table(table));  // the limits of the new back-end
    for (std::size_t i = 0; i < n; ++i) keep[i] = std::move(region_fds_[i]);  // alive while sent
    region_count_ = 0;
    if (!negotiated(vhost_user::protocol_feature::configure_mem_slots))
      return send_whole_table(table);
    for (const shared_ram_region& r : table) VIREO_TRY(add_mem_region(r));
    return ok();
  }

  // ---- vring helpers ----------------------------------------------------------------------

  struct ring_areas {
    std::uint64_t desc = 0, driver = 0, device = 0;  ///< user addresses
    std::array<std::size_t, 3> region{};             ///< table index of each
  };

  /// The user address of [g, g + len) when it lies in one region of `t`.
  [[nodiscard]] static result<std::uint64_t> to_user(std::span<const shared_ram_region> t, gpa g,
                                                     std::uint64_t len,
                                                     std::size_t& which) noexcept {
    for (std::size_t i = 0; i < t.size(); ++i) {
      const shared_ram_region& r = t[i];
      if (g.raw() >= r.guest_addr && range_fits(g.raw() - r.guest_addr, len, r.size)) {
        which = i;
        return r.user_addr + (g.raw() - r.guest_addr);
      }
    }
    return errc::ring_not_mapped;
  }

  /// The three areas of `c` in user addresses: each must lie inside one region (§2.7, §2.8.10
  /// sizes; the back-end checks the same, rule B16).
  [[nodiscard]] static result<void> translate(const ring::queue_config& c,
                                              std::span<const shared_ram_region> t,
                                              ring_areas& out) noexcept {
    const bool pk = c.features.has(transport_feature::ring_packed);
    const std::uint32_t n = c.size;
    namespace sl = ring::split_layout;
    const std::uint64_t drv = pk ? ring::packed_layout::event_bytes : sl::avail_bytes(n);
    const std::uint64_t dev = pk ? ring::packed_layout::event_bytes : sl::used_bytes(n);
    // Both layouts: 16 bytes per descriptor (§2.7.5, §2.8.13).
    auto d = to_user(t, c.desc_table, sl::desc_table_bytes(n), out.region[0]);
    if (!d) return d.error();
    auto a = to_user(t, c.driver_area, drv, out.region[1]);
    if (!a) return a.error();
    auto u = to_user(t, c.device_area, dev, out.region[2]);
    if (!u) return u.error();
    out.desc = *d;
    out.driver = *a;
    out.device = *u;
    return ok();
  }

  [[nodiscard]] result<void> check_vring(std::uint32_t i) const noexcept {
    if (!owner_) return errc::vhost_not_owner;
    if (i >= opts_.num_queues) return errc::vhost_vring_index;
    if (!features_set_ || region_count_ == 0) return errc::vhost_out_of_order;  // F6
    if (vrings_[i].started) return errc::vhost_out_of_order;
    return ok();
  }

  /// The per-ring start sequence (digest §7.2 step 5), KICK last, then ENABLE (§7.2 step 7).
  [[nodiscard]] result<void> start(std::uint32_t i, const ring::queue_config& cfg,
                                   std::uint32_t base, bool enable) noexcept {
    const bool pk = packed();
    if (cfg.features.has(transport_feature::ring_packed) != pk) return errc::invalid_argument;
    if (pk ? !ring::packed_layout::valid_size(cfg.size) : !ring::split_layout::valid_size(cfg.size))
      return errc::bad_queue_size;
    if (!pk && (base >> 16) != 0) return errc::invalid_argument;
    ring_areas a{};
    VIREO_TRY(translate(cfg, mem_table(), a));
    vring& v = vrings_[i];
    for (basic_unique_fd<Sys>* fd : {&v.kick, &v.call, &v.err}) {
      if (fd->valid()) continue;
      auto made = make_notifier(sys_);
      if (!made) return made.error();
      *fd = std::move(*made);
    }
    using fr = vhost_user::frontend_request;
    VIREO_TRY(send_state(fr::set_vring_num, i, cfg.size));
    VIREO_TRY(send_state(fr::set_vring_base, i, base));
    vhost_user::vring_addr addr{};
    addr.index.set(i);
    addr.desc_user_addr.set(a.desc);
    addr.used_user_addr.set(a.device);
    addr.avail_user_addr.set(a.driver);
    if (opts_.log_vrings) {
      addr.flags.set(vhost_user::vring_addr_flag::log);
      addr.log_guest_addr.set(cfg.device_area.raw());
    }
    VIREO_TRY(rc_.send(fr::set_vring_addr, as_bytes_of(addr)));  // the codec checks alignment
    VIREO_TRY(send_vring_fd(fr::set_vring_call, i, v.call.get()));
    VIREO_TRY(send_vring_fd(fr::set_vring_err, i, v.err.get()));
    VIREO_TRY(send_vring_fd(fr::set_vring_kick, i, v.kick.get()));
    v.config = cfg;
    v.started = true;
    v.resume.reset();  // the back-end moves it from here on
    // Without bit 30 the back-end enables every ring itself (spec "Ring states"); with it, a
    // ring keeps its enabled state across a stop and a start on one connection.
    const bool bit30 = (features_ & vhost_user::f_protocol_features) != 0;
    if (!bit30) v.enabled = true;
    if (bit30 && enable) VIREO_TRY(enable_vring(i, true));
    return ok();
  }

  // ---- config helpers ---------------------------------------------------------------------

  /// config_header{offset, size, flags} + `data` (or zeros) into `out`. Returns the size.
  [[nodiscard]] static result<std::size_t> config_payload(
      std::uint32_t offset, vhost_user::config_flags flags, std::size_t size, const_bytes data,
      std::array<std::byte, max_frontend_request_payload>& out) noexcept {
    if (size == 0) return errc::vhost_zero_size;
    if (size > vhost_user::max_config_size || offset > vhost_user::max_config_size - size)
      return errc::vhost_config_range;
    vhost_user::config_header h{};
    h.offset.set(offset);
    h.size.set(static_cast<std::uint32_t>(size));
    h.flags.set(static_cast<std::uint32_t>(flags));
    std::memcpy(out.data(), &h, sizeof h);
    if (!data.empty()) std::memcpy(out.data() + sizeof h, data.data(), size);
    return sizeof h + size;
  }

  [[no_unique_address]] Sys sys_{};
  frontend_options opts_{};
  request_channel rc_;
  // Per connection (negotiate() fills them in).
  bool owner_ = false;
  std::uint64_t offered_ = 0;
  std::uint64_t offered_protocol_ = 0;
  std::optional<std::uint64_t> queue_num_;
  std::optional<std::uint64_t> max_slots_;
  // The setup, kept across reconnects.
  bool features_set_ = false;
  std::uint64_t features_ = 0;
  std::uint8_t status_ = 0;
  std::array<shared_ram_region, MaxRegions> regions_{};
  std::array<basic_unique_fd<Sys>, MaxRegions> region_fds_{};
  std::size_t region_count_ = 0;
  std::array<vring, MaxQueues> vrings_{};
  std::optional<inflight_region> inflight_;
  basic_unique_fd<Sys> inflight_fd_;
};

/// The front-end over the real system calls.
template <std::size_t MaxQueues = 8, std::size_t MaxRegions = 8>
using frontend = basic_frontend<real_frontend_sys, MaxQueues, MaxRegions>;

}  // namespace linux_host
VIREO_NAMESPACE_END
