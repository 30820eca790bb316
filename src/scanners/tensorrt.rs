//! TensorRT serialized engines (`.engine`, `.plan`, `.trt`; see [`crate::formats::tensorrt`]).
//! An engine is compiled GPU code and private engine state for one TensorRT version and GPU: no
//! scanner can tell what it computes or whether its kernels are what the model's source would
//! compile to, so every engine is reported as opaque at the severity of anything that cannot be
//! inspected. What can be seen is reported on top: the header's TensorRT version, plugin
//! libraries and plugin names among its strings, host-code ELF images inside it (serialized
//! plugin libraries, the lean runtime of version-compatible plans), and the metadata prefix
//! Ultralytics writes, whose string values older Ultralytics releases `eval()`.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use serde_json::Value;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{clip, Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::native::{scan_blob, ElfMachine};
use crate::formats::tensorrt::{is_plugin_name, parse_header, ultralytics_prefix, PlanHeader};
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/advanced.html#version-compatibility",
    "https://github.com/NVIDIA/TensorRT/blob/main/samples/common/sampleEngines.cpp",
    "https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/extending-custom-layers.html",
];

pub const ENGINE: Code = Code {
    id: "tensorrt/engine",
    severity: Severity::High,
    summary: "A TensorRT engine: compiled GPU code that cannot be inspected.",
    detects: "A serialized TensorRT engine (plan) recognised by its `ftrt` tag, raw or behind an Ultralytics metadata prefix, with the TensorRT version its header records.",
    why: "An engine is machine code for one GPU architecture and private engine state; what it computes cannot be read back or compared with a source model, and `deserializeCudaEngine` runs it as it is. Under the fail-closed rule an artifact that cannot be inspected is never clean: admit engines only from a build you control (or rebuild them from a scanned ONNX model).",
    example: "`yolov8n.engine` exported by Ultralytics with TensorRT 10.8.0.43.",
    remediation: "Build the engine yourself from a scanned source model on the target machine, or accept it by policy for a trusted producer.",
    references: REFS,
};

pub const PLUGIN_LIBRARY: Code = Code {
    id: "tensorrt/plugin-library",
    severity: Severity::High,
    summary: "The TensorRT engine names a plugin shared library.",
    detects: "A string in the engine that is a shared-library path (`.so`, `.so.N`, `.dll`, `.dylib`), such as the plugin libraries a plan records when built with `setPluginsToSerialize` or that a loader is told to open.",
    why: "Plugin libraries are native code loaded into the inference process (`IPluginRegistry::loadLibrary`, `trtexec --staticPlugins`/`--dynamicPlugins`); an engine that names one asks its loader to run it.",
    example: "`/opt/plugins/libcustom_nms.so` among an engine's strings.",
    remediation: "Load only plugin libraries you build or trust; reject engines that need others.",
    references: REFS,
};

pub const PLUGIN: Code = Code {
    id: "tensorrt/plugin",
    severity: Severity::Medium,
    summary: "The TensorRT engine uses plugins, native layers registered by a library.",
    detects: "Plugin creator names among the engine's strings (`*_TRT`, names containing `Plugin`).",
    why: "A plugin layer runs code from the library that registered the plugin creator, not from TensorRT's own kernels: the engine only loads where that library is, and runs what it does.",
    example: "`EfficientNMS_TRT` in a detector's engine.",
    remediation: "Check that every plugin comes from `libnvinfer_plugin` or a library you ship.",
    references: REFS,
};

pub const HOST_CODE: Code = Code {
    id: "tensorrt/host-code",
    severity: Severity::High,
    summary: "The TensorRT engine embeds host (CPU) code.",
    detects: "ELF images for a CPU architecture (x86-64, AArch64, …) inside the engine, besides the CUDA images that hold its GPU kernels.",
    why: "Version-compatible plans embed a lean runtime and plans built with serialized plugins embed the plugin libraries; with `IRuntime::setEngineHostCodeAllowed(true)` the runtime loads and runs that host code when the engine is deserialized. It is native code chosen by whoever built the engine.",
    example: "An x86-64 ELF shared object at offset 0x12000 of a plan built with `kVERSION_COMPATIBLE`.",
    remediation: "Do not allow engine host code for engines you did not build; rebuild the engine without it.",
    references: REFS,
};

pub const METADATA_EVAL: Code = Code {
    id: "tensorrt/metadata-eval",
    severity: Severity::Critical,
    summary: "The engine's Ultralytics metadata holds an expression that Ultralytics evaluates.",
    detects: "In the JSON metadata Ultralytics puts before a plan, a string value for `imgsz`, `names`, `kpt_shape`, `kpt_names`, `args` or `end2end` that is not a Python literal.",
    why: "Ultralytics' `AutoBackend` turns those string values back into Python objects when it loads the engine: with `eval()` in releases before it switched to `ast.literal_eval` (the code that runs is the metadata's), and an error after. A writer never stores anything but a literal there.",
    example: "`{\"names\": \"__import__('os').system('id')\", ...}` before the plan.",
    remediation: "Reject the engine; re-export it from a scanned model.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "tensorrt/malformed",
    severity: Severity::Medium,
    summary: "A TensorRT engine could not be read.",
    detects: "A file named or prefixed like an engine without the `ftrt` tag, a plan shorter than its 28-byte header, an Ultralytics metadata prefix that is not JSON or runs past the end of the file.",
    why: "TensorRT refuses such files (\"Magic tag does not match\"); a loader that strips its own prefix first may still find a plan further in.",
    example: "An `.engine` file holding an ONNX model.",
    remediation: "Rebuild the engine and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &ENGINE,
    &PLUGIN_LIBRARY,
    &PLUGIN,
    &HOST_CODE,
    &METADATA_EVAL,
    &MALFORMED,
];

/// Ultralytics metadata keys whose string values `AutoBackend` evaluates.
const EVAL_KEYS: &[&str] = &[
    "imgsz",
    "names",
    "kpt_shape",
    "kpt_names",
    "args",
    "end2end",
];
/// Metadata read for analysis (real prefixes are a few hundred bytes).
const MAX_METADATA_READ: u64 = 1024 * 1024;

pub struct TensorRtScanner;

impl Scanner for TensorRtScanner {
    fn id(&self) -> &'static str {
        "tensorrt"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::TensorRtEngine]
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
        let len = a.content.len();
        let head = a.content.head(64)?;
        let (plan_offset, metadata) = match ultralytics_prefix(&head) {
            Some(offset) if offset < len => {
                let meta_len = offset.saturating_sub(4).min(MAX_METADATA_READ);
                let bytes = a
                    .content
                    .read_at(4, usize::try_from(meta_len).unwrap_or(0))?;
                (offset, Some(bytes))
            }
            Some(offset) => {
                out.push(malformed(
                    a,
                    &format!("the Ultralytics metadata prefix claims {offset} bytes of a {len}-byte file"),
                ));
                return Ok(());
            }
            None => (0, None),
        };
        let plan = a.content.read_at(plan_offset, 28)?;
        let header = match parse_header(&plan, plan_offset) {
            Ok(h) => h,
            Err(e) => {
                out.push(malformed(a, &e.to_string()));
                if let Some(m) = &metadata {
                    check_metadata(m, a, out);
                }
                return Ok(());
            }
        };
        let blob = scan_blob(a.content.open()?, is_plugin_name)?;
        report(&header, &blob, len, a, out);
        if let Some(m) = &metadata {
            check_metadata(m, a, out);
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(
    h: &PlanHeader,
    blob: &crate::formats::native::BlobStrings,
    len: u64,
    a: &Artifact,
    out: &mut Sink,
) {
    let gpu_images = blob
        .elf_images
        .iter()
        .filter(|(_, m)| *m == ElfMachine::Cuda)
        .count();
    let mut f = Finding::new(
        &ENGINE,
        a.location.clone(),
        format!(
            "TensorRT engine ({} bytes{}): compiled GPU code that cannot be inspected",
            len,
            h.trt_version
                .as_ref()
                .map(|v| format!(", built by TensorRT {v}"))
                .unwrap_or_default()
        ),
    )
    .evidence("serialization-kind", h.kind.to_string())
    .evidence("serialization-version", h.serialization_version.to_string())
    .evidence("elf-images", blob.elf_count.to_string())
    .evidence("cuda-images-listed", gpu_images.to_string());
    if let Some(v) = &h.trt_version {
        f = f.evidence("tensorrt-version", v.clone());
    }
    if h.plan_offset > 0 {
        f = f.evidence("plan-offset", h.plan_offset.to_string());
    }
    out.push(f);

    for lib in &blob.libraries {
        out.push(
            Finding::new(
                &PLUGIN_LIBRARY,
                a.location.clone(),
                format!("the engine names the shared library {lib}"),
            )
            .evidence("library", lib.clone()),
        );
    }
    if !blob.names.is_empty() {
        out.push(
            Finding::new(
                &PLUGIN,
                a.location.clone(),
                format!(
                    "the engine uses plugins: {}",
                    clip(&blob.names.join(", "), 300)
                ),
            )
            .evidence("plugins", clip(&blob.names.join(", "), 1000)),
        );
    }
    let host: Vec<String> = blob
        .elf_images
        .iter()
        .filter(|(_, m)| *m != ElfMachine::Cuda)
        .map(|(off, m)| format!("{} at {off:#x}", m.name()))
        .collect();
    if !host.is_empty() {
        let mut f = Finding::new(
            &HOST_CODE,
            a.location.clone(),
            format!(
                "the engine embeds {} non-GPU ELF image(s): {}",
                host.len(),
                clip(&host.join(", "), 300)
            ),
        );
        if let Some((off, _)) = blob.elf_images.iter().find(|(_, m)| *m != ElfMachine::Cuda) {
            f.location = f.location.at(*off);
        }
        out.push(f);
    }
}

/// The Ultralytics metadata: JSON whose eval'd keys must hold literals.
fn check_metadata(bytes: &[u8], a: &Artifact, out: &mut Sink) {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.push(malformed(
                a,
                &format!("the Ultralytics metadata prefix is not JSON: {e}"),
            ));
            return;
        }
    };
    let Some(obj) = v.as_object() else {
        out.push(malformed(
            a,
            "the Ultralytics metadata prefix is not a JSON object",
        ));
        return;
    };
    for key in EVAL_KEYS {
        let Some(Value::String(s)) = obj.get(*key) else {
            continue;
        };
        if crate::pyliteral::parse(s, false).is_ok() {
            continue;
        }
        out.push(
            Finding::new(
                &METADATA_EVAL,
                a.location.clone(),
                format!(
                    "Ultralytics metadata {key:?} is the expression {:?}, which older Ultralytics releases eval() when loading the engine",
                    clip(s, 200)
                ),
            )
            .evidence("key", *key)
            .evidence("value", clip(s, 500)),
        );
    }
}
