// SPDX-License-Identifier: Apache-2.0
// A recording, scripted stand-in for linux_host::real_sys: every call is recorded with a deep
// copy of its argument as it was at call time (the i2c_msg array and write bytes of I2C_RDWR,
// the SMBus data, the GPIO structs, the bytes and descriptors of a sendmsg), and answered by the
// next scripted step, which checks the call's kind, request and fd. close() is always answered
// (0), so destructors need no script.
// Test code: heap and std::function are fine here.
#pragma once

#include <doctest/doctest.h>
#include <linux/gpio.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <ios>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "vireo/linux/sys.hpp"

namespace vireo_linux_test {

using vireo::errc;
using vireo_test::err;

enum class call_kind {
  open, close, ioctl, ioctl_value, read, poll, fcntl,
  socket, socketpair, bind, listen, accept4, connect, sendmsg, recvmsg, unlink, lstat
};

/// One message of a recorded I2C_RDWR: the i2c_msg fields, and the bytes of a write.
struct rdwr_msg {
  std::uint16_t addr = 0;
  std::uint16_t flags = 0;
  std::uint16_t len = 0;
  const std::uint8_t* buf = nullptr;  ///< as passed: the caller's buffer (zero-copy check)
  std::vector<std::uint8_t> data;     ///< a write's bytes at call time; empty for a read
};

struct call {
  call_kind kind = call_kind::open;
  std::string path;  ///< open, unlink, lstat; bind and connect: sun_path
  int flags = 0;     ///< open; accept4; sendmsg and recvmsg: MSG_* flags; listen: backlog
  int fd = -1;
  unsigned long request = 0;   ///< ioctl, ioctl_value
  unsigned long value = 0;     ///< ioctl_value
  std::vector<std::byte> arg;  ///< ioctl with a sized (_IOC) argument: its bytes at call time
  std::vector<rdwr_msg> rdwr;  ///< I2C_RDWR
  std::optional<i2c_smbus_ioctl_data> smbus;  ///< I2C_SMBUS (data pointer as passed)
  i2c_smbus_data smbus_data{};                ///< I2C_SMBUS: *data at call time
  std::vector<pollfd> pollfds;                ///< poll
  int timeout = 0;                            ///< poll
  std::size_t len = 0;                        ///< read
  int cmd = 0;                                ///< fcntl
  int cmd_arg = 0;                            ///< fcntl
  int domain = 0;                             ///< socket, socketpair
  int type = 0;                               ///< socket, socketpair (SOCK_* | flags)
  std::vector<std::byte> data;                ///< sendmsg: the bytes of every iovec, in order
  std::vector<int> sent_fds;                  ///< sendmsg: the SCM_RIGHTS descriptors
  std::size_t capacity = 0;                   ///< recvmsg: total iovec length
  std::size_t control_len = 0;                ///< recvmsg: msg_controllen

  /// The sized ioctl argument as a T (it must have been recorded with exactly that size).
  template <typename T>
  [[nodiscard]] T as() const {
    T t{};
    REQUIRE(arg.size() == sizeof(T));
    std::memcpy(&t, arg.data(), sizeof(T));
    return t;
  }
};

/// A scripted answer: the call it expects and what it does.
struct step {
  call_kind kind = call_kind::ioctl;
  std::optional<unsigned long> request;  ///< must match when set
  std::optional<int> fd;                 ///< must match when set
  long ret = 0;                          ///< returned (>= 0, or -errno)
  std::function<void(void* arg, const call& c)> effect;  ///< fills the caller's argument
};

class fake_kernel {
 public:
  std::vector<call> calls;
  std::deque<step> script;
  std::map<int, int> closes;  ///< fd -> how many times close() was called on it

  void expect(step s) { script.push_back(std::move(s)); }
  [[nodiscard]] bool script_done() const { return script.empty(); }

  [[nodiscard]] std::vector<call> of(call_kind k) const {
    std::vector<call> out;
    for (const call& c : calls)
      if (c.kind == k) out.push_back(c);
    return out;
  }
  [[nodiscard]] std::vector<call> ioctls(unsigned long request) const {
    std::vector<call> out;
    for (const call& c : calls)
      if ((c.kind == call_kind::ioctl || c.kind == call_kind::ioctl_value) &&
          c.request == request)
        out.push_back(c);
    return out;
  }
  [[nodiscard]] std::size_t count(call_kind k) const {
    return static_cast<std::size_t>(
        std::count_if(calls.begin(), calls.end(), [k](const call& c) { return c.kind == k; }));
  }
  [[nodiscard]] int closed(int fd) const {
    const auto it = closes.find(fd);
    return it == closes.end() ? 0 : it->second;
  }

  long dispatch(call c, void* arg) {
    calls.push_back(c);
    if (c.kind == call_kind::close) {
      ++closes[c.fd];
      return 0;
    }
    if (script.empty()) {
      FAIL_CHECK("unexpected system call, kind " << static_cast<int>(c.kind) << " request 0x"
                                                << std::hex << c.request);
      return -ENOSYS;
    }
    step s = std::move(script.front());
    script.pop_front();
    const bool kind_ok = s.kind == c.kind;
    const bool request_ok = !s.request || *s.request == c.request;
    const bool fd_ok = !s.fd || *s.fd == c.fd;
    if (!kind_ok || !request_ok || !fd_ok) {
      FAIL_CHECK("system call out of script: kind " << static_cast<int>(c.kind) << " (expected "
                                                   << static_cast<int>(s.kind) << "), request 0x"
                                                   << std::hex << c.request << ", fd "
                                                   << std::dec << c.fd);
      return -ENOSYS;
    }
    if (s.effect) s.effect(arg, c);
    return s.ret;
  }
};

/// The Sys model the back-ends are instantiated with in tests.
struct fake_sys {
  fake_kernel* k = nullptr;

  int open(const char* path, int flags) noexcept {
    call c;
    c.kind = call_kind::open;
    c.path = path;
    c.flags = flags;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int close(int fd) noexcept {
    call c;
    c.kind = call_kind::close;
    c.fd = fd;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int ioctl(int fd, unsigned long request, void* arg) noexcept {
    call c;
    c.kind = call_kind::ioctl;
    c.fd = fd;
    c.request = request;
    if (request == I2C_RDWR) {
      const auto* rdwr = static_cast<const i2c_rdwr_ioctl_data*>(arg);
      for (std::uint32_t i = 0; i < rdwr->nmsgs; ++i) {
        const i2c_msg& m = rdwr->msgs[i];
        rdwr_msg r{m.addr, m.flags, m.len, m.buf, {}};
        if ((m.flags & I2C_M_RD) == 0) r.data.assign(m.buf, m.buf + m.len);
        c.rdwr.push_back(std::move(r));
      }
    } else if (request == I2C_SMBUS) {
      const auto* s = static_cast<const i2c_smbus_ioctl_data*>(arg);
      c.smbus = *s;
      if (s->data != nullptr) c.smbus_data = *s->data;
    } else if (_IOC_TYPE(request) == 0xB4 && _IOC_SIZE(request) > 0) {  // GPIO uAPI
      const auto* p = static_cast<const std::byte*>(arg);
      c.arg.assign(p, p + _IOC_SIZE(request));
    }
    return static_cast<int>(k->dispatch(std::move(c), arg));
  }
  int ioctl_value(int fd, unsigned long request, unsigned long value) noexcept {
    call c;
    c.kind = call_kind::ioctl_value;
    c.fd = fd;
    c.request = request;
    c.value = value;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  ssize_t read(int fd, void* buf, std::size_t len) noexcept {
    call c;
    c.kind = call_kind::read;
    c.fd = fd;
    c.len = len;
    return static_cast<ssize_t>(k->dispatch(std::move(c), buf));
  }
  int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept {
    call c;
    c.kind = call_kind::poll;
    c.pollfds.assign(fds, fds + nfds);
    c.timeout = timeout_ms;
    return static_cast<int>(k->dispatch(std::move(c), fds));
  }
  int fcntl(int fd, int cmd, int arg) noexcept {
    call c;
    c.kind = call_kind::fcntl;
    c.fd = fd;
    c.cmd = cmd;
    c.cmd_arg = arg;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int socket(int domain, int type, int protocol) noexcept {
    (void)protocol;
    call c;
    c.kind = call_kind::socket;
    c.domain = domain;
    c.type = type;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  /// The step's effect writes the pair through `arg` (an int[2]).
  int socketpair(int domain, int type, int protocol, int* pair) noexcept {
    (void)protocol;
    call c;
    c.kind = call_kind::socketpair;
    c.domain = domain;
    c.type = type;
    return static_cast<int>(k->dispatch(std::move(c), pair));
  }
  int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    call c;
    c.kind = call_kind::bind;
    c.fd = fd;
    c.path = sun_path_of(addr, len);
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int listen(int fd, int backlog) noexcept {
    call c;
    c.kind = call_kind::listen;
    c.fd = fd;
    c.flags = backlog;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
    (void)addr;
    (void)len;
    call c;
    c.kind = call_kind::accept4;
    c.fd = fd;
    c.flags = flags;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  int connect(int fd, const sockaddr* addr, socklen_t len) noexcept {
    call c;
    c.kind = call_kind::connect;
    c.fd = fd;
    c.path = sun_path_of(addr, len);
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
    call c;
    c.kind = call_kind::sendmsg;
    c.fd = fd;
    c.flags = flags;
    for (std::size_t i = 0; i < msg->msg_iovlen; ++i) {
      const auto* p = static_cast<const std::byte*>(msg->msg_iov[i].iov_base);
      c.data.insert(c.data.end(), p, p + msg->msg_iov[i].iov_len);
    }
    if (msg->msg_controllen > 0) {
      for (const cmsghdr* h = CMSG_FIRSTHDR(msg); h != nullptr;
           h = CMSG_NXTHDR(const_cast<msghdr*>(msg), const_cast<cmsghdr*>(h))) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
          int v = -1;
          std::memcpy(&v, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
          c.sent_fds.push_back(v);
        }
      }
    }
    return static_cast<ssize_t>(k->dispatch(std::move(c), const_cast<msghdr*>(msg)));
  }
  /// The step's effect fills the msghdr (arg): see recv_step below.
  ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept {
    call c;
    c.kind = call_kind::recvmsg;
    c.fd = fd;
    c.flags = flags;
    for (std::size_t i = 0; i < msg->msg_iovlen; ++i) c.capacity += msg->msg_iov[i].iov_len;
    c.control_len = msg->msg_controllen;
    return static_cast<ssize_t>(k->dispatch(std::move(c), msg));
  }
  int unlink(const char* path) noexcept {
    call c;
    c.kind = call_kind::unlink;
    c.path = path;
    return static_cast<int>(k->dispatch(std::move(c), nullptr));
  }
  /// The step's effect fills the struct stat (arg).
  int lstat(const char* path, struct stat* st) noexcept {
    call c;
    c.kind = call_kind::lstat;
    c.path = path;
    return static_cast<int>(k->dispatch(std::move(c), st));
  }

 private:
  static std::string sun_path_of(const sockaddr* addr, socklen_t len) {
    if (addr == nullptr || addr->sa_family != AF_UNIX) return {};
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    const std::size_t max = len > offsetof(sockaddr_un, sun_path)
                                ? len - offsetof(sockaddr_un, sun_path)
                                : 0;
    return std::string{un->sun_path, strnlen(un->sun_path, std::min(max, sizeof(un->sun_path)))};
  }
};
static_assert(vireo::linux_host::sys_api<fake_sys>);
static_assert(vireo::linux_host::socket_sys_api<fake_sys>);

// ---- Script steps -------------------------------------------------------------------------------

inline step open_ok(int fd) { return {call_kind::open, std::nullopt, std::nullopt, fd, {}}; }
inline step open_fail(int e) { return {call_kind::open, std::nullopt, std::nullopt, -e, {}}; }

/// An ioctl that returns `ret` and does nothing else.
inline step ioctl_ret(unsigned long request, long ret, std::optional<int> fd = std::nullopt) {
  return {call_kind::ioctl, request, fd, ret, {}};
}
inline step ioctl_value_ret(unsigned long request, long ret) {
  return {call_kind::ioctl_value, request, std::nullopt, ret, {}};
}

// i2c
inline step i2c_funcs(unsigned long funcs) {
  return {call_kind::ioctl, I2C_FUNCS, std::nullopt, 0,
          [funcs](void* arg, const call&) { *static_cast<unsigned long*>(arg) = funcs; }};
}
/// I2C_RDWR answering `ret`, first filling every read message with `fill(message index, byte
/// index)` (on success, as the kernel copies reads back only then).
inline step i2c_rdwr(long ret, std::function<std::uint8_t(std::size_t, std::size_t)> fill = {}) {
  return {call_kind::ioctl, I2C_RDWR, std::nullopt, ret,
          [ret, fill](void* arg, const call&) {
            if (ret < 0 || !fill) return;
            auto* rdwr = static_cast<i2c_rdwr_ioctl_data*>(arg);
            for (std::uint32_t i = 0; i < rdwr->nmsgs; ++i)
              if ((rdwr->msgs[i].flags & I2C_M_RD) != 0)
                for (std::size_t b = 0; b < rdwr->msgs[i].len; ++b) rdwr->msgs[i].buf[b] = fill(i, b);
          }};
}
/// I2C_SMBUS answering `ret`, first letting `fill` write the kernel's reply into the data.
inline step i2c_smbus(long ret, std::function<void(i2c_smbus_data&)> fill = {}) {
  return {call_kind::ioctl, I2C_SMBUS, std::nullopt, ret,
          [fill](void* arg, const call&) {
            auto* s = static_cast<i2c_smbus_ioctl_data*>(arg);
            if (fill && s->data != nullptr) fill(*s->data);
          }};
}

// gpio
inline step gpio_chipinfo(std::uint32_t lines, std::string name = "gpiochip0") {
  return {call_kind::ioctl, GPIO_GET_CHIPINFO_IOCTL, std::nullopt, 0,
          [lines, name](void* arg, const call&) {
            auto* info = static_cast<gpiochip_info*>(arg);
            std::memset(info, 0, sizeof(*info));
            std::memcpy(info->name, name.data(), std::min(name.size(), sizeof(info->name) - 1));
            info->lines = lines;
          }};
}
/// One GPIO_V2_GET_LINEINFO_IOCTL answered from `names` (indexed by the offset asked for).
inline step gpio_lineinfo(std::vector<std::string> names) {
  return {call_kind::ioctl, GPIO_V2_GET_LINEINFO_IOCTL, std::nullopt, 0,
          [names](void* arg, const call&) {
            auto* li = static_cast<gpio_v2_line_info*>(arg);
            REQUIRE(li->offset < names.size());
            const std::string& n = names[li->offset];
            std::memset(li->name, 0, sizeof(li->name));
            std::memcpy(li->name, n.data(), std::min(n.size(), sizeof(li->name)));
          }};
}
/// GPIO_V2_GET_LINE_IOCTL granting the request with descriptor `line_fd`, and the fcntl that
/// makes it non-blocking.
inline step gpio_get_line(int line_fd) {
  return {call_kind::ioctl, GPIO_V2_GET_LINE_IOCTL, std::nullopt, 0,
          [line_fd](void* arg, const call&) {
            static_cast<gpio_v2_line_request*>(arg)->fd = line_fd;
          }};
}
inline step fcntl_ok(int fd) { return {call_kind::fcntl, std::nullopt, fd, 0, {}}; }
inline step gpio_get_values(int fd, std::uint64_t bits) {
  return {call_kind::ioctl, GPIO_V2_LINE_GET_VALUES_IOCTL, fd, 0,
          [bits](void* arg, const call&) { static_cast<gpio_v2_line_values*>(arg)->bits = bits; }};
}
/// poll() with POLLIN set on the descriptors in `ready` (revents on the others: 0).
inline step poll_ready(std::vector<int> ready, short extra = 0) {
  return {call_kind::poll, std::nullopt, std::nullopt,
          static_cast<long>(ready.size()),
          [ready, extra](void* arg, const call& c) {
            auto* fds = static_cast<pollfd*>(arg);
            for (std::size_t i = 0; i < c.pollfds.size(); ++i) {
              fds[i].revents = 0;
              if (std::find(ready.begin(), ready.end(), fds[i].fd) != ready.end())
                fds[i].revents = static_cast<short>(POLLIN | extra);
            }
          }};
}
/// read() returning one gpio_v2_line_event.
inline step read_event(int fd, std::uint64_t timestamp, std::uint32_t id, std::uint32_t offset,
                       std::uint32_t seqno = 1) {
  return {call_kind::read, std::nullopt, fd, static_cast<long>(sizeof(gpio_v2_line_event)),
          [=](void* arg, const call& c) {
            REQUIRE(c.len >= sizeof(gpio_v2_line_event));
            gpio_v2_line_event ev{};
            ev.timestamp_ns = timestamp;
            ev.id = id;
            ev.offset = offset;
            ev.seqno = seqno;
            ev.line_seqno = seqno;
            std::memcpy(arg, &ev, sizeof(ev));
          }};
}
inline step read_fail(int fd, int e) { return {call_kind::read, std::nullopt, fd, -e, {}}; }

// sockets
/// A socket call of `kind` returning `ret` (a descriptor, 0, or -errno) and doing nothing else.
inline step sock_ret(call_kind kind, long ret, std::optional<int> fd = std::nullopt) {
  return {kind, std::nullopt, fd, ret, {}};
}
/// recvmsg delivering `data` (which must fit the caller's iovecs) with `fds` as one SCM_RIGHTS
/// message (as many as fit the caller's control buffer, MSG_CTRUNC when not all do, as the
/// kernel does), plus `extra_flags` in msg_flags.
inline step recv_step(int fd, std::vector<std::byte> data, std::vector<int> fds = {},
                      int extra_flags = 0) {
  return {call_kind::recvmsg, std::nullopt, fd, static_cast<long>(data.size()),
          [data, fds, extra_flags](void* arg, const call& c) {
            auto* msg = static_cast<msghdr*>(arg);
            REQUIRE(c.capacity >= data.size());
            std::size_t done = 0;
            for (std::size_t i = 0; i < msg->msg_iovlen && done < data.size(); ++i) {
              const std::size_t n = std::min(msg->msg_iov[i].iov_len, data.size() - done);
              std::memcpy(msg->msg_iov[i].iov_base, data.data() + done, n);
              done += n;
            }
            msg->msg_flags = extra_flags;
            const std::size_t room = msg->msg_controllen >= CMSG_LEN(0)
                                         ? (msg->msg_controllen - CMSG_LEN(0)) / sizeof(int)
                                         : 0;
            const std::size_t n = std::min(room, fds.size());
            if (n < fds.size()) msg->msg_flags |= MSG_CTRUNC;
            if (n == 0) {
              msg->msg_controllen = 0;
              return;
            }
            cmsghdr* h = CMSG_FIRSTHDR(msg);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(n * sizeof(int));
            std::memcpy(CMSG_DATA(h), fds.data(), n * sizeof(int));
            msg->msg_controllen = CMSG_SPACE(n * sizeof(int));
          }};
}
inline step recv_fail(int fd, int e) { return {call_kind::recvmsg, std::nullopt, fd, -e, {}}; }
/// sendmsg accepting `accepted` bytes (the call records what was offered).
inline step send_step(int fd, long accepted) {
  return {call_kind::sendmsg, std::nullopt, fd, accepted, {}};
}

}  // namespace vireo_linux_test
