# Sanitizer and fuzzer builds (included by the root CMakeLists.txt before any
# target). See tests/sanitizers/README.md.
#
#   -DNOVADOCK_ASAN=ON  every target with AddressSanitizer + UBSan
#   -DNOVADOCK_TSAN=ON  every target with ThreadSanitizer
#   -DNOVADOCK_FUZZ=ON  the libFuzzer targets (tests/fuzz/), ASan + UBSan
#
# All three need clang (CC=clang CXX=clang++). Debian's gRPC, Protobuf and
# Abseil are not instrumented; what that means and how it is handled is in
# README.md beside this file.
option(NOVADOCK_ASAN "Build with AddressSanitizer and UBSan (clang)" OFF)
option(NOVADOCK_TSAN "Build with ThreadSanitizer (clang)" OFF)
option(NOVADOCK_FUZZ "Build the libFuzzer targets (clang)" OFF)

set(NOVADOCK_SANITIZER_DIR ${CMAKE_CURRENT_LIST_DIR})
if(NOVADOCK_ASAN AND NOVADOCK_TSAN)
  message(FATAL_ERROR "NOVADOCK_ASAN and NOVADOCK_TSAN exclude each other")
endif()
if((NOVADOCK_ASAN OR NOVADOCK_TSAN OR NOVADOCK_FUZZ) AND
   NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "sanitizer and fuzzer builds need clang "
                      "(CC=clang CXX=clang++)")
endif()

# ASan + UBSan flags; UBSan stops at the first finding.
set(NOVADOCK_ASAN_FLAGS -fsanitize=address,undefined
  -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  -fsanitize-ignorelist=${NOVADOCK_SANITIZER_DIR}/ubsan_ignorelist.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${NOVADOCK_SANITIZER_DIR}/ubsan_ignorelist.txt
  ${NOVADOCK_SANITIZER_DIR}/tsan_ignorelist.txt
  ${NOVADOCK_SANITIZER_DIR}/tsan.supp
  ${NOVADOCK_SANITIZER_DIR}/lsan.supp)

if(NOVADOCK_ASAN OR NOVADOCK_TSAN)
  # Sanitized code runs several times slower; -O1 with line tables keeps
  # builds quick and stack traces exact.
  set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")
  set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O1 -gline-tables-only")
endif()

if(NOVADOCK_ASAN)
  add_compile_options(${NOVADOCK_ASAN_FLAGS})
  add_link_options(-fsanitize=address,undefined)
  set(NOVADOCK_SANITIZER_SRCS ${NOVADOCK_SANITIZER_DIR}/asan_defaults.cc)
elseif(NOVADOCK_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer
    -fsanitize-ignorelist=${NOVADOCK_SANITIZER_DIR}/tsan_ignorelist.txt)
  add_link_options(-fsanitize=thread)
  set(NOVADOCK_SANITIZER_SRCS ${NOVADOCK_SANITIZER_DIR}/tsan_defaults.cc
    ${NOVADOCK_SANITIZER_DIR}/tsan_absl_sync.cc)
  # Tells TSan about Abseil's ordering; its own accesses are ordered by the
  # library and must not be instrumented (see the file's comment).
  set_source_files_properties(${NOVADOCK_SANITIZER_DIR}/tsan_absl_sync.cc
    PROPERTIES COMPILE_OPTIONS -fno-sanitize=thread)
endif()

if(NOVADOCK_SANITIZER_SRCS)
  # The runtime options and suppressions are compiled into every executable
  # (the __*_default_options / __*_default_suppressions hooks), so that any
  # way of running a binary (ctest, by hand, as a test's child process)
  # behaves the same. Suppression files are embedded at configure time.
  foreach(kind tsan lsan)
    file(READ ${NOVADOCK_SANITIZER_DIR}/${kind}.supp supp)
    string(TOUPPER ${kind} KIND)
    set(NOVADOCK_${KIND}_SUPPRESSIONS "${supp}")
  endforeach()
  configure_file(${NOVADOCK_SANITIZER_DIR}/suppressions.h.in
    ${CMAKE_BINARY_DIR}/gen/sanitizers/suppressions.h @ONLY)
  # An object library: its hooks override weak runtime symbols, which a
  # static archive member would never be pulled in for.
  add_library(novadock_sanitizer_support OBJECT ${NOVADOCK_SANITIZER_SRCS})
  target_include_directories(novadock_sanitizer_support PRIVATE
    ${CMAKE_BINARY_DIR}/gen ${CMAKE_SOURCE_DIR})
  target_link_libraries(novadock_sanitizer_support PUBLIC
    absl::synchronization ${CMAKE_DL_LIBS})
endif()

# Called once at the end of the root CMakeLists.txt: links the support
# object into every executable of the build.
function(novadock_link_sanitizer_support)
  if(NOT TARGET novadock_sanitizer_support)
    return()
  endif()
  set(dirs ${CMAKE_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      if(type STREQUAL "EXECUTABLE")
        target_link_libraries(${t} PRIVATE novadock_sanitizer_support)
      endif()
    endforeach()
  endwhile()
endfunction()

# novadock_fuzz_instrument(target): coverage for libFuzzer (and, in a build
# that is not ASan already, ASan + UBSan) on a library the fuzzers drive.
function(novadock_fuzz_instrument target)
  if(NOT NOVADOCK_FUZZ)
    return()
  endif()
  target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  if(NOT NOVADOCK_ASAN)
    target_compile_options(${target} PRIVATE ${NOVADOCK_ASAN_FLAGS})
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

# novadock_fuzzer(NAME SOURCE src LIBS libs... SECONDS n): a libFuzzer
# binary and its CTest test (label "fuzz") that runs for n seconds from the
# seeds in tests/fuzz/NAME. New inputs go to the build tree; the checked-in
# seeds stay untouched. A crash leaves its input in the build tree
# (artifact_prefix) and fails the test: copy it to tests/fuzz/NAME as
# crash-*, where the unit tests replay it (see tests/fuzz/README.md).
function(novadock_fuzzer name)
  if(NOT NOVADOCK_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "SOURCE;SECONDS" "LIBS" ${ARGN})
  add_executable(${name}_fuzzer ${ARG_SOURCE})
  target_compile_options(${name}_fuzzer PRIVATE ${NOVADOCK_WARNINGS}
    -fsanitize=fuzzer)
  if(NOT NOVADOCK_ASAN)
    target_compile_options(${name}_fuzzer PRIVATE ${NOVADOCK_ASAN_FLAGS})
  endif()
  target_link_options(${name}_fuzzer PRIVATE -fsanitize=fuzzer)
  target_include_directories(${name}_fuzzer PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name}_fuzzer PRIVATE ${ARG_LIBS})
  if(NOVADOCK_BUILD_TESTS)
    set(work ${CMAKE_BINARY_DIR}/fuzz/${name}/corpus)
    file(MAKE_DIRECTORY ${work})
    add_test(NAME ${name}_fuzz
      COMMAND ${name}_fuzzer -max_total_time=${ARG_SECONDS} -timeout=10
        -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix=${CMAKE_BINARY_DIR}/fuzz/${name}/
        ${work} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name})
    math(EXPR timeout "${ARG_SECONDS} * 3 + 60")
    set_tests_properties(${name}_fuzz PROPERTIES LABELS fuzz
      TIMEOUT ${timeout})
  endif()
endfunction()

# novadock_discover_tests(target [CONCURRENCY gtest_filter]): registers a
# GoogleTest binary's tests with CTest, label "unit". The tests matching
# CONCURRENCY (a --gtest_filter pattern, "*" for all) become one CTest test
# "<target>_concurrency" labelled "unit;concurrency" instead, which the TSan
# build runs (README.md). One test, not one per case, because CMake 3.25's
# gtest_discover_tests cannot give discovered tests two labels.
function(novadock_discover_tests target)
  cmake_parse_arguments(ARG "" "CONCURRENCY" "" ${ARGN})
  if(NOT ARG_CONCURRENCY)
    gtest_discover_tests(${target} PROPERTIES LABELS unit
      DISCOVERY_TIMEOUT 60)
    return()
  endif()
  if(NOT ARG_CONCURRENCY STREQUAL "*")
    gtest_discover_tests(${target} TEST_FILTER "-${ARG_CONCURRENCY}"
      PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
  endif()
  add_test(NAME ${target}_concurrency
    COMMAND ${target} --gtest_filter=${ARG_CONCURRENCY})
  set_tests_properties(${target}_concurrency PROPERTIES
    LABELS "unit;concurrency" TIMEOUT 600)
endfunction()

# novadock_sanitizer_self_tests(): in a TSan build, the test that the build
# can fail (tsan_absl_sync_test.cc). Called from tests/CMakeLists.txt.
function(novadock_sanitizer_self_tests)
  if(NOT NOVADOCK_TSAN)
    return()
  endif()
  add_executable(tsan_absl_sync_test
    ${NOVADOCK_SANITIZER_DIR}/tsan_absl_sync_test.cc)
  target_link_libraries(tsan_absl_sync_test PRIVATE
    absl::synchronization absl::time GTest::gtest)
  add_test(NAME tsan_absl_sync_test COMMAND tsan_absl_sync_test)
  set_tests_properties(tsan_absl_sync_test PROPERTIES
    LABELS "unit;concurrency" TIMEOUT 120)
endfunction()
