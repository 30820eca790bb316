//! Pickle analysis. Nothing here ever calls, imports or evaluates anything.
//!
//! Layers, bottom up:
//! - [`ops`] and [`reader`]: the opcode reader of [`crate::formats::pickle`] (re-exported here),
//!   shared by content sniffing, the scanning walker and the symbolic VM used for conversion.
//! - [`crate::formats::dtype`]: numpy dtype itemsize and object flag as numpy computes them
//!   (joblib skips; shared with the `.npy` reader and the converter).
//! - [`joblib`]: where joblib's inline array bytes lie after a wrapper (walker and VM).
//! - [`compat`]: CPython's Python 2 name mapping (`_compat_pickle`).
//! - [`policy`]: the `pickle-global` entries of the signature database, compiled for lookup.
//! - [`lookup`]: the one argument-aware exception (`eval('data', {'data': x})`, paddle's
//!   LoDTensors).
//! - [`walk`]: the scanning walker, which simulates stack, marks and memo symbolically and
//!   records every import and call site ([`walk::Analysis`]).
//!
//! The public entry points are [`walk::analyse_stream`] (every pickle of a stream) and
//! [`walk::Walker`] (pickle by pickle, for formats that interleave pickles with raw data).

pub mod compat;
pub use crate::formats::pickle::{ops, reader};
pub mod joblib;
pub mod lookup;
mod memo;
pub mod policy;
pub mod value;
pub mod vm;
pub mod walk;

pub use ops::{Arg, Op, OpCode, Payload};
pub use policy::Policy;
pub use reader::{ReadError, Reader, ReaderLimits};
pub use walk::{analyse_stream, Analysis, Outcome, WalkLimits, Walker};
