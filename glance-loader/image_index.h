// ImageIndex: what the node's image directory (default
// /var/lib/novadock/images) holds, so the agent can find an archive by Glance
// id (`<id>.tar`, `<id>.tar.gz`, `<id>.tgz`) or by a repo tag from its
// manifest.
//
// Refresh() scans the directory: every regular file (symlinks followed) named
// *.tar, *.tar.gz or *.tgz, not starting with "." (so `.<id>.tar.partial`
// downloads are skipped), is inspected with InspectFile(). A sidecar
// `<file>.sha256` ("<hex>  <name>" as sha256sum writes it, or just "<hex>";
// the name is not checked) must match the computed sha256. A bad archive or
// sidecar is recorded with its error, not fatal for the index. Only files
// whose (size, mtime, inode) or sidecar changed are inspected again; vanished
// files are dropped.
//
// Thread-safe. No lock is held while files are read: Refresh() copies the
// index, scans and inspects unlocked, then installs its result unless a
// Refresh() that started later has installed one already.
#ifndef NOVADOCK_GLANCE_LOADER_IMAGE_INDEX_H_
#define NOVADOCK_GLANCE_LOADER_IMAGE_INDEX_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "glance-loader/archive_inspector.h"

namespace novadock::loader {

struct ImageIndexOptions {
  // The directory scanned. REQUIRES: non-empty.
  std::string dir = "/var/lib/novadock/images";
  // Used for every archive; display_name is ignored (the path is used).
  InspectOptions inspect;
};

// Identity of a file as stat() reports it; a change means "inspect again".
struct FileStamp {
  int64_t size_bytes = -1;
  int64_t mtime_nanos = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return size_bytes == o.size_bytes && mtime_nanos == o.mtime_nanos &&
           inode == o.inode;
  }
};

struct IndexedArchive {
  std::string path;       // dir + "/" + file_name.
  std::string file_name;  // "<glance id>.tar" for agent-managed archives.
  absl::Status status;    // OK, or why the archive (or its sidecar) is bad.
  ArchiveInfo info;       // Meaningful only when status is OK.
  bool has_sidecar = false;
  FileStamp stamp;          // Of the archive when inspected.
  FileStamp sidecar_stamp;  // size_bytes -1: no sidecar.
};

// "name" -> "name:latest"; drops "docker.io/library/", "docker.io/" and
// "index.docker.io/" prefixes as Docker does for RepoTags. Digest references
// ("name@sha256:...") are returned unchanged.
std::string NormalizeRepoTag(absl::string_view ref);

class ImageIndex {
 public:
  explicit ImageIndex(ImageIndexOptions options);
  ImageIndex(const ImageIndex&) = delete;
  ImageIndex& operator=(const ImageIndex&) = delete;

  // Scans the directory (see the file comment). Blocks for the inspection of
  // each new or changed archive (a full read of it). OK even if some archives
  // are bad. NOT_FOUND: no such directory. PERMISSION_DENIED: unreadable.
  // INTERNAL: other IO errors; the index is then left unchanged.
  [[nodiscard]] absl::Status Refresh();

  // The archive named `<glance_id>.tar` (else .tar.gz, else .tgz) as of the
  // last Refresh(). NOT_FOUND: none. INVALID_ARGUMENT: `glance_id` is empty,
  // starts with "." or has a "/". The recorded error's code (e.g.
  // FAILED_PRECONDITION) if the archive is bad. Does not block on IO.
  [[nodiscard]] absl::StatusOr<IndexedArchive> FindByGlanceId(
      absl::string_view glance_id) const;
  // The good archive whose manifest tags `ref` (both sides normalized by
  // NormalizeRepoTag); the first by file name if several. NOT_FOUND: none.
  [[nodiscard]] absl::StatusOr<IndexedArchive> FindByRepoTag(
      absl::string_view ref) const;
  // Every archive, good and bad, by file name.
  std::vector<IndexedArchive> List() const;

 private:
  using Entries = std::map<std::string, IndexedArchive>;  // By file name.

  const ImageIndexOptions options_;
  mutable absl::Mutex mu_;  // Guards the installed index and its sequence.
  Entries entries_ ABSL_GUARDED_BY(mu_);
  int64_t next_scan_ ABSL_GUARDED_BY(mu_) = 1;  // Sequence of the next scan.
  int64_t installed_scan_ ABSL_GUARDED_BY(mu_) = 0;  // Of entries_.
};

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_IMAGE_INDEX_H_
