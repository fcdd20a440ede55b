#include "controller/node_registry.h"

#include <arpa/inet.h>
#include <grpc/support/time.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/common/grpc_status.h"
#include "proto/common/log.h"
#include "proto/common/status_macros.h"

namespace novadock::controller {

using novadock::v1::NodeResources;
using novadock::v1::NodeState;
using novadock::v1::NodeStatus;
using AgentStub = novadock::v1::Agent::StubInterface;

namespace {

constexpr size_t kMaxNodeNameLength = 63;

}  // namespace

bool IsValidNodeName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNodeNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

namespace {

// "host:port" or "[v6]:port", port 1..65535. The reason when it is not.
absl::Status ValidateAddress(absl::string_view address) {
  absl::string_view host;
  absl::string_view port;
  if (absl::ConsumePrefix(&address, "[")) {
    size_t end = address.find("]:");
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError("want [IPv6]:PORT");
    }
    host = address.substr(0, end);
    port = address.substr(end + 2);
    in6_addr v6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", host, "' is not an IPv6 address"));
    }
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("want HOST:PORT");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError("an IPv6 address needs [brackets]");
    }
    bool host_ok =
        !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
        });
    if (!host_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", host, "' is not a host name or IPv4 address"));
    }
  }
  int port_number = 0;
  bool digits = !port.empty() &&
                std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
  if (!digits || !absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port '", port, "' is not in 1..65535"));
  }
  return absl::OkStatus();
}

std::string StateName(NodeState state) {
  return std::string(
      absl::StripPrefix(novadock::v1::NodeState_Name(state), "NODE_STATE_"));
}

int64_t FreeMemoryMb(const NodeResources& capacity, const NodeResources& usage,
                     const NodeResources& reserved) {
  return capacity.memory_mb() - usage.memory_mb() - reserved.memory_mb();
}

void Add(const Reservation& r, int sign, NodeResources& to) {
  to.set_memory_mb(to.memory_mb() + sign * r.memory_mb);
  to.set_vcpus(to.vcpus() + sign * r.vcpus);
  to.set_disk_gb(to.disk_gb() + sign * r.disk_gb);
  to.set_instances(to.instances() + sign);
}

// A deadline `timeout` from now on gRPC's own monotonic clock (a relative
// gpr_timespec): the injected Clock may be simulated, the network is not.
void SetTimeout(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(
      gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
}

}  // namespace

absl::StatusOr<std::vector<AgentEntry>> ParseAgentList(
    absl::string_view text, absl::string_view source) {
  std::vector<AgentEntry> agents;
  std::set<std::string> names;
  std::set<std::string> addresses;
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  const bool multiline = lines.size() > 1;
  for (size_t l = 0; l < lines.size(); ++l) {
    absl::string_view line = lines[l];
    line = line.substr(0, line.find('#'));
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const std::vector<absl::string_view> items = absl::StrSplit(line, ',');
    for (size_t i = 0; i < items.size(); ++i) {
      absl::string_view item = absl::StripAsciiWhitespace(items[i]);
      std::string where = absl::StrCat(source, ": ");
      if (multiline) absl::StrAppend(&where, "line ", l + 1, ": ");
      if (!multiline || items.size() > 1) {
        absl::StrAppend(&where, "entry ", i + 1, ": ");
      }
      auto bad = [&](absl::string_view why) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "'", item, "': ", why));
      };
      if (item.empty()) return bad("empty entry; want NAME=HOST:PORT");
      size_t eq = item.find('=');
      if (eq == absl::string_view::npos) {
        return bad("missing '='; want NAME=HOST:PORT");
      }
      AgentEntry entry{
          std::string(absl::StripAsciiWhitespace(item.substr(0, eq))),
          std::string(absl::StripAsciiWhitespace(item.substr(eq + 1)))};
      if (!IsValidNodeName(entry.name)) {
        return bad("node name must be 1-63 of [A-Za-z0-9._-]");
      }
      absl::Status address = ValidateAddress(entry.address);
      if (!address.ok()) {
        return bad(absl::StrCat("bad address: ", address.message()));
      }
      if (!names.insert(entry.name).second) {
        return bad(absl::StrCat("duplicate node name ", entry.name));
      }
      if (!addresses.insert(entry.address).second) {
        return bad(absl::StrCat("address ", entry.address,
                                " is given for another node too"));
      }
      agents.push_back(std::move(entry));
    }
  }
  return agents;
}

struct NodeRegistry::Node {
  std::string name;
  std::string address;
  std::shared_ptr<AgentStub> stub;
  // Unique per (name, address) incarnation: a check that began before the
  // address changed (or the node was re-added) is not applied.
  uint64_t generation = 0;
  // Bumped by Release(created): a check that began before keeps the local
  // usage, since the agent's answer may predate the new instance.
  uint64_t usage_generation = 0;
  bool drain_requested = false;
  bool has_checked = false;  // A check has succeeded: usage is known.
  NodeState state = novadock::v1::NODE_STATE_UNSPECIFIED;  // Until added.
  NodeResources capacity;
  NodeResources usage;     // From the agent, plus instances created since.
  NodeResources reserved;  // Sum of in_flight.
  std::multimap<std::string, Reservation> in_flight;  // By instance uuid.
  int32_t consecutive_errors = 0;
  std::string last_error;
  absl::Time last_check = absl::InfinitePast();
  std::string docker_version;
  int64_t uptime_seconds = 0;
};

NodeRegistry::NodeRegistry(AgentConnector& connector, Clock& clock,
                           RegistryOptions options)
    : connector_(connector), clock_(clock), options_(std::move(options)) {}

NodeRegistry::~NodeRegistry() = default;

absl::Status NodeRegistry::SetAgents(const std::vector<AgentEntry>& agents) {
  std::set<std::string> names;
  for (const AgentEntry& a : agents) {
    if (!IsValidNodeName(a.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("agents: bad node name '", a.name, "'"));
    }
    NOVADOCK_RETURN_IF_ERROR(Annotate(
        ValidateAddress(a.address),
        absl::StrCat("agents: node ", a.name, " address ", a.address)));
    if (!names.insert(a.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("agents: duplicate node name ", a.name));
    }
  }
  // Connect new and moved nodes without the lock (it may read TLS files),
  // then apply unless another SetAgents applied meanwhile: then again.
  while (true) {
    std::map<std::string, std::string> current;  // Name -> address.
    uint64_t generation = 0;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [name, node] : nodes_) current[name] = node->address;
      generation = next_generation_;
    }
    std::map<std::string, std::shared_ptr<AgentStub>> stubs;
    for (const AgentEntry& a : agents) {
      auto it = current.find(a.name);
      if (it != current.end() && it->second == a.address) continue;
      absl::StatusOr<std::shared_ptr<AgentStub>> stub =
          connector_.Connect(a.address);
      if (!stub.ok()) {
        return Annotate(stub.status(), absl::StrCat("agents: node ", a.name));
      }
      stubs[a.name] = *std::move(stub);
    }
    absl::MutexLock lock(&mu_);
    if (next_generation_ != generation) continue;
    ApplyAgentsLocked(agents, names, stubs);
    return absl::OkStatus();
  }
}

void NodeRegistry::ApplyAgentsLocked(
    const std::vector<AgentEntry>& agents, const std::set<std::string>& names,
    const std::map<std::string, std::shared_ptr<AgentStub>>& stubs) {
  ++next_generation_;  // Marks the change even if only removals.
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (names.count(it->first) == 0) {
      NOVADOCK_LOG_INFO("node ", it->first, " at ", it->second->address,
                        ": removed");
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  for (const AgentEntry& a : agents) {
    auto stub = stubs.find(a.name);
    if (stub == stubs.end()) continue;  // Unchanged.
    std::unique_ptr<Node>& slot = nodes_[a.name];
    auto node = std::make_unique<Node>();
    node->name = a.name;
    node->address = a.address;
    node->stub = stub->second;
    node->generation = ++next_generation_;
    node->drain_requested = options_.drain_all;
    if (slot != nullptr) {  // Moved: keep the operator's drain and spawns.
      node->drain_requested = slot->drain_requested;
      node->reserved = slot->reserved;
      node->in_flight = std::move(slot->in_flight);
      NOVADOCK_LOG_INFO("node ", a.name, ": moved from ", slot->address, " to ",
                        a.address);
    } else {
      NOVADOCK_LOG_INFO("node ", a.name, " at ", a.address, ": added");
    }
    slot = std::move(node);
    UpdateStateLocked(*slot);
  }
}

void NodeRegistry::CheckAll() {
  struct Probe {
    std::string name;
    uint64_t generation = 0;
    uint64_t usage_generation = 0;
    std::shared_ptr<AgentStub> stub;
    grpc::ClientContext context;  // Lives until the call's callback ran.
    novadock::v1::GetNodeRequest request;
    grpc::Status status;
    novadock::v1::Node reply;
  };
  std::vector<std::unique_ptr<Probe>> probes;
  {
    absl::MutexLock lock(&mu_);
    probes.reserve(nodes_.size());
    for (const auto& [name, node] : nodes_) {
      auto p = std::make_unique<Probe>();
      p->name = name;
      p->generation = node->generation;
      p->usage_generation = node->usage_generation;
      p->stub = node->stub;
      probes.push_back(std::move(p));
    }
  }
  // GetNode fails when the agent or its dockerd is down, so it is the
  // health probe too. Every call is in flight at once through gRPC's
  // callback API (no thread per node), each with the deadline; this waits
  // for the last callback, so for at most about the deadline.
  absl::Mutex done_mu;
  size_t pending = probes.size();
  const absl::Duration timeout = options_.check_timeout;
  for (const std::unique_ptr<Probe>& p : probes) {
    SetTimeout(p->context, timeout);
    Probe* raw = p.get();
    p->stub->async()->GetNode(&p->context, &p->request, &p->reply,
                              [raw, &done_mu, &pending](grpc::Status s) {
                                raw->status = std::move(s);
                                absl::MutexLock lock(&done_mu);
                                --pending;
                              });
  }
  {
    absl::MutexLock lock(&done_mu);
    done_mu.Await(absl::Condition(
        +[](size_t* n) { return *n == 0; }, &pending));
  }

  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  for (const std::unique_ptr<Probe>& probe : probes) {
    const Probe& p = *probe;
    auto it = nodes_.find(p.name);
    if (it == nodes_.end() || it->second->generation != p.generation) continue;
    Node& node = *it->second;
    node.last_check = now;
    absl::Status status = FromGrpcStatus(p.status);
    if (status.ok() && p.reply.name() != node.name) {
      status = absl::FailedPreconditionError(absl::StrCat(
          "the agent at ", node.address, " serves node '", p.reply.name(),
          "', not '", node.name, "': fix --agents or its --node_name"));
    }
    if (!status.ok()) {
      ++node.consecutive_errors;
      node.last_error = Annotate(status, "GetNode").ToString();
    } else {
      node.consecutive_errors = 0;
      node.last_error.clear();
      node.has_checked = true;
      node.capacity = p.reply.capacity();
      if (node.usage_generation == p.usage_generation) {
        node.usage = p.reply.usage();
      }
      node.docker_version = p.reply.docker_version();
      node.uptime_seconds = p.reply.uptime_seconds();
    }
    UpdateStateLocked(node);
  }
}

std::vector<NodeStatus> NodeRegistry::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<NodeStatus> out;
  out.reserve(nodes_.size());
  for (const auto& [name, node] : nodes_) out.push_back(StatusLocked(*node));
  return out;
}

absl::StatusOr<NodeStatus> NodeRegistry::Get(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  NOVADOCK_ASSIGN_OR_RETURN(const Node* node, FindLocked(name));
  return StatusLocked(*node);
}

absl::StatusOr<std::shared_ptr<AgentStub>> NodeRegistry::Stub(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  NOVADOCK_ASSIGN_OR_RETURN(const Node* node, FindLocked(name));
  return node->stub;
}

std::vector<std::pair<std::string, std::shared_ptr<AgentStub>>>
NodeRegistry::Stubs() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, std::shared_ptr<AgentStub>>> out;
  out.reserve(nodes_.size());
  for (const auto& [name, node] : nodes_) out.emplace_back(name, node->stub);
  return out;
}

absl::StatusOr<NodeStatus> NodeRegistry::Drain(const std::string& name) {
  return SetDrain(name, true);
}

absl::StatusOr<NodeStatus> NodeRegistry::Undrain(const std::string& name) {
  return SetDrain(name, false);
}

absl::StatusOr<NodeStatus> NodeRegistry::SetDrain(const std::string& name,
                                                  bool drain) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return NotFoundLocked(name);
  Node& node = *it->second;
  if (node.drain_requested != drain) {
    NOVADOCK_LOG_INFO("node ", name, ": ", drain ? "drain" : "undrain",
                      " requested");
    node.drain_requested = drain;
  }
  UpdateStateLocked(node);
  return StatusLocked(node);
}

absl::StatusOr<Reservation> NodeRegistry::Reserve(
    const std::string& node_name, const std::string& uuid,
    const novadock::v1::Flavor& flavor) {
  if (flavor.memory_mb() < 0 || flavor.vcpus() < 0 || flavor.disk_gb() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flavor ", flavor.name(), ": negative memory_mb, vcpus or disk_gb"));
  }
  absl::MutexLock lock(&mu_);
  Node* chosen = nullptr;
  if (!node_name.empty()) {
    auto it = nodes_.find(node_name);
    if (it == nodes_.end()) return NotFoundLocked(node_name);
    Node& node = *it->second;
    if (node.state != novadock::v1::NODE_STATE_ACTIVE) {
      std::string why =
          absl::StrCat("node ", node_name, " is ", StateName(node.state),
                       ": it takes no new instances");
      if (!node.last_error.empty())
        absl::StrAppend(&why, "; ", node.last_error);
      return absl::FailedPreconditionError(why);
    }
    if (!node.has_checked) {
      return absl::UnavailableError(absl::StrCat(
          "node ", node_name,
          " has not answered a check yet, so its capacity is unknown",
          node.last_error.empty() ? "" : "; ", node.last_error));
    }
    if (!FitsLocked(node, flavor)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "node ", node_name, " has no room for ", flavor.memory_mb(),
          " MB (flavor ", flavor.name(), "): ", FreeDescriptionLocked(node)));
    }
    chosen = &node;
  } else {
    NOVADOCK_ASSIGN_OR_RETURN(chosen, PlaceLocked(flavor));
  }
  Reservation r;
  r.node = chosen->name;
  r.uuid = uuid;
  r.memory_mb = flavor.memory_mb();
  r.vcpus = flavor.vcpus();
  r.disk_gb = flavor.disk_gb();
  Add(r, +1, chosen->reserved);
  chosen->in_flight.emplace(uuid, r);
  return r;
}

absl::StatusOr<NodeRegistry::Node*> NodeRegistry::PlaceLocked(
    const novadock::v1::Flavor& flavor) {
  Node* best = nullptr;
  auto key = [](const Node& n) {  // Smaller is better.
    return std::make_tuple(-FreeMemoryMb(n.capacity, n.usage, n.reserved),
                           n.usage.instances() + n.reserved.instances(),
                           n.name);
  };
  int active = 0;
  int unchecked = 0;
  const Node* most_free = nullptr;
  for (const auto& [name, node] : nodes_) {
    if (node->state != novadock::v1::NODE_STATE_ACTIVE) continue;
    ++active;
    // Capacity is unknown until the node answers a check.
    if (!node->has_checked) {
      ++unchecked;
      continue;
    }
    if (most_free == nullptr || key(*node) < key(*most_free)) {
      most_free = node.get();
    }
    if (!FitsLocked(*node, flavor)) continue;
    if (best == nullptr || key(*node) < key(*best)) best = node.get();
  }
  if (best != nullptr) return best;
  std::string best_offer = "no ACTIVE node";
  if (most_free != nullptr) {
    best_offer = absl::StrCat("the most free is node ", most_free->name, " (",
                              FreeDescriptionLocked(*most_free), ")");
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no ACTIVE node has room for ", flavor.memory_mb(), " MB memory, ",
      flavor.disk_gb(), " GB disk and a slot (flavor ", flavor.name(),
      "): ", best_offer, "; ", active, " of ", nodes_.size(), " nodes ACTIVE",
      unchecked == 0 ? ""
                     : absl::StrCat(", ", unchecked,
                                    " of them not answering checks yet")));
}

bool NodeRegistry::FitsLocked(const Node& node,
                              const novadock::v1::Flavor& flavor) const {
  const NodeResources& cap = node.capacity;
  if (FreeMemoryMb(cap, node.usage, node.reserved) < flavor.memory_mb()) {
    return false;
  }
  if (cap.instances() - node.usage.instances() - node.reserved.instances() <
      1) {
    return false;
  }
  // Disk counts only when the agent reports it; vCPUs are overcommitted.
  return cap.disk_gb() == 0 ||
         cap.disk_gb() - node.usage.disk_gb() - node.reserved.disk_gb() >=
             flavor.disk_gb();
}

std::string NodeRegistry::FreeDescriptionLocked(const Node& node) const {
  const NodeResources& cap = node.capacity;
  std::string out = absl::StrCat(
      FreeMemoryMb(cap, node.usage, node.reserved), " MB memory free, ",
      cap.instances() - node.usage.instances() - node.reserved.instances(),
      " slots free");
  if (cap.disk_gb() > 0) {
    absl::StrAppend(
        &out, ", ",
        cap.disk_gb() - node.usage.disk_gb() - node.reserved.disk_gb(),
        " GB disk free");
  }
  return out;
}

void NodeRegistry::Release(const Reservation& reservation, bool created) {
  absl::MutexLock lock(&mu_);
  auto node_it = nodes_.find(reservation.node);
  if (node_it == nodes_.end()) return;  // Removed since: nothing to return.
  Node& node = *node_it->second;
  auto [begin, end] = node.in_flight.equal_range(reservation.uuid);
  auto it = std::find_if(begin, end, [&](const auto& entry) {
    const Reservation& r = entry.second;
    return r.memory_mb == reservation.memory_mb &&
           r.vcpus == reservation.vcpus && r.disk_gb == reservation.disk_gb;
  });
  if (it == end) return;  // Already released, or made before a move.
  Add(it->second, -1, node.reserved);
  if (created) {
    Add(it->second, +1, node.usage);
    ++node.usage_generation;
  }
  node.in_flight.erase(it);
  UpdateStateLocked(node);
}

void NodeRegistry::RecordCallResult(const std::string& name,
                                    const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  Node& node = *it->second;
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    ++node.consecutive_errors;
    node.last_error = status.ToString();
  } else if (absl::IsPermissionDenied(status) ||
             absl::IsUnauthenticated(status)) {
    return;  // Proves neither contact nor loss of it (see the header).
  } else {
    node.consecutive_errors = 0;
    node.last_error.clear();
  }
  UpdateStateLocked(node);
}

void NodeRegistry::UpdateStateLocked(Node& node) {
  NodeState next = novadock::v1::NODE_STATE_ACTIVE;
  if (node.consecutive_errors >= options_.failure_threshold) {
    next = novadock::v1::NODE_STATE_FAILED;
  } else if (node.drain_requested) {
    const bool empty = node.has_checked && node.usage.instances() == 0 &&
                       node.in_flight.empty();
    next = empty ? novadock::v1::NODE_STATE_DRAINED
                 : novadock::v1::NODE_STATE_DRAINING;
  }
  if (next == node.state) return;
  if (node.state != novadock::v1::NODE_STATE_UNSPECIFIED) {
    std::string why;
    if (next == novadock::v1::NODE_STATE_FAILED) {
      why = absl::StrCat(" after ", node.consecutive_errors,
                         " errors; last: ", node.last_error);
    }
    NOVADOCK_LOG_INFO("node ", node.name, ": ", StateName(node.state), " -> ",
                      StateName(next), why);
  }
  node.state = next;
}

NodeStatus NodeRegistry::StatusLocked(const Node& node) const {
  NodeStatus s;
  s.set_name(node.name);
  s.set_address(node.address);
  s.set_state(node.state);
  s.set_drain_requested(node.drain_requested);
  *s.mutable_capacity() = node.capacity;
  NodeResources usage = node.usage;  // Plus spawns in flight.
  usage.set_memory_mb(usage.memory_mb() + node.reserved.memory_mb());
  usage.set_vcpus(usage.vcpus() + node.reserved.vcpus());
  usage.set_disk_gb(usage.disk_gb() + node.reserved.disk_gb());
  usage.set_instances(usage.instances() + node.reserved.instances());
  *s.mutable_usage() = usage;
  *s.mutable_reserved() = node.reserved;
  s.set_consecutive_errors(node.consecutive_errors);
  s.set_last_error(node.last_error);
  if (node.last_check != absl::InfinitePast()) {
    s.set_last_check_unix_nanos(absl::ToUnixNanos(node.last_check));
  }
  s.set_docker_version(node.docker_version);
  s.set_uptime_seconds(node.uptime_seconds);
  return s;
}

absl::StatusOr<const NodeRegistry::Node*> NodeRegistry::FindLocked(
    const std::string& name) const {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return NotFoundLocked(name);
  return it->second.get();
}

absl::Status NodeRegistry::NotFoundLocked(const std::string& name) const {
  return absl::NotFoundError(absl::StrCat("no node named '", name, "' (",
                                          nodes_.size(), " nodes known)"));
}

}  // namespace novadock::controller
