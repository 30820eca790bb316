#!/usr/bin/env bash
# Side-by-side timing of modelgate, picklescan 1.0.5 and modelscan 0.8.8 on the same generated
# corpus (benches/generate_bench_data.py), in one run on this machine. Prints wall times (best of
# $RUNS, default 5), throughput, peak RSS and the ratios the project targets:
#   dense 4 MB pickle: >= 100 MB/s per core and >= 50x picklescan
#   2,000 small files: >= 10x picklescan, >= 20x modelscan
#   2 GB checkpoint: <= 2x the time of the 2 MB one, peak RSS <= 64 MB
# Needs the peers in a venv: MODELGATE_VENV (default target/test-resources/venv) with
# `pip install picklescan==1.0.5 modelscan==0.8.8`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MODELGATE_VENV:-$PWD/target/test-resources/venv}
DATA=${BENCH_DATA:-$PWD/target/bench-data}
# MG=path/to/modelgate measures another build (a before/after comparison) without building.
[ -n "${MG:-}" ] || { cargo build --release -q; MG=$PWD/target/release/modelgate; }
[ -x "$VENV/bin/picklescan" ] || "$VENV/bin/pip" install -q picklescan==1.0.5 modelscan==0.8.8
[ -f "$DATA/ckpt_2gb.pt" ] || "$VENV/bin/python" benches/generate_bench_data.py "$DATA"

# best-of-RUNS (default 5) wall seconds and the peak RSS (KiB) of that run: prints "SECONDS KIB".
# Best-of rather than mean: on a shared 2-core VM a run that loses its core to a neighbour says
# nothing about the tool.
RUNS=${RUNS:-5}
measure() {
  local best="" rss="" tf
  tf=$(mktemp)
  for _ in $(seq "$RUNS"); do
    local t0 t1 t m
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$tf" -f "%M" "$@" >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    t=$(awk "BEGIN{printf \"%.4f\", $t1 - $t0}")
    m=$(tail -n 1 "$tf")
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  rm -f "$tf"
  echo "$best $rss"
}
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.1f\", $1/$2; else print \"inf\" }"; }

printf "%-28s %10s %10s %10s\n" workload modelgate picklescan modelscan
read -r mg_dense mg_dense_rss < <(measure "$MG" scan -q -j 1 "$DATA/dense.pkl")
read -r ps_dense _ < <(measure "$VENV/bin/picklescan" -p "$DATA/dense.pkl")
read -r ms_dense _ < <(measure "$VENV/bin/modelscan" -p "$DATA/dense.pkl")
printf "%-28s %10s %10s %10s\n" "dense 4 MB pickle (s)" "$mg_dense" "$ps_dense" "$ms_dense"
size=$(stat -c %s "$DATA/dense.pkl")
echo "  modelgate single core: $(awk "BEGIN{printf \"%.0f\", $size/1048576/$mg_dense}") MB/s, peak RSS $((mg_dense_rss/1024)) MB; vs picklescan $(ratio "$ps_dense" "$mg_dense")x, vs modelscan $(ratio "$ms_dense" "$mg_dense")x"

read -r mg_small _ < <(measure "$MG" scan -q "$DATA/small")
read -r ps_small _ < <(measure "$VENV/bin/picklescan" -p "$DATA/small")
read -r ms_small _ < <(measure "$VENV/bin/modelscan" -p "$DATA/small")
printf "%-28s %10s %10s %10s\n" "2,000 small files (s)" "$mg_small" "$ps_small" "$ms_small"
echo "  vs picklescan $(ratio "$ps_small" "$mg_small")x, vs modelscan $(ratio "$ms_small" "$mg_small")x"

read -r mg_2m _ < <(measure "$MG" scan -q "$DATA/ckpt_2mb.pt")
read -r mg_2g mg_2g_rss < <(measure "$MG" scan -q "$DATA/ckpt_2gb.pt")
read -r ps_2g _ < <(measure "$VENV/bin/picklescan" -p "$DATA/ckpt_2gb.pt")
read -r ms_2g _ < <(measure "$VENV/bin/modelscan" -p "$DATA/ckpt_2gb.pt")
printf "%-28s %10s %10s %10s\n" "2 MB checkpoint (s)" "$mg_2m" "-" "-"
printf "%-28s %10s %10s %10s\n" "2 GB checkpoint (s)" "$mg_2g" "$ps_2g" "$ms_2g"
echo "  2 GB / 2 MB time: $(ratio "$mg_2g" "$mg_2m")x; peak RSS on 2 GB: $((mg_2g_rss/1024)) MB"
