#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! XGBoost model files, read the way XGBoost's native loader reads them (`src/c_api/c_api.cc`
//! `XGBoosterLoadModel`, `src/learner.cc`, `src/common/json.cc`, `src/tree/tree_model.cc`):
//!
//! * **JSON** (`save_model("m.json")`): `{"learner": {...}, "version": [major, minor, patch]}`.
//!   XGBoost's JSON reader keeps the last of duplicate keys and accepts `NaN`/`Infinity`.
//! * **UBJSON** (`save_model("m.ubj")`, the default since 2.1): XGBoost's own dialect of UBJSON,
//!   big-endian, object keys as `L`-length strings without a marker, typed arrays `[$<t>#L<n>`.
//!   The loader (`UBJReader`) checks no length against the end of its buffer: a string or
//!   typed-array length past the end makes it read past its buffer, and a huge count is
//!   allocated before anything is read.
//! * **legacy binary** (`.bst`/`.model`, XGBoost < 3; `binf` first, or the raw parameter block
//!   of pre-1.0 files): fixed C structs (`LearnerModelParamLegacy`, `GBTreeModelParam`,
//!   `TreeParam`, 20-byte nodes, 16-byte node statistics) and dmlc length-prefixed strings.
//!   XGBoost 3 refuses it; 1.x and 2.x load it.
//!
//! XGBoost picks JSON or UBJSON by the byte after `{` (a quote or a letter) when the extension
//! says neither, so both encodings are recognised by content.
//!
//! The loaders trust the trees: child and parent indices, split feature indices and categorical
//! segments are used at load or prediction time without bounds checks (`RegTree::LoadModel`
//! dereferences each node's parent; the predictors follow `left_children`/`right_children` and
//! index the feature vector by `split_indices`). [`check_model`] checks them.

use std::fmt;

use serde_json::Value;

use super::treegraph::find_cycle;

/// How deep UBJSON containers may nest before the reader stops (XGBoost's reader recurses
/// without a limit; real models nest five levels).
pub const MAX_DEPTH: usize = 128;

/// The encodings of an XGBoost model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Ubjson,
    LegacyBinary,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "JSON",
            Encoding::Ubjson => "UBJSON",
            Encoding::LegacyBinary => "legacy binary",
        }
    }
}

/// The encoding XGBoost's loader would choose for `head`, when it is one of its own: JSON or
/// UBJSON after `{`, or the legacy binary's `binf` tag.
pub fn encoding(head: &[u8]) -> Option<Encoding> {
    if head.starts_with(b"binf") {
        return Some(Encoding::LegacyBinary);
    }
    let rest = head.strip_prefix(b"{")?;
    match rest.iter().find(|c| !c.is_ascii_whitespace()) {
        Some(b'"') => Some(Encoding::Json),
        Some(c) if c.is_ascii_alphabetic() => Some(Encoding::Ubjson),
        _ => None,
    }
}

/// Whether `head` is the start of an XGBoost model document in either JSON encoding: the
/// `learner` object XGBoost writes first (its objects are sorted maps, and `learner` sorts
/// before `version`).
pub fn looks_like_model(head: &[u8]) -> bool {
    // UBJSON: `{`, key length `L` + 8-byte big-endian 7, `learner`, then the object marker; or
    // the memory snapshot a pickled `Booster` carries (`{"Config": {"learner": …}, "Model": …}`).
    if head.starts_with(b"{L\0\0\0\0\0\0\0\x07learner{")
        || head.starts_with(b"{L\0\0\0\0\0\0\0\x06Config{L\0\0\0\0\0\0\0\x07learner{")
    {
        return true;
    }
    if json_starts(
        head,
        &[b"{", b"\"Config\"", b":", b"{", b"\"learner\"", b":", b"{"],
    ) {
        return true;
    }
    json_starts(head, &[b"{", b"\"learner\"", b":", b"{"])
}

/// Whether `head` starts with `tokens`, whitespace allowed between them (after a BOM).
fn json_starts(head: &[u8], tokens: &[&[u8]]) -> bool {
    let h = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let mut rest = h;
    for token in tokens {
        let trimmed = rest.iter().position(|c| !c.is_ascii_whitespace());
        let Some(t) = trimmed.and_then(|i| rest.get(i..)) else {
            return false;
        };
        let Some(r) = t.strip_prefix(*token) else {
            return false;
        };
        rest = r;
    }
    true
}

/// A parsed XGBoost document, kept small: numeric arrays are stored as integers (the indices
/// the checks need) or only counted (floats).
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// An array of integers (typed or not).
    Ints(Vec<i64>),
    /// An array of numbers that are not all integers: only its length.
    Nums(usize),
    Arr(Vec<Doc>),
    /// Keys in file order, duplicates already resolved the way the loader resolves them.
    Obj(Vec<(String, Doc)>),
}

impl Doc {
    pub fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Doc::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, or a string holding one: XGBoost writes its parameter blocks as strings
    /// (`"num_nodes": "7"`) and reads them back with `std::stoi`-like parsing.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Doc::Int(i) => Some(*i),
            Doc::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The integers of an array (an empty array counts).
    pub fn ints(&self) -> Option<&[i64]> {
        match self {
            Doc::Ints(v) => Some(v),
            Doc::Arr(v) if v.is_empty() => Some(&[]),
            _ => None,
        }
    }

    /// The length of any array.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            Doc::Ints(v) => Some(v.len()),
            Doc::Nums(n) => Some(*n),
            Doc::Arr(v) => Some(v.len()),
            _ => None,
        }
    }

    fn array(items: Vec<Doc>) -> Doc {
        if !items.is_empty() && items.iter().all(|d| matches!(d, Doc::Int(_))) {
            return Doc::Ints(
                items
                    .iter()
                    .filter_map(|d| match d {
                        Doc::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect(),
            );
        }
        if !items.is_empty() && items.iter().all(|d| matches!(d, Doc::Int(_) | Doc::Num(_))) {
            return Doc::Nums(items.len());
        }
        Doc::Arr(items)
    }
}

/// The document of a JSON model (already parsed; duplicate keys resolved last-wins, as XGBoost's
/// JSON reader does).
pub fn from_json(v: &Value) -> Doc {
    match v {
        Value::Null => Doc::Null,
        Value::Bool(b) => Doc::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Doc::Int(i),
            None => Doc::Num(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Doc::Str(s.clone()),
        Value::Array(items) => Doc::array(items.iter().map(from_json).collect()),
        Value::Object(m) => Doc::Obj(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// Why a UBJSON document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UbjError {
    /// A length or value runs past the end of the buffer: XGBoost's reader copies it anyway
    /// (an out-of-bounds read), or allocates the declared count first.
    #[error("{what} at byte {at} needs {need} bytes, {left} remain")]
    PastEnd {
        at: u64,
        need: u64,
        left: u64,
        what: &'static str,
    },
    /// Containers nested deeper than [`MAX_DEPTH`] (the loader recurses without a limit).
    #[error("containers nested deeper than {max} levels at byte {at}", max = MAX_DEPTH)]
    TooDeep { at: u64 },
    /// A marker the loader does not accept (it stops with a fatal error).
    #[error("{what} at byte {at}")]
    Invalid { at: u64, what: String },
}

impl UbjError {
    /// Whether the native loader would read or allocate out of bounds on this input, rather than
    /// stop cleanly.
    pub fn is_unsafe(&self) -> bool {
        matches!(self, UbjError::PastEnd { .. } | UbjError::TooDeep { .. })
    }
}

/// Parses XGBoost's UBJSON dialect. Object keys keep the first of duplicates (`UBJReader`
/// inserts with `emplace`).
pub fn parse_ubj(buf: &[u8]) -> Result<Doc, UbjError> {
    let mut r = Ubj { buf, pos: 0 };
    r.value(0)
}

struct Ubj<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl Ubj<'_> {
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&[u8], UbjError> {
        let left = self.left() as u64;
        if n > left {
            return Err(UbjError::PastEnd {
                at: self.pos as u64,
                need: n,
                left,
                what,
            });
        }
        let n = n as usize;
        let start = self.pos;
        self.pos = self.pos.saturating_add(n);
        Ok(self.buf.get(start..self.pos).unwrap_or_default())
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, UbjError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), UbjError> {
        let at = self.pos as u64;
        match self.peek() {
            Some(b) if b == c => {
                self.pos = self.pos.saturating_add(1);
                Ok(())
            }
            Some(b) => Err(UbjError::Invalid {
                at,
                what: format!("{what}: expected {:?}, found {:?}", c as char, b as char),
            }),
            None => Err(UbjError::PastEnd {
                at,
                need: 1,
                left: 0,
                what,
            }),
        }
    }

    fn int64(&mut self, what: &'static str) -> Result<i64, UbjError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A key or string body: `L`, an 8-byte big-endian length, the bytes.
    fn string(&mut self, what: &'static str) -> Result<String, UbjError> {
        self.expect(b'L', what)?;
        let at = self.pos as u64;
        let n = self.int64(what)?;
        let Ok(n) = u64::try_from(n) else {
            return Err(UbjError::PastEnd {
                at,
                need: n as u64,
                left: self.left() as u64,
                what,
            });
        };
        let b = self.take(n, what)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Doc, UbjError> {
        let at = self.pos as u64;
        let Some(c) = self.peek() else {
            // The loader's top-level `Parse` returns null at the end of its input.
            return Ok(Doc::Null);
        };
        self.pos = self.pos.saturating_add(1);
        Ok(match c {
            b'{' | b'[' if depth >= MAX_DEPTH => return Err(UbjError::TooDeep { at }),
            b'{' => self.object(depth.saturating_add(1))?,
            b'[' => self.array(depth.saturating_add(1))?,
            b'Z' => Doc::Null,
            b'T' => Doc::Bool(true),
            b'F' => Doc::Bool(false),
            b'd' => {
                let b = self.take(4, "float32")?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Doc::Num(f64::from(f32::from_be_bytes(a)))
            }
            b'D' => {
                let b = self.take(8, "float64")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Doc::Num(f64::from_be_bytes(a))
            }
            b'S' => Doc::Str(self.string("string")?),
            b'i' => Doc::Int(i64::from(self.byte("int8")? as i8)),
            b'U' | b'C' => Doc::Int(i64::from(self.byte("uint8")?)),
            b'I' => {
                let b = self.take(2, "int16")?;
                Doc::Int(i64::from(i16::from_be_bytes([
                    b.first().copied().unwrap_or_default(),
                    b.get(1).copied().unwrap_or_default(),
                ])))
            }
            b'l' => {
                let b = self.take(4, "int32")?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Doc::Int(i64::from(i32::from_be_bytes(a)))
            }
            b'L' => Doc::Int(self.int64("int64")?),
            other => {
                return Err(UbjError::Invalid {
                    at,
                    what: format!("marker {:?} is not one XGBoost reads", other as char),
                })
            }
        })
    }

    fn object(&mut self, depth: usize) -> Result<Doc, UbjError> {
        let mut kv: Vec<(String, Doc)> = Vec::new();
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos = self.pos.saturating_add(1);
                    return Ok(Doc::Obj(kv));
                }
                None => {
                    return Err(UbjError::PastEnd {
                        at: self.pos as u64,
                        need: 1,
                        left: 0,
                        what: "object",
                    })
                }
                Some(_) => {}
            }
            let key = self.string("object key")?;
            let value = self.value(depth)?;
            if !kv.iter().any(|(k, _)| *k == key) {
                kv.push((key, value));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Doc, UbjError> {
        match self.peek() {
            Some(b'$') => {
                self.pos = self.pos.saturating_add(1);
                let at = self.pos as u64;
                let ty = self.byte("typed array type")?;
                self.expect(b'#', "typed array count")?;
                self.expect(b'L', "typed array count")?;
                let n = self.int64("typed array count")?;
                let size: u64 = match ty {
                    b'd' | b'l' => 4,
                    b'D' | b'L' => 8,
                    b'i' | b'U' => 1,
                    b'I' => 2,
                    other => {
                        return Err(UbjError::Invalid {
                            at,
                            what: format!("typed array of {:?}", other as char),
                        })
                    }
                };
                let need = u64::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_mul(size))
                    .unwrap_or(u64::MAX);
                let body = self.take(need, "typed array")?;
                let size = size as usize;
                if matches!(ty, b'd' | b'D') {
                    return Ok(Doc::Nums(body.len().checked_div(size).unwrap_or(0)));
                }
                let ints = body
                    .chunks_exact(size)
                    .map(|c| match ty {
                        b'i' => i64::from(c.first().copied().unwrap_or_default() as i8),
                        b'U' => i64::from(c.first().copied().unwrap_or_default()),
                        b'I' => i64::from(i16::from_be_bytes([
                            c.first().copied().unwrap_or_default(),
                            c.get(1).copied().unwrap_or_default(),
                        ])),
                        b'l' => {
                            let mut a = [0u8; 4];
                            a.copy_from_slice(c);
                            i64::from(i32::from_be_bytes(a))
                        }
                        _ => {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(c);
                            i64::from_be_bytes(a)
                        }
                    })
                    .collect();
                Ok(Doc::Ints(ints))
            }
            Some(b'#') => {
                self.pos = self.pos.saturating_add(1);
                self.expect(b'L', "array count")?;
                let at = self.pos as u64;
                let n = self.int64("array count")?;
                // Every element takes at least one byte; the loader resizes to `n` first.
                let left = self.left() as u64;
                let Some(n) = u64::try_from(n).ok().filter(|&n| n <= left) else {
                    return Err(UbjError::PastEnd {
                        at,
                        need: n as u64,
                        left,
                        what: "counted array",
                    });
                };
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                Ok(Doc::array(items))
            }
            _ => {
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        Some(b']') => {
                            self.pos = self.pos.saturating_add(1);
                            return Ok(Doc::array(items));
                        }
                        None => {
                            return Err(UbjError::PastEnd {
                                at: self.pos as u64,
                                need: 1,
                                left: 0,
                                what: "array",
                            })
                        }
                        Some(_) => items.push(self.value(depth)?),
                    }
                }
            }
        }
    }
}

/// What [`check_model`] found wrong with a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The native loader or predictor would read or allocate out of bounds, or loop forever.
    Unsafe(String),
    /// The loader refuses the model (a failed `CHECK`), or it is not an XGBoost model.
    Malformed(String),
    /// A part the checks do not cover (multi-target trees, a booster other than gbtree, dart or
    /// gblinear).
    Unchecked(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unsafe(s) | Problem::Malformed(s) | Problem::Unchecked(s) => f.write_str(s),
        }
    }
}

/// What a model says about itself, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub version: Option<String>,
    pub booster: Option<String>,
    pub objective: Option<String>,
    pub num_feature: Option<i64>,
    pub trees: usize,
    /// The document is a memory snapshot (`{"Config": …, "Model": …}`).
    pub snapshot: bool,
}

/// Problems are capped per model: one hostile model can break every node of every tree.
const MAX_PROBLEMS: usize = 20;

/// Checks a JSON or UBJSON model document the way the loader and predictor use it.
pub fn check_model(doc: &Doc) -> (Summary, Vec<Problem>) {
    let mut s = Summary::default();
    let mut out = Vec::new();
    // A memory snapshot (`Booster.__getstate__`, `XGBoosterSerializeToBuffer`): the loader
    // reads the model from its `Model` member.
    let doc = match (doc.get("learner"), doc.get("Model")) {
        (None, Some(model)) => {
            s.snapshot = true;
            model
        }
        _ => doc,
    };
    let Some(learner) = doc.get("learner") else {
        out.push(Problem::Malformed("no \"learner\" object".into()));
        return (s, out);
    };
    s.version = doc.get("version").and_then(Doc::ints).map(|v| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".")
    });
    if s.version.is_none() {
        out.push(Problem::Malformed("no \"version\" array".into()));
    }
    s.objective = learner
        .get("objective")
        .and_then(|o| o.get("name"))
        .and_then(Doc::as_str)
        .map(str::to_owned);
    let num_feature = learner
        .get("learner_model_param")
        .and_then(|p| p.get("num_feature"))
        .and_then(Doc::as_int);
    s.num_feature = num_feature;
    let Some(gb) = learner.get("gradient_booster") else {
        out.push(Problem::Malformed("no \"gradient_booster\"".into()));
        return (s, out);
    };
    let name = gb.get("name").and_then(Doc::as_str).unwrap_or_default();
    s.booster = Some(name.to_owned());
    let model = match name {
        "gbtree" => gb.get("model"),
        "dart" => gb.get("gbtree").and_then(|g| g.get("model")),
        "gblinear" => return (s, out),
        other => {
            out.push(Problem::Unchecked(format!(
                "booster {other:?} is not one the checks cover"
            )));
            return (s, out);
        }
    };
    let Some(model) = model else {
        out.push(Problem::Malformed(format!(
            "{name} booster without a model"
        )));
        return (s, out);
    };
    let trees = match model.get("trees") {
        Some(Doc::Arr(t)) => t.as_slice(),
        Some(d) if d.array_len() == Some(0) => &[],
        _ => {
            out.push(Problem::Malformed("no \"trees\" array".into()));
            return (s, out);
        }
    };
    s.trees = trees.len();
    let declared = model
        .get("gbtree_model_param")
        .and_then(|p| p.get("num_trees"))
        .and_then(Doc::as_int);
    if declared != Some(trees.len() as i64) {
        out.push(Problem::Malformed(format!(
            "gbtree_model_param.num_trees is {declared:?} but {} trees are stored",
            trees.len()
        )));
    }
    for (i, t) in trees.iter().enumerate() {
        if out.len() >= MAX_PROBLEMS {
            break;
        }
        check_tree(i, t, num_feature, &mut out);
    }
    (s, out)
}

/// One `RegTree` as `RegTree::LoadModel` and the predictors use it.
fn check_tree(i: usize, t: &Doc, num_feature: Option<i64>, out: &mut Vec<Problem>) {
    let param = t.get("tree_param");
    let leaf_vector = param
        .and_then(|p| p.get("size_leaf_vector"))
        .and_then(Doc::as_int)
        .unwrap_or(1);
    if leaf_vector > 1 {
        out.push(Problem::Unchecked(format!(
            "tree {i} is a multi-target tree (size_leaf_vector {leaf_vector}); its links are not checked"
        )));
        return;
    }
    let Some(n) = param.and_then(|p| p.get("num_nodes")).and_then(Doc::as_int) else {
        out.push(Problem::Malformed(format!(
            "tree {i} has no tree_param.num_nodes"
        )));
        return;
    };
    // The loader reads num_nodes as a 32-bit int and refuses 0.
    let n32 = n as i32;
    if n32 <= 0 || i64::from(n32) != n {
        out.push(Problem::Malformed(format!("tree {i}: num_nodes {n}")));
        return;
    }
    let n = n32 as usize;
    for key in [
        "left_children",
        "right_children",
        "parents",
        "split_indices",
        "loss_changes",
        "sum_hessian",
        "base_weights",
        "split_conditions",
        "default_left",
    ] {
        let len = t.get(key).and_then(Doc::array_len);
        if len != Some(n) {
            out.push(Problem::Malformed(format!(
                "tree {i}: {key} has {len:?} entries for {n} nodes"
            )));
            return;
        }
    }
    let ints = |k: &str| t.get(k).and_then(Doc::ints);
    let (Some(left), Some(right), Some(parents), Some(split)) = (
        ints("left_children"),
        ints("right_children"),
        ints("parents"),
        ints("split_indices"),
    ) else {
        out.push(Problem::Malformed(format!(
            "tree {i}: child, parent or split index arrays are not integers"
        )));
        return;
    };
    // Values pass through 32-bit fields: the loader truncates them.
    let node = |v: &[i64], k: usize| v.get(k).map_or(-1, |&x| x as i32);
    let in_range = |x: i32| usize::try_from(x).ok().filter(|&x| x < n);
    for k in 0..n {
        let (l, r) = (node(left, k), node(right, k));
        if l == -1 {
            continue;
        }
        if in_range(l).is_none() || in_range(r).is_none() {
            out.push(Problem::Unsafe(format!(
                "tree {i}, node {k}: children ({l}, {r}) outside the {n} nodes: prediction follows them out of bounds"
            )));
            return;
        }
        let feature = (split.get(k).copied().unwrap_or_default() as u32) & 0x7fff_ffff;
        if let Some(nf) = num_feature.filter(|&nf| nf > 0) {
            if i64::from(feature) >= nf {
                out.push(Problem::Unsafe(format!(
                    "tree {i}, node {k}: split feature {feature} is not below num_feature {nf}: prediction reads past the feature vector"
                )));
                return;
            }
        }
    }
    for k in 1..n {
        let p = (node(parents, k) as u32 & 0x7fff_ffff) as usize;
        if p == 0x7fff_ffff {
            out.push(Problem::Malformed(format!(
                "tree {i}, node {k} has no parent (the loader refuses it)"
            )));
            return;
        }
        if p >= n {
            out.push(Problem::Unsafe(format!(
                "tree {i}, node {k}: parent {p} outside the {n} nodes: the loader reads it out of bounds"
            )));
            return;
        }
    }
    let children = |k: usize| {
        let l = node(left, k);
        if l == -1 {
            [None, None]
        } else {
            [in_range(l), in_range(node(right, k))]
        }
    };
    if let Some(c) = find_cycle(n, 0, children) {
        out.push(Problem::Unsafe(format!(
            "tree {i}: the child links loop back to node {c}: prediction never ends"
        )));
        return;
    }
    check_categories(i, t, out);
}

/// Categorical splits: `categories_segments[j]` and `categories_sizes[j]` index the flat
/// `categories` array; `categories_nodes[j]` names a node.
fn check_categories(i: usize, t: &Doc, out: &mut Vec<Problem>) {
    if t.get("split_type").is_none() {
        return;
    }
    let get = |k: &str| t.get(k).and_then(Doc::ints);
    let (Some(nodes), Some(segs), Some(sizes)) = (
        get("categories_nodes"),
        get("categories_segments"),
        get("categories_sizes"),
    ) else {
        out.push(Problem::Malformed(format!(
            "tree {i}: categorical split arrays missing"
        )));
        return;
    };
    let total = t.get("categories").and_then(Doc::array_len).unwrap_or(0) as i64;
    if nodes.len() != segs.len() || segs.len() != sizes.len() {
        out.push(Problem::Malformed(format!(
            "tree {i}: categorical split arrays differ in length"
        )));
        return;
    }
    for (j, (&seg, &size)) in segs.iter().zip(sizes).enumerate() {
        if seg < 0 || size < 0 || seg.saturating_add(size) > total {
            out.push(Problem::Unsafe(format!(
                "tree {i}: categorical segment {j} ({seg}, {size}) runs past the {total} categories"
            )));
            return;
        }
    }
}

/// Byte sizes of the legacy binary structs (XGBoost 1.x/2.x, `src/learner.cc`,
/// `src/gbm/gbtree_model.h`, `include/xgboost/tree_model.h`).
pub const LEARNER_PARAM_LEN: u64 = 136;
pub const GBTREE_PARAM_LEN: u64 = 160;
pub const TREE_PARAM_LEN: u64 = 148;
pub const NODE_LEN: u64 = 20;
pub const NODE_STAT_LEN: u64 = 16;

/// What the legacy binary reader found.
#[derive(Debug, Clone, Default)]
pub struct Legacy {
    pub tagged: bool,
    pub objective: String,
    pub booster: String,
    pub num_feature: u32,
    pub major_version: u32,
    pub trees: usize,
}

/// Reads a legacy binary model through `read(offset, len)` over `len` bytes, checking every
/// count against the bytes that remain before it is used (the loader allocates from them).
pub fn read_legacy(
    total: u64,
    read: &dyn Fn(u64, usize) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<(Legacy, Vec<Problem>)> {
    let mut l = Legacy::default();
    let mut out = Vec::new();
    let mut pos = 0u64;
    let head = read(0, 4)?;
    if head == b"binf" {
        l.tagged = true;
        pos = 4;
    }
    let left = |pos: u64| total.saturating_sub(pos);
    let fixed = |pos: u64, len: u64| -> std::io::Result<Option<Vec<u8>>> {
        if len > total.saturating_sub(pos) {
            return Ok(None);
        }
        read(pos, len as usize).map(Some)
    };
    let u32_at = |b: &[u8], at: usize| -> u32 {
        let mut a = [0u8; 4];
        if let Some(s) = b.get(at..at.saturating_add(4)) {
            a.copy_from_slice(s);
        }
        u32::from_le_bytes(a)
    };
    let Some(param) = fixed(pos, LEARNER_PARAM_LEN)? else {
        out.push(Problem::Malformed(
            "shorter than the learner parameter block".into(),
        ));
        return Ok((l, out));
    };
    pos = pos.saturating_add(LEARNER_PARAM_LEN);
    l.num_feature = u32_at(&param, 4);
    let contain_extra_attrs = u32_at(&param, 12) != 0;
    l.major_version = u32_at(&param, 20);
    // dmlc strings: a u64 length, then the bytes (the loader resizes to the length first).
    let string = |pos: &mut u64,
                  what: &str,
                  out: &mut Vec<Problem>|
     -> std::io::Result<Option<String>> {
        let Some(b) = fixed(*pos, 8)? else {
            out.push(Problem::Malformed(format!("{what}: truncated length")));
            return Ok(None);
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        let n = u64::from_le_bytes(a);
        *pos = pos.saturating_add(8);
        if n > left(*pos) {
            out.push(Problem::Unsafe(format!(
                "{what}: length {n} past the end of the file ({} bytes remain): the loader allocates it before reading",
                left(*pos)
            )));
            return Ok(None);
        }
        let s = read(*pos, n.min(1 << 20) as usize)?;
        *pos = pos.saturating_add(n);
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    };
    let Some(objective) = string(&mut pos, "objective name", &mut out)? else {
        return Ok((l, out));
    };
    let Some(booster) = string(&mut pos, "booster name", &mut out)? else {
        return Ok((l, out));
    };
    l.objective = objective;
    l.booster.clone_from(&booster);
    if booster != "gbtree" && booster != "dart" {
        if booster != "gblinear" {
            out.push(Problem::Malformed(format!("unknown booster {booster:?}")));
        }
        return Ok((l, out));
    }
    let Some(gp) = fixed(pos, GBTREE_PARAM_LEN)? else {
        out.push(Problem::Malformed(
            "truncated gbtree parameter block".into(),
        ));
        return Ok((l, out));
    };
    pos = pos.saturating_add(GBTREE_PARAM_LEN);
    let num_trees = u32_at(&gp, 0) as i32;
    if num_trees < 0 {
        out.push(Problem::Unsafe(format!(
            "num_trees {num_trees}: the loader resizes its tree list to it"
        )));
        return Ok((l, out));
    }
    let min_tree = TREE_PARAM_LEN
        .saturating_add(NODE_LEN)
        .saturating_add(NODE_STAT_LEN);
    if u64::from(num_trees as u32).saturating_mul(min_tree) > left(pos) {
        out.push(Problem::Unsafe(format!(
            "{num_trees} trees cannot fit in the {} bytes that remain",
            left(pos)
        )));
        return Ok((l, out));
    }
    for t in 0..num_trees {
        let Some(tp) = fixed(pos, TREE_PARAM_LEN)? else {
            out.push(Problem::Malformed(format!(
                "tree {t}: truncated parameters"
            )));
            return Ok((l, out));
        };
        pos = pos.saturating_add(TREE_PARAM_LEN);
        let n = u32_at(&tp, 4) as i32;
        let leaf_vector = u32_at(&tp, 20);
        let per_node = NODE_LEN.saturating_add(NODE_STAT_LEN);
        if n <= 0 || u64::from(n as u32).saturating_mul(per_node) > left(pos) {
            out.push(Problem::Unsafe(format!(
                "tree {t}: num_nodes {n} does not fit in the {} bytes that remain: the loader allocates it before reading",
                left(pos)
            )));
            return Ok((l, out));
        }
        let n = n as usize;
        let nodes = read(pos, n.saturating_mul(NODE_LEN as usize))?;
        pos = pos.saturating_add(u64::from(n as u32).saturating_mul(per_node));
        if leaf_vector > 1 {
            continue;
        }
        let field = |k: usize, f: usize| u32_at(&nodes, k.saturating_mul(20).saturating_add(f));
        let in_range = |x: i32| usize::try_from(x).ok().filter(|&x| x < n);
        let mut bad = None;
        for k in 0..n {
            let (l_, r_) = (field(k, 4) as i32, field(k, 8) as i32);
            if k > 0 {
                let p = (field(k, 0) & 0x7fff_ffff) as usize;
                if p >= n && field(k, 12) != u32::MAX {
                    bad = Some(format!(
                        "tree {t}, node {k}: parent {p} outside the {n} nodes"
                    ));
                    break;
                }
            }
            if l_ != -1 && (in_range(l_).is_none() || in_range(r_).is_none()) {
                bad = Some(format!(
                    "tree {t}, node {k}: children ({l_}, {r_}) outside the {n} nodes: prediction follows them out of bounds"
                ));
                break;
            }
            let feature = field(k, 12) & 0x7fff_ffff;
            if l_ != -1 && l.num_feature > 0 && feature >= l.num_feature {
                bad = Some(format!(
                    "tree {t}, node {k}: split feature {feature} is not below num_feature {}",
                    l.num_feature
                ));
                break;
            }
        }
        if bad.is_none() {
            let children = |k: usize| {
                let l_ = field(k, 4) as i32;
                if l_ == -1 {
                    [None, None]
                } else {
                    [in_range(l_), in_range(field(k, 8) as i32)]
                }
            };
            if let Some(c) = find_cycle(n, 0, children) {
                bad = Some(format!(
                    "tree {t}: the child links loop back to node {c}: prediction never ends"
                ));
            }
        }
        if let Some(b) = bad {
            out.push(Problem::Unsafe(b));
            return Ok((l, out));
        }
        l.trees = l.trees.saturating_add(1);
    }
    let info_len = u64::from(num_trees as u32).saturating_mul(4);
    if info_len > left(pos) {
        out.push(Problem::Malformed("truncated tree_info".into()));
        return Ok((l, out));
    }
    pos = pos.saturating_add(info_len);
    if booster == "dart" {
        pos = pos.saturating_add(info_len);
    }
    if contain_extra_attrs {
        // vector<pair<string, string>>: a u64 count, then the strings.
        let Some(b) = fixed(pos, 8)? else {
            out.push(Problem::Malformed("truncated attribute count".into()));
            return Ok((l, out));
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
        let count = u64::from_le_bytes(a);
        pos = pos.saturating_add(8);
        if count.saturating_mul(16) > left(pos) {
            out.push(Problem::Unsafe(format!(
                "{count} attributes cannot fit in the {} bytes that remain: the loader allocates them before reading",
                left(pos)
            )));
            return Ok((l, out));
        }
        for k in 0..count {
            for what in ["attribute name", "attribute value"] {
                if string(&mut pos, what, &mut out)?.is_none() {
                    out.push(Problem::Malformed(format!("attribute {k} does not read")));
                    return Ok((l, out));
                }
            }
        }
    }
    Ok((l, out))
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn encodings_by_content() {
        assert_eq!(encoding(b"{\"learner\":{}}"), Some(Encoding::Json));
        assert_eq!(
            encoding(b"{L\0\0\0\0\0\0\0\x07learner{}}"),
            Some(Encoding::Ubjson)
        );
        assert_eq!(encoding(b"binf\0\0"), Some(Encoding::LegacyBinary));
        assert!(looks_like_model(b"{\"learner\":{\"attributes\":{}"));
        assert!(looks_like_model(b" { \"learner\" : {"));
        assert!(!looks_like_model(b"{\"architectures\": []}"));
        assert!(looks_like_model(b"{L\0\0\0\0\0\0\0\x07learner{L"));
        assert!(looks_like_model(b"{\"Config\": {\"learner\": {"));
        assert!(!looks_like_model(b"{\"Config\": {\"other\": {"));
    }

    #[test]
    fn ubj_lengths_past_the_end_are_unsafe() {
        let e = parse_ubj(b"{L\0\0\0\0\0\0\0\x07learnerSL\0\0\0\0\0\0\xff\xffab}").unwrap_err();
        assert!(e.is_unsafe(), "{e}");
        let e = parse_ubj(b"[$l#L\x7f\0\0\0\0\0\0\0]").unwrap_err();
        assert!(e.is_unsafe(), "{e}");
        let ok =
            parse_ubj(b"{L\0\0\0\0\0\0\0\x01a[$l#L\0\0\0\0\0\0\0\x02\0\0\0\x01\xff\xff\xff\xff}")
                .unwrap();
        assert_eq!(ok.get("a"), Some(&Doc::Ints(vec![1, -1])));
        let deep = vec![b'['; 1000];
        assert!(parse_ubj(&deep).unwrap_err().is_unsafe());
    }
}
