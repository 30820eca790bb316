#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! skops files (`.skops`): a zip whose `schema.json` is a tree of nodes. `skops.io.load` reads
//! `schema.json` from any zip (`skops/io/_persist.py`), checks its `protocol`
//! (`_utils.read_schema`: an int, not a bool, between 0 and the protocol skops knows), then turns
//! every JSON object with a `__loader__` into a `Node` (`_audit.get_tree`): the loader decides
//! what the node does when constructed, and `__module__` + `__class__` name the type or function
//! it imports. Arrays and bytes live beside the schema as `.npy` (read with
//! `allow_pickle=False`) and `.bin` members, which the zip walker scans on their own.
//!
//! This module reads the tree into a flat list of [`Node`]s; what each node may import without
//! the caller trusting it is signature data (`signatures/skops.toml`), judged by
//! [`crate::scanners::skops`].

use serde_json::Value;

/// Where skops looks for the tree in the zip.
pub const SCHEMA_PATH: &str = "schema.json";

/// The newest protocol skops 0.16 reads; files claiming a newer one are refused by the loader.
pub const PROTOCOL: i64 = 2;

/// Schemas larger than this are not read (real ones are kilobytes to a few megabytes: arrays
/// are separate members).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024 * 1024;

/// Nodes beyond this many are not examined (the scanner reports the rest as not inspected).
pub const MAX_NODES: usize = 1_000_000;

/// One node of the tree: an object with a `__loader__`, as `get_tree` sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Where the node sits in `schema.json` (a JSON pointer).
    pub path: String,
    /// `__loader__`, when it is a string (`None` otherwise: the loader fails on it).
    pub loader: Option<String>,
    pub module: Option<String>,
    pub class: Option<String>,
    /// `MethodNode`: the method name (`content.func`) looked up on the object.
    pub method: Option<String>,
    /// `RandomGeneratorNode`: the bit generator name the loader looks up in `numpy.random` and
    /// calls.
    pub bit_generator: Option<String>,
    /// `NdArrayNode` / `SparseMatrixNode`: `type` (`numpy`, `json`, `scipy`).
    pub array_type: Option<String>,
}

impl Node {
    /// `module.class`, the name skops checks against its trusted list.
    pub fn type_name(&self) -> Option<String> {
        Some(format!(
            "{}.{}",
            self.module.as_deref()?,
            self.class.as_deref()?
        ))
    }
}

/// The tree of a `schema.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// `protocol` as written (the scanner judges it, see [`protocol_problem`]).
    pub protocol: Option<Value>,
    pub nodes: Vec<Node>,
    /// Whether [`MAX_NODES`] stopped the walk.
    pub truncated: bool,
}

/// Why a `schema.json` does not read as a skops tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema.json is {0} bytes, more than the {MAX_SCHEMA_BYTES} read")]
    TooLarge(usize),
    #[error("schema.json is not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but its root is not a node: not a skops file at all.
    #[error("schema.json is not a skops tree (its root has no `__loader__`)")]
    NotATree,
}

/// Reads `schema.json` bytes. Strict JSON like Python's `json.loads` of skops (serde_json's
/// recursion limit bounds nesting; a tree deeper than that is an error, never a partial read).
/// Duplicate keys keep the last value, as Python's `dict` does.
pub fn parse(bytes: &[u8]) -> Result<(Value, Schema), SchemaError> {
    if bytes.len() > MAX_SCHEMA_BYTES {
        return Err(SchemaError::TooLarge(bytes.len()));
    }
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| SchemaError::NotJson(e.to_string()))?;
    let schema = read_tree(&v)?;
    Ok((v, schema))
}

/// The nodes of a parsed `schema.json`, depth first.
pub fn read_tree(v: &Value) -> Result<Schema, SchemaError> {
    let root = v.as_object().ok_or(SchemaError::NotATree)?;
    if !root.contains_key("__loader__") {
        return Err(SchemaError::NotATree);
    }
    let mut schema = Schema {
        protocol: root.get("protocol").cloned(),
        ..Schema::default()
    };
    // Every object with a `__loader__` is a node wherever it sits: skops only builds the ones
    // its loaders reach, but a node this walk reports that the loader never builds costs a
    // finding, while the reverse would cost a miss.
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), v)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.contains_key("__loader__") {
                    if schema.nodes.len() >= MAX_NODES {
                        schema.truncated = true;
                        break;
                    }
                    schema.nodes.push(node(&path, map));
                }
                for (k, child) in map.iter().rev() {
                    if matches!(child, Value::Object(_) | Value::Array(_)) {
                        stack.push((format!("{path}/{}", escape(k)), child));
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    if matches!(child, Value::Object(_) | Value::Array(_)) {
                        stack.push((format!("{path}/{i}"), child));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(schema)
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn string(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn node(path: &str, map: &serde_json::Map<String, Value>) -> Node {
    let loader = string(map, "__loader__");
    let content = map.get("content");
    let method = match loader.as_deref() {
        Some("MethodNode") => content.and_then(|c| c.get("func")).and_then(Value::as_str),
        _ => None,
    };
    let bit_generator = match loader.as_deref() {
        Some("RandomGeneratorNode") => bit_generator_name(content),
        _ => None,
    };
    Node {
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        module: string(map, "__module__"),
        class: string(map, "__class__"),
        method: method.map(str::to_owned),
        bit_generator,
        array_type: string(map, "type"),
        loader,
    }
}

/// `RandomGeneratorNode`: skops reads the bit generator's class name from
/// `content.bit_generator.content.bit_generator.content` (a JSON literal of a `JsonNode`), and
/// protocol-0 files keep it as a plain string at `content.bit_generator.bit_generator`.
fn bit_generator_name(content: Option<&Value>) -> Option<String> {
    let state = content?.get("bit_generator")?;
    if let Some(s) = state.get("bit_generator").and_then(Value::as_str) {
        return Some(s.to_owned());
    }
    let literal = state
        .get("content")?
        .get("bit_generator")?
        .get("content")?
        .as_str()?;
    match serde_json::from_str::<Value>(literal).ok()? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// Why the loader refuses the file's `protocol` (`_utils.read_schema`), if it does.
pub fn protocol_problem(protocol: Option<&Value>) -> Option<String> {
    match protocol {
        None => Some("schema.json has no protocol".to_owned()),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p) if (0..=PROTOCOL).contains(&p) => None,
            Some(p) if p > PROTOCOL => Some(format!(
                "protocol {p} is newer than the {PROTOCOL} skops 0.16 reads"
            )),
            _ => Some(format!("protocol {n} is not a protocol number")),
        },
        Some(other) => Some(format!("protocol {other} is not an integer")),
    }
}

/// Whether a zip listing is a skops file: skops reads `schema.json` at the top of any zip.
pub fn is_skops_listing(names: &[&str]) -> bool {
    names.contains(&SCHEMA_PATH)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn reads_nodes_depth_first_with_their_loaders() {
        let (_, s) = parse(
            br#"{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode",
                 "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                   "content": {"f": {"__class__": "StandardScaler", "__module__": "m", "__loader__": "MethodNode",
                                     "content": {"func": "fit", "obj": {"__class__": "StandardScaler", "__module__": "m", "__loader__": "ObjectNode"}}}},
                   "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": []}},
                 "protocol": 2}"#,
        )
        .unwrap();
        let names: Vec<_> = s.nodes.iter().map(|n| n.type_name().unwrap()).collect();
        assert_eq!(
            names,
            [
                "sklearn.pipeline.Pipeline",
                "builtins.dict",
                "m.StandardScaler",
                "m.StandardScaler",
                "builtins.list"
            ]
        );
        assert_eq!(s.nodes[2].method.as_deref(), Some("fit"));
        assert_eq!(s.nodes[2].path, "/content/content/f");
        assert_eq!(protocol_problem(s.protocol.as_ref()), None);
    }

    #[test]
    fn bit_generator_names_are_read_both_ways() {
        let v: Value = serde_json::from_str(
            r#"{"bit_generator": {"content": {"bit_generator": {"content": "\"PCG64\""}}}}"#,
        )
        .unwrap();
        assert_eq!(bit_generator_name(Some(&v)).as_deref(), Some("PCG64"));
        let v: Value =
            serde_json::from_str(r#"{"bit_generator": {"bit_generator": "MT19937"}}"#).unwrap();
        assert_eq!(bit_generator_name(Some(&v)).as_deref(), Some("MT19937"));
    }

    #[test]
    fn protocols_are_judged_like_read_schema() {
        let p = |s: &str| protocol_problem(Some(&serde_json::from_str(s).unwrap()));
        assert!(p("2").is_none());
        assert!(p("0").is_none());
        assert!(p("3").is_some());
        assert!(p("-1").is_some());
        assert!(p("true").is_some());
        assert!(p("1.0").is_some());
        assert!(protocol_problem(None).is_some());
    }

    #[test]
    fn other_json_is_not_a_tree() {
        assert_eq!(parse(b"{\"a\": 1}").unwrap_err(), SchemaError::NotATree);
        assert_eq!(parse(b"[1]").unwrap_err(), SchemaError::NotATree);
        assert!(matches!(parse(b"{"), Err(SchemaError::NotJson(_))));
    }
}
