//! TensorFlow Lite (`.tflite`) and ONNX Runtime's ORT format (`.ort`), both FlatBuffers read by
//! the bounded reader of `modelgate::formats::flatbuffer` (testdata/{tflite,ort}, written by
//! testdata/generate/tflite.py): fixtures, the Flex and custom-op rules, associated files appended
//! as a zip, real models from PyPI packages (tests/real_models/fetch_tflite.sh), the real loaders
//! as oracles (ai-edge-litert's interpreter, onnxruntime) on the fixtures and on byte-level
//! mutants of them, and never-panics property tests.

use std::path::{Path, PathBuf};

use modelgate::formats::flatbuffer::Reader;
use modelgate::{Severity, Status};
use proptest::prelude::*;
use serde_json::Value;

use super::{
    check_area, default_bound, engine, fixtures, real_models, run_python, scan_quickly, testdata,
    venv_python, Kind,
};

#[test]
fn tflite_fixtures() {
    check_area("tflite", |kind, name| match kind {
        // Custom ops need a native kernel the application must register, and overlapping ranges
        // alias data: medium, as the ONNX scanner's custom domains.
        Kind::Malicious if name.starts_with("custom-") || name.starts_with("overlapping") => {
            Severity::Medium
        }
        _ => default_bound(kind, name),
    });
}

#[test]
fn ort_fixtures() {
    check_area("ort", |kind, name| match kind {
        Kind::Malicious if name.starts_with("custom-domain") => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn codes_of(path: &Path) -> Vec<(String, Severity, Vec<String>)> {
    let rep = engine().scan_paths(&[path.to_path_buf()]).expect("scan");
    rep.findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.location.inner.clone()))
        .collect()
}

#[test]
fn appended_associated_files_are_scanned_as_members() {
    let p = testdata().join("tflite/malicious/appended-zip-pickle.tflite");
    let found = codes_of(&p);
    assert!(
        found.iter().any(|(c, s, inner)| c == "pickle/unsafe-global"
            && *s >= Severity::High
            && inner == &["labels.pkl".to_owned()]),
        "{found:#?}"
    );
    assert!(found.iter().any(|(c, ..)| c == "tflite/metadata"));
}

#[test]
fn the_extended_builtin_code_decides_like_the_loader() {
    // deprecated_builtin_code says ADD, builtin_code says CUSTOM: GetBuiltinCode takes the max.
    let p = testdata().join("tflite/malicious/flex-via-extended-code.tflite");
    let found = codes_of(&p);
    assert!(
        found
            .iter()
            .any(|(c, s, _)| c == "tflite/flex-dangerous-op" && *s == Severity::High),
        "{found:#?}"
    );
}

#[test]
fn the_flex_delegate_runs_the_op_its_options_name() {
    // custom code FlexAddV2, options ["WriteFile", NodeDef{op: "NoOp"}]: the delegate creates
    // WriteFile (OpNode::BuildEagerOp uses the options' name).
    let p = testdata().join("tflite/malicious/flex-options-run-another-op.tflite");
    let rep = engine().scan_paths(&[p]).expect("scan");
    let dangerous = rep
        .findings
        .iter()
        .find(|f| f.code == "tflite/flex-dangerous-op")
        .expect("flex-dangerous-op");
    assert_eq!(dangerous.evidence["op"], "WriteFile");
    assert_eq!(dangerous.evidence["custom_code"], "FlexAddV2");
    assert!(rep
        .findings
        .iter()
        .any(|f| f.code == "tflite/flex-name-mismatch"));
}

#[test]
fn every_truncation_of_a_model_is_reported_never_clean() {
    let e = engine();
    for (area, file) in [("tflite", "benign/add.tflite"), ("ort", "benign/mlp.ort")] {
        let bytes = std::fs::read(testdata().join(area).join(file)).expect("read");
        // The last bytes may be alignment padding nothing reads: cut into content only.
        for n in (8..bytes.len().saturating_sub(3)).step_by(7) {
            let cut = bytes.get(..n).expect("cut").to_vec();
            let rep = e.scan_bytes(&format!("m.{area}"), cut);
            let max = rep.findings.iter().map(|f| f.severity).max();
            assert!(
                max.is_some_and(|s| s >= Severity::Medium),
                "{area} truncated at {n}: {:#?}",
                rep.findings
            );
        }
    }
}

/// Real benign models (tests/real_models/fetch_tflite.sh): basic-pitch's TFLite model and its ONNX
/// model converted to ORT, and the wake-word models of pymicro-wakeword and pyopen-wakeword, scan
/// with nothing above info, and the walk reaches their operators.
#[test]
fn real_models_scan_clean() {
    let Some(dir) = real_models() else { return };
    let root = dir.join("basic-pitch-tflite");
    let dirs: Vec<PathBuf> = ["basic-pitch-tflite", "pymicro-wakeword", "pyopen-wakeword"]
        .iter()
        .map(|d| dir.join(d))
        .collect();
    for d in &dirs {
        assert!(
            d.is_dir(),
            "{} missing: run tests/real_models/fetch_tflite.sh",
            d.display()
        );
    }
    let e = engine();
    let rep = e.scan_paths(&dirs).expect("scan");
    let bad: Vec<_> = rep
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let scanned = |s: &str| {
        rep.artifacts
            .iter()
            .filter(|a| matches!(&a.status, Status::Scanned { scanner } if scanner == s))
            .count()
    };
    assert!(
        scanned("tflite") >= 12,
        "fewer than 12 TFLite models scanned"
    );
    assert!(scanned("ort") >= 2, "fewer than two ORT models scanned");
    let tfl = root.join("basic_pitch/saved_models/icassp_2022/nmp.tflite");
    let bytes = std::fs::read(&tfl).expect("read");
    let src: &[u8] = &bytes;
    let r = Reader::new(&src, 10_000_000);
    let mut m = modelgate::formats::tflite::Model::default();
    modelgate::formats::tflite::parse(&r, &mut m).expect("parse");
    assert_eq!(m.version, 3);
    assert!(m.identifier_ok && m.subgraphs >= 1 && m.operators > 10 && m.tensors > 10);
    assert!(m.issues.is_empty(), "{:?}", m.issues);
    // Read in 64 KiB pages (how models over 64 MiB are read), the same model comes out.
    let paged = modelgate::formats::flatbuffer::Paged::new(bytes.len() as u64, |at, n| {
        let s = usize::try_from(at).expect("offset").min(bytes.len());
        Ok(bytes
            .get(s..s.saturating_add(n).min(bytes.len()))
            .unwrap_or_default()
            .to_vec())
    });
    let mut pm = modelgate::formats::tflite::Model::default();
    modelgate::formats::tflite::parse(&Reader::new(&paged, 10_000_000), &mut pm).expect("parse");
    assert_eq!(format!("{m:?}"), format!("{pm:?}"));
    let ort = root.join("basic_pitch/saved_models/icassp_2022/nmp.ort");
    let bytes = std::fs::read(&ort).expect("read");
    let src: &[u8] = &bytes;
    let r = Reader::new(&src, 10_000_000);
    let mut m = modelgate::formats::ort::OrtModel::default();
    modelgate::formats::ort::parse(&r, &mut m).expect("parse");
    assert!(m.identifier_ok && m.nodes > 10, "{m:?}");
}

/// The real interpreter (ai-edge-litert, `tests/oracle/tflite_load.py`) on every TFLite fixture:
/// what it refuses is reported, what this scanner calls malformed it refuses too, nothing it
/// crashes on passes below high, the extended builtin code makes it apply the Flex delegate, and
/// the wrapping ranges this scanner flags pass the interpreter's own bound check.
#[test]
fn interpreter_oracle_agrees() {
    let Some(py) = venv_python() else {
        return;
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        paths.extend(fixtures("tflite", kind));
    }
    let script = root().join("tests/oracle/tflite_load.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = run_python(&py, &args, None);
    let cases: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("case line"))
        .collect();
    assert_eq!(cases.len(), paths.len(), "{out}");
    for c in &cases {
        let path = PathBuf::from(c["path"].as_str().expect("path"));
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let outcome = c["outcome"].as_str().expect("outcome");
        let rep = engine()
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        let max = rep.findings.iter().map(|f| f.severity).max();
        let malformed = rep.findings.iter().any(|f| f.code == "tflite/malformed");
        let ctx = format!("{name}: interpreter {c}; findings {:#?}", rep.findings);
        match outcome {
            "refused" => assert!(max.is_some_and(|s| s >= Severity::Low), "{ctx}"),
            "crashed" => assert!(max.is_some_and(|s| s >= Severity::High), "{ctx}"),
            _ => assert!(
                !malformed,
                "called malformed but the interpreter loads it: {ctx}"
            ),
        }
        if path.parent().is_some_and(|d| d.ends_with("benign")) {
            assert!(matches!(outcome, "allocates" | "loads"), "{ctx}");
        }
        if name == "flex-via-extended-code.tflite" {
            assert!(
                c["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Select TensorFlow op"),
                "{ctx}"
            );
        }
        if name.contains("wrap") {
            assert_ne!(outcome, "refused", "{ctx}");
        }
    }
}

/// A differential against the interpreter: fixtures with one to three bytes overwritten
/// (deterministically, mostly where the flatbuffer's tables and vtables are). Whatever the
/// interpreter refuses is reported (except the Python binding's own UTF-8 decoding of names),
/// what it crashes on is high, and `tflite/malformed` is only ever said of a model it refuses.
#[test]
fn mutants_agree_with_the_interpreter() {
    let Some(py) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut next = super::xorshift(0x2545_f491_4f6c_dd1d);
    let mut paths = Vec::new();
    for file in [
        "benign/add.tflite",
        "benign/buffers-after-flatbuffer.tflite",
        "benign/with-associated-files.tflite",
        "benign/extended-builtin-code.tflite",
    ] {
        let orig = fixture_bytes("tflite", file);
        for k in 0..120 {
            let mut b = orig.clone();
            let edits = 1 + next() % 3;
            for _ in 0..edits {
                let span = (b.len() as u64).saturating_sub(8).max(1);
                let at = 8 + usize::try_from(next() % span).expect("index");
                if let Some(v) = b.get_mut(at) {
                    *v = (next() & 0xff) as u8;
                }
            }
            let stem = file.replace(['/', '.'], "_");
            let p = dir.path().join(format!("{stem}_{k:03}.tflite"));
            std::fs::write(&p, &b).expect("write");
            paths.push(p);
        }
    }
    let script = root().join("tests/oracle/tflite_load.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = run_python(&py, &args, None);
    let mut refused = 0;
    let mut wrong: Vec<String> = Vec::new();
    for line in out.lines() {
        let c: Value = serde_json::from_str(line).expect("case line");
        let path = PathBuf::from(c["path"].as_str().expect("path"));
        let outcome = c["outcome"].as_str().expect("outcome");
        let error = c["error"].as_str().unwrap_or_default();
        let rep = engine()
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        let max = rep.findings.iter().map(|f| f.severity).max();
        let malformed = rep.findings.iter().any(|f| f.code == "tflite/malformed");
        let codes: Vec<&str> = rep.findings.iter().map(|f| f.code.as_str()).collect();
        let ctx = format!("{}: interpreter {c}; findings {codes:?}", path.display());
        // Refusals that are not about the file's structure: the Python binding decoding names
        // as UTF-8, and op resolution (which builtin ops and versions this runtime has).
        let capability = error.contains("codec can't decode")
            || error.contains("Didn't find op for builtin opcode")
            || error.contains("Didn't find custom op");
        match outcome {
            "refused" => {
                refused += 1;
                if max.is_none_or(|s| s < Severity::Low) && !capability {
                    wrong.push(format!("refused but not reported: {ctx}"));
                }
            }
            "crashed" => {
                if max.is_none_or(|s| s < Severity::High) {
                    wrong.push(format!("crashed but not high: {ctx}"));
                }
            }
            _ => {
                if malformed {
                    wrong.push(format!("malformed but the interpreter loads it: {ctx}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        refused > 50,
        "only {refused} mutants refused: the mutation missed the structure"
    );
}

/// ONNX Runtime (`tests/oracle/ort_load.py`) on the ORT fixtures and on mutants of them: what its
/// flatbuffer verifier refuses is reported, `ort/malformed` is only said of files it refuses,
/// and the hand-built malicious fixtures get past its verifier and graph loading (they fail only
/// when the session looks for kernels).
#[test]
fn ort_oracle_agrees() {
    let Some(py) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut paths: Vec<PathBuf> = Vec::new();
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        paths.extend(fixtures("ort", kind));
    }
    let mut next = super::xorshift(0x9e37_79b9_7f4a_7c15);
    for file in ["benign/mlp.ort", "malicious/custom-domain-in-subgraph.ort"] {
        let orig = fixture_bytes("ort", file);
        for k in 0..120 {
            let mut b = orig.clone();
            for _ in 0..=(next() % 3) {
                let span = (b.len() as u64).saturating_sub(8).max(1);
                let at = 8 + usize::try_from(next() % span).expect("index");
                if let Some(v) = b.get_mut(at) {
                    *v = (next() & 0xff) as u8;
                }
            }
            let p = dir
                .path()
                .join(format!("{}_{k:03}.ort", file.replace(['/', '.'], "_")));
            std::fs::write(&p, &b).expect("write");
            paths.push(p);
        }
    }
    let script = root().join("tests/oracle/ort_load.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = run_python(&py, &args, None);
    let mut wrong: Vec<String> = Vec::new();
    let mut unverifiable = 0;
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let c: Value = serde_json::from_str(line).expect("case line");
        let path = PathBuf::from(c["path"].as_str().expect("path"));
        let outcome = c["outcome"].as_str().expect("outcome");
        let error = c["error"].as_str().unwrap_or_default();
        let rep = engine()
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        let max = rep.findings.iter().map(|f| f.severity).max();
        let malformed = rep.findings.iter().any(|f| f.code == "ort/malformed");
        let codes: Vec<&str> = rep.findings.iter().map(|f| f.code.as_str()).collect();
        let ctx = format!("{}: onnxruntime {c}; findings {codes:?}", path.display());
        let fixture = path.starts_with(testdata());
        if error.contains("verification failed") {
            unverifiable += 1;
            if max.is_none_or(|s| s < Severity::Low) {
                wrong.push(format!("unverifiable but not reported: {ctx}"));
            }
            if fixture && !path.parent().is_some_and(|d| d.ends_with("malformed")) {
                wrong.push(format!(
                    "fixture outside malformed/ fails verification: {ctx}"
                ));
            }
        }
        if outcome == "crashed" && max.is_none_or(|s| s < Severity::High) {
            wrong.push(format!("crashed but not high: {ctx}"));
        }
        if outcome == "loads" && malformed {
            wrong.push(format!("malformed but onnxruntime loads it: {ctx}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        unverifiable > 20,
        "only {unverifiable} files failed verification"
    );
}

/// Models over 64 MiB are read in pages rather than whole: both sources give the same model.
#[test]
fn paged_and_in_memory_reads_agree() {
    use modelgate::formats::flatbuffer::Paged;
    for kind in [Kind::Benign, Kind::Malicious, Kind::Malformed] {
        for path in fixtures("tflite", kind) {
            let bytes = std::fs::read(&path).expect("read");
            let slice: &[u8] = &bytes;
            let mut whole = modelgate::formats::tflite::Model::default();
            let a = modelgate::formats::tflite::parse(&Reader::new(&slice, 1_000_000), &mut whole);
            let paged = Paged::new(bytes.len() as u64, |at, n| {
                let s = usize::try_from(at).expect("offset").min(bytes.len());
                Ok(bytes
                    .get(s..s.saturating_add(n).min(bytes.len()))
                    .unwrap_or_default()
                    .to_vec())
            });
            let mut pm = modelgate::formats::tflite::Model::default();
            let b = modelgate::formats::tflite::parse(&Reader::new(&paged, 1_000_000), &mut pm);
            assert_eq!(a, b, "{}", path.display());
            assert_eq!(
                format!("{whole:?}"),
                format!("{pm:?}"),
                "{}",
                path.display()
            );
        }
    }
}

fn fixture_bytes(area: &str, file: &str) -> Vec<u8> {
    std::fs::read(testdata().join(area).join(file)).expect("read fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes behind each identifier.
    #[test]
    fn random_flatbuffers_never_panic(root in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..1024)) {
        for id in [b"TFL3", b"ORTM"] {
            let mut b = root.to_le_bytes().to_vec();
            b.extend_from_slice(id);
            b.extend_from_slice(&tail);
            scan_quickly("m.bin", b);
        }
    }

    /// Real models with bytes overwritten: offsets and vtables point anywhere.
    #[test]
    fn mutated_models_never_panic(edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..16)) {
        for (area, file) in [
            ("tflite", "benign/add.tflite"),
            ("tflite", "benign/buffers-after-flatbuffer.tflite"),
            ("ort", "benign/mlp.ort"),
            ("ort", "malicious/custom-domain-in-subgraph.ort"),
        ] {
            let mut b = fixture_bytes(area, file);
            let len = b.len();
            for (pos, v) in &edits {
                if let Some(x) = b.get_mut(usize::from(*pos) % len) {
                    *x = *v;
                }
            }
            scan_quickly(&format!("m.{area}"), b);
        }
    }
}
