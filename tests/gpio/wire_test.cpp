// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/gpio/wire.hpp: constant values (virtio §5.18, Linux uapi virtio_gpio.h) and
// the byte layout of every wire struct.
#include "vireo/gpio/wire.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"

namespace {

namespace gpio = vireo::gpio;
namespace wire = vireo::gpio::wire;

template <typename T>
constexpr unsigned u(T v) {
  return static_cast<unsigned>(v);
}

// The object's address is its bytes' address, and its bytes are the wire bytes (Boost.Endian's
// data_test): load a struct from known bytes and read its fields back.
template <typename T, std::size_t N>
T load(const std::array<unsigned char, N>& raw) {
  static_assert(sizeof(T) == N);
  T v;
  std::memcpy(&v, raw.data(), N);
  CHECK(static_cast<const void*>(vireo::as_bytes_of(v).data()) == static_cast<const void*>(&v));
  return v;
}

}  // namespace

TEST_CASE("GD1 gpio wire: device id 41, requestq 0, eventq 1, VIRTIO_GPIO_F_IRQ bit 0") {
  CHECK(gpio::device_id == 41);
  CHECK(u(gpio::queue::requestq) == 0);
  CHECK(u(gpio::queue::eventq) == 1);
  CHECK(u(gpio::feature::irq) == 0);
  static_assert(vireo::feature_enum<gpio::feature>);
  const vireo::feature_set f{gpio::feature::irq};
  CHECK(f.word(0) == 1);
  CHECK(f.has(gpio::feature::irq));
}

TEST_CASE("gpio wire: message types, directions, levels, IRQ types and statuses (§5.18.6-7)") {
  CHECK(u(gpio::msg_type::get_line_names) == 0x0001);
  CHECK(u(gpio::msg_type::get_direction) == 0x0002);
  CHECK(u(gpio::msg_type::set_direction) == 0x0003);
  CHECK(u(gpio::msg_type::get_value) == 0x0004);
  CHECK(u(gpio::msg_type::set_value) == 0x0005);
  CHECK(u(gpio::msg_type::set_irq_type) == 0x0006);

  CHECK(u(gpio::direction::none) == 0);
  CHECK(u(gpio::direction::out) == 1);
  CHECK(u(gpio::direction::in) == 2);
  CHECK(u(gpio::level::low) == 0);
  CHECK(u(gpio::level::high) == 1);

  CHECK(u(gpio::irq_type::none) == 0x00);
  CHECK(u(gpio::irq_type::edge_rising) == 0x01);
  CHECK(u(gpio::irq_type::edge_falling) == 0x02);
  CHECK(u(gpio::irq_type::edge_both) == 0x03);
  CHECK(u(gpio::irq_type::edge_both) ==
        (u(gpio::irq_type::edge_rising) | u(gpio::irq_type::edge_falling)));
  CHECK(u(gpio::irq_type::level_high) == 0x04);
  CHECK(u(gpio::irq_type::level_low) == 0x08);

  CHECK(u(gpio::status::ok) == 0);
  CHECK(u(gpio::status::err) == 1);
  CHECK(u(gpio::irq_status::invalid) == 0);
  CHECK(u(gpio::irq_status::valid) == 1);
}

TEST_CASE("gpio wire: virtio_gpio_config is le16 ngpio, 2 padding bytes, le32 gpio_names_size") {
  const auto c = load<wire::config>(std::array<unsigned char, 8>{0x34, 0x12, 0xaa, 0xbb, 0x78,
                                                                 0x56, 0x34, 0x12});
  CHECK(c.ngpio.get() == 0x1234);
  CHECK(c.padding[0] == 0xaa);
  CHECK(c.padding[1] == 0xbb);
  CHECK(c.gpio_names_size.get() == 0x12345678u);
}

TEST_CASE("gpio wire: virtio_gpio_request is le16 type, le16 gpio, le32 value") {
  const auto r = load<wire::request>(std::array<unsigned char, 8>{0x03, 0x00, 0x07, 0x01, 0x02,
                                                                  0x00, 0x00, 0x80});
  CHECK(r.type.get() == 3);
  CHECK(r.gpio.get() == 0x0107);
  CHECK(r.value.get() == 0x80000002u);
}

TEST_CASE("gpio wire: responses and the eventq pair") {
  const auto r = load<wire::response>(std::array<unsigned char, 2>{0x01, 0x02});
  CHECK(r.status == 1);
  CHECK(r.value == 2);
  const auto h = load<wire::names_response_header>(std::array<unsigned char, 1>{0x01});
  CHECK(h.status == 1);
  const auto iq = load<wire::irq_request>(std::array<unsigned char, 2>{0xfe, 0xca});
  CHECK(iq.gpio.get() == 0xcafe);
  const auto ir = load<wire::irq_response>(std::array<unsigned char, 1>{0x01});
  CHECK(ir.status == 1);
  static_assert(vireo::wire_type<wire::config> && vireo::wire_type<wire::request> &&
                vireo::wire_type<wire::response> && vireo::wire_type<wire::irq_request> &&
                vireo::wire_type<wire::irq_response> &&
                vireo::wire_type<wire::names_response_header>);
}
