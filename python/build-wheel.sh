#!/usr/bin/env bash
# Builds the modelgate wheel: the CLI binary (shipped as the wheel's `modelgate` script) and the
# extension module, in one cargo profile. Usage: python/build-wheel.sh [PROFILE] [OUT_DIR]
# (default: dist target/wheels). Needs maturin (pip install maturin).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-dist}"
out="${2:-target/wheels}"
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --profile "$profile" --bin modelgate
dir="$profile"
[ "$profile" = dev ] && dir=debug
mkdir -p python/wheel-data/scripts
cp "$target_dir/$dir/modelgate" python/wheel-data/scripts/modelgate
maturin build --profile "$profile" --out "$out"
