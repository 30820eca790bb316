//! The one pickle opcode reader: streaming over any [`std::io::Read`], protocols 0–5.
//!
//! It keeps its own buffer and absolute byte offsets, so a multi-gigabyte checkpoint is never
//! loaded whole. Short arguments are borrowed from the buffer (no allocation per opcode); payloads
//! longer than [`ReaderLimits::prefix`] keep only a bounded prefix and the rest is skipped, with the
//! true length reported.
//!
//! FRAME is handled as CPython's C unpickler handles it: a prefetch hint, with the stream read
//! linearly. Frames are still tracked, and an opcode that straddles a frame boundary, or a FRAME
//! opened before the previous frame is consumed, is reported as a [`FrameIssue`]: the pure-Python
//! unpickler (used by joblib) refuses such streams while the C one reads through them, which is
//! exactly the kind of differential attackers use (fickling #317).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::io::{self, Read};

use super::ops::{Arg, Op, OpCode, Payload};

/// Buffer size. Also the longest text line (GLOBAL module/name, STRING literal) accepted.
const BUF_CAP: usize = 256 * 1024;
/// The buffer starts this small and grows (doubling, up to `BUF_CAP`) only when an opcode needs
/// more: most pickles scanned are small, and zero-filling 256 KiB for each one was a tenth of the
/// time of a scan over many small files.
const INITIAL_BUF: usize = 8 * 1024;
/// Payloads up to this size are borrowed straight from the buffer.
const INLINE_MAX: usize = BUF_CAP / 2;

/// Limits of the reader.
#[derive(Debug, Clone, Copy)]
pub struct ReaderLimits {
    /// How many leading bytes of a long string/bytes payload are kept (the rest is skipped).
    pub prefix: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        Self {
            prefix: 4 * 1024 * 1024,
        }
    }
}

/// Why the reader stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("I/O error at offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },
    #[error("stream ends inside opcode {op} at offset {offset}")]
    Truncated { offset: u64, op: &'static str },
    #[error("invalid opcode byte 0x{byte:02x} at offset {offset}")]
    InvalidOpcode { offset: u64, byte: u8 },
    #[error("bad argument for {op} at offset {offset}: {message}")]
    BadArg {
        offset: u64,
        op: &'static str,
        message: &'static str,
    },
    #[error("text line longer than {BUF_CAP} bytes for {op} at offset {offset}")]
    LineTooLong { offset: u64, op: &'static str },
}

impl ReadError {
    /// Stream offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            ReadError::Io { offset, .. }
            | ReadError::Truncated { offset, .. }
            | ReadError::InvalidOpcode { offset, .. }
            | ReadError::BadArg { offset, .. }
            | ReadError::LineTooLong { offset, .. } => *offset,
        }
    }
}

/// A framing irregularity (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameIssue {
    /// The opcode at `offset` starts inside the frame ending at `frame_end` and ends after it.
    Straddle { offset: u64, frame_end: u64 },
    /// A FRAME at `offset` begins before the previous frame (ending at `frame_end`) is consumed.
    Nested { offset: u64, frame_end: u64 },
}

/// The streaming opcode reader.
pub struct Reader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    scratch: Vec<u8>,
    limits: ReaderLimits,
    frame_end: Option<u64>,
    frame_issues: Vec<FrameIssue>,
}

fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, ReaderLimits::default())
    }

    pub fn with_limits(inner: R, limits: ReaderLimits) -> Self {
        Self {
            inner,
            buf: vec![0u8; INITIAL_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            scratch: Vec::new(),
            limits,
            frame_end: None,
            frame_issues: Vec::new(),
        }
    }

    /// Stream offset of the next unread byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        add(self.base, self.pos as u64)
    }

    /// Framing irregularities seen so far (drained by the caller).
    pub fn take_frame_issues(&mut self) -> Vec<FrameIssue> {
        std::mem::take(&mut self.frame_issues)
    }

    /// Whether frame issues are pending (cheap check for the hot loop).
    #[inline]
    pub fn has_frame_issues(&self) -> bool {
        !self.frame_issues.is_empty()
    }

    /// Forgets the current frame (a new pickle starts; frames never span pickles).
    pub fn reset_frame(&mut self) {
        self.frame_end = None;
    }

    #[inline]
    fn avail(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// Makes at least `n` (≤ `BUF_CAP`) bytes available; `false` at end of stream.
    #[inline]
    fn ensure(&mut self, n: usize) -> Result<bool, ReadError> {
        if self.avail() >= n {
            return Ok(true);
        }
        self.refill(n)
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> Result<bool, ReadError> {
        self.compact();
        while self.end < n && !self.eof {
            if self.end >= self.buf.len() && self.buf.len() < BUF_CAP {
                self.grow(n);
            }
            let Some(dst) = self.buf.get_mut(self.end..) else {
                break;
            };
            if dst.is_empty() {
                break;
            }
            match self.inner.read(dst) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end = self.end.saturating_add(k),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        offset: self.offset(),
                        source,
                    })
                }
            }
        }
        Ok(self.avail() >= n)
    }

    /// Grows the buffer towards `BUF_CAP` (at least doubling, at least to `n`), keeping its bytes.
    #[cold]
    fn grow(&mut self, n: usize) {
        let new_len = self.buf.len().saturating_mul(2).max(n).min(BUF_CAP);
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.resize(new_len, 0);
        self.buf = v.into_boxed_slice();
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base = add(self.base, self.pos as u64);
            self.end = self.end.saturating_sub(self.pos);
            self.pos = 0;
        }
    }

    /// Whether the stream has no more bytes.
    pub fn at_eof(&mut self) -> Result<bool, ReadError> {
        Ok(!self.ensure(1)?)
    }

    /// Peeks at the next byte without consuming it.
    pub fn peek_byte(&mut self) -> Result<Option<u8>, ReadError> {
        if self.ensure(1)? {
            Ok(self.buf.get(self.pos).copied())
        } else {
            Ok(None)
        }
    }

    /// Reads exactly `N` bytes.
    #[inline]
    fn fixed<const N: usize>(&mut self, at: u64, op: OpCode) -> Result<[u8; N], ReadError> {
        if !self.ensure(N)? {
            return Err(ReadError::Truncated {
                offset: at,
                op: op.name(),
            });
        }
        let mut out = [0u8; N];
        let src = self
            .buf
            .get(self.pos..self.pos.saturating_add(N))
            .ok_or_else(|| ReadError::Truncated {
                offset: at,
                op: op.name(),
            })?;
        out.copy_from_slice(src);
        self.pos = self.pos.saturating_add(N);
        Ok(out)
    }

    /// Reads raw bytes into `out` (appending), at most `n`. Returns how many were read.
    pub fn read_raw(&mut self, n: u64, out: &mut Vec<u8>) -> Result<u64, ReadError> {
        let mut left = n;
        while left > 0 {
            if !self.ensure(1)? {
                break;
            }
            let take = self
                .avail()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let end = self.pos.saturating_add(take);
            if let Some(s) = self.buf.get(self.pos..end) {
                out.extend_from_slice(s);
            }
            self.pos = end;
            left = left.saturating_sub(take as u64);
        }
        Ok(n.saturating_sub(left))
    }

    /// Skips `n` raw bytes (array data between opcodes, storage trailers). Returns how many were
    /// skipped (fewer only at end of stream).
    pub fn skip(&mut self, n: u64) -> Result<u64, ReadError> {
        let mut left = n;
        let buffered = (self.avail() as u64).min(left);
        self.pos = self.pos.saturating_add(buffered as usize);
        left = left.saturating_sub(buffered);
        if left == 0 {
            return Ok(n);
        }
        // Nothing buffered any more: read past the rest in buffer-sized chunks.
        self.base = add(self.base, self.pos as u64);
        self.pos = 0;
        self.end = 0;
        while left > 0 && !self.eof {
            let want = usize::try_from(left).unwrap_or(BUF_CAP).min(self.buf.len());
            let Some(dst) = self.buf.get_mut(..want) else {
                break;
            };
            match self.inner.read(dst) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    self.base = add(self.base, k as u64);
                    left = left.saturating_sub(k as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        offset: self.base,
                        source,
                    })
                }
            }
        }
        Ok(n.saturating_sub(left))
    }

    /// Reads a `\n`-terminated line; returns (start, end) indices into `buf` excluding the newline.
    fn line(&mut self, at: u64, op: OpCode) -> Result<(usize, usize), ReadError> {
        let mut scanned = 0usize;
        loop {
            let window = self.buf.get(self.pos..self.end).unwrap_or_default();
            if let Some(i) = window
                .get(scanned..)
                .and_then(|w| w.iter().position(|&c| c == b'\n'))
            {
                let start = self.pos;
                let nl = start.saturating_add(scanned).saturating_add(i);
                self.pos = nl.saturating_add(1);
                return Ok((start, nl));
            }
            scanned = window.len();
            if scanned >= BUF_CAP {
                return Err(ReadError::LineTooLong {
                    offset: at,
                    op: op.name(),
                });
            }
            let want = scanned.saturating_add(1);
            if !self.ensure(want)? {
                return Err(ReadError::Truncated {
                    offset: at,
                    op: op.name(),
                });
            }
        }
    }

    /// The module and name lines of GLOBAL and INST. Nothing is consumed until both are
    /// found, so a refill (which compacts the buffer from the read position) cannot discard the
    /// module line while the name line is still arriving (a decompressor hands out its output
    /// in chunks, so a name line can straddle any refill).
    ///
    /// INST's name line is read as the pure-Python unpickler (`pickle._Unpickler`, which
    /// `joblib.load` uses) reads it outside frames: `readline()[:-1]`. At the end of the stream
    /// an unterminated last line is returned whole and loses its last byte, so `systemX` at
    /// EOF still names `system` and the call runs before the next read fails (the C unpickler
    /// refuses such a line).
    #[allow(clippy::type_complexity)]
    fn two_lines(
        &mut self,
        at: u64,
        op: OpCode,
    ) -> Result<((usize, usize), (usize, usize)), ReadError> {
        let mut scanned = 0usize;
        let mut first: Option<usize> = None;
        loop {
            let window = self.buf.get(self.pos..self.end).unwrap_or_default();
            let mut from = scanned;
            while let Some(k) = window
                .get(from..)
                .and_then(|w| w.iter().position(|&c| c == b'\n'))
            {
                let nl = from.saturating_add(k);
                let start = self.pos;
                match first {
                    None => {
                        first = Some(nl);
                        from = nl.saturating_add(1);
                    }
                    Some(f) => {
                        self.pos = start.saturating_add(nl).saturating_add(1);
                        return Ok((
                            (start, start.saturating_add(f)),
                            (
                                start.saturating_add(f).saturating_add(1),
                                start.saturating_add(nl),
                            ),
                        ));
                    }
                }
            }
            scanned = window.len();
            if scanned >= BUF_CAP {
                return Err(ReadError::LineTooLong {
                    offset: at,
                    op: op.name(),
                });
            }
            if !self.ensure(scanned.saturating_add(1))? {
                let start = self.pos;
                match first {
                    Some(f)
                        if op == OpCode::Inst && self.eof && self.avail() > f.saturating_add(1) =>
                    {
                        let end = self.end;
                        self.pos = end;
                        return Ok((
                            (start, start.saturating_add(f)),
                            (
                                start.saturating_add(f).saturating_add(1),
                                end.saturating_sub(1),
                            ),
                        ));
                    }
                    _ => {
                        return Err(ReadError::Truncated {
                            offset: at,
                            op: op.name(),
                        })
                    }
                }
            }
        }
    }

    /// Reads a length-prefixed payload of `len` bytes. Returns where its kept bytes are.
    fn payload(&mut self, len: u64, at: u64, op: OpCode) -> Result<PayloadLoc, ReadError> {
        let raw_offset = self.offset();
        if let Ok(n) = usize::try_from(len) {
            if n <= INLINE_MAX {
                if !self.ensure(n)? {
                    return Err(ReadError::Truncated {
                        offset: at,
                        op: op.name(),
                    });
                }
                let start = self.pos;
                self.pos = start.saturating_add(n);
                return Ok(PayloadLoc::Buf {
                    start,
                    end: self.pos,
                    raw_offset,
                });
            }
        }
        // Long payload: keep a bounded prefix in scratch, skip the rest.
        self.scratch.clear();
        let keep = len.min(self.limits.prefix as u64);
        let mut tmp = std::mem::take(&mut self.scratch);
        let got = self.read_raw(keep, &mut tmp);
        self.scratch = tmp;
        let got = got?;
        if got < keep {
            return Err(ReadError::Truncated {
                offset: at,
                op: op.name(),
            });
        }
        let rest = len.saturating_sub(keep);
        if self.skip(rest)? < rest {
            return Err(ReadError::Truncated {
                offset: at,
                op: op.name(),
            });
        }
        Ok(PayloadLoc::Scratch { len, raw_offset })
    }

    /// Decodes the next opcode. `Ok(None)` at a clean end of stream (no byte left).
    #[inline]
    pub fn next_op(&mut self) -> Result<Option<Op<'_>>, ReadError> {
        if !self.ensure(1)? {
            return Ok(None);
        }
        let offset = self.offset();
        let byte = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        let Some(code) = OpCode::from_byte(byte) else {
            return Err(ReadError::InvalidOpcode { offset, byte });
        };
        let loc = self.decode(code, offset)?;
        // Frame bookkeeping.
        let after = self.offset();
        if let Some(fe) = self.frame_end {
            if offset < fe && after > fe && code != OpCode::Frame {
                self.frame_issues.push(FrameIssue::Straddle {
                    offset,
                    frame_end: fe,
                });
            }
            if after >= fe {
                self.frame_end = None;
            }
        }
        if code == OpCode::Frame {
            if let ArgLoc::Index(len) = loc {
                if let Some(fe) = self.frame_end {
                    if after <= fe {
                        self.frame_issues.push(FrameIssue::Nested {
                            offset,
                            frame_end: fe,
                        });
                    }
                }
                self.frame_end = if len > 0 { Some(add(after, len)) } else { None };
            }
        }
        Ok(Some(Op {
            offset,
            code,
            arg: self.materialise(loc),
        }))
    }

    #[inline]
    fn materialise(&self, loc: ArgLoc) -> Arg<'_> {
        let slice = |p: &PayloadLoc| -> Payload<'_> {
            match *p {
                PayloadLoc::Buf {
                    start,
                    end,
                    raw_offset,
                } => {
                    let data = self.buf.get(start..end).unwrap_or_default();
                    Payload {
                        data,
                        len: data.len() as u64,
                        raw_offset: Some(raw_offset),
                    }
                }
                PayloadLoc::Scratch { len, raw_offset } => Payload {
                    data: &self.scratch,
                    len,
                    raw_offset: Some(raw_offset),
                },
                PayloadLoc::Decoded => Payload {
                    data: &self.scratch,
                    len: self.scratch.len() as u64,
                    raw_offset: None,
                },
            }
        };
        match loc {
            ArgLoc::None => Arg::None,
            ArgLoc::Int(v) => Arg::Int(v),
            ArgLoc::BigInt(v) => Arg::BigInt(v),
            ArgLoc::HugeInt(bytes) => Arg::HugeInt { bytes },
            ArgLoc::Bool(b) => Arg::Bool(b),
            ArgLoc::Float(f) => Arg::Float(f),
            ArgLoc::Index(i) => Arg::Index(i),
            ArgLoc::Str(p) => Arg::Str(slice(&p)),
            ArgLoc::Bytes(p) => Arg::Bytes(slice(&p)),
            ArgLoc::Text { start, end } => Arg::Text(self.buf.get(start..end).unwrap_or_default()),
            ArgLoc::Global { m0, m1, n0, n1 } => Arg::Global {
                module: self.buf.get(m0..m1).unwrap_or_default(),
                name: self.buf.get(n0..n1).unwrap_or_default(),
            },
        }
    }

    #[inline]
    fn decode(&mut self, code: OpCode, at: u64) -> Result<ArgLoc, ReadError> {
        use OpCode as O;
        let bad = |message: &'static str| ReadError::BadArg {
            offset: at,
            op: code.name(),
            message,
        };
        Ok(match code {
            O::Mark
            | O::Stop
            | O::Pop
            | O::PopMark
            | O::Dup
            | O::None
            | O::BinPersId
            | O::Reduce
            | O::Append
            | O::Build
            | O::Dict
            | O::EmptyDict
            | O::Appends
            | O::List
            | O::EmptyList
            | O::Obj
            | O::SetItem
            | O::Tuple
            | O::EmptyTuple
            | O::SetItems
            | O::NewObj
            | O::Tuple1
            | O::Tuple2
            | O::Tuple3
            | O::NewTrue
            | O::NewFalse
            | O::EmptySet
            | O::AddItems
            | O::FrozenSet
            | O::NewObjEx
            | O::StackGlobal
            | O::Memoize
            | O::NextBuffer
            | O::ReadOnlyBuffer => ArgLoc::None,
            O::BinInt1 => ArgLoc::Int(i64::from(self.fixed::<1>(at, code)?[0])),
            O::BinInt2 => ArgLoc::Int(i64::from(u16::from_le_bytes(self.fixed::<2>(at, code)?))),
            O::BinInt => ArgLoc::Int(i64::from(i32::from_le_bytes(self.fixed::<4>(at, code)?))),
            O::BinFloat => ArgLoc::Float(f64::from_be_bytes(self.fixed::<8>(at, code)?)),
            O::Proto | O::BinGet | O::BinPut | O::Ext1 => {
                ArgLoc::Index(u64::from(self.fixed::<1>(at, code)?[0]))
            }
            O::Ext2 => ArgLoc::Index(u64::from(u16::from_le_bytes(self.fixed::<2>(at, code)?))),
            O::LongBinGet | O::LongBinPut => {
                ArgLoc::Index(u64::from(u32::from_le_bytes(self.fixed::<4>(at, code)?)))
            }
            O::Ext4 => {
                let v = i32::from_le_bytes(self.fixed::<4>(at, code)?);
                // Codes <= 0 are rejected by CPython; keep them visible as a huge index.
                ArgLoc::Index(u64::try_from(v).unwrap_or(u64::MAX))
            }
            O::Frame => ArgLoc::Index(u64::from_le_bytes(self.fixed::<8>(at, code)?)),
            O::Long1 | O::Long4 => {
                let n = if code == O::Long1 {
                    u64::from(self.fixed::<1>(at, code)?[0])
                } else {
                    let v = i32::from_le_bytes(self.fixed::<4>(at, code)?);
                    u64::try_from(v).map_err(|_| bad("negative byte count"))?
                };
                match self.payload(n, at, code)? {
                    PayloadLoc::Buf { start, end, .. } => {
                        long_from_le(self.buf.get(start..end).unwrap_or_default())
                    }
                    _ => ArgLoc::HugeInt(n),
                }
            }
            O::ShortBinString | O::ShortBinBytes | O::ShortBinUnicode => {
                let n = u64::from(self.fixed::<1>(at, code)?[0]);
                let p = self.payload(n, at, code)?;
                if code == O::ShortBinBytes {
                    ArgLoc::Bytes(p)
                } else {
                    ArgLoc::Str(p)
                }
            }
            O::BinString => {
                let v = i32::from_le_bytes(self.fixed::<4>(at, code)?);
                let n = u64::try_from(v).map_err(|_| bad("negative length"))?;
                ArgLoc::Str(self.payload(n, at, code)?)
            }
            O::BinUnicode | O::BinBytes => {
                let n = u64::from(u32::from_le_bytes(self.fixed::<4>(at, code)?));
                let p = self.payload(n, at, code)?;
                if code == O::BinBytes {
                    ArgLoc::Bytes(p)
                } else {
                    ArgLoc::Str(p)
                }
            }
            O::BinUnicode8 | O::BinBytes8 | O::ByteArray8 => {
                let n = u64::from_le_bytes(self.fixed::<8>(at, code)?);
                let p = self.payload(n, at, code)?;
                if code == O::BinUnicode8 {
                    ArgLoc::Str(p)
                } else {
                    ArgLoc::Bytes(p)
                }
            }
            O::Int | O::Long => {
                let (s, e) = self.line(at, code)?;
                let text = self.buf.get(s..e).unwrap_or_default();
                let v = if code == O::Int {
                    parse_int_line(text)
                } else {
                    // load_long: a final 'L' before the newline is dropped, then base 0.
                    py_long(text.strip_suffix(b"L").unwrap_or(text), 0)
                };
                v.ok_or_else(|| bad("not an integer"))?
            }
            O::Float => {
                let (s, e) = self.line(at, code)?;
                let text = self.buf.get(s..e).unwrap_or_default();
                ArgLoc::Float(parse_float_line(text).ok_or_else(|| bad("not a float"))?)
            }
            O::Get | O::Put => {
                let (s, e) = self.line(at, code)?;
                let text = self.buf.get(s..e).unwrap_or_default();
                ArgLoc::Index(parse_memo_key(text).map_err(bad)?)
            }
            O::PersId => {
                let (start, end) = self.line(at, code)?;
                ArgLoc::Text { start, end }
            }
            O::Global | O::Inst => {
                let ((m0, m1), (n0, n1)) = self.two_lines(at, code)?;
                ArgLoc::Global { m0, m1, n0, n1 }
            }
            O::String => {
                let (s, e) = self.line(at, code)?;
                let text = self.buf.get(s..e).unwrap_or_default();
                let inner = match text {
                    [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => inner,
                    _ => return Err(bad("string literal is not quoted")),
                };
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                let ok = escape_decode(inner, &mut out);
                self.scratch = out;
                if !ok {
                    return Err(bad("invalid escape in string literal"));
                }
                ArgLoc::Str(PayloadLoc::Decoded)
            }
            O::Unicode => {
                let (s, e) = self.line(at, code)?;
                let text = self.buf.get(s..e).unwrap_or_default();
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                let ok = raw_unicode_escape_decode(text, &mut out);
                self.scratch = out;
                if !ok {
                    return Err(bad("invalid raw-unicode-escape"));
                }
                ArgLoc::Str(PayloadLoc::Decoded)
            }
        })
    }

    /// Consumes the reader, returning the underlying stream.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Whether `head` (the first bytes of some content) decodes as the start of a pickle stream,
/// whatever opcode it starts with. CPython's loader accepts any opcode first (a leading FRAME,
/// a bare SHORT_BINUNICODE, a protocol-0 `L0x…L` literal), so sniffing by the first byte alone
/// misses crafted pickles. Accepted when the head reaches STOP after at least two opcodes, or
/// decodes without error for at least 64 bytes over four or more opcodes. A shorter head without
/// STOP (a file of a few bytes) is accepted only if it imports something: without STOP the loader
/// fails, and only an import followed by a call could have run before it did. This keeps short
/// text files (`latest`, `hello`) that happen to be made of opcode letters from raising alarms.
/// Random binary data and text almost never pass: most bytes are not opcodes.
pub fn plausible_pickle(head: &[u8]) -> bool {
    let mut r = Reader::new(head);
    let mut ops = 0u32;
    let mut imports = false;
    let want = head.len().min(64) as u64;
    let enough = |ops: u32, reached: u64, imports: bool| {
        ops >= 4 && reached >= want && (want >= 64 || imports)
    };
    loop {
        match r.next_op() {
            Ok(Some(op)) => {
                ops = ops.saturating_add(1);
                imports |= matches!(op.code, OpCode::Global | OpCode::Inst | OpCode::StackGlobal);
                if op.code == OpCode::Stop {
                    return ops >= 2;
                }
            }
            Ok(None) => return enough(ops, r.offset(), imports),
            Err(e) => return enough(ops, e.offset(), imports),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum PayloadLoc {
    Buf {
        start: usize,
        end: usize,
        raw_offset: u64,
    },
    Scratch {
        len: u64,
        raw_offset: u64,
    },
    Decoded,
}

#[derive(Debug, Clone, Copy)]
enum ArgLoc {
    None,
    Int(i64),
    BigInt(i128),
    HugeInt(u64),
    Bool(bool),
    Float(f64),
    Index(u64),
    Str(PayloadLoc),
    Bytes(PayloadLoc),
    Text {
        start: usize,
        end: usize,
    },
    Global {
        m0: usize,
        m1: usize,
        n0: usize,
        n1: usize,
    },
}

/// A little-endian two's-complement integer (LONG1/LONG4).
fn long_from_le(b: &[u8]) -> ArgLoc {
    if b.is_empty() {
        return ArgLoc::Int(0);
    }
    if b.len() > 16 {
        return ArgLoc::HugeInt(b.len() as u64);
    }
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut bytes = if neg { [0xffu8; 16] } else { [0u8; 16] };
    if let Some(dst) = bytes.get_mut(..b.len()) {
        dst.copy_from_slice(b);
    }
    let v = i128::from_le_bytes(bytes);
    match i64::try_from(v) {
        Ok(x) => ArgLoc::Int(x),
        Err(_) => ArgLoc::BigInt(v),
    }
}

/// `Py_ISSPACE`: the ASCII whitespace CPython's integer parsers skip.
fn py_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `PyLong_FromString(text, NULL, base)` for base 0 or 10, on text as `_pickle.c` hands it
/// over: a C string, so a NUL ends it. ASCII whitespace around, one sign, for base 0 the
/// `0x`/`0o`/`0b` prefixes (an underscore may follow the prefix) and no leading zeros in a
/// non-zero decimal, single underscores between digits.
fn py_long(text: &[u8], base: u32) -> Option<ArgLoc> {
    let text = text.split(|&c| c == 0).next().unwrap_or_default();
    let start = text.iter().position(|&c| !py_space(c))?;
    let end = text.iter().rposition(|&c| !py_space(c))?.saturating_add(1);
    let t = text.get(start..end)?;
    let (neg, t) = match t.first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    let prefixed = |p: u8| {
        t.len() >= 2 && t.first() == Some(&b'0') && t.get(1).map(u8::to_ascii_lowercase) == Some(p)
    };
    let (radix, digits) = if base == 0 && prefixed(b'x') {
        (16, t.get(2..)?)
    } else if base == 0 && prefixed(b'o') {
        (8, t.get(2..)?)
    } else if base == 0 && prefixed(b'b') {
        (2, t.get(2..)?)
    } else {
        (10, t)
    };
    // After a base prefix one underscore may come first ("0x_1f"); otherwise none.
    let digits = if radix == 10 {
        digits
    } else {
        digits.strip_prefix(b"_").unwrap_or(digits)
    };
    if digits.is_empty()
        || digits.starts_with(b"_")
        || digits.ends_with(b"_")
        || digits.windows(2).any(|w| w == b"__")
    {
        return None;
    }
    let clean: String = digits
        .iter()
        .filter(|&&c| c != b'_')
        .map(|&c| char::from(c))
        .collect();
    if !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Base 0 rejects leading zeros in a non-zero decimal ("010"); base 10 accepts them.
    if base == 0 && radix == 10 && clean.starts_with('0') && clean.bytes().any(|c| c != b'0') {
        return None;
    }
    let trimmed = clean.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
    match u128::from_str_radix(trimmed, radix)
        .ok()
        .and_then(|m| i128::try_from(m).ok())
    {
        Some(v) => {
            let v = if neg { v.checked_neg()? } else { v };
            Some(match i64::try_from(v) {
                Ok(x) => ArgLoc::Int(x),
                Err(_) => ArgLoc::BigInt(v),
            })
        }
        None => Some(ArgLoc::HugeInt(trimmed.len() as u64)),
    }
}

/// The FLOAT opcode's line as either unpickler reads it: `_pickle.c` parses up to a NUL
/// (`PyOS_string_to_double`), `pickle.py` calls `float()`, which allows surrounding whitespace
/// and underscores between digits. The union is accepted, so a spelling one loader reads never
/// stops the walk.
fn parse_float_line(text: &[u8]) -> Option<f64> {
    let text = text.split(|&c| c == 0).next().unwrap_or_default();
    let t = std::str::from_utf8(text).ok()?;
    let t = t.trim_matches(|c: char| c.is_ascii() && py_space(c as u8));
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    clean.parse::<f64>().ok()
}

/// C `strtol(text, &end, 0)` as `load_int` uses it: leading whitespace, one sign, `0x` hex,
/// a leading `0` octal; returns the value and whether parsing stopped at the end of the text
/// or a NUL (what `load_int` accepts), `None` on overflow or no digits.
fn c_strtol(text: &[u8]) -> Option<(i64, bool)> {
    let mut i = text.iter().position(|&c| !py_space(c))?;
    let neg = match text.get(i) {
        Some(b'-') => {
            i = i.saturating_add(1);
            true
        }
        Some(b'+') => {
            i = i.saturating_add(1);
            false
        }
        _ => false,
    };
    let at = |k: usize| text.get(k).copied();
    let mut radix = 10u32;
    if at(i) == Some(b'0') {
        if matches!(at(i.saturating_add(1)), Some(b'x' | b'X'))
            && at(i.saturating_add(2)).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            i = i.saturating_add(2);
        } else {
            radix = 8;
        }
    }
    let first = i;
    let mut v: i128 = 0;
    while let Some(d) = at(i).and_then(|c| char::from(c).to_digit(radix)) {
        v = v
            .checked_mul(i128::from(radix))?
            .checked_add(i128::from(d))?;
        if v > i128::from(i64::MAX).saturating_add(1) {
            return None; // ERANGE
        }
        i = i.saturating_add(1);
    }
    if i == first {
        return None;
    }
    let v = if neg { v.checked_neg()? } else { v };
    let x = i64::try_from(v).ok()?;
    Some((x, matches!(at(i), None | Some(0))))
}

/// The INT opcode's line as `_pickle.c`'s `load_int` reads it: `strtol(line, &end, 0)`, then,
/// when that overflows or stops before the end, `PyLong_FromString(line, NULL, 0)`. A two-char
/// line holding 0 or 1 is a bool (the protocol-0 `00`/`01` and also ` 1`, `+1`, `-0`).
fn parse_int_line(text: &[u8]) -> Option<ArgLoc> {
    match c_strtol(text) {
        Some((x, true)) => Some(if text.len() == 2 && (x == 0 || x == 1) {
            ArgLoc::Bool(x == 1)
        } else {
            ArgLoc::Int(x)
        }),
        _ => py_long(text, 0),
    }
}

/// A protocol-0 GET/PUT memo key as the unpicklers read it: `_pickle.c` calls
/// `PyLong_FromString(line, NULL, 10)` (leading zeros, underscores, whitespace, a NUL ends the
/// text) and `pickle.py` calls `int(line)`: the same rules without the NUL. Keys beyond what
/// `_pickle.c` accepts (`Py_ssize_t`) are valid dict keys for `pickle.py` (joblib's
/// unpickler); they map to the range above `i64::MAX` by a hash of their digits so that PUT
/// and GET of the same key still meet.
fn parse_memo_key(text: &[u8]) -> Result<u64, &'static str> {
    match py_long(text, 10) {
        Some(ArgLoc::Int(v)) => u64::try_from(v).map_err(|_| "negative memo index"),
        Some(ArgLoc::BigInt(v)) if v < 0 => Err("negative memo index"),
        Some(ArgLoc::BigInt(_) | ArgLoc::HugeInt(_)) => {
            use std::hash::{Hash, Hasher};
            let digits: Vec<u8> = text
                .iter()
                .copied()
                .take_while(|&c| c != 0)
                .filter(u8::is_ascii_digit)
                .skip_while(|&c| c == b'0')
                .collect();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            digits.hash(&mut h);
            Ok(h.finish() | (1 << 63))
        }
        _ => Err("not a memo index"),
    }
}

/// `codecs.escape_decode` for the escapes Python string literals use. Returns false on an
/// invalid escape (CPython raises).
fn escape_decode(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut it = s.iter().copied().peekable();
    while let Some(c) = it.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            return false; // trailing backslash
        };
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e.wrapping_sub(b'0'));
                for _ in 0..2 {
                    match it.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            v = v
                                .wrapping_mul(8)
                                .wrapping_add(u32::from(d.wrapping_sub(b'0')));
                            it.next();
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let (Some(h), Some(l)) = (it.next(), it.next()) else {
                    return false;
                };
                let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
                    return false;
                };
                out.push(h.wrapping_mul(16).wrapping_add(l));
            }
            other => {
                // Unknown escapes are kept verbatim (with a DeprecationWarning in CPython).
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    true
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `raw_unicode_escape` decoding: `\uXXXX` and `\UXXXXXXXX` escapes, every other byte is a
/// Latin-1 code point. Output is UTF-8.
fn raw_unicode_escape_decode(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0usize;
    while let Some(&c) = s.get(i) {
        i = i.saturating_add(1);
        if c == b'\\' {
            let width = match s.get(i) {
                Some(b'u') => 4,
                Some(b'U') => 8,
                _ => 0,
            };
            // An odd run of backslashes before u/U starts an escape; keep it simple: a backslash
            // directly followed by u/U is an escape, as CPython decodes it.
            if width > 0 {
                let start = i.saturating_add(1);
                let Some(hex) = s.get(start..start.saturating_add(width)) else {
                    return false;
                };
                let Some(cp) = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                else {
                    return false;
                };
                push_code_point(cp, out);
                i = start.saturating_add(width);
                continue;
            }
        }
        push_code_point(u32::from(c), out);
    }
    true
}

fn push_code_point(cp: u32, out: &mut Vec<u8>) {
    // Lone surrogates are not valid UTF-8; keep a replacement so names still compare unequal.
    let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
    let mut tmp = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ops(bytes: &[u8]) -> Vec<(u64, OpCode, String)> {
        let mut r = Reader::new(bytes);
        let mut v = Vec::new();
        while let Some(op) = r.next_op().unwrap() {
            v.push((op.offset, op.code, format!("{:?}", op.arg)));
        }
        v
    }

    #[test]
    fn protocol_0_text_ops() {
        let v = ops(b"cos\nsystem\n(S'echo \\'hi\\''\ntR.");
        assert_eq!(v[0].1, OpCode::Global);
        assert!(v[0].2.contains("[111, 115]"));
        assert_eq!(v[2].1, OpCode::String);
        assert_eq!(v.last().unwrap().1, OpCode::Stop);
        let mut r = Reader::new(&b"S'a\\x41\\n'\n"[..]);
        match r.next_op().unwrap().unwrap().arg {
            Arg::Str(p) => assert_eq!(p.data, b"aA\n"),
            a => panic!("{a:?}"),
        }
        let mut r = Reader::new(&b"V\\u0041b\n"[..]);
        match r.next_op().unwrap().unwrap().arg {
            Arg::Str(p) => assert_eq!(p.data, b"Ab"),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn integers() {
        let mut r = Reader::new(
            &b"I01\nI-5\nI0x10\nL123L\n\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"[..],
        );
        assert_eq!(r.next_op().unwrap().unwrap().arg, Arg::Bool(true));
        assert_eq!(r.next_op().unwrap().unwrap().arg, Arg::Int(-5));
        assert_eq!(r.next_op().unwrap().unwrap().arg, Arg::Int(16));
        assert_eq!(r.next_op().unwrap().unwrap().arg, Arg::Int(123));
        assert_eq!(
            r.next_op().unwrap().unwrap().arg,
            Arg::BigInt(0x1950_A86A_20F9_469C_FC6C)
        );
    }

    #[test]
    fn frames_straddle_and_nest() {
        // FRAME of 2 bytes, then a SHORT_BINUNICODE of 3 bytes that crosses its end.
        let mut p = vec![0x80, 4, 0x95];
        p.extend_from_slice(&2u64.to_le_bytes());
        p.extend_from_slice(&[0x8c, 3, b'a', b'b', b'c', b'.']);
        let mut r = Reader::new(&p[..]);
        while r.next_op().unwrap().is_some() {}
        assert!(matches!(
            r.take_frame_issues().as_slice(),
            [FrameIssue::Straddle { .. }]
        ));
        let mut p = vec![0x95];
        p.extend_from_slice(&20u64.to_le_bytes());
        p.push(0x95);
        p.extend_from_slice(&1u64.to_le_bytes());
        p.push(b'.');
        let mut r = Reader::new(&p[..]);
        while r.next_op().unwrap().is_some() {}
        assert!(r
            .take_frame_issues()
            .iter()
            .any(|i| matches!(i, FrameIssue::Nested { .. })));
    }

    #[test]
    fn long_payload_keeps_prefix_and_true_length() {
        let mut p = vec![b'B'];
        let n = 600_000u32;
        p.extend_from_slice(&n.to_le_bytes());
        p.extend(std::iter::repeat_n(7u8, n as usize));
        p.push(b'.');
        let mut r = Reader::with_limits(&p[..], ReaderLimits { prefix: 1000 });
        match r.next_op().unwrap().unwrap().arg {
            Arg::Bytes(pl) => {
                assert_eq!(pl.len, u64::from(n));
                assert_eq!(pl.data.len(), 1000);
                assert_eq!(pl.raw_offset, Some(5));
            }
            a => panic!("{a:?}"),
        }
        let stop = r.next_op().unwrap().unwrap();
        assert_eq!(stop.code, OpCode::Stop);
        assert_eq!(stop.offset, 5 + u64::from(n));
    }

    #[test]
    fn inst_name_line_at_eof_reads_as_the_python_unpickler_does() {
        // `readline()[:-1]`: the last byte of an unterminated last line is dropped.
        let v = ops(b"(S'x'\nios\nsystemX");
        let last = v.last().unwrap();
        assert_eq!(last.1, OpCode::Inst);
        assert!(last.2.contains(&format!("{:?}", b"system")), "{}", last.2);
        // GLOBAL (no call follows at EOF) and INST without a name line stay truncated.
        for b in [&b"cos\nsystemX"[..], b"(ios\n", b"(ios"] {
            let mut r = Reader::new(b);
            let mut err = None;
            loop {
                match r.next_op() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            assert!(matches!(err, Some(ReadError::Truncated { .. })), "{b:?}");
        }
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            Reader::new(&b"\xff"[..]).next_op(),
            Err(ReadError::InvalidOpcode { byte: 0xff, .. })
        ));
        assert!(matches!(
            Reader::new(&b"X\x10\x00\x00\x00ab"[..]).next_op(),
            Err(ReadError::Truncated { .. })
        ));
    }

    #[test]
    fn long_global_lines_across_refills() {
        // A GLOBAL whose lines straddle the buffer boundary.
        let mut p = vec![b'N'; BUF_CAP - 3];
        p.extend_from_slice(b"cmodule_name\nattr_name\n.");
        let mut r = Reader::new(&p[..]);
        let mut found = false;
        while let Some(op) = r.next_op().unwrap() {
            if let Arg::Global { module, name } = op.arg {
                assert_eq!(module, b"module_name");
                assert_eq!(name, b"attr_name");
                found = true;
            }
        }
        assert!(found);
    }

    #[test]
    fn memo_keys_parse_as_the_unpicklers_do() {
        // Accepted by _pickle.c's PyLong_FromString(line, NULL, 10) and/or pickle.py's int().
        for (text, key) in [
            (&b"1"[..], 1u64),
            (b"01", 1),
            (b"0007", 7),
            (b" 7 ", 7),
            (b"\t7\r", 7),
            (b"+7", 7),
            (b"-0", 0),
            (b"1_0", 10),
            (b"7\x00junk", 7),
            (b"\x0b7\x0c", 7),
        ] {
            assert_eq!(parse_memo_key(text), Ok(key), "{text:?}");
        }
        for text in [
            &b""[..],
            b"L",
            b"1L",
            b"0x1",
            b"_1",
            b"1_",
            b"1__0",
            b"- 1",
            b"1 2",
            b"\xc2\xa01",
            b"\x001",
        ] {
            assert!(parse_memo_key(text).is_err(), "{text:?}");
        }
        assert_eq!(parse_memo_key(b"-1"), Err("negative memo index"));
        // Keys pickle.py accepts but that do not fit an index still meet between PUT and GET.
        let big = parse_memo_key(b"99999999999999999999999").unwrap();
        assert_eq!(parse_memo_key(b" 0099999999999999999999999 "), Ok(big));
        assert!(big > i64::MAX as u64);
    }

    #[test]
    fn float_lines_parse_as_either_unpickler_does() {
        for (t, v) in [
            (&b"1.5"[..], 1.5),
            (b" 1.5 ", 1.5),
            (b"1_000.5", 1000.5),
            (b"2.5\x00junk", 2.5),
            (b"-1e3", -1000.0),
        ] {
            assert_eq!(parse_float_line(t), Some(v), "{t:?}");
        }
        assert!(parse_float_line(b"inf").is_some_and(f64::is_infinite));
        assert!(parse_float_line(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_float_line(b"x"), None);
    }

    #[test]
    fn int_lines_parse_as_load_int_does() {
        let int = |t: &[u8]| match parse_int_line(t) {
            Some(ArgLoc::Int(v)) => Some(i128::from(v)),
            Some(ArgLoc::BigInt(v)) => Some(v),
            Some(ArgLoc::Bool(b)) => Some(i128::from(b) + 1000),
            _ => None,
        };
        assert_eq!(int(b"00"), Some(1000));
        assert_eq!(int(b"01"), Some(1001));
        assert_eq!(int(b" 1"), Some(1001));
        assert_eq!(int(b"010"), Some(8)); // strtol base 0: octal
        assert_eq!(int(b"0x10"), Some(16));
        assert_eq!(int(b"0o10"), Some(8)); // PyLong fallback
        assert_eq!(int(b"0x_1f"), Some(31));
        assert_eq!(int(b"1_000"), Some(1000));
        assert_eq!(int(b"5 "), Some(5));
        assert_eq!(int(b"-12"), Some(-12));
        assert_eq!(int(b"5\x00x"), Some(5));
        assert_eq!(
            int(b"99999999999999999999"),
            Some(99_999_999_999_999_999_999)
        );
        assert_eq!(int(b"08"), None);
        assert_eq!(int(b"0x"), None);
        assert_eq!(int(b"1.0"), None);
    }

    proptest::proptest! {
        /// Every spelling both unpicklers accept for key `n` (ASCII whitespace around, a plus
        /// sign, leading zeros, single underscores between digits) names the same memo slot.
        #[test]
        fn memo_key_spellings_name_the_same_slot(
            n in 0u64..10_000_000_000,
            lead in "[ \t\x0b\x0c]{0,3}",
            trail in "[ \t\r\x0b\x0c]{0,3}",
            plus in proptest::bool::ANY,
            zeros in 0usize..4,
            underscores in proptest::bool::ANY,
        ) {
            let digits = format!("{}{n}", "0".repeat(zeros));
            let digits = if underscores {
                digits.chars().map(String::from).collect::<Vec<_>>().join("_")
            } else {
                digits
            };
            let text = format!("{lead}{}{digits}{trail}", if plus { "+" } else { "" });
            proptest::prop_assert_eq!(parse_memo_key(text.as_bytes()), Ok(n));
        }
    }
}
