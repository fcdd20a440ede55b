// SnapshotInstance through a real in-process gRPC server on loopback, over
// FakeDockerApi and FakeGlanceClient: the archive and its sidecar, the Glance
// upload and tag, validation, and that a failure leaves nothing behind.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/agent_server.h"
#include "agent/container_labels.h"
#include "agent/fake_docker_api.h"
#include "glance-loader/fake_glance_client.h"
#include "glance-loader/hashing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"

namespace novadock::agent {
namespace {

using novadock::v1::SnapshotInstanceRequest;
using novadock::v1::SnapshotInstanceResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNode[] = "compute-docker-snap";
constexpr char kUuid[] = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
constexpr char kGlanceId[] = "c0ffee00-1234-4abc-8def-0123456789ab";
constexpr char kBaseImageId[] =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";
constexpr char kToken[] = "gAAAA-snapshot-token";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    docker_.AddImage("busybox:latest", kBaseImageId, 300 << 10);
    image_dir_ = absl::StrCat(::testing::TempDir(), "/nd-snap-", getpid(), "-",
                              ++dir_counter_);
    StartServer(&glance_);
    novadock::v1::CreateInstanceRequest create;
    create.set_uuid(kUuid);
    create.set_name("instance-0000005a");
    create.mutable_image()->set_name("busybox");
    create.mutable_flavor()->set_memory_mb(64);
    create.mutable_flavor()->set_vcpus(1);
    grpc::ClientContext ctx;
    novadock::v1::Instance instance;
    grpc::Status s = stub_->CreateInstance(&ctx, create, &instance);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void TearDown() override {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(image_dir_, ignored);
  }

  void StartServer(loader::GlanceClient* glance) {
    server_.reset();
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = kNode;
    options.runner.image_dir = image_dir_;
    options.glance = glance;
    auto server = AgentServer::Start(docker_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = novadock::v1::Agent::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  grpc::Status Snapshot(const SnapshotInstanceRequest& request,
                        SnapshotInstanceResponse* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    return stub_->SnapshotInstance(&ctx, request, response);
  }

  static SnapshotInstanceRequest Request(const std::string& glance_id = "") {
    SnapshotInstanceRequest r;
    r.set_uuid(kUuid);
    r.set_glance_image_id(glance_id);
    r.set_auth_token(kToken);
    return r;
  }

  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(image_dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  int CountCalls(const std::string& prefix) {
    const std::vector<std::string> calls = docker_.CallsForTest();
    return static_cast<int>(std::count_if(
        calls.begin(), calls.end(),
        [&](const std::string& c) { return c.rfind(prefix, 0) == 0; }));
  }

  static inline int dir_counter_ = 0;
  std::string image_dir_;
  FakeClock clock_;
  FakeDockerApi docker_{clock_};
  loader::FakeGlanceClient glance_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<novadock::v1::Agent::Stub> stub_;
};

TEST_F(SnapshotTest, WithoutGlanceWritesTheArchiveAndItsSidecar) {
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(Request(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string unix_seconds =
      absl::StrCat(absl::ToUnixSeconds(clock_.Now()));
  const std::string file =
      absl::StrCat("snapshot-", kUuid, "-", unix_seconds, ".tar");
  EXPECT_EQ(resp.archive_file(), file);
  EXPECT_FALSE(resp.uploaded());
  EXPECT_THAT(DirEntries(), ElementsAre(file, file + ".sha256"));

  absl::StatusOr<ImageDetails> image = docker_.InspectImage(
      absl::StrCat(kSnapshotImageRepo, ":", kUuid, "-", unix_seconds));
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->id, resp.image_id());
  const std::string archive = ReadFile(absl::StrCat(image_dir_, "/", file));
  EXPECT_EQ(archive, FakeDockerApi::SavedArchiveForTest(*image));
  EXPECT_EQ(resp.size_bytes(), static_cast<int64_t>(archive.size()));
  const std::string sha256 =
      *loader::HexDigest(loader::HashAlgorithm::kSha256, archive);
  EXPECT_EQ(ReadFile(absl::StrCat(image_dir_, "/", file, ".sha256")),
            absl::StrCat(sha256, "  ", file, "\n"));
  EXPECT_EQ(docker_.CommitLabelsForTest(resp.image_id()),
            (Labels{{kLabelSnapshotOf, kUuid},
                    {kLabelInstanceUuid, ""},
                    {kLabelNode, ""}}));
  EXPECT_EQ(glance_.upload_calls(), 0);
  // The instance keeps running.
  absl::StatusOr<ContainerDetails> c =
      docker_.InspectContainer(absl::StrCat("nova-", kUuid));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state.status, "running");
}

TEST_F(SnapshotTest, UploadsToGlanceThenKeepsTheArchiveUnderTheGlanceId) {
  glance_.AddQueuedImage(kGlanceId);
  SnapshotInstanceRequest request = Request(kGlanceId);
  request.set_image_name("registry.local:5000/team/my-snap:v1");
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(request, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string file = absl::StrCat(kGlanceId, ".tar");
  EXPECT_EQ(resp.archive_file(), file);
  EXPECT_TRUE(resp.uploaded());
  EXPECT_THAT(DirEntries(), ElementsAre(file, file + ".sha256"));

  const std::string archive = ReadFile(absl::StrCat(image_dir_, "/", file));
  EXPECT_EQ(glance_.DataForTest(kGlanceId), archive);
  absl::StatusOr<loader::GlanceImage> record = glance_.GetImage(kGlanceId, "");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->status, "active");
  EXPECT_EQ(record->os_hash_value,
            *loader::HexDigest(loader::HashAlgorithm::kSha512, archive));
  EXPECT_THAT(glance_.tokens(), ::testing::Contains(kToken));

  for (const std::string& ref :
       {absl::StrCat("novadock/glance:", kGlanceId),
        std::string("registry.local:5000/team/my-snap:v1")}) {
    absl::StatusOr<ImageDetails> image = docker_.InspectImage(ref);
    ASSERT_TRUE(image.ok()) << ref << ": " << image.status();
    EXPECT_EQ(image->id, resp.image_id());
  }
}

TEST_F(SnapshotTest, MissingInstanceIsNotFound) {
  SnapshotInstanceRequest request = Request();
  request.set_uuid("00000000-0000-4000-8000-000000000000");
  SnapshotInstanceResponse resp;
  EXPECT_EQ(Snapshot(request, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CountCalls("CommitContainer"), 0);
  EXPECT_TRUE(DirEntries().empty());
}

TEST_F(SnapshotTest, AnotherNodesContainerIsNotFound) {
  const std::string uuid = "6b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
  ContainerSpec spec;
  spec.name = absl::StrCat("nova-", uuid);
  spec.image = "busybox";
  spec.labels = {{kLabelInstanceUuid, uuid}, {kLabelNode, "other-node"}};
  ASSERT_TRUE(docker_.CreateContainer(spec).ok());
  SnapshotInstanceRequest request = Request();
  request.set_uuid(uuid);
  SnapshotInstanceResponse resp;
  EXPECT_EQ(Snapshot(request, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CountCalls("CommitContainer"), 0);
}

TEST_F(SnapshotTest, InvalidRequestsNameTheField) {
  struct Case {
    std::string field;
    std::function<void(SnapshotInstanceRequest&)> edit;
  };
  const std::vector<Case> cases = {
      {"uuid", [](auto& r) { r.set_uuid("not-a-uuid"); }},
      {"uuid", [](auto& r) { r.set_uuid(""); }},
      {"glance_image_id", [](auto& r) { r.set_glance_image_id("../../x"); }},
      {"image_name", [](auto& r) { r.set_image_name("Upper/Case:v1"); }},
      {"image_name",
       [](auto& r) { r.set_image_name("x@sha256:" + std::string(64, 'a')); }},
      {"image_name", [](auto& r) { r.set_image_name("repo:-bad"); }},
      {"image_name", [](auto& r) { r.set_image_name("repo/"); }},
      {"auth_token", [](auto& r) { r.set_auth_token("abc\r\nX-Evil: 1"); }},
      {"auth_token",
       [](auto& r) { r.set_auth_token(std::string((8 << 10) + 1, 'a')); }},
  };
  for (const Case& c : cases) {
    SnapshotInstanceRequest request = Request();
    c.edit(request);
    SnapshotInstanceResponse resp;
    grpc::Status s = Snapshot(request, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field + ":"));
    EXPECT_THAT(s.error_message(), Not(HasSubstr("X-Evil")));
  }
  EXPECT_EQ(CountCalls("CommitContainer"), 0);
}

TEST_F(SnapshotTest, GlanceIdWithoutGlanceIsFailedPrecondition) {
  StartServer(nullptr);
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(Request(kGlanceId), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("--glance_endpoint is not set"));
  EXPECT_EQ(CountCalls("CommitContainer"), 0);
  EXPECT_TRUE(DirEntries().empty());
}

TEST_F(SnapshotTest, GlanceImageNotQueuedIsRefusedBeforeCommitting) {
  glance_.AddActiveImage(kGlanceId, "already has data");
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(Request(kGlanceId), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("not queued"));
  EXPECT_EQ(CountCalls("CommitContainer"), 0);
  EXPECT_EQ(glance_.upload_calls(), 0);
}

TEST_F(SnapshotTest, GlanceErrorsPassThroughAndLeaveNothing) {
  glance_.AddQueuedImage(kGlanceId);
  glance_.InjectError(loader::FakeGlanceClient::Op::kUpload,
                      absl::UnauthenticatedError("token expired"));
  SnapshotInstanceRequest request = Request(kGlanceId);
  request.set_image_name("snap:failed");
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(request, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), Not(HasSubstr(kToken)));
  EXPECT_TRUE(DirEntries().empty());
  EXPECT_EQ(CountCalls("CommitContainer"), 1);
  EXPECT_TRUE(absl::IsNotFound(docker_.InspectImage("snap:failed").status()));
  EXPECT_TRUE(absl::IsNotFound(
      docker_.InspectImage(absl::StrCat("novadock/glance:", kGlanceId))
          .status()));
}

TEST_F(SnapshotTest, DockerErrorsPassThroughAndLeaveNothing) {
  docker_.InjectError("SaveImage", absl::InternalError("disk on fire"));
  SnapshotInstanceRequest request = Request();
  request.set_image_name("snap:failed");
  SnapshotInstanceResponse resp;
  grpc::Status s = Snapshot(request, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(s.error_message(), HasSubstr("disk on fire"));
  EXPECT_TRUE(DirEntries().empty());
  EXPECT_TRUE(absl::IsNotFound(docker_.InspectImage("snap:failed").status()));

  docker_.InjectError("CommitContainer",
                      absl::FailedPreconditionError("container is dead"));
  s = Snapshot(request, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(DirEntries().empty());
}

}  // namespace
}  // namespace novadock::agent
