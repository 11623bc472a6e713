// SPDX-License-Identifier: Apache-2.0
// Helpers shared by every test file.
#pragma once

#include "vireo/core/result.hpp"

namespace vireo_test {

/// The error held by `r`, or errc{} (0, no enumerator) when it holds a value: a wrong expectation
/// then fails the CHECK instead of tripping VIREO_ASSERT inside error().
template <typename R>
[[nodiscard]] vireo::errc err(const R& r) {
  return r.has_value() ? vireo::errc{} : r.error();
}

}  // namespace vireo_test
