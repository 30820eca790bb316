//! Symbolic values of the scanning walker: `Copy` handles of 16 bytes into the tables of one
//! pickle's [`Arena`]. Everything a pickle builds (containers, tuples, call results, long strings)
//! lives in its arena until the pickle ends, so
//! - a value pushed a million times through the memo ("billion laughs") costs one copy of 16
//!   bytes per push and nothing else;
//! - cloning, memo reads and stack moves are plain copies: no reference counts;
//! - dropping a million nested tuples is freeing a few vectors: no recursive drop glue, no
//!   cycles through self-referential containers.
//!
//! What the arena holds is bounded by the walker's budgets (retained items, kept bytes).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use super::ops::OpCode;

/// Bytes of a string or bytes value: up to 14 inline, longer ones an index into the arena's
/// blobs. Align 1 and 15 bytes, so that [`V`] stays 16 bytes.
#[derive(Clone, Copy)]
pub struct Sb {
    /// Inline length (0..=14), or [`HEAP`].
    tag: u8,
    /// Inline bytes, or the blob index (little-endian u32) when `tag == HEAP`.
    data: [u8; 14],
}

const HEAP: u8 = u8::MAX;
const INLINE: usize = 14;

impl std::fmt::Debug for Sb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inline() {
            Some(b) => write!(f, "Sb({:?})", String::from_utf8_lossy(b)),
            None => write!(f, "Sb(blob {})", self.blob_index()),
        }
    }
}

impl Sb {
    fn inline(&self) -> Option<&[u8]> {
        if self.tag == HEAP {
            None
        } else {
            self.data.get(..usize::from(self.tag))
        }
    }

    fn blob_index(&self) -> usize {
        let [a, b, c, d, ..] = self.data;
        u32::from_le_bytes([a, b, c, d]) as usize
    }
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
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub callee: V,
    pub args: V,
    pub kind: CallKind,
    pub opcode: OpCode,
    pub offset: u64,
    /// The BUILD state applied to the result, if any (first BUILD only).
    pub state: Option<V>,
}

/// Sentinel for "no chunk".
const NIL: u32 = u32::MAX;

/// The values of one pickle.
///
/// Mutable containers (list, dict, set) are indices; their items live in a shared pool as a
/// chain of contiguous chunks. Creating a container allocates nothing, appending to the container
/// that was filled last grows its chunk in place. The pool is a list of pages that are never
/// reallocated (a growing vector would copy itself and briefly hold both copies: half the peak
/// memory of an opcode-dense pickle); pages start small and double up to [`MAX_PAGE`] values.
/// Tuples are immutable, so each is one contiguous run of a second pool. Dict items are stored as
/// key, value, key, value…
#[derive(Debug, Default)]
pub struct Arena {
    /// Per container: first and last chunk (`NIL` when empty).
    conts: Vec<(u32, u32)>,
    chunks: Vec<Chunk>,
    pages: Vec<Vec<V>>,
    /// Per tuple: start and length in `tuple_pool`.
    tuples: Vec<(u32, u32)>,
    tuple_pool: Vec<V>,
    calls: Vec<Call>,
    blobs: Vec<Blob>,
    /// Bytes kept by `blobs`.
    kept: usize,
    bigs: Vec<i128>,
    persids: Vec<V>,
    /// Containers some of whose items were not kept (a bit per container id).
    lossy: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    page: u32,
    start: u32,
    len: u32,
    next: u32,
}

/// Values in the first container page; each further page doubles, up to [`MAX_PAGE`].
const FIRST_PAGE: usize = 256;
/// Values in the largest container page (1 MiB).
const MAX_PAGE: usize = 64 * 1024;

/// Next index of a table, when it fits the `u32` handle space.
fn next_index<T>(table: &[T]) -> Option<u32> {
    u32::try_from(table.len()).ok().filter(|&i| i != NIL)
}

/// Appends `v` to `table` and returns its index; `None` (nothing appended) when the `u32` handle
/// space is exhausted.
fn push_indexed<T>(table: &mut Vec<T>, v: T) -> Option<u32> {
    let id = next_index(table)?;
    table.push(v);
    Some(id)
}

impl Arena {
    /// Number of containers created.
    pub fn containers(&self) -> usize {
        self.conts.len()
    }

    /// Bytes kept by string and bytes values longer than 14 bytes.
    pub fn kept_bytes(&self) -> usize {
        self.kept
    }

    /// Records that container `id` dropped items: lookups in it cannot prove an absence.
    pub fn mark_lossy(&mut self, id: u32) {
        let (w, b) = ((id / 64) as usize, id % 64);
        if self.lossy.len() <= w {
            self.lossy.resize(w.saturating_add(1), 0);
        }
        if let Some(x) = self.lossy.get_mut(w) {
            *x |= 1u64 << b;
        }
    }

    /// Whether container `id` dropped items.
    pub fn is_lossy(&self, id: u32) -> bool {
        self.lossy
            .get((id / 64) as usize)
            .is_some_and(|x| x & (1u64 << (id % 64)) != 0)
    }

    /// Whether container `id` keeps no items.
    pub fn is_empty_container(&self, id: u32) -> bool {
        self.conts.get(id as usize).is_none_or(|c| c.0 == NIL)
    }

    /// A short inline string without letters (digits, punctuation, spaces): plain data that
    /// cannot name a module, attribute, encoding or dtype.
    pub fn plain_text(&self, s: &Sb) -> bool {
        s.inline()
            .is_some_and(|b| b.iter().all(|c| c.is_ascii() && !c.is_ascii_alphabetic()))
    }

    /// Creates an empty container; `None` when the index space is exhausted.
    pub fn create(&mut self) -> Option<u32> {
        push_indexed(&mut self.conts, (NIL, NIL))
    }

    /// Appends `items` to container `id`; `false` when the index space is exhausted (the items
    /// are then dropped).
    pub fn extend(&mut self, id: u32, items: &[V]) -> bool {
        let Some(&(mut head, mut tail)) = self.conts.get(id as usize) else {
            return true;
        };
        let mut rest = items;
        while !rest.is_empty() {
            let full = self.pages.last().is_none_or(|p| p.len() == p.capacity());
            if full {
                let cap = FIRST_PAGE
                    .checked_shl(u32::try_from(self.pages.len()).unwrap_or(u32::MAX))
                    .map_or(MAX_PAGE, |c| c.min(MAX_PAGE));
                if next_index(&self.pages).is_none() {
                    return false;
                }
                self.pages.push(Vec::with_capacity(cap));
            }
            let page_no = self.pages.len().saturating_sub(1);
            let Some(page) = self.pages.get_mut(page_no) else {
                return false;
            };
            let room = page.capacity().saturating_sub(page.len());
            let (now, later) = rest.split_at(room.min(rest.len()));
            let (Ok(page_u32), Ok(start), Ok(added)) = (
                u32::try_from(page_no),
                u32::try_from(page.len()),
                u32::try_from(now.len()),
            ) else {
                return false;
            };
            page.extend_from_slice(now);
            rest = later;
            let grows_tail = self
                .chunks
                .get(tail as usize)
                .is_some_and(|c| c.page == page_u32 && c.start.saturating_add(c.len) == start);
            if grows_tail {
                if let Some(c) = self.chunks.get_mut(tail as usize) {
                    c.len = c.len.saturating_add(added);
                }
                continue;
            }
            let chunk = Chunk {
                page: page_u32,
                start,
                len: added,
                next: NIL,
            };
            let Some(new) = push_indexed(&mut self.chunks, chunk) else {
                return false;
            };
            if let Some(c) = self.chunks.get_mut(tail as usize) {
                c.next = new;
            }
            if head == NIL {
                head = new;
            }
            tail = new;
        }
        if let Some(slot) = self.conts.get_mut(id as usize) {
            *slot = (head, tail);
        }
        true
    }

    /// The retained items of container `id`, in insertion order.
    pub fn items(&self, id: u32) -> Items<'_> {
        Items {
            arena: self,
            next: self.conts.get(id as usize).map_or(NIL, |c| c.0),
            current: [].iter(),
        }
    }

    /// The retained (key, value) pairs of dict `id`.
    pub fn pairs(&self, id: u32) -> Pairs<'_> {
        Pairs(self.items(id))
    }

    /// The value stored under the string key `k` in dict `id` (last write wins, as in a dict).
    pub fn get_str(&self, id: u32, k: &str) -> Option<V> {
        self.pairs(id)
            .filter(|(key, _)| self.as_str(key) == Some(k))
            .last()
            .map(|(_, v)| *v)
    }

    /// A tuple of `items`; `None` when the index space is exhausted.
    pub fn tuple(&mut self, items: impl IntoIterator<Item = V>) -> Option<V> {
        let id = next_index(&self.tuples)?;
        let before = self.tuple_pool.len();
        let start = u32::try_from(before).ok()?;
        self.tuple_pool.extend(items);
        let len = u32::try_from(self.tuple_pool.len().saturating_sub(before))
            .ok()
            .filter(|_| u32::try_from(self.tuple_pool.len()).is_ok());
        let Some(len) = len else {
            self.tuple_pool.truncate(before);
            return None;
        };
        self.tuples.push((start, len));
        Some(V::Tuple(id))
    }

    /// The items of tuple `id`.
    pub fn tuple_items(&self, id: u32) -> &[V] {
        self.tuples
            .get(id as usize)
            .and_then(|&(start, len)| {
                let start = start as usize;
                self.tuple_pool
                    .get(start..start.saturating_add(len as usize))
            })
            .unwrap_or_default()
    }

    /// The items of `v` when it is a tuple.
    pub fn as_tuple(&self, v: &V) -> Option<&[V]> {
        match v {
            V::Tuple(t) => Some(self.tuple_items(*t)),
            _ => None,
        }
    }

    /// Records a call result; `None` when the index space is exhausted.
    pub fn call(&mut self, call: Call) -> Option<V> {
        push_indexed(&mut self.calls, call).map(V::Call)
    }

    pub fn call_of(&self, id: u32) -> Option<&Call> {
        self.calls.get(id as usize)
    }

    /// Sets the BUILD state of a call result (the first BUILD wins, unless `last` says the
    /// object's `__setstate__` replaces what an earlier state set, as `numpy.dtype`'s does).
    pub fn set_state(&mut self, id: u32, state: V, last: bool) {
        if let Some(c) = self.calls.get_mut(id as usize) {
            if last {
                c.state = Some(state);
            } else {
                c.state.get_or_insert(state);
            }
        }
    }

    /// A string or bytes payload: inline when short and complete, otherwise the first `keep`
    /// bytes in a blob.
    pub fn sb(&mut self, data: &[u8], len: u64, raw: Option<u64>, keep: usize) -> Sb {
        if data.len() <= INLINE && data.len() as u64 == len {
            let mut buf = [0u8; INLINE];
            if let Some(dst) = buf.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            return Sb {
                tag: data.len() as u8,
                data: buf,
            };
        }
        let Some(idx) = next_index(&self.blobs) else {
            return Sb {
                tag: 0,
                data: [0; INLINE],
            };
        };
        let head: Box<[u8]> = data.get(..data.len().min(keep)).unwrap_or_default().into();
        self.kept = self.kept.saturating_add(head.len());
        self.blobs.push(Blob { head, len, raw });
        let mut buf = [0u8; INLINE];
        if let Some(dst) = buf.get_mut(..4) {
            dst.copy_from_slice(&idx.to_le_bytes());
        }
        Sb {
            tag: HEAP,
            data: buf,
        }
    }

    fn blob(&self, s: &Sb) -> Option<&Blob> {
        if s.tag == HEAP {
            self.blobs.get(s.blob_index())
        } else {
            None
        }
    }

    /// The kept bytes of `s`.
    pub fn bytes<'a>(&'a self, s: &'a Sb) -> &'a [u8] {
        match s.inline() {
            Some(b) => b,
            None => self.blob(s).map(|b| &*b.head).unwrap_or_default(),
        }
    }

    /// The true length of `s`.
    pub fn len(&self, s: &Sb) -> u64 {
        match s.inline() {
            Some(b) => b.len() as u64,
            None => self.blob(s).map_or(0, |b| b.len),
        }
    }

    /// Whether all bytes of `s` are kept.
    pub fn complete(&self, s: &Sb) -> bool {
        self.bytes(s).len() as u64 == self.len(s)
    }

    /// Raw stream offset of `s`, if its bytes are verbatim in the stream.
    pub fn raw(&self, s: &Sb) -> Option<u64> {
        self.blob(s).and_then(|b| b.raw)
    }

    /// The complete value as text, if it is complete and valid UTF-8.
    pub fn text<'a>(&'a self, s: &'a Sb) -> Option<&'a str> {
        if self.complete(s) {
            std::str::from_utf8(self.bytes(s)).ok()
        } else {
            None
        }
    }

    /// The complete string, for `Str` values.
    pub fn as_str<'a>(&'a self, v: &'a V) -> Option<&'a str> {
        match v {
            V::Str(s) => self.text(s),
            _ => None,
        }
    }

    pub fn as_int(&self, v: &V) -> Option<i128> {
        match v {
            V::Int(i) => Some(i128::from(*i)),
            V::Bool(b) => Some(i128::from(*b)),
            V::BigInt(b) => self.bigs.get(*b as usize).copied(),
            _ => None,
        }
    }

    /// An integer that does not fit `i64`.
    pub fn big(&mut self, i: i128) -> V {
        push_indexed(&mut self.bigs, i).map_or(V::HugeInt, V::BigInt)
    }

    /// A persistent id wrapping `pid`.
    pub fn persid(&mut self, pid: V) -> V {
        push_indexed(&mut self.persids, pid).map_or(V::Unknown, V::PersId)
    }
}

/// Iterator over a container's items.
pub struct Items<'a> {
    arena: &'a Arena,
    next: u32,
    current: std::slice::Iter<'a, V>,
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a V;

    fn next(&mut self) -> Option<&'a V> {
        loop {
            if let Some(v) = self.current.next() {
                return Some(v);
            }
            let c = self.arena.chunks.get(self.next as usize)?;
            self.next = c.next;
            let start = c.start as usize;
            self.current = self
                .arena
                .pages
                .get(c.page as usize)
                .and_then(|p| p.get(start..start.saturating_add(c.len as usize)))
                .unwrap_or_default()
                .iter();
        }
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

/// A symbolic value: a `Copy` handle into the pickle's [`Arena`].
#[derive(Clone, Copy, Debug)]
pub enum V {
    /// Something the walker does not model (or could not resolve).
    Unknown,
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond `i64`: index into the arena's big integers.
    BigInt(u32),
    /// An integer beyond `i128`.
    HugeInt,
    Float,
    Str(Sb),
    Bytes(Sb),
    /// An imported global: index into the pickle's global table.
    Global(u32),
    /// A call result: index into the arena's calls.
    Call(u32),
    Tuple(u32),
    /// Mutable containers.
    List(u32),
    Dict(u32),
    Set(u32),
    /// A persistent id: index into the arena's persistent-id payloads.
    PersId(u32),
    /// Plain data summarised instead of kept (numbers, short strings without letters, tuples
    /// of those), once a pickle's plain-data budget is spent: it can never become an import, a
    /// call target or evidence, so only its existence is modelled.
    Plain,
}

const _: () = assert!(std::mem::size_of::<V>() == 16);

impl V {
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
            V::Plain => "plain data",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ints(a: &Arena, id: u32) -> Vec<i128> {
        a.items(id).filter_map(|v| a.as_int(v)).collect()
    }

    #[test]
    fn interleaved_appends_keep_each_container_in_order() {
        let mut a = Arena::default();
        let (x, y, e) = (
            a.create().unwrap(),
            a.create().unwrap(),
            a.create().unwrap(),
        );
        assert!(a.extend(x, &[V::Int(1), V::Int(2)]));
        assert!(a.extend(x, &[V::Int(3)])); // grows the tail chunk in place
        assert!(a.extend(y, &[V::Int(10)]));
        assert!(a.extend(x, &[V::Int(4)])); // new chunk after y's
        assert!(a.extend(y, &[]));
        assert!(a.extend(y, &[V::Int(11)]));
        assert_eq!(ints(&a, x), vec![1, 2, 3, 4]);
        assert_eq!(ints(&a, y), vec![10, 11]);
        assert_eq!(a.items(e).count(), 0);
        assert_eq!(a.items(99).count(), 0);
    }

    #[test]
    fn dict_pairs_and_last_write_wins() {
        let mut a = Arena::default();
        let d = a.create().unwrap();
        let mut k = |s: &str| V::Str(a.sb(s.as_bytes(), s.len() as u64, None, 64));
        let (ka, kb, ka2) = (k("a"), k("b"), k("a"));
        assert!(a.extend(d, &[ka, V::Int(1), kb, V::Int(2)]));
        assert!(a.extend(d, &[ka2, V::Int(3)]));
        assert_eq!(a.pairs(d).count(), 3);
        assert_eq!(a.get_str(d, "a").and_then(|v| a.as_int(&v)), Some(3));
        assert_eq!(a.get_str(d, "b").and_then(|v| a.as_int(&v)), Some(2));
        assert!(a.get_str(d, "c").is_none());
    }

    #[test]
    fn items_span_pages_in_order() {
        // Two containers filled in turns across many pages, one big append spanning pages.
        let mut a = Arena::default();
        let (x, y) = (a.create().unwrap(), a.create().unwrap());
        let big: Vec<V> = (0..200_000).map(V::Int).collect();
        assert!(a.extend(x, &big));
        for i in 0..3000 {
            assert!(a.extend(y, &[V::Int(i)]));
            assert!(a.extend(x, &[V::Int(-i)]));
        }
        let xs = ints(&a, x);
        assert_eq!(xs.len(), 203_000);
        assert_eq!(xs[199_999], 199_999);
        assert_eq!(xs[200_000], 0);
        assert_eq!(xs[202_999], -2999);
        assert_eq!(ints(&a, y), (0..3000).map(i128::from).collect::<Vec<_>>());
        assert!(a.pages.iter().all(|p| p.capacity() <= MAX_PAGE));
    }

    #[test]
    fn strings_inline_and_in_blobs() {
        let mut a = Arena::default();
        let short = a.sb(b"os", 2, None, 64);
        let long = a.sb(b"a_rather_long_module_name", 25, Some(7), 64);
        let cut = a.sb(b"0123456789abcdef", 100, Some(9), 4);
        assert_eq!(a.bytes(&short), b"os");
        assert_eq!(a.text(&long), Some("a_rather_long_module_name"));
        assert_eq!(a.raw(&long), Some(7));
        assert_eq!(a.bytes(&cut), b"0123");
        assert_eq!(a.len(&cut), 100);
        assert!(!a.complete(&cut) && a.text(&cut).is_none());
        assert_eq!(a.kept_bytes(), 25 + 4);
        let t = a.tuple([V::Str(short), V::Int(1)]).unwrap();
        assert_eq!(a.as_tuple(&t).map(<[V]>::len), Some(2));
        assert!(a.as_tuple(&V::Tuple(99)).unwrap().is_empty());
    }
}
