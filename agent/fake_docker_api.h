// FakeDockerApi: an in-memory DockerApi for unit tests that keeps state, in
// the manner of kubelet dockershim's libdocker/fake_client.go: images,
// containers with Docker's state machine, labels, HostConfig limits, logs,
// stats and an event log, plus injected errors and a call record.
//
// It mirrors what dockerd 20.10 answers (measured on a private daemon):
//   create: name taken -> ALREADY_EXISTS; no image -> NOT_FOUND.
//   start: running -> OK (304), paused -> FAILED_PRECONDITION.
//   stop: not running -> OK (304); running or PAUSED -> exited. A paused
//     container is stopped too: events kill(15), unpause, [kill(9)], die, stop.
//   kill, pause: not running -> FAILED_PRECONDITION; pause when paused too.
//     kill of a paused container -> exited 137, events kill(9), die.
//   unpause: not paused -> FAILED_PRECONDITION (dockerd says HTTP 500).
//   remove: running or paused without force -> FAILED_PRECONDITION (409).
//   stats of a stopped container -> OK with zeros.
//   A paused container has running=true and paused=true, status "paused".
// Docker's delays are not simulated: stop returns at once and the clock is
// not advanced. Events carry the clock's time.
//
// Thread-safe. `clock` must outlive the fake.
#ifndef NOVADOCK_AGENT_FAKE_DOCKER_API_H_
#define NOVADOCK_AGENT_FAKE_DOCKER_API_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/docker_api.h"
#include "proto/common/clock.h"

namespace novadock::agent {

class FakeDockerApi final : public DockerApi {
 public:
  enum class LogStream { kStdout, kStderr };

  explicit FakeDockerApi(Clock& clock);

  // ---- Test controls (not DockerApi) ----
  // Adds an image known as `ref` ("repo:tag"; ":latest" is added when no tag
  // is given) with `id` ("sha256:..."). Adding a second ref to an id tags it.
  void AddImage(absl::string_view ref, absl::string_view id,
                int64_t size_bytes = 1 << 20);
  // The next LoadImage adds image `id` tagged `refs` (may be empty).
  void ExpectLoadForTest(std::vector<std::string> refs, std::string id);
  // Bytes read by every LoadImage so far.
  int64_t LoadedBytesForTest() const;
  // The next call of `op` (a DockerApi method name, e.g. "StartContainer")
  // fails with `status` and changes nothing. Injections queue: N calls inject
  // into the next N calls. REQUIRES: `op` names a DockerApi method.
  void InjectError(absl::string_view op, absl::Status status);
  // Every call of `op` fails with `status` until ClearErrorsForTest().
  void InjectStickyError(absl::string_view op, absl::Status status);
  void ClearErrorsForTest();
  // true: every call fails with UNAVAILABLE (dockerd down) and running
  // StreamEvents calls return UNAVAILABLE. State is kept.
  void SetDownForTest(bool down);
  // One entry per DockerApi call, "Op" or "Op:arg" with the id, name or ref
  // as given ("StartContainer:nova-1", "CreateContainer:nova-1", "Ping").
  std::vector<std::string> CallsForTest() const;
  void ClearCallsForTest();
  // Appends `text` to the container's log. NOT_FOUND: no such container.
  [[nodiscard]] absl::Status AppendLogForTest(absl::string_view id_or_name,
                                              LogStream stream,
                                              absl::string_view text);
  // What ContainerStatsOnce returns while it runs (`read` is set then).
  [[nodiscard]] absl::Status SetStatsForTest(absl::string_view id_or_name,
                                             const ContainerStats& stats);
  // true: the container's process ignores SIGTERM, so stop ends with SIGKILL
  // (exit 137, an extra kill(9) event) rather than exit 143.
  [[nodiscard]] absl::Status SetIgnoresSigtermForTest(
      absl::string_view id_or_name, bool ignores);
  // The container's process exits by itself with `exit_code` (event die).
  // FAILED_PRECONDITION: not running.
  [[nodiscard]] absl::Status ExitForTest(absl::string_view id_or_name,
                                         int32_t exit_code);
  // Marks the container dead (as after a failed removal).
  [[nodiscard]] absl::Status MarkDeadForTest(absl::string_view id_or_name);
  void SetInfoForTest(const DockerInfo& info);
  // How often a StreamEvents call looks at its cancel flag when no event
  // comes (default 10 ms). Hollow agents in benchmarks set it long: a
  // thousand streams polling every 10 ms burn a core.
  void SetEventPollForTest(absl::Duration period);
  // Runs `hook` (outside the fake's lock) at the start of every
  // ListContainers call, until replaced by an empty one: lets a test act
  // while a list is in flight.
  void SetListHookForTest(std::function<void()> hook);
  // A user-defined network containers may join; `subnet_prefix` is the
  // IPv4 prefix its addresses must start with ("10.9.0."). Creating a
  // container on an unknown network is NOT_FOUND, as in Docker.
  void AddNetworkForTest(const std::string& name, std::string subnet_prefix);
  // Waits up to `timeout` (real time) until at least `n` StreamEvents calls
  // are registered and waiting; true if they are.
  bool AwaitStreamsForTest(int n, absl::Duration timeout);
  // Every event recorded so far, oldest first.
  std::vector<DockerEvent> EventsForTest() const;
  // What SaveImage streams for image `image_id`: a deterministic stand-in
  // for a docker-save archive, size_bytes of the image long (at most 4 MiB).
  static std::string SavedArchiveForTest(const ImageDetails& image);
  // Labels given to the last CommitContainer that made `image_id`.
  Labels CommitLabelsForTest(absl::string_view image_id) const;

  // ---- DockerApi ----
  [[nodiscard]] absl::Status Ping() override;
  [[nodiscard]] absl::StatusOr<DockerVersion> Version() override;
  [[nodiscard]] absl::StatusOr<DockerInfo> Info() override;
  [[nodiscard]] absl::StatusOr<ImageDetails> InspectImage(
      absl::string_view ref) override;
  [[nodiscard]] absl::Status TagImage(absl::string_view ref,
                                      absl::string_view repo,
                                      absl::string_view tag) override;
  [[nodiscard]] absl::StatusOr<std::vector<ImageDetails>> ListImages() override;
  // Reads the whole source; then adds the image named by ExpectLoadForTest
  // (INVALID_ARGUMENT if none was expected: the fake cannot read archives).
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> LoadImage(
      const UploadSource& source) override;
  [[nodiscard]] absl::Status RemoveImage(absl::string_view ref,
                                         bool force) override;
  // Adds an image (id from a counter) tagged repo:tag, whose size is the
  // base image's; the container is not changed and stays running. A bad
  // repo or tag is INTERNAL, as dockerd 20.10's HTTP 500.
  [[nodiscard]] absl::StatusOr<std::string> CommitContainer(
      absl::string_view id, absl::string_view repo, absl::string_view tag,
      const Labels& labels) override;
  // The fake cannot write real archives: streams SavedArchiveForTest(image
  // id) in chunks of at most 64 KiB.
  [[nodiscard]] absl::Status SaveImage(absl::string_view ref,
                                       const ChunkCallback& on_chunk) override;
  [[nodiscard]] absl::StatusOr<std::string> CreateContainer(
      const ContainerSpec& spec) override;
  [[nodiscard]] absl::Status StartContainer(absl::string_view id) override;
  [[nodiscard]] absl::Status StopContainer(absl::string_view id,
                                           absl::Duration grace) override;
  [[nodiscard]] absl::Status RestartContainer(absl::string_view id,
                                              absl::Duration grace) override;
  [[nodiscard]] absl::Status KillContainer(absl::string_view id) override;
  [[nodiscard]] absl::Status PauseContainer(absl::string_view id) override;
  [[nodiscard]] absl::Status UnpauseContainer(absl::string_view id) override;
  [[nodiscard]] absl::Status RemoveContainer(absl::string_view id,
                                             bool force) override;
  [[nodiscard]] absl::StatusOr<ContainerDetails> InspectContainer(
      absl::string_view id) override;
  // Filters: label ("k" or "k=v", all must match), name (substring, any),
  // id (prefix, any), status (any). Others: INVALID_ARGUMENT. Newest first.
  [[nodiscard]] absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const Filters& filters) override;
  [[nodiscard]] absl::Status ContainerLogs(
      absl::string_view id, const LogsOptions& options,
      const ChunkCallback& on_chunk) override;
  [[nodiscard]] absl::StatusOr<ContainerStats> ContainerStatsOnce(
      absl::string_view id) override;
  // Filters: type, event (action), container (id or name), label; others
  // are ignored, as by dockerd 20.10. Delivers past events with time >=
  // since (since 0: none), then new ones; checks `cancel` at least every
  // 10 ms of real time.
  [[nodiscard]] absl::Status StreamEvents(
      const Filters& filters, int64_t since_unix_nanos,
      const EventCallback& on_event, const std::atomic<bool>* cancel) override;

 private:
  struct LogEntry {
    LogStream stream;
    std::string text;
  };
  struct Container {
    ContainerDetails details;
    std::string image_ref;  // As given at create.
    uint64_t sequence = 0;  // Creation order, for newest-first lists.
    bool ignores_sigterm = false;
    std::vector<LogEntry> log;
    ContainerStats stats;
  };

  // Records the call, then returns UNAVAILABLE if down or an injected error.
  absl::Status BeginCallLocked(absl::string_view op, absl::string_view arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The container for an id, name ("/name" too) or unique id prefix; nullptr
  // if none.
  Container* FindLocked(absl::string_view id_or_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Container*> GetLocked(absl::string_view id_or_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The image id for a ref, an id or an id without "sha256:"; "" if none.
  std::string ResolveImageLocked(absl::string_view ref) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EmitLocked(const Container& c, absl::string_view action,
                  Labels extra = {}) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // State changes, with their events.
  void RunLocked(Container& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExitLocked(Container& c, int32_t exit_code)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopLocked(Container& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // StreamEvents after registration: delivers from events_[next].
  absl::Status FollowEvents(const Filters& filters, int64_t since_unix_nanos,
                            size_t next, const EventCallback& on_event,
                            const std::atomic<bool>* cancel)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ModifyForTest(absl::string_view id_or_name,
                             const std::function<absl::Status(Container&)>& f);

  Clock& clock_;
  // Guards all state below. Never held while a callback runs.
  mutable absl::Mutex mu_;
  std::function<void()> list_hook_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ImageDetails> images_ ABSL_GUARDED_BY(mu_);  // By id.
  struct ExpectedLoad {
    std::vector<std::string> refs;
    std::string id;
  };
  ExpectedLoad next_load_ ABSL_GUARDED_BY(mu_);
  int64_t loaded_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> image_refs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Container> containers_ ABSL_GUARDED_BY(mu_);  // By id.
  std::map<std::string, std::string> networks_ ABSL_GUARDED_BY(mu_);
  absl::Duration event_poll_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(10);
  std::vector<DockerEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<absl::Status>> one_shot_errors_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> sticky_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  DockerInfo info_ ABSL_GUARDED_BY(mu_);
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  int32_t next_pid_ ABSL_GUARDED_BY(mu_) = 1000;
  int active_streams_ ABSL_GUARDED_BY(mu_) = 0;  // In StreamEvents.
  // Labels of committed images, by image id.
  std::map<std::string, Labels> commit_labels_ ABSL_GUARDED_BY(mu_);
  uint64_t next_commit_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_FAKE_DOCKER_API_H_
