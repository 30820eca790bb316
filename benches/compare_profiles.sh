#!/usr/bin/env bash
# Build time of the `release` and `dist` profiles from scratch (each in its own empty target
# directory, all cores, dependencies included), then the crate's own rebuild after
# `touch src/lib.rs`, then their scan speed with benches/compare_builds.sh. Prints seconds.
#   bash benches/compare_profiles.sh            # both profiles, then RUNS=31 scan comparison
#   SKIP_SCRATCH=1 bash benches/compare_profiles.sh   # reuse the target dirs: rebuild only
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PROFILE_DIRS:-$PWD/target/profile-compare}
mkdir -p "$OUT"

seconds() { # seconds COMMAND... -> wall seconds of COMMAND
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  awk "BEGIN{printf \"%.0f\", $EPOCHREALTIME - $t0}"
}

for p in release dist; do
  dir=$OUT/$p
  if [ -z "${SKIP_SCRATCH:-}" ]; then
    rm -rf "$dir"
    # Fetching is not building: download everything first.
    cargo fetch >/dev/null 2>&1
    s=$(seconds env CARGO_TARGET_DIR="$dir" cargo build --profile "$p" --bin modelgate)
    echo "$p: from scratch ${s} s"
  fi
  touch src/lib.rs
  s=$(seconds env CARGO_TARGET_DIR="$dir" cargo build --profile "$p" --bin modelgate)
  echo "$p: crate rebuild after touch src/lib.rs ${s} s"
done
BEFORE=$OUT/dist/dist/modelgate AFTER=$OUT/release/release/modelgate RUNS=${RUNS:-31} \
  bash benches/compare_builds.sh
