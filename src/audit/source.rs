//! What an audit reads: local trees, named by the layout they follow, and registries
//! ([`super::oci`]). Listing only: nothing here opens a file's content.
//!
//! Layouts recognised (on the path's components, wherever the tree is rooted):
//! - Hugging Face cache: `models--ORG--NAME/snapshots/REV/FILE` is `hf://ORG/NAME@REV/FILE`
//!   (`datasets--…` and `spaces--…` are `hf://datasets/…`, `hf://spaces/…`). Snapshot files are
//!   symbolic links into `blobs/`; a link that stays inside the audited tree is followed, so a
//!   blob shared by several snapshots is read once (same inode, same stamp, same sha256) and
//!   reported under every snapshot. A blob no snapshot names is audited as `hf://ORG/NAME/blobs/…`.
//! - MLflow: `mlruns/EXP/RUN/artifacts/PATH` and `mlartifacts/EXP/RUN/artifacts/PATH` are
//!   `runs:/RUN/PATH`; a logged model `EXP/models/MODEL_ID/artifacts/PATH` is
//!   `models:/MODEL_ID/PATH`.
//! - DVC cache: `.dvc/cache/files/md5/AB/CDEF…` (DVC 3) and `.dvc/cache/AB/CDEF…` (DVC 2) are
//!   `dvc:md5:ABCDEF…`.
//! - Anything else: the path, as `modelgate scan` shows it.
//!
//! Symbolic links are not followed out of the tree; a link that leaves it, a broken link, a
//! link to a directory, a socket or a directory that cannot be read is listed as unscanned with
//! the reason, never dropped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::dirs;

/// One artifact to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The artifact's name in the report (its layout name, or its path); unique in a run, and
    /// what the shard is chosen by.
    pub identity: String,
    pub what: What,
}

/// Where an artifact's content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A file, scanned under the name of `path` (which may be a link inside the tree) and read
    /// (stat, hash) at `real` (the link's target, or `path` itself).
    File { path: PathBuf, real: PathBuf },
    /// An image manifest in a registry: `HOST/REPO@sha256:…`, and the tags naming it.
    Image {
        reference: String,
        tags: Vec<String>,
    },
    /// Listed but deliberately not read, because no loader can read model bytes through it (a
    /// broken link, a link to a directory); the reason says why. Reported as skipped.
    Unscanned { reason: String },
    /// Something that may hold models but could not be read (a directory the walk cannot
    /// enter, a registry tag that does not resolve, a model version that cannot be fetched).
    /// Reported as failed: what cannot be inspected is never clean.
    Unreadable { error: String },
}

/// The text of a path component, lossily (borrowed when it is UTF-8, as it nearly always is:
/// this runs for every listed file).
fn text<'p>(c: &Component<'p>) -> Cow<'p, str> {
    c.as_os_str().to_string_lossy()
}

/// `models--ORG--NAME` → `ORG/NAME` with its kind prefix (`datasets/`, `spaces/`), if it is one.
fn hf_repo(dir: &str) -> Option<String> {
    let (kind, rest) = dir.split_once("--")?;
    let prefix = match kind {
        "models" => "",
        "datasets" => "datasets/",
        "spaces" => "spaces/",
        _ => return None,
    };
    (!rest.is_empty()).then(|| format!("{prefix}{}", rest.replace("--", "/")))
}

fn join(parts: &[Cow<'_, str>]) -> String {
    parts.join("/")
}

/// The layout name of the file at `path`, if it follows a layout this module knows.
pub fn layout_name(path: &Path) -> Option<String> {
    let parts: Vec<Cow<'_, str>> = path.components().map(|c| text(&c)).collect();
    // Search from the end: the innermost layout names the file.
    for i in (0..parts.len()).rev() {
        let here = parts.get(i).map_or("", |p| &**p);
        let rest = parts.get(i + 1..).unwrap_or_default();
        if let Some(repo) = hf_repo(here) {
            return Some(match rest {
                [s, rev, file @ ..] if s == "snapshots" && !file.is_empty() => {
                    format!("hf://{repo}@{rev}/{}", join(file))
                }
                _ => format!("hf://{repo}/{}", join(rest)),
            });
        }
        if here == "mlruns" || here == "mlartifacts" {
            match rest {
                [_exp, run, a, file @ ..] if a == "artifacts" && !file.is_empty() => {
                    return Some(format!("runs:/{run}/{}", join(file)));
                }
                [_exp, m, id, a, file @ ..]
                    if m == "models" && a == "artifacts" && !file.is_empty() =>
                {
                    return Some(format!("models:/{id}/{}", join(file)));
                }
                _ => {}
            }
        }
        if here == ".dvc" {
            match rest {
                [c, f, alg, ab, cd] if c == "cache" && f == "files" => {
                    return Some(format!("dvc:{alg}:{ab}{cd}"));
                }
                [c, ab, cd] if c == "cache" && ab.len() == 2 => {
                    return Some(format!("dvc:md5:{ab}{cd}"));
                }
                _ => {}
            }
        }
    }
    None
}

/// A listing in progress: items by identity (a second item with the same layout name falls back
/// to its path, so nothing is hidden behind a duplicate name).
#[derive(Default)]
pub struct Listing {
    items: BTreeMap<String, What>,
    /// Canonical paths of files reached through a followed link (HF blobs named by snapshots).
    linked: BTreeSet<PathBuf>,
    /// Blobs under an HF `blobs/` directory, kept until every snapshot link is known.
    blobs: Vec<(String, PathBuf, PathBuf)>,
}

impl Listing {
    fn add(&mut self, name: Option<String>, shown: String, what: What) {
        let identity = match name {
            Some(n) if !self.items.contains_key(&n) => n,
            _ => shown,
        };
        self.items.entry(identity).or_insert(what);
    }

    /// Adds an item read from a registry.
    pub fn add_item(&mut self, item: Item) {
        self.add(None, item.identity, item.what);
    }

    /// Lists the tree at `root`, shown as `shown` (as given on the command line), reusing the
    /// directory listings of `previous` that are provably unchanged ([`dirs::walk`]); returns
    /// the listings to keep for the next run.
    pub fn add_tree(&mut self, root: &Path, shown: &str, previous: dirs::Listings) -> dirs::Walked {
        let meta = std::fs::symlink_metadata(root);
        if meta.as_ref().is_ok_and(std::fs::Metadata::is_file) {
            self.add(
                layout_name(root),
                shown.to_owned(),
                What::File {
                    path: root.to_path_buf(),
                    real: root.to_path_buf(),
                },
            );
            return dirs::Walked {
                changed: !previous.is_empty(),
                ..dirs::Walked::default()
            };
        }
        let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        dirs::walk(root, previous, &mut |event| match event {
            dirs::Event::Unreadable { path, error } => {
                let shown = display(root, shown, path);
                self.add(None, shown, What::Unreadable { error });
            }
            dirs::Event::Entry { path, kind } => {
                let shown_path = display(root, shown, path);
                match kind {
                    dirs::Kind::Dir => {}
                    dirs::Kind::File if is_hf_blob(path) => {
                        self.blobs
                            .push((shown_path, path.to_path_buf(), canonical(path)));
                    }
                    dirs::Kind::File => self.add(
                        layout_name(path),
                        shown_path,
                        What::File {
                            path: path.to_path_buf(),
                            real: path.to_path_buf(),
                        },
                    ),
                    dirs::Kind::Symlink => {
                        let what = follow(path, &canonical_root);
                        if let What::File { real, .. } = &what {
                            self.linked.insert(real.clone());
                        }
                        self.add(layout_name(path), shown_path, what);
                    }
                    dirs::Kind::Other => self.add(
                        layout_name(path),
                        shown_path,
                        What::Unreadable {
                            error: NOT_REGULAR.into(),
                        },
                    ),
                }
            }
        })
    }

    /// The items, sorted by identity. HF blobs that no snapshot links to are audited under their
    /// own name.
    pub fn finish(mut self) -> Vec<Item> {
        for (shown, path, canonical) in std::mem::take(&mut self.blobs) {
            if !self.linked.contains(&canonical) {
                let real = path.clone();
                self.add(layout_name(&path), shown, What::File { path, real });
            }
        }
        self.items
            .into_iter()
            .map(|(identity, what)| Item { identity, what })
            .collect()
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Whether `path` is a file directly in a Hugging Face repository's `blobs/` directory.
fn is_hf_blob(path: &Path) -> bool {
    let mut up = path.ancestors().skip(1);
    let blobs = up.next().and_then(Path::file_name);
    let repo = up.next().and_then(Path::file_name);
    blobs.is_some_and(|b| b == "blobs")
        && repo.is_some_and(|r| hf_repo(&r.to_string_lossy()).is_some())
}

/// How `path` is shown: `shown` (the root as given) joined with the part below the root.
fn display(root: &Path, shown: &str, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => shown.to_owned(),
        Ok(rel) => format!("{}/{}", shown.trim_end_matches('/'), rel.to_string_lossy()),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

/// Why a FIFO, socket or device under a model's name is failed rather than skipped: a loader
/// opening that name reads whatever it yields, which the audit cannot inspect.
pub const NOT_REGULAR: &str = "not a regular file (a FIFO, socket or device a loader could still \
                               open): not inspected";

/// A symbolic link inside the tree: followed when it ends at a regular file inside the tree.
fn follow(link: &Path, root: &Path) -> What {
    let to = std::fs::read_link(link)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    let unscanned = |reason: String| What::Unscanned { reason };
    match link.canonicalize() {
        Err(_) => unscanned(format!("broken symbolic link to {to}")),
        // A loader opening the link reads the target: not inspected, so never clean.
        Ok(target) if !target.starts_with(root) => What::Unreadable {
            error: format!(
                "symbolic link to {to}, outside the audited tree (not followed; a loader would \
                 follow it): audit the target's tree too"
            ),
        },
        Ok(target) if target.is_file() => What::File {
            path: link.to_path_buf(),
            real: target,
        },
        Ok(_) => unscanned(format!(
            "symbolic link to {to}, not a regular file (not followed)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_name_their_files() {
        let n = |p: &str| layout_name(Path::new(p));
        assert_eq!(
            n("/c/hub/models--google--bert/snapshots/abc123/onnx/model.onnx").as_deref(),
            Some("hf://google/bert@abc123/onnx/model.onnx")
        );
        assert_eq!(
            n("hub/datasets--org--d/snapshots/r1/data.pkl").as_deref(),
            Some("hf://datasets/org/d@r1/data.pkl")
        );
        assert_eq!(
            n("hub/models--gpt2/refs/main").as_deref(),
            Some("hf://gpt2/refs/main")
        );
        assert_eq!(
            n("/srv/mlruns/1/0a1b/artifacts/model/model.pkl").as_deref(),
            Some("runs:/0a1b/model/model.pkl")
        );
        assert_eq!(
            n("/srv/mlruns/1/models/m-42/artifacts/model.pkl").as_deref(),
            Some("models:/m-42/model.pkl")
        );
        assert_eq!(n("/srv/mlruns/1/0a1b/meta.yaml"), None);
        assert_eq!(
            n("/repo/.dvc/cache/files/md5/ab/cdef").as_deref(),
            Some("dvc:md5:abcdef")
        );
        assert_eq!(
            n("/repo/.dvc/cache/ab/cdef").as_deref(),
            Some("dvc:md5:abcdef")
        );
        assert_eq!(n("/plain/models/x.pt"), None);
    }
}
