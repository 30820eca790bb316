//! `oci://HOST[/PREFIX]` sources: every repository under the prefix from the registry's catalog
//! (`GET /v2/_catalog`), every tag of each, and the manifest digest each tag points at. One item
//! per (repository, digest), named `oci://HOST/REPO@DIGEST` with its tags: a digest that many
//! tags point at is read once. The same digest in another repository is a second item whose
//! verdict comes from the cache (the cache key is the digest), so it is scanned once as well.
//! Access (credentials, plain HTTP) is `src/image/`'s, from the same options as `scan`.

use std::collections::BTreeMap;

use oci_client::Reference;

use crate::image::registry::{describe, Registry};
use crate::image::ImageOptions;

use super::source::{Item, What};
use super::AuditError;

/// Page size of catalog and tag listings.
const PAGE: usize = 1000;

/// `HOST[/PREFIX]` (the part after `oci://`) split into host and prefix.
fn split(source: &str) -> (&str, &str) {
    let s = source.trim_end_matches('/');
    match s.split_once('/') {
        Some((host, prefix)) => (host, prefix),
        None => (s, ""),
    }
}

fn under(repo: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || repo == prefix
        || repo
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn failed(source: &str, what: &str, e: &oci_client::errors::OciDistributionError) -> AuditError {
    AuditError::Source {
        name: format!("oci://{source}"),
        reason: format!("{what}: {}", describe(e)),
    }
}

/// Every entry of a paged listing (`?n=PAGE&last=…`, as the catalog and tag APIs page): pages are
/// asked for until one comes back short, or repeats where the last one ended.
fn paged(
    mut page: impl FnMut(Option<&str>) -> Result<Vec<String>, AuditError>,
) -> Result<Vec<String>, AuditError> {
    let mut all: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let entries = page(last.as_deref())?;
        let n = entries.len();
        let next = entries.last().cloned();
        all.extend(entries);
        if n < PAGE || next.is_none() || next == last {
            return Ok(all);
        }
        last = next;
    }
}

/// The items of the registry source `oci://source`.
pub fn list(source: &str, opts: &ImageOptions) -> Result<Vec<Item>, AuditError> {
    let (host, prefix) = split(source);
    // A placeholder reference: the client needs one to know the registry and its protocol.
    let reg = Registry::new(&format!("{host}/catalog:latest"), opts).map_err(|reason| {
        AuditError::Source {
            name: format!("oci://{source}"),
            reason,
        }
    })?;
    let mut repos = paged(|last| {
        reg.rt
            .block_on(
                reg.client
                    .catalog(&reg.reference, &reg.auth, Some(PAGE), last),
            )
            .map(|p| p.repositories)
            .map_err(|e| failed(source, "listing the catalog", &e))
    })?;
    repos.retain(|r| under(r, prefix));
    repos.sort();
    repos.dedup();
    let mut items = Vec::new();
    for repo in repos {
        let image: Reference =
            format!("{host}/{repo}:latest")
                .parse()
                .map_err(|e| AuditError::Source {
                    name: format!("oci://{source}"),
                    reason: format!("repository {repo:?}: {e}"),
                })?;
        let tags = paged(|last| {
            reg.rt
                .block_on(reg.client.list_tags(&image, &reg.auth, Some(PAGE), last))
                .map(|p| p.tags)
                .map_err(|e| failed(source, &format!("listing the tags of {repo}"), &e))
        })?;
        let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tag in tags {
            let tagged: Reference =
                format!("{host}/{repo}:{tag}")
                    .parse()
                    .map_err(|e| AuditError::Source {
                        name: format!("oci://{source}"),
                        reason: format!("tag {repo}:{tag}: {e}"),
                    })?;
            match reg
                .rt
                .block_on(reg.client.fetch_manifest_digest(&tagged, &reg.auth))
            {
                Ok(d) => by_digest.entry(d).or_default().push(tag),
                Err(e) => items.push(Item {
                    identity: format!("oci://{host}/{repo}:{tag}"),
                    what: What::Unreadable {
                        error: format!("cannot resolve the tag: {}", describe(&e)),
                    },
                }),
            }
        }
        for (digest, mut tags) in by_digest {
            tags.sort();
            items.push(Item {
                identity: format!("oci://{host}/{repo}@{digest}"),
                what: What::Image {
                    reference: format!("{host}/{repo}@{digest}"),
                    tags,
                },
            });
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_path_segments() {
        assert_eq!(
            split("localhost:5000/team/models/"),
            ("localhost:5000", "team/models")
        );
        assert_eq!(split("localhost:5000"), ("localhost:5000", ""));
        assert!(under("team/models/bert", "team/models"));
        assert!(under("team/models", "team/models"));
        assert!(!under("team/models-old/x", "team/models"));
        assert!(under("anything", ""));
    }
}
