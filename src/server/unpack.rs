//! Unpacking an uploaded model directory (a tar, optionally gzip/zstd/xz/bzip2-compressed, or a
//! zip) into a directory of the worker's own, so that its `model.sig` can be verified against
//! exactly the files the upload holds (`[policy] require_signature`, `POST /v1/verify`).
//!
//! Only regular files and directories are written. A member whose name is absolute or climbs out
//! (`..`), a link, a device, or a name that appears twice makes the whole upload unverifiable:
//! what the signature would be checked against must be exactly what was uploaded, and a link
//! could make the verifier hash a file outside the upload. Entry count and unpacked bytes are
//! bounded, so a decompression bomb fails instead of filling the disk.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::artifact::Content;
use crate::format::Format;

/// Most members an uploaded model directory may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes it may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 64 << 30;
/// Largest zip member (zip members are read whole).
pub const MAX_ZIP_MEMBER: u64 = 2 << 30;

/// Why an upload could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("the upload is neither a tar nor a zip archive of a model directory")]
    NotAnArchive,
    #[error("member {0:?} is not a plain relative path inside the archive")]
    UnsafeName(String),
    #[error("member {0:?} is a link or special file; only files and directories can be verified")]
    NotAFile(String),
    #[error("member {0:?} appears twice")]
    Duplicate(String),
    #[error("the archive holds more than {MAX_ENTRIES} members")]
    TooManyEntries,
    #[error("the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")]
    TooLarge,
    #[error("the archive could not be read: {0}")]
    Read(String),
    #[error("writing the unpacked files: {0}")]
    Write(io::Error),
}

/// What the archive's first bytes say it is.
fn compression(head: &[u8]) -> Option<Format> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Format::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Format::Zstd)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Format::Xz)
    } else if head.starts_with(b"BZh") {
        Some(Format::Bzip2)
    } else {
        None
    }
}

/// Unpacks `archive` into `dest` (created, must not exist) and returns the model directory: the
/// archive's root, or its single top-level directory when the root holds nothing else (what
/// `tar -C parent -cf model.tar model` writes).
pub fn unpack(archive: &Path, dest: &Path) -> Result<PathBuf, UnpackError> {
    std::fs::create_dir(dest).map_err(UnpackError::Write)?;
    let mut head = [0u8; 512];
    let n = read_head(archive, &mut head).map_err(|e| UnpackError::Read(e.to_string()))?;
    let head = head.get(..n).unwrap_or_default();
    let mut seen = Seen::default();
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        unzip(archive, dest, &mut seen)?;
    } else {
        let file = std::fs::File::open(archive).map_err(|e| UnpackError::Read(e.to_string()))?;
        let reader: Box<dyn Read> = match compression(head) {
            Some(f) => crate::walk::decoder(f, Box::new(file))
                .map_err(|e| UnpackError::Read(e.to_string()))?,
            None if is_tar(head) => Box::new(file),
            None => return Err(UnpackError::NotAnArchive),
        };
        untar(reader, dest, &mut seen)?;
    }
    Ok(model_root(dest))
}

fn read_head(path: &Path, buf: &mut [u8]) -> io::Result<usize> {
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        let got = f.read(buf.get_mut(n..).unwrap_or_default())?;
        if got == 0 {
            break;
        }
        n = n.saturating_add(got);
    }
    Ok(n)
}

fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar")
}

/// The single top-level directory when the root holds only that, else the root.
fn model_root(dest: &Path) -> PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dest)
        .map(|d| d.filter_map(Result::ok).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.file_type().is_ok_and(|t| t.is_dir()) => only.path(),
        _ => dest.to_path_buf(),
    }
}

/// Names written so far, entries and bytes counted.
#[derive(Default)]
struct Seen {
    names: BTreeSet<PathBuf>,
    bytes: u64,
}

impl Seen {
    /// `name` as a safe relative path, counted; an error when it is unsafe or repeated.
    fn admit(&mut self, name: &str, is_dir: bool) -> Result<Option<PathBuf>, UnpackError> {
        let trimmed = name.trim_end_matches('/');
        let mut rel = PathBuf::new();
        for c in Path::new(trimmed).components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::CurDir => {}
                _ => return Err(UnpackError::UnsafeName(name.to_owned())),
            }
        }
        if rel.as_os_str().is_empty() {
            return if is_dir {
                Ok(None)
            } else {
                Err(UnpackError::UnsafeName(name.to_owned()))
            };
        }
        if self.names.len() >= MAX_ENTRIES {
            return Err(UnpackError::TooManyEntries);
        }
        if !self.names.insert(rel.clone()) && !is_dir {
            return Err(UnpackError::Duplicate(name.to_owned()));
        }
        Ok(Some(rel))
    }

    fn count(&mut self, n: u64) -> Result<(), UnpackError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > MAX_UNPACKED_BYTES {
            return Err(UnpackError::TooLarge);
        }
        Ok(())
    }
}

/// Creates `dest/rel`'s parent directories and the file, refusing to write through anything
/// that is not a plain directory this unpacking created.
fn create_file(dest: &Path, rel: &Path) -> Result<std::fs::File, UnpackError> {
    let path = dest.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(UnpackError::Write)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(UnpackError::Write)
}

fn untar(reader: Box<dyn Read>, dest: &Path, seen: &mut Seen) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| UnpackError::Read(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| UnpackError::Read(e.to_string()))?;
        let name = crate::walk::name_text(&entry.path_bytes());
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if kind.is_dir() {
            if let Some(rel) = seen.admit(&name, true)? {
                std::fs::create_dir_all(dest.join(rel)).map_err(UnpackError::Write)?;
            }
            continue;
        }
        if !kind.is_file() {
            return Err(UnpackError::NotAFile(name));
        }
        let Some(rel) = seen.admit(&name, false)? else {
            continue;
        };
        seen.count(entry.size())?;
        let mut out = create_file(dest, &rel)?;
        let copied =
            io::copy(&mut entry, &mut out).map_err(|e| UnpackError::Read(e.to_string()))?;
        if copied != entry.size() {
            return Err(UnpackError::Read(format!("member {name:?} is truncated")));
        }
    }
    Ok(())
}

fn unzip(archive: &Path, dest: &Path, seen: &mut Seen) -> Result<(), UnpackError> {
    let content =
        Content::file(archive.to_path_buf()).map_err(|e| UnpackError::Read(e.to_string()))?;
    let index = crate::walk::read_central_directory(&content)
        .map_err(|e| UnpackError::Read(e.to_string()))?;
    for entry in &index.entries {
        if entry.name_nul || entry.local_name.as_deref().is_some_and(|l| l != entry.name) {
            // The central directory and the local header disagree: readers differ on the name.
            return Err(UnpackError::UnsafeName(entry.name.clone()));
        }
        let is_link = entry.unix_mode.is_some_and(|m| {
            m & 0o170_000 != 0 && m & 0o170_000 != 0o100_000 && m & 0o170_000 != 0o040_000
        });
        if is_link {
            return Err(UnpackError::NotAFile(entry.name.clone()));
        }
        if entry.is_dir {
            if let Some(rel) = seen.admit(&entry.name, true)? {
                std::fs::create_dir_all(dest.join(rel)).map_err(UnpackError::Write)?;
            }
            continue;
        }
        let Some(rel) = seen.admit(&entry.name, false)? else {
            continue;
        };
        if entry.uncompressed_size > MAX_ZIP_MEMBER {
            return Err(UnpackError::TooLarge);
        }
        seen.count(entry.uncompressed_size)?;
        let bytes = crate::walk::read_member(&content, entry, MAX_ZIP_MEMBER)
            .map_err(|e| UnpackError::Read(e.to_string()))?;
        if bytes.len() as u64 != entry.uncompressed_size {
            return Err(UnpackError::Read(format!(
                "member {:?} does not have its declared size",
                entry.name
            )));
        }
        let mut out = create_file(dest, &rel)?;
        io::Write::write_all(&mut out, &bytes).map_err(UnpackError::Write)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn a_tar_of_a_directory_unpacks_to_that_directory() {
        let t = tempfile::tempdir().expect("tmp");
        let a = t.path().join("m.tar");
        std::fs::write(&a, tar_of(&[("m/model.sig", b"{}"), ("m/w.bin", b"12")])).expect("w");
        let root = unpack(&a, &t.path().join("out")).expect("unpack");
        assert_eq!(root, t.path().join("out/m"));
        assert_eq!(std::fs::read(root.join("w.bin")).expect("read"), b"12");
    }

    #[test]
    fn duplicates_and_non_archives_are_refused() {
        let t = tempfile::tempdir().expect("tmp");
        let a = t.path().join("m.tar");
        std::fs::write(&a, tar_of(&[("w.bin", b"1"), ("./w.bin", b"2")])).expect("w");
        assert!(matches!(
            unpack(&a, &t.path().join("o1")),
            Err(UnpackError::Duplicate(_))
        ));
        std::fs::write(&a, b"not an archive").expect("w");
        assert!(matches!(
            unpack(&a, &t.path().join("o2")),
            Err(UnpackError::NotAnArchive)
        ));
    }
}
