//! Protobuf types generated at build time from the vendored `.proto` files in this folder (see
//! build.rs). Each protobuf package becomes one module here.

/// ONNX (`onnx-ml.proto`, package `onnx`): `ModelProto` and everything below it.
#[allow(clippy::all, clippy::pedantic, missing_docs, dead_code)] // generated: not every message is read
pub mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// TensorFlow `SavedModel`, `MetaGraphDef`, `GraphDef`, `FunctionDefLibrary` and friends
/// (vendored from TensorFlow 2.9.0, see `tensorflow/README.md`).
#[allow(clippy::all, clippy::pedantic, missing_docs, dead_code)] // generated: not every message is read
pub mod tensorflow {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
}

/// Core ML (`coreml/coreml.proto`, a hand-written subset of `CoreML.Specification` with the same
/// field numbers): `Model`, pipelines, neural-network layers, custom layers and models, linked
/// models.
#[allow(clippy::all, clippy::pedantic, missing_docs, dead_code)] // generated: not every message is read
pub mod coreml {
    include!(concat!(env!("OUT_DIR"), "/coreml.rs"));
}
