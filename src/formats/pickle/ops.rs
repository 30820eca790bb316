//! The pickle opcode set of CPython (`Lib/pickletools.py`), protocols 0–5, and the decoded form of
//! one opcode with its argument ([`Op`], [`Arg`]).
//!
//! The reader ([`super::reader::Reader`]) produces these; the scanning walker and the conversion VM
//! interpret them. Nothing here executes anything.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

/// Opcode by byte, computed at compile time from [`OpCode::decode`].
static OPCODE_TABLE: [Option<OpCode>; 256] = OpCode::table();

/// Every opcode CPython's `pickle` module reads. The discriminant is the opcode byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum OpCode {
    // Protocol 0 and 1.
    Mark = b'(',
    Stop = b'.',
    Pop = b'0',
    PopMark = b'1',
    Dup = b'2',
    Float = b'F',
    Int = b'I',
    BinInt = b'J',
    BinInt1 = b'K',
    Long = b'L',
    BinInt2 = b'M',
    None = b'N',
    PersId = b'P',
    BinPersId = b'Q',
    Reduce = b'R',
    String = b'S',
    BinString = b'T',
    ShortBinString = b'U',
    Unicode = b'V',
    BinUnicode = b'X',
    Append = b'a',
    Build = b'b',
    Global = b'c',
    Dict = b'd',
    EmptyDict = b'}',
    Appends = b'e',
    Get = b'g',
    BinGet = b'h',
    Inst = b'i',
    LongBinGet = b'j',
    List = b'l',
    EmptyList = b']',
    Obj = b'o',
    Put = b'p',
    BinPut = b'q',
    LongBinPut = b'r',
    SetItem = b's',
    Tuple = b't',
    EmptyTuple = b')',
    SetItems = b'u',
    BinFloat = b'G',
    // Protocol 2.
    Proto = 0x80,
    NewObj = 0x81,
    Ext1 = 0x82,
    Ext2 = 0x83,
    Ext4 = 0x84,
    Tuple1 = 0x85,
    Tuple2 = 0x86,
    Tuple3 = 0x87,
    NewTrue = 0x88,
    NewFalse = 0x89,
    Long1 = 0x8a,
    Long4 = 0x8b,
    // Protocol 3.
    BinBytes = b'B',
    ShortBinBytes = b'C',
    // Protocol 4.
    ShortBinUnicode = 0x8c,
    BinUnicode8 = 0x8d,
    BinBytes8 = 0x8e,
    EmptySet = 0x8f,
    AddItems = 0x90,
    FrozenSet = 0x91,
    NewObjEx = 0x92,
    StackGlobal = 0x93,
    Memoize = 0x94,
    Frame = 0x95,
    // Protocol 5.
    ByteArray8 = 0x96,
    NextBuffer = 0x97,
    ReadOnlyBuffer = 0x98,
}

impl OpCode {
    /// The opcode for a byte, if CPython knows one: one load from a 256-entry table (this runs
    /// once per opcode, millions of times for a dense pickle).
    #[inline]
    pub fn from_byte(b: u8) -> Option<Self> {
        OPCODE_TABLE.get(usize::from(b)).copied().flatten()
    }

    /// The opcode for a byte, by match (builds [`OPCODE_TABLE`] at compile time).
    const fn decode(b: u8) -> Option<Self> {
        use OpCode as O;
        Some(match b {
            b'(' => O::Mark,
            b'.' => O::Stop,
            b'0' => O::Pop,
            b'1' => O::PopMark,
            b'2' => O::Dup,
            b'F' => O::Float,
            b'I' => O::Int,
            b'J' => O::BinInt,
            b'K' => O::BinInt1,
            b'L' => O::Long,
            b'M' => O::BinInt2,
            b'N' => O::None,
            b'P' => O::PersId,
            b'Q' => O::BinPersId,
            b'R' => O::Reduce,
            b'S' => O::String,
            b'T' => O::BinString,
            b'U' => O::ShortBinString,
            b'V' => O::Unicode,
            b'X' => O::BinUnicode,
            b'a' => O::Append,
            b'b' => O::Build,
            b'c' => O::Global,
            b'd' => O::Dict,
            b'}' => O::EmptyDict,
            b'e' => O::Appends,
            b'g' => O::Get,
            b'h' => O::BinGet,
            b'i' => O::Inst,
            b'j' => O::LongBinGet,
            b'l' => O::List,
            b']' => O::EmptyList,
            b'o' => O::Obj,
            b'p' => O::Put,
            b'q' => O::BinPut,
            b'r' => O::LongBinPut,
            b's' => O::SetItem,
            b't' => O::Tuple,
            b')' => O::EmptyTuple,
            b'u' => O::SetItems,
            b'G' => O::BinFloat,
            0x80 => O::Proto,
            0x81 => O::NewObj,
            0x82 => O::Ext1,
            0x83 => O::Ext2,
            0x84 => O::Ext4,
            0x85 => O::Tuple1,
            0x86 => O::Tuple2,
            0x87 => O::Tuple3,
            0x88 => O::NewTrue,
            0x89 => O::NewFalse,
            0x8a => O::Long1,
            0x8b => O::Long4,
            b'B' => O::BinBytes,
            b'C' => O::ShortBinBytes,
            0x8c => O::ShortBinUnicode,
            0x8d => O::BinUnicode8,
            0x8e => O::BinBytes8,
            0x8f => O::EmptySet,
            0x90 => O::AddItems,
            0x91 => O::FrozenSet,
            0x92 => O::NewObjEx,
            0x93 => O::StackGlobal,
            0x94 => O::Memoize,
            0x95 => O::Frame,
            0x96 => O::ByteArray8,
            0x97 => O::NextBuffer,
            0x98 => O::ReadOnlyBuffer,
            _ => return None,
        })
    }

    // Evaluated at compile time only: an out-of-range index or overflow would fail the build,
    // not panic on input.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    const fn table() -> [Option<Self>; 256] {
        let mut t = [None; 256];
        let mut b: u8 = 0;
        loop {
            t[b as usize] = Self::decode(b);
            if b == u8::MAX {
                return t;
            }
            b += 1;
        }
    }

    /// The opcode byte.
    #[inline]
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// CPython's name for the opcode (as `pickletools.dis` prints it).
    pub fn name(self) -> &'static str {
        use OpCode as O;
        match self {
            O::Mark => "MARK",
            O::Stop => "STOP",
            O::Pop => "POP",
            O::PopMark => "POP_MARK",
            O::Dup => "DUP",
            O::Float => "FLOAT",
            O::Int => "INT",
            O::BinInt => "BININT",
            O::BinInt1 => "BININT1",
            O::Long => "LONG",
            O::BinInt2 => "BININT2",
            O::None => "NONE",
            O::PersId => "PERSID",
            O::BinPersId => "BINPERSID",
            O::Reduce => "REDUCE",
            O::String => "STRING",
            O::BinString => "BINSTRING",
            O::ShortBinString => "SHORT_BINSTRING",
            O::Unicode => "UNICODE",
            O::BinUnicode => "BINUNICODE",
            O::Append => "APPEND",
            O::Build => "BUILD",
            O::Global => "GLOBAL",
            O::Dict => "DICT",
            O::EmptyDict => "EMPTY_DICT",
            O::Appends => "APPENDS",
            O::Get => "GET",
            O::BinGet => "BINGET",
            O::Inst => "INST",
            O::LongBinGet => "LONG_BINGET",
            O::List => "LIST",
            O::EmptyList => "EMPTY_LIST",
            O::Obj => "OBJ",
            O::Put => "PUT",
            O::BinPut => "BINPUT",
            O::LongBinPut => "LONG_BINPUT",
            O::SetItem => "SETITEM",
            O::Tuple => "TUPLE",
            O::EmptyTuple => "EMPTY_TUPLE",
            O::SetItems => "SETITEMS",
            O::BinFloat => "BINFLOAT",
            O::Proto => "PROTO",
            O::NewObj => "NEWOBJ",
            O::Ext1 => "EXT1",
            O::Ext2 => "EXT2",
            O::Ext4 => "EXT4",
            O::Tuple1 => "TUPLE1",
            O::Tuple2 => "TUPLE2",
            O::Tuple3 => "TUPLE3",
            O::NewTrue => "NEWTRUE",
            O::NewFalse => "NEWFALSE",
            O::Long1 => "LONG1",
            O::Long4 => "LONG4",
            O::BinBytes => "BINBYTES",
            O::ShortBinBytes => "SHORT_BINBYTES",
            O::ShortBinUnicode => "SHORT_BINUNICODE",
            O::BinUnicode8 => "BINUNICODE8",
            O::BinBytes8 => "BINBYTES8",
            O::EmptySet => "EMPTY_SET",
            O::AddItems => "ADDITEMS",
            O::FrozenSet => "FROZENSET",
            O::NewObjEx => "NEWOBJ_EX",
            O::StackGlobal => "STACK_GLOBAL",
            O::Memoize => "MEMOIZE",
            O::Frame => "FRAME",
            O::ByteArray8 => "BYTEARRAY8",
            O::NextBuffer => "NEXT_BUFFER",
            O::ReadOnlyBuffer => "READONLY_BUFFER",
        }
    }

    /// The lowest protocol that defines this opcode.
    pub fn protocol(self) -> u8 {
        use OpCode as O;
        match self {
            O::Proto
            | O::NewObj
            | O::Ext1
            | O::Ext2
            | O::Ext4
            | O::Tuple1
            | O::Tuple2
            | O::Tuple3
            | O::NewTrue
            | O::NewFalse
            | O::Long1
            | O::Long4 => 2,
            O::BinBytes | O::ShortBinBytes => 3,
            O::ShortBinUnicode
            | O::BinUnicode8
            | O::BinBytes8
            | O::EmptySet
            | O::AddItems
            | O::FrozenSet
            | O::NewObjEx
            | O::StackGlobal
            | O::Memoize
            | O::Frame => 4,
            O::ByteArray8 | O::NextBuffer | O::ReadOnlyBuffer => 5,
            O::BinInt
            | O::BinInt1
            | O::BinInt2
            | O::BinPersId
            | O::BinString
            | O::ShortBinString
            | O::BinUnicode
            | O::EmptyDict
            | O::Appends
            | O::BinGet
            | O::LongBinGet
            | O::EmptyList
            | O::Obj
            | O::BinPut
            | O::LongBinPut
            | O::EmptyTuple
            | O::SetItems
            | O::BinFloat
            | O::PopMark => 1,
            _ => 0,
        }
    }
}

/// Whether `b` is an opcode byte CPython accepts.
#[inline]
pub fn is_opcode(b: u8) -> bool {
    OpCode::from_byte(b).is_some()
}

/// A string or bytes payload. Short payloads are complete; payloads longer than the reader's
/// prefix limit keep only their first bytes in `data`, and `len` says how long they really are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Payload<'a> {
    /// The payload, or its first bytes when it was longer than the reader's prefix limit. For the
    /// text opcodes (STRING, UNICODE) this is the decoded value, not the escaped source.
    pub data: &'a [u8],
    /// The true length in bytes (of the decoded value for the text opcodes).
    pub len: u64,
    /// Stream offset of the first payload byte when the payload is stored verbatim in the stream
    /// (all binary opcodes); `None` for the escaped text opcodes.
    pub raw_offset: Option<u64>,
}

impl Payload<'_> {
    /// Whether `data` holds the whole payload.
    pub fn is_complete(&self) -> bool {
        self.data.len() as u64 == self.len
    }
}

/// The decoded argument of one opcode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    /// The opcode takes no argument.
    None,
    /// An integer (INT, BININT*, LONG*, when it fits in i64).
    Int(i64),
    /// An integer that needs more than 64 bits but fits in 128 (e.g. torch's legacy magic number).
    BigInt(i128),
    /// An integer wider than 128 bits; only its encoded size is kept.
    HugeInt {
        bytes: u64,
    },
    /// INT `01`/`00` (protocol 0 booleans).
    Bool(bool),
    Float(f64),
    /// A `str` value: BINUNICODE*, SHORT_BINUNICODE, UNICODE, and the protocol 0–2 string opcodes
    /// STRING/BINSTRING/SHORT_BINSTRING (which Python 3 decodes to `str`). UTF-8 (or raw bytes
    /// when the pickle holds invalid UTF-8).
    Str(Payload<'a>),
    /// A `bytes` (BINBYTES*, SHORT_BINBYTES) or `bytearray` (BYTEARRAY8) value.
    Bytes(Payload<'a>),
    /// GLOBAL and INST: the two text lines.
    Global {
        module: &'a [u8],
        name: &'a [u8],
    },
    /// PERSID: the text persistent id.
    Text(&'a [u8]),
    /// A memo index (GET/PUT families), an extension code (EXT*), a protocol number (PROTO) or a
    /// frame length (FRAME).
    Index(u64),
}

/// One decoded opcode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Op<'a> {
    /// Stream offset of the opcode byte.
    pub offset: u64,
    pub code: OpCode,
    pub arg: Arg<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        let mut n = 0;
        for b in 0u8..=255 {
            if let Some(op) = OpCode::from_byte(b) {
                assert_eq!(op.byte(), b, "{}", op.name());
                n += 1;
            }
        }
        // 68 opcodes in CPython's pickletools (protocols 0-5).
        assert_eq!(n, 68);
    }
}
