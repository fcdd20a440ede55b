// Replays every file under tests/fuzz/<target>/ (the seed corpus and every
// crash a fuzzer found, kept as crash-* once fixed) through its fuzz target
// in an ordinary test binary, so that each build (and the ASan build) checks
// them without libFuzzer. A target aborts on a broken contract; a sanitizer
// stops the binary on a memory or UB error.
#include <dirent.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace novadock::fuzz {
int Archive(const uint8_t* data, size_t size);
int DockerJson(const uint8_t* data, size_t size);
int DockerStream(const uint8_t* data, size_t size);
int DockerHost(const uint8_t* data, size_t size);
int AgentList(const uint8_t* data, size_t size);
int GlanceJson(const uint8_t* data, size_t size);
}  // namespace novadock::fuzz

namespace {

using FuzzFn = int (*)(const uint8_t*, size_t);

// The target of each directory under tests/fuzz.
FuzzFn TargetOf(const std::string& dir) {
  if (dir == "archive") return &novadock::fuzz::Archive;
  if (dir == "docker_json") return &novadock::fuzz::DockerJson;
  if (dir == "docker_stream") return &novadock::fuzz::DockerStream;
  if (dir == "docker_host") return &novadock::fuzz::DockerHost;
  if (dir == "agent_list") return &novadock::fuzz::AgentList;
  if (dir == "glance_json") return &novadock::fuzz::GlanceJson;
  return nullptr;
}

class FuzzReplayTest : public ::testing::TestWithParam<std::string> {};

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    names.push_back(e->d_name);
  }
  closedir(d);
  return names;
}

TEST_P(FuzzReplayTest, EveryKeptInputPasses) {
  const FuzzFn fn = TargetOf(GetParam());
  ASSERT_NE(fn, nullptr) << GetParam();
  const std::string dir = absl::StrCat(NOVADOCK_FUZZ_DIR, "/", GetParam());
  const std::vector<std::string> names = Files(dir);
  ASSERT_FALSE(names.empty()) << "no seeds in " << dir;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::ifstream in(absl::StrCat(dir, "/", name), std::ios::binary);
    ASSERT_TRUE(in) << name;
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    // A copy of exactly the file's size, as libFuzzer passes it, so that
    // ASan sees any read past the end.
    std::vector<uint8_t> data(bytes.begin(), bytes.end());
    EXPECT_EQ(fn(data.data(), data.size()), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplayTest,
                         ::testing::Values("archive", "docker_json",
                                           "docker_stream", "docker_host",
                                           "agent_list", "glance_json"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
