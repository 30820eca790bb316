//! The symbolic pickle VM used for conversion: it runs a pickle's opcodes exactly as CPython's
//! unpickler does (stack, mark fence, memo) but never imports or calls anything. GLOBAL pushes a
//! name, REDUCE/NEWOBJ/OBJ/INST build call nodes, BUILD attaches state, persistent ids stay
//! symbolic. Typed interpreters (`crate::convert`) then pattern-match the resulting tree.
//!
//! Values are shared through `Rc`, so a memo GET repeated a million times is one allocation, and
//! containers are mutable in place (`RefCell`) as CPython's are: a list memoized before its
//! APPENDS is the same list afterwards. Dropping is iterative, so deeply nested hostile values
//! cannot overflow the stack.
//!
//! joblib: with [`VmOptions::joblib`], BUILD on a `NumpyArrayWrapper` reads the inline array that
//! follows the opcode (padding byte when `numpy_array_alignment_bytes` is set; for object dtype a
//! complete nested pickle run by this same VM), exactly as `NumpyUnpickler.load_build` does.
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::rc::Rc;

use super::compat::map_py2;
use super::joblib::{self, Alignment, ArraySpan, Layout};
use super::ops::{Arg, OpCode, Payload};
use super::reader::{ReadError, Reader, ReaderLimits};
use crate::formats::dtype::{resolve, DType, DTypeState};

/// A shared value node.
pub type Val = Rc<Value>;

/// One symbolic value.
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that needs more than 64 bits (up to 128).
    BigInt(i128),
    /// An integer wider than 128 bits (only its existence is kept).
    HugeInt,
    Float(f64),
    Str(String),
    /// `bytes` (BINBYTES*) or `bytearray` (BYTEARRAY8).
    Bytes(Vec<u8>),
    Tuple(Vec<Val>),
    List(RefCell<Vec<Val>>),
    /// A dict, in insertion order (later SETITEMs on an equal key are kept as separate entries;
    /// interpreters read the last one).
    Dict(RefCell<Vec<(Val, Val)>>),
    Set(RefCell<Vec<Val>>),
    FrozenSet(Vec<Val>),
    /// An imported name (never resolved): module and name after Python 2 mapping and numpy
    /// normalisation.
    Global {
        module: String,
        name: String,
    },
    /// The result of REDUCE/NEWOBJ/NEWOBJ_EX/OBJ/INST, with what BUILD, SETITEM(S) and
    /// APPEND(S) later did to it.
    Object(RefCell<Object>),
    /// BINPERSID/PERSID: the persistent id value.
    PersId(Val),
    /// A joblib `NumpyArrayWrapper` replaced by the array read inline after its BUILD.
    Inline {
        /// The wrapper's state dict (`dtype`, `shape`, `order`, …).
        state: Val,
        data: InlineData,
    },
}

/// The inline payload of a joblib array.
pub enum InlineData {
    /// Raw array bytes in the wrapper's `order`.
    Raw(Vec<u8>),
    /// Object arrays: the value of the nested pickle (an ndarray reconstruction).
    Pickled(Val),
}

/// How an object node was produced.
#[derive(Clone)]
pub enum ObjKind {
    /// REDUCE, OBJ, INST: `callable(*args)`.
    Call { callable: Val, args: Val },
    /// NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`.
    New {
        cls: Val,
        args: Val,
        kwargs: Option<Val>,
    },
}

/// An object node.
pub struct Object {
    pub kind: ObjKind,
    /// The states given by BUILD, in order (normally one).
    pub states: Vec<Val>,
    /// SETITEM(S) applied to it (`OrderedDict`, `defaultdict`).
    pub items: Vec<(Val, Val)>,
    /// APPEND(S) applied to it.
    pub appended: Vec<Val>,
}

impl Object {
    /// The global called or instantiated, when it is a plain global.
    pub fn callee(&self) -> Option<(&str, &str)> {
        let v = match &self.kind {
            ObjKind::Call { callable, .. } => callable,
            ObjKind::New { cls, .. } => cls,
        };
        v.as_global()
    }

    /// The positional arguments (a tuple, normally).
    pub fn args(&self) -> &Val {
        match &self.kind {
            ObjKind::Call { args, .. } | ObjKind::New { args, .. } => args,
        }
    }

    /// The last BUILD state.
    pub fn state(&self) -> Option<&Val> {
        self.states.last()
    }
}

impl Value {
    /// `(module, name)` of a global.
    pub fn as_global(&self) -> Option<(&str, &str)> {
        match self {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer value (bools count, as in Python).
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i)),
            Value::BigInt(i) => Some(*i),
            Value::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    /// The items of a tuple or list (cloned handles).
    pub fn seq(&self) -> Option<Vec<Val>> {
        match self {
            Value::Tuple(t) => Some(t.clone()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }

    /// The object node, if this is one.
    pub fn object(&self) -> Option<std::cell::Ref<'_, Object>> {
        match self {
            Value::Object(o) => Some(o.borrow()),
            _ => None,
        }
    }

    /// Looks up a string key in a dict value (last entry wins, as in Python).
    pub fn get(&self, key: &str) -> Option<Val> {
        match self {
            Value::Dict(d) => d
                .borrow()
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// Whether this is `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// A short type name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) | Value::HugeInt => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) | Value::FrozenSet(_) => "set",
            Value::Global { .. } => "global",
            Value::Object(_) => "object",
            Value::PersId(_) => "persistent id",
            Value::Inline { .. } => "joblib array",
        }
    }

    /// A bounded, human-readable rendering for messages.
    pub fn describe(&self, budget: usize) -> String {
        let mut out = String::new();
        describe_into(self, &mut out, 3, budget);
        out
    }
}

fn describe_into(v: &Value, out: &mut String, depth: u32, budget: usize) {
    if out.len() > budget {
        return;
    }
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(i) => {
            let _ = write!(out, "{i}");
        }
        Value::HugeInt => out.push_str("<huge int>"),
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Value::Str(s) => {
            let short: String = s.chars().take(40).collect();
            let _ = write!(out, "{short:?}");
        }
        Value::Bytes(b) => {
            let _ = write!(out, "<{} bytes>", b.len());
        }
        Value::Global { module, name } => {
            let _ = write!(out, "{module}.{name}");
        }
        Value::Object(o) => {
            let o = o.borrow();
            match o.callee() {
                Some((m, n)) => {
                    let _ = write!(out, "{m}.{n}(…)");
                }
                None => out.push_str("<call>"),
            }
        }
        Value::PersId(_) => out.push_str("<persistent id>"),
        Value::Inline { .. } => out.push_str("<joblib array>"),
        Value::Tuple(_) | Value::List(_) | Value::Set(_) | Value::FrozenSet(_) => {
            let items = v.seq().unwrap_or_default();
            out.push('(');
            if depth == 0 {
                let _ = write!(out, "{} items", items.len());
            } else {
                for (i, x) in items.iter().take(8).enumerate() {
                    if out.len() > budget {
                        out.push('…');
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    describe_into(x, out, depth.saturating_sub(1), budget);
                }
                if items.len() > 8 {
                    out.push_str(", …");
                }
            }
            out.push(')');
        }
        Value::Dict(d) => {
            let d = d.borrow();
            out.push('{');
            if depth == 0 {
                let _ = write!(out, "{} items", d.len());
            } else {
                for (i, (k, x)) in d.iter().take(8).enumerate() {
                    if out.len() > budget {
                        out.push('…');
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    describe_into(k, out, 0, budget);
                    out.push_str(": ");
                    describe_into(x, out, depth.saturating_sub(1), budget);
                }
                if d.len() > 8 {
                    out.push_str(", …");
                }
            }
            out.push('}');
        }
    }
}

impl Drop for Value {
    /// Iterative drop: children whose last reference this is are moved onto a local stack, so a
    /// chain of a million nested lists is freed without recursion.
    fn drop(&mut self) {
        let mut stack: Vec<Val> = Vec::new();
        take_children(self, &mut stack);
        while let Some(v) = stack.pop() {
            if let Ok(mut inner) = Rc::try_unwrap(v) {
                take_children(&mut inner, &mut stack);
            }
        }
    }
}

fn take_children(v: &mut Value, out: &mut Vec<Val>) {
    match v {
        Value::Tuple(t) | Value::FrozenSet(t) => out.append(t),
        Value::List(l) | Value::Set(l) => out.append(l.get_mut()),
        Value::Dict(d) => {
            for (k, x) in std::mem::take(d.get_mut()) {
                out.push(k);
                out.push(x);
            }
        }
        Value::Object(o) => {
            let o = o.get_mut();
            match &mut o.kind {
                ObjKind::Call { callable, args } => {
                    out.push(std::mem::replace(callable, none()));
                    out.push(std::mem::replace(args, none()));
                }
                ObjKind::New { cls, args, kwargs } => {
                    out.push(std::mem::replace(cls, none()));
                    out.push(std::mem::replace(args, none()));
                    if let Some(k) = kwargs.take() {
                        out.push(k);
                    }
                }
            }
            out.append(&mut o.states);
            out.append(&mut o.appended);
            for (k, x) in std::mem::take(&mut o.items) {
                out.push(k);
                out.push(x);
            }
        }
        Value::PersId(p) => out.push(std::mem::replace(p, none())),
        Value::Inline { state, data } => {
            out.push(std::mem::replace(state, none()));
            if let InlineData::Pickled(p) = data {
                out.push(std::mem::replace(p, none()));
            }
        }
        _ => {}
    }
}

thread_local! {
    static NONE: Val = Rc::new(Value::None);
}

/// The shared `None` value.
pub fn none() -> Val {
    NONE.with(Rc::clone)
}

/// Limits of one VM run. Every one of them ends the run with [`VmError::Limit`].
#[derive(Debug, Clone, Copy)]
pub struct VmLimits {
    /// Bytes read from the stream (whole stream, including joblib inline arrays).
    pub max_input: u64,
    /// Opcodes executed.
    pub max_ops: u64,
    /// Values on the stack.
    pub max_stack: usize,
    /// Open marks.
    pub max_marks: usize,
    /// Memo entries per pickle.
    pub max_memo: usize,
    /// Value nodes created (containers count their items).
    pub max_nodes: u64,
    /// Nested pickles (joblib object arrays).
    pub max_nesting: u32,
}

impl Default for VmLimits {
    fn default() -> Self {
        Self {
            max_input: 4 * 1024 * 1024 * 1024,
            max_ops: 200_000_000,
            max_stack: 4_000_000,
            max_marks: 1_000_000,
            max_memo: 4_000_000,
            max_nodes: 50_000_000,
            max_nesting: 8,
        }
    }
}

/// Options of a VM run.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmOptions {
    pub limits: VmLimits,
    /// Apply joblib's inline-array semantics at `NumpyArrayWrapper` BUILDs.
    pub joblib: bool,
}

/// Why the VM stopped.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("malformed pickle at offset {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("pickle limit exceeded at offset {offset}: {what}")]
    Limit { offset: u64, what: &'static str },
    #[error("unsupported opcode {op} at offset {offset}: {why}")]
    Unsupported {
        offset: u64,
        op: &'static str,
        why: &'static str,
    },
    #[error("stream ended before the pickle's STOP")]
    Eof,
}

/// A global seen while running, as resolved (Python 2 names mapped, numpy.core normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalRef {
    pub module: String,
    pub name: String,
    pub offset: u64,
}

impl GlobalRef {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// Normalises a module path the way the converters compare names: Python 2 spellings mapped as
/// `find_class` maps them (when `proto < 3`), and `numpy.core` treated as `numpy._core`.
pub fn normalise_global(module: &str, name: &str, proto: u8) -> (String, String) {
    let (m, n) = if proto < 3 {
        match map_py2(module, name) {
            Some((m, n)) => (m.to_owned(), n),
            None => (module.to_owned(), name.to_owned()),
        }
    } else {
        (module.to_owned(), name.to_owned())
    };
    // `__builtin__` is mapped for protocol < 3 only by CPython; old joblib files written with
    // protocol 3 by Python 2 ports still spell it, and it can only mean builtins.
    let m = if m == "__builtin__" {
        "builtins".to_owned()
    } else {
        m
    };
    let m = if m == "numpy.core" {
        "numpy._core".to_owned()
    } else if let Some(rest) = m.strip_prefix("numpy.core.") {
        format!("numpy._core.{rest}")
    } else {
        m
    };
    (m, n)
}

const JOBLIB_WRAPPERS: &[(&str, &str)] = &[
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
];

/// The VM over one stream. Run pickles one after the other with [`Vm::next_pickle`].
pub struct Vm<R> {
    reader: Reader<R>,
    opts: VmOptions,
    ops: u64,
    nodes: u64,
    globals: Vec<GlobalRef>,
    arrays: Vec<ArraySpan>,
}

struct Frame {
    stack: Vec<Val>,
    marks: Vec<usize>,
    memo: HashMap<u64, Val>,
    proto: u8,
    depth: u32,
}

impl Frame {
    fn new(depth: u32) -> Self {
        Self {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            proto: 0,
            depth,
        }
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }
}

impl<R: Read> Vm<R> {
    pub fn new(input: R, opts: VmOptions) -> Self {
        let prefix = usize::try_from(opts.limits.max_input).unwrap_or(usize::MAX);
        Self {
            reader: Reader::with_limits(input, ReaderLimits { prefix }),
            opts,
            ops: 0,
            nodes: 0,
            globals: Vec::new(),
            arrays: Vec::new(),
        }
    }

    /// Stream offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// Every global seen so far, in stream order (duplicates included once per occurrence).
    pub fn globals(&self) -> &[GlobalRef] {
        &self.globals
    }

    /// The joblib inline arrays read so far, in stream order (the same spans the scanning
    /// walker skips: [`crate::pickle::walk::Analysis::arrays`]).
    pub fn arrays(&self) -> &[ArraySpan] {
        &self.arrays
    }

    /// The underlying reader (to read raw bytes between pickles).
    pub fn reader(&mut self) -> &mut Reader<R> {
        &mut self.reader
    }

    /// Runs the next pickle to its STOP and returns its value. [`VmError::Eof`] when the stream
    /// has no more bytes.
    pub fn next_pickle(&mut self) -> Result<Val, VmError> {
        if self.reader.at_eof()? {
            return Err(VmError::Eof);
        }
        self.reader.reset_frame();
        let mut f = Frame::new(0);
        self.run(&mut f)
    }

    fn check_input(&self) -> Result<(), VmError> {
        if self.reader.offset() > self.opts.limits.max_input {
            return Err(VmError::Limit {
                offset: self.reader.offset(),
                what: "input size",
            });
        }
        Ok(())
    }

    fn node(&mut self, v: Value, offset: u64) -> Result<Val, VmError> {
        self.count(1, offset)?;
        Ok(Rc::new(v))
    }

    fn count(&mut self, n: u64, offset: u64) -> Result<(), VmError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.opts.limits.max_nodes {
            return Err(VmError::Limit {
                offset,
                what: "value nodes",
            });
        }
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str, proto: u8, offset: u64) -> Result<Val, VmError> {
        let (module, name) = normalise_global(module, name, proto);
        if self.globals.len() < 1_000_000 {
            self.globals.push(GlobalRef {
                module: module.clone(),
                name: name.clone(),
                offset,
            });
        }
        self.node(Value::Global { module, name }, offset)
    }

    #[allow(clippy::too_many_lines)]
    fn run(&mut self, f: &mut Frame) -> Result<Val, VmError> {
        use OpCode as O;
        loop {
            self.check_input()?;
            self.ops = self.ops.saturating_add(1);
            if self.ops > self.opts.limits.max_ops {
                return Err(VmError::Limit {
                    offset: self.reader.offset(),
                    what: "opcodes",
                });
            }
            if f.stack.len() > self.opts.limits.max_stack {
                return Err(VmError::Limit {
                    offset: self.reader.offset(),
                    what: "stack size",
                });
            }
            let limits = self.opts.limits;
            // Decode the opcode into an owned form so the reader can be used again (joblib).
            let (offset, code, arg) = {
                let Some(op) = self.reader.next_op()? else {
                    return Err(VmError::Eof);
                };
                (
                    op.offset,
                    op.code,
                    OwnedArg::from(op.arg, op.code, op.offset)?,
                )
            };
            let bad = |message: &str| VmError::Malformed {
                offset,
                message: message.to_owned(),
            };
            match code {
                O::Proto => {
                    if let OwnedArg::Index(p) = arg {
                        f.proto = u8::try_from(p).unwrap_or(u8::MAX);
                    }
                }
                O::Frame => {}
                O::Stop => {
                    let v = f.stack.pop().ok_or_else(|| bad("STOP on an empty stack"))?;
                    return Ok(v);
                }
                O::Mark => {
                    if f.marks.len() >= limits.max_marks {
                        return Err(VmError::Limit {
                            offset,
                            what: "open marks",
                        });
                    }
                    f.marks.push(f.stack.len());
                }
                O::Pop => {
                    if f.stack.len() > f.fence() {
                        f.stack.pop();
                    } else if f.marks.pop().is_none() {
                        // CPython's POP with an empty stack above a mark pops the mark.
                        return Err(bad("POP on an empty stack"));
                    }
                }
                O::PopMark => {
                    let at = f.marks.pop().ok_or_else(|| bad("POP_MARK without MARK"))?;
                    f.stack.truncate(at);
                }
                O::Dup => {
                    let top = Self::top(f, offset)?;
                    f.stack.push(top);
                }
                O::None => f.stack.push(none()),
                O::NewTrue => f.stack.push(self.node(Value::Bool(true), offset)?),
                O::NewFalse => f.stack.push(self.node(Value::Bool(false), offset)?),
                O::Int | O::BinInt | O::BinInt1 | O::BinInt2 | O::Long | O::Long1 | O::Long4 => {
                    let v = match arg {
                        OwnedArg::Int(i) => Value::Int(i),
                        OwnedArg::BigInt(i) => Value::BigInt(i),
                        OwnedArg::HugeInt => Value::HugeInt,
                        OwnedArg::Bool(b) => Value::Bool(b),
                        _ => return Err(bad("integer opcode without an integer")),
                    };
                    f.stack.push(self.node(v, offset)?);
                }
                O::Float | O::BinFloat => {
                    let OwnedArg::Float(x) = arg else {
                        return Err(bad("float opcode without a float"));
                    };
                    f.stack.push(self.node(Value::Float(x), offset)?);
                }
                O::String
                | O::BinString
                | O::ShortBinString
                | O::Unicode
                | O::BinUnicode
                | O::ShortBinUnicode
                | O::BinUnicode8 => {
                    let OwnedArg::Bytes(b) = arg else {
                        return Err(bad("string opcode without a payload"));
                    };
                    let s = match String::from_utf8(b) {
                        Ok(s) => s,
                        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    };
                    f.stack.push(self.node(Value::Str(s), offset)?);
                }
                O::BinBytes | O::ShortBinBytes | O::BinBytes8 | O::ByteArray8 => {
                    let OwnedArg::Bytes(b) = arg else {
                        return Err(bad("bytes opcode without a payload"));
                    };
                    f.stack.push(self.node(Value::Bytes(b), offset)?);
                }
                O::EmptyTuple => f.stack.push(self.node(Value::Tuple(Vec::new()), offset)?),
                O::EmptyList => f
                    .stack
                    .push(self.node(Value::List(RefCell::new(Vec::new())), offset)?),
                O::EmptyDict => f
                    .stack
                    .push(self.node(Value::Dict(RefCell::new(Vec::new())), offset)?),
                O::EmptySet => f
                    .stack
                    .push(self.node(Value::Set(RefCell::new(Vec::new())), offset)?),
                O::Tuple => {
                    let items = Self::pop_mark(f, offset)?;
                    f.stack.push(self.node(Value::Tuple(items), offset)?);
                }
                O::Tuple1 | O::Tuple2 | O::Tuple3 => {
                    let n = match code {
                        O::Tuple1 => 1,
                        O::Tuple2 => 2,
                        _ => 3,
                    };
                    let items = Self::pop_n(f, n, offset)?;
                    f.stack.push(self.node(Value::Tuple(items), offset)?);
                }
                O::List => {
                    let items = Self::pop_mark(f, offset)?;
                    f.stack
                        .push(self.node(Value::List(RefCell::new(items)), offset)?);
                }
                O::Dict => {
                    let items = Self::pop_mark(f, offset)?;
                    let pairs = pairs(items).ok_or_else(|| bad("DICT with an odd item count"))?;
                    f.stack
                        .push(self.node(Value::Dict(RefCell::new(pairs)), offset)?);
                }
                O::FrozenSet => {
                    let items = Self::pop_mark(f, offset)?;
                    f.stack.push(self.node(Value::FrozenSet(items), offset)?);
                }
                O::Append => {
                    let v = Self::pop(f, offset)?;
                    let target = Self::top(f, offset)?;
                    self.count(1, offset)?;
                    append(&target, vec![v]).map_err(&bad)?;
                }
                O::Appends => {
                    let items = Self::pop_mark(f, offset)?;
                    let target = Self::top(f, offset)?;
                    self.count(items.len() as u64, offset)?;
                    append(&target, items).map_err(&bad)?;
                }
                O::AddItems => {
                    let items = Self::pop_mark(f, offset)?;
                    let target = Self::top(f, offset)?;
                    self.count(items.len() as u64, offset)?;
                    match &*target {
                        Value::Set(s) => s.borrow_mut().extend(items),
                        Value::Object(o) => o.borrow_mut().appended.extend(items),
                        _ => return Err(bad("ADDITEMS onto a value that is not a set")),
                    }
                }
                O::SetItem => {
                    let v = Self::pop(f, offset)?;
                    let k = Self::pop(f, offset)?;
                    let target = Self::top(f, offset)?;
                    self.count(2, offset)?;
                    set_items(&target, vec![(k, v)]).map_err(&bad)?;
                }
                O::SetItems => {
                    let items = Self::pop_mark(f, offset)?;
                    let pairs =
                        pairs(items).ok_or_else(|| bad("SETITEMS with an odd item count"))?;
                    let target = Self::top(f, offset)?;
                    self.count(pairs.len() as u64, offset)?;
                    set_items(&target, pairs).map_err(&bad)?;
                }
                O::Get | O::BinGet | O::LongBinGet => {
                    let OwnedArg::Index(i) = arg else {
                        return Err(bad("memo GET without an index"));
                    };
                    let v = f
                        .memo
                        .get(&i)
                        .cloned()
                        .ok_or_else(|| bad("memo GET of a missing key"))?;
                    f.stack.push(v);
                }
                O::Put | O::BinPut | O::LongBinPut => {
                    let OwnedArg::Index(i) = arg else {
                        return Err(bad("memo PUT without an index"));
                    };
                    let top = Self::top(f, offset)?;
                    self.memo_put(f, i, top, offset)?;
                }
                O::Memoize => {
                    let top = Self::top(f, offset)?;
                    let i = f.memo.len() as u64;
                    self.memo_put(f, i, top, offset)?;
                }
                O::Global => {
                    let OwnedArg::Global(m, n) = arg else {
                        return Err(bad("GLOBAL without names"));
                    };
                    let g = self.global(&m, &n, f.proto, offset)?;
                    f.stack.push(g);
                }
                O::StackGlobal => {
                    let name = Self::pop(f, offset)?;
                    let module = Self::pop(f, offset)?;
                    let (Some(m), Some(n)) = (module.as_str(), name.as_str()) else {
                        return Err(bad("STACK_GLOBAL operands are not strings"));
                    };
                    let (m, n) = (m.to_owned(), n.to_owned());
                    let g = self.global(&m, &n, f.proto, offset)?;
                    f.stack.push(g);
                }
                O::Inst => {
                    let OwnedArg::Global(m, n) = arg else {
                        return Err(bad("INST without names"));
                    };
                    let items = Self::pop_mark(f, offset)?;
                    let cls = self.global(&m, &n, f.proto, offset)?;
                    let args = self.node(Value::Tuple(items), offset)?;
                    let o = object(ObjKind::Call {
                        callable: cls,
                        args,
                    });
                    f.stack.push(self.node(o, offset)?);
                }
                O::Obj => {
                    let mut items = Self::pop_mark(f, offset)?;
                    if items.is_empty() {
                        return Err(bad("OBJ without a class"));
                    }
                    let cls = items.remove(0);
                    let args = self.node(Value::Tuple(items), offset)?;
                    let o = object(ObjKind::Call {
                        callable: cls,
                        args,
                    });
                    f.stack.push(self.node(o, offset)?);
                }
                O::Reduce => {
                    let args = Self::pop(f, offset)?;
                    let callable = Self::pop(f, offset)?;
                    let o = object(ObjKind::Call { callable, args });
                    f.stack.push(self.node(o, offset)?);
                }
                O::NewObj => {
                    let args = Self::pop(f, offset)?;
                    let cls = Self::pop(f, offset)?;
                    let o = object(ObjKind::New {
                        cls,
                        args,
                        kwargs: None,
                    });
                    f.stack.push(self.node(o, offset)?);
                }
                O::NewObjEx => {
                    let kwargs = Self::pop(f, offset)?;
                    let args = Self::pop(f, offset)?;
                    let cls = Self::pop(f, offset)?;
                    let o = object(ObjKind::New {
                        cls,
                        args,
                        kwargs: Some(kwargs),
                    });
                    f.stack.push(self.node(o, offset)?);
                }
                O::Build => {
                    let state = Self::pop(f, offset)?;
                    let target = Self::top(f, offset)?;
                    let Value::Object(o) = &*target else {
                        return Err(bad(&format!(
                            "BUILD on a {} (only objects made by a call carry state)",
                            target.kind()
                        )));
                    };
                    o.borrow_mut().states.push(state.clone());
                    let wrapper = self.opts.joblib
                        && o.borrow()
                            .callee()
                            .is_some_and(|g| JOBLIB_WRAPPERS.contains(&g));
                    if wrapper {
                        f.stack.pop();
                        let v = self.joblib_array(f, state, offset)?;
                        f.stack.push(v);
                    }
                }
                O::PersId => {
                    let OwnedArg::Bytes(b) = arg else {
                        return Err(bad("PERSID without an id"));
                    };
                    let s =
                        self.node(Value::Str(String::from_utf8_lossy(&b).into_owned()), offset)?;
                    f.stack.push(self.node(Value::PersId(s), offset)?);
                }
                O::BinPersId => {
                    let pid = Self::pop(f, offset)?;
                    f.stack.push(self.node(Value::PersId(pid), offset)?);
                }
                O::Ext1 | O::Ext2 | O::Ext4 => {
                    return Err(VmError::Unsupported {
                        offset,
                        op: code.name(),
                        why: "extension-registry lookups name code outside the pickle",
                    });
                }
                O::NextBuffer | O::ReadOnlyBuffer => {
                    return Err(VmError::Unsupported {
                        offset,
                        op: code.name(),
                        why: "out-of-band buffers are not part of the file",
                    });
                }
            }
        }
    }

    fn memo_put(&mut self, f: &mut Frame, i: u64, v: Val, offset: u64) -> Result<(), VmError> {
        if f.memo.len() >= self.opts.limits.max_memo && !f.memo.contains_key(&i) {
            return Err(VmError::Limit {
                offset,
                what: "memo entries",
            });
        }
        f.memo.insert(i, v);
        Ok(())
    }

    fn top(f: &Frame, offset: u64) -> Result<Val, VmError> {
        if f.stack.len() <= f.fence() {
            return Err(VmError::Malformed {
                offset,
                message: "stack underflow".into(),
            });
        }
        f.stack.last().cloned().ok_or(VmError::Malformed {
            offset,
            message: "stack underflow".into(),
        })
    }

    fn pop(f: &mut Frame, offset: u64) -> Result<Val, VmError> {
        if f.stack.len() <= f.fence() {
            return Err(VmError::Malformed {
                offset,
                message: "stack underflow".into(),
            });
        }
        f.stack.pop().ok_or(VmError::Malformed {
            offset,
            message: "stack underflow".into(),
        })
    }

    fn pop_n(f: &mut Frame, n: usize, offset: u64) -> Result<Vec<Val>, VmError> {
        let avail = f.stack.len().saturating_sub(f.fence());
        if avail < n {
            return Err(VmError::Malformed {
                offset,
                message: "stack underflow".into(),
            });
        }
        let at = f.stack.len().saturating_sub(n);
        Ok(f.stack.split_off(at))
    }

    fn pop_mark(f: &mut Frame, offset: u64) -> Result<Vec<Val>, VmError> {
        let at = f.marks.pop().ok_or(VmError::Malformed {
            offset,
            message: "no MARK on the stack".into(),
        })?;
        if at > f.stack.len() {
            return Err(VmError::Malformed {
                offset,
                message: "mark above the stack".into(),
            });
        }
        Ok(f.stack.split_off(at))
    }

    /// joblib's `NumpyArrayWrapper.read_array`, at the layout the scanning walker skips
    /// ([`super::joblib::layout`]).
    fn joblib_array(&mut self, f: &Frame, state: Val, offset: u64) -> Result<Val, VmError> {
        let bad = |m: &str| VmError::Malformed {
            offset,
            message: format!("joblib array: {m}"),
        };
        let dtype = state.get("dtype").ok_or_else(|| bad("no dtype"))?;
        let dtype = dtype_of(&dtype).map_err(|e| bad(&format!("unreadable dtype: {e}")))?;
        let dims: Option<Vec<Option<i128>>> = state
            .get("shape")
            .and_then(|s| s.seq())
            .map(|s| s.iter().map(|d| d.as_int()).collect());
        let alignment = match state.get("numpy_array_alignment_bytes") {
            Some(v) if !v.is_none() => Alignment::Present,
            _ => Alignment::Absent,
        };
        let raw = match joblib::layout(&dtype, dims.as_deref(), alignment) {
            Ok(Layout::Raw(raw)) => raw,
            Ok(Layout::Pickle) => {
                if f.depth.saturating_add(1) > self.opts.limits.max_nesting {
                    return Err(VmError::Limit {
                        offset,
                        what: "nested pickles",
                    });
                }
                self.reader.reset_frame();
                let mut inner = Frame::new(f.depth.saturating_add(1));
                let v = self.run(&mut inner)?;
                self.reader.reset_frame();
                return self.node(
                    Value::Inline {
                        state,
                        data: InlineData::Pickled(v),
                    },
                    offset,
                );
            }
            Err(e) => return Err(bad(&e.to_string())),
        };
        let start = self.reader.offset();
        let mut pad = Vec::new();
        if raw.aligned && self.reader.read_raw(1, &mut pad)? != 1 {
            return Err(bad("stream ends in the padding"));
        }
        let span = raw
            .span(pad.first().copied())
            .map_err(|e| bad(&e.to_string()))?;
        let padding = span.data_offset.saturating_sub(pad.len() as u64);
        if self.reader.skip(padding)? != padding {
            return Err(bad("stream ends in the padding"));
        }
        let remaining = self
            .opts
            .limits
            .max_input
            .saturating_sub(self.reader.offset());
        if span.data_len > remaining {
            return Err(VmError::Limit {
                offset,
                what: "joblib array larger than the input limit",
            });
        }
        let mut data = Vec::new();
        if self.reader.read_raw(span.data_len, &mut data)? != span.data_len {
            return Err(bad("stream ends inside the array data"));
        }
        self.arrays.push(ArraySpan {
            data_start: start.saturating_add(span.data_offset),
            data_len: span.data_len,
        });
        self.node(
            Value::Inline {
                state,
                data: InlineData::Raw(data),
            },
            offset,
        )
    }
}

fn object(kind: ObjKind) -> Value {
    Value::Object(RefCell::new(Object {
        kind,
        states: Vec::new(),
        items: Vec::new(),
        appended: Vec::new(),
    }))
}

fn pairs(items: Vec<Val>) -> Option<Vec<(Val, Val)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

fn append(target: &Val, items: Vec<Val>) -> Result<(), &'static str> {
    match &**target {
        Value::List(l) => l.borrow_mut().extend(items),
        Value::Object(o) => o.borrow_mut().appended.extend(items),
        _ => return Err("APPEND onto a value that is not a list"),
    }
    Ok(())
}

fn set_items(target: &Val, items: Vec<(Val, Val)>) -> Result<(), &'static str> {
    match &**target {
        Value::Dict(d) => d.borrow_mut().extend(items),
        Value::Object(o) => o.borrow_mut().items.extend(items),
        _ => return Err("SETITEM onto a value that is not a dict"),
    }
    Ok(())
}

/// The dtype of a `numpy.dtype(descr, align, copy)` reconstruction after its BUILD state, as
/// numpy computes it ([`crate::formats::dtype::resolve`], the reading the scanning walker uses
/// too): the first argument is the type string, the state a tuple.
pub fn dtype_of(dtype: &Val) -> Result<DType, String> {
    let o = dtype
        .object()
        .ok_or_else(|| format!("the dtype is a {}, not numpy.dtype(...)", dtype.kind()))?;
    if o.callee() != Some(("numpy", "dtype")) {
        return Err("the dtype is not built by numpy.dtype".into());
    }
    let args = o.args().seq().unwrap_or_default();
    if args.is_empty() || args.len() > 3 {
        return Err(format!(
            "numpy.dtype is called with {} arguments",
            args.len()
        ));
    }
    let descr = args
        .first()
        .and_then(|a| a.as_str())
        .ok_or("the dtype's first argument is not a type string")?;
    let state = match o.state() {
        None => None,
        Some(s) => {
            let Value::Tuple(t) = &**s else {
                return Err("the dtype's BUILD state is not a tuple".into());
            };
            let int = |i: usize| t.get(i).and_then(|v| v.as_int());
            let order = t.get(1).and_then(|v| v.as_str());
            Some(DTypeState::from_items(t.len(), int, order))
        }
    };
    resolve(descr, state)
}

/// An opcode argument copied out of the reader's buffer.
enum OwnedArg {
    None,
    Int(i64),
    BigInt(i128),
    HugeInt,
    Bool(bool),
    Float(f64),
    Bytes(Vec<u8>),
    Global(String, String),
    Index(u64),
}

impl OwnedArg {
    fn from(arg: Arg<'_>, code: OpCode, offset: u64) -> Result<Self, VmError> {
        let whole = |p: Payload<'_>| -> Result<Vec<u8>, VmError> {
            if !p.is_complete() {
                return Err(VmError::Limit {
                    offset,
                    what: "string or bytes payload longer than the input limit",
                });
            }
            Ok(p.data.to_vec())
        };
        Ok(match arg {
            Arg::None => OwnedArg::None,
            Arg::Int(i) => OwnedArg::Int(i),
            Arg::BigInt(i) => OwnedArg::BigInt(i),
            Arg::HugeInt { .. } => OwnedArg::HugeInt,
            Arg::Bool(b) => OwnedArg::Bool(b),
            Arg::Float(x) => OwnedArg::Float(x),
            Arg::Str(p) | Arg::Bytes(p) => OwnedArg::Bytes(whole(p)?),
            Arg::Text(t) => OwnedArg::Bytes(t.to_vec()),
            Arg::Global { module, name } => OwnedArg::Global(
                String::from_utf8_lossy(module).into_owned(),
                String::from_utf8_lossy(name).into_owned(),
            ),
            Arg::Index(i) => {
                let _ = code;
                OwnedArg::Index(i)
            }
        })
    }
}

/// Runs the first pickle of `bytes` (convenience for tests and small inputs).
pub fn run_bytes(bytes: &[u8], opts: VmOptions) -> Result<(Val, Vec<GlobalRef>), VmError> {
    let mut vm = Vm::new(bytes, opts);
    let v = vm.next_pickle()?;
    Ok((v, vm.globals))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn run(b: &[u8]) -> Result<Val, VmError> {
        run_bytes(b, VmOptions::default()).map(|(v, _)| v)
    }

    #[test]
    fn builds_an_ordered_dict_of_tensors() {
        // OrderedDict() then SETITEMS {'a': 1, 'b': [True]}
        let p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00b]q\x02\x88au.";
        let v = run(p).unwrap();
        let o = v.object().unwrap();
        assert_eq!(o.callee(), Some(("collections", "OrderedDict")));
        assert_eq!(o.items.len(), 2);
        assert_eq!(o.items[0].0.as_str(), Some("a"));
        assert_eq!(o.items[1].1.seq().unwrap().len(), 1);
    }

    #[test]
    fn memo_shares_mutable_containers() {
        // l = []; memo[0] = l; t = (l,); l.append(1); return (t, memo[0])
        let p = b"\x80\x02]q\x00h\x00\x85K\x01a\x86.";
        // Stack: [l] PUT0, GET0 -> [l, l], TUPLE1 -> [l, (l,)], BININT1 1 -> APPEND onto (l,)? no:
        // APPEND targets the tuple, which CPython rejects; we must too.
        assert!(run(p).is_err());
        let p = b"\x80\x02]q\x00h\x00K\x01a\x86.";
        // [l, l] then APPEND 1 to top l -> both see it.
        let v = run(p).unwrap();
        let t = v.seq().unwrap();
        assert_eq!(t[0].seq().unwrap().len(), 1);
        assert!(Rc::ptr_eq(&t[0], &t[1]));
    }

    #[test]
    fn python2_and_numpy_names_are_normalised() {
        let p = b"c__builtin__\nset\n)R.";
        let (_, g) = run_bytes(p, VmOptions::default()).unwrap();
        assert_eq!(g[0].qualified(), "builtins.set");
        let p = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n.";
        let (_, g) = run_bytes(p, VmOptions::default()).unwrap();
        assert_eq!(g[0].qualified(), "numpy._core.multiarray._reconstruct");
    }

    #[test]
    fn nothing_is_called_and_errors_are_typed() {
        let p = b"cos\nsystem\n(S'echo hi'\ntR.";
        let v = run(p).unwrap();
        assert_eq!(v.object().unwrap().callee(), Some(("os", "system")));
        assert!(matches!(
            run(b"\x82\x01."),
            Err(VmError::Unsupported { .. })
        ));
        assert!(matches!(run(b"0"), Err(VmError::Malformed { .. })));
        assert!(matches!(run(b"N"), Err(VmError::Eof)));
        assert!(matches!(run(b"h\x05."), Err(VmError::Malformed { .. })));
    }

    #[test]
    fn deep_nesting_drops_without_recursion() {
        let n = 200_000;
        let mut p = vec![b']'; n];
        p.extend(std::iter::repeat_n(b'a', n - 1));
        p.push(b'.');
        let v = run(&p).unwrap();
        drop(v);
    }

    #[test]
    fn limits_stop_the_run() {
        let mut p = vec![b'N'; 1000];
        p.push(b'.');
        let opts = VmOptions {
            limits: VmLimits {
                max_stack: 10,
                ..VmLimits::default()
            },
            joblib: false,
        };
        assert!(matches!(run_bytes(&p, opts), Err(VmError::Limit { .. })));
    }
}
