#!/usr/bin/env bash
# The whole test suite: unit, property, scenario (every runtime), corpus replay, interop with
# pyzmq, the stress tests in release mode, and a short run of every fuzz target.
# Installs what a fresh machine lacks (pyzmq; cargo-fuzz for the nightly fuzz runs).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import zmq' 2>/dev/null; then
    echo "== installing pyzmq (interop peer)"
    python3 -m pip install --quiet pyzmq
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo test (unit, property, doc, scenarios on every runtime, interop)"
cargo test --workspace 2>&1 | tee -a "$log"

echo "== stress tests (release)"
cargo test --release -p zmqio-tests -- --ignored stress 2>&1 | tee -a "$log"

if [ -f fuzz/ci.sh ]; then
    echo "== fuzz targets (short runs)"
    bash fuzz/ci.sh
fi

# One closing line for the whole run, summed over every cargo test binary above (the tests
# the first run ignores are the stress tests, which the second run executes).
awk '/^test result:/ { p += $4; f += $6 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
