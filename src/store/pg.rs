//! The PostgreSQL backend: one connection, owned by the store's worker thread, through the
//! synchronous `postgres` client. That client drives its own small tokio runtime, which must
//! never run on a thread of another runtime; the worker thread is a plain thread, so the store is
//! safe to use from async code (through [`super::AsyncStore`]) and from rayon workers alike.
//!
//! A dropped connection (a PostgreSQL restart, a failover) is reopened by the next command: reads
//! and a transaction whose BEGIN failed are retried once on the new connection; a write that
//! failed after its BEGIN is not (it may have committed) and its callers get the error. TLS is not supported yet: connect
//! over a trusted network or a local socket.

use std::collections::HashMap;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Statement};

use super::backend::{Backend, Tx};
use super::sql::{Col, Dialect, Param, Value};
use super::StoreError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Postgres {
    config: Config,
    client: Option<Client>,
    /// Statements prepared on the current connection, by SQL text.
    statements: HashMap<String, Statement>,
}

fn err(e: &postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    };
    StoreError::database("postgres", message)
}

impl Postgres {
    pub fn open(url: &str) -> Result<Postgres, StoreError> {
        let mut config: Config = url.parse().map_err(|_| StoreError::InvalidUrl {
            reason: "not a valid PostgreSQL connection URL".into(),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("modelgate");
        }
        let client = config.connect(NoTls).map_err(|e| err(&e))?;
        Ok(Postgres {
            config,
            client: Some(client),
            statements: HashMap::new(),
        })
    }

    /// The connection, reopened first if the last one was lost.
    fn connection(&mut self) -> Result<(&mut Client, &mut HashMap<String, Statement>), StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.statements.clear();
            self.client = Some(self.config.connect(NoTls).map_err(|e| err(&e))?);
        }
        match self.client.as_mut() {
            Some(c) => Ok((c, &mut self.statements)),
            None => Err(StoreError::database("postgres", "no connection".into())),
        }
    }
}

impl Postgres {
    fn query_once(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let (client, statements) = self.connection()?;
        let s = statement(statements, sql, |q| client.prepare(q))?;
        let rows = client.query(&s, &bind(params)).map_err(|e| err(&e))?;
        read_rows(&rows, cols)
    }
}

fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| -> &(dyn ToSql + Sync) {
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

fn read_rows(rows: &[postgres::Row], cols: &[Col]) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(cols.len());
        for (i, col) in cols.iter().enumerate() {
            let v = match col {
                Col::I64 => row.try_get::<_, i64>(i).map(Value::I64),
                Col::OptI64 => row
                    .try_get::<_, Option<i64>>(i)
                    .map(|v| v.map_or(Value::Null, Value::I64)),
                Col::Text => row.try_get::<_, String>(i).map(Value::Text),
                Col::OptText => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map_or(Value::Null, Value::Text)),
                Col::Bool => row.try_get::<_, bool>(i).map(Value::Bool),
                Col::OptBytes => row
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map(|v| v.map_or(Value::Null, Value::Bytes)),
            }
            .map_err(|e| StoreError::Corrupt(format!("postgres column {i}: {e}")))?;
            values.push(v);
        }
        out.push(values);
    }
    Ok(out)
}

/// The prepared statement for `sql`, preparing it with `prepare` on first use.
fn statement(
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
) -> Result<Statement, StoreError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = prepare(sql).map_err(|e| err(&e))?;
    cache.insert(sql.to_owned(), s.clone());
    Ok(s)
}

struct PgTx<'a, 'c> {
    tx: &'a mut postgres::Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Tx for PgTx<'_, '_> {
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).map_err(|e| err(&e))
    }

    fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let s = statement(self.statements, sql, |q| self.tx.prepare(q))?;
        self.tx.execute(&s, &bind(params)).map_err(|e| err(&e))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let s = statement(self.statements, sql, |q| self.tx.prepare(q))?;
        let rows = self.tx.query(&s, &bind(params)).map_err(|e| err(&e))?;
        read_rows(&rows, cols)
    }
}

impl Postgres {
    /// Runs `f` in one transaction (`read_only`: a read transaction, one snapshot).
    fn transaction(
        &mut self,
        read_only: bool,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for attempt in 0..2 {
            let (client, statements) = self.connection()?;
            let failed = match client.build_transaction().read_only(read_only).start() {
                Ok(mut tx) => {
                    // On an error the transaction is dropped, which rolls it back.
                    f(&mut PgTx {
                        tx: &mut tx,
                        statements,
                    })?;
                    return tx.commit().map_err(|e| err(&e));
                }
                Err(e) => e,
            };
            // The connection died while idle (a restart, a failover): nothing of this
            // transaction reached the server, so it is safe to begin again on a new one. A
            // failure after BEGIN is never retried: the commit might have happened.
            if attempt > 0 || !self.client.as_ref().is_none_or(Client::is_closed) {
                return Err(err(&failed));
            }
        }
        Err(StoreError::database("postgres", "connection lost".into()))
    }
}

impl Backend for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn write(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction(false, f)
    }

    fn read(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction(true, f)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        cols: &[Col],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        match self.query_once(sql, params, cols) {
            // Reads are idempotent: one retry on a new connection when the old one was lost.
            Err(_) if self.client.as_ref().is_none_or(Client::is_closed) => {
                self.query_once(sql, params, cols)
            }
            other => other,
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        // Every write is committed before its caller hears back; nothing is buffered here.
        Ok(())
    }
}
