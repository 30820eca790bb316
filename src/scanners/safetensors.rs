//! safetensors: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON (must start
//! with `{`, may be padded with spaces), then one byte buffer that the header's `data_offsets`
//! must index completely, in order, without holes or overlap.
//!
//! The format cannot run code, so what matters is (1) that the file really is what the loader
//! will read (no pickle or zip hidden in a gap or after the buffer: a polyglot), and (2) that the
//! header is unambiguous (no duplicate keys, which different JSON parsers resolve differently).
//! Every deviation from the format's rules is reported precisely, instead of one parse error.
//!
//! Only the header is read (plus the first bytes of any region no tensor accounts for), so a
//! valid file scans in time independent of its tensor data.

#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::sniff::{looks_like_pickle, sniff_embedded, SNIFF_LEN};

/// The reference implementation's limit on `N`.
pub const MAX_HEADER_SIZE: u64 = 100_000_000;
/// `__metadata__` larger than this (sum of key and value bytes) is reported.
pub const MAX_METADATA_BYTES: usize = 8 * 1024 * 1024;
/// More `__metadata__` entries than this are reported.
pub const MAX_METADATA_ENTRIES: usize = 65_536;

pub struct SafetensorsScanner;

pub const HEADER_SIZE: Code = Code {
    id: "safetensors/invalid-header-size",
    severity: Severity::Medium,
    summary: "The declared safetensors header length is impossible.",
    detects: "A header length `N` (the first 8 bytes, little-endian) larger than the file, larger than the format's 100 MB limit, or too small to hold a JSON object; or a file shorter than 8 bytes.",
    why: "The reference loader refuses such a file, so it is not the model it claims to be. Oversized lengths are also used to make parsers allocate huge buffers.",
    example: "A 1 KB file whose first 8 bytes declare a 4 GB header.",
    remediation: "Re-export the file with the safetensors library; do not load it elsewhere.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const INVALID_HEADER: Code = Code {
    id: "safetensors/invalid-header",
    severity: Severity::Medium,
    summary: "The safetensors JSON header violates the format.",
    detects: "A header that is not valid UTF-8, does not start with `{`, is not valid JSON or not an object, is padded with anything but spaces, or has a tensor entry without a string `dtype`, an integer `shape` list and a two-integer `data_offsets` list (unknown extra fields are reported at low severity).",
    why: "Loaders differ in how strictly they read the header. A header one parser accepts and another rejects or reads differently is a parser differential: what was scanned is not what gets loaded.",
    example: "`{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\\n` padded with newlines instead of spaces.",
    remediation: "Re-export the file with the safetensors library.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const DUPLICATE_KEY: Code = Code {
    id: "safetensors/duplicate-key",
    severity: Severity::High,
    summary: "The safetensors header repeats a JSON key.",
    detects: "The same tensor name, `__metadata__` key, or tensor field (`dtype`, `shape`, `data_offsets`) appearing twice in one JSON object.",
    why: "The format forbids duplicate keys, but common JSON parsers silently keep the last (serde_json, Python json) or the first occurrence. Two tools then see different tensors or different offsets in the same file, which hides data from whoever checks it.",
    example: "`{\"w\":{…,\"data_offsets\":[0,8]},\"w\":{…,\"data_offsets\":[8,16]}}`.",
    remediation: "Treat the file as tampered; re-export it from a trusted source.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const UNKNOWN_DTYPE: Code = Code {
    id: "safetensors/unknown-dtype",
    severity: Severity::Medium,
    summary: "A tensor declares a dtype the safetensors format does not define.",
    detects: "A `dtype` string outside the reference crate's `Dtype` list (BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_*, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64).",
    why: "The reference loader refuses the file; other readers may guess a size, so tools disagree on where tensors end.",
    example: "`\"dtype\":\"PICKLE\"`.",
    remediation: "Re-export the file with a current safetensors library.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const SIZE_MISMATCH: Code = Code {
    id: "safetensors/size-mismatch",
    severity: Severity::Medium,
    summary: "A tensor's shape and dtype do not match the bytes its offsets cover.",
    detects: "`product(shape) × dtype bits` that is not a whole number of bytes, overflows, or differs from `data_offsets[1] - data_offsets[0]`; or an end offset before the start offset.",
    why: "The reference loader refuses such files. Readers that trust either the shape or the offsets read different bytes, and spare bytes inside a tensor's range can hide another payload.",
    example: "`{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4096]}`.",
    remediation: "Re-export the file with the safetensors library.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const OVERLAPPING_OFFSETS: Code = Code {
    id: "safetensors/overlapping-offsets",
    severity: Severity::Medium,
    summary: "Two tensors' byte ranges overlap.",
    detects: "A tensor whose `data_offsets` start before the end of the previous tensor (in offset order).",
    why: "The format requires each byte of the buffer to belong to exactly one tensor. Overlap is refused by the reference loader and lets one region be read as two different things.",
    example: "`a: [0, 16]`, `b: [8, 24]`.",
    remediation: "Re-export the file with the safetensors library.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const OFFSET_GAP: Code = Code {
    id: "safetensors/unindexed-bytes",
    severity: Severity::Medium,
    summary: "Bytes in the data buffer belong to no tensor (a hole, or data before the first tensor).",
    detects: "A tensor data buffer that does not start at offset 0 or has a hole between two tensors. High when the hidden bytes look like another format (pickle, zip, …); they are then scanned as well.",
    why: "The format forbids holes precisely to prevent polyglot files: a hole can carry a pickle or archive that another tool finds and loads while the safetensors view looks harmless.",
    example: "Tensors at `[64, 128]` with a protocol-2 pickle in bytes 0–63 of the buffer.",
    remediation: "Treat the file as tampered; re-export it from a trusted source.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const OUT_OF_BOUNDS: Code = Code {
    id: "safetensors/offsets-out-of-bounds",
    severity: Severity::Medium,
    summary: "A tensor's data offsets run past the end of the file.",
    detects: "A `data_offsets` end beyond the data buffer (the file length minus 8 minus the header length).",
    why: "The file is truncated or lies about its contents; readers that map the file without checking read out of bounds.",
    example: "A 1 KB file whose header places a tensor at `[0, 1048576]`.",
    remediation: "Re-download or re-export the file.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const TRAILING_DATA: Code = Code {
    id: "safetensors/trailing-data",
    severity: Severity::Medium,
    summary: "Bytes follow the last tensor: the file carries data no tensor accounts for.",
    detects: "A file longer than 8 + header length + the end of the last tensor. High when the trailing bytes look like another format (pickle, zip, …); they are then scanned as well.",
    why: "Appending a pickle or zip archive to a valid safetensors file makes a polyglot that a pickle loader or zip reader opens while safetensors-aware tools show only the tensors.",
    example: "A valid safetensors file followed by `\\x80\\x04…cos\\nsystem…` (a pickle).",
    remediation: "Treat the file as tampered; re-export it from a trusted source.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const INVALID_METADATA: Code = Code {
    id: "safetensors/invalid-metadata",
    severity: Severity::Medium,
    summary: "`__metadata__` is not a bounded map of strings to strings.",
    detects: "A `__metadata__` value that is not an object, has non-string values, or is larger than 8 MiB / 65,536 entries (the size case is low severity).",
    why: "The format allows only string-to-string metadata; the reference loader refuses anything else. Oversized metadata is a place to stash payloads and a way to exhaust tools that display it.",
    example: "`\"__metadata__\":{\"format\":{\"nested\":[1,2]}}`.",
    remediation: "Keep metadata to short strings; re-export the file.",
    references: &["https://github.com/huggingface/safetensors#format"],
};

pub const POLYGLOT: Code = Code {
    id: "safetensors/pickle-polyglot",
    severity: Severity::High,
    summary: "A file sniffed as safetensors has an unusable header and also starts like a pickle.",
    detects: "A file whose first bytes pass for a safetensors header length followed by `{`, whose header then fails to validate, and whose first bytes are also a plausible pickle stream (for example PROTO 2, then a LONG1 operand that contains the `{`). The whole file is then scanned as a pickle as well.",
    why: "Such bytes are crafted to be routed to a safetensors reader by format sniffers while `pickle.load` / `torch.load` read them as a pickle.",
    example: "`80 02 8a 05 00 00 00 00 7b …`: PROTO 2, LONG1 with 5 bytes, then a pickle payload.",
    remediation: "Treat the file as hostile; do not load it with pickle-based loaders.",
    references: &[],
};

/// Every code this scanner reports.
pub static CODES: &[&Code] = &[
    &POLYGLOT,
    &HEADER_SIZE,
    &INVALID_HEADER,
    &DUPLICATE_KEY,
    &UNKNOWN_DTYPE,
    &SIZE_MISMATCH,
    &OVERLAPPING_OFFSETS,
    &OFFSET_GAP,
    &OUT_OF_BOUNDS,
    &TRAILING_DATA,
    &INVALID_METADATA,
];

impl Scanner for SafetensorsScanner {
    fn id(&self) -> &'static str {
        "safetensors"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Safetensors]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        scan(a, cx, out)
    }
}

/// A JSON value that keeps every key of an object in order, duplicates included (serde_json's
/// own `Value` keeps only the last one).
#[derive(Debug, Clone, PartialEq)]
pub enum RawJson {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<RawJson>),
    Object(Vec<(String, RawJson)>),
}

impl RawJson {
    fn kind(&self) -> &'static str {
        match self {
            RawJson::Null => "null",
            RawJson::Bool(_) => "a boolean",
            RawJson::Number(_) => "a number",
            RawJson::String(_) => "a string",
            RawJson::Array(_) => "an array",
            RawJson::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawJson;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawJson, E> {
        Ok(RawJson::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawJson, E> {
        Ok(RawJson::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawJson, E> {
        Ok(RawJson::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawJson, E> {
        Ok(RawJson::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawJson, E> {
        Ok(serde_json::Number::from_f64(v).map_or(RawJson::Null, RawJson::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawJson, E> {
        Ok(RawJson::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawJson, E> {
        Ok(RawJson::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawJson, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(RawJson::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawJson, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = map.next_entry::<String, RawJson>()? {
            v.push((k, x));
        }
        Ok(RawJson::Object(v))
    }
}

/// One tensor entry that passed the structural checks. Its name lives in the [`Names`] arena,
/// so a header with a million tensors costs a few dozen bytes per tensor, not a tree of JSON
/// values per tensor.
#[derive(Debug, Clone, Copy)]
struct TensorEntry {
    name: NameRef,
    begin: u64,
    end: u64,
}

/// A name in the [`Names`] arena: (start, length).
#[derive(Debug, Clone, Copy)]
struct NameRef(u32, u32);

/// Every key of the header's root object, concatenated in one string.
#[derive(Default)]
struct Names {
    text: String,
    keys: Vec<NameRef>,
}

impl Names {
    fn push(&mut self, k: &str) -> NameRef {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(k.len()).unwrap_or(u32::MAX);
        self.text.push_str(k);
        let r = NameRef(start, len);
        self.keys.push(r);
        r
    }

    fn get(&self, r: NameRef) -> &str {
        let s = r.0 as usize;
        self.text
            .get(s..s.saturating_add(r.1 as usize))
            .unwrap_or_default()
    }
}

/// The root of the header, streamed: each entry is checked as it is parsed and dropped, so
/// memory stays proportional to the names and offsets kept, not to the JSON tree.
struct RootSeed<'s, 'a> {
    a: &'s Artifact,
    r: &'s mut Sink,
    names: &'s mut Names,
    tensors: &'s mut Vec<TensorEntry>,
    _life: std::marker::PhantomData<&'a ()>,
}

/// What the root was when it is not an object (its kind, for the message).
enum Root {
    Object,
    Other(&'static str),
}

impl<'de> de::DeserializeSeed<'de> for RootSeed<'_, '_> {
    type Value = Root;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Root, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_, '_> {
    type Value = Root;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Root, E> {
        Ok(Root::Other("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Root, E> {
        Ok(Root::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Root, E> {
        Ok(Root::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Root, E> {
        Ok(Root::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Root, E> {
        Ok(Root::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Root, E> {
        Ok(Root::Other("a string"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Root, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Root::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root, A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            let name = self.names.push(&k);
            let v: RawJson = map.next_value()?;
            if k == "__metadata__" {
                check_metadata(self.a, self.r, &v);
            } else if let Some((begin, end)) = check_tensor(self.a, self.r, &k, &v) {
                self.tensors.push(TensorEntry { name, begin, end });
            }
        }
        Ok(Root::Object)
    }
}

/// Counts the bytes read through it (serde_json's reader consumes exactly up to the end of the
/// root value, so the count is where the padding starts).
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// The offset of the first invalid UTF-8 sequence in `len` bytes of a reader, read in chunks.
fn utf8_error(mut rd: impl std::io::Read, len: u64) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let mut at = 0u64; // offset of carry[0]
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(0);
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let n = rd.read(chunk)?;
        if n == 0 {
            break;
        }
        left = left.saturating_sub(n as u64);
        carry.extend_from_slice(chunk.get(..n).unwrap_or_default());
        match std::str::from_utf8(&carry) {
            Ok(_) => {
                at = at.saturating_add(carry.len() as u64);
                carry.clear();
            }
            Err(e) if e.error_len().is_some() => {
                return Ok(Some(at.saturating_add(e.valid_up_to() as u64)));
            }
            Err(e) => {
                // An incomplete sequence at the end of the chunk: keep it for the next one.
                let ok = e.valid_up_to();
                at = at.saturating_add(ok as u64);
                carry.drain(..ok);
            }
        }
    }
    Ok(if carry.is_empty() { None } else { Some(at) })
}

fn scan(a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
    let file_len = a.content.len();
    let res = scan_inner(a, cx, out, file_len);
    if let Ok(false) = res {
        let head = a.content.head(SNIFF_LEN)?;
        if looks_like_pickle(&head) {
            // The engine walks every such file as a pickle too (`crate::readings`); this only
            // says why the header is unusable.
            out.push(Finding::new(
                &POLYGLOT,
                a.location.clone(),
                "the safetensors header is unusable and the file also starts like a pickle; scanned as a pickle",
            ));
        }
    }
    res.map(|_| ())
}

fn scan_inner(
    a: &Artifact,
    cx: &dyn ScannerContext,
    r: &mut Sink,
    file_len: u64,
) -> Result<bool, ScanError> {
    let loc = &a.location;
    let len_bytes = a.content.read_at(0, 8)?;
    let Ok(len_arr) = <[u8; 8]>::try_from(len_bytes.as_slice()) else {
        r.push(Finding::new(
            &HEADER_SIZE,
            loc.clone(),
            format!("file is {file_len} bytes, too short for the 8-byte header length"),
        ));
        return Ok(false);
    };
    let n = u64::from_le_bytes(len_arr);
    let available = file_len.saturating_sub(8);
    if n > MAX_HEADER_SIZE || n > available || n < 2 {
        let why = if n > available {
            format!("declares a {n}-byte header but only {available} bytes follow")
        } else if n > MAX_HEADER_SIZE {
            format!("declares a {n}-byte header, above the format's {MAX_HEADER_SIZE}-byte limit")
        } else {
            format!("declares a {n}-byte header, too small for a JSON object")
        };
        r.push(
            Finding::new(&HEADER_SIZE, loc.at(0), why)
                .evidence("header_length", n.to_string())
                .evidence("file_length", file_len.to_string()),
        );
        return Ok(false);
    }
    let data_start = n.saturating_add(8);
    let buffer_len = file_len.saturating_sub(data_start);
    // The header (up to 100 MB) is streamed, never held whole: a UTF-8 pass, then one JSON
    // pass that checks each root entry as it is parsed.
    let header = a.content.slice(8, n)?;
    if let Some(bad) = utf8_error(header.open()?, n)? {
        r.push(Finding::new(
            &INVALID_HEADER,
            loc.at(8u64.saturating_add(bad)),
            "header is not valid UTF-8",
        ));
        return Ok(false);
    }
    if a.content.read_at(8, 1)?.first() != Some(&b'{') {
        r.push(Finding::new(
                &INVALID_HEADER,
                loc.at(8),
                "header does not start with '{' (the format requires it; lenient parsers skip leading whitespace)",
            ),
        );
    }
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let reader = Counting {
        inner: header.open()?,
        count: count.clone(),
    };
    let mut names = Names::default();
    let mut tensors: Vec<TensorEntry> = Vec::new();
    let mut de = serde_json::Deserializer::from_reader(reader);
    let seed = RootSeed {
        a,
        r: &mut *r,
        names: &mut names,
        tensors: &mut tensors,
        _life: std::marker::PhantomData,
    };
    let root = match de::DeserializeSeed::deserialize(seed, &mut de) {
        Ok(v) => v,
        Err(e) if e.is_eof() && count.get() == 0 => {
            r.push(Finding::new(&INVALID_HEADER, loc.at(8), "header is empty"));
            return Ok(false);
        }
        Err(e) => {
            r.push(Finding::new(
                &INVALID_HEADER,
                loc.at(8),
                format!("header is not valid JSON: {e}"),
            ));
            return Ok(false);
        }
    };
    drop(de);
    let json_end = count.get();
    if let Some((pos, only_ws)) = padding_problem(&header, json_end, n)? {
        let msg = if only_ws {
            "header is padded with whitespace other than spaces".to_owned()
        } else {
            "header has content after the JSON object (only space padding is allowed)".to_owned()
        };
        r.push(
            Finding::new(
                &INVALID_HEADER,
                loc.at(8u64.saturating_add(json_end).saturating_add(pos)),
                msg,
            )
            .severity(if only_ws {
                Severity::Low
            } else {
                Severity::Medium
            }),
        );
    }
    if let Root::Other(kind) = root {
        r.push(Finding::new(
            &INVALID_HEADER,
            loc.at(8),
            format!("header is {kind}, not a JSON object"),
        ));
        return Ok(false);
    }
    report_duplicates(a, r, &mut names);

    check_layout(a, cx, r, &names, &mut tensors, data_start, buffer_len)?;
    Ok(true)
}

/// The first byte after the JSON value that is not a space, relative to `json_end`, and
/// whether everything after the value is whitespace (spaces are the only padding allowed).
fn padding_problem(
    header: &crate::artifact::Content,
    json_end: u64,
    n: u64,
) -> Result<Option<(u64, bool)>, ScanError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut rd = header.open()?;
    rd.seek(SeekFrom::Start(json_end))?;
    let mut rd = rd.take(n.saturating_sub(json_end));
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    let mut first: Option<u64> = None;
    loop {
        let k = rd.read(&mut buf)?;
        if k == 0 {
            break;
        }
        let chunk = buf.get(..k).unwrap_or_default();
        if first.is_none() {
            if let Some(p) = chunk.iter().position(|&b| b != b' ') {
                first = Some(at.saturating_add(p as u64));
            }
        }
        if first.is_some() && chunk.iter().any(|b| !b.is_ascii_whitespace()) {
            return Ok(first.map(|p| (p, false)));
        }
        at = at.saturating_add(k as u64);
    }
    Ok(first.map(|p| (p, true)))
}

/// Root keys that appear more than once (the format forbids it; JSON parsers disagree on
/// which occurrence wins). Found by sorting the names, so no second set of names is kept.
fn report_duplicates(a: &Artifact, r: &mut Sink, names: &mut Names) {
    let mut keys = std::mem::take(&mut names.keys);
    keys.sort_unstable_by(|x, y| names.get(*x).cmp(names.get(*y)));
    for w in keys.windows(2) {
        if let [x, y] = w {
            let k = names.get(*y);
            if names.get(*x) == k {
                r.push(
                    Finding::new(
                        &DUPLICATE_KEY,
                        a.location.clone(),
                        format!("header key '{}' appears more than once", clip(k)),
                    )
                    .evidence("key", clip(k)),
                );
            }
        }
    }
}

fn check_metadata(a: &Artifact, r: &mut Sink, value: &RawJson) {
    let loc = &a.location;
    let RawJson::Object(items) = value else {
        r.push(Finding::new(
            &INVALID_METADATA,
            loc.clone(),
            format!("__metadata__ is {}, not an object", value.kind()),
        ));
        return;
    };
    let mut seen = HashSet::new();
    let mut bytes = 0usize;
    for (k, v) in items {
        if !seen.insert(k.as_str()) {
            r.push(
                Finding::new(
                    &DUPLICATE_KEY,
                    loc.clone(),
                    format!("__metadata__ key '{}' appears more than once", clip(k)),
                )
                .evidence("key", clip(k)),
            );
        }
        bytes = bytes.saturating_add(k.len());
        match v {
            RawJson::String(s) => bytes = bytes.saturating_add(s.len()),
            other => r.push(
                Finding::new(
                    &INVALID_METADATA,
                    loc.clone(),
                    format!(
                        "__metadata__ value for '{}' is {}, not a string",
                        clip(k),
                        other.kind()
                    ),
                )
                .evidence("key", clip(k)),
            ),
        }
    }
    if bytes > MAX_METADATA_BYTES || items.len() > MAX_METADATA_ENTRIES {
        r.push(Finding::new(
                &INVALID_METADATA,
                loc.clone(),
                format!(
                    "__metadata__ holds {} entries and {bytes} bytes (limits {MAX_METADATA_ENTRIES} entries, {MAX_METADATA_BYTES} bytes)",
                    items.len()
                ),
            )
            .severity(Severity::Low)
            .evidence("entries", items.len().to_string())
            .evidence("bytes", bytes.to_string()),
        );
    }
}

fn as_u64_list(v: &RawJson) -> Option<Vec<u64>> {
    let RawJson::Array(items) = v else {
        return None;
    };
    items
        .iter()
        .map(|x| match x {
            RawJson::Number(n) => n.as_u64(),
            _ => None,
        })
        .collect()
}

fn check_tensor(a: &Artifact, r: &mut Sink, name: &str, value: &RawJson) -> Option<(u64, u64)> {
    let loc = &a.location;
    let bad = |r: &mut Sink, msg: String| {
        r.push(Finding::new(&INVALID_HEADER, loc.clone(), msg).evidence("tensor", clip(name)));
    };
    let RawJson::Object(fields) = value else {
        bad(
            r,
            format!(
                "tensor '{}' is described by {}, not an object",
                clip(name),
                value.kind()
            ),
        );
        return None;
    };
    let mut seen = HashSet::new();
    let (mut dtype, mut shape, mut offsets) = (None, None, None);
    for (k, v) in fields {
        if !seen.insert(k.as_str()) {
            r.push(
                Finding::new(
                    &DUPLICATE_KEY,
                    loc.clone(),
                    format!("tensor '{}' has field '{}' twice", clip(name), clip(k)),
                )
                .evidence("tensor", clip(name))
                .evidence("key", clip(k)),
            );
        }
        match k.as_str() {
            "dtype" => dtype = Some(v),
            "shape" => shape = Some(v),
            "data_offsets" => offsets = Some(v),
            other => r.push(
                Finding::new(
                    &INVALID_HEADER,
                    loc.clone(),
                    format!(
                        "tensor '{}' has unknown field '{}'",
                        clip(name),
                        clip(other)
                    ),
                )
                .severity(Severity::Low)
                .evidence("tensor", clip(name)),
            ),
        }
    }
    let Some(RawJson::String(dtype)) = dtype else {
        bad(r, format!("tensor '{}' has no string 'dtype'", clip(name)));
        return None;
    };
    let Some(shape) = shape.and_then(as_u64_list) else {
        bad(
            r,
            format!(
                "tensor '{}' has no 'shape' list of non-negative integers",
                clip(name)
            ),
        );
        return None;
    };
    let offsets = offsets.and_then(as_u64_list);
    let Some([begin, end]) = offsets
        .as_deref()
        .and_then(|o| <[u64; 2]>::try_from(o).ok())
    else {
        bad(
            r,
            format!(
                "tensor '{}' has no 'data_offsets' pair of non-negative integers",
                clip(name)
            ),
        );
        return None;
    };
    if end < begin {
        r.push(
            Finding::new(
                &SIZE_MISMATCH,
                loc.clone(),
                format!(
                    "tensor '{}' ends ({end}) before it begins ({begin})",
                    clip(name)
                ),
            )
            .evidence("tensor", clip(name)),
        );
        return None;
    }
    let entry = (begin, end);
    let Some(bits) = dtype_bits(dtype) else {
        r.push(
            Finding::new(
                &UNKNOWN_DTYPE,
                loc.clone(),
                format!(
                    "tensor '{}' has unknown dtype '{}'",
                    clip(name),
                    clip(dtype)
                ),
            )
            .evidence("tensor", clip(name))
            .evidence("dtype", clip(dtype)),
        );
        return Some(entry);
    };
    let span = u128::from(end.saturating_sub(begin));
    let elements = shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(u128::from(d)));
    let total_bits = elements.and_then(|e| e.checked_mul(u128::from(bits)));
    let msg = match total_bits {
        None => Some("element count overflows".to_owned()),
        Some(b) if b % 8 != 0 => Some(format!("{b} bits of data is not a whole number of bytes")),
        Some(b) if b / 8 != span => Some(format!(
            "shape {shape:?} of {dtype} needs {} bytes but data_offsets cover {span}",
            b / 8
        )),
        Some(_) => None,
    };
    if let Some(m) = msg {
        r.push(
            Finding::new(
                &SIZE_MISMATCH,
                loc.clone(),
                format!("tensor '{}': {m}", clip(name)),
            )
            .evidence("tensor", clip(name)),
        );
    }
    Some(entry)
}

/// Bits per element of a dtype name, from the reference crate's `Dtype` (so new dtypes are
/// picked up with the crate).
pub fn dtype_bits(name: &str) -> Option<u32> {
    let d: safetensors::Dtype =
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()?;
    u32::try_from(d.bitsize()).ok()
}

fn check_layout(
    a: &Artifact,
    cx: &dyn ScannerContext,
    r: &mut Sink,
    names: &Names,
    tensors: &mut [TensorEntry],
    data_start: u64,
    buffer_len: u64,
) -> Result<(), ScanError> {
    let loc = &a.location;
    tensors.sort_by(|x, y| {
        (x.begin, x.end, names.get(x.name)).cmp(&(y.begin, y.end, names.get(y.name)))
    });
    let mut cursor = 0u64;
    let mut prev: Option<&TensorEntry> = None;
    let mut holes: Vec<(u64, u64)> = Vec::new();
    for t in tensors.iter() {
        if t.end > buffer_len {
            r.push(Finding::new(
                    &OUT_OF_BOUNDS,
                    loc.clone(),
                    format!(
                        "tensor '{}' ends at buffer offset {} but the buffer has {buffer_len} bytes",
                        clip(names.get(t.name)),
                        t.end
                    ),
                )
                .evidence("tensor", clip(names.get(t.name))),
            );
        }
        if t.begin < cursor {
            if let Some(p) = prev {
                r.push(
                    Finding::new(
                        &OVERLAPPING_OFFSETS,
                        loc.at(data_start.saturating_add(t.begin)),
                        format!(
                            "tensor '{}' [{}, {}) overlaps tensor '{}' [{}, {})",
                            clip(names.get(t.name)),
                            t.begin,
                            t.end,
                            clip(names.get(p.name)),
                            p.begin,
                            p.end
                        ),
                    )
                    .evidence("tensor", clip(names.get(t.name)))
                    .evidence("other", clip(names.get(p.name))),
                );
            }
        } else if t.begin > cursor {
            holes.push((cursor, t.begin.min(buffer_len)));
        }
        if t.end >= cursor {
            cursor = t.end;
            prev = Some(t);
        }
    }
    for (s, e) in holes {
        if e <= s {
            continue;
        }
        let what = if s == 0 {
            "before the first tensor"
        } else {
            "in a hole between tensors"
        };
        region(
            a,
            cx,
            r,
            &OFFSET_GAP,
            data_start.saturating_add(s),
            e.saturating_sub(s),
            what,
        )?;
    }
    if cursor < buffer_len {
        region(
            a,
            cx,
            r,
            &TRAILING_DATA,
            data_start.saturating_add(cursor),
            buffer_len.saturating_sub(cursor),
            "after the last tensor",
        )?;
    }
    Ok(())
}

/// Reports a region no tensor accounts for; if it sniffs as another format, scans it too.
fn region(
    a: &Artifact,
    cx: &dyn ScannerContext,
    r: &mut Sink,
    code: &'static Code,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<(), ScanError> {
    let head = a.content.read_at(offset, SNIFF_LEN)?;
    let member = format!(
        "{}@{offset}",
        code.id.rsplit('/').next().unwrap_or("region")
    );
    let hidden = sniff_embedded(&head, &member);
    let mut f = Finding::new(
        code,
        a.location.at(offset),
        format!("{len} bytes {what} are not part of any tensor"),
    )
    .evidence("length", len.to_string());
    let nested = hidden != Format::Unknown;
    if nested {
        f = f
            .severity(Severity::High)
            .evidence("embedded_format", hidden.name());
        f.message = format!(
            "{len} bytes {what} look like {} (a polyglot file); scanned as embedded content",
            hidden.name()
        );
    }
    r.push(f);
    if nested {
        let content = a.content.slice(offset, len)?;
        cx.scan_nested(a, &member, content, None, r);
    }
    Ok(())
}

fn clip(s: &str) -> String {
    crate::finding::clip(s, 120)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;
    use crate::engine::Engine;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    fn codes_of(bytes: Vec<u8>) -> Vec<String> {
        let e = Engine::with_defaults().unwrap();
        let rep = e.scan_bytes("t.safetensors", bytes);
        rep.findings.iter().map(|f| f.code.clone()).collect()
    }

    #[test]
    fn valid_file_is_clean() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]}}"#;
        assert!(codes_of(file(h, &[0; 18])).is_empty());
    }

    #[test]
    fn sub_byte_dtypes_count_bits() {
        let h = r#"{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},"b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[2,5]}}"#;
        assert!(codes_of(file(h, &[0; 5])).is_empty());
        let h = r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
        assert_eq!(codes_of(file(h, &[0; 2])), ["safetensors/size-mismatch"]);
    }

    #[test]
    fn duplicates_and_layout() {
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#;
        let c = codes_of(file(h, &[0; 6]));
        assert!(c.contains(&"safetensors/duplicate-key".to_owned()));
        assert!(c.contains(&"safetensors/overlapping-offsets".to_owned()));
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#;
        assert_eq!(codes_of(file(h, &[0; 8])), ["safetensors/unindexed-bytes"]);
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
        assert_eq!(
            codes_of(file(h, &[0; 4 + 100])),
            ["safetensors/trailing-data"]
        );
    }

    #[test]
    fn header_size_limits() {
        // Too short to hold the 8-byte length: the name routes it here and it is reported as truncated.
        assert_eq!(codes_of(vec![1, 2, 3]), ["safetensors/invalid-header-size"]);
        let mut v = (1u64 << 40).to_le_bytes().to_vec();
        v.extend_from_slice(b"{\"a\":1}");
        assert_eq!(codes_of(v), ["safetensors/invalid-header-size"]);
    }

    #[test]
    fn pickle_disguised_as_header_is_handed_to_pickle() {
        // PROTO 2, LONG1 of 5 bytes whose last byte is '{', POP, then a GLOBAL.
        let mut v = vec![0x80, 0x02, 0x8a, 0x05, 0, 0, 0, 0, b'{', b'0'];
        v.extend_from_slice(b"cos\nsystem\n(S'true'\ntR.");
        assert_eq!(crate::sniff::sniff(&v, "x"), Format::Safetensors);
        let c = codes_of(v);
        assert!(
            c.contains(&"safetensors/pickle-polyglot".to_owned()),
            "{c:?}"
        );
    }

    #[test]
    fn dtype_table() {
        assert_eq!(dtype_bits("F4"), Some(4));
        assert_eq!(dtype_bits("C64"), Some(64));
        assert_eq!(dtype_bits("PICKLE"), None);
    }

    #[test]
    fn utf8_is_checked_across_chunk_boundaries() {
        let mut b = vec![b' '; (1 << 20) - 1];
        b.extend("é".as_bytes()); // straddles the first chunk boundary
        b.extend(b"  ");
        assert_eq!(utf8_error(&b[..], b.len() as u64).unwrap(), None);
        b.push(0xff);
        assert_eq!(
            utf8_error(&b[..], b.len() as u64).unwrap(),
            Some(b.len() as u64 - 1)
        );
        // A sequence cut off by the end of the header is invalid too.
        let t = "abé";
        let cut = &t.as_bytes()[..t.len() - 1];
        assert_eq!(utf8_error(cut, cut.len() as u64).unwrap(), Some(2));
    }

    #[test]
    fn streamed_header_keeps_every_check() {
        // Root duplicates, padding with other whitespace, content after the object.
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
        assert!(codes_of(file(h, &[0; 4])).contains(&"safetensors/duplicate-key".to_owned()));
        let h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}\n\n";
        assert!(codes_of(file(h, &[0; 4])).contains(&"safetensors/invalid-header".to_owned()));
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}} x"#;
        assert!(codes_of(file(h, &[0; 4])).contains(&"safetensors/invalid-header".to_owned()));
        let h = "[1, 2]";
        assert!(codes_of(file(h, &[])).contains(&"safetensors/invalid-header".to_owned()));
        let h = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
        assert!(codes_of(file(h, &[0; 4])).is_empty());
    }
}
