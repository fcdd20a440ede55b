#include "controller/instance_directory.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/fan_out.h"
#include "proto/common/grpc_status.h"

namespace novadock::controller {
namespace {

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

std::vector<std::string> InstanceDirectory::Rebuild() {
  const std::vector<NodeStub> nodes = registry_.Stubs();
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
  for (size_t i = 0; i < nodes.size(); ++i) {
    registry_.RecordCallResult(nodes[i].first, lists[i].status());
    if (!lists[i].ok()) {
      unreachable.push_back(nodes[i].first);
      continue;
    }
    listed_.insert(nodes[i].first);
    // The node's list is complete: entries for it that it no longer has
    // (deleted behind the controller's back) go.
    absl::erase_if(node_of_, [&](const auto& entry) {
      return entry.second == nodes[i].first;
    });
    for (const novadock::v1::Instance& inst : lists[i]->instances()) {
      node_of_[inst.uuid()] = nodes[i].first;
    }
  }
  return unreachable;
}

absl::StatusOr<std::string> InstanceDirectory::Find(const std::string& uuid) {
  {
    absl::MutexLock lock(&mu_);
    auto it = node_of_.find(uuid);
    if (it != node_of_.end()) return it->second;
  }
  const std::vector<NodeStub> nodes = registry_.Stubs();
  auto answers = FanOut(nodes, [&](const NodeStub& node) {
    auto ctx = ContextWithTimeout(call_timeout_);
    novadock::v1::InstanceRequest request;
    request.set_uuid(uuid);
    novadock::v1::Instance instance;
    return FromGrpcStatus(
        node.second->GetInstance(ctx.get(), request, &instance));
  });
  std::vector<std::string> unknown;  // Unreachable and never listed.
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (answers[i].ok()) {
      node_of_[uuid] = nodes[i].first;
      return nodes[i].first;
    }
    if (!absl::IsNotFound(answers[i]) && !listed_.contains(nodes[i].first)) {
      unknown.push_back(nodes[i].first);
    }
  }
  if (!unknown.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "instance ", uuid, " not found on the reachable nodes, and node(s) ",
        absl::StrJoin(unknown, ", "),
        " could not be asked; retry when they answer"));
  }
  return absl::NotFoundError(
      absl::StrCat("instance ", uuid, " not found on any node"));
}

void InstanceDirectory::Record(const std::string& uuid,
                               const std::string& node) {
  absl::MutexLock lock(&mu_);
  node_of_[uuid] = node;
}

void InstanceDirectory::Forget(const std::string& uuid) {
  absl::MutexLock lock(&mu_);
  node_of_.erase(uuid);
}

}  // namespace novadock::controller
