// Proves the TSan build can fail: tsan_absl_sync.cc must make absl::Mutex,
// CondVar and Notification order memory (no report when they do) without
// hiding a real race (a report when one access skips the lock). Each case
// runs in a child process, since a TSan report only changes the exit status
// (66) at the end of the process. Built only with -DNOVADOCK_TSAN=ON.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

char* self = nullptr;  // argv[0].

int counter = 0;  // Guarded by mu (except in the racy case).
absl::Mutex mu;

void Increment(bool locked) {
  for (int i = 0; i < 1000; ++i) {
    if (locked) {
      absl::MutexLock lock(&mu);
      ++counter;
    } else {
      ++counter;
    }
  }
}

// Every way our code waits: Mutex, Await, CondVar, Notification.
int Clean() {
  std::thread a(Increment, true);
  std::thread b(Increment, true);
  a.join();
  b.join();
  int payload = 0;
  bool ready = false;
  std::thread producer([&] {
    absl::MutexLock lock(&mu);
    payload = 1;
    ready = true;
  });
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&ready));
    payload += 1;
  }
  producer.join();
  absl::CondVar cv;
  bool go = false;
  std::thread signaller([&] {
    absl::MutexLock lock(&mu);
    payload = 5;
    go = true;
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (!go) cv.WaitWithTimeout(&mu, absl::Seconds(10));
    payload += 1;
  }
  signaller.join();
  absl::Notification done;
  std::thread notifier([&] {
    payload = 9;
    done.Notify();
  });
  done.WaitForNotification();
  payload += 1;
  notifier.join();
  return payload == 10 ? 0 : 1;
}

int Racy() {
  std::thread a(Increment, true);
  std::thread b(Increment, false);
  a.join();
  b.join();
  return 0;
}

// Runs this binary with `mode`; returns its exit status and stderr.
int RunChild(const char* mode, std::string* output) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execl(self, self, mode, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) output->append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TsanAbslSyncTest, AbseilSynchronizationIsSeen) {
  std::string output;
  EXPECT_EQ(RunChild("clean", &output), 0) << output;
  EXPECT_EQ(output.find("ThreadSanitizer"), std::string::npos) << output;
}

TEST(TsanAbslSyncTest, ARaceOnAGuardedMemberIsStillReported) {
  std::string output;
  EXPECT_EQ(RunChild("racy", &output), 66) << output;
  EXPECT_NE(output.find("WARNING: ThreadSanitizer: data race"),
            std::string::npos)
      << output;
}

}  // namespace

int main(int argc, char** argv) {
  self = argv[0];
  if (argc == 2 && std::strcmp(argv[1], "clean") == 0) return Clean();
  if (argc == 2 && std::strcmp(argv[1], "racy") == 0) return Racy();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
