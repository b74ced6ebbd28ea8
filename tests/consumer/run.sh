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
inc="$tmp/prefix/include"

# 0. The installed include directory holds the public headers only, each
#    compiling alone as C11 and including no engine header.
stray=$(find "$inc" -mindepth 1 ! -name 'reel*.h')
if [ -n "$stray" ] || [ -z "$(ls "$inc"/reel*.h 2>/dev/null)" ]; then
  echo "consumer: the include directory holds more than the public headers:" $stray >&2
  exit 1
fi
for h in "$inc"/reel*.h; do
  if grep -E '^\s*#\s*include\s*"' "$h" | grep -vqE '"reel[a-z_]*\.h"'; then
    echo "consumer: $h includes a non-public header" >&2
    exit 1
  fi
  echo "#include <$(basename "$h")>" | cc -std=c11 -Wall -Wextra -Werror -pedantic \
    -I"$inc" -x c -fsyntax-only - || { echo "consumer: $h does not compile alone" >&2; exit 1; }
done

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
echo "consumer: headers only, each alone as C11; find_package and pkg-config both work"
