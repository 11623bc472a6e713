// SPDX-License-Identifier: Apache-2.0
// The device side of one vhost-user connection as an I/O-agnostic state machine: handle() takes
// one decoded request (with the fds decode() attached to it) and returns the reply bytes to send
// (if any) and the actions the runner must carry out (close an fd, serve or stop a vring, ...).
// It never reads or writes a socket and never closes an fd itself. It also keeps the inflight
// region (INFLIGHT_SHMFD), the back-end request channel (BACKEND_REQ) and the dirty log
// (LOG_ALL, LOG_SHMFD). Digest §3-§6, rules B7-B16, B18-B20, B22. No heap, no OS headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/device.hpp"
#include "vireo/vhost_user/backend/dirty_log.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/memory_map.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/reply.hpp"
#include "vireo/vhost_user/requests.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// What the runner must do after a message (in list order).
enum class action_kind : std::uint8_t {
  close_fd,           ///< close `fd`: the session no longer holds it
  start_vring,        ///< vring `index` started: watch its kick fd (vring(index).kick_fd)
  stop_vring,         ///< vring `index` stopped: stop watching its kick fd
  enable_vring,       ///< vring `index` enabled (SET_VRING_ENABLE 1, or SET_FEATURES w/o bit 30)
  disable_vring,      ///< vring `index` disabled
  vring_fds_changed,  ///< a kick/call/err fd of started vring `index` was replaced
  memory_changed,     ///< the region table changed (the device was told through memory_changed)
};

struct action {
  action_kind kind = action_kind::close_fd;
  std::uint32_t index = 0;  ///< vring index (vring actions)
  int fd = no_fd;           ///< close_fd only
  friend constexpr bool operator==(const action&, const action&) noexcept = default;
};

/// Largest reply the session sends: a GET_CONFIG reply with 256 bytes of config.
inline constexpr std::size_t max_reply_size = header_size + sizeof(config_header) + max_config_size;

/// The protocol features this session implements and always offers (CONFIG only if the device
/// has a config space).
inline constexpr std::uint64_t session_protocol_features =
    bit(protocol_feature::mq) | bit(protocol_feature::reply_ack) | bit(protocol_feature::config) |
    bit(protocol_feature::backend_req) | bit(protocol_feature::configure_mem_slots) |
    bit(protocol_feature::status);
/// Offered only when the device model supports them: LOG_SHMFD with VHOST_F_LOG_ALL
/// (logging_device), INFLIGHT_SHMFD (inflight_device and an inflight_allocator). Never offered:
/// RARP, NET_MTU, CROSS_ENDIAN, CRYPTO_SESSION, PAGEFAULT, BACKEND_SEND_FD, HOST_NOTIFIER,
/// RESET_DEVICE, INBAND_NOTIFICATIONS and everything from XEN_MMAP on.
inline constexpr std::uint64_t optional_protocol_features =
    bit(protocol_feature::log_shmfd) | bit(protocol_feature::inflight_shmfd);

/// One back-end → front-end request, encoded (header + payload), for the runner to send on
/// session::backend_fd() (with no fd). When `awaits_reply` is set the front-end answers with a
/// u64 on that socket: hand it to session::backend_reply().
struct backend_message {
  std::array<std::byte, header_size + 64> buffer{};  ///< every back-end payload is <= 40 bytes
  std::size_t size = 0;
  bool awaits_reply = false;
  [[nodiscard]] const_bytes bytes() const noexcept { return {buffer.data(), size}; }
};

/// The inflight region the session holds (GET_INFLIGHT_FD allocated it, or SET_INFLIGHT_FD
/// mapped the front-end's). `host` is null when there is none.
struct inflight_info {
  std::byte* host = nullptr;
  std::uint64_t size = 0;          ///< mmap_size
  std::uint64_t mmap_offset = 0;   ///< SET_INFLIGHT_FD: where `host` starts in the fd
  std::uint16_t num_queues = 0;
  std::uint16_t queue_size = 0;
  bool allocated = false;          ///< from the allocator (else mapped through the mapper)
  int fd = no_fd;                  ///< allocated: the region's fd (the allocator closes it)
};

/// The result of one handle() or disconnect().
template <std::size_t MaxActions>
class outcome {
 public:
  /// The request's own result (ok, or why it failed). A failure the reply reports (REPLY_ACK
  /// non-zero, GET_CONFIG size 0) still shows here.
  result<void> status = ok();
  /// The failure could not be reported to the front-end (no reply was asked for, or an inherent
  /// reply could not be produced): the runner should close the connection (spec: "the back-end
  /// may close the connection"), since the front-end would carry on as if it had succeeded.
  bool close_connection = false;

  /// The bytes to send (header + payload), empty when no reply is due (rule B8).
  [[nodiscard]] const_bytes reply() const noexcept { return {reply_.data(), reply_size_}; }
  /// The fds to send with the reply (SCM_RIGHTS): the GET_INFLIGHT_FD region. The session keeps
  /// owning them (the runner sends, never closes them).
  [[nodiscard]] std::span<const int> reply_fds() const noexcept {
    return {reply_fds_.data(), reply_fd_count_};
  }
  [[nodiscard]] std::span<const action> actions() const noexcept {
    return {actions_.data(), action_count_};
  }

  void push(action a) noexcept {
    VIREO_ASSERT(action_count_ < MaxActions);
    if (action_count_ < MaxActions) actions_[action_count_++] = a;
  }
  [[nodiscard]] bytes reply_buffer() noexcept { return reply_; }
  void set_reply_size(std::size_t n) noexcept { reply_size_ = n; }
  void add_reply_fd(int fd) noexcept {
    VIREO_ASSERT(reply_fd_count_ < reply_fds_.size());
    if (reply_fd_count_ < reply_fds_.size()) reply_fds_[reply_fd_count_++] = fd;
  }

 private:
  std::array<std::byte, max_reply_size> reply_{};
  std::size_t reply_size_ = 0;
  std::array<int, 1> reply_fds_{no_fd};
  std::size_t reply_fd_count_ = 0;
  std::array<action, MaxActions> actions_{};
  std::size_t action_count_ = 0;
};

/// One back-end connection. `Device` models device_model, `Mapper` region_mapper, `Allocator`
/// inflight_allocator; all are referenced, not owned. MaxQueues bounds the device's
/// num_queues(); MaxSlots is the region slot limit (GET_MAX_MEM_SLOTS).
///
/// fd ownership: handle() takes every fd of `m.message_fds()`. Each is either kept (the vring
/// kick/call/err fds, visible in vring(i); the back-end channel, backend_fd()) or reported in a
/// close_fd action of that same outcome (memory, log and inflight fds right after mapping,
/// replaced fds, fds of refused or unsupported requests). Fds decode() did not attach (past
/// `fd_count`) stay the caller's, as do all fds when decode() failed. A kept fd is reported for
/// closing when it is replaced, when its vring stops (kick), on RESET_OWNER and on disconnect().
/// The fd of an allocated inflight region (outcome::reply_fds()) is the allocator's: it closes
/// it in release(). Call disconnect() before destroying a session.
template <device_model Device, region_mapper Mapper, std::size_t MaxQueues = 8,
          std::size_t MaxSlots = 32, inflight_allocator Allocator = no_inflight_allocator>
class session {
  static_assert(MaxQueues >= 1 && MaxQueues <= 256, "vring indices of KICK/CALL/ERR are 8 bits");
  static_assert(MaxSlots >= max_memory_regions, "SET_MEM_TABLE may carry 8 regions");

 public:
  /// Message fds (8) + per vring: stop, disable, three closes; + memory_changed; + the back-end
  /// channel.
  static constexpr std::size_t max_actions = max_fds_per_message + 5 * MaxQueues + 2;
  using outcome_type = outcome<max_actions>;
  static constexpr std::size_t max_slots = MaxSlots;
  /// The guest memory a logging device reads and writes (logged_guest_memory()).
  using logged_memory_type = logged_memory<region_table<MaxSlots>>;

  /// Precondition: 1 <= device.num_queues() <= MaxQueues. No inflight allocator:
  /// INFLIGHT_SHMFD is not offered.
  session(Device& device, Mapper& mapper) noexcept : dev_(&device), mapper_(&mapper) {
    VIREO_ASSERT(device.num_queues() >= 1 && device.num_queues() <= MaxQueues);
    opts_.num_queues = device.num_queues();
    opts_.max_queue_size = device.max_queue_size();
  }
  /// With an allocator for GET_INFLIGHT_FD (INFLIGHT_SHMFD is offered to an inflight_device).
  session(Device& device, Mapper& mapper, Allocator& allocator) noexcept
      : session(device, mapper) {
    alloc_ = &allocator;
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// The codec options to decode this connection's next request with (negotiated protocol
  /// features, queue count, queue size limit).
  [[nodiscard]] const codec_options& codec() const noexcept { return opts_; }

  [[nodiscard]] bool owned() const noexcept { return owner_; }
  [[nodiscard]] bool features_set() const noexcept { return features_set_; }
  [[nodiscard]] std::uint64_t features() const noexcept { return features_; }
  [[nodiscard]] std::uint64_t protocol_features() const noexcept { return protocol_; }
  [[nodiscard]] std::uint8_t status() const noexcept { return status_; }
  [[nodiscard]] const vring_state& vring(std::uint32_t i) const noexcept {
    VIREO_ASSERT(i < MaxQueues);
    return vrings_[i];
  }
  /// Guest memory for the device's queues (stable address for the session's lifetime).
  [[nodiscard]] region_table<MaxSlots>& memory() noexcept { return map_.table(); }
  [[nodiscard]] const guest_map<MaxSlots>& regions() const noexcept { return map_; }
  /// The same memory with every write marked in the dirty log while logging is on (a
  /// logging_device binds its queues to this; stable address).
  [[nodiscard]] logged_memory_type& logged_guest_memory() noexcept { return logged_; }
  /// The dirty log (SET_LOG_BASE mapping, LOG_ALL switch), for logged_queue.
  [[nodiscard]] dirty_log& log() noexcept { return log_; }
  [[nodiscard]] const dirty_log& log() const noexcept { return log_; }

  /// The inflight region, if GET_INFLIGHT_FD or SET_INFLIGHT_FD set one.
  [[nodiscard]] const inflight_info& inflight() const noexcept { return inflight_; }
  /// Vring i's part of the inflight region (empty: none, or i is beyond its queues).
  [[nodiscard]] inflight_area inflight_area_of(std::uint32_t i) const noexcept {
    if (inflight_.host == nullptr || i >= inflight_.num_queues) return {};
    // The layout follows the negotiated ring format (split or packed region, spec "Inflight I/O
    // tracking"); a region sized for the other one may be too small: then none.
    const std::uint64_t stride = inflight_queue_bytes(packed(), inflight_.queue_size);
    if (stride * (i + 1) > inflight_.size) return {};
    return {std::span<std::byte>{inflight_.host + stride * i, static_cast<std::size_t>(stride)},
            inflight_.queue_size};
  }

  /// The back-end request channel (SET_BACKEND_REQ_FD), no_fd until the front-end sends it.
  [[nodiscard]] int backend_fd() const noexcept { return backend_fd_; }
  /// A request sent with NEED_REPLY whose answer backend_reply() has not seen yet.
  [[nodiscard]] bool backend_reply_pending() const noexcept { return awaited_ != 0; }

  /// GET_FEATURES value: the device's bits, VHOST_USER_F_PROTOCOL_FEATURES, and VHOST_F_LOG_ALL
  /// for a logging_device.
  [[nodiscard]] std::uint64_t offered_features() const noexcept {
    return dev_->device_features() | f_protocol_features | (logs() ? f_log_all : 0);
  }
  /// GET_PROTOCOL_FEATURES value.
  [[nodiscard]] std::uint64_t offered_protocol_features() const noexcept {
    std::uint64_t f = session_protocol_features;
    if (dev_->config_size() == 0) f &= ~bit(protocol_feature::config);
    if (logs()) f |= bit(protocol_feature::log_shmfd);
    if constexpr (inflight_device<Device>)
      if (alloc_ != nullptr) f |= bit(protocol_feature::inflight_shmfd);
    return f;
  }

  /// Handle one request decoded with codec(). See the class comment for the fd contract.
  [[nodiscard]] outcome_type handle(const message& m) noexcept {
    outcome_type out;
    kept_ = {};
    result<void> r = ok();
    if (m.is_reply || m.ch != channel::main) r = errc::invalid_argument;
    else r = dispatch(m, out);
    if (r) r = start_ready(out);  // a request may complete a vring's setup
    for (std::size_t i = 0; i < m.fd_count; ++i)
      if (!kept_[i]) out.push({action_kind::close_fd, 0, m.fds[i]});
    out.status = r;
    if (m.is_reply || m.ch != channel::main) {
      out.close_connection = true;
      return out;
    }
    if (out.reply().empty() && reply_expected(m, opts_)) {
      const reply_rule rule = info(m.ch, m.request()).reply;
      if (rule == reply_rule::ack_only) {
        const auto n = encode_ack(m, r.has_value(), out.reply_buffer(), opts_);
        if (n) out.set_reply_size(*n);
        else out.close_connection = true;
      } else if (m.request() == code(frontend_request::get_config)) {
        const auto n = encode_config_error_reply(m, out.reply_buffer(), opts_);  // rule B18
        if (n) out.set_reply_size(*n);
        else out.close_connection = true;
      } else if (rule == reply_rule::if_log_shmfd) {
        // SET_LOG_BASE with LOG_SHMFD: its inherent reply is a u64 status.
        const auto n = encode_u64_reply(m, r.has_value() ? 0 : 1, out.reply_buffer(), 0, opts_);
        if (n) out.set_reply_size(*n);
        else out.close_connection = true;
      } else if (m.request() == code(frontend_request::get_inflight_fd)) {
        // mmap_size 0 and no fd: QEMU then carries on without a region (libvhost-user answers
        // a failure so too).
        const auto n = encode_inflight_failure(m, out);
        if (n) out.set_reply_size(*n);
        else out.close_connection = true;
      } else {
        out.close_connection = true;  // an inherent reply we cannot give
      }
    } else if (!r && out.reply().empty()) {
      out.close_connection = true;
    }
    return out;
  }

  /// The connection is gone (rule B20): stop every started vring, report every held fd for
  /// closing, unmap all memory and return to the initial state.
  [[nodiscard]] outcome_type disconnect() noexcept {
    outcome_type out;
    reset(out);
    return out;
  }

  // ---- the back-end request channel (BACKEND_REQ) ----------------------------------------------

  /// Encode back-end request `r` with `payload` (and `fd_count` fds the runner attaches) for
  /// backend_fd(). NEED_REPLY is set when REPLY_ACK is negotiated (or `r` has an inherent
  /// reply); the message then awaits_reply and no other request may be encoded until
  /// backend_reply() saw the answer (one request in flight keeps the channel in step).
  /// Errors: vhost_no_backend_channel (BACKEND_REQ not negotiated or SET_BACKEND_REQ_FD not
  /// received), vhost_not_negotiated (`r`'s gate, e.g. CONFIG for CONFIG_CHANGE_MSG),
  /// vhost_out_of_order (the device is suspended: every vring is stopped, and the spec forbids
  /// back-end messages then; or a reply is still awaited), and the encoder's checks.
  [[nodiscard]] result<backend_message> encode_backend_request(backend_request r,
                                                               const_bytes payload = {},
                                                               std::size_t fd_count = 0) noexcept {
    if (!negotiated(protocol_feature::backend_req) || backend_fd_ == no_fd)
      return errc::vhost_no_backend_channel;
    const request_info& ri = info(r);
    if (ri.gate && !negotiated(*ri.gate)) return errc::vhost_not_negotiated;
    if (!any_started() || awaited_ != 0) return errc::vhost_out_of_order;
    backend_message msg;
    msg.awaits_reply = ri.reply == reply_rule::always || negotiated(protocol_feature::reply_ack);
    const auto n = encode_request(channel::backend, static_cast<std::uint32_t>(r), payload,
                                  fd_count, msg.buffer, msg.awaits_reply, opts_);
    if (!n) return n.error();
    msg.size = *n;
    if (msg.awaits_reply) awaited_ = static_cast<std::uint32_t>(r);
    return msg;
  }

  /// The device's configuration space changed: the BACKEND_CONFIG_CHANGE_MSG to send, which makes
  /// the front-end raise the guest's config interrupt. Errors: as encode_backend_request
  /// (vhost_not_negotiated without CONFIG; vhost_out_of_order while suspended: send it once a
  /// vring has started).
  [[nodiscard]] result<backend_message> config_changed() noexcept {
    return encode_backend_request(backend_request::config_change_msg);
  }

  /// The front-end's reply to the request that awaits one: `frame` is the whole reply, `fds`
  /// what came with it (the caller closes any fd; a back-end request this session sends gets
  /// none back). Errors: vhost_reply_not_expected (nothing awaited), decode_reply's errors
  /// (wrong flags, code or size: the runner should close the channel), and
  /// vhost_backend_request_failed for a non-zero status. Either way the request is answered.
  [[nodiscard]] result<void> backend_reply(const_bytes frame, std::span<const int> fds) noexcept {
    if (awaited_ == 0) return errc::vhost_reply_not_expected;
    const std::uint32_t awaited = awaited_;
    awaited_ = 0;
    const auto m = decode_reply(frame, fds, channel::backend, awaited, opts_);
    if (!m) return m.error();
    if (u64_of(*m) != 0) return errc::vhost_backend_request_failed;
    return ok();
  }

 private:
  static constexpr std::uint32_t code(frontend_request r) noexcept {
    return static_cast<std::uint32_t>(r);
  }
  [[nodiscard]] bool packed() const noexcept {
    return ((features_ >> static_cast<unsigned>(transport_feature::ring_packed)) & 1u) != 0;
  }
  [[nodiscard]] bool negotiated(protocol_feature f) const noexcept { return has(protocol_, f); }
  [[nodiscard]] std::uint32_t queues() const noexcept { return opts_.num_queues; }
  /// The device logs its guest writes (logging_device), so LOG_ALL and LOG_SHMFD are offered.
  [[nodiscard]] bool logs() const noexcept {
    if constexpr (logging_device<Device>) return dev_->logs_dirty_pages();
    else return false;
  }

  result<void> reply_u64(const message& m, std::uint64_t v, outcome_type& out) noexcept {
    const auto n = encode_u64_reply(m, v, out.reply_buffer(), 0, opts_);
    if (!n) return n.error();
    out.set_reply_size(*n);
    return ok();
  }

  result<void> dispatch(const message& m, outcome_type& out) noexcept {
    using fr = frontend_request;
    const auto req = static_cast<fr>(m.request());
    // Negotiation works before SET_OWNER (rule B7); QEMU also asks GET_QUEUE_NUM and
    // GET_MAX_MEM_SLOTS before it (digest §7.1 steps 4-5).
    switch (req) {
      case fr::get_features: return reply_u64(m, offered_features(), out);
      case fr::set_features: return set_features(u64_of(m), out);
      case fr::get_protocol_features: return reply_u64(m, offered_protocol_features(), out);
      case fr::set_protocol_features: {
        const std::uint64_t v = u64_of(m);
        if ((v & ~offered_protocol_features()) != 0) return errc::feature_not_offered;
        VIREO_TRY(check_protocol_dependencies(v));
        protocol_ = v;
        opts_.protocol_features = v;
        return ok();
      }
      case fr::set_owner: owner_ = true; return ok();
      case fr::reset_owner: reset(out); return ok();
      // QEMU sends it right after the protocol features, before SET_OWNER (digest §7.1 step 6).
      case fr::set_backend_req_fd: return set_backend_req_fd(m, out);
      case fr::get_queue_num:
        if (!negotiated(protocol_feature::mq)) return errc::vhost_not_negotiated;
        return reply_u64(m, queues(), out);
      case fr::get_max_mem_slots:
        if (!negotiated(protocol_feature::configure_mem_slots)) return errc::vhost_not_negotiated;
        return reply_u64(m, MaxSlots, out);
      default: break;
    }
    if (!owner_) return errc::vhost_not_owner;
    switch (req) {
      case fr::set_status:
        if (!negotiated(protocol_feature::status)) return errc::vhost_not_negotiated;
        status_ = static_cast<std::uint8_t>(u64_of(m));  // "status 0" is not a teardown (pitfall 5)
        return ok();
      case fr::get_status:
        if (!negotiated(protocol_feature::status)) return errc::vhost_not_negotiated;
        return reply_u64(m, status_, out);
      case fr::set_mem_table: return set_mem_table(m, out);
      case fr::add_mem_reg: return add_mem_reg(m, out);
      case fr::rem_mem_reg: return rem_mem_reg(m, out);
      case fr::set_vring_num: return set_vring_num(m.as<vhost_user::vring_state>());
      case fr::set_vring_addr: return set_vring_addr(m.as<vring_addr>());
      case fr::set_vring_base: return set_vring_base(m.as<vhost_user::vring_state>());
      case fr::get_vring_base: return get_vring_base(m, out);
      case fr::set_vring_kick:
      case fr::set_vring_call:
      case fr::set_vring_err: return set_vring_fd(m, req, out);
      case fr::set_vring_enable: return set_vring_enable(m.as<vhost_user::vring_state>(), out);
      case fr::get_config: return get_config(m, out);
      case fr::set_config: return set_config(m);
      case fr::set_log_base: return set_log_base(m, out);
      case fr::get_inflight_fd: return get_inflight_fd(m, out);
      case fr::set_inflight_fd: return set_inflight_fd(m, out);
      default: return errc::vhost_not_negotiated;  // not implemented: its gate is never offered
    }
  }

  result<void> set_features(std::uint64_t v, outcome_type& out) noexcept {
    if ((v & ~offered_features()) != 0) return errc::feature_not_offered;
    // Only LOG_ALL may change under a started ring: QEMU switches logging on and off while the
    // device runs (vhost_dev_set_log).
    if (any_started() && ((v ^ features_) & ~f_log_all) != 0) return errc::vhost_out_of_order;
    features_ = v;
    features_set_ = true;
    log_.set_logging((v & f_log_all) != 0);
    // Without bit 30 every ring is enabled at once (spec "Ring states", rule B11).
    if ((v & f_protocol_features) == 0)
      for (std::uint32_t i = 0; i < queues(); ++i) set_enabled(i, true, out);
    return ok();
  }

  // ---- memory -----------------------------------------------------------------------------------

  [[nodiscard]] static mapped_region describe(const vhost_user::memory_region& r) noexcept {
    mapped_region mr;
    mr.guest_addr = r.guest_phys_addr.get();
    mr.size = r.memory_size.get();
    mr.user_addr = r.userspace_addr.get();
    mr.mmap_offset = r.mmap_offset.get();
    return mr;
  }

  /// Map `mr` from `fd` and add it to `map`; nothing stays mapped on failure.
  result<void> map_into(guest_map<MaxSlots>& map, mapped_region mr, int fd) noexcept {
    const auto host = mapper_->map(fd, mr.size, mr.mmap_offset);
    if (!host) return host.error();
    mr.host = *host;
    const auto added = map.add(mr);
    if (!added) mapper_->unmap(mr.host, mr.size, mr.mmap_offset);
    return added;
  }

  /// Every started vring still lies in `map` at the same guest addresses (rule B16).
  [[nodiscard]] result<void> started_rings_fit(guest_map<MaxSlots>& map) const noexcept {
    for (std::uint32_t i = 0; i < queues(); ++i) {
      if (!vrings_[i].started) continue;
      const auto cfg = ring_config(vrings_[i], map);
      if (!cfg) return errc::ring_not_mapped;
      const ring::queue_config& now = vrings_[i].config;
      if (cfg->desc_table != now.desc_table || cfg->driver_area != now.driver_area ||
          cfg->device_area != now.device_area)
        return errc::ring_not_mapped;
    }
    return ok();
  }

  void memory_updated(outcome_type& out) noexcept {
    dev_->memory_changed();
    out.push({action_kind::memory_changed, 0, no_fd});
  }

  /// Rule B13, atomically: map the whole new table aside, check it, only then drop the old one.
  result<void> set_mem_table(const message& m, outcome_type& out) noexcept {
    if (negotiated(protocol_feature::configure_mem_slots)) return errc::vhost_out_of_order;
    if (m.type != payload_type::memory_table) return errc::vhost_out_of_order;  // postcopy ack
    const memory_table_view view = memory_table_of(m);
    guest_map<MaxSlots> fresh;
    result<void> r = ok();
    for (std::uint32_t i = 0; i < view.count && r; ++i)
      r = map_into(fresh, describe(view.region(i)), m.fds[i]);
    if (r) r = started_rings_fit(fresh);
    if (!r) {
      fresh.unmap_all(*mapper_);
      return r;
    }
    map_.unmap_all(*mapper_);
    map_ = fresh;
    memory_updated(out);
    return ok();
  }

  result<void> add_mem_reg(const message& m, outcome_type& out) noexcept {
    if (!negotiated(protocol_feature::configure_mem_slots)) return errc::vhost_not_negotiated;
    VIREO_TRY(map_into(map_, describe(single_region_of(m)), m.fds[0]));
    memory_updated(out);
    return ok();
  }

  result<void> rem_mem_reg(const message& m, outcome_type& out) noexcept {
    if (!negotiated(protocol_feature::configure_mem_slots)) return errc::vhost_not_negotiated;
    const mapped_region want = describe(single_region_of(m));
    const std::size_t i = map_.find(want.guest_addr, want.size, want.user_addr);
    if (i == map_.size()) return errc::not_found;
    guest_map<MaxSlots> after = map_;  // refuse to pull memory from under a started ring
    after.erase(i);
    VIREO_TRY(started_rings_fit(after));
    const mapped_region gone = map_[i];
    map_.erase(i);
    mapper_->unmap(gone.host, gone.size, gone.mmap_offset);
    memory_updated(out);
    return ok();
  }

  // ---- vrings -----------------------------------------------------------------------------------

  [[nodiscard]] bool any_started() const noexcept {
    for (std::uint32_t i = 0; i < queues(); ++i)
      if (vrings_[i].started) return true;
    return false;
  }

  /// The queue_config of `v` over `map`: the size rule of the negotiated layout (rule B15) and
  /// every area inside one region (rule B16).
  [[nodiscard]] result<ring::queue_config> ring_config(const vring_state& v,
                                                       guest_map<MaxSlots>& map) const noexcept {
    const std::uint32_t n = v.num;
    const bool pk = packed();
    if (n == 0 || n > dev_->max_queue_size() || n > 32768 || (!pk && (n & (n - 1)) != 0))
      return errc::bad_queue_size;
    if (pk && (v.avail_user & 3) != 0) return errc::ring_misaligned;  // packed §2.8.10: 4 bytes
    ring::queue_config c;
    c.size = static_cast<std::uint16_t>(n);
    const auto desc = map.to_guest(v.desc_user);
    const auto drv = map.to_guest(v.avail_user);
    const auto dev = map.to_guest(v.used_user);
    if (!desc || !drv || !dev) return errc::ring_not_mapped;
    c.desc_table = *desc;
    c.driver_area = *drv;
    c.device_area = *dev;
    // virtio §2.7 / §2.8.10: split avail 6 + 2n, used 6 + 8n; packed event areas 4 bytes.
    const std::size_t drv_len = pk ? 4 : 6 + 2 * std::size_t{n};
    const std::size_t dev_len = pk ? 4 : 6 + 8 * std::size_t{n};
    auto& t = map.table();
    if (!t.map(c.desc_table, 16 * std::size_t{n}, access::read) ||
        !t.map(c.driver_area, drv_len, access::read) ||
        !t.map(c.device_area, dev_len, access::write))
      return errc::ring_not_mapped;
    c.features = feature_set::from_words(features_);
    return c;
  }

  result<void> ring_index(std::uint32_t i) const noexcept {
    if (i >= queues()) return errc::vhost_vring_index;  // rule B14 (also checked by the codec)
    return ok();
  }

  result<void> set_vring_num(const vhost_user::vring_state& s) noexcept {
    const std::uint32_t i = s.index.get(), n = s.num.get();
    VIREO_TRY(ring_index(i));
    if (vrings_[i].started) return errc::vhost_out_of_order;
    if (n == 0 || n > dev_->max_queue_size() || (features_set_ && !packed() && (n & (n - 1)) != 0))
      return errc::bad_queue_size;
    vrings_[i].num = n;
    return ok();
  }

  result<void> set_vring_addr(const vring_addr& a) noexcept {
    const std::uint32_t i = a.index.get();
    VIREO_TRY(ring_index(i));
    // F_LOG only for a device whose writes are logged (LOG_ALL offered).
    if ((a.flags.get() & vring_addr_flag::log) != 0 && !logs()) return errc::vhost_not_negotiated;
    const std::uint64_t desc = a.desc_user_addr.get(), avail = a.avail_user_addr.get(),
                        used = a.used_user_addr.get();
    vring_state& v = vrings_[i];
    if (v.started) {
      // QEMU re-sends the same addresses with F_LOG toggled while the ring runs
      // (vhost_dev_set_log); moving a started ring is refused.
      if (desc != v.desc_user || avail != v.avail_user || used != v.used_user)
        return errc::vhost_out_of_order;
      vring_state next = v;
      next.addr_flags = a.flags.get();
      next.log_addr = a.log_guest_addr.get();
      VIREO_TRY(ring_log_fits(next, log_));
      v.addr_flags = next.addr_flags;
      v.log_addr = next.log_addr;
      return ok();
    }
    if (map_.size() == 0) return errc::vhost_out_of_order;  // rule F6: table first
    if (!map_.to_guest(desc) || !map_.to_guest(avail) || !map_.to_guest(used))
      return errc::ring_not_mapped;
    v.addr_set = true;
    v.addr_flags = a.flags.get();
    v.log_addr = a.log_guest_addr.get();
    v.desc_user = desc;
    v.avail_user = avail;
    v.used_user = used;
    return ok();
  }

  /// Rule B22 / spec "Migration": the log must hold a bit for the last byte of every ring whose
  /// used-ring writes are logged. Split: log_guest_addr + the used ring; packed (logged at the
  /// rings' own guest addresses, logged_queue.hpp): the descriptor ring and the device event
  /// area. Checked only with a log mapped and for a started ring (a packed ring's guest
  /// addresses are known from its start on).
  [[nodiscard]] result<void> ring_log_fits(const vring_state& v,
                                           const dirty_log& log) const noexcept {
    if (!log.mapped() || !v.started || (v.addr_flags & vring_addr_flag::log) == 0) return ok();
    const std::size_t n = v.config.size;
    const bool fits =
        packed() ? log.covers(v.config.desc_table.raw(), 16 * n) &&
                       log.covers(v.config.device_area.raw(), 4)
                 : log.covers(v.log_addr, 6 + 8 * n);
    if (!fits) return errc::vhost_log_range;
    return ok();
  }

  result<void> set_vring_base(const vhost_user::vring_state& s) noexcept {
    const std::uint32_t i = s.index.get(), num = s.num.get();
    VIREO_TRY(ring_index(i));
    if (vrings_[i].started) return errc::vhost_out_of_order;
    if (features_set_ && !packed() && (num >> 16) != 0) return errc::vhost_bad_value;
    vrings_[i].base = num;
    vrings_[i].base_set = true;
    return ok();
  }

  [[nodiscard]] std::uint32_t encode_base(ring::queue_state q) const noexcept {
    if (packed()) return std::uint32_t{q.next_avail} | (std::uint32_t{q.used_idx} << 16);
    return q.next_avail;
  }
  [[nodiscard]] ring::queue_state decode_base(std::uint32_t b) const noexcept {
    const auto lo = static_cast<std::uint16_t>(b & 0xFFFF);
    if (packed()) return {lo, static_cast<std::uint16_t>(b >> 16)};
    return {lo, lo};  // split: QEMU carries only last_avail; nothing is in flight at a stop
  }

  void stop(std::uint32_t i, outcome_type& out) noexcept {
    vring_state& v = vrings_[i];
    if (!v.started) return;
    v.base = encode_base(dev_->stop_vring(i));
    v.started = false;
    out.push({action_kind::stop_vring, i, no_fd});
    // The kick is re-sent at the next start (digest §5: libvhost-user closes it here too).
    close_slot(v.kick_fd, out);
    v.kick_set = false;
    v.kick_polled = false;
  }

  /// Rule B10: stop the ring and return its position; a never-started ring returns its base.
  result<void> get_vring_base(const message& m, outcome_type& out) noexcept {
    const std::uint32_t i = m.as<vhost_user::vring_state>().index.get();
    VIREO_TRY(ring_index(i));
    stop(i, out);
    vhost_user::vring_state s{};
    s.index.set(i);
    s.num.set(vrings_[i].base);
    const auto n = encode_reply(m, s, 0, out.reply_buffer(), opts_);
    if (!n) return n.error();
    out.set_reply_size(*n);
    return ok();
  }

  static void close_slot(int& fd, outcome_type& out) noexcept {
    if (fd != no_fd) out.push({action_kind::close_fd, 0, fd});
    fd = no_fd;
  }

  /// Rule B12: the new fd (or none, with the no-fd bit) replaces the old one, which is closed.
  result<void> set_vring_fd(const message& m, frontend_request req, outcome_type& out) noexcept {
    const std::uint64_t v = u64_of(m);
    const auto i = static_cast<std::uint32_t>(v & vring_fd_bits::index_mask);
    VIREO_TRY(ring_index(i));
    const bool polled = (v & vring_fd_bits::no_fd) != 0;
    const int fd = polled ? no_fd : m.fds[0];
    if (!polled) kept_[0] = true;
    vring_state& r = vrings_[i];
    int& slot = req == frontend_request::set_vring_kick   ? r.kick_fd
                : req == frontend_request::set_vring_call ? r.call_fd
                                                          : r.err_fd;
    close_slot(slot, out);
    slot = fd;
    if (req == frontend_request::set_vring_kick) {
      r.kick_set = true;
      r.kick_polled = polled;
    }
    if (r.started) out.push({action_kind::vring_fds_changed, i, no_fd});
    return ok();
  }

  void set_enabled(std::uint32_t i, bool on, outcome_type& out) noexcept {
    if (vrings_[i].enabled == on) return;
    vrings_[i].enabled = on;
    dev_->enable_vring(i, on);
    out.push({on ? action_kind::enable_vring : action_kind::disable_vring, i, no_fd});
  }

  result<void> set_vring_enable(const vhost_user::vring_state& s, outcome_type& out) noexcept {
    const std::uint32_t i = s.index.get();
    VIREO_TRY(ring_index(i));
    if (!features_set_ || (features_ & f_protocol_features) == 0)
      return errc::vhost_not_negotiated;
    set_enabled(i, s.num.get() == 1, out);  // the codec refused num > 1 (rule B11)
    return ok();
  }

  /// Start every vring whose setup is complete: owner, features, size, addresses, base, kick
  /// (digest §5: QEMU sends KICK last, so in practice the KICK starts the ring).
  result<void> start_ready(outcome_type& out) noexcept {
    if (!owner_ || !features_set_) return ok();
    for (std::uint32_t i = 0; i < queues(); ++i) {
      vring_state& v = vrings_[i];
      if (v.started || v.num == 0 || !v.addr_set || !v.base_set || !v.kick_set) continue;
      result<ring::queue_config> cfg = errc::vhost_bad_value;
      if (packed() || (v.base >> 16) == 0) cfg = ring_config(v, map_);
      if (cfg) {
        vring_state probe = v;  // the log must cover the ring before it runs (rule B22)
        probe.started = true;
        probe.config = *cfg;
        if (auto fits = ring_log_fits(probe, log_); !fits) cfg = fits.error();
      }
      result<void> started = cfg ? start_device(i, *cfg, decode_base(v.base))
                                 : result<void>{cfg.error()};
      if (!started) {
        // Left stopped; the kick is dropped so that the failure is reported once and a fresh
        // SET_VRING_KICK retries the start.
        close_slot(v.kick_fd, out);
        v.kick_set = false;
        v.kick_polled = false;
        return started;
      }
      v.config = *cfg;
      v.started = true;
      out.push({action_kind::start_vring, i, no_fd});
    }
    return ok();
  }

  result<void> start_device(std::uint32_t i, const ring::queue_config& cfg,
                            ring::queue_state base) noexcept {
    if constexpr (inflight_device<Device>)
      return dev_->start_vring(i, cfg, base, inflight_area_of(i));
    else return dev_->start_vring(i, cfg, base);
  }

  // ---- back-end channel, dirty log, inflight region ---------------------------------------------

  /// SET_BACKEND_REQ_FD: keep the socket (replacing and closing an earlier one).
  result<void> set_backend_req_fd(const message& m, outcome_type& out) noexcept {
    if (!negotiated(protocol_feature::backend_req)) return errc::vhost_not_negotiated;
    close_slot(backend_fd_, out);
    backend_fd_ = m.fds[0];
    kept_[0] = true;
    awaited_ = 0;  // a reply to a request on the old socket will not come
    return ok();
  }

  /// SET_LOG_BASE with LOG_SHMFD (digest §6.3): map `mmap_size` bytes at `mmap_offset` of the fd
  /// and use them as the log from now on; the fd is closed once mapped. Refused, keeping the old
  /// log, when a started ring's logged writes would fall outside the new one. The u64 reply is
  /// written here (0); handle() writes 1 on failure.
  result<void> set_log_base(const message& m, outcome_type& out) noexcept {
    // Without LOG_SHMFD the message would carry a front-end address, meaningless to a separate
    // process (and LOG_SHMFD is offered only to a logging device).
    if (!negotiated(protocol_feature::log_shmfd)) return errc::vhost_not_negotiated;
    const log_description l = m.as<log_description>();
    const std::uint64_t size = l.mmap_size.get(), offset = l.mmap_offset.get();
    const auto host = mapper_->map(m.fds[0], size, offset);
    if (!host) return host.error();
    dirty_log fresh;
    fresh.attach(*host, size);
    for (std::uint32_t i = 0; i < queues(); ++i) {
      if (auto fits = ring_log_fits(vrings_[i], fresh); !fits) {
        mapper_->unmap(*host, size, offset);
        return fits;
      }
    }
    unmap_log();
    log_.attach(*host, size);
    log_offset_ = offset;
    return reply_u64(m, 0, out);
  }

  void unmap_log() noexcept {
    if (log_.mapped()) mapper_->unmap(log_.base(), log_.size(), log_offset_);
    log_.detach();
    log_offset_ = 0;
  }

  /// The checks GET_ and SET_INFLIGHT_FD share: negotiated, no vring running on the region,
  /// the queue count and size within the device's.
  [[nodiscard]] result<void> inflight_request_ok(const vhost_user::inflight& f) const noexcept {
    if (!negotiated(protocol_feature::inflight_shmfd)) return errc::vhost_not_negotiated;
    if (any_started()) return errc::vhost_out_of_order;  // the device works on the region
    if (f.num_queues.get() > queues()) return errc::vhost_bad_value;
    if (f.queue_size.get() > dev_->max_queue_size()) return errc::bad_queue_size;
    return ok();
  }

  /// GET_INFLIGHT_FD (digest §6.4): a zero-filled region for num_queues x queue_size from the
  /// allocator; the reply names it (mmap_offset 0) and carries its fd. It becomes the session's
  /// region (QEMU sends it back with SET_INFLIGHT_FD, which replaces it with the same memory).
  result<void> get_inflight_fd(const message& m, outcome_type& out) noexcept {
    if constexpr (!inflight_device<Device>) {
      return errc::vhost_not_negotiated;
    } else {
      if (alloc_ == nullptr) return errc::vhost_not_negotiated;
      const vhost_user::inflight req = m.as<vhost_user::inflight>();
      VIREO_TRY(inflight_request_ok(req));
      const std::uint16_t nq = req.num_queues.get(), qs = req.queue_size.get();
      // Sized for the negotiated ring format (QEMU sends SET_FEATURES first).
      const std::uint64_t size = std::uint64_t{nq} * inflight_queue_bytes(packed(), qs);
      const auto buf = alloc_->allocate(size);
      if (!buf) return buf.error();
      std::memset(buf->host, 0, static_cast<std::size_t>(size));  // version 0: uninitialised
      vhost_user::inflight reply{};
      reply.mmap_size.set(size);
      reply.mmap_offset.set(0);
      reply.num_queues.set(nq);
      reply.queue_size.set(qs);
      const auto n = encode_reply(m, reply, 1, out.reply_buffer(), opts_);
      if (!n) {
        alloc_->release(*buf);
        return n.error();
      }
      release_inflight();
      inflight_ = inflight_info{buf->host, size, 0, nq, qs, true, buf->fd};
      out.set_reply_size(*n);
      out.add_reply_fd(buf->fd);
      return ok();
    }
  }

  /// SET_INFLIGHT_FD: map the front-end's region (a restarted back-end gets the one its
  /// predecessor filled); the fd is closed once mapped. Refused when it is too small for
  /// num_queues x queue_size (digest §10.27).
  result<void> set_inflight_fd(const message& m, outcome_type& out) noexcept {
    (void)out;
    const vhost_user::inflight req = m.as<vhost_user::inflight>();
    VIREO_TRY(inflight_request_ok(req));
    const std::uint16_t nq = req.num_queues.get(), qs = req.queue_size.get();
    const std::uint64_t size = req.mmap_size.get(), offset = req.mmap_offset.get();
    if (size < std::uint64_t{nq} * inflight_queue_bytes(packed(), qs))
      return errc::vhost_inflight_invalid;
    const auto host = mapper_->map(m.fds[0], size, offset);
    if (!host) return host.error();
    release_inflight();
    inflight_ = inflight_info{*host, size, offset, nq, qs, false, no_fd};
    return ok();
  }

  [[nodiscard]] result<std::size_t> encode_inflight_failure(const message& m,
                                                            outcome_type& out) const noexcept {
    vhost_user::inflight reply = m.as<vhost_user::inflight>();
    reply.mmap_size.set(0);
    reply.mmap_offset.set(0);
    return encode_reply(m, reply, 0, out.reply_buffer(), opts_);
  }

  void release_inflight() noexcept {
    if (inflight_.host != nullptr) {
      if (inflight_.allocated) {
        if (alloc_ != nullptr)
          alloc_->release(inflight_buffer{inflight_.fd, inflight_.host, inflight_.size});
      } else {
        mapper_->unmap(inflight_.host, inflight_.size, inflight_.mmap_offset);
      }
    }
    inflight_ = inflight_info{};
  }

  // ---- config -----------------------------------------------------------------------------------

  result<void> get_config(const message& m, outcome_type& out) noexcept {
    if (!negotiated(protocol_feature::config)) return errc::vhost_not_negotiated;
    const config_view c = config_of(m);
    const std::uint32_t off = c.head.offset.get(), size = c.head.size.get();
    if (off > dev_->config_size() || size > dev_->config_size() - off)
      return errc::vhost_config_range;
    std::array<std::byte, max_config_size> buf{};
    const bytes data{buf.data(), size};
    VIREO_TRY(dev_->read_config(off, data));
    const auto n = encode_config_reply(m, data, out.reply_buffer(), opts_);
    if (!n) return n.error();
    out.set_reply_size(*n);
    return ok();
  }

  result<void> set_config(const message& m) noexcept {
    if (!negotiated(protocol_feature::config)) return errc::vhost_not_negotiated;
    const config_view c = config_of(m);
    const std::uint32_t off = c.head.offset.get(), size = c.head.size.get();
    if (off > dev_->config_size() || size > dev_->config_size() - off)
      return errc::vhost_config_range;
    const bool migration =
        c.head.flags.get() == static_cast<std::uint32_t>(config_flags::migration);
    return dev_->write_config(off, c.data, migration);  // rule B19: the device decides
  }

  // ---- reset ------------------------------------------------------------------------------------

  /// RESET_OWNER and disconnect: back to the state of a fresh connection (the back-end channel
  /// closed, the log unmapped, the inflight region released: the front-end keeps its copy).
  void reset(outcome_type& out) noexcept {
    for (std::uint32_t i = 0; i < queues(); ++i) {
      stop(i, out);
      set_enabled(i, false, out);
      vring_state& v = vrings_[i];
      close_slot(v.kick_fd, out);
      close_slot(v.call_fd, out);
      close_slot(v.err_fd, out);
      v = vring_state{};
    }
    if (map_.size() != 0) {
      map_.unmap_all(*mapper_);
      memory_updated(out);
    }
    close_slot(backend_fd_, out);
    awaited_ = 0;
    unmap_log();
    log_.set_logging(false);
    release_inflight();
    owner_ = false;
    features_set_ = false;
    features_ = 0;
    protocol_ = 0;
    opts_.protocol_features = 0;
    status_ = 0;
  }

  Device* dev_;
  Mapper* mapper_;
  codec_options opts_{};
  bool owner_ = false;
  bool features_set_ = false;
  std::uint64_t features_ = 0;
  std::uint64_t protocol_ = 0;
  std::uint8_t status_ = 0;
  std::array<vring_state, MaxQueues> vrings_{};
  guest_map<MaxSlots> map_{};
  std::array<bool, max_fds_per_message> kept_{};
  Allocator* alloc_ = nullptr;
  inflight_info inflight_{};
  int backend_fd_ = no_fd;
  std::uint32_t awaited_ = 0;       ///< back-end request code whose reply is due (0: none)
  dirty_log log_{};
  std::uint64_t log_offset_ = 0;    ///< mmap_offset of the log mapping (for unmap)
  logged_memory_type logged_{map_.table(), log_};
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
