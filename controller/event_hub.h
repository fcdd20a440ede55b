// EventHub: every node's instance lifecycle events merged into one log with
// strictly increasing sequence numbers (from 1), kept in a bounded ring.
// Per node, a watcher thread holds a WatchEvents stream on the agent and
// reconnects with backoff when the agent restarts, resuming from the last
// event time it saw, so an agent restart loses and duplicates nothing the
// agent's dockerd recorded.
//
// Readers: Poll (the unary long-poll for the Nova shim) and Watch (server
// streams for operators). A reader that asks for events already dropped from
// the ring gets gap=true and must resync with ListInstances.
//
// Thread-safe. `clock` must outlive it; the destructor stops and joins every
// watcher.
#ifndef NOVADOCK_CONTROLLER_EVENT_HUB_H_
#define NOVADOCK_CONTROLLER_EVENT_HUB_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "novadock/v1/controller.pb.h"
#include "proto/common/clock.h"

namespace novadock::controller {

struct EventHubOptions {
  // Events kept for Poll/Watch; older ones drop. 0 is treated as 1.
  size_t capacity = 10000;
  // Delay before reconnecting a node's ended stream; doubles per failure up
  // to max_backoff, and is back to min_backoff after a healthy stream (one
  // that delivered events or stayed up for max_backoff).
  absl::Duration min_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // Sequence of the first event. The controller starts it at its start time
  // in microseconds, so a cursor is never 0 once handed out ("from now" is
  // unambiguous) and a cursor from an earlier controller process reads as a
  // gap, which makes its reader resync. >= 1.
  int64_t first_sequence = 1;
};

struct PollResult {
  std::vector<novadock::v1::ControllerEvent> events;
  int64_t next_sequence = 0;  // The after_sequence to ask with next time.
  bool gap = false;
};

class EventHub {
 public:
  EventHub(Clock& clock, EventHubOptions options);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Starts watching `node` through `stub` on a thread of its own, replacing
  // an earlier watcher of that node (e.g. after an address change); no-op if
  // `node` is already watched through this same stub. The stream resumes
  // from the last event seen from `node` by any earlier watcher (even one
  // stopped by ForgetNode), so re-watching duplicates nothing; a node never
  // heard from is watched from the agent's "now" (since_unix_nanos = 0).
  // Blocks while an earlier watcher stops (its stream is cancelled).
  // REQUIRES: stub != nullptr.
  void WatchNode(const std::string& node,
                 std::shared_ptr<novadock::v1::Agent::StubInterface> stub);
  // Cancels the stream of `node`'s watcher and joins it; no-op if none.
  // Returns promptly even while the stream is idle or in backoff.
  void ForgetNode(const std::string& node);

  // Appends one event (sets its sequence) and wakes waiting readers. Used
  // by the watchers, and by tests.
  void Append(const novadock::v1::InstanceEvent& event);

  // Never blocks longer than `wait` (measured on `clock`):
  // - after_sequence <= 0: a cursor "from now": no events, next_sequence =
  //   the latest sequence; returns at once. While the log is still empty,
  //   "from now" is "from sequence 1": it waits as in the last case, so that
  //   callers of an idle new controller do not spin.
  // - after_sequence > the latest sequence (a cursor from an earlier
  //   controller process, or garbage): gap=true, no events, next_sequence =
  //   the latest sequence; returns at once.
  // - events after after_sequence were dropped from the ring: gap=true and
  //   the oldest kept events (at most max_events), so the caller can resync
  //   and continue; returns at once.
  // - else the events with sequence > after_sequence, at most max_events (0
  //   is treated as 1), waiting up to `wait` for the first one; if none
  //   came, next_sequence = after_sequence.
  // next_sequence is the sequence of the last event returned, if any.
  PollResult Poll(int64_t after_sequence, absl::Duration wait,
                  size_t max_events);

  // Calls `emit` (holding no lock) for every event with sequence >
  // after_sequence (<= 0: from now) as they come, until `emit` returns false
  // or `cancelled()` is true (checked at least every 100 ms of real time).
  // Returns false on a gap (as Poll's: the reader fell behind the ring or
  // after_sequence is beyond the latest sequence; nothing more is emitted),
  // true otherwise.
  bool Watch(
      int64_t after_sequence,
      const std::function<bool(const novadock::v1::ControllerEvent&)>& emit,
      const std::function<bool()>& cancelled);

  int64_t last_sequence() const;

 private:
  // Where a node's stream resumes: the newest event time seen, and which
  // (container_id, type) were seen at exactly that time (the agent replays
  // events with time >= since, and several may share a nanosecond).
  struct ResumePoint {
    int64_t time_unix_nanos = 0;  // 0: nothing seen; ask "from now".
    std::set<std::pair<std::string, int>> seen_at_time;
  };
  struct Watcher;

  void RunWatcher(Watcher* watcher);
  // One WatchEvents call, read until it ends; true if it appended anything.
  // Sets `status` to how the call ended.
  bool StreamOnce(Watcher& watcher, std::string* status);
  // Marks `watcher` stopped, cancels its call and wakes its backoff wait.
  static void RequestStop(Watcher& watcher);

  // Fills `result` for a reader after `after` (>= 0); false if there is
  // nothing to return yet (after == last_sequence_).
  bool CollectLocked(int64_t after, size_t max_events, PollResult* result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Blocks until the next Append or `deadline` (on clock_).
  void AwaitAppendLocked(absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Blocks until the next Append or for `timeout` of real time.
  void AwaitAppendLocked(absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const EventHubOptions options_;

  mutable absl::Mutex mu_;  // Guards the ring, the sequence and waiters_.
  std::vector<novadock::v1::ControllerEvent> ring_ ABSL_GUARDED_BY(mu_);
  size_t ring_start_ ABSL_GUARDED_BY(mu_) = 0;  // Index of the oldest event.
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Flags of readers blocked for new events; Append sets each and clears.
  std::vector<bool*> waiters_ ABSL_GUARDED_BY(mu_);

  // Serializes WatchNode/ForgetNode/~EventHub and guards what follows. Held
  // while a watcher is joined (watchers never take it), so that a node's
  // next watcher starts where the previous one stopped.
  absl::Mutex watchers_mu_;
  std::map<std::string, std::unique_ptr<Watcher>> watchers_
      ABSL_GUARDED_BY(watchers_mu_);
  // Resume points of nodes without a running watcher.
  std::map<std::string, ResumePoint> resume_ ABSL_GUARDED_BY(watchers_mu_);
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_EVENT_HUB_H_
