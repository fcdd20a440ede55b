// Fuzz target for ArchiveInspector (glance-loader/archive_inspector.h):
// arbitrary bytes as a docker-save archive must yield an ArchiveInfo or an
// error, never a crash, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>

#include "glance-loader/archive_inspector.h"
#include "tests/fuzz/fuzz_target.h"

NOVADOCK_FUZZ_TARGET(Archive) {
  novadock::loader::InspectOptions options;
  options.display_name = "fuzz.tar";
  options.extra_digests = {novadock::loader::HashAlgorithm::kMd5,
                           novadock::loader::HashAlgorithm::kSha512};
  // Small limits keep each run fast; the limit checks are fuzzed too.
  options.max_entries = 1000;
  options.max_uncompressed_bytes = 64 * novadock::loader::kMiB;
  options.bomb_min_uncompressed_bytes = novadock::loader::kMiB;
  absl::StatusOr<novadock::loader::ArchiveInfo> info =
      novadock::loader::InspectBuffer(novadock::fuzz::AsText(data, size),
                                      options);
  if (info.ok()) {
    novadock::fuzz::FuzzCheck(info->sha256_hex.size() == 64,
                              "archive digest is not 64 hex digits");
  }
  return 0;
}
