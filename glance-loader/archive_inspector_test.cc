#include "glance-loader/archive_inspector.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glance-loader/hashing.h"
#include "glance-loader/testdata_builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace novadock::loader {
namespace {

using testing::BuildTar;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TestImage;

// Independent of StreamingHasher: OpenSSL's one-shot EVP_Digest.
std::string OpenSslHex(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &len, md, nullptr), 1);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<char*>(out), len));
}

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "/loader-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string Bytes(const TestImage& image, bool gzip = false) {
  absl::StatusOr<std::string> tar = BuildTar(image.entries, gzip);
  EXPECT_TRUE(tar.ok()) << tar.status();
  return tar.value_or("");
}

int64_t DataBytes(const TestImage& image) {
  int64_t n = 0;
  for (const auto& e : image.entries) {
    n += static_cast<int64_t>(e.content.size());
  }
  return n;
}

TEST(HashingTest, KnownVectorsAndChunking) {
  EXPECT_EQ(*HexDigest(HashAlgorithm::kMd5, "abc"),
            "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(*HexDigest(HashAlgorithm::kSha1, "abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(*HexDigest(HashAlgorithm::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexDigest(HashAlgorithm::kSha512, "abc")->substr(0, 16),
            "ddaf35a193617aba");
  StreamingHasher h(HashAlgorithm::kSha256);
  h.Update("a");
  h.Update("");
  h.Update("bc");
  EXPECT_EQ(*h.Finish(), *HexDigest(HashAlgorithm::kSha256, "abc"));
  EXPECT_EQ(h.Finish().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HashingTest, ParsesGlanceAlgorithmNames) {
  EXPECT_EQ(*ParseHashAlgorithm("SHA512"), HashAlgorithm::kSha512);
  EXPECT_EQ(*ParseHashAlgorithm("md5"), HashAlgorithm::kMd5);
  EXPECT_EQ(ParseHashAlgorithm("crc32").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsLowerHexDigest(HashAlgorithm::kMd5,
                               "900150983cd24fb0d6963f7d28e17f72"));
  EXPECT_FALSE(IsLowerHexDigest(HashAlgorithm::kMd5, "900150983CD"));
}

TEST(ArchiveInspectorTest, ValidLegacyArchive) {
  TestImage image = *testing::LegacyImage();
  std::string bytes = Bytes(image);
  absl::StatusOr<ArchiveInfo> info = InspectBuffer(bytes);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ArchiveFormat::kLegacy);
  EXPECT_THAT(info->repo_tags, ElementsAre("novadock-test:tiny"));
  EXPECT_EQ(info->image_id, "sha256:" + image.config_hex);
  EXPECT_EQ(info->config_digest, info->image_id);
  EXPECT_EQ(info->config_path, image.config_path);
  EXPECT_EQ(info->layers, image.layer_paths);
  EXPECT_EQ(info->entry_count, static_cast<int64_t>(image.entries.size()));
  EXPECT_EQ(info->uncompressed_bytes, DataBytes(image));
  EXPECT_EQ(info->file_size_bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(info->sha256_hex, OpenSslHex(EVP_sha256(), bytes));
  EXPECT_EQ(info->display_name, "archive");
}

TEST(ArchiveInspectorTest, ValidMultiLayerFileWithExtraDigests) {
  testing::ImageSpec spec;
  spec.layer_count = 3;
  spec.repo_tags = {"a:1", "b:2"};
  TestImage image = *testing::LegacyImage(spec);
  std::string bytes = Bytes(image);
  std::string path = TempDir() + "/5b1.tar";
  WriteFile(path, bytes);
  InspectOptions options;
  options.extra_digests = {HashAlgorithm::kMd5, HashAlgorithm::kSha512,
                           HashAlgorithm::kSha256};
  absl::StatusOr<ArchiveInfo> info = InspectFile(path, options);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->display_name, path);
  EXPECT_THAT(info->repo_tags, ElementsAre("a:1", "b:2"));
  EXPECT_EQ(info->layers.size(), 3u);
  EXPECT_EQ(info->digests_hex.size(), 3u);
  EXPECT_EQ(info->sha256_hex, OpenSslHex(EVP_sha256(), bytes));
  std::string md5 = OpenSslHex(EVP_md5(), bytes);
  EXPECT_EQ(info->digests_hex.at(HashAlgorithm::kMd5), md5);
  EXPECT_EQ(info->digests_hex.at(HashAlgorithm::kSha512),
            OpenSslHex(EVP_sha512(), bytes));

  EXPECT_TRUE(VerifyDigest(*info, HashAlgorithm::kMd5, md5).ok());
  EXPECT_TRUE(
      VerifyDigest(*info, HashAlgorithm::kMd5, absl::AsciiStrToUpper(md5))
          .ok());
  absl::Status bad = VerifyDigest(*info, HashAlgorithm::kSha256, "00ff");
  EXPECT_EQ(bad.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      bad.message(),
      absl::StrCat(path, ": sha256 checksum mismatch: expected 00ff, got ",
                   info->sha256_hex));
  EXPECT_EQ(VerifyDigest(*info, HashAlgorithm::kSha256, "00",
                         absl::StatusCode::kInvalidArgument)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyDigest(*info, HashAlgorithm::kSha1, "00").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ArchiveInspectorTest, GzipDetectedByContent) {
  TestImage image = *testing::LegacyImage();
  std::string gz = Bytes(image, /*gzip=*/true);
  ASSERT_EQ(gz.substr(0, 2), "\x1f\x8b");
  std::string path = TempDir() + "/named-plain.tar";
  WriteFile(path, gz);
  absl::StatusOr<ArchiveInfo> info = InspectFile(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->image_id, "sha256:" + image.config_hex);
  EXPECT_EQ(info->uncompressed_bytes, DataBytes(image));
  EXPECT_EQ(info->file_size_bytes, static_cast<int64_t>(gz.size()));
  EXPECT_EQ(info->sha256_hex, OpenSslHex(EVP_sha256(), gz));
}

TEST(ArchiveInspectorTest, ValidOciLayout) {
  TestImage image = *testing::OciImage();
  absl::StatusOr<ArchiveInfo> info = InspectBuffer(Bytes(image));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ArchiveFormat::kOci);
  EXPECT_THAT(info->repo_tags,
              ElementsAre("docker.io/library/novadock-test:tiny"));
  EXPECT_EQ(info->image_id, "sha256:" + image.config_hex);
  EXPECT_EQ(info->config_path, image.config_path);
  EXPECT_EQ(info->layers, image.layer_paths);
}

TEST(ArchiveInspectorTest, OciWithDockerManifestUsesManifest) {
  testing::ImageSpec spec;
  spec.layer_count = 2;
  TestImage image = *testing::OciImage(spec, /*with_docker_manifest=*/true);
  absl::StatusOr<ArchiveInfo> info = InspectBuffer(Bytes(image, true));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, ArchiveFormat::kOci);
  EXPECT_THAT(info->repo_tags, ElementsAre("novadock-test:tiny"));
  EXPECT_EQ(info->layers, image.layer_paths);
}

TEST(ArchiveInspectorTest, AcceptsLinksInsideTheArchiveAndDotSlashPaths) {
  testing::ImageSpec spec;
  spec.layer_count = 3;
  TestImage image = *testing::LegacyImage(spec);
  // Layer 2 a symlink to layer 1 (older docker save did this), layer 3 a
  // hardlink to it; everything prefixed "./".
  int second = testing::FindEntry(image, image.layer_paths[1]);
  int third = testing::FindEntry(image, image.layer_paths[2]);
  image.entries[second] = {image.layer_paths[1],
                           testing::TarEntryType::kSymlink, "",
                           "../" + image.layer_paths[0]};
  image.entries[third] = {image.layer_paths[2],
                          testing::TarEntryType::kHardlink, "",
                          image.layer_paths[0]};
  for (auto& e : image.entries) e.path = "./" + e.path;
  std::string bytes = Bytes(image) + std::string(3000, '\0');  // Padding.
  absl::StatusOr<ArchiveInfo> info = InspectBuffer(bytes);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->layers.size(), 3u);
  EXPECT_EQ(info->file_size_bytes, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(info->sha256_hex, OpenSslHex(EVP_sha256(), bytes));
}

TEST(ArchiveInspectorTest, SymlinkedLayerToNowhereIsMissing) {
  TestImage image = *testing::LegacyImage();
  int layer = testing::FindEntry(image, image.layer_paths[0]);
  image.entries[layer] = {image.layer_paths[0], testing::TarEntryType::kSymlink,
                          "", "gone.tar"};
  InspectOptions options;
  options.display_name = "images/x.tar";
  absl::Status s = InspectBuffer(Bytes(image), options).status();
  EXPECT_EQ(s.message(), absl::StrCat("images/x.tar: manifest lists ",
                                      image.layer_paths[0], ", missing"));
}

TEST(ArchiveInspectorTest, RefusesEveryKindOfBadArchive) {
  absl::StatusOr<std::vector<testing::BadArchiveCase>> cases =
      testing::BadArchives();
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_GE(cases->size(), 20u);
  InspectOptions options;
  options.display_name = "images/5b1.tar";
  for (const testing::BadArchiveCase& c : *cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = InspectBuffer(c.bytes, options).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), StartsWith("images/5b1.tar: "));
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.reason));
  }
}

TEST(ArchiveInspectorTest, RefusesOciLayerWithWrongDigest) {
  TestImage image = *testing::OciImage();
  int layer = testing::FindEntry(image, image.layer_paths[0]);
  image.entries[layer].content[600] ^= 1;
  absl::Status s = InspectBuffer(Bytes(image)).status();
  EXPECT_EQ(s.message(), absl::StrCat("archive: layer ", image.layer_paths[0],
                                      ": sha256 of its content is not ",
                                      image.layer_paths[0].substr(13)));
}

TEST(ArchiveInspectorTest, RefusesEmptyAndGarbageInput) {
  for (const std::string& bytes :
       {std::string(), std::string(1, '\0'), std::string(4096, '\0'),
        std::string("\x1f\x8b\x08\x00garbage", 12)}) {
    absl::Status s = InspectBuffer(bytes).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), StartsWith("archive: "));
  }
}

TEST(ArchiveInspectorTest, UploadsGetInvalidArgument) {
  InspectOptions options;
  options.bad_archive_code = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(InspectBuffer("not a tar at all", options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ArchiveInspectorTest, FileErrors) {
  std::string dir = TempDir();
  absl::Status missing = InspectFile(dir + "/nope.tar").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr(dir + "/nope.tar"));
  EXPECT_EQ(InspectFile(dir).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::string unreadable = dir + "/secret.tar";
  WriteFile(unreadable, "x");
  ASSERT_EQ(chmod(unreadable.c_str(), 0), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  if (geteuid() != 0) {
    EXPECT_EQ(InspectFile(unreadable).status().code(),
              absl::StatusCode::kPermissionDenied);
    return;
  }
  // Root reads mode-000 files: try as nobody, in a child.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    bool denied = setgid(65534) == 0 && setuid(65534) == 0 &&
                  InspectFile(unreadable).status().code() ==
                      absl::StatusCode::kPermissionDenied;
    _exit(denied ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
}

TEST(ArchiveInspectorTest, EntryAndSizeLimits) {
  std::string bytes = Bytes(*testing::LegacyImage());
  InspectOptions options;
  options.max_entries = 3;
  EXPECT_THAT(std::string(InspectBuffer(bytes, options).status().message()),
              HasSubstr("archive: more than 3 entries"));
  options = InspectOptions();
  options.max_uncompressed_bytes = 100;
  EXPECT_THAT(std::string(InspectBuffer(bytes, options).status().message()),
              HasSubstr("more than 100 bytes uncompressed"));
}

TEST(ArchiveInspectorTest, RefusesGzipBomb) {
  absl::StatusOr<std::string> bomb = testing::BuildZeroBomb(64 * kMiB);
  ASSERT_TRUE(bomb.ok()) << bomb.status();
  ASSERT_LT(bomb->size(), 1u * kMiB);  // Over 64:1 for sure.
  InspectOptions options;
  options.display_name = "bomb.tar.gz";
  options.bomb_min_uncompressed_bytes = 4 * kMiB;
  options.bomb_ratio = 50;
  absl::Status s = InspectBuffer(*bomb, options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("bomb.tar.gz: compression ratio over 50:1"));
  // Below the size floor the ratio alone is no reason to refuse.
  options.bomb_min_uncompressed_bytes = 128 * kMiB;
  EXPECT_THAT(std::string(InspectBuffer(*bomb, options).status().message()),
              HasSubstr("no manifest.json or index.json"));
  // Plain tar of the same size: ratio 1:1.
  std::string plain = *BuildTar(
      {{"big", testing::TarEntryType::kFile, std::string(8 * kMiB, '\0'), ""}});
  options.bomb_min_uncompressed_bytes = kMiB;
  EXPECT_THAT(std::string(InspectBuffer(plain, options).status().message()),
              HasSubstr("no manifest.json or index.json"));
}

// Yields its bytes in 100-byte reads, then fails.
class FailingSource : public ByteSource {
 public:
  explicit FailingSource(std::string bytes) : bytes_(std::move(bytes)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t size) override {
    if (pos_ >= bytes_.size()) return absl::UnavailableError("upload broke");
    size_t n = std::min({size, size_t{100}, bytes_.size() - pos_});
    bytes_.copy(buf, n, pos_);
    pos_ += n;
    return n;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

TEST(ArchiveInspectorTest, SourceErrorsPassThrough) {
  std::string bytes = Bytes(*testing::LegacyImage());
  FailingSource source(bytes.substr(0, 1500));
  absl::Status s = InspectSource(source).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(), "upload broke");
}

// Every seed of the fuzz corpus, so it is exercised without clang too.
TEST(ArchiveInspectorTest, SeedCorpus) {
  DIR* dir = opendir(NOVADOCK_FUZZ_CORPUS_DIR);
  ASSERT_NE(dir, nullptr) << NOVADOCK_FUZZ_CORPUS_DIR;
  int seeds = 0;
  while (const dirent* de = readdir(dir)) {
    std::string name = de->d_name;
    if (name[0] == '.') continue;
    SCOPED_TRACE(name);
    std::ifstream in(absl::StrCat(NOVADOCK_FUZZ_CORPUS_DIR, "/", name),
                     std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    absl::StatusOr<ArchiveInfo> info = InspectBuffer(bytes.str());
    EXPECT_EQ(info.ok(), absl::StartsWith(name, "valid_")) << info.status();
    ++seeds;
  }
  closedir(dir);
  EXPECT_GE(seeds, 20);
}

// Regenerates the seed corpus: NOVADOCK_WRITE_CORPUS_DIR=tests/fuzz/archive
// novadock_loader_test --gtest_also_run_disabled_tests
// --gtest_filter='*WriteSeedCorpus'
TEST(ArchiveInspectorTest, DISABLED_WriteSeedCorpus) {
  const char* dir = std::getenv("NOVADOCK_WRITE_CORPUS_DIR");
  ASSERT_NE(dir, nullptr);
  testing::ImageSpec two;
  two.layer_count = 2;
  WriteFile(absl::StrCat(dir, "/valid_legacy.tar"),
            Bytes(*testing::LegacyImage()));
  WriteFile(absl::StrCat(dir, "/valid_legacy.tar.gz"),
            Bytes(*testing::LegacyImage(two), true));
  WriteFile(absl::StrCat(dir, "/valid_oci.tar"), Bytes(*testing::OciImage()));
  WriteFile(absl::StrCat(dir, "/valid_oci_docker.tar"),
            Bytes(*testing::OciImage(two, true)));
  absl::StatusOr<std::vector<testing::BadArchiveCase>> cases =
      testing::BadArchives();
  ASSERT_TRUE(cases.ok()) << cases.status();
  for (const testing::BadArchiveCase& c : *cases) {
    WriteFile(absl::StrCat(dir, "/bad_", c.name, ".tar"), c.bytes);
  }
}

}  // namespace
}  // namespace novadock::loader
