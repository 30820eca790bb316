//! NumPy `.npy` / `.npz` → safetensors. The header and its dtype are read by the one `.npy`
//! reader the scanner uses ([`crate::formats::npy`]), so the tensor written out has the dtype,
//! shape, order and data offset the scanner checked; data is streamed from the file (stored
//! members) or from the decompressed member. Object arrays (`|O`, a pickle inside) are refused.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use crate::artifact::Content;
use crate::formats::dtype::DType;
use crate::formats::npy::{parse_npy, HEAD_LEN};
use crate::pyliteral::Lit;
use crate::walk::read_central_directory;

use super::st::{self, Source, View};
use super::{ConvertError, Summary};

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// The `descr` type string.
    pub descr: String,
    /// What [`crate::formats::npy::parse_npy`] resolved `descr` to.
    pub dtype: DType,
    pub fortran: bool,
    pub shape: Vec<u64>,
    /// Offset of the data from the start of the `.npy` bytes.
    pub data_offset: u64,
}

fn bad(m: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(format!("npy: {}", m.into()))
}

/// Parses the header at the start of `b` (the first [`HEAD_LEN`] bytes, or all of them when
/// shorter) with the scanner's reader ([`crate::formats::npy::parse_npy`]: the header as
/// `ast.literal_eval` and `descr_to_dtype` read it), so conversion and scanning agree.
pub fn parse_header(b: &[u8]) -> Result<NpyHeader, ConvertError> {
    let h = parse_npy(b).map_err(|e| bad(e.to_string()))?;
    let descr = match h.descr {
        Lit::Str(s) => s,
        Lit::List(_) => {
            return Err(ConvertError::Unsupported(
                "structured (record) arrays have no safetensors dtype".into(),
            ))
        }
        other => {
            return Err(ConvertError::Unsupported(format!(
                "a {} dtype description has no safetensors dtype",
                other.type_name()
            )))
        }
    };
    let shape = h
        .shape
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| bad("negative or oversized dimension")))
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(NpyHeader {
        descr,
        dtype: h.dtype,
        fortran: h.fortran_order,
        shape,
        data_offset: h.data_offset,
    })
}

/// numpy dtype (as [`crate::formats::dtype`] resolved it) → (safetensors dtype, element size,
/// big-endian): exactly the dtypes the converter can write; anything else is refused, naming
/// `descr`.
pub fn st_dtype(dt: &DType, descr: &str) -> Result<(&'static str, usize, bool), ConvertError> {
    if dt.object {
        return Err(ConvertError::Unsupported(
            "object arrays hold a pickle, which is refused; save numeric arrays (allow_pickle=False)".into(),
        ));
    }
    let name = match (dt.kind, dt.itemsize) {
        ('f', 8) => "F64",
        ('f', 4) => "F32",
        ('f', 2) => "F16",
        ('i', 8) => "I64",
        ('i', 4) => "I32",
        ('i', 2) => "I16",
        ('i', 1) => "I8",
        ('u', 8) => "U64",
        ('u', 4) => "U32",
        ('u', 2) => "U16",
        ('u', 1) => "U8",
        ('b', 1) => "BOOL",
        // Byte-swapping reverses whole elements, which would exchange the real and imaginary
        // parts of a big-endian complex number.
        ('c', 8) if !dt.big_endian => "C64",
        _ => {
            return Err(ConvertError::Unsupported(format!(
                "numpy dtype {descr:?} has no safetensors equivalent"
            )))
        }
    };
    let elem = usize::try_from(dt.itemsize).map_err(|_| bad("item size"))?;
    Ok((name, elem, dt.big_endian))
}

fn tensor_for(
    name: String,
    h: &NpyHeader,
    storage_start: u64,
    storage_len: u64,
    memory: Option<Arc<Vec<u8>>>,
) -> Result<st::Tensor, ConvertError> {
    let (dtype, elem, big) = st_dtype(&h.dtype, &h.descr)?;
    let numel = h
        .shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("element count overflows"))?;
    let need = numel
        .checked_mul(elem as u64)
        .ok_or_else(|| bad("size overflows"))?;
    if storage_len < need {
        return Err(bad(format!(
            "{name}: {storage_len} data bytes for shape {:?} of {descr} (need {need}; truncated)",
            h.shape,
            descr = h.descr
        )));
    }
    let strides = if h.fortran {
        let mut s = Vec::with_capacity(h.shape.len());
        let mut acc = 1u64;
        for &d in &h.shape {
            s.push(acc);
            acc = acc.saturating_mul(d.max(1));
        }
        s
    } else {
        View::contiguous_strides(&h.shape)
    };
    let view = View {
        storage_start,
        storage_len: need,
        elem,
        offset: 0,
        shape: h.shape.clone(),
        strides,
        swap: big,
    };
    let source = match memory {
        Some(bytes) if view.is_contiguous() && !big => {
            let data = bytes
                .get(usize::try_from(storage_start).unwrap_or(usize::MAX)..)
                .and_then(|b| b.get(..usize::try_from(need).unwrap_or(usize::MAX)))
                .ok_or_else(|| bad("member data out of range"))?;
            Source::Memory(Arc::new(data.to_vec()))
        }
        Some(bytes) => {
            // Gather through a temporary in-memory "file" is not possible; do it here.
            let data = gather_memory(&bytes, &view)?;
            Source::Memory(Arc::new(data))
        }
        None => Source::File(view),
    };
    Ok(st::Tensor {
        name,
        dtype,
        shape: h.shape.clone(),
        elem,
        source,
    })
}

fn gather_memory(bytes: &[u8], v: &View) -> Result<Vec<u8>, ConvertError> {
    v.check("array")?;
    let base = usize::try_from(v.storage_start).unwrap_or(usize::MAX);
    let n = usize::try_from(v.numel()).map_err(|_| bad("too large"))?;
    let mut out = Vec::with_capacity(n.saturating_mul(v.elem));
    let rank = v.shape.len();
    let mut idx = vec![0u64; rank];
    for _ in 0..n {
        let mut off = 0u64;
        for (&i, &s) in idx.iter().zip(&v.strides) {
            off = off.saturating_add(i.saturating_mul(s));
        }
        let at = base.saturating_add(
            usize::try_from(off)
                .unwrap_or(usize::MAX)
                .saturating_mul(v.elem),
        );
        let el = bytes
            .get(at..at.saturating_add(v.elem))
            .ok_or_else(|| bad("element out of range"))?;
        let pos = out.len();
        out.extend_from_slice(el);
        if v.swap {
            if let Some(e) = out.get_mut(pos..) {
                e.reverse();
            }
        }
        for k in (0..rank).rev() {
            let (Some(slot), Some(&d)) = (idx.get_mut(k), v.shape.get(k)) else {
                break;
            };
            *slot = slot.saturating_add(1);
            if *slot < d {
                break;
            }
            *slot = 0;
        }
    }
    Ok(out)
}

fn finish<W: Write>(
    src: Option<&File>,
    tensors: Vec<st::Tensor>,
    sha: &str,
    kind: &str,
    out: &mut W,
) -> Result<Summary, ConvertError> {
    let mut meta = BTreeMap::new();
    meta.insert("format".to_owned(), "np".to_owned());
    meta.insert("source_sha256".to_owned(), sha.to_owned());
    let mut summary = Summary {
        input_kind: kind.to_owned(),
        ..Summary::default()
    };
    summary.tensors = st::write(out, src, tensors, &meta)?;
    Ok(summary)
}

/// Converts one `.npy` file; the tensor is named after the file stem.
pub fn convert_npy<W: Write>(path: &Path, sha: &str, out: &mut W) -> Result<Summary, ConvertError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::new();
    (&file).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    let h = parse_header(&head)?;
    let name = path
        .file_stem()
        .map_or_else(|| "array".to_owned(), |s| s.to_string_lossy().into_owned());
    let t = tensor_for(
        name,
        &h,
        h.data_offset,
        len.saturating_sub(h.data_offset),
        None,
    )?;
    finish(Some(&file), vec![t], sha, "npy", out)
}

/// Converts an `.npz` archive; each `<name>.npy` member becomes tensor `<name>`.
pub fn convert_npz<W: Write>(path: &Path, sha: &str, out: &mut W) -> Result<Summary, ConvertError> {
    let content = Content::file(path.to_path_buf())?;
    let index =
        read_central_directory(&content).map_err(|e| ConvertError::Malformed(e.to_string()))?;
    let file = File::open(path)?;
    let mut tensors = Vec::new();
    for e in &index.entries {
        if e.is_dir {
            continue;
        }
        let Some(name) = e.name.strip_suffix(".npy") else {
            return Err(ConvertError::Unsupported(format!(
                "npz member {} is not an .npy array",
                e.name
            )));
        };
        let start = e
            .data_start
            .ok_or_else(|| bad(format!("{}: local header missing", e.name)))?;
        match e.method {
            0 => {
                let head = crate::walk::read_range(
                    &content,
                    start,
                    e.compressed_size.min(HEAD_LEN as u64),
                )?;
                let h = parse_header(&head)?;
                let data_len = e.compressed_size.saturating_sub(h.data_offset);
                tensors.push(tensor_for(
                    name.to_owned(),
                    &h,
                    start.saturating_add(h.data_offset),
                    data_len,
                    None,
                )?);
            }
            _ => {
                // Compressed members are decoded by the scanner's zip reader.
                let limit = e.uncompressed_size.min(1 << 34);
                let bytes = super::zip_member(&content, e, limit)?;
                let h = parse_header(&bytes)?;
                let data_len = (bytes.len() as u64).saturating_sub(h.data_offset);
                let off = h.data_offset;
                tensors.push(tensor_for(
                    name.to_owned(),
                    &h,
                    off,
                    data_len,
                    Some(Arc::new(bytes)),
                )?);
            }
        }
    }
    if tensors.is_empty() {
        return Err(ConvertError::Unsupported(
            "the npz archive holds no arrays".into(),
        ));
    }
    finish(Some(&file), tensors, sha, "npz", out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let h = b"{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }          \n";
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h);
        let p = parse_header(&b).unwrap();
        assert_eq!(p.descr, "<f4");
        assert!(p.fortran);
        assert_eq!(p.shape, vec![3, 4]);
        assert_eq!(p.data_offset, 10 + h.len() as u64);
        let st = |d: &str| st_dtype(&crate::formats::dtype::parse_descr(d).unwrap(), d);
        assert!(st("|O").is_err());
        assert_eq!(st(">i2").unwrap(), ("I16", 2, true));
        assert_eq!(st("b").unwrap(), ("I8", 1, false));
        assert_eq!(st("?").unwrap(), ("BOOL", 1, false));
        assert_eq!(st("<c8").unwrap(), ("C64", 8, false));
        assert!(st(">c8").is_err());
    }
}
