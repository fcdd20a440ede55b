// Mutual TLS end to end. Certificates come from deployment/make-certs.sh (and
// openssl itself for an expired one), made once in a temporary directory.
// The agent's gRPC server runs with TLS on 127.0.0.1:0 over a FakeDockerApi
// (TLS is the subject here); CurlDockerApi talks to a private dockerd that
// listens on tcp://127.0.0.1 with --tlsverify. Each refusal cause is its own
// case, and the message a refusal carries is printed for docs/tls.md. Both
// servers (agent and controller) are checked for every client refusal, and
// the agent's allow-list of client names (--tls_allowed_client_names).
#include <curl/curl.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/agent_server.h"
#include "agent/curl_docker_api.h"
#include "agent/fake_docker_api.h"
#include "controller/agent_connector.h"
#include "controller/controller_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "novadock/v1/controller.grpc.pb.h"
#include "proto/common/client_identity.h"
#include "proto/common/clock.h"
#include "proto/common/server_security.h"
#include "tests/dockerd_fixture.h"

extern char** environ;

namespace novadock::agent {
namespace {

using novadock::testing::DockerdFixture;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNode[] = "compute-docker-tls";
constexpr char kOpenssl[] = "/usr/bin/openssl";
constexpr int kProcessTimeoutSeconds = 60;
constexpr int kRpcTimeoutSeconds = 10;

const bool kCurlReady = [] {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return true;
}();

// The repository root, from this file's path (tests/tls_test.cc).
std::string RepoRoot() {
  absl::string_view file = __FILE__;
  absl::ConsumeSuffix(&file, "tests/tls_test.cc");
  absl::ConsumeSuffix(&file, "/");
  return file.empty() ? "." : std::string(file);
}

// Runs args[0] (an absolute path) with `args` by fork+execve, no shell, with
// every fd above 2 closed. OK if it exits 0 within kProcessTimeoutSeconds;
// else INTERNAL with its combined stdout and stderr.
absl::Status Run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork");
  if (pid == 0) {  // Async-signal-safe calls only.
    if (dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0) _exit(126);
    close_range(3, ~0U, 0);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  char buf[4096];
  int idle_seconds = 0;
  while (idle_seconds < kProcessTimeoutSeconds) {
    pollfd p = {fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, 1000);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      ++idle_seconds;
      continue;
    }
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (idle_seconds >= kProcessTimeoutSeconds) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      absl::StrJoin(args, " "), ": wait status ", status, ": ", output));
}

absl::Status WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write ", path));
  return absl::OkStatus();
}

// The certificates of the tests, under one temporary directory D:
//   D/pki    the deployment CA; servers "agent" (IP:127.0.0.1), "dockerd"
//            (IP:127.0.0.1), "wrong-name" (DNS:wrong.example only); clients
//            "controller", "agent-docker".
//   D/other  another CA and its client "intruder".
//   D/expired/expired{,-key}.pem  a client of D/pki valid only in 2020.
//   D/garbage.pem  not PEM.
struct TestPki {
  std::string dir;
  std::string Pki(absl::string_view name) const {
    return absl::StrCat(dir, "/pki/", name);
  }
  std::string Other(absl::string_view name) const {
    return absl::StrCat(dir, "/other/", name);
  }
  TlsFiles Files(absl::string_view ca, absl::string_view name) const {
    return {std::string(ca), Pki(absl::StrCat(name, ".pem")),
            Pki(absl::StrCat(name, "-key.pem"))};
  }
};
TestPki* pki = nullptr;  // Set by PkiEnvironment::SetUp.

// A client certificate signed by D/pki/ca.pem that expired in 2020: `openssl
// x509 -req` (3.0) cannot back-date, `openssl ca -startdate/-enddate` can.
absl::Status MakeExpiredClient(const std::string& dir) {
  const std::string d = dir + "/expired";
  std::filesystem::create_directories(d);
  const std::string cnf = d + "/ca.cnf";
  absl::Status s = WriteFile(
      cnf,
      absl::StrCat("[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = ", d,
                   "/index.txt\nserial = ", d, "/serial\nnew_certs_dir = ", d,
                   "\npolicy = policy_any\ndefault_md = sha256\n"
                   "unique_subject = no\n[policy_any]\ncommonName = "
                   "supplied\n[client_ext]\nbasicConstraints = "
                   "critical,CA:FALSE\nkeyUsage = critical,"
                   "digitalSignature\nextendedKeyUsage = clientAuth\n"
                   "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n"
                   "CN = expired\n"));
  if (s.ok()) s = WriteFile(d + "/index.txt", "");
  if (s.ok()) s = WriteFile(d + "/serial", "1000\n");
  if (s.ok()) {
    s = Run({kOpenssl, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", d + "/expired-key.pem"});
  }
  if (s.ok()) {
    s = Run({kOpenssl, "req", "-new", "-config", cnf, "-key",
             d + "/expired-key.pem", "-out", d + "/expired.csr"});
  }
  if (s.ok()) {
    s = Run({kOpenssl,
             "ca",
             "-batch",
             "-config",
             cnf,
             "-cert",
             dir + "/pki/ca.pem",
             "-keyfile",
             dir + "/pki/ca-key.pem",
             "-in",
             d + "/expired.csr",
             "-out",
             d + "/expired.pem",
             "-notext",
             "-extensions",
             "client_ext",
             "-startdate",
             "20200101000000Z",
             "-enddate",
             "20200102000000Z"});
  }
  return s;
}

class PkiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/ndtls.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    pki = new TestPki{tmpl};
    const std::string script = RepoRoot() + "/deployment/make-certs.sh";
    const std::string p = pki->dir + "/pki";
    const std::string o = pki->dir + "/other";
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {p, "ca"},
             {p, "server", "agent", "IP:127.0.0.1"},
             {p, "server", "dockerd", "IP:127.0.0.1"},
             {p, "server", "wrong-name", "DNS:wrong.example"},
             {p, "client", "controller"},
             {p, "client", "agent-docker"},
             {o, "ca"},
             {o, "client", "intruder"}}) {
      args.insert(args.begin(), script);
      absl::Status s = Run(args);
      ASSERT_TRUE(s.ok()) << s;
    }
    absl::Status s = MakeExpiredClient(pki->dir);
    ASSERT_TRUE(s.ok()) << s;
    s = WriteFile(pki->dir + "/garbage.pem", "not a certificate\n");
    ASSERT_TRUE(s.ok()) << s;
  }
  void TearDown() override {
    if (pki == nullptr) return;
    std::error_code ignored;
    std::filesystem::remove_all(pki->dir, ignored);
    delete pki;
    pki = nullptr;
  }
};

[[maybe_unused]] ::testing::Environment* const pki_environment =
    ::testing::AddGlobalTestEnvironment(new PkiEnvironment);

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> data = ReadSmallFile("test file", path);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.value_or("");
}

// Prints what a refusal looked like, for the operator docs.
template <typename S>
void Observed(const S& status) {
  std::fprintf(stderr, "[observed] %s: %s\n",
               ::testing::UnitTest::GetInstance()->current_test_info()->name(),
               status.ToString().c_str());
}

void Observed(const grpc::Status& status) {
  std::fprintf(stderr, "[observed] %s: code %d: %s\n",
               ::testing::UnitTest::GetInstance()->current_test_info()->name(),
               static_cast<int>(status.error_code()),
               status.error_message().c_str());
}

// ---- The agent's gRPC server with TLS ---------------------------------------

class AgentTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(pki, nullptr);
    DockerInfo info;
    info.name = "host";
    info.ncpu = 2;
    info.mem_total_bytes = int64_t{8} << 30;
    info.docker_root_dir = "/";
    docker_.SetInfoForTest(info);
  }

  // Serves on 127.0.0.1:0 with server certificate D/pki/<cert_name>.pem,
  // admitting only clients named `allowed` if given.
  void StartServer(absl::string_view cert_name,
                   std::vector<std::string> allowed = {}) {
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls = pki->Files(pki->Pki("ca.pem"), cert_name);
    options.tls_allowed_client_names = std::move(allowed);
    options.runner.node_name = kNode;
    auto server = AgentServer::Start(docker_, clock_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // GetNode over TLS trusting `ca`, with the client certificate `cert`/`key`
  // (none if empty), checking the server's name against `name_override`
  // (default: the target's host, 127.0.0.1).
  grpc::Status GetNode(const std::string& ca, const std::string& cert,
                       const std::string& key,
                       const std::string& name_override = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(ca);
    if (!cert.empty()) {
      ssl.pem_cert_chain = Slurp(cert);
      ssl.pem_private_key = Slurp(key);
    }
    return GetNodeWith(grpc::SslCredentials(ssl), name_override);
  }

  grpc::Status GetNodeWith(std::shared_ptr<grpc::ChannelCredentials> creds,
                           const std::string& name_override = "") {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (!name_override.empty()) args.SetSslTargetNameOverride(name_override);
    auto stub = novadock::v1::Agent::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()), creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(kRpcTimeoutSeconds));
    novadock::v1::GetNodeRequest request;
    node_.Clear();
    return stub->GetNode(&ctx, request, &node_);
  }

  FakeClock clock_;
  FakeDockerApi docker_{clock_};
  std::unique_ptr<AgentServer> server_;
  novadock::v1::Node node_;
};

TEST_F(AgentTlsTest, ClientWithCaSignedCertificateCallsGetNode) {
  StartServer("agent");
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
                           pki->Pki("controller-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(node_.name(), kNode);
  // The same through the DNS name in the certificate.
  s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
              pki->Pki("controller-key.pem"), "agent");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AgentTlsTest, ClientCredentialsFromMakeChannelCredentialsWork) {
  StartServer("agent");
  auto creds = MakeChannelCredentials(
      "127.0.0.1:1", pki->Files(pki->Pki("ca.pem"), "controller"));
  ASSERT_TRUE(creds.ok()) << creds.status();
  grpc::Status s = GetNodeWith(*creds);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AgentTlsTest, ClientWithoutCertificateIsRefused) {
  StartServer("agent");
  grpc::Status s = GetNode(pki->Pki("ca.pem"), "", "");
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentTlsTest, PlainTextClientIsRefused) {
  StartServer("agent");
  grpc::Status s = GetNodeWith(grpc::InsecureChannelCredentials());
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentTlsTest, ClientCertificateFromAnotherCaIsRefused) {
  StartServer("agent");
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Other("intruder.pem"),
                           pki->Other("intruder-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentTlsTest, ExpiredClientCertificateIsRefused) {
  StartServer("agent");
  grpc::Status s =
      GetNode(pki->Pki("ca.pem"), pki->dir + "/expired/expired.pem",
              pki->dir + "/expired/expired-key.pem");
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentTlsTest, ServerCertificateWithWrongNameIsRefusedByClient) {
  StartServer("wrong-name");
  // Its SANs are DNS:wrong-name and DNS:wrong.example, not 127.0.0.1.
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
                           pki->Pki("controller-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
              pki->Pki("controller-key.pem"), "agent");
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Only the name was wrong: expecting a name it carries works.
  s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
              pki->Pki("controller-key.pem"), "wrong.example");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AgentTlsTest, ServerFromAnotherCaIsRefusedByClient) {
  StartServer("agent");
  grpc::Status s = GetNode(pki->Other("ca.pem"), pki->Pki("controller.pem"),
                           pki->Pki("controller-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// ---- The agent admits only the controller's identity -----------------------
// --tls_allowed_client_names: the handshake still accepts any certificate of
// the CA; the call is refused before it reaches the service.

TEST_F(AgentTlsTest, AllowListAdmitsTheAllowedClient) {
  StartServer("agent", {"controller"});
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
                           pki->Pki("controller-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(node_.name(), kNode);
}

TEST_F(AgentTlsTest, AllowListRefusesAnotherClientOfTheSameCa) {
  StartServer("agent", {"controller"});
  ::testing::internal::CaptureStderr();
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Pki("agent-docker.pem"),
                           pki->Pki("agent-docker-key.pem"));
  const std::string log = ::testing::internal::GetCapturedStderr();
  Observed(s);
  EXPECT_THAT(s.error_code(), AnyOf(grpc::StatusCode::PERMISSION_DENIED,
                                    grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_THAT(s.error_message(), HasSubstr("CN=agent-docker"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("controller")));  // The list.
  // The agent says whom it refused, and nothing secret.
  EXPECT_THAT(log, HasSubstr("refused client CN=agent-docker"));
  EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(log, Not(HasSubstr("BEGIN CERTIFICATE")));
  std::fprintf(stderr, "[observed] agent log: %s", log.c_str());
  // A retrying client does not flood the log: refusals 2..3 log once more.
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 2; ++i) {
    s = GetNode(pki->Pki("ca.pem"), pki->Pki("agent-docker.pem"),
                pki->Pki("agent-docker-key.pem"));
    EXPECT_FALSE(s.ok());
  }
  const std::string again = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(again, HasSubstr("(2 calls)"));
  EXPECT_THAT(again, Not(HasSubstr("(3 calls)")));
  // The allowed client is still served.
  s = GetNode(pki->Pki("ca.pem"), pki->Pki("controller.pem"),
              pki->Pki("controller-key.pem"));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(AgentTlsTest, ServerCertificateUsedAsClientIsRefused) {
  // D/pki/agent.pem is a server certificate (serverAuth only), CN=agent:
  // the handshake refuses it as a client certificate even when its name is
  // allowed (ClientNameAuthorizer checks the usage again, see the unit test
  // below).
  StartServer("agent", {"agent"});
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Pki("agent.pem"),
                           pki->Pki("agent-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AgentTlsTest, AllowListStillRefusesAnotherCa) {
  // The other CA's client is named like an allowed one; the handshake fails.
  StartServer("agent", {"intruder"});
  grpc::Status s = GetNode(pki->Pki("ca.pem"), pki->Other("intruder.pem"),
                           pki->Other("intruder-key.pem"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ClientNameAuthorizerTest, MatchesCommonNameOrAltNameOfClientCertificates) {
  ClientNameAuthorizer authorizer({"novadock-controller", "ops"}, "test");
  ClientIdentity id;
  id.client_usage = true;
  id.common_name = "novadock-controller";
  EXPECT_TRUE(authorizer.Check(id).ok());
  id.common_name = "someone";
  id.alt_names = {"x.example", "ops"};
  EXPECT_TRUE(authorizer.Check(id).ok());
  id.alt_names = {"x.example", "OPS", "ops.example"};  // Exact names only.
  EXPECT_EQ(authorizer.Check(id).code(), absl::StatusCode::kPermissionDenied);
  id.common_name = "novadock-controller";
  id.client_usage = false;  // A server certificate.
  EXPECT_EQ(authorizer.Check(id).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(authorizer.Check(ClientIdentity{}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(authorizer.Check(ClientIdentity{}).message(),
              HasSubstr("no client certificate"));
  // Names are printed escaped: a certificate cannot forge log lines.
  id.client_usage = true;
  id.common_name = "evil\nI1123 forged";
  id.alt_names = {};
  EXPECT_THAT(authorizer.Check(id).message(), HasSubstr("evil\\n"));
}

TEST(ServerCredentialsTest, AllowListNeedsTlsAndValidNames) {
  ASSERT_NE(pki, nullptr);
  auto plain = MakeServerCredentials("127.0.0.1:0", TlsFiles{}, {"controller"});
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plain.status().message(), HasSubstr("need mutual TLS"));
  Observed(plain.status());
  const TlsFiles tls = pki->Files(pki->Pki("ca.pem"), "agent");
  for (const char* bad : {"", "a b", "a,b", "../x", "\n"}) {
    auto creds = MakeServerCredentials("127.0.0.1:0", tls, {"ok", bad});
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(creds.status().message(), HasSubstr("allowed client name"));
  }
  EXPECT_TRUE(MakeServerCredentials("127.0.0.1:0", tls, {"controller"}).ok());
}

// The flag on the real binary: an allow-list without TLS stops start-up.
TEST(AgentBinaryTest, AllowListWithoutTlsRefusesToStart) {
  absl::Status s = novadock::agent::Run(
      {NOVADOCK_AGENT_BINARY, "--node_name=n", "--listen=127.0.0.1:0",
       "--tls_allowed_client_names=novadock-controller",
       "--image_dir=/nonexistent/novadock-images"});
  Observed(s);
  EXPECT_THAT(s.message(), HasSubstr("wait status 512"));  // Exit status 2.
  EXPECT_THAT(s.message(), HasSubstr("need mutual TLS"));
}

// ---- Servers refuse to start off loopback without certificates -------------

TEST(ServerStartTest, AgentOffLoopbackWithoutTlsRefusesToStart) {
  FakeClock clock;
  FakeDockerApi docker(clock);
  AgentServerOptions options;
  options.listen = "0.0.0.0:0";
  options.runner.node_name = kNode;
  auto server = AgentServer::Start(docker, clock, options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("not loopback"));
}

TEST(ServerStartTest, ControllerOffLoopbackWithoutTlsRefusesToStart) {
  RealClock clock;
  controller::GrpcAgentConnector connector{TlsFiles{}};
  controller::ControllerServerOptions options;
  options.listen = "0.0.0.0:0";
  auto server = controller::ControllerServer::Start(connector, clock, options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("not loopback"));
  Observed(server.status());
}

// ---- MakeServerCredentials / MakeChannelCredentials errors ------------------
// Credentials for non-loopback addresses are only built, never used.

TEST(ServerCredentialsTest, NonLoopbackWithoutTlsIsInvalidArgument) {
  for (const char* address :
       {"0.0.0.0:50051", "[::]:50051", "10.0.0.1:50051", "example.com:50051"}) {
    auto server = MakeServerCredentials(address, TlsFiles{});
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
    EXPECT_THAT(server.status().message(), HasSubstr("not loopback"));
    auto channel = MakeChannelCredentials(address, TlsFiles{});
    EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
    EXPECT_THAT(channel.status().message(), HasSubstr("not loopback"));
  }
  Observed(MakeServerCredentials("0.0.0.0:50051", TlsFiles{}).status());
  EXPECT_TRUE(MakeServerCredentials("127.0.0.1:0", TlsFiles{}).ok());
  EXPECT_TRUE(MakeChannelCredentials("[::1]:50051", TlsFiles{}).ok());
}

TEST(ServerCredentialsTest, NonLoopbackWithTlsIsOk) {
  ASSERT_NE(pki, nullptr);
  const TlsFiles tls = pki->Files(pki->Pki("ca.pem"), "agent");
  EXPECT_TRUE(MakeServerCredentials("0.0.0.0:50051", tls).ok());
  EXPECT_TRUE(MakeChannelCredentials("10.0.0.1:50051", tls).ok());
}

TEST(ServerCredentialsTest, SomeButNotAllFilesIsInvalidArgument) {
  ASSERT_NE(pki, nullptr);
  const TlsFiles all = pki->Files(pki->Pki("ca.pem"), "agent");
  for (int mask = 1; mask < 7; ++mask) {
    TlsFiles some;
    if (mask & 1) some.ca_file = all.ca_file;
    if (mask & 2) some.cert_file = all.cert_file;
    if (mask & 4) some.key_file = all.key_file;
    auto creds = MakeServerCredentials("127.0.0.1:0", some);
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument)
        << "mask " << mask;
    EXPECT_THAT(creds.status().message(), HasSubstr("must all be given"));
    if (mask == 1) Observed(creds.status());
  }
}

TEST(ServerCredentialsTest, MissingFileIsAnErrorNamingThePath) {
  ASSERT_NE(pki, nullptr);
  const std::string missing = pki->dir + "/no-such.pem";
  for (int which = 0; which < 3; ++which) {
    TlsFiles tls = pki->Files(pki->Pki("ca.pem"), "agent");
    std::string* field = which == 0   ? &tls.ca_file
                         : which == 1 ? &tls.cert_file
                                      : &tls.key_file;
    *field = missing;
    auto creds = MakeServerCredentials("127.0.0.1:0", tls);
    ASSERT_FALSE(creds.ok()) << which;
    EXPECT_THAT(
        creds.status().code(),
        AnyOf(absl::StatusCode::kNotFound, absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(creds.status().message(), HasSubstr(missing));
    if (which == 0) Observed(creds.status());
  }
}

TEST(ServerCredentialsTest, NonPemFileIsInvalidArgumentNamingTheFile) {
  ASSERT_NE(pki, nullptr);
  const std::string garbage = pki->dir + "/garbage.pem";
  for (int which = 0; which < 3; ++which) {
    TlsFiles tls = pki->Files(pki->Pki("ca.pem"), "agent");
    std::string* field = which == 0   ? &tls.ca_file
                         : which == 1 ? &tls.cert_file
                                      : &tls.key_file;
    *field = garbage;
    auto creds = MakeServerCredentials("127.0.0.1:0", tls);
    EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument)
        << which;
    EXPECT_THAT(creds.status().message(), HasSubstr(garbage));
    Observed(creds.status());
  }
}

TEST(ServerCredentialsTest, KeyNotMatchingCertificateIsInvalidArgument) {
  ASSERT_NE(pki, nullptr);
  TlsFiles tls = pki->Files(pki->Pki("ca.pem"), "agent");
  tls.key_file = pki->Pki("controller-key.pem");
  auto creds = MakeServerCredentials("127.0.0.1:0", tls);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(creds.status().message(), HasSubstr("does not match"));
  EXPECT_THAT(creds.status().message(), HasSubstr(tls.key_file));
  Observed(creds.status());
}

TEST(ServerCredentialsTest, IsLoopbackAddress) {
  for (const char* address :
       {"127.0.0.1:1", "127.3.4.5:1", "[::1]:1", "localhost:1", "unix:/x"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address :
       {"0.0.0.0:1", "[::]:1", "10.0.0.1:1", "example.com:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

// ---- CurlDockerApi to dockerd over tcp:// with mutual TLS -------------------

// A port that was free on 127.0.0.1 a moment ago (dockerd cannot take 0).
absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port <= 0) return absl::InternalError("bind 127.0.0.1:0");
  return port;
}

class DockerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    start_status_ = new absl::Status;
    if (pki == nullptr) {
      *start_status_ = absl::FailedPreconditionError("no certificates");
      return;
    }
    absl::StatusOr<int> port = PickFreePort();
    if (!port.ok()) {
      *start_status_ = port.status();
      return;
    }
    tcp_host_ = new std::string(absl::StrCat("tcp://127.0.0.1:", *port));
    dockerd_ = new DockerdFixture(std::vector<std::string>{
        "-H", *tcp_host_, "--tlsverify", "--tlscacert", pki->Pki("ca.pem"),
        "--tlscert", pki->Pki("dockerd.pem"), "--tlskey",
        pki->Pki("dockerd-key.pem")});
    *start_status_ = dockerd_->Start();
  }

  static void TearDownTestSuite() {
    if (dockerd_ != nullptr) {
      absl::Status s = dockerd_->Stop();
      EXPECT_TRUE(s.ok()) << s;
    }
    delete dockerd_;
    delete tcp_host_;
    delete start_status_;
    dockerd_ = nullptr;
    tcp_host_ = nullptr;
    start_status_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(start_status_->ok()) << *start_status_; }

  static CurlDockerApi::Options Options(const std::string& ca,
                                        const std::string& cert,
                                        const std::string& key) {
    CurlDockerApi::Options options;
    options.host = *tcp_host_;
    options.tls_ca_file = ca;
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    options.request_timeout = absl::Seconds(kRpcTimeoutSeconds);
    return options;
  }

  // Ping with `options`; Create must accept them.
  static absl::Status Ping(CurlDockerApi::Options options) {
    auto docker = CurlDockerApi::Create(std::move(options));
    if (!docker.ok()) return docker.status();
    return (*docker)->Ping();
  }

  static absl::Status* start_status_;
  static std::string* tcp_host_;  // "tcp://127.0.0.1:PORT".
  static DockerdFixture* dockerd_;
};

absl::Status* DockerTlsTest::start_status_ = nullptr;
std::string* DockerTlsTest::tcp_host_ = nullptr;
DockerdFixture* DockerTlsTest::dockerd_ = nullptr;

TEST_F(DockerTlsTest, PingAndVersionWithClientCertificate) {
  auto docker = CurlDockerApi::Create(
      Options(pki->Pki("ca.pem"), pki->Pki("agent-docker.pem"),
              pki->Pki("agent-docker-key.pem")));
  ASSERT_TRUE(docker.ok()) << docker.status();
  absl::Status ping = (*docker)->Ping();
  EXPECT_TRUE(ping.ok()) << ping;
  absl::StatusOr<DockerVersion> version = (*docker)->Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_FALSE(version->api_version.empty());
}

TEST_F(DockerTlsTest, CreateRefusesPartialTlsFiles) {
  const std::string ca = pki->Pki("ca.pem");
  const std::string cert = pki->Pki("agent-docker.pem");
  const std::string key = pki->Pki("agent-docker-key.pem");
  for (const auto& [c, k] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {cert, ""}, {"", key}}) {
    auto docker = CurlDockerApi::Create(Options(ca, c, k));
    EXPECT_EQ(docker.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(docker.status().message(), HasSubstr("set together"));
    if (c.empty() && k.empty()) Observed(docker.status());
  }
}

TEST_F(DockerTlsTest, PlainHttpToTheTlsPortFails) {
  absl::Status s = Ping(Options("", "", ""));
  Observed(s);
  EXPECT_FALSE(s.ok());
}

TEST_F(DockerTlsTest, ClientCertificateFromAnotherCaIsUnavailable) {
  absl::Status s = Ping(Options(pki->Pki("ca.pem"), pki->Other("intruder.pem"),
                                pki->Other("intruder-key.pem")));
  Observed(s);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST_F(DockerTlsTest, ExpiredClientCertificateIsUnavailable) {
  absl::Status s =
      Ping(Options(pki->Pki("ca.pem"), pki->dir + "/expired/expired.pem",
                   pki->dir + "/expired/expired-key.pem"));
  Observed(s);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST_F(DockerTlsTest, DaemonNotSignedByTrustedCaIsUnavailable) {
  absl::Status s =
      Ping(Options(pki->Other("ca.pem"), pki->Pki("agent-docker.pem"),
                   pki->Pki("agent-docker-key.pem")));
  Observed(s);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

// The whole chain over mutual TLS with certificates from make-certs.sh:
// client -> controller (TLS) -> agent (TLS, the controller's client cert).
class ControllerTlsTest : public AgentTlsTest {
 protected:
  // `agent_client`: the certificate the controller shows agents;
  // `server_cert`: the one it shows its own clients.
  // `allowed`: the controller's own client allow-list.
  void StartController(absl::string_view agent_client_dir = "",
                       absl::string_view agent_client = "controller",
                       absl::string_view server_cert = "agent",
                       std::vector<std::string> allowed = {}) {
    const std::string dir = agent_client_dir.empty()
                                ? pki->dir + "/pki"
                                : std::string(agent_client_dir);
    connector_ = std::make_unique<controller::GrpcAgentConnector>(TlsFiles{
        pki->Pki("ca.pem"), absl::StrCat(dir, "/", agent_client, ".pem"),
        absl::StrCat(dir, "/", agent_client, "-key.pem")});
    controller::ControllerServerOptions options;
    options.listen = "127.0.0.1:0";
    // "agent" has IP:127.0.0.1; "wrong-name" does not.
    options.tls = pki->Files(pki->Pki("ca.pem"), server_cert);
    options.tls_allowed_client_names = std::move(allowed);
    options.agents = {{kNode, absl::StrCat("127.0.0.1:", server_->port())}};
    options.check_interval = absl::Hours(1);
    options.registry.failure_threshold = 1;
    auto c =
        controller::ControllerServer::Start(*connector_, real_clock_, options);
    ASSERT_TRUE(c.ok()) << c.status();
    controller_ = *std::move(c);
  }

  // ListNodes as a client with `cert`/`key` (none if empty).
  grpc::Status ListNodes(const std::string& cert, const std::string& key) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(pki->Pki("ca.pem"));
    if (!cert.empty()) {
      ssl.pem_cert_chain = Slurp(cert);
      ssl.pem_private_key = Slurp(key);
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stub = novadock::v1::Controller::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", controller_->port()),
        grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(kRpcTimeoutSeconds));
    nodes_.Clear();
    return stub->ListNodes(&ctx, novadock::v1::ListNodesRequest(), &nodes_);
  }

  RealClock real_clock_;
  std::unique_ptr<controller::GrpcAgentConnector> connector_;
  std::unique_ptr<controller::ControllerServer> controller_;
  novadock::v1::ListNodesResponse nodes_;
};

TEST_F(ControllerTlsTest, ClientControllerAndAgentAllOverMutualTls) {
  StartServer("agent");
  StartController();
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(nodes_.nodes_size(), 1);
  // The controller reached the agent over mTLS: the check passed.
  EXPECT_EQ(nodes_.nodes(0).state(), novadock::v1::NODE_STATE_ACTIVE);
  EXPECT_EQ(nodes_.nodes(0).capacity().vcpus(), 2);
}

TEST_F(ControllerTlsTest, ClientFromAnotherCaIsRefusedByTheController) {
  StartServer("agent");
  StartController();
  grpc::Status s =
      ListNodes(pki->Other("intruder.pem"), pki->Other("intruder-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ControllerTlsTest, AgentRefusesAControllerWithoutItsCertificate) {
  StartServer("agent");
  // A controller whose agent connections carry another CA's certificate.
  StartController(pki->dir + "/other", "intruder");
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(nodes_.nodes_size(), 1);
  EXPECT_EQ(nodes_.nodes(0).state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_GT(nodes_.nodes(0).consecutive_errors(), 0);
  EXPECT_FALSE(nodes_.nodes(0).last_error().empty());
}

TEST_F(ControllerTlsTest, ClientWithoutCertificateIsRefusedByTheController) {
  StartServer("agent");
  StartController();
  grpc::Status s = ListNodes("", "");
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ControllerTlsTest, ExpiredClientIsRefusedByTheController) {
  StartServer("agent");
  StartController();
  grpc::Status s = ListNodes(pki->dir + "/expired/expired.pem",
                             pki->dir + "/expired/expired-key.pem");
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ControllerTlsTest, ControllerCertificateWithWrongNameIsRefused) {
  StartServer("agent");
  StartController("", "controller", "wrong-name");
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ControllerTlsTest, ControllerRefusesAnAgentWithTheWrongName) {
  // The agent's certificate does not carry 127.0.0.1, the address dialed.
  StartServer("wrong-name");
  StartController();
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(nodes_.nodes_size(), 1);
  EXPECT_EQ(nodes_.nodes(0).state(), novadock::v1::NODE_STATE_FAILED);
  std::fprintf(stderr, "[observed] node last_error: %s\n",
               nodes_.nodes(0).last_error().c_str());
}

TEST_F(ControllerTlsTest, AgentAllowingTheControllerServesIt) {
  StartServer("agent", {"controller"});
  StartController();
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(nodes_.nodes_size(), 1);
  EXPECT_EQ(nodes_.nodes(0).state(), novadock::v1::NODE_STATE_ACTIVE);
}

TEST_F(ControllerTlsTest, AgentAllowingOnlyAnotherNameRefusesTheController) {
  StartServer("agent", {"novadock-controller"});
  StartController();  // Shows agents CN=controller.
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(nodes_.nodes_size(), 1);
  EXPECT_EQ(nodes_.nodes(0).state(), novadock::v1::NODE_STATE_FAILED);
  EXPECT_THAT(nodes_.nodes(0).last_error(), HasSubstr("CN=controller"));
  std::fprintf(stderr, "[observed] node last_error: %s\n",
               nodes_.nodes(0).last_error().c_str());
}

TEST_F(ControllerTlsTest, ControllerAllowListAdmitsOnlyListedClients) {
  StartServer("agent");
  StartController("", "controller", "agent", {"agent-docker"});
  grpc::Status s =
      ListNodes(pki->Pki("agent-docker.pem"), pki->Pki("agent-docker-key.pem"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Same CA, another name: refused before the service runs.
  s = ListNodes(pki->Pki("controller.pem"), pki->Pki("controller-key.pem"));
  Observed(s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("CN=controller"));
}

}  // namespace
}  // namespace novadock::agent
