// Runtime defaults of the ThreadSanitizer build, compiled into every
// executable (see README.md). TSAN_OPTIONS still overrides.
#include "sanitizers/suppressions.h"

extern "C" {

// A report makes the process exit 66 at its end (the default), so a test
// binary with a race fails; second_deadlock_stack helps read lock reports.
const char* __tsan_default_options() {
  return "second_deadlock_stack=1:history_size=4";
}

const char* __tsan_default_suppressions() {
  return novadock::sanitizers::kTsanSuppressions;
}

}  // extern "C"
