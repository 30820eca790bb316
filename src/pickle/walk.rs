//! The scanning walker: simulates the unpickler's stack, marks and memo with symbolic values and
//! records every import and every call site, without calling anything.
//!
//! What it models, and why (the bypass classes are in the research notes, scanners.md §4B):
//! - Stack, mark fence and a per-pickle memo exactly as CPython keeps them, so `STACK_GLOBAL`
//!   operands are resolved whatever pushed them (any string opcode, any memo GET width) (B1–B3).
//!   An operand that is not a string is a critical "unresolved global" and the walk continues
//!   (B4).
//! - Names are resolved as `find_class` resolves them: the Python 2 mapping for protocol < 3,
//!   dotted attribute paths (protocol ≥ 4 walks attributes), dunder segments (B5, A13, A18).
//! - Every call-producing opcode is a call site with its offset: REDUCE, INST, OBJ, NEWOBJ,
//!   NEWOBJ_EX and BUILD (`__setstate__`); EXT1/2/4 are extension-registry lookups (B6, B7).
//! - Every concatenated pickle is read to the end of the stream, each with a fresh memo; bytes
//!   after a STOP that do not form a pickle are reported without discarding earlier results
//!   (B9, B16).
//! - Bytes handed to nested loaders (`pickle.loads`, `torch.load`, …) and base64/hex blobs that
//!   decode to a pickle are reported as [`NestedBlob`]s for the caller to scan recursively.
//! - joblib: after BUILD on a `NumpyArrayWrapper`, the raw array bytes (or a nested pickle for
//!   object arrays) are skipped exactly as joblib reads them, and the walk continues (B12). The
//!   byte count comes from [`super::dtype`] (numpy's own itemsize and object-flag rules); when
//!   it cannot be proven nothing is skipped: the rest is walked as a pickle and searched for a
//!   pickle resuming at any offset, and the doubt is an issue.
//! - Plain data past a budget (numbers, letterless short strings, tuples of them) is summarised
//!   as [`V::Plain`] instead of kept, so big data pickles scan in bounded memory; containers
//!   that dropped items are marked lossy and lookups in them fail closed.
//! - Budgets (opcodes, stack, memo, retained container items, nesting) end the walk with an
//!   "inconclusive" issue, never silently (B13).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use super::compat::map_py2;
use super::joblib::{self, Alignment, ArraySpan, Layout, LayoutError};
use super::ops::{Arg, OpCode, Payload};
use super::policy::{Policy, Rule, Verdict};
use super::reader::{FrameIssue, ReadError, Reader, ReaderLimits};
use super::value::{Arena, Call, CallKind, Sb, V};
use crate::formats::dtype::{DType, DTypeState};

/// Budgets of one walk. The defaults let real checkpoints through (a 4 MB pickle with millions
/// of opcodes is normal data) while bounding hostile input.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    /// Opcodes across the whole stream.
    pub max_ops: u64,
    /// Values on the stack (all mark levels together).
    pub max_stack: usize,
    /// Open MARKs.
    pub max_marks: usize,
    /// Memo entries per pickle.
    pub max_memo: usize,
    /// Values kept for analysis per pickle, in 16-byte units: a container or tuple item counts
    /// one, a call result four. Beyond it container items are no longer kept (containers only
    /// count) and a new tuple or call ends the walk as inconclusive.
    pub max_retained: usize,
    /// Bytes kept of string and bytes values per pickle; beyond it only short heads are kept
    /// (values verbatim in the stream are then re-read from there when needed).
    pub max_kept_bytes: usize,
    /// Pickles nested inline in the stream (joblib object arrays).
    pub max_nesting: u32,
    /// Bytes kept of a long string/bytes payload (nested-pickle and base64 detection).
    pub prefix: usize,
    /// Nested blobs reported per stream.
    pub max_nested: usize,
    /// Lists, dicts and sets created per pickle (each costs a few bytes for the whole pickle,
    /// even after it is popped). Pickler-written files memoize every container, so `max_memo`
    /// is reached first on real data.
    pub max_containers: usize,
    /// Retained values (same units as `max_retained`) after which plain data is summarised
    /// instead of kept: tuples of numbers and letterless short strings become [`V::Plain`], and
    /// such values (and containers left empty by it) are no longer stored as container items
    /// (the container is marked lossy, so lookups in it fail closed). What can still become an
    /// import, a call operand or evidence (strings with letters, bytes, globals, call results)
    /// is kept up to `max_retained`.
    pub max_plain: usize,
    /// When the walk gives up (the engine's per-file time budget); checked every 64Ki opcodes.
    pub deadline: Option<std::time::Instant>,
}

impl Default for WalkLimits {
    fn default() -> Self {
        Self {
            max_ops: 400_000_000,
            max_stack: 8_000_000,
            max_marks: 1_000_000,
            max_memo: 8_000_000,
            max_retained: 24_000_000,
            max_kept_bytes: 64 * 1024 * 1024,
            max_nesting: 8,
            prefix: 4 * 1024 * 1024,
            max_nested: 256,
            max_containers: 16_000_000,
            max_plain: 1_000_000,
            deadline: None,
        }
    }
}

/// How a global was classified.
#[derive(Debug, Clone)]
pub enum Class {
    /// Allowed by the signature database.
    Allowed(Rule),
    /// Tolerated (inert) by the signature database.
    Tolerated(Rule),
    /// Denied by the signature database.
    Denied(Rule),
    /// Neither allowed nor denied.
    Unknown,
    /// A dunder segment (`__builtins__`, `__class__`, `__globals__`, …) in the module or name.
    Dunder(String),
    /// A dotted attribute path (`pathlib` + `os.system`) that no entry allows exactly.
    Dotted,
    /// The module or name is not a valid identifier path (cannot be imported as written).
    Invalid,
}

/// One imported global, reported once per (module, name) per pickle.
#[derive(Debug, Clone)]
pub struct GlobalUse {
    /// Resolved as `find_class` resolves it (Python 2 names mapped for protocol < 3).
    pub module: String,
    pub name: String,
    /// As written in the stream.
    pub raw_module: String,
    pub raw_name: String,
    pub class: Class,
    /// The opcode that first produced it (GLOBAL, STACK_GLOBAL, INST, or REDUCE for a resolved
    /// `getattr(global, "name")`).
    pub opcode: OpCode,
    pub first_offset: u64,
    pub refs: u32,
    /// Calls of the global (REDUCE, NEWOBJ, OBJ, INST, NEWOBJ_EX).
    pub calls: u32,
    /// Copies of it pushed from the memo (GET) or by DUP: with `refs`, every value of it that
    /// was ever on the stack.
    pub copies: u32,
    /// REDUCE calls that are `eval('data', {'data': …})` ([`super::lookup`]).
    pub name_lookups: u32,
    /// BUILDs on its instances (`__setstate__`).
    pub builds: u32,
    /// The first call sites: (offset, opcode).
    pub call_sites: Vec<(u64, OpCode)>,
    /// Index of the pickle in the stream (0-based, in walk order).
    pub pickle: u32,
    /// Inline nesting depth (0 for top-level pickles).
    pub depth: u32,
    /// The most severe deny among alternative readings of a dotted name (`pathlib` + `os.system`
    /// → `os.system`), as "module:name".
    pub resolved_as: Option<String>,
}

impl GlobalUse {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }

    /// Whether this is `builtins.eval` and every value of it the pickle ever pushed (imported,
    /// fetched from the memo, duplicated) was the callable of a REDUCE of the form
    /// `eval('data', {'data': …})`, and nothing else: no other call, no BUILD, no copy left on
    /// the stack, stored in a container or passed as an argument.
    pub fn only_name_lookups(&self) -> bool {
        self.module == super::lookup::MODULE
            && self.name == super::lookup::NAME
            && self.name_lookups > 0
            && self.calls == self.name_lookups
            && self.builds == 0
            && u64::from(self.refs).saturating_add(u64::from(self.copies))
                == u64::from(self.name_lookups)
    }
}

/// Structural problems and notable events found while walking.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueKind {
    /// A STACK_GLOBAL operand that is not a string (or a name too long to keep).
    UnresolvedGlobal { detail: String },
    /// EXT1/EXT2/EXT4: an extension-registry lookup.
    Extension { code: u64 },
    /// A framing irregularity.
    Frame(FrameIssue),
    /// A semantic error the loader raises on (stack underflow, missing memo key, …). The first
    /// one per pickle is reported with the number of further occurrences.
    Malformed { message: String, count: u64 },
    /// The reader stopped: invalid opcode, truncation, I/O.
    ReadFailed { message: String },
    /// Bytes after a STOP that do not start a valid pickle.
    TrailingData {
        len_hint: Option<u64>,
        message: String,
    },
    /// A budget ran out; the rest of the stream was not analysed.
    Budget { what: &'static str },
    /// NEXT_BUFFER/READONLY_BUFFER: out-of-band buffers.
    OutOfBand,
    /// BUILD applied directly to an imported object (mutates a module, class or function).
    SetstateOnGlobal { global: String },
    /// A call whose callable is itself the result of a call or an unresolved value.
    IndirectCall { root: String },
    /// A nested loader whose input is not a literal the scanner can see.
    OpaqueNestedInput { loader: String },
    /// A joblib array wrapper whose size or dtype cannot be determined, so the raw data after
    /// it cannot be skipped the way joblib skips it.
    JoblibUnresolved { detail: String },
    /// A legacy joblib wrapper that names a side file (`None`: a name that is not a literal
    /// string, so where joblib reads from is unknown).
    JoblibSideFile { filename: Option<String> },
    /// Bytes that joblib skips as array data but `pickle.load` would execute as opcodes.
    JoblibDifferential { len: u64 },
    /// A blob that could not be decoded completely (longer than the kept prefix).
    TruncatedBlob { via: String, len: u64 },
}

/// One issue with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub kind: IssueKind,
    pub offset: u64,
    pub pickle: u32,
}

/// Where the bytes of a nested blob are.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// Verbatim in the walked stream at `offset`, `len` bytes long.
    Stream { offset: u64, len: u64 },
    /// Decoded bytes (base64, hex, latin-1 text), complete.
    Inline(Arc<[u8]>),
}

/// Content to scan recursively: bytes handed to a nested loader or an encoded pickle.
#[derive(Debug, Clone)]
pub struct NestedBlob {
    /// Offset of the call site (or of the string for encoded blobs).
    pub offset: u64,
    /// What hands it over: `pickle.loads`, `base64`, …
    pub via: String,
    pub source: BlobSource,
    /// Whether the receiving function is a pickle loader (the bytes are unpickled whatever they
    /// look like).
    pub loader: bool,
}

/// A `('storage', class, key, location, numel[, view])` persistent id (PyTorch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePid {
    pub key: String,
    /// The storage class, `module.name`.
    pub class: Option<String>,
    pub numel: Option<i64>,
}

/// A summary of a pickle's result value (what `pickle.load` returns).
#[derive(Debug, Clone, PartialEq)]
pub enum TopValue {
    None,
    Bool(bool),
    Int(i128),
    HugeInt,
    Float,
    Str(String),
    Bytes(u64),
    List(Vec<TopValue>),
    Tuple(Vec<TopValue>),
    Dict(Vec<(TopValue, TopValue)>),
    /// The result of a call; the callable when it is a global.
    Call {
        callee: Option<String>,
    },
    Global(String),
    Other(&'static str),
}

/// One pickle of the stream.
#[derive(Debug, Clone)]
pub struct PickleInfo {
    pub index: u32,
    pub start: u64,
    /// Offset just past STOP (or where the walk stopped).
    pub end: u64,
    /// The last PROTO seen (0 when none).
    pub protocol: u8,
    pub ops: u64,
    pub depth: u32,
    /// The result (`None` when the pickle did not reach STOP).
    pub result: Option<TopValue>,
}

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct Analysis {
    pub pickles: Vec<PickleInfo>,
    pub globals: Vec<GlobalUse>,
    pub issues: Vec<Issue>,
    pub nested: Vec<NestedBlob>,
    pub storages: Vec<StoragePid>,
    /// joblib inline arrays whose raw bytes were skipped, in stream order (the bytes the
    /// converter's VM reads for them: see [`super::joblib`]).
    pub arrays: Vec<ArraySpan>,
    pub opcodes: u64,
    /// Bytes consumed from the stream.
    pub bytes: u64,
    /// False when a budget or read error stopped the walk before the end of the stream.
    pub complete: bool,
}

/// How a call to [`Walker::next_pickle`] ended.
#[derive(Debug)]
pub enum Outcome {
    /// A pickle was read up to its STOP.
    Pickle(PickleInfo),
    /// The stream ended cleanly before another pickle.
    Eof,
    /// The walk stopped (read error or budget); the reason is in the issues.
    Stopped,
}

/// The state keys whose bytes a gradient-boosting class's `__setstate__` hands to its native
/// loader: XGBoost's `Booster` (`handle`, a UBJSON memory snapshot), LightGBM's `Booster`
/// (`_handle`, `handle` before 4.0: the text model) and CatBoost's estimators (`__model`, a
/// `CBM1` model). Those bytes are scanned as the model they are.
fn native_model_state(class: &str) -> Option<&'static [&'static str]> {
    match class {
        "xgboost.core.Booster" => Some(&["handle"]),
        "lightgbm.basic.Booster" => Some(&["_handle", "handle"]),
        c if c.starts_with("catboost.core.") => Some(&["__model"]),
        _ => None,
    }
}

/// Loader functions whose bytes argument is unpickled (or loaded as a model) by the callee.
const NESTED_LOADERS: &[&str] = &[
    "pickle.loads",
    "pickle.load",
    "pickle._loads",
    "pickle._load",
    "pickle.Unpickler",
    "pickle._Unpickler",
    "_pickle.loads",
    "_pickle.load",
    "_pickle.Unpickler",
    "dill.loads",
    "dill.load",
    "dill._dill.loads",
    "dill._dill.load",
    "cloudpickle.loads",
    "cloudpickle.load",
    "cloudpickle.cloudpickle.loads",
    "joblib.load",
    "joblib.numpy_pickle.load",
    "numpy.load",
    "numpy.lib.npyio.load",
    "numpy.lib._npyio_impl.load",
    "torch.load",
    "torch.serialization.load",
    "torch.serialization._load",
    "torch.serialization._legacy_load",
    "torch.storage._load_from_bytes",
    "torch.jit.load",
    "torch.hub.load_state_dict_from_url",
    "pandas.read_pickle",
    "pandas.io.pickle.read_pickle",
    "marshal.loads",
    "marshal.load",
    "keras.models.load_model",
    "tensorflow.keras.models.load_model",
    "onnx.load",
    "onnx.load_model_from_string",
];

/// Wrappers that turn bytes into a file-like object or a decoded byte string handed on.
const BYTES_WRAPPERS: &[&str] = &[
    "io.BytesIO",
    "_io.BytesIO",
    "io.StringIO",
    "_io.StringIO",
    "base64.b64decode",
    "base64.decodebytes",
    "base64.standard_b64decode",
    "base64.urlsafe_b64decode",
    "binascii.a2b_base64",
    "binascii.unhexlify",
    "binascii.a2b_hex",
    "codecs.decode",
    "_codecs.decode",
    "codecs.encode",
    "_codecs.encode",
    "zlib.decompress",
    "gzip.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "builtins.bytes",
    "builtins.bytearray",
    "builtins.bytes.fromhex",
    "builtins.memoryview",
];

/// Bytes kept of a long string (module and attribute names, encoded blobs).
const KEEP_STR: usize = 4096;
/// Bytes kept of each long string once the pickle's kept-bytes budget is spent: enough for any
/// real module or attribute name, so imports stay resolvable.
const KEEP_STR_OVER_BUDGET: usize = 256;
/// Bytes kept of a bytes payload too large (or past the budget) to keep whole: enough to sniff.
const KEEP_BYTES: usize = 64;

const JOBLIB_WRAPPER: &str = "joblib.numpy_pickle.NumpyArrayWrapper";
const JOBLIB_LEGACY: &[&str] = &[
    "joblib.numpy_pickle.NDArrayWrapper",
    "joblib.numpy_pickle.ZNDArrayWrapper",
    "joblib.numpy_pickle_compat.NDArrayWrapper",
    "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
];

/// The walker over one stream. Drive it with [`Walker::next_pickle`] (or use
/// [`analyse_stream`] for "every pickle until EOF").
pub struct Walker<'p, R> {
    reader: Reader<R>,
    policy: &'p Policy,
    limits: WalkLimits,
    out: Analysis,
    ops: u64,
    /// The opcode count at which the opcode budget and the deadline are next checked.
    check_at: u64,
    seq: u32,
    stopped: bool,
    /// Apply joblib's inline-array semantics at wrapper BUILDs.
    pub joblib: bool,
}

struct GlobalTable {
    uses: Vec<GlobalUse>,
    index: HashMap<Box<[u8]>, u32>,
    key: Vec<u8>,
}

/// Per-pickle machine state.
struct Machine {
    stack: Vec<V>,
    marks: Vec<usize>,
    /// Memo keys below [`DENSE_MEMO`]: an index into `memo_vals`, or [`MEMO_ABSENT`] /
    /// [`MEMO_PLAIN`] (plain data costs 4 bytes per key, not a stored value).
    memo_dense: super::memo::DenseMemo,
    memo_vals: Vec<V>,
    memo_sparse: HashMap<u64, V>,
    memo_len: u64,
    proto: u8,
    retained: usize,
    globals: GlobalTable,
    index: u32,
    depth: u32,
    start: u64,
    ops: u64,
    malformed: Option<(u64, String)>,
    malformed_count: u64,
    arena: Arena,
    /// Set when a call result could not be kept (the retained budget is spent).
    over_budget: bool,
    /// A joblib array wrapper on the stack (index, call id): while it waits for its BUILD,
    /// nothing is summarised, so its state (dtype, shape, alignment) is always exact.
    protect: Option<(usize, u32)>,
}

enum Step {
    Continue,
    Stop(V),
    Fail,
}

impl GlobalTable {
    fn new() -> Self {
        Self {
            uses: Vec::new(),
            index: HashMap::new(),
            key: Vec::new(),
        }
    }
}

impl Machine {
    fn new(index: u32, depth: u32, start: u64) -> Self {
        Self {
            stack: Vec::new(),
            marks: Vec::new(),
            memo_dense: super::memo::DenseMemo::new(MEMO_ABSENT),
            memo_vals: Vec::new(),
            memo_sparse: HashMap::new(),
            memo_len: 0,
            proto: 0,
            retained: 0,
            globals: GlobalTable::new(),
            index,
            depth,
            start,
            ops: 0,
            malformed: None,
            malformed_count: 0,
            arena: Arena::default(),
            over_budget: false,
            protect: None,
        }
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    /// Counts a copy of an imported global pushed again (GET, DUP).
    fn count_copy(&mut self, v: &V) {
        if let V::Global(id) = v {
            if let Some(u) = self.globals.uses.get_mut(*id as usize) {
                u.copies = u.copies.saturating_add(1);
            }
        }
    }

    fn note(&mut self, offset: u64, msg: impl Into<String>) {
        self.malformed_count = self.malformed_count.saturating_add(1);
        if self.malformed.is_none() {
            self.malformed = Some((offset, msg.into()));
        }
    }

    fn pop(&mut self, offset: u64, op: OpCode) -> V {
        if self.stack.len() > self.fence() {
            self.stack.pop().unwrap_or(V::Unknown)
        } else {
            self.note(offset, format!("stack underflow at {}", op.name()));
            V::Unknown
        }
    }

    fn top(&mut self, offset: u64, op: OpCode) -> V {
        if self.stack.len() > self.fence() {
            self.stack.last().copied().unwrap_or(V::Unknown)
        } else {
            self.note(offset, format!("stack underflow at {}", op.name()));
            V::Unknown
        }
    }

    fn pop_mark(&mut self, offset: u64, op: OpCode) -> Vec<V> {
        match self.marks.pop() {
            Some(m) => self.stack.split_off(m.min(self.stack.len())),
            None => {
                self.note(offset, format!("{} without MARK", op.name()));
                Vec::new()
            }
        }
    }

    fn memo_get(&self, idx: u64) -> Option<V> {
        if let Some(slot) = usize::try_from(idx)
            .ok()
            .and_then(|i| self.memo_dense.get(i))
        {
            return match slot {
                // A key stored in the map before the dense range grew over it.
                MEMO_ABSENT => self.memo_sparse.get(&idx).copied(),
                MEMO_PLAIN => Some(V::Plain),
                s if s & MEMO_TAG == MEMO_DICT => Some(V::Dict(s & !MEMO_TAG)),
                s if s & MEMO_TAG == MEMO_LIST => Some(V::List(s & !MEMO_TAG)),
                i => self.memo_vals.get(i as usize).copied(),
            };
        }
        self.memo_sparse.get(&idx).copied()
    }

    /// Stores `v` at `idx`; `false` when the memo budget is spent. Plain data (see
    /// [`memo_plain`]) is recorded as such without keeping the value, and dicts and lists are
    /// encoded in the 4-byte slot itself (pickler-written files memoize every container).
    fn memo_put(&mut self, idx: u64, v: V, max: usize) -> bool {
        let dense = usize::try_from(idx).ok().filter(|&i| {
            i < DENSE_MEMO && i <= self.memo_dense.len().saturating_mul(2).saturating_add(1024)
        });
        let Some(i) = dense else {
            let v = if memo_plain(&self.arena, &v) {
                V::Plain
            } else {
                v
            };
            if self.memo_sparse.insert(idx, v).is_none() {
                self.memo_len = self.memo_len.saturating_add(1);
            }
            return self.memo_sparse.len() <= max;
        };
        let slot = match v {
            _ if memo_plain(&self.arena, &v) => MEMO_PLAIN,
            V::Dict(id) if id & MEMO_TAG == 0 => MEMO_DICT | id,
            V::List(id) if id & MEMO_TAG == 0 => MEMO_LIST | id,
            _ => {
                let Ok(at) = u32::try_from(self.memo_vals.len()) else {
                    return false;
                };
                if at & MEMO_TAG != 0 || self.memo_vals.len() >= max {
                    return false;
                }
                self.memo_vals.push(v);
                at
            }
        };
        // The key may have been stored in the map before the dense range grew over it: the
        // dense slot replaces it (the loader keeps the latest value).
        let moved = !self.memo_sparse.is_empty() && self.memo_sparse.remove(&idx).is_some();
        if self.memo_dense.set(i, slot) && !moved {
            self.memo_len = self.memo_len.saturating_add(1);
        }
        true
    }

    fn retain(&mut self, n: usize, max: usize) -> bool {
        self.retained = self.retained.saturating_add(n);
        self.retained <= max
    }

    /// TUPLE: the items above the last MARK become a tuple; `None` when the budget is spent.
    fn tuple_from_mark(&mut self, offset: u64, op: OpCode, max: usize) -> Option<V> {
        let mark = if let Some(mark) = self.marks.pop() {
            mark.min(self.stack.len())
        } else {
            self.note(offset, format!("{} without MARK", op.name()));
            self.stack.len()
        };
        if !self.retain(self.stack.len().saturating_sub(mark), max) {
            return None;
        }
        self.arena.tuple(self.stack.drain(mark..))
    }

    /// A tuple of `items`; `None` when the budget is spent.
    fn tuple(&mut self, items: &[V], max: usize) -> Option<V> {
        if !self.retain(items.len(), max) {
            return None;
        }
        self.arena.tuple(items.iter().copied())
    }
}

/// Bytes read and searched after a joblib array whose length cannot be proven.
const UNPROVEN_TAIL: u64 = 64 * 1024 * 1024;
/// Offsets tried as the start of a resumed pickle in that tail.
const MAX_RESUME_POINTS: u32 = 1_000_000;

/// Memo keys addressed densely (4 bytes each); larger keys go to a map.
const DENSE_MEMO: usize = 1 << 26;
/// Dense memo slots: the top two bits say what the rest is (an index into the stored
/// values, a dict id, a list id); all-ones values are the two markers below.
const MEMO_TAG: u32 = 0b11 << 30;
const MEMO_DICT: u32 = 0b01 << 30;
const MEMO_LIST: u32 = 0b10 << 30;
const MEMO_ABSENT: u32 = u32::MAX;
const MEMO_PLAIN: u32 = u32::MAX - 1;

/// Plain data: numbers, short strings without letters, summarised tuples, and containers that
/// kept nothing because all their items were plain. None of these can become an import, a call
/// target or an encoding/dtype name, so the walker may summarise them. `None` and bools are
/// not included: their identity matters (joblib's "alignment is None").
fn is_plain(arena: &Arena, v: &V) -> bool {
    match v {
        V::Int(_) | V::BigInt(_) | V::HugeInt | V::Float | V::Plain => true,
        V::Str(s) => arena.plain_text(s),
        V::List(c) | V::Dict(c) | V::Set(c) => arena.is_lossy(*c) && arena.is_empty_container(*c),
        _ => false,
    }
}

/// Whether the joblib wrapper recorded in `m.protect` still waits on the stack.
fn protected(m: &Machine) -> bool {
    m.protect
        .is_some_and(|(i, id)| matches!(m.stack.get(i), Some(V::Call(c)) if *c == id))
}

/// Plain data the memo summarises: integers stay exact (picklers never memoize them, so they
/// cost nothing in practice, and a crafted memo'd int keeps its value and type for messages).
fn memo_plain(arena: &Arena, v: &V) -> bool {
    !matches!(v, V::Int(_) | V::BigInt(_) | V::HugeInt) && is_plain(arena, v)
}

/// Whether `s` is a dunder segment (`__x__`).
fn is_dunder(s: &str) -> bool {
    s.len() > 4 && s.starts_with("__") && s.ends_with("__")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn valid_path(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

impl<'p, R: Read> Walker<'p, R> {
    pub fn new(input: R, policy: &'p Policy, limits: WalkLimits) -> Self {
        Self {
            reader: Reader::with_limits(
                input,
                ReaderLimits {
                    prefix: limits.prefix,
                },
            ),
            policy,
            limits,
            out: Analysis {
                complete: true,
                ..Analysis::default()
            },
            ops: 0,
            check_at: 0,
            seq: 0,
            stopped: false,
            joblib: true,
        }
    }

    /// The underlying reader, to skip raw data between pickles (legacy PyTorch trailers).
    pub fn reader(&mut self) -> &mut Reader<R> {
        &mut self.reader
    }

    /// What was found so far.
    pub fn analysis(&self) -> &Analysis {
        &self.out
    }

    /// Records an issue found by the caller (structure checks between pickles).
    pub fn push_issue(&mut self, kind: IssueKind, offset: u64) {
        let pickle = self.seq.saturating_sub(1);
        self.out.issues.push(Issue {
            kind,
            offset,
            pickle,
        });
    }

    /// Marks the analysis incomplete (the caller could not read everything).
    pub fn mark_incomplete(&mut self) {
        self.out.complete = false;
    }

    /// Ends the walk and returns what was found.
    pub fn finish(mut self) -> Analysis {
        self.out.opcodes = self.ops;
        self.out.bytes = self.reader.offset();
        self.out
    }

    /// Whether the stream has no bytes left.
    pub fn at_eof(&mut self) -> bool {
        self.reader.at_eof().unwrap_or(true)
    }

    /// Reads the next pickle up to its STOP.
    pub fn next_pickle(&mut self) -> Outcome {
        if self.stopped {
            return Outcome::Stopped;
        }
        match self.reader.at_eof() {
            Ok(true) => return Outcome::Eof,
            Ok(false) => {}
            Err(e) => {
                self.fail_read(&e, self.seq);
                return Outcome::Stopped;
            }
        }
        self.reader.reset_frame();
        let index = self.seq;
        self.seq = self.seq.saturating_add(1);
        let start = self.reader.offset();
        let mut m = Machine::new(index, 0, start);
        let step = self.run(&mut m);
        let result = match &step {
            Step::Stop(v) => Some(self.summarise(&m, v, 0)),
            _ => None,
        };
        self.finish_machine(&mut m);
        let info = PickleInfo {
            index,
            start,
            end: self.reader.offset(),
            protocol: m.proto,
            ops: m.ops,
            depth: 0,
            result,
        };
        self.out.pickles.push(info.clone());
        match step {
            Step::Stop(_) => Outcome::Pickle(info),
            Step::Continue | Step::Fail => {
                self.stopped = true;
                Outcome::Stopped
            }
        }
    }

    fn finish_machine(&mut self, m: &mut Machine) {
        if let Some((offset, message)) = m.malformed.take() {
            self.out.issues.push(Issue {
                kind: IssueKind::Malformed {
                    message,
                    count: m.malformed_count,
                },
                offset,
                pickle: m.index,
            });
        }
        self.out.globals.append(&mut m.globals.uses);
    }

    fn fail_read(&mut self, e: &ReadError, pickle: u32) {
        self.out.complete = false;
        self.stopped = true;
        self.out.issues.push(Issue {
            kind: IssueKind::ReadFailed {
                message: e.to_string(),
            },
            offset: e.offset(),
            pickle,
        });
    }

    fn budget(&mut self, what: &'static str, offset: u64, pickle: u32) -> Step {
        self.out.complete = false;
        self.stopped = true;
        self.out.issues.push(Issue {
            kind: IssueKind::Budget { what },
            offset,
            pickle,
        });
        Step::Fail
    }

    fn issue(&mut self, m: &Machine, kind: IssueKind, offset: u64) {
        self.out.issues.push(Issue {
            kind,
            offset,
            pickle: m.index,
        });
    }

    /// Runs the machine until STOP, a read error or a budget.
    #[allow(clippy::too_many_lines)]
    fn run(&mut self, m: &mut Machine) -> Step {
        use OpCode as O;
        loop {
            let op = match self.reader.next_op() {
                Ok(Some(op)) => op,
                Ok(None) => {
                    let off = self.reader.offset();
                    self.out.complete = false;
                    let e = ReadError::Truncated {
                        offset: off,
                        op: "STOP",
                    };
                    self.fail_read(&e, m.index);
                    return Step::Fail;
                }
                Err(e) => {
                    if m.ops == 0 && m.index > 0 && m.depth == 0 {
                        // Not a pickle at all: data after the previous STOP.
                        self.stopped = true;
                        self.out.issues.push(Issue {
                            kind: IssueKind::TrailingData {
                                len_hint: None,
                                message: e.to_string(),
                            },
                            offset: m.start,
                            pickle: m.index,
                        });
                    } else {
                        self.fail_read(&e, m.index);
                    }
                    return Step::Fail;
                }
            };
            self.ops = self.ops.saturating_add(1);
            m.ops = m.ops.saturating_add(1);
            let offset = op.offset;
            let code = op.code;
            // One comparison per opcode: the opcode budget and the clock are both checked only
            // when the count reaches the next checkpoint (every 64Ki opcodes, or the budget).
            if self.ops > self.check_at {
                if self.ops > self.limits.max_ops {
                    return self.budget("opcodes", offset, m.index);
                }
                if self
                    .limits
                    .deadline
                    .is_some_and(|d| std::time::Instant::now() >= d)
                {
                    return self.budget("time", offset, m.index);
                }
                self.check_at = self.ops.saturating_add(0x1_0000).min(self.limits.max_ops);
            }
            match code {
                O::Mark => {
                    if m.marks.len() >= self.limits.max_marks {
                        return self.budget("marks", offset, m.index);
                    }
                    m.marks.push(m.stack.len());
                }
                O::Stop => {
                    let v = m.pop(offset, code);
                    return Step::Stop(v);
                }
                O::Pop => {
                    if m.stack.len() > m.fence() {
                        m.stack.pop();
                    } else if m.marks.pop().is_none() {
                        m.note(offset, "POP on an empty stack");
                    }
                }
                O::PopMark => {
                    let _ = m.pop_mark(offset, code);
                }
                O::Dup => {
                    let v = m.top(offset, code);
                    m.count_copy(&v);
                    m.stack.push(v);
                }
                O::None => m.stack.push(V::None),
                O::NewTrue => m.stack.push(V::Bool(true)),
                O::NewFalse => m.stack.push(V::Bool(false)),
                O::Int | O::BinInt | O::BinInt1 | O::BinInt2 | O::Long | O::Long1 | O::Long4 => {
                    let v = match op.arg {
                        Arg::Int(i) => V::Int(i),
                        Arg::BigInt(b) => m.arena.big(b),
                        Arg::Bool(b) => V::Bool(b),
                        _ => V::HugeInt,
                    };
                    m.stack.push(v);
                }
                O::Float | O::BinFloat => m.stack.push(V::Float),
                O::String
                | O::BinString
                | O::ShortBinString
                | O::Unicode
                | O::BinUnicode
                | O::ShortBinUnicode
                | O::BinUnicode8
                | O::BinBytes
                | O::ShortBinBytes
                | O::BinBytes8
                | O::ByteArray8 => {
                    let (v, found) = match op.arg {
                        Arg::Str(p) => (
                            V::Str(payload_value(&mut m.arena, &p, false, &self.limits)),
                            if p.len >= 24 {
                                encoded_blob(p.data, p.len)
                            } else {
                                None
                            },
                        ),
                        Arg::Bytes(p) => (
                            V::Bytes(payload_value(&mut m.arena, &p, true, &self.limits)),
                            if p.len >= 24 {
                                encoded_blob(p.data, p.len)
                            } else {
                                None
                            },
                        ),
                        _ => (V::Unknown, None),
                    };
                    m.stack.push(v);
                    if let Some(found) = found {
                        self.report_encoded(m, found, offset);
                    }
                }
                O::PersId => {
                    let v = match op.arg {
                        Arg::Text(t) => V::Str(m.arena.sb(t, t.len() as u64, None, KEEP_STR)),
                        _ => V::Unknown,
                    };
                    let pid = m.arena.persid(v);
                    m.stack.push(pid);
                }
                O::BinPersId => {
                    let pid = m.pop(offset, code);
                    self.record_storage(&pid, m);
                    let pid = m.arena.persid(pid);
                    m.stack.push(pid);
                }
                O::Global | O::Inst => {
                    let (module, name) = match op.arg {
                        Arg::Global { module, name } => (
                            String::from_utf8_lossy(module).into_owned(),
                            String::from_utf8_lossy(name).into_owned(),
                        ),
                        _ => (String::new(), String::new()),
                    };
                    let g = self.resolve(m, &module, &name, code, offset, true);
                    if code == O::Global {
                        m.stack.push(g);
                    } else {
                        let Some(args) = m.tuple_from_mark(offset, code, self.limits.max_retained)
                        else {
                            return self.budget("retained values", offset, m.index);
                        };
                        let r = self.call(m, &g, &args, CallKind::Call, code, offset);
                        m.stack.push(r);
                        self.protect_wrapper(m, r);
                    }
                }
                O::StackGlobal => {
                    let name = m.pop(offset, code);
                    let module = m.pop(offset, code);
                    let g = match (
                        operand_text(&m.arena, &module),
                        operand_text(&m.arena, &name),
                    ) {
                        (Ok(mo), Ok(na)) => {
                            let (mo, na) = (mo.to_owned(), na.to_owned());
                            self.resolve(m, &mo, &na, code, offset, true)
                        }
                        (a, b) => {
                            let detail = match (a, b) {
                                (Err(e), _) => format!("module operand is {e}"),
                                (_, Err(e)) => format!("name operand is {e}"),
                                _ => String::new(),
                            };
                            self.issue(m, IssueKind::UnresolvedGlobal { detail }, offset);
                            V::Unknown
                        }
                    };
                    m.stack.push(g);
                }
                O::Reduce => {
                    let args = m.pop(offset, code);
                    let callee = m.pop(offset, code);
                    let r = self.call(m, &callee, &args, CallKind::Call, code, offset);
                    m.stack.push(r);
                    self.protect_wrapper(m, r);
                }
                O::NewObj => {
                    let args = m.pop(offset, code);
                    let cls = m.pop(offset, code);
                    let r = self.call(m, &cls, &args, CallKind::New, code, offset);
                    m.stack.push(r);
                    self.protect_wrapper(m, r);
                }
                O::NewObjEx => {
                    let kwargs = m.pop(offset, code);
                    let args = m.pop(offset, code);
                    let cls = m.pop(offset, code);
                    // cls.__new__(cls, *args, **kwargs): flatten to one argument tuple.
                    let mut items: Vec<V> = m.arena.as_tuple(&args).unwrap_or_default().to_vec();
                    if let V::Dict(d) = &kwargs {
                        items.extend(m.arena.pairs(*d).map(|(_, v)| *v));
                    }
                    let Some(both) = m.tuple(&items, self.limits.max_retained) else {
                        return self.budget("retained values", offset, m.index);
                    };
                    let r = self.call(m, &cls, &both, CallKind::New, code, offset);
                    m.stack.push(r);
                    self.protect_wrapper(m, r);
                }
                O::Obj => {
                    let mut items = m.pop_mark(offset, code);
                    if items.is_empty() {
                        m.note(offset, "OBJ without a class");
                        m.stack.push(V::Unknown);
                    } else {
                        let cls = items.remove(0);
                        let Some(args) = m.tuple(&items, self.limits.max_retained) else {
                            return self.budget("retained values", offset, m.index);
                        };
                        let r = self.call(m, &cls, &args, CallKind::Call, code, offset);
                        m.stack.push(r);
                        self.protect_wrapper(m, r);
                    }
                }
                O::Build => {
                    let state = m.pop(offset, code);
                    let inst = m.top(offset, code);
                    let step = self.build(m, &inst, &state, offset);
                    if !matches!(step, Step::Continue) {
                        return step;
                    }
                }
                O::Ext1 | O::Ext2 | O::Ext4 => {
                    let c = match op.arg {
                        Arg::Index(i) => i,
                        _ => 0,
                    };
                    self.issue(m, IssueKind::Extension { code: c }, offset);
                    m.stack.push(V::Unknown);
                }
                O::EmptyTuple | O::Tuple1 | O::Tuple2 | O::Tuple3 => {
                    let n = match code {
                        O::EmptyTuple => 0,
                        O::Tuple1 => 1,
                        O::Tuple2 => 2,
                        _ => 3,
                    };
                    let mut items = [V::Unknown; 3];
                    for slot in items.iter_mut().take(n).rev() {
                        *slot = m.pop(offset, code);
                    }
                    let items = items.get(..n).unwrap_or_default();
                    if self.summarise_plain(m, items) {
                        m.stack.push(V::Plain);
                    } else {
                        let Some(t) = m.tuple(items, self.limits.max_retained) else {
                            return self.budget("retained values", offset, m.index);
                        };
                        m.stack.push(t);
                    }
                }
                O::Tuple => {
                    let from = m.marks.last().copied().unwrap_or(usize::MAX);
                    let plain = m
                        .stack
                        .get(from..)
                        .is_some_and(|items| self.summarise_plain(m, items));
                    if plain {
                        m.marks.pop();
                        m.stack.truncate(from);
                        m.stack.push(V::Plain);
                    } else {
                        let Some(t) = m.tuple_from_mark(offset, code, self.limits.max_retained)
                        else {
                            return self.budget("retained values", offset, m.index);
                        };
                        m.stack.push(t);
                    }
                }
                O::EmptyList | O::EmptyDict | O::EmptySet => {
                    let Some(id) = self.container(m) else {
                        return self.budget("containers", offset, m.index);
                    };
                    m.stack.push(match code {
                        O::EmptyList => V::List(id),
                        O::EmptyDict => V::Dict(id),
                        _ => V::Set(id),
                    });
                }
                O::List | O::FrozenSet => {
                    let Some(id) = self.container(m) else {
                        return self.budget("containers", offset, m.index);
                    };
                    if let Some(mark) = m.marks.pop() {
                        let mark = mark.min(m.stack.len());
                        let n = m.stack.len().saturating_sub(mark);
                        if !m.retain(n, self.limits.max_retained)
                            || !m.arena.extend(id, m.stack.get(mark..).unwrap_or_default())
                        {
                            return self.budget("retained container items", offset, m.index);
                        }
                        m.stack.truncate(mark);
                    } else {
                        m.note(offset, format!("{} without MARK", code.name()));
                    }
                    m.stack.push(if code == O::List {
                        V::List(id)
                    } else {
                        V::Set(id)
                    });
                }
                O::Dict => {
                    let Some(id) = self.container(m) else {
                        return self.budget("containers", offset, m.index);
                    };
                    let items = m.pop_mark(offset, code);
                    let items = pairs(items);
                    if !m.retain(items.len() / 2, self.limits.max_retained)
                        || !m.arena.extend(id, &items)
                    {
                        return self.budget("retained container items", offset, m.index);
                    }
                    m.stack.push(V::Dict(id));
                }
                O::Append => {
                    let v = m.pop(offset, code);
                    let target = m.top(offset, code);
                    if !self.extend(m, &target, v, offset) {
                        return self.budget("retained container items", offset, m.index);
                    }
                }
                O::Appends | O::AddItems => {
                    if !self.fill_from_mark(m, false, code, offset) {
                        return self.budget("retained container items", offset, m.index);
                    }
                }
                O::SetItem => {
                    let v = m.pop(offset, code);
                    let k = m.pop(offset, code);
                    let target = m.top(offset, code);
                    if !self.set_item(m, &target, k, v, offset) {
                        return self.budget("retained container items", offset, m.index);
                    }
                }
                O::SetItems => {
                    if !self.fill_from_mark(m, true, code, offset) {
                        return self.budget("retained container items", offset, m.index);
                    }
                }
                O::Get | O::BinGet | O::LongBinGet => {
                    let idx = match op.arg {
                        Arg::Index(i) => i,
                        _ => u64::MAX,
                    };
                    let v = if let Some(v) = m.memo_get(idx) {
                        v
                    } else {
                        m.note(
                            offset,
                            format!("memo key {idx} is not set ({})", code.name()),
                        );
                        V::Unknown
                    };
                    m.count_copy(&v);
                    m.stack.push(v);
                }
                O::Put | O::BinPut | O::LongBinPut | O::Memoize => {
                    let idx = match (code, op.arg) {
                        (O::Memoize, _) => m.memo_len,
                        (_, Arg::Index(i)) => i,
                        _ => u64::MAX,
                    };
                    let v = m.top(offset, code);
                    if !m.memo_put(idx, v, self.limits.max_memo) {
                        return self.budget("memo entries", offset, m.index);
                    }
                }
                O::Proto => {
                    if let Arg::Index(p) = op.arg {
                        m.proto = u8::try_from(p).unwrap_or(u8::MAX);
                        if p > 5 {
                            m.note(offset, format!("unsupported protocol {p}"));
                        }
                    }
                }
                O::Frame => {}
                O::NextBuffer => {
                    self.issue(m, IssueKind::OutOfBand, offset);
                    m.stack.push(V::Unknown);
                }
                O::ReadOnlyBuffer => {}
            }
            if m.stack.len() > self.limits.max_stack {
                return self.budget("stack depth", offset, m.index);
            }
            if m.over_budget {
                return self.budget("retained values", offset, m.index);
            }
            if self.reader.has_frame_issues() {
                for fi in self.reader.take_frame_issues() {
                    let at = match fi {
                        FrameIssue::Straddle { offset, .. } | FrameIssue::Nested { offset, .. } => {
                            offset
                        }
                    };
                    self.issue(m, IssueKind::Frame(fi), at);
                }
            }
        }
    }

    fn report_encoded(&mut self, m: &Machine, found: Encoded, offset: u64) {
        if self.out.nested.len() >= self.limits.max_nested {
            return;
        }
        match found {
            Encoded::Decoded { via, bytes } => self.out.nested.push(NestedBlob {
                offset,
                via: via.to_owned(),
                source: BlobSource::Inline(Arc::from(bytes)),
                loader: false,
            }),
            Encoded::Truncated { via, len } => self.issue(
                m,
                IssueKind::TruncatedBlob {
                    via: via.to_owned(),
                    len,
                },
                offset,
            ),
        }
    }

    /// Whether plain data is being summarised (the plain-data budget is spent, and no joblib
    /// wrapper awaits its state) and `items` are all plain: a tuple of them becomes
    /// [`V::Plain`].
    fn summarise_plain(&self, m: &Machine, items: &[V]) -> bool {
        m.retained >= self.limits.max_plain
            && !protected(m)
            && items.iter().all(|v| is_plain(&m.arena, v))
    }

    /// Whether an item (a dict value) added to a container is kept: always under the plain-data
    /// budget or while a joblib wrapper awaits its state, then only when it is not plain, and
    /// never past `max_retained`.
    fn keeps(&self, m: &Machine, v: &V) -> bool {
        m.retained < self.limits.max_retained
            && (m.retained < self.limits.max_plain || protected(m) || !is_plain(&m.arena, v))
    }

    /// Starts protecting `r` from summarisation when it is a joblib array wrapper instance.
    fn protect_wrapper(&self, m: &mut Machine, r: V) {
        if !self.joblib || m.retained < self.limits.max_plain {
            return;
        }
        let V::Call(id) = r else { return };
        let Some(c) = m.arena.call_of(id) else { return };
        let cls = match c.kind {
            CallKind::Reconstruct => m.arena.as_tuple(&c.args).and_then(|t| t.first()).copied(),
            _ => Some(c.callee),
        };
        let wrapper = matches!(cls, Some(V::Global(g)) if m.globals.uses.get(g as usize).is_some_and(|u| {
            u.name.ends_with("ArrayWrapper") && u.module.contains("joblib")
        }));
        if wrapper {
            m.protect = Some((m.stack.len().saturating_sub(1), id));
        }
    }

    /// APPENDS/ADDITEMS/SETITEMS: moves the items above the last MARK straight into the
    /// container below it (no intermediate vectors while everything is kept: this is the hot
    /// path of dense pickles). Items not kept mark the container lossy.
    fn fill_from_mark(&mut self, m: &mut Machine, dict: bool, code: OpCode, offset: u64) -> bool {
        let Some(mark) = m.marks.pop() else {
            m.note(offset, format!("{} without MARK", code.name()));
            return true;
        };
        let mark = mark.min(m.stack.len());
        let target = if mark > m.fence() {
            mark.checked_sub(1).and_then(|i| m.stack.get(i)).copied()
        } else {
            None
        };
        let n = m.stack.len().saturating_sub(mark);
        let plain_room = self.limits.max_plain.saturating_sub(m.retained);
        match &target {
            Some(V::List(s) | V::Set(s)) if !dict => {
                let s = *s;
                if n <= plain_room {
                    m.retained = m.retained.saturating_add(n);
                    let ok = m.arena.extend(s, m.stack.get(mark..).unwrap_or_default());
                    m.stack.truncate(mark);
                    return ok;
                }
                let mut w = mark;
                for r in mark..m.stack.len() {
                    let Some(v) = m.stack.get(r).copied() else {
                        break;
                    };
                    if self.keeps(m, &v) {
                        m.retained = m.retained.saturating_add(1);
                        if let Some(slot) = m.stack.get_mut(w) {
                            *slot = v;
                        }
                        w = w.saturating_add(1);
                    } else {
                        m.arena.mark_lossy(s);
                    }
                }
                let ok = m.arena.extend(s, m.stack.get(mark..w).unwrap_or_default());
                m.stack.truncate(mark);
                return ok;
            }
            Some(V::Dict(d)) if dict => {
                let d = *d;
                if n / 2 <= plain_room && n % 2 == 0 {
                    m.retained = m.retained.saturating_add(n / 2);
                    let ok = m.arena.extend(d, m.stack.get(mark..).unwrap_or_default());
                    m.stack.truncate(mark);
                    return ok;
                }
                if n % 2 == 1 {
                    m.stack.push(V::Unknown);
                }
                let mut w = mark;
                let mut r = mark;
                while let (Some(k), Some(v)) = (
                    m.stack.get(r).copied(),
                    m.stack.get(r.saturating_add(1)).copied(),
                ) {
                    r = r.saturating_add(2);
                    if self.keeps(m, &v) {
                        m.retained = m.retained.saturating_add(1);
                        if let Some(slot) = m.stack.get_mut(w..w.saturating_add(2)) {
                            slot.copy_from_slice(&[k, v]);
                        }
                        w = w.saturating_add(2);
                    } else {
                        m.arena.mark_lossy(d);
                    }
                }
                let ok = m.arena.extend(d, m.stack.get(mark..w).unwrap_or_default());
                m.stack.truncate(mark);
                return ok;
            }
            Some(V::Unknown | V::Call(_)) => m.stack.truncate(mark),
            Some(other) => {
                m.note(offset, format!("{} on {}", code.name(), other.kind()));
                m.stack.truncate(mark);
            }
            None => {
                m.note(offset, format!("stack underflow at {}", code.name()));
                m.stack.truncate(mark);
            }
        }
        true
    }

    fn extend(&mut self, m: &mut Machine, target: &V, item: V, offset: u64) -> bool {
        match target {
            V::List(s) | V::Set(s) => {
                if self.keeps(m, &item) {
                    m.retained = m.retained.saturating_add(1);
                    return m.arena.extend(*s, &[item]);
                }
                m.arena.mark_lossy(*s);
                true
            }
            V::Unknown => true,
            // APPENDS on an arbitrary object calls its extend()/append(): a method call on
            // whatever that object is (a call result or instance).
            V::Call(_) => true,
            other => {
                m.note(offset, format!("append to {}", other.kind()));
                true
            }
        }
    }

    fn set_item(&mut self, m: &mut Machine, target: &V, k: V, v: V, offset: u64) -> bool {
        match target {
            V::Dict(d) => {
                if self.keeps(m, &v) {
                    m.retained = m.retained.saturating_add(1);
                    return m.arena.extend(*d, &[k, v]);
                }
                m.arena.mark_lossy(*d);
                true
            }
            V::Unknown | V::Call(_) => true,
            other => {
                m.note(offset, format!("setitem on {}", other.kind()));
                true
            }
        }
    }

    /// Creates a container; `None` when the container budget is spent.
    fn container(&self, m: &mut Machine) -> Option<u32> {
        if m.arena.containers() >= self.limits.max_containers {
            return None;
        }
        m.arena.create()
    }

    /// Resolves an import. `map` applies the Python 2 mapping (not for derived names).
    fn resolve(
        &mut self,
        m: &mut Machine,
        raw_module: &str,
        raw_name: &str,
        opcode: OpCode,
        offset: u64,
        map: bool,
    ) -> V {
        let py2 = map && m.proto < 3;
        let t = &mut m.globals;
        t.key.clear();
        t.key.push(u8::from(py2));
        t.key.extend_from_slice(raw_module.as_bytes());
        t.key.push(b'\n');
        t.key.extend_from_slice(raw_name.as_bytes());
        if let Some(&id) = t.index.get(t.key.as_slice()) {
            if let Some(u) = t.uses.get_mut(id as usize) {
                u.refs = u.refs.saturating_add(1);
            }
            return V::Global(id);
        }
        let (module, name) = if py2 {
            match map_py2(raw_module, raw_name) {
                Some((mo, na)) => (mo.to_owned(), na),
                None => (raw_module.to_owned(), raw_name.to_owned()),
            }
        } else {
            (raw_module.to_owned(), raw_name.to_owned())
        };
        let (class, resolved_as) = self.classify(&module, &name);
        let id = u32::try_from(t.uses.len()).unwrap_or(u32::MAX);
        let key: Box<[u8]> = t.key.as_slice().into();
        t.index.insert(key, id);
        t.uses.push(GlobalUse {
            module,
            name,
            raw_module: raw_module.to_owned(),
            raw_name: raw_name.to_owned(),
            class,
            opcode,
            first_offset: offset,
            refs: 1,
            calls: 0,
            copies: 0,
            name_lookups: 0,
            builds: 0,
            call_sites: Vec::new(),
            pickle: m.index,
            depth: m.depth,
            resolved_as,
        });
        V::Global(id)
    }

    fn classify(&self, module: &str, name: &str) -> (Class, Option<String>) {
        if !valid_path(module) || !valid_path(name) {
            // Still apply the policy on what is there: a denied module with a junk name is as
            // bad as the module itself.
            if let Verdict::Deny(r) = self.policy.verdict(module, name) {
                return (Class::Denied(r.clone()), None);
            }
            return (Class::Invalid, None);
        }
        // Attribute traversal happens in the name (and in submodule segments); the first module
        // segment is a plain import. A leading dunder module (`__main__`, TorchScript's
        // `__torch__`) is therefore judged by the policy, not treated as dunder traversal.
        if let Some(seg) = name
            .split('.')
            .chain(module.split('.').skip(1))
            .find(|s| is_dunder(s))
        {
            return (Class::Dunder(seg.to_owned()), None);
        }
        let direct = self.policy.verdict(module, name);
        if !name.contains('.') {
            return (
                match direct {
                    Verdict::Allow(r) => Class::Allowed(r.clone()),
                    Verdict::Tolerate(r) => Class::Tolerated(r.clone()),
                    Verdict::Deny(r) => Class::Denied(r.clone()),
                    Verdict::Unknown => Class::Unknown,
                },
                None,
            );
        }
        // Dotted attribute path: consider every reading of module + name as a module path plus
        // an attribute path, including re-rooted tails (`pathlib.os.system` → `os.system`).
        let segs: Vec<&str> = module.split('.').chain(name.split('.')).collect();
        let mut worst: Option<(Rule, String)> = None;
        for start in 0..segs.len() {
            for split in start.saturating_add(1)..segs.len() {
                let (Some(ms), Some(ns)) = (segs.get(start..split), segs.get(split..)) else {
                    continue;
                };
                let (mo, na) = (ms.join("."), ns.join("."));
                if let Verdict::Deny(r) = self.policy.verdict(&mo, &na) {
                    let better = worst.as_ref().is_none_or(|(w, _)| r.severity > w.severity);
                    if better {
                        worst = Some((r.clone(), format!("{mo}:{na}")));
                    }
                }
            }
        }
        if let Some((r, at)) = worst {
            return (Class::Denied(r), Some(at));
        }
        match direct {
            Verdict::Allow(r) => (Class::Allowed(r.clone()), None),
            Verdict::Tolerate(r) => (Class::Tolerated(r.clone()), None),
            _ => (Class::Dotted, None),
        }
    }

    fn record_storage(&mut self, pid: &V, m: &Machine) {
        let Some(items) = m.arena.as_tuple(pid) else {
            return;
        };
        if items.first().and_then(|v| m.arena.as_str(v)) != Some("storage") {
            return;
        }
        if self.out.storages.len() >= self.limits.max_memo {
            return;
        }
        let key = match items.get(2) {
            Some(V::Str(s)) => m.arena.text(s).map(str::to_owned),
            Some(V::Int(i)) => Some(i.to_string()),
            _ => None,
        };
        let Some(key) = key else { return };
        let class = match items.get(1) {
            Some(V::Global(id)) => m.globals.uses.get(*id as usize).map(GlobalUse::qualified),
            _ => None,
        };
        let numel = match items.get(4) {
            Some(V::Int(i)) => Some(*i),
            _ => None,
        };
        self.out.storages.push(StoragePid { key, class, numel });
    }

    /// The class a value is an instance of, when it was built from a global.
    #[allow(clippy::unused_self, clippy::self_only_used_in_recursion)]
    fn instance_class(&self, m: &Machine, v: &V) -> Option<String> {
        let V::Call(id) = v else { return None };
        let c = m.arena.call_of(*id)?;
        match c.kind {
            CallKind::New | CallKind::Call => global_name(m, &c.callee),
            CallKind::Reconstruct => m
                .arena
                .as_tuple(&c.args)?
                .first()
                .and_then(|x| global_name(m, x)),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn call(
        &mut self,
        m: &mut Machine,
        callee: &V,
        args: &V,
        kind: CallKind,
        opcode: OpCode,
        offset: u64,
    ) -> V {
        let mut kind = kind;
        match callee {
            V::Global(id) => {
                let lookup = opcode == OpCode::Reduce
                    && kind == CallKind::Call
                    && super::lookup::is_name_lookup(&m.arena, args);
                let qualified = {
                    let Some(u) = m.globals.uses.get_mut(*id as usize) else {
                        return V::Unknown;
                    };
                    u.calls = u.calls.saturating_add(1);
                    if lookup {
                        u.name_lookups = u.name_lookups.saturating_add(1);
                    }
                    if u.call_sites.len() < 32 {
                        u.call_sites.push((offset, opcode));
                    }
                    u.qualified()
                };
                let allowed = matches!(
                    m.globals.uses.get(*id as usize).map(|u| &u.class),
                    Some(Class::Allowed(_) | Class::Tolerated(_))
                );
                let q = qualified.as_str();
                if NESTED_LOADERS.contains(&q) {
                    let mut found = false;
                    for a in call_args(&m.arena, args) {
                        if let Some(src) = self.blob_of(m, &a, 0) {
                            found = true;
                            self.push_nested(offset, q, src, true);
                        }
                    }
                    if !found {
                        self.issue(
                            m,
                            IssueKind::OpaqueNestedInput {
                                loader: q.to_owned(),
                            },
                            offset,
                        );
                    }
                } else if !allowed && !BYTES_WRAPPERS.contains(&q) {
                    // Bytes handed to something unvetted: scan them if they look like a model.
                    for a in call_args(&m.arena, args) {
                        if let V::Bytes(sb) = &a {
                            if crate::sniff::sniff_embedded(m.arena.bytes(sb), "")
                                != crate::format::Format::Unknown
                            {
                                if let Some(src) = self.blob_of(m, &a, 0) {
                                    self.push_nested(offset, q, src, false);
                                }
                            }
                        }
                    }
                }
                match q {
                    // getattr(<global>, "name") is an attribute lookup the walker can resolve.
                    "builtins.getattr" => {
                        let items = call_args(&m.arena, args);
                        if let (Some(V::Global(gid)), Some(attr)) =
                            (items.first(), items.get(1).and_then(|v| m.arena.as_str(v)))
                        {
                            let base = m
                                .globals
                                .uses
                                .get(*gid as usize)
                                .map(|u| (u.module.clone(), format!("{}.{}", u.name, attr)));
                            if let Some((mo, na)) = base {
                                return self.resolve(m, &mo, &na, opcode, offset, false);
                            }
                        }
                    }
                    "copyreg._reconstructor" => kind = CallKind::Reconstruct,
                    "_codecs.encode" | "codecs.encode" => {
                        let items = call_args(&m.arena, args);
                        if let (Some(V::Str(s)), enc) = (items.first(), items.get(1)) {
                            let enc = enc.and_then(|v| m.arena.as_str(v)).unwrap_or("utf-8");
                            if let Some(b) = encode_text(&m.arena, s, enc) {
                                return V::Bytes(m.arena.sb(&b, b.len() as u64, None, b.len()));
                            }
                        }
                    }
                    _ => {}
                }
            }
            V::Call(_) | V::Unknown | V::PersId(_) => {
                let root = match callee {
                    V::Call(c) => m
                        .arena
                        .call_of(*c)
                        .and_then(|c| global_name(m, &c.callee))
                        .unwrap_or_else(|| "a computed value".into()),
                    V::PersId(_) => "a persistent-id object".into(),
                    _ => "an unresolved value".into(),
                };
                self.issue(m, IssueKind::IndirectCall { root }, offset);
            }
            _ => {
                m.note(offset, format!("{} on {}", opcode.name(), callee.kind()));
            }
        }
        // Call results count four units of the retained budget (a `Call` is 64 bytes). The run
        // loop ends the walk as inconclusive after this opcode.
        if !m.retain(4, self.limits.max_retained) {
            m.over_budget = true;
            return V::Unknown;
        }
        m.arena
            .call(Call {
                callee: *callee,
                args: *args,
                kind,
                opcode,
                offset,
                state: None,
            })
            .unwrap_or(V::Unknown)
    }

    fn push_nested(&mut self, offset: u64, via: &str, source: BlobSource, loader: bool) {
        if self.out.nested.len() < self.limits.max_nested {
            self.out.nested.push(NestedBlob {
                offset,
                via: via.to_owned(),
                source,
                loader,
            });
        }
    }

    /// The bytes a value stands for, looking through wrappers (`io.BytesIO(b)`,
    /// `base64.b64decode(s)`, `_codecs.encode(s, 'latin1')`).
    #[allow(clippy::unused_self, clippy::self_only_used_in_recursion)]
    fn blob_of(&mut self, m: &Machine, v: &V, depth: u32) -> Option<BlobSource> {
        match v {
            V::Bytes(sb) | V::Str(sb) => {
                if m.arena.complete(sb) {
                    Some(BlobSource::Inline(Arc::from(m.arena.bytes(sb))))
                } else {
                    m.arena.raw(sb).map(|offset| BlobSource::Stream {
                        offset,
                        len: m.arena.len(sb),
                    })
                }
            }
            V::Call(c) if depth < 4 => {
                let c = *m.arena.call_of(*c)?;
                let name = global_name(m, &c.callee)?;
                let items = call_args(&m.arena, &c.args);
                let first = items.first()?;
                let inner = self.blob_of(m, first, depth.saturating_add(1))?;
                let decoded = match name.as_str() {
                    "base64.b64decode"
                    | "base64.decodebytes"
                    | "base64.standard_b64decode"
                    | "binascii.a2b_base64" => decode_source(&inner, Decoding::Base64),
                    "base64.urlsafe_b64decode" => decode_source(&inner, Decoding::Base64Url),
                    "binascii.unhexlify" | "binascii.a2b_hex" | "builtins.bytes.fromhex" => {
                        decode_source(&inner, Decoding::Hex)
                    }
                    "codecs.decode" | "_codecs.decode" => {
                        match items
                            .get(1)
                            .and_then(|v| m.arena.as_str(v))
                            .map(str::to_ascii_lowercase)
                        {
                            Some(e) if e.starts_with("base64") => {
                                decode_source(&inner, Decoding::Base64)
                            }
                            Some(e) if e.starts_with("hex") => decode_source(&inner, Decoding::Hex),
                            _ => Some(inner),
                        }
                    }
                    _ => Some(inner),
                };
                decoded
            }
            _ => None,
        }
    }

    fn build(&mut self, m: &mut Machine, inst: &V, state: &V, offset: u64) -> Step {
        match inst {
            V::Global(id) => {
                let name = m
                    .globals
                    .uses
                    .get_mut(*id as usize)
                    .map(|u| {
                        u.builds = u.builds.saturating_add(1);
                        if u.call_sites.len() < 32 {
                            u.call_sites.push((offset, OpCode::Build));
                        }
                        u.qualified()
                    })
                    .unwrap_or_default();
                self.issue(m, IssueKind::SetstateOnGlobal { global: name }, offset);
                Step::Continue
            }
            V::Call(call_id) => {
                let class = self.instance_class(m, inst);
                let Some(c) = m.arena.call_of(*call_id).copied() else {
                    return Step::Continue;
                };
                if let Some(V::Global(id)) = match c.kind {
                    CallKind::Reconstruct => {
                        m.arena.as_tuple(&c.args).and_then(|t| t.first()).copied()
                    }
                    _ => Some(c.callee),
                } {
                    if let Some(u) = m.globals.uses.get_mut(id as usize) {
                        u.builds = u.builds.saturating_add(1);
                        if u.call_sites.len() < 32 {
                            u.call_sites.push((offset, OpCode::Build));
                        }
                    }
                }
                // numpy.dtype.__setstate__ overwrites itemsize and flags each time: the last
                // state is the one joblib's read_array sees.
                let last = class.as_deref() == Some("numpy.dtype");
                m.arena.set_state(*call_id, *state, last);
                if let Some(keys) = class.as_deref().and_then(native_model_state) {
                    // The booster's `__setstate__` hands these bytes to the native loader.
                    let via = class.clone().unwrap_or_default();
                    for key in keys {
                        if let Some(src) =
                            state_lookup(&m.arena, state, key).and_then(|v| self.blob_of(m, &v, 0))
                        {
                            self.push_nested(offset, &via, src, true);
                        }
                    }
                }
                match class.as_deref() {
                    Some(JOBLIB_WRAPPER) if self.joblib => self.joblib_array(m, state, offset),
                    Some(n) if JOBLIB_LEGACY.contains(&n) => {
                        // joblib's `load_build` hands the wrapper to `read`, which loads
                        // `self.filename` next to the model (`np.load(allow_pickle=True)`).
                        // The name is set by this state or, when the class was called
                        // (`__init__(filename, subclass, ...)`), by its first argument; a
                        // state the walker cannot read may set it too.
                        let named = state_lookup(&m.arena, state, "filename").or_else(|| {
                            (c.kind == CallKind::Call)
                                .then(|| call_args(&m.arena, &c.args).first().copied())
                                .flatten()
                        });
                        let readable = matches!(state, V::Dict(_) | V::Tuple(_) | V::None);
                        if named.is_some() || !readable {
                            let filename =
                                named.and_then(|v| m.arena.as_str(&v).map(str::to_owned));
                            self.issue(m, IssueKind::JoblibSideFile { filename }, offset);
                        }
                        if n.ends_with("NumpyArrayWrapper") && self.joblib {
                            return self.joblib_array(m, state, offset);
                        }
                        Step::Continue
                    }
                    _ => Step::Continue,
                }
            }
            _ => Step::Continue,
        }
    }

    /// joblib's `NumpyArrayWrapper.read_array`: the wrapper is replaced by the array read from
    /// the bytes that follow the BUILD opcode: `count * dtype.itemsize` raw bytes (after a
    /// padding byte and padding when `numpy_array_alignment_bytes` is set), or, when
    /// `dtype.hasobject`, a complete pickle read by `pickle.load`. Bytes are skipped only when
    /// the count is proven; otherwise see [`Self::joblib_unproven`].
    fn joblib_array(&mut self, m: &mut Machine, state: &V, offset: u64) -> Step {
        // The wrapper on the stack becomes the array.
        if m.stack.len() > m.fence() {
            m.stack.pop();
        }
        m.stack.push(V::Unknown);
        let dtype = state_lookup(&m.arena, state, "dtype");
        let shape = state_lookup(&m.arena, state, "shape");
        let alignment = match state_lookup(&m.arena, state, "numpy_array_alignment_bytes") {
            None | Some(V::None) => Alignment::Absent,
            Some(V::Unknown) => Alignment::Unknown,
            Some(_) => Alignment::Present,
        };
        let dt = match dtype.as_ref() {
            Some(d) => dtype_info(m, d),
            None => Err("the wrapper state has no dtype".to_owned()),
        };
        let dims: Option<Vec<Option<i128>>> = match shape.as_ref() {
            Some(V::Tuple(t)) => Some(
                m.arena
                    .tuple_items(*t)
                    .iter()
                    .map(|x| m.arena.as_int(x))
                    .collect(),
            ),
            Some(V::List(l)) => Some(m.arena.items(*l).map(|x| m.arena.as_int(x)).collect()),
            _ => None,
        };
        // An unknown alignment is reported before a dtype the walker cannot resolve.
        let layout = match dt {
            Err(detail) if alignment != Alignment::Unknown => {
                return self.joblib_unproven(m, offset, &detail)
            }
            Err(_) => Err(LayoutError::UnknownAlignment),
            Ok(dt) => joblib::layout(&dt, dims.as_deref(), alignment),
        };
        let raw = match layout {
            Ok(Layout::Raw(raw)) => raw,
            // joblib runs `pickle.load` on the file: a complete pickle follows, read by a
            // plain unpickler (no wrapper semantics), then the outer stream continues.
            Ok(Layout::Pickle) => return self.inline_pickle(m, offset),
            Err(e) => return self.joblib_unproven(m, offset, &e.to_string()),
        };
        let data_start = self.reader.offset();
        let mut first = Vec::new();
        if raw.aligned {
            match self.reader.read_raw(1, &mut first) {
                Ok(1) => {}
                Ok(_) => return self.truncated(m, offset, "joblib padding byte"),
                Err(e) => {
                    self.fail_read(&e, m.index);
                    return Step::Fail;
                }
            }
        }
        let Ok(span) = raw.span(first.first().copied()) else {
            return self.truncated(m, offset, "joblib padding byte");
        };
        // Keep the first bytes of the skipped region for the pickle.load differential check.
        let total = span.end().saturating_sub(first.len() as u64);
        let peek = total.min(64 * 1024);
        let mut region = first;
        match self.reader.read_raw(peek, &mut region) {
            Ok(n) if n == peek => {}
            Ok(_) => return self.truncated(m, offset, "joblib array data"),
            Err(e) => {
                self.fail_read(&e, m.index);
                return Step::Fail;
            }
        }
        let rest = total.saturating_sub(peek);
        match self.reader.skip(rest) {
            Ok(n) if n == rest => {}
            Ok(_) => return self.truncated(m, offset, "joblib array data"),
            Err(e) => {
                self.fail_read(&e, m.index);
                return Step::Fail;
            }
        }
        self.out.arrays.push(ArraySpan {
            data_start: data_start.saturating_add(span.data_offset),
            data_len: span.data_len,
        });
        self.differential(m, &region, data_start);
        Step::Continue
    }

    /// The array length or object flag cannot be proven, so nothing is skipped: the issue is
    /// reported and every interpretation joblib or `pickle.load` could take of what follows is
    /// scanned. The rest of the stream (up to [`UNPROVEN_TAIL`] bytes) is read and walked as a
    /// pickle from its start (the object-array reading, and the reading as if nothing were
    /// skipped), and every offset where a pickle could resume after raw data of the unknown
    /// length is walked strictly for the imports it reaches. The walk ends there.
    fn joblib_unproven(&mut self, m: &mut Machine, offset: u64, detail: &str) -> Step {
        self.issue(
            m,
            IssueKind::JoblibUnresolved {
                detail: format!(
                    "{detail}; nothing was skipped: the bytes after it were walked as a pickle and searched for a pickle resuming at any offset"
                ),
            },
            offset,
        );
        let start = self.reader.offset();
        let mut rest = Vec::new();
        if let Err(e) = self.reader.read_raw(UNPROVEN_TAIL, &mut rest) {
            self.fail_read(&e, m.index);
            return Step::Fail;
        }
        // The reading from the start, with full stack and memo modelling.
        // (Without joblib semantics: a further unprovable wrapper inside must not recurse.)
        let mut sub = Walker::new(&rest[..], self.policy, self.limits);
        sub.joblib = false;
        while let Outcome::Pickle(_) = sub.next_pickle() {}
        for mut g in sub.finish().globals {
            g.first_offset = g.first_offset.saturating_add(start);
            g.pickle = m.index;
            g.depth = m.depth.saturating_add(1);
            self.out.globals.push(g);
        }
        // Every offset where a pickle could resume.
        let mut found: Vec<(u64, String, String, OpCode)> = Vec::new();
        let mut candidates = 0u32;
        for (i, w) in rest.windows(2).enumerate() {
            let resumes = matches!(w, [0x80, 2..=5] | [b'c', b'a'..=b'z' | b'A'..=b'Z' | b'_'])
                || matches!(w, [0x8c | 0x8d | b'X', _]);
            if !resumes || i == 0 {
                continue;
            }
            candidates = candidates.saturating_add(1);
            if candidates > MAX_RESUME_POINTS {
                break;
            }
            for (off, mo, na, code) in
                scan_region(rest.get(i..).unwrap_or_default(), m.proto, self.policy)
            {
                let at = (i as u64).saturating_add(off);
                if !found.iter().any(|(o, ..)| *o == at) {
                    found.push((at, mo, na, code));
                }
            }
        }
        self.record_imports(m, found, start);
        if !self.at_eof() {
            return self.budget("joblib array data", offset, m.index);
        }
        self.stopped = true;
        Step::Fail
    }

    /// Adds imports found by a strict scan of a region at stream offset `base` (as the walker
    /// would have resolved them, with their own policy verdicts).
    fn record_imports(
        &mut self,
        m: &Machine,
        found: Vec<(u64, String, String, OpCode)>,
        base: u64,
    ) {
        for (off, module, name, code) in found {
            let mut tmp = Machine::new(m.index, m.depth, base);
            tmp.proto = m.proto;
            let _ = self.resolve(
                &mut tmp,
                &module,
                &name,
                code,
                base.saturating_add(off),
                true,
            );
            self.out.globals.append(&mut tmp.globals.uses);
        }
    }

    /// Walks a complete pickle inline in the stream (joblib object arrays) with a fresh memo,
    /// then returns to the outer pickle.
    fn inline_pickle(&mut self, m: &mut Machine, offset: u64) -> Step {
        if m.depth.saturating_add(1) > self.limits.max_nesting {
            return self.budget("nested pickles", offset, m.index);
        }
        self.reader.reset_frame();
        let index = self.seq;
        self.seq = self.seq.saturating_add(1);
        let start = self.reader.offset();
        let mut inner = Machine::new(index, m.depth.saturating_add(1), start);
        let saved = self.joblib;
        self.joblib = false;
        let step = self.run(&mut inner);
        self.joblib = saved;
        let result = match &step {
            Step::Stop(v) => Some(self.summarise(&inner, v, 0)),
            _ => None,
        };
        self.finish_machine(&mut inner);
        self.out.pickles.push(PickleInfo {
            index,
            start,
            end: self.reader.offset(),
            protocol: inner.proto,
            ops: inner.ops,
            depth: inner.depth,
            result,
        });
        match step {
            Step::Stop(_) => Step::Continue,
            other => other,
        }
    }

    fn truncated(&mut self, m: &Machine, offset: u64, what: &'static str) -> Step {
        let e = ReadError::Truncated { offset, op: what };
        self.fail_read(&e, m.index);
        Step::Fail
    }

    /// `pickle.load` (not joblib) would read the skipped array region as opcodes. When it starts
    /// with an opcode, walk it strictly from a copy of the current state and report what it
    /// imports: a payload hidden as "array data" runs under the plain unpickler.
    fn differential(&mut self, m: &Machine, region: &[u8], start: u64) {
        let Some(&b) = region.first() else { return };
        if !super::ops::is_opcode(b) {
            return;
        }
        let found = scan_region(region, m.proto, self.policy);
        if found.is_empty() {
            return;
        }
        self.issue(
            m,
            IssueKind::JoblibDifferential {
                len: region.len() as u64,
            },
            start,
        );
        self.record_imports(m, found, start);
    }

    #[allow(clippy::unused_self)]
    fn summarise(&self, m: &Machine, v: &V, depth: u32) -> TopValue {
        let mut budget: u32 = 1_000_000;
        summarise(m, v, depth, &mut budget)
    }
}

/// The dtype a `numpy.dtype(...)` value has after its BUILD, as numpy computes it, or why it
/// cannot be proven (another constructor, a structured spec, a state applied twice, …).
fn dtype_info(m: &Machine, v: &V) -> Result<DType, String> {
    let V::Call(c) = v else {
        return Err(format!(
            "the dtype is a {}, not a numpy.dtype(...)",
            v.kind()
        ));
    };
    let c = m.arena.call_of(*c).ok_or("the dtype call was not kept")?;
    let callee = global_name(m, &c.callee).ok_or("the dtype's constructor is not a global")?;
    if callee != "numpy.dtype" {
        return Err(format!("the dtype is built by {callee}, not numpy.dtype"));
    }
    let items = call_args(&m.arena, &c.args);
    if items.is_empty() || items.len() > 3 {
        return Err(format!(
            "numpy.dtype is called with {} arguments",
            items.len()
        ));
    }
    let descr = items
        .first()
        .and_then(|d| m.arena.as_str(d))
        .ok_or("the dtype's first argument is not a type string")?;
    let state = match c.state {
        None => None,
        Some(s) => {
            let t = m
                .arena
                .as_tuple(&s)
                .ok_or("the dtype's BUILD state is not a tuple")?;
            let int = |i: usize| t.get(i).and_then(|x| m.arena.as_int(x));
            let order = t.get(1).and_then(|x| m.arena.as_str(x));
            Some(DTypeState::from_items(t.len(), int, order))
        }
    };
    crate::formats::dtype::resolve(descr, state)
}

/// The items of an argument tuple (`func(*args)` accepts any iterable).
fn call_args(arena: &Arena, args: &V) -> Vec<V> {
    match args {
        V::Tuple(t) => arena.tuple_items(*t).to_vec(),
        V::List(l) | V::Set(l) => arena.items(*l).copied().collect(),
        _ => Vec::new(),
    }
}

fn global_name(m: &Machine, v: &V) -> Option<String> {
    match v {
        V::Global(id) => m.globals.uses.get(*id as usize).map(GlobalUse::qualified),
        _ => None,
    }
}

/// A bounded summary of a value: at most `budget` nodes in total and three levels deep, so
/// self-referential containers (a list appended to itself through the memo) stay cheap.
fn summarise(m: &Machine, v: &V, depth: u32, budget: &mut u32) -> TopValue {
    if *budget == 0 {
        return TopValue::Other("truncated");
    }
    *budget = budget.saturating_sub(1);
    match v {
        V::None => TopValue::None,
        V::Bool(b) => TopValue::Bool(*b),
        V::Int(i) => TopValue::Int(i128::from(*i)),
        V::BigInt(_) => m.arena.as_int(v).map_or(TopValue::HugeInt, TopValue::Int),
        V::HugeInt => TopValue::HugeInt,
        V::Float => TopValue::Float,
        V::Str(s) => TopValue::Str(String::from_utf8_lossy(m.arena.bytes(s)).into_owned()),
        V::Bytes(b) => TopValue::Bytes(m.arena.len(b)),
        V::Global(_) => TopValue::Global(global_name(m, v).unwrap_or_default()),
        V::Call(c) => TopValue::Call {
            callee: m.arena.call_of(*c).and_then(|c| global_name(m, &c.callee)),
        },
        _ if depth >= 1 => TopValue::Other(v.kind()),
        V::Tuple(t) => TopValue::Tuple(
            m.arena
                .tuple_items(*t)
                .iter()
                .map(|x| summarise(m, x, depth.saturating_add(1), budget))
                .collect(),
        ),
        V::List(l) => TopValue::List(
            m.arena
                .items(*l)
                .map(|x| summarise(m, x, depth.saturating_add(1), budget))
                .collect(),
        ),
        V::Dict(d) => TopValue::Dict(
            m.arena
                .pairs(*d)
                .take(1024)
                .map(|(k, x)| {
                    (
                        summarise(m, k, depth.saturating_add(1), budget),
                        summarise(m, x, depth.saturating_add(1), budget),
                    )
                })
                .collect(),
        ),
        other => TopValue::Other(other.kind()),
    }
}

/// DICT's items as key, value, …: an odd trailing key gets an unknown value.
fn pairs(mut items: Vec<V>) -> Vec<V> {
    if items.len() % 2 == 1 {
        items.push(V::Unknown);
    }
    items
}

/// Looks `key` up in a BUILD state: a dict, or `(dict, slotstate)`.
fn state_lookup(arena: &Arena, state: &V, key: &str) -> Option<V> {
    state_lookup_at(arena, state, key, 0)
}

fn state_lookup_at(arena: &Arena, state: &V, key: &str, depth: u32) -> Option<V> {
    if depth > 2 {
        return None;
    }
    let d = depth.saturating_add(1);
    match state {
        // A dict that dropped items cannot prove a key absent: unknown, never "missing".
        V::Dict(m) => arena
            .get_str(*m, key)
            .or_else(|| arena.is_lossy(*m).then_some(V::Unknown)),
        V::Tuple(t) => match arena.tuple_items(*t) {
            [first, second] => state_lookup_at(arena, second, key, d)
                .or_else(|| state_lookup_at(arena, first, key, d)),
            _ => None,
        },
        _ => None,
    }
}

fn operand_text<'a>(arena: &'a Arena, v: &'a V) -> Result<&'a str, String> {
    match v {
        V::Str(s) | V::Bytes(s) => arena.text(s).ok_or_else(|| {
            if arena.complete(s) {
                "not valid UTF-8".to_owned()
            } else {
                format!("a {}-byte string (too long to resolve)", arena.len(s))
            }
        }),
        V::Unknown => Err("an unresolved value (missing memo entry or unmodelled result)".into()),
        other => Err(format!("a {}", other.kind())),
    }
}

/// A string (`bytes == false`) or bytes payload as a value, keeping what analysis needs: bytes
/// are only needed for sniffing and nested loaders, so they are kept whole when small enough to
/// hand to a nested scan directly, else as a short head; strings keep [`KEEP_STR`]. Past the
/// pickle's kept-bytes budget only short heads are kept (payloads verbatim in the stream are
/// re-read from there when needed).
fn payload_value(arena: &mut Arena, p: &Payload<'_>, bytes: bool, limits: &WalkLimits) -> Sb {
    let within = arena.kept_bytes() < limits.max_kept_bytes;
    let keep = match (bytes, within) {
        (true, true) if p.len <= 1024 * 1024 => p.data.len(),
        (true, _) => KEEP_BYTES,
        (false, true) => KEEP_STR,
        (false, false) => KEEP_STR_OVER_BUDGET,
    };
    arena.sb(p.data, p.len, p.raw_offset, keep)
}

fn encode_text(arena: &Arena, s: &Sb, enc: &str) -> Option<Vec<u8>> {
    let t = arena.text(s)?;
    let e = enc.to_ascii_lowercase().replace(['-', '_'], "");
    match e.as_str() {
        "latin1" | "iso88591" | "l1" | "cp819" => {
            t.chars().map(|c| u8::try_from(c as u32).ok()).collect()
        }
        "utf8" | "u8" => Some(t.as_bytes().to_vec()),
        _ => None,
    }
}

enum Encoded {
    Decoded { via: &'static str, bytes: Vec<u8> },
    Truncated { via: &'static str, len: u64 },
}

#[derive(Clone, Copy)]
enum Decoding {
    Base64,
    Base64Url,
    Hex,
}

fn decode_bytes(data: &[u8], how: Decoding) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let clean: Vec<u8> = data
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match how {
        Decoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(&clean)
            .ok()
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(&clean)
                    .ok()
            }),
        Decoding::Base64Url => base64::engine::general_purpose::URL_SAFE
            .decode(&clean)
            .ok()
            .or_else(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&clean)
                    .ok()
            }),
        Decoding::Hex => hex::decode(&clean).ok(),
    }
}

fn decode_source(src: &BlobSource, how: Decoding) -> Option<BlobSource> {
    match src {
        BlobSource::Inline(b) => decode_bytes(b, how).map(|v| BlobSource::Inline(Arc::from(v))),
        BlobSource::Stream { .. } => None,
    }
}

/// Whether a string or bytes payload is base64 or hex that decodes to something a loader reads
/// (a pickle, a zip, a compressed stream).
fn encoded_blob(data: &[u8], len: u64) -> Option<Encoded> {
    let head = data.get(..32.min(data.len()))?;
    let is_b64 =
        |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_');
    let how = if head.iter().all(u8::is_ascii_hexdigit) {
        Decoding::Hex
    } else if head.iter().all(is_b64) {
        if head.iter().any(|c| matches!(c, b'-' | b'_')) {
            Decoding::Base64Url
        } else {
            Decoding::Base64
        }
    } else {
        return None;
    };
    // Decode a short prefix first; only a loadable head justifies decoding everything.
    let probe_len = match how {
        Decoding::Hex => 32,
        _ => 32,
    };
    let probe = decode_bytes(data.get(..probe_len.min(data.len()))?, how)?;
    if !loadable_head(&probe) {
        return None;
    }
    let via = match how {
        Decoding::Hex => "hex",
        _ => "base64",
    };
    if data.len() as u64 != len {
        return Some(Encoded::Truncated { via, len });
    }
    decode_bytes(data, how).map(|bytes| Encoded::Decoded { via, bytes })
}

fn loadable_head(b: &[u8]) -> bool {
    matches!(b, [0x80, p, ..] if (2..=5).contains(p))
        || b.starts_with(b"PK\x03\x04")
        || b.starts_with(&[0x1f, 0x8b])
        || b.starts_with(b"\x93NUMPY")
        || (b.len() >= 12 && crate::sniff::looks_like_pickle(b) && b.first() != Some(&0x80))
}

/// Scans a byte region strictly as `pickle.load` would continue through it: stops at the first
/// invalid opcode or import that could not succeed; returns the imports it reaches.
fn scan_region(region: &[u8], proto: u8, _policy: &Policy) -> Vec<(u64, String, String, OpCode)> {
    let mut r = Reader::new(region);
    let mut out = Vec::new();
    let mut strings: Vec<String> = Vec::new();
    let mut ops = 0u32;
    while let Ok(Some(op)) = r.next_op() {
        ops = ops.saturating_add(1);
        if ops > 100_000 {
            break;
        }
        match op.arg {
            Arg::Global { module, name } => {
                let (mo, na) = (
                    String::from_utf8_lossy(module).into_owned(),
                    String::from_utf8_lossy(name).into_owned(),
                );
                if !valid_path(&mo) || !valid_path(&na) {
                    break;
                }
                out.push((op.offset, mo, na, op.code));
            }
            Arg::Str(p) => {
                if let Ok(s) = std::str::from_utf8(p.data) {
                    strings.push(s.to_owned());
                }
            }
            _ => {}
        }
        if op.code == OpCode::StackGlobal {
            let n = strings.len();
            if let (Some(mo), Some(na)) = (
                n.checked_sub(2).and_then(|i| strings.get(i)),
                n.checked_sub(1).and_then(|i| strings.get(i)),
            ) {
                if valid_path(mo) && valid_path(na) {
                    out.push((op.offset, mo.clone(), na.clone(), op.code));
                }
            }
        }
        if op.code == OpCode::Stop {
            break;
        }
    }
    let _ = proto;
    out
}

/// Walks every pickle in `input` until the end of the stream (the `pickle` format: one or more
/// concatenated pickles, joblib semantics at array wrappers).
pub fn analyse_stream<R: Read>(input: R, policy: &Policy, limits: WalkLimits) -> Analysis {
    let mut w = Walker::new(input, policy, limits);
    while let Outcome::Pickle(_) = w.next_pickle() {}
    w.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::signatures::SignatureDb;

    fn policy() -> Policy {
        Policy::compile(&SignatureDb::embedded().unwrap()).unwrap()
    }

    fn walk(b: &[u8]) -> Analysis {
        analyse_stream(b, &policy(), WalkLimits::default())
    }

    fn sbu(s: &str) -> Vec<u8> {
        let mut v = vec![0x8c, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn memo_indirection_resolves_stack_global() {
        let mut p = vec![0x80, 4];
        p.extend(sbu("os"));
        p.extend([b'q', 2, b'0']);
        p.extend(sbu("system"));
        p.extend([b'q', 3, b'0']);
        p.extend(sbu("torch"));
        p.extend([b'q', 0]);
        p.extend(sbu("LongStorage"));
        p.extend([b'q', 1, b'0', b'0']);
        p.extend([b'h', 2, b'h', 3, 0x93]);
        p.extend(sbu("true"));
        p.extend([0x85, b'R', b'.']);
        let a = walk(&p);
        let g: Vec<_> = a.globals.iter().map(GlobalUse::qualified).collect();
        assert_eq!(g, vec!["os.system"]);
        assert_eq!(a.globals[0].calls, 1);
        assert!(matches!(a.globals[0].class, Class::Denied(_)));
    }

    #[test]
    fn unresolved_operand_is_reported_and_walk_continues() {
        let mut p = vec![0x80, 4, b'K', 1];
        p.extend(sbu("x"));
        p.push(0x93);
        p.extend(b"cos\nsystem\n.");
        let a = walk(&p);
        assert!(a
            .issues
            .iter()
            .any(|i| matches!(i.kind, IssueKind::UnresolvedGlobal { .. })));
    }

    #[test]
    fn py2_alias_is_mapped() {
        let a = walk(b"ccPickle\nloads\n(S'x'\ntR.");
        assert_eq!(a.globals[0].qualified(), "pickle.loads");
        let a = walk(b"\x80\x03ccPickle\nloads\n.");
        assert_eq!(a.globals[0].qualified(), "cPickle.loads");
    }

    #[test]
    fn dotted_names_resolve_to_target() {
        let mut p = vec![0x80, 4];
        p.extend(sbu("pathlib"));
        p.extend(sbu("os.system"));
        p.extend([0x93, b'.']);
        let a = walk(&p);
        assert!(matches!(a.globals[0].class, Class::Denied(_)));
        assert_eq!(a.globals[0].resolved_as.as_deref(), Some("os:system"));
        let a = walk(b"cbuiltins\nprint.__class__\n.");
        assert!(matches!(a.globals[0].class, Class::Dunder(_)));
    }

    #[test]
    fn legacy_joblib_wrapper_side_file_from_constructor_or_computed_name() {
        let side = |a: &Analysis| -> Vec<Option<String>> {
            a.issues
                .iter()
                .filter_map(|i| match &i.kind {
                    IssueKind::JoblibSideFile { filename } => Some(filename.clone()),
                    _ => None,
                })
                .collect()
        };
        let wrapper = |body: &[u8]| {
            let mut p = vec![0x80, 4];
            p.extend(sbu("joblib.numpy_pickle_compat"));
            p.extend(sbu("NDArrayWrapper"));
            p.push(0x93);
            p.extend_from_slice(body);
            p.push(b'.');
            p
        };
        // NDArrayWrapper('../x', ndarray) then BUILD {}: `__init__` set the name joblib loads.
        let mut ctor = sbu("../x");
        ctor.extend(b"cnumpy\nndarray\n\x86R}b");
        assert_eq!(side(&walk(&wrapper(&ctor))), vec![Some("../x".to_owned())]);
        // The state's name wins over the constructor's.
        let mut both = sbu("a");
        both.extend(b"N\x86R}(");
        both.extend(sbu("filename"));
        both.extend(sbu("../y"));
        both.extend(b"ub");
        assert_eq!(side(&walk(&wrapper(&both))), vec![Some("../y".to_owned())]);
        // A name computed by a call is not a literal: reported without one.
        let mut computed = b")\x81}(".to_vec();
        computed.extend(sbu("filename"));
        computed.extend(b"cbuiltins\nstr\n");
        computed.extend(sbu("../z"));
        computed.extend(b"\x85Rub");
        assert_eq!(side(&walk(&wrapper(&computed))), vec![None]);
        // NEWOBJ runs no `__init__`: without a name in the state there is nothing to load.
        assert!(side(&walk(&wrapper(b")\x81}b"))).is_empty());
    }

    #[test]
    fn stacked_pickles_and_trailing_garbage() {
        let a = walk(b"N.cos\nsystem\n.\xff\xff");
        assert_eq!(a.pickles.len(), 3);
        assert_eq!(a.globals[0].qualified(), "os.system");
        assert!(a
            .issues
            .iter()
            .any(|i| matches!(i.kind, IssueKind::TrailingData { .. })));
    }

    /// PROTO 4, `NumpyArrayWrapper()` and its BUILD with {'shape': (2,), 'dtype':
    /// dtype('f8'), 'order': 'C', 'numpy_array_alignment_bytes': 16}; the array data follows.
    fn joblib_f8_wrapper() -> Vec<u8> {
        let mut p = vec![0x80, 4];
        p.extend(sbu("joblib.numpy_pickle"));
        p.extend(sbu("NumpyArrayWrapper"));
        p.extend([0x93, b')', 0x81, b'}', b'(']);
        p.extend(sbu("shape"));
        p.extend([b'K', 2, 0x85]);
        p.extend(sbu("dtype"));
        p.extend(sbu("numpy"));
        p.extend(sbu("dtype"));
        p.extend([0x93]);
        p.extend(sbu("f8"));
        p.extend([0x89, 0x88, 0x87, b'R']);
        p.extend(sbu("order"));
        p.extend(sbu("C"));
        p.extend(sbu("numpy_array_alignment_bytes"));
        p.extend([b'K', 16, b'u', b'b']);
        p
    }

    #[test]
    fn joblib_tail_after_array_is_walked() {
        // wrapper = NumpyArrayWrapper() ; BUILD {'shape': (2,), 'dtype': dtype('f8'), 'order': 'C',
        // 'numpy_array_alignment_bytes': 16}; then padding + 16 bytes; then os.system call.
        let mut p = joblib_f8_wrapper();
        p.push(3);
        p.extend([0xff; 3]);
        p.extend([b'c'; 16]);
        p.extend(b"0cos\nsystem\n.");
        let a = walk(&p);
        let names: Vec<_> = a.globals.iter().map(GlobalUse::qualified).collect();
        assert!(
            names.contains(&"os.system".to_owned()),
            "{names:?} {:?}",
            a.issues
        );
        assert!(a.complete, "{:?}", a.issues);
    }

    #[test]
    fn nested_loader_bytes_are_reported() {
        let mut p = b"\x80\x03cpickle\nloads\nC\x10".to_vec();
        p.extend(b"cos\nsystem\n)R.xx");
        p.extend([0x85, b'R', b'.']);
        let a = walk(&p);
        assert_eq!(a.nested.len(), 1);
        assert!(a.nested[0].loader);
    }

    #[test]
    fn container_budget_is_inconclusive_and_self_reference_is_cheap() {
        // A list appended to itself through the memo, then many popped empty dicts.
        let mut p = vec![0x80, 4, b']', 0x94, b'h', 0, b'a'];
        p.extend(std::iter::repeat_n([b'}', b'0'], 50).flatten());
        p.push(b'.');
        let a = walk(&p);
        assert!(a.complete, "{:?}", a.issues);
        let limits = WalkLimits {
            max_containers: 10,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(!a.complete);
        assert!(a
            .issues
            .iter()
            .any(|i| i.kind == IssueKind::Budget { what: "containers" }));
    }

    #[test]
    fn retained_values_budget_covers_tuples_and_calls() {
        // 20 popped one-item tuples, then a call: fine by default, inconclusive on a budget of 10.
        let mut p = vec![0x80, 4];
        p.extend(std::iter::repeat_n([b'N', 0x85, b'0'], 20).flatten());
        p.extend(b"\x8c\x08builtins\x8c\x03len\x93)R.");
        assert!(walk(&p).complete);
        let limits = WalkLimits {
            max_retained: 10,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(!a.complete);
        assert!(a.issues.iter().any(|i| i.kind
            == IssueKind::Budget {
                what: "retained values"
            }));
    }

    #[test]
    fn retained_values_budget_stops_at_the_first_call_over_it() {
        // len() called 10 times (4 units each): a budget of 10 ends the walk at the third call,
        // with one budget issue.
        let mut p = b"\x80\x04\x8c\x08builtins\x8c\x03len\x93\x94".to_vec();
        p.extend(std::iter::repeat_n([b'h', 0, b')', b'R', b'0'], 10).flatten());
        p.extend(b"N.");
        assert!(walk(&p).complete);
        let limits = WalkLimits {
            max_retained: 10,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(!a.complete);
        let budgets: Vec<_> = a
            .issues
            .iter()
            .filter(|i| matches!(i.kind, IssueKind::Budget { .. }))
            .collect();
        assert_eq!(budgets.len(), 1, "{:?}", a.issues);
        assert_eq!(a.globals[0].calls, 3);
    }

    #[test]
    fn kept_bytes_budget_falls_back_to_stream_offsets() {
        // 100 bytes kept, popped; then pickle.loads(<200 bytes>): beyond a 16-byte budget only a
        // head of the argument is kept, and the nested blob is re-read from the stream.
        let mut p = vec![0x80, 3, b'C', 100];
        p.extend([b'x'; 100]);
        p.push(b'0');
        p.extend(b"cpickle\nloads\nB");
        p.extend(200u32.to_le_bytes());
        let payload_at = p.len() as u64;
        p.extend([b'y'; 200]);
        p.extend([0x85, b'R', b'.']);
        let a = walk(&p);
        assert!(matches!(&a.nested[0].source, BlobSource::Inline(b) if b.len() == 200));
        let limits = WalkLimits {
            max_kept_bytes: 16,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(a.complete, "{:?}", a.issues);
        assert!(matches!(
            a.nested[0].source,
            BlobSource::Stream { offset, len: 200 } if offset == payload_at
        ));
    }

    /// A protocol-4 list of `n` memoized `(i, "123")` tuples: plain data.
    fn plain_records(n: u32) -> Vec<u8> {
        let mut p = vec![b']', 0x94, b'('];
        for i in 0..n {
            p.push(b'J');
            p.extend(i.to_le_bytes());
            p.extend(sbu("123"));
            p.extend([0x86, 0x94]);
        }
        p.push(b'e');
        p
    }

    #[test]
    fn plain_data_is_summarised_and_imports_still_resolve() {
        // "os" memoized first, 5000 plain records, "system" memoized last, then STACK_GLOBAL
        // through both memo entries. Budgets far below the record count: before plain data
        // was summarised this ended as inconclusive.
        let mut p = vec![0x80, 4];
        p.extend(sbu("os"));
        p.extend([0x94, b'0']);
        p.extend(plain_records(5000));
        p.extend(sbu("system"));
        p.extend([0x94, b'0', b'0']);
        p.extend([b'h', 0, b'j']);
        p.extend(5002u32.to_le_bytes());
        p.push(0x93);
        p.extend(sbu("true"));
        p.extend([0x85, b'R', b'.']);
        let limits = WalkLimits {
            max_plain: 100,
            max_retained: 1000,
            max_memo: 1000,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(a.complete, "{:?}", a.issues);
        let names: Vec<_> = a.globals.iter().map(GlobalUse::qualified).collect();
        assert!(names.contains(&"os.system".to_owned()), "{names:?}");
        // With the default budgets nothing changes.
        assert!(walk(&p)
            .globals
            .iter()
            .any(|g| g.qualified() == "os.system"));
    }

    #[test]
    fn joblib_state_is_exact_after_the_plain_budget() {
        // 5000 plain records spend the plain-data budget; the wrapper that follows is protected
        // until its BUILD, so its shape tuple and alignment int stay exact and the array is
        // skipped as joblib skips it, reaching the call after it.
        let mut p = vec![0x80, 4];
        p.extend(plain_records(5000));
        p.push(b'0');
        p.extend(joblib_f8_wrapper().get(2..).unwrap());
        p.push(3);
        p.extend([0xff; 3]);
        p.extend([b'c'; 16]);
        p.extend(b"0cos\nsystem\n.");
        let limits = WalkLimits {
            max_plain: 100,
            ..WalkLimits::default()
        };
        let a = analyse_stream(&p[..], &policy(), limits);
        assert!(a.complete, "{:?}", a.issues);
        assert!(
            !a.issues
                .iter()
                .any(|i| matches!(i.kind, IssueKind::JoblibUnresolved { .. })),
            "{:?}",
            a.issues
        );
        assert!(a.globals.iter().any(|g| g.qualified() == "os.system"));
    }
}
