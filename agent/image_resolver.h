// ImageResolver: turns Nova's image reference into a Docker image that exists
// in this node's dockerd. DockerImageResolver looks only in Docker; the
// glance-loader adds archives from the node's image directory behind the
// same interface.
#ifndef NOVADOCK_AGENT_IMAGE_RESOLVER_H_
#define NOVADOCK_AGENT_IMAGE_RESOLVER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "agent/docker_api.h"

namespace novadock::agent {

// Nova's image reference (see ImageRef in types.proto).
struct ImageSpec {
  std::string glance_id;  // Glance uuid; may be empty.
  std::string name;       // Docker reference or Glance name; may be empty.
  std::string checksum;
  std::string os_hash_algo;
  std::string os_hash_value;
  std::map<std::string, std::string> properties;
  // What the io.novadock.image label records: the Glance id, else the name.
  const std::string& LabelValue() const {
    return glance_id.empty() ? name : glance_id;
  }
};

class ImageResolver {
 public:
  virtual ~ImageResolver() = default;
  // Returns the Docker image id to create the container from.
  // NOT_FOUND: no image for `image` on this node (message names it).
  // UNAVAILABLE: dockerd unreachable. May block for a Docker call per step.
  [[nodiscard]] virtual absl::StatusOr<std::string> Resolve(
      const ImageSpec& image) = 0;
};

// Resolves in order: an image tagged novadock/glance:<glance_id>, then
// `name` when it is a valid Docker reference. Thread-safe; `docker` must
// outlive it.
class DockerImageResolver final : public ImageResolver {
 public:
  DockerImageResolver(DockerApi& docker, std::string node_name,
                      std::string image_dir);
  absl::StatusOr<std::string> Resolve(const ImageSpec& image) override;

 private:
  DockerApi& docker_;
  const std::string node_name_;
  const std::string image_dir_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_IMAGE_RESOLVER_H_
