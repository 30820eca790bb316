#!/usr/bin/env bash
# Streams a 1 GB float32 PyTorch checkpoint (written by hand, no torch needed) through
# `modelgate convert --to safetensors` and compares wall time with `cp` of the same file and the
# peak RSS with the largest tensor (/usr/bin/time -v). Usage:
#   bash benches/compare_convert.sh [SIZE_MB (default 1024)] [TENSORS (default 4)]
# Needs a release build (cargo build --release; CARGO_TARGET_DIR honoured) and python3 + numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-1024}
N=${2:-4}
BIN=${MODELGATE:-${CARGO_TARGET_DIR:-target}/release/modelgate}
PY=${PYTHON:-python3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$PY" - "$DIR/ckpt.pt" "$MB" "$N" <<'PY'
import io, pickle, struct, sys, zipfile
from collections import OrderedDict
path, mb, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
numel = mb * 1024 * 1024 // 4 // n

class G:
    def __init__(s, m, n): s.m, s.n = m, n
class R:
    def __init__(s, f, a): s.f, s.a = f, a
class P(pickle._Pickler):
    def persistent_id(s, o):
        return o[1] if isinstance(o, tuple) and o and o[0] == "PID" else None
    def save(s, o, save_persistent_id=True):
        if isinstance(o, G):
            s.write(pickle.GLOBAL + f"{o.m}\n{o.n}\n".encode()); return
        if isinstance(o, R):
            s.save(o.f); s.save(o.a); s.write(pickle.REDUCE); return
        super().save(o, save_persistent_id)
sd = OrderedDict()
for i in range(n):
    pid = ("PID", ("storage", G("torch", "FloatStorage"), str(i), "cpu", numel))
    sd[f"layer{i}.weight"] = R(G("torch._utils", "_rebuild_tensor_v2"),
                               (pid, 0, (numel // 1024, 1024), (1024, 1), False, OrderedDict()))
b = io.BytesIO(); P(b, 2).dump(sd)
chunk = bytes(range(256)) * 4096
with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
    z.writestr("ckpt/data.pkl", b.getvalue())
    z.writestr("ckpt/byteorder", "little")
    for i in range(n):
        with z.open(f"ckpt/data/{i}", "w", force_zip64=True) as w:
            left = numel * 4
            while left:
                k = min(left, len(chunk)); w.write(chunk[:k]); left -= k
PY
ls -l "$DIR/ckpt.pt"
cat "$DIR/ckpt.pt" > /dev/null   # warm the page cache for both runs
sync
t0=$(date +%s.%N); cp "$DIR/ckpt.pt" "$DIR/copy.pt"; sync; t1=$(date +%s.%N)
/usr/bin/time -v "$BIN" convert "$DIR/ckpt.pt" --to safetensors -o "$DIR/out.safetensors" --fail-on critical \
  > "$DIR/convert.out" 2> "$DIR/time.txt"; sync; t2=$(date +%s.%N)
cp_s=$(echo "$t1 - $t0" | bc -l); cv_s=$(echo "$t2 - $t1" | bc -l)
rss_kb=$(grep 'Maximum resident set size' "$DIR/time.txt" | awk '{print $NF}')
largest_kb=$(( MB * 1024 / N ))
echo "cp:       ${cp_s} s"
echo "convert:  ${cv_s} s  (ratio $(echo "$cv_s / $cp_s" | bc -l | cut -c1-5))"
echo "peak RSS: ${rss_kb} kB; largest tensor ${largest_kb} kB (ratio $(echo "$rss_kb / $largest_kb" | bc -l | cut -c1-5))"
tail -3 "$DIR/convert.out"
