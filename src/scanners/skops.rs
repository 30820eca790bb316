//! skops files (`.skops`, see [`crate::formats::skops`]): the `schema.json` tree, node by node,
//! judged the way `skops.io.load` would build it.
//!
//! * A node whose type the loader trusts by default (`signatures/skops.toml`, kind
//!   `skops-trusted`, per loader) is what skops was designed to load: nothing is reported.
//! * Any other type makes `load` refuse the file unless the caller trusts it, and the usual idiom
//!   (`trusted=get_untrusted_types(file=...)`) trusts whatever the file asks for. Such a type is
//!   judged by the pickle import policy (the same import, the same risk): denied names
//!   (`posix.system`, `builtins.eval`, …) are `skops/dangerous-type` at the policy's severity,
//!   unknown ones `skops/untrusted-type` at medium, names the policy allows only informational.
//! * Loaders that reach code by design are reported whatever they name: `OperatorFuncNode`
//!   (`operator.methodcaller` / `attrgetter` / `itemgetter`, CVE-2025-54412) and `MethodNode` (a
//!   bound method of a loaded object, CVE-2025-54413).
//! * A schema the loader refuses (not JSON, unknown loader, a node without a type, a protocol it
//!   does not read) is `skops/malformed`.
//!
//! The `.npy` and `.bin` members are scanned by their own scanners as zip members; a `.skops`
//! that is not a zip (skops' `Card.get_model` fell back to joblib for those, CVE-2025-54886) is
//! whatever its content is, and a pickle is read by the pickle scanner.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::{HashMap, HashSet};

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::skops::{parse, protocol_problem, Node, SchemaError, MAX_SCHEMA_BYTES};
use crate::pickle::policy::Verdict;
use crate::scanners::{Scanner, ScannerContext};
use crate::signatures::{Action, SignatureDb};

const REFS: &[&str] = &[
    "https://skops.readthedocs.io/en/stable/persistence.html",
    "https://github.com/skops-dev/skops/blob/main/skops/io/_audit.py",
    "CVE-2025-54412",
    "CVE-2025-54413",
    "CVE-2025-54886",
];

pub const MODEL: Code = Code {
    id: "skops/model",
    severity: Severity::Info,
    summary: "A skops file: the root type and the number of nodes skops builds.",
    detects: "`schema.json` with a `__loader__` tree at the top of a zip (what `skops.io.dump` writes).",
    why: "Informational: the nodes decide which types skops imports and calls; each is judged on its own.",
    example: "`{\"__class__\": \"Pipeline\", \"__module__\": \"sklearn.pipeline\", \"__loader__\": \"ObjectNode\", …, \"protocol\": 2}`",
    remediation: "None needed.",
    references: REFS,
};

pub const UNTRUSTED_TYPE: Code = Code {
    id: "skops/untrusted-type",
    severity: Severity::Medium,
    summary: "The skops file names a type skops does not trust by default.",
    detects: "A node whose `__module__`.`__class__` is not in the default trusted set of its loader (`signatures/skops.toml`). Names the pickle import policy allows are reported at info, unknown names at medium.",
    why: "`skops.io.load` refuses such a file unless the caller trusts the type, and callers routinely pass `trusted=get_untrusted_types(file=…)`, which trusts whatever the file asks for. What the type does when skops builds it (`__new__` and `__setstate__`, a call, a function handed to an estimator) is then up to the file.",
    example: "`{\"__class__\": \"MyTransformer\", \"__module__\": \"mylib.preprocessing\", \"__loader__\": \"ObjectNode\"}`",
    remediation: "Review the type; trust it explicitly by name when loading, never with `get_untrusted_types` on a file from elsewhere.",
    references: REFS,
};

pub const DANGEROUS_TYPE: Code = Code {
    id: "skops/dangerous-type",
    severity: Severity::Critical,
    summary: "The skops file makes skops import or call a function that runs code or commands.",
    detects: "A node naming a type or function the pickle import policy denies (`posix.system`, `builtins.eval`, `subprocess.Popen`, …) under any loader: a `FunctionNode` handed to an estimator, a `ConstructorFromReduceNode` or `NdArrayNode` that calls it, an `ObjectNode` or `TypeNode` that imports it.",
    why: "skops builds the tree by importing these names and calling them; once trusted (as `get_untrusted_types` does) the file runs code on load or when the model is used.",
    example: "A `FunctionTransformer` whose `func` is `{\"__class__\": \"system\", \"__module__\": \"posix\", \"__loader__\": \"FunctionNode\"}`.",
    remediation: "Do not load the file.",
    references: REFS,
};

pub const OPERATOR_FUNC: Code = Code {
    id: "skops/operator-func",
    severity: Severity::High,
    summary: "The skops file builds an `operator` callable (methodcaller, attrgetter, itemgetter).",
    detects: "An `OperatorFuncNode`. `methodcaller` and `attrgetter` are critical: they call or fetch any named method or attribute of whatever they are applied to.",
    why: "skops before 0.12 trusted `OperatorFuncNode` by default, so `operator.methodcaller('system', …)` applied by a trusted estimator ran commands (CVE-2025-54412). Current skops asks the caller to trust `operator.methodcaller`, which `get_untrusted_types` does.",
    example: "`{\"__class__\": \"methodcaller\", \"__module__\": \"operator\", \"__loader__\": \"OperatorFuncNode\", \"attrs\": …}`",
    remediation: "Do not load the file unless the callable is expected and its arguments reviewed.",
    references: REFS,
};

pub const METHOD_REFERENCE: Code = Code {
    id: "skops/method-reference",
    severity: Severity::High,
    summary: "The skops file builds a bound method of a loaded object.",
    detects: "A `MethodNode`: skops builds the object, then `getattr(obj, func)` with the method name from the file.",
    why: "A method name picks any attribute of an object of a trusted-looking type (skops up to 0.11 audited the node's own type, not the object's, CVE-2025-54413); the bound method is then called by whatever holds it.",
    example: "`{\"__loader__\": \"MethodNode\", \"content\": {\"func\": \"__reduce_ex__\", \"obj\": …}}`",
    remediation: "Do not load the file unless the method is expected.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "skops/malformed",
    severity: Severity::Medium,
    summary: "A skops `schema.json` could not be read as skops reads it.",
    detects: "`schema.json` that is not JSON, is larger than 64 MiB or nested deeper than 128 levels, a node with an unknown loader or without `__module__`/`__class__`, an array type skops does not know, or a protocol skops refuses.",
    why: "A schema the scanner cannot read hides which types skops would build; another skops version may read it differently.",
    example: "`{\"__loader__\": \"PickleNode\", …}`",
    remediation: "Re-save the model with `skops.io.dump` and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &MODEL,
    &UNTRUSTED_TYPE,
    &DANGEROUS_TYPE,
    &OPERATOR_FUNC,
    &METHOD_REFERENCE,
    &MALFORMED,
];

/// The signature kind of skops' default trusted types.
pub const KIND: &str = "skops-trusted";

/// The loaders of skops 0.16 (`NODE_TYPE_MAPPING` of `_general`, `_numpy`, `_scipy`, `_sklearn`,
/// `_quantile_forest`, `_audit`). Any other `__loader__` makes `get_tree` raise.
const LOADERS: &[&str] = &[
    "DictNode",
    "DefaultDictNode",
    "ListNode",
    "SetNode",
    "TupleNode",
    "BytesNode",
    "BytearrayNode",
    "SliceNode",
    "FunctionNode",
    "MethodNode",
    "PartialNode",
    "TypeNode",
    "ConstructorFromReduceNode",
    "ObjectNode",
    "JsonNode",
    "OperatorFuncNode",
    "CachedNode",
    "NdArrayNode",
    "MaskedArrayNode",
    "DTypeNode",
    "RandomStateNode",
    "RandomGeneratorNode",
    "SparseMatrixNode",
    "LossNode",
    "TreeNode",
    "QuantileForestNode",
    "_DictWithDeprecatedKeysNode",
];

/// Loaders whose construction ignores the names in the file and runs nothing: `JsonNode`
/// (`json.loads` of a string), `SliceNode` (`slice(start, stop, step)`), `CachedNode` (a node
/// built earlier).
const INERT_LOADERS: &[&str] = &["JsonNode", "SliceNode", "CachedNode"];

/// The default trusted types per loader, from the signature database.
#[derive(Debug, Default)]
pub struct SkopsPolicy {
    trusted: HashMap<String, HashSet<String>>,
}

impl SkopsPolicy {
    pub fn new(db: &SignatureDb) -> Self {
        let mut trusted: HashMap<String, HashSet<String>> = HashMap::new();
        for e in db.of_kind(KIND) {
            let set = trusted.entry(e.module.to_string()).or_default();
            match e.action {
                Action::Allow | Action::Tolerate => {
                    set.insert(e.name.to_string());
                }
                // A later deny entry (a site's own file) takes a default back.
                Action::Deny => {
                    set.remove(e.name.as_ref());
                }
            }
        }
        Self { trusted }
    }

    /// Whether `loader` accepts `type_name` without the caller trusting it.
    pub fn trusts(&self, loader: &str, type_name: &str) -> bool {
        self.trusted
            .get(loader)
            .is_some_and(|s| s.contains(type_name))
    }
}

pub struct SkopsScanner;

impl Scanner for SkopsScanner {
    fn id(&self) -> &'static str {
        "skops"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::SkopsSchema]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let limit = u64::try_from(MAX_SCHEMA_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let Some(bytes) = a.content.read_all(limit)? else {
            out.push(malformed(
                a,
                &format!("schema.json is larger than {MAX_SCHEMA_BYTES} bytes; not read"),
            ));
            return Ok(());
        };
        let schema = match parse(&bytes) {
            Ok((_, schema)) => schema,
            Err(SchemaError::NotATree) => {
                // A zip that merely holds a `schema.json` of its own: skops would refuse it, so
                // it is checked like any other JSON config.
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    cx.check_json(&v, a, out);
                }
                return Ok(());
            }
            Err(e) => {
                out.push(malformed(a, &e.to_string()));
                return Ok(());
            }
        };
        let root = schema
            .nodes
            .first()
            .and_then(Node::type_name)
            .unwrap_or_default();
        out.push(
            Finding::new(
                &MODEL,
                a.location.clone(),
                format!("skops file: {root}, {} nodes", schema.nodes.len()),
            )
            .evidence("root", root)
            .evidence("nodes", schema.nodes.len().to_string()),
        );
        if let Some(why) = protocol_problem(schema.protocol.as_ref()) {
            out.push(malformed(a, &format!("skops refuses the file: {why}")));
        }
        if schema.truncated {
            out.push(
                Finding::new(
                    &crate::codes::engine::BUDGET_EXCEEDED,
                    a.location.clone(),
                    format!(
                        "schema.json has more than {} nodes; the rest were not examined",
                        crate::formats::skops::MAX_NODES
                    ),
                )
                .evidence("limit", "skops-nodes"),
            );
        }
        let policy = cx.policies().skops();
        for n in &schema.nodes {
            judge(n, policy, cx, a, out);
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn judge(n: &Node, policy: &SkopsPolicy, cx: &dyn ScannerContext, a: &Artifact, out: &mut Sink) {
    let at = |f: Finding| f.evidence("node", n.path.clone());
    let Some(loader) = n.loader.as_deref() else {
        out.push(at(malformed(
            a,
            &format!("node {} has a __loader__ that is not a string", n.path),
        )));
        return;
    };
    if !LOADERS.contains(&loader) {
        out.push(at(malformed(
            a,
            &format!(
                "node {} has the unknown loader {loader:?}: skops refuses the file",
                n.path
            ),
        )
        .evidence("loader", loader)));
        return;
    }
    if INERT_LOADERS.contains(&loader) {
        return;
    }
    let (Some(module), Some(class)) = (n.module.as_deref(), n.class.as_deref()) else {
        out.push(at(malformed(
            a,
            &format!(
                "{loader} node {} lacks __module__ or __class__: skops refuses the file",
                n.path
            ),
        )
        .evidence("loader", loader)));
        return;
    };
    let type_name = format!("{module}.{class}");
    match loader {
        "NdArrayNode" if !matches!(n.array_type.as_deref(), Some("numpy" | "json")) => {
            out.push(at(malformed(
                a,
                &format!(
                    "array node {} has type {:?}: skops refuses the file",
                    n.path, n.array_type
                ),
            )));
        }
        "OperatorFuncNode" => {
            let severity = if matches!(class, "methodcaller" | "attrgetter") {
                Severity::Critical
            } else {
                Severity::High
            };
            out.push(at(Finding::new(
                &OPERATOR_FUNC,
                a.location.clone(),
                format!("skops builds operator.{class} (node {}): it calls or fetches what its arguments name", n.path),
            )
            .severity(severity)
            .evidence("loader", loader)
            .evidence("type", format!("operator.{class}"))));
        }
        "MethodNode" => {
            let method = n.method.as_deref().unwrap_or("");
            let mut f = Finding::new(
                &METHOD_REFERENCE,
                a.location.clone(),
                format!(
                    "skops builds the bound method {type_name}.{method} (node {})",
                    n.path
                ),
            )
            .evidence("loader", loader)
            .evidence("type", type_name.clone())
            .evidence("method", method);
            if let Verdict::Deny(r) = cx
                .policies()
                .pickle
                .verdict(module, &format!("{class}.{method}"))
            {
                f = f
                    .severity(r.severity.unwrap_or(Severity::Critical))
                    .evidence("reason", r.reason.to_string());
            }
            out.push(at(f));
        }
        _ => {}
    }
    if !matches!(loader, "OperatorFuncNode" | "MethodNode") && !policy.trusts(loader, &type_name) {
        untrusted(loader, module, class, &n.path, cx, a, out);
    }
    if loader == "RandomGeneratorNode" {
        match n.bit_generator.as_deref() {
            Some(bg) => {
                let full = format!("numpy.random.{bg}");
                if !policy.trusts("RandomGeneratorNode.bit_generator", &full) {
                    untrusted(loader, "numpy.random", bg, &n.path, cx, a, out);
                }
            }
            None => out.push(at(malformed(
                a,
                &format!(
                    "random generator node {} names no bit generator: skops refuses the file",
                    n.path
                ),
            ))),
        }
    }
}

/// A type the loader does not trust by default, judged by the pickle import policy.
#[allow(clippy::too_many_arguments)]
fn untrusted(
    loader: &str,
    module: &str,
    class: &str,
    path: &str,
    cx: &dyn ScannerContext,
    a: &Artifact,
    out: &mut Sink,
) {
    let type_name = format!("{module}.{class}");
    let f = match cx.policies().pickle.verdict(module, class) {
        Verdict::Deny(r) => Finding::new(
            &DANGEROUS_TYPE,
            a.location.clone(),
            format!("skops {loader} imports {type_name} (node {path}): {}", r.reason),
        )
        .severity(r.severity.unwrap_or(Severity::Critical))
        .global(module, class)
        .evidence("reason", r.reason.to_string()),
        Verdict::Allow(_) | Verdict::Tolerate(_) => Finding::new(
            &UNTRUSTED_TYPE,
            a.location.clone(),
            format!("skops asks the caller to trust {type_name} ({loader}, node {path}); the pickle policy allows it"),
        )
        .severity(Severity::Info),
        Verdict::Unknown => Finding::new(
            &UNTRUSTED_TYPE,
            a.location.clone(),
            format!("skops {loader} imports {type_name} (node {path}), a type skops does not trust by default"),
        ),
    };
    out.push(
        f.evidence("loader", loader)
            .evidence("type", type_name)
            .evidence("node", path),
    );
}
