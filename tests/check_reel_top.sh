#!/usr/bin/env bash
# Description: reel-top against a live program (tests/console/console_demo.c)
# run with REEL_CONSOLE=1: its socket is mode 0600 in a directory of mode
# 0700; `reel-top PID --once` shows both loops and every named fiber with the
# state and park reason it has (sleep, channel, lock, event, join, I/O on a
# pipe, a busy fiber first by run time); a client of another user is
# refused (checked as root, with setpriv to nobody); on SIGTERM the program exits 0 and the socket is gone. About 3 s.
set -euo pipefail
demo=$1
top=$2
py=${3:-python3}
out=$(mktemp)
xdg=$(mktemp -d)    # a private XDG_RUNTIME_DIR (mktemp -d makes it 0700)
pid=
trap 'rm -rf "$out" "$xdg"; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true' EXIT
export XDG_RUNTIME_DIR=$xdg
REEL_CONSOLE=1 "$demo" >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.05; done
grep -q ready "$out" || { echo "demo not ready: $(cat "$out")"; exit 1; }

sock=$xdg/reel-$pid.sock
[ -S "$sock" ] || { echo "no socket at $sock"; ls -la "$xdg"; exit 1; }
mode=$(stat -c %a "$sock")
[ "$mode" = 600 ] || { echo "socket mode $mode, want 600"; exit 1; }
dmode=$(stat -c %a "$xdg")
[ "$dmode" = 700 ] || { echo "directory mode $dmode, want 700"; exit 1; }

# Snapshots are at most a second old: poll until every fiber is in place.
want=(
	"sleeper parked sleep"
	"chan-reader parked chan"
	"lock-waiter parked sync"
	"event-waiter parked sync"
	"pipe-reader parked io"
	"joiner parked join"
	"joined sleeper parked sleep"
	"other-loop sleeper parked sleep"
	"spinner ready -"
)
ok=
for _ in $(seq 30); do
	shot=$("$py" "$top" "$pid" --once) || { echo "reel-top failed"; exit 1; }
	norm=$(sed -E 's/  +/ /g; s/^ //' <<<"$shot")
	ok=1
	for w in "${want[@]}"; do
		grep -qF -- " $w " <<<"$norm" || { ok=; break; }
	done
	[ -n "$ok" ] && break
	sleep 0.2
done
echo "$shot"
[ -n "$ok" ] || { echo "missing: $w"; exit 1; }
# Two loops; the busy fiber leads the list sorted by run time.
[ "$(grep -c '^loop ' <<<"$shot")" = 2 ] || { echo "want 2 loops"; exit 1; }
first=$(awk '/^ *LOOP/ { getline; print $3; exit }' <<<"$shot")
[ "$first" = spinner ] || { echo "first by run time: '$first', want spinner"; exit 1; }

# Another user is refused by SO_PEERCRED itself: as root, open the
# directory and the socket to everyone for a moment, and connect as nobody
# (with the system's python3): the console closes without a byte.
sys_py=/usr/bin/python3
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -x "$sys_py" ]; then
	chmod 755 "$xdg"; chmod 666 "$sock"
	got=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$sys_py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
print(len(s.recv(65536)))' "$sock") || got="error"
	chmod 700 "$xdg"; chmod 600 "$sock"
	[ "$got" = 0 ] || { echo "nobody read the console: $got"; exit 1; }
	echo "another user: refused"
fi

kill -TERM "$pid"
for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid" && st=0 || st=$?
pid=
[ "$st" = 0 ] || { echo "demo exited $st: $(cat "$out")"; exit 1; }
[ ! -e "$sock" ] || { echo "socket left behind"; exit 1; }
echo "reel_top: ok"
