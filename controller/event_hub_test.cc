// EventHub: the Poll/Watch semantics on a FakeClock, then the watchers
// against real in-process agents (AgentServer over FakeDockerApi) on
// loopback: merging, agent restarts, and prompt shutdown.
#include "controller/event_hub.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/agent_server.h"
#include "agent/fake_docker_api.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"

namespace novadock::controller {
namespace {

using novadock::v1::ControllerEvent;
using novadock::v1::EventType;
using novadock::v1::InstanceEvent;

// Real-time bound on anything a test waits for; never reached when it passes.
constexpr absl::Duration kBound = absl::Seconds(20);

InstanceEvent Event(const std::string& uuid,
                    EventType type = novadock::v1::EVENT_TYPE_STARTED) {
  InstanceEvent e;
  e.set_uuid(uuid);
  e.set_node("node-a");
  e.set_type(type);
  e.set_container_id(absl::StrCat("c-", uuid));
  return e;
}

std::vector<int64_t> Sequences(const std::vector<ControllerEvent>& events) {
  std::vector<int64_t> out;
  for (const ControllerEvent& e : events) out.push_back(e.sequence());
  return out;
}

std::vector<std::string> Uuids(const std::vector<ControllerEvent>& events) {
  std::vector<std::string> out;
  for (const ControllerEvent& e : events) out.push_back(e.event().uuid());
  return out;
}

class EventHubPollTest : public ::testing::Test {
 protected:
  void AppendN(EventHub& hub, int n) {
    for (int i = 0; i < n; ++i) hub.Append(Event(absl::StrCat("u", ++made_)));
  }

  // Advances the clock a second at a time until `done` (at most 100 s);
  // returns how far.
  absl::Duration AdvanceUntil(absl::Notification& done) {
    absl::Duration advanced;
    for (int i = 0; i < 100 && !done.WaitForNotificationWithTimeout(
                                   absl::Milliseconds(10));
         ++i) {
      clock_.Advance(absl::Seconds(1));
      advanced += absl::Seconds(1);
    }
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(kBound));
    return advanced;
  }

  FakeClock clock_;
  int made_ = 0;
};

TEST_F(EventHubPollTest, SequencesStartAtOne) {
  EventHub hub(clock_, {});
  EXPECT_EQ(hub.last_sequence(), 0);
  AppendN(hub, 3);
  EXPECT_EQ(hub.last_sequence(), 3);
  PollResult r = hub.Poll(0, absl::ZeroDuration(), 0);
  EXPECT_TRUE(r.events.empty());
}

TEST_F(EventHubPollTest, Table) {
  EventHub hub(clock_, {});
  AppendN(hub, 5);
  struct Case {
    const char* what;
    int64_t after;
    size_t max;
    std::vector<int64_t> sequences;
    int64_t next;
    bool gap;
  };
  const Case cases[] = {
      {"cursor from now", 0, 10, {}, 5, false},
      {"negative is from now", -3, 10, {}, 5, false},
      {"events after", 2, 10, {3, 4, 5}, 5, false},
      {"max_events", 1, 2, {2, 3}, 3, false},
      {"max_events 0 is 1", 1, 0, {2}, 2, false},
      {"none yet, no wait", 5, 10, {}, 5, false},
      {"beyond the latest (an old controller's cursor)", 9, 10, {}, 5, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    PollResult r = hub.Poll(c.after, absl::ZeroDuration(), c.max);
    EXPECT_EQ(Sequences(r.events), c.sequences);
    EXPECT_EQ(r.next_sequence, c.next);
    EXPECT_EQ(r.gap, c.gap);
  }
  PollResult r = hub.Poll(2, absl::ZeroDuration(), 10);
  EXPECT_EQ(Uuids(r.events), (std::vector<std::string>{"u3", "u4", "u5"}));
}

TEST_F(EventHubPollTest, GapAfterOverflow) {
  EventHubOptions options;
  options.capacity = 5;
  EventHub hub(clock_, options);
  AppendN(hub, 8);  // Keeps 4..8.
  PollResult r = hub.Poll(1, absl::ZeroDuration(), 10);
  EXPECT_TRUE(r.gap);
  EXPECT_EQ(Sequences(r.events), (std::vector<int64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(r.next_sequence, 8);
  EXPECT_EQ(Uuids(r.events).front(), "u4");

  r = hub.Poll(2, absl::ZeroDuration(), 2);  // Gap, then continue from 5.
  EXPECT_TRUE(r.gap);
  EXPECT_EQ(Sequences(r.events), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(r.next_sequence, 5);
  r = hub.Poll(r.next_sequence, absl::ZeroDuration(), 10);
  EXPECT_FALSE(r.gap);
  EXPECT_EQ(Sequences(r.events), (std::vector<int64_t>{6, 7, 8}));

  r = hub.Poll(3, absl::ZeroDuration(), 10);  // 4 is the oldest: no gap.
  EXPECT_FALSE(r.gap);
  EXPECT_EQ(Sequences(r.events), (std::vector<int64_t>{4, 5, 6, 7, 8}));

  AppendN(hub, 7);  // Wraps the ring again: keeps 11..15.
  r = hub.Poll(8, absl::ZeroDuration(), 10);
  EXPECT_TRUE(r.gap);
  EXPECT_EQ(Sequences(r.events), (std::vector<int64_t>{11, 12, 13, 14, 15}));
  EXPECT_EQ(Uuids(r.events).back(), "u15");
}

TEST_F(EventHubPollTest, WaitTimesOutOnTheClock) {
  EventHub hub(clock_, {});
  AppendN(hub, 1);
  PollResult r;
  absl::Notification done;
  std::thread poller([&] {
    r = hub.Poll(1, absl::Seconds(5), 10);
    done.Notify();
  });
  const absl::Duration advanced = AdvanceUntil(done);
  poller.join();
  EXPECT_GE(advanced, absl::Seconds(5));  // It waited on the clock.
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.next_sequence, 1);
  EXPECT_FALSE(r.gap);
}

TEST_F(EventHubPollTest, WaitWakesOnAppendFromAnotherThread) {
  EventHub hub(clock_, {});
  AppendN(hub, 2);
  PollResult r;
  absl::Notification done;
  std::thread poller([&] {
    r = hub.Poll(2, absl::Hours(1), 10);
    done.Notify();
  });
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  AppendN(hub, 1);  // The clock never moves: only the Append can wake it.
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kBound));
  poller.join();
  EXPECT_EQ(Sequences(r.events), std::vector<int64_t>{3});
  EXPECT_EQ(r.next_sequence, 3);
  EXPECT_FALSE(r.gap);
}

// On a new, idle controller a caller "from now" waits instead of spinning.
TEST_F(EventHubPollTest, FromNowOnAnEmptyLogWaits) {
  EventHub hub(clock_, {});
  PollResult r = hub.Poll(0, absl::ZeroDuration(), 10);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.next_sequence, 0);
  absl::Notification done;
  std::thread poller([&] {
    r = hub.Poll(0, absl::Seconds(5), 10);
    done.Notify();
  });
  const absl::Duration advanced = AdvanceUntil(done);
  poller.join();
  EXPECT_GE(advanced, absl::Seconds(5));
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.next_sequence, 0);
  EXPECT_FALSE(r.gap);
}

TEST_F(EventHubPollTest, ConcurrentAppendsGetDistinctIncreasingSequences) {
  EventHub hub(clock_, {});
  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&hub, t] {
      for (int i = 0; i < kEach; ++i) {
        hub.Append(Event(absl::StrCat("t", t, "-", i)));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  PollResult r = hub.Poll(0, absl::ZeroDuration(), 1);
  EXPECT_EQ(r.next_sequence, kThreads * kEach);
  r = hub.Poll(1, absl::ZeroDuration(), 100000);  // All but sequence 1.
  ASSERT_EQ(r.events.size(), static_cast<size_t>(kThreads * kEach - 1));
  std::map<std::string, int> last_of_thread;  // Each thread's stay in order.
  for (size_t k = 0; k < r.events.size(); ++k) {
    EXPECT_EQ(r.events[k].sequence(), static_cast<int64_t>(k) + 2);
    std::vector<std::string> parts =
        absl::StrSplit(r.events[k].event().uuid(), '-');
    ASSERT_EQ(parts.size(), 2u);
    int i = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &i));
    auto [it, first] = last_of_thread.emplace(parts[0], i);
    if (!first) {
      EXPECT_LT(it->second, i);
      it->second = i;
    }
  }
}

// ---- Watch -----------------------------------------------------------------

// Runs Watch on a thread and records what it emits.
class WatchRecorder {
 public:
  // stop_after > 0: `emit` returns false on that many events.
  WatchRecorder(EventHub& hub, int64_t after, int stop_after = 0)
      : stop_after_(stop_after), thread_([this, &hub, after] {
          const bool complete = hub.Watch(
              after,
              [this](const ControllerEvent& e) {
                absl::MutexLock lock(&mu_);
                events_.push_back(e);
                return stop_after_ == 0 ||
                       events_.size() < static_cast<size_t>(stop_after_);
              },
              [this] {
                absl::MutexLock lock(&mu_);
                return cancelled_;
              });
          absl::MutexLock lock(&mu_);
          complete_ = complete;
          returned_ = true;
        }) {}
  ~WatchRecorder() {
    Cancel();
    thread_.join();
  }
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  // Waits (bounded) for `n` events; returns what was emitted.
  std::vector<ControllerEvent> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n || returned_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kBound);
    return events_;
  }
  // Waits (bounded) for Watch to return; true if it did.
  bool AwaitReturn() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&returned_), kBound);
  }
  bool complete() {
    absl::MutexLock lock(&mu_);
    return complete_;
  }

 private:
  absl::Mutex mu_;  // Guards everything below.
  std::vector<ControllerEvent> events_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool returned_ ABSL_GUARDED_BY(mu_) = false;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  const int stop_after_;
  std::thread thread_;  // Last: starts once the members above exist.
};

TEST(EventHubWatchTest, DeliversInOrderAndStopsOnCancel) {
  FakeClock clock;
  EventHub hub(clock, {});
  hub.Append(Event("before"));
  WatchRecorder watch(hub, hub.last_sequence());
  std::thread appender([&hub] {
    for (int i = 0; i < 300; ++i) hub.Append(Event(absl::StrCat("w", i)));
  });
  appender.join();
  std::vector<ControllerEvent> got = watch.Await(300);
  ASSERT_EQ(got.size(), 300u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence(), static_cast<int64_t>(i) + 2);
    EXPECT_EQ(got[i].event().uuid(), absl::StrCat("w", i));
  }
  watch.Cancel();  // While idle: noticed within ~100 ms.
  EXPECT_TRUE(watch.AwaitReturn());
  EXPECT_TRUE(watch.complete());
}

TEST(EventHubWatchTest, StopsWhenEmitReturnsFalse) {
  FakeClock clock;
  EventHub hub(clock, {});
  hub.Append(Event("a"));
  hub.Append(Event("b"));
  hub.Append(Event("c"));
  WatchRecorder watch(hub, 1, /*stop_after=*/1);
  EXPECT_TRUE(watch.AwaitReturn());
  EXPECT_TRUE(watch.complete());
  EXPECT_EQ(Uuids(watch.Await(1)), std::vector<std::string>{"b"});
}

TEST(EventHubWatchTest, GapReturnsFalse) {
  FakeClock clock;
  EventHubOptions options;
  options.capacity = 5;
  EventHub hub(clock, options);
  for (int i = 0; i < 8; ++i) hub.Append(Event(absl::StrCat("g", i)));
  {
    WatchRecorder behind(hub, 1);
    EXPECT_TRUE(behind.AwaitReturn());
    EXPECT_FALSE(behind.complete());
    EXPECT_TRUE(behind.Await(0).empty());
  }
  WatchRecorder future(hub, 42);
  EXPECT_TRUE(future.AwaitReturn());
  EXPECT_FALSE(future.complete());
}

// ---- Watchers on real agents
// -------------------------------------------------

constexpr char kImageId[] =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

// One docker node: a fake dockerd and the agent serving it on loopback.
class AgentNode {
 public:
  AgentNode(Clock& clock, std::string name)
      : name_(std::move(name)),
        docker_(clock),
        clock_(clock),
        image_dir_(absl::StrCat(::testing::TempDir(), "/nd-hub-", getpid(), "-",
                                name_)) {
    docker_.AddImage("busybox:latest", kImageId);
    std::filesystem::create_directories(image_dir_);
  }
  ~AgentNode() {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(image_dir_, ignored);
  }

  // Starts the agent on `port` (0: any free one) and a new stub to it.
  void Start(int port = 0) {
    agent::AgentServerOptions options;
    options.listen = absl::StrCat("127.0.0.1:", port);
    options.runner.node_name = name_;
    options.runner.image_dir = image_dir_;
    auto server = agent::AgentServer::Start(docker_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    grpc::ChannelArguments args;  // Reconnect quickly after a restart.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    stub_ = novadock::v1::Agent::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  grpc::InsecureChannelCredentials(), args));
  }
  void Stop() { server_.reset(); }

  // Creates and starts an instance through the agent's gRPC API.
  void Create(const std::string& uuid) {
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name(absl::StrCat("instance-", uuid.substr(0, 8)));
    r.mutable_image()->set_name("busybox");
    r.mutable_flavor()->set_memory_mb(64);
    r.mutable_flavor()->set_vcpus(1);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(20));  // As kBound.
    novadock::v1::Instance out;
    grpc::Status s = stub_->CreateInstance(&ctx, r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  const std::string& name() const { return name_; }
  int port() const { return server_->port(); }
  agent::FakeDockerApi& docker() { return docker_; }
  std::shared_ptr<novadock::v1::Agent::StubInterface> stub() { return stub_; }

 private:
  const std::string name_;
  agent::FakeDockerApi docker_;
  Clock& clock_;
  const std::string image_dir_;
  std::unique_ptr<agent::AgentServer> server_;
  std::shared_ptr<novadock::v1::Agent::Stub> stub_;
};

constexpr char kUuidA[] = "aaaaaaaa-0000-4000-8000-000000000001";
constexpr char kUuidB[] = "bbbbbbbb-0000-4000-8000-000000000002";
constexpr char kUuidC[] = "cccccccc-0000-4000-8000-000000000003";

class EventHubAgentTest : public ::testing::Test {
 protected:
  EventHubAgentTest() {
    options_.min_backoff = absl::Milliseconds(10);
    options_.max_backoff = absl::Milliseconds(100);
  }

  // Appends a marker and returns its sequence: a cursor before everything
  // the agents send (0 would mean "from now" once events exist).
  static int64_t Mark(EventHub& hub) {
    hub.Append(Event("marker"));
    return hub.last_sequence();
  }

  // The next `n` events after `*cursor`, each waited for up to 10 s.
  std::vector<ControllerEvent> Next(EventHub& hub, int64_t* cursor, size_t n) {
    std::vector<ControllerEvent> out;
    while (out.size() < n) {
      PollResult r = hub.Poll(*cursor, absl::Seconds(10), n - out.size());
      EXPECT_FALSE(r.gap);
      if (r.events.empty()) break;
      out.insert(out.end(), r.events.begin(), r.events.end());
      *cursor = r.next_sequence;
    }
    return out;
  }

  // (uuid, type) of each event, to compare with what the agents did.
  static std::vector<std::pair<std::string, int>> Kinds(
      const std::vector<ControllerEvent>& events) {
    std::vector<std::pair<std::string, int>> out;
    for (const ControllerEvent& e : events) {
      out.emplace_back(e.event().uuid(), e.event().type());
    }
    return out;
  }

  // Agents and their fake dockerds run on simulated time (event times);
  // the hub's long-polls and backoff run on real time, bounded.
  FakeClock agent_clock_;
  RealClock hub_clock_;
  EventHubOptions options_;
};

TEST_F(EventHubAgentTest, MergesTwoAgentsWithNodeNames) {
  AgentNode one(agent_clock_, "compute-docker-1");
  AgentNode two(agent_clock_, "compute-docker-2");
  ASSERT_NO_FATAL_FAILURE(one.Start());
  ASSERT_NO_FATAL_FAILURE(two.Start());
  EventHub hub(hub_clock_, options_);
  int64_t cursor = Mark(hub);
  hub.WatchNode(one.name(), one.stub());
  hub.WatchNode(two.name(), two.stub());
  hub.WatchNode(one.name(), one.stub());  // Same stub: keeps the stream.
  ASSERT_TRUE(one.docker().AwaitStreamsForTest(1, kBound));
  ASSERT_TRUE(two.docker().AwaitStreamsForTest(1, kBound));

  ASSERT_NO_FATAL_FAILURE(one.Create(kUuidA));
  agent_clock_.Advance(absl::Seconds(1));
  ASSERT_NO_FATAL_FAILURE(two.Create(kUuidB));
  agent_clock_.Advance(absl::Seconds(1));
  ASSERT_NO_FATAL_FAILURE(one.Create(kUuidC));

  std::vector<ControllerEvent> got = Next(hub, &cursor, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(Sequences(got), (std::vector<int64_t>{2, 3, 4}));
  std::map<std::string, std::string> node_of;
  for (const ControllerEvent& e : got) {
    EXPECT_EQ(e.event().type(), novadock::v1::EVENT_TYPE_STARTED);
    node_of[e.event().uuid()] = e.event().node();
  }
  EXPECT_EQ(
      node_of,
      (std::map<std::string, std::string>{
          {kUuidA, one.name()}, {kUuidB, two.name()}, {kUuidC, one.name()}}));
  // Per node, in the agent's order.
  std::vector<std::string> from_one;
  for (const ControllerEvent& e : got) {
    if (e.event().node() == one.name()) from_one.push_back(e.event().uuid());
  }
  EXPECT_EQ(from_one, (std::vector<std::string>{kUuidA, kUuidC}));
  EXPECT_TRUE(hub.Poll(cursor, absl::Milliseconds(200), 10).events.empty());
}

// The agent restarts on its address: the watcher reconnects with backoff
// and resumes from the last event time, across events that share it.
TEST_F(EventHubAgentTest, AgentRestartOnSameAddressResumesWithoutDuplicates) {
  AgentNode node(agent_clock_, "compute-docker-1");
  ASSERT_NO_FATAL_FAILURE(node.Start());
  const int port = node.port();
  EventHub hub(hub_clock_, options_);
  int64_t cursor = Mark(hub);
  hub.WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  ASSERT_NO_FATAL_FAILURE(node.Create(kUuidA));
  ASSERT_EQ(Kinds(Next(hub, &cursor, 1)),
            (std::vector<std::pair<std::string, int>>{
                {kUuidA, novadock::v1::EVENT_TYPE_STARTED}}));

  node.Stop();
  // While the agent is down, its dockerd records more events, at the very
  // nanosecond of the last one the hub saw (simulated time stands still).
  ASSERT_TRUE(
      node.docker().StopContainer(absl::StrCat("nova-", kUuidA), {}).ok());
  ASSERT_NO_FATAL_FAILURE(node.Start(port));
  auto stub = node.stub();  // A new channel; the hub keeps its old one.

  std::vector<ControllerEvent> got = Next(hub, &cursor, 2);
  EXPECT_EQ(Kinds(got), (std::vector<std::pair<std::string, int>>{
                            {kUuidA, novadock::v1::EVENT_TYPE_DIED},
                            {kUuidA, novadock::v1::EVENT_TYPE_STOPPED}}));
  ASSERT_NO_FATAL_FAILURE(node.Create(kUuidB));  // Same nanosecond again.
  got = Next(hub, &cursor, 1);
  EXPECT_EQ(Kinds(got), (std::vector<std::pair<std::string, int>>{
                            {kUuidB, novadock::v1::EVENT_TYPE_STARTED}}));
  EXPECT_EQ(cursor, 5);
  EXPECT_TRUE(hub.Poll(cursor, absl::Milliseconds(300), 10).events.empty());
}

// The agent comes back on another port; WatchNode with the new stub
// replaces the watcher and resumes where the old one stopped.
TEST_F(EventHubAgentTest, AgentOnNewAddressResumesThroughWatchNode) {
  AgentNode node(agent_clock_, "compute-docker-1");
  ASSERT_NO_FATAL_FAILURE(node.Start());
  EventHub hub(hub_clock_, options_);
  int64_t cursor = Mark(hub);
  hub.WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  ASSERT_NO_FATAL_FAILURE(node.Create(kUuidA));
  ASSERT_EQ(Next(hub, &cursor, 1).size(), 1u);

  node.Stop();
  agent_clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(
      node.docker().StopContainer(absl::StrCat("nova-", kUuidA), {}).ok());
  agent_clock_.Advance(absl::Seconds(1));
  ASSERT_NO_FATAL_FAILURE(node.Start());
  hub.WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  ASSERT_NO_FATAL_FAILURE(node.Create(kUuidB));

  std::vector<ControllerEvent> got = Next(hub, &cursor, 3);
  EXPECT_EQ(Kinds(got), (std::vector<std::pair<std::string, int>>{
                            {kUuidA, novadock::v1::EVENT_TYPE_DIED},
                            {kUuidA, novadock::v1::EVENT_TYPE_STOPPED},
                            {kUuidB, novadock::v1::EVENT_TYPE_STARTED}}));
  EXPECT_TRUE(hub.Poll(cursor, absl::Milliseconds(300), 10).events.empty());

  // Forgotten and watched again: still nothing replayed twice.
  hub.ForgetNode(node.name());
  hub.WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  EXPECT_TRUE(hub.Poll(cursor, absl::Milliseconds(300), 10).events.empty());
}

// Runs `f` on a thread; true if it returned within `bound` (real time). The
// thread is joined either way.
template <typename F>
bool ReturnsWithin(absl::Duration bound, F f) {
  absl::Notification done;
  std::thread t([&] {
    f();
    done.Notify();
  });
  const bool in_time = done.WaitForNotificationWithTimeout(bound);
  t.join();
  return in_time;
}

TEST_F(EventHubAgentTest, ForgetNodeAndDestructorReturnPromptlyWhileIdle) {
  AgentNode node(agent_clock_, "compute-docker-1");
  ASSERT_NO_FATAL_FAILURE(node.Start());
  auto hub = std::make_unique<EventHub>(hub_clock_, options_);
  hub->WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  EXPECT_TRUE(
      ReturnsWithin(absl::Seconds(5), [&] { hub->ForgetNode(node.name()); }));
  hub->ForgetNode(node.name());  // No-op.

  hub->WatchNode(node.name(), node.stub());
  ASSERT_TRUE(node.docker().AwaitStreamsForTest(1, kBound));
  EXPECT_TRUE(ReturnsWithin(absl::Seconds(5), [&] { hub.reset(); }));
}

TEST_F(EventHubAgentTest, ForgetNodeWakesTheBackoffWait) {
  AgentNode node(agent_clock_, "compute-docker-1");
  ASSERT_NO_FATAL_FAILURE(node.Start());
  node.Stop();  // Nothing listens there now: every call fails at once.
  EventHubOptions slow = options_;
  slow.min_backoff = absl::Hours(1);
  slow.max_backoff = absl::Hours(1);
  EventHub hub(hub_clock_, slow);
  hub.WatchNode(node.name(), node.stub());
  // Let the first call fail; the watcher then sleeps for an hour.
  absl::Notification never;
  never.WaitForNotificationWithTimeout(absl::Milliseconds(200));
  EXPECT_TRUE(
      ReturnsWithin(absl::Seconds(5), [&] { hub.ForgetNode(node.name()); }));
}

}  // namespace
}  // namespace novadock::controller
