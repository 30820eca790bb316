//! ONNX models (`ModelProto`, decoded with prost from the vendored `onnx-ml.proto`).
//!
//! ONNX graphs do not run Python, but loading one can still reach outside the file:
//!
//! * **external data**: a tensor's `external_data` `location` is a path the loader opens next to
//!   the model (and `save_external_data` writes). Absolute paths, `..` segments and symbolic links
//!   read or overwrite arbitrary files (CVE-2022-25882, CVE-2024-27318, CVE-2025-51480 family);
//! * **custom operator domains**: nodes in a domain outside the ONNX standard need a custom-op
//!   library (native code) registered by the runtime;
//! * **subgraphs** (`If`/`Loop`/`Scan` graph attributes, model-local functions, training graphs)
//!   hide nodes from tools that look at the main graph only, so all of them are walked.
//!
//! Memory: prost decodes a message into memory, so models up to [`MAX_DIRECT_DECODE`] bytes are
//! read and decoded whole. Larger models (ONNX files reach 2 GB) are streamed: the top-level
//! protobuf fields are walked with a bounds-checked reader, the bulky tensor payload fields
//! (`raw_data`, `float_data`, … of every `TensorProto`, wherever it sits: initializers, `Constant`
//! attributes, sparse tensors, subgraphs) are skipped with a seek, and the remaining structure is
//! re-encoded and decoded. Every length is checked against the bytes that remain in its enclosing
//! message before anything is read, so a declared size larger than the file is a finding, never
//! an allocation.

#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use prost::Message;

use crate::artifact::{Artifact, Content, ReadSeek};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::proto::onnx::{
    AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto,
    TensorProto,
};
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

/// Models up to this size are decoded directly; larger ones are streamed (see module docs).
pub const MAX_DIRECT_DECODE: u64 = 256 * 1024 * 1024;
/// Largest re-encoded structure (the model without tensor payloads) accepted when streaming.
pub const MAX_REDUCED: u64 = 256 * 1024 * 1024;
/// Protobuf nesting accepted when streaming (prost's own decode limit is 100).
const MAX_NESTING: u32 = 100;
/// Subgraph recursion while analysing.
const MAX_GRAPH_DEPTH: u32 = 64;

/// Operator domains defined by the ONNX standard.
pub const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

/// Domains of widely deployed runtimes and converters: listed at info level.
pub const VENDOR_DOMAINS: &[&str] = &[
    "com.microsoft",
    "com.microsoft.nchwc",
    "com.microsoft.experimental",
    "com.microsoft.dml",
    "com.ms.internal.nhwc",
    "ai.onnx.contrib",
    "org.pytorch.aten",
    "org.openvinotoolkit",
    "com.intel.ai",
    "pkg.onnxscript.torch_lib",
    "pkg.onnxscript.torch_lib.common",
];

pub struct OnnxScanner;

pub const EXTERNAL_DATA_TRAVERSAL: Code = Code {
    id: "onnx/external-data-path-traversal",
    severity: Severity::Critical,
    summary: "A tensor's external data location escapes the model directory.",
    detects: "`external_data` `location` values that are absolute (`/etc/passwd`, `C:\\…`, `\\\\server\\share`), contain `..` segments, or (for a model on disk) resolve outside the model's directory, including through symbolic links.",
    why: "ONNX loaders open `location` relative to the model file, and `onnx.save`/`save_external_data` write to it. A crafted location reads arbitrary files into tensors (exfiltration through model outputs) or overwrites files when the model is re-saved (CVE-2022-25882, CVE-2024-27318, CVE-2025-51480).",
    example: "`external_data { key: \"location\" value: \"../../../../etc/passwd\" }`",
    remediation: "Do not load or re-save the model. External data files must be plain relative names next to the model.",
    references: &["CVE-2022-25882", "CVE-2024-27318", "CVE-2025-51480"],
};

pub const EXTERNAL_DATA_SYMLINK: Code = Code {
    id: "onnx/external-data-symlink",
    severity: Severity::High,
    summary: "A tensor's external data file is a symbolic link.",
    detects: "For a model on disk, an `external_data` location that names a symbolic link (even one that currently points inside the model directory).",
    why: "Links are how traversal checks on the name are bypassed: the loader follows the link to wherever it points when the model is loaded (CVE-2024-27318). onnx ≥ 1.16 refuses them.",
    example: "`weights.bin -> /home/user/.ssh/id_rsa` next to `model.onnx`.",
    remediation: "Replace the link with the real data file.",
    references: &["CVE-2024-27318"],
};

pub const EXTERNAL_DATA_BOUNDS: Code = Code {
    id: "onnx/external-data-out-of-bounds",
    severity: Severity::Medium,
    summary: "A tensor's external data range does not fit the referenced file, or the reference is malformed.",
    detects: "An `offset`/`length` beyond the size of the external data file, non-numeric or negative offsets and lengths, a missing `location`, or `data_location = EXTERNAL` without external data entries. A missing external file is reported at low severity.",
    why: "The model does not load as published; out-of-range reads have caused memory-safety bugs in loaders, and a model whose weights are missing cannot be checked.",
    example: "`offset: 0, length: 1099511627776` for a 4 KB `weights.bin`.",
    remediation: "Re-export the model with its external data files.",
    references: &["https://onnx.ai/onnx/repo-docs/ExternalData.html"],
};

pub const CUSTOM_DOMAIN: Code = Code {
    id: "onnx/custom-operator-domain",
    severity: Severity::Medium,
    summary: "The model uses operators from a non-standard domain.",
    detects: "Nodes (in the main graph, subgraphs, functions or training graphs) whose `domain` is outside the ONNX standard domains and not defined by a model-local function. Domains of common runtimes (`com.microsoft`, `ai.onnx.contrib`, `org.pytorch.aten`, …) are reported at info level.",
    why: "Custom operators are implemented by native libraries that the runtime must load (`register_custom_ops_library`), i.e. code outside the model that the model asks to run. Unknown domains mean unknown code.",
    example: "A node `op_type: \"Exec\" domain: \"evil.ops\"`.",
    remediation: "Check that the custom-op library the model needs is trusted and pinned, or re-export without custom operators.",
    references: &["https://onnxruntime.ai/docs/reference/operators/add-custom-op.html"],
};

pub const MALFORMED: Code = Code {
    id: "onnx/malformed",
    severity: Severity::Medium,
    summary: "The ONNX protobuf cannot be decoded.",
    detects: "Truncated or invalid protobuf: lengths that run past the end of their message or the file (including tensor `raw_data` larger than the file), invalid wire types, nesting deeper than 100 levels, invalid UTF-8 in strings, or a model whose structure without tensor data exceeds 256 MB.",
    why: "What could not be decoded was not checked. Parsers differ in how they treat broken protobuf, and a declared size beyond the file is a classic way to crash or confuse readers.",
    example: "A `TensorProto.raw_data` whose length prefix says 2 GB in a 1 MB file.",
    remediation: "Re-export the model.",
    references: &["https://github.com/onnx/onnx/blob/main/onnx/onnx.proto"],
};

/// Every code this scanner reports.
pub static CODES: &[&Code] = &[
    &EXTERNAL_DATA_TRAVERSAL,
    &EXTERNAL_DATA_SYMLINK,
    &EXTERNAL_DATA_BOUNDS,
    &CUSTOM_DOMAIN,
    &MALFORMED,
];

impl Scanner for OnnxScanner {
    fn id(&self) -> &'static str {
        "onnx"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Onnx]
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
        scan(a, out)
    }
}

/// Decodes an ONNX model from `content`, bounding memory as described in the module docs.
/// `Ok(Err(msg))` is a malformed model.
pub fn decode_model(content: &Content) -> io::Result<Result<ModelProto, String>> {
    if content.len() <= MAX_DIRECT_DECODE {
        let Some(bytes) = content.read_all(MAX_DIRECT_DECODE)? else {
            return Ok(Err("model changed size while being read".into()));
        };
        return Ok(ModelProto::decode(&bytes[..]).map_err(|e| e.to_string()));
    }
    let mut rd = PbRd {
        r: content.open()?,
        pos: 0,
        len: content.len(),
        out_bytes: 0,
    };
    match rd.reduce(Kind::Model, content.len(), 0) {
        Ok(buf) => Ok(ModelProto::decode(&buf[..]).map_err(|e| e.to_string())),
        Err(PbErr::Io(e)) => Err(e),
        Err(PbErr::Bad(m)) => Ok(Err(m)),
    }
}

fn scan(a: &Artifact, r: &mut Sink) -> Result<(), ScanError> {
    let model = match decode_model(&a.content)? {
        Ok(m) => m,
        Err(msg) => {
            r.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                format!("ONNX protobuf does not decode: {msg}"),
            ));
            return Ok(());
        }
    };
    // External data resolves against the model's directory on disk: only for a top-level file
    // (however its bytes are held), never for an archive member or an image layer.
    let on_disk = Path::new(&a.location.path);
    let model_dir = (a.depth == 0 && a.location.inner.is_empty() && on_disk.is_file()).then(|| {
        on_disk
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let local_functions: Vec<(String, String)> = model
        .functions
        .iter()
        .map(|f| {
            (
                f.domain.clone().unwrap_or_default(),
                f.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut an = Analysis {
        a,
        r,
        model_dir,
        local_functions,
        domains: BTreeMap::new(),
    };
    if let Some(g) = &model.graph {
        an.graph(g, "graph", 0);
    }
    for (i, t) in model.training_info.iter().enumerate() {
        if let Some(g) = &t.initialization {
            an.graph(g, &format!("training_info[{i}].initialization"), 0);
        }
        if let Some(g) = &t.algorithm {
            an.graph(g, &format!("training_info[{i}].algorithm"), 0);
        }
    }
    for f in &model.functions {
        an.function(f);
    }
    an.report_domains();
    Ok(())
}

struct Analysis<'a> {
    a: &'a Artifact,
    r: &'a mut Sink,
    model_dir: Option<PathBuf>,
    local_functions: Vec<(String, String)>,
    /// Non-standard domain → (op types, first place seen).
    domains: BTreeMap<String, (Vec<String>, String)>,
}

impl Analysis<'_> {
    fn graph(&mut self, g: &GraphProto, path: &str, depth: u32) {
        if depth > MAX_GRAPH_DEPTH {
            self.r.push(Finding::new(
                &MALFORMED,
                self.a.location.clone(),
                format!("subgraphs nested deeper than {MAX_GRAPH_DEPTH} levels at {path}"),
            ));
            return;
        }
        for t in &g.initializer {
            self.tensor(t, path);
        }
        for s in &g.sparse_initializer {
            self.sparse(s, path);
        }
        for n in &g.node {
            self.node(n, path, depth);
        }
    }

    fn function(&mut self, f: &FunctionProto) {
        let path = format!(
            "function {}:{}",
            f.domain.as_deref().unwrap_or(""),
            f.name.as_deref().unwrap_or("")
        );
        for n in &f.node {
            self.node(n, &path, 1);
        }
        for at in &f.attribute_proto {
            self.attribute(at, &path, "", 1);
        }
    }

    fn node(&mut self, n: &NodeProto, path: &str, depth: u32) {
        let domain = n.domain.as_deref().unwrap_or("");
        let op = n.op_type.as_deref().unwrap_or("");
        let is_local = self
            .local_functions
            .iter()
            .any(|(d, name)| d == domain && name == op);
        if !STANDARD_DOMAINS.contains(&domain) && !is_local {
            let e = self
                .domains
                .entry(domain.to_owned())
                .or_insert_with(|| (Vec::new(), path.to_owned()));
            if !e.0.iter().any(|o| o == op) && e.0.len() < 32 {
                e.0.push(op.to_owned());
            }
        }
        let node_name = n.name.as_deref().unwrap_or(op);
        for at in &n.attribute {
            self.attribute(at, path, node_name, depth);
        }
    }

    fn attribute(&mut self, at: &AttributeProto, path: &str, node: &str, depth: u32) {
        let name = at.name.as_deref().unwrap_or("");
        let here = if node.is_empty() {
            path.to_owned()
        } else {
            format!("{path}/{node}")
        };
        if let Some(t) = &at.t {
            self.tensor(t, &here);
        }
        for t in &at.tensors {
            self.tensor(t, &here);
        }
        if let Some(s) = &at.sparse_tensor {
            self.sparse(s, &here);
        }
        for s in &at.sparse_tensors {
            self.sparse(s, &here);
        }
        let d = depth.saturating_add(1);
        if let Some(g) = &at.g {
            self.graph(g, &format!("{here}.{name}"), d);
        }
        for (i, g) in at.graphs.iter().enumerate() {
            self.graph(g, &format!("{here}.{name}[{i}]"), d);
        }
    }

    fn sparse(&mut self, s: &SparseTensorProto, path: &str) {
        if let Some(t) = &s.values {
            self.tensor(t, path);
        }
        if let Some(t) = &s.indices {
            self.tensor(t, path);
        }
    }

    fn tensor(&mut self, t: &TensorProto, path: &str) {
        const EXTERNAL: i32 = 1;
        let name = t.name.as_deref().unwrap_or("<unnamed>");
        if t.external_data.is_empty() {
            if t.data_location == Some(EXTERNAL) {
                self.bounds(
                    name,
                    path,
                    "data_location is EXTERNAL but no external_data entries are given",
                    Severity::Medium,
                );
            }
            return;
        }
        let mut location = None;
        let mut offset = None;
        let mut length = None;
        for e in &t.external_data {
            let k = e.key.as_deref().unwrap_or("");
            let v = e.value.as_deref().unwrap_or("");
            match k {
                "location" => {
                    // `onnx` (ExternalDataInfo) and OpenVINO keep the last entry, onnxruntime
                    // refuses duplicates; a reader that keeps the first opens the earlier one.
                    if let Some(prev) = location.replace(v.to_owned()) {
                        if let Some(why) = unsafe_location(&prev) {
                            self.traversal(
                                name,
                                &prev,
                                &format!("({path}) has a duplicate external data location"),
                                why,
                            );
                        }
                    }
                }
                "offset" | "length" => {
                    let Ok(n) = v.trim().parse::<u64>() else {
                        self.bounds(
                            name,
                            path,
                            &format!(
                                "external_data {k} '{}' is not a non-negative integer",
                                clip(v)
                            ),
                            Severity::Medium,
                        );
                        return;
                    };
                    if k == "offset" {
                        offset = Some(n);
                    } else {
                        length = Some(n);
                    }
                }
                _ => {}
            }
        }
        let Some(loc) = location else {
            self.bounds(
                name,
                path,
                "external_data has no location",
                Severity::Medium,
            );
            return;
        };
        if let Some(why) = unsafe_location(&loc) {
            self.traversal(
                name,
                &loc,
                &format!("({path}) reads external data from"),
                why,
            );
            return;
        }
        let Some(dir) = self.model_dir.clone() else {
            return;
        };
        let target = dir.join(&loc);
        let Ok(meta) = std::fs::symlink_metadata(&target) else {
            self.bounds(
                name,
                path,
                &format!(
                    "external data file '{}' does not exist next to the model",
                    clip(&loc)
                ),
                Severity::Low,
            );
            return;
        };
        if meta.file_type().is_symlink() {
            self.r.push(
                Finding::new(
                    &EXTERNAL_DATA_SYMLINK,
                    self.a.location.clone(),
                    format!(
                        "tensor '{}' ({path}) reads external data through symbolic link '{}'",
                        clip(name),
                        clip(&loc)
                    ),
                )
                .evidence("tensor", clip(name))
                .evidence("location", clip(&loc)),
            );
        }
        // Resolve links and check the real file is still inside the model directory.
        if let (Ok(real), Ok(real_dir)) = (target.canonicalize(), dir.canonicalize()) {
            if !real.starts_with(&real_dir) {
                self.r.push(Finding::new(
                        &EXTERNAL_DATA_TRAVERSAL,
                        self.a.location.clone(),
                        format!(
                            "tensor '{}' ({path}) external data '{}' resolves outside the model directory",
                            clip(name),
                            clip(&loc),
                        ),
                    )
                    .evidence("tensor", clip(name))
                    .evidence("location", clip(&loc)),
                );
                return;
            }
        }
        let Ok(real_meta) = std::fs::metadata(&target) else {
            return;
        };
        if !real_meta.is_file() {
            self.bounds(
                name,
                path,
                &format!(
                    "external data location '{}' is not a regular file",
                    clip(&loc)
                ),
                Severity::Medium,
            );
            return;
        }
        let size = real_meta.len();
        let off = offset.unwrap_or(0);
        let end = match length {
            Some(l) => off.checked_add(l),
            None => Some(size),
        };
        if off > size || end.is_none_or(|e| e > size) {
            self.bounds(
                name,
                path,
                &format!(
                    "external data range offset {off}, length {} exceeds '{}' ({size} bytes)",
                    length.map_or_else(|| "(rest)".to_owned(), |l| l.to_string()),
                    clip(&loc)
                ),
                Severity::Medium,
            );
        }
    }

    /// An external-data location the loader would open outside the model's directory:
    /// "tensor 'NAME' WHAT 'LOC', WHY".
    fn traversal(&mut self, tensor: &str, loc: &str, what: &str, why: &str) {
        self.r.push(
            Finding::new(
                &EXTERNAL_DATA_TRAVERSAL,
                self.a.location.clone(),
                format!("tensor '{}' {what} '{}', {why}", clip(tensor), clip(loc)),
            )
            .evidence("tensor", clip(tensor))
            .evidence("location", clip(loc)),
        );
    }

    fn bounds(&mut self, tensor: &str, path: &str, msg: &str, sev: Severity) {
        self.r.push(
            Finding::new(
                &EXTERNAL_DATA_BOUNDS,
                self.a.location.clone(),
                format!("tensor '{}' ({path}): {msg}", clip(tensor)),
            )
            .severity(sev)
            .evidence("tensor", clip(tensor)),
        );
    }

    fn report_domains(&mut self) {
        let domains = std::mem::take(&mut self.domains);
        for (domain, (ops, first)) in domains {
            let vendor = VENDOR_DOMAINS.contains(&domain.as_str());
            let f = Finding::new(
                &CUSTOM_DOMAIN,
                self.a.location.clone(),
                format!(
                    "operators from {} domain '{}' ({}), first used in {first}",
                    if vendor {
                        "runtime-specific"
                    } else {
                        "non-standard"
                    },
                    clip(&domain),
                    ops.join(", ")
                ),
            )
            .severity(if vendor {
                Severity::Info
            } else {
                Severity::Medium
            })
            .evidence("domain", clip(&domain))
            .evidence("ops", clip(&ops.join(",")));
            self.r.push(f);
        }
    }
}

/// Why an external-data location is unsafe by its name alone, if it is.
pub fn unsafe_location(loc: &str) -> Option<&'static str> {
    if loc.is_empty() {
        return Some("an empty path");
    }
    if loc.contains('\0') {
        return Some("a path containing a NUL byte");
    }
    // onnxruntime's in-memory marker (`kTensorProtoMemoryAddressTag`): the `offset` is taken as a
    // raw process address to read the tensor from. onnxruntime 1.32 refuses it in a model file
    // ("not allowed in a model protobuf"); releases before that check dereference it.
    if loc == "*/_ORT_MEM_ADDR_/*" {
        return Some(
            "onnxruntime's in-memory address marker (the offset is read as a raw pointer)",
        );
    }
    let b = loc.as_bytes();
    if loc.starts_with('/') || loc.starts_with('\\') {
        return Some("an absolute path");
    }
    if b.len() >= 2 && b.get(1) == Some(&b':') && b.first().is_some_and(u8::is_ascii_alphabetic) {
        return Some("an absolute Windows path");
    }
    if loc.starts_with('~') {
        return Some("a home-directory path");
    }
    if loc.split(['/', '\\']).any(|seg| seg == "..") {
        return Some("a path that climbs out of the model directory");
    }
    if Path::new(loc).components().any(|c| {
        matches!(
            c,
            Component::RootDir | Component::Prefix(_) | Component::ParentDir
        )
    }) {
        return Some("a path that leaves the model directory");
    }
    None
}

fn clip(s: &str) -> String {
    crate::finding::clip(s, 160)
}

// ---------------------------------------------------------------------------------------------
// Streaming reducer for models larger than MAX_DIRECT_DECODE.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Sparse,
    Training,
    Function,
    /// Copied as is.
    Opaque,
}

/// What to do with field `field` (length-delimited) of a message of kind `k`.
fn child_kind(k: Kind, field: u64) -> Option<Kind> {
    Some(match (k, field) {
        (Kind::Model, 7) | (Kind::Attribute, 6 | 11) | (Kind::Training, 1 | 2) => Kind::Graph,
        (Kind::Model, 20) => Kind::Training,
        (Kind::Model, 25) => Kind::Function,
        (Kind::Graph, 1) | (Kind::Function, 7) => Kind::Node,
        (Kind::Graph, 5) | (Kind::Attribute, 5 | 10) | (Kind::Sparse, 1 | 2) => Kind::Tensor,
        (Kind::Graph, 15) | (Kind::Attribute, 22 | 23) => Kind::Sparse,
        (Kind::Node, 5) | (Kind::Function, 11) => Kind::Attribute,
        (Kind::Tensor, 4 | 5 | 6 | 7 | 9 | 10 | 11) => return None, // tensor payloads: skipped
        _ => Kind::Opaque,
    })
}

enum PbErr {
    Bad(String),
    Io(io::Error),
}

impl From<io::Error> for PbErr {
    fn from(e: io::Error) -> Self {
        PbErr::Io(e)
    }
}

struct PbRd<'a> {
    r: Box<dyn ReadSeek + 'a>,
    pos: u64,
    len: u64,
    out_bytes: u64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

impl PbRd<'_> {
    fn byte(&mut self) -> Result<u8, PbErr> {
        if self.pos >= self.len {
            return Err(PbErr::Bad(format!("truncated at byte {}", self.pos)));
        }
        let mut b = [0u8; 1];
        self.r.read_exact(&mut b)?;
        self.pos = self.pos.saturating_add(1);
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, PbErr> {
        let mut v = 0u64;
        for i in 0..10u32 {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f)
                .checked_shl(i.saturating_mul(7))
                .unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(PbErr::Bad(format!("varint too long at byte {}", self.pos)))
    }

    fn copy(&mut self, n: u64, out: &mut Vec<u8>) -> Result<(), PbErr> {
        self.out_bytes = self.out_bytes.saturating_add(n);
        if self.out_bytes > MAX_REDUCED {
            return Err(PbErr::Bad(format!(
                "model structure without tensor data exceeds {MAX_REDUCED} bytes"
            )));
        }
        let before = out.len();
        self.r.by_ref().take(n).read_to_end(out)?;
        if (out.len().saturating_sub(before) as u64) < n {
            return Err(PbErr::Bad("truncated field".into()));
        }
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), PbErr> {
        self.r.seek(SeekFrom::Start(self.pos.saturating_add(n)))?;
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }

    /// Reads a message of kind `k` spanning `len` bytes from the current position and returns it
    /// re-encoded without tensor payloads.
    fn reduce(&mut self, k: Kind, len: u64, depth: u32) -> Result<Vec<u8>, PbErr> {
        if depth > MAX_NESTING {
            return Err(PbErr::Bad(format!(
                "protobuf nesting deeper than {MAX_NESTING}"
            )));
        }
        let end = self.pos.saturating_add(len);
        if end > self.len {
            return Err(PbErr::Bad(format!(
                "message of {len} bytes at {} runs past the end of the file",
                self.pos
            )));
        }
        let mut out = Vec::new();
        while self.pos < end {
            let tag = self.varint()?;
            let field = tag >> 3;
            let wire = tag & 7;
            if field == 0 {
                return Err(PbErr::Bad(format!("field number 0 at byte {}", self.pos)));
            }
            match wire {
                0 => {
                    let v = self.varint()?;
                    put_varint(&mut out, tag);
                    put_varint(&mut out, v);
                }
                1 | 5 => {
                    let n = if wire == 1 { 8 } else { 4 };
                    if self.pos.saturating_add(n) > end {
                        return Err(PbErr::Bad("fixed-size field runs past its message".into()));
                    }
                    put_varint(&mut out, tag);
                    self.copy(n, &mut out)?;
                }
                2 => {
                    let n = self.varint()?;
                    if self.pos.saturating_add(n) > end {
                        return Err(PbErr::Bad(format!(
                            "field {field} declares {n} bytes at byte {}, past the end of its message (or the file)",
                            self.pos
                        )));
                    }
                    match child_kind(k, field) {
                        None => self.skip(n)?,
                        Some(Kind::Opaque) => {
                            put_varint(&mut out, tag);
                            put_varint(&mut out, n);
                            self.copy(n, &mut out)?;
                        }
                        Some(child) => {
                            let sub = self.reduce(child, n, depth.saturating_add(1))?;
                            put_varint(&mut out, tag);
                            put_varint(&mut out, sub.len() as u64);
                            out.extend_from_slice(&sub);
                        }
                    }
                }
                other => {
                    return Err(PbErr::Bad(format!(
                        "unsupported wire type {other} at byte {}",
                        self.pos
                    )))
                }
            }
        }
        if self.pos != end {
            return Err(PbErr::Bad("field overruns its message".into()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;
    use crate::engine::Engine;
    use crate::proto::onnx::{OperatorSetIdProto, StringStringEntryProto};

    pub(crate) fn model(tensors: Vec<TensorProto>, nodes: Vec<NodeProto>) -> ModelProto {
        ModelProto {
            ir_version: Some(8),
            producer_name: Some("test".into()),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(17),
            }],
            graph: Some(GraphProto {
                name: Some("g".into()),
                node: nodes,
                initializer: tensors,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(crate) fn ext(name: &str, loc: &str) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            dims: vec![4],
            data_type: Some(1),
            data_location: Some(1),
            external_data: vec![StringStringEntryProto {
                key: Some("location".into()),
                value: Some(loc.into()),
            }],
            ..Default::default()
        }
    }

    fn codes_of(m: &ModelProto) -> Vec<String> {
        let e = Engine::with_defaults().unwrap();
        let rep = e.scan_bytes("m.onnx", m.encode_to_vec());
        rep.findings.iter().map(|f| f.code.clone()).collect()
    }

    #[test]
    fn benign_is_clean() {
        let t = TensorProto {
            name: Some("w".into()),
            dims: vec![2],
            data_type: Some(1),
            raw_data: Some(vec![0; 8]),
            ..Default::default()
        };
        let n = NodeProto {
            op_type: Some("Relu".into()),
            input: vec!["x".into()],
            output: vec!["y".into()],
            ..Default::default()
        };
        assert!(codes_of(&model(vec![t], vec![n])).is_empty());
    }

    #[test]
    fn traversal_in_subgraph() {
        let inner = GraphProto {
            initializer: vec![ext("secret", "../../../../etc/passwd")],
            ..Default::default()
        };
        let n = NodeProto {
            op_type: Some("If".into()),
            attribute: vec![AttributeProto {
                name: Some("then_branch".into()),
                r#type: Some(5),
                g: Some(inner),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            codes_of(&model(vec![], vec![n])),
            ["onnx/external-data-path-traversal"]
        );
    }

    #[test]
    fn duplicate_locations_are_each_checked() {
        let mut t = ext("W", "../../etc/passwd");
        t.external_data.push(StringStringEntryProto {
            key: Some("location".into()),
            value: Some("weights.bin".into()),
        });
        assert_eq!(
            codes_of(&model(vec![t], vec![])),
            ["onnx/external-data-path-traversal"]
        );
    }

    #[test]
    fn locations() {
        assert!(unsafe_location("/etc/passwd").is_some());
        assert!(unsafe_location("C:\\x").is_some());
        assert!(unsafe_location("a/../../b").is_some());
        assert!(unsafe_location("..\\b").is_some());
        assert!(unsafe_location("weights.bin").is_none());
        assert!(unsafe_location("data/weights.bin").is_none());
        // Refused by onnxruntime 1.32 ("references an ORT in-memory address marker"), read as
        // a raw address by earlier releases.
        assert!(unsafe_location("*/_ORT_MEM_ADDR_/*").is_some());
    }

    #[test]
    fn custom_domains() {
        let n = |d: &str| NodeProto {
            op_type: Some("Op".into()),
            domain: Some(d.into()),
            ..Default::default()
        };
        let e = Engine::with_defaults().unwrap();
        let rep = e.scan_bytes(
            "m.onnx",
            model(
                vec![],
                vec![n("com.microsoft"), n("evil.ops"), n("ai.onnx.ml")],
            )
            .encode_to_vec(),
        );
        let mut sev: Vec<(String, Severity)> = rep
            .findings
            .iter()
            .map(|f| (f.evidence["domain"].clone(), f.severity))
            .collect();
        sev.sort();
        assert_eq!(
            sev,
            [
                ("com.microsoft".to_owned(), Severity::Info),
                ("evil.ops".to_owned(), Severity::Medium)
            ]
        );
    }

    #[test]
    fn reducer_matches_direct_decode() {
        let t = TensorProto {
            name: Some("w".into()),
            dims: vec![1000],
            data_type: Some(1),
            raw_data: Some(vec![7; 4000]),
            ..Default::default()
        };
        let mut m = model(vec![t, ext("e", "/abs")], vec![]);
        m.functions.push(FunctionProto {
            name: Some("f".into()),
            domain: Some("local".into()),
            ..Default::default()
        });
        let bytes = m.encode_to_vec();
        let mut rd = PbRd {
            r: Box::new(std::io::Cursor::new(bytes.clone())),
            pos: 0,
            len: bytes.len() as u64,
            out_bytes: 0,
        };
        let Ok(buf) = rd.reduce(Kind::Model, bytes.len() as u64, 0) else {
            panic!("reduce failed")
        };
        let reduced = ModelProto::decode(&buf[..]).unwrap();
        let mut expect = m.clone();
        expect.graph.as_mut().unwrap().initializer[0].raw_data = None;
        assert_eq!(reduced, expect);
        assert!(buf.len() < 200);
    }
}
