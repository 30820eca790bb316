//! Run policy: the `--fail-on` threshold, per-code severity overrides, and the one [`Verdict`] on a
//! report. Kept apart from scanners, and the only place "does this report pass?" is decided, so
//! the exit code of `scan`, the refusal of `sign` and the refusal of `convert` can never disagree.

use std::collections::BTreeMap;
use std::fmt;

use crate::finding::Severity;
use crate::report::Report;

/// The default threshold: any finding of low severity or above fails the run, as in modelscan
/// (`info` findings are notes: a TorchScript archive, a listed custom object).
pub const DEFAULT_FAIL_ON: Severity = Severity::Low;

/// The verdict on a report at a threshold. Every consumer derives from it: exit codes
/// ([`Verdict::exit_code`]), `sign`'s refusal and `convert`'s refusal ([`Verdict::refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Something was scanned, nothing failed, no finding reached the threshold.
    Approved,
    /// Not approved, and why.
    Refused(Refusal),
}

/// Why a report is not approved. The order of the checks is the precedence: findings dominate
/// scan errors, which dominate "nothing scanned" (a pipeline must not read a failed scan with a
/// finding as a mere error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Findings at or above the threshold (listed or omitted from the report).
    Findings { count: usize, threshold: Severity },
    /// Some artifact failed to scan.
    ScanErrors { count: usize },
    /// Nothing could be scanned (only unsupported formats): nothing was approved.
    NothingScanned,
}

impl Verdict {
    /// The verdict on `report` at `fail_on`. Findings count whether listed or omitted past the
    /// report's entry cap ([`Report::count_at_or_above`]).
    pub fn of(report: &Report, fail_on: Severity) -> Self {
        let at_threshold = report.count_at_or_above(fail_on);
        if at_threshold > 0 {
            Verdict::Refused(Refusal::Findings {
                count: usize::try_from(at_threshold).unwrap_or(usize::MAX),
                threshold: fail_on,
            })
        } else if report.summary.failed > 0 {
            Verdict::Refused(Refusal::ScanErrors {
                count: report.summary.failed,
            })
        } else if report.summary.scanned == 0 {
            Verdict::Refused(Refusal::NothingScanned)
        } else {
            Verdict::Approved
        }
    }

    pub fn is_approved(self) -> bool {
        self == Verdict::Approved
    }

    /// Why the report was refused, or `None` when it was approved.
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            Verdict::Approved => None,
            Verdict::Refused(r) => Some(r),
        }
    }

    /// The process exit code (modelscan's codes, with findings dominating): 0 approved,
    /// 1 findings at or above the threshold, 2 scan errors, 3 nothing scanned.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Approved => 0,
            Verdict::Refused(Refusal::Findings { .. }) => 1,
            Verdict::Refused(Refusal::ScanErrors { .. }) => 2,
            Verdict::Refused(Refusal::NothingScanned) => 3,
        }
    }
}

impl Refusal {
    /// Why `report` is not approved at `fail_on`, or `None` when it is (a shorthand for
    /// [`Verdict::of`] kept for `sign`'s callers).
    pub fn of(report: &Report, fail_on: Severity) -> Option<Refusal> {
        Verdict::of(report, fail_on).refusal()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Findings { count, threshold } => {
                write!(f, "{count} finding(s) at or above {threshold}")
            }
            Refusal::ScanErrors { count } => write!(f, "{count} artifact(s) failed to scan"),
            Refusal::NothingScanned => f.write_str(
                "no file in the model could be scanned (only unsupported formats); nothing was approved",
            ),
        }
    }
}

/// A run's policy: the threshold and the organisation's severity overrides per finding code
/// (`[policy]` in modelgate.toml). Overrides are applied to the report itself, so what a user
/// reads in any output format is what the verdict was computed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub fail_on: Severity,
    /// Finding code → the severity it is reported at instead of its own.
    pub overrides: BTreeMap<String, Severity>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::at(DEFAULT_FAIL_ON)
    }
}

impl Policy {
    /// A policy with a threshold and no overrides.
    pub fn at(fail_on: Severity) -> Self {
        Policy {
            fail_on,
            overrides: BTreeMap::new(),
        }
    }

    /// Rewrites the severity of every finding whose code has an override, listed or omitted,
    /// and recomputes the summary. A no-op without overrides.
    pub fn apply(&self, report: &mut Report) {
        if self.overrides.is_empty() {
            return;
        }
        let mut changed = false;
        for f in &mut report.findings {
            if let Some(sev) = self.overrides.get(&f.code) {
                changed |= f.severity != *sev;
                f.severity = *sev;
            }
        }
        let omitted = std::mem::take(&mut report.omitted.findings);
        for ((code, sev), n) in omitted {
            let sev = self.overrides.get(&code).copied().unwrap_or(sev);
            *report.omitted.findings.entry((code, sev)).or_default() += n;
        }
        if changed {
            // Severity is part of the sort key; keep the report ordered as `Report::build` does.
            report
                .findings
                .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        }
        report.recount_findings();
    }

    /// Applies the overrides, then judges the report at the threshold.
    pub fn judge(&self, report: &mut Report) -> Verdict {
        self.apply(report);
        Verdict::of(report, self.fail_on)
    }
}

/// The rules an admission decision adds to the threshold, for every place that admits or denies
/// an artifact (the gate's routes, the registry integrations, `mlflow sync`): a scan that ran out
/// of budget is not an approval whatever the threshold (`deny_on_inconclusive`), and a file the
/// engine could not read is never admitted (`deny_on_unscanned`). Both are on by default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Admission {
    pub fail_on: Severity,
    /// Deny when any part of the artifact ran out of a scan budget (`engine/inconclusive`), even
    /// when the threshold is above its severity.
    pub deny_on_inconclusive: bool,
    /// Deny when any file was skipped or could not be read, even without a finding.
    pub deny_on_unscanned: bool,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            fail_on: DEFAULT_FAIL_ON,
            deny_on_inconclusive: true,
            deny_on_unscanned: true,
        }
    }
}

impl Admission {
    /// Why `report` is not admitted under these rules, the first rule that refuses it; empty
    /// when it is admitted. Severity overrides are applied to the report before this.
    pub fn refusals(&self, report: &Report) -> Vec<String> {
        let mut reasons = Vec::new();
        match Verdict::of(report, self.fail_on) {
            Verdict::Approved => {}
            Verdict::Refused(Refusal::Findings { count, threshold }) => {
                let top = report
                    .findings
                    .iter()
                    .filter(|f| f.severity >= threshold)
                    .max_by_key(|f| f.severity);
                let example = top.map_or(String::new(), |f| {
                    format!(
                        " (most severe: {} {} at {})",
                        f.severity, f.code, f.location
                    )
                });
                reasons.push(format!(
                    "{count} finding(s) at or above {threshold}{example}"
                ));
            }
            Verdict::Refused(Refusal::ScanErrors { count }) => {
                reasons.push(format!(
                    "{count} artifact(s) could not be scanned to the end"
                ));
            }
            Verdict::Refused(Refusal::NothingScanned) => {
                reasons.push("nothing in the artifact could be scanned".to_owned());
            }
        }
        if self.deny_on_inconclusive
            && reasons.is_empty()
            && report
                .findings
                .iter()
                .any(|f| f.code == crate::codes::engine::BUDGET_EXCEEDED.id)
        {
            reasons.push("a scan budget ran out, so part of the artifact was not analysed".into());
        }
        if self.deny_on_unscanned && reasons.is_empty() && report.summary.skipped > 0 {
            reasons.push(format!(
                "{} file(s) of the artifact were not scanned (unsupported or skipped)",
                report.summary.skipped
            ));
        }
        reasons
    }
}

/// Report-side shorthands for the verdict (kept on `Report` for callers; decided here, so the
/// report module does not depend on the policy).
impl Report {
    /// Whether the run approves the scanned content at `threshold`: it read something, nothing
    /// failed, and no finding reaches the threshold. Delegates to [`Verdict`], which decides.
    pub fn approved(&self, threshold: Severity) -> bool {
        Verdict::of(self, threshold).is_approved()
    }

    /// The process exit code for this report at `fail_on` (see [`Verdict::exit_code`]).
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        Verdict::of(self, fail_on).exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, Location};
    use crate::report::Summary;
    use crate::signatures::SignatureDb;

    fn report(findings: Vec<Finding>, scanned: usize, failed: usize) -> Report {
        let mut r = Report {
            tool: "modelgate".into(),
            version: crate::finding::VERSION.into(),
            signatures: SignatureDb::embedded()
                .expect("embedded database")
                .info()
                .clone(),
            targets: vec!["m".into()],
            summary: Summary {
                findings_by_severity: BTreeMap::new(),
                total_findings: 0,
                max_severity: None,
                scanned,
                expanded: 0,
                skipped: 0,
                failed,
            },
            findings,
            artifacts: Vec::new(),
            packages: Vec::new(),
            omitted: crate::finding::Omitted::default(),
        };
        r.recount_findings();
        r
    }

    fn finding(code: &str, severity: Severity) -> Finding {
        let code = crate::catalog::find(code).expect("a known code");
        Finding::new(code, Location::file("requirements.txt"), "m").severity(severity)
    }

    #[test]
    fn verdict_precedence_and_exit_codes() {
        let clean = report(
            vec![finding("package/unpinned-requirement", Severity::Info)],
            1,
            0,
        );
        assert_eq!(Verdict::of(&clean, Severity::Low), Verdict::Approved);
        assert_eq!(Verdict::of(&clean, Severity::Low).exit_code(), 0);
        let bad = report(vec![finding("pickle/unsafe-global", Severity::High)], 1, 1);
        let v = Verdict::of(&bad, Severity::Medium);
        assert_eq!(
            v.refusal(),
            Some(Refusal::Findings {
                count: 1,
                threshold: Severity::Medium
            })
        );
        assert_eq!(v.exit_code(), 1);
        assert_eq!(Verdict::of(&bad, Severity::Critical).exit_code(), 2);
        assert_eq!(
            Verdict::of(&report(vec![], 0, 0), Severity::Low).exit_code(),
            3
        );
    }

    #[test]
    fn overrides_apply_before_the_verdict() {
        let mut r = report(
            vec![finding("package/unpinned-requirement", Severity::Medium)],
            1,
            0,
        );
        let mut policy = Policy::at(Severity::Low);
        assert_eq!(Verdict::of(&r, policy.fail_on).exit_code(), 1);
        policy
            .overrides
            .insert("package/unpinned-requirement".into(), Severity::Info);
        assert_eq!(policy.judge(&mut r), Verdict::Approved);
        assert_eq!(r.findings[0].severity, Severity::Info);
        assert_eq!(r.summary.max_severity, Some(Severity::Info));
        assert_eq!(r.summary.findings_by_severity[&Severity::Medium], 0);
        // Raising a code's severity refuses at a threshold it did not reach before.
        policy
            .overrides
            .insert("package/unpinned-requirement".into(), Severity::Critical);
        policy.fail_on = Severity::High;
        assert_eq!(policy.judge(&mut r).exit_code(), 1);
    }

    #[test]
    fn overrides_reach_omitted_findings() {
        let mut r = report(vec![], 1, 0);
        r.omitted
            .findings
            .insert(("package/unpinned-requirement".into(), Severity::Medium), 3);
        r.recount_findings();
        let mut policy = Policy::at(Severity::Low);
        assert_eq!(Verdict::of(&r, policy.fail_on).exit_code(), 1);
        policy
            .overrides
            .insert("package/unpinned-requirement".into(), Severity::Info);
        assert_eq!(policy.judge(&mut r), Verdict::Approved);
        assert_eq!(r.summary.total_findings, 3);
    }
}
