// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/linux/unique_fd.hpp and vireo/linux/unix_socket.hpp: descriptor ownership,
// listen / accept / connect by path and socket pairs on real sockets (no root: a scratch
// directory under /tmp), stale socket files, and the retry and errno paths on the fake Sys.
#include "vireo/linux/unix_socket.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>

#include "linux/fake_sys.hpp"
#include "linux/socket_support.hpp"
#include "vireo/linux/unique_fd.hpp"

using namespace vireo_linux_test;
using namespace vireo_socket_test;
namespace lh = vireo::linux_host;
using fake_fd = lh::basic_unique_fd<fake_sys>;

static_assert(!std::is_copy_constructible_v<lh::unique_fd>);
static_assert(!std::is_copy_assignable_v<lh::unique_fd>);
static_assert(std::is_nothrow_move_constructible_v<lh::unique_fd>);
static_assert(std::is_nothrow_move_assignable_v<lh::unique_fd>);

// ---- unique_fd ------------------------------------------------------------------------------------

TEST_CASE("unique_fd: closes exactly once, through its Sys; release and moves give it up") {
  fake_kernel k;
  {
    fake_fd a{7, fake_sys{&k}};
    CHECK(a.valid());
    CHECK(a.get() == 7);
    fake_fd b{std::move(a)};
    CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK(b.get() == 7);
    fake_fd c{8, fake_sys{&k}};
    c = std::move(b);  // closes 8, takes 7
    CHECK(k.closed(8) == 1);
    CHECK(k.closed(7) == 0);
    fake_fd& alias = c;
    c = std::move(alias);  // self-move keeps it
    CHECK(c.get() == 7);
    fake_fd d{9, fake_sys{&k}};
    CHECK(d.release() == 9);
    CHECK_FALSE(d.valid());
    fake_fd e{-5, fake_sys{&k}};  // negative: none
    CHECK_FALSE(e.valid());
    fake_fd f{10, fake_sys{&k}};
    f.reset();
    f.reset();
    CHECK(k.closed(10) == 1);
  }
  CHECK(k.closed(7) == 1);
  CHECK(k.closed(9) == 0);  // released: the caller's to close
  CHECK(k.count(call_kind::close) == 3);
}

TEST_CASE("unique_fd: real descriptors are closed when the owner dies") {
  const std::ptrdiff_t before = open_descriptors();
  int raw = -1;
  {
    lh::unique_fd fd{::dup(STDERR_FILENO)};
    raw = fd.get();
    REQUIRE(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
  CHECK(open_descriptors() == before);
}

// ---- real sockets -------------------------------------------------------------------------------

TEST_CASE("unix_socket: make_socket_pair gives connected close-on-exec ends, non-blocking on ask") {
  const std::ptrdiff_t before = open_descriptors();
  {
    auto p = lh::make_socket_pair();
    REQUIRE(p.has_value());
    CHECK(has_cloexec(p->first.get()));
    CHECK(has_cloexec(p->second.get()));
    CHECK_FALSE(has_nonblock(p->first.get()));
    const char out = 'x';
    REQUIRE(::write(p->first.get(), &out, 1) == 1);
    char in = 0;
    REQUIRE(::read(p->second.get(), &in, 1) == 1);
    CHECK(in == 'x');

    auto q = lh::make_socket_pair(true);
    REQUIRE(q.has_value());
    CHECK(has_nonblock(q->first.get()));
    CHECK(has_nonblock(q->second.get()));
    CHECK(::read(q->second.get(), &in, 1) == -1);  // nothing sent: would block, not wait
    CHECK(errno == EAGAIN);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("unix_socket: listen, connect and accept by path; flags of every descriptor") {
  const std::ptrdiff_t before = open_descriptors();
  {
    temp_dir dir;
    const std::string path = dir.file("vhost.sock");
    auto listener = lh::listen_unix(path);
    REQUIRE(listener.has_value());
    CHECK(has_cloexec(listener->get()));
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));

    auto client = lh::connect_unix(path);
    REQUIRE(client.has_value());
    CHECK(has_cloexec(client->get()));
    CHECK_FALSE(has_nonblock(client->get()));  // connected non-blocking, then made blocking

    auto server = lh::accept_unix(*listener, lh::accept_options{.nonblocking = true});
    REQUIRE(server.has_value());
    REQUIRE(server->valid());
    CHECK(has_cloexec(server->get()));
    CHECK(has_nonblock(server->get()));

    const char out[3] = {'a', 'b', 'c'};
    REQUIRE(::write(client->get(), out, 3) == 3);
    char in[3] = {};
    REQUIRE(::read(server->get(), in, 3) == 3);
    CHECK(std::string(in, 3) == "abc");

    auto client2 = lh::connect_unix(path, lh::connect_options{.nonblocking = true});
    REQUIRE(client2.has_value());
    CHECK(has_nonblock(client2->get()));
    auto server2 = lh::accept_unix(*listener);
    REQUIRE(server2.has_value());
    CHECK_FALSE(has_nonblock(server2->get()));
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("unix_socket: a non-blocking listener with nothing pending accepts an empty owner") {
  temp_dir dir;
  auto listener = lh::listen_unix(dir.file("s"), lh::listen_options{.nonblocking = true});
  REQUIRE(listener.has_value());
  CHECK(has_nonblock(listener->get()));
  auto none = lh::accept_unix(*listener);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->valid());
  lh::unique_fd closed;
  CHECK(err(lh::accept_unix(closed)) == errc::host_closed);
}

TEST_CASE("unix_socket: connect without a listener is host_no_listener (no file, stale file)") {
  const std::ptrdiff_t before = open_descriptors();
  {
    temp_dir dir;
    const std::string path = dir.file("s");
    CHECK(err(lh::connect_unix(path)) == errc::host_no_listener);  // ENOENT
    CHECK(err(lh::connect_unix(path, lh::connect_options{.attempts = 2, .retry_delay_ms = 1})) ==
          errc::host_no_listener);
    {
      auto listener = lh::listen_unix(path);
      REQUIRE(listener.has_value());
    }  // the listener is gone, its socket file stays: ECONNREFUSED
    CHECK(std::filesystem::exists(path));
    CHECK(err(lh::connect_unix(path)) == errc::host_no_listener);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("unix_socket: an existing path is refused unless it is a stale socket and unlink_stale") {
  const std::ptrdiff_t before = open_descriptors();
  {
    temp_dir dir;
    const std::string path = dir.file("s");
    { REQUIRE(lh::listen_unix(path).has_value()); }  // leaves a stale socket file
    CHECK(err(lh::listen_unix(path)) == errc::host_address_in_use);  // bind: EADDRINUSE
    auto fresh = lh::listen_unix(path, lh::listen_options{.unlink_stale = true});
    REQUIRE(fresh.has_value());

    // A live listener keeps its path, and keeps working.
    CHECK(err(lh::listen_unix(path, lh::listen_options{.unlink_stale = true})) ==
          errc::host_address_in_use);
    CHECK(std::filesystem::exists(path));
    auto client = lh::connect_unix(path);
    REQUIRE(client.has_value());

    // A file that is not a socket is never deleted.
    const std::string plain = dir.file("plain");
    { std::ofstream{plain} << "keep me"; }
    CHECK(err(lh::listen_unix(plain, lh::listen_options{.unlink_stale = true})) ==
          errc::host_address_in_use);
    CHECK(std::filesystem::exists(plain));

    // Nothing at the path: unlink_stale has nothing to do.
    CHECK(lh::listen_unix(dir.file("new"), lh::listen_options{.unlink_stale = true}).has_value());
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("unix_socket: paths that do not fit sun_path, empty paths, zero attempts") {
  const std::string too_long(sizeof(sockaddr_un{}.sun_path), 'a');  // no room for the NUL
  CHECK(err(lh::listen_unix("/tmp/" + too_long)) == errc::host_name_too_long);
  CHECK(err(lh::connect_unix("/tmp/" + too_long)) == errc::host_name_too_long);
  CHECK(err(lh::listen_unix("")) == errc::invalid_argument);
  CHECK(err(lh::connect_unix(std::string_view{"/tmp/a\0b", 8})) == errc::invalid_argument);
  CHECK(err(lh::connect_unix("/tmp/x", lh::connect_options{.attempts = 0})) ==
        errc::invalid_argument);
  CHECK(err(lh::listen_unix("/nonexistent-vireo-dir/s")) == errc::host_no_device);  // ENOENT
}

// ---- fake Sys: the paths real sockets cannot reach on demand -----------------------------------

TEST_CASE("unix_socket: connect retries ENOENT / ECONNREFUSED / EAGAIN with a pause, bounded") {
  fake_kernel k;
  k.expect(sock_ret(call_kind::socket, 20));
  k.expect(sock_ret(call_kind::connect, -ENOENT, 20));
  k.expect(sock_ret(call_kind::poll, 0));
  k.expect(sock_ret(call_kind::socket, 21));
  k.expect(sock_ret(call_kind::connect, -EAGAIN, 21));
  k.expect(sock_ret(call_kind::poll, 0));
  k.expect(sock_ret(call_kind::socket, 22));
  k.expect(sock_ret(call_kind::connect, -ECONNREFUSED, 22));
  auto r = lh::connect_unix("/run/x.sock", lh::connect_options{.attempts = 3, .retry_delay_ms = 25},
                            fake_sys{&k});
  CHECK(err(r) == errc::host_no_listener);
  CHECK(k.script_done());
  for (const call& c : k.of(call_kind::socket)) {
    CHECK(c.domain == AF_UNIX);
    CHECK(c.type == (SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK));  // never hangs in connect
  }
  for (const call& c : k.of(call_kind::connect)) CHECK(c.path == "/run/x.sock");
  const auto sleeps = k.of(call_kind::poll);
  REQUIRE(sleeps.size() == 2);  // between tries, not after the last
  for (const call& c : sleeps) {
    CHECK(c.pollfds.empty());
    CHECK(c.timeout == 25);
  }
  CHECK(k.closed(20) == 1);
  CHECK(k.closed(21) == 1);
  CHECK(k.closed(22) == 1);
}

TEST_CASE("unix_socket: connect succeeds on a later try and is made blocking") {
  fake_kernel k;
  k.expect(sock_ret(call_kind::socket, 20));
  k.expect(sock_ret(call_kind::connect, -ECONNREFUSED, 20));
  k.expect(sock_ret(call_kind::poll, 0));
  k.expect(sock_ret(call_kind::socket, 21));
  k.expect(sock_ret(call_kind::connect, 0, 21));
  k.expect({call_kind::fcntl, std::nullopt, 21, O_RDWR | O_NONBLOCK, {}});  // F_GETFL
  k.expect(fcntl_ok(21));                                                   // F_SETFL
  {
    auto r = lh::connect_unix("/run/x.sock", lh::connect_options{.attempts = 5}, fake_sys{&k});
    REQUIRE(r.has_value());
    CHECK(r->get() == 21);
    CHECK(k.script_done());
    const auto f = k.of(call_kind::fcntl);
    REQUIRE(f.size() == 2);
    CHECK(f[0].cmd == F_GETFL);
    CHECK(f[1].cmd == F_SETFL);
    CHECK(f[1].cmd_arg == O_RDWR);  // O_NONBLOCK cleared, the rest kept
    CHECK(k.closed(21) == 0);
  }
  CHECK(k.closed(20) == 1);
  CHECK(k.closed(21) == 1);
}

TEST_CASE("unix_socket: connect does not retry what cannot pass, and maps the errno") {
  fake_kernel k;
  k.expect(sock_ret(call_kind::socket, 20));
  k.expect(sock_ret(call_kind::connect, -EACCES, 20));
  CHECK(err(lh::connect_unix("/run/x", lh::connect_options{.attempts = 4}, fake_sys{&k})) ==
        errc::host_permission_denied);
  CHECK(k.script_done());
  CHECK(k.count(call_kind::connect) == 1);

  k.calls.clear();
  k.expect(sock_ret(call_kind::socket, -EMFILE));
  CHECK(err(lh::connect_unix("/run/x", lh::connect_options{.attempts = 4}, fake_sys{&k})) ==
        errc::host_io_error);
  CHECK(k.count(call_kind::connect) == 0);

  k.calls.clear();
  k.expect(sock_ret(call_kind::socket, 20));
  k.expect(sock_ret(call_kind::connect, -EAGAIN, 20));
  CHECK(err(lh::connect_unix("/run/x", {}, fake_sys{&k})) == errc::host_busy);  // backlog full
  CHECK(k.script_done());
}

TEST_CASE("unix_socket: accept retries EINTR and ECONNABORTED, maps other errnos") {
  fake_kernel k;
  fake_fd listener{3, fake_sys{&k}};
  k.expect(sock_ret(call_kind::accept4, -EINTR, 3));
  k.expect(sock_ret(call_kind::accept4, -ECONNABORTED, 3));
  k.expect(sock_ret(call_kind::accept4, 30, 3));
  {
    auto c = lh::accept_unix(listener, lh::accept_options{.nonblocking = true});
    REQUIRE(c.has_value());
    CHECK(c->get() == 30);
  }
  CHECK(k.closed(30) == 1);
  for (const call& c : k.of(call_kind::accept4)) CHECK(c.flags == (SOCK_CLOEXEC | SOCK_NONBLOCK));
  k.expect(sock_ret(call_kind::accept4, -EMFILE, 3));
  CHECK(err(lh::accept_unix(listener)) == errc::host_io_error);
  CHECK(k.of(call_kind::accept4).back().flags == SOCK_CLOEXEC);
  CHECK(k.script_done());
}

TEST_CASE("unix_socket: listen failures close the socket; the stale probe never unlinks a live "
          "or foreign file") {
  fake_kernel k;
  k.expect(sock_ret(call_kind::socket, 40));
  k.expect(sock_ret(call_kind::bind, -EADDRINUSE, 40));
  CHECK(err(lh::listen_unix("/run/s", {}, fake_sys{&k})) == errc::host_address_in_use);
  CHECK(k.closed(40) == 1);

  k.expect(sock_ret(call_kind::socket, 41));
  k.expect(sock_ret(call_kind::bind, 0, 41));
  k.expect(sock_ret(call_kind::listen, -EACCES, 41));
  CHECK(err(lh::listen_unix("/run/s", lh::listen_options{.backlog = 3}, fake_sys{&k})) ==
        errc::host_permission_denied);
  CHECK(k.of(call_kind::listen).back().flags == 3);
  CHECK(k.closed(41) == 1);

  const auto as_socket = [](void* arg, const call&) {
    static_cast<struct stat*>(arg)->st_mode = S_IFSOCK | 0755;
  };
  // Live listener: the probe connects. Full backlog: live as well.
  k.expect({call_kind::lstat, std::nullopt, std::nullopt, 0, as_socket});
  k.expect(sock_ret(call_kind::socket, 42));
  k.expect(sock_ret(call_kind::connect, 0, 42));
  CHECK(err(lh::listen_unix("/run/s", lh::listen_options{.unlink_stale = true}, fake_sys{&k})) ==
        errc::host_address_in_use);
  k.expect({call_kind::lstat, std::nullopt, std::nullopt, 0, as_socket});
  k.expect(sock_ret(call_kind::socket, 43));
  k.expect(sock_ret(call_kind::connect, -EAGAIN, 43));
  CHECK(err(lh::listen_unix("/run/s", lh::listen_options{.unlink_stale = true}, fake_sys{&k})) ==
        errc::host_address_in_use);
  // Stale: ECONNREFUSED, then unlink, then the normal socket / bind / listen.
  k.expect({call_kind::lstat, std::nullopt, std::nullopt, 0, as_socket});
  k.expect(sock_ret(call_kind::socket, 44));
  k.expect(sock_ret(call_kind::connect, -ECONNREFUSED, 44));
  k.expect(sock_ret(call_kind::unlink, 0));
  k.expect(sock_ret(call_kind::socket, 45));
  k.expect(sock_ret(call_kind::bind, 0, 45));
  k.expect(sock_ret(call_kind::listen, 0, 45));
  {
    auto l = lh::listen_unix("/run/s", lh::listen_options{.unlink_stale = true}, fake_sys{&k});
    REQUIRE(l.has_value());
    CHECK(l->get() == 45);
  }
  CHECK(k.script_done());
  REQUIRE(k.count(call_kind::unlink) == 1);
  CHECK(k.of(call_kind::unlink)[0].path == "/run/s");
  CHECK(k.of(call_kind::bind).back().path == "/run/s");
  for (int fd : {42, 43, 44, 45}) CHECK(k.closed(fd) == 1);
}
