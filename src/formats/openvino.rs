#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! OpenVINO IR (`model.xml` + `model.bin`): a `<net>` document whose `<layers>` name operations
//! by `type` and `version` (the opset), with `Const` layers pointing into the weights file by
//! `offset` and `size`. Read the way the IR frontend reads it
//! (`src/frontends/ir/src/ir_deserializer.cpp`):
//!
//! * a layer is created from a registered **extension** first (`m_extensions.find({type,
//!   version})`), then from the standard opset named by `version` (`opset1` … `opset16`,
//!   case-insensitive type lookup; `experimental`/`extension` for the ops that moved into
//!   `opset6`). A layer whose type is in no standard opset, or whose version names none, only
//!   loads when the application registered an extension library for it (`core.add_extension`):
//!   native code that ships with the model;
//! * a `Const` layer's `<data offset size>` are parsed by `get_uint64_attr` (`std::stoll`, base
//!   10, the whole string, not negative) and checked against the weights buffer
//!   (`m_weights->size() < offset + size` refuses the model);
//! * `rt_info` sections (model, layer and port level) are free-form name/value pairs kept with
//!   the model; a value naming a shared library is a library the deployment is asked to load.
//!
//! The weights file is found the way `read_model` finds it: the XML path with `.bin` for `.xml`.

use std::io::Read;

use crate::formats::native::is_library_path;
use crate::formats::xml::{self, Doctype, XmlError, XmlEvent};

/// Facts kept per kind (a model with more is reported by its first ones).
const MAX_FACTS: usize = 64;

/// Every operation type of the standard opsets (`opset1` … `opset17` tables), plus the IR's
/// legacy spellings (`Const`, `ReLU`, `PReLU`, `SoftMax`) the deserializer translates.
pub const STANDARD_OPS: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "AdaptiveAvgPool",
    "AdaptiveMaxPool",
    "Add",
    "Asin",
    "Asinh",
    "Assign",
    "Atan",
    "Atanh",
    "AvgPool",
    "BatchNormInference",
    "BatchToSpace",
    "BGRtoNV12",
    "BinaryConvolution",
    "BitwiseAnd",
    "BitwiseLeftShift",
    "BitwiseNot",
    "BitwiseOr",
    "BitwiseRightShift",
    "BitwiseXor",
    "Broadcast",
    "Bucketize",
    "Ceiling",
    "Clamp",
    "Col2Im",
    "Concat",
    "Const",
    "Constant",
    "Convert",
    "ConvertLike",
    "ConvertPromoteTypes",
    "Convolution",
    "ConvolutionBackpropData",
    "Cos",
    "Cosh",
    "CTCGreedyDecoder",
    "CTCGreedyDecoderSeqLen",
    "CTCLoss",
    "CumSum",
    "DeformableConvolution",
    "DeformablePSROIPooling",
    "DepthToSpace",
    "DetectionOutput",
    "DFT",
    "Divide",
    "Einsum",
    "Elu",
    "EmbeddingBagOffsets",
    "EmbeddingBagOffsetsSum",
    "EmbeddingBagPacked",
    "EmbeddingBagPackedSum",
    "EmbeddingSegmentsSum",
    "Equal",
    "Erf",
    "ErfInv",
    "Exp",
    "ExperimentalDetectronDetectionOutput",
    "ExperimentalDetectronGenerateProposalsSingleImage",
    "ExperimentalDetectronPriorGridGenerator",
    "ExperimentalDetectronROIFeatureExtractor",
    "ExperimentalDetectronTopKROIs",
    "ExtractImagePatches",
    "Eye",
    "FakeConvert",
    "FakeQuantize",
    "Floor",
    "FloorMod",
    "Gather",
    "GatherElements",
    "GatherND",
    "GatherTree",
    "Gelu",
    "GenerateProposals",
    "Greater",
    "GreaterEqual",
    "GridSample",
    "GRN",
    "GroupConvolution",
    "GroupConvolutionBackpropData",
    "GroupNormalization",
    "GRUCell",
    "GRUSequence",
    "HardSigmoid",
    "HSigmoid",
    "HSwish",
    "I420toBGR",
    "I420toRGB",
    "Identity",
    "IDFT",
    "If",
    "Interpolate",
    "Inverse",
    "IRDFT",
    "IsFinite",
    "IsInf",
    "IsNaN",
    "ISTFT",
    "Less",
    "LessEqual",
    "Log",
    "LogicalAnd",
    "LogicalNot",
    "LogicalOr",
    "LogicalXor",
    "LogSoftmax",
    "Loop",
    "LRN",
    "LSTMCell",
    "LSTMSequence",
    "MatMul",
    "MatrixNms",
    "Maximum",
    "MaxPool",
    "Minimum",
    "Mish",
    "Mod",
    "MOE",
    "MulticlassNms",
    "Multinomial",
    "Multiply",
    "MVN",
    "Negative",
    "NMSRotated",
    "NonMaxSuppression",
    "NonZero",
    "NormalizeL2",
    "NotEqual",
    "NV12toBGR",
    "NV12toRGB",
    "OneHot",
    "Pad",
    "Parameter",
    "Power",
    "PReLU",
    "PRelu",
    "PriorBox",
    "PriorBoxClustered",
    "Proposal",
    "PSROIPooling",
    "RandomUniform",
    "Range",
    "RDFT",
    "ReadValue",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogicalAnd",
    "ReduceLogicalOr",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "RegionYolo",
    "ReLU",
    "Relu",
    "ReorgYolo",
    "Reshape",
    "Result",
    "Reverse",
    "ReverseSequence",
    "RGBtoNV12",
    "RNNCell",
    "RNNSequence",
    "ROIAlign",
    "ROIAlignRotated",
    "ROIPooling",
    "Roll",
    "Round",
    "ScaledDotProductAttention",
    "ScatterElementsUpdate",
    "ScatterNDUpdate",
    "ScatterUpdate",
    "SearchSorted",
    "SegmentMax",
    "Select",
    "Selu",
    "ShapeOf",
    "ShuffleChannels",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Slice",
    "SliceScatter",
    "SoftMax",
    "Softmax",
    "SoftPlus",
    "SoftSign",
    "SpaceToBatch",
    "SpaceToDepth",
    "SparseConv",
    "SparseFillEmptyRows",
    "Split",
    "Sqrt",
    "SquaredDifference",
    "Squeeze",
    "STFT",
    "StridedSlice",
    "StringTensorPack",
    "StringTensorUnpack",
    "Subtract",
    "Swish",
    "Tan",
    "Tanh",
    "TensorIterator",
    "Tile",
    "TopK",
    "Transpose",
    "Unique",
    "Unsqueeze",
    "VariadicSplit",
    "Xor",
];

/// The ops the deserializer maps from version `experimental`/`extension` into `opset6`.
const EXPERIMENTAL_IN_OPSET6: &[&str] = &[
    "ExperimentalDetectronDetectionOutput",
    "ExperimentalDetectronGenerateProposalsSingleImage",
    "ExperimentalDetectronPriorGridGenerator",
    "ExperimentalDetectronROIFeatureExtractor",
    "ExperimentalDetectronTopKROIs",
    "GRUCell",
    "RNNCell",
    "Proposal",
];

/// Whether a layer of `type_name` and `version` is created from a standard opset (no extension
/// library needed).
pub fn is_standard(type_name: &str, version: &str) -> bool {
    let known = STANDARD_OPS
        .iter()
        .any(|op| op.eq_ignore_ascii_case(type_name));
    let opset = version
        .strip_prefix("opset")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if opset {
        return known;
    }
    matches!(version, "experimental" | "extension") && EXPERIMENTAL_IN_OPSET6.contains(&type_name)
}

/// A layer the standard opsets do not provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLayer {
    pub id: String,
    pub name: String,
    pub type_name: String,
    pub version: String,
}

/// A `Const` layer's window into the weights file, as the loader parses it (only for layers the
/// frontend creates: an unreachable `Const` is never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstData {
    pub id: String,
    pub name: String,
    /// `Ok((offset, size))`, or why the loader refuses the attributes.
    pub range: Result<(u64, u64), String>,
}

/// A shared-library path in a model's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryRef {
    pub place: String,
    pub value: String,
}

/// What an IR document holds, as far as scanning is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ir {
    pub name: Option<String>,
    /// The IR version (`<net version>`: 10 or 11).
    pub version: Option<String>,
    pub layers: usize,
    pub custom_layers: Vec<CustomLayer>,
    /// How many custom layers the frontend creates (past the ones kept).
    pub custom_count: usize,
    /// Custom layers in the top-level graph that no output reaches: the frontend never creates
    /// them, so they need no extension.
    pub unreachable_custom: usize,
    /// Every `Const` layer's data window (all are kept: each is checked against the weights).
    pub consts: Vec<ConstData>,
    pub libraries: Vec<LibraryRef>,
    pub doctype: Option<Doctype>,
    pub entity_refs: Vec<String>,
}

/// Why an IR document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IrError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the root element is <{0}>, not <net>")]
    NotIr(String),
}

/// `get_uint64_attr`: `std::stoll(value, &idx, 10)` must consume the whole string (leading
/// whitespace and a sign are accepted by `stoll`), and the value must not be negative.
pub fn parse_uint64_attr(v: &str) -> Result<u64, String> {
    let t = v.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or_default()),
        Some(b'+') => (false, t.get(1..).unwrap_or_default()),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{v:?} is not a 64-bit integer"));
    }
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{v:?} is out of the 64-bit signed range"))?;
    if neg && n != 0 {
        return Err(format!("{v:?} is negative"));
    }
    u64::try_from(n).map_err(|_| format!("{v:?} is negative"))
}

/// The layer being read (its `<data>` comes as a child element).
#[derive(Default)]
struct OpenLayer {
    depth: usize,
    id: String,
    name: String,
    type_name: String,
}

impl Ir {
    /// Reads an IR document to its end; the facts read before an error come with it.
    pub fn read(input: impl Read) -> (Self, Result<(), IrError>) {
        let mut ir = Ir::default();
        let mut graph = TopGraph::default();
        let mut customs: Vec<(CustomLayer, bool)> = Vec::new();
        let mut consts: Vec<(ConstData, bool)> = Vec::new();
        let mut layers: Vec<OpenLayer> = Vec::new();
        let mut rt_info_depth: Option<usize> = None;
        let mut not_ir: Option<String> = None;
        let r = xml::read_events(input, |ev| {
            match ev {
                XmlEvent::Doctype(d) => ir.doctype = Some(d),
                XmlEvent::EntityRef(n) => push(&mut ir.entity_refs, n),
                XmlEvent::Start(el) => {
                    for r in &el.entity_refs {
                        push(&mut ir.entity_refs, r.clone());
                    }
                    if el.depth == 1 {
                        if el.local() != "net" {
                            not_ir = Some(el.name.clone());
                            return false;
                        }
                        ir.name = el.attr("name").map(str::to_owned);
                        ir.version = el.attr("version").map(str::to_owned);
                    }
                    match el.local() {
                        "layer" => {
                            ir.layers = ir.layers.saturating_add(1);
                            let layer = OpenLayer {
                                depth: el.depth,
                                id: el.attr("id").unwrap_or_default().to_owned(),
                                name: el.attr("name").unwrap_or_default().to_owned(),
                                type_name: el.attr("type").unwrap_or_default().to_owned(),
                            };
                            let version = el.attr("version").unwrap_or_default();
                            let top = el.depth == TOP_LAYER_DEPTH;
                            if top {
                                graph
                                    .layers
                                    .push((layer.id.clone(), layer.type_name.clone()));
                            }
                            if !is_standard(&layer.type_name, version) {
                                customs.push((
                                    CustomLayer {
                                        id: layer.id.clone(),
                                        name: layer.name.clone(),
                                        type_name: layer.type_name.clone(),
                                        version: version.to_owned(),
                                    },
                                    top,
                                ));
                            }
                            if !el.empty {
                                layers.push(layer);
                            }
                        }
                        "data" => {
                            if let Some(l) = layers.last() {
                                // Only the layer's own `<data>` (a direct child) configures it.
                                let own = el.depth == l.depth.saturating_add(1);
                                if own && l.type_name.eq_ignore_ascii_case("Const") {
                                    consts.push((const_data(l, &el), l.depth == TOP_LAYER_DEPTH));
                                }
                            }
                        }
                        "edge" if el.depth == TOP_LAYER_DEPTH => {
                            if let (Some(from), Some(to)) =
                                (el.attr("from-layer"), el.attr("to-layer"))
                            {
                                graph.edges.push((from.to_owned(), to.to_owned()));
                            }
                        }
                        "rt_info" if rt_info_depth.is_none() && !el.empty => {
                            rt_info_depth = Some(el.depth);
                        }
                        _ => {}
                    }
                    let in_rt_info = rt_info_depth.is_some();
                    for (k, v) in &el.attrs {
                        let data_attr = el.local() == "data" && !layers.is_empty();
                        if (in_rt_info || data_attr) && is_library_path(v) {
                            push(
                                &mut ir.libraries,
                                LibraryRef {
                                    place: format!("<{}> {k}", el.name),
                                    value: v.clone(),
                                },
                            );
                        }
                    }
                }
                XmlEvent::Text(t) => {
                    if rt_info_depth.is_some() && is_library_path(&t) {
                        push(
                            &mut ir.libraries,
                            LibraryRef {
                                place: "rt_info text".to_owned(),
                                value: t.trim().to_owned(),
                            },
                        );
                    }
                }
                XmlEvent::End { depth, .. } => {
                    if layers.last().is_some_and(|l| l.depth == depth) {
                        layers.pop();
                    }
                    if rt_info_depth == Some(depth) {
                        rt_info_depth = None;
                    }
                }
                XmlEvent::Pi { .. } => {}
            }
            true
        });
        let reachable = graph.created();
        for (c, top) in customs {
            if top && !reachable.contains(&c.id) {
                ir.unreachable_custom = ir.unreachable_custom.saturating_add(1);
                continue;
            }
            ir.custom_count = ir.custom_count.saturating_add(1);
            push(&mut ir.custom_layers, c);
        }
        ir.consts = consts
            .into_iter()
            .filter(|(c, top)| !top || reachable.contains(&c.id))
            .map(|(c, _)| c)
            .collect();
        let result = match (not_ir, r) {
            (Some(root), _) => Err(IrError::NotIr(root)),
            (None, r) => r.map_err(IrError::from),
        };
        (ir, result)
    }
}

/// `<net>` (1) > `<layers>`/`<edges>` (2) > `<layer>`/`<edge>` (3): the top-level graph. Layers
/// in sub-graph bodies (TensorIterator, Loop, If) nest deeper and are taken as created.
const TOP_LAYER_DEPTH: usize = 3;

/// The top-level graph's layers and edges, for the frontend's creation rule.
#[derive(Default)]
struct TopGraph {
    /// `(id, type)` of each layer.
    layers: Vec<(String, String)>,
    /// `(from-layer, to-layer)` of each edge.
    edges: Vec<(String, String)>,
}

impl TopGraph {
    /// The ids of the layers `parse_function` creates: every `Parameter`, and every layer a
    /// depth-first walk reaches from the `Result` and `Assign` layers against the edges. Ids
    /// compare as the loader parses them (`get_uint64_attr`), falling back to the text.
    fn created(&self) -> std::collections::BTreeSet<String> {
        let key =
            |id: &str| parse_uint64_attr(id).map_or_else(|_| id.to_owned(), |n| n.to_string());
        let mut into: std::collections::BTreeMap<String, Vec<String>> =
            std::collections::BTreeMap::new();
        for (from, to) in &self.edges {
            into.entry(key(to)).or_default().push(key(from));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<String> = Vec::new();
        for (id, ty) in &self.layers {
            if ty == "Parameter" {
                seen.insert(key(id));
            } else if ty == "Result" || ty == "Assign" {
                stack.push(key(id));
            }
        }
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(froms) = into.get(&id) {
                stack.extend(froms.iter().cloned());
            }
        }
        // Report ids as written in the document.
        self.layers
            .iter()
            .filter(|(id, _)| seen.contains(&key(id)))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

fn const_data(l: &OpenLayer, el: &xml::Element) -> ConstData {
    let range = match (el.attr("offset"), el.attr("size")) {
        (Some(o), Some(s)) => parse_uint64_attr(o).and_then(|o| Ok((o, parse_uint64_attr(s)?))),
        _ if el.attr("value").is_some() => Ok((0, 0)),
        (None, _) => Err("no offset attribute".to_owned()),
        (_, None) => Err("no size attribute".to_owned()),
    };
    ConstData {
        id: l.id.clone(),
        name: l.name.clone(),
        range,
    }
}

fn push<T>(v: &mut Vec<T>, x: T) {
    if v.len() < MAX_FACTS {
        v.push(x);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const IR: &str = r#"<?xml version="1.0"?>
<net name="m" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,4" element_type="f32"/></layer>
    <layer id="1" name="w" type="Const" version="opset1"><data element_type="f32" shape="4" offset="0" size="16"/></layer>
    <layer id="2" name="add" type="Add" version="opset1"/>
    <layer id="3" name="tok" type="RegexNormalization" version="extension"><data path="libopenvino_tokenizers.so"/></layer>
    <layer id="4" name="out" type="Result" version="opset1"/>
  </layers>
  <edges>
    <edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
    <edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>
    <edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>
    <edge from-layer="3" from-port="1" to-layer="4" to-port="0"/>
  </edges>
  <rt_info><custom_lib value="/opt/ext/libevil.so.1"/><Runtime_version value="2025.1.0"/></rt_info>
</net>"#;

    #[test]
    fn reads_layers_consts_and_libraries() {
        let (ir, r) = Ir::read(IR.as_bytes());
        r.unwrap();
        assert_eq!(ir.version.as_deref(), Some("11"));
        assert_eq!(ir.layers, 5);
        assert_eq!(ir.custom_layers.len(), 1);
        assert_eq!(ir.custom_layers[0].type_name, "RegexNormalization");
        assert_eq!(ir.consts.len(), 1);
        assert_eq!(ir.consts[0].range, Ok((0, 16)));
        let libs: Vec<&str> = ir.libraries.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(
            libs,
            vec!["libopenvino_tokenizers.so", "/opt/ext/libevil.so.1"]
        );
    }

    #[test]
    fn layers_no_output_reaches_are_not_created() {
        let ir_text = r#"<net name="m" version="11"><layers>
<layer id="0" type="Parameter" version="opset1"/>
<layer id="1" type="Const" version="opset1"><data offset="0" size="999999"/></layer>
<layer id="2" type="MyOp" version="custom"/>
<layer id="3" type="OtherOp" version="custom"/>
<layer id="4" type="Result" version="opset1"/>
</layers><edges>
<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
<edge from-layer="2" from-port="1" to-layer="4" to-port="0"/>
</edges></net>"#;
        let (ir, r) = Ir::read(ir_text.as_bytes());
        r.unwrap();
        assert_eq!(ir.custom_layers.len(), 1);
        assert_eq!(ir.custom_layers[0].type_name, "MyOp");
        assert_eq!(ir.unreachable_custom, 1);
        assert!(ir.consts.is_empty(), "{:?}", ir.consts);
    }

    #[test]
    fn standard_ops_by_opset() {
        assert!(is_standard("Convolution", "opset1"));
        assert!(is_standard("convolution", "opset8"));
        assert!(is_standard("Proposal", "experimental"));
        assert!(!is_standard("MyOp", "opset1"));
        assert!(!is_standard("Convolution", "custom_opset"));
        assert!(!is_standard("Convolution", "opset"));
    }

    #[test]
    fn offsets_parse_like_stoll() {
        assert_eq!(parse_uint64_attr("16"), Ok(16));
        assert_eq!(parse_uint64_attr(" +16"), Ok(16));
        assert!(parse_uint64_attr("-1").is_err());
        assert!(parse_uint64_attr("16 ").is_err());
        assert!(parse_uint64_attr("0x10").is_err());
        assert!(parse_uint64_attr("9223372036854775808").is_err());
        assert_eq!(
            parse_uint64_attr("9223372036854775807"),
            Ok(i64::MAX as u64)
        );
    }
}
