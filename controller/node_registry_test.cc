// NodeRegistry against real in-process agents (AgentServer over the fake
// DockerApi) on 127.0.0.1, plus ParseAgentList and the connector's rules.
#include "controller/node_registry.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/agent_server.h"
#include "agent/fake_docker_api.h"
#include "controller/agent_connector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"

namespace novadock::controller {
namespace {

using novadock::v1::NodeStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kImageId[] = "sha256:1111111111111111";

// One running agent over its own fake dockerd.
class FakeAgent {
 public:
  FakeAgent(Clock& clock, const std::string& node_name, int64_t memory_mb,
            int max_instances = 100)
      : node_name_(node_name), docker_(clock) {
    agent::DockerInfo info;
    info.name = node_name;
    info.mem_total_bytes = memory_mb << 20;
    info.ncpu = 4;
    info.docker_root_dir = "/";
    docker_.SetInfoForTest(info);
    docker_.AddImage("busybox:latest", kImageId);
    static std::atomic<int> counter{0};
    image_dir_ = absl::StrCat(::testing::TempDir(), "/nd-registry-", getpid(),
                              "-", ++counter);
    std::filesystem::create_directories(image_dir_);
    agent::AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = node_name;
    options.runner.max_instances = max_instances;
    options.runner.image_dir = image_dir_;
    auto server = agent::AgentServer::Start(docker_, clock, options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
    stub_ = novadock::v1::Agent::NewStub(
        grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  }
  ~FakeAgent() {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(image_dir_, ignored);
  }

  std::string address() const {
    return absl::StrCat("127.0.0.1:", server_ == nullptr ? 0 : server_->port());
  }
  AgentEntry entry() const { return {node_name_, address()}; }
  agent::FakeDockerApi& docker() { return docker_; }
  void Stop() { server_.reset(); }

  // Creates an instance of `memory_mb` through the agent's API.
  void CreateInstance(int n, int64_t memory_mb) {
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(absl::StrCat("3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a", 10 + n));
    r.set_name(absl::StrCat("instance-", n));
    r.mutable_image()->set_name("busybox");
    r.mutable_flavor()->set_memory_mb(memory_mb);
    r.mutable_flavor()->set_vcpus(1);
    grpc::ClientContext context;
    novadock::v1::Instance out;
    grpc::Status s = stub_->CreateInstance(&context, r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  void DeleteInstance(int n) {
    novadock::v1::DeleteInstanceRequest r;
    r.set_uuid(absl::StrCat("3f2a1c9e-0b7d-4e52-9a1f-2c3d4e5f6a", 10 + n));
    r.set_grace_period_seconds(1);
    grpc::ClientContext context;
    novadock::v1::DeleteInstanceResponse out;
    grpc::Status s = stub_->DeleteInstance(&context, r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

 private:
  const std::string node_name_;
  std::string image_dir_;
  agent::FakeDockerApi docker_;
  std::unique_ptr<agent::AgentServer> server_;
  std::unique_ptr<novadock::v1::Agent::Stub> stub_;
};

// An agent whose GetNode answers exactly `node` (capacity the real agent
// cannot be made to report, e.g. no disk).
class ScriptedAgent final : public novadock::v1::Agent::Service {
 public:
  explicit ScriptedAgent(novadock::v1::Node node) : node_(std::move(node)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~ScriptedAgent() override { server_->Shutdown(); }
  grpc::Status GetNode(grpc::ServerContext*,
                       const novadock::v1::GetNodeRequest*,
                       novadock::v1::Node* out) override {
    *out = node_;
    if (absl::Notification* gate = gate_.exchange(nullptr)) {
      entered_.Notify();
      gate->WaitForNotificationWithTimeout(absl::Seconds(10));
    }
    return grpc::Status::OK;
  }
  // The next GetNode answers only after `gate` is notified; Entered() tells
  // when it is waiting there. Once only.
  void HoldCallsUntil(absl::Notification* gate) { gate_ = gate; }
  bool Entered() {
    return entered_.WaitForNotificationWithTimeout(absl::Seconds(10));
  }
  AgentEntry entry() const {
    return {node_.name(), absl::StrCat("127.0.0.1:", port_)};
  }

 private:
  const novadock::v1::Node node_;
  std::atomic<absl::Notification*> gate_{nullptr};
  absl::Notification entered_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A TCP port on 127.0.0.1 that accepts connections into its backlog but
// never answers: a hung agent.
class SilentListener {
 public:
  SilentListener() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  const int fd_;
  int port_ = 0;
};

novadock::v1::Flavor Flavor(int64_t memory_mb, int64_t disk_gb = 0) {
  novadock::v1::Flavor f;
  f.set_name("test");
  f.set_memory_mb(memory_mb);
  f.set_vcpus(1);
  f.set_disk_gb(disk_gb);
  return f;
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  FakeAgent& AddAgent(const std::string& name, int64_t memory_mb,
                      int max_instances = 100) {
    agents_.push_back(
        std::make_unique<FakeAgent>(clock_, name, memory_mb, max_instances));
    return *agents_.back();
  }
  std::vector<AgentEntry> Entries() const {
    std::vector<AgentEntry> entries;
    for (const auto& a : agents_) entries.push_back(a->entry());
    return entries;
  }
  // A registry over every agent added so far, checked once; every agent
  // must have answered that check.
  NodeRegistry& MakeRegistry(RegistryOptions options = {}) {
    registry_ = std::make_unique<NodeRegistry>(connector_, clock_, options);
    absl::Status s = registry_->SetAgents(Entries());
    EXPECT_TRUE(s.ok()) << s;
    registry_->CheckAll();
    for (const auto& a : agents_) {
      EXPECT_EQ(Status(a->entry().name).consecutive_errors(), 0)
          << a->entry().name << ": " << Status(a->entry().name).last_error();
    }
    return *registry_;
  }
  NodeStatus Status(const std::string& name) {
    absl::StatusOr<NodeStatus> s = registry_->Get(name);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : NodeStatus();
  }
  std::string Place(int64_t memory_mb) {
    absl::StatusOr<Reservation> r =
        registry_->Reserve("", "uuid", Flavor(memory_mb));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->node : "";
  }

  FakeClock clock_;
  GrpcAgentConnector connector_{TlsFiles{}};
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  std::unique_ptr<NodeRegistry> registry_;
};

// ---- ParseAgentList ----

TEST(ParseAgentListTest, AcceptsFlagAndFileForms) {
  auto flag = ParseAgentList("a=127.0.0.1:50051, b-2.x_y=[::1]:65535,c=h:1",
                             "--agents");
  ASSERT_TRUE(flag.ok()) << flag.status();
  ASSERT_EQ(flag->size(), 3u);
  EXPECT_EQ((*flag)[1].name, "b-2.x_y");
  EXPECT_EQ((*flag)[1].address, "[::1]:65535");
  EXPECT_EQ((*flag)[2].address, "h:1");

  auto file = ParseAgentList(
      "# docker nodes\n\ncompute-1 = node1.example:50051  # rack 1\n"
      "compute-2=10.0.0.2:50051\n   \n",
      "/etc/novadock/agents");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->size(), 2u);
  EXPECT_EQ((*file)[0].name, "compute-1");
  EXPECT_EQ((*file)[0].address, "node1.example:50051");

  auto empty = ParseAgentList("", "--agents");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ParseAgentListTest, RejectsBadEntriesNamingThem) {
  struct Case {
    std::string text;
    std::string want;
  };
  const Case cases[] = {
      {"a127.0.0.1:1", "--agents: entry 1: 'a127.0.0.1:1': missing '='"},
      {"a=h:1,b", "entry 2: 'b': missing '='"},
      {"a=h:1,", "entry 2: '': empty entry"},
      {"=h:1", "node name"},
      {"a/b=h:1", "node name"},
      {absl::StrCat(std::string(64, 'n'), "=h:1"), "node name"},
      {"a=h", "want HOST:PORT"},
      {"a=h:0", "port '0' is not in 1..65535"},
      {"a=h:65536", "port '65536'"},
      {"a=h:+80", "port '+80'"},
      {"a=h:", "port ''"},
      {"a=:80", "not a host name"},
      {"a=::1:80", "needs [brackets]"},
      {"a=[::1]", "want [IPv6]:PORT"},
      {"a=[nothex]:80", "not an IPv6 address"},
      {"a=h:1,a=g:2", "duplicate node name a"},
      {"a=h:1,b=h:1", "address h:1 is given for another node too"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseAgentList(c.text, "--agents");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr("--agents")) << c.text;
  }
  auto file = ParseAgentList("# nodes\na=h:1\n\nb=h:99999\n", "/etc/agents");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(),
              HasSubstr("/etc/agents: line 4: 'b=h:99999'"));
}

// ---- Connector ----

TEST(GrpcAgentConnectorTest, PlainTextOnlyToLoopback) {
  GrpcAgentConnector connector{TlsFiles{}};
  EXPECT_TRUE(connector.Connect("127.0.0.1:1").ok());
  EXPECT_TRUE(connector.Connect("[::1]:1").ok());
  auto remote = connector.Connect("10.1.2.3:50051");
  EXPECT_EQ(remote.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(remote.status().message(), HasSubstr("10.1.2.3:50051"));
  TlsFiles missing{"/nonexistent/ca.pem", "/nonexistent/c.pem",
                   "/nonexistent/k.pem"};
  GrpcAgentConnector tls{missing};
  auto s = tls.Connect("10.1.2.3:50051");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("/nonexistent/"));
}

// ---- Checks ----

TEST_F(NodeRegistryTest, CheckAllFillsCapacityAndUsage) {
  FakeAgent& agent = AddAgent("compute-1", 8192, /*max_instances=*/10);
  agent.CreateInstance(1, 512);
  agent.CreateInstance(2, 256);
  MakeRegistry();
  NodeStatus s = Status("compute-1");
  EXPECT_EQ(s.state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(s.address(), agent.address());
  EXPECT_EQ(s.capacity().memory_mb(), 8192);
  EXPECT_EQ(s.capacity().vcpus(), 4);
  EXPECT_EQ(s.capacity().instances(), 10);
  EXPECT_GT(s.capacity().disk_gb(), 0);
  EXPECT_EQ(s.usage().memory_mb(), 768);
  EXPECT_EQ(s.usage().vcpus(), 2);
  EXPECT_EQ(s.usage().instances(), 2);
  EXPECT_EQ(s.docker_version(), "20.10.24+dfsg1");
  EXPECT_EQ(s.consecutive_errors(), 0);
  EXPECT_EQ(s.last_check_unix_nanos(), absl::ToUnixNanos(clock_.Now()));
  ASSERT_EQ(registry_->List().size(), 1u);
  EXPECT_TRUE(registry_->Stub("compute-1").ok());
  EXPECT_EQ(registry_->Stub("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Get("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(NodeRegistryTest, AgentServingAnotherNodeNameFailsItsCheck) {
  FakeAgent& agent = AddAgent("real-name", 4096);
  registry_ =
      std::make_unique<NodeRegistry>(connector_, clock_, RegistryOptions{});
  ASSERT_TRUE(registry_->SetAgents({{"listed-name", agent.address()}}).ok());
  registry_->CheckAll();
  NodeStatus s = Status("listed-name");
  EXPECT_EQ(s.consecutive_errors(), 1);
  EXPECT_THAT(s.last_error(), HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(s.last_error(), HasSubstr("'real-name'"));
  EXPECT_EQ(s.capacity().memory_mb(), 0);
}

TEST_F(NodeRegistryTest, FailedAfterThresholdWhileDockerDownThenBack) {
  FakeAgent& agent = AddAgent("compute-1", 4096);
  RegistryOptions options;
  options.failure_threshold = 3;
  MakeRegistry(options);
  agent.docker().SetDownForTest(true);
  registry_->CheckAll();
  registry_->CheckAll();
  NodeStatus s = Status("compute-1");
  EXPECT_EQ(s.state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(s.consecutive_errors(), 2);
  EXPECT_THAT(s.last_error(), HasSubstr("UNAVAILABLE"));
  registry_->CheckAll();
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_EQ(registry_->Reserve("compute-1", "u", Flavor(64)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_->Reserve("", "u", Flavor(64)).status().code(),
            absl::StatusCode::kResourceExhausted);

  agent.docker().SetDownForTest(false);
  registry_->CheckAll();
  s = Status("compute-1");
  EXPECT_EQ(s.state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(s.consecutive_errors(), 0);
  EXPECT_EQ(s.last_error(), "");
  EXPECT_TRUE(registry_->Reserve("", "u", Flavor(64)).ok());
}

TEST_F(NodeRegistryTest, StoppedAgentCountsAsFailures) {
  FakeAgent& agent = AddAgent("compute-1", 4096);
  RegistryOptions options;
  options.failure_threshold = 2;
  MakeRegistry(options);
  agent.Stop();
  registry_->CheckAll();
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_ACTIVE);
  registry_->CheckAll();
  NodeStatus s = Status("compute-1");
  EXPECT_EQ(s.state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_EQ(s.consecutive_errors(), 2);
  EXPECT_THAT(s.last_error(), HasSubstr("UNAVAILABLE"));
}

TEST_F(NodeRegistryTest, NodeThatNeverAnsweredIsNotPlacedOn) {
  FakeAgent& big = AddAgent("big", 8192);
  AddAgent("small", 2048);
  registry_ =
      std::make_unique<NodeRegistry>(connector_, clock_, RegistryOptions{});
  ASSERT_TRUE(registry_->SetAgents(Entries()).ok());
  big.Stop();  // Larger, but never answers.
  registry_->CheckAll();
  // Below the failure threshold the silent node is still ACTIVE, but its
  // capacity is unknown: placement must not use it.
  ASSERT_EQ(Status("big").state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(Place(1024), "small");
  absl::StatusOr<Reservation> r = registry_->Reserve("", "u2", Flavor(4096));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(),
              HasSubstr("1 of them not answering checks yet"));
  r = registry_->Reserve("big", "u3", Flavor(64));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("node big has not answered"));
}

TEST_F(NodeRegistryTest, HungAgentsDoNotSlowTheSweep) {
  AddAgent("good", 4096);
  SilentListener hung[3];
  registry_ = std::make_unique<NodeRegistry>(
      connector_, clock_,
      RegistryOptions{/*failure_threshold=*/5, absl::Seconds(1), false});
  std::vector<AgentEntry> entries = Entries();
  for (int i = 0; i < 3; ++i) {
    entries.push_back({absl::StrCat("hung-", i), hung[i].address()});
  }
  ASSERT_TRUE(registry_->SetAgents(entries).ok());
  // Sequential calls would take 3 s; in parallel, about 1 s.
  absl::Notification done;
  std::thread sweep([&] {
    registry_->CheckAll();
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(2)));
  sweep.join();
  EXPECT_EQ(Status("good").capacity().memory_mb(), 4096);
  EXPECT_EQ(Status("good").consecutive_errors(), 0);
  for (int i = 0; i < 3; ++i) {
    NodeStatus s = Status(absl::StrCat("hung-", i));
    EXPECT_EQ(s.consecutive_errors(), 1);
    EXPECT_THAT(s.last_error(), HasSubstr("DEADLINE_EXCEEDED"));
  }
}

TEST_F(NodeRegistryTest, RecordCallResultCountsOnlyUnreachable) {
  AddAgent("compute-1", 4096);
  RegistryOptions options;
  options.failure_threshold = 2;
  MakeRegistry(options);
  registry_->RecordCallResult("compute-1", absl::UnavailableError("gone"));
  registry_->RecordCallResult("compute-1", absl::DeadlineExceededError("slow"));
  NodeStatus s = Status("compute-1");
  EXPECT_EQ(s.state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_THAT(s.last_error(), HasSubstr("slow"));
  registry_->RecordCallResult("compute-1", absl::NotFoundError("no such"));
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(Status("compute-1").consecutive_errors(), 0);
  registry_->RecordCallResult("compute-1", absl::UnavailableError("gone"));
  registry_->RecordCallResult("compute-1", absl::OkStatus());
  EXPECT_EQ(Status("compute-1").consecutive_errors(), 0);
  registry_->RecordCallResult("unknown", absl::UnavailableError("x"));
}

// An agent that refuses the controller's certificate answers every call
// with PERMISSION_DENIED; such answers must not bring a node that failed its
// check back to ACTIVE (found by tests/tls_test.cc).
TEST_F(NodeRegistryTest, RefusedCallsNeitherFailNorReviveANode) {
  AddAgent("compute-1", 4096);
  RegistryOptions options;
  options.failure_threshold = 1;
  MakeRegistry(options);
  registry_->RecordCallResult("compute-1",
                              absl::PermissionDeniedError("not allowed"));
  registry_->RecordCallResult("compute-1",
                              absl::UnauthenticatedError("no token"));
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(Status("compute-1").consecutive_errors(), 0);
  registry_->RecordCallResult("compute-1", absl::UnavailableError("gone"));
  ASSERT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_FAILED);
  registry_->RecordCallResult("compute-1",
                              absl::PermissionDeniedError("not allowed"));
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_THAT(Status("compute-1").last_error(), HasSubstr("gone"));
}

// ---- Placement ----

TEST_F(NodeRegistryTest, PlacesOnMostFreeMemoryAfterPlacing) {
  AddAgent("a", 4096);
  AddAgent("b", 8192);
  AddAgent("c", 6144);
  MakeRegistry();
  EXPECT_EQ(Place(1024), "b");  // b 7168 free after.
  EXPECT_EQ(Place(2048), "b");  // b 5120 > c 4096.
  EXPECT_EQ(Place(2048), "c");  // c 4096 > b 3072.
  EXPECT_EQ(Place(4096), "b");  // b 1024 after; a and c 0.
  EXPECT_EQ(Place(4096), "a");  // a and c both 0 after; a has fewer.
  EXPECT_EQ(Place(4096), "c");
  EXPECT_FALSE(registry_->Reserve("", "u", Flavor(2048)).ok());
  NodeStatus b = Status("b");
  EXPECT_EQ(b.reserved().memory_mb(), 7168);
  EXPECT_EQ(b.reserved().instances(), 3);
  EXPECT_EQ(b.usage().memory_mb(), 7168);  // Agent's 0 plus reservations.
}

TEST_F(NodeRegistryTest, PlacementTiesGoToFewestInstancesThenName) {
  FakeAgent& busy = AddAgent("a-busy", 5120);
  busy.CreateInstance(1, 1024);  // 4096 free, 1 instance.
  AddAgent("b-idle", 4096);      // 4096 free, 0 instances.
  AddAgent("c-idle", 4096);
  MakeRegistry();
  EXPECT_EQ(Place(1024), "b-idle");  // Fewer instances than a-busy.
  EXPECT_EQ(Place(1024), "c-idle");  // Likewise.
  EXPECT_EQ(Place(1024), "a-busy");  // Most free memory.
  // All at 2048 free after placing; a-busy has 2 instances, b-idle and
  // c-idle 1 each: the name decides between those.
  EXPECT_EQ(Place(1024), "b-idle");
}

TEST_F(NodeRegistryTest, ResourceExhaustedSaysWhatWasAskedAndTheBestOffer) {
  AddAgent("small", 1024);
  AddAgent("down", 8192);
  RegistryOptions options;
  options.failure_threshold = 1;
  MakeRegistry(options);
  registry_->RecordCallResult("down", absl::UnavailableError("gone"));
  auto r = registry_->Reserve("", "u", Flavor(2048));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("2048 MB"));
  EXPECT_THAT(r.status().message(), HasSubstr("small"));
  EXPECT_THAT(r.status().message(), HasSubstr("1024 MB memory free"));
  EXPECT_THAT(r.status().message(), HasSubstr("1 of 2 nodes ACTIVE"));
  auto named = registry_->Reserve("small", "u", Flavor(2048));
  EXPECT_EQ(named.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(named.status().message(), HasSubstr("small"));
  // Disk counts when the agent reports it.
  const int64_t disk = Status("small").capacity().disk_gb();
  EXPECT_EQ(registry_->Reserve("", "u", Flavor(64, disk + 1)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(registry_->Reserve("", "u", Flavor(64, 0)).ok());
}

TEST_F(NodeRegistryTest, SlotsLimitAndDiskIgnoredWhenUnreported) {
  FakeAgent& full = AddAgent("full", 8192, /*max_instances=*/1);
  full.CreateInstance(1, 64);
  novadock::v1::Node node;
  node.set_name("no-disk");
  node.mutable_capacity()->set_memory_mb(2048);
  node.mutable_capacity()->set_instances(2);
  node.mutable_capacity()->set_vcpus(1);
  ScriptedAgent scripted(node);
  registry_ =
      std::make_unique<NodeRegistry>(connector_, clock_, RegistryOptions{});
  ASSERT_TRUE(registry_->SetAgents({full.entry(), scripted.entry()}).ok());
  registry_->CheckAll();
  // "full" has far more memory but no slot; vCPUs never constrain.
  novadock::v1::Flavor big = Flavor(1024, /*disk_gb=*/1 << 20);
  big.set_vcpus(64);
  EXPECT_EQ(Place(64), "no-disk");
  auto r = registry_->Reserve("", "u2", big);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->node, "no-disk");
  // Two slots, both reserved now.
  EXPECT_EQ(registry_->Reserve("", "u3", Flavor(8)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(NodeRegistryTest, ConcurrentReservationsNeverOvercommit) {
  AddAgent("compute-1", 4096);
  MakeRegistry();
  std::atomic<int> ok{0};
  std::atomic<int> exhausted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = registry_->Reserve("", absl::StrCat("u", i), Flavor(1024));
      if (r.ok()) ++ok;
      if (absl::IsResourceExhausted(r.status())) ++exhausted;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(exhausted.load(), 4);
  EXPECT_EQ(Status("compute-1").reserved().memory_mb(), 4096);
  EXPECT_EQ(Status("compute-1").reserved().instances(), 4);
}

TEST_F(NodeRegistryTest, ReleaseReturnsCapacityAndCountsCreatedUntilCheck) {
  AddAgent("compute-1", 2048);
  MakeRegistry();
  auto first = registry_->Reserve("", "u1", Flavor(1024));
  auto second = registry_->Reserve("", "u2", Flavor(1024));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(registry_->Reserve("", "u3", Flavor(1024)).ok());
  registry_->Release(*first, /*created=*/false);
  registry_->Release(*first, /*created=*/false);  // Again: no effect.
  EXPECT_EQ(Status("compute-1").reserved().memory_mb(), 1024);
  registry_->Release(*second, /*created=*/true);
  NodeStatus s = Status("compute-1");
  EXPECT_EQ(s.reserved().memory_mb(), 0);
  EXPECT_EQ(s.usage().memory_mb(), 1024);
  EXPECT_EQ(s.usage().instances(), 1);
  // The agent never created it: the next check says so.
  registry_->CheckAll();
  EXPECT_EQ(Status("compute-1").usage().memory_mb(), 0);
}

TEST_F(NodeRegistryTest, CheckBegunBeforeACreatedReleaseKeepsLocalUsage) {
  novadock::v1::Node node;
  node.set_name("n");
  node.mutable_capacity()->set_memory_mb(4096);
  node.mutable_capacity()->set_instances(10);
  ScriptedAgent scripted(node);  // Reports no instances.
  registry_ =
      std::make_unique<NodeRegistry>(connector_, clock_, RegistryOptions{});
  ASSERT_TRUE(registry_->SetAgents({scripted.entry()}).ok());
  registry_->CheckAll();
  auto r = registry_->Reserve("", "u", Flavor(1024));
  ASSERT_TRUE(r.ok());
  absl::Notification gate;
  scripted.HoldCallsUntil(&gate);
  std::thread sweep([&] { registry_->CheckAll(); });
  ASSERT_TRUE(scripted.Entered());
  // The agent's answer predates this instance: it must not erase it.
  registry_->Release(*r, /*created=*/true);
  gate.Notify();
  sweep.join();
  EXPECT_EQ(Status("n").usage().memory_mb(), 1024);
  EXPECT_EQ(Status("n").consecutive_errors(), 0);
  registry_->CheckAll();  // Begun after: the agent is believed.
  EXPECT_EQ(Status("n").usage().memory_mb(), 0);
}

TEST_F(NodeRegistryTest, ReserveCodes) {
  AddAgent("a", 4096);
  AddAgent("b", 4096);
  RegistryOptions options;
  options.failure_threshold = 1;
  MakeRegistry(options);
  EXPECT_EQ(registry_->Reserve("nope", "u", Flavor(64)).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(registry_->Drain("a").ok());
  auto draining = registry_->Reserve("a", "u", Flavor(64));
  EXPECT_EQ(draining.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(draining.status().message(), HasSubstr("DRAINED"));
  registry_->RecordCallResult("b", absl::UnavailableError("connect failed"));
  auto failed = registry_->Reserve("b", "u", Flavor(64));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(failed.status().message(), HasSubstr("FAILED"));
  EXPECT_THAT(failed.status().message(), HasSubstr("connect failed"));
  EXPECT_EQ(registry_->Reserve("", "u", Flavor(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Drain ----

TEST_F(NodeRegistryTest, DrainingBecomesDrainedWhenEmptyAndUndrains) {
  FakeAgent& agent = AddAgent("compute-1", 4096);
  agent.CreateInstance(1, 256);
  MakeRegistry();
  auto reservation = registry_->Reserve("compute-1", "u", Flavor(64));
  ASSERT_TRUE(reservation.ok());
  auto drained = registry_->Drain("compute-1");
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ(drained->state(), novadock::v1::NODE_STATE_DRAINING);
  EXPECT_TRUE(drained->drain_requested());
  EXPECT_EQ(registry_->Reserve("", "u2", Flavor(64)).status().code(),
            absl::StatusCode::kResourceExhausted);
  agent.DeleteInstance(1);
  registry_->CheckAll();
  // Empty on the agent, but a spawn is still in flight.
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_DRAINING);
  registry_->Release(*reservation, /*created=*/false);
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_DRAINED);
  ASSERT_TRUE(registry_->Drain("compute-1").ok());  // Idempotent.
  auto active = registry_->Undrain("compute-1");
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_FALSE(active->drain_requested());
  EXPECT_TRUE(registry_->Undrain("compute-1").ok());
  EXPECT_EQ(registry_->Drain("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Undrain("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(NodeRegistryTest, DrainAllStartsEveryNodeDraining) {
  FakeAgent& busy = AddAgent("busy", 4096);
  busy.CreateInstance(1, 64);
  AddAgent("empty", 4096);
  RegistryOptions options;
  options.drain_all = true;
  registry_ = std::make_unique<NodeRegistry>(connector_, clock_, options);
  ASSERT_TRUE(registry_->SetAgents(Entries()).ok());
  // Unchecked: not known to be empty yet.
  EXPECT_EQ(Status("empty").state(), novadock::v1::NODE_STATE_DRAINING);
  registry_->CheckAll();
  EXPECT_EQ(Status("busy").state(), novadock::v1::NODE_STATE_DRAINING);
  EXPECT_EQ(Status("empty").state(), novadock::v1::NODE_STATE_DRAINED);
  EXPECT_EQ(registry_->Reserve("", "u", Flavor(64)).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(registry_->Undrain("busy").ok());
  EXPECT_EQ(Place(64), "busy");
}

TEST_F(NodeRegistryTest, FailedWinsOverDrainAndRecoversToDrained) {
  FakeAgent& agent = AddAgent("compute-1", 4096);
  RegistryOptions options;
  options.failure_threshold = 1;
  MakeRegistry(options);
  ASSERT_TRUE(registry_->Drain("compute-1").ok());
  agent.docker().SetDownForTest(true);
  registry_->CheckAll();
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_FAILED);
  agent.docker().SetDownForTest(false);
  registry_->CheckAll();
  EXPECT_EQ(Status("compute-1").state(), novadock::v1::NODE_STATE_DRAINED);
}

// ---- SetAgents ----

TEST_F(NodeRegistryTest, SetAgentsAddsRemovesAndMoves) {
  FakeAgent& a = AddAgent("a", 4096);
  FakeAgent& b = AddAgent("b", 4096);
  MakeRegistry();
  ASSERT_TRUE(registry_->Drain("b").ok());
  FakeAgent c(clock_, "c", 2048);
  FakeAgent b_moved(clock_, "b", 6144);

  ASSERT_TRUE(registry_->SetAgents({b.entry(), c.entry()}).ok());
  std::vector<std::string> names;
  for (const NodeStatus& s : registry_->List()) names.push_back(s.name());
  EXPECT_THAT(names, ElementsAre("b", "c"));
  EXPECT_EQ(registry_->Get("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Status("b").capacity().memory_mb(), 4096);  // Unchanged.
  EXPECT_EQ(Status("c").state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(Status("c").capacity().memory_mb(), 0);  // Not checked yet.

  ASSERT_TRUE(registry_->SetAgents({b_moved.entry(), c.entry()}).ok());
  NodeStatus moved = Status("b");
  EXPECT_EQ(moved.address(), b_moved.address());
  EXPECT_TRUE(moved.drain_requested());  // The operator's drain stays.
  EXPECT_EQ(moved.capacity().memory_mb(), 0);
  registry_->CheckAll();
  EXPECT_EQ(Status("b").capacity().memory_mb(), 6144);
  EXPECT_EQ(Status("c").capacity().memory_mb(), 2048);

  // Invalid lists change nothing.
  auto remote = registry_->SetAgents({a.entry(), {"x", "10.1.2.3:50051"}});
  EXPECT_EQ(remote.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(remote.message(), HasSubstr("node x"));
  EXPECT_EQ(registry_->SetAgents({a.entry(), {"a", c.address()}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetAgents({{"bad/name", a.address()}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetAgents({{"a", "no-port"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->List().size(), 2u);
  EXPECT_EQ(Status("b").address(), b_moved.address());

  ASSERT_TRUE(registry_->SetAgents({}).ok());
  EXPECT_TRUE(registry_->List().empty());
}

}  // namespace
}  // namespace novadock::controller
