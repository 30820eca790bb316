#!/usr/bin/env bash
# Side-by-side timing of model signing on ~3 GB of files (several large + many small):
#   1. openssl dgst -sha256, sequentially over every file (the single-core SHA-NI baseline)
#   2. modelgate sign (scan + hash + sign, P-256) and modelgate verify
#   3. model_signing sign key / verify key (P-256), the reference implementation
# Targets (issue 5): modelgate sign and verify <= 0.6x the openssl time, and faster than
# model_signing.
#
# Usage: benches/compare_sign.sh [SIZE_MB]        (default 3072)
# Env:   MODELGATE=path/to/modelgate               (default: target/release/modelgate, built if missing)
#        MODELGATE_MODEL_SIGNING=path/to/model_signing (default: `model_signing` on PATH; skipped if absent)
#        REPEAT=N   rounds (each runs every tool once, interleaved); best wall time reported (default 3)
#        KEEP=1     keep the temporary directory
set -euo pipefail

SIZE_MB=${1:-3072}
REPEAT=${REPEAT:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
MODELGATE=${MODELGATE:-${CARGO_TARGET_DIR:-$here/target}/release/modelgate}
if [[ ! -x $MODELGATE ]]; then
    (cd "$here" && cargo build --release --quiet)
fi
MS=${MODELGATE_MODEL_SIGNING:-$(command -v model_signing || true)}

work=$(mktemp -d "${TMPDIR:-/tmp}/compare_sign.XXXXXX")
cleanup() { if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$work"; else echo "kept $work"; fi; }
trap cleanup EXIT
model=$work/model
mkdir -p "$model/shards" "$model/small"

# Pseudo-random bytes at AES-NI speed (incompressible, unlike zeros).
rand() { head -c "$1" /dev/zero | openssl enc -aes-128-ctr -pass pass:modelgate -nosalt -pbkdf2 2>/dev/null; }

large_total=$(( SIZE_MB * 85 / 100 ))          # 85% in 4 large files
small_total=$(( SIZE_MB - large_total ))       # 15% in small files of 256 KiB
per_large=$(( large_total / 4 ))
echo "creating ${SIZE_MB} MB in $model: 4 x ${per_large} MB + $(( small_total * 4 )) x 256 KiB"
# Raw tensor dumps: a zero header then random bytes (random leading bytes would now and then
# sniff as zlib or lzma and make the scan report an unreadable stream, refusing the signature).
for i in 1 2 3 4; do
    { head -c 4096 /dev/zero; rand $(( per_large * 1024 * 1024 - 4096 )); } \
        > "$model/shards/model-0000$i-of-00004.bin"
done
# Small files: a text header line, then bytes (tokenizer/vocabulary shards). Text that happens to
# start like a zlib header ("80", "Hj", "Xf", ...) would be sniffed as zlib, so every file gets
# the same harmless first line.
python3 - "$model/small" $(( small_total * 4 )) <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"part-{i:05d}.dat"), "wb") as f:
        f.write(b"# part %05d\n" % i + os.urandom(262144 - 13))
PY
# A tiny PyTorch-style archive, so the scan has something it reads (a tree of opaque blobs alone
# is "nothing scanned" and refused).
python3 - "$model/model.pt" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    z.writestr("archive/data/0", bytes(64))
    z.writestr("archive/version", b"3\n")
EOF
echo '{"hidden_size": 4096}' > "$model/config.json"

files=$(find "$model" -type f | wc -l)
bytes=$(du -sb "$model" | cut -f1)
echo "$files files, $bytes bytes; warming the page cache"
find "$model" -type f -print0 | xargs -0 cat > /dev/null

"$MODELGATE" keygen --type p256 -o "$work/key" --force > /dev/null 2>&1

# One timed run: appends "wall cpu" to $work/times.<label>.
run_once() {
    local label=$1; shift
    /usr/bin/time -o "$work/time" -f "%e %U %S" "$@" > /dev/null 2> "$work/err" || {
        echo "$label failed:"; cat "$work/err"; exit 1; }
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$work/time" >> "$work/times.$label"
}

labels=(openssl_sequential modelgate_sign modelgate_verify)
# Sets CMD to the command line of tool $1.
cmd() {
    case $1 in
        openssl_sequential) CMD=(bash -c "find '$model' -type f -print0 | sort -z | xargs -0 openssl dgst -sha256") ;;
        modelgate_sign) CMD=("$MODELGATE" sign "$model" --key "$work/key" --signature "$work/mg.sig" -q) ;;
        modelgate_verify) CMD=("$MODELGATE" verify "$model" --key "$work/key.pub" --signature "$work/mg.sig" -q) ;;
        model_signing_sign) CMD=("$MS" sign key "$model" --private_key "$work/key" --signature "$work/ms.sig") ;;
        model_signing_verify) CMD=("$MS" verify key "$model" --public_key "$work/key.pub" --signature "$work/ms.sig") ;;
    esac
}
if [[ -n $MS && -x $MS ]]; then
    labels+=(model_signing_sign model_signing_verify)
fi

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; $REPEAT round(s), tools interleaved, best wall time kept"
# Rounds interleave the tools, so a burst of load from other processes hits them alike.
for _ in $(seq "$REPEAT"); do
    for l in "${labels[@]}"; do
        cmd "$l"
        run_once "$l" "${CMD[@]}"
    done
done
for l in "${labels[@]}"; do
    read -r wall cpu < <(sort -n "$work/times.$l" | head -1)
    printf '%-24s %8.2f s wall %8.2f s cpu (user+sys)\n' "$l" "$wall" "$cpu"
    eval "T_$l=$wall"
done
if [[ -n $MS && -x $MS ]]; then
    # Cross-check: each tool accepts the other's signature.
    "$MS" verify key "$model" --public_key "$work/key.pub" --signature "$work/mg.sig" > /dev/null
    "$MODELGATE" verify "$model" --key "$work/key.pub" --signature "$work/ms.sig" -q > /dev/null
    echo "cross-verification: ok (model_signing accepts modelgate's bundle and vice versa)"
else
    echo "model_signing not found (set MODELGATE_MODEL_SIGNING); skipped"
fi

echo
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
echo "modelgate sign   / openssl: $(ratio "$T_modelgate_sign" "$T_openssl_sequential")x  (target <= 0.60)"
echo "modelgate verify / openssl: $(ratio "$T_modelgate_verify" "$T_openssl_sequential")x  (target <= 0.60)"
if [[ -n ${T_model_signing_sign:-} ]]; then
    echo "modelgate sign   / model_signing sign:   $(ratio "$T_modelgate_sign" "$T_model_signing_sign")x"
    echo "modelgate verify / model_signing verify: $(ratio "$T_modelgate_verify" "$T_model_signing_verify")x"
fi
