//! Every format as a unit: one module per format (`tests/formats/<format>.rs`) over its fixtures
//! in `testdata/<format>/{benign,malicious,malformed}` (each folder written by the generator named
//! in testdata/README.md). This file is the one harness they share: every fixture is scanned
//! through the library API, its findings and artifact records are snapshotted
//! (`tests/formats/snapshots/formats__<format>__<kind>__<name>.snap`), and verdict-level rules hold
//! whatever the snapshots say: benign fixtures pass the default gate, malicious ones fail it at
//! the severity their hazard deserves, malformed ones are reported (never silently clean).
//!
//! Adding a format: a generator writing `testdata/<format>/…`, a module here calling
//! [`check_area`], its never-panics property tests in the same module, and a real-model case
//! where a PyPI package ships files of the format.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use modelgate::{Engine, Report, Severity, Status};
use serde_json::{json, Value};

mod catboost;
mod coreml;
mod executable;
mod executorch;
mod flax;
mod gguf;
mod hdf5;
mod jax;
mod keras;
mod lightgbm;
mod model_dirs;
mod mxnet;
mod nemo;
mod onnx;
mod openvino;
mod paddle;
mod pmml;
mod r;
mod rar;
mod safetensors;
mod skops;
mod tensorflow;
mod tensorrt;
mod tflite;
mod torch7;
mod torchscript;
mod torchserve;
mod xgboost;

/// The fixture folders of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Benign,
    Malicious,
    Malformed,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Benign => "benign",
            Kind::Malicious => "malicious",
            Kind::Malformed => "malformed",
        }
    }
}

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// One engine per test binary: building it parses and compiles the whole signature database.
pub fn engine() -> &'static Engine {
    static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| Engine::with_defaults().expect("engine"))
}

pub fn scan(p: &Path) -> Report {
    engine().scan_paths(&[p.to_path_buf()]).expect("scan")
}

pub fn max_severity(r: &Report) -> Option<Severity> {
    r.findings.iter().map(|f| f.severity).max()
}

pub fn failed(r: &Report) -> bool {
    r.artifacts
        .iter()
        .any(|a| matches!(a.status, Status::Failed { .. }))
}

/// A report as snapshotted: findings and artifact records with paths relative to testdata/.
fn snapshot_value(rep: &Report) -> Value {
    let root = testdata().display().to_string();
    let rel = |p: &str| {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .trim_start_matches('/')
            .to_owned()
    };
    let findings: Vec<Value> = rep
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).expect("finding json");
            v["location"]["path"] = json!(rel(&f.location.path));
            v
        })
        .collect();
    let artifacts: Vec<Value> = rep
        .artifacts
        .iter()
        .map(|a| {
            let status = match &a.status {
                Status::Scanned { scanner } => format!("scanned by {scanner}"),
                Status::Expanded => "expanded".to_owned(),
                Status::Skipped { reason } => format!("skipped: {reason}"),
                Status::Failed { error } => format!("failed: {error}"),
            };
            json!({
                "path": rel(&a.location.path),
                "inner": a.location.inner,
                "format": a.format.name(),
                "status": status,
            })
        })
        .collect();
    json!({ "findings": findings, "artifacts": artifacts })
}

/// The fixtures (files or directories) of one format and kind, sorted.
pub fn fixtures(area: &str, kind: Kind) -> Vec<PathBuf> {
    let dir = testdata().join(area).join(kind.dir());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

/// Scans every fixture of `area`, snapshots it, and checks the verdict rules. `bound` gives, for
/// a fixture name, the highest severity a benign fixture may reach and the lowest a malicious
/// one must (malformed fixtures must reach `Low` or fail to scan).
pub fn check_area(area: &str, bound: impl Fn(Kind, &str) -> Severity) {
    let mut total = 0;
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        for path in fixtures(area, kind) {
            total += 1;
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let rep = scan(&path);
            let value = snapshot_value(&rep);
            let max = max_severity(&rep);
            let what = format!("{area}/{}/{name}", kind.dir());
            match kind {
                Kind::Benign => {
                    assert!(!failed(&rep), "{what}: scan failure: {value:#}");
                    let allowed = bound(kind, &name);
                    assert!(
                        max.is_none_or(|s| s <= allowed),
                        "{what}: {max:?} > {allowed:?}: {value:#}"
                    );
                }
                Kind::Malicious => {
                    assert!(!failed(&rep), "{what}: scan failure: {value:#}");
                    let want = bound(kind, &name);
                    assert!(
                        max.is_some_and(|s| s >= want),
                        "{what}: expected at least {want:?}, got {max:?}: {value:#}"
                    );
                }
                Kind::Malformed => assert!(
                    failed(&rep) || max.is_some_and(|s| s >= Severity::Low),
                    "{what}: neither a finding nor a failure: {value:#}"
                ),
            }
            insta::assert_json_snapshot!(format!("{area}__{}__{name}", kind.dir()), value);
        }
    }
    assert!(total > 0, "no fixtures under testdata/{area}");
}

/// The default verdict rules: benign fixtures carry nothing above info, malicious ones reach high.
pub fn default_bound(kind: Kind, _name: &str) -> Severity {
    match kind {
        Kind::Benign => Severity::Info,
        Kind::Malicious => Severity::High,
        Kind::Malformed => Severity::Low,
    }
}

/// The test venv's Python (tests/setup.sh), `None` outside CI when it is missing.
#[allow(clippy::print_stderr)] // the skip notice is the point
pub fn venv_python() -> Option<PathBuf> {
    let base = std::env::var_os("MODELGATE_RESOURCES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-resources"),
        PathBuf::from,
    );
    let venv = std::env::var_os("MODELGATE_VENV").map_or_else(|| base.join("venv"), PathBuf::from);
    let py = venv.join("bin/python");
    if py.is_file() {
        return Some(py);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing: tests/setup.sh prepares it",
        py.display()
    );
    eprintln!(
        "notice: {} missing; run tests/setup.sh. Skipping.",
        py.display()
    );
    None
}

/// Runs `python` with `args` and returns its stdout; a failing oracle is a failing test.
pub fn run_python(python: &Path, args: &[&std::ffi::OsStr], _cwd: Option<&Path>) -> String {
    let out = std::process::Command::new(python)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test venv's Python when it can import `module` (a loader oracle's package from
/// tests/requirements.txt); `None` with a notice outside CI, a failure in CI.
#[allow(clippy::print_stderr)] // the skip notice is the point
pub fn venv_python_with(module: &str) -> Option<PathBuf> {
    let py = venv_python()?;
    let ok = std::process::Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} cannot import {module}: tests/setup.sh prepares it",
        py.display()
    );
    eprintln!("notice: the test venv has no {module}; skipping its loader oracle");
    None
}

/// Runs the loader-oracle script `tests/oracle/<script>` on `paths`: one JSON line per path.
pub fn oracle_cases(py: &Path, script: &str, paths: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(py)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/oracle")
                .join(script),
        )
        .args(paths)
        .output()
        .expect("run the oracle");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("case line"))
        .collect();
    assert_eq!(cases.len(), paths.len(), "{script}: one line per path");
    cases
}

/// Where tests/setup.sh put real model files from PyPI packages, or `None` outside CI.
#[allow(clippy::print_stderr)] // the skip notice is the point
pub fn real_models() -> Option<PathBuf> {
    let dir = std::env::var_os("MODELGATE_REAL_MODELS").map(PathBuf::from);
    if dir.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "MODELGATE_REAL_MODELS must be set in CI (tests/setup.sh fetches them)"
        );
        eprintln!("MODELGATE_REAL_MODELS not set; skipping real-model test");
    }
    dir
}

/// Real benign files: nothing above info, and each read by `scanner`.
pub fn assert_real_clean(path: &Path, scanner: &str) {
    assert!(
        path.exists(),
        "{} missing: run tests/setup.sh",
        path.display()
    );
    let r = scan(path);
    assert_nothing_above_info(&r, path);
    assert!(
        r.artifacts
            .iter()
            .any(|a| matches!(&a.status, Status::Scanned { scanner: s } if s == scanner)),
        "{}: not scanned by {scanner}",
        path.display()
    );
}

/// A real benign file's report: no finding above info.
pub fn assert_nothing_above_info(r: &Report, path: &Path) {
    let bad: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    assert!(bad.is_empty(), "{}: {bad:#?}", path.display());
}

/// A deterministic xorshift64 stream from `seed` (non-zero), for the byte-level mutants the loader
/// differentials write.
pub fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Hostile bytes end in a report quickly (for property tests): no panic, no hang.
pub fn scan_quickly(name: &str, bytes: Vec<u8>) {
    // A hang guard, not a speed target (a loaded CI machine runs the debug build slowly).
    const LIMIT: Duration = Duration::from_secs(30);
    let t = Instant::now();
    let rep = engine().scan_bytes(name, bytes);
    assert!(t.elapsed() < LIMIT, "{name}: scan took {:?}", t.elapsed());
    assert!(!rep.artifacts.is_empty());
}

/// Whether `r` has a finding `code` at `sev` located in the member `member` (the last name of its
/// origin chain) whose message contains `text`.
pub fn has_finding(r: &Report, code: &str, sev: Severity, member: &str, text: &str) -> bool {
    r.findings.iter().any(|f| {
        f.code == code
            && f.severity == sev
            && f.location.inner.last().is_some_and(|m| m == member)
            && f.message.contains(text)
    })
}

/// The AI-BOM (CycloneDX) of `rep` lists the container of format `container` (the report name,
/// `zip`, `tar`, …) as a model with `framework`.
pub fn assert_bom_framework(rep: &Report, container: &str, framework: &str) {
    let doc = modelgate::report::cyclonedx::document(rep);
    let prop = |c: &Value, name: &str, value: &str| {
        c["properties"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["value"] == value))
    };
    let archive = doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| prop(c, "modelgate:format", container))
        .expect("the container's component");
    assert_eq!(archive["type"], "machine-learning-model", "{archive:#}");
    assert!(
        prop(archive, "modelgate:framework", framework),
        "{archive:#}"
    );
}

/// A stored (uncompressed) zip of `members`.
pub fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (n, d) in members {
            z.start_file(*n, opts).expect("start");
            z.write_all(d).expect("write");
        }
        z.finish().expect("finish");
    }
    buf.into_inner()
}

/// Real benign files under `dir`: nothing above info, and at least `min` of them read by
/// `scanner`. Returns how many were.
pub fn assert_real_clean_dir(dir: &Path, scanner: &str, min: usize) -> usize {
    assert!(
        dir.is_dir(),
        "{} missing: run tests/setup.sh",
        dir.display()
    );
    let r = scan(dir);
    assert_nothing_above_info(&r, dir);
    let n = r
        .artifacts
        .iter()
        .filter(|a| matches!(&a.status, Status::Scanned { scanner: s } if s == scanner))
        .count();
    assert!(
        n >= min,
        "{}: {n} file(s) read by {scanner}, expected {min}",
        dir.display()
    );
    n
}
