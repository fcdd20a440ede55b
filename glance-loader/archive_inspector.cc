#include "glance-loader/archive_inspector.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/common/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace novadock::loader {
namespace {

constexpr size_t kChunkBytes = size_t{64} * 1024;
constexpr int64_t kMaxJsonBytes = kMiB;
constexpr int64_t kMaxRetainedBlobBytes = 8 * kMiB;
constexpr size_t kMaxPathBytes = 4096;
constexpr int kMaxSymlinkHops = 40;
// Bounds the entry table: paths and link targets of all entries together.
constexpr int64_t kMaxTotalPathBytes = 64 * kMiB;
constexpr char kManifestJson[] = "manifest.json";
constexpr char kIndexJson[] = "index.json";
constexpr char kOciBlobPrefix[] = "blobs/sha256/";

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveReadFree>;

// An open file descriptor, closed on destruction.
class FileSource final : public ByteSource {
 public:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileSource() override { close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    for (;;) {
      ssize_t n = read(fd_, buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return absl::ErrnoToStatus(errno, path_ + ": read");
    }
  }

 private:
  const int fd_;
  const std::string path_;
};

class BufferSource final : public ByteSource {
 public:
  explicit BufferSource(absl::string_view bytes) : rest_(bytes) {}
  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    size_t n = std::min(size, rest_.size());
    if (n > 0) std::memcpy(buf, rest_.data(), n);
    rest_.remove_prefix(n);
    return n;
  }

 private:
  absl::string_view rest_;
};

// Feeds libarchive from a ByteSource and hashes and counts the raw bytes.
class RawReader {
 public:
  RawReader(ByteSource& source, const std::vector<HashAlgorithm>& extra)
      : source_(source), buf_(kChunkBytes) {
    hashers_.emplace_back(HashAlgorithm::kSha256);
    for (HashAlgorithm algo : extra) {
      bool seen = false;
      for (const StreamingHasher& h : hashers_) seen |= h.algorithm() == algo;
      if (!seen) hashers_.emplace_back(algo);
    }
  }

  static la_ssize_t Callback(archive* a, void* self, const void** out) {
    return static_cast<RawReader*>(self)->Next(a, out);
  }
  // Reads what libarchive left unread (padding, trailing bytes) to the end.
  absl::Status Drain() {
    const void* ignored = nullptr;
    while (Next(nullptr, &ignored) > 0) {
    }
    return status_;
  }
  const absl::Status& status() const { return status_; }
  int64_t bytes() const { return bytes_; }
  absl::StatusOr<std::map<HashAlgorithm, std::string>> Finish() {
    std::map<HashAlgorithm, std::string> out;
    for (StreamingHasher& h : hashers_) {
      NOVADOCK_ASSIGN_OR_RETURN(out[h.algorithm()], h.Finish());
    }
    return out;
  }

 private:
  la_ssize_t Next(archive* a, const void** out) {
    if (!status_.ok()) return -1;
    absl::StatusOr<size_t> n = source_.Read(buf_.data(), buf_.size());
    if (!n.ok()) {
      status_ = n.status();
      if (a != nullptr) archive_set_error(a, EIO, "source read failed");
      return -1;
    }
    absl::string_view chunk(buf_.data(), *n);
    for (StreamingHasher& h : hashers_) h.Update(chunk);
    bytes_ += static_cast<int64_t>(*n);
    *out = buf_.data();
    return static_cast<la_ssize_t>(*n);
  }

  ByteSource& source_;
  std::vector<char> buf_;
  std::vector<StreamingHasher> hashers_;
  int64_t bytes_ = 0;
  absl::Status status_;  // First source error; sticky.
};

enum class EntryKind { kFile, kDir, kSymlink, kHardlink };

struct EntryRecord {
  EntryKind kind = EntryKind::kFile;
  std::string target;  // Symlink: as written. Hardlink: the file's path.
  int64_t size = 0;
  bool digest_checked = false;  // Small digest-named file, hashed.
  bool digest_matches = false;
  bool json_object = false;  // Hashed and starts with '{'.
};

// The hex digest in a digest-named path ("<hex>.json" at the root or
// "blobs/sha256/<hex>"), or "" if the path is not one.
std::string DigestInName(absl::string_view path) {
  absl::string_view hex;
  if (absl::StartsWith(path, kOciBlobPrefix)) {
    hex = path.substr(std::strlen(kOciBlobPrefix));
  } else if (path.find('/') == absl::string_view::npos &&
             absl::EndsWith(path, ".json")) {
    hex = path.substr(0, path.size() - 5);
  }
  return IsLowerHexDigest(HashAlgorithm::kSha256, hex) ? std::string(hex) : "";
}

bool StartsWithBrace(absl::string_view s) {
  s = absl::StripLeadingAsciiWhitespace(s);
  return !s.empty() && s.front() == '{';
}

// ---- JSON shapes (untrusted: every type is checked before Get*()) --------

// What a manifest names: the config and layer paths, and the tags.
struct ImageManifest {
  std::string config;
  std::vector<std::string> layers;
  std::vector<std::string> repo_tags;
};

absl::StatusOr<rapidjson::Document> ParseJson(absl::string_view what,
                                              absl::string_view text) {
  rapidjson::Document doc;
  // Iterative: deep nesting cannot exhaust the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is not valid JSON (",
                     rapidjson::GetParseError_En(doc.GetParseError()),
                     " at offset ", doc.GetErrorOffset(), ")"));
  }
  return doc;
}

std::string Str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

// `key` of object `obj` matched as Go's encoding/json (and so `docker load`)
// matches it: case-insensitively. nullptr if absent; an error if two keys
// match, since Go would take the last and we might check the other.
absl::StatusOr<const rapidjson::Value*> Member(absl::string_view what,
                                               const rapidjson::Value& obj,
                                               absl::string_view key) {
  const rapidjson::Value* found = nullptr;
  for (const auto& m : obj.GetObject()) {
    absl::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (!absl::EqualsIgnoreCase(name, key)) continue;
    if (found != nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " has key ", key, " twice"));
    }
    found = &m.value;
  }
  return found;
}

// A string member; "" with `optional` when absent or null.
absl::StatusOr<std::string> StringMember(absl::string_view what,
                                         const rapidjson::Value& obj,
                                         absl::string_view key,
                                         bool optional = false) {
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* v, Member(what, obj, key));
  if (optional && (v == nullptr || v->IsNull())) return std::string();
  if (v == nullptr || !v->IsString()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ", key, " is not a string"));
  }
  return Str(*v);
}

// An array of strings (absent or null: empty).
absl::StatusOr<std::vector<std::string>> StringsMember(
    absl::string_view what, const rapidjson::Value& obj,
    absl::string_view key) {
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* v, Member(what, obj, key));
  std::vector<std::string> out;
  if (v == nullptr || v->IsNull()) return out;
  bool ok = v->IsArray();
  if (ok) {
    for (const rapidjson::Value& s : v->GetArray()) {
      if (!s.IsString()) ok = false;
      if (ok) out.push_back(Str(s));
    }
  }
  if (!ok) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": ", key, " is not an array of strings"));
  }
  return out;
}

// The blob path of an OCI descriptor object's "sha256:<hex>" digest.
absl::StatusOr<std::string> DescriptorBlob(absl::string_view what,
                                           const rapidjson::Value& desc) {
  if (!desc.IsObject()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is not an object"));
  }
  NOVADOCK_ASSIGN_OR_RETURN(std::string digest,
                            StringMember(what, desc, "digest"));
  absl::string_view hex = digest;
  if (!absl::ConsumePrefix(&hex, "sha256:") ||
      !IsLowerHexDigest(HashAlgorithm::kSha256, hex)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": digest is not sha256:<64 hex>"));
  }
  return absl::StrCat(kOciBlobPrefix, hex);
}

// manifest.json: an array of exactly one {Config, RepoTags, Layers}.
absl::StatusOr<ImageManifest> ParseDockerManifest(absl::string_view text) {
  NOVADOCK_ASSIGN_OR_RETURN(rapidjson::Document doc,
                            ParseJson(kManifestJson, text));
  if (!doc.IsArray()) {
    return absl::FailedPreconditionError("manifest.json is not a JSON array");
  }
  if (doc.Size() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest.json lists ", doc.Size(),
                     " images; one image per archive is supported"));
  }
  const rapidjson::Value& image = doc[0];
  if (!image.IsObject()) {
    return absl::FailedPreconditionError(
        "manifest.json: image entry is not an object");
  }
  ImageManifest m;
  NOVADOCK_ASSIGN_OR_RETURN(m.config,
                            StringMember(kManifestJson, image, "Config"));
  NOVADOCK_ASSIGN_OR_RETURN(m.repo_tags,
                            StringsMember(kManifestJson, image, "RepoTags"));
  NOVADOCK_ASSIGN_OR_RETURN(m.layers,
                            StringsMember(kManifestJson, image, "Layers"));
  return m;
}

// index.json: one manifest descriptor; returns its blob path and the tags.
absl::StatusOr<ImageManifest> ParseOciIndex(absl::string_view text,
                                            std::string* manifest_blob) {
  NOVADOCK_ASSIGN_OR_RETURN(rapidjson::Document doc,
                            ParseJson(kIndexJson, text));
  if (!doc.IsObject()) {
    return absl::FailedPreconditionError("index.json is not a JSON object");
  }
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* list,
                            Member(kIndexJson, doc, "manifests"));
  if (list == nullptr || !list->IsArray() || list->Size() != 1) {
    return absl::FailedPreconditionError(
        "index.json: manifests is not an array of one descriptor");
  }
  const rapidjson::Value& desc = (*list)[0];
  NOVADOCK_ASSIGN_OR_RETURN(*manifest_blob,
                            DescriptorBlob("index.json manifest", desc));
  NOVADOCK_ASSIGN_OR_RETURN(
      std::string media_type,
      StringMember(kIndexJson, desc, "mediaType", /*optional=*/true));
  if (absl::StrContains(media_type, "index") ||
      absl::StrContains(media_type, "manifest.list")) {
    return absl::FailedPreconditionError(
        "index.json points to a nested image index (multi-platform); save "
        "one platform");
  }
  ImageManifest m;
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* notes,
                            Member(kIndexJson, desc, "annotations"));
  if (notes != nullptr && notes->IsObject()) {
    NOVADOCK_ASSIGN_OR_RETURN(
        std::string name,
        StringMember(kIndexJson, *notes, "io.containerd.image.name", true));
    NOVADOCK_ASSIGN_OR_RETURN(
        std::string ref,
        StringMember(kIndexJson, *notes, "org.opencontainers.image.ref.name",
                     true));
    if (name.empty() && absl::StrContains(ref, ':')) name = ref;
    if (!name.empty()) m.repo_tags.push_back(name);
  }
  return m;
}

// An OCI image manifest blob: config and layers descriptors.
absl::Status ParseOciManifest(absl::string_view text, ImageManifest& m) {
  NOVADOCK_ASSIGN_OR_RETURN(rapidjson::Document doc,
                            ParseJson("image manifest", text));
  if (!doc.IsObject()) {
    return absl::FailedPreconditionError("image manifest is not an object");
  }
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* config,
                            Member("image manifest", doc, "config"));
  NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* layers,
                            Member("image manifest", doc, "layers"));
  if (config == nullptr || layers == nullptr || !layers->IsArray()) {
    return absl::FailedPreconditionError(
        "image manifest lacks a config object or a layers array");
  }
  NOVADOCK_ASSIGN_OR_RETURN(m.config,
                            DescriptorBlob("image manifest config", *config));
  for (const rapidjson::Value& layer : layers->GetArray()) {
    NOVADOCK_ASSIGN_OR_RETURN(std::string blob,
                              DescriptorBlob("image manifest layer", layer));
    m.layers.push_back(std::move(blob));
  }
  return absl::OkStatus();
}

// The number of rootfs.diff_ids of an image config.
absl::StatusOr<size_t> ConfigLayerCount(absl::string_view text) {
  NOVADOCK_ASSIGN_OR_RETURN(rapidjson::Document doc, ParseJson("it", text));
  const rapidjson::Value* diff_ids = nullptr;
  if (doc.IsObject()) {
    NOVADOCK_ASSIGN_OR_RETURN(const rapidjson::Value* rootfs,
                              Member("it", doc, "rootfs"));
    if (rootfs != nullptr && rootfs->IsObject()) {
      NOVADOCK_ASSIGN_OR_RETURN(diff_ids, Member("it", *rootfs, "diff_ids"));
    }
  }
  if (diff_ids == nullptr || !diff_ids->IsArray()) {
    return absl::FailedPreconditionError("it has no rootfs.diff_ids array");
  }
  return diff_ids->Size();
}

// One inspection: the entries seen so far and what is kept of them.
class Inspection {
 public:
  Inspection(std::string name, const InspectOptions& options)
      : name_(std::move(name)), options_(options), chunk_(kChunkBytes) {}

  absl::StatusOr<ArchiveInfo> Run(ByteSource& source) {
    RawReader raw(source, options_.extra_digests);
    ArchivePtr a(archive_read_new());
    if (a == nullptr) return absl::InternalError("archive_read_new failed");
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_gzip(a.get());
    if (archive_read_open(a.get(), &raw, nullptr, &RawReader::Callback,
                          nullptr) != ARCHIVE_OK) {
      return LibarchiveError(a.get(), raw);
    }
    NOVADOCK_RETURN_IF_ERROR(ReadEntries(a.get(), raw));
    a.reset();
    NOVADOCK_RETURN_IF_ERROR(raw.Drain());
    ArchiveInfo info;
    NOVADOCK_RETURN_IF_ERROR(Describe(info));
    info.display_name = name_;
    info.entry_count = entry_count_;
    info.uncompressed_bytes = data_bytes_;
    info.file_size_bytes = raw.bytes();
    NOVADOCK_ASSIGN_OR_RETURN(info.digests_hex, raw.Finish());
    info.sha256_hex = info.digests_hex[HashAlgorithm::kSha256];
    return info;
  }

 private:
  absl::Status Bad(absl::string_view reason) const {
    return absl::Status(options_.bad_archive_code,
                        absl::StrCat(name_, ": ", reason));
  }
  absl::Status LibarchiveError(archive* a, const RawReader& raw) const {
    if (!raw.status().ok()) return raw.status();
    const char* msg = archive_error_string(a);
    return Bad(absl::StrCat("not a valid tar archive (",
                            msg != nullptr ? msg : "unknown error", ")"));
  }

  absl::Status ReadEntries(archive* a, RawReader& raw) {
    for (;;) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) return absl::OkStatus();
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return LibarchiveError(a, raw);
      NOVADOCK_RETURN_IF_ERROR(AddEntry(a, e, raw));
    }
  }

  absl::Status AddEntry(archive* a, archive_entry* e, RawReader& raw) {
    if (++entry_count_ > options_.max_entries) {
      return Bad(absl::StrCat("more than ", options_.max_entries, " entries"));
    }
    const char* raw_path = archive_entry_pathname(e);
    if (raw_path == nullptr) return Bad("entry without a path");
    NOVADOCK_ASSIGN_OR_RETURN(std::string path, NormalizeEntryPath(raw_path));
    EntryRecord rec;
    rec.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (rec.size > options_.max_uncompressed_bytes - data_bytes_) {
      return TooBig();
    }
    const char* hardlink = archive_entry_hardlink(e);
    if (hardlink != nullptr) {
      NOVADOCK_RETURN_IF_ERROR(CheckHardlink(path, hardlink, rec));
    } else {
      NOVADOCK_RETURN_IF_ERROR(CheckType(path, e, rec));
    }
    if (path.empty()) {
      if (rec.kind != EntryKind::kDir) return Bad("entry with an empty path");
      return ReadData(a, raw, nullptr);
    }
    auto it = entries_.find(path);
    if (it != entries_.end() &&
        (it->second.kind != EntryKind::kDir || rec.kind != EntryKind::kDir)) {
      return Bad(absl::StrCat("duplicate entry ", path));
    }
    std::string content;
    bool keep = rec.kind == EntryKind::kFile &&
                (path == kManifestJson || path == kIndexJson ||
                 (!DigestInName(path).empty() && rec.size <= kMaxJsonBytes));
    if (rec.kind == EntryKind::kFile &&
        (path == kManifestJson || path == kIndexJson) &&
        rec.size > kMaxJsonBytes) {
      return Bad(absl::StrCat(path, " is larger than 1 MiB"));
    }
    NOVADOCK_RETURN_IF_ERROR(ReadData(a, raw, keep ? &content : nullptr));
    if (keep) {
      if (static_cast<int64_t>(content.size()) > kMaxJsonBytes) {
        return Bad(absl::StrCat(path, " is larger than 1 MiB"));
      }
      NOVADOCK_RETURN_IF_ERROR(Keep(path, std::move(content), rec));
    }
    path_bytes_ += static_cast<int64_t>(path.size() + rec.target.size());
    if (path_bytes_ > kMaxTotalPathBytes) {
      return Bad("entry paths over 64 MiB in all");
    }
    entries_[path] = std::move(rec);
    return absl::OkStatus();
  }

  // Hashes a digest-named file and keeps what may be needed later.
  absl::Status Keep(const std::string& path, std::string content,
                    EntryRecord& rec) {
    std::string hex = DigestInName(path);
    if (!hex.empty()) {
      NOVADOCK_ASSIGN_OR_RETURN(std::string actual,
                                HexDigest(HashAlgorithm::kSha256, content));
      rec.digest_checked = true;
      rec.digest_matches = actual == hex;
      rec.json_object = StartsWithBrace(content);
      if (!rec.json_object || !rec.digest_matches) return absl::OkStatus();
      if (retained_blob_bytes_ + static_cast<int64_t>(content.size()) >
          kMaxRetainedBlobBytes) {
        return absl::OkStatus();  // Reported if the blob is needed.
      }
      retained_blob_bytes_ += static_cast<int64_t>(content.size());
    }
    kept_[path] = std::move(content);
    return absl::OkStatus();
  }

  absl::Status CheckHardlink(const std::string& path, const char* target,
                             EntryRecord& rec) {
    absl::StatusOr<std::string> norm = NormalizeEntryPath(target);
    if (!norm.ok()) {
      return Bad(absl::StrCat("hardlink ", path, " -> ", target,
                              ": target is absolute or has \"..\""));
    }
    auto it = entries_.find(*norm);
    if (it == entries_.end() || (it->second.kind != EntryKind::kFile &&
                                 it->second.kind != EntryKind::kHardlink)) {
      return Bad(absl::StrCat("hardlink ", path, " -> ", target,
                              ": target is not a file earlier in the archive"));
    }
    rec.kind = EntryKind::kHardlink;
    rec.target =
        it->second.kind == EntryKind::kHardlink ? it->second.target : *norm;
    return absl::OkStatus();
  }

  absl::Status CheckType(const std::string& path, archive_entry* e,
                         EntryRecord& rec) {
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        rec.kind = EntryKind::kFile;
        return absl::OkStatus();
      case AE_IFDIR:
        rec.kind = EntryKind::kDir;
        return absl::OkStatus();
      case AE_IFLNK:
        rec.kind = EntryKind::kSymlink;
        return CheckSymlink(path, archive_entry_symlink(e), rec);
      case AE_IFCHR:
      case AE_IFBLK:
        return Bad(absl::StrCat("device entry ", path));
      case AE_IFIFO:
        return Bad(absl::StrCat("fifo entry ", path));
      case AE_IFSOCK:
        return Bad(absl::StrCat("socket entry ", path));
      default:
        return Bad(absl::StrCat("entry ", path, " of unsupported type"));
    }
  }

  absl::Status CheckSymlink(const std::string& path, const char* target,
                            EntryRecord& rec) {
    if (target == nullptr || *target == '\0') {
      return Bad(absl::StrCat("symlink ", path, " has an empty target"));
    }
    if (std::strlen(target) > kMaxPathBytes) {
      return Bad(absl::StrCat("symlink ", path, " target over 4096 bytes"));
    }
    if (target[0] == '/') {
      return Bad(
          absl::StrCat("symlink ", path, " -> ", target, ": absolute target"));
    }
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    parts.pop_back();
    for (absl::string_view p : absl::StrSplit(target, '/')) {
      parts.emplace_back(p);
    }
    absl::StatusOr<std::string> resolved = Resolve(std::move(parts));
    if (!resolved.ok()) {
      return Bad(absl::StrCat("symlink ", path, " -> ", target, ": ",
                              resolved.status().message()));
    }
    rec.target = target;
    return absl::OkStatus();
  }

  // Reads an entry's data in chunks; appends it to `out` when not null.
  absl::Status ReadData(archive* a, RawReader& raw, std::string* out) {
    for (;;) {
      la_ssize_t n = archive_read_data(a, chunk_.data(), chunk_.size());
      if (n < 0) return LibarchiveError(a, raw);
      if (n == 0) return absl::OkStatus();
      data_bytes_ += n;
      if (data_bytes_ > options_.max_uncompressed_bytes) return TooBig();
      if (options_.bomb_ratio > 0 &&
          data_bytes_ > options_.bomb_min_uncompressed_bytes &&
          data_bytes_ / options_.bomb_ratio > raw.bytes()) {
        return Bad(absl::StrCat(
            "compression ratio over ", options_.bomb_ratio, ":1 (", data_bytes_,
            " bytes from ", raw.bytes(), "): refused as a likely gzip bomb"));
      }
      if (out != nullptr) out->append(chunk_.data(), static_cast<size_t>(n));
    }
  }

  absl::Status TooBig() const {
    return Bad(absl::StrCat("more than ", options_.max_uncompressed_bytes,
                            " bytes uncompressed"));
  }

  // "./a//b" -> "a/b"; refuses absolute paths and "..".
  absl::StatusOr<std::string> NormalizeEntryPath(absl::string_view p) const {
    if (p.size() > kMaxPathBytes) {
      return Bad(absl::StrCat("path over 4096 bytes: ", p.substr(0, 64), "…"));
    }
    if (absl::StartsWith(p, "/")) return Bad(absl::StrCat("absolute path ", p));
    std::vector<absl::string_view> out;
    for (absl::string_view c : absl::StrSplit(p, '/')) {
      if (c.empty() || c == ".") continue;
      if (c == "..") return Bad(absl::StrCat("path with \"..\": ", p));
      out.push_back(c);
    }
    return absl::StrJoin(out, "/");
  }

  // Resolves path components against the symlinks seen so far. Errors are
  // plain reasons (the caller adds the name): escaping the root, loops.
  absl::StatusOr<std::string> Resolve(std::vector<std::string> pending) const {
    std::vector<std::string> out;
    int hops = 0;
    std::reverse(pending.begin(), pending.end());  // A stack: back is next.
    while (!pending.empty()) {
      std::string c = std::move(pending.back());
      pending.pop_back();
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        if (out.empty()) {
          return absl::FailedPreconditionError("escapes the archive root");
        }
        out.pop_back();
        continue;
      }
      out.push_back(std::move(c));
      auto it = entries_.find(absl::StrJoin(out, "/"));
      if (it == entries_.end() || it->second.kind != EntryKind::kSymlink) {
        continue;
      }
      if (++hops > kMaxSymlinkHops) {
        return absl::FailedPreconditionError(
            "too many levels of symbolic links");
      }
      out.pop_back();
      std::vector<std::string> target = absl::StrSplit(it->second.target, '/');
      for (auto t = target.rbegin(); t != target.rend(); ++t) {
        pending.push_back(std::move(*t));
      }
    }
    return absl::StrJoin(out, "/");
  }

  // The regular file that `path` (as named by `lister`) ends at.
  absl::StatusOr<std::pair<std::string, const EntryRecord*>> FindFile(
      absl::string_view lister, const std::string& path) const {
    std::string named = absl::StrCat(lister, " lists ", path);
    if (absl::StartsWith(path, "/") || path.size() > kMaxPathBytes) {
      return Bad(absl::StrCat(named, ": not a relative path"));
    }
    absl::StatusOr<std::string> resolved = Resolve(absl::StrSplit(path, '/'));
    if (!resolved.ok()) {
      return Bad(absl::StrCat(named, ": ", resolved.status().message()));
    }
    auto it = entries_.find(*resolved);
    if (it != entries_.end() && it->second.kind == EntryKind::kHardlink) {
      it = entries_.find(it->second.target);
    }
    if (it == entries_.end() || it->second.kind != EntryKind::kFile) {
      return Bad(absl::StrCat(named, ", missing"));
    }
    return std::make_pair(it->first, &it->second);
  }

  absl::Status Describe(ArchiveInfo& info) const;
  absl::StatusOr<ImageManifest> ReadOciIndex() const;
  absl::StatusOr<const std::string*> VerifiedJsonBlob(absl::string_view lister,
                                                      const std::string& path,
                                                      absl::string_view what,
                                                      std::string* hex) const;

  const std::string name_;
  const InspectOptions& options_;
  std::vector<char> chunk_;                     // Entry data buffer.
  std::map<std::string, EntryRecord> entries_;  // By normalized path.
  std::map<std::string, std::string> kept_;     // Path -> kept content.
  int64_t retained_blob_bytes_ = 0;
  int64_t entry_count_ = 0;
  int64_t data_bytes_ = 0;
  int64_t path_bytes_ = 0;  // Of entries_ keys and targets.
};

absl::Status Inspection::Describe(ArchiveInfo& info) const {
  bool has_manifest = entries_.count(kManifestJson) > 0;
  bool has_index = entries_.count(kIndexJson) > 0;
  if (!has_manifest && !has_index) {
    return Bad("no manifest.json or index.json: not a docker save archive");
  }
  info.format = has_index ? ArchiveFormat::kOci : ArchiveFormat::kLegacy;
  // manifest.json is what `docker load` reads, so it wins over index.json.
  absl::string_view lister = has_manifest ? "manifest" : "index.json";
  ImageManifest m;
  if (has_manifest) {
    auto kept = kept_.find(kManifestJson);
    if (kept == kept_.end()) return Bad("manifest.json is not a regular file");
    absl::StatusOr<ImageManifest> parsed = ParseDockerManifest(kept->second);
    if (!parsed.ok()) return Bad(parsed.status().message());
    m = *std::move(parsed);
  } else {
    NOVADOCK_ASSIGN_OR_RETURN(m, ReadOciIndex());
    lister = "image manifest";
  }
  for (const std::string& layer : m.layers) {
    NOVADOCK_ASSIGN_OR_RETURN(auto found, FindFile(lister, layer));
    if (found.second->digest_checked && !found.second->digest_matches) {
      return Bad(absl::StrCat("layer ", layer,
                              ": sha256 of its content is not ",
                              DigestInName(found.first)));
    }
  }
  std::string hex;
  NOVADOCK_ASSIGN_OR_RETURN(const std::string* config,
                            VerifiedJsonBlob(lister, m.config, "config", &hex));
  absl::StatusOr<size_t> diff_ids = ConfigLayerCount(*config);
  if (!diff_ids.ok()) {
    return Bad(
        absl::StrCat("config ", m.config, ": ", diff_ids.status().message()));
  }
  if (*diff_ids != m.layers.size()) {
    return Bad(absl::StrCat("config ", m.config, " lists ", *diff_ids,
                            " layers (rootfs.diff_ids), ", lister, " lists ",
                            m.layers.size()));
  }
  info.repo_tags = std::move(m.repo_tags);
  info.image_id = absl::StrCat("sha256:", hex);
  info.config_digest = info.image_id;
  info.config_path = std::move(m.config);
  info.layers = std::move(m.layers);
  return absl::OkStatus();
}

absl::StatusOr<ImageManifest> Inspection::ReadOciIndex() const {
  auto kept = kept_.find(kIndexJson);
  if (kept == kept_.end()) return Bad("index.json is not a regular file");
  std::string blob;
  absl::StatusOr<ImageManifest> m = ParseOciIndex(kept->second, &blob);
  if (!m.ok()) return Bad(m.status().message());
  std::string hex;
  NOVADOCK_ASSIGN_OR_RETURN(
      const std::string* text,
      VerifiedJsonBlob(kIndexJson, blob, "image manifest", &hex));
  absl::Status s = ParseOciManifest(*text, *m);
  if (!s.ok()) return Bad(s.message());
  return m;
}

// The kept content of a digest-named JSON blob, after checking its digest.
absl::StatusOr<const std::string*> Inspection::VerifiedJsonBlob(
    absl::string_view lister, const std::string& path, absl::string_view what,
    std::string* hex) const {
  NOVADOCK_ASSIGN_OR_RETURN(auto found, FindFile(lister, path));
  const auto& [resolved, rec] = found;
  std::string named = absl::StrCat(what, " ", path);
  *hex = DigestInName(resolved);
  if (hex->empty()) {
    return Bad(absl::StrCat(named, " is not named by its sha256 digest"));
  }
  if (!rec->digest_checked) {
    return Bad(absl::StrCat(named, " is larger than 1 MiB"));
  }
  if (!rec->digest_matches) {
    return Bad(absl::StrCat(named, ": sha256 of its content is not ", *hex));
  }
  if (!rec->json_object) return Bad(absl::StrCat(named, " is not JSON"));
  auto kept = kept_.find(resolved);
  if (kept == kept_.end()) {
    return Bad(absl::StrCat(named, " not kept: JSON blobs over 8 MiB in all"));
  }
  return &kept->second;
}

}  // namespace

absl::string_view ArchiveFormatName(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kLegacy:
      return "legacy";
    case ArchiveFormat::kOci:
      return "oci";
  }
  return "unknown";
}

absl::StatusOr<ArchiveInfo> InspectFile(const std::string& path,
                                        const InspectOptions& options) {
  std::string name = options.display_name.empty() ? path : options.display_name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, name);
  FileSource source(fd, name);
  struct stat st;
  if (fstat(fd, &st) != 0) return absl::ErrnoToStatus(errno, name);
  if (S_ISDIR(st.st_mode)) {
    return absl::Status(options.bad_archive_code,
                        absl::StrCat(name, ": is a directory"));
  }
  return Inspection(std::move(name), options).Run(source);
}

absl::StatusOr<ArchiveInfo> InspectBuffer(absl::string_view bytes,
                                          const InspectOptions& options) {
  BufferSource source(bytes);
  return InspectSource(source, options);
}

absl::StatusOr<ArchiveInfo> InspectSource(ByteSource& source,
                                          const InspectOptions& options) {
  std::string name =
      options.display_name.empty() ? "archive" : options.display_name;
  return Inspection(std::move(name), options).Run(source);
}

absl::Status VerifyDigest(const ArchiveInfo& info, HashAlgorithm algo,
                          absl::string_view expected_hex,
                          absl::StatusCode code) {
  auto it = info.digests_hex.find(algo);
  if (it == info.digests_hex.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        info.display_name, ": no ", HashAlgorithmName(algo),
        " digest computed; add it to InspectOptions::extra_digests"));
  }
  if (absl::AsciiStrToLower(expected_hex) == it->second) {
    return absl::OkStatus();
  }
  return absl::Status(
      code, absl::StrCat(info.display_name, ": ", HashAlgorithmName(algo),
                         " checksum mismatch: expected ", expected_hex,
                         ", got ", it->second));
}

}  // namespace novadock::loader
