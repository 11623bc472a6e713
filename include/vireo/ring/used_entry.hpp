// SPDX-License-Identifier: Apache-2.0
// One completion handed to a device queue's batched push_used (split or packed).
#pragma once

#include <cstdint>

#include "vireo/chain/segment.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// One completion for push_used(span): the chain's token and the bytes written into it.
struct used_entry {
  chain::used_token token;
  std::uint32_t len = 0;
};

}  // namespace ring
VIREO_NAMESPACE_END
