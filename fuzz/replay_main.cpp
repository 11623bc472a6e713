// SPDX-License-Identifier: Apache-2.0
// A main() for fuzz targets when libFuzzer is not used: feeds every file named on the command
// line (or found directly inside a named directory, in sorted order) to LLVMFuzzerTestOneInput.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// Reads a whole file into a buffer of exactly its size, so that ASan sees overreads.
bool read_file(const fs::path& path, std::vector<std::uint8_t>& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out.clear();
  std::uint8_t chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  out.shrink_to_fit();
  return ok;
}

bool run_one(const fs::path& path) {
  std::vector<std::uint8_t> bytes;
  if (!read_file(path, bytes)) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  static const std::uint8_t empty = 0;  // libFuzzer never passes a null pointer
  LLVMFuzzerTestOneInput(bytes.empty() ? &empty : bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);

  std::size_t inputs = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // libFuzzer-style flags are accepted and ignored
    const fs::path arg{argv[i]};
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (fs::directory_iterator it{arg, ec}, end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec)) files.push_back(it->path());
      }
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
        ok = false;
        continue;
      }
      std::sort(files.begin(), files.end());
      for (const fs::path& file : files) {
        if (run_one(file)) ++inputs; else ok = false;
      }
    } else if (fs::is_regular_file(arg, ec)) {
      if (run_one(arg)) ++inputs; else ok = false;
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      ok = false;
    }
  }

  std::printf("replay: ran %zu inputs\n", inputs);
  if (inputs == 0) {
    std::fprintf(stderr, "replay: no input found\n");
    return 1;
  }
  return ok ? 0 : 1;
}
