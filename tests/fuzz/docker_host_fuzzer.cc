// Fuzz target for the agent's --docker_host and Docker API version flags
// (agent/curl_docker_api.h CurlDockerApi::Create, which parses them and
// connects nowhere). Input: host, then optionally a NUL and an API version.
// A value is accepted only as unix:///abs/path or tcp://host:port; anything
// else is INVALID_ARGUMENT naming the option.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "agent/curl_docker_api.h"
#include "tests/fuzz/fuzz_target.h"

NOVADOCK_FUZZ_TARGET(DockerHost) {
  using novadock::fuzz::FuzzCheck;
  const absl::string_view input = novadock::fuzz::AsText(data, size);
  const size_t nul = input.find('\0');
  novadock::agent::CurlDockerApi::Options options;
  options.host = std::string(input.substr(0, nul));
  if (nul != absl::string_view::npos) {
    options.api_version = std::string(input.substr(nul + 1));
  }
  auto docker = novadock::agent::CurlDockerApi::Create(options);
  if (!docker.ok()) {
    FuzzCheck(docker.status().code() == absl::StatusCode::kInvalidArgument,
              "docker option error is not INVALID_ARGUMENT");
    FuzzCheck(absl::StrContains(docker.status().message(), "docker option"),
              "docker option error does not name the option");
    return 0;
  }
  FuzzCheck(absl::StartsWith(options.host, "unix:///") ||
                absl::StartsWith(options.host, "tcp://"),
            "accepted a host that is neither unix:/// nor tcp://");
  return 0;
}
