//! Loader-differential tests (issue 10) with the real loaders of the test venv as the oracle.
//!
//! joblib's inline array skip (principle 2), with the real `joblib.load` as the oracle. `tests/oracle/joblib_arrays.py` hand-assembles a joblib stream
//! per dtype variant (U/S/V/longdouble/complex sizes, byte orders, BUILD states that override
//! elsize or set the object flag, a second BUILD, alignment padding) with a call placed after
//! the array data, and runs `joblib.load` on a twin whose callable is a recording canary. Every
//! variant whose canary was reached must be flagged at high or critical in its payload version
//! (`posix.system` in place of the canary); the same stream without the call must stay clean
//! when the walker can prove the array length.
//!
//! Memo keys (principle 3): `tests/oracle/memo_keys.py` hides STACK_GLOBAL's operands behind
//! text PUT/GET keys spelled every way (whitespace, sign, zeros, underscores, NUL tail, huge);
//! every spelling under which `pickle.loads` or `pickle._loads` reaches the canary must resolve
//! to the payload's global.
//!
//! `.npy` headers (principle 3): `tests/oracle/npy_headers.py` spells object dtypes every way
//! `ast.literal_eval` and `descr_to_dtype` accept (escapes, concatenation, subarrays,
//! structured fields, duplicate keys, huge headers); every spelling under which
//! `np.load(allow_pickle=True)` reaches the canary must be flagged, and plain dtypes spelled
//! oddly must stay clean.

mod common;

use std::process::Command;

use modelgate::{Engine, Severity};

#[test]
fn joblib_array_skip_matches_joblib_load() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv.join("bin/python"))
        .arg(common::root().join("tests/oracle/joblib_arrays.py"))
        .arg(dir.path())
        .output()
        .expect("run joblib_arrays.py");
    assert!(
        out.status.success(),
        "joblib_arrays.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line");
        let name = case["name"].as_str().expect("name").to_owned();
        let reached = case["reached"].as_bool().unwrap_or(false);
        let provable = case["provable"].as_bool().unwrap_or(false);
        if reached {
            confirmed += 1;
            let p = dir.path().join(format!("{name}.payload.joblib"));
            let r = engine.scan_paths(&[p]).expect("scan");
            let flagged = r.findings.iter().any(|f| {
                f.severity >= Severity::High
                    && f.global
                        .as_ref()
                        .is_some_and(|g| g.module == "posix" && g.name == "system")
            });
            if !flagged {
                failures.push(format!("{name}: payload not flagged: {}", r.to_json()));
            }
        }
        if provable {
            let p = dir.path().join(format!("{name}.control.joblib"));
            let r = engine.scan_paths(&[p]).expect("scan");
            let loud: Vec<_> = r
                .findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .map(|f| format!("{} {}", f.code, f.message))
                .collect();
            if !loud.is_empty() {
                failures.push(format!("{name}: control flagged: {loud:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 20,
        "only {confirmed} variants reached the canary"
    );
}

/// Every dtype string `parse_descr` sizes must have exactly the itemsize and object flag
/// numpy gives it (all kind letters × byte orders × sizes); strings it declines are fine (the
/// walker then reports and does not skip), strings numpy rejects must not be sized.
#[test]
fn dtype_strings_size_as_numpy_does() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let script = r#"
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
kinds = "?bBhHiIlLqQpPeEfdgFDGOSaUVcMmtxz"
sizes = ["", "0", "1", "2", "3", "4", "5", "8", "12", "16", "32", "40", "64", "08"]
out = []
for order in ["", "<", ">", "|", "=", "<<"]:
    for k in kinds:
        for n in sizes:
            for unit in ["", "[ns]", "[5s]"]:
                d = order + k + n + unit
                try:
                    t = np.dtype(d)
                    out.append([d, t.itemsize, bool(t.hasobject)])
                except Exception:
                    out.append([d, None, None])
print(json.dumps(out))
"#;
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .output()
        .expect("run numpy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(String, Option<u64>, Option<bool>)> =
        serde_json::from_slice(&out.stdout).expect("rows");
    let mut sized = 0;
    let mut wrong = Vec::new();
    for (d, size, object) in &rows {
        let ours = modelgate::pickle::dtype::parse_descr(d);
        match (ours, size) {
            (Some(dt), Some(n)) => {
                sized += 1;
                if dt.itemsize != *n || Some(dt.object) != *object {
                    wrong.push(format!("{d}: ours {dt:?}, numpy {n} {object:?}"));
                }
            }
            (Some(dt), None) => wrong.push(format!("{d}: numpy rejects it, ours {dt:?}")),
            (None, _) => {}
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(sized > 200, "only {sized} dtype strings sized");
}

#[test]
fn memo_key_spellings_resolve_as_the_unpicklers_do() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv.join("bin/python"))
        .arg(common::root().join("tests/oracle/memo_keys.py"))
        .arg(dir.path())
        .output()
        .expect("run memo_keys.py");
    assert!(
        out.status.success(),
        "memo_keys.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line");
        if !case["reached"].as_bool().unwrap_or(false) {
            continue;
        }
        confirmed += 1;
        let name = case["name"].as_str().expect("name");
        let r = engine
            .scan_paths(&[dir.path().join(format!("{name}.payload.pkl"))])
            .expect("scan");
        let flagged = r.findings.iter().any(|f| {
            f.severity >= Severity::High
                && f.global
                    .as_ref()
                    .is_some_and(|g| g.module == "posix" && g.name == "system")
        });
        if !flagged {
            failures.push(format!("{:?}: {}", case["key"], r.to_json()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} misses: {failures:#?}",
        failures.len()
    );
    assert!(
        confirmed >= 200,
        "only {confirmed} spellings reached the canary"
    );
}

#[test]
fn npy_headers_are_read_as_numpy_reads_them() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv.join("bin/python"))
        .arg(common::root().join("tests/oracle/npy_headers.py"))
        .arg(dir.path())
        .output()
        .expect("run npy_headers.py");
    assert!(
        out.status.success(),
        "npy_headers.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine = Engine::with_defaults().expect("engine");
    let (mut confirmed, mut controls) = (0, 0);
    let mut failures = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line");
        let name = case["name"].as_str().expect("name");
        if case["reached"].as_bool().unwrap_or(false) {
            confirmed += 1;
            let r = engine
                .scan_paths(&[dir.path().join(format!("{name}.payload.npy"))])
                .expect("scan");
            let flagged = r.findings.iter().any(|f| {
                f.severity >= Severity::High
                    && f.global
                        .as_ref()
                        .is_some_and(|g| g.module == "posix" && g.name == "system")
            });
            if !flagged {
                failures.push(format!("{name}: {}", r.to_json()));
            }
        }
        if case["control"].as_bool().unwrap_or(false) {
            controls += 1;
            let r = engine
                .scan_paths(&[dir.path().join(format!("{name}.control.npy"))])
                .expect("scan");
            if !r.findings.is_empty() {
                failures.push(format!("{name} (control): {}", r.to_json()));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 70,
        "only {confirmed} headers reached the canary"
    );
    assert!(controls >= 10, "only {controls} controls loaded");
}
