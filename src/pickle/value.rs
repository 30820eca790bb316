//! Symbolic values of the scanning walker. Small (24 bytes), cheap to clone, shared by `Rc`, so
//! memo-expansion ("billion laughs") streams cannot blow up memory: a value pushed a million
//! times is one allocation.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use super::ops::OpCode;

/// Bytes of a string or bytes value: short ones inline, longer ones shared with a bounded head.
#[derive(Clone, Debug)]
pub enum Sb {
    Inline { len: u8, data: [u8; 14] },
    Heap(Rc<Blob>),
}

/// A longer string or bytes value.
#[derive(Debug)]
pub struct Blob {
    /// The first bytes (all of them when `head.len() == len`).
    pub head: Box<[u8]>,
    /// The true length.
    pub len: u64,
    /// Stream offset of the value's bytes when they are stored verbatim in the stream.
    pub raw: Option<u64>,
}

impl Sb {
    /// Builds a value from `data` (the kept bytes), its true `len` and raw stream offset, keeping
    /// at most `keep` bytes.
    pub fn new(data: &[u8], len: u64, raw: Option<u64>, keep: usize) -> Self {
        if data.len() <= 14 && data.len() as u64 == len {
            let mut buf = [0u8; 14];
            if let Some(dst) = buf.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            return Sb::Inline {
                len: data.len() as u8,
                data: buf,
            };
        }
        let head = data.get(..data.len().min(keep)).unwrap_or_default();
        Sb::Heap(Rc::new(Blob {
            head: head.into(),
            len,
            raw,
        }))
    }

    /// The kept bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Sb::Inline { len, data } => data.get(..usize::from(*len)).unwrap_or_default(),
            Sb::Heap(b) => &b.head,
        }
    }

    /// The true length.
    pub fn len(&self) -> u64 {
        match self {
            Sb::Inline { len, .. } => u64::from(*len),
            Sb::Heap(b) => b.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether all bytes are kept.
    pub fn complete(&self) -> bool {
        self.bytes().len() as u64 == self.len()
    }

    /// Raw stream offset, if the bytes are verbatim in the stream.
    pub fn raw(&self) -> Option<u64> {
        match self {
            Sb::Inline { .. } => None,
            Sb::Heap(b) => b.raw,
        }
    }

    /// The complete value as text, if it is complete and valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        if self.complete() {
            std::str::from_utf8(self.bytes()).ok()
        } else {
            None
        }
    }
}

/// How a call site was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// REDUCE, INST, OBJ: `callable(*args)`.
    Call,
    /// NEWOBJ, NEWOBJ_EX: `cls.__new__(cls, *args)`.
    New,
    /// `copyreg._reconstructor(cls, base, state)`: an instance of `cls`.
    Reconstruct,
}

/// The result of a call-producing opcode.
#[derive(Debug)]
pub struct Call {
    pub callee: V,
    pub args: V,
    pub kind: CallKind,
    pub opcode: OpCode,
    pub offset: u64,
    /// The BUILD state applied to the result, if any (first BUILD only).
    pub state: OnceCell<V>,
}

/// A mutable sequence (list, set) with a bounded number of retained items.
#[derive(Debug, Default)]
pub struct Seq {
    pub items: Vec<V>,
    /// Items ever added (retained or not).
    pub total: u64,
}

/// A mutable mapping with a bounded number of retained items.
#[derive(Debug, Default)]
pub struct Map {
    pub items: Vec<(V, V)>,
    pub total: u64,
}

impl Map {
    /// The value stored under the string key `k` (last write wins, as in a dict).
    pub fn get_str(&self, k: &str) -> Option<&V> {
        self.items
            .iter()
            .rev()
            .find(|(key, _)| key.as_str() == Some(k))
            .map(|(_, v)| v)
    }
}

/// A symbolic value.
#[derive(Clone, Debug)]
pub enum V {
    /// Something the walker does not model (or could not resolve).
    Unknown,
    None,
    Bool(bool),
    Int(i64),
    BigInt(Rc<i128>),
    HugeInt,
    Float,
    Str(Sb),
    Bytes(Sb),
    /// An imported global: index into the pickle's global table.
    Global(u32),
    Call(Rc<Call>),
    Tuple(Rc<[V]>),
    List(Rc<RefCell<Seq>>),
    Dict(Rc<RefCell<Map>>),
    Set(Rc<RefCell<Seq>>),
    PersId(Rc<V>),
}

impl V {
    /// The complete string, for `Str` values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => s.text(),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            V::Int(i) => Some(i128::from(*i)),
            V::Bool(b) => Some(i128::from(*b)),
            V::BigInt(b) => Some(**b),
            _ => None,
        }
    }

    /// A short name of the value's type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            V::Unknown => "unknown value",
            V::None => "None",
            V::Bool(_) => "bool",
            V::Int(_) | V::BigInt(_) | V::HugeInt => "int",
            V::Float => "float",
            V::Str(_) => "str",
            V::Bytes(_) => "bytes",
            V::Global(_) => "global",
            V::Call(_) => "call result",
            V::Tuple(_) => "tuple",
            V::List(_) => "list",
            V::Dict(_) => "dict",
            V::Set(_) => "set",
            V::PersId(_) => "persistent id",
        }
    }
}

impl Drop for V {
    /// Iterative drop: a stream can nest a million tuples, and recursive drop glue would
    /// overflow the stack.
    fn drop(&mut self) {
        let mut work = Vec::new();
        take_children(self, &mut work);
        while let Some(mut v) = work.pop() {
            take_children(&mut v, &mut work);
        }
    }
}

/// Moves the children of `v` into `work` when `v` holds the last reference to them.
pub(crate) fn take_children(v: &mut V, work: &mut Vec<V>) {
    match v {
        V::Tuple(t) => {
            if let Some(items) = Rc::get_mut(t) {
                for x in items.iter_mut() {
                    if x.has_children() {
                        work.push(std::mem::replace(x, V::None));
                    }
                }
            }
        }
        V::List(s) | V::Set(s) if Rc::strong_count(s) == 1 => {
            if let Ok(mut b) = s.try_borrow_mut() {
                work.append(&mut b.items);
            }
        }
        V::Dict(d) if Rc::strong_count(d) == 1 => {
            if let Ok(mut b) = d.try_borrow_mut() {
                for (k, x) in b.items.drain(..) {
                    work.push(k);
                    work.push(x);
                }
            }
        }
        V::Call(c) => {
            if let Some(c) = Rc::get_mut(c) {
                work.push(std::mem::replace(&mut c.callee, V::None));
                work.push(std::mem::replace(&mut c.args, V::None));
                if let Some(st) = c.state.take() {
                    work.push(st);
                }
            }
        }
        V::PersId(p) => {
            if let Some(inner) = Rc::get_mut(p) {
                work.push(std::mem::replace(inner, V::None));
            }
        }
        _ => {}
    }
}

impl V {
    /// Whether the value can own other values.
    fn has_children(&self) -> bool {
        matches!(
            self,
            V::Tuple(_) | V::List(_) | V::Set(_) | V::Dict(_) | V::Call(_) | V::PersId(_)
        )
    }
}
