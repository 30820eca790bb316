//! The parts of an ONNX Runtime ORT-format model (`onnxruntime/core/flatbuffers/schema/ort.fbs`,
//! file identifier `ORTM`) that decide which kernels the runtime must provide, walked with the
//! bounded [`flatbuffer`](super::flatbuffer) reader: every node's `domain` and `op_type` in the
//! main graph and in every subgraph (`If`/`Loop`/`Scan` graph attributes), and the ops that saved
//! runtime optimizations produce when they are replayed at load time
//! (`RuntimeOptimizationRecord.produced_op_ids`, `domain:op_type:since_version`).
//!
//! The walk ends with an [`FbError`] at the first unreadable item, keeping what was read.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;

use super::flatbuffer::{FbError, Reader, Result, Table};

/// Subgraph nesting walked (deeper is reported as malformed; the ONNX scanner uses the same).
pub const MAX_GRAPH_DEPTH: u32 = 64;
/// Longest name kept.
pub const MAX_NAME: usize = 256;
/// Distinct (domain, op) pairs kept; the rest are counted.
const MAX_OPS: usize = 4096;
/// Metadata entries kept.
const MAX_META: usize = 64;

mod session {
    pub const ORT_VERSION: u16 = 0;
    pub const MODEL: u16 = 1;
}
mod model {
    pub const IR_VERSION: u16 = 0;
    pub const OPSET_IMPORT: u16 = 1;
    pub const PRODUCER_NAME: u16 = 2;
    pub const GRAPH: u16 = 7;
    pub const METADATA_PROPS: u16 = 9;
}
mod graph {
    pub const INITIALIZERS: u16 = 0;
    pub const NODES: u16 = 2;
    pub const SPARSE_INITIALIZERS: u16 = 7;
    pub const RUNTIME_OPTIMIZATIONS: u16 = 8;
}
mod node {
    pub const DOMAIN: u16 = 2;
    pub const OP_TYPE: u16 = 5;
    pub const ATTRIBUTES: u16 = 10;
}
mod attribute {
    pub const NAME: u16 = 0;
    pub const G: u16 = 7;
    pub const GRAPHS: u16 = 12;
}
mod tensor {
    pub const EXTERNAL_DATA_OFFSET: u16 = 6;
}

/// Where an op was seen first and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpUse {
    pub count: u64,
    pub first: String,
    /// Only produced by a saved runtime optimization (not a node of the stored graph).
    pub produced_only: bool,
}

/// What was read of a model (partially filled when the walk stopped with an error).
#[derive(Debug, Default, Clone)]
pub struct OrtModel {
    /// Bytes 4..8 are `ORTM`.
    pub identifier_ok: bool,
    pub ort_version: Option<String>,
    pub ir_version: i64,
    pub producer: Option<String>,
    /// `opset_import`: (domain, version).
    pub opsets: Vec<(String, i64)>,
    /// (domain, op_type) of every node and produced op.
    pub ops: BTreeMap<(String, String), OpUse>,
    /// Distinct ops beyond the ones kept in `ops`.
    pub ops_omitted: u64,
    pub graphs: u64,
    pub nodes: u64,
    /// Initializers whose data lives in an external file (`external_data_offset >= 0`).
    pub external_tensors: u64,
    pub metadata: Vec<(String, String)>,
}

impl OrtModel {
    fn op(&mut self, domain: String, op: String, place: &str, produced: bool) {
        let n = self.ops.len();
        match self.ops.get_mut(&(domain.clone(), op.clone())) {
            Some(u) => {
                u.count = u.count.saturating_add(1);
                u.produced_only &= produced;
            }
            None if n < MAX_OPS => {
                self.ops.insert(
                    (domain, op),
                    OpUse {
                        count: 1,
                        first: place.to_owned(),
                        produced_only: produced,
                    },
                );
            }
            None => self.ops_omitted = self.ops_omitted.saturating_add(1),
        }
    }
}

/// Walks the session in `r` into `m`.
pub fn parse(r: &Reader<'_>, m: &mut OrtModel) -> Result<()> {
    m.identifier_ok = r.identifier() == Some(*b"ORTM");
    let root = r.root()?;
    m.ort_version = r
        .field_string(&root, session::ORT_VERSION, MAX_NAME)?
        .map(|s| s.text);
    let Some(model) = r.field_table(&root, session::MODEL)? else {
        return Ok(());
    };
    m.ir_version = r.field_i64(&model, model::IR_VERSION, 0)?;
    m.producer = r
        .field_string(&model, model::PRODUCER_NAME, MAX_NAME)?
        .map(|s| s.text);
    if let Some(v) = r.field_vector(&model, model::OPSET_IMPORT, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let d = str_field(r, &t, 0)?;
            let ver = r.field_i64(&t, 1, 0)?;
            if m.opsets.len() < MAX_META {
                m.opsets.push((d, ver));
            }
        }
    }
    if let Some(v) = r.field_vector(&model, model::METADATA_PROPS, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let k = str_field(r, &t, 0)?;
            let val = str_field(r, &t, 1)?;
            if m.metadata.len() < MAX_META {
                m.metadata.push((k, val));
            }
        }
    }
    // producer_version, domain, doc_string, graph_doc_string; model_version.
    strings(r, &model, &[3, 4, 6, 8])?;
    r.field_i64(&model, 5, 0)?;
    if let Some(g) = r.field_table(&model, model::GRAPH)? {
        walk_graph(r, &g, "graph", 0, m)?;
    }
    kernel_type_str_resolver(r, &root)?;
    Ok(())
}

// The verifier's view of what the scan does not otherwise need (`VerifyInferenceSessionBuffer`):
// every table, vector and string the schema reaches, every scalar aligned and in the buffer, so a
// file ONNX Runtime refuses as unverifiable is not passed as readable.

fn strings(r: &Reader<'_>, t: &Table, ids: &[u16]) -> Result<()> {
    for &id in ids {
        r.field_string(t, id, 0)?;
    }
    Ok(())
}

fn string_vec(r: &Reader<'_>, t: &Table, id: u16) -> Result<()> {
    if let Some(v) = r.field_vector(t, id, 4)? {
        for i in 0..v.len {
            r.vec_string(&v, i, 0)?;
        }
    }
    Ok(())
}

/// Scalars (field id, size in bytes).
fn scalars(r: &Reader<'_>, t: &Table, fields: &[(u16, u16)]) -> Result<()> {
    for &(id, size) in fields {
        r.field(t, id, size)?;
    }
    Ok(())
}

/// A vector of tables, each checked by `f`.
fn tables(
    r: &Reader<'_>,
    t: &Table,
    id: u16,
    mut f: impl FnMut(&Table) -> Result<()>,
) -> Result<()> {
    if let Some(v) = r.field_vector(t, id, 4)? {
        for i in 0..v.len {
            f(&r.vec_table(&v, i)?)?;
        }
    }
    Ok(())
}

/// Tensor: name, doc_string, dims, data_type, raw_data, string_data, external_data_offset.
/// Returns whether its data lives in an external file.
fn tensor(r: &Reader<'_>, t: &Table) -> Result<bool> {
    strings(r, t, &[0, 1])?;
    r.field_vector(t, 2, 8)?;
    r.field_i32(t, 3, 0)?;
    r.field_vector(t, 4, 1)?;
    string_vec(r, t, 5)?;
    Ok(r.field_i64(t, tensor::EXTERNAL_DATA_OFFSET, -1)? >= 0)
}

/// TypeInfo: denotation and the value union (tensor type and shape, sequence, map).
fn type_info(r: &Reader<'_>, t: &Table, depth: u32) -> Result<()> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(FbError::Invalid {
            at: t.pos,
            what: format!("type information nested deeper than {MAX_GRAPH_DEPTH} levels"),
        });
    }
    strings(r, t, &[0])?;
    let Some((tag, v)) = r.field_union(t, 1)? else {
        return Ok(());
    };
    let d = depth.saturating_add(1);
    match tag {
        1 => {
            r.field_i32(&v, 0, 0)?;
            if let Some(shape) = r.field_table(&v, 1)? {
                tables(r, &shape, 0, |dim| {
                    if let Some(val) = r.field_table(dim, 0)? {
                        scalars(r, &val, &[(0, 1), (1, 8)])?;
                        strings(r, &val, &[2])?;
                    }
                    strings(r, dim, &[1])
                })?;
            }
        }
        2 => {
            if let Some(e) = r.field_table(&v, 0)? {
                type_info(r, &e, d)?;
            }
        }
        3 => {
            r.field_i32(&v, 0, 0)?;
            if let Some(e) = r.field_table(&v, 1)? {
                type_info(r, &e, d)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The graph's own fields besides its nodes: node_args, max_node_index, node_edges, inputs,
/// outputs, sparse initializers.
fn graph_rest(r: &Reader<'_>, g: &Table) -> Result<()> {
    tables(r, g, 1, |vi| {
        strings(r, vi, &[0, 1])?;
        match r.field_table(vi, 2)? {
            Some(ti) => type_info(r, &ti, 0),
            None => Ok(()),
        }
    })?;
    r.field_u32(g, 3, 0)?;
    tables(r, g, 4, |e| {
        r.field_u32(e, 0, 0)?;
        // input_edges, output_edges: [EdgeEnd], a 12-byte struct.
        r.field_vector(e, 1, 12)?;
        r.field_vector(e, 2, 12)?;
        Ok(())
    })?;
    string_vec(r, g, 5)?;
    string_vec(r, g, 6)?;
    tables(r, g, graph::SPARSE_INITIALIZERS, |sp| {
        for id in [0, 1] {
            if let Some(t) = r.field_table(sp, id)? {
                tensor(r, &t)?;
            }
        }
        r.field_vector(sp, 2, 8)?;
        Ok(())
    })
}

/// Node fields besides domain, op_type and attributes.
fn node_rest(r: &Reader<'_>, n: &Table) -> Result<()> {
    strings(r, n, &[0, 1, 7])?;
    scalars(r, n, &[(3, 4), (4, 4), (6, 4)])?;
    string_vec(r, n, 8)?;
    string_vec(r, n, 9)?;
    r.field_vector(n, 11, 4)?;
    string_vec(r, n, 12)
}

/// Attribute fields besides name, g and graphs.
fn attribute_rest(r: &Reader<'_>, a: &Table) -> Result<()> {
    strings(r, a, &[1, 5])?;
    scalars(r, a, &[(2, 4), (3, 4), (4, 8)])?;
    if let Some(t) = r.field_table(a, 6)? {
        tensor(r, &t)?;
    }
    r.field_vector(a, 8, 4)?;
    r.field_vector(a, 9, 8)?;
    string_vec(r, a, 10)?;
    tables(r, a, 11, |t| tensor(r, t).map(|_| ()))
}

/// InferenceSession.kernel_type_str_resolver.
fn kernel_type_str_resolver(r: &Reader<'_>, root: &Table) -> Result<()> {
    let Some(k) = r.field_table(root, 3)? else {
        return Ok(());
    };
    tables(r, &k, 0, |op| {
        strings(r, op, &[0])?;
        tables(r, op, 1, |ks| {
            strings(r, ks, &[0])?;
            tables(r, ks, 1, |arg| scalars(r, arg, &[(0, 1), (1, 4)]))
        })
    })
}

fn str_field(r: &Reader<'_>, t: &Table, id: u16) -> Result<String> {
    Ok(r.field_string(t, id, MAX_NAME)?
        .map(|s| s.text)
        .unwrap_or_default())
}

fn walk_graph(r: &Reader<'_>, g: &Table, path: &str, depth: u32, m: &mut OrtModel) -> Result<()> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(FbError::Invalid {
            at: g.pos,
            what: format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels at {path}"),
        });
    }
    m.graphs = m.graphs.saturating_add(1);
    if let Some(v) = r.field_vector(g, graph::INITIALIZERS, 4)? {
        for i in 0..v.len {
            if tensor(r, &r.vec_table(&v, i)?)? {
                m.external_tensors = m.external_tensors.saturating_add(1);
            }
        }
    }
    graph_rest(r, g)?;
    if let Some(v) = r.field_vector(g, graph::NODES, 4)? {
        for i in 0..v.len {
            let n = r.vec_table(&v, i)?;
            node_rest(r, &n)?;
            m.nodes = m.nodes.saturating_add(1);
            let domain = str_field(r, &n, node::DOMAIN)?;
            let op = str_field(r, &n, node::OP_TYPE)?;
            let here = format!("{path}/node[{i}]");
            m.op(domain, op, &here, false);
            if let Some(av) = r.field_vector(&n, node::ATTRIBUTES, 4)? {
                for j in 0..av.len {
                    let a = r.vec_table(&av, j)?;
                    attribute_rest(r, &a)?;
                    let name = str_field(r, &a, attribute::NAME)?;
                    let d = depth.saturating_add(1);
                    if let Some(sub) = r.field_table(&a, attribute::G)? {
                        walk_graph(r, &sub, &format!("{here}.{name}"), d, m)?;
                    }
                    if let Some(gv) = r.field_vector(&a, attribute::GRAPHS, 4)? {
                        for k in 0..gv.len {
                            let sub = r.vec_table(&gv, k)?;
                            walk_graph(r, &sub, &format!("{here}.{name}[{k}]"), d, m)?;
                        }
                    }
                }
            }
        }
    }
    // RuntimeOptimizations.records[].runtime_optimization_records[].produced_op_ids[]
    if let Some(ro) = r.field_table(g, graph::RUNTIME_OPTIMIZATIONS)? {
        if let Some(entries) = r.field_vector(&ro, 0, 4)? {
            for i in 0..entries.len {
                let e = r.vec_table(&entries, i)?;
                let opt = str_field(r, &e, 0)?;
                let Some(records) = r.field_vector(&e, 1, 4)? else {
                    continue;
                };
                for j in 0..records.len {
                    let rec = r.vec_table(&records, j)?;
                    strings(r, &rec, &[0])?; // action_id
                    if let Some(nt) = r.field_table(&rec, 1)? {
                        // NodesToOptimizeIndices
                        r.field_vector(&nt, 0, 4)?;
                        scalars(r, &nt, &[(1, 4), (2, 4), (3, 1), (4, 1), (5, 4), (6, 4)])?;
                    }
                    let Some(ids) = r.field_vector(&rec, 3, 4)? else {
                        continue;
                    };
                    for k in 0..ids.len {
                        let id = r.vec_string(&ids, k, MAX_NAME)?.text;
                        let (domain, op) = split_op_id(&id);
                        m.op(
                            domain,
                            op,
                            &format!("{path} runtime optimization {opt}"),
                            true,
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// `domain:op_type:since_version` (onnxruntime's `OpIdentifier` string form); the domain may be
/// empty.
pub fn split_op_id(id: &str) -> (String, String) {
    let rest = match id.rsplit_once(':') {
        Some((head, ver)) if ver.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => id,
    };
    match rest.rsplit_once(':') {
        Some((domain, op)) => (domain.to_owned(), op.to_owned()),
        None => (String::new(), rest.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_ids() {
        assert_eq!(
            split_op_id("com.microsoft:QLinearAdd:1"),
            ("com.microsoft".into(), "QLinearAdd".into())
        );
        assert_eq!(split_op_id(":Conv:11"), (String::new(), "Conv".into()));
        assert_eq!(split_op_id("Conv"), (String::new(), "Conv".into()));
    }
}
