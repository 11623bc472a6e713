// SPDX-License-Identifier: Apache-2.0
// vhost-user-i2c: a virtio-i2c back-end daemon for QEMU (-device vhost-user-i2c-pci) or any other
// vhost-user front-end. By default each socket gets its own simulated bus: a 24C02 EEPROM at
// 0x50 (cell i holds i) and a 16-register chip at 0x20 (registers 0-3: 5a 01 19 80; register 0
// read-only). With --i2c-dev, the guest reaches a host adapter instead, limited to --allow.
#include <vireo/i2c/sim/bus.hpp>
#include <vireo/i2c/sim/eeprom_24c02.hpp>
#include <vireo/i2c/sim/register_map.hpp>
#include <vireo/linux/i2c_allow_list.hpp>
#include <vireo/linux/i2c_dev.hpp>
#include <vireo/vhost_user/backend/i2c_device_model.hpp>

#include <charconv>
#include <optional>

#include "vhost_user_daemon.hpp"

namespace {

namespace i2c = vireo::i2c;
namespace be = vireo::vhost_user::backend;
namespace lh = vireo::linux_host;
using daemon_support::instance;
using daemon_support::log_observer;

constexpr std::string_view name = "vhost-user-i2c";

void usage() {
  fmt::print(
      "usage: {0} --socket-path PATH [--socket-path PATH2 ...] [options]\n"
      "Serves virtio-i2c (device 34) over vhost-user on each socket, one device per socket.\n"
      "\n"
      "  -s, --socket-path PATH  listen on PATH (repeat for several devices)\n"
      "  --i2c-dev DEV           use the host adapter DEV (/dev/i2c-N) instead of the simulation\n"
      "  --allow LIST            with --i2c-dev: the 7-bit addresses the guest may reach,\n"
      "                          comma-separated hex (0x50,0x51); nothing else is reachable\n"
      "  --once                  exit when every socket's front-end has disconnected\n"
      "  -v, --verbose           log every vhost-user request\n"
      "  -h, --help              this text\n"
      "\n"
      "Simulated bus (default): 24C02 EEPROM at 0x50 (cell i = i), register chip at 0x20\n"
      "(registers 0x00-0x03 = 5a 01 19 80, the rest 0; register 0x00 read-only).\n"
      "QEMU: -chardev socket,id=i2c,path=PATH -device vhost-user-i2c-pci,chardev=i2c\n"
      "      (guest RAM must be shared: -object memory-backend-memfd,...,share=on)\n",
      name);
}

std::optional<lh::i2c_allow_list> parse_allow(std::string_view list) {
  lh::i2c_allow_list allow;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.starts_with("0x") || item.starts_with("0X")) item.remove_prefix(2);
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v, 16);
    if (ec != std::errc{} || p != item.data() + item.size() || v > 0x7F) return std::nullopt;
    const auto a = i2c::address::seven_bit(static_cast<std::uint16_t>(v));
    if (!a || !allow.allow(*a)) return std::nullopt;
  }
  return allow;
}

/// One socket's device over bus type `Bus`.
template <typename Bus>
struct i2c_instance : instance {
  using model_type = be::i2c_device_model<Bus>;
  i2c_instance(const std::string& path, bool verbose)
      : observer(fmt::format("{} {}", name, path), verbose) {
    log = &observer;
  }
  lh::loop_endpoint& endpoint() override { return *server; }
  vireo::result<void> start(const std::string& path, lh::epoll_set& ep, std::uint32_t id) override {
    model.emplace(*bus);
    server.emplace(*model, &observer);
    return server->start(path, ep, id);
  }

  log_observer observer;
  std::optional<Bus> bus;
  std::optional<model_type> model;
  std::optional<daemon_support::server_for<model_type, 1>> server;
};

/// The simulated bus with its two targets.
struct sim_parts {
  i2c::sim::eeprom_24c02 eeprom;
  i2c::sim::register_map<16> regs;
};

struct sim_instance : i2c_instance<i2c::sim::bus<>> {
  sim_instance(const std::string& path, bool verbose) : i2c_instance(path, verbose) {
    for (std::size_t i = 0; i < parts.eeprom.contents().size(); ++i)
      parts.eeprom.contents()[i] = static_cast<std::byte>(i);
    constexpr std::array<std::uint8_t, 4> sensor{0x5A, 0x01, 0x19, 0x80};
    for (std::size_t r = 0; r < sensor.size(); ++r) parts.regs.set(r, sensor[r]);
    parts.regs.set_read_only(0);
    bus.emplace();
    (void)bus->attach(*i2c::address::seven_bit(0x50), parts.eeprom);
    (void)bus->attach(*i2c::address::seven_bit(0x20), parts.regs);
  }
  sim_parts parts;
};

}  // namespace

int main(int argc, char** argv) {
  daemon_support::common_options o;
  std::string i2c_dev;
  std::optional<lh::i2c_allow_list> allow;
  const bool parsed = daemon_support::parse(
      argc, argv, name, o, [&](std::string_view flag, std::string_view value) -> int {
        if (flag == "--i2c-dev") {
          i2c_dev = value;
          return value.empty() ? -1 : 2;
        }
        if (flag == "--allow") {
          allow = parse_allow(value);
          if (!allow) fmt::print(stderr, "{}: --allow: bad address list '{}'\n", name, value);
          return allow ? 2 : -1;
        }
        return 0;
      });
  if (!parsed) return 2;
  if (o.help) {
    usage();
    return 0;
  }
  if (!i2c_dev.empty() && (!allow || allow->empty())) {
    fmt::print(stderr, "{}: --i2c-dev needs --allow with at least one address\n", name);
    return 2;
  }

  return daemon_support::serve(name, o, [&](const std::string& path) -> std::unique_ptr<instance> {
    if (i2c_dev.empty()) return std::make_unique<sim_instance>(path, o.verbose);
    auto bus = lh::i2c_dev_bus<>::open(i2c_dev, *allow);
    if (!bus) {
      fmt::print(stderr, "{}: {}: {}\n", name, i2c_dev, example::errc_text(bus.error()));
      return nullptr;
    }
    auto inst = std::make_unique<i2c_instance<lh::i2c_dev_bus<>>>(path, o.verbose);
    inst->bus.emplace(std::move(*bus));
    return inst;
  });
}
