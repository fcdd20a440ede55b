#include "agent/config_drive.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kUuid[] = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(fs::relative(e.path(), dir).string());
  }
  return out;
}

class ConfigDriveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(
        ::testing::TempDir(), "/nd-config-", getpid(), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
};

TEST_F(ConfigDriveTest, WritesTheLayoutWithModesTheContainerCanRead) {
  ConfigDriveStore store(root_);
  const std::string binary("\x00\xff\x01", 3);
  auto dir = store.Write(kUuid, {{"openstack/latest/meta_data.json", "{}"},
                                 {"openstack/latest/user_data", "#!/bin/sh"},
                                 {"openstack/content/0000", binary}});
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(*dir, absl::StrCat(root_, "/", kUuid));
  EXPECT_EQ(Slurp(*dir + "/openstack/latest/meta_data.json"), "{}");
  EXPECT_EQ(Slurp(*dir + "/openstack/content/0000"), binary);
  // Nothing else: no staging directory left behind.
  EXPECT_THAT(Entries(root_),
              UnorderedElementsAre(
                  kUuid, absl::StrCat(kUuid, "/openstack"),
                  absl::StrCat(kUuid, "/openstack/latest"),
                  absl::StrCat(kUuid, "/openstack/content"),
                  absl::StrCat(kUuid, "/openstack/latest/meta_data.json"),
                  absl::StrCat(kUuid, "/openstack/latest/user_data"),
                  absl::StrCat(kUuid, "/openstack/content/0000")));
  EXPECT_EQ(ModeOf(root_), 0700u);  // Other users of the node: no entry.
  EXPECT_EQ(ModeOf(*dir), 0755u);
  EXPECT_EQ(ModeOf(*dir + "/openstack/latest"), 0755u);
  EXPECT_EQ(ModeOf(*dir + "/openstack/latest/user_data"), 0644u);
}

TEST_F(ConfigDriveTest, UmaskDoesNotNarrowModes) {
  const mode_t old = umask(077);
  ConfigDriveStore store(root_);
  auto dir = store.Write(kUuid, {{"a/b", "x"}});
  umask(old);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(ModeOf(*dir + "/a"), 0755u);
  EXPECT_EQ(ModeOf(*dir + "/a/b"), 0644u);
}

TEST_F(ConfigDriveTest, RewriteReplacesTheWholeDrive) {
  ConfigDriveStore store(root_);
  ASSERT_TRUE(store.Write(kUuid, {{"old", "1"}, {"keep", "1"}}).ok());
  auto dir = store.Write(kUuid, {{"keep", "2"}});
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_THAT(Entries(*dir), UnorderedElementsAre("keep"));
  EXPECT_EQ(Slurp(*dir + "/keep"), "2");
}

TEST_F(ConfigDriveTest, RemoveIsIdempotentAndLeavesOthers) {
  ConfigDriveStore store(root_);
  const std::string other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
  ASSERT_TRUE(store.Write(kUuid, {{"f", "x"}}).ok());
  ASSERT_TRUE(store.Write(other, {{"f", "y"}}).ok());
  EXPECT_TRUE(store.Remove(kUuid).ok());
  EXPECT_TRUE(store.Remove(kUuid).ok());
  EXPECT_FALSE(fs::exists(store.PathFor(kUuid)));
  EXPECT_EQ(Slurp(store.PathFor(other) + "/f"), "y");
}

TEST_F(ConfigDriveTest, UnwritableRootIsANamedError) {
  fs::create_directories(root_);
  const std::string file = root_ + "/not-a-dir";
  std::ofstream(file) << "x";
  ConfigDriveStore store(file);
  auto dir = store.Write(kUuid, {{"f", "x"}});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(dir.status().message(), HasSubstr(file));
}

}  // namespace
}  // namespace novadock::agent
