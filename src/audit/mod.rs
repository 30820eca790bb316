//! The batch audit (`modelgate audit`): every model in a registry or a tree of model stores
//! scanned with the same engine as `scan`, incrementally (unchanged files are neither read nor
//! scanned again), resumably (progress is committed in batches), in shards (one per scheduler
//! task), into one report a person acts on.
//!
//! How a run goes ([`run`]):
//! 1. [`source`], [`oci`] and [`mlflow`] list the artifacts of every source, each named by its layout
//!    (`hf://ORG/NAME@REV/FILE`, `runs:/RUN/PATH`, `oci://HOST/REPO@DIGEST`,
//!    `models:/NAME/VERSION/PATH`, …); the [`Shard`]
//!    keeps those whose name hashes to it (an MLflow version's files go with the version's name,
//!    and are fetched group by group as the run goes, each group deleted after its batches).
//!    A local tree's directories are read only where [`dirs`] cannot prove the previous run's
//!    listing still holds.
//! 2. In batches: a file's stamp (device, inode, size, mtime, ctime) is looked up in the store;
//!    if it is unchanged, its sha256 is taken from there, else the file is hashed. The verdict
//!    cache is keyed by that sha256, the signature database's digest and the policy's digest
//!    (with the file's extension, which the engine's format readings may use): a hit is reused,
//!    a miss is scanned once however many artifacts share the content. The batch's stamps,
//!    verdicts and finished artifacts are committed in one transaction.
//! 3. The findings of every artifact form one [`Report`] (the scan report's schema), judged by
//!    the policy, with the [`AuditSection`] summarising it.
//!
//! What the cache never does: answer for content it has not seen under exactly these rules (a
//! new signature database or policy or modelgate version is a new key), keep a verdict of a scan
//! that failed or ran out of time, or keep anything of a file that changed while it was read
//! (that artifact is reported as failed, and read again next time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::Engine;
use crate::hash;
use crate::image::ImageOptions;
use crate::policy::Policy;
use crate::store::{Store, StoreError};

mod batch;
mod content;
pub mod dirs;
pub mod html;
pub mod merge;
pub mod mlflow;
pub mod oci;
pub mod render;
pub mod report;
pub mod shard;
pub mod since;
pub mod source;

pub use batch::run;
pub use render::AuditFormat;
pub use report::{AuditReport, AuditSection, RunStats, ShardInfo};
pub use shard::Shard;
pub use since::SinceDiff;

/// Artifacts per batch: one store round trip for their stamps, one for their verdicts, one
/// transaction for what they produced.
pub const DEFAULT_BATCH: usize = 256;

/// Why an audit (or a merge) could not run. Setup errors only: an artifact that cannot be read
/// is a failed artifact in the report, not an error.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{name}: {reason}")]
    Source { name: String, reason: String },
    #[error("invalid shard: {0}")]
    Shard(String),
    #[error(
        "the audit cache {cache} is locked by another process ({detail}); wait for it, or give this run its own --cache"
    )]
    CacheLocked { cache: String, detail: String },
    #[error("the audit cache {cache}: {error}")]
    Cache { cache: String, error: StoreError },
    #[error("cannot merge: {0}")]
    Merge(String),
    #[error("{path}: not a report written by modelgate audit: {reason}")]
    BadReport { path: String, reason: String },
}

/// What is reported as the run goes: after each batch, the counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub listed: u64,
    pub done: u64,
    /// Bytes of the files listed, and of those done (known once a batch stats its files).
    pub bytes_done: u64,
    pub findings: u64,
    pub cache_hits: u64,
    pub hashed: u64,
}

/// A progress callback.
pub type OnProgress = Arc<dyn Fn(&Tally) + Send + Sync>;

/// What to audit and how.
#[derive(Clone)]
pub struct AuditOptions {
    /// Directories, files, `oci://HOST[/PREFIX]` registries and `mlflow://HOST[:PORT][/PREFIX]`
    /// tracking servers, as given.
    pub sources: Vec<String>,
    pub shard: Shard,
    /// The store URL of the cache (`sqlite:///…` or `postgres://…`).
    pub cache: String,
    pub policy: Policy,
    /// Registry access for `oci://` sources.
    pub image: ImageOptions,
    /// Tracking-server access for `mlflow://` sources.
    pub mlflow: mlflow::MlflowAccess,
    /// Artifacts per batch ([`DEFAULT_BATCH`]).
    pub batch: usize,
    pub progress: Option<OnProgress>,
}

/// The digest of the rules a verdict depends on besides the signature database: the policy,
/// the engine's options and modelgate's version (a new scanner may find more).
pub fn policy_digest(policy: &Policy, engine: &Engine) -> String {
    let o = engine.options();
    hash::sha256_hex(
        serde_json::json!({
            "audit": 1,
            "version": crate::finding::VERSION,
            "fail_on": policy.fail_on,
            "overrides": policy.overrides,
            "strict": o.strict,
            "limits": format!("{:?}", o.limits),
        })
        .to_string()
        .as_bytes(),
    )
}

/// The policy part of an artifact's cache key: the rules, and the name's extension (the engine
/// adds format readings by extension, so the same bytes under another extension may be read
/// differently).
fn cache_digest(policy_digest: &str, kind: &str) -> String {
    hash::sha256_hex(format!("{policy_digest}\n{kind}").as_bytes())
}

fn extension_of(path: &Path) -> String {
    path.extension().map_or_else(
        || "ext=".to_owned(),
        |e| format!("ext={}", e.to_string_lossy().to_ascii_lowercase()),
    )
}

/// Opens the cache at `url`. A SQLite file that is not a database (or is damaged) is moved
/// aside and a new cache is created (the cache only saves work; the note says what happened);
/// a locked one is refused.
pub fn open_cache(url: &str) -> Result<(Store, Option<String>), AuditError> {
    let cache = shown_url(url);
    let classify = |e: StoreError| {
        let text = e.to_string();
        if text.contains("locked") || text.contains("busy") {
            AuditError::CacheLocked {
                cache: cache.clone(),
                detail: text,
            }
        } else {
            AuditError::Cache {
                cache: cache.clone(),
                error: e,
            }
        }
    };
    match Store::open(url) {
        Ok(s) => Ok((s, None)),
        Err(e) => {
            let text = e.to_string();
            let damaged = text.contains("not a database")
                || text.contains("malformed")
                || text.contains("corrupt")
                || matches!(e, StoreError::Corrupt(_));
            let path = url
                .strip_prefix("sqlite://")
                .map(|p| p.split('?').next().unwrap_or(p));
            match path {
                Some(p) if damaged => {
                    let aside = format!("{p}.corrupt-{}", chrono::Utc::now().timestamp());
                    std::fs::rename(p, &aside).map_err(|io| AuditError::Cache {
                        cache: cache.clone(),
                        error: StoreError::Database {
                            backend: "sqlite",
                            message: format!("{text}; moving it aside failed: {io}"),
                        },
                    })?;
                    for suffix in ["-wal", "-shm"] {
                        let _ = std::fs::rename(format!("{p}{suffix}"), format!("{aside}{suffix}"));
                    }
                    let store = Store::open(url).map_err(classify)?;
                    Ok((
                        store,
                        Some(format!(
                            "{text}: moved aside to {aside} and rebuilt (everything was read and scanned again)"
                        )),
                    ))
                }
                _ => Err(classify(e)),
            }
        }
    }
}

/// A store URL without a password, for messages and reports.
fn shown_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let after = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://…@{after}")
        }
        _ => url.to_owned(),
    }
}

/// The store URL of a cache file. `synchronous=normal`: a commit is reported before the
/// write-ahead log is synced, so a power loss may lose the last batches (never corrupt the
/// database); the cache only saves work, and what it lost is read and scanned again.
pub fn sqlite_url(path: &Path) -> String {
    let abs: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("sqlite://{}?synchronous=normal", abs.display())
}
