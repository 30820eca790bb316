//! TensorFlow SavedModel (`saved_model.pb`, `.pbtxt`, `keras_metadata.pb`): graph and function
//! ops against the op policy (signatures/tensorflow_ops.toml), saver functions, assets
//! (testdata/tensorflow, written by testdata/generate/keras_hdf5_tf_torchscript.py).

use modelgate::{Format, Severity};
use proptest::prelude::*;

use super::{check_area, default_bound, scan, scan_quickly, testdata, Kind};

fn root() -> std::path::PathBuf {
    testdata().join("tensorflow")
}

#[test]
fn fixtures() {
    check_area("tensorflow", |kind, name| match (kind, name) {
        (
            Kind::Malicious,
            "saved_model_pyfunc" | "saved_model_keras_lambda" | "saved_model_text",
        ) => Severity::Critical,
        _ => default_bound(kind, name),
    });
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
fn tensor_shards_are_data() {
    let r = scan(&root().join("benign/saved_model_tf2/variables"));
    assert!(!r.artifacts.is_empty());
    assert!(r.artifacts.iter().all(|a| a.format == Format::Data));
}

/// basic-pitch's TF2 SavedModel (tests/real_models/fetch_formats_b.sh) passes the default gate.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    super::assert_real_clean(
        &dir.join("basic-pitch/basic_pitch/saved_models/icassp_2022/nmp"),
        "tf",
    );
}

fn seed() -> Vec<u8> {
    std::fs::read(root().join("malicious/saved_model_pyfunc/saved_model.pb")).expect("fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn never_panics(pos in 0usize..2000, val in any::<u8>(), cut in 1usize..2000) {
        let mut b = seed();
        if let Some(x) = b.get_mut(pos) { *x = val; }
        b.truncate(cut);
        scan_quickly("saved_model.pb", b.clone());
        scan_quickly("keras_metadata.pb", b.clone());
        scan_quickly("saved_model.pbtxt", b);
    }
}
