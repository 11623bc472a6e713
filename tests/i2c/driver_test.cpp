// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/i2c/driver.hpp, the virtio-i2c front-end: end to end through the real device
// model (i2c::device over sim::bus with a 24C02 EEPROM), the driver checklist ID1-ID9 on the
// chains the device receives, and hostile devices (hand-written from the device queue). Every
// case runs over a split and a packed ring.
#include "i2c_test_support.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "ring/two_sided.hpp"
#include "vireo/i2c/device.hpp"
#include "vireo/i2c/driver.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/ring/driver_env.hpp"

using namespace vireo_i2c_test;
using i2c::direction;
using i2c::status;
using i2c::transfer_msg;
using vireo_two_sided::packed_tag;
using vireo_two_sided::split_tag;
using vireo_two_sided::two_sided;

namespace {

constexpr std::uint16_t eeprom_at = 0x50;

/// Bytes from a list of small integers.
std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

/// A front-end and its device sharing one guest memory: the real device model (a simulated bus
/// with an EEPROM at 0x50) by default, or the test's own hand on the device queue.
template <typename Tag>
struct rig {
  using ram_t = two_sided<Tag>;
  using fe_t = i2c::driver<vireo::flat_memory, typename ram_t::driver_queue, 4, 8>;
  using dev_t = i2c::device<typename ram_t::device_queue, i2c::sim::bus<>, 8, 1024>;

  explicit rig(vireo_two_sided::options ro = {}, i2c::driver_options fo = {})
      : ram(ro), dev(ram.device(), bus) {
    REQUIRE(bus.attach(a7(eeprom_at), eeprom).has_value());
    auto f = fe_t::create(ram.memory(), ram.driver(), ram.region(), i2c::device_features(), fo);
    REQUIRE(f.has_value());
    fe.emplace(*f);
  }

  /// The environment of a synchronous call: kicks are counted, each wait runs the device once
  /// (the real model, or `hand` when a test installs one).
  auto env() {
    return vireo::ring::env_callbacks{[this](std::uint16_t q) {
                                        CHECK(q == i2c::requestq);
                                        ++kicks;
                                      },
                                      [this] {
                                        ++waits;
                                        if (hand) hand();
                                        else REQUIRE(dev.process().has_value());
                                      }};
  }

  ram_t ram;
  i2c::sim::eeprom_24c02 eeprom;
  i2c::sim::bus<> bus;
  dev_t dev;
  std::optional<fe_t> fe;
  std::function<void()> hand;  ///< replaces the device model when set
  int kicks = 0;
  int waits = 0;
};

/// One chain as a hand-written device sees it.
template <typename Chain>
struct popped {
  Chain chain;
  i2c::out_hdr hdr{};
  std::vector<std::byte> readable;  ///< every readable byte (header first)
  std::uint32_t writable = 0;
  std::size_t readable_descs = 0, writable_descs = 0;
};

template <typename DeviceQueue>
std::vector<popped<typename DeviceQueue::chain_type>> pop_all(DeviceQueue& d) {
  std::vector<popped<typename DeviceQueue::chain_type>> out;
  for (;;) {
    auto c = d.pop();
    REQUIRE(c.has_value());
    if (c->empty()) return out;
    popped<typename DeviceQueue::chain_type> p{*c, {}, {}, 0, 0, 0};
    auto r = p.chain.reader();
    p.readable.resize(r.remaining());
    REQUIRE(r.read(p.readable).has_value());
    REQUIRE(p.readable.size() >= sizeof(i2c::out_hdr));
    std::memcpy(&p.hdr, p.readable.data(), sizeof p.hdr);
    p.writable = p.chain.writable_len();
    p.readable_descs = p.chain.readable().size();
    p.writable_descs = p.chain.writable().size();
    out.push_back(std::move(p));
  }
}

/// Complete a popped chain by hand: `data` into the front of the writable part, `st` into its
/// last byte, and `used` as the used length.
template <typename DeviceQueue, typename Chain>
void complete(DeviceQueue& d, const popped<Chain>& p, std::uint8_t st, std::uint32_t used,
              vireo::const_bytes data = {}) {
  auto w = p.chain.writer();
  REQUIRE(w.write(data).has_value());
  REQUIRE(w.skip(w.remaining() - 1).has_value());
  const std::byte s{st};
  REQUIRE(w.write(vireo::const_bytes{&s, 1}).has_value());
  REQUIRE(d.push_used(p.chain, used).has_value());
}

/// A hostile device's completion: a used length above the chain's writable length, which the
/// device queue refuses to write for an honest token, so the token is forged.
template <typename DeviceQueue, typename Chain>
void complete_overlong(DeviceQueue& d, const popped<Chain>& p, std::uint32_t used) {
  auto t = p.chain.token();
  t.writable_len = used;
  REQUIRE(d.push_used(t, used).has_value());
}

template <typename Rig>
std::optional<i2c::completion> poll_one(Rig& r) {
  auto c = r.fe->poll();
  REQUIRE(c.has_value());
  return *c;
}

}  // namespace

TEST_CASE_TEMPLATE("ID1 front-end: create() needs ZERO_LENGTH_REQUEST, a big enough region and a "
                   "ready queue",
                   Tag, split_tag, packed_tag) {
  two_sided<Tag> ram;
  using fe_t = i2c::driver<vireo::flat_memory, typename two_sided<Tag>::driver_queue, 4, 8>;
  // §5.16.6.3: the driver MUST accept the feature (and abort without it).
  CHECK(err(fe_t::create(ram.memory(), ram.driver(), ram.region(), feature_set{})) ==
        errc::i2c_feature_required);
  CHECK(err(i2c::accept_features(feature_set{})) == errc::i2c_feature_required);
  CHECK(i2c::accept_features(i2c::device_features()).has_value());

  const auto need = fe_t::region_size(256);
  CHECK(need == 4 * ((8 * 9 + 256 + 7) / 8 * 8));
  const vireo::ring::driver_region small{ram.region().base(), need - 1};
  CHECK(err(fe_t::create(ram.memory(), ram.driver(), small, i2c::device_features())) ==
        errc::no_space);
  const vireo::ring::driver_region outside{gpa{0x10}, need};
  CHECK(err(fe_t::create(ram.memory(), ram.driver(), outside, i2c::device_features())) ==
        errc::out_of_bounds);
  i2c::driver_options automatic;
  automatic.mode = vireo::ring::add_mode::automatic;
  CHECK(err(fe_t::create(ram.memory(), ram.driver(), ram.region(), i2c::device_features(),
                         automatic)) == errc::invalid_argument);
  ram.driver().reset();
  CHECK(err(fe_t::create(ram.memory(), ram.driver(), ram.region(), i2c::device_features())) ==
        errc::queue_not_ready);
}

TEST_CASE_TEMPLATE("front-end: EEPROM page write, then a random read, through the real device",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  const auto page = pattern(8, 7);
  std::vector<std::byte> write_msg = bytes_of({0x10});
  write_msg.insert(write_msg.end(), page.begin(), page.end());

  auto w = r.fe->transfer(transfer_msg::write(a7(eeprom_at), write_msg), r.env());
  REQUIRE(w.has_value());
  CHECK(w->ok());
  CHECK(w->messages == 1);
  CHECK(w->succeeded == 1);
  CHECK(std::equal(page.begin(), page.end(), r.eeprom.contents().begin() + 0x10));
  CHECK(r.kicks == 1);

  // Random read: write the word address, then read (one group: FAIL_NEXT on the first).
  std::array<std::byte, 8> back{};
  const std::byte word{0x10};
  const std::array msgs{transfer_msg::write(a7(eeprom_at), {&word, 1}),
                        transfer_msg::read(a7(eeprom_at), back)};
  auto rd = r.fe->transfer(msgs, r.env());
  REQUIRE(rd.has_value());
  CHECK(rd->ok());
  CHECK(rd->succeeded == 2);
  CHECK(std::equal(back.begin(), back.end(), page.begin()));
  CHECK(r.bus.last_transfer_size() == 2);  // the device ran the group as one transaction
  CHECK(r.fe->in_flight() == 0);
}

TEST_CASE_TEMPLATE("ID2 ID3 ID4 ID6 ID7 ID8 front-end: addr and flags set, reserved bits zero, "
                   "buf direction by M_RD, no buf for zero length, requests in order",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  const auto payload = pattern(5, 3);
  std::array<std::byte, 4> rd{};
  std::fill(rd.begin(), rd.end(), std::byte{0x5A});
  const std::array msgs{transfer_msg::write(a7(0x50), payload), transfer_msg::read(a7(0x51), rd),
                        transfer_msg::write(a7(0x52), {}), transfer_msg::read(a10(0x2A5), {})};
  auto id = r.fe->submit(msgs, 77);
  REQUIRE(id.has_value());
  CHECK(r.fe->needs_kick());

  auto got = pop_all(r.ram.device());
  REQUIRE(got.size() == 4);  // ID8: one request per message, in order
  const std::uint16_t addrs[] = {0x00A0, 0x00A2, 0x00A4, 0xA5F4};
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    const bool read = msgs[i].dir() == direction::read;
    const bool last = i + 1 == got.size();
    CHECK(got[i].hdr.addr.get() == addrs[i]);  // ID2
    CHECK(got[i].hdr.padding.get() == 0);
    CHECK(got[i].hdr.flags.get() ==
          ((last ? 0u : flag::fail_next) | (read ? flag::m_rd : 0u)));  // ID2, ID8
    CHECK((got[i].hdr.flags.get() & flag::reserved) == 0);                // ID3
    const std::size_t len = msgs[i].size();
    if (read) {  // ID6: M_RD, buf device-writable, nothing readable after the header
      CHECK(got[i].readable.size() == sizeof(i2c::out_hdr));
      CHECK(got[i].writable == len + 1);
    } else {  // ID7: buf device-readable, only the status writable
      CHECK(got[i].readable.size() == sizeof(i2c::out_hdr) + len);
      CHECK(got[i].writable == 1);
    }
    // ID4: a zero-length request has no buf descriptor at all, not even an empty one.
    CHECK(got[i].readable_descs + got[i].writable_descs == (len == 0 ? 2u : 3u));
  }
  CHECK(std::equal(payload.begin(), payload.end(), got[0].readable.begin() + 8));

  const auto data = bytes_of({1, 2, 3, 4});
  complete(r.ram.device(), got[0], 0, 1);
  complete(r.ram.device(), got[1], 0, 5, data);
  complete(r.ram.device(), got[2], 0, 1);
  complete(r.ram.device(), got[3], 0, 1);
  auto c = poll_one(r);
  REQUIRE(c.has_value());
  CHECK(c->id == *id);
  CHECK(c->cookie == 77);
  CHECK(c->ok());
  CHECK(c->succeeded == 4);
  CHECK(c->failure == errc{});
  CHECK(std::equal(rd.begin(), rd.end(), data.begin()));
}

TEST_CASE_TEMPLATE("ID5 ID9 front-end: the first failure and the rest of its group count as "
                   "failed; a failed read's buf is never copied out",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  std::array<std::byte, 3> rd1{}, rd2{};
  rd1.fill(std::byte{0x5A});
  rd2.fill(std::byte{0x5A});
  const auto one = bytes_of({9});
  const std::array msgs{transfer_msg::write(a7(0x50), one), transfer_msg::read(a7(0x50), rd1),
                        transfer_msg::read(a7(0x50), rd2)};
  REQUIRE(r.fe->submit(msgs, 1).has_value());
  auto got = pop_all(r.ram.device());
  REQUIRE(got.size() == 3);
  const auto data = bytes_of({7, 7, 7});
  complete(r.ram.device(), got[0], 0, 1);
  complete(r.ram.device(), got[1], 1, 4, data);  // ERR, with bytes in buf anyway
  complete(r.ram.device(), got[2], 0, 4, data);  // a device that says OK after a failure
  auto c = poll_one(r);
  REQUIRE(c.has_value());
  CHECK(c->succeeded == 1);  // ID9: the count stops at the first failure
  CHECK(c->messages == 3);
  CHECK(c->failure == errc::i2c_message_failed);
  CHECK_FALSE(c->ok());
  // ID5: neither read is used: the ERR one, and the OK one after it in the same group.
  CHECK(std::all_of(rd1.begin(), rd1.end(), [](std::byte b) { return b == std::byte{0x5A}; }));
  CHECK(std::all_of(rd2.begin(), rd2.end(), [](std::byte b) { return b == std::byte{0x5A}; }));

  SUBCASE("the real device: a NACK in the middle of a group") {
    const std::array nack{transfer_msg::write(a7(0x50), one), transfer_msg::read(a7(0x51), rd1),
                          transfer_msg::read(a7(0x50), rd2)};
    auto t = r.fe->transfer(nack, r.env());
    REQUIRE(t.has_value());
    CHECK(t->succeeded == 1);
    CHECK(t->failure == errc::i2c_message_failed);
    CHECK(rd2[0] == std::byte{0x5A});
  }
}

TEST_CASE_TEMPLATE("ID4 front-end: probe() is a zero-length write; ACK true, no target false",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  auto here = r.fe->probe(a7(eeprom_at), r.env());
  REQUIRE(here.has_value());
  CHECK(*here);
  auto absent = r.fe->probe(a7(0x51), r.env());
  REQUIRE(absent.has_value());
  CHECK_FALSE(*absent);
  CHECK(err(r.fe->probe(a7(0x7A), r.env())) == errc::i2c_address_reserved);
  CHECK(r.bus.transfers() == 2);
}

TEST_CASE_TEMPLATE("front-end: several transfers in flight; poll() returns them oldest first",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({.size = 32});
  std::array<std::array<std::byte, 2>, 3> reads{};
  const std::byte word{0x00};
  std::vector<i2c::transfer_id> ids;
  for (std::size_t k = 0; k < 3; ++k) {
    const std::array msgs{transfer_msg::write(a7(eeprom_at), {&word, 1}),
                          transfer_msg::read(a7(eeprom_at), reads[k])};
    auto id = r.fe->submit(msgs, 100 + k);
    REQUIRE(id.has_value());
    ids.push_back(*id);
  }
  auto none = r.fe->poll();  // nothing completed yet, and no read buffer touched
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  r.fe->flush(r.env());
  CHECK(r.kicks == 1);  // one kick for the batch
  r.eeprom.contents()[0] = std::byte{0x11};
  r.eeprom.contents()[1] = std::byte{0x22};
  REQUIRE(r.dev.process().has_value());
  for (std::size_t k = 0; k < 3; ++k) {
    auto c = poll_one(r);
    REQUIRE(c.has_value());
    CHECK(c->id == ids[k]);
    CHECK(c->cookie == 100 + k);
    CHECK(c->ok());
    CHECK(reads[k][0] == std::byte{0x11});
    CHECK(reads[k][1] == std::byte{0x22});
  }
  CHECK_FALSE(poll_one(r).has_value());
  CHECK(r.fe->in_flight() == 0);
}

TEST_CASE_TEMPLATE("front-end: a transfer the device completes out of order still counts in order",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  std::array<std::byte, 2> rd{};
  const auto one = bytes_of({1});
  const std::array msgs{transfer_msg::write(a7(0x50), one), transfer_msg::read(a7(0x50), rd),
                        transfer_msg::write(a7(0x50), one)};
  REQUIRE(r.fe->submit(msgs).has_value());
  auto got = pop_all(r.ram.device());
  REQUIRE(got.size() == 3);
  const auto data = bytes_of({0xAB, 0xCD});
  complete(r.ram.device(), got[2], 0, 1);
  CHECK_FALSE(poll_one(r).has_value());  // not finished until every request is back
  complete(r.ram.device(), got[1], 0, 3, data);
  CHECK_FALSE(poll_one(r).has_value());
  complete(r.ram.device(), got[0], 1, 1);
  auto c = poll_one(r);
  REQUIRE(c.has_value());
  CHECK(c->succeeded == 0);
  CHECK(c->failure == errc::i2c_message_failed);
  CHECK(rd[0] == std::byte{0});  // ID5: not copied out
}

TEST_CASE_TEMPLATE("front-end: submit() refusals leave nothing queued", Tag, split_tag,
                   packed_tag) {
  rig<Tag> r({.size = 16}, {.transfer_bytes = 16});
  const auto before = r.ram.driver().in_flight();
  const auto big = pattern(17, 1);
  const auto half = pattern(9, 1);
  std::array<std::byte, 8> rd{};
  const std::byte b{0};

  CHECK(err(r.fe->submit({})) == errc::invalid_argument);
  std::vector<transfer_msg> nine(9, transfer_msg::write(a7(0x50), {&b, 1}));
  CHECK(err(r.fe->submit(nine)) == errc::i2c_transfer_too_large);  // MaxMessages is 8
  CHECK(err(r.fe->submit(std::array{transfer_msg::write(a7(0x50), big)})) ==
        errc::i2c_transfer_too_large);
  CHECK(err(r.fe->submit(std::array{transfer_msg::write(a7(0x50), half),
                                    transfer_msg::read(a7(0x50), rd)})) ==
        errc::i2c_transfer_too_large);  // 9 + 8 bytes > 16
  CHECK(err(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1}),
                                    transfer_msg::write(a7(0x78), {&b, 1})})) ==
        errc::i2c_address_reserved);  // checked before the first request goes in
  CHECK(r.ram.driver().in_flight() == before);
  CHECK(r.fe->in_flight() == 0);

  // Six 3-descriptor requests fill 18 > 16 descriptors: refused whole, not cut.
  std::vector<transfer_msg> six(6, transfer_msg::write(a7(0x50), {&b, 1}));
  CHECK(err(r.fe->submit(six)) == errc::ring_full);
  CHECK(r.ram.driver().in_flight() == before);

  // Four transfers fill the four slots.
  for (int k = 0; k < 4; ++k)
    REQUIRE(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1})}).has_value());
  CHECK(err(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1})})) ==
        errc::i2c_no_free_slot);
  CHECK(r.fe->in_flight() == 4);
  REQUIRE(r.dev.process().has_value());
  for (int k = 0; k < 4; ++k) CHECK(poll_one(r).has_value());
  CHECK(r.fe->in_flight() == 0);
}

TEST_CASE_TEMPLATE("front-end: indirect mode takes one descriptor per request", Tag, split_tag,
                   packed_tag) {
  rig<Tag> r({.size = 8, .indirect = 4}, {.mode = vireo::ring::add_mode::indirect});
  std::array<std::byte, 4> rd{};
  const std::byte word{0x20};
  r.eeprom.contents()[0x20] = std::byte{0x42};
  const std::array msgs{transfer_msg::write(a7(eeprom_at), {&word, 1}),
                        transfer_msg::read(a7(eeprom_at), rd)};
  const auto free_before = r.ram.driver().free_descriptors();
  REQUIRE(r.fe->submit(msgs).has_value());
  CHECK(r.ram.driver().free_descriptors() == free_before - 2);
  REQUIRE(r.dev.process().has_value());
  auto c = poll_one(r);
  REQUIRE(c.has_value());
  CHECK(c->ok());
  CHECK(rd[0] == std::byte{0x42});
}

TEST_CASE_TEMPLATE("front-end: hostile device: a used length short of the status byte, or a "
                   "status that is neither OK nor ERR, fails the transfer; the front-end goes on",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  std::array<std::byte, 4> rd{};
  rd.fill(std::byte{0x5A});
  const auto data = bytes_of({1, 2, 3, 4});
  const transfer_msg m = transfer_msg::read(a7(0x50), rd);
  std::uint8_t st = 0;
  std::uint32_t used = 5;
  errc want{};
  SUBCASE("used length 4 does not reach the status byte") {
    used = 4;
    want = errc::i2c_status_not_written;
  }
  SUBCASE("used length 0") {
    used = 0;
    want = errc::i2c_status_not_written;
  }
  SUBCASE("status byte 2") {
    st = 2;
    want = errc::i2c_bad_status;
  }
  SUBCASE("status byte 0xFF") {
    st = 0xFF;
    want = errc::i2c_bad_status;
  }
  r.hand = [&] {
    for (auto& p : pop_all(r.ram.device())) complete(r.ram.device(), p, st, used, data);
  };
  auto c = r.fe->transfer(m, r.env());
  REQUIRE(c.has_value());
  CHECK(c->succeeded == 0);
  CHECK(c->failure == want);
  CHECK(rd[0] == std::byte{0x5A});
  CHECK_FALSE(r.fe->broken());

  // Still usable, with the real device.
  r.hand = nullptr;
  auto ok = r.fe->probe(a7(eeprom_at), r.env());
  REQUIRE(ok.has_value());
  CHECK(*ok);
}

TEST_CASE_TEMPLATE("front-end: used_len_policy::ignore reads the status whatever the used length "
                   "says (Linux's way)",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r({}, {.used_len = i2c::used_len_policy::ignore});
  std::array<std::byte, 2> rd{};
  const auto data = bytes_of({3, 4});
  r.hand = [&] {
    for (auto& p : pop_all(r.ram.device())) complete(r.ram.device(), p, 0, 0, data);
  };
  auto c = r.fe->transfer(transfer_msg::read(a7(0x50), rd), r.env());
  REQUIRE(c.has_value());
  CHECK(c->ok());
  CHECK(rd[1] == std::byte{4});
}

TEST_CASE_TEMPLATE("front-end: hostile device: a used length above the buffer breaks the queue; "
                   "reset() drops what was in flight",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  const std::byte b{0};
  REQUIRE(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1})}).has_value());
  REQUIRE(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1})}).has_value());
  auto got = pop_all(r.ram.device());
  REQUIRE(got.size() == 2);
  complete_overlong(r.ram.device(), got[0], 2);  // a write's writable part is 1 byte
  CHECK(err(r.fe->poll()) == errc::used_len_too_large);
  CHECK(r.fe->broken());
  CHECK(err(r.fe->submit(std::array{transfer_msg::write(a7(0x50), {&b, 1})})) ==
        errc::queue_broken);
  CHECK(err(r.fe->probe(a7(0x50), r.env())) == errc::queue_broken);

  CHECK(r.fe->reset() == 2);
  CHECK(r.fe->in_flight() == 0);
  r.ram.reconfigure();
  r.dev.reset();
  CHECK_FALSE(r.fe->broken());
  auto ok = r.fe->probe(a7(eeprom_at), r.env());
  REQUIRE(ok.has_value());
  CHECK(*ok);
}

TEST_CASE_TEMPLATE("front-end: a device that never answers: transfer() times out, the slot stays "
                   "until the buffers come back, the host buffer is never written",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  std::array<std::byte, 2> rd{};
  rd.fill(std::byte{0x5A});
  r.hand = [] {};  // a device that does nothing
  CHECK(err(r.fe->transfer(transfer_msg::read(a7(0x50), rd), r.env(), 5)) == errc::i2c_timeout);
  CHECK(r.waits == 5);
  CHECK(r.fe->in_flight() == 1);  // the device still owns the buffers

  auto got = pop_all(r.ram.device());
  REQUIRE(got.size() == 1);
  const auto data = bytes_of({1, 2});
  complete(r.ram.device(), got[0], 0, 3, data);
  CHECK_FALSE(poll_one(r).has_value());  // abandoned: completes silently
  CHECK(r.fe->in_flight() == 0);
  CHECK(rd[0] == std::byte{0x5A});
}

TEST_CASE_TEMPLATE("front-end: abandon() of a finished transfer frees it; stale ids do nothing",
                   Tag, split_tag, packed_tag) {
  rig<Tag> r;
  const std::byte b{0};
  auto id = r.fe->submit(std::array{transfer_msg::write(a7(eeprom_at), {&b, 1})});
  REQUIRE(id.has_value());
  // A synchronous transfer collects the asynchronous one too: it waits, finished, for poll().
  auto t = r.fe->probe(a7(eeprom_at), r.env());
  REQUIRE(t.has_value());
  CHECK(*t);
  CHECK(r.fe->in_flight() == 1);
  r.fe->abandon(i2c::transfer_id{id->slot, id->seq + 1});  // stale: ignored
  r.fe->abandon(i2c::transfer_id{9, 0});                    // no such slot: ignored
  CHECK(r.fe->in_flight() == 1);
  r.fe->abandon(*id);
  CHECK(r.fe->in_flight() == 0);
  CHECK_FALSE(poll_one(r).has_value());
}
