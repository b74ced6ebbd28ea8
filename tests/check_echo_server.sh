#!/usr/bin/env bash
# Description: examples/echo_server end to end: it listens on a free port,
# echoes what two clients send (one of them leaves without a word), and on
# SIGTERM cancels its connections, frees its pool and exits 0 within 3 s.
set -euo pipefail
srv=$1
out=$(mktemp)
trap 'rm -f "$out"; kill -9 "$pid" 2>/dev/null || true' EXIT
"$srv" 0 >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { echo "no port in: $(cat "$out")"; exit 1; }

exec 3<>"/dev/tcp/127.0.0.1/$port"
exec 4<>"/dev/tcp/127.0.0.1/$port"     # stays open, silent, until SIGTERM
for msg in "hello reel" "second line"; do
	printf '%s\n' "$msg" >&3
	IFS= read -r -t 5 line <&3
	[ "$line" = "$msg" ] || { echo "sent '$msg', got '$line'"; exit 1; }
done
exec 3>&-

kill -TERM "$pid"
for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "still running 3 s after SIGTERM"; exit 1; fi
wait "$pid" || { echo "exit status $?: $(cat "$out")"; exit 1; }
grep -q "2 connections served" "$out" || { cat "$out"; exit 1; }
echo "ok: $(tail -1 "$out")"
