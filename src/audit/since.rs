//! `--since PREVIOUS.json`: what changed between two audits of the same sources. A finding is the
//! same finding when its location, code and message are the same (its severity may have been
//! overridden since); an artifact is the same artifact when its name is.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::report::Report;

/// What changed since a previous audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinceDiff {
    /// The previous report as given.
    pub previous: String,
    /// Findings now that the previous audit did not have.
    pub new_findings: Vec<Finding>,
    /// Findings the previous audit had and this one does not (fixed, or their artifact removed).
    pub fixed: Vec<Finding>,
    /// Findings in both.
    pub still_open: usize,
    /// Artifacts now that the previous audit did not list.
    pub new_artifacts: Vec<String>,
    /// Artifacts the previous audit listed and this one does not.
    pub removed_artifacts: Vec<String>,
}

fn key(f: &Finding) -> (&crate::finding::Location, &str, &str) {
    (&f.location, &f.code, &f.message)
}

fn tops(r: &Report) -> BTreeSet<&str> {
    r.artifacts
        .iter()
        .map(|a| a.location.path.as_str())
        .collect()
}

impl SinceDiff {
    /// The changes from `previous` (named `name`) to `now`.
    pub fn between(name: &str, previous: &Report, now: &Report) -> SinceDiff {
        let before: BTreeSet<_> = previous.findings.iter().map(key).collect();
        let after: BTreeSet<_> = now.findings.iter().map(key).collect();
        let new_findings: Vec<Finding> = now
            .findings
            .iter()
            .filter(|f| !before.contains(&key(f)))
            .cloned()
            .collect();
        let fixed: Vec<Finding> = previous
            .findings
            .iter()
            .filter(|f| !after.contains(&key(f)))
            .cloned()
            .collect();
        let still_open = now
            .findings
            .iter()
            .filter(|f| before.contains(&key(f)))
            .count();
        let (was, is) = (tops(previous), tops(now));
        SinceDiff {
            previous: name.to_owned(),
            new_findings,
            fixed,
            still_open,
            new_artifacts: is.difference(&was).map(|s| (*s).to_owned()).collect(),
            removed_artifacts: was.difference(&is).map(|s| (*s).to_owned()).collect(),
        }
    }
}
