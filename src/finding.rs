//! The finding model: what was found, how bad it is, and exactly where.

use std::collections::BTreeMap;
use std::fmt;

use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};

use crate::format::Format;

/// `s` cut to at most `max` bytes (on a character boundary) with an ellipsis, for hostile strings
/// quoted in messages and evidence.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

/// Findings of one code reported in full per artifact and scanner; the rest are counted in one
/// summary finding ([`Sink::cap_repeats`]).
pub const MAX_FINDINGS_PER_CODE: usize = 20;

/// The version string reported in every report (and in signed attestations and converted
/// models' producer fields).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A finding code and its documentation, written under fixed headings.
#[derive(Debug)]
pub struct Code {
    /// `<scanner>/<hazard>`, kebab-case; names the hazard, not the fix.
    pub id: &'static str,
    pub severity: Severity,
    /// One line: what the finding means.
    pub summary: &'static str,
    /// What exactly triggers it.
    pub detects: &'static str,
    /// Why it is dangerous.
    pub why: &'static str,
    /// A minimal example of content that triggers it.
    pub example: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
    pub references: &'static [&'static str],
}

/// How dangerous a finding is. Ordered, so thresholds (`--fail-on`) are comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the lower- or upper-case name used in signature files and settings.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an artifact or finding lives: the path given on the command line (or found under a
/// directory), then the chain of containers inside it (`archive.zip` → `model.pt` → `archive/data.pkl`),
/// then an optional byte offset inside the innermost member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Location {
    /// The path as text; bytes that are not UTF-8 show as U+FFFD (see `path_bytes`).
    pub path: String,
    /// The path's raw bytes in hex, present only when they are not valid UTF-8, so the exact
    /// file can still be found from a JSON report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl Location {
    pub fn file(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            path_bytes: None,
            inner: Vec::new(),
            offset: None,
        }
    }

    /// The location of a file on disk shown as `display`, keeping the raw bytes of a path that
    /// is not UTF-8.
    pub fn of_path(display: impl Into<String>, path: &std::path::Path) -> Self {
        let mut l = Self::file(display);
        if path.to_str().is_none() {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                l.path_bytes = Some(hex::encode(path.as_os_str().as_bytes()));
            }
        }
        l
    }

    /// A location one level deeper, inside the member `name`.
    #[must_use]
    pub fn child(&self, name: impl Into<String>) -> Self {
        let mut inner = self.inner.clone();
        inner.push(name.into());
        Self {
            path: self.path.clone(),
            path_bytes: self.path_bytes.clone(),
            inner,
            offset: None,
        }
    }

    #[must_use]
    pub fn at(&self, offset: u64) -> Self {
        Self {
            offset: Some(offset),
            ..self.clone()
        }
    }

    /// `path:member:member` — the same shape modelscan uses for archive members.
    pub fn display_chain(&self) -> String {
        let mut s = self.path.clone();
        for i in &self.inner {
            s.push(':');
            s.push_str(i);
        }
        s
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_chain())?;
        if let Some(o) = self.offset {
            write!(f, "@{o}")?;
        }
        Ok(())
    }
}

/// A Python global (`module.name`) a finding is about, as the loader would resolve it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GlobalRef {
    pub module: String,
    pub name: String,
}

/// One thing a scanner reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Namespaced kebab-case code, `<scanner>/<hazard>`; see `modelgate explain CODE`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    /// The global involved, for pickle-style findings (also feeds modelscan's `module`/`operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalRef>,
    /// Extra machine-readable evidence (opcode, reason from the signature database, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
}

impl Finding {
    pub fn new(code: &Code, location: Location, message: impl Into<String>) -> Self {
        Self {
            code: code.id.to_owned(),
            severity: code.severity,
            message: message.into(),
            location,
            global: None,
            evidence: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    #[must_use]
    pub fn global(mut self, module: impl Into<String>, name: impl Into<String>) -> Self {
        self.global = Some(GlobalRef {
            module: module.into(),
            name: name.into(),
        });
        self
    }

    #[must_use]
    pub fn evidence(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.evidence.insert(key.into(), value.into());
        self
    }

    /// Total order used to make reports deterministic regardless of scan parallelism.
    pub fn sort_key(&self) -> (&Location, &str, std::cmp::Reverse<Severity>, &str) {
        (
            &self.location,
            &self.code,
            std::cmp::Reverse(self.severity),
            &self.message,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// What a scan produces, below everything that produces it: artifact records, the sink scanners
// report into, and the package inventory. The engine, the scanners, the walker and the report all
// use these; none of them owns them.

/// Whether a package was found installed or only declared in a requirement/lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    Installed,
    Declared,
}

/// One package in the inventory (part of the report).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Where its metadata lives (image → platform → layer → path, or a disk path).
    pub location: Location,
    /// `pypi` or `conda`.
    pub ecosystem: String,
    /// As recorded.
    pub name: String,
    pub version: String,
    pub kind: PackageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installer: Option<String>,
    /// Set when installed from a URL, VCS or local directory (PEP 610), or declared that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_url: Option<String>,
    /// Allowlist verdict (`allowed`, `unvetted`, `version-not-allowed`); absent without allowlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting: Option<String>,
    /// Content check against the vetted wheel's RECORD (`matches-mirror`, `tampered`,
    /// `no-mirror-wheel`); absent when not applicable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Scan status of one artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Status {
    /// Read completely by the named scanner.
    Scanned { scanner: String },
    /// A container that was expanded; its members are listed separately.
    Expanded,
    /// Not scanned; the reason says why. Never counts as clean.
    Skipped { reason: String },
    /// The scanner failed part-way; findings reported before the failure are kept.
    Failed { error: String },
}

/// One artifact the run touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArtifactRecord {
    pub location: Location,
    pub format: Format,
    pub size: u64,
    #[serde(flatten)]
    pub status: Status,
    /// Hex SHA-256 of the artifact's bytes; only recorded when
    /// [`EngineOptions::hash_artifacts`] is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Where scanners report. One per worker; merged at the end.
#[derive(Debug, Default)]
pub struct Sink {
    pub findings: Vec<Finding>,
    pub artifacts: Vec<ArtifactRecord>,
    /// Software packages inventoried (image and directory scans); see `crate::packages`.
    pub packages: Vec<Package>,
    /// Entries counted but no longer listed ([`crate::context::Limits::max_report_entries`]).
    pub omitted: Omitted,
}

/// What a report counts but does not list: past [`crate::context::Limits::max_report_entries`], findings are
/// counted by code and severity and artifact records by status and format, so a million-member
/// archive costs the same memory and report size as a hundred-thousand-member one. Every
/// verdict (exit code, sign and gate refusal) counts these entries as well as the listed ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omitted {
    /// `(code, severity)` → number of findings not listed.
    #[serde(with = "omitted_findings")]
    pub findings: FindingCounts,
    /// `(status, format)` → (records not listed, their bytes).
    #[serde(with = "omitted_artifacts")]
    pub artifacts: RecordCounts,
}

/// `(code, severity)` → count.
pub type FindingCounts = BTreeMap<(String, Severity), u64>;
/// `(status, format)` → (count, bytes).
pub type RecordCounts = BTreeMap<(String, Format), (u64, u64)>;

impl Omitted {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.artifacts.is_empty()
    }

    fn merge(&mut self, other: Omitted) {
        for (k, n) in other.findings {
            *self.findings.entry(k).or_default() += n;
        }
        for (k, (n, b)) in other.artifacts {
            let e = self.artifacts.entry(k).or_default();
            e.0 += n;
            e.1 = e.1.saturating_add(b);
        }
    }

    /// Omitted findings at or above `threshold`.
    pub fn findings_at_or_above(&self, threshold: Severity) -> u64 {
        self.findings
            .iter()
            .filter(|((_, sev), _)| *sev >= threshold)
            .map(|(_, n)| n)
            .sum()
    }

    /// Omitted records whose status is `status` (`scanned`, `expanded`, `skipped`, `failed`).
    pub fn artifacts_with(&self, status: &str) -> u64 {
        self.artifacts
            .iter()
            .filter(|((s, _), _)| s == status)
            .map(|(_, (n, _))| n)
            .sum()
    }
}

/// JSON shape of [`Omitted::findings`]: a list of `{code, severity, count}`.
mod omitted_findings {
    use super::{Deserialize, FindingCounts, Serialize, Severity};
    #[derive(Serialize, Deserialize)]
    struct Row {
        code: String,
        severity: Severity,
        count: u64,
    }
    pub fn serialize<S: serde::Serializer>(m: &FindingCounts, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter().map(|((code, severity), count)| Row {
            code: code.clone(),
            severity: *severity,
            count: *count,
        }))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FindingCounts, D::Error> {
        let rows: Vec<Row> = Deserialize::deserialize(d)?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.code, r.severity), r.count))
            .collect())
    }
}

/// JSON shape of [`Omitted::artifacts`]: a list of `{status, format, count, bytes}`.
mod omitted_artifacts {
    use super::{Deserialize, Format, RecordCounts, Serialize};
    #[derive(Serialize, Deserialize)]
    struct Row {
        status: String,
        format: Format,
        count: u64,
        bytes: u64,
    }
    pub fn serialize<S: serde::Serializer>(m: &RecordCounts, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter().map(|((status, format), (count, bytes))| Row {
            status: status.clone(),
            format: *format,
            count: *count,
            bytes: *bytes,
        }))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RecordCounts, D::Error> {
        let rows: Vec<Row> = Deserialize::deserialize(d)?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.status, r.format), (r.count, r.bytes)))
            .collect())
    }
}

impl Status {
    /// The status's name in reports (`scanned`, `expanded`, `skipped`, `failed`).
    pub fn kind(&self) -> &'static str {
        match self {
            Status::Scanned { .. } => "scanned",
            Status::Expanded => "expanded",
            Status::Skipped { .. } => "skipped",
            Status::Failed { .. } => "failed",
        }
    }
}

impl Sink {
    pub fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// Caps what one scanner reported about one artifact: of the findings pushed since index
    /// `from` at the artifact's own location `at` (not its members'), at most
    /// [`MAX_FINDINGS_PER_CODE`] of each of the scanner's `codes` are kept, and one summary
    /// finding per capped code carries the full count. A hostile file with a million malformed
    /// records yields twenty findings and one "N more" line, not a million-line report. The
    /// engine applies it to every scanner, so no scanner caps its own findings.
    pub fn cap_repeats(&mut self, from: usize, at: &Location, codes: &[&'static Code]) {
        let Some(reported) = self.findings.get(from..) else {
            return;
        };
        // Indices (into `reported`) of each capped code's findings at the artifact itself.
        let mut by_code: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (i, f) in reported.iter().enumerate() {
            let own = f.location.path == at.path && f.location.inner == at.inner;
            if let Some(code) = codes.iter().find(|c| own && c.id == f.code) {
                by_code.entry(code.id).or_default().push(i);
            }
        }
        if by_code.values().all(|v| v.len() <= MAX_FINDINGS_PER_CODE) {
            return;
        }
        // Keep the most severe of each code (the first ones among equals), in reported order.
        let mut dropped = vec![false; reported.len()];
        let mut summaries = Vec::new();
        for code in codes {
            let Some(mut idx) = by_code.remove(code.id) else {
                continue;
            };
            let n = idx.len();
            if n <= MAX_FINDINGS_PER_CODE {
                continue;
            }
            idx.sort_by_key(|&i| (std::cmp::Reverse(reported.get(i).map(|f| f.severity)), i));
            for &i in idx.get(MAX_FINDINGS_PER_CODE..).unwrap_or_default() {
                if let Some(d) = dropped.get_mut(i) {
                    *d = true;
                }
            }
            summaries.push(
                Finding::new(
                    code,
                    at.clone(),
                    format!(
                        "{} more findings of this kind were not listed",
                        n.saturating_sub(MAX_FINDINGS_PER_CODE)
                    ),
                )
                .evidence("count", n.to_string()),
            );
        }
        let mut i = 0;
        self.findings.retain(|_| {
            let keep = i < from || !dropped.get(i - from).copied().unwrap_or(false);
            i += 1;
            keep
        });
        self.findings.extend(summaries);
    }

    /// Moves everything reported into `other` into this sink.
    pub fn merge(&mut self, other: Sink) {
        append(&mut self.findings, other.findings);
        append(&mut self.artifacts, other.artifacts);
        append(&mut self.packages, other.packages);
        self.omitted.merge(other.omitted);
    }

    /// Merges per-item sinks in order, copying each record once (a pairwise reduce copies the
    /// records of a 2,000-file scan a dozen times).
    pub fn merge_all(&mut self, sinks: Vec<Sink>) {
        self.findings
            .reserve(sinks.iter().map(|s| s.findings.len()).sum());
        self.artifacts
            .reserve(sinks.iter().map(|s| s.artifacts.len()).sum());
        for s in sinks {
            self.merge(s);
        }
    }

    /// Keeps at most `cap` findings and `cap` records listed once either list has grown past
    /// twice that (amortised: each compaction sorts). See [`Sink::truncate`].
    pub fn compact(&mut self, cap: usize) {
        if self.findings.len() > cap.saturating_mul(2)
            || self.artifacts.len() > cap.saturating_mul(2)
        {
            self.truncate(cap);
        }
    }

    /// Lists at most `cap` findings (the most severe first, then by location) and `cap` records
    /// (by location), counting the rest in [`Sink::omitted`]. Which entries stay listed depends
    /// only on the entries, never on the order workers finished in.
    pub fn truncate(&mut self, cap: usize) {
        if self.findings.len() > cap {
            self.findings.par_sort_by(|a, b| {
                (std::cmp::Reverse(a.severity), a.sort_key())
                    .cmp(&(std::cmp::Reverse(b.severity), b.sort_key()))
            });
            self.findings.dedup();
            for f in self.findings.drain(cap.min(self.findings.len())..) {
                *self
                    .omitted
                    .findings
                    .entry((f.code, f.severity))
                    .or_default() += 1;
            }
        }
        if self.artifacts.len() > cap {
            self.artifacts.par_sort_unstable();
            self.artifacts.dedup();
            for a in self.artifacts.drain(cap.min(self.artifacts.len())..) {
                let e = self
                    .omitted
                    .artifacts
                    .entry((a.status.kind().to_owned(), a.format))
                    .or_default();
                e.0 += 1;
                e.1 = e.1.saturating_add(a.size);
            }
        }
    }
}

/// `a.extend(b)`, taking `b`'s allocation when `a` is empty.
fn append<T>(a: &mut Vec<T>, b: Vec<T>) {
    if a.is_empty() && a.capacity() < b.len() {
        *a = b;
    } else {
        a.extend(b);
    }
}
