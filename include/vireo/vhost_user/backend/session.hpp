// SPDX-License-Identifier: Apache-2.0
// The device side of one vhost-user connection as an I/O-agnostic state machine: handle() takes
// one decoded request (with the fds decode() attached to it) and returns the reply bytes to send
// (if any) and the actions the runner must carry out (close an fd, serve or stop a vring, ...).
// It never reads or writes a socket and never closes an fd itself. Digest §3-§6, rules B7-B16,
// B18-B20. No heap, no OS headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/device.hpp"
#include "vireo/vhost_user/backend/memory_map.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"
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

/// The protocol features this session implements (and offers; CONFIG only if the device has a
/// config space). Not offered: LOG_SHMFD (no dirty logging), BACKEND_REQ, INFLIGHT_SHMFD, ...
inline constexpr std::uint64_t session_protocol_features =
    bit(protocol_feature::mq) | bit(protocol_feature::reply_ack) | bit(protocol_feature::config) |
    bit(protocol_feature::configure_mem_slots) | bit(protocol_feature::status);

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
  [[nodiscard]] std::span<const action> actions() const noexcept {
    return {actions_.data(), action_count_};
  }

  void push(action a) noexcept {
    VIREO_ASSERT(action_count_ < MaxActions);
    if (action_count_ < MaxActions) actions_[action_count_++] = a;
  }
  [[nodiscard]] bytes reply_buffer() noexcept { return reply_; }
  void set_reply_size(std::size_t n) noexcept { reply_size_ = n; }

 private:
  std::array<std::byte, max_reply_size> reply_{};
  std::size_t reply_size_ = 0;
  std::array<action, MaxActions> actions_{};
  std::size_t action_count_ = 0;
};

/// One back-end connection. `Device` models device_model, `Mapper` region_mapper; both are
/// referenced, not owned. MaxQueues bounds the device's num_queues(); MaxSlots is the region
/// slot limit (GET_MAX_MEM_SLOTS).
///
/// fd ownership: handle() takes every fd of `m.message_fds()`. Each is either kept (the vring
/// kick/call/err fds, visible in vring(i)) or reported in a close_fd action of that same outcome
/// (memory fds right after mapping, replaced vring fds, fds of refused or unsupported requests).
/// Fds decode() did not attach (past `fd_count`) stay the caller's, as do all fds when decode()
/// failed. A kept fd is reported for closing when it is replaced, when its vring stops (kick), on
/// RESET_OWNER and on disconnect(). Call disconnect() before destroying a session.
template <device_model Device, region_mapper Mapper, std::size_t MaxQueues = 8,
          std::size_t MaxSlots = 32>
class session {
  static_assert(MaxQueues >= 1 && MaxQueues <= 256, "vring indices of KICK/CALL/ERR are 8 bits");
  static_assert(MaxSlots >= max_memory_regions, "SET_MEM_TABLE may carry 8 regions");

 public:
  /// Message fds (8) + per vring: stop, disable, three closes; + memory_changed.
  static constexpr std::size_t max_actions = max_fds_per_message + 5 * MaxQueues + 1;
  using outcome_type = outcome<max_actions>;
  static constexpr std::size_t max_slots = MaxSlots;

  /// Precondition: 1 <= device.num_queues() <= MaxQueues.
  session(Device& device, Mapper& mapper) noexcept : dev_(&device), mapper_(&mapper) {
    VIREO_ASSERT(device.num_queues() >= 1 && device.num_queues() <= MaxQueues);
    opts_.num_queues = device.num_queues();
    opts_.max_queue_size = device.max_queue_size();
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

  /// GET_FEATURES value: the device's bits and VHOST_USER_F_PROTOCOL_FEATURES.
  [[nodiscard]] std::uint64_t offered_features() const noexcept {
    return dev_->device_features() | f_protocol_features;
  }
  /// GET_PROTOCOL_FEATURES value.
  [[nodiscard]] std::uint64_t offered_protocol_features() const noexcept {
    std::uint64_t f = session_protocol_features;
    if (dev_->config_size() == 0) f &= ~bit(protocol_feature::config);
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

 private:
  static constexpr std::uint32_t code(frontend_request r) noexcept {
    return static_cast<std::uint32_t>(r);
  }
  [[nodiscard]] bool packed() const noexcept {
    return ((features_ >> static_cast<unsigned>(transport_feature::ring_packed)) & 1u) != 0;
  }
  [[nodiscard]] bool negotiated(protocol_feature f) const noexcept { return has(protocol_, f); }
  [[nodiscard]] std::uint32_t queues() const noexcept { return opts_.num_queues; }

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
      default: return errc::vhost_not_negotiated;  // not implemented: its gate is never offered
    }
  }

  result<void> set_features(std::uint64_t v, outcome_type& out) noexcept {
    if ((v & ~offered_features()) != 0) return errc::feature_not_offered;
    if (any_started() && v != features_) return errc::vhost_out_of_order;
    features_ = v;
    features_set_ = true;
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
    if (vrings_[i].started) return errc::vhost_out_of_order;
    // Dirty logging is not implemented (LOG_ALL never offered): F_LOG is refused.
    if ((a.flags.get() & vring_addr_flag::log) != 0) return errc::vhost_not_negotiated;
    if (map_.size() == 0) return errc::vhost_out_of_order;  // rule F6: table first
    const std::uint64_t desc = a.desc_user_addr.get(), avail = a.avail_user_addr.get(),
                        used = a.used_user_addr.get();
    if (!map_.to_guest(desc) || !map_.to_guest(avail) || !map_.to_guest(used))
      return errc::ring_not_mapped;
    vring_state& v = vrings_[i];
    v.addr_set = true;
    v.addr_flags = a.flags.get();
    v.desc_user = desc;
    v.avail_user = avail;
    v.used_user = used;
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
      result<void> started = cfg ? dev_->start_vring(i, *cfg, decode_base(v.base))
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

  /// RESET_OWNER and disconnect: back to the state of a fresh connection.
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
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
