// Time, behind an interface so that tests can run on simulated time.
// Only RealClock and main.cc read the wall clock or sleep.
#ifndef NOVADOCK_PROTO_COMMON_CLOCK_H_
#define NOVADOCK_PROTO_COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace novadock {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Blocks until `deadline` or until `*cancel` becomes true (checked under
  // `mu`, which the caller holds; it is released while waiting). Returns true
  // if cancelled.
  virtual bool AwaitUntil(absl::Mutex& mu, const bool* cancel,
                          absl::Time deadline) = 0;
};

// The process's real clock. Thread-safe; stateless.
class RealClock final : public Clock {
 public:
  absl::Time Now() override;
  bool AwaitUntil(absl::Mutex& mu, const bool* cancel,
                  absl::Time deadline) override;
};

// A clock that moves only when told. Thread-safe. AwaitUntil returns as soon
// as Advance() passes the deadline or the cancel flag is set.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::UnixEpoch() + absl::Hours(1000))
      : now_(start) {}
  absl::Time Now() override;
  bool AwaitUntil(absl::Mutex& mu, const bool* cancel,
                  absl::Time deadline) override;
  void Advance(absl::Duration d);

 private:
  absl::Mutex time_mu_;  // Guards now_.
  absl::Time now_ ABSL_GUARDED_BY(time_mu_);
};

}  // namespace novadock

#endif  // NOVADOCK_PROTO_COMMON_CLOCK_H_
