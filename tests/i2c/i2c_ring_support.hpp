// SPDX-License-Identifier: Apache-2.0
// Helpers for virtio-i2c tests over real rings: mock drivers, a simulated bus with one EEPROM,
// a device loop built from codec.hpp, and driver-side add/reclaim of whole transfers.
#pragma once

#include "i2c_test_support.hpp"

#include <array>
#include <cstring>
#include <vector>

#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"

namespace vireo_i2c_test {

using i2c::direction;
using i2c::group_link;
using i2c::status;
using vireo::ring::add_mode;
using vireo::ring::buffer;


using split_mock = vireo::testing::mock_split_driver;
using packed_mock = vireo::testing::mock_packed_driver;
using split_dev = vireo::ring::split_device<vireo::flat_memory>;
using packed_dev = vireo::ring::packed_device<vireo::flat_memory>;

inline feature_set ring_features(bool indirect) {
  feature_set f{vireo::transport_feature::version_1};
  if (indirect) f.set(vireo::transport_feature::indirect_desc);
  return f;
}

template <typename Mock>
typename Mock::options mock_opts(std::uint16_t size, bool indirect) {
  typename Mock::options o;
  o.size = size;
  o.features = ring_features(indirect);
  o.indirect_entries = indirect ? 4 : 0;
  o.data_bytes = std::size_t{1} << 16;
  return o;
}

/// A simulated bus with one 24C02-like EEPROM at 0x50: a write sets the word address from its
/// first byte and stores the rest; a read returns bytes from the word address on. Any other
/// target NACKs. Counts what it executed.
struct bus {
  std::array<std::byte, 256> mem{};
  std::uint8_t pointer = 0;
  int executed = 0;
  struct entry {
    std::uint16_t target;
    bool read;
    std::uint32_t len;
  };
  std::vector<entry> log;  ///< every executed segment, in order

  bus() {
    for (std::size_t i = 0; i < mem.size(); ++i) mem[i] = static_cast<std::byte>(i ^ 0xA5);
  }
  template <typename Request>
  status execute(Request& req) {
    ++executed;
    log.push_back({req.target().value(), req.is_read(), req.len()});
    if (req.target() != a7(0x50)) return status::err;
    if (!req.is_read()) {
      auto data = drain(req.write_data());
      if (!data.empty()) pointer = std::to_integer<std::uint8_t>(data[0]);
      for (std::size_t i = 1; i < data.size(); ++i) mem[pointer++] = data[i];
      return status::ok;
    }
    std::vector<std::byte> out(req.len());
    for (auto& b : out) b = mem[pointer++];
    return req.read_data().write(out) ? status::ok : status::err;
  }
};

/// The device: serve everything available, one request at a time, with the group rule. The tests
/// add everything before serving and nothing after, so an open group left at the end can never
/// be terminated: it is closed (the tail rule of docs/i2c.md).
template <typename Device>
int serve(Device& d, bus& b, const i2c::decode_options& o = opts()) {
  i2c::group_tracker groups;
  int served = 0;
  while (true) {
    auto c = d.pop();
    REQUIRE(c.has_value());
    if (c->empty()) break;
    ++served;
    auto p = i2c::parse_request(*c, o);
    std::uint32_t used = 0;
    if (!p.req) {
      groups.record(status::err, p.link);
      used = i2c::reject_request(*c, o).value_or(0);
    } else {
      const status own = groups.skip() ? status::err : b.execute(*p.req);
      used = p.req->complete(groups.record(own, p.link)).value_or(0);
    }
    REQUIRE(d.push_used(*c, used).has_value());
  }
  groups.close();
  return served;
}

/// Driver-side bookkeeping for one request.
struct pending {
  i2c::request_buffers bufs;
  gpa data{};
  std::uint16_t id = 0;
};

/// Add one transfer (one group) through the mock's real driver, in order (ID8).
template <typename Mock>
std::vector<pending> add_transfer(Mock& m, const std::vector<i2c::message>& msgs,
                                  add_mode mode = add_mode::automatic) {
  std::vector<pending> out;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const i2c::header_slots slots{m.alloc(8), m.alloc(1)};
    auto b = i2c::encode_request(m.memory(), msgs[i], i2c::transfer_fail_next(i, msgs.size()),
                                 slots, i2c::device_features());
    REQUIRE(b.has_value());
    auto id = m.driver().add(b->readable(), b->writable(), i, mode);
    if (!id) break;  // ring full: what was added stays, its last request keeps FAIL_NEXT
    out.push_back({*b, msgs[i].buf, *id});
  }
  return out;
}

/// Reclaim every completed request and return the statuses in submission order.
template <typename Mock>
std::vector<status> reclaim_all(Mock& m, const std::vector<pending>& reqs) {
  std::vector<status> st(reqs.size(), status::err);
  std::vector<bool> seen(reqs.size(), false);
  for (std::size_t n = 0; n < reqs.size(); ++n) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    const auto k = static_cast<std::size_t>((*u)->user_data);
    REQUIRE(k < reqs.size());
    seen[k] = true;
    auto s = i2c::decode_completion(m.memory(), reqs[k].bufs, (*u)->len);
    st[k] = s.value_or(status::err);
  }
  for (bool s : seen) CHECK(s);
  return st;
}

}  // namespace vireo_i2c_test
