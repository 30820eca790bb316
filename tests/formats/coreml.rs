//! Core ML models (testdata/coreml, written by testdata/generate/coreml.py with coremltools 9.0's
//! own builder and specification classes): custom layers (also inside a branch inside a
//! pipeline), custom models, linked models inside and outside the model's directory, serialized
//! private-format models, an `.mlpackage` directory, malformed and over-nested protobufs, the
//! AI-BOM's framework, and never-panics property tests.

use modelgate::formats::coreml::read;
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata, Kind};

#[test]
fn coreml_fixtures() {
    check_area("coreml", |kind, name| match kind {
        // A linked model is loaded from beside the model: medium even when it stays inside.
        Kind::Benign if name == "pipeline-linked-local.mlmodel" => Severity::Medium,
        // Custom layers and models run app classes the model names: medium by design.
        Kind::Malicious if name.starts_with("custom-") => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("coreml").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity, text: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev && f.message.contains(text))
}

#[test]
fn a_builder_model_is_listed_and_nothing_more() {
    let r = fixture("benign", "dense-relu.mlmodel");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert!(has(&r, "coreml/model", Severity::Info, "neuralNetwork"));
    // The same spec inside an .mlpackage is found by its name and read.
    let r = fixture("benign", "classifier.mlpackage");
    assert!(
        has(&r, "coreml/model", Severity::Info, "neuralNetwork"),
        "{r:#?}"
    );
}

#[test]
fn custom_layers_are_found_in_pipelines_and_branches() {
    let r = fixture("malicious", "custom-layer.mlmodel");
    assert!(has(
        &r,
        "coreml/custom-layer",
        Severity::Medium,
        "Payload.ShellLayer"
    ));
    let r = fixture("malicious", "custom-layer-in-branch.mlmodel");
    assert!(
        has(
            &r,
            "coreml/custom-layer",
            Severity::Medium,
            "model/stage0/branch0/hidden"
        ),
        "{r:#?}"
    );
    let r = fixture("malicious", "custom-model.mlmodel");
    assert!(has(
        &r,
        "coreml/custom-model",
        Severity::Medium,
        "Payload.CustomModel"
    ));
}

#[test]
fn linked_models_leaving_the_directory_are_high() {
    let r = fixture("malicious", "linked-model-escapes.mlmodel");
    assert!(
        has(&r, "coreml/linked-model", Severity::High, "../../../shared"),
        "{r:#?}"
    );
    let r = fixture("benign", "pipeline-linked-local.mlmodel");
    assert!(has(
        &r,
        "coreml/linked-model",
        Severity::Medium,
        "Features.mlmodelc"
    ));
    let r = fixture("malicious", "serialized-model.mlmodel");
    assert!(has(
        &r,
        "coreml/serialized-model",
        Severity::High,
        "com.example.private-engine"
    ));
}

#[test]
fn malformed_models_are_reported() {
    for name in [
        "truncated.mlmodel",
        "not-protobuf.mlmodel",
        "nested-pipelines.mlmodel",
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "coreml/malformed", Severity::Medium, ""),
            "{name}: {r:#?}"
        );
    }
}

#[test]
fn the_ai_bom_names_coreml() {
    assert_bom_framework(
        &scan(&testdata().join("coreml/benign/dense-relu.mlmodel")),
        "coreml",
        "coreml",
    );
}

/// basic-pitch 0.4.0's Core ML ML Program package (`nmp.mlpackage`: manifest, model.mlmodel and
/// weights; tests/real_models/fetch_formats_b.sh) is read by the coreml scanner and clean.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    super::assert_real_clean_dir(
        &dir.join("basic-pitch/basic_pitch/saved_models/icassp_2022/nmp.mlpackage"),
        "coreml",
        1,
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = read(&bytes);
        scan_quickly("model.mlmodel", bytes);
    }

    #[test]
    fn mutated_models_never_panic(i in 0usize..200, b in any::<u8>()) {
        let mut m = std::fs::read(testdata().join("coreml/malicious/custom-layer-in-branch.mlmodel")).expect("read");
        let at = i % m.len();
        m[at] = b;
        let _ = read(&m);
        scan_quickly("model.mlmodel", m);
    }
}
