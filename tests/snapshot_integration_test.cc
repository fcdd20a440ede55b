// SnapshotInstance against a real private dockerd and a real glance-api: an
// instance writes a marker file, is snapshotted into a queued Glance image
// (archive in the image directory, Glance image active with the archive's
// sha512), and a new instance booted from that Glance id on the same agent,
// from the archive on disk (no Glance download is configured), sees the
// marker. Also: a missing instance is NOT_FOUND, and a Glance id without
// Glance is FAILED_PRECONDITION.
#include <curl/curl.h>
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "glance-loader/glance_client.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"
#include "tests/dockerd_fixture.h"
#include "tests/glance_fixture.h"
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

constexpr char kSourceUuid[] = "20000000-0000-4000-8000-000000000001";
constexpr char kBootedUuid[] = "20000000-0000-4000-8000-000000000002";
constexpr absl::Duration kConsoleWait = absl::Seconds(20);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SnapshotIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dockerd_ = novadock::testing::SharedDockerd();
    ASSERT_NE(dockerd_, nullptr);
    glance_ = novadock::testing::SharedGlance();
    ASSERT_NE(glance_, nullptr);
    auto image = novadock::testing::ImportBusyboxImage(*dockerd_);
    ASSERT_TRUE(image.ok()) << image.status();
    image_dir_ = absl::StrCat(::testing::TempDir(), "/nd-snap-it-", getpid());
    std::filesystem::remove_all(image_dir_);
    std::filesystem::create_directories(image_dir_);
    CurlDockerApi::Options docker_options;
    docker_options.host = dockerd_->host();
    auto docker = CurlDockerApi::Create(docker_options);
    ASSERT_TRUE(docker.ok()) << docker.status();
    docker_ = *std::move(docker);
    loader::CurlGlanceClient::Options glance_options;
    glance_options.endpoint = glance_->endpoint();
    auto client = loader::CurlGlanceClient::Create(glance_options);
    ASSERT_TRUE(client.ok()) << client.status();
    glance_client_ = *std::move(client);
    StartAgent(glance_client_.get());
  }

  void TearDown() override {
    for (const char* uuid : {kSourceUuid, kBootedUuid}) {
      if (stub_ == nullptr) break;
      grpc::ClientContext ctx;
      novadock::v1::DeleteInstanceRequest del;
      del.set_uuid(uuid);
      del.set_grace_period_seconds(1);
      novadock::v1::DeleteInstanceResponse resp;
      EXPECT_TRUE(stub_->DeleteInstance(&ctx, del, &resp).ok());
    }
    server_.reset();
    for (const std::string& ref : images_to_remove_) {
      (void)RawDockerRequest(
          dockerd_->host(), "DELETE",
          absl::StrCat(kTestApiPrefix, "/images/", ref, "?force=1"));
    }
    std::filesystem::remove_all(image_dir_);
  }

  // (Re)starts the agent; `glance` may be null (no --glance_endpoint).
  void StartAgent(loader::GlanceClient* glance) {
    stub_.reset();
    server_.reset();
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = "compute-docker-snap";
    options.runner.image_dir = image_dir_;
    options.runner.default_grace = absl::Seconds(1);
    options.glance = glance;  // No glance_fetch: boots come from disk only.
    auto server = AgentServer::Start(*docker_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Agent::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  grpc::Status Create(const std::string& uuid, novadock::v1::ImageRef image,
                      const std::string& script) {
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name("instance-snap");
    *r.mutable_image() = std::move(image);
    r.mutable_flavor()->set_memory_mb(32);
    r.mutable_flavor()->set_vcpus(1);
    for (const char* arg : {"/bin/sh", "-c"}) r.add_command(arg);
    r.add_command(script);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    novadock::v1::Instance out;
    return stub_->CreateInstance(&ctx, r, &out);
  }

  grpc::Status Snapshot(const novadock::v1::SnapshotInstanceRequest& r,
                        novadock::v1::SnapshotInstanceResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    return stub_->SnapshotInstance(&ctx, r, out);
  }

  std::string Console(const std::string& uuid) {
    novadock::v1::GetConsoleOutputRequest req;
    req.set_uuid(uuid);
    novadock::v1::GetConsoleOutputResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    EXPECT_TRUE(stub_->GetConsoleOutput(&ctx, req, &resp).ok());
    return resp.output();
  }

  // Polls the console until it holds `text`, for at most kConsoleWait.
  bool AwaitConsole(const std::string& uuid, const std::string& text) {
    const absl::Time deadline = absl::Now() + kConsoleWait;
    while (Console(uuid).find(text) == std::string::npos) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return true;
  }

  RealClock clock_;
  novadock::testing::DockerdFixture* dockerd_ = nullptr;
  novadock::testing::GlanceFixture* glance_ = nullptr;
  std::string image_dir_;
  std::unique_ptr<CurlDockerApi> docker_;
  std::unique_ptr<loader::CurlGlanceClient> glance_client_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<Agent::Stub> stub_;
  std::vector<std::string> images_to_remove_;
};

TEST_F(SnapshotIntegrationTest, SnapshotUploadsAndBootsFromTheArchive) {
  novadock::v1::ImageRef busybox;
  busybox.set_name(novadock::testing::kBusyboxImage);
  ASSERT_TRUE(Create(kSourceUuid, busybox,
                     "echo marker > /tmp/m; echo ready; sleep 1000")
                  .ok());
  ASSERT_TRUE(AwaitConsole(kSourceUuid, "ready"));

  absl::StatusOr<std::string> glance_id =
      glance_->CreateImage("novadock-snapshot");  // Queued.
  ASSERT_TRUE(glance_id.ok()) << glance_id.status();
  novadock::v1::SnapshotInstanceRequest request;
  request.set_uuid(kSourceUuid);
  request.set_glance_image_id(*glance_id);
  novadock::v1::SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(request, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  images_to_remove_.push_back(resp.image_id());
  EXPECT_TRUE(resp.uploaded());
  EXPECT_EQ(resp.archive_file(), absl::StrCat(*glance_id, ".tar"));

  // The archive is in the image directory, with its sidecar and nothing else.
  const std::string path = absl::StrCat(image_dir_, "/", resp.archive_file());
  const std::string archive = ReadFile(path);
  EXPECT_EQ(static_cast<int64_t>(archive.size()), resp.size_bytes());
  EXPECT_EQ(
      ReadFile(path + ".sha256"),
      absl::StrCat(*loader::HexDigest(loader::HashAlgorithm::kSha256, archive),
                   "  ", resp.archive_file(), "\n"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(image_dir_)) {
    ++entries;
  }
  EXPECT_EQ(entries, 2);

  // Glance computed the same digest over what it received.
  absl::StatusOr<loader::GlanceImage> record =
      glance_client_->GetImage(*glance_id, "");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->status, "active");
  EXPECT_EQ(record->size_bytes, resp.size_bytes());
  EXPECT_EQ(record->os_hash_algo, "sha512");
  EXPECT_EQ(record->os_hash_value,
            *loader::HexDigest(loader::HashAlgorithm::kSha512, archive));

  // Remove the committed image from Docker, so that the boot below must load
  // the archive from disk (no Glance download is configured).
  ASSERT_TRUE(RawDockerRequest(
                  dockerd_->host(), "GET",
                  absl::StrCat(kTestApiPrefix,
                               "/images/novadock/glance:", *glance_id, "/json"))
                  .ok());
  ASSERT_TRUE(RawDockerRequest(dockerd_->host(), "DELETE",
                               absl::StrCat(kTestApiPrefix, "/images/",
                                            resp.image_id(), "?force=1"))
                  .ok());
  novadock::v1::ImageRef snapshot;
  snapshot.set_glance_id(*glance_id);
  s = Create(kBootedUuid, snapshot, "cat /tmp/m");
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Bounded by RawDockerExchange's timeout: returns when `cat` has exited.
  ASSERT_TRUE(RawDockerRequest(dockerd_->host(), "POST",
                               absl::StrCat(kTestApiPrefix, "/containers/nova-",
                                            kBootedUuid, "/wait"))
                  .ok());
  EXPECT_EQ(Console(kBootedUuid), "marker\n");
}

TEST_F(SnapshotIntegrationTest, MissingInstanceIsNotFound) {
  novadock::v1::SnapshotInstanceRequest request;
  request.set_uuid("20000000-0000-4000-8000-0000000000ff");
  novadock::v1::SnapshotInstanceResponse resp;
  EXPECT_EQ(Snapshot(request, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(std::filesystem::is_empty(image_dir_));
}

TEST_F(SnapshotIntegrationTest, GlanceIdWithoutGlanceIsFailedPrecondition) {
  StartAgent(nullptr);
  novadock::v1::ImageRef busybox;
  busybox.set_name(novadock::testing::kBusyboxImage);
  ASSERT_TRUE(Create(kSourceUuid, busybox, "sleep 1000").ok());
  absl::StatusOr<std::string> glance_id =
      glance_->CreateImage("novadock-snapshot");
  ASSERT_TRUE(glance_id.ok()) << glance_id.status();
  novadock::v1::SnapshotInstanceRequest request;
  request.set_uuid(kSourceUuid);
  request.set_glance_image_id(*glance_id);
  novadock::v1::SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(request, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("--glance_endpoint is not set"));
  EXPECT_TRUE(std::filesystem::is_empty(image_dir_));
}

}  // namespace
}  // namespace novadock::agent
