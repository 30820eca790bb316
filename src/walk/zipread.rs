#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! A lenient zip reader that mirrors PyTorch's `PyTorchStreamReader` (miniz): it trusts the
//! central directory, finds each member's data through its local header, ignores CRCs and flag
//! bits while reading, and reports every inconsistency as a finding instead of stopping.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};

use super::{
    is_traversal, member_limit, read_range, spool, BOMB, DUPLICATE_MEMBER, ENCRYPTED, NAME_NUL,
    PATH_TRAVERSAL, SIZE_MISMATCH, SYMLINK, ZIP_CRC, ZIP_FLAGS, ZIP_HEADER_MISMATCH,
    ZIP_NO_DIRECTORY, ZIP_POLYGLOT,
};
use crate::artifact::{Artifact, Content, ReadSeek};
use crate::codes;
use crate::context::ScanContext;
use crate::error::ScanError;
use crate::finding::Finding;
use crate::finding::Sink;
use crate::format::Format;
use crate::hash::crc32;

/// One central-directory entry, with the data location resolved through its local header.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub local_name: Option<String>,
    pub method: u16,
    pub flags: u16,
    pub local_flags: Option<u16>,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Absolute offset of the member's data in the file (after the local header).
    pub data_start: Option<u64>,
    pub unix_mode: Option<u32>,
    pub is_dir: bool,
    /// The name as stored held a NUL byte: Python's `zipfile` ends the name there (and `name` is
    /// what it sees), while PyTorch's reader keeps the whole name.
    pub name_nul: bool,
}

/// A member name as Python's `zipfile` reads it: UTF-8 when flag bit 11 is set, else code page
/// 437, and cut at the first NUL. Returns the name and whether a NUL was cut.
pub fn decode_name(raw: &[u8], flags: u16) -> (String, bool) {
    let decoded: String = if flags & 0x0800 != 0 {
        String::from_utf8_lossy(raw).into_owned()
    } else {
        raw.iter().map(|&b| cp437(b)).collect()
    };
    match decoded.find('\0') {
        Some(i) => (decoded.get(..i).unwrap_or_default().to_owned(), true),
        None => (decoded, false),
    }
}

/// One byte of code page 437, as Python's `cp437` codec decodes it.
fn cp437(b: u8) -> char {
    const HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";
    if b < 0x80 {
        return char::from(b);
    }
    HIGH.chars()
        .nth(usize::from(b & 0x7f))
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The parsed central directory.
#[derive(Debug, Clone)]
pub struct ZipIndex {
    pub entries: Vec<ZipEntry>,
    /// Bytes before the first local header (prepended data shifts every offset by this much).
    pub prefix: u64,
    /// Bytes after the end-of-central-directory record (beyond its comment).
    pub trailing: u64,
    /// Places where readers find different directories or members (all of them were read).
    pub notes: Vec<String>,
    /// The directory held more entries than are read from one directory.
    pub cut_short: bool,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn bad(msg: impl Into<String>) -> ScanError {
    ScanError::malformed("zip", msg)
}

/// Reads the central directory of `content`, resolving each entry's local header.
pub fn read_central_directory(content: &Content) -> Result<ZipIndex, ScanError> {
    let len = content.len();
    let mut r = content.open()?;
    let tail_len = len.min(65_557 + 22);
    r.seek(SeekFrom::Start(len.saturating_sub(tail_len)))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    r.by_ref().take(tail_len).read_to_end(&mut tail)?;
    let eocd_rel = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail.get(i..i.saturating_add(4)) == Some(b"PK\x05\x06"))
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let eocd_pos = len.saturating_sub(tail_len).saturating_add(eocd_rel as u64);
    let e = tail.get(eocd_rel..).unwrap_or_default();
    let count = u64::from(le16(e, 10).ok_or_else(|| bad("short EOCD"))?);
    let cd_size = u64::from(le32(e, 12).ok_or_else(|| bad("short EOCD"))?);
    let cd_offset = u64::from(le32(e, 16).ok_or_else(|| bad("short EOCD"))?);
    let comment_len = u64::from(le16(e, 20).unwrap_or(0));
    // Where the central directory is, as each reader finds it: (end of the directory, entry
    // count, size, recorded offset). Zip64: the locator sits right before the EOCD. Writers such
    // as PyTorch's (miniz) emit the zip64 end records even when no field overflows, so look for
    // the locator unconditionally: the directory then ends at the zip64 record. miniz reads the
    // record where the locator says; Python's zipfile reads the one right before the locator
    // (`_EndRecData64`). When both hold a record and they differ, both directories are read.
    let eocd_reading = (eocd_pos, count, cd_size, cd_offset);
    let mut readings: Vec<(u64, u64, u64, u64)> = Vec::new();
    let loc = tail
        .get(eocd_rel.saturating_sub(20)..eocd_rel)
        .filter(|_| eocd_rel >= 20)
        .unwrap_or_default();
    if loc.get(..4) == Some(b"PK\x06\x07") {
        let z64_pos = le64(loc, 8).ok_or_else(|| bad("short zip64 locator"))?;
        let mut record = |pos: Option<u64>| -> Result<Option<(u64, u64, u64, u64)>, ScanError> {
            let Some(pos) = pos else { return Ok(None) };
            let Ok(rec) = read_at(&mut r, pos, 56) else {
                return Ok(None);
            };
            if rec.get(..4) != Some(b"PK\x06\x06") {
                return Ok(None);
            }
            Ok(Some((
                pos,
                le64(&rec, 32).ok_or_else(|| bad("short zip64 EOCD"))?,
                le64(&rec, 40).ok_or_else(|| bad("short zip64 EOCD"))?,
                le64(&rec, 48).ok_or_else(|| bad("short zip64 EOCD"))?,
            )))
        };
        // miniz: the record where the locator says, else the end record's own fields.
        // zipfile: the record right before the locator, else the end record's own fields.
        let at_locator = record(Some(z64_pos))?;
        let before = record(eocd_pos.checked_sub(20 + 56))?;
        // Prepended bytes move the record away from where the locator says: then the record
        // before the locator is the only one (the end record's fields are 0xffffffff).
        let miniz = at_locator.or(before).unwrap_or(eocd_reading);
        let python = before.unwrap_or(eocd_reading);
        readings.push(miniz);
        if python != miniz {
            readings.push(python);
        }
    } else {
        readings.push(eocd_reading);
    }
    let mut entries: Vec<ZipEntry> = Vec::new();
    let mut prefix = 0u64;
    let mut notes = Vec::new();
    let mut cut_short = false;
    let mut first_err = None;
    let mut any = false;
    for (i, &(cd_end, _, cd_size, cd_offset)) in readings.iter().enumerate() {
        match read_directory(&mut r, cd_end, cd_size, cd_offset) {
            Ok((found, shift, cut)) => {
                if !any {
                    prefix = u64::try_from(shift).unwrap_or(0);
                }
                any = true;
                let found_any = !found.is_empty();
                if shift < 0 {
                    notes.push(format!(
                        "the end record places the central directory {} bytes past where it lies: Python's zipfile reads every local header that much earlier",
                        shift.unsigned_abs()
                    ));
                }
                if cut {
                    cut_short = true;
                }
                let added = resolve_local_headers(&mut r, found, shift, i > 0, &mut entries);
                if i > 0 && found_any && added > 0 {
                    notes.push(format!(
                        "the zip64 locator leads to a central directory other than the one Python's zipfile reads (the record right before the locator, or the end record's own fields); both were read ({added} entries only in the second)"
                    ));
                }
            }
            Err(err) => {
                first_err.get_or_insert(err);
            }
        }
    }
    if !any {
        return Err(first_err.unwrap_or_else(|| bad("no central directory")));
    }
    let trailing = len.saturating_sub(eocd_pos.saturating_add(22).saturating_add(comment_len));
    Ok(ZipIndex {
        entries,
        prefix,
        trailing,
        notes,
        cut_short,
    })
}

/// Entries read from one central directory at most (Python's `zipfile` reads entries until the
/// directory's recorded size is used up, whatever the end record's count says).
const MAX_DIRECTORY_ENTRIES: usize = 1 << 21;

/// Parses the central directory that ends at `cd_end` and is `cd_size` bytes long. Returns its
/// entries with their recorded local-header offsets, the shift Python's `zipfile` applies to
/// those offsets (`concat`: bytes prepended when positive), and whether entries were left unread.
#[allow(clippy::type_complexity)]
fn read_directory(
    r: &mut dyn ReadSeek,
    cd_end: u64,
    cd_size: u64,
    cd_offset: u64,
) -> Result<(Vec<(ZipEntry, u64)>, i128, bool), ScanError> {
    // Prepended data: the directory really starts right before the EOCD (or zip64 record).
    let actual_cd = cd_end
        .checked_sub(cd_size)
        .ok_or_else(|| bad("central directory larger than file"))?;
    let shift = i128::from(actual_cd).saturating_sub(i128::from(cd_offset));
    if cd_size > 512 * 1024 * 1024 {
        return Err(bad("central directory larger than 512 MiB"));
    }
    let cd = read_at(r, actual_cd, cd_size)?;
    let mut entries = Vec::new();
    let mut p = 0usize;
    // Python's zipfile reads entries until the directory's size is used up and ignores the
    // end record's count (miniz reads `count` entries): a count smaller than the directory
    // hides entries from count-trusting readers only.
    while p.saturating_add(46) <= cd.len() {
        if entries.len() >= MAX_DIRECTORY_ENTRIES {
            return Ok((entries, shift, true));
        }
        if cd.get(p..p.saturating_add(4)) != Some(b"PK\x01\x02") {
            break;
        }
        let h = cd.get(p..).unwrap_or_default();
        let made_by = le16(h, 4).unwrap_or(0);
        let flags = le16(h, 8).unwrap_or(0);
        let method = le16(h, 10).unwrap_or(0);
        let crc32 = le32(h, 16).unwrap_or(0);
        let mut csize = u64::from(le32(h, 20).unwrap_or(0));
        let mut usize_ = u64::from(le32(h, 24).unwrap_or(0));
        let nlen = usize::from(le16(h, 28).unwrap_or(0));
        let xlen = usize::from(le16(h, 30).unwrap_or(0));
        let clen = usize::from(le16(h, 32).unwrap_or(0));
        let ext_attr = le32(h, 38).unwrap_or(0);
        let mut lho = u64::from(le32(h, 42).unwrap_or(0));
        // A name or extra field running past the directory is cut where the directory ends, as
        // zipfile reads it (from a buffer of the directory's bytes); it is then the last entry.
        let field = |from: usize, len: usize| {
            h.get(from.min(h.len())..from.saturating_add(len).min(h.len()))
                .unwrap_or_default()
        };
        let name_bytes = field(46, nlen);
        let (name, name_nul) = decode_name(name_bytes, flags);
        let extra = field(nlen.saturating_add(46), xlen);
        // Zip64 extended information extra field (0x0001): present fields in fixed order.
        let mut x = 0usize;
        while x.saturating_add(4) <= extra.len() {
            let id = le16(extra, x).unwrap_or(0);
            let sz = usize::from(le16(extra, x.saturating_add(2)).unwrap_or(0));
            if id == 1 {
                let mut q = x.saturating_add(4);
                if usize_ == 0xffff_ffff {
                    usize_ = le64(extra, q).unwrap_or(usize_);
                    q = q.saturating_add(8);
                }
                if csize == 0xffff_ffff {
                    csize = le64(extra, q).unwrap_or(csize);
                    q = q.saturating_add(8);
                }
                if lho == 0xffff_ffff {
                    lho = le64(extra, q).unwrap_or(lho);
                }
            }
            x = x.saturating_add(4).saturating_add(sz);
        }
        let unix_mode = (made_by >> 8 == 3).then_some(ext_attr >> 16);
        entries.push((
            ZipEntry {
                is_dir: name.ends_with('/'),
                name,
                name_nul,
                local_name: None,
                method,
                flags,
                local_flags: None,
                crc32,
                compressed_size: csize,
                uncompressed_size: usize_,
                data_start: None,
                unix_mode,
            },
            lho,
        ));
        p = p
            .saturating_add(46)
            .saturating_add(nlen)
            .saturating_add(xlen)
            .saturating_add(clen);
    }
    Ok((entries, shift, false))
}

/// Resolves each entry's local header and appends the entries to `out`. A positive `shift`
/// (prepended bytes) moves every header for every reader that copes with a prefix. A negative one
/// (the end record names an offset past the directory) is applied by Python's `zipfile` alone;
/// other readers take the recorded offset, so both places are read and each local header found
/// is its own entry. Entries already in `out` at the same data offset are not repeated.
fn resolve_local_headers(
    r: &mut dyn ReadSeek,
    found: Vec<(ZipEntry, u64)>,
    shift: i128,
    dedupe: bool,
    out: &mut Vec<ZipEntry>,
) -> usize {
    let before = out.len();
    let mut known: std::collections::HashSet<(u64, u64, u16, String)> = if dedupe {
        out.iter()
            .filter_map(|o| {
                o.data_start
                    .map(|d| (d, o.compressed_size, o.method, o.name.clone()))
            })
            .collect()
    } else {
        std::collections::HashSet::new()
    };
    for (e, lho) in found {
        let moved = u64::try_from(i128::from(lho).saturating_add(shift)).ok();
        let places: Vec<u64> = if shift >= 0 {
            moved.into_iter().collect()
        } else {
            std::iter::once(lho).chain(moved).collect()
        };
        let mut resolved = Vec::new();
        for at in places {
            let Ok(h) = read_at(r, at, 30) else {
                continue;
            };
            if h.get(..4) != Some(b"PK\x03\x04") {
                continue;
            }
            let nlen = u64::from(le16(&h, 26).unwrap_or(0));
            let xlen = u64::from(le16(&h, 28).unwrap_or(0));
            let mut e = e.clone();
            e.local_flags = le16(&h, 6);
            if let Ok(n) = read_at(r, at.saturating_add(30), nlen) {
                e.local_name = Some(decode_name(&n, e.flags).0);
            }
            e.data_start = Some(
                at.saturating_add(30)
                    .saturating_add(nlen)
                    .saturating_add(xlen),
            );
            resolved.push(e);
        }
        if resolved.is_empty() {
            resolved.push(e);
        }
        for e in resolved {
            let key = e
                .data_start
                .map(|d| (d, e.compressed_size, e.method, e.name.clone()));
            if dedupe && key.as_ref().is_some_and(|k| known.contains(k)) {
                continue;
            }
            if dedupe {
                known.extend(key);
            }
            out.push(e);
        }
    }
    out.len().saturating_sub(before)
}

/// Reads `len` bytes at `at` through an already open reader (one open per archive, not per read).
fn read_at(r: &mut dyn ReadSeek, at: u64, len: u64) -> std::io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 * 1024 * 1024));
    r.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Expands a zip artifact: reports structural tricks, then scans every member.
pub fn expand_zip(a: &Artifact, cx: &dyn ScanContext, sink: &mut Sink) -> Result<(), ScanError> {
    let index = match read_central_directory(&a.content) {
        Ok(index) => index,
        Err(err) => {
            // Streaming readers still extract such a file, so its members must be scanned.
            let index = read_local_headers(&a.content).map_err(|_| err)?;
            sink.push(Finding::new(
                &ZIP_NO_DIRECTORY,
                a.location.clone(),
                "the zip central directory is missing or corrupt; members were recovered from local headers",
            ));
            index
        }
    };
    // Archive-level classification hook: scanners that need the member list (not the members'
    // bytes) report here, before the members are scanned one by one.
    {
        let names: Vec<&str> = index.entries.iter().map(|e| e.name.as_str()).collect();
        cx.archive_listed(a, &names, sink);
    }
    for note in &index.notes {
        sink.push(Finding::new(
            &ZIP_HEADER_MISMATCH,
            a.location.clone(),
            note.clone(),
        ));
    }
    if index.cut_short {
        sink.push(
            Finding::new(
                &codes::engine::BUDGET_EXCEEDED,
                a.location.clone(),
                format!(
                    "the zip central directory holds more than {MAX_DIRECTORY_ENTRIES} entries; the rest were not scanned"
                ),
            )
            .evidence("limit", "max-directory-entries"),
        );
    }
    if index.prefix > 0 {
        sink.push(
            Finding::new(
                &ZIP_POLYGLOT,
                a.location.clone(),
                format!("{} bytes precede the zip archive", index.prefix),
            )
            .evidence("prefix-bytes", index.prefix.to_string()),
        );
    }
    if index.trailing > 0 {
        sink.push(
            Finding::new(
                &ZIP_POLYGLOT,
                a.location.clone(),
                format!("{} bytes follow the end of the zip archive", index.trailing),
            )
            .evidence("trailing-bytes", index.trailing.to_string()),
        );
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut members: Vec<(&ZipEntry, u64)> = Vec::new();
    let torch_prefixes = torch_prefixes(&index);
    let torchserve = torchserve_layout(&index, &a.content);
    // skops reads `schema.json` from the top of any zip, whatever its head looks like.
    let skops = {
        let names: Vec<&str> = index.entries.iter().map(|e| e.name.as_str()).collect();
        crate::formats::skops::is_skops_listing(&names)
    };
    for e in &index.entries {
        let copies = seen.entry(e.name.as_str()).or_default();
        *copies = copies.saturating_add(1);
        if *copies == 2 {
            sink.push(Finding::new(
                &DUPLICATE_MEMBER,
                a.location.child(&e.name),
                format!("zip member {} appears more than once", e.name),
            ));
        }
        let loc = a.location.child(&e.name);
        if is_traversal(&e.name) {
            sink.push(Finding::new(
                &PATH_TRAVERSAL,
                loc.clone(),
                format!("zip member name escapes the archive: {}", e.name),
            ));
        }
        if e.name_nul {
            sink.push(
                Finding::new(
                    &NAME_NUL,
                    loc.clone(),
                    format!(
                        "zip member name contains a NUL byte: Python's zipfile reads it as {:?}, other readers keep the bytes after the NUL",
                        e.name
                    ),
                )
                .evidence("zipfile-name", e.name.clone()),
            );
        }
        if let Some(ln) = &e.local_name {
            if ln != &e.name {
                sink.push(
                    Finding::new(
                        &ZIP_HEADER_MISMATCH,
                        loc.clone(),
                        format!(
                            "local header names the member {ln:?}, the central directory {:?}",
                            e.name
                        ),
                    )
                    .evidence("local-name", ln.clone()),
                );
            }
        }
        let flags = e.flags | e.local_flags.unwrap_or(0);
        if flags & 0x61 != 0 {
            sink.push(
                Finding::new(
                    &ZIP_FLAGS,
                    loc.clone(),
                    format!(
                        "member sets flag bits {:#06x} (encryption/patch)",
                        flags & 0x61
                    ),
                )
                .evidence("flags", format!("{flags:#06x}")),
            );
        }
        if e.unix_mode.is_some_and(|m| m & 0o170_000 == 0o120_000) {
            // Reported, and scanned too: Python's zipfile (numpy.load, Keras) ignores the mode
            // and hands the member's bytes to the loader like any file's.
            sink.push(Finding::new(
                &SYMLINK,
                loc.clone(),
                format!("zip member {} is a symbolic link", e.name),
            ));
        }
        // A directory entry holds no data; one that does is a file to `ZipFile.open` (an `.npz`
        // key `arr/` is loaded like any other), so its bytes are scanned.
        if e.is_dir && e.compressed_size == 0 && e.uncompressed_size == 0 {
            continue;
        }
        let Some(start) = e.data_start else {
            sink.push(Finding::new(
                &codes::engine::UNINSPECTABLE,
                loc,
                "member's local header is missing or corrupt, so its data cannot be located; not scanned",
            ));
            continue;
        };
        if !cx.take_member() {
            member_limit(a, "zip", sink);
            break;
        }
        if start.saturating_add(e.compressed_size) > a.content.len() {
            sink.push(Finding::new(
                &codes::engine::UNINSPECTABLE,
                loc,
                "member data runs past the end of the archive; not scanned",
            ));
            continue;
        }
        members.push((e, start));
    }
    // Members are decoded by the worker that scans them, one at a time, not all up front.
    let undecoded = std::sync::atomic::AtomicU64::new(0);
    crate::walk::scan_members(
        cx,
        a,
        members,
        |(e, _)| e.compressed_size,
        |(e, start), s| {
            if e.method != 0 && cx.uncompressed_spent() {
                undecoded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return None;
            }
            let opened = member_content(a, e, start, cx, s).and_then(|c| {
                c.map(|content| {
                    let structural = torchserve
                        .as_ref()
                        .and_then(|t| t.member_format(&e.name))
                        .or_else(|| {
                            (skops && e.name == crate::formats::skops::SCHEMA_PATH)
                                .then_some(Format::SkopsSchema)
                        });
                    match structural {
                        Some(f) => Ok(Some(f)),
                        None => torch_member_hint(&torch_prefixes, &e.name, &content),
                    }
                    .map(|hint| (e.name.clone(), content, hint))
                })
                .transpose()
            });
            match opened {
                Ok(m) => m,
                Err(err) => {
                    s.push(Finding::new(
                        &codes::engine::UNINSPECTABLE,
                        a.location.child(&e.name),
                        format!("member could not be read: {err}"),
                    ));
                    None
                }
            }
        },
        sink,
    );
    let undecoded = undecoded.into_inner();
    if undecoded > 0 {
        // Nested bombs stop at the first level past the budget: one finding for the archive,
        // not one per member (nor for each member of each member).
        sink.push(
            Finding::new(
                &BOMB,
                a.location.clone(),
                format!(
                    "{undecoded} compressed members were not decoded: the run's budget of {} decompressed bytes is spent",
                    cx.uncompressed_budget()
                ),
            )
            .evidence("limit", "max-total-uncompressed")
            .evidence("members", undecoded.to_string()),
        );
    }
    Ok(())
}

/// The content of one member: stored data is referenced in place (no copy for files on disk),
/// compressed data is decompressed under the engine's budgets.
fn member_content(
    a: &Artifact,
    e: &ZipEntry,
    start: u64,
    cx: &dyn ScanContext,
    sink: &mut Sink,
) -> Result<Option<Content>, ScanError> {
    let loc = a.location.child(&e.name);
    let stored_range = || a.content.slice(start, e.compressed_size);
    let content = match e.method {
        0 => stored_range()?,
        99 => {
            // WinZip AES: the member is encrypted whatever the flag bits say.
            sink.push(Finding::new(
                &ENCRYPTED,
                loc,
                "zip member is AES-encrypted (method 99): its content cannot be inspected",
            ));
            return Ok(None);
        }
        m => {
            let raw = stored_range()?;
            let input = raw.open()?;
            let mut dec = match member_decoder(m, input, e) {
                Ok(d) => d,
                Err(why) => {
                    let encrypted = e.flags & 0x41 != 0;
                    sink.push(
                        Finding::new(
                            if encrypted { &ENCRYPTED } else { &codes::engine::UNINSPECTABLE },
                            loc,
                            format!("zip member compressed with {why}: it cannot be decoded, so it was not inspected"),
                        )
                        .evidence("method", m.to_string()),
                    );
                    return Ok(None);
                }
            };
            match spool(&mut dec, e.compressed_size, a, &e.name, cx, sink) {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(None),
                Err(err) => {
                    // Traditional PKWARE encryption: the flag is set and the data does not decode.
                    let encrypted = e.flags & 0x41 != 0;
                    sink.push(
                        Finding::new(
                            if encrypted {
                                &ENCRYPTED
                            } else {
                                &codes::engine::UNINSPECTABLE
                            },
                            loc,
                            format!("cannot decompress member (method {m}): {err}"),
                        )
                        .evidence("method", m.to_string()),
                    );
                    return Ok(None);
                }
            }
        }
    };
    // Declared vs actual: a data descriptor (flag bit 3) may leave the directory's size at 0.
    let declared = e.uncompressed_size;
    if content.len() != declared && !(e.flags & 0x08 != 0 && declared == 0) {
        sink.push(
            Finding::new(
                &SIZE_MISMATCH,
                loc.clone(),
                format!(
                    "member declares {declared} uncompressed bytes but holds {}",
                    content.len()
                ),
            )
            .evidence("declared", declared.to_string())
            .evidence("actual", content.len().to_string()),
        );
    }
    // A member with the encryption flag whose bytes are nothing recognisable is really encrypted
    // (the CVE-2025-1945 trick sets the flag on readable data, which is scanned as usual).
    if e.flags & 0x41 != 0 && e.method == 0 {
        let head = content.head(crate::sniff::SNIFF_LEN)?;
        if crate::sniff::sniff(&head, &e.name) == Format::Unknown
            && !crate::readings::pickle_could_start(&head)
        {
            sink.push(Finding::new(
                &ENCRYPTED,
                loc.clone(),
                "zip member is encrypted (flag bit 0 and unrecognisable content): it cannot be inspected",
            ));
        }
    }
    // CRC check on what will actually be analysed. Raw data (tensor storages) is not read at all,
    // so a large checkpoint costs only its directory and pickle members.
    let head = content.head(crate::sniff::SNIFF_LEN)?;
    let analysed = crate::sniff::sniff(&head, &e.name) != Format::Unknown
        || crate::readings::pickle_could_start(&head);
    if analysed && content.len() <= cx.limits().max_in_memory {
        if let Some(bytes) = content.read_all(cx.limits().max_in_memory)? {
            let actual = crc32(&bytes);
            if actual != e.crc32 && !(e.flags & 0x08 != 0 && e.crc32 == 0) {
                sink.push(
                    Finding::new(
                        &ZIP_CRC,
                        loc,
                        format!("CRC-32 is {actual:08x}, the directory says {:08x}", e.crc32),
                    )
                    .evidence("expected", format!("{:08x}", e.crc32))
                    .evidence("actual", format!("{actual:08x}")),
                );
            }
            return Ok(Some(Content::Memory(bytes)));
        }
    }
    Ok(Some(content))
}

/// A reader of a member's decompressed bytes, for every method a common unzip tool decodes:
/// deflate (8), Deflate64 (9), bzip2 (12), LZMA (14), zstd (93), xz (95), PPMd (98). `Err` names
/// the method that has no decoder. Every decoder streams; the caller's budgets bound the output.
fn member_decoder<'a>(
    method: u16,
    mut input: Box<dyn ReadSeek + 'a>,
    e: &ZipEntry,
) -> Result<Box<dyn Read + 'a>, String> {
    Ok(match method {
        8 => Box::new(flate2::read::DeflateDecoder::new(input)),
        9 => Box::new(deflate64::Deflate64Decoder::new(input)),
        12 => Box::new(bzip2::read::BzDecoder::new(input)),
        93 => Box::new(
            zstd::stream::read::Decoder::new(input).map_err(|err| format!("zstd ({err})"))?,
        ),
        14 => {
            // Zip's LZMA: version (2 bytes), properties size (2 bytes), the 5 properties bytes,
            // then raw LZMA data; end marker when flag bit 1 is set, else the stored size.
            let mut head = [0u8; 9];
            input
                .read_exact(&mut head)
                .map_err(|err| format!("LZMA (short header: {err})"))?;
            let [_, _, _, _, props, d0, d1, d2, d3] = head;
            let dict = u32::from_le_bytes([d0, d1, d2, d3]);
            let kib = super::LZMA_MEM_KIB;
            if lzma_rust2::lzma_get_memory_usage_by_props(dict, props).map_or(true, |m| m > kib) {
                return Err(format!(
                    "LZMA (a {dict}-byte dictionary is over the {kib} KiB decoder memory limit)"
                ));
            }
            let size = if e.flags & 0x02 == 0 {
                e.uncompressed_size
            } else {
                u64::MAX
            };
            Box::new(
                lzma_rust2::LzmaReader::new_with_props(input, size, props, dict, None)
                    .map_err(|err| format!("LZMA ({err})"))?,
            )
        }
        95 => Box::new(lzma_rust2::XzReader::new_mem_limit(
            input,
            true,
            super::LZMA_MEM_KIB,
        )),
        98 => {
            // Zip's PPMd (variant I, rev. 1): a 16-bit parameter word, then the model's output.
            let mut p = [0u8; 2];
            input
                .read_exact(&mut p)
                .map_err(|err| format!("PPMd (short header: {err})"))?;
            let v = u16::from_le_bytes(p);
            let order = u32::from(v & 0x0f) + 1;
            let mem = (u32::from((v >> 4) & 0xff) + 1) << 20;
            // The decoder allocates its whole model up front. The field allows at most 256 MiB,
            // the same limit as the xz/lzma and 7z decoders; checked here so that widening the
            // field (or lowering the limit) cannot make a few-byte member allocate more.
            if u64::from(mem) > u64::from(super::LZMA_MEM_KIB) * 1024 {
                return Err(format!(
                    "PPMd with a {} MiB model (over the {} MiB decoder memory limit)",
                    mem >> 20,
                    super::LZMA_MEM_KIB >> 10
                ));
            }
            let restore = ppmd_rust::RestoreMethod::from(v >> 12);
            let dec = ppmd_rust::Ppmd8Decoder::new(input, order, mem, restore)
                .map_err(|err| format!("PPMd ({err:?})"))?;
            Box::new(dec.take(e.uncompressed_size))
        }
        m => return Err(method_name(m)),
    })
}

/// What a zip compression method is called (APPNOTE 4.4.5), for messages.
fn method_name(m: u16) -> String {
    let name = match m {
        1 => "Shrink",
        2..=5 => "Reduce",
        6 => "Implode",
        7 => "Tokenize",
        10 => "PKWARE DCL Implode",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        20 => "zstd (deprecated id)",
        94 => "MP3",
        96 => "JPEG",
        97 => "WavPack",
        _ => "an unknown method",
    };
    format!("{name} (method {m})")
}

/// For a TorchServe archive (a listing with a `MAR-INF/MANIFEST.json`), what its manifest says
/// about the members; `None` for any other zip. Only the small manifest is read here.
fn torchserve_layout(
    index: &ZipIndex,
    content: &Content,
) -> Option<crate::formats::torchserve::ArchiveLayout> {
    use crate::formats::torchserve::{
        manifest_prefix, ArchiveLayout, MANIFEST_PATH, MAX_MANIFEST_BYTES,
    };
    let names: Vec<&str> = index.entries.iter().map(|e| e.name.as_str()).collect();
    let prefix = manifest_prefix(&names)?;
    let path = format!("{prefix}{MANIFEST_PATH}");
    let entry = index.entries.iter().find(|e| e.name == path)?;
    let bytes = read_member(content, entry, MAX_MANIFEST_BYTES as u64).ok();
    Some(ArchiveLayout::from_manifest(prefix, bytes.as_deref()))
}

/// The record prefixes (`archive/`, `model_name/`, or empty) of PyTorch archives inside this zip:
/// every folder holding a `data.pkl` or `constants.pkl` record.
fn torch_prefixes(index: &ZipIndex) -> Vec<String> {
    let mut v: Vec<String> = index
        .entries
        .iter()
        .filter_map(|e| {
            e.name
                .strip_suffix("data.pkl")
                .or_else(|| e.name.strip_suffix("constants.pkl"))
                .filter(|p| p.is_empty() || p.ends_with('/'))
                .map(str::to_owned)
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Members of a PyTorch archive that torch reads only as raw numbers or plain text: tensor
/// storages (`data/<key>`, `constants/<key>`) and the small metadata records. They are classified
/// as [`Format::Data`] from the archive structure, so random tensor bytes that happen to start like
/// a pickle never raise false alarms. Storages must not look like a container or a pickle-bearing
/// format with a magic number (a zip or npy stuffed into a storage is still scanned as such).
fn torch_member_hint(
    prefixes: &[String],
    name: &str,
    content: &Content,
) -> Result<Option<Format>, ScanError> {
    const RECORDS: &[&str] = &[
        "version",
        ".format_version",
        ".storage_alignment",
        "byteorder",
        ".data/serialization_id",
        ".data/version",
    ];
    for p in prefixes {
        let Some(rest) = name.strip_prefix(p.as_str()) else {
            continue;
        };
        // TorchScript sources: compiled by the TorchScript compiler, not imported by Python.
        if rest.starts_with("code/") && rest.ends_with(".py") {
            return Ok(Some(Format::TorchScriptCode));
        }
        // A key ending in `.pkl` is no storage: with an empty prefix (a top-level `data.pkl`),
        // `data/data.pkl` is the pickle torch reads when the first entry names the folder
        // `data` (older readers take the archive folder from the first entry alone; miniz
        // compares names case-insensitively).
        let storage = rest
            .strip_prefix("data/")
            .or_else(|| rest.strip_prefix("constants/"))
            .is_some_and(|k| {
                !k.is_empty() && !k.contains('/') && !k.to_ascii_lowercase().ends_with(".pkl")
            });
        if storage || RECORDS.contains(&rest) {
            let head = content.head(crate::sniff::SNIFF_LEN)?;
            let sniffed = crate::sniff::sniff(&head, name);
            let structured = sniffed.is_archive() || sniffed.identifies_itself();
            return Ok(if structured { None } else { Some(Format::Data) });
        }
    }
    Ok(None)
}

/// Recovers members from local headers alone, the way streaming zip readers (Java's
/// `ZipInputStream`, `unzip -` pipelines) do when the central directory is missing or corrupt.
pub fn read_local_headers(content: &Content) -> Result<ZipIndex, ScanError> {
    const MAX_ENTRIES: usize = 100_000;
    let len = content.len();
    let mut entries = Vec::new();
    let mut r = content.open()?;
    let mut p: u64 = 0;
    while p.saturating_add(30) <= len && entries.len() < MAX_ENTRIES {
        let h = read_at(&mut r, p, 30)?;
        if h.get(..4) != Some(b"PK\x03\x04") {
            break;
        }
        let flags = le16(&h, 6).unwrap_or(0);
        let method = le16(&h, 8).unwrap_or(0);
        let crc32 = le32(&h, 14).unwrap_or(0);
        let mut csize = u64::from(le32(&h, 18).unwrap_or(0));
        let usize_ = u64::from(le32(&h, 22).unwrap_or(0));
        let nlen = u64::from(le16(&h, 26).unwrap_or(0));
        let xlen = u64::from(le16(&h, 28).unwrap_or(0));
        let (name, name_nul) = decode_name(&read_at(&mut r, p.saturating_add(30), nlen)?, flags);
        let data_start = p
            .saturating_add(30)
            .saturating_add(nlen)
            .saturating_add(xlen);
        if flags & 0x08 != 0 && csize == 0 {
            // Sizes follow the data in a descriptor: find the next header to bound the member.
            csize = next_signature(content, data_start)?
                .map_or(len.saturating_sub(data_start), |n| {
                    n.saturating_sub(data_start)
                });
            if csize >= 16
                && read_range(
                    content,
                    data_start.saturating_add(csize).saturating_sub(16),
                    4,
                )? == b"PK\x07\x08"
            {
                csize = csize.saturating_sub(16);
            }
        }
        let next = data_start.saturating_add(csize);
        entries.push(ZipEntry {
            is_dir: name.ends_with('/'),
            local_name: Some(name.clone()),
            name,
            name_nul,
            method,
            flags,
            local_flags: Some(flags),
            crc32,
            compressed_size: csize,
            uncompressed_size: usize_,
            data_start: Some(data_start),
            unix_mode: None,
        });
        p = next;
        // Skip a data descriptor (with or without its optional signature) if one follows.
        if flags & 0x08 != 0 {
            let d = read_at(&mut r, p, 4)?;
            p = p.saturating_add(if d == b"PK\x07\x08" { 16 } else { 12 });
        }
    }
    if entries.is_empty() {
        return Err(bad(
            "no end-of-central-directory record and no local headers",
        ));
    }
    Ok(ZipIndex {
        entries,
        prefix: 0,
        trailing: len.saturating_sub(p),
        notes: Vec::new(),
        cut_short: false,
    })
}

/// The offset of the next local-header signature at or after `from`, scanning in chunks.
fn next_signature(content: &Content, from: u64) -> Result<Option<u64>, ScanError> {
    let mut r = content.open()?;
    r.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let mut base = from;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        let mut window = std::mem::take(&mut carry);
        let carried = window.len() as u64;
        window.extend_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(i) = window
            .windows(4)
            .position(|w| w == b"PK\x03\x04" || w == b"PK\x01\x02")
        {
            return Ok(Some(base.saturating_sub(carried).saturating_add(i as u64)));
        }
        carry = window
            .get(window.len().saturating_sub(3)..)
            .unwrap_or_default()
            .to_vec();
        base = base.saturating_add(n as u64);
    }
}

/// Reads one member's bytes (stored or deflated), at most `limit` of them: for callers that need
/// a single small file out of a zip (a wheel's RECORD) rather than a scan of every member.
pub fn read_member(content: &Content, entry: &ZipEntry, limit: u64) -> Result<Vec<u8>, ScanError> {
    let start = entry
        .data_start
        .ok_or_else(|| bad(format!("{}: local header missing", entry.name)))?;
    if start.saturating_add(entry.compressed_size) > content.len() {
        return Err(bad(format!(
            "{}: data runs past the end of the archive",
            entry.name
        )));
    }
    let raw = content.slice(start, entry.compressed_size)?;
    let input = raw.open()?;
    let mut out = Vec::new();
    if entry.method == 0 {
        input.take(limit).read_to_end(&mut out)?;
    } else {
        member_decoder(entry.method, input, entry)
            .map_err(|why| ScanError::Unsupported(format!("{}: {why}", entry.name)))?
            .take(limit)
            .read_to_end(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used
)]
mod tests {
    use super::*;

    fn local(name: &str, data: &[u8]) -> Vec<u8> {
        let mut v = b"PK\x03\x04".to_vec();
        for f in [20u16, 0, 0, 0, 0] {
            v.extend(f.to_le_bytes());
        }
        v.extend(crc32(data).to_le_bytes());
        v.extend((data.len() as u32).to_le_bytes());
        v.extend((data.len() as u32).to_le_bytes());
        v.extend((name.len() as u16).to_le_bytes());
        v.extend(0u16.to_le_bytes());
        v.extend(name.as_bytes());
        v.extend(data);
        v
    }

    fn central(name: &str, data: &[u8], offset: u32) -> Vec<u8> {
        let mut v = b"PK\x01\x02".to_vec();
        for f in [20u16, 20, 0, 0, 0, 0] {
            v.extend(f.to_le_bytes());
        }
        v.extend(crc32(data).to_le_bytes());
        v.extend((data.len() as u32).to_le_bytes());
        v.extend((data.len() as u32).to_le_bytes());
        v.extend((name.len() as u16).to_le_bytes());
        for f in [0u16, 0, 0, 0] {
            v.extend(f.to_le_bytes());
        }
        v.extend(0u32.to_le_bytes());
        v.extend(offset.to_le_bytes());
        v.extend(name.as_bytes());
        v
    }

    fn end(count: u16, size: u32, offset: u32) -> Vec<u8> {
        let mut v = b"PK\x05\x06".to_vec();
        for f in [0u16, 0, count, count] {
            v.extend(f.to_le_bytes());
        }
        v.extend(size.to_le_bytes());
        v.extend(offset.to_le_bytes());
        v.extend(0u16.to_le_bytes());
        v
    }

    fn zip64_record(count: u64, size: u64, offset: u64) -> Vec<u8> {
        let mut v = b"PK\x06\x06".to_vec();
        v.extend(44u64.to_le_bytes());
        v.extend(45u16.to_le_bytes());
        v.extend(45u16.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        for f in [count, count, size, offset] {
            v.extend(f.to_le_bytes());
        }
        v
    }

    /// (local headers and data, central directory) for stored members, offsets from `start`.
    fn stored(members: &[(&str, &[u8])], start: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut l, mut c) = (Vec::new(), Vec::new());
        for (name, data) in members {
            c.extend(central(name, data, (start + l.len()) as u32));
            l.extend(local(name, data));
        }
        (l, c)
    }

    fn names(index: &ZipIndex) -> Vec<&str> {
        index.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn the_directory_is_read_to_its_size_whatever_the_count() {
        // zipfile ignores the end record's count; entries past it are members to Python.
        let members: Vec<(String, &[u8])> =
            (0..6).map(|i| (format!("f{i}.txt"), &b"x"[..])).collect();
        let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let (l, c) = stored(&refs, 0);
        let mut zip = l.clone();
        zip.extend(&c);
        zip.extend(end(1, c.len() as u32, l.len() as u32));
        let index = read_central_directory(&Content::from_vec(zip)).unwrap();
        assert_eq!(names(&index).len(), 6);
    }

    #[test]
    fn a_name_running_past_the_directory_is_cut_not_fatal() {
        // zipfile reads the last entry's name from what is left of the directory; the entries
        // before it are found through the directory, whatever lies between local headers.
        let mut zip = local("notes.txt", b"hi");
        zip.extend(b"JUNK".repeat(8));
        let second = zip.len();
        zip.extend(local("model.pkl", b"N."));
        let mut c = central("notes.txt", b"hi", 0);
        c.extend(central("model.pkl", b"N.", second as u32));
        let last = c.len();
        c.extend(central("tail.txt", b"", 0));
        c[last + 28..last + 30].copy_from_slice(&200u16.to_le_bytes());
        let dir = zip.len();
        zip.extend(&c);
        zip.extend(end(3, c.len() as u32, dir as u32));
        let index = read_central_directory(&Content::from_vec(zip)).unwrap();
        let n = names(&index);
        assert_eq!(n[..2], ["notes.txt", "model.pkl"], "{n:?}");
        assert_eq!(index.entries[1].data_start, Some((second + 30 + 9) as u64));
    }

    #[test]
    fn a_zip64_locator_pointing_at_a_decoy_record_reads_both_directories() {
        let (l, c) = stored(&[("decoy.pkl", b"N.")], 0);
        let mut zip = l;
        let decoy_dir = zip.len();
        zip.extend(&c);
        let decoy = zip.len();
        zip.extend(zip64_record(1, c.len() as u64, decoy_dir as u64));
        let (l, c) = stored(&[("model.pkl", b"N.")], zip.len());
        zip.extend(l);
        let dir = zip.len();
        zip.extend(&c);
        zip.extend(zip64_record(1, c.len() as u64, dir as u64));
        zip.extend(b"PK\x06\x07");
        zip.extend(0u32.to_le_bytes());
        zip.extend((decoy as u64).to_le_bytes());
        zip.extend(1u32.to_le_bytes());
        zip.extend(end(0xffff, 0xffff_ffff, 0xffff_ffff));
        let index = read_central_directory(&Content::from_vec(zip)).unwrap();
        let n = names(&index);
        // miniz's reading (the locator's record) and zipfile's (the record before the locator).
        assert!(
            n.contains(&"decoy.pkl") && n.contains(&"model.pkl"),
            "{n:?}"
        );
        assert!(index.entries.iter().all(|e| e.data_start.is_some()));
        assert_eq!(index.notes.len(), 1, "{:?}", index.notes);
    }

    #[test]
    fn a_zip64_locator_without_a_record_before_it_leaves_zipfile_on_the_end_record() {
        // zipfile finds no zip64 record right before the locator and reads the end record's
        // own fields (a directory whose last comment covers the locator); miniz follows the
        // locator to a decoy record.
        let mut zip = local("model.pkl", b"payload.");
        let decoy_local = zip.len();
        zip.extend(local("model.pkl", b"N."));
        let decoy_dir = zip.len();
        let c = central("model.pkl", b"N.", decoy_local as u32);
        zip.extend(&c);
        let decoy = zip.len();
        zip.extend(zip64_record(1, c.len() as u64, decoy_dir as u64));
        let dir = zip.len();
        let mut c = central("model.pkl", b"payload.", 0);
        c[32..34].copy_from_slice(&20u16.to_le_bytes());
        zip.extend(&c);
        zip.extend(b"PK\x06\x07");
        zip.extend(0u32.to_le_bytes());
        zip.extend((decoy as u64).to_le_bytes());
        zip.extend(1u32.to_le_bytes());
        zip.extend(end(1, (c.len() + 20) as u32, dir as u32));
        let index = read_central_directory(&Content::from_vec(zip)).unwrap();
        let starts: Vec<Option<u64>> = index.entries.iter().map(|e| e.data_start).collect();
        assert!(starts.contains(&Some(39)), "{starts:?}");
        assert!(
            starts.contains(&Some(decoy_local as u64 + 39)),
            "{starts:?}"
        );
        assert_eq!(index.notes.len(), 1, "{:?}", index.notes);
    }

    #[test]
    fn a_directory_offset_past_the_directory_moves_local_headers_back_for_zipfile() {
        // zipfile's `concat` is negative: every local header offset is read k bytes earlier.
        let payload = local("model.pkl", b"payload.");
        let cover = local("model.pkl", b"cover...");
        let k = payload.len();
        let c = central("model.pkl", b"payload.", k as u32);
        let mut zip = payload.clone();
        zip.extend(&cover);
        let dir = zip.len();
        zip.extend(&c);
        zip.extend(end(1, c.len() as u32, (dir + k) as u32));
        let index = read_central_directory(&Content::from_vec(zip)).unwrap();
        let starts: Vec<Option<u64>> = index.entries.iter().map(|e| e.data_start).collect();
        let payload_start = (30 + "model.pkl".len()) as u64;
        assert!(starts.contains(&Some(payload_start)), "{starts:?}");
        assert!(
            starts.contains(&Some(k as u64 + payload_start)),
            "{starts:?}"
        );
        assert!(!index.notes.is_empty());
    }
}
