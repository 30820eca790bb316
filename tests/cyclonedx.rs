//! `--format cyclonedx` (CycloneDX 1.6 AI-BOM):
//! - the documents for testdata/archives, testdata/pickle and a package inventory validate against
//!   the CycloneDX 1.6 JSON schema with the reference implementation (cyclonedx-python-lib's strict
//!   validator, tests/cyclonedx/validate.py, venv from tests/setup.sh), and the validator rejects a
//!   broken document;
//! - component hashes equal an independent SHA-256 of the fixture bytes (whole files, and zip
//!   members extracted with the `zip` crate);
//! - output is byte-identical across runs and thread counts;
//! - hashing is opt-in: without `hash_artifacts` no digest is computed or written;
//! - a snapshot of the document for one small fixture.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use assert_cmd::Command;
use modelgate::{Engine, EngineOptions, SignatureDb};
use serde_json::Value;

fn venv_python() -> Option<PathBuf> {
    common::resource("MODELGATE_VENV", "venv").map(|v| v.join("bin/python"))
}

/// Runs `modelgate <args> -f cyclonedx` from the repository root (so names are relative).
fn bom(args: &[&str]) -> (String, Value) {
    let out = Command::cargo_bin("modelgate")
        .expect("bin")
        .current_dir(common::root())
        .args(args)
        .args(["-f", "cyclonedx"])
        .output()
        .expect("run");
    assert!(
        matches!(out.status.code(), Some(0..=1)),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let doc = serde_json::from_str(&text).expect("json");
    (text, doc)
}

fn components(doc: &Value) -> &Vec<Value> {
    doc["components"].as_array().expect("components")
}

fn prop<'a>(c: &'a Value, name: &str) -> Option<&'a str> {
    c["properties"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["value"].as_str())
}

fn sha(c: &Value) -> Option<&str> {
    c["hashes"][0]["content"].as_str()
}

fn validate(py: &Path, docs: &[&Path]) -> std::process::Output {
    Proc::new(py)
        .arg(common::root().join("tests/cyclonedx/validate.py"))
        .args(docs)
        .output()
        .expect("run validate.py")
}

/// A venv-like directory with one installed distribution whose name and local version need purl
/// normalisation and percent-encoding.
fn fake_site_packages(dir: &Path) -> PathBuf {
    let root = dir.join("venv");
    let d = root.join("lib/python3.11/site-packages/Foo_Bar-1.0+cpu.dist-info");
    std::fs::create_dir_all(&d).expect("dirs");
    std::fs::write(
        d.join("METADATA"),
        "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0+cpu\n",
    )
    .expect("metadata");
    root
}

#[test]
fn documents_validate_against_the_cyclonedx_1_6_schema() {
    let t = tempfile::tempdir().expect("tmp");
    let (archives, _) = bom(&["scan", "-q", "testdata/archives"]);
    let (pickles, pdoc) = bom(&["scan", "-q", "testdata/pickle"]);
    assert!(
        pdoc["vulnerabilities"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "malicious pickles yield vulnerabilities"
    );
    let venv = fake_site_packages(t.path());
    let (packages, kdoc) = bom(&["packages", venv.to_str().expect("utf-8 path")]);
    let lib = components(&kdoc)
        .iter()
        .find(|c| c["type"] == "library")
        .expect("library component");
    assert_eq!(lib["purl"], "pkg:pypi/foo-bar@1.0%2Bcpu");
    let mut paths = Vec::new();
    for (name, text) in [
        ("archives.json", &archives),
        ("pickle.json", &pickles),
        ("packages.json", &packages),
    ] {
        let p = t.path().join(name);
        std::fs::write(&p, text).expect("write");
        paths.push(p);
    }
    // A document the schema must reject (unknown component type, non-UUID serial).
    let broken = t.path().join("broken.json");
    let mut bad: Value = serde_json::from_str(&archives).expect("json");
    bad["components"][0]["type"] = "model".into();
    bad["serialNumber"] = "urn:uuid:not-a-uuid".into();
    std::fs::write(&broken, serde_json::to_string(&bad).expect("ser")).expect("write");

    let Some(py) = venv_python() else { return };
    if !common::require(
        Proc::new(&py)
            .args(["-c", "import cyclonedx.validation.json, packageurl"])
            .status()
            .is_ok_and(|s| s.success()),
        "cyclonedx-python-lib in the test venv",
    ) {
        return;
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let out = validate(&py, &refs);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = validate(&py, &[&broken]);
    assert!(!out.status.success(), "the validator accepted a broken BOM");
}

#[test]
fn hashes_equal_an_independent_sha256_of_the_bytes() {
    let (_, doc) = bom(&["scan", "-q", "testdata/archives", "testdata/pickle"]);
    let root = common::root();
    let comps = components(&doc);
    let (mut files, mut members) = (0, 0);
    // Expected digests of zip members, extracted independently (duplicate names keep every one).
    let mut zip_members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in comps {
        let name = c["name"].as_str().expect("name");
        let path = root.join(name);
        if !path.is_file() {
            continue;
        }
        assert_eq!(
            sha(c),
            Some(common::sha256_hex(&std::fs::read(&path).expect("read")).as_str()),
            "{name}"
        );
        files += 1;
        let Ok(mut z) = std::fs::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()))
        else {
            continue;
        };
        for i in 0..z.len() {
            let Ok(mut m) = z.by_index(i) else { continue };
            let mut bytes = Vec::new();
            if m.read_to_end(&mut bytes).is_ok() {
                zip_members
                    .entry(format!("{name}:{}", m.name()))
                    .or_default()
                    .insert(common::sha256_hex(&bytes));
            }
        }
    }
    // The zip crate keeps one entry per name, so members whose name repeats are not compared.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in comps {
        *seen.entry(c["name"].as_str().expect("name")).or_default() += 1;
    }
    for c in comps {
        let name = c["name"].as_str().expect("name");
        if seen.get(name) != Some(&1) {
            continue;
        }
        if let Some(expected) = zip_members.get(name) {
            let got = sha(c).expect("member digest");
            assert!(expected.contains(got), "{name}: {got} not in {expected:?}");
            members += 1;
        }
    }
    assert!(files > 40, "only {files} files compared");
    assert!(members > 20, "only {members} zip members compared");
    // Every component with content carries a digest (directory targets and image records do not
    // exist here).
    for c in comps {
        assert!(sha(c).is_some(), "no digest for {}", c["name"]);
    }
}

#[test]
fn output_is_deterministic() {
    let (a, ad) = bom(&[
        "scan",
        "-q",
        "-j",
        "1",
        "testdata/archives",
        "testdata/pickle",
    ]);
    let (b, _) = bom(&[
        "scan",
        "-q",
        "-j",
        "4",
        "testdata/archives",
        "testdata/pickle",
    ]);
    assert_eq!(a, b);
    // A different input yields a different serial number.
    let (_, c) = bom(&["scan", "-q", "testdata/archives"]);
    assert_ne!(c["serialNumber"], ad["serialNumber"]);
}

#[test]
fn hashing_is_opt_in() {
    let target = [common::root().join("testdata/archives/benign")];
    let plain = Engine::with_defaults().expect("engine");
    let r = plain.scan_paths(&target).expect("scan");
    assert!(!r.artifacts.is_empty());
    assert!(r.artifacts.iter().all(|a| a.sha256.is_none()));
    assert!(!r.to_json().contains("sha256"));
    let hashing = Engine::new(
        SignatureDb::embedded().expect("db"),
        EngineOptions {
            hash_artifacts: true,
            ..EngineOptions::default()
        },
    )
    .expect("engine");
    let r = hashing.scan_paths(&target).expect("scan");
    assert!(r.artifacts.iter().all(|a| a.sha256.is_some()));
    let gz = r
        .artifacts
        .iter()
        .find(|a| a.location.path.ends_with("model.tar.gz") && a.location.inner.is_empty())
        .expect("model.tar.gz");
    assert_eq!(
        gz.sha256.as_deref(),
        Some(
            common::sha256_hex(
                &std::fs::read(common::root().join("testdata/archives/benign/model.tar.gz"))
                    .expect("read")
            )
            .as_str()
        )
    );
    // In-memory scans hash too.
    let r = hashing.scan_bytes("x.pkl", b"\x80\x04N.".to_vec());
    assert_eq!(
        r.artifacts[0].sha256.as_deref(),
        Some(common::sha256_hex(b"\x80\x04N.").as_str())
    );
}

#[test]
fn components_carry_type_framework_and_verdict() {
    let (_, doc) = bom(&[
        "scan",
        "-q",
        "testdata/archives/malicious/nested.zip",
        "testdata/archives/benign/plain.zip",
        "testdata/archives/malicious/model.joblib",
        "testdata/pickle/benign/arrays.npz",
    ]);
    let by_name: BTreeMap<&str, &Value> = components(&doc)
        .iter()
        .map(|c| (c["name"].as_str().expect("name"), c))
        .collect();
    let get = |n: &str| *by_name.get(n).unwrap_or_else(|| panic!("{n} missing"));
    let pt = get("testdata/archives/malicious/nested.zip:inner/model.pt");
    assert_eq!(pt["type"], "machine-learning-model");
    assert_eq!(prop(pt, "modelgate:framework"), Some("pytorch"));
    assert_eq!(prop(pt, "modelgate:verdict"), Some("findings"));
    let storage = get("testdata/archives/malicious/nested.zip:inner/model.pt:archive/data/0");
    assert_eq!(storage["type"], "data");
    assert_eq!(prop(storage, "modelgate:verdict"), Some("clean"));
    let pkl = get("testdata/archives/malicious/nested.zip:inner/model.pt:archive/data.pkl");
    assert!(prop(pkl, "modelgate:finding").is_some_and(|f| f.starts_with("pickle/")));
    let outer = get("testdata/archives/malicious/nested.zip");
    assert_eq!(outer["type"], "file");
    assert_eq!(prop(outer, "modelgate:verdict"), Some("findings"));
    let readme = get("testdata/archives/benign/plain.zip:readme.txt");
    assert_eq!(readme["type"], "file");
    assert_eq!(prop(readme, "modelgate:verdict"), Some("skipped"));
    assert_eq!(
        prop(
            get("testdata/archives/benign/plain.zip"),
            "modelgate:verdict"
        ),
        Some("clean")
    );
    let joblib = get("testdata/archives/malicious/model.joblib");
    assert_eq!(joblib["type"], "machine-learning-model");
    assert_eq!(prop(joblib, "modelgate:framework"), Some("joblib"));
    let npz = get("testdata/pickle/benign/arrays.npz");
    assert_eq!(prop(npz, "modelgate:framework"), Some("numpy"));
    assert_eq!(npz["type"], "machine-learning-model");
    // vulnerabilities point at existing components
    for v in doc["vulnerabilities"].as_array().expect("vulnerabilities") {
        for a in v["affects"].as_array().expect("affects") {
            let r = a["ref"].as_str().expect("ref");
            assert!(
                components(&doc).iter().any(|c| c["bom-ref"] == r),
                "dangling {r}"
            );
        }
    }
}

#[test]
fn snapshot_of_a_small_fixture() {
    let (_, mut doc) = bom(&["scan", "-q", "testdata/archives/malicious/nested.zip"]);
    // Values that change with every release or signature edit.
    doc["serialNumber"] = "[serial]".into();
    doc["metadata"]["tools"]["components"][0]["version"] = "[version]".into();
    for p in doc["metadata"]["properties"]
        .as_array_mut()
        .expect("properties")
    {
        if p["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("modelgate:signatures-"))
        {
            p["value"] = "[signatures]".into();
        }
    }
    insta::assert_json_snapshot!("cyclonedx_nested_zip", doc);
}
