#include "proto/common/clock.h"

#include <algorithm>

namespace novadock {

absl::Time RealClock::Now() { return absl::Now(); }

bool RealClock::AwaitUntil(absl::Mutex& mu, const bool* cancel,
                           absl::Time deadline) {
  mu.AwaitWithDeadline(absl::Condition(cancel), deadline);
  return *cancel;
}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&time_mu_);
  return now_;
}

bool FakeClock::AwaitUntil(absl::Mutex& mu, const bool* cancel,
                           absl::Time deadline) {
  // Polls the simulated time in small real steps; simulated time only moves
  // through Advance(), so this terminates as soon as a test advances it.
  while (!*cancel && Now() < deadline) {
    mu.AwaitWithTimeout(absl::Condition(cancel), absl::Milliseconds(1));
  }
  return *cancel;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&time_mu_);
  now_ += d;
}

}  // namespace novadock
