//! What the batch audit keeps in the store besides the verdict cache: file stamps (so an
//! unchanged file is not read again to learn its sha256) and the progress of a run (so a killed
//! run resumes). Every call works on a batch, in one round trip to the worker thread and, for
//! writes, one transaction: an audit of 100,000 files makes a few hundred calls, not 300,000.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

use chrono::Utc;

use super::backend::Backend;
use super::sql::{self, Param, RowReader};
use super::worker::{self, Command};
use super::{
    check_sha256, check_text, new_cache_entry, CacheEntry, CacheKey, CachedVerdict, Store,
    StoreError,
};

/// A file's identity and state on disk as the file system reports it (see
/// [`crate::hash::FileStamp`], which the audit converts from), and the sha256 its bytes had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampRow {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub sha256: String,
}

/// One artifact a run has finished: its identity, the sha256 of its content and the policy part
/// of the cache key its verdict is stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressRow {
    pub identity: String,
    pub sha256: String,
    pub cache_digest: String,
}

/// What one audit batch commits together: the stamps of the files it hashed, the verdicts it
/// computed, and the artifacts it finished. All or nothing: after a crash, an artifact is either
/// finished with its verdict cached, or not finished.
#[derive(Clone, Debug, Default)]
pub struct AuditBatch {
    pub run_key: String,
    pub stamps: Vec<StampRow>,
    pub verdicts: Vec<(CacheKey, CacheEntry)>,
    pub progress: Vec<ProgressRow>,
}

/// Device and inode numbers are stored bit for bit in a BIGINT.
#[allow(clippy::cast_possible_wrap)]
fn bits(v: u64) -> i64 {
    v as i64
}

fn stamp_of(device: u64, inode: u64, r: &mut RowReader) -> Result<StampRow, StoreError> {
    let size = u64::try_from(r.i64()?)
        .map_err(|_| StoreError::Corrupt("a negative file size in file_stamps".into()))?;
    Ok(StampRow {
        device,
        inode,
        size,
        mtime_ns: r.i64()?,
        ctime_ns: r.i64()?,
        sha256: check_sha256("sha256", &r.text()?)
            .map_err(|_| StoreError::Corrupt("a malformed sha256 in file_stamps".into()))?,
    })
}

/// A job's answer, still to come from the store's thread.
struct Pending<T>(mpsc::Receiver<Result<T, StoreError>>);

impl<T> Pending<T> {
    fn wait(self) -> Result<T, StoreError> {
        self.0.recv().map_err(|_| StoreError::Closed)?
    }
}

/// An audit batch queued for commit ([`Store::start_audit_batch`]). Dropping it does not cancel
/// the commit; only [`PendingCommit::wait`] learns whether it succeeded.
#[must_use = "a queued commit's outcome is only known by waiting for it"]
pub struct PendingCommit(Option<Pending<()>>);

impl PendingCommit {
    /// Waits until the batch is committed (or refused).
    pub fn wait(self) -> Result<(), StoreError> {
        self.0.map_or(Ok(()), Pending::wait)
    }
}

impl Store {
    /// Runs `job` on the reader (`read`) or writer connection and waits for its answer.
    fn job<T: Send + 'static>(
        &self,
        read: bool,
        job: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Pending(self.send_job(read, job)?).wait()
    }

    /// Queues `job` on the reader (`read`) or writer connection; its answer arrives on the
    /// returned channel.
    fn send_job<T: Send + 'static>(
        &self,
        read: bool,
        job: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T, StoreError>>, StoreError> {
        let (s, r) = mpsc::sync_channel(1);
        let job: worker::Job = Box::new(move |b| {
            let _ = s.send(job(b));
        });
        self.shared.send(read, Command::Job { read, job })?;
        Ok(r)
    }

    /// The stamps recorded for these (device, inode) pairs, in order. One query per
    /// [`sql::STAMPS_PER_QUERY`] inodes of a device (a batch's files are nearly always on one),
    /// not one per file.
    pub fn file_stamps(&self, keys: Vec<(u64, u64)>) -> Result<Vec<Option<StampRow>>, StoreError> {
        self.job(true, move |b| {
            let mut found: HashMap<(u64, u64), StampRow> = HashMap::with_capacity(keys.len());
            let mut by_device: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for &(device, inode) in &keys {
                by_device.entry(device).or_default().push(inode);
            }
            for inodes in by_device.values_mut() {
                inodes.sort_unstable();
                inodes.dedup();
            }
            let statement = sql::select_stamps();
            b.read(&mut |tx| {
                found.clear();
                for (&device, inodes) in &by_device {
                    for chunk in inodes.chunks(sql::STAMPS_PER_QUERY) {
                        let mut params = Vec::with_capacity(sql::STAMPS_PER_QUERY + 1);
                        params.push(Param::I64(bits(device)));
                        // Padded with the chunk's first inode: one statement text for any count.
                        let pad = chunk.first().copied().unwrap_or_default();
                        for i in 0..sql::STAMPS_PER_QUERY {
                            params.push(Param::I64(bits(chunk.get(i).copied().unwrap_or(pad))));
                        }
                        for row in tx.query(statement, &params, sql::SELECT_STAMPS_COLS)? {
                            let mut r = RowReader::new(row);
                            #[allow(clippy::cast_sign_loss)]
                            let inode = r.i64()? as u64;
                            found.insert((device, inode), stamp_of(device, inode, &mut r)?);
                        }
                    }
                }
                Ok(())
            })?;
            Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
        })
    }

    /// The cached verdicts of these keys, in order.
    pub fn cached_verdicts(
        &self,
        keys: Vec<CacheKey>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError> {
        self.job(true, move |b| {
            let mut out = Vec::with_capacity(keys.len());
            b.read(&mut |tx| {
                out.clear();
                for k in &keys {
                    out.push(worker::lookup_in(tx, &k.parts())?);
                }
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Commits `batch` in one transaction.
    pub fn commit_audit_batch(&self, batch: &AuditBatch) -> Result<(), StoreError> {
        self.start_audit_batch(batch)?.wait()
    }

    /// Queues `batch`'s commit on the writer connection and returns without waiting for it, so
    /// the audit reads and scans its next batch while this one is written. Commits are applied
    /// in the order they are queued; [`PendingCommit::wait`] gives the outcome. Checked before
    /// anything is queued, so a batch the store would refuse is refused here.
    pub fn start_audit_batch(&self, batch: &AuditBatch) -> Result<PendingCommit, StoreError> {
        check_text("run_key", &batch.run_key)?;
        let now = Utc::now().timestamp_millis();
        let mut rows: Vec<(&'static str, Vec<Param>)> = Vec::new();
        for s in &batch.stamps {
            rows.push((
                sql::UPSERT_STAMP,
                vec![
                    Param::I64(bits(s.device)),
                    Param::I64(bits(s.inode)),
                    Param::I64(super::to_i64("size", s.size)?),
                    Param::I64(s.mtime_ns),
                    Param::I64(s.ctime_ns),
                    Param::Text(check_sha256("sha256", &s.sha256)?),
                    Param::I64(now),
                ],
            ));
        }
        for (key, entry) in &batch.verdicts {
            rows.push((
                sql::INSERT_CACHE,
                worker::insert_params(&new_cache_entry(key, entry)?)?,
            ));
        }
        for p in &batch.progress {
            check_text("identity", &p.identity)?;
            check_text("cache_digest", &p.cache_digest)?;
            rows.push((
                sql::INSERT_PROGRESS,
                vec![
                    Param::Text(batch.run_key.clone()),
                    Param::Text(p.identity.clone()),
                    Param::Text(check_sha256("sha256", &p.sha256)?),
                    Param::Text(p.cache_digest.clone()),
                ],
            ));
        }
        if rows.is_empty() {
            return Ok(PendingCommit(None));
        }
        let answer = self.send_job(false, move |b| {
            b.write(&mut |tx| {
                for (statement, params) in &rows {
                    tx.exec(statement, params)?;
                }
                Ok(())
            })
        })?;
        Ok(PendingCommit(Some(Pending(answer))))
    }

    /// The artifacts run `run_key` has finished so far.
    pub fn audit_progress(&self, run_key: &str) -> Result<Vec<ProgressRow>, StoreError> {
        check_text("run_key", run_key)?;
        let key = run_key.to_owned();
        self.job(true, move |b| {
            let rows = b.query(
                sql::SELECT_PROGRESS,
                &[Param::Text(key)],
                sql::SELECT_PROGRESS_COLS,
            )?;
            rows.into_iter()
                .map(|row| {
                    let mut r = RowReader::new(row);
                    Ok(ProgressRow {
                        identity: r.text()?,
                        sha256: r.text()?,
                        cache_digest: r.text()?,
                    })
                })
                .collect()
        })
    }

    /// Forgets the progress of a finished run (the next run starts afresh, from the caches).
    pub fn finish_audit_run(&self, run_key: &str) -> Result<(), StoreError> {
        check_text("run_key", run_key)?;
        let key = run_key.to_owned();
        self.job(false, move |b| {
            b.write(&mut |tx| {
                tx.exec(sql::DELETE_PROGRESS, &[Param::Text(key.clone())])
                    .map(drop)
            })
        })
    }

    /// The stored directory listings of the tree rooted at `root` ([`crate::audit`]'s encoding),
    /// if any.
    pub fn dir_listing(&self, root: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_text("root", root)?;
        let key = root.to_owned();
        self.job(true, move |b| {
            let rows = b.query(
                sql::SELECT_LISTING,
                &[Param::Text(key)],
                sql::SELECT_LISTING_COLS,
            )?;
            match rows.into_iter().next() {
                Some(row) => RowReader::new(row).opt_bytes(),
                None => Ok(None),
            }
        })
    }

    /// Replaces the stored directory listings of the tree rooted at `root`.
    pub fn put_dir_listing(&self, root: &str, body: Vec<u8>) -> Result<(), StoreError> {
        check_text("root", root)?;
        let params = vec![
            Param::Text(root.to_owned()),
            Param::OptBytes(Some(body)),
            Param::I64(Utc::now().timestamp_millis()),
        ];
        self.job(false, move |b| {
            b.write(&mut |tx| tx.exec(sql::UPSERT_LISTING, &params).map(drop))
        })
    }
}
