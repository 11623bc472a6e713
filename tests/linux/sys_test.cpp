// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/linux/sys.hpp: the back-ends model the device contracts (concepts), the
// errno mapping, C paths, and real_sys on harmless real calls (no device, no root: a node
// that does not exist, and /dev/null, which is not an i2c-dev or gpiochip node).
#include "vireo/linux/sys.hpp"

#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <iterator>
#include <string>
#include <type_traits>

#include "linux/fake_sys.hpp"
#include "vireo/gpio/host_chip.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/linux/gpio_cdev.hpp"
#include "vireo/linux/i2c_dev.hpp"

using namespace vireo_linux_test;
namespace lh = vireo::linux_host;

// The contracts the device models program against, for the real and the fake system calls.
static_assert(lh::sys_api<lh::real_sys>);
static_assert(lh::sys_api<fake_sys>);
static_assert(vireo::i2c::host_bus<lh::i2c_dev_bus<>>);
static_assert(vireo::i2c::host_bus<lh::i2c_dev_bus<fake_sys>>);
static_assert(vireo::gpio::host_chip<lh::gpio_cdev_chip<>>);
static_assert(vireo::gpio::host_chip<lh::gpio_cdev_chip<fake_sys, 1>>);
static_assert(vireo::gpio::host_chip<lh::gpio_cdev_chip<lh::real_sys, 512>>);
// Move-only owners of descriptors.
static_assert(!std::is_copy_constructible_v<lh::i2c_dev_bus<>>);
static_assert(!std::is_copy_assignable_v<lh::i2c_dev_bus<>>);
static_assert(std::is_nothrow_move_constructible_v<lh::i2c_dev_bus<>>);
static_assert(std::is_nothrow_move_assignable_v<lh::i2c_dev_bus<>>);
static_assert(!std::is_copy_constructible_v<lh::gpio_cdev_chip<>>);
static_assert(std::is_nothrow_move_constructible_v<lh::gpio_cdev_chip<>>);
static_assert(std::is_nothrow_move_assignable_v<lh::gpio_cdev_chip<>>);
// real_sys is stateless: a back-end pays nothing to hold it.
static_assert(std::is_empty_v<lh::real_sys>);
static_assert(sizeof(lh::i2c_dev_bus<>) < sizeof(lh::i2c_dev_bus<fake_sys>));

TEST_CASE("sys: errc_from_errno groups the kernel's codes") {
  CHECK(lh::errc_from_errno(ENOENT) == errc::host_no_device);
  CHECK(lh::errc_from_errno(ENODEV) == errc::host_no_device);
  CHECK(lh::errc_from_errno(ENXIO) == errc::host_no_device);
  CHECK(lh::errc_from_errno(EACCES) == errc::host_permission_denied);
  CHECK(lh::errc_from_errno(EPERM) == errc::host_permission_denied);
  CHECK(lh::errc_from_errno(EBUSY) == errc::host_busy);
  CHECK(lh::errc_from_errno(ENOTTY) == errc::host_not_supported);
  CHECK(lh::errc_from_errno(EOPNOTSUPP) == errc::host_not_supported);
  CHECK(lh::errc_from_errno(EINVAL) == errc::host_rejected);
  CHECK(lh::errc_from_errno(EBADF) == errc::host_closed);
  CHECK(lh::errc_from_errno(EIO) == errc::host_io_error);
  CHECK(lh::errc_from_errno(ETIMEDOUT) == errc::host_io_error);
  CHECK(lh::errc_from_errno(0) == errc::host_io_error);
}

TEST_CASE("sys: to_c_path terminates, and refuses empty, NUL-holding and oversized paths") {
  std::array<char, 8> out{};
  REQUIRE(lh::to_c_path("/dev/x", out).has_value());
  CHECK(std::string{out.data()} == "/dev/x");
  CHECK(lh::to_c_path("1234567", out).has_value());  // 7 + NUL fits exactly
  CHECK(err(lh::to_c_path("12345678", out)) == errc::host_name_too_long);
  CHECK(err(lh::to_c_path("", out)) == errc::invalid_argument);
  CHECK(err(lh::to_c_path(std::string_view{"/a\0b", 4}, out)) == errc::invalid_argument);
}

namespace {

std::ptrdiff_t open_descriptors() {
  return std::distance(std::filesystem::directory_iterator{"/proc/self/fd"},
                       std::filesystem::directory_iterator{});
}

}  // namespace

TEST_CASE("sys: real_sys on harmless real calls gives typed errors and leaks nothing") {
  const std::ptrdiff_t before = open_descriptors();
  // A node that does not exist: ENOENT from open().
  CHECK(err(lh::i2c_dev_bus<>::open(std::uint32_t{999}, lh::i2c_allow_list{})) ==
        errc::host_no_device);
  const std::array lines{lh::exported_line::at_offset(0, "A")};
  CHECK(err(lh::gpio_cdev_chip<>::open("/dev/gpiochip-vireo-none", lines)) ==
        errc::host_no_device);
  // /dev/null opens, but is neither i2c-dev (I2C_FUNCS) nor a gpiochip (CHIPINFO): ENOTTY.
  CHECK(err(lh::i2c_dev_bus<>::open(std::string_view{"/dev/null"}, lh::i2c_allow_list{})) ==
        errc::host_not_supported);
  CHECK(err(lh::gpio_cdev_chip<>::open("/dev/null", lines)) == errc::host_not_supported);
  // The raw layer: -errno, never the global errno.
  errno = 0;
  CHECK(lh::real_sys::open("/dev/vireo-none", O_RDONLY) == -ENOENT);
  CHECK(lh::real_sys::close(-1) == -EBADF);
  const int fd = lh::real_sys::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  unsigned long funcs = 0;
  CHECK(lh::real_sys::ioctl(fd, I2C_FUNCS, &funcs) == -ENOTTY);
  CHECK(lh::real_sys::ioctl_value(fd, I2C_SLAVE, 0x50) == -ENOTTY);
  CHECK(lh::real_sys::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
  CHECK((lh::real_sys::fcntl(fd, F_GETFL, 0) & O_NONBLOCK) != 0);
  char byte = 0;
  CHECK(lh::real_sys::read(fd, &byte, 1) == 0);  // end of file
  pollfd p{fd, POLLIN, 0};
  CHECK(lh::real_sys::poll(&p, 1, 0) == 1);
  CHECK(lh::real_sys::close(fd) == 0);
  CHECK(lh::real_sys::close(fd) == -EBADF);
  CHECK(open_descriptors() == before);
}
