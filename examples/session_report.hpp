// SPDX-License-Identifier: Apache-2.0
// For the session examples: how they print errors and features, and how they count checks.
#pragma once

#include <vireo/core/features.hpp>
#include <vireo/core/result.hpp>

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

namespace example {

/// "message (errc N)".
inline std::string errc_text(vireo::errc e) {
  return fmt::format("{} (errc {})", vireo::error_message(e), static_cast<unsigned>(e));
}

/// The transport features in `f` that the examples negotiate, by name, then `device_bits`
/// (the device-type feature names the caller found set), space-separated.
inline std::string transport_feature_names(const vireo::feature_set& f,
                                           std::string_view device_bits) {
  using vireo::transport_feature;
  static constexpr std::pair<transport_feature, std::string_view> known[] = {
      {transport_feature::version_1, "VERSION_1"},
      {transport_feature::ring_packed, "RING_PACKED"},
      {transport_feature::event_idx, "EVENT_IDX"},
      {transport_feature::indirect_desc, "INDIRECT_DESC"}};
  std::string s;
  for (const auto& [bit, name] : known)
    if (f.has(bit)) s += fmt::format("{} ", name);
  s += device_bits;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

/// Counts the checks; a failed one is printed where it happens.
struct verdict {
  unsigned passed = 0, failed = 0;
  bool check(bool good, std::string_view what) {
    ++(good ? passed : failed);
    if (!good) fmt::print("  CHECK FAILED: {}\n", what);
    return good;
  }
};

/// Print why a set-up step failed; returns the exit code 1.
inline int fail(std::string_view what, vireo::errc e) {
  fmt::print("{}: {}\n", what, errc_text(e));
  return 1;
}

}  // namespace example
