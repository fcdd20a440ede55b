// Tests the private-dockerd fixture itself: start, offline image import, crash
// and restart, and a clean stop that leaves no process, mount or directory.
#include "tests/dockerd_fixture.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/test_image.h"

namespace novadock::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Pids whose command line mentions `needle`.
std::vector<int> PidsMentioning(const std::string& needle) {
  std::vector<int> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (proc == nullptr) return pids;
  for (const dirent* e = readdir(proc.get()); e != nullptr;
       e = readdir(proc.get())) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (absl::StrContains(cmdline, needle)) pids.push_back(pid);
  }
  return pids;
}

bool ProcessAlive(int pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() &&
         stat[paren + 2] != 'Z';
}

// Creates and starts `name` running `sleep 1000`; returns its pid.
int RunSleeper(const DockerdFixture& d, const std::string& image,
               const std::string& name) {
  absl::StatusOr<std::string> created = RawDockerRequest(
      d.host(), "POST",
      absl::StrCat(kTestApiPrefix, "/containers/create?name=", name),
      absl::StrCat(R"({"Image":")", image,
                   R"(","Cmd":["sleep","1000"],"StopTimeout":1,)"
                   R"("HostConfig":{"NetworkMode":"none"}})"));
  EXPECT_TRUE(created.ok()) << created.status();
  absl::StatusOr<std::string> started = RawDockerRequest(
      d.host(), "POST",
      absl::StrCat(kTestApiPrefix, "/containers/", name, "/start"));
  EXPECT_TRUE(started.ok()) << started.status();
  absl::StatusOr<std::string> inspect = RawDockerRequest(
      d.host(), "GET",
      absl::StrCat(kTestApiPrefix, "/containers/", name, "/json"));
  if (!inspect.ok()) {
    ADD_FAILURE() << inspect.status();
    return 0;
  }
  rapidjson::Document doc;
  doc.Parse(inspect->c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("State") ||
      !doc["State"].IsObject() || !doc["State"].HasMember("Pid") ||
      !doc["State"]["Pid"].IsInt()) {
    ADD_FAILURE() << "bad inspect: " << *inspect;
    return 0;
  }
  EXPECT_TRUE(doc["State"]["Running"].IsBool() &&
              doc["State"]["Running"].GetBool());
  return doc["State"]["Pid"].GetInt();
}

TEST(DockerdFixtureTest, StartsCrashesRestartsAndCleansUp) {
  DockerdFixture d;
  ASSERT_TRUE(d.Start().ok());
  const std::string dir = d.dir();
  EXPECT_LE(d.socket_path().size(), 30u) << d.socket_path();
  EXPECT_EQ(d.host(), "unix://" + d.socket_path());
  EXPECT_EQ(*RawDockerRequest(d.host(), "GET", "/_ping"), "OK");

  absl::StatusOr<std::string> image = ImportBusyboxImage(d);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(*image, kBusyboxImage);
  absl::StatusOr<std::string> again = ImportBusyboxImage(d);  // Idempotent.
  ASSERT_TRUE(again.ok()) << again.status();

  EXPECT_GT(RunSleeper(d, *image, "fixture-a"), 0);

  // A crash: dockerd is gone, its socket answers nothing.
  ASSERT_TRUE(d.Kill().ok());
  EXPECT_EQ(d.pid(), 0);
  absl::StatusOr<RawDockerResponse> dead =
      RawDockerExchange(d.host(), "GET", "/_ping");
  EXPECT_FALSE(dead.ok());

  absl::Status restarted = d.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_TRUE(RawDockerRequest(d.host(), "GET",
                               absl::StrCat(kTestApiPrefix, "/images/",
                                            kBusyboxImage, "/json"))
                  .ok());
  EXPECT_TRUE(RawDockerRequest(
                  d.host(), "GET",
                  absl::StrCat(kTestApiPrefix, "/containers/fixture-a/json"))
                  .ok());

  // A graceful restart keeps them too.
  ASSERT_TRUE(d.Restart().ok());
  EXPECT_TRUE(RawDockerRequest(
                  d.host(), "GET",
                  absl::StrCat(kTestApiPrefix, "/containers/fixture-a/json"))
                  .ok());

  // Leave a running and a paused (frozen) container behind a crashed dockerd:
  // Stop() must still clean everything.
  const int running_pid = RunSleeper(d, *image, "fixture-b");
  const int paused_pid = RunSleeper(d, *image, "fixture-c");
  ASSERT_TRUE(RawDockerRequest(
                  d.host(), "POST",
                  absl::StrCat(kTestApiPrefix, "/containers/fixture-c/pause"))
                  .ok());
  ASSERT_TRUE(d.Kill().ok());
  EXPECT_FALSE(PidsMentioning(dir + "/").empty());  // containerd, shims.

  absl::Status stopped = d.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped;
  struct stat st;
  EXPECT_NE(lstat(dir.c_str(), &st), 0) << dir << " still exists";
  EXPECT_THAT(PidsMentioning(dir + "/"), ::testing::IsEmpty());
  EXPECT_FALSE(ProcessAlive(running_pid));
  EXPECT_FALSE(ProcessAlive(paused_pid));
  EXPECT_FALSE(absl::StrContains(ReadFile("/proc/self/mountinfo"), dir));
  EXPECT_TRUE(d.dir().empty());
  EXPECT_TRUE(d.Stop().ok());  // Idempotent.
}

TEST(DockerdFixtureTest, RawRequestMapsHttpErrors) {
  DockerdFixture* d = SharedDockerd();
  ASSERT_NE(d, nullptr);
  absl::StatusOr<std::string> missing = RawDockerRequest(
      d->host(), "GET",
      absl::StrCat(kTestApiPrefix, "/containers/no-such-container/json"));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_THAT(std::string(missing.status().message()),
              ::testing::HasSubstr("HTTP 404"));
  absl::StatusOr<std::string> bad_host =
      RawDockerRequest("tcp://127.0.0.1:1", "GET", "/_ping");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_host.status()));
  absl::StatusOr<std::string> no_daemon =
      RawDockerRequest("unix:///nonexistent.sock", "GET", "/_ping");
  EXPECT_TRUE(absl::IsUnavailable(no_daemon.status())) << no_daemon.status();
}

TEST(DockerdFixtureTest, SharedDockerdIsStartedOnce) {
  DockerdFixture* first = SharedDockerd();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(SharedDockerd(), first);
  EXPECT_EQ(*RawDockerRequest(first->host(), "GET", "/_ping"), "OK");
}

TEST(TestImageTest, RejectsNamesThatNeedEscaping) {
  DockerdFixture* d = SharedDockerd();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(
      absl::IsInvalidArgument(ImportBusyboxImage(*d, "Bad Name:x").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(ImportBusyboxImage(*d, "ok:bad&tag").status()));
}

TEST(TestImageTest, ImportedImageRuns) {
  DockerdFixture* d = SharedDockerd();
  ASSERT_NE(d, nullptr);
  absl::StatusOr<std::string> image = ImportBusyboxImage(*d, "nd-test/bb:v1");
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_TRUE(
      RawDockerRequest(
          d->host(), "POST",
          absl::StrCat(kTestApiPrefix, "/containers/create?name=echo"),
          R"({"Image":"nd-test/bb:v1","Cmd":["sh","-c","echo hi; cat /etc/passwd; ls /tmp"]})")
          .ok());
  ASSERT_TRUE(
      RawDockerRequest(d->host(), "POST",
                       absl::StrCat(kTestApiPrefix, "/containers/echo/start"))
          .ok());
  absl::StatusOr<std::string> waited = RawDockerRequest(
      d->host(), "POST", absl::StrCat(kTestApiPrefix, "/containers/echo/wait"));
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_THAT(*waited, ::testing::HasSubstr(R"("StatusCode":0)"));
  absl::StatusOr<std::string> logs = RawDockerRequest(
      d->host(), "GET",
      absl::StrCat(kTestApiPrefix, "/containers/echo/logs?stdout=1"));
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_THAT(*logs, ::testing::HasSubstr("hi\n"));
  EXPECT_THAT(*logs, ::testing::HasSubstr("root:x:0:0"));
}

}  // namespace
}  // namespace novadock::testing
