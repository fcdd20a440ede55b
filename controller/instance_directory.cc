#include "controller/instance_directory.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/fan_out.h"
#include "proto/common/grpc_status.h"

namespace novadock::controller {
namespace {

// Bound of each node's answer to "do you have this uuid?": one Docker
// inspect, or the end of a create of it in progress there.
constexpr absl::Duration kLookupTimeout = absl::Seconds(5);

using NodeStub =
    std::pair<std::string, std::shared_ptr<novadock::v1::Agent::StubInterface>>;

std::unique_ptr<grpc::ClientContext> ContextWithTimeout(absl::Duration d) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(d));
  return ctx;
}

}  // namespace

InstanceDirectory::InstanceDirectory(NodeRegistry& registry,
                                     absl::Duration call_timeout)
    : registry_(registry), call_timeout_(call_timeout) {}

void InstanceDirectory::NoteChange(const std::string& uuid) {
  if (rebuilds_running_ > 0) changed_at_[uuid] = ++changes_;
}

std::vector<std::string> InstanceDirectory::Rebuild() {
  const std::vector<NodeStub> nodes = registry_.Stubs();
  uint64_t began;
  {
    absl::MutexLock lock(&mu_);
    ++rebuilds_running_;
    began = changes_;
  }
  auto lists = FanOut(nodes, [&](const NodeStub& node) {
    auto ctx = ContextWithTimeout(call_timeout_);
    novadock::v1::ListInstancesResponse response;
    grpc::Status s = node.second->ListInstances(
        ctx.get(), novadock::v1::ListInstancesRequest(), &response);
    absl::StatusOr<novadock::v1::ListInstancesResponse> out =
        s.ok() ? absl::StatusOr<novadock::v1::ListInstancesResponse>(
                     std::move(response))
               : FromGrpcStatus(s);
    return out;
  });
  std::vector<std::string> unreachable;
  absl::MutexLock lock(&mu_);
  auto changed_since =
      [&](const std::string& uuid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = changed_at_.find(uuid);
        return it != changed_at_.end() && it->second > began;
      };
  // Nodes no longer in the registry are not "listed" if they come back.
  absl::flat_hash_set<std::string> current;
  for (const NodeStub& node : nodes) current.insert(node.first);
  absl::erase_if(listed_,
                 [&](const std::string& n) { return !current.contains(n); });
  absl::flat_hash_set<std::string> answered;
  for (size_t i = 0; i < nodes.size(); ++i) {
    registry_.RecordCallResult(nodes[i].first, lists[i].status());
    if (lists[i].ok()) {
      answered.insert(nodes[i].first);
      listed_.insert(nodes[i].first);
    } else {
      unreachable.push_back(nodes[i].first);
    }
  }
  // An answered node's list is complete: entries for it that it no longer
  // has (deleted behind the controller's back) go, and it settles every
  // create of it that is not in progress. One pass over each map.
  auto settled_by_list =
      [&](const auto& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return answered.contains(entry.second) && !changed_since(entry.first);
      };
  absl::erase_if(node_of_, settled_by_list);
  absl::erase_if(uncertain_, settled_by_list);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!lists[i].ok()) continue;
    for (const novadock::v1::Instance& inst : lists[i]->instances()) {
      if (!changed_since(inst.uuid())) node_of_[inst.uuid()] = nodes[i].first;
    }
    for (const std::string& uuid : lists[i]->creating()) {
      if (!node_of_.contains(uuid) && !changed_since(uuid)) {
        uncertain_[uuid] = nodes[i].first;
      }
    }
  }
  if (--rebuilds_running_ == 0) changed_at_.clear();
  return unreachable;
}

absl::StatusOr<std::string> InstanceDirectory::Locate(const std::string& uuid) {
  const std::vector<NodeStub> nodes = registry_.Stubs();
  {
    absl::MutexLock lock(&mu_);
    auto it = node_of_.find(uuid);
    if (it != node_of_.end()) return it->second;
    bool all_listed = true;
    for (const NodeStub& n : nodes) all_listed &= listed_.contains(n.first);
    if (all_listed && !uncertain_.contains(uuid)) {
      return absl::NotFoundError(
          absl::StrCat("instance ", uuid, " not found on any node"));
    }
  }
  return Find(uuid);
}

absl::StatusOr<std::string> InstanceDirectory::Find(const std::string& uuid) {
  {
    absl::MutexLock lock(&mu_);
    auto it = node_of_.find(uuid);
    if (it != node_of_.end()) return it->second;
  }
  // FAILED nodes are not asked (a hung agent would hold every lookup for
  // the whole timeout): one that was listed has its instances in the cache,
  // and one that was not, or where the uuid's create is uncertain, makes
  // the answer UNAVAILABLE below.
  absl::flat_hash_set<std::string> failed;
  for (const novadock::v1::NodeStatus& n : registry_.List()) {
    if (n.state() == novadock::v1::NODE_STATE_FAILED) failed.insert(n.name());
  }
  const std::vector<NodeStub> nodes = registry_.Stubs();
  const absl::Duration timeout = std::min(call_timeout_, kLookupTimeout);
  auto answers = FanOut(nodes, [&](const NodeStub& node) {
    if (failed.contains(node.first)) {
      return absl::UnavailableError(
          absl::StrCat("node ", node.first, " is FAILED"));
    }
    auto ctx = ContextWithTimeout(timeout);
    novadock::v1::InstanceRequest request;
    request.set_uuid(uuid);
    novadock::v1::Instance instance;
    return FromGrpcStatus(
        node.second->GetInstance(ctx.get(), request, &instance));
  });
  // Unreachable and never listed, or where the uuid's create is uncertain.
  std::vector<std::string> unknown;
  absl::MutexLock lock(&mu_);
  auto it = uncertain_.find(uuid);
  const std::string uncertain_node = it == uncertain_.end() ? "" : it->second;
  bool settled = false;  // The uncertain node answered NOT_FOUND.
  for (size_t i = 0; i < nodes.size(); ++i) {
    const bool maybe_there = nodes[i].first == uncertain_node;
    if (answers[i].ok()) {
      node_of_[uuid] = nodes[i].first;
      uncertain_.erase(uuid);
      NoteChange(uuid);
      return nodes[i].first;
    }
    if (absl::IsNotFound(answers[i])) {
      // The agent answers for a create in progress only once it is done.
      settled = settled || maybe_there;
      continue;
    }
    if (!listed_.contains(nodes[i].first) || maybe_there) {
      unknown.push_back(nodes[i].first);
    }
  }
  if (settled) {
    uncertain_.erase(uuid);
    NoteChange(uuid);
  }
  if (!unknown.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "instance ", uuid, " not found on the reachable nodes, and node(s) ",
        absl::StrJoin(unknown, ", "),
        " could not be asked; retry when they answer (a node gone for good: "
        "remove it from the controller's agents and send SIGHUP)"));
  }
  return absl::NotFoundError(
      absl::StrCat("instance ", uuid, " not found on any node"));
}

void InstanceDirectory::Record(const std::string& uuid,
                               const std::string& node) {
  absl::MutexLock lock(&mu_);
  node_of_[uuid] = node;
  uncertain_.erase(uuid);
  NoteChange(uuid);
}

void InstanceDirectory::Forget(const std::string& uuid) {
  absl::MutexLock lock(&mu_);
  node_of_.erase(uuid);
  uncertain_.erase(uuid);
  NoteChange(uuid);
}

void InstanceDirectory::MarkUncertain(const std::string& uuid,
                                      const std::string& node) {
  absl::MutexLock lock(&mu_);
  if (!node_of_.contains(uuid)) uncertain_[uuid] = node;
  NoteChange(uuid);
}

}  // namespace novadock::controller
