#!/usr/bin/env bash
# Full-size hostile inputs (issue "bounded under hostile input"): each case is scanned once by the
# release binary under /usr/bin/time; prints wall seconds, peak RSS, bytes written to temporary
# files (counted by strace in a second run), the exit code, the JSON report's size and the
# findings that ended the run (omitted ones included).
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

# Bytes the scanner wrote with write(2)/pwrite(2) (temporary files and the report), counted
# exactly by strace in a second, untimed run; the report's size is subtracted.
written() {
  local out=$1
  shift
  command -v strace >/dev/null || { echo "?"; return; }
  local tr
  tr=$(mktemp)
  strace -f -qq --seccomp-bpf -e trace=write,pwrite64,writev -e signal=none -o "$tr" \
    "$MG" scan --format json -o "$out" "$@" >/dev/null 2>&1 || true
  local total
  total=$(awk '/= [0-9]+$/ { s += $NF } END { printf "%d", s }' "$tr")
  rm -f "$tr"
  echo $(( (total - $(stat -c %s "$out" 2>/dev/null || echo 0)) / 1048576 ))
}

# run NAME ARGS...: one scan; prints a table row.
run() {
  local name=$1
  shift
  local tf out rc=0 t0 t1
  tf=$(mktemp)
  out=$(mktemp)
  t0=$EPOCHREALTIME
  /usr/bin/time -o "$tf" -f "%M" "$MG" scan --format json -o "$out" "$@" 2>/dev/null || rc=$?
  t1=$EPOCHREALTIME
  local rss codes report_kb wrote
  rss=$(tail -n 1 "$tf")
  codes=$("$PY" - "$out" <<'EOF2'
import json, sys, collections
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"(no report: {e})"); sys.exit()
c = collections.Counter(f["code"] for f in r["findings"])
for o in r.get("omitted", {}).get("findings", []):
    c[o["code"]] += o["count"]
print(", ".join(f"{k} x{v}" for k, v in c.most_common(4)) or "clean")
EOF2
)
  report_kb=$(( $(stat -c %s "$out" 2>/dev/null || echo 0) / 1024 ))
  wrote=$(written "$out" "$@")
  printf "%-18s %7.1f s %7d MB %8s MB %4d  %6d KB  %s\n" "$name" \
    "$(awk "BEGIN{print $t1 - $t0}")" $((rss / 1024)) "$wrote" "$rc" "$report_kb" "$codes"
  rm -f "$tf" "$out"
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
