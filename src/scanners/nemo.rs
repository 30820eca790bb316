//! NVIDIA NeMo model configs (`model_config.yaml`, the config a `.nemo` archive restores). The
//! `.nemo` archive itself is a tar (gzip-compressed before NeMo 1.7) that the walker expands:
//! `model_weights.ckpt` (loaded with `torch.load`) and the tokenizer and other artifacts are
//! scanned as members by their own scanners.
//!
//! Restoring (`SaveRestoreConnector.restore_from` → `Serialization.from_config_dict`) reads
//! `model_config.yaml` with OmegaConf (the `model` key when present) and then:
//!
//! * with `cls` or `target` next to `params` (the Hydra 0.x layout), or with `_target_`, calls
//!   `hydra.utils.instantiate` on the config, which imports and calls every nested `_target_`
//!   (CVE-2025-23304);
//! * otherwise imports the top-level `target` with `import_class_by_path` and calls it with
//!   `cfg=config`; the model class then instantiates its own sub-configs (`_target_` entries)
//!   through Hydra.
//!
//! Every such name goes through the Hydra policy of the code scanner (`hydra-target` entries in
//! signatures/hydra.toml; NeMo, Megatron-Core and PyTorch classes are allowed) and is reported
//! as `code/hydra-target`; the generic config checks run on the config as for any YAML.
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
use crate::finding::Sink;
use crate::finding::{Finding, Severity};
use crate::format::Format;
use crate::scanners::code;
use crate::scanners::Scanner;
use crate::scanners::ScannerContext;

const REFS: &[&str] = &[
    "CVE-2025-23304",
    "https://github.com/NVIDIA/NeMo/blob/main/nemo/core/connectors/save_restore_connector.py",
    "https://github.com/NVIDIA/NeMo/blob/main/nemo/core/classes/common.py",
];

/// Configs larger than this are not read (real ones are kilobytes).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// How deep the walk for Hydra 0.x `cls`/`target` + `params` mappings goes.
const MAX_DEPTH: u32 = 64;

pub const MODEL_CONFIG: Code = Code {
    id: "nemo/model-config",
    severity: Severity::Info,
    summary: "An NVIDIA NeMo model config, with the class NeMo restores from it.",
    detects: "`model_config.yaml` (the config of a `.nemo` archive): the top-level `target` class (under `model` when the file has one) and how it is instantiated.",
    why: "Informational: restoring the model imports the `target` class and calls it with the config, and Hydra instantiates every `_target_` below it. Each of those names is checked as `code/hydra-target`.",
    example: "`target: nemo.collections.asr.models.EncDecCTCModelBPE`",
    remediation: "None needed; review the `code/hydra-target` findings, if any.",
    references: REFS,
};

pub const MALFORMED: Code = Code {
    id: "nemo/malformed",
    severity: Severity::Medium,
    summary: "A NeMo model config could not be read.",
    detects: "`model_config.yaml` that is not valid YAML (even for the lenient reading used for other configs), is larger than 16 MiB, or is not a mapping. The raw text is still searched for `_target_`, `target` and `cls` entries, which are reported as `code/hydra-target`.",
    why: "The config decides which classes NeMo imports and calls on restore; one the scanner cannot read could still be read by OmegaConf (a parser differential), so it is not harmless.",
    example: "A `model_config.yaml` with an unterminated flow mapping.",
    remediation: "Re-save the model with NeMo (`model.save_to`) and scan again.",
    references: REFS,
};

pub static CODES: &[&Code] = &[&MODEL_CONFIG, &MALFORMED];

pub struct NemoScanner;

impl Scanner for NemoScanner {
    fn id(&self) -> &'static str {
        "nemo"
    }
    fn formats(&self) -> &'static [Format] {
        &[Format::NemoConfig]
    }
    fn codes(&self) -> &'static [&'static Code] {
        CODES
    }
    fn scan(&self, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) -> Result<(), ScanError> {
        let Some(bytes) = a.content.read_all(MAX_CONFIG_BYTES)? else {
            out.push(malformed(
                a,
                &format!("larger than {MAX_CONFIG_BYTES} bytes; not read"),
            ));
            return Ok(());
        };
        let docs = match code::yaml_documents(&bytes) {
            Ok(d) => d,
            Err(e) => {
                out.push(malformed(a, &format!("invalid YAML: {e}")));
                raw_targets(&bytes, a, cx, out);
                return Ok(());
            }
        };
        // OmegaConf.load reads one document; the generic checks still see every one.
        for d in &docs {
            cx.check_json(d, a, out);
        }
        match docs.first() {
            Some(root @ Value::Object(_)) => model_targets(root, a, cx, out),
            Some(Value::Null) | None => out.push(malformed(a, "the config is empty")),
            Some(_) => out.push(malformed(a, "the config is not a mapping")),
        }
        Ok(())
    }
}

fn malformed(a: &Artifact, why: &str) -> Finding {
    Finding::new(&MALFORMED, a.location.clone(), format!("{}: {why}", a.name))
}

/// The names `from_config_dict` imports: the model's `target` (or `cls`), and the `cls`/`target`
/// of every Hydra 0.x mapping (with `params`) that Hydra instantiates.
fn model_targets(root: &Value, a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    let (conf, prefix) = match root.get("model") {
        Some(m @ Value::Object(_)) => (m, "model."),
        _ => (root, ""),
    };
    let target = ["target", "cls"]
        .into_iter()
        .find_map(|k| conf.get(k).and_then(Value::as_str).map(|t| (k, t)));
    let mut f = Finding::new(
        &MODEL_CONFIG,
        a.location.clone(),
        match target {
            Some((_, t)) => format!("NeMo model config restoring {t}"),
            None => "NeMo model config without a `target` class (restored as the calling class)"
                .to_owned(),
        },
    );
    if let Some((k, t)) = target {
        f = f
            .evidence("target", t)
            .evidence("key", format!("{prefix}{k}"));
    }
    out.push(f);
    if let Some((k, t)) = target {
        code::check_target(t, &format!("{prefix}{k}"), Some(root), a, cx, out);
    }
    hydra0_targets(conf, prefix.trim_end_matches('.'), root, a, cx, out, 0);
}

/// Nested mappings in the Hydra 0.x layout (`cls` or `target` with `params`), which NeMo's
/// config-version update turns into `_target_` entries that Hydra instantiates. The model's
/// own top-level `target` is checked by the caller.
fn hydra0_targets(
    v: &Value,
    path: &str,
    root: &Value,
    a: &Artifact,
    cx: &dyn ScannerContext,
    out: &mut Sink,
    depth: u32,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            if depth > 0 && m.contains_key("params") {
                for k in ["cls", "target"] {
                    if let Some(t) = m.get(k).and_then(Value::as_str) {
                        code::check_target(t, &format!("{path}.{k}"), Some(root), a, cx, out);
                    }
                }
            }
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                hydra0_targets(child, &p, root, a, cx, out, depth.saturating_add(1));
            }
        }
        Value::Array(xs) => {
            for (i, child) in xs.iter().enumerate() {
                let p = format!("{path}[{i}]");
                hydra0_targets(child, &p, root, a, cx, out, depth.saturating_add(1));
            }
        }
        _ => {}
    }
}

/// `_target_`, `target` and `cls` values in the text of a config that does not parse.
fn raw_targets(bytes: &[u8], a: &Artifact, cx: &dyn ScannerContext, out: &mut Sink) {
    code::raw_code_keys(bytes, a, cx, out);
    let text = String::from_utf8_lossy(code::lenient::strip_bom(bytes));
    for (key, value) in code::lenient::raw_key_values(&text, &["target", "cls"]) {
        if !value.is_empty() {
            code::check_target(&value, &format!("(raw text) {key}"), None, a, cx, out);
        }
    }
}
