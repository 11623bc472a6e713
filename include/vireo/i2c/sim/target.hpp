// SPDX-License-Identifier: Apache-2.0
// What a simulated I2C target (a chip on sim::bus) does during a transaction, as a concept, and a
// type-erased reference to one so that one bus holds targets of different types without a heap.
#pragma once

#include <concepts>

#include "vireo/core/bytes.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c::sim {

/// A simulated target, driven by the bus one transaction at a time, in bus order:
///  - start(dir): a START or repeated START with this target's address and R/W bit; return true
///    to ACK the address, false to NACK it (the message and the rest of the transaction fail);
///  - write(data): the controller sends `data` (all of the message); return false if the target
///    NACKs a byte (the bytes before it were accepted, as on a real bus);
///  - read(out): the controller reads out.size() bytes; fill all of `out`; return false for a
///    failure the controller would notice (e.g. a target that holds SCL low past a timeout);
///  - stop(): the STOP that ends a transaction in which this target was addressed (sent after a
///    failure too, so the target can drop any half-done state).
/// A zero-length message is start() alone. `data` and `out` may be views of guest memory that
/// alias each other: read and write them byte by byte, never with memcpy between the two.
template <typename T>
concept target = requires(T& t, direction dir, const_bytes data, bytes out) {
  { t.start(dir) } noexcept -> std::same_as<bool>;
  { t.write(data) } noexcept -> std::same_as<bool>;
  { t.read(out) } noexcept -> std::same_as<bool>;
  { t.stop() } noexcept -> std::same_as<void>;
};

/// A non-owning reference to any `target` (an object pointer and four function pointers): the
/// referenced target must outlive every use. Default-constructed: refers to nothing (empty()).
class target_ref {
 public:
  target_ref() noexcept = default;
  template <target T>
  explicit target_ref(T& t) noexcept
      : obj_(&t),
        start_([](void* o, direction d) noexcept { return static_cast<T*>(o)->start(d); }),
        write_([](void* o, const_bytes b) noexcept { return static_cast<T*>(o)->write(b); }),
        read_([](void* o, bytes b) noexcept { return static_cast<T*>(o)->read(b); }),
        stop_([](void* o) noexcept { static_cast<T*>(o)->stop(); }) {}

  [[nodiscard]] bool empty() const noexcept { return obj_ == nullptr; }
  /// Precondition for the four calls: !empty().
  [[nodiscard]] bool start(direction d) const noexcept { return start_(obj_, d); }
  [[nodiscard]] bool write(const_bytes data) const noexcept { return write_(obj_, data); }
  [[nodiscard]] bool read(bytes out) const noexcept { return read_(obj_, out); }
  void stop() const noexcept { stop_(obj_); }

 private:
  void* obj_ = nullptr;
  bool (*start_)(void*, direction) noexcept = nullptr;
  bool (*write_)(void*, const_bytes) noexcept = nullptr;
  bool (*read_)(void*, bytes) noexcept = nullptr;
  void (*stop_)(void*) noexcept = nullptr;
};

}  // namespace i2c::sim
VIREO_NAMESPACE_END
