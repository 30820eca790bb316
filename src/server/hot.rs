//! The gate's in-process front of the verdict cache: the verdicts this process answered or read
//! lately, ready to send, so a repeated artifact costs neither a round trip to the store's reader
//! thread nor decompressing and re-reading its stored report.
//!
//! It can never disagree with the store. A stored cache entry is never updated in place (the
//! first writer of a key wins, see [`crate::store`]), and this cache keeps only what the store
//! answered or accepted under the same key. The key's other two parts, the signature-database
//! and policy digests, are fixed for the life of the process, so the artifact's sha256 names the
//! entry; a gate started with a new database or policy starts with an empty front.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::value::RawValue;

use crate::store::SeverityCounts;

use super::verdict::GateVerdict;

/// A verdict as the gate sends it for a cache hit.
#[derive(Debug)]
pub struct HotVerdict {
    pub verdict: GateVerdict,
    pub reasons: Vec<String>,
    pub report: Option<Box<RawValue>>,
    pub counts: SeverityCounts,
}

impl HotVerdict {
    /// Roughly what the entry holds in memory, for the byte budget.
    fn weight(&self, key: &str) -> usize {
        let reasons: usize = self.reasons.iter().map(|r| r.len() + 24).sum();
        let report = self.report.as_ref().map_or(0, |r| r.get().len());
        key.len() + reasons + report + 128
    }
}

/// A byte-bounded map from artifact sha256 to its verdict; the oldest entries leave first.
#[derive(Debug)]
pub struct HotCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (Arc<HotVerdict>, usize)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl HotCache {
    /// A cache holding at most about `budget` bytes (0 turns it off).
    pub fn new(budget: usize) -> HotCache {
        HotCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The verdict for `sha256`, if this process holds it.
    pub fn get(&self, sha256: &str) -> Option<Arc<HotVerdict>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.entries.get(sha256).map(|(v, _)| Arc::clone(v))
    }

    /// Keeps `verdict` for `sha256`, evicting the oldest entries past the budget. An entry larger
    /// than the whole budget is not kept; a key already held keeps its first verdict, as the
    /// store does.
    pub fn put(&self, sha256: &str, verdict: Arc<HotVerdict>) {
        let weight = verdict.weight(sha256);
        if weight > self.budget {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.entries.contains_key(sha256) {
            return;
        }
        while inner.bytes + weight > self.budget {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = inner.entries.remove(&old) {
                inner.bytes = inner.bytes.saturating_sub(w);
            }
        }
        inner.bytes += weight;
        inner.order.push_back(sha256.to_owned());
        inner.entries.insert(sha256.to_owned(), (verdict, weight));
    }

    /// The bytes held now (for tests and the metrics).
    pub fn bytes(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(report_bytes: usize) -> Arc<HotVerdict> {
        let report = format!("\"{}\"", "x".repeat(report_bytes));
        Arc::new(HotVerdict {
            verdict: GateVerdict::Admit,
            reasons: vec![],
            report: RawValue::from_string(report).ok(),
            counts: SeverityCounts::default(),
        })
    }

    #[test]
    fn keeps_the_first_verdict_and_evicts_the_oldest_past_the_budget() {
        let cache = HotCache::new(3_000);
        cache.put("a", verdict(1_000));
        cache.put("b", verdict(1_000));
        assert!(cache.get("a").is_some() && cache.get("b").is_some());
        // A second verdict for a held key is ignored, as in the store.
        let deny = Arc::new(HotVerdict {
            verdict: GateVerdict::Deny,
            reasons: vec!["x".into()],
            report: None,
            counts: SeverityCounts::default(),
        });
        cache.put("a", deny);
        assert_eq!(cache.get("a").unwrap().verdict, GateVerdict::Admit);
        cache.put("c", verdict(1_000));
        assert!(cache.get("a").is_none(), "the oldest entry leaves first");
        assert!(cache.get("b").is_some() && cache.get("c").is_some());
        assert!(cache.bytes() <= 3_000);
    }

    #[test]
    fn an_entry_larger_than_the_budget_is_not_kept_and_zero_turns_it_off() {
        let cache = HotCache::new(500);
        cache.put("big", verdict(1_000));
        assert!(cache.get("big").is_none());
        let off = HotCache::new(0);
        off.put("a", verdict(1));
        assert!(off.get("a").is_none());
        assert_eq!(off.bytes(), 0);
    }
}
