//! Loader-differential tests (issue 10) with the real loaders of the test venv as the oracle.
//!
//! joblib's inline array skip (principle 2): `tests/oracle/joblib_arrays.py` hand-assembles a
//! joblib stream per dtype variant (U/S/V/longdouble/complex sizes, byte orders, BUILD states that override
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
//! GLOBAL/INST lines: `tests/oracle/pickle_lines.py` places the lines across decompressor
//! chunk boundaries and leaves INST's name line unterminated at EOF; every variant a real
//! unpickler runs must resolve to the payload's global.
//!
//! joblib side files: `tests/oracle/joblib_side_files.py` names a file outside the model
//! directory through every way a legacy `NDArrayWrapper` gets its `filename` (BUILD state,
//! constructor arguments, non-literal strings); every variant under which `joblib.load` ran the
//! side file must be high.
//!
//! `.npy` headers (principle 3): `tests/oracle/npy_headers.py` spells object dtypes every way
//! `ast.literal_eval` and `descr_to_dtype` accept (escapes, concatenation, subarrays,
//! structured fields, duplicate keys, huge headers); every spelling under which
//! `np.load(allow_pickle=True)` reaches the canary must be flagged, and plain dtypes spelled
//! oddly must stay clean.

mod common;

use std::path::Path;
use std::process::Command;

use modelgate::{Engine, Severity};

/// Runs an oracle script of `tests/oracle` with the venv's Python, writing into `dir`; its
/// cases (one JSON object per line). `None` when the venv is missing (outside CI).
fn oracle(script: &str, dir: &Path) -> Option<Vec<serde_json::Value>> {
    let py = common::venv_python()?;
    let script = common::root().join("tests/oracle").join(script);
    let out = common::run_python(&py, &[script.as_ref(), dir.as_ref()], None);
    Some(
        out.lines()
            .map(|l| serde_json::from_str(l).expect("case line"))
            .collect(),
    )
}

/// `None` when the file is flagged at high or critical for `posix.system`, else the report.
fn unflagged(engine: &Engine, path: &Path) -> Option<String> {
    let r = engine.scan_paths(&[path.to_path_buf()]).expect("scan");
    let flagged = r.findings.iter().any(|f| {
        f.severity >= Severity::High
            && f.global
                .as_ref()
                .is_some_and(|g| g.module == "posix" && g.name == "system")
    });
    (!flagged).then(|| r.to_json())
}

/// The findings above info of a file that must scan clean.
fn loud(engine: &Engine, path: &Path) -> Vec<String> {
    let r = engine.scan_paths(&[path.to_path_buf()]).expect("scan");
    r.findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .map(|f| format!("{} {}", f.code, f.message))
        .collect()
}

fn flag(case: &serde_json::Value, key: &str) -> bool {
    case[key].as_bool().unwrap_or(false)
}

#[test]
fn joblib_array_skip_matches_joblib_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cases) = oracle("joblib_arrays.py", dir.path()) else {
        return;
    };
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        if flag(case, "reached") {
            confirmed += 1;
            if let Some(r) = unflagged(&engine, &dir.path().join(format!("{name}.payload.joblib")))
            {
                failures.push(format!("{name}: payload not flagged: {r}"));
            }
        }
        if flag(case, "provable") {
            let l = loud(&engine, &dir.path().join(format!("{name}.control.joblib")));
            if !l.is_empty() {
                failures.push(format!("{name}: control flagged: {l:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 20,
        "only {confirmed} variants reached the canary"
    );
}

/// GLOBAL and INST lines (`tests/oracle/pickle_lines.py`): lines straddling the chunks in
/// which decompressors hand out compressed joblib streams, and INST name lines left without a
/// newline at the end of the stream (the pure-Python unpickler drops their last byte and runs
/// the call). Every case whose canary twin ran must resolve to the payload's `posix.system`.
#[test]
fn global_and_inst_lines_resolve_as_the_unpicklers_read_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cases) = oracle("pickle_lines.py", dir.path()) else {
        return;
    };
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        if flag(case, "reached") {
            confirmed += 1;
            if let Some(r) = unflagged(&engine, &dir.path().join(format!("{name}.payload.joblib")))
            {
                failures.push(format!("{name}: payload not flagged: {r}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 380,
        "only {confirmed} variants reached the canary"
    );
}

/// joblib's legacy wrappers (`NDArrayWrapper`) load a side file with `allow_pickle=True`:
/// `tests/oracle/joblib_side_files.py` names `../side.pkl` through the BUILD state, the
/// constructor (REDUCE, OBJ, INST) and non-literal strings, and loads each model with the real
/// `joblib.load`. Every model whose side file ran must be high `pickle/joblib-side-file`; a
/// literal name inside the model directory stays info (the side file is scanned with it).
#[test]
fn joblib_side_files_are_found_as_joblib_loads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cases) = oracle("joblib_side_files.py", dir.path()) else {
        return;
    };
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        if !flag(case, "reached") {
            continue;
        }
        confirmed += 1;
        let path = dir.path().join(name).join("model/m.joblib");
        let r = engine.scan_paths(&[path]).expect("scan");
        let side = r
            .findings
            .iter()
            .filter(|f| f.code == "pickle/joblib-side-file")
            .map(|f| f.severity)
            .max();
        let loudest = r.findings.iter().map(|f| f.severity).max();
        let ok = if flag(case, "escapes") {
            side >= Some(Severity::High)
        } else {
            side.is_some() && loudest <= Some(Severity::Info)
        };
        if !ok {
            failures.push(format!("{name}: {}", r.to_json()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 40,
        "only {confirmed} variants reached the canary"
    );
}

/// numpy's answer for one dtype string: itemsize, hasobject, kind, big-endian (all `None` when
/// numpy rejects the string).
type Row = (
    String,
    Option<u64>,
    Option<bool>,
    Option<String>,
    Option<bool>,
);

/// Every dtype string `parse_descr` sizes must have exactly the itemsize, object flag, kind and
/// byte order numpy gives it (all kind letters × byte orders × sizes; the converter reads
/// elements by kind and byte order); strings it declines are fine (the walker then reports and
/// does not skip), strings numpy rejects must not be sized.
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
                    out.append([d, t.itemsize, bool(t.hasobject), t.kind, t.byteorder == ">"])
                except Exception:
                    out.append([d, None, None, None, None])
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
    let rows: Vec<Row> = serde_json::from_slice(&out.stdout).expect("rows");
    let mut sized = 0;
    let mut wrong = Vec::new();
    for (d, size, object, kind, big) in &rows {
        let ours = modelgate::formats::dtype::parse_descr(d);
        match (ours, size) {
            (Some(dt), Some(n)) => {
                sized += 1;
                if dt.itemsize != *n
                    || Some(dt.object) != *object
                    || Some(dt.kind.to_string()) != *kind
                    || Some(dt.big_endian) != *big
                {
                    wrong.push(format!(
                        "{d}: ours {dt:?}, numpy {n} {object:?} {kind:?} big-endian {big:?}"
                    ));
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
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cases) = oracle("memo_keys.py", dir.path()) else {
        return;
    };
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for case in cases.iter().filter(|c| flag(c, "reached")) {
        confirmed += 1;
        let name = case["name"].as_str().expect("name");
        if let Some(r) = unflagged(&engine, &dir.path().join(format!("{name}.payload.pkl"))) {
            failures.push(format!("{:?}: {r}", case["key"]));
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
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cases) = oracle("npy_headers.py", dir.path()) else {
        return;
    };
    let engine = Engine::with_defaults().expect("engine");
    let (mut confirmed, mut controls) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        if flag(case, "reached") {
            confirmed += 1;
            if let Some(r) = unflagged(&engine, &dir.path().join(format!("{name}.payload.npy"))) {
                failures.push(format!("{name}: {r}"));
            }
        }
        if flag(case, "control") {
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

/// skops (issue 17): `tests/oracle/skops_load.py` writes payload/canary twins of every way a
/// `schema.json` node makes skops import and call a name (FunctionNode, PartialNode,
/// ConstructorFromReduceNode, ObjectNode, DictNode, ListNode, RandomStateNode, LossNode, an
/// NdArrayNode class, OperatorFuncNode) and loads each canary twin with
/// `skops.io.load(f, trusted=get_untrusted_types(file=f))`, then uses it. Every payload twin
/// whose canary was reached must be flagged at high or critical for `posix.system`, and every
/// canary twin must be reported too (its `mg_canary` module is a type skops does not trust).
#[test]
fn skops_nodes_that_reach_code_are_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(py) = common::venv_python() else {
        return;
    };
    let script = common::root().join("tests/oracle/skops_load.py");
    let out = common::run_python(&py, &[script.as_ref(), dir.path().as_ref()], None);
    if let Some(why) = out.lines().next().and_then(|l| l.strip_prefix("SKIP: ")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "skops must be installed in CI (tests/requirements.txt): {why}"
        );
        return;
    }
    let cases: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("case line"))
        .collect();
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name");
        let canary = Path::new(case["canary"].as_str().expect("canary"));
        if loud(&engine, canary).is_empty() {
            failures.push(format!("{name}: canary twin not reported"));
        }
        if flag(case, "reached") {
            confirmed += 1;
            let payload = Path::new(case["payload"].as_str().expect("payload"));
            if let Some(r) = unflagged(&engine, payload) {
                failures.push(format!("{name}: payload not flagged: {r}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 8,
        "only {confirmed} skops cases reached the canary"
    );
}

/// R (issue 17): `tests/oracle/r_load.R` writes payload (`system("true")`) and canary
/// (`canary_hit("true")`) twins of every way an R object runs code when used
/// (testdata/generate/r_cases.R: a promise in an environment, an active binding, a closure, a
/// closure calling by name, byte code, an lm `call`, a workspace with a promise), then reads each
/// canary twin in a fresh `Rscript` with `readRDS`/`load` and uses it like a model's user. Every
/// payload whose canary ran must be flagged at critical for `system`. Skipped without `Rscript`
/// outside CI (tests/setup.sh installs r-base-core).
#[test]
fn r_objects_that_run_code_are_flagged() {
    let Some(rscript) = common::which("Rscript") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "Rscript must be installed in CI (tests/setup.sh)"
        );
        return;
    };
    let script = common::root().join("tests/oracle/r_load.R");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(&rscript)
        .arg(&script)
        .arg("write")
        .arg(dir.path())
        .output()
        .expect("run Rscript");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine = Engine::with_defaults().expect("engine");
    let mut confirmed = 0;
    let mut failures = Vec::new();
    for canary in String::from_utf8_lossy(&out.stdout).lines() {
        let payload = canary.strip_suffix(".canary").expect("canary name");
        let marker = dir.path().join(format!("{payload}.hit"));
        let used = Command::new(&rscript)
            .arg(&script)
            .arg("use")
            .arg(dir.path().join(canary))
            .arg(&marker)
            .output()
            .expect("run Rscript");
        let reached = String::from_utf8_lossy(&used.stdout)
            .lines()
            .any(|l| l.trim() == "reached");
        if !reached || !marker.exists() {
            continue;
        }
        confirmed += 1;
        let r = engine
            .scan_paths(&[dir.path().join(payload)])
            .expect("scan");
        let flagged = r.findings.iter().any(|f| {
            f.severity == Severity::Critical
                && f.evidence.get("function").is_some_and(|v| v == "system")
        });
        if !flagged {
            failures.push(format!("{payload}: payload not flagged: {}", r.to_json()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        confirmed >= 7,
        "only {confirmed} R cases reached the canary"
    );
}
