// novadock-glance-loader: list, verify, load, fetch and prune the docker-save
// archives of a node's image directory. Flags -> objects -> one command.
#include <curl/curl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "agent/curl_docker_api.h"
#include "glance-loader/loader_cli.h"
#include "proto/common/clock.h"

ABSL_FLAG(std::string, image_dir, "/var/lib/novadock/images",
          "The node's image directory.");
ABSL_FLAG(std::string, docker_host, "unix:///var/run/docker.sock",
          "dockerd endpoint: unix:///path or tcp://host:port.");
ABSL_FLAG(std::string, docker_tls_ca, "", "CA of dockerd's TLS certificate.");
ABSL_FLAG(std::string, docker_tls_cert, "", "Client certificate for dockerd.");
ABSL_FLAG(std::string, docker_tls_key, "", "Client key for dockerd.");
ABSL_FLAG(std::string, glance_endpoint, "",
          "Glance endpoint (http[s]://host:port); empty: no Glance download. "
          "The token is read from the OS_AUTH_TOKEN environment variable.");
ABSL_FLAG(std::string, glance_ca, "", "CA bundle for an https Glance.");
ABSL_FLAG(std::string, checksum, "", "verify: expected Glance md5 checksum.");
ABSL_FLAG(std::string, os_hash_algo, "", "verify: Glance os_hash_algo.");
ABSL_FLAG(std::string, os_hash_value, "", "verify: Glance os_hash_value.");
ABSL_FLAG(bool, dry_run, false, "prune: only say what would be removed.");

namespace {

constexpr char kUsage[] =
    "novadock-glance-loader [flags] COMMAND\n"
    "  list             archives in --image_dir, checked\n"
    "  verify FILE      check an archive (and --checksum/--os_hash_*)\n"
    "  load FILE|ID     load an archive, or the image of a Glance id\n"
    "  fetch ID         download a Glance image into --image_dir\n"
    "  prune            remove archives and images no instance uses "
    "(--dry_run)";

int Fail(const absl::Status& s) {
  std::cerr << "novadock-glance-loader: " << s.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Fail(absl::InvalidArgumentError(kUsage));
  const std::string command = args[1];
  const std::string arg = args.size() > 2 ? args[2] : "";
  curl_global_init(CURL_GLOBAL_DEFAULT);

  novadock::RealClock clock;
  novadock::agent::CurlDockerApi::Options docker_options;
  docker_options.host = absl::GetFlag(FLAGS_docker_host);
  docker_options.tls_ca_file = absl::GetFlag(FLAGS_docker_tls_ca);
  docker_options.tls_cert_file = absl::GetFlag(FLAGS_docker_tls_cert);
  docker_options.tls_key_file = absl::GetFlag(FLAGS_docker_tls_key);
  auto docker = novadock::agent::CurlDockerApi::Create(docker_options);
  if (!docker.ok()) return Fail(docker.status());

  using namespace novadock::loader;  // NOLINT(google-build-using-namespace)
  ImageIndexOptions index_options;
  index_options.dir = absl::GetFlag(FLAGS_image_dir);
  index_options.inspect.extra_digests = {HashAlgorithm::kMd5,
                                         HashAlgorithm::kSha512};
  ImageIndex index(index_options);

  std::unique_ptr<CurlGlanceClient> glance;
  std::unique_ptr<GlanceFetcher> fetcher;
  LoaderOptions loader_options{index_options.dir, {}};
  if (!absl::GetFlag(FLAGS_glance_endpoint).empty()) {
    CurlGlanceClient::Options glance_options;
    glance_options.endpoint = absl::GetFlag(FLAGS_glance_endpoint);
    glance_options.ca_file = absl::GetFlag(FLAGS_glance_ca);
    auto client = CurlGlanceClient::Create(glance_options);
    if (!client.ok()) return Fail(client.status());
    glance = *std::move(client);
    FetcherOptions fetcher_options;
    fetcher_options.image_dir = index_options.dir;
    fetcher_options.clock = &clock;
    fetcher = std::make_unique<GlanceFetcher>(*glance, fetcher_options);
    loader_options.fetch = [&fetcher](const std::string& id,
                                      const std::string& token) {
      return fetcher->Fetch(id, token);
    };
  }
  ImageLoader loader(**docker, index, clock, loader_options);

  CliContext ctx;
  ctx.image_dir = index_options.dir;
  ctx.docker = docker->get();
  ctx.index = &index;
  ctx.loader = &loader;
  ctx.fetcher = fetcher.get();
  const char* token = std::getenv("OS_AUTH_TOKEN");
  ctx.token = token == nullptr ? "" : token;
  ctx.out = &std::cout;
  ctx.progress = &std::cerr;
  ctx.progress_bar = isatty(STDERR_FILENO) == 1;

  absl::Status s;
  if (command == "list") {
    s = CliList(ctx);
  } else if (command == "verify" && !arg.empty()) {
    ImageRequest expected;
    expected.checksum = absl::GetFlag(FLAGS_checksum);
    expected.os_hash_algo = absl::GetFlag(FLAGS_os_hash_algo);
    expected.os_hash_value = absl::GetFlag(FLAGS_os_hash_value);
    s = CliVerify(ctx, arg, expected);
  } else if (command == "load" && !arg.empty()) {
    s = CliLoad(ctx, arg);
  } else if (command == "fetch" && !arg.empty()) {
    s = CliFetch(ctx, arg);
  } else if (command == "prune") {
    s = CliPrune(ctx, absl::GetFlag(FLAGS_dry_run));
  } else {
    s = absl::InvalidArgumentError(kUsage);
  }
  return s.ok() ? 0 : Fail(s);
}
