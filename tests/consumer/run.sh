#!/usr/bin/env bash
# Install the reel build in $1 into a scratch prefix, then build and run a
# consumer two ways: find_package(reel) and pkg-config --cflags --libs reel.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n1)

# 1. CMake package
cmake -S "$src" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_shared"
"$tmp/cm/consumer_static"

# 2. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$tmp/pc_consumer" "$src/main.c" $(pkg-config --cflags --libs reel)
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer"
cc -o "$tmp/pc_static" "$src/main.c" $(pkg-config --cflags reel) \
   "$libdir/libreel.a" $(pkg-config --libs --static reel | sed 's/-lreel//')
"$tmp/pc_static"
echo "consumer: find_package and pkg-config both work"
