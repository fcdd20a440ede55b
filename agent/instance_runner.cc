#include "agent/instance_runner.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/container_labels.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

constexpr int64_t kMaxCpuShares = 262144;  // Docker/cgroup v1 maximum.

int64_t LabelInt(const Labels& labels, const char* key) {
  auto it = labels.find(key);
  int64_t value = 0;
  if (it == labels.end() || !absl::SimpleAtoi(it->second, &value)) return 0;
  return value;
}

std::string LabelText(const Labels& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

FlavorSpec FlavorFromLabels(const Labels& labels) {
  FlavorSpec f;
  f.name = LabelText(labels, kLabelFlavor);
  f.memory_mb = LabelInt(labels, kLabelMemoryMb);
  f.vcpus = static_cast<int32_t>(LabelInt(labels, kLabelVcpus));
  f.disk_gb = LabelInt(labels, kLabelDiskGb);
  return f;
}

InstanceView ViewOf(ContainerDetails c) {
  InstanceView v;
  v.flavor = FlavorFromLabels(c.labels);
  v.uuid = LabelText(c.labels, kLabelInstanceUuid);
  v.name = LabelText(c.labels, kLabelInstanceName);
  v.image = LabelText(c.labels, kLabelImage);
  v.container = std::move(c);
  return v;
}

int64_t ReadUptimeSeconds() {
  std::ifstream in("/proc/uptime");
  double seconds = 0;
  if (!(in >> seconds)) return 0;
  return static_cast<int64_t>(seconds);
}

int64_t FilesystemGb(const std::string& path) {
  struct statvfs st {};
  if (path.empty() || statvfs(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(
      (static_cast<unsigned __int128>(st.f_blocks) * st.f_frsize) >> 30);
}

}  // namespace

std::string ContainerNameFor(const std::string& uuid) {
  return absl::StrCat(kContainerNamePrefix, uuid);
}

FlavorLimits LimitsForFlavor(const FlavorSpec& flavor, int32_t host_cpus) {
  FlavorLimits l;
  l.memory_bytes = flavor.memory_mb << 20;
  l.memory_swap_bytes = l.memory_bytes;  // Equal to memory: no swap.
  const int64_t capped =
      std::min<int64_t>(flavor.vcpus, std::max(host_cpus, 1));
  l.nano_cpus = capped * 1000000000;
  l.cpu_shares = std::min<int64_t>(int64_t{1024} * flavor.vcpus, kMaxCpuShares);
  return l;
}

class InstanceRunner::InFlight {
 public:
  InFlight(InstanceRunner& runner, const std::string& uuid)
      : runner_(runner), uuid_(uuid) {
    absl::MutexLock lock(&runner_.mu_);
    // Abseil evaluates the condition with mu_ held; clang's analysis cannot
    // see that through a function pointer.
    runner_.mu_.Await(absl::Condition(
        +[](std::pair<InstanceRunner*, const std::string*>* arg)
             ABSL_NO_THREAD_SAFETY_ANALYSIS {
               return !arg->first->in_flight_.contains(*arg->second);
             },
        &key_));
    runner_.in_flight_.insert(uuid_);
  }
  ~InFlight() {
    absl::MutexLock lock(&runner_.mu_);
    runner_.in_flight_.erase(uuid_);
  }

 private:
  InstanceRunner& runner_;
  const std::string uuid_;
  std::pair<InstanceRunner*, const std::string*> key_{&runner_, &uuid_};
};

// Holds one of the node's instance slots for a create in progress, so that
// parallel creates of different uuids cannot exceed max_instances between
// listing the containers and creating theirs. A listing can miss a
// container that another create made (and left creating_) after the listing
// began, so such containers are kept in created_ while any listing is open.
class InstanceRunner::SlotReservation {
 public:
  // Opens a listing: call before listing the node's containers.
  SlotReservation(InstanceRunner& runner, const std::string& uuid)
      : runner_(runner), uuid_(uuid) {
    absl::MutexLock lock(&runner_.mu_);
    ++runner_.listings_;
  }
  ~SlotReservation() {
    absl::MutexLock lock(&runner_.mu_);
    if (!reserved_) {
      CloseListingLocked();
      return;
    }
    runner_.creating_.erase(uuid_);
    if (container_made_ && runner_.listings_ > 0) {
      runner_.created_.insert(uuid_);
    }
  }
  SlotReservation(const SlotReservation&) = delete;
  SlotReservation& operator=(const SlotReservation&) = delete;

  // RESOURCE_EXHAUSTED when `present` (listed after construction) plus the
  // creates in progress and those finished since fill every slot. Closes
  // the listing either way.
  absl::Status Reserve(const std::vector<ContainerSummary>& present) {
    absl::MutexLock lock(&runner_.mu_);
    absl::flat_hash_set<std::string> used = runner_.creating_;
    used.insert(runner_.created_.begin(), runner_.created_.end());
    for (const ContainerSummary& c : present) {
      used.insert(LabelText(c.labels, kLabelInstanceUuid));
    }
    CloseListingLocked();
    if (static_cast<int64_t>(used.size()) >= runner_.options_.max_instances) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "node ", runner_.options_.node_name, " has all ",
          runner_.options_.max_instances, " instance slots in use"));
    }
    runner_.creating_.insert(uuid_);
    reserved_ = true;
    return absl::OkStatus();
  }

  // Whether nova-<uuid> exists now (it counts once the slot is released).
  void set_container_made(bool made) { container_made_ = made; }

 private:
  void CloseListingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(runner_.mu_) {
    if (listing_open_) {
      listing_open_ = false;
      if (--runner_.listings_ == 0) runner_.created_.clear();
    }
  }

  InstanceRunner& runner_;
  const std::string uuid_;
  bool listing_open_ = true;
  bool reserved_ = false;
  bool container_made_ = false;
};

InstanceRunner::InstanceRunner(DockerApi& docker, ImageResolver& images,
                               Clock& clock, RunnerOptions options)
    : docker_(docker),
      images_(images),
      clock_(clock),
      options_(std::move(options)),
      config_drives_(options_.config_drive_dir) {}

Filters InstanceRunner::NodeFilter() const {
  return Filters{{"label",
                  {kLabelInstanceUuid,
                   absl::StrCat(kLabelNode, "=", options_.node_name)}}};
}

absl::StatusOr<ContainerDetails> InstanceRunner::FindLocked(
    const std::string& uuid) {
  auto c = docker_.InspectContainer(ContainerNameFor(uuid));
  if (absl::IsNotFound(c.status())) {
    return absl::NotFoundError(absl::StrCat(
        "instance ", uuid, " not found on node ", options_.node_name));
  }
  NOVADOCK_RETURN_IF_ERROR(c.status());
  if (!IsOurs(*c, uuid)) {
    return absl::NotFoundError(absl::StrCat(
        "instance ", uuid, " not found on node ", options_.node_name,
        " (container ", ContainerNameFor(uuid),
        " exists but is not labelled for this node; it is left alone)"));
  }
  return c;
}

absl::StatusOr<InstanceView> InstanceRunner::View(const std::string& uuid) {
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  InstanceView view = ViewOf(std::move(c));
  absl::MutexLock lock(&mu_);
  view.orphan =
      IsOrphan(view.container.labels, view.container.state.status, uuid);
  return view;
}

absl::StatusOr<int32_t> InstanceRunner::HostCpus() {
  {
    absl::MutexLock lock(&mu_);
    if (host_cpus_ > 0) return host_cpus_;
  }
  NOVADOCK_ASSIGN_OR_RETURN(DockerInfo info, docker_.Info());
  absl::MutexLock lock(&mu_);
  host_cpus_ = std::max(info.ncpu, 1);
  return host_cpus_;
}

absl::StatusOr<ContainerSpec> InstanceRunner::BuildSpec(
    const InstanceSpec& spec, const std::string& image_id,
    const std::string& config_dir) {
  NOVADOCK_ASSIGN_OR_RETURN(int32_t host_cpus, HostCpus());
  const FlavorLimits limits = LimitsForFlavor(spec.flavor, host_cpus);
  ContainerSpec c;
  c.name = ContainerNameFor(spec.uuid);
  c.image = image_id;
  c.hostname = spec.hostname.empty() ? spec.name : spec.hostname;
  c.cmd = spec.command;
  for (const auto& [key, value] : spec.env) c.env.push_back(key + "=" + value);
  c.labels = {
      {kLabelInstanceUuid, spec.uuid},
      {kLabelInstanceName, spec.name},
      {kLabelNode, options_.node_name},
      {kLabelImage, spec.image.LabelValue()},
      {kLabelFlavor, spec.flavor.name},
      {kLabelCreatedBy, kCreatedByAgent},
      {kLabelMemoryMb, absl::StrCat(spec.flavor.memory_mb)},
      {kLabelVcpus, absl::StrCat(spec.flavor.vcpus)},
      {kLabelDiskGb, absl::StrCat(spec.flavor.disk_gb)},
      {kLabelStartOnCreate, spec.start ? "true" : "false"},
  };
  c.memory_bytes = limits.memory_bytes;
  c.memory_swap_bytes = limits.memory_swap_bytes;
  c.nano_cpus = limits.nano_cpus;
  c.cpu_shares = limits.cpu_shares;
  c.pids_limit = options_.pids_limit;
  c.network_mode = spec.network.empty() ? "none" : spec.network;
  c.ipv4_address = spec.ipv4_address;
  c.ipv6_address = spec.ipv6_address;
  c.mac_address = spec.mac_address;
  if (!config_dir.empty()) {
    c.config_source = config_dir;
    c.config_target = options_.config_drive_mount;
    c.env.push_back("NOVADOCK_CONFIG_DRIVE=" + options_.config_drive_mount);
  }
  c.log_max_size = options_.log_max_size;
  c.log_max_files = options_.log_max_files;
  c.no_new_privileges = true;
  return c;
}

bool InstanceRunner::IsOurs(const ContainerDetails& c,
                            const std::string& uuid) const {
  return LabelText(c.labels, kLabelInstanceUuid) == uuid &&
         LabelText(c.labels, kLabelNode) == options_.node_name;
}

absl::StatusOr<InstanceView> InstanceRunner::Existing(const InstanceSpec& spec,
                                                      ContainerDetails c) {
  if (!IsOurs(c, spec.uuid)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", c.name, " exists but is not labelled as instance ",
        spec.uuid, " of node ", options_.node_name,
        "; remove or rename it by hand"));
  }
  if (spec.start && c.state.status == "created") {
    NOVADOCK_RETURN_IF_ERROR(docker_.StartContainer(c.id));
    return View(spec.uuid);
  }
  return ViewOf(std::move(c));
}

// Counts a Create call of `uuid` for its lifetime (CreatesInProgress, Get).
class InstanceRunner::CreateCall {
 public:
  CreateCall(InstanceRunner& runner, const std::string& uuid)
      : runner_(runner), uuid_(uuid) {
    absl::MutexLock lock(&runner_.mu_);
    ++runner_.create_calls_[uuid_];
  }
  ~CreateCall() {
    absl::MutexLock lock(&runner_.mu_);
    auto it = runner_.create_calls_.find(uuid_);
    if (--it->second == 0) runner_.create_calls_.erase(it);
  }
  CreateCall(const CreateCall&) = delete;
  CreateCall& operator=(const CreateCall&) = delete;

 private:
  InstanceRunner& runner_;
  const std::string uuid_;
};

absl::StatusOr<InstanceView> InstanceRunner::Create(const InstanceSpec& spec) {
  const absl::Time begin = clock_.Now();
  CreateCall call(*this, spec.uuid);
  InFlight in_flight(*this, spec.uuid);
  const std::string name = ContainerNameFor(spec.uuid);
  SlotReservation slot(*this, spec.uuid);
  // The node's containers, for the slot count, also say whether this
  // instance exists already (an idempotent retry): one Docker call, not an
  // inspect and a list. A container of that name NOT labelled for this node
  // is not listed; creating it is then a name clash, handled below.
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<ContainerSummary> present,
                            docker_.ListContainers(NodeFilter()));
  if (std::any_of(present.begin(), present.end(),
                  [&](const ContainerSummary& c) { return c.name == name; })) {
    auto existing = docker_.InspectContainer(name);
    if (existing.ok()) return Existing(spec, *std::move(existing));
    // Removed since the list: create it anew.
    if (!absl::IsNotFound(existing.status())) return existing.status();
  }
  NOVADOCK_RETURN_IF_ERROR(slot.Reserve(present));
  NOVADOCK_ASSIGN_OR_RETURN(std::string image_id, images_.Resolve(spec.image));
  std::string config_dir;
  if (!spec.config_drive.empty()) {
    NOVADOCK_ASSIGN_OR_RETURN(
        config_dir, config_drives_.Write(spec.uuid, spec.config_drive));
  }
  // Until the container exists, the config drive is ours to remove.
  auto drop_config_drive = [&] {
    if (config_dir.empty()) return;
    absl::Status s = config_drives_.Remove(spec.uuid);
    if (!s.ok()) NOVADOCK_LOG_WARNING(s.message());
  };
  absl::StatusOr<ContainerSpec> cs = BuildSpec(spec, image_id, config_dir);
  if (!cs.ok()) {
    drop_config_drive();
    return cs.status();
  }
  auto id = docker_.CreateContainer(*cs);
  if (absl::IsNotFound(id.status()) && images_.Forget(spec.image)) {
    // The image the resolver remembered is gone from Docker (removed or
    // pruned since): find or load it again, once.
    absl::StatusOr<std::string> again = images_.Resolve(spec.image);
    if (!again.ok()) {
      drop_config_drive();
      return again.status();
    }
    cs->image = *again;
    id = docker_.CreateContainer(*cs);
  }
  if (absl::IsAlreadyExists(id.status())) {
    // Created behind our back (another agent process), or a container of
    // that name that is not ours: same rules as for a listed one. For ours,
    // the drive just written replaced the racer's with the same files; for
    // one that is not ours, the drive is dropped.
    absl::StatusOr<ContainerDetails> raced = docker_.InspectContainer(name);
    if (raced.ok() && !IsOurs(*raced, spec.uuid)) drop_config_drive();
    if (!raced.ok()) return raced.status();
    return Existing(spec, *std::move(raced));
  }
  if (!id.ok()) {
    drop_config_drive();
    return Annotate(id.status(), "create " + cs->name);
  }
  slot.set_container_made(true);
  if (spec.start) {
    absl::Status started = docker_.StartContainer(*id);
    if (!started.ok()) {
      absl::Status removed = docker_.RemoveContainer(*id, /*force=*/true);
      if (!removed.ok() && !absl::IsNotFound(removed)) {
        NOVADOCK_LOG_WARNING("could not remove ", cs->name,
                             " after failed start: ", removed.message());
      } else {
        slot.set_container_made(false);
        drop_config_drive();
      }
      return Annotate(started, "start " + cs->name);
    }
  }
  NOVADOCK_LOG_INFO("spawned instance ", spec.uuid, " (", spec.name, ") node ",
                    options_.node_name, " image ", spec.image.LabelValue(),
                    " in ", absl::FormatDuration(clock_.Now() - begin));
  return View(spec.uuid);
}

absl::Status InstanceRunner::UnpauseIfPaused(const ContainerDetails& c) {
  if (c.state.status != "paused") return absl::OkStatus();
  return docker_.UnpauseContainer(c.id);
}

absl::StatusOr<bool> InstanceRunner::Delete(const std::string& uuid,
                                            absl::Duration grace) {
  InFlight in_flight(*this, uuid);
  auto c = docker_.InspectContainer(ContainerNameFor(uuid));
  if (absl::IsNotFound(c.status())) {
    // A drive left by a create that died before its container existed.
    NOVADOCK_RETURN_IF_ERROR(config_drives_.Remove(uuid));
    return false;
  }
  NOVADOCK_RETURN_IF_ERROR(c.status());
  if (!IsOurs(*c, uuid)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", ContainerNameFor(uuid), " is not labelled as instance ",
        uuid, " of node ", options_.node_name, "; refusing to remove it"));
  }
  NOVADOCK_RETURN_IF_ERROR(UnpauseIfPaused(*c));
  if (c->state.running) {
    absl::Status stopped = docker_.StopContainer(c->id, grace);
    if (!stopped.ok() && !absl::IsNotFound(stopped)) {
      NOVADOCK_LOG_WARNING("stop of ", c->name, " failed (", stopped.message(),
                           "); removing with force");
    }
  }
  absl::Status removed = docker_.RemoveContainer(c->id, /*force=*/true);
  const bool existed = !absl::IsNotFound(removed);
  if (existed) NOVADOCK_RETURN_IF_ERROR(removed);
  NOVADOCK_RETURN_IF_ERROR(config_drives_.Remove(uuid));
  if (!existed) return false;
  NOVADOCK_LOG_INFO("deleted instance ", uuid, " node ", options_.node_name);
  return true;
}

absl::StatusOr<InstanceView> InstanceRunner::Start(const std::string& uuid) {
  InFlight in_flight(*this, uuid);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  NOVADOCK_RETURN_IF_ERROR(UnpauseIfPaused(c));
  if (!c.state.running) {
    NOVADOCK_RETURN_IF_ERROR(docker_.StartContainer(c.id));
    NOVADOCK_LOG_INFO("started instance ", uuid);
  }
  return View(uuid);
}

absl::StatusOr<InstanceView> InstanceRunner::Stop(const std::string& uuid,
                                                  absl::Duration grace) {
  InFlight in_flight(*this, uuid);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  NOVADOCK_RETURN_IF_ERROR(UnpauseIfPaused(c));
  if (c.state.running) {
    NOVADOCK_RETURN_IF_ERROR(docker_.StopContainer(c.id, grace));
    NOVADOCK_LOG_INFO("stopped instance ", uuid);
  }
  return View(uuid);
}

absl::StatusOr<InstanceView> InstanceRunner::Reboot(const std::string& uuid,
                                                    absl::Duration grace) {
  InFlight in_flight(*this, uuid);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  NOVADOCK_RETURN_IF_ERROR(UnpauseIfPaused(c));
  NOVADOCK_RETURN_IF_ERROR(docker_.RestartContainer(c.id, grace));
  NOVADOCK_LOG_INFO("rebooted instance ", uuid);
  return View(uuid);
}

absl::StatusOr<InstanceView> InstanceRunner::Pause(const std::string& uuid) {
  InFlight in_flight(*this, uuid);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  if (c.state.status == "paused") return ViewOf(std::move(c));
  if (!c.state.running) {
    return absl::FailedPreconditionError(
        absl::StrCat("instance ", uuid, " is not running (Docker state ",
                     c.state.status, "); only a running instance can pause"));
  }
  NOVADOCK_RETURN_IF_ERROR(docker_.PauseContainer(c.id));
  NOVADOCK_LOG_INFO("paused instance ", uuid);
  return View(uuid);
}

absl::StatusOr<InstanceView> InstanceRunner::Unpause(const std::string& uuid) {
  InFlight in_flight(*this, uuid);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  if (c.state.status == "running") return ViewOf(std::move(c));
  if (c.state.status != "paused") {
    return absl::FailedPreconditionError(
        absl::StrCat("instance ", uuid, " is not paused (Docker state ",
                     c.state.status, ")"));
  }
  NOVADOCK_RETURN_IF_ERROR(docker_.UnpauseContainer(c.id));
  NOVADOCK_LOG_INFO("unpaused instance ", uuid);
  return View(uuid);
}

absl::StatusOr<InstanceView> InstanceRunner::Get(const std::string& uuid) {
  bool creating = false;
  {
    absl::MutexLock lock(&mu_);
    creating = create_calls_.contains(uuid);
  }
  if (creating) {
    InFlight in_flight(*this, uuid);  // Waits for the create.
    return View(uuid);
  }
  return View(uuid);
}

std::vector<std::string> InstanceRunner::CreatesInProgress() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& entry : create_calls_) out.push_back(entry.first);
  return out;
}

bool InstanceRunner::IsOrphan(const Labels& labels, const std::string& status,
                              const std::string& uuid) {
  return status == "created" &&
         LabelText(labels, kLabelStartOnCreate) == "true" &&
         !create_calls_.contains(uuid);
}

absl::StatusOr<std::vector<std::string>> InstanceRunner::ReapOrphans(
    absl::Duration grace) {
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<InstanceView> list, List());
  std::vector<std::string> reaped;
  const absl::Time cutoff = clock_.Now() - grace;
  for (const InstanceView& candidate : list) {
    if (!candidate.orphan || candidate.container.created > cutoff) continue;
    InFlight in_flight(*this, candidate.uuid);
    auto c = FindLocked(candidate.uuid);
    if (absl::IsNotFound(c.status())) continue;
    NOVADOCK_RETURN_IF_ERROR(c.status());
    {
      absl::MutexLock lock(&mu_);
      // A create may have started it, or be waiting to, meanwhile.
      if (!IsOrphan(c->labels, c->state.status, candidate.uuid) ||
          c->created > cutoff) {
        continue;
      }
    }
    absl::Status removed = docker_.RemoveContainer(c->id, /*force=*/true);
    if (!absl::IsNotFound(removed)) NOVADOCK_RETURN_IF_ERROR(removed);
    NOVADOCK_RETURN_IF_ERROR(config_drives_.Remove(candidate.uuid));
    if (absl::IsNotFound(removed)) continue;
    NOVADOCK_LOG_WARNING(
        "reaped orphan instance ", candidate.uuid, " (", c->name, ", node ",
        options_.node_name, "): created ", absl::FormatTime(c->created),
        " by a create that never completed, never started, older than the "
        "grace period of ",
        absl::FormatDuration(grace));
    reaped.push_back(candidate.uuid);
  }
  return reaped;
}

absl::StatusOr<std::vector<InstanceView>> InstanceRunner::List() {
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<ContainerSummary> list,
                            docker_.ListContainers(NodeFilter()));
  std::vector<InstanceView> out;
  out.reserve(list.size());
  for (ContainerSummary& s : list) {
    ContainerDetails c;
    c.id = std::move(s.id);
    c.name = std::move(s.name);
    c.image_id = std::move(s.image);
    c.labels = std::move(s.labels);
    c.created = s.created;
    c.state.status = std::move(s.state);
    c.state.running = c.state.status == "running" || c.state.status == "paused";
    c.state.paused = c.state.status == "paused";
    out.push_back(ViewOf(std::move(c)));
  }
  absl::MutexLock lock(&mu_);
  for (InstanceView& v : out) {
    v.orphan = IsOrphan(v.container.labels, v.container.state.status, v.uuid);
  }
  return out;
}

absl::StatusOr<ConsoleOutput> InstanceRunner::Console(const std::string& uuid,
                                                      int64_t max_bytes) {
  if (max_bytes <= 0) max_bytes = options_.default_console_bytes;
  const auto limit = static_cast<size_t>(max_bytes);
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  // Every line has at least one byte, so the last `limit` lines hold at least
  // the last `limit` bytes; memory stays bounded by 2 * limit.
  LogsOptions options;
  options.tail_lines = max_bytes;
  ConsoleOutput out;
  size_t seen = 0;
  NOVADOCK_RETURN_IF_ERROR(
      docker_.ContainerLogs(c.id, options, [&](absl::string_view chunk) {
        seen += chunk.size();
        out.bytes.append(chunk.data(), chunk.size());
        if (out.bytes.size() > 2 * limit) {
          out.bytes.erase(0, out.bytes.size() - limit);
        }
        return true;
      }));
  if (out.bytes.size() > limit) out.bytes.erase(0, out.bytes.size() - limit);
  out.truncated = seen > limit;
  return out;
}

absl::StatusOr<ContainerStats> InstanceRunner::Stats(const std::string& uuid) {
  NOVADOCK_ASSIGN_OR_RETURN(ContainerDetails c, FindLocked(uuid));
  return docker_.ContainerStatsOnce(c.id);
}

absl::StatusOr<NodeView> InstanceRunner::Node() {
  NodeView node;
  NOVADOCK_ASSIGN_OR_RETURN(node.version, docker_.Version());
  NOVADOCK_ASSIGN_OR_RETURN(node.info, docker_.Info());
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<InstanceView> instances, List());
  for (const InstanceView& v : instances) {
    node.usage.memory_mb += v.flavor.memory_mb;
    node.usage.vcpus += v.flavor.vcpus;
    node.usage.disk_gb += v.flavor.disk_gb;
    node.usage.instances += 1;
  }
  node.disk_gb = FilesystemGb(node.info.docker_root_dir);
  if (node.disk_gb == 0) node.disk_gb = FilesystemGb(options_.image_dir);
  node.uptime_seconds = ReadUptimeSeconds();
  return node;
}

}  // namespace novadock::agent
