//! The scanner registry. One scanner per format family, listed once in [`SCANNERS`]; the engine
//! routes each artifact to the first scanner that claims its sniffed [`Format`].
//!
//! Containers (zip, tar, 7z, single-stream compression) are not scanners: the archive walker in
//! [`crate::walk`] expands them and sends every member back through this registry.

use std::sync::OnceLock;

use crate::artifact::Artifact;
use crate::codes::Code;
pub use crate::context::ScanContext;
use crate::error::{ScanError, SetupError};
use crate::finding::Sink;
use crate::format::Format;
use crate::signatures::SignatureDb;

/// What a scanner sees of the engine: the walker's context plus the scanners' own policies.
pub trait ScannerContext: ScanContext {
    fn policies(&self) -> &Policies;
    /// The generic JSON-config checks ([`code::check_json_value`]: templates, `_target_`,
    /// `auto_map`, Keras configs inside), for a scanner that found JSON it does not own itself
    /// (the Keras scanner on a config that turns out not to be Keras). Reached through the
    /// engine so that the two scanners do not import each other.
    fn check_json(&self, v: &serde_json::Value, a: &Artifact, out: &mut Sink);
}

/// The scanners' policies, compiled from the signature database once per engine (scanners are
/// stateless statics and look them up here). The pickle policy is compiled up front (it
/// validates the database and nearly every scan needs it); the others on first use, so a scan of
/// pickles does not pay for indexing 1,400 TensorFlow ops.
#[derive(Debug)]
pub struct Policies {
    db: SignatureDb,
    /// The pickle import policy (`pickle-global` entries).
    pub pickle: crate::pickle::Policy,
    keras: OnceLock<keras::KerasPolicy>,
    tf: OnceLock<tensorflow::TfPolicy>,
    tflite: OnceLock<tflite::TflitePolicy>,
    executorch: OnceLock<executorch::ExecuTorchPolicy>,
    code: OnceLock<code::CodePolicy>,
    skops: OnceLock<skops::SkopsPolicy>,
    r: OnceLock<rds::RPolicy>,
    paddle: OnceLock<paddle::PaddlePolicy>,
}

impl Policies {
    pub fn new(db: &SignatureDb) -> Result<Self, SetupError> {
        Ok(Self {
            db: db.clone(),
            pickle: crate::pickle::Policy::compile(db)?,
            keras: OnceLock::new(),
            tf: OnceLock::new(),
            tflite: OnceLock::new(),
            executorch: OnceLock::new(),
            code: OnceLock::new(),
            skops: OnceLock::new(),
            r: OnceLock::new(),
            paddle: OnceLock::new(),
        })
    }

    /// Keras config policy (`keras-module`, `keras-class`).
    pub fn keras(&self) -> &keras::KerasPolicy {
        self.keras.get_or_init(|| keras::KerasPolicy::new(&self.db))
    }

    /// TensorFlow op policy (`tf-op`, `tf-saver-op`).
    pub fn tf(&self) -> &tensorflow::TfPolicy {
        self.tf.get_or_init(|| tensorflow::TfPolicy::new(&self.db))
    }

    /// TFLite custom-op policy (`tflite-custom-op`).
    pub fn tflite(&self) -> &tflite::TflitePolicy {
        self.tflite
            .get_or_init(|| tflite::TflitePolicy::new(&self.db))
    }

    /// ExecuTorch delegate backend policy (`executorch-backend`).
    pub fn executorch(&self) -> &executorch::ExecuTorchPolicy {
        self.executorch
            .get_or_init(|| executorch::ExecuTorchPolicy::new(&self.db))
    }

    /// skops' default trusted types per node loader (`skops-trusted`).
    pub fn skops(&self) -> &skops::SkopsPolicy {
        self.skops.get_or_init(|| skops::SkopsPolicy::new(&self.db))
    }

    /// R functions that code in R objects must not name (`r-function`).
    pub fn r(&self) -> &rds::RPolicy {
        self.r.get_or_init(|| rds::RPolicy::new(&self.db))
    }

    /// Paddle operators that act on the host (`paddle-op`).
    pub fn paddle(&self) -> &paddle::PaddlePolicy {
        self.paddle
            .get_or_init(|| paddle::PaddlePolicy::new(&self.db))
    }

    /// Hydra `_target_` and MLflow loader policy (`hydra-target`, `mlflow-loader`).
    pub fn code(&self) -> &code::CodePolicy {
        self.code.get_or_init(|| code::CodePolicy::new(&self.db))
    }
}

/// Inspects one artifact of a format it claims. Reports into `out`; never prints, never executes.
pub trait Scanner: Sync {
    /// Short id, also the prefix of this scanner's finding codes (`pickle`, `numpy`, …).
    fn id(&self) -> &'static str;
    /// The formats this scanner claims.
    fn formats(&self) -> &'static [Format];
    /// Every finding code this scanner can emit (for `explain` and SARIF rules).
    fn codes(&self) -> &'static [&'static Code];
    /// Scans `a`. Findings go to `out`; nested content goes through `cx.scan_nested`. An `Err` is
    /// recorded as a scan failure for this artifact; findings already pushed are kept.
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError>;
}

pub mod catboost;
pub mod code;
pub mod coreml;
pub mod data;
pub mod executable;
pub mod executorch;
pub mod flax;
pub mod gguf;
pub mod hdf5;
pub mod keras;
pub mod lightgbm;
pub mod mxnet;
pub mod nemo;
pub mod numpy;
pub mod onnx;
pub mod openvino;
pub mod ort;
pub mod paddle;
pub mod pickle;
pub mod pmml;
pub mod rds;
pub mod rules;
pub mod safetensors;
pub mod skops;
pub mod template;
pub mod tensorflow;
pub mod tensorrt;
pub mod tflite;
pub mod torch7;
pub mod torchscript;
pub mod torchserve;
pub mod xgboost;

/// Every scanner, one line per format family.
pub static SCANNERS: &[&dyn Scanner] = &[
    &data::DataScanner,
    &pickle::PickleScanner,
    &numpy::NumpyScanner,
    &safetensors::SafetensorsScanner,
    &gguf::GgufScanner,
    &onnx::OnnxScanner,
    &keras::KerasScanner,
    &hdf5::Hdf5Scanner,
    &tensorflow::TfScanner,
    &tflite::TfliteScanner,
    &ort::OrtScanner,
    &torchscript::TorchScriptScanner,
    &torchserve::TorchServeScanner,
    &nemo::NemoScanner,
    &skops::SkopsScanner,
    &rds::RScanner,
    &paddle::PaddleScanner,
    &torch7::Torch7Scanner,
    &executable::ExecutableScanner,
    &xgboost::XgboostScanner,
    &lightgbm::LightgbmScanner,
    &catboost::CatboostScanner,
    &flax::FlaxScanner,
    &mxnet::MxnetScanner,
    &pmml::PmmlScanner,
    &openvino::OpenVinoScanner,
    &tensorrt::TensorRtScanner,
    &coreml::CoreMlScanner,
    &executorch::ExecuTorchScanner,
    &code::CodeScanner,
];

/// The scanner that claims `format`, if any.
pub fn for_format(format: Format) -> Option<&'static dyn Scanner> {
    SCANNERS
        .iter()
        .copied()
        .find(|s| s.formats().contains(&format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Kind;

    /// A model or companion format that no scanner claims is read by nobody: such files end as
    /// uninspectable findings at best. Every one must have a scanner (archives and compressions
    /// are expanded by the walker instead).
    #[test]
    fn every_model_format_has_a_scanner() {
        for &f in Format::ALL {
            let needs = matches!(f.kind(), Kind::Model | Kind::Companion | Kind::Structural)
                && f != Format::PythonLibrary;
            if needs {
                assert!(for_format(f).is_some(), "no scanner claims {f:?}");
            }
        }
    }

    #[test]
    fn no_format_is_claimed_twice() {
        for &f in Format::ALL {
            let n = SCANNERS.iter().filter(|s| s.formats().contains(&f)).count();
            assert!(n <= 1, "{f:?} is claimed by {n} scanners");
        }
    }
}
