// SPDX-License-Identifier: Apache-2.0
// virtio-i2c requests (virtio spec §5.16.6): the device side splits a popped chain into header,
// buf and status and completes it; FAIL_NEXT groups; the driver side lays a request out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vireo/chain/cursor.hpp"
#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/wire.hpp"
#include "vireo/ring/driver_types.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

// ---- Feature negotiation ----------------------------------------------------------------------

/// What a device offers: VIRTIO_I2C_F_ZERO_LENGTH_REQUEST, which it MUST offer (§5.16.6.4).
/// Transport bits (VERSION_1 and the ring features) are added by the transport.
[[nodiscard]] constexpr feature_set device_features() noexcept {
  return feature_set{feature::zero_length_request};
}

/// Device side, before FEATURES_OK: the device MUST reject a driver that does not negotiate
/// VIRTIO_I2C_F_ZERO_LENGTH_REQUEST (§5.16.6.4), i.e. refuse FEATURES_OK.
/// Errors: i2c_feature_required.
[[nodiscard]] constexpr result<void> check_driver_features(const feature_set& accepted) noexcept {
  if (!accepted.has(feature::zero_length_request)) return errc::i2c_feature_required;
  return ok();
}

/// Driver side: the i2c bits to accept from `offered`. The driver MUST accept
/// VIRTIO_I2C_F_ZERO_LENGTH_REQUEST and MUST abort negotiation if it is not offered (§5.16.6.3).
/// Errors: i2c_feature_required (abort: set FAILED, as Linux's probe does).
[[nodiscard]] constexpr result<feature_set> accept_features(const feature_set& offered) noexcept {
  if (!offered.has(feature::zero_length_request)) return errc::i2c_feature_required;
  return device_features();
}

// ---- FAIL_NEXT groups (§5.16.6.1, §5.16.6.2) --------------------------------------------------

/// How a request links to the one after it in the queue.
enum class group_link : std::uint8_t {
  ends_group,  ///< FAIL_NEXT clear: the last request of its group
  fail_next,   ///< FAIL_NEXT set: the next request belongs to the same group
  unknown,     ///< the header could not be read; treated as fail_next (fails closed: a request
               ///< the driver may have made conditional on this one is not run on its own)
};

/// The link a header declares.
[[nodiscard]] constexpr group_link link_of(const out_hdr& h) noexcept {
  return (h.flags.get() & flag::fail_next) != 0 ? group_link::fail_next : group_link::ends_group;
}

/// What to do with a group still open at the end of the requests at hand (its last request has
/// FAIL_NEXT set). Two causes look alike: the driver is still adding the group (Linux publishes
/// each request as it adds it and kicks once at the end), or the ring filled part-way (Linux
/// then kicks, waits for what it queued and never sends the rest). So: hold the tail, and close
/// it once nothing more can join it: no ring slot is left for another request, a notification
/// that arrived after the tail was seen has been drained without a terminator, or the device's
/// deadline passed. Never wait for the terminator without such a bound (docs/i2c.md).
enum class tail_policy : std::uint8_t {
  hold,   ///< more requests may still come: report the tail as pending, execute nothing of it
  close,  ///< nothing more will join it: the tail is a group of its own
};

/// How a group ended.
enum class group_end : std::uint8_t {
  terminated,  ///< its last request has FAIL_NEXT clear
  closed,      ///< open at the end of the requests at hand, closed by tail_policy::close
  pending,     ///< open at the end of the requests at hand, held by tail_policy::hold
};

/// A run of requests [first, first + count) that the device processes as one I2C transaction.
struct group {
  std::size_t first = 0;
  std::size_t count = 0;
  group_end end = group_end::terminated;
};

namespace detail {

/// next_group() over `n` requests whose links `link_at(i)` gives.
template <typename LinkAt>
[[nodiscard]] constexpr group next_group(std::size_t n, std::size_t from, tail_policy tail,
                                         LinkAt link_at) noexcept {
  if (from >= n) return {from, 0, group_end::terminated};
  for (std::size_t i = from; i < n; ++i)
    if (link_at(i) == group_link::ends_group) return {from, i - from + 1, group_end::terminated};
  return {from, n - from, tail == tail_policy::close ? group_end::closed : group_end::pending};
}

}  // namespace detail

/// The group that starts at `links[from]`: up to and including the first ends_group link
/// (§5.16.6.1: "a driver clears this bit on the final request and sets it on the other
/// requests"); unknown counts as fail_next. A group that reaches the end of `links` without a
/// terminator is pending or closed as `tail` says. After a pending group nothing is ready;
/// after any other, the next group starts at first + count. Empty (count 0) when
/// from >= links.size(). Neither allocates nor blocks: O(count).
[[nodiscard]] constexpr group next_group(std::span<const group_link> links, std::size_t from,
                                         tail_policy tail) noexcept {
  return detail::next_group(links.size(), from, tail, [&](std::size_t i) { return links[i]; });
}

/// The status of request `index` of a group whose first failure is request `first_failed`
/// (pass the group's size when none failed): the requests before it keep OK; it gets ERR
/// (§5.16.6.4 MUST), and so does every later one, which the device fails without executing
/// (§5.16.6.1 FAIL_NEXT; setting their ERR is the §5.16.6.4 MAY, which Vireo always takes).
[[nodiscard]] constexpr status group_status(std::size_t index, std::size_t first_failed) noexcept {
  return index < first_failed ? status::ok : status::err;
}

/// The same rule for a device that processes requests one at a time as it pops them: ask
/// skip() before executing a request, then record() its outcome and link, and write the status
/// record() returns. close() ends an open group (tail_policy::close) so the next request
/// starts a new one.
class group_tracker {
 public:
  /// True when the next request must fail without being executed: an earlier request of its
  /// group failed (§5.16.6.1: "it needs to fail the next request instead of attempting to
  /// execute it").
  [[nodiscard]] constexpr bool skip() const noexcept { return failed_; }
  /// True when the last request recorded had FAIL_NEXT set (or an unknown link).
  [[nodiscard]] constexpr bool open() const noexcept { return open_; }

  /// Record the request just handled: `outcome` is its own result (ERR when it was skipped,
  /// malformed or failed on the bus). Returns the status to write: ERR once its group failed.
  constexpr status record(status outcome, group_link link) noexcept {
    const status s = failed_ ? status::err : outcome;
    if (s == status::err) failed_ = true;
    open_ = link != group_link::ends_group;
    if (!open_) failed_ = false;
    return s;
  }
  /// End the open group: what comes next starts a new group.
  constexpr void close() noexcept {
    open_ = false;
    failed_ = false;
  }

 private:
  bool failed_ = false;
  bool open_ = false;
};

// ---- Device side: one request from one chain --------------------------------------------------

/// What the device accepts. Every check not listed here is fixed by the spec.
struct decode_options {
  /// Negotiated features; a zero-length request needs VIRTIO_I2C_F_ZERO_LENGTH_REQUEST.
  feature_set features = device_features();
  /// Longest buf the device (its host adapter) accepts. Linux's i2c_msg.len is 16 bits, so
  /// 65535 is the most a Linux driver can send; set the adapter's limit (i2c-dev: 8192).
  std::uint32_t max_len = 65535;
  /// Let reserved 7-bit addresses (address::reserved()) through instead of failing them with
  /// i2c_address_reserved. Off by default: a general call reaches every target on the bus.
  bool allow_reserved = false;
};

namespace detail {

/// Write n zero bytes through `w` (a read's buf the device did not fill, before an ERR status).
template <guest_memory Memory>
[[nodiscard]] result<void> zero_fill(chain::writer<Memory>& w, std::size_t n) noexcept {
  static constexpr std::byte zeros[256] = {};
  while (n > 0) {
    const std::size_t piece = n < sizeof zeros ? n : sizeof zeros;
    VIREO_TRY(w.write(const_bytes{zeros, piece}));
    n -= piece;
  }
  return ok();
}

}  // namespace detail

template <guest_memory Memory>
class request;

template <guest_memory Memory>
[[nodiscard]] result<request<Memory>> decode_request(const out_hdr& hdr,
                                                     chain::reader<Memory> rest,
                                                     chain::writer<Memory> wr,
                                                     const decode_options& opt) noexcept;
template <guest_memory Memory>
[[nodiscard]] result<void> decode_request_into(std::optional<request<Memory>>& out,
                                               const out_hdr& hdr, chain::reader<Memory> rest,
                                               chain::writer<Memory> wr,
                                               const decode_options& opt) noexcept;

namespace detail {
/// What decode_request() learns from a header and the byte counts before it builds a request.
struct checked_request {
  address target;
  std::uint32_t len = 0;
  bool read = false;
};
}  // namespace detail

/// A decoded request: its header's fields, copied once, and cursors over its buf and its status
/// byte in guest memory (zero-copy: nothing of buf is copied until the device reads or writes
/// it). Made only by decode_request() and decode_request_into(). Its cursors point into the
/// chain's segment list and hold host views of guest memory: keep that chain alive and in place
/// (not moved, not reused by another pop) until the request is completed, and complete it
/// before the memory layout changes.
template <guest_memory Memory>
class request {
  struct key {
    explicit key() = default;
  };

 public:
  /// Only decode_request() and decode_request_into() can name `key`: use them.
  request(key, const detail::checked_request& c, const out_hdr& h) noexcept
      : target_(c.target), encoded_(h.addr.get()), padding_(h.padding.get()),
        flags_(h.flags.get()), len_(c.len) {}

  [[nodiscard]] address target() const noexcept { return target_; }
  /// addr as the driver wrote it (the device MUST NOT change it, §5.16.6.4; nothing here does).
  [[nodiscard]] encoded_address encoded() const noexcept { return encoded_; }
  [[nodiscard]] std::uint32_t flags() const noexcept { return flags_; }
  /// The padding field as read; the spec gives it no value to check (§5.16.6.1).
  [[nodiscard]] std::uint16_t padding() const noexcept { return padding_; }
  [[nodiscard]] direction dir() const noexcept {
    return (flags_ & flag::m_rd) != 0 ? direction::read : direction::write;
  }
  [[nodiscard]] bool is_read() const noexcept { return dir() == direction::read; }
  /// Length of buf: the readable bytes after the header (write), or the writable bytes before
  /// the status (read). The spec has no length field: framing gives it (§5.16.6.1).
  [[nodiscard]] std::uint32_t len() const noexcept { return len_; }
  /// No buf at all: SMBus Quick and address probes (§5.16.3); M_RD still gives the R/W bit.
  [[nodiscard]] bool zero_length() const noexcept { return len_ == 0; }
  [[nodiscard]] bool fail_next() const noexcept { return (flags_ & flag::fail_next) != 0; }
  [[nodiscard]] group_link link() const noexcept {
    return fail_next() ? group_link::fail_next : group_link::ends_group;
  }

  /// The bytes to send, for a write request: len() readable bytes. Read, view or split it; the
  /// guest may change them meanwhile, as a DMA source can. Precondition: dir() == write.
  [[nodiscard]] chain::reader<Memory>& write_data() noexcept {
    VIREO_ASSERT(!is_read());
    return out_;
  }
  /// Where the bytes read from the target go, for a read request: len() writable bytes. Write
  /// through this object (not a copy): complete(ok) checks that all of it was written
  /// (§5.16.6.4: one segment of exactly the length of buf). Precondition: dir() == read.
  [[nodiscard]] chain::writer<Memory>& read_data() noexcept {
    VIREO_ASSERT(is_read());
    return in_;
  }

  /// Write the status byte and return the used length to push (§2.7.8.2: the bytes written
  /// from the first writable byte on). OK: 1, or len() + 1 for a read. ERR: for a read, the
  /// part of buf not yet written is zeroed first (at most max_len bytes), so the used length
  /// stays len() + 1 and covers the status; a driver MUST NOT use buf after ERR (§5.16.6.3).
  /// Errors: i2c_read_incomplete (OK for a read before all of read_data() was written or
  /// skipped; nothing written), invalid_argument (already completed), or the memory model's
  /// error (complete the chain with used length 0 then). Precondition: `s` is ok or err.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<std::uint32_t> complete(status s) noexcept {
    VIREO_ASSERT(s == status::ok || s == status::err);
    if (status_.remaining() != 1) return errc::invalid_argument;
    if (is_read()) {
      if (s == status::ok && in_.remaining() != 0) return errc::i2c_read_incomplete;
      if (s == status::err) VIREO_TRY(detail::zero_fill(in_, in_.remaining()));
    }
    const in_hdr h{static_cast<std::uint8_t>(s)};
    VIREO_TRY(status_.write_obj(h));
    // len_ + 1 is the chain's writable length for a read, which is below 2^32.
    return is_read() ? len_ + 1 : std::uint32_t{1};
  }

 private:
  friend result<request> decode_request<Memory>(const out_hdr&, chain::reader<Memory>,
                                                chain::writer<Memory>,
                                                const decode_options&) noexcept;
  friend result<void> decode_request_into<Memory>(std::optional<request>&, const out_hdr&,
                                                  chain::reader<Memory>, chain::writer<Memory>,
                                                  const decode_options&) noexcept;
  /// Point the cursors at buf and the status byte (`wr` is the whole writable part).
  void bind(const chain::reader<Memory>& rest, chain::writer<Memory> wr) noexcept {
    if (is_read()) {
      auto buf = wr.split(len_);  // len_ = writable - 1 (checked): cannot fail
      VIREO_ASSERT(buf.has_value());
      in_ = *buf;
    } else {
      out_ = rest;
    }
    status_ = wr;  // exactly one byte left: in_hdr
  }

  address target_;
  encoded_address encoded_;
  std::uint16_t padding_;
  std::uint32_t flags_;
  std::uint32_t len_;
  chain::reader<Memory> out_{};     ///< write: buf; otherwise empty
  chain::writer<Memory> in_{};      ///< read: buf; otherwise empty
  chain::writer<Memory> status_{};  ///< the last writable byte: virtio_i2c_in_hdr
};

/// Copy virtio_i2c_out_hdr, the first 8 device-readable bytes, out of guest memory once; `rd`
/// moves past it. Segment boundaries do not matter (§2.7.4.1: framing carries no meaning).
/// Errors: i2c_header_too_short (fewer than 8 readable bytes; `rd` is left as it was), or the
/// memory model's error for a segment it cannot read.
template <guest_memory Memory>
[[nodiscard]] VIREO_ALWAYS_INLINE result<out_hdr>
read_out_header(chain::reader<Memory>& rd) noexcept {
  if (rd.remaining() < sizeof(out_hdr)) return errc::i2c_header_too_short;
  return rd.template read_obj<out_hdr>();
}

/// Check a header already copied by read_out_header() against the rest of its chain and build
/// the request: `rest` is the readable part after the header, `wr` the whole writable part.
/// The merged layout (§5.16.6.1) is out_hdr (R), then a write's buf (R) or a read's buf (W) or
/// nothing (zero-length), then in_hdr (W): so the status is the last writable byte, and buf's
/// length comes from the byte counts. Checks, in this order (the first failure is returned):
///  - i2c_no_status: no writable byte for in_hdr;
///  - i2c_reserved_flags: flags bits 2-31 set (§5.16.6.3: the driver MUST set them to 0);
///  - i2c_read_buffer_readable: M_RD set and readable bytes after the header (§5.16.6.3: a
///    read's buf is write-only for the device);
///  - i2c_write_buffer_writable: M_RD clear and more than one writable byte (§5.16.6.3: a
///    write's buf is read-only for the device);
///  - i2c_zero_length_not_negotiated: no buf while opt.features lacks
///    VIRTIO_I2C_F_ZERO_LENGTH_REQUEST (§5.16.3);
///  - i2c_buffer_too_long: buf longer than opt.max_len;
///  - i2c_address_invalid: addr fits no row of the §5.16.6.1 table (decode_address);
///  - i2c_address_reserved: a reserved 7-bit address and !opt.allow_reserved.
/// The padding field is not checked: the spec only says it pads to a full dword.
/// Touches no guest memory (only the cursors move). On an error, complete the chain with
/// reject_request().
namespace detail {
/// The checks of decode_request(), on the header and the byte counts only.
[[nodiscard]] VIREO_ALWAYS_INLINE constexpr result<checked_request> check_request(
    const out_hdr& hdr, std::size_t readable, std::size_t writable,
    const decode_options& opt) noexcept {
  const std::uint32_t flags = hdr.flags.get();
  if (writable == 0) return errc::i2c_no_status;
  if ((flags & flag::reserved) != 0) return errc::i2c_reserved_flags;
  const bool read = (flags & flag::m_rd) != 0;
  if (read && readable != 0) return errc::i2c_read_buffer_readable;
  if (!read && writable != 1) return errc::i2c_write_buffer_writable;
  // A chain's total length is below 2^32 (§2.7.5.2), so either count fits in 32 bits.
  const auto len = static_cast<std::uint32_t>(read ? writable - 1 : readable);
  if (len == 0 && !opt.features.has(feature::zero_length_request))
    return errc::i2c_zero_length_not_negotiated;
  if (len > opt.max_len) return errc::i2c_buffer_too_long;
  auto target = decode_address(encoded_address{hdr.addr.get()});
  if (!target) return target.error();
  if (!opt.allow_reserved) VIREO_TRY(check_target(*target));
  return checked_request{*target, len, read};
}
}  // namespace detail

template <guest_memory Memory>
[[nodiscard]] VIREO_ALWAYS_INLINE result<request<Memory>>
decode_request(const out_hdr& hdr, chain::reader<Memory> rest, chain::writer<Memory> wr,
               const decode_options& opt) noexcept {
  auto c = detail::check_request(hdr, rest.remaining(), wr.remaining(), opt);
  if (!c) return c.error();
  request<Memory> req{typename request<Memory>::key{}, *c, hdr};
  req.bind(rest, wr);
  return req;
}

/// decode_request() building the request straight into `out` (emptied on an error): a device
/// that keeps requests in slots avoids moving the 160-odd bytes of cursors around, which costs
/// store-to-load forwarding stalls (bench_devices: GCC's i2c probe). Errors: as decode_request().
template <guest_memory Memory>
[[nodiscard]] VIREO_ALWAYS_INLINE result<void> decode_request_into(
    std::optional<request<Memory>>& out, const out_hdr& hdr, chain::reader<Memory> rest,
    chain::writer<Memory> wr, const decode_options& opt) noexcept {
  auto c = detail::check_request(hdr, rest.remaining(), wr.remaining(), opt);
  if (!c) {
    out.reset();
    return c.error();
  }
  out.emplace(typename request<Memory>::key{}, *c, hdr).bind(rest, wr);
  return ok();
}

/// What parse_request() found: the request, or why the chain is malformed, and how it links to
/// the next request in either case (unknown when the header could not be read).
template <guest_memory Memory>
struct parsed_request {
  result<request<Memory>> req;
  group_link link = group_link::unknown;
};

/// read_out_header() then decode_request() over a popped chain's readable and writable parts.
/// On an error, complete the chain with reject_request() and record its link in its group.
template <guest_memory Memory>
[[nodiscard]] VIREO_ALWAYS_INLINE parsed_request<Memory> parse_request(
    chain::reader<Memory> rd, chain::writer<Memory> wr, const decode_options& opt) noexcept {
  auto hdr = read_out_header(rd);
  if (!hdr) return {hdr.error(), group_link::unknown};
  return {decode_request(*hdr, rd, wr, opt), link_of(*hdr)};
}
template <guest_memory Memory, std::size_t MaxSegments>
[[nodiscard]] VIREO_ALWAYS_INLINE parsed_request<Memory> parse_request(
    const chain::descriptor_chain<Memory, MaxSegments>& c, const decode_options& opt) noexcept {
  return parse_request(c.reader(), c.writer(), opt);
}

/// parse_request() building the request into `out` (see decode_request_into()). Returns why
/// the chain is malformed (errc{} when `out` holds the request) and the link, as parse_request().
struct parse_outcome {
  errc error{};
  group_link link = group_link::unknown;
};
template <guest_memory Memory, std::size_t MaxSegments>
[[nodiscard]] VIREO_ALWAYS_INLINE parse_outcome parse_request_into(
    std::optional<request<Memory>>& out, const chain::descriptor_chain<Memory, MaxSegments>& c,
    const decode_options& opt) noexcept {
  auto rd = c.reader();
  auto hdr = read_out_header(rd);
  if (!hdr) {
    out.reset();
    return {hdr.error(), group_link::unknown};
  }
  auto r = decode_request_into(out, *hdr, rd, c.writer(), opt);
  return {r ? errc{} : r.error(), link_of(*hdr)};
}

/// next_group() over parsed requests (their `link`), for a device that parses what is
/// available first and then executes it group by group.
template <guest_memory Memory>
[[nodiscard]] constexpr group next_group(std::span<const parsed_request<Memory>> reqs,
                                         std::size_t from, tail_policy tail) noexcept {
  return detail::next_group(reqs.size(), from, tail,
                            [&](std::size_t i) { return reqs[i].link; });
}

/// Complete a chain that parse_request() refused: ERR goes into its last writable byte, where
/// every layout of the protocol (the merged one and the 2021 draft alike) keeps in_hdr. Returns
/// the used length to push: the writable length when the bytes before the status are few
/// enough to zero (at most opt.max_len: no more work than a valid read), else 0 (ERR is still
/// written, for drivers that read it regardless, as Linux does; §2.7.8.2 allows a used length
/// that under-reports, never one that over-reports). 0 too when there is no writable byte.
/// Errors: the memory model's error (complete the chain with 0 then).
template <guest_memory Memory>
[[nodiscard]] result<std::uint32_t> reject_request(chain::writer<Memory> wr,
                                                   const decode_options& opt) noexcept {
  const std::size_t writable = wr.remaining();
  if (writable == 0) return std::uint32_t{0};
  const std::size_t before = writable - 1;
  const bool fill = before <= opt.max_len;
  if (fill) VIREO_TRY(detail::zero_fill(wr, before));
  else VIREO_TRY(wr.skip(before));
  VIREO_TRY(wr.write_obj(in_hdr{static_cast<std::uint8_t>(status::err)}));
  return fill ? static_cast<std::uint32_t>(writable) : std::uint32_t{0};  // writable < 2^32
}
template <guest_memory Memory, std::size_t MaxSegments>
[[nodiscard]] result<std::uint32_t> reject_request(
    const chain::descriptor_chain<Memory, MaxSegments>& c, const decode_options& opt) noexcept {
  return reject_request(c.writer(), opt);
}

// ---- Driver side ------------------------------------------------------------------------------

/// The out header for a request: the encoded address, padding 0, FAIL_NEXT and M_RD as given,
/// reserved bits 0 (§5.16.6.3: the driver MUST set addr and flags, reserved bits 0).
/// Errors: those of encode_address().
[[nodiscard]] constexpr result<out_hdr> make_out_hdr(address target, direction dir,
                                                     bool fail_next) noexcept {
  auto a = encode_address(target);
  if (!a) return a.error();
  out_hdr h{};
  h.addr.set(a->raw());
  h.padding.set(0);
  h.flags.set((fail_next ? flag::fail_next : 0u) | (dir == direction::read ? flag::m_rd : 0u));
  return h;
}

/// The FAIL_NEXT bit of message `index` of a transfer of `count` messages (one group): set on
/// all but the last, as Linux's virtio_i2c_prepare_reqs() does. Precondition: index < count.
[[nodiscard]] constexpr bool transfer_fail_next(std::size_t index, std::size_t count) noexcept {
  return index + 1 < count;
}

/// One I2C message as a driver sees it (Linux struct i2c_msg): a target, a direction and a
/// buffer of guest memory the driver owns. A zero-length message has no buffer.
struct message {
  address target;
  direction dir = direction::write;
  gpa buf{};  ///< ignored when len is 0
  std::uint32_t len = 0;
};

/// Where the driver keeps a request's two headers in guest memory it owns: 8 bytes for
/// virtio_i2c_out_hdr and 1 byte for virtio_i2c_in_hdr. They must not overlap buf or each other.
struct header_slots {
  gpa out{};
  gpa in{};
};

/// One request laid out for a driver queue's add(readable(), writable(), ...).
struct request_buffers {
  std::array<ring::buffer, 2> readable_bufs{};
  std::array<ring::buffer, 2> writable_bufs{};
  std::uint8_t readable_count = 0;
  std::uint8_t writable_count = 0;
  direction dir = direction::write;
  std::uint32_t len = 0;           ///< buf's length
  std::uint32_t writable_len = 0;  ///< len + 1 for a read, else 1: what a complete request uses
  gpa status_at{};                 ///< the in_hdr byte

  [[nodiscard]] std::span<const ring::buffer> readable() const noexcept {
    return {readable_bufs.data(), readable_count};
  }
  [[nodiscard]] std::span<const ring::buffer> writable() const noexcept {
    return {writable_bufs.data(), writable_count};
  }
};

/// Driver side: write the out header of message `m` into `at.out`, preset the status byte at
/// `at.in` to ERR (so a device that never writes it cannot report OK), and return the buffers
/// to add, in the merged layout: [out_hdr](R) [buf](R, a write) + [buf](W, a read) [in_hdr](W),
/// with no buf at all for a zero-length message (§5.16.6.3: the driver MUST NOT send buf for a
/// zero-length request; M_RD set for a read whose buf is write-only for the device, clear for a
/// write whose buf is read-only). Add each request of a transfer in order (§5.16.6.3), with
/// fail_next = transfer_fail_next(i, n). Errors: i2c_feature_required (`negotiated` lacks
/// VIRTIO_I2C_F_ZERO_LENGTH_REQUEST: the driver should have aborted, §5.16.6.3),
/// i2c_address_reserved (a 7-bit 0x78-0x7B: no encoding), total_len_overflow (the chain would
/// reach 2^32 bytes, §2.7.5.2), or the memory model's error writing the headers.
template <guest_memory Memory>
[[nodiscard]] result<request_buffers> encode_request(Memory& mem, const message& m,
                                                     bool fail_next, header_slots at,
                                                     const feature_set& negotiated) noexcept {
  if (!negotiated.has(feature::zero_length_request)) return errc::i2c_feature_required;
  // 8 header bytes + len + 1 status byte must stay below 2^32.
  if (m.len > UINT32_MAX - sizeof(out_hdr) - sizeof(in_hdr)) return errc::total_len_overflow;
  auto hdr = make_out_hdr(m.target, m.dir, fail_next);
  if (!hdr) return hdr.error();
  VIREO_TRY(mem.write(at.out, as_bytes_of(*hdr)));
  VIREO_TRY(mem.write(at.in, as_bytes_of(in_hdr{static_cast<std::uint8_t>(status::err)})));

  request_buffers b;
  b.dir = m.dir;
  b.len = m.len;
  b.status_at = at.in;
  b.readable_bufs[b.readable_count++] = {at.out, sizeof(out_hdr)};
  if (m.len != 0) {
    if (m.dir == direction::read) b.writable_bufs[b.writable_count++] = {m.buf, m.len};
    else b.readable_bufs[b.readable_count++] = {m.buf, m.len};
  }
  b.writable_bufs[b.writable_count++] = {at.in, sizeof(in_hdr)};
  b.writable_len = m.dir == direction::read ? m.len + 1 : 1;  // checked above: no wrap
  return b;
}

/// How decode_completion() treats the used length.
enum class used_len_policy : std::uint8_t {
  strict,  ///< the used length must cover the status byte (§2.7.8.3: bytes beyond it are not
           ///< to be trusted)
  ignore,  ///< read the status byte whatever the used length says (Linux's i2c-virtio does)
};

/// Driver side: the status of a request the device completed with `used_len` (what reclaim()
/// returned). The status byte is read once. For a read, buf holds the target's bytes only when
/// this returns status::ok (§5.16.6.3: the driver MUST NOT use buf after ERR). Errors:
/// i2c_status_not_written (strict: used_len below b.writable_len), i2c_bad_status (neither OK
/// nor ERR), or the memory model's error. Treat any error as ERR, and apply the group rule:
/// count_ok_prefix().
template <guest_memory Memory>
[[nodiscard]] result<status> decode_completion(Memory& mem, const request_buffers& b,
                                               std::uint32_t used_len,
                                               used_len_policy policy = used_len_policy::strict)
    noexcept {
  if (policy == used_len_policy::strict && used_len < b.writable_len)
    return errc::i2c_status_not_written;
  in_hdr h{};
  VIREO_TRY(mem.read(b.status_at, as_writable_bytes_of(h)));
  if (h.status == static_cast<std::uint8_t>(status::ok)) return status::ok;
  if (h.status == static_cast<std::uint8_t>(status::err)) return status::err;
  return errc::i2c_bad_status;
}

/// Driver side, one group: how many leading requests succeeded. The driver MUST treat the first
/// failed request and every later one of its group as failed, whatever their status says
/// (§5.16.6.3); for one transfer this is what Linux's master_xfer returns.
[[nodiscard]] constexpr std::size_t count_ok_prefix(std::span<const status> statuses) noexcept {
  std::size_t n = 0;
  while (n < statuses.size() && statuses[n] == status::ok) ++n;
  return n;
}

}  // namespace i2c
VIREO_NAMESPACE_END
