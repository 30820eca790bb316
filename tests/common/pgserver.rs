//! A real PostgreSQL server for tests: the binaries of Debian's `postgresql` package, a cluster
//! made by `initdb` in a temporary directory (trust authentication, user `modelgate`), and the
//! server started in the foreground on a free 127.0.0.1 port, its socket in the same directory.
//! PostgreSQL refuses to run as root, so under root (CI containers) both run as the `postgres`
//! user the package creates, through `setpriv`; `setpriv --pdeathsig` also stops the server if
//! the test process dies without dropping the guard. Dropping the guard stops the server
//! (`pg_ctl stop -m fast`) and removes the directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The directory holding `initdb`, `postgres` and `pg_ctl`: `$MODELGATE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian keeps them off `PATH`), else `PATH`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MODELGATE_PG_BIN").map(PathBuf::from) {
        return dir.join("postgres").is_file().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let postgres = super::which("postgres")?;
    let dir = postgres.parent()?.to_path_buf();
    dir.join("initdb").is_file().then_some(dir)
}

/// The server binaries, or `None` after a notice (a failure under `CI`).
pub fn available() -> Option<PathBuf> {
    let bin = bin_dir();
    super::require(
        bin.is_some(),
        "PostgreSQL server binaries (apt-get install postgresql)",
    )
    .then_some(bin)
    .flatten()
}

/// The uid and gid of `name` from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

pub struct Postgres {
    child: Child,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The user the server runs as, when the tests run as root.
    user: Option<(u32, u32)>,
    pub port: u16,
    databases: AtomicUsize,
}

/// `program` run as `user` (through setpriv) when given.
fn command(user: Option<(u32, u32)>, program: &Path, pdeathsig: bool) -> Command {
    let setpriv = super::which("setpriv");
    match (user, setpriv) {
        (Some((uid, gid)), Some(setpriv)) => {
            let mut c = Command::new(setpriv);
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups");
            if pdeathsig {
                c.arg("--pdeathsig=INT");
            }
            c.arg("--").arg(program);
            c
        }
        (Some(_), None) => panic!("running as root needs setpriv (util-linux) to start PostgreSQL"),
        (None, Some(setpriv)) if pdeathsig => {
            let mut c = Command::new(setpriv);
            c.arg("--pdeathsig=INT").arg("--").arg(program);
            c
        }
        (None, _) => Command::new(program),
    }
}

impl Postgres {
    /// Initialises a cluster and starts a server; panics with its log when it does not come up.
    pub fn start(bin: &Path) -> Postgres {
        let euid = std::fs::metadata("/proc/self").map_or(1, |m| m.uid());
        let user = if euid == 0 {
            Some(user_ids("postgres").expect(
                "running as root: PostgreSQL needs the `postgres` user (apt-get install postgresql)",
            ))
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("modelgate-pg-")
            .tempdir()
            .expect("temp dir");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown temp dir");
        }
        let data = dir.path().join("data");
        let out = command(user, &bin.join("initdb"), false)
            .current_dir(dir.path())
            .args([
                "-U",
                "modelgate",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg("--no-sync")
            .arg("-D")
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_port();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let child = command(user, &bin.join("postgres"), true)
            .current_dir(dir.path())
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let pg = Postgres {
            child,
            dir,
            bin: bin.to_path_buf(),
            user,
            port,
            databases: AtomicUsize::new(0),
        };
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if postgres::Client::connect(&pg.url("postgres"), postgres::NoTls).is_ok() {
                return pg;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("PostgreSQL did not start on port {port}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://modelgate@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("test_{n}");
        let mut admin =
            postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.url(&name)
    }

    /// Runs SQL on database `url` through a separate connection.
    pub fn execute(url: &str, sql: &str) {
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        c.batch_execute(sql).expect("execute");
    }

    /// A single BIGINT result of `sql` on database `url`.
    pub fn query_i64(url: &str, sql: &str) -> i64 {
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        c.query_one(sql, &[]).expect("query").get(0)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Stop exactly the server this guard started, by its data directory.
        let _ = command(self.user, &self.bin.join("pg_ctl"), false)
            .current_dir(self.dir.path())
            .args(["stop", "-m", "fast", "-w", "-t", "30", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
