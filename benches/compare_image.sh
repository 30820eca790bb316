#!/usr/bin/env bash
# Image scanning throughput: builds an OCI layout of ~500 MB (uncompressed) of mostly non-model
# files in gzip layers, then times `gzip -dc` over its layer blobs against `modelgate scan` of the
# layout (same machine, one run each) and reports modelgate's peak RSS (/usr/bin/time -v).
# Target: modelgate <= 1.5x gzip; peak RSS bounded by the largest model member, not layer size.
#
# Usage: benches/compare_image.sh [OUT_DIR]   (needs python3, gzip, GNU time; builds --release)
set -euo pipefail
OUT="${1:-benches/out/image}"
SIZE_MB="${SIZE_MB:-500}"
mkdir -p "$OUT"
LAYOUT="$OUT/layout"
if [ ! -f "$LAYOUT/index.json" ]; then
  python3 - "$LAYOUT" "$SIZE_MB" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
out, size_mb = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return f"sha256:{h}", len(b)
rnd = random.Random(42)
words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10))) for _ in range(5000)]
def text(n):
    parts, total = [], 0
    while total < n:
        w = rnd.choice(words) + (b"\n" if rnd.random() < 0.1 else b" ")
        parts.append(w); total += len(w)
    return b"".join(parts)[:n]
layers, diff_ids = [], []
per_layer = size_mb * 1024 * 1024 // 4
for li in range(4):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        written, i = 0, 0
        while written < per_layer:
            n = rnd.randint(16 * 1024, 2 * 1024 * 1024)
            data = os.urandom(n // 4) + text(n - n // 4)   # partly incompressible
            ti = tarfile.TarInfo(f"usr/share/data{li}/f{i:05d}.txt"); ti.size = len(data); ti.mtime = 0
            t.addfile(ti, io.BytesIO(data)); written += n; i += 1
        if li == 3:
            pk = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
            ti = tarfile.TarInfo("opt/model/weights.pkl"); ti.size = len(pk); ti.mtime = 0
            t.addfile(ti, io.BytesIO(pk))
    raw = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    d, n = blob(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cfg = json.dumps({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
cd, cn = blob(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                  "layers": layers}).encode()
md, mn = blob(man)
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(f"{out}/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn}]}))
print("layers:", [l["digest"] for l in layers])
PY
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/modelgate"
LAYERS=$(python3 -c "import json,sys;m=json.load(open('$LAYOUT/index.json'))['manifests'][0]['digest'].split(':')[1];print(' '.join('$LAYOUT/blobs/sha256/'+l['digest'].split(':')[1] for l in json.load(open('$LAYOUT/blobs/sha256/'+m))['layers']))")
cat $LAYERS > /dev/null   # warm the page cache for both runs
t0=$(date +%s.%N); for l in $LAYERS; do gzip -dc "$l" > /dev/null; done; t1=$(date +%s.%N)
/usr/bin/time -v "$BIN" scan -q -f json -o "$OUT/report.json" "$LAYOUT" 2> "$OUT/time.txt" || true
t2=$(date +%s.%N)
GZ=$(echo "$t1 - $t0" | bc -l); MG=$(echo "$t2 - $t1" | bc -l)
RSS=$(awk -F: '/Maximum resident/{gsub(/ /,"",$2);print $2}' "$OUT/time.txt")
echo "layout on disk (gzip layers): $(du -sb "$LAYOUT" | cut -f1) bytes; uncompressed ~${SIZE_MB} MB"
printf 'gzip -dc:        %.2f s\nmodelgate scan:  %.2f s  (ratio %.2f)\npeak RSS:        %s KiB\n' "$GZ" "$MG" "$(echo "$MG / $GZ" | bc -l)" "$RSS"
