//! One audit run: listing the sources, then batch after batch: stamps, hashes, cache lookups,
//! scans of what the cache did not have, and one commit of what the batch produced.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::engine::Engine;
use crate::finding::{ArtifactRecord, Location, Sink, Status};
use crate::format::Format;
use crate::hash::{self, FileStamp};
use crate::policy::{Refusal, Verdict};
use crate::store::{
    AuditBatch, CacheEntry, CacheKey, PendingCommit, ProgressRow, StampRow, Store, StoreError,
    Verdict as CacheVerdict,
};
use crate::walk::TargetEntry;

use super::content::Content;
use super::dirs::Listings;
use super::source::{Item, Listing, What};
use super::{
    cache_digest, extension_of, open_cache, policy_digest, shown_url, AuditError, AuditOptions,
    AuditReport, AuditSection, RunStats, ShardInfo, Tally,
};
use super::{mlflow, oci};

/// One record: an artifact that was not scanned, and why.
fn record(identity: &str, status: Status, size: u64) -> ArtifactRecord {
    ArtifactRecord {
        location: Location::file(identity),
        format: Format::Unknown,
        size,
        status,
        sha256: None,
    }
}

fn stamp_row(s: &FileStamp, sha256: &str) -> StampRow {
    #[allow(clippy::cast_possible_truncation)]
    let ns = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    StampRow {
        device: s.device,
        inode: s.inode,
        size: s.len,
        mtime_ns: ns(s.modified_ns),
        ctime_ns: ns(s.changed_ns),
        sha256: sha256.to_owned(),
    }
}

fn same_stamp(row: &StampRow, s: &FileStamp) -> bool {
    *row == stamp_row(s, &row.sha256)
}

/// Where one artifact of a batch stands.
struct Work<'a> {
    item: &'a Item,
    /// The cache key's parts, once known.
    sha256: Option<String>,
    cache_digest: String,
    /// The stamp the content was hashed (or found unchanged) under.
    stamp: Option<FileStamp>,
    /// The stamp row to commit (files this run hashed).
    new_stamp: Option<StampRow>,
    /// Settled without a scan (skipped, failed to read).
    settled: Option<ArtifactRecord>,
    resumed: bool,
}

/// State of a whole run.
struct Auditor<'a> {
    engine: &'a Engine,
    opts: &'a AuditOptions,
    store: Store,
    run_key: String,
    policy_digest: String,
    /// The cache digest of each extension met so far: a run has a handful of extensions and
    /// thousands of files, so each digest is hashed once, not once per file.
    digests: HashMap<String, String>,
    done: HashMap<String, ProgressRow>,
    /// Whether this run (or the one it resumes) committed progress rows to forget at the end.
    progressed: bool,
    sink: Sink,
    stats: RunStats,
    tally: Tally,
    /// The previous batch's commit, written while this batch is read and scanned; waited for
    /// before the next commit is queued and before the run ends, so an error still stops the run.
    in_flight: Option<PendingCommit>,
    /// The contents the batch of `in_flight` scanned, by cache key: the next batch takes a
    /// content it meets again from here (the store may not have it yet), not from a lookup or a
    /// second scan. Contents of earlier batches are committed, so the store has them; keeping
    /// only one batch's keeps memory flat however large the tree.
    recent: HashMap<Key, Arc<Content>>,
    /// The contents the current batch scanned, to become `recent` when its commit is queued.
    scanned_now: HashMap<Key, Arc<Content>>,
}

fn cache_err(cache: &str) -> impl Fn(StoreError) -> AuditError + '_ {
    move |error| AuditError::Cache {
        cache: shown_url(cache),
        error,
    }
}

/// Audits `opts.sources` with `engine`: the report, judged by `opts.policy` (its overrides
/// applied), and the verdict on it.
pub fn run(engine: &Engine, opts: &AuditOptions) -> Result<(AuditReport, Verdict), AuditError> {
    let started = Instant::now();
    let (store, rebuilt) = open_cache(&opts.cache)?;
    let (items, pending, dirs) = list(opts, &store)?;
    let signatures_digest = engine.signatures().info().digest.clone();
    let policy_digest = policy_digest(&opts.policy, engine);
    let run_key = hash::sha256_hex(
        serde_json::json!({
            "sources": opts.sources,
            "shard": opts.shard,
            "signatures": signatures_digest,
            "policy": policy_digest,
        })
        .to_string()
        .as_bytes(),
    );
    let done: HashMap<String, ProgressRow> = store
        .audit_progress(&run_key)
        .map_err(cache_err(&opts.cache))?
        .into_iter()
        .map(|p| (p.identity.clone(), p))
        .collect();
    let progressed = !done.is_empty();
    let mut run = Auditor {
        engine,
        opts,
        store,
        run_key,
        policy_digest: policy_digest.clone(),
        digests: HashMap::new(),
        done,
        progressed,
        sink: Sink::default(),
        stats: RunStats {
            listed: items.len() as u64,
            cache: shown_url(&opts.cache),
            cache_rebuilt: rebuilt,
            dirs_read: dirs.read,
            dirs_reused: dirs.reused,
            ..RunStats::default()
        },
        tally: Tally {
            listed: items.len() as u64,
            ..Tally::default()
        },
        in_flight: None,
        recent: HashMap::new(),
        scanned_now: HashMap::new(),
    };
    for batch in items.chunks(opts.batch.max(1)) {
        run.batch(batch, false)?;
        if let Some(p) = &opts.progress {
            p(&run.tally);
        }
    }
    if !pending.is_empty() {
        let mut taken: HashSet<String> = items.iter().map(|i| i.identity.clone()).collect();
        drop(items);
        for mut source in pending {
            run.fetched(&mut source, &mut taken)?;
        }
    }
    if let Some(commit) = run.in_flight.take() {
        commit.wait().map_err(cache_err(&opts.cache))?;
    }
    let Auditor {
        store,
        run_key,
        sink,
        mut stats,
        progressed,
        ..
    } = run;
    if progressed {
        store
            .finish_audit_run(&run_key)
            .map_err(cache_err(&opts.cache))?;
    }
    store.close().map_err(cache_err(&opts.cache))?;
    stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut report = engine.report(opts.sources.clone(), sink);
    let verdict = opts.policy.judge(&mut report);
    let shard = ShardInfo::new(opts.shard, &signatures_digest, &policy_digest);
    let audit = AuditSection::summarise(&report, opts.sources.clone(), shard, stats);
    Ok((AuditReport { report, audit }, verdict))
}

/// What listing the local trees did: directories read, and directories whose stored listing was
/// reused because their stamp proved them unchanged.
#[derive(Default)]
struct DirCounts {
    read: u64,
    reused: u64,
}

/// Every local tree's and registry's items in this shard, sorted by identity, and the
/// `mlflow://` sources' versions in this shard, fetched later, group by group.
fn list(
    opts: &AuditOptions,
    store: &Store,
) -> Result<(Vec<Item>, Vec<mlflow::Pending>, DirCounts), AuditError> {
    let mut listing = Listing::default();
    let mut pending = Vec::new();
    let mut counts = DirCounts::default();
    for s in &opts.sources {
        if let Some(registry) = s.strip_prefix("oci://") {
            for item in oci::list(registry, &opts.image)? {
                listing.add_item(item);
            }
        } else if mlflow::tracking_uri(s).is_some() {
            pending.push(mlflow::list(s, &opts.mlflow, &opts.shard)?);
        } else {
            let p = Path::new(s);
            if std::fs::symlink_metadata(p).is_err() {
                return Err(AuditError::Source {
                    name: s.clone(),
                    reason: "no such file or directory".into(),
                });
            }
            let key = listing_key(p);
            let previous = match &key {
                Some(k) => store
                    .dir_listing(k)
                    .map_err(cache_err(&opts.cache))?
                    .and_then(|b| Listings::decode(&b))
                    .unwrap_or_default(),
                None => Listings::default(),
            };
            let walked = listing.add_tree(p, s, previous);
            counts.read += walked.read;
            counts.reused += walked.reused;
            if let (Some(k), true) = (&key, walked.changed) {
                store
                    .put_dir_listing(k, walked.listings.encode())
                    .map_err(cache_err(&opts.cache))?;
            }
        }
    }
    let items = listing
        .finish()
        .into_iter()
        .filter(|i| opts.shard.contains(&i.identity))
        .collect();
    Ok((items, pending, counts))
}

/// The key a tree's directory listings are stored under: its canonical path. `None` (nothing
/// reused or stored) for a path the store cannot key by (not UTF-8, or very long); two roots
/// whose keys collide only lose reuse, since every directory is checked by its own stamp.
fn listing_key(root: &Path) -> Option<String> {
    let canonical = root.canonicalize().ok()?;
    canonical
        .to_str()
        .filter(|k| k.len() <= crate::store::MAX_TEXT_BYTES && !k.contains('\0'))
        .map(str::to_owned)
}

type Key = (String, String);

impl Auditor<'_> {
    /// Fetches the versions of an `mlflow://` source group by group (about one batch of files
    /// each) and audits each group, removing its downloads once its batches are committed.
    /// `taken`: the identities audited so far; a version file whose name another source already
    /// took is audited under its source's name too, never hidden behind the other.
    fn fetched(
        &mut self,
        source: &mut mlflow::Pending,
        taken: &mut HashSet<String>,
    ) -> Result<(), AuditError> {
        let size = self.opts.batch.max(1);
        while let Some(group) = source.next_group(size) {
            let mlflow::Fetched { mut items, spools } = group?;
            for item in &mut items {
                if !taken.insert(item.identity.clone()) {
                    let mut n = 2;
                    let mut renamed = format!("{} ({})", item.identity, source.name());
                    while !taken.insert(renamed.clone()) {
                        renamed = format!("{} ({} #{n})", item.identity, source.name());
                        n += 1;
                    }
                    item.identity = renamed;
                }
            }
            items.sort_by(|a, b| a.identity.cmp(&b.identity));
            self.stats.listed += items.len() as u64;
            self.tally.listed += items.len() as u64;
            for batch in items.chunks(size) {
                self.batch(batch, true)?;
                if let Some(p) = &self.opts.progress {
                    p(&self.tally);
                }
            }
            // The group's downloads are deleted here, its verdicts committed.
            drop(spools);
        }
        Ok(())
    }

    /// Audits one batch and commits what it produced. `temporary`: the batch's files are
    /// downloads deleted after it, so their stamps are neither looked up nor recorded.
    fn batch(&mut self, items: &[Item], temporary: bool) -> Result<(), AuditError> {
        let mut work: Vec<Work<'_>> = items.iter().map(|i| self.prepare(i)).collect();
        self.resume(&mut work)?;
        if !temporary {
            self.resolve_stamps(&mut work)?;
        }
        self.stats.hashed += hash_files(&mut work);
        let mut keys: Vec<Key> = work.iter().filter_map(Work::key).collect();
        keys.sort();
        keys.dedup();
        // Contents by cache key: scanned by the previous batch, else from the cache, else
        // scanned now.
        let mut contents: HashMap<Key, Arc<Content>> = keys
            .iter()
            .filter_map(|k| self.recent.get(k).map(|c| (k.clone(), Arc::clone(c))))
            .collect();
        keys.retain(|k| !contents.contains_key(k));
        // Contents the previous batch scanned: every artifact of theirs here is a duplicate.
        let mut placed: HashSet<Key> = contents.keys().cloned().collect();
        let cached = self.lookup(&keys)?;
        let from_cache: HashSet<Key> = cached.keys().cloned().collect();
        contents.extend(cached);
        let mut batch = AuditBatch {
            run_key: self.run_key.clone(),
            ..AuditBatch::default()
        };
        self.scan_missing(&mut work, &mut contents, &mut batch);
        for w in &mut work {
            self.tally.done += 1;
            if let Some(rec) = w.settled.take() {
                self.sink.artifacts.push(rec);
                continue;
            }
            let Some(key) = w.key() else {
                continue;
            };
            let Some(content) = contents.get(&key) else {
                continue;
            };
            if !placed.insert(key.clone()) {
                self.stats.duplicates += 1;
            }
            if from_cache.contains(&key) {
                self.stats.cache_hits += 1;
            }
            if w.resumed {
                self.stats.resumed += 1;
            }
            let sink = content.under(&w.item.identity);
            self.tally.findings += sink.findings.len() as u64;
            self.sink.merge(sink);
            // Progress is recorded for work done (a file read, a content scanned); an artifact
            // found unchanged and cached costs a stat and a lookup, so a resumed run redoes it
            // rather than this run writing a row for it.
            let worked = w.new_stamp.is_some() || !from_cache.contains(&key);
            if let Some(row) = w.new_stamp.take().filter(|_| !temporary) {
                batch.stamps.push(row);
            }
            if worked && content.cacheable() {
                batch.progress.push(ProgressRow {
                    identity: w.item.identity.clone(),
                    sha256: key.0,
                    cache_digest: key.1,
                });
            }
        }
        self.tally.cache_hits = self.stats.cache_hits;
        self.tally.hashed = self.stats.hashed;
        self.sink
            .compact(self.engine.options().limits.max_report_entries);
        self.progressed |= !batch.progress.is_empty();
        if let Some(previous) = self.in_flight.take() {
            previous.wait().map_err(cache_err(&self.opts.cache))?;
        }
        self.recent = std::mem::take(&mut self.scanned_now);
        self.in_flight = Some(
            self.store
                .start_audit_batch(&batch)
                .map_err(cache_err(&self.opts.cache))?,
        );
        Ok(())
    }

    /// The first look at an item: its kind of cache key, its stamp, or why it is not read.
    fn prepare<'i>(&mut self, item: &'i Item) -> Work<'i> {
        let mut w = Work {
            item,
            sha256: None,
            cache_digest: String::new(),
            stamp: None,
            new_stamp: None,
            settled: None,
            resumed: false,
        };
        match &item.what {
            What::Unscanned { reason } => {
                w.settled = Some(record(
                    &item.identity,
                    Status::Skipped {
                        reason: reason.clone(),
                    },
                    0,
                ));
            }
            What::Unreadable { error } => {
                w.settled = Some(record(
                    &item.identity,
                    Status::Failed {
                        error: error.clone(),
                    },
                    0,
                ));
            }
            What::Image { reference, .. } => {
                w.cache_digest = cache_digest(&self.policy_digest, "oci-image");
                // A manifest digest is the sha256 of its content: the cache key as it is.
                w.sha256 = reference
                    .rsplit_once("@sha256:")
                    .map(|(_, d)| d.to_ascii_lowercase())
                    .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            What::File { path, real } => {
                let policy = &self.policy_digest;
                let digest = self
                    .digests
                    .entry(extension_of(path))
                    .or_insert_with_key(|ext| cache_digest(policy, ext));
                w.cache_digest.clone_from(digest);
                if let Some(p) = self.done.get(&item.identity) {
                    if p.cache_digest == w.cache_digest {
                        w.sha256 = Some(p.sha256.clone());
                        w.resumed = true;
                        return w;
                    }
                }
                match std::fs::metadata(real) {
                    Ok(m) if m.is_file() => {
                        self.stats.bytes = self.stats.bytes.saturating_add(m.len());
                        self.tally.bytes_done = self.stats.bytes;
                        w.stamp = Some(FileStamp::of(&m));
                    }
                    Ok(_) => {
                        w.settled = Some(record(
                            &item.identity,
                            Status::Failed {
                                error: super::source::NOT_REGULAR.into(),
                            },
                            0,
                        ));
                    }
                    Err(e) => {
                        w.settled = Some(record(
                            &item.identity,
                            Status::Failed {
                                error: format!("cannot read: {e}"),
                            },
                            0,
                        ));
                    }
                }
            }
        }
        w
    }

    /// Artifacts an interrupted run finished: their verdicts are in the cache. One whose entry
    /// is gone (or unreadable) is audited as if new.
    fn resume(&mut self, work: &mut [Work<'_>]) -> Result<(), AuditError> {
        let keys: Vec<Key> = work
            .iter()
            .filter(|w| w.resumed)
            .filter_map(Work::key)
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let found = self.lookup(&keys)?;
        for w in work.iter_mut().filter(|w| w.resumed) {
            if w.key().is_some_and(|k| !found.contains_key(&k)) {
                w.resumed = false;
                w.sha256 = None;
                if let What::File { real, .. } = &w.item.what {
                    match std::fs::metadata(real) {
                        Ok(m) => w.stamp = Some(FileStamp::of(&m)),
                        Err(e) => {
                            w.settled = Some(record(
                                &w.item.identity,
                                Status::Failed {
                                    error: format!("cannot read: {e}"),
                                },
                                0,
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Files whose stamp is unchanged since their sha256 was recorded are not read.
    fn resolve_stamps(&mut self, work: &mut [Work<'_>]) -> Result<(), AuditError> {
        let todo: Vec<usize> = (0..work.len())
            .filter(|&i| {
                work.get(i)
                    .is_some_and(|w| w.settled.is_none() && w.sha256.is_none() && w.stamp.is_some())
            })
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let keys = todo
            .iter()
            .filter_map(|&i| work.get(i).and_then(|w| w.stamp.as_ref()))
            .map(|s| (s.device, s.inode))
            .collect();
        let rows = self
            .store
            .file_stamps(keys)
            .map_err(cache_err(&self.opts.cache))?;
        for (i, row) in todo.into_iter().zip(rows) {
            let Some(w) = work.get_mut(i) else { continue };
            if let (Some(row), Some(stamp)) = (row, &w.stamp) {
                if same_stamp(&row, stamp) {
                    w.sha256 = Some(row.sha256);
                    self.stats.stamp_hits += 1;
                }
            }
        }
        Ok(())
    }

    /// The cached contents of `keys` that the cache has.
    fn lookup(&self, keys: &[Key]) -> Result<HashMap<Key, Arc<Content>>, AuditError> {
        let mut cache_keys = Vec::with_capacity(keys.len());
        for (sha, cd) in keys {
            let k = CacheKey::new(sha, &self.engine.signatures().info().digest, cd)
                .map_err(cache_err(&self.opts.cache))?;
            cache_keys.push(k);
        }
        if cache_keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = self
            .store
            .cached_verdicts(cache_keys)
            .map_err(cache_err(&self.opts.cache))?;
        let mut out = HashMap::new();
        for (key, hit) in keys.iter().zip(found) {
            // An entry without a readable report is a miss: scanned again.
            if let Some(c) = hit
                .and_then(|h| h.report)
                .and_then(|text| Content::from_stored(&text))
            {
                out.insert(key.clone(), Arc::new(c));
            }
        }
        Ok(out)
    }

    /// Scans every content of the batch the cache did not have, once, and queues its verdict.
    fn scan_missing(
        &mut self,
        work: &mut [Work<'_>],
        contents: &mut HashMap<Key, Arc<Content>>,
        batch: &mut AuditBatch,
    ) {
        // The first artifact of each missing content is scanned; an artifact without a key
        // (an image whose digest is not sha256) is scanned on its own.
        let mut first: HashMap<Key, usize> = HashMap::new();
        let mut files: Vec<TargetEntry> = Vec::new();
        let mut chosen: Vec<usize> = Vec::new();
        for (i, w) in work.iter().enumerate() {
            if w.settled.is_some() {
                continue;
            }
            if let Some(k) = w.key() {
                if contents.contains_key(&k) || first.contains_key(&k) {
                    continue;
                }
                first.insert(k, i);
            }
            chosen.push(i);
            if let What::File { path, .. } = &w.item.what {
                files.push(TargetEntry::File {
                    display: w.item.identity.clone(),
                    path: path.clone(),
                });
            }
        }
        if chosen.is_empty() {
            return;
        }
        let mut by_identity = self.scan_files(&files);
        for &i in &chosen {
            let Some(w) = work.get_mut(i) else { continue };
            let sink = match &w.item.what {
                What::File { real, .. } => {
                    let sink = by_identity.remove(&w.item.identity).unwrap_or_default();
                    // A file that changed while it was read: its findings may not match its
                    // sha256, so none of it is kept, and it is read again next time.
                    if let Some(change) = changed(real, w.stamp.as_ref()) {
                        w.settled = Some(record(
                            &w.item.identity,
                            Status::Failed {
                                error: format!(
                                    "changed while it was audited ({change}); audit it again"
                                ),
                            },
                            0,
                        ));
                        w.new_stamp = None;
                        continue;
                    }
                    sink
                }
                What::Image { reference, .. } => {
                    let target = OsString::from(format!("oci://{reference}"));
                    match crate::run::scan(self.engine, &[target], &self.opts.image, None) {
                        Ok(r) => Content::from_report(r).sink,
                        Err(e) => {
                            w.settled = Some(record(
                                &w.item.identity,
                                Status::Failed {
                                    error: e.to_string(),
                                },
                                0,
                            ));
                            continue;
                        }
                    }
                }
                What::Unscanned { .. } | What::Unreadable { .. } => continue,
            };
            self.stats.scanned += 1;
            let content = Content::relative(&w.item.identity, sink);
            let Some(key) = w.key() else {
                // Not cacheable by content: shown as scanned under this artifact alone.
                self.sink.merge(content.under(&w.item.identity));
                w.settled = None;
                continue;
            };
            if content.cacheable() {
                if let Some(entry) = self.cache_entry(&content) {
                    if let Ok(k) =
                        CacheKey::new(&key.0, &self.engine.signatures().info().digest, &key.1)
                    {
                        batch.verdicts.push((k, entry));
                    }
                }
            }
            let content = Arc::new(content);
            self.scanned_now.insert(key.clone(), Arc::clone(&content));
            contents.insert(key, content);
        }
    }

    /// Scans files in parallel; their sinks by the identity they were shown as.
    fn scan_files(&self, files: &[TargetEntry]) -> HashMap<String, Sink> {
        let mut out: HashMap<String, Sink> = HashMap::new();
        if files.is_empty() {
            return out;
        }
        let mut sink = Sink::default();
        // Cannot fail without a thread pool of its own (the caller installs one for --jobs).
        if let Err(e) = self.engine.scan_entries(files, &mut sink) {
            for f in files {
                if let TargetEntry::File { display, .. } = f {
                    out.entry(display.clone())
                        .or_default()
                        .artifacts
                        .push(record(
                            display,
                            Status::Failed {
                                error: e.to_string(),
                            },
                            0,
                        ));
                }
            }
            return out;
        }
        for f in sink.findings {
            out.entry(f.location.path.clone())
                .or_default()
                .findings
                .push(f);
        }
        for a in sink.artifacts {
            out.entry(a.location.path.clone())
                .or_default()
                .artifacts
                .push(a);
        }
        for p in sink.packages {
            out.entry(p.location.path.clone())
                .or_default()
                .packages
                .push(p);
        }
        // Entries past the report cap are only counted: kept with the first file of the batch.
        if let Some(TargetEntry::File { display, .. }) = files.first() {
            out.entry(display.clone()).or_default().omitted = sink.omitted;
        }
        out
    }

    /// The verdict-cache entry of a content under the run's policy, with its report.
    fn cache_entry(&self, content: &Content) -> Option<CacheEntry> {
        let mut report = content.to_report(self.engine);
        let verdict = match self.opts.policy.clone().judge(&mut report) {
            Verdict::Approved => CacheVerdict::Admit,
            Verdict::Refused(Refusal::ScanErrors { .. }) => return None,
            Verdict::Refused(_) => CacheVerdict::Deny,
        };
        // Stored as scanned (overrides are applied to the whole report at the end).
        let reasons = serde_json::to_string(
            &report
                .findings
                .iter()
                .filter(|f| f.severity >= self.opts.policy.fail_on)
                .map(|f| format!("{} at {}", f.code, f.location.display_chain()))
                .take(20)
                .collect::<Vec<_>>(),
        )
        .ok()?;
        let json = content.to_stored()?;
        (json.len() <= crate::store::MAX_REPORT_BYTES)
            .then(|| CacheEntry::new(verdict, &reasons).with_report(json))
    }
}

impl Work<'_> {
    fn key(&self) -> Option<Key> {
        if self.settled.is_some() {
            return None;
        }
        self.sha256.clone().map(|s| (s, self.cache_digest.clone()))
    }
}

/// Hashes (in parallel) every file whose sha256 is not known yet, each (device, inode) once (a
/// blob linked from several snapshots is read once); returns how many files were read.
fn hash_files(work: &mut [Work<'_>]) -> u64 {
    let mut jobs: HashMap<(u64, u64), (PathBuf, FileStamp)> = HashMap::new();
    for w in work.iter() {
        if let (None, None, What::File { real, .. }, Some(stamp)) =
            (&w.settled, &w.sha256, &w.item.what, &w.stamp)
        {
            jobs.entry((stamp.device, stamp.inode))
                .or_insert_with(|| (real.clone(), stamp.clone()));
        }
    }
    let results: HashMap<(u64, u64), Result<hash::Hashed, hash::HashError>> = jobs
        .into_par_iter()
        .map(|(id, (path, stamp))| {
            let job = hash::Job {
                path,
                range: None,
                expected: Some(stamp),
            };
            (
                id,
                hash::hash_job(hash::Algorithm::Sha256, &job, &mut |_| {}),
            )
        })
        .collect();
    for w in work.iter_mut() {
        if w.settled.is_some() || w.sha256.is_some() {
            continue;
        }
        let Some(r) = w
            .stamp
            .as_ref()
            .and_then(|s| results.get(&(s.device, s.inode)))
        else {
            continue;
        };
        match r {
            Ok(h) => {
                let sha = hex::encode(&h.digest);
                w.new_stamp = Some(stamp_row(&h.stamp, &sha));
                w.stamp = Some(h.stamp.clone());
                w.sha256 = Some(sha);
            }
            Err(e) => {
                let status = match e {
                    hash::HashError::NotRegular { .. } => Status::Failed {
                        error: super::source::NOT_REGULAR.into(),
                    },
                    other => Status::Failed {
                        error: other.to_string(),
                    },
                };
                w.settled = Some(record(&w.item.identity, status, 0));
            }
        }
    }
    results.len() as u64
}

/// What changed about the file at `path` since `before`, if anything.
fn changed(path: &Path, before: Option<&FileStamp>) -> Option<String> {
    let before = before?;
    match std::fs::metadata(path) {
        Ok(m) => {
            let now = FileStamp::of(&m);
            (now != *before).then(|| "its size, times or inode changed".to_owned())
        }
        Err(e) => Some(format!("it can no longer be read: {e}")),
    }
}
