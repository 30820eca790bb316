//! Human-readable report: findings grouped by file, worst first, then a one-line summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::Status;
use crate::finding::{Finding, Severity};
use crate::report::Report;

/// Options for the text renderer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
    pub show_skipped: bool,
}

fn paint(s: &str, sev: Severity, color: bool) -> String {
    if !color {
        return s.to_owned();
    }
    let code = match sev {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Renders `r` as text.
pub fn render(r: &Report, opts: TextOptions) -> String {
    let mut out = String::new();
    let mut by_file: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in &r.findings {
        by_file.entry(f.location.path.clone()).or_default().push(f);
    }
    for (file, mut findings) in by_file {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.sort_key().cmp(&b.sort_key()))
        });
        let _ = writeln!(out, "{file}");
        for f in findings {
            let sev = paint(
                &format!("{:>8}", f.severity.as_str().to_uppercase()),
                f.severity,
                opts.color,
            );
            let mut where_ = f.location.inner.join(" > ");
            if let Some(o) = f.location.offset {
                if !where_.is_empty() {
                    where_.push(' ');
                }
                let _ = write!(where_, "@{o}");
            }
            let where_ = if where_.is_empty() {
                String::new()
            } else {
                format!(" [{where_}]")
            };
            let _ = writeln!(out, "  {sev}  {}  {}{where_}", f.code, f.message);
        }
        out.push('\n');
    }
    let failed: Vec<_> = r
        .artifacts
        .iter()
        .filter(|a| matches!(a.status, Status::Failed { .. }))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "Errors:");
        for a in failed {
            if let Status::Failed { error } = &a.status {
                let _ = writeln!(out, "  {}: {error}", a.location.display_chain());
            }
        }
        out.push('\n');
    }
    let skipped: Vec<_> = r
        .artifacts
        .iter()
        .filter(|a| matches!(a.status, Status::Skipped { .. }))
        .collect();
    if !skipped.is_empty() {
        if opts.show_skipped {
            let _ = writeln!(out, "Skipped:");
            for a in &skipped {
                if let Status::Skipped { reason } = &a.status {
                    let _ = writeln!(out, "  {}: {reason}", a.location.display_chain());
                }
            }
            out.push('\n');
        } else {
            let _ = writeln!(
                out,
                "{} artifact(s) skipped; run with --show-skipped to list them.",
                skipped.len()
            );
        }
    }
    let s = &r.summary;
    let counts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|sev| {
            let n = s.findings_by_severity.get(sev).copied().unwrap_or(0);
            (n > 0).then(|| format!("{n} {sev}"))
        })
        .collect();
    let verdict = if s.total_findings == 0 {
        "no findings".to_owned()
    } else {
        format!("{} finding(s): {}", s.total_findings, counts.join(", "))
    };
    let _ = writeln!(
        out,
        "{verdict}; {} scanned, {} skipped, {} failed, {} container(s) expanded",
        s.scanned, s.skipped, s.failed, s.expanded
    );
    out
}

/// The package inventory as a table (used by `modelgate packages`).
pub fn render_packages(r: &Report) -> String {
    let mut out = String::new();
    if r.packages.is_empty() {
        out.push_str("No packages found.\n\n");
        return out;
    }
    let _ = writeln!(out, "Packages ({}):", r.packages.len());
    for p in &r.packages {
        let mut notes: Vec<String> = Vec::new();
        if p.kind == crate::packages::PackageKind::Declared {
            notes.push("declared".into());
        }
        if let Some(v) = &p.vetting {
            notes.push(v.clone());
        }
        if let Some(c) = &p.content {
            notes.push(c.clone());
        }
        if let Some(u) = &p.direct_url {
            notes.push(format!("direct: {u}"));
        }
        let _ = writeln!(
            out,
            "  {:<6} {:<32} {:<16} {}  [{}]",
            p.ecosystem,
            p.name,
            p.version,
            p.location.display_chain(),
            notes.join(", ")
        );
    }
    out.push('\n');
    out
}
