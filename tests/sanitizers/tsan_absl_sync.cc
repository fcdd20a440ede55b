// ThreadSanitizer support for Debian's uninstrumented Abseil.
//
// libabsl_synchronization is not built with -fsanitize=thread, so an
// absl::Mutex lock or unlock (atomics and a futex inside the library) is
// invisible to TSan: without this file every member guarded by a Mutex —
// ours and gRPC's, whose gpr_mu is an absl::Mutex — is reported as a race.
//
// This file defines the public entry points of absl::Mutex, absl::CondVar
// and absl::Notification in the executable. The executable comes first in
// symbol lookup, so these definitions take every call: from our code and
// from the shared libraries (gRPC, Abseil itself through its PLT). Each one
// calls the library's implementation (dlsym RTLD_NEXT) and tells TSan the
// order it guarantees, with __tsan_acquire / __tsan_release on two
// addresses per Mutex, W (the Mutex) and R (W + 1):
//
//   writer lock: acquire W and R    writer unlock: release W
//   reader lock: acquire W          reader unlock: release R
//
// so a writer is ordered after every earlier holder and a reader after
// every earlier writer, the model TSan applies to pthread_rwlock. A wait
// (Await, CondVar::Wait) releases before and acquires after; a Condition
// that the library evaluates (maybe on the unlocking thread) acquires W and
// R first. Not provided: TSan's lock-order (deadlock) checks for
// absl::Mutex. Used only in -DNOVADOCK_TSAN=ON builds, and compiled without
// -fsanitize=thread itself: its own bookkeeping (the GuardedCondition a
// waiter leaves on its stack for the unlocking thread) is ordered by the
// library, which TSan cannot see.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if !ABSL_OPTION_USE_INLINE_NAMESPACE
#error "tsan_absl_sync.cc expects Abseil's inline namespace (Debian's)"
#endif

namespace {

#define NOVADOCK_TSAN_STR2(x) #x
#define NOVADOCK_TSAN_STR(x) NOVADOCK_TSAN_STR2(x)

// The library's definition of the absl member whose Itanium mangled name is
// `prefix` "4absl<inline namespace>" `rest`, e.g. ("_ZN", "5Mutex4LockEv").
// Aborts with the name if the library has no such symbol.
template <typename Fn>
Fn Real(const char* prefix, const char* rest) {
  const std::string ns = NOVADOCK_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string(prefix) + "4absl" + std::to_string(ns.size()) + ns + rest;
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in Abseil\n",
                 name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

void* ReaderAddress(const void* mu) {
  return static_cast<char*>(const_cast<void*>(mu)) + 1;
}
void AcquireWriter(const void* mu) {
  __tsan_acquire(const_cast<void*>(mu));
  __tsan_acquire(ReaderAddress(mu));
}
void AcquireReader(const void* mu) { __tsan_acquire(const_cast<void*>(mu)); }
void ReleaseWriter(const void* mu) { __tsan_release(const_cast<void*>(mu)); }
void ReleaseReader(const void* mu) { __tsan_release(ReaderAddress(mu)); }
// Before a wait that may hold the Mutex either way.
void ReleaseEither(const void* mu) {
  ReleaseWriter(mu);
  ReleaseReader(mu);
}

// A Condition evaluated inside the library, by the waiting thread or by the
// one unlocking, while the Mutex is held. It acquires what the waiter
// published when it passed the condition (its arguments) and the Mutex,
// evaluates the original, and releases the Mutex again so that a later
// holder is ordered after the reads the condition made.
struct GuardedCondition {
  const absl::Condition* condition;
  const absl::Mutex* mu;
};
bool EvalGuarded(GuardedCondition* g) {
  __tsan_acquire(const_cast<absl::Condition*>(g->condition));
  AcquireWriter(g->mu);
  const bool met = g->condition->Eval();
  ReleaseEither(g->mu);
  return met;
}
// Called by the waiter before it hands `cond` to the library.
void Publish(const absl::Condition& cond) {
  __tsan_release(const_cast<absl::Condition*>(&cond));
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// Each definition resolves the library's function once (thread-safe static).
#define NOVADOCK_REAL(type, prefix, rest) \
  static const auto real = Real<type>(prefix, rest)

void Mutex::Lock() {
  NOVADOCK_REAL(void (*)(Mutex*), "_ZN", "5Mutex4LockEv");
  real(this);
  AcquireWriter(this);
}

void Mutex::Unlock() {
  NOVADOCK_REAL(void (*)(Mutex*), "_ZN", "5Mutex6UnlockEv");
  ReleaseWriter(this);
  real(this);
}

bool Mutex::TryLock() {
  NOVADOCK_REAL(bool (*)(Mutex*), "_ZN", "5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) AcquireWriter(this);
  return locked;
}

void Mutex::ReaderLock() {
  NOVADOCK_REAL(void (*)(Mutex*), "_ZN", "5Mutex10ReaderLockEv");
  real(this);
  AcquireReader(this);
}

void Mutex::ReaderUnlock() {
  NOVADOCK_REAL(void (*)(Mutex*), "_ZN", "5Mutex12ReaderUnlockEv");
  ReleaseReader(this);
  real(this);
}

bool Mutex::ReaderTryLock() {
  NOVADOCK_REAL(bool (*)(Mutex*), "_ZN", "5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) AcquireReader(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  NOVADOCK_REAL(void (*)(Mutex*, const Condition&), "_ZN",
                "5Mutex8LockWhenERKNS0_9ConditionE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  real(this, Condition(&EvalGuarded, &g));
  AcquireWriter(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  NOVADOCK_REAL(void (*)(Mutex*, const Condition&), "_ZN",
                "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  real(this, Condition(&EvalGuarded, &g));
  AcquireReader(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  NOVADOCK_REAL(bool (*)(Mutex*, const Condition&, Duration), "_ZN",
                "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  const bool met = real(this, Condition(&EvalGuarded, &g), timeout);
  AcquireWriter(this);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  NOVADOCK_REAL(bool (*)(Mutex*, const Condition&, Time), "_ZN",
                "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  const bool met = real(this, Condition(&EvalGuarded, &g), deadline);
  AcquireWriter(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  NOVADOCK_REAL(
      bool (*)(Mutex*, const Condition&, Duration), "_ZN",
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  const bool met = real(this, Condition(&EvalGuarded, &g), timeout);
  AcquireReader(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  NOVADOCK_REAL(
      bool (*)(Mutex*, const Condition&, Time), "_ZN",
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  const bool met = real(this, Condition(&EvalGuarded, &g), deadline);
  AcquireReader(this);
  return met;
}

void Mutex::Await(const Condition& cond) {
  NOVADOCK_REAL(void (*)(Mutex*, const Condition&), "_ZN",
                "5Mutex5AwaitERKNS0_9ConditionE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  ReleaseEither(this);
  real(this, Condition(&EvalGuarded, &g));
  AcquireWriter(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  NOVADOCK_REAL(bool (*)(Mutex*, const Condition&, Duration), "_ZN",
                "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  ReleaseEither(this);
  const bool met = real(this, Condition(&EvalGuarded, &g), timeout);
  AcquireWriter(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  NOVADOCK_REAL(bool (*)(Mutex*, const Condition&, Time), "_ZN",
                "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  GuardedCondition g{&cond, this};
  Publish(cond);
  ReleaseEither(this);
  const bool met = real(this, Condition(&EvalGuarded, &g), deadline);
  AcquireWriter(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  NOVADOCK_REAL(void (*)(CondVar*, Mutex*), "_ZN",
                "7CondVar4WaitEPNS0_5MutexE");
  ReleaseEither(mu);
  real(this, mu);
  AcquireWriter(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  NOVADOCK_REAL(bool (*)(CondVar*, Mutex*, Duration), "_ZN",
                "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  ReleaseEither(mu);
  const bool timed_out = real(this, mu, timeout);
  AcquireWriter(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  NOVADOCK_REAL(bool (*)(CondVar*, Mutex*, Time), "_ZN",
                "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  ReleaseEither(mu);
  const bool timed_out = real(this, mu, deadline);
  AcquireWriter(mu);
  return timed_out;
}

// Notification has a lock-free fast path (an atomic flag inside the
// library), so it gets its own edge: Notify releases, a wait that saw the
// notification acquires.
void Notification::Notify() {
  NOVADOCK_REAL(void (*)(Notification*), "_ZN", "12Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  NOVADOCK_REAL(void (*)(const Notification*), "_ZNK",
                "12Notification19WaitForNotificationEv");
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  NOVADOCK_REAL(
      bool (*)(const Notification*, Duration), "_ZNK",
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  NOVADOCK_REAL(bool (*)(const Notification*, Time), "_ZNK",
                "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

#undef NOVADOCK_REAL

ABSL_NAMESPACE_END
}  // namespace absl
