#!/usr/bin/env bash
# The batch audit against its targets (issue 15), in one run on this machine:
#   cold audit of 2,000 small mixed model files: >= 10x faster than picklescan's directory scan
#   warm re-audit of the unchanged tree: >= 20x faster than the cold audit
#   a 100,000-file tree audited with peak RSS under 256 MB
# Wall times are the best of $RUNS (default 5): on a shared 2-core VM a run that loses its core to
# a neighbour says nothing about the tool. Each cold run gets a new, empty cache file; warm runs
# share one cache primed by a first run. Caches live in a fresh temporary directory.
# MG=path/to/modelgate measures that build; the default builds and uses the `profiling` profile
# (release optimisations, faster to build). Needs picklescan in MODELGATE_VENV (default
# target/test-resources/venv; tests/requirements.txt installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MODELGATE_VENV:-$PWD/target/test-resources/venv}
DATA=${BENCH_DATA:-$PWD/target/bench-data}
RUNS=${RUNS:-5}
[ -n "${MG:-}" ] || { cargo build --profile profiling -q --bin modelgate; MG=${CARGO_TARGET_DIR:-$PWD/target}/profiling/modelgate; }
[ -x "$VENV/bin/picklescan" ] || "$VENV/bin/pip" install -q picklescan==1.0.5
[ -d "$DATA/small" ] || "$VENV/bin/python" benches/generate_bench_data.py "$DATA" --no-large
if [ ! -d "$DATA/tree100k" ]; then
  # 100,000 distinct small pickles in 1,000 directories (plain data, written with pickle.dumps).
  "$VENV/bin/python" - "$DATA/tree100k" <<'PY'
import os, pickle, sys
root = sys.argv[1]
for i in range(100_000):
    d = os.path.join(root, f"d{i // 100:04d}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"m{i}.pkl"), "wb") as f:
        f.write(pickle.dumps({"id": i, "w": [0.5] * 8}, protocol=4))
PY
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Runs "$@" RUNS times; prints the best wall seconds, that run's peak RSS (KiB) and its CPU
# seconds (user + system, every thread: what the run costs when the machine is shared). A command
# containing {N} gets the run number there (a new cache per cold run).
measure() {
  local best="" rss="" cpu="" tf
  tf=$(mktemp)
  for n in $(seq "$RUNS"); do
    local t0 t1 t m c args=()
    for a in "$@"; do args+=("${a//\{N\}/$n}"); done
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$tf" -f "%M %U %S" "${args[@]}" >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    t=$(awk "BEGIN{printf \"%.4f\", $t1 - $t0}")
    read -r m u s < <(tail -n 1 "$tf")
    c=$(awk "BEGIN{printf \"%.2f\", $u + $s}")
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; cpu=$c; fi
  done
  rm -f "$tf"
  echo "$best $rss $cpu"
}
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.1f\", $1/$2; else print \"inf\" }"; }

echo "modelgate: $MG"
read -r cold cold_rss cold_cpu < <(measure "$MG" audit -q "$DATA/small" --cache "$WORK/cold{N}.db")
"$MG" audit -q "$DATA/small" --cache "$WORK/warm.db" >/dev/null || true
read -r warm warm_rss warm_cpu < <(measure "$MG" audit -q "$DATA/small" --cache "$WORK/warm.db")
read -r ps _ ps_cpu < <(measure "$VENV/bin/picklescan" -p "$DATA/small")
uptime
printf "%-36s %8s s wall %6s s CPU  (peak RSS %d MB)\n" "cold audit, 2,000 small files" "$cold" "$cold_cpu" $((cold_rss / 1024))
printf "%-36s %8s s wall %6s s CPU  (peak RSS %d MB)\n" "warm re-audit, same tree" "$warm" "$warm_cpu" $((warm_rss / 1024))
printf "%-36s %8s s wall %6s s CPU\n" "picklescan -p, same tree" "$ps" "$ps_cpu"
echo "  cold audit vs picklescan: $(ratio "$ps" "$cold")x wall, $(ratio "$ps_cpu" "$cold_cpu")x CPU (target >= 10x)"
echo "  warm vs cold: $(ratio "$cold" "$warm")x wall, $(ratio "$cold_cpu" "$warm_cpu")x CPU (target >= 20x)"

RUNS=1
read -r big_cold big_cold_rss _ < <(measure "$MG" audit -q "$DATA/tree100k" --cache "$WORK/big.db" -o "$WORK/big.json")
read -r big_warm big_warm_rss _ < <(measure "$MG" audit -q "$DATA/tree100k" --cache "$WORK/big.db" -o "$WORK/big.json")
printf "%-44s %8s s  (peak RSS %d MB, target < 256 MB)\n" "cold audit, 100,000 files" "$big_cold" $((big_cold_rss / 1024))
printf "%-44s %8s s  (peak RSS %d MB)\n" "warm re-audit, 100,000 files" "$big_warm" $((big_warm_rss / 1024))
