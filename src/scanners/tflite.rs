//! TensorFlow Lite models (`.tflite`, a FlatBuffer with file identifier `TFL3`), read with the
//! bounded reader of [`crate::formats::tflite`] the way `tflite::InterpreterBuilder` reads them.
//!
//! A TFLite model runs no Python, but loading one can still reach for code outside the file:
//!
//! * **custom ops** (`BuiltinOperator_CUSTOM` with a `custom_code`) need a native kernel that the
//!   application registers with its op resolver; a few ship with the runtime itself
//!   (signatures/tflite.toml, kind `tflite-custom-op`) and are listed at info level;
//! * **Flex ops** (custom codes starting with `Flex`) make the interpreter apply the Flex (TF
//!   Select) delegate, which runs the *TensorFlow* op named after the prefix inside the process:
//!   `FlexReadFile`, `FlexWriteFile` and friends read and write files. The op name goes through
//!   the same `tf-op` policy as SavedModel graphs (signatures/tensorflow*.toml);
//! * **out-of-file data**: models over 2 GB keep buffer data (and large custom options) after the
//!   flatbuffer at `offset`/`size`; a range outside the file, or one whose `offset + size` wraps
//!   around (the interpreter's own bound check adds them unchecked), makes the native loader
//!   read out of bounds; partly overlapping ranges alias each other.
//!
//! TFLite Support metadata may append a zip of "associated files" (label maps, vocabularies) to
//! the model; the file is then also a zip, which the engine expands like any zip found by its end
//! record (so every member is scanned); its member names are listed here with the metadata names.
//!
//! The interpreter does not have to verify the flatbuffer (`FlatBufferModel::BuildFromBuffer` and
//! `BuildFromFile` do not), so a buffer this reader cannot read is a high finding.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use prost::Message as _;
use std::io;

use crate::artifact::{has_zip_trailer, Artifact, Content};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::formats::flatbuffer::{FbError, Paged, Reader, Source};
use crate::formats::tflite::{self as tfl, Model};
use crate::scanners::rules::RuleSet;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::signatures::{Action, SignatureDb};

pub const CUSTOM_OP: Code = Code {
    id: "tflite/custom-op",
    severity: Severity::Medium,
    summary: "The TFLite model uses a custom op that needs a native kernel outside the model.",
    detects: "Operator codes resolving to `CUSTOM` (the larger of `deprecated_builtin_code` and `builtin_code` is 32) whose `custom_code` is not a Flex op. Custom ops that ship with the TFLite runtime (signatures/tflite.toml, kind `tflite-custom-op`) are reported at info level.",
    why: "The interpreter runs a custom op through whatever kernel the application registered under that name: native code that is not part of the model. An unknown custom op means unknown code, or a model that only works with a library someone will be asked to install.",
    example: "An operator code `{builtin_code: CUSTOM, custom_code: \"MyDecode\"}`.",
    remediation: "Find out which library provides the op and whether you trust it; add an `allow` entry of kind `tflite-custom-op` if you do, or re-convert the model with builtin ops only.",
    references: &["https://ai.google.dev/edge/litert/models/ops_custom"],
};

pub const FLEX_DANGEROUS_OP: Code = Code {
    id: "tflite/flex-dangerous-op",
    severity: Severity::High,
    summary: "The TFLite model runs a dangerous TensorFlow op through the Flex delegate.",
    detects: "Flex operators whose TensorFlow op (the name in the operator's `custom_options`, which the delegate runs, else the `Flex<Op>` custom code's suffix) is denied by the `tf-op` policy: file access (`FlexReadFile`, `FlexWriteFile`, `FlexMatchingFiles`, ...), network, library loading or Python callbacks (`FlexPyFunc`, `FlexEagerPyFunc`). The severity is the policy entry's.",
    why: "The Flex (TF Select) delegate executes the named TensorFlow kernel inside the serving process with the model's tensors as arguments: a model can read local files into its outputs or write attacker-chosen bytes to chosen paths when it runs.",
    example: "An operator code `{builtin_code: CUSTOM, custom_code: \"FlexWriteFile\"}`.",
    remediation: "Do not serve the model; re-convert it without `SELECT_TF_OPS`, or review what the op reads or writes.",
    references: &["https://ai.google.dev/edge/litert/models/ops_select"],
};

pub const FLEX_UNKNOWN_OP: Code = Code {
    id: "tflite/flex-unknown-op",
    severity: Severity::Medium,
    summary: "The TFLite model asks the Flex delegate for an op that is not a TensorFlow op.",
    detects: "Custom codes `Flex<Op>` whose op is neither in the known TensorFlow op set (signatures/tensorflow_ops.toml) nor denied.",
    why: "The Flex delegate resolves the name through TensorFlow's op registry, which custom kernel libraries extend: an unknown name needs native code from somewhere else, or is a typo-squat of a real op.",
    example: "`custom_code: \"FlexMyKernel\"`.",
    remediation: "Find out which library provides the op; add an `allow` entry of kind `tf-op` if you trust it.",
    references: &["https://ai.google.dev/edge/litert/models/ops_select"],
};

pub const FLEX_OP: Code = Code {
    id: "tflite/flex-op",
    severity: Severity::Info,
    summary: "The TFLite model runs standard TensorFlow ops through the Flex delegate.",
    detects: "Custom codes `Flex<Op>` naming known TensorFlow ops that the `tf-op` policy allows.",
    why: "Flex ops need the TensorFlow runtime (the `tensorflow` package or the select-ops library) at inference time; the ops themselves passed the TensorFlow op policy.",
    example: "`custom_code: \"FlexRFFT\"`.",
    remediation: "None needed; make sure the deployment ships the Flex delegate it expects.",
    references: &["https://ai.google.dev/edge/litert/models/ops_select"],
};

pub const FLEX_NAME_MISMATCH: Code = Code {
    id: "tflite/flex-name-mismatch",
    severity: Severity::Medium,
    summary: "A Flex operator's options name another TensorFlow op than its custom code.",
    detects: "Operators whose custom code is `Flex<A>` while the first string of their `custom_options` flexbuffer, the op the Flex delegate actually creates and runs, is `B`.",
    why: "The custom code only makes the interpreter apply the Flex delegate; the delegate runs the op named in the options (`OpNode::InitializeNodeDef`, `BuildEagerOp`). Converters write the same name in both places, so a difference is a disguise aimed at tools that read the custom code. The op that runs is judged under its own name as well.",
    example: "`custom_code: \"FlexAddV2\"` with options `[\"WriteFile\", NodeDef{op: \"NoOp\"}]`.",
    remediation: "Do not serve the model.",
    references: &["https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/delegates/flex/kernel.cc"],
};

pub const BUFFER_OUT_OF_BOUNDS: Code = Code {
    id: "tflite/buffer-out-of-bounds",
    severity: Severity::High,
    summary: "A TFLite buffer or custom-options range lies outside the file.",
    detects: "`Buffer.offset`/`size` (read when `offset > 1` and the buffer has no inline data) or a custom op's `Operator.large_custom_options_offset`/`size` (read when `offset > 1` and there are no inline `custom_options`) whose range ends past the end of the file, including ranges whose `offset + size` wraps around 2^64.",
    why: "The interpreter maps these ranges straight out of the model file; its bound check adds offset and size without checking for overflow, so a wrapping range passes it and the native loader points the tensor (or the op's options) at memory outside the model (verified with ai-edge-litert 2.3.0: such a model loads and allocates). A range merely past the end is refused by the interpreter, and means a truncated or tampered file.",
    example: "A buffer with `offset: 18446744073709551615, size: 2`.",
    remediation: "Do not load the model; re-export it.",
    references: &["https://github.com/tensorflow/tensorflow/blob/master/tensorflow/compiler/mlir/lite/schema/schema.fbs"],
};

pub const OVERLAPPING_BUFFERS: Code = Code {
    id: "tflite/overlapping-buffers",
    severity: Severity::Medium,
    summary: "Two out-of-flatbuffer data ranges of a TFLite model partly overlap.",
    detects: "Two `Buffer.offset`/`size` (or large custom options) ranges that share bytes without being the same range.",
    why: "Converters write each range once; overlapping ranges make one tensor's bytes another's, a way to smuggle data past tools that read each range separately.",
    example: "Buffer 1 at 4096 (size 1024) and buffer 2 at 4608 (size 1024).",
    remediation: "Re-export the model.",
    references: &[],
};

pub const UNSUPPORTED_VERSION: Code = Code {
    id: "tflite/unsupported-version",
    severity: Severity::Low,
    summary: "The TFLite model declares a schema version other than 3, or lacks the TFL3 identifier.",
    detects: "`Model.version` different from 3 (the interpreter refuses such a model), or bytes 4..8 other than `TFL3` in a file read as TFLite (verifying loaders refuse it, non-verifying ones read it anyway).",
    why: "Not a model today's runtimes load as published; tools that read it anyway may read it differently.",
    example: "`version: 2`.",
    remediation: "Re-convert the model with a current converter.",
    references: &[],
};

pub const MALFORMED: Code = Code {
    id: "tflite/malformed",
    severity: Severity::High,
    summary: "The TFLite flatbuffer cannot be read, or the interpreter would refuse its structure.",
    detects: "What the FlatBuffers verifier rejects: offsets, vtables, vectors or strings that run past the end of the file, vtables of an odd size, misaligned tables, fields or vectors, strings without their terminating NUL (every table the schema reaches is checked, options tables by their header); what the interpreter refuses: operators whose `opcode_index` or tensors whose `buffer` index does not exist, a model without subgraphs, tensors whose byte count overflows, constants smaller than their shape, builtin codes no interpreter registers; Flex op options that do not read; and what crashes it: a stock custom op (`TFLite_Detection_PostProcess`, `Mfcc`, `AudioSpectrogram`, `NumericVerify`) used without the options its kernel parses.",
    why: "Not every loader verifies a model before reading it (TFLite Micro's `GetModel`, the C++ `FlatBufferModel::BuildFromBuffer`), so what the verifier rejects is what an unverified native loader reads out of bounds. What could not be read was not checked.",
    example: "A root offset that points past the end of the file.",
    remediation: "Do not load the model; re-convert it.",
    references: &["https://github.com/tensorflow/tensorflow/blob/master/tensorflow/compiler/mlir/lite/schema/schema.fbs"],
};

pub const METADATA: Code = Code {
    id: "tflite/metadata",
    severity: Severity::Info,
    summary: "The TFLite model carries metadata entries or appended associated files.",
    detects: "The members of a zip of associated files appended to the model (TFLite Support metadata), or `Model.metadata` entries other than the ones converters write routinely (`min_runtime_version`, `CONVERSION_METADATA`, `TFLITE_METADATA`, `reduced_precision_support`); the metadata names are listed either way.",
    why: "Associated files (label maps, vocabularies, sometimes more) travel inside the model file; each member is scanned like any zip member and reported under its own codes.",
    example: "A model with `labels.txt` appended as a zip member.",
    remediation: "None needed; review findings reported for the members.",
    references: &["https://ai.google.dev/edge/litert/models/metadata"],
};

pub static CODES: &[&Code] = &[
    &CUSTOM_OP,
    &FLEX_DANGEROUS_OP,
    &FLEX_UNKNOWN_OP,
    &FLEX_OP,
    &FLEX_NAME_MISMATCH,
    &BUFFER_OUT_OF_BOUNDS,
    &OVERLAPPING_BUFFERS,
    &UNSUPPORTED_VERSION,
    &MALFORMED,
    &METADATA,
];

/// Content up to this size is read into memory; larger content is read in pages.
const MAX_IN_MEMORY: u64 = 64 * 1024 * 1024;

/// The custom-op policy compiled from the signature database (`tflite-custom-op` entries).
#[derive(Debug, Clone, Default)]
pub struct TflitePolicy {
    pub custom_ops: RuleSet,
}

impl TflitePolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self {
            custom_ops: RuleSet::from_db(db, "tflite-custom-op"),
        }
    }
}

/// The step budget of a flatbuffer walk over `len` bytes: every table and vector element takes
/// at least four bytes, so a model that is not aliasing its own tables needs fewer than `len / 4`
/// steps; twice that plus a floor leaves room for legitimate sharing.
pub fn step_budget(len: u64) -> u64 {
    (len / 2).saturating_add(1_000_000)
}

/// Runs `f` over a flatbuffer reader of `content` (in memory when small, paged otherwise).
/// The finding for a flatbuffer (TFLite or ORT, `what`) that could not be read to the end: a
/// read budget that ran out is inconclusive, anything else is `malformed`.
pub fn read_error(a: &Artifact, what: &str, malformed: &'static Code, e: FbError, r: &mut Sink) {
    r.push(match e {
        FbError::Budget { steps } => Finding::new(
            &crate::codes::engine::BUDGET_EXCEEDED,
            a.location.clone(),
            format!("the {what} flatbuffer needs more than {steps} reads of tables and vector elements; the rest was not examined"),
        )
        .evidence("limit", format!("{}-steps", what.to_ascii_lowercase())),
        e => Finding::new(
            malformed,
            a.location.clone(),
            format!("the {what} flatbuffer does not read: {e}"),
        )
        .evidence("error", e.to_string()),
    });
}

pub fn with_reader<T>(content: &Content, f: impl FnOnce(&Reader<'_>) -> T) -> io::Result<T> {
    let budget = step_budget(content.len());
    if content.len() <= MAX_IN_MEMORY {
        if let Some(bytes) = content.read_all(MAX_IN_MEMORY)? {
            let src: &[u8] = &bytes;
            return Ok(f(&Reader::new(&src, budget)));
        }
    }
    let pos = content.positioned()?;
    let paged = Paged::new(content.len(), |at, n| pos.read_at(at, n));
    let src: &dyn Source = &paged;
    Ok(f(&Reader::new(src, budget)))
}

pub struct TfliteScanner;

impl Scanner for TfliteScanner {
    fn id(&self) -> &'static str {
        "tflite"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Tflite]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let mut m = Model::default();
        let res = with_reader(&a.content, |r| tfl::parse(r, &mut m))?;
        report(a, cx, &m, res.err(), out)?;
        Ok(())
    }
}

fn report(
    a: &Artifact,
    cx: &dyn ScannerContext,
    m: &Model,
    err: Option<FbError>,
    r: &mut Sink,
) -> Result<(), ScanError> {
    if !m.identifier_ok {
        r.push(Finding::new(
            &UNSUPPORTED_VERSION,
            a.location.clone(),
            "bytes 4..8 are not the TFLite file identifier TFL3 (verifying loaders refuse the file; it was read as TFLite anyway)",
        ));
    }
    match err {
        Some(e) => read_error(a, "TFLite", &MALFORMED, e, r),
        None => {
            if m.version != tfl::SCHEMA_VERSION {
                r.push(
                    Finding::new(
                        &UNSUPPORTED_VERSION,
                        a.location.clone(),
                        format!(
                            "schema version {} (the interpreter accepts {} only)",
                            m.version,
                            tfl::SCHEMA_VERSION
                        ),
                    )
                    .evidence("version", m.version.to_string()),
                );
            }
        }
    }
    for i in &m.issues {
        r.push(Finding::new(
            &MALFORMED,
            a.location.at(i.at),
            i.message.clone(),
        ));
    }
    ops(a, cx, m, r);
    ranges(a, m, r);
    metadata(a, m, r)?;
    Ok(())
}

/// Per op name: (operator codes naming it, operators using them).
type OpTally = BTreeMap<String, (u64, u64)>;

/// One TensorFlow op the Flex delegate would run.
#[derive(Default)]
struct FlexHit {
    /// The custom codes (`Flex…`) of the operators that run it.
    custom_codes: BTreeSet<String>,
    /// `NodeDef.op` values in those operators' options.
    node_def_ops: BTreeSet<String>,
    uses: u64,
}

/// The TensorFlow ops the Flex delegate would run, by name: the name in each operator's options
/// (what `OpNode::BuildEagerOp` creates), else the custom code's suffix. Options naming another op
/// than the custom code are reported on their own.
fn flex_ops(a: &Artifact, m: &Model, r: &mut Sink) -> BTreeMap<String, FlexHit> {
    let mut flex: BTreeMap<String, FlexHit> = BTreeMap::new();
    let mut used: BTreeSet<u32> = BTreeSet::new();
    for fo in &m.flex_operators {
        let Some(code) = m.op_codes.get(fo.opcode_index as usize) else {
            continue;
        };
        let Some(suffix) = code.flex_op() else {
            continue;
        };
        used.insert(fo.opcode_index);
        let custom_code = code.custom.as_deref().unwrap_or_default().to_owned();
        let where_ = format!("operator {} of subgraph {}", fo.operator, fo.subgraph);
        let (name, node_def_op) = match &fo.options {
            tfl::FlexOptions::Op { name, node_def } => {
                let op = crate::proto::tensorflow::NodeDef::decode(node_def.as_slice())
                    .ok()
                    .map(|n| n.op)
                    .filter(|o| !o.is_empty());
                (name.clone(), op)
            }
            tfl::FlexOptions::Absent => (suffix.to_owned(), None),
            tfl::FlexOptions::Unreadable(e) => {
                r.push(
                    Finding::new(
                        &MALFORMED,
                        a.location.clone(),
                        format!("the options of Flex op {custom_code} ({where_}) do not read: {e}"),
                    )
                    .evidence("custom_code", clip(&custom_code)),
                );
                (suffix.to_owned(), None)
            }
        };
        if name != suffix {
            r.push(
                Finding::new(
                    &FLEX_NAME_MISMATCH,
                    a.location.clone(),
                    format!(
                        "{where_} has custom code {} but its options make the Flex delegate run {}",
                        clip(&custom_code),
                        clip(&name)
                    ),
                )
                .evidence("custom_code", clip(&custom_code))
                .evidence("runs", clip(&name)),
            );
        }
        let hit = flex.entry(name).or_default();
        hit.custom_codes.insert(custom_code);
        hit.node_def_ops.extend(node_def_op);
        hit.uses = hit.uses.saturating_add(1);
    }
    // Flex codes no operator uses still make the interpreter apply the delegate.
    for (i, code) in m.op_codes.iter().enumerate() {
        let Some(suffix) = code.flex_op() else {
            continue;
        };
        if used.contains(&u32::try_from(i).unwrap_or(u32::MAX)) {
            continue;
        }
        let hit = flex.entry(suffix.to_owned()).or_default();
        hit.custom_codes
            .insert(code.custom.as_deref().unwrap_or_default().to_owned());
    }
    flex
}

/// Adds the `NodeDef.op` values of the options as evidence, when there are any.
fn with_node_def_ops(f: Finding, ops: &str) -> Finding {
    if ops.is_empty() {
        f
    } else {
        f.evidence("node_def_op", clip(ops))
    }
}

fn ops(a: &Artifact, cx: &dyn ScannerContext, m: &Model, r: &mut Sink) {
    let mut custom: OpTally = BTreeMap::new();
    for c in m
        .op_codes
        .iter()
        .filter(|c| c.is_custom() && c.flex_op().is_none())
    {
        let e = custom
            .entry(c.custom.as_deref().unwrap_or("").to_owned())
            .or_default();
        e.0 = e.0.saturating_add(1);
        e.1 = e.1.saturating_add(c.uses);
    }
    let flex = flex_ops(a, m, r);
    let policies = cx.policies();
    let tf = policies.tf();
    let mut allowed_flex: Vec<String> = Vec::new();
    for (op, hit) in &flex {
        let codes = hit
            .custom_codes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let uses = hit.uses;
        let node_defs = hit
            .node_def_ops
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        match tf.ops.lookup("*", op) {
            Some(rule) if rule.action == Action::Deny => r.push(
                with_node_def_ops(Finding::new(
                    &FLEX_DANGEROUS_OP,
                    a.location.clone(),
                    format!(
                        "the Flex delegate runs the TensorFlow op {op} ({}) for custom code {}, used by {uses} operator(s)",
                        rule.reason,
                        clip(&codes)
                    ),
                )
                .severity(rule.severity.unwrap_or(FLEX_DANGEROUS_OP.severity))
                .global("tensorflow.raw_ops", op.clone())
                .evidence("op", op.clone())
                .evidence("custom_code", clip(&codes)), &node_defs)
                .evidence("category", rule.category.to_string())
                .evidence("uses", uses.to_string())
                .evidence("signature", rule.source.to_string()),
            ),
            Some(_) => allowed_flex.push(op.clone()),
            None => r.push(
                Finding::new(
                    &FLEX_UNKNOWN_OP,
                    a.location.clone(),
                    format!(
                        "the Flex delegate would run {}, which is not a standard TensorFlow op (custom code {}, {uses} operator(s))",
                        clip(op),
                        clip(&codes)
                    ),
                )
                .severity(cx.unknown_severity())
                .global("tensorflow.raw_ops", clip(op))
                .evidence("op", clip(op))
                .evidence("custom_code", clip(&codes))
                .evidence("uses", uses.to_string()),
            ),
        }
    }
    if !allowed_flex.is_empty() {
        r.push(
            Finding::new(
                &FLEX_OP,
                a.location.clone(),
                format!(
                    "{} standard TensorFlow op(s) run through the Flex delegate: {}",
                    allowed_flex.len(),
                    clip(&allowed_flex.join(", "))
                ),
            )
            .evidence("ops", clip(&allowed_flex.join(","))),
        );
    }
    let policy = policies.tflite();
    // The stock kernels parse their options unconditionally (signatures/tflite.toml, category
    // "needs-options"): an operator without them crashes the interpreter while it builds the
    // model (ai-edge-litert 2.3.0 segfaults for each of the four).
    for &(idx, s, i) in &m.custom_without_options {
        let Some(name) = m
            .op_codes
            .get(idx as usize)
            .and_then(|c| c.custom.as_deref())
        else {
            continue;
        };
        if policy
            .custom_ops
            .lookup("*", name)
            .is_some_and(|rule| rule.category == "needs-options")
        {
            r.push(
                Finding::new(
                    &MALFORMED,
                    a.location.clone(),
                    format!(
                        "operator {i} of subgraph {s} runs the stock custom op {} without the options its kernel parses: the interpreter crashes while building the model",
                        clip(name)
                    ),
                )
                .evidence("custom_code", clip(name)),
            );
        }
    }
    for (name, (codes, uses)) in &custom {
        let rule = policy.custom_ops.lookup("*", name);
        let (severity, why) = match rule {
            Some(rule) if rule.action == Action::Deny => (
                rule.severity.unwrap_or(Severity::High),
                format!("denied: {}", rule.reason),
            ),
            Some(rule) => (
                rule.severity.unwrap_or(Severity::Info),
                rule.reason.to_string(),
            ),
            None => (
                cx.unknown_severity(),
                "needs a kernel registered by the application".to_owned(),
            ),
        };
        let mut f = Finding::new(
            &CUSTOM_OP,
            a.location.clone(),
            format!(
                "custom op '{}' ({why}), used by {uses} operator(s)",
                clip(name)
            ),
        )
        .severity(severity)
        .evidence("custom_code", clip(name))
        .evidence("operator_codes", codes.to_string())
        .evidence("uses", uses.to_string());
        if let Some(rule) = rule {
            f = f.evidence("signature", rule.source.to_string());
        }
        r.push(f);
    }
}

/// What an out-of-flatbuffer range belongs to, for messages.
fn ranges(a: &Artifact, m: &Model, r: &mut Sink) {
    let len = a.content.len();
    let mut inside: Vec<(u64, u64, String)> = Vec::new();
    let items = m
        .buffers
        .iter()
        .filter_map(|b| {
            b.external()
                .map(|(o, s)| (o, s, format!("buffer {}", b.index)))
        })
        .chain(
            m.large_custom_options
                .iter()
                .filter(|l| {
                    m.op_codes
                        .get(l.opcode_index as usize)
                        .is_some_and(tfl::OpCode::is_custom)
                })
                .map(|l| {
                    (
                        l.offset,
                        l.size,
                        format!(
                            "large custom options of operator {} in subgraph {}",
                            l.operator, l.subgraph
                        ),
                    )
                }),
        );
    for (offset, size, what) in items {
        match offset.checked_add(size) {
            Some(end) if end <= len => inside.push((offset, end, what)),
            end => {
                let why = if end.is_none() {
                    "offset + size wraps around 2^64 (the interpreter's own bound check passes it)"
                        .to_owned()
                } else {
                    format!("it ends past the end of the {len}-byte file")
                };
                r.push(
                    Finding::new(
                        &BUFFER_OUT_OF_BOUNDS,
                        a.location.clone(),
                        format!("{what}: offset {offset}, size {size}: {why}"),
                    )
                    .evidence("item", what)
                    .evidence("offset", offset.to_string())
                    .evidence("size", size.to_string())
                    .evidence("file_size", len.to_string()),
                );
            }
        }
    }
    inside.sort();
    let mut reach: Option<(u64, u64, &str)> = None;
    for (start, end, what) in inside.iter().filter(|(s, e, _)| e > s) {
        if let Some((ps, pe, pw)) = reach {
            if *start < pe && !(*start == ps && *end == pe) {
                r.push(
                    Finding::new(
                        &OVERLAPPING_BUFFERS,
                        a.location.at(*start),
                        format!("{what} ({start}..{end}) overlaps {pw} ({ps}..{pe})"),
                    )
                    .evidence("first", pw.to_owned())
                    .evidence("second", what.clone()),
                );
            }
        }
        if reach.is_none_or(|(_, pe, _)| *end > pe) {
            reach = Some((*start, *end, what.as_str()));
        }
    }
}

/// Metadata entries the TFLite converter and TFLite Support write routinely.
const ROUTINE_METADATA: &[&str] = &[
    "min_runtime_version",
    "CONVERSION_METADATA",
    "TFLITE_METADATA",
    "reduced_precision_support",
];

fn metadata(a: &Artifact, m: &Model, r: &mut Sink) -> Result<(), ScanError> {
    let names: Vec<&str> = m.metadata.iter().map(|(n, _)| n.as_str()).collect();
    let mut members: Vec<String> = Vec::new();
    let mut zip_note = None;
    if has_zip_trailer(&a.content)? {
        match crate::walk::read_central_directory(&a.content) {
            Ok(index) => members = index.entries.iter().map(|e| e.name.clone()).collect(),
            Err(e) => zip_note = Some(e.to_string()),
        }
    }
    // The entries converters write on every model are not worth a note on their own.
    let unusual = names.iter().any(|n| !ROUTINE_METADATA.contains(n));
    if !unusual && members.is_empty() && zip_note.is_none() {
        return Ok(());
    }
    let mut msg = match names.len() {
        1 => "1 metadata entry".to_owned(),
        n => format!("{n} metadata entries"),
    };
    if !names.is_empty() {
        let _ = write!(msg, " ({})", clip(&names.join(", ")));
    }
    if !members.is_empty() {
        let _ = write!(
            msg,
            "; {} associated file(s) appended as a zip, each scanned as a zip member",
            members.len()
        );
    }
    if let Some(e) = &zip_note {
        let _ = write!(
            msg,
            "; the file ends like a zip but its directory does not read ({e})"
        );
    }
    let mut f = Finding::new(&METADATA, a.location.clone(), msg)
        .evidence("metadata", clip(&names.join(",")));
    if !members.is_empty() {
        f = f.evidence("associated_files", clip(&members.join(",")));
    }
    r.push(f);
    Ok(())
}

fn clip(s: &str) -> String {
    const MAX: usize = 400;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}…", s.get(..end).unwrap_or_default())
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
    use crate::engine::Engine;

    #[test]
    fn budget_scales_with_size() {
        assert_eq!(step_budget(0), 1_000_000);
        assert_eq!(step_budget(4_000_000), 3_000_000);
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let e = Engine::with_defaults().unwrap();
        for bytes in [
            b"\x00\x00\x00\x00TFL3".to_vec(),
            b"\xff\xff\xff\x7fTFL3\x00\x00\x00\x00".to_vec(),
            b"\x08\x00\x00\x00TFL3\x04\x00\x00\x00".to_vec(),
        ] {
            let rep = e.scan_bytes("m.tflite", bytes);
            assert!(
                rep.findings.iter().any(|f| f.code == "tflite/malformed"),
                "{:?}",
                rep.findings
            );
        }
    }
}
