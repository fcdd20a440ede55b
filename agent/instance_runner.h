// InstanceRunner: runs Nova instances as Docker containers on one node, per
// the container contract of DESIGN.md (name nova-<uuid>, labels, limits, safe
// defaults). It keeps no state of its own beyond in-flight markers: Docker's
// labels are the truth, so a new InstanceRunner over the same dockerd sees
// and controls every instance an earlier one made.
//
// Thread-safe. Calls for the same uuid are serialized; calls for different
// uuids run in parallel. `docker`, `images` and `clock` must outlive it.
// Every method may block for Docker calls (each bounded by the DockerApi's
// timeout, plus the grace period where one is given).
#ifndef NOVADOCK_AGENT_INSTANCE_RUNNER_H_
#define NOVADOCK_AGENT_INSTANCE_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/config_drive.h"
#include "agent/docker_api.h"
#include "agent/image_resolver.h"
#include "proto/common/clock.h"

namespace novadock::agent {

struct RunnerOptions {
  std::string node_name;  // Required; the io.novadock.node label.
  std::string image_dir = "/var/lib/novadock/images";  // For disk capacity.
  int32_t max_instances = 100;  // Instance slots on this node.
  absl::Duration default_grace = absl::Seconds(10);  // Stop/delete grace.
  int64_t pids_limit = 1024;                         // HostConfig.PidsLimit.
  std::string log_max_size = "10m";                  // json-file max-size.
  int32_t log_max_files = 3;                         // json-file max-file.
  int64_t default_console_bytes = 64 << 10;  // GetConsoleOutput default.
  // Where instances' config drives are kept on the node, and where each is
  // mounted (read-only) in its container.
  std::string config_drive_dir = "/var/lib/novadock/config-drive";
  std::string config_drive_mount = "/var/lib/cloud/seed/config_drive";
};

struct FlavorSpec {
  std::string name;
  int64_t memory_mb = 0;
  int32_t vcpus = 0;
  int64_t disk_gb = 0;
};

// A validated CreateInstance request.
struct InstanceSpec {
  std::string uuid;
  std::string name;  // Nova instance name.
  ImageSpec image;
  FlavorSpec flavor;
  std::string hostname;  // Empty: `name`.
  std::map<std::string, std::string> env;
  std::vector<std::string> command;  // Empty: the image's command.
  bool start = true;
  // Config drive files by relative path; empty: none.
  std::map<std::string, std::string> config_drive;
  // Empty network: no network.
  std::string network;
  std::string ipv4_address;
  std::string ipv6_address;
  std::string mac_address;
};

// An instance as Docker reports it. From ListInstances, the limits and
// times are zero (the list call does not carry them); GetInstance has all.
struct InstanceView {
  ContainerDetails container;
  FlavorSpec flavor;  // From the labels.
  std::string uuid;
  std::string name;
  std::string image;  // io.novadock.image label.
  // Left by an interrupted create (Instance.orphan): created, never started
  // though the create asked for it, and no create of it in progress here.
  bool orphan = false;
};

struct NodeUsage {
  int64_t memory_mb = 0;
  int64_t vcpus = 0;
  int64_t disk_gb = 0;
  int32_t instances = 0;
};

struct NodeView {
  DockerVersion version;
  DockerInfo info;
  int64_t disk_gb = 0;  // Size of the filesystem holding Docker's root dir.
  NodeUsage usage;
  int64_t uptime_seconds = 0;
};

struct ConsoleOutput {
  std::string bytes;
  bool truncated = false;
};

class InstanceRunner {
 public:
  InstanceRunner(DockerApi& docker, ImageResolver& images, Clock& clock,
                 RunnerOptions options);
  InstanceRunner(const InstanceRunner&) = delete;
  InstanceRunner& operator=(const InstanceRunner&) = delete;

  // Creates nova-<uuid> and starts it unless !spec.start. Idempotent: when
  // the instance exists, returns it (starting it if it was never started and
  // spec.start). NOT_FOUND: no image. FAILED_PRECONDITION: nova-<uuid>
  // exists but is not labelled for this node. RESOURCE_EXHAUSTED: no slot.
  // On a failed start the container is removed and the error returned.
  [[nodiscard]] absl::StatusOr<InstanceView> Create(const InstanceSpec& spec);

  // Stops (grace, then kill) and removes. Returns whether it existed.
  [[nodiscard]] absl::StatusOr<bool> Delete(const std::string& uuid,
                                            absl::Duration grace);

  // Each returns the instance afterwards. NOT_FOUND: no such instance here.
  // Already in the asked state is OK. Stop and Reboot unpause first.
  [[nodiscard]] absl::StatusOr<InstanceView> Start(const std::string& uuid);
  [[nodiscard]] absl::StatusOr<InstanceView> Stop(const std::string& uuid,
                                                  absl::Duration grace);
  [[nodiscard]] absl::StatusOr<InstanceView> Reboot(const std::string& uuid,
                                                    absl::Duration grace);
  // FAILED_PRECONDITION: not running.
  [[nodiscard]] absl::StatusOr<InstanceView> Pause(const std::string& uuid);
  // FAILED_PRECONDITION: stopped.
  [[nodiscard]] absl::StatusOr<InstanceView> Unpause(const std::string& uuid);

  // Waits for a create of `uuid` in progress here, so that NOT_FOUND is an
  // answer even while one runs.
  [[nodiscard]] absl::StatusOr<InstanceView> Get(const std::string& uuid);
  [[nodiscard]] absl::StatusOr<std::vector<InstanceView>> List();
  // Uuids whose Create is in progress (their container may not exist yet).
  std::vector<std::string> CreatesInProgress();

  // Removes the orphans (see InstanceView::orphan) created more than
  // `grace` ago, each re-checked while holding its uuid, and logs a warning
  // naming each. Returns the uuids removed; the first Docker error stops it.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> ReapOrphans(
      absl::Duration grace);
  // The last `max_bytes` (0: the default) of stdout+stderr.
  [[nodiscard]] absl::StatusOr<ConsoleOutput> Console(const std::string& uuid,
                                                      int64_t max_bytes);
  [[nodiscard]] absl::StatusOr<ContainerStats> Stats(const std::string& uuid);
  [[nodiscard]] absl::StatusOr<NodeView> Node();

  const RunnerOptions& options() const { return options_; }
  // The Docker label filter selecting this node's instances.
  Filters NodeFilter() const;

 private:
  // Marks `uuid` in flight for its lifetime; waits while another call holds it.
  class InFlight;
  class SlotReservation;
  class CreateCall;

  // Inspects nova-<uuid>; NOT_FOUND if missing or not labelled for this node.
  absl::StatusOr<ContainerDetails> FindLocked(const std::string& uuid);
  absl::StatusOr<InstanceView> View(const std::string& uuid);
  // `config_dir`: the instance's config drive directory; empty: none.
  absl::StatusOr<ContainerSpec> BuildSpec(const InstanceSpec& spec,
                                          const std::string& image_id,
                                          const std::string& config_dir);
  bool IsOurs(const ContainerDetails& c, const std::string& uuid) const;
  // Create's answer when nova-<uuid> already exists.
  absl::StatusOr<InstanceView> Existing(const InstanceSpec& spec,
                                        ContainerDetails c);
  absl::Status UnpauseIfPaused(const ContainerDetails& c);
  absl::StatusOr<int32_t> HostCpus();
  bool IsOrphan(const Labels& labels, const std::string& status,
                const std::string& uuid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  DockerApi& docker_;
  ImageResolver& images_;
  Clock& clock_;
  const RunnerOptions options_;
  ConfigDriveStore config_drives_;

  // Guards the in-flight and creating sets and the cached host CPU count.
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  // Uuids whose create holds a slot but whose container may not exist yet.
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  // Create calls per uuid, running or waiting for their uuid.
  absl::flat_hash_map<std::string, int> create_calls_ ABSL_GUARDED_BY(mu_);
  // Creates between listing the node's containers and reserving a slot
  // (their listing may predate containers made meanwhile), and the uuids
  // whose container was made while any of them was (cleared when none is).
  int listings_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::string> created_ ABSL_GUARDED_BY(mu_);
  int32_t host_cpus_ ABSL_GUARDED_BY(mu_) = 0;
};

// Docker limits for a flavor on a host with `host_cpus` CPUs: memory in
// bytes with swap off; NanoCpus = min(vcpus, host_cpus) CPUs (a hard cap
// Docker accepts even when Nova overcommits); CpuShares = 1024 per vCPU
// (relative weight), at most 262144.
struct FlavorLimits {
  int64_t memory_bytes;
  int64_t memory_swap_bytes;
  int64_t nano_cpus;
  int64_t cpu_shares;
};
FlavorLimits LimitsForFlavor(const FlavorSpec& flavor, int32_t host_cpus);

std::string ContainerNameFor(const std::string& uuid);

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_INSTANCE_RUNNER_H_
