#!/usr/bin/env bash
# tools/test.sh - build and pass every test, as CI does:
#   1. the plain build (gcc, -Werror): every cmocka test, the out-of-tree
#      consumer (find_package and pkg-config), and each test binary again
#      under valgrind memcheck (no leak, no invalid access);
#   2. the AddressSanitizer + UBSan build: every cmocka test;
#   3. the ThreadSanitizer build: only the library and the tests that cross
#      threads (the thread pool, the process pool's parent, reel_run on
#      several threads), with the core's TSan fiber annotations;
#   4. clang, -Werror, LeakSanitizer: builds everything and runs the tests
#      once more (not under valgrind), so a leak fails them here too, with
#      the libFuzzer targets' short runs (docs/fuzz.md).
# Usage: tools/test.sh        (after tools/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

step() { printf '\n==== %s\n' "$*"; }

step "plain build (gcc)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j "$jobs"
# The valgrind runs are single-threaded and need no quiet machine (their
# timing checks are scaled): two at a time, after the rest ran alone.
(cd build-test && ctest --output-on-failure -LE valgrind &&
    ctest --output-on-failure -L valgrind -j "$jobs")

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=ON \
      -DREEL_BUILD_BENCH=OFF -DREEL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure)

# Only what crosses threads: the rest is one loop on one thread, which TSan
# cannot judge, and each live fiber takes one of TSan's 8128 thread slots
# (test_sched's million sleepers would not fit). No suppressions: none needed.
tsan_tests=(threadpool procpool loop inbox rt rt_listen rt_offload)
# Channels between loops (issue 16): test_xchan runs its loops on several threads.
tsan_tests+=(xchan)
step "sanitizer build (TSan: ${tsan_tests[*]})"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREEL_SANITIZE_THREAD=ON \
      -DREEL_BUILD_BENCH=OFF -DREEL_BUILD_EXAMPLES=OFF -DREEL_BUILD_TOOLS=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target "${tsan_tests[@]/#/test_}"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --output-on-failure -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$")

# LeakSanitizer alone (no instrumentation, a malloc interposer and a scan at
# exit): the clang build's tests leave valgrind out, so LSan checks leaks.
# Forked children that _exit skip the scan, as they should. handle_segv=0:
# LSan's own SIGSEGV handler would turn the deaths test_stack expects (reel's
# overflow report, then death by SIGSEGV as without reel) into exit(1); it
# finds nothing LSan is for, so it stays out of the way.
step "clang build (LSan)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DREEL_SANITIZE_LEAK=ON -DREEL_BUILD_FUZZ=ON >/dev/null
cmake --build build-clang -j "$jobs"
# soak_short is left out here: a minute of load whose leaks the plain
# build's run already judges (its RSS and descriptor verdict).
(cd build-clang && LSAN_OPTIONS=handle_segv=0 ctest --output-on-failure -LE valgrind -E '^soak_short$')

step "all test builds passed"
