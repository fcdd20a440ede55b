// libFuzzer entry point for ArchiveInspector: arbitrary bytes must yield an
// ArchiveInfo or an error, never a crash, leak or undefined behaviour.
// Build: cmake -DNOVADOCK_FUZZ=ON with CC=clang CXX=clang++; seeds in
// tests/fuzz/archive.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "glance-loader/archive_inspector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  novadock::loader::InspectOptions options;
  options.display_name = "fuzz.tar";
  options.extra_digests = {novadock::loader::HashAlgorithm::kMd5,
                           novadock::loader::HashAlgorithm::kSha512};
  // Small limits keep each run fast; the limit checks are fuzzed too.
  options.max_entries = 1000;
  options.max_uncompressed_bytes = 64 * novadock::loader::kMiB;
  options.bomb_min_uncompressed_bytes = novadock::loader::kMiB;
  absl::StatusOr<novadock::loader::ArchiveInfo> info =
      novadock::loader::InspectBuffer(
          absl::string_view(reinterpret_cast<const char*>(data), size),
          options);
  if (info.ok() && info->sha256_hex.size() != 64) __builtin_trap();
  return 0;
}
