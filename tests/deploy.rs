//! The deployment files in deploy/ are checked, not just shipped: the example configuration and
//! the configurations inside the Kubernetes manifests load (the binary's `--check-config` agrees),
//! the manifests pass Kubernetes' own schemas (`kubernetes-validate --strict` from the test
//! venv), and the systemd unit runs the gate with a configuration. The audit's Indexed Job is run
//! as its pods would run (each index with `JOB_COMPLETION_INDEX`, then the merge Job), and its
//! merged report must equal an unsharded audit.

mod common;

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
    for f in [
        "gate.yaml",
        "gate-postgres.yaml",
        "validating-webhook.yaml",
        "audit-job.yaml",
    ] {
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

/// The audit manifest's documents by name (`metadata.name`).
fn audit_manifest() -> std::collections::BTreeMap<String, serde_yaml_ng::Value> {
    let text =
        std::fs::read_to_string(deploy().join("kubernetes/audit-job.yaml")).expect("manifest");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).expect("yaml");
            let name = v["metadata"]["name"].as_str().expect("name").to_owned();
            (name, v)
        })
        .collect()
}

/// The container's `args` as strings.
fn args_of(container: &serde_yaml_ng::Value) -> Vec<String> {
    container["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// The Indexed Job and its merge agree on the shard count: Kubernetes tells a pod its index but
/// not the completions count, so `MODELGATE_SHARDS`, `completions`, the per-index report names
/// and the merge Job's list of shard reports must all say the same N. The merge Job is created
/// suspended, so it cannot run before the shards finish.
#[test]
fn the_audit_job_shards_and_merges_consistently() {
    let docs = audit_manifest();
    let job = &docs["modelgate-audit"]["spec"];
    assert_eq!(job["completionMode"].as_str(), Some("Indexed"));
    let completions = job["completions"].as_u64().expect("completions");
    let audit = &job["template"]["spec"]["containers"][0];
    let shards = audit["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some("MODELGATE_SHARDS"))
        .and_then(|e| e["value"].as_str())
        .expect("MODELGATE_SHARDS");
    assert_eq!(shards, completions.to_string());
    let args = args_of(audit);
    assert_eq!(args.first().map(String::as_str), Some("audit"));
    assert!(
        args.iter().any(|a| a.contains("$(JOB_COMPLETION_INDEX)")),
        "each pod writes its own report: {args:?}"
    );
    let merge = &docs["modelgate-audit-merge"]["spec"];
    assert_eq!(merge["suspend"].as_bool(), Some(true));
    let pod = &merge["template"]["spec"];
    let steps = pod["initContainers"]
        .as_sequence()
        .into_iter()
        .flatten()
        .chain(pod["containers"].as_sequence().into_iter().flatten());
    let want: Vec<String> = (0..completions)
        .map(|i| format!("/results/reports/shard-{i}.json"))
        .collect();
    for step in steps {
        let args = args_of(step);
        assert_eq!(&args[..2], ["report", "merge"]);
        let listed: Vec<String> = args
            .iter()
            .filter(|a| a.starts_with("/results/reports/"))
            .cloned()
            .collect();
        assert_eq!(listed, want, "{args:?}");
    }
}

/// The container's `env` values by name.
fn env_of(container: &serde_yaml_ng::Value) -> Vec<(String, String)> {
    container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|e| {
            let name = e["name"].as_str().expect("env name").to_owned();
            (
                name,
                e["value"].as_str().expect("plain env value").to_owned(),
            )
        })
        .collect()
}

/// Runs a container of the manifest the way its pod would: the image's entrypoint (modelgate)
/// with the container's args and env, `$(VAR)` expanded as the kubelet does, the volumes'
/// mount paths mapped to local directories, and `extra` env (what the Job controller adds).
fn run_container(
    container: &serde_yaml_ng::Value,
    mounts: &[(&str, &Path)],
    extra: &[(&str, String)],
) {
    let mut env = env_of(container);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let args: Vec<String> = args_of(container)
        .into_iter()
        .map(|mut a| {
            for (k, v) in &env {
                a = a.replace(&format!("$({k})"), v);
            }
            for (mount, local) in mounts {
                if let Some(rest) = a.strip_prefix(mount) {
                    a = format!("{}{rest}", local.display());
                }
            }
            a
        })
        .collect();
    let out = Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .expect("run");
    // The containers run with --exit-zero: a pod that exits non-zero is a failed pod.
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Indexed Job's pods reproduced on this machine: every index runs the audit container with
/// `JOB_COMPLETION_INDEX` set (as the Job controller sets it) and the manifest's own args and
/// env; then the merge Job's init container and container run. The shards are disjoint and
/// whole, and the merged report equals an unsharded audit of the same tree.
#[test]
fn the_indexed_job_pods_shard_and_merge_like_an_unsharded_audit() {
    use common::audit_tree::{check_shards, comparable, read_json, registry, unsharded};

    let docs = audit_manifest();
    let work = tempfile::tempdir().expect("tempdir");
    let models = work.path().join("models");
    registry(&models);
    let full = unsharded(&models, work.path());
    let results = work.path().join("results");
    std::fs::create_dir_all(results.join("reports")).expect("mkdir");
    let mounts: [(&str, &Path); 2] = [("/models", &models), ("/results", &results)];

    let job = &docs["modelgate-audit"]["spec"];
    let completions =
        u32::try_from(job["completions"].as_u64().expect("completions")).expect("u32");
    let audit = &job["template"]["spec"]["containers"][0];
    for index in 0..completions {
        run_container(
            audit,
            &mounts,
            &[("JOB_COMPLETION_INDEX", index.to_string())],
        );
    }
    check_shards(&results.join("reports"), completions, &full);

    let merge = &docs["modelgate-audit-merge"]["spec"]["template"]["spec"];
    run_container(&merge["initContainers"][0], &mounts, &[]);
    run_container(&merge["containers"][0], &mounts, &[]);
    let merged = read_json(&results.join("audit.json"));
    assert_eq!(comparable(merged), comparable(full.clone()));
    let html = std::fs::read_to_string(results.join("audit.html")).expect("audit.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
}
