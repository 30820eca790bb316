#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! TensorFlow SavedModel: `saved_model.pb` (binary protobuf, decoded with prost from the vendored
//! TF `.proto` files), `saved_model.pbtxt` (text format, token scan) and `keras_metadata.pb`.
//!
//! Every op of every graph is checked against the `tf-op` signature entries
//! (signatures/tensorflow.toml and the known-op list in signatures/tensorflow_ops.toml): the main
//! graph of each MetaGraph **and** every function of its function library, because TF2 models
//! keep almost all of their ops in library functions. Ops that run Python (`PyFunc`,
//! `EagerPyFunc`) or load libraries are critical, file-system and network ops high, ops outside
//! the known op set (custom kernels) medium.
//!
//! The standard saver ops (`SaveV2`, `RestoreV2`, `MergeV2Checkpoints`, …, kind `tf-saver-op`) are
//! not reported inside the functions TensorFlow generates for checkpointing (`__inference__traced_save_N`,
//! `__inference__traced_restore_N`, `…_save_fn_N`, `…_restore_fn_N`) nor in the TF1 saver
//! subgraph named by the MetaGraph's `saver_def`; anywhere else they are reported like any other
//! file-system op. Keras layer metadata stored in the object graph or in `keras_metadata.pb` gets
//! the Keras config policy, and asset file names that escape the assets directory are reported.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message as _;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::proto::tensorflow as pb;
use crate::scanners::keras;
use crate::scanners::rules::RuleSet;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::signatures::{Action, SignatureDb};

pub const PYTHON_OP: Code = Code {
    id: "tf/python-op",
    severity: Severity::Critical,
    summary: "A TensorFlow graph calls back into Python.",
    detects: "`PyFunc`, `PyFuncStateless` and `EagerPyFunc` nodes in the main graph or any library function.",
    why: "These ops run a Python function registered in the loading process by token. A model carrying them expects attacker-chosen Python to be present, and combined with other tricks they execute arbitrary code when the graph runs.",
    example: "A node `op: \"EagerPyFunc\"` with attr `token: \"pyfunc_0\"`.",
    remediation: "Do not serve the model; re-export it without `tf.py_function` / `tf.numpy_function`.",
    references: &["https://www.tensorflow.org/api_docs/python/tf/py_function"],
};

pub const LIBRARY_LOAD: Code = Code {
    id: "tf/library-load",
    severity: Severity::Critical,
    summary: "A TensorFlow graph loads a native library.",
    detects: "Ops on the library-loading deny list (`LoadLibrary`, `LoadLibraryV2`, …).",
    why: "Loading a shared object runs its native code in the serving process.",
    example: "A node `op: \"LoadLibrary\"`.",
    remediation: "Do not serve the model.",
    references: &[],
};

pub const FILE_ACCESS_OP: Code = Code {
    id: "tf/file-access-op",
    severity: Severity::High,
    summary: "A TensorFlow graph reads or writes files.",
    detects: "File-system ops (`ReadFile`, `WriteFile`, `MatchingFiles`, `Save`/`SaveV2`/`Restore*`/`MergeV2Checkpoints` outside the generated saver functions, `ImmutableConst`, `InitializeTableFromTextFile*`, record readers and file datasets, summary writers, …).",
    why: "Running the model reads local files into its outputs (disclosure) or writes attacker-controlled bytes to chosen paths (persistence). Legitimate inference graphs do not touch the file system; the saver ops TF generates for checkpoints are exempt.",
    example: "A node `op: \"WriteFile\"` whose `filename` input is the constant `/home/user/.bashrc`.",
    remediation: "Review what the graph reads or writes; re-export the model without file ops.",
    references: &["https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md"],
};

pub const NETWORK_OP: Code = Code {
    id: "tf/network-op",
    severity: Severity::High,
    summary: "A TensorFlow graph opens network connections.",
    detects: "RPC ops (`RpcClient`, `RpcCall`, `RpcServer*`) and other network-capable ops on the deny list.",
    why: "The model can exfiltrate inputs or reach internal services (SSRF) when it runs.",
    example: "A node `op: \"RpcClient\"` with a constant server address.",
    remediation: "Do not serve the model.",
    references: &[],
};

pub const DANGEROUS_OP: Code = Code {
    id: "tf/dangerous-op",
    severity: Severity::High,
    summary: "A TensorFlow graph uses an op on the deny list.",
    detects: "Any op denied by a `tf-op` signature entry that is not in the Python, library, file or network categories (user-added entries land here).",
    why: "See the entry's reason in the finding.",
    example: "A node whose op a site policy denies.",
    remediation: "Review the op and the graph around it.",
    references: &[],
};

pub const UNKNOWN_OP: Code = Code {
    id: "tf/unknown-op",
    severity: Severity::Medium,
    summary: "A TensorFlow graph uses an op that is not part of TensorFlow.",
    detects: "Node ops that are neither in the known TF op set (signatures/tensorflow_ops.toml) nor the name of a function in the graph's library.",
    why: "Custom ops need a native kernel library loaded into the serving process; the op may also be a typo-squat of a real op name.",
    example: "`op: \"MyCustomDecode\"`.",
    remediation: "Find out which library provides the op and whether you trust it; add an `allow` entry of kind `tf-op` if you do.",
    references: &[],
};

pub const ASSET_PATH: Code = Code {
    id: "tf/asset-path-traversal",
    severity: Severity::High,
    summary: "A SavedModel asset file name escapes the assets directory.",
    detects: "`asset_file_def` file names that are absolute or contain `..` segments.",
    why: "TensorFlow joins the name to the model's `assets/` directory and feeds the path to the graph, so the model reads an arbitrary file (e.g. as a vocabulary) when it loads.",
    example: "`filename: \"../../../../etc/passwd\"`.",
    remediation: "Do not load the model.",
    references: &[],
};

pub const MALFORMED: Code = Code {
    id: "tf/malformed",
    severity: Severity::Medium,
    summary: "A TensorFlow protobuf could not be decoded.",
    detects: "A `saved_model.pb` or `keras_metadata.pb` that is not a valid message of its type.",
    why: "What could not be decoded was not checked; TensorFlow's own parser may still accept it.",
    example: "A truncated `saved_model.pb`.",
    remediation: "Re-export the model and scan it again.",
    references: &[],
};

pub static CODES: &[&Code] = &[
    &PYTHON_OP,
    &LIBRARY_LOAD,
    &FILE_ACCESS_OP,
    &NETWORK_OP,
    &DANGEROUS_OP,
    &UNKNOWN_OP,
    &ASSET_PATH,
    &MALFORMED,
];

/// Largest protobuf decoded (TensorFlow's own limit is 2 GiB).
const MAX_PB_BYTES: u64 = 1024 * 1024 * 1024;

/// The op policy compiled from the signature database.
#[derive(Debug, Clone, Default)]
pub struct TfPolicy {
    /// `tf-op`: deny entries and the known-op allow list.
    pub ops: RuleSet,
    /// `tf-saver-op`: ops allowed inside the generated saver functions and subgraph.
    pub saver_ops: RuleSet,
}

impl TfPolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self {
            ops: RuleSet::from_db(db, "tf-op"),
            saver_ops: RuleSet::from_db(db, "tf-saver-op"),
        }
    }
}

/// Whether a library function is one TensorFlow generates for checkpoint save/restore.
pub fn is_saver_function(name: &str) -> bool {
    let n = name.strip_prefix("__inference_").unwrap_or(name);
    // Drop the trailing `_<digits>` uniquifier.
    let n = match n.rsplit_once('_') {
        Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|c| c.is_ascii_digit()) => head,
        _ => n,
    };
    matches!(
        n,
        "_traced_save" | "_traced_restore" | "save" | "restore" | "save_fn" | "restore_fn"
    ) || n.ends_with("_save_fn")
        || n.ends_with("_restore_fn")
}

/// One reported op, aggregated over its occurrences.
#[derive(Default)]
struct OpHits {
    count: u64,
    places: BTreeSet<String>,
}

/// Collects op occurrences and reports them once per op.
struct OpCheck<'a> {
    policy: &'a TfPolicy,
    functions: BTreeSet<String>,
    denied: BTreeMap<String, OpHits>,
    unknown: BTreeMap<String, OpHits>,
}

impl<'a> OpCheck<'a> {
    fn new(policy: &'a TfPolicy) -> Self {
        Self {
            policy,
            functions: BTreeSet::new(),
            denied: BTreeMap::new(),
            unknown: BTreeMap::new(),
        }
    }

    fn op(&mut self, op: &str, place: &str, in_saver: bool) {
        if in_saver
            && self
                .policy
                .saver_ops
                .lookup("*", op)
                .is_some_and(|r| r.action == Action::Allow)
        {
            return;
        }
        let hit = match self.policy.ops.lookup("*", op) {
            Some(r) if r.action == Action::Deny => self.denied.entry(op.to_owned()).or_default(),
            Some(_) => return,
            None if self.functions.contains(op) => return,
            None => self.unknown.entry(op.to_owned()).or_default(),
        };
        hit.count = hit.count.saturating_add(1);
        if hit.places.len() < 5 {
            hit.places.insert(place.to_owned());
        }
    }

    fn report(self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
        for (op, hits) in &self.denied {
            let Some(r) = self.policy.ops.lookup("*", op) else {
                continue;
            };
            let code = match &*r.category {
                "python" => &PYTHON_OP,
                "library" => &LIBRARY_LOAD,
                "file" => &FILE_ACCESS_OP,
                "network" => &NETWORK_OP,
                _ => &DANGEROUS_OP,
            };
            out.push(
                Finding::new(
                    code,
                    a.location.clone(),
                    format!(
                        "op {op} ({}) used {} time(s), e.g. in {}",
                        r.reason,
                        hits.count,
                        hits.places.iter().next().map_or("", String::as_str)
                    ),
                )
                .severity(r.severity.unwrap_or(code.severity))
                .global("tensorflow.raw_ops", op.clone())
                .evidence("op", op.clone())
                .evidence("occurrences", hits.count.to_string())
                .evidence(
                    "where",
                    hits.places.iter().cloned().collect::<Vec<_>>().join(", "),
                )
                .evidence("signature", r.source.clone()),
            );
        }
        for (op, hits) in &self.unknown {
            out.push(
                Finding::new(
                    &UNKNOWN_OP,
                    a.location.clone(),
                    format!(
                        "op {op} is not a standard TensorFlow op ({} occurrence(s))",
                        hits.count
                    ),
                )
                .severity(cx.unknown_severity())
                .global("tensorflow.raw_ops", op.clone())
                .evidence("op", op.clone())
                .evidence("occurrences", hits.count.to_string())
                .evidence(
                    "where",
                    hits.places.iter().cloned().collect::<Vec<_>>().join(", "),
                ),
            );
        }
    }
}

/// The name scope of a TF1 saver (`save` from `save/restore_all`).
fn saver_scope(s: &pb::SaverDef) -> Option<String> {
    [
        &s.restore_op_name,
        &s.save_tensor_name,
        &s.filename_tensor_name,
    ]
    .into_iter()
    .find_map(|n| n.split_once('/').map(|(scope, _)| format!("{scope}/")))
}

/// The library functions a node calls: its op when that names a function, and every function
/// in its attributes (`f` of `PartitionedCall`, `then_branch`, `body`, `branches`, …).
fn callees(n: &pb::NodeDef, functions: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    if functions.contains(&n.op) {
        out.push(n.op.clone());
    }
    for v in n.attr.values() {
        match &v.value {
            Some(pb::attr_value::Value::Func(f)) => out.push(f.name.clone()),
            Some(pb::attr_value::Value::List(l)) => {
                out.extend(l.func.iter().map(|f| f.name.clone()));
            }
            _ => {}
        }
    }
    out
}

/// Functions named like TensorFlow's generated saver functions that something other than the
/// saver calls. The names are the model's own choice: a serving function (or a main-graph
/// node outside the `saver_def`) calling `__inference_save_fn_1` runs its `SaveV2`/`Save`/
/// `MergeV2Checkpoints` on every request, so those lose the saver exemption, and so does every
/// saver-named function they call in turn.
fn hijacked_saver_functions(
    mg: &pb::MetaGraphDef,
    g: &pb::GraphDef,
    scope: Option<&str>,
    functions: &BTreeSet<String>,
) -> BTreeSet<String> {
    let node_of = |t: &str| {
        t.split(':')
            .next()
            .unwrap_or(t)
            .trim_start_matches('^')
            .to_owned()
    };
    let saver_nodes: BTreeSet<String> = mg
        .saver_def
        .iter()
        .flat_map(|s| {
            [
                node_of(&s.save_tensor_name),
                node_of(&s.restore_op_name),
                node_of(&s.filename_tensor_name),
            ]
        })
        .collect();
    let mut out: BTreeSet<String> = BTreeSet::new();
    for n in &g.node {
        let by_saver =
            saver_nodes.contains(&n.name) || scope.is_some_and(|s| n.name.starts_with(s));
        if !by_saver {
            out.extend(
                callees(n, functions)
                    .into_iter()
                    .filter(|c| is_saver_function(c)),
            );
        }
    }
    let Some(lib) = &g.library else {
        return out;
    };
    let calls: Vec<(String, Vec<String>)> = lib
        .function
        .iter()
        .map(|f| {
            let name = f
                .signature
                .as_ref()
                .map_or_else(String::new, |s| s.name.clone());
            let called = f
                .node_def
                .iter()
                .flat_map(|n| callees(n, functions))
                .filter(|c| is_saver_function(c))
                .collect();
            (name, called)
        })
        .collect();
    // Direct callers that are not saver functions, then saver functions reached from those.
    for (name, called) in &calls {
        if !is_saver_function(name) {
            out.extend(called.iter().cloned());
        }
    }
    loop {
        let before = out.len();
        for (name, called) in &calls {
            if out.contains(name) {
                out.extend(called.iter().cloned());
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

fn bad_asset_name(name: &str) -> bool {
    crate::walk::is_traversal(name)
}

fn check_meta_graph(
    mg: &pb::MetaGraphDef,
    idx: usize,
    check: &mut OpCheck<'_>,
    a: &Artifact,
    cx: &dyn ScannerContext,
    out: &mut Sink,
) {
    let scope = mg.saver_def.as_ref().and_then(saver_scope);
    if let Some(g) = &mg.graph_def {
        if let Some(lib) = &g.library {
            for f in &lib.function {
                if let Some(sig) = &f.signature {
                    check.functions.insert(sig.name.clone());
                }
            }
        }
        let hijacked = hijacked_saver_functions(mg, g, scope.as_deref(), &check.functions);
        for n in &g.node {
            let in_saver = scope
                .as_ref()
                .is_some_and(|s| n.name.starts_with(s.as_str()));
            check.op(
                &n.op,
                &format!("meta_graph[{idx}] node {}", n.name),
                in_saver,
            );
        }
        if let Some(lib) = &g.library {
            for f in &lib.function {
                let fname = f.signature.as_ref().map_or("", |s| s.name.as_str());
                let in_saver = is_saver_function(fname) && !hijacked.contains(fname);
                for n in &f.node_def {
                    check.op(&n.op, &format!("function {fname}"), in_saver);
                }
            }
        }
    }
    for asset in &mg.asset_file_def {
        if bad_asset_name(&asset.filename) {
            out.push(
                Finding::new(
                    &ASSET_PATH,
                    a.location.clone(),
                    format!(
                        "asset file name {:?} escapes the assets directory",
                        asset.filename
                    ),
                )
                .evidence("asset", asset.filename.clone()),
            );
        }
    }
    if let Some(og) = &mg.object_graph_def {
        let mut layer_findings = Sink::default();
        for (i, node) in og.nodes.iter().enumerate() {
            if let Some(pb::saved_object::Kind::UserObject(u)) = &node.kind {
                #[allow(deprecated)]
                let meta = &u.metadata;
                if !meta.is_empty() && u.identifier.starts_with("_tf_keras") {
                    let origin = keras::Origin {
                        location: a.location.clone(),
                        label: format!("object_graph node {i} ({})", u.identifier),
                    };
                    keras::check_config_text(meta.as_bytes(), &origin, a, cx, &mut layer_findings);
                }
            }
        }
        for f in keras::merge_listings(layer_findings.findings) {
            out.push(f);
        }
        out.artifacts.extend(layer_findings.artifacts);
    }
}

/// `keras_metadata.pb`: `SavedMetadata { repeated SavedObject nodes = 1; }` (Keras's own proto,
/// not part of the TF protos; declared here with prost's derive).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedMetadata {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<SavedMetadataObject>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedMetadataObject {
    #[prost(int32, tag = "2")]
    pub node_id: i32,
    #[prost(string, tag = "3")]
    pub node_path: String,
    #[prost(string, tag = "4")]
    pub identifier: String,
    #[prost(string, tag = "5")]
    pub metadata: String,
}

pub struct TfScanner;

impl Scanner for TfScanner {
    fn id(&self) -> &'static str {
        "tf"
    }
    fn formats(&self) -> &'static [Format] {
        &[
            Format::SavedModel,
            Format::KerasMetadata,
            Format::SavedModelText,
        ]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let Some(bytes) = a.content.read_all(MAX_PB_BYTES)? else {
            return Err(ScanError::Budget(format!(
                "protobuf larger than {MAX_PB_BYTES} bytes"
            )));
        };
        match a.format {
            Format::KerasMetadata => scan_keras_metadata(&bytes, a, cx, out),
            Format::SavedModelText => scan_pbtxt(&bytes, a, cx, out),
            _ => scan_saved_model(&bytes, a, cx, out),
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, what: &str, e: &prost::DecodeError) -> Finding {
    Finding::new(
        &MALFORMED,
        a.location.clone(),
        format!("{what} could not be decoded: {e}"),
    )
}

fn scan_saved_model(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let sm = match pb::SavedModel::decode(bytes) {
        Ok(sm) => sm,
        Err(e) => {
            out.push(malformed(a, "saved_model.pb", &e));
            return;
        }
    };
    let policy = cx.policies().tf();
    let mut check = OpCheck::new(policy);
    for (i, mg) in sm.meta_graphs.iter().enumerate() {
        check_meta_graph(mg, i, &mut check, a, cx, out);
    }
    check.report(a, cx, out);
}

fn scan_keras_metadata(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let md = match SavedMetadata::decode(bytes) {
        Ok(m) => m,
        Err(e) => {
            out.push(malformed(a, "keras_metadata.pb", &e));
            return;
        }
    };
    let mut layer_findings = Sink::default();
    for n in &md.nodes {
        if n.metadata.is_empty() {
            continue;
        }
        let origin = keras::Origin {
            location: a.location.clone(),
            label: format!("node {} ({})", n.node_id, n.node_path),
        };
        keras::check_config_text(n.metadata.as_bytes(), &origin, a, cx, &mut layer_findings);
    }
    for f in keras::merge_listings(layer_findings.findings) {
        out.push(f);
    }
    out.artifacts.extend(layer_findings.artifacts);
}

/// Text-format SavedModels: ops are found token-wise (`op: "Name"`), with the enclosing function
/// name (`signature { name: "…" }`) and node name deciding whether saver ops are exempt.
fn scan_pbtxt(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let text = String::from_utf8_lossy(bytes);
    let quoted = |line: &str, key: &str| -> Option<String> {
        let rest = line.trim_start().strip_prefix(key)?.trim_start();
        let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
        rest.split_once('"').map(|(v, _)| v.to_owned())
    };
    let scope = text
        .lines()
        .find_map(|l| quoted(l, "restore_op_name"))
        .and_then(|n| n.split_once('/').map(|(s, _)| format!("{s}/")));
    let policy = cx.policies().tf();
    let mut check = OpCheck::new(policy);
    for l in text.lines() {
        if let Some(n) = quoted(l, "name") {
            if n.starts_with("__inference_") || n.starts_with("__forward_") {
                check.functions.insert(n);
            }
        }
    }
    let mut in_signature = false;
    let mut function = String::new();
    let mut node = String::new();
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with("signature {") {
            in_signature = true;
            continue;
        }
        if let Some(n) = quoted(l, "name") {
            if in_signature {
                function = n;
                in_signature = false;
            } else {
                node = n;
            }
            continue;
        }
        if let Some(op) = quoted(l, "op") {
            let in_saver = is_saver_function(&function)
                || scope.as_ref().is_some_and(|s| node.starts_with(s.as_str()));
            let place = if function.is_empty() {
                format!("node {node}")
            } else {
                format!("function {function}")
            };
            check.op(&op, &place, in_saver);
        }
    }
    check.report(a, cx, out);
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn saver_function_names() {
        assert!(is_saver_function("__inference__traced_save_12345"));
        assert!(is_saver_function("__inference__traced_restore_99"));
        assert!(is_saver_function("__inference_table_save_fn_12"));
        assert!(!is_saver_function("__inference_serving_default_12"));
        assert!(!is_saver_function("__inference_call_1"));
    }

    /// A SavedModel whose main graph has one node `caller` calling `callee` (through the `f`
    /// attribute, as `StatefulPartitionedCall` does), `callee` holding a `SaveV2`, and a
    /// `saver_def` naming `saver_node`.
    fn saved_model(caller: &str, callee: &str, saver_node: &str) -> Vec<u8> {
        let call = pb::NodeDef {
            name: caller.into(),
            op: "StatefulPartitionedCall".into(),
            attr: [(
                "f".to_owned(),
                pb::AttrValue {
                    value: Some(pb::attr_value::Value::Func(pb::NameAttrList {
                        name: callee.into(),
                        ..Default::default()
                    })),
                },
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let f = pb::FunctionDef {
            signature: Some(pb::OpDef {
                name: callee.into(),
                ..Default::default()
            }),
            node_def: vec![pb::NodeDef {
                name: "save".into(),
                op: "SaveV2".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        pb::SavedModel {
            meta_graphs: vec![pb::MetaGraphDef {
                graph_def: Some(pb::GraphDef {
                    node: vec![call],
                    library: Some(pb::FunctionDefLibrary {
                        function: vec![f],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                saver_def: Some(pb::SaverDef {
                    save_tensor_name: format!("{saver_node}:0"),
                    restore_op_name: "StatefulPartitionedCall_2".into(),
                    filename_tensor_name: "saver_filename:0".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// The saver exemption follows who calls the function, not only its (chosen) name.
    #[test]
    fn saver_named_functions_called_outside_the_saver_are_checked() {
        let e = crate::Engine::with_defaults().expect("engine");
        let file_ops = |b: Vec<u8>| {
            e.scan_bytes("saved_model.pb", b)
                .findings
                .iter()
                .filter(|f| f.code == "tf/file-access-op")
                .count()
        };
        // The saver's own node calling the traced save function: exempt.
        assert_eq!(
            file_ops(saved_model(
                "StatefulPartitionedCall_1",
                "__inference__traced_save_42",
                "StatefulPartitionedCall_1"
            )),
            0
        );
        // A serving node calling a function merely named like a saver function.
        assert_eq!(
            file_ops(saved_model(
                "StatefulPartitionedCall",
                "__inference_save_fn_7",
                "StatefulPartitionedCall_1"
            )),
            1
        );
    }
}
