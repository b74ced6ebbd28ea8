#!/usr/bin/env bash
# Description: examples/http_hello and examples/llm_gateway end to end, with
# curl (and headless Chromium for the gateway's page).
#   check_http_examples.sh hello   HTTP_HELLO
#     /hello 200 + body; /users/42 JSON; /users/abc 422; an unknown path
#     404; /stream arrives in >= 10 reads spread over >= 150 ms; SIGTERM ->
#     exit 0 after a clean shutdown; all of it with --loops 1 and --loops 2
#     (every request of a burst of new connections answered: both loops'
#     sockets serve); --loops 0 is refused with exit 2.
#   check_http_examples.sh gateway LLM_GATEWAY
#     POST /chat (plain and JSON prompt) and GET /chat?prompt=: token events
#     of alpha and beta arrive as they are produced (the first long before
#     the done event), then one done event naming slow as timed out and
#     flaky as failed; SIGTERM -> exit 0.
#   check_http_examples.sh browser LLM_GATEWAY
#     Chromium loads the page; its EventSource fills <pre id="out"> with the
#     streamed tokens and <div id="done"> with the summary. No chromium:
#     SKIP, exit 77.
# Bounded: every curl and chromium call has a timeout; the server is killed
# on exit.
set -euo pipefail
mode=$1
exe=$2
out=$(mktemp)
tmp=$(mktemp -d)
pid=
trap 'rm -rf "$out" "$tmp"; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true' EXIT

fail() { echo "FAIL: $*"; echo "--- server output:"; cat "$out"; exit 1; }

start() {
	"$exe" "$@" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q '^listening on' "$out" && break; sleep 0.05; done
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
	[ -n "$port" ] || fail "no 'listening on 127.0.0.1:PORT' line"
	base="http://127.0.0.1:$port"
}

stop() {
	kill -TERM "$pid"
	for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && fail "still running 3 s after SIGTERM"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
}

# status BODYFILE URL [curl args]: the status code, the body into BODYFILE
status() {
	local body=$1 url=$2
	shift 2
	curl -s -m 5 -o "$body" -w '%{http_code}' "$@" "$url"
}

check_hello() {
	local rc=0
	"$exe" 0 --loops 0 >"$tmp/loops" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "--loops 0: exit $rc, not 2"
	grep -q "loops" "$tmp/loops" || fail "--loops 0: no explanation: $(cat "$tmp/loops")"
	check_hello_loops 1
	check_hello_loops 2
}

check_hello_loops() {
	start 0 --loops "$1"
	# A burst of new connections (spread over the loops' sockets by the kernel).
	for i in $(seq 20); do
		[ "$(status "$tmp/b" "$base/users/$i")" = 200 ] || fail "--loops $1: /users/$i not 200"
	done
	[ "$(status "$tmp/b" "$base/hello")" = 200 ] || fail "/hello not 200"
	grep -q "hello from reel" "$tmp/b" || fail "/hello body: $(cat "$tmp/b")"
	[ "$(status "$tmp/b" "$base/users/42")" = 200 ] || fail "/users/42 not 200"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["id"] == 42, d' \
		"$tmp/b" || fail "/users/42 JSON: $(cat "$tmp/b")"
	[ "$(curl -s -m 5 -o /dev/null -w '%{content_type}' "$base/users/42")" = application/json ] ||
		fail "/users/42 is not application/json"
	[ "$(status "$tmp/b" "$base/users/abc")" = 422 ] || fail "/users/abc not 422"
	[ "$(status "$tmp/b" "$base/no/such/page")" = 404 ] || fail "unknown path not 404"

	# /stream: each chunk must reach the client when it is produced, not
	# all at the end: timestamp every read of curl's output.
	timeout 10 python3 - "$base/stream" <<'PY' || fail "/stream"
import os, subprocess, sys, time
p = subprocess.Popen(["curl", "-sN", "-m", "5", sys.argv[1]], stdout=subprocess.PIPE)
reads, data, t0 = [], b"", time.monotonic()
while True:
    b = os.read(p.stdout.fileno(), 65536)
    if not b:
        break
    reads.append(time.monotonic() - t0)
    data += b
p.wait()
lines = data.decode().splitlines()
span = (reads[-1] - reads[0]) * 1000 if reads else 0
print("/stream: %d reads over %.0f ms, %d lines" % (len(reads), span, len(lines)))
if p.returncode != 0 or len(lines) != 10 or not lines[-1].startswith("chunk 10 of 10"):
    sys.exit("curl %d, body %r" % (p.returncode, data))
if len(reads) < 10 or span < 150:
    sys.exit("streamed in %d reads over %.0f ms: want >= 10 over >= 150 ms" % (len(reads), span))
PY
	stop
	grep -q "shut down cleanly" "$out" || fail "no clean shutdown message"
	echo "ok: http_hello --loops $1"
}

# sse_check NAME -- CURL ARGS: run curl, parse its event stream with times.
sse_check() {
	local name=$1
	shift
	timeout 15 python3 - "$name" "$@" <<'PY' || fail "$name"
import json, os, subprocess, sys, time
name, args = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(["curl", "-sN", "-m", "10"] + args, stdout=subprocess.PIPE)
buf, events, t0 = b"", [], time.monotonic()
while True:
    b = os.read(p.stdout.fileno(), 65536)
    if not b:
        break
    now = (time.monotonic() - t0) * 1000
    buf += b
    while b"\n\n" in buf:
        block, buf = buf.split(b"\n\n", 1)
        ev, data = "message", []
        for line in block.decode().split("\n"):
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                v = line[5:]
                data.append(v[1:] if v.startswith(" ") else v)
        if data:
            events.append((now, ev, "\n".join(data)))
p.wait()
def die(msg):
    for e in events:
        print("  %6.0f ms %s %s" % e)
    sys.exit("%s: %s" % (name, msg))
if p.returncode != 0:
    die("curl exit %d" % p.returncode)
names = [e[1] for e in events]
if names.count("done") != 1 or names[-1] != "done":
    die("want exactly one done event, last")
tokens = [(t, json.loads(d)) for t, ev, d in events if ev == "token"]
by = {}
for t, d in tokens:
    by.setdefault(d["model"], []).append(d["token"])
for m in ("alpha", "beta"):
    if m not in by:
        die("no token from %s" % m)
if "".join(by["alpha"]) != "Fibers park on I/O, so one thread serves thousands of connections.":
    die("alpha's answer: %r" % "".join(by["alpha"]))
done_t, _, done_data = events[-1]
done = json.loads(done_data)
if sorted(done["ok"]) != ["alpha", "beta"] or done["timed_out"] != ["slow"] \
        or [f["model"] for f in done["failed"]] != ["flaky"]:
    die("done summary: %s" % done_data)
first = tokens[0][0]
# Streamed, not buffered: the first token long before the done event (the
# slow model's 1 s deadline holds the done event back).
if done_t - first < 500:
    die("first token at %.0f ms, done at %.0f ms: buffered?" % (first, done_t))
print("%s: %d tokens (first at %.0f ms), done at %.0f ms: %s" %
      (name, len(tokens), first, done_t, done_data))
PY
}

check_gateway() {
	start 0
	grep -q "model slow" "$out" || fail "no back-end lines"
	# A browser that leaves mid-answer: the gateway stops that chat's
	# back-end calls and goes on serving.
	curl -sN -m 0.3 "$base/chat?prompt=bye" >/dev/null 2>&1 || true
	sse_check "POST /chat" -X POST --data 'hi' "$base/chat"
	sse_check "POST /chat JSON" -X POST -H 'Content-Type: application/json' \
		--data '{"prompt": "say \"hi\""}' "$base/chat"
	sse_check "GET /chat" "$base/chat?prompt=hi%20there"
	[ "$(status "$tmp/b" "$base/")" = 200 ] || fail "GET / not 200"
	grep -q "EventSource" "$tmp/b" || fail "GET / has no EventSource"
	[ "$(status "$tmp/b" "$base/nothing")" = 404 ] || fail "unknown path not 404"
	# SIGTERM while a chat streams: the chat still ends with its done
	# event, then the process exits 0.
	curl -sN -m 10 "$base/chat?prompt=last" >"$tmp/last" 2>&1 &
	local cpid=$!
	sleep 0.3
	stop
	wait "$cpid" || fail "the chat in flight at SIGTERM: curl exit $?: $(cat "$tmp/last")"
	grep -q '^event: done' "$tmp/last" || fail "the chat in flight at SIGTERM got no done event"
	grep -q "shut down cleanly" "$out" || fail "no clean shutdown message"
	echo "ok: llm_gateway"
}

check_browser() {
	local chromium
	chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
	if [ -z "$chromium" ]; then
		echo "SKIP: no chromium"
		exit 77
	fi
	start 0
	# Virtual time runs the page until the event stream is done (the
	# stream keeps a fetch pending, so the budget is not spent in vain).
	timeout 40 "$chromium" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$tmp/profile" --virtual-time-budget=10000 \
		--dump-dom "$base/" >"$tmp/dom" 2>"$tmp/chromium.err" ||
		fail "chromium: $(tail -5 "$tmp/chromium.err")"
	grep -q '<span id="model-alpha">alpha:Fibers park on I/O, so one thread serves thousands of connections.</span>' \
		"$tmp/dom" || fail "alpha's tokens not in the DOM: $(grep -A5 'id="out"' "$tmp/dom")"
	grep -q '<span id="model-beta">beta:An io_uring' "$tmp/dom" ||
		fail "beta's tokens not in the DOM"
	grep -q '<div id="done">done in [0-9]* ms. ok: .*; timed out: slow; failed: flaky (' \
		"$tmp/dom" || fail "no done summary in the DOM: $(grep 'id="done"' "$tmp/dom")"
	grep 'id="done"' "$tmp/dom"
	stop
	echo "ok: llm_gateway in Chromium"
}

case $mode in
hello) check_hello ;;
gateway) check_gateway ;;
browser) check_browser ;;
*) echo "usage: $0 hello|gateway|browser EXECUTABLE"; exit 2 ;;
esac
