//! The audit report's formats: JSON (the [`AuditReport`] as is: the scan report's schema plus
//! the `audit` section), SARIF (the scan report's SARIF, from `report::sarif`), Markdown (for a
//! ticket or a chat: counts, the worst artifacts, what changed, what was not scanned) and HTML
//! (a self-contained page; rendered by the HTML renderer when it lands).

use std::fmt::Write as _;

use crate::finding::Severity;

use super::report::AuditReport;
use super::AuditError;

/// Rows of a Markdown table before the rest is only counted.
const MARKDOWN_ROWS: usize = 50;

/// An audit report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditFormat {
    #[default]
    Json,
    Sarif,
    Markdown,
    Html,
}

/// Whether `format` can be rendered by this build: checked before an audit starts, so a run of
/// hours does not end in "not available".
pub fn check(format: AuditFormat) -> Result<(), AuditError> {
    match format {
        AuditFormat::Html => Err(AuditError::NotYet("html")),
        AuditFormat::Json | AuditFormat::Sarif | AuditFormat::Markdown => Ok(()),
    }
}

/// The report in `format`, ending in a newline.
pub fn render(r: &AuditReport, format: AuditFormat) -> Result<String, AuditError> {
    match format {
        AuditFormat::Json => Ok(r.to_json() + "\n"),
        AuditFormat::Sarif => Ok(crate::report::sarif::render(&r.report) + "\n"),
        AuditFormat::Markdown => Ok(markdown(r)),
        AuditFormat::Html => Err(AuditError::NotYet("html")),
    }
}

/// Table cells: no pipes or line breaks from hostile names.
fn cell(s: &str) -> String {
    crate::report::text::visible(s)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The report as Markdown.
pub fn markdown(r: &AuditReport) -> String {
    let a = &r.audit;
    let mut s = String::new();
    let _ = writeln!(s, "# modelgate audit\n");
    let _ = writeln!(
        s,
        "Sources: {}  ",
        a.sources
            .iter()
            .map(|x| format!("`{}`", cell(x)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "Signature database {} (`{}`), modelgate {}; shard {} of {}.\n",
        cell(&r.report.signatures.version),
        a.shard
            .signatures_digest
            .get(..12)
            .unwrap_or(&a.shard.signatures_digest),
        cell(&r.report.version),
        a.shard
            .covers
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        a.shard.count
    );
    let _ = writeln!(
        s,
        "**{} artifacts, {} findings** ({} scanned, {} skipped, {} failed).\n",
        a.artifacts,
        r.report.summary.total_findings,
        r.report.summary.scanned,
        r.report.summary.skipped,
        r.report.summary.failed
    );
    let _ = writeln!(s, "| Severity | Findings |\n|---|---:|");
    for sev in Severity::ALL.iter().rev() {
        let _ = writeln!(
            s,
            "| {sev} | {} |",
            a.counts.by_severity.get(sev).copied().unwrap_or(0)
        );
    }
    if !a.worst.is_empty() {
        let _ = writeln!(s, "\n## Worst artifacts\n\n| Artifact | Max severity | Findings | Codes |\n|---|---|---:|---|");
        for w in &a.worst {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                cell(&w.artifact),
                w.max_severity,
                w.findings,
                cell(&w.codes.join(", "))
            );
        }
    }
    if !a.counts.by_code.is_empty() {
        let _ = writeln!(
            s,
            "\n## Findings by code\n\n| Code | Findings |\n|---|---:|"
        );
        for (code, n) in &a.counts.by_code {
            let _ = writeln!(s, "| `{}` | {n} |", cell(code));
        }
        let _ = writeln!(
            s,
            "\n## Findings by format\n\n| Format | Findings |\n|---|---:|"
        );
        for (f, n) in &a.counts.by_format {
            let _ = writeln!(s, "| {} | {n} |", cell(f));
        }
    }
    if let Some(d) = &a.since {
        let _ = writeln!(
            s,
            "\n## Since `{}`\n\n{} new findings, {} fixed, {} still open; {} new artifacts, {} removed.\n",
            cell(&d.previous),
            d.new_findings.len(),
            d.fixed.len(),
            d.still_open,
            d.new_artifacts.len(),
            d.removed_artifacts.len()
        );
        for (title, list) in [("New findings", &d.new_findings), ("Fixed", &d.fixed)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "### {title}\n\n| Severity | Code | Where |\n|---|---|---|"
            );
            for f in list.iter().take(MARKDOWN_ROWS) {
                let _ = writeln!(
                    s,
                    "| {} | `{}` | `{}` |",
                    f.severity,
                    cell(&f.code),
                    cell(&f.location.to_string())
                );
            }
            if list.len() > MARKDOWN_ROWS {
                let _ = writeln!(s, "\n… and {} more.", list.len() - MARKDOWN_ROWS);
            }
            s.push('\n');
        }
    }
    if !a.unscanned.is_empty() {
        let _ = writeln!(
            s,
            "\n## Not scanned ({})\n\n| Artifact | Status | Reason |\n|---|---|---|",
            a.unscanned.len()
        );
        for u in a.unscanned.iter().take(MARKDOWN_ROWS) {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} |",
                cell(&u.artifact),
                u.status,
                cell(&u.reason)
            );
        }
        if a.unscanned.len() > MARKDOWN_ROWS {
            let _ = writeln!(
                s,
                "\n… and {} more (see the JSON report).",
                a.unscanned.len() - MARKDOWN_ROWS
            );
        }
    }
    let run = &a.run;
    let _ = writeln!(
        s,
        "\n_Run: {} listed, {} hashed, {} unchanged by stamp, {} from the verdict cache, {} scanned, {} resumed, {} ms._",
        run.listed, run.hashed, run.stamp_hits, run.cache_hits, run.scanned, run.resumed, run.elapsed_ms
    );
    s
}
