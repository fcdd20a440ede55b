// Runtime defaults of the ThreadSanitizer build, compiled into every
// executable (see README.md). TSAN_OPTIONS still overrides.
#include "sanitizers/suppressions.h"

extern "C" {

// The first report ends the process (exit 66): a test binary with a race
// fails, and so does a test whose daemon (an agent it started) races, since
// its calls then fail. second_deadlock_stack helps read lock reports.
const char* __tsan_default_options() {
  return "second_deadlock_stack=1:history_size=4:halt_on_error=1";
}

const char* __tsan_default_suppressions() {
  return novadock::sanitizers::kTsanSuppressions;
}

}  // extern "C"
