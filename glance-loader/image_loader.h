// ImageLoader: finds the Docker image for Nova's image reference and, when it
// is not in Docker yet, loads it from the node's image directory (or from
// Glance, once) — verified before a byte reaches Docker.
//
// Resolution order (DESIGN.md "Images"; docs/glance-loader.md):
//   1. a Docker image tagged novadock/glance:<glance id>;
//   2. the archive <dir>/<glance id>.tar (.tar.gz, .tgz);
//   3. a Docker image named `name` (a Docker reference), tagged for the id;
//   4. the archive whose manifest tags `name`;
//   5. if a fetch function is given: one download from Glance into the
//      directory, then 2.
// Whatever is loaded for a Glance id is tagged novadock/glance:<id>, so the
// Glance name need not equal the Docker name.
//
// Loading streams the archive from one open file descriptor in fixed chunks
// (bounded memory) into POST /images/load, hashing as it streams; the
// archive's structure and digests were verified by the index (or by
// LoadFile's own inspection) first, and if the bytes streamed differ from
// what was verified the upload is aborted before its end, so Docker never
// completes a load of unverified bytes.
//
// Thread-safe. Concurrent resolves of the same image load it once; the
// others wait for the first's result. `docker`, `index` and `clock` must
// outlive it.
#ifndef NOVADOCK_GLANCE_LOADER_IMAGE_LOADER_H_
#define NOVADOCK_GLANCE_LOADER_IMAGE_LOADER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/docker_api.h"
#include "glance-loader/archive_inspector.h"
#include "glance-loader/image_index.h"
#include "proto/common/clock.h"

namespace novadock::loader {

// Repository of the tags that name images by Glance id.
inline constexpr char kGlanceImageRepo[] = "novadock/glance";

// Nova's image reference, with the caller's token for a Glance download.
struct ImageRequest {
  std::string glance_id;     // Glance uuid; may be empty.
  std::string name;          // Docker reference or Glance name; may be empty.
  std::string checksum;      // Glance md5 (hex); checked when given.
  std::string os_hash_algo;  // Glance os_hash_algo; checked with the value.
  std::string os_hash_value;
  std::string auth_token;  // Keystone token; never logged.
};

struct LoadedImage {
  std::string image_id;                // "sha256:...".
  std::vector<std::string> repo_tags;  // Tags Docker reported loading.
  std::string archive_path;            // Empty if nothing was loaded.
  int64_t bytes = 0;                   // Archive bytes streamed.
};

// "<glance uuid>.tar" (or .tar.gz, .tgz) -> the uuid; any other name -> "".
std::string GlanceIdFromFileName(absl::string_view file_name);

// Bytes streamed so far and the archive's size.
using ProgressFn = std::function<void(int64_t done, int64_t total)>;
// Downloads Glance image `glance_id` into the image directory and returns the
// archive's path (see GlanceFetcher).
using FetchFn = std::function<absl::StatusOr<std::string>(
    const std::string& glance_id, const std::string& token)>;

struct LoaderOptions {
  std::string image_dir;  // The index's directory, named in messages.
  FetchFn fetch;          // Empty: step 5 (Glance download) is off.
};

class ImageLoader {
 public:
  ImageLoader(agent::DockerApi& docker, ImageIndex& index, Clock& clock,
              LoaderOptions options);
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  // Returns the Docker image id for `request`, loading it if needed.
  // NOT_FOUND: no step found it (the message names the image and the
  // directory). FAILED_PRECONDITION: the archive found is bad or its
  // checksum differs from Glance's (message names the file and reason).
  // UNAVAILABLE: dockerd (or Glance) unreachable. Blocks for a whole load.
  [[nodiscard]] absl::StatusOr<LoadedImage> Resolve(
      const ImageRequest& request);

  // Resolve remembers the image found for each Glance id (Glance image
  // data never changes under an id), so a warm spawn costs no Docker call
  // for its image; Forget drops the entry when Docker turns out not to have
  // that image any more (removed or pruned since). True if there was one.
  bool Forget(const std::string& glance_id);

  // Inspects the archive at `path` (bad_archive_code for refusals), checks
  // `request`'s checksums when given, streams it into Docker and tags it
  // for request.glance_id when given. The same result on a second call.
  [[nodiscard]] absl::StatusOr<LoadedImage> LoadFile(
      const std::string& path, const ImageRequest& request,
      const ProgressFn& progress = {},
      absl::StatusCode bad_archive_code =
          absl::StatusCode::kFailedPrecondition);

 private:
  struct Flight;
  absl::StatusOr<LoadedImage> ResolveUncached(const ImageRequest& request);
  // Checks Glance's checksums against `info` (digests computed already).
  absl::Status CheckGlanceDigests(const ArchiveInfo& info,
                                  const ImageRequest& request,
                                  absl::StatusCode code) const;
  // Streams `path`, expecting the bytes `info` describes, into Docker.
  absl::StatusOr<LoadedImage> Stream(const std::string& path,
                                     const ArchiveInfo& info,
                                     const ProgressFn& progress);
  absl::StatusOr<LoadedImage> LoadIndexed(const IndexedArchive& archive,
                                          const ImageRequest& request);
  absl::Status TagForGlance(const std::string& image_id,
                            const std::string& glance_id);

  agent::DockerApi& docker_;
  ImageIndex& index_;
  Clock& clock_;
  const LoaderOptions options_;

  absl::Mutex mu_;  // Guards flights_ and by_glance_id_.
  // Resolves in progress, by image key; waiters share the result.
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_
      ABSL_GUARDED_BY(mu_);
  // Glance id -> the image Resolve found for it (bounded; see Forget).
  absl::flat_hash_map<std::string, LoadedImage> by_glance_id_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_IMAGE_LOADER_H_
