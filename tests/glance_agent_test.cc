// The agent with Glance download on, against a real glance-api and a real
// dockerd: an image that is only in Glance boots an instance; it is
// downloaded once into the image directory, verified, loaded and tagged.
#include <curl/curl.h>
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "glance-loader/glance_client.h"
#include "glance-loader/glance_fetcher.h"
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

const bool kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

constexpr char kDockerTag[] = "novadock-it:from-glance";

TEST(GlanceAgentTest, InstanceBootsFromAnImageOnlyInGlance) {
  novadock::testing::DockerdFixture* dockerd =
      novadock::testing::SharedDockerd();
  ASSERT_NE(dockerd, nullptr);
  novadock::testing::GlanceFixture* glance = novadock::testing::SharedGlance();
  ASSERT_NE(glance, nullptr);

  // A docker-save archive of a fresh image, then the image leaves Docker.
  ASSERT_TRUE(novadock::testing::ImportBusyboxImage(*dockerd, kDockerTag).ok());
  auto archive = RawDockerRequest(
      dockerd->host(), "GET",
      absl::StrCat(kTestApiPrefix, "/images/", kDockerTag, "/get"));
  ASSERT_TRUE(archive.ok()) << archive.status();
  ASSERT_TRUE(RawDockerRequest(dockerd->host(), "DELETE",
                               absl::StrCat(kTestApiPrefix, "/images/",
                                            kDockerTag, "?force=1"))
                  .ok());
  auto glance_id = glance->CreateImage("A Glance name, not a Docker one");
  ASSERT_TRUE(glance_id.ok()) << glance_id.status();
  ASSERT_TRUE(glance->UploadImage(*glance_id, *archive).ok());

  const std::string image_dir =
      absl::StrCat(::testing::TempDir(), "/nd-glance-agent-", getpid());
  std::filesystem::remove_all(image_dir);
  CurlDockerApi::Options docker_options;
  docker_options.host = dockerd->host();
  auto docker = CurlDockerApi::Create(docker_options);
  ASSERT_TRUE(docker.ok()) << docker.status();
  loader::CurlGlanceClient::Options glance_options;
  glance_options.endpoint = glance->endpoint();
  auto client = loader::CurlGlanceClient::Create(glance_options);
  ASSERT_TRUE(client.ok()) << client.status();
  loader::FetcherOptions fetcher_options;
  fetcher_options.image_dir = image_dir;
  loader::GlanceFetcher fetcher(**client, fetcher_options);

  RealClock clock;
  AgentServerOptions options;
  options.listen = "127.0.0.1:0";
  options.runner.node_name = "compute-docker-glance";
  options.runner.image_dir = image_dir;
  options.glance_fetch = [&fetcher](const std::string& id,
                                    const std::string& token) {
    return fetcher.Fetch(id, token);
  };
  auto server = AgentServer::Start(**docker, clock, options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = novadock::v1::Agent::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));

  novadock::v1::CreateInstanceRequest r;
  r.set_uuid("20000000-0000-4000-8000-000000000001");
  r.set_name("instance-000000b1");
  r.mutable_image()->set_glance_id(*glance_id);
  r.mutable_image()->set_name("A Glance name, not a Docker one");
  r.mutable_flavor()->set_memory_mb(32);
  r.mutable_flavor()->set_vcpus(1);
  r.add_command("/bin/sh");
  r.add_command("-c");
  r.add_command("sleep 1000");
  r.set_auth_token("token-never-logged");
  novadock::v1::Instance inst;
  grpc::ClientContext ctx;
  grpc::Status s = stub->CreateInstance(&ctx, r, &inst);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(inst.power_state(), novadock::v1::POWER_STATE_RUNNING);
  EXPECT_EQ(inst.image(), *glance_id);
  EXPECT_TRUE(std::filesystem::exists(
      absl::StrCat(image_dir, "/", *glance_id, ".tar")));
  EXPECT_TRUE(RawDockerRequest(
                  dockerd->host(), "GET",
                  absl::StrCat(kTestApiPrefix,
                               "/images/novadock/glance:", *glance_id, "/json"))
                  .ok());

  grpc::ClientContext dctx;
  novadock::v1::DeleteInstanceRequest del;
  del.set_uuid(r.uuid());
  del.set_grace_period_seconds(1);
  novadock::v1::DeleteInstanceResponse dresp;
  EXPECT_TRUE(stub->DeleteInstance(&dctx, del, &dresp).ok());
  server->reset();
  std::filesystem::remove_all(image_dir);
}

}  // namespace
}  // namespace novadock::agent
