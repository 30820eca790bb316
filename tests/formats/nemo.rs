//! NVIDIA NeMo archives (`.nemo`, testdata/nemo, built by testdata/generate/nemo.py from the layout
//! NeMo's SaveRestoreConnector writes; NeMo itself is too large for the test venv): the model's
//! `target` class, Hydra 0.x `cls`/`target` + `params` mappings and `_target_` entries against the
//! Hydra policy (CVE-2025-23304), the weights scanned through the engine (plain and gzip-wrapped
//! archives), the AI-BOM's framework, and never-panics property tests for configs.

use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, has_finding, scan, scan_quickly, testdata,
};

#[test]
fn nemo_fixtures() {
    check_area("nemo", default_bound);
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("nemo").join(kind).join(name))
}

const CONFIG: &str = "./model_config.yaml";

#[test]
fn benign_archives_name_their_model_class_and_nothing_more() {
    for name in ["asr-ctc-bpe.nemo", "legacy-gzip.nemo", "model-wrapper.nemo"] {
        let r = fixture("benign", name);
        assert!(
            has_finding(
                &r,
                "nemo/model-config",
                Severity::Info,
                CONFIG,
                "EncDecCTCModelBPE"
            ),
            "{name}: {:?}",
            r.findings
        );
        assert!(
            r.findings.iter().all(|f| f.severity == Severity::Info),
            "{name}"
        );
        // The weights were read as a PyTorch checkpoint.
        assert!(
            r.artifacts.iter().any(|a| a
                .location
                .inner
                .last()
                .is_some_and(|m| m == "./model_weights.ckpt")),
            "{name}"
        );
    }
}

#[test]
fn the_model_target_is_checked_like_a_hydra_target() {
    let r = fixture("malicious", "model-target-os-system.nemo");
    assert!(has_finding(
        &r,
        "code/hydra-target",
        Severity::Critical,
        CONFIG,
        "os.system at target"
    ));
}

#[test]
fn hydra_0_cls_with_params_is_checked() {
    let r = fixture("malicious", "hydra0-cls-params.nemo");
    assert!(has_finding(
        &r,
        "code/hydra-target",
        Severity::Critical,
        CONFIG,
        "subprocess.check_output at decoder.cls"
    ));
}

#[test]
fn submodule_targets_and_unresolvable_interpolations() {
    let r = fixture("malicious", "submodule-target-exec.nemo");
    assert!(has_finding(
        &r,
        "code/hydra-target",
        Severity::Critical,
        CONFIG,
        "builtins.exec"
    ));
    let r = fixture("malicious", "interpolated-target.nemo");
    assert!(has_finding(
        &r,
        "code/hydra-target",
        Severity::High,
        CONFIG,
        "oc.env"
    ));
}

#[test]
fn weights_go_through_the_engine_in_plain_and_gzip_archives() {
    for name in ["pickle-weights.nemo", "gzip-pickle-weights.nemo"] {
        let r = fixture("malicious", name);
        assert!(
            has_finding(
                &r,
                "pickle/unsafe-global",
                Severity::Critical,
                "./model_weights.ckpt",
                "os.system"
            ),
            "{name}"
        );
    }
}

#[test]
fn an_unparsable_config_is_searched_as_text() {
    let r = fixture("malformed", "bad-yaml.nemo");
    assert!(has_finding(
        &r,
        "nemo/malformed",
        Severity::Medium,
        CONFIG,
        "invalid YAML"
    ));
    assert!(has_finding(
        &r,
        "code/hydra-target",
        Severity::Critical,
        CONFIG,
        "os.system"
    ));
}

#[test]
fn the_ai_bom_names_nemo_as_the_archives_framework() {
    assert_bom_framework(&fixture("benign", "asr-ctc-bpe.nemo"), "tar", "nemo");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_configs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        scan_quickly("model_config.yaml", bytes);
    }

    #[test]
    fn configs_with_random_targets_never_panic(
        target in ".{0,40}",
        key in prop::sample::select(vec!["target", "cls", "_target_"]),
        nested in any::<bool>(),
    ) {
        let v = if nested {
            serde_json::json!({"model": {"decoder": {key: target, "params": {"a": 1}}}})
        } else {
            serde_json::json!({key: target})
        };
        scan_quickly("model_config.yaml", serde_json::to_vec(&v).expect("json"));
    }
}
