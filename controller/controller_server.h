// ControllerServer: one running novadock-controller — the gRPC server
// (Controller service, reflection, grpc.health.v1) and the objects behind
// it: the node registry with its periodic check, the event hub watching
// every agent, and the instance directory rebuilt from the agents. Used by
// main.cc and by tests (listen on 127.0.0.1:0, read port()).
//
// Thread-safe. `connector` and `clock` must outlive it.
#ifndef NOVADOCK_CONTROLLER_CONTROLLER_SERVER_H_
#define NOVADOCK_CONTROLLER_CONTROLLER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/agent_connector.h"
#include "controller/controller_service.h"
#include "controller/event_hub.h"
#include "controller/instance_directory.h"
#include "controller/node_registry.h"
#include "proto/common/clock.h"
#include "proto/common/server_security.h"

namespace novadock::controller {

struct ControllerServerOptions {
  std::string listen = "127.0.0.1:50050";  // host:port; port 0 picks one.
  TlsFiles tls;                            // Empty: plain text, loopback only.
  // Non-empty: only clients whose certificate's CN or subjectAltName is one
  // of these are served (PERMISSION_DENIED otherwise); needs `tls`.
  std::vector<std::string> tls_allowed_client_names;
  std::vector<AgentEntry> agents;  // The initial pool.
  RegistryOptions registry;
  EventHubOptions events;
  ServiceOptions service;
  absl::Duration check_interval = absl::Seconds(10);  // Periodic node check.
  int max_receive_bytes = 4 << 20;
};

class ControllerServer {
 public:
  // Connects the agents, runs a first check and rebuilds the instance
  // directory (nodes that do not answer are retried by the periodic
  // check), then serves. INVALID_ARGUMENT: bad options (named).
  // UNAVAILABLE: cannot listen.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ControllerServer>> Start(
      AgentConnector& connector, Clock& clock, ControllerServerOptions options);
  ~ControllerServer();

  int port() const { return port_; }
  // Replaces the agent list (SIGHUP with --agents_file): new nodes are
  // connected and watched, removed ones forgotten. INVALID_ARGUMENT: bad
  // list; nothing changed.
  [[nodiscard]] absl::Status SetAgents(const std::vector<AgentEntry>& agents);
  // Runs one node check now (tests; the periodic thread does this too).
  void CheckNowForTest();
  void Shutdown(absl::Time deadline);
  void Wait();

 private:
  ControllerServer(AgentConnector& connector, Clock& clock,
                   ControllerServerOptions options);
  void CheckLoop();
  void WatchAllNodes();

  Clock& clock_;
  const ControllerServerOptions options_;
  NodeRegistry registry_;
  EventHub events_;
  InstanceDirectory directory_;
  ControllerService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  absl::Mutex mu_;  // Guards stop_ and the watched node set.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> watched_ ABSL_GUARDED_BY(mu_);
  std::thread checker_;
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_CONTROLLER_SERVER_H_
