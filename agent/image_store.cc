#include "agent/image_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/archive_writer.h"
#include "agent/request_validation.h"
#include "glance-loader/hashing.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

constexpr char kGlanceTagPrefix[] = "novadock/glance:";

absl::Status ErrnoError(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

bool IsArchiveName(absl::string_view name) {
  return absl::EndsWith(name, ".tar") || absl::EndsWith(name, ".tar.gz") ||
         absl::EndsWith(name, ".tgz");
}

}  // namespace

ImageStore::ImageStore(DockerApi& docker, loader::ImageIndex& index,
                       loader::ImageLoader& loader, ImageStoreOptions options)
    : docker_(docker),
      index_(index),
      loader_(loader),
      options_(std::move(options)) {}

absl::StatusOr<std::string> ImageStore::Resolve(const ImageSpec& image) {
  loader::ImageRequest request;
  request.glance_id = image.glance_id;
  request.name = image.name;
  request.checksum = image.checksum;
  request.os_hash_algo = image.os_hash_algo;
  request.os_hash_value = image.os_hash_value;
  request.auth_token = image.auth_token;
  NOVADOCK_ASSIGN_OR_RETURN(loader::LoadedImage loaded,
                            loader_.Resolve(request));
  return loaded.image_id;
}

bool ImageStore::Forget(const ImageSpec& image) {
  return loader_.Forget(image.glance_id);
}

absl::Status ImageStore::CheckFileName(const std::string& field,
                                       const std::string& name) const {
  const bool chars_ok =
      !name.empty() && name.size() <= 255 && name[0] != '.' &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
               c == '_' || c == '-';
      });
  if (!chars_ok || !IsArchiveName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": must be a file name of [A-Za-z0-9._-] ending in .tar, "
                     ".tar.gz or .tgz, not starting with '.'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageListing> ImageStore::List(const InstanceImages& instances) {
  NOVADOCK_RETURN_IF_ERROR(index_.Refresh());
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<ImageDetails> images,
                            docker_.ListImages());
  NOVADOCK_ASSIGN_OR_RETURN(auto in_use, instances());
  ImageListing out;
  for (ImageDetails& image : images) {
    DockerImageView view;
    for (const std::string& tag : image.repo_tags) {
      absl::string_view id = tag;
      if (absl::ConsumePrefix(&id, kGlanceTagPrefix)) {
        view.glance_ids.emplace_back(id);
      }
    }
    for (const auto& [uuid, image_id] : in_use) {
      if (image_id == image.id) view.used_by.push_back(uuid);
    }
    view.image = std::move(image);
    out.images.push_back(std::move(view));
  }
  for (loader::IndexedArchive& archive : index_.List()) {
    ArchiveView view;
    view.glance_id = loader::GlanceIdFromFileName(archive.file_name);
    view.loaded = archive.status.ok() &&
                  std::any_of(out.images.begin(), out.images.end(),
                              [&](const DockerImageView& i) {
                                return i.image.id == archive.info.image_id;
                              });
    view.archive = std::move(archive);
    out.archives.push_back(std::move(view));
  }
  return out;
}

absl::StatusOr<loader::LoadedImage> ImageStore::Load(
    const std::string& file_name, const std::string& glance_id,
    const std::string& auth_token) {
  if (file_name.empty() == glance_id.empty()) {
    return absl::InvalidArgumentError(
        "file_name, glance_id: give exactly one of them");
  }
  if (!glance_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(ValidateUuid("glance_id", glance_id));
    loader::ImageRequest request;
    request.glance_id = glance_id;
    request.auth_token = auth_token;
    return loader_.Resolve(request);
  }
  NOVADOCK_RETURN_IF_ERROR(CheckFileName("file_name", file_name));
  loader::ImageRequest request;
  request.glance_id = loader::GlanceIdFromFileName(file_name);
  return loader_.LoadFile(absl::StrCat(options_.image_dir, "/", file_name),
                          request);
}

absl::StatusOr<PutResult> ImageStore::Put(const PutHeader& header,
                                          const ChunkReader& next) {
  if (header.glance_id.empty() == header.file_name.empty()) {
    return absl::InvalidArgumentError(
        "header.glance_id, header.file_name: give exactly one of them");
  }
  std::string target = header.file_name;
  if (!header.glance_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        ValidateUuid("header.glance_id", header.glance_id));
    target = header.glance_id + ".tar";
  }
  NOVADOCK_RETURN_IF_ERROR(CheckFileName("header.file_name", target));
  if (!loader::IsLowerHexDigest(loader::HashAlgorithm::kSha256,
                                header.sha256)) {
    return absl::InvalidArgumentError(
        "header.sha256: required, 64 lowercase hex digits");
  }
  if (header.size_bytes <= 0 || header.size_bytes > options_.max_put_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("header.size_bytes: ", header.size_bytes,
                     " is outside 1..", options_.max_put_bytes));
  }
  const std::string path = absl::StrCat(options_.image_dir, "/", target);
  struct stat st {};
  if (!header.replace && stat(path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "archive ", path, " exists; set header.replace to overwrite it"));
  }

  NOVADOCK_ASSIGN_OR_RETURN(
      std::unique_ptr<ArchiveWriter> writer,
      ArchiveWriter::Create(options_.image_dir, absl::StrCat(target, ".put")));
  while (true) {
    NOVADOCK_ASSIGN_OR_RETURN(std::optional<std::string> chunk, next());
    if (!chunk.has_value()) break;
    if (writer->size_bytes() + static_cast<int64_t>(chunk->size()) >
        header.size_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data: more than header.size_bytes (", header.size_bytes, ")"));
    }
    NOVADOCK_RETURN_IF_ERROR(writer->Append(*chunk));
  }
  const int64_t received = writer->size_bytes();
  if (received != header.size_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: ", received,
                     " bytes received, header.size_bytes "
                     "says ",
                     header.size_bytes));
  }
  NOVADOCK_ASSIGN_OR_RETURN(const std::string sha256, writer->Finish());
  if (sha256 != header.sha256) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: sha256 is ", sha256, ", header.sha256 says ",
                     header.sha256, " (corrupted upload)"));
  }
  loader::InspectOptions inspect;
  inspect.display_name = absl::StrCat("uploaded ", target);
  inspect.bad_archive_code = absl::StatusCode::kInvalidArgument;
  NOVADOCK_RETURN_IF_ERROR(
      loader::InspectFile(writer->temp_path(), inspect).status());
  NOVADOCK_RETURN_IF_ERROR(writer->Install(target));
  NOVADOCK_LOG_INFO("stored image archive ", path, " (", received, " bytes)");

  PutResult result;
  result.file_name = target;
  if (header.load) {
    loader::ImageRequest request;
    request.glance_id = header.glance_id;
    NOVADOCK_ASSIGN_OR_RETURN(result.loaded, loader_.LoadFile(path, request));
  }
  return result;
}

absl::StatusOr<std::pair<bool, bool>> ImageStore::Remove(
    const std::string& glance_id, const std::string& ref, bool remove_archive,
    const InstanceImages& instances) {
  if (glance_id.empty() == ref.empty()) {
    return absl::InvalidArgumentError("glance_id, ref: give exactly one");
  }
  std::string docker_ref;
  std::string archive_name;
  if (!glance_id.empty()) {
    NOVADOCK_RETURN_IF_ERROR(ValidateUuid("glance_id", glance_id));
    docker_ref = kGlanceTagPrefix + glance_id;
    archive_name = glance_id + ".tar";
  } else if (IsArchiveName(ref)) {
    NOVADOCK_RETURN_IF_ERROR(CheckFileName("ref", ref));
    archive_name = ref;
  } else if (IsDockerReference(ref)) {
    docker_ref = ref;
  } else {
    return absl::InvalidArgumentError(
        "ref: neither an archive file name nor a Docker reference");
  }
  bool removed_image = false;
  if (!docker_ref.empty()) {
    auto image = docker_.InspectImage(docker_ref);
    if (image.ok()) {
      NOVADOCK_ASSIGN_OR_RETURN(auto in_use, instances());
      for (const auto& [uuid, image_id] : in_use) {
        if (image_id == image->id) {
          return absl::FailedPreconditionError(
              absl::StrCat("image ", docker_ref, " is used by instance ", uuid,
                           "; delete the instance first"));
        }
      }
      NOVADOCK_RETURN_IF_ERROR(docker_.RemoveImage(docker_ref, false));
      removed_image = true;
    } else if (!absl::IsNotFound(image.status())) {
      return image.status();
    }
  }
  bool removed_archive = false;
  if (remove_archive && !archive_name.empty()) {
    const std::string path =
        absl::StrCat(options_.image_dir, "/", archive_name);
    if (unlink(path.c_str()) == 0) {
      removed_archive = true;
      unlink((path + ".sha256").c_str());
    } else if (errno != ENOENT) {
      return ErrnoError("remove " + path);
    }
  }
  NOVADOCK_LOG_INFO("removed image ", glance_id.empty() ? ref : glance_id,
                    removed_image ? " from Docker" : "",
                    removed_archive ? " and its archive" : "");
  return std::make_pair(removed_image, removed_archive);
}

}  // namespace novadock::agent
