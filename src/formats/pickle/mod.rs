#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The pickle format itself: one streaming opcode reader for protocols 0–5 with CPython's exact
//! argument decoding and frame tracking ([`reader`]), over the opcode table ([`ops`]). Everything
//! that reads pickle bytes goes through it: content sniffing ([`crate::sniff`]), the scanning
//! walker and the conversion VM ([`crate::pickle`]). Nothing here interprets what the opcodes do.

pub mod ops;
pub mod reader;

pub use ops::{Arg, Op, OpCode, Payload};
pub use reader::{ReadError, Reader, ReaderLimits};
