"""Type stubs of the Rust extension module (src/python.rs)."""

from typing import List, Optional, Tuple

__version__: str

class Error(Exception): ...
class UsageError(Error): ...
class ScanError(Error): ...
class RefusedError(Error):
    report: dict
class SigningError(Error): ...
class VerifyError(Error): ...
class ConvertError(Error): ...

def scan(
    paths: List[str],
    fail_on: str = "low",
    strict: bool = False,
    signatures: Optional[List[str]] = None,
    jobs: Optional[int] = None,
) -> str: ...
def explain(code: str) -> str: ...
def codes() -> List[Tuple[str, str, str]]: ...
def verify(
    path: str, key: str, signature: Optional[str] = None, require_scan: bool = False
) -> str: ...
def sign(
    path: str,
    key: str,
    signature: Optional[str] = None,
    fail_on: str = "low",
    ignore: List[str] = ...,
    scan_attestation: bool = True,
    strict: bool = False,
    signatures: Optional[List[str]] = None,
) -> str: ...
def convert(
    path: str,
    to: str,
    output: Optional[str] = None,
    fail_on: str = "medium",
    zipmap: bool = False,
    sign_key: Optional[str] = None,
    signatures: Optional[List[str]] = None,
) -> str: ...
def modelscan_scan(path: str, settings_json: Optional[str] = None) -> str: ...
