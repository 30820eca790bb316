//! The report model and its renderings. The [`Report`] struct *is* the JSON schema: `--format json`
//! serialises it as is. Every renderer is a pure function of a `Report`.

use std::collections::BTreeMap;

use rayon::slice::ParallelSliceMut;

use serde::{Deserialize, Serialize};

use crate::engine::{ArtifactRecord, Engine, Sink, Status};
use crate::finding::{Finding, Severity};
use crate::signatures::DbInfo;

pub mod cyclonedx;
pub mod modelscan;
pub mod sarif;
pub mod text;

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
}

impl Report {
    /// Assembles a report from a sink; sorts everything so output is independent of scheduling.
    pub fn build(targets: Vec<String>, engine: &Engine, sink: Sink) -> Self {
        let Sink {
            mut findings,
            mut artifacts,
            mut packages,
        } = sink;
        // Sorted in parallel: a directory scan reports thousands of artifacts. Findings keep a
        // stable sort (equal keys may differ in evidence); artifacts are totally ordered.
        packages.sort();
        packages.dedup();
        findings.par_sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        artifacts.par_sort_unstable();
        artifacts.dedup();
        let mut by_sev: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for f in &findings {
            *by_sev.entry(f.severity).or_default() += 1;
        }
        let count =
            |pred: fn(&Status) -> bool| artifacts.iter().filter(|a| pred(&a.status)).count();
        let summary = Summary {
            total_findings: findings.len(),
            max_severity: findings.iter().map(|f| f.severity).max(),
            findings_by_severity: by_sev,
            scanned: count(|s| matches!(s, Status::Scanned { .. })),
            expanded: count(|s| matches!(s, Status::Expanded)),
            skipped: count(|s| matches!(s, Status::Skipped { .. })),
            failed: count(|s| matches!(s, Status::Failed { .. })),
        };
        Report {
            tool: "modelgate".into(),
            version: crate::VERSION.into(),
            signatures: engine.signatures().info().clone(),
            targets,
            summary,
            findings,
            artifacts,
            packages,
        }
    }

    /// Findings at or above `threshold`.
    pub fn findings_at_or_above(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.severity >= threshold)
    }

    /// Whether the run approves the scanned content at `threshold`: it read something, nothing
    /// failed, and no finding reaches the threshold.
    pub fn approved(&self, threshold: Severity) -> bool {
        self.findings_at_or_above(threshold).next().is_none()
            && self.summary.failed == 0
            && self.summary.scanned > 0
    }

    /// The process exit code for this report (modelscan's codes, with findings dominating):
    /// 1 findings at or above `fail_on`; else 2 scan errors; else 3 nothing scanned; else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if self.findings_at_or_above(fail_on).next().is_some() {
            1
        } else if self.summary.failed > 0 {
            2
        } else if self.summary.scanned == 0 {
            3
        } else {
            0
        }
    }

    /// The report as pretty JSON (the documented schema).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
