//! The scan engine: expands targets, routes artifacts to scanners, recurses into containers, and
//! assembles one deterministic [`Report`]. This is the only place rayon is used for scanning.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::artifact::{Artifact, Content};
use crate::codes;
use crate::error::SetupError;
pub use crate::finding::{ArtifactRecord, FindingCounts, Omitted, RecordCounts, Sink, Status};
use crate::finding::{Finding, Location, Severity};
use crate::format::{format_for_extension, Format};
use crate::readings;
use crate::scanners;
use crate::signatures::SignatureDb;
use crate::walk;

pub use crate::context::{Limits, ScanContext};

/// Progress events for long runs (the CLI draws a progress bar from them; the gate may log them).
#[derive(Debug, Clone, Copy)]
pub enum ProgressEvent {
    /// Target expansion finished: this many files with this many bytes will be scanned.
    Planned { files: u64, bytes: u64 },
    /// One top-level file is done.
    FileDone { bytes: u64 },
}

/// A progress callback, shared by all workers.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<dyn Fn(ProgressEvent) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Options for an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Unknown (neither allowed nor denied) imports are high instead of medium.
    pub strict: bool,
    /// Worker threads; `None` uses every core.
    pub jobs: Option<usize>,
    pub limits: Limits,
    /// Called as work is planned and completed.
    pub progress: Option<Progress>,
    /// Record the SHA-256 of every artifact's bytes ([`ArtifactRecord::sha256`]) while the engine
    /// holds its content: whole files, file ranges (stored archive members), spooled and in-memory
    /// members. Off by default because it reads every byte (a 2 GB checkpoint whose scan reads only
    /// its pickle would otherwise be read in full); the CycloneDX output turns it on. Each digest
    /// is computed on a rayon worker alongside the artifact's own scan, so files and members are
    /// hashed in parallel.
    pub hash_artifacts: bool,
}

/// The status after another reading found structure: a skipped artifact was expanded after all;
/// any other status stands.
fn expanded(status: Status) -> Status {
    match status {
        Status::Skipped { .. } => Status::Expanded,
        other => other,
    }
}

/// Per-run counters shared by all workers. The byte budgets scale with the input
/// ([`Limits::uncompressed_budget`]), which grows as top-level files are opened: a directory scan
/// does not stat every file up front just to size them.
#[derive(Debug)]
pub(crate) struct Budget {
    members: AtomicU64,
    uncompressed: AtomicU64,
    temp: AtomicU64,
    input: AtomicU64,
    /// The input was sized up front; files opened later add nothing.
    sized: bool,
}

impl Budget {
    /// The counters of a run over `input` bytes.
    pub(crate) fn new(input: u64) -> Self {
        Self {
            members: AtomicU64::new(0),
            uncompressed: AtomicU64::new(0),
            temp: AtomicU64::new(0),
            input: AtomicU64::new(input),
            sized: true,
        }
    }

    /// The counters of a run whose input is learnt as its files are opened.
    fn growing() -> Self {
        Self {
            sized: false,
            ..Self::new(0)
        }
    }

    /// A top-level file of `n` bytes was opened.
    fn saw_input(&self, n: u64) {
        if !self.sized {
            self.input.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn input(&self) -> u64 {
        self.input.load(Ordering::Relaxed)
    }
}

/// The scan engine. Cheap to share across threads; build one per configuration.
#[derive(Debug)]
pub struct Engine {
    db: SignatureDb,
    opts: EngineOptions,
    policies: scanners::Policies,
}

/// What a scanner sees of the engine while scanning one artifact.
pub struct EngineContext<'e> {
    engine: &'e Engine,
    budget: &'e Budget,
    /// When the top-level file this context scans runs out of time ([`Limits::max_seconds`]).
    deadline: Option<Instant>,
}

impl Engine {
    pub fn new(db: SignatureDb, opts: EngineOptions) -> Result<Self, SetupError> {
        let policies = scanners::Policies::new(&db)?;
        Ok(Self { db, opts, policies })
    }

    /// An engine with the embedded signatures and default options.
    pub fn with_defaults() -> Result<Self, SetupError> {
        Self::new(SignatureDb::embedded()?, EngineOptions::default())
    }

    pub fn signatures(&self) -> &SignatureDb {
        &self.db
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The scanners' policies compiled from this engine's signature database.
    pub fn policies(&self) -> &scanners::Policies {
        &self.policies
    }

    /// Scans files found by target expansion ([`crate::run`] expands targets and calls this):
    /// in parallel, each worker folding its files into one sink.
    pub fn scan_entries(
        &self,
        files: &[walk::TargetEntry],
        out: &mut Sink,
    ) -> Result<(), SetupError> {
        let mut bytes = 0;
        if let Some(p) = &self.opts.progress {
            let size_of = |e: &walk::TargetEntry| match e {
                walk::TargetEntry::File { path, .. } => {
                    std::fs::metadata(path).map_or(0, |m| m.len())
                }
                walk::TargetEntry::Special { .. } => 0,
            };
            bytes = files.iter().map(size_of).sum();
            (p.0)(ProgressEvent::Planned {
                files: files.len() as u64,
                bytes,
            });
        }
        // Without a progress bar the sizes are learnt as each file is opened.
        let budget = if self.opts.progress.is_some() {
            Budget::new(bytes)
        } else {
            Budget::growing()
        };
        // Each worker folds its files into one sink, compacted as it grows, so memory does not
        // grow with the number of files (no per-file sink is kept until the end).
        let cap = self.opts.limits.max_report_entries;
        let run = || {
            files
                .par_iter()
                .fold(Sink::default, |mut sink, entry| {
                    match entry {
                        walk::TargetEntry::File { display, path } => {
                            self.context(&budget).scan_file(display, path, &mut sink);
                        }
                        walk::TargetEntry::Special { display, reason } => {
                            sink.artifacts.push(ArtifactRecord {
                                location: Location::file(display.clone()),
                                format: Format::Unknown,
                                size: 0,
                                status: Status::Skipped {
                                    reason: reason.clone(),
                                },
                                sha256: None,
                            });
                        }
                    }
                    sink.compact(cap);
                    sink
                })
                .reduce(Sink::default, |mut a, b| {
                    a.merge(b);
                    a.compact(cap);
                    a
                })
        };
        let sink = match self.opts.jobs {
            Some(n) => rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| SetupError::Invalid(format!("thread pool: {e}")))?
                .install(run),
            None => run(),
        };
        out.merge(sink);
        out.compact(cap);
        Ok(())
    }

    /// Scans artifacts that were produced outside the walker (image layers spooled to temporary
    /// files, single-file layers) into `out`. Each artifact carries its own location chain;
    /// containers among them are expanded as usual. Artifacts are scanned in parallel.
    pub fn scan_artifacts(&self, artifacts: Vec<Artifact>, out: &mut Sink) {
        let input = artifacts.iter().map(|a| a.content.len()).sum();
        let budget = Budget::new(input);
        let sinks: Vec<Sink> = artifacts
            .into_par_iter()
            .map(|a| {
                let mut sink = Sink::default();
                self.context(&budget).scan_artifact(&a, &mut sink);
                sink
            })
            .collect();
        out.merge_all(sinks);
        out.compact(self.opts.limits.max_report_entries);
    }

    /// The context for one top-level file: its time budget starts now.
    pub(crate) fn context<'e>(&'e self, budget: &'e Budget) -> EngineContext<'e> {
        EngineContext {
            engine: self,
            budget,
            deadline: self
                .opts
                .limits
                .max_seconds
                .map(|s| Instant::now() + Duration::from_secs(s)),
        }
    }
}

impl EngineContext<'_> {
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    fn scan_file(&self, display: &str, path: &Path, sink: &mut Sink) {
        let location = Location::of_path(display, path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let artifact = Content::open_file(path).and_then(|content| {
            self.budget.saw_input(content.len());
            Artifact::sniffed(location.clone(), name, content, 0)
        });
        match artifact {
            Ok(a) => self.scan_artifact(&a, sink),
            Err(e) => {
                sink.artifacts.push(ArtifactRecord {
                    location,
                    format: Format::Unknown,
                    size: 0,
                    status: Status::Failed {
                        error: e.to_string(),
                    },
                    sha256: None,
                });
            }
        }
    }

    /// Routes one artifact: containers are expanded, everything else goes to its scanner(s).
    pub fn scan_artifact(&self, a: &Artifact, sink: &mut Sink) {
        // The digest (when asked for) is computed beside the scan, on another rayon worker.
        let (digest, status) = if self.engine.opts.hash_artifacts {
            rayon::join(|| self.digest(&a.content), || self.route(a, sink))
        } else {
            (None, self.route(a, sink))
        };
        let (status, is_pickle) = status;
        let sha256 = Self::record_digest(digest, &a.location, sink);
        // A file that is a pickle a loader would run is judged as one against its name, and
        // recorded as one when nothing else recognised it.
        let judged = if is_pickle { Format::Pickle } else { a.format };
        let format = if a.format == Format::Unknown {
            judged
        } else {
            a.format
        };
        Self::extension_mismatch(a, judged, sink);
        sink.artifacts.push(ArtifactRecord {
            location: a.location.clone(),
            format,
            size: a.content.len(),
            status,
            sha256,
        });
    }

    /// A top-level file whose extension names another format than its content (judged on the
    /// format the scan settled on: a protocol-0 pickle is identified by the fallback reading).
    fn extension_mismatch(a: &Artifact, format: Format, sink: &mut Sink) {
        if a.depth == 0 {
            if let Some(expected) = format_for_extension(&a.name) {
                let compatible = expected == format
                    || (expected == Format::Pickle
                        && matches!(format, Format::PytorchLegacy | Format::Zlib))
                    || (expected == Format::Zip && format == Format::Zip)
                    // `saveRDS` and `save` compress with gzip by default (bzip2 and xz on request).
                    || (expected == Format::RSerialized
                        && matches!(format, Format::Gzip | Format::Bzip2 | Format::Xz));
                if !compatible && format != Format::Unknown {
                    sink.push(
                        Finding::new(
                            &codes::engine::EXTENSION_MISMATCH,
                            a.location.clone(),
                            format!(
                                "extension suggests {} but the content is {}",
                                expected.name(),
                                format.name()
                            ),
                        )
                        .evidence("sniffed", format.name())
                        .evidence("extension", expected.name())
                        // One compression named as another (joblib 0.9 wrote zlib under `.gz`),
                        // or a compressed pickle under a pickle name (`joblib.dump(..., compress=)`
                        // to `.joblib`/`.pkl`), disguises nothing: the content is unwrapped by
                        // what it really is.
                        .severity(
                            if (expected.is_compression() || expected == Format::Pickle)
                                && format.is_compression()
                            {
                                Severity::Info
                            } else {
                                codes::engine::EXTENSION_MISMATCH.severity
                            },
                        ),
                    );
                }
            }
        }
    }

    /// Reads the artifact as its sniffed format, then under every other interpretation a loader
    /// can take ([`readings`]); returns its status. What could not be inspected is a high finding
    /// as well as a failed status: exit 2 alone reads as "could not scan", and a gate must not
    /// confuse that with "nothing found".
    fn route(&self, a: &Artifact, sink: &mut Sink) -> (Status, bool) {
        let mut status = self.route_primary(a, sink);
        let mut is_pickle = false;
        let head = match a.content.head(crate::sniff::SNIFF_LEN) {
            Ok(h) => h,
            Err(e) => {
                let error = e.to_string();
                return (Status::Failed { error }, false);
            }
        };
        match readings::other_readings(a, &head) {
            Ok(list) => {
                for r in list {
                    status = self.read_again(a, r, status, sink, &mut is_pickle);
                }
            }
            Err(e) => {
                status = Status::Failed {
                    error: format!("cannot check the other readings of the content: {e}"),
                };
            }
        }
        if let Status::Skipped { reason } = &status {
            Self::unreadable_model(a, &head, reason, sink);
        }
        if let Status::Failed { error } = &status {
            sink.push(
                Finding::new(
                    &codes::engine::UNINSPECTABLE,
                    a.location.clone(),
                    format!("{} could not be read to the end: {error}", a.format.name()),
                )
                .evidence("format", a.format.name()),
            );
        }
        (status, is_pickle)
    }

    /// One more reading of `a` (see [`readings::Reading`]); returns the artifact's updated status.
    fn read_again(
        &self,
        a: &Artifact,
        reading: readings::Reading,
        status: Status,
        sink: &mut Sink,
        is_pickle: &mut bool,
    ) -> Status {
        use readings::Reading;
        let skipped = matches!(status, Status::Skipped { .. });
        match reading {
            Reading::Pickle => match scanners::pickle::scan_fallback(a, self, sink) {
                Ok(fb) if fb.runnable && skipped => {
                    *is_pickle = true;
                    Status::Scanned {
                        scanner: "pickle".to_owned(),
                    }
                }
                Ok(fb) => {
                    *is_pickle |= fb.runnable;
                    let Status::Skipped { reason } = status else {
                        return status;
                    };
                    let why = match &fb.stopped {
                        Some((at, msg)) => format!(
                            "{reason}; not a pickle a loader would run (the pickle reading stops at offset {at}: {msg})"
                        ),
                        None => format!("{reason}; not a pickle a loader would run"),
                    };
                    Status::Skipped { reason: why }
                }
                Err(e) => {
                    sink.push(
                        Finding::new(
                            &codes::engine::UNINSPECTABLE,
                            a.location.clone(),
                            format!("the bytes could not be walked as a pickle: {e}"),
                        )
                        .evidence("reading", "pickle"),
                    );
                    status
                }
            },
            Reading::Zip => self.expand_as(a, Format::Zip, reading, status, sink),
            Reading::Tar => self.expand_as(a, Format::Tar, reading, status, sink),
            Reading::Compressed(f) => self.expand_as(a, f, reading, status, sink),
            Reading::Hdf5At(off) => {
                let member = format!("hdf5@{off}");
                match a.content.slice(off, a.content.len().saturating_sub(off)) {
                    Ok(content) => {
                        sink.push(
                            Finding::new(
                                &codes::engine::ALTERNATE_READING,
                                a.location.clone(),
                                format!(
                                    "the {} content is also {}; scanned as {member}",
                                    a.format.name(),
                                    reading.describe()
                                ),
                            )
                            .evidence("reading", "hdf5")
                            .evidence("user-block", off.to_string()),
                        );
                        self.scan_nested(a, &member, content, Some(Format::Hdf5), sink);
                        expanded(status)
                    }
                    Err(e) => {
                        sink.push(Finding::new(
                            &codes::engine::UNINSPECTABLE,
                            a.location.clone(),
                            format!("cannot read the HDF5 file after the user block: {e}"),
                        ));
                        status
                    }
                }
            }
        }
    }

    /// Expands `a` as the container `format` (one of its other readings); members go through
    /// the engine as usual. A reading that does not open is noted, not an error: the loader that
    /// would take it fails too.
    fn expand_as(
        &self,
        a: &Artifact,
        format: Format,
        reading: readings::Reading,
        status: Status,
        sink: &mut Sink,
    ) -> Status {
        let alt = Artifact {
            format,
            ..a.clone()
        };
        let (message, next) = match walk::expand(&alt, self, sink) {
            Ok(()) => (
                format!(
                    "the {} content is also {}; its members were scanned too",
                    a.format.name(),
                    reading.describe()
                ),
                expanded(status),
            ),
            Err(e) => (
                format!(
                    "the content starts like {} but does not read as one: {e}",
                    reading.describe()
                ),
                status,
            ),
        };
        sink.push(
            Finding::new(
                &codes::engine::ALTERNATE_READING,
                a.location.clone(),
                message,
            )
            .evidence("reading", format.name()),
        );
        next
    }

    /// An artifact whose name says it is a model (a loader would be pointed at it) but whose
    /// bytes no scanner recognises and no pickle loader would run: uninspectable, so high.
    fn unreadable_model(a: &Artifact, head: &[u8], why: &str, sink: &mut Sink) {
        // Empty files hide nothing, `.wh.*` entries of image layers are whiteout markers, and
        // text is positively identified as something no model loader runs (`.pth` is also
        // Python's path-configuration file in site-packages).
        if a.format != Format::Unknown
            || !crate::format::model_like_name(&a.name)
            || a.content.is_empty()
            || a.name.starts_with(".wh.")
            || readings::is_text(head)
        {
            return;
        }
        sink.push(
            Finding::new(
                &codes::engine::UNINSPECTABLE,
                a.location.clone(),
                format!("named like a model file, but no scanner recognises its content: {why}"),
            )
            .evidence("name", a.name.clone()),
        );
    }

    /// Expands a container or hands the artifact to the scanner of its sniffed format.
    fn route_primary(&self, a: &Artifact, sink: &mut Sink) -> Status {
        if a.format.is_archive() || a.format.is_compression() {
            // A container that cannot be opened is a scan error (exit 2, never "approved"); members
            // read before the failure have already been scanned.
            return match walk::expand(a, self, sink) {
                Ok(()) => Status::Expanded,
                Err(e) => Status::Failed {
                    error: e.to_string(),
                },
            };
        }
        let Some(scanner) = scanners::for_format(a.format) else {
            let reason = match a.format {
                Format::PythonLibrary => "installed Python library source: vetted by the package inventory (RECORD, allowlist), not as model-side code".to_owned(),
                f => format!("no scanner for format '{}'", f.name()),
            };
            return Status::Skipped { reason };
        };
        let from = sink.findings.len();
        let result = scanner.scan(a, self, sink);
        sink.cap_repeats(from, &a.location, scanner.codes());
        match result {
            Ok(()) => Status::Scanned {
                scanner: scanner.id().to_owned(),
            },
            Err(e) => Status::Failed {
                error: e.to_string(),
            },
        }
    }

    /// SHA-256 of `content` through [`crate::hash`], when [`EngineOptions::hash_artifacts`] is set.
    fn digest(&self, content: &Content) -> Option<std::io::Result<String>> {
        if !self.engine.opts.hash_artifacts {
            return None;
        }
        Some(match content {
            Content::Memory(b) => Ok(crate::hash::sha256_hex(b)),
            Content::Elided(e) => e.sha256.clone().ok_or_else(|| {
                std::io::Error::other("the stream was not kept and its digest was not recorded")
            }),
            Content::File { .. } | Content::Temp { .. } => content
                .open()
                .and_then(|mut r| crate::hash::sha256_reader(&mut r))
                .map(hex::encode),
        })
    }

    /// Turns a digest result into the record's field; a read failure is reported, never silent.
    fn record_digest(
        digest: Option<std::io::Result<String>>,
        location: &Location,
        sink: &mut Sink,
    ) -> Option<String> {
        match digest? {
            Ok(d) => Some(d),
            Err(e) => {
                sink.push(
                    Finding::new(
                        &codes::engine::READ_ERROR,
                        location.clone(),
                        format!("cannot compute the SHA-256 of the artifact: {e}"),
                    )
                    .evidence("operation", "hash"),
                );
                None
            }
        }
    }
}

impl ScanContext for EngineContext<'_> {
    fn limits(&self) -> &Limits {
        &self.engine.opts.limits
    }

    fn strict(&self) -> bool {
        self.engine.opts.strict
    }

    fn hash_artifacts(&self) -> bool {
        self.engine.opts.hash_artifacts
    }

    fn archive_listed(&self, a: &Artifact, names: &[&str], sink: &mut Sink) {
        scanners::torchscript::classify_listing(a, names, sink);
        scanners::torchserve::classify_listing(a, names, sink);
    }

    /// Scans content found inside `parent` (an archive member, an embedded pickle, a decompressed
    /// stream). Enforces the depth budget; `format` overrides sniffing when the container knows
    /// better (e.g. the pickle inside an `.npy`).
    fn scan_nested(
        &self,
        parent: &Artifact,
        member: &str,
        content: Content,
        format: Option<Format>,
        sink: &mut Sink,
    ) {
        let location = parent.location.child(member);
        let depth = parent.depth + 1;
        if depth > self.limits().max_depth {
            sink.push(
                Finding::new(
                    &codes::engine::BUDGET_EXCEEDED,
                    location.clone(),
                    format!(
                        "nesting deeper than {} levels was not opened",
                        self.limits().max_depth
                    ),
                )
                .evidence("limit", "max-depth"),
            );
            let sha256 = Self::record_digest(self.digest(&content), &location, sink);
            sink.artifacts.push(ArtifactRecord {
                location,
                format: format.unwrap_or(Format::Unknown),
                size: content.len(),
                status: Status::Skipped {
                    reason: "nesting depth limit".into(),
                },
                sha256,
            });
            return;
        }
        let name = member.rsplit('/').next().unwrap_or(member).to_owned();
        let artifact = match format {
            Some(f) => Ok(Artifact {
                location: location.clone(),
                name,
                content,
                format: f,
                depth,
            }),
            None => Artifact::sniffed(location.clone(), name, content, depth),
        };
        match artifact {
            Ok(a) => self.scan_artifact(&a, sink),
            Err(e) => sink.push(Finding::new(
                &codes::engine::READ_ERROR,
                location,
                e.to_string(),
            )),
        }
    }

    /// Counts one expanded member against the run budget; `false` when the budget is spent.
    fn take_member(&self) -> bool {
        self.budget.members.fetch_add(1, Ordering::Relaxed) < self.limits().max_members
    }

    /// Counts decompressed bytes against the run budget; `false` when the budget is spent.
    fn take_uncompressed(&self, n: u64) -> bool {
        self.budget
            .uncompressed
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n)
            <= self.uncompressed_budget()
    }

    /// Whether the run's decompression budget is already spent (containers stop expanding).
    fn uncompressed_spent(&self) -> bool {
        self.budget.uncompressed.load(Ordering::Relaxed) >= self.uncompressed_budget()
    }

    /// The run's decompression budget in bytes (for messages).
    fn uncompressed_budget(&self) -> u64 {
        self.limits().uncompressed_budget(self.budget.input())
    }

    /// Counts bytes written to temporary files against the run budget; `false` when spent.
    fn take_temp(&self, n: u64) -> bool {
        self.budget
            .temp
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n)
            <= self.temp_budget()
    }

    /// The run's temporary-file budget in bytes (for messages).
    fn temp_budget(&self) -> u64 {
        self.limits().temp_budget(self.budget.input())
    }

    /// Whether this top-level file's time budget is spent.
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Pickle walk budgets for this context (the defaults, with the file's deadline).
    fn walk_limits(&self) -> crate::pickle::WalkLimits {
        crate::pickle::WalkLimits {
            deadline: self.deadline,
            ..crate::pickle::WalkLimits::default()
        }
    }
}

impl scanners::ScannerContext for EngineContext<'_> {
    fn policies(&self) -> &scanners::Policies {
        &self.engine.policies
    }

    fn check_json(&self, v: &serde_json::Value, a: &Artifact, out: &mut Sink) {
        scanners::code::check_json_value(v, a, self, out);
    }
}
