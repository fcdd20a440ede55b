// GlanceFixture: a private Glance API (Debian's glance-api, Zed) for one test
// binary, on 127.0.0.1 at a free port, without keystone, in a temporary
// directory D (/tmp/ng.XXXXXX) that holds everything it writes:
//
//   D/glance-api.conf   written here: bind 127.0.0.1:<port>, workers = 0 (one
//                       process), sqlite D/glance.sqlite (WAL), file store
//                       D/images, staging D/staging, tasks D/tasks, locks
//                       D/lock, log D/glance-api.log, [paste_deploy] flavor
//                       empty (noauth: every request is an admin without
//                       roles), hashing_algorithm from Options.
//   D/policy.yaml       opens publicize/communitize_image to the noauth
//                       context (it has no roles).
//
// Start() runs `glance-manage --config-file D/glance-api.conf db_sync`,
// `sqlite3 D/glance.sqlite "PRAGMA journal_mode=WAL;"`, then starts
// `glance-api --config-file D/glance-api.conf`, each by fork+execve from an
// argv vector (no shell) in its own session, with every fd above 2 closed and
// output appended to D/<program>.out, and waits for GET /versions.
//
// The packages must be installed (deployment/install-deps.sh installs
// glance-api and sqlite3); the fixture installs nothing.
//
// Requests here use plain libcurl, independent of the client under test.
// Not thread-safe: one thread drives a fixture. Every wait is bounded.
#ifndef NOVADOCK_TESTS_GLANCE_FIXTURE_H_
#define NOVADOCK_TESTS_GLANCE_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace novadock::testing {

class GlanceFixture {
 public:
  struct Options {
    // Glance's `hashing_algorithm`, the os_hash_algo of new images.
    std::string hashing_algorithm = "sha512";
  };

  GlanceFixture() : GlanceFixture(Options()) {}
  explicit GlanceFixture(Options options) : options_(std::move(options)) {}
  // Stop()s; errors are printed to stderr.
  ~GlanceFixture();
  GlanceFixture(const GlanceFixture&) = delete;
  GlanceFixture& operator=(const GlanceFixture&) = delete;

  // Creates D, syncs the database and starts glance-api, waiting up to 60 s
  // for GET /versions. OK if already running. FAILED_PRECONDITION:
  // glance-api, glance-manage or sqlite3 is not installed. UNAVAILABLE:
  // glance-api exited or did not answer in time (the message holds the tail
  // of its log). INTERNAL: db_sync or a syscall failed.
  [[nodiscard]] absl::Status Start();
  // SIGTERM to glance-api's process group, up to 10 s, then SIGKILL; then
  // removes D. Idempotent. INTERNAL: D could not be removed.
  [[nodiscard]] absl::Status Stop();
  // Stops glance-api but keeps D, its port and its images; Start() again
  // resumes. OK if not running.
  [[nodiscard]] absl::Status Kill();

  // "http://127.0.0.1:<port>". REQUIRES: Start() was called.
  std::string endpoint() const;
  int port() const { return port_; }
  // D; empty before Start() and after Stop().
  const std::string& dir() const { return dir_; }
  // Where the file store keeps image `id`'s data.
  std::string StoredImagePath(absl::string_view id) const;
  pid_t pid() const { return pid_; }
  // How long the last Start() took: db_sync, WAL, spawn and first answer.
  absl::Duration start_duration() const { return start_duration_; }

  // POST /v2/images with a new random id; returns the id. The image is
  // "queued" until uploaded. Any non-201 answer is INTERNAL with its body.
  [[nodiscard]] absl::StatusOr<std::string> CreateImage(
      absl::string_view name, absl::string_view container_format = "docker",
      absl::string_view disk_format = "raw");
  // PUT /v2/images/<id>/file (application/octet-stream); Glance then
  // computes checksum and os_hash and makes the image "active".
  [[nodiscard]] absl::Status UploadImage(absl::string_view id,
                                         absl::string_view bytes);
  [[nodiscard]] absl::Status UploadImageFile(absl::string_view id,
                                             const std::string& path);

 private:
  [[nodiscard]] absl::Status CreateDir();
  [[nodiscard]] absl::Status WriteConfig();
  [[nodiscard]] absl::Status SpawnGlanceApi();
  [[nodiscard]] absl::Status WaitForVersions(absl::Duration timeout);
  bool SignalAndReap(int signal, absl::Duration timeout);
  std::string LogTail() const;

  const Options options_;
  std::string dir_;  // D; empty until created.
  int port_ = 0;
  pid_t pid_ = 0;  // glance-api, our child; 0: not running.
  absl::Duration start_duration_;
};

// One glance-api shared by every test of the binary: started on first use,
// stopped by a gtest Environment registered when this file is linked in. On
// a start failure it records a gtest failure and returns nullptr, on this and
// every later call. Thread-safe.
GlanceFixture* SharedGlance();

}  // namespace novadock::testing

#endif  // NOVADOCK_TESTS_GLANCE_FIXTURE_H_
