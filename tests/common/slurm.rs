//! A real one-node Slurm cluster for tests: Debian's `slurm-wlm` and `munge`, every daemon
//! started in the foreground by the test with its own files in a temporary directory, so it
//! cannot touch (or be touched by) a cluster the machine already runs.
//!
//! - `munged` gets a freshly generated key, and its socket, pid, seed and log paths in the
//!   directory. munged insists that every directory above its socket is searchable by everyone
//!   ("execute permissions for all required"), so the directory is made 0755 and only the key
//!   directory stays private.
//! - `slurm.conf` names this host (`hostname -s`) as controller and as the one node
//!   (`CPUs=2`, address 127.0.0.1), picks two free ports, runs both daemons as the current user
//!   (root in CI), and points `AuthInfo=socket=` at the private munged.
//! - Chosen so it runs in a container without systemd or a delegated cgroup tree:
//!   `ProctrackType=proctrack/linuxproc` (tracks job processes through /proc, no cgroups),
//!   `TaskPlugin=task/none`, `JobAcctGatherType=jobacct_gather/none`,
//!   `AccountingStorageType=accounting_storage/none` (no slurmdbd) and no cgroup.conf.
//! - Every Slurm command a test runs gets `SLURM_CONF` pointing at the temporary configuration.
//!
//! The daemons run under `setpriv --pdeathsig` so they also die if the test process does; the
//! guard cancels the jobs, asks the daemons to shut down (`scontrol shutdown`), waits for them
//! and kills whatever is left, exactly the processes it started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The partition every job goes to (the cluster's only one).
pub const PARTITION: &str = "audit";

/// The Slurm and munge programs, or `None` after a notice (a failure under `CI`).
pub fn available() -> bool {
    let found = [
        "munged",
        "slurmctld",
        "slurmd",
        "sbatch",
        "sinfo",
        "scontrol",
    ]
    .iter()
    .all(|p| program(p).is_some());
    super::require(
        found,
        "Slurm and munge (apt-get install slurm-wlm munge; tests/setup.sh installs them)",
    )
}

/// A program from `PATH`, or from /usr/sbin where Debian puts the daemons (often off a user's
/// `PATH`).
fn program(name: &str) -> Option<PathBuf> {
    super::which(name).or_else(|| {
        let p = Path::new("/usr/sbin").join(name);
        p.is_file().then_some(p)
    })
}

/// A daemon started under `setpriv --pdeathsig=TERM` when setpriv exists, so it dies with the
/// test process even if the guard is never dropped.
fn daemon(name: &str) -> Command {
    let prog = program(name).unwrap_or_else(|| panic!("{name} is not installed"));
    match super::which("setpriv") {
        Some(setpriv) => {
            let mut c = Command::new(setpriv);
            c.arg("--pdeathsig=TERM").arg("--").arg(prog);
            c
        }
        None => Command::new(prog),
    }
}

/// Output of a command, or a panic naming it with its stderr.
fn checked(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn short_hostname() -> String {
    let out = checked({
        let mut c = Command::new("hostname");
        c.arg("-s");
        c
    });
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn current_user() -> String {
    let out = checked({
        let mut c = Command::new("id");
        c.arg("-un");
        c
    });
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// How a job (every task of an array) ended, from `scontrol show job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// `JobState=` of every task (`COMPLETED`, `FAILED`, `CANCELLED`, ...).
    pub states: Vec<String>,
    /// `ExitCode=` of every task (`0:0` is success).
    pub exit_codes: Vec<String>,
}

impl JobEnd {
    pub fn succeeded(&self) -> bool {
        !self.states.is_empty()
            && self.states.iter().all(|s| s == "COMPLETED")
            && self.exit_codes.iter().all(|c| c == "0:0")
    }
}

/// A running one-node cluster; dropping it stops every daemon it started.
pub struct Cluster {
    /// munged, slurmctld, slurmd, in start order.
    daemons: Vec<(&'static str, Child)>,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub node: String,
}

impl Cluster {
    /// Starts munged, slurmctld and slurmd and waits until the node is idle; panics with the
    /// daemons' logs when the cluster does not come up within a minute.
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("modelgate-slurm-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().to_path_buf();
        set_mode(&root, 0o755);
        for sub in ["key", "run", "state", "spool", "log"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
        }
        set_mode(&root.join("key"), 0o700);
        let mut key = vec![0u8; 1024];
        getrandom::fill(&mut key).expect("random key");
        let key_path = root.join("key/munge.key");
        std::fs::write(&key_path, &key).expect("write key");
        set_mode(&key_path, 0o600);

        let node = short_hostname();
        let socket = root.join("run/munge.socket");
        let conf = root.join("slurm.conf");
        std::fs::write(&conf, slurm_conf(&root, &node, &socket, &current_user()))
            .expect("write slurm.conf");

        let mut cluster = Cluster {
            daemons: Vec::new(),
            dir,
            conf,
            node,
        };
        let log = |name: &str| {
            std::fs::File::create(root.join("log").join(format!("{name}.out"))).expect("log")
        };
        let spawn = |mut c: Command, name: &str| {
            let out = log(name);
            c.stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"))
        };

        let mut munged = daemon("munged");
        munged
            .arg("--foreground")
            .arg(format!("--key-file={}", key_path.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                root.join("run/munged.pid").display()
            ))
            .arg(format!(
                "--seed-file={}",
                root.join("key/munged.seed").display()
            ))
            .arg(format!(
                "--log-file={}",
                root.join("log/munged.log").display()
            ));
        cluster.daemons.push(("munged", spawn(munged, "munged")));
        cluster.wait_for("munged's socket", |_| socket.exists());

        let mut ctld = daemon("slurmctld");
        ctld.env("SLURM_CONF", &cluster.conf)
            .arg("-D")
            .arg("-f")
            .arg(&cluster.conf);
        cluster
            .daemons
            .push(("slurmctld", spawn(ctld, "slurmctld")));
        cluster.wait_for("slurmctld to answer", |c| {
            c.command("scontrol")
                .arg("ping")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is UP"))
        });

        let mut slurmd = daemon("slurmd");
        slurmd
            .env("SLURM_CONF", &cluster.conf)
            .arg("-D")
            .arg("-N")
            .arg(&cluster.node)
            .arg("-f")
            .arg(&cluster.conf);
        cluster.daemons.push(("slurmd", spawn(slurmd, "slurmd")));
        cluster.wait_for("the node to be idle", |c| {
            c.command("sinfo")
                .args(["-h", "-N", "-o", "%T"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
        cluster
    }

    /// A Slurm client command (`sbatch`, `squeue`, ...) pointed at this cluster.
    pub fn command(&self, name: &str) -> Command {
        let prog = program(name).unwrap_or_else(|| panic!("{name} is not installed"));
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// Runs `sbatch --parsable` with `args` and returns the job id.
    pub fn sbatch(&self, args: &[&std::ffi::OsStr]) -> u64 {
        let mut c = self.command("sbatch");
        c.arg("--parsable").args(args);
        let out = checked(c);
        let text = String::from_utf8_lossy(&out.stdout);
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        text.trim()
            .split(';')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("sbatch printed {text:?}, not a job id"))
    }

    /// Waits until job `id` (every task of an array) has left the queue and returns how it
    /// ended; panics with the logs after `timeout`.
    pub fn wait(&self, id: u64, timeout: Duration) -> JobEnd {
        let deadline = Instant::now() + timeout;
        loop {
            let out = checked({
                let mut c = self.command("squeue");
                c.args(["-h", "-j", &id.to_string(), "-o", "%i %T %r"]);
                c
            });
            if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} still queued after {timeout:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.job_end(id)
    }

    /// How job `id` ended, from `scontrol show job` (kept by slurmctld for `MinJobAge`).
    pub fn job_end(&self, id: u64) -> JobEnd {
        let out = checked({
            let mut c = self.command("scontrol");
            c.args(["show", "job", "-o", &id.to_string()]);
            c
        });
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |line: &str, key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_default()
                .to_owned()
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        JobEnd {
            states: lines.iter().map(|l| field(l, "JobState=")).collect(),
            exit_codes: lines.iter().map(|l| field(l, "ExitCode=")).collect(),
        }
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("log"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            all.push_str(&format!("== {}\n", entry.path().display()));
            for line in tail.into_iter().rev() {
                all.push_str(line);
                all.push('\n');
            }
        }
        all
    }

    /// Waits (a minute at most) until `ready` holds; panics with the logs if a daemon exits.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + Duration::from_mins(1);
        while !ready(self) {
            let exited = self.daemons.iter_mut().find_map(|(name, child)| {
                child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|status| (*name, status))
            });
            if let Some((name, status)) = exited {
                panic!(
                    "{name} exited ({status}) waiting for {what}:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.daemons.len() == 3 {
            // Cancel what is still queued or running, then the orderly shutdown: slurmctld
            // tells slurmd to stop too.
            let _ = self
                .command("scancel")
                .arg(format!("--partition={PARTITION}"))
                .output();
            let _ = self.command("scontrol").arg("shutdown").output();
        }
        // munged last: the Slurm daemons authenticate their shutdown through it, and it has
        // nothing to save.
        for (name, child) in self.daemons.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while *name != "munged"
                && matches!(child.try_wait(), Ok(None))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The one-node configuration (see the module docs for why each plugin).
fn slurm_conf(root: &Path, node: &str, munge_socket: &Path, user: &str) -> String {
    let ctld_port = super::free_port();
    let slurmd_port = loop {
        let p = super::free_port();
        if p != ctld_port {
            break p;
        }
    };
    let r = root.display();
    format!(
        "ClusterName=modelgatetest\n\
         SlurmctldHost={node}(127.0.0.1)\n\
         SlurmctldPort={ctld_port}\n\
         SlurmdPort={slurmd_port}\n\
         SlurmUser={user}\n\
         SlurmdUser={user}\n\
         AuthType=auth/munge\n\
         CredType=cred/munge\n\
         AuthInfo=socket={sock}\n\
         StateSaveLocation={r}/state\n\
         SlurmdSpoolDir={r}/spool/slurmd-%n\n\
         SlurmctldPidFile={r}/run/slurmctld.pid\n\
         SlurmdPidFile={r}/run/slurmd.pid\n\
         SlurmctldLogFile={r}/log/slurmctld.log\n\
         SlurmdLogFile={r}/log/slurmd.log\n\
         ProctrackType=proctrack/linuxproc\n\
         TaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\n\
         AccountingStorageType=accounting_storage/none\n\
         JobCompType=jobcomp/none\n\
         MpiDefault=none\n\
         SchedulerType=sched/backfill\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_CPU\n\
         ReturnToService=2\n\
         MinJobAge=600\n\
         SlurmctldDebug=info\n\
         SlurmdDebug=info\n\
         NodeName={node} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
         PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP\n",
        sock = munge_socket.display(),
    )
}
