// SPDX-License-Identifier: Apache-2.0
// The contract between the virtio-i2c device model and a host I2C back-end (simulated bus,
// Linux i2c-dev, a bare-metal controller): one call that runs a combined transfer.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "vireo/i2c/address.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

/// One message of a host transfer (Linux struct i2c_msg): a target, a direction and a host
/// buffer. A write sends `data` (the back-end must not change it: it may be a zero-copy view of
/// guest memory, and §5.16.6.4 forbids the device to change a write's buf); a read fills all of
/// `data`. An empty `data` is a zero-length message (SMBus Quick, an address probe).
struct host_message {
  address target;
  direction dir = direction::write;
  std::span<std::byte> data;
};

/// A host I2C adapter. transfer() runs `msgs` as one combined transaction (repeated START
/// between messages, one STOP at the end: I2C_RDWR semantics) and returns how many leading
/// messages completed; msgs.size() means all of them. A back-end that cannot run the group as
/// one transaction, or refuses a target (an allow-list), completes none of the messages from
/// the first refused one on. It never blocks without bound and never throws.
template <typename B>
concept host_bus = requires(B& bus, std::span<const host_message> msgs) {
  { bus.transfer(msgs) } noexcept -> std::same_as<std::size_t>;
};

}  // namespace i2c
VIREO_NAMESPACE_END
