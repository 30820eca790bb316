//! A small, bounded FlatBuffers reader for untrusted bytes (TFLite, ONNX Runtime's ORT format).
//!
//! No generated code and no `flatc`: the scanners walk the few tables they need by field id, the
//! way the generated accessors do, and every read is checked against the end of the content
//! before it happens. A bad offset, a vtable or object that runs past the end, a string without
//! its terminating NUL or a vector longer than the bytes that remain is a typed [`FbError`],
//! never a panic and never an allocation sized by the input. The checks are the ones the
//! FlatBuffers verifier (`flatbuffers::Verifier`, which `tflite::VerifyModelBuffer` and
//! `VerifyInferenceSessionBuffer` run) makes: tables and vtables aligned and inside the buffer,
//! vtables even-sized, every field read inside the buffer and aligned to its size, vectors and
//! strings aligned and inside the buffer, strings NUL-terminated. Like the verifier (and unlike a
//! stricter reading of the format), the object size a vtable declares is not checked against the
//! buffer: fields are checked one by one where they are read.
//!
//! Work is bounded as well: a hostile buffer can point a million vector elements at one table,
//! so every table opened and every vector element read costs one step of a budget set by the
//! caller (see [`Reader::new`]); the reader stops with [`FbError::Budget`] when it is spent.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::cell::{Cell, RefCell};
use std::fmt;

/// Why a buffer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FbError {
    /// A read of `len` bytes at `at` runs past the end of the content (`what` names the item).
    OutOfBounds {
        at: u64,
        len: u64,
        what: &'static str,
    },
    /// A structural rule of the format is broken (bad vtable size, field outside its object, a
    /// string without its NUL, ...).
    Invalid { at: u64, what: String },
    /// The step budget is spent (see the module docs).
    Budget { steps: u64 },
    /// The content could not be read.
    Io(String),
}

impl fmt::Display for FbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FbError::OutOfBounds { at, len, what } => {
                write!(
                    f,
                    "{what}: {len} bytes at offset {at} run past the end of the buffer"
                )
            }
            FbError::Invalid { at, what } => write!(f, "{what} (at offset {at})"),
            FbError::Budget { steps } => {
                write!(f, "more than {steps} tables and vector elements to read")
            }
            FbError::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl std::error::Error for FbError {}

pub type Result<T> = std::result::Result<T, FbError>;

/// Random access to the bytes of a buffer.
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` from offset `at`; the caller has checked that `at + buf.len() <= len()`.
    fn read_into(&self, at: u64, buf: &mut [u8]) -> Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_into(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(at).map_err(|_| oob(at, buf.len() as u64, "read"))?;
        let end = start
            .checked_add(buf.len())
            .ok_or_else(|| oob(at, buf.len() as u64, "read"))?;
        let src = self
            .get(start..end)
            .ok_or_else(|| oob(at, buf.len() as u64, "read"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A [`Source`] over positioned reads of a large file: pages of [`PAGE`] bytes, the last few kept,
/// so a walk over a multi-gigabyte model costs a bounded amount of memory.
pub struct Paged<F: Fn(u64, usize) -> std::io::Result<Vec<u8>>> {
    read: F,
    len: u64,
    cache: RefCell<Vec<(u64, Vec<u8>)>>,
}

/// Page size of [`Paged`].
pub const PAGE: u64 = 64 * 1024;
const PAGES_KEPT: usize = 8;

impl<F: Fn(u64, usize) -> std::io::Result<Vec<u8>>> Paged<F> {
    /// `read(offset, len)` returns up to `len` bytes at `offset` (fewer only at the end).
    pub fn new(len: u64, read: F) -> Self {
        Self {
            read,
            len,
            cache: RefCell::new(Vec::new()),
        }
    }

    fn with_page<T>(&self, page: u64, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let mut cache = self.cache.borrow_mut();
        if let Some(i) = cache.iter().position(|(p, _)| *p == page) {
            // Most recently used last.
            let entry = cache.remove(i);
            cache.push(entry);
        } else {
            let at = page.saturating_mul(PAGE);
            let bytes = (self.read)(at, PAGE as usize).map_err(|e| FbError::Io(e.to_string()))?;
            if cache.len() >= PAGES_KEPT {
                cache.remove(0);
            }
            cache.push((page, bytes));
        }
        let data = cache.last().map(|(_, b)| b.as_slice()).unwrap_or_default();
        Ok(f(data))
    }
}

impl<F: Fn(u64, usize) -> std::io::Result<Vec<u8>>> Source for Paged<F> {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_into(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = at.saturating_add(done as u64);
            let page = pos / PAGE;
            let in_page = usize::try_from(pos % PAGE).unwrap_or(0);
            let rest = buf.get_mut(done..).unwrap_or_default();
            let n = self.with_page(page, |data| {
                let avail = data.get(in_page..).unwrap_or_default();
                let n = avail.len().min(rest.len());
                if let (Some(d), Some(s)) = (rest.get_mut(..n), avail.get(..n)) {
                    d.copy_from_slice(s);
                }
                n
            })?;
            if n == 0 {
                return Err(oob(pos, 1, "read"));
            }
            done = done.saturating_add(n);
        }
        Ok(())
    }
}

fn oob(at: u64, len: u64, what: &'static str) -> FbError {
    FbError::OutOfBounds { at, len, what }
}

fn invalid(at: u64, what: impl Into<String>) -> FbError {
    FbError::Invalid {
        at,
        what: what.into(),
    }
}

/// A table: its position and its vtable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Offset of the table (its `soffset` to the vtable).
    pub pos: u64,
    vtable: u64,
    vtable_len: u16,
    /// The object size its vtable declares.
    pub object_len: u16,
}

/// A vector: where its elements start and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vector {
    /// Offset of the first element (after the length prefix).
    pub pos: u64,
    pub len: u32,
    elem_size: u64,
}

impl Vector {
    /// Bytes taken by the elements.
    pub fn byte_len(&self) -> u64 {
        u64::from(self.len).saturating_mul(self.elem_size)
    }
    /// The end offset of the elements.
    pub fn end(&self) -> u64 {
        self.pos.saturating_add(self.byte_len())
    }
}

/// A string, read up to the caller's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbString {
    /// Declared length in bytes.
    pub len: u32,
    /// The first bytes (all of them when `len` is within the limit), lossily decoded.
    pub text: String,
    /// Whether `text` holds the whole string.
    pub complete: bool,
}

/// The reader. Not `Sync` (the step counter and a paged source's cache are cells); one per scan.
pub struct Reader<'s> {
    src: &'s dyn Source,
    steps: Cell<u64>,
    budget: u64,
}

impl<'s> Reader<'s> {
    /// A reader over `src` allowed `budget` steps (tables opened plus vector elements read).
    pub fn new(src: &'s dyn Source, budget: u64) -> Self {
        Self {
            src,
            steps: Cell::new(0),
            budget,
        }
    }

    /// Length of the buffer.
    pub fn len(&self) -> u64 {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.src.len() == 0
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    fn step(&self) -> Result<()> {
        let n = self.steps.get().saturating_add(1);
        if n > self.budget {
            return Err(FbError::Budget { steps: self.budget });
        }
        self.steps.set(n);
        Ok(())
    }

    /// `N` bytes at `at`.
    pub fn bytes<const N: usize>(&self, at: u64, what: &'static str) -> Result<[u8; N]> {
        let end = at
            .checked_add(N as u64)
            .ok_or_else(|| oob(at, N as u64, what))?;
        if end > self.src.len() {
            return Err(oob(at, N as u64, what));
        }
        let mut b = [0u8; N];
        self.src.read_into(at, &mut b)?;
        Ok(b)
    }

    /// `n` bytes at `at` (the caller bounds `n`).
    pub fn bytes_vec(&self, at: u64, n: u64, what: &'static str) -> Result<Vec<u8>> {
        let end = at.checked_add(n).ok_or_else(|| oob(at, n, what))?;
        if end > self.src.len() {
            return Err(oob(at, n, what));
        }
        let mut buf = vec![0u8; usize::try_from(n).map_err(|_| oob(at, n, what))?];
        self.src.read_into(at, &mut buf)?;
        Ok(buf)
    }

    pub fn u8_at(&self, at: u64) -> Result<u8> {
        Ok(u8::from_le_bytes(self.bytes::<1>(at, "byte")?))
    }
    pub fn u16_at(&self, at: u64) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes::<2>(at, "uint16")?))
    }
    pub fn u32_at(&self, at: u64) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes::<4>(at, "uint32")?))
    }
    pub fn i32_at(&self, at: u64) -> Result<i32> {
        Ok(i32::from_le_bytes(self.bytes::<4>(at, "int32")?))
    }
    pub fn u64_at(&self, at: u64) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes::<8>(at, "uint64")?))
    }

    /// The 4-byte file identifier (bytes 4..8), if the buffer is long enough.
    pub fn identifier(&self) -> Option<[u8; 4]> {
        self.bytes::<4>(4, "file identifier").ok()
    }

    /// The root table (a `uoffset` at byte 0).
    pub fn root(&self) -> Result<Table> {
        let off = self.u32_at(0)?;
        self.table(u64::from(off))
    }

    /// The table at `pos`: its `soffset` leads to the vtable, whose size and object size are
    /// checked against the buffer.
    pub fn table(&self, pos: u64) -> Result<Table> {
        self.step()?;
        let soff = self.i32_at(pos)?;
        let vtable = i128::from(pos)
            .checked_sub(i128::from(soff))
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| {
                invalid(
                    pos,
                    format!("table vtable offset {soff} points before the buffer"),
                )
            })?;
        Self::aligned(pos, 4, "table")?;
        Self::aligned(vtable, 2, "vtable")?;
        let vtable_len = self.u16_at(vtable)?;
        if !vtable_len.is_multiple_of(2) {
            return Err(invalid(vtable, format!("vtable size {vtable_len} is odd")));
        }
        if vtable.saturating_add(u64::from(vtable_len)) > self.len() {
            return Err(oob(vtable, u64::from(vtable_len), "vtable"));
        }
        // The verifier does not check the object size the vtable declares (fields are checked
        // against the buffer one by one), so neither does this reader.
        let object_len = if vtable_len >= 4 {
            self.u16_at(vtable.saturating_add(2))?
        } else {
            0
        };
        Ok(Table {
            pos,
            vtable,
            vtable_len,
            object_len,
        })
    }

    /// The verifier's alignment rule: an item of `align` bytes sits at a multiple of `align`
    /// from the start of the buffer.
    fn aligned(at: u64, align: u64, what: &'static str) -> Result<()> {
        if align > 1 && !at.is_multiple_of(align) {
            return Err(invalid(
                at,
                format!("{what} is not aligned to {align} bytes"),
            ));
        }
        Ok(())
    }

    /// Where field `id` of `t` is stored, if present, after checking that its `size` bytes lie
    /// inside the buffer.
    pub fn field(&self, t: &Table, id: u16, size: u16) -> Result<Option<u64>> {
        let slot = id.checked_mul(2).and_then(|s| s.checked_add(4));
        let Some(slot) = slot.filter(|s| s.checked_add(2).is_some_and(|e| e <= t.vtable_len))
        else {
            return Ok(None);
        };
        let off = self.u16_at(t.vtable.saturating_add(u64::from(slot)))?;
        if off == 0 {
            return Ok(None);
        }
        // The verifier checks a field against the buffer, not against its object's declared
        // size (loaders read it wherever the vtable says), and so does this reader.
        let at = t.pos.saturating_add(u64::from(off));
        if at.saturating_add(u64::from(size)) > self.len() {
            return Err(oob(at, u64::from(size), "table field"));
        }
        Self::aligned(at, u64::from(size), "table field")?;
        Ok(Some(at))
    }

    /// For a table whose schema the caller does not know field by field (TFLite's builtin
    /// options): every field its vtable lists starts inside the buffer.
    pub fn fields_in_buffer(&self, t: &Table) -> Result<()> {
        let slots = t.vtable_len.saturating_sub(4) / 2;
        for id in 0..slots {
            self.field(t, id, 1)?;
        }
        Ok(())
    }

    pub fn field_u8(&self, t: &Table, id: u16, default: u8) -> Result<u8> {
        self.field(t, id, 1)?
            .map_or(Ok(default), |at| self.u8_at(at))
    }
    pub fn field_i8(&self, t: &Table, id: u16, default: i8) -> Result<i8> {
        self.field(t, id, 1)?.map_or(Ok(default), |at| {
            Ok(i8::from_le_bytes(self.bytes::<1>(at, "int8")?))
        })
    }
    pub fn field_u32(&self, t: &Table, id: u16, default: u32) -> Result<u32> {
        self.field(t, id, 4)?
            .map_or(Ok(default), |at| self.u32_at(at))
    }
    pub fn field_i32(&self, t: &Table, id: u16, default: i32) -> Result<i32> {
        self.field(t, id, 4)?
            .map_or(Ok(default), |at| self.i32_at(at))
    }
    pub fn field_u64(&self, t: &Table, id: u16, default: u64) -> Result<u64> {
        self.field(t, id, 8)?
            .map_or(Ok(default), |at| self.u64_at(at))
    }
    pub fn field_i64(&self, t: &Table, id: u16, default: i64) -> Result<i64> {
        self.field(t, id, 8)?.map_or(Ok(default), |at| {
            Ok(i64::from_le_bytes(self.bytes::<8>(at, "int64")?))
        })
    }

    /// Follows the `uoffset` stored at `at`.
    fn follow(&self, at: u64) -> Result<u64> {
        let off = self.u32_at(at)?;
        let target = at.saturating_add(u64::from(off));
        if target >= self.len() {
            return Err(oob(target, 1, "offset target"));
        }
        Ok(target)
    }

    /// Field `id` of `t` as a table.
    pub fn field_table(&self, t: &Table, id: u16) -> Result<Option<Table>> {
        match self.field(t, id, 4)? {
            None => Ok(None),
            Some(at) => self.table(self.follow(at)?).map(Some),
        }
    }

    /// The vector whose length prefix is at `pos`, of elements of `elem_size` bytes.
    pub fn vector_at(&self, pos: u64, elem_size: u64) -> Result<Vector> {
        Self::aligned(pos, 4, "vector")?;
        let len = self.u32_at(pos)?;
        let start = pos.saturating_add(4);
        let v = Vector {
            pos: start,
            len,
            elem_size,
        };
        if v.end() > self.len() || u64::from(len).checked_mul(elem_size).is_none() {
            return Err(oob(start, v.byte_len(), "vector"));
        }
        Ok(v)
    }

    /// Field `id` of `t` as a vector of `elem_size`-byte elements.
    pub fn field_vector(&self, t: &Table, id: u16, elem_size: u64) -> Result<Option<Vector>> {
        match self.field(t, id, 4)? {
            None => Ok(None),
            Some(at) => self.vector_at(self.follow(at)?, elem_size).map(Some),
        }
    }

    fn element(&self, v: &Vector, i: u32) -> Result<u64> {
        if i >= v.len {
            return Err(invalid(
                v.pos,
                format!("element {i} of a {}-element vector", v.len),
            ));
        }
        self.step()?;
        Ok(v.pos
            .saturating_add(u64::from(i).saturating_mul(v.elem_size)))
    }

    /// Element `i` of a vector of tables.
    pub fn vec_table(&self, v: &Vector, i: u32) -> Result<Table> {
        let at = self.element(v, i)?;
        self.table(self.follow(at)?)
    }

    /// Element `i` of a vector of strings.
    pub fn vec_string(&self, v: &Vector, i: u32, max: usize) -> Result<FbString> {
        let at = self.element(v, i)?;
        self.string_at(self.follow(at)?, max)
    }

    pub fn vec_u32(&self, v: &Vector, i: u32) -> Result<u32> {
        let at = self.element(v, i)?;
        self.u32_at(at)
    }

    pub fn vec_i32(&self, v: &Vector, i: u32) -> Result<i32> {
        let at = self.element(v, i)?;
        self.i32_at(at)
    }

    /// The string whose length prefix is at `pos`; at most `max` bytes are read into memory.
    pub fn string_at(&self, pos: u64, max: usize) -> Result<FbString> {
        let v = self.vector_at(pos, 1)?;
        // The verifier requires the terminating NUL inside the buffer.
        if self.u8_at(v.end())? != 0 {
            return Err(invalid(v.end(), "string is not NUL-terminated"));
        }
        let take = usize::try_from(v.len).unwrap_or(usize::MAX).min(max);
        let mut buf = vec![0u8; take];
        self.src.read_into(v.pos, &mut buf)?;
        Ok(FbString {
            len: v.len,
            text: String::from_utf8_lossy(&buf).into_owned(),
            complete: take as u64 == u64::from(v.len),
        })
    }

    /// Field `id` of `t` as a string (at most `max` bytes read).
    pub fn field_string(&self, t: &Table, id: u16, max: usize) -> Result<Option<FbString>> {
        match self.field(t, id, 4)? {
            None => Ok(None),
            Some(at) => self.string_at(self.follow(at)?, max).map(Some),
        }
    }

    /// A union stored as field `type_id` (the `u8` type tag) and `type_id + 1` (the table).
    /// Returns the tag and the table when both are present.
    pub fn field_union(&self, t: &Table, type_id: u16) -> Result<Option<(u8, Table)>> {
        let tag = self.field_u8(t, type_id, 0)?;
        if tag == 0 {
            return Ok(None);
        }
        let Some(value_id) = type_id.checked_add(1) else {
            return Ok(None);
        };
        Ok(self.field_table(t, value_id)?.map(|tb| (tag, tb)))
    }
}

/// FlexBuffers (the schema-less sibling format TFLite uses for custom-op options): the first
/// `max` elements of the root vector read as strings the way `flexbuffers::Reference::AsString`
/// reads them (an element that is not a string reads as the empty string). Every read is checked;
/// the C++ reader checks nothing, so what this refuses, an unverified loader reads out of bounds.
pub fn flex_root_strings(buf: &[u8], max: usize) -> Result<Vec<Vec<u8>>> {
    const FBT_STRING: u8 = 5;
    const FBT_VECTOR: u8 = 10;
    const FBT_VECTOR_STRING_DEPRECATED: u8 = 15;
    let len = buf.len() as u64;
    let byte = |at: u64| -> Result<u8> {
        usize::try_from(at)
            .ok()
            .and_then(|i| buf.get(i).copied())
            .ok_or_else(|| oob(at, 1, "flexbuffer"))
    };
    let uint = |at: u64, width: u64| -> Result<u64> {
        let mut v: u64 = 0;
        for i in (0..width.min(8)).rev() {
            v = (v << 8)
                | u64::from(byte(
                    at.checked_add(i)
                        .ok_or_else(|| oob(at, width, "flexbuffer"))?,
                )?);
        }
        Ok(v)
    };
    // Root: the last byte is its width, the one before its packed type, the value before that.
    let root_width = u64::from(byte(
        len.checked_sub(1)
            .ok_or_else(|| oob(0, 1, "flexbuffer root"))?,
    )?);
    let root_type = byte(
        len.checked_sub(2)
            .ok_or_else(|| oob(0, 2, "flexbuffer root"))?,
    )?;
    if !matches!(root_width, 1 | 2 | 4 | 8) {
        return Err(invalid(
            len.saturating_sub(1),
            format!("flexbuffer root width {root_width}"),
        ));
    }
    let root = len
        .checked_sub(2)
        .and_then(|l| l.checked_sub(root_width))
        .ok_or_else(|| oob(0, root_width, "flexbuffer root"))?;
    let (ty, width) = (root_type >> 2, 1u64 << (root_type & 3));
    if ty != FBT_VECTOR && ty != FBT_VECTOR_STRING_DEPRECATED {
        return Err(invalid(
            root,
            format!("flexbuffer root of type {ty}, not a vector"),
        ));
    }
    let indirect = |at: u64, parent_width: u64| -> Result<u64> {
        at.checked_sub(uint(at, parent_width)?)
            .ok_or_else(|| invalid(at, "flexbuffer offset points before the buffer"))
    };
    let vec = indirect(root, root_width)?;
    let count = uint(
        vec.checked_sub(width)
            .ok_or_else(|| oob(vec, width, "flexbuffer vector"))?,
        width,
    )?;
    let mut out = Vec::new();
    for i in 0..count.min(max as u64) {
        let elem = i
            .checked_mul(width)
            .and_then(|o| vec.checked_add(o))
            .ok_or_else(|| oob(vec, width, "flexbuffer element"))?;
        let packed = if ty == FBT_VECTOR {
            // Untyped vector: one packed-type byte per element after the elements.
            let types = count
                .checked_mul(width)
                .and_then(|o| vec.checked_add(o))
                .and_then(|t| t.checked_add(i))
                .ok_or_else(|| oob(vec, count, "flexbuffer types"))?;
            byte(types)?
        } else {
            // Deprecated typed vector of strings: each element a string of the vector's width.
            (FBT_STRING << 2) | (root_type & 3)
        };
        if packed >> 2 != FBT_STRING {
            out.push(Vec::new());
            continue;
        }
        let str_width = 1u64 << (packed & 3);
        let at = indirect(elem, width)?;
        let size = uint(
            at.checked_sub(str_width)
                .ok_or_else(|| oob(at, str_width, "flexbuffer string"))?,
            str_width,
        )?;
        let end = at
            .checked_add(size)
            .filter(|e| *e <= len)
            .ok_or_else(|| oob(at, size, "flexbuffer string"))?;
        let s = usize::try_from(at).ok().zip(usize::try_from(end).ok());
        let bytes = s
            .and_then(|(a, e)| buf.get(a..e))
            .ok_or_else(|| oob(at, size, "flexbuffer string"))?;
        out.push(bytes.to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )]
    use super::*;

    /// A hand-built buffer: root table with a u32 field (id 0, value 7), a string field (id 1,
    /// "hi") and a vector of two u32 (id 2).
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&12u32.to_le_bytes()); // root -> table at 12
        b.extend_from_slice(b"TEST");
        // vtable at 8? It must come before the table here: vtable at 4 would overlap the id.
        // Layout: [0] root, [4] id, [8..12] pad, [12] table, vtable after the table.
        b.extend_from_slice(&[0, 0, 0, 0]);
        // table at 12: soffset = 12 - 28 = -16, fields at +4 (u32), +8 (string off), +12 (vec off)
        b.extend_from_slice(&(-16i32).to_le_bytes());
        b.extend_from_slice(&7u32.to_le_bytes()); // 16
        b.extend_from_slice(&20u32.to_le_bytes()); // 20 -> 40
        b.extend_from_slice(&24u32.to_le_bytes()); // 24 -> 48
                                                   // vtable at 28: len 10, object 16, fields 4, 8, 12
        for v in [10u16, 16, 4, 8, 12] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0, 0]); // 38
        b.extend_from_slice(&2u32.to_le_bytes()); // 40 string len
        b.extend_from_slice(b"hi\0\0"); // 44
        b.extend_from_slice(&2u32.to_le_bytes()); // 48 vec len
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&6u32.to_le_bytes());
        b
    }

    #[test]
    fn reads_fields() {
        let b = sample();
        let s = b.as_slice();
        let r = Reader::new(&s, 1000);
        assert_eq!(r.identifier(), Some(*b"TEST"));
        let t = r.root().unwrap();
        assert_eq!(r.field_u32(&t, 0, 0).unwrap(), 7);
        assert_eq!(r.field_string(&t, 1, 100).unwrap().unwrap().text, "hi");
        let v = r.field_vector(&t, 2, 4).unwrap().unwrap();
        assert_eq!(
            (r.vec_u32(&v, 0).unwrap(), r.vec_u32(&v, 1).unwrap()),
            (5, 6)
        );
        assert!(r.vec_u32(&v, 2).is_err());
        // Absent fields take their defaults.
        assert_eq!(r.field_u32(&t, 9, 3).unwrap(), 3);
        assert!(r.field_table(&t, 9).unwrap().is_none());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = sample();
        for n in 0..b.len() {
            let s = &b[..n];
            let r = Reader::new(&s, 1000);
            let res = r.root().and_then(|t| {
                r.field_u32(&t, 0, 0)?;
                r.field_string(&t, 1, 100)?;
                let v = r.field_vector(&t, 2, 4)?;
                if let Some(v) = v {
                    r.vec_u32(&v, 1)?;
                }
                Ok(())
            });
            assert!(res.is_err(), "truncated at {n} must fail");
        }
    }

    #[test]
    fn bad_vtables_and_strings() {
        let mut b = sample();
        b[28] = 3; // odd vtable size
        assert!(matches!(
            Reader::new(&b.as_slice(), 10).root(),
            Err(FbError::Invalid { .. })
        ));
        let mut b = sample();
        b[12..16].copy_from_slice(&(100i32).to_le_bytes()); // vtable before the buffer
        assert!(Reader::new(&b.as_slice(), 10).root().is_err());
        let mut b = sample();
        b[46] = b'x'; // string loses its NUL
        let s = b.as_slice();
        let r = Reader::new(&s, 10);
        let t = r.root().unwrap();
        assert!(r.field_string(&t, 1, 10).is_err());
        let mut b = sample();
        b[48..52].copy_from_slice(&u32::MAX.to_le_bytes()); // huge vector
        let s = b.as_slice();
        let r = Reader::new(&s, 10);
        let t = r.root().unwrap();
        assert!(r.field_vector(&t, 2, 4).is_err());
        let mut b = sample();
        b[32..34].copy_from_slice(&60u16.to_le_bytes()); // field past the end of the buffer
        let s = b.as_slice();
        let r = Reader::new(&s, 10);
        let t = r.root().unwrap();
        assert!(r.field_u32(&t, 0, 0).is_err());
    }

    #[test]
    fn budget_is_enforced() {
        let b = sample();
        let s = b.as_slice();
        let r = Reader::new(&s, 1);
        let t = r.root().unwrap();
        let v = r.field_vector(&t, 2, 4).unwrap().unwrap();
        assert_eq!(r.vec_u32(&v, 0), Err(FbError::Budget { steps: 1 }));
    }

    #[test]
    fn paged_source_matches_slice() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let p = Paged::new(data.len() as u64, |at, n| {
            let s = usize::try_from(at).unwrap().min(data.len());
            Ok(data[s..(s + n).min(data.len())].to_vec())
        });
        let mut a = [0u8; 300];
        p.read_into(65_400, &mut a).unwrap();
        assert_eq!(&a[..], &data[65_400..65_700]);
        let r = Reader::new(&p, 10);
        assert!(r.bytes::<8>(199_996, "x").is_err());
        assert_eq!(
            r.u32_at(131_070).unwrap(),
            u32::from_le_bytes(data[131_070..131_074].try_into().unwrap())
        );
    }

    #[test]
    fn flexbuffer_vector_of_strings() {
        // flexbuffers.Builder: Vector([String("WriteFile"), String("\n\x01n\x12\x04NoOp")]).
        let b = hex_bytes("09577269746546696c6500090a016e12044e6f4f700002160c1414042801");
        let v = flex_root_strings(&b, 4).unwrap();
        assert_eq!(
            v,
            vec![b"WriteFile".to_vec(), b"\n\x01n\x12\x04NoOp".to_vec()]
        );
        for n in 0..b.len() {
            // Cut from the front: offsets now point elsewhere or out of the buffer; never a panic.
            let _ = flex_root_strings(&b[n..], 4);
            let _ = flex_root_strings(&b[..n], 4);
        }
        assert!(flex_root_strings(&[0xff, 0xff, 0xff, 0x28, 0x01], 4).is_err());
    }

    fn hex_bytes(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }
}
