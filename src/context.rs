//! What the archive walker and the scanners see of the engine while they read one artifact: the
//! run's limits and budgets, and the way back into the engine for nested content. A trait, so
//! the walker and the scanners sit below the engine that implements it (the engine dispatches to
//! them; they never name it).

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, Content};
use crate::finding::{Severity, Sink};
use crate::format::Format;
use crate::pickle::WalkLimits;

/// Limits that bound the work and memory spent on one run, so hostile input yields an
/// "inconclusive" finding instead of a hang or an out-of-memory kill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Containers nested deeper than this are not opened.
    pub max_depth: u32,
    /// Members expanded from all archives in one run.
    pub max_members: u64,
    /// Bytes produced by decompression across the run; `None` scales with the input (see
    /// [`Limits::uncompressed_budget`]).
    pub max_total_uncompressed: Option<u64>,
    /// Largest allowed uncompressed/compressed ratio for one member once it has produced more than
    /// 16 MiB (bomb detection). Deflate cannot exceed about 1032:1, so the default only stops
    /// nested or bzip2/xz/zstd bombs, never a legitimately sparse checkpoint.
    pub max_ratio: u64,
    /// Members up to this size are held in memory; larger ones are spooled to a temporary file
    /// (or streamed through, when their first bytes give no reason to keep them).
    pub max_in_memory: u64,
    /// Bytes written to temporary files across the run; `None` scales with the input (see
    /// [`Limits::temp_budget`]).
    pub max_temp_bytes: Option<u64>,
    /// Largest pickle stream analysed (bytes). Larger streams are analysed up to this point.
    pub max_pickle_bytes: u64,
    /// Wall-clock seconds for one top-level file and everything inside it; `None` is unlimited.
    pub max_seconds: Option<u64>,
    /// Findings, and separately artifact records, listed in a report. Past it the report keeps the
    /// most severe findings and the first records by location, and counts the rest by code and
    /// severity (findings) or by status and format (records) under `omitted`, so memory and report
    /// size do not grow with the number of members; every verdict counts the omitted entries.
    pub max_report_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_members: 1_000_000,
            max_total_uncompressed: None,
            max_ratio: 5_000,
            max_in_memory: 64 * 1024 * 1024,
            max_temp_bytes: None,
            max_pickle_bytes: 4 * 1024 * 1024 * 1024,
            max_seconds: Some(600),
            max_report_entries: 100_000,
        }
    }
}

const GIB: u64 = 1024 * 1024 * 1024;

impl Limits {
    /// The run's decompression budget for `input` bytes of input: the explicit limit, or 100
    /// decompressed bytes per input byte and at least 2 GiB. Real model archives expand a few
    /// times (weights barely compress); a nested bomb expands by orders of magnitude more, and
    /// stops here after seconds instead of after hundreds of gigabytes.
    pub fn uncompressed_budget(&self, input: u64) -> u64 {
        self.max_total_uncompressed
            .unwrap_or_else(|| input.saturating_mul(100).max(2 * GIB))
    }

    /// The run's budget of temporary-file bytes for `input` bytes of input: the explicit limit,
    /// or four times the input and at least 1 GiB.
    pub fn temp_budget(&self, input: u64) -> u64 {
        self.max_temp_bytes
            .unwrap_or_else(|| input.saturating_mul(4).max(GIB))
    }
}

/// The engine as the walker and the scanners see it.
pub trait ScanContext: Sync {
    /// The run's limits.
    fn limits(&self) -> &Limits;
    /// Unknown imports are high instead of medium.
    fn strict(&self) -> bool;
    /// Whether artifact digests are recorded (a stream that is not kept is hashed as it passes).
    fn hash_artifacts(&self) -> bool;
    /// Scans `content`, a member of `parent`, through the engine (sniffed unless `format` is
    /// given by the container's structure), enforcing the depth budget.
    fn scan_nested(
        &self,
        parent: &Artifact,
        member: &str,
        content: Content,
        format: Option<Format>,
        sink: &mut Sink,
    );
    /// Hook for what an archive's member list alone reveals (a TorchScript program, weights
    /// named like something else), called by the walker once it has read the list.
    fn archive_listed(&self, a: &Artifact, names: &[&str], sink: &mut Sink);
    /// Counts one expanded member against the run budget; `false` when the budget is spent.
    fn take_member(&self) -> bool;
    /// Counts decompressed bytes against the run budget; `false` when the budget is spent.
    fn take_uncompressed(&self, n: u64) -> bool;
    /// Whether the run's decompression budget is already spent.
    fn uncompressed_spent(&self) -> bool;
    /// The run's decompression budget in bytes (for messages).
    fn uncompressed_budget(&self) -> u64;
    /// Counts bytes written to temporary files; `false` when the budget is spent.
    fn take_temp(&self, n: u64) -> bool;
    /// The run's temporary-file budget in bytes (for messages).
    fn temp_budget(&self) -> u64;
    /// Whether this top-level file's time budget is spent.
    fn out_of_time(&self) -> bool;
    /// Pickle walk budgets for this context (the defaults, with the file's deadline).
    fn walk_limits(&self) -> WalkLimits;

    /// The severity given to an import that is neither allowed nor denied.
    fn unknown_severity(&self) -> Severity {
        if self.strict() {
            Severity::High
        } else {
            Severity::Medium
        }
    }
}
