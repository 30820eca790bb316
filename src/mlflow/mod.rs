//! The MLflow model registry, as modelgate meets it: a REST client ([`client`]), where a model
//! version's files are and how to fetch them within limits ([`artifacts`]), the verdict written
//! back as model-version tags and the optional quarantine alias ([`tags`]), and the checks on
//! MLflow's webhook deliveries ([`webhook`]). Shared by the gate's webhook route and reconcile
//! loop (`server::integrations::mlflow`) and by the CLI (`modelgate mlflow sync`, `modelgate scan
//! --mlflow-model`), which scan in different places (a worker process, the CLI's own engine) but
//! resolve, fetch and tag the same way.

pub mod artifacts;
pub mod client;
pub mod tags;
pub mod webhook;

pub use client::{Auth, Client, ModelVersion};
pub use tags::{Outcome, VerdictTags};
pub use webhook::VersionRef;

/// Why an MLflow call or a model version's artifacts failed. Every variant is a verdict of
/// `error` for the version, never `passed`.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error("invalid tracking URI {uri:?}: {reason}")]
    TrackingUri { uri: String, reason: String },
    #[error("{what}: {message}")]
    Http { what: String, message: String },
    #[error("{what}: MLflow answered HTTP {status} {code}: {message}")]
    Api {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{what}: the answer is not what MLflow sends: {message}")]
    Protocol { what: String, message: String },
    #[error("artifact location {uri:?}: {reason}")]
    Location { uri: String, reason: String },
    #[error("the model version's artifacts exceed the limit of {limit}")]
    TooLarge { limit: u64 },
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{0}")]
    ModelUri(String),
    #[error("scanning the model version: {0}")]
    Scan(String),
}

/// `models:/NAME/VERSION` or `models:/NAME@ALIAS`: which version a pipeline step names. (Stage
/// names such as `models:/NAME/Production` are MLflow's deprecated stages; versions are numbers.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    Version(VersionRef),
    Alias { name: String, alias: String },
}

impl ModelUri {
    pub fn parse(uri: &str) -> Result<ModelUri, MlflowError> {
        let bad = || {
            MlflowError::ModelUri(format!(
                "not a model version URI: {uri:?} (expected models:/NAME/VERSION or models:/NAME@ALIAS)"
            ))
        };
        let rest = uri.strip_prefix("models:/").ok_or_else(bad)?;
        let rest = rest.trim_start_matches('/');
        if let Some((name, alias)) = rest.split_once('@') {
            if name.is_empty() || alias.is_empty() || alias.contains('/') {
                return Err(bad());
            }
            return Ok(ModelUri::Alias {
                name: name.to_owned(),
                alias: alias.to_owned(),
            });
        }
        let (name, version) = rest.rsplit_once('/').ok_or_else(bad)?;
        if name.is_empty() || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(ModelUri::Version(VersionRef {
            name: name.to_owned(),
            version: version.to_owned(),
        }))
    }

    /// The version this URI names now (an alias is resolved on the tracking server).
    pub async fn resolve(&self, client: &Client) -> Result<VersionRef, MlflowError> {
        match self {
            ModelUri::Version(v) => Ok(v.clone()),
            ModelUri::Alias { name, alias } => {
                let v = client.version_by_alias(name, alias).await?;
                Ok(VersionRef {
                    name: v.name,
                    version: v.version,
                })
            }
        }
    }
}

/// Fetches version `v` into `spool` (a directory the caller created and removes) and scans it
/// with `engine` in this process: the CLI's way (the gate scans in a worker process instead).
/// Report paths are relative to the fetched root.
pub async fn scan_version(
    engine: &crate::engine::Engine,
    client: &Client,
    v: &VersionRef,
    local_roots: &[std::path::PathBuf],
    limits: artifacts::FetchLimits,
    spool: &std::path::Path,
) -> Result<crate::report::Report, MlflowError> {
    let uri = client.download_uri(&v.name, &v.version).await?;
    let location = artifacts::resolve(&uri, client, local_roots)?;
    let fetched = artifacts::fetch(client, &location, spool, limits).await?;
    let target = fetched.root.join(&fetched.name);
    let mut report = engine
        .scan_paths(std::slice::from_ref(&target))
        .map_err(|e| MlflowError::Scan(e.to_string()))?;
    report.relativise(&fetched.root);
    Ok(report)
}

/// The versions (of model `name`, or of every model) that carry no `modelgate.verdict` tag:
/// registered while no gate listened, or whose delivery was lost (MLflow delivers webhooks once,
/// fire-and-forget), or whose scan never finished. With `retry_errors`, also those whose verdict
/// is `error` (a tracking server or worker that failed for a while).
pub async fn unscanned_versions(
    client: &Client,
    name: Option<&str>,
    retry_errors: bool,
) -> Result<Vec<VersionRef>, MlflowError> {
    let mut out: Vec<VersionRef> = client
        .search_versions(name)
        .await?
        .into_iter()
        .filter(|v| match v.tag(tags::VERDICT) {
            None => true,
            Some(t) => retry_errors && t == Outcome::Error.as_str(),
        })
        // A version still being registered has no files yet; a failed registration never will.
        .filter(|v| v.status.as_deref().is_none_or(|s| s == "READY"))
        .map(|v| VersionRef {
            name: v.name,
            version: v.version,
        })
        .collect();
    out.sort_by(|a, b| {
        registry_order(&a.name, &a.version).cmp(&registry_order(&b.name, &b.version))
    });
    Ok(out)
}

/// The sort key that lists versions as the registry shows them: by model name, then by version
/// number (numerically, so 10 follows 9).
pub fn registry_order<'a>(name: &'a str, version: &str) -> (&'a str, u64) {
    (name, version.parse::<u64>().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris_name_a_version_or_an_alias() {
        assert_eq!(
            ModelUri::parse("models:/fraud/detector/12").unwrap(),
            ModelUri::Version(VersionRef {
                name: "fraud/detector".into(),
                version: "12".into()
            })
        );
        assert_eq!(
            ModelUri::parse("models:/fraud@champion").unwrap(),
            ModelUri::Alias {
                name: "fraud".into(),
                alias: "champion".into()
            }
        );
        for bad in [
            "runs:/abc/model",
            "models:/fraud",
            "models:/fraud/Production",
            "models:/@x",
            "models:/m-0123",
        ] {
            assert!(ModelUri::parse(bad).is_err(), "{bad}");
        }
    }
}
