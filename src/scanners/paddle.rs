//! PaddlePaddle inference models (see [`crate::formats::paddle`]): the program's operators and
//! the parameters file's tensor records.
//!
//! * `.pdmodel`: every op of every block is listed (info `paddle/program`); op types that run
//!   host Python (`py_func`), read or write files named in their attributes (`save`,
//!   `load_combine`, …) or use the network (parameter-server and collective ops) are
//!   `paddle/dangerous-op` at the severity `signatures/paddle.toml` gives, with the attributes
//!   that name paths and endpoints as evidence. A program that does not decode, or whose blocks
//!   and block references are inconsistent, is `paddle/malformed`.
//! * `.pdiparams`: the tensor records are read one by one with their lengths checked against
//!   the file; a record that runs past the end, unknown data types, versions Paddle refuses and
//!   bytes after the last record are `paddle/malformed`.
//!
//! `.pdparams` and `.pdopt` are pickles (`paddle.save`) and are read by the pickle scanner.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::BufReader;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::paddle::{parse_program, read_params, text, ProgramDesc, MAX_PROGRAM_BYTES};
use crate::scanners::rules::{Denial, NamePolicy};
use crate::scanners::{Scanner, ScannerContext};
use crate::signatures::SignatureDb;

const REFS: &[&str] = &[
    "https://github.com/PaddlePaddle/Paddle/blob/develop/paddle/fluid/framework/framework.proto",
    "https://github.com/PaddlePaddle/Paddle/blob/develop/paddle/fluid/operators/py_func_op.cc",
];

pub const PROGRAM: Code = Code {
    id: "paddle/program",
    severity: Severity::Info,
    summary: "A PaddlePaddle program (`.pdmodel`) or parameters file (`.pdiparams`), with what it holds.",
    detects: "A `ProgramDesc` protobuf (blocks of operators) or a sequence of `save_combine` tensor records.",
    why: "Informational: the operator types decide what the program does when Paddle runs it.",
    example: "`inference.pdmodel`: 1 block, 42 ops (conv2d, relu, matmul_v2, …).",
    remediation: "None needed.",
    references: REFS,
};

pub const DANGEROUS_OP: Code = Code {
    id: "paddle/dangerous-op",
    severity: Severity::High,
    summary: "The Paddle program uses an operator that runs host Python, touches files or uses the network.",
    detects: "Operator types listed in `signatures/paddle.toml`: `py_func` (calls a Python function registered in the loading process), `save`/`save_combine`/`load`/`load_combine`/`read_file` (paths from attributes), parameter-server and collective ops (endpoints from attributes).",
    why: "These operators act on the host when the predictor runs the program: a model that writes `file_path=/etc/cron.d/x` with a `save` op, or calls back into Python, is doing more than inference.",
    example: "`{type: \"save\", attrs: {file_path: \"/home/user/.bashrc\"}}`",
    remediation: "Do not run the program unless the operator is expected; inference programs need none of these.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "paddle/malformed",
    severity: Severity::Medium,
    summary: "A Paddle program or parameters file could not be read the way Paddle reads it.",
    detects: "A program that is not a `ProgramDesc`, has no blocks, misnumbered blocks, bad parents or references to blocks that do not exist, ops without a type; a parameters record with a version Paddle refuses, an unknown data type, negative or overflowing dimensions, lengths past the end of the file, or bytes after the last record.",
    why: "What does not read cannot be judged; Paddle's C++ reader indexes blocks and allocates from these fields without further checks.",
    example: "A `.pdiparams` whose last tensor is cut off.",
    remediation: "Re-export the model with `paddle.jit.save` or `paddle.static.save_inference_model` and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&PROGRAM, &DANGEROUS_OP, &MALFORMED];

/// The signature kind of the operator policy.
pub const KIND: &str = "paddle-op";

/// Attributes whose values say where an operator reads, writes or connects.
const WHERE_ATTRS: &[&str] = &[
    "file_path",
    "filename",
    "endpoints",
    "epmap",
    "endpoint",
    "pserver_endpoints",
    "other_endpoints",
    "forward_callable_id",
    "backward_callable_id",
];

/// The operator policy (`paddle-op` entries by operator type; later entries win).
#[derive(Debug, Default)]
pub struct PaddlePolicy(NamePolicy);

impl PaddlePolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self(NamePolicy::from_db(db, KIND))
    }

    pub fn denied(&self, op: &str) -> Option<&Denial> {
        self.0.denied(op)
    }
}

pub struct PaddleScanner;

impl Scanner for PaddleScanner {
    fn id(&self) -> &'static str {
        "paddle"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::PaddleProgram, Format::PaddleParams]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        if a.format == Format::PaddleParams {
            scan_params(a, out)?;
            return Ok(());
        }
        let limit = u64::try_from(MAX_PROGRAM_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let Some(bytes) = a.content.read_all(limit)? else {
            out.push(malformed(
                a,
                &format!("the program is larger than {MAX_PROGRAM_BYTES} bytes; not read"),
            ));
            return Ok(());
        };
        match parse_program(&bytes) {
            Ok(p) => scan_program(&p, a, cx, out),
            Err(e) => out.push(malformed(a, &e.to_string())),
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn scan_program(p: &ProgramDesc, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let policy = cx.policies().paddle();
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    let mut ops = 0u64;
    for (bi, block) in p.blocks.iter().enumerate() {
        for (oi, op) in block.ops.iter().enumerate() {
            ops = ops.saturating_add(1);
            let ty = text(op.r#type.as_ref());
            let n = types.entry(ty.clone()).or_default();
            *n = n.saturating_add(1);
            let Some(rule) = policy.denied(&ty) else {
                continue;
            };
            let mut f = Finding::new(
                &DANGEROUS_OP,
                a.location.clone(),
                format!("op {oi} of block {bi} is {ty}: {}", rule.reason),
            )
            .severity(rule.severity)
            .evidence("op", ty.clone())
            .evidence("block", bi.to_string())
            .evidence("category", rule.category.clone());
            for at in &op.attrs {
                let name = text(at.name.as_ref());
                if !WHERE_ATTRS.contains(&name.as_str()) {
                    continue;
                }
                let value = match (&at.s, at.strings.is_empty(), at.i, at.l) {
                    (Some(s), _, _, _) => String::from_utf8_lossy(s).into_owned(),
                    (None, false, _, _) => at
                        .strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<Vec<_>>()
                        .join(","),
                    (None, true, Some(i), _) => i.to_string(),
                    (None, true, None, Some(l)) => l.to_string(),
                    _ => continue,
                };
                f = f.evidence(name, crate::finding::clip(&value, 256));
            }
            out.push(f);
        }
    }
    let listed = types
        .iter()
        .take(40)
        .map(|(t, n)| format!("{t}×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(
        Finding::new(
            &PROGRAM,
            a.location.clone(),
            format!(
                "Paddle program: {} blocks, {ops} ops ({listed}{})",
                p.blocks.len(),
                if types.len() > 40 { ", …" } else { "" }
            ),
        )
        .evidence("blocks", p.blocks.len().to_string())
        .evidence("ops", ops.to_string())
        .evidence(
            "op-types",
            types.keys().cloned().collect::<Vec<_>>().join(" "),
        ),
    );
}

fn scan_params(a: &Artifact, out: &mut Sink) -> Result<(), ScanError> {
    let len = a.content.len();
    let src = BufReader::with_capacity(1 << 16, a.content.open()?);
    match read_params(src, len) {
        Ok(t) => {
            let bytes: u64 = t.iter().map(|r| r.data_bytes).fold(0, u64::saturating_add);
            out.push(
                Finding::new(
                    &PROGRAM,
                    a.location.clone(),
                    format!(
                        "Paddle parameters: {} tensors, {bytes} bytes of data",
                        t.len()
                    ),
                )
                .evidence("tensors", t.len().to_string())
                .evidence("data-bytes", bytes.to_string()),
            );
        }
        Err(e) => out.push(malformed(a, &e.to_string())),
    }
    Ok(())
}
