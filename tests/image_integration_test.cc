// Images through the agent against a real private dockerd: an image present
// only as a docker-save archive in the image directory, resolved by Glance id
// when its Docker tag differs from the Glance name; concurrent creates load
// once; checksum mismatch and corrupted uploads refused with nothing loaded;
// and the novadock-glance-loader CLI.
#include <curl/curl.h>
#include <grpcpp/create_channel.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"
#include "rapidjson/document.h"
#include "tests/dockerd_fixture.h"
#include "tests/test_image.h"

namespace novadock::agent {
namespace {

using novadock::testing::kTestApiPrefix;
using novadock::testing::RawDockerRequest;
using novadock::v1::Agent;
using ::testing::HasSubstr;

const bool kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

constexpr char kGlanceId[] = "6b3e2a10-0c1d-4e2f-8a9b-0c1d2e3f4a5b";
constexpr char kArchiveOnlyTag[] = "novadock-it:archive-only";

std::string Uuid(int n) {
  return absl::StrCat("10000000-0000-4000-8000-", absl::StrFormat("%012d", n));
}

class ImageIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dockerd_ = novadock::testing::SharedDockerd();
    ASSERT_NE(dockerd_, nullptr);
    // A distinct image (import makes a new id), saved, then removed from
    // Docker: it now exists only as the archive.
    auto image =
        novadock::testing::ImportBusyboxImage(*dockerd_, kArchiveOnlyTag);
    ASSERT_TRUE(image.ok()) << image.status();
    auto saved = RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(kTestApiPrefix, "/images/", kArchiveOnlyTag, "/get"));
    ASSERT_TRUE(saved.ok()) << saved.status();
    archive_ = *std::move(saved);
    ASSERT_TRUE(RawDockerRequest(dockerd_->host(), "DELETE",
                                 absl::StrCat(kTestApiPrefix, "/images/",
                                              kArchiveOnlyTag, "?force=1"))
                    .ok());
    image_dir_ = absl::StrCat(::testing::TempDir(), "/nd-it-images-", getpid());
    std::filesystem::remove_all(image_dir_);
    std::filesystem::create_directories(image_dir_);

    CurlDockerApi::Options options;
    options.host = dockerd_->host();
    auto docker = CurlDockerApi::Create(options);
    ASSERT_TRUE(docker.ok()) << docker.status();
    docker_ = *std::move(docker);
    AgentServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.runner.node_name = "compute-docker-img";
    server_options.runner.image_dir = image_dir_;
    server_options.runner.default_grace = absl::Seconds(1);
    auto server = AgentServer::Start(*docker_, clock_, server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Agent::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (stub_ != nullptr) {
      grpc::ClientContext ctx;
      novadock::v1::ListInstancesResponse list;
      if (stub_->ListInstances(&ctx, {}, &list).ok()) {
        for (const auto& i : list.instances()) {
          grpc::ClientContext dctx;
          novadock::v1::DeleteInstanceRequest del;
          del.set_uuid(i.uuid());
          del.set_grace_period_seconds(1);
          novadock::v1::DeleteInstanceResponse resp;
          EXPECT_TRUE(stub_->DeleteInstance(&dctx, del, &resp).ok());
        }
      }
    }
    server_.reset();
    // Leave no loaded test image behind for the next test.
    for (const std::string& ref : {absl::StrCat("novadock/glance:", kGlanceId),
                                   std::string(kArchiveOnlyTag)}) {
      (void)RawDockerRequest(
          dockerd_->host(), "DELETE",
          absl::StrCat(kTestApiPrefix, "/images/", ref, "?force=1"));
    }
    std::filesystem::remove_all(image_dir_);
  }

  void WriteArchive(const std::string& name, const std::string& bytes) {
    std::ofstream(absl::StrCat(image_dir_, "/", name), std::ios::binary)
        << bytes;
  }

  bool InDocker(const std::string& ref) {
    return RawDockerRequest(
               dockerd_->host(), "GET",
               absl::StrCat(kTestApiPrefix, "/images/", ref, "/json"))
        .ok();
  }

  // Image "load" events at or after `since` (Docker's own record of loads).
  int LoadEventsSince(absl::Time since) {
    auto body = RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(kTestApiPrefix,
                     "/events?since=", absl::ToUnixSeconds(since) - 1,
                     "&until=", absl::ToUnixSeconds(absl::Now()) + 1,
                     "&filters=%7B%22type%22%3A%5B%22image%22%5D%7D"));
    EXPECT_TRUE(body.ok()) << body.status();
    if (!body.ok()) return -1;
    int n = 0;
    for (absl::string_view line : absl::StrSplit(*body, '\n')) {
      rapidjson::Document doc;
      doc.Parse(line.data(), line.size());
      if (!doc.IsObject() || !doc.HasMember("Action") ||
          !doc.HasMember("timeNano") || !doc["timeNano"].IsInt64()) {
        continue;
      }
      const bool load = std::string(doc["Action"].GetString()) == "load";
      if (load && doc["timeNano"].GetInt64() >= absl::ToUnixNanos(since)) {
        ++n;
        std::cerr << "load event: " << line << "\n";
      }
    }
    return n;
  }

  novadock::v1::CreateInstanceRequest Request(const std::string& uuid) {
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name("instance-000000a1");
    r.mutable_image()->set_glance_id(kGlanceId);
    r.mutable_image()->set_name("Ubuntu-like Glance Name");  // != Docker tag.
    r.mutable_flavor()->set_memory_mb(32);
    r.mutable_flavor()->set_vcpus(1);
    r.add_command("/bin/sh");
    r.add_command("-c");
    r.add_command("echo image ok; sleep 1000");
    return r;
  }

  grpc::Status Create(const novadock::v1::CreateInstanceRequest& r,
                      novadock::v1::Instance* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    return stub_->CreateInstance(&ctx, r, out);
  }

  RealClock clock_;
  novadock::testing::DockerdFixture* dockerd_ = nullptr;
  std::string archive_;
  std::string image_dir_;
  std::unique_ptr<CurlDockerApi> docker_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<Agent::Stub> stub_;
};

TEST_F(ImageIntegrationTest, CreateBootsAnImagePresentOnlyAsAnArchive) {
  WriteArchive(absl::StrCat(kGlanceId, ".tar"), archive_);
  ASSERT_FALSE(InDocker(kArchiveOnlyTag));
  novadock::v1::Instance inst;
  grpc::Status s = Create(Request(Uuid(1)), &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.power_state(), novadock::v1::POWER_STATE_RUNNING);
  EXPECT_TRUE(InDocker(absl::StrCat("novadock/glance:", kGlanceId)));
  EXPECT_TRUE(InDocker(kArchiveOnlyTag));
}

TEST_F(ImageIntegrationTest, EightConcurrentCreatesLoadTheImageOnce) {
  WriteArchive(absl::StrCat(kGlanceId, ".tar"), archive_);
  const absl::Time start = absl::Now();
  absl::Mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      novadock::v1::Instance inst;
      grpc::Status s = Create(Request(Uuid(10 + i)), &inst);
      absl::MutexLock lock(&mu);
      if (!s.ok()) errors.push_back(s.error_message());
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(LoadEventsSince(start), 1);
}

TEST_F(ImageIntegrationTest, ChecksumMismatchIsRefusedAndNothingLoaded) {
  WriteArchive(absl::StrCat(kGlanceId, ".tar"), archive_);
  auto r = Request(Uuid(2));
  r.mutable_image()->set_os_hash_algo("sha512");
  r.mutable_image()->set_os_hash_value(std::string(128, 'f'));
  novadock::v1::Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("sha512 checksum mismatch"));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(kGlanceId, ".tar")));
  EXPECT_FALSE(InDocker(kArchiveOnlyTag));
  EXPECT_FALSE(InDocker(absl::StrCat("novadock/glance:", kGlanceId)));
}

grpc::Status Put(Agent::Stub& stub, const std::string& sha256,
                 const std::string& bytes,
                 novadock::v1::PutImageResponse* response) {
  grpc::ClientContext ctx;
  auto writer = stub.PutImage(&ctx, response);
  novadock::v1::PutImageChunk chunk;
  chunk.mutable_header()->set_glance_id(kGlanceId);
  chunk.mutable_header()->set_sha256(sha256);
  chunk.mutable_header()->set_size_bytes(static_cast<int64_t>(bytes.size()));
  writer->Write(chunk);
  for (size_t off = 0; off < bytes.size(); off += 256 << 10) {
    chunk.set_data(bytes.substr(off, 256 << 10));
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST_F(ImageIntegrationTest, PutImageRefusesACorruptedStreamThenLoadsAGoodOne) {
  const std::string sha256 =
      *loader::HexDigest(loader::HashAlgorithm::kSha256, archive_);
  std::string corrupted = archive_;
  corrupted[corrupted.size() / 3] ^= 0x01;
  novadock::v1::PutImageResponse resp;
  grpc::Status s = Put(*stub_, sha256, corrupted, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("sha256"));
  EXPECT_TRUE(std::filesystem::is_empty(image_dir_));
  EXPECT_FALSE(InDocker(kArchiveOnlyTag));

  s = Put(*stub_, sha256, archive_, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.loaded());
  EXPECT_TRUE(InDocker(absl::StrCat("novadock/glance:", kGlanceId)));
  EXPECT_TRUE(std::filesystem::exists(
      absl::StrCat(image_dir_, "/", kGlanceId, ".tar.sha256")));
}

// Runs the CLI; returns (exit code, stdout+stderr).
std::pair<int, std::string> RunCli(const std::vector<std::string>& args) {
  char out_path[] = "/tmp/nd-cli-XXXXXX";
  const int out_fd = mkstemp(out_path);
  EXPECT_GE(out_fd, 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    std::vector<char*> argv;
    std::string binary = NOVADOCK_LOADER_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(out_fd);
  std::ifstream in(out_path);
  std::string output((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
  unlink(out_path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST_F(ImageIntegrationTest, CliVerifiesListsLoadsAndRefusesWithOneLine) {
  const std::string good = absl::StrCat(image_dir_, "/", kGlanceId, ".tar");
  WriteArchive(absl::StrCat(kGlanceId, ".tar"), archive_);
  WriteArchive("broken.tar", archive_.substr(0, archive_.size() / 2));
  const std::string dir_flag = "--image_dir=" + image_dir_;
  const std::string docker_flag = "--docker_host=" + dockerd_->host();

  auto [code, out] = RunCli({"verify", good});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(kArchiveOnlyTag));

  std::tie(code, out) =
      RunCli({"verify", absl::StrCat(image_dir_, "/broken.tar")});
  EXPECT_EQ(code, 1);
  EXPECT_THAT(out, HasSubstr("broken.tar"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  std::tie(code, out) = RunCli({dir_flag, docker_flag, "list"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("broken.tar\tREFUSED"));

  std::tie(code, out) = RunCli({dir_flag, docker_flag, "load", good});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("loaded 100%"));
  EXPECT_TRUE(InDocker(absl::StrCat("novadock/glance:", kGlanceId)));

  std::tie(code, out) = RunCli({dir_flag, docker_flag, "prune", "--dry_run"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("would remove archive"));
  EXPECT_TRUE(std::filesystem::exists(good));
}

}  // namespace
}  // namespace novadock::agent
