#include "glance-loader/glance_fetcher.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glance-loader/hashing.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"

namespace novadock::loader {
namespace {

constexpr int kMaxTempNameAttempts = 8;

// A failed system call on `path`: a full disk or quota is RESOURCE_EXHAUSTED,
// anything else INTERNAL.
absl::Status FileError(absl::string_view what, absl::string_view path,
                       int err) {
  const std::string text =
      absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(text);
  return absl::InternalError(text);
}

std::string RandomSuffix() {
  unsigned char bytes[8] = {};
  ssize_t n = getrandom(bytes, sizeof(bytes), 0);
  if (n != static_cast<ssize_t>(sizeof(bytes))) {
    // O_EXCL still protects us; only the name is less random.
    const uint64_t fallback =
        static_cast<uint64_t>(getpid()) << 32 | reinterpret_cast<uintptr_t>(&n);
    std::memcpy(bytes, &fallback, sizeof(bytes));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// A file created with O_EXCL under a temporary name, removed on destruction
// unless renamed into place.
class TempFile {
 public:
  TempFile() = default;
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Creates "<dir>/<prefix><random>" with mode 0640.
  [[nodiscard]] absl::Status Create(const std::string& dir,
                                    absl::string_view prefix) {
    for (int attempt = 0; attempt < kMaxTempNameAttempts; ++attempt) {
      std::string path = absl::StrCat(dir, "/", prefix, RandomSuffix());
      const int fd =
          open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
      if (fd >= 0) {
        fd_ = fd;
        path_ = std::move(path);
        return absl::OkStatus();
      }
      if (errno != EEXIST) return FileError("create", path, errno);
    }
    return absl::InternalError(
        absl::StrCat("create ", dir, "/", prefix, "*: names exist already"));
  }

  [[nodiscard]] absl::Status Write(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return FileError("write", path_, n < 0 ? errno : EIO);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // fsync and close.
  [[nodiscard]] absl::Status SyncAndClose() {
    if (fsync(fd_) != 0) return FileError("fsync", path_, errno);
    const int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return FileError("close", path_, errno);
    return absl::OkStatus();
  }

  // Renames the (closed) file to `target`; it is then no longer removed.
  [[nodiscard]] absl::Status RenameTo(const std::string& target) {
    if (rename(path_.c_str(), target.c_str()) != 0) {
      return FileError("rename to " + target, path_, errno);
    }
    path_.clear();
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
  std::string path_;  // Empty: nothing to remove.
};

// What the data must match, from the Glance record.
struct Expected {
  int64_t size_bytes = -1;  // -1: unknown.
  std::string md5;          // Empty: no checksum.
  std::optional<HashAlgorithm> os_hash_algo;
  std::string os_hash_value;
};

// Refuses images novadock cannot use or verify.
absl::StatusOr<Expected> CheckUsable(const GlanceImage& image,
                                     int64_t max_bytes) {
  const std::string prefix = absl::StrCat("glance image ", image.id, ": ");
  if (image.status != "active") {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, "status is \"", absl::CHexEscape(image.status),
                     "\", not \"active\""));
  }
  if (image.container_format != "docker") {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, "container_format is \"",
        absl::CHexEscape(image.container_format),
        "\", not \"docker\": novadock runs only docker-save archives"));
  }
  if (image.size_bytes > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(prefix, "size ", image.size_bytes,
                     " bytes is over the limit of ", max_bytes, " bytes"));
  }
  Expected expected;
  expected.size_bytes = image.size_bytes;
  if (!image.checksum.empty()) {
    expected.md5 = absl::AsciiStrToLower(image.checksum);
    if (!IsLowerHexDigest(HashAlgorithm::kMd5, expected.md5)) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "checksum is not an md5 hex digest"));
    }
  }
  if (!image.os_hash_value.empty() || !image.os_hash_algo.empty()) {
    absl::StatusOr<HashAlgorithm> algo = ParseHashAlgorithm(image.os_hash_algo);
    if (!algo.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "os_hash_algo: ", algo.status().message()));
    }
    expected.os_hash_algo = *algo;
    expected.os_hash_value = absl::AsciiStrToLower(image.os_hash_value);
    if (!IsLowerHexDigest(*algo, expected.os_hash_value)) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, "os_hash_value is not a ",
                       HashAlgorithmName(*algo), " hex digest"));
    }
  }
  if (expected.md5.empty() && !expected.os_hash_algo.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, "has neither checksum nor os_hash_value to verify"));
  }
  return expected;
}

absl::Status CompareDigest(absl::string_view id, HashAlgorithm algo,
                           absl::string_view expected,
                           StreamingHasher& hasher) {
  NOVADOCK_ASSIGN_OR_RETURN(const std::string got, hasher.Finish());
  if (got == expected) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("glance image ", id, ": ", HashAlgorithmName(algo),
                   " checksum mismatch: expected ", expected, ", got ", got));
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FileError("open", dir, errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return FileError("fsync", dir, err);
  return absl::OkStatus();
}

// True if `path` is a regular file, false if it does not exist.
absl::StatusOr<bool> RegularFileExists(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return FileError("stat", path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": exists but is not a regular file"));
  }
  return true;
}

}  // namespace

GlanceFetcher::GlanceFetcher(GlanceClient& glance, FetcherOptions options)
    : glance_(glance), options_(std::move(options)) {}

std::string GlanceFetcher::ArchivePath(absl::string_view glance_id) const {
  return absl::StrCat(options_.image_dir, "/", glance_id, ".tar");
}

absl::StatusOr<std::string> GlanceFetcher::Fetch(absl::string_view glance_id,
                                                 absl::string_view token) {
  NOVADOCK_RETURN_IF_ERROR(ValidateGlanceImageId(glance_id));
  const std::string id(glance_id);
  const std::string path = ArchivePath(id);
  NOVADOCK_ASSIGN_OR_RETURN(const bool exists, RegularFileExists(path));
  if (exists) return path;

  std::shared_ptr<Flight> flight;
  {
    absl::MutexLock lock(&mu_);
    auto [it, leader] = flights_.try_emplace(id);
    if (!leader) {
      flight = it->second;
      ++flight->waiters;
      mu_.Await(absl::Condition(&flight->done));
      return flight->result;
    }
    it->second = std::make_shared<Flight>();
    flight = it->second;
  }
  absl::StatusOr<std::string> result = FetchUnshared(id, token);
  absl::MutexLock lock(&mu_);
  flight->result = result;
  flight->done = true;
  flights_.erase(id);
  return result;
}

absl::StatusOr<std::string> GlanceFetcher::FetchUnshared(
    const std::string& id, absl::string_view token) {
  const std::string path = ArchivePath(id);
  // A download that finished between our first look and becoming leader.
  NOVADOCK_ASSIGN_OR_RETURN(const bool exists, RegularFileExists(path));
  if (exists) return path;
  const absl::Time start =
      options_.clock != nullptr ? options_.clock->Now() : absl::UnixEpoch();

  NOVADOCK_ASSIGN_OR_RETURN(const GlanceImage image,
                            glance_.GetImage(id, token));
  NOVADOCK_ASSIGN_OR_RETURN(const Expected expected,
                            CheckUsable(image, options_.max_bytes));
  const int64_t limit =
      expected.size_bytes >= 0 ? expected.size_bytes : options_.max_bytes;
  TempFile archive;
  NOVADOCK_RETURN_IF_ERROR(archive.Create(
      options_.image_dir, absl::StrCat(".", id, ".tar.partial.")));
  StreamingHasher md5(HashAlgorithm::kMd5);
  StreamingHasher sha256(HashAlgorithm::kSha256);
  std::optional<StreamingHasher> os_hash;
  if (expected.os_hash_algo.has_value()) {
    os_hash.emplace(*expected.os_hash_algo);
  }
  int64_t received = 0;
  const DownloadSink sink = [&](absl::string_view chunk) -> absl::Status {
    received += static_cast<int64_t>(chunk.size());
    if (received > limit) {
      return expected.size_bytes >= 0
                 ? absl::FailedPreconditionError(absl::StrCat(
                       "glance image ", id, ": more data than its declared ",
                       expected.size_bytes, " bytes"))
                 : absl::ResourceExhaustedError(absl::StrCat(
                       "glance image ", id, ": data over the limit of ",
                       options_.max_bytes, " bytes"));
    }
    md5.Update(chunk);
    sha256.Update(chunk);
    if (os_hash.has_value()) os_hash->Update(chunk);
    return archive.Write(chunk);
  };
  NOVADOCK_RETURN_IF_ERROR(glance_.Download(id, token, sink));
  if (expected.size_bytes >= 0 && received != expected.size_bytes) {
    return absl::UnavailableError(
        absl::StrCat("glance image ", id, ": short download: got ", received,
                     " of ", expected.size_bytes, " bytes"));
  }
  if (os_hash.has_value()) {  // The stronger digest first.
    NOVADOCK_RETURN_IF_ERROR(CompareDigest(id, *expected.os_hash_algo,
                                           expected.os_hash_value, *os_hash));
  }
  if (!expected.md5.empty()) {
    NOVADOCK_RETURN_IF_ERROR(
        CompareDigest(id, HashAlgorithm::kMd5, expected.md5, md5));
  }
  NOVADOCK_ASSIGN_OR_RETURN(const std::string sha256_hex, sha256.Finish());
  NOVADOCK_RETURN_IF_ERROR(archive.SyncAndClose());

  // Sidecar first, archive second: see the header.
  TempFile sidecar;
  NOVADOCK_RETURN_IF_ERROR(sidecar.Create(
      options_.image_dir, absl::StrCat(".", id, ".tar.sha256.partial.")));
  NOVADOCK_RETURN_IF_ERROR(
      sidecar.Write(absl::StrCat(sha256_hex, "  ", id, ".tar\n")));
  NOVADOCK_RETURN_IF_ERROR(sidecar.SyncAndClose());
  const std::string sidecar_path = path + ".sha256";
  NOVADOCK_RETURN_IF_ERROR(sidecar.RenameTo(sidecar_path));
  if (absl::Status s = archive.RenameTo(path); !s.ok()) {
    unlink(sidecar_path.c_str());
    return s;
  }
  NOVADOCK_RETURN_IF_ERROR(SyncDirectory(options_.image_dir));

  const std::string took =
      options_.clock != nullptr
          ? absl::StrCat(" in ",
                         absl::FormatDuration(options_.clock->Now() - start))
          : "";
  NOVADOCK_LOG_INFO("glance image ", id, " (\"",
                    absl::CHexEscape(image.name.substr(0, 64)), "\"): fetched ",
                    received, " bytes into ", path, took);
  return path;
}

bool GlanceFetcher::AwaitWaitersForTest(absl::string_view id, int n,
                                        absl::Duration timeout) {
  const std::string key(id);
  absl::MutexLock lock(&mu_);
  const auto waiting = [this, &key, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto it = flights_.find(key);
    return it != flights_.end() && it->second->waiters >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&waiting), timeout);
}

}  // namespace novadock::loader
