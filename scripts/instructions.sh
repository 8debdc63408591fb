#!/usr/bin/env bash
# Instructions per message under callgrind, for raw libzmq and zmqio's variants, with the
# ratio to raw. Instruction counts repeat where wall time on a shared machine does not.
#
#   scripts/instructions.sh                       # T64 and T2F; raw, protocol and stream API on tokio current-thread
#   scripts/instructions.sh -w T64 -v raw-1io,proto-tokio-ct,proto-smol -n 20000
#   scripts/instructions.sh -r 3 -p 25            # medians of 3; the 25 costliest functions per message
#   scripts/instructions.sh -v floor-1io,proto-tokio-ct   # with the floor: raw plus only what the API implies
#   BENCH=/path/to/zmqio-bench scripts/instructions.sh   # measure another build (e.g. vendored libzmq)
#
# Each cell is two runs of `zmqio-bench --instr WORKLOAD VARIANT COUNT`, with N and 2N
# messages; the difference divided by N is the cost of one message, without the setup
# (runtime, context, bind, connect, close). "application side" is every thread but libzmq's
# own (I/O thread and reaper); "malloc+free" is the inclusive cost of malloc, free, realloc
# and calloc. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<EOF

options:
  -n N        messages of the smaller run (the larger has 2N; default 50000)
  -w LIST     workloads: T64,T1024,T2F,L,P (default T64,T2F)
  -v LIST     variant ids of zmqio-bench (default raw-1io,proto-tokio-ct,stream-tokio-ct);
              the ratios are to raw-1io, which is always run
  -i N        libzmq I/O threads of every context (default 1)
  -r N        repetitions of each cell; the table shows medians and the spread (default 1)
  -p TOP      also print, per variant, the application side by category, by group
              (allocation, ZMQ_EVENTS reads, wakers, ...), allocations by call site and the
              TOP costliest functions per message
  -o DIR      keep the callgrind files in DIR (default: a temporary directory, removed)
EOF
}

count=50000
workloads=T64,T2F
variants=raw-1io,proto-tokio-ct,stream-tokio-ct
io=1
reps=1
top=0
out=
while getopts "n:w:v:i:r:p:o:h" opt; do
    case $opt in
        n) count=$OPTARG ;;
        w) workloads=$OPTARG ;;
        v) variants=$OPTARG ;;
        i) io=$OPTARG ;;
        r) reps=$OPTARG ;;
        p) top=$OPTARG ;;
        o) out=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
case ",$variants," in
    *,raw-1io,*) ;;
    *) variants=raw-1io,$variants ;;
esac

if ! command -v valgrind >/dev/null; then
    echo "== installing valgrind" >&2
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq valgrind >&2
fi

if [ -z "${BENCH:-}" ]; then
    echo "== cargo build --release -p zmqio-bench" >&2
    cargo build --release -q -p zmqio-bench
    BENCH=target/release/zmqio-bench
fi

if [ -n "$out" ]; then
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

py=scripts/callgrind_per_msg.py
runs=()
started=$SECONDS
for w in ${workloads//,/ }; do
    for v in ${variants//,/ }; do
        pairs=
        for r in $(seq "$reps"); do
            prefixes=()
            for n in "$count" $((2 * count)); do
                prefix=$out/$w.$v.$n.$r
                rm -f "$prefix" "$prefix"-*
                echo "== $w $v $n (repetition $r)" >&2
                valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$prefix" \
                    --log-file="$prefix.log" "$BENCH" --instr "$w" "$v" "$n" --io-threads "$io" \
                    2>"$prefix.err" || { cat "$prefix.log" "$prefix.err" >&2; exit 1; }
                prefixes+=("$prefix")
            done
            pairs=${pairs:+$pairs,}${prefixes[0]}+${prefixes[1]}
            if [ "$top" -gt 0 ] && [ "$r" = 1 ]; then
                echo "# $w, $v" >>"$out/profiles.txt"
                python3 "$py" profile "$count" "$top" "${prefixes[@]}" >>"$out/profiles.txt"
            fi
        done
        runs+=("$w:$v:$pairs")
    done
done

if ldd "$BENCH" 2>/dev/null | grep -q libzmq; then
    linked="shared: $(ldd "$BENCH" | awk '/libzmq/ { print $3 }')"
else
    linked="static, the vendored build of zmq-sys"
fi
echo "# Instructions per message (callgrind; (cost of 2N - cost of N) / N, N = $count; $reps repetition(s))"
echo
echo "$(grep -o 'libzmq [0-9.]*' "$prefix.err" | head -1) ($linked), $io I/O thread(s); \
$(nproc) cores; load average at the end $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - started)) s"
echo
python3 "$py" table "$count" raw-1io "${runs[@]}"
if [ "$top" -gt 0 ]; then
    echo
    cat "$out/profiles.txt"
fi
