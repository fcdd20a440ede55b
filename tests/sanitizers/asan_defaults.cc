// Runtime defaults of the ASan + UBSan build, compiled into every executable
// (see README.md). Environment variables (ASAN_OPTIONS, ...) still override.
#include "sanitizers/suppressions.h"

extern "C" {

// Stack-use-after-return and init-order checks on; leak checking stays on
// (the default) with the suppressions of lsan.supp.
const char* __asan_default_options() {
  return "detect_stack_use_after_return=1:check_initialization_order=1:"
         "strict_init_order=1:detect_leaks=1:abort_on_error=0";
}

const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}

const char* __lsan_default_suppressions() {
  return novadock::sanitizers::kLsanSuppressions;
}

}  // extern "C"
