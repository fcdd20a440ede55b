// InstanceDirectory against real in-process agents (AgentServer over the
// fake DockerApi): when "not found" is an answer and when it is not.
#include "controller/instance_directory.h"

#include <grpcpp/create_channel.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/agent_server.h"
#include "agent/fake_docker_api.h"
#include "controller/agent_connector.h"
#include "controller/node_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"
#include "proto/common/server_security.h"

namespace novadock::controller {
namespace {

using ::testing::HasSubstr;

constexpr char kUuid[] = "3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a7b";
constexpr char kOtherUuid[] = "0b7d3f2a-1c9e-4e52-9a1f-2c3d4e5f6a7c";

// One agent over its own fake dockerd; Stop() makes it unreachable.
class Agent {
 public:
  Agent(Clock& clock, const std::string& name) : name_(name), docker_(clock) {
    agent::DockerInfo info;
    info.mem_total_bytes = int64_t{8} << 30;
    info.ncpu = 2;
    info.docker_root_dir = "/";
    docker_.SetInfoForTest(info);
    docker_.AddImage("busybox:latest", "sha256:1111111111111111");
    static std::atomic<int> counter{0};
    dir_ = absl::StrCat(::testing::TempDir(), "/nd-dir-", getpid(), "-",
                        ++counter);
    std::filesystem::create_directories(dir_);
    agent::AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = name;
    options.runner.image_dir = dir_;
    auto server = agent::AgentServer::Start(docker_, clock, options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }
  ~Agent() {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  AgentEntry entry() const { return {name_, address_}; }
  agent::FakeDockerApi& docker() { return docker_; }
  void Stop() { server_.reset(); }
  void Create(const std::string& uuid) {
    auto stub = novadock::v1::Agent::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name("instance-1");
    r.mutable_image()->set_name("busybox");
    r.mutable_flavor()->set_memory_mb(64);
    r.mutable_flavor()->set_vcpus(1);
    grpc::ClientContext ctx;
    novadock::v1::Instance out;
    grpc::Status s = stub->CreateInstance(&ctx, r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

 private:
  const std::string name_;
  std::string dir_;
  std::string address_;
  agent::FakeDockerApi docker_;
  std::unique_ptr<agent::AgentServer> server_;
};

class InstanceDirectoryTest : public ::testing::Test {
 protected:
  InstanceDirectoryTest()
      : connector_(TlsFiles{}),
        registry_(connector_, clock_, RegistryOptions{}),
        directory_(registry_, absl::Seconds(5)) {
    EXPECT_TRUE(registry_.SetAgents({a_.entry(), b_.entry()}).ok());
    registry_.CheckAll();
    EXPECT_TRUE(directory_.Rebuild().empty());  // Both listed.
  }

  RealClock clock_;
  Agent a_{clock_, "node-a"};
  Agent b_{clock_, "node-b"};
  GrpcAgentConnector connector_;
  NodeRegistry registry_;
  InstanceDirectory directory_;
};

TEST_F(InstanceDirectoryTest, ListedNodeDownStillAnswersNotFound) {
  a_.Stop();
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kUuid).status()));
}

TEST_F(InstanceDirectoryTest, UncertainCreateOnADownNodeIsUnavailable) {
  directory_.MarkUncertain(kUuid, "node-a");
  a_.Stop();
  absl::StatusOr<std::string> found = directory_.Find(kUuid);
  EXPECT_TRUE(absl::IsUnavailable(found.status())) << found.status();
  EXPECT_THAT(found.status().message(), HasSubstr("node-a"));
  // Only that uuid: others are answered.
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kOtherUuid).status()));
}

TEST_F(InstanceDirectoryTest, UncertainCreateIsSettledByTheNodesAnswer) {
  directory_.MarkUncertain(kUuid, "node-a");
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kUuid).status()));
  a_.Stop();  // Settled before: not found stays an answer.
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kUuid).status()));
}

TEST_F(InstanceDirectoryTest, UncertainCreateThatHappenedIsFound) {
  a_.Create(kUuid);  // Behind the directory's back, as a lost answer is.
  directory_.MarkUncertain(kUuid, "node-a");
  absl::StatusOr<std::string> found = directory_.Find(kUuid);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, "node-a");
}

TEST_F(InstanceDirectoryTest, ListSettlesUncertainCreatesOfThatNode) {
  directory_.MarkUncertain(kUuid, "node-a");
  EXPECT_TRUE(directory_.Rebuild().empty());  // node-a lists no kUuid.
  a_.Stop();
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kUuid).status()));
}

TEST_F(InstanceDirectoryTest, RecordClearsUncertainty) {
  directory_.MarkUncertain(kUuid, "node-a");
  directory_.Record(kUuid, "node-b");
  a_.Stop();
  absl::StatusOr<std::string> found = directory_.Find(kUuid);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, "node-b");
}

TEST_F(InstanceDirectoryTest, LocateAnswersMissesFromTheListsAlone) {
  // Every node listed: a miss is NOT_FOUND without asking any node. A
  // container made behind the controller's back is seen at the next list.
  a_.Create(kUuid);
  EXPECT_TRUE(absl::IsNotFound(directory_.Locate(kUuid).status()));
  absl::StatusOr<std::string> asked = directory_.Find(kUuid);
  ASSERT_TRUE(asked.ok()) << asked.status();
  directory_.Forget(kUuid);
  EXPECT_TRUE(directory_.Rebuild().empty());
  absl::StatusOr<std::string> located = directory_.Locate(kUuid);
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(*located, "node-a");
}

TEST_F(InstanceDirectoryTest, LocateAsksTheNodeOfAnUncertainCreate) {
  a_.Create(kUuid);
  directory_.MarkUncertain(kUuid, "node-a");
  absl::StatusOr<std::string> located = directory_.Locate(kUuid);
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(*located, "node-a");
}

TEST_F(InstanceDirectoryTest, ListAnsweredBeforeARecordDoesNotUndoIt) {
  // A create of kUuid on node-b is recorded while the lists are in flight
  // (node-a's agent is listing); node-b's list, taken before or after, does
  // not show it, and is applied after the Record.
  std::atomic<int> lists{0};
  a_.docker().SetListHookForTest([&] {
    if (lists++ == 0) directory_.Record(kUuid, "node-b");
  });
  EXPECT_TRUE(directory_.Rebuild().empty());
  a_.docker().SetListHookForTest(nullptr);
  ASSERT_GT(lists.load(), 0);
  absl::StatusOr<std::string> located = directory_.Locate(kUuid);
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(*located, "node-b");
}

TEST_F(InstanceDirectoryTest, LocateFallsBackToAskingWhenANodeWasNeverListed) {
  Agent c(clock_, "node-c");
  const AgentEntry gone = c.entry();
  c.Stop();
  ASSERT_TRUE(registry_.SetAgents({a_.entry(), b_.entry(), gone}).ok());
  directory_.Rebuild();
  EXPECT_TRUE(absl::IsUnavailable(directory_.Locate(kUuid).status()));
}

TEST_F(InstanceDirectoryTest, NeverListedDownNodeBlocksUntilRemoved) {
  Agent c(clock_, "node-c");
  const AgentEntry gone = c.entry();
  c.Stop();
  ASSERT_TRUE(registry_.SetAgents({a_.entry(), b_.entry(), gone}).ok());
  EXPECT_THAT(directory_.Rebuild(), ::testing::ElementsAre("node-c"));
  absl::StatusOr<std::string> found = directory_.Find(kUuid);
  EXPECT_TRUE(absl::IsUnavailable(found.status())) << found.status();
  EXPECT_THAT(found.status().message(), HasSubstr("node-c"));
  EXPECT_THAT(found.status().message(), HasSubstr("SIGHUP"));
  // The operator's way out: the node leaves the controller's agents.
  ASSERT_TRUE(registry_.SetAgents({a_.entry(), b_.entry()}).ok());
  EXPECT_TRUE(absl::IsNotFound(directory_.Find(kUuid).status()));
}

}  // namespace
}  // namespace novadock::controller
