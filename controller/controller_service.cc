#include "controller/controller_service.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/fan_out.h"
#include "controller/request_checks.h"
#include "proto/common/grpc_status.h"
#include "proto/common/log.h"
#include "proto/common/request_limits.h"
#include "proto/common/status_macros.h"
#include "proto/common/uuid.h"

namespace novadock::controller {
namespace {

constexpr size_t kPrefetchChunkBytes = 1 << 20;

grpc::Status Finish(const char* rpc, const absl::Status& s) {
  if (!s.ok() && !absl::IsInvalidArgument(s) && !absl::IsNotFound(s)) {
    NOVADOCK_LOG_ERROR(rpc, " failed: ", s.ToString());
  }
  return ToGrpcStatus(s);
}

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(timeout));
}

// `timeout`, shortened so that an answer made after it still reaches a
// caller whose deadline is nearer (a tenth of the time left is kept for
// that, at least 50 ms), e.g. a list with one node hanging returns the
// others' instances in time. The caller's deadline is infinite if unset.
absl::Duration WithinCallerDeadline(const grpc::ServerContext* caller,
                                    absl::Duration timeout) {
  if (caller == nullptr ||
      caller->deadline() == std::chrono::system_clock::time_point::max()) {
    return timeout;
  }
  const absl::Duration left =
      absl::FromChrono(caller->deadline() - std::chrono::system_clock::now());
  const absl::Duration usable =
      left - std::max(left / 10, absl::Milliseconds(50));
  return std::max(std::min(timeout, usable), absl::Milliseconds(1));
}

// An agent's answer that means nothing was created (or what was is
// removed); any other failure (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED,
// INTERNAL, ...) leaves the outcome of a create unknown.
bool IsDefiniteFailure(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

struct FileDigest {
  std::string sha256;
  int64_t size = 0;
};

absl::StatusOr<FileDigest> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("archive ", path, ": cannot open"));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                         EVP_MD_CTX_free);
  if (ctx == nullptr ||
      EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("sha256: OpenSSL init failed");
  }
  std::vector<char> buffer(kPrefetchChunkBytes);
  FileDigest out;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.data(), n);
    out.size += static_cast<int64_t>(n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    return absl::InternalError("sha256: OpenSSL final failed");
  }
  out.sha256 = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<char*>(md), len));
  return out;
}

}  // namespace

ControllerService::ControllerService(NodeRegistry& registry,
                                     InstanceDirectory& directory,
                                     EventHub& events, ServiceOptions options)
    : registry_(registry),
      directory_(directory),
      events_(events),
      options_(std::move(options)) {}

// ---- Nodes -----------------------------------------------------------------

grpc::Status ControllerService::ListNodes(
    grpc::ServerContext*, const novadock::v1::ListNodesRequest*,
    novadock::v1::ListNodesResponse* response) {
  for (novadock::v1::NodeStatus& n : registry_.List()) {
    *response->add_nodes() = std::move(n);
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetNode(grpc::ServerContext*,
                                        const novadock::v1::NodeNameRequest* r,
                                        novadock::v1::NodeStatus* response) {
  if (absl::Status valid = CheckNodeName("name", r->name(), true);
      !valid.ok()) {
    return Finish("GetNode", valid);
  }
  auto node = registry_.Get(r->name());
  if (node.ok()) *response = *std::move(node);
  return Finish("GetNode", node.status());
}

grpc::Status ControllerService::DrainNode(
    grpc::ServerContext*, const novadock::v1::DrainNodeRequest* r,
    novadock::v1::NodeStatus* response) {
  if (absl::Status valid = CheckNodeName("name", r->name(), true);
      !valid.ok()) {
    return Finish("DrainNode", valid);
  }
  auto node = registry_.Drain(r->name());
  if (node.ok()) {
    NOVADOCK_LOG_INFO("node ", r->name(), " draining (operator)");
    *response = *std::move(node);
  }
  return Finish("DrainNode", node.status());
}

grpc::Status ControllerService::UndrainNode(
    grpc::ServerContext*, const novadock::v1::UndrainNodeRequest* r,
    novadock::v1::NodeStatus* response) {
  if (absl::Status valid = CheckNodeName("name", r->name(), true);
      !valid.ok()) {
    return Finish("UndrainNode", valid);
  }
  auto node = registry_.Undrain(r->name());
  if (node.ok()) {
    NOVADOCK_LOG_INFO("node ", r->name(), " undrained (operator)");
    *response = *std::move(node);
  }
  return Finish("UndrainNode", node.status());
}

// ---- Instances
// ---------------------------------------------------------------

template <typename Call>
absl::Status ControllerService::OnInstanceNode(
    const novadock::v1::InstanceCallRequest& request, absl::Duration timeout,
    Call call, std::string* node_out) {
  NOVADOCK_RETURN_IF_ERROR(CheckCall(request));
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string node = request.node();
    if (node.empty() || attempt > 0) {
      NOVADOCK_ASSIGN_OR_RETURN(node, directory_.Find(request.uuid()));
    }
    NOVADOCK_ASSIGN_OR_RETURN(std::shared_ptr<Stub> stub, registry_.Stub(node));
    grpc::ClientContext ctx;
    SetDeadline(&ctx, timeout);
    absl::Status s = FromGrpcStatus(call(*stub, &ctx));
    registry_.RecordCallResult(node, s);
    if (absl::IsNotFound(s) && attempt == 0) {
      directory_.Forget(request.uuid());  // Stale: ask every node.
      continue;
    }
    if (node_out != nullptr) *node_out = node;
    return Annotate(s, absl::StrCat("node ", node));
  }
  return absl::NotFoundError(
      absl::StrCat("instance ", request.uuid(), " not found on any node"));
}

template <typename Method, typename AgentRequest>
grpc::Status ControllerService::PowerCall(
    const char* rpc, const novadock::v1::InstanceCallRequest& request,
    Method method, const AgentRequest& agent_request,
    novadock::v1::Instance* response) {
  const absl::Duration timeout =
      options_.call_timeout + absl::Seconds(request.grace_period_seconds());
  absl::Status s = OnInstanceNode(
      request, timeout, [&](Stub& stub, grpc::ClientContext* ctx) {
        return (stub.*method)(ctx, agent_request, response);
      });
  return Finish(rpc, s);
}

absl::Status ControllerService::SpawnLocked(
    const novadock::v1::SpawnRequest& request,
    novadock::v1::Instance* response) {
  const std::string& uuid = request.instance().uuid();
  // An uuid lives on at most one node.
  absl::StatusOr<std::string> existing = directory_.Locate(uuid);
  std::string node = request.node();
  if (existing.ok()) {
    if (!node.empty() && node != *existing) {
      return absl::AlreadyExistsError(absl::StrCat(
          "instance ", uuid, " exists on node ", *existing, ", not ", node));
    }
    node = *existing;  // Idempotent: the agent returns the existing one.
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  NOVADOCK_ASSIGN_OR_RETURN(
      Reservation reservation,
      existing.ok()
          ? absl::StatusOr<Reservation>(Reservation{node, uuid})
          : registry_.Reserve(node, uuid, request.instance().flavor()));
  NOVADOCK_ASSIGN_OR_RETURN(std::shared_ptr<Stub> stub,
                            registry_.Stub(reservation.node));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, options_.spawn_timeout);
  absl::Status s =
      FromGrpcStatus(stub->CreateInstance(&ctx, request.instance(), response));
  registry_.RecordCallResult(reservation.node, s);
  if (!existing.ok()) registry_.Release(reservation, s.ok());
  if (!s.ok() && !IsDefiniteFailure(s)) {
    // The agent may have created it: until that node answers for the
    // uuid, a retry must not place it elsewhere.
    directory_.MarkUncertain(uuid, reservation.node);
  }
  if (!s.ok()) return Annotate(s, absl::StrCat("node ", reservation.node));
  directory_.Record(uuid, reservation.node);
  NOVADOCK_LOG_INFO("spawned instance ", uuid, " on node ", reservation.node);
  return absl::OkStatus();
}

grpc::Status ControllerService::Spawn(grpc::ServerContext*,
                                      const novadock::v1::SpawnRequest* request,
                                      novadock::v1::Instance* response) {
  const std::string& uuid = request->instance().uuid();
  absl::Status valid = CheckUuid("instance.uuid", uuid);
  if (valid.ok()) valid = CheckNodeName("node", request->node(), false);
  if (valid.ok() && !request->instance().has_flavor()) {
    valid = absl::InvalidArgumentError("instance.flavor: required");
  }
  if (valid.ok()) valid = CheckFlavor(request->instance().flavor());
  if (!valid.ok()) return Finish("Spawn", valid);
  {
    // Spawns of one uuid run one at a time, so two cannot land on two nodes.
    std::pair<ControllerService*, const std::string*> key(this, &uuid);
    absl::MutexLock lock(&mu_);
    // Abseil evaluates the condition with mu_ held; clang's analysis cannot
    // see that through a function pointer.
    mu_.Await(absl::Condition(
        +[](std::pair<ControllerService*, const std::string*>* arg)
             ABSL_NO_THREAD_SAFETY_ANALYSIS {
               return !arg->first->spawning_.contains(*arg->second);
             },
        &key));
    spawning_.insert(uuid);
  }
  absl::Status s = SpawnLocked(*request, response);
  {
    absl::MutexLock lock(&mu_);
    spawning_.erase(uuid);
  }
  return Finish("Spawn", s);
}

grpc::Status ControllerService::Destroy(
    grpc::ServerContext* context,
    const novadock::v1::InstanceCallRequest* request,
    novadock::v1::DeleteInstanceResponse* response) {
  if (absl::Status valid = CheckCall(*request); !valid.ok()) {
    return Finish("Destroy", valid);
  }
  {
    // A spawn of this uuid in flight here could create it after the
    // delete: wait for it (within the caller's deadline).
    const std::string& uuid = request->uuid();
    std::pair<ControllerService*, const std::string*> key(this, &uuid);
    absl::MutexLock lock(&mu_);
    // As in Spawn: the condition runs with mu_ held.
    const bool settled = mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<ControllerService*, const std::string*>* arg)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS {
                   return !arg->first->spawning_.contains(*arg->second);
                 },
            &key),
        WithinCallerDeadline(context, options_.spawn_timeout));
    if (!settled) {
      return Finish("Destroy",
                    absl::UnavailableError(absl::StrCat(
                        "instance ", uuid,
                        " is being spawned; retry the destroy when it is")));
    }
  }
  novadock::v1::DeleteInstanceRequest agent_request;
  agent_request.set_uuid(request->uuid());
  agent_request.set_grace_period_seconds(request->grace_period_seconds());
  absl::Status s = OnInstanceNode(
      *request,
      options_.call_timeout + absl::Seconds(request->grace_period_seconds()),
      [&](Stub& stub, grpc::ClientContext* ctx) {
        return stub.DeleteInstance(ctx, agent_request, response);
      });
  if (absl::IsNotFound(s)) {
    s = absl::OkStatus();  // Nothing to delete anywhere: success.
    response->set_existed(false);
  }
  if (s.ok()) directory_.Forget(request->uuid());
  return Finish("Destroy", s);
}

grpc::Status ControllerService::Reboot(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::StopInstanceRequest r;
  r.set_uuid(request->uuid());
  r.set_grace_period_seconds(request->grace_period_seconds());
  return PowerCall("Reboot", *request, &Stub::RebootInstance, r, response);
}

grpc::Status ControllerService::PowerOn(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::InstanceRequest r;
  r.set_uuid(request->uuid());
  return PowerCall("PowerOn", *request, &Stub::StartInstance, r, response);
}

grpc::Status ControllerService::PowerOff(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::StopInstanceRequest r;
  r.set_uuid(request->uuid());
  r.set_grace_period_seconds(request->grace_period_seconds());
  return PowerCall("PowerOff", *request, &Stub::StopInstance, r, response);
}

grpc::Status ControllerService::Pause(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::InstanceRequest r;
  r.set_uuid(request->uuid());
  return PowerCall("Pause", *request, &Stub::PauseInstance, r, response);
}

grpc::Status ControllerService::Unpause(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::InstanceRequest r;
  r.set_uuid(request->uuid());
  return PowerCall("Unpause", *request, &Stub::UnpauseInstance, r, response);
}

grpc::Status ControllerService::GetInstance(
    grpc::ServerContext*, const novadock::v1::InstanceCallRequest* request,
    novadock::v1::Instance* response) {
  novadock::v1::InstanceRequest r;
  r.set_uuid(request->uuid());
  return PowerCall("GetInstance", *request, &Stub::GetInstance, r, response);
}

grpc::Status ControllerService::ListInstances(
    grpc::ServerContext* context,
    const novadock::v1::ControllerListInstancesRequest* request,
    novadock::v1::ControllerListInstancesResponse* response) {
  auto nodes = registry_.Stubs();
  if (!request->node().empty()) {
    absl::Status valid = CheckNodeName("node", request->node(), true);
    if (!valid.ok()) return Finish("ListInstances", valid);
    auto stub = registry_.Stub(request->node());
    if (!stub.ok()) return Finish("ListInstances", stub.status());
    nodes = {{request->node(), *stub}};
  }
  const absl::Duration timeout =
      WithinCallerDeadline(context, options_.call_timeout);
  auto lists = FanOut(nodes, [&](const auto& node) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, timeout);
    novadock::v1::ListInstancesResponse list;
    absl::Status s = FromGrpcStatus(node.second->ListInstances(
        &ctx, novadock::v1::ListInstancesRequest(), &list));
    registry_.RecordCallResult(node.first, s);
    return s.ok() ? absl::StatusOr<novadock::v1::ListInstancesResponse>(list)
                  : absl::StatusOr<novadock::v1::ListInstancesResponse>(s);
  });
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!lists[i].ok()) {
      response->add_unreachable_nodes(nodes[i].first);
      continue;
    }
    for (const novadock::v1::Instance& inst : lists[i]->instances()) {
      directory_.Record(inst.uuid(), nodes[i].first);
      *response->add_instances() = inst;
    }
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::GetConsoleOutput(
    grpc::ServerContext*, const novadock::v1::ControllerConsoleRequest* request,
    novadock::v1::GetConsoleOutputResponse* response) {
  if (request->max_bytes() < 0 || request->max_bytes() > kMaxConsoleBytes) {
    return Finish("GetConsoleOutput",
                  absl::InvalidArgumentError(absl::StrCat(
                      "max_bytes: ", request->max_bytes(), " is outside 0..",
                      kMaxConsoleBytes, " (0: 64 KiB)")));
  }
  novadock::v1::InstanceCallRequest where;
  where.set_uuid(request->uuid());
  novadock::v1::GetConsoleOutputRequest r;
  r.set_uuid(request->uuid());
  r.set_max_bytes(request->max_bytes());
  absl::Status s = OnInstanceNode(
      where, options_.call_timeout, [&](Stub& stub, grpc::ClientContext* ctx) {
        return stub.GetConsoleOutput(ctx, r, response);
      });
  return Finish("GetConsoleOutput", s);
}

grpc::Status ControllerService::Snapshot(
    grpc::ServerContext*, const novadock::v1::SnapshotRequest* request,
    novadock::v1::SnapshotResponse* response) {
  absl::Status valid = CheckImageName(request->image_name());
  if (valid.ok() && !request->glance_image_id().empty()) {
    valid = CheckUuid("glance_image_id", request->glance_image_id());
  }
  if (valid.ok()) valid = CheckToken(request->auth_token());
  if (!valid.ok()) return Finish("Snapshot", valid);
  novadock::v1::InstanceCallRequest where;
  where.set_uuid(request->uuid());
  novadock::v1::SnapshotInstanceRequest r;
  r.set_uuid(request->uuid());
  r.set_image_name(request->image_name());
  r.set_glance_image_id(request->glance_image_id());
  r.set_auth_token(request->auth_token());
  novadock::v1::SnapshotInstanceResponse agent_response;
  std::string node;
  absl::Status s = OnInstanceNode(
      where, options_.snapshot_timeout,
      [&](Stub& stub, grpc::ClientContext* ctx) {
        return stub.SnapshotInstance(ctx, r, &agent_response);
      },
      &node);
  if (s.ok()) {
    response->set_node(node);
    response->set_image_id(agent_response.image_id());
    response->set_archive_file(agent_response.archive_file());
    response->set_size_bytes(agent_response.size_bytes());
    response->set_uploaded(agent_response.uploaded());
  }
  return Finish("Snapshot", s);
}

// ---- Images
// ------------------------------------------------------------------

grpc::Status ControllerService::PrefetchImage(
    grpc::ServerContext*, const novadock::v1::PrefetchImageRequest* request,
    novadock::v1::PrefetchImageResponse* response) {
  absl::Status valid = CheckFileName(request->file_name());
  if (valid.ok() && !request->glance_id().empty()) {
    valid = CheckUuid("glance_id", request->glance_id());
  }
  for (int i = 0; valid.ok() && i < request->nodes_size(); ++i) {
    valid =
        CheckNodeName(absl::StrCat("nodes[", i, "]"), request->nodes(i), true);
  }
  if (!valid.ok()) return Finish("PrefetchImage", valid);
  const std::string path =
      absl::StrCat(options_.image_dir, "/", request->file_name());
  absl::StatusOr<FileDigest> digest = Sha256File(path);
  if (!digest.ok()) return Finish("PrefetchImage", digest.status());

  std::vector<std::string> targets(request->nodes().begin(),
                                   request->nodes().end());
  if (targets.empty()) {
    for (const novadock::v1::NodeStatus& n : registry_.List()) {
      if (n.state() == novadock::v1::NODE_STATE_ACTIVE) {
        targets.push_back(n.name());
      }
    }
  }
  auto results = FanOut(targets, [&](const std::string& node) {
    novadock::v1::PrefetchNodeResult result;
    result.set_node(node);
    novadock::v1::PutImageResponse put;
    absl::Status s = [&]() -> absl::Status {
      NOVADOCK_ASSIGN_OR_RETURN(std::shared_ptr<Stub> stub,
                                registry_.Stub(node));
      grpc::ClientContext ctx;
      SetDeadline(&ctx, options_.prefetch_timeout);
      auto writer = stub->PutImage(&ctx, &put);
      novadock::v1::PutImageChunk chunk;
      auto* header = chunk.mutable_header();
      if (request->glance_id().empty()) {
        header->set_file_name(request->file_name());
      } else {
        header->set_glance_id(request->glance_id());
      }
      header->set_sha256(digest->sha256);
      header->set_size_bytes(digest->size);
      header->set_no_load(request->no_load());
      header->set_replace(true);
      bool open = writer->Write(chunk);
      std::ifstream in(path, std::ios::binary);
      std::string buffer(kPrefetchChunkBytes, '\0');
      while (open && in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto n = static_cast<size_t>(in.gcount());
        if (n == 0) break;
        chunk.set_data(buffer.data(), n);
        open = writer->Write(chunk);
      }
      writer->WritesDone();
      absl::Status finished = FromGrpcStatus(writer->Finish());
      registry_.RecordCallResult(node, finished);
      return finished;
    }();
    result.set_ok(s.ok());
    result.set_code(static_cast<int32_t>(s.code()));
    result.set_message(std::string(s.message()));
    result.set_image_id(put.image_id());
    return result;
  });
  for (auto& r : results) *response->add_results() = std::move(r);
  NOVADOCK_LOG_INFO("prefetched ", request->file_name(), " to ", targets.size(),
                    " node(s)");
  return grpc::Status::OK;
}

// ---- Events
// ------------------------------------------------------------------

grpc::Status ControllerService::WatchEvents(
    grpc::ServerContext* context,
    const novadock::v1::ControllerWatchEventsRequest* request,
    grpc::ServerWriter<novadock::v1::ControllerEvent>* writer) {
  if (request->after_sequence() < 0) {
    return Finish("WatchEvents",
                  absl::InvalidArgumentError("after_sequence: must be >= 0"));
  }
  const bool complete = events_.Watch(
      request->after_sequence(),
      [&](const novadock::v1::ControllerEvent& e) { return writer->Write(e); },
      [&] { return context->IsCancelled(); });
  if (!complete) {
    return Finish("WatchEvents",
                  absl::AbortedError("fell behind the event buffer; resync "
                                     "with ListInstances and watch from 0"));
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::PollEvents(
    grpc::ServerContext*, const novadock::v1::PollEventsRequest* request,
    novadock::v1::PollEventsResponse* response) {
  absl::Status valid;
  if (request->after_sequence() < 0) {
    valid = absl::InvalidArgumentError("after_sequence: must be >= 0");
  } else if (request->wait_ms() < 0 || request->wait_ms() > 60000) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("wait_ms: ", request->wait_ms(), " is outside 0..60000"));
  } else if (request->max_events() < 0 || request->max_events() > 10000) {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "max_events: ", request->max_events(), " is outside 0..10000"));
  }
  if (!valid.ok()) return Finish("PollEvents", valid);
  PollResult result = events_.Poll(
      request->after_sequence(), absl::Milliseconds(request->wait_ms()),
      request->max_events() == 0 ? 1000 : request->max_events());
  for (auto& e : result.events) *response->add_events() = std::move(e);
  response->set_next_sequence(result.next_sequence);
  response->set_gap(result.gap);
  return grpc::Status::OK;
}

}  // namespace novadock::controller
