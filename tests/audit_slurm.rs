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

use common::audit_tree::{check_shards, comparable, read_json, registry, unsharded};
use common::slurm::{self, Cluster};

/// Submits `command` with `sbatch --wrap` and `options`, run in `dir`; returns the job id.
fn wrap(cluster: &Cluster, dir: &Path, options: &[&str], command: &str) -> u64 {
    let mut args: Vec<&OsStr> = options.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("--chdir"), dir.as_os_str()]);
    args.extend([OsStr::new("--wrap"), OsStr::new(command)]);
    cluster.sbatch(&args)
}

#[test]
fn a_one_node_cluster_runs_an_array_and_a_job_that_depends_on_it() {
    if !slurm::available() {
        return;
    }
    let cluster = Cluster::start();
    let work = tempfile::tempdir().expect("work dir");
    let array = wrap(
        &cluster,
        work.path(),
        &["--array=0-3", "--output=task-%a.log"],
        "echo \"$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT $SLURM_ARRAY_TASK_MIN\" \
         > out-$SLURM_ARRAY_TASK_ID.txt",
    );
    let after = wrap(
        &cluster,
        work.path(),
        &[
            &format!("--dependency=afterok:{array}"),
            "--output=after.log",
        ],
        "cat out-0.txt out-1.txt out-2.txt out-3.txt > all.txt",
    );
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
    let array = wrap(
        &cluster,
        work.path(),
        &["--array=0-1", "--output=task-%a.log"],
        "test \"$SLURM_ARRAY_TASK_ID\" = 0",
    );
    let after = wrap(
        &cluster,
        work.path(),
        &[
            &format!("--dependency=afterok:{array}"),
            "--kill-on-invalid-dep=yes",
        ],
        "touch ran",
    );
    let end = cluster.wait(after, Duration::from_mins(2));
    assert!(!end.succeeded(), "{end:?}");
    assert!(!Path::new(&work.path().join("ran")).exists());
    let tasks = cluster.job_end(array);
    assert!(tasks.states.contains(&"FAILED".to_owned()), "{tasks:?}");
}

/// Runs deploy/slurm/submit-audit.sh (4 shards of `models` into `results`), waits for the merge
/// job and checks that every task and the merge succeeded.
fn submit_and_wait(cluster: &Cluster, models: &Path, results: &Path) {
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/submit-audit.sh");
    let out = std::process::Command::new("bash")
        .arg(&submit)
        .arg("4")
        .arg(results)
        .arg(models)
        .env("SLURM_CONF", &cluster.conf)
        .env("MODELGATE", assert_cmd::cargo::cargo_bin("modelgate"))
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
        for e in std::fs::read_dir(results).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                all.push_str("== ");
                all.push_str(&e.path().display().to_string());
                all.push('\n');
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
    };
    assert_eq!(tasks.states.len(), 4, "{tasks:?}\n{}", logs());
    // Shards with findings must not fail their task (audit.sbatch runs with --exit-zero).
    assert!(tasks.succeeded(), "{tasks:?}\n{}", logs());
    assert!(merged_end.succeeded(), "{merged_end:?}\n{}", logs());
}

/// deploy/slurm/submit-audit.sh on the real cluster: a 4-task array of audit.sbatch and the
/// merge job depending on it; the merged report equals an unsharded audit of the same tree. The
/// tasks share one verdict cache beside the results, so the next day's audit of the unchanged
/// tree reads and scans nothing again.
#[test]
fn the_sbatch_array_and_its_merge_equal_an_unsharded_audit() {
    if !slurm::available() {
        return;
    }
    let work = tempfile::tempdir().expect("work dir");
    let models = work.path().join("models");
    registry(&models);
    let full = unsharded(&models, work.path());

    let cluster = Cluster::start();
    let results = work.path().join("audit/today");
    submit_and_wait(&cluster, &models, &results);
    check_shards(&results, 4, &full);
    let merged = read_json(&results.join("audit.json"));
    assert_eq!(
        merged["audit"]["shard"]["covers"],
        serde_json::json!([0, 1, 2, 3])
    );
    assert!(merged["audit"]["run"]["scanned"].as_u64() > Some(0));
    assert_eq!(comparable(merged), comparable(full.clone()));
    let html = std::fs::read_to_string(results.join("audit.html")).expect("audit.html");
    assert!(html.contains(&format!(
        "data-count=\"findings\"><span class=\"num\">{}</span>",
        full["summary"]["total_findings"]
    )));
    let md = std::fs::read_to_string(results.join("audit.md")).expect("audit.md");
    assert!(md.starts_with("# modelgate audit"), "{md}");

    // The next audit, same cache (audit/cache.sqlite): nothing hashed or scanned again.
    let tomorrow = work.path().join("audit/tomorrow");
    submit_and_wait(&cluster, &models, &tomorrow);
    let warm = read_json(&tomorrow.join("audit.json"));
    let run = &warm["audit"]["run"];
    assert_eq!(run["hashed"], 0, "{run}");
    assert_eq!(run["scanned"], 0, "{run}");
    assert_eq!(run["cache_hits"], run["listed"], "{run}");
    assert_eq!(comparable(warm), comparable(full));
}
