#include "agent/power_state.h"

namespace novadock::agent {

novadock::v1::PowerState PowerStateFromDocker(absl::string_view status) {
  using novadock::v1::PowerState;
  // Docker's State.Status is an enum serialized as text; no other field
  // (and never the human "Up 3 minutes") is used.
  if (status == "running" || status == "restarting") {
    return PowerState::POWER_STATE_RUNNING;
  }
  if (status == "paused") return PowerState::POWER_STATE_PAUSED;
  if (status == "created" || status == "exited" || status == "removing") {
    return PowerState::POWER_STATE_SHUTDOWN;
  }
  if (status == "dead") return PowerState::POWER_STATE_CRASHED;
  return PowerState::POWER_STATE_UNSPECIFIED;
}

}  // namespace novadock::agent
