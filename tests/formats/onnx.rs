//! ONNX: the model protobuf, its operator domains and external-data paths (testdata/onnx,
//! written by testdata/generate/safetensors_gguf_onnx.py).

use modelgate::Severity;
use proptest::prelude::*;

use super::{check_area, default_bound, real_models, scan_quickly, testdata, Kind};

#[test]
fn fixtures() {
    check_area("onnx", |kind, name| match kind {
        // A custom operator domain needs a native library the runtime must register; the model
        // cannot load it by itself, so it is medium.
        Kind::Malicious if name.starts_with("custom-domain") => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

/// The CLI exit code for a clean fixture (the malicious one is in the gguf module).
#[test]
fn cli_exit_code() {
    let clean = std::process::Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .arg("scan")
        .arg(testdata().join("safetensors/benign/numpy-mixed-dtypes.safetensors"))
        .output()
        .expect("run");
    assert_eq!(clean.status.code(), Some(0));
}

/// Real ONNX files from PyPI packages (tests/real_models/fetch_formats_a.sh) scan clean:
/// silero-vad, onnxruntime's datasets, onnx's backend test models, basic-pitch.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = real_models() else { return };
    let mut n = 0;
    for pkg in ["silero-vad", "onnxruntime", "onnx", "basic-pitch"] {
        n += super::assert_real_clean_dir(&dir.join(pkg), "onnx", 1);
    }
    assert!(n >= 14, "only {n} real ONNX files scanned");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = vec![0x08, 0x08, 0x3a];
        b.extend(body);
        scan_quickly("f.onnx", b);
    }
}
