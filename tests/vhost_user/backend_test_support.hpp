// SPDX-License-Identifier: Apache-2.0
// Helpers for the back-end session tests: a fake region mapper over host buffers ("files" named
// by fake fd numbers), a fake device that records what the session told it, and a harness that
// decodes frames with the session's codec options, feeds them, and keeps an fd ledger: every fd
// handed in must end up either held by the session or reported closed exactly once.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include "vhost_user_test_support.hpp"
#include "vireo/vhost_user/backend/session.hpp"

namespace vireo_vu_test {

namespace be = vireo::vhost_user::backend;

/// Files behind fake fds; map() hands out pointers into them and counts live mappings. A file
/// may have several fds (alias: the front-end passes a memfd it keeps again) and may be memory
/// the test owns elsewhere (add_external: a mock driver's guest RAM).
class fake_mapper {
 public:
  void add_file(int fd, std::size_t size) {
    auto f = std::make_shared<std::vector<std::byte>>(size, std::byte{0});
    files_[fd] = {f, std::span<std::byte>(*f)};
  }
  void add_external(int fd, std::span<std::byte> bytes) { files_[fd] = {nullptr, bytes}; }
  void alias(int fd, int existing) { files_[fd] = files_.at(existing); }
  void fail_fd(int fd) { failing_.insert(fd); }

  vireo::result<std::byte*> map(int fd, std::uint64_t size, std::uint64_t offset) {
    auto it = files_.find(fd);
    if (it == files_.end() || failing_.count(fd) != 0) return errc::host_rejected;
    if (offset > it->second.view.size() || size > it->second.view.size() - offset)
      return errc::host_rejected;  // beyond the file, as mmap + access would fault
    std::byte* p = it->second.view.data() + offset;
    live_.push_back({p, size, offset});
    ++maps;
    return p;
  }
  void unmap(std::byte* host, std::uint64_t size, std::uint64_t offset) {
    const auto it = std::find_if(live_.begin(), live_.end(), [&](const mapping& m) {
      return m.host == host && m.size == size && m.offset == offset;
    });
    REQUIRE_MESSAGE(it != live_.end(), "unmap of something never mapped");
    live_.erase(it);
    ++unmaps;
  }
  [[nodiscard]] std::size_t live() const { return live_.size(); }
  [[nodiscard]] std::byte* file(int fd) { return files_.at(fd).view.data(); }
  [[nodiscard]] std::size_t file_size(int fd) { return files_.at(fd).view.size(); }

  int maps = 0, unmaps = 0;

 private:
  struct mapping {
    std::byte* host;
    std::uint64_t size, offset;
  };
  struct backing {
    std::shared_ptr<std::vector<std::byte>> owned;
    std::span<std::byte> view;
  };
  std::map<int, backing> files_;
  std::set<int> failing_;
  std::vector<mapping> live_;
};
static_assert(be::region_mapper<fake_mapper>);

/// An inflight allocator over the fake mapper's files: allocate() creates a file behind a fresh
/// fd (as memfd_create would) and hands out its bytes; release() drops the back-end's use only:
/// the file stays, as the front-end's fd keeps a memfd alive.
class fake_allocator {
 public:
  explicit fake_allocator(fake_mapper& files) : files_(&files) {}
  bool fail = false;

  vireo::result<be::inflight_buffer> allocate(std::uint64_t size) {
    if (fail) return errc::host_io_error;
    const int fd = next_fd_++;
    files_->add_file(fd, static_cast<std::size_t>(size));
    std::byte* p = files_->file(fd);
    std::memset(p, 0xA5, static_cast<std::size_t>(size));  // the session must zero-fill it
    live_.insert(fd);
    ++allocations;
    return be::inflight_buffer{fd, p, size};
  }
  void release(const be::inflight_buffer& b) {
    REQUIRE_MESSAGE(live_.erase(b.fd) == 1, "release of something never allocated");
    CHECK(b.host == files_->file(b.fd));
    CHECK(b.size == files_->file_size(b.fd));
    ++releases;
  }
  [[nodiscard]] std::size_t live() const { return live_.size(); }
  int allocations = 0, releases = 0;

 private:
  fake_mapper* files_;
  std::set<int> live_;
  int next_fd_ = 9000;
};
static_assert(be::inflight_allocator<fake_allocator>);

/// A device model that records the session's calls.
struct fake_device {
  std::uint64_t features = 0;
  std::uint32_t queues = 1;
  std::uint32_t max_size = 1024;
  std::vector<std::uint8_t> config;           ///< empty: no config space
  std::vector<bool> read_only;                ///< per config byte
  std::map<std::uint32_t, vireo::ring::queue_config> running;
  std::map<std::uint32_t, vireo::ring::queue_state> started_at;
  std::map<std::uint32_t, vireo::ring::queue_state> position;  ///< what stop_vring returns
  std::map<std::uint32_t, bool> enabled;
  std::vector<std::uint32_t> starts, stops;
  int memory_changes = 0;
  bool refuse_start = false;
  bool logs = false;                          ///< logs_dirty_pages(): LOG_ALL, LOG_SHMFD offered
  std::map<std::uint32_t, be::inflight_area> areas;  ///< the inflight area of the last start

  [[nodiscard]] std::uint64_t device_features() const { return features; }
  [[nodiscard]] std::uint32_t num_queues() const { return queues; }
  [[nodiscard]] std::uint32_t max_queue_size() const { return max_size; }
  [[nodiscard]] std::uint32_t config_size() const {
    return static_cast<std::uint32_t>(config.size());
  }
  vireo::result<void> read_config(std::uint32_t off, vireo::bytes out) {
    std::memcpy(out.data(), config.data() + off, out.size());
    return vireo::ok();
  }
  vireo::result<void> write_config(std::uint32_t off, vireo::const_bytes in, bool migration) {
    for (std::size_t i = 0; i < in.size(); ++i)
      if (!migration && !read_only.empty() && read_only[off + i]) return errc::access_denied;
    std::memcpy(config.data() + off, in.data(), in.size());
    return vireo::ok();
  }
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config& c,
                                  vireo::ring::queue_state base) {
    if (refuse_start) return errc::queue_not_ready;
    REQUIRE(running.count(i) == 0);
    running[i] = c;
    started_at[i] = base;
    position[i] = base;
    starts.push_back(i);
    return vireo::ok();
  }
  vireo::result<void> start_vring(std::uint32_t i, const vireo::ring::queue_config& c,
                                  vireo::ring::queue_state base, be::inflight_area area) {
    areas[i] = area;
    return start_vring(i, c, base);
  }
  [[nodiscard]] bool logs_dirty_pages() const { return logs; }
  vireo::ring::queue_state stop_vring(std::uint32_t i) {
    REQUIRE(running.count(i) == 1);
    running.erase(i);
    stops.push_back(i);
    return position[i];
  }
  void enable_vring(std::uint32_t i, bool on) { enabled[i] = on; }
  void memory_changed() { ++memory_changes; }
};
static_assert(be::device_model<fake_device>);
static_assert(be::inflight_device<fake_device> && be::logging_device<fake_device>);

using session_t = be::session<fake_device, fake_mapper, 8, 32, fake_allocator>;
using outcome_t = session_t::outcome_type;

inline constexpr std::uint32_t need = req_need_reply;
inline constexpr std::uint32_t plain = req_flags;

/// One connection under test: a session, its fake device and mapper, and the fd ledger.
struct harness {
  fake_device dev;
  fake_mapper mapper;
  fake_allocator allocator{mapper};
  std::unique_ptr<session_t> s;
  std::set<int> open_fds;  ///< handed to the session and not reported closed
  int next_fd = 100;
  outcome_t last{};
  errc decode_error{};

  /// `with_allocator`: the session gets the fake inflight allocator (INFLIGHT_SHMFD offered).
  explicit harness(fake_device d, bool with_allocator = false) : dev(std::move(d)) {
    if (with_allocator) s = std::make_unique<session_t>(dev, mapper, allocator);
    else s = std::make_unique<session_t>(dev, mapper);
  }

  int new_fd() { return next_fd++; }
  /// A memory file of `size` bytes behind a fresh fd.
  int new_file(std::size_t size) {
    const int fd = new_fd();
    mapper.add_file(fd, size);
    return fd;
  }

  void apply(const outcome_t& o) {
    for (const be::action& a : o.actions()) {
      if (a.kind != be::action_kind::close_fd) continue;
      INFO("close_fd ", a.fd);
      REQUIRE_MESSAGE(open_fds.erase(a.fd) == 1, "closed an fd the session did not hold");
    }
  }

  /// Decode `f` with the session's options and hand it over with `fds`. On a decode error the
  /// caller (this harness) closes every fd, as the codec contract says.
  const outcome_t& send(const std::vector<std::byte>& f, std::vector<int> fds = {}) {
    last = outcome_t{};
    decode_error = errc{};
    const auto m = vu::decode(f, fds, vu::channel::main, s->codec());
    if (!m) {
      decode_error = m.error();
      return last;
    }
    for (std::size_t i = 0; i < m->fd_count; ++i) {
      REQUIRE(open_fds.insert(m->fds[i]).second);
    }
    last = s->handle(*m);
    apply(last);
    check_no_leak();
    return last;
  }

  const outcome_t& disconnect() {
    last = s->disconnect();
    apply(last);
    check_no_leak();
    CHECK(open_fds.empty());
    CHECK(mapper.live() == 0);
    CHECK(allocator.live() == 0);
    CHECK(s->backend_fd() == be::no_fd);
    CHECK_FALSE(s->log().mapped());
    return last;
  }

  /// Every fd not reported closed is held by the session; every mapping is the session's:
  /// regions, the log, a mapped (not allocated) inflight region.
  void check_no_leak() const {
    std::set<int> held;
    for (std::uint32_t i = 0; i < dev.queues; ++i) {
      const be::vring_state& v = s->vring(i);
      for (int fd : {v.kick_fd, v.call_fd, v.err_fd})
        if (fd != be::no_fd) CHECK(held.insert(fd).second);
    }
    if (s->backend_fd() != be::no_fd) CHECK(held.insert(s->backend_fd()).second);
    CHECK(held == open_fds);
    const auto& inf = s->inflight();
    const std::size_t inflight_mapped = inf.host != nullptr && !inf.allocated ? 1 : 0;
    CHECK(mapper.live() ==
          s->regions().size() + (s->log().mapped() ? 1 : 0) + inflight_mapped);
    CHECK(allocator.live() == (inf.host != nullptr && inf.allocated ? 1 : 0));
  }

  // ---- the reply -----------------------------------------------------------------------------
  [[nodiscard]] bool replied() const { return !last.reply().empty(); }
  [[nodiscard]] std::uint32_t reply_word(std::size_t at) const {
    std::uint32_t v = 0;
    REQUIRE(last.reply().size() >= at + 4);
    std::memcpy(&v, last.reply().data() + at, 4);
    return v;
  }
  /// The u64 payload of the reply; also checks the header (flags 0x5, request echoed, size 8).
  [[nodiscard]] std::uint64_t reply_u64(std::uint32_t req) const {
    REQUIRE(last.reply().size() == 20);
    CHECK(reply_word(0) == req);
    CHECK(reply_word(4) == rep_flags);
    CHECK(reply_word(8) == 8);
    std::uint64_t v = 0;
    std::memcpy(&v, last.reply().data() + 12, 8);
    return v;
  }
  [[nodiscard]] std::vector<be::action> actions() const {
    return {last.actions().begin(), last.actions().end()};
  }
  /// The actions other than close_fd.
  [[nodiscard]] std::vector<be::action> events() const {
    std::vector<be::action> v;
    for (const auto& a : last.actions())
      if (a.kind != be::action_kind::close_fd) v.push_back(a);
    return v;
  }
  [[nodiscard]] std::vector<int> closed() const {
    std::vector<int> v;
    for (const auto& a : last.actions())
      if (a.kind == be::action_kind::close_fd) v.push_back(a.fd);
    return v;
  }
};

// ---- frames ------------------------------------------------------------------------------------

template <typename E>
inline std::vector<std::byte> req(E r, std::uint32_t flags = plain, const builder& p = {}) {
  return frame(code(r), flags, p);
}
using fr = vu::frontend_request;

inline std::vector<std::byte> u64_req(fr r, std::uint64_t v, std::uint32_t flags = plain) {
  return req(r, flags, builder{}.u64(v));
}
inline std::vector<std::byte> state_req(fr r, std::uint32_t i, std::uint32_t n,
                                        std::uint32_t flags = plain) {
  return req(r, flags, builder{}.u32(i).u32(n));
}
inline std::vector<std::byte> addr_req(std::uint32_t i, std::uint64_t desc, std::uint64_t used,
                                       std::uint64_t avail, std::uint32_t fl = 0,
                                       std::uint32_t flags = plain) {
  return req(fr::set_vring_addr, flags,
             builder{}.u32(i).u32(fl).u64(desc).u64(used).u64(avail).u64(0));
}
struct region_spec {
  std::uint64_t gpa, size, uaddr, off;
};
inline std::vector<std::byte> mem_table(std::initializer_list<region_spec> rs,
                                        std::uint32_t flags = plain) {
  builder b;
  b.u32(static_cast<std::uint32_t>(rs.size())).u32(0);
  for (const auto& r : rs) b.region(r.gpa, r.size, r.uaddr, r.off);
  return req(fr::set_mem_table, flags, b);
}
inline std::vector<std::byte> mem_reg(fr r, region_spec x, std::uint32_t flags = plain) {
  return req(r, flags, builder{}.u64(0).region(x.gpa, x.size, x.uaddr, x.off));
}

inline be::action act(be::action_kind k, std::uint32_t i = 0, int fd = be::no_fd) {
  return {k, i, fd};
}

}  // namespace vireo_vu_test
