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
            if key == "path" || key == "size" {
                into.insert(key, value);
            }
        }
        p = p.saturating_add(len);
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
                }
                offset = data.saturating_add(blocks(size));
                continue;
            }
            _ => {}
        }
        let mut name = nts(block.get(0..100).unwrap_or_default());
        // POSIX ustar: a prefix field joins the name.
        if block.get(257..263) == Some(b"ustar\0") {
            let prefix = nts(block.get(345..500).unwrap_or_default());
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let mut size = size;
        for pax in [&pax_global, &pax_next] {
            if let Some(p) = pax.get("path") {
                name.clone_from(p);
            }
            if let Some(s) = pax.get("size").and_then(|s| s.trim().parse::<u64>().ok()) {
                size = s;
            }
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        pax_next.clear();
        if has_data(kind) {
            if data.saturating_add(size) > len {
                break;
            }
            out.push(PyMember {
                name,
                data,
                size,
                kind,
            });
            offset = data.saturating_add(blocks(size));
        } else {
            // Directories, links, devices, FIFOs: the next header follows at once, whatever
            // the size field says.
            offset = data;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: u64) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..108].copy_from_slice(b"0000644\0");
        let sz = format!("{size:011o}\0");
        b[124..136].copy_from_slice(sz.as_bytes());
        b[156] = kind;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        let ck = format!("{sum:06o}\0 ");
        b[148..156].copy_from_slice(ck.as_bytes());
        b
    }

    fn pad(mut v: Vec<u8>) -> Vec<u8> {
        let n = v.len().div_ceil(512) * 512;
        v.resize(n, 0);
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
