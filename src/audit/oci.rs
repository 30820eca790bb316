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
    let mut repos: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = reg
            .rt
            .block_on(
                reg.client
                    .catalog(&reg.reference, &reg.auth, Some(PAGE), last.as_deref()),
            )
            .map_err(|e| failed(source, "listing the catalog", &e))?;
        let n = page.repositories.len();
        let next = page.repositories.last().cloned();
        repos.extend(page.repositories);
        if n < PAGE || next.is_none() || next == last {
            break;
        }
        last = next;
    }
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
        let mut tags: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = reg
                .rt
                .block_on(
                    reg.client
                        .list_tags(&image, &reg.auth, Some(PAGE), last.as_deref()),
                )
                .map_err(|e| failed(source, &format!("listing the tags of {repo}"), &e))?;
            let n = page.tags.len();
            let next = page.tags.last().cloned();
            tags.extend(page.tags);
            if n < PAGE || next.is_none() || next == last {
                break;
            }
            last = next;
        }
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
                    what: What::Unscanned {
                        reason: format!("cannot resolve the tag: {}", describe(&e)),
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
