//! The audit trail and the verdict cache, shared by the admission gate (`modelgate serve`) and
//! the batch audit, on SQLite (the embedded default) or PostgreSQL (several gate replicas
//! sharing one trail and one cache).
//!
//! ```
//! use modelgate::store::{CacheEntry, CacheKey, Decision, DecisionQuery, Store, Verdict};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(&format!("sqlite://{}", dir.path().join("gate.db").display()))?;
//! let sha256 = "ab".repeat(32);
//!
//! let mut d = Decision::new("gate", "req-1", "/v1/scan", Verdict::Deny);
//! d.sha256 = Some(sha256.clone());
//! d.counts.critical = 1;
//! d.reasons = r#"["pickle/unsafe-global at data.pkl"]"#.into();
//! store.record_decision(d)?;
//!
//! let page = store.decisions(&DecisionQuery { verdict: Some(Verdict::Deny), ..Default::default() })?;
//! assert_eq!(page.decisions.len(), 1);
//!
//! let key = CacheKey::new(&sha256, "sigdb-digest", "policy-digest")?;
//! store.cache_verdict(&key, &CacheEntry::new(Verdict::Deny, "[]"))?;
//! assert_eq!(store.cached_verdict(&key)?.map(|c| c.verdict), Some(Verdict::Deny));
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## What is stored
//! - `decisions`: the audit trail, one row per decision (time in UTC milliseconds, request id,
//!   client token name, route, artifact sha256 and size, verdict `admit`/`deny`/`error`, finding
//!   counts by severity, signature-database and policy digests, duration, whether the answer
//!   came from the cache, the reasons as JSON text, and the `source` that wrote it: `gate`,
//!   `audit`, …). The library only ever appends to it: no method updates or deletes a row.
//! - `verdict_cache`: (artifact sha256, signature-database digest, policy digest) → verdict
//!   (`admit` or `deny`; `error` is refused), reasons (JSON text) and optionally the report JSON,
//!   stored zstd-compressed. A report above [`MAX_REPORT_BYTES`] (uncompressed) is refused with
//!   [`StoreError::ReportTooLarge`] and nothing is cached: the next request is a miss and is
//!   scanned again, which is always correct. The first writer of a key wins; a second insert of
//!   the same key (another replica that scanned the same artifact meanwhile) succeeds and reads
//!   back the first row. A new signature database or policy changes the key, so it invalidates
//!   the cache by construction.
//! - `webhook_deliveries`: (source, delivery id) → when it was received, for signed webhooks
//!   (MLflow's): a delivery id seen before is a replay, across restarts and replicas. Ids older
//!   than the caller's window (the signed timestamp's tolerance makes older deliveries stale
//!   anyway) are pruned when a new one is recorded.
//! - `schema_version`: the migrations applied. Migrations live in the code (`sql.rs`), are
//!   applied in order when a store is opened, each in its own transaction, and are idempotent
//!   (two processes opening one empty database apply each once). A database written by a newer
//!   modelgate is refused ([`StoreError::SchemaTooNew`]).
//!
//! ## URLs
//! `sqlite:///abs/path.db`, `sqlite://relative.db` (relative to the working directory), either
//! with `?synchronous=normal` to report a commit before its write-ahead log is synced (rows
//! survive a crash of the process but not always of the machine; the default `full` survives
//! both), and
//! `postgres://user[:password]@host:port/db` (also `postgresql://`, and any parameter the
//! PostgreSQL client understands; no TLS yet). Another scheme is
//! [`StoreError::UnsupportedScheme`].
//!
//! ## One API for a synchronous and an asynchronous caller
//! Each opened store has two worker threads, each owning one database connection and serving
//! commands in arrival order: the writer (every write; for SQLite the one writer) and the reader
//! (pages of the trail and cache lookups, so a lookup never waits behind a commit). SQLite's
//! writer also has a checkpoint thread, so that folding the log into the database never holds up
//! a commit (`sqlite.rs`). Both handle
//! types talk to them over channels:
//! - [`Store`]: blocking methods, for the batch audit's rayon workers, plain threads and
//!   `spawn_blocking`. Calling it on a tokio worker thread works but blocks that thread.
//! - [`AsyncStore`]: the same methods as `async fn`, for the gate. A call sends its command and
//!   awaits a oneshot reply; nothing blocks the runtime, and the futures are `Send`.
//!
//! Why worker threads rather than `spawn_blocking` around a connection pool: SQLite wants one
//! writer (a single connection serialises writes, so callers never see SQLITE_BUSY, and the
//! writer commits decisions that arrive together in one transaction, one sync for many rows);
//! the synchronous PostgreSQL client runs its own tokio runtime and must not run on a thread of
//! the gate's runtime, which a dedicated plain thread guarantees; and both callers get the same
//! ordering guarantees. A write call returns after its transaction committed (SQLite runs in WAL
//! mode with `synchronous=FULL`: the commit is on disk first), so an accepted row is never lost;
//! a read that follows a caller's write sees it. [`Store::flush`] is an ordering
//! barrier for writes, and [`Store::close`] answers every command queued before it, then closes
//! both connections (later calls return [`StoreError::Closed`]). A future dropped after its
//! command was sent does not cancel the command. Callers bound their own concurrency (the gate's
//! scan limit, the audit's worker count); each waits for its answer, so the queues never grow
//! past them.
//!
//! The decision trail is read newest first, by (time, id), in pages of at most
//! [`MAX_PAGE_LIMIT`] rows with an opaque cursor: the next page is the rows strictly older than
//! the last one returned, so rows recorded while a client pages through the trail never shift or
//! repeat a page. A row recorded later with an older time (a long request, a skewed replica
//! clock) is seen by a new query, not by a pagination that already passed its time.
//!
//! - `file_stamps` and `audit_progress` (the batch audit, [`AuditBatch`]): a file's (device,
//!   inode, size, mtime_ns, ctime_ns) → its sha256, so an unchanged file is not read again; and
//!   the artifacts a run has finished, so a killed run resumes without losing or repeating any.
//! - `audit_listings` (the batch audit): a tree's canonical root → its settled directory
//!   listings (`audit::dirs`' encoding), so a re-audit stats unchanged directories instead of
//!   reading them.

mod audit;
mod backend;
mod cursor;
mod pg;
mod sql;
mod sqlite;
mod url;
mod worker;

use std::sync::{mpsc, Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use audit::{AuditBatch, PendingCommit, ProgressRow, StampRow};
use worker::{Command, NewCacheEntry, Reply};

/// Rows per page of [`Store::decisions`] at most (a larger `limit` is capped to this).
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Rows per page when the query names no limit.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The largest report JSON (uncompressed) the cache stores.
pub const MAX_REPORT_BYTES: usize = 16 << 20;
/// The largest reasons JSON of one decision or cache entry.
pub const MAX_REASONS_BYTES: usize = 1 << 20;
/// The longest request id, client name, route, source or digest.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Why a store call failed. Database failures carry the database's message; no variant carries
/// a connection URL (it may hold a password).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("invalid store URL: {reason}")]
    InvalidUrl { reason: String },
    #[error("unsupported store URL scheme {scheme:?} (use sqlite:// or postgres://)")]
    UnsupportedScheme { scheme: String },
    #[error(
        "the store's schema is version {found}, newer than this modelgate supports ({supported}); \
         upgrade modelgate or use another database"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("{backend}: {message}")]
    Database {
        backend: &'static str,
        message: String,
    },
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("an error verdict is never cached")]
    ErrorVerdictNotCacheable,
    #[error("report of {size} bytes exceeds the cache's limit of {limit} bytes; not cached")]
    ReportTooLarge { size: usize, limit: usize },
    #[error("invalid pagination cursor")]
    BadCursor,
    #[error("the store holds data this modelgate cannot read: {0}")]
    Corrupt(String),
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    fn database(backend: &'static str, message: String) -> StoreError {
        StoreError::Database { backend, message }
    }

    fn input(field: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

/// Which database a store uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The outcome of one admission decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Admit,
    Deny,
    /// The artifact could not be judged (a worker crash, a deadline): never admitted, never
    /// cached.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Admit => "admit",
            Verdict::Deny => "deny",
            Verdict::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "admit" => Some(Verdict::Admit),
            "deny" => Some(Verdict::Deny),
            "error" => Some(Verdict::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finding counts by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub info: u32,
    pub low: u32,
    pub medium: u32,
    pub high: u32,
    pub critical: u32,
}

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// When the decision was made; stored with millisecond precision.
    pub time: DateTime<Utc>,
    pub request_id: String,
    /// The name of the client's token, when it had one.
    pub client: Option<String>,
    pub route: String,
    /// Lowercase hex; `None` for a request that never got an artifact.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub verdict: Verdict,
    pub counts: SeverityCounts,
    pub signatures_digest: String,
    pub policy_digest: String,
    pub duration_ms: u64,
    /// Whether the verdict came from the cache.
    pub cached: bool,
    /// JSON text (validated as JSON when recorded).
    pub reasons: String,
    /// Who wrote the row: `gate`, `audit`, …
    pub source: String,
}

impl Decision {
    /// A decision made now, with no artifact, no findings and empty digests and reasons (`[]`).
    pub fn new(source: &str, request_id: &str, route: &str, verdict: Verdict) -> Decision {
        Decision {
            time: Utc::now(),
            request_id: request_id.to_owned(),
            client: None,
            route: route.to_owned(),
            sha256: None,
            size: None,
            verdict,
            counts: SeverityCounts::default(),
            signatures_digest: String::new(),
            policy_digest: String::new(),
            duration_ms: 0,
            cached: false,
            reasons: "[]".to_owned(),
            source: source.to_owned(),
        }
    }
}

/// A decision as stored, with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDecision {
    pub id: i64,
    pub decision: Decision,
}

/// Filters of one page of the audit trail. Every filter is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionQuery {
    /// Only decisions at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub verdict: Option<Verdict>,
    /// Only decisions about this artifact (hex, any case).
    pub sha256: Option<String>,
    /// Rows per page: [`DEFAULT_PAGE_LIMIT`] when `None`, at most [`MAX_PAGE_LIMIT`], at least 1.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of the audit trail, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionPage {
    pub decisions: Vec<StoredDecision>,
    /// Present when older rows remain: pass it as [`DecisionQuery::cursor`].
    pub next_cursor: Option<String>,
}

/// The key of the verdict cache: the same artifact judged under the same rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    sha256: String,
    signatures_digest: String,
    policy_digest: String,
}

impl CacheKey {
    /// Validates the artifact digest (64 hex digits, stored lowercase) and the two rule digests
    /// (non-empty, at most [`MAX_TEXT_BYTES`]).
    pub fn new(
        sha256: &str,
        signatures_digest: &str,
        policy_digest: &str,
    ) -> Result<CacheKey, StoreError> {
        let nonempty = |field, v: &str| {
            if v.is_empty() {
                Err(StoreError::input(field, "empty"))
            } else {
                check_text(field, v).map(|()| v.to_owned())
            }
        };
        Ok(CacheKey {
            sha256: check_sha256("sha256", sha256)?,
            signatures_digest: nonempty("signatures_digest", signatures_digest)?,
            policy_digest: nonempty("policy_digest", policy_digest)?,
        })
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn signatures_digest(&self) -> &str {
        &self.signatures_digest
    }

    pub fn policy_digest(&self) -> &str {
        &self.policy_digest
    }

    fn parts(&self) -> [String; 3] {
        [
            self.sha256.clone(),
            self.signatures_digest.clone(),
            self.policy_digest.clone(),
        ]
    }
}

/// What to cache under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// `admit` or `deny`.
    pub verdict: Verdict,
    /// JSON text.
    pub reasons: String,
    /// The report JSON, if the caller wants it back on a hit (at most [`MAX_REPORT_BYTES`]).
    pub report: Option<String>,
}

impl CacheEntry {
    pub fn new(verdict: Verdict, reasons: &str) -> CacheEntry {
        CacheEntry {
            verdict,
            reasons: reasons.to_owned(),
            report: None,
        }
    }

    #[must_use]
    pub fn with_report(mut self, report: String) -> CacheEntry {
        self.report = Some(report);
        self
    }
}

/// A cache hit: what the first writer of the key stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedVerdict {
    pub verdict: Verdict,
    pub reasons: String,
    pub report: Option<String>,
    pub created: DateTime<Utc>,
}

fn check_text(field: &'static str, v: &str) -> Result<(), StoreError> {
    if v.len() > MAX_TEXT_BYTES {
        return Err(StoreError::input(
            field,
            format!("{} bytes, more than {MAX_TEXT_BYTES}", v.len()),
        ));
    }
    if v.contains('\0') {
        return Err(StoreError::input(field, "contains a NUL character"));
    }
    Ok(())
}

fn check_sha256(field: &'static str, v: &str) -> Result<String, StoreError> {
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(StoreError::input(field, "not 64 hexadecimal digits"))
    }
}

fn check_json(field: &'static str, v: &str) -> Result<(), StoreError> {
    if v.len() > MAX_REASONS_BYTES {
        return Err(StoreError::input(
            field,
            format!("{} bytes, more than {MAX_REASONS_BYTES}", v.len()),
        ));
    }
    if v.contains('\0') {
        return Err(StoreError::input(field, "contains a NUL character"));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(v)
        .map(|_| ())
        .map_err(|e| StoreError::input(field, format!("not JSON: {e}")))
}

fn to_i64(field: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::input(field, "too large"))
}

/// A decision as the parameters of its insert, validated.
fn decision_params(d: Decision) -> Result<Vec<sql::Param>, StoreError> {
    use sql::Param;
    check_text("request_id", &d.request_id)?;
    if let Some(c) = &d.client {
        check_text("client", c)?;
    }
    check_text("route", &d.route)?;
    check_text("signatures_digest", &d.signatures_digest)?;
    check_text("policy_digest", &d.policy_digest)?;
    check_text("source", &d.source)?;
    check_json("reasons", &d.reasons)?;
    let sha256 = d
        .sha256
        .as_deref()
        .map(|s| check_sha256("sha256", s))
        .transpose()?;
    let size = d.size.map(|s| to_i64("size", s)).transpose()?;
    let c = d.counts;
    Ok(vec![
        Param::I64(d.time.timestamp_millis()),
        Param::Text(d.request_id),
        Param::OptText(d.client),
        Param::Text(d.route),
        Param::OptText(sha256),
        Param::OptI64(size),
        Param::Text(d.verdict.as_str().to_owned()),
        Param::I64(i64::from(c.info)),
        Param::I64(i64::from(c.low)),
        Param::I64(i64::from(c.medium)),
        Param::I64(i64::from(c.high)),
        Param::I64(i64::from(c.critical)),
        Param::Text(d.signatures_digest),
        Param::Text(d.policy_digest),
        Param::I64(to_i64("duration_ms", d.duration_ms)?),
        Param::Bool(d.cached),
        Param::Text(d.reasons),
        Param::Text(d.source),
    ])
}

/// A query as the worker's page query and page size, validated.
fn page_query(q: &DecisionQuery) -> Result<(sql::PageQuery, usize), StoreError> {
    let limit = q
        .limit
        .unwrap_or(DEFAULT_PAGE_LIMIT)
        .clamp(1, MAX_PAGE_LIMIT);
    let before = q
        .cursor
        .as_deref()
        .map(cursor::Cursor::decode)
        .transpose()?
        .map(|c| (c.time_ms, c.id));
    let sha256 = q
        .sha256
        .as_deref()
        .map(|s| check_sha256("sha256", s))
        .transpose()?;
    Ok((
        sql::PageQuery {
            since_ms: q.since.map(|t| t.timestamp_millis()),
            verdict: q.verdict.map(Verdict::as_str),
            sha256,
            before,
            fetch: i64::from(limit) + 1,
        },
        limit as usize,
    ))
}

fn new_cache_entry(key: &CacheKey, entry: &CacheEntry) -> Result<NewCacheEntry, StoreError> {
    if entry.verdict == Verdict::Error {
        return Err(StoreError::ErrorVerdictNotCacheable);
    }
    check_json("reasons", &entry.reasons)?;
    if let Some(r) = &entry.report {
        if r.len() > MAX_REPORT_BYTES {
            return Err(StoreError::ReportTooLarge {
                size: r.len(),
                limit: MAX_REPORT_BYTES,
            });
        }
    }
    Ok(NewCacheEntry {
        key: key.parts(),
        verdict: entry.verdict,
        reasons: entry.reasons.clone(),
        report: entry.report.clone(),
        created_ms: Utc::now().timestamp_millis(),
    })
}

/// The command recording one webhook delivery, its fields validated.
fn delivery_command(
    source: &str,
    id: &str,
    received: DateTime<Utc>,
    forget_before: DateTime<Utc>,
) -> Result<impl FnOnce(worker::Answer<bool>) -> Command, StoreError> {
    check_text("source", source)?;
    check_text("delivery_id", id)?;
    let (source, id) = (source.to_owned(), id.to_owned());
    Ok(move |reply| Command::Delivery {
        source,
        id,
        received_ms: received.timestamp_millis(),
        forget_before_ms: forget_before.timestamp_millis(),
        reply,
    })
}

struct Shared {
    /// The writer thread: every write, in order.
    writer: mpsc::Sender<Command>,
    /// The reader thread: pages and cache lookups, on their own connection.
    reader: mpsc::Sender<Command>,
    backend: Backend,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Shared {
    /// Sends `cmd` to the reader thread (`to_reader`) or the writer thread.
    fn send(&self, to_reader: bool, cmd: Command) -> Result<(), StoreError> {
        let to = if to_reader {
            &self.reader
        } else {
            &self.writer
        };
        to.send(cmd).map_err(|_| StoreError::Closed)
    }
}

/// A blocking handle on a store. Cheap to clone; every clone talks to the same worker threads
/// and connections. See the module documentation for when to use [`AsyncStore`] instead.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.shared.backend)
            .finish_non_exhaustive()
    }
}

/// An async handle on a store: the methods of [`Store`] as `async fn`, none of which blocks the
/// runtime. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AsyncStore {
    store: Store,
}

/// Opens one connection: the writer's (`writer`) or the reader's.
fn open_backend(
    location: &url::Location,
    writer: bool,
) -> Result<Box<dyn backend::Backend>, StoreError> {
    Ok(match location {
        url::Location::Sqlite(path, sync) if writer => {
            Box::new(sqlite::Sqlite::open_writer(path, *sync)?)
        }
        url::Location::Sqlite(path, sync) => Box::new(sqlite::Sqlite::open(path, *sync)?),
        url::Location::Postgres(url) => Box::new(pg::Postgres::open(url)?),
    })
}

/// Starts the worker threads for `url`; `ready` hears whether the database opened and migrated.
///
/// The writer thread opens its connection and migrates, then opens the reader's connection (on
/// a plain thread, as the PostgreSQL client needs) and hands it to the reader thread.
fn start(url: &str, ready: Reply<Result<(), StoreError>>) -> Result<Store, StoreError> {
    let location = url::parse(url)?;
    let backend = match &location {
        url::Location::Sqlite(..) => Backend::Sqlite,
        url::Location::Postgres(_) => Backend::Postgres,
    };
    let (writer, writer_rx) = mpsc::channel::<Command>();
    let (reader, reader_rx) = mpsc::channel::<Command>();
    let thread = std::thread::Builder::new()
        .name("modelgate-store".into())
        .spawn(move || {
            let opened = open_backend(&location, true).and_then(|mut w| {
                worker::migrate(&mut *w)?;
                Ok((w, open_backend(&location, false)?))
            });
            let (w, r) = match opened {
                Ok(pair) => pair,
                Err(e) => return ready.send(Err(e)),
            };
            let reader = std::thread::Builder::new()
                .name("modelgate-store-read".into())
                .spawn(move || worker::run(r, &reader_rx));
            let reader = match reader {
                Ok(h) => h,
                Err(e) => {
                    let message = format!("cannot start its reader thread: {e}");
                    return ready.send(Err(StoreError::database("store", message)));
                }
            };
            ready.send(Ok(()));
            worker::run(w, &writer_rx);
            // The reader ends on its own close command, or when the last handle is dropped.
            let _ = reader.join();
        })
        .map_err(|e| StoreError::database("store", format!("cannot start its thread: {e}")))?;
    Ok(Store {
        shared: Arc::new(Shared {
            writer,
            reader,
            backend,
            thread: Mutex::new(Some(thread)),
        }),
    })
}

impl Store {
    /// Opens (creating when needed) the store at `url` and applies pending migrations. Blocks
    /// until the database answered; from async code use [`AsyncStore::open`].
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let (s, r) = mpsc::sync_channel(1);
        let store = start(url, Reply::Blocking(s))?;
        r.recv().map_err(|_| StoreError::Closed)??;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// The async handle on the same store.
    pub fn to_async(&self) -> AsyncStore {
        AsyncStore {
            store: self.clone(),
        }
    }

    fn call<T>(
        &self,
        make: impl FnOnce(Reply<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (s, r) = mpsc::sync_channel(1);
        let cmd = make(Reply::Blocking(s));
        self.shared.send(cmd.is_read(), cmd)?;
        r.recv().map_err(|_| StoreError::Closed)?
    }

    /// Like `call`, on the reader thread (`to_reader`) or the writer thread.
    fn call_on<T>(
        &self,
        to_reader: bool,
        make: impl FnOnce(Reply<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (s, r) = mpsc::sync_channel(1);
        self.shared.send(to_reader, make(Reply::Blocking(s)))?;
        r.recv().map_err(|_| StoreError::Closed)?
    }

    /// Appends one decision; returns its id once committed.
    pub fn record_decision(&self, decision: Decision) -> Result<i64, StoreError> {
        let ids = self.record_decisions(vec![decision])?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("no id for a recorded decision".into()))
    }

    /// Appends decisions in one transaction (all or none); returns their ids once committed.
    pub fn record_decisions(&self, decisions: Vec<Decision>) -> Result<Vec<i64>, StoreError> {
        let rows = decisions
            .into_iter()
            .map(decision_params)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Command::Record { rows, reply })
    }

    /// One page of the audit trail, newest first.
    pub fn decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError> {
        let (query, limit) = page_query(query)?;
        self.call(|reply| Command::Page {
            query,
            limit,
            reply,
        })
    }

    /// The cached verdict for `key`, if any.
    pub fn cached_verdict(&self, key: &CacheKey) -> Result<Option<CachedVerdict>, StoreError> {
        let key = key.parts();
        self.call(|reply| Command::Lookup { key, reply })
    }

    /// Caches `entry` under `key` unless the key is already cached; returns the stored entry
    /// (this one, or the one that was there first).
    pub fn cache_verdict(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
    ) -> Result<CachedVerdict, StoreError> {
        let entry = new_cache_entry(key, entry)?;
        self.call(|reply| Command::Insert { entry, reply })
    }

    /// Records that a signed webhook delivery `id` from `source` (e.g. `mlflow`) was received at
    /// `received`, forgetting ids received before `forget_before`; returns whether the id was new
    /// (false: a replay). The first of several replicas to record an id wins.
    pub fn record_delivery(
        &self,
        source: &str,
        id: &str,
        received: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.call(delivery_command(source, id, received, forget_before)?)
    }

    /// Whether the database answers both connections (for readiness probes).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.call_on(false, |reply| Command::Ping { reply })?;
        self.call_on(true, |reply| Command::Ping { reply })
    }

    /// Returns once every command sent before it has been carried out.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Flush { reply })
    }

    /// Carries out every command sent before it, then closes the connection and stops the worker
    /// thread. Every handle on this store is closed: later calls return [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        let written = self.call_on(false, |reply| Command::Close { reply });
        let read = self.call_on(true, |reply| Command::Close { reply });
        let result = written.and(read);
        let thread = match self.shared.thread.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(t) = thread {
            let _ = t.join();
        }
        match result {
            // Closing twice is not an error.
            Err(StoreError::Closed) => Ok(()),
            other => other,
        }
    }
}

impl AsyncStore {
    /// Opens the store at `url` without blocking the runtime (the connection is opened on the
    /// store's own thread).
    pub async fn open(url: &str) -> Result<AsyncStore, StoreError> {
        let (s, r) = tokio::sync::oneshot::channel();
        let store = start(url, Reply::Async(s))?;
        r.await.map_err(|_| StoreError::Closed)??;
        Ok(AsyncStore { store })
    }

    /// The blocking handle on the same store.
    pub fn blocking(&self) -> Store {
        self.store.clone()
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(Reply<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (s, r) = tokio::sync::oneshot::channel();
        let cmd = make(Reply::Async(s));
        self.store.shared.send(cmd.is_read(), cmd)?;
        r.await.map_err(|_| StoreError::Closed)?
    }

    async fn call_on<T>(
        &self,
        to_reader: bool,
        make: impl FnOnce(Reply<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (s, r) = tokio::sync::oneshot::channel();
        self.store.shared.send(to_reader, make(Reply::Async(s)))?;
        r.await.map_err(|_| StoreError::Closed)?
    }

    /// See [`Store::record_decision`].
    pub async fn record_decision(&self, decision: Decision) -> Result<i64, StoreError> {
        let ids = self.record_decisions(vec![decision]).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("no id for a recorded decision".into()))
    }

    /// See [`Store::record_decisions`].
    pub async fn record_decisions(&self, decisions: Vec<Decision>) -> Result<Vec<i64>, StoreError> {
        let rows = decisions
            .into_iter()
            .map(decision_params)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Command::Record { rows, reply }).await
    }

    /// See [`Store::decisions`].
    pub async fn decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, StoreError> {
        let (query, limit) = page_query(query)?;
        self.call(|reply| Command::Page {
            query,
            limit,
            reply,
        })
        .await
    }

    /// See [`Store::cached_verdict`].
    pub async fn cached_verdict(
        &self,
        key: &CacheKey,
    ) -> Result<Option<CachedVerdict>, StoreError> {
        let key = key.parts();
        self.call(|reply| Command::Lookup { key, reply }).await
    }

    /// See [`Store::cache_verdict`].
    pub async fn cache_verdict(
        &self,
        key: &CacheKey,
        entry: &CacheEntry,
    ) -> Result<CachedVerdict, StoreError> {
        let entry = new_cache_entry(key, entry)?;
        self.call(|reply| Command::Insert { entry, reply }).await
    }

    /// See [`Store::record_delivery`].
    pub async fn record_delivery(
        &self,
        source: &str,
        id: &str,
        received: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.call(delivery_command(source, id, received, forget_before)?)
            .await
    }

    /// See [`Store::ping`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call_on(false, |reply| Command::Ping { reply }).await?;
        self.call_on(true, |reply| Command::Ping { reply }).await
    }

    /// See [`Store::flush`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Flush { reply }).await
    }

    /// See [`Store::close`]; the worker threads end on their own after answering.
    pub async fn close(&self) -> Result<(), StoreError> {
        let written = self.call_on(false, |reply| Command::Close { reply }).await;
        let read = self.call_on(true, |reply| Command::Close { reply }).await;
        match written.and(read) {
            Err(StoreError::Closed) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_strings_round_trip() {
        for v in [Verdict::Admit, Verdict::Deny, Verdict::Error] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
        assert_eq!(Verdict::parse("Admit"), None);
    }

    #[test]
    fn cache_keys_are_validated_and_lowercased() {
        let k = CacheKey::new(&"AB".repeat(32), "s", "p").unwrap();
        assert_eq!(k.sha256(), "ab".repeat(32));
        assert!(CacheKey::new("abc", "s", "p").is_err());
        assert!(CacheKey::new(&"zz".repeat(32), "s", "p").is_err());
        assert!(CacheKey::new(&"ab".repeat(32), "", "p").is_err());
        assert!(CacheKey::new(&"ab".repeat(32), "s", &"p".repeat(2000)).is_err());
    }

    #[test]
    fn error_verdicts_and_huge_reports_are_not_cacheable() {
        let k = CacheKey::new(&"ab".repeat(32), "s", "p").unwrap();
        assert_eq!(
            new_cache_entry(&k, &CacheEntry::new(Verdict::Error, "[]")).err(),
            Some(StoreError::ErrorVerdictNotCacheable)
        );
        let big =
            CacheEntry::new(Verdict::Admit, "[]").with_report("x".repeat(MAX_REPORT_BYTES + 1));
        assert!(matches!(
            new_cache_entry(&k, &big),
            Err(StoreError::ReportTooLarge { .. })
        ));
        assert!(matches!(
            new_cache_entry(&k, &CacheEntry::new(Verdict::Admit, "not json")),
            Err(StoreError::InvalidInput {
                field: "reasons",
                ..
            })
        ));
    }

    #[test]
    fn decisions_are_validated_before_they_reach_the_database() {
        let mut d = Decision::new("gate", "r", "/v1/scan", Verdict::Admit);
        d.sha256 = Some("nothex".into());
        assert!(matches!(
            decision_params(d),
            Err(StoreError::InvalidInput {
                field: "sha256",
                ..
            })
        ));
        let mut d = Decision::new("gate", "r", "/v1/scan", Verdict::Admit);
        d.size = Some(u64::MAX);
        assert!(decision_params(d).is_err());
        let mut d = Decision::new("gate", "r", "/v1/scan", Verdict::Admit);
        d.reasons = "[".into();
        assert!(decision_params(d).is_err());
        let d = Decision::new("gate", "r", "/v1/scan", Verdict::Admit);
        assert_eq!(
            decision_params(d).unwrap().len(),
            sql::DECISION_COLS.len() - 1
        );
    }

    #[test]
    fn page_limits_are_clamped() {
        let q = |limit| DecisionQuery {
            limit,
            ..Default::default()
        };
        assert_eq!(page_query(&q(None)).unwrap().1, DEFAULT_PAGE_LIMIT as usize);
        assert_eq!(page_query(&q(Some(0))).unwrap().1, 1);
        assert_eq!(
            page_query(&q(Some(u32::MAX))).unwrap().1,
            MAX_PAGE_LIMIT as usize
        );
        let bad = DecisionQuery {
            cursor: Some("garbage".into()),
            ..Default::default()
        };
        assert_eq!(page_query(&bad).err(), Some(StoreError::BadCursor));
    }

    #[test]
    fn unknown_schemes_fail_before_any_thread_starts() {
        assert!(matches!(
            Store::open("redis://localhost"),
            Err(StoreError::UnsupportedScheme { scheme }) if scheme == "redis"
        ));
    }
}
