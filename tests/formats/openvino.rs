//! OpenVINO IR (testdata/openvino, one directory per fixture with `model.xml` and `model.bin`,
//! written by testdata/generate/openvino.py; benign/mlp by the real `ov.save_model`): custom
//! layers, library references, `Const` windows against the `.bin`, DOCTYPEs, malformed XML, the
//! real IR frontend (`Core.read_model`) as the oracle, the AI-BOM's framework, and never-panics
//! property tests.

use std::fmt::Write as _;

use modelgate::formats::openvino::Ir;
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, fixtures, scan, scan_quickly, testdata, Kind,
};

#[test]
fn openvino_fixtures() {
    check_area("openvino", |kind, name| match kind {
        // Custom layers need an extension library the application registers: medium by design.
        Kind::Malicious if name == "custom-layer" || name == "unknown-type-in-opset" => {
            Severity::Medium
        }
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("openvino").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev)
}

#[test]
fn a_saved_model_is_listed_with_its_weights() {
    let r = fixture("benign", "mlp");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "openvino/model")
        .expect("summary");
    assert!(f.message.contains("7 layers, 2 Const"), "{f:?}");
    assert_eq!(
        f.evidence.get("weights").map(String::as_str),
        Some("model.bin (40 bytes)")
    );
    assert!(
        r.findings.iter().all(|f| f.severity <= Severity::Info),
        "{:#?}",
        r.findings
    );
}

#[test]
fn custom_layers_and_libraries_are_reported() {
    let r = fixture("malicious", "custom-layer");
    assert!(has(&r, "openvino/custom-layer", Severity::Medium), "{r:#?}");
    let r = fixture("malicious", "unknown-type-in-opset");
    assert!(has(&r, "openvino/custom-layer", Severity::Medium), "{r:#?}");
    for name in ["rt-info-library", "layer-data-library"] {
        let r = fixture("malicious", name);
        assert!(
            has(&r, "openvino/extension-library", Severity::High),
            "{name}: {r:#?}"
        );
    }
    let r = fixture("malicious", "doctype-xxe");
    assert!(has(&r, "openvino/doctype", Severity::High), "{r:#?}");
}

#[test]
fn const_windows_are_checked_against_the_bin() {
    for name in ["const-past-bin", "const-negative-offset", "const-hex-size"] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "openvino/weights-out-of-bounds", Severity::Medium),
            "{name}: {r:#?}"
        );
    }
    let r = fixture("malformed", "bin-missing");
    assert!(
        has(&r, "openvino/weights-unchecked", Severity::Low),
        "{r:#?}"
    );
    // The same XML on its own, with no file behind it: unchecked, not clean.
    let xml = std::fs::read(testdata().join("openvino/benign/mlp/model.xml")).expect("read");
    let r = super::engine().scan_bytes("model.xml", xml);
    assert!(
        has(&r, "openvino/weights-unchecked", Severity::Low),
        "{r:#?}"
    );
}

#[test]
fn the_ai_bom_names_openvino() {
    assert_bom_framework(
        &scan(&testdata().join("openvino/benign/mlp/model.xml")),
        "openvino-ir",
        "openvino",
    );
}

/// The real IR frontend on every fixture and on a canary twin (an internal entity in the net's
/// name): what it refuses is reported, what it loads is not called malformed or out of bounds,
/// and where it expands the canary the payload twin is flagged high.
#[test]
fn the_ir_frontend_is_the_oracle() {
    let Some(py) = super::venv_python_with("openvino") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "CANARY-9b2e71";
    let mlp = testdata().join("openvino/benign/mlp");
    let xml = std::fs::read_to_string(mlp.join("model.xml")).expect("xml");
    let twin = xml
        .replacen(
            "<net ",
            &format!("<!DOCTYPE net [<!ENTITY canary \"{token}\">]>\n<net "),
            1,
        )
        .replacen("<net name=\"mlp\"", "<net name=\"&canary;\"", 1);
    std::fs::write(dir.path().join("model.xml"), twin).expect("twin");
    std::fs::copy(mlp.join("model.bin"), dir.path().join("model.bin")).expect("bin");
    let mut paths = vec![dir.path().join("model.xml")];
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        paths.extend(
            fixtures("openvino", kind)
                .into_iter()
                .map(|d| d.join("model.xml")),
        );
    }
    let cases = super::oracle_cases(&py, "openvino_load.py", &paths);
    for (c, path) in cases.iter().zip(&paths) {
        let rep = scan(path);
        let max = rep.findings.iter().map(|f| f.severity).max();
        let ctx = format!("{}: {c}; {:#?}", path.display(), rep.findings);
        if c["name"].as_str().is_some_and(|n| n.contains(token)) {
            assert!(has(&rep, "openvino/doctype", Severity::High), "{ctx}");
        }
        match c["outcome"].as_str() {
            Some("loads") => assert!(
                !rep.findings.iter().any(|f| f.code == "openvino/malformed"
                    || f.code == "openvino/weights-out-of-bounds"
                    || f.code == "openvino/custom-layer"),
                "the frontend loads it without an extension: {ctx}"
            ),
            Some("refused") => assert!(max.is_some_and(|s| s >= Severity::Low), "{ctx}"),
            _ => assert!(max.is_some_and(|s| s >= Severity::High), "{ctx}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Ir::read(bytes.as_slice());
        let mut doc = b"<net version=\"11\"><layers>".to_vec();
        doc.extend_from_slice(&bytes);
        scan_quickly("model.xml", doc);
    }

    #[test]
    fn random_layers_never_panic(layers in proptest::collection::vec(
        ("[A-Za-z]{0,12}", "(opset[0-9]{1,2}|extension|[a-z_]{0,8})", "[-+ 0-9a-fx]{0,22}", "[-+ 0-9]{0,22}"),
        0..16)) {
        let mut text = String::from("<net name=\"m\" version=\"11\"><layers>");
        for (i, (ty, version, offset, size)) in layers.iter().enumerate() {
            write!(
                text,
                "<layer id=\"{i}\" type=\"{ty}\" version=\"{version}\"><data offset=\"{offset}\" size=\"{size}\"/></layer>"
            )
            .expect("write to a String");
        }
        text.push_str("</layers><rt_info><lib value=\"x.so\"/></rt_info></net>");
        let (_, r) = Ir::read(text.as_bytes());
        prop_assert!(r.is_ok());
        scan_quickly("model.xml", text.into_bytes());
    }
}
