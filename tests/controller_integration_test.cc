// One controller over two real novadock-agent processes (distinct node names
// on the private test dockerd): placement, drain/undrain, an agent killed
// with SIGKILL going FAILED and back to ACTIVE, controller restart
// recovering every instance, concurrent spawns that exactly fill a node,
// prefetch to two nodes, merged events.
#include <curl/curl.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_connector.h"
#include "controller/controller_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/controller.grpc.pb.h"
#include "proto/common/clock.h"
#include "tests/dockerd_fixture.h"
#include "tests/test_image.h"

namespace novadock::controller {
namespace {

using novadock::testing::kTestApiPrefix;
using novadock::testing::RawDockerRequest;
using novadock::v1::Controller;
using ::testing::HasSubstr;

const bool kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

std::string Uuid(int n) {
  return absl::StrCat("30000000-0000-4000-8000-", absl::StrFormat("%012d", n));
}

// A novadock-agent process. Killing it is a crash; Start again on the same
// port is a restart.
class AgentProcess {
 public:
  AgentProcess(std::string node, std::string docker_host, std::string dir,
               int max_instances)
      : node_(std::move(node)),
        docker_host_(std::move(docker_host)),
        dir_(std::move(dir)),
        max_instances_(max_instances) {
    std::filesystem::create_directories(dir_ + "/images");
  }
  ~AgentProcess() { Kill(); }

  // Starts on `port` (0: any) and waits for its port file (bounded).
  bool Start(int port = 0) {
    const std::string port_file = dir_ + "/port";
    std::filesystem::remove(port_file);
    std::vector<std::string> args = {
        NOVADOCK_AGENT_BINARY,
        "--node_name=" + node_,
        absl::StrCat("--listen=127.0.0.1:", port),
        "--port_file=" + port_file,
        "--docker_host=" + docker_host_,
        "--image_dir=" + dir_ + "/images",
        absl::StrCat("--max_instances=", max_instances_),
        "--grace_period_seconds=1"};
    pid_ = fork();
    if (pid_ == 0) {
      const int log = open((dir_ + "/agent.log").c_str(),
                           O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      std::ifstream in(port_file);
      int p = 0;
      if (in >> p && p > 0) {
        port_ = p;
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  const std::string& node() const { return node_; }
  std::string image_dir() const { return dir_ + "/images"; }

 private:
  const std::string node_, docker_host_, dir_;
  const int max_instances_;
  pid_t pid_ = 0;
  int port_ = 0;
};

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dockerd_ = novadock::testing::SharedDockerd();
    ASSERT_NE(dockerd_, nullptr);
    auto image = novadock::testing::ImportBusyboxImage(*dockerd_);
    ASSERT_TRUE(image.ok()) << image.status();
    base_ = absl::StrCat(::testing::TempDir(), "/nd-ctl-", getpid(), "-",
                         ++counter_);
    std::filesystem::remove_all(base_);
    a_ = std::make_unique<AgentProcess>("compute-docker-a", dockerd_->host(),
                                        base_ + "/a", 3);
    b_ = std::make_unique<AgentProcess>("compute-docker-b", dockerd_->host(),
                                        base_ + "/b", 100);
    ASSERT_TRUE(a_->Start());
    ASSERT_TRUE(b_->Start());
    StartController();
  }

  void TearDown() override {
    if (stub_ != nullptr) {
      grpc::ClientContext ctx;
      novadock::v1::ControllerListInstancesResponse list;
      if (stub_->ListInstances(&ctx, {}, &list).ok()) {
        for (const auto& i : list.instances()) {
          grpc::ClientContext dctx;
          novadock::v1::InstanceCallRequest r;
          r.set_uuid(i.uuid());
          r.set_grace_period_seconds(1);
          novadock::v1::DeleteInstanceResponse resp;
          EXPECT_TRUE(stub_->Destroy(&dctx, r, &resp).ok());
        }
      }
    }
    controller_.reset();
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(base_);
  }

  void StartController() {
    controller_.reset();
    ControllerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.agents = {{a_->node(), a_->address()}, {b_->node(), b_->address()}};
    options.registry.failure_threshold = 2;
    options.registry.check_timeout = absl::Seconds(2);
    options.check_interval = absl::Hours(1);  // Tests check explicitly.
    options.service.image_dir = base_ + "/controller-images";
    std::filesystem::create_directories(options.service.image_dir);
    auto server = ControllerServer::Start(connector_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    controller_ = *std::move(server);
    stub_ = Controller::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", controller_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  novadock::v1::SpawnRequest Spawn(const std::string& uuid,
                                   const std::string& node = "",
                                   int64_t memory_mb = 32) {
    novadock::v1::SpawnRequest r;
    r.set_node(node);
    auto* i = r.mutable_instance();
    i->set_uuid(uuid);
    i->set_name("instance-" + uuid.substr(uuid.size() - 4));
    i->mutable_image()->set_name(novadock::testing::kBusyboxImage);
    i->mutable_flavor()->set_memory_mb(memory_mb);
    i->mutable_flavor()->set_vcpus(1);
    i->add_command("/bin/sh");
    i->add_command("-c");
    i->add_command("sleep 1000");
    return r;
  }

  grpc::Status DoSpawn(const novadock::v1::SpawnRequest& r,
                       novadock::v1::Instance* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(120));
    return stub_->Spawn(&ctx, r, out);
  }

  novadock::v1::NodeStatus Node(const std::string& name) {
    grpc::ClientContext ctx;
    novadock::v1::NodeNameRequest r;
    r.set_name(name);
    novadock::v1::NodeStatus status;
    EXPECT_TRUE(stub_->GetNode(&ctx, r, &status).ok());
    return status;
  }

  static inline int counter_ = 0;
  RealClock clock_;
  GrpcAgentConnector connector_{TlsFiles{}};
  novadock::testing::DockerdFixture* dockerd_ = nullptr;
  std::string base_;
  std::unique_ptr<AgentProcess> a_, b_;
  std::unique_ptr<ControllerServer> controller_;
  std::unique_ptr<Controller::Stub> stub_;
};

TEST_F(ControllerIntegrationTest, PlacesSpawnsAndRoutesNovaCalls) {
  novadock::v1::Instance inst;
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(1)), &inst).ok());
  const std::string first = inst.node();
  EXPECT_THAT(first, ::testing::AnyOf("compute-docker-a", "compute-docker-b"));
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(2)), &inst).ok());
  // The instance on the node with the fewer instances (spread).
  EXPECT_NE(inst.node(), first);
  // The same uuid again: the same instance (idempotent), on its node.
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(2)), &inst).ok());
  EXPECT_NE(inst.node(), first);
  // The same uuid on the other node: refused.
  grpc::Status s = DoSpawn(Spawn(Uuid(2), first), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);

  grpc::ClientContext ctx;
  novadock::v1::InstanceCallRequest call;
  call.set_uuid(Uuid(1));
  call.set_grace_period_seconds(1);
  ASSERT_TRUE(stub_->PowerOff(&ctx, call, &inst).ok());
  EXPECT_EQ(inst.power_state(), novadock::v1::POWER_STATE_SHUTDOWN);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->PowerOn(&ctx2, call, &inst).ok());
  EXPECT_EQ(inst.power_state(), novadock::v1::POWER_STATE_RUNNING);
  grpc::ClientContext ctx3;
  novadock::v1::DeleteInstanceResponse del;
  ASSERT_TRUE(stub_->Destroy(&ctx3, call, &del).ok());
  EXPECT_TRUE(del.existed());
  grpc::ClientContext ctx4;
  EXPECT_EQ(stub_->GetInstance(&ctx4, call, &inst).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx5;
  ASSERT_TRUE(stub_->Destroy(&ctx5, call, &del).ok());  // Missing: OK.
  EXPECT_FALSE(del.existed());
}

TEST_F(ControllerIntegrationTest, DrainUndrainAndDrained) {
  grpc::ClientContext ctx;
  novadock::v1::DrainNodeRequest drain;
  drain.set_name("compute-docker-b");
  novadock::v1::NodeStatus status;
  ASSERT_TRUE(stub_->DrainNode(&ctx, drain, &status).ok());
  EXPECT_EQ(status.state(), novadock::v1::NODE_STATE_DRAINED);  // Empty.
  novadock::v1::Instance inst;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(DoSpawn(Spawn(Uuid(10 + i)), &inst).ok());
    EXPECT_EQ(inst.node(), "compute-docker-a");  // b takes nothing new.
  }
  grpc::Status s = DoSpawn(Spawn(Uuid(12), "compute-docker-b"), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  s = DoSpawn(Spawn(Uuid(13), "no-such-node"), &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx2;
  novadock::v1::UndrainNodeRequest undrain;
  undrain.set_name("compute-docker-b");
  ASSERT_TRUE(stub_->UndrainNode(&ctx2, undrain, &status).ok());
  EXPECT_EQ(status.state(), novadock::v1::NODE_STATE_ACTIVE);
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(14)), &inst).ok());
  EXPECT_EQ(inst.node(), "compute-docker-b");
}

TEST_F(ControllerIntegrationTest, ConcurrentSpawnsExactlyFillANode) {
  grpc::ClientContext ctx;
  novadock::v1::DrainNodeRequest drain;
  drain.set_name("compute-docker-b");
  novadock::v1::NodeStatus status;
  ASSERT_TRUE(stub_->DrainNode(&ctx, drain, &status).ok());
  // Node a has 3 slots; 6 callers race for them.
  absl::Mutex mu;
  int ok = 0, exhausted = 0;
  std::vector<std::thread> callers;
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&, i] {
      novadock::v1::Instance inst;
      grpc::Status s = DoSpawn(Spawn(Uuid(20 + i)), &inst);
      absl::MutexLock lock(&mu);
      if (s.ok()) ++ok;
      if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(exhausted, 3);
  controller_->CheckNowForTest();
  EXPECT_EQ(Node("compute-docker-a").usage().instances(), 3);
}

TEST_F(ControllerIntegrationTest, KilledAgentGoesFailedAndComesBack) {
  novadock::v1::Instance inst;
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(30), "compute-docker-a"), &inst).ok());
  const int port = a_->port();
  a_->Kill();
  controller_->CheckNowForTest();
  controller_->CheckNowForTest();
  EXPECT_EQ(Node("compute-docker-a").state(), novadock::v1::NODE_STATE_FAILED);
  // Calls for the other node are unaffected.
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(31)), &inst).ok());
  EXPECT_EQ(inst.node(), "compute-docker-b");
  ASSERT_TRUE(a_->Start(port));
  bool active = false;
  for (int i = 0; i < 50 && !active; ++i) {
    controller_->CheckNowForTest();
    active =
        Node("compute-docker-a").state() == novadock::v1::NODE_STATE_ACTIVE;
    if (!active) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(active);
  grpc::ClientContext ctx;
  novadock::v1::InstanceCallRequest call;
  call.set_uuid(Uuid(30));
  ASSERT_TRUE(stub_->GetInstance(&ctx, call, &inst).ok());
  EXPECT_EQ(inst.node(), "compute-docker-a");
}

TEST_F(ControllerIntegrationTest, ControllerRestartRecoversEveryInstance) {
  std::set<std::string> spawned;
  novadock::v1::Instance inst;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(DoSpawn(Spawn(Uuid(40 + i)), &inst).ok());
    spawned.insert(inst.uuid() + "@" + inst.node());
  }
  StartController();  // A new controller, nothing carried over.
  grpc::ClientContext ctx;
  novadock::v1::ControllerListInstancesResponse list;
  ASSERT_TRUE(stub_->ListInstances(&ctx, {}, &list).ok());
  std::set<std::string> listed;
  for (const auto& i : list.instances())
    listed.insert(i.uuid() + "@" + i.node());
  EXPECT_EQ(listed, spawned);
  // Spawn of an existing uuid finds it where it is: no second copy.
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(40)), &inst).ok());
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->ListInstances(&ctx2, {}, &list).ok());
  EXPECT_EQ(list.instances_size(), 4);
}

TEST_F(ControllerIntegrationTest, PrefetchToBothNodesAndMergedEvents) {
  // Events from now on.
  grpc::ClientContext pctx;
  novadock::v1::PollEventsRequest poll;
  novadock::v1::PollEventsResponse polled;
  ASSERT_TRUE(stub_->PollEvents(&pctx, poll, &polled).ok());
  int64_t cursor = polled.next_sequence();

  auto archive =
      RawDockerRequest(dockerd_->host(), "GET",
                       absl::StrCat(kTestApiPrefix, "/images/",
                                    novadock::testing::kBusyboxImage, "/get"));
  ASSERT_TRUE(archive.ok()) << archive.status();
  std::ofstream(base_ + "/controller-images/busybox.tar", std::ios::binary)
      << *archive;
  grpc::ClientContext ctx;
  novadock::v1::PrefetchImageRequest req;
  req.set_file_name("busybox.tar");
  req.set_glance_id("40000000-0000-4000-8000-000000000001");
  novadock::v1::PrefetchImageResponse resp;
  ASSERT_TRUE(stub_->PrefetchImage(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 2);
  for (const auto& r : resp.results()) {
    EXPECT_TRUE(r.ok()) << r.node() << ": " << r.message();
  }
  EXPECT_TRUE(std::filesystem::exists(
      a_->image_dir() + "/40000000-0000-4000-8000-000000000001.tar"));
  EXPECT_TRUE(std::filesystem::exists(
      b_->image_dir() + "/40000000-0000-4000-8000-000000000001.tar"));

  novadock::v1::Instance inst;
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(50), "compute-docker-a"), &inst).ok());
  ASSERT_TRUE(DoSpawn(Spawn(Uuid(51), "compute-docker-b"), &inst).ok());
  std::set<std::string> started_on;
  int64_t last = cursor;
  for (int i = 0; i < 20 && started_on.size() < 2; ++i) {
    grpc::ClientContext c;
    novadock::v1::PollEventsRequest p;
    p.set_after_sequence(cursor);
    p.set_wait_ms(1000);
    ASSERT_TRUE(stub_->PollEvents(&c, p, &polled).ok());
    EXPECT_FALSE(polled.gap());
    for (const auto& e : polled.events()) {
      EXPECT_GT(e.sequence(), last);
      last = e.sequence();
      if (e.event().type() == novadock::v1::EVENT_TYPE_STARTED) {
        started_on.insert(e.event().node());
      }
    }
    cursor = polled.next_sequence();
  }
  EXPECT_EQ(started_on,
            (std::set<std::string>{"compute-docker-a", "compute-docker-b"}));
}

}  // namespace
}  // namespace novadock::controller
