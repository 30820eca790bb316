//! OpenVINO IR (`<net>` XML with a `.bin` weights file; see [`crate::formats::openvino`]): layers
//! no standard opset provides (they load only through an extension library the application
//! registers: native code travelling with the model), shared-library paths in the model's
//! metadata, `Const` data windows checked against the weights file beside the XML, and DOCTYPE
//! entities (the IR frontend's pugixml ignores them; other tools that read the XML may not). The
//! XML is read as a stream without expanding any entity.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::{Finding, Severity, Sink};
use crate::format::Format;
use crate::formats::openvino::Ir;
use crate::formats::xml::foreign_encoding;
use crate::scanners::{Scanner, ScannerContext};

const REFS: &[&str] = &[
    "https://docs.openvino.ai/2025/documentation/openvino-ir-format/operation-sets.html",
    "https://github.com/openvinotoolkit/openvino/blob/master/src/frontends/ir/src/ir_deserializer.cpp",
    "https://docs.openvino.ai/2025/documentation/openvino-extensibility.html",
];

pub const MODEL: Code = Code {
    id: "openvino/model",
    severity: Severity::Info,
    summary: "An OpenVINO IR model, with its IR version, layer count and weights file.",
    detects:
        "An XML document whose root element is `<net>` (OpenVINO's intermediate representation).",
    why: "Informational: lists what the model holds for the AI-BOM and reviewers.",
    example: "`<net name=\"resnet\" version=\"11\">` with 120 layers and `resnet.bin` beside it.",
    remediation: "None needed.",
    references: REFS,
};

pub const CUSTOM_LAYER: Code = Code {
    id: "openvino/custom-layer",
    severity: Severity::Medium,
    summary: "The OpenVINO model has layers no standard opset provides; they load only through an extension library.",
    detects: "A `<layer>` the frontend creates (a `Parameter`, or a layer the outputs reach through the edges) whose `version` names no standard opset (`opset1` … `opset16`, or `experimental`/`extension` for the ops that moved into `opset6`), or whose `type` is in none of them. Layers no output reaches are never created and only counted in `openvino/model`.",
    why: "The IR frontend creates such a layer only from an extension the application registered (`core.add_extension(\"libcustom.so\")`, OpenVINO Tokenizers, a custom-op library shipped with the model): native code runs in the inference process. The gate can see that the model needs it, not what the library does.",
    example: "`<layer type=\"RegexNormalization\" version=\"extension\">` (OpenVINO Tokenizers).",
    remediation: "Check that every extension library the model needs comes from a source you trust; load only those.",
    references: REFS,
};

pub const EXTENSION_LIBRARY: Code = Code {
    id: "openvino/extension-library",
    severity: Severity::High,
    summary: "The OpenVINO model names a shared library in its metadata or layer attributes.",
    detects: "A value ending in `.so`, `.so.N`, `.dll` or `.dylib` in an `rt_info` section (model, layer or port) or in a layer's `<data>` attributes.",
    why: "Tools and serving configurations that honour such metadata load the named library into the inference process; a model that points at a library chooses native code to run.",
    example: "`<rt_info><custom_lib value=\"/tmp/libpayload.so\"/></rt_info>`.",
    remediation: "Reject the model unless the library is one you ship yourselves.",
    references: REFS,
};

pub const WEIGHTS_OUT_OF_BOUNDS: Code = Code {
    id: "openvino/weights-out-of-bounds",
    severity: Severity::Medium,
    summary: "A `Const` layer points outside the weights file, or its offset or size does not parse.",
    detects: "A `Const` layer whose `<data offset size>` window ends past the end of the `.bin` beside the XML, or whose `offset`/`size` is not what `get_uint64_attr` accepts (a non-negative base-10 64-bit integer).",
    why: "The IR frontend refuses such a model (`Incorrect weights in bin file!`): the files do not belong together, were truncated, or were edited. What a reader that skips the check would read is outside the weights.",
    example: "`<data offset=\"4096\" size=\"1024\"/>` with a 2 KiB `.bin`.",
    remediation: "Re-export the model; keep the `.xml` and `.bin` of one export together.",
    references: REFS,
};

pub const WEIGHTS_UNCHECKED: Code = Code {
    id: "openvino/weights-unchecked",
    severity: Severity::Low,
    summary: "The OpenVINO model's weights file could not be checked.",
    detects: "An IR with `Const` layers whose `.bin` (the XML's name with `.bin`) is not beside it on disk, or that was found inside an archive, where the file beside it is not available to the scanner.",
    why: "The `Const` windows decide which bytes the model reads as weights; without the weights file they cannot be checked against it. The `.bin` itself is scanned wherever it is found.",
    example: "`model.xml` scanned on its own.",
    remediation: "Scan the `.xml` and `.bin` together (the directory holding both).",
    references: REFS,
};

pub const DOCTYPE: Code = Code {
    id: "openvino/doctype",
    severity: Severity::High,
    summary: "The OpenVINO IR carries a document type declaration with entities or an external DTD (XXE).",
    detects: "A `<!DOCTYPE>` in an IR document: high with entity declarations or an external DTD, low for a bare one.",
    why: "No IR writer emits a DOCTYPE. The IR frontend's XML parser (pugixml) ignores it, but other tools that read the `.xml` (converters, viewers, model registries) may resolve the entities: local files read or URLs fetched where they run, or memory exhausted by nested entities.",
    example: "`<!DOCTYPE net [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>`.",
    remediation: "Reject the model and re-export it.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "openvino/malformed",
    severity: Severity::Medium,
    summary: "An OpenVINO IR document could not be read to its end.",
    detects: "Not well-formed XML, a root other than `<net>`, an encoding other than UTF-8, one event larger than 16 MiB or nesting deeper than 10,000 levels. (A reference to an undeclared entity is not: pugixml keeps it as text and the frontend loads the model.)",
    why: "What cannot be read cannot be vouched for; the runtime may read more leniently.",
    example: "An IR cut off inside `<layers>`.",
    remediation: "Re-export the model and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[
    &MODEL,
    &CUSTOM_LAYER,
    &EXTENSION_LIBRARY,
    &WEIGHTS_OUT_OF_BOUNDS,
    &WEIGHTS_UNCHECKED,
    &DOCTYPE,
    &MALFORMED,
];

pub struct OpenVinoScanner;

impl Scanner for OpenVinoScanner {
    fn id(&self) -> &'static str {
        "openvino"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::OpenVinoIr]
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
        let head = a.content.head(512)?;
        if let Some(enc) = foreign_encoding(&head) {
            out.push(malformed(
                a,
                &format!("the document is encoded as {enc}, which modelgate does not transcode; it cannot be inspected"),
            ));
            return Ok(());
        }
        let (ir, result) = Ir::read(a.content.open()?);
        let weights = weights_beside(a);
        report(&ir, weights.as_ref(), a, out);
        if let Err(e) = result {
            out.push(malformed(a, &e.to_string()));
        }
        Ok(())
    }
}

/// The weights file `read_model` would open: the XML's own path on disk with `.bin` for its
/// extension, and its length. `None` inside archives, for content that is not the file its
/// location names (bytes handed to the library under a name), or when no such file exists.
fn weights_beside(a: &Artifact) -> Option<(PathBuf, Option<u64>)> {
    if !a.location.inner.is_empty() || a.location.path_bytes.is_some() {
        return None;
    }
    let xml = Path::new(&a.location.path);
    let meta = std::fs::metadata(xml).ok()?;
    if !meta.is_file() || meta.len() != a.content.len() {
        return None;
    }
    let bin = xml.with_extension("bin");
    let len = std::fs::metadata(&bin)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len());
    Some((bin, len))
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

fn report(ir: &Ir, weights: Option<&(PathBuf, Option<u64>)>, a: &Artifact, out: &mut Sink) {
    let mut summary = Finding::new(
        &MODEL,
        a.location.clone(),
        format!(
            "OpenVINO IR v{} {:?}: {} layers, {} Const",
            ir.version.as_deref().unwrap_or("?"),
            ir.name.as_deref().unwrap_or("(unnamed)"),
            ir.layers,
            ir.consts.len()
        ),
    );
    if ir.unreachable_custom > 0 {
        summary = summary.evidence(
            "unreachable-custom-layers",
            format!(
                "{} (no output reaches them; the frontend never creates them)",
                ir.unreachable_custom
            ),
        );
    }
    if let Some((bin, len)) = weights {
        summary = summary.evidence(
            "weights",
            match len {
                Some(n) => format!("{} ({n} bytes)", bin_name(bin)),
                None => format!("{} (missing)", bin_name(bin)),
            },
        );
    }
    out.push(summary);

    if let Some(d) = &ir.doctype {
        let hostile = d.is_external() || !d.entities.is_empty();
        let mut f = Finding::new(
            &DOCTYPE,
            a.location.clone(),
            if hostile {
                format!(
                    "document type declaration with {} entity declaration(s){}",
                    d.entities.len(),
                    d.external_dtd
                        .as_ref()
                        .map(|u| format!(" and the external DTD {u}"))
                        .unwrap_or_default()
                )
            } else {
                "document type declaration (no IR writer emits one)".to_owned()
            },
        )
        .evidence("doctype", d.raw.clone());
        if !hostile {
            f = f.severity(Severity::Low);
        }
        out.push(f);
    }
    // A reference to an entity nothing declares is not an error here: pugixml keeps it as
    // literal text and the frontend loads the model (the real loader decides, not the spec).

    // One finding per custom (type, version), with the layers that use it.
    let mut custom: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for l in &ir.custom_layers {
        custom
            .entry((l.type_name.as_str(), l.version.as_str()))
            .or_default()
            .push(l.name.as_str());
    }
    for ((ty, version), names) in custom {
        out.push(
            Finding::new(
                &CUSTOM_LAYER,
                a.location.clone(),
                format!(
                    "layer type {ty:?} version {version:?} is in no standard opset: it loads only through a registered extension library"
                ),
            )
            .evidence("type", ty)
            .evidence("version", version)
            .evidence("layers", crate::finding::clip(&names.join(", "), 300)),
        );
    }
    if ir.custom_count > ir.custom_layers.len() {
        out.push(
            Finding::new(
                &CUSTOM_LAYER,
                a.location.clone(),
                format!(
                    "{} custom layers in all (the first {} are listed)",
                    ir.custom_count,
                    ir.custom_layers.len()
                ),
            )
            .evidence("count", ir.custom_count.to_string()),
        );
    }

    for l in &ir.libraries {
        out.push(
            Finding::new(
                &EXTENSION_LIBRARY,
                a.location.clone(),
                format!("{} names the shared library {}", l.place, l.value),
            )
            .evidence("library", l.value.clone()),
        );
    }

    check_weights(ir, weights, a, out);
}

fn bin_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check_weights(ir: &Ir, weights: Option<&(PathBuf, Option<u64>)>, a: &Artifact, out: &mut Sink) {
    for c in &ir.consts {
        if let Err(why) = &c.range {
            out.push(
                Finding::new(
                    &WEIGHTS_OUT_OF_BOUNDS,
                    a.location.clone(),
                    format!(
                        "Const layer {} ({}): {why}; the IR frontend refuses it",
                        c.id, c.name
                    ),
                )
                .evidence("layer", c.id.clone()),
            );
        }
    }
    let windows: Vec<(&str, &str, u64, u64)> = ir
        .consts
        .iter()
        .filter_map(|c| {
            c.range
                .as_ref()
                .ok()
                .map(|&(o, s)| (c.id.as_str(), c.name.as_str(), o, s))
        })
        .filter(|&(_, _, _, s)| s > 0)
        .collect();
    if windows.is_empty() {
        return;
    }
    let Some(len) = weights.and_then(|(_, len)| *len) else {
        let why = match weights {
            Some((bin, None)) => format!(
                "{} is not beside the XML: {} Const windows could not be checked",
                bin_name(bin),
                windows.len()
            ),
            _ => format!(
                "the weights file beside this XML is not available to the scanner here (inside an archive, or content without a file): {} Const windows could not be checked",
                windows.len()
            ),
        };
        out.push(
            Finding::new(&WEIGHTS_UNCHECKED, a.location.clone(), why)
                .evidence("consts", windows.len().to_string()),
        );
        return;
    };
    for (id, name, offset, size) in windows {
        // Each value is at most i64::MAX (the loader's parse), so the sum cannot wrap a u64.
        let end = offset.saturating_add(size);
        if end > len {
            out.push(
                Finding::new(
                    &WEIGHTS_OUT_OF_BOUNDS,
                    a.location.clone(),
                    format!(
                        "Const layer {id} ({name}) reads bytes {offset}..{end} of a {len}-byte weights file"
                    ),
                )
                .evidence("layer", id)
                .evidence("offset", offset.to_string())
                .evidence("size", size.to_string())
                .evidence("weights-bytes", len.to_string()),
            );
        }
    }
}
