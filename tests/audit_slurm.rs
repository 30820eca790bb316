//! The audit on a real Slurm cluster: Debian's `slurm-wlm` and `munge`, started on this machine
//! with a one-node configuration in a temporary directory (tests/common/slurm.rs).
//!
//! - The cluster itself is checked first with plain `--wrap` jobs (an array and a job depending
//!   on it), so a failure there says "the scheduler", not "the audit".
//! - `deploy/slurm/submit-audit.sh` submits `deploy/slurm/audit.sbatch` as a 4-task array and
//!   `deploy/slurm/audit-merge.sbatch` depending on it; the merged report must equal an
//!   unsharded run of the same tree.
#![allow(clippy::print_stderr)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::slurm::{self, Cluster};

#[test]
fn a_one_node_cluster_runs_an_array_and_a_job_that_depends_on_it() {
    if !slurm::available() {
        return;
    }
    let cluster = Cluster::start();
    let work = tempfile::tempdir().expect("work dir");
    let dir = work.path().as_os_str();
    let array = cluster.sbatch(&[
        OsStr::new("--array=0-3"),
        OsStr::new("--chdir"),
        dir,
        OsStr::new("--output=task-%a.log"),
        OsStr::new("--wrap"),
        OsStr::new(
            "echo \"$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT $SLURM_ARRAY_TASK_MIN\" \
             > out-$SLURM_ARRAY_TASK_ID.txt",
        ),
    ]);
    let after = cluster.sbatch(&[
        OsStr::new(&format!("--dependency=afterok:{array}")),
        OsStr::new("--chdir"),
        dir,
        OsStr::new("--output=after.log"),
        OsStr::new("--wrap"),
        OsStr::new("cat out-0.txt out-1.txt out-2.txt out-3.txt > all.txt"),
    ]);
    let end = cluster.wait(after, Duration::from_mins(2));
    assert!(end.succeeded(), "{end:?}\n{}", cluster.logs());
    let tasks = cluster.job_end(array);
    assert_eq!(tasks.states.len(), 4, "{tasks:?}");
    assert!(tasks.succeeded(), "{tasks:?}");
    let all = std::fs::read_to_string(work.path().join("all.txt")).expect("all.txt");
    assert_eq!(all, "0 4 0\n1 4 0\n2 4 0\n3 4 0\n");
}

#[test]
fn a_failed_task_holds_back_the_job_that_depends_on_it() {
    if !slurm::available() {
        return;
    }
    let cluster = Cluster::start();
    let work = tempfile::tempdir().expect("work dir");
    let dir = work.path().as_os_str();
    let array = cluster.sbatch(&[
        OsStr::new("--array=0-1"),
        OsStr::new("--chdir"),
        dir,
        OsStr::new("--output=task-%a.log"),
        OsStr::new("--wrap"),
        OsStr::new("test \"$SLURM_ARRAY_TASK_ID\" = 0"),
    ]);
    let after = cluster.sbatch(&[
        OsStr::new(&format!("--dependency=afterok:{array}")),
        OsStr::new("--kill-on-invalid-dep=yes"),
        OsStr::new("--chdir"),
        dir,
        OsStr::new("--wrap"),
        OsStr::new("touch ran"),
    ]);
    let end = cluster.wait(after, Duration::from_mins(2));
    assert!(!end.succeeded(), "{end:?}");
    assert!(!Path::new(&work.path().join("ran")).exists());
    let tasks = cluster.job_end(array);
    assert!(tasks.states.contains(&"FAILED".to_owned()), "{tasks:?}");
}

/// A small registry in three layouts: a Hugging Face cache (two snapshots sharing a blob), an
/// MLflow store and a plain folder, with malicious pickles among benign ones.
fn registry(root: &Path) {
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
    std::os::unix::fs::symlink(
        "../../blobs/bbb",
        hf.join("snapshots/rev2/optimizer.pkl"),
    )
    .expect("link");
}

/// An audit report without what differs between runs of the same audit: the run's statistics
/// and the shard identity (a merge covers every shard, an unsharded run is one shard of one).
fn comparable(mut report: serde_json::Value) -> serde_json::Value {
    let audit = report["audit"].as_object_mut().expect("audit section");
    audit.remove("run");
    audit.remove("shard");
    report
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// deploy/slurm/submit-audit.sh on the real cluster: a 4-task array of audit.sbatch and the
/// merge job depending on it; the merged report equals an unsharded audit of the same tree.
#[test]
fn the_sbatch_array_and_its_merge_equal_an_unsharded_audit() {
    if !slurm::available() {
        return;
    }
    let modelgate = assert_cmd::cargo::cargo_bin("modelgate");
    let work = tempfile::tempdir().expect("work dir");
    let models = work.path().join("models");
    registry(&models);

    // The reference: one process over the whole tree, with its own cache.
    let full = work.path().join("full.json");
    let out = std::process::Command::new(&modelgate)
        .arg("audit")
        .arg(&models)
        .arg("--cache")
        .arg(work.path().join("unsharded-cache.sqlite"))
        .args(["--quiet", "--format", "json", "--output"])
        .arg(&full)
        .output()
        .expect("run modelgate audit");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cluster = Cluster::start();
    let results = work.path().join("audit/today");
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/submit-audit.sh");
    let out = std::process::Command::new("bash")
        .arg(&submit)
        .arg("4")
        .arg(&results)
        .arg(&models)
        .env("SLURM_CONF", &cluster.conf)
        .env("MODELGATE", &modelgate)
        .output()
        .expect("submit");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "audit array job A, merge job M"
    let ids: Vec<u64> = said
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [array, merge] = ids[..] else {
        panic!("submit-audit.sh printed {said:?}")
    };
    let merged_end = cluster.wait(merge, Duration::from_mins(5));
    let tasks = cluster.job_end(array);
    let logs = || {
        let mut all = cluster.logs();
        for e in std::fs::read_dir(&results).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                all += &format!(
                    "== {}\n{}",
                    e.path().display(),
                    std::fs::read_to_string(e.path()).unwrap_or_default()
                );
            }
        }
        all
    };
    assert_eq!(tasks.states.len(), 4, "{tasks:?}\n{}", logs());
    // A task exits 1 when its shard has findings at or above the threshold, which is not a
    // failure of the audit: audit.sbatch must not turn findings into a failed task.
    assert!(tasks.succeeded(), "{tasks:?}\n{}", logs());
    assert!(merged_end.succeeded(), "{merged_end:?}\n{}", logs());

    // Four disjoint shards, together the whole tree.
    let full = read_json(&full);
    let names = |r: &serde_json::Value| -> Vec<String> {
        r["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .filter(|a| a["location"]["inner"].is_null())
            .map(|a| a["location"]["path"].as_str().expect("path").to_owned())
            .collect()
    };
    let mut union = Vec::new();
    for k in 0..4 {
        let shard = read_json(&results.join(format!("shard-{k}.json")));
        assert_eq!(shard["audit"]["shard"]["index"], k);
        assert_eq!(shard["audit"]["shard"]["count"], 4);
        union.extend(names(&shard));
    }
    let total = union.len();
    union.sort();
    union.dedup();
    assert_eq!(union.len(), total, "shards overlap");
    let mut all = names(&full);
    all.sort();
    assert_eq!(union, all);

    let merged = read_json(&results.join("audit.json"));
    assert_eq!(merged["audit"]["shard"]["covers"], serde_json::json!([0, 1, 2, 3]));
    assert!(full["summary"]["total_findings"].as_u64() >= Some(3));
    assert_eq!(comparable(merged), comparable(full.clone()));
    let html = std::fs::read_to_string(results.join("audit.html")).expect("audit.html");
    assert!(html.contains(&format!(
        "data-count=\"findings\"><span class=\"num\">{}</span>",
        full["summary"]["total_findings"]
    )));
    let md = std::fs::read_to_string(results.join("audit.md")).expect("audit.md");
    assert!(md.starts_with("# modelgate audit"), "{md}");
}
