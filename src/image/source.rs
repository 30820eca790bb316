//! Offline image sources: an OCI image-layout directory, a tar of one (also Docker ≥ 25 `docker
//! save` output), and the legacy `docker save` tarball (`manifest.json` + `<id>/layer.tar`).
//!
//! Tar archives are indexed once (member name → byte range) and blobs are then read in place, so
//! a multi-gigabyte image tarball is never copied or unpacked.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::model::{Descriptor, Digest, MAX_DOCUMENT};
use crate::artifact::Window;

/// A blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing")]
    Missing(String),
    #[error("{0}")]
    Other(String),
    /// The registry refused or could not be reached; the whole image is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> Self {
        BlobError::Other(e.to_string())
    }
}

/// Where manifests and blobs come from.
pub trait Store {
    /// A manifest or index document, read whole (at most [`MAX_DOCUMENT`] bytes plus one, so the
    /// caller can tell an oversized document).
    fn manifest(&mut self, d: &Descriptor) -> Result<Vec<u8>, BlobError>;
    /// A blob as a stream (verified by the caller while reading).
    fn blob(&mut self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, BlobError>;
    /// A small blob (an image config) read whole, at most [`MAX_DOCUMENT`] bytes plus one.
    fn small_blob(&mut self, d: &Descriptor) -> Result<Vec<u8>, BlobError> {
        let mut r = self.blob(d)?;
        Ok(read_capped(&mut r, MAX_DOCUMENT)?)
    }
}

/// Reads up to `cap + 1` bytes (so callers detect oversize).
pub fn read_capped(r: &mut dyn Read, cap: u64) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(cap.saturating_add(1)).read_to_end(&mut v)?;
    Ok(v)
}

/// The path of a blob inside a layout: `blobs/<alg>/<hex>` (digest validated first).
fn blob_path(d: &Descriptor) -> Result<String, BlobError> {
    let dg = Digest::parse(&d.digest)
        .ok_or_else(|| BlobError::Other(format!("invalid digest {:?}", d.digest)))?;
    Ok(format!("blobs/{}/{}", dg.algorithm, dg.hex))
}

/// An OCI image-layout directory.
pub struct LayoutDir {
    root: PathBuf,
}

impl LayoutDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// `index.json`, the layout's entry point.
    pub fn index(&self) -> Result<Vec<u8>, BlobError> {
        let mut f = File::open(self.root.join("index.json"))
            .map_err(|e| BlobError::Other(format!("index.json: {e}")))?;
        Ok(read_capped(&mut f, MAX_DOCUMENT)?)
    }

    fn open(&self, d: &Descriptor) -> Result<File, BlobError> {
        let p = self.root.join(blob_path(d)?);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(BlobError::Missing(d.digest.clone()))
            }
            Err(e) => Err(BlobError::Other(format!("{}: {e}", p.display()))),
        }
    }
}

impl Store for LayoutDir {
    fn manifest(&mut self, d: &Descriptor) -> Result<Vec<u8>, BlobError> {
        let mut f = self.open(d)?;
        Ok(read_capped(&mut f, MAX_DOCUMENT)?)
    }

    fn blob(&mut self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, BlobError> {
        Ok(Box::new(BufReader::with_capacity(
            1024 * 1024,
            self.open(d)?,
        )))
    }
}

/// One member of an indexed tar.
#[derive(Debug, Clone)]
enum Member {
    File { start: u64, len: u64 },
    Link(String),
}

/// Most members indexed in one image tarball.
const MAX_TAR_MEMBERS: usize = 1_000_000;

/// A tar archive holding an image (OCI layout, Docker ≥ 25 or legacy `docker save`), indexed once.
pub struct ImageTar {
    path: PathBuf,
    members: BTreeMap<String, Member>,
}

fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

impl ImageTar {
    /// Indexes the members of an (uncompressed) tar file.
    pub fn open(path: &Path) -> Result<Self, BlobError> {
        let f =
            File::open(path).map_err(|e| BlobError::Other(format!("{}: {e}", path.display())))?;
        let mut archive = tar::Archive::new(BufReader::new(f));
        let mut members = BTreeMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| BlobError::Other(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| BlobError::Other(format!("tar: {e}")))?;
            if members.len() >= MAX_TAR_MEMBERS {
                return Err(BlobError::Other(format!(
                    "more than {MAX_TAR_MEMBERS} members"
                )));
            }
            let name = clean(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // Symlink targets are relative to the link's directory; hard links to the root.
                let resolved = if kind.is_symlink() && !target.starts_with('/') {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    clean(&format!("{dir}/{target}"))
                } else {
                    clean(&target)
                };
                members.insert(name, Member::Link(resolved));
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                members.insert(
                    name,
                    Member::File {
                        start: entry.raw_file_position(),
                        len: entry.size(),
                    },
                );
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            members,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.members
            .range(prefix.to_owned()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// `(start, len)` of a member, following up to 8 links.
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = clean(name);
        for _ in 0..8 {
            match self.members.get(&n)? {
                Member::File { start, len } => return Some((*start, *len)),
                Member::Link(t) => n = t.clone(),
            }
        }
        None
    }

    /// Opens a member by name.
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read + Send>, BlobError> {
        let (start, len) = self
            .locate(name)
            .ok_or_else(|| BlobError::Missing(name.to_owned()))?;
        let f = File::open(&self.path)?;
        Ok(Box::new(Window::new(
            BufReader::with_capacity(1024 * 1024, f),
            start,
            len,
        )?))
    }

    pub fn read_member(&self, name: &str, cap: u64) -> Result<Vec<u8>, BlobError> {
        let mut r = self.open_member(name)?;
        Ok(read_capped(&mut r, cap)?)
    }

    fn member_for(d: &Descriptor) -> Result<String, BlobError> {
        match &d.path {
            Some(p) => Ok(p.clone()),
            None => blob_path(d),
        }
    }
}

impl Store for ImageTar {
    fn manifest(&mut self, d: &Descriptor) -> Result<Vec<u8>, BlobError> {
        let name = Self::member_for(d)?;
        self.read_member(&name, MAX_DOCUMENT).map_err(|e| match e {
            BlobError::Missing(_) => BlobError::Missing(d.digest.clone()),
            e => e,
        })
    }

    fn blob(&mut self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, BlobError> {
        let name = Self::member_for(d)?;
        self.open_member(&name).map_err(|e| match e {
            BlobError::Missing(_) => BlobError::Missing(if d.digest.is_empty() {
                name.clone()
            } else {
                d.digest.clone()
            }),
            e => e,
        })
    }
}

/// One image of a legacy `docker save` archive (`manifest.json` entry).
#[derive(Debug, Clone)]
pub struct LegacyEntry {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

/// Parses a legacy `manifest.json`.
pub fn parse_legacy_manifest(bytes: &[u8]) -> Result<Vec<LegacyEntry>, String> {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(rename = "Config")]
        config: String,
        #[serde(rename = "RepoTags", default)]
        repo_tags: Option<Vec<String>>,
        #[serde(rename = "Layers", default)]
        layers: Vec<String>,
    }
    let v: Vec<E> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(v.into_iter()
        .take(super::model::MAX_ENTRIES)
        .map(|e| LegacyEntry {
            config: e.config,
            repo_tags: e.repo_tags.unwrap_or_default(),
            layers: e.layers,
        })
        .collect())
}

/// Whether a directory is an OCI image layout (`oci-layout` + `index.json`).
pub fn is_layout_dir(p: &Path) -> bool {
    p.is_dir() && p.join("oci-layout").is_file() && p.join("index.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(clean("abc/../def/layer.tar"), "def/layer.tar");
        assert_eq!(clean("../../x"), "x");
    }

    #[test]
    fn legacy_manifest() {
        let m = parse_legacy_manifest(
            br#"[{"Config":"a.json","RepoTags":["x:1"],"Layers":["l1/layer.tar"]}]"#,
        )
        .expect("parse");
        assert_eq!(m.first().map(|e| e.layers.len()), Some(1));
        assert!(parse_legacy_manifest(b"{}").is_err());
    }
}
