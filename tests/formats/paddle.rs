//! PaddlePaddle models (testdata/paddle, written by testdata/generate/paddle.py from the
//! documented layouts): programs and their operators, parameters files' tensor records,
//! `.pdparams`/`.pdopt` pickles, and never-panics property tests for both readers.

use std::io::Cursor;

use modelgate::formats::paddle::{parse_program, read_params};
use modelgate::{Report, Severity};
use proptest::prelude::*;

use super::{assert_bom_framework, check_area, default_bound, scan, scan_quickly, testdata};

#[test]
fn paddle_fixtures() {
    check_area("paddle", default_bound);
}

fn fixture(kind: &str, name: &str) -> Report {
    scan(&testdata().join("paddle").join(kind).join(name))
}

fn has(r: &Report, code: &str, sev: Severity, text: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == sev && f.message.contains(text))
}

#[test]
fn inference_models_are_listed_and_clean() {
    let r = fixture("benign", "inference.pdmodel");
    assert!(
        has(&r, "paddle/program", Severity::Info, "matmul_v2"),
        "{:#?}",
        r.findings
    );
    assert_bom_framework(&r, "paddle-program", "paddle");
    let r = fixture("benign", "inference.pdiparams");
    assert!(
        has(&r, "paddle/program", Severity::Info, "2 tensors"),
        "{:#?}",
        r.findings
    );
    for name in ["model.pdparams", "model.pdopt"] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().all(|f| f.severity == Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
        assert!(
            r.artifacts
                .iter()
                .any(|a| a.format == modelgate::Format::Pickle),
            "{name}"
        );
    }
}

#[test]
fn host_operators_are_flagged_with_their_targets() {
    let r = fixture("malicious", "save-op.pdmodel");
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "paddle/dangerous-op")
        .expect("finding");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.evidence.get("file_path").map(String::as_str),
        Some("/root/.bashrc")
    );
    assert!(has(
        &fixture("malicious", "py-func.pdmodel"),
        "paddle/dangerous-op",
        Severity::High,
        "py_func"
    ));
    let r = fixture("malicious", "payload.pdparams");
    assert!(
        r.findings.iter().any(|f| f.severity == Severity::Critical),
        "{:#?}",
        r.findings
    );
}

/// The `builtins.eval` findings of a report.
fn eval_findings(r: &Report) -> Vec<&modelgate::Finding> {
    r.findings
        .iter()
        .filter(|f| {
            f.global
                .as_ref()
                .is_some_and(|g| g.module == "builtins" && g.name == "eval")
        })
        .collect()
}

/// `paddle.save` of a static-graph state dict pickles each LoDTensor as `eval('data', {'data':
/// array})` (the callable memoized once, fetched again for the second tensor): a name lookup in
/// the pickle's own dict, reported at info, at protocol 4 (STACK_GLOBAL) and 2 (GLOBAL).
#[test]
fn static_graph_lodtensors_are_a_name_lookup() {
    for name in ["static-graph.pdparams", "static-graph-protocol2.pdparams"] {
        let r = fixture("benign", name);
        assert!(
            r.findings.iter().all(|f| f.severity == Severity::Info),
            "{name}: {:#?}",
            r.findings
        );
        let evals = eval_findings(&r);
        assert_eq!(evals.len(), 1, "{name}: {:#?}", r.findings);
        assert_eq!(
            evals[0].evidence.get("name-lookups").map(String::as_str),
            Some("2"),
            "{name}: {evals:#?}"
        );
        assert!(evals[0].message.contains("LoDTensor"), "{evals:#?}");
    }
}

/// Every pickle that differs from the LoDTensor shape in one respect keeps `builtins.eval` (or
/// `exec`, or the unresolved import) critical: another expression, globals that are not a plain
/// `{'data': …}` dict, a third argument, bytes, the callable reused from the memo, duplicated,
/// passed as an argument, called by OBJ or INST, BUILD on it, imported from computed strings.
#[test]
fn eval_beyond_the_name_lookup_stays_critical() {
    let variants = [
        "eval-other-expression.pdparams",
        "eval-call-of-data.pdparams",
        "eval-globals-not-a-dict.pdparams",
        "eval-three-arguments.pdparams",
        "eval-extra-globals.pdparams",
        "eval-bytes-expression.pdparams",
        "eval-reused-from-memo.pdparams",
        "eval-duplicated.pdparams",
        "eval-as-argument.pdparams",
        "eval-by-obj.pdparams",
        "eval-by-inst.pdparams",
        "eval-build.pdparams",
        "eval-stack-global-computed.pdparams",
        "exec-name-lookup.pdparams",
    ];
    for name in variants {
        let r = fixture("malicious", name);
        let evals = eval_findings(&r);
        match name {
            "eval-stack-global-computed.pdparams" => assert!(
                r.findings
                    .iter()
                    .any(|f| f.code == "pickle/unresolved-global"
                        && f.severity == Severity::Critical),
                "{name}: {:#?}",
                r.findings
            ),
            "exec-name-lookup.pdparams" => assert!(
                r.findings.iter().any(|f| f.severity == Severity::Critical
                    && f.global.as_ref().is_some_and(|g| g.name == "exec")),
                "{name}: {:#?}",
                r.findings
            ),
            _ => {
                assert!(!evals.is_empty(), "{name}: {:#?}", r.findings);
                assert!(
                    evals.iter().all(|f| f.severity == Severity::Critical
                        && !f.evidence.contains_key("name-lookups")),
                    "{name}: {evals:#?}"
                );
            }
        }
    }
    let on_disk = std::fs::read_dir(testdata().join("paddle/malicious"))
        .expect("dir")
        .filter(|e| {
            let n = e.as_ref().expect("entry").file_name();
            let n = n.to_string_lossy();
            n.starts_with("eval-") || n.starts_with("exec-")
        })
        .count();
    assert_eq!(on_disk, variants.len());
}

/// The real `pickle.loads` on canary twins (tests/oracle/eval_lookup_canary.py): every variant
/// whose canary ran is flagged critical, and the static-graph state dicts load without running
/// anything and without error.
#[test]
fn eval_variants_that_run_code_under_pickle_are_critical() {
    let Some(py) = super::venv_python_with("numpy") else {
        return;
    };
    let mut paths: Vec<std::path::PathBuf> =
        ["static-graph.pdparams", "static-graph-protocol2.pdparams"]
            .iter()
            .map(|n| testdata().join("paddle/benign").join(n))
            .collect();
    let mut variants: Vec<_> = std::fs::read_dir(testdata().join("paddle/malicious"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("eval-") || n.starts_with("exec-")
        })
        .collect();
    variants.sort();
    paths.extend(variants);
    let cases = super::oracle_cases(&py, "eval_lookup_canary.py", &paths);
    let mut ran = 0;
    for (path, case) in paths.iter().zip(&cases) {
        let r = scan(path);
        let name = path.display();
        if path.to_string_lossy().contains("/benign/") {
            assert_eq!(case["ran"], false, "{name}: {case}");
            assert!(case["error"].is_null(), "{name}: {case}");
            assert_eq!(case["result"], "dict", "{name}: {case}");
            assert!(
                r.findings.iter().all(|f| f.severity == Severity::Info),
                "{name}: {:#?}",
                r.findings
            );
        } else if case["ran"] == true {
            ran += 1;
            assert!(
                r.findings.iter().any(|f| f.severity == Severity::Critical),
                "{name}: the canary ran, {case}: {:#?}",
                r.findings
            );
        }
    }
    // Another expression, the callable reused from the memo, duplicated, passed to map().
    assert!(ran >= 4, "{cases:#?}");
}

#[test]
fn broken_programs_and_parameters_are_malformed() {
    for (name, text) in [
        ("missing-sub-block.pdmodel", "block 7"),
        ("not-a-program.pdmodel", "not a ProgramDesc"),
        ("truncated.pdiparams", "past the end"),
        ("trailing-bytes.pdiparams", "record 2"),
        ("unknown-dtype.pdiparams", "unknown data type 99"),
    ] {
        let r = fixture("malformed", name);
        assert!(
            has(&r, "paddle/malformed", Severity::Medium, text),
            "{name}: {:#?}",
            r.findings
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_program(&bytes);
        let _ = read_params(Cursor::new(&bytes), bytes.len() as u64);
        scan_quickly("inference.pdmodel", bytes.clone());
        scan_quickly("inference.pdiparams", bytes);
    }

    #[test]
    fn params_after_a_valid_header_scan_quickly(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = vec![0u8; 16];
        bytes.extend_from_slice(&[6, 0, 0, 0, 0x08, 0x05, 0x12, 0x02, 0x02, 0x03]);
        bytes.extend(tail);
        scan_quickly("inference.pdiparams", bytes);
    }
}
