#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
//! The formats modelgate knows, and what each one is to the engine. Every fact about a format that
//! other modules branch on (is it a container, a model, self-identifying, which names suggest it)
//! is an exhaustive `match` here, so a new [`Format`] variant does not compile until each one is
//! decided; recognising formats from bytes is [`crate::sniff`]'s job.

use serde::{Deserialize, Serialize};

/// Declares [`Format`] with its report name, and [`Format::ALL`] from the same list, so that a
/// test can walk every format and a new one cannot be left out of it.
macro_rules! formats {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Every format modelgate recognises. Recognising a format does not mean a scanner exists
        /// for it; unscanned formats are reported as skipped, never as clean.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Format {
            $($(#[$doc])* $variant,)*
        }

        impl Format {
            /// Every format, in declaration order.
            pub const ALL: &'static [Format] = &[$(Format::$variant,)*];

            /// The short name used in reports and `--format` listings.
            pub fn name(self) -> &'static str {
                match self {
                    $(Format::$variant => $name,)*
                }
            }
        }
    };
}

formats! {
    /// A pickle stream (any protocol), including joblib and dill files.
    Pickle => "pickle",
    /// `torch.save` legacy stream: magic-number pickle, then more pickles, then raw storages.
    PytorchLegacy => "pytorch-legacy",
    /// Zip archive of any flavour (PyTorch, TorchScript, npz, Keras v3 and plain zips are told apart
    /// by the archive walker from their members).
    Zip => "zip",
    /// POSIX/GNU tar archive (also the legacy PyTorch tar format and docker-save tarballs).
    Tar => "tar",
    SevenZip => "7z",
    /// RAR archive (RAR 1.5–4.x or RAR 5.0 block format), also behind a self-extractor prelude.
    Rar => "rar",
    Gzip => "gzip",
    Bzip2 => "bzip2",
    Xz => "xz",
    Lzma => "lzma",
    Zlib => "zlib",
    Zstd => "zstd",
    Lz4 => "lz4",
    /// NumPy `.npy` array.
    Numpy => "numpy",
    Safetensors => "safetensors",
    Gguf => "gguf",
    /// Legacy GGML / GGJT / GGMF files (pre-GGUF llama.cpp).
    Ggml => "ggml",
    Onnx => "onnx",
    Hdf5 => "hdf5",
    /// A Keras `config.json` (inside a `.keras` archive).
    KerasConfig => "keras-config",
    /// A TensorFlow SavedModel protobuf (`saved_model.pb`).
    SavedModel => "tf-savedmodel",
    /// `keras_metadata.pb` next to a SavedModel.
    KerasMetadata => "keras-metadata",
    /// TensorFlow Lite flatbuffer (file identifier `TFL3`).
    Tflite => "tflite",
    /// ONNX Runtime ORT-format model (flatbuffer, file identifier `ORTM`).
    Ort => "ort",
    /// Python source (travels with models as `trust_remote_code` or custom layers).
    Python => "python",
    /// Bytes that the container's loader only ever reads as numbers or plain text, never as code:
    /// tensor storages (`<prefix>/data/<key>` in a PyTorch zip) and the archive's small metadata
    /// records. Assigned by the archive walker from the container's structure, never by sniffing.
    Data => "data",
    /// A member of a legacy PyTorch tar checkpoint (`sys_info`, `pickle`, `storages`, `tensors`):
    /// pickles interleaved with raw storage bytes. Assigned by the tar walker.
    TorchTarMember => "pytorch-tar-member",
    /// JSON metadata that travels with models (`config.json`, `tokenizer_config.json`, Keras
    /// `metadata.json`, …) that is not already recognisable as a Keras model config. Checked for
    /// Keras object configs, Hugging Face `auto_map` and Hydra `_target_` entries.
    JsonConfig => "json-config",
    /// YAML configuration (`*.yaml`, `*.yml`): Hydra/NeMo configs, `conda.yaml`.
    Yaml => "yaml",
    /// An MLflow `MLmodel` manifest (YAML).
    MlflowModel => "mlflow-mlmodel",
    /// A pip `requirements*.txt` file travelling with a model.
    Requirements => "requirements",
    /// TorchScript source (`code/**.py` inside a TorchScript archive). Assigned by the zip walker
    /// from the archive structure.
    TorchScriptCode => "torchscript-code",
    /// A SavedModel in protobuf text format (`saved_model.pbtxt`), which TensorFlow also loads.
    SavedModelText => "tf-savedmodel-text",
    /// One filesystem layer of a container image (a tar stream, already decompressed and
    /// digest-checked by [`crate::image`]). Expanded like a tar, except that links are ordinary
    /// filesystem content there. Assigned by the image reader, never by sniffing.
    ImageLayer => "image-layer",
    /// Python source of an installed library inside a container image (standard library,
    /// site-packages, dist-packages). Assigned by the walker for image layers: vetted through the
    /// package inventory rather than scanned as model-side code.
    PythonLibrary => "python-library",
    /// A legacy joblib "z-file" (joblib < 0.10): `ZF`, a hex length field whose width varies with
    /// the joblib and Python version, then a zlib stream. Unwrapped like the other compressions.
    JoblibZfile => "joblib-zfile",
    /// A standalone Jinja template travelling with a model (`chat_template.jinja`, `*.j2`).
    JinjaTemplate => "jinja-template",
    /// A TorchServe model archive's `MAR-INF/MANIFEST.json`: names the handler TorchServe imports
    /// and the serialized model, model file and requirements it loads.
    TorchServeManifest => "torchserve-manifest",
    /// Python source inside a TorchServe model archive (`.mar`). Assigned by the zip walker when
    /// the archive has a `MAR-INF/MANIFEST.json`: TorchServe puts the extracted archive on
    /// `sys.path` and imports the handler from it when the model is registered.
    TorchServeCode => "torchserve-code",
    /// An NVIDIA NeMo model config (`model_config.yaml`, the config a `.nemo` archive restores):
    /// its `target` class and Hydra `_target_` entries are imported and called on restore.
    NemoConfig => "nemo-config",
    /// A native program shipped as a model: an Actually Portable Executable (llamafile), ELF,
    /// PE or Mach-O binary, or a shell-script prelude, recognised when its name says "model" (or
    /// `.llamafile`) or, for APE, always. Weights it carries are found and scanned.
    Executable => "executable",
    /// An XGBoost model: JSON (`{"learner": …}`), XGBoost's UBJSON dialect (`.ubj`) or the
    /// legacy binary (`.bst`, `binf`); the encoding is told apart by content as XGBoost does.
    Xgboost => "xgboost",
    /// A LightGBM text model (`tree`, `version=v4`, …, `Tree=0`, …).
    Lightgbm => "lightgbm",
    /// A CatBoost binary model (`.cbm`, `CBM1` and a FlatBuffers core).
    Catboost => "catboost",
    /// A MessagePack state dict (`flax.serialization.to_bytes`, `flax_model.msgpack`).
    FlaxMsgpack => "flax-msgpack",
    /// An MXNet / NNVM symbol graph (`*-symbol.json`).
    MxnetSymbol => "mxnet-symbol",
    /// An MXNet NDArray list (`.params`, `mx.nd.save`).
    MxnetParams => "mxnet-params",
    /// The `schema.json` of a skops file (`.skops`, a zip): the tree of nodes `skops.io.load`
    /// builds, each naming the loader and the type it imports. Assigned by the zip walker to a
    /// top-level `schema.json`, and sniffed from a `.json` whose head has skops' node keys.
    SkopsSchema => "skops-schema",
    /// An R serialized object (`saveRDS`: `.rds`) or workspace (`save`: `.rda`, `.RData`), in
    /// XDR, native binary or text encoding (compressed files are unwrapped first).
    RSerialized => "r-serialized",
    /// A PaddlePaddle program (`.pdmodel`, `__model__`): a `ProgramDesc` protobuf of blocks of
    /// operators.
    PaddleProgram => "paddle-program",
    /// PaddlePaddle parameters (`.pdiparams`): the tensor records `save_combine` writes.
    PaddleParams => "paddle-params",
    /// A Lua Torch7 file (`torch.save`, `.t7`): typed objects, torch classes and dumped Lua
    /// functions, in binary or text encoding.
    Torch7 => "torch7",
    /// A PMML document (XML with a `<PMML>` root): scoring models for JPMML, PMML4S and other
    /// evaluators.
    Pmml => "pmml",
    /// OpenVINO's intermediate representation: a `<net>` XML document whose `Const` layers point
    /// into a `.bin` weights file beside it.
    OpenVinoIr => "openvino-ir",
    /// A serialized TensorRT engine ("plan"): compiled GPU code, recognised by its `ftrt` tag
    /// (raw, or behind the JSON metadata prefix Ultralytics writes).
    TensorRtEngine => "tensorrt-engine",
    /// A Core ML model: the protobuf `CoreML.Specification.Model` of an `.mlmodel` (also inside
    /// an `.mlpackage`), recognised by its name (protobuf has no magic).
    CoreMl => "coreml",
    /// An ExecuTorch program (`.pte`): a FlatBuffer with file identifier `ET12`, optionally
    /// followed by data segments (constants, delegate blobs, named data) that an `eh00` extended
    /// header locates.
    ExecuTorch => "executorch",
    /// Anything else.
    Unknown => "unknown",
}

/// What a format is to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Multi-member containers the walker expands.
    Archive,
    /// Single-stream compressions the walker unwraps before sniffing again.
    Compression,
    /// Weights, graphs or serialized objects a framework loads as a model (listed as a model in
    /// the AI-BOM).
    Model,
    /// Files that travel with a model and steer how it loads: configs, code, templates,
    /// requirements.
    Companion,
    /// Bytes the walker classifies from the container's structure (tensor storages, image layers,
    /// installed libraries), never recognised on their own.
    Structural,
    /// Not recognised.
    Unknown,
}

impl Format {
    /// What this format is to the engine.
    pub fn kind(self) -> Kind {
        match self {
            Format::Zip | Format::Tar | Format::SevenZip | Format::Rar | Format::ImageLayer => {
                Kind::Archive
            }
            Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Lzma
            | Format::Zlib
            | Format::Zstd
            | Format::Lz4
            | Format::JoblibZfile => Kind::Compression,
            Format::Pickle
            | Format::PytorchLegacy
            | Format::Numpy
            | Format::Safetensors
            | Format::Gguf
            | Format::Ggml
            | Format::Onnx
            | Format::Hdf5
            | Format::SavedModel
            | Format::SavedModelText
            | Format::KerasMetadata
            | Format::Tflite
            | Format::Ort
            | Format::RSerialized
            | Format::PaddleProgram
            | Format::PaddleParams
            | Format::Torch7
            | Format::Executable
            | Format::Xgboost
            | Format::Lightgbm
            | Format::Catboost
            | Format::FlaxMsgpack
            | Format::MxnetSymbol
            | Format::MxnetParams
            | Format::Pmml
            | Format::OpenVinoIr
            | Format::TensorRtEngine
            | Format::CoreMl
            | Format::ExecuTorch => Kind::Model,
            Format::KerasConfig
            | Format::Python
            | Format::JsonConfig
            | Format::Yaml
            | Format::MlflowModel
            | Format::Requirements
            | Format::TorchScriptCode
            | Format::JinjaTemplate
            | Format::TorchServeManifest
            | Format::TorchServeCode
            | Format::NemoConfig
            | Format::SkopsSchema => Kind::Companion,
            Format::Data | Format::TorchTarMember | Format::PythonLibrary => Kind::Structural,
            Format::Unknown => Kind::Unknown,
        }
    }

    /// Single-stream compression formats, unwrapped by the walker before sniffing again.
    pub fn is_compression(self) -> bool {
        self.kind() == Kind::Compression
    }

    /// Multi-member containers expanded by the walker.
    pub fn is_archive(self) -> bool {
        self.kind() == Kind::Archive
    }

    /// Whether [`crate::sniff::sniff`] can return this format (from content, or for a few
    /// companions from the name). The others are assigned by the walker from a container's
    /// structure. `crate::sniff`'s tests hold a sample for every format that says yes.
    pub fn is_sniffed(self) -> bool {
        match self {
            Format::TorchTarMember
            | Format::TorchScriptCode
            | Format::ImageLayer
            | Format::PythonLibrary
            | Format::TorchServeCode => false,
            Format::Pickle
            | Format::PytorchLegacy
            | Format::Zip
            | Format::Tar
            | Format::SevenZip
            | Format::Rar
            | Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Lzma
            | Format::Zlib
            | Format::Zstd
            | Format::Lz4
            | Format::Numpy
            | Format::Safetensors
            | Format::Gguf
            | Format::Ggml
            | Format::Onnx
            | Format::Hdf5
            | Format::KerasConfig
            | Format::SavedModel
            | Format::KerasMetadata
            | Format::Tflite
            | Format::Ort
            | Format::Python
            | Format::Data
            | Format::JsonConfig
            | Format::Yaml
            | Format::MlflowModel
            | Format::Requirements
            | Format::SavedModelText
            | Format::JoblibZfile
            | Format::JinjaTemplate
            | Format::TorchServeManifest
            | Format::NemoConfig
            | Format::SkopsSchema
            | Format::RSerialized
            | Format::PaddleProgram
            | Format::PaddleParams
            | Format::Torch7
            | Format::Executable
            | Format::Xgboost
            | Format::Lightgbm
            | Format::Catboost
            | Format::FlaxMsgpack
            | Format::MxnetSymbol
            | Format::MxnetParams
            | Format::Pmml
            | Format::OpenVinoIr
            | Format::TensorRtEngine
            | Format::CoreMl
            | Format::ExecuTorch
            | Format::Unknown => true,
        }
    }

    /// Whether the format has a header that random tensor bytes do not produce, so that found
    /// where a loader only reads raw numbers (a tensor storage, a TensorFlow checkpoint shard) it
    /// is still scanned as itself. Pickles are not: tensor bytes start like a pickle often enough
    /// to drown real findings (the engine still walks such bytes leniently).
    pub fn identifies_itself(self) -> bool {
        match self {
            Format::Numpy | Format::Safetensors | Format::Gguf | Format::Hdf5 | Format::Onnx => {
                true
            }
            Format::Pickle
            | Format::PytorchLegacy
            | Format::Zip
            | Format::Tar
            | Format::SevenZip
            | Format::Rar
            | Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Lzma
            | Format::Zlib
            | Format::Zstd
            | Format::Lz4
            | Format::Ggml
            | Format::KerasConfig
            | Format::SavedModel
            | Format::KerasMetadata
            | Format::Tflite
            | Format::Ort
            | Format::Python
            | Format::Data
            | Format::TorchTarMember
            | Format::JsonConfig
            | Format::Yaml
            | Format::MlflowModel
            | Format::Requirements
            | Format::TorchScriptCode
            | Format::SavedModelText
            | Format::ImageLayer
            | Format::PythonLibrary
            | Format::JoblibZfile
            | Format::JinjaTemplate
            | Format::TorchServeManifest
            | Format::TorchServeCode
            | Format::NemoConfig
            | Format::SkopsSchema
            | Format::RSerialized
            | Format::PaddleProgram
            | Format::PaddleParams
            | Format::Torch7
            | Format::Executable
            | Format::Xgboost
            | Format::Lightgbm
            | Format::Catboost
            | Format::FlaxMsgpack
            | Format::MxnetSymbol
            | Format::MxnetParams
            | Format::Pmml
            | Format::OpenVinoIr
            | Format::TensorRtEngine
            | Format::CoreMl
            | Format::ExecuTorch
            | Format::Unknown => false,
        }
    }

    /// The file extensions that suggest this format (lower case, without the dot), used to
    /// report content that contradicts its name. No extension belongs to two formats.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Pickle => &[
                "pkl", "pickle", "joblib", "dill", "sav", "pdparams", "pdopt",
            ],
            Format::Numpy => &["npy"],
            Format::Zip => &["npz", "zip", "keras", "skops"],
            Format::Safetensors => &["safetensors"],
            Format::Gguf => &["gguf"],
            Format::Onnx => &["onnx"],
            Format::Hdf5 => &["h5", "hdf5"],
            Format::Tflite => &["tflite"],
            Format::Ort => &["ort"],
            Format::Tar => &["tar"],
            Format::Gzip => &["gz", "tgz"],
            Format::Bzip2 => &["bz2"],
            Format::Xz => &["xz"],
            Format::Zstd => &["zst"],
            Format::Lz4 => &["lz4"],
            Format::SevenZip => &["7z"],
            Format::Rar => &["rar"],
            Format::Executable => &["llamafile"],
            Format::Xgboost => &["ubj", "bst"],
            Format::Catboost => &["cbm"],
            Format::FlaxMsgpack => &["msgpack"],
            Format::MxnetParams => &["params"],
            Format::RSerialized => &["rds", "rda", "rdata"],
            Format::PaddleProgram => &["pdmodel"],
            Format::PaddleParams => &["pdiparams"],
            Format::Torch7 => &["t7"],
            Format::Pmml => &["pmml"],
            Format::TensorRtEngine => &["engine", "plan", "trt"],
            Format::CoreMl => &["mlmodel"],
            Format::ExecuTorch => &["pte"],
            Format::PytorchLegacy
            | Format::Lzma
            | Format::Zlib
            | Format::Ggml
            | Format::KerasConfig
            | Format::SavedModel
            | Format::KerasMetadata
            | Format::Python
            | Format::Data
            | Format::TorchTarMember
            | Format::JsonConfig
            | Format::Yaml
            | Format::MlflowModel
            | Format::Requirements
            | Format::TorchScriptCode
            | Format::SavedModelText
            | Format::ImageLayer
            | Format::PythonLibrary
            | Format::JoblibZfile
            | Format::JinjaTemplate
            | Format::TorchServeManifest
            | Format::TorchServeCode
            | Format::NemoConfig
            | Format::Lightgbm
            | Format::MxnetSymbol
            | Format::SkopsSchema
            // `.xml` says nothing: OpenVINO IR is recognised by its `<net>` root.
            | Format::OpenVinoIr
            | Format::Unknown => &[],
        }
    }
}

/// The format an extension suggests, used only to report mismatches.
pub fn format_for_extension(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    Format::ALL
        .iter()
        .copied()
        .find(|f| f.extensions().contains(&ext))
}

/// Extensions a loader is pointed at as a model: every [`Kind::Model`] format's own extensions,
/// plus the names PyTorch checkpoints (`pt`, `pth`, `ckpt`), TorchServe, NeMo and skops archives
/// (`mar`, `nemo`, `skops`) and TensorFlow graphs (`pb`) go by. A file with such a name whose content no scanner
/// reads is uninspectable, not merely unsupported.
const LOADER_EXTENSIONS: &[&str] = &[
    "pt", "pth", "ckpt", "mar", "nemo", "pb", "npz", "keras", "ggml", "skops",
];

/// Whether a file name says "model" to a loader (see [`LOADER_EXTENSIONS`]).
pub fn model_like_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some((_, ext)) = lower.rsplit_once('.') else {
        return false;
    };
    LOADER_EXTENSIONS.contains(&ext)
        || Format::ALL
            .iter()
            .any(|f| f.kind() == Kind::Model && f.extensions().contains(&ext))
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_listed_once_with_a_unique_name() {
        let mut names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "two formats share a name");
    }

    #[test]
    fn no_extension_suggests_two_formats() {
        let mut seen = std::collections::BTreeMap::new();
        for &f in Format::ALL {
            for e in f.extensions() {
                assert!(seen.insert(*e, f).is_none(), "extension {e} listed twice");
            }
        }
    }

    /// Every model format's extensions make a file "model-like" to the fail-closed rule (a
    /// `.tflite` no scanner reads is uninspectable, not unsupported).
    #[test]
    fn model_extensions_are_model_like_names() {
        for &f in Format::ALL {
            if f.kind() == Kind::Model {
                for e in f.extensions() {
                    assert!(model_like_name(&format!("x.{e}")), "{f:?}: .{e}");
                }
            }
        }
    }
}
