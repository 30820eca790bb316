//! modelgate's scan attestation: what was checked before a model was signed.
//!
//! It is a second in-toto Statement v1, predicate type [`SCAN_PREDICATE_TYPE`], signed with the
//! same key into its own Sigstore bundle and written beside the OMS signature as
//! `<signature>.scan.json` (default `model.sig.scan.json`). It stays out of `model.sig` because
//! `model_signing` parses bundles strictly (unknown fields are rejected) and only reads the first
//! DSSE signature of one payload; a second file keeps `model_signing verify` working unchanged.
//!
//! Binding: its subject is the same `{name, sha256}` as the OMS statement's (the digest over every
//! file digest), and `model.oms_payload_sha256` is the SHA-256 of the exact OMS payload, so the
//! attestation cannot be moved to another model or another signature. When the signature sits
//! inside the model directory, the attestation's path is recorded in the OMS `ignore_paths`, so a
//! verifier does not count it as an extra file.
//!
//! The predicate records the verdict, the `--fail-on` threshold, strictness and any severity
//! overrides, the signature database (version, digest, files, entry count), the report summary,
//! and the findings and skipped artifacts below the threshold (capped at [`MAX_LISTED`] each, with
//! paths relative to the model root). A gate can then require, for example, a minimum database version or zero skips.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Severity;
use crate::finding::Status;
use crate::report::{Report, Summary};
use crate::signatures::DbInfo;

/// Predicate type of modelgate scan attestations.
pub const SCAN_PREDICATE_TYPE: &str = "https://modelgate.dev/scan/v1";

/// Most findings (and skipped artifacts) listed in one attestation.
pub const MAX_LISTED: usize = 1000;

/// The scan verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing at or above the threshold, no scan errors, something scanned.
    Approved,
}

/// The tool that scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerInfo {
    pub name: String,
    pub version: String,
}

/// The policy the verdict was reached under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Findings at or above this severity refuse signing.
    pub fail_on: Severity,
    /// Unknown imports treated as high.
    pub strict: bool,
    /// Severity overrides per finding code that the verdict was reached under (absent when
    /// none, so attestations without overrides read as before).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Severity>,
}

impl Policy {
    /// The attested form of the run policy `p` with the engine's `strict` setting.
    pub fn of(p: &crate::policy::Policy, strict: bool) -> Self {
        Policy {
            fail_on: p.fail_on,
            strict,
            overrides: p.overrides.clone(),
        }
    }
}

/// One finding below the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingBrief {
    pub code: String,
    pub severity: Severity,
    /// `path[:member...]`, relative to the model root.
    pub location: String,
    pub message: String,
}

/// One artifact that was not scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedBrief {
    pub location: String,
    pub reason: String,
}

/// What the attestation is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Files covered by the signature.
    pub files: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// SHA-256 (hex) of the OMS statement payload this attestation accompanies; empty when the
    /// subject is not a model directory (e.g. an image manifest digest).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oms_payload_sha256: String,
}

/// The scan predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanPredicate {
    pub verdict: Verdict,
    pub scanner: ScannerInfo,
    pub policy: Policy,
    pub signature_database: DbInfo,
    pub summary: Summary,
    #[serde(default)]
    pub findings: Vec<FindingBrief>,
    #[serde(default)]
    pub findings_truncated: bool,
    #[serde(default)]
    pub skipped: Vec<SkippedBrief>,
    #[serde(default)]
    pub skipped_truncated: bool,
    pub model: ModelRef,
    /// RFC 3339 time of signing.
    pub scanned_at: String,
}

/// Makes a report location relative to `root_display` (the model path as given to the scan).
fn relative(location: &str, root_display: &str) -> String {
    let trimmed = root_display.trim_end_matches('/');
    if trimmed.is_empty() {
        return location.to_owned();
    }
    match location.strip_prefix(trimmed) {
        Some("") => ".".to_owned(),
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/').to_owned(),
        _ => location.to_owned(),
    }
}

impl ScanPredicate {
    /// The predicate for an approved `report` at `policy`; `root_display` is the model path as it
    /// appears in the report, stripped from locations.
    pub fn from_report(
        report: &Report,
        policy: Policy,
        root_display: &str,
        model: ModelRef,
    ) -> Self {
        let findings: Vec<FindingBrief> = report
            .findings
            .iter()
            .take(MAX_LISTED)
            .map(|f| FindingBrief {
                code: f.code.clone(),
                severity: f.severity,
                location: relative(&f.location.display_chain(), root_display),
                message: f.message.clone(),
            })
            .collect();
        let skipped_all: Vec<SkippedBrief> = report
            .artifacts
            .iter()
            .filter_map(|a| match &a.status {
                Status::Skipped { reason } => Some(SkippedBrief {
                    location: relative(&a.location.display_chain(), root_display),
                    reason: reason.clone(),
                }),
                _ => None,
            })
            .collect();
        let skipped_truncated = skipped_all.len() > MAX_LISTED;
        ScanPredicate {
            verdict: Verdict::Approved,
            scanner: ScannerInfo {
                name: "modelgate".into(),
                version: crate::finding::VERSION.into(),
            },
            policy,
            signature_database: report.signatures.clone(),
            summary: report.summary.clone(),
            findings_truncated: report.findings.len() > findings.len(),
            findings,
            skipped: skipped_all.into_iter().take(MAX_LISTED).collect(),
            skipped_truncated,
            model,
            scanned_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn locations_become_relative() {
        assert_eq!(relative("/m/dir/a.pkl", "/m/dir"), "a.pkl");
        assert_eq!(relative("/m/dir/a.pkl:x", "/m/dir/"), "a.pkl:x");
        assert_eq!(relative("/m/dirx/a", "/m/dir"), "/m/dirx/a");
        assert_eq!(relative("/m/f.bin", "/m/f.bin"), ".");
    }
}
