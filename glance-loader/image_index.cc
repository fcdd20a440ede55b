#include "glance-loader/image_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glance-loader/hashing.h"

namespace novadock::loader {
namespace {

// In lookup preference order.
constexpr absl::string_view kArchiveSuffixes[] = {".tar", ".tar.gz", ".tgz"};
constexpr char kSidecarSuffix[] = ".sha256";
constexpr size_t kMaxSidecarBytes = 4096;

bool IsArchiveName(absl::string_view name) {
  if (name.empty() || name[0] == '.') return false;
  for (absl::string_view suffix : kArchiveSuffixes) {
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix)) {
      return true;
    }
  }
  return false;
}

FileStamp StampOf(const struct stat& st) {
  FileStamp s;
  s.size_bytes = st.st_size;
  s.mtime_nanos = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  s.inode = st.st_ino;
  return s;
}

struct DirClose {
  void operator()(DIR* d) const { closedir(d); }
};

// The sha256 hex a sidecar holds ("<hex>  <name>" or "<hex>").
absl::StatusOr<std::string> ReadSidecar(const std::string& path,
                                        absl::StatusCode bad_code) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  std::string text(kMaxSidecarBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, &text[got], text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  int read_errno = errno;
  close(fd);
  if (got == 0 && read_errno != 0) return absl::ErrnoToStatus(read_errno, path);
  text.resize(got);
  std::vector<absl::string_view> words =
      absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  std::string hex = words.empty() ? "" : absl::AsciiStrToLower(words[0]);
  if (got > kMaxSidecarBytes ||
      !IsLowerHexDigest(HashAlgorithm::kSha256, hex)) {
    return absl::Status(bad_code,
                        absl::StrCat(path, ": not a sha256sum checksum file"));
  }
  return hex;
}

// Inspects one archive (and checks its sidecar). Reads the whole file.
IndexedArchive InspectOne(const ImageIndexOptions& options,
                          const std::string& name, FileStamp stamp,
                          FileStamp sidecar_stamp) {
  IndexedArchive a;
  a.file_name = name;
  a.path = absl::StrCat(options.dir, "/", name);
  a.stamp = stamp;
  a.sidecar_stamp = sidecar_stamp;
  a.has_sidecar = sidecar_stamp.size_bytes >= 0;
  InspectOptions inspect = options.inspect;
  inspect.display_name = a.path;
  absl::StatusOr<ArchiveInfo> info = InspectFile(a.path, inspect);
  if (!info.ok()) {
    a.status = info.status();
    return a;
  }
  a.info = *std::move(info);
  if (!a.has_sidecar) return a;
  std::string sidecar = a.path + kSidecarSuffix;
  absl::StatusOr<std::string> expected =
      ReadSidecar(sidecar, inspect.bad_archive_code);
  if (!expected.ok()) {
    a.status = expected.status();
    return a;
  }
  absl::Status s = VerifyDigest(a.info, HashAlgorithm::kSha256, *expected,
                                inspect.bad_archive_code);
  if (!s.ok()) {
    a.status = absl::Status(s.code(),
                            absl::StrCat(s.message(), " (from ", sidecar, ")"));
  }
  return a;
}

}  // namespace

std::string NormalizeRepoTag(absl::string_view ref) {
  if (absl::StrContains(ref, '@')) return std::string(ref);
  for (absl::string_view prefix :
       {"docker.io/library/", "index.docker.io/library/", "docker.io/",
        "index.docker.io/"}) {
    if (absl::ConsumePrefix(&ref, prefix)) break;
  }
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon == absl::string_view::npos ||
      (slash != absl::string_view::npos && colon < slash)) {
    return absl::StrCat(ref, ":latest");
  }
  return std::string(ref);
}

ImageIndex::ImageIndex(ImageIndexOptions options)
    : options_(std::move(options)) {}

absl::Status ImageIndex::Refresh() {
  int64_t scan = 0;
  Entries old;
  {
    absl::MutexLock lock(&mu_);
    scan = next_scan_++;
    old = entries_;
  }
  std::unique_ptr<DIR, DirClose> dir(opendir(options_.dir.c_str()));
  if (dir == nullptr) {
    return absl::ErrnoToStatus(errno, "image directory " + options_.dir);
  }
  Entries fresh;
  for (;;) {
    errno = 0;
    const dirent* de = readdir(dir.get());
    if (de == nullptr) break;
    std::string name = de->d_name;
    if (!IsArchiveName(name)) continue;
    std::string path = absl::StrCat(options_.dir, "/", name);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    FileStamp sidecar_stamp;
    struct stat sc;
    if (stat((path + kSidecarSuffix).c_str(), &sc) == 0 &&
        S_ISREG(sc.st_mode)) {
      sidecar_stamp = StampOf(sc);
    }
    auto it = old.find(name);
    if (it != old.end() && it->second.stamp == StampOf(st) &&
        it->second.sidecar_stamp == sidecar_stamp) {
      fresh[name] = std::move(it->second);
    } else {
      fresh[name] = InspectOne(options_, name, StampOf(st), sidecar_stamp);
    }
  }
  if (errno != 0) {
    return absl::ErrnoToStatus(errno, "image directory " + options_.dir);
  }
  absl::MutexLock lock(&mu_);
  if (scan > installed_scan_) {
    entries_ = std::move(fresh);
    installed_scan_ = scan;
  }
  return absl::OkStatus();
}

absl::StatusOr<IndexedArchive> ImageIndex::FindByGlanceId(
    absl::string_view glance_id) const {
  if (glance_id.empty() || glance_id[0] == '.' ||
      absl::StrContains(glance_id, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("glance id \"", glance_id, "\" is not a file name"));
  }
  absl::MutexLock lock(&mu_);
  for (absl::string_view suffix : kArchiveSuffixes) {
    auto it = entries_.find(absl::StrCat(glance_id, suffix));
    if (it == entries_.end()) continue;
    if (!it->second.status.ok()) return it->second.status;
    return it->second;
  }
  return absl::NotFoundError(absl::StrCat("no archive ", glance_id, ".tar, ",
                                          glance_id, ".tar.gz or ", glance_id,
                                          ".tgz in ", options_.dir));
}

absl::StatusOr<IndexedArchive> ImageIndex::FindByRepoTag(
    absl::string_view ref) const {
  std::string wanted = NormalizeRepoTag(ref);
  absl::MutexLock lock(&mu_);
  for (const auto& [name, archive] : entries_) {
    if (!archive.status.ok()) continue;
    for (const std::string& tag : archive.info.repo_tags) {
      if (NormalizeRepoTag(tag) == wanted) return archive;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no archive in ", options_.dir, " is tagged ", wanted));
}

std::vector<IndexedArchive> ImageIndex::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<IndexedArchive> out;
  out.reserve(entries_.size());
  for (const auto& [name, archive] : entries_) out.push_back(archive);
  return out;
}

}  // namespace novadock::loader
