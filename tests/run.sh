#!/usr/bin/env bash
# The whole test suite: prepares test resources (tests/setup.sh), points the tests at them, and
# runs every test target. This is the command the README and .ci/run use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
RES=${MODELGATE_RESOURCES:-$PWD/target/test-resources}
export MODELGATE_RESOURCES=$RES
export MODELGATE_VENV=$RES/venv
export MODELGATE_REAL_MODELS=$RES/real-models
export MODELGATE_SCHEMAS=$RES/schemas
export MODELGATE_WHEELS=$RES/wheels
export MODELGATE_MODEL_SIGNING=$RES/venv/bin/model_signing
export PATH="$RES/venv/bin:$PATH"
cargo test --all-targets --no-fail-fast "$@"
# The crate-level example in src/lib.rs (`--all-targets` leaves doctests out).
cargo test --doc
