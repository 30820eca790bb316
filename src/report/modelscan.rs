//! modelscan 0.8.8 compatibility: the `-o` JSON file's exact keys and key order, and its console
//! layout, so pipelines written for modelscan keep working when the binary is swapped.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::finding::Severity;
use crate::finding::Status;
use crate::report::Report;

/// modelscan's four severities; modelgate's `info` findings have no modelscan equivalent and are
/// left out of the compatible output.
fn ms_severity(s: Severity) -> Option<&'static str> {
    match s {
        Severity::Info => None,
        Severity::Low => Some("LOW"),
        Severity::Medium => Some("MEDIUM"),
        Severity::High => Some("HIGH"),
        Severity::Critical => Some("CRITICAL"),
    }
}

/// modelscan reports paths relative to `absolute_path` (the input, or its parent for a file).
fn relative(path: &str, base: &Path) -> String {
    let p = Path::new(path);
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs.strip_prefix(base)
        .map_or_else(|_| path.to_owned(), |r| r.display().to_string())
}

fn source(loc: &crate::finding::Location, base: &Path) -> String {
    let mut s = relative(&loc.path, base);
    for i in &loc.inner {
        s.push(':');
        s.push_str(i);
    }
    s
}

/// The local time in modelscan's `summary.timestamp` format (`datetime.now().isoformat()`).
pub fn timestamp_now() -> String {
    chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Builds the modelscan-compatible JSON value for a run on `input_path`.
pub fn to_value(r: &Report, input_path: &str, show_skipped: bool, timestamp: &str) -> Value {
    let input = Path::new(input_path);
    let abs_input = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
    let base = if abs_input.is_file() {
        abs_input
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    } else {
        abs_input.clone()
    };

    let mut by_sev = Map::new();
    let mut issues = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for sev in ["LOW", "MEDIUM", "HIGH", "CRITICAL"] {
        by_sev.insert(sev.to_owned(), json!(0));
    }
    for f in &r.findings {
        let Some(sev) = ms_severity(f.severity) else {
            continue;
        };
        let (module, operator) = if let Some(g) = &f.global {
            // modelscan reports names as the pickle spells them (`__builtin__`, not `builtins`).
            match f.evidence.get("as-written").and_then(|w| w.split_once(':')) {
                Some((m, n)) => (m.to_owned(), n.to_owned()),
                None => (g.module.clone(), g.name.clone()),
            }
        } else {
            let (scanner, hazard) = f.code.split_once('/').unwrap_or((&f.code, ""));
            (
                scanner.to_owned(),
                f.evidence
                    .get("operator")
                    .cloned()
                    .unwrap_or_else(|| hazard.to_owned()),
            )
        };
        let src = source(&f.location, &base);
        // modelscan reports one issue per (module, operator) per file.
        if !seen.insert((src.clone(), module.clone(), operator.clone(), sev)) {
            continue;
        }
        if let Some(Value::Number(n)) = by_sev.get(sev) {
            let v = n.as_u64().unwrap_or(0) + 1;
            by_sev.insert(sev.to_owned(), json!(v));
        }
        let description = if f.global.is_some() {
            format!("Use of unsafe operator '{operator}' from module '{module}'")
        } else {
            f.message.clone()
        };
        let scanner = format!("modelgate.{}", f.code.split('/').next().unwrap_or("engine"));
        let mut issue = Map::new();
        issue.insert("description".into(), json!(description));
        issue.insert("operator".into(), json!(operator));
        issue.insert("module".into(), json!(module));
        issue.insert("source".into(), json!(src));
        issue.insert("scanner".into(), json!(scanner));
        issue.insert("severity".into(), json!(sev));
        issues.push(Value::Object(issue));
    }
    let scanned: Vec<String> = r
        .artifacts
        .iter()
        .filter(|a| matches!(a.status, Status::Scanned { .. }))
        .map(|a| source(&a.location, &base))
        .collect();
    let errors: Vec<Value> = r
        .artifacts
        .iter()
        .filter_map(|a| match &a.status {
            Status::Failed { error } => {
                Some(json!({"category": "MODEL_SCAN", "description": error, "source": source(&a.location, &base)}))
            }
            _ => None,
        })
        .collect();
    let mut summary = Map::new();
    summary.insert("total_issues_by_severity".into(), Value::Object(by_sev));
    summary.insert("total_issues".into(), json!(issues.len()));
    summary.insert("input_path".into(), json!(input_path));
    summary.insert("absolute_path".into(), json!(base.display().to_string()));
    summary.insert(
        "modelscan_version".into(),
        json!(format!("modelgate {}", r.version)),
    );
    summary.insert("timestamp".into(), json!(timestamp));
    let mut scanned_obj = Map::new();
    scanned_obj.insert("total_scanned".into(), json!(scanned.len()));
    if !scanned.is_empty() {
        scanned_obj.insert("scanned_files".into(), json!(scanned));
    }
    summary.insert("scanned".into(), Value::Object(scanned_obj));
    if show_skipped {
        let skipped: Vec<Value> = r
            .artifacts
            .iter()
            .filter_map(|a| match &a.status {
                Status::Skipped { reason } => Some(json!({
                    "category": "SCAN_NOT_SUPPORTED",
                    "description": format!("Model Scan did not scan file: {reason}"),
                    "source": source(&a.location, &base),
                })),
                _ => None,
            })
            .collect();
        summary.insert(
            "skipped".into(),
            json!({"total_skipped": skipped.len(), "skipped_files": skipped}),
        );
    }
    let mut top = Map::new();
    top.insert("summary".into(), Value::Object(summary));
    top.insert("issues".into(), Value::Array(issues));
    top.insert("errors".into(), Value::Array(errors));
    Value::Object(top)
}

/// modelscan's console layout.
pub fn render_console(v: &Value, show_skipped: bool) -> String {
    let mut out = String::new();
    let empty = Map::new();
    let summary = v
        .get("summary")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let issues = v
        .get("issues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(out, "\n--- Summary ---");
    if issues.is_empty() {
        let _ = writeln!(out, "\n No issues found! 🎉");
    } else {
        let _ = writeln!(out, "\nTotal Issues: {}", issues.len());
        let _ = writeln!(out, "\nTotal Issues By Severity:\n");
        for sev in ["LOW", "MEDIUM", "HIGH", "CRITICAL"] {
            let n = summary
                .get("total_issues_by_severity")
                .and_then(|m| m.get(sev))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let _ = writeln!(out, "    - {sev}: {n}");
        }
        let _ = writeln!(out, "\n--- Issues by Severity ---");
        for sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW"] {
            let of: Vec<_> = issues
                .iter()
                .filter(|i| i.get("severity").and_then(Value::as_str) == Some(sev))
                .collect();
            if of.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n--- {sev} ---");
            for i in of {
                let s = |k: &str| {
                    super::text::visible(i.get(k).and_then(Value::as_str).unwrap_or_default())
                        .into_owned()
                };
                let _ = writeln!(
                    out,
                    "\nUnsafe operator found:\n  - Severity: {}\n  - Description: {}\n  - Source: {}",
                    s("severity"),
                    s("description"),
                    s("source")
                );
            }
        }
    }
    let errors = v
        .get("errors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n--- Errors --- ");
        for (n, e) in errors.iter().enumerate() {
            let _ = writeln!(
                out,
                "\nError {}:\n{} ({})",
                n + 1,
                super::text::visible(
                    e.get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
                super::text::visible(e.get("source").and_then(Value::as_str).unwrap_or_default())
            );
        }
    }
    if let Some(sk) = summary.get("skipped") {
        let total = sk.get("total_skipped").and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(out, "\n--- Skipped --- ");
        let _ = writeln!(out, "\nTotal skipped: {total}");
        if show_skipped {
            for f in sk
                .get("skipped_files")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let _ = writeln!(
                    out,
                    "  - {}: {}",
                    f.get("source").and_then(Value::as_str).unwrap_or_default(),
                    f.get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
            }
        }
    }
    out
}
