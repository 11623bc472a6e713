// SPDX-License-Identifier: Apache-2.0
// Byte-span aliases and a bounded reader/writer over ONE contiguous host buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN

using bytes = std::span<std::byte>;
using const_bytes = std::span<const std::byte>;

/// A wire struct: plain bytes with a fixed layout that can be copied in and out with memcpy.
template <typename T>
concept wire_type = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T>;

/// View any wire object as its bytes.
template <wire_type T>
[[nodiscard]] inline const_bytes as_bytes_of(const T& obj) noexcept {
  return {reinterpret_cast<const std::byte*>(&obj), sizeof(T)};
}
template <wire_type T>
[[nodiscard]] inline bytes as_writable_bytes_of(T& obj) noexcept {
  return {reinterpret_cast<std::byte*>(&obj), sizeof(T)};
}

/// Copy a `T` out of the front of `in` (one copy: the source is never read again), or
/// `too_short` when `in` holds fewer than sizeof(T) bytes.
template <wire_type T>
[[nodiscard]] inline result<T> load_front(const_bytes in, errc too_short) noexcept {
  if (in.size() < sizeof(T)) return too_short;
  T obj;
  std::memcpy(&obj, in.data(), sizeof(T));
  return obj;
}

/// Copy `obj` into the front of `out`. Errors: no_space.
template <wire_type T>
[[nodiscard]] inline result<void> store_front(const T& obj, bytes out) noexcept {
  if (out.size() < sizeof(T)) return errc::no_space;
  std::memcpy(out.data(), &obj, sizeof(T));
  return ok();
}

/// Reads wire objects front to back from one contiguous buffer; never reads past its end.
class byte_reader {
 public:
  constexpr byte_reader() noexcept = default;
  constexpr explicit byte_reader(const_bytes data) noexcept : data_(data) {}

  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] constexpr std::size_t consumed() const noexcept { return pos_; }

  /// Copy the next `out.size()` bytes. Errors: end_of_data (nothing is consumed then).
  [[nodiscard]] result<void> read(bytes out) noexcept {
    if (out.size() > remaining()) return errc::end_of_data;
    if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size());
    pos_ += out.size();
    return ok();
  }
  template <wire_type T>
  [[nodiscard]] result<T> read_obj() noexcept {
    T v;
    VIREO_TRY(read(as_writable_bytes_of(v)));
    return v;
  }
  /// The next `n` bytes as a view. Errors: end_of_data.
  [[nodiscard]] result<const_bytes> take(std::size_t n) noexcept {
    if (n > remaining()) return errc::end_of_data;
    const_bytes s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  [[nodiscard]] result<void> skip(std::size_t n) noexcept {
    if (n > remaining()) return errc::end_of_data;
    pos_ += n;
    return ok();
  }

 private:
  const_bytes data_{};
  std::size_t pos_ = 0;
};

/// Writes wire objects front to back into one contiguous buffer; never writes past its end.
class byte_writer {
 public:
  constexpr byte_writer() noexcept = default;
  constexpr explicit byte_writer(bytes data) noexcept : data_(data) {}

  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] constexpr std::size_t written() const noexcept { return pos_; }

  /// Copy `in` to the buffer. Errors: no_space (nothing is written then).
  [[nodiscard]] result<void> write(const_bytes in) noexcept {
    if (in.size() > remaining()) return errc::no_space;
    if (!in.empty()) std::memcpy(data_.data() + pos_, in.data(), in.size());
    pos_ += in.size();
    return ok();
  }
  template <wire_type T>
  [[nodiscard]] result<void> write_obj(const T& v) noexcept {
    return write(as_bytes_of(v));
  }

 private:
  bytes data_{};
  std::size_t pos_ = 0;
};

VIREO_NAMESPACE_END
