// InstanceDirectory: which node each instance lives on. Not a database: it is
// a cache rebuilt from the agents (ListInstances on every node) and kept up
// to date by the controller's own calls; a miss asks every node.
//
// An uuid may live on at most one node, so "not found" is only an answer
// when every node has been asked: if a node that was never listed cannot be
// reached, Find returns UNAVAILABLE rather than NOT_FOUND, and Spawn does not
// risk a second copy.
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

  // The node of `uuid`: the cached one, else the one whose agent has it.
  // NOT_FOUND: no node has it (all asked). UNAVAILABLE: not found, and some
  // node that was never listed did not answer (named in the message).
  [[nodiscard]] absl::StatusOr<std::string> Find(const std::string& uuid);

  void Record(const std::string& uuid, const std::string& node);
  void Forget(const std::string& uuid);

 private:
  NodeRegistry& registry_;
  const absl::Duration call_timeout_;

  absl::Mutex mu_;  // Guards the maps.
  absl::flat_hash_map<std::string, std::string> node_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> listed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::controller

#endif  // NOVADOCK_CONTROLLER_INSTANCE_DIRECTORY_H_
