// GlanceFetcher: puts a Glance image into the node's image directory as
// `<dir>/<id>.tar`, downloading it at most once.
//
// A download streams into `<dir>/.<id>.tar.partial.<random>` (O_EXCL, 0640;
// ImageIndex skips dot files) while md5, the image's os_hash_algo (sha512 by
// Glance's default) and sha256 are computed. Glance's `checksum` and
// `os_hash_value` are verified when present (at least one must be). Then the
// data is fsynced, the sidecar `<id>.tar.sha256` ("<sha256 hex>  <id>.tar\n")
// is written and fsynced under a temporary name, renamed into place FIRST, and
// the archive renamed SECOND, then the directory is fsynced. So `<id>.tar`
// never appears next to a sidecar that does not describe it: a crash between
// the renames leaves only a sidecar without archive, which ImageIndex ignores
// and the next fetch replaces. (Glance image data is immutable once active,
// so a sidecar for the same id always describes the same bytes.) On any
// failure the temporary files are removed and nothing new is left in `dir`.
//
// Thread-safe. Concurrent Fetch() calls for one id share a single download:
// the first does it, the others wait for its result (success or error).
// Different ids download in parallel. No lock is held during IO.
// `glance` (and options.clock, if set) must outlive the fetcher.
#ifndef NOVADOCK_GLANCE_LOADER_GLANCE_FETCHER_H_
#define NOVADOCK_GLANCE_LOADER_GLANCE_FETCHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "glance-loader/glance_client.h"
#include "proto/common/clock.h"

namespace novadock::loader {

struct FetcherOptions {
  // The node's image directory. REQUIRES: an existing directory on one file
  // system (rename is atomic only within it).
  std::string image_dir = "/var/lib/novadock/images";
  // Images whose declared size, or whose data as it streams, exceed this
  // many bytes are refused (RESOURCE_EXHAUSTED). Default 64 GiB. > 0.
  int64_t max_bytes = int64_t{64} << 30;
  // Used only to log how long a download took; nullptr: not logged.
  Clock* clock = nullptr;
};

class GlanceFetcher {
 public:
  GlanceFetcher(GlanceClient& glance, FetcherOptions options);
  GlanceFetcher(const GlanceFetcher&) = delete;
  GlanceFetcher& operator=(const GlanceFetcher&) = delete;

  // The path of `<dir>/<glance_id>.tar`. If that file exists it is returned
  // at once, without asking Glance (and so without checking `token`);
  // otherwise the image is downloaded and verified first. Blocks for the
  // download, or while another caller downloads the same id. Idempotent.
  //   INVALID_ARGUMENT     glance_id is not a lower-case uuid.
  //   FAILED_PRECONDITION  the image is not "active"; its container_format
  //                        is not "docker" (novadock runs docker-save
  //                        archives only); it has neither checksum nor
  //                        os_hash, or an os_hash_algo we cannot compute; a
  //                        checksum mismatch ("glance image <id>: sha512
  //                        checksum mismatch: expected X, got Y"); more data
  //                        than declared; `<id>.tar` is not a regular file.
  //   RESOURCE_EXHAUSTED   larger than options.max_bytes; the disk is full.
  //   UNAVAILABLE          fewer bytes than declared (short download), or
  //                        as GlanceClient (no connection, 5xx).
  //   INTERNAL             a file system call failed.
  // NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED, DEADLINE_EXCEEDED: as
  // GlanceClient (glance_client.h) returns them.
  [[nodiscard]] absl::StatusOr<std::string> Fetch(absl::string_view glance_id,
                                                  absl::string_view token);

  // "<dir>/<glance_id>.tar", the path Fetch() returns.
  std::string ArchivePath(absl::string_view glance_id) const;

  // Waits up to `timeout` until `n` callers wait for the download of `id`
  // that another caller runs. True if they do.
  bool AwaitWaitersForTest(absl::string_view id, int n, absl::Duration timeout);

 private:
  // One download, shared by every concurrent Fetch() of an id. Its fields
  // are guarded by mu_.
  struct Flight {
    bool done = false;
    int waiters = 0;
    absl::StatusOr<std::string> result;
  };

  // The leader's part of Fetch(): re-checks the directory, downloads,
  // verifies and installs.
  [[nodiscard]] absl::StatusOr<std::string> FetchUnshared(
      const std::string& id, absl::string_view token);

  GlanceClient& glance_;
  const FetcherOptions options_;
  absl::Mutex mu_;  // Guards flights_ and the Flights in it.
  std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::loader

#endif  // NOVADOCK_GLANCE_LOADER_GLANCE_FETCHER_H_
