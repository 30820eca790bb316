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

/// The full documentation of one code as `modelgate explain CODE` prints it (and the Python
/// API's `explain` returns it), ending in a newline.
pub fn describe(c: &Code) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{} ({})\n\n{}\n", c.id, c.severity, c.summary);
    let _ = writeln!(out, "What it detects\n  {}\n", c.detects);
    let _ = writeln!(out, "Why it is dangerous\n  {}\n", c.why);
    let _ = writeln!(out, "Example\n  {}\n", c.example);
    let _ = writeln!(out, "Remediation\n  {}", c.remediation);
    if !c.references.is_empty() {
        let _ = writeln!(out, "\nReferences");
        for r in c.references {
            let _ = writeln!(out, "  {r}");
        }
    }
    out
}
