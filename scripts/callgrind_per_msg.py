#!/usr/bin/env python3
"""Instructions per message from callgrind runs of `zmqio-bench --instr` (see
scripts/instructions.sh, which drives this).

Each measurement is two runs of the same workload and variant, with N and 2N messages, each
with `--separate-threads=yes` (one output file per thread). Everything a run does besides the
messages (runtime, context, bind, connect, close) is the same in both, so

    per message = (cost(2N) - cost(N)) / N

Threads are split into libzmq's own threads (the I/O thread and the reaper: the function
`start_thread` runs is in libzmq, or is `thread_routine` / `zmq::...` in a static build) and
the application side (everything else: the main thread, runtime workers, the raw benchmark's
sender and receiver threads). "malloc+free" is the inclusive cost of malloc, free, realloc,
calloc (and their aliases and aligned variants).

Usage:
    callgrind_per_msg.py table N RAW_VARIANT RUN...
        RUN = WORKLOAD:VARIANT:PAIR[,PAIR...] and PAIR = PREFIX_N+PREFIX_2N (repetitions);
        each column is the median over the repetitions, and "spread" is the range of the
        application side over them
    callgrind_per_msg.py profile N TOP PREFIX_N PREFIX_2N
where PREFIX is the --callgrind-out-file of the run without its per-thread suffix.
"""

import glob
import os
import re
import sys
from collections import defaultdict

ALLOC = {
    "malloc", "free", "realloc", "calloc", "cfree", "posix_memalign", "aligned_alloc",
    "memalign", "__libc_malloc", "__libc_free", "__libc_realloc", "__libc_calloc",
    "__libc_memalign", "__posix_memalign",
}
# Names libzmq's thread entry point has when libzmq is linked statically with symbols.
ZMQ_THREAD_ROOTS = re.compile(r"^(thread_routine|zmq::)")
ZMQ_OBJ = re.compile(r"(^|/)libzmq[^/]*$")


def base_name(fn):
    """`malloc@@GLIBC_2.2.5` -> `malloc`."""
    return fn.split("@", 1)[0]


class Thread:
    def __init__(self, path):
        self.path = path
        self.total = 0
        self.excl = defaultdict(int)  # (obj, fn) -> cost
        self.incl = defaultdict(int)  # (obj, fn) -> cost, self plus calls out (no self-calls)
        self.libzmq = False


def parse(path):
    """One callgrind output file (one thread): totals, exclusive and inclusive cost per
    function, and whether libzmq started the thread."""
    t = Thread(path)
    names = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl",
               "cfl": "fl", "fn": "fn", "cfn": "fn"}
    npos = 1
    ob = fn = cob = cfn = None
    in_call = False
    started_by = []

    def name(kind, value):
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        table = names[kind_of[kind]]
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), "(" + m.group(1) + ")")

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[npos]) if len(parts) > npos else 0
                if in_call:
                    in_call = False
                    callee = (cob if cob is not None else ob, cfn)
                    if callee != (ob, fn):
                        t.incl[(ob, fn)] += cost
                    if fn == "start_thread":
                        started_by.append(callee)
                    cob = cfn = None
                else:
                    t.excl[(ob, fn)] += cost
                    t.incl[(ob, fn)] += cost
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                ob = name(key, value)
            elif key == "fn":
                fn = base_name(name(key, value))
            elif key == "cob":
                cob = name(key, value)
            elif key == "cfn":
                cfn = base_name(name(key, value))
            elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                name(key, value)
            elif key == "calls":
                in_call = True
            elif line.startswith("positions:"):
                npos = len(line.split()) - 1
            elif line.startswith("totals:"):
                t.total = int(line.split()[1])
    if not t.total:
        t.total = sum(t.excl.values())
    t.libzmq = any(
        ZMQ_OBJ.search(o or "") or ZMQ_THREAD_ROOTS.match(n or "") for o, n in started_by
    )
    return t


def threads(prefix):
    files = sorted(glob.glob(prefix + "-*")) or [prefix]
    return [parse(p) for p in files if os.path.getsize(p) > 0]


def summary(prefix):
    """(application side, libzmq threads, malloc+free application side, malloc+free all)."""
    app = bg = alloc_app = alloc_all = 0
    for t in threads(prefix):
        a = sum(c for (o, fn), c in t.incl.items() if fn in ALLOC)
        alloc_all += a
        if t.libzmq:
            bg += t.total
        else:
            app += t.total
            alloc_app += a
    return app, bg, alloc_app, alloc_all


def per_msg(n, prefix_n, prefix_2n):
    a, b = summary(prefix_n), summary(prefix_2n)
    return [(y - x) / n for x, y in zip(a, b)]


def fmt(x):
    return f"{x:,.0f}"


def median(xs):
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def table(n, raw_variant, runs):
    rows = []
    for run in runs:
        workload, variant, pairs = run.split(":")
        reps = [per_msg(n, *pair.split("+")) for pair in pairs.split(",")]
        cols = [median([r[i] for r in reps]) for i in range(4)]
        spread = (min(r[0] for r in reps), max(r[0] for r in reps))
        rows.append((workload, variant, cols, spread, len(reps)))
    raw = {w: r for w, v, r, _, _ in rows if v == raw_variant}
    print("| workload | variant | application side | spread | ratio to raw | libzmq threads "
          "| total | ratio to raw | malloc+free, application side | malloc+free, all threads |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w, v, (app, bg, alloc_app, alloc_all), (lo, hi), k in rows:
        ref = raw.get(w)
        ratio = f"{app / ref[0]:.2f}" if ref else "-"
        tratio = f"{(app + bg) / (ref[0] + ref[1]):.2f}" if ref else "-"
        spread = f"{fmt(lo)}-{fmt(hi)}" if k > 1 else "-"
        print(f"| {w} | {v} | {fmt(app)} | {spread} | {ratio} | {fmt(bg)} | {fmt(app + bg)} "
              f"| {tratio} | {fmt(alloc_app)} | {fmt(alloc_all)} |")


def label(obj, fn):
    """A function's name; for an address without a symbol, the object it is in."""
    if fn and fn.startswith("0x"):
        return f"{os.path.basename(obj or '?')}:{fn}"
    return fn


def profile(n, top, p1, p2):
    """The costliest functions per message on the application side, exclusive and
    inclusive, differenced between the two runs. The inclusive list leaves out the frames
    that contain nearly everything (main, the runtime's block_on, thread entry points)."""
    def costs(prefix):
        excl, incl = defaultdict(int), defaultdict(int)
        total = 0
        for t in threads(prefix):
            if t.libzmq:
                continue
            total += t.total
            for k, c in t.excl.items():
                excl[label(*k)] += c
            for k, c in t.incl.items():
                incl[label(*k)] += c
        return excl, incl, total

    (e1, i1, t1), (e2, i2, t2) = costs(p1), costs(p2)
    app = (t2 - t1) / n
    for title, a, b in (("exclusive", e1, e2), ("inclusive", i1, i2)):
        d = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}
        if title == "inclusive":
            d = {k: v for k, v in d.items() if v < 0.9 * app}
        print(f"## application side ({app:,.0f} per message), {title}, instructions per message")
        for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{v:9.1f}  {k}")
        print()


def main(argv):
    if len(argv) >= 4 and argv[1] == "table":
        table(int(argv[2]), argv[3], argv[4:])
    elif len(argv) == 6 and argv[1] == "profile":
        profile(int(argv[2]), int(argv[3]), argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
