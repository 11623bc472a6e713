// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the Greybus operation message codec (vireo/greybus/{header,message,registry}.hpp
// and every protocol header) over a byte stream cut into messages by their size fields, the way
// a stream transport (gbridge TCP, greybus-for-zephyr UART) delimits them.
//
// Input (docs/greybus.md, "Fuzzing the message codec"):
//   byte 0  options: bit 0 strict decoding (trailing bytes and request results are errors)
//   then messages back to back; each is decoded from what is left, its first header.size bytes
//   form the message, and the next one starts after them. Decoding stops at the first failure.
// Invariants: decode reads only its buffer (ASan: each message sits in a buffer of its exact
// size); every protocol's decoder that accepts the payload re-encodes it to the same bytes and
// agrees with check_payload(); views stay inside the payload; error responses round-trip.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "fuzz_input.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/registry.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::errc;

constexpr std::size_t kMaxMessages = 32;

bool within(vireo::const_bytes inner, vireo::const_bytes outer) {
  return inner.empty() ||
         (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

/// Reads what a typed payload exposes, so a wrong bound behind a view is an overread.
template <typename P>
void touch(const P& p, vireo::const_bytes payload) {
  if constexpr (std::is_same_v<P, gb::byte_payload>) {
    FUZZ_CHECK(within(p.data, payload));
  } else if constexpr (std::is_same_v<P, gb::i2c::transfer_request>) {
    std::size_t wr = 0, rd = 0;
    for (std::size_t i = 0; i < p.op_count(); ++i) {
      const auto o = p.op(i);
      (gb::i2c::is_read(o) ? rd : wr) += o.size.get();
    }
    FUZZ_CHECK(wr == p.write_data().size() && rd == p.read_length());
    FUZZ_CHECK(within(p.write_data(), payload));
  } else if constexpr (std::is_same_v<P, gb::spi::transfer_request>) {
    std::uint64_t wr = 0, rd = 0;
    for (std::size_t i = 0; i < p.count(); ++i) {
      const auto d = p.desc(i);
      if (d.xfer_flags & gb::spi::xfer_flag::write) wr += d.len.get();
      if (d.xfer_flags & gb::spi::xfer_flag::read) rd += d.len.get();
    }
    FUZZ_CHECK(wr == p.write_data().size() && rd == p.read_length());
    FUZZ_CHECK(within(p.write_data(), payload));
  } else if constexpr (std::is_same_v<P, gb::uart::send_data_request>) {
    FUZZ_CHECK(p.data.size() + 2 == payload.size() && within(p.data, payload));
  } else if constexpr (std::is_same_v<P, gb::uart::receive_data_request>) {
    FUZZ_CHECK(!p.data.empty() && p.data.size() + 3 == payload.size() && within(p.data, payload));
  } else if constexpr (std::is_same_v<P, gb::svc::rail_names_response>) {
    for (std::size_t i = 0; i < p.rail_count(); ++i) FUZZ_CHECK(within(p.name(i), payload));
  }
}

/// A decoded payload re-encodes to the message's own bytes (header kept as received).
template <typename P>
void round_trip(const gb::message& m, const P& p, const std::byte* frame, std::size_t size) {
  FUZZ_CHECK(gb::payload_size(p) == m.payload.size());
  std::unique_ptr<std::byte[]> out(new std::byte[size]);
  const auto n = gb::encode_message(m.hdr, p, {out.get(), size});
  FUZZ_CHECK(n.has_value() && *n == size);
  FUZZ_CHECK(std::memcmp(out.get(), frame, size) == 0);
  touch(p, m.payload);
}

void one_message(const gb::message& m, const std::byte* frame, std::size_t size) {
  // Header facts the decoder promised.
  FUZZ_CHECK(m.hdr.size.get() == size && size >= gb::header_size);
  FUZZ_CHECK(m.payload.data() == frame + gb::header_size);
  FUZZ_CHECK(m.payload.size() == size - gb::header_size);
  FUZZ_CHECK(!(m.response() && m.id() == 0));

  for (const gb::protocol_id p : gb::typed_protocols) {
    const auto checked = gb::check_message(p, m);
    const bool known = gb::visit_operation(p, m.type(), [&]<typename Op>() {
      if (!m.response()) {
        const auto r = gb::decode_request<Op>(m);
        FUZZ_CHECK(r.has_value() == checked.has_value());
        if (r) round_trip(m, *r, frame, size);
        else FUZZ_CHECK(vireo::error_message(r.error()) != "unknown error");
        FUZZ_CHECK(gb::decode_response<Op>(m).error() == errc::greybus_not_a_request);
      } else {
        const auto r = gb::decode_response<Op>(m);
        if (Op::unidirectional) {
          FUZZ_CHECK(!r && r.error() == errc::greybus_no_response && !checked);
        } else if (m.failed()) {
          FUZZ_CHECK(!r && r.error() == errc::greybus_error_response && checked);
        } else {
          FUZZ_CHECK(r.has_value() == checked.has_value());
          if (r) round_trip(m, *r, frame, size);
        }
      }
    });
    if (!known) FUZZ_CHECK(!checked && checked.error() == errc::greybus_unknown_operation);
    FUZZ_CHECK(known == !gb::operation_name(p, m.type()).empty());
  }

  // A module's error answer to a request: same id, type | 0x80, the status, no payload.
  std::byte out[gb::header_size];
  const auto e = gb::encode_error_response(m.hdr, gb::status::invalid, out);
  if (m.response()) {
    FUZZ_CHECK(!e && e.error() == errc::greybus_not_a_request);
  } else if (m.id() == 0) {
    FUZZ_CHECK(!e && e.error() == errc::greybus_no_response);
  } else {
    FUZZ_CHECK(e.has_value() && *e == gb::header_size);
    const auto back = gb::decode(out, {true});
    FUZZ_CHECK(back.has_value() && back->response() && back->id() == m.id() &&
               back->type() == m.type() && back->failed() && back->payload.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const gb::decode_options opt{(data[0] & 1) != 0};
  const auto* p = reinterpret_cast<const std::byte*>(data) + 1;
  std::size_t left = size - 1;
  for (std::size_t k = 0; k < kMaxMessages && left > 0; ++k) {
    // What is left, in a buffer of exactly its size: any read past it is an ASan report.
    std::unique_ptr<std::byte[]> buf(new std::byte[left]);
    std::memcpy(buf.get(), p, left);
    const auto m = gb::decode({buf.get(), left}, opt);
    if (!m) {
      FUZZ_CHECK(vireo::error_message(m.error()) != "unknown error");
      break;
    }
    const std::size_t msg_size = m->hdr.size.get();
    FUZZ_CHECK(msg_size <= left && m->trailing == left - msg_size);
    FUZZ_CHECK(!opt.strict || m->trailing == 0);
    one_message(*m, buf.get(), msg_size);
    p += msg_size;
    left -= msg_size;
  }
  return 0;
}
