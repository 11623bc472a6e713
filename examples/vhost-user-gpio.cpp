// SPDX-License-Identifier: Apache-2.0
// vhost-user-gpio: a virtio-gpio back-end daemon for QEMU (-device vhost-user-gpio-pci) or any
// other vhost-user front-end. By default each socket gets its own simulated chip of 8 named lines
// (loop-out wired to loop-in, sd-detect reading high). With --gpiochip, the guest gets a chosen
// subset of a host gpiochip's lines instead, under the names given.
#include <vireo/gpio/sim/chip.hpp>
#include <vireo/linux/gpio_cdev.hpp>
#include <vireo/vhost_user/backend/gpio_device_model.hpp>

#include <charconv>
#include <deque>
#include <optional>

#include "vhost_user_daemon.hpp"

namespace {

namespace gpio = vireo::gpio;
namespace be = vireo::vhost_user::backend;
namespace lh = vireo::linux_host;
using daemon_support::instance;
using daemon_support::log_observer;

constexpr std::string_view name = "vhost-user-gpio";

constexpr std::array<std::string_view, 8> sim_names{
    "led-green", "led-red", "reset-n", "sd-detect", "pwr-good", "spare", "loop-out", "loop-in"};
constexpr std::uint16_t sd_detect = 3, loop_out = 6, loop_in = 7;

void usage() {
  fmt::print(
      "usage: {0} --socket-path PATH [--socket-path PATH2 ...] [options]\n"
      "Serves virtio-gpio (device 41) over vhost-user on each socket, one device per socket.\n"
      "\n"
      "  -s, --socket-path PATH  listen on PATH (repeat for several devices)\n"
      "  --gpiochip DEV          use host chip DEV (/dev/gpiochipN) instead of the simulation\n"
      "  --lines LIST            with --gpiochip: the lines the guest gets, in guest order,\n"
      "                          comma-separated HOST=GUESTNAME, HOST a line offset or the\n"
      "                          chip's name for the line (3=sd-detect,led0=status-led)\n"
      "  --no-irq                do not offer VIRTIO_GPIO_F_IRQ\n"
      "  --once                  exit when every socket's front-end has disconnected\n"
      "  -v, --verbose           log every vhost-user request\n"
      "  -h, --help              this text\n"
      "\n"
      "Simulated chip (default): 8 lines led-green led-red reset-n sd-detect pwr-good spare\n"
      "loop-out loop-in; loop-out (6) drives loop-in (7); sd-detect (3) reads high.\n"
      "QEMU: -chardev socket,id=gpio,path=PATH -device vhost-user-gpio-pci,chardev=gpio\n"
      "      (guest RAM must be shared: -object memory-backend-memfd,...,share=on)\n",
      name);
}

/// Parse "HOST=GUEST,..." into exports whose names view `storage` (kept alive by the caller).
bool parse_lines(std::string_view list, std::deque<std::string>& storage,
                 std::vector<lh::exported_line>& out) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    const std::string_view host = storage.emplace_back(item.substr(0, eq));
    const std::string_view guest = storage.emplace_back(item.substr(eq + 1));
    unsigned offset = 0;
    const auto [p, ec] = std::from_chars(host.data(), host.data() + host.size(), offset);
    if (ec == std::errc{} && p == host.data() + host.size())
      out.push_back(lh::exported_line::at_offset(offset, guest));
    else
      out.push_back(lh::exported_line::named(host, guest));
  }
  return !out.empty();
}

template <typename Chip, std::size_t MaxLines>
struct gpio_instance : instance {
  using model_type = be::gpio_device_model<Chip, 32, MaxLines>;
  gpio_instance(const std::string& path, bool verbose, const be::gpio_model_options& opt)
      : observer(fmt::format("{} {}", name, path), verbose), options(opt) {
    log = &observer;
  }
  lh::loop_endpoint& endpoint() override { return *server; }
  vireo::result<void> start(const std::string& path, lh::epoll_set& ep, std::uint32_t id) override {
    model.emplace(*chip, options);
    server.emplace(*model, &observer);
    return server->start(path, ep, id);  // builds the device: names are checked here
  }

  log_observer observer;
  be::gpio_model_options options;
  std::optional<Chip> chip;
  std::optional<model_type> model;
  std::optional<daemon_support::server_for<model_type, 2>> server;
};

using sim_chip = gpio::sim::chip<8, 64>;

std::unique_ptr<instance> make_sim(const std::string& path, bool verbose,
                                   const be::gpio_model_options& opt) {
  auto inst = std::make_unique<gpio_instance<sim_chip, 8>>(path, verbose, opt);
  inst->chip.emplace(static_cast<std::uint16_t>(sim_names.size()));
  for (std::uint16_t l = 0; l < sim_names.size(); ++l) inst->chip->set_name(l, sim_names[l]);
  inst->chip->set_input(sd_detect, gpio::level::high);
  if (auto r = inst->chip->connect(loop_out, loop_in); !r) return nullptr;
  return inst;
}

}  // namespace

int main(int argc, char** argv) {
  daemon_support::common_options o;
  std::string chip_path;
  std::deque<std::string> names;
  std::vector<lh::exported_line> lines;
  be::gpio_model_options opt;
  const bool parsed = daemon_support::parse(
      argc, argv, name, o, [&](std::string_view flag, std::string_view value) -> int {
        if (flag == "--gpiochip") {
          chip_path = value;
          return value.empty() ? -1 : 2;
        }
        if (flag == "--lines") {
          if (parse_lines(value, names, lines)) return 2;
          fmt::print(stderr, "{}: --lines: bad list '{}'\n", name, value);
          return -1;
        }
        if (flag == "--no-irq") {
          opt.device.offer_irq = false;
          return 1;
        }
        return 0;
      });
  if (!parsed) return 2;
  if (o.help) {
    usage();
    return 0;
  }
  if (!chip_path.empty() && lines.empty()) {
    fmt::print(stderr, "{}: --gpiochip needs --lines\n", name);
    return 2;
  }

  return daemon_support::serve(name, o, [&](const std::string& path) -> std::unique_ptr<instance> {
    if (chip_path.empty()) return make_sim(path, o.verbose, opt);
    using host_chip = lh::gpio_cdev_chip<>;
    auto chip = host_chip::open(chip_path, lines);
    if (!chip) {
      fmt::print(stderr, "{}: {}: {}\n", name, chip_path, example::errc_text(chip.error()));
      return nullptr;
    }
    be::gpio_model_options host_opt = opt;
    host_opt.host_poll_ms = 5;  // a host line can fire at any time
    auto inst = std::make_unique<gpio_instance<host_chip, host_chip::max_lines>>(path, o.verbose, host_opt);
    inst->chip.emplace(std::move(*chip));
    return inst;
  });
}
