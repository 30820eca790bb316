//! NumPy `.npy` files (format versions 1.0–3.0). The header is a Python dict literal, parsed here
//! with a small bounded parser (never evaluated). Object arrays (`|O`, also inside structured
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

pub static CODES: &[&Code] = &[&OBJECT_ARRAY, &MALFORMED, &SIZE_MISMATCH];

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
            Err(msg) => {
                out.push(Finding::new(&MALFORMED, a.location.clone(), msg));
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
                    "unsupported dtype {} or shape; the data size cannot be checked",
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

fn tail(content: &Content, from: u64) -> Option<Content> {
    let len = content.len().checked_sub(from)?;
    Some(match content {
        Content::Memory(b) => Content::from_vec(b.get(usize::try_from(from).ok()?..)?.to_vec()),
        Content::File { path, start, .. } => Content::File {
            path: path.clone(),
            start: start.checked_add(from)?,
            len,
        },
        Content::Temp { file, .. } => Content::File {
            path: file.path().to_path_buf(),
            start: from,
            len,
        },
    })
}

/// Largest header accepted (numpy's default limit is 10 000 bytes; allow_pickle lifts it).
pub const MAX_HEADER: usize = 1024 * 1024;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    pub version: (u8, u8),
    pub data_offset: u64,
    pub descr_text: String,
    pub object: bool,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// shape × itemsize, when the dtype is understood.
    pub nbytes: Option<u64>,
}

/// Parses the magic, version, header length and header dict of an `.npy` file.
pub fn parse_npy(b: &[u8]) -> Result<NpyHeader, String> {
    if b.get(..6) != Some(b"\x93NUMPY") {
        return Err("not an .npy file (bad magic)".into());
    }
    let major = *b.get(6).ok_or("truncated version")?;
    let minor = *b.get(7).ok_or("truncated version")?;
    let (hlen, start) = match major {
        1 => {
            let l = b.get(8..10).ok_or("truncated header length")?;
            (
                usize::from(u16::from_le_bytes([
                    l.first().copied().unwrap_or(0),
                    l.get(1).copied().unwrap_or(0),
                ])),
                10usize,
            )
        }
        2 | 3 => {
            let l = b.get(8..12).ok_or("truncated header length")?;
            let mut a = [0u8; 4];
            a.copy_from_slice(l);
            (
                usize::try_from(u32::from_le_bytes(a)).map_err(|_| "header length overflow")?,
                12usize,
            )
        }
        v => return Err(format!("unsupported .npy format version {v}.{minor}")),
    };
    if hlen > MAX_HEADER {
        return Err(format!(
            "header of {hlen} bytes is larger than {MAX_HEADER}"
        ));
    }
    let end = start.checked_add(hlen).ok_or("header length overflow")?;
    let raw = b
        .get(start..end)
        .ok_or_else(|| format!("header of {hlen} bytes runs past the end of the file"))?;
    let text = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| "header is not UTF-8")?
            .to_owned()
    } else {
        raw.iter().map(|&c| char::from(c)).collect()
    };
    let lit = Parser::new(&text).parse_all()?;
    let Lit::Dict(items) = lit else {
        return Err("header is not a dict literal".into());
    };
    let get = |k: &str| {
        items
            .iter()
            .find(|(key, _)| matches!(key, Lit::Str(s) if s == k))
            .map(|(_, v)| v)
    };
    let descr = get("descr").ok_or("header has no 'descr'")?;
    let fortran_order = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        _ => return Err("header has no boolean 'fortran_order'".into()),
    };
    let shape = match get("shape") {
        Some(Lit::Tuple(t)) => t
            .iter()
            .map(|x| match x {
                Lit::Int(i) => u64::try_from(*i).map_err(|_| "negative dimension".to_owned()),
                _ => Err("shape holds a non-integer".to_owned()),
            })
            .collect::<Result<Vec<u64>, String>>()?,
        _ => return Err("header has no tuple 'shape'".into()),
    };
    if items.len() != 3 {
        return Err("header has keys other than descr, fortran_order and shape".into());
    }
    let (itemsize, object) =
        descr_size(descr, 0).ok_or_else(|| format!("unsupported descr {descr:?}"))?;
    let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    Ok(NpyHeader {
        version: (major, minor),
        data_offset: end as u64,
        descr_text: lit_text(descr),
        object,
        fortran_order,
        shape,
        nbytes: count.and_then(|c| c.checked_mul(itemsize)),
    })
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Str(s) => format!("'{s}'"),
        other => format!("{other:?}"),
    }
}

/// Itemsize and "has objects" of an npy descr (a dtype string or a structured list).
fn descr_size(d: &Lit, depth: u32) -> Option<(u64, bool)> {
    if depth > 16 {
        return None;
    }
    match d {
        Lit::Str(s) => {
            let dt = crate::pickle::dtype::parse_descr(s)?;
            Some((dt.itemsize, dt.object))
        }
        Lit::List(fields) => {
            let mut total = 0u64;
            let mut object = false;
            for f in fields {
                let Lit::Tuple(parts) = f else { return None };
                let sub = parts.get(1)?;
                let (size, obj) = descr_size(sub, depth.saturating_add(1))?;
                let mult = match parts.get(2) {
                    Some(Lit::Tuple(dims)) => dims.iter().try_fold(1u64, |acc, x| match x {
                        Lit::Int(i) => acc.checked_mul(u64::try_from(*i).ok()?),
                        _ => None,
                    })?,
                    Some(Lit::Int(i)) => u64::try_from(*i).ok()?,
                    None => 1,
                    _ => return None,
                };
                total = total.checked_add(size.checked_mul(mult)?)?;
                object |= obj;
            }
            Some((total, object))
        }
        _ => None,
    }
}

/// A Python literal as it appears in an npy header.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) {
        self.i = self.i.saturating_add(1);
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.bump();
        }
    }

    fn parse_all(mut self) -> Result<Lit, String> {
        let v = self.value()?;
        self.ws();
        if self.i < self.s.len() {
            return Err(format!(
                "unexpected text after the header literal at {}",
                self.i
            ));
        }
        Ok(v)
    }

    fn value(&mut self) -> Result<Lit, String> {
        self.ws();
        self.depth = self.depth.saturating_add(1);
        if self.depth > 32 {
            return Err("header literal nested too deeply".into());
        }
        let v = match self.peek().ok_or("unexpected end of header")? {
            b'{' => self.seq(b'}').and_then(|items| {
                let mut out = Vec::new();
                for pair in items {
                    match pair {
                        Item::Pair(k, v) => out.push((k, v)),
                        Item::One(_) => return Err("dict entry without a value".to_owned()),
                    }
                }
                Ok(Lit::Dict(out))
            })?,
            b'(' => Lit::Tuple(self.singles(b')')?),
            b'[' => Lit::List(self.singles(b']')?),
            b'\'' | b'"' => Lit::Str(self.string()?),
            c if c == b'-' || c.is_ascii_digit() => self.int()?,
            _ => self.word()?,
        };
        self.depth = self.depth.saturating_sub(1);
        Ok(v)
    }

    fn singles(&mut self, close: u8) -> Result<Vec<Lit>, String> {
        self.seq(close)?
            .into_iter()
            .map(|i| match i {
                Item::One(v) => Ok(v),
                Item::Pair(..) => Err("unexpected ':'".to_owned()),
            })
            .collect()
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Item>, String> {
        self.bump(); // opener
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.bump();
                return Ok(items);
            }
            let k = self.value()?;
            self.ws();
            let item = if self.peek() == Some(b':') {
                self.bump();
                let v = self.value()?;
                Item::Pair(k, v)
            } else {
                Item::One(k)
            };
            items.push(item);
            self.ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(c) if c == close => {}
                _ => return Err(format!("expected ',' or '{}' at {}", close as char, self.i)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let q = self.peek().ok_or("unexpected end")?;
        self.bump();
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.bump();
            if c == q {
                return Ok(out);
            }
            if c == b'\\' {
                let e = self.peek().ok_or("unterminated escape")?;
                self.bump();
                out.push(match e {
                    b'n' => '\n',
                    b't' => '\t',
                    b'\\' => '\\',
                    b'\'' => '\'',
                    b'"' => '"',
                    _ => return Err("unsupported escape in header string".into()),
                });
            } else {
                out.push(char::from(c));
            }
        }
    }

    fn int(&mut self) -> Result<Lit, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.bump();
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        // Python 2 headers may write longs as `3L`.
        let digits = self.s.get(start..self.i).unwrap_or_default();
        if self.peek() == Some(b'L') {
            self.bump();
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<i128>().ok())
            .map(Lit::Int)
            .ok_or_else(|| "bad integer in header".into())
    }

    fn word(&mut self) -> Result<Lit, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
        }
        match self.s.get(start..self.i).unwrap_or_default() {
            b"True" => Ok(Lit::Bool(true)),
            b"False" => Ok(Lit::Bool(false)),
            b"None" => Ok(Lit::None),
            other => Err(format!(
                "unexpected token {:?} in header (only literals are allowed)",
                String::from_utf8_lossy(other)
            )),
        }
    }
}

enum Item {
    One(Lit),
    Pair(Lit, Lit),
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
}
