// Snapshotter: Nova's snapshot of an instance on this node. Commits the
// instance's container into a Docker image, saves that image as a docker-save
// archive into the image directory and, given a Glance image id, uploads the
// archive into that (queued) Glance image and tags the committed image
// novadock/glance:<id>. The archive is then "<glance id>.tar", so this node
// boots the Glance image from disk without downloading it.
//
// On failure nothing is left in the image directory (the archive is written
// to a temp file and renamed into place only after the upload succeeded),
// and the committed Docker image is removed again (best effort).
//
// Thread-safe (no state of its own). `docker`, `runner`, `glance` (may be
// null: no Glance) and `clock` must outlive it.
#ifndef NOVADOCK_AGENT_SNAPSHOTTER_H_
#define NOVADOCK_AGENT_SNAPSHOTTER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/docker_api.h"
#include "agent/instance_runner.h"
#include "glance-loader/glance_client.h"
#include "proto/common/clock.h"

namespace novadock::agent {

// A validated SnapshotInstance request.
struct SnapshotRequest {
  std::string uuid;
  // "repo[:tag]" for the committed image (tag default "latest"); empty:
  // novadock/snapshot:<uuid>-<unix seconds>.
  std::string image_name;
  std::string glance_image_id;  // Empty: no upload.
  std::string auth_token;       // For Glance; never logged.
};

struct SnapshotResult {
  std::string image_id;      // Docker id of the committed image.
  std::string archive_file;  // In the image directory.
  int64_t size_bytes = 0;    // Of the archive.
  bool uploaded = false;     // Into request.glance_image_id.
};

struct SnapshotterOptions {
  std::string image_dir;  // Required: the node's image directory.
};

class Snapshotter {
 public:
  Snapshotter(DockerApi& docker, InstanceRunner& runner,
              loader::GlanceClient* glance, Clock& clock,
              SnapshotterOptions options);
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // Snapshots instance request.uuid (see the file comment); a running
  // instance is paused during the commit only. NOT_FOUND: no such instance
  // on this node. FAILED_PRECONDITION: a glance_image_id without a Glance
  // client ("--glance_endpoint is not set"), or the Glance image is not
  // queued. Docker, Glance and disk errors are returned with their codes.
  // Blocks for the commit, the save and the upload (each bounded by its
  // client's stall timeout, not by the archive's size). Not idempotent: each
  // call commits a new image.
  [[nodiscard]] absl::StatusOr<SnapshotResult> Snapshot(
      const SnapshotRequest& request);

 private:
  // FAILED_PRECONDITION unless Glance is configured and holds
  // request.glance_image_id in queued state; Glance's errors as they are.
  absl::Status CheckGlanceImage(const SnapshotRequest& request);
  // Streams the saved image `ref` into the directory as `file_name`,
  // uploading it to Glance first when request.glance_image_id is set.
  absl::StatusOr<SnapshotResult> Archive(const SnapshotRequest& request,
                                         const std::string& ref,
                                         const std::string& file_name);
  // Uploads the finished temp file at `path` of `size_bytes`.
  absl::Status Upload(const SnapshotRequest& request, const std::string& path,
                      int64_t size_bytes);

  DockerApi& docker_;
  InstanceRunner& runner_;
  loader::GlanceClient* const glance_;
  Clock& clock_;
  const SnapshotterOptions options_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_SNAPSHOTTER_H_
