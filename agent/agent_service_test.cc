// Every novadock.v1.Agent RPC through a real in-process gRPC server on
// loopback, over the stateful FakeDockerApi: success and error paths.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/agent_server.h"
#include "agent/container_labels.h"
#include "agent/fake_docker_api.h"
#include "glance-loader/hashing.h"
#include "glance-loader/testdata_builder.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"

namespace novadock::agent {
namespace {

using novadock::v1::CreateInstanceRequest;
using novadock::v1::Instance;
using novadock::v1::PowerState;
using ::testing::HasSubstr;

constexpr char kNode[] = "compute-docker-1";
constexpr char kUuid[] = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b";
constexpr char kOtherUuid[] = "0b7d3f2a-1c9e-4e52-9a1f-2c3d4e5f6a7c";
constexpr char kImageId[] = "sha256:1111111111111111";
constexpr char kGlanceId[] = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

// A valid docker-save archive (legacy layout) and its image id.
struct TestArchive {
  std::string bytes;
  std::string image_id;
};

TestArchive MakeArchive() {
  auto image = loader::testing::LegacyImage();
  EXPECT_TRUE(image.ok()) << image.status();
  auto tar = loader::testing::BuildTar(image->entries);
  EXPECT_TRUE(tar.ok()) << tar.status();
  return {*tar, "sha256:" + image->config_hex};
}

class AgentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DockerInfo info;
    info.name = "host";
    info.ncpu = 2;
    info.mem_total_bytes = int64_t{8} << 30;
    info.docker_root_dir = "/";
    docker_.SetInfoForTest(info);
    docker_.AddImage("busybox:latest", kImageId);
    image_dir_ = absl::StrCat(::testing::TempDir(), "/nd-images-", getpid(),
                              "-", ++dir_counter_);
    StartServer(/*max_instances=*/100);
  }

  void TearDown() override {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(image_dir_, ignored);
    std::filesystem::remove_all(ConfigDir(), ignored);
  }

  std::string ConfigDir() const { return image_dir_ + "-config"; }

  void WriteFile(const std::string& name, const std::string& bytes) {
    std::ofstream(absl::StrCat(image_dir_, "/", name), std::ios::binary)
        << bytes;
  }

  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(image_dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  void StartServer(int max_instances) {
    server_.reset();
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = kNode;
    options.runner.max_instances = max_instances;
    options.runner.default_grace = absl::Seconds(1);
    options.runner.image_dir = image_dir_;
    options.runner.config_drive_dir = ConfigDir();
    auto server = AgentServer::Start(docker_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = novadock::v1::Agent::NewStub(channel_);
  }

  static CreateInstanceRequest Request(const std::string& uuid = kUuid) {
    CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name("instance-0000002a");
    r.mutable_image()->set_name("busybox");
    r.mutable_flavor()->set_name("m1.tiny");
    r.mutable_flavor()->set_memory_mb(64);
    r.mutable_flavor()->set_vcpus(1);
    r.mutable_flavor()->set_disk_gb(1);
    (*r.mutable_env())["GREETING"] = "hello";
    return r;
  }

  // Request() for the Glance image kGlanceId.
  static CreateInstanceRequest GlanceRequest(const std::string& uuid = kUuid) {
    CreateInstanceRequest r = Request(uuid);
    r.mutable_image()->set_glance_id(kGlanceId);
    return r;
  }

  grpc::Status Create(const CreateInstanceRequest& r, Instance* out) {
    grpc::ClientContext ctx;
    return stub_->CreateInstance(&ctx, r, out);
  }

  template <typename Method, typename Req, typename Resp>
  grpc::Status Call(Method method, const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    return (stub_.get()->*method)(&ctx, req, resp);
  }

  novadock::v1::InstanceRequest Ref(const std::string& uuid = kUuid) {
    novadock::v1::InstanceRequest r;
    r.set_uuid(uuid);
    return r;
  }

  // Puts `archive` in the image directory as Glance image kGlanceId and
  // creates `uuid` from it (the create loads it into Docker).
  void CreateFromGlanceArchive(const TestArchive& archive,
                               const std::string& uuid = kUuid) {
    WriteFile(absl::StrCat(kGlanceId, ".tar"), archive.bytes);
    docker_.ExpectLoadForTest({"novadock-test:tiny"}, archive.image_id);
    CreateInstanceRequest r = GlanceRequest(uuid);
    Instance inst;
    grpc::Status s = Create(r, &inst);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  int CountCalls(const std::string& prefix) {
    int n = 0;
    for (const auto& c : docker_.CallsForTest()) {
      if (c.rfind(prefix, 0) == 0) ++n;
    }
    return n;
  }

  static inline int dir_counter_ = 0;
  std::string image_dir_;
  FakeClock clock_;
  FakeDockerApi docker_{clock_};
  std::unique_ptr<AgentServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<novadock::v1::Agent::Stub> stub_;
};

TEST_F(AgentServiceTest, SecondAgentOnATakenPortFailsToStart) {
  // Without SO_REUSEPORT off, gRPC would start the second server and split
  // connections between two agents.
  AgentServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", server_->port());
  options.runner.node_name = "other";
  options.runner.image_dir = image_dir_;
  auto second = AgentServer::Start(docker_, clock_, options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(options.listen));
}

TEST_F(AgentServiceTest, CreateStartsContainerWithLabelsLimitsAndSafeDefaults) {
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  EXPECT_EQ(inst.uuid(), kUuid);
  EXPECT_EQ(inst.name(), "instance-0000002a");
  EXPECT_EQ(inst.node(), kNode);
  EXPECT_EQ(inst.container_name(), absl::StrCat("nova-", kUuid));
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
  EXPECT_EQ(inst.limits().memory_bytes(), 64 << 20);
  EXPECT_EQ(inst.limits().memory_swap_bytes(), 64 << 20);

  auto c = docker_.InspectContainer(absl::StrCat("nova-", kUuid));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->privileged);
  EXPECT_EQ(c->network_mode, "none");
  EXPECT_EQ(c->labels.at(kLabelInstanceUuid), kUuid);
  EXPECT_EQ(c->labels.at(kLabelInstanceName), "instance-0000002a");
  EXPECT_EQ(c->labels.at(kLabelNode), kNode);
  EXPECT_EQ(c->labels.at(kLabelImage), "busybox");
  EXPECT_EQ(c->labels.at(kLabelFlavor), "m1.tiny");
  EXPECT_EQ(c->labels.at(kLabelCreatedBy), kCreatedByAgent);
  EXPECT_EQ(c->pids_limit, 1024);
  EXPECT_EQ(c->image_id, kImageId);
}

TEST_F(AgentServiceTest,
       ConfigDriveIsMountedReadOnlyAndRemovedWithTheInstance) {
  CreateInstanceRequest r = Request();
  (*r.mutable_config_drive())["openstack/latest/meta_data.json"] =
      R"({"uuid": "x"})";
  (*r.mutable_config_drive())["openstack/latest/user_data"] = "#!/bin/sh";
  Instance inst;
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.config_drive_mount(), "/var/lib/cloud/seed/config_drive");

  const std::string dir = absl::StrCat(ConfigDir(), "/", kUuid);
  auto c = docker_.InspectContainer(absl::StrCat("nova-", kUuid));
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->mounts.size(), 1u);
  EXPECT_EQ(c->mounts[0].type, "bind");
  EXPECT_EQ(c->mounts[0].source, dir);
  EXPECT_EQ(c->mounts[0].destination, "/var/lib/cloud/seed/config_drive");
  EXPECT_FALSE(c->mounts[0].read_write);
  std::ifstream meta(dir + "/openstack/latest/meta_data.json");
  std::string text((std::istreambuf_iterator<char>(meta)),
                   std::istreambuf_iterator<char>());
  EXPECT_EQ(text, R"({"uuid": "x"})");

  novadock::v1::DeleteInstanceRequest d;
  d.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse out;
  ASSERT_TRUE(Call(&novadock::v1::Agent::Stub::DeleteInstance, d, &out).ok());
  EXPECT_TRUE(out.existed());
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(AgentServiceTest, InstanceWithoutConfigDriveHasNoMount) {
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  EXPECT_EQ(inst.config_drive_mount(), "");
  auto c = docker_.InspectContainer(absl::StrCat("nova-", kUuid));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->mounts.empty());
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(ConfigDir(), "/", kUuid)));
}

TEST_F(AgentServiceTest, StaticAddressOnAUserDefinedNetwork) {
  docker_.AddNetworkForTest("tenant", "10.9.0.");
  CreateInstanceRequest r = Request();
  r.mutable_network()->set_name("tenant");
  r.mutable_network()->set_ipv4_address("10.9.0.5");
  r.mutable_network()->set_mac_address("fa:16:3e:0a:0b:0c");
  Instance inst;
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(inst.addresses_size(), 1);
  EXPECT_EQ(inst.addresses(0).network(), "tenant");
  EXPECT_EQ(inst.addresses(0).ipv4_address(), "10.9.0.5");
  EXPECT_EQ(inst.addresses(0).mac_address(), "fa:16:3e:0a:0b:0c");
  auto c = docker_.InspectContainer(absl::StrCat("nova-", kUuid));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->network_mode, "tenant");
}

TEST_F(AgentServiceTest, FailedCreateLeavesNoConfigDriveBehind) {
  CreateInstanceRequest r = Request();
  (*r.mutable_config_drive())["openstack/latest/meta_data.json"] = "{}";
  r.mutable_network()->set_name("no-such-net");
  Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("no-such-net"));
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(ConfigDir(), "/", kUuid)));
  // Nor after a start that fails.
  docker_.AddNetworkForTest("tenant", "10.9.0.");
  r.mutable_network()->set_name("tenant");
  docker_.InjectError("StartContainer", absl::InternalError("boom"));
  s = Create(r, &inst);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(ConfigDir(), "/", kUuid)));
  EXPECT_FALSE(docker_.InspectContainer(absl::StrCat("nova-", kUuid)).ok());
}

TEST_F(AgentServiceTest, OvercommittedVcpusAreCappedToHostAndWeighted) {
  CreateInstanceRequest r = Request();
  r.mutable_flavor()->set_vcpus(8);  // The fake host has 2 CPUs.
  Instance inst;
  ASSERT_TRUE(Create(r, &inst).ok());
  EXPECT_EQ(inst.limits().nano_cpus(), 2'000'000'000);
  EXPECT_EQ(inst.limits().cpu_shares(), 8 * 1024);
  EXPECT_EQ(inst.flavor().vcpus(), 8);
}

TEST_F(AgentServiceTest, CreateIsIdempotentUnderConcurrency) {
  std::vector<std::thread> callers;
  absl::Mutex mu;
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      Instance inst;
      grpc::Status s = Create(Request(), &inst);
      absl::MutexLock lock(&mu);
      ids.push_back(s.ok() ? inst.container_id() : s.error_message());
    });
  }
  for (auto& t : callers) t.join();
  ASSERT_EQ(ids.size(), 8u);
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(CountCalls("CreateContainer"), 1);
  auto list = docker_.ListContainers({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(AgentServiceTest, MissingImageIsNotFoundNamingIt) {
  CreateInstanceRequest r = Request();
  r.mutable_image()->set_name("no-such-image:1");
  Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("no-such-image:1"));
  EXPECT_EQ(CountCalls("CreateContainer"), 0);
}

TEST_F(AgentServiceTest, GlanceIdTagWinsOverName) {
  docker_.AddImage(absl::StrCat(kGlanceImageRepo, ":", kGlanceId),
                   "sha256:2222222222222222");
  CreateInstanceRequest r = GlanceRequest();
  r.mutable_image()->set_name("My Glance Name");  // Not a Docker reference.
  Instance inst;
  ASSERT_TRUE(Create(r, &inst).ok());
  EXPECT_EQ(inst.image_id(), "sha256:2222222222222222");
  EXPECT_EQ(inst.image(), kGlanceId);
}

TEST_F(AgentServiceTest, FailedStartRemovesTheContainer) {
  docker_.InjectError("StartContainer",
                      absl::InvalidArgumentError("exec: \"nope\": not found"));
  Instance inst;
  grpc::Status s = Create(Request(), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));
  auto list = docker_.ListContainers({});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(AgentServiceTest, NoStartCreatesStoppedAndStartStartsIt) {
  CreateInstanceRequest r = Request();
  r.set_no_start(true);
  Instance inst;
  ASSERT_TRUE(Create(r, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_SHUTDOWN);
  EXPECT_EQ(inst.docker_state(), "created");
  ASSERT_TRUE(
      Call(&novadock::v1::Agent::Stub::StartInstance, Ref(), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
}

TEST_F(AgentServiceTest, SlotsRunOutWithResourceExhausted) {
  StartServer(/*max_instances=*/1);
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  grpc::Status s = Create(Request(kOtherUuid), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr(kNode));
}

TEST_F(AgentServiceTest, ParallelCreatesNeverExceedTheSlots) {
  StartServer(/*max_instances=*/3);
  absl::Mutex mu;
  int ok = 0, exhausted = 0;
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      Instance inst;
      grpc::Status s = Create(
          Request(absl::StrCat("00000000-0000-4000-8000-00000000000", i)),
          &inst);
      absl::MutexLock lock(&mu);
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(exhausted, 5);
  auto list = docker_.ListContainers({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
}

TEST_F(AgentServiceTest, DockerDownIsUnavailable) {
  docker_.SetDownForTest(true);
  Instance inst;
  EXPECT_EQ(Create(Request(), &inst).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  novadock::v1::Node node;
  EXPECT_EQ(Call(&novadock::v1::Agent::Stub::GetNode,
                 novadock::v1::GetNodeRequest(), &node)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentServiceTest, PowerOperations) {
  using Stub = novadock::v1::Agent::Stub;
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  ASSERT_TRUE(Call(&Stub::PauseInstance, Ref(), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_PAUSED);
  ASSERT_TRUE(Call(&Stub::PauseInstance, Ref(), &inst).ok());  // Idempotent.
  ASSERT_TRUE(Call(&Stub::UnpauseInstance, Ref(), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);

  // Stopping a paused instance works.
  ASSERT_TRUE(Call(&Stub::PauseInstance, Ref(), &inst).ok());
  novadock::v1::StopInstanceRequest stop;
  stop.set_uuid(kUuid);
  ASSERT_TRUE(Call(&Stub::StopInstance, stop, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_SHUTDOWN);
  ASSERT_TRUE(Call(&Stub::StopInstance, stop, &inst).ok());  // Idempotent.

  grpc::Status s = Call(&Stub::PauseInstance, Ref(), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("not running"));
  s = Call(&Stub::UnpauseInstance, Ref(), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(Call(&Stub::StartInstance, Ref(), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
  ASSERT_TRUE(Call(&Stub::RebootInstance, stop, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
  EXPECT_GE(CountCalls("RestartContainer"), 1);

  ASSERT_TRUE(docker_.MarkDeadForTest(inst.container_id()).ok());
  ASSERT_TRUE(Call(&Stub::GetInstance, Ref(), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_CRASHED);
}

TEST_F(AgentServiceTest, DeleteStopsRemovesAndToleratesMissing) {
  using Stub = novadock::v1::Agent::Stub;
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  ASSERT_TRUE(Call(&Stub::PauseInstance, Ref(), &inst).ok());
  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse resp;
  ASSERT_TRUE(Call(&Stub::DeleteInstance, del, &resp).ok());
  EXPECT_TRUE(resp.existed());
  EXPECT_EQ(Call(&Stub::GetInstance, Ref(), &inst).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Call(&Stub::DeleteInstance, del, &resp).ok());
  EXPECT_FALSE(resp.existed());
}

TEST_F(AgentServiceTest, ForeignContainersAreNeverTouchedOrListed) {
  using Stub = novadock::v1::Agent::Stub;
  // A container with our name but no labels, and one of another node.
  ContainerSpec foreign;
  foreign.name = absl::StrCat("nova-", kUuid);
  foreign.image = "busybox";
  ASSERT_TRUE(docker_.CreateContainer(foreign).ok());
  ContainerSpec other;
  other.name = absl::StrCat("nova-", kOtherUuid);
  other.image = "busybox";
  other.labels = {{kLabelInstanceUuid, kOtherUuid}, {kLabelNode, "elsewhere"}};
  ASSERT_TRUE(docker_.CreateContainer(other).ok());

  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse resp;
  EXPECT_EQ(Call(&Stub::DeleteInstance, del, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  Instance inst;
  EXPECT_EQ(Create(Request(), &inst).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Call(&Stub::GetInstance, Ref(kOtherUuid), &inst).error_code(),
            grpc::StatusCode::NOT_FOUND);
  novadock::v1::ListInstancesResponse list;
  ASSERT_TRUE(
      Call(&Stub::ListInstances, novadock::v1::ListInstancesRequest(), &list)
          .ok());
  EXPECT_EQ(list.instances_size(), 0);
  EXPECT_EQ(CountCalls("RemoveContainer"), 0);
}

TEST_F(AgentServiceTest, ListAndNodeUsage) {
  using Stub = novadock::v1::Agent::Stub;
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  CreateInstanceRequest second = Request(kOtherUuid);
  second.mutable_flavor()->set_memory_mb(128);
  second.mutable_flavor()->set_vcpus(2);
  ASSERT_TRUE(Create(second, &inst).ok());
  novadock::v1::ListInstancesResponse list;
  ASSERT_TRUE(
      Call(&Stub::ListInstances, novadock::v1::ListInstancesRequest(), &list)
          .ok());
  EXPECT_EQ(list.instances_size(), 2);
  novadock::v1::Node node;
  ASSERT_TRUE(Call(&Stub::GetNode, novadock::v1::GetNodeRequest(), &node).ok());
  EXPECT_EQ(node.name(), kNode);
  EXPECT_EQ(node.capacity().vcpus(), 2);
  EXPECT_EQ(node.capacity().memory_mb(), 8192);
  EXPECT_EQ(node.capacity().instances(), 100);
  EXPECT_EQ(node.usage().memory_mb(), 64 + 128);
  EXPECT_EQ(node.usage().vcpus(), 3);
  EXPECT_EQ(node.usage().instances(), 2);
}

TEST_F(AgentServiceTest, ConsoleOutputIsTheBoundedTail) {
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  ASSERT_TRUE(docker_
                  .AppendLogForTest(inst.container_id(),
                                    FakeDockerApi::LogStream::kStdout,
                                    "line one\n")
                  .ok());
  ASSERT_TRUE(docker_
                  .AppendLogForTest(inst.container_id(),
                                    FakeDockerApi::LogStream::kStderr,
                                    "line two\n")
                  .ok());
  novadock::v1::GetConsoleOutputRequest req;
  req.set_uuid(kUuid);
  novadock::v1::GetConsoleOutputResponse resp;
  ASSERT_TRUE(
      Call(&novadock::v1::Agent::Stub::GetConsoleOutput, req, &resp).ok());
  EXPECT_EQ(resp.output(), "line one\nline two\n");
  EXPECT_FALSE(resp.truncated());
  req.set_max_bytes(5);
  ASSERT_TRUE(
      Call(&novadock::v1::Agent::Stub::GetConsoleOutput, req, &resp).ok());
  EXPECT_EQ(resp.output(), " two\n");
  EXPECT_TRUE(resp.truncated());
}

TEST_F(AgentServiceTest, Stats) {
  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  ContainerStats stats;
  stats.cpu_total_nanos = 42;
  stats.memory_usage_bytes = 1000;
  stats.memory_limit_bytes = 64 << 20;
  stats.pids_current = 3;
  ASSERT_TRUE(docker_.SetStatsForTest(inst.container_id(), stats).ok());
  novadock::v1::InstanceStats out;
  ASSERT_TRUE(
      Call(&novadock::v1::Agent::Stub::GetInstanceStats, Ref(), &out).ok());
  EXPECT_EQ(out.cpu_total_nanos(), 42u);
  EXPECT_EQ(out.memory_usage_bytes(), 1000u);
  EXPECT_EQ(out.pids_current(), 3u);
  EXPECT_EQ(
      Call(&novadock::v1::Agent::Stub::GetInstanceStats, Ref(kOtherUuid), &out)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(AgentServiceTest, HealthFollowsDockerd) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto status_of = [&](const std::string& service) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = health->Check(&ctx, req, &resp);
    return s.ok() ? resp.status()
                  : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  EXPECT_EQ(status_of(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(status_of("novadock.v1.Agent"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  docker_.SetDownForTest(true);
  clock_.Advance(absl::Seconds(6));  // Past the 5 s ping interval.
  bool not_serving = false;
  for (int i = 0; i < 200 && !not_serving; ++i) {
    not_serving =
        status_of("") == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!not_serving) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(not_serving);
}

TEST_F(AgentServiceTest, WatchEventsDeliversLifecycleAndSurvivesDockerDown) {
  using Stub = novadock::v1::Agent::Stub;
  grpc::ClientContext ctx;
  novadock::v1::WatchEventsRequest req;
  req.set_since_unix_nanos(absl::ToUnixNanos(clock_.Now()) - 1);
  auto reader = stub_->WatchEvents(&ctx, req);
  ASSERT_TRUE(docker_.AwaitStreamsForTest(1, absl::Seconds(10)));

  Instance inst;
  ASSERT_TRUE(Create(Request(), &inst).ok());
  novadock::v1::InstanceEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), novadock::v1::EVENT_TYPE_STARTED);
  EXPECT_EQ(event.uuid(), kUuid);
  EXPECT_EQ(event.name(), "instance-0000002a");
  EXPECT_EQ(event.node(), kNode);

  // dockerd goes away and comes back: the stream reconnects by itself.
  const int calls_before = CountCalls("StreamEvents");
  docker_.SetDownForTest(true);
  // Let at least one reconnect attempt fail while dockerd is down.
  for (int i = 0; i < 500 && CountCalls("StreamEvents") < calls_before + 1;
       ++i) {
    clock_.Advance(absl::Seconds(1));
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT(CountCalls("StreamEvents"), calls_before);
  const int calls_while_down = CountCalls("StreamEvents");
  docker_.SetDownForTest(false);
  bool reconnected = false;
  for (int i = 0; i < 500 && !reconnected; ++i) {
    clock_.Advance(absl::Seconds(1));
    reconnected = docker_.AwaitStreamsForTest(1, absl::Milliseconds(5)) &&
                  CountCalls("StreamEvents") > calls_while_down;
  }
  ASSERT_TRUE(reconnected);
  ASSERT_TRUE(Call(&Stub::PauseInstance, Ref(), &inst).ok());
  ASSERT_TRUE(reader->Read(&event));
  // No duplicate STARTED after the reconnect: the next event is PAUSED.
  EXPECT_EQ(event.type(), novadock::v1::EVENT_TYPE_PAUSED);

  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse resp;
  ASSERT_TRUE(Call(&Stub::DeleteInstance, del, &resp).ok());
  std::vector<novadock::v1::EventType> rest;
  while (reader->Read(&event)) {
    rest.push_back(event.type());
    if (event.type() == novadock::v1::EVENT_TYPE_DELETED) break;
  }
  EXPECT_THAT(rest, ::testing::Contains(novadock::v1::EVENT_TYPE_DIED));
  EXPECT_EQ(rest.back(), novadock::v1::EVENT_TYPE_DELETED);
  ctx.TryCancel();
}

// ---- Images ---------------------------------------------------------------

std::string Md5(const std::string& bytes) {
  return *loader::HexDigest(loader::HashAlgorithm::kMd5, bytes);
}

TEST_F(AgentServiceTest, CreateLoadsAnImagePresentOnlyAsAnArchive) {
  const TestArchive archive = MakeArchive();
  WriteFile(absl::StrCat(kGlanceId, ".tar"), archive.bytes);
  docker_.ExpectLoadForTest({"novadock-test:tiny"}, archive.image_id);
  CreateInstanceRequest r = GlanceRequest();
  r.mutable_image()->set_name("Glance name, not a Docker one");
  r.mutable_image()->set_checksum(Md5(archive.bytes));
  Instance inst;
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.image_id(), archive.image_id);
  EXPECT_EQ(docker_.LoadedBytesForTest(),
            static_cast<int64_t>(archive.bytes.size()));
  auto tagged =
      docker_.InspectImage(absl::StrCat(kGlanceImageRepo, ":", kGlanceId));
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->id, archive.image_id);
}

TEST_F(AgentServiceTest, WarmCreateAsksDockerNothingAboutItsImage) {
  const TestArchive archive = MakeArchive();
  CreateFromGlanceArchive(archive);
  CreateInstanceRequest r = GlanceRequest();
  Instance inst;
  docker_.ClearCallsForTest();
  r.set_uuid(kOtherUuid);
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.image_id(), archive.image_id);
  EXPECT_EQ(CountCalls("InspectImage"), 0);
  // List (slots and idempotence), create, start, inspect: nothing else.
  EXPECT_THAT(docker_.CallsForTest(),
              ::testing::ElementsAre(
                  HasSubstr("ListContainers"), HasSubstr("CreateContainer"),
                  HasSubstr("StartContainer"), HasSubstr("InspectContainer")));
}

TEST_F(AgentServiceTest, ImageRemovedBehindTheAgentsBackIsLoadedAgain) {
  const TestArchive archive = MakeArchive();
  CreateFromGlanceArchive(archive);
  CreateInstanceRequest r = GlanceRequest();
  Instance inst;
  novadock::v1::DeleteInstanceRequest d;
  d.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse out;
  ASSERT_TRUE(Call(&novadock::v1::Agent::Stub::DeleteInstance, d, &out).ok());
  // Pruned by hand: every tag, then the image.
  ASSERT_TRUE(
      docker_.RemoveImage(absl::StrCat(kGlanceImageRepo, ":", kGlanceId), false)
          .ok());
  ASSERT_TRUE(docker_.RemoveImage(archive.image_id, false).ok());
  ASSERT_FALSE(docker_.InspectImage(archive.image_id).ok());
  docker_.ExpectLoadForTest({"novadock-test:tiny"}, archive.image_id);
  docker_.ClearCallsForTest();
  r.set_uuid(kOtherUuid);
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.image_id(), archive.image_id);
  EXPECT_EQ(CountCalls("LoadImage"), 1);
  EXPECT_EQ(CountCalls("CreateContainer"), 2);  // The stale id, then anew.
}

TEST_F(AgentServiceTest, ConcurrentCreatesOfANewImageLoadItOnce) {
  const TestArchive archive = MakeArchive();
  WriteFile(absl::StrCat(kGlanceId, ".tar"), archive.bytes);
  docker_.ExpectLoadForTest({"novadock-test:tiny"}, archive.image_id);
  std::vector<std::thread> callers;
  absl::Mutex mu;
  int ok = 0;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      CreateInstanceRequest r =
          Request(absl::StrCat("00000000-0000-4000-8000-00000000000", i));
      r.mutable_image()->set_glance_id(kGlanceId);
      Instance inst;
      grpc::Status s = Create(r, &inst);
      absl::MutexLock lock(&mu);
      if (s.ok()) ++ok;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(CountCalls("LoadImage"), 1);
}

TEST_F(AgentServiceTest, ChecksumMismatchIsRefusedAndNothingLoaded) {
  const TestArchive archive = MakeArchive();
  WriteFile(absl::StrCat(kGlanceId, ".tar"), archive.bytes);
  CreateInstanceRequest r = GlanceRequest();
  r.mutable_image()->set_checksum(std::string(32, '0'));
  Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("checksum mismatch"));
  EXPECT_THAT(s.error_message(), HasSubstr(kGlanceId));
  EXPECT_EQ(CountCalls("LoadImage"), 0);
  EXPECT_EQ(CountCalls("CreateContainer"), 0);
}

TEST_F(AgentServiceTest, BadArchiveOnDiskIsRefusedNamingFileAndReason) {
  auto bad = loader::testing::BadArchives();
  ASSERT_TRUE(bad.ok()) << bad.status();
  ASSERT_FALSE(bad->empty());
  const loader::testing::BadArchiveCase& c = bad->front();
  WriteFile(absl::StrCat(kGlanceId, ".tar"), c.bytes);
  CreateInstanceRequest r = GlanceRequest();
  Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << c.name;
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(kGlanceId, ".tar")));
  EXPECT_THAT(s.error_message(), HasSubstr(c.reason));
  EXPECT_EQ(CountCalls("LoadImage"), 0);
}

// Sends `bytes` through PutImage in 1000-byte chunks under `header`.
grpc::Status Put(novadock::v1::Agent::Stub& stub,
                 const novadock::v1::PutImageHeader& header,
                 const std::string& bytes,
                 novadock::v1::PutImageResponse* response) {
  grpc::ClientContext ctx;
  auto writer = stub.PutImage(&ctx, response);
  novadock::v1::PutImageChunk chunk;
  *chunk.mutable_header() = header;
  writer->Write(chunk);
  for (size_t off = 0; off < bytes.size(); off += 1000) {
    chunk.set_data(bytes.substr(off, 1000));
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

TEST_F(AgentServiceTest, PutImageStoresVerifiesAndLoads) {
  const TestArchive archive = MakeArchive();
  novadock::v1::PutImageHeader header;
  header.set_glance_id(kGlanceId);
  header.set_sha256(
      *loader::HexDigest(loader::HashAlgorithm::kSha256, archive.bytes));
  header.set_size_bytes(static_cast<int64_t>(archive.bytes.size()));
  docker_.ExpectLoadForTest({"novadock-test:tiny"}, archive.image_id);
  novadock::v1::PutImageResponse resp;
  grpc::Status s = Put(*stub_, header, archive.bytes, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.loaded());
  EXPECT_EQ(resp.image_id(), archive.image_id);
  EXPECT_EQ(resp.file_name(), absl::StrCat(kGlanceId, ".tar"));
  EXPECT_THAT(DirEntries(),
              ::testing::ElementsAre(absl::StrCat(kGlanceId, ".tar"),
                                     absl::StrCat(kGlanceId, ".tar.sha256")));
  // Again without replace: refused, the stored archive stays.
  s = Put(*stub_, header, archive.bytes, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  novadock::v1::ListImagesResponse list;
  ASSERT_TRUE(Call(&novadock::v1::Agent::Stub::ListImages,
                   novadock::v1::ListImagesRequest(), &list)
                  .ok());
  ASSERT_EQ(list.archives_size(), 1);
  EXPECT_EQ(list.archives(0).glance_id(), kGlanceId);
  EXPECT_TRUE(list.archives(0).loaded());
  EXPECT_EQ(list.archives(0).image_id(), archive.image_id);
}

TEST_F(AgentServiceTest, CorruptedOrBadUploadsLeaveNothingBehind) {
  const TestArchive archive = MakeArchive();
  novadock::v1::PutImageHeader header;
  header.set_glance_id(kGlanceId);
  header.set_sha256(
      *loader::HexDigest(loader::HashAlgorithm::kSha256, archive.bytes));
  header.set_size_bytes(static_cast<int64_t>(archive.bytes.size()));
  std::string corrupted = archive.bytes;
  corrupted[corrupted.size() / 2] ^= 0x55;
  novadock::v1::PutImageResponse resp;
  grpc::Status s = Put(*stub_, header, corrupted, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("sha256"));

  s = Put(*stub_, header, archive.bytes.substr(0, 100), &resp);  // Short.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto bad = loader::testing::BadArchives();
  ASSERT_TRUE(bad.ok());
  const std::string& bytes = bad->front().bytes;
  header.set_sha256(*loader::HexDigest(loader::HashAlgorithm::kSha256, bytes));
  header.set_size_bytes(static_cast<int64_t>(bytes.size()));
  s = Put(*stub_, header, bytes, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr(bad->front().reason));

  header.clear_sha256();
  s = Put(*stub_, header, archive.bytes, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("header.sha256"));

  EXPECT_TRUE(DirEntries().empty());
  EXPECT_EQ(CountCalls("LoadImage"), 0);
}

TEST_F(AgentServiceTest, RemoveImageRefusedWhileInUse) {
  CreateFromGlanceArchive(MakeArchive());

  novadock::v1::RemoveImageRequest remove;
  remove.set_glance_id(kGlanceId);
  remove.set_remove_archive(true);
  novadock::v1::RemoveImageResponse resp;
  grpc::Status s = Call(&novadock::v1::Agent::Stub::RemoveImage, remove, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr(kUuid));

  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(kUuid);
  novadock::v1::DeleteInstanceResponse dresp;
  ASSERT_TRUE(
      Call(&novadock::v1::Agent::Stub::DeleteInstance, del, &dresp).ok());
  s = Call(&novadock::v1::Agent::Stub::RemoveImage, remove, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.removed_image());
  EXPECT_TRUE(resp.removed_archive());
  EXPECT_TRUE(DirEntries().empty());
}

}  // namespace
}  // namespace novadock::agent
