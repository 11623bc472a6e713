// SPDX-License-Identifier: Apache-2.0
// Helpers for the vhost-user front-end tests (the real back-end: frontend_backend_support.hpp):
//  - guest RAM in a memfd with a planner for rings and front-end regions;
//  - a scripted peer for the rule tests: replies written ahead into the socket (the front-end
//    reads them when it expects a reply), and every request the front-end sent read back and
//    decoded afterwards.
// Test code: heap and threads are fine here.
#pragma once

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "linux/socket_support.hpp"
#include "test_support.hpp"
#include "vireo/core/features.hpp"
#include "vireo/linux/memfd_guest_ram.hpp"
#include "vireo/linux/unix_socket.hpp"
#include "vireo/linux/vhost_user_channel.hpp"
#include "vireo/linux/vhost_user_frontend.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/requests.hpp"

namespace vireo_fe_test {

namespace lh = vireo::linux_host;
namespace vu = vireo::vhost_user;
namespace ring = vireo::ring;
using vireo::errc;
using vireo::feature_set;
using vireo::gpa;
using vireo::transport_feature;
using vireo_test::err;
using fr = vu::frontend_request;
using pf = vu::protocol_feature;

using frontend_t = lh::frontend<8, 8>;
using ram_t = lh::memfd_guest_ram<8>;

[[nodiscard]] constexpr std::uint32_t code(fr r) { return static_cast<std::uint32_t>(r); }

// ---- Guest RAM and queue layout ---------------------------------------------------------------

inline constexpr gpa ring_base{0x4000'0000};  ///< region 0: the rings
inline constexpr gpa data_base{0x8000'0000};  ///< region 1: front-end request memory
inline constexpr std::uint64_t ring_bytes = 256 * 1024;
inline constexpr std::uint64_t data_bytes = 64 * 1024;

[[nodiscard]] inline ram_t make_ram() {
  const std::array<lh::ram_layout, 2> layout{lh::ram_layout{ring_base, ring_bytes},
                                             lh::ram_layout{data_base, data_bytes}};
  auto r = ram_t::create(layout);
  REQUIRE(r);
  return std::move(*r);
}

/// Queue `index` laid out in region 0 (32 KiB apart), with the transport bits of `features`.
[[nodiscard]] inline ring::queue_config plan_queue(std::uint32_t index, std::uint16_t size,
                                                   std::uint64_t features) {
  const std::uint64_t transport =
      features & ~std::uint64_t{0xFF'FFFF} & ~vu::f_protocol_features;  // §6: device bits 0-23
  const feature_set f = feature_set::from_words(transport);
  const gpa base = ring_base.offset(std::uint64_t{index} * 0x8000);
  if (f.has(transport_feature::ring_packed)) {
    namespace L = ring::packed_layout;
    const std::uint64_t desc = L::desc_ring_bytes(size);
    return {size, base, base.offset(desc), base.offset(desc + 64), f};
  }
  namespace L = ring::split_layout;
  const std::uint64_t avail_at = L::desc_table_bytes(size);
  const std::uint64_t used_at = (avail_at + L::avail_bytes(size) + 63) / 64 * 64;
  return {size, base, base.offset(avail_at), base.offset(used_at), f};
}

[[nodiscard]] inline std::uint64_t layout_bit(bool packed) {
  return packed ? std::uint64_t{1} << static_cast<unsigned>(transport_feature::ring_packed) : 0;
}
inline constexpr std::uint64_t version_1 = std::uint64_t{1}
                                           << static_cast<unsigned>(transport_feature::version_1);
inline constexpr std::uint64_t event_idx = std::uint64_t{1}
                                           << static_cast<unsigned>(transport_feature::event_idx);

/// A front-end socket pair: the front-end's end and the peer's (as a plain owner).
struct socket_ends {
  lh::basic_unique_fd<lh::real_frontend_sys> frontend;
  lh::unique_fd peer;
};
[[nodiscard]] inline socket_ends make_ends() {
  auto p = lh::make_socket_pair<lh::real_frontend_sys>();
  REQUIRE(p);
  return {std::move(p->first), lh::unique_fd{p->second.release()}};
}

[[nodiscard]] inline frontend_t open_frontend(lh::basic_unique_fd<lh::real_frontend_sys> s,
                                              lh::frontend_options o = {}) {
  auto fe = frontend_t::open(std::move(s), o);
  REQUIRE(fe);
  return std::move(*fe);
}

// ---- A scripted peer ----------------------------------------------------------------------------

/// One request as the peer received it.
struct seen_request {
  std::uint32_t code = 0;
  std::uint32_t flags = 0;
  std::vector<std::byte> payload;
  std::size_t fds = 0;
  [[nodiscard]] std::uint64_t u64() const {
    std::uint64_t v = 0;
    REQUIRE(payload.size() >= 8);
    std::memcpy(&v, payload.data(), 8);
    return v;
  }
  [[nodiscard]] std::uint32_t word(std::size_t at) const {
    std::uint32_t v = 0;
    REQUIRE(payload.size() >= at + 4);
    std::memcpy(&v, payload.data() + at, 4);
    return v;
  }
};

/// The other end of the front-end's socket, played by the test: replies are queued in the
/// socket ahead of the requests they answer, and requests are read back afterwards.
class scripted_peer {
 public:
  explicit scripted_peer(lh::unique_fd sock) : ch_(std::move(sock)) {}

  [[nodiscard]] int fd() const { return ch_.fd(); }
  void close() { ch_.close(); }

  /// Queue raw bytes (possibly malformed) with `fds`.
  void raw(std::span<const std::byte> bytes, std::span<const int> fds = {}) {
    REQUIRE(vireo_socket_test::raw_send(ch_.fd(), bytes, fds) ==
            static_cast<ssize_t>(bytes.size()));
  }
  void reply(fr r, std::span<const std::byte> payload,
             std::uint32_t flags = vu::flag::reply_flags) {
    raw(vireo_socket_test::frame(code(r), flags, payload));
  }
  void reply_u64(fr r, std::uint64_t v) {
    std::array<std::byte, 8> p{};
    std::memcpy(p.data(), &v, 8);
    reply(r, p);
  }
  /// A REPLY_ACK answer (0: success).
  void ack(fr r, std::uint64_t status = 0) { reply_u64(r, status); }
  void reply_state(fr r, std::uint32_t index, std::uint32_t num) {
    std::array<std::byte, 8> p{};
    std::memcpy(p.data(), &index, 4);
    std::memcpy(p.data() + 4, &num, 4);
    reply(r, p);
  }
  void reply_config(std::uint32_t offset, std::span<const std::byte> data,
                    std::uint32_t flags = 0) {
    std::vector<std::byte> p(12 + data.size());
    const auto size = static_cast<std::uint32_t>(data.size());
    std::memcpy(p.data(), &offset, 4);
    std::memcpy(p.data() + 4, &size, 4);
    std::memcpy(p.data() + 8, &flags, 4);
    if (!data.empty()) std::memcpy(p.data() + 12, data.data(), data.size());
    reply(fr::get_config, p);
  }

  /// Every request the front-end sent so far (their fds closed), in order.
  [[nodiscard]] std::vector<seen_request> requests() {
    std::vector<seen_request> out;
    for (;;) {
      auto m = ch_.try_receive();
      if (!m || m->empty()) break;
      const vu::header h = m->header();
      seen_request s;
      s.code = h.request.get();
      s.flags = h.flags.get();
      s.payload.assign(m->payload().begin(), m->payload().end());
      s.fds = m->fds().size();
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  lh::channel ch_;
};

/// The codes of `seen`, for a readable comparison.
[[nodiscard]] inline std::vector<std::uint32_t> codes(const std::vector<seen_request>& seen) {
  std::vector<std::uint32_t> c;
  for (const auto& s : seen) c.push_back(s.code);
  return c;
}
[[nodiscard]] inline std::vector<std::uint32_t> codes(std::initializer_list<fr> rs) {
  std::vector<std::uint32_t> c;
  for (fr r : rs) c.push_back(code(r));
  return c;
}

}  // namespace vireo_fe_test
