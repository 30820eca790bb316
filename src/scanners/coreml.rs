//! Core ML models (`.mlmodel`, also the `Data/com.apple.CoreML/model.mlmodel` of an `.mlpackage`;
//! see [`crate::formats::coreml`]): custom layers and custom models (classes of the app that Core
//! ML instantiates by name), linked models (compiled models loaded from a search path, which may
//! leave the model's directory), pipelines and control-flow bodies recursed.
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
use crate::formats::coreml::{read, Summary, MAX_NESTING};
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://apple.github.io/coremltools/mlmodel/Format/Model.html",
    "https://developer.apple.com/documentation/coreml/mlcustomlayer",
    "https://apple.github.io/coremltools/mlmodel/Format/LinkedModel.html",
];

/// Models larger than this are not decoded (the protobuf is decoded in memory).
const MAX_MODEL_BYTES: u64 = 2 * 1024 * 1024 * 1024;

pub const MODEL: Code = Code {
    id: "coreml/model",
    severity: Severity::Info,
    summary: "A Core ML model, with its specification version and model types.",
    detects:
        "A protobuf `CoreML.Specification.Model` (`.mlmodel`, or the model inside an `.mlpackage`).",
    why: "Informational: lists what the model holds for the AI-BOM and reviewers.",
    example: "A `neuralNetworkClassifier` of specification version 4.",
    remediation: "None needed.",
    references: REFS,
};

pub const CUSTOM_LAYER: Code = Code {
    id: "coreml/custom-layer",
    severity: Severity::Medium,
    summary: "The Core ML model has custom layers, implemented by classes of the app that loads it.",
    detects: "A neural-network layer of type `custom` (`CustomLayerParams.className`), in the model, a pipeline stage or a branch/loop body.",
    why: "Core ML instantiates the `MLCustomLayer` class the model names and runs it for the layer: code of the app, chosen by the model. Whether that is safe depends on which classes the app has.",
    example: "`className: \"MyCompany.GELULayer\"`.",
    remediation: "Check that the named classes are ones your app ships for this model.",
    references: REFS,
};

pub const CUSTOM_MODEL: Code = Code {
    id: "coreml/custom-model",
    severity: Severity::Medium,
    summary: "The Core ML model (or a pipeline stage) is a custom model implemented by an app class.",
    detects: "A `customModel` (`CustomModel.className`).",
    why: "Core ML hands prediction to the app's `MLCustomModel` class of that name: the model holds no computation of its own, only the choice of code.",
    example: "`customModel { className: \"Recommender\" }`.",
    remediation: "Check that the named class is one your app ships for this model.",
    references: REFS,
};

pub const LINKED_MODEL: Code = Code {
    id: "coreml/linked-model",
    severity: Severity::Medium,
    summary: "The Core ML model loads another compiled model by file name and search path.",
    detects: "A `linkedModel` with its `linkedModelFileName` and `linkedModelSearchPath`; high when the file name or a search-path entry leaves the model's directory (absolute, `~`, or `..`).",
    why: "Core ML loads the linked `.mlmodelc` from wherever the search path finds it: a model that points outside its own directory runs whatever compiled model sits there, which this scan has not seen.",
    example: "`linkedModelSearchPath: \"../../shared\"`.",
    remediation: "Ship linked models inside the package and scan them with it; reject links that leave it.",
    references: REFS,
};

pub const SERIALIZED_MODEL: Code = Code {
    id: "coreml/serialized-model",
    severity: Severity::High,
    summary: "The Core ML model holds a serialized model in a private format that cannot be inspected.",
    detects: "A `serializedModel` (an `identifier` and opaque `model` bytes), in the model or a pipeline stage.",
    why: "Core ML hands the bytes to whatever framework registered the identifier; their format is private to it, so nothing about them can be checked. Under the fail-closed rule that is a finding, not a pass.",
    example: "`serializedModel { identifier: \"com.example.engine\" model: <4 MB> }`.",
    remediation: "Accept such models only from a producer you trust, by policy.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "coreml/malformed",
    severity: Severity::Medium,
    summary: "A Core ML model could not be decoded or walked to its end.",
    detects: "A `.mlmodel` that is not a valid `Model` protobuf, larger than 2 GiB, or nested deeper than 64 pipelines/branches.",
    why: "What cannot be read cannot be vouched for.",
    example: "A truncated `.mlmodel`.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &MODEL,
    &CUSTOM_LAYER,
    &CUSTOM_MODEL,
    &LINKED_MODEL,
    &SERIALIZED_MODEL,
    &MALFORMED,
];

pub struct CoreMlScanner;

impl Scanner for CoreMlScanner {
    fn id(&self) -> &'static str {
        "coreml"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::CoreMl]
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
        let Some(bytes) = a.content.read_all(MAX_MODEL_BYTES)? else {
            out.push(malformed(
                a,
                "the model is larger than 2 GiB and was not decoded",
            ));
            return Ok(());
        };
        match read(&bytes) {
            Ok(s) => report(&s, a, out),
            Err(e) => out.push(malformed(a, &e.to_string())),
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(s: &Summary, a: &Artifact, out: &mut Sink) {
    let mut f = Finding::new(
        &MODEL,
        a.location.clone(),
        format!(
            "Core ML model, specification version {}: {}",
            s.specification_version,
            clip(&s.types.join(", "), 200)
        ),
    );
    if let Some(author) = &s.author {
        f = f.evidence("author", clip(author, 200));
    }
    out.push(f);
    for (path, class) in &s.custom_layers {
        out.push(
            Finding::new(
                &CUSTOM_LAYER,
                a.location.clone(),
                format!("custom layer {path} is implemented by the app class {class:?}"),
            )
            .evidence("class", class.clone())
            .evidence("layer", path.clone()),
        );
    }
    for (path, class) in &s.custom_models {
        out.push(
            Finding::new(
                &CUSTOM_MODEL,
                a.location.clone(),
                format!("{path} is a custom model implemented by the app class {class:?}"),
            )
            .evidence("class", class.clone()),
        );
    }
    for l in &s.linked_models {
        let escapes = l.escapes();
        let mut f = Finding::new(
            &LINKED_MODEL,
            a.location.clone(),
            if escapes.is_empty() {
                format!(
                    "{} links the compiled model {:?} (search path {:?})",
                    l.path, l.file_name, l.search_path
                )
            } else {
                format!(
                    "{} links the compiled model {:?} from outside the model's directory: {}",
                    l.path,
                    l.file_name,
                    escapes.join(", ")
                )
            },
        )
        .evidence("file-name", l.file_name.clone())
        .evidence("search-path", l.search_path.clone());
        if !escapes.is_empty() {
            f = f.severity(Severity::High);
        }
        out.push(f);
    }
    for (path, id, len) in &s.serialized {
        out.push(
            Finding::new(
                &SERIALIZED_MODEL,
                a.location.clone(),
                format!("{path} is a {len}-byte serialized model for {id:?}, in a private format that cannot be inspected"),
            )
            .evidence("identifier", id.clone())
            .evidence("bytes", len.to_string()),
        );
    }
    if s.too_deep {
        out.push(malformed(
            a,
            &format!("pipelines or branches nest deeper than {MAX_NESTING} levels; the rest was not walked"),
        ));
    }
}
