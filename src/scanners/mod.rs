//! The scanner registry. One scanner per format family, listed once in [`SCANNERS`]; the engine
//! routes each artifact to the first scanner that claims its sniffed [`Format`].
//!
//! Containers (zip, tar, 7z, single-stream compression) are not scanners: the archive walker in
//! [`crate::walk`] expands them and sends every member back through this registry.

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::engine::{ScanContext, Sink};
use crate::error::ScanError;
use crate::format::Format;

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
    fn scan(&self, a: &Artifact, cx: &ScanContext<'_>, out: &mut Sink) -> Result<(), ScanError>;
}

pub mod capped;
pub mod code;
pub mod data;
pub mod gguf;
pub mod hdf5;
pub mod keras;
pub mod numpy;
pub mod onnx;
pub mod pickle;
pub mod rules;
pub mod safetensors;
pub mod template;
pub mod tensorflow;
pub mod torchscript;

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
    &torchscript::TorchScriptScanner,
    &code::CodeScanner,
];

/// The scanner that claims `format`, if any.
pub fn for_format(format: Format) -> Option<&'static dyn Scanner> {
    SCANNERS
        .iter()
        .copied()
        .find(|s| s.formats().contains(&format))
}
