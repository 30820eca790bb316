//! Loader-differential tests for the native-format scanners, with the real libraries of the test
//! venv as the oracle.
//!
//! XGBoost and LightGBM (xgboost-cpu, lightgbm): `tests/oracle/boosting_load.py` loads every
//! fixture of testdata/xgboost and testdata/lightgbm and predicts on it, each in a forked child.
//!
//! * A model that crashes or hangs the real library (a segfault in the predictor, an abort in the
//!   parser, a prediction that never ends) must be flagged at high or above.
//! * A model the library refuses must not scan clean (at least low, or a failed scan).
//! * A benign fixture the library loads and predicts with must carry nothing above info.
//!
//! Models the library loads without visible harm may still be flagged (an out-of-bounds read
//! that happens not to crash is still one).
//!
//! msgpack-numpy: `tests/oracle/msgpack_numpy_canary.py` spells the object-array map that
//! `msgpack_numpy.decode` unpickles every way (bytes or str keys and kind, nesting, duplicate
//! keys, near misses) as payload/canary twins; every spelling whose canary is reached under
//! `raw=False` or `raw=True` must be flagged for `posix.system` in its payload twin.

mod common;

use std::path::{Path, PathBuf};

use modelgate::{Engine, Report, Severity, Status};

fn fixtures(area: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for kind in ["benign", "malicious", "malformed"] {
        let dir = common::root().join("testdata").join(area).join(kind);
        for e in std::fs::read_dir(&dir).expect("fixture dir") {
            let p = e.expect("entry").path();
            if p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn max(r: &Report) -> Option<Severity> {
    r.findings.iter().map(|f| f.severity).max()
}

fn failed(r: &Report) -> bool {
    r.artifacts
        .iter()
        .any(|a| matches!(a.status, Status::Failed { .. }))
}

fn check(kind: &str, exts: &[&str]) {
    let Some(py) = common::venv_python() else {
        return;
    };
    let paths = fixtures(kind, exts);
    let script = common::root().join("tests/oracle/boosting_load.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str(), kind.as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = common::run_python(&py, &args, None);
    let engine = Engine::with_defaults().expect("engine");
    let (mut harmful, mut refused, mut clean) = (0, 0, 0);
    let mut failures = Vec::new();
    for line in out.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line");
        let path = Path::new(case["path"].as_str().expect("path"));
        let outcome = case["outcome"].as_str().expect("outcome");
        let r = engine.scan_paths(&[path.to_path_buf()]).expect("scan");
        let benign = path.parent().is_some_and(|d| d.ends_with("benign"));
        let ok = match outcome {
            "crashed" | "hung" => {
                harmful += 1;
                max(&r).is_some_and(|s| s >= Severity::High)
            }
            "refused" | "predict-refused" => {
                refused += 1;
                failed(&r) || max(&r).is_some_and(|s| s >= Severity::Low)
            }
            _ if benign => {
                clean += 1;
                !failed(&r) && max(&r).is_none_or(|s| s <= Severity::Info)
            }
            _ => true,
        };
        if !ok {
            failures.push(format!("{} ({outcome}): {}", path.display(), r.to_json()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        harmful > 0 && refused > 0 && clean > 0,
        "{kind}: {harmful} harmful, {refused} refused, {clean} clean"
    );
}

/// JSON and UBJSON only: XGBoost 3 no longer reads the legacy binary (`.bst`), which 1.x and 2.x
/// load; its checks are covered by the fixtures alone.
#[test]
fn xgboost_crashes_and_hangs_are_flagged() {
    check("xgboost", &["json", "ubj"]);
}

#[test]
fn lightgbm_crashes_and_hangs_are_flagged() {
    check("lightgbm", &["txt"]);
}

#[test]
fn msgpack_numpy_object_arrays_that_unpickle_are_flagged() {
    let Some(py) = common::venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = common::root().join("tests/oracle/msgpack_numpy_canary.py");
    let out = common::run_python(&py, &[script.as_os_str(), dir.path().as_os_str()], None);
    let engine = Engine::with_defaults().expect("engine");
    let (mut reached, mut failures) = (0, Vec::new());
    for line in out.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line");
        if !case["reached"].as_bool().unwrap_or(false) {
            continue;
        }
        reached += 1;
        let path = PathBuf::from(case["payload"].as_str().expect("payload"));
        let r = engine
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        let flagged = r.findings.iter().any(|f| {
            f.severity >= Severity::High
                && f.global
                    .as_ref()
                    .is_some_and(|g| g.module == "posix" && g.name == "system")
        });
        if !flagged {
            failures.push(format!("{}: {}", case["name"], r.to_json()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(reached >= 5, "only {reached} spellings reached the canary");
}
