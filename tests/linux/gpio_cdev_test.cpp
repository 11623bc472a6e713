// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/linux/gpio_cdev.hpp against the recording fake Sys: line export by offset and
// by name, the v2 line requests (flags, offsets, consumer, output values), edge flags per
// interrupt type, event mapping and ordering, and descriptor ownership.
#include "vireo/linux/gpio_cdev.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "linux/fake_sys.hpp"

using namespace vireo_linux_test;
namespace gpio = vireo::gpio;
using vireo::linux_host::exported_line;
using chip_t = vireo::linux_host::gpio_cdev_chip<fake_sys, 8>;

namespace {

constexpr int chip_fd = 5;
const std::vector<std::string> board = {"", "reset", "led0", "", "button", "led1", "", "irq"};

/// Script a successful open of an 8-line chip (with the name scan when a line is exported by
/// name), open it, and forget the calls it made.
chip_t open_chip(fake_kernel& k, std::vector<exported_line> lines) {
  k.expect(open_ok(chip_fd));
  k.expect(gpio_chipinfo(static_cast<std::uint32_t>(board.size())));
  bool named = false;
  for (const exported_line& e : lines) named |= e.by == exported_line::select_by::name;
  if (named)
    for (std::size_t i = 0; i < board.size(); ++i) k.expect(gpio_lineinfo(board));
  auto chip = chip_t::open("/dev/gpiochip0", lines, fake_sys{&k});
  REQUIRE(chip.has_value());
  REQUIRE(k.script_done());
  k.calls.clear();
  return std::move(*chip);
}

/// Script and make the request of `line` as an input (descriptor `fd`).
void activate_input(fake_kernel& k, chip_t& chip, std::uint16_t line, int fd) {
  k.expect(gpio_get_line(fd));
  k.expect(fcntl_ok(fd));
  REQUIRE(chip.set_direction(line, gpio::direction::in, gpio::level::low).has_value());
}

/// Script and start watching `line` (descriptor `fd`): SET_CONFIG, then the drain's read.
void start_watch(fake_kernel& k, chip_t& chip, std::uint16_t line, int fd, gpio::irq_type t) {
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, fd));
  k.expect(read_fail(fd, EAGAIN));
  REQUIRE(chip.watch(line, t).has_value());
}

}  // namespace

TEST_CASE("gpio_cdev: open exports a subset by offset; guest line i = exported line i") {
  fake_kernel k;
  const std::array lines{exported_line::at_offset(5, "LED"), exported_line::at_offset(2, ""),
                         exported_line::at_offset(7, "IRQ")};
  k.expect(open_ok(chip_fd));
  k.expect(gpio_chipinfo(8));
  auto chip = chip_t::open("/dev/gpiochip3", lines, fake_sys{&k});
  REQUIRE(chip.has_value());
  CHECK(k.script_done());
  REQUIRE(k.calls.size() == 2);  // no line info, no line request
  CHECK(k.calls[0].path == "/dev/gpiochip3");
  CHECK(k.calls[0].flags == (O_RDWR | O_CLOEXEC));
  CHECK(k.calls[1].request == GPIO_GET_CHIPINFO_IOCTL);
  CHECK(k.calls[1].fd == chip_fd);
  CHECK(chip->line_count() == 3);
  CHECK(chip->line_name(0) == "LED");
  CHECK(chip->line_name(1) == "");
  CHECK(chip->line_name(2) == "IRQ");
  CHECK(chip->line_name(3) == "");
  CHECK(chip->host_offset(0) == 5u);
  CHECK(chip->host_offset(1) == 2u);
  CHECK(chip->host_offset(2) == 7u);
  CHECK_FALSE(chip->host_offset(3).has_value());
  for (std::uint16_t i = 0; i < 3; ++i) CHECK(chip->line_fd(i) == -1);  // nothing requested
  CHECK(chip->chip_fd() == chip_fd);
}

TEST_CASE("gpio_cdev: open resolves host names with GPIO_V2_GET_LINEINFO_IOCTL, one pass") {
  fake_kernel k;
  const std::array lines{exported_line::named("button", "BTN"),
                         exported_line::at_offset(1, "RST"),
                         exported_line::named("irq", "ALERT")};
  k.expect(open_ok(chip_fd));
  k.expect(gpio_chipinfo(8));
  for (std::size_t i = 0; i < board.size(); ++i) k.expect(gpio_lineinfo(board));
  auto chip = chip_t::open("/dev/gpiochip0", lines, fake_sys{&k});
  REQUIRE(chip.has_value());
  CHECK(k.script_done());
  const auto infos = k.ioctls(GPIO_V2_GET_LINEINFO_IOCTL);
  REQUIRE(infos.size() == board.size());
  for (std::uint32_t i = 0; i < infos.size(); ++i) {
    const auto li = infos[i].as<gpio_v2_line_info>();
    CHECK(li.offset == i);
    CHECK(infos[i].fd == chip_fd);
    for (auto p : li.padding) CHECK(p == 0);
  }
  CHECK(chip->host_offset(0) == 4u);
  CHECK(chip->host_offset(1) == 1u);
  CHECK(chip->host_offset(2) == 7u);
  CHECK(chip->line_name(0) == "BTN");
  CHECK(chip->line_name(2) == "ALERT");
}

TEST_CASE("gpio_cdev: open refuses unknown, ambiguous, duplicate and out-of-range lines") {
  const auto refused = [](std::vector<exported_line> lines, std::vector<std::string> names,
                          errc expected) {
    fake_kernel k;
    k.expect(open_ok(chip_fd));
    k.expect(gpio_chipinfo(static_cast<std::uint32_t>(names.size())));
    bool named = false;
    for (const exported_line& e : lines) named |= e.by == exported_line::select_by::name;
    if (named)
      for (std::size_t i = 0; i < names.size(); ++i) k.expect(gpio_lineinfo(names));
    CHECK(err(chip_t::open("/dev/gpiochip0", lines, fake_sys{&k})) == expected);
    CHECK(k.script_done());
    CHECK(k.closed(chip_fd) == 1);
    CHECK(k.ioctls(GPIO_V2_GET_LINE_IOCTL).empty());
  };
  refused({exported_line::named("nope", "X")}, board, errc::host_gpio_line_not_found);
  refused({exported_line::named("led", "X")}, {"led", "x", "led"},
          errc::host_gpio_line_name_ambiguous);
  refused({exported_line::at_offset(2, "A"), exported_line::named("led0", "B")}, board,
          errc::host_gpio_line_duplicate);
  refused({exported_line::at_offset(3, "A"), exported_line::at_offset(3, "B")}, board,
          errc::host_gpio_line_duplicate);
  refused({exported_line::at_offset(8, "A")}, board, errc::host_gpio_line_out_of_range);
  refused({exported_line::at_offset(0, "A"), exported_line::at_offset(0xFFFFFFFF, "B")}, board,
          errc::host_gpio_line_out_of_range);
}

TEST_CASE("gpio_cdev: open checks the export list and guest names before any system call") {
  fake_kernel k;
  const auto bad = [&k](std::vector<exported_line> lines) {
    return err(chip_t::open("/dev/gpiochip0", lines, fake_sys{&k}));
  };
  CHECK(bad({}) == errc::gpio_no_lines);
  CHECK(bad(std::vector<exported_line>(9, exported_line::at_offset(0, ""))) ==
        errc::host_gpio_too_many_lines);
  CHECK(bad({exported_line::at_offset(0, "caf\xC3\xA9")}) == errc::gpio_name_invalid);
  CHECK(bad({exported_line::at_offset(0, std::string_view{"a\0b", 3})}) ==
        errc::gpio_name_invalid);
  CHECK(bad({exported_line::at_offset(0, "SDA"), exported_line::at_offset(1, "SDA")}) ==
        errc::gpio_name_duplicate);
  CHECK(bad({exported_line::at_offset(0, std::string(32, 'n'))}) == errc::host_name_too_long);
  CHECK(bad({exported_line::named(std::string(32, 'h'), "X")}) == errc::host_name_too_long);
  CHECK(bad({exported_line::named("", "X")}) == errc::invalid_argument);
  CHECK(k.calls.empty());

  // Unnamed lines may repeat (only non-empty names must be unique, §5.18.6.9), and a name of 31
  // characters fits.
  k.expect(open_ok(chip_fd));
  k.expect(gpio_chipinfo(8));
  const std::string longest(31, 'n');
  auto ok = chip_t::open("/dev/gpiochip0",
                         std::vector{exported_line::at_offset(0, ""),
                                     exported_line::at_offset(1, ""),
                                     exported_line::at_offset(2, longest)},
                         fake_sys{&k});
  REQUIRE(ok.has_value());
  CHECK(ok->line_name(2) == longest);
}

TEST_CASE("gpio_cdev: open failures are typed and leave nothing open") {
  const std::array lines{exported_line::at_offset(0, "A")};
  fake_kernel k;
  SUBCASE("no chip") {
    k.expect(open_fail(ENOENT));
    CHECK(err(chip_t::open("/dev/gpiochip9", lines, fake_sys{&k})) == errc::host_no_device);
  }
  SUBCASE("no permission") {
    k.expect(open_fail(EACCES));
    CHECK(err(chip_t::open("/dev/gpiochip0", lines, fake_sys{&k})) ==
          errc::host_permission_denied);
  }
  SUBCASE("not a gpiochip") {
    k.expect(open_ok(chip_fd));
    k.expect(ioctl_ret(GPIO_GET_CHIPINFO_IOCTL, -ENOTTY));
    CHECK(err(chip_t::open("/dev/null", lines, fake_sys{&k})) == errc::host_not_supported);
    CHECK(k.closed(chip_fd) == 1);
  }
  SUBCASE("line info fails") {
    k.expect(open_ok(chip_fd));
    k.expect(gpio_chipinfo(8));
    k.expect(ioctl_ret(GPIO_V2_GET_LINEINFO_IOCTL, -EIO));
    CHECK(err(chip_t::open("/dev/gpiochip0", std::array{exported_line::named("led0", "L")},
                           fake_sys{&k})) == errc::host_io_error);
    CHECK(k.closed(chip_fd) == 1);
  }
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: a line is requested when activated and released on direction none") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B")});
  k.expect(gpio_get_line(20));
  k.expect(fcntl_ok(20));
  REQUIRE(chip.set_direction(0, gpio::direction::in, gpio::level::low).has_value());
  CHECK(k.script_done());
  REQUIRE(k.calls.size() == 2);
  const call& get = k.calls[0];
  CHECK(get.request == GPIO_V2_GET_LINE_IOCTL);
  CHECK(get.fd == chip_fd);
  const auto req = get.as<gpio_v2_line_request>();
  CHECK(req.num_lines == 1);
  CHECK(req.offsets[0] == 5);
  CHECK(std::string{req.consumer} == "vireo");
  CHECK(req.config.flags == GPIO_V2_LINE_FLAG_INPUT);
  CHECK(req.config.num_attrs == 0);
  CHECK(req.event_buffer_size == 0);
  for (auto p : req.padding) CHECK(p == 0);
  for (auto p : req.config.padding) CHECK(p == 0);
  const call& nb = k.calls[1];
  CHECK(nb.fd == 20);
  CHECK(nb.cmd == F_SETFL);
  CHECK(nb.cmd_arg == O_NONBLOCK);
  CHECK(chip.line_fd(0) == 20);
  CHECK(chip.line_fd(1) == -1);  // the other exported line is not touched

  k.expect(gpio_get_values(20, 1));
  CHECK(chip.get_value(0).value() == gpio::level::high);
  CHECK(k.calls.back().as<gpio_v2_line_values>().mask == 1);
  k.expect(gpio_get_values(20, 0));
  CHECK(chip.get_value(0).value() == gpio::level::low);

  REQUIRE(chip.set_direction(0, gpio::direction::none, gpio::level::low).has_value());
  CHECK(k.closed(20) == 1);
  CHECK(chip.line_fd(0) == -1);
  CHECK(err(chip.get_value(0)) == errc::host_gpio_line_released);
  CHECK(err(chip.set_value(0, gpio::level::high)) == errc::host_gpio_line_released);
  REQUIRE(chip.set_direction(0, gpio::direction::none, gpio::level::low).has_value());  // again
  CHECK(k.closed(20) == 1);
  CHECK(k.script_done());
  for (const call& c : k.calls) CHECK(c.fd != 21);
}

TEST_CASE("gpio_cdev: an output is requested with its initial value; values and reconfiguration") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B")});
  k.expect(gpio_get_line(21));
  k.expect(fcntl_ok(21));
  REQUIRE(chip.set_direction(1, gpio::direction::out, gpio::level::high).has_value());
  const auto req = k.calls.at(0).as<gpio_v2_line_request>();
  CHECK(req.offsets[0] == 2);
  CHECK(req.config.flags == GPIO_V2_LINE_FLAG_OUTPUT);
  REQUIRE(req.config.num_attrs == 1);
  CHECK(req.config.attrs[0].attr.id == GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES);
  CHECK(req.config.attrs[0].attr.values == 1);
  CHECK(req.config.attrs[0].mask == 1);

  k.expect(ioctl_ret(GPIO_V2_LINE_SET_VALUES_IOCTL, 0, 21));
  REQUIRE(chip.set_value(1, gpio::level::low).has_value());
  auto v = k.calls.back().as<gpio_v2_line_values>();
  CHECK(v.bits == 0);
  CHECK(v.mask == 1);
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_VALUES_IOCTL, 0, 21));
  REQUIRE(chip.set_value(1, gpio::level::high).has_value());
  CHECK(k.calls.back().as<gpio_v2_line_values>().bits == 1);

  // out again with another level: the same request is reconfigured, never released.
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, 21));
  REQUIRE(chip.set_direction(1, gpio::direction::out, gpio::level::low).has_value());
  auto cfg = k.calls.back().as<gpio_v2_line_config>();
  CHECK(cfg.flags == GPIO_V2_LINE_FLAG_OUTPUT);
  CHECK(cfg.num_attrs == 1);
  CHECK(cfg.attrs[0].attr.values == 0);
  // out -> in.
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, 21));
  REQUIRE(chip.set_direction(1, gpio::direction::in, gpio::level::low).has_value());
  cfg = k.calls.back().as<gpio_v2_line_config>();
  CHECK(cfg.flags == GPIO_V2_LINE_FLAG_INPUT);
  CHECK(cfg.num_attrs == 0);
  CHECK(k.closed(21) == 0);
  CHECK(k.ioctls(GPIO_V2_GET_LINE_IOCTL).size() == 1);
  // An input takes no value (the kernel would answer EPERM): refused before the ioctl.
  const std::size_t before = k.calls.size();
  CHECK(err(chip.set_value(1, gpio::level::high)) == errc::host_gpio_line_not_output);
  CHECK(k.calls.size() == before);
  // A failing reconfiguration keeps the old direction.
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, -EIO, 21));
  CHECK(err(chip.set_direction(1, gpio::direction::out, gpio::level::low)) ==
        errc::host_io_error);
  CHECK(err(chip.set_value(1, gpio::level::high)) == errc::host_gpio_line_not_output);
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: request failures leave the line released") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A")});
  k.expect(ioctl_ret(GPIO_V2_GET_LINE_IOCTL, -EBUSY));  // a driver or another process has it
  CHECK(err(chip.set_direction(0, gpio::direction::in, gpio::level::low)) == errc::host_busy);
  CHECK(chip.line_fd(0) == -1);
  CHECK(k.count(call_kind::fcntl) == 0);
  k.expect(gpio_get_line(22));
  k.expect({call_kind::fcntl, std::nullopt, 22, -EINVAL, {}});
  CHECK(err(chip.set_direction(0, gpio::direction::in, gpio::level::low)) ==
        errc::host_rejected);
  CHECK(k.closed(22) == 1);  // the half-made request is given back
  CHECK(chip.line_fd(0) == -1);
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: arguments out of range are refused without a system call") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A")});
  CHECK(err(chip.set_direction(1, gpio::direction::in, gpio::level::low)) ==
        errc::gpio_line_out_of_range);
  CHECK(err(chip.get_value(1)) == errc::gpio_line_out_of_range);
  CHECK(err(chip.set_value(1, gpio::level::low)) == errc::gpio_line_out_of_range);
  CHECK(err(chip.watch(1, gpio::irq_type::edge_rising)) == errc::gpio_line_out_of_range);
  CHECK(err(chip.set_direction(0, static_cast<gpio::direction>(3), gpio::level::low)) ==
        errc::gpio_bad_direction);
  CHECK(err(chip.set_direction(0, gpio::direction::out, static_cast<gpio::level>(2))) ==
        errc::gpio_bad_value);
  CHECK(err(chip.set_value(0, static_cast<gpio::level>(2))) == errc::gpio_bad_value);
  for (int t : {5, 6, 7, 9, 0x10, 0xFF})
    CHECK(err(chip.watch(0, static_cast<gpio::irq_type>(t))) == errc::gpio_bad_irq_type);
  CHECK(k.calls.empty());
}

TEST_CASE("gpio_cdev: watch() sets the edge flags of each interrupt type by SET_CONFIG") {
  const std::pair<gpio::irq_type, std::uint64_t> cases[] = {
      {gpio::irq_type::edge_rising, GPIO_V2_LINE_FLAG_EDGE_RISING},
      {gpio::irq_type::edge_falling, GPIO_V2_LINE_FLAG_EDGE_FALLING},
      {gpio::irq_type::edge_both, GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING},
      {gpio::irq_type::level_high, GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING},
      {gpio::irq_type::level_low, GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING},
  };
  for (const auto& entry : cases) {
    const gpio::irq_type type = entry.first;  // not a structured binding: clang 14 cannot
    const std::uint64_t edges = entry.second;  // capture those (CAPTURE)
    const int type_value = static_cast<int>(type);
    CAPTURE(type_value);
    fake_kernel k;
    auto chip = open_chip(k, {exported_line::at_offset(5, "A")});
    activate_input(k, chip, 0, 20);
    k.calls.clear();
    start_watch(k, chip, 0, 20, type);
    REQUIRE(k.calls.size() == 2);
    CHECK(k.calls[0].request == GPIO_V2_LINE_SET_CONFIG_IOCTL);
    CHECK(k.calls[0].fd == 20);
    const auto cfg = k.calls[0].as<gpio_v2_line_config>();
    CHECK(cfg.flags == (GPIO_V2_LINE_FLAG_INPUT | edges));
    CHECK(cfg.num_attrs == 0);
    CHECK(k.calls[1].kind == call_kind::read);  // stale events drained
    int fds[4] = {};
    CHECK(chip.event_fds(fds) == 1);
    CHECK(fds[0] == 20);

    // Re-activating as an input keeps the edges; stopping clears them and drains again.
    k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, 20));
    REQUIRE(chip.set_direction(0, gpio::direction::in, gpio::level::low).has_value());
    CHECK(k.calls.back().as<gpio_v2_line_config>().flags == (GPIO_V2_LINE_FLAG_INPUT | edges));
    k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, 20));
    k.expect(read_fail(20, EAGAIN));
    REQUIRE(chip.watch(0, gpio::irq_type::none).has_value());
    CHECK(k.ioctls(GPIO_V2_LINE_SET_CONFIG_IOCTL).back().as<gpio_v2_line_config>().flags ==
          GPIO_V2_LINE_FLAG_INPUT);
    CHECK(chip.event_fds({}) == 0);
    REQUIRE(chip.watch(0, gpio::irq_type::none).has_value());  // already off: no call
    CHECK(k.script_done());
  }
}

TEST_CASE("gpio_cdev: watch() rules: inputs only, same edges need no call, release drops it") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B")});
  CHECK(err(chip.watch(0, gpio::irq_type::edge_rising)) == errc::host_gpio_line_released);
  k.expect(gpio_get_line(21));
  k.expect(fcntl_ok(21));
  REQUIRE(chip.set_direction(1, gpio::direction::out, gpio::level::low).has_value());
  CHECK(err(chip.watch(1, gpio::irq_type::level_high)) == errc::host_gpio_edge_on_output);

  activate_input(k, chip, 0, 20);
  start_watch(k, chip, 0, 20, gpio::irq_type::edge_both);
  const std::size_t before = k.calls.size();
  REQUIRE(chip.watch(0, gpio::irq_type::level_low).has_value());  // both edges either way
  CHECK(k.calls.size() == before);
  // An output cannot keep edge detection (gpio_v2_line_flags_validate: edges need INPUT).
  CHECK(err(chip.set_direction(0, gpio::direction::out, gpio::level::low)) ==
        errc::host_gpio_edge_on_output);
  CHECK(k.calls.size() == before);
  // Release drops the watch with everything else (§5.18.6.9); a new request has no edges.
  REQUIRE(chip.set_direction(0, gpio::direction::none, gpio::level::low).has_value());
  CHECK(k.closed(20) == 1);
  activate_input(k, chip, 0, 23);
  CHECK(k.calls.at(k.calls.size() - 2).as<gpio_v2_line_request>().config.flags ==
        GPIO_V2_LINE_FLAG_INPUT);
  CHECK(chip.event_fds({}) == 0);
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: events come out in timestamp order across lines, mapped to guest lines") {
  fake_kernel k;
  // Guest line 0 = host 5, guest line 1 = host 2, guest line 2 = host 7 (never watched).
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B"),
                            exported_line::at_offset(7, "C")});
  activate_input(k, chip, 0, 20);
  activate_input(k, chip, 1, 21);
  activate_input(k, chip, 2, 22);
  start_watch(k, chip, 0, 20, gpio::irq_type::edge_both);
  start_watch(k, chip, 1, 21, gpio::irq_type::level_high);
  int fds[2] = {};
  CHECK(chip.event_fds(fds) == 2);
  CHECK(fds[0] == 20);
  CHECK(fds[1] == 21);
  k.calls.clear();

  // Both lines have an event; line 1's is older.
  k.expect(poll_ready({20, 21}));
  k.expect(read_event(20, 200, GPIO_V2_LINE_EVENT_RISING_EDGE, 5));
  k.expect(read_event(21, 100, GPIO_V2_LINE_EVENT_FALLING_EDGE, 2));
  auto e = chip.next_event();
  REQUIRE(e.has_value());
  CHECK(*e == gpio::line_event{1, gpio::edge::falling});
  CHECK(chip.has_buffered_event());
  const call& p = k.calls.at(0);
  CHECK(p.timeout == 0);
  REQUIRE(p.pollfds.size() == 2);  // only watched lines; line 2 is not
  CHECK(p.pollfds[0].fd == 20);
  CHECK(p.pollfds[0].events == POLLIN);
  CHECK(p.pollfds[1].fd == 21);
  CHECK(k.calls.at(1).len == sizeof(gpio_v2_line_event));

  // Line 0 still holds its event (ts 200), so only line 1 is polled; its next one is newer.
  k.expect(poll_ready({21}));
  k.expect(read_event(21, 300, GPIO_V2_LINE_EVENT_RISING_EDGE, 2));
  e = chip.next_event();
  REQUIRE(e.has_value());
  CHECK(*e == gpio::line_event{0, gpio::edge::rising});
  CHECK(k.calls.at(3).pollfds.size() == 1);
  CHECK(k.calls.at(3).pollfds[0].fd == 21);

  k.expect(poll_ready({}));
  e = chip.next_event();
  REQUIRE(e.has_value());
  CHECK(*e == gpio::line_event{1, gpio::edge::rising});
  CHECK_FALSE(chip.has_buffered_event());

  k.expect(poll_ready({}));
  CHECK_FALSE(chip.next_event().has_value());
  CHECK(k.script_done());
  CHECK_FALSE(chip.event_error().has_value());
  for (const call& c : k.calls) CHECK(c.fd != 22);
}

TEST_CASE("gpio_cdev: equal timestamps keep guest line order; nothing watched means no poll") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B")});
  CHECK_FALSE(chip.next_event().has_value());
  CHECK(k.calls.empty());
  activate_input(k, chip, 0, 20);
  activate_input(k, chip, 1, 21);
  start_watch(k, chip, 1, 21, gpio::irq_type::edge_falling);
  start_watch(k, chip, 0, 20, gpio::irq_type::edge_rising);
  k.expect(poll_ready({20, 21}));
  k.expect(read_event(20, 50, GPIO_V2_LINE_EVENT_RISING_EDGE, 5));
  k.expect(read_event(21, 50, GPIO_V2_LINE_EVENT_FALLING_EDGE, 2));
  CHECK(chip.next_event() == gpio::line_event{0, gpio::edge::rising});
  k.expect(poll_ready({}));
  CHECK(chip.next_event() == gpio::line_event{1, gpio::edge::falling});
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: EAGAIN is no event; stray events are skipped; failures are kept") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A")});
  activate_input(k, chip, 0, 20);
  start_watch(k, chip, 0, 20, gpio::irq_type::edge_rising);

  SUBCASE("ready, but the read finds nothing") {
    k.expect(poll_ready({20}));
    k.expect(read_fail(20, EAGAIN));
    CHECK_FALSE(chip.next_event().has_value());
    CHECK_FALSE(chip.event_error().has_value());
  }
  SUBCASE("a falling edge on a rising-only watch, a bad id and another offset are skipped") {
    k.expect(poll_ready({20}));
    k.expect(read_event(20, 10, GPIO_V2_LINE_EVENT_FALLING_EDGE, 5));
    k.expect(read_event(20, 11, 7, 5));
    k.expect(read_event(20, 12, GPIO_V2_LINE_EVENT_RISING_EDGE, 4));
    k.expect(read_event(20, 13, GPIO_V2_LINE_EVENT_RISING_EDGE, 5));
    CHECK(chip.next_event() == gpio::line_event{0, gpio::edge::rising});
  }
  SUBCASE("a read error") {
    k.expect(poll_ready({20}));
    k.expect(read_fail(20, EIO));
    CHECK_FALSE(chip.next_event().has_value());
    CHECK(chip.event_error() == errc::host_io_error);
  }
  SUBCASE("the chip went away: POLLERR | POLLHUP, then ENODEV") {
    k.expect(poll_ready({20}, POLLERR | POLLHUP));
    k.expect(read_fail(20, ENODEV));
    CHECK_FALSE(chip.next_event().has_value());
    CHECK(chip.event_error() == errc::host_no_device);
  }
  SUBCASE("poll fails") {
    k.expect({call_kind::poll, std::nullopt, std::nullopt, -ENOMEM, {}});
    CHECK_FALSE(chip.next_event().has_value());
    CHECK(chip.event_error() == errc::host_io_error);
  }
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: stopping a watch drops the buffered event and drains the kernel's") {
  fake_kernel k;
  auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B")});
  activate_input(k, chip, 0, 20);
  activate_input(k, chip, 1, 21);
  start_watch(k, chip, 0, 20, gpio::irq_type::edge_both);
  start_watch(k, chip, 1, 21, gpio::irq_type::edge_both);
  k.expect(poll_ready({20, 21}));
  k.expect(read_event(20, 1, GPIO_V2_LINE_EVENT_RISING_EDGE, 5));
  k.expect(read_event(21, 2, GPIO_V2_LINE_EVENT_RISING_EDGE, 2));
  CHECK(chip.next_event() == gpio::line_event{0, gpio::edge::rising});
  // Line 1's event (ts 2) is buffered; disabling the interrupt drops it, and 16 + 3 more in the
  // kernel: a full read of 16, then a short one.
  k.expect(ioctl_ret(GPIO_V2_LINE_SET_CONFIG_IOCTL, 0, 21));
  k.expect({call_kind::read, std::nullopt, 21, 16 * static_cast<long>(sizeof(gpio_v2_line_event)),
            {}});
  k.expect({call_kind::read, std::nullopt, 21, 3 * static_cast<long>(sizeof(gpio_v2_line_event)),
            {}});
  REQUIRE(chip.watch(1, gpio::irq_type::none).has_value());
  CHECK_FALSE(chip.has_buffered_event());
  k.expect(poll_ready({}));
  CHECK_FALSE(chip.next_event().has_value());
  CHECK(k.calls.back().pollfds.size() == 1);  // line 1 is no longer polled
  CHECK(k.script_done());
}

TEST_CASE("gpio_cdev: descriptors are closed once, by whoever owns them last") {
  fake_kernel k;
  {
    auto chip = open_chip(k, {exported_line::at_offset(5, "A"), exported_line::at_offset(2, "B"),
                              exported_line::at_offset(7, "C")});
    activate_input(k, chip, 0, 20);
    activate_input(k, chip, 2, 22);
    chip_t moved{std::move(chip)};
    CHECK(chip.chip_fd() == -1);
    CHECK(chip.line_fd(0) == -1);
    CHECK(moved.line_fd(0) == 20);
    CHECK(moved.line_name(2) == "C");
    CHECK(err(chip.set_direction(0, gpio::direction::none, gpio::level::low)) ==
          errc::host_closed);
    CHECK(err(chip.get_value(0)) == errc::host_closed);
    CHECK_FALSE(chip.next_event().has_value());
    CHECK(k.count(call_kind::close) == 0);
  }
  CHECK(k.closed(20) == 1);
  CHECK(k.closed(22) == 1);
  CHECK(k.closed(chip_fd) == 1);
  CHECK(k.count(call_kind::close) == 3);

  fake_kernel k2;
  auto a = open_chip(k2, {exported_line::at_offset(5, "A")});
  activate_input(k2, a, 0, 20);
  k2.expect(open_ok(6));
  k2.expect(gpio_chipinfo(8));
  auto b = chip_t::open("/dev/gpiochip1", std::array{exported_line::at_offset(1, "Z")},
                        fake_sys{&k2});
  REQUIRE(b.has_value());
  a = std::move(*b);  // a's line and chip descriptors are closed, b's move in
  CHECK(k2.closed(20) == 1);
  CHECK(k2.closed(chip_fd) == 1);
  CHECK(k2.closed(6) == 0);
  CHECK(a.chip_fd() == 6);
  CHECK(a.line_name(0) == "Z");
}
