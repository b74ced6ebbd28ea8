#!/usr/bin/env bash
# tools/test.sh - build and pass every test, as CI does:
#   1. the plain build (gcc, -Werror): every cmocka test, the out-of-tree
#      consumer (find_package and pkg-config), and each test binary again
#      under valgrind memcheck (no leak, no invalid access);
#   2. the AddressSanitizer + UBSan build: every cmocka test;
#   3. clang, -Werror: builds everything and runs the tests once more,
#      with the libFuzzer targets' short runs (REEL_BUILD_FUZZ is on by
#      default under clang; docs/fuzz.md).
# Usage: tools/test.sh        (after tools/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

step() { printf '\n==== %s\n' "$*"; }

step "plain build (gcc)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j "$jobs"
(cd build-test && ctest --output-on-failure)

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=ON \
      -DREEL_BUILD_BENCH=OFF -DREEL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure)

step "clang build"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREEL_BUILD_FUZZ=ON >/dev/null
cmake --build build-clang -j "$jobs"
(cd build-clang && ctest --output-on-failure -LE valgrind)

step "all test builds passed"
