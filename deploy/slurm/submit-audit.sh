#!/bin/bash
# Submits a sharded registry audit to Slurm: audit.sbatch as an array of SHARDS tasks, and
# audit-merge.sbatch depending on all of them (afterok: it runs only if every shard succeeded,
# and is cancelled if one fails). Prints the two job ids.
#
#   deploy/slurm/submit-audit.sh SHARDS OUT_DIR SOURCE... [-- EXTRA_SBATCH_ARGS...]
#   deploy/slurm/submit-audit.sh 16 /shared/audit/$(date +%F) /shared/hf-cache /shared/mlruns
#
# AUDIT_CACHE and MODELGATE are passed through to the jobs (see audit.sbatch).
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,9p' "$0" >&2
  exit 4
fi
shards=$1 out=$2
shift 2
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then
  echo "submit-audit.sh: SHARDS must be a positive number, not '$shards'" >&2
  exit 4
fi
sources=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  sources+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export AUDIT_SOURCES="${sources[*]}" AUDIT_OUT=$out
array=$(sbatch --parsable --array="0-$((shards - 1))" --chdir="$out" "$@" "$here/audit.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --chdir="$out" "$@" "$here/audit-merge.sbatch")
echo "audit array job ${array}, merge job ${merge%%;*}"
