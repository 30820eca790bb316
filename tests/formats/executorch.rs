//! ExecuTorch programs (testdata/executorch, written by testdata/generate/executorch.py from the
//! documented schema and layout; the `executorch` package needs torch, so there is no loader
//! oracle): delegate backends by policy, blobs and named data handed back to the engine (a pickle
//! in a delegate blob, a shared library in named data), appended data, segments outside the file or
//! inside the flatbuffer, what the runtime refuses, sniffing by identifier, the AI-BOM's framework,
//! and never-panics property tests.

use modelgate::formats::executorch::{layout, parse, read_header, Program};
use modelgate::formats::flatbuffer::Reader;
use modelgate::{Report, Severity, Status};
use proptest::prelude::*;

use std::path::{Path, PathBuf};

use super::{
    assert_bom_framework, check_area, default_bound, engine, fixtures, oracle_cases, scan,
    scan_quickly, testdata, Kind,
};

#[test]
fn executorch_fixtures() {
    check_area("executorch", |kind, name| match (kind, name) {
        // An unknown backend is medium by default (high with --strict).
        (Kind::Malicious, "unknown-backend.pte" | "overlapping-segments.pte") => Severity::Medium,
        _ => default_bound(kind, name),
    });
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("executorch").join(kind).join(name))
}

fn bytes(kind: &str, name: &str) -> Vec<u8> {
    std::fs::read(testdata().join("executorch").join(kind).join(name)).expect("read fixture")
}

fn has(r: &Report, code: &str, sev: Severity) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev)
}

/// A finding of `code` at `sev` inside a member whose name starts with `member`.
fn has_in(r: &Report, code_prefix: &str, sev: Severity, member: &str) -> bool {
    r.findings.iter().any(|f| {
        f.code.starts_with(code_prefix)
            && f.severity == sev
            && f.location
                .inner
                .last()
                .is_some_and(|m| m.starts_with(member))
    })
}

#[test]
fn known_backends_are_listed_at_info() {
    let r = fixture("benign", "xnnpack-delegate.pte");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "executorch/delegate")
        .expect("delegate finding");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        f.evidence.get("backend").map(String::as_str),
        Some("XnnpackBackend")
    );
    assert!(f.message.contains("forward"), "{f:?}");
    assert!(
        r.artifacts
            .iter()
            .any(|a| matches!(&a.status, Status::Scanned { scanner } if scanner == "executorch")),
        "{r:#?}"
    );
    // The delegate blob and the constant segment went back through the engine.
    for member in ["delegate@", "constants@"] {
        assert!(
            r.artifacts.iter().any(|a| a
                .location
                .inner
                .last()
                .is_some_and(|m| m.starts_with(member))),
            "{member}: {:#?}",
            r.artifacts
        );
    }
}

#[test]
fn unknown_backends_are_medium_and_high_when_strict() {
    let r = fixture("malicious", "unknown-backend.pte");
    assert!(
        has(&r, "executorch/unknown-backend", Severity::Medium),
        "{r:#?}"
    );
    let strict = modelgate::Engine::new(
        modelgate::SignatureDb::embedded().expect("db"),
        modelgate::EngineOptions {
            strict: true,
            ..modelgate::EngineOptions::default()
        },
    )
    .expect("engine")
    .scan_bytes("m.pte", bytes("malicious", "unknown-backend.pte"));
    assert!(
        has(&strict, "executorch/unknown-backend", Severity::High),
        "{strict:#?}"
    );
}

#[test]
fn a_pickle_in_a_delegate_blob_is_found() {
    let r = fixture("malicious", "delegate-blob-pickle.pte");
    assert!(
        has_in(&r, "pickle/", Severity::Critical, "delegate@"),
        "{r:#?}"
    );
}

#[test]
fn appended_data_is_reported_and_scanned() {
    let r = fixture("malicious", "appended-pickle.pte");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "executorch/unaccounted-data")
        .expect("unaccounted data");
    assert_eq!(f.severity, Severity::High);
    assert!(
        has_in(&r, "pickle/", Severity::Critical, "unaccounted@"),
        "{r:#?}"
    );
    // The same program without the pickle carries nothing above info.
    let clean = fixture("benign", "xnnpack-delegate.pte");
    assert!(!clean
        .findings
        .iter()
        .any(|f| f.code == "executorch/unaccounted-data"));
}

#[test]
fn aoti_backends_and_shared_libraries_are_high() {
    let r = fixture("malicious", "cuda-backend-shared-library.pte");
    assert!(
        has(&r, "executorch/dangerous-backend", Severity::High),
        "{r:#?}"
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "executorch/native-code")
        .expect("native code");
    assert!(f.message.contains("aoti_cuda_blob.so"), "{f:?}");
    assert!(f.location.offset.is_some());
}

#[test]
fn segments_inside_the_program_or_outside_the_file_are_reported() {
    let r = fixture("malicious", "segment-overlaps-program.pte");
    assert!(
        has(&r, "executorch/segment-overlaps-program", Severity::High),
        "{r:#?}"
    );
    // The program's own bytes are not scanned again as a segment (no file inside itself).
    for name in ["segment-overlaps-program.pte", "header-too-short.pte"] {
        let kind = if name.starts_with("segment") {
            "malicious"
        } else {
            "malformed"
        };
        let r = fixture(kind, name);
        assert!(
            !r.artifacts
                .iter()
                .any(|a| !a.location.inner.is_empty() && a.format == modelgate::Format::ExecuTorch),
            "{name}: {:#?}",
            r.artifacts
        );
    }
    let r = fixture("malicious", "segment-offset-wraps.pte");
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "executorch/segment-out-of-bounds"
                && f.severity == Severity::High
                && f.message.contains("wraps around")),
        "{r:#?}"
    );
    let r = fixture("malicious", "overlapping-segments.pte");
    assert!(
        has(&r, "executorch/overlapping-segments", Severity::Medium),
        "{r:#?}"
    );
    let r = fixture("malformed", "segment-past-eof.pte");
    assert!(
        has(&r, "executorch/segment-out-of-bounds", Severity::High),
        "{r:#?}"
    );
}

#[test]
fn blobs_count_against_the_member_budget() {
    let limited = modelgate::Engine::new(
        modelgate::SignatureDb::embedded().expect("db"),
        modelgate::EngineOptions {
            limits: modelgate::Limits {
                max_members: 1,
                ..modelgate::Limits::default()
            },
            ..modelgate::EngineOptions::default()
        },
    )
    .expect("engine")
    .scan_bytes("m.pte", bytes("benign", "xnnpack-delegate.pte"));
    assert!(
        limited
            .findings
            .iter()
            .any(|f| f.code == "engine/inconclusive"
                && f.severity == Severity::High
                && f.message
                    .contains("1 remaining delegate blobs and segments")),
        "{limited:#?}"
    );
}

#[test]
fn custom_kernels_are_listed() {
    let r = fixture("benign", "custom-kernel.pte");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "executorch/custom-op")
        .expect("custom op");
    assert!(f.message.contains("llama::sdpa_with_kv_cache.out"), "{f:?}");
    assert!(!f.message.contains("aten::add"), "{f:?}");
}

#[test]
fn what_the_runtime_refuses_is_malformed() {
    for (name, text) in [
        ("truncated.pte", "program_size"),
        ("header-sizes-past-eof.pte", "expects a file of at least"),
        ("header-too-short.pte", "fewer than the 24"),
        (
            "delegate-index-out-of-range.pte",
            "backend_delegate_data[3] of 0",
        ),
        ("jump-out-of-range.pte", "jumps to instruction 99"),
        ("root-past-eof.pte", "does not read"),
        ("kernel-arg-out-of-range.pte", "passes value 9 of 4"),
        ("negative-tensor-size.pte", "has size -1 at dimension 0"),
        (
            "delegate-without-processed-data.pte",
            "has no processed-data reference",
        ),
        ("unknown-data-location.pte", "data location 7"),
    ] {
        let r = fixture("malformed", name);
        assert!(
            r.findings.iter().any(|f| f.code == "executorch/malformed"
                && f.severity == Severity::High
                && f.message.contains(text)),
            "{name}: {r:#?}"
        );
    }
    let r = fixture("malformed", "wrong-identifier.pte");
    assert!(
        has(&r, "executorch/unsupported-version", Severity::Low),
        "{r:#?}"
    );
}

#[test]
fn a_program_is_recognised_by_its_identifier_whatever_the_name() {
    let r = engine().scan_bytes("weights.bin", bytes("malicious", "unknown-backend.pte"));
    assert!(
        has(&r, "executorch/unknown-backend", Severity::Medium),
        "{r:#?}"
    );
    // A .pte name on other content is a mismatch.
    let r = engine().scan_bytes("model.pte", b"\x80\x02}q\x00.".to_vec());
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "engine/extension-mismatch"),
        "{r:#?}"
    );
}

#[test]
fn the_ai_bom_names_executorch() {
    assert_bom_framework(
        &fixture("benign", "xnnpack-delegate.pte"),
        "executorch",
        "executorch",
    );
}

/// A Python that imports `executorch_numpy_runtime` (the real ExecuTorch 1.3.1 runtime with its
/// portable kernels and XNNPACK, no torch; it needs Python >= 3.12, newer than the test venv's):
/// `MODELGATE_EXECUTORCH_PYTHON`, else `<resources>/venv-executorch/bin/python`; `None` with a
/// notice when neither is there.
#[allow(clippy::print_stderr)] // the skip notice is the point
fn executorch_python() -> Option<PathBuf> {
    let py = std::env::var_os("MODELGATE_EXECUTORCH_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("MODELGATE_RESOURCES").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-resources"),
                PathBuf::from,
            );
            Some(base.join("venv-executorch/bin/python")).filter(|p| p.is_file())
        });
    let ok = py.as_ref().is_some_and(|py| {
        std::process::Command::new(py)
            .args(["-c", "import executorch_numpy_runtime"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        eprintln!("notice: no Python with executorch-numpy-runtime; skipping the ExecuTorch runtime oracle");
        return None;
    }
    py
}

/// The real runtime on every fixture (tests/oracle/executorch_load.py): the benign programs load
/// and reach their delegate's backend (which refuses the stub XNNPACK graph), so the generator's
/// layout is the one the runtime reads; whatever the runtime refuses or crashes on is reported,
/// and a backend it does not have is an unknown or denied backend.
#[test]
fn the_real_runtime_agrees() {
    let Some(py) = executorch_python() else {
        return;
    };
    let paths: Vec<PathBuf> = [Kind::Benign, Kind::Malicious, Kind::Malformed]
        .into_iter()
        .flat_map(|k| fixtures("executorch", k))
        .collect();
    let mut outcomes = std::collections::BTreeMap::new();
    for case in oracle_cases(&py, "executorch_load.py", &paths) {
        let path = case["path"].as_str().expect("path").to_owned();
        let outcome = case["outcome"].as_str().expect("outcome").to_owned();
        let error = case["error"].as_str().unwrap_or_default().to_owned();
        let r = scan(Path::new(&path));
        let worst = |prefix: &str| {
            r.findings
                .iter()
                .filter(|f| f.code.starts_with(prefix))
                .map(|f| f.severity)
                .max()
        };
        if path.contains("/benign/") {
            assert!(
                outcome == "method-fails"
                    && error.contains("Init failed for backend XnnpackBackend"),
                "{path}: the runtime should load the program and reach the backend: {case}"
            );
        }
        match outcome.as_str() {
            "refused" => assert!(
                worst("executorch/").is_some_and(|s| s >= Severity::Low),
                "{path}: the runtime refuses it ({error}) but nothing was reported: {r:#?}"
            ),
            "crashed" => assert!(
                has(&r, "executorch/malformed", Severity::High),
                "{path}: the runtime crashes on it but it is not malformed: {r:#?}"
            ),
            _ => {}
        }
        if error.contains("is not registered") {
            assert!(
                worst("executorch/unknown-backend").is_some()
                    || worst("executorch/dangerous-backend").is_some(),
                "{path}: {error}: {r:#?}"
            );
        }
        outcomes.insert(
            path.rsplit('/').next().unwrap_or_default().to_owned(),
            outcome,
        );
    }
    // The facts the fixtures were written for: a delegate without processed data crashes the
    // runtime, and a segment base inside the flatbuffer hands program bytes to the backend.
    assert_eq!(
        outcomes
            .get("delegate-without-processed-data.pte")
            .map(String::as_str),
        Some("crashed")
    );
    assert_eq!(
        outcomes
            .get("segment-overlaps-program.pte")
            .map(String::as_str),
        Some("method-fails")
    );
}

/// A differential against the real runtime: the benign fixtures with one to three bytes
/// overwritten (deterministically). Whatever `Program::load` refuses is reported (except the Python
/// binding's own UTF-8 decoding of method names), and whatever crashes the runtime (while loading
/// the program or the method) is high.
#[test]
fn mutants_agree_with_the_runtime() {
    let Some(py) = executorch_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut next = super::xorshift(0x2545_f491_4f6c_dd1d);
    let mut paths = Vec::new();
    for file in ["xnnpack-delegate.pte", "inline-delegate.pte"] {
        let orig = bytes("benign", file);
        for k in 0..100 {
            let mut b = orig.clone();
            for _ in 0..=next() % 3 {
                let at = usize::try_from(next() % (b.len() as u64)).expect("index");
                if let Some(v) = b.get_mut(at) {
                    *v = (next() & 0xff) as u8;
                }
            }
            let p = dir
                .path()
                .join(format!("{}_{k:03}.pte", file.replace('.', "_")));
            std::fs::write(&p, &b).expect("write");
            paths.push(p);
        }
    }
    let (mut refused, mut crashed) = (0, 0);
    let mut wrong: Vec<String> = Vec::new();
    for case in oracle_cases(&py, "executorch_load.py", &paths) {
        let path = PathBuf::from(case["path"].as_str().expect("path"));
        let outcome = case["outcome"].as_str().expect("outcome");
        let r = engine()
            .scan_paths(std::slice::from_ref(&path))
            .expect("scan");
        let max = r.findings.iter().map(|f| f.severity).max();
        let codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
        let ctx = format!("{}: runtime {case}; findings {codes:?}", path.display());
        // The Python binding decoding a method name as UTF-8 is not the runtime refusing.
        let binding = case["error"]
            .as_str()
            .is_some_and(|e| e.contains("codec can't decode"));
        match outcome {
            "refused" => {
                refused += 1;
                if max.is_none_or(|s| s < Severity::Low) && !binding {
                    wrong.push(format!("refused but not reported: {ctx}"));
                }
            }
            "crashed" => {
                crashed += 1;
                if max.is_none_or(|s| s < Severity::High) {
                    wrong.push(format!("crashed but not high: {ctx}"));
                }
            }
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // About a quarter of these mutants crash the runtime (it does not verify the flatbuffer by
    // default) and a few are refused: fewer means the mutation missed the structure.
    assert!(
        refused + crashed > 30,
        "only {refused} mutants refused and {crashed} crashed: the mutation missed the structure"
    );
}

/// Parses `b` as the scanner does: the header, the layout, the program.
fn parse_all(b: &[u8]) {
    let l = layout(&read_header(b), b.len() as u64);
    let n = usize::try_from(l.program_len)
        .unwrap_or(b.len())
        .min(b.len());
    let program = &b[..n];
    let _ = parse(&Reader::new(&program, 1_000_000), &mut Program::default());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        parse_all(&data);
        let mut b = data.clone();
        if b.len() >= 8 {
            b[4..8].copy_from_slice(b"ET12");
        }
        scan_quickly("model.pte", b);
        scan_quickly("model.pte", data);
    }

    #[test]
    fn mutated_programs_never_panic(
        at in proptest::collection::vec((0usize..1344, any::<u8>()), 1..8),
        which in 0usize..4,
    ) {
        let (kind, name) = [
            ("benign", "xnnpack-delegate.pte"),
            ("benign", "inline-delegate.pte"),
            ("malicious", "cuda-backend-shared-library.pte"),
            ("malicious", "segment-overlaps-program.pte"),
        ][which];
        let mut b = bytes(kind, name);
        let n = b.len();
        for (i, v) in at {
            if let Some(x) = b.get_mut(i % n) {
                *x = v;
            }
        }
        parse_all(&b);
        scan_quickly("model.pte", b);
    }
}
