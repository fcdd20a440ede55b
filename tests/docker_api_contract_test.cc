// The DockerApi contract: the same cases run on CurlDockerApi against a
// private dockerd (docker.io 20.10) and on FakeDockerApi, so that the fake
// cannot drift from the daemon. Where a case needs something only the real
// world does (a process writing output and exiting), the backend does it.
// After the typed cases, CurlDockerApi-only tests cover transport failures.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/curl_docker_api.h"
#include "agent/docker_api.h"
#include "agent/fake_docker_api.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"
#include "proto/common/status_macros.h"
#include "tests/dockerd_fixture.h"
#include "tests/test_image.h"

namespace novadock::agent {
namespace {

using ::novadock::testing::DockerdFixture;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kLabelKey[] = "novadock.contract";
constexpr int64_t kMemoryBytes = int64_t{64} << 20;
constexpr absl::Duration kWait = absl::Seconds(30);  // Bound on any wait.

MATCHER_P(HasCode, code, "") { return arg.code() == code; }

// ---- Backends -------------------------------------------------------------

// CurlDockerApi on the binary's shared private dockerd.
class CurlBackend {
 public:
  static constexpr char kName[] = "curl";

  absl::Status Init() {
    DockerdFixture* dockerd = testing::SharedDockerd();
    if (dockerd == nullptr) return absl::UnavailableError("no test dockerd");
    NOVADOCK_ASSIGN_OR_RETURN(image_, testing::ImportBusyboxImage(*dockerd));
    CurlDockerApi::Options options;
    options.host = dockerd->host();
    NOVADOCK_ASSIGN_OR_RETURN(api_, CurlDockerApi::Create(options));
    return absl::OkStatus();
  }
  DockerApi& api() { return *api_; }
  const std::string& image() const { return image_; }

  // What the real world does by itself; nothing to do here.
  void Created(const std::string& /*id*/) {}
  void Started(const std::string& /*id*/) {}
  void OutputAndExit(const std::string& /*id*/, const std::string& /*out*/,
                     const std::string& /*err*/, int /*exit_code*/) {}
  // A docker-save archive of `ref` (GET /images/{ref}/get, not our client).
  absl::StatusOr<std::string> SaveImage(const std::string& ref,
                                        const std::string& /*id*/) {
    return testing::RawDockerRequest(
        testing::SharedDockerd()->host(), "GET",
        absl::StrCat(testing::kTestApiPrefix, "/images/", ref, "/get"));
  }

 private:
  std::string image_;
  std::unique_ptr<CurlDockerApi> api_;
};

// FakeDockerApi holding the same image. Its hooks do what the real container
// (`sh -c <script>` as PID 1) does by itself.
class FakeBackend {
 public:
  static constexpr char kName[] = "fake";

  absl::Status Init() {
    fake_ = std::make_unique<FakeDockerApi>(clock_);
    fake_->AddImage(testing::kBusyboxImage, "sha256:" + std::string(64, 'b'));
    return absl::OkStatus();
  }
  DockerApi& api() { return *fake_; }
  std::string image() const { return testing::kBusyboxImage; }

  // sh as PID 1 ignores SIGTERM: stop ends in SIGKILL, exit 137.
  void Created(const std::string& id) {
    EXPECT_TRUE(fake_->SetIgnoresSigtermForTest(id, true).ok());
  }
  // A running process uses CPU and memory and is one pid. The memory limit
  // is left for the fake to report, as dockerd reports the cgroup's.
  void Started(const std::string& id) {
    ContainerStats stats;
    stats.cpu_total_nanos = 1000000;
    stats.memory_usage_bytes = 1 << 20;
    stats.pids_current = 1;
    EXPECT_TRUE(fake_->SetStatsForTest(id, stats).ok());
  }
  void OutputAndExit(const std::string& id, const std::string& out,
                     const std::string& err, int exit_code) {
    using Stream = FakeDockerApi::LogStream;
    EXPECT_TRUE(fake_->AppendLogForTest(id, Stream::kStdout, out).ok());
    EXPECT_TRUE(fake_->AppendLogForTest(id, Stream::kStderr, err).ok());
    EXPECT_TRUE(fake_->ExitForTest(id, exit_code).ok());
  }
  // The fake cannot read archives: any bytes, and the load it must do.
  absl::StatusOr<std::string> SaveImage(const std::string& ref,
                                        const std::string& id) {
    fake_->ExpectLoadForTest({ref}, id);
    return std::string(300 << 10, 'a');
  }

 private:
  FakeClock clock_;
  std::unique_ptr<FakeDockerApi> fake_;
};

class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// ---- Fixture --------------------------------------------------------------

template <typename Backend>
class DockerApiContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = backend_.Init();
    ASSERT_TRUE(s.ok()) << s;
    label_value_ =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override {
    for (const std::string& name : names_) {
      absl::Status s = api().RemoveContainer(name, /*force=*/true);
      EXPECT_TRUE(s.ok() || absl::IsNotFound(s)) << s;
    }
  }

  DockerApi& api() { return backend_.api(); }

  // A spec named nova-ct-<test>-<suffix>, removed after the test, labelled
  // kLabelKey=<test name>, running `sh -c <script>`.
  ContainerSpec Spec(absl::string_view suffix,
                     absl::string_view script = "sleep 1000") {
    ContainerSpec spec;
    spec.name = absl::StrCat("nova-ct-", label_value_, "-", suffix);
    spec.image = backend_.image();
    spec.hostname = "vm-ct";
    spec.cmd = {"sh", "-c", absl::StrCat(script)};
    spec.env = {"NOVADOCK_CONTRACT=1"};
    spec.labels = {{kLabelKey, label_value_},
                   {"novadock.suffix", absl::StrCat(suffix)}};
    spec.memory_bytes = kMemoryBytes;
    spec.memory_swap_bytes = 2 * kMemoryBytes;
    spec.nano_cpus = 500000000;
    spec.cpu_shares = 512;
    spec.pids_limit = 64;
    names_.push_back(spec.name);
    return spec;
  }

  // Creates `spec`; returns its id ("" and a test failure on error).
  std::string MustCreate(const ContainerSpec& spec) {
    absl::StatusOr<std::string> id = api().CreateContainer(spec);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return "";
    backend_.Created(*id);
    return *id;
  }

  std::string StateOf(const std::string& id) {
    absl::StatusOr<ContainerDetails> d = api().InspectContainer(id);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? d->state.status : "";
  }

  // Events of container `id` from its creation on, until `last_action` (the
  // callback then stops the stream) or kWait. Returns the actions in order.
  std::vector<std::string> ActionsUntil(const std::string& id,
                                        absl::string_view last_action) {
    absl::StatusOr<ContainerDetails> d = api().InspectContainer(id);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    absl::Mutex mu;  // Guards `done`.
    bool done = false;
    std::atomic<bool> cancel{false};
    std::thread watchdog([&] {
      absl::MutexLock lock(&mu);
      if (!mu.AwaitWithTimeout(absl::Condition(&done), kWait)) cancel = true;
    });
    std::vector<std::string> actions;
    absl::Status s = api().StreamEvents(
        {{"type", {"container"}}},
        absl::ToUnixNanos(d->created - absl::Seconds(1)),
        [&](const DockerEvent& e) {
          if (e.id != id) return true;
          actions.push_back(e.action);
          return e.action != last_action;
        },
        &cancel);
    {
      absl::MutexLock lock(&mu);
      done = true;
    }
    watchdog.join();
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_FALSE(cancel.load())
        << "no " << last_action << " event in " << kWait;
    return actions;
  }

  Backend backend_;
  std::string label_value_;         // This test's label value.
  std::vector<std::string> names_;  // Containers to remove after the test.
};

using Backends = ::testing::Types<CurlBackend, FakeBackend>;
TYPED_TEST_SUITE(DockerApiContractTest, Backends, BackendNames);

// ---- Cases ----------------------------------------------------------------

TYPED_TEST(DockerApiContractTest, PingVersionInfo) {
  EXPECT_TRUE(this->api().Ping().ok());
  absl::StatusOr<DockerVersion> version = this->api().Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_FALSE(version->version.empty());
  EXPECT_EQ(version->api_version, "1.41");
  absl::StatusOr<DockerInfo> info = this->api().Info();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->ncpu, 0);
  EXPECT_GT(info->mem_total_bytes, 0);
}

TYPED_TEST(DockerApiContractTest, InspectAndTagImage) {
  absl::StatusOr<ImageDetails> image =
      this->api().InspectImage(this->backend_.image());
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_THAT(image->id, HasSubstr("sha256:"));
  EXPECT_THAT(image->repo_tags, Contains(this->backend_.image()));

  EXPECT_THAT(this->api().InspectImage("novadock-missing:1").status(),
              HasCode(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->api().TagImage("novadock-missing:1", "novadock-ct", "x"),
              HasCode(absl::StatusCode::kNotFound));

  ASSERT_TRUE(this->api()
                  .TagImage(this->backend_.image(), "novadock-ct/tagged", "v1")
                  .ok());
  absl::StatusOr<ImageDetails> tagged =
      this->api().InspectImage("novadock-ct/tagged:v1");
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->id, image->id);
}

// Streams `data` in 7000-byte pieces (odd, to cross buffer sizes).
UploadSource SourceOf(const std::string& data, size_t* offset) {
  return [&data, offset](char* buffer,
                         size_t capacity) -> absl::StatusOr<size_t> {
    const size_t n = std::min({capacity, data.size() - *offset, size_t{7000}});
    std::copy_n(data.data() + *offset, n, buffer);
    *offset += n;
    return n;
  };
}

TYPED_TEST(DockerApiContractTest, ListLoadAndRemoveImages) {
  DockerApi& api = this->api();
  absl::StatusOr<ImageDetails> base = api.InspectImage(this->backend_.image());
  ASSERT_TRUE(base.ok()) << base.status();
  absl::StatusOr<std::vector<ImageDetails>> images = api.ListImages();
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_TRUE(std::any_of(images->begin(), images->end(),
                          [&](const auto& i) { return i.id == base->id; }));

  const std::string alias = "novadock-contract:load";
  ASSERT_TRUE(
      api.TagImage(this->backend_.image(), "novadock-contract", "load").ok());
  absl::StatusOr<std::string> archive =
      this->backend_.SaveImage(alias, base->id);
  ASSERT_TRUE(archive.ok()) << archive.status();
  // One of several tags: removing it only untags.
  ASSERT_TRUE(api.RemoveImage(alias, /*force=*/false).ok());
  EXPECT_THAT(api.InspectImage(alias).status(),
              HasCode(absl::StatusCode::kNotFound));
  EXPECT_THAT(api.RemoveImage(alias, false),
              HasCode(absl::StatusCode::kNotFound));

  size_t offset = 0;
  absl::StatusOr<std::vector<std::string>> loaded =
      api.LoadImage(SourceOf(*archive, &offset));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(*loaded, ElementsAre(alias));
  EXPECT_EQ(offset, archive->size());
  absl::StatusOr<ImageDetails> again = api.InspectImage(alias);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id, base->id);
  ASSERT_TRUE(api.RemoveImage(alias, false).ok());
}

TYPED_TEST(DockerApiContractTest, RemovingAnImageInUseIsRefused) {
  absl::StatusOr<ImageDetails> base =
      this->api().InspectImage(this->backend_.image());
  ASSERT_TRUE(base.ok()) << base.status();
  const std::string id = this->MustCreate(this->Spec("user"));
  ASSERT_FALSE(id.empty());
  // By id, the image itself, not one of its tags.
  absl::Status s = this->api().RemoveImage(base->id, /*force=*/false);
  EXPECT_THAT(s, HasCode(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(s.message()), HasSubstr("must be forced"));
}

TYPED_TEST(DockerApiContractTest, LoadOfGarbageIsInvalidArgument) {
  const std::string garbage(5000, 'x');
  size_t offset = 0;
  absl::StatusOr<std::vector<std::string>> loaded =
      this->api().LoadImage(SourceOf(garbage, &offset));
  EXPECT_THAT(loaded.status(), HasCode(absl::StatusCode::kInvalidArgument));
}

TYPED_TEST(DockerApiContractTest, LoadSourceErrorAbortsAndIsReturned) {
  int calls = 0;
  absl::StatusOr<std::vector<std::string>> loaded = this->api().LoadImage(
      [&](char* buffer, size_t capacity) -> absl::StatusOr<size_t> {
        if (++calls > 3) return absl::DataLossError("archive changed on disk");
        std::fill_n(buffer, std::min<size_t>(capacity, 512), '\0');
        return std::min<size_t>(capacity, 512);
      });
  EXPECT_THAT(loaded.status(), HasCode(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("archive changed on disk"));
}

TYPED_TEST(DockerApiContractTest, CommitThenSaveStreamsTheArchive) {
  DockerApi& api = this->api();
  const std::string id =
      this->MustCreate(this->Spec("a", "echo snapshot > /tmp/m; sleep 1000"));
  ASSERT_TRUE(api.StartContainer(id).ok());
  absl::StatusOr<std::string> image_id = api.CommitContainer(
      id, "novadock-ct/commit", "v1", {{"novadock.snapshot-of", "a"}});
  ASSERT_TRUE(image_id.ok()) << image_id.status();
  EXPECT_THAT(*image_id, HasSubstr("sha256:"));
  EXPECT_EQ(this->StateOf(id), "running");  // Paused only during the commit.
  absl::StatusOr<ImageDetails> image =
      api.InspectImage("novadock-ct/commit:v1");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, *image_id);

  int64_t total = 0;
  size_t chunks = 0;
  size_t largest = 0;
  ASSERT_TRUE(api.SaveImage("novadock-ct/commit:v1",
                            [&](absl::string_view chunk) {
                              total += static_cast<int64_t>(chunk.size());
                              largest = std::max(largest, chunk.size());
                              ++chunks;
                              return true;
                            })
                  .ok());
  EXPECT_GT(total, 10 << 10);
  EXPECT_GT(chunks, 1u);
  EXPECT_LE(largest, size_t{1} << 20);  // Streamed, not buffered whole.
  // Returning false stops the transfer; that is OK.
  int calls = 0;
  EXPECT_TRUE(api.SaveImage(*image_id,
                            [&](absl::string_view) {
                              ++calls;
                              return false;
                            })
                  .ok());
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(api.RemoveImage("novadock-ct/commit:v1", /*force=*/false).ok());
}

TYPED_TEST(DockerApiContractTest, CommitAndSaveErrors) {
  DockerApi& api = this->api();
  EXPECT_THAT(api.CommitContainer("nova-ct-missing", "novadock-ct/x", "v1", {})
                  .status(),
              HasCode(absl::StatusCode::kNotFound));
  const std::string id = this->MustCreate(this->Spec("a"));
  // dockerd 20.10 answers 500 to a bad reference; callers validate first.
  EXPECT_THAT(api.CommitContainer(id, "Novadock-CT/Upper", "v1", {}).status(),
              HasCode(absl::StatusCode::kInternal));
  EXPECT_THAT(api.SaveImage("novadock-missing:1",
                            [](absl::string_view) { return true; }),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, CreateNameClashIsAlreadyExists) {
  ContainerSpec spec = this->Spec("a");
  this->MustCreate(spec);
  absl::StatusOr<std::string> again = this->api().CreateContainer(spec);
  EXPECT_THAT(again.status(), HasCode(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(again.status().message(), HasSubstr(spec.name));
}

TYPED_TEST(DockerApiContractTest, CreateMissingImageIsNotFound) {
  ContainerSpec spec = this->Spec("a");
  spec.image = "novadock-missing:1";
  absl::StatusOr<std::string> id = this->api().CreateContainer(spec);
  EXPECT_THAT(id.status(), HasCode(absl::StatusCode::kNotFound));
  EXPECT_THAT(id.status().message(), HasSubstr("novadock-missing"));
}

TYPED_TEST(DockerApiContractTest, CreateBadSpecIsInvalidArgument) {
  ContainerSpec bad_name = this->Spec("a");
  bad_name.name = "nova/ct";
  EXPECT_THAT(this->api().CreateContainer(bad_name).status(),
              HasCode(absl::StatusCode::kInvalidArgument));
  ContainerSpec tiny_memory = this->Spec("b");
  tiny_memory.memory_bytes = 1 << 20;  // dockerd's minimum is 6 MiB.
  tiny_memory.memory_swap_bytes = 0;
  EXPECT_THAT(this->api().CreateContainer(tiny_memory).status(),
              HasCode(absl::StatusCode::kInvalidArgument));
  ContainerSpec many_cpus = this->Spec("c");
  many_cpus.nano_cpus = int64_t{1000} * 1000000000;  // More than the host's.
  EXPECT_THAT(this->api().CreateContainer(many_cpus).status(),
              HasCode(absl::StatusCode::kInvalidArgument));
}

TYPED_TEST(DockerApiContractTest, InspectShowsStateLabelsAndLimits) {
  ContainerSpec spec = this->Spec("a");
  const std::string id = this->MustCreate(spec);
  absl::StatusOr<ContainerDetails> d = this->api().InspectContainer(spec.name);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->id, id);
  EXPECT_EQ(d->name, spec.name);
  EXPECT_EQ(d->hostname, "vm-ct");
  EXPECT_EQ(d->image_id, this->api().InspectImage(spec.image)->id);
  EXPECT_THAT(d->labels, Contains(Pair(kLabelKey, this->label_value_)));
  EXPECT_NE(d->created, absl::InfinitePast());
  EXPECT_EQ(d->state.status, "created");
  EXPECT_FALSE(d->state.running);
  EXPECT_EQ(d->state.pid, 0);
  EXPECT_EQ(d->state.started_at, absl::InfinitePast());
  EXPECT_EQ(d->memory_bytes, kMemoryBytes);
  EXPECT_EQ(d->memory_swap_bytes, 2 * kMemoryBytes);
  EXPECT_EQ(d->nano_cpus, 500000000);
  EXPECT_EQ(d->cpu_shares, 512);
  EXPECT_EQ(d->pids_limit, 64);
  EXPECT_FALSE(d->privileged);
  EXPECT_EQ(d->network_mode, "none");

  ASSERT_TRUE(this->api().StartContainer(id).ok());
  d = this->api().InspectContainer(id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->state.status, "running");
  EXPECT_TRUE(d->state.running);
  EXPECT_GT(d->state.pid, 0);
  EXPECT_NE(d->state.started_at, absl::InfinitePast());

  EXPECT_THAT(this->api().InspectContainer("nova-ct-missing").status(),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, StartTwiceIsOk) {
  const std::string id = this->MustCreate(this->Spec("a"));
  EXPECT_TRUE(this->api().StartContainer(id).ok());
  EXPECT_TRUE(this->api().StartContainer(id).ok());  // 304.
  EXPECT_EQ(this->StateOf(id), "running");
  EXPECT_THAT(this->api().StartContainer("nova-ct-missing"),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, StopIsIdempotent) {
  const std::string id = this->MustCreate(this->Spec("a"));
  EXPECT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  EXPECT_EQ(this->StateOf(id), "created");  // 304: never started.
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  EXPECT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  absl::StatusOr<ContainerDetails> d = this->api().InspectContainer(id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->state.status, "exited");
  EXPECT_FALSE(d->state.running);
  EXPECT_EQ(d->state.exit_code, 137);  // sh as PID 1 ignores SIGTERM.
  EXPECT_NE(d->state.finished_at, absl::InfinitePast());
  EXPECT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  EXPECT_THAT(
      this->api().StopContainer("nova-ct-missing", absl::ZeroDuration()),
      HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, KillNotRunningIsFailedPrecondition) {
  const std::string id = this->MustCreate(this->Spec("a"));
  EXPECT_THAT(this->api().KillContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  EXPECT_TRUE(this->api().KillContainer(id).ok());
  EXPECT_THAT(this->api().KillContainer("nova-ct-missing"),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, PauseUnpause) {
  const std::string id = this->MustCreate(this->Spec("a"));
  EXPECT_THAT(this->api().PauseContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));  // Not running.
  EXPECT_THAT(this->api().UnpauseContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));  // Not paused.
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  EXPECT_THAT(this->api().UnpauseContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(this->api().PauseContainer(id).ok());
  absl::StatusOr<ContainerDetails> d = this->api().InspectContainer(id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->state.status, "paused");
  EXPECT_TRUE(d->state.paused);
  EXPECT_TRUE(d->state.running);  // Docker: a paused container is running.
  EXPECT_THAT(this->api().PauseContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(this->api().StartContainer(id),
              HasCode(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(this->api().UnpauseContainer(id).ok());
  EXPECT_EQ(this->StateOf(id), "running");
  EXPECT_THAT(this->api().PauseContainer("nova-ct-missing"),
              HasCode(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->api().UnpauseContainer("nova-ct-missing"),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, StopOfPausedStops) {
  const std::string id = this->MustCreate(this->Spec("a"));
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  ASSERT_TRUE(this->api().PauseContainer(id).ok());
  EXPECT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  absl::StatusOr<ContainerDetails> d = this->api().InspectContainer(id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->state.status, "exited");
  EXPECT_FALSE(d->state.paused);
}

TYPED_TEST(DockerApiContractTest, RestartRunsAgain) {
  const std::string id = this->MustCreate(this->Spec("a"));
  EXPECT_TRUE(this->api().RestartContainer(id, absl::ZeroDuration()).ok());
  EXPECT_EQ(this->StateOf(id), "running");  // Restart of created starts it.
  EXPECT_TRUE(this->api().RestartContainer(id, absl::ZeroDuration()).ok());
  EXPECT_EQ(this->StateOf(id), "running");
  EXPECT_THAT(
      this->api().RestartContainer("nova-ct-missing", absl::ZeroDuration()),
      HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, ListWithLabelFilter) {
  const std::string a = this->MustCreate(this->Spec("a"));
  const std::string b = this->MustCreate(this->Spec("b"));
  ASSERT_TRUE(this->api().StartContainer(b).ok());

  absl::StatusOr<std::vector<ContainerSummary>> mine =
      this->api().ListContainers(
          {{"label", {absl::StrCat(kLabelKey, "=", this->label_value_)}}});
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 2u);
  for (const ContainerSummary& c : *mine) {
    EXPECT_THAT(c.labels, Contains(Pair(kLabelKey, this->label_value_)));
    EXPECT_EQ(c.image, this->backend_.image());
    EXPECT_NE(c.created, absl::InfinitePast());
    if (c.id == a) {
      EXPECT_EQ(c.state, "created");  // all=1: stopped ones too.
      EXPECT_EQ(c.name, this->names_[0]);
    } else {
      EXPECT_EQ(c.id, b);
      EXPECT_EQ(c.state, "running");
      EXPECT_EQ(c.name, this->names_[1]);
    }
  }

  // Two label filters must both hold.
  absl::StatusOr<std::vector<ContainerSummary>> only_b =
      this->api().ListContainers(
          {{"label",
            {absl::StrCat(kLabelKey, "=", this->label_value_),
             "novadock.suffix=b"}}});
  ASSERT_TRUE(only_b.ok()) << only_b.status();
  ASSERT_EQ(only_b->size(), 1u);
  EXPECT_EQ((*only_b)[0].id, b);

  absl::StatusOr<std::vector<ContainerSummary>> none =
      this->api().ListContainers(
          {{"label", {absl::StrCat(kLabelKey, "=no-such-test")}}});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TYPED_TEST(DockerApiContractTest, LogsDemultiplexStdoutAndStderr) {
  const std::string id = this->MustCreate(
      this->Spec("a", "echo out1; echo err1 >&2; echo out2; exit 3"));
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  this->backend_.OutputAndExit(id, "out1\nout2\n", "err1\n", 3);
  EXPECT_THAT(this->ActionsUntil(id, "die"), Contains("die"));
  absl::StatusOr<ContainerDetails> d = this->api().InspectContainer(id);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->state.status, "exited");
  EXPECT_EQ(d->state.exit_code, 3);

  auto logs = [&](LogsOptions options) {
    std::string all;
    absl::Status s =
        this->api().ContainerLogs(id, options, [&](absl::string_view chunk) {
          all.append(chunk.data(), chunk.size());
          return true;
        });
    EXPECT_TRUE(s.ok()) << s;
    std::vector<std::string> lines = absl::StrSplit(all, '\n');
    return lines;
  };
  // Across streams, order is by write time; compare per stream.
  LogsOptions out_only;
  out_only.stderr_stream = false;
  EXPECT_THAT(logs(out_only), ElementsAre("out1", "out2", ""));
  LogsOptions err_only;
  err_only.stdout_stream = false;
  EXPECT_THAT(logs(err_only), ElementsAre("err1", ""));
  std::vector<std::string> both = logs(LogsOptions());
  std::sort(both.begin(), both.end());
  EXPECT_THAT(both, ElementsAre("", "err1", "out1", "out2"));
  // dockerd applies `tail` to the merged log before choosing streams, and
  // the order of lines across streams is not fixed: count over both.
  LogsOptions tail;
  tail.tail_lines = 0;
  EXPECT_THAT(logs(tail), ElementsAre(""));
  tail.tail_lines = 3;
  std::vector<std::string> last3 = logs(tail);
  std::sort(last3.begin(), last3.end());
  EXPECT_THAT(last3, ElementsAre("", "err1", "out1", "out2"));

  int calls = 0;
  EXPECT_TRUE(this->api()
                  .ContainerLogs(id, LogsOptions(),
                                 [&](absl::string_view) { return ++calls > 5; })
                  .ok());
  EXPECT_EQ(calls, 1);  // Returning false stops the stream.
  EXPECT_THAT(this->api().ContainerLogs("nova-ct-missing", LogsOptions(),
                                        [](absl::string_view) { return true; }),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, Stats) {
  const std::string id = this->MustCreate(this->Spec("a"));
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  this->backend_.Started(id);
  absl::StatusOr<ContainerStats> stats = this->api().ContainerStatsOnce(id);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->memory_limit_bytes, static_cast<uint64_t>(kMemoryBytes));
  EXPECT_GT(stats->memory_usage_bytes, 0u);
  EXPECT_THAT(stats->pids_current, Ge(1u));
  EXPECT_NE(stats->read, absl::InfinitePast());

  // A stopped container has stats of zeros, read "never".
  ASSERT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  stats = this->api().ContainerStatsOnce(id);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->memory_usage_bytes, 0u);
  EXPECT_EQ(stats->pids_current, 0u);
  EXPECT_EQ(stats->read, absl::InfinitePast());
  EXPECT_THAT(this->api().ContainerStatsOnce("nova-ct-missing").status(),
              HasCode(absl::StatusCode::kNotFound));
}

TYPED_TEST(DockerApiContractTest, Remove) {
  const std::string id = this->MustCreate(this->Spec("a"));
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  EXPECT_THAT(this->api().RemoveContainer(id, /*force=*/false),
              HasCode(absl::StatusCode::kFailedPrecondition));  // Running.
  EXPECT_TRUE(this->api().RemoveContainer(id, /*force=*/true).ok());
  EXPECT_THAT(this->api().InspectContainer(id).status(),
              HasCode(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->api().RemoveContainer(id, /*force=*/true),
              HasCode(absl::StatusCode::kNotFound));

  const std::string stopped = this->MustCreate(this->Spec("b"));
  EXPECT_TRUE(this->api().RemoveContainer(stopped, /*force=*/false).ok());
}

TYPED_TEST(DockerApiContractTest, EventsStartDieDestroyThenCancel) {
  const std::string id = this->MustCreate(this->Spec("a"));
  absl::StatusOr<ContainerDetails> created = this->api().InspectContainer(id);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(this->api().StartContainer(id).ok());
  ASSERT_TRUE(this->api().StopContainer(id, absl::ZeroDuration()).ok());
  ASSERT_TRUE(this->api().RemoveContainer(id, /*force=*/false).ok());

  absl::Mutex mu;  // Guards the two below.
  std::vector<DockerEvent> events;
  bool destroyed = false;
  std::atomic<bool> cancel{false};
  absl::Status stream_status = absl::UnknownError("not run");
  std::thread streamer([&] {
    stream_status = this->api().StreamEvents(
        {{"type", {"container"}},
         {"label", {absl::StrCat(kLabelKey, "=", this->label_value_)}}},
        absl::ToUnixNanos(created->created - absl::Seconds(1)),
        [&](const DockerEvent& e) {
          absl::MutexLock lock(&mu);
          events.push_back(e);
          if (e.action == "destroy") destroyed = true;
          return true;
        },
        &cancel);
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&destroyed), kWait));
  }
  // The stream is now idle; cancelling must end it.
  cancel = true;
  streamer.join();
  EXPECT_TRUE(stream_status.ok()) << stream_status;

  absl::MutexLock lock(&mu);
  std::vector<std::string> actions;
  for (const DockerEvent& e : events) {
    EXPECT_EQ(e.type, "container");
    EXPECT_EQ(e.id, id);
    EXPECT_THAT(e.attributes, Contains(Pair(kLabelKey, this->label_value_)));
    EXPECT_THAT(e.attributes, Contains(Pair("name", this->names_[0])));
    EXPECT_GT(e.time_unix_nanos, 0);
    actions.push_back(e.action);
    if (e.action == "die") {
      EXPECT_THAT(e.attributes, Contains(Pair("exitCode", "137")));
    }
  }
  // Docker also sends kill and stop; only the order of these matters.
  std::vector<std::string> key_actions;
  for (const std::string& a : actions) {
    if (a == "create" || a == "start" || a == "die" || a == "destroy") {
      key_actions.push_back(a);
    }
  }
  EXPECT_THAT(key_actions, ElementsAre("create", "start", "die", "destroy"));
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GE(events[i].time_unix_nanos, events[i - 1].time_unix_nanos);
  }
}

TYPED_TEST(DockerApiContractTest, EventsCancelBeforeAnyEvent) {
  std::atomic<bool> cancel{true};
  int calls = 0;
  absl::Status s = this->api().StreamEvents(
      {{"label", {absl::StrCat(kLabelKey, "=no-such-test")}}}, 0,
      [&](const DockerEvent&) { return ++calls > 0; }, &cancel);
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(calls, 0);
}

// ---- CurlDockerApi only: transport failures and options -------------------

TEST(CurlDockerApiTest, CreateRejectsBadOptions) {
  auto create = [](auto edit) {
    CurlDockerApi::Options options;
    edit(options);
    return CurlDockerApi::Create(options).status();
  };
  using O = CurlDockerApi::Options;
  EXPECT_THAT(create([](O& o) { o.host = "http://docker:2375"; }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) { o.host = "tcp://127.0.0.1"; }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) { o.host = "tcp://127.0.0.1:99999"; }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) { o.host = "tcp://10.0.0.1:2376"; }),
              HasCode(absl::StatusCode::kInvalidArgument));  // Needs TLS.
  EXPECT_THAT(create([](O& o) {
                o.host = "tcp://10.0.0.1:2376";
                o.tls_ca_file = "/nonexistent/ca.pem";
                o.tls_cert_file = "/nonexistent/cert.pem";
                o.tls_key_file = "/nonexistent/key.pem";
              }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) {
                o.host = "tcp://10.0.0.1:2376";
                o.tls_ca_file = "/etc/hostname";
              }),
              HasCode(absl::StatusCode::kInvalidArgument));  // Not all three.
  EXPECT_THAT(create([](O& o) { o.tls_ca_file = "/etc/hostname"; }),
              HasCode(absl::StatusCode::kInvalidArgument));  // TLS on unix.
  EXPECT_THAT(create([](O& o) { o.host = "unix://relative.sock"; }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) { o.request_timeout = absl::ZeroDuration(); }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(create([](O& o) { o.api_version = "v1"; }),
              HasCode(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(create([](O& o) { o.host = "tcp://127.0.0.1:2375"; }).ok());
  EXPECT_TRUE(create([](O&) {}).ok());
}

TEST(CurlDockerApiTest, NoDaemonIsUnavailable) {
  CurlDockerApi::Options options;
  options.host = "unix:///nonexistent/novadock/docker.sock";
  absl::StatusOr<std::unique_ptr<CurlDockerApi>> api =
      CurlDockerApi::Create(options);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_THAT((*api)->Ping(), HasCode(absl::StatusCode::kUnavailable));
  std::atomic<bool> cancel{false};
  EXPECT_THAT((*api)->StreamEvents(
                  {}, 0, [](const DockerEvent&) { return true; }, &cancel),
              HasCode(absl::StatusCode::kUnavailable));
}

TEST(CurlDockerApiTest, FixedApiVersionIsUsed) {
  testing::DockerdFixture* dockerd = testing::SharedDockerd();
  ASSERT_NE(dockerd, nullptr);
  CurlDockerApi::Options options;
  options.host = dockerd->host();
  options.api_version = "1.40";
  absl::StatusOr<std::unique_ptr<CurlDockerApi>> api =
      CurlDockerApi::Create(options);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_TRUE((*api)->Ping().ok());
  options.api_version = "1.99";  // dockerd 20.10 refuses newer than 1.41.
  api = CurlDockerApi::Create(options);
  ASSERT_TRUE(api.ok()) << api.status();
  EXPECT_THAT((*api)->Ping(), HasCode(absl::StatusCode::kInvalidArgument));
}

// A dockerd of its own: this test stops, freezes and kills it.
TEST(CurlDockerApiTest, DaemonLossIsUnavailableAndHangIsDeadlineExceeded) {
  DockerdFixture dockerd;
  absl::Status started = dockerd.Start();
  ASSERT_TRUE(started.ok()) << started;
  CurlDockerApi::Options options;
  options.host = dockerd.host();
  options.request_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<CurlDockerApi>> created =
      CurlDockerApi::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  CurlDockerApi& api = **created;
  ASSERT_TRUE(api.Ping().ok());

  // A frozen daemon accepts connections but never answers.
  ASSERT_EQ(kill(dockerd.pid(), SIGSTOP), 0);
  int wait_status = 0;  // dockerd is our child: wait until it has stopped.
  ASSERT_EQ(waitpid(dockerd.pid(), &wait_status, WUNTRACED), dockerd.pid());
  ASSERT_TRUE(WIFSTOPPED(wait_status));
  EXPECT_THAT(api.Ping(), HasCode(absl::StatusCode::kDeadlineExceeded));
  ASSERT_EQ(kill(dockerd.pid(), SIGCONT), 0);
  EXPECT_TRUE(api.Ping().ok());

  // A pooled connection to a daemon that restarted is replaced unnoticed.
  absl::Status restarted = dockerd.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_TRUE(api.Ping().ok());

  // An event stream ends UNAVAILABLE when dockerd dies under it. The import
  // makes an event that a stream from the far past replays, which proves the
  // stream is up before the daemon is killed.
  absl::StatusOr<std::string> image = testing::ImportBusyboxImage(dockerd);
  ASSERT_TRUE(image.ok()) << image.status();
  absl::Mutex mu;  // Guards `subscribed`.
  bool subscribed = false;
  absl::Status stream_status = absl::UnknownError("not run");
  std::atomic<bool> cancel{false};
  std::thread streamer([&] {
    stream_status = api.StreamEvents(
        {}, 1,
        [&](const DockerEvent&) {
          absl::MutexLock lock(&mu);
          subscribed = true;
          return true;
        },
        &cancel);
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&subscribed), kWait));
  }
  absl::Status killed = dockerd.Kill();
  EXPECT_TRUE(killed.ok()) << killed;
  if (!killed.ok()) cancel = true;  // Never leave the thread blocked.
  streamer.join();
  EXPECT_THAT(stream_status, HasCode(absl::StatusCode::kUnavailable));
  EXPECT_THAT(api.Ping(), HasCode(absl::StatusCode::kUnavailable));
  absl::Status stopped = dockerd.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped;
}

}  // namespace
}  // namespace novadock::agent
