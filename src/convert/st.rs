//! A streaming safetensors writer: the header is computed from tensor metadata first, then each
//! tensor's bytes are copied (contiguous) or gathered by stride (views) from the source file with
//! positioned reads, byte-swapped when the source is big-endian. Nothing is built whole in memory;
//! the largest buffer is one strided tensor's source span.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use super::{ConvertError, TensorSummary};

/// Copy buffer size.
const CHUNK: usize = 8 << 20;

/// Where a tensor's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A strided view of a storage in the source file.
    File(View),
    /// Bytes already in memory (small arrays, decompressed members), contiguous, little-endian.
    Memory(std::sync::Arc<Vec<u8>>),
}

/// A strided view of a storage: all sizes in elements except `storage_start`/`storage_len`.
#[derive(Debug, Clone)]
pub struct View {
    /// Absolute offset of the storage's first byte in the source file.
    pub storage_start: u64,
    /// Bytes of the storage available in the file.
    pub storage_len: u64,
    /// Element size in bytes.
    pub elem: usize,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub strides: Vec<u64>,
    /// Swap each element's bytes (big-endian source).
    pub swap: bool,
}

impl View {
    /// C-contiguous strides for `shape`.
    pub fn contiguous_strides(shape: &[u64]) -> Vec<u64> {
        let mut s = vec![1u64; shape.len()];
        let mut acc = 1u64;
        for (i, &d) in shape.iter().enumerate().rev() {
            if let Some(slot) = s.get_mut(i) {
                *slot = acc;
            }
            acc = acc.saturating_mul(d.max(1));
        }
        s
    }

    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Whether the view is C-contiguous (dimensions of size 1 may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let want = Self::contiguous_strides(&self.shape);
        self.shape
            .iter()
            .zip(self.strides.iter().zip(&want))
            .all(|(&d, (&s, &w))| d <= 1 || s == w)
    }

    /// Checks the view against the storage: the last element it touches must exist.
    /// Returns the `(first, one past last)` element span.
    pub fn check(&self, what: &str) -> Result<(u64, u64), ConvertError> {
        if self.shape.len() != self.strides.len() {
            return Err(ConvertError::Malformed(format!(
                "{what}: {} sizes but {} strides",
                self.shape.len(),
                self.strides.len()
            )));
        }
        let elem = self.elem as u64;
        let capacity = self.storage_len.checked_div(elem).unwrap_or(0);
        if self.numel() == 0 {
            if self.offset > capacity {
                return Err(ConvertError::Malformed(format!(
                    "{what}: storage offset {} is past the storage's {capacity} elements",
                    self.offset
                )));
            }
            return Ok((self.offset, self.offset));
        }
        let mut last = self.offset;
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            let step = d
                .saturating_sub(1)
                .checked_mul(s)
                .ok_or_else(|| ConvertError::Malformed(format!("{what}: stride overflows")))?;
            last = last
                .checked_add(step)
                .ok_or_else(|| ConvertError::Malformed(format!("{what}: stride overflows")))?;
        }
        if last >= capacity {
            return Err(ConvertError::Malformed(format!(
                "{what}: offset {} with sizes {:?} and strides {:?} reaches element {last}, but the storage holds {capacity} elements",
                self.offset, self.shape, self.strides
            )));
        }
        Ok((self.offset, last.saturating_add(1)))
    }
}

/// One tensor to write.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    /// safetensors dtype name (`F32`, `BF16`, …).
    pub dtype: &'static str,
    pub shape: Vec<u64>,
    /// Element size in bytes (0 is never used; F4 is refused upstream).
    pub elem: usize,
    pub source: Source,
}

impl Tensor {
    pub fn nbytes(&self) -> u64 {
        self.shape
            .iter()
            .product::<u64>()
            .saturating_mul(self.elem as u64)
    }
}

/// Writes a safetensors file: header (with `metadata` as `__metadata__`), then every tensor.
/// Tensors are laid out by decreasing element size, then name (as the reference writer does), so
/// every tensor is aligned to its element size.
pub fn write<W: Write>(
    out: &mut W,
    src: Option<&File>,
    mut tensors: Vec<Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<TensorSummary>, ConvertError> {
    tensors.sort_by(|a, b| b.elem.cmp(&a.elem).then_with(|| a.name.cmp(&b.name)));
    for w in tensors.windows(2) {
        if let [a, b] = w {
            if a.name == b.name {
                return Err(ConvertError::Malformed(format!(
                    "two tensors are both named {:?}",
                    a.name
                )));
            }
        }
    }
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), serde_json::Value::Object(m));
    }
    let mut at = 0u64;
    let mut summaries = Vec::with_capacity(tensors.len());
    for t in &tensors {
        if t.name == "__metadata__" {
            return Err(ConvertError::Malformed(
                "a tensor is named __metadata__".into(),
            ));
        }
        let end = at
            .checked_add(t.nbytes())
            .ok_or_else(|| ConvertError::Malformed("output size overflows".into()))?;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [at, end]}),
        );
        summaries.push(TensorSummary {
            name: t.name.clone(),
            dtype: t.dtype.to_owned(),
            shape: t.shape.iter().map(|&d| d as usize).collect(),
        });
        at = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| ConvertError::Malformed(e.to_string()))?;
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    out.write_all(&(json.len() as u64).to_le_bytes())?;
    out.write_all(&json)?;
    let mut buf = Vec::new();
    for t in &tensors {
        match &t.source {
            Source::Memory(b) => {
                if b.len() as u64 != t.nbytes() {
                    return Err(ConvertError::Malformed(format!(
                        "{}: {} bytes for {} expected",
                        t.name,
                        b.len(),
                        t.nbytes()
                    )));
                }
                out.write_all(b)?;
            }
            Source::File(v) => {
                let f = src.ok_or_else(|| ConvertError::Malformed("no source file".into()))?;
                copy_view(out, f, v, &t.name, &mut buf)?;
            }
        }
    }
    Ok(summaries)
}

fn swap_in_place(b: &mut [u8], elem: usize) {
    if elem > 1 {
        for c in b.chunks_exact_mut(elem) {
            c.reverse();
        }
    }
}

fn read_at(f: &File, at: u64, buf: &mut [u8]) -> Result<(), ConvertError> {
    let mut r = f;
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ConvertError::Malformed(format!("storage data ends early (reading at offset {at})"))
        } else {
            ConvertError::Io(e)
        }
    })
}

fn copy_view<W: Write>(
    out: &mut W,
    f: &File,
    v: &View,
    name: &str,
    buf: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let (first, end) = v.check(name)?;
    let elem = v.elem as u64;
    if v.numel() == 0 {
        return Ok(());
    }
    let start = v
        .storage_start
        .checked_add(first.saturating_mul(elem))
        .ok_or_else(|| ConvertError::Malformed(format!("{name}: offset overflows")))?;
    if v.is_contiguous() {
        // Plain buffered copy.
        let mut left = v.numel().saturating_mul(elem);
        let mut pos = start;
        buf.resize(CHUNK, 0);
        while left > 0 {
            let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let chunk = buf.get_mut(..n).unwrap_or_default();
            read_at(f, pos, chunk)?;
            if v.swap {
                swap_in_place(chunk, v.elem);
            }
            out.write_all(chunk)?;
            pos = pos.saturating_add(n as u64);
            left = left.saturating_sub(n as u64);
        }
        return Ok(());
    }
    // Strided: read the span the view touches, gather element by element in C order.
    let span_bytes = end.saturating_sub(first).saturating_mul(elem);
    let span_len = usize::try_from(span_bytes)
        .map_err(|_| ConvertError::Unsupported(format!("{name}: view span too large")))?;
    let mut span = vec![0u8; span_len];
    read_at(f, start, &mut span)?;
    let rank = v.shape.len();
    let mut idx = vec![0u64; rank];
    let mut outbuf: Vec<u8> = Vec::with_capacity(CHUNK.min(span_len.max(v.elem)));
    let total = v.numel();
    let e = v.elem;
    for _ in 0..total {
        let mut off = v.offset.saturating_sub(first);
        for (&i, &s) in idx.iter().zip(&v.strides) {
            off = off.saturating_add(i.saturating_mul(s));
        }
        let b = usize::try_from(off.saturating_mul(elem)).unwrap_or(usize::MAX);
        let src = span
            .get(b..b.saturating_add(e))
            .ok_or_else(|| ConvertError::Malformed(format!("{name}: element out of range")))?;
        let pos = outbuf.len();
        outbuf.extend_from_slice(src);
        if v.swap {
            if let Some(el) = outbuf.get_mut(pos..) {
                el.reverse();
            }
        }
        if outbuf.len() >= CHUNK {
            out.write_all(&outbuf)?;
            outbuf.clear();
        }
        // Increment the C-order index.
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
    out.write_all(&outbuf)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn views_are_checked_and_contiguity_detected() {
        let v = View {
            storage_start: 0,
            storage_len: 24,
            elem: 4,
            offset: 0,
            shape: vec![3, 2],
            strides: vec![1, 3],
            swap: false,
        };
        assert!(!v.is_contiguous());
        assert_eq!(v.check("t").unwrap(), (0, 6));
        let mut w = v.clone();
        w.offset = 1;
        assert!(w.check("t").is_err());
        let c = View {
            strides: vec![2, 1],
            ..v
        };
        assert!(c.is_contiguous());
    }

    #[test]
    fn memory_tensors_round_trip_through_the_crate() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = Tensor {
            name: "a".into(),
            dtype: "F32",
            shape: vec![2, 2],
            elem: 4,
            source: Source::Memory(std::sync::Arc::new(data.clone())),
        };
        let b = Tensor {
            name: "b".into(),
            dtype: "U8",
            shape: vec![3],
            elem: 1,
            source: Source::Memory(std::sync::Arc::new(vec![7, 8, 9])),
        };
        let mut out = Vec::new();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_owned(), "pt".to_owned());
        write(&mut out, None, vec![b, t], &meta).unwrap();
        let st = safetensors::SafeTensors::deserialize(&out).unwrap();
        assert_eq!(st.tensor("a").unwrap().data(), &data[..]);
        assert_eq!(st.tensor("b").unwrap().data(), &[7, 8, 9]);
        let (_, m) = safetensors::SafeTensors::read_metadata(&out).unwrap();
        assert_eq!(m.metadata().as_ref().unwrap()["format"], "pt");
    }
}
