//! PyTorch storage facts shared by the scanner and the converter: the element type of each
//! storage class, and the layout of a legacy `torch.save` storage trailer. The scanner skips
//! each trailer entry by this layout ([`crate::scanners::pickle`]) and the converter reads the
//! tensor bytes from the same offsets ([`crate::convert::torch`]).
//!
//! Legacy `torch.save` (torch < 1.6, `_use_new_zipfile_serialization=False`): after the
//! storage-keys pickle, each key in order has an 8-byte element count (`int64_t`, in the byte
//! order `sys_info["little_endian"]` gives) and then `count * element_size` raw bytes.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// The element type of a storage class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageType {
    /// torch's dtype name (`float32`); `None` for `UntypedStorage`, whose bytes are typed by
    /// the tensor that uses them.
    pub dtype: Option<&'static str>,
    /// Bytes per element.
    pub itemsize: u64,
    /// The safetensors dtype, when there is one.
    pub safetensors: Option<&'static str>,
}

/// The element type of a storage class by its bare name (`FloatStorage`, `HalfStorage`,
/// `UntypedStorage`); callers decide which modules they accept it from.
pub fn storage_type(name: &str) -> Option<StorageType> {
    let t = |dtype: &'static str, itemsize: u64, st: Option<&'static str>| StorageType {
        dtype: Some(dtype),
        itemsize,
        safetensors: st,
    };
    Some(match name {
        "DoubleStorage" => t("float64", 8, Some("F64")),
        "FloatStorage" => t("float32", 4, Some("F32")),
        "HalfStorage" => t("float16", 2, Some("F16")),
        "BFloat16Storage" => t("bfloat16", 2, Some("BF16")),
        "LongStorage" => t("int64", 8, Some("I64")),
        "IntStorage" => t("int32", 4, Some("I32")),
        "ShortStorage" => t("int16", 2, Some("I16")),
        "CharStorage" => t("int8", 1, Some("I8")),
        "ByteStorage" => t("uint8", 1, Some("U8")),
        "BoolStorage" => t("bool", 1, Some("BOOL")),
        "ComplexFloatStorage" => t("complex64", 8, None),
        "ComplexDoubleStorage" => t("complex128", 16, None),
        "QInt8Storage" => t("qint8", 1, None),
        "QUInt8Storage" => t("quint8", 1, None),
        "QInt32Storage" => t("qint32", 4, None),
        "QUInt4x2Storage" => t("quint4x2", 1, None),
        "QUInt2x4Storage" => t("quint2x4", 1, None),
        "UntypedStorage" => StorageType {
            dtype: None,
            itemsize: 1,
            safetensors: None,
        },
        _ => return None,
    })
}

/// Bytes of the element count that starts each legacy trailer entry.
pub const TRAILER_COUNT_LEN: u64 = 8;

/// Why a trailer entry has no readable length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    /// A negative count, or one whose byte size overflows.
    #[error("an invalid element count {0}")]
    InvalidCount(i64),
}

/// The data length of one legacy trailer entry: its element count (read as torch reads it, a
/// signed 64-bit integer in the file's byte order) times `itemsize`.
pub fn trailer_data_len(
    count: [u8; 8],
    little_endian: bool,
    itemsize: u64,
) -> Result<u64, TrailerError> {
    let count = if little_endian {
        i64::from_le_bytes(count)
    } else {
        i64::from_be_bytes(count)
    };
    u64::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(itemsize))
        .ok_or(TrailerError::InvalidCount(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_lengths_as_torch_reads_them() {
        assert_eq!(trailer_data_len(3i64.to_le_bytes(), true, 4), Ok(12));
        assert_eq!(trailer_data_len(3i64.to_be_bytes(), false, 8), Ok(24));
        assert_eq!(
            trailer_data_len((-1i64).to_le_bytes(), true, 4),
            Err(TrailerError::InvalidCount(-1))
        );
        assert!(trailer_data_len(i64::MAX.to_le_bytes(), true, 4).is_err());
        assert_eq!(storage_type("UntypedStorage").map(|t| t.itemsize), Some(1));
        assert_eq!(
            storage_type("HalfStorage").and_then(|t| t.safetensors),
            Some("F16")
        );
        assert!(storage_type("Half").is_none());
    }
}
