//! Run policy: the `--fail-on` threshold and how a report becomes an exit status. Kept apart from
//! scanners so the gate and the CLI decide the same way.

use crate::finding::Severity;
use crate::report::Report;

/// The default threshold: any finding of low severity or above fails the run, as in modelscan
/// (`info` findings are notes: a TorchScript archive, a listed custom object).
pub const DEFAULT_FAIL_ON: Severity = Severity::Low;

/// The verdict of a run at a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Something was scanned, nothing failed, nothing reached the threshold.
    Clean,
    /// At least one finding at or above the threshold.
    Findings,
    /// No finding at the threshold, but some artifact failed to scan.
    Errors,
    /// Nothing supported was scanned.
    NothingScanned,
}

impl Verdict {
    pub fn of(report: &Report, fail_on: Severity) -> Self {
        match report.exit_code(fail_on) {
            0 => Verdict::Clean,
            1 => Verdict::Findings,
            2 => Verdict::Errors,
            _ => Verdict::NothingScanned,
        }
    }
}
