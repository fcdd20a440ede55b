#include "tests/dockerd_fixture.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "proto/common/clock.h"
#include "proto/common/log.h"
#include "proto/common/unique_fd.h"
#include "tests/shared_fixture.h"

extern char** environ;

namespace novadock::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kGracefulStopTimeout = absl::Seconds(30);
constexpr absl::Duration kKillTimeout = absl::Seconds(10);
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
constexpr size_t kLogTailBytes = 4096;
constexpr const char* kSystemContainerdSocket =
    "/run/containerd/containerd.sock";
constexpr const char* kDockerdCandidates[] = {
    "/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/sbin/dockerd",
    "/usr/local/bin/dockerd", "/sbin/dockerd"};
// dockerd finds containerd, shims and runc on PATH; runc is in /usr/sbin.
constexpr const char* kChildPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

std::string FindDockerd() {
  for (const char* path : kDockerdCandidates) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// The child's environment: ours with PATH replaced.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env = {kChildPath};
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "PATH=")) env.emplace_back(*e);
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

// In the forked child: only async-signal-safe calls.
void CloseFdsAbove2() {
  if (close_range(3, ~0U, 0) == 0) return;
  long max_fd = sysconf(_SC_OPEN_MAX);  // NOLINT(google-runtime-int)
  if (max_fd < 0 || max_fd > (1 << 20)) max_fd = 1 << 20;
  for (int fd = 3; fd < max_fd; ++fd) close(fd);
}

int OnRemoveEntry(const char* path, const struct stat* /*sb*/, int /*flag*/,
                  struct FTW* /*ftw*/) {
  remove(path);  // Failures show as a directory left behind.
  return 0;
}

size_t AppendToString(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct CurlCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistCleanup {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

absl::once_flag curl_init_once;

// Reads at most 1 MiB of a small (proc) file; empty on error.
std::string ReadSmallFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (fd.get() < 0) return out;
  char buf[4096];
  for (int i = 0; i < 256; ++i) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  char state = '?';
  std::vector<std::string> args;
};

// Parses /proc/<pid>/stat: "pid (comm) state ppid pgrp ...". The comm may
// hold spaces and parentheses, so fields are counted after the last ')'.
bool ReadStat(pid_t pid, ProcessInfo& info) {
  const std::string stat = ReadSmallFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return false;
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(stat).substr(close_paren + 1), ' ', absl::SkipEmpty());
  if (fields.size() < 3 || fields[0].empty()) return false;
  info.pid = pid;
  info.state = fields[0][0];
  return absl::SimpleAtoi(fields[1], &info.ppid) &&
         absl::SimpleAtoi(fields[2], &info.pgid);
}

std::vector<ProcessInfo> ListProcesses() {
  std::vector<ProcessInfo> out;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(opendir("/proc"), closedir);
  if (proc == nullptr) return out;
  for (int i = 0; i < (1 << 22); ++i) {
    const dirent* entry = readdir(proc.get());
    if (entry == nullptr) break;
    pid_t pid = 0;
    ProcessInfo info;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || !ReadStat(pid, info)) {
      continue;
    }
    const std::string cmdline =
        ReadSmallFile(absl::StrCat("/proc/", pid, "/cmdline"));
    info.args = absl::StrSplit(cmdline, '\0', absl::SkipEmpty());
    out.push_back(std::move(info));
  }
  return out;
}

// Gone or a zombie (reparented, waiting for a reaper we do not control).
bool IsAlive(pid_t pid) {
  ProcessInfo info;
  return ReadStat(pid, info) && info.state != 'Z' && info.state != 'X';
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

// The pid in dockerd's containerd pid file, 0 if none.
pid_t ContainerdPid(const std::string& dir) {
  const std::string text =
      ReadSmallFile(dir + "/exec/containerd/containerd.pid");
  pid_t pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &pid)) return 0;
  return pid;
}

// Best effort: thaws the freezer cgroup (v1) or cgroup.freeze (v2) of `pid`
// so that a pending SIGKILL is delivered. The root cgroup is never touched.
void ThawCgroupOf(pid_t pid) {
  const std::string cgroups =
      ReadSmallFile(absl::StrCat("/proc/", pid, "/cgroup"));
  for (absl::string_view line : absl::StrSplit(cgroups, '\n')) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3 || f[2].empty() || f[2] == "/") continue;
    std::string file;
    const char* value = nullptr;
    if (f[1] == "freezer") {
      file = absl::StrCat("/sys/fs/cgroup/freezer", f[2], "/freezer.state");
      value = "THAWED";
    } else if (f[0] == "0" && f[1].empty()) {
      file = absl::StrCat("/sys/fs/cgroup", f[2], "/cgroup.freeze");
      value = "0";
    } else {
      continue;
    }
    UniqueFd fd(open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() >= 0) {
      [[maybe_unused]] ssize_t n = write(fd.get(), value, std::strlen(value));
    }
  }
}

// Undoes mountinfo's octal escapes (\040 for a space, ...).
std::string UnescapeMountPath(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size()) {
      const int v =
          (in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// Mount points at or under `dir`, from /proc/self/mountinfo (field 5).
std::vector<std::string> MountPointsUnder(const std::string& dir) {
  std::vector<std::string> out;
  const std::string info = ReadSmallFile("/proc/self/mountinfo");
  for (absl::string_view line : absl::StrSplit(info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    std::string mount_point = UnescapeMountPath(f[4]);
    if (mount_point == dir || absl::StartsWith(mount_point, dir + "/")) {
      out.push_back(std::move(mount_point));
    }
  }
  return out;
}

}  // namespace

// ---- DockerdFixture ---------------------------------------------------------

DockerdFixture::~DockerdFixture() {
  absl::Status s = Stop();
  if (!s.ok()) NOVADOCK_LOG_ERROR("dockerd fixture: ", s.ToString());
}

absl::Status DockerdFixture::Start() {
  if (pid_ != 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return absl::OkStatus();
    pid_ = 0;  // It died; start a new one.
  }
  if (dir_.empty()) {
    absl::Status s = CreateDir();
    if (!s.ok()) return s;
  }
  // dockerd reuses the containerd named in its pid file if that pid exists,
  // even as a zombie, and then times out connecting to it. After a crash,
  // make it start a fresh one unless ours is really alive.
  const pid_t containerd = ContainerdPid(dir_);
  if (containerd != 0 && !IsAlive(containerd)) {
    unlink((dir_ + "/exec/containerd/containerd.pid").c_str());
  }
  absl::Status s = Spawn();
  if (!s.ok()) return s;
  s = WaitForPing(kStartTimeout);
  if (!s.ok()) {
    SignalAndReap(SIGKILL, kKillTimeout);
    return absl::UnavailableError(
        absl::StrCat(s.message(), "; tail of ", log_path(), ":\n", LogTail()));
  }
  return absl::OkStatus();
}

absl::Status DockerdFixture::CreateDir() {
  char tmpl[] = "/tmp/nd.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return ErrnoStatus("mkdtemp /tmp/nd.XXXXXX");
  dir_ = tmpl;
  // Containers run as other users must be able to reach their rootfs.
  if (chmod(dir_.c_str(), 0711) != 0) return ErrnoStatus("chmod " + dir_);
  for (const char* sub : {"/data", "/exec"}) {
    if (mkdir((dir_ + sub).c_str(), 0711) != 0) {
      return ErrnoStatus("mkdir " + dir_ + sub);
    }
  }
  // An empty config, so that /etc/docker/daemon.json cannot leak in.
  const std::string config = dir_ + "/daemon.json";
  UniqueFd fd(open(config.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0 || write(fd.get(), "{}\n", 3) != 3) {
    return ErrnoStatus("write " + config);
  }
  if (access(kSystemContainerdSocket, F_OK) == 0) {
    containerd_ns_ = absl::StrCat("nd-", dir_.substr(dir_.size() - 6));
  }
  if (std::getenv("NOVADOCK_TEST_KEEP_DOCKERD_LOG") != nullptr) {
    std::fprintf(stderr, "dockerd fixture: log %s (kept as %s.log)\n",
                 log_path().c_str(), dir_.c_str());
  }
  return absl::OkStatus();
}

absl::Status DockerdFixture::Spawn() {
  const std::string dockerd = FindDockerd();
  if (dockerd.empty()) {
    return absl::FailedPreconditionError(
        "no dockerd in /usr/sbin, /usr/bin, /usr/local/{s,}bin, /sbin "
        "(apt-get install docker.io)");
  }
  std::vector<std::string> args = {dockerd,
                                   "--data-root",
                                   dir_ + "/data",
                                   "--exec-root",
                                   dir_ + "/exec",
                                   "-H",
                                   host(),
                                   "--pidfile",
                                   dir_ + "/docker.pid",
                                   "--config-file",
                                   dir_ + "/daemon.json",
                                   "--bridge=none",
                                   "--iptables=false",
                                   "--ip-masq=false"};
  if (!containerd_ns_.empty()) {
    args.insert(args.end(), {"--containerd-namespace", containerd_ns_,
                             "--containerd-plugins-namespace",
                             containerd_ns_ + "-plugins"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> argv = CStringArray(args);
  std::vector<char*> envp = CStringArray(env);
  UniqueFd log_fd(open(log_path().c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd.get() < 0) return ErrnoStatus("open " + log_path());
  UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) return ErrnoStatus("open /dev/null");

  const pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setsid();
    if (dup2(null_fd.get(), 0) < 0 || dup2(log_fd.get(), 1) < 0 ||
        dup2(log_fd.get(), 2) < 0) {
      _exit(126);
    }
    CloseFdsAbove2();
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  pid_ = pid;
  return absl::OkStatus();
}

absl::Status DockerdFixture::WaitForPing(absl::Duration timeout) {
  absl::Status last = absl::UnavailableError("not tried");
  bool exited = false;
  const bool answered = PollUntil(timeout, [&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      exited = true;
      last = absl::UnavailableError(absl::StrCat(
          "dockerd exited during start (wait status ", status, ")"));
      return true;
    }
    absl::StatusOr<RawDockerResponse> r =
        RawDockerExchange(host(), "GET", "/_ping", "", "", absl::Seconds(2));
    if (r.ok() && r->http_code == 200) return true;
    last = r.ok() ? absl::UnavailableError(
                        absl::StrCat("HTTP ", r->http_code, ": ", r->body))
                  : r.status();
    return false;
  });
  if (exited) return last;
  if (answered) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("dockerd on ", socket_path(), " did not answer /_ping in ",
                   absl::FormatDuration(timeout), ": ", last.message()));
}

bool DockerdFixture::SignalAndReap(int signal, absl::Duration timeout) {
  if (pid_ == 0) return true;
  kill(pid_, signal);
  return PollUntil(timeout, [&] {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) pid_ = 0;
    return pid_ == 0;
  });
}

absl::Status DockerdFixture::Restart() {
  if (pid_ != 0 && !SignalAndReap(SIGTERM, kGracefulStopTimeout) &&
      !SignalAndReap(SIGKILL, kKillTimeout)) {
    return absl::InternalError(
        absl::StrCat("dockerd pid ", pid_, " survived SIGTERM and SIGKILL"));
  }
  return Start();
}

absl::Status DockerdFixture::Kill() {
  if (pid_ == 0) return absl::OkStatus();
  if (!SignalAndReap(SIGKILL, kKillTimeout)) {
    return absl::InternalError(
        absl::StrCat("dockerd pid ", pid_, " survived SIGKILL"));
  }
  // dockerd's own containerd dies with it (parent-death signal); wait for
  // that so that a Restart() right after does not find it half dead.
  const pid_t containerd = ContainerdPid(dir_);
  PollUntil(kKillTimeout,
            [&] { return containerd == 0 || !IsAlive(containerd); });
  return absl::OkStatus();
}

absl::Status DockerdFixture::Stop() {
  if (dir_.empty()) return absl::OkStatus();
  absl::Status result;
  if (pid_ != 0 && !SignalAndReap(SIGTERM, absl::Seconds(20)) &&
      !SignalAndReap(SIGKILL, kKillTimeout)) {
    result.Update(absl::InternalError(
        absl::StrCat("dockerd pid ", pid_, " survived SIGKILL")));
  }
  result.Update(KillLeftoverProcesses());
  result.Update(UnmountAll());
  if (std::getenv("NOVADOCK_TEST_KEEP_DOCKERD_LOG") != nullptr) {
    const std::string kept = dir_ + ".log";
    if (rename(log_path().c_str(), kept.c_str()) == 0) {
      std::fprintf(stderr, "dockerd fixture: log kept at %s\n", kept.c_str());
    }
  }
  nftw(dir_.c_str(), OnRemoveEntry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  struct stat st;
  if (lstat(dir_.c_str(), &st) == 0) {
    result.Update(absl::InternalError(
        absl::StrCat("fixture dir ", dir_, " could not be removed")));
    return result;  // Keep dir_ so that a later Stop() may retry.
  }
  dir_.clear();
  containerd_ns_.clear();
  return result;
}

absl::Status DockerdFixture::KillLeftoverProcesses() {
  // containerd and shims name D in their arguments (--config, -address); with
  // the system containerd, shims name our namespace instead.
  std::vector<ProcessInfo> all = ListProcesses();
  std::set<pid_t> victims;
  std::set<pid_t> group_leaders;
  const std::string needle = dir_ + "/";
  for (const ProcessInfo& p : all) {
    if (p.pid == getpid()) continue;
    for (const std::string& arg : p.args) {
      if (absl::StrContains(arg, needle) ||
          (!containerd_ns_.empty() && arg == containerd_ns_)) {
        victims.insert(p.pid);
        if (p.pgid == p.pid) group_leaders.insert(p.pid);
        break;
      }
    }
  }
  // Their descendants: the containers' processes, whose parent is a shim.
  for (int round = 0; round < 64; ++round) {
    const size_t before = victims.size();
    for (const ProcessInfo& p : all) {
      if (victims.count(p.ppid) > 0 && p.pid != getpid()) victims.insert(p.pid);
    }
    if (victims.size() == before) break;
  }
  if (victims.empty()) return absl::OkStatus();
  // SIGKILL stays pending on a frozen (paused) task until it is thawed.
  for (pid_t pid : victims) ThawCgroupOf(pid);
  for (pid_t leader : group_leaders) {
    if (leader > 1 && leader != getpgrp()) kill(-leader, SIGKILL);
  }
  for (pid_t pid : victims) kill(pid, SIGKILL);
  std::vector<pid_t> alive;
  PollUntil(kKillTimeout, [&] {
    alive.clear();
    for (pid_t pid : victims) {
      if (IsAlive(pid)) alive.push_back(pid);
    }
    return alive.empty();
  });
  if (alive.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "processes of ", dir_, " survived SIGKILL: ", absl::StrJoin(alive, ",")));
}

absl::Status DockerdFixture::UnmountAll() {
  std::vector<std::string> left;
  for (int round = 0; round < 8; ++round) {
    left = MountPointsUnder(dir_);
    if (left.empty()) return absl::OkStatus();
    // Deepest first: a longer path cannot be a parent of a shorter one.
    std::sort(left.begin(), left.end(),
              [](const std::string& a, const std::string& b) {
                return a.size() > b.size();
              });
    for (const std::string& mount_point : left) {
      umount2(mount_point.c_str(), MNT_DETACH);
    }
  }
  return absl::InternalError(absl::StrCat("still mounted under ", dir_, ": ",
                                          absl::StrJoin(left, " ")));
}

std::string DockerdFixture::LogTail() const {
  UniqueFd fd(open(log_path().c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "(no log)";
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return "(unreadable log)";
  const off_t start = std::max<off_t>(0, st.st_size - kLogTailBytes);
  std::string tail(kLogTailBytes, '\0');
  const ssize_t n = pread(fd.get(), tail.data(), tail.size(), start);
  tail.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return tail;
}

// ---- SharedDockerd
// ------------------------------------------------------------

namespace {
SharedFixture<DockerdFixture> shared_dockerd("dockerd");
}  // namespace

DockerdFixture* SharedDockerd() { return shared_dockerd.Get(); }

// ---- Raw requests
// -------------------------------------------------------------

absl::StatusOr<RawDockerResponse> RawDockerExchange(
    absl::string_view host, absl::string_view method, absl::string_view path,
    absl::string_view body, absl::string_view content_type,
    absl::Duration timeout) {
  constexpr absl::string_view kUnix = "unix://";
  if (!absl::StartsWith(host, kUnix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("host ", host, ": not unix://"));
  }
  absl::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_ALL); });
  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  const std::string socket(host.substr(kUnix.size()));
  const std::string url = absl::StrCat("http://localhost", path);
  const std::string method_str(method);
  std::unique_ptr<curl_slist, SlistCleanup> headers(
      curl_slist_append(nullptr, "Expect:"));
  if (!body.empty()) {
    headers.reset(curl_slist_append(
        headers.release(),
        absl::StrCat("Content-Type: ", content_type).c_str()));
  }
  RawDockerResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(
      c, CURLOPT_TIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(timeout)));  // NOLINT
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  }
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (method != "GET" && method != "POST" && method != "HEAD") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_str.c_str());
  }
  const CURLcode rc = curl_easy_perform(c);
  const std::string what = absl::StrCat(method, " ", host, path);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": ", error));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        what, ": ", curl_easy_strerror(rc), error[0] ? ": " : "", error));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.http_code);
  return response;
}

absl::StatusOr<std::string> RawDockerRequest(absl::string_view host,
                                             absl::string_view method,
                                             absl::string_view path,
                                             absl::string_view body,
                                             absl::string_view content_type) {
  absl::StatusOr<RawDockerResponse> r =
      RawDockerExchange(host, method, path, body, content_type);
  if (!r.ok()) return r.status();
  if (r->http_code < 400) return std::move(r->body);
  const std::string message =
      absl::StrCat(method, " ", path, ": HTTP ", r->http_code, ": ", r->body);
  switch (r->http_code) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 404:
      return absl::NotFoundError(message);
    case 409:
      return absl::FailedPreconditionError(message);
    default:
      return r->http_code >= 500 ? absl::InternalError(message)
                                 : absl::UnknownError(message);
  }
}

}  // namespace novadock::testing
