//! XGBoost models (testdata/xgboost, written by testdata/generate/native_models.py; the benign
//! JSON, UBJSON and pickles by xgboost-cpu 3.2.0 itself, the legacy binary from XGBoost 2.1's
//! struct layout): recognised by content, trees checked the way the loader and predictors use
//! them, the scikit-learn wrapper and pickled booster clean through the pickle scanner, and
//! never-panics property tests for the UBJSON reader, the legacy reader and the scanner.

use modelgate::formats::xgboost::{check_model, parse_ubj, read_legacy};
use modelgate::Severity;
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, engine, scan, scan_quickly, testdata,
};

#[test]
fn xgboost_fixtures() {
    check_area("xgboost", default_bound);
}

fn fixture(kind: &str, name: &str) -> modelgate::Report {
    scan(&testdata().join("xgboost").join(kind).join(name))
}

#[test]
fn every_encoding_is_read_by_the_xgboost_scanner() {
    for name in ["model.json", "model.ubj", "legacy.bst"] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().any(|f| f.code == "xgboost/model"),
            "{name}: {:#?}",
            r.findings
        );
        assert!(
            r.findings.iter().all(|f| f.severity <= Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn the_sklearn_wrapper_and_booster_pickles_go_through_the_pickle_scanner_clean() {
    for name in ["classifier.pkl", "classifier.joblib", "booster.pkl"] {
        let r = fixture("benign", name);
        assert!(
            r.artifacts.iter().any(|a| matches!(&a.status, modelgate::Status::Scanned { scanner } if scanner == "pickle")),
            "{name}"
        );
        assert!(
            r.findings.iter().all(|f| f.severity <= Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn broken_tree_links_are_out_of_bounds() {
    for name in [
        "child-out-of-bounds.json",
        "child-loop.json",
        "parent-out-of-bounds.ubj",
        "split-feature-out-of-bounds.json",
        "ubj-string-past-end.ubj",
        "ubj-typed-array-huge.ubj",
        "legacy-huge-num-nodes.bst",
        "legacy-child-out-of-bounds.bst",
    ] {
        let r = fixture("malicious", name);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == "xgboost/out-of-bounds" && f.severity == Severity::High),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn a_pickle_named_like_a_booster_is_read_as_a_pickle() {
    let r = fixture("malicious", "pickle-named-model.bst");
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "pickle/unsafe-global" && f.severity == Severity::Critical),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "engine/extension-mismatch"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn the_ai_bom_names_xgboost() {
    assert_bom_framework(&fixture("benign", "model.ubj"), "xgboost", "xgboost");
}

#[test]
fn deep_nesting_ends_in_a_finding_not_a_crash() {
    for depth in [126usize, 127, 128, 5000] {
        let mut b = b"{L\0\0\0\0\0\0\0\x07learner{L\0\0\0\0\0\0\0\x01a".to_vec();
        b.extend(std::iter::repeat_n(b'[', depth));
        b.extend(std::iter::repeat_n(b']', depth));
        b.extend_from_slice(b"}}");
        let r = engine().scan_bytes("model.ubj", b.clone());
        assert!(!r.findings.is_empty(), "{depth}");
        let mut j = b"{\"learner\": {\"a\": ".to_vec();
        j.extend(std::iter::repeat_n(b'[', depth));
        j.extend(std::iter::repeat_n(b']', depth));
        j.extend_from_slice(b"}}");
        let r = engine().scan_bytes("model.json", j);
        assert!(!r.findings.is_empty(), "{depth}");
    }
}

fn legacy(bytes: &[u8]) {
    let read = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
        let s = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        Ok(bytes[s..s.saturating_add(n).min(bytes.len())].to_vec())
    };
    let _ = read_legacy(bytes.len() as u64, &read);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_ubjson_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"{L\0\0\0\0\0\0\0\x07learner{".to_vec();
        b.extend_from_slice(&tail);
        if let Ok(d) = parse_ubj(&b) {
            let _ = check_model(&d);
        }
        scan_quickly("m.ubj", b);
    }

    #[test]
    fn random_legacy_models_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut b = b"binf".to_vec();
        b.extend_from_slice(&tail);
        legacy(&b);
        scan_quickly("m.bst", b);
    }

    #[test]
    fn mutated_real_models_never_panic(at in 0usize..3507, byte in any::<u8>()) {
        let mut b = std::fs::read(testdata().join("xgboost/benign/model.ubj")).expect("fixture");
        let i = at % b.len();
        b[i] = byte;
        scan_quickly("m.ubj", b);
    }
}
