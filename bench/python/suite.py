#!/usr/bin/env python3
"""suite.py - the Python twin of reel-bench's headline comparison.

The same jobs as bench/suite/workload.c -- a 10 ms timer wait, a request to the
loopback delay server (8 bytes: the delay in ns, echoed back after it), and
a pure-Python CPU kernel of about 10 ms -- run four ways: serial,
asyncio.gather, ThreadPoolExecutor and ProcessPoolExecutor (default sizes).
Each measurement runs in its own forked child, so its peak RSS and CPU time
(os.wait4) are its own; the wall time is taken inside the child around the
model alone. Prints CSV rows in suite.csv's format on stdout:

    python,workload,model,jobs,reps,wall_med_s,wall_min_s,wall_max_s,cpu_med_s,rss_med_kib,status

Run by reel-bench (bench/suite/suite_python.c) with --port of its delay server.

With --fresh MODE TASKS SEED it is instead the asyncio side of "many tasks
from a fresh process" (bench/suite/fresh.c): reel-bench starts it afresh for
every repetition, it starts TASKS asyncio tasks that each wait 10 ms
(wait10ms) or sleep until t0 + d, d uniform in [0, 1 s) drawn from
splitmix64(SEED) as the C and Go twins draw them (due1s), gathers them, and
prints "ok WALL_NS": from before asyncio.run (t0) to the gather's return.
"""
import argparse
import asyncio
import concurrent.futures as cf
import os
import platform
import select
import socket
import statistics
import struct
import sys
import time

WAIT_S = 0.010
CPU_JOB_S = 0.010


def cpu_kernel(rounds, seed=1):
    """Pure Python integer mixing: holds the GIL for its whole run."""
    h = seed
    mask = (1 << 64) - 1
    for _ in range(rounds):
        h = (h + 0x9E3779B97F4A7C15) & mask
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
        h ^= h >> 31
    return h


def calibrate(seconds):
    """Rounds of cpu_kernel that take about @seconds here (best of three)."""
    probe = 20000
    best = min(_timed(cpu_kernel, probe) for _ in range(3))
    return max(1, int(probe * seconds / best))


def _timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# ---- jobs: blocking and asyncio versions --------------------------------

class Env:
    port = 0
    rounds = 0


def job_blocking(workload, i):
    if workload == "timer":
        time.sleep(WAIT_S)
    elif workload == "tcp":
        req = struct.pack("<Q", int(WAIT_S * 1e9))
        with socket.create_connection(("127.0.0.1", Env.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(req)
            got = b""
            while len(got) < 8:
                chunk = s.recv(8 - len(got))
                if not chunk:
                    raise ConnectionResetError("server closed early")
                got += chunk
            if got != req:
                raise ValueError("bad reply")
    else:
        cpu_kernel(Env.rounds, i)


async def job_async(workload, i):
    if workload == "timer":
        await asyncio.sleep(WAIT_S)
    elif workload == "tcp":
        req = struct.pack("<Q", int(WAIT_S * 1e9))
        reader, writer = await asyncio.open_connection("127.0.0.1", Env.port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.write(req)
        got = await reader.readexactly(8)
        writer.close()
        if got != req:
            raise ValueError("bad reply")
    else:
        cpu_kernel(Env.rounds, i)   # no await inside: it blocks the loop


# ---- models ---------------------------------------------------------------

def run_serial(workload, n):
    for i in range(n):
        job_blocking(workload, i)


def run_asyncio(workload, n):
    async def main():
        await asyncio.gather(*(job_async(workload, i) for i in range(n)))
    asyncio.run(main())


def _pool(executor_cls, workload, n):
    with executor_cls() as ex:
        list(ex.map(job_blocking, [workload] * n, range(n)))


def run_tpool(workload, n):
    _pool(cf.ThreadPoolExecutor, workload, n)


def run_ppool(workload, n):
    _pool(cf.ProcessPoolExecutor, workload, n)


MODELS = [("serial", run_serial), ("asyncio", run_asyncio),
          ("thread-pool", run_tpool), ("process-pool", run_ppool)]


def measure(fn, workload, n, timeout):
    """Run fn(workload, n) in a forked child. Returns (wall, cpu, rss_kib, why)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            t0 = time.perf_counter()
            fn(workload, n)
            msg = "ok %.9f" % (time.perf_counter() - t0)
        except BaseException as e:     # the row says what went wrong
            msg = "err %s: %s" % (type(e).__name__, str(e)[:60])
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(r, 512)
        if not chunk:
            break
        data += chunk
    os.close(r)
    if not data:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    _, status, ru = os.wait4(pid, 0)
    cpu = ru.ru_utime + ru.ru_stime
    text = data.decode(errors="replace")
    if text.startswith("ok "):
        return float(text[3:]), cpu, ru.ru_maxrss, None
    if text.startswith("err "):
        return None, cpu, ru.ru_maxrss, text[4:]
    if not data and time.monotonic() >= deadline:
        return None, cpu, ru.ru_maxrss, "timeout: killed after %.0f s" % timeout
    return None, cpu, ru.ru_maxrss, "crashed: wait status %#x" % status


def predict(model, workload, n, t1, ncpu):
    """Seconds one repetition should take, from t1 (one job alone)."""
    pool_t = min(32, ncpu + 4)
    if workload == "cpu":
        par = {"serial": 1, "asyncio": 1, "thread-pool": 1,   # the GIL
               "process-pool": ncpu}[model]
        return n * t1 / par
    par = {"serial": 1, "asyncio": n, "thread-pool": pool_t,
           "process-pool": ncpu}[model]
    return -(-n // par) * t1


# ---- many tasks from a fresh process ----------------------------------------

MASK64 = (1 << 64) - 1


def splitmix(state):
    """bench_rand of bench/common/bench.h: returns (new state, value)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def fresh(mode, n, seed):
    """Start n tasks in this fresh process, wait for all; print the time."""
    t0 = time.monotonic_ns()     # asyncio's clock: CLOCK_MONOTONIC
    joined = [t0]

    async def wait10ms():
        await asyncio.sleep(WAIT_S)

    async def due(at_ns):
        await asyncio.sleep((at_ns - time.monotonic_ns()) / 1e9)

    async def main():
        tasks = []
        if mode == "wait10ms":
            for _ in range(n):
                tasks.append(asyncio.create_task(wait10ms()))
        else:
            s = seed
            for _ in range(n):
                s, r = splitmix(s)
                tasks.append(asyncio.create_task(due(t0 + r % 1000000000)))
        await asyncio.gather(*tasks)
        joined[0] = time.monotonic_ns()

    asyncio.run(main())
    print("ok %d" % (joined[0] - t0), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fresh", nargs=3, metavar=("MODE", "TASKS", "SEED"))
    args = ap.parse_args()
    if args.fresh:
        mode, n, seed = args.fresh
        if mode not in ("wait10ms", "due1s"):
            ap.error("--fresh MODE is wait10ms or due1s")
        return fresh(mode, int(n), int(seed))
    Env.port = args.port
    Env.rounds = calibrate(CPU_JOB_S)
    ncpu = os.cpu_count() or 1
    reps = 3 if args.quick else 5
    budget = 2.5 if args.quick else 5.0
    if args.quick:
        plan = {"timer": [1, 100, 1000], "tcp": [1, 100], "cpu": [1, 16]}
    else:
        plan = {"timer": [1, 10, 100, 1000, 10000], "tcp": [1, 10, 100, 1000],
                "cpu": [1, 4, 16]}
    if not Env.port:
        del plan["tcp"]
    print("# python: %s %s" % (platform.python_implementation(), platform.python_version()),
          flush=True)
    for workload, counts in plan.items():
        t1 = 0.0
        for n in counts:
            cells = {}
            for name, fn in MODELS:
                pred = predict(name, workload, n, t1, ncpu) if t1 else 0
                cells[name] = ([], [], [],
                               "skipped: predicted %.1f s > budget %.1f s" % (pred, budget)
                               if pred > budget else None)
            for _ in range(reps):     # interleaved, as the C side does
                for name, fn in MODELS:
                    walls, cpus, rsss, why = cells[name]
                    if why:
                        continue
                    pred = predict(name, workload, n, t1, ncpu) if t1 else 1
                    wall, cpu, rss, why = measure(fn, workload, n, 10 + 4 * pred)
                    if why:
                        cells[name] = (walls, cpus, rsss, why.replace(",", ";").replace('"', "'"))
                        continue
                    walls.append(wall)
                    cpus.append(cpu)
                    rsss.append(rss)
            for name, _ in MODELS:
                walls, cpus, rsss, why = cells[name]
                if why:
                    print('python,%s,%s,%d,0,,,,,,"%s"' % (workload, name, n, why), flush=True)
                    continue
                if name == "serial" and n == 1:
                    t1 = statistics.median(walls)
                print('python,%s,%s,%d,%d,%.6f,%.6f,%.6f,%.6f,%.0f,"ok"' % (
                    workload, name, n, len(walls), statistics.median(walls), min(walls),
                    max(walls), statistics.median(cpus), statistics.median(rsss)),
                    flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
