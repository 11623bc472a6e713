// SPDX-License-Identifier: Apache-2.0
// The driver side (front-end) of virtio-i2c (virtio §5.16.6): whole I2C transfers from host
// buffers over a driver queue; guest memory, FAIL_NEXT groups and statuses are handled here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/wire.hpp"
#include "vireo/ring/driver_env.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/reclaim_rearmed.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

/// One message of a transfer as the caller sees it (Linux struct i2c_msg): a target, a direction
/// and a host buffer. The front-end copies a write's bytes into guest memory when the transfer is
/// submitted, and a read's bytes out of it when the transfer completes, so the read buffer must
/// stay valid until then (or until the transfer is abandoned). Empty data: a zero-length message
/// (SMBus Quick, an address probe), sent with no buf at all (§5.16.6.3).
class transfer_msg {
 public:
  /// Send `data` to `target`.
  [[nodiscard]] static constexpr transfer_msg write(address target, const_bytes data) noexcept {
    return {target, direction::write, data.data(), nullptr, data.size()};
  }
  /// Read into.size() bytes from `target` into `into`.
  [[nodiscard]] static constexpr transfer_msg read(address target, bytes into) noexcept {
    return {target, direction::read, nullptr, into.data(), into.size()};
  }

  [[nodiscard]] constexpr address target() const noexcept { return target_; }
  [[nodiscard]] constexpr direction dir() const noexcept { return dir_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return len_; }
  /// The bytes a write sends (empty for a read).
  [[nodiscard]] constexpr const_bytes write_data() const noexcept {
    return dir_ == direction::write ? const_bytes{out_, len_} : const_bytes{};
  }
  /// Where a read's bytes go (empty for a write).
  [[nodiscard]] constexpr bytes read_buffer() const noexcept {
    return dir_ == direction::read ? bytes{in_, len_} : bytes{};
  }

 private:
  constexpr transfer_msg(address t, direction d, const std::byte* out, std::byte* in,
                         std::size_t len) noexcept
      : target_(t), dir_(d), out_(out), in_(in), len_(len) {}
  address target_;
  direction dir_;
  const std::byte* out_;
  std::byte* in_;
  std::size_t len_;
};

/// Names one submitted transfer (a slot and a sequence number, so a stale id never matches a
/// later transfer in the same slot).
struct transfer_id {
  std::uint16_t slot = 0;
  std::uint32_t seq = 0;
  friend constexpr bool operator==(transfer_id, transfer_id) noexcept = default;
};

/// A finished transfer.
struct completion {
  transfer_id id{};
  std::uint64_t cookie = 0;     ///< what submit() was given
  std::uint16_t messages = 0;   ///< messages in the transfer
  /// Leading messages that completed OK: what Linux's master_xfer returns. The first failure and
  /// every later message of the transfer count as failed, whatever their status (ID9, §5.16.6.3).
  std::uint16_t succeeded = 0;
  /// Why message `succeeded` failed; errc{} when all succeeded. i2c_message_failed: the device
  /// answered ERR (a NACK or a bus error). i2c_status_not_written, i2c_bad_status: the device
  /// broke the protocol. ring_full and the like: the ring took only part of the transfer.
  errc failure{};
  [[nodiscard]] constexpr bool ok() const noexcept { return succeeded == messages; }
};

/// How a front-end is set up.
struct driver_options {
  /// Data bytes one transfer may carry: the sum of its messages' sizes. Linux's i2c_msg.len is
  /// 16 bits; an EEPROM page write is 1-2 address bytes plus the page.
  std::uint32_t transfer_bytes = 256;
  /// How requests are added: direct (2 or 3 descriptors each) or indirect (1 each, with the
  /// queue's indirect pool). automatic is refused: the descriptors a transfer needs must be known
  /// before its first request is added, so that a transfer is queued whole or not at all.
  ring::add_mode mode = ring::add_mode::direct;
  /// strict: the used length must cover the status byte (§2.7.8.3); ignore: read it anyway, as
  /// Linux does.
  used_len_policy used_len = used_len_policy::strict;
};

/// The front-end of one virtio-i2c adapter: owns `Queue` (the requestq, already configured) and a
/// region of guest memory for headers, status bytes and data, both given to create(). Nothing
/// else may add buffers to that queue. Transfers go in whole (one FAIL_NEXT group each, in order,
/// ID8) and come back with how many leading messages succeeded (ID9). Up to MaxTransfers
/// transfers of up to MaxMessages messages are in flight at once. No heap, no blocking: the
/// synchronous calls wait through the caller's driver_env, a bounded number of times.
/// A device that misbehaves gets typed errors: a bad status or used length fails its transfer
/// (the front-end stays usable); a corrupt used ring breaks the queue (broken(); then reset()).
template <guest_memory Memory, ring::driver_queue_api Queue, std::size_t MaxTransfers = 4,
          std::size_t MaxMessages = 8>
class driver {
  static_assert(MaxTransfers >= 1 && MaxTransfers <= 0xFFFF);
  static_assert(MaxMessages >= 1 && MaxMessages <= 0xFFFF);

  static constexpr std::uint64_t header_bytes = MaxMessages * (sizeof(out_hdr) + sizeof(in_hdr));

 public:
  using memory_type = Memory;
  using queue_type = Queue;
  static constexpr std::size_t max_transfers = MaxTransfers;
  static constexpr std::size_t max_messages = MaxMessages;

  /// Bytes of guest memory one transfer slot takes: MaxMessages out headers (8 bytes each) and
  /// status bytes, then `transfer_bytes` of data, rounded up to 8.
  [[nodiscard]] static constexpr std::uint64_t slot_size(std::uint32_t transfer_bytes) noexcept {
    return (header_bytes + transfer_bytes + 7) / 8 * 8;
  }
  /// Bytes of guest memory the region must hold: MaxTransfers slots.
  [[nodiscard]] static constexpr std::uint64_t region_size(std::uint32_t transfer_bytes) noexcept {
    return MaxTransfers * slot_size(transfer_bytes);  // < 2^16 * 2^34: no overflow
  }

  /// A front-end over `requestq` (configured, not shared with anyone) and `region`.
  /// `negotiated` are the features of FEATURES_OK; the driver MUST have accepted
  /// VIRTIO_I2C_F_ZERO_LENGTH_REQUEST (§5.16.6.3, ID1: use accept_features() during
  /// negotiation). Errors: i2c_feature_required, invalid_argument (add_mode::automatic),
  /// queue_not_ready / queue_broken, and those of driver_region::check() (no_space: the region
  /// is smaller than region_size()).
  [[nodiscard]] static result<driver> create(Memory& mem, Queue& requestq,
                                             ring::driver_region region,
                                             const feature_set& negotiated,
                                             const driver_options& opt = {}) noexcept {
    if (!negotiated.has(feature::zero_length_request)) return errc::i2c_feature_required;
    if (opt.mode == ring::add_mode::automatic) return errc::invalid_argument;
    if (!requestq.ready()) return requestq.broken() ? errc::queue_broken : errc::queue_not_ready;
    VIREO_TRY(region.check(mem, region_size(opt.transfer_bytes)));
    return driver{mem, requestq, region, negotiated, opt};
  }

  /// Queue one transfer: each message becomes one request, FAIL_NEXT set on all but the last
  /// (one group, §5.16.6.1), added in order (ID8); write data is copied into guest memory now.
  /// Nothing is queued unless everything checks out, and the ring has room for all of it. Call
  /// flush() (or kick when needs_kick()) afterwards; poll() returns the completion with `cookie`.
  /// Errors (nothing queued): invalid_argument (no message), i2c_transfer_too_large (more than
  /// MaxMessages messages or transfer_bytes data bytes), i2c_address_reserved (a 7-bit
  /// 0x78-0x7B has no encoding), i2c_no_free_slot (MaxTransfers in flight), ring_full (not
  /// enough free descriptors now: poll and retry), queue_not_ready / queue_broken, memory errors.
  /// If the ring refuses a later request after an earlier one went in (only a faulty ring can),
  /// the transfer is still returned: its completion reports the refusal in `failure`.
  [[nodiscard]] result<transfer_id> submit(std::span<const transfer_msg> msgs,
                                           std::uint64_t cookie = 0) noexcept {
    if (!q_->ready()) return q_->broken() ? errc::queue_broken : errc::queue_not_ready;
    const std::size_t n = msgs.size();
    if (n == 0) return errc::invalid_argument;
    if (n > MaxMessages) return errc::i2c_transfer_too_large;
    std::uint64_t total = 0;
    std::size_t descriptors = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const transfer_msg& m = msgs[i];
      if (m.size() > opt_.transfer_bytes - total) return errc::i2c_transfer_too_large;
      total += m.size();  // stays <= transfer_bytes
      auto h = make_out_hdr(m.target(), m.dir(), transfer_fail_next(i, n));
      if (!h) return h.error();
      descriptors += opt_.mode == ring::add_mode::indirect ? 1 : (m.size() == 0 ? 2 : 3);
    }
    const std::size_t slot = free_slot();
    if (slot == MaxTransfers) return errc::i2c_no_free_slot;
    if (q_->free_descriptors() < descriptors) return errc::ring_full;

    // Lay every request out before adding any, so a memory error leaves nothing queued.
    slot_state& s = slots_[slot];
    std::array<request_buffers, MaxMessages> bufs{};
    std::uint32_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const transfer_msg& m = msgs[i];
      const auto len = static_cast<std::uint32_t>(m.size());  // <= transfer_bytes
      const gpa data = len != 0 ? data_at(slot, at) : gpa{0};
      if (m.dir() == direction::write && len != 0) VIREO_TRY(mem_->write(data, m.write_data()));
      auto b = encode_request(*mem_, message{m.target(), m.dir(), data, len},
                              transfer_fail_next(i, n), {out_at(slot, i), in_at(slot, i)},
                              negotiated_);
      if (!b) return b.error();
      bufs[i] = *b;
      s.msgs[i] = msg_state{m.read_buffer().data(), len, at, 0, m.dir() == direction::read, false};
      at += len;
    }

    s.cookie = cookie;
    s.seq = ++seq_;
    s.count = static_cast<std::uint16_t>(n);
    s.queued = 0;
    s.returned = 0;
    s.add_error = errc{};
    s.abandoned = false;
    for (std::size_t i = 0; i < n; ++i) {
      auto id = q_->add(bufs[i].readable(), bufs[i].writable(), user_data(slot, i), opt_.mode);
      if (!id) {
        s.add_error = id.error();
        break;
      }
      ++s.queued;
    }
    if (s.queued == 0) return s.add_error;
    s.state = phase::in_flight;
    return transfer_id{static_cast<std::uint16_t>(slot), s.seq};
  }

  /// Should the device be notified of what was submitted since the last call (§2.7.10)?
  [[nodiscard]] bool needs_kick() noexcept { return q_->needs_kick(); }
  /// Notify the device through `env` if needs_kick().
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  void flush(Env&& env) noexcept {
    if (q_->needs_kick()) env.kick(requestq);
  }

  /// Take back what the device completed and return the oldest finished transfer, or nullopt
  /// when none has finished. Reads are copied into their host buffers here, for the messages
  /// that succeeded only (ID5, §5.16.6.3: a driver MUST NOT use buf after ERR).
  /// Errors: what the queue's reclaim() reports (the used ring is corrupt: the queue is broken,
  /// see reset()), used_id_not_in_flight (a buffer this front-end did not queue came back:
  /// someone else adds to its queue).
  [[nodiscard]] result<std::optional<completion>> poll() noexcept {
    if (auto c = take_oldest()) return c;
    VIREO_TRY(collect());
    return take_oldest();
  }

  /// Forget a transfer: its host buffers are never touched again. One still in flight keeps its
  /// slot until the device gives its buffers back (the device owns them until then), and then
  /// completes silently. Unknown or stale ids are ignored.
  void abandon(transfer_id id) noexcept {
    if (id.slot >= MaxTransfers) return;
    slot_state& s = slots_[id.slot];
    if (s.seq != id.seq || s.state == phase::free) return;
    if (s.state == phase::finished) {
      s.state = phase::free;
      return;
    }
    s.abandoned = true;
    for (msg_state& m : s.msgs) m.read_into = nullptr;
  }

  /// submit() one transfer, notify the device, and wait for it through `env`: up to max_waits
  /// calls of env.wait(). Returns its completion (check ok() or succeeded).
  /// Errors: those of submit() and poll(), i2c_timeout (the transfer is abandoned: its slot comes
  /// back when the device returns its buffers).
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<completion> transfer(std::span<const transfer_msg> msgs, Env&& env,
                                            std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    auto id = submit(msgs);
    if (!id) return id.error();
    flush(env);
    for (std::uint32_t waited = 0;; ++waited) {
      if (auto c = collect(); !c) {
        abandon(*id);
        return c.error();
      }
      if (auto done = take(*id)) return *done;
      if (waited == max_waits) {
        abandon(*id);
        return errc::i2c_timeout;
      }
      env.wait();
    }
  }
  /// transfer() of a single message.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<completion> transfer(const transfer_msg& msg, Env&& env,
                                            std::uint32_t max_waits = ring::default_max_waits)
      noexcept {
    return transfer(std::span<const transfer_msg>{&msg, 1}, env, max_waits);
  }

  /// Is a target answering at `target`? A zero-length write (SMBus Quick write, as
  /// `i2cdetect -q` probes; ZERO_LENGTH_REQUEST makes it possible, §5.16.3): true when the
  /// device answers OK, false when it answers ERR (nobody acknowledged).
  /// Errors: those of transfer(), and the completion's failure when the device broke the protocol.
  template <typename Env>
    requires ring::driver_env<std::remove_reference_t<Env>>
  [[nodiscard]] result<bool> probe(address target, Env&& env,
                                   std::uint32_t max_waits = ring::default_max_waits) noexcept {
    auto c = transfer(transfer_msg::write(target, {}), env, max_waits);
    if (!c) return c.error();
    if (c->ok()) return true;
    if (c->failure == errc::i2c_message_failed) return false;
    return c->failure;
  }

  /// Transfers submitted and not yet returned by poll() (abandoned ones still with the device
  /// included).
  [[nodiscard]] std::size_t in_flight() const noexcept {
    std::size_t n = 0;
    for (const slot_state& s : slots_) n += s.state != phase::free;
    return n;
  }
  /// The queue broke on a corrupt used ring; nothing completes any more until reset().
  [[nodiscard]] bool broken() const noexcept { return q_->broken(); }

  /// After a device reset, or once the queue broke: reset the queue, forget every transfer (no
  /// host buffer is touched again) and return how many were dropped. Configure the queue again
  /// (as part of the device's re-initialisation) before the next submit().
  std::size_t reset() noexcept {
    q_->reset();
    while (q_->detach_unused()) {
    }  // each in-flight buffer once: bounded by the queue size
    std::size_t dropped = 0;
    for (slot_state& s : slots_) {
      dropped += s.state != phase::free;
      s.state = phase::free;
    }
    return dropped;
  }

 private:
  enum class phase : std::uint8_t { free, in_flight, finished };
  struct msg_state {
    std::byte* read_into = nullptr;  ///< a read's host buffer; null for a write or once abandoned
    std::uint32_t len = 0;
    std::uint32_t data_offset = 0;   ///< within the slot's data area
    std::uint32_t used_len = 0;
    bool read = false;
    bool back = false;               ///< the device returned it
  };
  struct slot_state {
    phase state = phase::free;
    bool abandoned = false;
    std::uint16_t count = 0;     ///< messages in the transfer
    std::uint16_t queued = 0;    ///< of which added to the ring (a prefix)
    std::uint16_t returned = 0;  ///< of which the device returned
    std::uint32_t seq = 0;
    std::uint64_t cookie = 0;
    errc add_error{};
    std::array<msg_state, MaxMessages> msgs{};
    completion done{};
  };

  driver(Memory& mem, Queue& q, ring::driver_region region, const feature_set& negotiated,
         const driver_options& opt) noexcept
      : mem_(&mem), q_(&q), region_(region), negotiated_(negotiated), opt_(opt) {}

  // Slot layout: out headers, then status bytes, then data (all offsets below region_size()).
  [[nodiscard]] std::uint64_t slot_base(std::size_t slot) const noexcept {
    return slot * slot_size(opt_.transfer_bytes);
  }
  [[nodiscard]] gpa out_at(std::size_t slot, std::size_t m) const noexcept {
    return region_.at(slot_base(slot) + m * sizeof(out_hdr));
  }
  [[nodiscard]] gpa in_at(std::size_t slot, std::size_t m) const noexcept {
    return region_.at(slot_base(slot) + MaxMessages * sizeof(out_hdr) + m * sizeof(in_hdr));
  }
  /// Precondition: a byte of data lives there (offset < transfer_bytes).
  [[nodiscard]] gpa data_at(std::size_t slot, std::uint32_t offset) const noexcept {
    return region_.at(slot_base(slot) + header_bytes + offset);
  }
  [[nodiscard]] static constexpr std::uint64_t user_data(std::size_t slot, std::size_t m) noexcept {
    return std::uint64_t{slot} * MaxMessages + m;
  }

  [[nodiscard]] std::size_t free_slot() const noexcept {
    std::size_t i = 0;
    while (i < MaxTransfers && slots_[i].state != phase::free) ++i;
    return i;
  }

  /// Reclaim everything the device has completed. Bounded: each reclaim retires one of this
  /// front-end's buffers, and nothing is added meanwhile.
  [[nodiscard]] result<void> collect() noexcept {
    for (;;) {
      auto u = ring::reclaim_rearmed(*q_);
      if (!u) return u.error();
      if (!*u) return ok();
      VIREO_TRY(on_used(**u));
    }
  }

  [[nodiscard]] result<void> on_used(const ring::used_buffer& u) noexcept {
    const std::uint64_t slot = u.user_data / MaxMessages;
    const auto m = static_cast<std::size_t>(u.user_data % MaxMessages);
    if (slot >= MaxTransfers) return errc::used_id_not_in_flight;
    slot_state& s = slots_[slot];
    if (s.state != phase::in_flight || m >= s.queued || s.msgs[m].back)
      return errc::used_id_not_in_flight;
    s.msgs[m].back = true;
    s.msgs[m].used_len = u.len;  // at most the writable length: the queue checked it
    if (++s.returned == s.queued) finish(static_cast<std::size_t>(slot));
    return ok();
  }

  /// Every queued request of the slot is back: apply the group rule and copy the reads out.
  void finish(std::size_t slot) noexcept {
    slot_state& s = slots_[slot];
    std::uint16_t good = 0;
    errc failure{};
    for (; good < s.queued; ++good) {
      const msg_state& m = s.msgs[good];
      request_buffers b;
      b.writable_len = m.read ? m.len + 1 : 1;  // len <= transfer_bytes < 2^32 - 1
      b.status_at = in_at(slot, good);
      auto st = decode_completion(*mem_, b, m.used_len, opt_.used_len);
      if (!st) failure = st.error();
      else if (*st != status::ok) failure = errc::i2c_message_failed;
      if (failure != errc{}) break;  // ID9: it and the rest of the group count as failed
    }
    if (failure == errc{} && good < s.count) failure = s.add_error;
    if (!s.abandoned) {
      // ID5: only the reads that succeeded are copied out.
      for (std::uint16_t i = 0; i < good; ++i) {
        const msg_state& m = s.msgs[i];
        if (!m.read || m.len == 0) continue;
        if (auto r = mem_->read(data_at(slot, m.data_offset), bytes{m.read_into, m.len}); !r) {
          good = i;
          failure = r.error();
          break;
        }
      }
    }
    s.done = completion{transfer_id{static_cast<std::uint16_t>(slot), s.seq}, s.cookie, s.count,
                        good, failure};
    s.state = s.abandoned ? phase::free : phase::finished;
  }

  /// The finished transfer `id`, if it is finished; its slot is free again.
  [[nodiscard]] std::optional<completion> take(transfer_id id) noexcept {
    slot_state& s = slots_[id.slot];
    if (s.state != phase::finished || s.seq != id.seq) return std::nullopt;
    s.state = phase::free;
    return s.done;
  }
  /// The finished transfer submitted first (sequence numbers compared modulo 2^32).
  [[nodiscard]] std::optional<completion> take_oldest() noexcept {
    std::size_t best = MaxTransfers;
    for (std::size_t i = 0; i < MaxTransfers; ++i) {
      if (slots_[i].state != phase::finished) continue;
      if (best == MaxTransfers ||
          static_cast<std::int32_t>(slots_[i].seq - slots_[best].seq) < 0)
        best = i;
    }
    if (best == MaxTransfers) return std::nullopt;
    slots_[best].state = phase::free;
    return slots_[best].done;
  }

  Memory* mem_;
  Queue* q_;
  ring::driver_region region_;
  feature_set negotiated_;
  driver_options opt_;
  std::uint32_t seq_ = 0;
  std::array<slot_state, MaxTransfers> slots_{};
};

}  // namespace i2c
VIREO_NAMESPACE_END
