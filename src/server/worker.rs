//! Scans run in worker processes, never in the server. A hostile upload that finds a bug in a
//! decoder (an abort, an endless loop, an allocation without bound) takes down one worker, not
//! the gate, and its request gets the verdict `error`, never `admit`.
//!
//! A worker is the same binary started as `modelgate worker`: it builds one [`Engine`] and its
//! thread pool, applies its own resource limits ([`apply_limits`]: address space and CPU
//! seconds), then answers jobs on
//! stdin with reports on stdout, one JSON document per line ([`serve`]). The server keeps a pool
//! of them ([`Pool`]): a job goes to an idle worker; a worker that does not answer within the
//! scan deadline is killed; one that dies, answers garbage or is killed is replaced, and the
//! job's failure names why (the signal or exit status). Workers are recycled after a number of
//! jobs so that CPU-time limits and allocator growth stay per job rather than per lifetime.
//!
//! The server hands a worker a directory it created for the upload and the file name inside it;
//! the worker scans only that file and reports paths relative to the directory, so no path a
//! client chose is ever opened and no temporary path leaks into a report. Image references are
//! pulled by the worker too (with the credentials of the configured registry only).

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, Mutex};

use crate::engine::Engine;
use crate::image::ImageOptions;
use crate::report::Report;

/// The largest reply line a worker may send (a report capped at its entry limit is far smaller).
const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// One scan job, as sent to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// Echoed in the reply, so a reply can never be matched to another job.
    pub id: u64,
    pub target: Target,
}

/// What a job scans.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// An upload: the file `name` (a single path component) in the directory `root` the server
    /// created for it.
    Upload { root: PathBuf, name: String },
    /// A small upload sent in the job itself (base64), scanned from memory as `name`.
    UploadBytes { name: String, base64: String },
    /// An image or OCI artifact in a registry the configuration allows, pulled by the worker.
    Oci(OciAccess),
    /// Verify an uploaded single-file model (`root`/`name`) against its signature bundle
    /// (`<name>.sig`, and its scan attestation `<name>.sig.scan.json` when sent) with any of the
    /// trusted public keys (PEM).
    VerifyUpload {
        root: PathBuf,
        name: String,
        keys: Vec<String>,
    },
    /// Verify an image's signature referrers with any of the trusted public keys (PEM).
    VerifyOci {
        access: OciAccess,
        keys: Vec<String>,
    },
    /// Verify an uploaded model directory (`root`/`name`, a tar or zip of it) against the
    /// `model.sig` inside it: unpacked into `root` (see [`super::unpack`]), every file must be
    /// covered by the signature and nothing else may be there.
    VerifyModelArchive {
        root: PathBuf,
        name: String,
        keys: Vec<String>,
    },
    /// Resolve an image reference to the digest of the manifest or index it names.
    Resolve(OciAccess),
}

/// An image reference and how to reach its registry (from the gate's `[[registries]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciAccess {
    pub reference: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub bearer_token: Option<String>,
    /// Plain HTTP for this registry.
    pub insecure: bool,
}

impl OciAccess {
    fn image_options(&self) -> ImageOptions {
        ImageOptions {
            username: self.username.clone(),
            password: self.password.clone(),
            bearer_token: self.bearer_token.clone(),
            insecure_registries: if self.insecure {
                vec![registry_host(&self.reference)]
            } else {
                Vec::new()
            },
            // Only the credentials the gate's configuration gives.
            docker_config: false,
            ..ImageOptions::default()
        }
    }
}

/// A worker's answer to one job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    /// The scan finished (whatever it found).
    Report { id: u64, report: Box<Report> },
    /// A verification finished: `verified` with what it established, or why not.
    Verification {
        id: u64,
        verified: bool,
        reasons: Vec<String>,
        details: serde_json::Value,
    },
    /// A reference resolved to its digest (`sha256:<hex>`).
    Resolved { id: u64, digest: String },
    /// The job could not be run (bad job, setup error): never a verdict of its own.
    Error { id: u64, message: String },
}

impl Reply {
    fn id(&self) -> u64 {
        match self {
            Reply::Report { id, .. }
            | Reply::Verification { id, .. }
            | Reply::Resolved { id, .. }
            | Reply::Error { id, .. } => *id,
        }
    }
}

/// Resource limits a worker applies to itself once it is ready (engine built, thread pool
/// started), before it reads any job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    /// Address space a worker may map for scanning, on top of what it had mapped when ready
    /// (`RLIMIT_AS` is set to the sum). Allocations beyond it fail and the worker aborts instead
    /// of the machine swapping. Counted from the ready state because allocators and thread
    /// stacks reserve address space up front that a scan never touches.
    pub max_memory_bytes: u64,
    /// `RLIMIT_CPU`: CPU seconds over the worker's life (it is recycled after
    /// [`PoolOptions::jobs_per_worker`] jobs); the per-job bound is the scan deadline.
    pub max_cpu_seconds: u64,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            max_memory_bytes: 4 << 30,
            max_cpu_seconds: 3600,
        }
    }
}

/// The calling process's mapped address space in bytes (`/proc/self/statm`, first field).
fn mapped_bytes() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("unreadable /proc/self/statm"))?;
    // x86-64 and aarch64 Linux (the platforms the gate ships for) use 4 KiB base pages here.
    Ok(pages.saturating_mul(4096))
}

/// Applies `limits` to the calling process (soft and hard limits alike, so the scan cannot raise
/// them back). Call once the process is ready to scan.
pub fn apply_limits(limits: WorkerLimits) -> io::Result<()> {
    let address_space = mapped_bytes()?.saturating_add(limits.max_memory_bytes);
    rlimit::setrlimit(rlimit::Resource::AS, address_space, address_space)?;
    rlimit::setrlimit(
        rlimit::Resource::CPU,
        limits.max_cpu_seconds,
        limits.max_cpu_seconds,
    )?;
    Ok(())
}

/// The worker's side: answers jobs read from `input` until it closes. Each job is scanned with
/// `engine`; the report's paths are made relative to the job's directory.
pub fn serve(engine: &Engine, input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Job>(&line) {
            Ok(job) => run_job(engine, &job),
            Err(e) => Reply::Error {
                id: 0,
                message: format!("unreadable job: {e}"),
            },
        };
        serde_json::to_writer(&mut output, &reply)?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
    Ok(())
}

fn run_job(engine: &Engine, job: &Job) -> Reply {
    match &job.target {
        Target::VerifyUpload { root, name, keys } => {
            return verify_upload(job.id, root, name, keys);
        }
        Target::VerifyOci { access, keys } => {
            return verify_oci(job.id, &access.reference, &access.image_options(), keys);
        }
        Target::VerifyModelArchive { root, name, keys } => {
            return verify_model_archive(job.id, root, name, keys);
        }
        Target::Resolve(access) => {
            return match crate::sign::oci::resolve_digest(
                &access.reference,
                &access.image_options(),
            ) {
                Ok(digest) => Reply::Resolved { id: job.id, digest },
                Err(e) => Reply::Error {
                    id: job.id,
                    message: e.to_string(),
                },
            };
        }
        Target::Upload { .. } | Target::UploadBytes { .. } | Target::Oci { .. } => {}
    }
    let result = match &job.target {
        Target::Upload { root, name } => scan_upload(engine, root, name),
        Target::UploadBytes { name, base64 } => scan_upload_bytes(engine, name, base64),
        Target::Oci(access) => {
            let target = std::ffi::OsString::from(format!("oci://{}", access.reference));
            crate::run::scan(engine, &[target], &access.image_options(), None)
                .map_err(|e| e.to_string())
        }
        Target::VerifyUpload { .. }
        | Target::VerifyOci { .. }
        | Target::VerifyModelArchive { .. }
        | Target::Resolve(_) => Err("not a scan job".to_owned()),
    };
    match result {
        Ok(report) => Reply::Report {
            id: job.id,
            report: Box::new(report),
        },
        Err(message) => Reply::Error {
            id: job.id,
            message,
        },
    }
}

/// Whether `name` is one plain path component.
fn single_component(name: &str) -> bool {
    Path::new(name).components().count() == 1 && !name.is_empty() && name != "." && name != ".."
}

/// The trusted keys, parsed; a key that does not parse is a reason, not a crash.
fn parse_keys(keys: &[String], reasons: &mut Vec<String>) -> Vec<crate::sign::PublicKey> {
    keys.iter()
        .enumerate()
        .filter_map(|(i, pem)| match crate::sign::PublicKey::from_pem(pem) {
            Ok(k) => Some(k),
            Err(e) => {
                reasons.push(format!("trusted key #{i} is unusable: {e}"));
                None
            }
        })
        .collect()
}

fn verify_upload(id: u64, root: &Path, name: &str, keys: &[String]) -> Reply {
    if !single_component(name) {
        return Reply::Error {
            id,
            message: "the job's file name is not a single path component".into(),
        };
    }
    verify_model(id, &root.join(name), keys, Vec::new())
}

fn verify_model_archive(id: u64, root: &Path, name: &str, keys: &[String]) -> Reply {
    if !single_component(name) {
        return Reply::Error {
            id,
            message: "the job's file name is not a single path component".into(),
        };
    }
    let dest = match tempfile::Builder::new()
        .prefix("unpacked-")
        .tempdir_in(root)
    {
        Ok(d) => d,
        Err(e) => {
            return Reply::Error {
                id,
                message: format!("creating the unpack directory: {e}"),
            }
        }
    };
    // `unpack` creates the directory itself, so that it starts empty.
    let into = dest.path().join("model");
    match super::unpack::unpack(&root.join(name), &into) {
        Ok(model) => verify_model(id, &model, keys, Vec::new()),
        Err(e) => Reply::Verification {
            id,
            verified: false,
            reasons: vec![format!("the upload cannot be verified: {e}")],
            details: serde_json::Value::Null,
        },
    }
}

/// Verifies the model at `model` (a file with `<file>.sig`, or a directory with `model.sig`)
/// with each trusted key until one verifies.
fn verify_model(id: u64, model: &Path, keys: &[String], mut reasons: Vec<String>) -> Reply {
    for key in parse_keys(keys, &mut reasons) {
        match crate::sign::verify_directory(
            model,
            &key,
            &crate::sign::VerifyOptions::default(),
            &|_| {},
        ) {
            Ok(v) => {
                let details = serde_json::json!({
                    "model_name": v.model_name,
                    "predicate_type": v.predicate_type,
                    "key_type": format!("{:?}", v.key_type),
                    "files": v.files,
                    "bytes": v.bytes,
                    "hash": v.hash.name(),
                    "root_digest": v.root_digest,
                    "scan_attestation": v.scan,
                });
                return Reply::Verification {
                    id,
                    verified: true,
                    reasons: Vec::new(),
                    details,
                };
            }
            Err(e) => reasons.push(redact(&e.to_string(), model)),
        }
    }
    unverified(id, reasons, keys.is_empty())
}

/// `message` without the worker's own directory (the client never sees spool paths).
fn redact(message: &str, model: &Path) -> String {
    let dir = if model.is_dir() {
        model
    } else {
        model.parent().unwrap_or(model)
    };
    message
        .replace(&format!("{}/", dir.display()), "")
        .replace(&dir.display().to_string(), "the model")
}

fn verify_oci(id: u64, reference: &str, opts: &ImageOptions, keys: &[String]) -> Reply {
    let mut reasons = Vec::new();
    for key in parse_keys(keys, &mut reasons) {
        match crate::sign::oci::verify_image(reference, &key, opts) {
            Ok(v) => {
                let details = serde_json::json!({
                    "pinned": v.pinned,
                    "digest": v.digest,
                    "media_type": v.media_type,
                    "referrer": v.referrer,
                    "subject_name": v.subject_name,
                    "key_type": format!("{:?}", v.key_type),
                    "candidates": v.candidates,
                    "scan_attestation": v.scan,
                });
                return Reply::Verification {
                    id,
                    verified: true,
                    reasons: Vec::new(),
                    details,
                };
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    unverified(id, reasons, keys.is_empty())
}

/// No trusted key verified the signature: why, key by key.
fn unverified(id: u64, mut reasons: Vec<String>, no_keys: bool) -> Reply {
    if no_keys {
        reasons.push("no trusted keys are configured".into());
    }
    Reply::Verification {
        id,
        verified: false,
        reasons,
        details: serde_json::Value::Null,
    }
}

fn scan_upload_bytes(engine: &Engine, name: &str, data: &str) -> Result<Report, String> {
    use base64::Engine as _;
    if !single_component(name) {
        return Err("the job's file name is not a single path component".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("the job's bytes are not base64: {e}"))?;
    faults::inject(name);
    Ok(engine.scan_bytes(name, bytes))
}

fn scan_upload(engine: &Engine, root: &Path, name: &str) -> Result<Report, String> {
    if !single_component(name) {
        return Err("the job's file name is not a single path component".into());
    }
    faults::inject(name);
    let mut report = engine
        .scan_paths(&[root.join(name)])
        .map_err(|e| e.to_string())?;
    report.relativise(root);
    Ok(report)
}

/// The registry host of an image reference, as Docker resolves it: the first path component
/// when it looks like a host (has a `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_host(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "docker.io".to_owned(),
    }
}

/// Test-only fault injection, so the isolation tests can make a worker abort, hang or allocate
/// without bound on marked uploads. It does nothing unless the worker's environment carries
/// `MODELGATE_TEST_FAULTS=enable-worker-faults` (set by the test suite only, never by the
/// server), and then only for file names starting with `modelgate-fault-`.
mod faults {
    const SWITCH: &str = "MODELGATE_TEST_FAULTS";
    const ON: &str = "enable-worker-faults";

    pub fn inject(name: &str) {
        if std::env::var(SWITCH).ok().as_deref() != Some(ON) {
            return;
        }
        let Some(fault) = name.strip_prefix("modelgate-fault-") else {
            return;
        };
        if fault.starts_with("abort") {
            std::process::abort();
        } else if fault.starts_with("hang") {
            loop {
                std::thread::sleep(std::time::Duration::from_hours(1));
            }
        } else if fault.starts_with("alloc") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Touch every page, so the allocation is real and the address-space limit bites.
                hoard.push(vec![1u8; 64 << 20]);
            }
        }
    }
}

/// How the pool starts and recycles workers.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// The executable to start (`std::env::current_exe()` for the server).
    pub program: PathBuf,
    /// Arguments before the limits (`["worker"]`), e.g. signature-database directories.
    pub args: Vec<String>,
    /// Number of worker processes.
    pub workers: usize,
    /// A worker is replaced after this many jobs.
    pub jobs_per_worker: u32,
    pub limits: WorkerLimits,
    /// Extra environment for workers (the test suite's fault switch).
    pub env: Vec<(String, String)>,
}

/// Why a job produced no report. Every variant becomes the verdict `error`.
#[derive(Debug, thiserror::Error)]
pub enum WorkerFailure {
    #[error("the scan did not finish within {0:?}; the worker was stopped")]
    Deadline(Duration),
    #[error("the worker stopped during the scan: {0}")]
    Died(String),
    #[error("the worker could not run the job: {0}")]
    Job(String),
    #[error("no worker could be started: {0}")]
    Spawn(String),
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    jobs: u32,
}

impl Worker {
    async fn roundtrip(&mut self, job: &Job) -> Result<Reply, String> {
        let mut line = serde_json::to_vec(job).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .await
            .map_err(|e| format!("cannot send the job: {e}"))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| format!("cannot send the job: {e}"))?;
        let mut reply = Vec::new();
        let n = (&mut self.stdout)
            .take(MAX_REPLY_BYTES as u64)
            .read_until(b'\n', &mut reply)
            .await
            .map_err(|e| format!("cannot read the reply: {e}"))?;
        if n == 0 {
            return Err("closed its output".into());
        }
        if reply.last() != Some(&b'\n') {
            return Err("sent a reply larger than the limit".into());
        }
        serde_json::from_slice(&reply).map_err(|e| format!("sent an unreadable reply: {e}"))
    }

    /// Kills the worker and says how it ended.
    async fn end(mut self) -> String {
        if let Ok(Some(status)) = self.child.try_wait() {
            return describe(status);
        }
        let _ = self.child.start_kill();
        match self.child.wait().await {
            Ok(status) => describe(status),
            Err(e) => format!("could not be reaped ({e})"),
        }
    }
}

/// "was killed by signal 6 (SIGABRT…)" or "exited with status 3".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        let name = match sig {
            6 => " (SIGABRT: an abort, e.g. memory exhausted under the worker's limit)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            24 => " (SIGXCPU: CPU-time limit)",
            _ => "",
        };
        format!("was killed by signal {sig}{name}")
    } else {
        format!("exited with status {}", status.code().unwrap_or(-1))
    }
}

/// A pool of worker processes. Cheap to clone; jobs may be submitted from any task.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    opts: PoolOptions,
    idle_tx: mpsc::Sender<Worker>,
    idle_rx: Mutex<mpsc::Receiver<Worker>>,
}

impl Pool {
    /// Starts `opts.workers` workers.
    pub async fn start(opts: PoolOptions) -> Result<Self, WorkerFailure> {
        let n = opts.workers.max(1);
        let (idle_tx, idle_rx) = mpsc::channel(n);
        let pool = Pool {
            inner: Arc::new(PoolInner {
                opts,
                idle_tx,
                idle_rx: Mutex::new(idle_rx),
            }),
        };
        for _ in 0..n {
            let w = pool.spawn()?;
            pool.give_back(w).await;
        }
        Ok(pool)
    }

    fn spawn(&self) -> Result<Worker, WorkerFailure> {
        let o = &self.inner.opts;
        let mut cmd = Command::new(&o.program);
        cmd.args(&o.args)
            .arg("--max-memory")
            .arg(o.limits.max_memory_bytes.to_string())
            .arg("--max-cpu-seconds")
            .arg(o.limits.max_cpu_seconds.to_string())
            .envs(o.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| WorkerFailure::Spawn(format!("{}: {e}", o.program.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(WorkerFailure::Spawn("no pipes to the worker".into()));
        };
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            jobs: 0,
        })
    }

    async fn give_back(&self, w: Worker) {
        // The channel holds exactly the pool's workers, so there is always room.
        let _ = self.inner.idle_tx.send(w).await;
    }

    async fn take(&self) -> Worker {
        let mut rx = self.inner.idle_rx.lock().await;
        loop {
            if let Some(w) = rx.recv().await {
                return w;
            }
        }
    }

    /// Runs `job` on a worker within `deadline`. The job runs in a task of its own, so a caller
    /// that goes away (a client that disconnects) neither loses the worker nor leaves it busy;
    /// `keep` (the upload's directory) lives until the worker is done with it.
    pub async fn scan<K: Send + 'static>(
        &self,
        job: Job,
        deadline: Duration,
        keep: K,
    ) -> Result<Report, WorkerFailure> {
        match self.submit(job, deadline, keep).await? {
            Reply::Report { report, .. } => Ok(*report),
            _ => Err(WorkerFailure::Job(
                "the worker did not answer with a report".into(),
            )),
        }
    }

    /// Runs `job` and returns the worker's answer (a report or a verification); see [`Pool::scan`].
    pub async fn submit<K: Send + 'static>(
        &self,
        job: Job,
        deadline: Duration,
        keep: K,
    ) -> Result<Reply, WorkerFailure> {
        let pool = self.clone();
        let task = tokio::spawn(async move {
            let result = pool.run(job, deadline).await;
            drop(keep);
            result
        });
        task.await
            .unwrap_or_else(|e| Err(WorkerFailure::Died(format!("scan task failed: {e}"))))
    }

    async fn run(&self, job: Job, deadline: Duration) -> Result<Reply, WorkerFailure> {
        let mut w = self.take().await;
        let why = match tokio::time::timeout(deadline, w.roundtrip(&job)).await {
            Ok(Ok(Reply::Error { id, message })) if id == job.id => {
                self.give_back(w).await;
                return Err(WorkerFailure::Job(message));
            }
            Ok(Ok(reply)) if reply.id() == job.id => {
                w.jobs = w.jobs.saturating_add(1);
                if w.jobs >= self.inner.opts.jobs_per_worker {
                    self.replace(w).await;
                } else {
                    self.give_back(w).await;
                }
                return Ok(reply);
            }
            Ok(Ok(_)) => Some("answered another job".to_owned()),
            Ok(Err(why)) => Some(why),
            Err(_) => None,
        };
        // The worker is no longer trusted: stop it, say how it ended, start a fresh one.
        let how = w.end().await;
        self.respawn().await;
        Err(match why {
            Some(why) => WorkerFailure::Died(format!("{why}; the worker {how}")),
            None => WorkerFailure::Deadline(deadline),
        })
    }

    async fn replace(&self, w: Worker) {
        let _ = w.end().await;
        self.respawn().await;
    }

    async fn respawn(&self) {
        // Retry with a pause: a worker that cannot start now (fork failing under memory
        // pressure) must not shrink the pool for good.
        let mut pause = Duration::from_millis(50);
        loop {
            match self.spawn() {
                Ok(w) => return self.give_back(w).await,
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_resolved_as_docker_does() {
        assert_eq!(registry_host("localhost:5000/a/b:v1"), "localhost:5000");
        assert_eq!(
            registry_host("Registry.Example.com/a@sha256:00"),
            "registry.example.com"
        );
        assert_eq!(registry_host("localhost/a"), "localhost");
        assert_eq!(registry_host("library/ubuntu:22.04"), "docker.io");
        assert_eq!(registry_host("ubuntu"), "docker.io");
    }
}
