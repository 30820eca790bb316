//! False-positive sweep on real benign pickles: every scikit-learn estimator that fits with
//! default parameters, plus pandas, numpy and standard-library data objects, pickled with
//! protocols 2, 4 and 5 and with joblib (plain and compressed) by the real libraries in the test
//! venv (tests/benign/make_pickles.py). A benign model must produce no finding at all: an
//! unknown global here blocks a release in a gate that fails on any finding, as modelscan does.

mod common;

use std::process::Command;

use modelgate::Engine;

#[test]
fn real_library_pickles_scan_without_findings() {
    let Some(venv) = common::resource("MODELGATE_VENV", "venv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv.join("bin/python"))
        .arg(common::root().join("tests/benign/make_pickles.py"))
        .arg(dir.path())
        .output()
        .expect("run make_pickles.py");
    assert!(
        out.status.success(),
        "make_pickles.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("file count");
    assert!(written > 400, "only {written} files written");
    let report = Engine::with_defaults()
        .unwrap()
        .scan_paths(&[dir.path().to_path_buf()])
        .unwrap();
    let findings: Vec<String> = report
        .findings
        .iter()
        .map(|f| {
            let file = std::path::Path::new(&f.location.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{} {file}: {}", f.code, f.message)
        })
        .collect();
    assert!(
        findings.is_empty(),
        "{} findings: {findings:#?}",
        findings.len()
    );
    assert_eq!(report.summary.failed, 0);
    assert!(report.summary.scanned >= written);
}

/// Committed real PyTorch and Hugging Face files (torch and transformers are too large for the CI
/// venv; `testdata/generate/benign_torch.py` made them): state dicts, whole modules, a training
/// checkpoint with optimizer and scheduler state, the legacy format, quantized and odd-dtype
/// tensors, `training_args.bin`, a generation config and a BERT `pytorch_model.bin`.
#[test]
fn committed_torch_and_hugging_face_files_scan_without_findings() {
    let dir = common::testdata("benign/torch");
    let report = Engine::with_defaults()
        .unwrap()
        .scan_paths(std::slice::from_ref(&dir))
        .unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.summary.failed, 0);
    assert!(report.summary.scanned >= 11, "{:?}", report.summary);
}
