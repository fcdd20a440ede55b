// ImageResolver: turns Nova's image reference into a Docker image that exists
// in this node's dockerd. ImageStore (image_store.h) implements it with the
// glance-loader: Docker first, then the node's image directory, then Glance.
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
  std::string auth_token;  // Keystone token for a Glance download; not logged.
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
  // Docker no longer has the image Resolve returned for `image` (a create
  // from it was NOT_FOUND): drops what Resolve remembered of it. True if
  // there was something, i.e. a second Resolve may answer differently.
  virtual bool Forget(const ImageSpec& /*image*/) { return false; }
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_IMAGE_RESOLVER_H_
