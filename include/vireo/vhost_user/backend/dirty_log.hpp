// SPDX-License-Identifier: Apache-2.0
// Dirty-page logging for live migration (VHOST_F_LOG_ALL, LOG_SHMFD + SET_LOG_BASE; spec
// "Migration", digest §6.3, rule B22): the log bitmap the front-end shares, and a guest-memory
// decorator that marks every page the device writes while logging is on. Used-ring writes are
// logged by logged_queue.hpp. No heap, no OS.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "vireo/core/bytes.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// The dirty log: one bit per 4 KiB page of guest-physical address space from address 0
/// (page = gpa / 4096, byte page / 8, bit page % 8), set with an atomic OR because the front-end
/// reads and clears it concurrently (spec "Migration"). The session attaches the mapping of
/// SET_LOG_BASE and switches logging with LOG_ALL (SET_FEATURES bit 26); devices mark through
/// logged_memory / logged_queue. Marks are bounded by the mapped size: a page beyond it is an
/// error (vhost_log_range) and nothing is marked, so that a write the log cannot record is
/// refused rather than silently lost to the migration.
class dirty_log {
 public:
  static constexpr std::uint64_t page_size = 4096;  ///< VHOST_LOG_PAGE

  /// Logging is on: LOG_ALL negotiated and a log mapped.
  [[nodiscard]] bool active() const noexcept { return logging_ && base_ != nullptr; }
  [[nodiscard]] bool logging() const noexcept { return logging_; }
  [[nodiscard]] bool mapped() const noexcept { return base_ != nullptr; }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  /// Use the `size` bytes at `base` as the bitmap (SET_LOG_BASE); nullptr detaches.
  void attach(std::byte* base, std::uint64_t size) noexcept {
    base_ = base;
    size_ = base != nullptr ? size : 0;
  }
  void detach() noexcept { attach(nullptr, 0); }
  /// LOG_ALL on or off (SET_FEATURES). The mapping stays attached either way.
  void set_logging(bool on) noexcept { logging_ = on; }

  /// Whether the log has a bit for every page of [addr, addr + len). An empty range fits.
  [[nodiscard]] bool covers(std::uint64_t addr, std::uint64_t len) const noexcept {
    if (len == 0) return true;
    if (len - 1 > UINT64_MAX - addr) return false;
    return (addr + (len - 1)) / page_size / 8 < size_;
  }

  /// Mark every page of [addr, addr + len) when logging is on (a no-op otherwise). Each bit is set
  /// with a release OR, so the data written before the call is visible before its bit.
  /// Errors: vhost_log_range (a page beyond the log, or a wrapping range: nothing is marked).
  [[nodiscard]] result<void> mark(std::uint64_t addr, std::uint64_t len) noexcept {
    if (!active() || len == 0) return ok();
    if (!covers(addr, len)) return errc::vhost_log_range;
    const std::uint64_t first = addr / page_size, last = (addr + (len - 1)) / page_size;
    for (std::uint64_t page = first; page <= last; ++page) {
      auto& byte = *reinterpret_cast<std::uint8_t*>(base_ + page / 8);
      std::atomic_ref<std::uint8_t>(byte).fetch_or(static_cast<std::uint8_t>(1u << (page % 8)),
                                                   std::memory_order_release);
    }
    return ok();
  }

  /// Whether the page holding `addr` is marked (for tests and diagnostics; false past the log).
  [[nodiscard]] bool dirty(std::uint64_t addr) const noexcept {
    const std::uint64_t page = addr / page_size;
    if (base_ == nullptr || page / 8 >= size_) return false;
    auto& byte = *reinterpret_cast<std::uint8_t*>(base_ + page / 8);
    return (std::atomic_ref<std::uint8_t>(byte).load(std::memory_order_acquire) &
            (1u << (page % 8))) != 0;
  }

 private:
  std::byte* base_ = nullptr;
  std::uint64_t size_ = 0;
  bool logging_ = false;
};

/// A guest_memory that forwards to `Memory` and, while the log is active, marks the pages of
/// every write: write() and store_u16() after the bytes are stored; map() with write access when
/// the view is handed out, since the caller then writes through the host pointer where no call
/// can see it (a chain's writable segments are mapped when the chain is popped). A view that
/// stays writable for long (a held request) should be marked again when it is completed:
/// logged_queue::push_used(chain, len) does that. A write or writable map whose pages the log
/// does not cover fails with vhost_log_range before anything is written (rule B22).
template <guest_memory Memory>
class logged_memory {
 public:
  logged_memory(Memory& mem, dirty_log& log) noexcept : mem_(&mem), log_(&log) {}

  [[nodiscard]] Memory& inner() const noexcept { return *mem_; }
  [[nodiscard]] dirty_log& log() const noexcept { return *log_; }

  [[nodiscard]] result<void> read(gpa a, bytes out) noexcept { return mem_->read(a, out); }

  [[nodiscard]] result<void> write(gpa a, const_bytes in) noexcept {
    VIREO_TRY(check(a, in.size()));
    VIREO_TRY(mem_->write(a, in));
    return log_->mark(a.raw(), in.size());
  }

  [[nodiscard]] result<bytes> map(gpa a, std::size_t n, access acc) noexcept {
    auto view = mem_->map(a, n, acc);
    if (!view || !writes(acc)) return view;
    if (auto m = log_->mark(a.raw(), n); !m) return m.error();
    return view;
  }

  [[nodiscard]] result<std::uint16_t> load_u16(gpa a, std::memory_order order) noexcept {
    return mem_->load_u16(a, order);
  }

  [[nodiscard]] result<void> store_u16(gpa a, std::uint16_t v, std::memory_order order) noexcept {
    VIREO_TRY(check(a, 2));
    VIREO_TRY(mem_->store_u16(a, v, order));
    return log_->mark(a.raw(), 2);
  }

 private:
  [[nodiscard]] static constexpr bool writes(access acc) noexcept {
    return (static_cast<unsigned>(acc) & static_cast<unsigned>(access::write)) != 0;
  }
  [[nodiscard]] result<void> check(gpa a, std::size_t n) const noexcept {
    if (log_->active() && !log_->covers(a.raw(), n)) return errc::vhost_log_range;
    return ok();
  }

  Memory* mem_;
  dirty_log* log_;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
