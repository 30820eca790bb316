//! Every SQL statement of the store, for both backends, and the one place where the dialects
//! differ.
//!
//! Queries are written once. Placeholders are `$1, $2, …` in order of first appearance:
//! PostgreSQL reads them natively, and SQLite reads `$1` as a named parameter whose index is its
//! order of first appearance, so binding by position gives both the same meaning. Integers are
//! `BIGINT` (an `i64` on both), booleans `BOOLEAN` (SQLite stores 0/1), text `TEXT`. What differs
//! is confined to [`Dialect`]: the auto-incrementing key, the binary type, and the lock that
//! serialises migrations between processes.

use super::StoreError;

/// The SQL dialect of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A migration's DDL with the dialect's spelling of `{id}` (a 64-bit auto-increment primary
    /// key) and `{bytes}` (a binary column).
    pub fn ddl(self, template: &str) -> String {
        let (id, bytes) = match self {
            // INTEGER PRIMARY KEY is SQLite's rowid alias: 64-bit, assigned at insert.
            Dialect::Sqlite => ("INTEGER PRIMARY KEY", "BLOB"),
            Dialect::Postgres => ("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA"),
        };
        template.replace("{id}", id).replace("{bytes}", bytes)
    }

    /// Run first in each migration transaction so that two processes opening one empty database
    /// at once apply each migration once. SQLite needs none: its write transactions
    /// (`BEGIN IMMEDIATE`) already exclude each other.
    pub fn migration_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            // An arbitrary constant key ("modelgat" in ASCII), released at commit or rollback.
            Dialect::Postgres => Some("SELECT pg_advisory_xact_lock(7813586134357549428)"),
        }
    }
}

/// A bound parameter. Each backend binds these with its own types.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    I64(i64),
    OptI64(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bool(bool),
    OptBytes(Option<Vec<u8>>),
}

/// The expected type of a result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    I64,
    OptI64,
    Text,
    OptText,
    Bool,
    OptBytes,
}

/// One value read back, typed by its [`Col`].
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    I64(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
    Null,
}

/// Reads the columns of one row in order, with typed accessors that fail as
/// [`StoreError::Corrupt`] instead of panicking.
pub struct RowReader {
    values: std::vec::IntoIter<Value>,
}

impl RowReader {
    pub fn new(values: Vec<Value>) -> Self {
        RowReader {
            values: values.into_iter(),
        }
    }

    fn next(&mut self) -> Result<Value, StoreError> {
        self.values
            .next()
            .ok_or_else(|| StoreError::Corrupt("a row has fewer columns than expected".into()))
    }

    pub fn i64(&mut self) -> Result<i64, StoreError> {
        match self.next()? {
            Value::I64(v) => Ok(v),
            other => Err(unexpected("an integer", &other)),
        }
    }

    pub fn opt_i64(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            Value::I64(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(unexpected("an integer or NULL", &other)),
        }
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(v),
            other => Err(unexpected("text", &other)),
        }
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Text(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(unexpected("text or NULL", &other)),
        }
    }

    pub fn bool(&mut self) -> Result<bool, StoreError> {
        match self.next()? {
            Value::Bool(v) => Ok(v),
            other => Err(unexpected("a boolean", &other)),
        }
    }

    pub fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.next()? {
            Value::Bytes(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(unexpected("bytes or NULL", &other)),
        }
    }
}

fn unexpected(wanted: &str, got: &Value) -> StoreError {
    let got = match got {
        Value::I64(_) => "an integer",
        Value::Text(_) => "text",
        Value::Bool(_) => "a boolean",
        Value::Bytes(_) => "bytes",
        Value::Null => "NULL",
    };
    StoreError::Corrupt(format!("expected {wanted}, found {got}"))
}

/// One schema migration. Migrations are applied in order of `version`, each in its own
/// transaction together with its `schema_version` row; a database whose highest version is above
/// the last one here was written by a newer modelgate and is refused.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// DDL with `{id}` and `{bytes}` placeholders (see [`Dialect::ddl`]).
    pub ddl: &'static str,
}

/// Created before anything else, in the first migration transaction.
pub const SCHEMA_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
)";

pub const CURRENT_VERSION: &str = "SELECT MAX(version) FROM schema_version";
pub const CURRENT_VERSION_COLS: &[Col] = &[Col::OptI64];

pub const INSERT_VERSION: &str =
    "INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, $2, $3)";

/// The schema, one migration per change. Never edit a released migration; append a new one.
///
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "decisions and verdict cache",
        ddl: "
CREATE TABLE decisions (
    id {id},
    time_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    client TEXT,
    route TEXT NOT NULL,
    sha256 TEXT,
    size BIGINT,
    verdict TEXT NOT NULL CHECK (verdict IN ('admit', 'deny', 'error')),
    info BIGINT NOT NULL,
    low BIGINT NOT NULL,
    medium BIGINT NOT NULL,
    high BIGINT NOT NULL,
    critical BIGINT NOT NULL,
    signatures_digest TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    cached BOOLEAN NOT NULL,
    reasons TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX decisions_by_time ON decisions (time_ms, id);
CREATE INDEX decisions_by_sha256 ON decisions (sha256, time_ms, id);
CREATE INDEX decisions_by_verdict ON decisions (verdict, time_ms, id);
CREATE TABLE verdict_cache (
    sha256 TEXT NOT NULL,
    signatures_digest TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('admit', 'deny')),
    reasons TEXT NOT NULL,
    report {bytes},
    report_size BIGINT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (sha256, signatures_digest, policy_digest)
);
",
    },
    AUDIT_MIGRATION,
    Migration {
        version: 3,
        name: "webhook deliveries seen",
        // Delivery ids of signed webhooks (MLflow's), so a replayed delivery is refused across
        // restarts and replicas; rows older than the timestamp tolerance allows are pruned.
        ddl: "
CREATE TABLE webhook_deliveries (
    source TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_ms);
",
    },
    Migration {
        version: 4,
        name: "audit directory listings",
        // The settled directory listings of each audited tree (`root`: its canonical path), so
        // a re-audit stats unchanged directories instead of reading them (`audit::dirs`).
        ddl: "
CREATE TABLE audit_listings (
    root TEXT NOT NULL PRIMARY KEY,
    body {bytes} NOT NULL,
    written_ms BIGINT NOT NULL
);
",
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub const INSERT_DECISION: &str = "INSERT INTO decisions (
    time_ms, request_id, client, route, sha256, size, verdict,
    info, low, medium, high, critical,
    signatures_digest, policy_digest, duration_ms, cached, reasons, source
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
RETURNING id";
pub const INSERT_DECISION_COLS: &[Col] = &[Col::I64];

/// The columns of a decision row, in the order [`DECISION_COLS`] reads them.
const DECISION_SELECT: &str = "SELECT id, time_ms, request_id, client, route, sha256, size, \
     verdict, info, low, medium, high, critical, signatures_digest, policy_digest, duration_ms, \
     cached, reasons, source FROM decisions";
pub const DECISION_COLS: &[Col] = &[
    Col::I64,
    Col::I64,
    Col::Text,
    Col::OptText,
    Col::Text,
    Col::OptText,
    Col::OptI64,
    Col::Text,
    Col::I64,
    Col::I64,
    Col::I64,
    Col::I64,
    Col::I64,
    Col::Text,
    Col::Text,
    Col::I64,
    Col::Bool,
    Col::Text,
    Col::Text,
];

/// The filters of one page of decisions, already validated.
pub struct PageQuery {
    pub since_ms: Option<i64>,
    pub verdict: Option<&'static str>,
    pub sha256: Option<String>,
    /// Rows strictly after this (time_ms, id) in newest-first order.
    pub before: Option<(i64, i64)>,
    /// How many rows to fetch (one more than the page size, to know whether a next page exists).
    pub fetch: i64,
}

/// One page of decisions, newest first, in a total order (time, then id).
pub fn decisions_page(q: &PageQuery) -> (String, Vec<Param>) {
    fn next(p: Param, params: &mut Vec<Param>) -> String {
        params.push(p);
        format!("${}", params.len())
    }
    let mut sql = String::from(DECISION_SELECT);
    let mut params = Vec::new();
    let mut conds = Vec::new();
    if let Some(since) = q.since_ms {
        conds.push(format!(
            "time_ms >= {}",
            next(Param::I64(since), &mut params)
        ));
    }
    if let Some(v) = q.verdict {
        conds.push(format!(
            "verdict = {}",
            next(Param::Text(v.to_owned()), &mut params)
        ));
    }
    if let Some(sha) = &q.sha256 {
        conds.push(format!(
            "sha256 = {}",
            next(Param::Text(sha.clone()), &mut params)
        ));
    }
    if let Some((time_ms, id)) = q.before {
        let t = next(Param::I64(time_ms), &mut params);
        let i = next(Param::I64(id), &mut params);
        // Spelled out rather than as a row-value comparison so both planners use the index
        // the same obvious way.
        conds.push(format!("(time_ms < {t} OR (time_ms = {t} AND id < {i}))"));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let limit = next(Param::I64(q.fetch), &mut params);
    sql.push_str(" ORDER BY time_ms DESC, id DESC LIMIT ");
    sql.push_str(&limit);
    (sql, params)
}

/// Insert-if-absent: the first writer of a key wins, later writers change nothing and succeed.
pub const INSERT_CACHE: &str = "INSERT INTO verdict_cache (
    sha256, signatures_digest, policy_digest, verdict, reasons, report, report_size, created_ms
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (sha256, signatures_digest, policy_digest) DO NOTHING";

pub const SELECT_CACHE: &str = "SELECT verdict, reasons, report, report_size, created_ms \
     FROM verdict_cache WHERE sha256 = $1 AND signatures_digest = $2 AND policy_digest = $3";
pub const SELECT_CACHE_COLS: &[Col] = &[Col::Text, Col::Text, Col::OptBytes, Col::OptI64, Col::I64];

/// The first receiver of a delivery id inserts it (1 row changed); a replay changes nothing.
pub const INSERT_DELIVERY: &str =
    "INSERT INTO webhook_deliveries (source, delivery_id, received_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (source, delivery_id) DO NOTHING";

pub const PRUNE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE received_ms < $1";

/// `1` alone is a 32-bit integer in PostgreSQL; every integer the store reads is a BIGINT.
pub const PING: &str = "SELECT CAST(1 AS BIGINT)";

// ---------------------------------------------------------------------------------------------
// The batch audit (`modelgate audit`): file stamps and run progress.

/// The batch audit's tables. `file_stamps`: a file's (device, inode) → the size, mtime and ctime
/// (nanoseconds) it had when its sha256 was computed, so an unchanged file is not read again.
/// `audit_progress`: the artifacts a run (`run_key`: a digest of its sources, shard and rules)
/// has finished, committed in batches with their verdicts, so a killed run resumes where it
/// stopped; a finished run deletes its rows.
pub const AUDIT_MIGRATION: Migration = Migration {
    version: 2,
    name: "audit file stamps and run progress",
    ddl: "
CREATE TABLE file_stamps (
    device BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    ctime_ns BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    seen_ms BIGINT NOT NULL,
    PRIMARY KEY (device, inode)
);
CREATE TABLE audit_progress (
    run_key TEXT NOT NULL,
    identity TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    cache_digest TEXT NOT NULL,
    PRIMARY KEY (run_key, identity)
);
",
};

/// Inodes looked up by one [`select_stamps`] query.
pub const STAMPS_PER_QUERY: usize = 64;

/// The stamps of up to [`STAMPS_PER_QUERY`] inodes of one device (`$1`): `$2…` are the inodes
/// (a shorter list is padded by repeating one). One text, so one prepared statement.
pub fn select_stamps() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let inodes: Vec<String> = (2..STAMPS_PER_QUERY + 2).map(|i| format!("${i}")).collect();
        format!(
            "SELECT inode, size, mtime_ns, ctime_ns, sha256 FROM file_stamps \
             WHERE device = $1 AND inode IN ({})",
            inodes.join(", ")
        )
    })
}
pub const SELECT_STAMPS_COLS: &[Col] = &[Col::I64, Col::I64, Col::I64, Col::I64, Col::Text];

/// The stamp a file has now replaces the one it had.
pub const UPSERT_STAMP: &str = "INSERT INTO file_stamps \
     (device, inode, size, mtime_ns, ctime_ns, sha256, seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (device, inode) DO UPDATE SET size = excluded.size, \
     mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256, \
     seen_ms = excluded.seen_ms";

/// An artifact finished twice (two workers of one shard) is recorded once.
pub const INSERT_PROGRESS: &str = "INSERT INTO audit_progress \
     (run_key, identity, sha256, cache_digest) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (run_key, identity) DO NOTHING";

pub const SELECT_PROGRESS: &str =
    "SELECT identity, sha256, cache_digest FROM audit_progress WHERE run_key = $1";
pub const SELECT_PROGRESS_COLS: &[Col] = &[Col::Text, Col::Text, Col::Text];

pub const DELETE_PROGRESS: &str = "DELETE FROM audit_progress WHERE run_key = $1";

pub const SELECT_LISTING: &str = "SELECT body FROM audit_listings WHERE root = $1";
pub const SELECT_LISTING_COLS: &[Col] = &[Col::OptBytes];

/// A tree's listings as of the latest run replace the earlier ones.
pub const UPSERT_LISTING: &str = "INSERT INTO audit_listings (root, body, written_ms) \
     VALUES ($1, $2, $3) ON CONFLICT (root) DO UPDATE SET body = excluded.body, \
     written_ms = excluded.written_ms";

#[cfg(test)]
mod tests {
    use super::*;

    /// `$n` placeholders appear first in increasing order, as SQLite's positional binding needs.
    fn placeholders_in_order(sql: &str) -> bool {
        let mut highest = 0u32;
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let n: u32 = digits.parse().unwrap();
            if n > highest + 1 {
                return false;
            }
            highest = highest.max(n);
        }
        true
    }

    #[test]
    fn every_statement_numbers_its_placeholders_in_order() {
        for sql in [
            INSERT_VERSION,
            INSERT_DECISION,
            INSERT_CACHE,
            SELECT_CACHE,
            select_stamps(),
            UPSERT_STAMP,
            INSERT_PROGRESS,
            SELECT_PROGRESS,
            DELETE_PROGRESS,
            SELECT_LISTING,
            UPSERT_LISTING,
            INSERT_DELIVERY,
            PRUNE_DELIVERIES,
        ] {
            assert!(placeholders_in_order(sql), "{sql}");
        }
        let (sql, params) = decisions_page(&PageQuery {
            since_ms: Some(1),
            verdict: Some("deny"),
            sha256: Some("ab".into()),
            before: Some((5, 6)),
            fetch: 11,
        });
        assert!(placeholders_in_order(&sql), "{sql}");
        assert_eq!(params.len(), 6);
        assert!(sql.contains("$6"));
        let (sql, params) = decisions_page(&PageQuery {
            since_ms: None,
            verdict: None,
            sha256: None,
            before: None,
            fetch: 2,
        });
        assert!(!sql.contains("WHERE"), "{sql}");
        assert_eq!(params, vec![Param::I64(2)]);
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
        assert_eq!(latest_version(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn dialects_fill_every_placeholder() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            for m in MIGRATIONS {
                let ddl = d.ddl(m.ddl);
                assert!(!ddl.contains('{'), "{d:?} {}: {ddl}", m.name);
            }
        }
    }

    #[test]
    fn decision_columns_match_the_select() {
        let listed = DECISION_SELECT
            .trim_start_matches("SELECT ")
            .split(" FROM ")
            .next()
            .unwrap()
            .split(',')
            .count();
        assert_eq!(listed, DECISION_COLS.len());
        assert_eq!(
            INSERT_DECISION.matches('$').count() + 1,
            DECISION_COLS.len()
        );
    }
}
