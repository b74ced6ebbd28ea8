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
  for compiler in cc clang; do
    command -v "$compiler" >/dev/null || continue
    echo "#include <$(basename "$h")>" | "$compiler" -std=c11 -Wall -Wextra -Werror -pedantic \
      -I"$inc" -x c -fsyntax-only - ||
      { echo "consumer: $h does not compile alone with $compiler -std=c11 -pedantic" >&2; exit 1; }
  done
done
# ... also after <signal.h> in strict C11 (no POSIX feature macro), using
# the signal waiter's types.
printf '#include <signal.h>\n#include <reel_io.h>\nint f(const sigset_t *s, struct signalfd_siginfo *i);\nint f(const sigset_t *s, struct signalfd_siginfo *i) { return reel_signal_wait(s, i); }\n' |
  cc -std=c11 -Wall -Wextra -Werror -pedantic -I"$inc" -x c -fsyntax-only - ||
  { echo "consumer: reel_io.h's signal types do not compile under -std=c11" >&2; exit 1; }

# 0b. The README's example, as a user copies it: warning-free under strict
#     C11 with gcc and clang, linked against the installed shared library
#     with the run path README.md tells users to give, and run (exit 0 =
#     the worker's 42 came back) without LD_LIBRARY_PATH.
readme="$src/../../README.md"
awk '/^```c$/ && !done {on=1; next} on && /^```$/ {on=0; done=1} on' "$readme" >"$tmp/readme.c"
grep -q 'reel_run' "$tmp/readme.c" || { echo "consumer: no C example found in README.md" >&2; exit 1; }
for compiler in cc clang; do
  command -v "$compiler" >/dev/null || continue
  env PKG_CONFIG_PATH="$libdir/pkgconfig" sh -c \
    "$compiler -std=c11 -pedantic -Wall -Wextra -Werror -o '$tmp/readme_$compiler' '$tmp/readme.c' \
     \$(pkg-config --cflags --libs reel) -Wl,-rpath,'$libdir'" ||
    { echo "consumer: README.md's example does not build cleanly with $compiler" >&2; exit 1; }
  env -u LD_LIBRARY_PATH "$tmp/readme_$compiler" ||
    { echo "consumer: README.md's example (built with $compiler) did not exit 0" >&2; exit 1; }
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
echo "consumer: headers only, each alone as C11; the README example builds and runs; find_package and pkg-config both work"
