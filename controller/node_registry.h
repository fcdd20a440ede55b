// NodeRegistry: the pool of docker nodes (one per agent) with their state,
// capacity, usage and in-flight reservations — the seeds' Pebbles host pool.
//
// States: ACTIVE; DRAINING (drain requested, instances remain: no new ones)
// and DRAINED (drain requested, empty); FAILED after `failure_threshold`
// consecutive failed checks or calls, back to ACTIVE (or DRAINING/DRAINED)
// by itself when a check passes again.
//
// Placement (Reserve with no node): among ACTIVE nodes that have answered a
// check at least once (capacity is unknown before) and whose free memory
// (capacity - usage - reserved) and free slots fit the flavor, the one with
// the most free memory after placing; ties broken by the fewest instances,
// then by name — spreading load, unlike the seeds' "oldest usable host",
// because containers share a host's kernel and memory pressure is what
// hurts them (docs/controller.md). vCPUs are overcommitted as in Nova and
// do not constrain placement.
//
// Thread-safe. No lock is held across an RPC: CheckAll copies the stubs,
// calls every agent at once with a deadline, then applies the results.
// `connector` and `clock` must outlive it.
#ifndef NOVADOCK_CONTROLLER_NODE_REGISTRY_H_
#define NOVADOCK_CONTROLLER_NODE_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/agent_connector.h"
#include "novadock/v1/controller.pb.h"
#include "proto/common/clock.h"

namespace novadock::controller {

struct AgentEntry {
  std::string name;     // Node name; must equal the agent's --node_name.
  std::string address;  // host:port.
};

// A node name: 1-63 of [A-Za-z0-9._-] (the agent's --node_name).
bool IsValidNodeName(absl::string_view name);

// Parses "NAME=ADDRESS,NAME=ADDRESS" (the --agents flag) or, one per line
// with '#' comments and blank lines ignored, an agents file (a line may also
// hold several comma-separated entries). NAME is [A-Za-z0-9._-]{1,63};
// ADDRESS is host:port or [v6]:port with port 1..65535. INVALID_ARGUMENT,
// starting with `source` ("--agents" or the file's path) and naming the
// entry (and line), for a bad name, missing '=', bad address, a duplicate
// name or an address given for two names. Empty text: no agents.
[[nodiscard]] absl::StatusOr<std::vector<AgentEntry>> ParseAgentList(
    absl::string_view text, absl::string_view source);

struct RegistryOptions {
  // Consecutive failed checks or unreachable calls -> FAILED.
  int failure_threshold = 5;
  // Deadline of each agent's GetNode in a check.
  absl::Duration check_timeout = absl::Seconds(3);
  // Every node starts draining (the operator undrains them one by one).
  bool drain_all = false;
};

// Capacity held for a spawn in flight; released by Release (or when the
// spawn's result is known).
struct Reservation {
  std::string node;
  std::string uuid;
  int64_t memory_mb = 0;
  int32_t vcpus = 0;
  int64_t disk_gb = 0;
};

class NodeRegistry {
 public:
  NodeRegistry(AgentConnector& connector, Clock& clock,
               RegistryOptions options);
  ~NodeRegistry();

  // Replaces the set of agents: new names are added (ACTIVE, or DRAINING
  // with drain_all, until a check says otherwise), vanished ones dropped,
  // changed addresses reconnected (health and capacity start afresh; drain
  // and reservations are kept). All entries are validated and connected
  // first; on any error nothing changes: INVALID_ARGUMENT for a bad name,
  // address or duplicate, else the connector's error (e.g. INVALID_ARGUMENT
  // for plain text to a non-loopback address), naming the node.
  [[nodiscard]] absl::Status SetAgents(const std::vector<AgentEntry>& agents);

  // GetNode on every agent in parallel (all in flight at once through
  // gRPC's callback API, each bounded by check_timeout); GetNode fails while
  // the agent's dockerd is down, so it is the health check. Success (and the
  // agent reporting this node's name) copies capacity, usage, Docker version
  // and uptime and resets the error count; failure counts one error. Blocks for
  // at most about check_timeout.
  void CheckAll();

  std::vector<novadock::v1::NodeStatus> List() const;
  // NOT_FOUND: no such node.
  [[nodiscard]] absl::StatusOr<novadock::v1::NodeStatus> Get(
      const std::string& name) const;
  // The agent stub of `name`. NOT_FOUND: no such node.
  [[nodiscard]] absl::StatusOr<
      std::shared_ptr<novadock::v1::Agent::StubInterface>>
  Stub(const std::string& name) const;
  // Every node with its stub, for fan-out calls.
  std::vector<std::pair<std::string,
                        std::shared_ptr<novadock::v1::Agent::StubInterface>>>
  Stubs() const;

  [[nodiscard]] absl::StatusOr<novadock::v1::NodeStatus> Drain(
      const std::string& name);
  [[nodiscard]] absl::StatusOr<novadock::v1::NodeStatus> Undrain(
      const std::string& name);

  // Holds capacity for a spawn of `flavor` on `node`, or (node empty) on the
  // node placement picks. A node has room when its free memory and disk
  // (capacity - usage - reserved; disk only if the agent reports capacity)
  // hold the flavor and a slot is free. NOT_FOUND: unknown node.
  // FAILED_PRECONDITION: the node is DRAINING/DRAINED/FAILED.
  // UNAVAILABLE: the named node has not answered a check yet.
  // RESOURCE_EXHAUSTED: no (or not that) node has room; the message says
  // what was asked and the best offer. INVALID_ARGUMENT: negative sizes.
  [[nodiscard]] absl::StatusOr<Reservation> Reserve(
      const std::string& node, const std::string& uuid,
      const novadock::v1::Flavor& flavor);
  // Returns a reservation's capacity. If `created`, the instance's size is
  // counted in the node's usage until a check begun after this refreshes
  // it. A second Release of the same reservation, or one for a node removed
  // or moved since, does nothing.
  void Release(const Reservation& reservation, bool created);

  // Records the outcome of a call made to `node` outside CheckAll: errors
  // that mean the agent is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED)
  // count towards FAILED; PERMISSION_DENIED and UNAUTHENTICATED change
  // nothing (a Glance token refused for one image, or the agent refusing
  // this controller's certificate: the periodic check, which involves no
  // token, tells them apart); any other outcome (OK, NOT_FOUND, ...) is an
  // answer and resets the count. Unknown nodes are ignored.
  void RecordCallResult(const std::string& node, const absl::Status& status);

 private:
  struct Node;
  absl::StatusOr<novadock::v1::NodeStatus> SetDrain(const std::string& name,
                                                    bool drain);
  // SetAgents' last step: `stubs` holds the new and moved nodes' stubs.
  void ApplyAgentsLocked(
      const std::vector<AgentEntry>& agents, const std::set<std::string>& names,
      const std::map<std::string,
                     std::shared_ptr<novadock::v1::Agent::StubInterface>>&
          stubs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes node.state from errors, drain and usage; logs a change.
  void UpdateStateLocked(Node& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  novadock::v1::NodeStatus StatusLocked(const Node& node) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ACTIVE node placement picks for `flavor`, or RESOURCE_EXHAUSTED.
  absl::StatusOr<Node*> PlaceLocked(const novadock::v1::Flavor& flavor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FitsLocked(const Node& node, const novadock::v1::Flavor& flavor) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // "512 MB memory free, 3 slots free[, 40 GB disk free]".
  std::string FreeDescriptionLocked(const Node& node) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<const Node*> FindLocked(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NotFoundLocked(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  AgentConnector& connector_;
  Clock& clock_;
  const RegistryOptions options_;

  mutable absl::Mutex mu_;  // Guards nodes_ and next_generation_.
  std::map<std::string, std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  // Bumped by every change of the agent set; also numbers each node's
  // incarnation, so results of calls begun before a change are dropped.
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_NODE_REGISTRY_H_
