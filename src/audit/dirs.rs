//! The walk of a local tree, reusing the previous run's directory listings where the file system
//! proves nothing changed.
//!
//! Why this is sound: a directory's entries (names and types) change only by creating, removing
//! or renaming an entry in it, and each of those sets the directory's mtime and ctime to the
//! current time. `ctime` cannot be set back by an unprivileged user (`touch -d` moves `mtime` and
//! sets `ctime` to now). So a directory found with the same device, inode, size, mtime and ctime
//! as when it was listed has the same entries, and is not read again: it is only `lstat`ed. A
//! directory replaced by another (a rename, a mount) has another inode or device; one that cannot
//! be `lstat`ed, or whose stamp differs in any way, is read again.
//!
//! What this does not trust (read again, every time): a listing taken while the directory was
//! recently changed. File-system timestamps come from a coarse clock (a few milliseconds, and one
//! or two seconds on some file systems), so a change made just after the listing, in the same
//! tick, would leave the stamp as it was. A listing counts only when the directory's mtime and
//! ctime were at least [`SETTLED`] older than the walk's start (by this machine's clock); anything
//! stamped later, or in the future, is read again on the next run.
//!
//! Only names and types are reused: a symbolic link is resolved again and every file is stat'ed
//! again by the audit on every run, and a directory's own listing says nothing about its
//! subdirectories, each of which is checked by its own stamp. The order of the walk is walkdir's
//! (each directory's entries sorted by file name, depth first), which decides which of two files
//! with the same layout name keeps it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::hash::FileStamp;

/// How much older than the walk a directory's mtime and ctime must be for its listing to be
/// kept: above the timestamp granularity of common file systems (2 s on FAT, 1 s on ext3) plus
/// the coarse clock's lag.
pub const SETTLED: Duration = Duration::from_secs(3);

/// The start of an encoded [`Listings`]; another version is not read (everything is read again).
const MAGIC: &[u8] = b"modelgate-dirs-1\n";

/// An entry's type, as the directory reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

impl Kind {
    fn of(t: FileType) -> Kind {
        if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        }
    }

    fn code(self) -> u8 {
        match self {
            Kind::Dir => 0,
            Kind::File => 1,
            Kind::Symlink => 2,
            Kind::Other => 3,
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            0 => Kind::Dir,
            1 => Kind::File,
            2 => Kind::Symlink,
            3 => Kind::Other,
            _ => return None,
        })
    }
}

/// One directory as it was listed: its stamp then, and its entries sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dir {
    stamp: FileStamp,
    entries: Vec<(OsString, Kind)>,
}

/// The settled listings of one tree's directories, by path relative to the root (the root is
/// the empty path). Only settled listings are kept (see the module documentation).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listings {
    dirs: HashMap<PathBuf, Dir>,
}

/// One thing the walk found: a non-directory entry, or a path it could not list.
pub enum Event<'a> {
    Entry { path: &'a Path, kind: Kind },
    Unreadable { path: &'a Path, error: String },
}

/// What a walk did, and the listings to keep for the next one.
#[derive(Debug, Default)]
pub struct Walked {
    pub listings: Listings,
    /// Directories read (`readdir`) and directories whose kept listing was reused.
    pub read: u64,
    pub reused: u64,
    /// Whether `listings` differs from the listings the walk was given (worth storing).
    pub changed: bool,
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// What is left to visit: a directory (its path, its path below the root and its metadata when
/// already known), or a leaf.
enum Pending {
    Dir(PathBuf, PathBuf, Option<Metadata>),
    Leaf(PathBuf, Kind),
}

/// Walks the tree at `root` (followed if it is a link, as walkdir does), calling `on` for every
/// entry that is not a directory and for every path that cannot be listed, in walkdir's order.
/// A directory whose stamp matches its listing in `previous` is not read.
pub fn walk(root: &Path, mut previous: Listings, on: &mut dyn FnMut(Event<'_>)) -> Walked {
    let settled_before =
        nanos(SystemTime::now()) - i128::try_from(SETTLED.as_nanos()).unwrap_or(i128::MAX);
    let mut out = Walked::default();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            on(Event::Unreadable {
                path: root,
                error: format!("cannot read: {e}"),
            });
            out.changed = !previous.dirs.is_empty();
            return out;
        }
    };
    if !meta.is_dir() {
        on(Event::Entry {
            path: root,
            kind: Kind::of(meta.file_type()),
        });
        out.changed = !previous.dirs.is_empty();
        return out;
    }
    let mut stack = vec![Pending::Dir(root.to_path_buf(), PathBuf::new(), Some(meta))];
    while let Some(next) = stack.pop() {
        let (abs, rel, meta) = match next {
            Pending::Leaf(path, kind) => {
                on(Event::Entry { path: &path, kind });
                continue;
            }
            Pending::Dir(abs, rel, meta) => (abs, rel, meta),
        };
        let meta = match meta.map_or_else(|| std::fs::symlink_metadata(&abs), Ok) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => {
                // Listed as a directory, no longer one: the parent changed under the walk.
                on(Event::Unreadable {
                    path: &abs,
                    error: "changed while it was listed (no longer a directory); audit it again"
                        .into(),
                });
                continue;
            }
            Err(e) => {
                on(Event::Unreadable {
                    path: &abs,
                    error: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let stamp = FileStamp::of(&meta);
        let (entries, complete) = match previous.dirs.remove(&rel) {
            Some(d) if d.stamp == stamp => {
                out.reused += 1;
                (d.entries, true)
            }
            _ => {
                out.read += 1;
                out.changed = true;
                match read(&abs, on) {
                    Some(r) => r,
                    None => continue,
                }
            }
        };
        for (name, kind) in entries.iter().rev() {
            let path = abs.join(name);
            stack.push(match kind {
                Kind::Dir => Pending::Dir(path, rel.join(name), None),
                _ => Pending::Leaf(path, *kind),
            });
        }
        let settled = stamp.modified_ns.max(stamp.changed_ns) < settled_before;
        if complete && settled {
            out.listings.dirs.insert(rel, Dir { stamp, entries });
        } else {
            out.changed = true;
        }
    }
    out.changed |= !previous.dirs.is_empty();
    out
}

/// Reads the directory at `path`: its entries sorted by name, and whether every entry could be
/// typed (an incomplete listing is used for this walk, never kept). `None` when it cannot be
/// opened (reported through `on`).
fn read(path: &Path, on: &mut dyn FnMut(Event<'_>)) -> Option<(Vec<(OsString, Kind)>, bool)> {
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            on(Event::Unreadable {
                path,
                error: format!("cannot read: {e}"),
            });
            return None;
        }
    };
    let mut entries = Vec::new();
    let mut complete = true;
    for e in rd {
        let typed = e.and_then(|e| e.file_type().map(|t| (e.file_name(), Kind::of(t))));
        match typed {
            Ok(entry) => entries.push(entry),
            Err(err) => {
                complete = false;
                on(Event::Unreadable {
                    path,
                    error: format!("cannot read an entry: {err}"),
                });
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Some((entries, complete))
}

impl Listings {
    /// Whether it holds no listing.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The listings in their stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_u64(&mut out, self.dirs.len() as u64);
        for (rel, d) in &self.dirs {
            put_bytes(&mut out, rel.as_os_str().as_encoded_bytes());
            put_u64(&mut out, d.stamp.device);
            put_u64(&mut out, d.stamp.inode);
            put_u64(&mut out, d.stamp.len);
            out.extend_from_slice(&d.stamp.modified_ns.to_le_bytes());
            out.extend_from_slice(&d.stamp.changed_ns.to_le_bytes());
            put_u64(&mut out, d.entries.len() as u64);
            for (name, kind) in &d.entries {
                out.push(kind.code());
                put_bytes(&mut out, name.as_encoded_bytes());
            }
        }
        out
    }

    /// Listings from their stored form; `None` for anything malformed (then every directory
    /// is read again).
    pub fn decode(bytes: &[u8]) -> Option<Listings> {
        let mut r = Reader(bytes.strip_prefix(MAGIC)?);
        let n = r.u64()?;
        let mut dirs = HashMap::new();
        for _ in 0..n {
            let rel = os_string(r.bytes()?)?;
            let stamp = FileStamp {
                device: r.u64()?,
                inode: r.u64()?,
                len: r.u64()?,
                modified_ns: r.i128()?,
                changed_ns: r.i128()?,
            };
            let count = r.u64()?;
            // Each entry takes at least 9 bytes: a count beyond what is left is malformed.
            if count > (r.0.len() / 9) as u64 {
                return None;
            }
            let mut entries = Vec::with_capacity(usize::try_from(count).ok()?);
            for _ in 0..count {
                let kind = Kind::from_code(r.u8()?)?;
                entries.push((os_string(r.bytes()?)?, kind));
            }
            // Entries out of order, or a name that is not one path component, is not a listing
            // this module wrote.
            let ordered = entries.windows(2).all(|w| match w {
                [a, b] => a.0 < b.0,
                _ => true,
            });
            let plain = entries
                .iter()
                .all(|(n, _)| !n.is_empty() && Path::new(n).file_name() == Some(n.as_os_str()));
            if !ordered || !plain {
                return None;
            }
            dirs.insert(PathBuf::from(rel), Dir { stamp, entries });
        }
        r.0.is_empty().then_some(Listings { dirs })
    }
}

/// Bytes back to an OS string: on Unix any bytes are a name; elsewhere only UTF-8 is accepted
/// (hence the `Option`, which only other platforms use).
#[cfg_attr(unix, allow(clippy::unnecessary_wraps))]
fn os_string(b: &[u8]) -> Option<OsString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(std::ffi::OsStr::from_bytes(b).to_os_string())
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(b).ok().map(OsString::from)
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A bounds-checked cursor over stored bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of a walk, as (path below the root, what).
    fn events(root: &Path, previous: Listings) -> (Vec<(String, String)>, Walked) {
        let mut seen = Vec::new();
        let walked = walk(root, previous, &mut |e| {
            let rel = |p: &Path| {
                p.strip_prefix(root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            };
            seen.push(match e {
                Event::Entry { path, kind } => (rel(path), format!("{kind:?}")),
                Event::Unreadable { path, error } => (rel(path), format!("error {error}")),
            });
        });
        (seen, walked)
    }

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn walks_in_walkdir_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in ["b/z.pkl", "b/a/y.pkl", "a.pkl", "c/d/e/f.pkl", "B.pkl"] {
            write(&root.join(p));
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.pkl", root.join("link.pkl")).unwrap();
        let (ours, _) = events(root, Listings::default());
        let theirs: Vec<(String, String)> = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    format!("{:?}", Kind::of(e.file_type())),
                )
            })
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn recent_listings_are_not_kept_and_settled_ones_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("d/m.pkl"));
        // Just written: nothing settled, nothing kept.
        let (first, walked) = events(root, Listings::default());
        assert_eq!(walked.read, 2);
        assert!(walked.listings.is_empty());
        assert!(walked.changed);
        // A listing whose stamps match is reused, entry for entry.
        let mut kept = Listings::default();
        for (rel, abs) in [
            (PathBuf::new(), root.to_path_buf()),
            ("d".into(), root.join("d")),
        ] {
            let stamp = FileStamp::of(&std::fs::symlink_metadata(&abs).unwrap());
            let (entries, _) = read(&abs, &mut |_| {}).unwrap();
            kept.dirs.insert(rel, Dir { stamp, entries });
        }
        let (second, walked) = events(root, kept.clone());
        assert_eq!(second, first);
        assert_eq!((walked.read, walked.reused), (0, 2));
        // A file added below: that directory's stamp changed, so it is read again.
        write(&root.join("d/n.pkl"));
        let (third, walked) = events(root, kept);
        assert_eq!((walked.read, walked.reused), (1, 1));
        assert!(third.iter().any(|(p, _)| p == "d/n.pkl"), "{third:?}");
    }

    #[test]
    fn stored_form_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("x/y.pkl"));
        let mut kept = Listings::default();
        let stamp = FileStamp::of(&std::fs::symlink_metadata(root).unwrap());
        let (entries, _) = read(root, &mut |_| {}).unwrap();
        kept.dirs.insert(PathBuf::new(), Dir { stamp, entries });
        let bytes = kept.encode();
        assert_eq!(Listings::decode(&bytes), Some(kept));
        for cut in 0..bytes.len() {
            assert_eq!(Listings::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Listings::decode(&extra), None);
        let mut wrong = bytes;
        wrong[0] ^= 1;
        assert_eq!(Listings::decode(&wrong), None);
    }
}
