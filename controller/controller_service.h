// ControllerService: the gRPC face of novadock.v1.Controller. Each RPC
// validates, finds the node (NodeRegistry placement for Spawn,
// InstanceDirectory otherwise), calls that node's agent with a deadline, and
// records the outcome for the node's health. No lock is held across an agent
// call; one dead agent costs only the calls that need it.
//
// Thread-safe. Every collaborator must outlive it.
#ifndef NOVADOCK_CONTROLLER_CONTROLLER_SERVICE_H_
#define NOVADOCK_CONTROLLER_CONTROLLER_SERVICE_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/event_hub.h"
#include "controller/instance_directory.h"
#include "controller/node_registry.h"
#include "novadock/v1/controller.grpc.pb.h"

namespace novadock::controller {

struct ServiceOptions {
  std::string image_dir;  // Archives PrefetchImage may send.
  absl::Duration call_timeout = absl::Seconds(30);    // Agent calls.
  absl::Duration spawn_timeout = absl::Seconds(300);  // Includes image load.
  absl::Duration snapshot_timeout = absl::Minutes(30);
  absl::Duration prefetch_timeout = absl::Minutes(60);
};

class ControllerService final : public novadock::v1::Controller::Service {
 public:
  ControllerService(NodeRegistry& registry, InstanceDirectory& directory,
                    EventHub& events, ServiceOptions options);

  grpc::Status ListNodes(grpc::ServerContext*,
                         const novadock::v1::ListNodesRequest*,
                         novadock::v1::ListNodesResponse*) override;
  grpc::Status GetNode(grpc::ServerContext*,
                       const novadock::v1::NodeNameRequest*,
                       novadock::v1::NodeStatus*) override;
  grpc::Status DrainNode(grpc::ServerContext*,
                         const novadock::v1::DrainNodeRequest*,
                         novadock::v1::NodeStatus*) override;
  grpc::Status UndrainNode(grpc::ServerContext*,
                           const novadock::v1::UndrainNodeRequest*,
                           novadock::v1::NodeStatus*) override;
  grpc::Status Spawn(grpc::ServerContext*, const novadock::v1::SpawnRequest*,
                     novadock::v1::Instance*) override;
  grpc::Status Destroy(grpc::ServerContext*,
                       const novadock::v1::InstanceCallRequest*,
                       novadock::v1::DeleteInstanceResponse*) override;
  grpc::Status Reboot(grpc::ServerContext*,
                      const novadock::v1::InstanceCallRequest*,
                      novadock::v1::Instance*) override;
  grpc::Status PowerOn(grpc::ServerContext*,
                       const novadock::v1::InstanceCallRequest*,
                       novadock::v1::Instance*) override;
  grpc::Status PowerOff(grpc::ServerContext*,
                        const novadock::v1::InstanceCallRequest*,
                        novadock::v1::Instance*) override;
  grpc::Status Pause(grpc::ServerContext*,
                     const novadock::v1::InstanceCallRequest*,
                     novadock::v1::Instance*) override;
  grpc::Status Unpause(grpc::ServerContext*,
                       const novadock::v1::InstanceCallRequest*,
                       novadock::v1::Instance*) override;
  grpc::Status GetInstance(grpc::ServerContext*,
                           const novadock::v1::InstanceCallRequest*,
                           novadock::v1::Instance*) override;
  grpc::Status ListInstances(
      grpc::ServerContext*, const novadock::v1::ControllerListInstancesRequest*,
      novadock::v1::ControllerListInstancesResponse*) override;
  grpc::Status GetConsoleOutput(
      grpc::ServerContext*, const novadock::v1::ControllerConsoleRequest*,
      novadock::v1::GetConsoleOutputResponse*) override;
  grpc::Status Snapshot(grpc::ServerContext*,
                        const novadock::v1::SnapshotRequest*,
                        novadock::v1::SnapshotResponse*) override;
  grpc::Status PrefetchImage(grpc::ServerContext*,
                             const novadock::v1::PrefetchImageRequest*,
                             novadock::v1::PrefetchImageResponse*) override;
  grpc::Status WatchEvents(
      grpc::ServerContext*, const novadock::v1::ControllerWatchEventsRequest*,
      grpc::ServerWriter<novadock::v1::ControllerEvent>*) override;
  grpc::Status PollEvents(grpc::ServerContext*,
                          const novadock::v1::PollEventsRequest*,
                          novadock::v1::PollEventsResponse*) override;

 private:
  using Stub = novadock::v1::Agent::StubInterface;
  // Calls `call(stub, context)` on the node holding `uuid` (request.node as
  // a hint), with `timeout`; on the agent's NOT_FOUND the directory entry
  // is dropped and every node asked once more.
  template <typename Call>
  absl::Status OnInstanceNode(const novadock::v1::InstanceCallRequest& request,
                              absl::Duration timeout, Call call,
                              std::string* node_out = nullptr);
  // Power operations: one agent RPC on the instance's node.
  template <typename Method, typename AgentRequest>
  grpc::Status PowerCall(const char* rpc,
                         const novadock::v1::InstanceCallRequest& request,
                         Method method, const AgentRequest& agent_request,
                         novadock::v1::Instance* response);
  absl::Status SpawnLocked(const novadock::v1::SpawnRequest& request,
                           novadock::v1::Instance* response);

  NodeRegistry& registry_;
  InstanceDirectory& directory_;
  EventHub& events_;
  const ServiceOptions options_;

  absl::Mutex mu_;  // Guards spawning_.
  // Uuids with a Spawn in progress here: a second Spawn of one waits.
  absl::flat_hash_set<std::string> spawning_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_CONTROLLER_SERVICE_H_
