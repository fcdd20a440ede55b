// CurlDockerApi: DockerApi over libcurl, to dockerd's unix socket or to a
// TCP endpoint with mutual TLS. Thread-safe: each call uses its own CURL easy
// handle, taken from a small pool so that sequential calls reuse the
// connection. Never calls curl_global_init (the process's main does, once).
//
// Errors follow docker_api.h; the one mapping lives in curl_docker_api.cc.
// Messages name the operation, carry Docker's "message" and the HTTP status:
//   "docker create container nova-x: Conflict. The container name ... (HTTP
//   409)". Request bodies are never logged.
#ifndef NOVADOCK_AGENT_CURL_DOCKER_API_H_
#define NOVADOCK_AGENT_CURL_DOCKER_API_H_

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/docker_api.h"

namespace novadock::agent {

class CurlDockerApi final : public DockerApi {
 public:
  struct Options {
    // "unix:///path/to/docker.sock" or "tcp://host:port" ("[v6]:port").
    std::string host = "unix:///var/run/docker.sock";
    // PEM files for tcp://: with all three, https with our client
    // certificate, verifying dockerd against tls_ca_file. Without any, plain
    // http, allowed only to a loopback host. Not allowed with unix://.
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    // Limit on each call, connecting included; Stop/Restart add their grace
    // period. StreamEvents has none (only connecting is limited). > 0.
    absl::Duration request_timeout = absl::Seconds(30);
    // "1.41" etc. Empty: on first use ask GET /version and speak
    // min(daemon's ApiVersion, kMaxApiVersion).
    std::string api_version;
    // Idle easy handles (and so connections) kept for reuse. >= 0.
    int max_idle_handles = 4;
  };

  // Newest Engine API version this client is written for.
  static constexpr char kMaxApiVersion[] = "1.41";

  // Validates `options` without contacting dockerd. INVALID_ARGUMENT naming
  // the option and value: unknown scheme, tcp without a port, a TLS file
  // missing or unreadable, only some TLS files, plain http to a non-loopback
  // host, a non-positive timeout, a malformed api_version.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CurlDockerApi>> Create(
      Options options);

  ~CurlDockerApi() override;
  CurlDockerApi(const CurlDockerApi&) = delete;
  CurlDockerApi& operator=(const CurlDockerApi&) = delete;

  absl::Status Ping() override;
  absl::StatusOr<DockerVersion> Version() override;
  absl::StatusOr<DockerInfo> Info() override;
  absl::StatusOr<ImageDetails> InspectImage(absl::string_view ref) override;
  absl::Status TagImage(absl::string_view ref, absl::string_view repo,
                        absl::string_view tag) override;
  absl::StatusOr<std::vector<ImageDetails>> ListImages() override;
  absl::StatusOr<std::vector<std::string>> LoadImage(
      const UploadSource& source) override;
  absl::Status RemoveImage(absl::string_view ref, bool force) override;
  absl::StatusOr<std::string> CommitContainer(absl::string_view id,
                                              absl::string_view repo,
                                              absl::string_view tag,
                                              const Labels& labels) override;
  absl::Status SaveImage(absl::string_view ref,
                         const ChunkCallback& on_chunk) override;
  absl::StatusOr<std::string> CreateContainer(
      const ContainerSpec& spec) override;
  absl::Status StartContainer(absl::string_view id) override;
  absl::Status StopContainer(absl::string_view id,
                             absl::Duration grace) override;
  absl::Status RestartContainer(absl::string_view id,
                                absl::Duration grace) override;
  absl::Status KillContainer(absl::string_view id) override;
  absl::Status PauseContainer(absl::string_view id) override;
  // dockerd 20.10 answers HTTP 500 when the container is not paused; that
  // answer is re-checked by inspecting the container and then returned as
  // FAILED_PRECONDITION, as docker_api.h promises.
  absl::Status UnpauseContainer(absl::string_view id) override;
  absl::Status RemoveContainer(absl::string_view id, bool force) override;
  absl::StatusOr<ContainerDetails> InspectContainer(
      absl::string_view id) override;
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const Filters& filters) override;
  absl::Status ContainerLogs(absl::string_view id, const LogsOptions& options,
                             const ChunkCallback& on_chunk) override;
  absl::StatusOr<ContainerStats> ContainerStatsOnce(
      absl::string_view id) override;
  // Cancellation is noticed within about a second (libcurl's progress tick).
  absl::Status StreamEvents(const Filters& filters, int64_t since_unix_nanos,
                            const EventCallback& on_event,
                            const std::atomic<bool>* cancel) override;

 private:
  struct EasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
  };
  using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
  struct Request;
  struct Endpoint {
    std::string base_url;     // "http://docker" or "https://host:port".
    std::string unix_socket;  // Empty for TCP.
  };

  CurlDockerApi(Options options, Endpoint endpoint);
  // The URL base (and socket) for options.host; INVALID_ARGUMENT as Create.
  [[nodiscard]] static absl::StatusOr<Endpoint> ParseEndpoint(
      const Options& options);

  // Runs one request; returns the 2xx body (empty when streamed), or the
  // mapped error.
  [[nodiscard]] absl::StatusOr<std::string> Perform(const Request& request);
  // Perform, then `parse` the body; a parse error names the operation.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> PerformParsed(
      const Request& request, absl::StatusOr<T> (*parse)(absl::string_view));
  void ConfigureHandle(CURL* easy, const Request& request,
                       const std::string& url, struct curl_slist* headers,
                       char* error_buffer);
  // "/v<ver><path>", negotiating the version on first use.
  [[nodiscard]] absl::StatusOr<std::string> Path(absl::string_view path);
  // POST with no body that answers 204/304, e.g. /containers/{id}/start.
  [[nodiscard]] absl::Status PostAction(absl::string_view op,
                                        absl::string_view path,
                                        absl::Duration timeout);
  EasyPtr AcquireHandle();
  void ReleaseHandle(EasyPtr easy);

  const Options options_;
  const Endpoint endpoint_;

  absl::Mutex mu_;  // Guards the negotiated version and the handle pool.
  std::string api_version_ ABSL_GUARDED_BY(mu_);  // Empty until negotiated.
  std::vector<EasyPtr> idle_handles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_CURL_DOCKER_API_H_
