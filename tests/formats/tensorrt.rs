//! TensorRT engines (testdata/tensorrt, written by testdata/generate/tensorrt.py after the plan
//! header trtexec reads; no TensorRT builds engines without a GPU): every engine is opaque (high),
//! plugin libraries and names, embedded host code, Ultralytics metadata that older releases
//! `eval()`, malformed headers and prefixes, the AI-BOM's framework, and never-panics property
//! tests.

use modelgate::formats::tensorrt::{parse_header, ultralytics_prefix};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata, Kind};

#[test]
fn tensorrt_fixtures() {
    check_area("tensorrt", |kind, name| match kind {
        // An engine cannot be inspected: high however benign its producer (fail closed).
        Kind::Benign => Severity::High,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("tensorrt").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev)
}

#[test]
fn every_engine_is_opaque_with_its_version() {
    for name in ["gpu-kernels.engine", "ultralytics-yolo.engine"] {
        let r = fixture("benign", name);
        let f = r
            .findings
            .iter()
            .find(|f| f.code == "tensorrt/engine")
            .expect("engine finding");
        assert_eq!(f.severity, Severity::High);
        assert_eq!(
            f.evidence.get("tensorrt-version").map(String::as_str),
            Some("10.8.0.43"),
            "{name}"
        );
        assert_eq!(r.findings.len(), 1, "{name}: {:#?}", r.findings);
    }
}

#[test]
fn plugins_and_host_code_are_reported() {
    let r = fixture("malicious", "plugin-library.plan");
    assert!(has(&r, "tensorrt/plugin-library", Severity::High), "{r:#?}");
    let r = fixture("malicious", "plugin-names.engine");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "tensorrt/plugin")
        .expect("plugin finding");
    assert!(f.message.contains("EfficientNMS_TRT") && f.message.contains("MyShellPlugin"));
    let r = fixture("malicious", "host-code.engine");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "tensorrt/host-code")
        .expect("host code");
    assert!(f.message.contains("x86-64"), "{f:?}");
    assert!(f.location.offset.is_some());
}

#[test]
fn ultralytics_metadata_expressions_are_critical() {
    let r = fixture("malicious", "ultralytics-names-eval.engine");
    assert!(
        has(&r, "tensorrt/metadata-eval", Severity::Critical),
        "{r:#?}"
    );
    // A literal in the same place is what the exporter writes.
    let r = fixture("benign", "ultralytics-yolo.engine");
    assert!(!r
        .findings
        .iter()
        .any(|f| f.code == "tensorrt/metadata-eval"));
}

#[test]
fn malformed_engines_are_reported() {
    for name in [
        "not-a-plan.engine",
        "short-header.plan",
        "ultralytics-prefix-past-end.engine",
        "ultralytics-metadata-not-json.engine",
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "tensorrt/malformed", Severity::Medium),
            "{name}: {r:#?}"
        );
    }
}

#[test]
fn an_engine_is_recognised_by_its_tag_whatever_the_name() {
    let bytes =
        std::fs::read(testdata().join("tensorrt/malicious/host-code.engine")).expect("read");
    let r = super::engine().scan_bytes("weights.bin", bytes);
    assert!(has(&r, "tensorrt/host-code", Severity::High), "{r:#?}");
}

#[test]
fn the_ai_bom_names_tensorrt() {
    assert_bom_framework(
        &scan(&testdata().join("tensorrt/benign/gpu-kernels.engine")),
        "tensorrt-engine",
        "tensorrt",
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = ultralytics_prefix(&bytes);
        let _ = parse_header(&bytes, 0);
        let mut plan = b"ftrt".to_vec();
        plan.extend_from_slice(&bytes);
        scan_quickly("model.engine", plan);
        scan_quickly("model.engine", bytes);
    }

    #[test]
    fn random_metadata_never_panics(meta in "[ -~]{0,200}", tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut f = (meta.len() as u32).to_le_bytes().to_vec();
        f.push(b'{');
        f.extend_from_slice(meta.as_bytes());
        f.extend_from_slice(b"ftrt");
        f.extend_from_slice(&tail);
        scan_quickly("yolo.engine", f);
    }
}
