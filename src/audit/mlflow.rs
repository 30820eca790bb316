//! `mlflow://HOST[:PORT][/PREFIX]` sources (`mlflows://` for HTTPS): every registered model
//! version of an MLflow tracking server. The versions are listed with the registry's search
//! (paged), and each version's files are fetched the way `modelgate scan --mlflow-model` fetches
//! them ([`crate::mlflow::artifacts`]: the artifact proxy, or a local store under the configured
//! roots, within the byte and file limits) into a temporary directory of its own. Each file is
//! an item named `models:/NAME/VERSION/PATH`; a version that cannot be fetched (an `s3://`
//! source, a server error, over the limits) is one unscanned item `models:/NAME/VERSION` with
//! the reason, never clean.
//!
//! Versions are assigned to shards by their name `models:/NAME/VERSION` (all files of a version
//! go to the same shard), so a shard fetches only its own versions, and fetches them one group
//! at a time as the run goes ([`Pending::next_group`]): each group's temporary directory is
//! removed once its batches are committed, so a run never holds more than about one batch of
//! downloads on disk.
//!
//! The fetched files are new files on every run, so they are hashed every time, but their
//! verdicts come from the cache by content: a re-audit downloads again and scans nothing that
//! did not change. Their stamps are not recorded (a temporary file is never seen again).
//! Credentials come from MLflow's variables ([`Auth::from_env`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::mlflow::artifacts::{self, FetchLimits};
use crate::mlflow::{registry_order, Auth, Client, MlflowError, ModelVersion};

use super::source::{Item, What};
use super::{AuditError, Shard};

/// How an audit reaches a tracking server's model versions (the `[mlflow]` settings the CLI
/// uses for `scan --mlflow-model`).
#[derive(Debug, Clone)]
pub struct MlflowAccess {
    /// Local artifact stores that may be read in place (`file:` sources under these roots).
    pub local_roots: Vec<PathBuf>,
    pub limits: FetchLimits,
    /// Time allowed for each API call.
    pub timeout: Duration,
}

impl Default for MlflowAccess {
    fn default() -> Self {
        MlflowAccess {
            local_roots: Vec::new(),
            limits: FetchLimits {
                max_bytes: 8 << 30,
                max_files: 10_000,
            },
            timeout: Duration::from_secs(30),
        }
    }
}

/// The model versions of one `mlflow://` source that belong to this shard, listed but not yet
/// fetched.
pub struct Pending {
    source: String,
    client: Client,
    rt: tokio::runtime::Runtime,
    access: MlflowAccess,
    /// In registry order, the next one last.
    versions: Vec<ModelVersion>,
}

/// The items of a group of fetched versions, and the temporary directories holding their files
/// (removed when dropped: after the group's batches).
pub struct Fetched {
    pub items: Vec<Item>,
    pub spools: Vec<TempDir>,
}

/// `mlflow://REST` → `http://REST`, `mlflows://REST` → `https://REST`.
pub fn tracking_uri(source: &str) -> Option<String> {
    if let Some(rest) = source.strip_prefix("mlflow://") {
        Some(format!("http://{rest}"))
    } else {
        source
            .strip_prefix("mlflows://")
            .map(|rest| format!("https://{rest}"))
    }
}

/// The name a version is reported (and sharded) by.
fn version_identity(v: &ModelVersion) -> String {
    format!("models:/{}/{}", v.name, v.version)
}

/// Lists every model version of the tracking server `source` names and keeps those `shard`
/// holds (nothing is fetched yet).
pub fn list(source: &str, access: &MlflowAccess, shard: &Shard) -> Result<Pending, AuditError> {
    let failed = |reason: String| AuditError::Source {
        name: source.to_owned(),
        reason,
    };
    let uri = tracking_uri(source).ok_or_else(|| failed("not an mlflow:// source".into()))?;
    let client =
        Client::new(&uri, Auth::from_env(), access.timeout).map_err(|e| failed(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(format!("starting the HTTP runtime: {e}")))?;
    let mut versions = rt
        .block_on(client.search_versions(None))
        .map_err(|e| failed(format!("listing the model versions: {e}")))?;
    versions.retain(|v| shard.contains(&version_identity(v)));
    // Registry order, reversed: the next version is popped from the end.
    versions.sort_by(|a, b| {
        registry_order(&b.name, &b.version).cmp(&registry_order(&a.name, &a.version))
    });
    Ok(Pending {
        source: source.to_owned(),
        client,
        rt,
        access: access.clone(),
        versions,
    })
}

impl Pending {
    /// The source as given (`mlflow://HOST…`).
    pub fn name(&self) -> &str {
        &self.source
    }

    /// Fetches versions until their files number at least `at_least` or none are left; `None`
    /// once every version has been fetched.
    pub fn next_group(&mut self, at_least: usize) -> Option<Result<Fetched, AuditError>> {
        if self.versions.is_empty() {
            return None;
        }
        let mut group = Fetched {
            items: Vec::new(),
            spools: Vec::new(),
        };
        while group.items.len() < at_least.max(1) {
            let Some(v) = self.versions.pop() else { break };
            if let Err(e) = self.fetch_one(&v, &mut group) {
                return Some(Err(e));
            }
        }
        Some(Ok(group))
    }

    /// Fetches version `v` into a temporary directory of its own and adds its items.
    fn fetch_one(&self, v: &ModelVersion, group: &mut Fetched) -> Result<(), AuditError> {
        let identity = version_identity(v);
        if v.status.as_deref().is_some_and(|s| s != "READY") {
            group.items.push(unreadable(
                identity,
                format!(
                    "the version's status is {} (not READY): it has no files to scan yet",
                    v.status.as_deref().unwrap_or_default()
                ),
            ));
            return Ok(());
        }
        let spool = tempfile::Builder::new()
            .prefix("modelgate-audit-mlflow-")
            .tempdir()
            .map_err(|e| AuditError::Source {
                name: self.source.clone(),
                reason: format!("creating a temporary directory: {e}"),
            })?;
        match self
            .rt
            .block_on(fetch(&self.client, v, &self.access, spool.path()))
        {
            Ok(root) => {
                let before = group.items.len();
                add_files(&mut group.items, &identity, &root, &root);
                if group.items.len() == before {
                    group
                        .items
                        .push(unreadable(identity, "the version has no files".to_owned()));
                }
                group.spools.push(spool);
            }
            Err(e) => group.items.push(unreadable(
                identity,
                format!("cannot fetch the version's files: {e}"),
            )),
        }
        Ok(())
    }
}

/// A version that may hold a model but could not be fetched: failed, never clean.
fn unreadable(identity: String, reason: String) -> Item {
    Item {
        identity,
        what: What::Unreadable { error: reason },
    }
}

/// Fetches version `v` into `spool`: the directory (or file) holding its files.
async fn fetch(
    client: &Client,
    v: &ModelVersion,
    access: &MlflowAccess,
    spool: &Path,
) -> Result<PathBuf, MlflowError> {
    let uri = client.download_uri(&v.name, &v.version).await?;
    let location = artifacts::resolve(&uri, client, &access.local_roots)?;
    let fetched = artifacts::fetch(client, &location, spool, access.limits).await?;
    Ok(fetched.root.join(&fetched.name))
}

/// Adds every file under `path` (a fetched version rooted at `root`) as `IDENTITY/REL`.
/// Anything that is neither a file nor a directory, or cannot be read, is unscanned.
fn add_files(items: &mut Vec<Item>, identity: &str, root: &Path, path: &Path) {
    let rel = path
        .strip_prefix(root)
        .map(|r| r.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let name = if rel.is_empty() {
        // A version whose source is a single file: named by the file.
        path.file_name().map_or_else(
            || identity.to_owned(),
            |n| format!("{identity}/{}", n.to_string_lossy()),
        )
    } else {
        format!("{identity}/{rel}")
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => items.push(Item {
            identity: name,
            what: What::File {
                path: path.to_path_buf(),
                real: path.to_path_buf(),
            },
        }),
        Ok(m) if m.is_dir() => match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut children: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                children.sort();
                for c in children {
                    add_files(items, identity, root, &c);
                }
            }
            Err(e) => items.push(unreadable(name, format!("cannot read the directory: {e}"))),
        },
        Ok(_) => items.push(unreadable(
            name,
            "not a regular file or directory (not followed)".to_owned(),
        )),
        Err(e) => items.push(unreadable(name, format!("cannot be read: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_name_the_tracking_server() {
        assert_eq!(
            tracking_uri("mlflow://127.0.0.1:5000/prefix").as_deref(),
            Some("http://127.0.0.1:5000/prefix")
        );
        assert_eq!(
            tracking_uri("mlflows://mlflow.example").as_deref(),
            Some("https://mlflow.example")
        );
        assert_eq!(tracking_uri("oci://x"), None);
    }
}
