#include "glance-loader/image_index.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glance-loader/testdata_builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::loader {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kId1[] = "5b1a7a3e-0000-4000-8000-000000000001";
constexpr char kId2[] = "5b1a7a3e-0000-4000-8000-000000000002";

std::string Archive(std::vector<std::string> tags, bool oci = false,
                    bool gzip = false) {
  testing::ImageSpec spec;
  spec.repo_tags = std::move(tags);
  absl::StatusOr<testing::TestImage> image =
      oci ? testing::OciImage(spec) : testing::LegacyImage(spec);
  EXPECT_TRUE(image.ok()) << image.status();
  absl::StatusOr<std::string> tar = testing::BuildTar(image->entries, gzip);
  EXPECT_TRUE(tar.ok()) << tar.status();
  return tar.value_or("");
}

// Writes by rename, as the downloader does: a new inode every time.
void WriteFile(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".partial";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << bytes;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

class ImageIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/index-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ImageIndexOptions options;
    options.dir = dir_;
    index_ = std::make_unique<ImageIndex>(std::move(options));
  }
  std::string Path(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  std::string dir_;
  std::unique_ptr<ImageIndex> index_;
};

TEST(NormalizeRepoTagTest, Table) {
  EXPECT_EQ(NormalizeRepoTag("busybox"), "busybox:latest");
  EXPECT_EQ(NormalizeRepoTag("busybox:1.36"), "busybox:1.36");
  EXPECT_EQ(NormalizeRepoTag("docker.io/library/busybox"), "busybox:latest");
  EXPECT_EQ(NormalizeRepoTag("docker.io/me/app:v1"), "me/app:v1");
  EXPECT_EQ(NormalizeRepoTag("localhost:5000/app"),
            "localhost:5000/app:latest");
  EXPECT_EQ(NormalizeRepoTag("app@sha256:ab"), "app@sha256:ab");
}

TEST_F(ImageIndexTest, IndexesGoodAndBadArchivesAndSkipsOthers) {
  WriteFile(Path(absl::StrCat(kId1, ".tar")), Archive({"novadock-test:tiny"}));
  WriteFile(Path(absl::StrCat(kId2, ".tar.gz")),
            Archive({"other:1"}, /*oci=*/true, /*gzip=*/true));
  WriteFile(Path("broken.tgz"), "not an archive");
  WriteFile(Path(".incoming.tar"), "skipped: hidden");
  WriteFile(Path("notes.txt"), "skipped: not an archive name");
  ASSERT_EQ(mkdir(Path("dir.tar").c_str(), 0755), 0);
  ASSERT_TRUE(index_->Refresh().ok());

  std::vector<std::string> names;
  for (const IndexedArchive& a : index_->List()) names.push_back(a.file_name);
  EXPECT_THAT(names, ElementsAre(absl::StrCat(kId1, ".tar"),
                                 absl::StrCat(kId2, ".tar.gz"), "broken.tgz"));

  absl::StatusOr<IndexedArchive> a = index_->FindByGlanceId(kId1);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->path, Path(absl::StrCat(kId1, ".tar")));
  EXPECT_THAT(a->info.repo_tags, ElementsAre("novadock-test:tiny"));
  a = index_->FindByGlanceId(kId2);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->info.format, ArchiveFormat::kOci);

  absl::Status bad = index_->FindByGlanceId("broken").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr(Path("broken.tgz") + ": not a valid tar archive"));
  EXPECT_EQ(index_->FindByGlanceId("absent").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(index_->FindByGlanceId("../etc/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->FindByGlanceId(".incoming").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageIndexTest, FindsByRepoTag) {
  WriteFile(Path(absl::StrCat(kId1, ".tar")), Archive({"plain:latest"}));
  WriteFile(Path(absl::StrCat(kId2, ".tar")), Archive({"app:2"}, true));
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_EQ(index_->FindByRepoTag("plain")->file_name,
            absl::StrCat(kId1, ".tar"));
  EXPECT_EQ(index_->FindByRepoTag("docker.io/library/plain:latest")->file_name,
            absl::StrCat(kId1, ".tar"));
  // index.json names it docker.io/library/app:2.
  EXPECT_EQ(index_->FindByRepoTag("app:2")->file_name,
            absl::StrCat(kId2, ".tar"));
  EXPECT_EQ(index_->FindByRepoTag("app").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ImageIndexTest, RefreshPicksUpNewChangedAndRemovedFiles) {
  std::string p1 = Path(absl::StrCat(kId1, ".tar"));
  WriteFile(p1, Archive({"one:1"}));
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_EQ(index_->List().size(), 1u);

  WriteFile(Path(absl::StrCat(kId2, ".tar")), Archive({"two:1"}));
  WriteFile(p1, Archive({"one:2"}));
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_EQ(index_->List().size(), 2u);
  EXPECT_TRUE(index_->FindByRepoTag("two:1").ok());
  EXPECT_TRUE(index_->FindByRepoTag("one:2").ok());
  EXPECT_FALSE(index_->FindByRepoTag("one:1").ok());

  ASSERT_EQ(unlink(p1.c_str()), 0);
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_EQ(index_->List().size(), 1u);
  EXPECT_EQ(index_->FindByGlanceId(kId1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ImageIndexTest, UnchangedFilesAreNotInspectedAgain) {
  std::string p = Path(absl::StrCat(kId1, ".tar"));
  std::string bytes = Archive({"one:1"});
  WriteFile(p, bytes);
  ASSERT_TRUE(index_->Refresh().ok());
  struct stat before;
  ASSERT_EQ(stat(p.c_str(), &before), 0);
  // Same size, inode and mtime, other bytes: Refresh() must not notice.
  {
    std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    f << std::string(bytes.size(), 'z');
  }
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_TRUE(index_->FindByGlanceId(kId1).ok());
  // A new mtime makes it look again.
  times[1].tv_sec += 10;
  ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_EQ(index_->FindByGlanceId(kId1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ImageIndexTest, Sidecars) {
  std::string p = Path(absl::StrCat(kId1, ".tar"));
  WriteFile(p, Archive({"one:1"}));
  ASSERT_TRUE(index_->Refresh().ok());
  absl::StatusOr<IndexedArchive> a = index_->FindByGlanceId(kId1);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->has_sidecar);
  std::string sha = a->info.sha256_hex;

  WriteFile(p + ".sha256", absl::StrCat(sha, "  ", kId1, ".tar\n"));
  ASSERT_TRUE(index_->Refresh().ok());
  a = index_->FindByGlanceId(kId1);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->has_sidecar);

  std::string wrong(64, 'a');
  WriteFile(p + ".sha256", wrong + "\n");
  ASSERT_TRUE(index_->Refresh().ok());
  absl::Status s = index_->FindByGlanceId(kId1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            absl::StrCat(p, ": sha256 checksum mismatch: expected ", wrong,
                         ", got ", sha, " (from ", p, ".sha256)"));
  EXPECT_FALSE(index_->FindByRepoTag("one:1").ok());  // Bad: not offered.

  WriteFile(p + ".sha256", "garbage");
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_THAT(std::string(index_->FindByGlanceId(kId1).status().message()),
              HasSubstr("not a sha256sum checksum file"));

  ASSERT_EQ(unlink((p + ".sha256").c_str()), 0);
  ASSERT_TRUE(index_->Refresh().ok());
  EXPECT_TRUE(index_->FindByGlanceId(kId1).ok());
}

TEST_F(ImageIndexTest, MissingDirectory) {
  ImageIndexOptions options;
  options.dir = dir_ + "/nope";
  ImageIndex index(options);
  EXPECT_EQ(index.Refresh().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(index.List().empty());
}

TEST_F(ImageIndexTest, ConcurrentRefreshAndLookups) {
  for (int i = 0; i < 4; ++i) {
    WriteFile(Path(absl::StrCat("img", i, ".tar")),
              Archive({absl::StrCat("img:", i)}));
  }
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 5; ++i) {
        if (t % 2 == 0) {
          EXPECT_TRUE(index_->Refresh().ok());
        } else {
          (void)index_->FindByRepoTag("img:1");
          (void)index_->List();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(index_->List().size(), 4u);
  EXPECT_TRUE(index_->FindByRepoTag("img:3").ok());
}

}  // namespace
}  // namespace novadock::loader
