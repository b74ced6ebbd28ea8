#!/usr/bin/env bash
# Description: the library carries a USDT probe (provider "reel") for every
# event of the trace macro (engine/core/trace.h), so perf, bpftrace and
# systemtap can attach to them.
set -euo pipefail
lib=$1
names=$(readelf -n "$lib" | awk '/Provider: reel/ { getline; print $2 }' | sort -u)
missing=0
for ev in spawn switch park wake cancel submit complete timer_fire; do
	if ! grep -qx "$ev" <<<"$names"; then
		echo "missing USDT probe reel:$ev in $lib"
		missing=1
	fi
done
[ "$missing" = 0 ] && echo "all 8 USDT probes present in $lib"
exit "$missing"
