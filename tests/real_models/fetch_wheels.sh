#!/usr/bin/env bash
# Downloads the small, real, pure-Python wheels that the image/package tests install into test
# images and mirror as a local PEP 503 index. Usage:
#   MODELGATE_WHEELS=/path/to/dir tests/real_models/fetch_wheels.sh
# then run `MODELGATE_WHEELS=/path/to/dir cargo test --test image`.
set -euo pipefail
: "${MODELGATE_WHEELS:?set MODELGATE_WHEELS to the directory to fill}"
PIP="${PIP:-/work/venv/bin/pip}"
mkdir -p "$MODELGATE_WHEELS"
for spec in six==1.16.0 idna==3.7 packaging==24.1 attrs==24.2.0; do
  "$PIP" download --no-deps --only-binary=:all: "$spec" -d "$MODELGATE_WHEELS"
done
ls -l "$MODELGATE_WHEELS"
