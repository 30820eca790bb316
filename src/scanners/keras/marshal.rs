//! A reader for the header of a marshalled Python code object — the bytes Keras's `func_dump`
//! stores (base64) for a Lambda layer. It never executes or unmarshals into Python objects: it
//! walks the marshal stream and keeps the strings that identify the function (name, qualified
//! name, file name) and the names it refers to (globals, attributes, constants), so that a
//! finding can say *what* the lambda would do.
//!
//! The code-object layout differs between Python versions; the reader accepts the 3.8–3.10
//! layout (6 leading integers), the 3.11+ layout and the 3.0–3.7 layout (5 integers), telling the
//! latter two apart by what follows the `names` tuple. Every count and length is checked against
//! the bytes that remain, recursion is capped, and the number of objects is bounded.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// What could be learnt from a code object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeSummary {
    /// `co_name`.
    pub name: Option<String>,
    /// `co_qualname` (3.11+).
    pub qualname: Option<String>,
    /// `co_filename`.
    pub filename: Option<String>,
    /// `co_firstlineno`.
    pub first_line: Option<i64>,
    /// Global and attribute names used by the code (`co_names`, including nested code objects).
    pub names: Vec<String>,
    /// String constants (including nested code objects), truncated.
    pub strings: Vec<String>,
}

const MAX_DEPTH: u32 = 48;
const MAX_OBJECTS: u32 = 200_000;
const MAX_KEPT: usize = 256;
const MAX_STRING: usize = 200;

#[derive(Debug)]
pub struct MarshalError(pub &'static str);

#[derive(Debug, Clone)]
enum Obj {
    Str(String),
    Tuple(Vec<Obj>),
    Code(Box<CodeSummary>),
    Bytes,
    Other,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    objects: u32,
    refs: Vec<Obj>,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, MarshalError> {
        let b = *self.data.get(self.pos).ok_or(MarshalError("truncated"))?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MarshalError> {
        let end = self.pos.checked_add(n).ok_or(MarshalError("overflow"))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(MarshalError("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn i32(&mut self) -> Result<i32, MarshalError> {
        let s = self.take(4)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(s);
        Ok(i32::from_le_bytes(b))
    }

    fn len32(&mut self) -> Result<usize, MarshalError> {
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| MarshalError("negative length"))?;
        if n > self.data.len().saturating_sub(self.pos) {
            return Err(MarshalError("length past end of data"));
        }
        Ok(n)
    }

    fn text(bytes: &[u8]) -> String {
        let s = String::from_utf8_lossy(bytes);
        if s.chars().count() > MAX_STRING {
            let mut t: String = s.chars().take(MAX_STRING).collect();
            t.push('…');
            t
        } else {
            s.into_owned()
        }
    }

    fn object(&mut self, depth: u32) -> Result<Obj, MarshalError> {
        if depth > MAX_DEPTH {
            return Err(MarshalError("nesting too deep"));
        }
        self.objects = self.objects.saturating_add(1);
        if self.objects > MAX_OBJECTS {
            return Err(MarshalError("too many objects"));
        }
        let code = self.byte()?;
        let flag_ref = code & 0x80 != 0;
        let ty = code & 0x7f;
        // Reserve the reference slot before reading children, as CPython does.
        let slot = if flag_ref && self.refs.len() < 1_000_000 {
            self.refs.push(Obj::Other);
            Some(self.refs.len().saturating_sub(1))
        } else {
            None
        };
        let obj = match ty {
            b'0' | b'N' | b'F' | b'T' | b'S' | b'.' => Obj::Other,
            b'i' => {
                self.i32()?;
                Obj::Other
            }
            b'l' => {
                let n = self.i32()?;
                let digits = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
                let bytes = digits.checked_mul(2).ok_or(MarshalError("overflow"))?;
                self.take(bytes)?;
                Obj::Other
            }
            b'g' => {
                self.take(8)?;
                Obj::Other
            }
            b'y' => {
                self.take(16)?;
                Obj::Other
            }
            b'f' | b'x' => {
                let n = usize::from(self.byte()?);
                self.take(n)?;
                if ty == b'x' {
                    let m = usize::from(self.byte()?);
                    self.take(m)?;
                }
                Obj::Other
            }
            b's' => {
                let n = self.len32()?;
                self.take(n)?;
                Obj::Bytes
            }
            b't' | b'u' | b'a' | b'A' => {
                let n = self.len32()?;
                Obj::Str(Self::text(self.take(n)?))
            }
            b'z' | b'Z' => {
                let n = usize::from(self.byte()?);
                Obj::Str(Self::text(self.take(n)?))
            }
            b')' => {
                let n = usize::from(self.byte()?);
                self.seq(n, depth)?
            }
            b'(' | b'[' | b'<' | b'>' => {
                let n = self.len32()?;
                self.seq(n, depth)?
            }
            b'{' => {
                loop {
                    if self.data.get(self.pos) == Some(&b'0') {
                        self.pos = self.pos.saturating_add(1);
                        break;
                    }
                    self.object(depth.saturating_add(1))?;
                    self.object(depth.saturating_add(1))?;
                }
                Obj::Other
            }
            b'r' => {
                let i = usize::try_from(self.i32()?).map_err(|_| MarshalError("bad ref"))?;
                self.refs.get(i).cloned().ok_or(MarshalError("bad ref"))?
            }
            b':' => {
                // slice (3.14): start, stop, step
                for _ in 0..3 {
                    self.object(depth.saturating_add(1))?;
                }
                Obj::Other
            }
            b'c' => Obj::Code(Box::new(self.code(depth)?)),
            _ => return Err(MarshalError("unknown marshal type")),
        };
        if let Some(i) = slot {
            if let Some(s) = self.refs.get_mut(i) {
                *s = obj.clone();
            }
        }
        Ok(obj)
    }

    fn seq(&mut self, n: usize, depth: u32) -> Result<Obj, MarshalError> {
        // Every element takes at least one byte, so `n` is bounded by the remaining data.
        if n > self.data.len().saturating_sub(self.pos) {
            return Err(MarshalError("sequence longer than the data"));
        }
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(self.object(depth.saturating_add(1))?);
        }
        Ok(Obj::Tuple(v))
    }

    /// After the type byte `c`. Tries the known layouts on a copy of the reader.
    fn code(&mut self, depth: u32) -> Result<CodeSummary, MarshalError> {
        let start = self.pos;
        let refs = self.refs.len();
        let mut last = MarshalError("not a code object");
        for layout in [Layout::Py38, Layout::Py311, Layout::Py30] {
            self.pos = start;
            self.refs.truncate(refs);
            match self.code_layout(layout, depth) {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn code_layout(&mut self, layout: Layout, depth: u32) -> Result<CodeSummary, MarshalError> {
        let ints = match layout {
            Layout::Py38 => 6,
            Layout::Py311 | Layout::Py30 => 5,
        };
        for _ in 0..ints {
            self.i32()?;
        }
        let d = depth.saturating_add(1);
        if !matches!(self.object(d)?, Obj::Bytes) {
            return Err(MarshalError("co_code is not bytes"));
        }
        let mut out = CodeSummary::default();
        let consts = self.object(d)?;
        let names = self.object(d)?;
        collect(&consts, &mut out);
        if let Obj::Tuple(v) = &names {
            for n in v {
                if let Obj::Str(s) = n {
                    push_unique(&mut out.names, s);
                }
            }
        }
        match layout {
            Layout::Py311 => {
                self.object(d)?; // localsplusnames
                if !matches!(self.object(d)?, Obj::Bytes) {
                    return Err(MarshalError("localspluskinds is not bytes"));
                }
            }
            Layout::Py38 | Layout::Py30 => {
                self.object(d)?; // varnames
                if !matches!(self.object(d)?, Obj::Tuple(_)) {
                    return Err(MarshalError("freevars is not a tuple"));
                }
                self.object(d)?; // cellvars
            }
        }
        out.filename = as_str(self.object(d)?);
        out.name = as_str(self.object(d)?);
        if layout == Layout::Py311 {
            out.qualname = as_str(self.object(d)?);
        }
        // co_firstlineno is a raw 32-bit integer, like the leading counts.
        out.first_line = Some(i64::from(self.i32()?));
        self.object(d)?; // lnotab / linetable
        if layout == Layout::Py311 {
            self.object(d)?; // exceptiontable
        }
        if out.name.is_none() {
            return Err(MarshalError("code object without a name"));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Py38,
    Py311,
    Py30,
}

fn as_str(o: Obj) -> Option<String> {
    match o {
        Obj::Str(s) => Some(s),
        _ => None,
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if v.len() < MAX_KEPT && !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

/// Strings from constants, and everything a nested code object refers to.
fn collect(o: &Obj, out: &mut CodeSummary) {
    match o {
        Obj::Str(s) => push_unique(&mut out.strings, s),
        Obj::Tuple(v) => {
            for x in v {
                collect(x, out);
            }
        }
        Obj::Code(c) => {
            for n in &c.names {
                push_unique(&mut out.names, n);
            }
            for s in &c.strings {
                push_unique(&mut out.strings, s);
            }
            if let Some(n) = &c.name {
                push_unique(&mut out.strings, n);
            }
        }
        _ => {}
    }
}

/// Reads the code object at the start of `data` (a marshal stream).
pub fn read_code(data: &[u8]) -> Result<CodeSummary, MarshalError> {
    let mut r = Reader {
        data,
        pos: 0,
        objects: 0,
        refs: Vec::new(),
    };
    match r.object(0)? {
        Obj::Code(c) => Ok(*c),
        _ => Err(MarshalError("not a code object")),
    }
}

/// Decodes Keras's `func_dump` text (base64 with line breaks; on Windows backslashes were
/// replaced by slashes before encoding, which does not affect decoding).
pub fn decode_func_dump(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // base64(marshal.dumps((lambda x: __import__('os').system('true')).__code__)), CPython 3.11.
    const PY311: &str = "4wEAAAAAAAAAAAAAAAMAAAADAAAA80YAAACXAHQBAAAAAAAAAAAAAGQBpgEAAKsBAAAAAAAAAACgAQAAAAAAAAAAAAAAAAAAAAAAAAAAZAKmAQAAqwEAAAAAAAAAAFMAKQNO2gJvc9oEdHJ1ZSkC2gpfX2ltcG9ydF9f2gZzeXN0ZW0pAdoBeHMBAAAAIPoIPHN0cmluZz76CDxsYW1iZGE+cggAAAADAAAAcxwAAACAAI1KkHTRDBzUDBzXDCPSDCOgRtEMK9QMK4AA8wAAAAA=";

    #[test]
    fn reads_py311_lambda() {
        let raw = decode_func_dump(PY311).expect("base64");
        let c = read_code(&raw).expect("code object");
        assert_eq!(c.name.as_deref(), Some("<lambda>"));
        assert_eq!(c.filename.as_deref(), Some("<string>"));
        assert!(c.names.iter().any(|n| n == "__import__"));
        assert!(c.names.iter().any(|n| n == "system"));
        assert!(c.strings.iter().any(|s| s == "os"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(read_code(b"").is_err());
        assert!(read_code(b"\xe3\xff\xff\xff\x7f").is_err());
        assert!(read_code(&[b'(', 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
