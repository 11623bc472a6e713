// SPDX-License-Identifier: Apache-2.0
// A host GPIO back-end over the Linux GPIO character device (/dev/gpiochipN, uAPI v2 only): a
// chosen subset of the chip's lines under guest names, one line request per active line.
// Kernel behaviour relied on: drivers/gpio/gpiolib-cdev.c, include/uapi/linux/gpio.h (see
// docs/linux-backends.md).
#pragma once

#include <linux/gpio.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "vireo/core/result.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/gpio/wire.hpp"
#include "vireo/linux/sys.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// Longest line name, host or guest: the kernel's names are char[GPIO_MAX_NAME_SIZE] with a
/// terminator, so no host line has a longer one, and guest names are held in the same size.
inline constexpr std::size_t gpio_max_name_length = GPIO_MAX_NAME_SIZE - 1;

/// The consumer label of every line request ("gpioinfo" shows it next to a requested line).
inline constexpr std::string_view gpio_consumer = "vireo";

/// One host line given to the guest: which line of the chip (by offset or by the chip's name
/// for it) and the name the guest sees for it ("" = unnamed). The guest's line i is the i-th
/// exported line, whatever its host offset: the mapping the kernel's gpio-aggregator makes.
struct exported_line {
  enum class select_by : std::uint8_t { offset, name };

  select_by by = select_by::offset;
  std::uint32_t host_offset = 0;  ///< with select_by::offset
  std::string_view host_name;     ///< with select_by::name
  std::string_view guest_name;

  [[nodiscard]] static constexpr exported_line at_offset(std::uint32_t offset,
                                                         std::string_view guest) noexcept {
    return {select_by::offset, offset, {}, guest};
  }
  [[nodiscard]] static constexpr exported_line named(std::string_view host,
                                                     std::string_view guest) noexcept {
    return {select_by::name, 0, host, guest};
  }
};

namespace detail {

/// The edges to detect for an interrupt type: the requested ones for an edge type, both for a
/// level type (the device model re-reads the level on each change, host_chip's contract).
[[nodiscard]] constexpr std::uint64_t gpio_edge_flags(gpio::irq_type t) noexcept {
  switch (t) {
    case gpio::irq_type::none: return 0;
    case gpio::irq_type::edge_rising: return GPIO_V2_LINE_FLAG_EDGE_RISING;
    case gpio::irq_type::edge_falling: return GPIO_V2_LINE_FLAG_EDGE_FALLING;
    case gpio::irq_type::edge_both:
    case gpio::irq_type::level_high:
    case gpio::irq_type::level_low:
      return GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
  }
  return 0;
}

[[nodiscard]] constexpr bool valid_irq_type(gpio::irq_type t) noexcept {
  switch (t) {
    case gpio::irq_type::none:
    case gpio::irq_type::edge_rising:
    case gpio::irq_type::edge_falling:
    case gpio::irq_type::edge_both:
    case gpio::irq_type::level_high:
    case gpio::irq_type::level_low:
      return true;
  }
  return false;
}

/// The configuration of a one-line request. The struct is zeroed first: the kernel refuses
/// non-zero padding (gpio_v2_line_config_validate). An output carries its level in an
/// OUTPUT_VALUES attribute so that it drives that level from the moment it becomes an output.
[[nodiscard]] inline gpio_v2_line_config gpio_line_config(gpio::direction d, gpio::level v,
                                                         gpio::irq_type watch) noexcept {
  gpio_v2_line_config c{};
  if (d == gpio::direction::out) {
    c.flags = GPIO_V2_LINE_FLAG_OUTPUT;
    c.num_attrs = 1;
    c.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    c.attrs[0].attr.values = v == gpio::level::high ? 1u : 0u;  // bit 0: the request's line 0
    c.attrs[0].mask = 1;
  } else {
    c.flags = GPIO_V2_LINE_FLAG_INPUT | gpio_edge_flags(watch);
  }
  return c;
}

/// Length of a kernel name field: up to its first NUL, at most the field's size.
[[nodiscard]] inline std::string_view kernel_name(const char (&field)[GPIO_MAX_NAME_SIZE]) noexcept {
  std::size_t n = 0;
  while (n < GPIO_MAX_NAME_SIZE && field[n] != '\0') ++n;
  return {field, n};
}

}  // namespace detail

/// A Linux gpiochip seen through the v2 character-device uAPI, with only the exported lines
/// visible (guest line i = exported line i). Models gpio::host_chip. Move-only; owns the chip
/// descriptor and one descriptor per active line, and closes them when destroyed. No heap.
/// Not thread-safe.
///
/// A line is requested (GPIO_V2_GET_LINE_IOCTL, consumer "vireo") when the guest makes it an
/// input or an output and released (its descriptor closed) on direction none, so a line the
/// guest does not use stays free for the host; lines that are not exported are never touched.
/// Direction and edge changes of a requested line reconfigure that request
/// (GPIO_V2_LINE_SET_CONFIG_IOCTL) and never release the line in between.
///
/// Events: next_event() never blocks. It polls (timeout 0) the descriptors of watched lines,
/// reads at most one struct gpio_v2_line_event per line into a one-entry buffer, and hands out
/// the buffered event with the oldest timestamp, so changes on several lines come out in the
/// order the kernel timestamped them. An embedder's loop waits on event_fds() (POLLIN) and then
/// calls next_event() until it returns nothing.
template <typename Sys = real_sys, std::size_t MaxLines = 64>
  requires sys_api<Sys>
class gpio_cdev_chip {
  static_assert(MaxLines >= 1 && MaxLines <= std::numeric_limits<std::uint16_t>::max(),
                "virtio §5.18.4: ngpio is a le16 (and a device has at least one line)");

 public:
  static constexpr std::size_t max_lines = MaxLines;

  /// Open the chip at `chip_path` and map `lines` onto guest lines 0..lines.size()-1. Reads
  /// the chip's line count (GPIO_GET_CHIPINFO_IOCTL); resolves names with one
  /// GPIO_V2_GET_LINEINFO_IOCTL per chip line when any line is selected by name (line names are
  /// not unique in Linux: a name that two lines share is refused rather than guessed). Requests
  /// no line. Errors: gpio_no_lines (nothing exported), host_gpio_too_many_lines (more than
  /// MaxLines), gpio_name_invalid (a guest name with a NUL or a non-7-bit byte, §5.18.6.1),
  /// gpio_name_duplicate (two equal non-empty guest names, §5.18.6.9), host_name_too_long (a
  /// name over gpio_max_name_length, or the path), host_gpio_line_out_of_range,
  /// host_gpio_line_not_found, host_gpio_line_name_ambiguous, host_gpio_line_duplicate (two
  /// exports resolve to one host line), and open/ioctl failures (errc_from_errno:
  /// host_no_device, host_permission_denied, host_not_supported for a node that is not a
  /// gpiochip). Nothing stays open on error.
  [[nodiscard]] static result<gpio_cdev_chip> open(std::string_view chip_path,
                                                   std::span<const exported_line> lines,
                                                   Sys sys = Sys{}) noexcept {
    if (lines.empty()) return errc::gpio_no_lines;
    if (lines.size() > MaxLines) return errc::host_gpio_too_many_lines;
    VIREO_TRY(check_guest_names(lines));
    std::array<char, path_capacity> c_path;
    VIREO_TRY(to_c_path(chip_path, c_path));
    const int fd = sys.open(c_path.data(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errc_from_errno(-fd);
    gpio_cdev_chip chip{std::move(sys), fd};  // owns fd: every return below closes it
    VIREO_TRY(chip.map_lines(lines));
    return result<gpio_cdev_chip>{std::move(chip)};
  }

  gpio_cdev_chip(const gpio_cdev_chip&) = delete;
  gpio_cdev_chip& operator=(const gpio_cdev_chip&) = delete;
  gpio_cdev_chip(gpio_cdev_chip&& o) noexcept
      : sys_(std::move(o.sys_)),
        chip_fd_(std::exchange(o.chip_fd_, -1)),
        count_(std::exchange(o.count_, std::uint16_t{0})),
        lines_(o.lines_),
        event_error_(o.event_error_) {
    for (line_state& l : o.lines_) l.fd = -1;  // the line descriptors moved with lines_
  }
  gpio_cdev_chip& operator=(gpio_cdev_chip&& o) noexcept {
    if (this != &o) {
      close_all();
      sys_ = std::move(o.sys_);
      chip_fd_ = std::exchange(o.chip_fd_, -1);
      count_ = std::exchange(o.count_, std::uint16_t{0});
      lines_ = o.lines_;
      for (line_state& l : o.lines_) l.fd = -1;
      event_error_ = o.event_error_;
    }
    return *this;
  }
  ~gpio_cdev_chip() { close_all(); }

  // ---- gpio::host_chip ------------------------------------------------------------------------

  [[nodiscard]] std::uint16_t line_count() const noexcept { return count_; }

  /// The guest name of `line` ("" for an unnamed or out-of-range line). The view points into
  /// this object: valid until it is moved or destroyed.
  [[nodiscard]] std::string_view line_name(std::uint16_t line) const noexcept {
    if (line >= count_) return {};
    return {lines_[line].guest_name.data(), lines_[line].guest_name_len};
  }

  /// in/out: request the line (or reconfigure its request) as an input, keeping the edges
  /// being watched, or as an output driving `initial` from the start; none: release it and drop
  /// its state (§5.18.6.9), watch included. Errors: host_closed, gpio_line_out_of_range,
  /// gpio_bad_direction, gpio_bad_value, host_gpio_edge_on_output (an output while edges are
  /// watched: the kernel detects edges on inputs only), the request's errno (host_busy: the
  /// line is used by a driver or another process).
  [[nodiscard]] result<void> set_direction(std::uint16_t line, gpio::direction d,
                                           gpio::level initial) noexcept {
    VIREO_TRY(check_line(line));
    line_state& l = lines_[line];
    switch (d) {
      case gpio::direction::none:
        release(l);
        return ok();
      case gpio::direction::in:
        break;
      case gpio::direction::out:
        if (initial != gpio::level::low && initial != gpio::level::high)
          return errc::gpio_bad_value;
        if (l.watch != gpio::irq_type::none) return errc::host_gpio_edge_on_output;
        break;
      default:
        return errc::gpio_bad_direction;
    }
    const gpio_v2_line_config config = detail::gpio_line_config(d, initial, l.watch);
    if (l.fd < 0) {
      VIREO_TRY(request(l, config));
    } else {
      gpio_v2_line_config c = config;
      if (const int r = sys_.ioctl(l.fd, GPIO_V2_LINE_SET_CONFIG_IOCTL, &c); r < 0)
        return errc_from_errno(-r);
    }
    l.dir = d;
    return ok();
  }

  /// Drive an output line (GPIO_V2_LINE_SET_VALUES_IOCTL). Errors: host_closed,
  /// gpio_line_out_of_range, gpio_bad_value, host_gpio_line_released, host_gpio_line_not_output
  /// (the kernel refuses values for inputs with EPERM), the ioctl's errno.
  [[nodiscard]] result<void> set_value(std::uint16_t line, gpio::level v) noexcept {
    VIREO_TRY(check_line(line));
    if (v != gpio::level::low && v != gpio::level::high) return errc::gpio_bad_value;
    line_state& l = lines_[line];
    if (l.fd < 0) return errc::host_gpio_line_released;
    if (l.dir != gpio::direction::out) return errc::host_gpio_line_not_output;
    gpio_v2_line_values values{};
    values.bits = v == gpio::level::high ? 1u : 0u;
    values.mask = 1;  // the request's only line
    if (const int r = sys_.ioctl(l.fd, GPIO_V2_LINE_SET_VALUES_IOCTL, &values); r < 0)
      return errc_from_errno(-r);
    return ok();
  }

  /// The level of a requested line now (GPIO_V2_LINE_GET_VALUES_IOCTL; an output reads back).
  /// Errors: host_closed, gpio_line_out_of_range, host_gpio_line_released, the ioctl's errno.
  [[nodiscard]] result<gpio::level> get_value(std::uint16_t line) noexcept {
    VIREO_TRY(check_line(line));
    line_state& l = lines_[line];
    if (l.fd < 0) return errc::host_gpio_line_released;
    gpio_v2_line_values values{};
    values.mask = 1;  // the kernel refuses an empty mask (EINVAL)
    if (const int r = sys_.ioctl(l.fd, GPIO_V2_LINE_GET_VALUES_IOCTL, &values); r < 0)
      return errc_from_errno(-r);
    return (values.bits & 1u) != 0 ? gpio::level::high : gpio::level::low;
  }

  /// Start (edge flags for `t`: the requested edges, both for a level type) or stop
  /// (irq_type::none) edge detection on an input line, by reconfiguring its request. Events
  /// already buffered for the line, here or in the kernel, are dropped when the edges change,
  /// so none from the old setting comes out afterwards. Errors: host_closed,
  /// gpio_line_out_of_range, gpio_bad_irq_type, host_gpio_line_released (activate the line as
  /// an input first), host_gpio_edge_on_output, the ioctl's errno.
  [[nodiscard]] result<void> watch(std::uint16_t line, gpio::irq_type t) noexcept {
    VIREO_TRY(check_line(line));
    if (!detail::valid_irq_type(t)) return errc::gpio_bad_irq_type;
    line_state& l = lines_[line];
    if (t == gpio::irq_type::none && l.watch == gpio::irq_type::none) return ok();
    if (l.fd < 0) return errc::host_gpio_line_released;
    if (l.dir == gpio::direction::out) return errc::host_gpio_edge_on_output;
    const bool edges_change = detail::gpio_edge_flags(t) != detail::gpio_edge_flags(l.watch);
    if (edges_change) {
      gpio_v2_line_config c = detail::gpio_line_config(gpio::direction::in, gpio::level::low, t);
      if (const int r = sys_.ioctl(l.fd, GPIO_V2_LINE_SET_CONFIG_IOCTL, &c); r < 0)
        return errc_from_errno(-r);
      drain(l);
    }
    l.watch = t;
    return ok();
  }

  /// The buffered or newly read level change with the oldest timestamp, mapped to its guest
  /// line; nothing when no watched line has one. Never blocks (poll timeout 0, O_NONBLOCK
  /// reads: EAGAIN = no event). A failure of poll or read leaves the event feed usable and is
  /// kept in event_error().
  [[nodiscard]] std::optional<gpio::line_event> next_event() noexcept {
    fill_pending();
    std::size_t best = count_;
    for (std::size_t i = 0; i < count_; ++i) {
      const line_state& l = lines_[i];
      if (!l.pending) continue;
      if (best == count_ || l.pending_timestamp < lines_[best].pending_timestamp) best = i;
    }
    if (best == count_) return std::nullopt;
    line_state& l = lines_[best];
    l.pending = false;
    return gpio::line_event{static_cast<std::uint16_t>(best), l.pending_edge};
  }

  // ---- For embedders ----------------------------------------------------------------------------

  /// Write the descriptors of the watched lines to `out` (as many as fit) and return how many
  /// there are: an event loop waits for POLLIN on them, then drains next_event(). The chip
  /// keeps ownership; the set changes with set_direction() and watch().
  [[nodiscard]] std::size_t event_fds(std::span<int> out) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      const line_state& l = lines_[i];
      if (l.fd < 0 || l.watch == gpio::irq_type::none) continue;
      if (n < out.size()) out[n] = l.fd;
      ++n;
    }
    return n;
  }
  /// True when next_event() holds a read event back (an event loop must not sleep then).
  [[nodiscard]] bool has_buffered_event() const noexcept {
    for (std::size_t i = 0; i < count_; ++i)
      if (lines_[i].pending) return true;
    return false;
  }
  /// The line request's descriptor (-1 while released or out of range).
  [[nodiscard]] int line_fd(std::uint16_t line) const noexcept {
    return line < count_ ? lines_[line].fd : -1;
  }
  /// The host chip's offset of a guest line (out of range: nothing).
  [[nodiscard]] std::optional<std::uint32_t> host_offset(std::uint16_t line) const noexcept {
    if (line >= count_) return std::nullopt;
    return lines_[line].host_offset;
  }
  /// The chip's descriptor (-1 once moved from).
  [[nodiscard]] int chip_fd() const noexcept { return chip_fd_; }
  /// The latest failure of the event feed (poll or read; host_no_device once the chip is gone).
  [[nodiscard]] std::optional<errc> event_error() const noexcept { return event_error_; }
  [[nodiscard]] Sys& sys() noexcept { return sys_; }

 private:
  struct line_state {
    std::uint32_t host_offset = 0;
    std::array<char, gpio_max_name_length> guest_name{};
    std::uint8_t guest_name_len = 0;
    int fd = -1;  ///< the line request; -1 while released
    gpio::direction dir = gpio::direction::none;
    gpio::irq_type watch = gpio::irq_type::none;
    bool pending = false;  ///< one event read from fd and not yet handed out
    gpio::edge pending_edge = gpio::edge::rising;
    std::uint64_t pending_timestamp = 0;
  };

  gpio_cdev_chip(Sys&& sys, int chip_fd) noexcept : sys_(std::move(sys)), chip_fd_(chip_fd) {}

  static result<void> check_guest_names(std::span<const exported_line> lines) noexcept {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const exported_line& e = lines[i];
      if (e.by == exported_line::select_by::name) {
        if (e.host_name.empty()) return errc::invalid_argument;  // "" names no line
        if (e.host_name.size() > gpio_max_name_length) return errc::host_name_too_long;
      }
      const std::string_view name = e.guest_name;
      if (name.size() > gpio_max_name_length) return errc::host_name_too_long;
      for (char c : name) {
        const auto b = static_cast<unsigned char>(c);
        if (b == 0 || b >= 0x80) return errc::gpio_name_invalid;  // §5.18.6.1
      }
      if (name.empty()) continue;
      for (std::size_t j = 0; j < i; ++j)
        if (lines[j].guest_name == name) return errc::gpio_name_duplicate;  // §5.18.6.9
    }
    return ok();
  }

  result<void> map_lines(std::span<const exported_line> lines) noexcept {
    gpiochip_info info{};
    if (const int r = sys_.ioctl(chip_fd_, GPIO_GET_CHIPINFO_IOCTL, &info); r < 0)
      return errc_from_errno(-r);
    bool any_named = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      line_state& l = lines_[i];
      const exported_line& e = lines[i];
      l = line_state{};
      std::memcpy(l.guest_name.data(), e.guest_name.data(), e.guest_name.size());
      l.guest_name_len = static_cast<std::uint8_t>(e.guest_name.size());  // <= 31: checked
      if (e.by == exported_line::select_by::name) {
        any_named = true;
      } else {
        if (e.host_offset >= info.lines) return errc::host_gpio_line_out_of_range;
        l.host_offset = e.host_offset;
      }
    }
    if (any_named) VIREO_TRY(resolve_names(lines, info.lines));
    for (std::size_t i = 0; i < lines.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (lines_[i].host_offset == lines_[j].host_offset) return errc::host_gpio_line_duplicate;
    count_ = static_cast<std::uint16_t>(lines.size());  // <= MaxLines <= 65535
    return ok();
  }

  /// One pass over the chip's lines, matching every by-name export at once.
  result<void> resolve_names(std::span<const exported_line> lines, std::uint32_t chip_lines) noexcept {
    std::array<std::uint8_t, MaxLines> matches{};  // 0, 1, or 2 = "more than one"
    for (std::uint32_t offset = 0; offset < chip_lines; ++offset) {
      gpio_v2_line_info li{};  // zeroed: the kernel refuses non-zero padding
      li.offset = offset;
      if (const int r = sys_.ioctl(chip_fd_, GPIO_V2_GET_LINEINFO_IOCTL, &li); r < 0)
        return errc_from_errno(-r);
      const std::string_view name = detail::kernel_name(li.name);
      if (name.empty()) continue;
      for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].by != exported_line::select_by::name || lines[i].host_name != name) continue;
        if (matches[i] == 0) lines_[i].host_offset = offset;
        if (matches[i] < 2) ++matches[i];
      }
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].by != exported_line::select_by::name) continue;
      if (matches[i] == 0) return errc::host_gpio_line_not_found;
      if (matches[i] > 1) return errc::host_gpio_line_name_ambiguous;
    }
    return ok();
  }

  result<void> check_line(std::uint16_t line) const noexcept {
    if (chip_fd_ < 0) return errc::host_closed;
    if (line >= count_) return errc::gpio_line_out_of_range;
    return ok();
  }

  /// GPIO_V2_GET_LINE_IOCTL for one line, then O_NONBLOCK on the new descriptor: the kernel
  /// creates it O_RDONLY | O_CLOEXEC, and a read without O_NONBLOCK waits for an event.
  /// F_SETFL changes only the status flags (O_NONBLOCK, O_APPEND, O_ASYNC, ...), none of which
  /// a fresh line descriptor has, so no F_GETFL is needed.
  result<void> request(line_state& l, const gpio_v2_line_config& config) noexcept {
    gpio_v2_line_request req{};  // zeroed: the kernel refuses non-zero padding
    req.offsets[0] = l.host_offset;
    std::memcpy(req.consumer, gpio_consumer.data(), gpio_consumer.size());
    req.config = config;
    req.num_lines = 1;
    if (const int r = sys_.ioctl(chip_fd_, GPIO_V2_GET_LINE_IOCTL, &req); r < 0)
      return errc_from_errno(-r);
    if (req.fd < 0) return errc::host_io_error;
    if (const int r = sys_.fcntl(req.fd, F_SETFL, O_NONBLOCK); r < 0) {
      (void)sys_.close(req.fd);
      return errc_from_errno(-r);
    }
    l.fd = req.fd;
    return ok();
  }

  void release(line_state& l) noexcept {
    if (l.fd >= 0) (void)sys_.close(std::exchange(l.fd, -1));
    l.dir = gpio::direction::none;
    l.watch = gpio::irq_type::none;
    l.pending = false;
  }

  /// Read and drop every event the kernel holds for the line. Bounded: the kernel's buffer
  /// holds at most GPIO_V2_LINES_MAX * 16 events (linereq_create caps event_buffer_size), so
  /// that many reads of 16 events always reach an empty buffer (EAGAIN) or a short read.
  void drain(line_state& l) noexcept {
    l.pending = false;
    std::array<gpio_v2_line_event, 16> sink;
    constexpr std::size_t max_reads = GPIO_V2_LINES_MAX * 16 / 16 + 1;
    for (std::size_t i = 0; i < max_reads; ++i) {
      const ssize_t r = sys_.read(l.fd, sink.data(), sizeof(sink));
      if (r < static_cast<ssize_t>(sizeof(sink))) break;  // empty (-EAGAIN), short, or error
    }
  }

  /// Poll the watched lines that hold no event yet, and read one event from each ready one.
  void fill_pending() noexcept {
    std::array<pollfd, MaxLines> fds;
    std::array<std::uint16_t, MaxLines> which;
    nfds_t n = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      const line_state& l = lines_[i];
      if (l.fd < 0 || l.watch == gpio::irq_type::none || l.pending) continue;
      fds[n] = pollfd{l.fd, static_cast<short>(POLLIN), 0};
      which[n] = static_cast<std::uint16_t>(i);
      ++n;
    }
    if (n == 0) return;
    const int ready = sys_.poll(fds.data(), n, 0);
    if (ready <= 0) {
      if (ready < 0 && ready != -EINTR) event_error_ = errc_from_errno(-ready);
      return;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if ((fds[k].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
        event_error_ = errc::host_no_device;  // linereq_poll: the chip was unregistered
      if ((fds[k].revents & POLLIN) != 0) read_one(lines_[which[k]]);
    }
  }

  /// Read events from a ready line until one it should report arrives (events for edges that
  /// are not watched any more, or with a bad id or offset, are skipped), or none is left.
  /// Bounded by the kernel's buffer size.
  void read_one(line_state& l) noexcept {
    for (std::size_t i = 0; i < GPIO_V2_LINES_MAX * 16; ++i) {
      gpio_v2_line_event ev{};
      const ssize_t r = sys_.read(l.fd, &ev, sizeof(ev));
      if (r == -EAGAIN) return;
      if (r < 0) {
        event_error_ = errc_from_errno(static_cast<int>(-r));
        return;
      }
      if (r != static_cast<ssize_t>(sizeof(ev))) {  // the kernel reads whole events only
        event_error_ = errc::host_io_error;
        return;
      }
      if (ev.offset != l.host_offset) continue;
      gpio::edge kind;
      if (ev.id == GPIO_V2_LINE_EVENT_RISING_EDGE) kind = gpio::edge::rising;
      else if (ev.id == GPIO_V2_LINE_EVENT_FALLING_EDGE) kind = gpio::edge::falling;
      else continue;
      if ((kind == gpio::edge::rising && l.watch == gpio::irq_type::edge_falling) ||
          (kind == gpio::edge::falling && l.watch == gpio::irq_type::edge_rising))
        continue;
      l.pending = true;
      l.pending_edge = kind;
      l.pending_timestamp = ev.timestamp_ns;
      return;
    }
  }

  void close_all() noexcept {
    for (std::size_t i = 0; i < count_; ++i) release(lines_[i]);
    if (chip_fd_ >= 0) (void)sys_.close(std::exchange(chip_fd_, -1));
  }

  [[no_unique_address]] Sys sys_;
  int chip_fd_ = -1;
  std::uint16_t count_ = 0;
  std::array<line_state, MaxLines> lines_{};
  std::optional<errc> event_error_;
};

static_assert(gpio::host_chip<gpio_cdev_chip<>>);

}  // namespace linux_host
VIREO_NAMESPACE_END
