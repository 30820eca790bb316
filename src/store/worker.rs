//! The store's worker threads: each owns one connection (the writer's, or the reader's), receives
//! commands in order from every handle, and answers each on its own reply channel (a blocking one
//! for [`super::Store`], a oneshot for [`super::AsyncStore`]). Decisions that arrive together are
//! committed in one transaction (group commit); a caller hears back only after its rows are
//! committed.

use std::collections::VecDeque;
use std::sync::mpsc;

use chrono::{DateTime, Utc};

use super::backend::{Backend, Tx};
use super::cursor::Cursor;
use super::sql::{self, Param, RowReader};
use super::{
    CachedVerdict, Decision, DecisionPage, SeverityCounts, StoreError, StoredDecision, Verdict,
    MAX_REPORT_BYTES,
};

/// Decisions committed in one transaction at most.
const MAX_GROUP_ROWS: usize = 1000;
/// zstd level for stored reports: fast, and JSON compresses well at any level.
const REPORT_ZSTD_LEVEL: i32 = 3;

/// Where a command's answer goes.
pub enum Reply<T> {
    Blocking(mpsc::SyncSender<T>),
    Async(tokio::sync::oneshot::Sender<T>),
}

impl<T> Reply<T> {
    pub fn send(self, value: T) {
        // A caller that stopped waiting (a dropped future) is not an error: the work is done.
        match self {
            Reply::Blocking(s) => {
                let _ = s.send(value);
            }
            Reply::Async(s) => {
                let _ = s.send(value);
            }
        }
    }
}

pub type Answer<T> = Reply<Result<T, StoreError>>;

/// The rows of one `record` call and where its ids go.
type RecordCall = (Vec<Vec<Param>>, Answer<Vec<i64>>);

/// A validated cache entry, ready to insert.
pub struct NewCacheEntry {
    pub key: [String; 3],
    pub verdict: Verdict,
    pub reasons: String,
    pub report: Option<String>,
    pub created_ms: i64,
}

pub enum Command {
    Record {
        rows: Vec<Vec<Param>>,
        reply: Answer<Vec<i64>>,
    },
    Page {
        query: sql::PageQuery,
        limit: usize,
        reply: Answer<DecisionPage>,
    },
    Lookup {
        key: [String; 3],
        reply: Answer<Option<CachedVerdict>>,
    },
    Insert {
        entry: NewCacheEntry,
        reply: Answer<CachedVerdict>,
    },
    /// Records a webhook delivery id; answers whether it was new.
    Delivery {
        source: String,
        id: String,
        received_ms: i64,
        forget_before_ms: i64,
        reply: Answer<bool>,
    },
    Ping {
        reply: Answer<()>,
    },
    Flush {
        reply: Answer<()>,
    },
    Close {
        reply: Answer<()>,
    },
    /// Work of the batch audit ([`super::audit`]) on this thread's connection; the closure
    /// answers on its own reply channel. `read` sends it to the reader connection.
    Job {
        read: bool,
        job: Job,
    },
}

/// A closure run on a worker's connection.
pub type Job = Box<dyn FnOnce(&mut dyn Backend) + Send>;

impl Command {
    /// Reads go to the reader connection, so they never wait behind a commit.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Command::Page { .. } | Command::Lookup { .. } | Command::Job { read: true, .. }
        )
    }
}

/// Applies every pending migration, each in its own transaction with its `schema_version` row,
/// and refuses a database from a newer modelgate.
pub fn migrate(b: &mut dyn Backend) -> Result<(), StoreError> {
    let dialect = b.dialect();
    let latest = sql::latest_version();
    loop {
        let mut finished = false;
        b.write(&mut |tx| {
            if let Some(lock) = dialect.migration_lock() {
                tx.batch(lock)?;
            }
            tx.batch(sql::SCHEMA_VERSION_TABLE)?;
            let rows = tx.query(sql::CURRENT_VERSION, &[], sql::CURRENT_VERSION_COLS)?;
            let current = match rows.into_iter().next() {
                Some(row) => RowReader::new(row).opt_i64()?.unwrap_or(0),
                None => 0,
            };
            if current > latest {
                return Err(StoreError::SchemaTooNew {
                    found: current,
                    supported: latest,
                });
            }
            match sql::MIGRATIONS.iter().find(|m| m.version > current) {
                None => finished = true,
                Some(m) => {
                    tx.batch(&dialect.ddl(m.ddl))?;
                    tx.exec(
                        sql::INSERT_VERSION,
                        &[
                            Param::I64(m.version),
                            Param::Text(m.name.to_owned()),
                            Param::I64(Utc::now().timestamp_millis()),
                        ],
                    )?;
                }
            }
            Ok(())
        })?;
        if finished {
            return Ok(());
        }
    }
}

/// Serves commands until every handle is gone or one asks to close.
pub fn run(mut b: Box<dyn Backend>, rx: &mpsc::Receiver<Command>) {
    let mut queue: VecDeque<Command> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match rx.recv() {
                Ok(c) => queue.push_back(c),
                Err(_) => {
                    // Every handle is gone; all accepted writes were committed already.
                    let _ = b.flush();
                    return;
                }
            }
        }
        // Take what else is waiting, so that decisions recorded together commit together.
        while queue.len() < MAX_GROUP_ROWS {
            match rx.try_recv() {
                Ok(c) => queue.push_back(c),
                Err(_) => break,
            }
        }
        let Some(cmd) = queue.pop_front() else {
            continue;
        };
        match cmd {
            Command::Record { rows, reply } => {
                let mut group = vec![(rows, reply)];
                let mut total = group.iter().map(|(r, _)| r.len()).sum::<usize>();
                while total < MAX_GROUP_ROWS {
                    match queue.front() {
                        Some(Command::Record { .. }) => {}
                        _ => break,
                    }
                    if let Some(Command::Record { rows, reply }) = queue.pop_front() {
                        total += rows.len();
                        group.push((rows, reply));
                    }
                }
                record(&mut *b, group);
            }
            Command::Page {
                query,
                limit,
                reply,
            } => reply.send(page(&mut *b, &query, limit)),
            Command::Lookup { key, reply } => reply.send(lookup(&mut *b, &key)),
            Command::Insert { entry, reply } => reply.send(insert(&mut *b, &entry)),
            Command::Delivery {
                source,
                id,
                received_ms,
                forget_before_ms,
                reply,
            } => reply.send(delivery(
                &mut *b,
                &source,
                &id,
                received_ms,
                forget_before_ms,
            )),
            Command::Ping { reply } => {
                reply.send(b.query(sql::PING, &[], &[sql::Col::I64]).and_then(|rows| {
                    match rows.len() {
                        1 => Ok(()),
                        n => Err(StoreError::Corrupt(format!("ping returned {n} rows"))),
                    }
                }));
            }
            Command::Flush { reply } => reply.send(b.flush()),
            Command::Job { job, .. } => job(&mut *b),
            Command::Close { reply } => {
                reply.send(b.flush());
                // Commands queued behind the close are dropped unanswered: their callers get
                // `StoreError::Closed`, so nothing is reported as recorded that was not.
                return;
            }
        }
    }
}

/// Commits a group of `record` calls in one transaction, answering each with its ids. A failure
/// (the disk, the connection) fails every call of the group: none of their rows were committed.
fn record(b: &mut dyn Backend, group: Vec<RecordCall>) {
    let mut ids: Vec<Vec<i64>> = Vec::with_capacity(group.len());
    let result = b.write(&mut |tx| {
        ids.clear();
        for (rows, _) in &group {
            let mut these = Vec::with_capacity(rows.len());
            for row in rows {
                let out = tx.query(sql::INSERT_DECISION, row, sql::INSERT_DECISION_COLS)?;
                let id = match out.into_iter().next() {
                    Some(r) => RowReader::new(r).i64()?,
                    None => return Err(StoreError::Corrupt("an insert returned no id".into())),
                };
                these.push(id);
            }
            ids.push(these);
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            for ((_, reply), these) in group.into_iter().zip(ids) {
                reply.send(Ok(these));
            }
        }
        Err(e) => {
            for (_, reply) in group {
                reply.send(Err(e.clone()));
            }
        }
    }
}

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} ms is out of range")))
}

fn count(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("finding count {v} out of range")))
}

fn unsigned(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is negative")))
}

fn verdict(text: &str) -> Result<Verdict, StoreError> {
    Verdict::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown verdict {text:?}")))
}

fn decision(row: Vec<sql::Value>) -> Result<StoredDecision, StoreError> {
    let mut r = RowReader::new(row);
    let id = r.i64()?;
    let time = time(r.i64()?)?;
    let request_id = r.text()?;
    let client = r.opt_text()?;
    let route = r.text()?;
    let sha256 = r.opt_text()?;
    let size = r.opt_i64()?.map(|v| unsigned(v, "size")).transpose()?;
    let verdict = verdict(&r.text()?)?;
    let counts = SeverityCounts {
        info: count(r.i64()?)?,
        low: count(r.i64()?)?,
        medium: count(r.i64()?)?,
        high: count(r.i64()?)?,
        critical: count(r.i64()?)?,
    };
    let signatures_digest = r.text()?;
    let policy_digest = r.text()?;
    let duration_ms = unsigned(r.i64()?, "duration")?;
    let cached = r.bool()?;
    let reasons = r.text()?;
    let source = r.text()?;
    Ok(StoredDecision {
        id,
        decision: Decision {
            time,
            request_id,
            client,
            route,
            sha256,
            size,
            verdict,
            counts,
            signatures_digest,
            policy_digest,
            duration_ms,
            cached,
            reasons,
            source,
        },
    })
}

fn page(
    b: &mut dyn Backend,
    query: &sql::PageQuery,
    limit: usize,
) -> Result<DecisionPage, StoreError> {
    let (text, params) = sql::decisions_page(query);
    let rows = b.query(&text, &params, sql::DECISION_COLS)?;
    let mut decisions = rows
        .into_iter()
        .map(decision)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if decisions.len() > limit {
        decisions.truncate(limit);
        decisions.last().map(|d| {
            Cursor {
                time_ms: d.decision.time.timestamp_millis(),
                id: d.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(DecisionPage {
        decisions,
        next_cursor,
    })
}

fn key_params(key: &[String; 3]) -> Vec<Param> {
    key.iter().cloned().map(Param::Text).collect()
}

fn cached(row: Vec<sql::Value>) -> Result<CachedVerdict, StoreError> {
    let mut r = RowReader::new(row);
    let verdict = verdict(&r.text()?)?;
    if verdict == Verdict::Error {
        return Err(StoreError::Corrupt("an error verdict in the cache".into()));
    }
    let reasons = r.text()?;
    let blob = r.opt_bytes()?;
    let size = r.opt_i64()?;
    let created = time(r.i64()?)?;
    let report = match (blob, size) {
        (None, _) => None,
        (Some(blob), Some(size)) => {
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= MAX_REPORT_BYTES)
                .ok_or_else(|| StoreError::Corrupt(format!("report size {size}")))?;
            // Bounded: a damaged or hostile blob cannot make us allocate more than the cap.
            let bytes = decompress(&blob, size)
                .map_err(|e| StoreError::Corrupt(format!("stored report: {e}")))?;
            if bytes.len() != size {
                return Err(StoreError::Corrupt(
                    "stored report has the wrong size".into(),
                ));
            }
            Some(
                String::from_utf8(bytes)
                    .map_err(|_| StoreError::Corrupt("stored report is not UTF-8".into()))?,
            )
        }
        (Some(_), None) => {
            return Err(StoreError::Corrupt("stored report without a size".into()));
        }
    };
    Ok(CachedVerdict {
        verdict,
        reasons,
        report,
        created,
    })
}

pub fn lookup(b: &mut dyn Backend, key: &[String; 3]) -> Result<Option<CachedVerdict>, StoreError> {
    let rows = b.query(sql::SELECT_CACHE, &key_params(key), sql::SELECT_CACHE_COLS)?;
    rows.into_iter().next().map(cached).transpose()
}

/// [`lookup`] inside a transaction (a batch of lookups in one read transaction).
pub fn lookup_in(tx: &mut dyn Tx, key: &[String; 3]) -> Result<Option<CachedVerdict>, StoreError> {
    let rows = tx.query(sql::SELECT_CACHE, &key_params(key), sql::SELECT_CACHE_COLS)?;
    rows.into_iter().next().map(cached).transpose()
}

/// Inserts a delivery id unless present, pruning ids older than `forget_before_ms` in the same
/// transaction; whether the id was new.
fn delivery(
    b: &mut dyn Backend,
    source: &str,
    id: &str,
    received_ms: i64,
    forget_before_ms: i64,
) -> Result<bool, StoreError> {
    let mut new = false;
    b.write(&mut |tx| {
        tx.exec(sql::PRUNE_DELIVERIES, &[Param::I64(forget_before_ms)])?;
        new = tx.exec(
            sql::INSERT_DELIVERY,
            &[
                Param::Text(source.to_owned()),
                Param::Text(id.to_owned()),
                Param::I64(received_ms),
            ],
        )? == 1;
        Ok(())
    })?;
    Ok(new)
}

fn insert(b: &mut dyn Backend, entry: &NewCacheEntry) -> Result<CachedVerdict, StoreError> {
    let params = insert_params(entry)?;
    let mut stored = None;
    b.write(&mut |tx| {
        tx.exec(sql::INSERT_CACHE, &params)?;
        stored = tx
            .query(
                sql::SELECT_CACHE,
                &key_params(&entry.key),
                sql::SELECT_CACHE_COLS,
            )?
            .into_iter()
            .next();
        Ok(())
    })?;
    match stored {
        Some(row) => cached(row),
        None => Err(StoreError::Corrupt(
            "a cache entry vanished after its insert".into(),
        )),
    }
}

/// The parameters of [`sql::INSERT_CACHE`] for `entry`, its report compressed.
pub fn insert_params(entry: &NewCacheEntry) -> Result<Vec<Param>, StoreError> {
    let (blob, size) = match &entry.report {
        Some(report) => {
            let blob = compress(report.as_bytes())
                .map_err(|e| StoreError::database("zstd", e.to_string()))?;
            let size = i64::try_from(report.len()).map_err(|_| StoreError::ReportTooLarge {
                size: report.len(),
                limit: MAX_REPORT_BYTES,
            })?;
            (Some(blob), Some(size))
        }
        None => (None, None),
    };
    let mut params = key_params(&entry.key);
    params.extend([
        Param::Text(entry.verdict.as_str().to_owned()),
        Param::Text(entry.reasons.clone()),
        Param::OptBytes(blob),
        Param::OptI64(size),
        Param::I64(entry.created_ms),
    ]);
    Ok(params)
}

thread_local! {
    /// One zstd context each per thread, reused: creating a context allocates and clears some
    /// hundred kilobytes, which was a quarter of a warm audit's time when done per report.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// `data` compressed at [`REPORT_ZSTD_LEVEL`] with this thread's context.
fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            if slot.is_none() {
                *slot = Some(zstd::bulk::Compressor::new(REPORT_ZSTD_LEVEL)?);
            }
            match slot.as_mut() {
                Some(c) => c.compress(data),
                None => zstd::bulk::compress(data, REPORT_ZSTD_LEVEL),
            }
        }
        Err(_) => zstd::bulk::compress(data, REPORT_ZSTD_LEVEL),
    })
}

/// `blob` decompressed to at most `capacity` bytes with this thread's context.
fn decompress(blob: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            if slot.is_none() {
                *slot = Some(zstd::bulk::Decompressor::new()?);
            }
            match slot.as_mut() {
                Some(d) => d.decompress(blob, capacity),
                None => zstd::bulk::decompress(blob, capacity),
            }
        }
        Err(_) => zstd::bulk::decompress(blob, capacity),
    })
}
