#!/usr/bin/env bash
# Description: examples/echo_server end to end: it listens on a free port,
# echoes what two clients send (one of them leaves without a word); with 4
# clients that send without end and never read, a well-behaved client still
# gets every echo within 1 s and the server drops the 4 once their sends
# have waited 5 s; on SIGTERM it cancels its connections, frees its pool and
# exits 0 within 3 s. Bounded: about 8 s, every process killed on exit.
# Options after the server's path go to it (--loops N; default: a loop per
# CPU, so the counts of the last line are sums over the loops).
set -euo pipefail
srv=$1
shift                  # the rest: echo_server's options (--loops N)
out=$(mktemp)
pid=
trap 'rm -f "$out"; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true' EXIT
"$srv" 0 "$@" >"$out" 2>&1 &
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

# Never-reading peers: the server must keep serving the well-behaved one,
# promptly, then drop the 4 (each hog thread ends when its send fails).
timeout 15 python3 - "$port" <<'PY'
import socket, sys, threading, time
port = int(sys.argv[1])
HOGS = 4
ended = []

def hog():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(12)
    chunk = b"h" * 65536
    try:
        while True:
            s.sendall(chunk)
    except OSError:
        ended.append(1)   # reset by the server (or timed out: counted below)
    finally:
        s.close()

threads = [threading.Thread(target=hog, daemon=True) for _ in range(HOGS)]
for t in threads:
    t.start()
time.sleep(0.5)   # the hogs' echo fibers are stuck in their sends by now
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(5)
for i in range(20):
    msg = b"round trip %d\n" % i
    t0 = time.monotonic()
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += c.recv(len(msg) - len(got))
    dt = time.monotonic() - t0
    if got != msg or dt > 1.0:
        print("well-behaved client: sent %r, got %r after %.2f s" % (msg, got, dt))
        sys.exit(1)
c.close()
deadline = time.monotonic() + 9
for t in threads:
    t.join(max(0.0, deadline - time.monotonic()))
if any(t.is_alive() for t in threads):
    print("never-reading peers not dropped within ~9 s")
    sys.exit(1)
print("ok: 20 prompt round trips beside %d never-reading peers, all dropped" % HOGS)
PY

kill -TERM "$pid"
for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "still running 3 s after SIGTERM"; exit 1; fi
wait "$pid" || { echo "exit status $?: $(cat "$out")"; exit 1; }
pid=
grep -q "7 connections served, 4 dropped" "$out" || { cat "$out"; exit 1; }
echo "ok: $(tail -1 "$out")"
