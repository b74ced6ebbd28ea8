#!/usr/bin/env python3
"""check_reel_trace.py - ctest reel_trace_tool: tools/reel-trace end to end.

  check_reel_trace.py --tool BUILD/reel-trace --example BUILD/serial_vs_gather

1. Traces examples/serial_vs_gather (REEL_TRACE=FILE) and runs `reel-trace
   FILE`: the summary names the four fibers with their run, ready-wait and
   wait-by-reason times (sleep, gather), the scheduling-latency histogram
   and the loop's utilisation.
2. `--json OUT`, checked against the rules of the Chrome trace event format
   that Perfetto's and chrome://tracing's importers apply: every event has
   ph, ts, pid, tid; X events have dur >= 0 and nest properly on a track;
   every flow has one "s" and one "f", each inside a slice of its track;
   every track used has a thread_name. Perfetto's trace_processor is not
   packaged in Debian: when it is not on PATH, this check is the test (it
   says so); when it is, the JSON is also loaded by it.
3. `--png DIR`, when gnuplot is installed: non-empty PNG files.
4. A synthetic file (written here) with two loops, I/O completions, a
   DROPPED record and a cut-off last record: the summary reports the drop,
   the truncation, both loops and the I/O latency per opcode; its JSON passes
   the same checks.
Prints "N passed, N failed" at the end; exit 1 on any failure.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if r.returncode:
        print("$ %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r


def validate_chrome(path, label):
    """The Chrome trace event format's rules; returns the parsed document."""
    with open(path) as f:
        doc = json.load(f)
    check(isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list),
          "%s: an object with a traceEvents list" % label)
    check(doc.get("displayTimeUnit") in ("ns", "ms"), "%s: displayTimeUnit" % label)
    evs = doc["traceEvents"]
    bad = [e for e in evs if not all(k in e for k in ("ph", "ts", "pid", "tid"))
           or not isinstance(e["ts"], (int, float))]
    check(not bad, "%s: every event has ph, ts, pid, tid (%d events)" % (label, len(evs)))
    known = {"X", "M", "i", "s", "f", "C", "B", "E"}
    check(all(e["ph"] in known for e in evs), "%s: known phases only" % label)
    xs = [e for e in evs if e["ph"] == "X"]
    check(xs and all(isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0 and e.get("name")
                     for e in xs), "%s: X events have a name and dur >= 0" % label)
    # X events on one track nest: no partial overlap (ns resolution)
    tracks = {}
    for e in xs:
        tracks.setdefault((e["pid"], e["tid"]), []).append(
            (round(e["ts"] * 1000), round((e["ts"] + e["dur"]) * 1000)))
    overlaps = 0
    for sl in tracks.values():
        sl.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for s, e in sl:
            while stack and stack[-1] <= s:
                stack.pop()
            if stack and e > stack[-1]:
                overlaps += 1
            stack.append(e)
    check(overlaps == 0, "%s: slices on a track nest (%d partial overlaps)" % (label, overlaps))
    # flows: one s and one f per id, f not before s, each inside a slice of its track
    flows = {}
    for e in evs:
        if e["ph"] in ("s", "f"):
            flows.setdefault(e.get("id"), []).append(e)
    paired = all(sorted(x["ph"] for x in v) == ["f", "s"] for v in flows.values())
    check(paired, "%s: %d flows, each one s and one f" % (label, len(flows)))
    ordered = all(min(v, key=lambda x: x["ph"] != "s")["ts"] <=
                  min(v, key=lambda x: x["ph"] != "f")["ts"] for v in flows.values())
    check(ordered, "%s: no flow ends before it starts" % label)

    def inside(e):
        t = round(e["ts"] * 1000)
        return any(s <= t <= en for s, en in tracks.get((e["pid"], e["tid"]), []))
    check(all(inside(x) for v in flows.values() for x in v),
          "%s: every flow end sits inside a slice of its track" % label)
    check(all(x.get("bp") == "e" for v in flows.values() for x in v if x["ph"] == "f"),
          "%s: flow ends bind to the enclosing slice (bp: e)" % label)
    named = {(e["pid"], e["tid"]) for e in evs if e["ph"] == "M" and e["name"] == "thread_name"
             and e.get("args", {}).get("name")}
    used = {(e["pid"], e["tid"]) for e in evs if e["ph"] != "M"}
    check(used <= named, "%s: every track has a thread_name (%d tracks)" % (label, len(used)))
    check(any(e["ph"] == "M" and e["name"] == "process_name" for e in evs),
          "%s: the loop has a process_name" % label)
    tp = shutil.which("trace_processor") or shutil.which("trace_processor_shell")
    if tp:
        r = run([tp, "-q", "/dev/stdin", path], input="select count(*) from slice;")
        check(r.returncode == 0, "%s: Perfetto's trace_processor loads it" % label)
    else:
        print("note: Perfetto's trace_processor is not installed: the format check above "
              "is the test of %s" % label)
    return doc


def check_pngs(tool, trc, outdir, label, want):
    if not shutil.which("gnuplot"):
        print("note: gnuplot is not installed: --png not checked")
        return
    r = run([sys.executable, tool, trc, "--png", outdir])
    check(r.returncode == 0, "%s: --png runs" % label)
    for name in want:
        p = os.path.join(outdir, name)
        ok = os.path.exists(p) and os.path.getsize(p) > 1000
        if ok:
            with open(p, "rb") as f:
                ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
        check(ok, "%s: %s is a non-empty PNG" % (label, name))


REC = struct.Struct("<QQQIHH")


def synthetic(path):
    """Two loops, I/O, a drop and a truncated tail."""
    mono, out = 1_000_000_000, []
    out.append(struct.pack("<8sIIQQI28x", b"REELTRC1", 1, 32, 1_700_000_000 * 10**9, mono, 4242))

    def rec(t, typ, task=0, a=0, b=0, c=0):
        out.append(REC.pack(mono + t, task, a, b & 0xffffffff, typ, c))

    def name(t, task, text):
        raw = text.encode()
        rec(t, 3, task, c=len(raw))
        raw += b"\0" * (-len(raw) % 32)
        out.append(raw)
    for tid, base in ((101, 0), (202, 500)):
        main, srv = (1 << 32) | 0, (1 << 32) | 1
        rec(base, 1, a=tid)                                  # LOOP
        rec(base + 1, 2, main)                               # SPAWN main
        name(base + 2, main, "main")
        rec(base + 10, 2, srv, a=main)                       # SPAWN, unnamed
        rec(base + 20, 5, main, c=2)                         # PARK main (join)
        rec(base + 25, 4, srv, a=main)                       # SWITCH to srv
        rec(base + 40, 5, srv, c=3)                          # PARK srv (io)
        rec(base + 41, 10, b=2)                              # SUBMIT 2
        rec(base + 42, 13, a=10**6)                          # WAIT
        rec(base + 30_000, 14, b=2)                          # WAKEUP
        rec(base + 30_001, 11, srv, a=29_000, b=512, c=22)   # COMPLETE READ
        rec(base + 30_002, 11, srv, a=29_500, b=-11, c=27)   # COMPLETE RECV -EAGAIN
        rec(base + 30_003, 6, srv, a=0, c=23)                # WAKE by the loop, cause READ
        rec(base + 30_010, 4, srv, a=srv)                    # SWITCH
        if tid == 202:
            rec(base + 30_011, 15, a=17)                     # DROPPED
        rec(base + 30_020, 7, srv, b=0)                      # END
        rec(base + 30_021, 6, main, a=srv)                   # WAKE main by srv
        rec(base + 30_030, 4, main, a=srv)                   # SWITCH to main
        rec(base + 30_040, 7, main, b=0)                     # END main
    data = b"".join(out) + b"\x01" * 20                       # a cut-off record
    with open(path, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--example", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="reel-trace-test-")
    try:
        trc = os.path.join(tmp, "svg.trc")
        env = dict(os.environ, REEL_TRACE=trc)
        r = run([args.example], env=env)
        check(r.returncode == 0 and os.path.getsize(trc) > 64,
              "serial_vs_gather under REEL_TRACE writes a trace")
        r = run([args.tool, trc])
        s = r.stdout
        print(s)
        check(r.returncode == 0, "reel-trace FILE runs (through its #! line)")
        lines = s.splitlines()
        at = next((i for i, ln in enumerate(lines) if ln.startswith("fibers (")), len(lines))
        rows = {}
        for ln in lines[at + 2:]:
            if not ln.strip():
                break
            w = ln.split()
            rows[" ".join(w[:2]) if w[0] == "task" else w[0]] = ln
        check(all(n in rows for n in ("main", "task 1", "task 2", "task 3")),
              "the summary has a row for main and the three jobs")
        check("wait:sleep" in s and "wait:gather" in s and "ready-wait" in s,
              "the summary has ready-wait and wait time by reason")
        # main slot spawned runs run ready-wait max-ready yields sleep gather status
        main_sleep = rows.get("main", "").split()
        check(len(main_sleep) > 9 and 2900 < float(main_sleep[8]) < 3500,
              "main slept about 3000 ms (serial), by the summary")
        check("scheduling latency (ready -> running)" in s and "loop utilisation" in s
              and "idle (in the kernel wait)" in s and "longest runs" in s,
              "the summary has the latency histogram, the utilisation and the longest runs")
        check(" 0 dropped" in s and "warning" not in s, "no drop and no warning")
        js = os.path.join(tmp, "svg.json")
        r = run([sys.executable, args.tool, trc, "--json", js])
        check(r.returncode == 0, "reel-trace --json runs")
        doc = validate_chrome(js, "serial_vs_gather json")
        threads = {e["args"]["name"] for e in doc["traceEvents"]
                   if e["ph"] == "M" and e["name"] == "thread_name"}
        check({"main (task 0)", "task 1 (task 1)", "task 2 (task 2)", "task 3 (task 3)"}
              <= threads, "a track per fiber, named")
        names = {e["name"] for e in doc["traceEvents"] if e["ph"] == "X"}
        check({"running", "sleep", "gather", "idle", "ready"} <= names,
              "running slices, waits by reason, ready and idle slices")
        flows = [e for e in doc["traceEvents"] if e["ph"] == "s"]
        check(any(f["args"].get("cause") == "timer" for f in flows) and
              any(f["args"].get("waker") == "task 1" for f in flows),
              "wake arrows from the loop's timer and from task 1 (main's gather)")
        check_pngs(args.tool, trc, os.path.join(tmp, "png"), "serial_vs_gather",
                   ["timeline.png", "sched_latency.png"])

        syn = os.path.join(tmp, "syn.trc")
        synthetic(syn)
        r = run([sys.executable, args.tool, syn])
        s = r.stdout
        print(s)
        check(r.returncode == 0, "reel-trace reads a synthetic two-loop file")
        check("2 loops" in s and "loop on thread 101" in s and "loop on thread 202" in s,
              "both loops reported")
        check("17 dropped" in s and "17 events dropped on this loop" in s,
              "the DROPPED record is reported")
        check("partial record" in s, "the cut-off last record is reported")
        check("READ" in s and "RECV" in s and "29.0" in s and "29.5" in s,
              "I/O latency per opcode (READ 29.0 us, RECV 29.5 us)")
        check("submit batches: 1 io_uring_enter submits, 2 SQEs" in s, "submit batch sizes")
        check("task 1" in s, "an unnamed task shows as task <slot>")
        js = os.path.join(tmp, "syn.json")
        r = run([sys.executable, args.tool, syn, "--json", js])
        check(r.returncode == 0, "--json on the synthetic file")
        doc = validate_chrome(js, "synthetic json")
        io = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "io"]
        check(len(io) == 4 and {e["name"] for e in io} == {"READ", "RECV"} and
              all(e["args"]["latency_us"] in (29.0, 29.5) for e in io),
              "I/O slices with opcode and latency")
        check(len({e["pid"] for e in doc["traceEvents"] if e["ph"] != "M"}) == 2,
              "one process per loop")
        check_pngs(args.tool, syn, os.path.join(tmp, "png2"), "synthetic",
                   ["timeline.png", "sched_latency.png", "io_latency.png"])
        r = run([sys.executable, args.tool, os.path.join(tmp, "nonexistent.trc")])
        check(r.returncode == 1 and "reel-trace:" in r.stderr, "a missing file: exit 1, a message")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
