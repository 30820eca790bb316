//! The deployment files in deploy/ are checked, not just shipped: the example configuration and
//! the configurations inside the Kubernetes manifests load (the binary's `--check-config` agrees),
//! the manifests pass Kubernetes' own schemas (`kubernetes-validate --strict` from the test
//! venv), and the systemd unit runs the gate with a configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use modelgate::config::Config;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

#[test]
fn the_example_configuration_loads() {
    let path = deploy().join("modelgate.toml");
    let c = Config::load(&path).expect("deploy/modelgate.toml");
    assert!(!c.tokens.is_empty());
    let out = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .args(["serve", "--check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every ConfigMap `modelgate.toml` with the Secret's `tokens.toml` beside it loads.
#[test]
fn the_kubernetes_configurations_load() {
    for f in ["gate.yaml", "gate-postgres.yaml"] {
        let text = std::fs::read_to_string(deploy().join("kubernetes").join(f)).expect("manifest");
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut config, mut tokens) = (None, None);
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).expect("yaml");
            if let Some(c) = v["data"]["modelgate.toml"].as_str() {
                config = Some(c.to_owned());
            }
            if let Some(t) = v["stringData"]["tokens.toml"].as_str() {
                tokens = Some(t.to_owned());
            }
        }
        let (config, tokens) = (config.expect("ConfigMap"), tokens.expect("Secret"));
        std::fs::write(dir.path().join("tokens.toml"), tokens).expect("write");
        let config = config.replace("/etc/modelgate/tokens/tokens.toml", "tokens.toml");
        std::fs::write(dir.path().join("modelgate.toml"), config).expect("write");
        let c = Config::load(&dir.path().join("modelgate.toml")).expect(f);
        assert_eq!(c.tokens.len(), 1, "{f}: the Secret's token is loaded");
    }
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    let venv = std::env::var_os("MODELGATE_VENV").map(PathBuf::from);
    let tool = venv.map(|v| v.join("bin/kubernetes-validate"));
    let Some(tool) = tool.filter(|t| t.exists()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate missing from the test venv (tests/requirements.txt)"
        );
        return;
    };
    let mut cmd = Command::new(tool);
    cmd.args(["--strict", "--quiet"]);
    for f in ["gate.yaml", "gate-postgres.yaml", "validating-webhook.yaml"] {
        cmd.arg(deploy().join("kubernetes").join(f));
    }
    let out = cmd.output().expect("kubernetes-validate");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The webhook fails closed, asks for v1 reviews at the gate's route, and covers every kind the
/// gate reads pod templates of.
#[test]
fn the_validating_webhook_fails_closed_at_the_gates_route() {
    let text = std::fs::read_to_string(deploy().join("kubernetes/validating-webhook.yaml"))
        .expect("manifest");
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect();
    let config = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ValidatingWebhookConfiguration"))
        .expect("a ValidatingWebhookConfiguration");
    let hook = &config["webhooks"][0];
    assert_eq!(hook["failurePolicy"].as_str(), Some("Fail"));
    assert_eq!(
        hook["clientConfig"]["service"]["path"].as_str(),
        Some("/k8s/validate")
    );
    assert_eq!(hook["admissionReviewVersions"][0].as_str(), Some("v1"));
    assert!(hook["namespaceSelector"]["matchLabels"].is_mapping());
    let resources: Vec<String> = hook["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .flat_map(|r| r["resources"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    for kind in [
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "statefulsets",
        "daemonsets",
        "replicasets",
        "jobs",
        "cronjobs",
    ] {
        assert!(resources.iter().any(|r| r == kind), "{kind} is not covered");
    }
}

#[test]
fn the_systemd_unit_runs_the_gate() {
    let unit = std::fs::read_to_string(deploy().join("systemd/modelgate.service")).expect("unit");
    for needed in [
        "[Unit]",
        "[Service]",
        "[Install]",
        "ExecStart=/usr/local/bin/modelgate serve --config /etc/modelgate/modelgate.toml",
        "KillSignal=SIGTERM",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(needed), "missing {needed}");
    }
}
