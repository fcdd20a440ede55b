// OrphanReaper and InstanceRunner's orphan rules over the stateful
// FakeDockerApi and a FakeClock: an orphan is made the way production makes
// one (start fails because dockerd went away, and so does the removal).
#include "agent/orphan_reaper.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/container_labels.h"
#include "agent/fake_docker_api.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"

namespace novadock::agent {
namespace {

constexpr char kNode[] = "compute-docker-1";
constexpr char kUuid[] = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b";
constexpr char kOtherUuid[] = "0b7d3f2a-1c9e-4e52-9a1f-2c3d4e5f6a7c";
constexpr char kImageId[] = "sha256:1111111111111111";

// Resolves every image to kImageId.
class FixedResolver final : public ImageResolver {
 public:
  absl::StatusOr<std::string> Resolve(const ImageSpec&) override {
    return std::string(kImageId);
  }
};

class OrphanReaperTest : public ::testing::Test {
 protected:
  OrphanReaperTest() : runner_(docker_, resolver_, clock_, Options()) {
    DockerInfo info;
    info.ncpu = 2;
    info.mem_total_bytes = int64_t{8} << 30;
    docker_.SetInfoForTest(info);
    docker_.AddImage("busybox:latest", kImageId);
  }

  ~OrphanReaperTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(Options().config_drive_dir, ignored);
  }

  static RunnerOptions Options() {
    RunnerOptions o;
    o.node_name = kNode;
    o.config_drive_dir =
        absl::StrCat(::testing::TempDir(), "/nd-reaper-", getpid(), "-drives");
    return o;
  }

  static InstanceSpec Spec(const std::string& uuid, bool start = true) {
    InstanceSpec s;
    s.uuid = uuid;
    s.name = "instance-1";
    s.image.name = "busybox";
    s.flavor = {"m1.tiny", 64, 1, 0};
    s.start = start;
    return s;
  }

  // A create interrupted between Docker's create and start: the start and
  // the clean-up removal both find dockerd gone.
  void MakeOrphan(const std::string& uuid, InstanceSpec spec = {}) {
    if (spec.uuid.empty()) spec = Spec(uuid);
    docker_.InjectError("StartContainer",
                        absl::UnavailableError("dockerd went away"));
    docker_.InjectError("RemoveContainer",
                        absl::UnavailableError("dockerd went away"));
    EXPECT_TRUE(absl::IsUnavailable(runner_.Create(spec).status()));
  }

  const InstanceView* Listed(const std::vector<InstanceView>& list,
                             const std::string& uuid) {
    for (const InstanceView& v : list) {
      if (v.uuid == uuid) return &v;
    }
    return nullptr;
  }

  FakeClock clock_;
  FakeDockerApi docker_{clock_};
  FixedResolver resolver_;
  InstanceRunner runner_;
};

TEST_F(OrphanReaperTest, InterruptedCreateIsListedAsOrphan) {
  MakeOrphan(kUuid);
  auto list = runner_.List();
  ASSERT_TRUE(list.ok()) << list.status();
  const InstanceView* v = Listed(*list, kUuid);
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(v->orphan);
  EXPECT_EQ(v->container.state.status, "created");
  auto got = runner_.Get(kUuid);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->orphan);
}

TEST_F(OrphanReaperTest, NoStartAndRunningInstancesAreNotOrphans) {
  ASSERT_TRUE(runner_.Create(Spec(kUuid, /*start=*/false)).ok());
  ASSERT_TRUE(runner_.Create(Spec(kOtherUuid)).ok());
  clock_.Advance(absl::Hours(24));
  auto list = runner_.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  for (const InstanceView& v : *list) EXPECT_FALSE(v.orphan) << v.uuid;
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  auto reaped = reaper.ReapOnce();
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0);
  EXPECT_EQ(runner_.List()->size(), 2u);
}

TEST_F(OrphanReaperTest, OrphanIsRemovedOnlyAfterTheGracePeriod) {
  MakeOrphan(kUuid);
  ASSERT_TRUE(runner_.Create(Spec(kOtherUuid)).ok());
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  clock_.Advance(absl::Minutes(14));
  auto reaped = reaper.ReapOnce();
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0);
  ASSERT_NE(Listed(*runner_.List(), kUuid), nullptr);

  clock_.Advance(absl::Minutes(2));
  reaped = reaper.ReapOnce();
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  auto list = runner_.List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(Listed(*list, kUuid), nullptr);
  EXPECT_NE(Listed(*list, kOtherUuid), nullptr);  // A real instance stays.
}

TEST_F(OrphanReaperTest, ReapingRemovesTheOrphansConfigDrive) {
  InstanceSpec spec = Spec(kUuid);
  spec.config_drive = {{"openstack/latest/meta_data.json", "{}"}};
  MakeOrphan(kUuid, spec);
  const std::string drive =
      absl::StrCat(Options().config_drive_dir, "/", kUuid);
  ASSERT_TRUE(std::filesystem::exists(drive));  // Kept for a retry.
  clock_.Advance(absl::Hours(1));
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  EXPECT_EQ(*reaper.ReapOnce(), 1);
  EXPECT_FALSE(std::filesystem::exists(drive));
}

TEST_F(OrphanReaperTest, RetriedCreateStartsTheOrphanInsteadOfReaping) {
  MakeOrphan(kUuid);
  auto created = runner_.Create(Spec(kUuid));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->container.state.status, "running");
  EXPECT_FALSE(created->orphan);
  clock_.Advance(absl::Hours(1));
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  EXPECT_EQ(*reaper.ReapOnce(), 0);
  EXPECT_NE(Listed(*runner_.List(), kUuid), nullptr);
}

TEST_F(OrphanReaperTest, ZeroGraceNeverReaps) {
  MakeOrphan(kUuid);
  clock_.Advance(absl::Hours(24));
  OrphanReaper reaper(runner_, clock_,
                      {absl::ZeroDuration(), absl::Minutes(1)});
  EXPECT_EQ(*reaper.ReapOnce(), 0);
  EXPECT_NE(Listed(*runner_.List(), kUuid), nullptr);
}

TEST_F(OrphanReaperTest, DockerDownIsReportedAndRetriedNextPass) {
  MakeOrphan(kUuid);
  clock_.Advance(absl::Hours(1));
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  docker_.SetDownForTest(true);
  EXPECT_TRUE(absl::IsUnavailable(reaper.ReapOnce().status()));
  docker_.SetDownForTest(false);
  EXPECT_EQ(*reaper.ReapOnce(), 1);
}

TEST_F(OrphanReaperTest, PeriodicThreadReapsAsTheClockAdvances) {
  MakeOrphan(kUuid);
  OrphanReaper reaper(runner_, clock_, {absl::Minutes(15), absl::Minutes(1)});
  reaper.Start();
  clock_.Advance(absl::Minutes(16));  // Past the grace period.
  // Each further minute ends one of the thread's waits, whenever it began;
  // the thread then reaps within real milliseconds. Bounded.
  for (int i = 0; i < 2000 && Listed(*runner_.List(), kUuid) != nullptr; ++i) {
    clock_.Advance(absl::Minutes(1));
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(Listed(*runner_.List(), kUuid), nullptr);
}

TEST_F(OrphanReaperTest, CreatesInProgressAreListedAndNotOrphans) {
  EXPECT_TRUE(runner_.CreatesInProgress().empty());
  MakeOrphan(kUuid);
  EXPECT_TRUE(runner_.CreatesInProgress().empty());
}

}  // namespace
}  // namespace novadock::agent
