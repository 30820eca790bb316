//! Flax MessagePack checkpoints (testdata/flax, written by testdata/generate/native_models.py with
//! msgpack exactly as `flax.serialization.to_bytes` writes them): recognised by content (a
//! checkpoint has no extension), arrays checked against their shapes, ext types Flax does not
//! decode, msgpack-numpy object arrays scanned as the pickles that reader unpickles, and
//! never-panics property tests for the reader and the scanner.

use modelgate::formats::msgpack::{looks_like_state_dict, read_slice};
use modelgate::Severity;
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, engine, scan, scan_quickly, testdata, Kind,
};

#[test]
fn flax_fixtures() {
    check_area("flax", |kind, name| match kind {
        Kind::Malicious if name == "unknown-ext-type.msgpack" => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> modelgate::Report {
    scan(&testdata().join("flax").join(kind).join(name))
}

#[test]
fn checkpoints_are_recognised_without_an_extension() {
    let r = fixture("benign", "checkpoint_3");
    assert!(
        r.findings.iter().any(|f| f.code == "flax/checkpoint"),
        "{:#?}",
        r.findings
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "flax/checkpoint")
        .expect("finding");
    assert_eq!(
        f.evidence.get("arrays").map(String::as_str),
        Some("3"),
        "{f:?}"
    );
}

#[test]
fn a_msgpack_numpy_object_array_is_scanned_as_a_pickle() {
    let r = fixture("malicious", "msgpack-numpy-object-array.msgpack");
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "flax/pickle-payload" && f.severity == Severity::High),
        "{:#?}",
        r.findings
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "pickle/unsafe-global" && f.severity == Severity::Critical),
        "{:#?}",
        r.findings
    );
}

#[test]
fn the_ai_bom_names_flax() {
    assert_bom_framework(
        &fixture("benign", "flax_model.msgpack"),
        "flax-msgpack",
        "flax",
    );
}

#[test]
fn deep_nesting_ends_in_a_finding_not_a_crash() {
    for depth in [99usize, 100, 5000] {
        let mut b = b"\x81\xa6params".to_vec();
        b.extend(std::iter::repeat_n(0x91u8, depth));
        b.push(0xc0);
        let r = engine().scan_bytes("flax_model.msgpack", b);
        assert!(!r.findings.is_empty(), "{depth}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_msgpack_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"\x81\xa6params".to_vec();
        b.extend_from_slice(&tail);
        let _ = read_slice(&b, 100_000);
        let _ = looks_like_state_dict(&b, true);
        scan_quickly("flax_model.msgpack", b);
    }

    #[test]
    fn mutated_real_checkpoints_never_panic(at in 0usize..278, byte in any::<u8>()) {
        let mut b = std::fs::read(testdata().join("flax/benign/flax_model.msgpack")).expect("fixture");
        let i = at % b.len();
        b[i] = byte;
        scan_quickly("flax_model.msgpack", b);
    }
}
