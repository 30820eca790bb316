"""Validates CycloneDX documents written by modelgate (tests/cyclonedx.rs).

Usage: validate.py BOM.json [BOM.json ...]. Exits non-zero with a message on the first problem.

Checks, with the reference implementation (cyclonedx-python-lib) and independent of modelgate:
- the document validates against the CycloneDX 1.6 JSON schema (strict validator);
- every bom-ref is unique and every vulnerabilities[].affects[].ref names a component;
- every purl parses (packageurl-python) back to the component's type, name and version.
"""

import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL


def check(path):
    text = open(path, encoding="utf-8").read()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if errors is not None:
        sys.exit(f"{path}: not valid CycloneDX 1.6: {errors}")
    doc = json.loads(text)
    refs = [c["bom-ref"] for c in doc.get("components", [])]
    refs += [v["bom-ref"] for v in doc.get("vulnerabilities", [])]
    if len(refs) != len(set(refs)):
        sys.exit(f"{path}: duplicate bom-ref")
    components = {c["bom-ref"]: c for c in doc.get("components", [])}
    for v in doc.get("vulnerabilities", []):
        for a in v.get("affects", []):
            if a["ref"] not in components:
                sys.exit(f"{path}: {v['bom-ref']} affects unknown ref {a['ref']}")
    for c in components.values():
        if "purl" in c:
            p = PackageURL.from_string(c["purl"])
            if p.type != "pypi" or p.version != c["version"]:
                sys.exit(f"{path}: purl {c['purl']} does not round-trip")
            expect = c["name"].lower().replace("_", "-")
            if p.name != expect:
                sys.exit(f"{path}: purl name {p.name} != {expect}")
    print(f"{path}: valid CycloneDX 1.6 ({len(components)} components)")


for arg in sys.argv[1:]:
    check(arg)
