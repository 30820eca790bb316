//! Where a model version's files are, and how they reach a directory a scan can read.
//!
//! A version's download URI (its storage location) takes one of the forms MLflow's artifact
//! stores write. Two are read:
//! - `mlflow-artifacts:/PATH` (or `mlflow-artifacts://HOST:PORT/PATH`): files served by the
//!   tracking server's artifact proxy (`mlflow server --artifacts-destination …`), downloaded
//!   through `/api/2.0/mlflow-artifacts/artifacts/PATH` as MLflow's own client resolves them. A
//!   URI naming another host than the configured tracking server is refused: the gate talks to
//!   the server it was given, with the credentials it was given, and nothing else.
//! - `file:///PATH` or `/PATH`: a local artifact store shared with the tracking server. Anyone who
//!   may register a model version chooses its source, so a local path is read only when it lies
//!   under one of the configured `local_roots` (after resolving symbolic links); otherwise the
//!   version is refused rather than let a registry user point the gate at arbitrary files.
//!
//! Any other scheme (`s3://`, `gs://`, `runs:/`, …) is refused: an artifact the gate cannot read
//! is never passed.

use std::path::{Component, Path, PathBuf};

use super::{Client, MlflowError};

/// Where a version's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path under the tracking server's artifact root, read through its proxy.
    Proxy(String),
    /// A local file or directory (already checked against the allowed roots).
    Local(PathBuf),
}

/// Limits on what one version may bring in.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub max_bytes: u64,
    pub max_files: usize,
}

/// The files of one version, ready to scan: the entry `name` inside directory `root`.
#[derive(Debug)]
pub struct Fetched {
    pub root: PathBuf,
    pub name: String,
    pub bytes: u64,
    pub files: usize,
}

/// Reads `uri` (a download URI) as a [`Location`] of the tracking server `client` talks to.
pub fn resolve(
    uri: &str,
    client: &Client,
    local_roots: &[PathBuf],
) -> Result<Location, MlflowError> {
    let refuse = |reason: &str| MlflowError::Location {
        uri: uri.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        let path = if let Some(authority_and_path) = rest.strip_prefix("//") {
            let (authority, path) = authority_and_path
                .split_once('/')
                .unwrap_or((authority_and_path, ""));
            let base = client.base();
            let ours = match (base.host_str(), base.port_or_known_default()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => String::new(),
            };
            let named = if authority.contains(':') {
                authority.to_owned()
            } else {
                format!("{authority}:{}", base.port_or_known_default().unwrap_or(0))
            };
            if !authority.is_empty() && !named.eq_ignore_ascii_case(&ours) {
                return Err(refuse(
                    "names another server than the configured tracking server; refused",
                ));
            }
            path
        } else {
            rest
        };
        return Ok(Location::Proxy(proxy_path(path).map_err(|r| refuse(&r))?));
    }
    let local = if let Some(rest) = uri.strip_prefix("file://") {
        // file:///abs/path, or file://localhost/abs/path
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        if !rest.starts_with('/') {
            return Err(refuse("a file: URI must name an absolute path"));
        }
        percent_decode(rest).ok_or_else(|| refuse("undecodable %-escape"))?
    } else if uri.starts_with('/') {
        uri.to_owned()
    } else {
        let scheme = uri.split_once(':').map_or("", |(s, _)| s);
        return Err(refuse(&format!(
            "the {scheme:?} artifact store is not supported (use the tracking server's artifact proxy, mlflow-artifacts:, or a local store under [mlflow] local_roots)"
        )));
    };
    let real =
        std::fs::canonicalize(&local).map_err(|e| refuse(&format!("cannot be read: {e}")))?;
    let allowed = local_roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .any(|r| real.starts_with(&r));
    if !allowed {
        return Err(refuse(
            "a local path outside [mlflow] local_roots; refused (the gate reads local artifact stores only where it is told to)",
        ));
    }
    Ok(Location::Local(real))
}

/// A proxy path as plain `/`-separated components, none of them `.` or `..`.
fn proxy_path(path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts
        .iter()
        .any(|p| *p == "." || *p == ".." || p.contains('\\'))
    {
        return Err("the path has . or .. components".into());
    }
    Ok(parts.join("/"))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Brings the files at `location` into `spool` (a directory the caller created and removes) and
/// names them for a scan. A local location is scanned in place; a proxy location is downloaded
/// file by file under `spool/model/`, the listing walked breadth first, stopping at `limits`.
pub async fn fetch(
    client: &Client,
    location: &Location,
    spool: &Path,
    limits: FetchLimits,
) -> Result<Fetched, MlflowError> {
    match location {
        Location::Local(path) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| MlflowError::Location {
                    uri: path.display().to_string(),
                    reason: "has no final component".into(),
                })?;
            let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok(Fetched {
                root,
                name,
                bytes: 0,
                files: 0,
            })
        }
        Location::Proxy(root_path) => download_tree(client, root_path, spool, limits).await,
    }
}

async fn download_tree(
    client: &Client,
    root_path: &str,
    spool: &Path,
    limits: FetchLimits,
) -> Result<Fetched, MlflowError> {
    let io = |what: String| move |error| MlflowError::Io { what, error };
    let model = spool.join("model");
    tokio::fs::create_dir(&model)
        .await
        .map_err(io("creating the download directory".into()))?;
    let mut bytes = 0u64;
    let mut files = 0usize;
    // (path relative to the version's root, is a directory)
    let mut pending: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    pending.push_back(String::new());
    let mut listed_any = false;
    while let Some(dir) = pending.pop_front() {
        let listing_path = join(root_path, &dir);
        let entries = client.list_artifacts(&listing_path).await?;
        for e in entries {
            listed_any = true;
            // The proxy answers names relative to the listed directory; take only plain names.
            let leaf = e.path.rsplit('/').next().unwrap_or_default();
            if leaf.is_empty() || leaf == "." || leaf == ".." || leaf.contains('\\') {
                return Err(MlflowError::Protocol {
                    what: format!("listing artifacts under {listing_path:?}"),
                    message: format!("an entry named {:?}", e.path),
                });
            }
            let rel = join(&dir, leaf);
            let local = model.join(Path::new(&rel));
            if !local
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::RootDir))
            {
                return Err(MlflowError::Protocol {
                    what: "listing artifacts".into(),
                    message: format!("an entry named {:?}", e.path),
                });
            }
            files += 1;
            if files > limits.max_files {
                return Err(MlflowError::TooLarge {
                    limit: limits.max_files as u64,
                });
            }
            if e.is_dir {
                tokio::fs::create_dir(&local)
                    .await
                    .map_err(io(format!("creating {rel}")))?;
                pending.push_back(rel);
            } else {
                let left = limits.max_bytes.saturating_sub(bytes);
                if e.file_size.is_some_and(|s| s > left) {
                    return Err(MlflowError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
                let n = client
                    .download_artifact(&join(root_path, &rel), &local, left)
                    .await
                    .map_err(|e| match e {
                        MlflowError::TooLarge { .. } => MlflowError::TooLarge {
                            limit: limits.max_bytes,
                        },
                        other => other,
                    })?;
                bytes = bytes.saturating_add(n);
            }
        }
    }
    if !listed_any {
        // The location may be a single file (the proxy lists nothing under a file), or nothing.
        let leaf = root_path.rsplit('/').next().unwrap_or("model").to_owned();
        let local = spool.join("file");
        tokio::fs::create_dir(&local)
            .await
            .map_err(io("creating the download directory".into()))?;
        let n = client
            .download_artifact(root_path, &local.join(&leaf), limits.max_bytes)
            .await?;
        return Ok(Fetched {
            root: local,
            name: leaf,
            bytes: n,
            files: 1,
        });
    }
    Ok(Fetched {
        root: spool.to_path_buf(),
        name: "model".into(),
        bytes,
        files,
    })
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{}/{b}", a.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(
            "http://127.0.0.1:5000",
            crate::mlflow::Auth::None,
            std::time::Duration::from_secs(5),
        )
        .unwrap()
    }

    #[test]
    fn proxy_uris_resolve_against_the_tracking_server_only() {
        let c = client();
        assert_eq!(
            resolve("mlflow-artifacts:/1/models/m-1/artifacts", &c, &[]).unwrap(),
            Location::Proxy("1/models/m-1/artifacts".into())
        );
        assert_eq!(
            resolve("mlflow-artifacts://127.0.0.1:5000/1/x", &c, &[]).unwrap(),
            Location::Proxy("1/x".into())
        );
        for bad in [
            "mlflow-artifacts://evil.example:5000/1/x",
            "mlflow-artifacts:/1/../../etc",
            "s3://bucket/model",
            "runs:/abc/model",
            "models:/m-123",
        ] {
            assert!(resolve(bad, &c, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_paths_must_lie_under_an_allowed_root() {
        let c = client();
        let root = tempfile::tempdir().unwrap();
        let model = root.path().join("model dir");
        std::fs::create_dir(&model).unwrap();
        let uri = format!("file://{}", model.display()).replace(' ', "%20");
        assert!(resolve(&uri, &c, &[]).is_err());
        assert_eq!(
            resolve(&uri, &c, &[root.path().to_path_buf()]).unwrap(),
            Location::Local(std::fs::canonicalize(&model).unwrap())
        );
        let escape = format!("{}/..", model.display());
        assert!(resolve(&escape, &c, std::slice::from_ref(&model)).is_err());
    }
}
