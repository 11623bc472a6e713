// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the vhost-user message codec (vireo/vhost_user/*.hpp) over a byte stream cut into
// messages the way a transport reads them (12 header bytes, then exactly `size` bytes), each with
// a fake fd count, on either channel, as a request or as a reply.
//
// Input (docs/vhost-user.md, "Fuzzing"):
//   byte 0  options: bit 0 XEN_MMAP, bit 1 LOG_SHMFD, bit 2 postcopy listening, bit 3 refuse the
//           REM_MEM_REG fd, bit 4 num_queues = 2 (else 256), bit 5 max_payload = 512 (else 4096),
//           bit 6 max_queue_size = 256 (else 32768)
//   then records: ctl byte (bits 0-3 fd count 0-15, bit 4 back-end channel, bit 5 decode as the
//           reply to its own request code, bit 6 cut the frame one byte short), 12 header bytes
//           (host order), then min(header.size, what is left) payload bytes.
// Invariants: decode reads only the frame (ASan: each frame sits in a buffer of its exact size);
// an accepted message re-encodes to the same bytes; fd accounting: a prefix of the fds, all of
// them except REM_MEM_REG's tolerated one; the payload matches its layout; replies follow B8.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/vhost_user/encode.hpp"
#include "vireo/vhost_user/header.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/reply.hpp"

namespace {

namespace vu = vireo::vhost_user;
using vireo::errc;

constexpr std::size_t kMaxMessages = 64;
constexpr std::array<int, 16> kFds{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};

vu::codec_options options_from(std::uint8_t b) {
  vu::codec_options o;
  if (b & 0x01) o.protocol_features |= vu::bit(vu::protocol_feature::xen_mmap);
  if (b & 0x02) o.protocol_features |= vu::bit(vu::protocol_feature::log_shmfd);
  o.postcopy_listening = (b & 0x04) != 0;
  o.accept_rem_mem_reg_fd = (b & 0x08) == 0;
  o.num_queues = (b & 0x10) ? 2 : 256;
  o.max_payload = (b & 0x20) ? 512 : vu::default_max_payload;
  o.max_queue_size = (b & 0x40) ? 256 : 32768;
  return o;
}

/// Reads every field the typed views expose, so a wrong size behind a view would be an overread.
void touch_views(const vu::message& m) {
  switch (m.type) {
    case vu::payload_type::memory_table: {
      const auto t = vu::memory_table_of(m);
      FUZZ_CHECK(t.count >= 1 && t.count <= vu::max_memory_regions);
      FUZZ_CHECK(t.regions.size() == t.count * t.stride());
      for (std::size_t i = 0; i < t.count; ++i) {
        const auto r = t.region(i);
        FUZZ_CHECK(r.memory_size.get() != 0);
        FUZZ_CHECK(r.guest_phys_addr.get() + r.memory_size.get() >= r.guest_phys_addr.get());
        FUZZ_CHECK(r.userspace_addr.get() + r.memory_size.get() >= r.userspace_addr.get());
        if (t.xen) (void)t.region_xen(i).domid.get();
      }
      if (!m.is_reply) FUZZ_CHECK(m.fd_count == t.count);
      break;
    }
    case vu::payload_type::single_region: {
      const auto r = vu::single_region_of(m);
      FUZZ_CHECK(r.memory_size.get() != 0);
      if (m.payload.size() == sizeof(vu::single_memory_region_xen))
        (void)vu::single_region_xen_of(m).xen_mmap_flags.get();
      break;
    }
    case vu::payload_type::config: {
      const auto c = vu::config_of(m);
      FUZZ_CHECK(c.data.size() == c.head.size.get());
      FUZZ_CHECK(c.head.offset.get() + std::uint64_t{c.head.size.get()} <= vu::max_config_size);
      break;
    }
    case vu::payload_type::shmem_config: {
      const auto s = vu::shmem_config_of(m);
      for (std::size_t i = 0; i < s.nregions; ++i) (void)s.size(i);
      break;
    }
    case vu::payload_type::u64: (void)vu::u64_of(m); break;
    case vu::payload_type::vring_fd:
    case vu::payload_type::vring_state:
    case vu::payload_type::vring_addr:
    case vu::payload_type::vring_area: {
      const std::uint32_t index = vu::vring_index_of(m);
      // Replies to GET_VRING_BASE are checked too; KICK/CALL/ERR indices are 8-bit.
      FUZZ_CHECK(index < 256 || m.type == vu::payload_type::vring_state ||
                 m.type == vu::payload_type::vring_addr);
      break;
    }
    default: break;
  }
}

void one_message(const std::byte* data, std::size_t size, std::uint8_t ctl,
                 const vu::codec_options& o) {
  // The frame in a buffer of exactly its size: any read past it is an ASan report.
  std::unique_ptr<std::byte[]> frame(new std::byte[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(frame.get(), data, size);
  const vireo::const_bytes bytes(frame.get(), size);
  const std::size_t nfds = ctl & 0x0F;
  const std::span<const int> fds(kFds.data(), nfds);
  const vu::channel ch = (ctl & 0x10) ? vu::channel::backend : vu::channel::main;
  const bool reply = (ctl & 0x20) != 0;

  std::uint32_t awaited = 0;
  if (size >= vu::header_size) std::memcpy(&awaited, data, sizeof(awaited));
  const auto r = reply ? vu::decode_reply(bytes, fds, ch, awaited, o) : vu::decode(bytes, fds, ch, o);
  if (!r) {
    FUZZ_CHECK(vireo::error_message(r.error()) != "unknown error");
    return;
  }
  const vu::message& m = *r;

  // Framing: the header the transport would have checked, the payload is the rest of the frame.
  FUZZ_CHECK(size == vu::header_size + m.hdr.size.get());
  FUZZ_CHECK(vu::validate_header(m.hdr, o.max_payload).has_value());
  FUZZ_CHECK(m.payload.data() == frame.get() + vu::header_size && m.payload.size() == m.hdr.size.get());
  FUZZ_CHECK(m.ch == ch && m.is_reply == reply);
  FUZZ_CHECK(vu::is_known_request(ch, m.request()));
  if (reply) FUZZ_CHECK(m.hdr.flags.get() == vu::flag::reply_flags);
  else FUZZ_CHECK(!vu::is_reply(m.hdr));

  // fd accounting: a prefix, copied; only REM_MEM_REG may leave its one fd to the owner.
  FUZZ_CHECK(m.fd_count <= nfds && m.fd_count <= vu::max_fds_per_message);
  for (std::size_t i = 0; i < m.fd_count; ++i) FUZZ_CHECK(m.fds[i] == kFds[i]);
  if (m.fd_count != nfds) {
    FUZZ_CHECK(!reply && ch == vu::channel::main && nfds == 1 && o.accept_rem_mem_reg_fd &&
               m.request() == static_cast<std::uint32_t>(vu::frontend_request::rem_mem_reg));
  }

  touch_views(m);

  // Re-encoding gives the same bytes.
  std::array<std::byte, vu::header_size + vu::default_max_payload> out;
  const auto n = vu::encode_message(m, out, o);
  FUZZ_CHECK(n.has_value());
  FUZZ_CHECK(*n == size && std::memcmp(out.data(), frame.get(), size) == 0);

  // Replies (rule B8): a reply is encodable iff one is due, and its own decoder accepts it.
  if (!reply) {
    const bool due = vu::reply_expected(m, o);
    const auto ack = vu::encode_ack(m, true, out, o);
    if (!due) {
      FUZZ_CHECK(!ack && ack.error() == errc::vhost_reply_not_expected);
    } else if (ack) {
      FUZZ_CHECK(vu::reply_payload_type(m, o) == vu::payload_type::u64);
      const auto back = vu::decode_reply(vireo::const_bytes(out.data(), *ack), {}, ch, m.request(), o);
      FUZZ_CHECK(back.has_value());
      FUZZ_CHECK(back->hdr.flags.get() == vu::flag::reply_flags && vu::u64_of(*back) == 0);
    } else {
      FUZZ_CHECK(ack.error() == errc::invalid_argument);  // it has an inherent reply instead
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const vu::codec_options o = options_from(data[0]);
  const auto* p = reinterpret_cast<const std::byte*>(data) + 1;
  std::size_t left = size - 1;
  for (std::size_t k = 0; k < kMaxMessages && left > 0; ++k) {
    const auto ctl = static_cast<std::uint8_t>(*p);
    ++p;
    --left;
    // Exactly 12 header bytes, then exactly `size` payload bytes (or what is left: a peer that
    // closes mid-message), as a transport reads them (rule B1).
    const std::size_t head = std::min(left, vu::header_size);
    std::size_t body = 0;
    if (head == vu::header_size) {
      std::uint32_t declared = 0;
      std::memcpy(&declared, p + 8, sizeof(declared));
      body = std::min<std::size_t>(declared, left - head);
    }
    std::size_t frame_size = head + body;
    if ((ctl & 0x40) != 0 && frame_size > 0) --frame_size;  // a short read
    one_message(p, frame_size, ctl, o);
    p += head + body;
    left -= head + body;
  }
  return 0;
}
