// ImageStore: the agent's image operations over the node's image directory
// and its dockerd — list, load, upload (PutImage) and remove — built on the
// glance-loader library. Also the ImageResolver the InstanceRunner uses, so
// that CreateInstance loads a missing image from disk (or Glance) itself.
//
// Thread-safe. `docker`, `index`, `loader` and `clock` must outlive it.
#ifndef NOVADOCK_AGENT_IMAGE_STORE_H_
#define NOVADOCK_AGENT_IMAGE_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/docker_api.h"
#include "agent/image_resolver.h"
#include "glance-loader/image_index.h"
#include "glance-loader/image_loader.h"

namespace novadock::agent {

struct ImageStoreOptions {
  std::string image_dir;                      // Required.
  int64_t max_put_bytes = int64_t{64} << 30;  // Largest PutImage upload.
};

struct ArchiveView {
  loader::IndexedArchive archive;
  std::string glance_id;  // From "<glance id>.tar"; else empty.
  bool loaded = false;
};

struct DockerImageView {
  ImageDetails image;
  std::vector<std::string> glance_ids;
  std::vector<std::string> used_by;  // Instance uuids.
};

struct ImageListing {
  std::vector<ArchiveView> archives;
  std::vector<DockerImageView> images;
};

struct PutHeader {
  std::string glance_id;  // Or file_name.
  std::string file_name;
  std::string sha256;
  int64_t size_bytes = 0;
  bool load = true;
  bool replace = false;
};

struct PutResult {
  std::string file_name;
  std::optional<loader::LoadedImage> loaded;
};

// Returns the next data chunk of an upload, std::nullopt at its end.
using ChunkReader = std::function<absl::StatusOr<std::optional<std::string>>()>;

// Instance uuid -> image id of this node's instances.
using InstanceImages = std::function<
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>>()>;

class ImageStore final : public ImageResolver {
 public:
  ImageStore(DockerApi& docker, loader::ImageIndex& index,
             loader::ImageLoader& loader, ImageStoreOptions options);

  // For the InstanceRunner: loader::ImageLoader::Resolve.
  absl::StatusOr<std::string> Resolve(const ImageSpec& image) override;
  bool Forget(const ImageSpec& image) override;

  // Every archive (good and bad) and every Docker image. `instances` tells
  // which images are in use. UNAVAILABLE: dockerd unreachable.
  [[nodiscard]] absl::StatusOr<ImageListing> List(
      const InstanceImages& instances);

  // Loads `file_name` (a plain file name in the directory) or the image of
  // `glance_id` (exactly one is given). NOT_FOUND: no such archive.
  // FAILED_PRECONDITION: the archive is bad (named, with the reason).
  [[nodiscard]] absl::StatusOr<loader::LoadedImage> Load(
      const std::string& file_name, const std::string& glance_id,
      const std::string& auth_token);

  // Receives an upload: streams it to a temp file in the directory while
  // hashing, refuses (INVALID_ARGUMENT, nothing left behind) a size or
  // sha256 that differs from the header or an archive that does not pass
  // inspection, then renames it into place (ALREADY_EXISTS unless
  // header.replace) and loads it unless !header.load.
  [[nodiscard]] absl::StatusOr<PutResult> Put(const PutHeader& header,
                                              const ChunkReader& next);

  // Removes the Docker image of `glance_id` (tag novadock/glance:<id>) or
  // of `ref` (a Docker reference), and with `remove_archive` its archive
  // ("<id>.tar" or the archive file named `ref`). FAILED_PRECONDITION
  // while an instance uses the image. Missing pieces are skipped.
  [[nodiscard]] absl::StatusOr<std::pair<bool, bool>> Remove(
      const std::string& glance_id, const std::string& ref, bool remove_archive,
      const InstanceImages& instances);

 private:
  absl::Status CheckFileName(const std::string& field,
                             const std::string& name) const;

  DockerApi& docker_;
  loader::ImageIndex& index_;
  loader::ImageLoader& loader_;
  const ImageStoreOptions options_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_IMAGE_STORE_H_
