// ArchiveInspector and ImageIndex on a real `docker save` archive from the
// private test dockerd (20.10: legacy layout), never a pulled image.
#include <openssl/evp.h>
#include <stdlib.h>

#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "glance-loader/archive_inspector.h"
#include "glance-loader/image_index.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/dockerd_fixture.h"
#include "tests/test_image.h"

namespace novadock::loader {
namespace {

using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Not;

std::string OpenSslSha256(const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(
      EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr),
      1);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<char*>(out), len));
}

class LoaderArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dockerd_ = novadock::testing::SharedDockerd();
    ASSERT_NE(dockerd_, nullptr);
    absl::StatusOr<std::string> image =
        novadock::testing::ImportBusyboxImage(*dockerd_);
    ASSERT_TRUE(image.ok()) << image.status();
    absl::StatusOr<std::string> saved = novadock::testing::RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(novadock::testing::kTestApiPrefix, "/images/", *image,
                     "/get"));
    ASSERT_TRUE(saved.ok()) << saved.status();
    archive_ = *std::move(saved);
    absl::StatusOr<std::string> inspect = novadock::testing::RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(novadock::testing::kTestApiPrefix, "/images/", *image,
                     "/json"));
    ASSERT_TRUE(inspect.ok()) << inspect.status();
    rapidjson::Document doc;
    doc.Parse(inspect->c_str());
    ASSERT_TRUE(doc.IsObject() && doc.HasMember("Id") && doc["Id"].IsString());
    image_id_ = doc["Id"].GetString();
  }

  novadock::testing::DockerdFixture* dockerd_ = nullptr;
  std::string archive_;   // docker save output.
  std::string image_id_;  // "sha256:..." as dockerd reports it.
};

TEST_F(LoaderArchiveTest, InspectsRealDockerSave) {
  InspectOptions options;
  options.display_name = "busybox.tar";
  options.extra_digests = {HashAlgorithm::kSha512};
  absl::StatusOr<ArchiveInfo> info = InspectBuffer(archive_, options);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ArchiveFormat::kLegacy);
  EXPECT_THAT(info->repo_tags, Contains(novadock::testing::kBusyboxImage));
  EXPECT_EQ(info->image_id, image_id_);
  EXPECT_THAT(info->layers, Not(IsEmpty()));
  EXPECT_EQ(info->sha256_hex, OpenSslSha256(archive_));
  EXPECT_EQ(info->file_size_bytes, static_cast<int64_t>(archive_.size()));
  EXPECT_EQ(info->digests_hex.size(), 2u);
}

TEST_F(LoaderArchiveTest, IndexFindsRealArchiveByIdAndTag) {
  std::string dir = ::testing::TempDir() + "/loader-real-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string id = "0b7c2f8e-1d6a-4c1e-9a51-3f2a00000001";
  std::ofstream(dir + "/" + id + ".tar", std::ios::binary) << archive_;
  std::ofstream(dir + "/" + id + ".tar.sha256")
      << OpenSslSha256(archive_) << "  " << id << ".tar\n";
  ImageIndexOptions options;
  options.dir = dir;
  ImageIndex index(options);
  ASSERT_TRUE(index.Refresh().ok());
  absl::StatusOr<IndexedArchive> by_id = index.FindByGlanceId(id);
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_TRUE(by_id->has_sidecar);
  EXPECT_EQ(by_id->info.image_id, image_id_);
  absl::StatusOr<IndexedArchive> by_tag =
      index.FindByRepoTag(novadock::testing::kBusyboxImage);
  ASSERT_TRUE(by_tag.ok()) << by_tag.status();
  EXPECT_EQ(by_tag->file_name, id + ".tar");
}

TEST_F(LoaderArchiveTest, AcceptedArchiveLoadsBack) {
  ASSERT_TRUE(InspectBuffer(archive_).ok());
  absl::StatusOr<std::string> loaded = novadock::testing::RawDockerRequest(
      dockerd_->host(), "POST",
      absl::StrCat(novadock::testing::kTestApiPrefix, "/images/load?quiet=1"),
      archive_, "application/x-tar");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(*loaded, ::testing::HasSubstr("Loaded image"));
}

}  // namespace
}  // namespace novadock::loader
