//! Symbolic values of the scanning walker. Small (24 bytes), cheap to clone, shared by `Rc`, so
//! memo-expansion ("billion laughs") streams cannot blow up memory: a value pushed a million
//! times is one allocation.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]

use std::cell::OnceCell;
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

/// Sentinel for "no chunk".
const NIL: u32 = u32::MAX;

/// Per-pickle storage of the mutable containers (list, dict, set): a container is an index, its
/// retained items live in one shared pool as a chain of contiguous chunks. Creating a container
/// allocates nothing, appending to the container that was filled last grows its chunk in place,
/// and the whole pickle's containers are freed at once (no reference counts, no cycles through
/// self-referential containers, no per-container teardown).
///
/// Dict items are stored as key, value, key, value…
#[derive(Debug, Default)]
pub struct Arena {
    /// Per container: first and last chunk (`NIL` when empty).
    conts: Vec<(u32, u32)>,
    chunks: Vec<Chunk>,
    pool: Vec<V>,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: usize,
    len: usize,
    next: u32,
}

impl Arena {
    /// Number of containers created.
    pub fn containers(&self) -> usize {
        self.conts.len()
    }

    /// Creates an empty container; `None` when the index space is exhausted.
    pub fn create(&mut self) -> Option<u32> {
        let id = u32::try_from(self.conts.len()).ok().filter(|&i| i != NIL)?;
        self.conts.push((NIL, NIL));
        Some(id)
    }

    /// Appends `items` to container `id`; `false` when the chunk index space is exhausted
    /// (the items are then dropped).
    pub fn extend(&mut self, id: u32, items: impl IntoIterator<Item = V>) -> bool {
        let Some(&(head, tail)) = self.conts.get(id as usize) else {
            return true;
        };
        let before = self.pool.len();
        let grow_tail = self
            .chunks
            .get(tail as usize)
            .is_some_and(|c| c.start.saturating_add(c.len) == before);
        self.pool.extend(items);
        let added = self.pool.len().saturating_sub(before);
        if added == 0 {
            return true;
        }
        if grow_tail {
            if let Some(c) = self.chunks.get_mut(tail as usize) {
                c.len = c.len.saturating_add(added);
            }
            return true;
        }
        let Some(new) = u32::try_from(self.chunks.len()).ok().filter(|&i| i != NIL) else {
            self.pool.truncate(before);
            return false;
        };
        self.chunks.push(Chunk {
            start: before,
            len: added,
            next: NIL,
        });
        if let Some(c) = self.chunks.get_mut(tail as usize) {
            c.next = new;
        }
        if let Some(slot) = self.conts.get_mut(id as usize) {
            *slot = (if head == NIL { new } else { head }, new);
        }
        true
    }

    /// The retained items of container `id`, in insertion order.
    pub fn items(&self, id: u32) -> Items<'_> {
        Items {
            arena: self,
            next: self.conts.get(id as usize).map_or(NIL, |c| c.0),
            pos: 0,
            end: 0,
        }
    }

    /// The retained (key, value) pairs of dict `id`.
    pub fn pairs(&self, id: u32) -> Pairs<'_> {
        Pairs(self.items(id))
    }

    /// The value stored under the string key `k` in dict `id` (last write wins, as in a dict).
    pub fn get_str(&self, id: u32, k: &str) -> Option<&V> {
        self.pairs(id)
            .filter(|(key, _)| key.as_str() == Some(k))
            .last()
            .map(|(_, v)| v)
    }
}

/// Iterator over a container's items.
pub struct Items<'a> {
    arena: &'a Arena,
    next: u32,
    pos: usize,
    end: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        while self.pos >= self.end {
            let c = self.arena.chunks.get(self.next as usize)?;
            self.pos = c.start;
            self.end = c.start.saturating_add(c.len);
            self.next = c.next;
        }
        let v = self.arena.pool.get(self.pos);
        self.pos = self.pos.saturating_add(1);
        v
    }
}

/// Iterator over a dict's pairs.
pub struct Pairs<'a>(Items<'a>);

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a V, &'a V);

    fn next(&mut self) -> Option<(&'a V, &'a V)> {
        let k = self.0.next()?;
        let v = self.0.next()?;
        Some((k, v))
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
    /// Mutable containers: indices into the pickle's [`Arena`].
    List(u32),
    Dict(u32),
    Set(u32),
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
        if !self.has_children() {
            return;
        }
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
        matches!(self, V::Tuple(_) | V::Call(_) | V::PersId(_))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ints(a: &Arena, id: u32) -> Vec<i128> {
        a.items(id).filter_map(V::as_int).collect()
    }

    #[test]
    fn interleaved_appends_keep_each_container_in_order() {
        let mut a = Arena::default();
        let (x, y, e) = (
            a.create().unwrap(),
            a.create().unwrap(),
            a.create().unwrap(),
        );
        assert!(a.extend(x, [V::Int(1), V::Int(2)]));
        assert!(a.extend(x, [V::Int(3)])); // grows the tail chunk in place
        assert!(a.extend(y, [V::Int(10)]));
        assert!(a.extend(x, [V::Int(4)])); // new chunk after y's
        assert!(a.extend(y, std::iter::empty()));
        assert!(a.extend(y, [V::Int(11)]));
        assert_eq!(ints(&a, x), vec![1, 2, 3, 4]);
        assert_eq!(ints(&a, y), vec![10, 11]);
        assert_eq!(a.items(e).count(), 0);
        assert_eq!(a.items(99).count(), 0);
    }

    #[test]
    fn dict_pairs_and_last_write_wins() {
        let mut a = Arena::default();
        let d = a.create().unwrap();
        let k = |s: &str| V::Str(Sb::new(s.as_bytes(), s.len() as u64, None, 64));
        assert!(a.extend(d, [k("a"), V::Int(1), k("b"), V::Int(2)]));
        assert!(a.extend(d, [k("a"), V::Int(3)]));
        assert_eq!(a.pairs(d).count(), 3);
        assert_eq!(a.get_str(d, "a").and_then(V::as_int), Some(3));
        assert_eq!(a.get_str(d, "b").and_then(V::as_int), Some(2));
        assert!(a.get_str(d, "c").is_none());
    }
}
