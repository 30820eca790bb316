#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! A bounded MessagePack reader for untrusted bytes (Flax checkpoints written by
//! `flax.serialization.to_bytes`, and any `.msgpack` file).
//!
//! It accepts what `msgpack.unpackb` (msgpack-python, the reader Flax uses) accepts: every
//! type of the spec, `0xc1` refused, and, like msgpack-python's defaults (`max_str_len`,
//! `max_bin_len`, `max_array_len`, `max_map_len`, `max_ext_len` all bounded by the input
//! length), no container or payload longer than the bytes that remain. Nothing is allocated from
//! a declared length: payloads are kept as byte ranges (strings up to [`MAX_TEXT`] are decoded
//! for keys), containers grow as their elements are read, nesting stops at [`MAX_DEPTH`], and the
//! number of values read is capped by the caller's budget.
//!
//! The content is read through a positioned-read function with a small window cache, so a
//! multi-gigabyte checkpoint is walked without being loaded: array payloads are skipped by length.

use std::io;

/// Nesting limit. msgpack-python's C unpacker allows 1024 levels; Flax trees are a few levels
/// deep, and the reader and the checks recurse, so a deeper file is reported as malformed rather
/// than risk the scanning thread's stack.
pub const MAX_DEPTH: usize = 100;

/// Strings longer than this are kept as ranges without their text.
pub const MAX_TEXT: u64 = 4096;

/// A decoded value. Payloads are byte ranges of the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// A str (`text` holds it when it is at most [`MAX_TEXT`] bytes, lossily decoded).
    Str {
        at: u64,
        len: u64,
        text: Option<String>,
    },
    Bin {
        at: u64,
        len: u64,
    },
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Ext {
        code: i8,
        at: u64,
        len: u64,
    },
}

impl Value {
    /// The text of a str, or of a short bin (msgpack-numpy writes its keys as bytes, and
    /// `raw=True` readers see every str as bytes too).
    pub fn key_text(&self) -> Option<&str> {
        match self {
            Value::Str { text: Some(t), .. } => Some(t),
            _ => None,
        }
    }

    /// Map lookup by a str key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(kv) => kv
                .iter()
                .rev()
                .find(|(k, _)| k.key_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MsgpackError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A length or value runs past the end of the input.
    #[error("{what} at byte {at} needs {need} bytes, {left} remain")]
    PastEnd {
        at: u64,
        need: u64,
        left: u64,
        what: &'static str,
    },
    #[error("containers nested deeper than {max} levels at byte {at}", max = MAX_DEPTH)]
    TooDeep { at: u64 },
    #[error("byte 0x{byte:02x} at {at} is not a MessagePack type")]
    Invalid { at: u64, byte: u8 },
    #[error("more than {0} values")]
    Budget(u64),
    /// The input has bytes after the first value (msgpack-python's `unpackb` refuses this:
    /// "ExtraData").
    #[error("{0} bytes after the end of the value")]
    ExtraData(u64),
}

type ReadFn<'r> = &'r dyn Fn(u64, usize) -> io::Result<Vec<u8>>;

/// Reads one whole value from `[start, end)` of a source, refusing trailing bytes as
/// `msgpack.unpackb` does. `budget` caps the number of values.
pub fn read_value(
    read: ReadFn<'_>,
    start: u64,
    end: u64,
    budget: u64,
) -> Result<Value, MsgpackError> {
    let mut p = Parser::new(read, start, end, budget);
    let v = p.value(0)?;
    if p.pos < end {
        return Err(MsgpackError::ExtraData(end.saturating_sub(p.pos)));
    }
    Ok(v)
}

/// Reads a value from a byte slice.
pub fn read_slice(bytes: &[u8], budget: u64) -> Result<Value, MsgpackError> {
    let read = |at: u64, n: usize| -> io::Result<Vec<u8>> {
        let s = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        let e = s.saturating_add(n).min(bytes.len());
        Ok(bytes.get(s..e).unwrap_or_default().to_vec())
    };
    read_value(&read, 0, bytes.len() as u64, budget)
}

/// Whether `head` starts like a MessagePack map with a readable first key, the shape of a Flax
/// state dict (`{"params": {...}}`): a map marker with at least one entry, a str (or bin) key of
/// 1 to 255 identifier-like bytes, and the head decoding cleanly as far as it goes. `whole` says whether
/// `head` is the whole content (then it must decode completely).
pub fn looks_like_state_dict(head: &[u8], whole: bool) -> bool {
    let Some((&first, rest)) = head.split_first() else {
        return false;
    };
    let (entries, rest) = match first {
        0x81..=0x8f => (u32::from(first & 0x0f), rest),
        0xde => match rest {
            [a, b, r @ ..] => (u32::from(u16::from_be_bytes([*a, *b])), r),
            _ => return false,
        },
        0xdf => match rest {
            [a, b, c, d, r @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), r),
            _ => return false,
        },
        _ => return false,
    };
    if entries == 0 {
        return false;
    }
    // A str key, or a bin key (msgpack-numpy and `use_bin_type` writers key maps with bytes).
    let (klen, key) = match rest {
        [k @ 0xa1..=0xbf, r @ ..] => (usize::from(k & 0x1f), r),
        [0xd9 | 0xc4, n, r @ ..] => (usize::from(*n), r),
        _ => return false,
    };
    let Some(k) = key.get(..klen) else {
        return false;
    };
    if klen == 0
        || !k
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b':'))
    {
        return false;
    }
    match read_slice(head, 1_000_000) {
        Ok(_) => true,
        Err(MsgpackError::PastEnd { .. }) => !whole,
        Err(_) => false,
    }
}

/// `1 << (m - base)`: the byte width a marker encodes by its distance from the first marker of
/// its family.
fn width(m: u8, base: u8) -> usize {
    1usize
        .checked_shl(u32::from(m.saturating_sub(base)))
        .unwrap_or(0)
}

/// Window size of the read cache.
const WINDOW: usize = 64 * 1024;

struct Parser<'r> {
    read: ReadFn<'r>,
    pos: u64,
    end: u64,
    budget: u64,
    values: u64,
    win_at: u64,
    win: Vec<u8>,
}

impl<'r> Parser<'r> {
    fn new(read: ReadFn<'r>, start: u64, end: u64, budget: u64) -> Self {
        Self {
            read,
            pos: start,
            end,
            budget,
            values: 0,
            win_at: 0,
            win: Vec::new(),
        }
    }

    fn left(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    /// `n` bytes at the current position (n is small: a marker or a length).
    fn take(&mut self, n: usize, what: &'static str) -> Result<Vec<u8>, MsgpackError> {
        let need = n as u64;
        if need > self.left() {
            return Err(MsgpackError::PastEnd {
                at: self.pos,
                need,
                left: self.left(),
                what,
            });
        }
        let within = self.pos >= self.win_at
            && self.pos.saturating_add(need) <= self.win_at.saturating_add(self.win.len() as u64);
        if !within {
            let want = WINDOW
                .max(n)
                .min(usize::try_from(self.left()).unwrap_or(usize::MAX));
            self.win = (self.read)(self.pos, want)?;
            self.win_at = self.pos;
            if (self.win.len() as u64) < need {
                return Err(MsgpackError::PastEnd {
                    at: self.pos,
                    need,
                    left: self.win.len() as u64,
                    what,
                });
            }
        }
        let s = usize::try_from(self.pos.saturating_sub(self.win_at)).unwrap_or(usize::MAX);
        let out = self
            .win
            .get(s..s.saturating_add(n))
            .unwrap_or_default()
            .to_vec();
        self.pos = self.pos.saturating_add(need);
        Ok(out)
    }

    fn be(&mut self, n: usize, what: &'static str) -> Result<u64, MsgpackError> {
        let b = self.take(n, what)?;
        Ok(b.iter()
            .fold(0u64, |acc, &x| acc.wrapping_shl(8) | u64::from(x)))
    }

    /// Skips a payload of `len` bytes, returning where it starts.
    fn skip(&mut self, len: u64, what: &'static str) -> Result<u64, MsgpackError> {
        if len > self.left() {
            return Err(MsgpackError::PastEnd {
                at: self.pos,
                need: len,
                left: self.left(),
                what,
            });
        }
        let at = self.pos;
        self.pos = self.pos.saturating_add(len);
        Ok(at)
    }

    fn string(&mut self, len: u64) -> Result<Value, MsgpackError> {
        let at = self.pos;
        if len > self.left() {
            return Err(MsgpackError::PastEnd {
                at,
                need: len,
                left: self.left(),
                what: "str",
            });
        }
        if len <= MAX_TEXT {
            let b = self.take(len as usize, "str")?;
            return Ok(Value::Str {
                at,
                len,
                text: Some(String::from_utf8_lossy(&b).into_owned()),
            });
        }
        self.skip(len, "str")?;
        Ok(Value::Str {
            at,
            len,
            text: None,
        })
    }

    fn ext(&mut self, len: u64) -> Result<Value, MsgpackError> {
        let code = self
            .take(1, "ext type")?
            .first()
            .copied()
            .unwrap_or_default() as i8;
        let at = self.skip(len, "ext")?;
        Ok(Value::Ext { code, at, len })
    }

    fn container(
        &mut self,
        n: u64,
        map: bool,
        depth: usize,
        at: u64,
    ) -> Result<Value, MsgpackError> {
        if depth >= MAX_DEPTH {
            return Err(MsgpackError::TooDeep { at });
        }
        // Every element takes at least one byte (two per map entry).
        let min = if map { n.saturating_mul(2) } else { n };
        if min > self.left() {
            return Err(MsgpackError::PastEnd {
                at,
                need: min,
                left: self.left(),
                what: if map { "map" } else { "array" },
            });
        }
        let d = depth.saturating_add(1);
        if map {
            let mut kv = Vec::new();
            for _ in 0..n {
                let k = self.value(d)?;
                let v = self.value(d)?;
                kv.push((k, v));
            }
            Ok(Value::Map(kv))
        } else {
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(self.value(d)?);
            }
            Ok(Value::Array(items))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, MsgpackError> {
        self.values = self.values.saturating_add(1);
        if self.values > self.budget {
            return Err(MsgpackError::Budget(self.budget));
        }
        let at = self.pos;
        let m = self
            .take(1, "type marker")?
            .first()
            .copied()
            .unwrap_or_default();
        Ok(match m {
            0x00..=0x7f => Value::Int(i128::from(m)),
            0xe0..=0xff => Value::Int(i128::from(m as i8)),
            0x80..=0x8f => self.container(u64::from(m & 0x0f), true, depth, at)?,
            0x90..=0x9f => self.container(u64::from(m & 0x0f), false, depth, at)?,
            0xa0..=0xbf => self.string(u64::from(m & 0x1f))?,
            0xc0 => Value::Nil,
            0xc1 => return Err(MsgpackError::Invalid { at, byte: m }),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(width(m, 0xc4), "bin length")?;
                let at = self.skip(n, "bin")?;
                Value::Bin { at, len: n }
            }
            0xc7..=0xc9 => {
                let n = self.be(width(m, 0xc7), "ext length")?;
                self.ext(n)?
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.be(4, "float32")? as u32))),
            0xcb => Value::Float(f64::from_bits(self.be(8, "float64")?)),
            0xcc..=0xcf => Value::Int(i128::from(self.be(width(m, 0xcc), "uint")?)),
            0xd0..=0xd3 => {
                let size = width(m, 0xd0);
                let raw = self.be(size, "int")?;
                let shift = 64u32.saturating_sub((size as u32).saturating_mul(8));
                Value::Int(i128::from(
                    (raw.wrapping_shl(shift) as i64).wrapping_shr(shift),
                ))
            }
            0xd4..=0xd8 => self.ext(width(m, 0xd4) as u64)?,
            0xd9..=0xdb => {
                let n = self.be(width(m, 0xd9), "str length")?;
                self.string(n)?
            }
            0xdc | 0xdd => {
                let n = self.be(if m == 0xdc { 2 } else { 4 }, "array length")?;
                self.container(n, false, depth, at)?
            }
            0xde | 0xdf => {
                let n = self.be(if m == 0xde { 2 } else { 4 }, "map length")?;
                self.container(n, true, depth, at)?
            }
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn values_and_limits() {
        // {"a": [1, -1, 2.5, nil, true]}
        let b = b"\x81\xa1a\x95\x01\xff\xcb\x40\x04\0\0\0\0\0\0\xc0\xc3";
        let v = read_slice(b, 100).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Int(-1),
                Value::Float(2.5),
                Value::Nil,
                Value::Bool(true)
            ]))
        );
        assert!(matches!(
            read_slice(b"\xdd\xff\xff\xff\xff", 100),
            Err(MsgpackError::PastEnd { .. })
        ));
        assert!(matches!(
            read_slice(b"\xc6\xff\xff\xff\xff\x00", 100),
            Err(MsgpackError::PastEnd { .. })
        ));
        assert!(matches!(
            read_slice(b"\xc1", 100),
            Err(MsgpackError::Invalid { .. })
        ));
        assert!(matches!(
            read_slice(b"\xc0\xc0", 100),
            Err(MsgpackError::ExtraData(1))
        ));
        let deep = vec![0x91u8; 5000];
        assert!(matches!(
            read_slice(&deep, 1_000_000),
            Err(MsgpackError::TooDeep { .. })
        ));
        // int8 / int16 sign extension
        assert_eq!(read_slice(b"\xd0\xff", 10).unwrap(), Value::Int(-1));
        assert_eq!(read_slice(b"\xd1\xff\xfe", 10).unwrap(), Value::Int(-2));
    }

    #[test]
    fn state_dict_sniffing() {
        assert!(looks_like_state_dict(b"\x81\xa6params\x80", true));
        assert!(looks_like_state_dict(
            b"\x81\xa6params\x81\xa7Dense_0\xc7",
            false
        ));
        assert!(!looks_like_state_dict(
            b"\x81\xa6params\x81\xa7Dense_0\xc7",
            true
        ));
        assert!(!looks_like_state_dict(b"\x81\xa2\x00\x01\xc0", true));
        assert!(!looks_like_state_dict(b"\x80", true));
        assert!(!looks_like_state_dict(b"hello", true));
    }
}
