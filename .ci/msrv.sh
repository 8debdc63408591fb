#!/usr/bin/env bash
# Checks that the workspace's `rust-version` is true for the published crates (zmqio,
# zmqio-core and the three adapters); called by .ci/run. Needs the nightly toolchain (for
# `-Z direct-minimal-versions`) and the crates.io index.
#
# Only the installed toolchains can build here, so an old rustc is not run. Instead:
# 1. In a scratch copy holding only the published crates (their dev-dependencies removed:
#    they are not part of the promise), the direct dependencies are resolved to the lowest
#    versions the manifests allow, and everything else with Cargo's MSRV-aware resolver for
#    our rust-version. Every package of that resolution must declare a rust-version no newer
#    than ours, and the crates must build against it (cargo check, every feature).
# 2. clippy's incompatible_msrv lint (on the workspace, in .ci/run's clippy step, which reads
#    rust-version) flags standard-library items newer than it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo ".ci/msrv.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 cp --parents -P -t "$scratch"
[ -d .cargo ] && cp -r .cargo "$scratch/"
cd "$scratch"

python3 - <<'EOF'
import re
published = ["zmqio-core", "zmqio-tokio", "zmqio-smol", "zmqio-async-std", "zmqio"]
s = open("Cargo.toml").read()
s = re.sub(r"members = \[.*?\]",
           "members = [" + ", ".join(f'"crates/{c}"' for c in published) + "]", s, flags=re.S)
s = re.sub(r"exclude = \[.*?\]", 'exclude = ["fuzz", "tests", "examples", "crates/zmqio-bench"]', s)
open("Cargo.toml", "w").write(s)
for c in published:
    p = f"crates/{c}/Cargo.toml"
    m = open(p).read()
    m = re.sub(r"\n\[dev-dependencies\].*?(?=\n\[|\Z)", "\n", m, flags=re.S)
    open(p, "w").write(m)
EOF

echo "-- resolving direct dependencies to their minimal versions (rust-version $msrv)"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
    cargo +nightly update -Z direct-minimal-versions --quiet

cargo metadata --format-version 1 --filter-platform x86_64-unknown-linux-gnu |
    python3 -c '
import json, sys
def version(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
msrv = version(sys.argv[1])
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
todo = [p["id"] for p in m["packages"] if p["source"] is None]
seen, bad = set(), []
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    p = pkgs[i]
    rv = p.get("rust_version")
    if rv and version(rv) > msrv:
        bad.append(p["name"] + " " + p["version"] + " needs rust " + rv)
    todo += [d["pkg"] for d in nodes[i]["deps"]
             if any(k["kind"] in (None, "build") for k in d["dep_kinds"])]
print(len(seen), "packages resolved for the published crates")
if bad:
    sys.exit("newer than rust-version " + sys.argv[1] + ":\n  " + "\n  ".join(bad))
' "$msrv"

echo "-- cargo check of the published crates against that resolution"
CARGO_TARGET_DIR="$root/target" cargo check --workspace --all-features --quiet
echo "rust-version $msrv: ok"
