// DockerApi: the narrow slice of the Docker Engine API that the agent uses.
// Implementations: CurlDockerApi (libcurl, unix socket or TCP+TLS) and
// FakeDockerApi (in memory, for unit tests). docker_api_contract_test runs the
// same cases on both.
//
// Every implementation is thread-safe. Error codes are set where the Docker
// answer is understood (curl_docker_api.cc) and never rewritten above:
//   304 (already in that state) -> OK        400 -> INVALID_ARGUMENT
//   404 -> NOT_FOUND                         409 name clash -> ALREADY_EXISTS,
//   other 409 -> FAILED_PRECONDITION         5xx -> INTERNAL
//   no connection -> UNAVAILABLE             timeout -> DEADLINE_EXCEEDED
// Messages carry Docker's own "message" text.
#ifndef NOVADOCK_AGENT_DOCKER_API_H_
#define NOVADOCK_AGENT_DOCKER_API_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace novadock::agent {

using Labels = std::map<std::string, std::string>;

struct DockerVersion {
  std::string version;      // "20.10.24+dfsg1"
  std::string api_version;  // "1.41"
  std::string os;
  std::string arch;
  std::string kernel_version;
};

struct DockerInfo {
  std::string name;             // Docker host name.
  int64_t mem_total_bytes = 0;  // MemTotal.
  int32_t ncpu = 0;             // NCPU.
  std::string docker_root_dir;  // DockerRootDir.
};

struct ImageDetails {
  std::string id;                      // "sha256:..."
  std::vector<std::string> repo_tags;  // RepoTags.
  int64_t size_bytes = 0;
};

// Everything the agent sets when creating a container. Fields not here are
// never sent, so no caller can ask for privileges we do not model.
struct ContainerSpec {
  std::string name;   // Without the leading "/".
  std::string image;  // Image id or reference.
  std::string hostname;
  std::vector<std::string> cmd;  // Empty: the image's command.
  std::vector<std::string> env;  // "KEY=value".
  Labels labels;
  int64_t memory_bytes = 0;           // HostConfig.Memory; 0 = unlimited.
  int64_t memory_swap_bytes = 0;      // HostConfig.MemorySwap.
  int64_t nano_cpus = 0;              // HostConfig.NanoCpus; 0 = unlimited.
  int64_t cpu_shares = 0;             // HostConfig.CpuShares; 0 = default.
  int64_t pids_limit = 0;             // HostConfig.PidsLimit; 0 = unlimited.
  std::string network_mode = "none";  // HostConfig.NetworkMode.
  std::string log_max_size = "10m";   // json-file max-size.
  int32_t log_max_files = 3;          // json-file max-file.
  bool no_new_privileges = true;      // SecurityOpt no-new-privileges.
  // The only bind mount a container can have: its config drive, always
  // read-only. Empty config_source: none.
  std::string config_source;  // Host directory.
  std::string config_target;  // Absolute path in the container.
  // With a user-defined network as network_mode: its static addresses
  // (NetworkingConfig.EndpointsConfig[network_mode].IPAMConfig) and MAC.
  std::string ipv4_address;
  std::string ipv6_address;
  std::string mac_address;
  // Always sent as Privileged=false; there is no field to change it.
};

// One network endpoint of a container (NetworkSettings.Networks).
struct ContainerNetwork {
  std::string name;
  std::string ipv4_address;
  std::string ipv6_address;
  std::string mac_address;
};

// One mount of a container (Mounts[]).
struct ContainerMount {
  std::string type;  // bind, volume, tmpfs.
  std::string source;
  std::string destination;
  bool read_write = true;
};

struct ContainerState {
  std::string status;  // created|running|paused|restarting|removing|exited|dead
  bool running = false;
  bool paused = false;
  int32_t pid = 0;
  int32_t exit_code = 0;
  absl::Time started_at = absl::InfinitePast();   // InfinitePast: never.
  absl::Time finished_at = absl::InfinitePast();  // InfinitePast: never.
};

struct ContainerDetails {
  std::string id;
  std::string name;  // Without the leading "/".
  std::string image_id;
  std::string hostname;
  Labels labels;
  absl::Time created = absl::InfinitePast();
  ContainerState state;
  // What HostConfig holds now.
  int64_t memory_bytes = 0;
  int64_t memory_swap_bytes = 0;
  int64_t nano_cpus = 0;
  int64_t cpu_shares = 0;
  int64_t pids_limit = 0;
  bool privileged = false;
  std::string network_mode;
  std::vector<ContainerNetwork> networks;
  std::vector<ContainerMount> mounts;
};

struct ContainerSummary {
  std::string id;
  std::string name;  // First name, without the leading "/".
  std::string image;
  std::string state;  // Same values as ContainerState::status.
  Labels labels;
  absl::Time created = absl::InfinitePast();
};

struct ContainerStats {
  uint64_t cpu_total_nanos = 0;     // cpu_stats.cpu_usage.total_usage.
  uint64_t memory_usage_bytes = 0;  // memory_stats.usage.
  uint64_t memory_limit_bytes = 0;  // memory_stats.limit.
  uint64_t pids_current = 0;        // pids_stats.current.
  absl::Time read = absl::InfinitePast();
};

// One message of GET /events.
struct DockerEvent {
  std::string type;    // "container", "image", ...
  std::string action;  // "start", "die", "destroy", ...
  std::string id;      // Actor.ID.
  Labels attributes;   // Actor.Attributes (labels, name, exitCode, ...).
  int64_t time_unix_nanos = 0;  // timeNano.
};

struct LogsOptions {
  bool stdout_stream = true;
  bool stderr_stream = true;
  int64_t tail_lines = -1;  // -1: all.
};

// Filters for list and events: key -> values, as Docker's `filters` JSON.
using Filters = std::map<std::string, std::vector<std::string>>;

// Called per chunk of streamed data; return false to stop the stream.
using ChunkCallback = std::function<bool(absl::string_view)>;
using EventCallback = std::function<bool(const DockerEvent&)>;
// Supplies the next bytes of an upload: writes at most `capacity` bytes to
// `buffer` and returns how many (0: the end), or an error, which aborts the
// upload and is returned by the call that uploads.
using UploadSource =
    std::function<absl::StatusOr<size_t>(char* buffer, size_t capacity)>;

class DockerApi {
 public:
  virtual ~DockerApi() = default;

  // GET /_ping. OK if dockerd answers.
  [[nodiscard]] virtual absl::Status Ping() = 0;
  [[nodiscard]] virtual absl::StatusOr<DockerVersion> Version() = 0;
  [[nodiscard]] virtual absl::StatusOr<DockerInfo> Info() = 0;

  // NOT_FOUND: no such image (message names it).
  [[nodiscard]] virtual absl::StatusOr<ImageDetails> InspectImage(
      absl::string_view ref) = 0;
  // POST /images/{ref}/tag. NOT_FOUND: no such image.
  [[nodiscard]] virtual absl::Status TagImage(absl::string_view ref,
                                              absl::string_view repo,
                                              absl::string_view tag) = 0;

  // GET /images/json: every image with its tags.
  [[nodiscard]] virtual absl::StatusOr<std::vector<ImageDetails>>
  ListImages() = 0;
  // POST /images/load: streams a docker-save archive from `source` (bounded
  // memory, whatever its size) and returns what Docker says it loaded
  // ("repo:tag" for tagged images, "sha256:..." for untagged ones).
  // INVALID_ARGUMENT: Docker refused the archive (its message). The
  // source's own error is returned as is. No overall timeout: the transfer
  // fails only when it stalls for longer than the request timeout.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> LoadImage(
      const UploadSource& source) = 0;
  // DELETE /images/{ref}?force=..: removes a tag, or the image with its last
  // tag. NOT_FOUND: no such image. FAILED_PRECONDITION: a container uses it.
  [[nodiscard]] virtual absl::Status RemoveImage(absl::string_view ref,
                                                 bool force) = 0;
  // POST /commit?container=..&repo=..&tag=..&pause=true: a new image of the
  // container's filesystem (a running container is paused meanwhile), tagged
  // repo:tag, and returns its id ("sha256:..."). Docker copies the
  // container's config (Cmd, Env, Labels) into the image; `labels` are set
  // over it. NOT_FOUND: no such container. A bad repo or tag is INTERNAL
  // (dockerd 20.10 answers 500): validate them first. Not idempotent: each
  // call makes a new image and moves the tag. Blocks for the request
  // timeout at most.
  [[nodiscard]] virtual absl::StatusOr<std::string> CommitContainer(
      absl::string_view id, absl::string_view repo, absl::string_view tag,
      const Labels& labels) = 0;
  // GET /images/{ref}/get: streams the docker-save archive of `ref` (an id
  // or "repo:tag") to `on_chunk` in order, keeping no more than a chunk in
  // memory. `on_chunk` returning false stops the transfer and the call
  // returns OK (the caller knows why it stopped). NOT_FOUND: no such image.
  // No overall timeout: the transfer fails (DEADLINE_EXCEEDED) only when it
  // stalls for longer than the request timeout.
  [[nodiscard]] virtual absl::Status SaveImage(
      absl::string_view ref, const ChunkCallback& on_chunk) = 0;

  // Returns the new container's id. ALREADY_EXISTS: the name is taken.
  // NOT_FOUND: no such image.
  [[nodiscard]] virtual absl::StatusOr<std::string> CreateContainer(
      const ContainerSpec& spec) = 0;
  // OK also when already running (304).
  [[nodiscard]] virtual absl::Status StartContainer(absl::string_view id) = 0;
  // SIGTERM, then SIGKILL after `grace`. OK also when already stopped.
  // May block for `grace` plus the request timeout.
  [[nodiscard]] virtual absl::Status StopContainer(absl::string_view id,
                                                   absl::Duration grace) = 0;
  [[nodiscard]] virtual absl::Status RestartContainer(absl::string_view id,
                                                      absl::Duration grace) = 0;
  // FAILED_PRECONDITION: not running.
  [[nodiscard]] virtual absl::Status KillContainer(absl::string_view id) = 0;
  // FAILED_PRECONDITION: not running or already paused (Docker's 409).
  [[nodiscard]] virtual absl::Status PauseContainer(absl::string_view id) = 0;
  // FAILED_PRECONDITION: not paused.
  [[nodiscard]] virtual absl::Status UnpauseContainer(absl::string_view id) = 0;
  // DELETE /containers/{id}?force=..&v=1. NOT_FOUND when missing.
  [[nodiscard]] virtual absl::Status RemoveContainer(absl::string_view id,
                                                     bool force) = 0;
  // `id` may be an id or a name. NOT_FOUND when missing.
  [[nodiscard]] virtual absl::StatusOr<ContainerDetails> InspectContainer(
      absl::string_view id) = 0;
  // GET /containers/json?all=1&filters=...
  [[nodiscard]] virtual absl::StatusOr<std::vector<ContainerSummary>>
  ListContainers(const Filters& filters) = 0;
  // GET /containers/{id}/logs, demultiplexed; stdout and stderr chunks are
  // passed to `on_chunk` in order. Does not follow.
  [[nodiscard]] virtual absl::Status ContainerLogs(
      absl::string_view id, const LogsOptions& options,
      const ChunkCallback& on_chunk) = 0;
  // GET /containers/{id}/stats?stream=false.
  [[nodiscard]] virtual absl::StatusOr<ContainerStats> ContainerStatsOnce(
      absl::string_view id) = 0;

  // GET /events?since=..&filters=.. : blocks, delivering events in order,
  // until `on_event` returns false or `*cancel` becomes true (OK), or the
  // connection fails (UNAVAILABLE; reconnecting is the caller's choice).
  // No request timeout applies. since_unix_nanos = 0: from now.
  [[nodiscard]] virtual absl::Status StreamEvents(
      const Filters& filters, int64_t since_unix_nanos,
      const EventCallback& on_event, const std::atomic<bool>* cancel) = 0;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_DOCKER_API_H_
