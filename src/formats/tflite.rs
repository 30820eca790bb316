//! The parts of a TensorFlow Lite model (`tensorflow/compiler/mlir/lite/schema/schema.fbs`, file
//! identifier `TFL3`) that decide what the interpreter runs and what it reads, walked with the
//! bounded [`flatbuffer`](super::flatbuffer) reader:
//!
//! - `Model.operator_codes`: the op each code resolves to, computed the loader's way
//!   (`tflite::GetBuiltinCode`: the larger of `deprecated_builtin_code` and `builtin_code`);
//!   `CUSTOM` (32) codes carry a `custom_code` the runtime must find a registration for, and a
//!   `custom_code` starting with `Flex` makes the interpreter apply the Flex (TF Select) delegate,
//!   which runs the TensorFlow op named after the prefix;
//! - `Model.buffers`: inline data, or (models over 2 GB, schema 3c) an `offset`/`size` pair into
//!   the file after the flatbuffer, valid when `offset > 1`; operators' `large_custom_options_*`
//!   likewise;
//! - `SubGraph.operators` (their `opcode_index`) and `SubGraph.tensors` (their `buffer` index);
//! - `Model.metadata` names (`min_runtime_version`, `TFLITE_METADATA`, `CONVERSION_METADATA`, ...).
//!
//! What the interpreter would refuse (an `opcode_index` or buffer index out of range, no
//! subgraph) is collected as [`Issue`]s; what the reader cannot read at all ends the walk with an
//! [`FbError`], keeping everything read before it (so an op found before a corrupt table is still
//! reported).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::HashMap;
use std::sync::Arc;

use super::flatbuffer::{flex_root_strings, FbError, Reader, Result, Table};

/// The schema version the interpreter accepts (`TFLITE_SCHEMA_VERSION`).
pub const SCHEMA_VERSION: u32 = 3;
/// `BuiltinOperator_CUSTOM`.
pub const CUSTOM: i32 = 32;
/// `BuiltinOperator_PLACEHOLDER_FOR_GREATER_OP_CODES`.
pub const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;
/// Builtin codes above this are out of range for every interpreter release (the enum ends near
/// 210; the margin keeps future ops from being called malformed).
pub const MAX_BUILTIN_CODE: i32 = 1023;
/// The custom-code prefix of ops run by the Flex delegate (`tflite::kFlexCustomCodePrefix`).
pub const FLEX_PREFIX: &str = "Flex";
/// Longest custom code or metadata name kept (longer ones are clipped, and marked so).
pub const MAX_NAME: usize = 256;

// Field ids (declaration order in schema.fbs).
mod model {
    pub const VERSION: u16 = 0;
    pub const OPERATOR_CODES: u16 = 1;
    pub const SUBGRAPHS: u16 = 2;
    pub const DESCRIPTION: u16 = 3;
    pub const BUFFERS: u16 = 4;
    pub const METADATA_BUFFER: u16 = 5;
    pub const METADATA: u16 = 6;
    pub const SIGNATURE_DEFS: u16 = 7;
}
mod opcode {
    pub const DEPRECATED_BUILTIN_CODE: u16 = 0;
    pub const CUSTOM_CODE: u16 = 1;
    pub const VERSION: u16 = 2;
    pub const BUILTIN_CODE: u16 = 3;
}
mod subgraph {
    pub const TENSORS: u16 = 0;
    pub const OPERATORS: u16 = 3;
}
mod tensor {
    pub const BUFFER: u16 = 2;
}
mod operator {
    pub const OPCODE_INDEX: u16 = 0;
    pub const CUSTOM_OPTIONS: u16 = 5;
    pub const LARGE_CUSTOM_OPTIONS_OFFSET: u16 = 9;
    pub const LARGE_CUSTOM_OPTIONS_SIZE: u16 = 10;
}
mod buffer {
    pub const DATA: u16 = 0;
    pub const OFFSET: u16 = 1;
    pub const SIZE: u16 = 2;
}
mod metadata {
    pub const NAME: u16 = 0;
    pub const BUFFER: u16 = 1;
}

/// One entry of `Model.operator_codes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpCode {
    /// The builtin op the loader resolves (`GetBuiltinCode`).
    pub builtin: i32,
    /// `custom_code`, clipped to [`MAX_NAME`] bytes (shared between codes pointing at one string).
    pub custom: Option<Arc<str>>,
    pub version: i32,
    /// Operators (over all subgraphs) that use this code.
    pub uses: u64,
}

impl OpCode {
    /// A custom op (`CUSTOM`), whose name the runtime resolves through its op resolver.
    pub fn is_custom(&self) -> bool {
        self.builtin == CUSTOM
    }

    /// For a Flex op, the TensorFlow op it runs (the custom code without its `Flex` prefix).
    pub fn flex_op(&self) -> Option<&str> {
        if !self.is_custom() {
            return None;
        }
        self.custom.as_deref()?.strip_prefix(FLEX_PREFIX)
    }
}

/// One entry of `Model.buffers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub index: u32,
    /// Inline `data`: (offset of the first byte, length).
    pub inline: Option<(u64, u64)>,
    /// `offset` and `size` (schema 3c: data outside the flatbuffer, valid when `offset > 1`).
    pub offset: u64,
    pub size: u64,
}

impl Buffer {
    /// The external range the loader reads, when it reads one (`InterpreterBuilder::ParseTensors`):
    /// a `data` vector, even an empty one, takes precedence; then any `offset > 1`, whatever the
    /// size (`offset + size` is checked against the file, without an overflow check).
    pub fn external(&self) -> Option<(u64, u64)> {
        if self.inline.is_some() {
            return None;
        }
        (self.offset > 1).then_some((self.offset, self.size))
    }
}

/// An operator whose custom options live outside the flatbuffer (`large_custom_options_offset >
/// 1` and no inline `custom_options`). The interpreter reads them for custom ops only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeCustomOptions {
    pub subgraph: u32,
    pub operator: u32,
    pub opcode_index: u32,
    pub offset: u64,
    pub size: u64,
}

/// What a Flex operator's `custom_options` say: the Flex delegate runs the TensorFlow op named by
/// the first string of the flexbuffer vector (`OpNode::InitializeNodeDef` sets `name_` from it,
/// and `BuildEagerOp` creates that op), with the attributes of the serialized `NodeDef` in the
/// second. The custom code's `Flex` suffix only decides that the delegate is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlexOptions {
    /// No inline options (the delegate refuses the node).
    Absent,
    /// The op the delegate runs, and the serialized `NodeDef` (clipped to [`MAX_NODEDEF`]).
    Op { name: String, node_def: Vec<u8> },
    /// The options could not be read (the C++ reader does not check them).
    Unreadable(String),
}

/// One operator that uses a Flex op code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexOperator {
    pub subgraph: u32,
    pub operator: u32,
    pub opcode_index: u32,
    pub options: FlexOptions,
}

/// Largest Flex `custom_options` read (a `NodeDef` may carry tensor-valued attributes).
pub const MAX_FLEX_OPTIONS: u64 = 64 * 1024 * 1024;
/// Bytes of a Flex op's `NodeDef` kept.
pub const MAX_NODEDEF: usize = 64 * 1024;

/// Something the interpreter refuses while building the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub at: u64,
    pub message: String,
}

/// What was read of a model (partially filled when the walk stopped with an error).
#[derive(Debug, Default, Clone)]
pub struct Model {
    /// Bytes 4..8 are `TFL3`.
    pub identifier_ok: bool,
    pub version: u32,
    pub description: Option<String>,
    pub op_codes: Vec<OpCode>,
    pub buffers: Vec<Buffer>,
    pub large_custom_options: Vec<LargeCustomOptions>,
    /// Operators using Flex op codes, with what their options make the delegate run.
    pub flex_operators: Vec<FlexOperator>,
    /// Custom-op operators without custom options: (opcode index, subgraph, operator), the
    /// first [`MAX_ISSUES`].
    pub custom_without_options: Vec<(u32, u32, u32)>,
    pub subgraphs: u32,
    pub tensors: u64,
    pub operators: u64,
    /// `Model.metadata`: (name, buffer index).
    pub metadata: Vec<(String, u32)>,
    pub issues: Vec<Issue>,
}

/// Largest number of issues kept (the rest are counted in `issues_omitted`).
const MAX_ISSUES: usize = 64;

impl Model {
    fn issue(&mut self, at: u64, message: String) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(Issue { at, message });
        }
    }
}

/// Walks the model in `r` into `m`. `Err` means the buffer is malformed (or the budget is spent);
/// `m` keeps what was read before.
pub fn parse(r: &Reader<'_>, m: &mut Model) -> Result<()> {
    m.identifier_ok = r.identifier() == Some(*b"TFL3");
    let root = r.root()?;
    m.version = r.field_u32(&root, model::VERSION, 0)?;
    op_codes(r, &root, m)?;
    buffers(r, &root, m)?;
    subgraphs(r, &root, m)?;
    if let Some(v) = r.field_vector(&root, model::METADATA, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let name = r
                .field_string(&t, metadata::NAME, MAX_NAME)?
                .map(|s| s.text)
                .unwrap_or_default();
            let buf = r.field_u32(&t, metadata::BUFFER, 0)?;
            m.metadata.push((name, buf));
        }
    }
    m.description = r
        .field_string(&root, model::DESCRIPTION, MAX_NAME)?
        .map(|s| s.text);
    verify_rest(r, &root)?;
    Ok(())
}

// The verifier's view of the parts the scan does not otherwise need: every table, vector and
// string the schema reaches (builtin-options tables by their header and field offsets), so a model the verifying
// interpreter refuses is not passed as readable, and one an unverified loader (TFLite Micro's
// `GetModel`, `FlatBufferModel::BuildFromBuffer`) reads out of bounds is reported.

/// `Model.metadata_buffer` and `Model.signature_defs`.
fn verify_rest(r: &Reader<'_>, root: &Table) -> Result<()> {
    r.field_vector(root, model::METADATA_BUFFER, 4)?;
    if let Some(v) = r.field_vector(root, model::SIGNATURE_DEFS, 4)? {
        for i in 0..v.len {
            let sd = r.vec_table(&v, i)?;
            for id in [0, 1] {
                // inputs, outputs: [TensorMap { name, tensor_index }]
                if let Some(maps) = r.field_vector(&sd, id, 4)? {
                    for j in 0..maps.len {
                        let tm = r.vec_table(&maps, j)?;
                        r.field_string(&tm, 0, 0)?;
                        r.field_u32(&tm, 1, 0)?; // tensor_index
                    }
                }
            }
            r.field_string(&sd, 2, 0)?; // signature_key
            r.field_string(&sd, 3, 0)?; // deprecated_tag
            r.field_u32(&sd, 4, 0)?; // subgraph_index
        }
    }
    Ok(())
}

/// Bytes per element of a tensor type whose size the interpreter checks (`BytesRequired`);
/// `None` for strings, resources, variants and packed or newer types, which it does not size
/// this way.
fn element_size(ty: u8) -> Option<u64> {
    Some(match ty {
        3 | 6 | 9 => 1,       // UINT8, BOOL, INT8
        1 | 7 | 16 | 18 => 2, // FLOAT16, INT16, UINT16, BFLOAT16
        0 | 2 | 15 => 4,      // FLOAT32, INT32, UINT32
        4 | 8 | 10 | 12 => 8, // INT64, COMPLEX64, FLOAT64, UINT64
        11 => 16,             // COMPLEX128
        _ => return None,
    })
}

/// `tflite::BytesRequired`, which the interpreter applies to every tensor of a sized type: the
/// element count and byte count must not overflow (a negative dimension is a huge `size_t`), and
/// (`Subgraph::SetTensorParametersReadOnly`) a constant tensor's data must hold at least that
/// many bytes. The interpreter refuses a model that breaks either; loaders that do not check
/// (TFLite Micro) read past the data.
fn tensor_size(r: &Reader<'_>, t: &Table, b: u32, m: &mut Model, i: u32, s: u32) -> Result<()> {
    let Some(elem) = element_size(r.field_u8(t, 1, 0)?) else {
        return Ok(());
    };
    if r.field(t, 6, 4)?.is_some() {
        return Ok(()); // sparse tensors are not sized this way
    }
    let mut count: Option<u64> = Some(1);
    if let Some(shape) = r.field_vector(t, 0, 4)? {
        for k in 0..shape.len {
            let d = r.vec_i32(&shape, k)?;
            // size_t arithmetic: a negative dimension is a huge count.
            let d = u64::try_from(d).unwrap_or(u64::MAX);
            count = count.and_then(|c| c.checked_mul(d));
        }
    }
    let Some(need) = count.and_then(|c| c.checked_mul(elem)) else {
        m.issue(
            t.pos,
            format!("tensor {i} of subgraph {s}: its shape's byte count overflows (the interpreter refuses it)"),
        );
        return Ok(());
    };
    let have = match m.buffers.get(b as usize) {
        Some(buf) if b != 0 => match (buf.inline, buf.external()) {
            (Some((_, n)), _) if n > 0 => n,
            (None, Some((_, n))) if n > 0 => n,
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    if need > have {
        m.issue(
            t.pos,
            format!(
                "tensor {i} of subgraph {s} needs {need} bytes for its shape and type but buffer {b} holds {have} (the interpreter refuses it; unchecked loaders read past the data)"
            ),
        );
    }
    Ok(())
}

fn verify_tensor(r: &Reader<'_>, t: &Table) -> Result<()> {
    r.field_vector(t, 0, 4)?; // shape
    r.field_u8(t, 1, 0)?; // type
    r.field_string(t, 3, 0)?; // name
    r.field_u8(t, 5, 0)?; // is_variable
    r.field_u8(t, 8, 0)?; // has_rank
    if let Some(q) = r.field_table(t, 4)? {
        // QuantizationParameters: min, max, scale [float], zero_point [long], details union.
        for (id, size) in [(0, 4), (1, 4), (2, 4), (3, 8)] {
            r.field_vector(&q, id, size)?;
        }
        if let Some((_, custom)) = r.field_union(&q, 4)? {
            r.field_vector(&custom, 0, 1)?; // CustomQuantization.custom
        }
        r.field_i32(&q, 6, 0)?; // quantized_dimension
    }
    if let Some(sp) = r.field_table(t, 6)? {
        // SparsityParameters: traversal_order, block_map [int], dim_metadata [DimensionMetadata].
        r.field_vector(&sp, 0, 4)?;
        r.field_vector(&sp, 1, 4)?;
        if let Some(dims) = r.field_vector(&sp, 2, 4)? {
            for i in 0..dims.len {
                let d = r.vec_table(&dims, i)?;
                r.field_u8(&d, 0, 0)?; // format
                r.field_i32(&d, 1, 0)?; // dense_size
                for type_id in [2, 4] {
                    // array_segments, array_indices: Int32Vector, Uint16Vector, Uint8Vector.
                    if let Some((tag, iv)) = r.field_union(&d, type_id)? {
                        let size = match tag {
                            1 => 4,
                            2 => 2,
                            _ => 1,
                        };
                        r.field_vector(&iv, 0, size)?;
                    }
                }
            }
        }
    }
    r.field_vector(t, 7, 4)?; // shape_signature
    if let Some(vt) = r.field_vector(t, 9, 4)? {
        for i in 0..vt.len {
            let st = r.vec_table(&vt, i)?;
            r.field_vector(&st, 0, 4)?; // VariantSubType.shape
            r.field_u8(&st, 1, 0)?; // type
            r.field_u8(&st, 2, 0)?; // has_rank
        }
    }
    Ok(())
}

fn verify_operator(r: &Reader<'_>, op: &Table) -> Result<()> {
    r.field_vector(op, 1, 4)?; // inputs
    r.field_vector(op, 2, 4)?; // outputs
    if let Some((_, options)) = r.field_union(op, 3)? {
        r.fields_in_buffer(&options)?; // builtin_options
    }
    r.field_vector(op, operator::CUSTOM_OPTIONS, 1)?;
    r.field_u8(op, 6, 0)?; // custom_options_format
    r.field_vector(op, 7, 1)?; // mutating_variable_inputs
    r.field_vector(op, 8, 4)?; // intermediates
    if let Some((_, options)) = r.field_union(op, 11)? {
        r.fields_in_buffer(&options)?; // builtin_options_2
    }
    r.field_u64(op, operator::LARGE_CUSTOM_OPTIONS_OFFSET, 0)?;
    r.field_u64(op, operator::LARGE_CUSTOM_OPTIONS_SIZE, 0)?;
    Ok(())
}

fn op_codes(r: &Reader<'_>, root: &Table, m: &mut Model) -> Result<()> {
    let Some(v) = r.field_vector(root, model::OPERATOR_CODES, 4)? else {
        return Ok(());
    };
    // Codes pointing at the same string share it, so a million codes naming one long string do
    // not cost a million copies.
    let mut strings: HashMap<u64, Arc<str>> = HashMap::new();
    for i in 0..v.len {
        let t = r.vec_table(&v, i)?;
        let deprecated = i32::from(r.field_i8(&t, opcode::DEPRECATED_BUILTIN_CODE, 0)?);
        let extended = r.field_i32(&t, opcode::BUILTIN_CODE, 0)?;
        // tflite::GetBuiltinCode (schema_utils.cc).
        let builtin = deprecated.max(extended);
        // The interpreter refuses negative codes, the placeholder, and codes past its
        // BuiltinOperator_MAX ("Op builtin_code out of range"); about 210 today, so anything
        // past MAX_BUILTIN_CODE is refused by every release.
        if builtin < 0 || builtin == PLACEHOLDER_FOR_GREATER_OP_CODES || builtin > MAX_BUILTIN_CODE
        {
            m.issue(
                t.pos,
                format!("operator code {i} resolves to builtin code {builtin}, which no interpreter registers"),
            );
        }
        let version = r.field_i32(&t, opcode::VERSION, 1)?;
        let custom = match r.field(&t, opcode::CUSTOM_CODE, 4)? {
            None => None,
            Some(at) => {
                let target = at.saturating_add(u64::from(r.u32_at(at)?));
                match strings.get(&target) {
                    Some(s) => Some(s.clone()),
                    None => {
                        let s = r.string_at(target, MAX_NAME)?;
                        let text: Arc<str> = if s.complete {
                            Arc::from(s.text)
                        } else {
                            Arc::from(format!("{}…", s.text))
                        };
                        strings.insert(target, text.clone());
                        Some(text)
                    }
                }
            }
        };
        m.op_codes.push(OpCode {
            builtin,
            custom,
            version,
            uses: 0,
        });
    }
    Ok(())
}

fn buffers(r: &Reader<'_>, root: &Table, m: &mut Model) -> Result<()> {
    let Some(v) = r.field_vector(root, model::BUFFERS, 4)? else {
        return Ok(());
    };
    for i in 0..v.len {
        let t = r.vec_table(&v, i)?;
        let inline = r
            .field_vector(&t, buffer::DATA, 1)?
            .map(|d| (d.pos, d.byte_len()));
        let offset = r.field_u64(&t, buffer::OFFSET, 0)?;
        let size = r.field_u64(&t, buffer::SIZE, 0)?;
        m.buffers.push(Buffer {
            index: i,
            inline,
            offset,
            size,
        });
    }
    Ok(())
}

fn subgraphs(r: &Reader<'_>, root: &Table, m: &mut Model) -> Result<()> {
    let Some(v) = r.field_vector(root, model::SUBGRAPHS, 4)? else {
        m.issue(root.pos, "the model has no subgraph".into());
        return Ok(());
    };
    if v.len == 0 {
        m.issue(root.pos, "the model has no subgraph".into());
    }
    m.subgraphs = v.len;
    for s in 0..v.len {
        let sg = r.vec_table(&v, s)?;
        // SubGraph.inputs, outputs, name.
        r.field_vector(&sg, 1, 4)?;
        r.field_vector(&sg, 2, 4)?;
        r.field_string(&sg, 4, 0)?;
        let tensors = r.field_vector(&sg, subgraph::TENSORS, 4)?;
        if tensors.is_none() {
            // InterpreterBuilder::operator(): "Did not get tensors in subgraph".
            m.issue(sg.pos, format!("subgraph {s} has no tensors vector"));
        }
        if let Some(tv) = tensors {
            for i in 0..tv.len {
                let t = r.vec_table(&tv, i)?;
                verify_tensor(r, &t)?;
                m.tensors = m.tensors.saturating_add(1);
                let b = r.field_u32(&t, tensor::BUFFER, 0)?;
                // InterpreterBuilder::ParseTensors: buffer 0 means "no data"; any other index
                // must exist.
                if b != 0 && b as usize >= m.buffers.len() {
                    m.issue(
                        t.pos,
                        format!(
                            "tensor {i} of subgraph {s} names buffer {b} of {}",
                            m.buffers.len()
                        ),
                    );
                } else {
                    tensor_size(r, &t, b, m, i, s)?;
                }
            }
        }
        if let Some(ov) = r.field_vector(&sg, subgraph::OPERATORS, 4)? {
            for i in 0..ov.len {
                let op = r.vec_table(&ov, i)?;
                verify_operator(r, &op)?;
                m.operators = m.operators.saturating_add(1);
                let idx = r.field_u32(&op, operator::OPCODE_INDEX, 0)?;
                match m.op_codes.get_mut(idx as usize) {
                    Some(c) => c.uses = c.uses.saturating_add(1),
                    None => m.issue(
                        op.pos,
                        format!(
                            "operator {i} of subgraph {s} uses opcode_index {idx} of {} (the interpreter has no registration for it)",
                            m.op_codes.len()
                        ),
                    ),
                }
                if m.op_codes
                    .get(idx as usize)
                    .is_some_and(|c| c.flex_op().is_some())
                {
                    let options = flex_options(r, &op)?;
                    m.flex_operators.push(FlexOperator {
                        subgraph: s,
                        operator: i,
                        opcode_index: idx,
                        options,
                    });
                }
                // InterpreterBuilder::ParseNodes: inline custom_options first, then the range.
                let offset = r.field_u64(&op, operator::LARGE_CUSTOM_OPTIONS_OFFSET, 0)?;
                let inline = r.field(&op, operator::CUSTOM_OPTIONS, 4)?.is_some();
                if offset > 1 && !inline {
                    let size = r.field_u64(&op, operator::LARGE_CUSTOM_OPTIONS_SIZE, 0)?;
                    m.large_custom_options.push(LargeCustomOptions {
                        subgraph: s,
                        operator: i,
                        opcode_index: idx,
                        offset,
                        size,
                    });
                }
                // Custom (not Flex) operators that carry no options at all.
                let is_custom = m
                    .op_codes
                    .get(idx as usize)
                    .is_some_and(|c| c.is_custom() && c.flex_op().is_none());
                if is_custom && offset <= 1 {
                    let empty = match r.field_vector(&op, operator::CUSTOM_OPTIONS, 1)? {
                        None => true,
                        Some(v) => v.len == 0,
                    };
                    if empty && m.custom_without_options.len() < MAX_ISSUES {
                        m.custom_without_options.push((idx, s, i));
                    }
                }
            }
        }
    }
    Ok(())
}

fn flex_options(r: &Reader<'_>, op: &Table) -> Result<FlexOptions> {
    let Some(v) = r.field_vector(op, operator::CUSTOM_OPTIONS, 1)? else {
        let large = r.field_u64(op, operator::LARGE_CUSTOM_OPTIONS_OFFSET, 0)?;
        return Ok(if large > 1 {
            FlexOptions::Unreadable(
                "the options are stored after the flatbuffer (large_custom_options), which this scanner does not read".into(),
            )
        } else {
            FlexOptions::Absent
        });
    };
    if v.len == 0 {
        return Ok(FlexOptions::Absent);
    }
    if v.byte_len() > MAX_FLEX_OPTIONS {
        return Ok(FlexOptions::Unreadable(format!(
            "{} bytes of options, more than the {MAX_FLEX_OPTIONS} read",
            v.byte_len()
        )));
    }
    let buf = r.bytes_vec(v.pos, v.byte_len(), "custom options")?;
    Ok(match flex_root_strings(&buf, 2) {
        Ok(strings) => {
            let mut it = strings.into_iter();
            let name = it.next().unwrap_or_default();
            let mut node_def = it.next().unwrap_or_default();
            node_def.truncate(MAX_NODEDEF);
            FlexOptions::Op {
                name: String::from_utf8_lossy(name.get(..MAX_NAME).unwrap_or(&name)).into_owned(),
                node_def,
            }
        }
        Err(e) => FlexOptions::Unreadable(e.to_string()),
    })
}

/// Why an [`FbError`] is not a malformed buffer but a spent budget.
pub fn is_budget(e: &FbError) -> bool {
    matches!(e, FbError::Budget { .. })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )]
    use super::*;

    /// A minimal flatbuffer writer for tests: tables laid out front to back, every table with its
    /// own vtable right before it.
    struct W(Vec<u8>);

    impl W {
        fn new() -> Self {
            // Root offset and identifier; the root offset is patched by `finish`.
            let mut v = vec![0u8; 4];
            v.extend_from_slice(b"TFL3");
            Self(v)
        }
        fn align(&mut self, n: usize) {
            while !self.0.len().is_multiple_of(n) {
                self.0.push(0);
            }
        }
        /// A table of (field id, bytes) inline scalars; returns its position.
        fn table(&mut self, fields: &[(u16, Vec<u8>)]) -> usize {
            let slots = fields.iter().map(|(id, _)| id + 1).max().unwrap_or(0) as usize;
            let mut offs = vec![0u16; slots];
            let mut body = Vec::new();
            let mut o = 4usize;
            for (id, b) in fields {
                while !o.is_multiple_of(b.len().max(1)) {
                    body.push(0);
                    o += 1;
                }
                offs[*id as usize] = o as u16;
                body.extend_from_slice(b);
                o += b.len();
            }
            self.align(2);
            let vt = self.0.len();
            self.0
                .extend_from_slice(&((4 + 2 * slots) as u16).to_le_bytes());
            self.0.extend_from_slice(&(o as u16).to_le_bytes());
            for x in &offs {
                self.0.extend_from_slice(&x.to_le_bytes());
            }
            self.align(8);
            let pos = self.0.len();
            self.0.extend_from_slice(&((pos - vt) as i32).to_le_bytes());
            self.0.extend_from_slice(&body);
            pos
        }
        /// Writes the uoffset at `at` (a field's position) to `target`.
        fn point(&mut self, at: usize, target: usize) {
            let v = (target - at) as u32;
            self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        fn vector(&mut self, elems: &[u8], n: u32) -> usize {
            self.align(4);
            let pos = self.0.len();
            self.0.extend_from_slice(&n.to_le_bytes());
            self.0.extend_from_slice(elems);
            pos
        }
    }

    /// Field position `id` of the table at `t` in `w` (reads its vtable).
    fn field_pos(w: &W, t: usize, id: u16) -> usize {
        let soff = i32::from_le_bytes(w.0[t..t + 4].try_into().unwrap());
        let vt = (t as i64 - i64::from(soff)) as usize;
        let o = u16::from_le_bytes(w.0[vt + 4 + 2 * id as usize..][..2].try_into().unwrap());
        t + o as usize
    }

    /// A model with one op code (deprecated, builtin) and one operator using it; one buffer
    /// with (offset, size) and no inline data. uoffsets point forward, so every container is
    /// written before what it holds.
    fn model(deprecated: i8, builtin: i32, buffer: (u64, u64)) -> Vec<u8> {
        let mut w = W::new();
        let root = w.table(&[
            (model::VERSION, 3u32.to_le_bytes().to_vec()),
            (model::OPERATOR_CODES, vec![0; 4]),
            (model::SUBGRAPHS, vec![0; 4]),
            (model::BUFFERS, vec![0; 4]),
        ]);
        w.0[0..4].copy_from_slice(&(root as u32).to_le_bytes());
        let codes = w.vector(&[0; 4], 1);
        w.point(field_pos(&w, root, model::OPERATOR_CODES), codes);
        let code = w.table(&[
            (opcode::DEPRECATED_BUILTIN_CODE, vec![deprecated as u8]),
            (opcode::BUILTIN_CODE, builtin.to_le_bytes().to_vec()),
        ]);
        w.point(codes + 4, code);
        let sgs = w.vector(&[0; 4], 1);
        w.point(field_pos(&w, root, model::SUBGRAPHS), sgs);
        let sg = w.table(&[
            (subgraph::TENSORS, vec![0; 4]),
            (subgraph::OPERATORS, vec![0; 4]),
        ]);
        w.point(sgs + 4, sg);
        let tensors = w.vector(&[], 0);
        w.point(field_pos(&w, sg, subgraph::TENSORS), tensors);
        let ops = w.vector(&[0; 4], 1);
        w.point(field_pos(&w, sg, subgraph::OPERATORS), ops);
        let op = w.table(&[]);
        w.point(ops + 4, op);
        let bufs = w.vector(&[0; 8], 2);
        w.point(field_pos(&w, root, model::BUFFERS), bufs);
        let b0 = w.table(&[]);
        w.point(bufs + 4, b0);
        let b1 = w.table(&[
            (buffer::OFFSET, buffer.0.to_le_bytes().to_vec()),
            (buffer::SIZE, buffer.1.to_le_bytes().to_vec()),
        ]);
        w.point(bufs + 8, b1);
        w.0
    }

    fn parse_bytes(b: &[u8]) -> (Model, Result<()>) {
        let mut m = Model::default();
        let res = parse(&Reader::new(&b, 100_000), &mut m);
        (m, res)
    }

    #[test]
    fn builtin_code_is_the_larger_of_the_two_fields() {
        let (m, res) = parse_bytes(&model(0, 32, (0, 0)));
        res.unwrap();
        assert!(m.identifier_ok);
        assert_eq!(m.op_codes[0].builtin, CUSTOM);
        assert_eq!(m.op_codes[0].uses, 1);
        let (m, _) = parse_bytes(&model(32, 0, (0, 0)));
        assert_eq!(m.op_codes[0].builtin, CUSTOM);
        let (m, _) = parse_bytes(&model(127, 150, (0, 0)));
        assert_eq!(m.op_codes[0].builtin, 150);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        let (m, _) = parse_bytes(&model(127, 0, (0, 0)));
        assert_eq!(m.issues.len(), 1, "the placeholder is no op");
    }

    #[test]
    fn buffer_ranges_are_read_the_interpreters_way() {
        let (m, res) = parse_bytes(&model(0, 0, (4096, 0)));
        res.unwrap();
        // offset > 1 counts whatever the size; 0 and 1 mean "no range".
        assert_eq!(m.buffers[1].external(), Some((4096, 0)));
        let (m, _) = parse_bytes(&model(0, 0, (1, 16)));
        assert_eq!(m.buffers[1].external(), None);
        let inline = Buffer {
            index: 1,
            inline: Some((0, 0)),
            offset: 4096,
            size: 16,
        };
        assert_eq!(inline.external(), None, "a data vector, even empty, wins");
    }

    #[test]
    fn every_truncation_fails() {
        let b = model(0, 32, (0, 0));
        for n in 0..b.len() {
            let (_, res) = parse_bytes(&b[..n]);
            assert!(res.is_err(), "cut at {n}");
        }
    }
}
