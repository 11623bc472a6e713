// SPDX-License-Identifier: Apache-2.0
// Helpers for the vhost-user codec tests: a native-order byte builder that spells frames out
// independently of the codec's wire structs, and short decode/encode wrappers.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <vector>

#include "test_support.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/features.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/payloads.hpp"
#include "vireo/vhost_user/reply.hpp"
#include "vireo/vhost_user/requests.hpp"

namespace vireo_vu_test {

namespace vu = vireo::vhost_user;
using vireo::errc;
using vireo_test::err;

/// Bytes in host order, written field by field with memcpy (vhost-user is native-endian).
class builder {
 public:
  builder& u8(std::uint8_t v) { return put(v); }
  builder& u16(std::uint16_t v) { return put(v); }
  builder& u32(std::uint32_t v) { return put(v); }
  builder& u64(std::uint64_t v) { return put(v); }
  builder& zeros(std::size_t n) {
    b_.insert(b_.end(), n, std::byte{0});
    return *this;
  }
  builder& fill(std::size_t n, std::uint8_t v) {
    b_.insert(b_.end(), n, std::byte{v});
    return *this;
  }
  builder& raw(std::span<const std::byte> s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  /// A region: gpa, size, uaddr, mmap_offset.
  builder& region(std::uint64_t gpa, std::uint64_t size, std::uint64_t uaddr, std::uint64_t off) {
    return u64(gpa).u64(size).u64(uaddr).u64(off);
  }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return b_; }
  [[nodiscard]] std::size_t size() const { return b_.size(); }

 private:
  template <typename T>
  builder& put(T v) {
    std::byte tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b_.insert(b_.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  std::vector<std::byte> b_;
};

/// A whole frame: header (size = payload size unless given) then the payload.
inline std::vector<std::byte> frame(std::uint32_t code, std::uint32_t flags,
                                    const builder& payload = {}) {
  builder f;
  f.u32(code).u32(flags).u32(static_cast<std::uint32_t>(payload.size())).raw(payload.bytes());
  return f.bytes();
}
inline std::vector<std::byte> frame_sized(std::uint32_t code, std::uint32_t flags,
                                          std::uint32_t size, const builder& payload = {}) {
  builder f;
  f.u32(code).u32(flags).u32(size).raw(payload.bytes());
  return f.bytes();
}

template <typename E>
constexpr std::uint32_t code(E r) {
  return static_cast<std::uint32_t>(r);
}

/// Fake fd numbers: distinct, never closed (the codec treats fds as opaque ints).
inline constexpr std::array<int, 12> fake_fds{40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
inline std::span<const int> fds(std::size_t n) { return {fake_fds.data(), n}; }

inline vireo::result<vu::message> dec(const std::vector<std::byte>& f, std::size_t nfds = 0,
                                      vu::channel ch = vu::channel::main,
                                      const vu::codec_options& o = {}) {
  return vu::decode(f, fds(nfds), ch, o);
}
inline errc dec_err(const std::vector<std::byte>& f, std::size_t nfds = 0,
                    vu::channel ch = vu::channel::main, const vu::codec_options& o = {}) {
  return err(dec(f, nfds, ch, o));
}
inline vireo::result<vu::message> dec_reply(const std::vector<std::byte>& f, std::uint32_t awaited,
                                            std::size_t nfds = 0,
                                            vu::channel ch = vu::channel::main,
                                            const vu::codec_options& o = {}) {
  return vu::decode_reply(f, fds(nfds), ch, awaited, o);
}

/// The bytes an encoder wrote.
inline std::vector<std::byte> written(const std::array<std::byte, 4200>& buf, std::size_t n) {
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
}

inline constexpr std::uint32_t req_flags = vu::flag::version;
inline constexpr std::uint32_t req_need_reply = vu::flag::version | vu::flag::need_reply;
inline constexpr std::uint32_t rep_flags = vu::flag::reply_flags;

}  // namespace vireo_vu_test
