#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! A bounded byte cursor over a buffered, seekable source, for the readers that walk a stream
//! item by item without loading it (R serialization, Torch7): it counts the position, fails a
//! read or skip past the declared length as truncation, and skips by seeking, never allocating.

use std::io::{BufRead, Seek};

/// Why the cursor could not go on. Readers map it into their own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// The stream ends (at the given byte) before what was asked for.
    Truncated(u64),
    Io(String),
}

pub struct ByteCursor<'a, R> {
    src: &'a mut R,
    len: u64,
    pos: u64,
}

impl<'a, R: BufRead + Seek> ByteCursor<'a, R> {
    /// A cursor at the start of `src`, which holds `len` bytes.
    pub fn new(src: &'a mut R, len: u64) -> Self {
        Self { src, len, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The declared length of the stream.
    pub fn end(&self) -> u64 {
        self.len
    }

    /// Bytes left before the declared length.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// The bytes buffered at the position (empty at the end), without consuming them.
    pub fn peek(&mut self) -> Result<&[u8], CursorError> {
        self.src
            .fill_buf()
            .map_err(|e| CursorError::Io(e.to_string()))
    }

    /// The next byte, `None` at the end of the stream.
    pub fn byte(&mut self) -> Result<Option<u8>, CursorError> {
        self.next_if(|_| true)
    }

    /// The next byte, consumed only when `take` accepts it.
    pub fn next_if(&mut self, take: impl FnOnce(u8) -> bool) -> Result<Option<u8>, CursorError> {
        let Some(&b) = self.peek()?.first() else {
            return Ok(None);
        };
        if !take(b) {
            return Ok(None);
        }
        self.src.consume(1);
        self.pos = self.pos.saturating_add(1);
        Ok(Some(b))
    }

    /// The next byte; the end of the stream is truncation.
    pub fn need(&mut self) -> Result<u8, CursorError> {
        self.byte()?.ok_or(CursorError::Truncated(self.pos))
    }

    /// The next `N` bytes.
    pub fn exact<const N: usize>(&mut self) -> Result<[u8; N], CursorError> {
        let mut b = [0u8; N];
        for slot in &mut b {
            *slot = self.need()?;
        }
        Ok(b)
    }

    /// Skips `n` bytes, failing when fewer are left.
    pub fn skip(&mut self, n: u64) -> Result<(), CursorError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.len)
            .ok_or(CursorError::Truncated(self.len))?;
        let delta = i64::try_from(n).map_err(|_| CursorError::Truncated(self.len))?;
        self.src
            .seek_relative(delta)
            .map_err(|e| CursorError::Io(e.to_string()))?;
        self.pos = end;
        Ok(())
    }
}
