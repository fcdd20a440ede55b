#include "glance-loader/fake_glance_client.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glance-loader/hashing.h"
#include "proto/common/status_macros.h"

namespace novadock::loader {

GlanceImage FakeGlanceClient::ActiveImageFor(absl::string_view id,
                                             absl::string_view data) {
  GlanceImage image;
  image.id.assign(id.data(), id.size());
  image.name = absl::StrCat("image-", id.substr(0, 8));
  image.status = "active";
  image.container_format = "docker";
  image.disk_format = "raw";
  image.size_bytes = static_cast<int64_t>(data.size());
  image.checksum = HexDigest(HashAlgorithm::kMd5, data).value_or("");
  image.os_hash_algo = "sha512";
  image.os_hash_value = HexDigest(HashAlgorithm::kSha512, data).value_or("");
  return image;
}

void FakeGlanceClient::PutImage(GlanceImage image, std::string data) {
  absl::MutexLock lock(&mu_);
  StoredImage& stored = images_[image.id];
  stored.record = std::move(image);
  stored.data = std::move(data);
  stored.truncate_bytes = -1;
}

GlanceImage FakeGlanceClient::AddActiveImage(absl::string_view id,
                                             std::string data) {
  GlanceImage image = ActiveImageFor(id, data);
  PutImage(image, std::move(data));
  return image;
}

void FakeGlanceClient::RemoveImage(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  if (const auto it = images_.find(id); it != images_.end()) images_.erase(it);
}

void FakeGlanceClient::AddQueuedImage(absl::string_view id) {
  GlanceImage image;
  image.id.assign(id.data(), id.size());
  image.name = absl::StrCat("snapshot-", id.substr(0, 8));
  image.status = "queued";
  image.container_format = "docker";
  image.disk_format = "raw";
  PutImage(std::move(image), "");
}

std::string FakeGlanceClient::DataForTest(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  const auto it = images_.find(id);
  return it == images_.end() ? "" : it->second.data;
}

void FakeGlanceClient::InjectError(Op op, absl::Status status) {
  absl::MutexLock lock(&mu_);
  errors_[op] = std::move(status);
}

void FakeGlanceClient::TruncateDownload(absl::string_view id, size_t bytes) {
  absl::MutexLock lock(&mu_);
  const auto it = images_.find(id);
  if (it != images_.end()) {
    it->second.truncate_bytes = static_cast<int64_t>(bytes);
  }
}

void FakeGlanceClient::SetChunkBytes(size_t bytes) {
  absl::MutexLock lock(&mu_);
  chunk_bytes_ = std::max<size_t>(1, bytes);
}

void FakeGlanceClient::HoldDownloads() {
  absl::MutexLock lock(&mu_);
  hold_downloads_ = true;
}

void FakeGlanceClient::ReleaseDownloads() {
  absl::MutexLock lock(&mu_);
  hold_downloads_ = false;
}

bool FakeGlanceClient::AwaitDownloadCalls(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return download_calls_ >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&started), timeout);
}

int FakeGlanceClient::get_image_calls() const {
  absl::MutexLock lock(&mu_);
  return get_image_calls_;
}

int FakeGlanceClient::download_calls() const {
  absl::MutexLock lock(&mu_);
  return download_calls_;
}

int FakeGlanceClient::upload_calls() const {
  absl::MutexLock lock(&mu_);
  return upload_calls_;
}

std::vector<std::string> FakeGlanceClient::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

absl::StatusOr<GlanceImage> FakeGlanceClient::GetImage(
    absl::string_view id, absl::string_view token) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  absl::MutexLock lock(&mu_);
  ++get_image_calls_;
  tokens_.emplace_back(token);
  if (const auto e = errors_.find(Op::kGetImage);
      e != errors_.end() && !e->second.ok()) {
    return e->second;
  }
  const auto it = images_.find(id);
  if (it == images_.end()) {
    return absl::NotFoundError(absl::StrCat("glance image ", id, " not found"));
  }
  return it->second.record;
}

absl::Status FakeGlanceClient::Download(absl::string_view id,
                                        absl::string_view token,
                                        const DownloadSink& sink) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  std::string data;
  size_t chunk_bytes = 0;
  {
    absl::MutexLock lock(&mu_);
    ++download_calls_;
    tokens_.emplace_back(token);
    const auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !hold_downloads_;
    };
    mu_.Await(absl::Condition(&released));
    if (const auto e = errors_.find(Op::kDownload);
        e != errors_.end() && !e->second.ok()) {
      return e->second;
    }
    const auto it = images_.find(id);
    if (it == images_.end()) {
      return absl::NotFoundError(
          absl::StrCat("glance image ", id, " not found"));
    }
    if (it->second.data.empty() && it->second.record.size_bytes < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("glance image ", id, " has no data (HTTP 204)"));
    }
    data = it->second.data;
    if (it->second.truncate_bytes >= 0) {
      data.resize(std::min(data.size(),
                           static_cast<size_t>(it->second.truncate_bytes)));
    }
    chunk_bytes = chunk_bytes_;
  }
  // Copied out so that the sink runs unlocked.
  for (size_t offset = 0; offset < data.size(); offset += chunk_bytes) {
    NOVADOCK_RETURN_IF_ERROR(
        sink(absl::string_view(data).substr(offset, chunk_bytes)));
  }
  return absl::OkStatus();
}

absl::Status FakeGlanceClient::Upload(absl::string_view id,
                                      absl::string_view token,
                                      const UploadReader& reader,
                                      int64_t size_bytes) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(id));
  auto queued = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    if (const auto e = errors_.find(Op::kUpload);
        e != errors_.end() && !e->second.ok()) {
      return e->second;
    }
    const auto it = images_.find(id);
    if (it == images_.end()) {
      return absl::NotFoundError(
          absl::StrCat("glance image ", id, " not found"));
    }
    if (it->second.record.status != "queued") {
      return absl::FailedPreconditionError(
          absl::StrCat("glance image ", id, " is not in queued state: ",
                       it->second.record.status, " (HTTP 409)"));
    }
    return absl::OkStatus();
  };
  {
    absl::MutexLock lock(&mu_);
    ++upload_calls_;
    tokens_.emplace_back(token);
    NOVADOCK_RETURN_IF_ERROR(queued());
  }
  std::string data;  // Read unlocked, as the real client streams.
  char buffer[64 << 10];
  while (true) {
    NOVADOCK_ASSIGN_OR_RETURN(const size_t n, reader(buffer, sizeof(buffer)));
    if (n == 0) break;
    data.append(buffer, n);
  }
  if (size_bytes >= 0 && static_cast<int64_t>(data.size()) != size_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("glance upload: the data is ", data.size(),
                     " bytes, but its size was given as ", size_bytes));
  }
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(queued());  // Re-checked: it may have changed.
  StoredImage& stored = images_.find(id)->second;
  GlanceImage active = ActiveImageFor(id, data);
  active.name = stored.record.name;
  active.properties = stored.record.properties;
  stored.record = std::move(active);
  stored.data = std::move(data);
  return absl::OkStatus();
}

}  // namespace novadock::loader
