//! The gate's answer: `admit`, `deny` or `error`, with reasons. `admit` and `deny` are
//! [`crate::policy::Admission`]'s judgement (the one verdict every command uses, plus the two
//! admission rules a pipeline expects by default). `error` is reserved for the gate's own
//! failures (a worker that died, a deadline): never cached, never `admit`.

use crate::report::Report;

/// The gate's three answers are the store's verdicts: what is answered is what is recorded.
pub use crate::store::Verdict as GateVerdict;

/// The gate's policy: the `[policy]` threshold and its admission rules.
pub use crate::policy::Admission as GatePolicy;

/// `report` judged under `policy` (severity overrides are applied to the report before this).
pub fn judge(report: &Report, policy: &GatePolicy) -> (GateVerdict, Vec<String>) {
    let reasons = policy.refusals(report);
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
    use crate::finding::Severity;
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
