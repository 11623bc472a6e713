// SPDX-License-Identifier: Apache-2.0
// The module end of the Greybus-over-virtio binding (binding.hpp, docs/greybus-virtio.md): the
// virtio device. Pops frames from ap_to_module, hands each message to a Greybus module, and
// writes the module's responses and its own messages into the buffers the AP posts on
// module_to_ap, holding back (not dropping) what finds no buffer.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/virtio/binding.hpp"
#include "vireo/ring/queue_api.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::virtio {

/// What the device needs of a Greybus module (greybus/module/module.hpp models it):
///  - handle(cport, message, out): one received message; writes the response (if any) into
///    `out` and returns its length (0: nothing to send);
///  - next_outgoing(out): a module-initiated message (GPIO IRQ Event...) written into `out`,
///    as {cport, size}, or nullopt;
///  - cport_count(): CPort ids are 0 .. cport_count() - 1.
template <typename M>
concept module_endpoint = requires(M& m, const M& cm, std::uint16_t cport, const_bytes in,
                                   bytes out) {
  { m.handle(cport, in, out) } -> std::same_as<result<std::size_t>>;
  { m.next_outgoing(out)->cport } -> std::convertible_to<std::uint16_t>;
  { m.next_outgoing(out)->size } -> std::convertible_to<std::size_t>;
  { static_cast<bool>(m.next_outgoing(out)) };
  { cm.cport_count() } -> std::convertible_to<std::uint16_t>;
};

/// Which queues the device should notify the AP about after process() (§2.7.10, §2.8.10).
struct notifications {
  bool ap_to_module = false;  ///< frames consumed: buffers to give back
  bool module_to_ap = false;  ///< frames written
  friend constexpr bool operator==(notifications, notifications) noexcept = default;
};

/// What the device saw, for the operator: hostile or broken input is counted, never fatal.
struct module_device_stats {
  std::uint64_t frames_received = 0;  ///< ap_to_module frames handed to the module
  std::uint64_t frames_sent = 0;      ///< frames written into module_to_ap buffers
  std::uint64_t bad_frames = 0;       ///< ap_to_module chains refused (completed with length 0)
  std::uint64_t bad_buffers = 0;      ///< module_to_ap buffers refused (completed with length 0)
  std::uint64_t module_errors = 0;    ///< handle() failures (no response could be made)
  std::uint64_t stalls = 0;           ///< process() calls that stopped with a frame held back
  errc last_error{};                  ///< the latest of the above errors
};

/// The device end: `Queue` is a ring::device_queue_api (ring::any_device_queue for a layout
/// chosen at negotiation); ap_to_module and module_to_ap are configured by the caller and used
/// by nobody else. Messages up to MaxMessageSize bytes (the config space's max_message_size);
/// up to OutboxFrames frames wait for module_to_ap buffers.
///
/// Back-pressure: a frame that finds no module_to_ap buffer waits in the outbox, and while any
/// frame waits no ap_to_module chain is popped: every response the module makes has a place, so
/// none is ever dropped, and the AP's requests wait in its own ring. Module-initiated messages
/// are taken from the module only while the outbox has room (the module keeps the rest).
///
/// Hostile AP (every check is on a private copy; each chain is read once):
///  - an ap_to_module chain that is not one whole frame (errors of parse_frame(), or
///    greybus_frame_direction for writable bytes) is completed with length 0 and counted;
///  - a module_to_ap buffer with readable bytes (greybus_frame_direction) or too small for the
///    frame (greybus_frame_buffer_too_small) is completed with length 0 and counted; the frame
///    waits for the next buffer;
///  - a chain the queue itself refuses is completed with length 0 and counted; a corrupt ring
///    (the queue broken) is the only error process() returns.
/// No heap: the frames live in the object (about (OutboxFrames + 1) * (MaxMessageSize + 4)
/// bytes).
template <module_endpoint Module, ring::device_queue_api Queue,
          std::uint16_t MaxMessageSize = default_max_message_size, std::size_t OutboxFrames = 4>
class module_device {
  static_assert(MaxMessageSize >= header_size, "greybus §1: a message holds its 8-byte header");
  static_assert(OutboxFrames >= 1, "a response needs a place to wait");

 public:
  using module_type = Module;
  using queue_type = Queue;
  static constexpr std::size_t frame_bytes = frame_capacity(MaxMessageSize);

  /// A device serving `module` over the two queues. The objects must outlive the device.
  module_device(Module& module, Queue& ap_to_module, Queue& module_to_ap) noexcept
      : module_(&module), rx_(&ap_to_module), tx_(&module_to_ap) {}

  /// The configuration space the AP reads before it posts module_to_ap buffers.
  [[nodiscard]] device_config config() const noexcept {
    return {le16::from(MaxMessageSize), le16::from(module_->cport_count())};
  }

  /// Do all the work there is: send what waits, take module-initiated messages, then pop and
  /// serve ap_to_module frames until the ring is empty or a frame is held back. Call it when
  /// the AP kicks either queue and when the module has news (a host GPIO event...).
  /// At most `budget` ap_to_module chains are taken: an AP that keeps sending cannot hold the
  /// caller; frames_left() then says to call again soon.
  /// Returns which queues need a notification. Errors: the queue's own error when one of the
  /// two queues is broken (queue_broken, avail_idx_jump...: reset the device).
  [[nodiscard]] result<notifications> process(std::size_t budget = SIZE_MAX) noexcept {
    frames_left_ = false;
    for (std::size_t taken = 0;; ++taken) {
      if (taken == budget) {
        VIREO_TRY(flush());  // the last response out, when a buffer is there
        frames_left_ = true;
        break;
      }
      VIREO_TRY(flush());
      take_outgoing();
      VIREO_TRY(flush());
      if (held_ != 0) {
        ++stats_.stalls;  // back-pressure: no ap_to_module chain until the outbox is empty
        break;
      }
      auto got = rx_->pop_into(chain_);
      if (!got) {
        const auto bad = rx_->rejected();
        if (!bad) return got.error();  // the ring itself is corrupt: the queue is broken
        count(stats_.bad_frames, got.error());
        VIREO_TRY(rx_->push_used(*bad, 0));
        continue;
      }
      if (!*got) break;  // nothing available
      serve(chain_);
      // ap_to_module buffers are device-readable only: nothing written (§2.7.8).
      VIREO_TRY(rx_->push_used(chain_.token(), 0));
    }
    return notifications{rx_->needs_notification(), tx_->needs_notification()};
  }

  /// The last process() stopped at its budget: ap_to_module chains may be left.
  [[nodiscard]] bool frames_left() const noexcept { return frames_left_; }
  /// Frames waiting for a module_to_ap buffer.
  [[nodiscard]] std::size_t held() const noexcept { return held_; }
  [[nodiscard]] const module_device_stats& stats() const noexcept { return stats_; }

  /// Forget held frames (device reset, §2.1: the queues are reset with it).
  void reset() noexcept {
    head_ = 0;
    held_ = 0;
    frames_left_ = false;
  }

 private:
  struct slot {
    std::array<std::byte, frame_bytes> bytes;
    std::size_t len;
  };

  void count(std::uint64_t& counter, errc e) noexcept {
    ++counter;
    stats_.last_error = e;
  }
  [[nodiscard]] slot& tail_slot() noexcept { return outbox_[(head_ + held_) % OutboxFrames]; }
  [[nodiscard]] bytes tail_message() noexcept {
    return bytes{tail_slot().bytes}.subspan(transport_header_size);
  }
  /// Seal the message of `size` bytes written at the tail as a frame on `cport`.
  void commit(std::uint16_t cport, std::size_t size) noexcept {
    slot& s = tail_slot();
    const transport_header th{le16::from(cport), le16::from(0)};
    std::memcpy(s.bytes.data(), &th, sizeof th);
    s.len = transport_header_size + size;
    ++held_;
  }

  /// Read the chain's frame once, check it, let the module answer into the outbox.
  /// Precondition: the outbox has a free slot (process() pops only when it is empty).
  void serve(const typename Queue::chain_type& c) noexcept {
    if (c.writable_len() != 0) return count(stats_.bad_frames, errc::greybus_frame_direction);
    const std::size_t len = c.readable_len();  // the AP's claim, bounded before any copy
    if (len < min_frame_size) return count(stats_.bad_frames, errc::greybus_frame_too_short);
    if (len > frame_bytes) return count(stats_.bad_frames, errc::greybus_frame_too_large);
    auto in = c.reader();
    const bytes copy = bytes{in_}.first(len);
    if (auto r = in.read(copy); !r) return count(stats_.bad_frames, r.error());
    auto f = parse_frame(copy, MaxMessageSize, module_->cport_count());
    if (!f) return count(stats_.bad_frames, f.error());
    ++stats_.frames_received;
    const const_bytes message = const_bytes{copy}.subspan(transport_header_size,
                                                          f->msg.hdr.size.get());
    const bytes out = tail_message().first(MaxMessageSize);
    auto n = module_->handle(f->cport, message, out);
    if (!n) return count(stats_.module_errors, n.error());
    if (*n == 0) return;
    if (*n > out.size()) return count(stats_.module_errors, errc::no_space);  // module bug
    commit(f->cport, *n);
  }

  /// Take module-initiated messages while the outbox has room.
  void take_outgoing() noexcept {
    while (held_ < OutboxFrames) {
      const bytes out = tail_message().first(MaxMessageSize);
      auto o = module_->next_outgoing(out);
      if (!o) return;
      const std::uint16_t cport = static_cast<std::uint16_t>(o->cport);
      const std::size_t size = static_cast<std::size_t>(o->size);
      if (size < header_size || size > out.size()) {
        count(stats_.module_errors, errc::greybus_frame_too_large);
        continue;
      }
      commit(cport, size);
    }
  }

  /// Write held frames into module_to_ap buffers, oldest first, until one finds no buffer.
  [[nodiscard]] result<void> flush() noexcept {
    while (held_ != 0) {
      auto got = tx_->pop_into(buffer_);
      if (!got) {
        const auto bad = tx_->rejected();
        if (!bad) return got.error();
        count(stats_.bad_buffers, got.error());
        VIREO_TRY(tx_->push_used(*bad, 0));
        continue;
      }
      if (!*got) return ok();  // no buffer: the frame waits
      const slot& s = outbox_[head_];
      errc refused{};
      if (buffer_.readable_len() != 0) refused = errc::greybus_frame_direction;
      else if (buffer_.writable_len() < s.len) refused = errc::greybus_frame_buffer_too_small;
      std::uint32_t used = 0;
      if (refused == errc{}) {
        auto w = buffer_.writer();
        if (auto r = w.write(const_bytes{s.bytes}.first(s.len)); !r) refused = r.error();
        else used = static_cast<std::uint32_t>(s.len);  // <= frame_bytes < 2^32
      }
      VIREO_TRY(tx_->push_used(buffer_.token(), used));
      if (refused != errc{}) {
        count(stats_.bad_buffers, refused);
        continue;
      }
      ++stats_.frames_sent;
      head_ = (head_ + 1) % OutboxFrames;
      --held_;
    }
    return ok();
  }

  Module* module_;
  Queue* rx_;
  Queue* tx_;
  typename Queue::chain_type chain_{};
  typename Queue::chain_type buffer_{};
  std::array<std::byte, frame_bytes> in_{};
  std::array<slot, OutboxFrames> outbox_{};
  std::size_t head_ = 0;
  std::size_t held_ = 0;
  bool frames_left_ = false;
  module_device_stats stats_{};
};

}  // namespace greybus::virtio
VIREO_NAMESPACE_END
