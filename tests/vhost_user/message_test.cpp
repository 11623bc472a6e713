// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/vhost_user/message.hpp: every malformed-input case of digest §10 that a single
// message can show, and every size/fd/flag rule of §1-§4, gives its typed error; the numbered
// rules of §9 that concern the codec are named in the test titles. Also the fd contract.
#include "vhost_user_test_support.hpp"

#include <algorithm>

using namespace vireo_vu_test;
using vu::backend_request;
using vu::channel;
using vu::frontend_request;
using vu::payload_type;

namespace {

builder region(std::uint64_t gpa = 0x100000, std::uint64_t size = 0x100000,
               std::uint64_t uaddr = 0x7f0000000000, std::uint64_t off = 0) {
  return builder{}.region(gpa, size, uaddr, off);
}
/// SET_MEM_TABLE with n copies of `r` (sizes follow from n unless told).
std::vector<std::byte> mem_table(std::uint32_t n, const builder& r = region(),
                                 std::uint32_t padding = 0) {
  builder p;
  p.u32(n).u32(padding);
  for (std::uint32_t i = 0; i < n; ++i) p.raw(r.bytes());
  return frame(5, req_flags, p);
}
std::vector<std::byte> vring_state_msg(frontend_request r, std::uint32_t index, std::uint32_t num) {
  return frame(code(r), req_flags, builder{}.u32(index).u32(num));
}
std::vector<std::byte> u64_msg(std::uint32_t c, std::uint64_t v) {
  return frame(c, req_flags, builder{}.u64(v));
}
std::vector<std::byte> config_msg(frontend_request r, std::uint32_t offset, std::uint32_t size,
                                  std::uint32_t flags, std::size_t data) {
  return frame(code(r), req_flags, builder{}.u32(offset).u32(size).u32(flags).zeros(data));
}
std::vector<std::byte> iotlb(channel, std::uint64_t iova, std::uint64_t size, std::uint64_t uaddr,
                             std::uint8_t perm, std::uint8_t type, std::uint32_t c = 22) {
  return frame(c, req_flags, builder{}.u64(iova).u64(size).u64(uaddr).u8(perm).u8(type).zeros(6));
}
std::vector<std::byte> add_mem_reg(const builder& r = region(), std::uint64_t padding = 0,
                                   std::uint32_t c = 37) {
  return frame(c, req_flags, builder{}.u64(padding).raw(r.bytes()));
}

}  // namespace

// ---- Framing (§1, §10.1-10.6) ---------------------------------------------------------------------

TEST_CASE("§10.1 header truncated: 0-11 bytes") {
  const auto full = frame(1, req_flags);
  for (std::size_t n = 0; n < vu::header_size; ++n) {
    CAPTURE(n);
    CHECK(dec_err({full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)}) ==
          errc::vhost_header_truncated);
  }
}

TEST_CASE("B1 §10.2 the frame must be exactly 12 + size bytes: short payload, trailing bytes") {
  auto f = frame(2, req_flags, builder{}.u64(1));
  CHECK(dec(f).has_value());
  f.pop_back();  // payload shorter than size
  CHECK(dec_err(f) == errc::vhost_frame_length);
  f = frame(2, req_flags, builder{}.u64(1));
  f.push_back(std::byte{0});  // the first byte of a next message: never taken as this one's
  CHECK(dec_err(f) == errc::vhost_frame_length);
  CHECK(dec_err(frame_sized(1, req_flags, 8)) == errc::vhost_frame_length);
}

TEST_CASE("B3 §10.3 size 0xFFFFFFFF, cap+1 refused before the length is looked at; cap accepted") {
  CHECK(dec_err(frame_sized(1, req_flags, 0xFFFFFFFFu)) == errc::vhost_payload_too_large);
  CHECK(dec_err(frame_sized(26, req_flags, vu::default_max_payload + 1)) ==
        errc::vhost_payload_too_large);
  // A payload of exactly the cap is accepted (CREATE_CRYPTO_SESSION is opaque and unbounded).
  const auto at_cap = frame(26, req_flags, builder{}.zeros(vu::default_max_payload));
  CHECK(dec(at_cap).has_value());
  vu::codec_options small;
  small.max_payload = 100;
  CHECK(dec_err(at_cap, 0, channel::main, small) == errc::vhost_payload_too_large);
}

TEST_CASE("B2 §10.4 version 0/2/3, REPLY set on a request, reserved flag bits") {
  for (std::uint32_t v : {0u, 2u, 3u}) CHECK(dec_err(frame(1, v)) == errc::vhost_bad_version);
  CHECK(dec_err(frame(1, 0x5)) == errc::vhost_reply_flag_on_request);
  CHECK(dec_err(frame(1, 0xD)) == errc::vhost_reply_flag_on_request);
  CHECK(dec_err(frame(1, 0x11)) == errc::vhost_reserved_flags);
  CHECK(dec_err(frame(1, 0x80000001u)) == errc::vhost_reserved_flags);
  // On the back-end channel too (§10.29: an unsolicited reply is not a request).
  CHECK(dec_err(frame(2, 0x5), 0, channel::backend) == errc::vhost_reply_flag_on_request);
}

TEST_CASE("B5 §10.5 unknown request codes 0, 45, 0x7FFFFFFF with and without fds") {
  for (std::uint32_t c : {0u, 45u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
    CAPTURE(c);
    CHECK(dec_err(frame(c, req_flags)) == errc::vhost_unknown_request);
    CHECK(dec_err(frame(c, req_flags), 1) == errc::vhost_unknown_request);
    CHECK(dec_err(frame(c, req_need_reply, builder{}.u64(0)), 3) == errc::vhost_unknown_request);
  }
  // Back-end channel: 0 and 11.. are unknown; 44 is a main-socket code only.
  CHECK(dec_err(frame(0, req_flags), 0, channel::backend) == errc::vhost_unknown_request);
  CHECK(dec_err(frame(11, req_flags), 0, channel::backend) == errc::vhost_unknown_request);
  CHECK(dec_err(frame(44, req_flags), 0, channel::backend) == errc::vhost_unknown_request);
  // §10.29: NEED_REPLY on an unknown back-end request.
  CHECK(dec_err(frame(12, req_need_reply), 0, channel::backend) == errc::vhost_unknown_request);
}

TEST_CASE("B6 §10.6 fds attached to a message that takes none; more fds than a message can hold") {
  CHECK(dec_err(frame(1, req_flags), 1) == errc::vhost_unexpected_fd);
  CHECK(dec_err(frame(3, req_flags), 2) == errc::vhost_unexpected_fd);
  CHECK(dec_err(vring_state_msg(frontend_request::set_vring_num, 0, 4), 1) ==
        errc::vhost_unexpected_fd);
  CHECK(dec_err(frame(2, req_flags), 1, channel::backend) == errc::vhost_unexpected_fd);  // §10.29
  CHECK(dec_err(mem_table(8), vu::max_fds_per_message + 1) == errc::vhost_unexpected_fd);
  // Messages that need an fd and lack it.
  for (std::uint32_t c : {7u, 21u, 33u}) {
    CAPTURE(c);
    CHECK(dec_err(frame(c, req_flags)) == errc::vhost_missing_fd);
    CHECK(dec_err(frame(c, req_flags), 2) == errc::vhost_unexpected_fd);
    CHECK(dec(frame(c, req_flags), 1).has_value());
  }
}

TEST_CASE("B4 payload size must match the request type") {
  // Fixed layouts: one byte short and one byte long.
  const std::pair<std::uint32_t, std::size_t> fixed[] = {
      {2, 8}, {8, 8}, {9, 40}, {10, 8}, {11, 8}, {12, 8}, {16, 8}, {18, 8}, {22, 32}, {23, 8},
      {31, 24}, {32, 24}, {35, 8}, {37, 40}, {38, 40}, {39, 8}, {41, 16}, {42, 8}, {6, 16}};
  for (const auto& entry : fixed) {
    const std::uint32_t c = entry.first;  // not a structured binding: clang 14 cannot capture those
    const std::size_t size = entry.second;
    CAPTURE(c);
    CHECK(dec_err(frame(c, req_flags, builder{}.zeros(size - 1)), 1) == errc::vhost_payload_size);
    CHECK(dec_err(frame(c, req_flags, builder{}.zeros(size + 1)), 1) == errc::vhost_payload_size);
  }
  // Empty payloads carry nothing.
  for (std::uint32_t c : {1u, 3u, 4u, 15u, 17u, 28u, 29u, 30u, 34u, 36u, 40u, 43u, 44u}) {
    CAPTURE(c);
    CHECK(dec_err(frame(c, req_flags, builder{}.u64(0))) == errc::vhost_payload_size);
  }
  // Crypto session: at least the 8-byte session id.
  CHECK(dec_err(frame(26, req_flags, builder{}.zeros(7))) == errc::vhost_payload_size);
  // Back-end channel layouts.
  CHECK(dec_err(frame(1, req_flags, builder{}.zeros(30)), 0, channel::backend) ==
        errc::vhost_payload_size);
  CHECK(dec_err(frame(3, req_flags, builder{}.zeros(16)), 0, channel::backend) ==
        errc::vhost_payload_size);
  CHECK(dec_err(frame(9, req_flags, builder{}.zeros(32)), 1, channel::backend) ==
        errc::vhost_payload_size);
}

// ---- Rings (§10.12-10.17) -------------------------------------------------------------------------

TEST_CASE("B14 §10.12 vring index at or above the queue count; 255 and 256") {
  vu::codec_options two;
  two.num_queues = 2;
  CHECK(dec(vring_state_msg(frontend_request::set_vring_num, 1, 4), 0, channel::main, two).has_value());
  for (auto r : {frontend_request::set_vring_num, frontend_request::set_vring_base,
                 frontend_request::get_vring_base, frontend_request::set_vring_enable,
                 frontend_request::set_vring_endian, frontend_request::vring_kick}) {
    CAPTURE(vu::name(r));
    CHECK(dec_err(vring_state_msg(r, 2, 0), 0, channel::main, two) == errc::vhost_vring_index);
  }
  CHECK(dec_err(frame(9, req_flags, builder{}.u32(2).u32(0).zeros(32)), 0, channel::main, two) ==
        errc::vhost_vring_index);
  for (std::uint32_t c : {12u, 13u, 14u}) {
    CHECK(dec_err(u64_msg(c, 2), 1, channel::main, two) == errc::vhost_vring_index);
    CHECK(dec_err(u64_msg(c, 0x102), 0, channel::main, two) == errc::vhost_vring_index);
  }
  CHECK(dec_err(frame(4, req_flags, builder{}.u32(2).u32(0)), 0, channel::backend, two) ==
        errc::vhost_vring_index);
  CHECK(dec_err(frame(3, req_flags, builder{}.u64(0x102).u64(0).u64(0)), 0, channel::backend, two) ==
        errc::vhost_vring_index);
  // With the default 256 queues: index 255 is the last the 8-bit field can hold; "256" in the
  // u64 is index 0 with the no-fd bit, so an attached fd is unexpected.
  CHECK(dec(u64_msg(12, 255), 1).has_value());
  CHECK(dec(vring_state_msg(frontend_request::set_vring_num, 255, 4)).has_value());
  CHECK(dec_err(vring_state_msg(frontend_request::set_vring_num, 256, 4)) == errc::vhost_vring_index);
  CHECK(dec_err(u64_msg(12, 256), 1) == errc::vhost_unexpected_fd);
  const auto polled = u64_msg(12, 256);  // the message views this buffer: keep it alive
  const auto m = dec(polled);
  REQUIRE(m.has_value());
  CHECK(vu::vring_index_of(*m) == 0);
}

TEST_CASE("B12 §10.13 KICK/CALL/ERR: no-fd bit against attached fds; reserved bits 9-63") {
  for (std::uint32_t c : {12u, 13u, 14u}) {
    CAPTURE(c);
    CHECK(dec_err(u64_msg(c, 0)) == errc::vhost_missing_fd);           // bit 8 clear, no fd
    CHECK(dec_err(u64_msg(c, 0x100), 1) == errc::vhost_unexpected_fd);  // bit 8 set, an fd
    CHECK(dec_err(u64_msg(c, 0), 2) == errc::vhost_unexpected_fd);      // two fds
    CHECK(dec_err(u64_msg(c, 0x200), 1) == errc::vhost_reserved_nonzero);
    CHECK(dec_err(u64_msg(c, 0x8000000000000000ull), 1) == errc::vhost_reserved_nonzero);
    const auto polled = dec(u64_msg(c, 0x100));
    REQUIRE(polled.has_value());
    CHECK(polled->fd_count == 0);
    const auto with_fd = dec(u64_msg(c, 3), 1);
    REQUIRE(with_fd.has_value());
    CHECK(with_fd->fd_count == 1);
    CHECK(with_fd->fds[0] == fake_fds[0]);
  }
}

TEST_CASE("B15 §10.14 SET_VRING_NUM 0, 1, 3, 32768, 32769, above the back-end maximum") {
  auto num = [](std::uint32_t n, const vu::codec_options& o = {}) {
    return dec_err(vring_state_msg(frontend_request::set_vring_num, 0, n), 0, channel::main, o);
  };
  CHECK(num(0) == errc::bad_queue_size);
  CHECK(num(1) == errc{});
  CHECK(num(3) == errc{});  // power of two: split rings only, the session knows the layout
  CHECK(num(32768) == errc{});
  CHECK(num(32769) == errc::bad_queue_size);
  vu::codec_options o;
  o.max_queue_size = 256;
  CHECK(num(256, o) == errc{});
  CHECK(num(512, o) == errc::bad_queue_size);
}

TEST_CASE("§10.15 SET_VRING_ADDR: misaligned rings, unknown flags") {
  auto addr = [](std::uint32_t flags, std::uint64_t desc, std::uint64_t used, std::uint64_t avail) {
    return frame(9, req_flags, builder{}.u32(0).u32(flags).u64(desc).u64(used).u64(avail).u64(0));
  };
  CHECK(dec(addr(1, 0x1000, 0x3004, 0x2002)).has_value());
  CHECK(dec_err(addr(0, 0x1008, 0x3000, 0x2000)) == errc::ring_misaligned);  // desc: 16
  CHECK(dec_err(addr(0, 0x1000, 0x3002, 0x2000)) == errc::ring_misaligned);  // used: 4
  CHECK(dec_err(addr(0, 0x1000, 0x3000, 0x2001)) == errc::ring_misaligned);  // avail: 2
  CHECK(dec_err(addr(2, 0x1000, 0x3000, 0x2000)) == errc::vhost_reserved_nonzero);
  CHECK(dec_err(addr(0x80000000u, 0x1000, 0x3000, 0x2000)) == errc::vhost_reserved_nonzero);
}

TEST_CASE("B11 §10.17 SET_VRING_ENABLE num 0/1 only; SET_VRING_ENDIAN 0/1; reserved nums") {
  CHECK(dec(vring_state_msg(frontend_request::set_vring_enable, 0, 0)).has_value());
  CHECK(dec(vring_state_msg(frontend_request::set_vring_enable, 0, 1)).has_value());
  CHECK(dec_err(vring_state_msg(frontend_request::set_vring_enable, 0, 2)) == errc::vhost_bad_value);
  CHECK(dec_err(vring_state_msg(frontend_request::set_vring_endian, 0, 2)) == errc::vhost_bad_value);
  // GET_VRING_BASE and VRING_KICK: "num is currently reserved and must be set to 0".
  CHECK(dec_err(vring_state_msg(frontend_request::get_vring_base, 0, 1)) ==
        errc::vhost_reserved_nonzero);
  CHECK(dec_err(vring_state_msg(frontend_request::vring_kick, 0, 1)) == errc::vhost_reserved_nonzero);
  CHECK(dec_err(frame(4, req_flags, builder{}.u32(0).u32(1)), 0, channel::backend) ==
        errc::vhost_reserved_nonzero);
  // SET_VRING_BASE: any 32-bit value (split or packed encoding; the session checks).
  CHECK(dec(vring_state_msg(frontend_request::set_vring_base, 0, 0x80008000u)).has_value());
}

// ---- Memory (§10.19-10.22) --------------------------------------------------------------------------

TEST_CASE("B4 B6 §10.19 SET_MEM_TABLE: nregions 0 and 9, fds against regions, padding, size") {
  CHECK(dec_err(mem_table(0)) == errc::vhost_region_count);
  CHECK(dec_err(mem_table(9), 8) == errc::vhost_region_count);
  CHECK(dec(mem_table(8), 8).has_value());
  CHECK(dec_err(mem_table(2), 3) == errc::vhost_unexpected_fd);
  CHECK(dec_err(mem_table(2), 1) == errc::vhost_missing_fd);
  CHECK(dec_err(mem_table(1, region(), 1), 1) == errc::vhost_reserved_nonzero);
  // size != 8 + 32·n: nregions says 2 but three regions follow, or one.
  auto three = mem_table(3);
  three[vu::header_size] = std::byte{2};
  CHECK(dec_err(three, 2) == errc::vhost_payload_size);
  auto one = mem_table(1);
  one[vu::header_size] = std::byte{2};
  CHECK(dec_err(one, 2) == errc::vhost_payload_size);
  CHECK(dec_err(frame(5, req_flags, builder{}.u32(1))) == errc::vhost_payload_size);
}

TEST_CASE("§10.20 region with memory_size 0; gpa, uaddr or mmap_offset + size overflowing") {
  constexpr std::uint64_t top = 0xFFFFFFFFFFFFF000ull;
  CHECK(dec_err(mem_table(1, region(0, 0)), 1) == errc::vhost_zero_size);
  CHECK(dec_err(mem_table(1, region(top, 0x1000)), 1) == errc::vhost_range_overflow);
  CHECK(dec(mem_table(1, region(top - 1, 0x1000)), 1).has_value());  // ends at 2^64 - 1
  CHECK(dec_err(mem_table(1, region(0, 0x1000, top, 0)), 1) == errc::vhost_range_overflow);
  CHECK(dec_err(mem_table(1, region(0, 0x1000, 0, top)), 1) == errc::vhost_range_overflow);
  CHECK(dec_err(mem_table(1, region(0, ~std::uint64_t{0}, 1, 0)), 1) == errc::vhost_range_overflow);
  // The second region is checked too.
  builder two;
  two.u32(2).u32(0).raw(region().bytes()).raw(region(0, 0).bytes());
  CHECK(dec_err(frame(5, req_flags, two), 2) == errc::vhost_zero_size);
}

TEST_CASE("XEN_MMAP regions: 40 bytes, exactly one of foreign/grant, no unknown flag") {
  vu::codec_options xen;
  xen.protocol_features = vu::bit(vu::protocol_feature::xen_mmap);
  auto xen_table = [](std::uint32_t flags) {
    return frame(5, req_flags, builder{}.u32(1).u32(0).raw(region().bytes()).u32(flags).u32(1));
  };
  CHECK(dec(xen_table(1), 1, channel::main, xen).has_value());
  CHECK(dec(xen_table(0x102), 1, channel::main, xen).has_value());
  CHECK(dec_err(xen_table(0), 1, channel::main, xen) == errc::vhost_bad_value);
  CHECK(dec_err(xen_table(3), 1, channel::main, xen) == errc::vhost_bad_value);
  CHECK(dec_err(xen_table(0x11), 1, channel::main, xen) == errc::vhost_reserved_nonzero);
  CHECK(dec_err(mem_table(1), 1, channel::main, xen) == errc::vhost_payload_size);
  CHECK(dec_err(xen_table(1), 1) == errc::vhost_payload_size);  // not negotiated: 32-byte regions
  const auto add = frame(37, req_flags, builder{}.u64(0).raw(region().bytes()).u32(2).u32(0));
  CHECK(dec(add, 1, channel::main, xen).has_value());
  CHECK(dec_err(add, 1) == errc::vhost_payload_size);
}

TEST_CASE("§10.22 ADD_MEM_REG with 0 or 2 fds, 32 bytes instead of 40; REM_MEM_REG with an fd") {
  CHECK(dec(add_mem_reg(), 1).has_value());
  CHECK(dec_err(add_mem_reg()) == errc::vhost_missing_fd);
  CHECK(dec_err(add_mem_reg(), 2) == errc::vhost_unexpected_fd);
  CHECK(dec_err(frame(37, req_flags, region()), 1) == errc::vhost_payload_size);
  // Its padding is not required to be zero by the spec: kept as received, not refused.
  const auto padded = add_mem_reg(region(), 0xDEAD);
  const auto pm = dec(padded, 1);
  REQUIRE(pm.has_value());
  std::array<std::byte, 64> again{};
  const auto n = vu::encode_message(*pm, again);
  REQUIRE(n.has_value());
  CHECK(std::equal(padded.begin(), padded.end(), again.begin()));
  CHECK(dec_err(add_mem_reg(region(0, 0)), 1) == errc::vhost_zero_size);
  CHECK(dec_err(add_mem_reg(region(0, 0x1000, 0, ~std::uint64_t{0})), 1) ==
        errc::vhost_range_overflow);
  // REM_MEM_REG: no fd (SHOULD); one fd accepted but not consumed: its owner closes it (MUST).
  const auto rem = add_mem_reg(region(), 0, 38);
  const auto none = dec(rem);
  REQUIRE(none.has_value());
  CHECK(none->fd_count == 0);
  const auto one = dec(rem, 1);
  REQUIRE(one.has_value());
  CHECK(one->fd_count == 0);
  vu::codec_options strict;
  strict.accept_rem_mem_reg_fd = false;
  CHECK(dec_err(rem, 1, channel::main, strict) == errc::vhost_unexpected_fd);
  CHECK(dec_err(rem, 2) == errc::vhost_unexpected_fd);
  // mmap_offset "is ignored" for REM_MEM_REG: not checked for overflow there.
  CHECK(dec(add_mem_reg(region(0, 0x1000, 0, ~std::uint64_t{0}), 0, 38)).has_value());
  CHECK(dec_err(add_mem_reg(region(0, 0), 0, 38)) == errc::vhost_zero_size);
}

// ---- Config, log, inflight, IOTLB, misc (§10.24-10.29) ------------------------------------------------

TEST_CASE("§10.24 GET_CONFIG size 0, above 256, offset + size overflow, hdr.size != 12 + size") {
  using fr = frontend_request;
  CHECK(dec(config_msg(fr::get_config, 0, 8, 0, 8)).has_value());
  CHECK(dec(config_msg(fr::get_config, 0, 256, 0, 256)).has_value());
  CHECK(dec(config_msg(fr::get_config, 255, 1, 0, 1)).has_value());
  CHECK(dec_err(config_msg(fr::get_config, 0, 0, 0, 0)) == errc::vhost_zero_size);
  CHECK(dec_err(config_msg(fr::get_config, 0, 257, 0, 257)) == errc::vhost_config_range);
  CHECK(dec_err(config_msg(fr::get_config, 250, 8, 0, 8)) == errc::vhost_config_range);
  CHECK(dec_err(config_msg(fr::get_config, 0xFFFFFFFFu, 8, 0, 8)) == errc::vhost_config_range);
  CHECK(dec_err(config_msg(fr::get_config, 0, 8, 0, 7)) == errc::vhost_payload_size);
  CHECK(dec_err(config_msg(fr::get_config, 0, 8, 0, 9)) == errc::vhost_payload_size);
  CHECK(dec_err(frame(24, req_flags, builder{}.u32(0).u32(0))) == errc::vhost_payload_size);
}

TEST_CASE("B19 §10.25 SET_CONFIG flags: 0 front-end write, 1 migration, nothing else") {
  using fr = frontend_request;
  CHECK(dec(config_msg(fr::set_config, 0, 2, 0, 2)).has_value());
  CHECK(dec(config_msg(fr::set_config, 0, 2, 1, 2)).has_value());
  CHECK(dec_err(config_msg(fr::set_config, 0, 2, 2, 2)) == errc::vhost_bad_value);
}

TEST_CASE("§10.26 SET_LOG_BASE: fd iff LOG_SHMFD, mmap_size 0, offset overflow") {
  const auto log = frame(6, req_flags, builder{}.u64(0x1000).u64(0));
  vu::codec_options shm;
  shm.protocol_features = vu::bit(vu::protocol_feature::log_shmfd);
  CHECK(dec(log, 1, channel::main, shm).has_value());
  CHECK(dec_err(log, 0, channel::main, shm) == errc::vhost_missing_fd);
  CHECK(dec(log).has_value());
  CHECK(dec_err(log, 1) == errc::vhost_unexpected_fd);
  CHECK(dec_err(frame(6, req_flags, builder{}.u64(0).u64(0)), 1, channel::main, shm) ==
        errc::vhost_zero_size);
  CHECK(dec_err(frame(6, req_flags, builder{}.u64(0x1000).u64(~std::uint64_t{0} - 0xFFF)), 1,
                channel::main, shm) == errc::vhost_range_overflow);
}

TEST_CASE("§10.27 GET/SET_INFLIGHT_FD: num_queues or queue_size 0; SET needs a buffer") {
  auto infl = [](std::uint32_t c, std::uint64_t size, std::uint64_t off, std::uint16_t nq,
                 std::uint16_t qs) {
    return frame(c, req_flags, builder{}.u64(size).u64(off).u16(nq).u16(qs).zeros(4));
  };
  CHECK(dec(infl(31, 0, 0, 2, 256)).has_value());
  CHECK(dec_err(infl(31, 0, 0, 0, 256)) == errc::vhost_zero_size);
  CHECK(dec_err(infl(31, 0, 0, 2, 0)) == errc::vhost_zero_size);
  CHECK(dec(infl(32, 0x1000, 0, 2, 256), 1).has_value());
  CHECK(dec_err(infl(32, 0, 0, 2, 256), 1) == errc::vhost_zero_size);
  CHECK(dec_err(infl(32, 0x1000, ~std::uint64_t{0}, 2, 256), 1) == errc::vhost_range_overflow);
  CHECK(dec_err(infl(32, 0x1000, 0, 2, 256)) == errc::vhost_missing_fd);
}

TEST_CASE("§10.28 IOTLB_MSG: unknown type or perm, size 0, iova + size overflow") {
  const auto m = channel::main;
  CHECK(dec(iotlb(m, 0x1000, 0x1000, 0x7000, 3, 2)).has_value());
  CHECK(dec(iotlb(m, 0x1000, 0x1000, 0, 0, 3)).has_value());  // invalidate
  CHECK(dec_err(iotlb(m, 0x1000, 0x1000, 0x7000, 4, 2)) == errc::vhost_bad_value);
  for (std::uint8_t t : {0, 1, 4, 5}) {
    CAPTURE(int{t});
    CHECK(dec_err(iotlb(m, 0x1000, 0x1000, 0x7000, 3, t)) == errc::vhost_bad_value);
  }
  CHECK(dec_err(iotlb(m, 0x1000, 0, 0x7000, 3, 2)) == errc::vhost_zero_size);
  CHECK(dec_err(iotlb(m, ~std::uint64_t{0}, 2, 0x7000, 3, 2)) == errc::vhost_range_overflow);
  CHECK(dec_err(iotlb(m, 0x1000, 0x1000, ~std::uint64_t{0}, 3, 2)) == errc::vhost_range_overflow);
  // The back-end reports only misses and access failures.
  const auto b = channel::backend;
  CHECK(dec(iotlb(b, 0x1000, 0, 0, 1, 1, 1), 0, b).has_value());
  CHECK(dec(iotlb(b, 0x1000, 0, 0, 2, 4, 1), 0, b).has_value());
  CHECK(dec_err(iotlb(b, 0x1000, 0x1000, 0, 3, 2, 1), 0, b) == errc::vhost_bad_value);
}

TEST_CASE("§10.29 back-end channel: HOST_NOTIFIER fd rule, SHMEM_MAP, shared objects") {
  const auto b = channel::backend;
  auto notifier = [](std::uint64_t u, std::uint64_t size, std::uint64_t off) {
    return frame(3, req_flags, builder{}.u64(u).u64(size).u64(off));
  };
  CHECK(dec(notifier(0, 4096, 0), 1, b).has_value());
  CHECK(dec(notifier(0x100, 0, 0), 0, b).has_value());  // remove: no fd, size ignored
  CHECK(dec_err(notifier(0, 4096, 0), 0, b) == errc::vhost_missing_fd);
  CHECK(dec_err(notifier(0x100, 0, 0), 1, b) == errc::vhost_unexpected_fd);
  CHECK(dec_err(notifier(0x200, 4096, 0), 1, b) == errc::vhost_reserved_nonzero);
  CHECK(dec_err(notifier(0, 0, 0), 1, b) == errc::vhost_zero_size);
  CHECK(dec_err(notifier(0, 4096, ~std::uint64_t{0}), 1, b) == errc::vhost_range_overflow);
  auto shmem = [](std::uint32_t c, std::uint64_t fd_off, std::uint64_t shm_off, std::uint64_t len,
                  std::uint64_t flags) {
    return frame(c, req_flags, builder{}.u8(1).zeros(7).u64(fd_off).u64(shm_off).u64(len).u64(flags));
  };
  CHECK(dec(shmem(9, 0, 0, 0x1000, 1), 1, b).has_value());
  CHECK(dec_err(shmem(9, 0, 0, 0x1000, 1), 0, b) == errc::vhost_missing_fd);
  CHECK(dec_err(shmem(9, 0, 0, 0, 1), 1, b) == errc::vhost_zero_size);
  CHECK(dec_err(shmem(9, 0, 0, 0x1000, 2), 1, b) == errc::vhost_reserved_nonzero);
  CHECK(dec_err(shmem(9, ~std::uint64_t{0}, 0, 0x1000, 0), 1, b) == errc::vhost_range_overflow);
  CHECK(dec_err(shmem(9, 0, ~std::uint64_t{0}, 0x1000, 0), 1, b) == errc::vhost_range_overflow);
  CHECK(dec(shmem(10, ~std::uint64_t{0}, 0, 0x1000, 0), 0, b).has_value());  // fd_offset unused
  CHECK(dec_err(shmem(10, 0, 0, 0x1000, 0), 1, b) == errc::vhost_unexpected_fd);
  // The nil and max UUID name nothing (rust-vmm); the same for GET_SHARED_OBJECT.
  CHECK(dec_err(frame(6, req_flags, builder{}.zeros(16)), 0, b) == errc::vhost_bad_value);
  CHECK(dec_err(frame(8, req_flags, builder{}.fill(16, 0xFF)), 0, b) == errc::vhost_bad_value);
  CHECK(dec_err(frame(41, req_flags, builder{}.zeros(16))) == errc::vhost_bad_value);
}

TEST_CASE("SET_STATUS holds one status byte; device state direction and phase") {
  CHECK(dec(u64_msg(39, 0xFF)).has_value());
  CHECK(dec_err(u64_msg(39, 0x100)) == errc::vhost_bad_value);
  auto state = [](std::uint32_t dir, std::uint32_t phase) {
    return frame(42, req_flags, builder{}.u32(dir).u32(phase));
  };
  CHECK(dec(state(1, 0), 1).has_value());
  CHECK(dec_err(state(2, 0), 1) == errc::vhost_bad_value);
  CHECK(dec_err(state(0, 1), 1) == errc::vhost_bad_value);
  CHECK(dec_err(state(0, 0)) == errc::vhost_missing_fd);
}

TEST_CASE("postcopy: QEMU's u64 acknowledgement of the SET_MEM_TABLE reply") {
  const auto ack = u64_msg(5, 0);
  CHECK(dec_err(ack) == errc::vhost_region_count);  // outside postcopy: a table with 0 regions
  vu::codec_options listening;
  listening.postcopy_listening = true;
  const auto m = dec(ack, 0, channel::main, listening);
  REQUIRE(m.has_value());
  CHECK(m->type == payload_type::u64);
  CHECK(dec_err(ack, 1, channel::main, listening) == errc::vhost_unexpected_fd);
  CHECK(dec(mem_table(1), 1, channel::main, listening).has_value());  // tables still decode
}

// ---- The fd contract ---------------------------------------------------------------------------------

TEST_CASE("fds: on success a prefix is consumed, on failure none; the codec only copies ints") {
  // Success: exactly the message's fds, in order.
  const auto m = dec(mem_table(3), 3);
  REQUIRE(m.has_value());
  REQUIRE(m->message_fds().size() == 3);
  CHECK(m->message_fds()[0] == fake_fds[0]);
  CHECK(m->message_fds()[2] == fake_fds[2]);
  // REM_MEM_REG's tolerated fd is left over: fds[fd_count..] are the owner's to close.
  const auto rem = dec(add_mem_reg(region(), 0, 38), 1);
  REQUIRE(rem.has_value());
  CHECK(rem->message_fds().empty());
  // Failure: a result without a message, so nothing is consumed and every fd is closed by the
  // owner. (Negative numbers are just ints to the codec: it never touches a descriptor.)
  const std::array<int, 2> odd{-1, 7};
  CHECK(err(vu::decode(mem_table(1), odd, channel::main)) == errc::vhost_unexpected_fd);
  const auto neg = vu::decode(mem_table(2), odd, channel::main);
  REQUIRE(neg.has_value());
  CHECK(neg->fds[0] == -1);
}

// ---- Replies (rules F5, §7.4) -------------------------------------------------------------------------

TEST_CASE("F5 decode_reply: flags exactly 0x5, the awaited code, exact sizes") {
  const auto ok_reply = frame(1, rep_flags, builder{}.u64(0x40000000));
  CHECK(dec_reply(ok_reply, 1).has_value());
  CHECK(err(dec_reply(frame(1, 0xD, builder{}.u64(0)), 1)) == errc::vhost_bad_reply_flags);  // NEED_REPLY echoed
  CHECK(err(dec_reply(frame(1, 0x1, builder{}.u64(0)), 1)) == errc::vhost_bad_reply_flags);
  CHECK(err(dec_reply(frame(1, 0x6, builder{}.u64(0)), 1)) == errc::vhost_bad_version);
  CHECK(err(dec_reply(ok_reply, 15)) == errc::vhost_reply_mismatch);
  CHECK(err(dec_reply(frame(45, rep_flags, builder{}.u64(0)), 45)) == errc::vhost_unknown_request);
  CHECK(err(dec_reply(frame(1, rep_flags, builder{}.u32(0)), 1)) == errc::vhost_payload_size);
  CHECK(err(dec_reply(frame(1, rep_flags), 1)) == errc::vhost_payload_size);
  CHECK(err(dec_reply(ok_reply, 1, 1)) == errc::vhost_unexpected_fd);
  CHECK(err(dec_reply(frame(11, rep_flags, builder{}.u32(0).u32(7).u32(0)), 11)) ==
        errc::vhost_payload_size);
  vu::codec_options two;
  two.num_queues = 2;
  CHECK(err(dec_reply(frame(11, rep_flags, builder{}.u32(5).u32(7)), 11, 0, channel::main, two)) ==
        errc::vhost_vring_index);
  // A REPLY_ACK ack is a u64 whatever the request was.
  CHECK(dec_reply(frame(9, rep_flags, builder{}.u64(1)), 9).has_value());
  CHECK(err(dec_reply(frame(9, rep_flags), 9)) == errc::vhost_payload_size);
}

TEST_CASE("F5 decode_reply: replies with their own layouts and fds") {
  // GET_CONFIG: 12 + size (§7.4), offset + size within 256; an empty payload is the error reply.
  CHECK(dec_reply(frame(24, rep_flags, builder{}.u32(0).u32(8).u32(0).zeros(8)), 24).has_value());
  CHECK(dec_reply(frame(24, rep_flags), 24).has_value());
  CHECK(err(dec_reply(frame(24, rep_flags, builder{}.u32(0).u32(8).u32(0).zeros(4)), 24)) ==
        errc::vhost_payload_size);
  CHECK(err(dec_reply(frame(24, rep_flags, builder{}.u32(0).u32(300).u32(0).zeros(300)), 24)) ==
        errc::vhost_config_range);
  // POSTCOPY_ADVISE: empty + the userfaultfd.
  CHECK(dec_reply(frame(28, rep_flags), 28, 1).has_value());
  CHECK(err(dec_reply(frame(28, rep_flags), 28)) == errc::vhost_missing_fd);
  // GET_INFLIGHT_FD: 24 bytes; an fd iff mmap_size != 0.
  auto infl = [](std::uint64_t size) {
    return frame(31, rep_flags, builder{}.u64(size).u64(0).u16(1).u16(4).zeros(4));
  };
  CHECK(dec_reply(infl(0x1000), 31, 1).has_value());
  CHECK(dec_reply(infl(0), 31, 0).has_value());
  CHECK(err(dec_reply(infl(0x1000), 31, 0)) == errc::vhost_missing_fd);
  CHECK(err(dec_reply(infl(0), 31, 1)) == errc::vhost_unexpected_fd);
  // GET_SHARED_OBJECT: an fd on success, none on failure; empty or the 16-byte echo.
  CHECK(dec_reply(frame(41, rep_flags), 41, 1).has_value());
  CHECK(dec_reply(frame(41, rep_flags), 41, 0).has_value());
  CHECK(dec_reply(frame(41, rep_flags, builder{}.fill(16, 1)), 41, 1).has_value());
  CHECK(err(dec_reply(frame(41, rep_flags, builder{}.u64(0)), 41, 1)) == errc::vhost_payload_size);
  CHECK(err(dec_reply(frame(41, rep_flags), 41, 2)) == errc::vhost_unexpected_fd);
  // SET_DEVICE_STATE_FD: bit 8 = no fd; an error never comes with an fd.
  auto state = [](std::uint64_t v) { return frame(42, rep_flags, builder{}.u64(v)); };
  CHECK(dec_reply(state(0), 42, 1).has_value());
  CHECK(dec_reply(state(0x100), 42, 0).has_value());
  CHECK(dec_reply(state(0x101), 42, 0).has_value());
  CHECK(err(dec_reply(state(0), 42, 0)) == errc::vhost_missing_fd);
  CHECK(err(dec_reply(state(0x100), 42, 1)) == errc::vhost_unexpected_fd);
  CHECK(err(dec_reply(state(0x1), 42, 1)) == errc::vhost_bad_value);
  CHECK(err(dec_reply(state(0x200), 42, 0)) == errc::vhost_reserved_nonzero);
  // Postcopy replies of SET_MEM_TABLE / ADD_MEM_REG carry the mapping bases, no fds.
  builder table;
  table.u32(1).u32(0).region(0, 0x1000, 0x7f0000000000, 0);
  CHECK(dec_reply(frame(5, rep_flags, table), 5).has_value());
  CHECK(err(dec_reply(frame(5, rep_flags, table), 5, 1)) == errc::vhost_unexpected_fd);
  CHECK(dec_reply(frame(37, rep_flags, builder{}.u64(0).region(0, 0x1000, 0x7f0000000000, 0)), 37)
            .has_value());
  // GET_SHMEM_CONFIG: 8 + 8·256 (or the 8-entry draft), nregions within the entries.
  CHECK(dec_reply(frame(44, rep_flags, builder{}.u32(1).u32(0).zeros(64)), 44).has_value());
  CHECK(err(dec_reply(frame(44, rep_flags, builder{}.u32(9).u32(0).zeros(64)), 44)) ==
        errc::vhost_region_count);
  CHECK(err(dec_reply(frame(44, rep_flags, builder{}.u32(1).u32(0).zeros(72)), 44)) ==
        errc::vhost_payload_size);
  CHECK(err(dec_reply(frame(44, rep_flags, builder{}.u32(1).u32(0).zeros(65)), 44)) ==
        errc::vhost_payload_size);
  // CREATE_CRYPTO_SESSION: at least the session id.
  CHECK(err(dec_reply(frame(26, rep_flags, builder{}.u32(0)), 26)) == errc::vhost_payload_size);
}
