#!/usr/bin/env bash
# tools/setup.sh - install the Debian packages reel needs, only those missing.
# Idempotent: a second run installs nothing and makes no network call.
# Usage: tools/setup.sh            what the build and the main job need
#                                   (the benchmark suite: reel, C, Python)
#        tools/setup.sh --test     that, plus the real peers that tests and
#                                   the peer benchmarks talk to (nginx, Node,
#                                   FastAPI, Go, Chromium, wrk, PostgreSQL)
# As root, or with sudo available.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config gcc clang
  liburing-dev libjemalloc-dev libcmocka-dev
  systemtap-sdt-dev              # USDT probes (sys/sdt.h)
  linux-perf valgrind gdb        # profiling and checking habits
  gnuplot-nox                    # benchmark plots
  libuv1-dev libboost-context-dev  # benchmark baselines only
  node-llhttp                    # HTTP parsing (later layers)
  python3                        # benchmark suite's Python column
  libclang-rt-14-dev             # fuzzing (libFuzzer)
  curl                           # HTTP examples' smoke runs
)

# Real peers: only tests and the peer columns of the benchmarks need them,
# and they are large (Chromium alone is ~100 MB), so the main job's first
# run on a fresh machine does without them (its HTTP table says which peers
# were missing and how to add them).
PEERS=(
  nginx-light libnginx-mod-http-echo  # HTTP benchmark baseline (one worker)
  nodejs                              # HTTP benchmark: Node's http module
  python3-fastapi python3-uvicorn     # HTTP benchmark: FastAPI on uvicorn
  golang-go                           # Go twins of the benchmarks
  chromium                            # the SSE page test (headless)
  wrk                                 # cross-check of the load generator
  postgresql libpq-dev                # examples/pg_concurrent and its test (a real server)
)
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=("${PEERS[@]}")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
