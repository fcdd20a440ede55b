// EventStream: this node's instance lifecycle events (started, stopped,
// paused, unpaused, died, deleted) from Docker's event stream. It reconnects
// by itself when dockerd goes away and comes back, resuming from the last
// event it delivered, so no event is lost or delivered twice across a
// dockerd restart (events dockerd itself never recorded are, of course,
// not delivered).
//
// Thread-safe: any number of Run() calls may proceed at once, each with its
// own Docker connection. `docker` and `clock` must outlive it.
#ifndef NOVADOCK_AGENT_EVENT_STREAM_H_
#define NOVADOCK_AGENT_EVENT_STREAM_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/docker_api.h"
#include "novadock/v1/types.pb.h"
#include "proto/common/clock.h"

namespace novadock::agent {

struct EventStreamOptions {
  std::string node_name;                                 // Required.
  absl::Duration min_backoff = absl::Milliseconds(200);  // First retry delay.
  absl::Duration max_backoff = absl::Seconds(5);         // Retry delay cap.
  absl::Duration cancel_poll =
      absl::Milliseconds(50);  // How often `cancelled` is asked.
};

class EventStream {
 public:
  EventStream(DockerApi& docker, Clock& clock, EventStreamOptions options);

  // Delivers events after `since_unix_nanos` (0: from now) to `emit` until
  // `emit` returns false or `cancelled()` returns true; then OK. Blocks until
  // then; dockerd errors are retried with backoff, never returned.
  [[nodiscard]] absl::Status Run(
      int64_t since_unix_nanos,
      const std::function<bool(const novadock::v1::InstanceEvent&)>& emit,
      const std::function<bool()>& cancelled);

 private:
  DockerApi& docker_;
  Clock& clock_;
  const EventStreamOptions options_;
};

// The lifecycle event for `event` if it is one of `node`'s instances.
std::optional<novadock::v1::InstanceEvent> ToInstanceEvent(
    const DockerEvent& event, const std::string& node);

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_EVENT_STREAM_H_
