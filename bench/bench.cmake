# reel-bench: the headline comparison (fibers vs threads vs processes vs
# serial, bench/suite/suite.h) and the micro-benchmarks, each measured beside
# its baseline in the same run (bench/main.c). Baselines need Boost.Context
# (jump_fcontext) and liburing (the raw NOP loop); without them the target is
# skipped, not the build: tools/setup.sh installs both.
#
# One folder per program (docs/bench.md has the map):
#   common/  what the parts of reel-bench share: measuring, the result table
#            and micro.csv, programs run beside a benchmark
#   suite/   the headline comparison, its CSV, report and plots
#   micro/   the micro-benchmarks, one per file
#   echo/    the echo benchmark: its part of reel-bench (echo.c) and the
#            programs it runs (baseline servers, load generator)
#   xloop/   messages between loops: round trip vs Go and eventfd,
#            one-way channel throughput (Go twin: go/xloop.go)
#   soak/    the soak test: its part of reel-bench (soak.c) and its load
#            generator (soak_load.c, soak_load_http.c), run against
#            examples/echo_server and reel_http_server
#   python/  the Python twin of the suite, run by path, not built
# main.c stays at the top: it is reel-bench's entry point, the file that ties
# suite/, micro/ and echo/ together; it is not shared (common/ holds only
# what is), nor part of any one of them.
#
# Headers are found by include directory, not by relative path: reel-bench's
# parts (and tests/test_bench_runner.c) get bench/common and bench/suite from
# reel_bench_suite, so every file writes #include "bench.h" / "suite.h"; the
# echo programs find echo_common.h beside them in echo/.
set(REEL_BENCH_DIR ${PROJECT_SOURCE_DIR}/bench)

# The runner of the headline comparison and its report, as a library so that
# tests/test_bench_runner.c checks the runner itself (arguments, the report
# from a fixed CSV, a crashing model) without the micro-benchmarks' needs.
add_library(reel_bench_suite STATIC
  ${REEL_BENCH_DIR}/common/bench.c
  ${REEL_BENCH_DIR}/common/child.c
  ${REEL_BENCH_DIR}/common/table.c
  ${REEL_BENCH_DIR}/suite/suite.c
  ${REEL_BENCH_DIR}/suite/suite_args.c
  ${REEL_BENCH_DIR}/suite/suite_cell.c
  ${REEL_BENCH_DIR}/suite/suite_python.c
  ${REEL_BENCH_DIR}/suite/suite_go.c
  ${REEL_BENCH_DIR}/suite/suite_exec.c
  ${REEL_BENCH_DIR}/suite/fresh.c
  ${REEL_BENCH_DIR}/suite/suite_report.c
  ${REEL_BENCH_DIR}/suite/model.c
  ${REEL_BENCH_DIR}/suite/workload.c
  ${REEL_BENCH_DIR}/suite/workload_server.c)
target_include_directories(reel_bench_suite PUBLIC
  ${REEL_BENCH_DIR}/common ${REEL_BENCH_DIR}/suite)
target_compile_definitions(reel_bench_suite PRIVATE
  REEL_LIBURING_VERSION="${URING_VERSION}"
  REEL_BENCH_PYTHON_DIR="${REEL_BENCH_DIR}/python")
target_link_libraries(reel_bench_suite PUBLIC reel_static m Threads::Threads)
target_link_libraries(reel_bench_suite PRIVATE reel_flags)

if(REEL_BUILD_TESTS)
  pkg_check_modules(BENCH_CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  find_program(VALGRIND valgrind)
  add_executable(test_bench_runner ${PROJECT_SOURCE_DIR}/tests/test_bench_runner.c)
  target_link_libraries(test_bench_runner PRIVATE reel_bench_suite reel_flags
    PkgConfig::BENCH_CMOCKA m)
  target_include_directories(test_bench_runner PRIVATE ${PROJECT_SOURCE_DIR}/engine/core
    ${PROJECT_SOURCE_DIR}/engine)
  target_compile_definitions(test_bench_runner PRIVATE ${REEL_PRIVATE_DEFS}
    REEL_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  add_test(NAME bench_runner COMMAND test_bench_runner)
  set_tests_properties(bench_runner PROPERTIES TIMEOUT 300)
  if(VALGRIND AND NOT REEL_SANITIZE)
    add_test(NAME valgrind_bench_runner COMMAND ${VALGRIND} -q --leak-check=full
      --errors-for-leak-kinds=definite,indirect --error-exitcode=9
      --trace-children=no $<TARGET_FILE:test_bench_runner>)
    set_tests_properties(valgrind_bench_runner PROPERTIES LABELS valgrind TIMEOUT 600)
  endif()
endif()
find_library(REEL_BOOST_CONTEXT_LIB boost_context)
find_library(REEL_URING_LIB uring)
if(NOT REEL_BOOST_CONTEXT_LIB OR NOT REEL_URING_LIB)
  message(WARNING "reel-bench not built: needs libboost-context-dev and "
                  "liburing-dev (tools/setup.sh installs them)")
else()
  add_executable(reel-bench
    ${REEL_BENCH_DIR}/main.c
    ${REEL_BENCH_DIR}/micro/switch.c
    ${REEL_BENCH_DIR}/micro/spawn.c
    ${REEL_BENCH_DIR}/micro/timer.c
    ${REEL_BENCH_DIR}/micro/sleep.c
    ${REEL_BENCH_DIR}/micro/mem.c
    ${REEL_BENCH_DIR}/micro/ring.c
    ${REEL_BENCH_DIR}/echo/echo.c
    ${REEL_BENCH_DIR}/http/http.c
    ${REEL_BENCH_DIR}/trace/trace.c
    ${REEL_BENCH_DIR}/soak/soak.c
    ${REEL_BENCH_DIR}/xloop/xloop.c
    ${REEL_BENCH_DIR}/xloop/xloop_base.c)
  # bench/http/http.c runs node_server.js and fastapi_app.py from the tree.
  target_compile_definitions(reel-bench PRIVATE
    REEL_BENCH_HTTP_DIR="${REEL_BENCH_DIR}/http")
  # micro/timer.c drives the engine's timer wheel directly
  # (#include "core/wheel.h", found under engine/); its reel__ symbols link
  # from the static library only.
  target_include_directories(reel-bench PRIVATE ${PROJECT_SOURCE_DIR}/engine)
  target_link_libraries(reel-bench PRIVATE reel_bench_suite reel_static reel_flags
    ${REEL_URING_LIB} ${REEL_BOOST_CONTEXT_LIB} Threads::Threads)
endif()

# The echo benchmark (bench/echo/echo.c) runs these programs, found next to
# reel-bench: the load generator, the baseline servers, and reel's own
# examples/echo_server (built here when the examples are off). libuv is
# optional: without it the libuv baseline is skipped, not the build.
add_executable(echo_load ${REEL_BENCH_DIR}/echo/echo_load.c)
add_executable(echo_epoll ${REEL_BENCH_DIR}/echo/echo_epoll.c)
add_executable(echo_uring ${REEL_BENCH_DIR}/echo/echo_uring.c)
target_link_libraries(echo_load PRIVATE reel_flags PkgConfig::URING)
target_link_libraries(echo_epoll PRIVATE reel_flags)
target_link_libraries(echo_uring PRIVATE reel_flags PkgConfig::URING)
set(REEL_ECHO_PROGRAMS echo_load echo_epoll echo_uring echo_server)
pkg_check_modules(UV IMPORTED_TARGET libuv)
if(UV_FOUND)
  add_executable(echo_libuv ${REEL_BENCH_DIR}/echo/echo_libuv.c)
  target_link_libraries(echo_libuv PRIVATE reel_flags PkgConfig::UV)
  list(APPEND REEL_ECHO_PROGRAMS echo_libuv)
else()
  message(STATUS "echo_libuv not built: libuv not found (apt-get install "
                 "libuv1-dev); the echo benchmark skips its libuv baseline")
endif()
if(NOT REEL_BUILD_EXAMPLES)
  add_executable(echo_server ${PROJECT_SOURCE_DIR}/examples/echo_server.c)
  target_link_libraries(echo_server PRIVATE reel_static reel_flags)
endif()

# The HTTP benchmark (bench/http/http.c) runs these programs, found next to
# reel-bench: its load generator, the raw liburing floor and reel's HTTP
# server (bench/http/reel_server.c); the peers (nginx, node, uvicorn) are
# Debian's, run from bench/http/ by path. reel_server is built only once
# engine/http implements the server (it defines reel_http_serve_tcp): until
# then the benchmark says reel was skipped.
add_executable(http_load ${REEL_BENCH_DIR}/http/http_load.c)
add_executable(http_floor ${REEL_BENCH_DIR}/http/http_floor.c)
foreach(t http_load http_floor)
  target_include_directories(${t} PRIVATE ${REEL_BENCH_DIR}/echo)
  target_link_libraries(${t} PRIVATE reel_flags PkgConfig::URING)
endforeach()
list(APPEND REEL_ECHO_PROGRAMS http_load http_floor)
file(STRINGS ${PROJECT_SOURCE_DIR}/engine/http/server.c REEL_HTTP_SERVE_DEFINED
  REGEX "^int reel_http_serve_tcp|^REEL_API int reel_http_serve_tcp|reel_http_serve_tcp\\(struct")
if(REEL_HTTP_SERVE_DEFINED)
  add_executable(reel_http_server ${REEL_BENCH_DIR}/http/reel_server.c)
  target_include_directories(reel_http_server PRIVATE ${REEL_BENCH_DIR}/echo)
  target_link_libraries(reel_http_server PRIVATE reel_static reel_flags)
  list(APPEND REEL_ECHO_PROGRAMS reel_http_server)
else()
  message(STATUS "reel_http_server not built: engine/http/server.c does not "
                 "implement reel_http_serve_tcp yet; the http benchmark skips reel")
endif()

# The trace's cost (bench/trace/trace.c) compares trace_cost, linked with
# libreel as built, and trace_cost_bare, linked with a copy of the library
# built with REEL_NO_TRACE: no trace point, no USDT probe.
list(TRANSFORM REEL_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE reel_bare_sources)
add_library(reel_bare STATIC ${reel_bare_sources} $<TARGET_OBJECTS:reel_llhttp>)
target_include_directories(reel_bare PUBLIC ${PROJECT_SOURCE_DIR}/api)
target_include_directories(reel_bare PRIVATE ${LLHTTP_INCLUDE_DIR})
target_compile_definitions(reel_bare PRIVATE ${REEL_PRIVATE_DEFS} REEL_NO_TRACE=1)
target_link_libraries(reel_bare PRIVATE reel_flags)
target_link_libraries(reel_bare PUBLIC Threads::Threads uring)
set_target_properties(reel_bare PROPERTIES C_VISIBILITY_PRESET hidden)
add_executable(trace_cost ${REEL_BENCH_DIR}/trace/trace_cost.c)
target_link_libraries(trace_cost PRIVATE reel_static reel_flags)
add_executable(trace_cost_bare ${REEL_BENCH_DIR}/trace/trace_cost.c)
target_link_libraries(trace_cost_bare PRIVATE reel_bare reel_flags)
list(APPEND REEL_ECHO_PROGRAMS trace_cost trace_cost_bare)

# Many tasks from a fresh process (bench/suite/fresh.c) execs fresh_tasks
# (reel fibers, threads) and, when go is installed, suite_go: the Go twin of
# the suite (bench/go/suite.go), standard library only, built with GOPATH
# and GOCACHE under the build folder and GO111MODULE=off, so it builds
# offline and as root on a fresh machine. Without go it is left out and the
# report says so.
add_executable(fresh_tasks ${REEL_BENCH_DIR}/suite/fresh_tasks.c)
target_include_directories(fresh_tasks PRIVATE ${REEL_BENCH_DIR}/common)
target_link_libraries(fresh_tasks PRIVATE reel_static reel_flags Threads::Threads)
list(APPEND REEL_ECHO_PROGRAMS fresh_tasks)
find_program(REEL_GO go)
if(REEL_GO)
  set(REEL_GO_DIR ${CMAKE_CURRENT_BINARY_DIR}/go)
  # One Go program: bench/go/NAME.go -> BUILD/NAME_go, by target go_NAME (a
  # target named as its own output file makes make warn of a circle).
  function(reel_go_twin name what)
    add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${name}_go
      COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOFLAGS= GOPATH=${REEL_GO_DIR}
        GOCACHE=${REEL_GO_DIR}/cache GOTOOLCHAIN=local
        ${REEL_GO} build -o ${CMAKE_CURRENT_BINARY_DIR}/${name}_go ${REEL_BENCH_DIR}/go/${name}.go
      DEPENDS ${REEL_BENCH_DIR}/go/${name}.go
      COMMENT "Building the Go twin of ${what} (bench/go/${name}.go)" VERBATIM)
    add_custom_target(go_${name} ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/${name}_go)
  endfunction()
  reel_go_twin(suite "the suite")
  reel_go_twin(xloop "the cross-loop benchmark")
  list(APPEND REEL_ECHO_PROGRAMS go_suite go_xloop)
else()
  message(STATUS "go not found (tools/setup.sh --test installs golang-go): "
                 "the suite's Go twin is not built")
endif()

# The soak test (bench/soak/soak.c) runs soak_load, a reel program, against
# echo_server and reel_http_server (its -m http roles: soak_load_http.c).
add_executable(soak_load ${REEL_BENCH_DIR}/soak/soak_load.c
  ${REEL_BENCH_DIR}/soak/soak_load_http.c)
target_link_libraries(soak_load PRIVATE reel_static reel_flags)
list(APPEND REEL_ECHO_PROGRAMS soak_load)
if(TARGET reel-bench)
  add_dependencies(reel-bench ${REEL_ECHO_PROGRAMS})
endif()

# soak_short: the soak test cut to 30 s at 100 connections (sampled every
# 3 s) for each server (echo_server, then reel_http_server: about 60 s in
# all), checking its verdict, not its timings' absolute values: RSS and
# descriptors flat, p99 not drifting, no error (docs/bench.md, "Soak").
# Not under the sanitizers: ASan's quarantine holds freed memory back on
# purpose (up to 256 MiB), so RSS would measure the quarantine, not leaks.
if(REEL_BUILD_TESTS AND TARGET reel-bench AND NOT REEL_SANITIZE)
  add_test(NAME soak_short COMMAND sh -c
    "rm -rf \"$1\" && \"$0\" --only soak --soak-seconds 30 --soak-conns 100 --no-python --out \"$1\" && grep -q '^Verdict: PASS' \"$1/soak.md\" || { cat \"$1/soak.md\"; exit 1; }"
    $<TARGET_FILE:reel-bench> ${CMAKE_CURRENT_BINARY_DIR}/soak_short)
  set_tests_properties(soak_short PROPERTIES TIMEOUT 180)
endif()
