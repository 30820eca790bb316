//! Human-readable report: findings grouped by file, worst first, then a one-line summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::finding::Status;
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

/// `s` with every character that a terminal would interpret rather than show escaped: C0 and C1
/// control characters (ESC starts terminal escape sequences; a newline would forge a report
/// line) and the bidirectional overrides that reorder what is displayed. File and member names,
/// messages and reasons all carry bytes from the scanned content, so none is printed raw.
pub fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(8));
    for c in s.chars() {
        if !hostile(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    std::borrow::Cow::Owned(out)
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
        let _ = writeln!(out, "{}", visible(&file));
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
            let _ = writeln!(
                out,
                "  {sev}  {}  {}{}",
                f.code,
                visible(&f.message),
                visible(&where_)
            );
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
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    visible(&a.location.display_chain()),
                    visible(error)
                );
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
                    let _ = writeln!(
                        out,
                        "  {}: {}",
                        visible(&a.location.display_chain()),
                        visible(reason)
                    );
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
    if !r.omitted.findings.is_empty() {
        let _ = writeln!(
            out,
            "Not listed (report entry limit; counted in the summary):"
        );
        for ((code, sev), n) in &r.omitted.findings {
            let _ = writeln!(out, "  {n} more {sev} {code} finding(s)");
        }
    }
    if !r.omitted.artifacts.is_empty() {
        let total: u64 = r.omitted.artifacts.values().map(|(n, _)| n).sum();
        let _ = writeln!(
            out,
            "{total} more artifact record(s) not listed (report entry limit; counted in the summary)."
        );
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
            visible(&p.name),
            visible(&p.version),
            visible(&p.location.display_chain()),
            visible(&notes.join(", "))
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_interpreted() {
        assert_eq!(visible("plain/name.pkl"), "plain/name.pkl");
        assert_eq!(visible("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(visible("x\ny"), "x\\x0ay");
        assert_eq!(visible("\u{9b}31m"), "\\x9b31m");
        assert_eq!(visible("evil\u{202e}lkp.exe"), "evil\\u{202e}lkp.exe");
        assert_eq!(visible("caf\u{e9}"), "caf\u{e9}");
    }
}
