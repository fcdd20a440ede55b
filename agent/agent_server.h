// AgentServer: one running novadock-agent — the gRPC server (Agent service,
// server reflection, grpc.health.v1 that reports NOT_SERVING while dockerd
// is unreachable) and the objects behind it. Used by main.cc and by tests,
// which listen on 127.0.0.1:0 and read port().
//
// Thread-safe. `docker` and `clock` must outlive it.
#ifndef NOVADOCK_AGENT_AGENT_SERVER_H_
#define NOVADOCK_AGENT_AGENT_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/agent_service.h"
#include "agent/docker_api.h"
#include "agent/docker_health_monitor.h"
#include "agent/event_stream.h"
#include "agent/image_store.h"
#include "agent/instance_runner.h"
#include "agent/orphan_reaper.h"
#include "agent/snapshotter.h"
#include "glance-loader/glance_client.h"
#include "glance-loader/image_index.h"
#include "glance-loader/image_loader.h"
#include "proto/common/clock.h"
#include "proto/common/server_security.h"

namespace novadock::agent {

struct AgentServerOptions {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks one.
  TlsFiles tls;                            // Empty: plain text, loopback only.
  // Non-empty: only clients whose certificate's CN or subjectAltName is one
  // of these are served (PERMISSION_DENIED otherwise); needs `tls`.
  std::vector<std::string> tls_allowed_client_names;
  RunnerOptions runner;  // runner.node_name is required.
  absl::Duration health_interval = absl::Seconds(5);  // dockerd ping period.
  // Downloads a Glance image into runner.image_dir (GlanceFetcher); empty:
  // images come only from Docker and the image directory.
  loader::FetchFn glance_fetch;
  // Glance, for SnapshotInstance uploads; not owned, must outlive the
  // server. nullptr (default): a snapshot with a glance_image_id is
  // FAILED_PRECONDITION.
  loader::GlanceClient* glance = nullptr;
  int max_receive_bytes = 4 << 20;  // Larger requests: RESOURCE_EXHAUSTED.
  OrphanReaperOptions orphans;      // Interrupted creates' containers.
};

class AgentServer {
 public:
  // Builds and starts serving. INVALID_ARGUMENT: bad options (named), e.g.
  // a non-loopback address without TLS. UNAVAILABLE: cannot bind.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AgentServer>> Start(
      DockerApi& docker, Clock& clock, AgentServerOptions options);
  ~AgentServer();

  int port() const { return port_; }
  // Stops accepting calls; in-flight calls may finish until `deadline`,
  // then are cancelled.
  void Shutdown(absl::Time deadline);
  // Blocks until Shutdown.
  void Wait();

 private:
  AgentServer(DockerApi& docker, Clock& clock, AgentServerOptions options);

  const AgentServerOptions options_;
  loader::ImageIndex index_;
  loader::ImageLoader loader_;
  ImageStore images_;
  InstanceRunner runner_;
  Snapshotter snapshots_;
  EventStream events_;
  AgentService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<DockerHealthMonitor> health_;
  std::unique_ptr<OrphanReaper> reaper_;
  int port_ = 0;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_AGENT_SERVER_H_
