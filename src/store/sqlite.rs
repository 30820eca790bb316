//! The SQLite backend: one connection, owned by the store's worker thread, so this process has
//! exactly one writer. WAL mode lets other processes (or other handles on the same file) read
//! while it writes; their writes wait for ours through the busy timeout, and every write
//! transaction is `BEGIN IMMEDIATE`, so two writers queue instead of failing with SQLITE_BUSY on
//! a lock upgrade.
//!
//! ## Checkpoints off the commit path
//! SQLite folds the write-ahead log back into the database file (a checkpoint: page copies and
//! two syncs) on the connection whose commit crossed `wal_autocheckpoint`, before that commit
//! returns. For the gate that means every few hundred group commits, one group of callers waits
//! for a checkpoint on top of its own sync: that is the tail of the cached-verdict latency. So
//! the writer's connection gets a [`Checkpointer`]: a thread with its own connection that runs
//! `PASSIVE` checkpoints (they never block the writer or readers) shortly after commits, while
//! the writer's own automatic checkpoint stays as a backstop for a log the checkpointer cannot
//! keep short (a reader holding an old snapshot). Durability does not change: a commit is still
//! synced (`synchronous=FULL`) before the caller hears of it.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::backend::{Backend, Tx};
use super::sql::{Col, Dialect, Param, Value};
use super::StoreError;

/// How long a write waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the checkpointer lets commits accumulate before it folds them in: long enough that a
/// busy writer's log is checkpointed a few times a second rather than after every commit (each
/// checkpoint syncs the database file), short enough that the log stays at a few hundred pages.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint, in log pages: only reached when the checkpointer
/// cannot keep up (SQLite's default is 1,000).
const BACKSTOP_CHECKPOINT_PAGES: u32 = 8_000;

pub struct Sqlite {
    conn: Connection,
    /// Present on the writer's connection only.
    checkpointer: Option<Checkpointer>,
}

fn err(e: &rusqlite::Error) -> StoreError {
    StoreError::database("sqlite", e.to_string())
}

impl Sqlite {
    pub fn open(path: &Path, sync: super::url::Sync) -> Result<Sqlite, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::database("sqlite", format!("cannot open {}: {e}", path.display()))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| err(&e))?;
        // Room for every statement the store runs (the page query has a variant per filter set).
        conn.set_prepared_statement_cache_capacity(64);
        // Switching a new database to WAL needs it to itself for a moment, and SQLite answers
        // "database is locked" at once (without the busy handler) when another connection opens
        // it at the same time: retry within the busy timeout.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                Ok(m) => break m,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(err(&e)),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::database(
                "sqlite",
                format!(
                    "{} cannot use WAL mode (journal mode is {mode})",
                    path.display()
                ),
            ));
        }
        // FULL: a commit is on disk (the WAL is synced) before the caller hears "recorded";
        // NORMAL (asked for in the URL): the WAL is synced at checkpoints only.
        conn.execute_batch(match sync {
            super::url::Sync::Full => "PRAGMA synchronous=FULL",
            super::url::Sync::Normal => "PRAGMA synchronous=NORMAL",
        })
        .map_err(|e| err(&e))?;
        Ok(Sqlite {
            conn,
            checkpointer: None,
        })
    }

    /// Opens the connection that writes, with its [`Checkpointer`].
    pub fn open_writer(path: &Path, sync: super::url::Sync) -> Result<Sqlite, StoreError> {
        let mut writer = Sqlite::open(path, sync)?;
        writer
            .conn
            .pragma_update(None, "wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES)
            .map_err(|e| err(&e))?;
        writer.checkpointer = Some(Checkpointer::start(Sqlite::open(path, sync)?.conn)?);
        Ok(writer)
    }
}

/// A thread that checkpoints the log on its own connection after the writer commits (see the
/// module documentation). Dropping it stops the thread.
struct Checkpointer {
    /// One pending "there are new commits" at most: a full channel already says so.
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(conn: Connection) -> Result<Checkpointer, StoreError> {
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("modelgate-store-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // Let the commits of the next moment join this checkpoint; a closed channel
                    // (the writer is gone) ends the wait at once, and the last one still runs.
                    let closed = matches!(
                        woken.recv_timeout(CHECKPOINT_EVERY),
                        Err(mpsc::RecvTimeoutError::Disconnected)
                    );
                    // PASSIVE copies what no reader still needs and never waits for a lock. A
                    // failure (a full disk, say) leaves the log to the writer's backstop, which
                    // reports it on the commit path where a caller hears of it.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if closed {
                        break;
                    }
                }
            })
            .map_err(|e| {
                StoreError::database("sqlite", format!("cannot start its checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Tells the thread that the log has grown.
    fn committed(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bind(params: &[Param]) -> Vec<&dyn ToSql> {
    params
        .iter()
        .map(|p| -> &dyn ToSql {
            match p {
                Param::I64(v) => v,
                Param::OptI64(v) => v,
                Param::Text(v) => v,
                Param::OptText(v) => v,
                Param::Bool(v) => v,
                Param::OptBytes(v) => v,
            }
        })
        .collect()
}

fn query(
    conn: &Connection,
    sql: &str,
    params: &[Param],
    cols: &[Col],
) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| err(&e))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(bind(params)))
        .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| err(&e))? {
        let mut values = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            let v = match col {
                Col::I64 => row.get::<_, i64>(i).map(Value::I64),
                Col::OptI64 => row
                    .get::<_, Option<i64>>(i)
                    .map(|v| v.map_or(Value::Null, Value::I64)),
                Col::Text => row.get::<_, String>(i).map(Value::Text),
                Col::OptText => row
                    .get::<_, Option<String>>(i)
                    .map(|v| v.map_or(Value::Null, Value::Text)),
                Col::Bool => row.get::<_, bool>(i).map(Value::Bool),
                Col::OptBytes => row
                    .get::<_, Option<Vec<u8>>>(i)
                    .map(|v| v.map_or(Value::Null, Value::Bytes)),
            }
            .map_err(|e| StoreError::Corrupt(format!("sqlite column {i}: {e}")))?;
            values.push(v);
        }
        out.push(values);
    }
    Ok(out)
}

/// Runs `f` in one transaction begun with `behavior`: committed when `f` returns `Ok`, rolled
/// back (dropped) otherwise.
fn transaction(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(behavior)
        .map_err(|e| err(&e))?;
    f(&mut SqliteTx { conn: &tx })?;
    tx.commit().map_err(|e| err(&e))
}

struct SqliteTx<'a> {
    conn: &'a Connection,
}

impl Tx for SqliteTx<'_> {
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(|e| err(&e))
    }

    fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| err(&e))?;
        let n = stmt
            .execute(rusqlite::params_from_iter(bind(params)))
            .map_err(|e| err(&e))?;
        Ok(n as u64)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        query(self.conn, sql, params, cols)
    }
}

impl Backend for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn write(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        transaction(&mut self.conn, TransactionBehavior::Immediate, f)?;
        if let Some(c) = &self.checkpointer {
            c.committed();
        }
        Ok(())
    }

    fn read(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // DEFERRED takes the shared lock at the first SELECT and keeps it to the end.
        transaction(&mut self.conn, TransactionBehavior::Deferred, f)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        query(&self.conn, sql, params, cols)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        // Every write is already committed; fold the WAL into the database file where no reader
        // holds it back (PASSIVE never waits).
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Decision, Store, Verdict};

    /// Rows in the database file itself, read past the write-ahead log (`immutable=1` makes
    /// SQLite ignore the log): only a checkpoint puts them there.
    fn rows_in_database_file(path: &std::path::Path) -> i64 {
        let uri = format!("file:{}?immutable=1", path.display());
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        rusqlite::Connection::open_with_flags(uri, flags)
            .and_then(|c| c.query_row("SELECT count(*) FROM decisions", [], |r| r.get(0)))
            .unwrap_or(0)
    }

    #[test]
    fn the_checkpointer_folds_commits_into_the_database_file_off_the_commit_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gate.db");
        let store = Store::open(&format!("sqlite://{}", path.display())).unwrap();
        for i in 0..20 {
            let d = Decision::new("gate", &format!("req-{i}"), "/v1/scan", Verdict::Admit);
            store.record_decision(d).unwrap();
        }
        // Twenty small commits are far below the writer's own automatic checkpoint
        // (BACKSTOP_CHECKPOINT_PAGES), so only the checkpoint thread can have copied them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rows_in_database_file(&path) < 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within 10 s: {} rows in the database file",
                rows_in_database_file(&path)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        store.close().unwrap();
    }
}
