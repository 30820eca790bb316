"""modelgate: a never-execute scanner, converter and signer for ML model files.

The functions here call the Rust library in-process (``modelgate._native``) and return the same
JSON documents the ``modelgate`` command prints, as dicts:

* :func:`scan` returns the report exactly as ``modelgate scan --format json`` prints it;
* :func:`verify` and :func:`convert` return what ``--json`` prints for those commands;
* :func:`sign` refuses (raises :class:`RefusedError`) unless the scan approves, like the CLI.

Long work runs with the GIL released, so other Python threads keep running. Errors are the
exception classes below, each carrying the library's message. Nothing here unpickles, imports or
executes model content.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Optional, Union

from . import _native
from ._native import (
    ConvertError,
    Error,
    RefusedError,
    ScanError,
    SigningError,
    UsageError,
    VerifyError,
    __version__,
)

__all__ = [
    "ConvertError",
    "Error",
    "RefusedError",
    "ScanError",
    "SigningError",
    "UsageError",
    "VerifyError",
    "__version__",
    "codes",
    "convert",
    "explain",
    "scan",
    "sign",
    "verify",
]

PathLike = Union[str, "os.PathLike[str]"]


def _path_list(paths: Union[PathLike, Iterable[PathLike]]) -> list:
    """One path or an iterable of paths, as a list of ``str``."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    if isinstance(paths, bytes):
        raise UsageError("paths must be str or os.PathLike, not bytes")
    return [os.fspath(p) for p in paths]


def _optional_path(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else os.fspath(path)


def scan(
    paths: Union[PathLike, Iterable[PathLike]],
    *,
    fail_on: str = "low",
    strict: bool = False,
    signatures: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    jobs: Optional[int] = None,
) -> Dict[str, Any]:
    """Scan files, directories, image layouts, image tarballs or ``oci://`` references.

    Returns the report as ``modelgate scan --format json`` prints it (``summary``, ``findings``,
    ``artifacts``, ...). ``fail_on`` is the policy threshold (``info`` .. ``critical``); the
    report's verdict fields are judged at it. ``strict`` treats imports that are neither allowed
    nor denied as high. ``signatures`` adds signature directories. ``jobs`` caps worker threads.

    Raises :class:`UsageError` for a target that does not exist or a bad argument, and
    :class:`ScanError` when the scan cannot be set up.
    """
    sigs = None if signatures is None else _path_list(signatures)
    return json.loads(_native.scan(_path_list(paths), fail_on, strict, sigs, jobs))


def explain(code: str) -> str:
    """The documentation of one finding code, as ``modelgate explain CODE`` prints it."""
    return _native.explain(code)


def codes() -> list:
    """Every finding code this build can report, as ``(code, severity, summary)`` tuples."""
    return _native.codes()


def verify(
    path: PathLike,
    key: PathLike,
    signature: Optional[PathLike] = None,
    *,
    require_scan: bool = False,
) -> Dict[str, Any]:
    """Verify a model directory or file against its OpenSSF model-signing signature.

    Returns what ``modelgate verify --json`` prints on success; raises :class:`VerifyError`
    (with the reason) when verification fails.
    """
    return json.loads(
        _native.verify(
            os.fspath(path), os.fspath(key), _optional_path(signature), require_scan
        )
    )


def sign(
    path: PathLike,
    key: PathLike,
    *,
    signature: Optional[PathLike] = None,
    fail_on: str = "low",
    ignore: Iterable[PathLike] = (),
    scan_attestation: bool = True,
    strict: bool = False,
    signatures: Optional[Union[PathLike, Iterable[PathLike]]] = None,
) -> Dict[str, Any]:
    """Scan a model directory or file and sign it if the scan approves it at ``fail_on``.

    Raises :class:`RefusedError` (its ``report`` attribute is the scan report) when the policy
    refuses; nothing is written then. Returns the signature path, the scan attestation path,
    file and byte counts, the key type and the subject digest.
    """
    sigs = None if signatures is None else _path_list(signatures)
    return json.loads(
        _native.sign(
            os.fspath(path),
            os.fspath(key),
            _optional_path(signature),
            fail_on,
            [os.fspath(p) for p in ignore],
            scan_attestation,
            strict,
            sigs,
        )
    )


def convert(
    path: PathLike,
    to: str,
    output: Optional[PathLike] = None,
    *,
    fail_on: str = "medium",
    zipmap: bool = False,
    sign_key: Optional[PathLike] = None,
    signatures: Optional[Union[PathLike, Iterable[PathLike]]] = None,
) -> Dict[str, Any]:
    """Convert an approved model file to ``"safetensors"`` or ``"onnx"`` without executing it.

    The input is scanned first (refused at ``fail_on``: :class:`RefusedError`), converted, and
    the output scanned again. Returns what ``modelgate convert --json`` prints.
    """
    sigs = None if signatures is None else _path_list(signatures)
    return json.loads(
        _native.convert(
            os.fspath(path),
            to,
            _optional_path(output),
            fail_on,
            zipmap,
            _optional_path(sign_key),
            sigs,
        )
    )
