//! A generated model registry for audit tests run through a scheduler (Slurm, a Kubernetes
//! Indexed Job reproduced locally), and how two audit reports of it are compared.

use std::path::Path;

/// A small registry in three layouts: a Hugging Face cache (two snapshots sharing a blob), an
/// MLflow store and a plain folder, with malicious pickles among benign ones.
pub fn registry(root: &Path) {
    let write = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    };
    let malicious: &[u8] = b"cos\nsystem\n(S'id'\ntR.";
    for i in 0..24 {
        write(
            &format!("plain/team-{}/model-{i}.pkl", i % 4),
            format!("(lp0\nI{i}\na.").as_bytes(),
        );
    }
    write("plain/team-2/deep/er/still/evil.pkl", malicious);
    for run in 0..4 {
        write(
            &format!("mlruns/1/run{run}/artifacts/model/model.pkl"),
            format!("(lp0\nI{run}\naI7\na.").as_bytes(),
        );
    }
    write("mlruns/1/run3/artifacts/extra/payload.pkl", malicious);
    let hf = root.join("hub/models--acme--tiny");
    write("hub/models--acme--tiny/blobs/aaa", b"(lp0\nI1\na.");
    write("hub/models--acme--tiny/blobs/bbb", malicious);
    for rev in ["rev1", "rev2"] {
        let snap = hf.join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).expect("mkdir");
        std::os::unix::fs::symlink("../../blobs/aaa", snap.join("weights.pkl")).expect("link");
    }
    std::os::unix::fs::symlink("../../blobs/bbb", hf.join("snapshots/rev2/optimizer.pkl"))
        .expect("link");
}

/// An audit report without what differs between runs of the same audit: the run's statistics
/// and the shard identity (a merge covers every shard, an unsharded run is one shard of one).
pub fn comparable(mut report: serde_json::Value) -> serde_json::Value {
    let audit = report["audit"].as_object_mut().expect("audit section");
    audit.remove("run");
    audit.remove("shard");
    report
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `modelgate audit MODELS` in one process (no shard), with its own cache in `work`: the
/// reference a sharded audit's merge must equal.
pub fn unsharded(models: &Path, work: &Path) -> serde_json::Value {
    let full = work.join("unsharded.json");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("modelgate"))
        .arg("audit")
        .arg(models)
        .arg("--cache")
        .arg(work.join("unsharded-cache.sqlite"))
        .args(["--quiet", "--format", "json", "--output"])
        .arg(&full)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .expect("run modelgate audit");
    // Exit 1: findings at or above the threshold, as the registry has.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = read_json(&full);
    assert!(report["summary"]["total_findings"].as_u64() >= Some(3));
    report
}

/// The top-level artifacts a report lists.
fn top_artifacts(report: &serde_json::Value) -> Vec<String> {
    report["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["location"]["inner"].is_null())
        .map(|a| a["location"]["path"].as_str().expect("path").to_owned())
        .collect()
}

/// `dir/shard-K.json` for K in 0..`count`: each says which shard it is, no artifact is in two,
/// and together they list every artifact of the unsharded report `full`.
pub fn check_shards(dir: &Path, count: u32, full: &serde_json::Value) {
    let mut union = Vec::new();
    for k in 0..count {
        let shard = read_json(&dir.join(format!("shard-{k}.json")));
        assert_eq!(shard["audit"]["shard"]["index"], k);
        assert_eq!(shard["audit"]["shard"]["count"], count);
        union.extend(top_artifacts(&shard));
    }
    let listed = union.len();
    union.sort();
    union.dedup();
    assert_eq!(union.len(), listed, "shards overlap");
    let mut all = top_artifacts(full);
    all.sort();
    assert_eq!(union, all, "the shards together are the whole");
}
