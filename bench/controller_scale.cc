// controller_scale: the controller over many hollow agents, in the manner of
// Kubernetes' kubemark hollow nodes. For each pool size N, a child process
// starts N real AgentServers on 127.0.0.1:0, each over its own FakeDockerApi
// and the real clock, creates M instances on each through the agent's gRPC
// CreateInstance, then starts one ControllerServer over all of them
// (GrpcAgentConnector, plain text) and measures:
//   - the time of one full node sweep (NodeRegistry::CheckAll through
//     ControllerServer::CheckNowForTest), median and max of --sweeps;
//   - process RSS (VmRSS) before the agents, after them, and after the
//     controller started and swept: the last difference is the controller's
//     share (plus the agents' side of its WatchEvents streams);
//   - placement latency: Reserve (placement over all nodes) + Release on a
//     NodeRegistry of our own over the same agents, --placements times.
// Each pool size runs in a fresh forked child, so RSS starts clean; the
// parent never touches gRPC before forking.
//
// Usage: controller_scale [--nodes=50,200,500] [--instances=40]
//            [--sweeps=5] [--placements=10000] [--verbose]
// Agents' and controller's logs go to /dev/null unless --verbose.
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_server.h"
#include "agent/fake_docker_api.h"
#include "controller/agent_connector.h"
#include "controller/controller_server.h"
#include "controller/node_registry.h"
#include "novadock/v1/agent.grpc.pb.h"
#include "proto/common/clock.h"

namespace novadock::bench {
namespace {

using Steady = std::chrono::steady_clock;

constexpr char kImageId[] = "sha256:5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
constexpr int64_t kNodeMemoryMb = 256 << 10;  // 256 GiB per hollow node.
constexpr int64_t kInstanceMemoryMb = 256;

struct Flags {
  std::vector<int> nodes = {50, 200, 500};
  int instances = 40;
  int sweeps = 5;
  int placements = 10000;
  bool verbose = false;
};

struct Result {
  int nodes = 0;
  int instances = 0;
  double agents_start_s = 0;  // Starting N AgentServers.
  double create_s = 0;        // N*M CreateInstance calls.
  double controller_start_s = 0;
  double sweep_median_s = 0;
  double sweep_max_s = 0;
  int healthy_nodes = 0;  // Checked OK with M instances after sweeps.
  double rss_base_mb = 0;
  double rss_agents_mb = 0;
  double rss_controller_mb = 0;
  int threads_agents = 0;
  int threads_controller = 0;
  double place_p50_us = 0;
  double place_p99_us = 0;
  double place_max_us = 0;
  double place_cpu_p99_us = 0;  // Thread CPU time: the code, not waiting.
  double idle_cpu_pct = 0;      // Process CPU while idle, agents only.
};

double Seconds(Steady::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A field of /proc/self/status ("VmRSS", "Threads"); -1 if absent.
int64_t ProcStatusField(absl::string_view name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, absl::StrCat(name, ":"))) {
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(name.size() + 1), absl::ByAnyChar(" \t"),
                         absl::SkipEmpty());
      int64_t value = 0;
      if (!parts.empty() && absl::SimpleAtoi(parts[0], &value)) return value;
    }
  }
  return -1;
}

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// Process CPU (user + system) over `seconds` of idling, in % of one core.
double IdleCpuPercent(double seconds) {
  auto cpu = [] {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
  };
  const double before = cpu();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return (cpu() - before) / seconds * 100;
}

double RssMb() { return ProcStatusField("VmRSS") / 1024.0; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// One kubemark-style hollow node: a real agent over a fake dockerd.
class HollowAgent {
 public:
  HollowAgent(std::string name, std::string image_dir)
      : name_(std::move(name)),
        image_dir_(std::move(image_dir)),
        docker_(clock_) {}
  ~HollowAgent() {
    stub_.reset();
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(image_dir_, ignored);
  }

  absl::Status Start() {
    agent::DockerInfo info;
    info.name = name_;
    info.mem_total_bytes = kNodeMemoryMb << 20;
    info.ncpu = 64;
    info.docker_root_dir = "/";
    docker_.SetInfoForTest(info);
    docker_.AddImage("busybox:latest", kImageId);
    // The agent follows the fake's events from start; polling its cancel
    // flag every 10 ms x 500 agents would be the harness's main idle load.
    docker_.SetEventPollForTest(absl::Seconds(1));
    std::error_code ec;
    std::filesystem::create_directories(image_dir_, ec);
    if (ec)
      return absl::InternalError(absl::StrCat(image_dir_, ": ", ec.message()));
    agent::AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.runner.node_name = name_;
    options.runner.max_instances = 1 << 20;
    options.runner.image_dir = image_dir_;
    options.health_interval = absl::Hours(24);
    options.orphans.interval = absl::Hours(24);
    auto server = agent::AgentServer::Start(docker_, clock_, options);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    stub_ = novadock::v1::Agent::NewStub(
        grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
    return absl::OkStatus();
  }

  // Creates instance `i` (256 MB, 1 vCPU) through the agent's gRPC API.
  absl::Status CreateInstance(int node, int i) {
    novadock::v1::CreateInstanceRequest r;
    r.set_uuid(absl::StrFormat("%08x-0000-4000-8000-%012x", node, i));
    r.set_name(absl::StrCat("instance-", node, "-", i));
    r.mutable_image()->set_name("busybox");
    r.mutable_flavor()->set_memory_mb(kInstanceMemoryMb);
    r.mutable_flavor()->set_vcpus(1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    novadock::v1::Instance out;
    grpc::Status s = stub_->CreateInstance(&context, r, &out);
    if (!s.ok()) {
      return absl::InternalError(
          absl::StrCat(name_, ": CreateInstance: ", s.error_message()));
    }
    return absl::OkStatus();
  }

  std::string address() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }
  controller::AgentEntry entry() const { return {name_, address()}; }

 private:
  const std::string name_;
  const std::string image_dir_;
  // The real clock: FakeClock::AwaitUntil polls every 1 ms (so tests can
  // advance it), and N agents' periodic threads (health monitor, orphan
  // reaper) polling at 1 kHz were the harness's main idle load. Their
  // intervals here are hours, so real time never fires them.
  RealClock clock_;
  agent::FakeDockerApi docker_;
  std::unique_ptr<agent::AgentServer> server_;
  std::unique_ptr<novadock::v1::Agent::Stub> stub_;
};

// Runs `fn(i)` for i in [0, n) on `threads` threads; the first error wins.
template <typename Fn>
absl::Status ParallelFor(int n, int threads, Fn fn) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  absl::Status first;
  std::mutex mu;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n && !failed; i = next++) {
        absl::Status s = fn(i);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) first = s;
          failed = true;
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return first;
}

absl::Status RunOne(const Flags& flags, int n, Result& r) {
  r.nodes = n;
  r.instances = flags.instances;
  r.rss_base_mb = RssMb();
  const std::string root =
      absl::StrCat(std::filesystem::temp_directory_path().string(),
                   "/nd-controller-scale-", getpid());

  // Hollow agents.
  std::vector<std::unique_ptr<HollowAgent>> agents;
  Steady::time_point t0 = Steady::now();
  for (int i = 0; i < n; ++i) {
    agents.push_back(std::make_unique<HollowAgent>(
        absl::StrFormat("hollow-%04d", i), absl::StrCat(root, "/", i)));
    absl::Status s = agents.back()->Start();
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("agent ", i, ": ", s.message()));
    }
  }
  r.agents_start_s = Seconds(Steady::now() - t0);
  t0 = Steady::now();
  const int m = flags.instances;
  absl::Status created = ParallelFor(n * m, 4, [&](int k) {
    return agents[k / m]->CreateInstance(k / m, k % m);
  });
  if (!created.ok()) return created;
  r.create_s = Seconds(Steady::now() - t0);
  r.rss_agents_mb = RssMb();
  r.threads_agents = static_cast<int>(ProcStatusField("Threads"));
  r.idle_cpu_pct = IdleCpuPercent(2);

  std::vector<controller::AgentEntry> entries;
  for (const auto& a : agents) entries.push_back(a->entry());

  // The controller.
  controller::GrpcAgentConnector connector{TlsFiles{}};
  RealClock controller_clock;  // Checks every 24 h: only ours run.
  {
    controller::ControllerServerOptions options;
    options.listen = "127.0.0.1:0";
    options.agents = entries;
    options.check_interval = absl::Hours(24);
    t0 = Steady::now();
    auto server = controller::ControllerServer::Start(
        connector, controller_clock, options);
    if (!server.ok()) return server.status();
    r.controller_start_s = Seconds(Steady::now() - t0);
    std::vector<double> sweeps;
    for (int i = 0; i < flags.sweeps; ++i) {
      t0 = Steady::now();
      (*server)->CheckNowForTest();
      sweeps.push_back(Seconds(Steady::now() - t0));
    }
    r.sweep_median_s = Percentile(sweeps, 0.5);
    r.sweep_max_s = *std::max_element(sweeps.begin(), sweeps.end());
    r.rss_controller_mb = RssMb();
    r.threads_controller = static_cast<int>(ProcStatusField("Threads"));
    (*server)->Shutdown(absl::Now());
  }

  // Placement, on a registry of our own over the same agents.
  controller::NodeRegistry registry(connector, controller_clock,
                                    controller::RegistryOptions{});
  if (absl::Status s = registry.SetAgents(entries); !s.ok()) return s;
  registry.CheckAll();
  for (const novadock::v1::NodeStatus& node : registry.List()) {
    if (node.consecutive_errors() == 0 &&
        node.state() == novadock::v1::NODE_STATE_ACTIVE &&
        node.usage().instances() == m) {
      ++r.healthy_nodes;
    }
  }
  novadock::v1::Flavor flavor;
  flavor.set_memory_mb(512);
  flavor.set_vcpus(1);
  std::vector<double> latencies;
  latencies.reserve(flags.placements);
  std::vector<double> cpu;
  cpu.reserve(flags.placements);
  for (int i = 0; i < flags.placements; ++i) {
    const std::string uuid = absl::StrFormat("%08x-1111-4000-8000-%012x", n, i);
    const double cpu0 = ThreadCpuUs();
    t0 = Steady::now();
    absl::StatusOr<controller::Reservation> res =
        registry.Reserve("", uuid, flavor);
    if (!res.ok()) return res.status();
    registry.Release(*res, /*created=*/false);
    latencies.push_back(Seconds(Steady::now() - t0) * 1e6);
    cpu.push_back(ThreadCpuUs() - cpu0);
  }
  r.place_p50_us = Percentile(latencies, 0.5);
  r.place_p99_us = Percentile(latencies, 0.99);
  r.place_max_us = Percentile(latencies, 1.0);
  r.place_cpu_p99_us = Percentile(cpu, 0.99);

  agents.clear();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  return absl::OkStatus();
}

std::string Serialize(const Result& r) {
  return absl::StrFormat(
      "%d %d %.6f %.6f %.6f %.6f %.6f %d %.3f %.3f %.3f %d %d %.3f %.3f %.3f "
      "%.3f %.3f",
      r.nodes, r.instances, r.agents_start_s, r.create_s, r.controller_start_s,
      r.sweep_median_s, r.sweep_max_s, r.healthy_nodes, r.rss_base_mb,
      r.rss_agents_mb, r.rss_controller_mb, r.threads_agents,
      r.threads_controller, r.place_p50_us, r.place_p99_us, r.place_max_us,
      r.place_cpu_p99_us, r.idle_cpu_pct);
}

bool Parse(const std::string& line, Result& r) {
  return std::sscanf(line.c_str(),
                     "%d %d %lf %lf %lf %lf %lf %d %lf %lf %lf %d %d %lf %lf "
                     "%lf %lf %lf",
                     &r.nodes, &r.instances, &r.agents_start_s, &r.create_s,
                     &r.controller_start_s, &r.sweep_median_s, &r.sweep_max_s,
                     &r.healthy_nodes, &r.rss_base_mb, &r.rss_agents_mb,
                     &r.rss_controller_mb, &r.threads_agents,
                     &r.threads_controller, &r.place_p50_us, &r.place_p99_us,
                     &r.place_max_us, &r.place_cpu_p99_us,
                     &r.idle_cpu_pct) == 18;
}

// Forks a child for pool size `n`; it writes "ok <result>" or "error <msg>"
// to a pipe. The parent has not started gRPC, so forking is safe.
bool RunChild(const Flags& flags, int n, Result& r, std::string& error) {
  int fds[2];
  if (pipe(fds) != 0) {
    error = "pipe failed";
    return false;
  }
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    error = "fork failed";
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    if (!flags.verbose) {
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, STDERR_FILENO);
    }
    Result result;
    absl::Status s = RunOne(flags, n, result);
    const std::string out = s.ok() ? absl::StrCat("ok ", Serialize(result))
                                   : absl::StrCat("error ", s.ToString());
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t w = write(fds[1], out.data() + done, out.size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    close(fds[1]);
    _exit(s.ok() ? 0 : 1);  // Skips the agents' teardown: already done.
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t got;
  while ((got = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, got);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (absl::StartsWith(out, "ok ") && Parse(out.substr(3), r)) return true;
  error = out.empty() ? absl::StrCat("child died, wait status ", status) : out;
  return false;
}

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](absl::string_view name, absl::string_view& out) {
      if (!absl::ConsumePrefix(&arg, absl::StrCat("--", name, "="))) {
        return false;
      }
      out = arg;
      return true;
    };
    absl::string_view v;
    if (arg == "--verbose") {
      flags.verbose = true;
    } else if (value("nodes", v)) {
      flags.nodes.clear();
      for (absl::string_view part : absl::StrSplit(v, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 1) return false;
        flags.nodes.push_back(n);
      }
    } else if (value("instances", v)) {
      if (!absl::SimpleAtoi(v, &flags.instances) || flags.instances < 0) {
        return false;
      }
    } else if (value("sweeps", v)) {
      if (!absl::SimpleAtoi(v, &flags.sweeps) || flags.sweeps < 1) {
        return false;
      }
    } else if (value("placements", v)) {
      if (!absl::SimpleAtoi(v, &flags.placements) || flags.placements < 1) {
        return false;
      }
    } else {
      return false;
    }
  }
  return !flags.nodes.empty();
}

int Main(int argc, char** argv) {
  // As the daemons run (agent/main.cc, controller/main.cc).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::fprintf(stderr,
                 "usage: %s [--nodes=50,200,500] [--instances=40] "
                 "[--sweeps=5] [--placements=10000] [--verbose]\n",
                 argv[0]);
    return 2;
  }
  std::printf(
      "hollow agents: FakeDockerApi + real clock each, %d instances per node; "
      "%d sweeps, %d placements (Reserve+Release, 512 MB)\n\n",
      flags.instances, flags.sweeps, flags.placements);
  std::printf(
      "%6s %9s %9s %9s %9s %9s %7s %8s %8s %8s %8s %8s %9s %9s %9s %8s "
      "%7s\n",
      "nodes", "agents s", "create s", "ctl st s", "sweep s", "swp max",
      "healthy", "rss0 MB", "rss+ag", "rss+ctl", "ctl MB", "threads",
      "place p50", "p99 us", "max us", "cpu p99", "idle %");
  std::vector<Result> results;
  bool all_ok = true;
  for (int n : flags.nodes) {
    Result r;
    std::string error;
    if (!RunChild(flags, n, r, error)) {
      std::printf("%6d  failed: %s\n", n, error.c_str());
      std::fflush(stdout);
      all_ok = false;
      continue;
    }
    std::printf(
        "%6d %9.2f %9.2f %9.2f %9.3f %9.3f %7d %8.1f %8.1f %8.1f %8.1f %8d "
        "%9.1f %9.1f %9.1f %8.1f %7.0f\n",
        r.nodes, r.agents_start_s, r.create_s, r.controller_start_s,
        r.sweep_median_s, r.sweep_max_s, r.healthy_nodes, r.rss_base_mb,
        r.rss_agents_mb, r.rss_controller_mb,
        r.rss_controller_mb - r.rss_agents_mb, r.threads_controller,
        r.place_p50_us, r.place_p99_us, r.place_max_us, r.place_cpu_p99_us,
        r.idle_cpu_pct);
    std::fflush(stdout);
    results.push_back(r);
  }
  if (!results.empty()) {
    const Result& big = results.back();
    auto mark = [](bool met) { return met ? "[met]   " : "[MISSED]"; };
    std::printf("\ntargets at %d nodes:\n", big.nodes);
    std::printf("  %s placement p99 < 1 ms: %.1f us\n",
                mark(big.place_p99_us < 1000), big.place_p99_us);
    std::printf("  %s sweep < 2 s: %.3f s (max %.3f s)\n",
                mark(big.sweep_median_s < 2), big.sweep_median_s,
                big.sweep_max_s);
    const double ctl = big.rss_controller_mb - big.rss_agents_mb;
    std::printf("  %s controller RSS < 200 MB: %.1f MB\n", mark(ctl < 200),
                ctl);
  }
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace novadock::bench

int main(int argc, char** argv) { return novadock::bench::Main(argc, argv); }
