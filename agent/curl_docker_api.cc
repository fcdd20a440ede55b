#include "agent/curl_docker_api.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/docker_json.h"
#include "proto/common/address.h"
#include "proto/common/status_macros.h"

namespace novadock::agent {

struct CurlDockerApi::Request {
  std::string op;              // "docker start container x", for messages.
  const char* method = "GET";  // GET, POST or DELETE.
  std::string path;            // Path and query, escaped.
  std::string body;            // JSON body of a POST; never logged.
  absl::Duration timeout;      // InfiniteDuration(): only connecting is timed.
  bool create_container = false;  // A 409 may be a name clash.
  // If set, 2xx body bytes go here as they arrive instead of being returned;
  // returning false ends the transfer (Perform then returns OK).
  std::function<bool(absl::string_view)> on_data;
  const std::atomic<bool>* cancel = nullptr;  // Ends the transfer (OK).
  // If set, a POST body streamed from here (chunked, application/x-tar)
  // instead of `body`; only stalls longer than `timeout` fail it.
  const UploadSource* upload = nullptr;
  // A long download (with on_data): no overall timeout, but a stall longer
  // than the request timeout fails it.
  bool stall_limited = false;
};

namespace {

constexpr size_t kMaxBodyBytes = size_t{64} << 20;  // Buffered 2xx bodies.
constexpr size_t kMaxErrorBodyBytes = 64 << 10;
constexpr size_t kMaxQuotedBodyChars = 200;  // Non-JSON error text quoted.

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// State shared with libcurl's callbacks during one transfer.
struct Transfer {
  CURL* easy = nullptr;
  const std::function<bool(absl::string_view)>* on_data = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  std::string body;      // Buffered 2xx body, or the error body.
  bool stopped = false;  // on_data returned false.
  bool too_big = false;  // A 2xx body over kMaxBodyBytes.
  const UploadSource* upload = nullptr;
  absl::Status upload_status;  // The upload source's error, if any.
};

size_t ReadCallback(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::StatusOr<size_t> n = (*t->upload)(buffer, size * count);
  if (!n.ok()) {
    t->upload_status = n.status();
    return CURL_READFUNC_ABORT;
  }
  return std::min(*n, size * count);
}

size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  long code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  const bool success = code >= 200 && code < 300;
  if (success && t->on_data != nullptr && *t->on_data) {
    if ((*t->on_data)(absl::string_view(data, n))) return n;
    t->stopped = true;
    return 0;  // Aborts the transfer with CURLE_WRITE_ERROR.
  }
  const size_t limit = success ? kMaxBodyBytes : kMaxErrorBodyBytes;
  if (t->body.size() + n > limit) {
    if (success) {
      t->too_big = true;
      return 0;
    }
    t->body.append(data, limit - t->body.size());  // Keep the start.
    return n;
  }
  t->body.append(data, n);
  return n;
}

int ProgressCallback(void* user, curl_off_t, curl_off_t, curl_off_t,
                     curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancel != nullptr && t->cancel->load() ? 1 : 0;
}

// The one mapping from a transport outcome and Docker's answer to a status.
absl::Status DockerStatus(absl::string_view op, CURLcode curl_code,
                          const char* curl_error, long http_code,  // NOLINT
                          absl::string_view body, bool create_container) {
  if (curl_code == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(op, ": ", curl_error));
  }
  if (curl_code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        op, ": no answer from dockerd: ",
        curl_error[0] != '\0' ? curl_error : curl_easy_strerror(curl_code)));
  }
  if ((http_code >= 200 && http_code < 300) || http_code == 304) {
    return absl::OkStatus();
  }
  std::string message;
  if (absl::StatusOr<std::string> m = ParseErrorMessage(body); m.ok()) {
    message = *std::move(m);
  } else if (!body.empty()) {
    const absl::string_view quoted = body.substr(0, kMaxQuotedBodyChars);
    message.assign(quoted.data(), quoted.size());
  } else {
    message = "(no message)";
  }
  const std::string text =
      absl::StrCat(op, ": ", message, " (HTTP ", http_code, ")");
  switch (http_code) {
    case 400:
      return absl::InvalidArgumentError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      // Docker has no code for a name clash; its create message is stable.
      if (create_container && absl::StrContains(message, "is already in use")) {
        return absl::AlreadyExistsError(text);
      }
      return absl::FailedPreconditionError(text);
    default:
      return absl::InternalError(text);  // 5xx and answers we do not expect.
  }
}

// "1.41" -> {1, 41}.
[[nodiscard]] bool ParseApiVersion(absl::string_view s, int& major,
                                   int& minor) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], &major) &&
         absl::SimpleAtoi(parts[1], &minor) && major >= 1 && minor >= 0;
}

[[nodiscard]] absl::Status CheckReadableFile(absl::string_view option,
                                             const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "docker option ", option, " \"", path, "\": not a readable file"));
  }
  return absl::OkStatus();
}

// Seconds for Docker's ?t=, rounded up; negative grace is 0.
int64_t GraceSeconds(absl::Duration grace) {
  if (grace <= absl::ZeroDuration()) return 0;
  return absl::ToInt64Seconds(absl::Ceil(grace, absl::Seconds(1)));
}

}  // namespace

absl::StatusOr<CurlDockerApi::Endpoint> CurlDockerApi::ParseEndpoint(
    const Options& options) {
  const int tls_files = !options.tls_ca_file.empty() +
                        !options.tls_cert_file.empty() +
                        !options.tls_key_file.empty();
  const absl::string_view host = options.host;
  Endpoint endpoint;
  if (absl::string_view path = host; absl::ConsumePrefix(&path, "unix://")) {
    if (!absl::StartsWith(path, "/")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "docker option host \"", host, "\": socket path must be absolute"));
    }
    if (tls_files > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "docker options tls_*_file apply only to tcp:// hosts, not \"", host,
          "\""));
    }
    endpoint.base_url = "http://docker";
    endpoint.unix_socket.assign(path.data(), path.size());
  } else if (absl::string_view addr = host;
             absl::ConsumePrefix(&addr, "tcp://")) {
    absl::ConsumeSuffix(&addr, "/");
    const size_t colon = addr.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        addr.substr(colon - 1, 1) == ":" ||
        !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port < 1 ||
        port > 65535 || absl::StrContains(addr, '/')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "docker option host \"", host, "\": want tcp://<host>:<port>"));
    }
    if (tls_files == 0 && !IsLoopbackAddress(addr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("docker option host \"", host,
                       "\" is not loopback: set tls_ca_file, tls_cert_file and "
                       "tls_key_file"));
    }
    if (tls_files != 0 && tls_files != 3) {
      return absl::InvalidArgumentError(
          "docker options tls_ca_file, tls_cert_file and tls_key_file must be "
          "set together");
    }
    if (tls_files == 3) {
      NOVADOCK_RETURN_IF_ERROR(
          CheckReadableFile("tls_ca_file", options.tls_ca_file));
      NOVADOCK_RETURN_IF_ERROR(
          CheckReadableFile("tls_cert_file", options.tls_cert_file));
      NOVADOCK_RETURN_IF_ERROR(
          CheckReadableFile("tls_key_file", options.tls_key_file));
    }
    endpoint = {absl::StrCat(tls_files == 3 ? "https://" : "http://", addr),
                ""};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "docker option host \"", host, "\": scheme must be unix:// or tcp://"));
  }
  return endpoint;
}

absl::StatusOr<std::unique_ptr<CurlDockerApi>> CurlDockerApi::Create(
    Options options) {
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "docker option request_timeout ",
        absl::FormatDuration(options.request_timeout), ": must be positive"));
  }
  int major = 0, minor = 0;
  if (!options.api_version.empty() &&
      !ParseApiVersion(options.api_version, major, minor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("docker option api_version \"", options.api_version,
                     "\": not <major>.<minor>"));
  }
  if (options.max_idle_handles < 0) {
    return absl::InvalidArgumentError("docker option max_idle_handles < 0");
  }
  NOVADOCK_ASSIGN_OR_RETURN(Endpoint endpoint, ParseEndpoint(options));
  return std::unique_ptr<CurlDockerApi>(
      new CurlDockerApi(std::move(options), std::move(endpoint)));
}

CurlDockerApi::CurlDockerApi(Options options, Endpoint endpoint)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      api_version_(options_.api_version) {}

CurlDockerApi::~CurlDockerApi() = default;

CurlDockerApi::EasyPtr CurlDockerApi::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_handles_.empty()) {
      EasyPtr easy = std::move(idle_handles_.back());
      idle_handles_.pop_back();
      return easy;
    }
  }
  return EasyPtr(curl_easy_init());
}

void CurlDockerApi::ReleaseHandle(EasyPtr easy) {
  curl_easy_reset(easy.get());  // Keeps its open connection.
  absl::MutexLock lock(&mu_);
  if (idle_handles_.size() < static_cast<size_t>(options_.max_idle_handles)) {
    idle_handles_.push_back(std::move(easy));
  }
  // Otherwise `easy` is cleaned up here, closing its connection.
}

void CurlDockerApi::ConfigureHandle(CURL* easy, const Request& request,
                                    const std::string& url, curl_slist* headers,
                                    char* error_buffer) {
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  if (!endpoint_.unix_socket.empty()) {
    curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH,
                     endpoint_.unix_socket.c_str());
  } else if (absl::StartsWith(endpoint_.base_url, "https://")) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, options_.tls_ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLCERT, options_.tls_cert_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, options_.tls_key_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  curl_easy_setopt(easy, CURLOPT_PROXY, "");  // Ignore *_proxy variables.
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  // A dead peer on TCP is noticed even while an event stream is idle.
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
  const absl::Duration connect_timeout =
      std::min(options_.request_timeout, request.timeout);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(  // NOLINT(google-runtime-int)
                       absl::ToInt64Milliseconds(connect_timeout)));
  if (request.timeout != absl::InfiniteDuration()) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(  // NOLINT(google-runtime-int)
                         absl::ToInt64Milliseconds(request.timeout)));
  }
  if (request.upload != nullptr || request.stall_limited) {
    // Stalls, not duration, end an archive transfer: archives may be large.
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(  // NOLINT(google-runtime-int)
                         std::max<int64_t>(1, absl::ToInt64Seconds(
                                                  options_.request_timeout))));
  }
  if (request.upload != nullptr) {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
  } else if (absl::string_view(request.method) == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
  } else if (absl::string_view(request.method) != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method);
  }
}

absl::StatusOr<std::string> CurlDockerApi::Perform(const Request& request) {
  EasyPtr easy = AcquireHandle();
  if (easy == nullptr) {
    return absl::InternalError(
        absl::StrCat(request.op, ": curl_easy_init failed"));
  }
  SlistPtr headers(curl_slist_append(nullptr, "Expect:"));
  if (headers != nullptr && request.upload != nullptr) {
    curl_slist_append(headers.get(), "Content-Type: application/x-tar");
    curl_slist_append(headers.get(), "Transfer-Encoding: chunked");
  } else if (headers != nullptr && !request.body.empty()) {
    curl_slist_append(headers.get(), "Content-Type: application/json");
  }
  const std::string url = absl::StrCat(endpoint_.base_url, request.path);
  char error_buffer[CURL_ERROR_SIZE] = {};
  ConfigureHandle(easy.get(), request, url, headers.get(), error_buffer);

  Transfer transfer;
  transfer.easy = easy.get();
  transfer.on_data = &request.on_data;
  transfer.cancel = request.cancel;
  transfer.upload = request.upload;
  if (request.upload != nullptr) {
    curl_easy_setopt(easy.get(), CURLOPT_READFUNCTION, &ReadCallback);
    curl_easy_setopt(easy.get(), CURLOPT_READDATA, &transfer);
  }
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &transfer);
  if (request.cancel != nullptr) {
    curl_easy_setopt(easy.get(), CURLOPT_XFERINFOFUNCTION, &ProgressCallback);
    curl_easy_setopt(easy.get(), CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(easy.get(), CURLOPT_NOPROGRESS, 0L);
  }

  const CURLcode curl_code = curl_easy_perform(easy.get());
  long http_code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &http_code);
  ReleaseHandle(std::move(easy));

  const bool cancelled = curl_code == CURLE_ABORTED_BY_CALLBACK &&
                         request.cancel != nullptr && request.cancel->load();
  if (!transfer.upload_status.ok()) return transfer.upload_status;
  if (transfer.stopped || cancelled) return std::string();
  if (transfer.too_big) {
    return absl::InternalError(absl::StrCat(
        request.op, ": response larger than ", kMaxBodyBytes, " bytes"));
  }
  NOVADOCK_RETURN_IF_ERROR(DockerStatus(request.op, curl_code, error_buffer,
                                        http_code, transfer.body,
                                        request.create_container));
  return std::move(transfer.body);
}

template <typename T>
absl::StatusOr<T> CurlDockerApi::PerformParsed(
    const Request& request, absl::StatusOr<T> (*parse)(absl::string_view)) {
  NOVADOCK_ASSIGN_OR_RETURN(const std::string body, Perform(request));
  absl::StatusOr<T> parsed = parse(body);
  if (!parsed.ok()) return Annotate(parsed.status(), request.op);
  return parsed;
}

absl::StatusOr<std::string> CurlDockerApi::Path(absl::string_view path) {
  std::string version;
  {
    absl::MutexLock lock(&mu_);
    version = api_version_;
  }
  if (version.empty()) {
    Request request;
    request.op = "docker negotiate API version";
    request.path = "/version";
    request.timeout = options_.request_timeout;
    NOVADOCK_ASSIGN_OR_RETURN(const std::string body, Perform(request));
    absl::StatusOr<DockerVersion> daemon = ParseVersion(body);
    if (!daemon.ok()) return Annotate(daemon.status(), request.op);
    int major = 0, minor = 0, max_major = 0, max_minor = 0;
    if (!ParseApiVersion(daemon->api_version, major, minor) ||
        !ParseApiVersion(kMaxApiVersion, max_major, max_minor)) {
      return absl::InternalError(absl::StrCat(request.op,
                                              ": dockerd reports ApiVersion \"",
                                              daemon->api_version, "\""));
    }
    const bool newer =
        major > max_major || (major == max_major && minor > max_minor);
    version = newer ? kMaxApiVersion : daemon->api_version;
    absl::MutexLock lock(&mu_);
    api_version_ = version;
  }
  return VersionedPath(version, path);
}

absl::Status CurlDockerApi::PostAction(absl::string_view op,
                                       absl::string_view path,
                                       absl::Duration timeout) {
  Request request;
  request.op.assign(op.data(), op.size());
  request.method = "POST";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path(path));
  request.timeout = timeout;
  return Perform(request).status();
}

absl::Status CurlDockerApi::Ping() {
  Request request;
  request.op = "docker ping";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path("/_ping"));
  request.timeout = options_.request_timeout;
  return Perform(request).status();
}

absl::StatusOr<DockerVersion> CurlDockerApi::Version() {
  Request request;
  request.op = "docker version";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path("/version"));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseVersion);
}

absl::StatusOr<DockerInfo> CurlDockerApi::Info() {
  Request request;
  request.op = "docker info";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path("/info"));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseInfo);
}

absl::StatusOr<ImageDetails> CurlDockerApi::InspectImage(
    absl::string_view ref) {
  Request request;
  request.op = absl::StrCat("docker inspect image ", ref);
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/images/", UrlEscape(ref), "/json")));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseImageInspect);
}

absl::Status CurlDockerApi::TagImage(absl::string_view ref,
                                     absl::string_view repo,
                                     absl::string_view tag) {
  return PostAction(
      absl::StrCat("docker tag image ", ref, " as ", repo, ":", tag),
      absl::StrCat("/images/", UrlEscape(ref), "/tag?repo=", UrlEscape(repo),
                   "&tag=", UrlEscape(tag)),
      options_.request_timeout);
}

absl::StatusOr<std::vector<ImageDetails>> CurlDockerApi::ListImages() {
  Request request;
  request.op = "docker list images";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path("/images/json"));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseImageList);
}

absl::StatusOr<std::vector<std::string>> CurlDockerApi::LoadImage(
    const UploadSource& source) {
  Request request;
  request.op = "docker load image";
  request.method = "POST";
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path("/images/load?quiet=1"));
  request.timeout = absl::InfiniteDuration();
  request.upload = &source;
  return PerformParsed(request, &ParseLoadStream);
}

absl::Status CurlDockerApi::RemoveImage(absl::string_view ref, bool force) {
  Request request;
  request.op = absl::StrCat("docker remove image ", ref);
  request.method = "DELETE";
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/images/", UrlEscape(ref),
                                      force ? "?force=1" : "?force=0")));
  request.timeout = options_.request_timeout;
  return Perform(request).status();
}

absl::StatusOr<std::string> CurlDockerApi::CommitContainer(
    absl::string_view id, absl::string_view repo, absl::string_view tag,
    const Labels& labels) {
  Request request;
  request.op =
      absl::StrCat("docker commit container ", id, " as ", repo, ":", tag);
  request.method = "POST";
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/commit?container=", UrlEscape(id),
                                      "&repo=", UrlEscape(repo),
                                      "&tag=", UrlEscape(tag), "&pause=true")));
  request.body = BuildCommitBody(labels);
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseCommitResponse);
}

absl::Status CurlDockerApi::SaveImage(absl::string_view ref,
                                      const ChunkCallback& on_chunk) {
  Request request;
  request.op = absl::StrCat("docker save image ", ref);
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/images/", UrlEscape(ref), "/get")));
  request.timeout = absl::InfiniteDuration();
  request.stall_limited = true;
  request.on_data = on_chunk;
  return Perform(request).status();
}

absl::StatusOr<std::string> CurlDockerApi::CreateContainer(
    const ContainerSpec& spec) {
  Request request;
  request.op = absl::StrCat("docker create container ", spec.name);
  request.method = "POST";
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path,
      Path(absl::StrCat("/containers/create?name=", UrlEscape(spec.name))));
  request.body = BuildCreateContainerBody(spec);
  request.timeout = options_.request_timeout;
  request.create_container = true;
  return PerformParsed(request, &ParseCreateResponse);
}

absl::Status CurlDockerApi::StartContainer(absl::string_view id) {
  return PostAction(absl::StrCat("docker start container ", id),
                    absl::StrCat("/containers/", UrlEscape(id), "/start"),
                    options_.request_timeout);
}

absl::Status CurlDockerApi::StopContainer(absl::string_view id,
                                          absl::Duration grace) {
  const int64_t seconds = GraceSeconds(grace);
  return PostAction(
      absl::StrCat("docker stop container ", id),
      absl::StrCat("/containers/", UrlEscape(id), "/stop?t=", seconds),
      options_.request_timeout + absl::Seconds(seconds));
}

absl::Status CurlDockerApi::RestartContainer(absl::string_view id,
                                             absl::Duration grace) {
  const int64_t seconds = GraceSeconds(grace);
  return PostAction(
      absl::StrCat("docker restart container ", id),
      absl::StrCat("/containers/", UrlEscape(id), "/restart?t=", seconds),
      options_.request_timeout + absl::Seconds(seconds));
}

absl::Status CurlDockerApi::KillContainer(absl::string_view id) {
  return PostAction(absl::StrCat("docker kill container ", id),
                    absl::StrCat("/containers/", UrlEscape(id), "/kill"),
                    options_.request_timeout);
}

absl::Status CurlDockerApi::PauseContainer(absl::string_view id) {
  return PostAction(absl::StrCat("docker pause container ", id),
                    absl::StrCat("/containers/", UrlEscape(id), "/pause"),
                    options_.request_timeout);
}

absl::Status CurlDockerApi::UnpauseContainer(absl::string_view id) {
  absl::Status s =
      PostAction(absl::StrCat("docker unpause container ", id),
                 absl::StrCat("/containers/", UrlEscape(id), "/unpause"),
                 options_.request_timeout);
  // dockerd 20.10 answers 500 (not 409) to unpausing a container that is not
  // paused. Classify by the container's state, not by the message text.
  if (absl::IsInternal(s)) {
    absl::StatusOr<ContainerDetails> details = InspectContainer(id);
    if (details.ok() && !details->state.paused) {
      return absl::FailedPreconditionError(s.message());
    }
  }
  return s;
}

absl::Status CurlDockerApi::RemoveContainer(absl::string_view id, bool force) {
  Request request;
  request.op = absl::StrCat("docker remove container ", id);
  request.method = "DELETE";
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/containers/", UrlEscape(id),
                                      "?v=1&force=", force ? "1" : "0")));
  request.timeout = options_.request_timeout;
  return Perform(request).status();
}

absl::StatusOr<ContainerDetails> CurlDockerApi::InspectContainer(
    absl::string_view id) {
  Request request;
  request.op = absl::StrCat("docker inspect container ", id);
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/containers/", UrlEscape(id), "/json")));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseContainerInspect);
}

absl::StatusOr<std::vector<ContainerSummary>> CurlDockerApi::ListContainers(
    const Filters& filters) {
  Request request;
  request.op = "docker list containers";
  std::string path = "/containers/json?all=1";
  if (!filters.empty()) {
    absl::StrAppend(&path, "&filters=", UrlEscape(BuildFiltersJson(filters)));
  }
  NOVADOCK_ASSIGN_OR_RETURN(request.path, Path(path));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseContainerList);
}

absl::Status CurlDockerApi::ContainerLogs(absl::string_view id,
                                          const LogsOptions& options,
                                          const ChunkCallback& on_chunk) {
  Request request;
  request.op = absl::StrCat("docker logs of container ", id);
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path,
      Path(absl::StrCat(
          "/containers/", UrlEscape(id),
          "/logs?stdout=", options.stdout_stream ? "1" : "0",
          "&stderr=", options.stderr_stream ? "1" : "0", "&tail=",
          options.tail_lines < 0 ? "all" : absl::StrCat(options.tail_lines))));
  request.timeout = options_.request_timeout;
  LogFrameDemuxer demuxer(on_chunk);
  absl::Status demux_status;
  request.on_data = [&](absl::string_view chunk) {
    demux_status = demuxer.Feed(chunk);
    return demux_status.ok() && !demuxer.stopped();
  };
  absl::Status s = Perform(request).status();
  if (!demux_status.ok()) return Annotate(demux_status, request.op);
  NOVADOCK_RETURN_IF_ERROR(s);
  return Annotate(demuxer.Finish(), request.op);
}

absl::StatusOr<ContainerStats> CurlDockerApi::ContainerStatsOnce(
    absl::string_view id) {
  Request request;
  request.op = absl::StrCat("docker stats of container ", id);
  NOVADOCK_ASSIGN_OR_RETURN(request.path,
                            Path(absl::StrCat("/containers/", UrlEscape(id),
                                              "/stats?stream=0&one-shot=1")));
  request.timeout = options_.request_timeout;
  return PerformParsed(request, &ParseContainerStats);
}

absl::Status CurlDockerApi::StreamEvents(const Filters& filters,
                                         int64_t since_unix_nanos,
                                         const EventCallback& on_event,
                                         const std::atomic<bool>* cancel) {
  Request request;
  request.op = "docker events";
  std::vector<std::string> query;
  if (since_unix_nanos != 0) {
    query.push_back(
        absl::StrCat("since=", FormatEventsSince(since_unix_nanos)));
  }
  if (!filters.empty()) {
    query.push_back(
        absl::StrCat("filters=", UrlEscape(BuildFiltersJson(filters))));
  }
  NOVADOCK_ASSIGN_OR_RETURN(
      request.path, Path(absl::StrCat("/events", query.empty() ? "" : "?",
                                      absl::StrJoin(query, "&"))));
  request.timeout = absl::InfiniteDuration();
  request.cancel = cancel;
  EventStreamDecoder decoder(on_event);
  absl::Status decode_status;
  request.on_data = [&](absl::string_view chunk) {
    decode_status = decoder.Feed(chunk);
    return decode_status.ok() && !decoder.stopped();
  };
  absl::Status s = Perform(request).status();
  if (!decode_status.ok()) return Annotate(decode_status, request.op);
  NOVADOCK_RETURN_IF_ERROR(s);
  if (decoder.stopped() || (cancel != nullptr && cancel->load())) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat(request.op, ": dockerd closed the event stream"));
}

}  // namespace novadock::agent
