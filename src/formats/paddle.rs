#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! PaddlePaddle inference models: the program (`.pdmodel`, `__model__`: a `ProgramDesc`
//! protobuf, Paddle's `framework.proto`) and its parameters (`.pdiparams`: the persistable
//! tensors `save_combine` writes one after another). `.pdparams`/`.pdopt` from `paddle.save` are
//! pickles and go to the pickle scanner.
//!
//! The messages below declare only the fields this reader needs, with Paddle's field numbers
//! (unknown fields are skipped as protobuf readers do). Strings are read as bytes: Paddle's C++
//! reader (proto2) does not insist on UTF-8.
//!
//! A `.pdiparams` record is what `SerializeToStream` writes for a `DenseTensor`
//! (`paddle/fluid/framework/lod_tensor.cc`, `tensor_util.cc`): a `u32` version (0), a `u64` LoD
//! level count and each level's byte size and offsets, a `u32` tensor version (0), an `i32`
//! size and that many bytes of `TensorDesc` (data type, dims), then the tensor's bytes. All
//! integers are in the writer's byte order (little-endian on every platform Paddle ships).

use std::io::{Read, Seek, SeekFrom};

use prost::Message;

/// Programs larger than this are not read (they hold no weights; real ones are kilobytes to a
/// few megabytes).
pub const MAX_PROGRAM_BYTES: usize = 256 * 1024 * 1024;
/// Tensor records read from one parameters file.
pub const MAX_TENSORS: usize = 1_000_000;
/// Largest `TensorDesc` accepted (real ones are a few bytes per dimension).
const MAX_DESC: i32 = 64 * 1024;
/// LoD levels accepted per tensor.
const MAX_LOD_LEVELS: u64 = 64;

/// `framework.proto`'s `ProgramDesc`.
#[derive(Clone, PartialEq, Message)]
pub struct ProgramDesc {
    #[prost(message, repeated, tag = "1")]
    pub blocks: Vec<BlockDesc>,
    #[prost(message, optional, tag = "4")]
    pub version: Option<Version>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Version {
    #[prost(int64, optional, tag = "1")]
    pub version: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct BlockDesc {
    #[prost(int32, optional, tag = "1")]
    pub idx: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub parent_idx: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub vars: Vec<VarDesc>,
    #[prost(message, repeated, tag = "4")]
    pub ops: Vec<OpDesc>,
    #[prost(int32, optional, tag = "5")]
    pub forward_block_idx: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct VarDesc {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub name: Option<Vec<u8>>,
    #[prost(bool, optional, tag = "3")]
    pub persistable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpDesc {
    #[prost(message, repeated, tag = "1")]
    pub inputs: Vec<OpVar>,
    #[prost(message, repeated, tag = "2")]
    pub outputs: Vec<OpVar>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub r#type: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "4")]
    pub attrs: Vec<Attr>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OpVar {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub parameter: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub arguments: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Attr {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub name: Option<Vec<u8>>,
    #[prost(int32, optional, tag = "2")]
    pub r#type: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub i: Option<i32>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub s: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub strings: Vec<Vec<u8>>,
    #[prost(int32, optional, tag = "12")]
    pub block_idx: Option<i32>,
    #[prost(int64, optional, tag = "13")]
    pub l: Option<i64>,
    #[prost(int32, repeated, tag = "14")]
    pub blocks_idx: Vec<i32>,
}

/// `VarType.TensorDesc`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorDesc {
    #[prost(int32, optional, tag = "1")]
    pub data_type: Option<i32>,
    #[prost(int64, repeated, tag = "2")]
    pub dims: Vec<i64>,
}

/// Text of a proto2 string field.
pub fn text(b: Option<&Vec<u8>>) -> String {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Why a program does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("the program is {0} bytes, more than the {MAX_PROGRAM_BYTES} read")]
    TooLarge(usize),
    #[error("not a ProgramDesc protobuf: {0}")]
    Decode(String),
    #[error("{0}")]
    Structure(String),
}

/// Decodes a `ProgramDesc` and checks the structure Paddle's `ProgramDesc` and `BlockDesc`
/// constructors rely on: block `i` has index `i`, block 0 has no parent (-1) and every other
/// block's parent and forward block come before the end, every op has a type, and every block an
/// attribute names exists.
pub fn parse_program(bytes: &[u8]) -> Result<ProgramDesc, ProgramError> {
    if bytes.len() > MAX_PROGRAM_BYTES {
        return Err(ProgramError::TooLarge(bytes.len()));
    }
    let p = ProgramDesc::decode(bytes).map_err(|e| ProgramError::Decode(e.to_string()))?;
    if p.blocks.is_empty() {
        return Err(ProgramError::Structure("the program has no blocks".into()));
    }
    let n = i64::try_from(p.blocks.len()).unwrap_or(i64::MAX);
    let in_range = |i: i32| (0..n).contains(&i64::from(i));
    for (i, b) in p.blocks.iter().enumerate() {
        let want = i32::try_from(i).unwrap_or(i32::MAX);
        if b.idx != Some(want) {
            return Err(ProgramError::Structure(format!(
                "block {i} says it is block {:?}",
                b.idx
            )));
        }
        let parent = b.parent_idx.unwrap_or(i32::MIN);
        let parent_ok = if i == 0 {
            parent == -1
        } else {
            in_range(parent) && parent != want
        };
        if !parent_ok {
            return Err(ProgramError::Structure(format!(
                "block {i} has parent {parent}"
            )));
        }
        if let Some(f) = b.forward_block_idx {
            if f != -1 && !in_range(f) {
                return Err(ProgramError::Structure(format!(
                    "block {i} names forward block {f}, which does not exist"
                )));
            }
        }
        for (j, op) in b.ops.iter().enumerate() {
            if op.r#type.as_ref().is_none_or(Vec::is_empty) {
                return Err(ProgramError::Structure(format!(
                    "op {j} of block {i} has no type"
                )));
            }
            for a in &op.attrs {
                let refs = a.block_idx.iter().chain(a.blocks_idx.iter());
                for &r in refs {
                    if !in_range(r) {
                        return Err(ProgramError::Structure(format!(
                            "attribute {:?} of op {j} ({}) in block {i} names block {r}, which does not exist",
                            text(a.name.as_ref()),
                            text(op.r#type.as_ref())
                        )));
                    }
                }
            }
        }
    }
    Ok(p)
}

/// Whether `head` starts like a serialized `ProgramDesc`: its first block (field 1) with index 0
/// and parent -1 (`0a <len> 08 00 10 ff ff ff ff ff ff ff ff ff 01`).
pub fn looks_like_program(head: &[u8]) -> bool {
    const BLOCK0: &[u8] = &[
        0x08, 0x00, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    if head.first() != Some(&0x0a) {
        return false;
    }
    let Some(n) = head.iter().skip(1).take(5).position(|b| b & 0x80 == 0) else {
        return false;
    };
    head.get(n.saturating_add(2)..)
        .is_some_and(|rest| rest.starts_with(BLOCK0))
}

/// Whether `head` starts like a `.pdiparams` file whose first tensor has no LoD: a zero
/// version, zero LoD levels, a zero tensor version, a small `TensorDesc` size, then the
/// desc's data-type field.
pub fn looks_like_params(head: &[u8]) -> bool {
    let Some(h) = head.get(..21) else {
        return false;
    };
    let zeros = h.get(..16).is_some_and(|z| z.iter().all(|&b| b == 0));
    let size = h
        .get(16..20)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(i32::from_le_bytes);
    zeros && size.is_some_and(|s| (2..=1024).contains(&s)) && h.get(20) == Some(&0x08)
}

/// One tensor record of a parameters file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRecord {
    /// Where the record starts.
    pub offset: u64,
    pub data_type: i32,
    pub dims: Vec<i64>,
    pub lod_levels: u64,
    /// Bytes of tensor data.
    pub data_bytes: u64,
}

/// Why a parameters file does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("tensor record {index} at byte {offset}: {what}")]
    Record {
        index: usize,
        offset: u64,
        what: String,
    },
    #[error("more than {MAX_TENSORS} tensors")]
    TooMany,
    #[error("read error: {0}")]
    Io(String),
}

/// The element size of a `VarType.Type` data type, `None` for types a tensor cannot hold.
pub fn element_size(data_type: i32) -> Option<u64> {
    Some(match data_type {
        0 | 20 | 21 | 32 | 33 => 1, // BOOL, UINT8, INT8, FP8_E4M3FN, FP8_E5M2
        1 | 4 | 22 => 2,            // INT16, FP16, BF16
        2 | 5 => 4,                 // INT32, FP32
        3 | 6 | 19 | 23 => 8,       // INT64, FP64, SIZE_T, COMPLEX64
        24 => 16,                   // COMPLEX128
        _ => return None,
    })
}

/// Reads every tensor record of a `.pdiparams` file of `len` bytes, checking each length
/// against what is left. The records must end exactly at the end of the file.
pub fn read_params<R: Read + Seek>(mut r: R, len: u64) -> Result<Vec<TensorRecord>, ParamsError> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        if out.len() >= MAX_TENSORS {
            return Err(ParamsError::TooMany);
        }
        let index = out.len();
        let offset = pos;
        let bad = |what: String| ParamsError::Record {
            index,
            offset,
            what,
        };
        let u32_at = |b: &[u8]| b.try_into().map_or(u32::MAX, u32::from_le_bytes);
        let u64_at = |b: &[u8]| b.try_into().map_or(u64::MAX, u64::from_le_bytes);
        let version = u32_at(take(&mut r, &mut pos, 4, len).map_err(&bad)?.as_slice());
        if version != 0 {
            return Err(bad(format!(
                "LoD tensor version {version} (Paddle reads only 0)"
            )));
        }
        let lod_levels = u64_at(take(&mut r, &mut pos, 8, len).map_err(&bad)?.as_slice());
        if lod_levels > MAX_LOD_LEVELS {
            return Err(bad(format!("{lod_levels} LoD levels")));
        }
        for _ in 0..lod_levels {
            let size = u64_at(take(&mut r, &mut pos, 8, len).map_err(&bad)?.as_slice());
            if size % 8 != 0 {
                return Err(bad(format!(
                    "a LoD level of {size} bytes (not whole offsets)"
                )));
            }
            skip(&mut r, &mut pos, size, len).map_err(&bad)?;
        }
        let tensor_version = u32_at(take(&mut r, &mut pos, 4, len).map_err(&bad)?.as_slice());
        if tensor_version != 0 {
            return Err(bad(format!(
                "tensor version {tensor_version} (Paddle reads only 0)"
            )));
        }
        let size_bytes = take(&mut r, &mut pos, 4, len).map_err(&bad)?;
        let desc_size = size_bytes
            .as_slice()
            .try_into()
            .map_or(-1, i32::from_le_bytes);
        if !(0..=MAX_DESC).contains(&desc_size) {
            return Err(bad(format!("tensor description of {desc_size} bytes")));
        }
        let desc_bytes =
            take(&mut r, &mut pos, u64::try_from(desc_size).unwrap_or(0), len).map_err(&bad)?;
        let desc = TensorDesc::decode(desc_bytes.as_slice())
            .map_err(|e| bad(format!("tensor description does not decode: {e}")))?;
        let data_type = desc.data_type.unwrap_or(-1);
        let elem =
            element_size(data_type).ok_or_else(|| bad(format!("unknown data type {data_type}")))?;
        let mut numel: u64 = 1;
        for &d in &desc.dims {
            let d = u64::try_from(d).map_err(|_| bad(format!("negative dimension {d}")))?;
            numel = numel
                .checked_mul(d)
                .ok_or_else(|| bad("element count overflows".into()))?;
        }
        let data_bytes = numel
            .checked_mul(elem)
            .ok_or_else(|| bad("data size overflows".into()))?;
        skip(&mut r, &mut pos, data_bytes, len).map_err(&bad)?;
        out.push(TensorRecord {
            offset,
            data_type,
            dims: desc.dims,
            lod_levels,
            data_bytes,
        });
    }
    Ok(out)
}

/// Reads `n` bytes (a small header field), failing past `len`.
fn take<R: Read>(r: &mut R, pos: &mut u64, n: u64, len: u64) -> Result<Vec<u8>, String> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= len)
        .ok_or_else(|| format!("needs {n} bytes at byte {pos}, past the end of the file"))?;
    let mut buf = vec![0u8; usize::try_from(n).unwrap_or(0)];
    r.read_exact(&mut buf).map_err(|e| e.to_string())?;
    *pos = end;
    Ok(buf)
}

fn skip<R: Seek>(r: &mut R, pos: &mut u64, n: u64, len: u64) -> Result<(), String> {
    let end = pos.checked_add(n).filter(|&e| e <= len).ok_or_else(|| {
        format!("{n} bytes at byte {pos} run past the end of the file ({len} bytes)")
    })?;
    r.seek(SeekFrom::Start(end)).map_err(|e| e.to_string())?;
    *pos = end;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn op(ty: &str) -> OpDesc {
        OpDesc {
            r#type: Some(ty.as_bytes().to_vec()),
            ..OpDesc::default()
        }
    }

    fn program(ops: Vec<OpDesc>) -> Vec<u8> {
        ProgramDesc {
            blocks: vec![BlockDesc {
                idx: Some(0),
                parent_idx: Some(-1),
                ops,
                ..BlockDesc::default()
            }],
            version: None,
        }
        .encode_to_vec()
    }

    #[test]
    fn programs_read_and_sniff() {
        let bytes = program(vec![op("feed"), op("matmul_v2"), op("fetch")]);
        assert!(looks_like_program(&bytes));
        let p = parse_program(&bytes).unwrap();
        assert_eq!(p.blocks[0].ops.len(), 3);
    }

    #[test]
    fn broken_structure_is_an_error() {
        let mut o = op("conditional_block");
        o.attrs.push(Attr {
            name: Some(b"sub_block".to_vec()),
            block_idx: Some(5),
            ..Attr::default()
        });
        assert!(matches!(
            parse_program(&program(vec![o])),
            Err(ProgramError::Structure(_))
        ));
        assert!(matches!(
            parse_program(&program(vec![OpDesc::default()])),
            Err(ProgramError::Structure(_))
        ));
        assert!(matches!(
            parse_program(b"\x0a\x05\x08"),
            Err(ProgramError::Decode(_))
        ));
    }

    fn record(dims: &[i64], data_type: i32, data: usize) -> Vec<u8> {
        let desc = TensorDesc {
            data_type: Some(data_type),
            dims: dims.to_vec(),
        }
        .encode_to_vec();
        let mut v = vec![0u8; 16];
        v.extend_from_slice(&i32::try_from(desc.len()).unwrap().to_le_bytes());
        v.extend_from_slice(&desc);
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    #[test]
    fn params_records_are_bounds_checked() {
        let mut f = record(&[2, 3], 5, 24);
        f.extend(record(&[4], 3, 32));
        assert!(looks_like_params(&f));
        let t = read_params(Cursor::new(&f), f.len() as u64).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].data_bytes, 32);
        let short = record(&[2, 3], 5, 20);
        assert!(read_params(Cursor::new(&short), short.len() as u64).is_err());
        let huge = record(&[i64::MAX, 4], 5, 0);
        assert!(read_params(Cursor::new(&huge), huge.len() as u64).is_err());
        let neg = record(&[-1], 5, 0);
        assert!(read_params(Cursor::new(&neg), neg.len() as u64).is_err());
    }
}
