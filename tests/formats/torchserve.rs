//! TorchServe model archives (`.mar`, `tgz` archives and `no-archive` model directories,
//! testdata/torchserve, written by testdata/generate/torchserve.py; the benign ones by the real
//! `torch-model-archiver`): the manifest's handler, model file and requirements file, the
//! archive's Python as model-side code, a stock handler replaced by a shipped module, the
//! serialized model scanned as a member, the AI-BOM's framework, a loader oracle
//! (tests/oracle/torchserve_loader.py does what `ts/model_loader.py` does on registration, with
//! canaries) and never-panics property tests for the manifest reader and for archives around
//! random manifests.

use modelgate::formats::torchserve::{handler_module, Manifest, MANIFEST_PATH};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{
    assert_bom_framework, check_area, default_bound, fixtures, has_finding, run_python, scan,
    scan_quickly, stored_zip, testdata, venv_python, Kind,
};

#[test]
fn torchserve_fixtures() {
    check_area("torchserve", |kind, name| match kind {
        // A custom handler is code the archive runs on registration: medium by design, even
        // when its analysis finds nothing.
        Kind::Benign if name.starts_with("custom-handler") => Severity::Medium,
        // An extra package index in the requirements is medium (code/dependency-source).
        Kind::Malicious if name == "requirements-extra-index.mar" => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("torchserve").join(kind).join(name))
}

/// `(code, severity, inner location)` of every finding.
fn findings(r: &Report) -> Vec<(String, Severity, Vec<String>)> {
    r.findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.location.inner.clone()))
        .collect()
}

fn has(r: &Report, code: &str, sev: Severity, member: &str) -> bool {
    has_finding(r, code, sev, member, "")
}

#[test]
fn a_stock_handler_archive_is_listed_and_nothing_more() {
    let r = fixture("benign", "stock-handler.mar");
    assert_eq!(
        findings(&r),
        vec![(
            "torchserve/archive".to_owned(),
            Severity::Info,
            vec![MANIFEST_PATH.to_owned()]
        )]
    );
    // The serialized model was scanned as a member (a PyTorch zip, read by the pickle scanner).
    assert!(r
        .artifacts
        .iter()
        .any(|a| a.location.inner == ["model.pt".to_owned()]));
}

#[test]
fn archive_python_is_model_side_code() {
    let r = fixture("malicious", "handler-runs-command.mar");
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "handler.py"
    ));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "code/dangerous-call")
        .expect("finding");
    assert!(f.evidence.contains_key("model-side"), "{f:?}");
    assert!(has(
        &r,
        "torchserve/handler-code",
        Severity::Medium,
        MANIFEST_PATH
    ));
    // The model file the stock base handler imports is model-side too.
    let r = fixture("malicious", "model-file-runs-command.mar");
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "model.py"
    ));
}

#[test]
fn a_handler_entry_point_that_runs_commands_is_critical() {
    let r = fixture("malicious", "handler-entry-os-system.mar");
    assert!(has(
        &r,
        "torchserve/handler-code",
        Severity::Critical,
        MANIFEST_PATH
    ));
}

#[test]
fn a_shipped_module_replacing_a_stock_handler_is_reported() {
    let r = fixture("malicious", "shadowed-stock-handler.mar");
    assert!(has(
        &r,
        "torchserve/shadowed-handler",
        Severity::Medium,
        "image_classifier.py"
    ));
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "image_classifier.py"
    ));
}

#[test]
fn the_manifests_requirements_file_is_vetted_whatever_its_name() {
    let r = fixture("malicious", "requirements-extra-index.mar");
    assert!(has(
        &r,
        "code/dependency-source",
        Severity::Medium,
        "deps.txt"
    ));
}

#[test]
fn the_serialized_model_goes_through_the_engine() {
    let r = fixture("malicious", "pickle-serialized-file.mar");
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "model.pkl"
    ));
}

#[test]
fn tgz_archives_and_model_directories_are_read_like_mar_files() {
    // A tgz archive: the model under `m/`, its Python model-side code.
    let r = fixture("malicious", "handler-runs-command.tar.gz");
    assert!(has(
        &r,
        "code/dangerous-call",
        Severity::Critical,
        "m/handler.py"
    ));
    assert!(has(
        &r,
        "torchserve/handler-code",
        Severity::Medium,
        "m/MAR-INF/MANIFEST.json"
    ));
    let r = fixture("malicious", "shadowed-stock-handler.tar.gz");
    assert!(has(
        &r,
        "torchserve/shadowed-handler",
        Severity::Medium,
        "m/image_classifier.py"
    ));
    let r = fixture("malicious", "pickle-serialized-file.tar.gz");
    assert!(has(
        &r,
        "pickle/unsafe-global",
        Severity::Critical,
        "m/model.pkl"
    ));
    // A no-archive directory: the same findings on the files themselves.
    let r = fixture("malicious", "handler-runs-command-no-archive");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "code/dangerous-call" && f.location.path.ends_with("handler.py"))
        .expect("the handler's finding");
    assert_eq!(f.severity, Severity::Critical, "{f:?}");
    assert!(f.evidence.contains_key("model-side"), "{f:?}");
    let r = fixture("malicious", "shadowed-stock-handler-no-archive");
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "torchserve/shadowed-handler"
            && f.location.path.ends_with("image_classifier.py")));
    // The real archiver's benign outputs in every format: the manifest is listed.
    for name in [
        "stock-handler.tar.gz",
        "stock-handler-no-archive",
        "custom-handler.tar.gz",
        "custom-handler-no-archive",
    ] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().any(|f| f.code == "torchserve/archive"),
            "{name}: {:#?}",
            r.findings
        );
    }
}

/// The loader oracle: for every fixture, tests/oracle/torchserve_loader.py extracts it and does
/// what TorchServe's worker does on registration (the handler module resolved and imported from
/// the model directory, its entry point initialised, the stock base handler's model file imported
/// and instantiated), with canaries in place of process and code execution. Every file of the
/// model it imports must have been scanned as model-side code, and every canary it reaches must
/// be a high or critical finding on the file (or, for a handler outside the archive, on the
/// manifest).
#[test]
fn every_module_torchserve_imports_is_scanned_as_model_side_code() {
    let Some(py) = venv_python() else {
        return;
    };
    let mut paths = Vec::new();
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        paths.extend(fixtures("torchserve", kind));
    }
    let script = testdata().join("../tests/oracle/torchserve_loader.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = run_python(&py, &args, None);
    let cases: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("case line"))
        .collect();
    assert_eq!(cases.len(), paths.len(), "{out}");
    let (mut imported, mut reached) = (0, 0);
    for (case, path) in cases.iter().zip(&paths) {
        let r = scan(path);
        let is_dir = path.is_dir();
        // The model directory inside the archive (`x/m` after extraction to `x`).
        let prefix = case["model_dir"]
            .as_str()
            .and_then(|d| d.strip_prefix("x/"))
            .map(|d| format!("{d}/"))
            .unwrap_or_default();
        for imp in case["imports"].as_array().into_iter().flatten() {
            let what = format!("{}: {imp}", path.display());
            let file = imp["file"].as_str();
            let at_file = |loc: &modelgate::Location| match file {
                Some(f) if is_dir => loc.inner.is_empty() && loc.path.ends_with(&format!("/{f}")),
                Some(f) => loc.inner.last().map(String::as_str) == Some(&format!("{prefix}{f}")),
                None => {
                    loc.inner
                        .last()
                        .is_some_and(|m| m.ends_with("MAR-INF/MANIFEST.json"))
                        || loc.path.ends_with("MAR-INF/MANIFEST.json")
                }
            };
            if let Some(f) = file {
                imported += 1;
                // Scanned as code the model runs: TorchServe code inside an archive, Python in
                // a TorchServe model directory.
                let scanned = r.artifacts.iter().any(|a| {
                    at_file(&a.location)
                        && matches!(a.format.name(), "torchserve-code" | "python")
                        && matches!(&a.status, modelgate::Status::Scanned { scanner } if scanner == "code")
                });
                assert!(
                    scanned,
                    "{what}: {f} not scanned as code: {:#?}",
                    r.artifacts
                );
            }
            if imp["reached"].is_string() {
                reached += 1;
                let flagged = r.findings.iter().any(|f| {
                    f.severity >= Severity::High
                        && at_file(&f.location)
                        && (file.is_none() || f.evidence.contains_key("model-side"))
                });
                assert!(
                    flagged,
                    "{what}: the loader reached a canary that modelgate did not flag: {:#?}",
                    r.findings
                );
            }
        }
    }
    assert!(
        imported >= 12 && reached >= 7,
        "imported {imported}, reached {reached}"
    );
}

#[test]
fn the_ai_bom_names_torchserve_as_the_archives_framework() {
    assert_bom_framework(
        &scan(&testdata().join("torchserve/benign/stock-handler.mar")),
        "zip",
        "torchserve",
    );
    assert_bom_framework(
        &scan(&testdata().join("torchserve/benign/stock-handler.tar.gz")),
        "tar",
        "torchserve",
    );
}

#[test]
fn handler_strings_resolve_like_the_model_loader() {
    assert_eq!(
        handler_module("dir/handler.py:entry"),
        Some(("handler".to_owned(), Some("entry".to_owned())))
    );
    assert_eq!(
        handler_module("image_classifier"),
        Some(("image_classifier".to_owned(), None))
    );
}

fn mar(manifest: &[u8]) -> Vec<u8> {
    stored_zip(&[(MANIFEST_PATH, manifest), ("handler.py", b"x = 1\n")])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_manifests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::parse(&bytes);
        scan_quickly("m.mar", mar(&bytes));
    }

    #[test]
    fn manifests_with_random_fields_never_panic(handler in ".{0,40}", model_file in proptest::option::of(".{0,20}")) {
        let m = serde_json::json!({"runtime": "python", "model": {"handler": handler, "modelFile": model_file}});
        let bytes = serde_json::to_vec(&m).expect("json");
        prop_assert!(Manifest::parse(&bytes).is_ok());
        scan_quickly("m.mar", mar(&bytes));
    }
}
