// InstanceDirectory: which node each instance lives on. Not a database: it is
// a cache rebuilt from the agents (ListInstances on every node) and kept up
// to date by the controller's own calls. For Spawn a miss is an answer once
// every node has been listed (Locate); for the other calls a miss asks
// every node (Find).
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

#include <cstdint>
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

  // Where a create of `uuid` must go, for Spawn: the cached node, or
  // NOT_FOUND straight from the cache when every current node has been
  // listed and no create of `uuid` is uncertain (every create through this
  // controller is recorded, and each list covers everything else up to the
  // last check); otherwise as Find. Keeps a spawn's cost flat in the number
  // of nodes. Assumes this controller is the only one creating on its
  // agents (docs/controller.md).
  [[nodiscard]] absl::StatusOr<std::string> Locate(const std::string& uuid);

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
  // A list answered before a Record/Forget/MarkUncertain of the same uuid
  // must not undo it: each such change is stamped, and a Rebuild leaves
  // alone the uuids changed after it began. Cleared when no Rebuild runs.
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  int rebuilds_running_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint64_t> changed_at_ ABSL_GUARDED_BY(mu_);
  void NoteChange(const std::string& uuid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_INSTANCE_DIRECTORY_H_
