//! TorchServe model archives (`.mar`, testdata/torchserve, written by
//! testdata/generate/torchserve.py; the benign ones by the real `torch-model-archiver`): the
//! manifest's handler, model file and requirements file, the archive's Python as model-side code,
//! a stock handler replaced by a shipped module, the serialized model scanned as a member, the
//! AI-BOM's framework, and never-panics property tests for the manifest reader and for archives
//! around random manifests.

use modelgate::formats::torchserve::{handler_module, Manifest, MANIFEST_PATH};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, has_finding, scan, scan_quickly, stored_zip,
    testdata, Kind,
};

#[test]
fn torchserve_fixtures() {
    check_area("torchserve", |kind, name| match kind {
        // A custom handler is code the archive runs on registration: medium by design, even
        // when its analysis finds nothing.
        Kind::Benign if name == "custom-handler.mar" => Severity::Medium,
        // An extra package index in the requirements is medium (code/dependency-source).
        Kind::Malicious if name == "requirements-extra-index.mar" => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("torchserve").join(kind).join(name))
}

/// `(code, severity, inner location)` of every finding.
fn findings(r: &Report) -> Vec<(String, Severity, Vec<String>)> {
    r.findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.location.inner.clone()))
        .collect()
}

fn has(r: &Report, code: &str, sev: Severity, member: &str) -> bool {
    has_finding(r, code, sev, member, "")
}

#[test]
fn a_stock_handler_archive_is_listed_and_nothing_more() {
    let r = fixture("benign", "stock-handler.mar");
    assert_eq!(
        findings(&r),
        vec![(
            "torchserve/archive".to_owned(),
            Severity::Info,
            vec![MANIFEST_PATH.to_owned()]
        )]
    );
    // The serialized model was scanned as a member (a PyTorch zip, read by the pickle scanner).
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.location.inner == ["model.pt".to_owned()]));
}

#[test]
fn archive_python_is_model_side_code() {
    let r = fixture("malicious", "handler-runs-command.mar");
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "handler.py"
    ));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "code/dangerous-call")
        .expect("finding");
    assert!(f.evidence.contains_key("model-side"), "{f:?}");
    assert!(has(
        &r,
        "torchserve/handler-code",
        Severity::Medium,
        MANIFEST_PATH
    ));
    // The model file the stock base handler imports is model-side too.
    let r = fixture("malicious", "model-file-runs-command.mar");
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "model.py"
    ));
}

#[test]
fn a_handler_entry_point_that_runs_commands_is_critical() {
    let r = fixture("malicious", "handler-entry-os-system.mar");
    assert!(has(
        &r,
        "torchserve/handler-code",
        Severity::Critical,
        MANIFEST_PATH
    ));
}

#[test]
fn a_shipped_module_replacing_a_stock_handler_is_reported() {
    let r = fixture("malicious", "shadowed-stock-handler.mar");
    assert!(has(
        &r,
        "torchserve/shadowed-handler",
        Severity::Medium,
        "image_classifier.py"
    ));
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "image_classifier.py"
    ));
}

#[test]
fn the_manifests_requirements_file_is_vetted_whatever_its_name() {
    let r = fixture("malicious", "requirements-extra-index.mar");
    assert!(has(
        &r,
        "code/dependency-source",
        Severity::Medium,
        "deps.txt"
    ));
}

#[test]
fn the_serialized_model_goes_through_the_engine() {
    let r = fixture("malicious", "pickle-serialized-file.mar");
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "model.pkl"
    ));
}

#[test]
fn the_ai_bom_names_torchserve_as_the_archives_framework() {
    assert_bom_framework(
        &scan(&testdata().join("torchserve/benign/stock-handler.mar")),
        "zip",
        "torchserve",
    );
}

#[test]
fn handler_strings_resolve_like_the_model_loader() {
    assert_eq!(
        handler_module("dir/handler.py:entry"),
        Some(("handler".to_owned(), Some("entry".to_owned())))
    );
    assert_eq!(
        handler_module("image_classifier"),
        Some(("image_classifier".to_owned(), None))
    );
}

fn mar(manifest: &[u8]) -> Vec<u8> {
    stored_zip(&[(MANIFEST_PATH, manifest), ("handler.py", b"x = 1\n")])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_manifests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::parse(&bytes);
        scan_quickly("m.mar", mar(&bytes));
    }

    #[test]
    fn manifests_with_random_fields_never_panic(handler in ".{0,40}", model_file in proptest::option::of(".{0,20}")) {
        let m = serde_json::json!({"runtime": "python", "model": {"handler": handler, "modelFile": model_file}});
        let bytes = serde_json::to_vec(&m).expect("json");
        prop_assert!(Manifest::parse(&bytes).is_ok());
        scan_quickly("m.mar", mar(&bytes));
    }
}
