#include "agent/power_state.h"

#include "gtest/gtest.h"

namespace novadock::agent {
namespace {

using novadock::v1::PowerState;

TEST(PowerStateTest, MapsEveryDockerStatus) {
  const struct {
    const char* docker;
    PowerState nova;
  } kCases[] = {
      {"running", PowerState::POWER_STATE_RUNNING},
      {"restarting", PowerState::POWER_STATE_RUNNING},
      {"paused", PowerState::POWER_STATE_PAUSED},
      {"created", PowerState::POWER_STATE_SHUTDOWN},
      {"exited", PowerState::POWER_STATE_SHUTDOWN},
      {"removing", PowerState::POWER_STATE_SHUTDOWN},
      {"dead", PowerState::POWER_STATE_CRASHED},
      {"", PowerState::POWER_STATE_UNSPECIFIED},
      {"Up 3 minutes", PowerState::POWER_STATE_UNSPECIFIED},
      {"RUNNING", PowerState::POWER_STATE_UNSPECIFIED},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(PowerStateFromDocker(c.docker), c.nova) << c.docker;
  }
}

}  // namespace
}  // namespace novadock::agent
