#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The member list of a tar archive as Python's `tarfile` reads it.
//!
//! The `tar` crate and `tarfile` disagree on hostile archives, and the loaders that extract tars
//! (`torch.load`'s legacy path, `tarfile.extractall` in pipelines, NeMo) are Python. The
//! differences that matter:
//! - `tarfile` skips an entry's data only for regular files and unknown types; a directory,
//!   link, device or FIFO header with a non-zero size is followed directly by the next header,
//!   so bytes the `tar` crate skips as "directory data" are members to Python.
//! - pax headers (`x`, `g`) may set `size` and `path` of the following member(s).
//! - The walk ends at the first all-NUL block, and at the first invalid header after offset 0.
//!
//! [`members`] lists what `tarfile` would extract as files (name, data offset, size), so the
//! walker can scan whatever the `tar` crate did not reach.

use std::collections::BTreeMap;

use crate::artifact::Content;
use crate::sniff::{tar_header_ok, tar_number};

/// One member `tarfile` would extract as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyMember {
    pub name: String,
    /// Offset of the member's data in the archive.
    pub data: u64,
    pub size: u64,
    /// The type flag byte.
    pub kind: u8,
    /// A GNU sparse file's map (`(offset in the file, bytes stored)`, in stored order): what
    /// `tarfile` extracts is these runs of stored bytes placed at their offsets, the gaps
    /// between them NUL bytes, `size` bytes in all ([`sparse_contents`]).
    pub sparse: Option<Vec<(u64, u64)>>,
}

const BLOCK: u64 = 512;

/// Types whose data `tarfile` skips (regular files and sparse files); every type it does not
/// know is treated as a regular file too (see [`is_supported`]).
fn has_data(kind: u8) -> bool {
    matches!(kind, b'0' | 0 | b'7' | b'S') || !is_supported(kind)
}

/// `tarfile.SUPPORTED_TYPES`.
fn is_supported(kind: u8) -> bool {
    matches!(
        kind,
        b'0' | 0
            | b'1'
            | b'2'
            | b'3'
            | b'4'
            | b'5'
            | b'6'
            | b'7'
            | b'L'
            | b'K'
            | b'S'
            | b'x'
            | b'g'
            | b'X'
    )
}

/// `tarfile`'s `nts`: bytes up to the first NUL, decoded as the walker names every tar member
/// ([`super::name_text`]: tarfile's surrogate escapes become `%XX`).
fn nts(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    super::name_text(b.get(..end).unwrap_or_default())
}

/// Rounds up to a whole number of blocks.
fn blocks(size: u64) -> u64 {
    size.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// Parses pax records (`"%d %s=%s\n"`), keeping `path` and `size`.
fn pax_records(data: &[u8], into: &mut BTreeMap<String, String>) {
    let mut p = 0usize;
    while p < data.len() {
        let rest = data.get(p..).unwrap_or_default();
        let Some(sp) = rest.iter().position(|&c| c == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(rest.get(..sp).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp {
            break;
        }
        let Some(record) = rest.get(sp.saturating_add(1)..len) else {
            break;
        };
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&c| c == b'=') {
            let key = String::from_utf8_lossy(record.get(..eq).unwrap_or_default()).into_owned();
            let value =
                String::from_utf8_lossy(record.get(eq.saturating_add(1)..).unwrap_or_default())
                    .into_owned();
            if key == "path" || key == "size" || key.starts_with("GNU.sparse.") {
                into.insert(key, value);
            }
        }
        p = p.saturating_add(len);
    }
}

/// Python's `int(text)` for a decimal pax number: surrounding whitespace, an optional sign,
/// digits with single underscores between them. `None` where Python raises `ValueError`.
fn py_int(text: &str) -> Option<i128> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        n = n
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    Some(if neg { n.checked_neg()? } else { n })
}

/// A pax number field as `tarfile._apply_pax_info` sets it: a value Python cannot parse is 0.
/// `None` for a negative value (tarfile then walks backwards; we stop).
fn pax_number(text: &str) -> Option<u64> {
    u64::try_from(py_int(text).unwrap_or(0)).ok()
}

/// Numbers taken two at a time, as `zip(sparse[::2], sparse[1::2])` pairs them.
fn pairs(numbers: &[u64]) -> Vec<(u64, u64)> {
    numbers
        .chunks_exact(2)
        .filter_map(|p| Some((*p.first()?, *p.get(1)?)))
        .collect()
}

/// The sparse map pairs of a GNU sparse header area (`count` entries of two 12-byte numbers).
/// `all`: keep empty entries (the 4 in the main header); otherwise keep only entries with both
/// fields non-zero (`_proc_sparse`'s extended blocks). Stops at a field `nti` rejects.
fn sparse_structs(area: &[u8], count: usize, all: bool, into: &mut Vec<(u64, u64)>) {
    for i in 0..count {
        let at = i.saturating_mul(24);
        let (Some(off), Some(num)) = (
            area.get(at..at.saturating_add(12)).and_then(tar_number),
            area.get(at.saturating_add(12)..at.saturating_add(24))
                .and_then(tar_number),
        ) else {
            break;
        };
        let (Ok(off), Ok(num)) = (u64::try_from(off), u64::try_from(num)) else {
            break;
        };
        if all || (off != 0 && num != 0) {
            into.push((off, num));
        }
    }
}

/// The members `tarfile.open(mode="r:")` would list as files, at most `max` of them. Stops where
/// `tarfile` stops: end of content, an all-NUL block, or an invalid header.
pub fn members(content: &Content, max: usize) -> std::io::Result<Vec<PyMember>> {
    let len = content.len();
    let reader = content.positioned()?;
    let mut out = Vec::new();
    let mut offset: u64 = 0;
    let mut long_name: Option<String> = None;
    let mut pax_next: BTreeMap<String, String> = BTreeMap::new();
    let mut pax_next_raw: Vec<u8> = Vec::new();
    let mut pax_x = false;
    let mut pax_global: BTreeMap<String, String> = BTreeMap::new();
    // Each header costs one block read; bound the walk by blocks, not members.
    let mut headers: usize = 0;
    while offset.saturating_add(BLOCK) <= len && out.len() < max && headers < max.saturating_mul(4)
    {
        headers = headers.saturating_add(1);
        let block = reader.read_at(offset, BLOCK as usize)?;
        if block.iter().all(|&b| b == 0) || !tar_header_ok(&block) {
            break;
        }
        let kind = block.get(156).copied().unwrap_or(0);
        let Some(size) = block
            .get(124..136)
            .and_then(tar_number)
            .and_then(|n| u64::try_from(n).ok())
        else {
            break;
        };
        let data = offset.saturating_add(BLOCK);
        match kind {
            b'L' | b'K' => {
                if kind == b'L' {
                    let bytes =
                        reader.read_at(data, usize::try_from(size.min(65_536)).unwrap_or(0))?;
                    long_name = Some(nts(&bytes));
                }
                offset = data.saturating_add(blocks(size));
                continue;
            }
            b'x' | b'X' | b'g' => {
                let bytes =
                    reader.read_at(data, usize::try_from(size.min(1 << 20)).unwrap_or(0))?;
                if kind == b'g' {
                    pax_records(&bytes, &mut pax_global);
                } else {
                    pax_records(&bytes, &mut pax_next);
                    pax_next_raw = bytes;
                    pax_x = true;
                }
                offset = data.saturating_add(blocks(size));
                continue;
            }
            _ => {}
        }
        let mut name = nts(block.get(0..100).unwrap_or_default());
        // Old V7 tar writes a directory as a regular file (type NUL) named with a slash:
        // tarfile makes it a directory, so the next header follows at once, whatever the size
        // field says (other readers skip the "data", where a member can hide).
        let kind = if kind == 0 && name.ends_with('/') {
            b'5'
        } else {
            kind
        };
        // POSIX ustar: a prefix field joins the name.
        if block.get(257..263) == Some(b"ustar\0") {
            let prefix = nts(block.get(345..500).unwrap_or_default());
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        // The pax records in force: the global ones, and those of an `x` header before this one
        // (tarfile applies the globals to every member, but only an `x` header's `size` moves
        // the next header).
        let mut pax = pax_global.clone();
        if pax_x {
            pax.extend(std::mem::take(&mut pax_next));
        }
        let had_x = std::mem::replace(&mut pax_x, false);
        let raw_pax = std::mem::take(&mut pax_next_raw);
        let mut member_size = size;
        let mut data_start = data;
        let mut next = data.saturating_add(blocks(size));
        let mut sparse: Option<Vec<(u64, u64)>> = None;
        if kind == b'S' {
            // Old GNU sparse: four map entries in the header, more in extended blocks after it.
            let mut map = Vec::new();
            sparse_structs(block.get(386..482).unwrap_or_default(), 4, true, &mut map);
            let mut extended = block.get(482).is_some_and(|&b| b != 0);
            while extended && data_start.saturating_add(BLOCK) <= len && map.len() < 1 << 16 {
                let ext = reader.read_at(data_start, BLOCK as usize)?;
                sparse_structs(&ext, 21, false, &mut map);
                extended = ext.get(504).is_some_and(|&b| b != 0);
                data_start = data_start.saturating_add(BLOCK);
            }
            next = data_start.saturating_add(blocks(size));
            member_size = block
                .get(483..495)
                .and_then(tar_number)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0);
            sparse = Some(map);
        }
        if let Some(p) = pax.get("path").or_else(|| pax.get("GNU.sparse.name")) {
            name.clone_from(p);
        }
        if had_x {
            // GNU sparse formats 0.1 (a `map`), 0.0 (repeated offset/numbytes records) and 1.0
            // (the map at the start of the data), as `_proc_pax` reads them.
            if let Some(map) = pax.get("GNU.sparse.map") {
                let numbers: Option<Vec<u64>> = map
                    .split(',')
                    .map(|n| py_int(n).and_then(|n| u64::try_from(n).ok()))
                    .collect();
                let Some(numbers) = numbers else { break };
                sparse = Some(pairs(&numbers));
            } else if pax.contains_key("GNU.sparse.size") {
                let text = String::from_utf8_lossy(&raw_pax);
                let field = |key: &str| -> Vec<u64> {
                    text.split('\n')
                        .filter_map(|r| r.split_once(' ').map(|(_, kv)| kv))
                        .filter_map(|kv| kv.strip_prefix(key))
                        .filter_map(|v| v.parse::<u64>().ok())
                        .collect()
                };
                let offsets = field("GNU.sparse.offset=");
                let sizes = field("GNU.sparse.numbytes=");
                sparse = Some(offsets.into_iter().zip(sizes).collect());
            } else if pax.get("GNU.sparse.major").map(String::as_str) == Some("1")
                && pax.get("GNU.sparse.minor").map(String::as_str) == Some("0")
            {
                let head = reader.read_at(data_start, 1 << 16)?;
                let mut used: usize = 0;
                let mut fields: Option<u64> = None;
                let mut numbers: Vec<u64> = Vec::new();
                let mut ok = false;
                for line in head.split(|&b| b == b'\n') {
                    used = used.saturating_add(line.len()).saturating_add(1);
                    let Some(n) = std::str::from_utf8(line)
                        .ok()
                        .and_then(py_int)
                        .and_then(|n| u64::try_from(n).ok())
                    else {
                        break;
                    };
                    match fields {
                        None => fields = Some(n),
                        Some(_) => numbers.push(n),
                    }
                    if fields.is_some_and(|f| numbers.len() as u64 >= f.saturating_mul(2))
                        || numbers.len() >= 1 << 14
                    {
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    break;
                }
                let map: Vec<(u64, u64)> = pairs(&numbers);
                // tarfile reads the map a block at a time; the data starts at the next block.
                data_start = data_start.saturating_add(blocks(used as u64));
                sparse = Some(map);
            }
            if let Some(n) = pax
                .get("GNU.sparse.size")
                .or_else(|| pax.get("GNU.sparse.realsize"))
            {
                let Some(n) = py_int(n).and_then(|n| u64::try_from(n).ok()) else {
                    break;
                };
                member_size = n;
            }
        }
        if let Some(s) = pax.get("size") {
            let Some(s) = pax_number(s) else { break };
            member_size = s;
            if had_x {
                next = data_start.saturating_add(if has_data(kind) { blocks(s) } else { 0 });
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        if has_data(kind) {
            let raw = if sparse.is_some() { size } else { member_size };
            if data_start.saturating_add(raw.min(len)) > len {
                break;
            }
            out.push(PyMember {
                name,
                data: data_start,
                size: member_size,
                kind,
                sparse,
            });
            offset = next;
        } else {
            // Directories, links, devices, FIFOs: the next header follows at once, whatever
            // the size field says (unless an `x` header's size says otherwise).
            offset = if had_x && pax.contains_key("size") {
                next
            } else {
                data
            };
        }
    }
    Ok(out)
}

/// What `tarfile.extractall` writes for a sparse member (`TarFile.makefile`): each stored run
/// written at its offset in map order (a later run overwrites an earlier one), the file then cut
/// to `size`. At most `cap` bytes. `extractfile` reads the same map differently when runs overlap
/// or are out of order ([`sparse_contents`]), so both are scanned.
pub fn sparse_extracted(
    content: &Content,
    data: u64,
    map: &[(u64, u64)],
    size: u64,
    cap: u64,
) -> std::io::Result<Vec<u8>> {
    let reader = content.positioned()?;
    let want = usize::try_from(size.min(cap)).unwrap_or(0);
    let mut out = vec![0u8; want];
    let mut real = data;
    for &(off, n) in map {
        let start = usize::try_from(off).unwrap_or(usize::MAX);
        if start < want {
            let take = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(want.saturating_sub(start));
            let got = reader.read_at(real, take)?;
            if let Some(dst) = out.get_mut(start..start.saturating_add(got.len())) {
                dst.copy_from_slice(&got);
            }
            if got.len() < take {
                break;
            }
        }
        real = real.saturating_add(n);
    }
    Ok(out)
}

/// What `tarfile` extracts for a sparse member (`_FileInFile` over the map): at most `cap` bytes.
/// Returns the bytes and whether stored data was left out by the cap.
pub fn sparse_contents(
    content: &Content,
    data: u64,
    map: &[(u64, u64)],
    size: u64,
    cap: u64,
) -> std::io::Result<(Vec<u8>, bool)> {
    // tarfile's map: (is data, start, stop, position of the bytes in the archive).
    let mut runs: Vec<(bool, u64, u64, u64)> = Vec::new();
    let (mut last, mut real) = (0u64, data);
    for &(off, n) in map {
        if off > last {
            runs.push((false, last, off, 0));
        }
        runs.push((true, off, off.saturating_add(n), real));
        real = real.saturating_add(n);
        last = off.saturating_add(n);
    }
    if last < size {
        runs.push((false, last, size, 0));
    }
    let reader = content.positioned()?;
    let want = size.min(cap);
    let mut out = Vec::new();
    let (mut pos, mut index) = (0u64, 0usize);
    while pos < want {
        // The first run at or after the current one (cycling) that holds `pos`.
        let Some(found) = (0..runs.len())
            .map(|k| index.saturating_add(k).checked_rem(runs.len()).unwrap_or(0))
            .find(|&i| runs.get(i).is_some_and(|r| r.1 <= pos && pos < r.2))
        else {
            break;
        };
        index = found;
        let Some(&(is_data, start, stop, at)) = runs.get(found) else {
            break;
        };
        let n = stop.saturating_sub(pos).min(want.saturating_sub(pos));
        if is_data {
            let from = at.saturating_add(pos.saturating_sub(start));
            let got = reader.read_at(from, usize::try_from(n).unwrap_or(0))?;
            let short = (got.len() as u64) < n;
            out.extend_from_slice(&got);
            if short {
                // tarfile raises "unexpected end of data" here, after handing over what it read.
                return Ok((out, false));
            }
        } else {
            out.resize(out.len().saturating_add(usize::try_from(n).unwrap_or(0)), 0);
        }
        pos = pos.saturating_add(n);
    }
    let cut = want < size
        && runs
            .iter()
            .any(|&(is_data, _, stop, _)| is_data && stop > want);
    Ok((out, cut))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: u64) -> Vec<u8> {
        raw_header(name, kind, size, *b"ustar\x0000", &[])
    }

    /// A header block with `magic` (POSIX `ustar\0` + `00`, or GNU `ustar  \0`) and any
    /// other `fields` written at their offsets; the checksum is computed last.
    pub(super) fn raw_header(
        name: &str,
        kind: u8,
        size: u64,
        magic: [u8; 8],
        fields: &[(usize, &[u8])],
    ) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..108].copy_from_slice(b"0000644\0");
        b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        b[156] = kind;
        b[257..265].copy_from_slice(&magic);
        for (at, v) in fields {
            b[*at..*at + v.len()].copy_from_slice(v);
        }
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        b
    }

    pub(super) fn pad(mut v: Vec<u8>) -> Vec<u8> {
        v.resize(v.len().div_ceil(512) * 512, 0);
        v
    }

    #[test]
    fn directory_data_is_headers_to_tarfile() {
        // A directory entry that claims 1024 bytes of data; tarfile reads the next header right
        // after it, where a member hides that the tar crate skips.
        let mut t = header("d/", b'5', 1024);
        t.extend(header("hidden.pkl", b'0', 5));
        t.extend(pad(b"\x80\x02N.\n".to_vec()));
        t.extend(vec![0u8; 1024]);
        let m = members(&Content::from_vec(t), 100).expect("walk");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "hidden.pkl");
        assert_eq!(m[0].data, 1024);
    }

    #[test]
    fn unknown_types_and_pax_sizes() {
        let mut t = header("pax", b'x', 10);
        t.extend(pad(b"10 size=3\n".to_vec()));
        t.extend(header("v.pkl", b'V', 100));
        t.extend(pad(b"N.\n".to_vec()));
        let m = members(&Content::from_vec(t), 100).expect("walk");
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].name.as_str(), m[0].size, m[0].kind),
            ("v.pkl", 3, b'V')
        );
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod sparse_tests {
    use super::*;

    use super::tests::{pad, raw_header};

    fn header(name: &str, kind: u8, size: u64, fields: &[(usize, &[u8])]) -> Vec<u8> {
        raw_header(name, kind, size, *b"ustar  \0", fields)
    }

    /// A pax 0.1 / 1.0 sparse member: its pax header `x`, then `data` under the name GNU tar
    /// gives the stored part, then the end of the archive.
    fn pax_sparse(x: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        let mut t = header("PaxHeaders/model.pkl", b'x', x.len() as u64, &[]);
        t.extend(pad(x));
        t.extend(header(
            "GNUSparseFile.0/model.pkl",
            b'0',
            data.len() as u64,
            &[],
        ));
        t.extend(pad(data));
        t.extend(vec![0u8; 1024]);
        t
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut n = body.len() + 1;
            while n.to_string().len() + body.len() != n {
                n = n.to_string().len() + body.len();
            }
            out.extend(format!("{n}{body}").as_bytes());
        }
        out
    }

    /// A pickle-like stream with NUL runs, its non-NUL runs and their concatenation.
    fn holes() -> (Vec<u8>, Vec<(u64, u64)>, Vec<u8>) {
        let logical = b"\x80\x04X\x05\x00\x00\x00posixX\x06\x00\x00\x00system\x93X\x02\x00\x00\x00hiX\x01\x00\x00\x00a\x86R.".to_vec();
        let mut runs = Vec::new();
        let mut i = 0;
        while i < logical.len() {
            if logical[i] == 0 {
                i += 1;
                continue;
            }
            let s = i;
            while i < logical.len() && logical[i] != 0 {
                i += 1;
            }
            runs.push((s as u64, (i - s) as u64));
        }
        let raw = runs
            .iter()
            .flat_map(|&(o, n)| logical[o as usize..(o + n) as usize].to_vec())
            .collect();
        (logical, runs, raw)
    }

    fn extracted(t: Vec<u8>) -> Vec<u8> {
        let c = Content::from_vec(t);
        let m = members(&c, 10).expect("walk");
        assert_eq!(m.len(), 1, "{m:?}");
        let map = m[0].sparse.as_ref().expect("sparse");
        let (bytes, cut) = sparse_contents(&c, m[0].data, map, m[0].size, 1 << 20).expect("read");
        assert!(!cut);
        let written = sparse_extracted(&c, m[0].data, map, m[0].size, 1 << 20).expect("read");
        assert_eq!(bytes, written);
        bytes
    }

    #[test]
    fn pax_sparse_maps_are_read_as_tarfile_extracts_them() {
        let (logical, runs, raw) = holes();
        let map: Vec<String> = runs.iter().map(|(o, n)| format!("{o},{n}")).collect();
        let x = pax(&[
            ("GNU.sparse.major", "0"),
            ("GNU.sparse.minor", "1"),
            ("GNU.sparse.name", "model.pkl"),
            ("GNU.sparse.size", &logical.len().to_string()),
            ("GNU.sparse.map", &map.join(",")),
        ]);
        assert_eq!(extracted(pax_sparse(x, raw.clone())), logical);

        // Format 1.0: the map is at the start of the data.
        let lines: String = std::iter::once(runs.len().to_string())
            .chain(
                runs.iter()
                    .flat_map(|(o, n)| [o.to_string(), n.to_string()]),
            )
            .map(|l| l + "\n")
            .collect();
        let mut data = pad(lines.into_bytes());
        data.extend(&raw);
        let x = pax(&[
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "model.pkl"),
            ("GNU.sparse.realsize", &logical.len().to_string()),
        ]);
        let t = pax_sparse(x, data);
        assert_eq!(extracted(t), logical);
    }

    #[test]
    fn old_gnu_sparse_headers_and_extended_blocks() {
        let (logical, runs, raw) = holes();
        assert!(runs.len() > 4, "the test needs an extended block");
        let mut fields: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, (o, n)) in runs.iter().take(4).enumerate() {
            fields.push((386 + 24 * i, format!("{o:011o}\0").into_bytes()));
            fields.push((398 + 24 * i, format!("{n:011o}\0").into_bytes()));
        }
        fields.push((482, vec![1]));
        fields.push((483, format!("{:011o}\0", logical.len()).into_bytes()));
        let refs: Vec<(usize, &[u8])> = fields.iter().map(|(a, v)| (*a, v.as_slice())).collect();
        let mut t = header("model.pkl", b'S', raw.len() as u64, &refs);
        let mut ext = vec![0u8; 512];
        for (i, (o, n)) in runs.iter().skip(4).enumerate() {
            ext[24 * i..24 * i + 12].copy_from_slice(format!("{o:011o}\0").as_bytes());
            ext[24 * i + 12..24 * i + 24].copy_from_slice(format!("{n:011o}\0").as_bytes());
        }
        t.extend(ext);
        t.extend(pad(raw));
        t.extend(vec![0u8; 1024]);
        assert_eq!(extracted(t), logical);
    }

    #[test]
    fn a_pax_size_python_cannot_parse_is_zero() {
        // tarfile sets an unparsable pax number to 0: the "data" of cover.txt is headers to it.
        let x = pax(&[("size", "12abc")]);
        let mut hidden = header("hidden.pkl", b'0', 3, &[]);
        hidden.extend(pad(b"N.\n".to_vec()));
        let mut t = header("PaxHeaders/cover", b'x', x.len() as u64, &[]);
        t.extend(pad(x));
        t.extend(header("cover.txt", b'0', hidden.len() as u64, &[]));
        t.extend(hidden);
        t.extend(vec![0u8; 1024]);
        let m = members(&Content::from_vec(t), 10).expect("walk");
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cover.txt", "hidden.pkl"]);
        assert_eq!(m[0].size, 0);
    }

    #[test]
    fn a_nul_type_named_like_a_directory_has_no_data_to_tarfile() {
        let mut t = header("weights/", 0, 512, &[]);
        t.extend(header("model.pkl", b'0', 3, &[]));
        t.extend(pad(b"N.\n".to_vec()));
        t.extend(vec![0u8; 1024]);
        let m = members(&Content::from_vec(t), 10).expect("walk");
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["model.pkl"]);
    }

    #[test]
    fn a_global_pax_size_does_not_move_the_next_header() {
        let g = pax(&[("size", "0")]);
        let mut t = header("pax_global_header", b'g', g.len() as u64, &[]);
        t.extend(pad(g));
        t.extend(header("a.pkl", b'0', 3, &[]));
        t.extend(pad(b"N.\n".to_vec()));
        t.extend(header("b.pkl", b'0', 3, &[]));
        t.extend(pad(b"N.\n".to_vec()));
        t.extend(vec![0u8; 1024]);
        let m = members(&Content::from_vec(t), 10).expect("walk");
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a.pkl", "b.pkl"]);
    }
}
