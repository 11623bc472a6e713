// SPDX-License-Identifier: Apache-2.0
// greybus-manifest: compile a Greybus manifest source (.mnfs, the projectara/manifesto format)
// to its binary form (.mnfb, byte-identical to manifesto's), and dump a .mnfb readably with the
// verdicts of both validation modes (Linux kernel rules and the spec's stricter rules).
//
//   greybus-manifest compile IN.mnfs OUT.mnfb
//   greybus-manifest dump IN.mnfb [--strict]
//   greybus-manifest --help
//
// Exit status: 0 on success (dump: the manifest is accepted in the chosen mode, kernel by
// default), 1 when the input is refused, 2 on a usage or file error.
#include <vireo/greybus/manifest.hpp>
#include <vireo/greybus/manifest_builder.hpp>
#include <vireo/greybus/mnfs.hpp>

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace gb = vireo::greybus;

constexpr std::string_view usage =
    "usage: greybus-manifest compile IN.mnfs OUT.mnfb\n"
    "       greybus-manifest dump IN.mnfb [--strict]\n"
    "       greybus-manifest --help\n"
    "\n"
    "compile  read a manifesto .mnfs source and write the .mnfb binary (byte-identical to\n"
    "         manifesto's output; string lengths in UTF-8 bytes; an interface string id of 0\n"
    "         means no string)\n"
    "dump     print a .mnfb: header, descriptors, interface strings, the bundles and cports\n"
    "         Linux would create, and the verdicts of the kernel and strict modes; the exit\n"
    "         status is the kernel verdict, or the strict one with --strict\n";

std::optional<std::vector<char>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int compile(const std::string& in_path, const std::string& out_path) {
  const auto text = read_file(in_path);
  if (!text) {
    fmt::print(stderr, "greybus-manifest: cannot read {}\n", in_path);
    return 2;
  }
  std::vector<std::byte> out(gb::max_manifest_size);
  gb::mnfs_diagnostic diag;
  auto size = gb::compile_mnfs({text->data(), text->size()}, out, &diag);
  if (!size) {
    if (diag.line != 0)
      fmt::print(stderr, "{}:{}: error: {}\n", in_path, diag.line, vireo::error_message(size.error()));
    else
      fmt::print(stderr, "{}: error: {}\n", in_path, vireo::error_message(size.error()));
    return 1;
  }
  std::ofstream os(out_path, std::ios::binary | std::ios::trunc);
  os.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(*size));
  if (!os) {
    fmt::print(stderr, "greybus-manifest: cannot write {}\n", out_path);
    return 2;
  }
  fmt::print("{}: {} bytes\n", out_path, *size);
  return 0;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') out += fmt::format("\\{}", c);
    else if (b < 0x20 || b == 0x7f) out += fmt::format("\\x{:02x}", b);
    else out += c;
  }
  return out + "\"";
}

void print_descriptors(const gb::manifest_frame& f) {
  fmt::print("header: size {} version {}.{}\n", f.size(), f.version_major(), f.version_minor());
  fmt::print("descriptors:\n");
  for (gb::descriptor_view d : f) {
    fmt::print("  @{:<5} size {:<3} {:<9}", d.offset(), d.size(), gb::descriptor_type_name(d.raw_type()));
    const std::size_t need = gb::minimum_descriptor_size(d.raw_type(), d.is(gb::descriptor_type::string) ? static_cast<std::uint8_t>(d.string_text().size()) : 0);
    if (d.is(gb::descriptor_type::interface)) {
      const auto i = d.interface();
      fmt::print(" vendor string {} product string {} features {:#04x}", i.vendor_string_id,
                 i.product_string_id, i.features);
    } else if (d.is(gb::descriptor_type::string)) {
      fmt::print(" id {} length {} {}", d.string_id(), d.string_text().size(), quoted(d.string_text()));
    } else if (d.is(gb::descriptor_type::bundle)) {
      const auto b = d.bundle();
      fmt::print(" id {} class {:#04x} ({})", b.id, b.bundle_class, gb::bundle_class_name(b.bundle_class));
    } else if (d.is(gb::descriptor_type::cport)) {
      const auto c = d.cport();
      fmt::print(" id {} bundle {} protocol {:#04x} ({})", c.id, c.bundle, c.protocol,
                 gb::cport_protocol_name(c.protocol));
    }
    if (d.size() > need) fmt::print("  [{} byte(s) more than needed]", d.size() - need);
    fmt::print("\n");
  }
}

template <typename M>
void print_result(const M& m) {
  fmt::print("interface: vendor {} product {}{}\n",
             m.vendor_string().empty() && m.interface().vendor_string_id == 0 ? std::string{"(none)"} : quoted(m.vendor_string()),
             m.product_string().empty() && m.interface().product_string_id == 0 ? std::string{"(none)"} : quoted(m.product_string()),
             (m.interface().features & gb::interface_feature_timesync) != 0 ? " timesync" : "");
  fmt::print("bundles (as Linux creates them):\n");
  for (const gb::manifest_bundle& b : m.bundles()) {
    fmt::print("  bundle {} class {:#04x} {}\n", b.id, b.bundle_class, gb::bundle_class_name(b.bundle_class));
    for (const gb::manifest_cport& c : m.cports(b))
      fmt::print("    cport {:<4} protocol {:#04x} {}\n", c.id, c.protocol, gb::cport_protocol_name(c.protocol));
  }
  constexpr std::pair<gb::manifest_warning, std::string_view> notes[] = {
      {gb::manifest_warning::oversized_descriptor, "a descriptor is longer than its type needs"},
      {gb::manifest_warning::control_bundle_ignored, "bundle 0 ignored (legacy control bundle) with its cports"},
      {gb::manifest_warning::bundle_dropped, "a bundle was dropped (bad or duplicate cport id, or no cport)"},
      {gb::manifest_warning::excess_descriptors, "excess descriptors (unused strings or cports)"},
      {gb::manifest_warning::shared_cport, "a cport id is shared by two bundles (the second connection fails)"},
  };
  for (const auto& [w, text] : notes)
    if (m.has(w)) fmt::print("warning: {}\n", text);
}

int dump(const std::string& path, bool strict) {
  const auto data = read_file(path);
  if (!data) {
    fmt::print(stderr, "greybus-manifest: cannot read {}\n", path);
    return 2;
  }
  const vireo::const_bytes bytes{reinterpret_cast<const std::byte*>(data->data()), data->size()};
  fmt::print("{}: {} bytes\n", path, bytes.size());
  auto frame = gb::frame_manifest(bytes);
  if (!frame) {
    fmt::print("framing: {}\n", vireo::error_message(frame.error()));
  } else {
    print_descriptors(*frame);
  }
  auto kernel = gb::parse_manifest<255, 4096>(bytes, gb::manifest_mode::kernel);
  auto spec = gb::parse_manifest<255, 4096>(bytes, gb::manifest_mode::strict);
  if (kernel) print_result(*kernel);
  fmt::print("verdict kernel: {}\n", kernel ? "accept" : vireo::error_message(kernel.error()));
  fmt::print("verdict strict: {}\n", spec ? "accept" : vireo::error_message(spec.error()));
  return (strict ? spec.has_value() : kernel.has_value()) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    fmt::print("{}", usage);
    return 0;
  }
  if (args.size() == 3 && args[0] == "compile") return compile(args[1], args[2]);
  if (args.size() == 2 && args[0] == "dump") return dump(args[1], false);
  if (args.size() == 3 && args[0] == "dump" && args[2] == "--strict") return dump(args[1], true);
  fmt::print(stderr, "{}", usage);
  return 2;
}
