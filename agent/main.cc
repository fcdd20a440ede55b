// novadock-agent: turns flags into options, wires the objects, serves until
// SIGTERM/SIGINT. Everything testable lives in the novadock_agent library.
#include <curl/curl.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "glance-loader/glance_fetcher.h"
#include "proto/common/clock.h"
#include "proto/common/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address host:port (port 0: any). Plain text only on "
          "loopback; elsewhere --tls_ca/--tls_cert/--tls_key are required.");
ABSL_FLAG(std::string, node_name, "",
          "This node's name (the Nova node); required.");
ABSL_FLAG(std::string, docker_host, "unix:///var/run/docker.sock",
          "dockerd endpoint: unix:///path or tcp://host:port.");
ABSL_FLAG(std::string, docker_tls_ca, "", "CA of dockerd's TLS certificate.");
ABSL_FLAG(std::string, docker_tls_cert, "", "Client certificate for dockerd.");
ABSL_FLAG(std::string, docker_tls_key, "", "Client key for dockerd.");
ABSL_FLAG(int, docker_timeout_seconds, 30, "Timeout of each Docker call.");
ABSL_FLAG(std::string, tls_ca, "", "CA that signs gRPC client certificates.");
ABSL_FLAG(std::string, tls_cert, "", "gRPC server certificate (PEM).");
ABSL_FLAG(std::string, tls_key, "", "gRPC server key (PEM).");
ABSL_FLAG(std::vector<std::string>, tls_allowed_client_names, {},
          "Comma-separated client certificate names (CN or subjectAltName) "
          "allowed to call this agent, e.g. novadock-controller; empty: any "
          "certificate signed by --tls_ca. Needs mutual TLS.");
ABSL_FLAG(std::string, image_dir, "/var/lib/novadock/images",
          "Directory of docker-save archives on this node.");
ABSL_FLAG(std::string, config_drive_dir, "/var/lib/novadock/config-drive",
          "Directory of the instances' config drives on this node (mode "
          "0700; one read-only bind mount per instance).");
ABSL_FLAG(std::string, config_drive_mount, "/var/lib/cloud/seed/config_drive",
          "Where each instance's config drive appears in its container "
          "(cloud-init's ConfigDrive seed directory by default).");
ABSL_FLAG(int, max_instances, 100, "Instance slots on this node.");
ABSL_FLAG(int, grace_period_seconds, 10, "Default stop/delete grace period.");
ABSL_FLAG(int64_t, pids_limit, 1024, "PidsLimit of every instance.");
ABSL_FLAG(std::string, glance_endpoint, "",
          "Glance v2 endpoint (http[s]://host:port) to download images that "
          "are on neither Docker nor disk, once, and to upload snapshots to; "
          "empty: no download, snapshots stay on this node.");
ABSL_FLAG(std::string, glance_ca, "", "CA bundle for an https Glance.");
ABSL_FLAG(int, orphan_grace_seconds, 900,
          "Containers left by interrupted creates (never started; reported "
          "as orphan by ListInstances) are removed once this old; 0: never.");
ABSL_FLAG(int, orphan_check_interval_seconds, 60,
          "Period of the orphan reaper's passes.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written here once serving.");

namespace {

int Fail(const absl::Status& s) {
  NOVADOCK_LOG_ERROR("novadock-agent: ", s.ToString());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "novadock-agent --node_name=NAME [--listen=HOST:PORT] [--flagfile=F]");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so every Mutex::Lock also
  // updates a global lock graph for deadlock detection (GraphCycles, under
  // one process-wide spinlock): a few % of a daemon's CPU in profiles. The
  // tests keep it on; the daemons run as an NDEBUG Abseil would.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  using novadock::agent::AgentServer;
  using novadock::agent::AgentServerOptions;
  using novadock::agent::CurlDockerApi;
  CurlDockerApi::Options docker_options;
  docker_options.host = absl::GetFlag(FLAGS_docker_host);
  docker_options.tls_ca_file = absl::GetFlag(FLAGS_docker_tls_ca);
  docker_options.tls_cert_file = absl::GetFlag(FLAGS_docker_tls_cert);
  docker_options.tls_key_file = absl::GetFlag(FLAGS_docker_tls_key);
  docker_options.request_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_docker_timeout_seconds));
  auto docker = CurlDockerApi::Create(docker_options);
  if (!docker.ok()) return Fail(docker.status());

  AgentServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls = {absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert),
                 absl::GetFlag(FLAGS_tls_key)};
  options.tls_allowed_client_names =
      absl::GetFlag(FLAGS_tls_allowed_client_names);
  options.runner.node_name = absl::GetFlag(FLAGS_node_name);
  options.runner.image_dir = absl::GetFlag(FLAGS_image_dir);
  options.runner.config_drive_dir = absl::GetFlag(FLAGS_config_drive_dir);
  options.runner.config_drive_mount = absl::GetFlag(FLAGS_config_drive_mount);
  options.runner.max_instances = absl::GetFlag(FLAGS_max_instances);
  options.runner.default_grace =
      absl::Seconds(absl::GetFlag(FLAGS_grace_period_seconds));
  options.runner.pids_limit = absl::GetFlag(FLAGS_pids_limit);
  options.orphans.grace =
      absl::Seconds(absl::GetFlag(FLAGS_orphan_grace_seconds));
  options.orphans.interval =
      absl::Seconds(absl::GetFlag(FLAGS_orphan_check_interval_seconds));
  if (options.orphans.interval <= absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError(
        "--orphan_check_interval_seconds: must be >= 1"));
  }
  if (options.runner.max_instances < 1) {
    return Fail(absl::InvalidArgumentError("--max_instances: must be >= 1"));
  }
  if (options.runner.default_grace < absl::ZeroDuration()) {
    return Fail(absl::InvalidArgumentError("--grace_period_seconds: >= 0"));
  }

  novadock::RealClock clock;
  std::unique_ptr<novadock::loader::CurlGlanceClient> glance;
  std::unique_ptr<novadock::loader::GlanceFetcher> fetcher;
  if (!absl::GetFlag(FLAGS_glance_endpoint).empty()) {
    novadock::loader::CurlGlanceClient::Options glance_options;
    glance_options.endpoint = absl::GetFlag(FLAGS_glance_endpoint);
    glance_options.ca_file = absl::GetFlag(FLAGS_glance_ca);
    auto client = novadock::loader::CurlGlanceClient::Create(glance_options);
    if (!client.ok()) return Fail(client.status());
    glance = *std::move(client);
    options.glance = glance.get();
    novadock::loader::FetcherOptions fetcher_options;
    fetcher_options.image_dir = options.runner.image_dir;
    fetcher_options.clock = &clock;
    fetcher = std::make_unique<novadock::loader::GlanceFetcher>(
        *glance, fetcher_options);
    options.glance_fetch = [&fetcher](const std::string& id,
                                      const std::string& token) {
      return fetcher->Fetch(id, token);
    };
  }
  auto server = AgentServer::Start(**docker, clock, options);
  if (!server.ok()) return Fail(server.status());
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Written whole, then renamed: a reader never sees a partial file.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      return Fail(
          absl::InternalError("--port_file: cannot write " + port_file));
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  NOVADOCK_LOG_INFO("signal ", signal_number, ": shutting down");
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  (*server)->Wait();
  server->reset();
  docker->reset();
  curl_global_cleanup();
  return 0;
}
