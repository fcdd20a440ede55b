// DockerHealthMonitor: pings dockerd every `interval` on its own thread and
// reports changes (reachable <-> unreachable) to `on_change`, which the
// agent's main wires to the gRPC health service (NOT_SERVING while dockerd
// is unreachable). Thread-safe; `docker` and `clock` must outlive it. The
// destructor stops and joins the thread.
#ifndef NOVADOCK_AGENT_DOCKER_HEALTH_MONITOR_H_
#define NOVADOCK_AGENT_DOCKER_HEALTH_MONITOR_H_

#include <functional>
#include <optional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/docker_api.h"
#include "proto/common/clock.h"

namespace novadock::agent {

class DockerHealthMonitor {
 public:
  DockerHealthMonitor(DockerApi& docker, Clock& clock, absl::Duration interval,
                      std::function<void(bool reachable)> on_change);
  ~DockerHealthMonitor();
  DockerHealthMonitor(const DockerHealthMonitor&) = delete;
  DockerHealthMonitor& operator=(const DockerHealthMonitor&) = delete;

  // Pings once now and reports a change. Returns whether dockerd answered.
  bool CheckOnce();
  // Starts the periodic thread (after one CheckOnce). Call at most once.
  void Start();

 private:
  void Loop();

  DockerApi& docker_;
  Clock& clock_;
  const absl::Duration interval_;
  const std::function<void(bool)> on_change_;

  absl::Mutex mu_;  // Guards stop_ and last_.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<bool> last_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_DOCKER_HEALTH_MONITOR_H_
