#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! RAR archives (the RAR 1.5–4.x block format and the RAR 5.0 format): the block headers read
//! the way RARLab's `unrar` reads them, so that the member list is the one an extractor acts on.
//!
//! modelgate has no RAR decompressor, on purpose. The only complete one is RARLab's C++ `unrar`
//! source (the `unrar` crate bundles it): non-free licence terms, C++ built into the product, and
//! a decompressor of attacker input running in the scanner's process, which the "no unsafe"
//! rule exists to avoid. The headers are documented (RARLab's technote for RAR 5.0, the RAR 4.x
//! technote), so they are parsed here; **stored** members (method 0) are their own bytes and go
//! through the engine like any member, and every member that needs a decoder (compressed,
//! encrypted, split across volumes) is reported as uninspectable: what cannot be read is never
//! clean.
//!
//! Where `unrar` is lenient, this reader is too: a header whose CRC does not match is reported and
//! still used (`unrar` warns and goes on), a field past a header's end reads as zero (its
//! `RawRead`), a name ends at its first NUL (`unrar` copies it as a C string), RAR 4 names use
//! `\` and `/` as separators while RAR 5 names only `/`, the end-of-archive block is optional, and
//! an archive may follow an SFX prelude of up to 4 MiB (`unrar`'s `MAXSFXSIZE`).
//!
//! Not read: the RAR 5 quick-open record (`QO` service header, a cache of header copies that
//! `unrar` may serve instead of the headers themselves), so a cache that disagrees with the
//! headers is not detected; RAR 1.4 (`RE~^`) archives, which the walker reports as uninspectable.

use std::io;

use crate::hash::crc32;

/// The bytes of the content being read: `read_at(offset, len)` returns up to `len` bytes (fewer
/// at the end), and `len` is the content's size.
pub struct Source<'a> {
    pub len: u64,
    pub read_at: &'a dyn Fn(u64, usize) -> io::Result<Vec<u8>>,
}

/// How far into a file `unrar` looks for the RAR signature (`MAXSFXSIZE` in its `rardefs.hpp`):
/// a self-extracting archive is a program with the archive appended.
pub const SFX_SEARCH: usize = 4 * 1024 * 1024;

/// Headers walked per archive. Every header advances at least 7 bytes, so a hostile archive can
/// hold millions of empty ones; members are also bounded by the run's member budget.
pub const MAX_HEADERS: usize = 1_000_000;

const SIG4: &[u8] = b"Rar!\x1a\x07\x00";
const SIG5: &[u8] = b"Rar!\x1a\x07\x01\x00";
/// The first seven bytes of [`SIG5`] (a window the size of [`SIG4`]).
const SIG5_HEAD: &[u8] = b"Rar!\x1a\x07\x01";

/// Which block format an archive uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// RAR 1.5–4.x (signature `Rar!\x1a\x07\x00`).
    V4,
    /// RAR 5.0 and later (signature `Rar!\x1a\x07\x01\x00`).
    V5,
}

/// Where a RAR archive starts: its format and the signature's offset.
pub fn find_signature(head: &[u8]) -> Option<(Version, u64)> {
    let mut from = 0usize;
    while let Some(rel) = head
        .get(from..)
        .and_then(|h| h.windows(7).position(|w| w == SIG4 || w == SIG5_HEAD))
    {
        let at = from.saturating_add(rel);
        let rest = head.get(at..).unwrap_or_default();
        if rest.starts_with(SIG4) {
            return Some((Version::V4, at as u64));
        }
        if rest.starts_with(SIG5) {
            return Some((Version::V5, at as u64));
        }
        from = at.saturating_add(1);
    }
    None
}

/// Whether `head` starts with a RAR signature (either format).
pub fn is_rar(head: &[u8]) -> bool {
    head.starts_with(SIG4) || head.starts_with(SIG5) || is_rar14(head)
}

/// The RAR 1.4 signature (`RE~^`): a block format older than the technotes describe, which
/// `unrar` still extracts. Its headers are not read; the archive is reported as uninspectable.
pub fn is_rar14(head: &[u8]) -> bool {
    head.starts_with(b"RE~^")
}

/// What a member is to an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    /// A symbolic link, hard link, junction or file copy (`unrar` creates it, or copies another
    /// member); the text says which.
    Link(&'static str),
    /// An NTFS alternate data stream of the preceding file (service header `STM`), which `unrar`
    /// writes on Windows.
    Stream,
}

/// One file (or stream) header.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name as an extractor writes it, as bytes (UTF-8 unless the archive says otherwise;
    /// separators normalised to `/`). The walker turns it into report text.
    pub name: Vec<u8>,
    pub kind: EntryKind,
    /// Offset of the data area within the content.
    pub data_start: u64,
    /// Bytes of the data area (packed size).
    pub packed: u64,
    /// Declared unpacked size, `None` when the header says it is unknown.
    pub unpacked: Option<u64>,
    /// Compression method: 0 stores, 1–5 compress (RAR 4's `0x30`–`0x35` mapped to 0–5).
    pub method: u8,
    pub encrypted: bool,
    /// The data continues from the previous volume.
    pub split_before: bool,
    /// The data continues in the next volume.
    pub split_after: bool,
    /// CRC-32 of the unpacked data, when the header has one.
    pub crc: Option<u32>,
    /// The header's own CRC matched.
    pub header_ok: bool,
    /// The raw name contained a NUL (names end at it).
    pub name_nul: bool,
    /// A RAR 5 link's target (its redirection record); a RAR 4 link keeps it in its data.
    pub link_target: Option<Vec<u8>>,
}

/// An archive's headers as `unrar` lists them.
#[derive(Debug, Clone)]
pub struct Listing {
    pub version: Version,
    /// Offset of the signature (non-zero for a self-extracting archive).
    pub offset: u64,
    pub entries: Vec<Entry>,
    /// Headers after the archive header are encrypted: nothing can be listed.
    pub headers_encrypted: bool,
    /// The archive header marks a volume of a multi-volume set.
    pub volume: bool,
    /// Where and why the walk stopped before an end-of-archive header, if it did.
    pub stopped: Option<(u64, String)>,
    /// The header count reached [`MAX_HEADERS`].
    pub truncated: bool,
}

/// Reads the headers of the archive starting at `offset` in `content`.
pub fn read_listing(content: &Source<'_>, version: Version, offset: u64) -> Listing {
    let mut l = Listing {
        version,
        offset,
        entries: Vec::new(),
        headers_encrypted: false,
        volume: false,
        stopped: None,
        truncated: false,
    };
    match version {
        Version::V4 => read_v4(content, &mut l),
        Version::V5 => read_v5(content, &mut l),
    }
    l
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

/// RAR 4 block types (`HEAD3_*` in `unrar`).
const MAIN4: u8 = 0x73;
const FILE4: u8 = 0x74;
const SERVICE4: u8 = 0x7a;
const END4: u8 = 0x7b;

fn read_v4(content: &Source<'_>, l: &mut Listing) {
    let len = content.len;
    let mut pos = l.offset.saturating_add(SIG4.len() as u64);
    let mut last_file: Option<Vec<u8>> = None;
    for n in 0.. {
        if n >= MAX_HEADERS {
            l.truncated = true;
            return;
        }
        if pos >= len {
            // The end-of-archive block is optional (RAR 2.x–4.x writers may leave it out, and
            // `unrar` stops at the end of the file either way); data running past the end is
            // the walker's to report, per member.
            return;
        }
        let Ok(short) = (content.read_at)(pos, 7) else {
            l.stopped = Some((pos, "cannot read a block header".into()));
            return;
        };
        let (Some(crc), Some(&kind), Some(flags), Some(size)) = (
            le16(&short, 0),
            short.get(2),
            le16(&short, 3),
            le16(&short, 5),
        ) else {
            l.stopped = Some((pos, "truncated block header".into()));
            return;
        };
        if size < 7 {
            l.stopped = Some((pos, format!("block header size {size} is below 7")));
            return;
        }
        let Ok(h) = (content.read_at)(pos, usize::from(size)) else {
            l.stopped = Some((pos, "cannot read a block header".into()));
            return;
        };
        if h.len() < usize::from(size) {
            l.stopped = Some((pos, "the archive ends inside a block header".into()));
            return;
        }
        // `unrar` checks a file header holding an old-style comment (`LHD_COMMENT`, RAR 1.5–2.x)
        // only over the fields it read (`GetCRC15(ProcessedOnly)`): the comment is not covered.
        let covered = if kind == FILE4 && flags & 0x0008 != 0 {
            h.get(2..file_v4_fields_end(&h, flags))
        } else {
            h.get(2..)
        };
        let header_ok = crc32(covered.unwrap_or_default()) & 0xffff == u32::from(crc);
        let mut next = pos.saturating_add(u64::from(size));
        match kind {
            MAIN4 => {
                l.volume = flags & 0x0001 != 0;
                if flags & 0x0080 != 0 {
                    l.headers_encrypted = true;
                    return;
                }
            }
            FILE4 | SERVICE4 => {
                let e = file_v4(
                    &h,
                    kind == FILE4,
                    flags,
                    pos,
                    header_ok,
                    last_file.as_deref(),
                );
                next = next.saturating_add(e.packed);
                if kind == FILE4 {
                    last_file = Some(e.name.clone());
                    l.entries.push(e);
                } else if e.kind == EntryKind::Stream {
                    l.entries.push(e);
                }
            }
            END4 => return,
            _ => {
                // Other blocks carry a 32-bit data size when their LONG_BLOCK flag is set.
                if flags & 0x8000 != 0 {
                    next = next.saturating_add(u64::from(le32(&h, 7).unwrap_or(0)));
                }
            }
        }
        if next <= pos {
            l.stopped = Some((pos, "a block points back into the archive".into()));
            return;
        }
        pos = next;
    }
}

/// A RAR 4 file (`FILE4`) or service (`SERVICE4`) header.
fn file_v4(
    h: &[u8],
    is_file: bool,
    flags: u16,
    pos: u64,
    header_ok: bool,
    last_file: Option<&[u8]>,
) -> Entry {
    let mut f = Fields::new(h, 7);
    let pack_lo = f.u32();
    let unp_lo = f.u32();
    let host = f.u8();
    let crc = f.u32();
    f.skip(4); // FTIME
    f.skip(1); // UNP_VER
    let method = f.u8().wrapping_sub(0x30);
    let name_size = usize::from(f.u16());
    let attr = f.u32();
    let (pack_hi, unp_hi) = if flags & 0x0100 != 0 {
        (f.u32(), f.u32())
    } else {
        (0, 0)
    };
    let unknown = if flags & 0x0100 != 0 {
        unp_lo == u32::MAX && unp_hi == u32::MAX
    } else {
        unp_lo == u32::MAX
    };
    // `unrar` reads the name from what the header holds (a short header gives a short name).
    let raw = f.bytes(name_size);
    let packed = (u64::from(pack_hi) << 32) | u64::from(pack_lo);
    let unpacked = (u64::from(unp_hi) << 32) | u64::from(unp_lo);
    let nul = raw.iter().position(|&b| b == 0);
    let ascii = raw.get(..nul.unwrap_or(raw.len())).unwrap_or_default();
    let name_nul;
    let name: Vec<u8> = if is_file {
        let mut wide = Vec::new();
        if flags & 0x0200 != 0 {
            if let Some(z) = nul {
                wide = decode_unicode_name(raw, raw.get(z.saturating_add(1)..).unwrap_or_default())
                    .into_bytes();
            } else {
                // Without a NUL the name is UTF-8 (RAR 3.x writers and 7-Zip agree).
                wide = raw.to_vec();
            }
        }
        // The NUL ending the ASCII name of a Unicode header is the format's own separator.
        name_nul = nul.is_some() && flags & 0x0200 == 0;
        if wide.is_empty() {
            wide = ascii.to_vec();
        }
        // RAR 4 names take `\` and `/` as separators (`unrar`'s `ConvertFileHeader`).
        wide.iter()
            .map(|&b| if b == b'\\' { b'/' } else { b })
            .collect()
    } else {
        name_nul = false;
        ascii.to_vec()
    };
    let kind = if !is_file {
        if name != b"STM" {
            // Comments, ACLs, recovery records and the like: metadata, not extracted files.
            return Entry {
                name,
                kind: EntryKind::File,
                data_start: 0,
                packed,
                unpacked: None,
                method,
                encrypted: false,
                split_before: false,
                split_after: false,
                crc: None,
                header_ok,
                name_nul: false,
                link_target: None,
            };
        }
        EntryKind::Stream
    } else if flags & 0x00e0 == 0x00e0 {
        EntryKind::Directory
    } else if host == 3 && attr & 0xf000 == 0xa000 {
        EntryKind::Link("symbolic link")
    } else {
        EntryKind::File
    };
    let name = if kind == EntryKind::Stream {
        stream_name(last_file)
    } else {
        name
    };
    Entry {
        name,
        kind,
        data_start: pos.saturating_add(h.len() as u64),
        packed,
        unpacked: (!unknown).then_some(unpacked),
        method,
        encrypted: flags & 0x0004 != 0,
        split_before: flags & 0x0001 != 0,
        split_after: flags & 0x0002 != 0,
        crc: Some(crc),
        header_ok,
        name_nul,
        link_target: None,
    }
}

/// Where the fields `unrar` reads of a RAR 4 file header end: the fixed fields, the high sizes,
/// the name, the salt and the extended times (`ReadHeader15`, which skips the archive time).
fn file_v4_fields_end(h: &[u8], flags: u16) -> usize {
    let mut f = Fields::new(h, 7);
    f.skip(19); // PACK_SIZE, UNP_SIZE, HOST_OS, FILE_CRC, FTIME, UNP_VER, METHOD
    let name_size = usize::from(f.u16());
    f.skip(4); // ATTR
    if flags & 0x0100 != 0 {
        f.skip(8);
    }
    f.skip(name_size);
    if flags & 0x0400 != 0 {
        f.skip(8); // SALT
    }
    if flags & 0x1000 != 0 {
        let ext = f.u16();
        // mtime, ctime, atime; the archive time's bytes are not read.
        for (i, shift) in [12u16, 8, 4].into_iter().enumerate() {
            let mode = (ext >> shift) & 0xf;
            if mode & 8 == 0 {
                continue;
            }
            if i != 0 {
                f.skip(4); // a DOS time
            }
            f.skip(usize::from(mode & 3));
        }
    }
    f.at.min(h.len())
}

/// The name under which an NTFS stream of `file` is reported.
fn stream_name(file: Option<&[u8]>) -> Vec<u8> {
    let mut n = file.unwrap_or_default().to_vec();
    n.extend_from_slice(b":stream");
    n
}

/// RAR 4's compact Unicode name encoding (`EncodeFileName::Decode` in `unrar`): a high byte,
/// then groups of four 2-bit opcodes that copy a byte, a byte under the high byte, a full
/// 16-bit unit, or a run of the ASCII name (optionally corrected).
fn decode_unicode_name(ascii: &[u8], enc: &[u8]) -> String {
    /// `unrar`'s `NM`: the longest name it decodes.
    const MAX: usize = 2048;
    let mut out: Vec<u16> = Vec::new();
    let byte = |i: usize| u16::from(enc.get(i).copied().unwrap_or(0));
    let mut i = 0usize;
    let high = byte(i);
    i = i.saturating_add(1);
    let mut flags = 0u16;
    let mut bits = 0u8;
    while i < enc.len() && out.len() < MAX {
        if bits == 0 {
            flags = byte(i);
            i = i.saturating_add(1);
            bits = 8;
        }
        match (flags >> 6) & 3 {
            0 => {
                out.push(byte(i));
                i = i.saturating_add(1);
            }
            1 => {
                out.push(byte(i).wrapping_add(high << 8));
                i = i.saturating_add(1);
            }
            2 => {
                out.push(byte(i) | (byte(i.saturating_add(1)) << 8));
                i = i.saturating_add(2);
            }
            _ => {
                let len = byte(i);
                i = i.saturating_add(1);
                let at = |k: usize| u16::from(ascii.get(k).copied().unwrap_or(0));
                if len & 0x80 != 0 {
                    let correction = byte(i);
                    i = i.saturating_add(1);
                    for _ in 0..(len & 0x7f).saturating_add(2) {
                        if out.len() >= MAX {
                            break;
                        }
                        let c = at(out.len()).wrapping_add(correction) & 0xff;
                        out.push(c.wrapping_add(high << 8));
                    }
                } else {
                    for _ in 0..len.saturating_add(2) {
                        if out.len() >= MAX {
                            break;
                        }
                        out.push(at(out.len()));
                    }
                }
            }
        }
        flags = (flags << 2) & 0xff;
        bits = bits.saturating_sub(2);
    }
    // The decoded name is a C string: it ends at its first NUL.
    if let Some(z) = out.iter().position(|&c| c == 0) {
        out.truncate(z);
    }
    String::from_utf16_lossy(&out)
}

/// Reads header fields the way `unrar`'s `RawRead` does: a field that runs past the header's end
/// reads as zero (`Get4`, `GetV`), and a byte string is cut at the end. A short or odd header
/// therefore still parses, as it does for the extractor, instead of stopping the listing before
/// members `unrar` goes on to extract.
struct Fields<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8], at: usize) -> Self {
        Self { b, at }
    }

    fn u8(&mut self) -> u8 {
        let v = self.b.get(self.at).copied();
        self.at = self.at.saturating_add(1);
        v.unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        let v = le16(self.b, self.at);
        self.at = self.at.saturating_add(2);
        v.unwrap_or(0)
    }

    fn u32(&mut self) -> u32 {
        let v = le32(self.b, self.at);
        self.at = self.at.saturating_add(4);
        v.unwrap_or(0)
    }

    /// A RAR 5 variable-length integer: 7 bits per byte, low bits first; 0 when it does not end
    /// within 10 bytes or the header (`RawRead::GetV`, which still consumes what it read).
    fn vint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0u32;
        while shift < 64 {
            let Some(&byte) = self.b.get(self.at) else {
                return 0;
            };
            self.at = self.at.saturating_add(1);
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift = shift.saturating_add(7);
        }
        0
    }

    /// Up to `n` bytes (fewer at the header's end).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.b.len());
        let end = start.saturating_add(n).min(self.b.len());
        self.at = self.at.saturating_add(n);
        self.b.get(start..end).unwrap_or_default()
    }

    fn skip(&mut self, n: usize) {
        self.at = self.at.saturating_add(n);
    }
}

/// The size field of a RAR 5 header: a vint that must end within the first three bytes after the
/// CRC (`unrar` reads 7 bytes first and calls `GetVSize(4)` on them), so at most 2 MiB.
fn header_size(first: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for ((&byte, shift), end) in first.get(4..7)?.iter().zip([0u32, 7, 14]).zip(5usize..) {
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, end));
        }
    }
    None
}

/// RAR 5 header types.
const MAIN5: u64 = 1;
const FILE5: u64 = 2;
const SERVICE5: u64 = 3;
const CRYPT5: u64 = 4;
const END5: u64 = 5;

fn read_v5(content: &Source<'_>, l: &mut Listing) {
    let len = content.len;
    let mut pos = l.offset.saturating_add(SIG5.len() as u64);
    let mut last_file: Option<Vec<u8>> = None;
    for n in 0.. {
        if n >= MAX_HEADERS {
            l.truncated = true;
            return;
        }
        if pos >= len {
            // The end-of-archive block is optional (RAR 2.x–4.x writers may leave it out, and
            // `unrar` stops at the end of the file either way); data running past the end is
            // the walker's to report, per member.
            return;
        }
        // CRC32, then the size as a vint of at most 3 bytes.
        let Ok(first) = (content.read_at)(pos, 7) else {
            l.stopped = Some((pos, "cannot read a header".into()));
            return;
        };
        let Some(crc) = le32(&first, 0) else {
            l.stopped = Some((pos, "truncated header".into()));
            return;
        };
        let Some((size, at)) = header_size(&first).filter(|&(size, _)| size > 0) else {
            l.stopped = Some((pos, "unreadable header size".into()));
            return;
        };
        if (at as u64).saturating_add(size) < 7 {
            // `unrar`: a header shorter than the 7-byte short block is broken.
            l.stopped = Some((pos, format!("header size {size} is too small")));
            return;
        }
        let total = (at as u64).saturating_add(size);
        let Ok(h) = (content.read_at)(pos, usize::try_from(total).unwrap_or(usize::MAX)) else {
            l.stopped = Some((pos, "cannot read a header".into()));
            return;
        };
        if (h.len() as u64) < total {
            l.stopped = Some((pos, "the archive ends inside a header".into()));
            return;
        }
        let header_ok = crc32(h.get(4..).unwrap_or_default()) == crc;
        let Some(common) = common_v5(&h, at) else {
            l.stopped = Some((pos, "truncated header".into()));
            return;
        };
        let next = pos.saturating_add(total).saturating_add(common.data);
        match common.kind {
            CRYPT5 => {
                l.headers_encrypted = true;
                return;
            }
            MAIN5 => {
                l.volume = Fields::new(&h, common.body).vint() & 1 != 0;
            }
            FILE5 | SERVICE5 => {
                let mut e = file_v5(&h, &common, pos.saturating_add(total), header_ok);
                if common.kind == FILE5 {
                    last_file = Some(e.name.clone());
                    l.entries.push(e);
                } else if e.name == b"STM" {
                    e.kind = EntryKind::Stream;
                    e.name = stream_name(last_file.as_deref());
                    l.entries.push(e);
                }
            }
            END5 => return,
            _ => {}
        }
        if next <= pos {
            l.stopped = Some((pos, "a header points back into the archive".into()));
            return;
        }
        pos = next;
    }
}

/// The fields every RAR 5 header starts with.
struct Common {
    kind: u64,
    flags: u64,
    /// Offset (in the header) of the extra area, if any.
    extra: Option<usize>,
    data: u64,
    /// Offset of the type-specific fields.
    body: usize,
}

fn common_v5(h: &[u8], at: usize) -> Option<Common> {
    let mut f = Fields::new(h, at);
    let kind = f.vint();
    let flags = f.vint();
    let extra_size = if flags & 1 != 0 { f.vint() } else { 0 };
    let data = if flags & 2 != 0 { f.vint() } else { 0 };
    // `unrar` rejects an extra area as large as the header.
    let extra = if flags & 1 != 0 {
        let size = usize::try_from(extra_size).ok()?;
        if size >= h.len() {
            return None;
        }
        Some(h.len().checked_sub(size)?)
    } else {
        None
    };
    Some(Common {
        kind,
        flags,
        extra,
        data,
        body: f.at,
    })
}

/// A RAR 5 file or service header (`common` already read); `data_start` is where its data begins.
fn file_v5(h: &[u8], common: &Common, data_start: u64, header_ok: bool) -> Entry {
    let mut f = Fields::new(h, common.body);
    let file_flags = f.vint();
    let unpacked = f.vint();
    let attr = f.vint();
    if file_flags & 0x2 != 0 {
        f.skip(4);
    }
    let crc = (file_flags & 0x4 != 0).then(|| f.u32());
    let comp = f.vint();
    let host = f.vint();
    let name_len = usize::try_from(f.vint()).unwrap_or(usize::MAX);
    let raw = f.bytes(name_len);
    // `unrar` copies the name as a C string before converting it from UTF-8.
    let nul = raw.iter().position(|&b| b == 0);
    let mut name = raw
        .get(..nul.unwrap_or(raw.len()))
        .unwrap_or_default()
        .to_vec();
    if host == 0 {
        // A Windows-made name has no `\` separators in RAR 5: `unrar` writes `_` for it.
        for b in &mut name {
            if *b == b'\\' {
                *b = b'_';
            }
        }
    }
    let mut kind = if file_flags & 1 != 0 {
        EntryKind::Directory
    } else if host == 1 && attr & 0o170_000 == 0o120_000 {
        EntryKind::Link("symbolic link")
    } else {
        EntryKind::File
    };
    let mut encrypted = false;
    let mut link_target = None;
    if let Some(start) = common.extra {
        // Extra records: size (of type and data), type, data (`ProcessExtra50`).
        let mut r = Fields::new(h, start);
        while r.at < h.len() {
            let size = r.vint();
            let Some(next) = usize::try_from(size).ok().and_then(|s| r.at.checked_add(s)) else {
                break;
            };
            if size == 0 || next > h.len() {
                break;
            }
            match r.vint() {
                1 => encrypted = true,
                5 => {
                    kind = EntryKind::Link(match r.vint() {
                        1 => "Unix symbolic link",
                        2 => "Windows symbolic link",
                        3 => "Windows junction",
                        4 => "hard link",
                        5 => "file copy",
                        _ => "link of unknown type",
                    });
                    let _flags = r.vint();
                    let n = usize::try_from(r.vint()).unwrap_or(0);
                    let end = next.saturating_sub(r.at);
                    link_target = Some(r.bytes(n.min(end)).to_vec());
                }
                _ => {}
            }
            r.at = next;
        }
    }
    Entry {
        name,
        kind,
        data_start,
        packed: common.data,
        unpacked: (file_flags & 0x8 == 0).then_some(unpacked),
        method: u8::try_from((comp >> 7) & 7).unwrap_or(7),
        encrypted,
        split_before: common.flags & 0x08 != 0,
        split_after: common.flags & 0x10 != 0,
        crc,
        header_ok,
        name_nul: nul.is_some(),
        link_target,
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_like_unrars_raw_reader() {
        let mut f = Fields::new(&[0x7f, 0x80, 0x01, 0x80], 0);
        assert_eq!(f.vint(), 127);
        assert_eq!(f.vint(), 128);
        // Runs out of the header: zero, as `GetV` returns.
        assert_eq!(f.vint(), 0);
        assert_eq!(Fields::new(&[0xff; 12], 0).vint(), 0);
        let mut f = Fields::new(&[1, 0, 0], 0);
        assert_eq!(f.u32(), 0);
        assert_eq!(f.bytes(8), &[] as &[u8]);
        assert_eq!(header_size(&[0, 0, 0, 0, 0x80, 0x01, 0]), Some((128, 6)));
        assert_eq!(header_size(&[0, 0, 0, 0, 0x80, 0x80, 0x80]), None);
    }

    #[test]
    fn signatures_are_found_after_a_prelude() {
        assert_eq!(find_signature(b"Rar!\x1a\x07\x00"), Some((Version::V4, 0)));
        assert_eq!(
            find_signature(b"MZxxRar!\x1a\x07Rar!\x1a\x07\x01\x00"),
            Some((Version::V5, 10))
        );
        assert_eq!(find_signature(b"Rar!\x1a\x07\x01"), None);
        assert!(is_rar(b"RE~^\x07\x00") && is_rar14(b"RE~^") && !is_rar(b"Rar!\x1a\x07\x02"));
    }

    #[test]
    fn unicode_names_decode_like_unrar() {
        // High byte 0x04 (Cyrillic), flags 01 01 00 00: two bytes under the high byte, two plain.
        let enc = [0x04, 0b0101_0000, 0x10, 0x11, b'.', b'p'];
        assert_eq!(decode_unicode_name(b"??.p", &enc), "\u{410}\u{411}.p");
        // A run copied from the ASCII name (opcode 3, length 0 + 2).
        let enc = [0x00, 0b1100_0000, 0x00];
        assert_eq!(decode_unicode_name(b"ab", &enc), "ab");
    }
}
