//! Apache MXNet models (see [`crate::formats::mxnet`]): symbol graphs (`*-symbol.json`), whose
//! `Custom` nodes run Python registered under their `op_type` and whose `_Native`/`_NDArray`
//! nodes call C callbacks through a pointer stored in the file; and NDArray lists (`.params`),
//! whose counts, shapes and sizes the loader allocates before reading.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{clip, Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::mxnet::{self as mx, CodeNode, Problem};
use crate::scanners::code::lenient;
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://mxnet.apache.org/versions/1.9.1/api/python/docs/api/symbol/index.html",
    "https://github.com/apache/mxnet/blob/master/src/operator/custom/custom.cc",
    "https://github.com/apache/mxnet/blob/master/src/ndarray/ndarray.cc",
];

pub const SYMBOL: Code = Code {
    id: "mxnet/symbol",
    severity: Severity::Info,
    summary: "An MXNet symbol graph and the ops it uses.",
    detects: "NNVM graph JSON (`{\"nodes\": [{\"op\": …}]}`, `*-symbol.json`), recognised by content whatever its name: node count, op counts, MXNet version.",
    why: "Informational: every node (and subgraph) was read and its op checked.",
    example: "`resnet-symbol.json` with 200 nodes of 8 ops.",
    remediation: "None needed.",
    references: REFS,
};

pub const CUSTOM_OP: Code = Code {
    id: "mxnet/custom-op",
    severity: Severity::Medium,
    summary: "The MXNet graph uses a Custom op, which runs Python code outside the model.",
    detects: "Nodes with op `Custom`, and the `op_type` naming the `CustomOpProp` they run.",
    why: "MXNet looks `op_type` up among the Python classes registered with `mx.operator.register` in the loading process and runs them with the node's attributes: code that is not in the model, and that someone will be asked to install to make it load.",
    example: "`{\"op\": \"Custom\", \"attrs\": {\"op_type\": \"my_softmax\"}}`.",
    remediation: "Find out which package registers the op and whether you trust it.",
    references: REFS,
};

pub const NATIVE_CALLBACK: Code = Code {
    id: "mxnet/native-callback",
    severity: Severity::Critical,
    summary: "The MXNet graph calls native callbacks through a pointer stored in the file.",
    detects: "Nodes with op `_Native` or `_NDArray`, whose `info` attribute MXNet parses as the address of a struct of C function pointers.",
    why: "When the graph runs, MXNet calls the functions found at that address: a file can direct the process to any code or crash it. Only the deprecated in-process Python frontend ever built these nodes; no exported model has them.",
    example: "`{\"op\": \"_Native\", \"attrs\": {\"info\": \"140737488355328\"}}`.",
    remediation: "Do not load the graph.",
    references: &["https://github.com/apache/mxnet/blob/master/src/operator/custom/native_op-inl.h"],
};

pub const PARAMS: Code = Code {
    id: "mxnet/params",
    severity: Severity::Info,
    summary: "An MXNet NDArray list (`.params`) and what it holds.",
    detects: "NDArray list files (`0x112` magic), recognised by content whatever their name: array count, names, dtypes and data bytes.",
    why: "Informational: every array's header and size was checked against the file.",
    example: "`model-0000.params` with 50 float32 arrays named `arg:…`/`aux:…`.",
    remediation: "None needed.",
    references: REFS,
};

pub const OVERSIZED: Code = Code {
    id: "mxnet/oversized",
    severity: Severity::High,
    summary: "The MXNet NDArray list declares counts or sizes larger than the file.",
    detects: "Array or name counts, shape ranks, array sizes (shape × dtype) or name lengths that cannot fit in the bytes that remain, and element counts that overflow.",
    why: "MXNet's loader resizes its vectors and allocates each array from these numbers before reading: the file alone decides how much memory the loading process takes. No writer produces them.",
    example: "An array of shape `[2^40, 2^20]` in a 1 KiB file.",
    remediation: "Do not load the file; re-export the parameters.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "mxnet/malformed",
    severity: Severity::Medium,
    summary: "An MXNet file does not read, or MXNet would refuse it.",
    detects: "Symbol JSON that does not parse, nodes without an op, inputs naming nodes that do not exist; NDArray lists that are truncated, use unknown storage types or dtypes, or whose name count is neither 0 nor the array count.",
    why: "What could not be read was not checked, and another reader may read it differently.",
    example: "A `.params` file cut off in the middle of an array.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub const TRAILING_DATA: Code = Code {
    id: "mxnet/trailing-data",
    severity: Severity::Low,
    summary: "Bytes follow the names of an MXNet NDArray list.",
    detects: "Bytes after the last name of a `.params` file.",
    why: "MXNet never reads them; they can carry a second payload for another reader (a polyglot file).",
    example: "A zip appended to a `.params` file.",
    remediation: "Re-export the parameters.",
    references: &[],
};

pub static CODES: &[&Code] = &[
    &SYMBOL,
    &CUSTOM_OP,
    &NATIVE_CALLBACK,
    &PARAMS,
    &OVERSIZED,
    &MALFORMED,
    &TRAILING_DATA,
];

/// Symbol graphs are parsed whole.
const MAX_SYMBOL: u64 = 256 * 1024 * 1024;

/// Code nodes listed per graph.
const MAX_REPORTED: usize = 50;

pub struct MxnetScanner;

impl Scanner for MxnetScanner {
    fn id(&self) -> &'static str {
        "mxnet"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::MxnetSymbol, Format::MxnetParams]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(
        &self,
        a: &Artifact,
        _cx: &dyn ScannerContext,
        out: &mut Sink,
    ) -> Result<(), ScanError> {
        if a.format == Format::MxnetParams {
            return params(a, out);
        }
        symbol(a, out)
    }
}

fn report(a: &Artifact, problems: Vec<Problem>, out: &mut Sink) {
    for p in problems {
        let code = match p {
            Problem::Unsafe(_) => &OVERSIZED,
            Problem::Malformed(_) | Problem::Unchecked(_) => &MALFORMED,
        };
        out.push(Finding::new(code, a.location.clone(), p.to_string()));
    }
}

fn params(a: &Artifact, out: &mut Sink) -> Result<(), ScanError> {
    let pos = a.content.positioned()?;
    let read = |at: u64, n: usize| pos.read_at(at, n);
    let (p, problems) = mx::read_params(a.content.len(), &read)?;
    out.push(
        Finding::new(
            &PARAMS,
            a.location.clone(),
            format!(
                "MXNet NDArray list: {} arrays ({} bytes), names [{}]",
                p.arrays,
                p.data_bytes,
                clip(&p.names.join(", "), 200)
            ),
        )
        .evidence("arrays", p.arrays.to_string())
        .evidence("data-bytes", p.data_bytes.to_string())
        .evidence("dtypes", p.dtypes.join(",")),
    );
    if problems.is_empty() && p.trailing > 0 {
        out.push(
            Finding::new(
                &TRAILING_DATA,
                a.location.clone(),
                format!("{} bytes follow the names", p.trailing),
            )
            .evidence("bytes", p.trailing.to_string()),
        );
    }
    report(a, problems, out);
    Ok(())
}

fn symbol(a: &Artifact, out: &mut Sink) -> Result<(), ScanError> {
    let Some(bytes) = a.content.read_all(MAX_SYMBOL)? else {
        return Err(ScanError::Budget(format!(
            "MXNet symbol graph larger than {MAX_SYMBOL} bytes"
        )));
    };
    let v = match lenient::parse_json(&bytes) {
        Ok((v, _)) => v,
        Err(e) => {
            out.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                format!("the symbol graph does not parse: {e}"),
            ));
            return Ok(());
        }
    };
    let (s, problems) = mx::check_symbol(&v);
    let mut ops: Vec<(&String, &usize)> = s.ops.iter().collect();
    ops.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    let top: Vec<String> = ops
        .iter()
        .take(12)
        .map(|(o, n)| format!("{o}×{n}"))
        .collect();
    let mut f = Finding::new(
        &SYMBOL,
        a.location.clone(),
        format!(
            "MXNet symbol graph: {} nodes, {} ops ({})",
            s.nodes,
            s.ops.len(),
            top.join(", ")
        ),
    )
    .evidence("nodes", s.nodes.to_string());
    if let Some(v) = &s.version {
        f = f.evidence("mxnet-version", v.clone());
    }
    out.push(f);
    for c in s.code.iter().take(MAX_REPORTED) {
        out.push(match c {
            CodeNode::Custom { node, op_type } => Finding::new(
                &CUSTOM_OP,
                a.location.clone(),
                format!(
                    "node {node:?} runs the Python custom op {:?} registered in the loading process",
                    op_type.as_deref().unwrap_or("(no op_type)")
                ),
            )
            .evidence("node", node.clone())
            .evidence("op-type", op_type.clone().unwrap_or_default()),
            CodeNode::Callback { node, op, info } => Finding::new(
                &NATIVE_CALLBACK,
                a.location.clone(),
                format!(
                    "node {node:?} ({op}) calls the C callbacks at address {} taken from the file",
                    info.as_deref().unwrap_or("(missing)")
                ),
            )
            .evidence("node", node.clone())
            .evidence("op", op.clone()),
        });
    }
    report(a, problems, out);
    Ok(())
}
