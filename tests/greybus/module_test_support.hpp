// SPDX-License-Identifier: Apache-2.0
// Greybus messages laid out by hand for the module-side tests (independently of the library's
// encoders, so an encoder bug cannot hide in both), and the manifest those tests serve.
// Test code: heap is fine here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "greybus/manifest_vectors.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/greybus/header.hpp"

namespace greybus_module_test {

using bytes_vec = std::vector<std::byte>;

inline bytes_vec raw(std::initializer_list<unsigned> v) {
  bytes_vec out;
  for (unsigned b : v) out.push_back(std::byte(b));
  return out;
}

/// A whole message: the 8-byte header (size, id, type, result, zero pad) and `payload`.
inline bytes_vec frame(std::uint16_t id, std::uint8_t type, std::uint8_t result,
                       const bytes_vec& payload) {
  const std::size_t size = 8 + payload.size();
  bytes_vec out = raw({unsigned(size & 0xff), unsigned(size >> 8), unsigned(id & 0xff),
                       unsigned(id >> 8), type, result, 0, 0});
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline bytes_vec request(std::uint16_t id, std::uint8_t type, const bytes_vec& payload) {
  return frame(id, type, 0, payload);
}
inline bytes_vec request(std::uint16_t id, std::uint8_t type,
                         std::initializer_list<unsigned> payload = {}) {
  return request(id, type, raw(payload));
}
inline bytes_vec response(std::uint16_t id, std::uint8_t type, const bytes_vec& payload) {
  return frame(id, static_cast<std::uint8_t>(type | 0x80), 0, payload);
}
inline bytes_vec response(std::uint16_t id, std::uint8_t type,
                          std::initializer_list<unsigned> payload = {}) {
  return response(id, type, raw(payload));
}
/// A failed response: no payload, result `s`.
inline bytes_vec error_response(std::uint16_t id, std::uint8_t type, vireo::greybus::status s) {
  return frame(id, static_cast<std::uint8_t>(type | 0x80), static_cast<std::uint8_t>(s), {});
}

/// The manifesto vector vm-bridged-phy.mnfb: Control, a GPIO bundle on CPort 1, an I2C bundle
/// on CPort 2.
inline vireo::const_bytes bridged_phy_manifest() {
  return std::as_bytes(std::span{greybus_manifest_test::v_manifests_vm_bridged_phy_mnfb});
}

}  // namespace greybus_module_test
