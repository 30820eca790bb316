//! TorchServe model archives (`.mar`): a zip with `MAR-INF/MANIFEST.json` (see
//! [`crate::formats::torchserve`]). The archive is walked like any zip; this scanner adds what
//! TorchServe does with it when the model is registered:
//!
//! * the **manifest** names the handler that TorchServe imports and calls (`ts/model_loader.py`):
//!   a stock handler from `ts.torch_handler`, a module shipped in the archive, or any installed
//!   module with `module:function`; the model file the stock base handler imports; the
//!   serialized model the handler loads; the requirements file installed per model;
//! * the archive's **Python members** are model-side code: the walker hands them to the code
//!   scanner as [`Format::TorchServeCode`], where process and code execution is critical;
//! * a member named like a **stock handler** (`image_classifier.py`) replaces it, because the
//!   loader imports the archive's module of that name before falling back to `ts.torch_handler`.
//!
//! The serialized model and the requirements file are scanned by their own scanners as members.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::formats::torchserve::{
    handler_module, manifest_prefix, Manifest, BUILTIN_HANDLERS, MAX_MANIFEST_BYTES,
};
use crate::scanners::code::pyast;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

const REFS: &[&str] = &[
    "https://github.com/pytorch/serve/blob/master/model-archiver/README.md",
    "https://github.com/pytorch/serve/blob/master/ts/model_loader.py",
];

pub const ARCHIVE: Code = Code {
    id: "torchserve/archive",
    severity: Severity::Info,
    summary: "A TorchServe model archive, with the handler and files its manifest names.",
    detects: "`MAR-INF/MANIFEST.json` in a zip (a `.mar` written by `torch-model-archiver`): the handler, serialized model, model file, requirements file and runtime it names.",
    why: "Informational: TorchServe imports the handler and loads the named files when the model is registered, so these members decide what runs. Each member is scanned on its own.",
    example: "`{\"runtime\": \"python\", \"model\": {\"modelName\": \"resnet\", \"serializedFile\": \"resnet.pt\", \"handler\": \"image_classifier\"}}`",
    remediation: "None needed; review the findings of the members.",
    references: REFS,
};

pub const HANDLER_CODE: Code = Code {
    id: "torchserve/handler-code",
    severity: Severity::Medium,
    summary: "The TorchServe archive runs its own Python code when the model is registered.",
    detects: "A manifest `handler` that is not one of TorchServe's stock handlers (a `.py` file or module shipped in the archive, or `module:function`), and a `modelFile`, which the stock base handler imports. A handler `module:function` naming a process- or code-execution function (`os:system`) is critical.",
    why: "TorchServe imports the handler module from the extracted archive (or from any installed module of that name) and calls its entry point with no opt-in: the archive's code runs in the model server with its privileges. The code is analysed (`code/dangerous-call`), but what it does at run time is the publisher's to decide.",
    example: "`\"handler\": \"handler.py\"` with `handler.py` in the archive.",
    remediation: "Review the handler and model file (their own findings are listed as `code/*` on the members); register only archives whose code you have read, or use a stock handler.",
    references: REFS,
};

pub const SHADOWED_HANDLER: Code = Code {
    id: "torchserve/shadowed-handler",
    severity: Severity::Medium,
    summary: "The TorchServe archive ships a module named like a stock handler, replacing it.",
    detects: "A top-level member `image_classifier.py`, `text_classifier.py`, … (a module name of `ts.torch_handler`) in an archive with `MAR-INF/MANIFEST.json`.",
    why: "`ts/model_loader.py` imports the handler name as a top-level module first and falls back to `ts.torch_handler` only when that fails: with `\"handler\": \"image_classifier\"` the archive's file runs instead of the stock handler a reviewer expects from the manifest. The module's code is analysed like the archive's other Python (`code/dangerous-call`, critical for process execution).",
    example: "`\"handler\": \"image_classifier\"` with an `image_classifier.py` member.",
    remediation: "Do not register the archive; rebuild it without the module or with the stock handler only.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "torchserve/malformed",
    severity: Severity::Medium,
    summary: "A TorchServe manifest could not be read.",
    detects: "`MAR-INF/MANIFEST.json` that is not JSON, has no `model` object, has a non-string field, names no handler, or is larger than 1 MiB.",
    why: "A manifest the scanner cannot read hides which handler TorchServe would run; a server that reads it more leniently may still register the model.",
    example: "A manifest cut off in the middle of the `model` object.",
    remediation: "Re-create the archive with `torch-model-archiver` and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&ARCHIVE, &HANDLER_CODE, &SHADOWED_HANDLER, &MALFORMED];

pub struct TorchServeScanner;

impl Scanner for TorchServeScanner {
    fn id(&self) -> &'static str {
        "torchserve"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::TorchServeManifest]
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
        let limit = u64::try_from(MAX_MANIFEST_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let Some(bytes) = a.content.read_all(limit)? else {
            out.push(malformed(
                a,
                &format!("the manifest is larger than {MAX_MANIFEST_BYTES} bytes"),
            ));
            return Ok(());
        };
        match Manifest::parse(&bytes) {
            Ok(m) => scan_manifest(&m, a, out),
            Err(e) => out.push(malformed(a, &e.to_string())),
        }
        if a.location.inner.is_empty() {
            shadowed_in_directory(a, out);
        }
        Ok(())
    }
}

/// A `no-archive` model directory (`<dir>/MAR-INF/MANIFEST.json` on disk): its top-level modules
/// named like stock handlers, as [`classify_listing`] reports them inside an archive.
fn shadowed_in_directory(a: &Artifact, out: &mut Sink) {
    let manifest = std::path::Path::new(&a.location.path);
    let Some(dir) = manifest
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "MAR-INF"))
        .and_then(std::path::Path::parent)
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.strip_suffix(".py")
                .is_some_and(|stem| BUILTIN_HANDLERS.contains(&stem))
        })
        .collect();
    found.sort();
    for name in found {
        let stem = name.trim_end_matches(".py");
        out.push(
            Finding::new(
                &SHADOWED_HANDLER,
                crate::finding::Location::file(dir.join(&name).display().to_string()),
                format!(
                    "{name} replaces TorchServe's stock handler ts.torch_handler.{stem}: the loader imports the model directory's module first"
                ),
            )
            .evidence("handler", stem),
        );
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn scan_manifest(m: &Manifest, a: &Artifact, out: &mut Sink) {
    let Some(handler) = m.handler.as_deref() else {
        out.push(malformed(a, "the manifest names no handler"));
        return;
    };
    let mut summary = Finding::new(
        &ARCHIVE,
        a.location.clone(),
        format!(
            "TorchServe archive {:?}: handler {handler}, serialized file {}",
            m.model_name.as_deref().unwrap_or("(unnamed)"),
            m.serialized_file.as_deref().unwrap_or("(none)")
        ),
    )
    .evidence("handler", handler);
    for (key, value) in [
        ("model-name", &m.model_name),
        ("serialized-file", &m.serialized_file),
        ("model-file", &m.model_file),
        ("requirements-file", &m.requirements_file),
        ("config-file", &m.config_file),
        ("extensions", &m.extensions),
        ("runtime", &m.runtime),
        ("archiver-version", &m.archiver_version),
    ] {
        if let Some(v) = value {
            summary = summary.evidence(key, v.clone());
        }
    }
    out.push(summary);

    let Some((module, function)) = handler_module(handler) else {
        out.push(malformed(
            a,
            &format!("handler {handler:?} names no module"),
        ));
        return;
    };
    let stock = function.is_none() && BUILTIN_HANDLERS.contains(&module.as_str());
    if stock && m.model_file.is_none() {
        return;
    }
    let mut f = Finding::new(
        &HANDLER_CODE,
        a.location.clone(),
        match (&m.model_file, stock) {
            (Some(mf), true) => format!(
                "the stock handler {module} imports the archive's model file {mf} when the model is registered"
            ),
            (Some(mf), false) => format!(
                "TorchServe imports handler module {module} and the model file {mf} from the archive and runs them when the model is registered"
            ),
            (None, _) => format!(
                "TorchServe imports handler module {module} (from the archive, or any installed module of that name) and calls its entry point when the model is registered"
            ),
        },
    )
    .evidence("handler", handler)
    .evidence("module", module.clone());
    if let Some(mf) = &m.model_file {
        f = f.evidence("model-file", mf.clone());
    }
    if let Some(func) = &function {
        f = f.evidence("function", func.clone());
        let target = pyast::canonical(&format!("{module}.{func}"));
        if let Some((pyast::Category::Exec, what, _)) = pyast::classify(&target) {
            f = f
                .severity(Severity::Critical)
                .evidence("reaches", format!("{target} ({what})"));
        }
    }
    out.push(f);
}

/// The archive walker's listing hook (zip and tar): a TorchServe archive whose Python module at
/// the top of its model directory is named like a stock handler replaces that handler.
pub fn classify_listing(a: &Artifact, names: &[&str], out: &mut Sink) {
    let Some(prefix) = manifest_prefix(names) else {
        return;
    };
    for name in names {
        let Some(stem) = name
            .strip_prefix(prefix)
            .and_then(|rel| rel.strip_suffix(".py"))
        else {
            continue;
        };
        if BUILTIN_HANDLERS.contains(&stem) {
            out.push(
                Finding::new(
                    &SHADOWED_HANDLER,
                    a.location.child(*name),
                    format!(
                        "{name} replaces TorchServe's stock handler ts.torch_handler.{stem}: the loader imports the archive's module first"
                    ),
                )
                .evidence("handler", stem),
            );
        }
    }
}
