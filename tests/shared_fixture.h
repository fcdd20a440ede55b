// SharedFixture<T>: one fixture (a private dockerd, a glance-api) shared by
// every test of a binary: started on the first Get(), stopped by a gtest
// Environment after the last test. T needs `absl::Status Start()` and
// `absl::Status Stop()`. Thread-safe. Define one per fixture type at
// namespace scope, so its Environment registers before the tests run.
#ifndef NOVADOCK_TESTS_SHARED_FIXTURE_H_
#define NOVADOCK_TESTS_SHARED_FIXTURE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace novadock::testing {

template <typename T>
class SharedFixture {
 public:
  // `what` names the fixture in failures ("dockerd", "glance-api").
  explicit SharedFixture(std::string what) : what_(std::move(what)) {
    ::testing::AddGlobalTestEnvironment(new StopAtEnd(this));
  }

  // The started fixture; `on_started` runs once after a successful start. On
  // a start failure records a gtest failure with the reason and returns
  // nullptr, on this and every later call.
  T* Get(const std::function<void(T&)>& on_started = {}) {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      started_ = true;
      auto fixture = std::make_unique<T>();
      absl::Status s = fixture->Start();
      if (s.ok()) {
        if (on_started) on_started(*fixture);
        fixture_ = std::move(fixture);
      } else {
        error_ = s.ToString();
        // `fixture` is destroyed here, which stops and removes what started.
      }
    }
    if (fixture_ == nullptr) {
      ADD_FAILURE() << "cannot start the test " << what_ << ": "
                    << (error_.empty() ? "stopped" : error_);
    }
    return fixture_.get();
  }

 private:
  class StopAtEnd : public ::testing::Environment {
   public:
    explicit StopAtEnd(SharedFixture* owner) : owner_(owner) {}
    void TearDown() override { owner_->Stop(); }

   private:
    SharedFixture* const owner_;
  };

  void Stop() {
    absl::MutexLock lock(&mu_);
    if (fixture_ == nullptr) return;
    absl::Status s = fixture_->Stop();
    EXPECT_TRUE(s.ok()) << "stopping the shared " << what_ << ": " << s;
    fixture_.reset();
  }

  const std::string what_;
  absl::Mutex mu_;  // Guards the below.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<T> fixture_ ABSL_GUARDED_BY(mu_);
  std::string error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace novadock::testing

#endif  // NOVADOCK_TESTS_SHARED_FIXTURE_H_
