//! CatBoost binary models (testdata/catboost, written by testdata/generate/native_models.py; the
//! benign ones and the pickle by catboost 1.2.10 itself): the header, the core size CatBoost
//! allocates, the FlatBuffers core, model parts and trailing bytes, and never-panics property
//! tests.

use modelgate::formats::catboost::{header, read_core};
use modelgate::Severity;
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata, Kind};

#[test]
fn catboost_fixtures() {
    check_area("catboost", |kind, name| match kind {
        Kind::Malicious if name == "trailing-zip.cbm" => Severity::Low,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> modelgate::Report {
    scan(&testdata().join("catboost").join(kind).join(name))
}

#[test]
fn real_models_are_read() {
    for name in ["model.cbm", "categorical.cbm"] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().any(|f| f.code == "catboost/model"),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn a_core_larger_than_the_file_is_high() {
    for name in ["core-size-past-end.cbm", "core-size-64bit.cbm"] {
        let r = fixture("malicious", name);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == "catboost/oversized" && f.severity == Severity::High),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn the_ai_bom_names_catboost() {
    assert_bom_framework(&fixture("benign", "model.cbm"), "catboost", "catboost");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_cores_never_panic(core in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_core(&core);
        let mut b = b"CBM1".to_vec();
        b.extend_from_slice(&(core.len() as u32).to_le_bytes());
        b.extend_from_slice(&core);
        let _ = header(&b);
        scan_quickly("model.cbm", b);
    }

    #[test]
    fn mutated_real_models_never_panic(at in 0usize..6896, byte in any::<u8>()) {
        let mut b = std::fs::read(testdata().join("catboost/benign/model.cbm")).expect("fixture");
        let i = at % b.len();
        b[i] = byte;
        scan_quickly("model.cbm", b);
    }
}
