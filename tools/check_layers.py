#!/usr/bin/env python3
"""tools/check_layers.py - the engine's structure, checked (ctest: layers).

The rules docs/internals.md states, enforced so they stay true:
  1. api/ holds public headers only, and they include nothing but each
     other and system headers.
  2. engine/core/ includes nothing above it (no layer's file).
  3. A layer (engine/<layer>/) includes the core only through
     engine/reelimpl.h - never core/internal.h or another core header - and
     no other layer's files.
  4. The same for calls: a layer's object uses, of the engine's internal
     reel__ names, only those engine/reelimpl.h declares; no core object
     uses a symbol that a layer's object defines.
  5. No include/call circle inside engine/ has more than MAX_CIRCLE files:
     the files that call each other around a circle (a strongly connected
     component of the graph "A calls a function or uses a variable defined
     in B, or includes B") stay small enough to read together.

Calls come from the built static library (nm: which object defines and
which uses each external symbol); includes from the sources. Calls made
through function pointers (a timer's fn, op->complete, watch->ended, a
part's term) are the core calling up by design and are not edges here.

Usage: check_layers.py SOURCE_DIR LIBREEL_A    (exit 1 on a violation)
"""
import os
import re
import subprocess
import sys

MAX_CIRCLE = 5
# Sources built only under a CMake option: absent from some libraries.
OPTIONAL = {"engine/core/fault.c"}   # REEL_FAULT_INJECTION (Debug builds)
LAYERS = ("tasks", "sync", "io", "offload", "http", "trace", "runtime")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def engine_files(src):
    out = []
    for root, _, names in os.walk(os.path.join(src, "engine")):
        for n in names:
            if n.endswith((".c", ".h", ".S")):
                out.append(os.path.relpath(os.path.join(root, n), src))
    return sorted(out)


def folder(path):
    """engine/core/x.c -> core; engine/reelimpl.h -> impl."""
    parts = path.split(os.sep)
    if len(parts) > 2:
        return parts[1]
    return "impl" if parts[-1] == "reelimpl.h" else "stray"


def includes(src, path):
    """Quoted includes of @path, resolved to paths relative to @src."""
    text = open(os.path.join(src, path), encoding="utf-8").read()
    here = os.path.dirname(path)
    found = []
    for kind, name in INCLUDE.findall(text):
        if kind != '"':
            continue
        cand = os.path.normpath(os.path.join(here, name))
        found.append(cand if os.path.exists(os.path.join(src, cand)) else name)
    return found


def check_api(src, errors):
    api = os.path.join(src, "api")
    for n in sorted(os.listdir(api)):
        if not n.endswith(".h"):
            errors.append(f"api/{n}: api/ is for public headers only")
            continue
        for name in includes(src, os.path.join("api", n)):
            if not re.fullmatch(r"api/reel\w*\.h", name):
                errors.append(f"api/{n} includes {name}: not a public header")


def check_includes(src, files, errors, edges):
    for f in files:
        mine = folder(f)
        if mine == "stray":
            errors.append(f"{f}: engine/ holds reelimpl.h and folders only")
        elif mine not in ("core", "impl") + LAYERS:
            errors.append(f"{f}: {mine}/ is not a known room (core or {', '.join(LAYERS)})")
        for inc in includes(src, f):
            if inc.startswith("api/"):
                continue
            if not inc.startswith("engine/"):
                errors.append(f"{f} includes {inc}: not found in the tree")
                continue
            theirs = folder(inc)
            edges.setdefault(f, set()).add(inc)
            if mine == "core" and theirs in LAYERS:
                errors.append(f"{f} includes {inc}: the core includes no layer")
            elif mine in LAYERS and theirs == "core":
                errors.append(f"{f} includes {inc}: a layer reaches the core "
                              "through engine/reelimpl.h only")
            elif mine in LAYERS and theirs in LAYERS and theirs != mine:
                errors.append(f"{f} includes {inc}: another layer's file")
            elif mine == "impl" and theirs in LAYERS:
                errors.append(f"{f} includes {inc}: reelimpl.h is the core's")


def symbol_edges(src, lib, files, edges, errors):
    """Edges object -> object for every external symbol one uses and another
    defines, mapped back to source paths by object name. Returns how many
    engine objects the library really holds."""
    sources = [f for f in files if f.endswith((".c", ".S"))]
    by_object = {}
    for f in sources:
        name = os.path.basename(f) + ".o"
        if name in by_object:
            errors.append(f"{f} and {by_object[name]}: one object name for two "
                          "files; give them distinct names")
        by_object[name] = f
    nm = subprocess.run(["nm", "-A", lib], check=True, capture_output=True,
                        text=True).stdout
    defined, used, seen = {}, [], set()
    for line in nm.splitlines():
        m = re.match(r"^[^:]+:([^:]+):\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if not m or m.group(1) not in by_object:
            continue
        obj, kind, sym = by_object[m.group(1)], m.group(2), m.group(3)
        seen.add(obj)
        if kind == "U":
            used.append((obj, sym))
        elif kind.isupper():
            defined[sym] = obj
    for f in sources:
        if f not in seen and f not in OPTIONAL:
            errors.append(f"{f}: no object in {lib}; is it built?")
    door = set(re.findall(r"\b(reel__\w+)\s*\(",
                          open(os.path.join(src, "engine", "reelimpl.h")).read()))
    door |= set(re.findall(r"\bextern\b[^;]*\b(reel__\w+)",
                           open(os.path.join(src, "engine", "reelimpl.h")).read()))
    for obj, sym in used:
        target = defined.get(sym)
        if target and target != obj:
            edges.setdefault(obj, set()).add(target)
        mine = folder(obj)
        if mine in LAYERS and sym.startswith("reel__") and sym not in door:
            errors.append(f"{obj} uses {sym}: not offered by engine/reelimpl.h")
        if mine == "core" and target and folder(target) in LAYERS:
            errors.append(f"{obj} uses {sym} of {target}: the core calls no layer")
    return len(seen)


def header_source_edges(files, edges):
    """A header and the source that implements it are one unit: x.h <-> x.c
    (reelimpl.h is implemented by the core, which includes it anyway)."""
    names = set(files)
    for f in files:
        if f.endswith(".h") and f[:-2] + ".c" in names:
            edges.setdefault(f, set()).add(f[:-2] + ".c")
            edges.setdefault(f[:-2] + ".c", set()).add(f)


def circles(edges):
    """Tarjan's strongly connected components with more than one file."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {t for ts in edges.values() for t in ts}

    def visit(v):
        work = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter[0]
                counter[0] += 1
                stack.append(nxt)
                on.add(nxt)
                work.append((nxt, iter(sorted(edges.get(nxt, ())))))
            elif nxt in on:
                low[node] = min(low[node], index[nxt])

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def unit(path):
    """Count a header and its source as one file of a circle."""
    return path[:-2] if path.endswith((".c", ".h")) else path


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, lib = sys.argv[1], sys.argv[2]
    files = engine_files(src)
    errors, edges = [], {}
    check_api(src, errors)
    check_includes(src, files, errors, edges)
    nobj = symbol_edges(src, lib, files, edges, errors)
    header_source_edges(files, edges)
    for comp in circles(edges):
        units = sorted({unit(p) for p in comp})
        if len(units) < 2:
            continue
        line = f"circle of {len(units)} files: {', '.join(units)}"
        print(line)
        if len(units) > MAX_CIRCLE:
            errors.append(line + f" (more than {MAX_CIRCLE})")
    for e in errors:
        print("layers: " + e)
    print(f"layers: {len(files)} engine files, {nobj} objects, "
          f"{len(errors)} violations")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
