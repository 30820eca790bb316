//! Model directories as frameworks lay them out, and the configs, code and requirements that
//! travel in them: Hugging Face (`auto_map`, remote code), MLflow (`MLmodel`, custom loaders),
//! NeMo/Hydra (`_target_`), pip requirements (testdata/model_dirs, written by
//! testdata/generate/keras_hdf5_tf_torchscript.py). Model-side Python itself is in tests/model_code.rs.

use std::fmt::Write as _;

use modelgate::Severity;
use proptest::prelude::*;

use super::{check_area, default_bound, engine, scan_quickly, Kind};

#[test]
fn fixtures() {
    check_area("model_dirs", |kind, name| match (kind, name) {
        // auto_map is flagged by design (it needs trust_remote_code), even when the code is benign.
        (Kind::Benign, "hf_custom_code") => Severity::Medium,
        (Kind::Malicious, "requirements_extra_index") => Severity::Medium,
        (Kind::Malicious, "nemo_target") => Severity::Critical,
        _ => default_bound(kind, name),
    });
}

#[test]
fn yaml_alias_bomb_is_bounded() {
    let mut y = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    let mut prev = 'a';
    for c in 'b'..='z' {
        let refs = vec![format!("*{prev}"); 9].join(",");
        let _ = writeln!(y, "{c}: &{c} [{refs}]");
        prev = c;
    }
    // A generic YAML config and a NeMo model config (its own scanner, the same YAML reader).
    for (name, code) in [
        ("config.yaml", "code/malformed-config"),
        ("model_config.yaml", "nemo/malformed"),
    ] {
        let t = std::time::Instant::now();
        let r = engine().scan_bytes(name, y.clone().into_bytes());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "hang guard"
        );
        assert!(r.findings.iter().any(|f| f.code == code), "{name}");
    }
}

#[test]
fn deeply_nested_json_is_reported() {
    let s = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let r = engine().scan_bytes("config.json", s.into_bytes());
    assert!(r.findings.iter().any(|f| f.code == "code/malformed-config"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn yaml_and_mlmodel_never_panic(text in "[\\-:&*!{}\\[\\], a-z_\n0-9]{0,400}") {
        scan_quickly("MLmodel", text.clone().into_bytes());
        scan_quickly("model_config.yaml", text.into_bytes());
    }
}
