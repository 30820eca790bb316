//! Shared helpers for integration tests: locating test resources prepared by tests/setup.sh and
//! running the real binary.
#![allow(dead_code, clippy::print_stderr)]

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory named by `var`, or `default` under the test-resources directory. Returns `None`
/// (after printing a notice) when it does not exist — except under CI, where a missing resource is
/// a failure, so a missing install step can never turn into a silently green run.
pub fn resource(var: &str, default: &str) -> Option<PathBuf> {
    let base = std::env::var_os("MODELGATE_RESOURCES")
        .map_or_else(|| root().join("target/test-resources"), PathBuf::from);
    let path = std::env::var_os(var).map_or_else(|| base.join(default), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "test resource {} ({var}) is missing; tests/setup.sh prepares it",
        path.display()
    );
    eprintln!(
        "notice: {} missing ({var}); run tests/setup.sh. Skipping.",
        path.display()
    );
    None
}

/// A fixture under testdata/.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}
