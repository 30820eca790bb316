//! scikit-learn estimators (pickle or joblib, compressed or not) → ONNX with ai.onnx.ml operators.
//! The pickle runs in the symbolic VM; only the globals of formats.md §8.3 are admitted; the
//! estimator's pickled state is pattern-matched and mapped as skl2onnx maps it (§5.1).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::io::Write;
use std::path::Path;

use prost::Message;

use crate::format::Format;
use crate::pickle::vm::{Val, Value, Vm, VmOptions};
use crate::proto::onnx::{GraphProto, NodeProto};

use super::ndarray::{Data, NdArray};
use super::onnx::{
    attr_f, attr_floats, attr_i, attr_ints, attr_s, attr_strings, model, node, tensor_type,
    value_info, zipmap_type, FLOAT, INT64, ML, STRING,
};
use super::{check_globals, Admit, ConvertError, ConvertOptions, Summary};

/// The estimators this converter understands.
pub const SUPPORTED: &[&str] = &[
    "LinearRegression",
    "Ridge",
    "LogisticRegression",
    "SGDClassifier (hinge, log_loss)",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "StandardScaler",
    "Pipeline of these",
];

/// The refusal reason for an sklearn class outside the allowlist.
const UNSUPPORTED_ESTIMATOR: &str = "this estimator is not supported by the ONNX converter (supported: LinearRegression, Ridge, LogisticRegression, SGDClassifier (hinge, log_loss), DecisionTreeClassifier, DecisionTreeRegressor, RandomForestClassifier, RandomForestRegressor, GradientBoostingClassifier, GradientBoostingRegressor, StandardScaler, Pipeline of these)";

const ESTIMATORS: &[(&str, &str)] = &[
    ("sklearn.linear_model._base", "LinearRegression"),
    ("sklearn.linear_model._ridge", "Ridge"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.linear_model._stochastic_gradient", "SGDClassifier"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._classes", "DecisionTreeRegressor"),
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.ensemble._forest", "RandomForestRegressor"),
    ("sklearn.ensemble._gb", "GradientBoostingClassifier"),
    ("sklearn.ensemble._gb", "GradientBoostingRegressor"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.dummy", "DummyClassifier"),
    ("sklearn.dummy", "DummyRegressor"),
    ("sklearn.tree._tree", "Tree"),
];

/// The sklearn → ONNX allowlist (formats.md §8.3).
pub fn admit(module: &str, name: &str) -> Admit {
    if ESTIMATORS.contains(&(module, name)) {
        return Admit::Interpret;
    }
    match (module, name) {
        ("numpy._core.multiarray" | "numpy._core._internal", "_reconstruct")
        | ("numpy._core.multiarray", "scalar")
        | ("numpy._core.numeric", "_frombuffer")
        | ("numpy", "ndarray" | "dtype")
        | ("_codecs", "encode")
        | ("joblib.numpy_pickle", "NumpyArrayWrapper")
        | ("copyreg", "_reconstructor")
        | ("builtins", "object") => Admit::Interpret,
        ("sklearn._loss.loss" | "sklearn._loss.link", _)
        | (
            "sklearn._loss._loss",
            "CyHalfSquaredError"
            | "CyHalfBinomialLoss"
            | "CyHalfMultinomialLoss"
            | "__pyx_unpickle_CyHalfMultinomialLoss"
            | "CyHalfBinomialLoss_1"
            | "CyAbsoluteError"
            | "CyHuberLoss"
            | "CyPinballLoss"
            | "CyHalfPoissonLoss",
        )
        | (
            "sklearn.linear_model._sgd_fast",
            "Hinge"
            | "Log"
            | "LogLoss"
            | "ModifiedHuber"
            | "SquaredHinge"
            | "SquaredLoss"
            | "Huber"
            | "EpsilonInsensitive"
            | "SquaredEpsilonInsensitive"
            | "Classification"
            | "Regression",
        )
        | (
            "sklearn.ensemble._gb_losses",
            "LeastSquaresError"
            | "BinomialDeviance"
            | "MultinomialDeviance"
            | "LeastAbsoluteError"
            | "HuberLossFunction"
            | "QuantileLossFunction"
            | "ExponentialLoss",
        )
        | (
            "numpy.random._pickle",
            "__randomstate_ctor" | "__bit_generator_ctor" | "__generator_ctor",
        )
        | ("numpy.random._mt19937", "MT19937")
        | ("numpy.random", "__RandomState_ctor")
        | ("numpy.random.mtrand", "RandomState") => Admit::Tolerate,
        (m, n) if m.starts_with("sklearn.") && crate::pickle::policy::is_class_name(n) => {
            Admit::Refuse(UNSUPPORTED_ESTIMATOR)
        }
        _ => Admit::Refuse(""),
    }
}

fn malformed(m: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(m.into())
}

/// `(class name, state dict)` of a pickled estimator (`New(cls)` + BUILD, or protocol 0/1
/// `copyreg._reconstructor(cls, object, None)` + BUILD).
fn estimator(v: &Val) -> Result<(String, String, Val), ConvertError> {
    let o = v
        .object()
        .ok_or_else(|| malformed(format!("expected an estimator, found {}", v.describe(80))))?;
    let (m, n) = match o.callee() {
        Some(("copyreg", "_reconstructor")) => {
            let a = o.args().seq().unwrap_or_default();
            a.first()
                .and_then(|c| c.as_global())
                .map(|(m, n)| (m.to_owned(), n.to_owned()))
                .ok_or_else(|| malformed("_reconstructor without a class"))?
        }
        Some((m, n)) => (m.to_owned(), n.to_owned()),
        None => return Err(malformed("estimator class is not a global")),
    };
    let state = o
        .state()
        .cloned()
        .ok_or_else(|| malformed(format!("{n} has no pickled state")))?;
    if !matches!(&*state, Value::Dict(_)) {
        return Err(malformed(format!("{n} state is not a dict")));
    }
    Ok((m, n, state))
}

fn attr(state: &Val, key: &str, est: &str) -> Result<Val, ConvertError> {
    state
        .get(key)
        .ok_or_else(|| malformed(format!("{est} has no {key} (not fitted?)")))
}

fn floats(v: &Val) -> Result<Vec<f64>, ConvertError> {
    if let Some(x) = v.as_f64() {
        return Ok(vec![x]);
    }
    NdArray::from_value(v)?.f64s()
}

fn array(v: &Val) -> Result<NdArray, ConvertError> {
    NdArray::from_value(v)
}

fn int_attr(state: &Val, key: &str) -> Option<i64> {
    let v = state.get(key)?;
    if let Some(i) = v.as_int() {
        return i64::try_from(i).ok();
    }
    NdArray::from_value(&v).ok()?.i64s().ok()?.first().copied()
}

fn str_attr(state: &Val, key: &str) -> Option<String> {
    state.get(key)?.as_str().map(str::to_owned)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Class labels.
#[derive(Debug, Clone)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }
    /// The label attribute; LinearClassifier spells the integer form `classlabels_ints`.
    fn attr(&self, prefix: &str) -> crate::proto::onnx::AttributeProto {
        self.attr_as(prefix, "int64s")
    }
    fn attr_as(&self, prefix: &str, ints: &str) -> crate::proto::onnx::AttributeProto {
        match self {
            Labels::Ints(v) => attr_ints(&format!("{prefix}_{ints}"), v.clone()),
            Labels::Strings(v) => attr_strings(&format!("{prefix}_strings"), v),
        }
    }
    fn elem(&self) -> i32 {
        match self {
            Labels::Ints(_) => INT64,
            Labels::Strings(_) => STRING,
        }
    }
}

fn labels(state: &Val, est: &str) -> Result<Labels, ConvertError> {
    let a = array(&attr(state, "classes_", est)?)?;
    match (&a.data, a.dtype.kind) {
        (Data::Objects(_), _) | (_, 'U' | 'S') => {
            if let Ok(s) = a.strings() {
                return Ok(Labels::Strings(s));
            }
            Ok(Labels::Ints(a.i64s()?))
        }
        _ => Ok(Labels::Ints(a.i64s().map_err(|_| {
            ConvertError::Unsupported(format!(
                "{est}: class labels that are not integers or strings"
            ))
        })?)),
    }
}

/// One decision tree, validated.
struct Tree {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    threshold: Vec<f64>,
    /// `node_count × k` leaf values (single output).
    values: Vec<f64>,
    k: usize,
}

impl Tree {
    fn from_estimator(v: &Val, n_features: Option<usize>) -> Result<Self, ConvertError> {
        let (_, n, state) = estimator(v)?;
        if !matches!(
            n.as_str(),
            "DecisionTreeClassifier" | "DecisionTreeRegressor"
        ) {
            return Err(malformed(format!("expected a decision tree, found {n}")));
        }
        let t = attr(&state, "tree_", &n)?;
        let o = t.object().ok_or_else(|| malformed("tree_ is not a Tree"))?;
        if o.callee() != Some(("sklearn.tree._tree", "Tree")) {
            return Err(malformed("tree_ is not sklearn.tree._tree.Tree"));
        }
        let args = o.args().seq().unwrap_or_default();
        let n_outputs = args.get(2).and_then(|x| x.as_int()).unwrap_or(1);
        if n_outputs != 1 {
            return Err(ConvertError::Unsupported("multi-output trees".into()));
        }
        let tree_features = args
            .first()
            .and_then(|x| x.as_int())
            .and_then(|x| usize::try_from(x).ok());
        let st = o
            .state()
            .cloned()
            .ok_or_else(|| malformed("Tree without state"))?;
        drop(o);
        let nodes = array(&attr(&st, "nodes", "Tree")?)?;
        let count = nodes.len();
        let left = nodes.field_i64("left_child")?;
        let right = nodes.field_i64("right_child")?;
        let feature = nodes.field_i64("feature")?;
        let threshold = nodes.field_f64("threshold")?;
        let values = array(&attr(&st, "values", "Tree")?)?;
        let vshape = values.shape.clone();
        let k = match vshape.as_slice() {
            [n, 1, k] if *n == count => *k,
            _ => {
                return Err(malformed(format!(
                    "tree values have shape {vshape:?} for {count} nodes"
                )))
            }
        };
        let values = values.f64s()?;
        let nf = n_features.or(tree_features).unwrap_or(usize::MAX);
        for i in 0..count {
            let (l, r, f) = (
                left.get(i).copied().unwrap_or(-1),
                right.get(i).copied().unwrap_or(-1),
                feature.get(i).copied().unwrap_or(-2),
            );
            if l == -1 && r == -1 {
                continue;
            }
            let child_ok = |c: i64| usize::try_from(c).is_ok_and(|c| c > i && c < count);
            if !child_ok(l) || !child_ok(r) {
                return Err(malformed(format!(
                    "tree node {i} has invalid children {l}/{r}"
                )));
            }
            if usize::try_from(f).map_or(true, |f| f >= nf) {
                return Err(malformed(format!("tree node {i} splits on feature {f}")));
            }
        }
        Ok(Self {
            left,
            right,
            feature,
            threshold,
            values,
            k,
        })
    }

    fn is_leaf(&self, i: usize) -> bool {
        self.left.get(i) == Some(&-1)
    }

    fn leaf_values(&self, i: usize) -> &[f64] {
        let s = i.saturating_mul(self.k);
        self.values
            .get(s..s.saturating_add(self.k))
            .unwrap_or_default()
    }
}

/// Maps a leaf's values to `(class or target id, weight)` entries.
type LeafFn<'a> = dyn Fn(&[f64]) -> Vec<(i64, f64)> + 'a;

/// Attributes of a TreeEnsemble* node being assembled.
#[derive(Default)]
struct Ensemble {
    treeids: Vec<i64>,
    nodeids: Vec<i64>,
    featureids: Vec<i64>,
    values: Vec<f32>,
    modes: Vec<String>,
    truenodes: Vec<i64>,
    falsenodes: Vec<i64>,
    /// (tree, node, id, weight) leaf entries.
    leaves: Vec<(i64, i64, i64, f32)>,
}

impl Ensemble {
    /// Adds a tree; `leaf` maps a leaf's values to (id, weight) entries.
    fn add(&mut self, tree_id: i64, t: &Tree, leaf: &LeafFn<'_>) {
        for i in 0..t.left.len() {
            let id = i as i64;
            self.treeids.push(tree_id);
            self.nodeids.push(id);
            if t.is_leaf(i) {
                self.featureids.push(0);
                self.values.push(0.0);
                self.modes.push("LEAF".into());
                self.truenodes.push(0);
                self.falsenodes.push(0);
                for (cid, w) in leaf(t.leaf_values(i)) {
                    self.leaves.push((tree_id, id, cid, w as f32));
                }
            } else {
                self.featureids.push(t.feature.get(i).copied().unwrap_or(0));
                self.values
                    .push(t.threshold.get(i).copied().unwrap_or(0.0) as f32);
                self.modes.push("BRANCH_LEQ".into());
                self.truenodes.push(t.left.get(i).copied().unwrap_or(0));
                self.falsenodes.push(t.right.get(i).copied().unwrap_or(0));
            }
        }
    }

    fn attrs(&self, prefix: &str) -> Vec<crate::proto::onnx::AttributeProto> {
        let n = self.nodeids.len();
        vec![
            attr_ints("nodes_treeids", self.treeids.clone()),
            attr_ints("nodes_nodeids", self.nodeids.clone()),
            attr_ints("nodes_featureids", self.featureids.clone()),
            attr_floats("nodes_values", self.values.clone()),
            attr_strings("nodes_modes", &self.modes),
            attr_ints("nodes_truenodeids", self.truenodes.clone()),
            attr_ints("nodes_falsenodeids", self.falsenodes.clone()),
            attr_floats("nodes_hitrates", vec![1.0; n]),
            attr_ints("nodes_missing_value_tracks_true", vec![0; n]),
            attr_ints(
                &format!("{prefix}_treeids"),
                self.leaves.iter().map(|l| l.0).collect(),
            ),
            attr_ints(
                &format!("{prefix}_nodeids"),
                self.leaves.iter().map(|l| l.1).collect(),
            ),
            attr_ints(
                &format!("{prefix}_ids"),
                self.leaves.iter().map(|l| l.2).collect(),
            ),
            attr_floats(
                &format!("{prefix}_weights"),
                self.leaves.iter().map(|l| l.3).collect(),
            ),
        ]
    }
}

fn normalised(v: &[f64]) -> Vec<(i64, f64)> {
    let s: f64 = v.iter().sum();
    v.iter()
        .enumerate()
        .map(|(i, &x)| (i as i64, if s > 0.0 { x / s } else { 0.0 }))
        .collect()
}

/// What the final step produces.
enum Head {
    Regressor {
        nodes: Vec<NodeProto>,
        targets: usize,
    },
    Classifier {
        nodes: Vec<NodeProto>,
        labels: Labels,
    },
    Transform {
        nodes: Vec<NodeProto>,
        width: usize,
    },
}

struct Ctx {
    counter: usize,
    ml: i64,
    notes: Vec<String>,
}

impl Ctx {
    fn name(&mut self, base: &str) -> String {
        self.counter = self.counter.saturating_add(1);
        format!("{base}{}", self.counter)
    }
}

fn dim_count(a: &NdArray) -> (usize, usize) {
    match a.shape.as_slice() {
        [f] => (1, *f),
        [r, f] => (*r, *f),
        _ => (0, 0),
    }
}

/// Builds the nodes for one estimator reading `input` and writing the final names
/// (`variable`, or `label` + `probabilities`). Returns the head and the number of input features
/// when the estimator knows it.
fn step(
    v: &Val,
    input: &str,
    last: bool,
    cx: &mut Ctx,
) -> Result<(Head, Option<usize>, String), ConvertError> {
    let (module, est, state) = estimator(v)?;
    if !ESTIMATORS.contains(&(module.as_str(), est.as_str())) {
        return Err(unsupported(&module, &est));
    }
    let n_in = int_attr(&state, "n_features_in_").and_then(|x| usize::try_from(x).ok());
    let out_var = if last {
        "variable".to_owned()
    } else {
        cx.name("variable")
    };
    match est.as_str() {
        "StandardScaler" => {
            let with_mean = state
                .get("with_mean")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let with_std = state
                .get("with_std")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let mean = match state.get("mean_") {
                Some(m) if with_mean && !m.is_none() => Some(floats(&m)?),
                _ => None,
            };
            let scale = match state.get("scale_") {
                Some(s) if with_std && !s.is_none() => Some(floats(&s)?),
                _ => None,
            };
            let width = mean
                .as_ref()
                .map(Vec::len)
                .or(scale.as_ref().map(Vec::len))
                .or(n_in)
                .ok_or_else(|| malformed("StandardScaler: unknown feature count"))?;
            let offset = mean.unwrap_or_else(|| vec![0.0; width]);
            let scale: Vec<f64> = scale.map_or_else(
                || vec![1.0; width],
                |s| s.iter().map(|&x| 1.0 / x).collect(),
            );
            if offset.len() != width || scale.len() != width {
                return Err(malformed(
                    "StandardScaler: mean_ and scale_ differ in length",
                ));
            }
            let n = node(
                "Scaler",
                ML,
                &cx.name("Scaler"),
                &[input],
                &[&out_var],
                vec![
                    attr_floats("offset", f32s(&offset)),
                    attr_floats("scale", f32s(&scale)),
                ],
            );
            Ok((
                Head::Transform {
                    nodes: vec![n],
                    width,
                },
                n_in.or(Some(width)),
                out_var,
            ))
        }
        "Pipeline" => {
            let steps = attr(&state, "steps", &est)?
                .seq()
                .ok_or_else(|| malformed("Pipeline steps is not a list"))?;
            let real: Vec<Val> = steps
                .iter()
                .filter_map(|s| s.seq().and_then(|p| p.get(1).cloned()))
                .filter(|e| !e.is_none() && e.as_str() != Some("passthrough"))
                .collect();
            if real.is_empty() {
                return Err(ConvertError::Unsupported("an empty Pipeline".into()));
            }
            let mut nodes = Vec::new();
            let mut cur = input.to_owned();
            let mut first_n = None;
            let count = real.len();
            for (i, s) in real.iter().enumerate() {
                let is_last = i.saturating_add(1) == count;
                let (head, n, out) = step(s, &cur, last && is_last, cx)?;
                if i == 0 {
                    first_n = n;
                }
                match head {
                    Head::Transform {
                        nodes: mut ns,
                        width,
                    } => {
                        nodes.append(&mut ns);
                        if is_last {
                            return Ok((Head::Transform { nodes, width }, n_in.or(first_n), out));
                        }
                        cur = out;
                    }
                    Head::Regressor {
                        nodes: mut ns,
                        targets,
                    } if is_last => {
                        nodes.append(&mut ns);
                        return Ok((Head::Regressor { nodes, targets }, n_in.or(first_n), out));
                    }
                    Head::Classifier {
                        nodes: mut ns,
                        labels,
                    } if is_last => {
                        nodes.append(&mut ns);
                        return Ok((Head::Classifier { nodes, labels }, n_in.or(first_n), out));
                    }
                    _ => {
                        return Err(ConvertError::Unsupported(
                            "a Pipeline with a predictor before its last step".into(),
                        ))
                    }
                }
            }
            Err(malformed("empty pipeline"))
        }
        "LinearRegression" | "Ridge" => {
            let coef = array(&attr(&state, "coef_", &est)?)?;
            let (t, f) = dim_count(&coef);
            if f == 0 {
                return Err(malformed(format!("{est}: coef_ shape {:?}", coef.shape)));
            }
            let b = floats(&attr(&state, "intercept_", &est)?)?;
            let b = if b.len() == 1 && t > 1 {
                vec![b.first().copied().unwrap_or(0.0); t]
            } else {
                b
            };
            if b.len() != t {
                return Err(malformed(format!(
                    "{est}: {} intercepts for {t} targets",
                    b.len()
                )));
            }
            let n = node(
                "LinearRegressor",
                ML,
                &cx.name("LinearRegressor"),
                &[input],
                &[&out_var],
                vec![
                    attr_floats("coefficients", f32s(&coef.f64s()?)),
                    attr_floats("intercepts", f32s(&b)),
                    attr_i("targets", t as i64),
                ],
            );
            Ok((
                Head::Regressor {
                    nodes: vec![n],
                    targets: t,
                },
                n_in.or(Some(f)),
                out_var,
            ))
        }
        "LogisticRegression" | "SGDClassifier" => {
            let labels = labels(&state, &est)?;
            let coef = array(&attr(&state, "coef_", &est)?)?;
            let (rows, f) = dim_count(&coef);
            let w = coef.f64s()?;
            let b = floats(&attr(&state, "intercept_", &est)?)?;
            if b.len() != rows || f == 0 {
                return Err(malformed(format!(
                    "{est}: coef_/intercept_ shapes disagree"
                )));
            }
            let c = labels.len();
            // post_transform and whether to L1-normalise afterwards.
            let (post, normalise) = if est == "SGDClassifier" {
                let loss = str_attr(&state, "loss").unwrap_or_else(|| "hinge".into());
                match loss.as_str() {
                    "hinge" => ("NONE", false),
                    "log_loss" | "log" => ("LOGISTIC", rows > 1),
                    other => {
                        return Err(ConvertError::Unsupported(format!(
                            "SGDClassifier with loss {other:?} (supported: hinge, log_loss)"
                        )))
                    }
                }
            } else {
                let mc = str_attr(&state, "multi_class").unwrap_or_else(|| "auto".into());
                let solver = str_attr(&state, "solver").unwrap_or_default();
                let ovr = mc == "ovr" || (mc == "auto" && solver == "liblinear") || mc == "warn";
                if rows == 1 {
                    ("LOGISTIC", false)
                } else if ovr {
                    ("LOGISTIC", true)
                } else {
                    ("SOFTMAX", true)
                }
            };
            let (coefs, inters) = if rows == 1 {
                if c != 2 {
                    return Err(malformed(format!(
                        "{est}: one coefficient row for {c} classes"
                    )));
                }
                let mut cw: Vec<f64> = w.iter().map(|x| -x).collect();
                cw.extend_from_slice(&w);
                let b0 = b.first().copied().unwrap_or(0.0);
                (cw, vec![-b0, b0])
            } else {
                if rows != c {
                    return Err(malformed(format!(
                        "{est}: {rows} coefficient rows for {c} classes"
                    )));
                }
                (w, b)
            };
            cx.notes.push(format!(
                "{est}: {c} classes, post_transform {post}{}",
                if normalise { " + L1 Normalizer" } else { "" }
            ));
            let probs = if normalise {
                cx.name("probability_tensor")
            } else {
                "probabilities".to_owned()
            };
            let mut nodes = vec![node(
                "LinearClassifier",
                ML,
                &cx.name("LinearClassifier"),
                &[input],
                &["label", &probs],
                vec![
                    labels.attr_as("classlabels", "ints"),
                    attr_floats("coefficients", f32s(&coefs)),
                    attr_floats("intercepts", f32s(&inters)),
                    attr_i("multi_class", i64::from(post == "SOFTMAX")),
                    attr_s("post_transform", post),
                ],
            )];
            if normalise {
                nodes.push(node(
                    "Normalizer",
                    ML,
                    &cx.name("Normalizer"),
                    &[&probs],
                    &["probabilities"],
                    vec![attr_s("norm", "L1")],
                ));
            }
            Ok((
                Head::Classifier { nodes, labels },
                n_in.or(Some(f)),
                "probabilities".into(),
            ))
        }
        "DecisionTreeClassifier" | "RandomForestClassifier" => {
            let labels = labels(&state, &est)?;
            let trees = forest_trees(v, &state, &est, "DecisionTreeClassifier")?;
            let scale = 1.0 / trees.len() as f64;
            let mut ens = Ensemble::default();
            for (i, t) in trees.iter().enumerate() {
                let tree = Tree::from_estimator(t, n_in)?;
                if tree.k != labels.len() {
                    return Err(malformed("tree class count differs from classes_"));
                }
                ens.add(i as i64, &tree, &|v| {
                    normalised(v)
                        .into_iter()
                        .map(|(c, w)| (c, w * scale))
                        .collect()
                });
            }
            let mut attrs = ens.attrs("class");
            attrs.push(labels.attr("classlabels"));
            attrs.push(attr_s("post_transform", "NONE"));
            let n = node(
                "TreeEnsembleClassifier",
                ML,
                &cx.name("TreeEnsembleClassifier"),
                &[input],
                &["label", "probabilities"],
                attrs,
            );
            cx.notes.push(format!(
                "{est}: {} tree(s), {} classes",
                trees.len(),
                labels.len()
            ));
            Ok((
                Head::Classifier {
                    nodes: vec![n],
                    labels,
                },
                n_in,
                "probabilities".into(),
            ))
        }
        "DecisionTreeRegressor" | "RandomForestRegressor" => {
            let trees = forest_trees(v, &state, &est, "DecisionTreeRegressor")?;
            let scale = 1.0 / trees.len() as f64;
            let mut ens = Ensemble::default();
            for (i, t) in trees.iter().enumerate() {
                let tree = Tree::from_estimator(t, n_in)?;
                if tree.k != 1 {
                    return Err(malformed("regression tree with several values per leaf"));
                }
                ens.add(i as i64, &tree, &|v| {
                    vec![(0, v.first().copied().unwrap_or(0.0) * scale)]
                });
            }
            let mut attrs = ens.attrs("target");
            attrs.push(attr_i("n_targets", 1));
            attrs.push(attr_s("post_transform", "NONE"));
            attrs.push(attr_s("aggregate_function", "SUM"));
            let n = node(
                "TreeEnsembleRegressor",
                ML,
                &cx.name("TreeEnsembleRegressor"),
                &[input],
                &[&out_var],
                attrs,
            );
            cx.notes.push(format!("{est}: {} tree(s)", trees.len()));
            Ok((
                Head::Regressor {
                    nodes: vec![n],
                    targets: 1,
                },
                n_in,
                out_var,
            ))
        }
        "GradientBoostingRegressor" | "GradientBoostingClassifier" => {
            let lr = state
                .get("learning_rate")
                .and_then(|x| x.as_f64())
                .ok_or_else(|| malformed(format!("{est}: no learning_rate")))?;
            let grid = array(&attr(&state, "estimators_", &est)?)?;
            let (n_est, k) = match grid.shape.as_slice() {
                [n, k] => (*n, *k),
                s => return Err(malformed(format!("{est}: estimators_ shape {s:?}"))),
            };
            let Data::Objects(objs) = &grid.data else {
                return Err(malformed("estimators_ is not an object array"));
            };
            let init = state.get("init_");
            let classifier = est == "GradientBoostingClassifier";
            let mut ens = Ensemble::default();
            for i in 0..n_est {
                for j in 0..k {
                    let t = objs
                        .get(i.saturating_mul(k).saturating_add(j))
                        .ok_or_else(|| malformed("estimators_ too short"))?;
                    let tree = Tree::from_estimator(t, n_in)?;
                    let id = i.saturating_mul(k).saturating_add(j) as i64;
                    ens.add(id, &tree, &|v| {
                        vec![(j as i64, v.first().copied().unwrap_or(0.0) * lr)]
                    });
                }
            }
            let zero_init = init.as_ref().is_some_and(|i| i.as_str() == Some("zero"));
            if classifier {
                let labels = labels(&state, &est)?;
                let c = labels.len();
                let base: Vec<f64> = if zero_init {
                    vec![0.0; k]
                } else {
                    let init = init.ok_or_else(|| malformed("no init_"))?;
                    let (_, iname, ist) = estimator(&init)?;
                    if iname != "DummyClassifier" {
                        return Err(ConvertError::Unsupported(format!(
                            "GradientBoostingClassifier with init_ {iname}"
                        )));
                    }
                    let prior = floats(&attr(&ist, "class_prior_", &iname)?)?;
                    if prior.len() != c {
                        return Err(malformed("class_prior_ length"));
                    }
                    let eps = f64::EPSILON;
                    let clip = |p: f64| p.clamp(eps, 1.0 - eps);
                    if k == 1 {
                        let p1 = clip(prior.get(1).copied().unwrap_or(0.5));
                        vec![(p1 / (1.0 - p1)).ln()]
                    } else {
                        let logs: Vec<f64> = prior.iter().map(|&p| clip(p).ln()).collect();
                        let mean = logs.iter().sum::<f64>() / logs.len().max(1) as f64;
                        logs.iter().map(|l| l - mean).collect()
                    }
                };
                if !(k == 1 && c == 2 || k == c) {
                    return Err(malformed(format!(
                        "{est}: {k} trees per stage for {c} classes"
                    )));
                }
                let mut attrs = ens.attrs("class");
                attrs.push(labels.attr("classlabels"));
                attrs.push(attr_floats("base_values", f32s(&base)));
                attrs.push(attr_s(
                    "post_transform",
                    if k == 1 { "LOGISTIC" } else { "SOFTMAX" },
                ));
                let n = node(
                    "TreeEnsembleClassifier",
                    ML,
                    &cx.name("TreeEnsembleClassifier"),
                    &[input],
                    &["label", "probabilities"],
                    attrs,
                );
                cx.notes
                    .push(format!("{est}: {n_est} stage(s) × {k} tree(s)"));
                Ok((
                    Head::Classifier {
                        nodes: vec![n],
                        labels,
                    },
                    n_in,
                    "probabilities".into(),
                ))
            } else {
                if k != 1 {
                    return Err(malformed("regressor with several trees per stage"));
                }
                let base = if zero_init {
                    0.0
                } else {
                    let init = init.ok_or_else(|| malformed("no init_"))?;
                    let (_, iname, ist) = estimator(&init)?;
                    if iname != "DummyRegressor" {
                        return Err(ConvertError::Unsupported(format!(
                            "GradientBoostingRegressor with init_ {iname}"
                        )));
                    }
                    floats(&attr(&ist, "constant_", &iname)?)?
                        .first()
                        .copied()
                        .ok_or_else(|| malformed("empty constant_"))?
                };
                let mut attrs = ens.attrs("target");
                attrs.push(attr_i("n_targets", 1));
                attrs.push(attr_floats("base_values", vec![base as f32]));
                attrs.push(attr_s("post_transform", "NONE"));
                attrs.push(attr_s("aggregate_function", "SUM"));
                let n = node(
                    "TreeEnsembleRegressor",
                    ML,
                    &cx.name("TreeEnsembleRegressor"),
                    &[input],
                    &[&out_var],
                    attrs,
                );
                cx.notes.push(format!("{est}: {n_est} stage(s)"));
                Ok((
                    Head::Regressor {
                        nodes: vec![n],
                        targets: 1,
                    },
                    n_in,
                    out_var,
                ))
            }
        }
        _ => Err(unsupported(&module, &est)),
    }
}

/// The trees of a single decision tree (`single` names its estimator class) or of a forest
/// (`estimators_`), never empty.
fn forest_trees(v: &Val, state: &Val, est: &str, single: &str) -> Result<Vec<Val>, ConvertError> {
    let trees = if est == single {
        vec![v.clone()]
    } else {
        attr(state, "estimators_", est)?
            .seq()
            .ok_or_else(|| malformed("estimators_ is not a list"))?
    };
    if trees.is_empty() {
        return Err(malformed("no trees"));
    }
    Ok(trees)
}

fn unsupported(module: &str, est: &str) -> ConvertError {
    ConvertError::Unsupported(format!(
        "estimator {module}.{est} cannot be converted to ONNX; supported: {}",
        SUPPORTED.join(", ")
    ))
}

/// The pickle stream of `input` (decompressed when `compression` is a compression format), as
/// the converter's VM reads it.
pub fn read_stream(input: &Path, compression: Format) -> Result<Vec<u8>, ConvertError> {
    let file = std::fs::File::open(input)?;
    super::decompress(compression, std::io::BufReader::new(file), 1 << 32)
}

/// The VM options the converter runs `bytes` with: joblib inline arrays are read at the layout
/// the scanner skips ([`crate::pickle::joblib`]).
pub fn vm_options(bytes: &[u8]) -> VmOptions {
    let mut vo = VmOptions::default();
    vo.limits.max_input = bytes.len() as u64;
    vo.joblib = true;
    vo
}

/// Reads, interprets and converts the estimator in `input`.
pub fn convert<W: Write>(
    input: &Path,
    compression: Format,
    _sha: &str,
    opts: &ConvertOptions,
    out: &mut W,
) -> Result<Summary, ConvertError> {
    let bytes = read_stream(input, compression)?;
    let mut vm = Vm::new(&bytes[..], vm_options(&bytes));
    let root = vm.next_pickle()?;
    let placeholders = check_globals(vm.globals(), "scikit-learn → ONNX", admit)?;
    let mut cx = Ctx {
        counter: 0,
        ml: 1,
        notes: Vec::new(),
    };
    let (head, n_features, _) = step(&root, "X", true, &mut cx)?;
    let n_features =
        n_features.ok_or_else(|| malformed("the number of input features is unknown"))?;
    let mut outputs = Vec::new();
    let nodes = match head {
        Head::Regressor { nodes, targets } => {
            outputs.push(value_info(
                "variable",
                tensor_type(FLOAT, &[None, Some(targets as i64)]),
            ));
            nodes
        }
        Head::Transform { nodes, width } => {
            outputs.push(value_info(
                "variable",
                tensor_type(FLOAT, &[None, Some(width as i64)]),
            ));
            nodes
        }
        Head::Classifier { mut nodes, labels } => {
            let c = labels.len() as i64;
            if opts.zipmap {
                let (op, attrs) = match &labels {
                    Labels::Ints(_) => ("Cast", vec![attr_i("to", i64::from(INT64))]),
                    Labels::Strings(_) => ("Identity", vec![]),
                };
                nodes.push(node(
                    op,
                    "",
                    &cx.name(op),
                    &["label"],
                    &["output_label"],
                    attrs,
                ));
                nodes.push(node(
                    "ZipMap",
                    ML,
                    &cx.name("ZipMap"),
                    &["probabilities"],
                    &["output_probability"],
                    vec![labels.attr("classlabels")],
                ));
                outputs.push(value_info(
                    "output_label",
                    tensor_type(labels.elem(), &[None]),
                ));
                outputs.push(value_info("output_probability", zipmap_type(labels.elem())));
            } else {
                outputs.push(value_info("label", tensor_type(labels.elem(), &[None])));
                outputs.push(value_info(
                    "probabilities",
                    tensor_type(FLOAT, &[None, Some(c)]),
                ));
            }
            nodes
        }
    };
    let graph = GraphProto {
        node: nodes,
        name: Some("modelgate".into()),
        input: vec![value_info(
            "X",
            tensor_type(FLOAT, &[None, Some(n_features as i64)]),
        )],
        output: outputs,
        ..Default::default()
    };
    let _ = attr_f;
    let m = model(
        graph,
        cx.ml,
        "converted by modelgate from a scikit-learn pickle without executing it",
    );
    let buf = m.encode_to_vec();
    out.write_all(&buf)?;
    Ok(Summary {
        input_kind: if compression == Format::Pickle {
            "sklearn-pickle".into()
        } else {
            format!("sklearn-pickle ({})", compression.name())
        },
        placeholders,
        notes: cx.notes,
        ..Summary::default()
    })
}
