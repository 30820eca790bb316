//! ExecuTorch programs (`.pte`; `schema/program.fbs` of pytorch/executorch, file identifier
//! `ET12`), read the way `Program::load` and `Method::init` read them, with the bounded
//! [`flatbuffer`](super::flatbuffer) reader:
//!
//! - the **extended header** (`eh00` at byte 8, inside the flatbuffer's padding): the size of the
//!   program (the flatbuffer the runtime loads from offset 0), where the data segments start
//!   (`segment_base_offset`) and how many bytes they take (`segment_data_size`). Without it the
//!   program is the whole file and no segment can be loaded ([`read_header`], [`layout`]);
//! - `Program.segments` (`offset` relative to the segment base, `size`), the inline delegate data
//!   (`backend_delegate_data`), the deprecated inline `constant_buffer`, the `constant_segment`
//!   and `mutable_data_segments` offset tables, and `named_data` (keys naming segments, which the
//!   AOTInductor backends load shared libraries from);
//! - each `ExecutionPlan` (a method): its delegates (backend `id`, processed data inline or in a
//!   segment, compile specs), its operators (`name`, `overload`), its values (tensors: sizes,
//!   scalar type, constant data index) and its chains of instructions (kernel and delegate calls,
//!   moves, jumps, frees) with every index they carry.
//!
//! What the runtime would refuse or trip over (an index out of range, a missing table it
//! dereferences without a check, a tensor whose size overflows) is collected as an [`Issue`]; what
//! the reader cannot read at all ends the walk with an [`FbError`](super::flatbuffer::FbError),
//! keeping everything read before it. The runtime verifies the flatbuffer only when asked
//! (`Program::Verification::InternalConsistency`; the default is `Minimal`), so what it would
//! refuse under verification is what an unverified load reads out of bounds.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::flatbuffer::{Reader, Result, Table, Vector};

/// The file identifier the runtime accepts (`executorch_flatbuffer::ProgramIdentifier`); it has
/// not changed since the first public release. Other `ET..` identifiers are refused
/// (`Program::check_header` calls them an incompatible version).
pub const IDENTIFIER: [u8; 4] = *b"ET12";
/// The magic of the extended header (`ExtendedHeader::kMagic`).
pub const HEADER_MAGIC: [u8; 4] = *b"eh00";
/// Bytes the runtime reads before anything else (`ExtendedHeader::kNumHeadBytes`); a shorter
/// file is refused by every data loader.
pub const HEAD_BYTES: u64 = 64;
/// Where the extended header starts (`ExtendedHeader::kHeaderOffset`).
const HEADER_AT: usize = 8;
/// The smallest header length the runtime accepts (magic, length, program size, segment base).
pub const MIN_HEADER_LEN: u32 = 24;
/// Header length from which `segment_data_size` is present.
const HEADER_LEN_WITH_DATA_SIZE: u32 = 32;
/// Longest backend id, operator name or key kept (longer ones are clipped and marked so).
pub const MAX_NAME: usize = 256;
/// Largest number of issues kept.
const MAX_ISSUES: usize = 64;
/// Distinct operator names kept (the rest are counted in [`Program::operators_omitted`]).
const MAX_OPERATORS: usize = 4096;
/// Compile-spec keys kept.
const MAX_SPEC_KEYS: usize = 64;

// Field ids (declaration order in program.fbs).
mod program {
    pub const VERSION: u16 = 0;
    pub const EXECUTION_PLAN: u16 = 1;
    pub const CONSTANT_BUFFER: u16 = 2;
    pub const BACKEND_DELEGATE_DATA: u16 = 3;
    pub const SEGMENTS: u16 = 4;
    pub const CONSTANT_SEGMENT: u16 = 5;
    pub const MUTABLE_DATA_SEGMENTS: u16 = 6;
    pub const NAMED_DATA: u16 = 7;
}
mod plan {
    pub const NAME: u16 = 0;
    pub const CONTAINER_META_TYPE: u16 = 1;
    pub const VALUES: u16 = 2;
    pub const INPUTS: u16 = 3;
    pub const OUTPUTS: u16 = 4;
    pub const CHAINS: u16 = 5;
    pub const OPERATORS: u16 = 6;
    pub const DELEGATES: u16 = 7;
    pub const NON_CONST_BUFFER_SIZES: u16 = 8;
    pub const NON_CONST_BUFFER_DEVICE: u16 = 9;
}
mod tensor {
    pub const SCALAR_TYPE: u16 = 0;
    pub const STORAGE_OFFSET: u16 = 1;
    pub const SIZES: u16 = 2;
    pub const DIM_ORDER: u16 = 3;
    pub const DATA_BUFFER_IDX: u16 = 5;
    pub const ALLOCATION_INFO: u16 = 6;
    pub const EXTRA_TENSOR_INFO: u16 = 9;
}
mod extra {
    pub const MUTABLE_DATA_SEGMENTS_IDX: u16 = 0;
    pub const FULLY_QUALIFIED_NAME: u16 = 1;
    pub const LOCATION: u16 = 2;
}
mod delegate {
    pub const ID: u16 = 0;
    pub const PROCESSED: u16 = 1;
    pub const COMPILE_SPECS: u16 = 2;
}

/// `KernelTypes` union tags.
mod kernel_type {
    pub const NULL: u8 = 1;
    pub const INT: u8 = 2;
    pub const BOOL: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const TENSOR: u8 = 5;
    pub const STRING: u8 = 6;
    pub const INT_LIST: u8 = 7;
    pub const DOUBLE_LIST: u8 = 8;
    pub const BOOL_LIST: u8 = 9;
    pub const TENSOR_LIST: u8 = 10;
    pub const OPTIONAL_TENSOR_LIST: u8 = 11;
}

/// `InstructionArguments` union tags.
mod instr {
    pub const KERNEL_CALL: u8 = 1;
    pub const DELEGATE_CALL: u8 = 2;
    pub const MOVE_CALL: u8 = 3;
    pub const JUMP_FALSE_CALL: u8 = 4;
    pub const FREE_CALL: u8 = 5;
}

/// `DataLocation`.
const INLINE: u8 = 0;
const SEGMENT: u8 = 1;
/// `TensorDataLocation::EXTERNAL`: data outside the file, looked up by name.
const EXTERNAL: u8 = 1;

/// The extended header as the runtime reads it (`ExtendedHeader::Parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedHeader {
    pub length: u32,
    /// Bytes of the program (the flatbuffer, header included) from offset 0.
    pub program_size: u64,
    /// Where segment offsets count from; 0 when there are no segments.
    pub segment_base_offset: u64,
    /// Bytes of segment data; 0 when there are none or the header predates the field.
    pub segment_data_size: u64,
}

/// What the first [`HEAD_BYTES`] say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Fewer than [`HEAD_BYTES`]: the runtime cannot read its header and refuses the file.
    Short,
    /// No `eh00` at byte 8: the program is the whole file and there are no segments.
    Absent,
    /// The magic with a length under [`MIN_HEADER_LEN`]: the runtime refuses the file.
    Corrupt {
        length: u32,
    },
    Present(ExtendedHeader),
}

/// Reads the extended header from the head of the file.
pub fn read_header(head: &[u8]) -> Header {
    if (head.len() as u64) < HEAD_BYTES {
        return Header::Short;
    }
    if head.get(HEADER_AT..HEADER_AT.saturating_add(4)) != Some(&HEADER_MAGIC[..]) {
        return Header::Absent;
    }
    // Every field lies inside the first HEAD_BYTES, which are there.
    let r = Reader::new(&head, 0);
    let length = r.u32_at(12).unwrap_or(0);
    if length < MIN_HEADER_LEN {
        return Header::Corrupt { length };
    }
    Header::Present(ExtendedHeader {
        length,
        program_size: r.u64_at(16).unwrap_or(0),
        segment_base_offset: r.u64_at(24).unwrap_or(0),
        segment_data_size: if length >= HEADER_LEN_WITH_DATA_SIZE {
            r.u64_at(32).unwrap_or(0)
        } else {
            0
        },
    })
}

/// Where the runtime finds the program and the segments in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes the runtime loads as the program, from offset 0 (clipped to the file).
    pub program_len: u64,
    /// Where segment offsets count from; 0 when the runtime loads no segment
    /// (`Program::LoadSegment` refuses every index then).
    pub segment_base: u64,
    /// The end of the segment data the header declares, when it declares one.
    pub declared_end: Option<u64>,
    /// Why the runtime refuses the file before it reads the program (empty when it does not).
    pub refusals: Vec<String>,
}

/// The layout `Program::load` computes from the header and the file length, with its checks.
pub fn layout(h: &Header, file_len: u64) -> Layout {
    let mut l = Layout {
        program_len: file_len,
        segment_base: 0,
        declared_end: None,
        refusals: Vec::new(),
    };
    match *h {
        Header::Short => l.refusals.push(format!(
            "the file is {file_len} bytes, shorter than the {HEAD_BYTES} bytes the runtime reads first"
        )),
        Header::Absent => {}
        Header::Corrupt { length } => l.refusals.push(format!(
            "the extended header declares {length} bytes, fewer than the {MIN_HEADER_LEN} it must hold"
        )),
        Header::Present(eh) => {
            let (ps, base, size) = (
                eh.program_size,
                eh.segment_base_offset,
                eh.segment_data_size,
            );
            // Headers older than ExecuTorch 1.0 have no segment_data_size: the file size is
            // checked only when it is there, or when there are no segments at all.
            if (size == 0 && base == 0) || size > 0 {
                match base.checked_add(size) {
                    None => l.refusals.push(format!(
                        "segment_base_offset {base} + segment_data_size {size} overflows"
                    )),
                    Some(end) => {
                        let expected = if base == 0 { ps } else { end };
                        if expected > file_len {
                            l.refusals.push(format!(
                                "the extended header expects a file of at least {expected} bytes; it has {file_len}"
                            ));
                        }
                    }
                }
            }
            if ps > file_len {
                l.refusals.push(format!(
                    "program_size {ps} runs past the end of the {file_len}-byte file"
                ));
            }
            if ps < 8 {
                l.refusals.push(format!(
                    "program_size {ps} is smaller than the flatbuffer's 8-byte header"
                ));
            }
            l.program_len = ps.min(file_len);
            l.segment_base = base;
            l.declared_end = if size > 0 { base.checked_add(size) } else { None };
        }
    }
    l
}

/// Where a delegate's processed data is (`BackendDelegateDataReference`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRef {
    /// `Program.backend_delegate_data[index]`.
    Inline(u32),
    /// `Program.segments[index]`.
    Segment(u32),
    /// A location the runtime does not know (it fails the load).
    Unknown { location: u8, index: u32 },
}

/// One `BackendDelegate` of an execution plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegate {
    pub plan: u32,
    pub index: u32,
    /// The backend `id`, clipped to [`MAX_NAME`] (shared between delegates naming one string).
    pub id: Option<Arc<str>>,
    /// `None` when the delegate has no `processed` table.
    pub data: Option<DataRef>,
}

/// A `SubsegmentOffsets` table: offsets into one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsegment {
    pub segment_index: u32,
    /// The `offsets` vector, when present.
    pub offsets: Option<Vector>,
}

impl Subsegment {
    fn len(&self) -> u32 {
        self.offsets.map_or(0, |v| v.len)
    }
}

/// One `NamedData` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedData {
    /// The key, clipped to [`MAX_NAME`].
    pub key: String,
    pub segment_index: u32,
}

/// Something the runtime refuses (or dereferences without a check) while loading the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub at: u64,
    pub message: String,
}

/// What was read of a program (partially filled when the walk stopped with an error).
#[derive(Debug, Default, Clone)]
pub struct Program {
    /// Bytes 4..8.
    pub identifier: Option<[u8; 4]>,
    pub version: u32,
    /// Method names, in order (clipped).
    pub methods: Vec<String>,
    pub values: u64,
    pub instructions: u64,
    /// Operator name (`name.overload`, or `name` when the overload is empty) and how many
    /// kernel calls use it over all plans.
    pub operators: BTreeMap<String, u64>,
    /// Distinct operator names not kept in `operators`.
    pub operators_omitted: u64,
    pub delegates: Vec<Delegate>,
    /// Compile-spec keys seen on delegates (first [`MAX_SPEC_KEYS`]).
    pub compile_spec_keys: Vec<String>,
    /// `backend_delegate_data`: (offset of the first byte, length) of each entry's data.
    pub inline_data: Vec<(u64, u64)>,
    /// `constant_buffer`: each entry's storage length (deprecated inline constants).
    pub constant_buffers: Vec<u64>,
    /// `segments`: (offset relative to the segment base, size).
    pub segments: Vec<(u64, u64)>,
    pub constant_segment: Option<Subsegment>,
    pub mutable_segments: Vec<Subsegment>,
    pub named_data: Vec<NamedData>,
    pub issues: Vec<Issue>,
}

impl Program {
    fn issue(&mut self, at: u64, message: String) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(Issue { at, message });
        }
    }

    /// Whether constant tensors read from the constant segment (`Program::load` loads it when
    /// its offset table holds more than the placeholder entry), not from `constant_buffer`.
    pub fn constants_in_segment(&self) -> bool {
        self.constant_segment.is_some_and(|c| c.len() > 1)
    }
}

/// Bytes per element of each scalar type the runtime knows (`ET_FORALL_SCALAR_TYPES`, 0..=29;
/// `Undefined` is 30).
fn element_size(ty: u8) -> Option<u64> {
    Some(match ty {
        0 | 1 | 11 | 12 | 13 | 16..=21 | 23..=26 => 1,
        2 | 5 | 15 | 22 | 27 => 2,
        3 | 6 | 8 | 14 | 28 => 4,
        4 | 7 | 9 | 29 => 8,
        10 => 16,
        _ => return None,
    })
}

/// Walks the program in `r` into `p`. `Err` means the buffer is malformed (or the budget is
/// spent); `p` keeps what was read before.
pub fn parse(r: &Reader<'_>, p: &mut Program) -> Result<()> {
    p.identifier = r.identifier();
    // Minimal verification: the root must not point into the 8-byte flatbuffer header.
    let root_offset = r.u32_at(0)?;
    if root_offset < 8 {
        p.issue(
            0,
            format!("the root table offset {root_offset} points into the file header"),
        );
    }
    let root = r.root()?;
    p.version = r.field_u32(&root, program::VERSION, 0)?;
    data_tables(r, &root, p)?;
    let Some(plans) = r.field_vector(&root, program::EXECUTION_PLAN, 4)? else {
        // get_execution_plan reads the vector's size without a null check.
        p.issue(
            root.pos,
            "the program has no execution_plan vector (the runtime dereferences it unchecked)"
                .into(),
        );
        return Ok(());
    };
    for i in 0..plans.len {
        let t = r.vec_table(&plans, i)?;
        execution_plan(r, &t, i, p)?;
    }
    Ok(())
}

/// The program-level tables: segments, inline delegate data, constants, named data.
fn data_tables(r: &Reader<'_>, root: &Table, p: &mut Program) -> Result<()> {
    if let Some(v) = r.field_vector(root, program::SEGMENTS, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let offset = r.field_u64(&t, 0, 0)?;
            let size = r.field_u64(&t, 1, 0)?;
            p.segments.push((offset, size));
        }
    }
    if let Some(v) = r.field_vector(root, program::BACKEND_DELEGATE_DATA, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let data = r.field_vector(&t, 0, 1)?;
            if data.is_none() {
                // get_backend_delegate_data reads data() without a check.
                p.issue(
                    t.pos,
                    format!("backend_delegate_data {i} has no data vector"),
                );
            }
            p.inline_data
                .push(data.map_or((t.pos, 0), |d| (d.pos, d.byte_len())));
        }
    }
    if let Some(v) = r.field_vector(root, program::CONSTANT_BUFFER, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let storage = r.field_vector(&t, 0, 1)?;
            p.constant_buffers.push(storage.map_or(0, |s| s.byte_len()));
        }
    }
    if let Some(t) = r.field_table(root, program::CONSTANT_SEGMENT)? {
        let s = subsegment(r, &t)?;
        p.constant_segment = Some(s);
        if p.constants_in_segment() {
            if !p.constant_buffers.is_empty() {
                p.issue(
                    t.pos,
                    format!(
                        "constants are both inline ({} constant_buffer entries) and in a segment; the runtime refuses a program that uses both",
                        p.constant_buffers.len()
                    ),
                );
            }
            if s.segment_index as usize >= p.segments.len() {
                p.issue(
                    t.pos,
                    format!(
                        "the constant segment is segment {} of {}",
                        s.segment_index,
                        p.segments.len()
                    ),
                );
            }
        }
    }
    if let Some(v) = r.field_vector(root, program::MUTABLE_DATA_SEGMENTS, 4)? {
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let s = subsegment(r, &t)?;
            if s.segment_index as usize >= p.segments.len() {
                p.issue(
                    t.pos,
                    format!(
                        "mutable data segment table {i} names segment {} of {}",
                        s.segment_index,
                        p.segments.len()
                    ),
                );
            }
            p.mutable_segments.push(s);
        }
    }
    if let Some(v) = r.field_vector(root, program::NAMED_DATA, 4)? {
        if r.field(root, program::SEGMENTS, 4)?.is_none() {
            // PteDataMap::create refuses named data without a segments vector.
            p.issue(
                root.pos,
                "the program has named data but no segments".into(),
            );
        }
        for i in 0..v.len {
            let t = r.vec_table(&v, i)?;
            let key = r.field_string(&t, 0, MAX_NAME)?;
            let segment_index = r.field_u32(&t, 1, 0)?;
            if key.is_none() {
                p.issue(t.pos, format!("named data entry {i} has no key"));
            }
            if segment_index as usize >= p.segments.len() {
                p.issue(
                    t.pos,
                    format!(
                        "named data entry {i} names segment {segment_index} of {}",
                        p.segments.len()
                    ),
                );
            }
            p.named_data.push(NamedData {
                key: key.map(clipped).unwrap_or_default(),
                segment_index,
            });
        }
    }
    Ok(())
}

fn subsegment(r: &Reader<'_>, t: &Table) -> Result<Subsegment> {
    Ok(Subsegment {
        segment_index: r.field_u32(t, 0, 0)?,
        offsets: r.field_vector(t, 1, 8)?,
    })
}

fn clipped(s: super::flatbuffer::FbString) -> String {
    if s.complete {
        s.text
    } else {
        format!("{}…", s.text)
    }
}

/// One execution plan (method): its required fields, delegates, operators, values and chains.
fn execution_plan(r: &Reader<'_>, t: &Table, i: u32, p: &mut Program) -> Result<()> {
    let name = r.field_string(t, plan::NAME, MAX_NAME)?;
    if name.is_none() {
        p.issue(t.pos, format!("execution plan {i} has no name"));
    }
    p.methods.push(name.map(clipped).unwrap_or_default());
    if let Some(c) = r.field_table(t, plan::CONTAINER_META_TYPE)? {
        r.field_string(&c, 0, 0)?;
        r.field_string(&c, 1, 0)?;
    }
    // Method::method_meta and Method::init refuse a plan without these.
    for (id, what, size) in [
        (plan::INPUTS, "inputs", 4),
        (plan::OUTPUTS, "outputs", 4),
        (plan::NON_CONST_BUFFER_SIZES, "non_const_buffer_sizes", 8),
    ] {
        if r.field_vector(t, id, size)?.is_none() {
            p.issue(t.pos, format!("execution plan {i} has no {what} vector"));
        }
    }
    if let Some(v) = r.field_vector(t, plan::NON_CONST_BUFFER_DEVICE, 4)? {
        for k in 0..v.len {
            let d = r.vec_table(&v, k)?;
            r.field_i32(&d, 0, 0)?;
            r.field_u8(&d, 1, 0)?;
            r.field_i8(&d, 2, 0)?;
        }
    }
    let n_delegates = delegates(r, t, i, p)?;
    let ops = operators(r, t, i, p)?;
    let n_values = values(r, t, i, p)?;
    chains(r, t, i, p, n_values, n_delegates, &ops)
}

fn delegates(r: &Reader<'_>, t: &Table, plan_index: u32, p: &mut Program) -> Result<u32> {
    let Some(v) = r.field_vector(t, plan::DELEGATES, 4)? else {
        p.issue(
            t.pos,
            format!("execution plan {plan_index} has no delegates vector"),
        );
        return Ok(0);
    };
    // Delegates naming one string share it.
    let mut ids: HashMap<u64, Arc<str>> = HashMap::new();
    for k in 0..v.len {
        let d = r.vec_table(&v, k)?;
        let id = match r.field(&d, delegate::ID, 4)? {
            None => {
                p.issue(
                    d.pos,
                    format!("delegate {k} of execution plan {plan_index} has no backend id"),
                );
                None
            }
            Some(at) => {
                let target = at.saturating_add(u64::from(r.u32_at(at)?));
                match ids.get(&target) {
                    Some(s) => Some(s.clone()),
                    None => {
                        let s: Arc<str> = Arc::from(clipped(r.string_at(target, MAX_NAME)?));
                        ids.insert(target, s.clone());
                        Some(s)
                    }
                }
            }
        };
        let data = match r.field_table(&d, delegate::PROCESSED)? {
            None => {
                // BackendDelegate::GetProcessedData dereferences it unchecked.
                p.issue(
                    d.pos,
                    format!("delegate {k} of execution plan {plan_index} has no processed-data reference (the runtime dereferences it unchecked)"),
                );
                None
            }
            Some(pt) => {
                let location = r.field_u8(&pt, 0, 0)?;
                let index = r.field_u32(&pt, 1, 0)?;
                let (data, have, what) = match location {
                    INLINE => (
                        DataRef::Inline(index),
                        Some(p.inline_data.len()),
                        "backend_delegate_data",
                    ),
                    SEGMENT => (DataRef::Segment(index), Some(p.segments.len()), "segments"),
                    _ => (DataRef::Unknown { location, index }, None, ""),
                };
                match have {
                    Some(n) if index as usize >= n => p.issue(
                        pt.pos,
                        format!("delegate {k} of execution plan {plan_index} reads {what}[{index}] of {n}"),
                    ),
                    Some(_) => {}
                    None => p.issue(
                        pt.pos,
                        format!("delegate {k} of execution plan {plan_index} has data location {location}, which the runtime does not know"),
                    ),
                }
                Some(data)
            }
        };
        if let Some(specs) = r.field_vector(&d, delegate::COMPILE_SPECS, 4)? {
            for s in 0..specs.len {
                let cs = r.vec_table(&specs, s)?;
                let key = r.field_string(&cs, 0, MAX_NAME)?;
                let value = r.field_vector(&cs, 1, 1)?;
                // PopulateCompileSpecs reads key() and value() unchecked.
                if key.is_none() || value.is_none() {
                    p.issue(
                        cs.pos,
                        format!("compile spec {s} of delegate {k} in execution plan {plan_index} lacks its key or value (the runtime dereferences both unchecked)"),
                    );
                }
                if let Some(key) = key.map(clipped) {
                    if p.compile_spec_keys.len() < MAX_SPEC_KEYS
                        && !p.compile_spec_keys.contains(&key)
                    {
                        p.compile_spec_keys.push(key);
                    }
                }
            }
        }
        p.delegates.push(Delegate {
            plan: plan_index,
            index: k,
            id,
            data,
        });
    }
    Ok(v.len)
}

/// The plan's operator names (index → name), `None` for an operator without a name.
fn operators(
    r: &Reader<'_>,
    t: &Table,
    plan_index: u32,
    p: &mut Program,
) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    let Some(v) = r.field_vector(t, plan::OPERATORS, 4)? else {
        return Ok(out);
    };
    for k in 0..v.len {
        let o = r.vec_table(&v, k)?;
        let name = r.field_string(&o, 0, MAX_NAME)?;
        let overload = r.field_string(&o, 1, MAX_NAME)?;
        let full = name.map(|n| match overload.map(clipped) {
            Some(ov) if !ov.is_empty() => format!("{}.{ov}", clipped(n)),
            _ => clipped(n),
        });
        if full.is_none() {
            p.issue(
                o.pos,
                format!("operator {k} of execution plan {plan_index} has no name"),
            );
        }
        if let Some(f) = &full {
            if !p.operators.contains_key(f) {
                if p.operators.len() < MAX_OPERATORS {
                    p.operators.insert(f.clone(), 0);
                } else {
                    p.operators_omitted = p.operators_omitted.saturating_add(1);
                }
            }
        }
        out.push(full);
    }
    Ok(out)
}

/// Reads the plan's values; returns how many there are.
fn values(r: &Reader<'_>, t: &Table, plan_index: u32, p: &mut Program) -> Result<u32> {
    let Some(v) = r.field_vector(t, plan::VALUES, 4)? else {
        p.issue(
            t.pos,
            format!("execution plan {plan_index} has no values vector"),
        );
        return Ok(0);
    };
    // Value types first: tensor lists name other values by index.
    let mut types: Vec<u8> = Vec::new();
    let mut lists: Vec<(u32, Vector, bool)> = Vec::new();
    for k in 0..v.len {
        let e = r.vec_table(&v, k)?;
        p.values = p.values.saturating_add(1);
        let Some((tag, val)) = r.field_union(&e, 0)? else {
            // get_num_external_constants refuses a value without one.
            p.issue(
                e.pos,
                format!("value {k} of execution plan {plan_index} holds nothing"),
            );
            types.push(0);
            continue;
        };
        types.push(tag);
        match tag {
            kernel_type::NULL => {}
            kernel_type::INT => {
                r.field_i64(&val, 0, 0)?;
            }
            kernel_type::BOOL => {
                r.field_u8(&val, 0, 0)?;
            }
            kernel_type::DOUBLE => {
                r.field_u64(&val, 0, 0)?;
            }
            kernel_type::STRING => {
                r.field_string(&val, 0, 0)?;
            }
            kernel_type::INT_LIST | kernel_type::DOUBLE_LIST | kernel_type::BOOL_LIST => {
                let size = if tag == kernel_type::BOOL_LIST { 1 } else { 8 };
                if r.field_vector(&val, 0, size)?.is_none() {
                    p.issue(
                        val.pos,
                        format!("list value {k} of execution plan {plan_index} has no items"),
                    );
                }
            }
            kernel_type::TENSOR_LIST | kernel_type::OPTIONAL_TENSOR_LIST => {
                match r.field_vector(&val, 0, 4)? {
                    Some(items) => {
                        lists.push((k, items, tag == kernel_type::OPTIONAL_TENSOR_LIST));
                    }
                    None => p.issue(
                        val.pos,
                        format!(
                            "tensor list value {k} of execution plan {plan_index} has no items"
                        ),
                    ),
                }
            }
            kernel_type::TENSOR => tensor_value(r, &val, k, plan_index, p)?,
            other => p.issue(
                e.pos,
                format!("value {k} of execution plan {plan_index} has type {other}, which the runtime does not know"),
            ),
        }
    }
    for (k, items, optional) in lists {
        for j in 0..items.len {
            let idx = r.vec_i32(&items, j)?;
            if optional && idx == -1 {
                continue; // None
            }
            let target = usize::try_from(idx).ok().and_then(|i| types.get(i));
            if target != Some(&kernel_type::TENSOR) {
                p.issue(
                    items.pos,
                    format!(
                        "item {j} of tensor list value {k} in execution plan {plan_index} names value {idx}, {}",
                        if target.is_some() { "which is not a tensor" } else { "which does not exist" }
                    ),
                );
                break;
            }
        }
    }
    Ok(v.len)
}

/// A tensor value: `validate_tensor`'s checks, and its constant data against where it lives.
fn tensor_value(r: &Reader<'_>, t: &Table, k: u32, plan_index: u32, p: &mut Program) -> Result<()> {
    let what = || format!("tensor value {k} of execution plan {plan_index}");
    let scalar = r.field_u8(t, tensor::SCALAR_TYPE, 0)?;
    r.field_i32(t, tensor::STORAGE_OFFSET, 0)?;
    r.field_vector(t, tensor::DIM_ORDER, 1)?;
    let mut numel: Option<i64> = Some(1);
    match r.field_vector(t, tensor::SIZES, 4)? {
        None => {
            p.issue(t.pos, format!("{} has no sizes", what()));
            return Ok(());
        }
        Some(sizes) => {
            for d in 0..sizes.len {
                let s = r.vec_i32(&sizes, d)?;
                if s < 0 {
                    p.issue(t.pos, format!("{} has size {s} at dimension {d}", what()));
                    return Ok(());
                }
                numel = numel.and_then(|n| n.checked_mul(i64::from(s)));
            }
        }
    }
    let Some(elem) = element_size(scalar) else {
        p.issue(
            t.pos,
            format!(
                "{} has scalar type {scalar}, which the runtime does not know",
                what()
            ),
        );
        return Ok(());
    };
    let Some(nbytes) = numel
        .and_then(|n| u64::try_from(n).ok())
        .and_then(|n| n.checked_mul(elem))
    else {
        p.issue(t.pos, format!("{}: its byte size overflows", what()));
        return Ok(());
    };
    let idx = r.field_u32(t, tensor::DATA_BUFFER_IDX, 0)?;
    let allocation = r.field_table(t, tensor::ALLOCATION_INFO)?;
    if let Some(a) = allocation {
        for id in 0..3 {
            r.field_u32(&a, id, 0)?;
        }
    }
    let mut external = false;
    let mut mutable_segment = 0u64;
    if let Some(x) = r.field_table(t, tensor::EXTRA_TENSOR_INFO)? {
        mutable_segment = r.field_u64(&x, extra::MUTABLE_DATA_SEGMENTS_IDX, 0)?;
        r.field_string(&x, extra::FULLY_QUALIFIED_NAME, 0)?;
        external = r.field_u8(&x, extra::LOCATION, 0)? == EXTERNAL;
        r.field_u8(&x, 3, 0)?;
        r.field_i8(&x, 4, 0)?;
    }
    if idx == 0 || external {
        return Ok(());
    }
    if allocation.is_some() {
        // A mutable tensor with an initial state: Program::load_mutable_subsegment_into.
        let seg = usize::try_from(mutable_segment)
            .ok()
            .and_then(|m| p.mutable_segments.get(m))
            .copied();
        let Some(seg) = seg else {
            p.issue(
                t.pos,
                format!(
                    "{} reads mutable data segment table {mutable_segment} of {}",
                    what(),
                    p.mutable_segments.len()
                ),
            );
            return Ok(());
        };
        let size = p.segments.get(seg.segment_index as usize).map(|s| s.1);
        return subsegment_entry(r, t.pos, &seg, idx, nbytes, size, &what(), p);
    }
    if let Some(seg) = p.constant_segment.filter(|_| p.constants_in_segment()) {
        let size = p.segments.get(seg.segment_index as usize).map(|s| s.1);
        return subsegment_entry(r, t.pos, &seg, idx, nbytes, size, &what(), p);
    }
    match p.constant_buffers.get(idx as usize).copied() {
        None => p.issue(
            t.pos,
            format!(
                "{} reads constant buffer {idx} of {}",
                what(),
                p.constant_buffers.len()
            ),
        ),
        Some(have) if nbytes > have => p.issue(
            t.pos,
            format!(
                "{} needs {nbytes} bytes but constant buffer {idx} holds {have}",
                what()
            ),
        ),
        Some(_) => {}
    }
    Ok(())
}

/// Entry `idx` of a subsegment offset table must exist and leave `nbytes` inside its segment.
#[allow(clippy::too_many_arguments)]
fn subsegment_entry(
    r: &Reader<'_>,
    at: u64,
    seg: &Subsegment,
    idx: u32,
    nbytes: u64,
    segment_size: Option<u64>,
    what: &str,
    p: &mut Program,
) -> Result<()> {
    let Some(offsets) = seg.offsets.filter(|o| idx < o.len) else {
        p.issue(at, format!("{what} reads offset {idx} of {}", seg.len()));
        return Ok(());
    };
    let offset = r.u64_at(offsets.pos.saturating_add(u64::from(idx).saturating_mul(8)))?;
    if let Some(size) = segment_size {
        if offset > size || nbytes > size.saturating_sub(offset) {
            p.issue(
                at,
                format!(
                    "{what} reads {nbytes} bytes at offset {offset} of segment {}, which holds {size}",
                    seg.segment_index
                ),
            );
        }
    }
    Ok(())
}

/// The plan's chains and every index their instructions carry.
fn chains(
    r: &Reader<'_>,
    t: &Table,
    plan_index: u32,
    p: &mut Program,
    n_values: u32,
    n_delegates: u32,
    ops: &[Option<String>],
) -> Result<()> {
    let v = r.field_vector(t, plan::CHAINS, 4)?;
    if v.is_none_or(|v| v.len == 0) {
        p.issue(t.pos, format!("execution plan {plan_index} has no chains"));
    }
    let Some(v) = v else {
        return Ok(());
    };
    let value_ok = |i: i64| i >= 0 && i < i64::from(n_values);
    for c in 0..v.len {
        let chain = r.vec_table(&v, c)?;
        let here = |k: u32| format!("instruction {k} of chain {c} in execution plan {plan_index}");
        r.field_vector(&chain, 0, 4)?; // inputs
        r.field_vector(&chain, 1, 4)?; // outputs
        if let Some(st) = r.field_vector(&chain, 3, 4)? {
            for k in 0..st.len {
                let fl = r.vec_table(&st, k)?;
                if let Some(frames) = r.field_vector(&fl, 0, 4)? {
                    for f in 0..frames.len {
                        let fr = r.vec_table(&frames, f)?;
                        r.field_string(&fr, 0, 0)?;
                        r.field_i32(&fr, 1, 0)?;
                        r.field_string(&fr, 2, 0)?;
                        r.field_string(&fr, 3, 0)?;
                    }
                }
            }
        }
        let Some(ins) = r.field_vector(&chain, 2, 4)? else {
            p.issue(
                chain.pos,
                format!("chain {c} of execution plan {plan_index} has no instructions"),
            );
            continue;
        };
        for k in 0..ins.len {
            let it = r.vec_table(&ins, k)?;
            p.instructions = p.instructions.saturating_add(1);
            let Some((tag, args)) = r.field_union(&it, 0)? else {
                p.issue(it.pos, format!("{} has no arguments", here(k)));
                continue;
            };
            let mut bad: Option<String> = None;
            match tag {
                instr::KERNEL_CALL | instr::DELEGATE_CALL => {
                    let target = r.field_i32(&args, 0, 0)?;
                    if tag == instr::KERNEL_CALL {
                        match usize::try_from(target).ok().and_then(|i| ops.get(i)) {
                            Some(Some(name)) => {
                                if let Some(n) = p.operators.get_mut(name) {
                                    *n = n.saturating_add(1);
                                }
                            }
                            Some(None) => {}
                            None => {
                                bad = Some(format!("calls operator {target} of {}", ops.len()));
                            }
                        }
                    } else if !usize::try_from(target).is_ok_and(|i| i < n_delegates as usize) {
                        bad = Some(format!("calls delegate {target} of {n_delegates}"));
                    }
                    match r.field_vector(&args, 1, 4)? {
                        None => bad = bad.or(Some("has no argument list".into())),
                        Some(list) => {
                            for a in 0..list.len {
                                let idx = r.vec_i32(&list, a)?;
                                if !value_ok(i64::from(idx)) {
                                    bad = bad.or(Some(format!("passes value {idx} of {n_values}")));
                                    break;
                                }
                            }
                        }
                    }
                }
                instr::MOVE_CALL => {
                    for id in [0, 1] {
                        let idx = r.field_i32(&args, id, 0)?;
                        if !value_ok(i64::from(idx)) {
                            bad = Some(format!("moves value {idx} of {n_values}"));
                        }
                    }
                }
                instr::JUMP_FALSE_CALL => {
                    let cond = r.field_i32(&args, 0, 0)?;
                    let dest = r.field_i32(&args, 1, 0)?;
                    if !value_ok(i64::from(cond)) {
                        bad = Some(format!("tests value {cond} of {n_values}"));
                    } else if dest < 0 || i64::from(dest) > i64::from(ins.len) {
                        bad = Some(format!(
                            "jumps to instruction {dest} of a {}-instruction chain",
                            ins.len
                        ));
                    }
                }
                instr::FREE_CALL => {
                    let idx = r.field_i32(&args, 0, 0)?;
                    if !value_ok(i64::from(idx)) {
                        bad = Some(format!("frees value {idx} of {n_values}"));
                    }
                }
                other => {
                    bad = Some(format!(
                        "has instruction type {other}, which the runtime does not know"
                    ));
                }
            }
            if let Some(b) = bad {
                p.issue(args.pos, format!("{} {b}", here(k)));
            }
        }
    }
    Ok(())
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

    fn head(program_size: u64, base: u64, data: u64, length: u32) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[0..4].copy_from_slice(&48u32.to_le_bytes());
        h[4..8].copy_from_slice(&IDENTIFIER);
        h[8..12].copy_from_slice(&HEADER_MAGIC);
        h[12..16].copy_from_slice(&length.to_le_bytes());
        h[16..24].copy_from_slice(&program_size.to_le_bytes());
        h[24..32].copy_from_slice(&base.to_le_bytes());
        h[32..40].copy_from_slice(&data.to_le_bytes());
        h
    }

    #[test]
    fn header_is_read_the_runtimes_way() {
        assert_eq!(read_header(&[0u8; 63]), Header::Short);
        let mut h = head(100, 128, 64, 32);
        assert_eq!(
            read_header(&h),
            Header::Present(ExtendedHeader {
                length: 32,
                program_size: 100,
                segment_base_offset: 128,
                segment_data_size: 64
            })
        );
        // A 24-byte header predates segment_data_size: the field reads as zero.
        h[12..16].copy_from_slice(&24u32.to_le_bytes());
        assert!(matches!(read_header(&h), Header::Present(e) if e.segment_data_size == 0));
        h[12..16].copy_from_slice(&23u32.to_le_bytes());
        assert_eq!(read_header(&h), Header::Corrupt { length: 23 });
        h[8] = b'E';
        assert_eq!(read_header(&h), Header::Absent);
    }

    #[test]
    fn layout_checks_sizes_like_program_load() {
        let l = layout(&read_header(&head(100, 128, 64, 32)), 192);
        assert!(l.refusals.is_empty(), "{:?}", l.refusals);
        assert_eq!(
            (l.program_len, l.segment_base, l.declared_end),
            (100, 128, Some(192))
        );
        // One byte short of the declared segments.
        assert_eq!(
            layout(&read_header(&head(100, 128, 64, 32)), 191)
                .refusals
                .len(),
            1
        );
        // Overflowing base + size.
        let l = layout(&read_header(&head(100, u64::MAX, 2, 32)), 192);
        assert!(l.refusals[0].contains("overflows"), "{:?}", l.refusals);
        // An old header (no data size) with segments: the file size is not checked.
        let l = layout(&read_header(&head(100, 128, 0, 24)), 120);
        assert!(l.refusals.is_empty(), "{:?}", l.refusals);
        // program_size past the end is clipped for reading and refused.
        let l = layout(&read_header(&head(1000, 0, 0, 32)), 100);
        assert_eq!(l.program_len, 100);
        assert!(!l.refusals.is_empty());
        // No header: the whole file is the program.
        let mut h = head(0, 0, 0, 32);
        h[8] = 0;
        let l = layout(&read_header(&h), 500);
        assert_eq!((l.program_len, l.segment_base), (500, 0));
    }

    #[test]
    fn element_sizes_follow_the_runtime() {
        assert_eq!(element_size(6), Some(4)); // Float
        assert_eq!(element_size(10), Some(16)); // ComplexDouble
        assert_eq!(element_size(29), Some(8)); // UInt64
        assert_eq!(element_size(30), None); // Undefined
        assert_eq!(element_size(200), None); // negative as int8
    }

    #[test]
    fn garbage_never_panics() {
        let mut b = head(64, 0, 0, 32);
        for n in 0..b.len() {
            let s = &b[..n];
            let _ = parse(&Reader::new(&s, 1000), &mut Program::default());
        }
        b[0..4].copy_from_slice(&4u32.to_le_bytes());
        let s = b.as_slice();
        let mut p = Program::default();
        let _ = parse(&Reader::new(&s, 1000), &mut p);
        assert!(!p.issues.is_empty(), "a root inside the header is refused");
    }
}
