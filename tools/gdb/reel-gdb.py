# reel-gdb.py - gdb commands for reel's fibers, on a live process or a core.
#
#   reel fibers        every fiber of every loop: task id, name, state, park
#                      reason, what it waits on, its stack
#   reel bt ID|all     the backtrace of a parked (or ready) fiber, read from
#                      its saved context; ID is a task id (as reel_self and
#                      `reel fibers` give it) or a slot number
#
# How it finds them. Every loop that reel_run runs is on reel__loops, a
# process-wide list (engine/core/loop.c) - not the thread-local
# reel__loop_cur, which a core file makes awkward to read. A loop's task
# table holds every task: a live one points at its fiber, an ended one
# keeps its status until it is joined. Everything is read through the
# library's DWARF (struct reel__loop, struct reel__fiber, ...), so the
# library must be built with -g (RelWithDebInfo or Debug).
#
# How `reel bt` walks a fiber that is switched out. Its saved stack pointer
# (fiber->sp) points at the frame reel__ctx_switch pushed
# (engine/core/switch_x86_64_sysv.S): rbp at sp+40 and the resume address
# at sp+48 (six callee-saved registers; the FP control state is the
# thread's, not saved per fiber). From there it follows the frame-pointer chain ([rbp] is the
# caller's rbp, [rbp+8] its return address) - the engine is built with
# -fno-omit-frame-pointer - until rbp is 0 (reel__ctx_make ends the chain
# there) or leaves the fiber's stack. A fiber the loop is running uses its
# thread's stack and registers: gdb's own `bt` of that thread shows it.
#
# Loading. Installed as <datadir>/gdb/auto-load/<libdir>/libreel.so.<version>-gdb.py,
# gdb loads it with the shared library (objfile-gdb.py convention; see
# `info auto-load`). A program linked with libreel.a: `source` this file.
import gdb

REEL_WHY = ("reel: %s. The gdb commands read libreel's debug info: build it with -g "
            "(CMAKE_BUILD_TYPE=RelWithDebInfo or Debug) or install its debug symbols.")

# enum io_uring_op values (kernel ABI), for a library whose DWARF lacks it.
IORING_OPS = (
    "NOP READV WRITEV FSYNC READ_FIXED WRITE_FIXED POLL_ADD POLL_REMOVE SYNC_FILE_RANGE "
    "SENDMSG RECVMSG TIMEOUT TIMEOUT_REMOVE ACCEPT ASYNC_CANCEL LINK_TIMEOUT CONNECT "
    "FALLOCATE OPENAT CLOSE FILES_UPDATE STATX READ WRITE FADVISE MADVISE SEND RECV OPENAT2 "
    "EPOLL_CTL SPLICE PROVIDE_BUFFERS REMOVE_BUFFERS TEE SHUTDOWN RENAMEAT UNLINKAT MKDIRAT "
    "SYMLINKAT LINKAT MSG_RING FSETXATTR SETXATTR FGETXATTR GETXATTR SOCKET URING_CMD SEND_ZC "
    "SENDMSG_ZC READ_MULTISHOT WAITID FUTEX_WAIT FUTEX_WAKE FUTEX_WAITV FIXED_FD_INSTALL "
    "FTRUNCATE BIND LISTEN").split()

# The engine/sync objects whose wait queue is their first member, by the
# magic word their private struct carries (engine/sync/sync.c, chan.c).
SYNC_KINDS = (("mutex_impl", 0x6d757478, "mutex"), ("sem_impl", 0x73656d61, "semaphore"),
              ("event_impl", 0x65766e74, "event"), ("cond_impl", 0x636f6e64, "condition"))
CHAN_MAGIC = 0x6368616e


class ReelError(Exception):
    pass


def lookup_type(name, required=True):
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        if required:
            raise ReelError(REEL_WHY % ("no type '%s' in this program" % name))
        return None


def field_offset(struct_type, name):
    for f in struct_type.fields():
        if f.name == name:
            return f.bitpos // 8
    raise ReelError(REEL_WHY % ("%s has no member '%s'" % (struct_type, name)))


def container_of(ptr, struct_name, member):
    t = lookup_type(struct_name)
    addr = int(ptr) - field_offset(t, member)
    return gdb.Value(addr).cast(t.pointer())


def read_u64(addr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(addr, 8)), "little")


def read_u32(addr):
    return int.from_bytes(bytes(gdb.selected_inferior().read_memory(addr, 4)), "little")


def enum_names(type_name, prefix):
    """{value: short name} of an enum of the library's DWARF."""
    t = lookup_type(type_name, required=False)
    if t is None:
        return {}
    return {int(f.enumval): f.name[len(prefix):] if f.name.startswith(prefix) else f.name
            for f in t.fields()}


def park_reason_names():
    """The names the deadlock report uses (sched.c), else the enum's."""
    names = {v: n.lower().replace("_", "-")
             for v, n in enum_names("enum reel__park_reason", "REEL__PARK_").items()}
    try:
        arr = gdb.parse_and_eval("park_reason_names")
        lo, hi = arr.type.range()
        for i in range(lo, hi + 1):
            names[i] = arr[i].string()
    except (gdb.error, gdb.MemoryError):
        pass
    return names


def the_loops():
    """Every loop on the registry: [struct reel__loop *]."""
    try:
        gdb.parse_and_eval("&reel__loops")   # a minimal symbol will do here
    except gdb.error:
        raise ReelError("reel: no reel__loops in this program: it does not use libreel "
                        "(or not yet: run it to where libreel is loaded), or its libreel "
                        "predates the loop registry")
    lookup_type("struct reel__loop")
    sym = gdb.lookup_global_symbol("reel__loops") or gdb.lookup_static_symbol("reel__loops")
    head = sym.value().address if sym else gdb.parse_and_eval("&reel__loops")
    if head.type.target().code != gdb.TYPE_CODE_STRUCT:
        raise ReelError(REEL_WHY % "reel__loops has no type information")
    loops, n, hops = [], head["next"], 0
    while int(n) != int(head):
        loops.append(container_of(n, "struct reel__loop", "loops_node"))
        n = n["next"]
        hops += 1
        if hops > 4096:
            raise ReelError("reel: the loop registry looks corrupt (no end after 4096 loops)")
    return loops


def thread_of(tid):
    for th in gdb.selected_inferior().threads():
        if th.ptid[1] == tid:
            return th
    return None


class Fiber:
    """One row: a live task's fiber, or an ended task waiting to be joined."""

    def __init__(self, loop, slot_idx, slot, alive):
        self.loop = loop
        self.slot = slot_idx
        self.is_main = bool(slot["is_main"])
        self.id = (int(slot["gen"]) << 32) | slot_idx
        self.fiber = slot["fiber"] if int(slot["state"]) == alive else None
        self.status = int(slot["status"])
        self.joiner = int(slot["joiner"])
        self.name = "main" if self.is_main else "(unnamed)"
        if self.fiber is not None and int(self.fiber) != 0:
            self.id = int(self.fiber["id"])
            if int(self.fiber["name"]):
                try:
                    self.name = self.fiber["name"].string()
                except (gdb.error, gdb.MemoryError):
                    self.name = "?"
        else:
            self.fiber = None

    @property
    def current(self):
        return self.fiber is not None and int(self.loop["current"]) == int(self.fiber)

    def state(self, names):
        if self.fiber is None:
            return "ENDED"
        return names.get(int(self.fiber["state"]), "?")

    def stack(self):
        st = self.fiber["stack"]
        lo = int(st["lo"])
        return lo, lo + int(st["size"])


def fibers_of(loop):
    alive = done = None
    for v, n in enum_names("enum reel__task_state", "REEL__TASK_").items():
        if n == "ALIVE":
            alive = v
        elif n == "DONE":
            done = v
    alive = 1 if alive is None else alive
    done = 2 if done is None else done
    out = []
    for i in range(int(loop["ntasks"])):
        s = loop["tasks"][i]
        st = int(s["state"])
        if st == alive or st == done:
            out.append(Fiber(loop, i, s, alive))
    return out


def where(addr, everyone):
    """A data address in words: a symbol, or whose stack it is on."""
    try:
        s = gdb.execute("info symbol 0x%x" % addr, to_string=True).strip()
        if not s.startswith("No symbol"):
            return s.split(" in section")[0]
    except gdb.error:
        pass
    for f in everyone:
        if f.fiber is not None:
            lo, hi = f.stack()
            if lo <= addr < hi:
                return "on %s's stack" % f.name
    return None


def describe_queue(head, everyone):
    """A wait queue's head in words: which lock or channel it belongs to."""
    def named(kind, addr, extra=""):
        w = where(addr, everyone)
        return "%s 0x%x%s%s" % (kind, addr, " (%s)" % w if w else "", extra)

    for struct, magic, kind in SYNC_KINDS:
        t = lookup_type("struct " + struct, required=False)
        if t is None:
            continue
        try:
            obj = gdb.Value(head).cast(t.pointer())
            if int(obj["magic"]) != magic:
                continue
            extra = ""
            if kind == "mutex" and int(obj["owner"]):
                owner = int(obj["owner"])
                who = [f.name for f in everyone if f.id == owner]
                extra = ", held by %s" % (who[0] if who else "task %#x" % owner)
            return named(kind, head, extra)
        except (gdb.error, gdb.MemoryError):
            continue
    t = lookup_type("struct chan_impl", required=False)
    if t is not None:
        for member, verb in (("senders", "send"), ("receivers", "recv")):
            try:
                base = head - field_offset(t, member)
                if int(gdb.Value(base).cast(t.pointer())["magic"]) == CHAN_MAGIC:
                    return named("channel", base, ", " + verb)
            except (gdb.error, gdb.MemoryError):
                continue
    return named("wait queue", head)


def queue_head(fiber, everyone):
    """The head of the wait queue @fiber's wait_node is on: the one node of
    the circle that is not a waiter whose fiber points back at it."""
    wt = lookup_type("struct reel__waiter", required=False)
    if wt is None:
        return None
    node_off, fiber_off = field_offset(wt, "node"), field_offset(wt, "fiber")
    waits = {int(f.fiber): int(f.fiber["wait_node"]) for f in everyone if f.fiber is not None}
    start = int(fiber["wait_node"])
    n = read_u64(start)   # ->next
    for _ in range(1 << 20):
        if n == start:
            return None
        wf = read_u64(n - node_off + fiber_off)
        if waits.get(wf) != n:
            return n
        n = read_u64(n)
    return None


_ops_cache = {}


def io_ops_of(loop, fiber):
    """The io_uring operations in flight for @fiber: one pass over the ring's
    op table per loop and command, not one per fiber."""
    key = int(loop)
    if key not in _ops_cache:
        ring = loop["ring"]
        names = enum_names("enum io_uring_op", "IORING_OP_")
        by_waiter = {}
        for i in range(int(ring["nslots"])):
            op = ring["slots"][i]["op"]
            if int(op):
                code = int(op["opcode"])
                name = names.get(code) or (IORING_OPS[code] if code < len(IORING_OPS)
                                           else str(code))
                by_waiter.setdefault(int(op["waiter"]), []).append(name)
        _ops_cache[key] = by_waiter
    return _ops_cache[key].get(int(fiber), [])


def timer_left(loop, fiber):
    t = fiber["timer"]
    if not bool(t["armed"]):
        return None
    w = loop["wheel"]
    ticks = int(t["expires"]) - int(w["now"])
    return max(ticks, 0) * (1 << int(w["shift"])) / 1e9


def waits_on(f, everyone, reasons):
    """What a parked fiber waits for, as far as the core records it."""
    fb, loop = f.fiber, f.loop
    why = reasons.get(int(fb["park_reason"]), "?")
    bits = []
    if why == "join":
        for g in everyone:
            if g.joiner == int(fb):
                bits.append("task %#x (%s)" % (g.id, g.name))
    elif why == "shutdown":
        bits.append("%d tasks to end" % (int(loop["live"]) - 1))
    elif why in ("io", "io-cancel"):
        ops = io_ops_of(loop, fb)
        if ops:
            bits.append("io_uring " + ", ".join(ops))
    if int(fb["wait_node"]):
        try:
            head = queue_head(fb, everyone)
            if head:
                bits.append(describe_queue(head, everyone))
        except (gdb.error, gdb.MemoryError):
            bits.append("a wait queue")
    left = timer_left(loop, fb)
    if left is not None:
        bits.append(("timer in %.3f s" if why == "sleep" else "timeout in %.3f s") % left)
    if bool(fb["cancelled"]):
        bits.append("cancelled")
    return why, "; ".join(bits) or "-"


class ReelPrefix(gdb.Command):
    """reel: inspect the fibers of reel's loops (reel fibers, reel bt ID)."""

    def __init__(self):
        super().__init__("reel", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class ReelFibers(gdb.Command):
    """reel fibers: list every fiber of every reel loop in the process.

For each loop (one per thread running reel_run): task id, slot, name, state
(RUNNING, READY, PARKED, ENDED = ended, not yet joined), park reason, what
it waits on, and its stack. Works on a live process and on a core file."""

    def __init__(self):
        super().__init__("reel fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            self.list_all()
        except ReelError as e:
            raise gdb.GdbError(str(e))

    @staticmethod
    def list_all():
        _ops_cache.clear()
        loops = the_loops()
        if not loops:
            gdb.write("reel: no loop is running (no thread is inside reel_run)\n")
            return
        states = enum_names("enum reel__fiber_state", "REEL__FIBER_")
        reasons = park_reason_names()
        for loop in loops:
            everyone = fibers_of(loop)
            tid = int(loop["tid"])
            th = thread_of(tid)
            gdb.write("loop 0x%x on %s: %d live, %d ended\n" % (
                int(loop), "thread %d (LWP %d)" % (th.num, tid) if th else
                "LWP %d, not a thread of this process (a forked copy?)" % tid,
                int(loop["live"]), sum(1 for f in everyone if f.fiber is None)))
            gdb.write("  %-18s %4s %-12s %-8s %-9s %-44s %s\n" % (
                "task", "slot", "name", "state", "reason", "waits on", "stack"))
            for f in everyone:
                if f.fiber is None:
                    gdb.write("  %#-18x %4d %-12s %-8s %-9s %-44s %s\n" % (
                        f.id, f.slot, f.name, "ENDED", "-", "status %d" % f.status, "-"))
                    continue
                state = f.state(states)
                why, what = "-", "-"
                if state == "PARKED":
                    why, what = waits_on(f, everyone, reasons)
                if f.current:
                    what = ("its thread's stack" if state == "RUNNING" else
                            what + "; the loop waits on its stack")
                lo, hi = f.stack()
                gdb.write("  %#-18x %4d %-12s %-8s %-9s %-44s 0x%x-0x%x\n" % (
                    f.id, f.slot, f.name[:12], state, why, what, lo, hi))


def describe_pc(pc):
    """func and file:line of a return address (looked up at pc - 1, the call)."""
    look = pc - 1
    names = []
    try:
        b = gdb.block_for_pc(look)
        while b is not None:
            if b.function is not None:
                names.append(b.function.print_name)
            b = b.superblock
    except (RuntimeError, OverflowError):
        pass
    if not names:
        try:
            s = gdb.execute("info symbol 0x%x" % look, to_string=True).strip()
            if not s.startswith("No symbol"):
                names.append(s.split(" + ")[0].split(" in section")[0])
        except gdb.error:
            pass
    func = names[0] if names else "??"
    if len(names) > 1:
        func += " [inlined into %s]" % names[-1]
    sal = gdb.find_pc_line(look)
    loc = ""
    if sal.symtab is not None:
        loc = " (%s:%d)" % (sal.symtab.filename, sal.line)
    return func, loc


def walk(f):
    """[(pc)] of a switched-out fiber, innermost first (see the top)."""
    lo, hi = f.stack()
    sp = int(f.fiber["sp"])
    if not lo <= sp < hi:
        raise ReelError("reel: fiber %#x's saved sp 0x%x is outside its stack" % (f.id, sp))
    rbp, pc = read_u64(sp + 40), read_u64(sp + 48)
    if not pc:
        raise ReelError("reel: fiber %#x's saved frame reads as zeros: this core lacks its "
                        "stack (gcore of stacks guarded by MADV_GUARD_INSTALL: see "
                        "docs/profiling.md)" % f.id)
    pcs = [pc]
    while rbp and lo <= rbp < hi - 8 and len(pcs) < 512:
        pc, nbp = read_u64(rbp + 8), read_u64(rbp)
        if not pc:
            break
        pcs.append(pc)
        if nbp <= rbp:   # the chain only goes up the stack
            break
        rbp = nbp
    return pcs


class ReelBt(gdb.Command):
    """reel bt ID|all: the backtrace of a switched-out fiber (reel fibers lists them).

ID is a task id (hex or decimal, as `reel fibers` prints it) or a slot
number. The fiber a loop is running has no saved context: its stack is its
thread's, and gdb's own `bt` (after `thread N`) shows it."""

    def __init__(self):
        super().__init__("reel bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            self.bt(arg.strip())
        except ReelError as e:
            raise gdb.GdbError(str(e))

    def bt(self, arg):
        if not arg:
            raise ReelError("usage: reel bt ID|all")
        states = enum_names("enum reel__fiber_state", "REEL__FIBER_")
        everyone = [f for loop in the_loops() for f in fibers_of(loop)]
        if arg == "all":
            for f in everyone:
                self.one(f, states)
            return
        try:
            want = int(arg, 0)
        except ValueError:
            raise ReelError("reel bt: '%s' is not a task id or slot number" % arg)
        hits = [f for f in everyone if f.id == want] or [f for f in everyone if f.slot == want]
        if not hits:
            raise ReelError("reel bt: no fiber with task id or slot %s (see reel fibers)" % arg)
        if len(hits) > 1:
            raise ReelError("reel bt: slot %d is in several loops: give the task id" % want)
        self.one(hits[0], states)

    @staticmethod
    def one(f, states):
        state = f.state(states)
        gdb.write("fiber %#x (%s), %s:\n" % (f.id, f.name, state))
        if f.fiber is None:
            gdb.write("  ended with status %d, not yet joined: no stack\n" % f.status)
            return
        if f.current:
            tid = int(f.loop["tid"])
            th = thread_of(tid)
            num = th.num if th else "?"
            gdb.write("  the loop is running it: its stack is thread %s's (LWP %d); "
                      "`thread %s` then `bt` shows it\n" % (num, tid, num))
            if th is not None and th == gdb.selected_thread():
                gdb.execute("bt")
            return
        if not bool(f.fiber["started"]):
            gdb.write("  not started yet: it will begin in its task's function\n")
            return
        for i, pc in enumerate(walk(f)):
            func, loc = describe_pc(pc)
            gdb.write("#%-2d 0x%016x in %s%s\n" % (i, pc, func, loc))


ReelPrefix()
ReelFibers()
ReelBt()
