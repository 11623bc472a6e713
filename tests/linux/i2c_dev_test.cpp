// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/linux/i2c_dev.hpp and i2c_allow_list.hpp against the recording fake Sys: the
// exact I2C_RDWR message array, the SMBus mapping of every pattern, the allow-list, the limits,
// errno mapping, and descriptor ownership.
#include "vireo/linux/i2c_dev.hpp"

#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "linux/fake_sys.hpp"
#include "vireo/linux/i2c_allow_list.hpp"

using namespace vireo_linux_test;
namespace i2c = vireo::i2c;
using vireo::linux_host::i2c_allow_list;
using bus_t = vireo::linux_host::i2c_dev_bus<fake_sys>;

namespace {

i2c::address a7(std::uint16_t v) { return i2c::address::seven_bit(v).value(); }
i2c::address a10(std::uint16_t v) { return i2c::address::ten_bit(v).value(); }

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
i2c::host_message wr(i2c::address a, std::vector<std::byte>& buf) {
  return {a, i2c::direction::write, std::span<std::byte>{buf}};
}
i2c::host_message rd(i2c::address a, std::vector<std::byte>& buf) {
  return {a, i2c::direction::read, std::span<std::byte>{buf}};
}

constexpr int bus_fd = 7;
constexpr unsigned long plain_i2c = I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL;
constexpr unsigned long smbus_only = I2C_FUNC_SMBUS_EMUL;  // a typical SMBus controller

/// Script a successful open (I2C_FUNCS, then the busy check of every allowed address in
/// order), open adapter 1, and forget the calls it made.
bus_t open_bus(fake_kernel& k, unsigned long funcs, std::vector<i2c::address> allowed) {
  const auto list = i2c_allow_list::of(std::span<const i2c::address>{allowed}).value();
  k.expect(open_ok(bus_fd));
  k.expect(i2c_funcs(funcs));
  bool ten = false;
  (void)list.for_each([&](i2c::address a) noexcept {
    if (a.is_ten_bit() != ten) {
      k.expect(ioctl_value_ret(I2C_TENBIT, 0));
      ten = a.is_ten_bit();
    }
    k.expect(ioctl_value_ret(I2C_SLAVE, 0));
    return vireo::ok();
  });
  auto bus = bus_t::open(std::uint32_t{1}, list, fake_sys{&k});
  REQUIRE(bus.has_value());
  REQUIRE(k.script_done());
  k.calls.clear();
  return std::move(*bus);
}

}  // namespace

TEST_CASE("i2c_allow_list: empty allows nothing; 7-bit and 10-bit are distinct; reserved refused") {
  i2c_allow_list empty;
  CHECK(empty.empty());
  CHECK_FALSE(empty.contains(a7(0x50)));
  auto list = i2c_allow_list::of({a7(0x50), a10(0x123), a10(0x050)});
  REQUIRE(list.has_value());
  CHECK(list->size() == 3);
  CHECK(list->contains(a7(0x50)));
  CHECK(list->contains(a10(0x050)));
  CHECK(list->contains(a10(0x123)));
  CHECK_FALSE(list->contains(a7(0x51)));
  CHECK_FALSE(list->contains(a10(0x051)));
  CHECK_FALSE(list->contains(a7(0x23)));
  // Reserved 7-bit addresses (general call, device ID, 10-bit prefix) reach more than one target.
  for (std::uint16_t v : {0x00, 0x01, 0x07, 0x78, 0x7B, 0x7C, 0x7F}) {
    i2c_allow_list l;
    CHECK(err(l.allow(a7(v))) == errc::i2c_address_reserved);
    CHECK(l.empty());
  }
  CHECK(err(i2c_allow_list::of({a7(0x50), a7(0x00)})) == errc::i2c_address_reserved);
  // Boundaries of both bitmaps.
  i2c_allow_list edges;
  REQUIRE(edges.allow(a7(0x08)).has_value());
  REQUIRE(edges.allow(a7(0x77)).has_value());
  REQUIRE(edges.allow(a10(0x000)).has_value());
  REQUIRE(edges.allow(a10(0x3FF)).has_value());
  std::vector<i2c::address> seen;
  REQUIRE(edges.for_each([&](i2c::address a) noexcept {
    seen.push_back(a);
    return vireo::ok();
  }).has_value());
  CHECK(seen == std::vector<i2c::address>{a7(0x08), a7(0x77), a10(0x000), a10(0x3FF)});
}

TEST_CASE("i2c_dev: open reads I2C_FUNCS once and checks every allowed address with I2C_SLAVE") {
  fake_kernel k;
  const auto list = i2c_allow_list::of({a7(0x50), a7(0x21), a10(0x150)}).value();
  k.expect(open_ok(bus_fd));
  k.expect(i2c_funcs(plain_i2c | I2C_FUNC_10BIT_ADDR));
  k.expect(ioctl_value_ret(I2C_SLAVE, 0));  // 0x21
  k.expect(ioctl_value_ret(I2C_SLAVE, 0));  // 0x50
  k.expect(ioctl_value_ret(I2C_TENBIT, 0));
  k.expect(ioctl_value_ret(I2C_SLAVE, 0));  // 10-bit 0x150
  auto bus = bus_t::open(std::uint32_t{3}, list, fake_sys{&k});
  REQUIRE(bus.has_value());
  CHECK(k.script_done());
  REQUIRE(k.calls.size() == 6);
  CHECK(k.calls[0].path == "/dev/i2c-3");
  CHECK(k.calls[0].flags == (O_RDWR | O_CLOEXEC));
  CHECK(k.calls[1].request == I2C_FUNCS);
  CHECK(k.calls[1].fd == bus_fd);
  CHECK(k.calls[2].value == 0x21);
  CHECK(k.calls[3].value == 0x50);
  CHECK(k.calls[4].value == 1);  // I2C_TENBIT on before the 10-bit address
  CHECK(k.calls[5].value == 0x150);
  CHECK(bus->fd() == bus_fd);
  CHECK(bus->functionality() == (plain_i2c | I2C_FUNC_10BIT_ADDR));
  CHECK_FALSE(bus->uses_smbus());
  CHECK(bus->allowed() == list);

  SUBCASE("by path") {
    fake_kernel k2;
    k2.expect(open_ok(9));
    k2.expect(i2c_funcs(smbus_only));
    auto b = bus_t::open(std::string_view{"/dev/i2c-mux-7"}, i2c_allow_list{}, fake_sys{&k2});
    REQUIRE(b.has_value());
    CHECK(k2.calls[0].path == "/dev/i2c-mux-7");
    CHECK(b->uses_smbus());
    CHECK(k2.count(call_kind::ioctl_value) == 0);  // nothing allowed, nothing to check
  }
}

TEST_CASE("i2c_dev: open failures are typed and close the descriptor") {
  const auto list = i2c_allow_list::of({a7(0x50)}).value();
  SUBCASE("no such adapter") {
    fake_kernel k;
    k.expect(open_fail(ENOENT));
    CHECK(err(bus_t::open(std::uint32_t{999}, list, fake_sys{&k})) == errc::host_no_device);
    CHECK(k.calls[0].path == "/dev/i2c-999");
    CHECK(k.count(call_kind::close) == 0);
  }
  SUBCASE("no permission") {
    fake_kernel k;
    k.expect(open_fail(EACCES));
    CHECK(err(bus_t::open(std::uint32_t{0}, list, fake_sys{&k})) ==
          errc::host_permission_denied);
  }
  SUBCASE("not an i2c-dev node") {
    fake_kernel k;
    k.expect(open_ok(bus_fd));
    k.expect(ioctl_ret(I2C_FUNCS, -ENOTTY));
    CHECK(err(bus_t::open(std::uint32_t{0}, list, fake_sys{&k})) == errc::host_not_supported);
    CHECK(k.closed(bus_fd) == 1);
  }
  SUBCASE("a host driver owns an allowed address") {
    fake_kernel k;
    k.expect(open_ok(bus_fd));
    k.expect(i2c_funcs(plain_i2c));
    k.expect(ioctl_value_ret(I2C_SLAVE, -EBUSY));
    CHECK(err(bus_t::open(std::uint32_t{0}, list, fake_sys{&k})) == errc::host_busy);
    CHECK(k.closed(bus_fd) == 1);
  }
  SUBCASE("bad paths never reach open()") {
    fake_kernel k;
    CHECK(err(bus_t::open(std::string_view{}, list, fake_sys{&k})) == errc::invalid_argument);
    CHECK(err(bus_t::open(std::string_view{"/dev/i2c-1\0x", 12}, list, fake_sys{&k})) ==
          errc::invalid_argument);
    const std::string long_path(vireo::linux_host::path_capacity, 'a');
    CHECK(err(bus_t::open(std::string_view{long_path}, list, fake_sys{&k})) ==
          errc::host_name_too_long);
    CHECK(k.calls.empty());
  }
}

TEST_CASE("i2c_dev: a combined transfer is ONE I2C_RDWR with the exact message array") {
  fake_kernel k;
  auto bus = open_bus(k, plain_i2c, {a7(0x50), a7(0x51)});
  auto reg = bytes_of({0x10, 0x20});
  std::vector<std::byte> data(4);
  auto more = bytes_of({0xAA});
  const std::array msgs{wr(a7(0x50), reg), rd(a7(0x50), data), wr(a7(0x51), more)};
  k.expect(i2c_rdwr(3, [](std::size_t m, std::size_t b) {
    return static_cast<std::uint8_t>(0x40 + m * 16 + b);
  }));
  CHECK(bus.transfer(msgs) == 3);
  CHECK_FALSE(bus.last_error().has_value());
  REQUIRE(k.calls.size() == 1);
  const call& c = k.calls[0];
  CHECK(c.request == I2C_RDWR);
  CHECK(c.fd == bus_fd);
  REQUIRE(c.rdwr.size() == 3);
  CHECK(c.rdwr[0].addr == 0x50);
  CHECK(c.rdwr[0].flags == 0);
  CHECK(c.rdwr[0].len == 2);
  CHECK(c.rdwr[0].data == std::vector<std::uint8_t>{0x10, 0x20});
  CHECK(c.rdwr[0].buf == reinterpret_cast<const std::uint8_t*>(reg.data()));  // zero copy
  CHECK(c.rdwr[1].addr == 0x50);
  CHECK(c.rdwr[1].flags == I2C_M_RD);
  CHECK(c.rdwr[1].len == 4);
  CHECK(c.rdwr[1].buf == reinterpret_cast<const std::uint8_t*>(data.data()));
  CHECK(c.rdwr[2].addr == 0x51);
  CHECK(c.rdwr[2].flags == 0);
  CHECK(c.rdwr[2].data == std::vector<std::uint8_t>{0xAA});
  CHECK(data == bytes_of({0x50, 0x51, 0x52, 0x53}));  // what the kernel copied back
  CHECK(reg == bytes_of({0x10, 0x20}));                // writes are left alone

  SUBCASE("zero-length messages pass through (the kernel's quirk check refuses them if needed)") {
    std::vector<std::byte> none;
    const std::array probe{wr(a7(0x51), none)};
    k.expect(i2c_rdwr(1));
    CHECK(bus.transfer(probe) == 1);
    CHECK(k.calls.back().rdwr.at(0).len == 0);
    k.expect(ioctl_ret(I2C_RDWR, -EOPNOTSUPP));
    CHECK(bus.transfer(probe) == 0);
    CHECK(bus.last_error() == errc::host_not_supported);
  }
}

TEST_CASE("i2c_dev: a failed I2C_RDWR completes nothing; errno says why; a short count passes") {
  fake_kernel k;
  auto bus = open_bus(k, plain_i2c, {a7(0x50)});
  auto reg = bytes_of({0x01});
  std::vector<std::byte> data(2, std::byte{0xEE});
  const std::array msgs{wr(a7(0x50), reg), rd(a7(0x50), data)};
  const std::pair<int, errc> cases[] = {{ENXIO, errc::host_i2c_no_ack},
                                        {EREMOTEIO, errc::host_i2c_no_ack},
                                        {EIO, errc::host_io_error},
                                        {ETIMEDOUT, errc::host_io_error},
                                        {EAGAIN, errc::host_io_error},
                                        {EINVAL, errc::host_rejected}};
  for (const auto& entry : cases) {
    const int e = entry.first;  // not a structured binding: clang 14 cannot capture those
    const errc expected = entry.second;
    CAPTURE(e);
    k.expect(i2c_rdwr(-e));
    CHECK(bus.transfer(msgs) == 0);
    CHECK(bus.last_error() == expected);
  }
  CHECK(data == bytes_of({0xEE, 0xEE}));
  k.expect(i2c_rdwr(1));  // a bus driver that stopped after the first message
  CHECK(bus.transfer(msgs) == 1);
  CHECK(bus.last_error() == errc::host_io_error);
  k.expect(i2c_rdwr(2));
  CHECK(bus.transfer(msgs) == 2);
  CHECK_FALSE(bus.last_error().has_value());
  CHECK(k.count(call_kind::ioctl) == std::size(cases) + 2);
}

TEST_CASE("i2c_dev: a target outside the allow-list fails the group before anything is sent") {
  fake_kernel k;
  auto bus = open_bus(k, plain_i2c, {a7(0x50)});
  auto reg = bytes_of({0x01});
  std::vector<std::byte> data(1);
  const std::vector<std::vector<i2c::host_message>> groups = {
      {wr(a7(0x50), reg), rd(a7(0x51), data)},  // the second message's target
      {wr(a10(0x050), reg)},                     // same value, other mode
      {wr(a7(0x00), reg)},                       // general call (reserved: never allowed)
      {rd(a7(0x51), data), wr(a7(0x50), reg)},
  };
  for (std::size_t i = 0; i < groups.size(); ++i) {
    CAPTURE(i);
    CHECK(bus.transfer(groups[i]) == 0);
    CHECK(bus.last_error() == errc::host_i2c_target_not_allowed);
  }
  CHECK(k.calls.empty());

  fake_kernel k2;
  auto none = open_bus(k2, plain_i2c, {});  // an empty list reaches nothing
  CHECK(none.transfer(std::array{wr(a7(0x50), reg)}) == 0);
  CHECK(none.last_error() == errc::host_i2c_target_not_allowed);
  CHECK(k2.calls.empty());
}

TEST_CASE("i2c_dev: I2C_RDWR limits: 42 messages, 8192 bytes each, 10-bit needs the func bit") {
  fake_kernel k;
  auto bus = open_bus(k, plain_i2c, {a7(0x50), a10(0x2A5)});
  std::vector<std::byte> one(1);
  std::vector<i2c::host_message> msgs(vireo::linux_host::i2c_rdwr_max_messages,
                                      wr(a7(0x50), one));
  k.expect(i2c_rdwr(42));
  CHECK(bus.transfer(msgs) == 42);
  CHECK(k.calls.back().rdwr.size() == 42);
  msgs.push_back(wr(a7(0x50), one));
  CHECK(bus.transfer(msgs) == 0);
  CHECK(bus.last_error() == errc::host_i2c_too_many_messages);

  std::vector<std::byte> max(8192);
  std::vector<std::byte> over(8193);
  std::vector<std::byte> wraps(65536);  // would be len 0 in a __u16
  k.expect(i2c_rdwr(1));
  CHECK(bus.transfer(std::array{rd(a7(0x50), max)}) == 1);
  CHECK(k.calls.back().rdwr.at(0).len == 8192);
  CHECK(bus.transfer(std::array{rd(a7(0x50), over)}) == 0);
  CHECK(bus.last_error() == errc::i2c_buffer_too_long);
  CHECK(bus.transfer(std::array{wr(a7(0x50), one), wr(a7(0x50), wraps)}) == 0);
  CHECK(bus.last_error() == errc::i2c_buffer_too_long);

  // The adapter lacks I2C_FUNC_10BIT_ADDR: i2c-dev would pass I2C_M_TEN on unchecked.
  CHECK(bus.transfer(std::array{wr(a10(0x2A5), one)}) == 0);
  CHECK(bus.last_error() == errc::host_not_supported);
  CHECK(k.count(call_kind::ioctl) == 2);  // only the two successful groups reached the kernel

  fake_kernel k10;
  auto ten = open_bus(k10, plain_i2c | I2C_FUNC_10BIT_ADDR, {a10(0x2A5)});
  k10.expect(i2c_rdwr(1));
  CHECK(ten.transfer(std::array{wr(a10(0x2A5), one)}) == 1);
  CHECK(k10.calls.back().rdwr.at(0).addr == 0x2A5);
  CHECK(k10.calls.back().rdwr.at(0).flags == I2C_M_TEN);
}

namespace {

/// The single SMBus ioctl the transfer made (after an optional I2C_SLAVE).
const call& smbus_call(const fake_kernel& k) {
  REQUIRE(!k.calls.empty());
  REQUIRE(k.calls.back().smbus.has_value());
  return k.calls.back();
}

}  // namespace

TEST_CASE("i2c_dev: SMBus fallback maps each group pattern onto one I2C_SMBUS ioctl") {
  fake_kernel k;
  auto bus = open_bus(k, smbus_only, {a7(0x50)});  // I2C_SLAVE 0x50 is set and cached
  REQUIRE(bus.uses_smbus());
  std::vector<std::byte> none;
  std::vector<std::byte> one(1);
  std::vector<std::byte> two(2);
  std::vector<std::byte> five(5);

  SUBCASE("zero-length write: Quick (write)") {
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), none)}) == 1);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_QUICK);
    CHECK(c.smbus->read_write == I2C_SMBUS_WRITE);
  }
  SUBCASE("zero-length read: Quick (read)") {
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{rd(a7(0x50), none)}) == 1);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_QUICK);
    CHECK(smbus_call(k).smbus->read_write == I2C_SMBUS_READ);
  }
  SUBCASE("1-byte write: Send Byte") {
    auto b = bytes_of({0x3C});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b)}) == 1);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_BYTE);
    CHECK(c.smbus->read_write == I2C_SMBUS_WRITE);
    CHECK(c.smbus->command == 0x3C);
  }
  SUBCASE("1-byte read: Receive Byte") {
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.byte = 0x9A; }));
    CHECK(bus.transfer(std::array{rd(a7(0x50), one)}) == 1);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_BYTE);
    CHECK(smbus_call(k).smbus->read_write == I2C_SMBUS_READ);
    CHECK(one == bytes_of({0x9A}));
  }
  SUBCASE("write [reg, data]: Write Byte Data") {
    auto b = bytes_of({0x12, 0x34});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b)}) == 1);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_BYTE_DATA);
    CHECK(c.smbus->command == 0x12);
    CHECK(c.smbus_data.byte == 0x34);
  }
  SUBCASE("write [reg, lo, hi]: Write Word Data, low byte first") {
    auto b = bytes_of({0x12, 0x34, 0x56});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b)}) == 1);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_WORD_DATA);
    CHECK(c.smbus->command == 0x12);
    CHECK(c.smbus_data.word == 0x5634);
  }
  SUBCASE("write [reg, 4 bytes]: I2C block write") {
    auto b = bytes_of({0x40, 1, 2, 3, 4});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b)}) == 1);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_I2C_BLOCK_DATA);
    CHECK(c.smbus->read_write == I2C_SMBUS_WRITE);
    CHECK(c.smbus->command == 0x40);
    CHECK(c.smbus_data.block[0] == 4);
    CHECK(c.smbus_data.block[1] == 1);
    CHECK(c.smbus_data.block[4] == 4);
  }
  SUBCASE("write [reg, 32 bytes] is the largest I2C block write") {
    std::vector<std::byte> b(33, std::byte{0x77});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b)}) == 1);
    CHECK(smbus_call(k).smbus_data.block[0] == 32);
    CHECK(smbus_call(k).smbus_data.block[32] == 0x77);
  }
  SUBCASE("write [reg] + read 1: Read Byte Data") {
    auto reg = bytes_of({0x0F});
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.byte = 0xC3; }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), one)}) == 2);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_BYTE_DATA);
    CHECK(c.smbus->read_write == I2C_SMBUS_READ);
    CHECK(c.smbus->command == 0x0F);
    CHECK(one == bytes_of({0xC3}));
  }
  SUBCASE("write [reg] + read 2: Read Word Data, low byte first") {
    auto reg = bytes_of({0x0F});
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.word = 0xBEEF; }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), two)}) == 2);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_WORD_DATA);
    CHECK(two == bytes_of({0xEF, 0xBE}));
  }
  SUBCASE("write [reg] + read 5: I2C block read") {
    auto reg = bytes_of({0x80});
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) {
      for (int i = 1; i <= 5; ++i) d.block[i] = static_cast<std::uint8_t>(0xA0 + i);
    }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), five)}) == 2);
    const call& c = smbus_call(k);
    CHECK(c.smbus->size == I2C_SMBUS_I2C_BLOCK_DATA);
    CHECK(c.smbus->read_write == I2C_SMBUS_READ);
    CHECK(c.smbus->command == 0x80);
    CHECK(c.smbus_data.block[0] == 5);  // how many bytes the kernel is to read
    CHECK(five == bytes_of({0xA1, 0xA2, 0xA3, 0xA4, 0xA5}));
  }
  SUBCASE("write [reg] + read 32 is the largest I2C block read") {
    auto reg = bytes_of({0x80});
    std::vector<std::byte> max(32);
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.block[32] = 0x5A; }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), max)}) == 2);
    CHECK(smbus_call(k).smbus_data.block[0] == 32);
    CHECK(max[31] == std::byte{0x5A});
  }
  CHECK(k.script_done());
  CHECK(k.count(call_kind::ioctl_value) == 0);  // 0x50 was already selected at open
  CHECK_FALSE(bus.last_error().has_value());
}

TEST_CASE("i2c_dev: SMBus fallback refuses groups without an SMBus equivalent, sending nothing") {
  fake_kernel k;
  auto bus = open_bus(k, smbus_only, {a7(0x50), a7(0x51)});
  auto reg = bytes_of({0x01});
  auto reg2 = bytes_of({0x01, 0x02});
  std::vector<std::byte> none;
  std::vector<std::byte> two(2);
  std::vector<std::byte> big_read(33);
  std::vector<std::byte> big_write(34);
  const std::vector<std::vector<i2c::host_message>> groups = {
      {rd(a7(0x50), two)},                                       // plain 2-byte read
      {wr(a7(0x50), reg), rd(a7(0x51), two)},                     // pair across two targets
      {wr(a7(0x50), reg2), rd(a7(0x50), two)},                    // 2-byte register
      {wr(a7(0x50), reg), rd(a7(0x50), none)},                    // zero-length read after
      {wr(a7(0x50), reg), rd(a7(0x50), big_read)},                // over I2C_SMBUS_BLOCK_MAX
      {wr(a7(0x50), big_write)},                                  // 33 data bytes
      {wr(a7(0x50), reg), wr(a7(0x50), reg)},                     // write + write
      {wr(a7(0x50), reg), rd(a7(0x50), two), rd(a7(0x50), two)},  // three messages
  };
  for (std::size_t i = 0; i < groups.size(); ++i) {
    CAPTURE(i);
    CHECK(bus.transfer(groups[i]) == 0);
    CHECK(bus.last_error() == errc::host_not_supported);
  }
  CHECK(k.calls.empty());
}

TEST_CASE("i2c_dev: SMBus fallback needs the functionality bit of each transaction") {
  auto reg = bytes_of({0x01});
  auto b2 = bytes_of({0x01, 0x02});
  auto b3 = bytes_of({0x01, 0x02, 0x03});
  std::vector<std::byte> none;
  std::vector<std::byte> one(1);
  std::vector<std::byte> two(2);

  SUBCASE("no Quick: zero-length messages are refused") {
    fake_kernel k;
    auto bus = open_bus(k, smbus_only & ~I2C_FUNC_SMBUS_QUICK, {a7(0x50)});
    CHECK(bus.transfer(std::array{wr(a7(0x50), none)}) == 0);
    CHECK(bus.transfer(std::array{rd(a7(0x50), none)}) == 0);
    CHECK(bus.last_error() == errc::host_not_supported);
    CHECK(k.calls.empty());
  }
  SUBCASE("no byte/word data: the same bus bytes as an I2C block transfer") {
    fake_kernel k;
    auto bus = open_bus(k, I2C_FUNC_SMBUS_I2C_BLOCK, {a7(0x50)});
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b2)}) == 1);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_I2C_BLOCK_DATA);
    CHECK(smbus_call(k).smbus_data.block[0] == 1);
    CHECK(smbus_call(k).smbus_data.block[1] == 0x02);
    k.expect(i2c_smbus(0));
    CHECK(bus.transfer(std::array{wr(a7(0x50), b3)}) == 1);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_I2C_BLOCK_DATA);
    CHECK(smbus_call(k).smbus_data.block[0] == 2);
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.block[1] = 0x66; }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), one)}) == 2);
    CHECK(smbus_call(k).smbus->size == I2C_SMBUS_I2C_BLOCK_DATA);
    CHECK(one == bytes_of({0x66}));
    k.expect(i2c_smbus(0, [](i2c_smbus_data& d) { d.block[1] = 1; d.block[2] = 2; }));
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg), rd(a7(0x50), two)}) == 2);
    CHECK(two == bytes_of({1, 2}));
    // ...but no Send Byte, Receive Byte or Quick.
    CHECK(bus.transfer(std::array{wr(a7(0x50), reg)}) == 0);
    CHECK(bus.transfer(std::array{rd(a7(0x50), one)}) == 0);
    CHECK(k.count(call_kind::ioctl) == 4);
  }
  SUBCASE("10-bit targets need I2C_FUNC_10BIT_ADDR; with it, I2C_TENBIT before I2C_SLAVE") {
    fake_kernel k;
    auto bus = open_bus(k, smbus_only, {a10(0x1F0)});
    CHECK(bus.transfer(std::array{wr(a10(0x1F0), reg)}) == 0);
    CHECK(bus.last_error() == errc::host_not_supported);
    CHECK(k.calls.empty());

    fake_kernel k10;
    auto ten = open_bus(k10, smbus_only | I2C_FUNC_10BIT_ADDR, {a7(0x50), a10(0x1F0)});
    // open left the client at 10-bit 0x1F0; going to 0x50 turns I2C_TENBIT off first.
    k10.expect(ioctl_value_ret(I2C_TENBIT, 0));
    k10.expect(ioctl_value_ret(I2C_SLAVE, 0));
    k10.expect(i2c_smbus(0));
    CHECK(ten.transfer(std::array{wr(a7(0x50), reg)}) == 1);
    k10.expect(ioctl_value_ret(I2C_TENBIT, 0));
    k10.expect(ioctl_value_ret(I2C_SLAVE, 0));
    k10.expect(i2c_smbus(0));
    CHECK(ten.transfer(std::array{wr(a10(0x1F0), reg)}) == 1);
    const auto sel = k10.of(call_kind::ioctl_value);
    REQUIRE(sel.size() == 4);
    CHECK(sel[0].request == I2C_TENBIT);
    CHECK(sel[0].value == 0);
    CHECK(sel[1].request == I2C_SLAVE);
    CHECK(sel[1].value == 0x50);
    CHECK(sel[2].request == I2C_TENBIT);
    CHECK(sel[2].value == 1);
    CHECK(sel[3].request == I2C_SLAVE);
    CHECK(sel[3].value == 0x1F0);
  }
}

TEST_CASE("i2c_dev: SMBus target selection is cached; a failed I2C_SLAVE is retried next time") {
  fake_kernel k;
  auto bus = open_bus(k, smbus_only, {a7(0x50), a7(0x51)});  // open leaves 0x51 selected
  auto reg = bytes_of({0x01});
  k.expect(ioctl_value_ret(I2C_SLAVE, 0));
  k.expect(i2c_smbus(0));
  CHECK(bus.transfer(std::array{wr(a7(0x50), reg)}) == 1);
  k.expect(i2c_smbus(0));
  CHECK(bus.transfer(std::array{wr(a7(0x50), reg)}) == 1);  // no I2C_SLAVE: still 0x50
  k.expect(ioctl_value_ret(I2C_SLAVE, -EBUSY));  // a driver bound to 0x51 since open
  CHECK(bus.transfer(std::array{wr(a7(0x51), reg)}) == 0);
  CHECK(bus.last_error() == errc::host_busy);
  k.expect(ioctl_value_ret(I2C_SLAVE, 0));
  k.expect(i2c_smbus(-ENXIO));
  CHECK(bus.transfer(std::array{wr(a7(0x51), reg)}) == 0);
  CHECK(bus.last_error() == errc::host_i2c_no_ack);
  k.expect(i2c_smbus(0));  // 0x51 stayed selected: the ioctl failed, not the selection
  CHECK(bus.transfer(std::array{wr(a7(0x51), reg)}) == 1);
  CHECK(k.script_done());
  const auto sel = k.of(call_kind::ioctl_value);
  REQUIRE(sel.size() == 3);
  CHECK(sel[0].value == 0x50);
  CHECK(sel[1].value == 0x51);
  CHECK(sel[2].value == 0x51);
}

TEST_CASE("i2c_dev: the descriptor is closed once, by whoever owns it last") {
  fake_kernel k;
  {
    auto bus = open_bus(k, plain_i2c, {a7(0x50)});
    CHECK(k.closed(bus_fd) == 0);
    bus_t moved{std::move(bus)};
    CHECK(bus.fd() == -1);
    CHECK(moved.fd() == bus_fd);
    std::vector<std::byte> one(1);
    CHECK(bus.transfer(std::array{wr(a7(0x50), one)}) == 0);  // moved from: nothing sent
    CHECK(bus.last_error() == errc::host_closed);
    CHECK(k.count(call_kind::ioctl) == 0);
    CHECK(k.closed(bus_fd) == 0);
  }
  CHECK(k.closed(bus_fd) == 1);

  fake_kernel k2;
  auto a = open_bus(k2, plain_i2c, {a7(0x50)});
  k2.expect(open_ok(8));
  k2.expect(i2c_funcs(plain_i2c));
  auto b = bus_t::open(std::uint32_t{2}, i2c_allow_list{}, fake_sys{&k2});
  REQUIRE(b.has_value());
  a = std::move(*b);  // a's descriptor is closed, b's moves in
  CHECK(k2.closed(bus_fd) == 1);
  CHECK(a.fd() == 8);
  CHECK(k2.closed(8) == 0);
}
