#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! One reading of each file format, shared by the scanners and the converters.
//!
//! A scanner approves what it parsed; a converter writes out what it parsed. When the two parse
//! the same bytes separately, a file can be read one way when checked and another way when
//! written out (a parser differential, the class of bug this tool exists to catch in others).
//! So the parts of a format both need (header layout, dtype sizing and byte order, storage layouts) live here,
//! and `tests/convert_parse_differential.rs` checks that both sides report the same tensors.
//!
//! - [`npy`]: the `.npy` header (magic, version, header dict, data offset).
//! - [`dtype`]: numpy dtype strings and pickled dtype states (kind, itemsize, byte order,
//!   object flag).
//! - [`torch`]: PyTorch storage element types and the legacy `torch.save` storage trailer.
//! - [`pickle`]: the pickle opcode reader (protocols 0–5), shared by sniffing, the scanning walker
//!   and the conversion VM.
//! - [`flatbuffer`]: a bounded FlatBuffers reader; [`tflite`], [`ort`] and [`executorch`] walk
//!   TensorFlow Lite, ONNX Runtime (ORT format) and ExecuTorch (`.pte`) programs with it.
//! - [`torchserve`]: the TorchServe archive manifest and which archive members it makes special.
//! - [`xgboost`], [`lightgbm`], [`catboost`]: gradient-boosting model files (XGBoost JSON,
//!   UBJSON and legacy binary; LightGBM text; CatBoost `CBM1`), with the tree-link checks the
//!   native predictors do not make ([`treegraph`] finds cycles).
//! - [`msgpack`]: a bounded MessagePack reader (Flax checkpoints).
//! - [`mxnet`]: MXNet symbol graphs and NDArray list (`.params`) files.
//! - [`skops`]: the node tree of a skops file's `schema.json`.
//! - [`paddle`]: PaddlePaddle programs (`ProgramDesc`) and parameters files (tensor records).
//! - [`torch7`]: Lua Torch7 `torch.save` files (objects, classes, dumped functions).
//! - [`rds`]: R's serialization format (`saveRDS`, `save`), read for the code it carries.
//! - [`rar`]: RAR 4 and RAR 5 block headers (the member list an extractor acts on); the walker
//!   scans the stored members.
//! - [`coreml`]: Core ML `.mlmodel` protobufs (custom layers and models, linked models, pipelines).
//! - [`native`]: shared-library paths and embedded ELF images (host or GPU code) in model blobs.
//! - [`tensorrt`]: the TensorRT plan header and the Ultralytics metadata prefix before it.
//! - [`xml`]: a bounded XML event stream that never expands entities, and DOCTYPE analysis;
//!   [`pmml`] reads PMML documents and [`openvino`] OpenVINO IR with it.
//!
//! joblib's inline array layout lives with the pickle code ([`crate::pickle::joblib`]); zip
//! members are read only through [`crate::walk::read_member`].

pub mod catboost;
pub mod coreml;
pub mod cursor;
pub mod dtype;
pub mod executorch;
pub mod flatbuffer;
pub mod lightgbm;
pub mod msgpack;
pub mod mxnet;
pub mod native;
pub mod npy;
pub mod openvino;
pub mod ort;
pub mod paddle;
pub mod pickle;
pub mod pmml;
pub mod rar;
pub mod rds;
pub mod skops;
pub mod tensorrt;
pub mod tflite;
pub mod torch;
pub mod torch7;
pub mod torchserve;
pub mod treegraph;
pub mod xgboost;
pub mod xml;
