// CurlGlanceClient and GlanceFetcher against a real glance-api (Debian, Zed,
// noauth) started by GlanceFixture on loopback.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glance-loader/glance_client.h"
#include "glance-loader/glance_fetcher.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"
#include "tests/glance_fixture.h"

namespace novadock::testing {
namespace {

using ::novadock::loader::CurlGlanceClient;
using ::novadock::loader::DownloadSink;
using ::novadock::loader::FetcherOptions;
using ::novadock::loader::GlanceClient;
using ::novadock::loader::GlanceFetcher;
using ::novadock::loader::GlanceImage;
using ::novadock::loader::HashAlgorithm;
using ::novadock::loader::HexDigest;
using ::novadock::loader::UploadReader;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr size_t kImageBytes = 3 << 20;
constexpr char kMissingId[] = "00000000-1111-4222-8333-444444444444";

// Deterministic bytes that do not compress or repeat (xorshift).
std::string GeneratedData(size_t n, uint64_t seed) {
  std::string data(n, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = static_cast<char>(x);
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

// Passes calls through, counting downloads; `before_download` runs first.
class CountingGlanceClient final : public GlanceClient {
 public:
  explicit CountingGlanceClient(GlanceClient& inner) : inner_(inner) {}
  absl::StatusOr<GlanceImage> GetImage(absl::string_view id,
                                       absl::string_view token) override {
    return inner_.GetImage(id, token);
  }
  absl::Status Download(absl::string_view id, absl::string_view token,
                        const DownloadSink& sink) override {
    ++downloads;
    if (before_download) before_download();
    return inner_.Download(id, token, sink);
  }
  absl::Status Upload(absl::string_view id, absl::string_view token,
                      const UploadReader& reader, int64_t size_bytes) override {
    return inner_.Upload(id, token, reader, size_bytes);
  }
  std::atomic<int> downloads{0};
  std::function<void()> before_download;

 private:
  GlanceClient& inner_;
};

std::unique_ptr<CurlGlanceClient> ClientFor(const std::string& endpoint) {
  CurlGlanceClient::Options options;
  options.endpoint = endpoint;
  absl::StatusOr<std::unique_ptr<CurlGlanceClient>> client =
      CurlGlanceClient::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

class GlanceIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    glance_ = SharedGlance();
    ASSERT_NE(glance_, nullptr);
    client_ = ClientFor(glance_->endpoint());
    ASSERT_NE(client_, nullptr);
    std::string tmpl = "/tmp/ngi.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      nftw(dir_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
    }
  }

  // Creates and uploads an image; returns its id.
  std::string AddImage(const std::string& data,
                       absl::string_view container_format = "docker") {
    absl::StatusOr<std::string> id =
        glance_->CreateImage("novadock-test", container_format, "raw");
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return "";
    const absl::Status s = glance_->UploadImage(*id, data);
    EXPECT_TRUE(s.ok()) << s;
    return *id;
  }

  std::vector<std::string> DirEntries() const {
    std::vector<std::string> names;
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    return names;
  }

  FetcherOptions Options() {
    FetcherOptions options;
    options.image_dir = dir_;
    options.clock = &clock_;
    return options;
  }

  GlanceFixture* glance_ = nullptr;
  std::unique_ptr<CurlGlanceClient> client_;
  std::string dir_;
  RealClock clock_;
};

TEST_F(GlanceIntegrationTest, GetImageReportsWhatGlanceComputed) {
  const std::string data = GeneratedData(kImageBytes, 1);
  const std::string id = AddImage(data);
  absl::StatusOr<GlanceImage> image = client_->GetImage(id, "any-token");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, id);
  EXPECT_EQ(image->name, "novadock-test");
  EXPECT_EQ(image->status, "active");
  EXPECT_EQ(image->container_format, "docker");
  EXPECT_EQ(image->disk_format, "raw");
  EXPECT_EQ(image->size_bytes, static_cast<int64_t>(data.size()));
  EXPECT_EQ(image->checksum, *HexDigest(HashAlgorithm::kMd5, data));
  EXPECT_EQ(image->os_hash_algo, "sha512");
  EXPECT_EQ(image->os_hash_value, *HexDigest(HashAlgorithm::kSha512, data));
}

TEST_F(GlanceIntegrationTest, FetchWritesTheArchiveAndItsSidecar) {
  const std::string data = GeneratedData(kImageBytes, 2);
  const std::string id = AddImage(data);
  GlanceFetcher fetcher(*client_, Options());
  absl::StatusOr<std::string> path = fetcher.Fetch(id, "");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, absl::StrCat(dir_, "/", id, ".tar"));
  EXPECT_TRUE(ReadFile(*path) == data) << "downloaded bytes differ";
  EXPECT_EQ(ReadFile(*path + ".sha256"),
            absl::StrCat(*HexDigest(HashAlgorithm::kSha256, data), "  ", id,
                         ".tar\n"));
  EXPECT_EQ(DirEntries().size(), 2u);
}

TEST_F(GlanceIntegrationTest, ConcurrentFetchesMakeOneDownload) {
  const std::string data = GeneratedData(kImageBytes, 3);
  const std::string id = AddImage(data);
  CountingGlanceClient counting(*client_);
  GlanceFetcher fetcher(counting, Options());
  constexpr int kCallers = 8;
  // The download starts only once the other 7 callers wait for it.
  std::atomic<bool> all_waiting{false};
  counting.before_download = [&] {
    all_waiting =
        fetcher.AwaitWaitersForTest(id, kCallers - 1, absl::Seconds(30));
  };
  std::vector<absl::StatusOr<std::string>> results(
      kCallers, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] { results[i] = fetcher.Fetch(id, ""); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(all_waiting);
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, fetcher.ArchivePath(id));
  }
  EXPECT_EQ(counting.downloads, 1);
  EXPECT_TRUE(ReadFile(fetcher.ArchivePath(id)) == data);
}

TEST_F(GlanceIntegrationTest, MissingImageIsNotFound) {
  const absl::Status get = client_->GetImage(kMissingId, "").status();
  EXPECT_TRUE(absl::IsNotFound(get)) << get;
  RecordProperty("error", get.ToString());
  EXPECT_EQ(get.message(),
            absl::StrCat("glance image ", kMissingId, " not found"));
  GlanceFetcher fetcher(*client_, Options());
  EXPECT_TRUE(absl::IsNotFound(fetcher.Fetch(kMissingId, "").status()));
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceIntegrationTest, NonDockerImageIsFailedPrecondition) {
  const std::string id = AddImage(GeneratedData(1000, 4), "bare");
  GlanceFetcher fetcher(*client_, Options());
  const absl::Status s = fetcher.Fetch(id, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("container_format is \"bare\""));
  RecordProperty("error", s.ToString());
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceIntegrationTest, ImageWithoutDataIsFailedPrecondition) {
  absl::StatusOr<std::string> id = glance_->CreateImage("queued-image");
  ASSERT_TRUE(id.ok()) << id.status();
  GlanceFetcher fetcher(*client_, Options());
  const absl::Status s = fetcher.Fetch(*id, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("status is \"queued\""));
  // Glance answers GET /file of a queued image with 204 No Content.
  const absl::Status download = client_->Download(
      *id, "", [](absl::string_view) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsFailedPrecondition(download)) << download;
  RecordProperty("error", download.ToString());
  EXPECT_THAT(DirEntries(), IsEmpty());
}

TEST_F(GlanceIntegrationTest, TamperedImageIsAChecksumMismatch) {
  const std::string data = GeneratedData(kImageBytes, 5);
  const std::string id = AddImage(data);
  // Corrupt the stored bytes in place: same size, one byte flipped.
  const std::string stored = glance_->StoredImagePath(id);
  ASSERT_TRUE(ReadFile(stored) == data) << stored;
  {
    std::fstream f(stored, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open()) << stored;
    f.seekp(kImageBytes / 2);
    f.put(static_cast<char>(data[kImageBytes / 2] ^ 0x01));
  }
  GlanceFetcher fetcher(*client_, Options());
  const absl::Status s = fetcher.Fetch(id, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(),
              HasSubstr(absl::StrCat(
                  "glance image ", id, ": sha512 checksum mismatch: expected ",
                  *HexDigest(HashAlgorithm::kSha512, data), ", got ")));
  RecordProperty("error", s.ToString());
  EXPECT_THAT(DirEntries(), IsEmpty());
}

// A glance of its own (os_hash sha256 this time), then stopped.
TEST(GlanceStoppedTest, FetchIsUnavailableNamingTheEndpoint) {
  GlanceFixture::Options options;
  options.hashing_algorithm = "sha256";
  GlanceFixture glance(options);
  ASSERT_TRUE(glance.Start().ok());
  std::fprintf(stderr, "second glance-api (fresh DB) up in %s\n",
               absl::FormatDuration(glance.start_duration()).c_str());
  const std::string data = GeneratedData(100000, 6);
  absl::StatusOr<std::string> first = glance.CreateImage("first");
  absl::StatusOr<std::string> second = glance.CreateImage("second");
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(glance.UploadImage(*first, data).ok());
  ASSERT_TRUE(glance.UploadImage(*second, data).ok());

  std::string tmpl = "/tmp/ngi.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  auto client = ClientFor(glance.endpoint());
  ASSERT_NE(client, nullptr);
  FetcherOptions fetcher_options;
  fetcher_options.image_dir = dir;
  GlanceFetcher fetcher(*client, fetcher_options);
  absl::StatusOr<GlanceImage> image = client->GetImage(*first, "");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->os_hash_algo, "sha256");
  EXPECT_EQ(image->os_hash_value, *HexDigest(HashAlgorithm::kSha256, data));
  EXPECT_TRUE(fetcher.Fetch(*first, "").ok());

  ASSERT_TRUE(glance.Kill().ok());
  const absl::Status s = fetcher.Fetch(*second, "").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(glance.endpoint()));
  RecordProperty("error", s.ToString());
  // The first archive stays; nothing of the second was written.
  EXPECT_TRUE(fetcher.Fetch(*first, "").ok());
  EXPECT_NE(access(fetcher.ArchivePath(*second).c_str(), F_OK), 0);
  nftw(dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  EXPECT_TRUE(glance.Stop().ok());
}

}  // namespace
}  // namespace novadock::testing
