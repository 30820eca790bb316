"""Convert modelgate's SARIF report into a GitLab SAST report (security report schema 15.0).

``python -m modelgate.gitlab_sast modelgate.sarif gl-sast-report.json`` in a GitLab CI job
(ci/gitlab-ci.yml) turns the SARIF that ``modelgate scan --format sarif`` writes into the
``artifacts:reports:sast`` file GitLab shows in merge requests and the security dashboard.
Only the report's data is read; nothing is scanned or executed here.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
from typing import Any, Dict, List

SCHEMA_VERSION = "15.0.7"

_SEVERITY = {
    "critical": "Critical",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "info": "Info",
}


def _location(result: Dict[str, Any]) -> Dict[str, Any]:
    for loc in result.get("locations", []):
        physical = loc.get("physicalLocation", {})
        uri = physical.get("artifactLocation", {}).get("uri")
        if uri:
            return {"file": uri}
    return {"file": ""}


def convert(sarif: Dict[str, Any]) -> Dict[str, Any]:
    """The GitLab SAST report of a SARIF 2.1.0 document written by modelgate."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    vulnerabilities: List[Dict[str, Any]] = []
    version = "unknown"
    for run in sarif.get("runs", []):
        driver = run.get("tool", {}).get("driver", {})
        version = driver.get("version", version)
        for result in run.get("results", []):
            rule = result.get("ruleId", "modelgate")
            message = result.get("message", {}).get("text", "")
            severity = result.get("properties", {}).get("severity", "")
            location = _location(result)
            ident = hashlib.sha256(
                json.dumps([rule, location["file"], message]).encode()
            ).hexdigest()
            vulnerabilities.append(
                {
                    "id": ident,
                    "name": rule,
                    "description": message,
                    "severity": _SEVERITY.get(severity, "Unknown"),
                    "identifiers": [
                        {"type": "modelgate_code", "name": rule, "value": rule}
                    ],
                    "location": location,
                }
            )
    tool = {
        "id": "modelgate",
        "name": "modelgate",
        "version": version,
        "vendor": {"name": "modelgate"},
    }
    return {
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "sast",
            "start_time": now,
            "end_time": now,
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
    }


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m modelgate.gitlab_sast REPORT.sarif OUT.json", file=sys.stderr)
        return 4
    with open(argv[1], encoding="utf-8") as f:
        sarif = json.load(f)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(convert(sarif), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
