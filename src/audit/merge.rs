//! `modelgate report merge`: the shard reports of one audit, as one report. Shards merge only
//! when they were audited under the same rules (signature database and policy) with the same
//! shard count, and every shard is present exactly once; anything else is refused with the file
//! and shard that do not fit, because a merged report missing a shard would read as "clean" for
//! every artifact that shard held.

use std::collections::BTreeMap;

use crate::finding::Sink;
use crate::report::Report;

use super::report::{AuditReport, AuditSection, RunStats, ShardInfo};
use super::AuditError;

/// Merges shard reports; `reports` are (file name, report) pairs, the names used in errors.
pub fn merge(reports: Vec<(String, AuditReport)>) -> Result<AuditReport, AuditError> {
    let refuse = |m: String| Err(AuditError::Merge(m));
    let Some((first_name, first)) = reports.first() else {
        return refuse("no reports to merge".into());
    };
    let want = first.audit.shard.clone();
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, r) in &reports {
        let s = &r.audit.shard;
        if s.signatures_digest != want.signatures_digest {
            return refuse(format!(
                "{name} was audited with signature database {} but {first_name} with {}: re-run the shards with one database",
                s.signatures_digest, want.signatures_digest
            ));
        }
        if s.policy_digest != want.policy_digest {
            return refuse(format!(
                "{name} was audited under another policy ({}) than {first_name} ({}): re-run the shards with one policy",
                s.policy_digest, want.policy_digest
            ));
        }
        if s.count != want.count {
            return refuse(format!(
                "{name} is a shard of {} but {first_name} of {}",
                s.count, want.count
            ));
        }
        if r.audit.sources != first.audit.sources {
            return refuse(format!(
                "{name} audited other sources ({:?}) than {first_name} ({:?})",
                r.audit.sources, first.audit.sources
            ));
        }
        for i in &s.covers {
            if let Some(other) = seen.insert(*i, name) {
                return refuse(format!(
                    "shard {i} of {} appears twice: in {other} and in {name}",
                    want.count
                ));
            }
        }
    }
    let missing: Vec<String> = (0..want.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return refuse(format!(
            "shard {} of {} is missing (shards are numbered from 0); merge every shard's report",
            missing.join(", "),
            want.count
        ));
    }
    let mut sink = Sink::default();
    let mut run = RunStats::default();
    let mut entries = 0usize;
    for (_, r) in &reports {
        run.add(&r.audit.run);
        entries = entries
            .saturating_add(r.report.findings.len())
            .saturating_add(r.report.artifacts.len());
    }
    run.cache.clone_from(&first.audit.run.cache);
    let sources = first.audit.sources.clone();
    let targets = first.report.targets.clone();
    let signatures = first.report.signatures.clone();
    for (_, r) in reports {
        let Report {
            findings,
            artifacts,
            packages,
            omitted,
            ..
        } = r.report;
        sink.merge(Sink {
            findings,
            artifacts,
            packages,
            omitted,
        });
    }
    // Every shard already applied the run's entry cap; the merge lists what they listed.
    let report = Report::build(targets, &signatures, entries.max(1), sink);
    let shard = ShardInfo {
        index: 0,
        count: want.count,
        signatures_digest: want.signatures_digest,
        policy_digest: want.policy_digest,
        covers: (0..want.count).collect(),
    };
    let audit = AuditSection::summarise(&report, sources, shard, run);
    Ok(AuditReport { report, audit })
}
