#include "agent/agent_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "proto/common/log.h"
#include "proto/common/server_builder.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {
namespace {

constexpr char kAgentServiceName[] = "novadock.v1.Agent";

// Archives are hashed with Glance's algorithms too when indexed, so that a
// Glance checksum can be checked without reading the archive again.
loader::ImageIndexOptions IndexOptions(const std::string& dir) {
  loader::ImageIndexOptions options;
  options.dir = dir;
  options.inspect.extra_digests = {loader::HashAlgorithm::kMd5,
                                   loader::HashAlgorithm::kSha512};
  return options;
}

}  // namespace

AgentServer::AgentServer(DockerApi& docker, Clock& clock,
                         AgentServerOptions options)
    : options_(std::move(options)),
      index_(IndexOptions(options_.runner.image_dir)),
      loader_(docker, index_, clock,
              loader::LoaderOptions{options_.runner.image_dir,
                                    options_.glance_fetch}),
      images_(docker, index_, loader_,
              ImageStoreOptions{options_.runner.image_dir}),
      runner_(docker, images_, clock, options_.runner),
      snapshots_(docker, runner_, options_.glance, clock,
                 SnapshotterOptions{options_.runner.image_dir}),
      events_(docker, clock, EventStreamOptions{options_.runner.node_name}),
      service_(runner_, events_, images_, snapshots_) {}

AgentServer::~AgentServer() {
  reaper_.reset();
  health_.reset();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    DockerApi& docker, Clock& clock, AgentServerOptions options) {
  if (options.runner.node_name.empty()) {
    return absl::InvalidArgumentError("node_name: required");
  }
  NOVADOCK_ASSIGN_OR_RETURN(
      auto credentials,
      MakeServerCredentials(options.listen, options.tls,
                            options.tls_allowed_client_names));
  for (const auto& [flag, path] :
       {std::pair<const char*, const std::string&>{
            "config_drive_dir", options.runner.config_drive_dir},
        {"config_drive_mount", options.runner.config_drive_mount}}) {
    if (!absl::StartsWith(path, "/") || path == "/" ||
        absl::StrContains(path, "/../") || absl::EndsWith(path, "/..") ||
        absl::StrContains(path, "/./") || absl::EndsWith(path, "/.")) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", path,
                       ": must be an absolute path other than / without "
                       "'.' or '..' components"));
    }
  }
  std::error_code error;
  std::filesystem::create_directories(options.runner.image_dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_dir ", options.runner.image_dir,
                     ": cannot create: ", error.message()));
  }
  // Links grpc.health.v1 descriptors into the pool so that reflection
  // clients can describe and call Health (see PITFALLS.md).
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::EnableDefaultHealthCheckService(true);

  std::unique_ptr<AgentServer> agent(
      new AgentServer(docker, clock, std::move(options)));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(agent->options_.listen, credentials, &agent->port_);
  builder.RegisterService(&agent->service_);
  ApplyServerDefaults(builder, agent->options_.max_receive_bytes);
  agent->server_ = builder.BuildAndStart();
  if (agent->server_ == nullptr || agent->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", agent->options_.listen,
                     " (address in use or not local?)"));
  }
  grpc::HealthCheckServiceInterface* health =
      agent->server_->GetHealthCheckService();
  agent->health_ = std::make_unique<DockerHealthMonitor>(
      docker, clock, agent->options_.health_interval, [health](bool ok) {
        health->SetServingStatus(ok);
        health->SetServingStatus(kAgentServiceName, ok);
      });
  agent->health_->Start();
  agent->reaper_ = std::make_unique<OrphanReaper>(agent->runner_, clock,
                                                  agent->options_.orphans);
  agent->reaper_->Start();
  NOVADOCK_LOG_INFO("novadock-agent node ", agent->options_.runner.node_name,
                    " listening on ", agent->options_.listen, " port ",
                    agent->port_,
                    agent->options_.tls.empty() ? " (plain text, loopback)"
                                                : " (mutual TLS)");
  return agent;
}

void AgentServer::Shutdown(absl::Time deadline) {
  reaper_.reset();
  health_.reset();
  server_->Shutdown(absl::ToChronoTime(deadline));
}

void AgentServer::Wait() { server_->Wait(); }

}  // namespace novadock::agent
