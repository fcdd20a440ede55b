// ArchiveInspector: checks a `docker save` archive before it is loaded, in one
// streaming pass, and describes the image it holds.
//
// Input is plain tar or gzip-compressed tar, told apart by content (libarchive
// tar format + gzip filter only), never by the file name. Nothing is
// extracted. Memory is bounded: manifest.json, index.json and digest-named
// JSON blobs of at most 1 MiB each (8 MiB in all) are kept; every other byte
// is read in fixed 64 KiB chunks and dropped. The raw bytes are hashed as they
// stream (sha256 always, plus InspectOptions::extra_digests), so Glance's
// checksum and os_hash can be verified in the same pass.
//
// Both layouts of `docker save` are understood: legacy (docker <= 24:
// manifest.json, repositories, <id>/layer.tar, <hex>.json config) and OCI
// (docker >= 25 or other tools: index.json + blobs/sha256/<hex>, with or
// without manifest.json). manifest.json, when present, is what `docker load`
// reads and so is what is checked. One image per archive.
//
// Refusals (each message is "<display name>: <reason>"):
//  - libarchive errors: not a tar, truncated tar, corrupt gzip;
//  - entry paths that are absolute, contain "..", or are over 4096 bytes,
//    or over 64 MiB for all paths and link targets together;
//  - symlinks whose target is absolute or escapes the archive root when
//    resolved from the link's directory (following symlinks seen so far);
//  - hardlinks whose target is absolute, has "..", or is not a regular file
//    earlier in the archive;
//  - device, fifo and socket entries; duplicate non-directory entries;
//  - more than max_entries entries; more than max_uncompressed_bytes of tar;
//  - the gzip-bomb rule: after reading D uncompressed bytes from C raw bytes,
//    refuse when D > bomb_min_uncompressed_bytes and D > bomb_ratio * C;
//  - neither manifest.json nor index.json; either not the documented JSON
//    shape (manifest.json: array of one {Config, RepoTags, Layers}); a layer
//    or config named but not in the archive (after following links); a config
//    not named by its digest, over 1 MiB, whose sha256 differs from its name,
//    or whose rootfs.diff_ids count differs from the layer count; a
//    digest-named layer of at most 1 MiB whose sha256 differs from its name
//    (larger layers are not hashed; `docker load` checks them).
//
// Error codes: InspectOptions::bad_archive_code (default FAILED_PRECONDITION,
// a bad archive on disk an operator must fix; set INVALID_ARGUMENT when the
// bytes come from a caller's upload) for every refusal above; NOT_FOUND: no
// such file; PERMISSION_DENIED: unreadable; INTERNAL: other IO or OpenSSL
// failure. A ByteSource's own errors pass through with their codes.
//
// Free functions; thread-compatible (no shared state).
#ifndef NOVADOCK_GLANCE_LOADER_ARCHIVE_INSPECTOR_H_
#define NOVADOCK_GLANCE_LOADER_ARCHIVE_INSPECTOR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "glance-loader/hashing.h"

namespace novadock::loader {

inline constexpr int64_t kGiB = int64_t{1} << 30;
inline constexpr int64_t kMiB = int64_t{1} << 20;

enum class ArchiveFormat {
  kLegacy,  // manifest.json without index.json (docker save <= 24).
  kOci,     // index.json present (OCI image layout).
};
absl::string_view ArchiveFormatName(ArchiveFormat format);  // "legacy"/"oci"

struct InspectOptions {
  // Starts every error message and fills ArchiveInfo::display_name. Empty:
  // the path (InspectFile) or "archive" (InspectBuffer, InspectSource).
  std::string display_name;
  // Digests of the whole file computed besides sha256 (duplicates ignored).
  std::vector<HashAlgorithm> extra_digests;
  // Most tar entries accepted. Default 100000.
  int64_t max_entries = 100000;
  // Most uncompressed tar bytes (entry data) accepted. Default 64 GiB.
  int64_t max_uncompressed_bytes = 64 * kGiB;
  // Gzip-bomb rule (see the file comment). Defaults 100 and 1 GiB.
  int64_t bomb_ratio = 100;
  int64_t bomb_min_uncompressed_bytes = kGiB;
  // Code of every "bad archive" refusal. FAILED_PRECONDITION (default) for
  // archives on disk; INVALID_ARGUMENT for uploads.
  absl::StatusCode bad_archive_code = absl::StatusCode::kFailedPrecondition;
};

// What a valid archive holds.
struct ArchiveInfo {
  std::string display_name;
  ArchiveFormat format = ArchiveFormat::kLegacy;
  // "repo:tag" as written in manifest.json (or the index.json annotations
  // io.containerd.image.name / org.opencontainers.image.ref.name). May be
  // empty (an image saved by id).
  std::vector<std::string> repo_tags;
  std::string image_id;       // "sha256:<hex of the config blob>".
  std::string config_digest;  // "sha256:<hex>"; equals image_id once checked.
  std::string config_path;    // As named by the manifest.
  std::vector<std::string> layers;  // Paths as named by the manifest, in order.
  int64_t entry_count = 0;          // Tar entries, directories included.
  int64_t uncompressed_bytes = 0;   // Sum of entry data bytes.
  int64_t file_size_bytes = 0;      // Raw bytes read (compressed size).
  std::string sha256_hex;           // Of the raw bytes.
  // Hex digests of the raw bytes: sha256 and every extra_digests algorithm.
  std::map<HashAlgorithm, std::string> digests_hex;
};

// A stream of archive bytes. Not thread-safe: one inspection reads it.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Copies up to `size` bytes into `buf` and returns how many; 0 at the end.
  // Any error ends the inspection and is returned as is.
  [[nodiscard]] virtual absl::StatusOr<size_t> Read(char* buf, size_t size) = 0;
};

// Inspects the file at `path`. Blocks for one read of the whole file.
// OK: a valid archive. Codes: see the file comment.
[[nodiscard]] absl::StatusOr<ArchiveInfo> InspectFile(
    const std::string& path, const InspectOptions& options = {});
// Inspects `bytes` (not kept after the call).
[[nodiscard]] absl::StatusOr<ArchiveInfo> InspectBuffer(
    absl::string_view bytes, const InspectOptions& options = {});
// Inspects everything `source` yields, reading it to its end.
[[nodiscard]] absl::StatusOr<ArchiveInfo> InspectSource(
    ByteSource& source, const InspectOptions& options = {});

// OK if `info`'s digest for `algo` equals `expected_hex` (case-insensitive).
// `code` (FAILED_PRECONDITION by default; INVALID_ARGUMENT for uploads) with
// "<display name>: <algo> checksum mismatch: expected X, got Y" otherwise.
// INVALID_ARGUMENT: `algo` was not computed (not in extra_digests).
[[nodiscard]] absl::Status VerifyDigest(
    const ArchiveInfo& info, HashAlgorithm algo, absl::string_view expected_hex,
    absl::StatusCode code = absl::StatusCode::kFailedPrecondition);

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_ARCHIVE_INSPECTOR_H_
