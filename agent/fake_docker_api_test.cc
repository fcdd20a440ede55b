#include "agent/fake_docker_api.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"

namespace novadock::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kImage[] = "busybox:1";
constexpr char kImageId[] = "sha256:5b1";

class FakeDockerApiTest : public ::testing::Test {
 protected:
  FakeDockerApiTest() : docker_(clock_) { docker_.AddImage(kImage, kImageId); }

  // Creates `name` from kImage with `labels`; returns its id.
  std::string Create(const std::string& name, Labels labels = {}) {
    ContainerSpec spec;
    spec.name = name;
    spec.image = kImage;
    spec.labels = std::move(labels);
    absl::StatusOr<std::string> id = docker_.CreateContainer(spec);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }
  std::string StatusOf(const std::string& id) {
    absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(id);
    return d.ok() ? d->state.status : d.status().ToString();
  }
  // "action" or "action/k=v" for each event since `from`.
  std::vector<std::string> Actions(size_t from = 0) {
    std::vector<std::string> out;
    std::vector<DockerEvent> events = docker_.EventsForTest();
    for (size_t i = from; i < events.size(); ++i) {
      std::string a = events[i].action;
      for (const char* key : {"signal", "exitCode"}) {
        auto it = events[i].attributes.find(key);
        if (it != events[i].attributes.end()) {
          a += "/" + std::string(key) + "=" + it->second;
        }
      }
      out.push_back(a);
    }
    return out;
  }

  FakeClock clock_;
  FakeDockerApi docker_;
};

TEST_F(FakeDockerApiTest, CreateStartInspect) {
  const std::string id = Create("nova-1", {{"a", "1"}});
  EXPECT_THAT(id, SizeIs(64));
  EXPECT_EQ(StatusOf("nova-1"), "created");
  EXPECT_EQ(StatusOf("/nova-1"), "created");
  EXPECT_EQ(StatusOf(id.substr(0, 12)), "created");
  ASSERT_TRUE(docker_.StartContainer("nova-1").ok());
  absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state.status, "running");
  EXPECT_TRUE(d->state.running);
  EXPECT_GT(d->state.pid, 0);
  EXPECT_EQ(d->state.started_at, clock_.Now());
  EXPECT_EQ(d->image_id, kImageId);
  EXPECT_EQ(d->labels.at("a"), "1");
  EXPECT_FALSE(d->privileged);
  EXPECT_THAT(Actions(), ElementsAre("create", "start"));
  EXPECT_EQ(docker_.EventsForTest()[0].time_unix_nanos,
            absl::ToUnixNanos(clock_.Now()));
}

TEST_F(FakeDockerApiTest, CreateErrors) {
  Create("nova-1");
  ContainerSpec spec;
  spec.name = "nova-1";
  spec.image = kImage;
  EXPECT_TRUE(absl::IsAlreadyExists(docker_.CreateContainer(spec).status()));
  spec.name = "nova-2";
  spec.image = "nope:1";
  EXPECT_TRUE(absl::IsNotFound(docker_.CreateContainer(spec).status()));
  spec.image = kImageId;  // By id works.
  spec.memory_bytes = 1 << 20;
  EXPECT_TRUE(absl::IsInvalidArgument(docker_.CreateContainer(spec).status()));
  spec.memory_bytes = 64 << 20;
  spec.nano_cpus = int64_t{5} * 1000000000;  // The fake has 4 CPUs.
  EXPECT_TRUE(absl::IsInvalidArgument(docker_.CreateContainer(spec).status()));
  spec.nano_cpus = 1000000000;
  spec.name = "bad name";
  EXPECT_TRUE(absl::IsInvalidArgument(docker_.CreateContainer(spec).status()));
  spec.name = "nova-2";
  absl::StatusOr<std::string> id = docker_.CreateContainer(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(*id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->memory_bytes, 64 << 20);
  EXPECT_EQ(d->nano_cpus, 1000000000);
  EXPECT_EQ(d->network_mode, "none");
}

TEST_F(FakeDockerApiTest, StartAndPauseTransitions) {
  const std::string id = Create("ct");
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.PauseContainer(id)));
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.UnpauseContainer(id)));
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  const size_t events = docker_.EventsForTest().size();
  EXPECT_TRUE(docker_.StartContainer(id).ok());  // 304: no event.
  EXPECT_EQ(docker_.EventsForTest().size(), events);
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.UnpauseContainer(id)));
  ASSERT_TRUE(docker_.PauseContainer(id).ok());
  absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state.status, "paused");
  EXPECT_TRUE(d->state.running);
  EXPECT_TRUE(d->state.paused);
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.PauseContainer(id)));
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.StartContainer(id)));
  ASSERT_TRUE(docker_.UnpauseContainer(id).ok());
  EXPECT_EQ(StatusOf(id), "running");
  EXPECT_TRUE(absl::IsNotFound(docker_.StartContainer("missing")));
}

TEST_F(FakeDockerApiTest, StopOfPausedContainerIsAllowedAsInDockerd) {
  const std::string id = Create("ct");
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  ASSERT_TRUE(docker_.PauseContainer(id).ok());
  const size_t from = docker_.EventsForTest().size();
  ASSERT_TRUE(docker_.StopContainer(id, absl::Seconds(10)).ok());
  absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state.status, "exited");
  EXPECT_FALSE(d->state.running);
  EXPECT_FALSE(d->state.paused);
  EXPECT_EQ(d->state.exit_code, 143);
  EXPECT_THAT(Actions(from), ElementsAre("kill/signal=15", "unpause",
                                         "die/exitCode=143", "stop"));
  // Already stopped: OK (304), no event.
  EXPECT_TRUE(docker_.StopContainer(id, absl::Seconds(10)).ok());
  EXPECT_THAT(Actions(from), SizeIs(4));
}

TEST_F(FakeDockerApiTest, StopOfProcessIgnoringSigtermEndsWithSigkill) {
  const std::string id = Create("ct");
  ASSERT_TRUE(docker_.SetIgnoresSigtermForTest(id, true).ok());
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  const size_t from = docker_.EventsForTest().size();
  ASSERT_TRUE(docker_.StopContainer(id, absl::Seconds(1)).ok());
  EXPECT_THAT(Actions(from), ElementsAre("kill/signal=15", "kill/signal=9",
                                         "die/exitCode=137", "stop"));
}

TEST_F(FakeDockerApiTest, KillAndRestart) {
  const std::string id = Create("ct");
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.KillContainer(id)));
  ASSERT_TRUE(docker_.RestartContainer(id, absl::Seconds(1)).ok());
  EXPECT_EQ(StatusOf(id), "running");
  ASSERT_TRUE(docker_.PauseContainer(id).ok());
  size_t from = docker_.EventsForTest().size();
  ASSERT_TRUE(docker_.KillContainer(id).ok());  // Paused: allowed.
  EXPECT_THAT(Actions(from), ElementsAre("kill/signal=9", "die/exitCode=137"));
  EXPECT_EQ(StatusOf(id), "exited");
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  from = docker_.EventsForTest().size();
  ASSERT_TRUE(docker_.RestartContainer(id, absl::Seconds(1)).ok());
  EXPECT_THAT(Actions(from), ElementsAre("kill/signal=15", "die/exitCode=143",
                                         "stop", "start", "restart"));
  ASSERT_TRUE(docker_.ExitForTest(id, 3).ok());
  absl::StatusOr<ContainerDetails> d = docker_.InspectContainer(id);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state.exit_code, 3);
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.ExitForTest(id, 3)));
}

TEST_F(FakeDockerApiTest, Remove) {
  const std::string id = Create("ct");
  ASSERT_TRUE(docker_.StartContainer(id).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.RemoveContainer(id, false)));
  ASSERT_TRUE(docker_.PauseContainer(id).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(docker_.RemoveContainer(id, false)));
  const size_t from = docker_.EventsForTest().size();
  ASSERT_TRUE(docker_.RemoveContainer(id, true).ok());
  EXPECT_THAT(Actions(from),
              ElementsAre("kill/signal=9", "die/exitCode=137", "destroy"));
  EXPECT_TRUE(absl::IsNotFound(docker_.InspectContainer(id).status()));
  EXPECT_TRUE(absl::IsNotFound(docker_.RemoveContainer(id, true)));
  const std::string stopped = Create("ct");  // The name is free again.
  EXPECT_TRUE(docker_.RemoveContainer(stopped, false).ok());
}

TEST_F(FakeDockerApiTest, ListFilters) {
  Create("nova-a", {{"node", "n1"}, {"uuid", "a"}});
  Create("nova-b", {{"node", "n2"}, {"uuid", "b"}});
  Create("other", {});
  ASSERT_TRUE(docker_.StartContainer("nova-b").ok());
  auto names = [&](const Filters& f) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<ContainerSummary>> list =
        docker_.ListContainers(f);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return out;
    for (const ContainerSummary& s : *list) out.push_back(s.name);
    return out;
  };
  EXPECT_THAT(names({}), ElementsAre("other", "nova-b", "nova-a"));
  EXPECT_THAT(names({{"label", {"uuid"}}}), ElementsAre("nova-b", "nova-a"));
  EXPECT_THAT(names({{"label", {"node=n1"}}}), ElementsAre("nova-a"));
  EXPECT_THAT(names({{"label", {"uuid", "node=n3"}}}), IsEmpty());
  EXPECT_THAT(names({{"name", {"nova-"}}}), ElementsAre("nova-b", "nova-a"));
  EXPECT_THAT(names({{"status", {"running"}}}), ElementsAre("nova-b"));
  absl::StatusOr<std::vector<ContainerSummary>> list =
      docker_.ListContainers({{"label", {"node=n2"}}});
  ASSERT_TRUE(list.ok());
  ASSERT_THAT(*list, SizeIs(1));
  EXPECT_EQ((*list)[0].state, "running");
  EXPECT_EQ((*list)[0].image, kImage);
  EXPECT_TRUE(absl::IsInvalidArgument(
      docker_.ListContainers({{"bogus", {"x"}}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      docker_.ListContainers({{"status", {"up"}}}).status()));
}

TEST_F(FakeDockerApiTest, Logs) {
  Create("ct");
  ASSERT_TRUE(docker_
                  .AppendLogForTest("ct", FakeDockerApi::LogStream::kStdout,
                                    "one\ntwo\n")
                  .ok());
  ASSERT_TRUE(
      docker_.AppendLogForTest("ct", FakeDockerApi::LogStream::kStderr, "err\n")
          .ok());
  ASSERT_TRUE(
      docker_.AppendLogForTest("ct", FakeDockerApi::LogStream::kStdout, "three")
          .ok());
  EXPECT_TRUE(absl::IsNotFound(docker_.AppendLogForTest(
      "missing", FakeDockerApi::LogStream::kStdout, "x")));
  auto read = [&](LogsOptions options, int max_chunks = 100) {
    std::string out;
    int chunks = 0;
    absl::Status s =
        docker_.ContainerLogs("ct", options, [&](absl::string_view b) {
          out.append(b.data(), b.size());
          return ++chunks < max_chunks;
        });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  };
  EXPECT_EQ(read({}), "one\ntwo\nerr\nthree");
  EXPECT_EQ(read({true, false, -1}), "one\ntwo\nthree");
  EXPECT_EQ(read({true, true, 2}), "err\nthree");
  EXPECT_EQ(read({}, 1), "one\n");  // The callback stops the stream.
}

TEST_F(FakeDockerApiTest, Stats) {
  ContainerSpec spec;
  spec.name = "ct";
  spec.image = kImage;
  spec.memory_bytes = 64 << 20;
  ASSERT_TRUE(docker_.CreateContainer(spec).ok());
  absl::StatusOr<ContainerStats> stopped = docker_.ContainerStatsOnce("ct");
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->memory_usage_bytes, 0u);
  EXPECT_EQ(stopped->read, absl::InfinitePast());
  ASSERT_TRUE(docker_.StartContainer("ct").ok());
  ContainerStats set;
  set.cpu_total_nanos = 5;
  set.memory_usage_bytes = 1234;
  ASSERT_TRUE(docker_.SetStatsForTest("ct", set).ok());
  absl::StatusOr<ContainerStats> running = docker_.ContainerStatsOnce("ct");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->cpu_total_nanos, 5u);
  EXPECT_EQ(running->memory_usage_bytes, 1234u);
  EXPECT_EQ(running->memory_limit_bytes, uint64_t{64} << 20);
  EXPECT_EQ(running->read, clock_.Now());
}

TEST_F(FakeDockerApiTest, Images) {
  absl::StatusOr<ImageDetails> image = docker_.InspectImage(kImage);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->id, kImageId);
  EXPECT_TRUE(docker_.InspectImage("5b1").ok());
  EXPECT_TRUE(absl::IsNotFound(docker_.InspectImage("busybox").status()));
  ASSERT_TRUE(docker_.TagImage(kImage, "novadock/glance", "g1").ok());
  image = docker_.InspectImage("novadock/glance:g1");
  ASSERT_TRUE(image.ok());
  EXPECT_THAT(image->repo_tags, ElementsAre(kImage, "novadock/glance:g1"));
  EXPECT_TRUE(absl::IsNotFound(docker_.TagImage("nope", "r", "t")));
  docker_.AddImage("plain", "sha256:abc");
  EXPECT_TRUE(docker_.InspectImage("plain:latest").ok());
}

TEST_F(FakeDockerApiTest, InjectedErrorsAndCallRecord) {
  docker_.InjectError("StartContainer", absl::InternalError("boom"));
  Create("ct");
  EXPECT_TRUE(absl::IsInternal(docker_.StartContainer("ct")));
  EXPECT_EQ(StatusOf("ct"), "created");  // The failed call changed nothing.
  EXPECT_TRUE(docker_.StartContainer("ct").ok());  // One-shot.
  docker_.InjectStickyError("Ping", absl::DeadlineExceededError("slow"));
  EXPECT_TRUE(absl::IsDeadlineExceeded(docker_.Ping()));
  EXPECT_TRUE(absl::IsDeadlineExceeded(docker_.Ping()));
  docker_.ClearErrorsForTest();
  EXPECT_TRUE(docker_.Ping().ok());
  EXPECT_THAT(docker_.CallsForTest(),
              ElementsAre("CreateContainer:ct", "StartContainer:ct",
                          "InspectContainer:ct", "StartContainer:ct", "Ping",
                          "Ping", "Ping"));
  docker_.ClearCallsForTest();
  EXPECT_THAT(docker_.CallsForTest(), IsEmpty());
}

TEST_F(FakeDockerApiTest, DownMakesEveryCallUnavailable) {
  Create("ct");
  docker_.SetDownForTest(true);
  EXPECT_TRUE(absl::IsUnavailable(docker_.Ping()));
  EXPECT_TRUE(absl::IsUnavailable(docker_.StartContainer("ct")));
  EXPECT_TRUE(absl::IsUnavailable(docker_.ListContainers({}).status()));
  EXPECT_TRUE(absl::IsUnavailable(docker_.StreamEvents(
      {}, 0, [](const DockerEvent&) { return true; }, nullptr)));
  docker_.SetDownForTest(false);
  EXPECT_EQ(StatusOf("ct"), "created");  // State survives.
}

TEST_F(FakeDockerApiTest, StreamEventsReplaysThenFollowsUntilCancel) {
  const int64_t t0 = absl::ToUnixNanos(clock_.Now());
  Create("old");
  clock_.Advance(absl::Seconds(1));
  std::atomic<bool> cancel{false};
  absl::Mutex mu;
  std::vector<std::string> seen;
  absl::Notification got_two;
  absl::Status result;
  std::thread streamer([&] {
    result = docker_.StreamEvents(
        {{"type", {"container"}}, {"label", {"k=v"}}}, t0,
        [&](const DockerEvent& e) {
          absl::MutexLock lock(&mu);
          seen.push_back(e.action + ":" + e.attributes.at("name"));
          if (seen.size() == 2 && !got_two.HasBeenNotified()) got_two.Notify();
          return true;
        },
        &cancel);
  });
  Create("unlabelled");
  Create("new", {{"k", "v"}});
  ASSERT_TRUE(docker_.StartContainer("new").ok());
  // "old" has no label k=v: only "new" events pass the filter.
  EXPECT_TRUE(got_two.WaitForNotificationWithTimeout(absl::Seconds(10)));
  cancel = true;
  streamer.join();
  EXPECT_TRUE(result.ok()) << result;
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ElementsAre("create:new", "start:new"));
}

TEST_F(FakeDockerApiTest, StreamEventsFromNowSkipsPastAndStopsOnCallback) {
  Create("old");
  absl::Status result;
  std::vector<std::string> seen;
  std::thread streamer([&] {
    result = docker_.StreamEvents(
        {}, 0,
        [&](const DockerEvent& e) {
          seen.push_back(e.action);
          return false;  // Stop after the first.
        },
        nullptr);
  });
  ASSERT_TRUE(docker_.AwaitStreamsForTest(1, absl::Seconds(10)));
  ASSERT_TRUE(docker_.StartContainer("old").ok());
  streamer.join();
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_THAT(seen, ElementsAre("start"));
}

TEST_F(FakeDockerApiTest, DownEndsARunningEventStream) {
  absl::Status result;
  std::thread streamer([&] {
    result = docker_.StreamEvents(
        {}, 0, [](const DockerEvent&) { return true; }, nullptr);
  });
  ASSERT_TRUE(docker_.AwaitStreamsForTest(1, absl::Seconds(10)));
  docker_.SetDownForTest(true);
  streamer.join();
  EXPECT_TRUE(absl::IsUnavailable(result)) << result;
}

}  // namespace
}  // namespace novadock::agent
