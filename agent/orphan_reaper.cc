#include "agent/orphan_reaper.h"

#include <string>
#include <vector>

#include "proto/common/log.h"

namespace novadock::agent {

OrphanReaper::OrphanReaper(InstanceRunner& runner, Clock& clock,
                           OrphanReaperOptions options)
    : runner_(runner), clock_(clock), options_(options) {}

OrphanReaper::~OrphanReaper() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> OrphanReaper::ReapOnce() {
  if (options_.grace <= absl::ZeroDuration()) return 0;
  absl::StatusOr<std::vector<std::string>> reaped =
      runner_.ReapOrphans(options_.grace);
  if (!reaped.ok()) return reaped.status();
  return static_cast<int>(reaped->size());
}

void OrphanReaper::Start() {
  if (options_.grace <= absl::ZeroDuration()) {
    NOVADOCK_LOG_INFO("orphan reaper off: orphans are only reported");
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void OrphanReaper::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (clock_.AwaitUntil(mu_, &stop_, clock_.Now() + options_.interval)) {
        return;
      }
    }
    absl::StatusOr<int> reaped = ReapOnce();
    if (!reaped.ok() && !absl::IsUnavailable(reaped.status())) {
      NOVADOCK_LOG_WARNING("orphan reaper: ", reaped.status().ToString());
    }
  }
}

}  // namespace novadock::agent
