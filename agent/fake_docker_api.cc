#include "agent/fake_docker_api.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

constexpr int64_t kMinMemoryBytes = 6 << 20;  // dockerd's minimum.
constexpr int64_t kNanosPerCpu = 1000000000;
constexpr int32_t kExitSigterm = 143;
constexpr int32_t kExitSigkill = 137;
constexpr const char* kOps[] = {"Ping",
                                "Version",
                                "Info",
                                "InspectImage",
                                "TagImage",
                                "ListImages",
                                "LoadImage",
                                "RemoveImage",
                                "CommitContainer",
                                "SaveImage",
                                "CreateContainer",
                                "StartContainer",
                                "StopContainer",
                                "RestartContainer",
                                "KillContainer",
                                "PauseContainer",
                                "UnpauseContainer",
                                "RemoveContainer",
                                "InspectContainer",
                                "ListContainers",
                                "ContainerLogs",
                                "ContainerStatsOnce",
                                "StreamEvents"};
constexpr const char* kStatuses[] = {
    "created", "running", "paused", "restarting", "removing", "exited", "dead"};

bool KnownOp(absl::string_view op) {
  return std::find(std::begin(kOps), std::end(kOps), op) != std::end(kOps);
}

// A 64-hex-digit id, distinct per sequence number (splitmix64).
std::string ContainerId(uint64_t sequence) {
  std::string id;
  uint64_t x = sequence * 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 4; ++i) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    absl::StrAppendFormat(&id, "%016x", z ^ (z >> 31));
  }
  return id;
}

std::string NormalizeRef(absl::string_view ref) {
  const size_t colon = ref.rfind(':');
  const size_t slash = ref.rfind('/');
  if (colon != absl::string_view::npos &&
      (slash == absl::string_view::npos || colon > slash)) {
    return std::string(ref);
  }
  return absl::StrCat(ref, ":latest");
}

// A repository and tag Docker accepts for a new tag: lower-case repository
// components (a registry may carry a ":port"), a tag of [A-Za-z0-9_.-].
bool IsValidRepoTag(absl::string_view repo, absl::string_view tag) {
  return !repo.empty() && !tag.empty() && tag.size() <= 128 &&
         std::all_of(repo.begin(), repo.end(),
                     [](char c) {
                       return absl::ascii_islower(c) ||
                              absl::ascii_isdigit(c) || c == '/' || c == '.' ||
                              c == '_' || c == '-' || c == ':';
                     }) &&
         std::all_of(tag.begin(), tag.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
         });
}

bool ValidName(absl::string_view name) {
  if (name.size() < 2 || !absl::ascii_isalnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

// "k" or "k=v" against a label map; every value must match.
bool LabelsMatch(const Labels& labels, const std::vector<std::string>& want) {
  for (const std::string& w : want) {
    const size_t eq = w.find('=');
    const auto it = labels.find(w.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != w.substr(eq + 1)) return false;
  }
  return true;
}

// true if `values` is empty or any value satisfies `pred`.
bool AnyMatch(const Filters& filters, const std::string& key,
              const std::function<bool(const std::string&)>& pred) {
  const auto it = filters.find(key);
  if (it == filters.end() || it->second.empty()) return true;
  return std::any_of(it->second.begin(), it->second.end(), pred);
}

absl::Status CheckFilterKeys(const Filters& filters,
                             const std::set<std::string>& allowed) {
  for (const auto& [key, values] : filters) {
    if (allowed.count(key) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid filter '", key, "'"));
    }
  }
  return absl::OkStatus();
}

bool EventMatches(const Filters& f, const DockerEvent& e) {
  const auto name = e.attributes.find("name");
  const auto labels = f.find("label");
  return AnyMatch(f, "type",
                  [&](const std::string& v) { return v == e.type; }) &&
         AnyMatch(f, "event",
                  [&](const std::string& v) { return v == e.action; }) &&
         AnyMatch(f, "container",
                  [&](const std::string& v) {
                    return e.type == "container" &&
                           (absl::StartsWith(e.id, v) ||
                            (name != e.attributes.end() && name->second == v));
                  }) &&
         (labels == f.end() || LabelsMatch(e.attributes, labels->second));
}

absl::Status CheckLimits(const ContainerSpec& spec, int32_t ncpu) {
  if (spec.memory_bytes < 0 || spec.nano_cpus < 0 || spec.cpu_shares < 0) {
    return absl::InvalidArgumentError("negative resource limit");
  }
  if (spec.memory_bytes > 0 && spec.memory_bytes < kMinMemoryBytes) {
    return absl::InvalidArgumentError("Minimum memory limit allowed is 6MB");
  }
  if (spec.memory_swap_bytes > 0 && spec.memory_bytes == 0) {
    return absl::InvalidArgumentError(
        "You should always set the Memory limit when using Memoryswap limit");
  }
  if (spec.memory_swap_bytes > 0 &&
      spec.memory_swap_bytes < spec.memory_bytes) {
    return absl::InvalidArgumentError(
        "Minimum memoryswap limit should be larger than memory limit");
  }
  if (spec.nano_cpus > 0 && (spec.nano_cpus < kNanosPerCpu / 100 ||
                             spec.nano_cpus > int64_t{ncpu} * kNanosPerCpu)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs "
        "available",
        ncpu, ncpu));
  }
  return absl::OkStatus();
}

}  // namespace

FakeDockerApi::FakeDockerApi(Clock& clock) : clock_(clock) {
  info_.name = "fake-docker";
  info_.mem_total_bytes = int64_t{8} << 30;
  info_.ncpu = 4;
  info_.docker_root_dir = "/var/lib/docker";
}

// ---- Test controls
// ------------------------------------------------------------

void FakeDockerApi::AddImage(absl::string_view ref, absl::string_view id,
                             int64_t size_bytes) {
  absl::MutexLock lock(&mu_);
  ImageDetails& image = images_[std::string(id)];
  image.id = std::string(id);
  image.size_bytes = size_bytes;
  const std::string normalized = NormalizeRef(ref);
  if (std::find(image.repo_tags.begin(), image.repo_tags.end(), normalized) ==
      image.repo_tags.end()) {
    image.repo_tags.push_back(normalized);
  }
  image_refs_[normalized] = image.id;
}

void FakeDockerApi::InjectError(absl::string_view op, absl::Status status) {
  NOVADOCK_CHECK(KnownOp(op));
  absl::MutexLock lock(&mu_);
  one_shot_errors_[std::string(op)].push_back(std::move(status));
}

void FakeDockerApi::InjectStickyError(absl::string_view op,
                                      absl::Status status) {
  NOVADOCK_CHECK(KnownOp(op));
  absl::MutexLock lock(&mu_);
  sticky_errors_[std::string(op)] = std::move(status);
}

void FakeDockerApi::ClearErrorsForTest() {
  absl::MutexLock lock(&mu_);
  one_shot_errors_.clear();
  sticky_errors_.clear();
}

void FakeDockerApi::SetDownForTest(bool down) {
  absl::MutexLock lock(&mu_);
  down_ = down;
}

std::vector<std::string> FakeDockerApi::CallsForTest() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void FakeDockerApi::ClearCallsForTest() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

absl::Status FakeDockerApi::ModifyForTest(
    absl::string_view id_or_name,
    const std::function<absl::Status(Container&)>& f) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id_or_name));
  return f(*c);
}

absl::Status FakeDockerApi::AppendLogForTest(absl::string_view id_or_name,
                                             LogStream stream,
                                             absl::string_view text) {
  return ModifyForTest(id_or_name, [&](Container& c) {
    c.log.push_back({stream, std::string(text)});
    return absl::OkStatus();
  });
}

absl::Status FakeDockerApi::SetStatsForTest(absl::string_view id_or_name,
                                            const ContainerStats& stats) {
  return ModifyForTest(id_or_name, [&](Container& c) {
    c.stats = stats;
    return absl::OkStatus();
  });
}

absl::Status FakeDockerApi::SetIgnoresSigtermForTest(
    absl::string_view id_or_name, bool ignores) {
  return ModifyForTest(id_or_name, [&](Container& c) {
    c.ignores_sigterm = ignores;
    return absl::OkStatus();
  });
}

absl::Status FakeDockerApi::ExitForTest(absl::string_view id_or_name,
                                        int32_t exit_code) {
  return ModifyForTest(
      id_or_name, [&](Container& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (c.details.state.status != "running") {
          return absl::FailedPreconditionError(
              absl::StrCat("container ", c.details.name, " is not running"));
        }
        ExitLocked(c, exit_code);
        return absl::OkStatus();
      });
}

absl::Status FakeDockerApi::MarkDeadForTest(absl::string_view id_or_name) {
  return ModifyForTest(id_or_name, [](Container& c) {
    c.details.state.status = "dead";
    c.details.state.running = false;
    c.details.state.paused = false;
    c.details.state.pid = 0;
    return absl::OkStatus();
  });
}

void FakeDockerApi::AddNetworkForTest(const std::string& name,
                                      std::string subnet_prefix) {
  absl::MutexLock lock(&mu_);
  networks_[name] = std::move(subnet_prefix);
}

void FakeDockerApi::SetEventPollForTest(absl::Duration period) {
  absl::MutexLock lock(&mu_);
  event_poll_ = period;
}

void FakeDockerApi::SetInfoForTest(const DockerInfo& info) {
  absl::MutexLock lock(&mu_);
  info_ = info;
}

bool FakeDockerApi::AwaitStreamsForTest(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_streams_ >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void FakeDockerApi::SetListHookForTest(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  list_hook_ = std::move(hook);
}

std::vector<DockerEvent> FakeDockerApi::EventsForTest() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

// ---- Helpers
// ------------------------------------------------------------------

absl::Status FakeDockerApi::BeginCallLocked(absl::string_view op,
                                            absl::string_view arg) {
  calls_.push_back(arg.empty() ? std::string(op) : absl::StrCat(op, ":", arg));
  if (down_) {
    return absl::UnavailableError(
        "docker: connect to unix socket: no dockerd (fake is down)");
  }
  const std::string key(op);
  auto one_shot = one_shot_errors_.find(key);
  if (one_shot != one_shot_errors_.end() && !one_shot->second.empty()) {
    absl::Status s = std::move(one_shot->second.front());
    one_shot->second.pop_front();
    return s;
  }
  auto sticky = sticky_errors_.find(key);
  if (sticky != sticky_errors_.end()) return sticky->second;
  return absl::OkStatus();
}

FakeDockerApi::Container* FakeDockerApi::FindLocked(
    absl::string_view id_or_name) {
  if (id_or_name.empty()) return nullptr;
  auto exact = containers_.find(std::string(id_or_name));
  if (exact != containers_.end()) return &exact->second;
  absl::string_view name = absl::StripPrefix(id_or_name, "/");
  for (auto& [id, c] : containers_) {
    if (c.details.name == name) return &c;
  }
  Container* by_prefix = nullptr;
  for (auto& [id, c] : containers_) {
    if (!absl::StartsWith(id, id_or_name)) continue;
    if (by_prefix != nullptr) return nullptr;  // Ambiguous.
    by_prefix = &c;
  }
  return by_prefix;
}

absl::StatusOr<FakeDockerApi::Container*> FakeDockerApi::GetLocked(
    absl::string_view id_or_name) {
  Container* c = FindLocked(id_or_name);
  if (c == nullptr) {
    return absl::NotFoundError(absl::StrCat("No such container: ", id_or_name));
  }
  return c;
}

std::string FakeDockerApi::ResolveImageLocked(absl::string_view ref) const {
  auto by_ref = image_refs_.find(NormalizeRef(ref));
  if (by_ref != image_refs_.end()) return by_ref->second;
  for (const auto& [id, image] : images_) {
    if (id == ref || absl::StripPrefix(id, "sha256:") == ref) return id;
  }
  return "";
}

void FakeDockerApi::EmitLocked(const Container& c, absl::string_view action,
                               Labels extra) {
  DockerEvent e;
  e.type = "container";
  e.action = std::string(action);
  e.id = c.details.id;
  e.attributes = c.details.labels;
  e.attributes["image"] = c.image_ref;
  e.attributes["name"] = c.details.name;
  for (auto& [k, v] : extra) e.attributes[k] = std::move(v);
  e.time_unix_nanos = absl::ToUnixNanos(clock_.Now());
  events_.push_back(std::move(e));
}

void FakeDockerApi::RunLocked(Container& c) {
  ContainerState& s = c.details.state;
  s.status = "running";
  s.running = true;
  s.paused = false;
  s.pid = next_pid_++;
  s.exit_code = 0;
  s.started_at = clock_.Now();
  EmitLocked(c, "start");
}

void FakeDockerApi::ExitLocked(Container& c, int32_t exit_code) {
  ContainerState& s = c.details.state;
  s.status = "exited";
  s.running = false;
  s.paused = false;
  s.pid = 0;
  s.exit_code = exit_code;
  s.finished_at = clock_.Now();
  EmitLocked(c, "die", {{"exitCode", absl::StrCat(exit_code)}});
}

// dockerd 20.10 sends SIGTERM, unpauses a paused container so that the
// signal arrives, and SIGKILLs after the grace period.
void FakeDockerApi::StopLocked(Container& c) {
  EmitLocked(c, "kill", {{"signal", "15"}});
  if (c.details.state.paused) {
    c.details.state.paused = false;
    c.details.state.status = "running";
    EmitLocked(c, "unpause");
  }
  if (c.ignores_sigterm) {
    EmitLocked(c, "kill", {{"signal", "9"}});
    ExitLocked(c, kExitSigkill);
  } else {
    ExitLocked(c, kExitSigterm);
  }
  EmitLocked(c, "stop");
}

// ---- DockerApi: daemon and images
// -----------------------------------------------

absl::Status FakeDockerApi::Ping() {
  absl::MutexLock lock(&mu_);
  return BeginCallLocked("Ping", "");
}

absl::StatusOr<DockerVersion> FakeDockerApi::Version() {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("Version", ""));
  return DockerVersion{"20.10.24+dfsg1", "1.41", "linux", "amd64",
                       "6.1.0-fake"};
}

absl::StatusOr<DockerInfo> FakeDockerApi::Info() {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("Info", ""));
  return info_;
}

absl::StatusOr<ImageDetails> FakeDockerApi::InspectImage(
    absl::string_view ref) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("InspectImage", ref));
  const std::string id = ResolveImageLocked(ref);
  if (id.empty())
    return absl::NotFoundError(absl::StrCat("No such image: ", ref));
  return images_.at(id);
}

void FakeDockerApi::ExpectLoadForTest(std::vector<std::string> refs,
                                      std::string id) {
  absl::MutexLock lock(&mu_);
  next_load_ = {std::move(refs), std::move(id)};
}

int64_t FakeDockerApi::LoadedBytesForTest() const {
  absl::MutexLock lock(&mu_);
  return loaded_bytes_;
}

absl::StatusOr<std::vector<ImageDetails>> FakeDockerApi::ListImages() {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("ListImages", ""));
  std::vector<ImageDetails> out;
  for (const auto& [id, image] : images_) out.push_back(image);
  return out;
}

absl::StatusOr<std::vector<std::string>> FakeDockerApi::LoadImage(
    const UploadSource& source) {
  {
    absl::MutexLock lock(&mu_);
    NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("LoadImage", ""));
  }
  // Reads the whole upload, as dockerd does, without holding the lock.
  char buffer[64 << 10];
  int64_t total = 0;
  while (true) {
    NOVADOCK_ASSIGN_OR_RETURN(size_t n, source(buffer, sizeof(buffer)));
    if (n == 0) break;
    total += static_cast<int64_t>(n);
  }
  absl::MutexLock lock(&mu_);
  loaded_bytes_ += total;
  if (next_load_.id.empty()) {
    return absl::InvalidArgumentError(
        "fake: no image expected from this load (ExpectLoadForTest)");
  }
  std::vector<std::string> loaded;
  ImageDetails& image = images_[next_load_.id];
  image.id = next_load_.id;
  image.size_bytes = total;
  for (const std::string& ref : next_load_.refs) {
    const std::string normalized = NormalizeRef(ref);
    if (std::find(image.repo_tags.begin(), image.repo_tags.end(), normalized) ==
        image.repo_tags.end()) {
      image.repo_tags.push_back(normalized);
    }
    image_refs_[normalized] = image.id;
    loaded.push_back(normalized);
  }
  if (loaded.empty()) loaded.push_back(image.id);
  next_load_ = {};
  return loaded;
}

absl::Status FakeDockerApi::RemoveImage(absl::string_view ref, bool force) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("RemoveImage", ref));
  const std::string id = ResolveImageLocked(ref);
  if (id.empty()) {
    return absl::NotFoundError(absl::StrCat("No such image: ", ref));
  }
  ImageDetails& image = images_[id];
  const std::string normalized = NormalizeRef(ref);
  auto tag =
      std::find(image.repo_tags.begin(), image.repo_tags.end(), normalized);
  // As dockerd: removing one of several tags only untags, even in use.
  if (tag != image.repo_tags.end() && image.repo_tags.size() > 1) {
    image.repo_tags.erase(tag);
    image_refs_.erase(normalized);
    return absl::OkStatus();
  }
  if (!force) {
    for (const auto& [cid, c] : containers_) {
      if (c.details.image_id == id) {
        return absl::FailedPreconditionError(absl::StrCat(
            "conflict: unable to delete ", ref,
            " (must be forced) - image is being used by container ",
            cid.substr(0, 12)));
      }
    }
  }
  for (const std::string& t : image.repo_tags) image_refs_.erase(t);
  images_.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeDockerApi::CommitContainer(
    absl::string_view id, absl::string_view repo, absl::string_view tag,
    const Labels& labels) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("CommitContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  const absl::string_view full_tag = tag.empty() ? "latest" : tag;
  const std::string ref = absl::StrCat(repo, ":", full_tag);
  if (!IsValidRepoTag(repo, full_tag)) {  // dockerd 20.10 answers 500.
    return absl::InternalError(absl::StrCat("invalid reference format: ", ref));
  }
  const std::string image_id =
      absl::StrCat("sha256:", ContainerId(uint64_t{1} << 40 | next_commit_++));
  ImageDetails& image = images_[image_id];
  image.id = image_id;
  const auto base = images_.find(c->details.image_id);
  image.size_bytes = base != images_.end() ? base->second.size_bytes : 1 << 20;
  // Moving a tag removes it from the image that had it.
  if (auto old = image_refs_.find(ref); old != image_refs_.end()) {
    std::vector<std::string>& tags = images_[old->second].repo_tags;
    tags.erase(std::remove(tags.begin(), tags.end(), ref), tags.end());
  }
  image.repo_tags.push_back(ref);
  image_refs_[ref] = image_id;
  commit_labels_[image_id] = labels;
  EmitLocked(*c, "commit");
  return image_id;
}

std::string FakeDockerApi::SavedArchiveForTest(const ImageDetails& image) {
  const size_t size = static_cast<size_t>(
      std::clamp<int64_t>(image.size_bytes, 1, int64_t{4} << 20));
  const std::string line = absl::StrCat("fake docker-save of ", image.id, "\n");
  std::string out;
  out.reserve(size + line.size());
  while (out.size() < size) out += line;
  out.resize(size);
  return out;
}

Labels FakeDockerApi::CommitLabelsForTest(absl::string_view image_id) const {
  absl::MutexLock lock(&mu_);
  const auto it = commit_labels_.find(std::string(image_id));
  return it == commit_labels_.end() ? Labels{} : it->second;
}

absl::Status FakeDockerApi::SaveImage(absl::string_view ref,
                                      const ChunkCallback& on_chunk) {
  std::string archive;
  {
    absl::MutexLock lock(&mu_);
    NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("SaveImage", ref));
    const std::string id = ResolveImageLocked(ref);
    if (id.empty()) {
      return absl::NotFoundError(absl::StrCat("No such image: ", ref));
    }
    archive = SavedArchiveForTest(images_.at(id));
  }
  // Streamed without the lock, as dockerd streams.
  constexpr size_t kChunk = 64 << 10;
  for (size_t offset = 0; offset < archive.size(); offset += kChunk) {
    if (!on_chunk(absl::string_view(archive).substr(offset, kChunk))) break;
  }
  return absl::OkStatus();
}

absl::Status FakeDockerApi::TagImage(absl::string_view ref,
                                     absl::string_view repo,
                                     absl::string_view tag) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("TagImage", ref));
  const std::string id = ResolveImageLocked(ref);
  if (id.empty())
    return absl::NotFoundError(absl::StrCat("No such image: ", ref));
  if (repo.empty())
    return absl::InvalidArgumentError(
        "repository name must have at least one component");
  const std::string new_ref =
      absl::StrCat(repo, ":", tag.empty() ? "latest" : tag);
  // Moving a tag removes it from the image that had it.
  auto old = image_refs_.find(new_ref);
  if (old != image_refs_.end() && old->second != id) {
    std::vector<std::string>& tags = images_[old->second].repo_tags;
    tags.erase(std::remove(tags.begin(), tags.end(), new_ref), tags.end());
  }
  image_refs_[new_ref] = id;
  std::vector<std::string>& tags = images_[id].repo_tags;
  if (std::find(tags.begin(), tags.end(), new_ref) == tags.end()) {
    tags.push_back(new_ref);
  }
  events_.push_back(DockerEvent{"image",
                                "tag",
                                id,
                                {{"name", new_ref}},
                                absl::ToUnixNanos(clock_.Now())});
  return absl::OkStatus();
}

// ---- DockerApi: containers
// ------------------------------------------------------

absl::StatusOr<std::string> FakeDockerApi::CreateContainer(
    const ContainerSpec& spec) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("CreateContainer", spec.name));
  const uint64_t sequence = next_sequence_++;
  const std::string id = ContainerId(sequence);
  const std::string name = spec.name.empty()
                               ? absl::StrCat("fake_", sequence)
                               : std::string(absl::StripPrefix(spec.name, "/"));
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid container name (", name,
                     "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  }
  for (const auto& [other_id, other] : containers_) {
    if (other.details.name == name) {
      return absl::AlreadyExistsError(
          absl::StrCat("Conflict. The container name \"/", name,
                       "\" is already in use by container \"", other_id, "\""));
    }
  }
  const std::string image_id = ResolveImageLocked(spec.image);
  if (image_id.empty()) {
    return absl::NotFoundError(absl::StrCat("No such image: ", spec.image));
  }
  NOVADOCK_RETURN_IF_ERROR(CheckLimits(spec, info_.ncpu));
  // As dockerd: a bind source must exist; a user-defined network must exist
  // and a static address must be in its subnet.
  if (!spec.config_source.empty()) {
    std::error_code error;
    if (!std::filesystem::is_directory(spec.config_source, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid mount config for type \"bind\": bind source "
                       "path does not exist: ",
                       spec.config_source));
    }
  }
  const bool user_network =
      spec.network_mode != "none" && spec.network_mode != "bridge" &&
      spec.network_mode != "default" && !spec.network_mode.empty();
  if (user_network) {
    auto net = networks_.find(spec.network_mode);
    if (net == networks_.end()) {
      return absl::NotFoundError(
          absl::StrCat("network ", spec.network_mode, " not found"));
    }
    if (!spec.ipv4_address.empty() &&
        !absl::StartsWith(spec.ipv4_address, net->second)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no configured subnet or ip-range contain the IP address ",
          spec.ipv4_address));
    }
  } else if (!spec.ipv4_address.empty() || !spec.ipv6_address.empty()) {
    return absl::InvalidArgumentError(
        "user specified IP address is supported on user defined networks "
        "only");
  }

  Container c;
  c.sequence = sequence;
  c.image_ref = spec.image;
  ContainerDetails& d = c.details;
  d.id = id;
  d.name = name;
  d.image_id = image_id;
  d.hostname = spec.hostname.empty() ? id.substr(0, 12) : spec.hostname;
  d.labels = spec.labels;
  d.created = clock_.Now();
  d.state.status = "created";
  d.memory_bytes = spec.memory_bytes;
  d.memory_swap_bytes = spec.memory_swap_bytes;
  d.nano_cpus = spec.nano_cpus;
  d.cpu_shares = spec.cpu_shares;
  d.pids_limit = spec.pids_limit;
  d.privileged = false;
  d.network_mode = spec.network_mode.empty() ? "default" : spec.network_mode;
  if (user_network) {
    d.networks.push_back({spec.network_mode, spec.ipv4_address,
                          spec.ipv6_address, spec.mac_address});
  }
  if (!spec.config_source.empty()) {
    d.mounts.push_back(
        {"bind", spec.config_source, spec.config_target, /*read_write=*/false});
  }
  const Container& stored = containers_[id] = std::move(c);
  EmitLocked(stored, "create");
  return id;
}

absl::Status FakeDockerApi::StartContainer(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("StartContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  const std::string& status = c->details.state.status;
  if (status == "running") return absl::OkStatus();  // 304.
  if (status == "paused") {
    return absl::FailedPreconditionError(
        "cannot start a paused container, try unpause instead");
  }
  if (status != "created" && status != "exited") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", c->details.name, " is ", status));
  }
  RunLocked(*c);
  return absl::OkStatus();
}

absl::Status FakeDockerApi::StopContainer(absl::string_view id,
                                          absl::Duration /*grace*/) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("StopContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  if (c->details.state.running) StopLocked(*c);  // Else 304.
  return absl::OkStatus();
}

absl::Status FakeDockerApi::RestartContainer(absl::string_view id,
                                             absl::Duration /*grace*/) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("RestartContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  if (c->details.state.status == "dead") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", c->details.name, " is dead"));
  }
  if (c->details.state.running) StopLocked(*c);
  RunLocked(*c);
  EmitLocked(*c, "restart");
  return absl::OkStatus();
}

absl::Status FakeDockerApi::KillContainer(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("KillContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  if (!c->details.state.running) {
    return absl::FailedPreconditionError(
        absl::StrCat("Cannot kill container: ", id, ": Container ",
                     c->details.id, " is not running"));
  }
  // A paused container dies without an unpause event.
  EmitLocked(*c, "kill", {{"signal", "9"}});
  ExitLocked(*c, kExitSigkill);
  return absl::OkStatus();
}

absl::Status FakeDockerApi::PauseContainer(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("PauseContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  ContainerState& s = c->details.state;
  if (s.paused) {
    return absl::FailedPreconditionError(
        absl::StrCat("Container ", c->details.id, " is already paused"));
  }
  if (!s.running) {
    return absl::FailedPreconditionError(
        absl::StrCat("Container ", c->details.id, " is not running"));
  }
  s.paused = true;
  s.status = "paused";
  EmitLocked(*c, "pause");
  return absl::OkStatus();
}

absl::Status FakeDockerApi::UnpauseContainer(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("UnpauseContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  ContainerState& s = c->details.state;
  if (!s.paused) {
    return absl::FailedPreconditionError(
        absl::StrCat("Container ", c->details.id, " is not paused"));
  }
  s.paused = false;
  s.status = "running";
  EmitLocked(*c, "unpause");
  return absl::OkStatus();
}

absl::Status FakeDockerApi::RemoveContainer(absl::string_view id, bool force) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("RemoveContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  if (c->details.state.running) {
    if (!force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "You cannot remove a ", c->details.state.status, " container ",
          c->details.id,
          ". Stop the container before attempting removal or force remove"));
    }
    EmitLocked(*c, "kill", {{"signal", "9"}});
    ExitLocked(*c, kExitSigkill);
  }
  EmitLocked(*c, "destroy");
  containers_.erase(c->details.id);
  return absl::OkStatus();
}

absl::StatusOr<ContainerDetails> FakeDockerApi::InspectContainer(
    absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("InspectContainer", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  return c->details;
}

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerApi::ListContainers(
    const Filters& filters) {
  std::function<void()> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = list_hook_;
  }
  if (hook) hook();
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("ListContainers", ""));
  NOVADOCK_RETURN_IF_ERROR(
      CheckFilterKeys(filters, {"label", "name", "id", "status"}));
  const auto statuses = filters.find("status");
  if (statuses != filters.end()) {
    for (const std::string& v : statuses->second) {
      if (std::find(std::begin(kStatuses), std::end(kStatuses), v) ==
          std::end(kStatuses)) {
        return absl::InvalidArgumentError(
            absl::StrCat("Invalid filter 'status=", v, "'"));
      }
    }
  }
  const auto labels = filters.find("label");
  std::vector<const Container*> matched;
  for (const auto& [id, c] : containers_) {
    const ContainerDetails& d = c.details;
    if ((labels == filters.end() || LabelsMatch(d.labels, labels->second)) &&
        AnyMatch(filters, "name",
                 [&](const std::string& v) {
                   return absl::StrContains(d.name, absl::StripPrefix(v, "/"));
                 }) &&
        AnyMatch(
            filters, "id",
            [&](const std::string& v) { return absl::StartsWith(d.id, v); }) &&
        AnyMatch(filters, "status",
                 [&](const std::string& v) { return v == d.state.status; })) {
      matched.push_back(&c);
    }
  }
  std::sort(matched.begin(), matched.end(),
            [](const Container* a, const Container* b) {
              return a->sequence > b->sequence;
            });
  std::vector<ContainerSummary> out;
  for (const Container* c : matched) {
    out.push_back(ContainerSummary{c->details.id, c->details.name, c->image_ref,
                                   c->details.state.status, c->details.labels,
                                   c->details.created});
  }
  return out;
}

absl::Status FakeDockerApi::ContainerLogs(absl::string_view id,
                                          const LogsOptions& options,
                                          const ChunkCallback& on_chunk) {
  std::vector<std::string> lines;
  {
    absl::MutexLock lock(&mu_);
    NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("ContainerLogs", id));
    NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
    for (const LogEntry& entry : c->log) {
      const bool wanted = entry.stream == LogStream::kStdout
                              ? options.stdout_stream
                              : options.stderr_stream;
      if (!wanted) continue;
      // Lines keep their "\n"; a trailing partial line is its own chunk.
      absl::string_view rest = entry.text;
      while (!rest.empty()) {
        const size_t newline = rest.find('\n');
        const size_t n =
            newline == absl::string_view::npos ? rest.size() : newline + 1;
        lines.emplace_back(rest.substr(0, n));
        rest.remove_prefix(n);
      }
    }
  }
  size_t first = 0;
  if (options.tail_lines >= 0 &&
      lines.size() > static_cast<size_t>(options.tail_lines)) {
    first = lines.size() - static_cast<size_t>(options.tail_lines);
  }
  for (size_t i = first; i < lines.size(); ++i) {
    if (!on_chunk(lines[i])) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<ContainerStats> FakeDockerApi::ContainerStatsOnce(
    absl::string_view id) {
  absl::MutexLock lock(&mu_);
  NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("ContainerStatsOnce", id));
  NOVADOCK_ASSIGN_OR_RETURN(Container * c, GetLocked(id));
  if (!c->details.state.running) return ContainerStats{};  // Zeros, as dockerd.
  ContainerStats stats = c->stats;
  if (stats.memory_limit_bytes == 0) {
    stats.memory_limit_bytes = static_cast<uint64_t>(
        c->details.memory_bytes > 0 ? c->details.memory_bytes
                                    : info_.mem_total_bytes);
  }
  if (stats.pids_current == 0) stats.pids_current = 1;
  stats.read = clock_.Now();
  return stats;
}

absl::Status FakeDockerApi::StreamEvents(const Filters& filters,
                                         int64_t since_unix_nanos,
                                         const EventCallback& on_event,
                                         const std::atomic<bool>* cancel) {
  size_t next = 0;
  {
    absl::MutexLock lock(&mu_);
    NOVADOCK_RETURN_IF_ERROR(BeginCallLocked("StreamEvents", ""));
    // dockerd 20.10 ignores unknown event filter keys; so does the fake.
    if (since_unix_nanos == 0) next = events_.size();
    ++active_streams_;
  }
  absl::Status result =
      FollowEvents(filters, since_unix_nanos, next, on_event, cancel);
  absl::MutexLock lock(&mu_);
  --active_streams_;
  return result;
}

absl::Status FakeDockerApi::FollowEvents(const Filters& filters,
                                         int64_t since_unix_nanos, size_t next,
                                         const EventCallback& on_event,
                                         const std::atomic<bool>* cancel) {
  // Ends only by cancel, callback or "connection" loss, as the real stream.
  while (cancel == nullptr || !cancel->load()) {
    std::vector<DockerEvent> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return down_ || events_.size() > next;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), event_poll_);
      if (down_) {
        return absl::UnavailableError(
            "docker events: connection lost (fake is down)");
      }
      batch.assign(events_.begin() + static_cast<std::ptrdiff_t>(next),
                   events_.end());
      next = events_.size();
    }
    for (const DockerEvent& e : batch) {
      if (e.time_unix_nanos < since_unix_nanos || !EventMatches(filters, e)) {
        continue;
      }
      if (!on_event(e)) return absl::OkStatus();
      if (cancel != nullptr && cancel->load()) return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace novadock::agent
