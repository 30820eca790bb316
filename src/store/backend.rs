//! What a database must offer the store: typed statements, one write transaction at a time, and
//! the SQL dialect it speaks. SQLite and PostgreSQL implement it; everything above runs the same
//! statements ([`super::sql`]) on either.

use super::sql::{Col, Dialect, Param, Value};
use super::StoreError;

/// Statements inside one write transaction.
pub trait Tx {
    /// Runs one or more statements without parameters or results (DDL).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Runs one statement; returns the number of rows it changed.
    fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError>;
    /// Runs one statement and reads every row as `cols`.
    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError>;
}

/// One connection to a database, owned by the store's worker thread.
pub trait Backend: Send {
    fn dialect(&self) -> Dialect;
    /// Runs `f` in one write transaction: committed when `f` returns `Ok`, rolled back otherwise.
    /// Write transactions of different connections exclude each other from their start.
    fn write(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs `f` in one read transaction: one snapshot, and (SQLite) one shared lock for all its
    /// statements instead of one per statement. `f` only reads.
    fn read(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Runs one read-only statement outside any write transaction.
    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError>;
    /// Makes committed writes as durable as the backend allows; called by flush and close.
    fn flush(&mut self) -> Result<(), StoreError>;
}
