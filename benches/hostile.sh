#!/usr/bin/env bash
# Full-size hostile inputs (issue "bounded under hostile input"): each case is scanned once by the
# release binary under /usr/bin/time; prints wall seconds, peak RSS, bytes the process wrote
# (wchar from /proc/PID/io, which counts temporary files; the report goes to /dev/null), the exit
# code and the findings that ended the run.
# Targets: a verdict in under 10 s, <= 256 MB RSS (512 MB for the million-member cases), <= 1 GB
# of temporary writes.
# Inputs are generated once into $HOSTILE_DATA (default target/hostile-data; about 2 GB of disk,
# most of it the 200,000 small files). `SCALE=N` divides every size (quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MODELGATE_VENV:-$PWD/target/test-resources/venv}
SCALE=${SCALE:-1}
DATA=${HOSTILE_DATA:-$PWD/target/hostile-data-x$SCALE}
PY=python3
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"
[ -n "${MG:-}" ] || { cargo build --release -q; MG=$PWD/target/release/modelgate; }
"$PY" benches/hostile_inputs.py "$DATA" --scale "$SCALE"

# run NAME ARGS...: one scan; prints a table row.
run() {
  local name=$1
  shift
  local tf io rc=0 t0 t1 pid wchar=0 line
  tf=$(mktemp)
  io=$(mktemp)
  t0=$EPOCHREALTIME
  /usr/bin/time -o "$tf" -f "%M" "$MG" scan --format json -o "$io.json" "$@" 2>/dev/null &
  pid=$!
  # /usr/bin/time's child is the scanner: follow its /proc/PID/io until it exits.
  local child=""
  while kill -0 "$pid" 2>/dev/null; do
    [ -n "$child" ] || child=$(pgrep -P "$pid" | head -n 1 || true)
    if [ -n "$child" ] && line=$(grep '^wchar' "/proc/$child/io" 2>/dev/null); then
      wchar=${line#wchar: }
    fi
    sleep 0.05
  done
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  local rss codes
  rss=$(tail -n 1 "$tf")
  codes=$("$PY" - "$io.json" <<'EOF'
import json, sys, collections
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"(no report: {e})"); sys.exit()
c = collections.Counter(f["code"] for f in r["findings"])
agg = sum(int(f.get("evidence", {}).get("count", 1)) - 1 for f in r["findings"])
print(", ".join(f"{k} x{v}" for k, v in c.most_common(4)) or "clean", f"(+{agg} aggregated)" if agg else "")
EOF
)
  local report_kb
  report_kb=$(( $(stat -c %s "$io.json" 2>/dev/null || echo 0) / 1024 ))
  printf "%-18s %7.1f s %7d MB %8d MB %4d  %6d KB  %s\n" "$name" \
    "$(awk "BEGIN{print $t1 - $t0}")" $((rss / 1024)) $((wchar / 1048576)) "$rc" "$report_kb" "$codes"
  rm -f "$tf" "$io" "$io.json"
}

printf "%-18s %9s %10s %11s %4s  %9s  %s\n" case wall "peak RSS" written exit report findings
run xz-20g "$DATA/xz_zeros.xz"
run zstd-20g "$DATA/zstd_zeros.zst"
run 42.zip "$DATA/nested_42.zip"
run member-5g "$DATA/member_5g.zip"
run tar-1m "$DATA/tar_1m.tar"
run files-200k "$DATA/files_200k"
run memoize-50m "$DATA/memoize_50m.pkl"
run tuples-5m "$DATA/tuples_5m.pkl"
