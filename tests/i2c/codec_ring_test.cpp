// SPDX-License-Identifier: Apache-2.0
// virtio-i2c requests through real rings: the driver side of codec.hpp adds requests with the
// split (and packed) driver, the device pops real chains, parses, executes them on a simulated
// bus, completes them, and the driver reads the outcome. Also hostile segmentations and
// malformed chains made through the real driver's add().
#include "i2c_ring_support.hpp"

using namespace vireo_i2c_test;

namespace {

template <typename Mock, typename Device>
void write_then_read(bool indirect) {
  Mock m{mock_opts<Mock>(16, indirect)};
  Device d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  bus b;
  const gpa reg = m.put(std::vector<std::byte>{std::byte{0x10}});
  const gpa out = m.alloc(6);
  auto reqs = add_transfer(m, {{a7(0x50), direction::write, reg, 1},
                               {a7(0x50), direction::read, out, 6}});
  REQUIRE(reqs.size() == 2);
  CHECK(serve(d, b) == 2);
  auto st = reclaim_all(m, reqs);
  CHECK(st == std::vector<status>{status::ok, status::ok});
  CHECK(i2c::count_ok_prefix(st) == 2);
  auto got = m.host(out, 6);
  CHECK(std::memcmp(got.data(), b.mem.data() + 0x10, 6) == 0);
}

}  // namespace

TEST_CASE("ring: write(register) + read(data) as one group, split ring, direct and indirect") {
  write_then_read<split_mock, split_dev>(false);
  write_then_read<split_mock, split_dev>(true);
}

TEST_CASE("ring: write(register) + read(data) as one group, packed ring, direct and indirect") {
  write_then_read<packed_mock, packed_dev>(false);
  write_then_read<packed_mock, packed_dev>(true);
}

TEST_CASE("ring: a NACK fails the rest of its group without executing it, not the next group") {
  split_mock m{mock_opts<split_mock>(16, false)};
  split_dev d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  bus b;
  const gpa reg = m.put(std::vector<std::byte>{std::byte{0x00}});
  const gpa out1 = m.alloc(4), out2 = m.alloc(4);
  auto g1 = add_transfer(m, {{a7(0x51), direction::write, reg, 1},
                             {a7(0x50), direction::read, out1, 4}});
  auto g2 = add_transfer(m, {{a7(0x50), direction::read, out2, 4}});
  CHECK(serve(d, b) == 3);
  CHECK(b.executed == 2);  // the read of group 1 was never executed
  CHECK(reclaim_all(m, g1) == std::vector<status>{status::err, status::err});
  CHECK(reclaim_all(m, g2) == std::vector<status>{status::ok});
  // A failed read's buf was zeroed, never left with stale bytes that look like data.
  CHECK(m.host(out1, 4)[0] == std::byte{0});
}

TEST_CASE("ring: zero-length probes (i2cdetect -q / -r): present and absent targets") {
  split_mock m{mock_opts<split_mock>(8, false)};
  split_dev d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  bus b;
  auto p1 = add_transfer(m, {{a7(0x50), direction::write, gpa{0}, 0}});
  auto p2 = add_transfer(m, {{a7(0x51), direction::read, gpa{0}, 0}});
  REQUIRE(p1[0].bufs.readable().size() == 1);
  REQUIRE(p1[0].bufs.writable().size() == 1);
  CHECK(serve(d, b) == 2);
  CHECK(reclaim_all(m, p1) == std::vector<status>{status::ok});
  CHECK(reclaim_all(m, p2) == std::vector<status>{status::err});
}

TEST_CASE("ring: a transfer larger than the ring (QEMU's size 4): the tail group is closed") {
  split_mock m{mock_opts<split_mock>(4, false)};
  split_dev d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  bus b;
  // Three zero-length writes of 2 descriptors each: only two fit in 4 descriptors.
  auto reqs = add_transfer(m, {{a7(0x50), direction::write, gpa{0}, 0},
                               {a7(0x50), direction::write, gpa{0}, 0},
                               {a7(0x50), direction::write, gpa{0}, 0}});
  REQUIRE(reqs.size() == 2);
  // Batched device: collect what is available, then split into groups.
  std::vector<split_dev::chain_type> chains;
  std::vector<i2c::parsed_request<vireo::flat_memory>> parsed;
  std::vector<group_link> links;
  chains.reserve(4);  // a request points into its chain's segments: the chains must not move
  while (true) {
    auto c = d.pop();
    REQUIRE(c.has_value());
    if (c->empty()) break;
    chains.push_back(*c);
    parsed.push_back(i2c::parse_request(chains.back(), opts()));
    links.push_back(parsed.back().link);
  }
  REQUIRE(links == std::vector<group_link>{group_link::fail_next, group_link::fail_next});
  auto held = i2c::next_group(links, 0, i2c::tail_policy::hold);
  CHECK(held.end == i2c::group_end::pending);
  CHECK(i2c::next_group<vireo::flat_memory>(parsed, 0, i2c::tail_policy::hold).end ==
        i2c::group_end::pending);
  // Nothing more can come (no free descriptor; the driver has kicked): close and execute it.
  auto g = i2c::next_group<vireo::flat_memory>(parsed, 0, i2c::tail_policy::close);
  CHECK(g.end == i2c::group_end::closed);
  REQUIRE(g.count == 2);
  for (std::size_t k = g.first; k < g.first + g.count; ++k) {
    REQUIRE(parsed[k].req.has_value());
    auto& req = *parsed[k].req;
    auto used = req.complete(b.execute(req));
    REQUIRE(used.has_value());
    REQUIRE(d.push_used(chains[k], *used).has_value());
  }
  CHECK(reclaim_all(m, reqs) == std::vector<status>{status::ok, status::ok});
  CHECK(b.executed == 2);
}

TEST_CASE("ring: hostile segmentation through the real driver parses by bytes, not buffers") {
  for (const add_mode mode : {add_mode::direct, add_mode::indirect}) {
    split_mock m{mock_opts<split_mock>(16, true)};
    split_dev d{m.memory()};
    REQUIRE(d.configure(m.config()).has_value());
    const auto hdr = header(0x00A0, flag::m_rd | flag::fail_next);
    // Header in three pieces, with a zero-length descriptor; buf and status in one descriptor.
    const std::vector<buffer> r{{m.put({hdr.data(), 3}), 3},
                                {m.alloc(0), 0},
                                {m.put({hdr.data() + 3, 5}), 5}};
    const gpa w = m.alloc(9);
    const std::vector<buffer> wbufs{{w, 9}};
    REQUIRE(m.driver().add(r, wbufs, 0, mode).has_value());
    auto c = d.pop();
    REQUIRE(c.has_value());
    REQUIRE(!c->empty());
    auto p = i2c::parse_request(*c, opts());
    REQUIRE(p.req.has_value());
    CHECK(p.link == group_link::fail_next);
    CHECK(p.req->len() == 8);
    const auto data = pattern(8, 7);
    REQUIRE(p.req->read_data().write(data).has_value());
    auto used = p.req->complete(status::ok);
    REQUIRE(used.has_value());
    CHECK(*used == 9);
    REQUIRE(d.push_used(*c, *used).has_value());
    auto got = m.host(w, 9);
    CHECK(std::memcmp(got.data(), data.data(), 8) == 0);
    CHECK(got[8] == std::byte{0});
  }
}

TEST_CASE("ring: malformed requests from a hostile driver get ERR and the device carries on") {
  split_mock m{mock_opts<split_mock>(16, false)};
  split_dev d{m.memory()};
  REQUIRE(d.configure(m.config()).has_value());
  bus b;
  struct bad {
    std::vector<std::byte> readable;
    std::uint32_t writable;
    errc why;
  };
  const std::vector<bad> cases{
      {header(0x00A0, 1u << 7), 1, errc::i2c_reserved_flags},
      {concat({header(0x00A0, flag::m_rd), pattern(2, 1)}), 3, errc::i2c_read_buffer_readable},
      {header(0x00A0, 0), 4, errc::i2c_write_buffer_writable},
      {header(0x00A1, 0), 1, errc::i2c_address_invalid},
      {pattern(5, 1), 1, errc::i2c_header_too_short},
  };
  for (const bad& c : cases) {
    const gpa out = m.alloc(c.writable);
    const std::vector<buffer> r{{m.put(c.readable), static_cast<std::uint32_t>(c.readable.size())}};
    const std::vector<buffer> w{{out, c.writable}};
    REQUIRE(m.driver().add(r, w, 0).has_value());
    auto ch = d.pop();
    REQUIRE(ch.has_value());
    auto p = i2c::parse_request(*ch, opts());
    CHECK(err(p.req) == c.why);
    auto used = i2c::reject_request(*ch, opts());
    REQUIRE(used.has_value());
    CHECK(*used == c.writable);
    REQUIRE(d.push_used(*ch, *used).has_value());
    CHECK(m.host(out, c.writable)[c.writable - 1] == std::byte{1});
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    CHECK((*u)->len == c.writable);
  }
  // A good request still works afterwards.
  const gpa out = m.alloc(2);
  auto reqs = add_transfer(m, {{a7(0x50), direction::read, out, 2}});
  CHECK(serve(d, b) == 1);
  CHECK(reclaim_all(m, reqs) == std::vector<status>{status::ok});
}
