//! The `.npy` format (versions 1.0–3.0): magic, version, header length, the header dict
//! (`descr`, `fortran_order`, `shape`) and where the data starts, read exactly as
//! `numpy.lib.format.read_array` reads them. The header is a Python dict literal, read as
//! `ast.literal_eval` reads it ([`crate::pyliteral`], never evaluated), and its `descr` is turned
//! into a dtype as numpy's `descr_to_dtype` does ([`crate::formats::dtype`]).
//!
//! This is the only reading of an `.npy` header: the scanner ([`crate::scanners::numpy`])
//! judges the file by it and the converter ([`crate::convert::numpy`]) writes out the tensor it
//! describes, so what is written is what was checked.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::formats::dtype::DType;
use crate::pyliteral::{self, Lit, LitError};

/// Largest header read (numpy's default limit is 10 000 bytes; `allow_pickle=True` lifts it,
/// so a larger header is reported as unreadable and its data scanned, never skipped).
pub const MAX_HEADER: usize = 1024 * 1024;

/// How many bytes from the start of an `.npy` file [`parse_npy`] needs to read any header it
/// reads (magic, version, length and a header of up to [`MAX_HEADER`] bytes). Callers read this
/// prefix so that they all see the same header.
pub const HEAD_LEN: usize = MAX_HEADER.saturating_add(16);

/// What the header says, as numpy reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub version: (u8, u8),
    pub data_offset: u64,
    /// The `descr` value, as Python would print it (roughly).
    pub descr_text: String,
    pub descr: Lit,
    /// The dtype `descr_to_dtype` builds: kind, itemsize, byte order, and `dtype.hasobject`
    /// (the data is a pickle). Structured and subarray dtypes are kind `V`.
    pub dtype: DType,
    pub fortran_order: bool,
    /// Dimensions; numpy checks only that they are ints (negative ones fail later).
    pub shape: Vec<i128>,
    /// shape × itemsize (None when a dimension is negative or the product overflows).
    pub nbytes: Option<u64>,
}

/// Why a header was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    /// numpy raises on it before reading any data.
    #[error("{0}")]
    Rejected(String),
    /// The scanner cannot read it, but numpy might: its data starts at `data_offset`.
    #[error("{message}")]
    Unreadable { message: String, data_offset: u64 },
}

/// Parses the magic, version, header length and header dict of an `.npy` file the way
/// `numpy.lib.format.read_array` does: versions 1.0, 2.0 and 3.0 only, the header decoded as
/// Latin-1 (UTF-8 for 3.0), read with `ast.literal_eval` (retried without Python 2 `L`
/// suffixes for versions 1 and 2), a dict with exactly the keys `descr`, `fortran_order` and
/// `shape` (duplicates: the last wins), `shape` a tuple of ints, `fortran_order` a bool and
/// `descr` turned into a dtype by `descr_to_dtype`.
pub fn parse_npy(b: &[u8]) -> Result<NpyHeader, NpyError> {
    let rejected = |m: String| NpyError::Rejected(m);
    if b.get(..6) != Some(b"\x93NUMPY") {
        return Err(rejected("not an .npy file (bad magic)".into()));
    }
    let major = *b
        .get(6)
        .ok_or_else(|| rejected("truncated version".into()))?;
    let minor = *b
        .get(7)
        .ok_or_else(|| rejected("truncated version".into()))?;
    if !(1..=3).contains(&major) || minor != 0 {
        return Err(rejected(format!(
            "unsupported .npy format version {major}.{minor} (numpy raises)"
        )));
    }
    let (hlen, start) = if major == 1 {
        let l = b
            .get(8..10)
            .ok_or_else(|| rejected("truncated header length".into()))?;
        let mut a = [0u8; 2];
        a.copy_from_slice(l);
        (u64::from(u16::from_le_bytes(a)), 10u64)
    } else {
        let l = b
            .get(8..12)
            .ok_or_else(|| rejected("truncated header length".into()))?;
        let mut a = [0u8; 4];
        a.copy_from_slice(l);
        (u64::from(u32::from_le_bytes(a)), 12u64)
    };
    let data_offset = start.saturating_add(hlen);
    let too_long = usize::try_from(hlen).map_or(true, |h| h > MAX_HEADER);
    if too_long {
        return Err(NpyError::Unreadable {
            message: format!(
                "the header is {hlen} bytes, more than the {MAX_HEADER} the scanner reads (np.load with allow_pickle=True reads any size)"
            ),
            data_offset,
        });
    }
    let raw = usize::try_from(start)
        .ok()
        .zip(usize::try_from(data_offset).ok())
        .and_then(|(s, e)| b.get(s..e))
        .ok_or_else(|| {
            rejected(format!(
                "header of {hlen} bytes runs past the end of the file (numpy raises)"
            ))
        })?;
    let text = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| rejected("the version 3.0 header is not UTF-8 (numpy raises)".into()))?
            .to_owned()
    } else {
        raw.iter().map(|&c| char::from(c)).collect()
    };
    let unreadable = |message: String| NpyError::Unreadable {
        message,
        data_offset,
    };
    let lit = match pyliteral::parse(&text, false) {
        Err(_) if major < 3 => pyliteral::parse(&text, true),
        other => other,
    }
    .map_err(|e| match e {
        LitError::Rejected(m) => rejected(format!("the header literal is refused: {m}")),
        LitError::Unreadable(m) => unreadable(format!("the header literal cannot be read: {m}")),
    })?;
    if !matches!(lit, Lit::Dict(_)) {
        return Err(rejected(format!(
            "the header is a {}, not a dict (numpy raises)",
            lit.type_name()
        )));
    }
    let mut keys = lit.dict_keys();
    keys.sort();
    if keys != ["descr", "fortran_order", "shape"] {
        return Err(rejected(format!(
            "the header has the keys {keys:?}, not exactly descr, fortran_order and shape (numpy raises)"
        )));
    }
    let get = |k: &str| lit.get(k).cloned().unwrap_or(Lit::None);
    let shape = match get("shape") {
        Lit::Tuple(t) => t
            .iter()
            .map(|x| match x {
                Lit::Int(i) => Ok(*i),
                Lit::Bool(b) => Ok(i128::from(*b)),
                Lit::BigInt => Ok(i128::MAX),
                other => Err(rejected(format!(
                    "the shape holds a {} (numpy raises)",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<i128>, NpyError>>()?,
        other => {
            return Err(rejected(format!(
                "the shape is a {}, not a tuple (numpy raises)",
                other.type_name()
            )))
        }
    };
    let fortran_order = match get("fortran_order") {
        Lit::Bool(b) => b,
        other => {
            return Err(rejected(format!(
                "fortran_order is a {}, not a bool (numpy raises)",
                other.type_name()
            )))
        }
    };
    let descr = get("descr");
    let descr_text = lit_text(&descr);
    let dt = match descr_dtype(&descr, 0) {
        Descr::Known(d) => d,
        Descr::Rejected(m) => return Err(rejected(format!("{m} (numpy raises)"))),
        Descr::Unknown(m) => {
            return Err(unreadable(format!(
                "the dtype {descr_text} cannot be resolved by the scanner ({m}); numpy may read it as an object dtype"
            )))
        }
    };
    let count = shape.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    });
    Ok(NpyHeader {
        version: (major, minor),
        data_offset,
        descr_text,
        descr,
        dtype: dt,
        fortran_order,
        shape,
        nbytes: count.and_then(|c| c.checked_mul(dt.itemsize)),
    })
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Str(s) => format!("'{s}'"),
        other => {
            let mut t = format!("{other:?}");
            if t.len() > 200 {
                let mut cut = 200;
                while !t.is_char_boundary(cut) {
                    cut = cut.saturating_sub(1);
                }
                t.truncate(cut);
                t.push('…');
            }
            t
        }
    }
}

/// The outcome of `numpy.lib.format.descr_to_dtype(descr)` as far as the scanner can tell.
enum Descr {
    Known(DType),
    /// numpy raises.
    Rejected(String),
    /// Something numpy may accept that the scanner cannot size or classify.
    Unknown(String),
}

/// A dtype built from parts (structured, subarray): numpy gives it kind `V`.
fn known(itemsize: u64, object: bool) -> Descr {
    Descr::Known(DType::unordered('V', itemsize, object))
}

/// `descr_to_dtype`: a string goes to `numpy.dtype(str)`; a tuple is `(subdtype, shape)`;
/// anything else is iterated as a list of `(name, descr[, shape])` fields (a dict yields its
/// keys, a string field of length 2 or 3 unpacks into characters), padding fields included in
/// the size.
fn descr_dtype(d: &Lit, depth: u32) -> Descr {
    if depth > 32 {
        return Descr::Unknown("nested too deeply".into());
    }
    let next = depth.saturating_add(1);
    match d {
        Lit::Str(s) => match crate::formats::dtype::parse_descr(s) {
            Some(dt) => Descr::Known(dt),
            None if matches!(s.as_str(), "object" | "object_") => {
                Descr::Known(DType::unordered('O', 8, true))
            }
            None => Descr::Unknown(format!("numpy.dtype({s:?}) is not a spelling it sizes")),
        },
        Lit::Tuple(t) => {
            let (Some(base), Some(shape)) = (t.first(), t.get(1)) else {
                return Descr::Rejected("a subarray descr needs (dtype, shape)".into());
            };
            subarray(descr_dtype(base, next), shape)
        }
        Lit::List(items) | Lit::Set(items) => fields(items.iter(), next),
        Lit::Dict(entries) => {
            let mut seen: Vec<&Lit> = Vec::new();
            for (k, _) in entries {
                if !seen.contains(&k) {
                    seen.push(k);
                }
            }
            fields(seen.into_iter(), next)
        }
        // Iterated as fields, a bytes value yields ints, which are not (name, dtype) pairs.
        Lit::Bytes(b) if b.is_empty() => known(0, false),
        Lit::Bytes(_) => Descr::Rejected("a bytes descr yields ints, not fields".into()),
        other => Descr::Rejected(format!("a {} descr is not iterable", other.type_name())),
    }
}

/// `numpy.dtype((base, shape))`: the object flag is the base's; the size is base × product.
fn subarray(base: Descr, shape: &Lit) -> Descr {
    let base = match base {
        Descr::Known(b) => b,
        other => return other,
    };
    let n = match shape {
        Lit::Int(i) => u64::try_from(*i).ok(),
        Lit::Tuple(dims) => dims.iter().try_fold(1u64, |acc, x| match x {
            Lit::Int(i) => acc.checked_mul(u64::try_from(*i).ok()?),
            _ => None,
        }),
        _ => None,
    };
    match n.and_then(|n| base.itemsize.checked_mul(n)) {
        Some(size) => known(size, base.object),
        // Whatever numpy makes of the shape, an object base stays an object dtype.
        None if base.object => known(0, true),
        None => Descr::Unknown("a subarray shape the scanner cannot size".into()),
    }
}

fn fields<'a>(items: impl Iterator<Item = &'a Lit>, depth: u32) -> Descr {
    let mut total = 0u64;
    let mut object = false;
    let mut unknown: Option<String> = None;
    for f in items {
        let parts: Vec<Lit> = match f {
            Lit::Tuple(p) | Lit::List(p) => p.clone(),
            Lit::Str(s) if (2..=3).contains(&s.chars().count()) => {
                s.chars().map(|c| Lit::Str(c.to_string())).collect()
            }
            other => {
                return Descr::Rejected(format!(
                    "a {} field is not (name, dtype)",
                    other.type_name()
                ))
            }
        };
        let dt = match parts.as_slice() {
            [_, d] => descr_dtype(d, depth),
            [_, d, shape] => subarray(descr_dtype(d, depth), shape),
            _ => return Descr::Rejected("a field is not (name, dtype[, shape])".into()),
        };
        match dt {
            Descr::Known(d) => {
                object |= d.object;
                total = total.saturating_add(d.itemsize);
            }
            Descr::Rejected(m) => return Descr::Rejected(m),
            Descr::Unknown(m) => unknown = Some(m),
        }
    }
    match unknown {
        // One object field is enough to know the data is a pickle.
        Some(_) if object => known(total, true),
        Some(m) => Descr::Unknown(m),
        None => known(total, object),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn npy(header: &str, major: u8) -> Vec<u8> {
        let mut v = b"\x93NUMPY".to_vec();
        v.push(major);
        v.push(0);
        if major == 1 {
            v.extend((header.len() as u16).to_le_bytes());
        } else {
            v.extend((header.len() as u32).to_le_bytes());
        }
        v.extend(header.as_bytes());
        v
    }

    #[test]
    fn parses_headers() {
        let h = parse_npy(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }\n",
            1,
        ))
        .unwrap();
        assert_eq!(h.shape, vec![3, 2]);
        assert_eq!(h.nbytes, Some(24));
        assert!(!h.dtype.object);
        assert_eq!((h.dtype.kind, h.dtype.big_endian), ('f', false));
        let h = parse_npy(&npy(
            "{'descr': '|O', 'fortran_order': False, 'shape': (), }",
            2,
        ))
        .unwrap();
        assert!(h.dtype.object);
        let h = parse_npy(&npy(
            "{'descr': [('a', '<i4'), ('b', '|O'), ('c', '<U3', (2,))], 'fortran_order': False, 'shape': (1,)}",
            3,
        ))
        .unwrap();
        assert!(h.dtype.object);
        assert_eq!(h.dtype.kind, 'V');
        assert_eq!(h.nbytes, Some(4 + 8 + 24));
        assert!(parse_npy(&npy(
            "{'descr': __import__('os'), 'fortran_order': False, 'shape': ()}",
            1
        ))
        .is_err());
        assert!(parse_npy(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
    }

    fn object(header: &str) -> bool {
        parse_npy(&npy(header, 1))
            .unwrap_or_else(|e| panic!("{header}: {e}"))
            .dtype
            .object
    }

    #[test]
    fn object_dtypes_however_spelled() {
        for descr in [
            "'\\x7cO'",
            "'|' 'O'",
            "'object'",
            "('|O', (2,))",
            "[('a', '<f8'), ('b', [('c', '|O')])]",
            "{'aO': 0}",
            "['aO']",
            "[(('t', 'a'), '|O')]",
        ] {
            let h = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,)}}");
            assert!(object(&h), "{h}");
        }
        // Duplicate keys: the last one wins, as in a Python dict display.
        assert!(object(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'descr': '|O'}"
        ));
        assert!(!object(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1,), 'descr': '<f8'}"
        ));
        // Python 2 longs in version 1 headers.
        assert!(object(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1L,)}"
        ));
    }

    #[test]
    fn unreadable_and_rejected_headers() {
        let unreadable = |h: &str| {
            matches!(
                parse_npy(&npy(h, 1)),
                Err(NpyError::Unreadable { data_offset, .. }) if data_offset == 10 + h.len() as u64
            )
        };
        assert!(unreadable(
            "{'descr': '(2,)O', 'fortran_order': False, 'shape': (1,)}"
        ));
        assert!(unreadable(
            "{'descr': '\\N{VERTICAL LINE}O', 'fortran_order': False, 'shape': (1,)}"
        ));
        let rejected = |h: &str| matches!(parse_npy(&npy(h, 1)), Err(NpyError::Rejected(_)));
        assert!(rejected(
            "{'descr': '|O', 'fortran_order': 0, 'shape': (1,)}"
        ));
        assert!(rejected("{'descr': '|O', 'shape': (1,)}"));
        assert!(rejected(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1,), 'x': 1}"
        ));
        assert!(rejected(
            "{'descr': '|O', 'fortran_order': False, 'shape': [1]}"
        ));
        assert!(rejected(
            "{'descr': '|O\0', 'fortran_order': False, 'shape': (1,)}"
        ));
        let mut b = npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", 1);
        b[7] = 1; // version 1.1
        assert!(matches!(parse_npy(&b), Err(NpyError::Rejected(_))));
        // A header larger than the scanner reads: unreadable, data offset still known.
        let mut big = b"\x93NUMPY\x02\x00".to_vec();
        big.extend(((MAX_HEADER + 5) as u32).to_le_bytes());
        assert!(matches!(
            parse_npy(&big),
            Err(NpyError::Unreadable { data_offset, .. }) if data_offset == 12 + MAX_HEADER as u64 + 5
        ));
    }
}
