#include "controller/event_hub.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/common/log.h"

namespace novadock::controller {
namespace {

using novadock::v1::ControllerEvent;
using novadock::v1::InstanceEvent;

// How often Watch asks `cancelled()` while no event comes.
constexpr absl::Duration kWatchCancelCheck = absl::Milliseconds(100);
// Events Watch copies per lock hold.
constexpr size_t kWatchBatch = 256;

EventHubOptions Sanitized(EventHubOptions options) {
  options.capacity = std::max<size_t>(options.capacity, 1);
  options.min_backoff = std::max(options.min_backoff, absl::ZeroDuration());
  options.max_backoff = std::max(options.max_backoff, options.min_backoff);
  return options;
}

}  // namespace

// One node's stream. The thread owns `resume` while it runs; whoever joins
// the thread owns it afterwards.
struct EventHub::Watcher {
  Watcher(std::string node_name,
          std::shared_ptr<novadock::v1::Agent::StubInterface> agent,
          ResumePoint from)
      : node(std::move(node_name)),
        stub(std::move(agent)),
        resume(std::move(from)) {}

  const std::string node;
  const std::shared_ptr<novadock::v1::Agent::StubInterface> stub;
  ResumePoint resume;
  absl::Mutex mu;  // Guards stop and context.
  bool stop ABSL_GUARDED_BY(mu) = false;
  // The WatchEvents call in flight, for TryCancel(); nullptr between calls.
  grpc::ClientContext* context ABSL_GUARDED_BY(mu) = nullptr;
  std::thread thread;
};

EventHub::EventHub(Clock& clock, EventHubOptions options)
    : clock_(clock), options_(Sanitized(std::move(options))) {
  absl::MutexLock lock(&mu_);
  last_sequence_ = std::max<int64_t>(options_.first_sequence, 1) - 1;
}

EventHub::~EventHub() {
  absl::MutexLock lock(&watchers_mu_);
  // Cancel every stream first so that they wind down in parallel.
  for (auto& [node, watcher] : watchers_) RequestStop(*watcher);
  for (auto& [node, watcher] : watchers_) watcher->thread.join();
  watchers_.clear();
}

// ---- Watchers ---------------------------------------------------------------

void EventHub::WatchNode(
    const std::string& node,
    std::shared_ptr<novadock::v1::Agent::StubInterface> stub) {
  if (stub == nullptr) {
    NOVADOCK_LOG_ERROR("EventHub::WatchNode(", node, "): null stub ignored");
    return;
  }
  absl::MutexLock lock(&watchers_mu_);
  auto it = watchers_.find(node);
  if (it != watchers_.end()) {
    if (it->second->stub == stub) return;
    RequestStop(*it->second);
    it->second->thread.join();
    resume_[node] = std::move(it->second->resume);
    watchers_.erase(it);
  }
  ResumePoint from;
  if (auto r = resume_.find(node); r != resume_.end()) {
    from = std::move(r->second);
    resume_.erase(r);
  }
  auto watcher =
      std::make_unique<Watcher>(node, std::move(stub), std::move(from));
  Watcher* raw = watcher.get();
  watchers_[node] = std::move(watcher);
  raw->thread = std::thread([this, raw] { RunWatcher(raw); });
}

void EventHub::ForgetNode(const std::string& node) {
  absl::MutexLock lock(&watchers_mu_);
  auto it = watchers_.find(node);
  if (it == watchers_.end()) return;
  RequestStop(*it->second);
  it->second->thread.join();
  resume_[node] = std::move(it->second->resume);
  watchers_.erase(it);
}

void EventHub::RequestStop(Watcher& watcher) {
  absl::MutexLock lock(&watcher.mu);
  watcher.stop = true;
  // Also effective before the call has started: gRPC cancels it on start.
  if (watcher.context != nullptr) watcher.context->TryCancel();
}

void EventHub::RunWatcher(Watcher* watcher) {
  absl::Duration backoff = options_.min_backoff;
  int failures = 0;  // Unhealthy streams in a row.
  bool logged_slowest = false;
  while (true) {
    std::string status;
    const absl::Time began = clock_.Now();
    // A stream that delivered, or stayed up a while, was healthy.
    if (StreamOnce(*watcher, &status) ||
        clock_.Now() - began >= options_.max_backoff) {
      backoff = options_.min_backoff;
      failures = 0;
      logged_slowest = false;
    }
    {
      absl::MutexLock lock(&watcher->mu);
      if (watcher->stop) return;
    }
    // One line when the stream breaks, one when retries reach their slowest.
    ++failures;
    const bool slowest = backoff == options_.max_backoff;
    if (failures == 1 || (slowest && !logged_slowest)) {
      NOVADOCK_LOG_WARNING("event stream of node ", watcher->node, " ended (",
                           status, "); attempt ", failures,
                           ", reconnecting in ", absl::FormatDuration(backoff));
      logged_slowest = slowest;
    }
    absl::MutexLock lock(&watcher->mu);
    if (clock_.AwaitUntil(watcher->mu, &watcher->stop,
                          clock_.Now() + backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool EventHub::StreamOnce(Watcher& watcher, std::string* status) {
  grpc::ClientContext context;  // No deadline: the stream is meant to last.
  {
    absl::MutexLock lock(&watcher.mu);
    if (watcher.stop) return false;
    watcher.context = &context;
  }
  ResumePoint& resume = watcher.resume;
  novadock::v1::WatchEventsRequest request;
  request.set_since_unix_nanos(resume.time_unix_nanos);
  std::unique_ptr<grpc::ClientReaderInterface<InstanceEvent>> reader =
      watcher.stub->WatchEvents(&context, request);
  bool appended = false;
  InstanceEvent event;
  while (reader->Read(&event)) {
    // The agent replays events with time >= since: skip those seen before.
    const int64_t time = event.time_unix_nanos();
    if (time < resume.time_unix_nanos) continue;
    if (time > resume.time_unix_nanos) {
      resume.time_unix_nanos = time;
      resume.seen_at_time.clear();
    }
    if (!resume.seen_at_time
             .emplace(event.container_id(), static_cast<int>(event.type()))
             .second) {
      continue;
    }
    if (event.node().empty()) event.set_node(watcher.node);
    Append(event);
    appended = true;
  }
  const grpc::Status end = reader->Finish();
  *status = end.ok() ? std::string("closed by the agent")
                     : absl::StrCat("code ", end.error_code(), ": ",
                                    end.error_message());
  absl::MutexLock lock(&watcher.mu);
  watcher.context = nullptr;  // Before `context` goes away.
  return appended;
}

// ---- The log ----------------------------------------------------------------

void EventHub::Append(const InstanceEvent& event) {
  ControllerEvent entry;
  *entry.mutable_event() = event;
  absl::MutexLock lock(&mu_);
  entry.set_sequence(++last_sequence_);
  if (ring_.size() < options_.capacity) {
    ring_.push_back(std::move(entry));
  } else {
    ring_[ring_start_] = std::move(entry);
    ring_start_ = (ring_start_ + 1) % ring_.size();
  }
  for (bool* appended : waiters_) *appended = true;
  waiters_.clear();
}

int64_t EventHub::last_sequence() const {
  absl::MutexLock lock(&mu_);
  return last_sequence_;
}

bool EventHub::CollectLocked(int64_t after, size_t max_events,
                             PollResult* result) const {
  result->events.clear();
  result->gap = false;
  result->next_sequence = after;
  if (after > last_sequence_) {
    result->gap = true;
    result->next_sequence = last_sequence_;
    return true;
  }
  if (after == last_sequence_) return false;
  // last_sequence_ > after >= 0; the ring may be empty (after is from
  // before first_sequence): then a gap with no events.
  const int64_t oldest =
      last_sequence_ - static_cast<int64_t>(ring_.size()) + 1;
  int64_t first = after + 1;
  if (oldest > first) {
    result->gap = true;
    first = oldest;
  }
  const int64_t last =
      std::min(last_sequence_, first + static_cast<int64_t>(max_events) - 1);
  result->events.reserve(static_cast<size_t>(last - first + 1));
  for (int64_t s = first; s <= last; ++s) {
    const size_t index =
        (ring_start_ + static_cast<size_t>(s - oldest)) % ring_.size();
    result->events.push_back(ring_[index]);
  }
  result->next_sequence = last;
  return true;
}

void EventHub::AwaitAppendLocked(absl::Time deadline) {
  bool appended = false;
  waiters_.push_back(&appended);
  clock_.AwaitUntil(mu_, &appended, deadline);
  if (!appended)
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &appended));
}

void EventHub::AwaitAppendLocked(absl::Duration timeout) {
  bool appended = false;
  waiters_.push_back(&appended);
  mu_.AwaitWithTimeout(absl::Condition(&appended), timeout);
  if (!appended)
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &appended));
}

PollResult EventHub::Poll(int64_t after_sequence, absl::Duration wait,
                          size_t max_events) {
  max_events = std::max<size_t>(max_events, 1);
  PollResult result;
  absl::MutexLock lock(&mu_);
  if (after_sequence <= 0) {
    after_sequence = 0;
    result.next_sequence = last_sequence_;
    // An empty log: "from now" is "from sequence 1"; wait for it below.
    if (last_sequence_ > 0) return result;
  }
  if (CollectLocked(after_sequence, max_events, &result)) return result;
  if (wait > absl::ZeroDuration()) {
    AwaitAppendLocked(clock_.Now() + wait);
    CollectLocked(after_sequence, max_events, &result);
  }
  return result;
}

bool EventHub::Watch(int64_t after_sequence,
                     const std::function<bool(const ControllerEvent&)>& emit,
                     const std::function<bool()>& cancelled) {
  int64_t cursor = after_sequence;
  if (cursor <= 0) cursor = last_sequence();
  PollResult batch;
  while (!cancelled()) {
    {
      absl::MutexLock lock(&mu_);
      if (!CollectLocked(cursor, kWatchBatch, &batch)) {
        AwaitAppendLocked(kWatchCancelCheck);
        if (!CollectLocked(cursor, kWatchBatch, &batch)) continue;
      }
    }
    if (batch.gap) return false;
    for (const ControllerEvent& event : batch.events) {
      if (!emit(event)) return true;
    }
    cursor = batch.next_sequence;
  }
  return true;
}

}  // namespace novadock::controller
