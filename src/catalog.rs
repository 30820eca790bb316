//! The catalog of every finding code this build can report, for `modelgate explain`, SARIF rules
//! and CycloneDX. It sits above everything that declares codes (engine, walker, image reader,
//! package inventory, scanners) and nothing below it imports it: code declarations stay with
//! the module that reports them, and only the catalog gathers them.

use crate::codes::{engine, Code};

/// Every code known to this build: the engine's plus each registered scanner's.
pub fn all() -> Vec<&'static Code> {
    let mut v: Vec<&'static Code> = engine::CODES.to_vec();
    v.extend(crate::walk::CODES.iter().copied());
    v.extend(crate::image::CODES.iter().copied());
    v.extend(crate::packages::CODES.iter().copied());
    for s in crate::scanners::SCANNERS {
        v.extend(s.codes().iter().copied());
    }
    v.sort_by_key(|c| c.id);
    v.dedup_by_key(|c| c.id);
    v
}

/// Looks a code up by its id.
pub fn find(id: &str) -> Option<&'static Code> {
    all().into_iter().find(|c| c.id == id)
}
