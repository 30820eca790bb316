//! GGUF (v1–v3, little- or big-endian) and legacy GGML/GGMF/GGJT files.
//!
//! GGUF cannot run code by itself, but it carries Jinja chat templates (`tokenizer.chat_template`,
//! `tokenizer.chat_template.<name>`) that inference servers render with Python Jinja2: a template
//! that reaches Python internals runs commands on the server (CVE-2024-34359). Every string value
//! that looks like a template is linted with [`crate::scanners::template::lint`].
//!
//! The parser streams the header, the metadata key/value pairs and the tensor infos from
//! [`Content::open`](crate::artifact::Content::open) and never reads tensor data, so a multi-GB
//! file scans in milliseconds with bounded memory. Every count and length is checked against the
//! bytes that remain before anything is read or allocated: a hostile header claiming 2^60 keys or
//! a 2^60-byte string yields a finding, not an allocation.
//!
//! Legacy GGML (`lmgg`), GGMF (`fmgg`) and GGJT (`tjgg`) files have no self-describing metadata;
//! they are recognised and their header version checked. They carry no code and no templates.

#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use crate::artifact::{Artifact, ReadSeek};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::template;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::sniff::{sniff_embedded, SNIFF_LEN};

/// More metadata pairs than this are not parsed (real models have a few dozen).
pub const MAX_KV: u64 = 1 << 20;
/// More tensors than this are not parsed (the largest real models have tens of thousands).
pub const MAX_TENSORS: u64 = 1 << 22;
/// String values up to this size are read (to lint templates); larger ones are skipped.
pub const MAX_STRING_READ: u64 = 16 * 1024 * 1024;
/// Total string bytes read into memory per file.
const MAX_STRING_TOTAL: u64 = 64 * 1024 * 1024;
/// Nesting depth of arrays inside arrays.
const MAX_ARRAY_DEPTH: u32 = 8;
/// Dimensions per tensor accepted by ggml.
const GGML_MAX_DIMS: u32 = 4;
/// Tensor names longer than this are refused by ggml (`GGML_MAX_NAME`, including the NUL).
const GGML_MAX_NAME: u64 = 63;
const DEFAULT_ALIGNMENT: u64 = 32;

pub struct GgufScanner;

pub const MALFORMED: Code = Code {
    id: "gguf/malformed",
    severity: Severity::Medium,
    summary: "The GGUF/GGML header is malformed or truncated.",
    detects: "An unknown version, a string, array or table that runs past the end of the file, an unknown metadata value type, a non-boolean bool, a non-ASCII or overlong key, an invalid `general.alignment`, more than 4 tensor dimensions, tensor names longer than ggml accepts, a first dimension that is not a multiple of the type's block size, or arrays nested too deeply.",
    why: "Loaders differ in how they handle broken headers (llama.cpp refuses, other readers guess). A file that one reader refuses and another accepts is a parser differential, and broken length fields have led to memory-safety bugs in GGUF readers (e.g. CVE-2024-25664..25668 in llama.cpp's parser).",
    example: "A GGUF v3 file whose first metadata string claims a length of 2^63 bytes.",
    remediation: "Re-download or re-convert the model with the reference `gguf` tooling.",
    references: &["https://github.com/ggml-org/ggml/blob/master/docs/gguf.md", "CVE-2024-25664"],
};

pub const EXCESSIVE_COUNT: Code = Code {
    id: "gguf/excessive-count",
    severity: Severity::Medium,
    summary: "A GGUF count is larger than the file could hold.",
    detects: "A tensor count, metadata count or array length whose minimum encoded size exceeds the remaining bytes of the file, or that is beyond modelgate's parse limits (2^20 metadata pairs, 2^22 tensors).",
    why: "Readers that allocate from these counts before reading crash or exhaust memory (a classic GGUF parser attack); no real model declares them.",
    example: "`tensor_count = 0xFFFFFFFFFFFFFFFF` in a 1 KB file.",
    remediation: "Treat the file as hostile or corrupt; do not load it.",
    references: &["https://github.com/ggml-org/ggml/blob/master/docs/gguf.md"],
};

pub const DUPLICATE_KEY: Code = Code {
    id: "gguf/duplicate-key",
    severity: Severity::Medium,
    summary: "A GGUF metadata key or tensor name appears twice.",
    detects: "Two metadata pairs with the same key, or two tensor infos with the same name.",
    why: "Readers keep the first or the last occurrence, so two tools see different chat templates, tokenizers or tensors in the same file: a scanner may check the harmless copy.",
    example: "Two `tokenizer.chat_template` keys, the second one malicious.",
    remediation: "Treat the file as tampered; re-convert it from a trusted source.",
    references: &[],
};

pub const TENSOR_OUT_OF_BOUNDS: Code = Code {
    id: "gguf/tensor-out-of-bounds",
    severity: Severity::Medium,
    summary: "A tensor's data lies (partly) outside the file.",
    detects: "A tensor whose data offset plus its size (from type and shape) runs past the end of the file, or whose size overflows.",
    why: "The file is truncated or lies about its layout; memory-mapping loaders read out of bounds.",
    example: "A tensor at offset 2^40 in a 10 MB file.",
    remediation: "Re-download the model.",
    references: &["https://github.com/ggml-org/ggml/blob/master/docs/gguf.md"],
};

pub const TENSOR_MISALIGNED: Code = Code {
    id: "gguf/tensor-misaligned",
    severity: Severity::Low,
    summary: "A tensor's data offset is not a multiple of the file's alignment.",
    detects: "`offset % general.alignment != 0` for a tensor info.",
    why: "The spec requires aligned offsets and llama.cpp refuses misaligned ones; other readers accept them, another parser differential.",
    example: "`offset = 17` with the default alignment of 32.",
    remediation: "Re-convert the model with the reference tooling.",
    references: &["https://github.com/ggml-org/ggml/blob/master/docs/gguf.md"],
};

pub const TENSOR_OVERLAP: Code = Code {
    id: "gguf/tensor-overlap",
    severity: Severity::Medium,
    summary: "Two tensors' data ranges overlap.",
    detects: "A tensor whose data starts before the end of the previous tensor (in offset order).",
    why: "Writers never produce overlapping tensors; overlap means hand-crafted layout, used to make one region read as two different things.",
    example: "Tensor A at [0, 4096) and tensor B at [2048, 6144).",
    remediation: "Treat the file as tampered.",
    references: &[],
};

pub const UNKNOWN_TENSOR_TYPE: Code = Code {
    id: "gguf/unknown-tensor-type",
    severity: Severity::Low,
    summary: "A tensor uses a ggml type this build does not know.",
    detects: "A tensor type id outside the ggml type table (including removed types such as Q4_2), so its size cannot be checked.",
    why: "The layout checks for this tensor were skipped. New quantisation types appear regularly; an unknown id in an old-looking file is more likely a crafted header.",
    example: "`type = 9999`.",
    remediation: "Update modelgate; if the type is really unknown, treat the file as corrupt.",
    references: &["https://github.com/ggml-org/ggml/blob/master/docs/gguf.md"],
};

pub const HIDDEN_DATA: Code = Code {
    id: "gguf/unaccounted-data",
    severity: Severity::Medium,
    summary: "The file carries bytes that no tensor accounts for.",
    detects: "A gap larger than the alignment between two tensors' data, or bytes after the last tensor beyond alignment padding. High when those bytes look like another format (pickle, zip, …); they are then scanned as well.",
    why: "Unused regions are where polyglot payloads hide: tools that look at GGUF see tensors, while a pickle or zip reader pointed at the same file finds something else.",
    example: "A valid GGUF file with a zip archive appended.",
    remediation: "Treat the file as tampered; re-convert it from a trusted source.",
    references: &[],
};

/// Every code this scanner reports.
pub static CODES: &[&Code] = &[
    &MALFORMED,
    &EXCESSIVE_COUNT,
    &DUPLICATE_KEY,
    &TENSOR_OUT_OF_BOUNDS,
    &TENSOR_MISALIGNED,
    &TENSOR_OVERLAP,
    &UNKNOWN_TENSOR_TYPE,
    &HIDDEN_DATA,
];

static ALL_CODES: std::sync::LazyLock<Vec<&'static Code>> = std::sync::LazyLock::new(|| {
    let mut v: Vec<&'static Code> = CODES.to_vec();
    v.extend(template::CODES.iter().copied());
    v
});

impl Scanner for GgufScanner {
    fn id(&self) -> &'static str {
        "gguf"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Gguf, Format::Ggml]
    }
    fn codes(&self) -> &'static [&'static Code] {
        ALL_CODES.as_slice()
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        if a.format == Format::Ggml {
            scan_ggml(a, out)
        } else {
            scan_gguf(a, cx, out)
        }
    }
}

/// `(block size in elements, bytes per block)` of a ggml type, from the ggml type table.
pub fn ggml_type_size(t: u32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (1, 4),           // F32
        1 | 25 | 30 => (1, 2), // F16, I16, BF16
        2 | 20 => (32, 18),    // Q4_0, IQ4_NL
        3 => (32, 20),         // Q4_1
        6 => (32, 22),         // Q5_0
        7 => (32, 24),         // Q5_1
        8 => (32, 34),         // Q8_0
        9 => (32, 40),         // Q8_1
        10 => (256, 84),       // Q2_K
        11 | 21 => (256, 110), // Q3_K, IQ3_S
        12 => (256, 144),      // Q4_K
        13 => (256, 176),      // Q5_K
        14 => (256, 210),      // Q6_K
        15 => (256, 292),      // Q8_K
        16 | 35 => (256, 66),  // IQ2_XXS, TQ2_0
        17 => (256, 74),       // IQ2_XS
        18 => (256, 98),       // IQ3_XXS
        19 => (256, 50),       // IQ1_S
        22 => (256, 82),       // IQ2_S
        23 => (256, 136),      // IQ4_XS
        24 => (1, 1),          // I8
        26 => (1, 4),          // I32
        27 | 28 => (1, 8),     // I64, F64
        29 => (256, 56),       // IQ1_M
        34 => (256, 54),       // TQ1_0
        39 => (32, 17),        // MXFP4
        40 => (64, 36),        // NVFP4
        41 => (128, 18),       // Q1_0
        _ => return None,
    })
}

/// Why parsing stopped.
enum Stop {
    /// The structure is broken at `at`: reported as a finding, scan ends normally.
    Bad {
        code: &'static Code,
        at: u64,
        msg: String,
    },
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

fn bad(code: &'static Code, at: u64, msg: impl Into<String>) -> Stop {
    Stop::Bad {
        code,
        at,
        msg: msg.into(),
    }
}

/// A bounds-checked little/big-endian reader over the content.
struct Rd<'a> {
    r: Box<dyn ReadSeek + 'a>,
    pos: u64,
    len: u64,
    be: bool,
    /// GGUF v1 uses 32-bit counts, lengths and dimensions.
    v1: bool,
}

impl Rd<'_> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn need(&self, n: u64, what: &str) -> Result<(), Stop> {
        if n > self.remaining() {
            return Err(bad(
                &MALFORMED,
                self.pos,
                format!(
                    "{what} needs {n} bytes but only {} remain",
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Stop> {
        self.need(N as u64, what)?;
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        self.pos = self.pos.saturating_add(N as u64);
        if self.be {
            b.reverse();
        }
        Ok(b)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Stop> {
        Ok(u8::from_le_bytes(self.array::<1>(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Stop> {
        Ok(u32::from_le_bytes(self.array::<4>(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Stop> {
        Ok(u64::from_le_bytes(self.array::<8>(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, Stop> {
        Ok(i64::from_le_bytes(self.array::<8>(what)?))
    }

    /// A count or length: u32 in v1, u64 afterwards.
    fn count(&mut self, what: &str) -> Result<u64, Stop> {
        if self.v1 {
            Ok(u64::from(self.u32(what)?))
        } else {
            self.u64(what)
        }
    }

    fn len_size(&self) -> u64 {
        if self.v1 {
            4
        } else {
            8
        }
    }

    fn read_vec(&mut self, n: u64, what: &str) -> Result<Vec<u8>, Stop> {
        self.need(n, what)?;
        let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        self.r.by_ref().take(n).read_to_end(&mut buf)?;
        if (buf.len() as u64) < n {
            return Err(bad(&MALFORMED, self.pos, format!("{what} is truncated")));
        }
        self.pos = self.pos.saturating_add(n);
        Ok(buf)
    }

    /// Skips `n` bytes: small skips read through the buffer, large ones seek.
    fn skip(&mut self, n: u64, what: &str) -> Result<(), Stop> {
        self.need(n, what)?;
        if n <= 256 * 1024 {
            let copied = io::copy(&mut self.r.by_ref().take(n), &mut io::sink())?;
            if copied < n {
                return Err(bad(&MALFORMED, self.pos, format!("{what} is truncated")));
            }
        } else {
            self.r.seek(SeekFrom::Start(self.pos.saturating_add(n)))?;
        }
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }
}

/// A tensor info that passed the structural checks.
struct TensorInfo {
    name: String,
    offset: u64,
    size: Option<u64>,
}

struct Ctx<'a> {
    a: &'a Artifact,
    r: &'a mut Sink,
    string_bytes: u64,
}

fn scan_gguf(a: &Artifact, cx: &dyn ScannerContext, rep: &mut Sink) -> Result<(), ScanError> {
    let mut rd = Rd {
        r: a.content.open()?,
        pos: 0,
        len: a.content.len(),
        be: false,
        v1: false,
    };
    let mut ctx = Ctx {
        a,
        r: rep,
        string_bytes: 0,
    };
    match parse_gguf(&mut rd, &mut ctx, cx) {
        Ok(()) => Ok(()),
        Err(Stop::Bad { code, at, msg }) => {
            ctx.r.push(Finding::new(code, a.location.at(at), msg));
            Ok(())
        }
        Err(Stop::Io(e)) => Err(ScanError::Io(e)),
    }
}

fn parse_gguf(rd: &mut Rd<'_>, cx: &mut Ctx<'_>, scx: &dyn ScannerContext) -> Result<(), Stop> {
    let magic = rd.array::<4>("magic")?;
    if &magic != b"GGUF" {
        return Err(bad(&MALFORMED, 0, "missing GGUF magic"));
    }
    let raw_version = rd.u32("version")?;
    let version = if (1..=3).contains(&raw_version) {
        raw_version
    } else if (1..=3).contains(&raw_version.swap_bytes()) {
        rd.be = true;
        raw_version.swap_bytes()
    } else {
        return Err(bad(
            &MALFORMED,
            4,
            format!("unknown GGUF version {raw_version} (known: 1, 2, 3)"),
        ));
    };
    rd.v1 = version == 1;
    let tensor_count = rd.count("tensor count")?;
    let kv_count = rd.count("metadata count")?;
    // Minimum encoded sizes: a KV is a key length, a type and at least one value byte; a tensor
    // info is a name length, n_dims, type and offset.
    let ls = rd.len_size();
    let min_kv = ls.saturating_add(5);
    let min_ti = ls.saturating_add(16);
    if kv_count.saturating_mul(min_kv) > rd.remaining() || kv_count > MAX_KV {
        return Err(bad(
            &EXCESSIVE_COUNT,
            rd.pos,
            format!(
                "metadata count {kv_count} cannot fit in the {} remaining bytes (or exceeds the limit of {MAX_KV})",
                rd.remaining()
            ),
        ));
    }
    if tensor_count.saturating_mul(min_ti) > rd.remaining() || tensor_count > MAX_TENSORS {
        return Err(bad(
            &EXCESSIVE_COUNT,
            rd.pos,
            format!(
                "tensor count {tensor_count} cannot fit in the {} remaining bytes (or exceeds the limit of {MAX_TENSORS})",
                rd.remaining()
            ),
        ));
    }

    let mut keys: HashSet<String> = HashSet::new();
    let mut alignment = DEFAULT_ALIGNMENT;
    for _ in 0..kv_count {
        let key_at = rd.pos;
        let klen = rd.count("key length")?;
        if klen > 65_535 {
            return Err(bad(
                &MALFORMED,
                key_at,
                format!("metadata key length {klen} exceeds the spec's 65535 bytes"),
            ));
        }
        let kbytes = rd.read_vec(klen, "metadata key")?;
        let key = String::from_utf8_lossy(&kbytes).into_owned();
        if !kbytes.is_ascii() {
            cx.r.push(
                Finding::new(
                    &MALFORMED,
                    cx.a.location.at(key_at),
                    format!("metadata key '{}' is not ASCII", clip(&key)),
                )
                .severity(Severity::Low),
            );
        }
        if !keys.insert(key.clone()) {
            cx.r.push(
                Finding::new(
                    &DUPLICATE_KEY,
                    cx.a.location.at(key_at),
                    format!("metadata key '{}' appears more than once", clip(&key)),
                )
                .evidence("key", clip(&key)),
            );
        }
        let vtype = rd.u32("value type")?;
        if key == "general.alignment" {
            let v = read_scalar_int(rd, vtype)?;
            match v {
                Some(al) if al > 0 && al.is_power_of_two() && al <= 1 << 30 => alignment = al,
                _ => cx.r.push(
                    Finding::new(
                        &MALFORMED,
                        cx.a.location.at(key_at),
                        format!(
                            "general.alignment {} is not a power of two (type {vtype}); llama.cpp refuses the file",
                            v.map_or_else(|| "of a non-integer type".to_owned(), |x| x.to_string())
                        ),
                    ),
                ),
            }
            continue;
        }
        value(rd, cx, vtype, &key, key_at, 0)?;
    }

    let mut tensors: Vec<TensorInfo> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for _ in 0..tensor_count {
        let at = rd.pos;
        let nlen = rd.count("tensor name length")?;
        if nlen > 65_535 {
            return Err(bad(
                &MALFORMED,
                at,
                format!("tensor name length {nlen} is absurd"),
            ));
        }
        let name = String::from_utf8_lossy(&rd.read_vec(nlen, "tensor name")?).into_owned();
        if nlen > GGML_MAX_NAME {
            cx.r.push(
                Finding::new(
                    &MALFORMED,
                    cx.a.location.at(at),
                    format!(
                        "tensor name '{}' is {nlen} bytes, longer than ggml accepts ({GGML_MAX_NAME})",
                        clip(&name)
                    ),
                )
                .severity(Severity::Low),
            );
        }
        if !names.insert(name.clone()) {
            cx.r.push(
                Finding::new(
                    &DUPLICATE_KEY,
                    cx.a.location.at(at),
                    format!("tensor '{}' is declared more than once", clip(&name)),
                )
                .evidence("tensor", clip(&name)),
            );
        }
        let n_dims = rd.u32("tensor dimension count")?;
        if n_dims > 16 {
            return Err(bad(
                &MALFORMED,
                at,
                format!("tensor '{}' declares {n_dims} dimensions", clip(&name)),
            ));
        }
        if n_dims > GGML_MAX_DIMS {
            cx.r.push(Finding::new(
                &MALFORMED,
                cx.a.location.at(at),
                format!(
                    "tensor '{}' has {n_dims} dimensions; ggml supports {GGML_MAX_DIMS}",
                    clip(&name)
                ),
            ));
        }
        let mut dims = Vec::new();
        for _ in 0..n_dims {
            dims.push(rd.count("tensor dimension")?);
        }
        let ttype = rd.u32("tensor type")?;
        let offset = rd.u64("tensor offset")?;
        let size = tensor_size(cx, at, &name, &dims, ttype);
        if offset.checked_rem(alignment) != Some(0) {
            cx.r.push(
                Finding::new(
                    &TENSOR_MISALIGNED,
                    cx.a.location.at(at),
                    format!(
                        "tensor '{}' data offset {offset} is not a multiple of the alignment {alignment}",
                        clip(&name)
                    ),
                )
                .evidence("tensor", clip(&name)),
            );
        }
        tensors.push(TensorInfo { name, offset, size });
    }

    let data_start = align(rd.pos, alignment);
    check_layout(cx, scx, &mut tensors, data_start, rd.len, alignment)
}

fn align(x: u64, a: u64) -> u64 {
    let rem = x.checked_rem(a).unwrap_or(0);
    if rem == 0 {
        x
    } else {
        x.saturating_add(a.saturating_sub(rem))
    }
}

fn tensor_size(cx: &mut Ctx<'_>, at: u64, name: &str, dims: &[u64], ttype: u32) -> Option<u64> {
    let Some((block, bytes)) = ggml_type_size(ttype) else {
        cx.r.push(
            Finding::new(
                &UNKNOWN_TENSOR_TYPE,
                cx.a.location.at(at),
                format!("tensor '{}' has unknown ggml type {ttype}", clip(name)),
            )
            .evidence("tensor", clip(name))
            .evidence("type", ttype.to_string()),
        );
        return None;
    };
    let first = dims.first().copied().unwrap_or(1);
    if first.checked_rem(block) != Some(0) {
        cx.r.push(Finding::new(
            &MALFORMED,
            cx.a.location.at(at),
            format!(
                "tensor '{}': first dimension {first} is not a multiple of the type's block size {block}",
                clip(name)
            ),
        ));
        return None;
    }
    let elements = dims
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(u128::from(d)));
    let size = elements
        .and_then(|e| e.checked_div(u128::from(block)))
        .and_then(|b| b.checked_mul(u128::from(bytes)))
        .and_then(|s| u64::try_from(s).ok());
    if size.is_none() {
        cx.r.push(Finding::new(
            &TENSOR_OUT_OF_BOUNDS,
            cx.a.location.at(at),
            format!("tensor '{}': size of shape {dims:?} overflows", clip(name)),
        ));
    }
    size
}

/// Reads an integer-typed scalar (for `general.alignment`); `None` for other types (skipped).
fn read_scalar_int(rd: &mut Rd<'_>, vtype: u32) -> Result<Option<u64>, Stop> {
    Ok(match vtype {
        0 => Some(u64::from(rd.u8("u8")?)),
        1 => u64::try_from(i8::from_le_bytes(rd.array::<1>("i8")?)).ok(),
        2 => Some(u64::from(u16::from_le_bytes(rd.array::<2>("u16")?))),
        3 => u64::try_from(i16::from_le_bytes(rd.array::<2>("i16")?)).ok(),
        4 => Some(u64::from(rd.u32("u32")?)),
        5 => u64::try_from(i32::from_le_bytes(rd.array::<4>("i32")?)).ok(),
        10 => Some(rd.u64("u64")?),
        11 => u64::try_from(rd.i64("i64")?).ok(),
        other => {
            skip_value(rd, other, 0)?;
            None
        }
    })
}

/// Encoded size of a fixed-size value type.
fn fixed_size(vtype: u32) -> Option<u64> {
    match vtype {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Skips a value without inspecting it (nested arrays inside non-template keys).
fn skip_value(rd: &mut Rd<'_>, vtype: u32, depth: u32) -> Result<(), Stop> {
    if let Some(n) = fixed_size(vtype) {
        return rd.skip(n, "value");
    }
    match vtype {
        8 => {
            let n = rd.count("string length")?;
            rd.skip(n, "string")
        }
        9 => {
            let (et, n) = array_header(rd, depth)?;
            skip_array(rd, et, n, depth)
        }
        other => Err(bad(
            &MALFORMED,
            rd.pos,
            format!("unknown metadata value type {other}"),
        )),
    }
}

fn array_header(rd: &mut Rd<'_>, depth: u32) -> Result<(u32, u64), Stop> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(bad(
            &MALFORMED,
            rd.pos,
            format!("arrays nested deeper than {MAX_ARRAY_DEPTH} levels"),
        ));
    }
    let at = rd.pos;
    let et = rd.u32("array element type")?;
    let n = rd.count("array length")?;
    let min = match (fixed_size(et), et) {
        (Some(n), _) => n,
        (None, 8) => rd.len_size(),
        (None, 9) => rd.len_size().saturating_add(4),
        (None, other) => {
            return Err(bad(
                &MALFORMED,
                at,
                format!("unknown array element type {other}"),
            ))
        }
    };
    if n.saturating_mul(min) > rd.remaining() {
        return Err(bad(
            &EXCESSIVE_COUNT,
            at,
            format!(
                "array of {n} elements (type {et}) cannot fit in the {} remaining bytes",
                rd.remaining()
            ),
        ));
    }
    Ok((et, n))
}

fn skip_array(rd: &mut Rd<'_>, et: u32, n: u64, depth: u32) -> Result<(), Stop> {
    if let Some(sz) = fixed_size(et) {
        return rd.skip(n.saturating_mul(sz), "array data");
    }
    for _ in 0..n {
        skip_value(rd, et, depth.saturating_add(1))?;
    }
    Ok(())
}

fn is_template_key(key: &str) -> bool {
    key == "tokenizer.chat_template" || key.starts_with("tokenizer.chat_template.")
}

/// Parses one metadata value; lints strings that are (or look like) templates.
fn value(
    rd: &mut Rd<'_>,
    cx: &mut Ctx<'_>,
    vtype: u32,
    key: &str,
    key_at: u64,
    depth: u32,
) -> Result<(), Stop> {
    match vtype {
        7 => {
            let at = rd.pos;
            let b = rd.u8("bool")?;
            if b > 1 {
                cx.r.push(
                    Finding::new(
                        &MALFORMED,
                        cx.a.location.at(at),
                        format!(
                            "'{}' holds bool byte {b} (only 0 and 1 are valid)",
                            clip(key)
                        ),
                    )
                    .severity(Severity::Low),
                );
            }
            Ok(())
        }
        8 => string_value(rd, cx, key, key_at, true),
        9 => {
            let (et, n) = array_header(rd, depth)?;
            if key.contains("chat_template") && et == 8 {
                for _ in 0..n {
                    string_value(rd, cx, key, key_at, false)?;
                }
                Ok(())
            } else if et == 9 {
                for _ in 0..n {
                    value(rd, cx, 9, key, key_at, depth.saturating_add(1))?;
                }
                Ok(())
            } else {
                skip_array(rd, et, n, depth)
            }
        }
        other if fixed_size(other).is_some() => skip_value(rd, other, depth),
        other => Err(bad(
            &MALFORMED,
            rd.pos,
            format!("metadata '{}' has unknown value type {other}", clip(key)),
        )),
    }
}

fn string_value(
    rd: &mut Rd<'_>,
    cx: &mut Ctx<'_>,
    key: &str,
    key_at: u64,
    scalar: bool,
) -> Result<(), Stop> {
    let at = rd.pos;
    let n = rd.count("string length")?;
    let template_key = is_template_key(key);
    let wanted = scalar || key.contains("chat_template");
    if !wanted {
        return rd.skip(n, "string");
    }
    rd.need(n, "string")?;
    let budget_left = MAX_STRING_TOTAL.saturating_sub(cx.string_bytes);
    if n > MAX_STRING_READ || n > budget_left {
        if template_key {
            cx.r.push(
                Finding::new(
                    &template::UNPARSABLE,
                    cx.a.location.at(at),
                    format!(
                        "{key}: {n}-byte template is larger than the {MAX_STRING_READ}-byte read limit and was not checked"
                    ),
                )
                // Uninspectable is never clean: servers render it all the same.
                .severity(Severity::High)
                .evidence("template", key),
            );
        }
        return rd.skip(n, "string");
    }
    let bytes = rd.read_vec(n, "string")?;
    cx.string_bytes = cx.string_bytes.saturating_add(n);
    let text = String::from_utf8_lossy(&bytes);
    if template_key || template::looks_like_template(&text) {
        let issues = template::lint(&text);
        for i in &issues {
            // Strings that merely contain braces are linted for injections only; parse failures
            // are reported for real template keys.
            if !template_key
                && matches!(
                    i.kind,
                    template::IssueKind::Unparsable | template::IssueKind::TooDeep
                )
            {
                continue;
            }
            cx.r.push(template::issue_finding(i, cx.a.location.at(key_at), key));
        }
    }
    Ok(())
}

fn check_layout(
    cx: &mut Ctx<'_>,
    scx: &dyn ScannerContext,
    tensors: &mut [TensorInfo],
    data_start: u64,
    file_len: u64,
    alignment: u64,
) -> Result<(), Stop> {
    if tensors.is_empty() {
        // Vocabulary-only and adapter files carry no tensors; anything after the header padding
        // is unaccounted.
        if file_len > data_start {
            region(
                cx,
                scx,
                data_start,
                file_len.saturating_sub(data_start),
                "after the header of a file without tensors",
            )?;
        }
        return Ok(());
    }
    if data_start > file_len {
        cx.r.push(Finding::new(
            &TENSOR_OUT_OF_BOUNDS,
            cx.a.location.clone(),
            format!(
                "tensor data would start at {data_start}, past the end of the {file_len}-byte file"
            ),
        ));
        return Ok(());
    }
    tensors.sort_by(|x, y| (x.offset, &x.name).cmp(&(y.offset, &y.name)));
    let mut cursor = 0u64; // relative to data_start
    let mut prev: Option<(String, u64, u64)> = None;
    let mut holes = Vec::new();
    let mut unknown_size = false;
    for t in tensors.iter() {
        let Some(size) = t.size else {
            // Unknown size: holes and trailing bytes cannot be told from this tensor's data.
            unknown_size = true;
            prev = None;
            continue;
        };
        let begin = t.offset;
        let end = begin.saturating_add(size);
        let abs_end = data_start.saturating_add(end);
        if abs_end > file_len || end < begin {
            cx.r.push(
                Finding::new(
                    &TENSOR_OUT_OF_BOUNDS,
                    cx.a.location
                        .at(data_start.saturating_add(begin).min(file_len)),
                    format!(
                        "tensor '{}' data [{}, {}) runs past the end of the {file_len}-byte file",
                        clip(&t.name),
                        data_start.saturating_add(begin),
                        abs_end
                    ),
                )
                .evidence("tensor", clip(&t.name)),
            );
        }
        if begin < cursor {
            if let Some((pn, pb, pe)) = &prev {
                cx.r.push(
                    Finding::new(
                        &TENSOR_OVERLAP,
                        cx.a.location.at(data_start.saturating_add(begin)),
                        format!(
                            "tensor '{}' [{begin}, {end}) overlaps tensor '{}' [{pb}, {pe})",
                            clip(&t.name),
                            clip(pn)
                        ),
                    )
                    .evidence("tensor", clip(&t.name))
                    .evidence("other", clip(pn)),
                );
            }
        } else if begin > align(cursor, alignment) {
            holes.push((align(cursor, alignment), begin));
        }
        if end >= cursor {
            cursor = end;
            prev = Some((t.name.clone(), begin, end));
        }
    }
    if unknown_size {
        return Ok(());
    }
    for (s, e) in holes {
        let abs = data_start.saturating_add(s);
        if abs < file_len {
            region(
                cx,
                scx,
                abs,
                e.saturating_sub(s).min(file_len.saturating_sub(abs)),
                "between tensors",
            )?;
        }
    }
    let tail = align(data_start.saturating_add(cursor), alignment);
    if tail < file_len {
        region(
            cx,
            scx,
            tail,
            file_len.saturating_sub(tail),
            "after the last tensor",
        )?;
    }
    Ok(())
}

/// Reports bytes no tensor accounts for; scans them if they sniff as another format.
fn region(
    cx: &mut Ctx<'_>,
    scx: &dyn ScannerContext,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<(), Stop> {
    let head = cx.a.content.read_at(offset, SNIFF_LEN)?;
    if head.iter().all(|&b| b == 0) && len <= 4096 {
        // Zero padding (some writers pad more than the alignment).
        return Ok(());
    }
    let member = format!("unaccounted@{offset}");
    let hidden = sniff_embedded(&head, &member);
    let mut f = Finding::new(
        &HIDDEN_DATA,
        cx.a.location.at(offset),
        format!("{len} bytes {what} belong to no tensor"),
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
    cx.r.push(f);
    if nested {
        let content = cx.a.content.slice(offset, len)?;
        scx.scan_nested(cx.a, &member, content, None, cx.r);
    }
    Ok(())
}

/// Legacy GGML/GGMF/GGJT: magic, then (GGMF/GGJT) a version. No metadata to check.
fn scan_ggml(a: &Artifact, r: &mut Sink) -> Result<(), ScanError> {
    let head = a.content.read_at(0, 8)?;
    let (Some(magic), version) = (
        head.get(..4),
        head.get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes),
    ) else {
        r.push(Finding::new(
            &MALFORMED,
            a.location.clone(),
            "file too short for a GGML magic",
        ));
        return Ok(());
    };
    let known: &[u32] = match magic {
        b"fmgg" => &[1],
        b"tjgg" => &[1, 2, 3],
        _ => &[], // unversioned GGML: hyper-parameters follow the magic directly
    };
    if !known.is_empty() {
        match version {
            Some(v) if known.contains(&v) => {}
            Some(v) => r.push(
                Finding::new(
                    &MALFORMED,
                    a.location.at(4),
                    format!(
                        "{} file has unknown version {v}",
                        if magic == b"fmgg" { "GGMF" } else { "GGJT" }
                    ),
                )
                .severity(Severity::Low),
            ),
            None => r.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                "legacy GGML file truncated before its version",
            )),
        }
    } else if a.content.len() < 8 {
        r.push(Finding::new(
            &MALFORMED,
            a.location.clone(),
            "legacy GGML file truncated after its magic",
        ));
    }
    Ok(())
}

fn clip(s: &str) -> String {
    crate::finding::clip(s, 120)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::arithmetic_side_effects
    )]
    use super::*;
    use crate::engine::Engine;

    /// Minimal GGUF v3 writer for tests.
    pub(crate) struct W(pub Vec<u8>);
    impl W {
        pub fn new(tensors: u64, kvs: u64) -> Self {
            let mut v = b"GGUF".to_vec();
            v.extend(3u32.to_le_bytes());
            v.extend(tensors.to_le_bytes());
            v.extend(kvs.to_le_bytes());
            W(v)
        }
        pub fn s(&mut self, s: &str) -> &mut Self {
            self.0.extend((s.len() as u64).to_le_bytes());
            self.0.extend(s.as_bytes());
            self
        }
        pub fn kv_str(&mut self, k: &str, v: &str) -> &mut Self {
            self.s(k);
            self.0.extend(8u32.to_le_bytes());
            self.s(v)
        }
        pub fn kv_u32(&mut self, k: &str, v: u32) -> &mut Self {
            self.s(k);
            self.0.extend(4u32.to_le_bytes());
            self.0.extend(v.to_le_bytes());
            self
        }
        pub fn tensor(&mut self, name: &str, dims: &[u64], t: u32, off: u64) -> &mut Self {
            self.s(name);
            self.0.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                self.0.extend(d.to_le_bytes());
            }
            self.0.extend(t.to_le_bytes());
            self.0.extend(off.to_le_bytes());
            self
        }
        pub fn pad(&mut self) -> &mut Self {
            while !self.0.len().is_multiple_of(32) {
                self.0.push(0);
            }
            self
        }
    }

    fn codes_of(bytes: Vec<u8>) -> Vec<String> {
        codes_named("t.gguf", bytes)
    }

    fn codes_named(name: &str, bytes: Vec<u8>) -> Vec<String> {
        let e = Engine::with_defaults().unwrap();
        let rep = e.scan_bytes(name, bytes);
        assert!(
            rep.artifacts
                .iter()
                .all(|a| !matches!(a.status, crate::finding::Status::Failed { .. })),
            "{:?}",
            rep.artifacts
        );
        rep.findings.iter().map(|f| f.code.clone()).collect()
    }

    #[test]
    fn valid_file_is_clean() {
        let mut w = W::new(2, 2);
        w.kv_str("general.architecture", "llama")
            .kv_str(
                "tokenizer.chat_template",
                "{% for m in messages %}{{ m.content }}{% endfor %}",
            )
            .tensor("a", &[8], 0, 0)
            .tensor("b", &[32, 2], 8, 32)
            .pad();
        w.0.extend([0u8; 32 + 68]);
        w.pad();
        assert_eq!(codes_of(w.0), Vec::<String>::new());
    }

    #[test]
    fn template_injection_is_reported() {
        let mut w = W::new(0, 1);
        w.kv_str(
            "tokenizer.chat_template",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        );
        let c = codes_of(w.0);
        assert!(c.contains(&"template/code-execution".to_owned()), "{c:?}");
    }

    #[test]
    fn absurd_counts_and_lengths() {
        let w = W::new(u64::MAX, 1);
        assert_eq!(codes_of(w.0), ["gguf/excessive-count"]);
        let mut w = W::new(0, 1);
        w.s("k");
        w.0.extend(8u32.to_le_bytes());
        w.0.extend(u64::MAX.to_le_bytes());
        assert_eq!(codes_of(w.0), ["gguf/malformed"]);
    }

    #[test]
    fn layout_problems() {
        let mut w = W::new(2, 0);
        w.tensor("a", &[64], 0, 0).tensor("b", &[64], 0, 100).pad();
        w.0.extend([0u8; 128]);
        let c = codes_of(w.0);
        assert!(c.contains(&"gguf/tensor-misaligned".to_owned()), "{c:?}");
        assert!(c.contains(&"gguf/tensor-overlap".to_owned()), "{c:?}");
        assert!(c.contains(&"gguf/tensor-out-of-bounds".to_owned()), "{c:?}");
    }

    #[test]
    fn big_endian_is_read() {
        let mut v = b"GGUF".to_vec();
        v.extend(3u32.to_be_bytes());
        v.extend(0u64.to_be_bytes());
        v.extend(1u64.to_be_bytes());
        v.extend(23u64.to_be_bytes());
        v.extend(b"tokenizer.chat_template");
        v.extend(8u32.to_be_bytes());
        let t = b"{{ cycler.__init__.__globals__ }}";
        v.extend((t.len() as u64).to_be_bytes());
        v.extend(t);
        let c = codes_of(v);
        assert!(c.contains(&"template/code-execution".to_owned()), "{c:?}");
    }

    #[test]
    fn legacy_ggml() {
        let mut v = b"lmgg".to_vec();
        v.extend([0u8; 64]);
        assert_eq!(codes_named("m.bin", v), Vec::<String>::new());
        let mut v = b"tjgg".to_vec();
        v.extend(9u32.to_le_bytes());
        assert_eq!(codes_named("m.bin", v), ["gguf/malformed"]);
    }

    #[test]
    fn alignment_is_honoured() {
        let mut w = W::new(1, 1);
        w.kv_u32("general.alignment", 64).tensor("a", &[4], 0, 0);
        while !w.0.len().is_multiple_of(64) {
            w.0.push(0);
        }
        w.0.extend([1u8; 16]);
        assert_eq!(codes_of(w.0.clone()), Vec::<String>::new());
        let mut w = W::new(0, 1);
        w.kv_u32("general.alignment", 48);
        assert_eq!(codes_of(w.0), ["gguf/malformed"]);
        assert_eq!(ggml_type_size(12), Some((256, 144)));
    }
}
