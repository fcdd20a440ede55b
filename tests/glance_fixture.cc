#include "tests/glance_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"
#include "proto/common/server_security.h"
#include "tests/shared_fixture.h"

extern char** environ;

namespace novadock::testing {
namespace {

constexpr absl::Duration kDbSyncTimeout = absl::Seconds(120);
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kTermTimeout = absl::Seconds(10);
constexpr absl::Duration kKillTimeout = absl::Seconds(5);
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
constexpr absl::Duration kRequestTimeout = absl::Seconds(120);
constexpr off_t kLogTailBytes = 3000;
constexpr char kGlanceApi[] = "/usr/bin/glance-api";
constexpr char kGlanceManage[] = "/usr/bin/glance-manage";
constexpr char kSqlite3[] = "/usr/bin/sqlite3";

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Calls `done` every kPollInterval of real time until it returns true or
// `timeout` has passed; returns its last answer.
bool PollUntil(absl::Duration timeout, const std::function<bool()>& done) {
  RealClock clock;
  const absl::Time deadline = clock.Now() + timeout;
  absl::Mutex mu;
  bool never = false;
  for (int attempt = 0; attempt < 1000000; ++attempt) {
    if (done()) return true;
    if (clock.Now() >= deadline) return false;
    absl::MutexLock lock(&mu);
    clock.AwaitUntil(mu, &never, clock.Now() + kPollInterval);
  }
  return done();
}

[[nodiscard]] absl::Status WriteFile(const std::string& path,
                                     absl::string_view text) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + path);
  const ssize_t n = write(fd, text.data(), text.size());
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return ErrnoStatus("write " + path);
  }
  return absl::OkStatus();
}

std::string ReadTail(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "(no " + path + ")";
  struct stat st;
  std::string tail;
  if (fstat(fd, &st) == 0) {
    const off_t start = std::max<off_t>(0, st.st_size - kLogTailBytes);
    tail.resize(static_cast<size_t>(kLogTailBytes));
    const ssize_t n = pread(fd, tail.data(), tail.size(), start);
    tail.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(fd);
  return tail;
}

// Our environment for the child, with Debian's PATH and no proxies.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "PYTHONDONTWRITEBYTECODE=1", "no_proxy=127.0.0.1,localhost,::1",
      "NO_PROXY=127.0.0.1,localhost,::1"};
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const absl::string_view var(*e);
    const absl::string_view name = var.substr(0, var.find('='));
    if (name == "PATH" || name == "PYTHONDONTWRITEBYTECODE" ||
        absl::EndsWithIgnoreCase(name, "_proxy") ||
        absl::StartsWith(name, "OS_")) {
      continue;
    }
    env.emplace_back(var);
  }
  return env;
}

std::vector<char*> CStringArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts `args` in its own session, stdin /dev/null, stdout and stderr
// appended to `log`, every fd above 2 closed. Returns the pid.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> args,
                            const std::string& log) {
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> argv = CStringArray(args);
  std::vector<char*> envp = CStringArray(env);
  const int log_fd =
      open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return ErrnoStatus("open " + log);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    return ErrnoStatus("open /dev/null");
  }
  const pid_t pid = fork();
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setsid();
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) {
      _exit(126);
    }
    if (close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd) close(fd);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(log_fd);
  close(null_fd);
  if (pid < 0) {
    errno = fork_errno;
    return ErrnoStatus("fork");
  }
  return pid;
}

// Runs `args` to completion within `timeout` (then SIGKILLs its group).
// INTERNAL with the log tail unless it exits 0.
absl::Status Run(std::vector<std::string> args, const std::string& log,
                 absl::Duration timeout) {
  const std::string what = args[0];
  absl::StatusOr<pid_t> pid = Spawn(std::move(args), log);
  if (!pid.ok()) return pid.status();
  int status = 0;
  const bool exited = PollUntil(
      timeout, [&] { return waitpid(*pid, &status, WNOHANG) == *pid; });
  if (!exited) {
    kill(-*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    return absl::InternalError(absl::StrCat(what, " did not finish in ",
                                            absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(what, " failed (wait status ",
                                            status, "); tail of ", log, ":\n",
                                            ReadTail(log)));
  }
  return absl::OkStatus();
}

// A port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok) {
    errno = err;
    return ErrnoStatus("bind 127.0.0.1:0");
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string NewUuid() {
  unsigned char b[16] = {};
  if (getrandom(b, sizeof(b), 0) != static_cast<ssize_t>(sizeof(b))) {
    for (size_t i = 0; i < sizeof(b); ++i) {
      b[i] = static_cast<unsigned char>(i * 37 + static_cast<size_t>(getpid()));
    }
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // Version 4.
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant.
  const std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-",
                      hex.substr(12, 4), "-", hex.substr(16, 4), "-",
                      hex.substr(20));
}

// `s` as a JSON string literal.
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      absl::StrAppend(&out, "\\u00",
                      absl::BytesToHexString(absl::string_view(&c, 1)));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

int OnRemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  remove(path);  // Failures show as a directory left behind.
  return 0;
}

absl::once_flag curl_init_once;

struct CurlCleanup {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistCleanup {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t AppendToString(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct HttpAnswer {
  long code = 0;  // NOLINT(google-runtime-int): libcurl's type.
  std::string body;
};

// Data for a PUT: a string or an open file.
struct UploadSource {
  absl::string_view bytes;
  FILE* file = nullptr;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* src = static_cast<UploadSource*>(user);
  if (src->file != nullptr) return fread(buffer, 1, size * n, src->file);
  const size_t len = std::min(size * n, src->bytes.size());
  std::memcpy(buffer, src->bytes.data(), len);
  src->bytes.remove_prefix(len);
  return len;
}

// One plain HTTP exchange with glance (not through the client under test).
absl::StatusOr<HttpAnswer> Exchange(const std::string& url,
                                    absl::string_view method,
                                    absl::string_view json_body,
                                    UploadSource* upload, int64_t upload_size,
                                    absl::Duration timeout) {
  absl::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_ALL); });
  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::unique_ptr<curl_slist, SlistCleanup> headers(
      curl_slist_append(nullptr, "Expect:"));
  const char* content_type =
      upload != nullptr ? "application/octet-stream" : "application/json";
  headers.reset(curl_slist_append(
      headers.release(), absl::StrCat("Content-Type: ", content_type).c_str()));
  HttpAnswer answer;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  const std::string method_str(method);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(  // NOLINT(google-runtime-int)
                       absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  if (upload != nullptr) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);  // PUT.
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
    curl_easy_setopt(c, CURLOPT_READDATA, upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(upload_size));
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(json_body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body.data());
  } else if (method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        method, " ", url, ": ", curl_easy_strerror(rc), ": ", error));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.code);
  return answer;
}

}  // namespace

GlanceFixture::~GlanceFixture() {
  absl::Status s = Stop();
  if (!s.ok()) {
    std::fprintf(stderr, "glance fixture: %s\n", s.ToString().c_str());
  }
}

std::string GlanceFixture::endpoint() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

std::string GlanceFixture::StoredImagePath(absl::string_view id) const {
  return absl::StrCat(dir_, "/images/", id);
}

std::string GlanceFixture::LogTail() const {
  return absl::StrCat(ReadTail(dir_ + "/glance-api.out"), "\n",
                      ReadTail(dir_ + "/glance-api.log"));
}

absl::Status GlanceFixture::Start() {
  if (pid_ != 0) return absl::OkStatus();
  for (const char* program : {kGlanceApi, kGlanceManage, kSqlite3}) {
    if (access(program, X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(program,
                       " is not installed (deployment/install-deps.sh installs "
                       "glance-api and sqlite3)"));
    }
  }
  RealClock clock;
  const absl::Time start = clock.Now();
  const bool fresh = dir_.empty();
  if (fresh) {
    absl::Status s = CreateDir();
    if (s.ok()) s = WriteConfig();
    if (s.ok()) {
      s = Run({kGlanceManage, "--config-file", dir_ + "/glance-api.conf",
               "db_sync"},
              dir_ + "/glance-manage.out", kDbSyncTimeout);
    }
    // One writer at a time without "database is locked" (openstack-aio).
    if (s.ok()) {
      s = Run({kSqlite3, dir_ + "/glance.sqlite", "PRAGMA journal_mode=WAL;"},
              dir_ + "/sqlite3.out", absl::Seconds(30));
    }
    if (!s.ok()) return s;
  }
  absl::Status s = SpawnGlanceApi();
  if (s.ok()) s = WaitForVersions(kStartTimeout);
  if (!s.ok()) {
    if (pid_ != 0 && !SignalAndReap(SIGKILL, kKillTimeout)) {
      std::fprintf(stderr, "glance fixture: pid %d survived SIGKILL\n", pid_);
    }
    return absl::UnavailableError(absl::StrCat(s.message(), "; tail of ", dir_,
                                               "/glance-api.{out,log}:\n",
                                               LogTail()));
  }
  start_duration_ = clock.Now() - start;
  return absl::OkStatus();
}

absl::Status GlanceFixture::CreateDir() {
  char tmpl[] = "/tmp/ng.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return ErrnoStatus("mkdtemp /tmp/ng.XXXXXX");
  dir_ = tmpl;
  for (const char* sub : {"/images", "/staging", "/tasks", "/lock"}) {
    if (mkdir((dir_ + sub).c_str(), 0700) != 0) {
      return ErrnoStatus("mkdir " + dir_ + sub);
    }
  }
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  port_ = *port;
  return absl::OkStatus();
}

absl::Status GlanceFixture::WriteConfig() {
  // The template and policy are shared with the Python tests' PrivateGlance.
  const std::string templates = NOVADOCK_TESTS_DIR "/glance";
  absl::StatusOr<std::string> conf = ReadSmallFile(
      "glance config template", templates + "/glance-api.conf.in");
  if (!conf.ok()) return conf.status();
  absl::StatusOr<std::string> policy =
      ReadSmallFile("glance policy", templates + "/policy.yaml");
  if (!policy.ok()) return policy.status();
  absl::Status s = WriteFile(
      dir_ + "/glance-api.conf",
      absl::StrReplaceAll(*conf, {{"@D@", dir_},
                                  {"@PORT@", absl::StrCat(port_)},
                                  {"@HASH@", options_.hashing_algorithm}}));
  if (!s.ok()) return s;
  return WriteFile(dir_ + "/policy.yaml", *policy);
}

absl::Status GlanceFixture::SpawnGlanceApi() {
  absl::StatusOr<pid_t> pid =
      Spawn({kGlanceApi, "--config-file", dir_ + "/glance-api.conf"},
            dir_ + "/glance-api.out");
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  return absl::OkStatus();
}

absl::Status GlanceFixture::WaitForVersions(absl::Duration timeout) {
  absl::Status last = absl::UnavailableError("not tried");
  bool exited = false;
  const std::string url = endpoint() + "/versions";
  const bool answered = PollUntil(timeout, [&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      exited = true;
      last = absl::UnavailableError(absl::StrCat(
          "glance-api exited during start (wait status ", status, ")"));
      return true;
    }
    absl::StatusOr<HttpAnswer> r =
        Exchange(url, "GET", "", nullptr, 0, absl::Seconds(2));
    if (r.ok() && r->code >= 200 && r->code < 400) return true;
    last = r.ok() ? absl::UnavailableError(absl::StrCat("HTTP ", r->code))
                  : r.status();
    return false;
  });
  if (exited || !answered) {
    return absl::UnavailableError(absl::StrCat(
        "glance-api on ", endpoint(), " did not answer GET /versions in ",
        absl::FormatDuration(timeout), ": ", last.message()));
  }
  return absl::OkStatus();
}

bool GlanceFixture::SignalAndReap(int signal, absl::Duration timeout) {
  if (pid_ == 0) return true;
  kill(-pid_, signal);  // Its session and group: pid_ (setsid).
  return PollUntil(timeout, [&] {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) pid_ = 0;
    return pid_ == 0;
  });
}

absl::Status GlanceFixture::Kill() {
  if (!SignalAndReap(SIGTERM, kTermTimeout) &&
      !SignalAndReap(SIGKILL, kKillTimeout)) {
    return absl::InternalError(
        absl::StrCat("glance-api pid ", pid_, " survived SIGKILL"));
  }
  return absl::OkStatus();
}

absl::Status GlanceFixture::Stop() {
  if (dir_.empty()) return absl::OkStatus();
  absl::Status result = Kill();
  if (!result.ok()) return result;
  nftw(dir_.c_str(), OnRemoveEntry, 32, FTW_DEPTH | FTW_PHYS);
  struct stat st;
  if (lstat(dir_.c_str(), &st) == 0) {
    return absl::InternalError(
        absl::StrCat("glance fixture dir ", dir_, " could not be removed"));
  }
  dir_.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::string> GlanceFixture::CreateImage(
    absl::string_view name, absl::string_view container_format,
    absl::string_view disk_format) {
  const std::string id = NewUuid();
  const std::string body = absl::StrCat(
      "{\"id\": ", JsonString(id), ", \"name\": ", JsonString(name),
      ", \"container_format\": ", JsonString(container_format),
      ", \"disk_format\": ", JsonString(disk_format), "}");
  absl::StatusOr<HttpAnswer> r = Exchange(endpoint() + "/v2/images", "POST",
                                          body, nullptr, 0, kRequestTimeout);
  if (!r.ok()) return r.status();
  if (r->code != 201) {
    return absl::InternalError(
        absl::StrCat("POST /v2/images: HTTP ", r->code, ": ", r->body));
  }
  return id;
}

absl::Status GlanceFixture::UploadImage(absl::string_view id,
                                        absl::string_view bytes) {
  UploadSource source{bytes, nullptr};
  absl::StatusOr<HttpAnswer> r =
      Exchange(absl::StrCat(endpoint(), "/v2/images/", id, "/file"), "PUT", "",
               &source, static_cast<int64_t>(bytes.size()), kRequestTimeout);
  if (!r.ok()) return r.status();
  if (r->code != 204) {
    return absl::InternalError(absl::StrCat(
        "PUT /v2/images/", id, "/file: HTTP ", r->code, ": ", r->body));
  }
  return absl::OkStatus();
}

absl::Status GlanceFixture::UploadImageFile(absl::string_view id,
                                            const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(fopen(path.c_str(), "rbe"),
                                             fclose);
  if (file == nullptr) return ErrnoStatus("open " + path);
  struct stat st;
  if (fstat(fileno(file.get()), &st) != 0) return ErrnoStatus("stat " + path);
  UploadSource source{"", file.get()};
  absl::StatusOr<HttpAnswer> r =
      Exchange(absl::StrCat(endpoint(), "/v2/images/", id, "/file"), "PUT", "",
               &source, static_cast<int64_t>(st.st_size), kRequestTimeout);
  if (!r.ok()) return r.status();
  if (r->code != 204) {
    return absl::InternalError(absl::StrCat(
        "PUT /v2/images/", id, "/file: HTTP ", r->code, ": ", r->body));
  }
  return absl::OkStatus();
}

// ---- SharedGlance
// -------------------------------------------------------------

namespace {
SharedFixture<GlanceFixture> shared_glance("glance-api");
}  // namespace

GlanceFixture* SharedGlance() {
  return shared_glance.Get([](GlanceFixture& glance) {
    std::fprintf(stderr, "glance fixture: %s up in %s\n",
                 glance.endpoint().c_str(),
                 absl::FormatDuration(glance.start_duration()).c_str());
  });
}

}  // namespace novadock::testing
