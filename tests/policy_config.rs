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

#[test]
fn sign_judges_and_attests_under_the_configured_policy() {
    let model = model_with_unpinned_requirement();
    let t = tempfile::tempdir().expect("tmp");
    let key = t.path().join("key");
    modelgate()
        .args(["keygen", "-o"])
        .arg(&key)
        .assert()
        .code(0);
    // Raised to medium, the declared-dependency note refuses signing; nothing is written.
    let raise = config(
        t.path(),
        "[policy.overrides]\n\"code/dependencies\" = \"medium\"\n",
    );
    modelgate()
        .args(["sign", "-q", "--key"])
        .arg(&key)
        .arg("--config")
        .arg(&raise)
        .arg(model.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("1 finding(s) at or above low"));
    assert!(!model.path().join("model.sig").exists());
    // Kept at info, it signs, and the attestation records the override it was approved under.
    let keep = t.path().join("keep.toml");
    std::fs::write(
        &keep,
        "[policy.overrides]\n\"code/dependencies\" = \"info\"\n",
    )
    .expect("write");
    modelgate()
        .args(["sign", "-q", "--key"])
        .arg(&key)
        .arg("--config")
        .arg(&keep)
        .arg(model.path())
        .assert()
        .code(0);
    let out = modelgate()
        .args(["verify", "-q", "--json", "--require-scan", "--key"])
        .arg(key.with_extension("pub"))
        .arg(model.path())
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["scan"]["policy"]["overrides"]["code/dependencies"], "info",
        "{v}"
    );
}

#[test]
fn convert_rejects_a_bad_config_before_any_work() {
    let t = tempfile::tempdir().expect("tmp");
    let cfg = config(t.path(), "[policy]\nthreshold = \"low\"\n");
    let out = t.path().join("out.safetensors");
    modelgate()
        .args(["convert", "--to", "safetensors", "-o"])
        .arg(&out)
        .arg("--config")
        .arg(&cfg)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/convert/benign/array_c.npy"
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `threshold`"));
    assert!(!out.exists());
}
