//! The audit report: the scan [`Report`] (the same JSON schema as `modelgate scan`, flattened at
//! the top level so every consumer of scan reports reads it) plus an `audit` section a person
//! acts on: counts by severity, format and code, the worst artifacts first, what was not scanned
//! and why, the shard that wrote it, what the caches saved, and what changed since a previous
//! audit. The section is computed from the report alone ([`AuditSection::summarise`]), so a
//! merged report's section is exactly what an unsharded run would have written.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::finding::{Severity, Status};
use crate::report::Report;

use super::shard::Shard;
use super::since::SinceDiff;

/// How many artifacts the `worst` list names.
pub const WORST_LISTED: usize = 25;

/// A finished audit: the scan report and the audit section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    #[serde(flatten)]
    pub report: Report,
    pub audit: AuditSection,
}

/// Everything an audit adds to a scan report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSection {
    /// The sources as given (`/srv/hf-cache`, `oci://registry.example/models`).
    pub sources: Vec<String>,
    /// Which part of the artifact list this report covers, under which rules.
    pub shard: ShardInfo,
    /// Artifacts audited (top-level: files and images, named by their layout).
    pub artifacts: usize,
    /// Findings per severity, per format of the artifact they were found in, per code.
    pub counts: Counts,
    /// The artifacts with the most severe findings first (at most [`WORST_LISTED`]).
    pub worst: Vec<WorstArtifact>,
    /// Artifacts that were not scanned, or not completely, with the reason. Never counted as
    /// clean.
    pub unscanned: Vec<Unscanned>,
    /// What this run did and what its caches saved. Differs between runs of the same audit
    /// (cold, warm, resumed); everything else in the report does not.
    pub run: RunStats,
    /// With `--since PREVIOUS.json`: what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<SinceDiff>,
}

/// The shard identity `report merge` checks: shards merge only when they were audited under the
/// same signature database and policy, and every index of the count is present once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    pub signatures_digest: String,
    /// sha256 of the policy (threshold and severity overrides) and the scanner's version.
    pub policy_digest: String,
    /// The shard indices this report covers (one, or every index after a merge).
    pub covers: Vec<u32>,
}

impl ShardInfo {
    pub fn new(shard: Shard, signatures_digest: &str, policy_digest: &str) -> Self {
        ShardInfo {
            index: shard.index,
            count: shard.count,
            signatures_digest: signatures_digest.to_owned(),
            policy_digest: policy_digest.to_owned(),
            covers: vec![shard.index],
        }
    }
}

/// Finding counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub by_severity: BTreeMap<Severity, usize>,
    /// By the format of the top-level artifact (`pickle`, `pytorch`, `image`, …).
    pub by_format: BTreeMap<String, usize>,
    pub by_code: BTreeMap<String, usize>,
}

/// One artifact in the `worst` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorstArtifact {
    pub artifact: String,
    pub max_severity: Severity,
    pub findings: usize,
    /// The distinct codes found in it, sorted.
    pub codes: Vec<String>,
}

/// An artifact that was not scanned, or not completely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unscanned {
    pub artifact: String,
    /// `skipped` or `failed`.
    pub status: String,
    pub reason: String,
}

/// What one run did. Not compared between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Artifacts this run listed in its shard.
    pub listed: u64,
    /// Bytes of the files listed.
    pub bytes: u64,
    /// Files whose sha256 was computed (read in full) by this run.
    pub hashed: u64,
    /// Files whose sha256 came from the file-stamp cache (not read).
    pub stamp_hits: u64,
    /// Artifacts whose verdict and findings came from the verdict cache.
    pub cache_hits: u64,
    /// Distinct contents the engine scanned in this run.
    pub scanned: u64,
    /// Artifacts reused from an earlier, interrupted run of the same audit.
    pub resumed: u64,
    /// Artifacts that share their content with another artifact of the run (scanned once).
    pub duplicates: u64,
    /// Directories of local trees read, and directories whose stored listing was reused (their
    /// stamp proved them unchanged, so they were stat'ed, not read).
    #[serde(default)]
    pub dirs_read: u64,
    #[serde(default)]
    pub dirs_reused: u64,
    /// Wall-clock milliseconds.
    pub elapsed_ms: u64,
    /// The cache database that was used (a path or URL without its password).
    pub cache: String,
    /// Set when the cache database could not be read and was moved aside and rebuilt: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_rebuilt: Option<String>,
}

impl RunStats {
    /// Adds the counters of another shard's run (merging shard reports).
    pub fn add(&mut self, o: &RunStats) {
        self.listed += o.listed;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.hashed += o.hashed;
        self.stamp_hits += o.stamp_hits;
        self.cache_hits += o.cache_hits;
        self.scanned += o.scanned;
        self.resumed += o.resumed;
        self.duplicates += o.duplicates;
        self.dirs_read += o.dirs_read;
        self.dirs_reused += o.dirs_reused;
        self.elapsed_ms = self.elapsed_ms.max(o.elapsed_ms);
        if self.cache_rebuilt.is_none() {
            self.cache_rebuilt.clone_from(&o.cache_rebuilt);
        }
    }
}

impl AuditSection {
    /// The section of `report` (counts, worst, unscanned); shard, sources and run stats as given.
    pub fn summarise(
        report: &Report,
        sources: Vec<String>,
        shard: ShardInfo,
        run: RunStats,
    ) -> AuditSection {
        // The format of each top-level artifact: the record without container members.
        let mut format_of: BTreeMap<&str, String> = BTreeMap::new();
        let mut unscanned = Vec::new();
        let mut tops: BTreeSet<&str> = BTreeSet::new();
        for a in &report.artifacts {
            let path = a.location.path.as_str();
            tops.insert(path);
            if a.location.inner.is_empty() {
                format_of.insert(path, a.format.name().to_owned());
            }
            let reason = match &a.status {
                Status::Skipped { reason } => Some(("skipped", reason)),
                Status::Failed { error } => Some(("failed", error)),
                Status::Scanned { .. } | Status::Expanded => None,
            };
            if let Some((status, reason)) = reason {
                unscanned.push(Unscanned {
                    artifact: a.location.display_chain(),
                    status: status.to_owned(),
                    reason: reason.clone(),
                });
            }
        }
        unscanned.sort();
        let mut counts = Counts {
            by_severity: Severity::ALL.iter().map(|s| (*s, 0)).collect(),
            ..Counts::default()
        };
        let mut per: BTreeMap<&str, (Severity, usize, BTreeSet<&str>)> = BTreeMap::new();
        for f in &report.findings {
            let path = f.location.path.as_str();
            *counts.by_severity.entry(f.severity).or_default() += 1;
            *counts.by_code.entry(f.code.clone()).or_default() += 1;
            let format = format_of
                .get(path)
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned());
            *counts.by_format.entry(format).or_default() += 1;
            let e = per.entry(path).or_insert((f.severity, 0, BTreeSet::new()));
            e.0 = e.0.max(f.severity);
            e.1 += 1;
            e.2.insert(&f.code);
        }
        // Findings counted but not listed (past the report's entry cap) still count.
        for ((code, sev), n) in &report.omitted.findings {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            *counts.by_severity.entry(*sev).or_default() += n;
            *counts.by_code.entry(code.clone()).or_default() += n;
            *counts.by_format.entry("unlisted".to_owned()).or_default() += n;
        }
        let mut worst: Vec<WorstArtifact> = per
            .into_iter()
            .map(|(path, (max, n, codes))| WorstArtifact {
                artifact: path.to_owned(),
                max_severity: max,
                findings: n,
                codes: codes.into_iter().map(str::to_owned).collect(),
            })
            .collect();
        worst.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.max_severity),
                std::cmp::Reverse(a.findings),
                &a.artifact,
            )
                .cmp(&(
                    std::cmp::Reverse(b.max_severity),
                    std::cmp::Reverse(b.findings),
                    &b.artifact,
                ))
        });
        worst.truncate(WORST_LISTED);
        let omitted_tops = report
            .omitted
            .artifacts
            .values()
            .map(|(n, _)| usize::try_from(*n).unwrap_or(usize::MAX))
            .sum::<usize>();
        AuditSection {
            sources,
            shard,
            artifacts: tops.len().saturating_add(omitted_tops),
            counts,
            worst,
            unscanned,
            run,
            since: None,
        }
    }
}

impl AuditReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Reads a report written by `modelgate audit` (for `--since` and `report merge`).
    pub fn from_json(text: &str) -> Result<AuditReport, serde_json::Error> {
        serde_json::from_str(text)
    }
}
