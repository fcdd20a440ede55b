#include "agent/event_stream.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/container_labels.h"
#include "proto/common/log.h"

namespace novadock::agent {
namespace {

using novadock::v1::EventType;

EventType TypeForAction(absl::string_view action) {
  if (action == "start") return EventType::EVENT_TYPE_STARTED;
  if (action == "stop") return EventType::EVENT_TYPE_STOPPED;
  if (action == "pause") return EventType::EVENT_TYPE_PAUSED;
  if (action == "unpause") return EventType::EVENT_TYPE_UNPAUSED;
  if (action == "die") return EventType::EVENT_TYPE_DIED;
  if (action == "destroy") return EventType::EVENT_TYPE_DELETED;
  return EventType::EVENT_TYPE_UNSPECIFIED;
}

std::string Attribute(const DockerEvent& event, const char* key) {
  auto it = event.attributes.find(key);
  return it == event.attributes.end() ? std::string() : it->second;
}

}  // namespace

std::optional<novadock::v1::InstanceEvent> ToInstanceEvent(
    const DockerEvent& event, const std::string& node) {
  if (event.type != "container") return std::nullopt;
  const EventType type = TypeForAction(event.action);
  if (type == EventType::EVENT_TYPE_UNSPECIFIED) return std::nullopt;
  const std::string uuid = Attribute(event, kLabelInstanceUuid);
  if (uuid.empty() || Attribute(event, kLabelNode) != node) return std::nullopt;
  novadock::v1::InstanceEvent out;
  out.set_uuid(uuid);
  out.set_name(Attribute(event, kLabelInstanceName));
  out.set_node(node);
  out.set_type(type);
  out.set_time_unix_nanos(event.time_unix_nanos);
  out.set_container_id(event.id);
  int32_t exit_code = 0;
  if (absl::SimpleAtoi(Attribute(event, "exitCode"), &exit_code)) {
    out.set_exit_code(exit_code);
  }
  return out;
}

EventStream::EventStream(DockerApi& docker, Clock& clock,
                         EventStreamOptions options)
    : docker_(docker), clock_(clock), options_(std::move(options)) {}

absl::Status EventStream::Run(
    int64_t since_unix_nanos,
    const std::function<bool(const novadock::v1::InstanceEvent&)>& emit,
    const std::function<bool()>& cancelled) {
  // A watcher turns `cancelled()` into the flag StreamEvents polls and wakes
  // any backoff wait; it ends when Run does.
  std::atomic<bool> cancel{false};
  absl::Mutex mu;  // Guards stop and done.
  bool stop = false;
  bool done = false;
  std::thread watcher([&] {
    absl::MutexLock lock(&mu);
    while (!done) {
      if (cancelled()) {
        cancel = true;
        stop = true;
        return;
      }
      mu.AwaitWithTimeout(absl::Condition(&done), options_.cancel_poll);
    }
  });

  const Filters filters = {
      {"type", {"container"}},
      {"label", {absl::StrCat(kLabelNode, "=", options_.node_name)}},
      {"event", {"start", "stop", "pause", "unpause", "die", "destroy"}}};
  // Resume point: the last delivered event's time, and which events at that
  // exact time were delivered already.
  int64_t resume_nanos =
      since_unix_nanos > 0 ? since_unix_nanos : absl::ToUnixNanos(clock_.Now());
  std::set<std::pair<std::string, std::string>> at_resume;
  bool keep_going = true;
  absl::Duration backoff = options_.min_backoff;
  while (keep_going && !cancel) {
    absl::Status s = docker_.StreamEvents(
        filters, resume_nanos,
        [&](const DockerEvent& event) {
          if (event.time_unix_nanos < resume_nanos) return true;
          auto key = std::make_pair(event.id, event.action);
          if (event.time_unix_nanos == resume_nanos &&
              at_resume.count(key) > 0) {
            return true;
          }
          if (event.time_unix_nanos > resume_nanos) at_resume.clear();
          resume_nanos = event.time_unix_nanos;
          at_resume.insert(std::move(key));
          backoff = options_.min_backoff;
          auto converted = ToInstanceEvent(event, options_.node_name);
          if (converted.has_value() && !emit(*converted)) keep_going = false;
          return keep_going;
        },
        &cancel);
    if (!keep_going || cancel) break;
    NOVADOCK_LOG_WARNING("Docker event stream ended (",
                         s.ok() ? "closed by dockerd" : s.ToString(),
                         "); reconnecting in ", absl::FormatDuration(backoff));
    absl::MutexLock lock(&mu);
    clock_.AwaitUntil(mu, &stop, clock_.Now() + backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  watcher.join();
  return absl::OkStatus();
}

}  // namespace novadock::agent
