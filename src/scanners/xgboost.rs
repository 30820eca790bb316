//! XGBoost model files (JSON, UBJSON, legacy binary; see [`crate::formats::xgboost`]). An XGBoost
//! model runs no Python, but its native loader and predictors trust the file: UBJSON lengths are
//! copied without a bound check, legacy counts are allocated before reading, and tree links,
//! split features and categorical segments are followed at prediction time unchecked. A model
//! that breaks them reads or allocates out of bounds, or hangs every prediction.
//!
//! The scikit-learn wrappers (`XGBClassifier` pickled or joblib-dumped) and a pickled `Booster`
//! are pickles: they go through the pickle scanner, whose policy allows XGBoost's classes.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::xgboost::{self as xgb, Encoding, Problem};
use crate::scanners::code::lenient;
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://xgboost.readthedocs.io/en/stable/tutorials/saving_model.html",
    "https://github.com/dmlc/xgboost/blob/master/src/tree/tree_model.cc",
];

pub const MODEL: Code = Code {
    id: "xgboost/model",
    severity: Severity::Info,
    summary: "An XGBoost model, its encoding and what it holds.",
    detects: "XGBoost JSON (`{\"learner\": …}`), UBJSON or legacy binary (`binf`) model files, recognised by content whatever their name: the version, booster, objective, feature and tree counts.",
    why: "Informational: the model was read the way XGBoost reads it, and its trees were checked.",
    example: "`model.ubj` with 100 gbtree trees, objective `binary:logistic`.",
    remediation: "None needed.",
    references: REFS,
};

pub const OUT_OF_BOUNDS: Code = Code {
    id: "xgboost/out-of-bounds",
    severity: Severity::High,
    summary: "The XGBoost model makes the native loader or predictor read or allocate out of bounds, or loop forever.",
    detects: "UBJSON string or array lengths past the end of the file (XGBoost's `UBJReader` copies them without a bound check), containers nested deeper than 128 levels (its reader recurses without a limit), legacy binary counts larger than the file (allocated before reading), and trees whose child, parent, split-feature or categorical-segment indices fall outside their arrays, or whose child links form a cycle.",
    why: "XGBoost trusts the model file: `RegTree::LoadModel` dereferences each node's parent, and prediction follows `left_children`/`right_children` and indexes the feature vector with `split_indices`, all unchecked. Such a model crashes or leaks memory in the process that loads it, or hangs every prediction; no trainer writes one.",
    example: "A tree with `left_children: [5, -1, -1]` and three nodes.",
    remediation: "Do not load the model; re-export it from the training code with `save_model`.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "xgboost/malformed",
    severity: Severity::Medium,
    summary: "An XGBoost model does not read, or XGBoost would refuse it.",
    detects: "JSON that does not parse, UBJSON markers XGBoost does not read, a document without `learner`/`version`/`gradient_booster`, tree arrays whose lengths disagree with `num_nodes`, a tree count that disagrees with the trees stored, truncated legacy files.",
    why: "What could not be read was not checked, and another reader may read it differently.",
    example: "A `.json` model cut off in the middle of a tree.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub const UNCHECKED: Code = Code {
    id: "xgboost/unchecked",
    severity: Severity::Low,
    summary: "Part of an XGBoost model was read but not checked.",
    detects: "Multi-target trees (`size_leaf_vector` > 1) and boosters other than gbtree, dart and gblinear, whose layout the checks do not cover.",
    why: "The links of these trees were not checked against their arrays; a hostile file could break them.",
    example: "A model trained with `multi_strategy=\"multi_output_tree\"`.",
    remediation: "Review the model's origin.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&MODEL, &OUT_OF_BOUNDS, &MALFORMED, &UNCHECKED];

/// JSON models are parsed whole; larger ones are inconclusive rather than read in part.
const MAX_JSON: u64 = 512 * 1024 * 1024;
/// UBJSON models are parsed whole (integer arrays kept, float arrays only counted).
const MAX_UBJ: u64 = 1024 * 1024 * 1024;

pub struct XgboostScanner;

impl Scanner for XgboostScanner {
    fn id(&self) -> &'static str {
        "xgboost"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Xgboost]
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
        let head = a.content.head(16)?;
        match xgb::encoding(&head) {
            Some(Encoding::LegacyBinary) => legacy(a, out),
            Some(enc) => document(a, enc, out),
            None if head.first() == Some(&b'{') => {
                out.push(Finding::new(
                    &MALFORMED,
                    a.location.clone(),
                    "starts with '{' but neither a JSON key nor a UBJSON marker follows: XGBoost refuses it",
                ));
                Ok(())
            }
            // Before 1.0, XGBoost wrote the parameter block without the `binf` tag.
            None => legacy(a, out),
        }
    }
}

fn document(a: &Artifact, enc: Encoding, out: &mut Sink) -> Result<(), ScanError> {
    let limit = if enc == Encoding::Json {
        MAX_JSON
    } else {
        MAX_UBJ
    };
    let Some(bytes) = a.content.read_all(limit)? else {
        return Err(ScanError::Budget(format!(
            "XGBoost {} model larger than {limit} bytes",
            enc.name()
        )));
    };
    let doc = match enc {
        Encoding::Json => match lenient::parse_json(&bytes) {
            Ok((v, _)) => xgb::from_json(&v),
            Err(e) => {
                out.push(Finding::new(
                    &MALFORMED,
                    a.location.clone(),
                    format!("the JSON model does not parse: {e}"),
                ));
                return Ok(());
            }
        },
        _ => match xgb::parse_ubj(&bytes) {
            Ok(d) => d,
            Err(e) => {
                let code = if e.is_unsafe() {
                    &OUT_OF_BOUNDS
                } else {
                    &MALFORMED
                };
                out.push(Finding::new(
                    code,
                    a.location.clone(),
                    format!("the UBJSON model does not read: {e}"),
                ));
                return Ok(());
            }
        },
    };
    let (s, problems) = xgb::check_model(&doc);
    let mut f = Finding::new(
        &MODEL,
        a.location.clone(),
        format!(
            "XGBoost {} model: {} booster, {} trees, objective {}",
            enc.name(),
            s.booster.as_deref().unwrap_or("no"),
            s.trees,
            s.objective.as_deref().unwrap_or("(none)")
        ),
    )
    .evidence("encoding", enc.name())
    .evidence("trees", s.trees.to_string());
    if let Some(v) = &s.version {
        f = f.evidence("version", v.clone());
    }
    if let Some(n) = s.num_feature {
        f = f.evidence("num-feature", n.to_string());
    }
    out.push(f);
    report(a, &problems, out);
    Ok(())
}

fn legacy(a: &Artifact, out: &mut Sink) -> Result<(), ScanError> {
    let pos = a.content.positioned()?;
    let read = |at: u64, n: usize| pos.read_at(at, n);
    let (l, problems) = xgb::read_legacy(a.content.len(), &read)?;
    out.push(
        Finding::new(
            &MODEL,
            a.location.clone(),
            format!(
                "XGBoost legacy binary model{}: {} booster, {} trees checked, objective {:?} (XGBoost 3 refuses this format; 1.x and 2.x load it)",
                if l.tagged { "" } else { " (untagged, pre-1.0)" },
                if l.booster.is_empty() { "unknown" } else { &l.booster },
                l.trees,
                l.objective
            ),
        )
        .evidence("encoding", Encoding::LegacyBinary.name())
        .evidence("major-version", l.major_version.to_string())
        .evidence("num-feature", l.num_feature.to_string()),
    );
    report(a, &problems, out);
    Ok(())
}

fn report(a: &Artifact, problems: &[Problem], out: &mut Sink) {
    for p in problems {
        let code = match p {
            Problem::Unsafe(_) => &OUT_OF_BOUNDS,
            Problem::Malformed(_) => &MALFORMED,
            Problem::Unchecked(_) => &UNCHECKED,
        };
        out.push(Finding::new(code, a.location.clone(), p.to_string()));
    }
}
