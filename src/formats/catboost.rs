#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! CatBoost binary models (`.cbm`, `save_model(..., format="cbm")`), read the way
//! `TFullModel::Load` (`catboost/libs/model/model.cpp`) reads them:
//!
//! 1. the descriptor `CBM1` (a little-endian `ui32`);
//! 2. the core size, util's `LoadSize`: a `ui32`, or `0xFFFFFFFF` followed by a `ui64`;
//! 3. that many bytes of FlatBuffers `TModelCore` (`catboost/libs/model/flatbuffers/model.fbs`:
//!    field 0 `FormatVersion` string, which must be `FlabuffersModel_v1`; field 1 the trees;
//!    field 2 `InfoMap`, a vector of `{Key, Value}` string tables; field 3 `ModelPartIds`, a
//!    vector of strings naming the parts serialized after the core: CTR tables, text and
//!    embedding processing);
//! 4. each named part, in order, read by its own loader.
//!
//! The loader allocates the core size (`new ui8[coreSize]`) before reading it, so a size larger
//! than the file is an allocation the file alone decides (up to 2^64 bytes with the 64-bit
//! form). The core is verified with `flatbuffers::Verifier` before use, so a core this reader
//! cannot walk is refused by CatBoost too.

use super::flatbuffer::{FbError, Reader};

/// The model file descriptor.
pub const MAGIC: &[u8; 4] = b"CBM1";

/// The only core format CatBoost loads.
pub const CORE_FORMAT: &str = "FlabuffersModel_v1";

/// The header: where the core starts and how long it says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub core_offset: u64,
    pub core_len: u64,
}

/// Reads the descriptor and core size from the first 16 bytes.
pub fn header(head: &[u8]) -> Result<Header, String> {
    if !head.starts_with(MAGIC) {
        return Err("no CBM1 descriptor".into());
    }
    let u32_at = |at: usize| -> Option<u32> {
        let b = head.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([
            *b.first()?,
            *b.get(1)?,
            *b.get(2)?,
            *b.get(3)?,
        ]))
    };
    let Some(small) = u32_at(4) else {
        return Err("truncated before the core size".into());
    };
    if small != u32::MAX {
        return Ok(Header {
            core_offset: 8,
            core_len: u64::from(small),
        });
    }
    let (Some(lo), Some(hi)) = (u32_at(8), u32_at(12)) else {
        return Err("truncated in the 64-bit core size".into());
    };
    Ok(Header {
        core_offset: 16,
        core_len: u64::from(lo) | (u64::from(hi) << 32),
    })
}

/// What the core says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Core {
    pub format_version: Option<String>,
    pub has_trees: bool,
    /// `InfoMap` keys and values (values clipped).
    pub info: Vec<(String, String)>,
    pub parts: Vec<String>,
}

/// Walks the `TModelCore` flatbuffer in `core`.
pub fn read_core(core: &[u8]) -> Result<Core, FbError> {
    let src: &[u8] = core;
    let r = Reader::new(&src, (core.len() as u64 / 2).saturating_add(100_000));
    let root = r.root()?;
    r.fields_in_buffer(&root)?;
    let mut c = Core {
        format_version: r.field_string(&root, 0, 256)?.map(|s| s.text),
        ..Core::default()
    };
    if let Some(trees) = r.field_table(&root, 1)? {
        r.fields_in_buffer(&trees)?;
        c.has_trees = true;
    }
    if let Some(info) = r.field_vector(&root, 2, 4)? {
        for i in 0..info.len {
            let kv = r.vec_table(&info, i)?;
            let k = r
                .field_string(&kv, 0, 256)?
                .map(|s| s.text)
                .unwrap_or_default();
            let v = r
                .field_string(&kv, 1, 256)?
                .map(|s| s.text)
                .unwrap_or_default();
            if c.info.len() < 64 {
                c.info.push((k, v));
            }
        }
    }
    if let Some(parts) = r.field_vector(&root, 3, 4)? {
        for i in 0..parts.len {
            let s = r.vec_string(&parts, i, 256)?;
            if c.parts.len() < 64 {
                c.parts.push(s.text);
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn both_size_forms() {
        assert_eq!(
            header(b"CBM1\x10\0\0\0").unwrap(),
            Header {
                core_offset: 8,
                core_len: 16
            }
        );
        assert_eq!(
            header(b"CBM1\xff\xff\xff\xff\x01\0\0\0\x02\0\0\0").unwrap(),
            Header {
                core_offset: 16,
                core_len: (2 << 32) | 1
            }
        );
        assert!(header(b"CBM1\xff\xff\xff\xff\x01").is_err());
        assert!(header(b"CBM2").is_err());
    }
}
