#include "glance-loader/glance_fetcher.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glance-loader/fake_glance_client.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::loader {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kId[] = "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b";
constexpr char kOtherId[] = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
constexpr absl::Duration kWait = absl::Seconds(10);

std::string TestData(size_t n, int seed = 1) {
  std::string data(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    data[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) >> 3);
  }
  return data;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  return remove(path);
}

class GlanceFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string tmpl = absl::StrCat(tmp != nullptr ? tmp : "/tmp",
                                    "/glance_fetcher_test.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    options_.image_dir = dir_;
  }
  void TearDown() override {
    nftw(dir_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  }

  // Sorted names in the image directory, dot files included.
  std::vector<std::string> DirEntries() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  FetcherOptions options_;
  FakeGlanceClient glance_;
};

TEST_F(GlanceFetcherTest, DownloadsVerifiesAndWritesSidecar) {
  const std::string data = TestData(1 << 20);
  glance_.AddActiveImage(kId, data);
  glance_.SetChunkBytes(10000);  // Chunks that do not divide the size.
  GlanceFetcher fetcher(glance_, options_);
  absl::StatusOr<std::string> path = fetcher.Fetch(kId, "tok");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, absl::StrCat(dir_, "/", kId, ".tar"));
  EXPECT_EQ(ReadFile(*path), data);
  EXPECT_EQ(ReadFile(*path + ".sha256"),
            absl::StrCat(*HexDigest(HashAlgorithm::kSha256, data), "  ", kId,
                         ".tar\n"));
  EXPECT_THAT(DirEntries(), ElementsAre(absl::StrCat(kId, ".tar"),
                                        absl::StrCat(kId, ".tar.sha256")));
  struct stat st;
  ASSERT_EQ(stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u) << std::oct << st.st_mode;
  EXPECT_THAT(glance_.tokens(), ElementsAre("tok", "tok"));
}

TEST_F(GlanceFetcherTest, ExistingArchiveIsReusedWithoutAskingGlance) {
  const std::string path = absl::StrCat(dir_, "/", kId, ".tar");
  std::ofstream(path) << "already here";
  GlanceFetcher fetcher(glance_, options_);
  absl::StatusOr<std::string> got = fetcher.Fetch(kId, "");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, path);
  EXPECT_EQ(glance_.get_image_calls(), 0);
  EXPECT_EQ(glance_.download_calls(), 0);
}

TEST_F(GlanceFetcherTest, SecondFetchReusesTheDownload) {
  glance_.AddActiveImage(kId, TestData(1000));
  GlanceFetcher fetcher(glance_, options_);
  ASSERT_TRUE(fetcher.Fetch(kId, "").ok());
  ASSERT_TRUE(fetcher.Fetch(kId, "").ok());
  EXPECT_EQ(glance_.download_calls(), 1);
}

TEST_F(GlanceFetcherTest, BadIdIsInvalidArgument) {
  GlanceFetcher fetcher(glance_, options_);
  for (const char* bad : {"", "../x", "6F1E2D3C-4B5A-4978-8A9B-0C1D2E3F4A5B",
                          "6f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b.tar"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(fetcher.Fetch(bad, "").status()))
        << bad;
  }
  EXPECT_EQ(glance_.get_image_calls(), 0);
}

TEST_F(GlanceFetcherTest, Sha512MismatchLeavesNothing) {
  const std::string data = TestData(5000);
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, data);
  record.checksum.clear();  // Only os_hash to check.
  std::string tampered = data;
  tampered[4000] ^= 1;
  glance_.PutImage(record, tampered);
  GlanceFetcher fetcher(glance_, options_);
  const absl::Status s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(s.message(),
            absl::StrCat("glance image ", kId,
                         ": sha512 checksum mismatch: expected ",
                         record.os_hash_value, ", got ",
                         *HexDigest(HashAlgorithm::kSha512, tampered)));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, Md5MismatchLeavesNothing) {
  const std::string data = TestData(5000);
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, data);
  record.checksum = std::string(32, '0');
  glance_.PutImage(record, data);
  GlanceFetcher fetcher(glance_, options_);
  const absl::Status s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("md5 checksum mismatch"));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, VerifiesTheOsHashAlgoGlanceNames) {
  const std::string data = TestData(3000);
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, data);
  record.os_hash_algo = "sha256";
  record.os_hash_value = *HexDigest(HashAlgorithm::kSha256, data);
  glance_.PutImage(record, data);
  GlanceFetcher fetcher(glance_, options_);
  EXPECT_TRUE(fetcher.Fetch(kId, "").ok());

  record.id = kOtherId;
  record.os_hash_algo = "sha384";  // Not one we compute.
  glance_.PutImage(record, data);
  const absl::Status s = fetcher.Fetch(kOtherId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("os_hash_algo"));
  EXPECT_EQ(glance_.download_calls(), 1);
}

TEST_F(GlanceFetcherTest, RefusesImagesWithoutAnyChecksum) {
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, "x");
  record.checksum.clear();
  record.os_hash_algo.clear();
  record.os_hash_value.clear();
  glance_.PutImage(record, "x");
  GlanceFetcher fetcher(glance_, options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(fetcher.Fetch(kId, "").status()));
  EXPECT_EQ(glance_.download_calls(), 0);
}

TEST_F(GlanceFetcherTest, ShortDownloadLeavesNothing) {
  glance_.AddActiveImage(kId, TestData(100000));
  glance_.TruncateDownload(kId, 60000);
  GlanceFetcher fetcher(glance_, options_);
  const absl::Status s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("short download: got 60000 of 100000"));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, MoreDataThanDeclaredIsRefused) {
  const std::string data = TestData(1000);
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, data);
  record.size_bytes = 999;
  glance_.PutImage(record, data);
  GlanceFetcher fetcher(glance_, options_);
  const absl::Status s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("declared 999 bytes"));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, SizeLimit) {
  const std::string data = TestData(2000);
  glance_.AddActiveImage(kId, data);
  options_.max_bytes = 1000;
  GlanceFetcher fetcher(glance_, options_);
  EXPECT_TRUE(absl::IsResourceExhausted(fetcher.Fetch(kId, "").status()));
  EXPECT_EQ(glance_.download_calls(), 0);
  // Size unknown to Glance: the stream itself is cut at the limit.
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kOtherId, data);
  record.size_bytes = -1;
  glance_.PutImage(record, data);
  EXPECT_TRUE(absl::IsResourceExhausted(fetcher.Fetch(kOtherId, "").status()));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, RefusesInactiveAndNonDockerImages) {
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, "x");
  record.status = "queued";
  glance_.PutImage(record, "x");
  GlanceFetcher fetcher(glance_, options_);
  absl::Status s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("status is \"queued\""));

  record.status = "active";
  record.container_format = "bare";
  glance_.PutImage(record, "x");
  s = fetcher.Fetch(kId, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("container_format is \"bare\", not "
                                     "\"docker\""));
  EXPECT_EQ(glance_.download_calls(), 0);
}

TEST_F(GlanceFetcherTest, GlanceErrorsPassThroughAndAreNotCached) {
  GlanceFetcher fetcher(glance_, options_);
  EXPECT_TRUE(absl::IsNotFound(fetcher.Fetch(kId, "").status()));
  glance_.AddActiveImage(kId, TestData(100));
  glance_.InjectError(FakeGlanceClient::Op::kDownload,
                      absl::UnavailableError("glance down"));
  EXPECT_EQ(fetcher.Fetch(kId, "").status(),
            absl::UnavailableError("glance down"));
  EXPECT_THAT(DirEntries(), IsEmpty());
  glance_.InjectError(FakeGlanceClient::Op::kDownload, absl::OkStatus());
  EXPECT_TRUE(fetcher.Fetch(kId, "").ok());
}

TEST_F(GlanceFetcherTest, StaleSidecarIsReplaced) {
  const std::string data = TestData(100);
  glance_.AddActiveImage(kId, data);
  std::ofstream(absl::StrCat(dir_, "/", kId, ".tar.sha256")) << "stale\n";
  GlanceFetcher fetcher(glance_, options_);
  absl::StatusOr<std::string> path = fetcher.Fetch(kId, "");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_THAT(ReadFile(*path + ".sha256"),
              HasSubstr(*HexDigest(HashAlgorithm::kSha256, data)));
}

TEST_F(GlanceFetcherTest, NonRegularArchivePathIsFailedPrecondition) {
  ASSERT_EQ(mkdir(absl::StrCat(dir_, "/", kId, ".tar").c_str(), 0755), 0);
  GlanceFetcher fetcher(glance_, options_);
  EXPECT_TRUE(absl::IsFailedPrecondition(fetcher.Fetch(kId, "").status()));
}

// Runs `n` Fetch(id) calls on threads while downloads are held; returns once
// one download started and the n-1 others wait for it, then releases.
std::vector<absl::StatusOr<std::string>> ConcurrentFetches(
    GlanceFetcher& fetcher, FakeGlanceClient& glance, const char* id, int n) {
  std::vector<absl::StatusOr<std::string>> results(
      n, absl::UnknownError("not run"));
  glance.HoldDownloads();
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { results[i] = fetcher.Fetch(id, ""); });
  }
  EXPECT_TRUE(glance.AwaitDownloadCalls(1, kWait));
  EXPECT_TRUE(fetcher.AwaitWaitersForTest(id, n - 1, kWait));
  glance.ReleaseDownloads();
  for (std::thread& t : threads) t.join();
  return results;
}

TEST_F(GlanceFetcherTest, ConcurrentFetchesOfOneIdDownloadOnce) {
  const std::string data = TestData(300000);
  glance_.AddActiveImage(kId, data);
  GlanceFetcher fetcher(glance_, options_);
  for (const auto& r : ConcurrentFetches(fetcher, glance_, kId, 8)) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, fetcher.ArchivePath(kId));
  }
  EXPECT_EQ(glance_.download_calls(), 1);
  EXPECT_EQ(glance_.get_image_calls(), 1);
  EXPECT_EQ(ReadFile(fetcher.ArchivePath(kId)), data);
}

TEST_F(GlanceFetcherTest, ConcurrentFetchesShareAnError) {
  const std::string data = TestData(1000);
  GlanceImage record = FakeGlanceClient::ActiveImageFor(kId, data);
  record.os_hash_value = std::string(128, 'a');
  glance_.PutImage(record, data);
  GlanceFetcher fetcher(glance_, options_);
  for (const auto& r : ConcurrentFetches(fetcher, glance_, kId, 8)) {
    EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  }
  EXPECT_EQ(glance_.download_calls(), 1);
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceFetcherTest, DifferentIdsDownloadInParallel) {
  glance_.AddActiveImage(kId, TestData(1000, 1));
  glance_.AddActiveImage(kOtherId, TestData(1000, 2));
  GlanceFetcher fetcher(glance_, options_);
  glance_.HoldDownloads();
  absl::StatusOr<std::string> a, b;
  std::thread ta([&] { a = fetcher.Fetch(kId, ""); });
  std::thread tb([&] { b = fetcher.Fetch(kOtherId, ""); });
  // Both downloads are under way at once.
  EXPECT_TRUE(glance_.AwaitDownloadCalls(2, kWait));
  glance_.ReleaseDownloads();
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(ReadFile(fetcher.ArchivePath(kOtherId)), TestData(1000, 2));
}

}  // namespace
}  // namespace novadock::loader
