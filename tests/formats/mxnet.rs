//! MXNet symbol graphs and NDArray lists (testdata/mxnet, written by
//! testdata/generate/native_models.py from the layouts MXNet 1.9 writes): Custom ops and native
//! callback ops, counts and sizes the loader allocates, and never-panics property tests.

use modelgate::formats::mxnet::read_params;
use modelgate::Severity;
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata, Kind};

#[test]
fn mxnet_fixtures() {
    check_area("mxnet", |kind, name| match kind {
        Kind::Malicious if name == "custom-op-symbol.json" => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> modelgate::Report {
    scan(&testdata().join("mxnet").join(kind).join(name))
}

#[test]
fn custom_and_native_ops_are_reported() {
    let r = fixture("malicious", "custom-op-symbol.json");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "mxnet/custom-op")
        .expect("custom op");
    assert_eq!(
        f.evidence.get("op-type").map(String::as_str),
        Some("my_softmax")
    );
    let r = fixture("malicious", "native-callback-symbol.json");
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "mxnet/native-callback" && f.severity == Severity::Critical),
        "{:#?}",
        r.findings
    );
}

#[test]
fn the_ai_bom_names_mxnet() {
    assert_bom_framework(
        &fixture("benign", "net-0000.params"),
        "mxnet-params",
        "mxnet",
    );
    assert_bom_framework(
        &fixture("benign", "net-symbol.json"),
        "mxnet-symbol",
        "mxnet",
    );
}

fn params(bytes: &[u8]) {
    let read = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
        let s = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        Ok(bytes[s..s.saturating_add(n).min(bytes.len())].to_vec())
    };
    let _ = read_params(bytes.len() as u64, &read);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_params_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = 0x112u64.to_le_bytes().to_vec();
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&tail);
        params(&b);
        scan_quickly("net-0000.params", b);
    }

    #[test]
    fn mutated_real_params_never_panic(at in 16usize..192, byte in any::<u8>()) {
        let mut b = std::fs::read(testdata().join("mxnet/benign/net-0000.params")).expect("fixture");
        let i = at % b.len();
        b[i] = byte;
        scan_quickly("net-0000.params", b);
    }

    #[test]
    fn random_symbols_never_panic(op in "[A-Za-z_]{0,12}", attr in ".{0,20}") {
        let g = serde_json::json!({"nodes": [{"op": "null", "name": "d", "inputs": []},
            {"op": op, "name": "x", "attrs": {"op_type": attr, "info": attr}, "inputs": [[0, 0, 0]]}],
            "arg_nodes": [0], "heads": [[1, 0, 0]]});
        scan_quickly("net-symbol.json", serde_json::to_vec(&g).expect("json"));
    }
}
