#include "agent/snapshotter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/archive_writer.h"
#include "agent/container_labels.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

struct FdCloser {
  void operator()(const int* fd) const {
    close(*fd);
    delete fd;
  }
};
using FdPtr = std::unique_ptr<int, FdCloser>;

// "repo[:tag]" -> {repo, tag}; the tag is "latest" when absent.
std::pair<std::string, std::string> SplitReference(const std::string& ref) {
  const size_t colon = ref.rfind(':');
  const size_t slash = ref.rfind('/');
  if (colon != std::string::npos &&
      (slash == std::string::npos || colon > slash)) {
    return {ref.substr(0, colon), ref.substr(colon + 1)};
  }
  return {ref, "latest"};
}

}  // namespace

Snapshotter::Snapshotter(DockerApi& docker, InstanceRunner& runner,
                         loader::GlanceClient* glance, Clock& clock,
                         SnapshotterOptions options)
    : docker_(docker),
      runner_(runner),
      glance_(glance),
      clock_(clock),
      options_(std::move(options)) {}

absl::StatusOr<SnapshotResult> Snapshotter::Snapshot(
    const SnapshotRequest& request) {
  const absl::Time start = clock_.Now();
  const std::string& glance_id = request.glance_image_id;
  NOVADOCK_ASSIGN_OR_RETURN(InstanceView view, runner_.Get(request.uuid));
  // Checked first, so that a wrong Glance id costs no commit and no save.
  if (!glance_id.empty()) NOVADOCK_RETURN_IF_ERROR(CheckGlanceImage(request));

  const int64_t unix_seconds = absl::ToUnixSeconds(start);
  const auto [repo, tag] =
      request.image_name.empty()
          ? std::make_pair(std::string(kSnapshotImageRepo),
                           absl::StrCat(request.uuid, "-", unix_seconds))
          : SplitReference(request.image_name);
  const std::string ref = absl::StrCat(repo, ":", tag);
  // Docker copies the container's labels into the image. The instance's
  // identity is cleared there, so that a container made from the image by
  // other means is never taken for an instance of this node.
  const Labels labels = {{kLabelSnapshotOf, request.uuid},
                         {kLabelInstanceUuid, ""},
                         {kLabelNode, ""}};
  NOVADOCK_ASSIGN_OR_RETURN(
      const std::string image_id,
      docker_.CommitContainer(view.container.id, repo, tag, labels));

  const std::string file_name =
      glance_id.empty() ? absl::StrCat(kSnapshotArchivePrefix, request.uuid,
                                       "-", unix_seconds, ".tar")
                        : absl::StrCat(glance_id, ".tar");
  absl::StatusOr<SnapshotResult> result = Archive(request, ref, file_name);
  if (!result.ok()) {
    // Best effort: the snapshot's own error is the one to report.
    docker_.RemoveImage(ref, /*force=*/false).IgnoreError();
    return result.status();
  }
  result->image_id = image_id;
  if (!glance_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        docker_.TagImage(image_id, kGlanceImageRepo, glance_id));
  }
  NOVADOCK_LOG_INFO("snapshot of instance ", request.uuid, ": image ", image_id,
                    " (", ref, "), archive ", file_name, " ",
                    result->size_bytes, " bytes",
                    result->uploaded ? ", uploaded to glance image " : "",
                    result->uploaded ? glance_id : "", ", in ",
                    absl::FormatDuration(clock_.Now() - start));
  return result;
}

absl::Status Snapshotter::CheckGlanceImage(const SnapshotRequest& request) {
  if (glance_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot of instance ", request.uuid,
                     " into glance image ", request.glance_image_id,
                     ": this agent has no Glance (--glance_endpoint is not "
                     "set)"));
  }
  NOVADOCK_ASSIGN_OR_RETURN(
      const loader::GlanceImage image,
      glance_->GetImage(request.glance_image_id, request.auth_token));
  if (image.status != "queued") {
    return absl::FailedPreconditionError(absl::StrCat(
        "glance image ", request.glance_image_id, " is ", image.status,
        ", not queued: it cannot take snapshot data"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SnapshotResult> Snapshotter::Archive(
    const SnapshotRequest& request, const std::string& ref,
    const std::string& file_name) {
  NOVADOCK_ASSIGN_OR_RETURN(
      std::unique_ptr<ArchiveWriter> writer,
      ArchiveWriter::Create(
          options_.image_dir,
          absl::StrCat(kSnapshotArchivePrefix, request.uuid)));
  absl::Status write_status;
  const absl::Status saved =
      docker_.SaveImage(ref, [&](absl::string_view chunk) {
        write_status = writer->Append(chunk);
        return write_status.ok();
      });
  NOVADOCK_RETURN_IF_ERROR(write_status);
  NOVADOCK_RETURN_IF_ERROR(saved);
  if (writer->size_bytes() == 0) {
    return absl::InternalError(
        absl::StrCat("docker save image ", ref, ": empty archive"));
  }
  NOVADOCK_RETURN_IF_ERROR(writer->Finish().status());
  SnapshotResult result;
  result.archive_file = file_name;
  result.size_bytes = writer->size_bytes();
  if (!request.glance_image_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        Upload(request, writer->temp_path(), result.size_bytes));
    result.uploaded = true;
  }
  NOVADOCK_RETURN_IF_ERROR(writer->Install(file_name));
  return result;
}

absl::Status Snapshotter::Upload(const SnapshotRequest& request,
                                 const std::string& path, int64_t size_bytes) {
  const int raw_fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_fd < 0) {
    return absl::InternalError(
        absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  const FdPtr fd(new int(raw_fd));
  return glance_->Upload(
      request.glance_image_id, request.auth_token,
      [&](char* buffer, size_t capacity) -> absl::StatusOr<size_t> {
        while (true) {
          const ssize_t n = read(*fd, buffer, capacity);
          if (n >= 0) return static_cast<size_t>(n);
          if (errno != EINTR) {
            return absl::InternalError(
                absl::StrCat("read ", path, ": ", std::strerror(errno)));
          }
        }
      },
      size_bytes);
}

}  // namespace novadock::agent
