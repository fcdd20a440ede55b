#include "glance-loader/image_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glance-loader/hashing.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"
#include "proto/common/unique_fd.h"
#include "proto/common/uuid.h"

namespace novadock::loader {
namespace {

// Glance ids whose image Resolve remembers; past this the memory starts
// over (a node uses far fewer images than this).
constexpr size_t kMaxRememberedImages = 4096;

absl::Status ErrnoStatus(const std::string& what, int err) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM)
    return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

bool IsDockerReference(absl::string_view ref) {
  if (ref.empty() || ref.size() > 255) return false;
  for (char c : ref) {
    const bool ok = absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                    (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
                    c == '-' || c == '/' || c == ':' || c == '@';
    if (!ok) return false;
  }
  return absl::ascii_isalnum(static_cast<unsigned char>(ref[0]));
}

std::string FlightKey(const ImageRequest& r) {
  return r.glance_id.empty() ? "name:" + r.name : "glance:" + r.glance_id;
}

}  // namespace

std::string GlanceIdFromFileName(absl::string_view file_name) {
  absl::string_view stem = file_name;
  if (!absl::ConsumeSuffix(&stem, ".tar") &&
      !absl::ConsumeSuffix(&stem, ".tar.gz") &&
      !absl::ConsumeSuffix(&stem, ".tgz")) {
    return "";
  }
  return IsLowercaseUuid(stem) ? std::string(stem) : "";
}

// One resolve in progress; waiters read `result` once `done`.
struct ImageLoader::Flight {
  bool done = false;  // Guarded by ImageLoader::mu_.
  absl::StatusOr<LoadedImage> result = absl::UnknownError("in flight");
};

ImageLoader::ImageLoader(agent::DockerApi& docker, ImageIndex& index,
                         Clock& clock, LoaderOptions options)
    : docker_(docker),
      index_(index),
      clock_(clock),
      options_(std::move(options)) {}

absl::StatusOr<LoadedImage> ImageLoader::Resolve(const ImageRequest& request) {
  if (request.glance_id.empty() && request.name.empty()) {
    return absl::InvalidArgumentError("image: glance_id or name is required");
  }
  const std::string key = FlightKey(request);
  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    if (!request.glance_id.empty()) {
      auto known = by_glance_id_.find(request.glance_id);
      if (known != by_glance_id_.end()) return known->second;
    }
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      // Another caller is resolving this image: share its result.
      std::shared_ptr<Flight> leader = it->second;
      mu_.Await(absl::Condition(&leader->done));
      return leader->result;
    }
    flight = std::make_shared<Flight>();
    flights_.emplace(key, flight);
  }
  absl::StatusOr<LoadedImage> result = ResolveUncached(request);
  absl::MutexLock lock(&mu_);
  if (result.ok() && !request.glance_id.empty()) {
    // Whatever step found it, the image is tagged for the id by now.
    if (by_glance_id_.size() >= kMaxRememberedImages) by_glance_id_.clear();
    by_glance_id_[request.glance_id] =
        LoadedImage{result->image_id, result->repo_tags, "", 0};
  }
  flight->result = result;
  flight->done = true;
  flights_.erase(key);
  return result;
}

bool ImageLoader::Forget(const std::string& glance_id) {
  absl::MutexLock lock(&mu_);
  return by_glance_id_.erase(glance_id) > 0;
}

absl::StatusOr<LoadedImage> ImageLoader::ResolveUncached(
    const ImageRequest& request) {
  // 1. Already loaded for this Glance id.
  if (!request.glance_id.empty()) {
    auto tagged = docker_.InspectImage(
        absl::StrCat(kGlanceImageRepo, ":", request.glance_id));
    if (tagged.ok()) return LoadedImage{tagged->id, tagged->repo_tags, "", 0};
    if (!absl::IsNotFound(tagged.status())) return tagged.status();
  }
  NOVADOCK_RETURN_IF_ERROR(index_.Refresh());
  // 2. <dir>/<glance id>.tar.
  if (!request.glance_id.empty()) {
    auto archive = index_.FindByGlanceId(request.glance_id);
    if (archive.ok()) return LoadIndexed(*archive, request);
    if (!absl::IsNotFound(archive.status())) return archive.status();
  }
  // 3. A Docker image of that name.
  if (IsDockerReference(request.name)) {
    auto named = docker_.InspectImage(request.name);
    if (named.ok()) {
      NOVADOCK_RETURN_IF_ERROR(TagForGlance(named->id, request.glance_id));
      return LoadedImage{named->id, named->repo_tags, "", 0};
    }
    if (!absl::IsNotFound(named.status())) return named.status();
  }
  // 4. An archive whose manifest tags the name.
  if (!request.name.empty()) {
    auto archive = index_.FindByRepoTag(request.name);
    if (archive.ok()) {
      // Glance's checksums describe Glance's bytes, not this file: only the
      // archive's own checks (and its sidecar) apply.
      ImageRequest by_name = request;
      by_name.checksum.clear();
      by_name.os_hash_algo.clear();
      by_name.os_hash_value.clear();
      return LoadIndexed(*archive, by_name);
    }
    if (!absl::IsNotFound(archive.status())) return archive.status();
  }
  // 5. One download from Glance.
  if (options_.fetch && !request.glance_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        options_.fetch(request.glance_id, request.auth_token).status());
    NOVADOCK_RETURN_IF_ERROR(index_.Refresh());
    NOVADOCK_ASSIGN_OR_RETURN(IndexedArchive archive,
                              index_.FindByGlanceId(request.glance_id));
    return LoadIndexed(archive, request);
  }
  return absl::NotFoundError(absl::StrCat(
      "image ", request.name.empty() ? "(no name)" : request.name,
      " (glance id ", request.glance_id.empty() ? "none" : request.glance_id,
      ") is neither in Docker nor in ", options_.image_dir,
      options_.fetch ? "" : "; Glance download is off"));
}

absl::Status ImageLoader::CheckGlanceDigests(const ArchiveInfo& info,
                                             const ImageRequest& request,
                                             absl::StatusCode code) const {
  if (!request.checksum.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        VerifyDigest(info, HashAlgorithm::kMd5, request.checksum, code));
  }
  if (!request.os_hash_algo.empty()) {
    NOVADOCK_ASSIGN_OR_RETURN(HashAlgorithm algo,
                              ParseHashAlgorithm(request.os_hash_algo));
    NOVADOCK_RETURN_IF_ERROR(
        VerifyDigest(info, algo, request.os_hash_value, code));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedImage> ImageLoader::LoadIndexed(
    const IndexedArchive& archive, const ImageRequest& request) {
  NOVADOCK_RETURN_IF_ERROR(archive.status);
  NOVADOCK_RETURN_IF_ERROR(CheckGlanceDigests(
      archive.info, request, absl::StatusCode::kFailedPrecondition));
  NOVADOCK_ASSIGN_OR_RETURN(LoadedImage loaded,
                            Stream(archive.path, archive.info, {}));
  NOVADOCK_RETURN_IF_ERROR(TagForGlance(loaded.image_id, request.glance_id));
  return loaded;
}

absl::StatusOr<LoadedImage> ImageLoader::LoadFile(
    const std::string& path, const ImageRequest& request,
    const ProgressFn& progress, absl::StatusCode bad_archive_code) {
  InspectOptions options;
  options.bad_archive_code = bad_archive_code;
  // Only the digests someone will check: md5 alone costs twice sha256.
  if (!request.checksum.empty()) options.extra_digests = {HashAlgorithm::kMd5};
  if (!request.os_hash_algo.empty()) {
    NOVADOCK_ASSIGN_OR_RETURN(HashAlgorithm algo,
                              ParseHashAlgorithm(request.os_hash_algo));
    options.extra_digests.push_back(algo);
  }
  NOVADOCK_ASSIGN_OR_RETURN(ArchiveInfo info, InspectFile(path, options));
  NOVADOCK_RETURN_IF_ERROR(CheckGlanceDigests(info, request, bad_archive_code));
  NOVADOCK_ASSIGN_OR_RETURN(LoadedImage loaded, Stream(path, info, progress));
  NOVADOCK_RETURN_IF_ERROR(TagForGlance(loaded.image_id, request.glance_id));
  return loaded;
}

absl::StatusOr<LoadedImage> ImageLoader::Stream(const std::string& path,
                                                const ArchiveInfo& info,
                                                const ProgressFn& progress) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open " + path, errno);
  StreamingHasher hasher(HashAlgorithm::kSha256);
  int64_t done = 0;
  const int64_t total = info.file_size_bytes;
  const absl::Time begin = clock_.Now();
  agent::UploadSource source = [&](char* buffer,
                                   size_t capacity) -> absl::StatusOr<size_t> {
    ssize_t n;
    do {
      n = read(fd.get(), buffer, capacity);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoStatus("read " + path, errno);
    if (n > 0) {
      hasher.Update(absl::string_view(buffer, static_cast<size_t>(n)));
      done += n;
      if (progress) progress(done, total);
      if (done > total) {
        return absl::DataLossError(
            absl::StrCat(path, ": grew while loading; not loaded"));
      }
      return static_cast<size_t>(n);
    }
    // End of file: refuse to finish the upload unless the bytes are the
    // ones verified, so Docker never completes an unverified load.
    NOVADOCK_ASSIGN_OR_RETURN(std::string sha256, hasher.Finish());
    if (done != total || sha256 != info.sha256_hex) {
      return absl::DataLossError(
          absl::StrCat(path, ": changed since it was verified (sha256 ", sha256,
                       ", verified ", info.sha256_hex, "); not loaded"));
    }
    return size_t{0};
  };
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<std::string> reported,
                            docker_.LoadImage(source));
  NOVADOCK_LOG_INFO("loaded image ", info.image_id, " from ", path, " (", done,
                    " bytes) in ", absl::FormatDuration(clock_.Now() - begin));
  LoadedImage loaded;
  loaded.image_id = info.image_id;
  loaded.archive_path = path;
  loaded.bytes = done;
  for (std::string& r : reported) {
    if (r.rfind("sha256:", 0) != 0) loaded.repo_tags.push_back(std::move(r));
  }
  return loaded;
}

absl::Status ImageLoader::TagForGlance(const std::string& image_id,
                                       const std::string& glance_id) {
  if (glance_id.empty()) return absl::OkStatus();
  return docker_.TagImage(image_id, kGlanceImageRepo, glance_id);
}

}  // namespace novadock::loader
