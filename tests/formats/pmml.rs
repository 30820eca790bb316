//! PMML documents (testdata/pmml, written by testdata/generate/pmml.py; one benign document by
//! nyoka from a scikit-learn tree): XXE and entity bombs in DOCTYPEs, Java UDFs, code-carrying
//! extensions, external references, malformed XML, the real PMML4S evaluator (pypmml) as the
//! oracle on canary twins, the AI-BOM's framework, and never-panics property tests.

use std::path::PathBuf;

use modelgate::formats::pmml::Document;
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, has_finding, scan, scan_quickly, testdata,
    Kind,
};

#[test]
fn pmml_fixtures() {
    check_area("pmml", |kind, name| match kind {
        // The class is not in the model and an external schema location is a fetch, not code:
        // medium by design.
        Kind::Malicious if name.starts_with("java-udf") || name.starts_with("schema-location") => {
            Severity::Medium
        }
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("pmml").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity) -> bool {
    has_finding(r, code, sev, "", "")
        || r.findings
            .iter()
            .any(|f| f.code == code && f.severity == sev)
}

#[test]
fn benign_documents_are_listed_with_their_models() {
    let r = fixture("benign", "decision-tree-nyoka.pmml");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "pmml/model")
        .expect("summary");
    assert!(f.message.contains("TreeModel"), "{f:?}");
    assert_eq!(
        f.evidence.get("application").map(String::as_str),
        Some("Nyoka 5.5.0")
    );
    // SkLearn2PMML's layout: a `repr` extension, a dotted function it defines itself, the DMG
    // schema location. None of it is reported.
    let r = fixture("benign", "sklearn2pmml-layout.pmml");
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
}

#[test]
fn xxe_and_entity_bombs_are_high() {
    for name in [
        "xxe-file-entity.pmml",
        "xxe-external-dtd.pmml",
        "entity-expansion-bomb.pmml",
    ] {
        let r = fixture("malicious", name);
        assert!(has(&r, "pmml/doctype", Severity::High), "{name}: {r:#?}");
    }
    let r = fixture("malicious", "xxe-file-entity.pmml");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "pmml/doctype")
        .expect("doctype");
    assert_eq!(
        f.evidence.get("external-entities").map(String::as_str),
        Some("xxe -> file:///etc/hostname")
    );
    assert_eq!(
        f.evidence.get("referenced").map(String::as_str),
        Some("xxe")
    );
}

#[test]
fn code_in_extensions_is_critical_when_it_executes() {
    for name in [
        "extension-javascript-exec.pmml",
        "extension-python-exec.pmml",
    ] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "pmml/extension-code", Severity::Critical),
            "{name}: {r:#?}"
        );
    }
}

#[test]
fn java_udfs_and_external_references_are_reported() {
    let r = fixture("malicious", "java-udf-class.pmml");
    assert!(has(&r, "pmml/java-function", Severity::Medium));
    let r = fixture("malicious", "schema-location-ssrf.pmml");
    assert!(has(&r, "pmml/external-reference", Severity::Medium));
    let r = fixture("malicious", "xinclude-local-file.pmml");
    assert!(has(&r, "pmml/external-reference", Severity::High));
}

#[test]
fn malformed_documents_are_reported() {
    for name in [
        "truncated.pmml",
        "not-xml.pmml",
        "utf16.pmml",
        "undeclared-entity.pmml",
        "wrong-root.pmml",
        "mismatched-tags.pmml",
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "pmml/malformed", Severity::Medium),
            "{name}: {r:#?}"
        );
    }
}

#[test]
fn a_pmml_root_is_recognised_whatever_the_name() {
    let bytes =
        std::fs::read(testdata().join("pmml/malicious/xxe-file-entity.pmml")).expect("read");
    let r = super::engine().scan_bytes("model.xml", bytes);
    assert!(has(&r, "pmml/doctype", Severity::High), "{r:#?}");
}

#[test]
fn the_ai_bom_names_pmml() {
    assert_bom_framework(
        &scan(&testdata().join("pmml/benign/regression-plain.pmml")),
        "pmml",
        "pmml",
    );
}

/// Canary twins: the same entity declarations as the payloads, pointing at a value (internal
/// entity) or a file (external entity) this test controls. Where PMML4S's parser expands the
/// canary, the evaluator would expand the payload: modelgate must flag the twin at high. Where
/// the evaluator refuses or hangs on a document, modelgate must report it.
#[test]
fn the_pmml4s_evaluator_is_the_oracle() {
    let Some(py) = super::venv_python_with("pypmml") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "CANARY-4c1d9e";
    let canary_file = dir.path().join("canary.txt");
    std::fs::write(&canary_file, token).expect("write canary");
    let body = |doctype: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{doctype}\n<PMML xmlns=\"http://www.dmg.org/PMML-4_4\" version=\"4.4\">\n<Header description=\"&canary;\"/>\n<DataDictionary numberOfFields=\"2\"><DataField name=\"x\" optype=\"continuous\" dataType=\"double\"/><DataField name=\"y\" optype=\"continuous\" dataType=\"double\"/></DataDictionary>\n<RegressionModel functionName=\"regression\"><MiningSchema><MiningField name=\"x\"/><MiningField name=\"y\" usageType=\"target\"/></MiningSchema><RegressionTable intercept=\"0\"><NumericPredictor name=\"x\" coefficient=\"1\"/></RegressionTable></RegressionModel>\n</PMML>\n"
        )
    };
    let twins = [
        (
            "internal-entity.pmml",
            body(&format!("<!DOCTYPE PMML [<!ENTITY canary \"{token}\">]>")),
        ),
        (
            "external-entity.pmml",
            body(&format!(
                "<!DOCTYPE PMML [<!ENTITY canary SYSTEM \"file://{}\">]>",
                canary_file.display()
            )),
        ),
    ];
    let mut paths = Vec::new();
    for (name, text) in &twins {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write twin");
        paths.push(p);
    }
    let benign: Vec<PathBuf> = super::fixtures("pmml", Kind::Benign);
    paths.extend(benign.iter().cloned());
    paths.push(testdata().join("pmml/malformed/undeclared-entity.pmml"));
    let cases = super::oracle_cases(&py, "pmml_load.py", &paths);
    let mut reached = 0;
    for (c, path) in cases.iter().zip(&paths) {
        let rep = scan(path);
        let max = rep.findings.iter().map(|f| f.severity).max();
        let ctx = format!("{}: {c}; {:#?}", path.display(), rep.findings);
        let expanded = c["description"].as_str().is_some_and(|d| d.contains(token));
        if expanded {
            reached += 1;
            assert!(has(&rep, "pmml/doctype", Severity::High), "{ctx}");
        }
        match c["outcome"].as_str() {
            Some("loads") if benign.contains(path) => {
                assert!(max.is_none_or(|s| s <= Severity::Info), "{ctx}");
            }
            Some("refused" | "hung") => {
                assert!(max.is_some_and(|s| s >= Severity::Medium), "{ctx}");
            }
            _ => {}
        }
    }
    // PMML4S expands internal entities (the JDK parser's defaults): the oracle must have seen
    // at least that canary, or it checked nothing.
    assert!(reached >= 1, "no canary reached: {cases:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Document::read(bytes.as_slice());
        let mut doc = b"<PMML version=\"4.4\">".to_vec();
        doc.extend_from_slice(&bytes);
        scan_quickly("m.pmml", doc);
    }

    #[test]
    fn random_markup_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            Just("<Extension name=\"script\">".to_owned()),
            Just("</Extension>".to_owned()),
            Just("<!DOCTYPE PMML [<!ENTITY a SYSTEM \"file:///x\">]>".to_owned()),
            Just("&a;".to_owned()),
            Just("<Apply function=\"a.b\"/>".to_owned()),
            Just("<![CDATA[os.system('x')]]>".to_owned()),
            "[<>/&;a-z\" =]{0,12}",
        ], 0..24)) {
        let text = format!("<PMML>{}</PMML>", parts.concat());
        let _ = Document::read(text.as_bytes());
        scan_quickly("m.pmml", text.into_bytes());
    }
}
