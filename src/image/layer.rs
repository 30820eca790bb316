//! One layer: stream the blob while hashing it, sniff and undo its compression (gzip, zstd or
//! none, by magic bytes, never by media type), hash the uncompressed stream (the config's
//! `diff_id`), and spool the result to a temporary file that the engine then walks as a tar.
//!
//! The same file feeds the filesystem view: a header pass records every member, applies the
//! layer's whiteouts to the view of the lower layers, captures package metadata, and hashes the
//! files that installed packages' RECORDs name. Memory stays bounded by the metadata captured;
//! disk by one uncompressed layer at a time.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use sha2::{Digest as _, Sha256, Sha512};

use crate::finding::Location;
use crate::packages::{self, FsView, ViewFile};

/// A running digest of either supported algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn for_algorithm(alg: &str) -> Self {
        if alg == "sha512" {
            Hasher::Sha512(Sha512::new())
        } else {
            Hasher::Sha256(Sha256::new())
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// Hashes and counts what passes through; stops (EOF) after `limit` bytes and remembers that more
/// was available.
struct Tap<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
    limit: u64,
    over: bool,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.count >= self.limit {
            if !self.over {
                let mut probe = [0u8; 1];
                if self.inner.read(&mut probe)? > 0 {
                    self.over = true;
                }
            }
            return Ok(0);
        }
        let room = usize::try_from(self.limit.saturating_sub(self.count)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let slice = buf.get_mut(..want).unwrap_or_default();
        let n = self.inner.read(slice)?;
        self.hasher.update(slice.get(..n).unwrap_or_default());
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

/// Compression of a layer, sniffed from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// A layer spooled to disk, with what was learnt while streaming it.
pub struct Ingested {
    pub file: tempfile::NamedTempFile,
    /// Uncompressed length.
    pub len: u64,
    pub compression: Compression,
    /// Digest of the blob as read (same algorithm as the expected digest).
    pub blob_digest: String,
    /// Bytes of the blob read (up to the declared size).
    pub blob_len: u64,
    /// More bytes were available than the descriptor declared.
    pub oversized: bool,
    /// sha256 of the uncompressed stream (`diff_id`).
    pub diff_id: String,
    /// Decompression or read error, if the stream ended early.
    pub error: Option<String>,
    /// The uncompressed-size budget stopped the copy.
    pub budget_hit: bool,
}

/// Streams `reader` (a blob) into a temporary file, verifying nothing itself but computing every
/// digest the caller needs. `declared` bounds what is read; `max_uncompressed` bounds the output.
pub fn ingest(
    reader: &mut dyn Read,
    algorithm: &str,
    declared: Option<u64>,
    max_uncompressed: u64,
) -> io::Result<Ingested> {
    let tap = Tap {
        inner: reader,
        hasher: Hasher::for_algorithm(algorithm),
        count: 0,
        limit: declared.unwrap_or(u64::MAX),
        over: false,
    };
    let mut src = BufReader::with_capacity(1024 * 1024, tap);
    let (compression, mut error) = match src.fill_buf() {
        Ok(head) => (Compression::sniff(head), None),
        Err(e) => (Compression::None, Some(e.to_string())),
    };
    let mut file = tempfile::NamedTempFile::new()?;
    let mut diff = Sha256::new();
    let mut len: u64 = 0;
    let mut budget_hit = false;
    if error.is_none() {
        let copied = {
            let mut dec: Box<dyn Read + '_> = match compression {
                Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(&mut src)),
                Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(&mut src)?),
                Compression::None => Box::new(&mut src),
            };
            copy_hashing(
                &mut *dec,
                &mut file,
                &mut diff,
                &mut len,
                max_uncompressed,
                &mut budget_hit,
            )
        };
        if let Err(e) = copied {
            error = Some(e.to_string());
        }
        // Hash whatever follows the compressed stream, so the blob digest covers every byte.
        if error.is_none() && !budget_hit {
            if let Err(e) = io::copy(&mut src, &mut io::sink()) {
                error = Some(e.to_string());
            }
        }
    }
    file.flush()?;
    let tap = src.into_inner();
    Ok(Ingested {
        file,
        len,
        compression,
        blob_digest: tap.hasher.finish(),
        blob_len: tap.count,
        oversized: tap.over,
        diff_id: format!("sha256:{}", hex::encode(diff.finalize())),
        error,
        budget_hit,
    })
}

fn copy_hashing(
    r: &mut dyn Read,
    w: &mut dyn Write,
    h: &mut Sha256,
    len: &mut u64,
    cap: u64,
    budget_hit: &mut bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if len.saturating_add(n as u64) > cap {
            *budget_hit = true;
            return Ok(());
        }
        h.update(chunk);
        w.write_all(chunk)?;
        *len = len.saturating_add(n as u64);
    }
}

/// Whether the uncompressed content is a tar stream: ustar/GNU magic in the first header, or an
/// all-zero block (an empty layer is just the end-of-archive marker).
pub fn looks_like_tar(head: &[u8]) -> bool {
    if head.get(257..262) == Some(b"ustar") {
        return true;
    }
    head.len() >= 512 && head.iter().take(512).all(|b| *b == 0)
}

/// A member of one layer as seen by the view pass.
enum Kind {
    File {
        size: u64,
    },
    HardLink(String),
    Dir,
    /// Symlinks, devices, fifos: not files for the view, but they replace lower content.
    Other,
}

/// Applies one layer (a tar file) to `view`: whiteouts first (opaque, then explicit, hiding only
/// lower layers), then this layer's entries; captures package metadata; hashes the files named
/// by RECORDs. `base` is the layer's location (image → platform → layer digest).
pub fn apply_to_view(file: &std::fs::File, base: &Location, view: &mut FsView) -> io::Result<()> {
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(0))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, f));
    let mut entries: Vec<(String, String, Kind)> = Vec::new(); // (normalised, raw name, kind)
    let mut opaque: Vec<String> = Vec::new();
    let mut whiteouts: Vec<String> = Vec::new();
    let mut captured: Vec<(String, Vec<u8>)> = Vec::new();
    let iter = archive.entries_with_seek()?;
    for entry in iter {
        let Ok(mut entry) = entry else { break }; // truncated: the walker reports it
        let raw = crate::walk::name_text(&entry.path_bytes());
        let Some(norm) = packages::normalize_path(&raw) else {
            continue;
        };
        if norm.is_empty() {
            continue;
        }
        let (dir, base_name) = norm.rsplit_once('/').unwrap_or(("", norm.as_str()));
        if base_name == ".wh..wh..opq" {
            opaque.push(dir.to_owned());
            continue;
        }
        if let Some(hidden) = base_name.strip_prefix(".wh.") {
            whiteouts.push(if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            });
            continue;
        }
        let t = entry.header().entry_type();
        let kind = if t.is_file() || t == tar::EntryType::Continuous {
            let size = entry.size();
            if packages::wants_content(&norm) && size <= packages::MAX_CAPTURE {
                let mut buf = Vec::new();
                if (&mut entry).take(size).read_to_end(&mut buf).is_ok() {
                    captured.push((norm.clone(), buf));
                }
            }
            Kind::File { size }
        } else if t.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| crate::walk::name_text(&b))
                .unwrap_or_default();
            match packages::normalize_path(&target) {
                Some(t) => Kind::HardLink(t),
                None => Kind::Other,
            }
        } else if t.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        };
        entries.push((norm, raw, kind));
    }
    // Whiteouts hide lower-layer content only, so apply them before adding this layer.
    for d in &opaque {
        remove_under(view, d);
    }
    for w in &whiteouts {
        view.files.remove(w);
        remove_under(view, w);
    }
    let mut captured: std::collections::BTreeMap<String, Vec<u8>> = captured.into_iter().collect();
    let mut this_layer: BTreeSet<String> = BTreeSet::new();
    for (norm, raw, kind) in entries {
        // Anything that is not a directory replaces whatever was at (and under) its path; a
        // directory replaces only a lower file of the same name.
        if matches!(kind, Kind::Dir) {
            view.files.remove(&norm);
        } else {
            view.files.remove(&norm);
            remove_under(view, &norm);
        }
        match kind {
            Kind::File { size } => {
                let data = captured.remove(&norm).map(Arc::from);
                view.files.insert(
                    norm.clone(),
                    ViewFile {
                        location: base.child(raw),
                        size,
                        data,
                        sha256: None,
                        disk: None,
                    },
                );
                this_layer.insert(norm.clone());
            }
            Kind::HardLink(target) => {
                if let Some(t) = view.files.get(&target).cloned() {
                    view.files.insert(norm.clone(), t);
                }
            }
            Kind::Dir | Kind::Other => {}
        }
    }
    hash_targets(file, view, &this_layer)
}

fn remove_under(view: &mut FsView, dir: &str) {
    if dir.is_empty() {
        view.files.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = view
        .files
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        view.files.remove(&k);
    }
}

/// Hashes the files of this layer that some RECORD names (second pass over the same tar: the
/// byte ranges are re-read from the spooled file, located via a fresh header walk).
fn hash_targets(
    file: &std::fs::File,
    view: &mut FsView,
    this_layer: &BTreeSet<String>,
) -> io::Result<()> {
    let targets = packages::record_targets(view);
    let wanted: BTreeSet<&String> = targets.intersection(this_layer).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(0))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, f));
    let mut done: Vec<(String, [u8; 32])> = Vec::new();
    for entry in archive.entries_with_seek()? {
        let Ok(mut entry) = entry else { break };
        let raw = crate::walk::name_text(&entry.path_bytes());
        let Some(norm) = packages::normalize_path(&raw) else {
            continue;
        };
        if !wanted.contains(&norm) || !entry.header().entry_type().is_file() {
            continue;
        }
        let size = entry.size();
        done.push((
            norm,
            crate::hash::sha256_reader(&mut (&mut entry).take(size))?,
        ));
    }
    for (p, d) in done {
        if let Some(vf) = view.files.get_mut(&p) {
            vf.sha256 = Some(d);
        }
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
            h.set_cksum();
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn apply(view: &mut FsView, layer: &[u8], id: &str) {
        let mut t = tempfile::tempfile().expect("temp");
        t.write_all(layer).expect("write");
        apply_to_view(&t, &Location::file("img").child(id), view).expect("apply");
    }

    #[test]
    fn whiteouts() {
        let mut v = FsView::default();
        apply(
            &mut v,
            &tar_of(&[("a/x.pkl", b"1"), ("a/y", b"2"), ("b/z", b"3"), ("c", b"4")]),
            "l1",
        );
        apply(
            &mut v,
            &tar_of(&[
                ("a/.wh.x.pkl", b""),
                ("b/.wh..wh..opq", b""),
                ("b/new", b"5"),
            ]),
            "l2",
        );
        let keys: Vec<&str> = v.files.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a/y", "b/new", "c"]);
        // a symlink replacing a lower directory hides its content
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_cksum();
        b.append_link(&mut h, "a", "/elsewhere").expect("link");
        apply(&mut v, &b.into_inner().expect("tar"), "l3");
        let keys: Vec<&str> = v.files.keys().map(String::as_str).collect();
        assert_eq!(keys, ["b/new", "c"]);
        assert_eq!(
            v.files.get("b/new").map(|f| f.location.inner.clone()),
            Some(vec!["l2".to_owned(), "b/new".to_owned()])
        );
    }

    #[test]
    fn ingest_gzip_and_plain() {
        let raw = tar_of(&[("f", b"hello")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).expect("gz");
        let gz = gz.finish().expect("gz");
        let ing = ingest(&mut &gz[..], "sha256", Some(gz.len() as u64), u64::MAX).expect("ingest");
        assert_eq!(ing.compression, Compression::Gzip);
        assert_eq!(ing.len, raw.len() as u64);
        assert_eq!(
            ing.blob_digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&gz)))
        );
        assert_eq!(
            ing.diff_id,
            format!("sha256:{}", hex::encode(Sha256::digest(&raw)))
        );
        assert!(!ing.oversized && ing.error.is_none());
        let short = ingest(&mut &gz[..], "sha256", Some(10), u64::MAX).expect("ingest");
        assert!(short.oversized);
        assert!(short.error.is_some());
        assert!(looks_like_tar(&raw));
    }
}
