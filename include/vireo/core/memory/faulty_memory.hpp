// SPDX-License-Identifier: Apache-2.0
// faulty_memory<M>: wraps a guest_memory model and makes chosen accesses fail (for tests).
#pragma once

#include <cstdint>

#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN

/// Forwards to `inner` unless a configured fault applies:
///  - fail_after(n): every access after the first n succeeds no more;
///  - fail_range(a, len): any access overlapping [a, a + len) fails;
///  - deny_map(): map() answers not_contiguous for valid ranges, forcing callers onto their copy path.
/// Every access (read, write, map, load, store) counts once in accesses().
template <guest_memory Inner>
class faulty_memory {
 public:
  explicit faulty_memory(Inner& inner) noexcept : inner_(&inner) {}

  void fail_after(std::uint64_t ok_accesses, errc e = errc::injected_fault) noexcept {
    budget_ = accesses_ + ok_accesses;
    budget_set_ = true;
    error_ = e;
  }
  void fail_range(gpa start, std::uint64_t len, errc e = errc::injected_fault) noexcept {
    range_start_ = start.raw();
    range_len_ = len;
    error_ = e;
  }
  void deny_map(bool on = true) noexcept { deny_map_ = on; }
  void clear_faults() noexcept {
    budget_set_ = false;
    range_len_ = 0;
    deny_map_ = false;
  }
  [[nodiscard]] std::uint64_t accesses() const noexcept { return accesses_; }
  [[nodiscard]] std::uint64_t faults() const noexcept { return faults_; }
  [[nodiscard]] Inner& inner() noexcept { return *inner_; }

  [[nodiscard]] result<bytes> map(gpa a, std::size_t len, access acc) noexcept {
    if (auto f = fault(a, len); !f) return f.error();
    auto view = inner_->map(a, len, acc);
    // Like a real multi-region memory: only a valid range can be "not contiguous"; an invalid
    // one still reports its own error (out_of_bounds, address_overflow, ...).
    if (view && deny_map_ && len > 0) return errc::not_contiguous;
    return view;
  }
  [[nodiscard]] result<void> read(gpa a, bytes out) noexcept {
    VIREO_TRY(fault(a, out.size()));
    return inner_->read(a, out);
  }
  [[nodiscard]] result<void> write(gpa a, const_bytes in) noexcept {
    VIREO_TRY(fault(a, in.size()));
    return inner_->write(a, in);
  }
  [[nodiscard]] result<std::uint16_t> load_u16(gpa a, std::memory_order o) noexcept {
    if (auto f = fault(a, 2); !f) return f.error();
    return inner_->load_u16(a, o);
  }
  [[nodiscard]] result<void> store_u16(gpa a, std::uint16_t v, std::memory_order o) noexcept {
    VIREO_TRY(fault(a, 2));
    return inner_->store_u16(a, v, o);
  }

 private:
  result<void> fault(gpa a, std::uint64_t len) noexcept {
    const std::uint64_t n = accesses_++;
    bool fail = budget_set_ && n >= budget_;
    if (range_len_ != 0 && len != 0) {
      // Overlap test written so neither end can wrap: [a, a+len) vs [s, s+rl).
      const std::uint64_t s = range_start_;
      const bool starts_before_end = a.raw() < s ? (s - a.raw() < len) : (a.raw() - s < range_len_);
      fail = fail || starts_before_end;
    }
    if (fail) {
      ++faults_;
      return error_;
    }
    return ok();
  }

  Inner* inner_;
  std::uint64_t accesses_ = 0;
  std::uint64_t faults_ = 0;
  std::uint64_t budget_ = 0;
  bool budget_set_ = false;
  std::uint64_t range_start_ = 0;
  std::uint64_t range_len_ = 0;
  bool deny_map_ = false;
  errc error_ = errc::injected_fault;
};

VIREO_NAMESPACE_END
