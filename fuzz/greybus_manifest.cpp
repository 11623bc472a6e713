// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the Greybus manifest parser (greybus digest §5). The input is a manifest. Both
// modes run; the kernel verdict and bundles are compared with an independent model written the
// way Linux is (a list of descriptors that parsing consumes: drivers/greybus/manifest.c), and:
// a strict accept is a kernel accept with the same result; every accepted result obeys the
// kernel rules; rebuilding an accepted manifest parses again to the same bundles (and strictly,
// unless a cport id is shared); a smaller view fails only with greybus_manifest_capacity.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <set>
#include <string_view>
#include <tuple>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/manifest_builder.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::errc;

template <typename R>
errc code(const R& r) {
  return r.has_value() ? errc{} : r.error();
}

struct desc {
  std::size_t size;
  std::uint8_t type;
  std::vector<std::uint8_t> body;  // after the 4-byte descriptor header
};
using bundle_list = std::vector<std::tuple<int, int, std::vector<std::pair<int, int>>>>;

/// Linux gb_manifest_parse, list style. Returns errc{} and fills `out`, or the first failure.
errc model(const std::uint8_t* p, std::size_t n, bundle_list& out) {
  out.clear();
  if (n < 4) return errc::greybus_manifest_too_short;
  if ((p[0] | (p[1] << 8)) != static_cast<int>(n)) return errc::greybus_manifest_size_mismatch;
  if (p[2] > 0) return errc::greybus_manifest_version;
  std::list<desc> descs;
  std::size_t off = 4;
  while (off < n) {
    const std::size_t left = n - off;
    if (left < 4) return errc::greybus_manifest_trailing_bytes;
    const std::size_t size = p[off] | (p[off + 1] << 8);
    if (size > left) return errc::greybus_manifest_descriptor_overrun;
    const std::uint8_t type = p[off + 2];
    std::size_t expected = 0;
    if (type == 1 || type == 3 || type == 4) expected = 8;
    else if (type == 2) expected = size >= 5 ? ((6 + p[off + 4] + 3) / 4) * 4 : 8;
    else return errc::greybus_manifest_descriptor_type;
    if (size < expected) return errc::greybus_manifest_descriptor_too_small;
    descs.push_back({size, type, std::vector<std::uint8_t>(p + off + 4, p + off + size)});
    off += size;
  }
  auto iface = descs.end();
  int interfaces = 0;
  for (auto it = descs.begin(); it != descs.end(); ++it)
    if (it->type == 1 && interfaces++ == 0) iface = it;
  if (interfaces != 1) return errc::greybus_manifest_interface_count;
  const std::uint8_t vsid = iface->body[0];
  const std::uint8_t psid = iface->body[1];
  descs.erase(iface);
  for (int i = 0; i < 2; ++i) {  // gb_string_get: a string found is released
    const std::uint8_t sid = i == 0 ? vsid : psid;
    if (sid == 0) continue;
    auto s = std::find_if(descs.begin(), descs.end(),
                          [&](const desc& d) { return d.type == 2 && d.body[1] == sid; });
    if (s == descs.end())
      return i == 1 && psid == vsid ? errc::greybus_manifest_string_reused
                                    : errc::greybus_manifest_string_missing;
    descs.erase(s);
  }
  std::set<int> bundles;  // gb_bundle_find: the bundles that exist now
  for (;;) {
    auto b = std::find_if(descs.begin(), descs.end(), [](const desc& d) { return d.type == 3; });
    if (b == descs.end()) break;
    const int id = b->body[0];
    const int cls = b->body[1];
    descs.erase(b);
    auto release_cports = [&] {
      descs.remove_if([&](const desc& d) { return d.type == 4 && d.body[2] == id; });
    };
    if (id == 0) {
      release_cports();
      continue;
    }
    if (cls == 0) return errc::greybus_manifest_control_class;
    if (id == 0xff) return errc::greybus_manifest_bundle_invalid_id;
    if (bundles.count(id) != 0) return errc::greybus_manifest_bundle_duplicate;
    std::vector<std::pair<int, int>> cports;
    bool bad = false;
    for (auto it = descs.begin(); it != descs.end();) {
      if (it->type != 4 || it->body[2] != id) {
        ++it;
        continue;
      }
      const int cid = it->body[0] | (it->body[1] << 8);
      const bool dup = std::any_of(cports.begin(), cports.end(), [&](auto& c) { return c.first == cid; });
      if (cid > 4095 || cid == 0 || dup) {
        bad = true;
        break;
      }
      cports.emplace_back(cid, it->body[3]);
      it = descs.erase(it);
    }
    if (bad) {
      release_cports();
      continue;
    }
    if (cports.empty()) continue;
    bundles.insert(id);
    out.emplace_back(id, cls, cports);
  }
  return out.empty() ? errc::greybus_manifest_no_bundles : errc{};
}

template <std::size_t B, std::size_t C>
bundle_list bundles_of(const gb::basic_manifest<B, C>& m) {
  bundle_list out;
  for (const auto& b : m.bundles()) {
    std::vector<std::pair<int, int>> cs;
    for (const auto& c : m.cports(b)) {
      FUZZ_CHECK(c.bundle == b.id);
      cs.emplace_back(c.id, c.protocol);
    }
    out.emplace_back(b.id, b.bundle_class, cs);
  }
  return out;
}

/// The kernel rules every accepted result obeys.
template <std::size_t B, std::size_t C>
void check_result(const gb::basic_manifest<B, C>& m, const std::byte* data, std::size_t size) {
  FUZZ_CHECK(!m.bundles().empty());
  std::set<int> ids;
  std::size_t total = 0;
  for (const auto& b : m.bundles()) {
    FUZZ_CHECK(b.id != 0 && b.id != 0xff && b.bundle_class != 0);
    FUZZ_CHECK(ids.insert(b.id).second);
    FUZZ_CHECK(b.first_cport == total && b.cport_count > 0);
    total += b.cport_count;
    std::set<int> cids;
    for (const auto& c : m.cports(b)) {
      FUZZ_CHECK(c.id >= 1 && c.id <= 4095);
      FUZZ_CHECK(cids.insert(c.id).second);
    }
  }
  FUZZ_CHECK(total == m.cports().size());
  for (std::string_view s : {m.vendor_string(), m.product_string()})
    if (!s.empty())
      FUZZ_CHECK(reinterpret_cast<const std::byte*>(s.data()) >= data &&
                 reinterpret_cast<const std::byte*>(s.data()) + s.size() <= data + size);
}

/// Room for any manifest: at most 8191 descriptors fit in 65535 bytes.
auto parse_big(vireo::const_bytes b, gb::manifest_mode mode) {
  return gb::parse_manifest<255, 8192>(b, mode);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A copy of exactly the input, so ASan sees any read past the manifest.
  std::vector<std::byte> buf(size);
  if (size != 0) std::memcpy(buf.data(), data, size);
  const vireo::const_bytes bytes{buf.data(), size};

  bundle_list want;
  const errc model_err = model(data, size, want);
  auto kernel = parse_big(bytes, gb::manifest_mode::kernel);
  FUZZ_CHECK(code(kernel) == model_err);
  auto strict = parse_big(bytes, gb::manifest_mode::strict);
  auto frame = gb::frame_manifest(bytes);
  if (!frame) {
    FUZZ_CHECK(code(kernel) == frame.error());
    FUZZ_CHECK(code(strict) == frame.error());
  }
  if (strict) {
    FUZZ_CHECK(kernel.has_value());
    FUZZ_CHECK(bundles_of(*strict) == bundles_of(*kernel));
    FUZZ_CHECK(strict->warnings() == kernel->warnings());
    for (gb::descriptor_view d : strict->frame()) FUZZ_CHECK(d.size() % 4 == 0);
  }
  if (!kernel) return 0;
  FUZZ_CHECK(bundles_of(*kernel) == want);
  check_result(*kernel, buf.data(), size);

  // A small view: the same result, or a capacity error exactly when the result does not fit.
  auto small = gb::parse_manifest<2, 4>(bytes);
  const bool fits = kernel->bundles().size() <= 2 && kernel->cports().size() <= 4;
  if (fits) FUZZ_CHECK(small.has_value() && bundles_of(*small) == want);
  else FUZZ_CHECK(code(small) == errc::greybus_manifest_capacity);

  // Rebuild the surviving parts: same bundles again; strictly valid unless a cport is shared.
  std::vector<std::byte> out(gb::max_manifest_size);
  auto n = gb::rebuild_manifest(*kernel, out);
  FUZZ_CHECK(n.has_value());
  const vireo::const_bytes rebuilt{out.data(), *n};
  auto again = parse_big(rebuilt, gb::manifest_mode::kernel);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(bundles_of(*again) == want);
  FUZZ_CHECK(again->vendor_string() == kernel->vendor_string());
  FUZZ_CHECK(again->product_string() == kernel->product_string());
  const bool shared = kernel->has(gb::manifest_warning::shared_cport);
  const bool strict_again = parse_big(rebuilt, gb::manifest_mode::strict).has_value();
  FUZZ_CHECK(strict_again == !shared);
  return 0;
}
