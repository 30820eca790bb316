//! SARIF 2.1.0 output: one run, rules from the finding-code catalogue, results with
//! `region.byteOffset` for the position inside the innermost artifact.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::finding::Severity;
use crate::report::Report;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// Security-severity scores, the GitHub code-scanning convention for ordering alerts.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Percent-encodes what is not allowed verbatim in a URI reference path.
fn uri(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Renders `r` as a SARIF 2.1.0 log.
pub fn render(r: &Report) -> String {
    let all = crate::catalog::all();
    let rules: Vec<Value> = all
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.id.replace(['/', '-'], "_"),
                "shortDescription": { "text": c.summary },
                "fullDescription": { "text": c.detects },
                "help": {
                    "text": format!("{}\n\nWhy: {}\n\nRemediation: {}", c.detects, c.why, c.remediation),
                },
                "defaultConfiguration": { "level": level(c.severity) },
                "properties": {
                    "security-severity": security_severity(c.severity),
                    "tags": ["security", "ml-model"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut physical = json!({ "artifactLocation": { "uri": uri(&f.location.path) } });
            if let Some(o) = f.location.offset {
                physical["region"] = json!({ "byteOffset": o });
            }
            let mut result = json!({
                "ruleId": f.code,
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [{ "physicalLocation": physical }],
                "properties": { "severity": f.severity.as_str() },
            });
            if let Some(idx) = all.iter().position(|c| c.id == f.code) {
                result["ruleIndex"] = json!(idx);
            }
            if !f.location.inner.is_empty() {
                result["locations"][0]["logicalLocations"] = json!([{
                    "fullyQualifiedName": f.location.display_chain(),
                    "kind": "member",
                }]);
                result["properties"]["member"] = json!(f.location.inner.join(":"));
            }
            if let Some(g) = &f.global {
                result["properties"]["module"] = json!(g.module);
                result["properties"]["name"] = json!(g.name);
            }
            if !f.evidence.is_empty() {
                result["properties"]["evidence"] = json!(f.evidence);
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "modelgate",
                "version": r.version,
                "informationUri": "https://github.com/modelgate/modelgate",
                "rules": rules,
            }},
            "results": results,
            "properties": { "signatures": r.signatures.version, "signaturesDigest": r.signatures.digest },
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}
