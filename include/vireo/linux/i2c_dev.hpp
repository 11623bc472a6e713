// SPDX-License-Identifier: Apache-2.0
// A host I2C back-end over Linux i2c-dev (/dev/i2c-N): a combined transfer as one I2C_RDWR
// ioctl, an SMBus fallback for adapters without plain I2C, and an address allow-list.
// Kernel behaviour relied on: drivers/i2c/i2c-dev.c, include/uapi/linux/i2c{,-dev}.h (see
// docs/linux-backends.md).
#pragma once

#include <linux/i2c-dev.h>
#include <linux/i2c.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/wire.hpp"
#include "vireo/linux/i2c_allow_list.hpp"
#include "vireo/linux/sys.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// i2c-dev's limits on one I2C_RDWR: at most I2C_RDWR_IOCTL_MAX_MSGS messages (else EINVAL),
/// and at most 8192 bytes per message (i2cdev_ioctl_rdwr: "Limit the size of the message to a
/// sane amount", EINVAL), well inside struct i2c_msg's 16-bit len.
inline constexpr std::size_t i2c_rdwr_max_messages = I2C_RDWR_IOCTL_MAX_MSGS;
inline constexpr std::size_t i2c_rdwr_max_message_len = 8192;
static_assert(i2c_rdwr_max_message_len <= 0xFFFF, "struct i2c_msg.len is a __u16");

namespace detail {

/// One SMBus transaction that puts the same bytes on the bus as a group of host messages, and
/// the adapter functionality bit it needs (include/uapi/linux/i2c.h, I2C_FUNC_SMBUS_*).
struct smbus_plan {
  std::uint8_t read_write = I2C_SMBUS_WRITE;
  std::uint8_t command = 0;
  std::uint32_t size = I2C_SMBUS_QUICK;
  i2c_smbus_data data{};
};

[[nodiscard]] constexpr bool has(unsigned long funcs, unsigned long bit) noexcept {
  return (funcs & bit) == bit;
}

/// The errc for a failed I2C_RDWR / I2C_SMBUS. Documentation/i2c/fault-codes.rst: ENXIO is "the
/// address phase of a transfer didn't get an ACK" (not a missing device node, as for open());
/// several bus drivers use EREMOTEIO for a NAK in the data phase.
[[nodiscard]] constexpr errc errc_from_transfer_errno(int e) noexcept {
  if (e == ENXIO || e == EREMOTEIO) return errc::host_i2c_no_ack;
  return errc_from_errno(e);
}

/// The SMBus transaction for `msgs` on an adapter with functionality `funcs`, when there is one.
/// Patterns (SMBus 3.x §6.5; the transaction is byte for byte the I2C traffic of the group):
///   [W 0] / [R 0]           Quick Command (the R/W bit is the data)        SMBUS_QUICK
///   [W c]                   Send Byte                                      SMBUS_WRITE_BYTE
///   [R 1]                   Receive Byte                                   SMBUS_READ_BYTE
///   [W c d]                 Write Byte, else I2C block write               ..._WRITE_BYTE_DATA
///   [W c lo hi]             Write Word (low byte first), else I2C block    ..._WRITE_WORD_DATA
///   [W c d1..dn], n <= 32   I2C block write                                ..._WRITE_I2C_BLOCK
///   [W c][R 1]              Read Byte, else I2C block read                 ..._READ_BYTE_DATA
///   [W c][R 2]              Read Word, else I2C block read                 ..._READ_WORD_DATA
///   [W c][R n], n <= 32     I2C block read                                 ..._READ_I2C_BLOCK
/// Both messages of a pair name the same target. Anything else has no SMBus equivalent.
/// Errors: host_not_supported (no pattern, or the adapter lacks the bit).
[[nodiscard]] inline result<smbus_plan> plan_smbus(std::span<const i2c::host_message> msgs,
                                                   unsigned long funcs) noexcept {
  smbus_plan p;
  const auto byte_at = [](const i2c::host_message& m, std::size_t i) {
    return static_cast<std::uint8_t>(m.data[i]);
  };
  if (msgs.size() == 1) {
    const i2c::host_message& m = msgs[0];
    const std::size_t n = m.data.size();
    if (n == 0) {
      if (!has(funcs, I2C_FUNC_SMBUS_QUICK)) return errc::host_not_supported;
      p.read_write = m.dir == i2c::direction::read ? I2C_SMBUS_READ : I2C_SMBUS_WRITE;
      p.size = I2C_SMBUS_QUICK;
      return p;
    }
    if (m.dir == i2c::direction::read) {
      if (n != 1 || !has(funcs, I2C_FUNC_SMBUS_READ_BYTE)) return errc::host_not_supported;
      p.read_write = I2C_SMBUS_READ;
      p.size = I2C_SMBUS_BYTE;
      return p;
    }
    p.read_write = I2C_SMBUS_WRITE;
    p.command = byte_at(m, 0);
    if (n == 1) {
      if (!has(funcs, I2C_FUNC_SMBUS_WRITE_BYTE)) return errc::host_not_supported;
      p.size = I2C_SMBUS_BYTE;
      return p;
    }
    if (n == 2 && has(funcs, I2C_FUNC_SMBUS_WRITE_BYTE_DATA)) {
      p.size = I2C_SMBUS_BYTE_DATA;
      p.data.byte = byte_at(m, 1);
      return p;
    }
    if (n == 3 && has(funcs, I2C_FUNC_SMBUS_WRITE_WORD_DATA)) {
      p.size = I2C_SMBUS_WORD_DATA;
      p.data.word = static_cast<std::uint16_t>(byte_at(m, 1) | (byte_at(m, 2) << 8));
      return p;
    }
    // n - 1 data bytes follow the command: block[0] is their count (1..I2C_SMBUS_BLOCK_MAX).
    if (n - 1 > I2C_SMBUS_BLOCK_MAX || !has(funcs, I2C_FUNC_SMBUS_WRITE_I2C_BLOCK))
      return errc::host_not_supported;
    p.size = I2C_SMBUS_I2C_BLOCK_DATA;
    p.data.block[0] = static_cast<std::uint8_t>(n - 1);
    for (std::size_t i = 1; i < n; ++i) p.data.block[i] = byte_at(m, i);
    return p;
  }
  if (msgs.size() != 2) return errc::host_not_supported;
  const i2c::host_message& w = msgs[0];
  const i2c::host_message& r = msgs[1];
  if (w.dir != i2c::direction::write || w.data.size() != 1 || r.dir != i2c::direction::read ||
      !(w.target == r.target))
    return errc::host_not_supported;
  const std::size_t n = r.data.size();
  p.read_write = I2C_SMBUS_READ;
  p.command = byte_at(w, 0);
  if (n == 1 && has(funcs, I2C_FUNC_SMBUS_READ_BYTE_DATA)) {
    p.size = I2C_SMBUS_BYTE_DATA;
    return p;
  }
  if (n == 2 && has(funcs, I2C_FUNC_SMBUS_READ_WORD_DATA)) {
    p.size = I2C_SMBUS_WORD_DATA;
    return p;
  }
  if (n == 0 || n > I2C_SMBUS_BLOCK_MAX || !has(funcs, I2C_FUNC_SMBUS_READ_I2C_BLOCK))
    return errc::host_not_supported;
  p.size = I2C_SMBUS_I2C_BLOCK_DATA;
  p.data.block[0] = static_cast<std::uint8_t>(n);  // how many bytes to read
  return p;
}

/// Copy what a successful read plan returned into the group's read message.
inline void store_smbus_result(const smbus_plan& p, const i2c::host_message& read) noexcept {
  switch (p.size) {
    case I2C_SMBUS_BYTE:
    case I2C_SMBUS_BYTE_DATA:
      read.data[0] = std::byte{p.data.byte};
      break;
    case I2C_SMBUS_WORD_DATA:  // SMBus sends the low byte of a word first
      read.data[0] = std::byte{static_cast<std::uint8_t>(p.data.word & 0xFFu)};
      read.data[1] = std::byte{static_cast<std::uint8_t>(p.data.word >> 8)};
      break;
    case I2C_SMBUS_I2C_BLOCK_DATA:
      // read.data.size() <= I2C_SMBUS_BLOCK_MAX (plan_smbus), and block has BLOCK_MAX + 2 bytes.
      for (std::size_t i = 0; i < read.data.size(); ++i)
        read.data[i] = std::byte{p.data.block[i + 1]};
      break;
    default:
      break;
  }
}

}  // namespace detail

/// A host I2C adapter reached through i2c-dev. Models i2c::host_bus. Move-only; owns the
/// descriptor and closes it when destroyed. No heap: a transfer builds its i2c_msg array on the
/// stack. Not thread-safe (one fd, one cached SMBus target).
///
/// transfer() runs a group of messages as follows:
///  1. every target must be in the allow-list, else nothing is sent (0 completed);
///  2. an adapter with I2C_FUNC_I2C gets the whole group as ONE I2C_RDWR ioctl: one START, a
///     repeated START between messages, one STOP. At most 42 messages of at most 8192 bytes
///     each; 10-bit targets need I2C_FUNC_10BIT_ADDR and are sent with I2C_M_TEN. The result
///     is all messages, or 0 when the ioctl fails: the kernel returns one errno for the whole
///     group and never says which message failed. (i2c_transfer() may report fewer messages
///     than were asked when a bus driver stops early; that count is passed on.)
///  3. an adapter without it (SMBus-only controllers) gets the group as one SMBus transaction
///     when one puts the same bytes on the bus (detail::plan_smbus), after selecting the
///     target with I2C_SLAVE; any other group is refused (0 completed).
/// last_error() says why the latest transfer completed fewer than all its messages.
template <typename Sys = real_sys>
  requires sys_api<Sys>
class i2c_dev_bus {
 public:
  /// Open /dev/i2c-<adapter>. See open(path, ...).
  [[nodiscard]] static result<i2c_dev_bus> open(std::uint32_t adapter,
                                                const i2c_allow_list& allowed,
                                                Sys sys = Sys{}) noexcept {
    std::array<char, 32> path{};  // "/dev/i2c-" + at most 10 digits
    constexpr std::string_view prefix = "/dev/i2c-";
    std::copy(prefix.begin(), prefix.end(), path.begin());
    const auto conv = std::to_chars(path.data() + prefix.size(), path.data() + path.size() - 1,
                                    adapter);
    return open(std::string_view{path.data(), static_cast<std::size_t>(conv.ptr - path.data())},
                allowed, std::move(sys));
  }

  /// Open the i2c-dev node at `path`, read the adapter's functionality (I2C_FUNCS, once) and
  /// check that no host driver owns an allowed address: I2C_SLAVE refuses such an address with
  /// EBUSY, while I2C_RDWR would reach it unchecked. Blocks only as long as open() and the
  /// ioctls do. Errors: host_no_device (no such node or adapter), host_permission_denied,
  /// host_not_supported (the node is not i2c-dev: I2C_FUNCS gives ENOTTY), host_busy (a driver
  /// is bound at an allowed address), host_name_too_long / invalid_argument (the path), other
  /// host_* codes for other errnos (errc_from_errno). Nothing stays open on error.
  [[nodiscard]] static result<i2c_dev_bus> open(std::string_view path,
                                                const i2c_allow_list& allowed,
                                                Sys sys = Sys{}) noexcept {
    std::array<char, path_capacity> c_path;
    VIREO_TRY(to_c_path(path, c_path));
    const int fd = sys.open(c_path.data(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errc_from_errno(-fd);
    i2c_dev_bus bus{std::move(sys), fd, allowed};  // owns fd: every return below closes it
    unsigned long funcs = 0;
    if (const int r = bus.sys_.ioctl(fd, I2C_FUNCS, &funcs); r < 0) return errc_from_errno(-r);
    bus.funcs_ = funcs;
    VIREO_TRY(bus.allowed_.for_each([&bus](i2c::address a) noexcept { return bus.select(a); }));
    return result<i2c_dev_bus>{std::move(bus)};
  }

  i2c_dev_bus(const i2c_dev_bus&) = delete;
  i2c_dev_bus& operator=(const i2c_dev_bus&) = delete;
  i2c_dev_bus(i2c_dev_bus&& o) noexcept
      : sys_(std::move(o.sys_)),
        fd_(std::exchange(o.fd_, -1)),
        funcs_(o.funcs_),
        allowed_(o.allowed_),
        target_(std::exchange(o.target_, std::nullopt)),
        ten_bit_mode_(o.ten_bit_mode_),
        last_error_(o.last_error_) {}
  i2c_dev_bus& operator=(i2c_dev_bus&& o) noexcept {
    if (this != &o) {
      close_fd();
      sys_ = std::move(o.sys_);
      fd_ = std::exchange(o.fd_, -1);
      funcs_ = o.funcs_;
      allowed_ = o.allowed_;
      target_ = std::exchange(o.target_, std::nullopt);
      ten_bit_mode_ = o.ten_bit_mode_;
      last_error_ = o.last_error_;
    }
    return *this;
  }
  ~i2c_dev_bus() { close_fd(); }

  /// Run `msgs` as one combined transaction (see the class comment); how many leading messages
  /// completed: msgs.size() or 0 (or a bus driver's short count). Blocks for the bus time of the
  /// transfer (the adapter's timeout bounds it).
  [[nodiscard]] std::size_t transfer(std::span<const i2c::host_message> msgs) noexcept {
    last_error_.reset();
    if (fd_ < 0) return fail(errc::host_closed);
    if (msgs.empty()) return 0;
    for (const i2c::host_message& m : msgs)
      if (!allowed_.contains(m.target)) return fail(errc::host_i2c_target_not_allowed);
    if (detail::has(funcs_, I2C_FUNC_I2C)) return transfer_rdwr(msgs);
    return transfer_smbus(msgs);
  }

  /// Why the latest transfer() completed fewer than all its messages; empty after a full one.
  /// host_i2c_target_not_allowed, host_i2c_too_many_messages, i2c_buffer_too_long,
  /// host_not_supported (10-bit without I2C_FUNC_10BIT_ADDR, no SMBus equivalent, or an adapter
  /// quirk such as no zero-length messages: EOPNOTSUPP), host_i2c_no_ack (ENXIO, EREMOTEIO),
  /// host_busy (I2C_SLAVE on a driver's address; an SMBus controller's busy bus), host_io_error
  /// (EIO, ETIMEDOUT, EAGAIN = lost arbitration, a short count), host_closed.
  [[nodiscard]] std::optional<errc> last_error() const noexcept { return last_error_; }

  /// The descriptor (-1 once moved from). For diagnostics; the bus keeps ownership.
  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// The adapter's I2C_FUNCS mask, read once at open.
  [[nodiscard]] unsigned long functionality() const noexcept { return funcs_; }
  /// True when transfers go through the SMBus fallback (no I2C_FUNC_I2C).
  [[nodiscard]] bool uses_smbus() const noexcept { return !detail::has(funcs_, I2C_FUNC_I2C); }
  [[nodiscard]] const i2c_allow_list& allowed() const noexcept { return allowed_; }
  [[nodiscard]] Sys& sys() noexcept { return sys_; }

 private:
  i2c_dev_bus(Sys&& sys, int fd, const i2c_allow_list& allowed) noexcept
      : sys_(std::move(sys)), fd_(fd), allowed_(allowed) {}

  void close_fd() noexcept {
    if (fd_ >= 0) (void)sys_.close(std::exchange(fd_, -1));
  }

  std::size_t fail(errc e) noexcept {
    last_error_ = e;
    return 0;
  }

  std::size_t transfer_rdwr(std::span<const i2c::host_message> msgs) noexcept {
    if (msgs.size() > i2c_rdwr_max_messages) return fail(errc::host_i2c_too_many_messages);
    std::array<i2c_msg, i2c_rdwr_max_messages> raw{};
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      const i2c::host_message& m = msgs[i];
      if (m.data.size() > i2c_rdwr_max_message_len) return fail(errc::i2c_buffer_too_long);
      std::uint16_t flags = 0;
      if (m.dir == i2c::direction::read) flags |= I2C_M_RD;
      if (m.target.is_ten_bit()) {
        // i2c-dev passes I2C_M_TEN through unchecked; an adapter without 10-bit support would
        // send the low 7 bits of the address (uapi i2c.h: "use only if I2C_FUNC_10BIT_ADDR").
        if (!detail::has(funcs_, I2C_FUNC_10BIT_ADDR)) return fail(errc::host_not_supported);
        flags |= I2C_M_TEN;
      }
      raw[i].addr = m.target.value();
      raw[i].flags = flags;
      raw[i].len = static_cast<std::uint16_t>(m.data.size());  // <= 8192, checked above
      // The kernel copies a write's bytes in and never writes them back (memdup_user): a write
      // buffer may be a read-only view of guest memory.
      raw[i].buf = reinterpret_cast<std::uint8_t*>(m.data.data());
    }
    i2c_rdwr_ioctl_data rdwr{};
    rdwr.msgs = raw.data();
    rdwr.nmsgs = static_cast<std::uint32_t>(msgs.size());
    const int r = sys_.ioctl(fd_, I2C_RDWR, &rdwr);
    if (r < 0) return fail(detail::errc_from_transfer_errno(-r));
    const std::size_t done = std::min(static_cast<std::size_t>(r), msgs.size());
    if (done < msgs.size()) last_error_ = errc::host_io_error;
    return done;
  }

  std::size_t transfer_smbus(std::span<const i2c::host_message> msgs) noexcept {
    auto plan = detail::plan_smbus(msgs, funcs_);
    if (!plan) return fail(plan.error());
    const i2c::address target = msgs[0].target;  // plan_smbus: a pair shares one target
    if (target.is_ten_bit() && !detail::has(funcs_, I2C_FUNC_10BIT_ADDR))
      return fail(errc::host_not_supported);
    if (auto s = select(target); !s) return fail(s.error());
    i2c_smbus_ioctl_data args{};
    args.read_write = plan->read_write;
    args.command = plan->command;
    args.size = plan->size;
    args.data = &plan->data;
    const int r = sys_.ioctl(fd_, I2C_SMBUS, &args);
    if (r < 0) return fail(detail::errc_from_transfer_errno(-r));
    if (plan->read_write == I2C_SMBUS_READ) detail::store_smbus_result(*plan, msgs.back());
    return msgs.size();
  }

  /// Point the fd's client at `a` (I2C_TENBIT when the mode changes, then I2C_SLAVE), unless it
  /// already is. I2C_SLAVE, not I2C_SLAVE_FORCE: the kernel refuses (EBUSY) an address a host
  /// driver is bound to, and two masters of one device (the driver and the guest) would corrupt
  /// each other's register pointer and state; FORCE is for recovery tools, not for a guest.
  result<void> select(i2c::address a) noexcept {
    if (target_ && *target_ == a) return ok();
    target_.reset();  // unknown until both calls below succeed
    if (ten_bit_mode_ != a.is_ten_bit()) {
      const int r = sys_.ioctl_value(fd_, I2C_TENBIT, a.is_ten_bit() ? 1ul : 0ul);
      if (r < 0) return errc_from_errno(-r);
      ten_bit_mode_ = a.is_ten_bit();
    }
    const int r = sys_.ioctl_value(fd_, I2C_SLAVE, a.value());
    if (r < 0) return errc_from_errno(-r);
    target_ = a;
    return ok();
  }

  [[no_unique_address]] Sys sys_;
  int fd_ = -1;
  unsigned long funcs_ = 0;
  i2c_allow_list allowed_;
  std::optional<i2c::address> target_;  ///< the address I2C_SLAVE last set, when known
  bool ten_bit_mode_ = false;           ///< I2C_TENBIT of the fd's client (0 after open())
  std::optional<errc> last_error_;
};

static_assert(i2c::host_bus<i2c_dev_bus<>>);

}  // namespace linux_host
VIREO_NAMESPACE_END
