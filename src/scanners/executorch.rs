//! ExecuTorch programs (`.pte`, a FlatBuffer with file identifier `ET12`), read with
//! [`crate::formats::executorch`] the way `Program::load` and `Method::init` read them.
//!
//! An ExecuTorch program runs no Python, but what it makes the runtime run is decided by the file:
//!
//! * **delegates** hand a blob of "processed" bytes (inline in the flatbuffer, or in a data
//!   segment after it) to the backend whose `id` the delegate names: a program for a native
//!   backend (an XNNPACK graph, a Core ML package, a QNN context binary, a Vulkan shader set). The
//!   backend ids go through a policy (signatures/executorch.toml, kind `executorch-backend`): the
//!   backends ExecuTorch ships are listed at info level, unknown ones are medium, and the
//!   AOTInductor backends (`CudaBackend`, `MetalBackend`), which write a shared library from the
//!   file's named data to disk and `dlopen` it, are high. Every blob and named-data segment goes
//!   back through the engine, so a pickle, zip or program hidden there is found, and one that is a
//!   program (ELF, PE, Mach-O) is reported as native code;
//! * **operators** outside the namespaces the stock kernel libraries register need a kernel
//!   linked into the runtime; they are listed at info level so that reviewers see them;
//! * **segments** are ranges the runtime reads at `segment_base_offset + offset` (the data loaders
//!   check the end against the file; `PteDataMap` adds base and offset unchecked). Ranges past the
//!   end or wrapping around, ranges inside the flatbuffer and partly overlapping ranges are
//!   reported; bytes after the program that no segment covers (other than zero padding) are
//!   reported and scanned as embedded content.
//!
//! The runtime verifies the flatbuffer only when asked (`Verification::Minimal` is the default),
//! so a program this reader cannot read, or whose indices the runtime would trip over, is a high
//! finding.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{clip, Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::executorch::{self as et, DataRef, Layout, Program};
use crate::scanners::rules::RuleSet;
use crate::scanners::tflite::{read_error, with_reader};
use crate::scanners::{Scanner, ScannerContext};
use crate::signatures::{Action, SignatureDb};

const REFS: &[&str] = &[
    "https://github.com/pytorch/executorch/blob/main/schema/program.fbs",
    "https://docs.pytorch.org/executorch/stable/pte-file-format.html",
];

pub const DELEGATE: Code = Code {
    id: "executorch/delegate",
    severity: Severity::Info,
    summary: "The ExecuTorch program delegates work to a backend the policy knows.",
    detects: "`BackendDelegate` entries whose backend `id` is allowed by the `executorch-backend` policy (signatures/executorch.toml lists the backends the ExecuTorch repository registers), with where their processed data lives and how large it is. Each blob is scanned as embedded content.",
    why: "A delegate's processed bytes are a program for a native backend (an XNNPACK graph, a Core ML package, a QNN context binary): the runtime hands them to that backend's `init()` as they are. Reviewers should know which backends a model needs.",
    example: "Two delegates to `XnnpackBackend`, their data in segments 0 and 1.",
    remediation: "None needed; make sure the deployment ships the backends it expects.",
    references: REFS,
};

pub const UNKNOWN_BACKEND: Code = Code {
    id: "executorch/unknown-backend",
    severity: Severity::Medium,
    summary: "The ExecuTorch program hands bytes to a backend the policy does not know.",
    detects: "`BackendDelegate.id` values that the `executorch-backend` policy neither allows nor denies.",
    why: "The runtime looks the id up among the backends linked into the application (`get_backend_class`) and passes the delegate's bytes to it: native code outside the model that interprets attacker-supplied bytes, or a model that only runs with a library someone will be asked to install.",
    example: "A delegate with `id: \"MyAcceleratorBackend\"`.",
    remediation: "Find out which library provides the backend and whether you trust it; add an `allow` entry of kind `executorch-backend` if you do.",
    references: REFS,
};

pub const DANGEROUS_BACKEND: Code = Code {
    id: "executorch/dangerous-backend",
    severity: Severity::High,
    summary: "The ExecuTorch program delegates to a backend the policy denies.",
    detects: "`BackendDelegate.id` values denied by the `executorch-backend` policy: by default the AOTInductor backends `CudaBackend` and `MetalBackend`, whose `init()` writes a shared library taken from the program's named data to a temporary file and `dlopen`s it. The severity is the policy entry's.",
    why: "Loading such a program runs native code chosen by whoever produced the file, inside the inference process, before any input is given.",
    example: "A delegate with `id: \"CudaBackend\"` and a named-data segment holding an ELF shared object.",
    remediation: "Load such programs only from a build you control; rebuild them from a scanned source model.",
    references: &[
        "https://github.com/pytorch/executorch/blob/main/backends/cuda/runtime/cuda_backend.cpp",
        "https://github.com/pytorch/executorch/blob/main/backends/apple/metal/runtime/metal_backend.cpp",
    ],
};

pub const NATIVE_CODE: Code = Code {
    id: "executorch/native-code",
    severity: Severity::High,
    summary: "A delegate blob or data segment of the ExecuTorch program is a native program.",
    detects: "Delegate data (inline or in a segment), named data and unreferenced segments that start like an executable or shared library (ELF, PE, Mach-O, `#!` script).",
    why: "The AOTInductor backends `dlopen` shared libraries stored this way, and a backend that executes its blob runs it: native code of the producer's choosing, invisible to tools that only read the flatbuffer.",
    example: "Named data `aoti_cuda_blob.so` holding an x86-64 ELF shared object.",
    remediation: "Do not load the program unless you built it; rebuild it from a scanned source model.",
    references: REFS,
};

pub const CUSTOM_OP: Code = Code {
    id: "executorch/custom-op",
    severity: Severity::Info,
    summary: "The ExecuTorch program calls operators outside the stock kernel libraries.",
    detects: "Operator names (`name.overload`) whose namespace is not one the stock ExecuTorch kernel libraries register (`aten`, `executorch_prim`, `dim_order_ops`, `quantized_decomposed`), with how many kernel calls use them.",
    why: "The runtime resolves each operator in the kernel registry of the application: a custom operator needs a native kernel linked in from somewhere else, which runs with the model's tensors.",
    example: "`llama::sdpa_with_kv_cache.out` used by 32 kernel calls.",
    remediation: "Check that every custom kernel comes from a library you build or trust.",
    references: &["https://docs.pytorch.org/executorch/stable/kernel-library-custom-aten-kernel.html"],
};

pub const SEGMENT_OUT_OF_BOUNDS: Code = Code {
    id: "executorch/segment-out-of-bounds",
    severity: Severity::High,
    summary: "An ExecuTorch data segment lies outside the file.",
    detects: "`Program.segments` entries whose range (`segment_base_offset + offset`, `size`) ends past the end of the file or wraps around 2^64.",
    why: "The file data loaders refuse such a range, but the named-data map adds base and offset without an overflow check, and custom data loaders need not check at all: a wrapping range points a backend or a tensor at bytes it was never meant to read. Merely past the end means a truncated or tampered file.",
    example: "A segment with `offset: 18446744073709551488` behind a 128-byte segment base.",
    remediation: "Do not load the program; re-export it.",
    references: REFS,
};

pub const SEGMENT_OVERLAPS_PROGRAM: Code = Code {
    id: "executorch/segment-overlaps-program",
    severity: Severity::High,
    summary: "An ExecuTorch data segment overlaps the program's flatbuffer.",
    detects: "Segments whose absolute range starts before the end of the program (`program_size` of the extended header).",
    why: "The serializer places segments after the program, aligned. A segment inside the flatbuffer makes one set of bytes both program structure and a backend's input or tensor data, a disguise aimed at tools that read them separately.",
    example: "A delegate segment at absolute offset 0.",
    remediation: "Treat the file as tampered; re-export it.",
    references: REFS,
};

pub const OVERLAPPING_SEGMENTS: Code = Code {
    id: "executorch/overlapping-segments",
    severity: Severity::Medium,
    summary: "Two ExecuTorch data segments partly overlap.",
    detects: "Two segment ranges that share bytes without being the same range.",
    why: "The serializer writes each segment once; overlapping ranges make one delegate's or tensor's bytes another's, a way to smuggle data past tools that read each range separately.",
    example: "Segment 0 at 256..1280 and segment 1 at 1024..2048.",
    remediation: "Re-export the program.",
    references: REFS,
};

pub const UNACCOUNTED_DATA: Code = Code {
    id: "executorch/unaccounted-data",
    severity: Severity::Medium,
    summary: "The ExecuTorch file carries bytes that neither the program nor a segment accounts for.",
    detects: "Non-zero bytes after the program that no segment covers: between the program and the segment base, between segments, or after the last segment. High when they look like another format (pickle, zip, …); they are scanned as embedded content either way.",
    why: "Unused regions are where polyglot payloads hide: the runtime never reads them, while a pickle or zip reader pointed at the same file finds something else.",
    example: "A pickle appended after the last segment.",
    remediation: "Treat the file as tampered; re-export it from a trusted source.",
    references: REFS,
};

pub const UNSUPPORTED_VERSION: Code = Code {
    id: "executorch/unsupported-version",
    severity: Severity::Low,
    summary: "The file lacks the ExecuTorch identifier ET12.",
    detects: "A file read as an ExecuTorch program (by its `.pte` name) whose bytes 4..8 are not `ET12`; older or newer `ET..` identifiers included.",
    why: "The runtime refuses it (`Program::check_header` calls other `ET..` identifiers an incompatible version); tools that read it anyway may read it differently.",
    example: "Bytes 4..8 `ET11`.",
    remediation: "Re-export the program with a current ExecuTorch.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "executorch/malformed",
    severity: Severity::High,
    summary: "The ExecuTorch program cannot be read, or the runtime would refuse or trip over its structure.",
    detects: "What the FlatBuffers verifier rejects (offsets, vtables, vectors or strings past the end of the program, odd vtables, misalignment, strings without their NUL); what `Program::load` refuses (a file under 64 bytes, a corrupt extended header, a file shorter than the header declares, a program size past the end); what `Method::init` refuses or dereferences without a check (missing plan fields, delegates without a backend id or processed data, data or segment indices out of range, unknown data locations, compile specs without key or value, values, operators, delegates or jump targets out of range in instructions, tensors with negative or overflowing sizes or unknown scalar types, constants outside their buffer or segment, tensor lists naming non-tensors); delegate or mutable-data segments in a file without a segment base; segments past the declared segment data.",
    why: "The runtime does not verify a program unless asked (`Verification::Minimal` is the default), so what the verifier rejects is what an unverified load reads out of bounds, and a missing table it dereferences crashes the process. What could not be read was not checked.",
    example: "A delegate whose data index points past `backend_delegate_data`.",
    remediation: "Do not load the program; re-export it.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &DELEGATE,
    &UNKNOWN_BACKEND,
    &DANGEROUS_BACKEND,
    &NATIVE_CODE,
    &CUSTOM_OP,
    &SEGMENT_OUT_OF_BOUNDS,
    &SEGMENT_OVERLAPS_PROGRAM,
    &OVERLAPPING_SEGMENTS,
    &UNACCOUNTED_DATA,
    &UNSUPPORTED_VERSION,
    &MALFORMED,
];

/// Operator namespaces the stock kernel libraries register: the portable and optimized ATen
/// kernels, the runtime's primitive ops (`kernels/prim_ops`), dim-order copies and the quantized
/// kernels.
const STOCK_NAMESPACES: &[&str] = &[
    "aten",
    "executorch_prim",
    "dim_order_ops",
    "quantized_decomposed",
];

/// Distinct backend ids judged one by one (a hostile program can name millions).
const MAX_BACKENDS: usize = 1024;
/// Method names kept per backend for its finding.
const MAX_METHODS_LISTED: usize = 16;

/// Largest gap checked for being zero padding in one read.
const CHUNK: usize = 1 << 20;

/// The backend policy compiled from the signature database (`executorch-backend` entries).
#[derive(Debug, Clone, Default)]
pub struct ExecuTorchPolicy {
    pub backends: RuleSet,
}

impl ExecuTorchPolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self {
            backends: RuleSet::from_db(db, "executorch-backend"),
        }
    }
}

pub struct ExecuTorchScanner;

impl Scanner for ExecuTorchScanner {
    fn id(&self) -> &'static str {
        "executorch"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::ExecuTorch]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let len = a.content.len();
        let head = a
            .content
            .read_at(0, usize::try_from(et::HEAD_BYTES).unwrap_or(64))?;
        let layout = et::layout(&et::read_header(&head), len);
        for why in &layout.refusals {
            out.push(malformed(a, 0, why.clone()));
        }
        let program_bytes = a.content.slice(0, layout.program_len)?;
        let mut p = Program::default();
        let res = with_reader(&program_bytes, |r| et::parse(r, &mut p))?;
        if p.identifier != Some(et::IDENTIFIER) {
            let id = p
                .identifier
                .map(|b| String::from_utf8_lossy(&b).escape_debug().to_string())
                .unwrap_or_default();
            out.push(
                Finding::new(
                    &UNSUPPORTED_VERSION,
                    a.location.clone(),
                    format!("bytes 4..8 are {id:?}, not the ExecuTorch identifier ET12 (the runtime refuses the file; it was read as a program anyway)"),
                )
                .evidence("identifier", id),
            );
        }
        if let Err(e) = res {
            read_error(a, "ExecuTorch", &MALFORMED, e, out);
        }
        for i in &p.issues {
            out.push(malformed(a, i.at, i.message.clone()));
        }
        let segments = segments(a, &p, &layout, out);
        backends(a, cx, &p, &segments, &layout, out);
        operators(a, &p, out);
        blobs(a, cx, &p, &segments, layout.program_len, out)?;
        unaccounted(a, cx, &layout, &segments, out)?;
        Ok(())
    }
}

fn malformed(a: &Artifact, at: u64, why: String) -> Finding {
    Finding::new(&MALFORMED, a.location.at(at), why)
}

/// Each segment's absolute range in the file, when the runtime can load it.
type Ranges = Vec<Option<(u64, u64)>>;

/// Checks every segment against the file, the program and the other segments; returns their
/// absolute ranges.
fn segments(a: &Artifact, p: &Program, l: &Layout, out: &mut Sink) -> Ranges {
    let len = a.content.len();
    // `Program::LoadSegment` (delegate data) and `load_mutable_subsegment_into` refuse every
    // segment when the base is 0; the constant segment and the named-data map add the base
    // unchecked, so their segments are read at `offset` from the start of the file then.
    if l.segment_base == 0 && !p.mutable_segments.is_empty() {
        out.push(malformed(
            a,
            0,
            format!(
                "the program has {} mutable data segment table(s) but the file has no segment base (no extended header, or a zero segment_base_offset): the runtime loads none of them",
                p.mutable_segments.len()
            ),
        ));
    }
    let mut ranges: Ranges = Vec::with_capacity(p.segments.len());
    for (i, &(offset, size)) in p.segments.iter().enumerate() {
        let start = l.segment_base.checked_add(offset);
        let end = start.and_then(|s| s.checked_add(size));
        let range = match (start, end) {
            (Some(s), Some(e)) if e <= len => Some((s, e)),
            _ => {
                let why = if end.is_none() {
                    "segment_base_offset + offset + size wraps around 2^64".to_owned()
                } else {
                    format!("it ends past the end of the {len}-byte file")
                };
                out.push(
                    Finding::new(
                        &SEGMENT_OUT_OF_BOUNDS,
                        a.location.clone(),
                        format!(
                            "segment {i}: offset {offset}, size {size} (segment base {}): {why}",
                            l.segment_base
                        ),
                    )
                    .evidence("segment", i.to_string())
                    .evidence("offset", offset.to_string())
                    .evidence("size", size.to_string())
                    .evidence("file_size", len.to_string()),
                );
                None
            }
        };
        if let Some((s, e)) = range {
            if s < l.program_len && e > s {
                out.push(
                    Finding::new(
                        &SEGMENT_OVERLAPS_PROGRAM,
                        a.location.at(s),
                        format!(
                            "segment {i} ({s}..{e}) overlaps the program's flatbuffer (0..{})",
                            l.program_len
                        ),
                    )
                    .evidence("segment", i.to_string()),
                );
            }
            if let Some(declared) = l.declared_end.filter(|d| e > *d) {
                out.push(malformed(
                    a,
                    s,
                    format!("segment {i} ({s}..{e}) ends past the segment data the extended header declares (..{declared})"),
                ));
            }
        }
        ranges.push(range);
    }
    let mut inside: Vec<(u64, u64, usize)> = ranges
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|(s, e)| (s, e, i)))
        .filter(|(s, e, _)| e > s)
        .collect();
    inside.sort_unstable();
    let mut reach: Option<(u64, u64, usize)> = None;
    for &(start, end, i) in &inside {
        if let Some((ps, pe, pi)) = reach {
            if start < pe && !(start == ps && end == pe) {
                out.push(
                    Finding::new(
                        &OVERLAPPING_SEGMENTS,
                        a.location.at(start),
                        format!("segment {i} ({start}..{end}) overlaps segment {pi} ({ps}..{pe})"),
                    )
                    .evidence("first", pi.to_string())
                    .evidence("second", i.to_string()),
                );
            }
        }
        if reach.is_none_or(|(_, pe, _)| end > pe) {
            reach = Some((start, end, i));
        }
    }
    ranges
}

/// Where a delegate's bytes are in the file, when they can be read.
fn delegate_range(p: &Program, d: &et::Delegate, ranges: &Ranges) -> Option<(u64, u64)> {
    match d.data? {
        DataRef::Inline(i) => p
            .inline_data
            .get(i as usize)
            .map(|&(pos, n)| (pos, pos.saturating_add(n))),
        DataRef::Segment(i) => ranges.get(i as usize).copied().flatten(),
        DataRef::Unknown { .. } => None,
    }
}

/// Per backend id: delegates, methods, bytes and where the data lives.
#[derive(Default)]
struct BackendUse {
    delegates: u64,
    methods: BTreeSet<String>,
    bytes: u64,
    inline: u64,
    in_segments: u64,
}

fn backends(
    a: &Artifact,
    cx: &dyn ScannerContext,
    p: &Program,
    ranges: &Ranges,
    l: &Layout,
    out: &mut Sink,
) {
    let mut by_id: BTreeMap<&str, BackendUse> = BTreeMap::new();
    let mut omitted: u64 = 0;
    for d in &p.delegates {
        let Some(id) = d.id.as_deref() else { continue };
        if by_id.len() >= MAX_BACKENDS && !by_id.contains_key(id) {
            omitted = omitted.saturating_add(1);
            continue;
        }
        let u = by_id.entry(id).or_default();
        u.delegates = u.delegates.saturating_add(1);
        if let Some(m) = p.methods.get(d.plan as usize) {
            if u.methods.len() < MAX_METHODS_LISTED {
                u.methods.insert(m.clone());
            }
        }
        match d.data {
            Some(DataRef::Inline(_)) => u.inline = u.inline.saturating_add(1),
            Some(DataRef::Segment(i)) => {
                u.in_segments = u.in_segments.saturating_add(1);
                if l.segment_base == 0 && (i as usize) < p.segments.len() {
                    out.push(malformed(
                        a,
                        0,
                        format!(
                            "delegate {} of execution plan {} ({}) reads segment {i}, which the runtime cannot load without a segment base",
                            d.index,
                            d.plan,
                            clip(id, 200)
                        ),
                    ));
                }
            }
            _ => {}
        }
        if let Some((s, e)) = delegate_range(p, d, ranges) {
            u.bytes = u.bytes.saturating_add(e.saturating_sub(s));
        }
    }
    if omitted > 0 {
        // Not one of the listed ids: judged as unknown, the way an unlisted id would be.
        out.push(
            Finding::new(
                &UNKNOWN_BACKEND,
                a.location.clone(),
                format!("{omitted} more delegates name backend ids beyond the first {MAX_BACKENDS} distinct ones; they were not judged one by one"),
            )
            .severity(cx.unknown_severity())
            .evidence("delegates", omitted.to_string()),
        );
    }
    let policies = cx.policies();
    let policy = policies.executorch();
    for (id, u) in by_id {
        let methods = u.methods.iter().cloned().collect::<Vec<_>>().join(",");
        let what = format!(
            "{} delegate(s) in method(s) {} ({} bytes of processed data; {} inline, {} in segments)",
            u.delegates,
            clip(&methods, 200),
            u.bytes,
            u.inline,
            u.in_segments
        );
        let rule = policy.backends.lookup("*", id);
        let (code, severity, message) = match rule {
            Some(r) if r.action == Action::Deny => (
                &DANGEROUS_BACKEND,
                r.severity.unwrap_or(DANGEROUS_BACKEND.severity),
                format!("backend {} ({}): {what}", clip(id, 200), r.reason),
            ),
            Some(r) => (
                &DELEGATE,
                r.severity.unwrap_or(Severity::Info),
                format!("backend {} ({}): {what}", clip(id, 200), r.reason),
            ),
            None => (
                &UNKNOWN_BACKEND,
                cx.unknown_severity(),
                format!(
                    "backend {} is not one the policy knows: the runtime would hand its bytes to whatever backend the application registered under that name; {what}",
                    clip(id, 200)
                ),
            ),
        };
        let mut f = Finding::new(code, a.location.clone(), message)
            .severity(severity)
            .evidence("backend", clip(id, 200))
            .evidence("delegates", u.delegates.to_string())
            .evidence("bytes", u.bytes.to_string());
        if let Some(r) = rule {
            f = f.evidence("signature", r.source.to_string());
            if !r.category.is_empty() {
                f = f.evidence("category", r.category.to_string());
            }
        }
        if !p.compile_spec_keys.is_empty() {
            f = f.evidence(
                "compile_spec_keys",
                clip(&p.compile_spec_keys.join(","), 400),
            );
        }
        out.push(f);
    }
}

fn operators(a: &Artifact, p: &Program, out: &mut Sink) {
    let custom: Vec<(&String, &u64)> = p
        .operators
        .iter()
        .filter(|(name, _)| {
            let ns = name.split_once("::").map_or("", |(ns, _)| ns);
            !STOCK_NAMESPACES.contains(&ns)
        })
        .collect();
    if custom.is_empty() && p.operators_omitted == 0 {
        return;
    }
    let listed = custom
        .iter()
        .map(|(n, uses)| format!("{n} ({uses} call(s))"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut msg = format!(
        "{} operator(s) outside the stock kernel libraries need kernels linked into the runtime: {}",
        custom.len(),
        clip(&listed, 600)
    );
    if p.operators_omitted > 0 {
        let _ = write!(
            msg,
            "; {} more distinct operator names were not listed",
            p.operators_omitted
        );
    }
    out.push(
        Finding::new(&CUSTOM_OP, a.location.clone(), msg).evidence(
            "operators",
            clip(
                &custom
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                400,
            ),
        ),
    );
}

/// Hands every delegate blob and segment back to the engine (once per range): delegate data and
/// named data sniffed as whatever they are (backends interpret them), constant and mutable tensor
/// data as data (the runtime reads it only as numbers), segments nobody references sniffed. The
/// part of a range inside the program (reported as `segment-overlaps-program`) was read as the
/// program; only what lies after it is handed over, so a segment pointing back at the program
/// does not make the engine scan the file inside itself.
fn blobs(
    a: &Artifact,
    cx: &dyn ScannerContext,
    p: &Program,
    ranges: &Ranges,
    program_len: u64,
    out: &mut Sink,
) -> Result<(), ScanError> {
    let ranges: Ranges = ranges
        .iter()
        .map(|r| r.and_then(|(s, e)| Some((s.max(program_len), e)).filter(|(s, e)| s < e)))
        .collect();
    let ranges = &ranges;
    // (start, end) -> (member name, format hint, who uses it)
    let mut todo: BTreeMap<(u64, u64), (String, Option<Format>, String)> = BTreeMap::new();
    for d in &p.delegates {
        if let Some(r) = delegate_range(p, d, ranges) {
            let id = d.id.as_deref().unwrap_or("?");
            todo.entry(r).or_insert_with(|| {
                (
                    format!("delegate@{}", r.0),
                    None,
                    format!(
                        "delegate {} of execution plan {} ({})",
                        d.index,
                        d.plan,
                        clip(id, 200)
                    ),
                )
            });
        }
    }
    for n in &p.named_data {
        if let Some(Some(r)) = ranges.get(n.segment_index as usize) {
            todo.entry(*r).or_insert_with(|| {
                (
                    format!("named-data@{}", r.0),
                    None,
                    format!("named data {}", clip(&n.key, 200)),
                )
            });
        }
    }
    let tensor_segments = p
        .constant_segment
        .iter()
        .chain(p.mutable_segments.iter())
        .map(|s| s.segment_index)
        .collect::<BTreeSet<u32>>();
    for (i, r) in ranges.iter().enumerate() {
        let Some(r) = r else { continue };
        let tensors = u32::try_from(i).is_ok_and(|i| tensor_segments.contains(&i));
        todo.entry(*r).or_insert_with(|| {
            if tensors {
                (
                    format!("constants@{}", r.0),
                    Some(Format::Data),
                    format!("tensor data segment {i}"),
                )
            } else {
                (
                    format!("segment@{}", r.0),
                    None,
                    format!("segment {i}, which nothing references"),
                )
            }
        });
    }
    let total = todo.len();
    for (done, ((start, end), (member, hint, user))) in todo.into_iter().enumerate() {
        if end <= start {
            continue;
        }
        if !take_member(
            a,
            cx,
            total.saturating_sub(done),
            "delegate blobs and segments",
            out,
        ) {
            break;
        }
        let content = a.content.slice(start, end.saturating_sub(start))?;
        if hint.is_none() {
            let head = content.head(crate::sniff::SNIFF_LEN)?;
            if let Some(kind) = crate::sniff::program_kind(&head) {
                out.push(
                    Finding::new(
                        &NATIVE_CODE,
                        a.location.at(start),
                        format!("{user} ({start}..{end}) holds a program: {kind}"),
                    )
                    .evidence("kind", kind)
                    .evidence("holder", user.clone()),
                );
            }
        }
        cx.scan_nested(a, &member, content, hint, out);
    }
    Ok(())
}

/// Counts one nested scan against the run's member budget, as an archive member counts; when it
/// is spent, says how many of the remaining `what` were not scanned.
fn take_member(
    a: &Artifact,
    cx: &dyn ScannerContext,
    remaining: usize,
    what: &str,
    out: &mut Sink,
) -> bool {
    if cx.take_member() {
        return true;
    }
    out.push(
        Finding::new(
            &crate::codes::engine::BUDGET_EXCEEDED,
            a.location.clone(),
            format!("member limit reached; {remaining} remaining {what} were not scanned"),
        )
        .evidence("limit", "max-members"),
    );
    false
}

/// Reports (and scans) non-zero bytes after the program that no segment covers.
fn unaccounted(
    a: &Artifact,
    cx: &dyn ScannerContext,
    l: &Layout,
    ranges: &Ranges,
    out: &mut Sink,
) -> Result<(), ScanError> {
    let len = a.content.len();
    let mut covered: Vec<(u64, u64)> = ranges.iter().flatten().copied().collect();
    covered.sort_unstable();
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    let mut cursor = l.program_len;
    for (s, e) in covered {
        if s > cursor {
            gaps.push((cursor, s));
        }
        cursor = cursor.max(e);
    }
    if len > cursor {
        gaps.push((cursor, len));
    }
    let total = gaps.len();
    for (done, (start, end)) in gaps.into_iter().enumerate() {
        let n = end.saturating_sub(start);
        let content = a.content.slice(start, n)?;
        if all_zero(&content)? {
            continue; // alignment padding
        }
        let member = format!("unaccounted@{start}");
        let head = content.head(crate::sniff::SNIFF_LEN)?;
        let hidden = crate::sniff::sniff_embedded(&head, &member);
        let what = if start < l.segment_base {
            "between the program and the first segment"
        } else if end == len {
            "at the end of the file"
        } else {
            "between segments"
        };
        let mut f = Finding::new(
            &UNACCOUNTED_DATA,
            a.location.at(start),
            format!("{n} bytes {what} ({start}..{end}) belong to no segment; scanned as embedded content"),
        )
        .evidence("length", n.to_string());
        if hidden != Format::Unknown {
            f = f
                .severity(Severity::High)
                .evidence("embedded_format", hidden.name());
            f.message = format!(
                "{n} bytes {what} ({start}..{end}) belong to no segment and look like {} (a polyglot file); scanned as embedded content",
                hidden.name()
            );
        }
        out.push(f);
        if !take_member(
            a,
            cx,
            total.saturating_sub(done),
            "unaccounted regions",
            out,
        ) {
            break;
        }
        cx.scan_nested(a, &member, content, None, out);
    }
    Ok(())
}

/// Whether `c` holds only zero bytes (streamed).
fn all_zero(c: &Content) -> std::io::Result<bool> {
    let mut r = c.open()?;
    let mut buf = vec![0u8; CHUNK.min(usize::try_from(c.len()).unwrap_or(CHUNK)).max(1)];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.get(..n).unwrap_or_default().iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )]
    use crate::engine::Engine;

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let e = Engine::with_defaults().unwrap();
        let mut long = b"\x00\x00\x00\x00ET12".to_vec();
        long.resize(80, 0);
        for bytes in [
            b"\x00\x00\x00\x00ET12".to_vec(),
            b"\xff\xff\xff\x7fET12\x00\x00\x00\x00".to_vec(),
            long,
        ] {
            let rep = e.scan_bytes("m.pte", bytes);
            assert!(
                rep.findings
                    .iter()
                    .any(|f| f.code == "executorch/malformed"),
                "{:?}",
                rep.findings
            );
        }
    }
}
