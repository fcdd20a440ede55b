// AgentService: the gRPC face of novadock.v1.Agent. Each RPC validates its
// request (INVALID_ARGUMENT naming the field), converts it, calls one
// InstanceRunner, ImageStore, Snapshotter or EventStream method and converts
// the answer back. It holds no state. Thread-safe; `runner`, `events`,
// `images` and `snapshots` must outlive it.
#ifndef NOVADOCK_AGENT_AGENT_SERVICE_H_
#define NOVADOCK_AGENT_AGENT_SERVICE_H_

#include "agent/event_stream.h"
#include "agent/image_store.h"
#include "agent/instance_runner.h"
#include "agent/snapshotter.h"
#include "novadock/v1/agent.grpc.pb.h"

namespace novadock::agent {

class AgentService final : public novadock::v1::Agent::Service {
 public:
  AgentService(InstanceRunner& runner, EventStream& events, ImageStore& images,
               Snapshotter& snapshots);

  grpc::Status GetNode(grpc::ServerContext* context,
                       const novadock::v1::GetNodeRequest* request,
                       novadock::v1::Node* response) override;
  grpc::Status CreateInstance(
      grpc::ServerContext* context,
      const novadock::v1::CreateInstanceRequest* request,
      novadock::v1::Instance* response) override;
  grpc::Status DeleteInstance(
      grpc::ServerContext* context,
      const novadock::v1::DeleteInstanceRequest* request,
      novadock::v1::DeleteInstanceResponse* response) override;
  grpc::Status StartInstance(grpc::ServerContext* context,
                             const novadock::v1::InstanceRequest* request,
                             novadock::v1::Instance* response) override;
  grpc::Status StopInstance(grpc::ServerContext* context,
                            const novadock::v1::StopInstanceRequest* request,
                            novadock::v1::Instance* response) override;
  grpc::Status RebootInstance(grpc::ServerContext* context,
                              const novadock::v1::StopInstanceRequest* request,
                              novadock::v1::Instance* response) override;
  grpc::Status PauseInstance(grpc::ServerContext* context,
                             const novadock::v1::InstanceRequest* request,
                             novadock::v1::Instance* response) override;
  grpc::Status UnpauseInstance(grpc::ServerContext* context,
                               const novadock::v1::InstanceRequest* request,
                               novadock::v1::Instance* response) override;
  grpc::Status GetInstance(grpc::ServerContext* context,
                           const novadock::v1::InstanceRequest* request,
                           novadock::v1::Instance* response) override;
  grpc::Status ListInstances(
      grpc::ServerContext* context,
      const novadock::v1::ListInstancesRequest* request,
      novadock::v1::ListInstancesResponse* response) override;
  grpc::Status GetConsoleOutput(
      grpc::ServerContext* context,
      const novadock::v1::GetConsoleOutputRequest* request,
      novadock::v1::GetConsoleOutputResponse* response) override;
  grpc::Status GetInstanceStats(grpc::ServerContext* context,
                                const novadock::v1::InstanceRequest* request,
                                novadock::v1::InstanceStats* response) override;
  grpc::Status ListImages(grpc::ServerContext* context,
                          const novadock::v1::ListImagesRequest* request,
                          novadock::v1::ListImagesResponse* response) override;
  grpc::Status LoadImage(grpc::ServerContext* context,
                         const novadock::v1::LoadImageRequest* request,
                         novadock::v1::LoadImageResponse* response) override;
  grpc::Status PutImage(grpc::ServerContext* context,
                        grpc::ServerReader<novadock::v1::PutImageChunk>* reader,
                        novadock::v1::PutImageResponse* response) override;
  grpc::Status RemoveImage(
      grpc::ServerContext* context,
      const novadock::v1::RemoveImageRequest* request,
      novadock::v1::RemoveImageResponse* response) override;
  grpc::Status SnapshotInstance(
      grpc::ServerContext* context,
      const novadock::v1::SnapshotInstanceRequest* request,
      novadock::v1::SnapshotInstanceResponse* response) override;
  grpc::Status WatchEvents(
      grpc::ServerContext* context,
      const novadock::v1::WatchEventsRequest* request,
      grpc::ServerWriter<novadock::v1::InstanceEvent>* writer) override;

 private:
  // Runs `op` for a validated uuid and fills `response` from its answer.
  template <typename Op>
  grpc::Status InstanceCall(const char* rpc, const std::string& uuid, Op op,
                            novadock::v1::Instance* response);

  // Stop and Reboot: validate the grace period, then run `op` with it.
  using GracefulOp = absl::StatusOr<InstanceView> (InstanceRunner::*)(
      const std::string&, absl::Duration);
  grpc::Status GracefulCall(const char* rpc,
                            const novadock::v1::StopInstanceRequest& request,
                            GracefulOp op, novadock::v1::Instance* response);

  // Uuid -> image id of this node's instances, for the image RPCs.
  InstanceImages InstanceImageIds();

  InstanceRunner& runner_;
  EventStream& events_;
  ImageStore& images_;
  Snapshotter& snapshots_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_AGENT_SERVICE_H_
