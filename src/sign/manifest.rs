//! The model manifest: every file under the model root paired with its digest, built and compared
//! the way OpenSSF model signing (v1.0 predicate) does it.
//!
//! - Resource names are POSIX paths relative to the model root (`.` when the model is one file),
//!   ordered by path *components* (Python `PurePosixPath` order: `a/b` sorts before `a-b`).
//! - `files` serialization: one resource per file. `shards` serialization: one resource per
//!   `shard_size` slice, named `path:start:end` (end exclusive), algorithm
//!   `<hash>-sharded-<shard_size>`; empty files have no shard.
//! - Ignored paths are prefixes by component (`.git` ignores `.git/HEAD`), relative to the root.
//!   The git paths, the signature file and user paths are recorded in the predicate's
//!   `ignore_paths`, and a verifier ignores them again.
//! - Symbolic links are never followed: a link anywhere in the tree (outside ignored paths) is
//!   refused, as model_signing refuses it by default. Sockets, FIFOs and devices are refused too.
//! - The subject digest is SHA-256 over the concatenated raw resource digests, in payload order.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hash::{self, Algorithm, FileStamp, Job};

/// The predicate type of OpenSSF model signing v1.0 statements.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The pre-1.0 predicate type (one subject per file), accepted when verifying.
pub const PREDICATE_TYPE_V0: &str = "https://model_signing/Digests/v0.1";

/// Paths model_signing ignores by default (and records), relative to the model root.
pub const GIT_PATHS: [&str; 4] = [".git", ".github", ".gitattributes", ".gitignore"];

/// The default shard size of model_signing's `shards` serialization.
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// A problem with the files of the model tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{path} is a symbolic link; links are never followed (model_signing refuses them too). Replace it with the file it points to, or ignore it")]
    Symlink { path: PathBuf },
    #[error("{path} is not a regular file or directory (socket, FIFO or device)")]
    Special { path: PathBuf },
    #[error("{path}: file name is not valid UTF-8 and cannot be recorded in a manifest")]
    NonUtf8 { path: PathBuf },
    #[error("cannot list {path}: {detail}")]
    Walk { path: PathBuf, detail: String },
    #[error("ignore path {0:?} is outside the model directory")]
    IgnoreOutside(String),
}

/// A path relative to the model root, as components.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(Vec<String>);

impl RelPath {
    /// Parses a `/`-separated relative path; `.` components are dropped.
    pub fn parse(s: &str) -> Self {
        RelPath(
            s.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The root itself (the name of a single-file model).
    pub fn root() -> Self {
        RelPath(Vec::new())
    }

    /// Whether `self` is `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &RelPath) -> bool {
        self.0.len() >= prefix.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }

    /// POSIX form; the root is `.`.
    pub fn as_posix(&self) -> String {
        if self.0.is_empty() {
            ".".to_owned()
        } else {
            self.0.join("/")
        }
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_posix())
    }
}

/// Paths to leave out of a manifest: component prefixes relative to the model root.
#[derive(Debug, Clone, Default)]
pub struct IgnoreSet {
    paths: Vec<RelPath>,
}

impl IgnoreSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a root-relative path (`/`-separated). Paths that climb out of the root (`..`) are
    /// kept as given but match nothing.
    pub fn add(&mut self, rel: &str) {
        let p = RelPath::parse(rel);
        if !p.0.is_empty() && !self.paths.contains(&p) {
            self.paths.push(p);
        }
    }

    /// Adds `path` (absolute, or relative to the current directory) if it lies inside `root`;
    /// returns whether it did. Neither needs to exist.
    pub fn add_fs_path(&mut self, root: &Path, path: &Path) -> bool {
        match relative_inside(root, path) {
            Some(rel) if !rel.0.is_empty() => {
                if !self.paths.contains(&rel) {
                    self.paths.push(rel);
                }
                true
            }
            _ => false,
        }
    }

    pub fn matches(&self, p: &RelPath) -> bool {
        self.paths.iter().any(|i| p.starts_with(i))
    }

    /// The recorded form: POSIX strings, in insertion order.
    pub fn to_strings(&self) -> Vec<String> {
        self.paths.iter().map(RelPath::as_posix).collect()
    }
}

/// Lexically normalises an absolute path (resolving `.` and `..` without touching the disk).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
    };
    // Canonicalise the longest existing ancestor so `/tmp/x` and `/private/tmp/x` compare equal,
    // then append the rest lexically.
    let abs = normalize(&abs);
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(std::ffi::OsStr::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(&existing).unwrap_or(existing);
    for r in rest.into_iter().rev() {
        out.push(r);
    }
    out
}

/// `path` relative to `root` when it lies inside it (lexically, after resolving both).
pub fn relative_inside(root: &Path, path: &Path) -> Option<RelPath> {
    let root = absolute(root);
    let path = absolute(path);
    let rel = path.strip_prefix(&root).ok()?;
    let parts: Option<Vec<String>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().map(str::to_owned),
            _ => None,
        })
        .collect();
    parts.map(RelPath)
}

/// A file of the model tree, as listed before hashing.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub rel: RelPath,
    pub path: PathBuf,
    pub stamp: FileStamp,
}

/// Lists every regular file under `root` (or `root` itself if it is a file) that `ignore` does
/// not cover, sorted by path components. Refuses symbolic links and special files.
pub fn list_files(root: &Path, ignore: &IgnoreSet) -> Result<Vec<TreeFile>, TreeError> {
    let meta =
        std::fs::symlink_metadata(root).map_err(|_| TreeError::Missing(root.to_path_buf()))?;
    if meta.file_type().is_symlink() {
        return Err(TreeError::Symlink {
            path: root.to_path_buf(),
        });
    }
    if meta.is_file() {
        return Ok(vec![TreeFile {
            rel: RelPath::root(),
            path: root.to_path_buf(),
            stamp: FileStamp::of(&meta),
        }]);
    }
    if !meta.is_dir() {
        return Err(TreeError::Special {
            path: root.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.map_err(|e| TreeError::Walk {
            path: e
                .path()
                .map_or_else(|| root.to_path_buf(), Path::to_path_buf),
            detail: e.to_string(),
        })?;
        let path = entry.path();
        let rel_os = path.strip_prefix(root).unwrap_or(path);
        let mut parts = Vec::new();
        for c in rel_os.components() {
            let Some(s) = c.as_os_str().to_str() else {
                return Err(TreeError::NonUtf8 {
                    path: path.to_path_buf(),
                });
            };
            parts.push(s.to_owned());
        }
        let rel = RelPath(parts);
        let ft = entry.file_type();
        if ignore.matches(&rel) {
            if ft.is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        if ft.is_symlink() {
            return Err(TreeError::Symlink {
                path: path.to_path_buf(),
            });
        }
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            return Err(TreeError::Special {
                path: path.to_path_buf(),
            });
        }
        let meta = entry.metadata().map_err(|e| TreeError::Walk {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        out.push(TreeFile {
            rel,
            path: path.to_path_buf(),
            stamp: FileStamp::of(&meta),
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// How the model was serialized into resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// One resource per file.
    Files,
    /// One resource per `shard_size` bytes of each file.
    Shards { shard_size: u64 },
}

/// The predicate's `serialization` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serialization {
    pub method: Method,
    pub hash: Algorithm,
    pub allow_symlinks: bool,
    pub ignore_paths: Vec<String>,
}

impl Serialization {
    /// The JSON form, keys in model_signing's order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let method = match self.method {
            Method::Files => "files",
            Method::Shards { .. } => "shards",
        };
        m.insert("method".into(), method.into());
        m.insert("hash_type".into(), self.hash.name().into());
        if let Method::Shards { shard_size } = self.method {
            m.insert("shard_size".into(), shard_size.into());
        }
        m.insert("allow_symlinks".into(), self.allow_symlinks.into());
        if !self.ignore_paths.is_empty() {
            m.insert("ignore_paths".into(), self.ignore_paths.clone().into());
        }
        serde_json::Value::Object(m)
    }

    /// Parses the JSON form, accepting what model_signing writes (protobuf `Struct` numbers are
    /// doubles, so `shard_size` may be `8.0`).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, ManifestError> {
        let method = v
            .get("method")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let hash_name = v
            .get("hash_type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let hash = Algorithm::from_name(hash_name)
            .ok_or_else(|| ManifestError::UnsupportedHash(hash_name.to_owned()))?;
        let method = match method {
            "files" => Method::Files,
            "shards" => {
                let size = v.get("shard_size").and_then(json_u64).ok_or_else(|| {
                    ManifestError::Malformed(
                        "shards serialization without a positive integer shard_size".into(),
                    )
                })?;
                if size == 0 {
                    return Err(ManifestError::Malformed("shard_size is 0".into()));
                }
                Method::Shards { shard_size: size }
            }
            other => return Err(ManifestError::UnknownSerialization(other.to_owned())),
        };
        let allow_symlinks = match v.get("allow_symlinks") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let ignore_paths = v
            .get("ignore_paths")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Serialization {
            method,
            hash,
            allow_symlinks,
            ignore_paths,
        })
    }

    /// The algorithm string recorded on each resource.
    pub fn resource_algorithm(&self) -> String {
        match self.method {
            Method::Files => self.hash.name().to_owned(),
            Method::Shards { shard_size } => format!("{}-sharded-{shard_size}", self.hash.name()),
        }
    }
}

fn json_u64(v: &serde_json::Value) -> Option<u64> {
    if let Some(u) = v.as_u64() {
        return Some(u);
    }
    let f = v.as_f64()?;
    // Integral doubles up to 2^53 are exact.
    (f.is_finite() && f >= 1.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0)
        .then_some(f as u64)
}

/// A problem with a manifest (in a statement or while building one).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("unsupported hash algorithm {0:?} (supported: sha256, blake2b, blake3)")]
    UnsupportedHash(String),
    #[error("unknown serialization method {0:?} (supported: files, shards)")]
    UnknownSerialization(String),
    #[error("malformed manifest: {0}")]
    Malformed(String),
    #[error("manifest is inconsistent: the subject digest is {claimed} but the resources hash to {computed}")]
    Inconsistent { claimed: String, computed: String },
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Hash(#[from] hash::HashError),
}

/// One resource of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `path` (files) or `path:start:end` (shards).
    pub name: String,
    pub algorithm: String,
    /// Hex digest.
    pub digest: String,
}

/// A manifest: what a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Informational model name (the directory or file name).
    pub model_name: String,
    pub serialization: Serialization,
    /// In payload order.
    pub resources: Vec<Resource>,
}

/// The OMS v1.0 predicate as written.
#[derive(Debug, Clone, Serialize)]
pub struct OmsPredicate {
    pub serialization: serde_json::Value,
    pub resources: Vec<Resource>,
}

impl Manifest {
    /// SHA-256 over the concatenated raw digests of the resources, in order (the subject digest).
    pub fn root_digest(&self) -> Result<String, ManifestError> {
        let mut h = Algorithm::Sha256.hasher();
        for r in &self.resources {
            let raw = hex::decode(&r.digest).map_err(|_| {
                ManifestError::Malformed(format!("digest of {:?} is not hex", r.name))
            })?;
            h.update(&raw);
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Total number of distinct files the manifest covers.
    pub fn file_count(&self) -> usize {
        let mut names: Vec<&str> = self
            .resources
            .iter()
            .map(|r| resource_path(&r.name, &self.serialization.method))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }

    /// The OMS predicate.
    pub fn predicate(&self) -> OmsPredicate {
        OmsPredicate {
            serialization: self.serialization.to_json(),
            resources: self.resources.clone(),
        }
    }

    /// Reads a manifest from a verified v1.0 statement (checking the subject digest), or from a
    /// pre-1.0 `Digests/v0.1` statement (one subject per file, sha256).
    pub fn from_statement(
        st: &crate::sign::bundle::Statement<serde_json::Value>,
    ) -> Result<Self, crate::sign::VerifyError> {
        use crate::sign::VerifyError;
        if st.predicate_type == PREDICATE_TYPE_V0 {
            let resources = st
                .subject
                .iter()
                .map(|s| {
                    let d = s.digest.get("sha256").ok_or_else(|| {
                        VerifyError::Manifest(ManifestError::Malformed(format!(
                            "subject {:?} has no sha256 digest",
                            s.name
                        )))
                    })?;
                    Ok(Resource {
                        name: s.name.clone(),
                        algorithm: "sha256".into(),
                        digest: d.to_ascii_lowercase(),
                    })
                })
                .collect::<Result<Vec<_>, VerifyError>>()?;
            return Ok(Manifest {
                model_name: String::new(),
                serialization: Serialization {
                    method: Method::Files,
                    hash: Algorithm::Sha256,
                    allow_symlinks: false,
                    ignore_paths: Vec::new(),
                },
                resources,
            });
        }
        if st.predicate_type != PREDICATE_TYPE {
            return Err(VerifyError::UnknownPredicate(st.predicate_type.clone()));
        }
        let [subject] = st.subject.as_slice() else {
            return Err(VerifyError::Manifest(ManifestError::Malformed(format!(
                "expected exactly one subject, found {}",
                st.subject.len()
            ))));
        };
        let claimed = subject.digest.get("sha256").cloned().ok_or_else(|| {
            VerifyError::Manifest(ManifestError::Malformed(
                "the subject has no sha256 digest".into(),
            ))
        })?;
        let ser = st.predicate.get("serialization").ok_or_else(|| {
            VerifyError::Manifest(ManifestError::Malformed(
                "the predicate has no serialization".into(),
            ))
        })?;
        let serialization = Serialization::from_json(ser).map_err(VerifyError::Manifest)?;
        let resources: Vec<Resource> = st
            .predicate
            .get("resources")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| {
                VerifyError::Manifest(ManifestError::Malformed(format!("resources: {e}")))
            })?
            .unwrap_or_default();
        let m = Manifest {
            model_name: subject.name.clone(),
            serialization,
            resources: resources
                .into_iter()
                .map(|r| Resource {
                    digest: r.digest.to_ascii_lowercase(),
                    ..r
                })
                .collect(),
        };
        let mut names: Vec<&str> = m.resources.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w.first() == w.get(1)) {
            return Err(VerifyError::Manifest(ManifestError::Malformed(format!(
                "resource {:?} is listed twice",
                w.first().copied().unwrap_or_default()
            ))));
        }
        let computed = m.root_digest().map_err(VerifyError::Manifest)?;
        if !computed.eq_ignore_ascii_case(&claimed) {
            return Err(VerifyError::Manifest(ManifestError::Inconsistent {
                claimed,
                computed,
            }));
        }
        Ok(m)
    }
}

/// The file path part of a resource name.
fn resource_path<'a>(name: &'a str, method: &Method) -> &'a str {
    match method {
        Method::Files => name,
        Method::Shards { .. } => {
            // path:start:end — the path may itself contain ':'.
            let mut it = name.rsplitn(3, ':');
            let (_, _, p) = (it.next(), it.next(), it.next());
            p.unwrap_or(name)
        }
    }
}

/// The shard boundaries of a file of `len` bytes (model_signing's `_endpoints`).
pub fn shard_ranges(len: u64, shard_size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut start = 0u64;
    while start < len {
        let end = start.saturating_add(shard_size.max(1)).min(len);
        out.push((start, end));
        start = end;
    }
    out
}

/// Hashes the listed files into a manifest with `serialization`, on `threads` threads.
/// `progress` receives byte counts.
pub fn build(
    model_name: &str,
    files: &[TreeFile],
    serialization: Serialization,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Manifest, ManifestError> {
    let mut jobs = Vec::new();
    let mut names = Vec::new();
    for f in files {
        match serialization.method {
            Method::Files => {
                jobs.push(Job {
                    path: f.path.clone(),
                    range: None,
                    expected: Some(f.stamp.clone()),
                });
                names.push((f.rel.as_posix(), 0, 0));
            }
            Method::Shards { shard_size } => {
                for (s, e) in shard_ranges(f.stamp.len, shard_size) {
                    jobs.push(Job {
                        path: f.path.clone(),
                        range: Some((s, e)),
                        expected: Some(f.stamp.clone()),
                    });
                    names.push((f.rel.as_posix(), s, e));
                }
            }
        }
    }
    let digests = hash::hash_many(serialization.hash, &jobs, threads, progress)?;
    let algorithm = serialization.resource_algorithm();
    let resources = names
        .into_iter()
        .zip(digests)
        .map(|((name, s, e), h)| Resource {
            name: match serialization.method {
                Method::Files => name,
                Method::Shards { .. } => format!("{name}:{s}:{e}"),
            },
            algorithm: algorithm.clone(),
            digest: hex::encode(h.digest),
        })
        .collect();
    Ok(Manifest {
        model_name: model_name.to_owned(),
        serialization,
        resources,
    })
}

/// Re-lists files and checks that each still has the stamp recorded in `files` (used after the
/// scan and hashing of a signing run, so a file swapped in between is caught).
pub fn check_unchanged(files: &[TreeFile]) -> Result<(), hash::HashError> {
    for f in files {
        let now = std::fs::symlink_metadata(&f.path).map_err(|source| hash::HashError::Io {
            path: f.path.clone(),
            source,
        })?;
        if FileStamp::of(&now) != f.stamp {
            return Err(hash::HashError::Changed {
                path: f.path.clone(),
                detail: "between listing, scanning and hashing".into(),
            });
        }
    }
    Ok(())
}

/// How a local tree differs from a signed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Present locally, not in the signature.
    pub added: Vec<String>,
    /// In the signature, missing locally.
    pub removed: Vec<String>,
    /// Present in both with different digests (or algorithms).
    pub modified: Vec<String>,
    /// Resources that match.
    pub unchanged: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.modified.is_empty()
    }
}

/// Compares two manifests by resource name → (algorithm, digest). Names are reported as file
/// paths (shards are folded into their file).
pub fn diff(expected: &Manifest, actual: &Manifest) -> Diff {
    let method = &expected.serialization.method;
    let exp: BTreeMap<&str, (&str, &str)> = expected
        .resources
        .iter()
        .map(|r| (r.name.as_str(), (r.algorithm.as_str(), r.digest.as_str())))
        .collect();
    let act: BTreeMap<&str, (&str, &str)> = actual
        .resources
        .iter()
        .map(|r| (r.name.as_str(), (r.algorithm.as_str(), r.digest.as_str())))
        .collect();
    let mut d = Diff::default();
    let push = |v: &mut Vec<String>, name: &str| {
        let p = resource_path(name, method).to_owned();
        if !v.contains(&p) {
            v.push(p);
        }
    };
    for (name, e) in &exp {
        match act.get(name) {
            None => push(&mut d.removed, name),
            Some(a) if !(a.0 == e.0 && a.1.eq_ignore_ascii_case(e.1)) => {
                push(&mut d.modified, name);
            }
            Some(_) => d.unchanged += 1,
        }
    }
    for name in act.keys() {
        if !exp.contains_key(name) {
            push(&mut d.added, name);
        }
    }
    // A file whose shards were both removed and added (it changed size) is "modified".
    let moved: Vec<String> = d
        .added
        .iter()
        .filter(|a| d.removed.contains(a))
        .cloned()
        .collect();
    for m in moved {
        d.added.retain(|x| *x != m);
        d.removed.retain(|x| *x != m);
        if !d.modified.contains(&m) {
            d.modified.push(m);
        }
    }
    d.added.sort();
    d.removed.sort();
    d.modified.sort();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_order_matches_python() {
        let mut v = [
            RelPath::parse("a-b"),
            RelPath::parse("a/b"),
            RelPath::parse("a.b"),
            RelPath::parse("B"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(RelPath::as_posix).collect();
        assert_eq!(s, ["B", "a/b", "a-b", "a.b"]);
    }

    #[test]
    fn shard_ranges_follow_model_signing() {
        assert_eq!(shard_ranges(10, 8), vec![(0, 8), (8, 10)]);
        assert_eq!(shard_ranges(8, 8), vec![(0, 8)]);
        assert!(shard_ranges(0, 8).is_empty());
    }

    #[test]
    fn ignore_is_by_component_prefix() {
        let mut i = IgnoreSet::new();
        i.add(".git/");
        i.add("sub/x");
        assert!(i.matches(&RelPath::parse(".git/HEAD")));
        assert!(i.matches(&RelPath::parse("sub/x")));
        assert!(i.matches(&RelPath::parse("sub/x/y")));
        assert!(!i.matches(&RelPath::parse("sub/xy")));
        assert!(!i.matches(&RelPath::parse(".gitx")));
        assert_eq!(i.to_strings(), [".git", "sub/x"]);
    }

    #[test]
    fn serialization_round_trip_and_float_shard_size() {
        let v = serde_json::json!({"method":"shards","hash_type":"sha256","shard_size":8.0,"allow_symlinks":false,"ignore_paths":["model.sig"]});
        let s = Serialization::from_json(&v).expect("parse");
        assert_eq!(s.method, Method::Shards { shard_size: 8 });
        assert_eq!(s.resource_algorithm(), "sha256-sharded-8");
        let bad = serde_json::json!({"method":"tensors","hash_type":"sha256"});
        assert!(matches!(
            Serialization::from_json(&bad),
            Err(ManifestError::UnknownSerialization(_))
        ));
        let bad = serde_json::json!({"method":"files","hash_type":"md5"});
        assert!(matches!(
            Serialization::from_json(&bad),
            Err(ManifestError::UnsupportedHash(_))
        ));
    }

    #[test]
    fn diff_reports_each_kind() {
        let ser = Serialization {
            method: Method::Files,
            hash: Algorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![],
        };
        let r = |n: &str, d: &str| Resource {
            name: n.into(),
            algorithm: "sha256".into(),
            digest: d.into(),
        };
        let a = Manifest {
            model_name: "m".into(),
            serialization: ser.clone(),
            resources: vec![r("a", "00"), r("b", "11"), r("c", "22")],
        };
        let b = Manifest {
            model_name: "m".into(),
            serialization: ser,
            resources: vec![r("a", "00"), r("b", "12"), r("d", "33")],
        };
        let d = diff(&a, &b);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["c"]);
        assert_eq!(d.modified, ["b"]);
        assert_eq!(d.unchanged, 1);
    }
}
