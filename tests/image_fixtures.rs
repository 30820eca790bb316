//! Every committed image fixture (testdata/image, written by testdata/generate/image.py) has a
//! snapshot of its report: findings, package inventory and the artifacts of model-like members.

use std::path::Path;

use modelgate::image::ImageOptions;
use modelgate::Engine;

fn snapshot_of(rel: &str) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/image")
        .join(rel);
    assert!(dir.join("index.json").is_file(), "missing fixture {rel}");
    let engine = Engine::with_defaults().expect("engine");
    let target = dir.to_str().expect("utf8").to_owned();
    let r = modelgate::run::scan(&engine, &[target.into()], &ImageOptions::default(), None)
        .expect("scan");
    let findings: Vec<serde_json::Value> = r
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({"code": f.code, "severity": f.severity, "inner": f.location.inner,
                               "message": f.message.replace(dir.to_str().unwrap_or(""), "FIXTURE")})
        })
        .collect();
    let packages: Vec<serde_json::Value> = r
        .packages
        .iter()
        .map(|p| serde_json::json!({"name": p.name, "version": p.version, "inner": p.location.inner}))
        .collect();
    let members: Vec<serde_json::Value> = r
        .artifacts
        .iter()
        .filter(|a| {
            a.location
                .inner
                .last()
                .is_some_and(|l| l.ends_with(".pkl") || l.ends_with(".py"))
        })
        .map(|a| serde_json::json!({"inner": a.location.inner, "format": a.format}))
        .collect();
    serde_json::json!({
        "exit_code": r.exit_code(modelgate::Severity::Low),
        "findings": findings,
        "packages": packages,
        "model_and_code_members": members,
    })
}

macro_rules! fixture {
    ($name:ident, $rel:literal) => {
        #[test]
        fn $name() {
            insta::assert_json_snapshot!(stringify!($name), snapshot_of($rel));
        }
    };
}

fixture!(benign_clean_layout, "benign/clean-layout");
fixture!(malicious_whiteout_pickle, "malicious/whiteout-pickle");
fixture!(malicious_record_mismatch, "malicious/record-mismatch");
fixture!(malformed_digest_mismatch, "malformed/digest-mismatch");
fixture!(malformed_missing_blob, "malformed/missing-blob");
fixture!(malformed_bad_manifest, "malformed/bad-manifest");
