// novadock-controller: flags -> options, wires the objects, serves until
// SIGTERM/SIGINT; SIGHUP re-reads --agents_file.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_connector.h"
#include "controller/controller_server.h"
#include "proto/common/clock.h"
#include "proto/common/log.h"
#include "proto/common/server_security.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50050",
          "gRPC listen address host:port. Plain text only on loopback; "
          "elsewhere --tls_ca/--tls_cert/--tls_key are required.");
ABSL_FLAG(std::string, tls_ca, "", "CA that signs client certificates.");
ABSL_FLAG(std::string, tls_cert, "", "Controller server certificate (PEM).");
ABSL_FLAG(std::string, tls_key, "", "Controller server key (PEM).");
ABSL_FLAG(std::vector<std::string>, tls_allowed_client_names, {},
          "Comma-separated client certificate names (CN or subjectAltName) "
          "allowed to call the controller, e.g. the nova-compute hosts' and "
          "operators' certificates; empty: any certificate signed by "
          "--tls_ca. Needs mutual TLS.");
ABSL_FLAG(std::string, agents, "", "Agents: NAME=HOST:PORT,NAME=HOST:PORT.");
ABSL_FLAG(std::string, agents_file, "",
          "File of NAME=HOST:PORT lines ('#' comments); re-read on SIGHUP.");
ABSL_FLAG(std::string, agent_tls_ca, "", "CA that signs agent certificates.");
ABSL_FLAG(std::string, agent_tls_cert, "", "Client certificate for agents.");
ABSL_FLAG(std::string, agent_tls_key, "", "Client key for agents.");
ABSL_FLAG(int, check_interval_seconds, 10, "Node health check period.");
ABSL_FLAG(int, failure_threshold, 5, "Consecutive errors before FAILED.");
ABSL_FLAG(bool, drain_all, false, "Shutdown mode: drain every node.");
ABSL_FLAG(std::string, image_dir, "/var/lib/novadock/images",
          "Archives that PrefetchImage sends to nodes.");
ABSL_FLAG(int, event_buffer, 10000, "Events kept for PollEvents/WatchEvents.");

namespace {

using novadock::controller::AgentEntry;
using novadock::controller::ParseAgentList;

int Fail(const absl::Status& s) {
  NOVADOCK_LOG_ERROR("novadock-controller: ", s.ToString());
  return 2;
}

absl::StatusOr<std::vector<AgentEntry>> LoadAgents() {
  std::vector<AgentEntry> agents;
  const std::string list = absl::GetFlag(FLAGS_agents);
  if (!list.empty()) {
    auto parsed = ParseAgentList(list, "--agents");
    if (!parsed.ok()) return parsed.status();
    agents = *parsed;
  }
  const std::string file = absl::GetFlag(FLAGS_agents_file);
  if (!file.empty()) {
    auto text = novadock::ReadSmallFile("--agents_file", file);
    if (!text.ok()) return text.status();
    auto parsed = ParseAgentList(*text, file);
    if (!parsed.ok()) return parsed.status();
    agents.insert(agents.end(), parsed->begin(), parsed->end());
  }
  return agents;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "novadock-controller --agents=NAME=HOST:PORT,... [--listen=HOST:PORT]");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so every Mutex::Lock also
  // updates a global lock graph for deadlock detection (GraphCycles, under
  // one process-wide spinlock): a few % of a daemon's CPU in profiles. The
  // tests keep it on; the daemons run as an NDEBUG Abseil would.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto agents = LoadAgents();
  if (!agents.ok()) return Fail(agents.status());
  novadock::controller::ControllerServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls = {absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert),
                 absl::GetFlag(FLAGS_tls_key)};
  options.tls_allowed_client_names =
      absl::GetFlag(FLAGS_tls_allowed_client_names);
  options.agents = *agents;
  options.registry.failure_threshold = absl::GetFlag(FLAGS_failure_threshold);
  options.registry.drain_all = absl::GetFlag(FLAGS_drain_all);
  options.check_interval =
      absl::Seconds(absl::GetFlag(FLAGS_check_interval_seconds));
  options.service.image_dir = absl::GetFlag(FLAGS_image_dir);
  options.events.capacity =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_event_buffer)));
  if (options.registry.failure_threshold < 1 ||
      options.check_interval < absl::Seconds(1)) {
    return Fail(absl::InvalidArgumentError(
        "--failure_threshold and --check_interval_seconds must be >= 1"));
  }

  novadock::controller::GrpcAgentConnector connector(
      {absl::GetFlag(FLAGS_agent_tls_ca), absl::GetFlag(FLAGS_agent_tls_cert),
       absl::GetFlag(FLAGS_agent_tls_key)});
  novadock::RealClock clock;
  auto server =
      novadock::controller::ControllerServer::Start(connector, clock, options);
  if (!server.ok()) return Fail(server.status());

  while (true) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    auto reloaded = LoadAgents();
    absl::Status s =
        reloaded.ok() ? (*server)->SetAgents(*reloaded) : reloaded.status();
    if (!s.ok()) {
      NOVADOCK_LOG_ERROR("SIGHUP: agent list not changed: ", s.ToString());
    }
  }
  NOVADOCK_LOG_INFO("shutting down");
  (*server)->Shutdown(absl::Now() + absl::Seconds(5));
  (*server)->Wait();
  return 0;
}
