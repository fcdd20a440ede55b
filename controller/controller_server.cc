#include "controller/controller_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "proto/common/log.h"
#include "proto/common/server_builder.h"
#include "proto/common/status_macros.h"

namespace novadock::controller {
namespace {

// Sequences start at the controller's start time in microseconds.
EventHubOptions EventOptions(Clock& clock, EventHubOptions options) {
  options.first_sequence = absl::ToUnixMicros(clock.Now());
  return options;
}

}  // namespace

ControllerServer::ControllerServer(AgentConnector& connector, Clock& clock,
                                   ControllerServerOptions options)
    : clock_(clock),
      options_(std::move(options)),
      registry_(connector, clock, options_.registry),
      events_(clock, EventOptions(clock, options_.events)),
      directory_(registry_, options_.service.call_timeout),
      service_(registry_, directory_, events_, options_.service) {}

ControllerServer::~ControllerServer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (checker_.joinable()) checker_.join();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Start(
    AgentConnector& connector, Clock& clock, ControllerServerOptions options) {
  NOVADOCK_ASSIGN_OR_RETURN(
      auto credentials,
      MakeServerCredentials(options.listen, options.tls,
                            options.tls_allowed_client_names));
  std::unique_ptr<ControllerServer> c(
      new ControllerServer(connector, clock, std::move(options)));
  NOVADOCK_RETURN_IF_ERROR(c->registry_.SetAgents(c->options_.agents));
  c->registry_.CheckAll();
  c->WatchAllNodes();
  const std::vector<std::string> unreachable = c->directory_.Rebuild();
  for (const std::string& node : unreachable) {
    NOVADOCK_LOG_WARNING("node ", node,
                         " did not answer at start; its instances are found "
                         "when it does");
  }

  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(c->options_.listen, credentials, &c->port_);
  builder.RegisterService(&c->service_);
  ApplyServerDefaults(builder, c->options_.max_receive_bytes);
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", c->options_.listen));
  }
  c->server_->GetHealthCheckService()->SetServingStatus(true);
  c->checker_ = std::thread([raw = c.get()] { raw->CheckLoop(); });
  NOVADOCK_LOG_INFO(
      "novadock-controller listening on ", c->options_.listen, " port ",
      c->port_, " with ", c->options_.agents.size(), " agent(s)",
      c->options_.tls.empty() ? " (plain text, loopback)" : " (mutual TLS)");
  return c;
}

void ControllerServer::WatchAllNodes() {
  std::vector<std::string> now;
  for (auto& [name, stub] : registry_.Stubs()) {
    now.push_back(name);
    events_.WatchNode(name, stub);
  }
  std::vector<std::string> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& old : watched_) {
      if (std::find(now.begin(), now.end(), old) == now.end()) {
        gone.push_back(old);
      }
    }
    watched_ = now;
  }
  for (const std::string& node : gone) events_.ForgetNode(node);
}

absl::Status ControllerServer::SetAgents(
    const std::vector<AgentEntry>& agents) {
  NOVADOCK_RETURN_IF_ERROR(registry_.SetAgents(agents));
  registry_.CheckAll();
  WatchAllNodes();
  directory_.Rebuild();
  NOVADOCK_LOG_INFO("agent list replaced: ", agents.size(), " agent(s)");
  return absl::OkStatus();
}

void ControllerServer::CheckNowForTest() { registry_.CheckAll(); }

void ControllerServer::CheckLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (clock_.AwaitUntil(mu_, &stop_,
                            clock_.Now() + options_.check_interval)) {
        return;
      }
    }
    registry_.CheckAll();
    // Also learns the instances of nodes that did not answer before.
    directory_.Rebuild();
  }
}

void ControllerServer::Shutdown(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  server_->Shutdown(absl::ToChronoTime(deadline));
}

void ControllerServer::Wait() { server_->Wait(); }

}  // namespace novadock::controller
