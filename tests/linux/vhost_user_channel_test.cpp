// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/linux/vhost_user_channel.hpp: whole vhost-user messages with SCM_RIGHTS
// descriptors over real socket pairs (round trips, size boundaries, descriptor attribution,
// partial delivery, hostile peers, leaks counted in /proc/self/fd), reconnect by path (§6.5),
// and EINTR / EAGAIN / short transfers / MSG_CTRUNC on the fake Sys.
#include "vireo/linux/vhost_user_channel.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "linux/fake_sys.hpp"
#include "linux/socket_support.hpp"
#include "vireo/linux/unix_socket.hpp"
#include "vireo/vhost_user/header.hpp"

using namespace vireo_linux_test;
using namespace vireo_socket_test;
namespace lh = vireo::linux_host;
namespace vu = vireo::vhost_user;
using vireo::const_bytes;

static_assert(!std::is_copy_constructible_v<lh::channel>);
static_assert(std::is_nothrow_move_constructible_v<lh::channel>);
static_assert(!std::is_copy_constructible_v<lh::received_message>);
static_assert(std::is_nothrow_move_constructible_v<lh::received_message>);
static_assert(!std::is_copy_constructible_v<lh::received_fds>);
static_assert(lh::received_message::capacity == vu::header_size + vu::default_max_payload);

namespace {

constexpr std::uint32_t set_mem_table = 5;
constexpr std::uint32_t set_vring_kick = 12;
constexpr std::uint32_t get_features = 1;

/// A connected pair: a channel on one end, the raw peer socket on the other.
struct channel_and_peer {
  lh::channel ch;
  lh::unique_fd peer;
};

channel_and_peer connected(bool nonblocking = false) {
  auto p = lh::make_socket_pair(nonblocking);
  REQUIRE(p.has_value());
  return {lh::channel{std::move(p->first)}, std::move(p->second)};
}

/// Two channels talking to each other.
std::pair<lh::channel, lh::channel> make_channels() {
  auto p = lh::make_socket_pair();
  REQUIRE(p.has_value());
  return {lh::channel{std::move(p->first)}, lh::channel{std::move(p->second)}};
}

std::vector<std::byte> to_vector(const_bytes b) { return {b.begin(), b.end()}; }

template <typename Message>
void check_message(const Message& m, std::uint32_t request, std::uint32_t flags,
                   const std::vector<std::byte>& payload) {
  REQUIRE_FALSE(m.empty());
  CHECK(m.header().request.get() == request);
  CHECK(m.header().flags.get() == flags);
  CHECK(m.header().size.get() == payload.size());
  CHECK(m.bytes().size() == vu::header_size + payload.size());
  CHECK(to_vector(m.payload()) == payload);
}

}  // namespace

// ---- round trips ---------------------------------------------------------------------------------

TEST_CASE("channel: round trip with 0, 1 and 8 descriptors that refer to the same files") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [a, b] = make_channels();
    for (const std::size_t nfds : {std::size_t{0}, std::size_t{1}, std::size_t{8}}) {
      CAPTURE(nfds);
      std::vector<lh::unique_fd> files;
      std::vector<int> raw;
      for (std::size_t i = 0; i < nfds; ++i) {
        files.emplace_back(make_memfd("file " + std::to_string(i)));
        raw.push_back(files.back().get());
      }
      const std::vector<std::byte> payload = pattern(8 + 32 * nfds, static_cast<std::uint8_t>(nfds));
      REQUIRE(a.send(vu::make_header(set_mem_table, vu::flag::version, 
                                     static_cast<std::uint32_t>(payload.size())),
                     payload, raw)
                  .has_value());
      auto m = b.receive();
      REQUIRE(m.has_value());
      check_message(*m, set_mem_table, vu::flag::version, payload);
      REQUIRE(m->fds().size() == nfds);
      for (std::size_t i = 0; i < nfds; ++i) {
        const int got = m->fds().peek(i);
        CHECK(got != raw[i]);  // a new descriptor ...
        CHECK(identity(got) == identity(raw[i]));  // ... for the same file
        CHECK(content_of(got) == "file " + std::to_string(i));
        CHECK(has_cloexec(got));  // MSG_CMSG_CLOEXEC
      }
      CHECK_FALSE(a.mid_message());
      CHECK_FALSE(b.mid_message());
    }
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: send of whole message bytes, replies both ways, empty payload") {
  auto [a, b] = make_channels();
  const auto req = frame(get_features, vu::flag::version, {});
  REQUIRE(a.send(req).has_value());
  auto m = b.receive();
  REQUIRE(m.has_value());
  check_message(*m, get_features, vu::flag::version, {});
  CHECK(m->payload().empty());
  const std::vector<std::byte> features = pattern(8);
  REQUIRE(b.send(frame(get_features, vu::flag::reply_flags, features)).has_value());
  auto r = a.receive();
  REQUIRE(r.has_value());
  check_message(*r, get_features, vu::flag::reply_flags, features);
}

TEST_CASE("channel: payload of exactly the maximum passes; one more byte is refused both ways") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    const std::vector<std::byte> max = pattern(vu::default_max_payload);
    REQUIRE(raw_send(peer.get(), frame(1, 1, max)) ==
            static_cast<ssize_t>(vu::header_size + max.size()));
    auto m = ch.receive();
    REQUIRE(m.has_value());
    check_message(*m, 1, 1, max);

    // Sending more than the cap is refused before anything leaves.
    const std::vector<std::byte> over = pattern(vu::default_max_payload + 1);
    CHECK(err(ch.send(frame(1, 1, over))) == errc::vhost_payload_too_large);
    CHECK(pending_bytes(peer.get()) == 0);
    CHECK_FALSE(ch.failure().has_value());

    // Receiving: the header is refused before any payload byte is read (rule B3).
    const int file = make_memfd("x");
    REQUIRE(raw_send(peer.get(), frame(1, 1, over), std::array{file}) > 0);
    ::close(file);
    CHECK(err(ch.receive()) == errc::vhost_payload_too_large);
    CHECK(pending_bytes(ch.fd()) == over.size());  // the payload is still in the socket
    CHECK(ch.failure() == errc::vhost_payload_too_large);
    CHECK(err(ch.receive()) == errc::vhost_payload_too_large);  // sticky: never resync
    CHECK(err(ch.try_receive()) == errc::vhost_payload_too_large);
    CHECK_FALSE(ch.mid_message());
  }
  CHECK(open_descriptors() == before);  // the memfd that came with the refused header is closed
}

TEST_CASE("channel: a smaller MaxPayload bounds the buffer and the check") {
  auto p = lh::make_socket_pair();
  REQUIRE(p.has_value());
  lh::basic_channel<lh::real_sys, 16> ch{std::move(p->first)};
  static_assert(decltype(ch)::message::capacity == 28);
  REQUIRE(raw_send(p->second.get(), frame(2, 1, pattern(16))) == 28);
  auto m = ch.receive();
  REQUIRE(m.has_value());
  check_message(*m, 2, 1, pattern(16));
  REQUIRE(raw_send(p->second.get(), header_only(2, 1, 17)) == 12);
  CHECK(err(ch.receive()) == errc::vhost_payload_too_large);
}

TEST_CASE("channel: headers with a bad version, reserved flags or a huge size are fatal") {
  struct bad_case {
    std::uint32_t flags;
    std::uint32_t size;
    errc expected;
  };
  for (const bad_case c : {bad_case{0x0, 0, errc::vhost_bad_version},
                           bad_case{0x2, 0, errc::vhost_bad_version},
                           bad_case{0x3, 0, errc::vhost_bad_version},
                           bad_case{0x11, 0, errc::vhost_reserved_flags},
                           bad_case{0x80000001u, 0, errc::vhost_reserved_flags},
                           bad_case{0x1, 0xFFFFFFFFu, errc::vhost_payload_too_large}}) {
    CAPTURE(c.flags);
    auto [ch, peer] = connected();
    REQUIRE(raw_send(peer.get(), header_only(3, c.flags, c.size)) == 12);
    CHECK(err(ch.receive()) == c.expected);
    CHECK(ch.failure() == c.expected);
  }
}

// ---- descriptor attribution ------------------------------------------------------------------------

TEST_CASE("channel: back-to-back messages keep their own descriptors") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [a, b] = make_channels();
    lh::unique_fd k0{make_memfd("kick0")}, c0{make_memfd("call0")}, c1{make_memfd("call1")};
    const std::vector<std::byte> u64 = pattern(8);
    const auto h = vu::make_header(set_vring_kick, vu::flag::version, 8);
    // All three are queued before the first is read.
    REQUIRE(a.send(h, u64, std::array{k0.get()}).has_value());
    REQUIRE(a.send(h, u64).has_value());
    REQUIRE(a.send(h, u64, std::array{c0.get(), c1.get()}).has_value());

    auto m1 = b.receive();
    REQUIRE(m1.has_value());
    REQUIRE(m1->fds().size() == 1);
    CHECK(identity(m1->fds().peek(0)) == identity(k0.get()));
    auto m2 = b.receive();
    REQUIRE(m2.has_value());
    CHECK(m2->fds().empty());
    auto m3 = b.receive();
    REQUIRE(m3.has_value());
    REQUIRE(m3->fds().size() == 2);
    CHECK(identity(m3->fds().peek(0)) == identity(c0.get()));
    CHECK(identity(m3->fds().peek(1)) == identity(c1.get()));
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: descriptors of a write carrying two messages go to the first (§10 case 6)") {
  auto [ch, peer] = connected();
  lh::unique_fd file{make_memfd("first")};
  std::vector<std::byte> both = frame(12, 1, pattern(8));
  const std::vector<std::byte> second = frame(13, 1, pattern(8, 9));
  both.insert(both.end(), second.begin(), second.end());
  REQUIRE(raw_send(peer.get(), both, std::array{file.get()}) == 40);
  auto m1 = ch.receive();
  REQUIRE(m1.has_value());
  CHECK(m1->header().request.get() == 12);
  REQUIRE(m1->fds().size() == 1);
  CHECK(identity(m1->fds().peek(0)) == identity(file.get()));
  auto m2 = ch.receive();
  REQUIRE(m2.has_value());
  CHECK(m2->header().request.get() == 13);
  CHECK(m2->fds().empty());
}

TEST_CASE("channel: descriptors arriving with the payload, not the header, belong to the message") {
  auto [ch, peer] = connected();
  lh::unique_fd file{make_memfd("late")};
  const std::vector<std::byte> msg = frame(12, 1, pattern(8));
  REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(12)) == 12);
  REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(12), std::array{file.get()}) == 8);
  // The next message's descriptor must not be taken along.
  lh::unique_fd next{make_memfd("next")};
  REQUIRE(raw_send(peer.get(), frame(13, 1, {}), std::array{next.get()}) == 12);
  auto m = ch.receive();
  REQUIRE(m.has_value());
  REQUIRE(m->fds().size() == 1);
  CHECK(identity(m->fds().peek(0)) == identity(file.get()));
  auto n = ch.receive();
  REQUIRE(n.has_value());
  REQUIRE(n->fds().size() == 1);
  CHECK(identity(n->fds().peek(0)) == identity(next.get()));
}

TEST_CASE("channel: descriptors not taken are closed with the message; taken ones live on") {
  const std::ptrdiff_t before = open_descriptors();
  lh::unique_fd kept;
  {
    auto [a, b] = make_channels();
    lh::unique_fd f0{make_memfd("0")}, f1{make_memfd("1")}, f2{make_memfd("2")};
    REQUIRE(a.send(frame(5, 1, pattern(8)), std::array{f0.get(), f1.get(), f2.get()}).has_value());
    auto m = b.receive();
    REQUIRE(m.has_value());
    REQUIRE(m->fds().size() == 3);
    const int r0 = m->fds().peek(0);
    const int r2 = m->fds().peek(2);
    kept = m->fds().take(1);
    CHECK(kept.valid());
    CHECK(m->fds().peek(1) == -1);
    CHECK_FALSE(m->fds().take(1).valid());  // already taken
    CHECK_FALSE(m->fds().take(3).valid());  // out of range
    CHECK(m->fds().size() == 3);            // still says how many arrived
    lh::received_message moved{std::move(*m)};
    CHECK(moved.fds().size() == 3);
    CHECK(m->fds().empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK(m->empty());
    CHECK(is_open(r0));
    {
      lh::received_message sink{std::move(moved)};
    }
    CHECK_FALSE(is_open(r0));
    CHECK_FALSE(is_open(r2));
    CHECK(content_of(kept.get()) == "1");
  }
  CHECK(open_descriptors() == before + 1);  // the taken one
  kept.reset();
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: more than 32 descriptors in one sendmsg is MSG_CTRUNC: fatal, none leak") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    lh::unique_fd file{make_memfd("many")};
    const std::vector<int> fds(lh::max_received_fds + 1, file.get());
    REQUIRE(raw_send(peer.get(), frame(5, 1, pattern(8)), fds) == 20);
    CHECK(err(ch.receive()) == errc::host_control_truncated);
    CHECK(err(ch.receive()) == errc::host_control_truncated);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: more than 32 descriptors over one message's recvmsg calls: fatal, none leak") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    lh::unique_fd file{make_memfd("many")};
    const std::vector<int> twenty(20, file.get());
    const std::vector<std::byte> msg = frame(5, 1, pattern(8));
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(12), twenty) == 12);
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(12), twenty) == 8);
    CHECK(err(ch.receive()) == errc::host_too_many_fds);
    CHECK_FALSE(ch.mid_message());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: exactly 32 descriptors over one message are accepted") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    lh::unique_fd file{make_memfd("32")};
    const std::vector<int> sixteen(16, file.get());
    const std::vector<std::byte> msg = frame(5, 1, pattern(8));
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(12), sixteen) == 12);
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(12), sixteen) == 8);
    auto m = ch.receive();
    REQUIRE(m.has_value());
    CHECK(m->fds().size() == lh::max_received_fds);
  }
  CHECK(open_descriptors() == before);
}

// ---- partial delivery, blocking and non-blocking ---------------------------------------------------

TEST_CASE("channel: try_receive keeps a partial message and completes it later") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    auto nothing = ch.try_receive();
    REQUIRE(nothing.has_value());
    CHECK(nothing->empty());
    CHECK(nothing->bytes().empty());
    CHECK_FALSE(ch.mid_message());

    lh::unique_fd file{make_memfd("partial")};
    const std::vector<std::byte> payload = pattern(40);
    const std::vector<std::byte> msg = frame(37, 1, payload);
    // 5 header bytes with the descriptor, then 7 more, then half of the payload, then the rest.
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(5), std::array{file.get()}) == 5);
    auto r1 = ch.try_receive();
    REQUIRE(r1.has_value());
    CHECK(r1->empty());
    CHECK(ch.mid_message());
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(5, 7)) == 7);
    auto r2 = ch.try_receive();
    REQUIRE(r2.has_value());
    CHECK(r2->empty());
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(12, 20)) == 20);
    auto r3 = ch.try_receive();
    REQUIRE(r3.has_value());
    CHECK(r3->empty());
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.subspan(32)) == 20);
    auto done = ch.try_receive();
    REQUIRE(done.has_value());
    check_message(*done, 37, 1, payload);
    REQUIRE(done->fds().size() == 1);
    CHECK(identity(done->fds().peek(0)) == identity(file.get()));
    CHECK_FALSE(ch.mid_message());
    auto after = ch.try_receive();
    REQUIRE(after.has_value());
    CHECK(after->empty());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: receive waits on a non-blocking socket until a split message is complete") {
  auto [ch, peer] = connected(true);
  CHECK(has_nonblock(ch.fd()));
  const std::vector<std::byte> payload = pattern(100);
  const std::vector<std::byte> msg = frame(24, 1, payload);
  REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(30)) == 30);
  const int peer_fd = peer.get();  // structured bindings: not captured (clang 14)
  std::thread writer{[peer_fd, &msg] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)raw_send(peer_fd, const_bytes{msg}.subspan(30));
  }};
  auto m = ch.receive();
  writer.join();
  REQUIRE(m.has_value());
  check_message(*m, 24, 1, payload);
}

TEST_CASE("channel: edge-triggered use: try_receive until empty drains every queued message") {
  auto [a, b] = make_channels();
  for (std::uint32_t i = 0; i < 5; ++i) REQUIRE(a.send(frame(i + 1, 1, pattern(i))).has_value());
  std::vector<std::uint32_t> seen;
  for (;;) {
    auto m = b.try_receive();
    REQUIRE(m.has_value());
    if (m->empty()) break;
    seen.push_back(m->header().request.get());
  }
  CHECK(seen == std::vector<std::uint32_t>{1, 2, 3, 4, 5});
}

// ---- the peer goes away ------------------------------------------------------------------------------

TEST_CASE("channel: EOF between messages is host_disconnected, inside one host_truncated") {
  SUBCASE("at a message boundary") {
    auto [ch, peer] = connected();
    REQUIRE(raw_send(peer.get(), frame(1, 1, {})) == 12);
    peer.reset();
    REQUIRE(ch.receive().has_value());
    CHECK(err(ch.receive()) == errc::host_disconnected);
    CHECK(err(ch.try_receive()) == errc::host_disconnected);  // sticky
    CHECK(err(ch.send(frame(1, 5, {}))) == errc::host_disconnected);
  }
  SUBCASE("inside the header") {
    auto [ch, peer] = connected();
    REQUIRE(raw_send(peer.get(), const_bytes{frame(1, 1, {})}.first(5)) == 5);
    peer.reset();
    CHECK(err(ch.receive()) == errc::host_truncated);
  }
  SUBCASE("inside the payload, non-blocking") {
    auto [ch, peer] = connected();
    REQUIRE(raw_send(peer.get(), const_bytes{frame(1, 1, pattern(16))}.first(20)) == 20);
    auto partial = ch.try_receive();
    REQUIRE(partial.has_value());
    CHECK(partial->empty());
    peer.reset();
    CHECK(err(ch.try_receive()) == errc::host_truncated);
  }
}

TEST_CASE("channel: the peer closing mid-message leaks none of the descriptors it sent") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    lh::unique_fd file{make_memfd("lost")};
    const std::vector<std::byte> msg = frame(5, 1, pattern(40));
    REQUIRE(raw_send(peer.get(), const_bytes{msg}.first(30), std::vector<int>(4, file.get())) == 30);
    peer.reset();
    CHECK(err(ch.receive()) == errc::host_truncated);
    CHECK_FALSE(ch.mid_message());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: send to a closed peer is host_disconnected, without SIGPIPE") {
  auto [ch, peer] = connected();
  peer.reset();
  // Without MSG_NOSIGNAL this would kill the test process.
  CHECK(err(ch.send(frame(1, 1, pattern(8)))) == errc::host_disconnected);
  CHECK(ch.failure() == errc::host_disconnected);
}

TEST_CASE("channel: a send refused before any byte leaves keeps the channel usable") {
  auto [a, b] = make_channels();
  const std::vector<std::byte> payload = pattern(8);
  CHECK(err(a.send(vu::make_header(1, 1, 9), payload)) == errc::vhost_frame_length);
  CHECK(err(a.send(const_bytes{frame(1, 1, payload)}.first(11))) == errc::vhost_header_truncated);
  std::vector<std::byte> lying = frame(1, 1, payload);
  lying.push_back(std::byte{0});
  CHECK(err(a.send(lying)) == errc::vhost_frame_length);
  CHECK(err(a.send(frame(1, 1, payload), std::array{-1})) == errc::invalid_argument);
  lh::unique_fd file{make_memfd("f")};
  CHECK(err(a.send(frame(1, 1, payload), std::vector<int>(33, file.get()))) ==
        errc::host_too_many_fds);
  // A descriptor that is not open: the kernel refuses the whole sendmsg (EBADF).
  int closed_fd = ::dup(file.get());
  ::close(closed_fd);
  CHECK(err(a.send(frame(1, 1, payload), std::array{closed_fd})) == errc::host_closed);
  CHECK_FALSE(a.failure().has_value());
  REQUIRE(a.send(frame(7, 1, payload)).has_value());
  auto m = b.try_receive();
  REQUIRE(m.has_value());
  check_message(*m, 7, 1, payload);  // nothing of the refused sends reached the peer
  auto none = b.try_receive();
  REQUIRE(none.has_value());
  CHECK(none->empty());
}

TEST_CASE("channel: close() releases the socket and a partial message's descriptors") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto [ch, peer] = connected();
    lh::unique_fd file{make_memfd("partial")};
    REQUIRE(raw_send(peer.get(), const_bytes{frame(5, 1, pattern(8))}.first(6),
                     std::array{file.get()}) == 6);
    auto r = ch.try_receive();
    REQUIRE(r.has_value());
    CHECK(ch.mid_message());
    ch.close();
    CHECK(ch.fd() == -1);
    CHECK_FALSE(ch.mid_message());
    CHECK(err(ch.receive()) == errc::host_closed);
    CHECK(err(ch.send(frame(1, 1, {}))) == errc::host_closed);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("channel: §6.5 a new connection after a disconnect is a new, working session") {
  const std::ptrdiff_t before = open_descriptors();
  {
    temp_dir dir;
    const std::string path = dir.file("vhost-user.sock");
    auto listener = lh::listen_unix(path);
    REQUIRE(listener.has_value());
    for (int session = 0; session < 2; ++session) {
      CAPTURE(session);
      auto client_fd = lh::connect_unix(path);
      REQUIRE(client_fd.has_value());
      auto server_fd = lh::accept_unix(*listener);
      REQUIRE(server_fd.has_value());
      lh::channel front_end{std::move(*client_fd)};
      lh::channel back_end{std::move(*server_fd)};
      REQUIRE(front_end.send(frame(get_features, 1, {})).has_value());
      auto req = back_end.receive();
      REQUIRE(req.has_value());
      CHECK(req->header().request.get() == get_features);
      REQUIRE(back_end.send(frame(get_features, vu::flag::reply_flags, pattern(8))).has_value());
      auto reply = front_end.receive();
      REQUIRE(reply.has_value());
      check_message(*reply, get_features, vu::flag::reply_flags, pattern(8));
      front_end.close();  // the front-end goes away ...
      CHECK(err(back_end.receive()) == errc::host_disconnected);  // ... and the session ends
    }
  }
  CHECK(open_descriptors() == before);
}

// ---- fake Sys: EINTR, EAGAIN, short transfers, truncated control data ------------------------------

namespace {

using fake_channel = lh::basic_channel<fake_sys>;
constexpr int sock_fd = 50;

fake_channel make_fake_channel(fake_kernel& k) {
  return fake_channel{lh::basic_unique_fd<fake_sys>{sock_fd, fake_sys{&k}}};
}

std::vector<std::byte> slice(const std::vector<std::byte>& v, std::size_t off, std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(off),
          v.begin() + static_cast<std::ptrdiff_t>(off + n)};
}

}  // namespace

TEST_CASE("channel (fake): asks for exactly the header, then exactly the payload; EINTR retried") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  const std::vector<std::byte> msg = frame(5, 1, pattern(40));
  k.expect(recv_fail(sock_fd, EINTR));
  k.expect(recv_step(sock_fd, slice(msg, 0, 5), {101}));
  k.expect(recv_step(sock_fd, slice(msg, 5, 4)));
  k.expect(recv_fail(sock_fd, EINTR));
  k.expect(recv_step(sock_fd, slice(msg, 9, 3)));
  k.expect(recv_step(sock_fd, slice(msg, 12, 25), {102, 103}));
  k.expect(recv_step(sock_fd, slice(msg, 37, 15)));
  {
    auto m = ch.receive();
    REQUIRE(m.has_value());
    check_message(*m, 5, 1, pattern(40));
    REQUIRE(m->fds().size() == 3);
    CHECK(m->fds().view()[0] == 101);
    CHECK(m->fds().view()[2] == 103);
    CHECK(k.script_done());
    const auto recvs = k.of(call_kind::recvmsg);
    const std::vector<std::size_t> asked = {12, 12, 7, 3, 3, 40, 15};
    REQUIRE(recvs.size() == asked.size());
    for (std::size_t i = 0; i < asked.size(); ++i) {
      CAPTURE(i);
      CHECK(recvs[i].capacity == asked[i]);  // never beyond this message (rule B1)
      CHECK(recvs[i].flags == MSG_CMSG_CLOEXEC);
      CHECK(recvs[i].control_len >= CMSG_SPACE(lh::max_received_fds * sizeof(int)));
    }
    CHECK(k.closed(101) == 0);
  }
  CHECK(k.closed(101) == 1);  // the message died with its descriptors
  CHECK(k.closed(102) == 1);
  CHECK(k.closed(103) == 1);
}

TEST_CASE("channel (fake): EAGAIN: try_receive returns empty, receive polls for POLLIN") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  const std::vector<std::byte> msg = frame(9, 1, pattern(8));
  k.expect(recv_step(sock_fd, slice(msg, 0, 12)));
  k.expect(recv_fail(sock_fd, EAGAIN));
  auto r = ch.try_receive();
  REQUIRE(r.has_value());
  CHECK(r->empty());
  CHECK(ch.mid_message());
  for (const call& c : k.of(call_kind::recvmsg)) CHECK(c.flags == (MSG_CMSG_CLOEXEC | MSG_DONTWAIT));

  k.calls.clear();
  k.expect(recv_fail(sock_fd, EAGAIN));  // e.g. an accepted non-blocking socket
  k.expect(sock_ret(call_kind::poll, -EINTR));
  k.expect(poll_ready({sock_fd}));
  k.expect(recv_step(sock_fd, slice(msg, 12, 8)));
  auto m = ch.receive();
  REQUIRE(m.has_value());
  check_message(*m, 9, 1, pattern(8));
  CHECK(k.script_done());
  const auto polls = k.of(call_kind::poll);
  REQUIRE(polls.size() == 2);
  REQUIRE(polls[1].pollfds.size() == 1);
  CHECK(polls[1].pollfds[0].fd == sock_fd);
  CHECK(polls[1].pollfds[0].events == POLLIN);
  CHECK(polls[1].timeout == -1);
}

TEST_CASE("channel (fake): MSG_CTRUNC closes what did arrive, and stays fatal") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  const std::vector<std::byte> msg = frame(5, 1, pattern(8));
  k.expect(recv_step(sock_fd, slice(msg, 0, 12), {110, 111}, MSG_CTRUNC));
  CHECK(err(ch.receive()) == errc::host_control_truncated);
  CHECK(k.closed(110) == 1);
  CHECK(k.closed(111) == 1);
  CHECK(err(ch.receive()) == errc::host_control_truncated);
  CHECK(k.count(call_kind::recvmsg) == 1);  // the stream is never read again
  CHECK(k.closed(sock_fd) == 0);            // the owner decides when to close the connection
}

TEST_CASE("channel (fake): a fatal error closes the descriptors of earlier reads of the message") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  std::vector<int> first(20), second(20);
  for (int i = 0; i < 20; ++i) {
    first[static_cast<std::size_t>(i)] = 200 + i;
    second[static_cast<std::size_t>(i)] = 300 + i;
  }
  const std::vector<std::byte> msg = frame(5, 1, pattern(8));
  k.expect(recv_step(sock_fd, slice(msg, 0, 12), first));
  k.expect(recv_step(sock_fd, slice(msg, 12, 8), second));
  CHECK(err(ch.receive()) == errc::host_too_many_fds);
  for (int fd : first) CHECK(k.closed(fd) == 1);
  for (int fd : second) CHECK(k.closed(fd) == 1);  // the 12 that fit and the 8 that did not

  fake_kernel k2;
  auto ch2 = make_fake_channel(k2);
  k2.expect(recv_step(sock_fd, slice(msg, 0, 12), {400}));
  k2.expect(recv_step(sock_fd, {}));  // EOF inside the payload
  CHECK(err(ch2.receive()) == errc::host_truncated);
  CHECK(k2.closed(400) == 1);

  fake_kernel k3;
  auto ch3 = make_fake_channel(k3);
  k3.expect(recv_fail(sock_fd, ECONNRESET));
  CHECK(err(ch3.receive()) == errc::host_disconnected);
  fake_kernel k4;
  auto ch4 = make_fake_channel(k4);
  k4.expect(recv_fail(sock_fd, EIO));
  CHECK(err(ch4.receive()) == errc::host_io_error);
}

TEST_CASE("channel (fake): short sends continue; descriptors ride only on the first part") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  const std::vector<std::byte> msg = frame(5, 1, pattern(30));
  k.expect(send_step(sock_fd, -EINTR));  // nothing sent: the retry carries the fds again
  k.expect(send_step(sock_fd, 5));
  k.expect(send_step(sock_fd, -EAGAIN));
  k.expect(poll_ready({sock_fd}));
  k.expect(send_step(sock_fd, 10));
  k.expect(send_step(sock_fd, 27));
  REQUIRE(ch.send(msg, std::array{60, 61}).has_value());
  CHECK(k.script_done());
  const auto sends = k.of(call_kind::sendmsg);
  REQUIRE(sends.size() == 5);
  CHECK(sends[0].sent_fds == std::vector<int>{60, 61});
  CHECK(sends[1].sent_fds == std::vector<int>{60, 61});
  CHECK(sends[1].data == msg);
  CHECK(sends[2].sent_fds.empty());
  CHECK(sends[2].data == slice(msg, 5, 37));
  CHECK(sends[3].data == slice(msg, 5, 37));
  CHECK(sends[4].data == slice(msg, 15, 27));
  for (const call& c : sends) CHECK(c.flags == MSG_NOSIGNAL);
  REQUIRE(k.of(call_kind::poll).size() == 1);
  CHECK(k.of(call_kind::poll)[0].pollfds[0].events == POLLOUT);
  CHECK(k.closed(60) == 0);  // the caller's descriptors stay the caller's
}

TEST_CASE("channel (fake): send failures: before the first byte the channel survives, after not") {
  fake_kernel k;
  auto ch = make_fake_channel(k);
  const std::vector<std::byte> msg = frame(5, 1, pattern(8));
  k.expect(send_step(sock_fd, -ENOBUFS));
  CHECK(err(ch.send(msg)) == errc::host_io_error);
  CHECK_FALSE(ch.failure().has_value());
  k.expect(send_step(sock_fd, 4));
  k.expect(send_step(sock_fd, -ENOBUFS));  // the peer holds a third of a header now
  CHECK(err(ch.send(msg)) == errc::host_io_error);
  CHECK(ch.failure() == errc::host_io_error);
  CHECK(err(ch.send(msg)) == errc::host_io_error);
  CHECK(k.count(call_kind::sendmsg) == 3);

  fake_kernel k2;
  auto ch2 = make_fake_channel(k2);
  k2.expect(send_step(sock_fd, 0));  // would spin forever
  CHECK(err(ch2.send(msg)) == errc::host_io_error);
  fake_kernel k3;
  auto ch3 = make_fake_channel(k3);
  k3.expect(send_step(sock_fd, -ECONNRESET));
  CHECK(err(ch3.send(msg)) == errc::host_disconnected);
}
