#!/usr/bin/env bash
# Runs every fuzz target for a short while (30 s each by default) and fails on any crash,
# timeout or out-of-memory; called by .ci/run. Needs the nightly toolchain; installs
# cargo-fuzz if missing.
#
#   fuzz/ci.sh            # 30 s per target
#   fuzz/ci.sh 600        # 10 minutes per target
#
# The committed corpus (fuzz/corpus/<target>/) is read but never written: what a run finds
# goes to a temporary directory. A crashing input is saved in fuzz/artifacts/<target>/.
set -euo pipefail

seconds="${1:-${FUZZ_SECONDS:-30}}"
cd "$(dirname "$0")"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/ci.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for target in $(cargo +nightly fuzz list); do
    mkdir -p "$work/$target"
    echo "== fuzz $target for ${seconds}s"
    # The first corpus directory receives new inputs; the committed one only seeds the run.
    if ! cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "fuzz/ci.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzz/ci.sh: every target ran ${seconds}s without a crash"
