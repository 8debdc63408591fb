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

echo "== cargo test (unit, property, doc, scenarios on every runtime, interop)"
cargo test --workspace

echo "== stress tests (release)"
cargo test --release -p zmqio-tests -- --ignored stress

if [ -f fuzz/ci.sh ]; then
    echo "== fuzz targets (short runs)"
    bash fuzz/ci.sh
fi
