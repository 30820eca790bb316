//! NumPy `.npy` files (format versions 1.0–3.0). The header is a Python dict literal, read as
//! `ast.literal_eval` reads it ([`crate::pyliteral`], never evaluated) and turned into a dtype as
//! numpy's `descr_to_dtype` does. A header the scanner cannot read but numpy might is a high
//! finding and its data is scanned as a pickle. Object arrays (`|O`, also inside structured
//! dtypes) carry a pickle after the header, which `np.load(allow_pickle=True)` unpickles: it is
//! scanned as a nested pickle. Other arrays are checked against the file size.
//!
//! `.npz` files are zips of `.npy` members and need nothing special: the archive walker sends
//! each member here.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::engine::{ScanContext, Sink};
use crate::error::ScanError;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::pickle::dtype::DType;
use crate::pyliteral::{self, Lit, LitError};
use crate::scanners::Scanner;

pub const OBJECT_ARRAY: Code = Code {
    id: "numpy/object-array",
    severity: Severity::Info,
    summary: "The .npy array holds Python objects stored as a pickle, which was scanned.",
    detects: "An object dtype (`|O`, also as a field of a structured dtype): the data after the header is a pickle that `np.load(..., allow_pickle=True)` unpickles.",
    why: "Loading object arrays runs the pickle machinery; the embedded pickle's own findings are reported under this file.",
    example: "`np.save('a.npy', np.array([{'k': 1}], dtype=object))`",
    remediation: "Prefer plain numeric arrays; load object arrays only after the embedded pickle scans clean.",
    references: &["CVE-2019-6446"],
};

pub const MALFORMED: Code = Code {
    id: "numpy/malformed",
    severity: Severity::Medium,
    summary: "The .npy header cannot be read the way numpy reads it.",
    detects: "A bad magic version, a header length past the end of the file, or a header that is not the dict literal numpy writes (`descr`, `fortran_order`, `shape`).",
    why: "numpy refuses such files; a scanner that guesses may miss an embedded pickle.",
    example: "A header `{'descr': __import__('os')}`.",
    remediation: "Re-export the array with numpy.",
    references: &[],
};

pub const SIZE_MISMATCH: Code = Code {
    id: "numpy/size-mismatch",
    severity: Severity::Medium,
    summary: "The array data does not match the size its header declares.",
    detects: "Fewer bytes than shape × itemsize (numpy raises), or extra bytes after the data (numpy ignores them).",
    why: "Extra bytes after the array are invisible to np.load but can carry another payload for a different reader.",
    example: "An `<f4` array of shape (2,) followed by a pickle.",
    remediation: "Re-export the array.",
    references: &[],
};

pub const UNPARSED_HEADER: Code = Code {
    id: "numpy/unparsed-header",
    severity: Severity::High,
    summary: "The .npy header could not be read completely, but numpy may accept it; the data was scanned as a pickle.",
    detects: "A header that `ast.literal_eval` may accept but the scanner cannot read (named escapes, a dtype spelling the scanner cannot size such as `'f8,O'` or `'(2,)O'`, a header larger than the scanner reads): numpy could resolve it to an object dtype and unpickle the data.",
    why: "`np.load(..., allow_pickle=True)` unpickles the data of any object dtype, however the header spells it; what the scanner cannot read must not pass as plain numbers.",
    example: "`{'descr': '(2,)O', 'fortran_order': False, 'shape': (1,)}` followed by a pickle.",
    remediation: "Re-export the array with numpy (`np.save`) so that the header is the canonical one.",
    references: &["CVE-2019-6446"],
};

pub static CODES: &[&Code] = &[&OBJECT_ARRAY, &MALFORMED, &SIZE_MISMATCH, &UNPARSED_HEADER];

pub struct NumpyScanner;

impl Scanner for NumpyScanner {
    fn id(&self) -> &'static str {
        "numpy"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Numpy]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &ScanContext<'_>, out: &mut Sink) -> Result<(), ScanError> {
        let head = a.content.head(MAX_HEADER.saturating_add(16))?;
        let header = match parse_npy(&head) {
            Ok(h) => h,
            Err(NpyError::Rejected(msg)) => {
                out.push(Finding::new(&MALFORMED, a.location.clone(), msg));
                return Ok(());
            }
            Err(NpyError::Unreadable {
                message,
                data_offset,
            }) => {
                // numpy may read this header as an object dtype: the data is what
                // `np.load(allow_pickle=True)` would unpickle.
                out.push(
                    Finding::new(&UNPARSED_HEADER, a.location.clone(), message)
                        .evidence("data_offset", data_offset.to_string()),
                );
                if let Some(c) = tail(&a.content, data_offset) {
                    cx.scan_nested(a, "npy-pickle", c, Some(Format::Pickle), out);
                }
                return Ok(());
            }
        };
        let total = a.content.len();
        let data_len = total.saturating_sub(header.data_offset);
        if header.object {
            out.push(
                Finding::new(
                    &OBJECT_ARRAY,
                    a.location.at(header.data_offset),
                    format!(
                        "object array (descr {}); the embedded pickle was scanned",
                        header.descr_text
                    ),
                )
                .evidence("descr", header.descr_text.clone()),
            );
            if let Some(c) = tail(&a.content, header.data_offset) {
                cx.scan_nested(a, "npy-pickle", c, Some(Format::Pickle), out);
            }
            return Ok(());
        }
        let Some(expected) = header.nbytes else {
            out.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                format!(
                    "the shape of dtype {} declares no readable size (numpy cannot read the data)",
                    header.descr_text
                ),
            ));
            return Ok(());
        };
        if data_len != expected {
            let msg = if data_len < expected {
                format!("the header declares {expected} data bytes but only {data_len} follow (numpy raises)")
            } else {
                format!(
                    "{} bytes follow the {expected} data bytes the header declares (numpy ignores them)",
                    data_len.saturating_sub(expected)
                )
            };
            out.push(
                Finding::new(&SIZE_MISMATCH, a.location.at(header.data_offset), msg)
                    .evidence("declared", expected.to_string())
                    .evidence("present", data_len.to_string()),
            );
        }
        Ok(())
    }
}

/// The content from `from` to its end (zero-copy for files).
fn tail(content: &Content, from: u64) -> Option<Content> {
    let len = content.len().checked_sub(from)?;
    content.slice(from, len).ok()
}

/// Largest header read (numpy's default limit is 10 000 bytes; `allow_pickle=True` lifts it,
/// so a larger header is reported as unreadable and its data scanned, never skipped).
pub const MAX_HEADER: usize = 1024 * 1024;

/// What the header says, as numpy reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub version: (u8, u8),
    pub data_offset: u64,
    /// The `descr` value, as Python would print it (roughly).
    pub descr_text: String,
    pub descr: Lit,
    /// `dtype.hasobject`: the data is a pickle.
    pub object: bool,
    pub fortran_order: bool,
    /// Dimensions; numpy checks only that they are ints (negative ones fail later).
    pub shape: Vec<i128>,
    /// shape × itemsize (None when a dimension is negative or the product overflows).
    pub nbytes: Option<u64>,
}

/// Why a header was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpyError {
    /// numpy raises on it before reading any data.
    Rejected(String),
    /// The scanner cannot read it, but numpy might: its data starts at `data_offset`.
    Unreadable { message: String, data_offset: u64 },
}

impl std::fmt::Display for NpyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NpyError::Rejected(m) | NpyError::Unreadable { message: m, .. } => f.write_str(m),
        }
    }
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
        object: dt.object,
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

fn known(itemsize: u64, object: bool) -> Descr {
    Descr::Known(DType {
        itemsize,
        object,
        flexible: false,
    })
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
        Lit::Str(s) => match crate::pickle::dtype::parse_descr(s) {
            Some(dt) => Descr::Known(dt),
            None if matches!(s.as_str(), "object" | "object_") => known(8, true),
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
        assert!(!h.object);
        let h = parse_npy(&npy(
            "{'descr': '|O', 'fortran_order': False, 'shape': (), }",
            2,
        ))
        .unwrap();
        assert!(h.object);
        let h = parse_npy(&npy(
            "{'descr': [('a', '<i4'), ('b', '|O'), ('c', '<U3', (2,))], 'fortran_order': False, 'shape': (1,)}",
            3,
        ))
        .unwrap();
        assert!(h.object);
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
