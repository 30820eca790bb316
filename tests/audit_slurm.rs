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
