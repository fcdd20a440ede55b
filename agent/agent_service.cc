#include "agent/agent_service.h"

#include "absl/strings/str_cat.h"
#include "agent/agent_convert.h"
#include "agent/request_validation.h"
#include "proto/common/grpc_status.h"
#include "proto/common/log.h"

namespace novadock::agent {
namespace {

// Logs a failed RPC once, at the boundary, and converts its status.
grpc::Status Finish(const char* rpc, const absl::Status& s) {
  if (!s.ok() && !absl::IsInvalidArgument(s) && !absl::IsNotFound(s)) {
    NOVADOCK_LOG_ERROR(rpc, " failed: ", s.ToString());
  }
  return ToGrpcStatus(s);
}

}  // namespace

AgentService::AgentService(InstanceRunner& runner, EventStream& events,
                           ImageStore& images, Snapshotter& snapshots)
    : runner_(runner),
      events_(events),
      images_(images),
      snapshots_(snapshots) {}

InstanceImages AgentService::InstanceImageIds() {
  return
      [this]()
          -> absl::StatusOr<std::vector<std::pair<std::string, std::string>>> {
        absl::StatusOr<std::vector<InstanceView>> list = runner_.List();
        if (!list.ok()) return list.status();
        std::vector<std::pair<std::string, std::string>> out;
        for (const InstanceView& v : *list) {
          out.emplace_back(v.uuid, v.container.image_id);
        }
        return out;
      };
}

template <typename Op>
grpc::Status AgentService::InstanceCall(const char* rpc,
                                        const std::string& uuid, Op op,
                                        novadock::v1::Instance* response) {
  absl::Status valid = ValidateUuid("uuid", uuid);
  if (!valid.ok()) return Finish(rpc, valid);
  absl::StatusOr<InstanceView> view = op();
  if (view.ok()) InstanceToProto(*view, runner_.options().node_name, response);
  return Finish(rpc, view.status());
}

grpc::Status AgentService::GetNode(grpc::ServerContext*,
                                   const novadock::v1::GetNodeRequest*,
                                   novadock::v1::Node* response) {
  absl::StatusOr<NodeView> node = runner_.Node();
  if (node.ok()) NodeToProto(*node, runner_.options(), response);
  return Finish("GetNode", node.status());
}

grpc::Status AgentService::CreateInstance(
    grpc::ServerContext*, const novadock::v1::CreateInstanceRequest* request,
    novadock::v1::Instance* response) {
  absl::Status valid = ValidateCreateInstance(*request);
  if (!valid.ok()) return Finish("CreateInstance", valid);
  return InstanceCall(
      "CreateInstance", request->uuid(),
      [&] { return runner_.Create(SpecFromProto(*request)); }, response);
}

grpc::Status AgentService::DeleteInstance(
    grpc::ServerContext*, const novadock::v1::DeleteInstanceRequest* request,
    novadock::v1::DeleteInstanceResponse* response) {
  absl::Status valid = ValidateUuid("uuid", request->uuid());
  if (valid.ok()) {
    valid = ValidateGracePeriod("grace_period_seconds",
                                request->grace_period_seconds());
  }
  if (!valid.ok()) return Finish("DeleteInstance", valid);
  absl::StatusOr<bool> existed = runner_.Delete(
      request->uuid(), GraceFromProto(request->grace_period_seconds(),
                                      runner_.options().default_grace));
  if (existed.ok()) response->set_existed(*existed);
  return Finish("DeleteInstance", existed.status());
}

grpc::Status AgentService::StartInstance(
    grpc::ServerContext*, const novadock::v1::InstanceRequest* request,
    novadock::v1::Instance* response) {
  return InstanceCall(
      "StartInstance", request->uuid(),
      [&] { return runner_.Start(request->uuid()); }, response);
}

grpc::Status AgentService::GracefulCall(
    const char* rpc, const novadock::v1::StopInstanceRequest& request,
    GracefulOp op, novadock::v1::Instance* response) {
  absl::Status valid = ValidateGracePeriod("grace_period_seconds",
                                           request.grace_period_seconds());
  if (!valid.ok()) return Finish(rpc, valid);
  return InstanceCall(
      rpc, request.uuid(),
      [&] {
        return (runner_.*op)(request.uuid(),
                             GraceFromProto(request.grace_period_seconds(),
                                            runner_.options().default_grace));
      },
      response);
}

grpc::Status AgentService::StopInstance(
    grpc::ServerContext*, const novadock::v1::StopInstanceRequest* request,
    novadock::v1::Instance* response) {
  return GracefulCall("StopInstance", *request, &InstanceRunner::Stop,
                      response);
}

grpc::Status AgentService::RebootInstance(
    grpc::ServerContext*, const novadock::v1::StopInstanceRequest* request,
    novadock::v1::Instance* response) {
  return GracefulCall("RebootInstance", *request, &InstanceRunner::Reboot,
                      response);
}

grpc::Status AgentService::PauseInstance(
    grpc::ServerContext*, const novadock::v1::InstanceRequest* request,
    novadock::v1::Instance* response) {
  return InstanceCall(
      "PauseInstance", request->uuid(),
      [&] { return runner_.Pause(request->uuid()); }, response);
}

grpc::Status AgentService::UnpauseInstance(
    grpc::ServerContext*, const novadock::v1::InstanceRequest* request,
    novadock::v1::Instance* response) {
  return InstanceCall(
      "UnpauseInstance", request->uuid(),
      [&] { return runner_.Unpause(request->uuid()); }, response);
}

grpc::Status AgentService::GetInstance(
    grpc::ServerContext*, const novadock::v1::InstanceRequest* request,
    novadock::v1::Instance* response) {
  return InstanceCall(
      "GetInstance", request->uuid(),
      [&] { return runner_.Get(request->uuid()); }, response);
}

grpc::Status AgentService::ListInstances(
    grpc::ServerContext*, const novadock::v1::ListInstancesRequest*,
    novadock::v1::ListInstancesResponse* response) {
  absl::StatusOr<std::vector<InstanceView>> list = runner_.List();
  if (list.ok()) {
    for (const InstanceView& view : *list) {
      InstanceToProto(view, runner_.options().node_name,
                      response->add_instances());
    }
    for (std::string& uuid : runner_.CreatesInProgress()) {
      response->add_creating(std::move(uuid));
    }
  }
  return Finish("ListInstances", list.status());
}

grpc::Status AgentService::GetConsoleOutput(
    grpc::ServerContext*, const novadock::v1::GetConsoleOutputRequest* request,
    novadock::v1::GetConsoleOutputResponse* response) {
  absl::Status valid = ValidateConsoleRequest(*request);
  if (!valid.ok()) return Finish("GetConsoleOutput", valid);
  absl::StatusOr<ConsoleOutput> out =
      runner_.Console(request->uuid(), request->max_bytes());
  if (out.ok()) {
    response->set_output(std::move(out->bytes));
    response->set_truncated(out->truncated);
  }
  return Finish("GetConsoleOutput", out.status());
}

grpc::Status AgentService::GetInstanceStats(
    grpc::ServerContext*, const novadock::v1::InstanceRequest* request,
    novadock::v1::InstanceStats* response) {
  absl::Status valid = ValidateUuid("uuid", request->uuid());
  if (!valid.ok()) return Finish("GetInstanceStats", valid);
  absl::StatusOr<ContainerStats> stats = runner_.Stats(request->uuid());
  if (stats.ok()) StatsToProto(request->uuid(), *stats, response);
  return Finish("GetInstanceStats", stats.status());
}

grpc::Status AgentService::ListImages(
    grpc::ServerContext*, const novadock::v1::ListImagesRequest*,
    novadock::v1::ListImagesResponse* response) {
  absl::StatusOr<ImageListing> listing = images_.List(InstanceImageIds());
  if (listing.ok()) ImageListingToProto(*listing, response);
  return Finish("ListImages", listing.status());
}

grpc::Status AgentService::LoadImage(
    grpc::ServerContext*, const novadock::v1::LoadImageRequest* request,
    novadock::v1::LoadImageResponse* response) {
  absl::Status valid = ValidateAuthToken("auth_token", request->auth_token());
  if (!valid.ok()) return Finish("LoadImage", valid);
  absl::StatusOr<loader::LoadedImage> loaded = images_.Load(
      request->file_name(), request->glance_id(), request->auth_token());
  if (loaded.ok()) {
    response->set_image_id(loaded->image_id);
    response->mutable_repo_tags()->Assign(loaded->repo_tags.begin(),
                                          loaded->repo_tags.end());
    response->set_bytes(loaded->bytes);
  }
  return Finish("LoadImage", loaded.status());
}

grpc::Status AgentService::PutImage(
    grpc::ServerContext* context,
    grpc::ServerReader<novadock::v1::PutImageChunk>* reader,
    novadock::v1::PutImageResponse* response) {
  novadock::v1::PutImageChunk chunk;
  if (!reader->Read(&chunk) || !chunk.has_header()) {
    return Finish("PutImage", absl::InvalidArgumentError(
                                  "header: the first message must carry it"));
  }
  const PutHeader header = PutHeaderFromProto(chunk.header());
  absl::StatusOr<PutResult> put =
      images_.Put(header, [&]() -> absl::StatusOr<std::optional<std::string>> {
        if (context->IsCancelled()) {
          return absl::CancelledError("PutImage cancelled by the client");
        }
        if (!reader->Read(&chunk)) return std::nullopt;
        if (chunk.has_header()) {
          return absl::InvalidArgumentError(
              "header: only the first message may carry it");
        }
        return std::move(*chunk.mutable_data());
      });
  if (put.ok()) PutResultToProto(*put, response);
  return Finish("PutImage", put.status());
}

grpc::Status AgentService::RemoveImage(
    grpc::ServerContext*, const novadock::v1::RemoveImageRequest* request,
    novadock::v1::RemoveImageResponse* response) {
  absl::StatusOr<std::pair<bool, bool>> removed =
      images_.Remove(request->glance_id(), request->ref(),
                     request->remove_archive(), InstanceImageIds());
  if (removed.ok()) {
    response->set_removed_image(removed->first);
    response->set_removed_archive(removed->second);
  }
  return Finish("RemoveImage", removed.status());
}

grpc::Status AgentService::SnapshotInstance(
    grpc::ServerContext*, const novadock::v1::SnapshotInstanceRequest* request,
    novadock::v1::SnapshotInstanceResponse* response) {
  absl::Status valid = ValidateSnapshotRequest(*request);
  if (!valid.ok()) return Finish("SnapshotInstance", valid);
  absl::StatusOr<SnapshotResult> result =
      snapshots_.Snapshot(SnapshotFromProto(*request));
  if (result.ok()) SnapshotResultToProto(*result, response);
  return Finish("SnapshotInstance", result.status());
}

grpc::Status AgentService::WatchEvents(
    grpc::ServerContext* context,
    const novadock::v1::WatchEventsRequest* request,
    grpc::ServerWriter<novadock::v1::InstanceEvent>* writer) {
  if (request->since_unix_nanos() < 0) {
    return Finish("WatchEvents",
                  absl::InvalidArgumentError(
                      "since_unix_nanos: must be >= 0 (0 = from now)"));
  }
  absl::Status s = events_.Run(
      request->since_unix_nanos(),
      [&](const novadock::v1::InstanceEvent& event) {
        return writer->Write(event);
      },
      [&] { return context->IsCancelled(); });
  return Finish("WatchEvents", s);
}

}  // namespace novadock::agent
