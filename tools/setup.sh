#!/usr/bin/env bash
# tools/setup.sh - install the Debian packages reel needs, only those missing.
# Idempotent: a second run installs nothing and makes no network call.
# Usage: tools/setup.sh            (as root, or with sudo available)
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
)

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
