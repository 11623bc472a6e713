// SPDX-License-Identifier: Apache-2.0
// The virtio-gpio device model (virtio §5.18): serves the requestq and the eventq of one device
// against a host_chip, keeping each line's protocol and interrupt state. Freestanding: fixed
// arrays sized by MaxLines, no heap, no exceptions.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/irq_state.hpp"
#include "vireo/gpio/names.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/ring/queue_api.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// What the device offers at feature negotiation.
struct device_options {
  bool offer_irq = true;  ///< offer VIRTIO_GPIO_F_IRQ (interrupts, the eventq)
};

/// Which queues the caller should send a used-buffer notification for (each already filtered
/// through the queue's needs_notification(): event index or NO_INTERRUPT).
struct notifications {
  bool requestq = false;
  bool eventq = false;
  friend constexpr bool operator==(const notifications&, const notifications&) noexcept = default;
};

/// Counters since the device was created (reset() keeps them).
struct device_stats {
  std::uint64_t requests = 0;         ///< requestq messages answered
  std::uint64_t request_errors = 0;   ///< of them answered VIRTIO_GPIO_STATUS_ERR
  std::uint64_t rejected_chains = 0;  ///< malformed chains (either queue) completed with length 0
  std::uint64_t pairs_received = 0;   ///< eventq pairs taken from the ring
  std::uint64_t unmasks = 0;          ///< of them held: the line was unmasked
  std::uint64_t pairs_bounced = 0;    ///< of them returned INVALID at once (see process_events)
  std::uint64_t pairs_disabled = 0;   ///< held pairs returned INVALID by a disable (GV7, GV12)
  std::uint64_t interrupts = 0;       ///< held pairs returned VALID
  std::uint64_t host_events = 0;      ///< events taken from the chip
  std::uint64_t events_ignored = 0;   ///< of them for a line out of range or not enabled
  std::uint64_t edges_latched = 0;    ///< edges that set a masked line's latch (GV8)
  std::uint64_t chip_errors = 0;      ///< chip calls that failed
  std::uint64_t memory_errors = 0;    ///< response or status writes that failed (used length 0)
  std::uint64_t eventq_errors = 0;    ///< eventq completions the queue refused (that pair is lost)
};

/// A device queue whose guest memory the model can reach, to write the status byte of an eventq
/// pair it held without keeping the chain (split_device, packed_device, any_device_queue).
template <typename Q>
concept queue_with_memory = ring::device_queue_api<Q> && requires(const Q& q) {
  { q.memory() } -> std::same_as<typename Q::memory_type&>;
};

/// The virtio-gpio device: ngpio = chip.line_count() lines (at most MaxLines), the names the
/// chip gives them, VIRTIO_GPIO_F_IRQ offered (device_options). Bound to the chip and to the two
/// device queues at creation; they must outlive it. One thread at a time.
///
/// Call process_requests() on a requestq kick, process_events() on an eventq kick, poll_host()
/// when the chip has events; each returns which queues to notify. Every request is answered in
/// the order it was taken (GV5; the MAY of GV6 is not used), and every failure is a
/// VIRTIO_GPIO_STATUS_ERR response with all fields set (GV1, GV14), after which the device goes
/// on working. Only ring corruption (the queue's own errors) ends a call early.
///
/// Line state (per line, MaxLines entries, no heap): the direction the driver set, the value it
/// last set (driven when the line becomes an output, §5.18.6.5), and the interrupt state
/// (irq_state: trigger, latch, the held eventq pair as a token plus a status address).
/// The eventq must not negotiate VIRTIO_F_IN_ORDER: held pairs complete out of order by nature.
/// Call reset() on a device reset, drop_pairs() when only the eventq is reset.
template <queue_with_memory Queue, host_chip Chip, std::size_t MaxLines = 256>
class device {
  static_assert(MaxLines >= 1 && MaxLines <= max_lines, "ngpio is a le16 (§5.18.4)");

 public:
  using queue_type = Queue;
  using chip_type = Chip;
  using chain_type = typename Queue::chain_type;
  static constexpr std::size_t line_capacity = MaxLines;

  /// A device for `chip`, answering on `requestq` and `eventq`. Reads line_count() and every
  /// line_name() once to build the config space: gpio_names_size is the blob size, or 0 when no
  /// line has a name (GV3, GV4). Touches neither the chip's lines nor the queues.
  /// Errors: gpio_no_lines (Linux refuses ngpio 0), gpio_too_many_lines (above MaxLines),
  /// gpio_name_invalid (a name with a NUL or a byte >= 0x80, §5.18.6.1), gpio_name_duplicate
  /// (two lines share a non-empty name), gpio_names_too_large.
  [[nodiscard]] static result<device> create(Chip& chip, Queue& requestq, Queue& eventq,
                                             const device_options& opts = {}) noexcept {
    const std::uint16_t n = chip.line_count();
    if (n == 0) return errc::gpio_no_lines;
    if (n > MaxLines) return errc::gpio_too_many_lines;
    auto size = scan_names(chip, n);
    if (!size) return size.error();
    if (*size != 0) VIREO_TRY(check_unique_names(chip, n));
    device d{chip, requestq, eventq};
    d.params_.ngpio = n;
    d.params_.gpio_names_size = *size;
    if (opts.offer_irq) d.offered_.set(feature::irq);
    return d;
  }

  /// Move-only: a copy would hold the same eventq pairs and complete them twice.
  device(const device&) = delete;
  device& operator=(const device&) = delete;
  device(device&&) noexcept = default;
  device& operator=(device&&) noexcept = default;

  // --- Configuration and features (§5.18.3, §5.18.4) -----------------------------------------

  /// The config space: ngpio, padding zero, gpio_names_size (GV2, GV3, GV4).
  [[nodiscard]] wire::config config() const noexcept {
    wire::config c{};
    c.ngpio.set(params_.ngpio);
    c.gpio_names_size.set(params_.gpio_names_size);
    return c;
  }
  /// ngpio, gpio_names_size, and whether VIRTIO_GPIO_F_IRQ was negotiated.
  [[nodiscard]] const device_params& params() const noexcept { return params_; }
  /// The device-type feature bits offered (VIRTIO_GPIO_F_IRQ unless device_options says no).
  [[nodiscard]] feature_set offered_features() const noexcept { return offered_; }
  [[nodiscard]] feature_set negotiated_features() const noexcept { return negotiated_; }

  /// Take the features the driver accepted (at FEATURES_OK). Only device-type bits (0-23 and
  /// 50-127, virtio 1.3 §6) are looked at; transport bits are the transport's business. Starts
  /// from a fresh line state, as after reset(). The one transport bit checked: VIRTIO_F_IN_ORDER
  /// together with VIRTIO_GPIO_F_IRQ is refused, since eventq pairs complete in the order lines
  /// fire, not the order they were queued (the transport must not offer both).
  /// Errors: feature_not_offered (nothing changes).
  [[nodiscard]] result<void> set_driver_features(const feature_set& accepted) noexcept {
    const feature_set mine = accepted & device_type_bits();
    if (!offered_.contains(mine)) return errc::feature_not_offered;
    if (mine.has(feature::irq) && accepted.has(transport_feature::in_order))
      return errc::feature_not_offered;
    reset();
    negotiated_ = mine;
    params_.irq = mine.has(feature::irq);
    return ok();
  }

  // --- Processing ------------------------------------------------------------------------------

  /// Serve every available requestq message (§5.18.6): decode, execute against the chip, answer
  /// with the exact used length Linux checks (2, or 1 + gpio_names_size). A malformed chain is
  /// completed with length 0. A message that disables an interrupt may complete eventq pairs
  /// (INVALID, GV7, GV12), and one that changes interrupt configuration first takes the chip's
  /// pending events, so that they are judged by the state they happened in.
  /// At most `budget` chains are taken: a driver that keeps adding cannot hold the caller (who
  /// serves other queues and devices too); requests_left() then says to call again soon.
  /// Errors: the requestq's (queue_not_ready, queue_broken, ring corruption); what was answered
  /// before stays answered. An eventq failure here is only counted (stats().eventq_errors).
  [[nodiscard]] result<notifications> process_requests(std::size_t budget = SIZE_MAX) noexcept {
    chain_type c;
    requests_left_ = false;
    for (std::size_t taken = 0;; ++taken) {
      if (taken == budget) {
        requests_left_ = true;
        break;
      }
      auto got = requestq_->pop_into(c);
      if (!got) {
        const auto t = requestq_->rejected();
        if (!t) return got.error();
        ++stats_.rejected_chains;
        VIREO_TRY(requestq_->push_used(*t, 0));
        continue;
      }
      if (!*got) break;
      VIREO_TRY(requestq_->push_used(c.token(), answer(c)));
    }
    (void)take_eventq_error();
    return notify(true);
  }

  /// Take every available eventq pair (§5.18.7). A well-formed pair for an enabled line without
  /// a held pair unmasks it: the device keeps only its token and status address, and fires at
  /// once if an edge is latched or the level is active. Every other pair is returned at once:
  /// with VIRTIO_GPIO_IRQ_STATUS_INVALID (used length 1) when it has a writable byte, else with
  /// length 0. That is: a malformed pair (request not exactly 2 bytes, line >= ngpio, unreadable),
  /// a pair for a line whose interrupt is not enabled (GV13, §5.18.6.6), and a second pair for a
  /// line that already has one (a driver MUST NOT queue it, §5.18.7.2; the held one stays).
  /// Errors: gpio_irq_not_negotiated (the eventq does not exist, §5.18.2: the queue is not
  /// touched), the eventq's own errors (the first push failure after the batch is done).
  /// At most `budget` pairs are taken (events_left(): call again soon).
  [[nodiscard]] result<notifications> process_events(std::size_t budget = SIZE_MAX) noexcept {
    if (!params_.irq) return errc::gpio_irq_not_negotiated;
    chain_type c;
    events_left_ = false;
    for (std::size_t taken = 0;; ++taken) {
      if (taken == budget) {
        events_left_ = true;
        break;
      }
      auto got = eventq_->pop_into(c);
      if (!got) {
        const auto t = eventq_->rejected();
        if (!t) return got.error();
        ++stats_.rejected_chains;
        if (!eventq_->push_used(*t, 0)) ++stats_.eventq_errors;
        continue;
      }
      if (!*got) break;
      receive_pair(c);
    }
    if (const errc e = take_eventq_error(); e != errc{}) return e;
    return notify(false);
  }

  /// Take up to `budget` events from the chip, in the host's order, and deliver them: a matching
  /// edge fires an unmasked line and latches a masked one (GV8); a change on a level line re-reads
  /// the level and fires if it is active and the line unmasked (never latched, GV9); nothing is
  /// reported for a line that is not enabled and unmasked (GV11).
  /// Errors: the first eventq push failure, after the batch is done.
  [[nodiscard]] result<notifications> poll_host(std::size_t budget = SIZE_MAX) noexcept {
    take_host_events(budget);
    if (const errc e = take_eventq_error(); e != errc{}) return e;
    return notify(false);
  }

  /// Device reset: every line back to none with its interrupt disabled, held pairs forgotten
  /// without being returned (the queues are reset too), the chip's pending events dropped, the
  /// negotiated features cleared. The chip is told for every line (watch(none), then
  /// set_direction(none)), also for lines the model already counts as released: an earlier
  /// release may have failed on the chip. Chip failures here are only counted.
  void reset() noexcept {
    requests_left_ = events_left_ = false;
    for (std::uint16_t l = 0; l < params_.ngpio; ++l) {
      if (!chip_->watch(l, irq_type::none)) ++stats_.chip_errors;
      if (!chip_->set_direction(l, direction::none, level::low)) ++stats_.chip_errors;
      lines_[l] = line_state{};
    }
    // Bounded: a chip that never runs dry cannot hold the reset up.
    for (std::size_t i = 0; i < drain_limit && chip_->next_event(); ++i) {
    }
    negotiated_ = feature_set{};
    params_.irq = false;
    last_error_ = errc{};
    eventq_error_ = errc{};
  }

  /// The eventq was reset on its own (VIRTIO_F_RING_RESET): forget held pairs without returning
  /// them. Lines stay enabled, and masked until the driver queues pairs again.
  void drop_pairs() noexcept {
    events_left_ = false;
    for (std::uint16_t l = 0; l < params_.ngpio; ++l) lines_[l].irq.drop_pair();
  }

  // --- Observation -----------------------------------------------------------------------------

  /// The direction the driver set (what GET_DIRECTION reports). Precondition: line < ngpio.
  [[nodiscard]] direction line_direction(std::uint16_t line) const noexcept {
    return at(line).dir;
  }
  /// The value the driver last set (driven while the line is an output).
  [[nodiscard]] level line_value(std::uint16_t line) const noexcept { return at(line).value; }
  /// The line's interrupt state machine.
  [[nodiscard]] const irq_state& line_irq(std::uint16_t line) const noexcept {
    return at(line).irq;
  }
  /// Eventq pairs held now (unmasked lines).
  [[nodiscard]] std::size_t held_pairs() const noexcept {
    std::size_t n = 0;
    for (std::uint16_t l = 0; l < params_.ngpio; ++l) n += lines_[l].irq.unmasked() ? 1 : 0;
    return n;
  }
  /// The last process_requests() / process_events() stopped at its budget: chains may be left.
  [[nodiscard]] bool requests_left() const noexcept { return requests_left_; }
  [[nodiscard]] bool events_left() const noexcept { return events_left_; }
  /// Why the last requestq message was answered ERR (errc{} if it succeeded).
  [[nodiscard]] errc last_request_error() const noexcept { return last_error_; }
  [[nodiscard]] const device_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] Chip& chip() const noexcept { return *chip_; }

 private:
  struct line_state {
    irq_state irq{};
    direction dir = direction::none;
    level value = level::low;
    /// The model made the line an input on the chip for its interrupt: the driver enabled one
    /// without ever setting a direction. Released again when the interrupt is disabled.
    bool irq_input = false;
  };

  static constexpr std::size_t drain_limit = 65536;

  device(Chip& chip, Queue& requestq, Queue& eventq) noexcept
      : chip_(&chip), requestq_(&requestq), eventq_(&eventq) {}

  [[nodiscard]] static constexpr feature_set device_type_bits() noexcept {
    return feature_set::from_words((std::uint64_t{1} << 24) - 1,
                                   ~std::uint64_t{0}) |
           feature_set::from_words(~((std::uint64_t{1} << 50) - 1), 0);
  }

  [[nodiscard]] const line_state& at(std::uint16_t line) const noexcept {
    VIREO_ASSERT(line < params_.ngpio);
    return lines_[line];
  }

  // --- Names (§5.18.6.1) ---

  /// The blob size for the chip's names (each name plus its NUL), or 0 when no line is named.
  /// Each name is checked by names_size(): 7-bit ASCII, no NUL. Errors: gpio_name_invalid,
  /// gpio_names_too_large.
  [[nodiscard]] static result<std::uint32_t> scan_names(const Chip& chip,
                                                       std::uint16_t n) noexcept {
    std::uint64_t total = 0;
    bool named = false;
    for (std::uint16_t l = 0; l < n; ++l) {
      const std::string_view name = chip.line_name(l);
      auto one = names_size(std::span<const std::string_view>{&name, 1});
      if (!one) return one.error();
      total += *one;  // each term < 2^32, at most 65535 terms: no wrap in 64 bits
      if (total > max_names_size) return errc::gpio_names_too_large;
      named = named || !name.empty();
    }
    return named ? static_cast<std::uint32_t>(total) : 0u;
  }

  /// GV4: no two lines share a non-empty name. Sorts line numbers by name (check_unique's
  /// heapsort, no heap); O(n log n) line_name() calls.
  [[nodiscard]] static result<void> check_unique_names(const Chip& chip, std::uint16_t n) noexcept {
    std::array<std::uint32_t, MaxLines> order{};
    std::size_t named = 0;
    for (std::uint16_t l = 0; l < n; ++l)
      if (!chip.line_name(l).empty()) order[named++] = l;
    const std::span<std::uint32_t> lines{order.data(), named};
    const auto name = [&chip](std::uint32_t l) {
      return chip.line_name(static_cast<std::uint16_t>(l));
    };
    detail::heap_sort(lines, [&](std::uint32_t a, std::uint32_t b) { return name(a) < name(b); });
    for (std::size_t i = 1; i < lines.size(); ++i)
      if (name(lines[i - 1]) == name(lines[i])) return errc::gpio_name_duplicate;
    return ok();
  }

  /// GET_LINE_NAMES: status OK, then each line's name and NUL straight from the chip into the
  /// chain (no copy of the blob is kept). The names are re-scanned first, so a chip whose names
  /// changed size since creation gets ERR rather than a blob that disagrees with the config.
  template <typename W>
  [[nodiscard]] VIREO_NOINLINE std::uint32_t answer_names(W& w) noexcept {
    const std::uint64_t size = response_size(msg_type::get_line_names, params_.gpio_names_size);
    if (w.remaining() < size) return answer_error(w, size, errc::gpio_response_too_short);
    auto now = scan_names(*chip_, params_.ngpio);
    if (!now || *now != params_.gpio_names_size)
      return answer_error(w, size, errc::gpio_names_changed);
    const std::byte ok_status{static_cast<std::uint8_t>(status::ok)};
    const std::byte nul{0};
    bool written = w.write(const_bytes{&ok_status, 1}).has_value();
    for (std::uint16_t l = 0; written && l < params_.ngpio; ++l) {
      const std::string_view name = chip_->line_name(l);
      if (!name.empty())
        written = w.write(const_bytes{reinterpret_cast<const std::byte*>(name.data()),
                                      name.size()})
                      .has_value();
      written = written && w.write(const_bytes{&nul, 1}).has_value();
    }
    last_error_ = errc{};
    if (!written) {
      ++stats_.memory_errors;
      return 0;
    }
    return static_cast<std::uint32_t>(size);  // 1 + gpio_names_size <= 2^32 - 1 (scan_names)
  }

  // --- requestq (§5.18.6) ---

  /// Answer one message; returns the used length. Inlined into the pop loop (and execute() into
  /// it): GCC otherwise keeps both out of line and a GET_VALUE costs about twice as much
  /// (bench_devices); the error and names paths stay out of line.
  [[nodiscard]] VIREO_ALWAYS_INLINE std::uint32_t answer(const chain_type& c) noexcept {
    ++stats_.requests;
    auto w = c.writer();
    auto raw = read_request(c.reader());
    if (!raw) return answer_error(w, sizeof(wire::response), raw.error());
    auto req = decode_request(*raw, params_);
    if (!req)
      return answer_error(w, error_response_size(raw->type.get(), params_.gpio_names_size),
                          req.error());
    if (req->type() == msg_type::get_line_names) return answer_names(w);
    // A success reply that cannot be written must not follow a side effect: check first.
    if (w.remaining() < sizeof(wire::response))
      return answer_error(w, sizeof(wire::response), errc::gpio_response_too_short);
    auto value = execute(*req);
    if (!value) return answer_error(w, sizeof(wire::response), value.error());
    last_error_ = errc{};
    auto len = encode_response(w, status::ok, *value);
    if (!len) {
      ++stats_.memory_errors;
      return 0;
    }
    return *len;
  }

  /// STATUS_ERR with every other byte zero (GV1, GV14), as much of `size` as fits.
  template <typename W>
  [[nodiscard]] VIREO_NOINLINE std::uint32_t answer_error(W& w, std::uint64_t size,
                                                        errc why) noexcept {
    ++stats_.request_errors;
    last_error_ = why;
    auto len = encode_error(w, size);
    if (!len) {
      ++stats_.memory_errors;
      return 0;
    }
    return *len;
  }

  /// Execute a validated message (line < ngpio); the reply's value byte.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<std::uint8_t> execute(const request& r) noexcept {
    const std::uint16_t l = r.gpio();
    line_state& s = lines_[l];
    switch (r.type()) {
      case msg_type::get_direction:
        return static_cast<std::uint8_t>(s.dir);
      case msg_type::set_direction:
        VIREO_TRY(set_direction(l, r.as<gpio::set_direction>().dir));
        return std::uint8_t{0};
      case msg_type::get_value: {
        auto v = chip_->get_value(l);
        if (!v) return chip_error(v.error());
        return static_cast<std::uint8_t>(*v);
      }
      case msg_type::set_value: {
        const level v = r.as<gpio::set_value>().value;
        // §5.18.6.5: a value set before the line is an output is kept and driven later.
        if (s.dir == direction::out)
          if (auto d = chip_->set_value(l, v); !d) return chip_error(d.error());
        s.value = v;
        return std::uint8_t{0};
      }
      case msg_type::set_irq_type:
        VIREO_TRY(set_irq_type(l, r.as<gpio::set_irq_type>().trigger));
        return std::uint8_t{0};
      case msg_type::get_line_names:
        break;  // answered by answer_names()
    }
    return errc::invalid_argument;
  }

  [[nodiscard]] result<void> set_direction(std::uint16_t l, direction d) noexcept {
    line_state& s = lines_[l];
    switch (d) {
      case direction::none: {
        // GV7: all state goes, even if the chip then fails to release the line (reported ERR).
        take_host_events(drain_limit);
        auto off = disable_irq(l);
        s.dir = direction::none;
        s.value = level::low;
        s.irq_input = false;
        if (auto r = chip_->set_direction(l, direction::none, level::low); !r)
          return chip_error(r.error());
        return off;
      }
      case direction::out:
        // GD6 from the other side: an interrupt source cannot start driving.
        if (s.irq.enabled()) return errc::gpio_line_irq_enabled;
        break;
      case direction::in:
        break;
    }
    // §5.18.6.3: the value set earlier is driven from the first moment (no glitch).
    if (auto r = chip_->set_direction(l, d, s.value); !r) return chip_error(r.error());
    s.dir = d;
    s.irq_input = false;  // the driver owns the direction now
    return ok();
  }

  /// §5.18.6.6. Enabling an enabled line with another type (a driver MUST disable first) is
  /// taken as the disable it skipped followed by the enable: the latch is dropped and a held
  /// pair comes back INVALID, which Linux answers by queuing it again. A line the driver never
  /// gave a direction is made an input on the chip first (a chip senses only inputs; Linux's
  /// gpiolib may request an interrupt without SET_DIRECTION(IN)); the driver's record stays none.
  [[nodiscard]] result<void> set_irq_type(std::uint16_t l, irq_type t) noexcept {
    line_state& s = lines_[l];
    if (s.dir == direction::out) return errc::gpio_irq_on_output;  // GD6
    if (t == s.irq.trigger()) return ok();                         // nothing changes
    take_host_events(drain_limit);
    if (s.irq.enabled()) VIREO_TRY(disable_irq(l));
    if (t == irq_type::none) return ok();
    if (s.dir == direction::none && !s.irq_input) {
      if (auto r = chip_->set_direction(l, direction::in, s.value); !r)
        return chip_error(r.error());
      s.irq_input = true;
    }
    if (auto r = chip_->watch(l, t); !r) {
      release_irq_input(l);
      return chip_error(r.error());
    }
    s.irq.enable(t);
    return ok();
  }

  /// Disable the line's interrupt: latch dropped (GV10), held pair returned INVALID (GV12), the
  /// chip told to stop watching. The model's state is off even when the chip call fails.
  [[nodiscard]] result<void> disable_irq(std::uint16_t l) noexcept {
    line_state& s = lines_[l];
    if (!s.irq.enabled()) return ok();
    if (const auto p = s.irq.disable()) {
      ++stats_.pairs_disabled;
      complete_pair(*p, irq_status::invalid);
    }
    auto r = chip_->watch(l, irq_type::none);
    release_irq_input(l);
    if (!r) return chip_error(r.error());
    return ok();
  }

  /// Release a line the model made an input only for its interrupt.
  void release_irq_input(std::uint16_t l) noexcept {
    line_state& s = lines_[l];
    if (!s.irq_input) return;
    s.irq_input = false;
    if (!chip_->set_direction(l, direction::none, level::low)) ++stats_.chip_errors;
  }

  [[nodiscard]] errc chip_error(errc e) noexcept {
    ++stats_.chip_errors;
    return e;
  }

  // --- eventq (§5.18.7) ---

  void receive_pair(const chain_type& c) noexcept {
    ++stats_.pairs_received;
    auto req = decode_irq_request(c.reader(), params_);
    // A held pair needs a byte for its status; a pair without one is malformed too.
    if (!req || c.writable().empty()) return bounce(c);
    line_state& s = lines_[req->gpio];
    if (!s.irq.enabled() || s.irq.unmasked()) return bounce(c);  // GV13; one pair per line
    ++stats_.unmasks;
    act(req->gpio, s.irq.unmask(held_pair{c.token(), c.writable().front().addr}));
  }

  /// Return a pair at once: INVALID when a status byte can be written, else used length 0.
  void bounce(const chain_type& c) noexcept {
    ++stats_.pairs_bounced;
    auto len = encode_irq_response(c.writer(), irq_status::invalid);
    if (!len && c.writable_len() > 0) ++stats_.memory_errors;
    if (auto r = eventq_->push_used(c.token(), len.value_or(0)); !r) note_eventq_error(r.error());
  }

  void act(std::uint16_t l, irq_action a) noexcept {
    line_state& s = lines_[l];
    if (a == irq_action::check_level) {
      auto v = chip_->get_value(l);
      if (!v) {
        ++stats_.chip_errors;
        return;
      }
      if (!level_active(s.irq.trigger(), *v)) return;
      a = irq_action::fire;
    }
    if (a != irq_action::fire) return;
    ++stats_.interrupts;
    complete_pair(s.irq.take_pair(), irq_status::valid);
  }

  /// Write the status byte of a held pair through the eventq's memory and return the pair
  /// (used length 1; 0 when the write failed, which Linux reports as a bad length).
  void complete_pair(const held_pair& p, irq_status st) noexcept {
    const std::byte b{static_cast<std::uint8_t>(st)};
    std::uint32_t len = sizeof(wire::irq_response);
    if (!eventq_->memory().write(p.status, const_bytes{&b, 1})) {
      ++stats_.memory_errors;
      len = 0;
    }
    if (auto r = eventq_->push_used(p.token, len); !r) note_eventq_error(r.error());
  }

  void take_host_events(std::size_t budget) noexcept {
    for (std::size_t i = 0; i < budget; ++i) {
      const auto e = chip_->next_event();
      if (!e) return;
      ++stats_.host_events;
      if (e->line >= params_.ngpio || !lines_[e->line].irq.enabled()) {
        ++stats_.events_ignored;
        continue;
      }
      irq_state& irq = lines_[e->line].irq;
      const bool was_latched = irq.latched();
      const irq_action a = irq.on_edge(e->kind);
      if (!was_latched && irq.latched()) ++stats_.edges_latched;
      act(e->line, a);
    }
  }

  void note_eventq_error(errc e) noexcept {
    ++stats_.eventq_errors;
    if (eventq_error_ == errc{}) eventq_error_ = e;
  }
  [[nodiscard]] errc take_eventq_error() noexcept {
    const errc e = eventq_error_;
    eventq_error_ = errc{};
    return e;
  }

  [[nodiscard]] notifications notify(bool requestq) noexcept {
    notifications n;
    if (requestq) n.requestq = requestq_->needs_notification();
    if (params_.irq) n.eventq = eventq_->needs_notification();
    return n;
  }

  Chip* chip_;
  Queue* requestq_;
  Queue* eventq_;
  device_params params_{};
  feature_set offered_{};
  feature_set negotiated_{};
  errc last_error_{};
  errc eventq_error_{};
  device_stats stats_{};
  bool requests_left_ = false;
  bool events_left_ = false;
  std::array<line_state, MaxLines> lines_{};
};

}  // namespace gpio
VIREO_NAMESPACE_END
