// Test-only: builds docker-save archives in memory with libarchive, so tests
// and the fuzz seed corpus need no checked-in binaries and no dockerd.
// Everything here is deterministic except gzip headers. Thread-compatible.
#ifndef NOVADOCK_GLANCE_LOADER_TESTDATA_BUILDER_H_
#define NOVADOCK_GLANCE_LOADER_TESTDATA_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace novadock::loader::testing {

enum class TarEntryType { kFile, kDir, kSymlink, kHardlink, kFifo, kDevice };

struct TarEntry {
  std::string path;
  TarEntryType type = TarEntryType::kFile;
  std::string content;      // kFile only.
  std::string link_target;  // kSymlink and kHardlink only.
};

// A pax tar of `entries` in order (gzip-compressed when `gzip`), without
// padding to a 10 KiB record. INTERNAL: libarchive failed.
[[nodiscard]] absl::StatusOr<std::string> BuildTar(
    const std::vector<TarEntry>& entries, bool gzip = false);

struct ImageSpec {
  std::vector<std::string> repo_tags = {"novadock-test:tiny"};
  int layer_count = 1;  // Each layer holds etc/hello-<i>.
};

// A built image: the archive's entries and what inspecting it must report.
struct TestImage {
  std::vector<TarEntry> entries;
  std::string config_hex;                // sha256 of the config blob.
  std::string config_path;               // As the manifest names it.
  std::vector<std::string> layer_paths;  // As the manifest names them.
};

// docker save 20.10 layout: <id>/{VERSION,json,layer.tar}, <hex>.json,
// manifest.json, repositories.
[[nodiscard]] absl::StatusOr<TestImage> LegacyImage(const ImageSpec& spec = {});
// OCI layout: oci-layout, blobs/sha256/*, index.json whose descriptor is
// annotated io.containerd.image.name=docker.io/library/<first tag>; plus a
// Docker manifest.json (docker >= 25) when `with_docker_manifest`.
[[nodiscard]] absl::StatusOr<TestImage> OciImage(
    const ImageSpec& spec = {}, bool with_docker_manifest = false);

// Index of the entry at `path` in `image.entries`, -1 if none.
int FindEntry(const TestImage& image, const std::string& path);

// One kind of archive the inspector must refuse.
struct BadArchiveCase {
  std::string name;    // "absolute_path", ...; also the corpus file name.
  std::string bytes;   // The archive.
  std::string reason;  // A substring the error message must contain.
};

// Every kind of bad archive, each a small legacy image with one defect.
[[nodiscard]] absl::StatusOr<std::vector<BadArchiveCase>> BadArchives();

// A gzip tar of one entry, big/layer.tar, of `zero_bytes` zeros.
[[nodiscard]] absl::StatusOr<std::string> BuildZeroBomb(int64_t zero_bytes);

}  // namespace novadock::loader::testing

#endif  // NOVADOCK_GLANCE_LOADER_TESTDATA_BUILDER_H_
