// Docker container state -> Nova power state, per DESIGN.md.
#ifndef NOVADOCK_AGENT_POWER_STATE_H_
#define NOVADOCK_AGENT_POWER_STATE_H_

#include "absl/strings/string_view.h"
#include "novadock/v1/types.pb.h"

namespace novadock::agent {

// running, restarting -> RUNNING; paused -> PAUSED; created, exited,
// removing -> SHUTDOWN; dead -> CRASHED; anything else -> UNSPECIFIED.
novadock::v1::PowerState PowerStateFromDocker(absl::string_view status);

}  // namespace novadock::agent

#endif  // NOVADOCK_AGENT_POWER_STATE_H_
