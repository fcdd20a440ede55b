// DockerdFixture: a private dockerd for one test binary, on a unix socket in
// a short temporary directory D (/tmp/nd.XXXXXX), never the system daemon.
//
//   dockerd --data-root D/data --exec-root D/exec -H unix://D/docker.sock
//           --pidfile D/docker.pid --config-file D/daemon.json --bridge=none
//           --iptables=false --ip-masq=false
//           [--containerd-namespace nd-XXXXXX
//            --containerd-plugins-namespace nd-XXXXXX-plugins]
//           [extra_args...]
//
// The containerd namespaces are added only when /run/containerd/containerd.sock
// exists (dockerd 20.10 then uses the system containerd). dockerd is started by
// fork+execve from an argv vector (no shell), in its own session, with every fd
// above 2 closed and stdout/stderr appended to D/dockerd.log. If the
// environment variable NOVADOCK_TEST_KEEP_DOCKERD_LOG is set, Stop() copies the
// log to D.log (beside D) and prints its path to stderr.
//
// Not thread-safe: one thread drives a fixture. Every wait is bounded.
#ifndef NOVADOCK_TESTS_DOCKERD_FIXTURE_H_
#define NOVADOCK_TESTS_DOCKERD_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace novadock::testing {

// The Engine API version of docker.io 20.10, the daemon the tests run.
inline constexpr absl::string_view kTestApiPrefix = "/v1.41";

class DockerdFixture {
 public:
  DockerdFixture() = default;
  // `extra_args` are appended to dockerd's argv on every start, e.g. a second
  // -H tcp://127.0.0.1:PORT with --tlsverify and its files. The unix socket
  // stays, and the fixture still waits for /_ping on it.
  explicit DockerdFixture(std::vector<std::string> extra_args)
      : extra_args_(std::move(extra_args)) {}
  // Stop()s; errors are printed to stderr.
  ~DockerdFixture();
  DockerdFixture(const DockerdFixture&) = delete;
  DockerdFixture& operator=(const DockerdFixture&) = delete;

  // Creates D (first call only), starts dockerd and waits up to 30 s for
  // GET /_ping. OK if already running. UNAVAILABLE: dockerd exited or did not
  // answer in time (the message holds the tail of D/dockerd.log).
  // FAILED_PRECONDITION: no dockerd binary. INTERNAL: a syscall failed.
  [[nodiscard]] absl::Status Start();
  // SIGTERM, waits up to 30 s for exit (then SIGKILL), and starts again on the
  // same directories: images and containers persist. If dockerd is not
  // running (after Kill()), only starts it. Without live-restore, dockerd
  // stops containers left running by a crash before it answers /_ping, so
  // this may block for their stop timeout (StopTimeout, default 10 s).
  [[nodiscard]] absl::Status Restart();
  // SIGKILLs dockerd only, as a crash; containerd, shims and containers keep
  // running. OK if not running.
  [[nodiscard]] absl::Status Kill();
  // Stops dockerd (SIGTERM, 20 s, then SIGKILL), SIGKILLs leftover containerd
  // and shim processes of D and their containers, unmounts everything under D
  // (deepest first, MNT_DETACH) and removes D. Idempotent. INTERNAL: D could
  // not be removed (the message names what is left).
  [[nodiscard]] absl::Status Stop();

  // "unix://D/docker.sock". REQUIRES: Start() was called.
  std::string host() const { return "unix://" + socket_path(); }
  std::string socket_path() const { return dir_ + "/docker.sock"; }
  // D, empty before the first Start() and after Stop().
  const std::string& dir() const { return dir_; }
  std::string log_path() const { return dir_ + "/dockerd.log"; }
  // dockerd's pid, 0 when not running.
  pid_t pid() const { return pid_; }

 private:
  [[nodiscard]] absl::Status CreateDir();
  [[nodiscard]] absl::Status Spawn();
  [[nodiscard]] absl::Status WaitForPing(absl::Duration timeout);
  // Signals dockerd and reaps it within `timeout`; true if it exited.
  bool SignalAndReap(int signal, absl::Duration timeout);
  [[nodiscard]] absl::Status KillLeftoverProcesses();
  [[nodiscard]] absl::Status UnmountAll();
  std::string LogTail() const;

  const std::vector<std::string> extra_args_{};  // Appended to dockerd argv.
  std::string dir_;                              // D; empty until created.
  std::string containerd_ns_;  // "nd-XXXXXX"; empty: dockerd's own.
  pid_t pid_ = 0;              // dockerd, our child; 0: not running.
};

// One dockerd shared by every test of the binary: started on first use and
// stopped by a gtest Environment registered when this file is linked in. On a
// start failure it records a gtest failure (with the dockerd log tail) and
// returns nullptr, on this and every later call. Thread-safe.
DockerdFixture* SharedDockerd();

// One HTTP exchange with dockerd over its unix socket, independent of the
// agent's own client (for checks like `docker inspect`).
struct RawDockerResponse {
  long http_code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  std::string body;
};

// `host` is "unix:///path"; `path` starts with "/" (add kTestApiPrefix
// yourself). `body` is sent when non-empty, with `content_type`. Any HTTP
// answer is OK. UNAVAILABLE: no connection. DEADLINE_EXCEEDED: no answer in
// `timeout`. INVALID_ARGUMENT: `host` is not unix://.
[[nodiscard]] absl::StatusOr<RawDockerResponse> RawDockerExchange(
    absl::string_view host, absl::string_view method, absl::string_view path,
    absl::string_view body = "",
    absl::string_view content_type = "application/json",
    absl::Duration timeout = absl::Seconds(120));

// As RawDockerExchange, returning the body of a 1xx-3xx answer. An HTTP error
// becomes 400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, 409 ->
// FAILED_PRECONDITION, other 4xx -> UNKNOWN, 5xx -> INTERNAL, each with the
// message "<method> <path>: HTTP <code>: <body>".
[[nodiscard]] absl::StatusOr<std::string> RawDockerRequest(
    absl::string_view host, absl::string_view method, absl::string_view path,
    absl::string_view body = "",
    absl::string_view content_type = "application/json");

}  // namespace novadock::testing

#endif  // NOVADOCK_TESTS_DOCKERD_FIXTURE_H_
