//! The verdict on a model version, written back to it as tags, and the optional quarantine.
//!
//! MLflow has no convention for a scan status, so modelgate writes namespaced model-version tags:
//! `modelgate.verdict` (`passed`, `failed` or `error`), `modelgate.findings` (counts by severity,
//! JSON), `modelgate.signatures` (the digest of the signature database the scan used),
//! `modelgate.report` (the request id of the decision in the gate's audit trail, or of the CLI
//! run) and `modelgate.reason` (why, when not passed). `modelgate.verdict` is written last, so a
//! version whose write-back was cut short has no verdict and is scanned again by the next sync.

use serde::Serialize;

use super::{Client, MlflowError, VersionRef};

pub const VERDICT: &str = "modelgate.verdict";
pub const FINDINGS: &str = "modelgate.findings";
pub const SIGNATURES: &str = "modelgate.signatures";
pub const REPORT: &str = "modelgate.report";
pub const REASON: &str = "modelgate.reason";
/// The alias a failed version gets with `[mlflow] block_stage_transition`.
pub const QUARANTINE_ALIAS: &str = "quarantined";

/// MLflow's limit on a model-version tag value.
const MAX_TAG_VALUE: usize = 5000;

/// The verdict on a version, as the tag spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Scanned, and approved by the policy.
    Passed,
    /// Scanned, and refused (findings at the threshold, unreadable files, nothing scanned).
    Failed,
    /// Not judged: the files could not be fetched or the scan did not finish.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }
}

/// The outcome of a scan judged in this process (the CLI's `mlflow sync` and `scan
/// --mlflow-model --mlflow-tag`): `policy` (overrides applied to the report) under the admission
/// rules of `[policy]` ([`crate::policy::Admission`], the gate's own judgement), so a version gets
/// the same tag whichever way it was scanned.
pub fn judge(
    report: &mut crate::report::Report,
    policy: &crate::policy::Policy,
    rules: &crate::config::PolicyConfig,
) -> (Outcome, Vec<String>) {
    policy.apply(report);
    let reasons = rules.admission(policy.fail_on).refusals(report);
    let outcome = if reasons.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    (outcome, reasons)
}

/// Finding counts by severity, worst first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
}

impl Counts {
    /// The counts of a report's summary.
    pub fn of(report: &crate::report::Report) -> Counts {
        use crate::finding::Severity as S;
        let n = |s: S| {
            report
                .summary
                .findings_by_severity
                .get(&s)
                .map_or(0, |&c| c as u64)
        };
        Counts {
            critical: n(S::Critical),
            high: n(S::High),
            medium: n(S::Medium),
            low: n(S::Low),
            info: n(S::Info),
        }
    }
}

/// Everything written back to one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictTags {
    pub outcome: Outcome,
    pub counts: Counts,
    pub signatures_digest: String,
    pub report_id: String,
    pub reasons: Vec<String>,
}

impl VerdictTags {
    /// The tags as (key, value) pairs, in the order they are written (the verdict last).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (
                FINDINGS,
                serde_json::to_string(&self.counts).unwrap_or_default(),
            ),
            (SIGNATURES, self.signatures_digest.clone()),
            (REPORT, self.report_id.clone()),
            (REASON, clip(&self.reasons.join("; "))),
        ];
        out.push((VERDICT, self.outcome.as_str().to_owned()));
        out
    }

    /// Writes the tags to `v`, the verdict last.
    pub async fn write(&self, client: &Client, v: &VersionRef) -> Result<(), MlflowError> {
        for (key, value) in self.pairs() {
            client.set_tag(&v.name, &v.version, key, &value).await?;
        }
        Ok(())
    }
}

/// A tag value within MLflow's limit, cut at a character boundary.
fn clip(s: &str) -> String {
    if s.len() <= MAX_TAG_VALUE {
        return s.to_owned();
    }
    let mut end = MAX_TAG_VALUE.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}...", s.get(..end).unwrap_or_default())
}

/// Quarantines a failed version: removes every alias pointing at it, then points the
/// `quarantined` alias at it. Returns the aliases removed.
///
/// MLflow aliases belong to the registered model, one version each: `quarantined` names the most
/// recently quarantined version, earlier failed versions keep their `modelgate.verdict=failed`
/// tag. MLflow itself enforces none of this: anyone with edit rights can point an alias back at
/// the version (the gate removes it again when it hears of it, [`revert_alias`]), and
/// `models:/NAME/VERSION` loads it regardless; deployments must resolve models by alias (or
/// check the tag) for the quarantine to mean anything.
pub async fn quarantine(client: &Client, v: &VersionRef) -> Result<Vec<String>, MlflowError> {
    let current = client.model_version(&v.name, &v.version).await?;
    let mut removed = Vec::new();
    for alias in current.aliases {
        if alias != QUARANTINE_ALIAS {
            client.delete_alias(&v.name, &alias).await?;
            removed.push(alias);
        }
    }
    client
        .set_alias(&v.name, QUARANTINE_ALIAS, &v.version)
        .await?;
    Ok(removed)
}

/// Removes `alias` again when it points at a version whose verdict is `failed` (someone set it
/// after the quarantine); whether it was removed. The `quarantined` alias itself stays.
pub async fn revert_alias(
    client: &Client,
    v: &VersionRef,
    alias: &str,
) -> Result<bool, MlflowError> {
    if alias == QUARANTINE_ALIAS {
        return Ok(false);
    }
    let current = client.model_version(&v.name, &v.version).await?;
    if current.tag(VERDICT) != Some(Outcome::Failed.as_str())
        || !current.aliases.iter().any(|a| a == alias)
    {
        return Ok(false);
    }
    client.delete_alias(&v.name, alias).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_files_fail_a_version_unless_the_policy_allows_them() {
        let engine = crate::Engine::with_defaults().unwrap();
        let policy = crate::policy::Policy::at(crate::finding::Severity::Low);
        let strict = crate::config::PolicyConfig::default();
        let mut notes = engine.scan_bytes("notes.txt", b"hello".to_vec());
        assert_eq!(judge(&mut notes, &policy, &strict).0, Outcome::Failed);
        let mut data = engine.scan_bytes("model.pkl", b"\x80\x02]q\x00(K\x01K\x02e.".to_vec());
        assert_eq!(
            judge(&mut data, &policy, &strict),
            (Outcome::Passed, vec![])
        );
        let mut payload = engine.scan_bytes(
            "model.pkl",
            b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.".to_vec(),
        );
        let (o, why) = judge(&mut payload, &policy, &strict);
        assert_eq!(o, Outcome::Failed);
        assert!(why[0].contains("finding"), "{why:?}");
    }

    #[test]
    fn the_verdict_is_written_last_and_values_fit_mlflow() {
        let t = VerdictTags {
            outcome: Outcome::Failed,
            counts: Counts {
                critical: 1,
                ..Counts::default()
            },
            signatures_digest: "sha256:ab".into(),
            report_id: "r1".into(),
            reasons: vec!["x".repeat(6000)],
        };
        let pairs = t.pairs();
        assert_eq!(pairs.last().unwrap(), &(VERDICT, "failed".to_owned()));
        assert_eq!(
            pairs[0].1,
            r#"{"critical":1,"high":0,"medium":0,"low":0,"info":0}"#
        );
        assert!(pairs.iter().all(|(_, v)| v.len() <= MAX_TAG_VALUE));
    }
}
