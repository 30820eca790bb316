"""Shared fixtures of the Python package tests (run by tests/python_package.rs).

The package under test is the built wheel installed into a fresh venv; the Rust test puts that
venv's site-packages first on PYTHONPATH and its bin/ first on PATH, so `import modelgate` and the
`modelgate` command are the installed ones, while pytest and the real modelscan 0.8.8 come from
the test venv.
"""

import os
import pathlib
import shutil

import pytest

TESTDATA = pathlib.Path(os.environ["MODELGATE_TESTDATA"])


@pytest.fixture
def testdata() -> pathlib.Path:
    return TESTDATA


@pytest.fixture
def malicious_pickle() -> pathlib.Path:
    return TESTDATA / "pickle/malicious/base64_blob.pkl"


@pytest.fixture
def benign_dir(tmp_path) -> pathlib.Path:
    """A model directory of benign pickles (a copy, so signing can write into it)."""
    d = tmp_path / "benign-model"
    shutil.copytree(TESTDATA / "pickle/benign", d)
    return d


@pytest.fixture
def cli() -> str:
    """The `modelgate` command the wheel installed."""
    path = shutil.which("modelgate")
    assert path is not None, "the wheel installs the modelgate command"
    assert path.startswith(os.environ["MODELGATE_FRESH_VENV"]), path
    return path
