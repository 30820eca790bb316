//! The gate's answer: `admit`, `deny` or `error`, with reasons. It is [`policy::Verdict`] (the
//! one verdict every command uses) plus the two gate rules a pipeline expects by default: a scan
//! that ran out of budget is not an approval whatever the threshold (`deny_on_inconclusive`), and
//! a file the engine could not read is never admitted (`deny_on_unscanned`). `error` is reserved
//! for the gate's own failures (a worker that died, a deadline): never cached, never `admit`.

use serde::Serialize;

use crate::finding::Severity;
use crate::policy::{Refusal, Verdict};
use crate::report::Report;

/// The gate's three answers are the store's verdicts: what is answered is what is recorded.
pub use crate::store::Verdict as GateVerdict;

/// The gate's policy (the `[policy]` section plus its gate-only switches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatePolicy {
    pub fail_on: Severity,
    /// Deny when any part of the artifact ran out of a scan budget (`engine/inconclusive`), even
    /// when the threshold is above its severity.
    pub deny_on_inconclusive: bool,
    /// Deny when any file was skipped or could not be read, even without a finding.
    pub deny_on_unscanned: bool,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            fail_on: crate::policy::DEFAULT_FAIL_ON,
            deny_on_inconclusive: true,
            deny_on_unscanned: true,
        }
    }
}

/// `report` judged under `policy` (severity overrides are applied to the report before this).
pub fn judge(report: &Report, policy: &GatePolicy) -> (GateVerdict, Vec<String>) {
    let mut reasons = Vec::new();
    match Verdict::of(report, policy.fail_on) {
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
            reasons.push("nothing in the upload could be scanned".to_owned());
        }
    }
    if policy.deny_on_inconclusive
        && report
            .findings
            .iter()
            .any(|f| f.code == crate::codes::engine::BUDGET_EXCEEDED.id)
        && reasons.is_empty()
    {
        reasons.push("a scan budget ran out, so part of the artifact was not analysed".into());
    }
    if policy.deny_on_unscanned && report.summary.skipped > 0 && reasons.is_empty() {
        reasons.push(format!(
            "{} file(s) in the upload were not scanned (unsupported or skipped)",
            report.summary.skipped
        ));
    }
    let verdict = if reasons.is_empty() {
        GateVerdict::Admit
    } else {
        GateVerdict::Deny
    };
    (verdict, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;

    fn engine() -> &'static Engine {
        static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
        E.get_or_init(|| Engine::with_defaults().expect("engine"))
    }

    #[test]
    fn a_payload_is_denied_with_its_most_severe_finding() {
        let r = engine().scan_bytes(
            "model.pkl",
            b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.".to_vec(),
        );
        let (v, why) = judge(&r, &GatePolicy::default());
        assert_eq!(v, GateVerdict::Deny);
        assert!(why[0].contains("pickle/unsafe-global"), "{why:?}");
    }

    #[test]
    fn plain_data_is_admitted() {
        let r = engine().scan_bytes("model.pkl", b"\x80\x02]q\x00(K\x01K\x02e.".to_vec());
        assert_eq!(
            judge(&r, &GatePolicy::default()),
            (GateVerdict::Admit, vec![])
        );
    }

    #[test]
    fn unreadable_uploads_are_never_admitted() {
        let r = engine().scan_bytes("notes.txt", b"hello".to_vec());
        let (v, why) = judge(&r, &GatePolicy::default());
        assert_eq!(v, GateVerdict::Deny, "{why:?}");
    }

    #[test]
    fn an_inconclusive_scan_is_denied_above_its_severity() {
        let mut r = engine().scan_bytes("model.pkl", b"\x80\x02]q\x00(K\x01K\x02e.".to_vec());
        let f = crate::finding::Finding::new(
            &crate::codes::engine::BUDGET_EXCEEDED,
            crate::finding::Location::file("model.pkl"),
            "budget",
        );
        r.findings.push(f);
        let policy = GatePolicy {
            fail_on: Severity::Critical,
            ..GatePolicy::default()
        };
        assert_eq!(judge(&r, &policy).0, GateVerdict::Deny);
        let lax = GatePolicy {
            deny_on_inconclusive: false,
            ..policy
        };
        assert_eq!(judge(&r, &lax).0, GateVerdict::Admit);
    }
}
