// OrphanReaper: removes, on its own thread, the containers that interrupted
// creates left behind (InstanceView::orphan: created but never started
// though the create asked for a start, no create of it in progress) once
// they are older than `grace`. Until then ListInstances reports them with
// orphan=true; each removal is logged as a warning naming the instance.
// A retried create of the uuid within the grace period starts the container
// instead. docs/agent.md has the design.
//
// Thread-safe; `runner` and `clock` must outlive it. The destructor stops
// and joins the thread.
#ifndef NOVADOCK_AGENT_ORPHAN_REAPER_H_
#define NOVADOCK_AGENT_ORPHAN_REAPER_H_

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/instance_runner.h"
#include "proto/common/clock.h"

namespace novadock::agent {

struct OrphanReaperOptions {
  // Orphans younger than this stay (a caller may still retry its create).
  // Zero or less: never reap (orphans are still reported).
  absl::Duration grace = absl::Minutes(15);
  absl::Duration interval = absl::Minutes(1);  // Between passes.
};

class OrphanReaper {
 public:
  OrphanReaper(InstanceRunner& runner, Clock& clock,
               OrphanReaperOptions options);
  ~OrphanReaper();
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;

  // One pass now; returns how many orphans were removed. The runner's error
  // (e.g. UNAVAILABLE without dockerd) otherwise; the next pass retries.
  [[nodiscard]] absl::StatusOr<int> ReapOnce();
  // Starts the periodic thread, unless grace <= 0. Call at most once.
  void Start();

 private:
  void Loop();

  InstanceRunner& runner_;
  Clock& clock_;
  const OrphanReaperOptions options_;

  absl::Mutex mu_;  // Guards stop_.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_ORPHAN_REAPER_H_
