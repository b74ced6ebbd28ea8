# reel-bench: the micro-benchmarks, each measured beside its baseline in the
# same run (bench/main.c). Baselines need Boost.Context (jump_fcontext) and
# liburing (the raw NOP loop); without them the target is skipped, not the
# build: tools/setup.sh installs both.
find_library(REEL_BOOST_CONTEXT_LIB boost_context)
find_library(REEL_URING_LIB uring)
if(NOT REEL_BOOST_CONTEXT_LIB OR NOT REEL_URING_LIB)
  message(WARNING "reel-bench not built: needs libboost-context-dev and "
                  "liburing-dev (tools/setup.sh installs them)")
else()
  add_executable(reel-bench
    ${PROJECT_SOURCE_DIR}/bench/main.c
    ${PROJECT_SOURCE_DIR}/bench/bench.c
    ${PROJECT_SOURCE_DIR}/bench/report.c
    ${PROJECT_SOURCE_DIR}/bench/micro_switch.c
    ${PROJECT_SOURCE_DIR}/bench/micro_spawn.c
    ${PROJECT_SOURCE_DIR}/bench/micro_timer.c
    ${PROJECT_SOURCE_DIR}/bench/micro_sleep.c
    ${PROJECT_SOURCE_DIR}/bench/micro_mem.c
    ${PROJECT_SOURCE_DIR}/bench/micro_ring.c)
  # micro_timer.c drives the wheel directly ("../engine/wheel.h"); its
  # reel__ symbols link from the static library only.
  target_link_libraries(reel-bench PRIVATE reel_static reel_flags
    ${REEL_URING_LIB} ${REEL_BOOST_CONTEXT_LIB} Threads::Threads)
endif()
