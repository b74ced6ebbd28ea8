#!/usr/bin/env bash
# Description: gdb's `reel fibers` and `reel bt` (tools/gdb/reel-gdb.py)
# list the fibers of a stopped program and of its core dump: each named
# fiber with its state, park reason and what it waits on, and a sleeping
# fiber's backtrace reaching the function that called reel_sleep.
#   (a) live: gdb runs tests/gdb_target.c (libreel.a, script sourced) to
#       its breakpoint, where every fiber but main is parked;
#   (b) the core gdb's gcore wrote there;
#   (c) the kernel's core dump of the same program aborting at that point,
#       when core_pattern writes a file (not a pipe to a handler);
#   (d) the program linked with libreel.so, the script auto-loaded from
#       beside the library (objfile-gdb.py), live.
# SKIP (77) without gdb or when this environment forbids ptrace.
set -euo pipefail
script=$1 static_exe=$2 shared_exe=$3 libreel=$4

command -v gdb >/dev/null || { echo "SKIP: no gdb"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# gdb's gcore reads memory 1 MiB at a time, and a stack guard made by
# MADV_GUARD_INSTALL (kernel 6.13+) fails the whole read: the stacks
# around it would be zeros in the core. mprotect guards are VMAs of their
# own, which gcore skips cleanly (docs/profiling.md).
export REEL_DISABLE=guard_install

check() {   # check WHAT FILE: the table and the backtrace are right
	local what=$1 out=$2 row
	while read -r name state reason waits; do
		row=$(grep -E "^  0x[0-9a-f]+ +[0-9]+ $name +$state +$reason " "$out" || true)
		if [ -z "$row" ]; then
			echo "FAIL ($what): no row '$name $state $reason'"; fail=1
		elif ! grep -qE -- "$waits" <<<"$row"; then
			echo "FAIL ($what): $name should wait on /$waits/: $row"; fail=1
		fi
	done <<'ROWS'
main RUNNING - its thread's stack
sleeper PARKED sleep timer in [0-9.]+ s
receiver PARKED channel channel 0x[0-9a-f]+ \(chan\), recv
joiner PARKED join task 0x[0-9a-f]+ \(sleeper\)
locker PARKED sync mutex 0x[0-9a-f]+ \(lock\), held by main
reader PARKED io io_uring READ
ROWS
	if ! grep -qE "^#[0-9]+ +0x[0-9a-f]+ in nap \(.*gdb_target\.c:[0-9]+\)" "$out"; then
		echo "FAIL ($what): reel bt of the sleeper does not reach nap (reel_sleep's caller)"
		fail=1
	fi
	if grep -q "Python Exception\|Error occurred in Python" "$out"; then
		echo "FAIL ($what): the script raised"; fail=1
	fi
}

show() { echo "---- $1"; grep -vE "^(warning:|\[|$)" "$2" || true; }

# (a) live, and gcore at the breakpoint
gdb -nx -batch -x "$script" -ex 'break gdb_target_ready' -ex run \
	-ex 'reel fibers' -ex 'reel bt 1' -ex "gcore $tmp/gcore" -ex kill \
	"$static_exe" >"$tmp/live.out" 2>&1 || true
if grep -q "ptrace: Operation not permitted\|Couldn't get registers\|could not run" "$tmp/live.out"; then
	cat "$tmp/live.out"
	echo "SKIP: gdb cannot run a program here (ptrace)"
	exit 77
fi
show "live (libreel.a, script sourced)" "$tmp/live.out"
check live "$tmp/live.out"

# (b) the gcore
if [ -s "$tmp/gcore" ]; then
	gdb -nx -batch -x "$script" -ex 'reel fibers' -ex 'reel bt 1' \
		"$static_exe" "$tmp/gcore" >"$tmp/gcore.out" 2>&1 || true
	show "gcore" "$tmp/gcore.out"
	check gcore "$tmp/gcore.out"
else
	echo "FAIL: gcore wrote no core file"; fail=1
fi

# (c) the kernel's core dump, guards installed by madvise where the kernel can
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo "|")
if [[ $pattern == \|* || $pattern == /* ]]; then
	echo "---- kernel core: not tried (core_pattern '$pattern' is not a file in the cwd)"
elif ! (ulimit -c unlimited) 2>/dev/null; then
	echo "---- kernel core: not tried (ulimit -c unlimited refused)"
else
	(cd "$tmp" && ulimit -c unlimited && REEL_DISABLE= "$static_exe" abort) >/dev/null 2>&1 || true
	core=$(find "$tmp" -maxdepth 1 -name 'core*' ! -name gcore -newer "$tmp/live.out" | head -1)
	if [ -n "$core" ]; then
		gdb -nx -batch -x "$script" -ex 'reel fibers' -ex 'reel bt 1' \
			"$static_exe" "$core" >"$tmp/core.out" 2>&1 || true
		show "kernel core" "$tmp/core.out"
		check "kernel core" "$tmp/core.out"
	else
		echo "---- kernel core: none written (core_pattern '$pattern'); gcore covered it"
	fi
fi

# (d) libreel.so with the script beside it, auto-loaded
if [ ! -f "$(readlink -f "$libreel")-gdb.py" ]; then
	echo "FAIL: no $(readlink -f "$libreel")-gdb.py beside the library"; fail=1
else
	REEL_DISABLE= gdb -nx -batch -iex "set auto-load safe-path $(dirname "$(readlink -f "$libreel")")" \
		-ex 'break gdb_target_ready' -ex run -ex 'info auto-load python-scripts' \
		-ex 'reel fibers' -ex 'reel bt 1' -ex kill "$shared_exe" >"$tmp/shared.out" 2>&1 || true
	show "live (libreel.so, script auto-loaded)" "$tmp/shared.out"
	grep -qE "^Yes +.*-gdb\.py" "$tmp/shared.out" ||
		{ echo "FAIL (shared): the script was not auto-loaded"; fail=1; }
	check shared "$tmp/shared.out"
fi

[ "$fail" = 0 ] && echo "gdb_fibers: all checks passed"
exit "$fail"
