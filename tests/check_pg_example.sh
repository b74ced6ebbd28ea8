#!/usr/bin/env bash
# Description: examples/pg_concurrent end to end against a real PostgreSQL
# server: a throwaway cluster (initdb) in a temporary directory, listening
# on a Unix socket there only (listen_addresses='', a fixed but unlikely
# port number naming the socket), started with pg_ctl as the postgres user
# (as root: runuser; as anyone else: that user, directly). The example must
# exit 0 and report the query's 42, the API's 200, the two overlapping, the
# slow query timed out no earlier than its 200 ms deadline and cancelled on
# the server (SQLSTATE 57014), the connection reused, the notification
# heard and the listener woken by reel_cancel_fd with -EBADF. Then psql must
# find no pg_sleep(10) still running in pg_stat_activity within 2 s (it
# would run on for 10 s had the cancel not reached the server; the probe is
# first shown to see such a query). The cluster is stopped (immediate) and
# removed on exit, whatever happened. SKIP (77) when PostgreSQL's server
# programs are not installed (Debian: postgresql; tools/setup.sh --test).
# Usage: check_pg_example.sh PG_CONCURRENT
set -euo pipefail
exe=$1
port=54329

# The server's programs: pg_config's bindir, else Debian's versioned
# directories (newest first). /usr/local/bin is not looked at.
bindir=
if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
	bindir=$(pg_config --bindir)
else
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { bindir=$d; break; }
	done
fi
if [ -z "$bindir" ]; then
	echo "SKIP: no PostgreSQL server programs (initdb, pg_ctl) installed"
	exit 77
fi
for p in pg_ctl pg_isready psql; do
	[ -x "$bindir/$p" ] || { echo "SKIP: no $bindir/$p"; exit 77; }
done
psql=$bindir/psql

# The server refuses to run as root: as root, run it as postgres.
as_server=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "FAIL: running as root and no postgres user"; exit 1; }
	as_server=(runuser -u postgres --)
fi

tmp=$(mktemp -d)
data=$tmp/data
started=
sleeper=
cleanup() {
	trap '' HUP INT PIPE TERM   # a second signal must not cut the cleanup short
	[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
	if [ -n "$started" ]; then
		(cd "$tmp" && "${as_server[@]}" "$bindir/pg_ctl" -D "$data" -m immediate stop) \
			>/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap still runs.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

fail() {
	echo "FAIL: $*"
	[ -f "$tmp/out" ] && { echo "--- example output:"; cat "$tmp/out"; }
	[ -f "$tmp/log" ] && { echo "--- server log (tail):"; tail -n 20 "$tmp/log"; }
	exit 1
}

[ ${#as_server[@]} -eq 0 ] || chown postgres: "$tmp"
chmod 700 "$tmp"
# cd: the server user may not be able to enter the caller's directory.
(cd "$tmp" && "${as_server[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust \
	-E UTF8 --no-locale >"$tmp/initdb.log" 2>&1) || { cat "$tmp/initdb.log"; fail "initdb"; }
started=1
(cd "$tmp" && "${as_server[@]}" "$bindir/pg_ctl" -D "$data" -l "$tmp/log" -w -t 30 \
	-o "-c listen_addresses='' -k $tmp -p $port" start >/dev/null) || fail "pg_ctl start"
for _ in $(seq 100); do
	"$bindir/pg_isready" -q -h "$tmp" -p "$port" && break
	sleep 0.1
done
"$bindir/pg_isready" -q -h "$tmp" -p "$port" || fail "server not ready after 10 s"

sql() { "$psql" -X -q -At -h "$tmp" -p "$port" -U postgres -d postgres -c "$1"; }
sleeping='SELECT count(*) FROM pg_stat_activity WHERE state = '"'active'"' AND query LIKE '"'SELECT pg_sleep(10)%'"
# pg_sleep(10) still running, within 2 s: the count of such queries, as soon
# as it is @1 (0 or 1), else what it was at the end.
sleeping_becomes() {
	local want=$1 n=
	for _ in $(seq 20); do
		n=$(sql "$sleeping")
		[ "$n" = "$want" ] && break
		sleep 0.1
	done
	echo "$n"
}

# The probe sees a running pg_sleep(10) (psql's own), which is then cancelled.
"$psql" -X -q -h "$tmp" -p "$port" -U postgres -d postgres -c 'SELECT pg_sleep(10)' \
	>/dev/null 2>&1 &
sleeper=$!
[ "$(sleeping_becomes 1)" = 1 ] || fail "the probe does not see a running pg_sleep(10)"
sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(10)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$sleeper" || true
sleeper=
[ "$(sleeping_becomes 0)" = 0 ] || fail "psql's pg_sleep(10) was not cancelled"

rc=0
timeout 60 "$exe" "host=$tmp port=$port dbname=postgres user=postgres" >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc"

expect() { grep -Eq "$1" "$tmp/out" || fail "no line matching /$1/"; }
expect '^connected in [0-9]+ ms: server 1[0-9]{5}, backend pid [0-9]+$'
expect '^query: SELECT pg_sleep\(0\.3\), 42 -> 42 in [0-9]+ ms$'
expect '^api: GET http://127\.0\.0\.1:[0-9]+/quote -> 200 \{"quote": "fibers are cheap"\} in [0-9]+ ms$'
expect '^together: [0-9]+ ms for both .*, overlapped$'
expect '^SELECT pg_sleep\(10\) under a 200 ms deadline: timed out .* after [0-9]+ ms$'
expect '^cancel request sent from a pool thread in [0-9]+ ms$'
expect '^cancelled on the server: 57014 ERROR: +canceling statement due to user request$'
expect '^reused: 0 backends still in pg_sleep\(10\)$'
expect '^listener: heard "hello from the other connection" on channel reel_demo$'
expect '^closing: reel_cancel_fd cancelled 1 poll, .* woke with -EBADF and left, having heard 1$'
expect '^ok$'
# Timings: never early (the deadline, each 300 ms call), late as may be.
late=$(sed -n 's/^SELECT pg_sleep(10) under .* after \([0-9]*\) ms$/\1/p' "$tmp/out")
[ "$late" -ge 200 ] || fail "the deadline fired early: $late ms"
for what in query api; do
	ms=$(sed -n "s/^$what: .* in \\([0-9]*\\) ms\$/\\1/p" "$tmp/out")
	[ "$ms" -ge 300 ] || fail "$what took $ms ms, under its 300"
done

# The cancel reached the server: no pg_sleep(10) runs on (it would for 10 s).
n=$(sleeping_becomes 0)
[ "$n" = 0 ] || fail "$n pg_sleep(10) still running on the server after the example"
cat "$tmp/out"
