#include "agent/image_resolver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/container_labels.h"
#include "agent/request_validation.h"

namespace novadock::agent {

DockerImageResolver::DockerImageResolver(DockerApi& docker,
                                         std::string node_name,
                                         std::string image_dir)
    : docker_(docker),
      node_name_(std::move(node_name)),
      image_dir_(std::move(image_dir)) {}

absl::StatusOr<std::string> DockerImageResolver::Resolve(
    const ImageSpec& image) {
  if (!image.glance_id.empty()) {
    auto tagged = docker_.InspectImage(
        absl::StrCat(kGlanceImageRepo, ":", image.glance_id));
    if (tagged.ok()) return tagged->id;
    if (!absl::IsNotFound(tagged.status())) return tagged.status();
  }
  if (IsDockerReference(image.name)) {
    auto named = docker_.InspectImage(image.name);
    if (named.ok()) return named->id;
    if (!absl::IsNotFound(named.status())) return named.status();
  }
  return absl::NotFoundError(absl::StrCat(
      "image ", image.name.empty() ? "(no name)" : image.name, " (glance id ",
      image.glance_id.empty() ? "none" : image.glance_id,
      ") is not in Docker on node ", node_name_,
      "; load it with novadock-glance-loader or put the docker-save archive "
      "in ",
      image_dir_));
}

}  // namespace novadock::agent
