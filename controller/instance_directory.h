// InstanceDirectory: which node each instance lives on. Not a database: it is
// a cache rebuilt from the agents (ListInstances on every node) and kept up
// to date by the controller's own calls; a miss asks every node.
//
// An uuid may live on at most one node, so "not found" is only an answer
// when every node that may hold it has answered: if a node that was never
// listed cannot be reached, or one where a create of the uuid may have
// happened unseen (a spawn there ended without an answer, or the node's list
// showed the uuid's create in progress), Find returns UNAVAILABLE rather
// than NOT_FOUND, and Spawn does not risk a second copy.
//
// Thread-safe; no lock is held across an RPC. `registry` must outlive it.
#ifndef NOVADOCK_CONTROLLER_INSTANCE_DIRECTORY_H_
#define NOVADOCK_CONTROLLER_INSTANCE_DIRECTORY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/node_registry.h"

namespace novadock::controller {

class InstanceDirectory {
 public:
  InstanceDirectory(NodeRegistry& registry, absl::Duration call_timeout);

  // Lists every node's instances (in parallel) and records where each uuid
  // lives. Nodes that answer are marked listed. Returns the nodes that did
  // not answer.
  std::vector<std::string> Rebuild();

  // The node of `uuid`: the cached one, else the one whose agent has it
  // (every node but the FAILED ones asked in parallel, each for at most 5 s).
  // NOT_FOUND: no node has it. UNAVAILABLE: not found, and some node that
  // was never listed, or where the uuid's create is uncertain, did not
  // answer (named in the message).
  [[nodiscard]] absl::StatusOr<std::string> Find(const std::string& uuid);

  // `uuid` lives on `node` (a successful call said so).
  void Record(const std::string& uuid, const std::string& node);
  // `uuid` is gone (or the cached node was stale).
  void Forget(const std::string& uuid);
  // A create of `uuid` on `node` may have happened without the controller
  // seeing its result. Until `node` answers for the uuid (Find, a list),
  // Find does not answer NOT_FOUND while `node` cannot be asked.
  void MarkUncertain(const std::string& uuid, const std::string& node);

 private:
  NodeRegistry& registry_;
  const absl::Duration call_timeout_;

  absl::Mutex mu_;  // Guards the maps.
  absl::flat_hash_map<std::string, std::string> node_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> listed_ ABSL_GUARDED_BY(mu_);
  // uuid -> the node where its create's outcome is unknown.
  absl::flat_hash_map<std::string, std::string> uncertain_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_INSTANCE_DIRECTORY_H_
