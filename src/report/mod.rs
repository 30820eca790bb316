//! The report model and its renderings. The [`Report`] struct *is* the JSON schema: `--format json`
//! serialises it as is. Every renderer is a pure function of a `Report`.

use std::collections::BTreeMap;

use rayon::slice::ParallelSliceMut;

use serde::{Deserialize, Serialize};

use crate::finding::{ArtifactRecord, Omitted, Sink};
use crate::finding::{Finding, Severity};
use crate::signatures::DbInfo;

pub mod cyclonedx;
pub mod modelscan;
pub mod output;
pub mod sarif;
pub mod text;

pub use output::{OutputFormat, RenderOptions};

/// Counts that summarise a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Findings per severity (every severity present, zero or not).
    pub findings_by_severity: BTreeMap<Severity, usize>,
    pub total_findings: usize,
    /// The most severe finding, if any.
    pub max_severity: Option<Severity>,
    /// Artifacts read completely by a scanner.
    pub scanned: usize,
    /// Containers expanded into members.
    pub expanded: usize,
    /// Artifacts not scanned (unsupported format, limits); never counted as clean.
    pub skipped: usize,
    /// Artifacts whose scan failed part-way.
    pub failed: usize,
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Always "modelgate".
    pub tool: String,
    pub version: String,
    /// The signature database that was applied.
    pub signatures: DbInfo,
    /// The targets as given.
    pub targets: Vec<String>,
    pub summary: Summary,
    /// Sorted by location, then code.
    pub findings: Vec<Finding>,
    /// Every artifact touched, sorted by location.
    pub artifacts: Vec<ArtifactRecord>,
    /// Software packages found (installed in an image or directory, or declared in lock and
    /// requirement files), sorted by location then name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<crate::packages::Package>,
    /// Findings and artifact records counted in `summary` but not listed, past the run's
    /// `max_report_entries` (a truncation marker: absent when everything is listed).
    #[serde(default, skip_serializing_if = "Omitted::is_empty")]
    pub omitted: Omitted,
}

impl Report {
    /// Rewrites every path that starts with `root` to be relative to it (a scan of a temporary
    /// directory reports what is inside it, not where it was).
    pub fn relativise(&mut self, root: &std::path::Path) {
        let prefix = format!("{}/", root.display());
        let strip = |p: &mut String| {
            if let Some(rest) = p.strip_prefix(&prefix) {
                *p = rest.to_owned();
            }
        };
        self.targets.iter_mut().for_each(strip);
        for f in &mut self.findings {
            strip(&mut f.location.path);
        }
        for a in &mut self.artifacts {
            strip(&mut a.location.path);
        }
        for p in &mut self.packages {
            strip(&mut p.location.path);
        }
    }

    /// Assembles a report from a sink; sorts everything so output is independent of scheduling.
    /// `signatures` is the database that was applied; `max_entries` caps the listed findings and
    /// records (the engine's `Limits::max_report_entries`).
    pub fn build(
        targets: Vec<String>,
        signatures: &DbInfo,
        max_entries: usize,
        sink: Sink,
    ) -> Self {
        let mut sink = sink;
        sink.truncate(max_entries);
        let Sink {
            mut findings,
            mut artifacts,
            mut packages,
            omitted,
        } = sink;
        // Sorted in parallel: a directory scan reports thousands of artifacts. Findings keep a
        // stable sort (equal keys may differ in evidence); artifacts are totally ordered.
        packages.sort();
        packages.dedup();
        findings.par_sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        artifacts.par_sort_unstable();
        artifacts.dedup();
        let count = |kind: &str| {
            artifacts.iter().filter(|a| a.status.kind() == kind).count()
                + usize::try_from(omitted.artifacts_with(kind)).unwrap_or(usize::MAX)
        };
        let (findings_by_severity, total_findings, max_severity) =
            finding_counts(&findings, &omitted);
        let summary = Summary {
            total_findings,
            max_severity,
            findings_by_severity,
            scanned: count("scanned"),
            expanded: count("expanded"),
            skipped: count("skipped"),
            failed: count("failed"),
        };
        Report {
            tool: "modelgate".into(),
            version: crate::finding::VERSION.into(),
            signatures: signatures.clone(),
            targets,
            summary,
            findings,
            artifacts,
            packages,
            omitted,
        }
    }

    /// Findings at or above `threshold`.
    pub fn findings_at_or_above(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.severity >= threshold)
    }

    /// How many findings reach `threshold`, listed or omitted.
    pub fn count_at_or_above(&self, threshold: Severity) -> u64 {
        self.findings_at_or_above(threshold).count() as u64
            + self.omitted.findings_at_or_above(threshold)
    }

    /// Recomputes the finding counts of the summary from the listed and omitted findings, after
    /// their severities changed (policy overrides). Artifact counts are left as they are.
    pub fn recount_findings(&mut self) {
        let (by_sev, total, max) = finding_counts(&self.findings, &self.omitted);
        self.summary.findings_by_severity = by_sev;
        self.summary.total_findings = total;
        self.summary.max_severity = max;
    }

    /// The report as pretty JSON (the documented schema).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Findings per severity (every severity present), their total and the most severe, counting
/// listed and omitted findings alike.
fn finding_counts(
    findings: &[Finding],
    omitted: &Omitted,
) -> (BTreeMap<Severity, usize>, usize, Option<Severity>) {
    let mut by_sev: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for f in findings {
        *by_sev.entry(f.severity).or_default() += 1;
    }
    for ((_, sev), n) in &omitted.findings {
        *by_sev.entry(*sev).or_default() += usize::try_from(*n).unwrap_or(usize::MAX);
    }
    let total = by_sev.values().sum();
    let max = by_sev
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, _)| *s)
        .max();
    (by_sev, total, max)
}
