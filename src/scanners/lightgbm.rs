//! LightGBM text models (see [`crate::formats::lightgbm`]). A LightGBM model runs no Python, but
//! its native parser and predictor trust the text: `tree_sizes` offsets, tree lines without `=`
//! or without an end, array sizes taken from `num_leaves`/`num_cat`, child links, split
//! features and categorical indices are all used unchecked.
//!
//! A pickled `lgb.Booster` or `LGBMClassifier` is a pickle (its state holds this text): it goes
//! through the pickle scanner, whose policy allows LightGBM's classes.
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
use crate::formats::lightgbm::{self as lgb, Problem};
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://github.com/microsoft/LightGBM/blob/master/src/boosting/gbdt_model_text.cpp",
    "https://github.com/microsoft/LightGBM/blob/master/src/io/tree.cpp",
];

pub const MODEL: Code = Code {
    id: "lightgbm/model",
    severity: Severity::Info,
    summary: "A LightGBM text model and what it holds.",
    detects: "LightGBM text models (`tree`, `version=v4`, …), recognised by content whatever their name: version, objective, class and tree counts.",
    why: "Informational: the model was read the way LightGBM reads it, and its trees were checked.",
    example: "`model.txt` with 100 trees, objective `binary sigmoid:1`.",
    remediation: "None needed.",
    references: REFS,
};

pub const OUT_OF_BOUNDS: Code = Code {
    id: "lightgbm/out-of-bounds",
    severity: Severity::High,
    summary: "The LightGBM model makes the native parser or predictor read or allocate out of bounds, or loop forever.",
    detects: "`tree_sizes` that place a tree past the end of the text, tree lines without `=` or without an end of line before the end of the file, array sizes (`num_leaves`, `num_cat`, the last `cat_boundaries`) far beyond the values present, child links outside the tree or forming a cycle, split features outside `max_feature_idx`, categorical splits outside the category sets.",
    why: "LightGBM parses trees from the offsets `tree_sizes` gives and scans for `=` and line ends without checking the end of its buffer; it allocates arrays from the sizes the file states, and its predictor follows `left_child`/`right_child` and indexes features and category bitsets unchecked. Such a model crashes or leaks memory in the process that loads it, or hangs every prediction.",
    example: "`left_child=5 -1` in a tree with `num_leaves=3`.",
    remediation: "Do not load the model; re-export it with `Booster.save_model`.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "lightgbm/malformed",
    severity: Severity::Medium,
    summary: "A LightGBM model does not read, or LightGBM would refuse it.",
    detects: "A header without `num_class`, `label_index`, `max_feature_idx`, `feature_names` or `feature_infos`, header lines with several `=`, `tree_sizes` that do not land on `Tree=` lines, trees without `num_leaves` or with arrays shorter than declared.",
    why: "What could not be read was not checked, and another reader may read it differently.",
    example: "A model cut off in the middle of a tree.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&MODEL, &OUT_OF_BOUNDS, &MALFORMED];

/// Models are read whole (the loader does the same).
const MAX_TEXT: u64 = 1024 * 1024 * 1024;

pub struct LightgbmScanner;

impl Scanner for LightgbmScanner {
    fn id(&self) -> &'static str {
        "lightgbm"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Lightgbm]
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
        let Some(text) = a.content.read_all(MAX_TEXT)? else {
            return Err(ScanError::Budget(format!(
                "LightGBM model larger than {MAX_TEXT} bytes"
            )));
        };
        let (s, problems) = lgb::check_model(&text);
        let mut f = Finding::new(
            &MODEL,
            a.location.clone(),
            format!(
                "LightGBM {} model: {} trees, objective {}",
                s.version.as_deref().unwrap_or("(unversioned)"),
                s.trees,
                s.objective.as_deref().unwrap_or("(none)")
            ),
        )
        .evidence("trees", s.trees.to_string());
        if let Some(n) = s.num_class {
            f = f.evidence("num-class", n.to_string());
        }
        if let Some(n) = s.max_feature_idx {
            f = f.evidence("max-feature-idx", n.to_string());
        }
        out.push(f);
        for p in problems {
            let code = match p {
                Problem::Unsafe(_) => &OUT_OF_BOUNDS,
                Problem::Malformed(_) | Problem::Unchecked(_) => &MALFORMED,
            };
            out.push(Finding::new(code, a.location.clone(), p.to_string()));
        }
        Ok(())
    }
}
