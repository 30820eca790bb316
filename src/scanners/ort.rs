//! ONNX Runtime's ORT format (`.ort`, a FlatBuffer with file identifier `ORTM`: the graph of an
//! ONNX model as ONNX Runtime saves it for minimal and mobile builds), read with the bounded
//! reader of [`crate::formats::ort`].
//!
//! The hazard is the ONNX one: nodes in a domain outside the ONNX standard need a custom-op
//! library (native code) that the application registers with the session. Every node of the
//! main graph and of every subgraph is checked, and so are the ops that saved runtime
//! optimizations produce when ONNX Runtime replays them at load time. Domains are judged with the
//! ONNX scanner's lists ([`onnx::STANDARD_DOMAINS`], [`onnx::VENDOR_DOMAINS`]) so that a model
//! gets the same verdict in both formats.
//!
//! ONNX Runtime verifies the flatbuffer before using it, so a buffer this reader cannot read is
//! one the runtime refuses too; it is reported (what could not be read was not checked) at the
//! ONNX scanner's malformed severity.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;

use crate::artifact::Artifact;
use crate::codes::Code;
use crate::error::ScanError;
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::formats::ort::{self, OrtModel};
use crate::scanners::onnx;
use crate::scanners::tflite::with_reader;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

pub const CUSTOM_DOMAIN: Code = Code {
    id: "ort/custom-operator-domain",
    severity: Severity::Medium,
    summary: "The ORT-format model uses operators from a non-standard domain.",
    detects: "Nodes (in the main graph or any subgraph) and ops produced by saved runtime optimizations whose `domain` is outside the ONNX standard domains. Domains of common runtimes (`com.microsoft`, `ai.onnx.contrib`, ...) are reported at info level, as the ONNX scanner does.",
    why: "Custom operators are implemented by native libraries that the application must register with the session (`register_custom_ops_library`): code outside the model that the model asks to run.",
    example: "A node `op_type: \"Exec\", domain: \"evil.ops\"`.",
    remediation: "Check that the custom-op library the model needs is trusted and pinned, or re-export without custom operators.",
    references: &["https://onnxruntime.ai/docs/reference/ort-format-models.html"],
};

pub const EXTERNAL_DATA: Code = Code {
    id: "ort/external-data",
    severity: Severity::Low,
    summary: "Initializers of the ORT-format model live in an external data file.",
    detects: "Tensors with `external_data_offset >= 0`: their bytes are read from a data file next to the model, not from the model.",
    why: "Weights outside the file were not part of this scan, and the pair of files can be swapped independently.",
    example: "An initializer with `external_data_offset: 0`.",
    remediation: "Scan the external data file as well, or re-export with inline weights.",
    references: &["https://onnxruntime.ai/docs/reference/ort-format-models.html"],
};

pub const MALFORMED: Code = Code {
    id: "ort/malformed",
    severity: Severity::Medium,
    summary: "The ORT-format flatbuffer cannot be read.",
    detects: "A missing `ORTM` identifier, offsets, vtables, vectors or strings that run past the end of the file, vtables of an odd size, misaligned tables, fields or vectors, strings without their NUL, subgraphs nested deeper than 64 levels, or no model in the session.",
    why: "ONNX Runtime verifies the buffer and refuses such a file, but what could not be read was not checked, and other readers may be more lenient.",
    example: "A truncated `.ort` file.",
    remediation: "Re-convert the model (`python -m onnxruntime.tools.convert_onnx_models_to_ort`).",
    references: &["https://github.com/microsoft/onnxruntime/blob/main/onnxruntime/core/flatbuffers/schema/ort.fbs"],
};

pub static CODES: &[&Code] = &[&CUSTOM_DOMAIN, &EXTERNAL_DATA, &MALFORMED];

pub struct OrtScanner;

impl Scanner for OrtScanner {
    fn id(&self) -> &'static str {
        "ort"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::Ort]
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
        let mut m = OrtModel::default();
        let res = with_reader(&a.content, |r| ort::parse(r, &mut m))?;
        let r = out;
        if !m.identifier_ok {
            r.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                "bytes 4..8 are not the ORT file identifier ORTM (ONNX Runtime refuses the file; it was read as ORT anyway)",
            ));
        }
        match res {
            Err(e) => super::tflite::read_error(a, "ORT", &MALFORMED, e, r),
            Ok(()) if m.graphs == 0 => r.push(Finding::new(
                &MALFORMED,
                a.location.clone(),
                "the session holds no model graph",
            )),
            Ok(()) => {}
        }
        domains(a, &m, r);
        if m.external_tensors > 0 {
            r.push(
                Finding::new(
                    &EXTERNAL_DATA,
                    a.location.clone(),
                    format!(
                        "{} initializer(s) read their data from an external file",
                        m.external_tensors
                    ),
                )
                .evidence("tensors", m.external_tensors.to_string()),
            );
        }
        Ok(())
    }
}

fn domains(a: &Artifact, m: &OrtModel, r: &mut Sink) {
    // domain -> (ops, first place, produced by optimizations only)
    let mut by_domain: BTreeMap<&str, (Vec<&str>, &str, bool)> = BTreeMap::new();
    for ((domain, op), u) in &m.ops {
        if onnx::STANDARD_DOMAINS.contains(&domain.as_str()) {
            continue;
        }
        let e = by_domain
            .entry(domain.as_str())
            .or_insert_with(|| (Vec::new(), u.first.as_str(), true));
        if e.0.len() < 32 {
            e.0.push(op.as_str());
        }
        e.2 &= u.produced_only;
    }
    for (domain, (ops, first, produced)) in by_domain {
        let vendor = onnx::VENDOR_DOMAINS.contains(&domain);
        let ops = ops.join(", ");
        r.push(
            Finding::new(
                &CUSTOM_DOMAIN,
                a.location.clone(),
                format!(
                    "operators from {} domain '{}' ({}), first {} {first}",
                    if vendor {
                        "runtime-specific"
                    } else {
                        "non-standard"
                    },
                    clip(domain),
                    clip(&ops),
                    if produced {
                        "produced by the saved optimization in"
                    } else {
                        "used in"
                    }
                ),
            )
            .severity(if vendor {
                Severity::Info
            } else {
                Severity::Medium
            })
            .evidence("domain", clip(domain))
            .evidence("ops", clip(&ops)),
        );
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}
