//! The typed configuration file through the real binary: `[policy]` overrides are applied before
//! the exit code is decided, and a misspelt key is an error that names it.

use assert_cmd::Command;
use predicates::prelude::*;

fn modelgate() -> Command {
    Command::cargo_bin("modelgate").expect("binary")
}

/// A model directory with an unpinned requirement: `packages` reports it (low), `scan` notes the
/// declared dependency (`code/dependencies`, info).
fn model_with_unpinned_requirement() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/safetensors/benign/numpy-mixed-dtypes.safetensors"
        ),
        dir.path().join("model.safetensors"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("requirements.txt"), "torch>=2\n").expect("write");
    dir
}

fn config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("modelgate.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn an_override_is_applied_before_the_verdict() {
    let model = model_with_unpinned_requirement();
    let t = tempfile::tempdir().expect("tmp");
    modelgate()
        .args(["packages", "-f", "json"])
        .arg(model.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("package/unpinned-requirement"));
    let cfg = config(
        t.path(),
        "[policy.overrides]\n\"package/unpinned-requirement\" = \"info\"\n",
    );
    let out = modelgate()
        .args(["packages", "-f", "json", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "package/unpinned-requirement")
        .expect("the finding is still reported");
    assert_eq!(finding["severity"], "info");
    // `--fail-on` on the command line still decides the threshold.
    modelgate()
        .args(["packages", "--fail-on", "info", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .assert()
        .code(1);
}

#[test]
fn an_override_can_raise_a_severity() {
    let model = model_with_unpinned_requirement();
    let t = tempfile::tempdir().expect("tmp");
    modelgate()
        .args(["scan", "-q"])
        .arg(model.path())
        .assert()
        .code(0);
    let cfg = config(
        t.path(),
        "[policy.overrides]\n\"code/dependencies\" = \"medium\"\n",
    );
    modelgate()
        .args(["scan", "-q", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("MEDIUM  code/dependencies"));
}

#[test]
fn the_configured_threshold_applies_without_the_flag() {
    let model = model_with_unpinned_requirement();
    let t = tempfile::tempdir().expect("tmp");
    let cfg = config(t.path(), "[policy]\nfail_on = \"medium\"\n");
    modelgate()
        .args(["packages", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .assert()
        .code(0);
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let model = model_with_unpinned_requirement();
    let t = tempfile::tempdir().expect("tmp");
    let cfg = config(t.path(), "[policy]\nfail-on = \"medium\"\n");
    modelgate()
        .args(["scan", "-q", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `fail-on`"));
    let cfg = config(
        t.path(),
        "[policy.overrides]\n\"package/unpinned\" = \"info\"\n",
    );
    modelgate()
        .args(["packages", "--config"])
        .arg(&cfg)
        .arg(model.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("package/unpinned"));
}
