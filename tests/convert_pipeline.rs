//! The library's scan → convert → rescan pipeline (`convert::convert_approved`), judged by the
//! same `Policy` as `scan`: what the gate and the audit will call without the binary.

use std::path::PathBuf;

use modelgate::convert::{self, PipelineError, Request, Target};
use modelgate::policy::{Policy, Refusal};
use modelgate::{Engine, EngineOptions, Severity, SignatureDb};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/convert")
        .join(rel)
}

fn engine() -> Engine {
    Engine::new(
        SignatureDb::embedded().expect("db"),
        EngineOptions::default(),
    )
    .expect("engine")
}

fn request<'a>(
    input: &'a std::path::Path,
    output: &'a std::path::Path,
    policy: &'a Policy,
) -> Request<'a> {
    Request {
        input,
        target: Target::Safetensors,
        output,
        policy,
        zipmap: false,
        sign_key: None,
    }
}

#[test]
fn an_approved_input_is_converted_and_rescanned() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = fixture("benign/array_c.npy");
    let output = dir.path().join("array.safetensors");
    let policy = Policy::at(Severity::Medium);
    let done = convert::convert_approved(&engine(), &request(&input, &output, &policy))
        .expect("converted");
    assert!(output.is_file());
    assert!(done.report.approved(Severity::Medium));
    assert_eq!(done.summary.input_kind, "npy");
    assert!(done.signed.is_none());
}

#[test]
fn a_refused_scan_writes_nothing_and_carries_the_verdict() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = fixture("malicious/torch_zip_os_system.pt");
    let output = dir.path().join("out.safetensors");
    let policy = Policy::at(Severity::Medium);
    let e = convert::convert_approved(&engine(), &request(&input, &output, &policy))
        .expect_err("refused");
    assert_eq!(e.exit_code(), 1);
    let PipelineError::Refused { refusal, report } = e else {
        panic!("not a scan refusal: {e}");
    };
    assert!(matches!(
        refusal,
        Refusal::Findings {
            threshold: Severity::Medium,
            ..
        }
    ));
    assert_eq!(report.exit_code(Severity::Medium), 1);
    assert!(!output.exists());
}
