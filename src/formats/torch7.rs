#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Lua Torch7 files (`.t7`, `torch.save`), read the way torch7's `File.lua` `readObject` reads
//! them: a type tag (nil 0, number 1, string 2, table 3, torch object 4, boolean 5, function 6,
//! legacy recursive function 7, recursive function 8), then the value. Tables, torch objects and
//! recursive functions carry an index, and a repeated index is a reference to an object read
//! before. A torch object names its class (`torch.factory(className)` instantiates it) after an
//! optional `V <version>` string; tensors and storages then read their own layout (dimensions,
//! sizes, strides and offset as longs, then the storage; a storage's element count, then its raw
//! elements), every other class a table of fields. A function is Lua byte code that
//! `loadstring` turns into a function, with its upvalues: unverified byte code is loaded on read
//! and runs when called.
//!
//! Two encodings: `binary` (native little-endian ints, doubles and longs; longs are 8 bytes, or
//! 4 for files written with `longSize(4)`, both are tried) and `ascii` (numbers as text, strings
//! as raw bytes, each element followed by one optional newline). Nothing is allocated from
//! declared sizes; nesting is bounded by [`MAX_DEPTH`].

use std::collections::BTreeMap;
use std::io::{BufRead, Seek, SeekFrom};

use super::cursor::{ByteCursor, CursorError};

/// Deepest nesting read; callers run [`parse`] on a thread with [`READ_STACK`] bytes of stack.
pub const MAX_DEPTH: usize = 2_000;
/// Stack a thread needs for [`MAX_DEPTH`] levels.
pub const READ_STACK: usize = 64 * 1024 * 1024;
/// Functions and classes recorded per file (counted beyond).
pub const MAX_RECORDS: usize = 10_000;
const KEEP_STRING: usize = 256;

/// How numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Binary { long_size: u8 },
    Ascii,
}

/// A serialized Lua function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub offset: u64,
    /// The type tag (6, 7 or 8).
    pub tag: i32,
    pub bytecode_len: u64,
    /// `Lua 5.1`, `LuaJIT`, or `unknown` from the dump's header.
    pub dialect: &'static str,
    /// Printable strings in the byte code (constants: names of globals and fields, literals).
    pub strings: Vec<String>,
}

/// What a file holds, as far as it was read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub encoding: Option<Encoding>,
    pub functions: Vec<Function>,
    /// Torch classes instantiated, with how many times.
    pub classes: BTreeMap<String, u64>,
    pub functions_dropped: u64,
    pub objects: u64,
}

/// Why a file could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum T7Error {
    #[error("the file ends at byte {0} in the middle of an object")]
    Truncated(u64),
    #[error("at byte {offset}: {what}")]
    Invalid { offset: u64, what: String },
    #[error("objects are nested deeper than {MAX_DEPTH} levels; the rest was not read")]
    TooDeep,
    #[error("read error: {0}")]
    Io(String),
}

impl From<CursorError> for T7Error {
    fn from(e: CursorError) -> Self {
        match e {
            CursorError::Truncated(at) => T7Error::Truncated(at),
            CursorError::Io(e) => T7Error::Io(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub file: File,
    pub error: Option<T7Error>,
    /// Bytes after the top-level object (torch.load reads one object and ignores the rest).
    pub trailing: u64,
}

/// Whether `head` starts like a `torch.save` file: a torch object (`4, 1, n, "V …"`) or a table
/// (`3, 1, size`, then a string or number key) in binary, or a torch object in text (a text
/// table looks like any list of numbers: those are recognised by the `.t7` name only).
pub fn looks_like_t7(head: &[u8]) -> bool {
    let int = |i: usize| {
        head.get(i..i.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_le_bytes)
    };
    let binary_object = int(0) == Some(4) && int(4) == Some(1) && {
        let n = int(8).unwrap_or(0);
        (1..=64).contains(&n) && head.get(12..14) == Some(b"V ".as_slice())
            || (1..=64).contains(&n) && head.get(12..18) == Some(b"torch.".as_slice())
            || (1..=64).contains(&n) && head.get(12..15) == Some(b"nn.".as_slice())
    };
    let binary_table = int(0) == Some(3)
        && int(4) == Some(1)
        && int(8).is_some_and(|n| (0..1 << 24).contains(&n))
        && matches!(int(12), Some(1 | 2));
    let ascii = head.starts_with(b"4\n1\n") && {
        let rest = head.get(4..).unwrap_or_default();
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && rest.get(digits..digits.saturating_add(3)) == Some(b"\nV ".as_slice())
    };
    binary_object || binary_table || ascii
}

/// Reads the top-level object of a file of `len` bytes: binary with 8-byte longs, then binary
/// with 4-byte longs, then text; the first reading that ends without an error (or else the one
/// that read most) is returned.
pub fn parse<R: BufRead + Seek>(mut src: R, len: u64) -> Parsed {
    let mut best: Option<Parsed> = None;
    for enc in [
        Encoding::Binary { long_size: 8 },
        Encoding::Binary { long_size: 4 },
        Encoding::Ascii,
    ] {
        if src.seek(SeekFrom::Start(0)).is_err() {
            break;
        }
        let p = Reader::new(&mut src, len, enc).run();
        if p.error.is_none() {
            return p;
        }
        if best
            .as_ref()
            .is_none_or(|b| p.file.objects > b.file.objects)
        {
            best = Some(p);
        }
    }
    best.unwrap_or(Parsed {
        file: File::default(),
        error: Some(T7Error::Truncated(0)),
        trailing: 0,
    })
}

struct Reader<'a, R> {
    cur: ByteCursor<'a, R>,
    enc: Encoding,
    seen: std::collections::HashSet<i32>,
    out: File,
    depth: usize,
}

type Res<T> = Result<T, T7Error>;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The element size of a tensor or storage class (`torch.FloatTensor` → 4), if it is one.
pub fn element_size(class: &str) -> Option<(bool, u64)> {
    let name = class
        .strip_prefix("torch.Cuda")
        .or_else(|| class.strip_prefix("torch."))?;
    let (kind, tensor) = if let Some(k) = name.strip_suffix("Tensor") {
        (k, true)
    } else {
        (name.strip_suffix("Storage")?, false)
    };
    let size = match kind {
        "Byte" | "Char" => 1,
        "Short" | "Half" => 2,
        "Int" | "Float" | "" => 4,
        "Long" | "Double" => 8,
        _ => return None,
    };
    Some((tensor, size))
}

impl<'a, R: BufRead + Seek> Reader<'a, R> {
    fn new(src: &'a mut R, len: u64, enc: Encoding) -> Self {
        Self {
            cur: ByteCursor::new(src, len),
            enc,
            seen: std::collections::HashSet::new(),
            out: File::default(),
            depth: 0,
        }
    }

    fn run(mut self) -> Parsed {
        self.out.encoding = Some(self.enc);
        let error = self.object().err();
        let trailing = if error.is_none() {
            self.cur.remaining()
        } else {
            0
        };
        Parsed {
            file: self.out,
            error,
            trailing,
        }
    }

    fn invalid(&self, what: impl Into<String>) -> T7Error {
        T7Error::Invalid {
            offset: self.cur.pos(),
            what: what.into(),
        }
    }

    fn need(&mut self) -> Res<u8> {
        Ok(self.cur.need()?)
    }

    fn exact<const N: usize>(&mut self) -> Res<[u8; N]> {
        Ok(self.cur.exact()?)
    }

    fn skip(&mut self, n: u64) -> Res<()> {
        Ok(self.cur.skip(n)?)
    }

    /// The autospacing of torch's text mode: one newline after an element is consumed.
    fn eat_newline(&mut self) -> Res<()> {
        self.cur.next_if(|b| b == b'\n')?;
        Ok(())
    }

    /// A text number (`fscanf` skips leading white space).
    fn word(&mut self) -> Res<String> {
        let mut c = self.need()?;
        while is_space(c) {
            c = self.need()?;
        }
        let mut w = vec![c];
        loop {
            let room = w.len() < 64;
            match self.cur.next_if(|n| !is_space(n) && room)? {
                Some(n) => w.push(n),
                None => break,
            }
        }
        self.eat_newline()?;
        Ok(String::from_utf8_lossy(&w).into_owned())
    }

    fn int(&mut self) -> Res<i64> {
        match self.enc {
            Encoding::Binary { .. } => Ok(i64::from(i32::from_le_bytes(self.exact::<4>()?))),
            Encoding::Ascii => {
                let w = self.word()?;
                w.parse::<i64>()
                    .map_err(|_| self.invalid(format!("{w:?} is not an integer")))
            }
        }
    }

    fn long(&mut self) -> Res<i64> {
        match self.enc {
            Encoding::Binary { long_size: 4 } => {
                Ok(i64::from(i32::from_le_bytes(self.exact::<4>()?)))
            }
            Encoding::Binary { .. } => Ok(i64::from_le_bytes(self.exact::<8>()?)),
            Encoding::Ascii => self.int(),
        }
    }

    fn double(&mut self) -> Res<()> {
        match self.enc {
            Encoding::Binary { .. } => self.skip(8),
            Encoding::Ascii => self.word().map(drop),
        }
    }

    /// `readChar(n)`: `n` raw bytes (the first [`KEEP_STRING`] kept).
    fn chars(&mut self, n: i64) -> Res<Vec<u8>> {
        let n = u64::try_from(n).map_err(|_| self.invalid(format!("negative length {n}")))?;
        let keep = n.min(KEEP_STRING as u64);
        let mut kept = Vec::new();
        for _ in 0..keep {
            kept.push(self.need()?);
        }
        self.skip(n.saturating_sub(keep))?;
        if self.enc == Encoding::Ascii {
            self.eat_newline()?;
        }
        Ok(kept)
    }

    fn enter(&mut self) -> Res<()> {
        self.depth = self.depth.saturating_add(1);
        self.out.objects = self.out.objects.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(T7Error::TooDeep);
        }
        Ok(())
    }

    /// `readObject`.
    fn object(&mut self) -> Res<()> {
        self.enter()?;
        let r = self.object_inner();
        self.depth = self.depth.saturating_sub(1);
        r
    }

    fn object_inner(&mut self) -> Res<()> {
        let offset = self.cur.pos();
        let tag = self.int()?;
        match tag {
            0 => Ok(()),
            1 => self.double(),
            5 => self.int().map(drop),
            2 => {
                let n = self.int()?;
                self.chars(n).map(drop)
            }
            6 => self.function(offset, 6),
            3 | 4 | 7 | 8 => {
                let index = self.int()?;
                let index = i32::try_from(index).map_err(|_| self.invalid("index out of range"))?;
                // A repeated index refers to an object already read.
                if !self.seen.insert(index) {
                    return Ok(());
                }
                match tag {
                    7 | 8 => self.function(offset, i32::try_from(tag).unwrap_or(8)),
                    4 => self.torch_object(),
                    _ => {
                        let size = self.int()?;
                        if size < 0 {
                            return Err(self.invalid(format!("table of {size} entries")));
                        }
                        for _ in 0..size {
                            self.object()?; // key
                            self.object()?; // value
                        }
                        Ok(())
                    }
                }
            }
            other => Err(self.invalid(format!("unknown object type {other}"))),
        }
    }

    fn function(&mut self, offset: u64, tag: i32) -> Res<()> {
        let n = self.int()?;
        let len = u64::try_from(n).map_err(|_| self.invalid(format!("negative length {n}")))?;
        let code = self.chars_all(len)?;
        let dialect = if code.starts_with(b"\x1bLJ") {
            "LuaJIT"
        } else if code.starts_with(b"\x1bLua") {
            "Lua 5.x"
        } else {
            "unknown"
        };
        if self.out.functions.len() < MAX_RECORDS {
            self.out.functions.push(Function {
                offset,
                tag,
                bytecode_len: len,
                dialect,
                strings: printable_strings(&code),
            });
        } else {
            self.out.functions_dropped = self.out.functions_dropped.saturating_add(1);
        }
        self.object() // upvalues
    }

    /// The byte code, up to 1 MiB kept for its strings; the rest skipped.
    fn chars_all(&mut self, n: u64) -> Res<Vec<u8>> {
        const KEEP: u64 = 1 << 20;
        let keep = n.min(KEEP);
        let mut v = Vec::new();
        for _ in 0..keep {
            v.push(self.need()?);
        }
        self.skip(n.saturating_sub(keep))?;
        if self.enc == Encoding::Ascii {
            self.eat_newline()?;
        }
        Ok(v)
    }

    fn torch_object(&mut self) -> Res<()> {
        let n = self.int()?;
        let version = self.chars(n)?;
        let class = if version.starts_with(b"V ") {
            let n = self.int()?;
            self.chars(n)?
        } else {
            version
        };
        let class = String::from_utf8_lossy(&class).into_owned();
        if self.out.classes.len() < MAX_RECORDS || self.out.classes.contains_key(&class) {
            let c = self.out.classes.entry(class.clone()).or_default();
            *c = c.saturating_add(1);
        }
        match element_size(&class) {
            Some((true, _)) => {
                // Tensor:read: nDimension, sizes, strides, storage offset, storage.
                let dims = self.int()?;
                if !(0..=64).contains(&dims) {
                    return Err(self.invalid(format!("tensor with {dims} dimensions")));
                }
                for _ in 0..dims.saturating_mul(2).saturating_add(1) {
                    self.long()?;
                }
                self.object()
            }
            Some((false, elem)) => {
                // Storage:read: element count, then the elements.
                let size = self.long()?;
                let size = u64::try_from(size)
                    .map_err(|_| self.invalid(format!("storage of {size} elements")))?;
                match self.enc {
                    Encoding::Binary { .. } => self.skip(
                        size.checked_mul(elem)
                            .ok_or_else(|| self.invalid("storage size overflows"))?,
                    ),
                    Encoding::Ascii => {
                        if size > self.cur.remaining() {
                            return Err(T7Error::Truncated(self.cur.end()));
                        }
                        if class.contains("Char") || class.contains("Byte") {
                            self.chars(i64::try_from(size).unwrap_or(i64::MAX))
                                .map(drop)
                        } else {
                            for _ in 0..size {
                                self.word()?;
                            }
                            Ok(())
                        }
                    }
                }
            }
            None => self.object(), // the fields table
        }
    }
}

/// Runs of four or more printable ASCII bytes (Lua byte code keeps its constants as plain
/// strings), at most 64 of them.
fn printable_strings(code: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for run in code.split(|b| !(0x20..0x7f).contains(b)) {
        if run.len() >= 4 {
            out.push(String::from_utf8_lossy(run).into_owned());
            if out.len() >= 64 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn int(v: &mut Vec<u8>, x: i32) {
        v.extend_from_slice(&x.to_le_bytes());
    }

    fn string(v: &mut Vec<u8>, s: &[u8]) {
        int(v, 2);
        int(v, i32::try_from(s.len()).unwrap());
        v.extend_from_slice(s);
    }

    fn read(b: &[u8]) -> Parsed {
        parse(Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn tensors_tables_and_functions_are_read() {
        let mut v = Vec::new();
        // {weight = torch.FloatTensor(2) , f = <function>}
        int(&mut v, 3);
        int(&mut v, 1);
        int(&mut v, 2);
        string(&mut v, b"weight");
        int(&mut v, 4);
        int(&mut v, 2);
        int(&mut v, 3);
        v.extend_from_slice(b"V 1");
        int(&mut v, 17);
        v.extend_from_slice(b"torch.FloatTensor");
        int(&mut v, 1);
        v.extend_from_slice(&2i64.to_le_bytes()); // size
        v.extend_from_slice(&1i64.to_le_bytes()); // stride
        v.extend_from_slice(&1i64.to_le_bytes()); // offset
        int(&mut v, 4);
        int(&mut v, 3);
        int(&mut v, 3);
        v.extend_from_slice(b"V 1");
        int(&mut v, 18);
        v.extend_from_slice(b"torch.FloatStorage");
        v.extend_from_slice(&2i64.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        string(&mut v, b"f");
        int(&mut v, 8);
        int(&mut v, 4);
        int(&mut v, 17);
        v.extend_from_slice(b"\x1bLJ\x02os.execute\0\0\0");
        int(&mut v, 3);
        int(&mut v, 5);
        int(&mut v, 0);
        assert!(looks_like_t7(&v));
        let p = read(&v);
        assert_eq!(p.error, None, "{p:?}");
        assert_eq!(p.file.classes.get("torch.FloatTensor"), Some(&1));
        assert_eq!(p.file.functions.len(), 1);
        assert_eq!(p.file.functions[0].dialect, "LuaJIT");
        assert!(p.file.functions[0]
            .strings
            .iter()
            .any(|s| s.contains("execute")));
        let cut = &v[..v.len() - 3];
        assert!(read(cut).error.is_some());
    }

    #[test]
    fn element_sizes() {
        assert_eq!(element_size("torch.FloatTensor"), Some((true, 4)));
        assert_eq!(element_size("torch.CudaTensor"), Some((true, 4)));
        assert_eq!(element_size("torch.LongStorage"), Some((false, 8)));
        assert_eq!(element_size("nn.Linear"), None);
    }
}
