//! joblib's inline array layout: what `NumpyArrayWrapper.read_array` reads from the stream right
//! after the wrapper's BUILD opcode. The scanning walker ([`crate::pickle::walk`]) skips exactly
//! these bytes and the symbolic VM ([`crate::pickle::vm`]) reads exactly these bytes for
//! conversion; both take the layout from here, so the converter never reads array data at an
//! offset or length other than the one the scanner stepped over (and scanned around).
//!
//! joblib (`numpy_pickle.py`): the element count is the product of the shape's dimensions as
//! int64; when `dtype.hasobject` the data is a complete pickle read by `pickle.load`; otherwise,
//! when the wrapper has a `numpy_array_alignment_bytes` that is not None, one byte gives a
//! padding length and that many padding bytes follow, then `count * dtype.itemsize` raw bytes.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::formats::dtype::DType;

/// What the wrapper state says about `numpy_array_alignment_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// Missing or None: no padding byte (joblib before 1.2, or not requested).
    Absent,
    /// Any other value: a padding-length byte and padding precede the data.
    Present,
    /// The state was not kept whole, so whether the key is there cannot be told.
    Unknown,
}

/// What follows the BUILD opcode of a wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `dtype.hasobject`: a complete pickle, read by `pickle.load`.
    Pickle,
    /// Raw array bytes.
    Raw(Raw),
}

/// A raw inline array: `nbytes` data bytes, after the padding when `aligned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    pub aligned: bool,
    pub nbytes: u64,
}

/// Where a raw array's bytes lie, relative to the end of the wrapper's BUILD opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Bytes before the data: the padding-length byte and the padding (0 when not aligned).
    pub data_offset: u64,
    /// `count * dtype.itemsize`.
    pub data_len: u64,
}

impl Span {
    /// Offset just past the data, relative to the end of the BUILD opcode.
    pub fn end(&self) -> u64 {
        self.data_offset.saturating_add(self.data_len)
    }
}

impl Raw {
    /// The span once the padding-length byte (`pad`, read only when `aligned`) is known;
    /// joblib reads it as `int.from_bytes(byte, "little")`.
    pub fn span(&self, pad: Option<u8>) -> Result<Span, LayoutError> {
        let data_offset = match (self.aligned, pad) {
            (false, _) => 0,
            (true, Some(p)) => u64::from(p).saturating_add(1),
            (true, None) => return Err(LayoutError::NoPaddingByte),
        };
        Ok(Span {
            data_offset,
            data_len: self.nbytes,
        })
    }
}

/// Where one raw inline array's data lies in the stream (absolute offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArraySpan {
    pub data_start: u64,
    pub data_len: u64,
}

/// Why the layout cannot be proven (the walker then skips nothing and reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("whether the array is aligned is not known (the wrapper state was not kept whole)")]
    UnknownAlignment,
    #[error("the array shape is not a tuple of non-negative integers whose product fits")]
    Shape,
    #[error("the stream ends before the padding byte")]
    NoPaddingByte,
}

/// The layout `read_array` reads for a wrapper whose state holds `dtype` (as
/// [`crate::formats::dtype::resolve`] computes it), `shape` (`None` when it is not a tuple or
/// list; each dimension `None` when it is not an integer) and `alignment`.
pub fn layout(
    dtype: &DType,
    shape: Option<&[Option<i128>]>,
    alignment: Alignment,
) -> Result<Layout, LayoutError> {
    // Checked first, even for object arrays: the walker cannot tell what the state holds.
    if alignment == Alignment::Unknown {
        return Err(LayoutError::UnknownAlignment);
    }
    if dtype.object {
        return Ok(Layout::Pickle);
    }
    let count = shape
        .ok_or(LayoutError::Shape)?
        .iter()
        .try_fold(1u64, |acc, d| {
            d.and_then(|d| u64::try_from(d).ok())
                .and_then(|d| acc.checked_mul(d))
        })
        // joblib multiplies the dimensions as int64 (`np.multiply.reduce`), which wraps: a
        // product past i64::MAX is not the count joblib reads.
        .filter(|&c| i64::try_from(c).is_ok())
        .ok_or(LayoutError::Shape)?;
    let nbytes = count
        .checked_mul(dtype.itemsize)
        .ok_or(LayoutError::Shape)?;
    Ok(Layout::Raw(Raw {
        aligned: alignment == Alignment::Present,
        nbytes,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::formats::dtype::parse_descr;

    #[test]
    fn layouts_as_joblib_reads_them() {
        let f8 = parse_descr("<f8").unwrap();
        let raw = |shape: &[Option<i128>], a| layout(&f8, Some(shape), a);
        assert_eq!(
            raw(&[Some(3), Some(2)], Alignment::Absent),
            Ok(Layout::Raw(Raw {
                aligned: false,
                nbytes: 48
            }))
        );
        // A 0-d array holds one element.
        assert_eq!(
            raw(&[], Alignment::Present),
            Ok(Layout::Raw(Raw {
                aligned: true,
                nbytes: 8
            }))
        );
        assert_eq!(raw(&[Some(-1)], Alignment::Absent), Err(LayoutError::Shape));
        assert_eq!(raw(&[None], Alignment::Absent), Err(LayoutError::Shape));
        assert_eq!(
            raw(&[Some(1 << 62), Some(4)], Alignment::Absent),
            Err(LayoutError::Shape)
        );
        assert_eq!(
            raw(&[Some(1)], Alignment::Unknown),
            Err(LayoutError::UnknownAlignment)
        );
        let o = parse_descr("|O").unwrap();
        assert_eq!(layout(&o, None, Alignment::Present), Ok(Layout::Pickle));
        let r = Raw {
            aligned: true,
            nbytes: 16,
        };
        assert_eq!(
            r.span(Some(7)),
            Ok(Span {
                data_offset: 8,
                data_len: 16
            })
        );
        assert_eq!(r.span(None), Err(LayoutError::NoPaddingByte));
        let r = Raw {
            aligned: false,
            nbytes: 16,
        };
        assert_eq!(r.span(Some(7)).unwrap().end(), 16);
    }
}
