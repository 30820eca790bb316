#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The one archive walker: expands command-line targets into files, and containers (zip, tar, 7z,
//! RAR, single-stream compression) into members that go back through the engine.
//!
//! Zip archives are read the way PyTorch's reader (miniz) reads them rather than the way a strict
//! zip library does: data is located from the central directory's local-header offset, CRCs and
//! flag bits do not stop the read, and a local-header name that differs from the central
//! directory is itself a finding. A strict reader that refuses such a file would hand the attacker
//! a "scanner error, loader happy" differential (CVE-2025-1944, -1945, -10156).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::artifact::{Artifact, Content};
use crate::codes::{self, Code};
use crate::context::ScanContext;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use rayon::prelude::*;

pub mod rarread;
pub mod tarfile;
mod zipread;

pub use zipread::{decode_name, read_central_directory, read_member, ZipEntry, ZipIndex};

/// A file found while expanding targets.
#[derive(Debug, Clone)]
pub enum TargetEntry {
    /// A regular file to scan; `display` is the path as shown in reports.
    File { display: String, path: PathBuf },
    /// Something that is not a regular file (a symlink leaving the tree, a socket, …): reported
    /// as skipped with the reason.
    Special { display: String, reason: String },
}

/// Expands files and directories into a sorted list of files. Symlinks are not followed: a link
/// is listed as skipped, because following it could leave the tree being scanned.
pub fn expand_targets(targets: &[PathBuf]) -> Vec<TargetEntry> {
    let mut out = Vec::new();
    for t in targets {
        let meta = std::fs::symlink_metadata(t);
        match meta {
            Ok(m) if m.is_dir() => {
                // Directory order as the file system returns it: the report is sorted, so
                // sorting here would only delay the first scan.
                for e in walkdir::WalkDir::new(t).follow_links(false) {
                    match e {
                        Ok(e) if e.file_type().is_file() => {
                            let path = e.into_path();
                            out.push(TargetEntry::File {
                                display: path.to_string_lossy().into_owned(),
                                path,
                            });
                        }
                        Ok(e) if e.file_type().is_dir() => {}
                        Ok(e) => out.push(special(e.path(), e.file_type().is_symlink())),
                        Err(err) => out.push(TargetEntry::Special {
                            display: err
                                .path()
                                .map(|p| p.display().to_string())
                                .unwrap_or_default(),
                            reason: format!("cannot read: {err}"),
                        }),
                    }
                }
            }
            Ok(m) if m.is_file() => {
                out.push(TargetEntry::File {
                    display: t.display().to_string(),
                    path: t.clone(),
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                // A symlink named explicitly on the command line is followed: the user asked for it.
                if t.is_file() {
                    out.push(TargetEntry::File {
                        display: t.display().to_string(),
                        path: t.clone(),
                    });
                } else if t.is_dir() {
                    out.extend(expand_targets(&[t.join(".")]));
                } else {
                    out.push(special(t, true));
                }
            }
            Ok(_) => out.push(special(t, false)),
            Err(e) => out.push(TargetEntry::Special {
                display: t.display().to_string(),
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    out
}

fn special(p: &Path, symlink: bool) -> TargetEntry {
    let reason = if symlink {
        match std::fs::read_link(p) {
            Ok(to) => format!("symbolic link to {} (not followed)", to.display()),
            Err(_) => "symbolic link (not followed)".to_owned(),
        }
    } else {
        "not a regular file".to_owned()
    };
    TargetEntry::Special {
        display: p.display().to_string(),
        reason,
    }
}

pub const PATH_TRAVERSAL: Code = Code {
    id: "archive/path-traversal",
    severity: Severity::High,
    summary: "An archive member's name escapes the extraction directory.",
    detects: "Member names that are absolute, contain `..` segments, drive letters or backslash separators.",
    why: "Extracting such an archive writes outside the target directory (\"zip slip\"), which can overwrite code or configuration that runs later.",
    example: "A zip member named `../../home/user/.bashrc`.",
    remediation: "Reject the archive; legitimate model archives never need such names.",
    references: &["https://security.snyk.io/research/zip-slip-vulnerability"],
};

pub const SYMLINK: Code = Code {
    id: "archive/symlink",
    severity: Severity::Medium,
    summary: "An archive contains a symbolic or hard link.",
    detects: "Tar link entries, zip entries whose Unix mode marks them as symlinks, and RAR link, junction and file-copy entries.",
    why: "Links let later members or loaders read or write files outside the archive (for example an ONNX external-data file that is a link to /etc/passwd).",
    example: "A tar entry `weights.bin -> /root/.ssh/id_rsa`.",
    remediation: "Remove links from model archives; ship regular files.",
    references: &[],
};

pub const ZIP_HEADER_MISMATCH: Code = Code {
    id: "archive/zip-header-mismatch",
    severity: Severity::High,
    summary: "A zip member's local header disagrees with the central directory.",
    detects: "Different file names, sizes or compression methods in the local header and the central directory entry of the same member; end records that lead different readers (Python's zipfile, miniz) to different central directories or local headers (all of them are scanned).",
    why: "Readers disagree on which header to trust. Attackers use this so a strict scanner rejects or misreads the member while PyTorch's lenient reader loads the payload (CVE-2025-1944).",
    example: "Central directory name `archive/data.pkl`, local header name `archive/datap.kl`.",
    remediation: "Treat the archive as tampered; re-export it from a trusted source.",
    references: &["CVE-2025-1944", "GHSA-7q5r-7gvp-wc82"],
};

pub const ZIP_FLAGS: Code = Code {
    id: "archive/zip-suspicious-flags",
    severity: Severity::Medium,
    summary: "A zip member sets encryption or patch flag bits on plain data.",
    detects: "General-purpose flag bits 0x1 (encrypted), 0x20 (patched data) or 0x40 (strong encryption) on a member whose content is readable anyway.",
    why: "Strict zip libraries refuse such members, so scanners built on them skip the file, while PyTorch ignores the flags and loads it (CVE-2025-1945).",
    example: "`archive/data.pkl` with flag 0x0001 but stored, unencrypted pickle bytes.",
    remediation: "Treat the archive as tampered.",
    references: &["CVE-2025-1945", "GHSA-w8jq-xcqf-f792"],
};

pub const ZIP_CRC: Code = Code {
    id: "archive/crc-mismatch",
    severity: Severity::Medium,
    summary: "A zip member's CRC-32 does not match its content.",
    detects: "The CRC recorded in the central directory differs from the CRC of the member's bytes.",
    why: "Bytes were changed after the archive was written. Strict readers stop here while PyTorch's reader does not check CRCs, so payloads edited into an archive load fine (CVE-2025-10156).",
    example: "A pickle member edited in place with a hex editor.",
    remediation: "Treat the archive as tampered.",
    references: &["CVE-2025-10156"],
};

pub const ZIP_POLYGLOT: Code = Code {
    id: "archive/polyglot",
    severity: Severity::Medium,
    summary: "Data precedes or follows the zip structure (the file is also something else).",
    detects: "A zip whose central directory lies at a shifted offset because bytes were prepended, or whose first bytes are not a zip header while a valid zip is found at the end.",
    why: "Polyglot files are parsed differently by different tools: an image viewer, a pickle loader and a zip reader can each see a different file.",
    example: "A PNG header followed by a PyTorch zip archive.",
    remediation: "Find out why the file carries two formats; ship each part separately.",
    references: &[],
};

pub const DUPLICATE_MEMBER: Code = Code {
    id: "archive/duplicate-member",
    severity: Severity::Medium,
    summary: "Two archive members have the same name.",
    detects: "Repeated member names in a zip central directory, a tar stream or a RAR archive.",
    why: "Different readers keep different copies (first or last), so a scanner may check the harmless copy while the loader reads the other.",
    example: "Two `archive/data.pkl` entries, one benign and one malicious.",
    remediation: "Treat the archive as tampered.",
    references: &[],
};

pub const BOMB: Code = Code {
    id: "archive/compression-bomb",
    severity: Severity::High,
    summary: "A compressed member expands far beyond its compressed size.",
    detects: "A decompression ratio above the configured limit, or decompressed output beyond the run's byte budget.",
    why: "Decompression bombs exhaust memory or disk in loaders and scanners alike.",
    example: "A 42 KB zip that expands to petabytes.",
    remediation: "Reject the file.",
    references: &[],
};

pub const ENCRYPTED: Code = Code {
    id: "archive/encrypted",
    severity: Severity::High,
    summary: "An archive is encrypted, so its members could not be inspected.",
    detects: "Password-protected 7z archives, zip members whose content cannot be read without a key, and RAR archives whose headers or members are encrypted.",
    why: "What cannot be read cannot be checked; encryption is also how malware hides from scanners while a loader script supplies the password.",
    example: "A `model.7z` created with `7z a -pSECRET`.",
    remediation: "Obtain the unencrypted model, or scan it after decryption in a controlled environment.",
    references: &[],
};

pub const ZIP_NO_DIRECTORY: Code = Code {
    id: "archive/zip-missing-directory",
    severity: Severity::Medium,
    summary: "A zip archive has no readable central directory.",
    detects: "Zip data whose end-of-central-directory record is missing or corrupt; members are recovered from their local headers and scanned anyway.",
    why: "Directory-based readers refuse such a file while streaming readers extract it, so a scanner that gives up leaves the payload unseen.",
    example: "A torch zip truncated right before its central directory.",
    remediation: "Re-export the archive; treat it as tampered if it came from outside.",
    references: &[],
};

pub const SIZE_MISMATCH: Code = Code {
    id: "archive/size-mismatch",
    severity: Severity::Medium,
    summary: "An archive member holds a different number of bytes than its headers declare.",
    detects: "A zip member whose decoded (or stored) size differs from the uncompressed size in its central directory entry (zip64 fields included).",
    why: "Readers that trust the declared size read a different member than readers that decode to the end: a 10 GB declaration on 39 bytes, or a short declaration that hides trailing bytes from size-trusting tools.",
    example: "A zip64 entry declaring 10 GB whose data is 39 bytes.",
    remediation: "Treat the archive as tampered; re-export it.",
    references: &[],
};

pub const TAR_DIFFERENTIAL: Code = Code {
    id: "archive/tar-differential",
    severity: Severity::High,
    summary: "Python's tarfile sees a member that other tar readers skip.",
    detects: "Tar data that tarfile reads as a member while the common readers skip it: bytes after a directory, link, device or FIFO header that claims a size (tarfile reads the next header right there), pax size overrides, members after a header other readers reject.",
    why: "The scanner and the loader must see the same members. A member hidden in a directory's 'data' is invisible to readers that skip it and is extracted by torch.load's legacy tar path and tarfile.extractall.",
    example: "A directory header with size 1024 followed by a header and data for `pickle`.",
    remediation: "Treat the archive as tampered: tar writers never produce this.",
    references: &["https://github.com/python/cpython/blob/main/Lib/tarfile.py"],
};

pub const NAME_NUL: Code = Code {
    id: "archive/name-nul",
    severity: Severity::High,
    summary: "An archive member's name contains a NUL byte.",
    detects: "Zip member names with a NUL byte. Python's zipfile ends the name at the NUL; PyTorch's reader and most tools keep the whole name.",
    why: "The same member has two names: `config.json\\0.txt` is `config.json` to Keras (zipfile) and something else to a scanner that routes by the full name. Member names are scanned the way zipfile reads them; the NUL is reported because no writer produces it.",
    example: "A `.keras` archive whose `config.json\\0x` member holds a Lambda layer.",
    remediation: "Treat the archive as tampered.",
    references: &["https://github.com/python/cpython/blob/main/Lib/zipfile/__init__.py"],
};

/// Codes raised by the walker.
pub static CODES: &[&Code] = &[
    &NAME_NUL,
    &SIZE_MISMATCH,
    &TAR_DIFFERENTIAL,
    &ENCRYPTED,
    &ZIP_NO_DIRECTORY,
    &PATH_TRAVERSAL,
    &SYMLINK,
    &ZIP_HEADER_MISMATCH,
    &ZIP_FLAGS,
    &ZIP_CRC,
    &ZIP_POLYGLOT,
    &DUPLICATE_MEMBER,
    &BOMB,
];

/// Reports that the run's member budget stopped the expansion of `a` (a `kind` archive).
fn member_limit(a: &Artifact, kind: &str, sink: &mut Sink) {
    sink.push(Finding::new(
        &codes::engine::BUDGET_EXCEEDED,
        a.location.clone(),
        format!("member limit reached; remaining {kind} members were not scanned"),
    ));
}

/// A member name from an archive's bytes as text. UTF-8 stays as it is; in a name that is not
/// valid UTF-8 each stray byte is percent-encoded (`%FF`) and `%` itself becomes `%25`, so
/// distinct names stay distinct, nothing is lost in JSON, and the bytes can be recovered (Python's
/// `tarfile` keeps them as surrogate escapes; a lossy U+FFFD would merge names and hide the real
/// bytes). Percent, unlike a backslash, means nothing to path checks.
pub fn name_text(b: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(b) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(b.len().saturating_add(8));
    for chunk in b.utf8_chunks() {
        out.push_str(&chunk.valid().replace('%', "%25"));
        for byte in chunk.invalid() {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("%{byte:02X}"));
        }
    }
    out
}

/// Whether a member name would escape an extraction directory.
pub fn is_traversal(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/')
        || n.split('/').any(|seg| seg == "..")
        || (n.len() >= 2 && n.as_bytes().get(1) == Some(&b':'))
        || name.contains('\\')
}

/// Expands one container artifact into its members.
pub fn expand(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    match a.format {
        Format::Zip => zipread::expand_zip(a, cx, sink),
        Format::Tar | Format::ImageLayer => expand_tar(a, cx, sink),
        Format::SevenZip => expand_7z(a, cx, sink),
        Format::Rar => rarread::expand_rar(a, cx, sink),
        f if f.is_compression() => decompress(a, cx, sink),
        f => Err(ScanError::Unsupported(format!(
            "{} is not a container",
            f.name()
        ))),
    }
}

/// Scans several members in parallel (large archives) and merges their results into `sink`.
pub fn scan_nested_many(
    cx: &dyn ScanContext,
    parent: &Artifact,
    members: Vec<(String, Content, Option<Format>)>,
    sink: &mut Sink,
) {
    scan_members(cx, parent, members, |m| m.1.len(), |m, _| Some(m), sink);
}

/// Scans the members of `parent` that `open` produces from `items`, in parallel batches.
/// `open` runs in the worker that scans the member (a compressed member is decoded there,
/// just before its scan), so at most one decoded member per worker is held at a time rather
/// than every member of the archive; after each batch the results are merged and compacted
/// ([`crate::context::Limits::max_report_entries`]), so a million-member archive is scanned in bounded
/// memory. `size` estimates an item's bytes (to scan small archives in turn). When the file's
/// time budget runs out, the remaining members are reported once, not one by one.
pub fn scan_members<T: Send>(
    cx: &dyn ScanContext,
    parent: &Artifact,
    items: Vec<T>,
    size: impl Fn(&T) -> u64,
    open: impl Fn(T, &mut Sink) -> Option<(String, Content, Option<Format>)> + Sync,
    sink: &mut Sink,
) {
    // Parallel work has a fixed cost per task; the members of a small archive (a typical
    // torch checkpoint's pickle and a few storages) are cheaper to scan in turn.
    const PARALLEL_BYTES: u64 = 4 * 1024 * 1024;
    const PARALLEL_MEMBERS: usize = 32;
    const BATCH: usize = 4096;
    let total: u64 = items.iter().map(&size).sum();
    let sequential = items.len() < 2 || (total < PARALLEL_BYTES && items.len() <= PARALLEL_MEMBERS);
    let scan_one = |item: T, s: &mut Sink| {
        if let Some((name, content, format)) = open(item, s) {
            cx.scan_nested(parent, &name, content, format, s);
        }
    };
    let count = items.len();
    let mut items = items.into_iter();
    let mut done = 0usize;
    while done < count {
        if cx.out_of_time() {
            sink.push(
                Finding::new(
                    &codes::engine::BUDGET_EXCEEDED,
                    parent.location.clone(),
                    format!(
                        "{} of {count} members were not scanned: the time budget of {} s for this file is spent",
                        count.saturating_sub(done),
                        cx.limits().max_seconds.unwrap_or_default()
                    ),
                )
                .evidence("limit", "max-seconds"),
            );
            return;
        }
        let batch: Vec<T> = items.by_ref().take(BATCH).collect();
        done = done.saturating_add(batch.len());
        if sequential {
            for item in batch {
                scan_one(item, sink);
            }
        } else {
            let sinks: Vec<Sink> = batch
                .into_par_iter()
                .map(|item| {
                    let mut s = Sink::default();
                    scan_one(item, &mut s);
                    s
                })
                .collect();
            sink.merge_all(sinks);
        }
        sink.compact(cx.limits().max_report_entries);
    }
}

/// Memory the xz and lzma decoders may use for their dictionary (KiB). `xz -9` needs 65 MiB; a
/// stream that declares more is refused before anything is allocated, and reported.
pub const LZMA_MEM_KIB: u32 = 256 * 1024;

/// The one table of stream decoders (scanning and conversion): a reader that decompresses
/// `format`. Every decoder streams; none holds a whole decompressed stream in memory.
pub fn decoder<'a>(
    format: Format,
    input: Box<dyn Read + 'a>,
) -> Result<Box<dyn Read + 'a>, ScanError> {
    Ok(match format {
        Format::Gzip => Box::new(PyGzDecoder::new(input)),
        Format::Zlib => Box::new(flate2::read::ZlibDecoder::new(input)),
        Format::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        Format::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
        Format::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(
            input,
            true,
            LZMA_MEM_KIB,
        )),
        Format::Lzma => Box::new(PyLzmaAlone {
            stream: Some(
                lzma_rust2::LzmaReader::new_mem_limit(input, LZMA_MEM_KIB, None)
                    .map_err(|e| ScanError::malformed("lzma", e.to_string()))?,
            ),
            later: false,
        }),
        f => {
            return Err(ScanError::Unsupported(format!(
                "no decoder for {}",
                f.name()
            )))
        }
    })
}

/// A gzip stream read the way Python's `gzip` module reads it (`tarfile` `r:gz`, joblib): member
/// after member, and NUL bytes between or after members skipped (`_GzipReader._read_eof`), where
/// other decoders stop at the padding and never see the members after it. Bytes after the padding
/// that are not a gzip member are an error once everything before them has been read.
struct PyGzDecoder<'a> {
    member: Option<flate2::bufread::GzDecoder<std::io::BufReader<Box<dyn Read + 'a>>>>,
}

impl<'a> PyGzDecoder<'a> {
    fn new(input: Box<dyn Read + 'a>) -> Self {
        PyGzDecoder {
            member: Some(flate2::bufread::GzDecoder::new(std::io::BufReader::new(
                input,
            ))),
        }
    }
}

impl Read for PyGzDecoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: skip NUL padding, then read the next member if anything follows.
            let Some(member) = self.member.take() else {
                return Ok(0);
            };
            let mut rest = member.into_inner();
            loop {
                let avail = rest.fill_buf()?;
                if avail.is_empty() {
                    return Ok(0);
                }
                let zeros = avail.iter().take_while(|&&b| b == 0).count();
                let only_zeros = zeros == avail.len();
                rest.consume(zeros);
                if !only_zeros {
                    break;
                }
            }
            self.member = Some(flate2::bufread::GzDecoder::new(rest));
        }
    }
}

/// `.lzma` (LZMA-alone) streams read the way Python's `lzma.LZMAFile` reads them (joblib's
/// `.lzma` files): after a stream's end, the bytes that follow are another stream, and so on;
/// bytes that do not start one end the file quietly (`_trailing_error`), as does an error inside
/// a later stream (Python ignores errors in a new stream's first block), after its output.
struct PyLzmaAlone<'a> {
    stream: Option<lzma_rust2::LzmaReader<Box<dyn Read + 'a>>>,
    /// The stream being read is not the first one.
    later: bool,
}

impl<'a> Read for PyLzmaAlone<'a> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(0);
            };
            let n = match stream.read(buf) {
                Ok(n) => n,
                // The first stream's errors are errors; a later stream's end the file.
                Err(e) if !self.later => return Err(e),
                Err(_) => {
                    self.stream = None;
                    return Ok(0);
                }
            };
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Some(ended) = self.stream.take() else {
                return Ok(0);
            };
            let (inner, unused) = ended.into_parts();
            let rest: Box<dyn Read + 'a> = Box::new(std::io::Cursor::new(unused).chain(inner));
            self.later = true;
            match lzma_rust2::LzmaReader::new_mem_limit(rest, LZMA_MEM_KIB, None) {
                Ok(next) => self.stream = Some(next),
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Drains `r` into memory, or past `max_in_memory` into a temporary file, enforcing the ratio,
/// decompression, temporary-file and time budgets. Returns `None` (after reporting a finding
/// that names the limit) when a budget stops it.
///
/// Sniff before spooling: when a stream passes its first MiB (or outgrows memory) and nothing in
/// what is held so far gives a loader a reason to read it (no recognised format, no pickle, tar or compressed-stream
/// reading from its first bytes: see [`worth_keeping`]), the rest is streamed through instead of
/// written to disk, keeping only what the remaining readings look at (HDF5 superblock offsets and
/// the zip end record; [`Content::Elided`]). A 5 GiB member of zeros then costs decoding time,
/// not 5 GiB of disk.
pub fn spool(
    r: &mut dyn Read,
    compressed_len: u64,
    a: &Artifact,
    member: &str,
    cx: &dyn ScanContext,
    sink: &mut Sink,
) -> Result<Option<Content>, ScanError> {
    let limits = cx.limits();
    let ratio_cap = compressed_len
        .max(1)
        .saturating_mul(limits.max_ratio)
        .max(16 * 1024 * 1024);
    let mut mem: Vec<u8> = Vec::new();
    let mut spill = Spill::Memory;
    let mut judged = false;
    let mut total: u64 = 0;
    let mut hasher = cx
        .hash_artifacts()
        .then(|| crate::hash::Algorithm::Sha256.hasher());
    // Reads of up to 64 KiB: large enough for throughput; sized down for small streams so the
    // many tiny compressed files and members of a directory scan do not each zero-fill 64 KiB.
    let chunk_len = usize::try_from(compressed_len.saturating_mul(8).clamp(8 * 1024, 64 * 1024))
        .unwrap_or(64 * 1024);
    let mut chunk = vec![0u8; chunk_len];
    let stop = |sink: &mut Sink, total: u64, name: &str, limit: String, bomb: bool| {
        if bomb {
            sink.push(
                Finding::new(
                    &BOMB,
                    a.location.child(member),
                    format!("decompression stopped after {total} bytes at {limit}"),
                )
                .evidence("compressed", compressed_len.to_string())
                .evidence("limit", name),
            );
        }
        sink.push(
            Finding::new(
                &codes::engine::BUDGET_EXCEEDED,
                a.location.child(member),
                format!("content past {limit} was not analysed"),
            )
            .evidence("limit", name),
        );
    };
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if total == 0 => {
                return Err(ScanError::malformed(
                    "compressed stream",
                    format!("{member}: {e}"),
                ));
            }
            Err(e) => {
                // A loader that streams the content (joblib, tarfile, zipfile) has already acted
                // on everything decoded before the error: scan that, and report the corruption.
                sink.push(
                    Finding::new(
                        &codes::engine::READ_ERROR,
                        a.location.child(member),
                        format!("the compressed stream is corrupt after {total} decoded bytes ({e}); the bytes before the error were scanned"),
                    )
                    .evidence("decoded", total.to_string()),
                );
                break;
            }
        };
        total = total.saturating_add(n as u64);
        if total > ratio_cap {
            let limit = format!(
                "the ratio limit of {}:1 (compressed size {compressed_len})",
                limits.max_ratio
            );
            stop(sink, total, "max-ratio", limit, true);
            return Ok(None);
        }
        if !cx.take_uncompressed(n as u64) {
            let limit = format!(
                "the run's budget of {} decompressed bytes",
                cx.uncompressed_budget()
            );
            stop(sink, total, "max-total-uncompressed", limit, true);
            return Ok(None);
        }
        if cx.out_of_time() {
            let limit = format!(
                "the time budget of {} s for this file",
                limits.max_seconds.unwrap_or_default()
            );
            stop(sink, total, "max-seconds", limit, false);
            return Ok(None);
        }
        let data = chunk.get(..n).unwrap_or_default();
        if let Some(h) = hasher.as_mut() {
            h.update(data);
        }
        match &mut spill {
            Spill::Memory => {
                mem.extend_from_slice(data);
                // Judged once, when the head is in: a stream no reading starts on is not held
                // (nor written) past its head, whatever its size.
                if !judged && (total > ELIDED_HEAD as u64 || total > limits.max_in_memory) {
                    judged = true;
                    if !worth_keeping(&mem, member) {
                        // Only a short head is kept; the windows and tail come from the rest
                        // of what was held, then from the stream.
                        let keep = ELIDED_HEAD.min(mem.len());
                        let mut w = Watch::new(keep as u64);
                        w.feed(mem.get(keep..).unwrap_or_default());
                        mem.truncate(keep);
                        mem.shrink_to_fit();
                        spill = Spill::Elide(w);
                        continue;
                    }
                }
                if total > limits.max_in_memory {
                    // What was held in memory goes to disk first, under the same budget.
                    if !cx.take_temp(mem.len() as u64) {
                        stop(sink, total, "max-temp-bytes", temp_limit(cx), false);
                        return Ok(None);
                    }
                    let mut t = tempfile::NamedTempFile::new()?;
                    io::Write::write_all(&mut t, &mem)?;
                    mem = Vec::new();
                    spill = Spill::Temp(t);
                }
            }
            Spill::Temp(t) => {
                if !cx.take_temp(n as u64) {
                    stop(sink, total, "max-temp-bytes", temp_limit(cx), false);
                    return Ok(None);
                }
                io::Write::write_all(t, data)?;
            }
            Spill::Elide(w) => w.feed(data),
        }
    }
    let sha256 = hasher.map(|h| hex::encode(h.finalize()));
    Ok(Some(match spill {
        Spill::Memory => Content::from_vec(mem),
        Spill::Temp(mut t) => {
            io::Write::flush(&mut t)?;
            Content::Temp {
                file: std::sync::Arc::new(t),
                len: total,
            }
        }
        Spill::Elide(w) => Content::Elided(std::sync::Arc::new(crate::artifact::Elided {
            head: mem.into(),
            windows: w.windows,
            tail: w.tail,
            len: total,
            sha256,
        })),
    }))
}

/// Bytes kept at the start of a stream that is streamed through (sniffing, tar and pickle
/// readings look at far less).
const ELIDED_HEAD: usize = 1024 * 1024;

fn temp_limit(cx: &dyn ScanContext) -> String {
    format!(
        "the run's budget of {} bytes of temporary files",
        cx.temp_budget()
    )
}

/// Where [`spool`] puts a stream that outgrew memory.
enum Spill {
    Memory,
    Temp(tempfile::NamedTempFile),
    Elide(Watch),
}

/// Whether a stream whose first bytes are `held` must be kept whole: some reading of it (a
/// recognised format, including text a scanner reads by name, a pickle, a tar header, a
/// compressed stream by prefix, a RAR archive behind a program) starts from its beginning. What is left (HDF5 after a user block, a zip found by its
/// end record) is watched for while the rest streams through.
fn worth_keeping(held: &[u8], name: &str) -> bool {
    let head = held.get(..crate::sniff::SNIFF_LEN).unwrap_or(held);
    !matches!(
        crate::sniff::sniff_embedded(head, name),
        Format::Unknown | Format::Data
    ) || crate::readings::pickle_could_start(head)
        || crate::sniff::tar_header_ok(head)
        || crate::readings::prefix_compression(head).is_some()
        // A self-extracting RAR archive: a program with the archive in what is held so far.
        || (crate::sniff::program_kind(head).is_some()
            && crate::formats::rar::find_signature(held).is_some())
}

/// Collects, from a stream that is not kept, the windows later readings look at: 8 bytes at each
/// power-of-two offset from 512 past the kept head (HDF5 superblock search) and the last
/// [`crate::artifact::ZIP_TAIL_LEN`] bytes (zip end-record search).
struct Watch {
    pos: u64,
    next: u64,
    window: Vec<u8>,
    windows: Vec<(u64, Vec<u8>)>,
    tail: Vec<u8>,
}

impl Watch {
    fn new(pos: u64) -> Self {
        let mut next = 512u64;
        while next < pos {
            next = next.saturating_mul(2);
        }
        Self {
            pos,
            next,
            window: Vec::new(),
            windows: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        let end = self.pos.saturating_add(data.len() as u64);
        // Bytes of [next, next + 8) inside this chunk.
        while self.next < end {
            let from = self.next.saturating_add(self.window.len() as u64);
            let want_end = self.next.saturating_add(8);
            if from >= end {
                break;
            }
            let s = usize::try_from(from.saturating_sub(self.pos)).unwrap_or(usize::MAX);
            let e = usize::try_from(want_end.min(end).saturating_sub(self.pos)).unwrap_or(0);
            self.window
                .extend_from_slice(data.get(s..e).unwrap_or_default());
            if self.window.len() < 8 {
                break;
            }
            self.windows
                .push((self.next, std::mem::take(&mut self.window)));
            self.next = self.next.saturating_mul(2);
        }
        let keep = crate::artifact::ZIP_TAIL_LEN as usize;
        if data.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(
                data.get(data.len().saturating_sub(keep)..)
                    .unwrap_or_default(),
            );
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > keep.saturating_mul(2) {
                let cut = self.tail.len().saturating_sub(keep);
                self.tail.drain(..cut);
            }
        }
        self.pos = end;
    }
}

/// The member name for a decompressed stream: the file name without its compression suffix.
fn decompressed_name(name: &str, format: Format) -> String {
    let lower = name.to_ascii_lowercase();
    for suffix in [
        ".gz", ".gzip", ".tgz", ".bz2", ".xz", ".lzma", ".zst", ".zstd", ".lz4", ".z", ".zlib",
    ] {
        if lower.ends_with(suffix) && name.len() > suffix.len() {
            let stem = name
                .get(..name.len().saturating_sub(suffix.len()))
                .unwrap_or(name);
            return if suffix == ".tgz" {
                format!("{stem}.tar")
            } else {
                stem.to_owned()
            };
        }
    }
    format!("{name}[{}]", format.name())
}

fn decompress(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    let mut input = a.content.open()?;
    let mut dec = if a.format == Format::JoblibZfile {
        // Skip the `ZF` length header; what follows is a plain zlib stream.
        let head = a.content.head(crate::sniff::SNIFF_LEN)?;
        let offset = crate::sniff::joblib_zfile_offset(&head)
            .ok_or_else(|| ScanError::malformed("joblib-zfile", "bad ZF header"))?;
        input.seek(SeekFrom::Start(offset as u64))?;
        decoder(Format::Zlib, Box::new(input))?
    } else {
        decoder(a.format, Box::new(input))?
    };
    let member = decompressed_name(&a.name, a.format);
    if let Some(content) = spool(&mut dec, a.content.len(), a, &member, cx, sink)? {
        // A legacy joblib array file (`name.pkl_01.npy.z`) holds the raw bytes of one array,
        // which joblib's ZNDArrayWrapper reads with numpy's frombuffer: data by structure,
        // unless the bytes are something recognisable.
        let hint = (a.format == Format::JoblibZfile && member.ends_with(".npy"))
            .then(|| content.head(crate::sniff::SNIFF_LEN))
            .transpose()?
            .filter(|h| crate::sniff::sniff_embedded(h, &member) == Format::Unknown)
            .map(|_| Format::Data);
        cx.scan_nested(a, &member, content, hint, sink);
    }
    Ok(())
}

/// Python source that belongs to an installed library inside an image layer: the standard library
/// (`lib/python3.N/`) and installed distributions (`site-packages/`, `dist-packages/`). Such code
/// is vetted through the package inventory (RECORD hashes and the allowlist mirror); running the
/// model-side code check over it would flag `subprocess.py` and pip in every image. Model-side code
/// elsewhere in the image (`/app/model/modeling_x.py`) is still checked. Pickles and other files in
/// those directories are still scanned.
fn is_python_library_source(path: &str) -> bool {
    let p = path.trim_start_matches("./");
    let is_source = [".py", ".pyi"].iter().any(|e| p.ends_with(e));
    let in_library = p.contains("/site-packages/")
        || p.contains("/dist-packages/")
        || p.split('/').any(|seg| {
            seg.strip_prefix("python3.")
                .or_else(|| seg.strip_prefix("python2."))
                .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        });
    is_source && in_library
}

/// Whether Python's `tarfile` extracts this entry's data as a file: regular files, contiguous
/// files, GNU sparse files, and every type flag it does not know ("Members with unknown types are
/// treated as regular files"), such as GNU volume headers (`V`), multi-volume continuations (`M`)
/// or any letter an attacker picks.
fn tarfile_reads_data(kind: tar::EntryType) -> bool {
    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous | T::GNUSparse => true,
        T::Link
        | T::Symlink
        | T::Char
        | T::Block
        | T::Directory
        | T::Fifo
        | T::GNULongName
        | T::GNULongLink
        | T::XHeader
        | T::XGlobalHeader => false,
        // `X` is Solaris' pax header, which tarfile also handles.
        other => other.as_byte() != b'X',
    }
}

/// The members of a legacy PyTorch tar checkpoint.
const TORCH_TAR: [&str; 4] = ["sys_info", "pickle", "storages", "tensors"];

fn expand_tar(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    let mut members: Vec<(String, Content, Option<Format>)> = Vec::new();
    let mut starts = std::collections::BTreeSet::new();
    // Members read before an error are still scanned: a corrupt tail must not hide a payload.
    let stop = tar_crate_members(a, cx, sink, &mut members, &mut starts).err();
    if a.format != Format::ImageLayer {
        python_only_members(a, cx, sink, &mut members, &starts)?;
    }
    // Temp-backed members refer to the temp file by path; `a` (borrowed for the whole
    // expansion) keeps it alive until they are scanned.
    // Legacy PyTorch tar checkpoints: these members interleave pickles with raw storage bytes and
    // need the PyTorch scanner's knowledge of that layout.
    let is_torch_tar = TORCH_TAR.iter().all(|n| {
        members
            .iter()
            .any(|(m, _, _)| m.trim_start_matches("./") == *n)
    });
    if is_torch_tar {
        for (m, _, hint) in &mut members {
            if TORCH_TAR.contains(&m.trim_start_matches("./")) {
                *hint = Some(Format::TorchTarMember);
            }
        }
    }
    if a.format == Format::ImageLayer {
        for (m, _, hint) in &mut members {
            if is_python_library_source(m) {
                *hint = Some(Format::PythonLibrary);
            }
        }
    } else {
        torchserve_members(a, cx, sink, &mut members);
    }
    scan_nested_many(cx, a, members, sink);
    stop.map_or(Ok(()), Err)
}

/// A TorchServe tgz archive (`torch-model-archiver --archive-format tgz`, a `<model-name>/`
/// folder with `MAR-INF/MANIFEST.json`): the listing hook runs, and the manifest, the
/// requirements file it names and the Python under the model directory are classified like a
/// `.mar`'s members (TorchServe extracts either kind the same way and imports the handler from
/// the model directory).
fn torchserve_members(
    a: &Artifact,
    cx: &dyn ScanContext,
    sink: &mut Sink,
    members: &mut [(String, Content, Option<Format>)],
) {
    use crate::formats::torchserve::{
        manifest_prefix, ArchiveLayout, MANIFEST_PATH, MAX_MANIFEST_BYTES,
    };
    let prefix = {
        let names: Vec<&str> = members.iter().map(|(n, _, _)| n.as_str()).collect();
        cx.archive_listed(a, &names, sink);
        match manifest_prefix(&names) {
            Some(p) => p.to_owned(),
            None => return,
        }
    };
    let path = format!("{prefix}{MANIFEST_PATH}");
    let bytes = members
        .iter()
        .find(|(n, _, _)| *n == path)
        .and_then(|(_, c, _)| c.read_all(MAX_MANIFEST_BYTES as u64).ok().flatten());
    let layout = ArchiveLayout::from_manifest(&prefix, bytes.as_deref());
    for (name, _, hint) in members.iter_mut() {
        if hint.is_none() {
            *hint = layout.member_format(name);
        }
    }
}

/// The members the `tar` crate lists (regular files and every type `tarfile` extracts as one),
/// with link, traversal and duplicate findings. Stops at the first error, keeping what it read.
fn tar_crate_members(
    a: &Artifact,
    cx: &dyn ScanContext,
    sink: &mut Sink,
    members: &mut Vec<(String, Content, Option<Format>)>,
    starts: &mut std::collections::BTreeSet<(u64, u64)>,
) -> Result<(), ScanError> {
    let mut reader = a.content.open()?;
    let mut archive = tar::Archive::new(&mut reader);
    let mut seen = std::collections::BTreeSet::new();
    let entries = archive
        .entries_with_seek()
        .map_err(|e| ScanError::malformed("tar", e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| ScanError::malformed("tar", e.to_string()))?;
        let name = name_text(&entry.path_bytes());
        let kind = entry.header().entry_type();
        if is_traversal(&name) {
            sink.push(
                Finding::new(
                    &PATH_TRAVERSAL,
                    a.location.child(&name),
                    format!("tar member name escapes the archive: {name}"),
                )
                .evidence("member", &name),
            );
        }
        // In an image layer, links are ordinary filesystem content (resolved inside the container
        // root); the link target is scanned where it is stored as a regular file.
        if (kind.is_symlink() || kind.is_hard_link()) && a.format == Format::ImageLayer {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| name_text(&b))
                .unwrap_or_default();
            let sev = if target.starts_with('/') || target.split('/').any(|s| s == "..") {
                Severity::High
            } else {
                SYMLINK.severity
            };
            sink.push(
                Finding::new(
                    &SYMLINK,
                    a.location.child(&name),
                    format!("link {name} -> {target}"),
                )
                .severity(sev)
                .evidence("target", target),
            );
            continue;
        }
        if !tarfile_reads_data(kind) {
            continue;
        }
        if !seen.insert(name.clone()) {
            sink.push(Finding::new(
                &DUPLICATE_MEMBER,
                a.location.child(&name),
                format!("tar member {name} appears more than once"),
            ));
        }
        if !cx.take_member() {
            member_limit(a, "tar", sink);
            break;
        }
        let size = entry.size();
        let start = entry.raw_file_position();
        starts.insert((start, size));
        // A member cut short by the end of the archive: what is there is what a streaming
        // reader hands to the loader before it fails.
        let content = a.content.slice(start, size)?;
        let short = content.len() < size;
        members.push((name.clone(), content, None));
        if short {
            return Err(ScanError::malformed(
                "tar",
                format!("member {name} runs past the end"),
            ));
        }
    }
    Ok(())
}

/// Members that Python's `tarfile` lists but the `tar` crate did not reach (data after a
/// directory or link header that claims a size, pax size overrides, a header after a corrupt
/// one): scanned too, and each one is a finding.
fn python_only_members(
    a: &Artifact,
    cx: &dyn ScanContext,
    sink: &mut Sink,
    members: &mut Vec<(String, Content, Option<Format>)>,
    starts: &std::collections::BTreeSet<(u64, u64)>,
) -> Result<(), ScanError> {
    let max = usize::try_from(cx.limits().max_members).unwrap_or(usize::MAX);
    for m in tarfile::members(&a.content, max)? {
        if let Some(map) = &m.sparse {
            // A GNU sparse file: tarfile extracts its stored runs placed at their offsets with
            // NUL bytes between them, which is not the raw bytes other readers hand over.
            if !cx.take_member() {
                member_limit(a, "tar", sink);
                break;
            }
            let cap = cx.limits().max_in_memory;
            let (bytes, cut) = tarfile::sparse_contents(&a.content, m.data, map, m.size, cap)?;
            if cut {
                sink.push(
                    Finding::new(
                        &codes::engine::BUDGET_EXCEEDED,
                        a.location.child(&m.name),
                        format!(
                            "sparse tar member {:?} extracts to {} bytes; only the first {cap} were scanned",
                            m.name, m.size
                        ),
                    )
                    .evidence("limit", "max-in-memory"),
                );
            }
            if is_traversal(&m.name) && !starts.contains(&(m.data, m.size)) {
                sink.push(Finding::new(
                    &PATH_TRAVERSAL,
                    a.location.child(&m.name),
                    format!("tar member name escapes the archive: {}", m.name),
                ));
            }
            let extracted = tarfile::sparse_extracted(&a.content, m.data, map, m.size, cap)?;
            if extracted != bytes {
                // extractall and extractfile disagree (overlapping or unordered runs): both.
                members.push((m.name.clone(), Content::from_vec(extracted), None));
            }
            members.push((m.name, Content::from_vec(bytes), None));
            continue;
        }
        if starts.contains(&(m.data, m.size)) {
            continue;
        }
        if !cx.take_member() {
            member_limit(a, "tar", sink);
            break;
        }
        sink.push(
            Finding::new(
                &TAR_DIFFERENTIAL,
                a.location.child(&m.name),
                format!(
                    "Python's tarfile extracts a member {:?} at offset {} that other tar readers skip",
                    m.name, m.data
                ),
            )
            .evidence("offset", m.data.to_string())
            .evidence("type", String::from(char::from(m.kind))),
        );
        if is_traversal(&m.name) {
            sink.push(Finding::new(
                &PATH_TRAVERSAL,
                a.location.child(&m.name),
                format!("tar member name escapes the archive: {}", m.name),
            ));
        }
        members.push((m.name, a.content.slice(m.data, m.size)?, None));
    }
    Ok(())
}

fn expand_7z(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    // The 7z decoders (sevenz-rust2, lzma-rust2) have panicked on hostile input under fuzzing
    // (an out-of-bounds read in the LZMA range decoder): a panic is caught and reported, and the
    // members decoded before it are still scanned.
    let read = crate::guard::guarded(|| read_7z(a, cx, sink));
    let stop = match read {
        Ok(r) => r.err(),
        Err(panic) => {
            sink.push(
                Finding::new(
                    &codes::engine::READ_ERROR,
                    a.location.clone(),
                    "the 7z decoder failed on this archive (internal error caught); members after the failure were not analysed",
                )
                .severity(Severity::High)
                .evidence("decoder-error", panic),
            );
            None
        }
    };
    stop.map_or(Ok(()), Err)
}

/// Memory the 7z reader may use for header buffers and for each decoder's dictionary or model
/// (KiB): a header that declares more is refused before anything is allocated.
const SEVENZ_MEM_KIB: usize = 256 * 1024;

/// Decodes the members of a 7z archive and scans each as soon as it is decoded (a solid archive
/// decodes in order anyway), so one member at a time is held; stops at the first error, after
/// scanning what came before it (a corrupt tail must not hide a payload).
fn read_7z(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    let source = a.content.open()?;
    let mut reader = match sevenz_rust2::ArchiveReader::new_with_memory_limit(
        source,
        sevenz_rust2::Password::empty(),
        SEVENZ_MEM_KIB,
    ) {
        Ok(r) => r,
        Err(e) if is_7z_encryption(&e) => {
            sink.push(Finding::new(
                &ENCRYPTED,
                a.location.clone(),
                "encrypted 7z archive: its members cannot be inspected",
            ));
            return Ok(());
        }
        Err(e) => return Err(ScanError::malformed("7z", e.to_string())),
    };
    let total_len = a.content.len();
    let mut stop: Option<ScanError> = None;
    let result = reader.for_each_entries(|entry, data| {
        if entry.is_directory {
            return Ok(true);
        }
        let name = entry.name.clone();
        if is_traversal(&name) {
            sink.push(Finding::new(
                &PATH_TRAVERSAL,
                a.location.child(&name),
                format!("7z member name escapes the archive: {name}"),
            ));
        }
        // 7-Zip stores Unix modes in the high 16 bits when bit 0x8000 is set.
        if entry.has_windows_attributes
            && entry.windows_attributes & 0x8000 != 0
            && (entry.windows_attributes >> 16) & 0o170_000 == 0o120_000
        {
            sink.push(Finding::new(
                &SYMLINK,
                a.location.child(&name),
                format!("7z member {name} is a symbolic link"),
            ));
            io::copy(data, &mut io::sink())?;
            return Ok(true);
        }
        if !cx.take_member() {
            member_limit(a, "7z", sink);
            return Ok(false);
        }
        // Solid archives report no per-file compressed size; bound by the whole archive instead.
        let compressed = if entry.compressed_size > 0 {
            entry.compressed_size
        } else {
            total_len
        };
        match spool(data, compressed, a, &name, cx, sink) {
            Ok(Some(content)) => {
                cx.scan_nested(a, &name, content, None, sink);
                sink.compact(cx.limits().max_report_entries);
            }
            Ok(None) => return Ok(false),
            Err(e) => {
                stop = Some(e);
                return Ok(false);
            }
        }
        Ok(true)
    });
    match result {
        Ok(()) => {}
        Err(e) if is_7z_encryption(&e) => {
            sink.push(Finding::new(
                &ENCRYPTED,
                a.location.clone(),
                "encrypted 7z archive: its members cannot be inspected",
            ));
        }
        Err(e) => stop = stop.or(Some(ScanError::malformed("7z", e.to_string()))),
    }
    stop.map_or(Ok(()), Err)
}

/// Whether a 7z error means "encrypted" (this build has no AES support, on purpose: a scanner has
/// no password to offer, and an encrypted archive is reported, not decrypted).
fn is_7z_encryption(e: &sevenz_rust2::Error) -> bool {
    match e {
        sevenz_rust2::Error::PasswordRequired | sevenz_rust2::Error::MaybeBadPassword(_) => true,
        sevenz_rust2::Error::UnsupportedCompressionMethod(m) => {
            m.to_ascii_uppercase().contains("AES")
        }
        _ => false,
    }
}

/// Reads a byte range of `content` into memory (bounded by the caller).
pub fn read_range(content: &Content, start: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut r = content.open()?;
    r.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 * 1024 * 1024));
    r.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    #[test]
    fn concatenated_lzma_alone_streams_are_read_as_lzmafile_reads_them() {
        // Python's lzma.compress(b"first ", format=lzma.FORMAT_ALONE), and of b"second".
        let hex = |h: &str| -> Vec<u8> {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let alone = |b: &[u8]| match b {
            b"first " => hex("5d00008000ffffffffffffffff00331a4aac0c72c1ea761ffffe2b7800"),
            _ => hex("5d00008000ffffffffffffffff0039994891b1699bf381cdfffcee7000"),
        };
        let mut stream = alone(b"first ");
        stream.extend(alone(b"second"));
        stream.extend(b"trailing junk");
        let mut out = Vec::new();
        super::decoder(Format::Lzma, Box::new(std::io::Cursor::new(stream)))
            .expect("decoder")
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, b"first second");
    }

    #[test]
    fn gzip_members_after_nul_padding_are_read_as_python_reads_them() {
        use std::io::Write;
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b).expect("gzip");
            e.finish().expect("gzip")
        };
        let mut stream = gz(b"first ");
        stream.extend([0u8; 37]);
        stream.extend(gz(b"second"));
        stream.extend([0u8; 5]);
        let mut out = Vec::new();
        super::decoder(Format::Gzip, Box::new(std::io::Cursor::new(stream)))
            .expect("decoder")
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, b"first second");
    }

    use super::*;

    /// Streams `data` through a [`Watch`] after keeping `keep` head bytes, as [`spool`] does.
    fn elide(data: &[u8], keep: usize) -> Content {
        let mut w = Watch::new(keep as u64);
        for chunk in data.get(keep..).unwrap_or_default().chunks(7_777) {
            w.feed(chunk);
        }
        Content::Elided(std::sync::Arc::new(crate::artifact::Elided {
            head: data.get(..keep).unwrap_or_default().into(),
            windows: w.windows,
            tail: w.tail,
            len: data.len() as u64,
            sha256: None,
        }))
    }

    #[test]
    fn an_elided_stream_serves_exactly_the_windows_readings_use() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let c = elide(&data, 4096);
        assert_eq!(c.len(), data.len() as u64);
        assert_eq!(c.head(512).expect("head"), data[..512]);
        // Every HDF5 user-block offset, inside the head or past it.
        let mut off = 512usize;
        while off + 8 <= data.len() {
            assert_eq!(
                c.read_at(off as u64, 8).expect("window"),
                data[off..off + 8],
                "{off}"
            );
            off *= 2;
        }
        // The zip end-record search window.
        let tail = crate::artifact::ZIP_TAIL_LEN as usize;
        let from = data.len() - tail;
        assert_eq!(c.read_at(from as u64, tail).expect("tail"), data[from..]);
        // Anything else is an error, never made-up bytes.
        assert!(c.read_at(1_000_000, 16).is_err());
        let mut r = c.open().expect("open");
        let mut all = Vec::new();
        assert!(r.read_to_end(&mut all).is_err());
    }

    #[test]
    fn names_that_are_not_utf8_stay_distinct_and_recoverable() {
        assert_eq!(name_text(b"model.pkl"), "model.pkl");
        assert_eq!(name_text(b"100%.pkl"), "100%.pkl");
        assert_eq!(name_text(b"bad\xff.pkl"), "bad%FF.pkl");
        assert_eq!(name_text(b"5%\xfe"), "5%25%FE");
        assert_ne!(name_text(b"\xff"), name_text(b"\xfe"));
        assert!(!is_traversal(&name_text(b"m/\xff\xfe.pkl")));
    }

    #[test]
    fn worth_keeping_follows_the_readings() {
        assert!(!worth_keeping(&[0u8; 4096], "weights.bin"));
        assert!(worth_keeping(b"\x80\x02N.", "x.bin"));
        assert!(worth_keeping(b"PK\x03\x04rest", "x.bin"));
        assert!(worth_keeping(b"\x78\x9c\x00", "x.bin"));
    }
}
