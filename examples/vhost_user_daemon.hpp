// SPDX-License-Identifier: Apache-2.0
// What the two vhost-user example daemons share: the command line (--socket-path, repeatable;
// --verbose; --once; --help), fmt logging of what the servers report, SIGTERM/SIGINT through a
// signalfd, and the loop that serves every socket from one thread.
#pragma once

#include <vireo/linux/epoll.hpp>
#include <vireo/linux/inflight_memfd.hpp>
#include <vireo/linux/vhost_user_backend_runner.hpp>
#include <vireo/vhost_user/requests.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "session_report.hpp"

namespace daemon_support {

namespace lh = vireo::linux_host;

/// The server of one socket: GET_INFLIGHT_FD regions come from sealed memfds, so a device model
/// that tracks inflight I/O gets INFLIGHT_SHMFD offered and survives a daemon restart.
template <typename Model, std::size_t MaxQueues>
using server_for = lh::backend_server<Model, MaxQueues, 32, lh::memfd_inflight_allocator>;

struct common_options {
  std::vector<std::string> sockets;
  bool verbose = false;
  bool once = false;  ///< exit once every socket has served one front-end that then left
  bool help = false;
};

/// Device-specific flags: called with (flag, value-or-empty); returns how many arguments it
/// used (0: unknown flag, 1: a switch, 2: a flag with a value), or -1 after printing an error.
using flag_parser = std::function<int(std::string_view flag, std::string_view value)>;

/// Parse argv. Returns false (after printing why) on a bad command line.
inline bool parse(int argc, char** argv, std::string_view name, common_options& o,
                  const flag_parser& device_flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view next = i + 1 < argc ? std::string_view{argv[i + 1]} : std::string_view{};
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else if (a == "--once") {
      o.once = true;
    } else if (a == "--socket-path" || a == "-s") {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{}: --socket-path needs a path\n", name);
        return false;
      }
      o.sockets.emplace_back(next);
      ++i;
    } else {
      const int used = device_flags(a, i + 1 < argc ? next : std::string_view{});
      if (used < 0) return false;
      if (used == 0) {
        fmt::print(stderr, "{}: unknown option '{}' (try --help)\n", name, a);
        return false;
      }
      i += used - 1;
    }
  }
  if (!o.help && o.sockets.empty()) {
    fmt::print(stderr, "{}: --socket-path is required (try --help)\n", name);
    return false;
  }
  return true;
}

/// Logs a server's reports to stderr, prefixed with the daemon name and socket path.
class log_observer final : public lh::backend_observer {
 public:
  log_observer(std::string prefix, bool verbose) : prefix_(std::move(prefix)), verbose_(verbose) {}

  void connected() noexcept override { fmt::print(stderr, "{}: front-end connected\n", prefix_); }
  void disconnected(vireo::errc why) noexcept override {
    ++disconnects;
    if (why == vireo::errc::host_disconnected)
      fmt::print(stderr, "{}: front-end disconnected\n", prefix_);
    else
      fmt::print(stderr, "{}: connection dropped: {}\n", prefix_, example::errc_text(why));
  }
  void refused_connection() noexcept override {
    fmt::print(stderr, "{}: refused a second front-end (one per socket)\n", prefix_);
  }
  void request(std::uint32_t code, vireo::result<void> status) noexcept override {
    const auto what = vireo::vhost_user::name(vireo::vhost_user::channel::main, code);
    if (!status)
      fmt::print(stderr, "{}: {} failed: {}\n", prefix_, what, example::errc_text(status.error()));
    else if (verbose_)
      fmt::print(stderr, "{}: {}\n", prefix_, what);
  }
  void malformed(vireo::errc why) noexcept override {
    fmt::print(stderr, "{}: malformed message: {}\n", prefix_, example::errc_text(why));
  }
  void vring_error(std::uint32_t index, vireo::errc why) noexcept override {
    fmt::print(stderr, "{}: vring {} broken: {}\n", prefix_, index, example::errc_text(why));
  }

  unsigned disconnects = 0;

 private:
  std::string prefix_;
  bool verbose_;
};

/// One served socket: the device instance, its observer and its server, built by the daemon.
struct instance {
  virtual ~instance() = default;
  virtual lh::loop_endpoint& endpoint() = 0;
  /// Listen on the socket and join the loop's epoll set as endpoint `id`.
  virtual vireo::result<void> start(const std::string& path, lh::epoll_set& ep, std::uint32_t id) = 0;
  log_observer* log = nullptr;
};

/// Build one instance per socket with `make`, listen on all, then serve until SIGTERM/SIGINT
/// (or, with --once, until every socket's front-end has come and gone). Returns the exit code.
inline int serve(std::string_view name, const common_options& o,
                 const std::function<std::unique_ptr<instance>(const std::string& path)>& make) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  const lh::unique_fd sfd{signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK)};
  auto ep = lh::epoll_set::create();
  if (!sfd.valid() || !ep) {
    fmt::print(stderr, "{}: cannot set up the event loop\n", name);
    return 1;
  }
  lh::backend_loop loop{*ep};
  if (auto r = loop.add_stop_fd(sfd.get()); !r) return example::fail("loop: signalfd", r.error());

  std::vector<std::unique_ptr<instance>> instances;
  std::vector<lh::loop_endpoint*> endpoints;
  for (const auto& path : o.sockets) {
    auto inst = make(path);
    if (!inst) return 1;  // make() said why
    if (auto r = inst->start(path, *ep, static_cast<std::uint32_t>(instances.size())); !r) {
      fmt::print(stderr, "{}: cannot listen on {}: {}\n", name, path,
                 example::errc_text(r.error()));
      return 1;
    }
    endpoints.push_back(&inst->endpoint());
    instances.push_back(std::move(inst));
    fmt::print("{}: listening on {}\n", name, path);
  }
  std::fflush(stdout);

  std::array<epoll_event, 32> events{};
  while (!loop.stopping()) {
    if (auto r = loop.run_once(endpoints, events, -1); !r)
      return example::fail("loop: epoll_wait", r.error());
    if (o.once) {
      bool all_done = true;
      for (const auto& inst : instances) all_done = all_done && inst->log->disconnects > 0;
      if (all_done) break;
    }
  }
  for (const auto& path : o.sockets) unlink(path.c_str());
  fmt::print(stderr, "{}: stopped\n", name);
  return 0;
}

}  // namespace daemon_support
