/*
 * here.c - which loop this thread runs: reel__loop_cur (reelimpl.h).
 *
 * A file of its own because every core file and every layer reads it: with
 * its definition in sched.c, a file that only reads it (inbox.c, which a
 * post from any thread runs) would count as calling into the scheduler's
 * circle of files (tools/check_layers.py), though it calls nothing there.
 */
#include "internal.h"

__thread struct reel__loop *reel__loop_cur __attribute__((tls_model("initial-exec")));
