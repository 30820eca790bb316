#!/usr/bin/env bash
# Before/after timing of two modelgate builds on the compare_peers.sh corpus, interleaved run by
# run so that a noisy neighbour affects both alike. Prints the best of $RUNS (default 7) wall
# seconds and that run's peak RSS for each workload.
#   BEFORE=/path/to/old/modelgate AFTER=target/release/modelgate bash benches/compare_builds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BEFORE:?path of the old build}" "${AFTER:?path of the new build}"
VENV=${MODELGATE_VENV:-$PWD/target/test-resources/venv}
DATA=${BENCH_DATA:-$PWD/target/bench-data}
RUNS=${RUNS:-7}
[ -f "$DATA/ckpt_2gb.pt" ] || "$VENV/bin/python" benches/generate_bench_data.py "$DATA"

one() { # one BIN ARGS... -> "SECONDS KIB"
  local tf t0 t1
  tf=$(mktemp)
  t0=$EPOCHREALTIME
  /usr/bin/time -o "$tf" -f "%M" "$@" >/dev/null 2>&1 || true
  t1=$EPOCHREALTIME
  echo "$(awk "BEGIN{printf \"%.4f\", $t1 - $t0}") $(tail -n 1 "$tf")"
  rm -f "$tf"
}

printf "%-24s %18s %18s %8s\n" workload "before s (MB)" "after s (MB)" change
for w in "dense:-q -j 1 $DATA/dense.pkl" "small:-q $DATA/small" "ckpt_2mb:-q $DATA/ckpt_2mb.pt" "ckpt_2gb:-q $DATA/ckpt_2gb.pt"; do
  name=${w%%:*}; args=${w#*:}
  bb=""; br=""; ab=""; ar=""
  for _ in $(seq "$RUNS"); do
    # shellcheck disable=SC2086
    read -r t m < <(one "$BEFORE" scan $args)
    if [ -z "$bb" ] || awk "BEGIN{exit !($t < $bb)}"; then bb=$t; br=$m; fi
    # shellcheck disable=SC2086
    read -r t m < <(one "$AFTER" scan $args)
    if [ -z "$ab" ] || awk "BEGIN{exit !($t < $ab)}"; then ab=$t; ar=$m; fi
  done
  printf "%-24s %11s (%4d) %11s (%4d) %7s%%\n" "$name" "$bb" $((br/1024)) "$ab" $((ar/1024)) \
    "$(awk "BEGIN{printf \"%+.1f\", ($ab-$bb)/$bb*100}")"
done
