// ConfigDriveStore: the config drives of one node's instances, as
// directories on the node that the agent bind-mounts read-only into each
// instance's container (DESIGN.md, "Config drive"). Nova's config drive is
// an ISO image; a container gets the same files (openstack/latest/...)
// as a directory instead.
//
// Layout: <root>/<uuid>/<relative path>. `root` is created mode 0700 so
// that no other user of the node can read another instance's drive (it may
// hold the admin password); each instance directory is 0755 and its files
// 0644 so that any user inside the container can read its own drive.
//
// Thread-safe for different uuids; the caller serializes calls for one uuid
// (InstanceRunner does).
#ifndef NOVADOCK_AGENT_CONFIG_DRIVE_H_
#define NOVADOCK_AGENT_CONFIG_DRIVE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace novadock::agent {

class ConfigDriveStore {
 public:
  explicit ConfigDriveStore(std::string root) : root_(std::move(root)) {}

  // Writes `files` (relative path -> bytes; paths already validated:
  // components of [A-Za-z0-9._-], no "." or "..") as <root>/<uuid>,
  // replacing whatever was there. The new directory appears whole or not at
  // all: it is written under a temporary name and renamed. Returns its path.
  // INTERNAL, naming the path and the reason, when the disk refuses.
  [[nodiscard]] absl::StatusOr<std::string> Write(
      const std::string& uuid, const std::map<std::string, std::string>& files);

  // Removes <root>/<uuid> and everything in it. Missing is OK.
  [[nodiscard]] absl::Status Remove(const std::string& uuid);

  std::string PathFor(const std::string& uuid) const;
  const std::string& root() const { return root_; }

 private:
  const std::string root_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_CONFIG_DRIVE_H_
