#include "agent/docker_health_monitor.h"

#include <utility>

#include "proto/common/log.h"

namespace novadock::agent {

DockerHealthMonitor::DockerHealthMonitor(
    DockerApi& docker, Clock& clock, absl::Duration interval,
    std::function<void(bool reachable)> on_change)
    : docker_(docker),
      clock_(clock),
      interval_(interval),
      on_change_(std::move(on_change)) {}

DockerHealthMonitor::~DockerHealthMonitor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool DockerHealthMonitor::CheckOnce() {
  absl::Status ping = docker_.Ping();
  const bool reachable = ping.ok();
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    changed = !last_.has_value() || *last_ != reachable;
    last_ = reachable;
  }
  if (changed) {
    if (reachable) {
      NOVADOCK_LOG_INFO("dockerd reachable: serving");
    } else {
      NOVADOCK_LOG_WARNING("dockerd unreachable (", ping.ToString(),
                           "): NOT_SERVING");
    }
    on_change_(reachable);
  }
  return reachable;
}

void DockerHealthMonitor::Start() {
  CheckOnce();
  thread_ = std::thread([this] { Loop(); });
}

void DockerHealthMonitor::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (clock_.AwaitUntil(mu_, &stop_, clock_.Now() + interval_)) return;
    }
    CheckOnce();
  }
}

}  // namespace novadock::agent
