#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Apache MXNet model files, read the way MXNet 1.x reads them:
//!
//! * **`-symbol.json`** (`mx.sym.load`, `SymbolBlock.imports`): the NNVM graph JSON,
//!   `{"nodes": [{"op", "name", "attrs", "inputs", "subgraphs"?}], "arg_nodes", "node_row_ptr",
//!   "heads", "attrs": {"mxnet_version": ...}}`. Old files keep node attributes under `attr` or
//!   `param`. Two kinds of node reach for code outside the graph:
//!   - `Custom` runs the Python `CustomOpProp` registered under the node's `op_type` attribute
//!     (`src/operator/custom/custom.cc`), with the node's other attributes as its arguments;
//!   - `_Native` and `_NDArray` (`native_op-inl.h`, `ndarray_op-inl.h`) take their `info`
//!     attribute as a raw pointer to a struct of C callbacks and call through it when the graph
//!     runs: a file can point them at any address.
//! * **`.params`** (`mx.nd.save`, `save_parameters`, `save_checkpoint`): the NDArray list of
//!   `src/ndarray/ndarray.cc`: `u64 0x112` magic, `u64` reserved, a dmlc vector of NDArrays
//!   (`u64` count, then each array: `u32` magic `0xF993FAC9` (v2) or `0xF993FACA` (v3, NumPy
//!   shape semantics), `i32` storage type, the storage shape for sparse arrays, the shape (`i32`
//!   ndim, `i64` dims), `i32` device type and id, `i32` dtype, auxiliary types and shapes for
//!   sparse arrays, then the data), and a dmlc vector of names (`u64` count, `u64`-length
//!   strings). Older arrays start with `0xF993FAC8` (v1) or directly with a `u32` ndim and `u32`
//!   dims (legacy). The loader allocates every count, shape and array before reading it.

use serde_json::Value;

pub use super::xgboost::Problem;

/// `kMXAPINDArrayListMagic`.
pub const LIST_MAGIC: u64 = 0x112;
const V1_MAGIC: u32 = 0xF993_FAC8;
const V2_MAGIC: u32 = 0xF993_FAC9;
const V3_MAGIC: u32 = 0xF993_FACA;

/// Whether `head` starts an NDArray list file (magic and reserved word).
pub fn looks_like_params(head: &[u8]) -> bool {
    head.get(..16).is_some_and(|h| {
        h.get(..8) == Some(&LIST_MAGIC.to_le_bytes()[..]) && h.get(8..16) == Some(&[0u8; 8][..])
    })
}

/// Whether `head` starts like an NNVM graph JSON: `{"nodes": [{` … `"op"`.
pub fn looks_like_symbol(head: &[u8]) -> bool {
    let h = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let mut rest = h;
    for token in [&b"{"[..], b"\"nodes\"", b":", b"[", b"{"] {
        let Some(t) = rest
            .iter()
            .position(|c| !c.is_ascii_whitespace())
            .and_then(|i| rest.get(i..))
        else {
            return false;
        };
        let Some(r) = t.strip_prefix(token) else {
            return false;
        };
        rest = r;
    }
    rest.windows(4).take(256).any(|w| w == b"\"op\"")
}

/// `mshadow_sizeof` for MXNet's dtype flags.
fn dtype_size(flag: i32) -> Option<u64> {
    Some(match flag {
        3 | 5 | 7 => 1,
        2 | 8 | 9 | 12 => 2,
        0 | 4 | 10 => 4,
        1 | 6 | 11 => 8,
        _ => return None,
    })
}

fn dtype_name(flag: i32) -> &'static str {
    match flag {
        0 => "float32",
        1 => "float64",
        2 => "float16",
        3 => "uint8",
        4 => "int32",
        5 => "int8",
        6 => "int64",
        7 => "bool",
        8 => "int16",
        9 => "uint16",
        10 => "uint32",
        11 => "uint64",
        12 => "bfloat16",
        _ => "unknown",
    }
}

/// What an NDArray list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub arrays: u64,
    pub names: Vec<String>,
    pub dtypes: Vec<&'static str>,
    pub data_bytes: u64,
    /// Bytes after the names, which the loader never reads.
    pub trailing: u64,
}

/// A reader over `read(offset, len)` that checks each read against the end.
struct Cursor<'r> {
    read: &'r dyn Fn(u64, usize) -> std::io::Result<Vec<u8>>,
    pos: u64,
    end: u64,
}

enum Stop {
    Io(std::io::Error),
    Problem(Problem),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Io(e)
    }
}

fn unsafe_(s: String) -> Stop {
    Stop::Problem(Problem::Unsafe(s))
}

fn malformed(s: String) -> Stop {
    Stop::Problem(Problem::Malformed(s))
}

impl Cursor<'_> {
    fn left(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Stop> {
        if (N as u64) > self.left() {
            return Err(malformed(format!(
                "truncated in {what} at byte {}",
                self.pos
            )));
        }
        let b = (self.read)(self.pos, N)?;
        let mut a = [0u8; N];
        if b.len() != N {
            return Err(malformed(format!(
                "truncated in {what} at byte {}",
                self.pos
            )));
        }
        a.copy_from_slice(&b);
        self.pos = self.pos.saturating_add(N as u64);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, Stop> {
        self.bytes::<4>(what).map(u32::from_le_bytes)
    }

    fn i32(&mut self, what: &str) -> Result<i32, Stop> {
        self.bytes::<4>(what).map(i32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, Stop> {
        self.bytes::<8>(what).map(u64::from_le_bytes)
    }

    /// A count the loader allocates `unit` bytes per item for before reading the items, each of
    /// which takes at least `min_item` bytes of the file.
    fn count(&mut self, n: u64, min_item: u64, what: &str) -> Result<u64, Stop> {
        if n.saturating_mul(min_item) > self.left() {
            return Err(unsafe_(format!(
                "{what} {n} at byte {} cannot fit in the {} bytes that remain: the loader allocates it before reading",
                self.pos,
                self.left()
            )));
        }
        Ok(n)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), Stop> {
        if n > self.left() {
            return Err(unsafe_(format!(
                "{what} of {n} bytes at byte {} runs past the end ({} bytes remain): the loader allocates it before reading",
                self.pos,
                self.left()
            )));
        }
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }

    /// A shape: `i32` ndim then `i64` dims (`Tuple::Load`), or `u32` dims for legacy arrays.
    /// Returns the element count (`None` for an unknown shape, which loads as an empty array).
    fn shape(&mut self, ndim: i64, dim_bytes: u64, what: &str) -> Result<Option<u64>, Stop> {
        if ndim < 0 {
            return Ok(None);
        }
        let ndim = self.count(ndim as u64, dim_bytes, what)?;
        let mut size: u64 = 1;
        let mut unknown = false;
        for _ in 0..ndim {
            let d = if dim_bytes == 8 {
                i64::from_le_bytes(self.bytes::<8>(what)?)
            } else {
                i64::from(self.u32(what)?)
            };
            if d < 0 {
                unknown = true;
                continue;
            }
            size = size
                .checked_mul(d as u64)
                .ok_or_else(|| unsafe_(format!("{what}: the element count overflows 64 bits")))?;
        }
        Ok(if unknown { None } else { Some(size) })
    }

    fn data(&mut self, elems: u64, dtype: i32, what: &str) -> Result<u64, Stop> {
        let Some(size) = dtype_size(dtype) else {
            return Err(malformed(format!(
                "{what}: dtype flag {dtype} is not one MXNet knows"
            )));
        };
        let bytes = elems
            .checked_mul(size)
            .ok_or_else(|| unsafe_(format!("{what}: {elems} elements overflow the byte count")))?;
        self.skip(bytes, what)?;
        Ok(bytes)
    }
}

/// Reads one NDArray (`NDArray::Load`).
fn ndarray(c: &mut Cursor<'_>, i: u64, p: &mut Params) -> Result<(), Stop> {
    let what = format!("array {i}");
    let magic = c.u32(&what)?;
    let (elems, dtype) = match magic {
        V2_MAGIC | V3_MAGIC => {
            let stype = c.i32(&what)?;
            let nad: u32 = match stype {
                0 => 0,
                1 => 1,
                2 => 2,
                other => return Err(malformed(format!("{what}: storage type {other}"))),
            };
            let mut storage_elems = None;
            if nad > 0 {
                let nd = i64::from(c.i32(&what)?);
                storage_elems = c.shape(nd, 8, &what)?;
            }
            let nd = i64::from(c.i32(&what)?);
            let Some(elems) = c.shape(nd, 8, &what)? else {
                return Ok(());
            };
            if magic == V2_MAGIC && nd == 0 {
                return Ok(());
            }
            c.skip(8, &what)?; // context
            let dtype = c.i32(&what)?;
            let mut aux = Vec::new();
            for _ in 0..nad {
                let t = c.i32(&what)?;
                let nd = i64::from(c.i32(&what)?);
                aux.push((t, c.shape(nd, 8, &what)?.unwrap_or(0)));
            }
            let main = if nad > 0 {
                storage_elems.unwrap_or(0)
            } else {
                elems
            };
            p.data_bytes = p.data_bytes.saturating_add(c.data(main, dtype, &what)?);
            for (t, n) in aux {
                p.data_bytes = p.data_bytes.saturating_add(c.data(n, t, &what)?);
            }
            if p.dtypes.len() < 16 && !p.dtypes.contains(&dtype_name(dtype)) {
                p.dtypes.push(dtype_name(dtype));
            }
            return Ok(());
        }
        V1_MAGIC => {
            let nd = i64::from(c.i32(&what)?);
            let Some(e) = c.shape(nd, 8, &what)? else {
                return Ok(());
            };
            if nd == 0 {
                return Ok(());
            }
            c.skip(8, &what)?;
            (e, c.i32(&what)?)
        }
        legacy_ndim => {
            let Some(e) = c.shape(i64::from(legacy_ndim), 4, &what)? else {
                return Ok(());
            };
            if legacy_ndim == 0 {
                return Ok(());
            }
            c.skip(8, &what)?;
            (e, c.i32(&what)?)
        }
    };
    p.data_bytes = p.data_bytes.saturating_add(c.data(elems, dtype, &what)?);
    if p.dtypes.len() < 16 && !p.dtypes.contains(&dtype_name(dtype)) {
        p.dtypes.push(dtype_name(dtype));
    }
    Ok(())
}

/// Reads an NDArray list file of `total` bytes.
pub fn read_params(
    total: u64,
    read: &dyn Fn(u64, usize) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<(Params, Vec<Problem>)> {
    let mut p = Params::default();
    let mut c = Cursor {
        read,
        pos: 0,
        end: total,
    };
    let res = (|| -> Result<(), Stop> {
        let magic = c.u64("header")?;
        let _reserved = c.u64("header")?;
        if magic != LIST_MAGIC {
            return Err(malformed(format!("magic {magic:#x} is not 0x112")));
        }
        let n = c.u64("array count")?;
        let n = c.count(n, 4, "array count")?;
        for i in 0..n {
            ndarray(&mut c, i, &mut p)?;
            p.arrays = p.arrays.saturating_add(1);
        }
        let k = c.u64("name count")?;
        let k = c.count(k, 8, "name count")?;
        for i in 0..k {
            let len = c.u64("name length")?;
            let at = c.pos;
            c.skip(len, &format!("name {i}"))?;
            if p.names.len() < 32 {
                let b = read(at, len.min(256) as usize)?;
                p.names.push(String::from_utf8_lossy(&b).into_owned());
            }
        }
        if k != 0 && k != n {
            return Err(malformed(format!("{k} names for {n} arrays")));
        }
        p.trailing = c.left();
        Ok(())
    })();
    match res {
        Ok(()) => Ok((p, Vec::new())),
        Err(Stop::Io(e)) => Err(e),
        Err(Stop::Problem(pr)) => Ok((p, vec![pr])),
    }
}

/// A node of a symbol graph that reaches for code outside the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeNode {
    /// `Custom` with its `op_type` (the Python op it runs), if any.
    Custom {
        node: String,
        op_type: Option<String>,
    },
    /// `_Native`/`_NDArray` with its `info` pointer attribute.
    Callback {
        node: String,
        op: String,
        info: Option<String>,
    },
}

/// What a symbol graph holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbol {
    pub nodes: usize,
    pub ops: std::collections::BTreeMap<String, usize>,
    pub version: Option<String>,
    pub code: Vec<CodeNode>,
}

/// Subgraphs nest at most this deep (real graphs nest once or twice).
const MAX_GRAPH_DEPTH: usize = 16;

/// Walks a parsed symbol graph.
pub fn check_symbol(v: &Value) -> (Symbol, Vec<Problem>) {
    let mut s = Symbol::default();
    let mut out = Vec::new();
    s.version = v
        .get("attrs")
        .and_then(|a| a.get("mxnet_version"))
        .and_then(|m| m.get(1))
        .map(ToString::to_string);
    graph(v, 0, &mut s, &mut out);
    (s, out)
}

fn node_attr<'v>(n: &'v Value, key: &str) -> Option<&'v str> {
    ["attrs", "attr", "param"]
        .iter()
        .find_map(|a| n.get(a).and_then(|m| m.get(key)))
        .and_then(Value::as_str)
}

fn graph(v: &Value, depth: usize, s: &mut Symbol, out: &mut Vec<Problem>) {
    if depth > MAX_GRAPH_DEPTH {
        out.push(Problem::Unchecked(format!(
            "subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels were not checked"
        )));
        return;
    }
    let Some(nodes) = v.get("nodes").and_then(Value::as_array) else {
        out.push(Problem::Malformed("no \"nodes\" array".into()));
        return;
    };
    for (i, n) in nodes.iter().enumerate() {
        s.nodes = s.nodes.saturating_add(1);
        let Some(op) = n.get("op").and_then(Value::as_str) else {
            out.push(Problem::Malformed(format!("node {i} has no \"op\" string")));
            continue;
        };
        let name = n
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(c) = s.ops.get_mut(op) {
            *c = c.saturating_add(1);
        } else if s.ops.len() < 4096 {
            s.ops.insert(op.to_owned(), 1);
        }
        match op {
            "Custom" => s.code.push(CodeNode::Custom {
                node: name,
                op_type: node_attr(n, "op_type").map(str::to_owned),
            }),
            "_Native" | "_NDArray" => s.code.push(CodeNode::Callback {
                node: name,
                op: op.to_owned(),
                info: node_attr(n, "info").map(str::to_owned),
            }),
            _ => {}
        }
        if let Some(inputs) = n.get("inputs").and_then(Value::as_array) {
            for e in inputs {
                let id = e.get(0).and_then(Value::as_u64);
                if id.is_none_or(|id| id >= nodes.len() as u64) {
                    out.push(Problem::Malformed(format!(
                        "node {i} ({op}) takes input {e} outside the {} nodes",
                        nodes.len()
                    )));
                    break;
                }
            }
        }
        if let Some(subs) = n.get("subgraphs").and_then(Value::as_array) {
            for g in subs {
                graph(g, depth.saturating_add(1), s, out);
            }
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    fn params(arrays: &[(&[i64], i32, usize)], names: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&LIST_MAGIC.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
        for (shape, dtype, data) in arrays {
            b.extend_from_slice(&V2_MAGIC.to_le_bytes());
            b.extend_from_slice(&0i32.to_le_bytes());
            b.extend_from_slice(&(shape.len() as i32).to_le_bytes());
            for d in *shape {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
            b.extend_from_slice(&dtype.to_le_bytes());
            b.extend(std::iter::repeat_n(0u8, *data));
        }
        b.extend_from_slice(&(names.len() as u64).to_le_bytes());
        for n in names {
            b.extend_from_slice(&(n.len() as u64).to_le_bytes());
            b.extend_from_slice(n.as_bytes());
        }
        b
    }

    fn read(b: &[u8]) -> (Params, Vec<Problem>) {
        let r = |at: u64, n: usize| -> std::io::Result<Vec<u8>> {
            let s = (at as usize).min(b.len());
            Ok(b[s..(s + n).min(b.len())].to_vec())
        };
        read_params(b.len() as u64, &r).unwrap()
    }

    #[test]
    fn params_lists() {
        let b = params(&[(&[2, 3], 0, 24)], &["arg:w"]);
        assert!(looks_like_params(&b));
        let (p, probs) = read(&b);
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(p.arrays, 1);
        assert_eq!(p.names, vec!["arg:w".to_owned()]);
        let b = params(&[(&[1 << 40, 1 << 20], 0, 0)], &[]);
        let (_, probs) = read(&b);
        assert!(
            matches!(probs.first(), Some(Problem::Unsafe(_))),
            "{probs:?}"
        );
    }

    #[test]
    fn symbols() {
        let v: Value = serde_json::from_str(
            r#"{"nodes": [{"op": "null", "name": "data", "inputs": []},
                {"op": "Custom", "name": "c", "attrs": {"op_type": "evil"}, "inputs": [[0, 0, 0]]},
                {"op": "_Native", "name": "n", "param": {"info": "140737488355328"}, "inputs": [[1, 0, 0]]}],
               "arg_nodes": [0], "heads": [[2, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}"#,
        )
        .unwrap();
        let (s, probs) = check_symbol(&v);
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(s.code.len(), 2);
        assert!(looks_like_symbol(br#"{"nodes": [{"op": "null"#));
    }
}
