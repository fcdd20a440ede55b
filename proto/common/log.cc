#include "proto/common/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/common/status_macros.h"

namespace novadock {

void LogLine(LogSeverity severity, const char* file, int line,
             absl::string_view message) {
  const char letter = severity == LogSeverity::kInfo      ? 'I'
                      : severity == LogSeverity::kWarning ? 'W'
                                                          : 'E';
  const char* base = std::strrchr(file, '/');
  base = base == nullptr ? file : base + 1;
  // Log timestamps are the one place outside RealClock that reads the clock.
  std::string stamp =
      absl::FormatTime("%m%d %H:%M:%E6S", absl::Now(), absl::UTCTimeZone());
  std::string out = absl::StrCat(std::string(1, letter), stamp, " ", base, ":",
                                 line, "] ", message, "\n");
  std::fwrite(out.data(), 1, out.size(), stderr);
}

namespace internal {
void CheckFailed(const char* cond, const char* file, int line) {
  LogLine(LogSeverity::kError, file, line,
          absl::StrCat("CHECK failed: ", cond));
  std::abort();
}
}  // namespace internal

}  // namespace novadock
