// The agent against a real private dockerd: CurlDockerApi + AgentServer on
// loopback, driven through its gRPC API, checked through Docker's own API.
#include <curl/curl.h>
#include <grpcpp/create_channel.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"
#include "tests/dockerd_fixture.h"
#include "tests/test_image.h"

namespace novadock::agent {
namespace {

using novadock::testing::DockerdFixture;
using novadock::v1::Agent;
using novadock::v1::CreateInstanceRequest;
using novadock::v1::Instance;
using novadock::v1::PowerState;
using ::testing::HasSubstr;

constexpr char kNode[] = "compute-docker-it";

const bool kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

std::string Uuid(int n) {
  return absl::StrCat("00000000-0000-4000-8000-", absl::StrFormat("%012d", n));
}

// One agent (client + server) over the fixture's dockerd; destroying it is
// an agent restart.
struct AgentUnderTest {
  AgentUnderTest() = default;
  AgentUnderTest(AgentUnderTest&&) = default;
  // Stops the old server before the Docker client it uses goes: a defaulted
  // move assignment would replace `docker` first (declaration order) while
  // the old server's threads still call it.
  AgentUnderTest& operator=(AgentUnderTest&& other) {
    stub.reset();
    server.reset();
    docker = std::move(other.docker);
    server = std::move(other.server);
    stub = std::move(other.stub);
    return *this;
  }

  std::unique_ptr<CurlDockerApi> docker;
  std::unique_ptr<AgentServer> server;
  std::unique_ptr<Agent::Stub> stub;
};

class AgentIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    DockerdFixture* d = novadock::testing::SharedDockerd();
    ASSERT_NE(d, nullptr);
    auto image = novadock::testing::ImportBusyboxImage(*d);
    ASSERT_TRUE(image.ok()) << image.status();
  }

  void SetUp() override {
    dockerd_ = novadock::testing::SharedDockerd();
    ASSERT_NE(dockerd_, nullptr);
    agent_ = StartAgent();
  }

  void TearDown() override {
    // Leave no instance behind for the next test.
    if (agent_.stub == nullptr) return;
    grpc::ClientContext ctx;
    novadock::v1::ListInstancesResponse list;
    if (!agent_.stub->ListInstances(&ctx, {}, &list).ok()) return;
    for (const Instance& i : list.instances()) {
      novadock::v1::DeleteInstanceRequest del;
      del.set_uuid(i.uuid());
      del.set_grace_period_seconds(1);
      grpc::ClientContext dctx;
      novadock::v1::DeleteInstanceResponse resp;
      EXPECT_TRUE(agent_.stub->DeleteInstance(&dctx, del, &resp).ok());
    }
  }

  AgentUnderTest StartAgent() {
    AgentUnderTest a;
    CurlDockerApi::Options options;
    options.host = dockerd_->host();
    auto docker = CurlDockerApi::Create(options);
    EXPECT_TRUE(docker.ok()) << docker.status();
    if (!docker.ok()) return a;
    a.docker = *std::move(docker);
    AgentServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.runner.node_name = kNode;
    server_options.runner.default_grace = absl::Seconds(2);
    server_options.runner.config_drive_dir = ConfigDriveDir();
    server_options.health_interval = absl::Milliseconds(200);
    auto server = AgentServer::Start(*a.docker, clock_, server_options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return a;
    a.server = *std::move(server);
    a.stub = Agent::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", a.server->port()),
                            grpc::InsecureChannelCredentials()));
    return a;
  }

  std::string ConfigDriveDir() const {
    return dockerd_->dir() + "/config-drive";
  }

  static CreateInstanceRequest Request(const std::string& uuid) {
    CreateInstanceRequest r;
    r.set_uuid(uuid);
    r.set_name("instance-0000002a");
    r.mutable_image()->set_name(novadock::testing::kBusyboxImage);
    r.mutable_flavor()->set_name("m1.tiny");
    r.mutable_flavor()->set_memory_mb(64);
    r.mutable_flavor()->set_vcpus(1);
    r.add_command("/bin/sh");
    r.add_command("-c");
    // PID 1 is a shell loop: it ignores SIGTERM, so stop must fall back to
    // a kill after the grace period.
    r.add_command(
        "echo hello from $GREETING; echo to-stderr >&2; "
        "while true; do sleep 1; done");
    (*r.mutable_env())["GREETING"] = "novadock";
    return r;
  }

  grpc::Status Create(const CreateInstanceRequest& r, Instance* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    return agent_.stub->CreateInstance(&ctx, r, out);
  }

  template <typename Method, typename Req, typename Resp>
  grpc::Status Call(Method method, const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    return (agent_.stub.get()->*method)(&ctx, req, resp);
  }

  static novadock::v1::InstanceRequest Ref(const std::string& uuid) {
    novadock::v1::InstanceRequest r;
    r.set_uuid(uuid);
    return r;
  }

  // `docker inspect` through Docker's API, not the agent's client.
  rapidjson::Document RawInspect(const std::string& name) {
    rapidjson::Document doc;
    auto body = novadock::testing::RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(novadock::testing::kTestApiPrefix, "/containers/", name,
                     "/json"));
    EXPECT_TRUE(body.ok()) << body.status();
    if (body.ok()) doc.Parse(body->c_str());
    return doc;
  }

  int CountContainersNamed(const std::string& name) {
    auto body = novadock::testing::RawDockerRequest(
        dockerd_->host(), "GET",
        absl::StrCat(novadock::testing::kTestApiPrefix,
                     "/containers/json?all=1"));
    EXPECT_TRUE(body.ok()) << body.status();
    rapidjson::Document doc;
    doc.Parse(body->c_str());
    int n = 0;
    for (const auto& c : doc.GetArray()) {
      for (const auto& nm : c["Names"].GetArray()) {
        if (std::string(nm.GetString()) == "/" + name) ++n;
      }
    }
    return n;
  }

  // Reads the console until it contains `text` (bounded: ~10 s).
  std::string AwaitConsole(const std::string& uuid, const std::string& text) {
    novadock::v1::GetConsoleOutputRequest req;
    req.set_uuid(uuid);
    novadock::v1::GetConsoleOutputResponse resp;
    for (int i = 0; i < 100; ++i) {
      EXPECT_TRUE(Call(&Agent::Stub::GetConsoleOutput, req, &resp).ok());
      if (resp.output().find(text) != std::string::npos) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return resp.output();
  }

  RealClock clock_;
  DockerdFixture* dockerd_ = nullptr;
  AgentUnderTest agent_;
};

TEST_F(AgentIntegrationTest, FullLifecycle) {
  const std::string uuid = Uuid(1);
  Instance inst;
  ASSERT_TRUE(Create(Request(uuid), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
  EXPECT_GT(inst.started_unix_nanos(), 0);
  EXPECT_THAT(AwaitConsole(uuid, "hello from novadock"),
              HasSubstr("hello from novadock"));
  EXPECT_THAT(AwaitConsole(uuid, "to-stderr"), HasSubstr("to-stderr"));

  ASSERT_TRUE(Call(&Agent::Stub::PauseInstance, Ref(uuid), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_PAUSED);
  ASSERT_TRUE(Call(&Agent::Stub::UnpauseInstance, Ref(uuid), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);

  novadock::v1::InstanceStats stats;
  ASSERT_TRUE(Call(&Agent::Stub::GetInstanceStats, Ref(uuid), &stats).ok());
  EXPECT_GT(stats.memory_limit_bytes(), 0u);
  EXPECT_GE(stats.pids_current(), 1u);

  // Stop a paused instance whose PID 1 ignores SIGTERM: unpause, then the
  // grace period, then kill.
  ASSERT_TRUE(Call(&Agent::Stub::PauseInstance, Ref(uuid), &inst).ok());
  novadock::v1::StopInstanceRequest stop;
  stop.set_uuid(uuid);
  stop.set_grace_period_seconds(1);
  ASSERT_TRUE(Call(&Agent::Stub::StopInstance, stop, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_SHUTDOWN);
  EXPECT_EQ(inst.exit_code(), 137);

  ASSERT_TRUE(Call(&Agent::Stub::StartInstance, Ref(uuid), &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);
  ASSERT_TRUE(Call(&Agent::Stub::RebootInstance, stop, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);

  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(uuid);
  del.set_grace_period_seconds(1);
  novadock::v1::DeleteInstanceResponse resp;
  ASSERT_TRUE(Call(&Agent::Stub::DeleteInstance, del, &resp).ok());
  EXPECT_TRUE(resp.existed());
  EXPECT_EQ(CountContainersNamed("nova-" + uuid), 0);
  EXPECT_EQ(Call(&Agent::Stub::GetInstance, Ref(uuid), &inst).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Delete of a missing instance succeeds.
  ASSERT_TRUE(Call(&Agent::Stub::DeleteInstance, del, &resp).ok());
  EXPECT_FALSE(resp.existed());
}

TEST_F(AgentIntegrationTest, LimitsLabelsAndSafeDefaultsAsDockerSeesThem) {
  const std::string uuid = Uuid(2);
  CreateInstanceRequest r = Request(uuid);
  r.mutable_flavor()->set_vcpus(64);  // Far more than this host: overcommit.
  Instance inst;
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_RUNNING);

  rapidjson::Document doc = RawInspect("nova-" + uuid);
  ASSERT_TRUE(doc.IsObject());
  const auto& hc = doc["HostConfig"];
  EXPECT_EQ(hc["Memory"].GetInt64(), 64 << 20);
  EXPECT_EQ(hc["MemorySwap"].GetInt64(), 64 << 20);
  EXPECT_EQ(hc["Privileged"].GetBool(), false);
  EXPECT_EQ(std::string(hc["NetworkMode"].GetString()), "none");
  EXPECT_EQ(hc["CpuShares"].GetInt64(), 64 * 1024);
  const int64_t ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(hc["NanoCpus"].GetInt64(), ncpu * 1'000'000'000);
  EXPECT_EQ(hc["PidsLimit"].GetInt64(), 1024);
  EXPECT_TRUE(hc["Binds"].IsNull() || hc["Binds"].Empty());
  EXPECT_EQ(std::string(hc["PidMode"].GetString()), "");
  EXPECT_EQ(std::string(hc["IpcMode"].GetString()), "private");
  ASSERT_TRUE(hc["SecurityOpt"].IsArray());
  EXPECT_EQ(std::string(hc["SecurityOpt"][0].GetString()), "no-new-privileges");
  EXPECT_EQ(std::string(hc["LogConfig"]["Type"].GetString()), "json-file");
  const auto& labels = doc["Config"]["Labels"];
  EXPECT_EQ(std::string(labels["org.openstack.nova.instance-uuid"].GetString()),
            uuid);
  EXPECT_EQ(std::string(labels["org.openstack.nova.instance-name"].GetString()),
            "instance-0000002a");
  EXPECT_EQ(std::string(labels["io.novadock.node"].GetString()), kNode);
  EXPECT_EQ(std::string(labels["io.novadock.image"].GetString()),
            novadock::testing::kBusyboxImage);
  EXPECT_EQ(std::string(labels["io.novadock.flavor"].GetString()), "m1.tiny");
}

TEST_F(AgentIntegrationTest, ConfigDriveAndStaticAddressAsDockerSeesThem) {
  // A user-defined network of this test's own (internal: no way out).
  const std::string net = absl::StrCat("nd-it-", getpid());
  auto created = novadock::testing::RawDockerRequest(
      dockerd_->host(), "POST",
      absl::StrCat(novadock::testing::kTestApiPrefix, "/networks/create"),
      absl::StrCat(R"({"Name":")", net,
                   R"(","Driver":"bridge","Internal":true,)",
                   R"("IPAM":{"Config":[{"Subnet":"10.213.77.0/24"}]}})"));
  ASSERT_TRUE(created.ok()) << created.status();
  struct NetworkCleanup {
    DockerdFixture* dockerd;
    std::string name;
    ~NetworkCleanup() {
      (void)novadock::testing::RawDockerRequest(
          dockerd->host(), "DELETE",
          absl::StrCat(novadock::testing::kTestApiPrefix, "/networks/", name));
    }
  } cleanup{dockerd_, net};

  const std::string uuid = Uuid(7);
  CreateInstanceRequest r = Request(uuid);
  (*r.mutable_config_drive())["openstack/latest/user_data"] = "hello-user-data";
  (*r.mutable_config_drive())["openstack/latest/meta_data.json"] =
      absl::StrCat(R"({"uuid": ")", uuid, R"("})");
  r.mutable_network()->set_name(net);
  r.mutable_network()->set_ipv4_address("10.213.77.23");
  r.mutable_network()->set_mac_address("fa:16:3e:0a:0b:0c");
  r.clear_command();
  r.add_command("/bin/sh");
  r.add_command("-c");
  r.add_command(
      "cat $NOVADOCK_CONFIG_DRIVE/openstack/latest/user_data; echo; "
      "touch $NOVADOCK_CONFIG_DRIVE/x || echo drive-is-read-only; "
      "cat /sys/class/net/eth0/address; echo done; "
      "while true; do sleep 1; done");
  Instance inst;
  grpc::Status s = Create(r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.config_drive_mount(), "/var/lib/cloud/seed/config_drive");
  ASSERT_EQ(inst.addresses_size(), 1);
  EXPECT_EQ(inst.addresses(0).network(), net);
  EXPECT_EQ(inst.addresses(0).ipv4_address(), "10.213.77.23");

  const std::string console = AwaitConsole(uuid, "done");
  EXPECT_THAT(console, HasSubstr("hello-user-data"));
  EXPECT_THAT(console, HasSubstr("drive-is-read-only"));
  EXPECT_THAT(console, HasSubstr("fa:16:3e:0a:0b:0c"));

  rapidjson::Document doc = RawInspect("nova-" + uuid);
  ASSERT_TRUE(doc.IsObject());
  ASSERT_EQ(doc["Mounts"].Size(), 1u);
  EXPECT_FALSE(doc["Mounts"][0]["RW"].GetBool());
  EXPECT_EQ(std::string(doc["Mounts"][0]["Source"].GetString()),
            absl::StrCat(ConfigDriveDir(), "/", uuid));
  EXPECT_EQ(std::string(doc["HostConfig"]["NetworkMode"].GetString()), net);
  EXPECT_EQ(
      std::string(doc["NetworkSettings"]["Networks"][net.c_str()]["IPAddress"]
                      .GetString()),
      "10.213.77.23");
  EXPECT_FALSE(doc["HostConfig"]["Privileged"].GetBool());

  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(uuid);
  del.set_grace_period_seconds(1);
  novadock::v1::DeleteInstanceResponse resp;
  ASSERT_TRUE(Call(&Agent::Stub::DeleteInstance, del, &resp).ok());
  EXPECT_FALSE(
      std::filesystem::exists(absl::StrCat(ConfigDriveDir(), "/", uuid)));
}

TEST_F(AgentIntegrationTest, ConcurrentIdenticalCreatesMakeOneContainer) {
  const std::string uuid = Uuid(3);
  absl::Mutex mu;
  std::vector<std::string> ids;
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      Instance inst;
      grpc::Status s = Create(Request(uuid), &inst);
      absl::MutexLock lock(&mu);
      ids.push_back(s.ok() ? inst.container_id()
                           : "error: " + s.error_message());
    });
  }
  for (auto& t : callers) t.join();
  ASSERT_EQ(ids.size(), 8u);
  for (const auto& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(CountContainersNamed("nova-" + uuid), 1);
}

TEST_F(AgentIntegrationTest, MissingImageAndBadCommandAreClearErrors) {
  CreateInstanceRequest r = Request(Uuid(4));
  r.mutable_image()->set_name("not-loaded:1");
  Instance inst;
  grpc::Status s = Create(r, &inst);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("not-loaded:1"));

  r = Request(Uuid(5));
  r.clear_command();
  r.add_command("/no/such/binary");
  s = Create(r, &inst);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("/no/such/binary"));
  EXPECT_EQ(CountContainersNamed("nova-" + Uuid(5)), 0);
}

TEST_F(AgentIntegrationTest, AgentRestartStillListsAndControlsInstances) {
  const std::string uuid = Uuid(6);
  Instance inst;
  ASSERT_TRUE(Create(Request(uuid), &inst).ok());
  agent_ = AgentUnderTest();  // The old agent is gone entirely.
  agent_ = StartAgent();
  novadock::v1::ListInstancesResponse list;
  ASSERT_TRUE(Call(&Agent::Stub::ListInstances,
                   novadock::v1::ListInstancesRequest(), &list)
                  .ok());
  ASSERT_EQ(list.instances_size(), 1);
  EXPECT_EQ(list.instances(0).uuid(), uuid);
  EXPECT_EQ(list.instances(0).name(), "instance-0000002a");
  EXPECT_EQ(list.instances(0).power_state(), PowerState::POWER_STATE_RUNNING);
  novadock::v1::StopInstanceRequest stop;
  stop.set_uuid(uuid);
  stop.set_grace_period_seconds(1);
  ASSERT_TRUE(Call(&Agent::Stub::StopInstance, stop, &inst).ok());
  EXPECT_EQ(inst.power_state(), PowerState::POWER_STATE_SHUTDOWN);
  novadock::v1::Node node;
  ASSERT_TRUE(
      Call(&Agent::Stub::GetNode, novadock::v1::GetNodeRequest(), &node).ok());
  EXPECT_EQ(node.usage().instances(), 1);
  EXPECT_EQ(node.usage().memory_mb(), 64);
  EXPECT_GT(node.capacity().memory_mb(), 0);
  EXPECT_THAT(node.docker_version(), HasSubstr("20.10"));
}

// Reads events until one of `type` for `uuid` (bounded by the context's
// deadline). Returns the types seen, in order.
std::vector<novadock::v1::EventType> ReadUntil(
    grpc::ClientReader<novadock::v1::InstanceEvent>* reader,
    const std::string& uuid, novadock::v1::EventType type) {
  std::vector<novadock::v1::EventType> seen;
  novadock::v1::InstanceEvent event;
  while (reader->Read(&event)) {
    if (event.uuid() != uuid) continue;
    seen.push_back(event.type());
    if (event.type() == type) break;
  }
  return seen;
}

TEST_F(AgentIntegrationTest, EventsForStartStopDieAndAcrossDockerdRestart) {
  const std::string uuid = Uuid(7);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(120));
  novadock::v1::WatchEventsRequest req;
  req.set_since_unix_nanos(absl::ToUnixNanos(absl::Now()));
  auto reader = agent_.stub->WatchEvents(&ctx, req);

  Instance inst;
  ASSERT_TRUE(Create(Request(uuid), &inst).ok());
  EXPECT_THAT(ReadUntil(reader.get(), uuid, novadock::v1::EVENT_TYPE_STARTED),
              ::testing::ElementsAre(novadock::v1::EVENT_TYPE_STARTED));
  novadock::v1::StopInstanceRequest stop;
  stop.set_uuid(uuid);
  stop.set_grace_period_seconds(1);
  ASSERT_TRUE(Call(&Agent::Stub::StopInstance, stop, &inst).ok());
  EXPECT_THAT(ReadUntil(reader.get(), uuid, novadock::v1::EVENT_TYPE_STOPPED),
              ::testing::ElementsAre(novadock::v1::EVENT_TYPE_DIED,
                                     novadock::v1::EVENT_TYPE_STOPPED));

  // dockerd restarts under the open stream; the stream carries on.
  ASSERT_TRUE(dockerd_->Restart().ok());
  ASSERT_TRUE(Call(&Agent::Stub::StartInstance, Ref(uuid), &inst).ok());
  EXPECT_THAT(ReadUntil(reader.get(), uuid, novadock::v1::EVENT_TYPE_STARTED),
              ::testing::ElementsAre(novadock::v1::EVENT_TYPE_STARTED));
  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(uuid);
  del.set_grace_period_seconds(1);
  novadock::v1::DeleteInstanceResponse resp;
  ASSERT_TRUE(Call(&Agent::Stub::DeleteInstance, del, &resp).ok());
  auto rest = ReadUntil(reader.get(), uuid, novadock::v1::EVENT_TYPE_DELETED);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back(), novadock::v1::EVENT_TYPE_DELETED);
  ctx.TryCancel();
}

// The real binary: refuses a non-loopback listen address without TLS.
TEST(AgentBinaryTest, RefusesPlainTextOffLoopback) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const char* argv[] = {NOVADOCK_AGENT_BINARY, "--node_name=n",
                          "--listen=0.0.0.0:0",
                          "--docker_host=unix:///nonexistent", nullptr};
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace novadock::agent
