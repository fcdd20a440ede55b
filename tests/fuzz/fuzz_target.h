// One fuzz target: NOVADOCK_FUZZ_TARGET(Name) { body using data, size }
// defines novadock::fuzz::Name(data, size). In a libFuzzer binary (built
// with NOVADOCK_FUZZER_MAIN=Name) it is also LLVMFuzzerTestOneInput; the
// unit test fuzz_replay_test calls it on every file under tests/fuzz/<dir>
// (seeds and kept crashes), so a fixed crash stays fixed in every build.
//
// A target returns 0, and calls FuzzCheck(false, why) when an invariant of
// the parser's contract is broken (a crash libFuzzer keeps as an artifact).
#ifndef NOVADOCK_TESTS_FUZZ_FUZZ_TARGET_H_
#define NOVADOCK_TESTS_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"

namespace novadock::fuzz {

inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// Aborts with `why` unless `ok`: a broken contract is a finding.
inline void FuzzCheck(bool ok, const char* why) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", why);
  std::abort();
}

}  // namespace novadock::fuzz

#define NOVADOCK_FUZZ_TARGET_FN(name)         \
  namespace novadock::fuzz {                  \
  int name(const uint8_t* data, size_t size); \
  }                                           \
  int novadock::fuzz::name(const uint8_t* data, size_t size)

#ifdef NOVADOCK_FUZZER_MAIN
#define NOVADOCK_FUZZ_TARGET(name)                                          \
  NOVADOCK_FUZZ_TARGET_FN(name);                                            \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return novadock::fuzz::name(data, size);                                \
  }                                                                         \
  NOVADOCK_FUZZ_TARGET_FN(name)
#else
#define NOVADOCK_FUZZ_TARGET(name) NOVADOCK_FUZZ_TARGET_FN(name)
#endif

#endif  // NOVADOCK_TESTS_FUZZ_FUZZ_TARGET_H_
