// SPDX-License-Identifier: Apache-2.0
// Fuzz target: virtio-i2c request parsing (vireo/i2c/codec.hpp) over chains of arbitrary shape:
// segment boundaries anywhere, directions flipped, mapped or copied segments, memory faults.
// Each request's parse, completion or rejection, and every byte of guest memory are checked
// against an independent model of virtio §5.16.6; the FAIL_NEXT group helpers are checked
// against a brute-force model over the sequence. Input format: docs/fuzzing.md.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/wire.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace i2c = vireo::i2c;
namespace chain = vireo::chain;
using vireo_fuzz::byte_source;
using vireo_fuzz::free_aligned;

constexpr std::uint64_t kBase = 0x10000;
constexpr std::size_t kMemSize = 0x4000;
constexpr std::size_t kMaxSegs = 32;
constexpr std::size_t kMaxBody = 2047;  // readable bytes after the header, writable bytes
constexpr int kMaxRequests = 8;
constexpr std::size_t kMaxLinks = 256;
constexpr std::byte kGuard{0xEE};
constexpr std::byte kUnwritten{0xCC};

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using chain_t = chain::descriptor_chain<mem_t, kMaxSegs>;

std::byte data_byte(std::uint8_t seed, std::size_t i) {
  return static_cast<std::byte>(seed * 37u + i * 11u + (i >> 8));
}

// ---- The model: §5.16.6.1 as a plain reading, independent of codec.hpp -------------------------

struct model_addr {
  errc error = errc{};  // errc{}: valid
  bool ten = false;
  std::uint16_t value = 0;
};
/// The address table read bit by bit (bit 0 = 0; low byte 11110xx0 = 10-bit; else 7-bit with a
/// zero high byte).
model_addr model_decode(std::uint16_t raw) {
  if (raw & 1u) return {errc::i2c_address_invalid};
  const unsigned lo = raw & 0xFFu, hi = raw >> 8;
  if ((lo >> 3) == 0x1Eu)  // bits 7..3 = 11110: A9 A8 in bits 2..1, A7..A0 in the high byte
    return {errc{}, true, static_cast<std::uint16_t>(((lo >> 1) & 3u) << 8 | hi)};
  if (hi != 0) return {errc::i2c_address_invalid};
  return {errc{}, false, static_cast<std::uint16_t>(lo >> 1)};
}
bool model_reserved(const model_addr& a) { return !a.ten && (a.value < 0x08 || a.value > 0x77); }

struct model_parse {
  errc error = errc{};
  i2c::group_link link = i2c::group_link::unknown;
  std::uint16_t addr = 0, padding = 0;
  std::uint32_t flags = 0, len = 0;
  bool read = false;
  model_addr target;
};

model_parse model(const std::vector<std::byte>& readable, std::size_t writable, bool zero_len_ok,
                  std::uint32_t max_len, bool allow_reserved) {
  model_parse m;
  if (readable.size() < 8) {
    m.error = errc::i2c_header_too_short;
    return m;
  }
  auto b = [&](std::size_t i) { return std::to_integer<std::uint32_t>(readable[i]); };
  m.addr = static_cast<std::uint16_t>(b(0) | b(1) << 8);
  m.padding = static_cast<std::uint16_t>(b(2) | b(3) << 8);
  m.flags = b(4) | b(5) << 8 | b(6) << 16 | b(7) << 24;
  m.link = (m.flags & 1u) ? i2c::group_link::fail_next : i2c::group_link::ends_group;
  m.read = (m.flags & 2u) != 0;
  const std::size_t extra = readable.size() - 8;
  if (writable == 0) m.error = errc::i2c_no_status;
  else if (m.flags & ~3u) m.error = errc::i2c_reserved_flags;
  else if (m.read && extra != 0) m.error = errc::i2c_read_buffer_readable;
  else if (!m.read && writable != 1) m.error = errc::i2c_write_buffer_writable;
  if (m.error != errc{}) return m;
  m.len = static_cast<std::uint32_t>(m.read ? writable - 1 : extra);
  m.target = model_decode(m.addr);
  if (m.len == 0 && !zero_len_ok) m.error = errc::i2c_zero_length_not_negotiated;
  else if (m.len > max_len) m.error = errc::i2c_buffer_too_long;
  else if (m.target.error != errc{}) m.error = m.target.error;
  else if (!allow_reserved && model_reserved(m.target)) m.error = errc::i2c_address_reserved;
  return m;
}

/// Statuses the group rule gives a sequence: split at ends_group (unknown continues), the first
/// failure of a group and everything after it in that group fail. An open tail is a group.
std::vector<i2c::status> model_groups(const std::vector<i2c::group_link>& links,
                                      const std::vector<i2c::status>& own) {
  std::vector<i2c::status> out(links.size());
  bool failed = false;
  for (std::size_t i = 0; i < links.size(); ++i) {
    failed = failed || own[i] == i2c::status::err;
    out[i] = failed ? i2c::status::err : i2c::status::ok;
    if (links[i] == i2c::group_link::ends_group) failed = false;
  }
  return out;
}

void check_groups(const std::vector<i2c::group_link>& links, const std::vector<i2c::status>& own) {
  // next_group over the whole sequence, under both tail policies, against a plain scan.
  for (const auto tail : {i2c::tail_policy::hold, i2c::tail_policy::close}) {
    std::size_t at = 0;
    while (true) {
      const i2c::group g = i2c::next_group(links, at, tail);
      FUZZ_CHECK(g.first == at);
      if (at >= links.size()) {
        FUZZ_CHECK(g.count == 0);
        break;
      }
      std::size_t end = at;
      while (end < links.size() && links[end] != i2c::group_link::ends_group) ++end;
      const bool terminated = end < links.size();
      FUZZ_CHECK(g.count == (terminated ? end - at + 1 : links.size() - at));
      FUZZ_CHECK(g.end == (terminated                         ? i2c::group_end::terminated
                           : tail == i2c::tail_policy::close ? i2c::group_end::closed
                                                               : i2c::group_end::pending));
      if (g.end == i2c::group_end::pending) break;
      at += g.count;
    }
  }
  // group_tracker (streaming) and group_status (batched) against the model.
  const std::vector<i2c::status> want = model_groups(links, own);
  i2c::group_tracker t;
  std::size_t group_start = 0, first_failed = SIZE_MAX;
  for (std::size_t i = 0; i < links.size(); ++i) {
    const bool skip = t.skip();
    FUZZ_CHECK(skip == (i > 0 && links[i - 1] != i2c::group_link::ends_group &&
                        want[i - 1] == i2c::status::err));
    const i2c::status s = t.record(skip ? i2c::status::err : own[i], links[i]);
    FUZZ_CHECK(s == want[i]);
    FUZZ_CHECK(t.open() == (links[i] != i2c::group_link::ends_group));
    if (first_failed == SIZE_MAX && own[i] == i2c::status::err) first_failed = i - group_start;
    FUZZ_CHECK(i2c::group_status(i - group_start, first_failed) == want[i]);
    if (links[i] == i2c::group_link::ends_group) {
      group_start = i + 1;
      first_failed = SIZE_MAX;
    }
  }
  t.close();
  FUZZ_CHECK(!t.skip() && !t.open());
  // Driver side: count_ok_prefix is the length of the leading run of OKs.
  std::size_t lead = 0;
  while (lead < want.size() && want[lead] == i2c::status::ok) ++lead;
  FUZZ_CHECK(i2c::count_ok_prefix(want) == lead);
}

// ---- The harness ----------------------------------------------------------------------------

/// A writable segment of the chain: offset in guest memory (from kBase) and length.
struct wseg {
  std::size_t off, len;
};

struct seg_spec {
  std::size_t from, to;  // range in the [readable][writable] byte stream
  bool writable, unmapped, zero_before;
  std::size_t gap;
};

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size),
        mem_(static_cast<std::byte*>(::operator new[](kMemSize, std::align_val_t{64}))),
        flat_(vireo::bytes{mem_.get(), kMemSize}, gpa{kBase}),
        faulty_(flat_) {}

  void run() {
    const std::uint8_t cfg = in_.u8();
    opt_.features = (cfg & 1u) ? i2c::device_features() : vireo::feature_set{};
    opt_.allow_reserved = (cfg & 2u) != 0;
    switch ((cfg >> 2) & 3u) {
      case 0: opt_.max_len = 65535; break;
      case 1: opt_.max_len = 16; break;
      case 2: opt_.max_len = 0; break;
      default: opt_.max_len = in_.u16() % 4096u; break;
    }
    if (cfg & 0x10u) return run_links();
    for (int r = 0; r < kMaxRequests && !in_.empty(); ++r) one_request();
    check_groups(links_, own_);
  }

 private:
  /// Sequence mode: the rest of the input is (link, outcome) bytes for the group helpers.
  void run_links() {
    while (!in_.empty() && links_.size() < kMaxLinks) {
      const std::uint8_t b = in_.u8();
      links_.push_back(static_cast<i2c::group_link>(b % 3));
      own_.push_back((b & 0x80u) ? i2c::status::err : i2c::status::ok);
    }
    check_groups(links_, own_);
  }

  /// The address for header sources 1 and 2: 7-bit, 10-bit, or (source 1) raw.
  std::uint16_t pick_addr(std::uint8_t asel, std::uint8_t alo, bool raw_allowed,
                          bool* encodable, i2c::address* out) {
    *encodable = false;
    std::uint16_t raw = 0;
    const unsigned mode = asel >> 6;
    if (mode == 3 && raw_allowed) return static_cast<std::uint16_t>((asel & 0x3Fu) << 8 | alo);
    auto a = mode < 2 ? i2c::address::seven_bit(asel & 0x7Fu)
                      : i2c::address::ten_bit(static_cast<std::uint16_t>((asel & 3u) << 8 | alo));
    FUZZ_CHECK(a.has_value());
    *out = *a;
    auto e = i2c::encode_address(*a);
    if (e) {
      *encodable = true;
      raw = e->raw();
      auto back = i2c::decode_address(*e);
      FUZZ_CHECK(back.has_value() && *back == *a);
    } else {
      FUZZ_CHECK(e.error() == errc::i2c_address_reserved && !a->is_ten_bit() &&
                 a->value() >= 0x78 && a->value() <= 0x7B);
      raw = static_cast<std::uint16_t>(a->value() << 1);  // what a careless driver would send
    }
    return raw;
  }

  void one_request() {
    const std::uint8_t ctl = in_.u8();
    const unsigned hsrc = ctl & 3u, body = (ctl >> 2) & 3u, ncuts = (ctl >> 4) & 7u;
    const bool fault = (ctl & 0x80u) != 0;

    // 1. The readable stream's header part.
    std::vector<std::byte> readable;
    bool driver_made = false;
    i2c::address msg_target = i2c::address::seven_bit(0).value();
    bool msg_read = false, msg_fail_next = false;
    std::uint32_t msg_len = 0;
    if (hsrc == 0 || hsrc == 3) {
      const std::size_t n = hsrc == 0 ? 8 : in_.u8() % 8u;
      for (std::size_t i = 0; i < n; ++i) readable.push_back(std::byte{in_.u8()});
    } else {
      const std::uint8_t asel = in_.u8(), alo = in_.u8(), fsel = in_.u8();
      bool encodable = false;
      const std::uint16_t raw = pick_addr(asel, alo, hsrc == 1, &encodable, &msg_target);
      if (hsrc == 1) {
        std::uint32_t flags = fsel & 3u;
        if (fsel & 4u) flags |= 1u << (2 + (fsel >> 3) % 30u);
        i2c::out_hdr h{};
        h.addr.set(raw);
        h.padding.set(0);
        h.flags.set(flags);
        readable.resize(8);
        std::memcpy(readable.data(), &h, 8);
      } else {
        // The driver side: encode_request into scratch memory, then use its header bytes.
        msg_read = (fsel & 1u) != 0;
        msg_fail_next = (fsel & 2u) != 0;
        msg_len = in_.u8();
        std::array<std::byte, 16> scratch{};
        scratch.fill(std::byte{0x5A});
        vireo::flat_memory sm{vireo::bytes{scratch.data(), scratch.size()}, gpa{0x100}};
        const i2c::message msg{msg_target, msg_read ? i2c::direction::read : i2c::direction::write,
                               gpa{0x9000}, msg_len};
        auto b = i2c::encode_request(sm, msg, msg_fail_next, {gpa{0x100}, gpa{0x108}},
                                     opt_.features);
        if (!opt_.features.has(i2c::feature::zero_length_request)) {
          FUZZ_CHECK(!b && b.error() == errc::i2c_feature_required);
        } else if (!encodable) {
          FUZZ_CHECK(!b && b.error() == errc::i2c_address_reserved);
        } else {
          FUZZ_CHECK(b.has_value());
          check_driver_layout(*b, msg);
          FUZZ_CHECK(scratch[8] == std::byte{1});  // status preset to ERR
          auto h = i2c::make_out_hdr(msg.target, msg.dir, msg_fail_next);
          FUZZ_CHECK(h && std::memcmp(&*h, scratch.data(), 8) == 0);
          FUZZ_CHECK((h->flags.get() & i2c::flag::reserved) == 0);
          driver_made = true;
        }
        if (!driver_made) {
          // What a driver that skipped the checks would send: the raw shift, the same flags.
          for (std::size_t i = 0; i < 8; ++i) scratch[i] = std::byte{0};
          scratch[0] = static_cast<std::byte>(raw & 0xFFu);
          scratch[1] = static_cast<std::byte>(raw >> 8);
          scratch[4] = static_cast<std::byte>((msg_fail_next ? 1u : 0u) | (msg_read ? 2u : 0u));
        }
        readable.assign(scratch.begin(), scratch.begin() + 8);
      }
    }

    // 2. The body: readable bytes after the header and the writable length.
    const bool hdr_read = readable.size() >= 8 && (std::to_integer<unsigned>(readable[4]) & 2u);
    std::size_t extra = 0, writable = 0;
    auto consistent = [&](std::size_t len) {
      extra = hdr_read ? 0 : len;
      writable = hdr_read ? len + 1 : 1;
    };
    if (hsrc == 2) {
      consistent(msg_len);
    } else {
      switch (body) {
        case 0: consistent(in_.u8()); break;
        case 1: {
          extra = in_.u8() % 64u;
          writable = in_.u8() % 64u;
          break;
        }
        case 2: {
          extra = in_.u16() % (kMaxBody + 1);
          writable = in_.u16() % (kMaxBody + 2);
          break;
        }
        default: {
          const std::size_t k = in_.u8() & 3u;
          const std::size_t edge = std::min<std::size_t>(opt_.max_len, kMaxBody - 2);
          consistent(edge + k >= 1 ? edge + k - 1 : 0);
          break;
        }
      }
    }
    const std::uint8_t seed = in_.u8();
    for (std::size_t i = 0; i < extra; ++i) readable.push_back(data_byte(seed, i));

    // 3. Cut [readable][writable] into descriptors.
    const std::size_t total = readable.size() + writable;
    std::vector<std::size_t> cuts{readable.size()};
    std::vector<std::uint8_t> flags_at;
    for (unsigned i = 0; i < ncuts; ++i) {
      cuts.push_back(in_.u16() % (total + 1));
      flags_at.push_back(in_.u8());
    }
    std::sort(cuts.begin(), cuts.end());
    std::vector<seg_spec> specs;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
      const std::size_t to = i < cuts.size() ? cuts[i] : total;
      const std::uint8_t f = i == 0 || i - 1 >= flags_at.size() ? 0 : flags_at[i - 1];
      const bool w = from >= readable.size();
      specs.push_back({from, to, w != ((f & 2u) != 0), (f & 1u) != 0, (f & 4u) != 0,
                       static_cast<std::size_t>(f >> 3)});
      from = to;
    }

    // The outcome byte and the fault budget come before the chain is built, so that a chain
    // the builder refuses leaves the rest of the input aligned.
    const std::uint8_t oc = in_.u8();
    const std::uint8_t fail_at = fault ? static_cast<std::uint8_t>(in_.u8() % 16u) : 0;

    // 4. Lay the chain out in guest memory and build it through the chain builder.
    std::memset(mem_.get(), static_cast<int>(kGuard), kMemSize);
    faulty_.clear_faults();
    chain_t c;
    chain::chain_builder<mem_t, kMaxSegs> builder{c, faulty_};
    std::size_t at = 0;
    bool seen_w = false, order_bad = false;
    chain_readable_.clear();
    std::vector<wseg> wsegs;
    std::size_t chain_writable = 0;
    for (const seg_spec& s : specs) {
      const std::size_t len = s.to - s.from;
      at += s.gap;
      FUZZ_CHECK(at + len <= kMemSize);
      std::byte* dst = mem_.get() + at;
      for (std::size_t i = 0; i < len; ++i) {
        const std::size_t p = s.from + i;
        dst[i] = p < readable.size() ? readable[p] : kUnwritten;
      }
      for (int z = s.zero_before ? 0 : 1; z < 2; ++z) {
        const std::size_t n = z == 0 ? 0 : len;
        if (s.writable) seen_w = true;
        else if (seen_w) order_bad = true;
        faulty_.deny_map(s.unmapped);
        auto r = builder.add(gpa{kBase + at}, static_cast<std::uint32_t>(n), s.writable);
        faulty_.deny_map(false);
        if (!r) {
          FUZZ_CHECK(order_bad && r.error() == errc::writable_before_readable);
          return;  // a chain the ring layer refuses never reaches the codec
        }
        FUZZ_CHECK(!order_bad);
        if (n == 0) continue;
        if (s.writable) {
          wsegs.push_back({at, n});
          chain_writable += n;
        } else {
          chain_readable_.insert(chain_readable_.end(), dst, dst + n);
        }
      }
      at += len;
    }
    FUZZ_CHECK(builder.finish(0, 1, 0).has_value());
    FUZZ_CHECK(c.readable_len() == chain_readable_.size() && c.writable_len() == chain_writable);
    shadow_.assign(mem_.get(), mem_.get() + kMemSize);

    // 5. Parse, and compare with the model.
    if (fault) faulty_.fail_after(fail_at);
    const model_parse want =
        model(chain_readable_, chain_writable, opt_.features.has(i2c::feature::zero_length_request),
              opt_.max_len, opt_.allow_reserved);
    auto p = i2c::parse_request(c, opt_);
    bool faulted = false;
    if (!p.req && p.req.error() == errc::injected_fault) {
      FUZZ_CHECK(fault && chain_readable_.size() >= 8);
      FUZZ_CHECK(p.link == i2c::group_link::unknown);
      faulted = true;
    } else {
      FUZZ_CHECK(p.link == want.link);
      FUZZ_CHECK(p.req.has_value() == (want.error == errc{}));
      if (!p.req) FUZZ_CHECK(p.req.error() == want.error);
    }
    links_.push_back(p.link);

    // Driver-made requests round-trip whenever the device accepts them.
    if (driver_made && p.req) {
      FUZZ_CHECK(p.req->target() == msg_target && p.req->is_read() == msg_read);
      FUZZ_CHECK(p.req->len() == msg_len && p.req->fail_next() == msg_fail_next);
    }

    i2c::status own = i2c::status::err;
    if (p.req) own = complete(*p.req, want, oc, wsegs);
    else reject(c, chain_writable, wsegs);
    own_.push_back(faulted ? i2c::status::err : own);
    // Nothing outside the writable segments ever changes; inside, what the model says.
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kMemSize) == 0);
    faulty_.clear_faults();
  }

  /// Driver-side layout of encode_request (§5.16.6.3: ID4, ID6, ID7).
  static void check_driver_layout(const i2c::request_buffers& b, const i2c::message& m) {
    const bool rd = m.dir == i2c::direction::read;
    FUZZ_CHECK(b.readable().size() == (!rd && m.len > 0 ? 2u : 1u));
    FUZZ_CHECK(b.writable().size() == (rd && m.len > 0 ? 2u : 1u));
    FUZZ_CHECK(b.readable()[0].len == 8 && b.writable().back().len == 1);
    FUZZ_CHECK(b.writable_len == (rd ? m.len + 1 : 1u));
    FUZZ_CHECK(b.status_at == gpa{0x108});
  }

  /// Apply a write the device is expected to make at stream offset `off` of the writable part.
  void expect_write(const std::vector<wseg>& ws, std::size_t off, std::byte v) {
    for (const wseg& s : ws) {
      if (off < s.len) {
        shadow_[s.off + off] = v;
        return;
      }
      off -= s.len;
    }
    FUZZ_CHECK(false);
  }
  /// After an injected fault: the writable segments may hold any prefix; take them as they are.
  void resync_writable(const std::vector<wseg>& ws) {
    for (const wseg& s : ws) std::memcpy(shadow_.data() + s.off, mem_.get() + s.off, s.len);
  }

  /// Exercise an accepted request: read its data or fill its buf, complete it; returns the
  /// outcome the device had for it.
  i2c::status complete(vireo::i2c::request<mem_t>& req, const model_parse& want, std::uint8_t oc,
                       const std::vector<wseg>& ws) {
    FUZZ_CHECK(req.encoded().raw() == want.addr && req.flags() == want.flags);
    FUZZ_CHECK(req.padding() == want.padding && req.len() == want.len);
    FUZZ_CHECK(req.is_read() == want.read && req.zero_length() == (want.len == 0));
    FUZZ_CHECK(req.link() == want.link && req.fail_next() == ((want.flags & 1u) != 0));
    FUZZ_CHECK(req.target().is_ten_bit() == want.target.ten);
    FUZZ_CHECK(req.target().value() == want.target.value);
    FUZZ_CHECK(opt_.allow_reserved || !req.target().is_reserved());
    const i2c::status s = (oc & 1u) ? i2c::status::err : i2c::status::ok;
    bool faulted = false;
    std::size_t written = 0;
    if (!req.is_read()) {
      auto& r = req.write_data();
      FUZZ_CHECK(r.remaining() == want.len);
      buf_.resize(want.len);
      auto got = r.read(vireo::bytes{buf_.data(), buf_.size()});
      if (!got) {
        FUZZ_CHECK(got.error() == errc::injected_fault);
        faulted = true;
      } else {
        FUZZ_CHECK(want.len == 0 ||
                   std::memcmp(buf_.data(), chain_readable_.data() + 8, want.len) == 0);
      }
    } else {
      auto& w = req.read_data();
      FUZZ_CHECK(w.remaining() == want.len);
      const unsigned fill = (oc >> 1) & 3u;
      std::size_t n = want.len + 1;  // fill 3: one byte too many
      if (fill == 0) n = want.len;
      else if (fill == 1) n = 0;
      else if (fill == 2) n = want.len != 0 ? oc % want.len : 0;
      buf_.resize(n);
      for (std::size_t i = 0; i < n; ++i) buf_[i] = std::byte(0x80u | (i & 0x7Fu));
      auto r = w.write(vireo::const_bytes{buf_.data(), n});
      if (n > want.len) {
        FUZZ_CHECK(!r && r.error() == errc::no_space);
      } else if (!r) {
        FUZZ_CHECK(r.error() == errc::injected_fault);
        faulted = true;
      } else {
        written = n;
        for (std::size_t i = 0; i < n; ++i) expect_write(ws, i, buf_[i]);
      }
    }
    auto used = req.complete(s);
    if (!used && used.error() == errc::injected_fault) faulted = true;
    if (faulted) {
      resync_writable(ws);
      return i2c::status::err;
    }
    const bool incomplete = req.is_read() && s == i2c::status::ok && written < want.len;
    if (incomplete) {
      FUZZ_CHECK(!used && used.error() == errc::i2c_read_incomplete);
      return i2c::status::err;
    }
    FUZZ_CHECK(used.has_value());
    FUZZ_CHECK(*used == (req.is_read() ? want.len + 1 : 1u));
    if (req.is_read() && s == i2c::status::err)
      for (std::size_t i = written; i < want.len; ++i) expect_write(ws, i, std::byte{0});
    expect_write(ws, req.is_read() ? want.len : 0, std::byte{static_cast<unsigned char>(s)});
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kMemSize) == 0);
    // Completing twice is refused and writes nothing.
    if (oc & 0x40u) {
      auto again = req.complete(s);
      FUZZ_CHECK(!again && again.error() == errc::invalid_argument);
    }
    check_driver_decode(ws, *used, s);
    return s;
  }

  void reject(const chain_t& c, std::size_t writable, const std::vector<wseg>& ws) {
    auto used = i2c::reject_request(c, opt_);
    if (!used) {
      FUZZ_CHECK(used.error() == errc::injected_fault);
      resync_writable(ws);
      return;
    }
    if (writable == 0) {
      FUZZ_CHECK(*used == 0);
      return;
    }
    const bool fill = writable - 1 <= opt_.max_len;
    FUZZ_CHECK(*used == (fill ? writable : 0u));
    if (fill)
      for (std::size_t i = 0; i + 1 < writable; ++i) expect_write(ws, i, std::byte{0});
    expect_write(ws, writable - 1, std::byte{1});
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kMemSize) == 0);
    check_driver_decode(ws, *used, i2c::status::err);
  }

  /// The driver's view of the completion: decode_completion over the same status byte.
  void check_driver_decode(const std::vector<wseg>& ws, std::uint32_t used, i2c::status s) {
    std::size_t w = 0;
    for (const wseg& x : ws) w += x.len;
    i2c::request_buffers b;
    b.writable_len = static_cast<std::uint32_t>(w);
    b.status_at = gpa{kBase + ws.back().off + ws.back().len - 1};
    auto strict = i2c::decode_completion(flat_, b, used);
    if (used < w) FUZZ_CHECK(!strict && strict.error() == errc::i2c_status_not_written);
    else FUZZ_CHECK(strict && *strict == s);
    auto lax = i2c::decode_completion(flat_, b, used, i2c::used_len_policy::ignore);
    FUZZ_CHECK(lax && *lax == s);
    // A hostile device's status byte: anything but 0 and 1 is refused.
    std::byte* st = mem_.get() + (b.status_at.raw() - kBase);
    const std::byte keep = *st;
    *st = static_cast<std::byte>(2u + (used & 0xFDu));
    auto bad = i2c::decode_completion(flat_, b, used, i2c::used_len_policy::ignore);
    FUZZ_CHECK(!bad && bad.error() == errc::i2c_bad_status);
    *st = keep;
  }

  byte_source in_;
  std::unique_ptr<std::byte[], free_aligned> mem_;
  vireo::flat_memory flat_;
  mem_t faulty_;
  i2c::decode_options opt_;
  std::vector<std::byte> shadow_, buf_;
  std::vector<i2c::group_link> links_;
  std::vector<i2c::status> own_;
  std::vector<std::byte> chain_readable_;  ///< the chain's readable bytes, as the model reads them
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
