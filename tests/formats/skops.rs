//! skops files (`.skops`, testdata/skops, written by testdata/generate/skops.py; the benign ones
//! by the real `skops.io.dump`): the schema's nodes judged against skops' default trusted types,
//! the loaders that reach code by design (operator callables, bound methods), constructors and
//! functions the pickle policy denies, a pickle named `.skops`, the AI-BOM's framework, and
//! never-panics property tests for the schema reader and for zips around random schemas.

use modelgate::formats::skops::{parse, SCHEMA_PATH};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, has_finding, scan, scan_quickly, stored_zip,
    testdata,
};

#[test]
fn skops_fixtures() {
    check_area("skops", default_bound);
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("skops").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity, text: &str) -> bool {
    has_finding(r, code, sev, SCHEMA_PATH, text)
}

#[test]
fn a_real_pipeline_is_listed_and_nothing_more() {
    let r = fixture("benign", "pipeline.skops");
    let codes: Vec<_> = r.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["skops/model"], "{:#?}", r.findings);
    assert!(has(
        &r,
        "skops/model",
        Severity::Info,
        "sklearn.pipeline.Pipeline"
    ));
    assert_bom_framework(&r, "zip", "skops");
}

#[test]
fn types_skops_asks_to_trust_are_judged_by_the_pickle_policy() {
    // A random forest's `Tree` is not trusted by skops by default (its node array is not
    // bounds-checked) but is a plain scikit-learn class: informational.
    let r = fixture("benign", "random-forest.skops");
    assert!(has(
        &r,
        "skops/untrusted-type",
        Severity::Info,
        "sklearn.tree._tree.Tree"
    ));
    let r = fixture("malicious", "object-node-popen.skops");
    assert!(has(
        &r,
        "skops/dangerous-type",
        Severity::Critical,
        "subprocess.Popen"
    ));
}

#[test]
fn functions_and_constructors_that_run_commands_are_critical() {
    for name in [
        "function-node-system.skops",
        "constructor-from-reduce.skops",
        "ndarray-class-call.skops",
    ] {
        let r = fixture("malicious", name);
        assert!(
            has(
                &r,
                "skops/dangerous-type",
                Severity::Critical,
                "posix.system"
            ),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn operator_callables_and_bound_methods_are_reported_whatever_they_name() {
    let r = fixture("malicious", "operator-methodcaller.skops");
    assert!(has(
        &r,
        "skops/operator-func",
        Severity::Critical,
        "operator.methodcaller"
    ));
    let r = fixture("malicious", "method-node.skops");
    assert!(has(
        &r,
        "skops/method-reference",
        Severity::High,
        "StandardScaler.__reduce_ex__"
    ));
}

#[test]
fn a_pickle_named_skops_is_read_as_a_pickle() {
    let r = fixture("malicious", "pickle-named-skops.skops");
    assert!(
        r.findings
            .iter()
            .any(|f| f.severity == Severity::Critical && f.code.starts_with("pickle/")),
        "{:#?}",
        r.findings
    );
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "engine/extension-mismatch"));
}

#[test]
fn schemas_skops_refuses_are_malformed() {
    for (name, text) in [
        ("schema-not-json.skops", "not JSON"),
        ("node-without-class.skops", "lacks __module__ or __class__"),
        ("unknown-loader.skops", "PickleNode"),
        ("protocol-too-new.skops", "protocol 99"),
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "skops/malformed", Severity::Medium, text),
            "{name}: {:#?}",
            r.findings
        );
    }
}

#[test]
fn a_zip_with_another_schema_json_is_not_a_skops_file() {
    let zip = stored_zip(&[(
        SCHEMA_PATH,
        br#"{"type": "object", "properties": {}}"#.as_slice(),
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("data.zip");
    std::fs::write(&p, zip).expect("write");
    let r = scan(&p);
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::Info),
        "{:#?}",
        r.findings
    );
}

#[test]
fn the_schema_is_found_by_path_whatever_its_head() {
    // 600 spaces push the node keys past the sniffing window; the zip walker still assigns it.
    let mut schema = b"{".to_vec();
    schema.extend(std::iter::repeat_n(b' ', 600));
    schema.extend_from_slice(
        br#""__class__": "system", "__module__": "posix", "__loader__": "FunctionNode", "protocol": 2}"#,
    );
    let zip = stored_zip(&[(SCHEMA_PATH, schema.as_slice())]);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("m.skops");
    std::fs::write(&p, zip).expect("write");
    let r = scan(&p);
    assert!(
        has(
            &r,
            "skops/dangerous-type",
            Severity::Critical,
            "posix.system"
        ),
        "{:#?}",
        r.findings
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_schema_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn skops_zips_around_random_schemas_scan_quickly(
        loader in "[A-Za-z]{0,20}",
        module in "[a-z._]{0,20}",
        class in "[A-Za-z_]{0,20}",
        protocol in any::<i64>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut schema = serde_json::json!({
            "__class__": class, "__module__": module, "__loader__": loader,
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                     "__loader__": "ListNode", "content": []}},
            "protocol": protocol,
        })
        .to_string()
        .into_bytes();
        schema.extend(tail);
        scan_quickly("m.skops", stored_zip(&[(SCHEMA_PATH, schema.as_slice())]));
    }
}
