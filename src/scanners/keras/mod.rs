#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! Keras model configs: the `config.json` of a Keras v3 `.keras` archive, the `model_config` and
//! `training_config` attributes of a Keras HDF5 file, and the layer metadata of a TF SavedModel's
//! `keras_metadata.pb`. One policy serves all of them ([`check_config`]).
//!
//! The whole config is walked recursively — every value of every object and list — so a Lambda
//! nested in a sub-model, a wrapper (TimeDistributed, Bidirectional), a shared object, a
//! `build_config` or a `compile_config` (losses, metrics and optimizers can be custom objects) is
//! seen wherever it sits. Keras itself resolves every dict with a `class_name` as an object, so
//! that is what the walk inspects:
//!
//! * marshalled bytecode (`__lambda__` objects, `function_type: "lambda"`) is critical; the code
//!   object's header is decoded (never executed) to name the function and the names it uses;
//! * `module` / `class_name` / `registered_name` and function references are looked up in the
//!   `keras-module` and `keras-class` signature entries (signatures/keras.toml): denied entries
//!   (the 2025 safe-mode bypass gadgets such as `keras.config.enable_unsafe_deserialization`,
//!   `keras.models.load_model`, `keras.utils.get_file`, modules such as `os`) are reported at
//!   their severity, modules outside the Keras/TF namespaces and the allowlist are medium, and
//!   custom objects Keras can only resolve through its registry are listed at info level;
//! * layers that read files or URLs while loading (lookup-layer vocabularies, `TFSMLayer`,
//!   TF-Hub `KerasLayer`) and `TorchModuleWrapper` (a pickled torch module, scanned as nested
//!   content) get their own findings.

pub mod marshal;

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::artifact::{Artifact, Content};
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Location, Severity};
use crate::format::Format;
use crate::scanners::rules::RuleSet;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;
use crate::signatures::{Action, SignatureDb};

pub const LAMBDA_BYTECODE: Code = Code {
    id: "keras/lambda-bytecode",
    severity: Severity::Critical,
    summary: "A Keras config carries marshalled Python bytecode (a serialized lambda).",
    detects: "`{\"class_name\": \"__lambda__\"}` objects (Keras 3) and `function_type: \"lambda\"` fields (Keras 2 / tf.keras, HDF5 and SavedModel metadata), typically in a Lambda layer, at any depth of the config. The code object's name, file name and referenced names are decoded from the marshal header without executing it.",
    why: "Keras rebuilds the function with `marshal.loads` and runs it when the layer is called (or, for Keras 2 HDF5 files, as soon as the model is loaded, whatever `safe_mode` says: CVE-2024-3660, CVE-2025-9905). The bytecode can do anything Python can.",
    example: "`{\"class_name\": \"Lambda\", \"config\": {\"function\": [\"4wEAAAAA…\", null, null], \"function_type\": \"lambda\"}}`",
    remediation: "Do not load the model. Ask the publisher for a version without Lambda layers (a registered custom layer whose source you can review), or rebuild the architecture in code and load only the weights.",
    references: &["CVE-2024-3660", "CVE-2025-9905", "https://keras.io/api/layers/core_layers/lambda/"],
};

pub const LAMBDA_LAYER: Code = Code {
    id: "keras/lambda-layer",
    severity: Severity::Medium,
    summary: "A Keras Lambda layer wraps a Python function that is resolved by name.",
    detects: "A `Lambda` layer (or Keras 2 `function_type: \"raw\"` function) without embedded bytecode: its function is looked up by module and name when the model loads.",
    why: "Whatever function the name resolves to in the loading process is called on the layer's inputs. Lambda layers are how most Keras model-file attacks are delivered; even a benign one needs the publisher's code to be present and trusted.",
    example: "`{\"class_name\": \"Lambda\", \"config\": {\"function\": {\"module\": \"builtins\", \"class_name\": \"function\", \"config\": \"my_fn\"}}}`",
    remediation: "Check that the referenced function is code you trust, or replace the Lambda layer by a registered custom layer.",
    references: &["https://keras.io/api/layers/core_layers/lambda/"],
};

pub const DANGEROUS_OBJECT: Code = Code {
    id: "keras/dangerous-object",
    severity: Severity::High,
    summary: "A Keras config references a function or class on the deny list.",
    detects: "`module` + `class_name`, function references (`class_name: \"function\"`), `registered_name` packages and TFOpLambda symbols that match a `deny` entry of kind `keras-module` or `keras-class` (signatures/keras.toml): process and file access (`os`, `subprocess`, `builtins.eval`), the safe-mode bypass gadgets `keras.config.enable_unsafe_deserialization`, `keras.models.load_model`, `keras.utils.get_file`, `TorchModuleWrapper`, `TFSMLayer`, and TensorFlow Python/file ops.",
    why: "Keras imports the module and calls or instantiates what the config names while loading, even with `safe_mode=True` (CVE-2025-1550, CVE-2025-8747, CVE-2025-9906, CVE-2025-49655, CVE-2025-12060, CVE-2026-1462).",
    example: "`{\"module\": \"keras.config\", \"class_name\": \"function\", \"config\": \"enable_unsafe_deserialization\"}`",
    remediation: "Do not load the model. A legitimate model never needs these objects in its config.",
    references: &["CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9906", "CVE-2025-49655", "CVE-2025-12060", "CVE-2026-1462"],
};

pub const NON_KERAS_MODULE: Code = Code {
    id: "keras/non-keras-module",
    severity: Severity::Medium,
    summary: "A Keras config imports a module outside the Keras/TensorFlow namespaces and the allowlist.",
    detects: "An object or function whose `module` is neither under `keras`, `tf_keras`, `tensorflow` nor any other `allow` entry of kind `keras-module`, and not denied either.",
    why: "Keras imports the named module and looks the class or function up in it (`importlib.import_module`), so an unlisted module is code the loader will import and run on the config's say-so.",
    example: "`{\"module\": \"numpy.f2py\", \"class_name\": \"function\", \"config\": \"run_main\"}`",
    remediation: "Check the module. If it is the publisher's own package and you trust it, add an `allow` entry of kind `keras-module` for it with `--signatures`.",
    references: &["CVE-2025-1550"],
};

pub const CUSTOM_OBJECT: Code = Code {
    id: "keras/custom-object",
    severity: Severity::Info,
    summary: "A Keras config uses a custom (registered or user-supplied) object.",
    detects: "Classes and functions that are not part of Keras and carry no importable module (module `null`, `__main__` or `builtins`, or Keras 2 class names Keras does not ship); Keras resolves them only from its registry or the caller's `custom_objects`.",
    why: "Listed so reviewers know which code outside the file the model needs. Loading fails unless that code is present, so the file alone cannot run it.",
    example: "`{\"module\": null, \"class_name\": \"MyAttention\", \"registered_name\": \"my_pkg>MyAttention\"}`",
    remediation: "Make sure the custom code the model needs comes from a trusted source.",
    references: &["https://keras.io/guides/serialization_and_saving/"],
};

pub const EXTERNAL_RESOURCE: Code = Code {
    id: "keras/external-resource",
    severity: Severity::High,
    summary: "A Keras layer reads a file or URL named in the config while loading.",
    detects: "Lookup layers (`StringLookup`, `IntegerLookup`, `TextVectorization`) whose `vocabulary` is a string (a file path or URL), keras_hub / keras_nlp tokenizers whose `vocabulary`, `merges` or `proto` is a string, `TFSMLayer.filepath`, TF-Hub `KerasLayer.handle` (high); and any string value anywhere in a Keras config (layer configs, `get_file` origins, node call arguments) that is a URL (`http(s)://`, `file://`, `gs://`, `s3://`, …), an absolute or home-relative host path or a `..` traversal (high), or a relative file path under a key layers read as a file (`vocabulary`, `merges`, `proto`, `filepath`, `origin`, …; medium). TF device names (`/device:…`) are not paths.",
    why: "Loading the model reads local files into the model (disclosure of `/etc/passwd`, keys) or fetches remote resources (SSRF): Keras before 3.12 read a lookup layer's vocabulary file even in safe mode (CVE-2025-12058), keras_hub tokenizers did the same for vocabulary, merges and SentencePiece protos (fixed in keras-hub PR 2517), and TFSMLayer/KerasLayer load a whole external SavedModel with its own ops (CVE-2026-1462).",
    example: "`{\"class_name\": \"StringLookup\", \"config\": {\"vocabulary\": \"/etc/passwd\"}}`",
    remediation: "Ship vocabularies inside the model (as Keras 3 does in `assets/`) and do not load models that reference external paths.",
    references: &["CVE-2025-12058", "CVE-2026-1462", "https://github.com/keras-team/keras/pull/21751", "https://github.com/keras-team/keras-hub/pull/2517"],
};

pub const MALFORMED_CONFIG: Code = Code {
    id: "keras/malformed-config",
    severity: Severity::Medium,
    summary: "A Keras model config could not be parsed completely.",
    detects: "Invalid JSON, nesting deeper than the parser allows, or a config too large to analyse.",
    why: "The scanner cannot vouch for what it could not read; Python's JSON parser may still accept the file (a parser differential).",
    example: "A `config.json` truncated in the middle of a layer.",
    remediation: "Re-export the model and scan it again.",
    references: &[],
};

pub static CODES: &[&Code] = &[
    &LAMBDA_BYTECODE,
    &LAMBDA_LAYER,
    &DANGEROUS_OBJECT,
    &NON_KERAS_MODULE,
    &CUSTOM_OBJECT,
    &EXTERNAL_RESOURCE,
    &MALFORMED_CONFIG,
];

/// Largest JSON config read into memory.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;
/// Findings reported per config before the rest are summarised.
const MAX_FINDINGS: usize = 500;

/// The Keras policy compiled from the signature database.
#[derive(Debug, Clone, Default)]
pub struct KerasPolicy {
    /// `keras-module`: (module pattern, class or function name).
    pub modules: RuleSet,
    /// `keras-class`: class names Keras resolves without a module (Keras 2 configs).
    pub classes: RuleSet,
}

impl KerasPolicy {
    pub fn new(db: &SignatureDb) -> Self {
        Self {
            modules: RuleSet::from_db(db, "keras-module"),
            classes: RuleSet::from_db(db, "keras-class"),
        }
    }
}

/// Whether a parsed JSON value looks like a Keras object config (top level).
pub fn is_keras_config(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.get("class_name").is_some_and(Value::is_string)
            && (m.contains_key("config") || m.contains_key("module"))
    })
}

/// Whether a Keras 3 object (`class_name` and `config` with `module` or `registered_name`, as
/// `serialize_keras_object` writes them) sits anywhere in `v` (bounded walk).
pub fn has_nested_keras_object(v: &Value) -> bool {
    fn walk(v: &Value, budget: &mut u32) -> bool {
        *budget = budget.saturating_sub(1);
        if *budget == 0 {
            return false;
        }
        match v {
            Value::Object(m) => {
                (m.get("class_name").is_some_and(Value::is_string)
                    && m.contains_key("config")
                    && (m.contains_key("module") || m.contains_key("registered_name")))
                    || m.values().any(|x| walk(x, budget))
            }
            Value::Array(a) => a.iter().any(|x| walk(x, budget)),
            _ => false,
        }
    }
    let mut budget = 1_000_000;
    walk(v, &mut budget)
}

/// Where a config came from, for messages.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Where findings are reported.
    pub location: Location,
    /// A label prefixed to JSON paths in evidence (`config.json`, `model_config`, a node path).
    pub label: String,
}

struct Walk<'a> {
    /// Info/medium listings already reported, by (code, module, name), with the index of the
    /// finding in the sink so repeats only bump its `occurrences`.
    listed: std::collections::HashMap<(&'static str, String, String), usize>,
    policy: &'a KerasPolicy,
    cx: &'a dyn ScannerContext,
    parent: &'a Artifact,
    origin: &'a Origin,
    sink: &'a mut Sink,
    reported: usize,
    suppressed: usize,
    /// JSON paths of resource strings already reported by a layer-specific check.
    resources: std::collections::HashSet<String>,
}

/// Applies the Keras policy to a parsed config.
pub fn check_config(
    value: &Value,
    origin: &Origin,
    parent: &Artifact,
    cx: &dyn ScannerContext,
    sink: &mut Sink,
) {
    let policy = cx.policies().keras();
    let mut w = Walk {
        listed: std::collections::HashMap::new(),
        policy,
        cx,
        parent,
        origin,
        sink,
        reported: 0,
        suppressed: 0,
        resources: std::collections::HashSet::new(),
    };
    let mut path = String::from("$");
    w.value(value, &mut path, None);
    if w.suppressed > 0 {
        let loc = origin.location.clone();
        w.sink.push(
            Finding::new(
                &DANGEROUS_OBJECT,
                loc,
                format!(
                    "{} further Keras findings in {} were not listed individually",
                    w.suppressed, origin.label
                ),
            )
            .severity(Severity::Info)
            .evidence("suppressed", w.suppressed.to_string()),
        );
    }
}

/// Merges repeated listing findings (custom objects, non-Keras modules) that several configs of
/// one artifact produced (a SavedModel has one config per layer): one finding per (code, global),
/// with an `occurrences` count.
pub fn merge_listings(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut seen: std::collections::HashMap<(String, String, String), usize> =
        std::collections::HashMap::new();
    for f in findings {
        let listing = f.code == CUSTOM_OBJECT.id || f.code == NON_KERAS_MODULE.id;
        let key = f
            .global
            .as_ref()
            .map(|g| (f.code.clone(), g.module.clone(), g.name.clone()));
        if let (true, Some(key)) = (listing, key) {
            if let Some(&i) = seen.get(&key) {
                if let Some(prev) = out.get_mut(i) {
                    let add = f
                        .evidence
                        .get("occurrences")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    let n = prev
                        .evidence
                        .get("occurrences")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    prev.evidence
                        .insert("occurrences".into(), n.saturating_add(add).to_string());
                }
                continue;
            }
            seen.insert(key, out.len());
        }
        out.push(f);
    }
    out
}

/// Decodes config bytes the way Python's `json.loads` decodes `bytes` (`json.detect_encoding`:
/// UTF-32/UTF-16 by BOM or by the zero bytes of the first four, a UTF-8 BOM skipped), which is
/// how Keras 3 reads a `.keras` archive's `config.json` (`_safe_zip_read` returns bytes).
fn python_json_text(b: &[u8]) -> Option<String> {
    fn utf16(b: &[u8], be: bool) -> Option<String> {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| match c {
                [x, y] if be => u16::from_be_bytes([*x, *y]),
                [x, y] => u16::from_le_bytes([*x, *y]),
                _ => 0,
            })
            .collect();
        String::from_utf16(&units).ok()
    }
    fn utf32(b: &[u8], be: bool) -> Option<String> {
        b.chunks_exact(4)
            .map(|c| {
                let a: [u8; 4] = c.try_into().ok()?;
                char::from_u32(if be {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                })
            })
            .collect()
    }
    let text = match b {
        [0, 0, 0xfe, 0xff, rest @ ..] => utf32(rest, true)?,
        [0xff, 0xfe, 0, 0, rest @ ..] => utf32(rest, false)?,
        [0xfe, 0xff, rest @ ..] => utf16(rest, true)?,
        [0xff, 0xfe, rest @ ..] => utf16(rest, false)?,
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).ok()?,
        [0, 0, _, _, ..] => utf32(b, true)?,
        [0, _, _, _, ..] => utf16(b, true)?,
        [_, 0, 0, 0, ..] => utf32(b, false)?,
        [_, 0, _, _, ..] => utf16(b, false)?,
        _ => String::from_utf8(b.to_vec()).ok()?,
    };
    Some(text)
}

/// Parses a Keras config as Python's `json` would take it: strictly, else decoded like
/// `json.loads(bytes)` and with `NaN`/`Infinity` (which Python accepts). Returns the value and
/// whether Python would refuse the text (comments, trailing commas: read anyway, so that a
/// config a laxer reader takes is not hidden), or the strict parser's error.
pub fn parse_config(bytes: &[u8]) -> Result<(Value, bool), String> {
    let strict = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => return Ok((v, false)),
        Err(e) => e.to_string(),
    };
    let Some(text) = python_json_text(bytes) else {
        return Err(strict);
    };
    match crate::scanners::code::lenient::parse_json(text.as_bytes()) {
        Ok((v, quirks)) => Ok((
            v,
            quirks
                .iter()
                .any(|q| *q != "NaN/Infinity" && *q != "byte-order mark"),
        )),
        Err(_) => Err(strict),
    }
}

/// Parses JSON text and applies the Keras policy; a parse failure is a finding.
pub fn check_config_text(
    text: &[u8],
    origin: &Origin,
    parent: &Artifact,
    cx: &dyn ScannerContext,
    sink: &mut Sink,
) -> Option<Value> {
    match parse_config(text) {
        Ok((v, refused)) => {
            if refused {
                sink.push(
                    Finding::new(
                        &MALFORMED_CONFIG,
                        origin.location.clone(),
                        format!(
                            "{} is not strict JSON (comments or trailing commas); read leniently",
                            origin.label
                        ),
                    )
                    .evidence("config", origin.label.clone()),
                );
            }
            check_config(&v, origin, parent, cx, sink);
            Some(v)
        }
        Err(e) => {
            sink.push(
                Finding::new(
                    &MALFORMED_CONFIG,
                    origin.location.clone(),
                    format!("{} is not valid JSON: {e}", origin.label),
                )
                .evidence("config", origin.label.clone()),
            );
            None
        }
    }
}

fn str_of<'v>(m: &'v Map<String, Value>, k: &str) -> Option<&'v str> {
    m.get(k).and_then(Value::as_str)
}

/// Python builtins that Keras may resolve for `module: "builtins"` functions and that are
/// harmless data helpers; anything else named under `builtins` is a custom function.
const KERAS_SPECIAL_CLASSES: &[&str] = &[
    "__keras_tensor__",
    "__tensor__",
    "__numpy__",
    "__bytes__",
    "__ellipsis__",
    "__slice__",
];

impl Walk<'_> {
    /// Pushes a listing-type finding once per (code, global); repeats increase its count.
    fn push_listed(&mut self, code: &'static str, f: Finding) {
        let key = f
            .global
            .as_ref()
            .map(|g| (code, g.module.clone(), g.name.clone()))
            .unwrap_or((code, String::new(), f.message.clone()));
        if let Some(&i) = self.listed.get(&key) {
            if let Some(prev) = self.sink.findings.get_mut(i) {
                let n = prev
                    .evidence
                    .get("occurrences")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                prev.evidence
                    .insert("occurrences".into(), n.saturating_add(1).to_string());
            }
            return;
        }
        if self.reported >= MAX_FINDINGS {
            self.suppressed = self.suppressed.saturating_add(1);
            return;
        }
        self.listed.insert(key, self.sink.findings.len());
        self.reported = self.reported.saturating_add(1);
        self.sink.push(f);
    }

    fn push(&mut self, f: Finding) {
        if self.reported >= MAX_FINDINGS {
            self.suppressed = self.suppressed.saturating_add(1);
            return;
        }
        self.reported = self.reported.saturating_add(1);
        self.sink.push(f);
    }

    fn finding(&self, code: &Code, msg: String, path: &str) -> Finding {
        Finding::new(code, self.origin.location.clone(), msg)
            .evidence("config", self.origin.label.clone())
            .evidence("json-path", path.to_owned())
    }

    fn value(&mut self, v: &Value, path: &mut String, layer: Option<&str>) {
        match v {
            Value::Object(m) => self.object(m, path, layer),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let len = path.len();
                    let _ = write!(path, "[{i}]");
                    self.value(x, path, layer);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn object(&mut self, m: &Map<String, Value>, path: &mut String, layer: Option<&str>) {
        let class = str_of(m, "class_name");
        let inner_name = m
            .get("config")
            .and_then(Value::as_object)
            .and_then(|c| str_of(c, "name"))
            .or_else(|| str_of(m, "name"));
        let this_layer = if class.is_some() { inner_name } else { None };
        let layer = this_layer.or(layer);
        if let Some(class) = class {
            self.keras_object(m, class, path, layer);
        }
        // Keras 2 functions serialized next to a `<field>_type` marker.
        for (k, val) in m {
            if let Some(field) = k.strip_suffix("_type") {
                if val.as_str() == Some("lambda") {
                    if let Some(code) = m.get(field) {
                        let p = format!("{path}.{field}");
                        self.bytecode(code, &p, layer);
                    }
                } else if val.as_str() == Some("raw") {
                    if let Some(Value::String(fname)) = m.get(field) {
                        let module = str_of(m, "module").unwrap_or("");
                        let p = format!("{path}.{field}");
                        self.function_ref(module, fname, &p, layer, true);
                    }
                }
            }
        }
        for (k, val) in m {
            match val {
                Value::String(sv) => self.resource_string(k, sv, path, layer),
                // Positional and keyword call arguments of a node (`inbound_nodes`) can carry
                // paths too (`load_model`'s `inputs`); elsewhere lists are data (vocabularies).
                Value::Array(xs) if k == "args" => {
                    for (i, x) in xs.iter().enumerate() {
                        if let Value::String(sv) = x {
                            self.resource_string(&format!("{k}[{i}]"), sv, path, layer);
                        }
                    }
                }
                _ => {}
            }
        }
        for (k, val) in m {
            if matches!(val, Value::Object(_) | Value::Array(_)) {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                self.value(val, path, layer);
                path.truncate(len);
            }
        }
    }

    /// Any string value in a config that names a host path or URL: Keras and keras_hub
    /// constructors given such a string read the file or fetch the URL while the model loads.
    fn resource_string(&mut self, key: &str, v: &str, path: &str, layer: Option<&str>) {
        let at = format!("{path}.{key}");
        if self.resources.contains(&at) {
            return;
        }
        let Some((kind, severity)) = resource_kind(key, v) else {
            return;
        };
        self.resources.insert(at.clone());
        let f = self
            .finding(
                &EXTERNAL_RESOURCE,
                format!("{key} {v:?} is {kind}: loading the model reads or fetches it"),
                &at,
            )
            .severity(severity)
            .evidence("layer", layer.unwrap_or("").to_owned())
            .evidence("resource", v.to_owned())
            .evidence("kind", kind.to_owned());
        self.push(f);
    }

    fn keras_object(
        &mut self,
        m: &Map<String, Value>,
        class: &str,
        path: &str,
        layer: Option<&str>,
    ) {
        let module = str_of(m, "module");
        let inner = m.get("config");
        match class {
            "__lambda__" => {
                let code = inner
                    .and_then(Value::as_object)
                    .and_then(|c| c.get("value").or_else(|| c.get("code")))
                    .unwrap_or(&Value::Null);
                self.bytecode(code, &format!("{path}.config.value"), layer);
                return;
            }
            "function" => {
                // Keras looks functions up by their name (`config`); `registered_name` is a
                // fallback attribute name in the module. Check both.
                let name = inner.and_then(Value::as_str).unwrap_or("");
                let module = module.unwrap_or("");
                self.function_ref(module, name, path, layer, false);
                if let Some(reg) = str_of(m, "registered_name") {
                    let reg_name = reg.rsplit('>').next().unwrap_or(reg);
                    if reg_name != name && reg_name != "function" && !reg_name.is_empty() {
                        self.function_ref(module, reg_name, path, layer, false);
                    }
                    self.registered(reg, path, layer);
                }
                return;
            }
            "__typespec__" => {
                let spec = str_of(m, "spec_name").unwrap_or("");
                self.class_ref(module, spec, path, layer);
                return;
            }
            c if KERAS_SPECIAL_CLASSES.contains(&c) => return,
            _ => {}
        }
        self.class_ref(module, class, path, layer);
        if let Some(reg) = str_of(m, "registered_name") {
            self.registered(reg, path, layer);
            // Keras 3.0–3.8 (`_retrieve_class_or_fn`): when the module has no attribute named
            // `class_name`, `vars(mod).get(registered_name)` is used instead, and a plain
            // function found that way is returned as the object (a Functional model then calls
            // it with the node's arguments). So `{"module": "builtins", "class_name": "X",
            // "registered_name": "exec"}` is `builtins.exec`.
            if let Some(module) = module.filter(|m| !m.is_empty()) {
                if reg != class && !reg.contains('>') && !reg.is_empty() {
                    self.class_ref(Some(module), reg, path, layer);
                }
            }
        }
        let keras_ns = module.is_none_or(is_keras_namespace);
        let cfg = inner.and_then(Value::as_object);
        match class {
            "Lambda" if keras_ns => self.lambda_layer(cfg, path, layer),
            "TFOpLambda" | "SlicingOpLambda" if keras_ns => {
                if let Some(sym) = cfg.and_then(|c| str_of(c, "function")) {
                    let full = format!("tensorflow.{sym}");
                    let (module, name) = full.rsplit_once('.').unwrap_or(("tensorflow", sym));
                    self.function_ref(
                        module,
                        name,
                        &format!("{path}.config.function"),
                        layer,
                        true,
                    );
                }
            }
            "StringLookup" | "IntegerLookup" | "TextVectorization" | "IndexLookup" => {
                if let Some(Value::String(vocab)) = cfg.and_then(|c| c.get("vocabulary")) {
                    self.resources.insert(format!("{path}.config.vocabulary"));
                    let f = self
                        .finding(
                            &EXTERNAL_RESOURCE,
                            format!(
                                "{class} layer reads its vocabulary from {vocab:?} while loading"
                            ),
                            path,
                        )
                        .evidence("layer", layer.unwrap_or("").to_owned())
                        .evidence("resource", vocab.clone())
                        .global(module.unwrap_or(""), class);
                    self.push(f);
                }
            }
            "TFSMLayer" => {
                self.resources.insert(format!("{path}.config.filepath"));
                let fp = cfg.and_then(|c| str_of(c, "filepath")).unwrap_or("");
                let f = self
                    .finding(
                        &EXTERNAL_RESOURCE,
                        format!("TFSMLayer loads the external SavedModel {fp:?} while loading"),
                        path,
                    )
                    .evidence("resource", fp.to_owned())
                    .global(module.unwrap_or(""), class);
                self.push(f);
            }
            "KerasLayer" if module.is_some_and(|m| m.starts_with("tensorflow_hub")) => {
                self.resources.insert(format!("{path}.config.handle"));
                let h = cfg.and_then(|c| str_of(c, "handle")).unwrap_or("");
                let f = self
                    .finding(
                        &EXTERNAL_RESOURCE,
                        format!("TF-Hub KerasLayer loads the external model {h:?} while loading"),
                        path,
                    )
                    .evidence("resource", h.to_owned())
                    .global(module.unwrap_or(""), class);
                self.push(f);
            }
            c if c.ends_with("Tokenizer")
                && module
                    .is_some_and(|m| m.starts_with("keras_hub") || m.starts_with("keras_nlp")) =>
            {
                // keras_hub tokenizers read `vocabulary`/`merges` (BytePair, WordPiece) and `proto`
                // (SentencePiece) from a path when given a string (fixed for safe_mode in
                // keras-hub PR 2517); presets save them as assets and put null in the config.
                for key in ["vocabulary", "merges", "proto"] {
                    if let Some(Value::String(v)) = cfg.and_then(|c| c.get(key)) {
                        self.resources.insert(format!("{path}.config.{key}"));
                        let f = self
                            .finding(
                                &EXTERNAL_RESOURCE,
                                format!("{class} reads its {key} from {v:?} while loading"),
                                path,
                            )
                            .evidence("layer", layer.unwrap_or("").to_owned())
                            .evidence("resource", v.clone())
                            .global(module.unwrap_or(""), class);
                        self.push(f);
                    }
                }
            }
            "TorchModuleWrapper" => {
                if let Some(Value::String(b64)) = cfg.and_then(|c| c.get("module")) {
                    if let Some(bytes) = marshal::decode_func_dump(b64) {
                        let member = format!(
                            "{}{}.config.module",
                            self.origin.label,
                            path.strip_prefix('$').unwrap_or(path)
                        );
                        let member = member.trim_start_matches('.').to_owned();
                        self.cx.scan_nested(
                            self.parent,
                            &member,
                            Content::from_vec(bytes),
                            None,
                            self.sink,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn lambda_layer(&mut self, cfg: Option<&Map<String, Value>>, path: &str, layer: Option<&str>) {
        let Some(cfg) = cfg else { return };
        if contains_bytecode(cfg) {
            return; // reported as keras/lambda-bytecode by the walk
        }
        let target = match cfg.get("function") {
            Some(Value::Object(f)) => Some((
                str_of(f, "module").unwrap_or("?"),
                f.get("config").and_then(Value::as_str).unwrap_or("?"),
            )),
            Some(Value::String(s)) => Some((str_of(cfg, "module").unwrap_or("?"), s.as_str())),
            _ => None,
        };
        let described = target.map_or_else(
            || "an unspecified function".to_owned(),
            |(m, n)| format!("{m}.{n}"),
        );
        let mut f = self
            .finding(
                &LAMBDA_LAYER,
                format!("Lambda layer {:?} calls {described}", layer.unwrap_or("")),
                path,
            )
            .evidence("layer", layer.unwrap_or("").to_owned())
            .evidence("function", described);
        // Keras resolves `function` by name in the named module's namespace
        // (`_parse_function_from_config`), so `module: os, function: system` makes the layer
        // `os.system`: judged like the same import in a pickle.
        if let Some((module, name)) = target {
            if let crate::pickle::policy::Verdict::Deny(rule) =
                self.cx.policies().pickle.verdict(module, name)
            {
                f = f
                    .severity(rule.severity.unwrap_or(Severity::Critical))
                    .evidence("reason", rule.reason.to_string());
            }
        }
        self.push(f);
    }

    fn bytecode(&mut self, code: &Value, path: &str, layer: Option<&str>) {
        // Keras 2: [code, defaults, closure] or a bare string; Keras 3: the same under "value".
        let text = match code {
            Value::String(s) => Some(s.as_str()),
            Value::Array(a) => a.first().and_then(Value::as_str),
            _ => None,
        };
        let mut f = self
            .finding(&LAMBDA_BYTECODE, String::new(), path)
            .evidence("layer", layer.unwrap_or("").to_owned());
        let summary = text
            .and_then(marshal::decode_func_dump)
            .map(|raw| (raw.len(), marshal::read_code(&raw)));
        let mut msg = format!(
            "layer {:?} embeds marshalled Python bytecode that runs when the model is loaded or called",
            layer.unwrap_or("")
        );
        match summary {
            Some((n, Ok(c))) => {
                f = f.evidence("bytecode-bytes", n.to_string());
                if let Some(name) = &c.name {
                    let _ = write!(msg, " (function {name}");
                    if let Some(file) = &c.filename {
                        let _ = write!(msg, " from {file}");
                    }
                    msg.push(')');
                    f = f.evidence("function", name.clone());
                }
                if let Some(l) = c.first_line {
                    f = f.evidence("first-line", l.to_string());
                }
                if let Some(q) = &c.qualname {
                    f = f.evidence("qualname", q.clone());
                }
                if let Some(file) = &c.filename {
                    f = f.evidence("filename", file.clone());
                }
                if !c.names.is_empty() {
                    f = f.evidence("names", c.names.join(","));
                }
                if !c.strings.is_empty() {
                    f = f.evidence("strings", c.strings.join(","));
                }
                let risky: Vec<&str> = c
                    .names
                    .iter()
                    .chain(c.strings.iter())
                    .map(String::as_str)
                    .filter(|n| RISKY_NAMES.contains(n))
                    .collect();
                if !risky.is_empty() {
                    let _ = write!(msg, "; it refers to {}", risky.join(", "));
                }
            }
            Some((n, Err(e))) => {
                f = f
                    .evidence("bytecode-bytes", n.to_string())
                    .evidence("decode-error", e.0);
            }
            None => {
                f = f.evidence("decode-error", "not base64 text");
            }
        }
        f.message = msg;
        self.push(f);
    }

    fn function_ref(
        &mut self,
        module: &str,
        name: &str,
        path: &str,
        layer: Option<&str>,
        raw: bool,
    ) {
        if name.is_empty() {
            return;
        }
        let rule = self.lookup(module, name);
        match rule {
            Some(r) if r.action == Action::Deny => {
                let f = self
                    .finding(
                        &DANGEROUS_OBJECT,
                        format!("config references {module}.{name}: {}", r.reason),
                        path,
                    )
                    .severity(r.severity.unwrap_or(Severity::High))
                    .global(module, name)
                    .evidence("layer", layer.unwrap_or("").to_owned())
                    .evidence("category", r.category.clone())
                    .evidence("signature", r.source.clone());
                self.push(f);
            }
            Some(_) => {}
            None if module.is_empty()
                || module == "builtins"
                || module == "__main__"
                || (raw && !module.contains('.') && is_keras_namespace(module)) =>
            {
                let f = self
                    .finding(
                        &CUSTOM_OBJECT,
                        format!("custom function {name:?} is resolved from the Keras registry or custom_objects"),
                        path,
                    )
                    .global(module, name);
                self.push_listed(CUSTOM_OBJECT.id, f);
            }
            None if is_keras_namespace(module) => {}
            None => self.unknown_module(module, name, path, layer),
        }
    }

    fn class_ref(&mut self, module: Option<&str>, class: &str, path: &str, layer: Option<&str>) {
        let module_s = module.unwrap_or("");
        if module_s.is_empty() || module_s == "__main__" {
            match self.policy.classes.lookup("*", class) {
                Some(r) if r.action == Action::Deny => {
                    let r = r.clone();
                    self.deny(module_s, class, &r, path, layer);
                }
                Some(_) => {}
                None => {
                    if let Some(r) = self.policy.modules.lookup("keras", class) {
                        if r.action == Action::Deny {
                            let r = r.clone();
                            self.deny(module_s, class, &r, path, layer);
                            return;
                        }
                    }
                    let f = self
                        .finding(
                            &CUSTOM_OBJECT,
                            format!("custom object {class:?} (not a Keras class) must come from the registry or custom_objects"),
                            path,
                        )
                        .global(module_s, class);
                    self.push_listed(CUSTOM_OBJECT.id, f);
                }
            }
            return;
        }
        match self.lookup(module_s, class).as_ref() {
            Some(r) if r.action == Action::Deny => {
                let r = r.clone();
                self.deny(module_s, class, &r, path, layer);
            }
            Some(_) => {}
            None if is_keras_namespace(module_s) => {}
            None => self.unknown_module(module_s, class, path, layer),
        }
    }

    fn registered(&mut self, reg: &str, path: &str, layer: Option<&str>) {
        let Some((pkg, name)) = reg.split_once('>') else {
            return;
        };
        if let Some(r) = self.policy.modules.lookup(pkg, name) {
            if r.action == Action::Deny && !is_keras_namespace(pkg) {
                let r = r.clone();
                self.deny(pkg, name, &r, path, layer);
            }
        }
    }

    /// The `keras-module` rule for `module.name`. TensorFlow's `compat.v1`/`compat.v2` trees
    /// re-export its namespaces (`tf.compat.v1.gfile`, `tf.compat.v2.io`, `tf.compat.v2.raw_ops`,
    /// also the TFOpLambda symbols Keras resolves by name): a deny on the plain namespace
    /// applies to them too.
    fn lookup(&self, module: &str, name: &str) -> Option<crate::scanners::rules::Rule> {
        let rule = self.policy.modules.lookup(module, name).cloned();
        if rule.as_ref().is_some_and(|r| r.action == Action::Deny) {
            return rule;
        }
        for compat in ["tensorflow.compat.v1", "tensorflow.compat.v2"] {
            if let Some(rest) = module.strip_prefix(compat) {
                if rest.is_empty() || rest.starts_with('.') {
                    let plain = format!("tensorflow{rest}");
                    if let Some(r) = self.policy.modules.lookup(&plain, name) {
                        if r.action == Action::Deny {
                            return Some(r.clone());
                        }
                    }
                }
            }
        }
        rule
    }

    fn deny(
        &mut self,
        module: &str,
        name: &str,
        r: &crate::scanners::rules::Rule,
        path: &str,
        layer: Option<&str>,
    ) {
        let shown = if module.is_empty() {
            name.to_owned()
        } else {
            format!("{module}.{name}")
        };
        let f = self
            .finding(
                &DANGEROUS_OBJECT,
                format!("config references {shown}: {}", r.reason),
                path,
            )
            .severity(r.severity.unwrap_or(Severity::High))
            .global(module, name)
            .evidence("layer", layer.unwrap_or("").to_owned())
            .evidence("category", r.category.clone())
            .evidence("signature", r.source.clone());
        self.push(f);
    }

    fn unknown_module(&mut self, module: &str, name: &str, path: &str, layer: Option<&str>) {
        let sev = self.cx.unknown_severity();
        let f = self
            .finding(
                &NON_KERAS_MODULE,
                format!("config imports {module}.{name}, outside the Keras namespaces and the allowlist"),
                path,
            )
            .severity(sev)
            .global(module, name)
            .evidence("layer", layer.unwrap_or("").to_owned());
        self.push_listed(NON_KERAS_MODULE.id, f);
    }
}

/// Keys whose string value Keras layers and keras_hub tokenizers treat as a file or URL to read.
const RESOURCE_KEYS: &[&str] = &[
    "vocabulary",
    "merges",
    "proto",
    "filepath",
    "file_path",
    "handle",
    "origin",
    "vocabulary_file",
    "vocab_file",
    "merges_file",
    "spm_proto",
    "fname",
    "url",
    "uri",
];

/// Whether a config string names a host path or URL: `(what it is, severity)`. Absolute,
/// home-relative and `..` paths and URLs are high wherever they are; a relative path is medium
/// under a key that layers read as a file (it resolves against the loading process's working
/// directory, not the archive).
pub fn resource_kind(key: &str, v: &str) -> Option<(&'static str, Severity)> {
    let t = v.trim();
    if t.len() < 2 || t.len() > 4096 {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    if let Some((scheme, rest)) = lower.split_once("://") {
        if !rest.is_empty()
            && matches!(
                scheme,
                "http"
                    | "https"
                    | "ftp"
                    | "file"
                    | "gs"
                    | "s3"
                    | "hdfs"
                    | "ws"
                    | "wss"
                    | "gcs"
                    | "az"
                    | "abfs"
            )
        {
            return Some(("a URL", Severity::High));
        }
    }
    // TF device and job names look like absolute paths but are not files.
    if lower.starts_with("/device:") || lower.starts_with("/job:") {
        return None;
    }
    let bytes = t.as_bytes();
    let abs_unix = t.starts_with('/')
        && bytes
            .get(1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'_' || *b == b'~');
    let abs_win = t.starts_with('\\')
        || (bytes.first().is_some_and(u8::is_ascii_alphabetic)
            && bytes.get(1) == Some(&b':')
            && matches!(bytes.get(2), Some(b'\\' | b'/')));
    if abs_unix || abs_win || t.starts_with("~/") {
        return Some(("an absolute host path", Severity::High));
    }
    if t == ".." || t.split(['/', '\\']).any(|c| c == "..") && (t.contains('/') || t.contains('\\'))
    {
        return Some(("a path outside the model (`..`)", Severity::High));
    }
    if RESOURCE_KEYS.contains(&key) && (t.contains('/') || t.contains('\\') || t.contains('.')) {
        return Some(("a relative file path", Severity::Medium));
    }
    None
}

/// Names that make a decoded lambda's intent obvious.
const RISKY_NAMES: &[&str] = &[
    "os",
    "system",
    "popen",
    "subprocess",
    "exec",
    "eval",
    "compile",
    "__import__",
    "__builtins__",
    "open",
    "socket",
    "urllib",
    "requests",
    "pickle",
    "marshal",
    "getattr",
    "setattr",
    "importlib",
    "ctypes",
    "shutil",
    "remove",
    "unlink",
    "rmtree",
    "spawn",
    "execve",
    "Popen",
    "check_output",
    "run",
];

/// `keras`, `keras.*`, `tf_keras`, `tf_keras.*`, `tensorflow.keras`, `tensorflow.python.keras`.
pub fn is_keras_namespace(module: &str) -> bool {
    let under = |p: &str| module == p || module.strip_prefix(p).is_some_and(|r| r.starts_with('.'));
    under("keras")
        || under("tf_keras")
        || under("tensorflow.keras")
        || under("tensorflow.python.keras")
}

fn contains_bytecode(m: &Map<String, Value>) -> bool {
    fn walk(v: &Value, budget: &mut u32) -> bool {
        *budget = budget.saturating_sub(1);
        if *budget == 0 {
            return false;
        }
        match v {
            Value::Object(m) => {
                if m.get("class_name").and_then(Value::as_str) == Some("__lambda__") {
                    return true;
                }
                if m.iter()
                    .any(|(k, v)| k.ends_with("_type") && v.as_str() == Some("lambda"))
                {
                    return true;
                }
                m.values().any(|x| walk(x, budget))
            }
            Value::Array(a) => a.iter().any(|x| walk(x, budget)),
            _ => false,
        }
    }
    let mut budget = 100_000;
    walk(&Value::Object(m.clone()), &mut budget)
}

/// Whether `a` is the `config.json` of a `.keras` archive.
pub fn in_keras_archive(a: &Artifact) -> bool {
    if a.name != "config.json" {
        return false;
    }
    let parent = match a.location.inner.len() {
        0 => return false,
        1 => a.location.path.as_str(),
        n => a
            .location
            .inner
            .get(n.saturating_sub(2))
            .map_or("", String::as_str),
    };
    parent.to_ascii_lowercase().ends_with(".keras")
}

/// Scans a Keras v3 `config.json` (or any JSON sniffed as a Keras config).
pub struct KerasScanner;

impl Scanner for KerasScanner {
    fn id(&self) -> &'static str {
        "keras"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::KerasConfig]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let Some(bytes) = a.content.read_all(MAX_CONFIG_BYTES)? else {
            return Err(ScanError::Budget(format!(
                "Keras config larger than {MAX_CONFIG_BYTES} bytes"
            )));
        };
        let origin = Origin {
            location: a.location.clone(),
            label: a.name.clone(),
        };
        match parse_config(&bytes) {
            // Keras deserializes nested objects even when the top level is a plain dict, so a
            // config sniffed as Keras is always walked with the Keras policy.
            Ok((v, refused)) => {
                if refused {
                    out.push(
                        Finding::new(
                            &MALFORMED_CONFIG,
                            a.location.clone(),
                            "Keras config is not strict JSON (comments or trailing commas); read leniently",
                        )
                        .evidence("config", a.name.clone()),
                    );
                }
                if is_keras_config(&v) || in_keras_archive(a) {
                    check_config(&v, &origin, a, cx, out);
                } else {
                    cx.check_json(&v, a, out);
                }
            }
            Err(e) => out.push(
                Finding::new(
                    &MALFORMED_CONFIG,
                    a.location.clone(),
                    format!("Keras config is not valid JSON: {e}"),
                )
                .evidence("config", a.name.clone()),
            ),
        }
        Ok(())
    }
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
    fn resource_strings() {
        let high = |k: &str, v: &str| resource_kind(k, v).map(|r| r.1) == Some(Severity::High);
        assert!(high("vocabulary", "/etc/passwd"));
        assert!(high("name", "/etc/passwd"));
        assert!(high("origin", "https://example.com/x.tgz"));
        assert!(high("x", "file:///etc/shadow"));
        assert!(high("proto", "gs://bucket/spm.model"));
        assert!(high("merges", "../../secrets/merges.txt"));
        assert!(high("vocabulary", "~/.ssh/id_rsa"));
        assert!(high("filepath", "C:\\Users\\x\\model"));
        assert_eq!(
            resource_kind("vocabulary", "vocab.txt").map(|r| r.1),
            Some(Severity::Medium)
        );
        // Ordinary config strings are not resources.
        for (k, v) in [
            ("name", "dense_1"),
            ("activation", "relu"),
            ("padding", "same"),
            ("module", "keras.layers"),
            ("registered_name", "keras_hub>GemmaTokenizer"),
            ("device", "/device:GPU:0"),
            ("oov_token", "[UNK]"),
            ("end_token", "</s>"),
            ("split", "/"),
            ("dtype", "float32"),
            ("version", "3.12.0"),
        ] {
            assert!(resource_kind(k, v).is_none(), "{k}={v}");
        }
    }
}
