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
        self.calls = defaultdict(int)  # ((obj, fn), (obj, fn)) -> inclusive cost of the calls
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
                        t.calls[((ob, fn), callee)] += cost
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


# Where the application side's instructions go, by function (exclusive cost, so the
# categories add up to the whole). First match wins.
CATEGORIES = [
    ("malloc/free", re.compile(
        r"^(malloc|free|realloc|calloc|cfree|_int_\w+|malloc_consolidate|unlink_chunk.*"
        r"|alloc_perturb|tcache\w*|posix_memalign|_mid_memalign.*|aligned_alloc|memalign"
        r"|__libc_(malloc|free|realloc|calloc|memalign)|sysmalloc|systrim"
        r"|__rustc::__r(ust|dl)_\w+|__rust_(alloc|dealloc|realloc|alloc_zeroed)\w*)$")),
    ("libzmq (C++)", re.compile(r"^(zmq_|zmq::\w+_t\b|zmq::[a-z_]+::|libzmq[^:]*:0x|zmq::clock_t)")),
    ("zmq crate (Rust FFI wrapper)", re.compile(r"^<?zmq::")),
    ("Multipart, Bytes", re.compile(r"^<?(zmqio_core::types::multipart::|bytes::)"
                                    r"|^core::ptr::drop_in_place<.*(Multipart|bytes::Bytes)")),
    ("zmqio engine", re.compile(r"^<?zmqio_core::engine::")),
    ("zmqio shell (driver, transport, stream)", re.compile(r"zmqio_core::")),
    # The raw benchmark's thread bodies are inlined into std's thread entry.
    ("benchmark code", re.compile(r"zmqio_bench|__rust_begin_short_backtrace")),
    ("locks", re.compile(r"^(__)?pthread_mutex|^__lll_(lock|unlock)|futex|std::sys::sync|Mutex|"
                         r"parking_lot")),
    ("runtime, wakers", re.compile(r"tokio::|async_task|async_executor|async_io|async_std|smol|"
                                   r"polling::|futures_|mio::|[Ww]aker|wake")),
    ("memcpy, memset", re.compile(r"^(__)?mem(cpy|move|set|cmp)")),
    ("system calls", re.compile(r"^(poll|epoll_\w+|read|write|recv\w*|send\w*|__GI_\w+|"
                                r"syscall|clock_gettime|__clock_gettime|__vdso\w*|eventfd\w*)$")),
]


def category(name):
    for title, pattern in CATEGORIES:
        if pattern.search(name):
            return title
    return "other"


def label(obj, fn):
    """A function's name; for an address without a symbol, the object it is in."""
    if fn and fn.startswith("0x"):
        return f"{os.path.basename(obj or '?')}:{fn}"
    return fn


# Groups of functions whose inclusive cost the profile reports, entered from outside the
# group (a call from one member to another is not counted twice).
GROUPS = [
    ("allocation (malloc, free, realloc, calloc, memalign; Rust's allocator shims)",
     lambda f: f in ALLOC or re.match(r"^(__rustc::)?__r(ust|dl)_(alloc|dealloc|realloc)", f)
     or f in ("_int_malloc", "_int_free", "_int_realloc", "_int_memalign", "malloc_consolidate")),
    ("libzmq send (zmq_msg_send)", lambda f: f == "zmq_msg_send"),
    ("libzmq receive (zmq_msg_recv)", lambda f: f == "zmq_msg_recv"),
    ("ZMQ_EVENTS and other option reads (zmq_getsockopt)", lambda f: f == "zmq_getsockopt"),
    ("poll(2) inside libzmq (mailbox checks)", lambda f: f == "poll"),
    ("Multipart, Bytes (their own functions)",
     lambda f: re.match(r"^<?(zmqio_core::types::multipart::|bytes::)"
                        r"|^core::ptr::drop_in_place<.*(Multipart|bytes::Bytes)", f) is not None),
    ("wakers (wake, wake_by_ref, AtomicWaker)", lambda f: re.search(r"[Ww]ake", f) is not None),
    ("locks, out of line (pthread_mutex, futex, std's contended path)",
     lambda f: re.search(r"^(__)?pthread_mutex|futex|lock_contended|^__lll_", f) is not None),
    ("Shared::lock (the transport's state lock)", lambda f: f.endswith("Shared::lock")),
]


def profile(n, top, p1, p2):
    """The costliest functions per message on the application side, exclusive and
    inclusive, differenced between the two runs; the costs by category (exclusive) and by
    group (inclusive); allocations by call site. The inclusive list leaves out the frames
    that contain nearly everything (main, the runtime's block_on, thread entry points)."""
    alloc = GROUPS[0][1]

    def costs(prefix):
        excl, incl, groups, sites = (defaultdict(int) for _ in range(4))
        total = 0
        for t in threads(prefix):
            if t.libzmq:
                continue
            total += t.total
            for k, c in t.excl.items():
                excl[label(*k)] += c
            for k, c in t.incl.items():
                incl[label(*k)] += c
            for (caller, callee), c in t.calls.items():
                a, b = label(*caller), label(*callee)
                for title, member in GROUPS:
                    if member(b) and not member(a):
                        groups[title] += c
                if alloc(b) and not alloc(a):
                    sites[a] += c
        return excl, incl, groups, sites, total

    r1, r2 = costs(p1), costs(p2)
    app = (r2[4] - r1[4]) / n

    def diff(i):
        a, b = r1[i], r2[i]
        return {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}

    def show(title, d, limit):
        print(f"## application side ({app:,.0f} per message), {title}")
        for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:limit]:
            print(f"{v:9.1f}  {k}")
        print()

    excl = diff(0)
    cats = defaultdict(float)
    for k, v in excl.items():
        cats[category(k)] += v
    show("by category (exclusive costs; they add up to the whole)", cats, len(cats))
    show("groups (inclusive, entered from outside the group)", diff(2), len(GROUPS))
    show("allocation by call site (inclusive)", diff(3), 12)
    if top > 0:
        show("exclusive, instructions per message", excl, top)
        incl = {k: v for k, v in diff(1).items() if v < 0.9 * app}
        show("inclusive, instructions per message", incl, top)


def main(argv):
    if len(argv) >= 4 and argv[1] == "table":
        table(int(argv[2]), argv[3], argv[4:])
    elif len(argv) == 6 and argv[1] == "profile":
        profile(int(argv[2]), int(argv[3]), argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
