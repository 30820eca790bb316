"""A drop-in for modelscan 0.8.8's Python API.

Replace ``from modelscan.modelscan import ModelScan`` with
``from modelgate.modelscan import ModelScan``: ``ModelScan(settings).scan(path)`` returns the same
result dict (``summary`` with ``skipped``, ``issues``, ``errors``; same keys and types), and the
``issues``, ``errors``, ``scanned`` and ``skipped`` attributes are filled the same way.

Differences, on purpose:

* ``settings`` can only make the scan stricter: the ``unsafe_globals`` it lists are added to the
  denylist; nothing in it can switch a check off. Its other keys (scanner selection, reporting)
  are ignored: modelgate always runs every scanner.
* A path that does not exist raises :class:`modelgate.UsageError` instead of returning a result
  whose only content is a path error.
* Findings dominate errors: a file that could not be read completely is listed under ``errors``
  and its findings are still reported.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Any, Dict, List, Optional, Union

from . import _native

__all__ = ["ModelScan", "Issue", "IssueSeverity", "Issues", "ScanErrorRecord", "SkippedRecord"]


class IssueSeverity(Enum):
    """modelscan's four severities (modelgate's ``info`` findings are left out)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class IssueDetails:
    """The details of one issue; ``output_json()`` is the issue's entry in the result dict."""

    def __init__(self, fields: Dict[str, str]) -> None:
        self._fields = dict(fields)
        self.module: str = fields.get("module", "")
        self.operator: str = fields.get("operator", "")
        self.source: str = fields.get("source", "")
        self.scanner: str = fields.get("scanner", "")

    def output_json(self) -> Dict[str, str]:
        return dict(self._fields)

    def output_lines(self) -> List[str]:
        return [
            f"Description: {self._fields.get('description', '')}",
            f"Source: {self.source}",
        ]


class Issue:
    """One issue: ``severity`` (an :class:`IssueSeverity`) and ``details``."""

    def __init__(self, fields: Dict[str, str]) -> None:
        self.severity = IssueSeverity[fields["severity"]]
        self.details = IssueDetails(fields)

    def __repr__(self) -> str:
        return f"Issue({self.severity.name}, {self.details.output_json()!r})"


class Issues:
    """The issues of the last scan, as modelscan's ``Issues`` exposes them."""

    def __init__(self, issues: Optional[List[Issue]] = None) -> None:
        self.all_issues: List[Issue] = list(issues or [])

    def group_by_severity(self) -> Dict[str, List[Issue]]:
        grouped: Dict[str, List[Issue]] = {}
        for issue in self.all_issues:
            grouped.setdefault(issue.severity.name, []).append(issue)
        return grouped


class ScanErrorRecord:
    """One entry of ``errors``: ``message`` and ``to_dict()`` as modelscan's errors have."""

    def __init__(self, fields: Dict[str, str]) -> None:
        self._fields = dict(fields)
        self.message: str = fields.get("description", "")
        self.category: str = fields.get("category", "")
        self.source: Optional[str] = fields.get("source")

    @staticmethod
    def name() -> str:
        return "MODEL_SCAN"

    def to_dict(self) -> Dict[str, str]:
        return dict(self._fields)

    def __str__(self) -> str:
        return f"The following error was raised: \n{self.message}"


class SkippedRecord:
    """One skipped file: ``category``, ``message`` and ``source``."""

    def __init__(self, fields: Dict[str, str]) -> None:
        self.category: str = fields.get("category", "")
        self.message: str = fields.get("description", "")
        self.source: str = fields.get("source", "")


class ModelScan:
    """modelscan's ``ModelScan`` with modelgate's engine underneath."""

    def __init__(self, settings: Optional[Dict[str, Any]] = None) -> None:
        self._settings = settings
        self._issues = Issues()
        self._errors: List[ScanErrorRecord] = []
        self._skipped: List[SkippedRecord] = []
        self._scanned: List[str] = []

    def scan(self, path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
        """Scan a file or directory; returns modelscan 0.8.8's result dict."""
        settings_json = None
        if self._settings is not None:
            settings_json = json.dumps(
                {"unsafe_globals": self._settings.get("unsafe_globals", {})}
            )
        result: Dict[str, Any] = json.loads(
            _native.modelscan_scan(os.fspath(path), settings_json)
        )
        self._issues = Issues([Issue(i) for i in result["issues"]])
        self._errors = [ScanErrorRecord(e) for e in result["errors"]]
        summary = result["summary"]
        self._skipped = [
            SkippedRecord(s) for s in summary.get("skipped", {}).get("skipped_files", [])
        ]
        self._scanned = list(summary.get("scanned", {}).get("scanned_files", []))
        return result

    @property
    def issues(self) -> Issues:
        return self._issues

    @property
    def errors(self) -> List[ScanErrorRecord]:
        return self._errors

    @property
    def scanned(self) -> List[str]:
        return self._scanned

    @property
    def skipped(self) -> List[SkippedRecord]:
        return self._skipped
